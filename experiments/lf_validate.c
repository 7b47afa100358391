#include "lf_validate.h"
#include "lf_validate_twins.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lf_ffn.h"
#include "lf_fit.h"
#include "lf_fs.h"
#include "lf_kv.h"
#include "lf_measure.h"
#include "lf_median.h"
#include "lf_probe.h"
#include "lf_results.h"
#include "lf_price.h"
#include "lf_runopt.h"
#include "lf_time.h"

static const char *keys[64];
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void build_keys(void)
{
    size_t n = lf_runopt_keys(LF_RUNOPT_GRID, keys, sizeof keys / sizeof keys[0] - 1);
    keys[n] = "engine";
    keys[n + 1] = NULL;
}

const char *const *lf_validate_keys(void)
{
    pthread_once(&keys_once, build_keys);
    return keys;
}

/* The trace file's name without its folders, as the rows' `trace` column: a comma or a
 * quote would split or open a CSV cell, so they become '_'. */
static void trace_name(const char *path, char *out, size_t size)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    snprintf(out, size, "%s", slash ? slash + 1 : path ? path : "");
    for (char *p = out; *p; p++)
        if (*p == ',' || *p == '"' || *p == '\n' || *p == '\r')
            *p = '_';
}

/* Configuration i of v's grid, the number-th of the validation (its id, cNN), as a
 * simulator configuration (strings point into the grid). */
static int config_of(const lf_validate_cfg *v, size_t i, size_t number, lf_run_config *c,
                     lf_validate_row *row, lf_err *err)
{
    lf_run_config_defaults(c);
    c->trace_path = v->trace_path;
    c->device_path = v->device_path;
    c->quiet = 1;
    c->cold_tokens = v->cold_tokens ? v->cold_tokens : 1;
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "c%02zu", number);
    trace_name(v->trace_path, row->trace, sizeof row->trace);
    const lf_sweep *g = v->grid;
    const char *s;
    char where[300];
    snprintf(where, sizeof where, "%s: configuration %s", g->path, row->id);
    /* every grid key but engine is a shared run option: one parser, one range */
    for (size_t a = 0; a < g->n_axes; a++) {
        const lf_runopt *o = lf_runopt_find(g->axes[a].key);
        if (!o || !(o->cmds & LF_RUNOPT_GRID))
            continue; /* engine (lf_sweep_load_grid checked the keys) */
        int rc = lf_runopt_set(o, c, lf_sweep_get(g, i, g->axes[a].key), err);
        if (rc) {
            lf_err_prefix(err, "%s", where);
            return rc;
        }
    }
    snprintf(row->policy, sizeof row->policy, "%s", c->policy);
    s = lf_sweep_get(g, i, "layout");
    snprintf(row->layout, sizeof row->layout, "%s",
             lf_layout_kind_name(s ? c->layout : v->weights[0].h.layout));
    s = lf_sweep_get(g, i, "engine");
    snprintf(row->engine, sizeof row->engine, "%s", s ? s : (v->engine ? v->engine : "psync"));
    snprintf(row->dram, sizeof row->dram, "%s",
             c->dram == LF_DRAM_REALLOC ? "realloc" : "prealloc");
    if (!lf_sweep_get(g, i, "scope") && v->scope && lf_scope_parse(v->scope, &c->scope, err))
        return lf_err_prefix(err, "%s", where);
    snprintf(row->scope, sizeof row->scope, "%s", lf_scope_name(c->scope));
    if (v->tokens)
        c->n_tokens = v->tokens;
    row->dram_fraction = c->dram_fraction;
    row->threads = c->threads;
    row->max_read = c->max_read;
    row->max_gap = c->max_gap;
    row->tokens = c->n_tokens ? c->n_tokens : v->trace->n_tokens;
    return LF_OK;
}

/* A configuration's policy and engine are known names (their parameters are checked
 * where they are made): checked for the whole grid before any run, as config_of's values
 * are. */
static int check_names(const lf_validate_cfg *v, const lf_run_config *c, const lf_validate_row *row,
                       lf_err *err)
{
    const lf_io_ops *ops;
    if (c->policy && !lf_policy_find(c->policy))
        return lf_fail(err, LF_EINVAL, "%s: configuration %s: unknown policy '%s' (known: %s)",
                       v->grid->path, row->id, c->policy, lf_policy_names());
    if (lf_io_engine(row->engine, &ops, err) != LF_OK)
        return lf_err_prefix(err, "%s: configuration %s", v->grid->path, row->id);
    return LF_OK;
}

static const lf_weights *weights_for(const lf_validate_cfg *v, const char *layout, lf_err *err)
{
    for (size_t k = 0; k < v->n_weights; k++)
        if (!strcmp(lf_layout_kind_name(v->weights[k].h.layout), layout))
            return &v->weights[k];
    lf_fail(err, LF_EINVAL, "%s: the grid asks for the %s layout but no --weights file has it; "
            "make one (llmflash weights make --layout %s ...) and pass it with --weights",
            v->grid->path, layout, layout);
    return NULL;
}

/* The profile of the configuration's engine (else the default one). */
static const lf_device *device_for(const lf_validate_cfg *v, const char *engine,
                                   const char **path)
{
    for (size_t k = 0; k < v->n_engine_devs; k++)
        if (!strcmp(v->engines[k], engine)) {
            *path = v->dev_paths[k];
            return &v->devs[k];
        }
    *path = v->device_path;
    return v->dev;
}

/* The simulator on the weights file's layout, at the configuration's scope, with the
 * profile of the engine the configuration runs. */
static int predict(const lf_validate_cfg *v, const lf_run_config *c0, const lf_weights *w,
                   const lf_device *dev, lf_run_result *res, lf_err *err)
{
    lf_run_config c = *c0;
    c.layout = w->h.layout;
    c.dtype_bytes = lf_dtype_bytes(w->h.dtype);
    c.layout_from = &w->layout;
    return lf_run(&c, v->trace, NULL, dev, res, err);
}

static int write_run(const lf_validate_cfg *v, const char *id, const lf_run_config *c,
                     const lf_run_result *r, lf_err *err)
{
    if (!v->out_dir)
        return LF_OK;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s-%s", v->out_dir, id, r->mode);
    return lf_run_write(dir, c, r, err);
}

/* Per configuration, across the phases. */
typedef struct {
    lf_run_config c;
    const lf_weights *w;
    double tot[64], io[64], mem[64], cpu[64];
    double cold[64 * LF_VALIDATE_MAX_COLD_SAMPLES]; /* repeat k's samples from k * per */
    double io_drift[64], cpu_drift[64], ffn_drift[64]; /* the references before each repeat */
    double pred_cold_io, pred_cold_cpu; /* the cold start's flash and compute terms */
    double pred_cold_resident;          /* the cold start's resident part (scope token) */
    double pred_cold_mem, pred_cold_bytes; /* and its DRAM term and bytes read (its twins) */
    const lf_device *dev;
    lf_run_result keep; /* the middle repeat's rows, for the run folder */
} slot;

double lf_validate_end_compute_ms(const lf_token_row *rows, uint32_t from, uint32_t to)
{
    double sum = 0;
    for (uint32_t t = from; t < to; t++)
        sum += rows[t].end_compute_ms;
    return to > from ? sum / (to - from) : 0;
}

/* s->c and row come from config_of, with a weights file for row's layout (checked for
 * every configuration before anything ran). */
static int predict_one(const lf_validate_cfg *v, slot *s, lf_validate_row *row, lf_err *err)
{
    int rc;
    if (!(s->w = weights_for(v, row->layout, err)))
        return err->code;
    lf_run_result pred;
    const lf_device *dev = device_for(v, row->engine, &s->c.device_path);
    snprintf(row->device, sizeof row->device, "%s", dev->name);
    if ((rc = predict(v, &s->c, s->w, dev, &pred, err)))
        return lf_err_prefix(err, "%s (predicted)", row->id);
    row->predicted_ms = pred.summary.mean_total_ms;
    row->predicted_io_ms = pred.summary.mean_io_ms;
    row->predicted_mem_ms = pred.summary.mean_mem_ms;
    row->predicted_compute_ms = pred.summary.mean_compute_ms;
    row->predicted_cold_ms = pred.summary.cold_total_ms;
    lf_device_flash_outside(dev, pred.summary.mean_read_bytes, s->c.threads,
                            lf_summary_batch_gap_s(&pred.summary, pred.model.n_layers), row->flash_outside,
                            sizeof row->flash_outside);
    if (s->c.dram_bytes && pred.budget.model_bytes) /* the budget the runs had, as a fraction */
        row->dram_fraction = (double)pred.budget.budget_bytes / (double)pred.budget.model_bytes;
    s->dev = dev;
    s->pred_cold_io = pred.summary.cold_io_ms;
    s->pred_cold_cpu = pred.summary.cold_compute_ms;
    s->pred_cold_mem = pred.summary.cold_mem_ms;
    s->pred_cold_bytes = pred.summary.cold_bytes_read;
    uint32_t cold = pred.summary.cold_tokens;
    row->predicted_resident_ms = lf_validate_end_compute_ms(pred.rows, cold, pred.n_rows);
    s->pred_cold_resident = lf_validate_end_compute_ms(pred.rows, 0, cold);
    rc = write_run(v, row->id, &s->c, &pred, err);
    lf_run_result_free(&pred);
    return rc;
}

int lf_validate_flash_drift(const char *engine, const char *path, uint64_t file_bytes,
                            uint64_t chunk, uint32_t inflight, double seconds, uint64_t seed,
                            const lf_device *dev, double *ratio, lf_err *err)
{
    lf_probe_row pr;
    *ratio = 1;
    /* in the pattern the profile's flash keys describe: a device may serve batches
     * waited for whole far below its steady state (costmodel/README.md, "Batches of
     * large reads") */
    uint32_t batch = (uint32_t)dev->flash_fit_batch;
    uint64_t footprint = (uint64_t)dev->flash_footprint;
    /* after the compute the profile's batches were probed after (older profiles do not
     * say: calibrate's default) */
    double gap_s = dev->flash_batch_gap_s > 0 ? dev->flash_batch_gap_s : LF_PROBE_BATCH_GAP_S;
    int rc = batch ? lf_probe_batch(engine, path, file_bytes, chunk, inflight, batch, gap_s,
                                    seconds, seed, footprint, &pr, err)
                   : lf_probe_point(engine, path, file_bytes, chunk, inflight, seconds, seed,
                                    footprint, &pr, err);
    if (rc)
        return rc;
    double model =
        lf_fit_predict(dev, &(lf_fit_point){chunk, inflight, 0, batch, footprint, gap_s});
    *ratio = model > 0 && pr.mb_s > 0 ? pr.mb_s * 1e6 / model : 1;
    return LF_OK;
}

double lf_validate_kernel_ratio(double measured, double profile_rate, const lf_device *dev)
{
    double typical = profile_rate * lf_device_compute_stall(dev);
    return measured > 0 && typical > 0 ? measured / typical : 1;
}

/* A kernel timed for 0.1 s over the bandwidth the profile prices it at, times the
 * profile's compute_stall (lf_validate_kernel_ratio; 1 when either is 0). */
static double kernel_drift(const lf_ffn_bench *ref, const lf_device *dev, double profile_bw)
{
    double flops, bw;
    lf_ffn_bench_time(ref, 0.1, &flops, &bw);
    return lf_validate_kernel_ratio(bw, profile_bw, dev);
}

double lf_validate_dense_drift(const lf_ffn_bench *ref, const lf_device *dev)
{
    return kernel_drift(ref, dev, lf_device_dense_bw(dev));
}

/* Whether a profile measured any width of a table (lf_device.ffn_bw_*, dense_bw_cols). */
static int has_table(const double *rates)
{
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        if (rates[i] > 0)
            return 1;
    return 0;
}

void lf_validate_kernel_drifts(const lf_validate_refs *r, const lf_device *dev, double *cpu,
                               double *ffn)
{
    if (r->cols_view.rows && has_table(dev->dense_bw_cols))
        *cpu = kernel_drift(&r->cols_view, dev, lf_device_dense_bw_at(dev, r->d_model));
    else
        *cpu = lf_validate_dense_drift(&r->dense, dev);
    if (r->ffn_view.rows && has_table(r->swiglu ? dev->ffn_bw_swiglu : dev->ffn_bw_relu))
        *ffn = kernel_drift(&r->ffn_view, dev, lf_device_ffn_bw(dev, r->swiglu, r->d_model));
    else
        *ffn = kernel_drift(&r->sparse, dev, dev->mem_bw);
}

int lf_validate_refs_make(lf_validate_refs *r, const lf_model *model, lf_err *err)
{
    memset(r, 0, sizeof *r);
    lf_model m;
    int rc = lf_ffn_bench_dense_ref(&r->dense, LF_DTYPE_FP16, err);
    if (!rc)
        rc = lf_model_lookup("opt-6.7b", &m, err);
    if (!rc)
        rc = lf_ffn_bench_sparse(&r->sparse, &m, LF_DTYPE_FP16, LF_VALIDATE_SPARSE_REF_ROWS, err);
    if (!rc && model && model->d_model > 0) {
        r->swiglu = model->act == LF_ACT_SWIGLU;
        r->d_model = model->d_model;
        lf_ffn_shape shape;
        lf_ffn_shape_packed(&shape, model, LF_DTYPE_FP16);
        uint64_t rows = (uint64_t)(r->dense.w_bytes / lf_ffn_bytes(&shape, 1));
        lf_err ignored; /* a shape too wide for the reference keeps the general one */
        if (rows == 0 || rows > UINT32_MAX ||
            lf_ffn_bench_sparse_view(&r->ffn_view, &r->dense, model, (uint32_t)rows,
                                     &ignored) != LF_OK)
            memset(&r->ffn_view, 0, sizeof r->ffn_view);
        if (lf_ffn_bench_dense_view(&r->cols_view, &r->dense, model->d_model, &ignored) != LF_OK)
            memset(&r->cols_view, 0, sizeof r->cols_view);
    }
    if (rc)
        lf_validate_refs_free(r);
    return rc;
}

void lf_validate_refs_free(lf_validate_refs *r)
{
    lf_ffn_bench_free(&r->ffn_view); /* views of dense's weights */
    lf_ffn_bench_free(&r->cols_view);
    lf_ffn_bench_free(&r->dense);
    lf_ffn_bench_free(&r->sparse);
}

void lf_validate_settle(double seconds)
{
    if (!(seconds > 0))
        return;
    struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

/* The drift references, just before a measured run (repeat k): the flash reference point
 * on the configuration's weights file with its engine, the dense and the sparse kernel,
 * each over what the configuration's profile says of it, into *io, *cpu and *ffn. */
static int measure_refs(const lf_validate_cfg *v, uint32_t k, const slot *s,
                        const lf_validate_row *row, const lf_validate_refs *refs, double *io,
                        double *cpu, double *ffn, lf_err *err)
{
    uint64_t chunk = LF_VALIDATE_REF_CHUNK;
    if (s->w->h.file_bytes < 2 * chunk)
        return lf_fail(err, LF_EINVAL, "%s: %llu bytes, too small for the flash drift reference "
                       "(%llu-byte reads); run without --drift-refs", s->w->path,
                       (unsigned long long)s->w->h.file_bytes, (unsigned long long)chunk);
    int rc = lf_validate_flash_drift(row->engine, s->w->path, s->w->h.file_bytes, chunk,
                                     LF_VALIDATE_REF_INFLIGHT,
                                     v->drift_seconds > 0 ? v->drift_seconds : 0.3, 1000 + k,
                                     s->dev, io, err);
    if (rc)
        return lf_err_prefix(err, "%s: flash drift reference", row->id);
    lf_validate_kernel_drifts(refs, s->dev, cpu, ffn);
    lf_validate_settle(v->drift_settle_s);
    return LF_OK;
}

static uint32_t cold_per(const lf_validate_cfg *v)
{
    uint32_t n = v->cold_samples ? v->cold_samples : 1;
    return n < LF_VALIDATE_MAX_COLD_SAMPLES ? n : LF_VALIDATE_MAX_COLD_SAMPLES;
}

/* The executor on configuration c with the row's engine (m: its measurement). */
static int measure_run(const lf_validate_cfg *v, const slot *s, const lf_run_config *c,
                       const lf_validate_row *row, lf_measure *m, lf_run_result *r, lf_err *err)
{
    memset(m, 0, sizeof *m);
    m->engine = row->engine;
    return lf_measure_run(c, v->trace, NULL, s->w, s->dev, m, r, err);
}

/* Repeat k's cold-start samples after the first: runs of the cold tokens and one more
 * (a summary needs a steady token), each after the references and idle time the
 * measured run had (the same disk history; those references are not recorded). */
static int measure_cold(const lf_validate_cfg *v, uint32_t k, slot *s, const lf_validate_row *row,
                        const lf_validate_refs *refs, lf_err *err)
{
    lf_run_config c = s->c;
    c.n_tokens = c.cold_tokens + 1;
    for (uint32_t j = 1; j < cold_per(v); j++) {
        double io, cpu, ffn;
        int rc = refs ? measure_refs(v, k, s, row, refs, &io, &cpu, &ffn, err) : LF_OK;
        lf_run_result r;
        lf_measure m;
        if (!rc && (rc = measure_run(v, s, &c, row, &m, &r, err)))
            lf_err_prefix(err, "%s (cold start, run %u, sample %u)", row->id, k + 1, j + 1);
        if (rc)
            return rc;
        s->cold[k * cold_per(v) + j] = r.summary.cold_total_ms;
        lf_run_result_free(&r);
    }
    return LF_OK;
}

/* refs: the compute drift references (NULL: no drift references) */
static int measure_one(const lf_validate_cfg *v, uint32_t k, uint32_t reps, slot *s,
                       lf_validate_row *row, const lf_validate_refs *refs, lf_err *err)
{
    lf_run_result r;
    lf_measure m;
    s->io_drift[k] = s->cpu_drift[k] = s->ffn_drift[k] = 1;
    if (refs) {
        int rc = measure_refs(v, k, s, row, refs, &s->io_drift[k], &s->cpu_drift[k],
                              &s->ffn_drift[k], err);
        if (rc)
            return rc;
    }
    int rc = measure_run(v, s, &s->c, row, &m, &r, err);
    if (rc)
        return lf_err_prefix(err, "%s (measured, run %u)", row->id, k + 1);
    s->tot[k] = r.summary.mean_total_ms;
    s->io[k] = r.summary.mean_io_ms;
    s->mem[k] = r.summary.mean_mem_ms;
    s->cpu[k] = r.summary.mean_compute_ms;
    s->cold[k * cold_per(v)] = r.summary.cold_total_ms;
    if (k == reps / 2) {
        s->keep = r;
        row->bytes_per_token = r.summary.mean_bytes_read;
        row->reads_per_token = r.summary.mean_reads;
        row->read_gb_per_s = m.stats.io_s > 0 ? m.stats.bytes_read / m.stats.io_s / 1e9 : 0;
    } else {
        lf_run_result_free(&r);
    }
    return measure_cold(v, k, s, row, refs, err);
}

/* Percent error of a prediction against a measurement (NaN when nothing was measured). */
static double error_pct(double predicted, double measured)
{
    return measured > 0 ? 100.0 * (predicted - measured) / measured : NAN;
}

/* A predicted total with its flash and compute terms priced at the speeds the drift
 * references measured: the resident part at the dense kernel's, the FFN at the sparse
 * kernel's (two kernels whose speeds drift apart: one streams 512 MiB, the other works
 * row by row). */
static double at_speeds(double total, double io, double compute, double resident,
                        const lf_validate_row *row)
{
    return total - io - compute + io / row->io_drift + resident / row->cpu_drift +
           (compute - resident) / row->ffn_drift;
}

/* The median of v's n repeats (v is sorted), their min and max, the spread (max - min
 * over the median, percent) and whether it exceeds target_pct (noisy; never for one
 * repeat). */
static double spread_of(double *v, uint32_t n, double target_pct, double *min, double *max,
                        double *spread_pct, int *noisy)
{
    double med = lf_median(v, n);
    *min = v[0];
    *max = v[n - 1];
    *spread_pct = med > 0 ? 100.0 * (*max - *min) / med : 0;
    *noisy = n > 1 && *spread_pct > target_pct;
    return med;
}

static int finish_one(const lf_validate_cfg *v, uint32_t reps, slot *s, lf_validate_row *row,
                      lf_err *err)
{
    double target = v->target_pct > 0 ? v->target_pct : 5.0;
    row->measured_ms = spread_of(s->tot, reps, target, &row->measured_min_ms,
                                 &row->measured_max_ms, &row->spread_pct, &row->noisy);
    row->measured_io_ms = lf_median(s->io, reps);
    row->measured_mem_ms = lf_median(s->mem, reps);
    row->measured_compute_ms = lf_median(s->cpu, reps);
    row->cold_samples = reps * cold_per(v);
    row->measured_cold_ms = spread_of(s->cold, row->cold_samples, target,
                                      &row->measured_cold_min_ms, &row->measured_cold_max_ms,
                                      &row->cold_spread_pct, &row->cold_noisy);
    row->error_pct = error_pct(row->predicted_ms, row->measured_ms);
    row->cold_error_pct = error_pct(row->predicted_cold_ms, row->measured_cold_ms);
    row->drift_measured = v->drift_refs != 0;
    row->io_drift = lf_median(s->io_drift, reps);
    row->cpu_drift = lf_median(s->cpu_drift, reps);
    row->ffn_drift = lf_median(s->ffn_drift, reps);
    row->predicted_norm_ms = at_speeds(row->predicted_ms, row->predicted_io_ms,
                                       row->predicted_compute_ms, row->predicted_resident_ms,
                                       row);
    row->predicted_cold_norm_ms = at_speeds(row->predicted_cold_ms, s->pred_cold_io,
                                            s->pred_cold_cpu, s->pred_cold_resident, row);
    row->norm_error_pct = error_pct(row->predicted_norm_ms, row->measured_ms);
    row->cold_norm_error_pct = error_pct(row->predicted_cold_norm_ms, row->measured_cold_ms);
    char buf[64];
    snprintf(buf, sizeof buf, "%u", reps);
    int rc = lf_kv_set(&s->keep.extra, "repeats", buf, 0, err);
    if (!rc)
        rc = write_run(v, row->id, &s->c, &s->keep, err);
    return rc;
}

/* The cold start's twins over all sets (rows of one set share its cfg). */
static int pool_twins(const lf_validate_cfg **of, const slot *s, lf_validate_row *r,
                      size_t total, lf_err *err)
{
    lf_twin_input *in = calloc(total ? total : 1, sizeof *in);
    if (!in)
        return lf_fail(err, LF_ENOMEM, "validate: out of memory");
    for (size_t g = 0; g < total; g++)
        in[g] = (lf_twin_input){(size_t)(of[g] - of[0]), s[g].pred_cold_io, s[g].pred_cold_mem,
                                s[g].pred_cold_cpu, s[g].pred_cold_bytes, s[g].cold,
                                r[g].cold_samples};
    int rc = lf_validate_pool_twins(r, in, total, err);
    free(in);
    return rc;
}

/* Run folders cNN-sim / cNN-run beyond this grid's `total` configurations, left by an
 * earlier validation of a larger grid in the same folder: removed (lf_results_remove), so
 * that the folder holds this validation alone. */
static void drop_stale_runs(const char *out, size_t total)
{
    DIR *d = opendir(out);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned long k;
        char mode[8], rest;
        if (sscanf(e->d_name, "c%lu-%7[a-z]%c", &k, mode, &rest) != 2 || k <= total ||
            (strcmp(mode, "sim") && strcmp(mode, "run")))
            continue;
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", out, e->d_name);
        lf_results_remove(dir);
    }
    closedir(d);
}

/* What the sets of one validation must share: one output folder (their run folders are
 * numbered on from one set to the next), one count of repeats and cold-start samples,
 * one kind of drift references. */
static int check_sets(const lf_validate_cfg *v, size_t n_sets, lf_err *err)
{
    if (n_sets == 0)
        return lf_fail(err, LF_EINVAL, "validate: no trace given");
    for (size_t j = 0; j < n_sets; j++) {
        const lf_validate_cfg *a = &v[0], *b = &v[j];
        if (!b->n_weights)
            return lf_fail(err, LF_EINVAL, "validate: no weights file given for %s",
                           b->trace_path ? b->trace_path : "the trace");
        int same_out = (!a->out_dir && !b->out_dir) ||
                       (a->out_dir && b->out_dir && !strcmp(a->out_dir, b->out_dir));
        if (!same_out || a->repeat != b->repeat || a->cold_samples != b->cold_samples ||
            a->cold_tokens != b->cold_tokens || a->drift_refs != b->drift_refs ||
            a->drift_seconds != b->drift_seconds || a->drift_settle_s != b->drift_settle_s)
            return lf_fail(err, LF_EINVAL, "validate: set %zu (%s) differs from the first in its "
                           "output folder, repeats, cold-start samples or drift references; "
                           "the sets of one validation share them", j + 1,
                           b->trace_path ? b->trace_path : "no trace path");
        for (size_t k = 0; k < b->n_weights; k++) {
            int rc = lf_weights_check_trace(&b->weights[k], b->trace, err);
            if (rc)
                return rc;
        }
        if (lf_sweep_get(b->grid, 0, "dram_bytes") && lf_sweep_get(b->grid, 0, "dram_fraction"))
            return lf_fail(err, LF_EINVAL, "%s: both dram_bytes and dram_fraction: the budget is "
                           "one or the other (dram_bytes wins in a run); keep one key",
                           b->grid->path);
    }
    return LF_OK;
}

int lf_validate_run(const lf_validate_cfg *v, lf_validate_row **rows, size_t *n, lf_err *err)
{
    return lf_validate_run_sets(v, 1, rows, n, err);
}

/* Predictions first; then the measured runs round-robin over every configuration of
 * every set (repeat 1 of each, then repeat 2, ...), so that a slow spell of a shared disk
 * or CPU spreads over configurations and shapes instead of landing on one: run by run,
 * one shape's repeats all fell into the same few minutes. */
int lf_validate_run_sets(const lf_validate_cfg *v, size_t n_sets, lf_validate_row **rows,
                         size_t *n, lf_err *err)
{
    *rows = NULL;
    *n = 0;
    int rc = check_sets(v, n_sets, err);
    if (rc)
        return rc;
    size_t total = 0;
    for (size_t j = 0; j < n_sets; j++)
        total += v[j].grid->n_runs;
    uint32_t reps = v[0].repeat ? v[0].repeat : 1;
    if (reps > 64)
        reps = 64;
    lf_validate_row *r = calloc(total ? total : 1, sizeof *r);
    slot *s = calloc(total ? total : 1, sizeof *s);
    const lf_validate_cfg **of = calloc(total ? total : 1, sizeof *of); /* each row's set */
    lf_validate_refs *refs = calloc(n_sets, sizeof *refs);
    rc = r && s && of && refs ? LF_OK : lf_fail(err, LF_ENOMEM, "validate: out of memory");
    /* every configuration's options and weights file before anything is written: a grid
     * that fails at its second configuration left the first one's folder behind */
    for (size_t j = 0, g = 0; j < n_sets && !rc; j++)
        for (size_t i = 0; i < v[j].grid->n_runs && !rc; i++, g++) {
            of[g] = &v[j];
            rc = config_of(&v[j], i, g + 1, &s[g].c, &r[g], err);
            if (!rc && !weights_for(&v[j], r[g].layout, err))
                rc = err->code;
            rc = rc ? rc : check_names(&v[j], &s[g].c, &r[g], err);
        }
    if (!rc && v[0].out_dir)
        rc = lf_mkdirs(v[0].out_dir, err);
    for (size_t g = 0; g < total && !rc; g++)
        rc = predict_one(of[g], &s[g], &r[g], err);
    /* each set's compute drift references (its model's shapes), filled once */
    for (size_t j = 0, g = 0; j < n_sets && !rc && v[0].drift_refs; g += v[j++].grid->n_runs)
        if (v[j].grid->n_runs && (rc = lf_validate_refs_make(&refs[j], &s[g].w->model, err)))
            lf_err_prefix(err, "validate: compute drift reference");
    lf_progress prog;
    lf_progress_start(&prog, "validate (measured runs)", (uint64_t)reps * total);
    for (uint32_t k = 0; k < reps && !rc; k++)
        for (size_t j = 0, g = 0; j < n_sets && !rc; j++)
            for (size_t i = 0; i < v[j].grid->n_runs && !rc; i++, g++) {
                rc = measure_one(&v[j], k, reps, &s[g], &r[g], v[0].drift_refs ? &refs[j] : NULL,
                                 err);
                if (!rc && v[0].on_measured)
                    v[0].on_measured(g, k, v[0].arg);
                lf_progress_update(&prog, (uint64_t)k * total + g + 1);
            }
    lf_progress_end(&prog);
    for (size_t j = 0; refs && j < n_sets; j++) /* zeroed or filled: either frees */
        lf_validate_refs_free(&refs[j]);
    for (size_t g = 0; g < total && !rc; g++)
        rc = finish_one(of[g], reps, &s[g], &r[g], err);
    if (!rc)
        rc = pool_twins(of, s, r, total, err);
    for (size_t g = 0; g < total && !rc && v[0].on_row; g++)
        v[0].on_row(&r[g], g, total, v[0].arg);
    for (size_t g = 0; s && g < total; g++)
        lf_run_result_free(&s[g].keep);
    free(s);
    free(of);
    free(refs);
    if (rc) {
        free(r);
        return rc;
    }
    if (v[0].out_dir)
        drop_stale_runs(v[0].out_dir, total);
    *rows = r;
    *n = total;
    return LF_OK;
}

/* which: 0 error_pct, 1 cold_error_pct, 2 norm_error_pct, 3 cold_norm_error_pct */
static double err_of(const lf_validate_row *r, int which)
{
    const double e[4] = {r->error_pct, r->cold_error_pct, r->norm_error_pct,
                         r->cold_norm_error_pct};
    return e[which];
}

static void ape(const lf_validate_row *rows, size_t n, int which, double *mdape, double *max_ape)
{
    *mdape = *max_ape = NAN;
    if (!n)
        return;
    double *a = malloc(n * sizeof *a);
    if (!a)
        return;
    *max_ape = 0;
    for (size_t i = 0; i < n; i++) {
        a[i] = fabs(err_of(&rows[i], which));
        *max_ape = fmax(*max_ape, a[i]);
    }
    *mdape = lf_median(a, n);
    free(a);
}

void lf_validate_errors(const lf_validate_row *rows, size_t n, double *mdape, double *max_ape)
{
    ape(rows, n, 0, mdape, max_ape);
}

void lf_validate_cold_errors(const lf_validate_row *rows, size_t n, double *mdape,
                             double *max_ape)
{
    ape(rows, n, 1, mdape, max_ape);
}

void lf_validate_norm_errors(const lf_validate_row *rows, size_t n, int cold, double *mdape,
                             double *max_ape)
{
    ape(rows, n, cold ? 3 : 2, mdape, max_ape);
}

int lf_validate_write_csv(const char *path, const lf_validate_row *rows, size_t n, int cold,
                          lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    if (cold)
        fprintf(a.f, "config,policy,layout,dram_fraction,threads,max_read_bytes,max_gap_bytes,dram_strategy,engine,"
                     "tokens,predicted_ms,measured_ms,error_pct,scope,device,drift_measured,"
                     "predicted_norm_ms,norm_error_pct,measured_min_ms,measured_max_ms,"
                     "spread_pct,noisy,samples,twin,pooled_samples,pooled_ms,pooled_error_pct,"
                     "trace\n");
    else
        fprintf(a.f, "config,policy,layout,dram_fraction,threads,max_read_bytes,max_gap_bytes,dram_strategy,engine,"
                     "tokens,predicted_ms,measured_ms,error_pct,predicted_io_ms,measured_io_ms,"
                     "predicted_mem_ms,measured_mem_ms,predicted_compute_ms,"
                     "measured_compute_ms,measured_min_ms,measured_max_ms,bytes_per_token,"
                     "reads_per_token,read_gb_per_s,spread_pct,noisy,scope,device,"
                     "drift_measured,io_drift,cpu_drift,predicted_norm_ms,norm_error_pct,"
                     "ffn_drift,predicted_resident_ms,trace\n");
    for (size_t i = 0; i < n; i++) {
        const lf_validate_row *r = &rows[i];
        fprintf(a.f, "%s,\"%s\",%s,%.6g,%u,%llu,%llu,%s,%s,%u,", r->id, r->policy, r->layout,
                r->dram_fraction, r->threads, (unsigned long long)r->max_read,
                (unsigned long long)r->max_gap, r->dram, r->engine, r->tokens);
        if (cold) {
            fprintf(a.f, "%.6f,%.6f,%.3f,%s,%s,%d,%.6f,%.3f,%.6f,%.6f,%.2f,%d,%u,%s,%u,%.6f,"
                         "%.3f,%s\n",
                    r->predicted_cold_ms, r->measured_cold_ms, r->cold_error_pct, r->scope,
                    r->device, r->drift_measured, r->predicted_cold_norm_ms,
                    r->cold_norm_error_pct, r->measured_cold_min_ms, r->measured_cold_max_ms,
                    r->cold_spread_pct, r->cold_noisy, r->cold_samples, r->cold_twin,
                    r->cold_pooled_samples, r->measured_cold_pooled_ms, r->cold_pooled_error_pct,
                    r->trace);
            continue;
        }
        /* drifts in significant digits: a slow reference (0.05) keeps its precision */
        fprintf(a.f, "%.6f,%.6f,%.3f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f,%.2f,%.4f,"
                     "%.2f,%d,%s,%s,%d,%.6g,%.6g,%.6f,%.3f,%.6g,%.6f,%s\n",
                r->predicted_ms, r->measured_ms, r->error_pct, r->predicted_io_ms,
                r->measured_io_ms, r->predicted_mem_ms, r->measured_mem_ms,
                r->predicted_compute_ms, r->measured_compute_ms, r->measured_min_ms,
                r->measured_max_ms, r->bytes_per_token, r->reads_per_token, r->read_gb_per_s,
                r->spread_pct, r->noisy, r->scope, r->device, r->drift_measured, r->io_drift,
                r->cpu_drift, r->predicted_norm_ms, r->norm_error_pct, r->ffn_drift,
                r->predicted_resident_ms, r->trace);
    }
    rc = lf_atomic_commit(&a, err);
    if (rc)
        lf_atomic_abort(&a);
    return rc;
}

/* The value of `col` in the first data row of dir/summary.csv (quote-aware split): a
 * whole cell that is a finite number above 0 (a run's time), else the file is damaged. */
static int summary_value(const char *dir, const char *col, double *out, lf_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    char *data;
    size_t len;
    int rc = lf_read_file(path, &data, &len, err);
    if (rc)
        return lf_err_prefix(err, "compare");
    char *row = strchr(data, '\n');
    int want = -1, k = 0;
    if (row) {
        *row++ = '\0';
        for (char *h = data; h; k++) {
            char *c = strchr(h, ',');
            size_t n = c ? (size_t)(c - h) : strlen(h);
            if (n == strlen(col) && !strncmp(h, col, n))
                want = k;
            h = c ? c + 1 : NULL;
        }
    }
    rc = lf_fail(err, LF_EFORMAT, "%s: no '%s' value (not a run folder's summary)", path, col);
    if (row && want >= 0) {
        int field = 0, q = 0;
        char *start = row;
        for (char *p = row;; p++) {
            if (*p == '"')
                q = !q;
            if ((*p == ',' && !q) || *p == '\n' || *p == '\0') {
                if (field == want) {
                    char *end;
                    *out = strtod(start, &end);
                    if (end == p && end != start && isfinite(*out) && *out > 0)
                        rc = LF_OK;
                    else
                        rc = lf_fail(err, LF_EFORMAT, "%s: %s = '%.*s' is not a time above 0: the "
                                     "summary is damaged; rerun that run", path, col,
                                     (int)(p - start > 60 ? 60 : p - start), start);
                    break;
                }
                if (*p != ',')
                    break;
                field++;
                start = p + 1;
            }
        }
    }
    free(data);
    return rc;
}

int lf_validate_compare(const char *a_dir, const char *b_dir, lf_validate_pair *out, lf_err *err)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 2; i++)
        if (!lf_results_done(i ? b_dir : a_dir))
            return lf_fail(err, LF_EINVAL, "compare: %s has no 'done' marker: that run did not "
                           "finish (it failed, was stopped, or is still running); rerun it",
                           i ? b_dir : a_dir);
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/config.conf", a_dir);
    snprintf(pb, sizeof pb, "%s/config.conf", b_dir);
    lf_kv a, b;
    lf_kv_init(&a, pa);
    lf_kv_init(&b, pb);
    int rc = lf_kv_parse_file(pa, &a, err);
    if (!rc)
        rc = lf_kv_parse_file(pb, &b, err);
    if (!rc) {
        const char *sa = lf_kv_get(&a, "scope"), *sb = lf_kv_get(&b, "scope");
        if (!sa || !sb || strcmp(sa, sb))
            rc = lf_fail(err, LF_EINVAL,
                         "compare: %s prices scope '%s' but %s prices scope '%s': a whole token "
                         "(attention, norms, FFN, embedding, head) and the FFN stream alone are "
                         "not the same work; rerun one of them with --scope %s",
                         a_dir, sa ? sa : "(none recorded: made before scopes)", b_dir,
                         sb ? sb : "(none recorded: made before scopes)", sa ? sa : "token");
        else
            snprintf(out->scope, sizeof out->scope, "%s", sa);
    }
    static const char *const plan[] = {"model", "policy", "layout", "threads", "dram_bytes",
                                       "tokens", "dram_strategy", "max_read", "max_gap",
                                       "predictor", "fn_rate", "fp_rate", "seed",
                                       "dtype_bytes", NULL};
    for (size_t k = 0; plan[k] && !rc; k++) {
        const char *x = lf_kv_get(&a, plan[k]), *y = lf_kv_get(&b, plan[k]);
        if ((x || y) && (!x || !y || strcmp(x, y)))
            rc = lf_fail(err, LF_EINVAL, "compare: %s has %s = %s but %s has %s: not the same "
                         "plan; rerun with identical options", a_dir, plan[k], x ? x : "(none)",
                         b_dir, y ? y : "(none)");
    }
    lf_kv_free(&a);
    lf_kv_free(&b);
    if (!rc)
        rc = summary_value(a_dir, "mean_total_ms", &out->a_ms, err);
    if (!rc)
        rc = summary_value(b_dir, "mean_total_ms", &out->b_ms, err);
    if (!rc)
        rc = summary_value(a_dir, "cold_total_ms", &out->a_cold_ms, err);
    if (!rc)
        rc = summary_value(b_dir, "cold_total_ms", &out->b_cold_ms, err);
    if (rc)
        return rc;
    out->error_pct = error_pct(out->a_ms, out->b_ms);
    out->cold_error_pct = error_pct(out->a_cold_ms, out->b_cold_ms);
    return LF_OK;
}
