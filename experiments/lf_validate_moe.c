/* Expert validation: the simulator and the expert executor over a grid. */
#include "lf_validate_moe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_exec_moe.h"
#include "lf_fs.h"
#include "lf_quant.h"
#include "lf_results.h"

const char *const lf_vmoe_keys[] = {"policy", "dtype", "threads", "tokens", "seed", "capacity",
                                    "scope", "pagecache_mechanism", NULL};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int get_u64(const lf_sweep *g, size_t i, const char *key, uint64_t def, uint64_t *out,
                   lf_err *err)
{
    const char *v = lf_sweep_get(g, i, key);
    if (!v) {
        *out = def;
        return LF_OK;
    }
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end)
        return lf_fail(err, LF_EINVAL, "%s: configuration %zu: %s = '%s' is not a count",
                       g->path, i + 1, key, v);
    *out = x;
    return LF_OK;
}

static const lf_weights *file_for(const lf_vmoe_cfg *c, lf_dtype dt)
{
    for (size_t k = 0; k < c->n_weights; k++)
        if (c->weights[k].h.dtype == dt)
            return &c->weights[k];
    return NULL;
}

static int one(const lf_vmoe_cfg *c, size_t i, lf_vmoe_row *r, lf_err *err)
{
    const lf_sweep *g = c->grid;
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "m%02zu", i + 1);
    const char *pol = lf_sweep_get(g, i, "policy");
    const char *dts = lf_sweep_get(g, i, "dtype");
    snprintf(r->policy, sizeof r->policy, "%s", pol ? pol : "pagecache:dram=0");
    lf_dtype dt;
    const lf_weights *w = c->weights;
    if (dts) {
        int rc = lf_quant_dtype_parse(dts, &dt, err);
        if (rc)
            return lf_err_prefix(err, "%s: configuration %zu", g->path, i + 1);
        if (!(w = file_for(c, dt)))
            return lf_fail(err, LF_EINVAL, "%s: configuration %zu wants dtype %s but no --weights "
                           "file holds it: make one with `llmflash weights make --dtype %s`",
                           g->path, i + 1, dts, dts);
    }
    snprintf(r->dtype, sizeof r->dtype, "%s", lf_dtype_name(w->h.dtype));
    uint64_t threads = 0, tokens = 0, seed = 0, cap = 0;
    int rc = get_u64(g, i, "threads", 4, &threads, err);
    if (!rc)
        rc = get_u64(g, i, "tokens", c->trace->n_tokens, &tokens, err);
    if (!rc)
        rc = get_u64(g, i, "seed", 1, &seed, err);
    if (!rc)
        rc = get_u64(g, i, "capacity", 0, &cap, err);
    lf_scope scope = c->scope; /* the grid's `scope` key: token or ffn */
    if (!rc && lf_sweep_get(g, i, "scope"))
        rc = lf_scope_parse(lf_sweep_get(g, i, "scope"), &scope, err);
    lf_pcache_mech mech = c->pc_mech;
    if (!rc && lf_sweep_get(g, i, "pagecache_mechanism"))
        rc = lf_pcache_mech_parse(lf_sweep_get(g, i, "pagecache_mechanism"), &mech, err);
    if (rc)
        return lf_err_prefix(err, "%s: configuration %zu", g->path, i + 1);
    snprintf(r->scope, sizeof r->scope, "%s", lf_scope_name(scope));
    if (c->tokens)
        tokens = c->tokens;
    if (tokens == 0 || tokens > c->trace->n_tokens || threads == 0 || threads > 64)
        return lf_fail(err, LF_EINVAL, "%s: configuration %zu: tokens %llu (trace: %u) or threads "
                       "%llu (1..64) out of range", g->path, i + 1, (unsigned long long)tokens,
                       c->trace->n_tokens, (unsigned long long)threads);
    r->threads = (uint32_t)threads;
    r->tokens = (uint32_t)tokens;
    lf_token_row *rows = calloc(tokens, sizeof *rows);
    double *tot = calloc(c->repeat, sizeof *tot);
    if (!rows || !tot) {
        free(rows);
        free(tot);
        return lf_fail(err, LF_ENOMEM, "validate: out of memory");
    }
    lf_moe_replay_cfg rc_cfg = {c->trace, w, r->policy, cap, (uint32_t)tokens, (uint32_t)threads,
                                seed, 1, scope, mech};
    /* predicted */
    lf_backend sb;
    lf_moe_sim sbs;
    lf_exec_moe_cfg tiers;
    rc = lf_moe_tiers(r->policy, cap ? cap : c->trace->units_per_layer,
                      lf_moe_layers(c->trace, w), w->h.record_bytes, &tiers, err);
    if (rc) {
        free(rows);
        free(tot);
        return rc;
    }
    const lf_device *dev = tiers.buffered && c->buffered_dev ? c->buffered_dev : c->dev;
    lf_moe_sim_backend(&sb, &sbs, dev, w, (uint32_t)threads, tiers.buffered, scope,
                       lf_moe_layers(c->trace, w));
    lf_summary S;
    rc = lf_moe_replay(&rc_cfg, &sb, rows, NULL, err);
    if (!rc)
        rc = lf_summary_compute(rows, (uint32_t)tokens, c->cold_tokens, &S, err);
    if (!rc) {
        r->predicted_ms = S.mean_total_ms;
        r->predicted_io_ms = S.mean_io_ms;
        r->predicted_mem_ms = S.mean_mem_ms;
        r->predicted_compute_ms = S.mean_compute_ms;
        r->app_hit = S.hit_rate;
    }
    /* measured: repeat runs, the median run's parts */
    lf_summary *Ms = calloc(c->repeat, sizeof *Ms);
    lf_moe_measured *mm = calloc(c->repeat, sizeof *mm);
    if (!rc && (!Ms || !mm))
        rc = lf_fail(err, LF_ENOMEM, "validate: out of memory");
    for (uint32_t k = 0; k < c->repeat && !rc; k++) {
        rc = lf_moe_measure(&rc_cfg, rows, &mm[k], err);
        if (!rc)
            rc = lf_summary_compute(rows, (uint32_t)tokens, c->cold_tokens, &Ms[k], err);
        if (!rc)
            tot[k] = Ms[k].mean_total_ms;
    }
    if (!rc) {
        double *sorted = malloc(sizeof *sorted * c->repeat);
        if (!sorted) {
            rc = lf_fail(err, LF_ENOMEM, "validate: out of memory");
        } else {
            memcpy(sorted, tot, sizeof *sorted * c->repeat);
            qsort(sorted, c->repeat, sizeof *sorted, cmp_double);
            double med = sorted[c->repeat / 2];
            uint32_t at = 0;
            for (uint32_t k = 0; k < c->repeat; k++)
                if (tot[k] == med)
                    at = k;
            const lf_summary *M = &Ms[at];
            const lf_exec_moe_stats *s = &mm[at].stats;
            r->measured_ms = med;
            r->measured_min_ms = sorted[0];
            r->measured_max_ms = sorted[c->repeat - 1];
            r->measured_io_ms = M->mean_io_ms;
            r->measured_mem_ms = M->mean_mem_ms;
            r->measured_compute_ms = M->mean_compute_ms;
            r->error_pct = 100.0 * (r->predicted_ms - med) / med;
            snprintf(r->mechanism, sizeof r->mechanism, "%s", mm[at].mechanism);
            snprintf(r->mechanism_note, sizeof r->mechanism_note, "%s", mm[at].mechanism_note);
            int pc = strcmp(r->mechanism, "direct") != 0;
            r->pc_hit_predicted = pc && s->loads ? (double)s->pc_predicted / s->loads : NAN;
            r->pc_hit_measured = pc && s->loads ? (double)s->pc_measured / s->loads : NAN;
            r->read_gb_per_s = s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0;
            free(sorted);
        }
    }
    free(Ms);
    free(mm);
    free(rows);
    free(tot);
    if (rc)
        lf_err_prefix(err, "configuration %s (%s, %s)", r->id, r->policy, r->dtype);
    return rc;
}

int lf_vmoe_run(const lf_vmoe_cfg *c, lf_vmoe_row **rows, size_t *n, lf_err *err)
{
    *rows = NULL;
    *n = 0;
    if (c->trace->kind != LF_UNITS_EXPERTS || c->n_weights == 0 || c->repeat == 0)
        return lf_fail(err, LF_EINVAL, "validate (experts): an expert trace, at least one expert "
                       "weights file and repeat >= 1 are needed");
    size_t N = c->grid->n_runs;
    lf_vmoe_row *out = calloc(N ? N : 1, sizeof *out);
    if (!out)
        return lf_fail(err, LF_ENOMEM, "validate: out of memory");
    int rc = LF_OK;
    for (size_t i = 0; i < N && !rc; i++) {
        rc = one(c, i, &out[i], err);
        if (!rc && c->on_row)
            c->on_row(&out[i], i, N, c->arg);
    }
    if (rc) {
        free(out);
        return rc;
    }
    *rows = out;
    *n = N;
    return LF_OK;
}

void lf_vmoe_errors(const lf_vmoe_row *rows, size_t n, double *mdape, double *max_ape,
                    double *max_hit_gap)
{
    double *a = malloc(sizeof *a * (n ? n : 1));
    *mdape = *max_ape = 0;
    *max_hit_gap = NAN;
    if (!a || n == 0) {
        free(a);
        *mdape = *max_ape = NAN;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = fabs(rows[i].error_pct);
        if (a[i] > *max_ape)
            *max_ape = a[i];
        if (!isnan(rows[i].pc_hit_measured)) {
            double gap = fabs(rows[i].pc_hit_predicted - rows[i].pc_hit_measured);
            if (isnan(*max_hit_gap) || gap > *max_hit_gap)
                *max_hit_gap = gap;
        }
    }
    qsort(a, n, sizeof *a, cmp_double);
    *mdape = n % 2 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
    free(a);
}

int lf_vmoe_write_csv(const char *path, const lf_vmoe_row *rows, size_t n, lf_err *err)
{
    size_t cap = 512 + n * 512, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return lf_fail(err, LF_ENOMEM, "validate: out of memory");
    len += (size_t)snprintf(buf + len, cap - len,
                            "id,policy,dtype,threads,tokens,scope,mechanism,predicted_ms,measured_ms,"
                            "error_pct,predicted_io_ms,measured_io_ms,predicted_compute_ms,"
                            "measured_compute_ms,predicted_mem_ms,measured_mem_ms,measured_min_ms,"
                            "measured_max_ms,app_hit,pc_hit_predicted,pc_hit_measured,read_gb_per_s\n");
    for (size_t i = 0; i < n; i++) {
        const lf_vmoe_row *r = &rows[i];
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s,\"%s\",%s,%u,%u,%s,%s,%.6f,%.6f,%.4f,%.6f,%.6f,%.6f,%.6f,%.6f,"
                                "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n",
                                r->id, r->policy, r->dtype, r->threads, r->tokens, r->scope,
                                r->mechanism,
                                r->predicted_ms, r->measured_ms, r->error_pct, r->predicted_io_ms,
                                r->measured_io_ms, r->predicted_compute_ms, r->measured_compute_ms,
                                r->predicted_mem_ms, r->measured_mem_ms, r->measured_min_ms,
                                r->measured_max_ms, r->app_hit, r->pc_hit_predicted,
                                r->pc_hit_measured, r->read_gb_per_s);
    }
    int rc = lf_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
