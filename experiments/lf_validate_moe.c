/* Expert validation: the simulator and the expert executor over a grid. */
#include "lf_validate_moe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_exec_moe.h"
#include "lf_fs.h"
#include "lf_median.h"
#include "lf_quant.h"
#include "lf_results.h"
#include "lf_validate.h"
#include "lf_time.h"

const char *const lf_vmoe_keys[] = {"policy", "dtype", "threads", "tokens", "seed", "capacity",
                                    "scope", "pagecache_mechanism", NULL};

/* One configuration across the phases: its replay, what prices it, and per repeat what
 * was measured (and the drift references taken just before). */
typedef struct {
    lf_moe_replay_cfg replay;
    const lf_device *dev;        /* prices the configuration (direct or buffered) */
    double *tot, *io_drift, *cpu_drift, *dense_drift;
    double *hit, *work;          /* the page cache's measured hit rate; scratch */
    int64_t *paged;              /* what the outside reclaimer paged out (-1: unknown) */
    lf_summary *sum;
    lf_moe_measured *mm;
} vslot;

/* The median of v[0..n), sorted into `sorted` (n entries). */
static double median_of(const double *v, size_t n, double *sorted)
{
    memcpy(sorted, v, sizeof *sorted * n);
    return lf_median(sorted, n);
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

/* The grid's configuration i as a replay (r->policy is the replay's policy string). */
static int config_of(const lf_vmoe_cfg *c, size_t i, vslot *s, lf_vmoe_row *r, lf_err *err)
{
    const lf_sweep *g = c->grid;
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
    s->replay = (lf_moe_replay_cfg){c->trace, w, r->policy, cap, (uint32_t)tokens,
                                    (uint32_t)threads, seed, 1, scope, mech};
    return LF_OK;
}

/* Parses configuration i, makes room for its repeats and prices it. */
static int predict_one(const lf_vmoe_cfg *c, size_t i, vslot *s, lf_vmoe_row *r,
                       lf_token_row *rows, lf_err *err)
{
    int rc = config_of(c, i, s, r, err);
    if (rc)
        return rc;
    uint32_t n = c->repeat;
    s->tot = calloc(n, sizeof *s->tot);
    s->io_drift = calloc(n, sizeof *s->io_drift);
    s->cpu_drift = calloc(n, sizeof *s->cpu_drift);
    s->dense_drift = calloc(n, sizeof *s->dense_drift);
    s->hit = calloc(n, sizeof *s->hit);
    s->work = calloc(n, sizeof *s->work);
    s->paged = calloc(n, sizeof *s->paged);
    s->sum = calloc(n, sizeof *s->sum);
    s->mm = calloc(n, sizeof *s->mm);
    if (!s->tot || !s->io_drift || !s->cpu_drift || !s->dense_drift || !s->hit || !s->work ||
        !s->paged || !s->sum || !s->mm)
        return lf_fail(err, LF_ENOMEM, "validate: out of memory");
    const lf_moe_replay_cfg *rp = &s->replay;
    const lf_weights *w = rp->weights;
    if (c->drift_refs && w->h.file_bytes < 2ull * LF_VMOE_REF_CHUNK)
        return lf_fail(err, LF_EINVAL, "%s: %llu bytes, too small for the flash drift reference "
                       "(%u-byte reads); run without --drift-refs", w->path,
                       (unsigned long long)w->h.file_bytes, LF_VMOE_REF_CHUNK);
    lf_exec_moe_cfg tiers;
    uint32_t layers = lf_moe_layers(c->trace, w);
    rc = lf_moe_tiers(r->policy, rp->capacity ? rp->capacity : c->trace->units_per_layer, layers,
                      w->h.record_bytes, &tiers, err);
    if (rc)
        return rc;
    s->dev = tiers.buffered && c->buffered_dev ? c->buffered_dev : c->dev;
    lf_backend sb;
    lf_moe_sim sbs;
    lf_moe_sim_backend(&sb, &sbs, s->dev, w, rp->threads, tiers.buffered, rp->scope, layers);
    lf_summary S;
    rc = lf_moe_replay(rp, &sb, rows, NULL, err);
    if (!rc)
        rc = lf_summary_compute(rows, rp->n_tokens, c->cold_tokens, &S, err);
    if (rc)
        return rc;
    r->predicted_ms = S.mean_total_ms;
    r->predicted_io_ms = S.mean_io_ms;
    r->predicted_mem_ms = S.mean_mem_ms;
    r->predicted_compute_ms = S.mean_compute_ms;
    r->predicted_resident_ms = lf_validate_end_compute_ms(rows, c->cold_tokens, rp->n_tokens);
    r->app_hit = S.hit_rate;
    snprintf(r->device, sizeof r->device, "%s", s->dev->name);
    lf_device_flash_outside(s->dev, S.mean_read_bytes, rp->threads,
                            lf_summary_batch_gap_s(&S, layers), r->flash_outside,
                            sizeof r->flash_outside);
    return LF_OK;
}

/* The drift references, just before a measured run: the direct profile's reference
 * point (LF_VMOE_REF_CHUNK x LF_VMOE_REF_INFLIGHT, a point of calibrate's grids, so its
 * fit residual is small and the ratio is the disk's drift, not the model's error there)
 * on the configuration's file, the expert kernel at its bit width and the dense product
 * (the resident part's kernel), each over what the profile says of it. */
static int measure_refs(const lf_vmoe_cfg *c, uint32_t k, vslot *s, const lf_vmoe_row *r,
                        const lf_ffn_bench *dense_ref, lf_err *err)
{
    const lf_weights *w = s->replay.weights;
    int rc = lf_validate_flash_drift("psync", w->path, w->h.file_bytes, LF_VMOE_REF_CHUNK,
                                     LF_VMOE_REF_INFLIGHT,
                                     c->drift_seconds > 0 ? c->drift_seconds : 0.3, 1000 + k,
                                     c->dev, &s->io_drift[k], err);
    if (rc)
        return lf_err_prefix(err, "%s: flash drift reference", r->id);
    uint32_t bits = lf_quant_bits(w->h.dtype);
    double wps = lf_device_expert_wps(s->dev, bits), sec = 0;
    if ((rc = lf_quant_measure(w->h.dtype, 4096, 1024, 0.1, &sec, err)))
        return lf_err_prefix(err, "%s: compute drift reference", r->id);
    s->cpu_drift[k] = wps > 0 && sec > 0 ? lf_validate_kernel_ratio(3.0 * 4096 * 1024 / sec, wps, s->dev) : 1;
    s->dense_drift[k] = lf_validate_dense_drift(dense_ref, s->dev);
    lf_validate_settle(c->drift_settle_s);
    return LF_OK;
}

/* dense_ref: the resident part's drift reference (NULL: no drift references) */
static int measure_one(const lf_vmoe_cfg *c, uint32_t k, vslot *s, const lf_vmoe_row *r,
                       lf_token_row *rows, const lf_ffn_bench *dense_ref, lf_err *err)
{
    s->io_drift[k] = s->cpu_drift[k] = s->dense_drift[k] = 1;
    int rc = dense_ref ? measure_refs(c, k, s, r, dense_ref, err) : LF_OK;
    if (!rc)
        rc = lf_moe_measure(&s->replay, rows, &s->mm[k], err);
    if (!rc)
        rc = lf_summary_compute(rows, s->replay.n_tokens, c->cold_tokens, &s->sum[k], err);
    if (!rc)
        s->tot[k] = s->sum[k].mean_total_ms;
    return rc;
}

uint32_t lf_vmoe_median_run(const double *v, uint32_t n, double *sorted)
{
    double med = median_of(v, n, sorted);
    uint32_t at = 0;
    for (uint32_t k = 1; k < n; k++)
        if (fabs(v[k] - med) < fabs(v[at] - med))
            at = k;
    return at;
}

uint32_t lf_vmoe_median_hit_run(const double *hit, const int64_t *paged, uint32_t n,
                                int clean_only, double *work, double *sorted, uint32_t *count)
{
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++)
        if (!clean_only || paged[k] == 0)
            work[m++] = hit[k];
    *count = m;
    if (m == 0)
        return UINT32_MAX;
    uint32_t j = lf_vmoe_median_run(work, m, sorted);
    for (uint32_t k = 0; k < n; k++)
        if ((!clean_only || paged[k] == 0) && j-- == 0)
            return k;
    return UINT32_MAX; /* not reached */
}

/* The median run's parts, the spread, and the prediction at the measured speeds. */
static void finish_one(const lf_vmoe_cfg *c, vslot *s, lf_vmoe_row *r, double *sorted)
{
    uint32_t n = c->repeat;
    double med = median_of(s->tot, n, sorted);
    r->measured_min_ms = sorted[0];
    r->measured_max_ms = sorted[n - 1];
    uint32_t at = lf_vmoe_median_run(s->tot, n, sorted);
    const lf_summary *M = &s->sum[at];
    const lf_exec_moe_stats *st = &s->mm[at].stats;
    r->measured_ms = med;
    r->measured_io_ms = M->mean_io_ms;
    r->measured_mem_ms = M->mean_mem_ms;
    r->measured_compute_ms = M->mean_compute_ms;
    r->error_pct = 100.0 * (r->predicted_ms - med) / med;
    snprintf(r->mechanism, sizeof r->mechanism, "%s", s->mm[at].mechanism);
    snprintf(r->mechanism_note, sizeof r->mechanism_note, "%s", s->mm[at].mechanism_note);
    int pc = strcmp(r->mechanism, "direct") != 0;
    r->read_gb_per_s = st->io_s > 0 ? st->bytes_read / st->io_s / 1e9 : 0;
    /* The page cache's side from the run with the median hit rate, not the median
     * latency: what an outside reclaimer takes varies from run to run (a cold start
     * each) apart from the latency. Among the repeats it left alone when there are any:
     * it pages out what it judges idle, which the budget does not model (MOE.md) */
    for (uint32_t k = 0; k < n; k++) {
        const lf_exec_moe_stats *sk = &s->mm[k].stats;
        s->hit[k] = sk->loads ? (double)sk->pc_measured / sk->loads : 0;
        s->paged[k] = s->mm[k].outside_paged;
    }
    uint32_t all, clean;
    uint32_t at_all = lf_vmoe_median_hit_run(s->hit, s->paged, n, 0, s->work, sorted, &all);
    r->pc_hit_min = pc ? sorted[0] : NAN;
    r->pc_hit_max = pc ? sorted[n - 1] : NAN;
    r->pc_hit_all = pc && s->mm[at_all].stats.loads ? s->hit[at_all] : NAN;
    at = lf_vmoe_median_hit_run(s->hit, s->paged, n, 1, s->work, sorted, &clean);
    if (at == UINT32_MAX)
        at = at_all;
    r->pc_clean_runs = pc ? clean : 0;
    r->pc_struck_runs = 0;
    for (uint32_t k = 0; pc && k < n; k++)
        r->pc_struck_runs += s->paged[k] > 0;
    st = &s->mm[at].stats;
    r->pc_hit_predicted = pc && st->loads ? (double)st->pc_predicted / st->loads : NAN;
    r->pc_hit_measured = pc && st->loads ? (double)st->pc_measured / st->loads : NAN;
    r->pc_byte_hit_measured = pc && st->pc_bytes_loaded
                                  ? (double)st->pc_bytes_cached / st->pc_bytes_loaded
                                  : NAN;
    r->pc_partial = st->pc_partial;
    snprintf(r->outside_reclaim, sizeof r->outside_reclaim, "%s", s->mm[at].outside_reclaim);
    r->outside_paged_mb = s->mm[at].outside_paged >= 0 ? s->mm[at].outside_paged / 1e6 : NAN;
    r->drift_measured = c->drift_refs != 0;
    r->io_drift = median_of(s->io_drift, n, sorted);
    r->cpu_drift = median_of(s->cpu_drift, n, sorted);
    r->dense_drift = median_of(s->dense_drift, n, sorted);
    r->predicted_norm_ms = r->predicted_ms - r->predicted_io_ms - r->predicted_compute_ms +
                           r->predicted_io_ms / r->io_drift +
                           (r->predicted_compute_ms - r->predicted_resident_ms) / r->cpu_drift +
                           r->predicted_resident_ms / r->dense_drift;
    r->norm_error_pct = 100.0 * (r->predicted_norm_ms - med) / med;
}

static void free_slots(vslot *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].tot);
        free(s[i].io_drift);
        free(s[i].cpu_drift);
        free(s[i].dense_drift);
        free(s[i].hit);
        free(s[i].work);
        free(s[i].paged);
        free(s[i].sum);
        free(s[i].mm);
    }
    free(s);
}

/* Predictions first; then the measured runs round-robin (repeat 1 of every
 * configuration, then repeat 2, ...), so that a slow spell of the shared disk or CPU
 * spreads over the configurations instead of landing on one. */
int lf_vmoe_run(const lf_vmoe_cfg *c, lf_vmoe_row **rows, size_t *n, lf_err *err)
{
    *rows = NULL;
    *n = 0;
    if (c->trace->kind != LF_UNITS_EXPERTS || c->n_weights == 0 || c->repeat == 0)
        return lf_fail(err, LF_EINVAL, "validate (experts): an expert trace, at least one expert "
                       "weights file and repeat >= 1 are needed");
    size_t N = c->grid->n_runs;
    lf_vmoe_row *out = calloc(N ? N : 1, sizeof *out);
    vslot *s = calloc(N ? N : 1, sizeof *s);
    lf_token_row *tok = calloc(c->trace->n_tokens ? c->trace->n_tokens : 1, sizeof *tok);
    double *sorted = calloc(c->repeat, sizeof *sorted);
    int rc = out && s && tok && sorted ? LF_OK : lf_fail(err, LF_ENOMEM, "validate: out of memory");
    for (size_t i = 0; i < N && !rc; i++)
        if ((rc = predict_one(c, i, &s[i], &out[i], tok, err)))
            lf_err_prefix(err, "configuration %s (%s, %s)", out[i].id, out[i].policy,
                          out[i].dtype);
    lf_ffn_bench dense_ref; /* the resident part's drift reference, as the dense grids' */
    memset(&dense_ref, 0, sizeof dense_ref);
    if (!rc && c->drift_refs)
        rc = lf_ffn_bench_dense_ref(&dense_ref, LF_DTYPE_FP16, err);
    lf_progress prog;
    lf_progress_start(&prog, "validate (measured runs)", (uint64_t)c->repeat * N);
    for (uint32_t k = 0; k < c->repeat && !rc; k++)
        for (size_t i = 0; i < N && !rc; i++) {
            if ((rc = measure_one(c, k, &s[i], &out[i], tok, c->drift_refs ? &dense_ref : NULL,
                                  err)))
                lf_err_prefix(err, "configuration %s (%s, %s), measured run %u", out[i].id,
                              out[i].policy, out[i].dtype, k + 1);
            lf_progress_update(&prog, (uint64_t)k * N + i + 1);
        }
    lf_progress_end(&prog);
    lf_ffn_bench_free(&dense_ref);
    for (size_t i = 0; i < N && !rc; i++) {
        finish_one(c, &s[i], &out[i], sorted);
        if (c->on_row)
            c->on_row(&out[i], i, N, c->arg);
    }
    free_slots(s, N);
    free(tok);
    free(sorted);
    if (rc) {
        free(out);
        return rc;
    }
    *rows = out;
    *n = N;
    return LF_OK;
}

void lf_vmoe_errors(const lf_vmoe_row *rows, size_t n, int norm, double *mdape, double *max_ape,
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
        a[i] = fabs(norm ? rows[i].norm_error_pct : rows[i].error_pct);
        if (a[i] > *max_ape)
            *max_ape = a[i];
        if (!isnan(rows[i].pc_hit_measured)) {
            double gap = fabs(rows[i].pc_hit_predicted - rows[i].pc_hit_measured);
            if (isnan(*max_hit_gap) || gap > *max_hit_gap)
                *max_hit_gap = gap;
        }
    }
    *mdape = lf_median(a, n);
    free(a);
}

/* Written through lf_atomic's stream: a row's width is what its numbers print to, not a
 * guess (a buffer sized per row let an absurd value run past it). */
int lf_vmoe_write_csv(const char *path, const lf_vmoe_row *rows, size_t n, lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f, "id,policy,dtype,threads,tokens,scope,mechanism,predicted_ms,measured_ms,"
                 "error_pct,predicted_io_ms,measured_io_ms,predicted_compute_ms,"
                 "measured_compute_ms,predicted_mem_ms,measured_mem_ms,measured_min_ms,"
                 "measured_max_ms,app_hit,pc_hit_predicted,pc_hit_measured,read_gb_per_s,"
                 "drift_measured,io_drift,cpu_drift,predicted_norm_ms,norm_error_pct,"
                 "pc_byte_hit_measured,pc_partial,outside_paged_mb,dense_drift,"
                 "predicted_resident_ms,pc_hit_min,pc_hit_max,pc_hit_all,pc_clean_runs,"
                 "pc_struck_runs\n");
    for (size_t i = 0; i < n; i++) {
        const lf_vmoe_row *r = &rows[i];
        fprintf(a.f, "%s,\"%s\",%s,%u,%u,%s,%s,", r->id, r->policy, r->dtype, r->threads,
                r->tokens, r->scope, r->mechanism);
        fprintf(a.f, "%.6f,%.6f,%.4f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,",
                r->predicted_ms, r->measured_ms, r->error_pct, r->predicted_io_ms,
                r->measured_io_ms, r->predicted_compute_ms, r->measured_compute_ms,
                r->predicted_mem_ms, r->measured_mem_ms, r->measured_min_ms, r->measured_max_ms,
                r->app_hit, r->pc_hit_predicted, r->pc_hit_measured, r->read_gb_per_s);
        /* drifts in significant digits: a slow reference (0.05) keeps its precision */
        fprintf(a.f, "%d,%.6g,%.6g,%.6f,%.4f,%.6f,%llu,%.3f,%.6g,%.6f,%.6f,%.6f,%.6f,%u,%u\n",
                r->drift_measured, r->io_drift, r->cpu_drift, r->predicted_norm_ms,
                r->norm_error_pct, r->pc_byte_hit_measured, (unsigned long long)r->pc_partial,
                r->outside_paged_mb, r->dense_drift, r->predicted_resident_ms, r->pc_hit_min,
                r->pc_hit_max, r->pc_hit_all, r->pc_clean_runs, r->pc_struck_runs);
    }
    return lf_atomic_commit(&a, err); /* on failure, it removes the temporary itself */
}
