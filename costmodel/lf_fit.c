/* lf_fit: GSL nonlinear least squares (gsl_multifit_nlinear, trust region, finite-
 * difference Jacobian) of the flash model on probe points, and the probe CSV reader.
 * Parameters are fitted in log space, each squeezed into a plausible range (L in
 * [10 ns, 1 s], b and B in [1 MB/s, 10 TB/s], IOPS in [1, 1e9], p in [1, 101]); residuals are log(predicted / measured), so
 * every point weighs by its relative error, as the MdAPE target counts it. */
#include "lf_fit.h"

#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- probe CSV ---- */

static int split(char *line, char **cols, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, ",\r\n", &save); t && n < max; t = strtok_r(NULL, ",\r\n", &save))
        cols[n++] = t;
    return n;
}

static int col_index(char **cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i], name) == 0)
            return i;
    return -1;
}

int lf_fit_read_probe(const char *path, const char *engine, lf_fit_point **pts, size_t *n,
                      lf_err *err)
{
    *pts = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open the probe CSV", path);
    char line[1024], first_engine[64] = "";
    char *cols[32];
    int rc = LF_OK, lineno = 1;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return lf_fail(err, LF_EFORMAT, "%s: empty file (expected a probe CSV header)", path);
    }
    int nc = split(line, cols, 32);
    int ie = col_index(cols, nc, "engine"), ic = col_index(cols, nc, "chunk"),
        it = col_index(cols, nc, "threads"), ib = col_index(cols, nc, "mb_s");
    if (ie < 0 || ic < 0 || it < 0 || ib < 0) {
        fclose(f);
        return lf_fail(err, LF_EFORMAT,
                       "%s:1: header lacks one of the columns engine, chunk, threads, mb_s (is it "
                       "a CSV written by llmflash probe?)",
                       path);
    }
    int need = ie > ic ? ie : ic;
    need = need > it ? need : it;
    need = need > ib ? need : ib;
    size_t cap = 0;
    lf_fit_point *v = NULL;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        int k = split(line, cols, 32);
        if (k == 0)
            continue;
        if (k <= need) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: %d columns, the header has %d", path, lineno, k, nc);
            break;
        }
        if (engine && strcmp(cols[ie], engine) != 0)
            continue;
        if (!engine) {
            if (!first_engine[0])
                snprintf(first_engine, sizeof first_engine, "%s", cols[ie]);
            else if (strcmp(first_engine, cols[ie]) != 0) {
                rc = lf_fail(err, LF_EINVAL,
                             "%s:%d: rows of two engines (%s, %s): choose one with --engine",
                             path, lineno, first_engine, cols[ie]);
                break;
            }
        }
        char *e1, *e2, *e3;
        unsigned long long chunk = strtoull(cols[ic], &e1, 10);
        unsigned long threads = strtoul(cols[it], &e2, 10);
        double mbs = strtod(cols[ib], &e3);
        if (*e1 || *e2 || *e3 || chunk == 0 || threads == 0 || threads > 1u << 20 ||
            !(mbs > 0) || !isfinite(mbs)) {
            rc = lf_fail(err, LF_EFORMAT,
                         "%s:%d: expected chunk > 0, threads > 0 and mb_s > 0, got '%s', '%s', "
                         "'%s'",
                         path, lineno, cols[ic], cols[it], cols[ib]);
            break;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            lf_fit_point *p = realloc(v, cap * sizeof *p);
            if (!p) {
                rc = lf_fail(err, LF_ENOMEM, "out of memory");
                break;
            }
            v = p;
        }
        v[(*n)++] = (lf_fit_point){chunk, (uint32_t)threads, mbs * 1e6};
    }
    fclose(f);
    if (rc == LF_OK && *n == 0)
        rc = lf_fail(err, LF_EFORMAT, "%s: no data rows%s%s", path, engine ? " for engine " : "",
                     engine ? engine : "");
    if (rc != LF_OK) {
        free(v);
        *n = 0;
        return rc;
    }
    *pts = v;
    return LF_OK;
}

/* ---- the fit ---- */

typedef struct {
    const lf_fit_point *pts;
    size_t n;
    lf_device base;
    double fixed_p; /* < 0: p is the fifth parameter */
} fit_ctx;

/* Each parameter lives in [lo, hi] (log space) through a logistic map, so that one the
 * data do not pin down (a cap that never binds, a per-stream rate above the device's)
 * ends at a bound instead of running off to infinity. */
static const double lo[5] = {1e-8, 1e6, 1e6, 1.0, 0.0};
static const double hi[5] = {1.0, 1e13, 1e13, 1e9, 100.0};

static double to_param(double x, int i)
{
    double l = i == 4 ? lo[i] : log(lo[i]), h = i == 4 ? hi[i] : log(hi[i]);
    double v = l + (h - l) / (1.0 + exp(-x));
    return i == 4 ? 1.0 + v : exp(v);
}

static double from_param(double v, int i)
{
    double l = i == 4 ? lo[i] : log(lo[i]), h = i == 4 ? hi[i] : log(hi[i]);
    double y = i == 4 ? v - 1.0 : log(v);
    double u = (y - l) / (h - l);
    u = u < 1e-9 ? 1e-9 : (u > 1 - 1e-9 ? 1 - 1e-9 : u);
    return log(u / (1.0 - u));
}

static void unpack(const gsl_vector *x, const fit_ctx *c, lf_device *d)
{
    *d = c->base;
    d->flash_latency_s = to_param(gsl_vector_get(x, 0), 0);
    d->flash_stream_bw = to_param(gsl_vector_get(x, 1), 1);
    d->flash_max_bw = to_param(gsl_vector_get(x, 2), 2);
    d->flash_max_iops = to_param(gsl_vector_get(x, 3), 3);
    d->flash_smooth_p = c->fixed_p < 0 ? to_param(gsl_vector_get(x, 4), 4) : c->fixed_p;
}

static int residuals(const gsl_vector *x, void *arg, gsl_vector *f)
{
    const fit_ctx *c = arg;
    lf_device d;
    unpack(x, c, &d);
    for (size_t i = 0; i < c->n; i++) {
        double pred = lf_flash_throughput(&d, c->pts[i].chunk, c->pts[i].threads);
        double r = log(pred / c->pts[i].bw);
        gsl_vector_set(f, i, isfinite(r) ? r : 1e3);
    }
    return GSL_SUCCESS;
}

static double cost(const fit_ctx *c, const lf_device *d)
{
    double s = 0;
    for (size_t i = 0; i < c->n; i++) {
        double r = log(lf_flash_throughput(d, c->pts[i].chunk, c->pts[i].threads) / c->pts[i].bw);
        s += r * r;
    }
    return s;
}

/* Starting values from the data: L and 1/b from a line through the per-read times of
 * the fewest-threads points (t = L + c/b), the caps a little above the best measured. */
static void initial(const fit_ctx *c, double *L, double *b, double *B, double *iops)
{
    uint32_t tmin = UINT32_MAX;
    double bmax = 0, imax = 0;
    for (size_t i = 0; i < c->n; i++) {
        const lf_fit_point *p = &c->pts[i];
        tmin = p->threads < tmin ? p->threads : tmin;
        bmax = fmax(bmax, p->bw);
        imax = fmax(imax, p->bw / (double)p->chunk);
    }
    double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0;
    for (size_t i = 0; i < c->n; i++) {
        const lf_fit_point *p = &c->pts[i];
        if (p->threads != tmin)
            continue;
        double x = (double)p->chunk, y = (double)p->threads * x / p->bw; /* s per read */
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        m++;
    }
    double den = m * sxx - sx * sx;
    double slope = den > 0 ? (m * sxy - sx * sy) / den : 0;
    double icpt = m > 0 ? (sy - slope * sx) / m : 0;
    *L = icpt > 1e-6 ? icpt : 50e-6;
    *b = slope > 0 ? 1.0 / slope : 2 * bmax;
    *B = 1.1 * bmax;
    *iops = 1.1 * imax;
}

static int solve(fit_ctx *c, const double *x0, size_t np, gsl_vector *best, double *best_cost,
                 size_t *iters, int *status)
{
    gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
    gsl_multifit_nlinear_workspace *w =
        gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, c->n, np);
    if (!w)
        return LF_ENOMEM;
    gsl_multifit_nlinear_fdf fdf = {0};
    fdf.f = residuals;
    fdf.df = NULL; /* finite differences */
    fdf.n = c->n;
    fdf.p = np;
    fdf.params = c;
    gsl_vector_const_view xv = gsl_vector_const_view_array(x0, np);
    gsl_multifit_nlinear_init(&xv.vector, &fdf, w);
    int info = 0;
    int st = gsl_multifit_nlinear_driver(300, 1e-10, 1e-10, 0.0, NULL, NULL, &info, w);
    gsl_vector *x = gsl_multifit_nlinear_position(w);
    lf_device d;
    unpack(x, c, &d);
    double cst = cost(c, &d);
    if (isfinite(cst) && cst < *best_cost) {
        *best_cost = cst;
        gsl_vector_memcpy(best, x);
        *iters = gsl_multifit_nlinear_niter(w);
        *status = st;
    }
    gsl_multifit_nlinear_free(w);
    return LF_OK;
}

double lf_fit_ape(const lf_device *d, const lf_fit_point *p)
{
    double pred = lf_flash_throughput(d, p->chunk, p->threads);
    return fabs(pred - p->bw) / p->bw * 100.0;
}

int lf_fit_flash(const lf_fit_point *pts, size_t n, const lf_device *base, double fixed_p,
                 lf_fit_result *out, lf_err *err)
{
    size_t np = fixed_p < 0 ? 5 : 4;
    if (fixed_p > 0 && fixed_p < 1)
        return lf_fail(err, LF_EINVAL, "fit: p = %g must be 0 (hard max), >= 1, or negative (fit it)",
                       fixed_p);
    if (n < np)
        return lf_fail(err, LF_EINVAL,
                       "fit: %zu points for %zu parameters; probe at least %zu (chunk, threads) "
                       "pairs, with several chunk sizes and thread counts",
                       n, np, np);
    for (size_t i = 0; i < n; i++)
        if (!(pts[i].bw > 0) || pts[i].chunk == 0 || pts[i].threads == 0)
            return lf_fail(err, LF_EINVAL, "fit: point %zu has a non-positive value", i + 1);
    fit_ctx c;
    memset(&c, 0, sizeof c);
    c.pts = pts;
    c.n = n;
    c.fixed_p = fixed_p;
    if (base)
        c.base = *base;
    else
        lf_fit_unmeasured_defaults(&c.base);
    if (c.base.flash_alignment == 0)
        c.base.flash_alignment = 4096;

    double L, b, B, iops;
    initial(&c, &L, &b, &B, &iops);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    gsl_vector *best = gsl_vector_alloc(np);
    if (!best) {
        gsl_set_error_handler(old);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    double best_cost = INFINITY;
    size_t iters = 0;
    int status = 0;
    /* several starts: the p-norm has flat directions (an unused cap) and kinks */
    const double p0[] = {2.0, 4.0, 12.0};
    const double scale[] = {1.0, 0.5, 2.0};
    int rc = LF_OK;
    for (size_t s = 0; s < 3 && rc == LF_OK; s++) {
        for (size_t k = 0; k < (fixed_p < 0 ? 3u : 1u) && rc == LF_OK; k++) {
            double x0[5] = {from_param(L * scale[s], 0), from_param(b / scale[s], 1),
                            from_param(B, 2), from_param(iops, 3), from_param(p0[k], 4)};
            rc = solve(&c, x0, np, best, &best_cost, &iters, &status);
        }
    }
    gsl_set_error_handler(old);
    if (rc != LF_OK || !isfinite(best_cost)) {
        gsl_vector_free(best);
        return rc != LF_OK ? lf_fail(err, rc, "fit: out of memory")
                           : lf_fail(err, LF_EINVAL, "fit: the solver found no finite solution");
    }
    memset(out, 0, sizeof *out);
    unpack(best, &c, &out->dev);
    gsl_vector_free(best);
    double *ape = malloc(n * sizeof *ape);
    if (!ape)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        ape[i] = lf_fit_ape(&out->dev, &pts[i]);
        out->max_ape = fmax(out->max_ape, ape[i]);
    }
    gsl_sort(ape, 1, n);
    out->mdape = gsl_stats_median_from_sorted_data(ape, 1, n);
    free(ape);
    out->rms_log = sqrt(best_cost / (double)n);
    out->iterations = iters;
    out->status = status;
    return LF_OK;
}

void lf_fit_unmeasured_defaults(lf_device *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "unnamed");
    d->flash_alignment = 4096;
    d->dram_copy_bw = 10e9;
    d->dram_op_s = 100e-9;
    d->dram_alloc_s = 20e-6;
    d->compute_flops = 50e9;
    d->mem_bw = 20e9;
}
