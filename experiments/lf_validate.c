#include "lf_validate.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_kv.h"
#include "lf_measure.h"
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One grid configuration as a simulator configuration (strings point into the grid). */
static int config_of(const lf_validate_cfg *v, size_t i, lf_run_config *c, lf_validate_row *row,
                     lf_err *err)
{
    lf_run_config_defaults(c);
    c->trace_path = v->trace_path;
    c->device_path = v->device_path;
    c->quiet = 1;
    c->cold_tokens = v->cold_tokens ? v->cold_tokens : 1;
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "c%02zu", i + 1);
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
    if (v->tokens)
        c->n_tokens = v->tokens;
    row->dram_fraction = c->dram_fraction;
    row->threads = c->threads;
    row->max_read = c->max_read;
    row->max_gap = c->max_gap;
    row->tokens = c->n_tokens ? c->n_tokens : v->trace->n_tokens;
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

/* The simulator with the FFN-stream pricing only (no resident-attention term). */
static int predict(const lf_validate_cfg *v, const lf_run_config *c0, const lf_weights *w,
                   lf_run_result *res, lf_err *err)
{
    lf_run_config c = *c0;
    c.layout = w->h.layout;
    c.dtype_bytes = lf_dtype_bytes(w->h.dtype);
    c.layout_from = &w->layout;
    lf_model m;
    int rc = lf_run_resolve_model(v->trace, NULL, &m, err);
    if (rc)
        return rc;
    lf_backend b;
    lf_price sb;
    lf_price_backend(&b, &sb, v->dev, &m, c.dtype_bytes, c.threads);
    b.token_end = NULL;
    c.backend = &b;
    return lf_run(&c, v->trace, NULL, v->dev, res, err);
}

/* OUT/<id>-sim or OUT/<id>-run, by the result's mode. */
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
    lf_run_result keep; /* the middle repeat's rows, for the run folder */
} slot;

static int predict_one(const lf_validate_cfg *v, size_t i, slot *s, lf_validate_row *row,
                       lf_err *err)
{
    int rc = config_of(v, i, &s->c, row, err);
    if (rc)
        return rc;
    if (!(s->w = weights_for(v, row->layout, err)))
        return err->code;
    lf_run_result pred;
    if ((rc = predict(v, &s->c, s->w, &pred, err)))
        return lf_err_prefix(err, "%s (predicted)", row->id);
    row->predicted_ms = pred.summary.mean_total_ms;
    row->predicted_io_ms = pred.summary.mean_io_ms;
    row->predicted_mem_ms = pred.summary.mean_mem_ms;
    row->predicted_compute_ms = pred.summary.mean_compute_ms;
    rc = write_run(v, row->id, &s->c, &pred, err);
    lf_run_result_free(&pred);
    return rc;
}

static int measure_one(const lf_validate_cfg *v, uint32_t k, uint32_t reps, slot *s,
                       lf_validate_row *row, lf_err *err)
{
    lf_run_result r;
    lf_measure m;
    memset(&m, 0, sizeof m);
    m.engine = row->engine;
    int rc = lf_measure_run(&s->c, v->trace, NULL, s->w, v->dev, &m, &r, err);
    if (rc)
        return lf_err_prefix(err, "%s (measured, run %u)", row->id, k + 1);
    s->tot[k] = r.summary.mean_total_ms;
    s->io[k] = r.summary.mean_io_ms;
    s->mem[k] = r.summary.mean_mem_ms;
    s->cpu[k] = r.summary.mean_compute_ms;
    if (k == reps / 2) {
        s->keep = r;
        row->bytes_per_token = r.summary.mean_bytes_read;
        row->reads_per_token = r.summary.mean_reads;
        row->read_gbps = m.stats.io_s > 0 ? m.stats.bytes_read / m.stats.io_s / 1e9 : 0;
    } else {
        lf_run_result_free(&r);
    }
    return LF_OK;
}

static int finish_one(const lf_validate_cfg *v, uint32_t reps, slot *s, lf_validate_row *row,
                      lf_err *err)
{
    row->measured_min_ms = row->measured_max_ms = s->tot[0];
    for (uint32_t k = 0; k < reps; k++) {
        row->measured_min_ms = fmin(row->measured_min_ms, s->tot[k]);
        row->measured_max_ms = fmax(row->measured_max_ms, s->tot[k]);
    }
    row->measured_ms = median(s->tot, reps);
    row->measured_io_ms = median(s->io, reps);
    row->measured_mem_ms = median(s->mem, reps);
    row->measured_compute_ms = median(s->cpu, reps);
    row->error_pct = row->measured_ms > 0
                         ? 100.0 * (row->predicted_ms - row->measured_ms) / row->measured_ms
                         : NAN;
    char buf[64];
    snprintf(buf, sizeof buf, "%u", reps);
    int rc = lf_kv_set(&s->keep.extra, "repeats", buf, 0, err);
    if (!rc)
        rc = write_run(v, row->id, &s->c, &s->keep, err);
    return rc;
}

/* Predictions first; then the measured runs round-robin (repeat 1 of every
 * configuration, then repeat 2, ...) so that a slow spell of a shared disk or CPU
 * spreads over configurations instead of landing on one. */
int lf_validate_run(const lf_validate_cfg *v, lf_validate_row **rows, size_t *n, lf_err *err)
{
    *rows = NULL;
    *n = 0;
    if (!v->n_weights)
        return lf_fail(err, LF_EINVAL, "validate: no weights file given");
    for (size_t k = 0; k < v->n_weights; k++) {
        int rc = lf_weights_check_trace(&v->weights[k], v->trace, err);
        if (rc)
            return rc;
    }
    size_t total = v->grid->n_runs;
    uint32_t reps = v->repeat ? v->repeat : 1;
    if (reps > 64)
        reps = 64;
    lf_validate_row *r = calloc(total ? total : 1, sizeof *r);
    slot *s = calloc(total ? total : 1, sizeof *s);
    int rc = r && s ? LF_OK : lf_fail(err, LF_ENOMEM, "validate: out of memory");
    if (!rc && v->out_dir)
        rc = lf_mkdirs(v->out_dir, err);
    for (size_t i = 0; i < total && !rc; i++)
        rc = predict_one(v, i, &s[i], &r[i], err);
    lf_progress prog;
    lf_progress_start(&prog, "validate (measured runs)", (uint64_t)reps * total);
    for (uint32_t k = 0; k < reps && !rc; k++)
        for (size_t i = 0; i < total && !rc; i++) {
            rc = measure_one(v, k, reps, &s[i], &r[i], err);
            lf_progress_update(&prog, (uint64_t)k * total + i + 1);
        }
    lf_progress_end(&prog);
    for (size_t i = 0; i < total && !rc; i++) {
        rc = finish_one(v, reps, &s[i], &r[i], err);
        if (!rc && v->on_row)
            v->on_row(&r[i], i, total, v->arg);
    }
    for (size_t i = 0; s && i < total; i++)
        lf_run_result_free(&s[i].keep);
    free(s);
    if (rc) {
        free(r);
        return rc;
    }
    *rows = r;
    *n = total;
    return LF_OK;
}

void lf_validate_errors(const lf_validate_row *rows, size_t n, double *mdape, double *max_ape)
{
    *mdape = *max_ape = NAN;
    if (!n)
        return;
    double *a = malloc(n * sizeof *a);
    if (!a)
        return;
    *max_ape = 0;
    for (size_t i = 0; i < n; i++) {
        a[i] = fabs(rows[i].error_pct);
        *max_ape = fmax(*max_ape, a[i]);
    }
    *mdape = median(a, n);
    free(a);
}

int lf_validate_write_csv(const char *path, const lf_validate_row *rows, size_t n, lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f, "config,policy,layout,dram_fraction,threads,max_read,max_gap,dram,engine,tokens,"
                 "predicted_ms,measured_ms,error_pct,predicted_io_ms,measured_io_ms,"
                 "predicted_mem_ms,measured_mem_ms,predicted_compute_ms,measured_compute_ms,"
                 "measured_min_ms,measured_max_ms,bytes_per_token,reads_per_token,read_gbps\n");
    for (size_t i = 0; i < n; i++) {
        const lf_validate_row *r = &rows[i];
        fprintf(a.f, "%s,\"%s\",%s,%.6g,%u,%llu,%llu,%s,%s,%u,%.6f,%.6f,%.3f,%.6f,%.6f,%.6f,%.6f,"
                     "%.6f,%.6f,%.6f,%.6f,%.1f,%.2f,%.4f\n",
                r->id, r->policy, r->layout, r->dram_fraction, r->threads,
                (unsigned long long)r->max_read, (unsigned long long)r->max_gap, r->dram,
                r->engine, r->tokens, r->predicted_ms, r->measured_ms, r->error_pct,
                r->predicted_io_ms, r->measured_io_ms, r->predicted_mem_ms, r->measured_mem_ms,
                r->predicted_compute_ms, r->measured_compute_ms, r->measured_min_ms,
                r->measured_max_ms, r->bytes_per_token, r->reads_per_token, r->read_gbps);
    }
    rc = lf_atomic_commit(&a, err);
    if (rc)
        lf_atomic_abort(&a);
    return rc;
}
