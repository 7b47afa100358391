#include "lf_measure.h"

#include <string.h>

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

int lf_measure_run(const lf_sim_config *c, const lf_trace *trace, const lf_trace *profile,
                   const lf_weights *w, const lf_device *dev, lf_measure *m, lf_sim_result *out,
                   lf_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = lf_weights_check_trace(w, trace, err);
    if (rc)
        return rc;
    lf_sim_config rc_cfg = *c;
    rc_cfg.layout = w->h.layout;
    rc_cfg.dtype_bytes = lf_dtype_bytes(w->h.dtype);
    rc_cfg.layout_from = &w->layout;
    lf_exec_cfg ec = {w, m->engine ? m->engine : "psync", c->threads, c->dram, trace->n_layers,
                      c->seed, c->scope, c->n_tokens ? c->n_tokens : trace->n_tokens};
    lf_exec *e;
    if ((rc = lf_exec_create(&ec, &e, err)))
        return rc;
    lf_backend b;
    lf_exec_backend(&b, e);
    rc_cfg.backend = &b;
    lf_device none;
    memset(&none, 0, sizeof none);
    snprintf(none.name, sizeof none.name, "measured");
    rc = lf_sim_run(&rc_cfg, trace, profile, dev ? dev : &none, out, err);
    lf_exec_stats_get(e, &m->stats);
    m->cap_bytes = m->stats.dram_bytes;
    lf_exec_free(e);
    return rc;
}
