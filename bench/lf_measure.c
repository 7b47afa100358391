#include "lf_measure.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_ffn.h"

int lf_measure_check_layout(const lf_weights *w, const char *layout, lf_err *err)
{
    if (!layout || !*layout)
        return LF_OK;
    lf_layout_kind k;
    int rc = lf_layout_parse_kind(layout, &k, err);
    if (rc)
        return rc;
    if (k != w->h.layout)
        return lf_fail(err, LF_EINVAL, "%s holds the %s layout, not %s: make a file in that "
                       "layout (llmflash weights make --layout %s ...) or drop --layout",
                       w->path, lf_layout_kind_name(w->h.layout), layout, layout);
    return LF_OK;
}

/* What every measured run folder's meta.json says about the measurement. */
static int add_extras(const lf_measure *m, const lf_weights *w, lf_run_result *r, lf_err *err)
{
    const lf_exec_stats *s = &m->stats;
    lf_kv *kv = &r->extra;
    uint64_t ffn_budget = r->budget.capacity * (uint64_t)r->model.n_layers * r->budget.row_bytes;
    int rc = lf_kv_setf(kv, err, "engine", "%s", m->engine ? m->engine : "psync");
    if (!rc)
        rc = lf_kv_setf(kv, err, "weights", "%s", w->path);
    if (!rc)
        rc = lf_kv_setf(kv, err, "weights_seed", "%" PRIu64, w->h.seed);
    if (!rc)
        rc = lf_kv_setf(kv, err, "ffn_kernel", "%s", lf_ffn_path());
    if (!rc)
        rc = lf_kv_setf(kv, err, "dram_manager_bytes", "%" PRIu64, m->cap_bytes);
    if (!rc)
        rc = lf_kv_setf(kv, err, "ffn_budget_bytes", "%" PRIu64, ffn_budget);
    if (!rc)
        rc = lf_kv_setf(kv, err, "direct_reads", "%" PRIu64, s->direct_reads);
    if (!rc)
        rc = lf_kv_setf(kv, err, "staged_reads", "%" PRIu64, s->staged_reads);
    if (!rc)
        rc = lf_kv_setf(kv, err, "read_gb_per_s", "%.6g", s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0);
    if (!rc)
        rc = lf_kv_setf(kv, err, "buffer_pages", "%s", lf_bigmem_huge() ? "thp" : "4k");
    if (!rc)
        rc = lf_kv_setf(kv, err, "anon_huge_bytes", "%" PRIu64, m->huge_bytes);
    if (!rc)
        rc = lf_kv_setf(kv, err, "output_checksum", "%.9g", s->checksum);
    if (!rc)
        rc = lf_kv_setf(kv, err, "resident_held_bytes", "%" PRIu64, s->resident_bytes);
    if (!rc)
        rc = lf_kv_setf(kv, err, "resident_compute_s", "%.6f", s->attn_s);
    return rc;
}

int lf_measure_run(const lf_run_config *c, const lf_trace *trace, const lf_trace *profile,
                   const lf_weights *w, const lf_device *dev, lf_measure *m, lf_run_result *out,
                   lf_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = lf_weights_check_trace(w, trace, err);
    if (rc)
        return rc;
    lf_run_config rc_cfg = *c;
    rc_cfg.layout = w->h.layout;
    rc_cfg.dtype_bytes = lf_dtype_bytes(w->h.dtype);
    rc_cfg.layout_from = &w->layout;
    rc_cfg.dram_row_bytes = lf_exec_row_bytes(w); /* tokens.csv counts what it copies */
    if (w->h.layout == LF_LAYOUT_COACT) /* config.conf: where the file's friends came from */
        rc_cfg.coact_profile_tokens = w->h.profile_tokens;
    rc_cfg.mode = "run";
    rc_cfg.data_path = w->path;
    lf_exec_cfg ec = {.weights = w,
                      .engine = m->engine ? m->engine : "psync",
                      .inflight = c->threads,
                      .dram = c->dram,
                      .n_layers = trace->n_layers,
                      .seed = c->seed,
                      .scope = c->scope,
                      .n_tokens = c->n_tokens ? c->n_tokens : trace->n_tokens};
    lf_exec *e;
    if ((rc = lf_exec_create(&ec, &e, err)))
        return rc;
    lf_backend b;
    lf_exec_backend(&b, e);
    rc_cfg.backend = &b;
    lf_device none;
    memset(&none, 0, sizeof none);
    snprintf(none.name, sizeof none.name, "measured");
    rc = lf_run(&rc_cfg, trace, profile, dev ? dev : &none, out, err);
    lf_exec_stats_get(e, &m->stats);
    m->cap_bytes = m->stats.dram_bytes;
    m->huge_bytes = lf_bigmem_huge_bytes();
    lf_exec_free(e);
    if (rc == LF_OK)
        rc = add_extras(m, w, out, err);
    return rc;
}
