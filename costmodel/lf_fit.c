/* lf_fit: GSL nonlinear least squares (gsl_multifit_nlinear, trust region, finite-
 * difference Jacobian) of the flash model on probe points, and the probe CSV reader.
 * A least-squares fit from several starts, then refined to least absolute deviations
 * (IRLS). Parameters are fitted in log space, each squeezed into a plausible range (L in
 * [10 ns, 1 s], b and B in [1 MB/s, 10 TB/s], IOPS in [1, 1e9], p in [1, 101], the depth
 * loss in [0, 0.95], the cost per batch of batches of several sizes in [10 ns, 0.1 s]);
 * residuals are
 * log(predicted / measured), so every point weighs by its relative error, as the MdAPE
 * target counts it. */
#include "lf_fit.h"
#include "lf_fs.h"

#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
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
    for (char *t = strtok_r(line, ",\r", &save); t && n < max; t = strtok_r(NULL, ",\r", &save))
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

/* A decimal integer, digits only (strtoull would take "-1" and " 5"). */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s || strlen(s) > 19)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* A plain decimal number in [0, max] (no hexadecimal, infinity or NaN, nothing after). */
static int parse_decimal(const char *s, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || strpbrk(s, "xX") || !(v >= 0) || v > max)
        return -1;
    *out = v;
    return 0;
}

#define PROBE_LINE_MAX 1022

int lf_fit_parse_probe(const char *text, size_t len, const char *path, const char *engine,
                       lf_fit_point **pts, size_t *n, lf_err *err)
{
    *pts = NULL;
    *n = 0;
    char line[PROBE_LINE_MAX + 2], first_engine[64] = "";
    char *cols[32];
    int rc = LF_OK, lineno = 0, nc = 0, ie = -1, ic = -1, it = -1, ib = -1, ibatch = -1,
        ifoot = -1, igap = -1, need = 0;
    size_t cap = 0;
    lf_fit_point *v = NULL;
    for (size_t at = 0; at < len && rc == LF_OK;) {
        const char *p = text + at;
        const char *nl = memchr(p, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - p) : len - at;
        at += ll + (nl != NULL);
        lineno++;
        if (ll > PROBE_LINE_MAX) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: line longer than %d characters (is it a probe "
                         "CSV?)", path, lineno, PROBE_LINE_MAX);
            break;
        }
        if (memchr(p, '\0', ll)) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: NUL byte in a text file", path, lineno);
            break;
        }
        memcpy(line, p, ll);
        line[ll] = '\0';
        int k = split(line, cols, 32);
        if (lineno == 1) {
            nc = k;
            ie = col_index(cols, nc, "engine");
            ic = col_index(cols, nc, "chunk");
            it = col_index(cols, nc, "threads");
            ib = col_index(cols, nc, "mb_s");
            ibatch = col_index(cols, nc, "batch"); /* optional: probe --batch */
            ifoot = col_index(cols, nc, "footprint"); /* optional: older CSVs lack it */
            igap = col_index(cols, nc, "batch_gap_ms"); /* optional: likewise */
            if (ie < 0 || ic < 0 || it < 0 || ib < 0)
                return lf_fail(err, LF_EFORMAT,
                               "%s:1: header lacks one of the columns engine, chunk, threads, "
                               "mb_s (is it a CSV written by llmflash probe?)", path);
            need = ie > ic ? ie : ic;
            need = need > it ? need : it;
            need = need > ib ? need : ib;
            need = need > ibatch ? need : ibatch;
            need = need > ifoot ? need : ifoot;
            need = need > igap ? need : igap;
            continue;
        }
        if (k == 0)
            continue;
        if (k <= need || k > nc) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: %d columns, the header has %d", path, lineno, k,
                         nc);
            break;
        }
        if (strcmp(cols[ie], "engine") == 0) { /* two probe CSVs joined with `cat` */
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: the header again (files joined?): keep one "
                         "header line (join a second probe CSV with tail -n +2)", path, lineno);
            break;
        }
        if (engine && strcmp(cols[ie], engine) != 0)
            continue;
        if (!engine) {
            if (!first_engine[0])
                snprintf(first_engine, sizeof first_engine, "%s", cols[ie]);
            else if (strncmp(first_engine, cols[ie], sizeof first_engine - 1) != 0) {
                rc = lf_fail(err, LF_EINVAL,
                             "%s:%d: rows of two engines (%s, %.63s): choose one with --engine",
                             path, lineno, first_engine, cols[ie]);
                break;
            }
        }
        uint64_t chunk, threads;
        double mbs = 0;
        if (parse_uint(cols[ic], 1ull << 40, &chunk) || parse_uint(cols[it], 1u << 20, &threads) ||
            parse_decimal(cols[ib], 1e9, &mbs) || chunk == 0 || threads == 0 || !(mbs > 0)) {
            rc = lf_fail(err, LF_EFORMAT,
                         "%s:%d: expected chunk in 1..2^40, threads in 1..2^20 and mb_s a decimal "
                         "number in (0, 1e9], got '%.40s', '%.40s', '%.40s'",
                         path, lineno, cols[ic], cols[it], cols[ib]);
            break;
        }
        uint64_t batch = 0;
        if (ibatch >= 0 && parse_uint(cols[ibatch], 65536, &batch)) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: batch '%.40s' (expected 0..65536)", path,
                         lineno, cols[ibatch]);
            break;
        }
        uint64_t footprint = 0;
        if (ifoot >= 0 && parse_uint(cols[ifoot], LF_DEVICE_MAX_FOOTPRINT, &footprint)) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: footprint '%.40s' (expected bytes, 0..%llu GiB)",
                         path, lineno, cols[ifoot],
                         (unsigned long long)(LF_DEVICE_MAX_FOOTPRINT >> 30));
            break;
        }
        double gap_ms = 0;
        if (igap >= 0 && parse_decimal(cols[igap], 1e4, &gap_ms)) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: batch_gap_ms '%.40s' (expected milliseconds, "
                         "0..10000)", path, lineno, cols[igap]);
            break;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            lf_fit_point *q = realloc(v, cap * sizeof *q);
            if (!q) {
                rc = lf_fail(err, LF_ENOMEM, "out of memory");
                break;
            }
            v = q;
        }
        v[(*n)++] = (lf_fit_point){chunk, (uint32_t)threads, mbs * 1e6, (uint32_t)batch, footprint,
                                   batch ? gap_ms / 1e3 : 0};
    }
    if (rc == LF_OK && lineno == 0)
        rc = lf_fail(err, LF_EFORMAT, "%s: empty file (expected a probe CSV header)", path);
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

int lf_fit_read_probe(const char *path, const char *engine, lf_fit_point **pts, size_t *n,
                      lf_err *err)
{
    *pts = NULL;
    *n = 0;
    char *data;
    size_t len;
    /* a probe CSV has tens of rows: 64 MiB is far more than any, and /dev/zero is refused */
    int rc = lf_read_file_max(path, (size_t)64 << 20, &data, &len, err);
    if (rc != LF_OK)
        return lf_err_prefix(err, "probe CSV");
    rc = lf_fit_parse_probe(data, len, path, engine, pts, n, err);
    free(data);
    return rc;
}

int lf_fit_check_quality(const lf_fit_result *r, double max_mdape, const char *source,
                         lf_err *err)
{
    if (!(r->mdape <= max_mdape))
        return lf_fail(err, LF_ERANGE, "%s: the fitted flash model misses the measurements by a "
                       "median of %.1f%% (more than %.3g%%): the probe is too noisy or the device "
                       "does not behave like the model; probe again (longer, on an idle machine) "
                       "or accept it with a higher limit", source, r->mdape, max_mdape);
    return LF_OK;
}

/* ---- the fit ---- */

/* Where the fitted cost per batch starts: about a read's latency on an SSD. */
#define BATCH_START_S 50e-6

typedef struct {
    const lf_fit_point *pts;
    size_t n;
    lf_device base;
    double fixed_p; /* < 0: p is the fifth parameter */
    int fit_loss;   /* flash_depth_loss is the parameter after p (else loss_value) */
    double loss_value;
    int fit_batch;  /* flash_batch_s is the last parameter (batches of several sizes) */
} fit_ctx;

/* The parameters' kinds: L, b, B, IOPS, p, flash_depth_loss, flash_batch_s (in that
 * order in x; p, the loss and flash_batch_s only when fitted). */
enum { P_L, P_B1, P_BMAX, P_IOPS, P_P, P_LOSS, P_BATCH, P_KINDS };

/* Each parameter lives in [lo, hi] (log space; p and the loss linear) through a logistic
 * map, so that one the data do not pin down (a cap that never binds, a per-stream rate
 * above the device's, a batch cost of nothing) ends at a bound instead of running off.
 * The loss stops short of 1, where depth would not matter at all and L, b and the caps
 * trade against each other freely. */
static const double lo[P_KINDS] = {1e-8, 1e6, 1e6, 1.0, 0.0, 0.0, 1e-8};
static const double hi[P_KINDS] = {1.0, 1e13, 1e13, 1e9, 100.0, 0.95, 0.1};

static int linear(int i)
{
    return i == P_P || i == P_LOSS;
}

/* p is stored as p - 1 (it lives in [1, 101]) */
static double offset(int i)
{
    return i == P_P ? 1.0 : 0.0;
}

static double to_param(double x, int i)
{
    double l = linear(i) ? lo[i] : log(lo[i]), h = linear(i) ? hi[i] : log(hi[i]);
    double v = l + (h - l) / (1.0 + exp(-x));
    return linear(i) ? offset(i) + v : exp(v);
}

static double from_param(double v, int i)
{
    double l = linear(i) ? lo[i] : log(lo[i]), h = linear(i) ? hi[i] : log(hi[i]);
    double y = linear(i) ? v - offset(i) : log(v);
    double u = (y - l) / (h - l);
    u = u < 1e-9 ? 1e-9 : (u > 1 - 1e-9 ? 1 - 1e-9 : u);
    return log(u / (1.0 - u));
}

/* Where the loss sits in x: after p when p is fitted, else in p's place. */
static size_t loss_index(double fixed_p)
{
    return fixed_p < 0 ? 5 : 4;
}

static void unpack(const gsl_vector *x, const fit_ctx *c, lf_device *d)
{
    *d = c->base;
    d->flash_latency_s = to_param(gsl_vector_get(x, P_L), P_L);
    d->flash_stream_bw = to_param(gsl_vector_get(x, P_B1), P_B1);
    d->flash_max_bw = to_param(gsl_vector_get(x, P_BMAX), P_BMAX);
    d->flash_max_iops = to_param(gsl_vector_get(x, P_IOPS), P_IOPS);
    d->flash_smooth_p = c->fixed_p < 0 ? to_param(gsl_vector_get(x, P_P), P_P) : c->fixed_p;
    d->flash_depth_loss = c->fit_loss
                              ? to_param(gsl_vector_get(x, loss_index(c->fixed_p)), P_LOSS)
                              : c->loss_value;
    if (c->fit_batch) {
        d->flash_batch_s = to_param(gsl_vector_get(x, x->size - 1), P_BATCH);
        d->flash_slot_s = 0;
    }
}

static int residuals(const gsl_vector *x, void *arg, gsl_vector *f)
{
    const fit_ctx *c = arg;
    lf_device d;
    unpack(x, c, &d);
    for (size_t i = 0; i < c->n; i++) {
        double pred = lf_fit_predict(&d, &c->pts[i]);
        double r = log(pred / c->pts[i].bw);
        gsl_vector_set(f, i, isfinite(r) ? r : 1e3);
    }
    return GSL_SUCCESS;
}

static double cost(const fit_ctx *c, const lf_device *d)
{
    double s = 0;
    for (size_t i = 0; i < c->n; i++) {
        double r = log(lf_fit_predict(d, &c->pts[i]) / c->pts[i].bw);
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

/* One trust-region solve from x (updated in place); wts NULL = unweighted. */
static int solve(fit_ctx *c, gsl_vector *x, const gsl_vector *wts, size_t *iters, int *status)
{
    gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
    gsl_multifit_nlinear_workspace *w =
        gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, c->n, x->size);
    if (!w)
        return LF_ENOMEM;
    gsl_multifit_nlinear_fdf fdf = {0};
    fdf.f = residuals;
    fdf.df = NULL; /* finite differences */
    fdf.n = c->n;
    fdf.p = x->size;
    fdf.params = c;
    if (wts)
        gsl_multifit_nlinear_winit(x, wts, &fdf, w);
    else
        gsl_multifit_nlinear_init(x, &fdf, w);
    int info = 0;
    *status = gsl_multifit_nlinear_driver(300, 1e-10, 1e-10, 0.0, NULL, NULL, &info, w);
    gsl_vector_memcpy(x, gsl_multifit_nlinear_position(w));
    *iters = gsl_multifit_nlinear_niter(w);
    gsl_multifit_nlinear_free(w);
    return LF_OK;
}

/* Sum of |log(predicted / measured)| at x. */
static double l1_cost(const fit_ctx *c, const gsl_vector *x)
{
    lf_device d;
    unpack(x, c, &d);
    double s = 0;
    for (size_t i = 0; i < c->n; i++)
        s += fabs(log(lf_fit_predict(&d, &c->pts[i]) / c->pts[i].bw));
    return s;
}

/* Least absolute deviations by iteratively reweighted least squares (weights
 * 1 / max(|r|, 1%)), starting from the least-squares fit: one disturbed probe point
 * then moves the fit much less, and the median error is what the target counts. */
static int refine_l1(fit_ctx *c, gsl_vector *x, size_t *iters, int *status)
{
    gsl_vector *wts = gsl_vector_alloc(c->n), *r = gsl_vector_alloc(c->n);
    gsl_vector *trial = gsl_vector_alloc(x->size);
    if (!wts || !r || !trial) {
        gsl_vector_free(wts);
        gsl_vector_free(r);
        gsl_vector_free(trial);
        return LF_ENOMEM;
    }
    int rc = LF_OK;
    double best = l1_cost(c, x);
    for (int round = 0; round < 8 && rc == LF_OK; round++) {
        residuals(x, c, r);
        for (size_t i = 0; i < c->n; i++)
            gsl_vector_set(wts, i, 1.0 / fmax(fabs(gsl_vector_get(r, i)), 0.01));
        gsl_vector_memcpy(trial, x);
        size_t it;
        int st;
        if ((rc = solve(c, trial, wts, &it, &st)) != LF_OK)
            break;
        double cst = l1_cost(c, trial);
        if (!(cst < best * (1 - 1e-6)))
            break; /* converged */
        best = cst;
        gsl_vector_memcpy(x, trial);
        *iters += it;
        *status = st;
    }
    gsl_vector_free(wts);
    gsl_vector_free(r);
    gsl_vector_free(trial);
    return rc;
}

double lf_fit_predict(const lf_device *d, const lf_fit_point *p)
{
    uint64_t k = p->batch ? p->batch : p->threads;
    double t = p->batch ? lf_flash_time_gap(d, k, k * p->chunk, p->threads, p->gap_s)
                        : lf_flash_stream_time(d, k, k * p->chunk, p->threads);
    return t > 0 ? (double)(k * p->chunk) / t : 0;
}

double lf_fit_ape(const lf_device *d, const lf_fit_point *p)
{
    double pred = lf_fit_predict(d, p);
    return fabs(pred - p->bw) / p->bw * 100.0;
}

/* The model's free parameters: L, b, B, IOPS, p unless it is fixed (>= 0), the depth
 * loss when fit_loss and flash_batch_s when fit_batch. */
static size_t n_params(double fixed_p, int fit_loss, int fit_batch)
{
    return (fixed_p < 0 ? 5 : 4) + (fit_loss != 0) + (fit_batch != 0);
}

/* Points that differ from every earlier one: in thread count alone (threads_only), else
 * in (chunk, threads, batch). */
static size_t distinct(const lf_fit_point *pts, size_t n, int threads_only)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && (pts[j].threads != pts[i].threads ||
                         (!threads_only && (pts[j].chunk != pts[i].chunk ||
                                            pts[j].batch != pts[i].batch))))
            j++;
        count += j == i;
    }
    return count;
}

static size_t distinct_pairs(const lf_fit_point *pts, size_t n)
{
    return distinct(pts, n, 0);
}

/* Whether the depth loss is fitted on pts: asked for (fixed_loss < 0), and three thread
 * counts or more (two leave it to trade against L and the caps) with a pair to spare. */
static int loss_fitted(const lf_fit_point *pts, size_t n, double fixed_p, double fixed_loss,
                       int fit_batch)
{
    return fixed_loss < 0 && distinct(pts, n, 1) >= 3 &&
           distinct_pairs(pts, n) >= n_params(fixed_p, 1, fit_batch);
}

/* The model's three bounds fitted on pts (batch points as their n reads plus whatever
 * batch overhead base carries, or, fit_batch, plus a fitted flash_batch_s); out->dev
 * only. */
static int fit_stream(const lf_fit_point *pts, size_t n, const lf_device *base, double fixed_p,
                      double fixed_loss, int fit_batch, lf_fit_result *out, lf_err *err)
{
    int fit_loss = loss_fitted(pts, n, fixed_p, fixed_loss, fit_batch);
    size_t np = n_params(fixed_p, fit_loss, fit_batch);
    if (fixed_p > 0 && fixed_p < 1)
        return lf_fail(err, LF_EINVAL, "fit: p = %g must be 0 (hard max), >= 1, or negative (fit it)",
                       fixed_p);
    if (fixed_loss > 1)
        return lf_fail(err, LF_EINVAL, "fit: depth loss = %g must be in [0, 1], or negative (fit "
                       "it)", fixed_loss);
    /* Repeated measurements of one (chunk, threads) pair count once: five rows of the
     * same pair leave the parameters undetermined, and the fit would still "succeed". */
    size_t distinct = distinct_pairs(pts, n);
    if (distinct < np)
        return lf_fail(err, LF_EINVAL,
                       "fit: %zu points for %zu parameters (distinct (chunk, threads) pairs; "
                       "repeats count once); probe at least %zu pairs, with several chunk "
                       "sizes and thread counts",
                       distinct, np, np);
    for (size_t i = 0; i < n; i++)
        if (!(pts[i].bw > 0) || pts[i].chunk == 0 || pts[i].threads == 0)
            return lf_fail(err, LF_EINVAL, "fit: point %zu has a non-positive value", i + 1);
    fit_ctx c;
    memset(&c, 0, sizeof c);
    c.pts = pts;
    c.n = n;
    c.fixed_p = fixed_p;
    c.fit_loss = fit_loss;
    c.loss_value = fixed_loss > 0 ? fixed_loss : 0;
    c.fit_batch = fit_batch;
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
    /* the loss from near none and from about half (a queue whose latency grows with the
     * square root of its depth): away from 0, where the logistic map is flat */
    const double loss0[] = {0.05, 0.45};
    gsl_vector *x = gsl_vector_alloc(np);
    int rc = x ? LF_OK : LF_ENOMEM;
    size_t p_starts = fixed_p < 0 ? 3 : 1;
    for (size_t s = 0; s < 3 && rc == LF_OK; s++) {
        for (size_t k = 0; k < p_starts * (fit_loss ? 2u : 1u) && rc == LF_OK; k++) {
            double x0[P_KINDS] = {from_param(L * scale[s], P_L), from_param(b / scale[s], P_B1),
                                  from_param(B, P_BMAX), from_param(iops, P_IOPS),
                                  from_param(p0[k % p_starts], P_P),
                                  from_param(loss0[k / p_starts], P_LOSS),
                                  from_param(BATCH_START_S, P_BATCH)};
            for (size_t i = 0; i < 4; i++)
                gsl_vector_set(x, i, x0[i]);
            if (fixed_p < 0)
                gsl_vector_set(x, 4, x0[P_P]);
            if (fit_loss)
                gsl_vector_set(x, loss_index(fixed_p), x0[P_LOSS]);
            if (fit_batch)
                gsl_vector_set(x, np - 1, x0[P_BATCH]);
            size_t it;
            int st;
            if ((rc = solve(&c, x, NULL, &it, &st)) != LF_OK)
                break;
            lf_device d;
            unpack(x, &c, &d);
            double cst = cost(&c, &d);
            if (isfinite(cst) && cst < best_cost) {
                best_cost = cst;
                gsl_vector_memcpy(best, x);
                iters = it;
                status = st;
            }
        }
    }
    if (rc == LF_OK && isfinite(best_cost))
        rc = refine_l1(&c, best, &iters, &status);
    gsl_vector_free(x);
    gsl_set_error_handler(old);
    if (rc != LF_OK || !isfinite(best_cost)) {
        gsl_vector_free(best);
        return rc != LF_OK ? lf_fail(err, rc, "fit: out of memory")
                           : lf_fail(err, LF_EINVAL, "fit: the solver found no finite solution");
    }
    memset(out, 0, sizeof *out);
    unpack(best, &c, &out->dev);
    gsl_vector_free(best);
    out->iterations = iters;
    out->status = status;
    return LF_OK;
}

/* flash_batch_s, flash_slot_s and flash_batch_loss: what the batch points took beyond
 * the stream model's rounds r, y = batch_s + slots * slot_s + loss * r, least squares
 * relative to each batch's time, every coefficient >= 0: the best of the fits on each
 * subset of the three terms whose coefficients are all >= 0 (with three unknowns the
 * constrained optimum is one of them). Batches no slower than the stream leave all 0.
 * The loss is told from the other two by batches whose rounds differ in length at the
 * same slot count: on a real disk batches of 32 alone told it poorly, batches of 32 and
 * 512 well (costmodel/README.md, "Batches read slower"). */
#define OVERHEAD_TERMS 3

/* The weighted least-squares fit of y on the columns of X that `mask` selects (GSL's
 * SVD solver, which takes collinear columns too): x gets the coefficients (0 outside
 * the mask), *sse the weighted squared residual (infinite when the solver fails). */
static int fit_subset(const gsl_matrix *X, const gsl_vector *w, const gsl_vector *y,
                      unsigned mask, double x[OVERHEAD_TERMS], double *sse)
{
    size_t k = (size_t)__builtin_popcount(mask), rows = X->size1;
    gsl_matrix *sub = gsl_matrix_alloc(rows, k), *cov = gsl_matrix_alloc(k, k);
    gsl_vector *c = gsl_vector_alloc(k);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(rows, k);
    int rc = sub && cov && c && ws ? LF_OK : LF_ENOMEM;
    for (size_t j = 0, col = 0; rc == LF_OK && j < OVERHEAD_TERMS; j++)
        if (mask >> j & 1) {
            gsl_vector_const_view v = gsl_matrix_const_column(X, j);
            gsl_matrix_set_col(sub, col++, &v.vector);
        }
    if (rc == LF_OK && gsl_multifit_wlinear(sub, w, y, c, cov, sse, ws) != GSL_SUCCESS)
        *sse = INFINITY;
    for (size_t j = 0, col = 0; rc == LF_OK && j < OVERHEAD_TERMS; j++)
        x[j] = mask >> j & 1 ? gsl_vector_get(c, col++) : 0;
    gsl_multifit_linear_free(ws);
    gsl_vector_free(c);
    gsl_matrix_free(cov);
    gsl_matrix_free(sub);
    return rc;
}

/* The batch points after gap_s of compute only (a profile's two conditions are fitted
 * one after the other), against d's bounds; the three terms go to terms[] (batch_s,
 * slot_s, loss). */
static int fit_overhead(const lf_fit_point *pts, size_t n, double gap_s, const lf_device *d,
                        double terms[OVERHEAD_TERMS])
{
    memset(terms, 0, OVERHEAD_TERMS * sizeof *terms);
    size_t rows = 0;
    for (size_t i = 0; i < n; i++)
        rows += pts[i].batch != 0 && pts[i].gap_s == gap_s;
    if (rows == 0)
        return LF_OK;
    gsl_matrix *X = gsl_matrix_alloc(rows, OVERHEAD_TERMS);
    gsl_vector *y = gsl_vector_alloc(rows), *w = gsl_vector_alloc(rows);
    int rc = X && y && w ? LF_OK : LF_ENOMEM;
    double best[OVERHEAD_TERMS] = {0}, best_sse = 0; /* no term: the residual is y */
    for (size_t i = 0, row = 0; rc == LF_OK && i < n; i++) {
        const lf_fit_point *p = &pts[i];
        if (!p->batch || p->gap_s != gap_s)
            continue;
        double bytes = (double)p->batch * (double)p->chunk, t = bytes / p->bw;
        double r = lf_flash_rounds_time(d, p->batch, (uint64_t)bytes, p->threads);
        gsl_matrix_set(X, row, 0, 1);
        gsl_matrix_set(X, row, 1, p->threads < p->batch ? p->threads : p->batch);
        gsl_matrix_set(X, row, 2, r);
        gsl_vector_set(y, row, t - r);
        gsl_vector_set(w, row, 1.0 / (t * t));
        best_sse += (t - r) * (t - r) / (t * t);
        row++;
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    for (unsigned mask = 1; rc == LF_OK && mask < 1u << OVERHEAD_TERMS; mask++) {
        double x[OVERHEAD_TERMS], sse;
        if ((size_t)__builtin_popcount(mask) > rows ||
            (rc = fit_subset(X, w, y, mask, x, &sse)) != LF_OK || x[0] < 0 || x[1] < 0 ||
            x[2] < 0 || !(sse < best_sse))
            continue;
        best_sse = sse;
        memcpy(best, x, sizeof best);
    }
    gsl_set_error_handler(old);
    gsl_matrix_free(X);
    gsl_vector_free(y);
    gsl_vector_free(w);
    if (rc != LF_OK)
        return rc;
    memcpy(terms, best, sizeof best);
    terms[2] = fmin(terms[2], LF_DEVICE_MAX_BATCH_LOSS);
    return LF_OK;
}

/* The largest batch of the points, and whether two of them differ (sizes_differ may be
 * NULL). */
static uint32_t largest_batch(const lf_fit_point *pts, size_t n, int *sizes_differ)
{
    uint32_t most = 0;
    int differ = 0;
    for (size_t i = 0; i < n; i++) {
        most = pts[i].batch > most ? pts[i].batch : most;
        differ |= pts[i].batch != pts[0].batch;
    }
    if (sizes_differ)
        *sizes_differ = differ;
    return most;
}

int lf_fit_flash(const lf_fit_point *pts, size_t n, const lf_device *base, double fixed_p,
                 double fixed_loss, lf_fit_result *out, lf_err *err)
{
    /* one profile describes reads into one amount of memory (a drift reference reads into
     * the same): points of two footprints are two devices */
    for (size_t i = 1; i < n; i++)
        if (pts[i].footprint != pts[0].footprint)
            return lf_fail(err, LF_EINVAL,
                           "fit: points read into %llu and %llu bytes of memory (probe "
                           "--footprint): fit the probes of one footprint together",
                           (unsigned long long)pts[0].footprint,
                           (unsigned long long)pts[i].footprint);
    /* the batch terms describe batches after one amount of compute (a disk may serve a
     * batch after a longer idle spell slower): a profile holds two such conditions, the
     * gap of the first batch point and another */
    double gap_s = -1, gap2_s = -1;
    for (size_t i = 0; i < n; i++) {
        double g = pts[i].gap_s;
        if (!pts[i].batch || g == gap_s || g == gap2_s)
            continue;
        if (gap_s < 0) {
            gap_s = g;
        } else if (gap2_s < 0) {
            gap2_s = g;
        } else {
            return lf_fail(err, LF_EINVAL,
                           "fit: batches probed after %g, %g and %g ms of compute (probe "
                           "--batch-gap): a profile holds batches after two amounts at most; "
                           "fit those of two gaps together", gap_s * 1e3, gap2_s * 1e3, g * 1e3);
        }
    }
    if (gap2_s >= 0 && (gap_s <= 0 || gap2_s <= 0))
        return lf_fail(err, LF_EINVAL, "fit: batches probed after %g and %g ms of compute: two "
                       "conditions are told apart by log(gap), so neither may be 0 (back to "
                       "back); give a short gap instead (probe --batch-gap 0.1)",
                       gap_s * 1e3, gap2_s * 1e3);
    lf_device b;
    if (base)
        b = *base;
    else
        lf_fit_unmeasured_defaults(&b);
    size_t n_steady = 0;
    for (size_t i = 0; i < n; i++)
        n_steady += pts[i].batch == 0;
    /* batches alone: the quicker gap's set the bounds (the other's terms, >= 0, can only
     * add to them), whichever the probe measured first */
    if (n_steady == 0 && gap2_s >= 0 && gap2_s < gap_s) {
        double g = gap_s;
        gap_s = gap2_s;
        gap2_s = g;
    }
    /* the points the bounds come from: the steady ones, or, with batches alone, those
     * after the first gap (the second condition's terms are then what its batches take
     * beyond them) */
    lf_fit_point *bound_pts = calloc(n ? n : 1, sizeof *bound_pts);
    if (!bound_pts)
        return lf_fail(err, LF_ENOMEM, "fit: out of memory");
    size_t n_bound = 0;
    for (size_t i = 0; i < n; i++)
        if (n_steady ? pts[i].batch == 0 : gap2_s < 0 || pts[i].gap_s == gap_s)
            bound_pts[n_bound++] = pts[i];
    /* Steady points and batches: the bounds from the steady state, the overhead from
     * the batches. Batches alone: the bounds from them, as n reads each; of several
     * sizes, with a cost per batch fitted beside the bounds (what a batch after compute
     * costs beyond its reads: fitted on batches of one size only, it is spread over
     * that many reads, and a layer that reads fewer is priced fast). */
    int two_stage = n_steady > 0 && n_steady < n &&
                    distinct_pairs(bound_pts, n_bound) >= n_params(fixed_p, 0, 0);
    int sizes_differ; /* among the points the bounds come from */
    uint32_t most = largest_batch(pts, n, NULL);
    largest_batch(bound_pts, n_bound, &sizes_differ);
    int joint = n_steady == 0 && sizes_differ;
    if (gap2_s >= 0 && n_steady > 0 && !two_stage) {
        free(bound_pts);
        return lf_fail(err, LF_EINVAL, "fit: batches after %g and %g ms of compute beside too "
                       "few steady points to fit the bounds on: probe a fuller steady grid, or "
                       "fit the batches alone", gap_s * 1e3, gap2_s * 1e3);
    }
    if (n_steady < n) {
        b.flash_batch_s = b.flash_slot_s = b.flash_batch_loss = 0;
        b.flash_batch2_gap_s = b.flash_batch2_s = b.flash_slot2_s = b.flash_batch2_loss = 0;
    }
    int rc = two_stage || n_steady == 0
                 ? fit_stream(bound_pts, n_bound, &b, fixed_p, fixed_loss, joint, out, err)
                 : fit_stream(pts, n, &b, fixed_p, fixed_loss, joint, out, err);
    free(bound_pts);
    if (rc != LF_OK)
        return rc;
    double terms[OVERHEAD_TERMS];
    lf_device *o = &out->dev;
    if (gap2_s >= 0) {
        if (fit_overhead(pts, n, gap2_s, o, terms) != LF_OK)
            return lf_fail(err, LF_ENOMEM, "fit: out of memory");
        o->flash_batch2_gap_s = gap2_s;
        o->flash_batch2_s = terms[0];
        o->flash_slot2_s = terms[1];
        o->flash_batch2_loss = terms[2];
    }
    if (two_stage) {
        if (fit_overhead(pts, n, gap_s, o, terms) != LF_OK)
            return lf_fail(err, LF_ENOMEM, "fit: out of memory");
        o->flash_batch_s = terms[0];
        o->flash_slot_s = terms[1];
        o->flash_batch_loss = terms[2];
    }
    out->dev.flash_fit_batch = n_steady == 0 ? most : 0;
    out->dev.flash_footprint = n ? (double)pts[0].footprint : 0;
    if (gap_s >= 0) /* steady points alone keep the base's batch terms, and their gap */
        out->dev.flash_batch_gap_s = gap_s;
    out->dev.flash_fit_min_chunk = out->dev.flash_fit_max_chunk = 0;
    out->dev.flash_fit_min_depth = out->dev.flash_fit_max_depth = 0;
    for (size_t i = 0; i < n; i++) {
        double c = (double)pts[i].chunk, m = pts[i].threads ? pts[i].threads : 1;
        o->flash_fit_min_chunk = i == 0 ? c : fmin(o->flash_fit_min_chunk, c);
        o->flash_fit_max_chunk = fmax(o->flash_fit_max_chunk, c);
        o->flash_fit_min_depth = i == 0 ? m : fmin(o->flash_fit_min_depth, m);
        o->flash_fit_max_depth = fmax(o->flash_fit_max_depth, m);
    }
    double *ape = malloc((n ? n : 1) * sizeof *ape);
    if (!ape)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    double sq = 0;
    for (size_t i = 0; i < n; i++) {
        ape[i] = lf_fit_ape(&out->dev, &pts[i]);
        out->max_ape = fmax(out->max_ape, ape[i]);
        double r = log(lf_fit_predict(&out->dev, &pts[i]) / pts[i].bw);
        sq += r * r;
    }
    gsl_sort(ape, 1, n);
    out->mdape = gsl_stats_median_from_sorted_data(ape, 1, n);
    free(ape);
    out->rms_log = sqrt(sq / (double)n);
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

/* Rank of v among the distinct values of a field over the points. */
static size_t rank_of(const lf_fit_point *pts, size_t n, size_t i, int by_chunk)
{
    size_t r = 0;
    for (size_t j = 0; j < n; j++) {
        int seen = 0;
        for (size_t k = 0; k < j && !seen; k++)
            seen = by_chunk ? pts[k].chunk == pts[j].chunk : pts[k].threads == pts[j].threads;
        if (!seen && (by_chunk ? pts[j].chunk < pts[i].chunk : pts[j].threads < pts[i].threads))
            r++;
    }
    return r;
}

int lf_fit_holdout(const lf_fit_point *pts, size_t n, const lf_device *base, double fixed_p,
                   double fixed_loss, int fit_half, lf_fit_result *out, double *held_mdape, double *held_max_ape,
                   size_t *n_fit, size_t *n_held, lf_err *err)
{
    lf_fit_point *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    double *ape = malloc((n ? n : 1) * sizeof *ape);
    if (!a || !b || !ape) {
        free(a), free(b), free(ape);
        return lf_fail(err, LF_ENOMEM, "fit: out of memory");
    }
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        int half = (int)((rank_of(pts, n, i, 1) + rank_of(pts, n, i, 0)) % 2);
        if (half == (fit_half & 1))
            a[na++] = pts[i];
        else
            b[nb++] = pts[i];
    }
    int rc = LF_OK;
    if (nb == 0)
        rc = lf_fail(err, LF_EINVAL, "fit --holdout: the probe grid has %zu points in one "
                     "row or column; it needs at least two chunks and two thread counts", n);
    if (!rc)
        rc = lf_fit_flash(a, na, base, fixed_p, fixed_loss, out, err);
    if (!rc) {
        *held_max_ape = 0;
        for (size_t i = 0; i < nb; i++) {
            ape[i] = lf_fit_ape(&out->dev, &b[i]);
            *held_max_ape = fmax(*held_max_ape, ape[i]);
        }
        gsl_sort(ape, 1, nb);
        *held_mdape = gsl_stats_median_from_sorted_data(ape, 1, nb);
        *n_fit = na;
        *n_held = nb;
    }
    free(a), free(b), free(ape);
    return rc;
}
