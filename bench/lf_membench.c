/* lf_membench: DRAM, allocation, page-cache and compute microbenchmarks for
 * calibration. Each measures a number of repeats for at least min_seconds and reports
 * the median repeat (robust against the other tenants of a shared machine). */
#include "lf_membench.h"

#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "lf_io.h"
#include "lf_median.h"
#include "lf_time.h"

#define MAX_REPS 4096

/* A sink the compiler cannot see through, so measured loops are not optimised away. */
static volatile float sink;

int lf_membench_copy_bw(size_t bytes, double min_seconds, double *bw, lf_err *err)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    double *t = malloc(MAX_REPS * sizeof *t);
    if (!a || !b || !t) {
        free(a);
        free(b);
        free(t);
        return lf_fail(err, LF_ENOMEM, "membench: cannot allocate 2 x %zu bytes", bytes);
    }
    memset(a, 1, bytes);
    memset(b, 2, bytes); /* touch every page before timing */
    size_t n = 0;
    double start = lf_now();
    while (n < MAX_REPS && (n < 3 || lf_now() - start < min_seconds)) {
        double t0 = lf_now();
        memcpy(n % 2 ? a : b, n % 2 ? b : a, bytes);
        t[n++] = lf_now() - t0;
    }
    sink = (float)a[bytes / 2] + (float)b[bytes / 3];
    *bw = (double)bytes / lf_median(t, n);
    free(a);
    free(b);
    free(t);
    return LF_OK;
}

/* Median seconds per move of `row` bytes between random slots of a 256 MiB buffer (as
 * the DRAM manager's swap-delete moves). */
static int move_time(size_t row, double min_seconds, double *per, lf_err *err)
{
    const size_t buf_bytes = 256u << 20, batch = 4096;
    size_t slots = row ? buf_bytes / row : 0;
    if (slots < 2)
        return lf_fail(err, LF_EINVAL, "membench: row of %zu bytes out of range", row);
    char *buf = malloc(buf_bytes);
    size_t *from = malloc(batch * sizeof *from), *to = malloc(batch * sizeof *to);
    double *t = malloc(MAX_REPS * sizeof *t);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = LF_OK;
    if (!buf || !from || !to || !t || !r) {
        rc = lf_fail(err, LF_ENOMEM, "membench: out of memory");
        goto out;
    }
    memset(buf, 3, buf_bytes);
    gsl_rng_set(r, 1);
    for (size_t i = 0; i < batch; i++) {
        from[i] = gsl_rng_uniform_int(r, slots) * row;
        to[i] = gsl_rng_uniform_int(r, slots) * row;
    }
    size_t n = 0;
    double start = lf_now();
    while (n < MAX_REPS && (n < 3 || lf_now() - start < min_seconds)) {
        double t0 = lf_now();
        for (size_t i = 0; i < batch; i++)
            memmove(buf + to[i], buf + from[i], row);
        t[n++] = (lf_now() - t0) / (double)batch;
    }
    sink = (float)buf[to[0]];
    *per = lf_median(t, n);
out:
    free(buf);
    free(from);
    free(to);
    free(t);
    if (r)
        gsl_rng_free(r);
    return rc;
}

int lf_membench_op(size_t row, double bw, double min_seconds, double *op_s, lf_err *err)
{
    double per;
    int rc = move_time(row, min_seconds, &per, err);
    if (rc)
        return rc;
    per -= (double)row / bw;
    *op_s = per > 0 ? per : 0;
    return LF_OK;
}

int lf_membench_line(const double *x, const double *y, size_t n, double *op_s, double *bw,
                     lf_err *err)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        sx += x[i];
        sy += y[i];
        sxx += x[i] * x[i];
        sxy += x[i] * y[i];
    }
    double den = (double)n * sxx - sx * sx;
    if (n < 2 || !(den > 0))
        return lf_fail(err, LF_EINVAL, "membench: a line needs two different row sizes");
    double slope = ((double)n * sxy - sx * sy) / den, icpt = (sy - slope * sx) / (double)n;
    if (!(slope > 0))
        return lf_fail(err, LF_ERANGE, "membench: copy time does not grow with the row size "
                       "(slope %g s/byte): the machine is too busy to measure; rerun", slope);
    if (icpt < 0) { /* no negative fixed cost: the line through the origin instead */
        icpt = 0;
        slope = sxy / sxx;
    }
    *op_s = icpt;
    *bw = 1.0 / slope;
    return LF_OK;
}

int lf_membench_rows(const size_t *rows, size_t n, double min_seconds, double *per_move,
                     double *op_s, double *bw, lf_err *err)
{
    double x[16];
    if (n == 0 || n > 16)
        return lf_fail(err, LF_EINVAL, "membench: 1..16 row sizes, not %zu", n);
    for (size_t i = 0; i < n; i++) {
        int rc = move_time(rows[i], min_seconds, &per_move[i], err);
        if (rc)
            return rc;
        x[i] = (double)rows[i];
    }
    return lf_membench_line(x, per_move, n, op_s, bw, err);
}

int lf_membench_fault(size_t bytes, double min_seconds, double *fault_s, lf_err *err)
{
    double *t = malloc(MAX_REPS * sizeof *t);
    if (!t)
        return lf_fail(err, LF_ENOMEM, "membench: out of memory");
    size_t n = 0, pages = (bytes + 4095) / 4096;
    double start = lf_now();
    while (n < MAX_REPS && (n < 3 || lf_now() - start < min_seconds)) {
        char *p = lf_io_alloc(bytes);
        if (!p) {
            free(t);
            return lf_fail(err, LF_ENOMEM, "membench: cannot allocate %zu bytes", bytes);
        }
        double t0 = lf_now();
        for (size_t k = 0; k < pages; k++)
            p[k * 4096] = (char)k; /* first touch: one fault per page */
        t[n++] = (lf_now() - t0) / (double)pages;
        sink = (float)p[bytes / 2];
        free(p);
    }
    *fault_s = lf_median(t, n);
    free(t);
    return LF_OK;
}

int lf_membench_alloc(size_t bytes, double min_seconds, double *alloc_s, lf_err *err)
{
    double *t = malloc(MAX_REPS * sizeof *t);
    if (!t)
        return lf_fail(err, LF_ENOMEM, "membench: out of memory");
    size_t n = 0;
    double start = lf_now();
    while (n < MAX_REPS && (n < 3 || lf_now() - start < min_seconds)) {
        double t0 = lf_now();
        volatile char *p = malloc(bytes);
        if (!p) {
            free(t);
            return lf_fail(err, LF_ENOMEM, "membench: cannot allocate %zu bytes", bytes);
        }
        free((void *)p);
        t[n++] = lf_now() - t0;
    }
    *alloc_s = lf_median(t, n);
    free(t);
    return LF_OK;
}

/* Median seconds per read of `len` bytes at random offsets in the first `span` bytes. */
static int cached_reads(const lf_io_ops *ops, lf_io *io, char *buf, uint64_t len, uint64_t span,
                        double min_seconds, gsl_rng *r, double *out, lf_err *err)
{
    double *t = malloc(MAX_REPS * sizeof *t);
    if (!t)
        return lf_fail(err, LF_ENOMEM, "membench: out of memory");
    size_t n = 0;
    int rc = LF_OK;
    double start = lf_now();
    while (rc == LF_OK && n < MAX_REPS && (n < 16 || lf_now() - start < min_seconds)) {
        lf_io_req q = {gsl_rng_uniform_int(r, span / len) * len, len, buf, 0};
        double t0 = lf_now();
        rc = lf_io_read_all(io, &q, 1, 1, err);
        t[n++] = lf_now() - t0;
    }
    if (rc == LF_OK)
        *out = lf_median(t, n);
    free(t);
    return rc;
}

int lf_membench_pagecache(const char *path, double min_seconds, double *bw, double *lat_s,
                          lf_err *err)
{
    const uint64_t span = 64u << 20, big = 1u << 20, small = 4096;
    const lf_io_ops *ops;
    lf_io *io;
    int rc = lf_io_engine("buffered", &ops, err);
    if (rc != LF_OK || (rc = ops->open(&io, path, 1, err)) != LF_OK)
        return rc;
    char *buf = lf_io_alloc(big);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!buf || !r) {
        rc = lf_fail(err, LF_ENOMEM, "membench: out of memory");
        goto out;
    }
    gsl_rng_set(r, 2);
    for (uint64_t off = 0; off < span && rc == LF_OK; off += big) { /* warm the span */
        lf_io_req q = {off, big, buf, 0};
        rc = lf_io_read_all(io, &q, 1, 1, err);
    }
    if (rc != LF_OK) {
        lf_err_prefix(err, "page-cache measurement needs a file of at least 64 MiB");
        goto out;
    }
    double t_small, t_big;
    if ((rc = cached_reads(ops, io, buf, small, span, min_seconds / 2, r, &t_small, err)) ||
        (rc = cached_reads(ops, io, buf, big, span, min_seconds / 2, r, &t_big, err)))
        goto out;
    /* t = lat + n / bw through the two sizes */
    double slope = (t_big - t_small) / (double)(big - small);
    *bw = slope > 0 ? 1.0 / slope : (double)big / t_big;
    *lat_s = t_small - (double)small * (slope > 0 ? slope : 0);
    if (*lat_s < 0)
        *lat_s = 0;
out:
    ops->close(io);
    free(buf);
    if (r)
        gsl_rng_free(r);
    return rc;
}

int lf_membench_ffn(uint32_t d_model, uint32_t n_rows, double min_seconds, double *flops_s,
                    double *bytes_s, lf_err *err)
{
    size_t row = 2 * (size_t)d_model;
    float *w = malloc(row * n_rows * sizeof *w), *x = malloc(d_model * sizeof *x),
          *y = malloc(d_model * sizeof *y);
    double *t = malloc(MAX_REPS * sizeof *t);
    if (!w || !x || !y || !t || d_model == 0 || n_rows == 0) {
        free(w);
        free(x);
        free(y);
        free(t);
        return lf_fail(err, LF_ENOMEM, "membench: cannot allocate %u rows of %u", n_rows, d_model);
    }
    gsl_rng *r = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(r, 3);
    for (size_t i = 0; i < row * n_rows; i++)
        w[i] = (float)(gsl_rng_uniform(r) - 0.5);
    for (uint32_t i = 0; i < d_model; i++)
        x[i] = (float)(gsl_rng_uniform(r) - 0.5);
    gsl_rng_free(r);
    size_t n = 0;
    double start = lf_now();
    while (n < MAX_REPS && (n < 3 || lf_now() - start < min_seconds)) {
        double t0 = lf_now();
        memset(y, 0, d_model * sizeof *y);
        for (uint32_t k = 0; k < n_rows; k++) {
            const float *up = w + k * row, *down = up + d_model;
            float h = 0;
            for (uint32_t i = 0; i < d_model; i++)
                h += x[i] * up[i];
            if (h > 0)
                for (uint32_t i = 0; i < d_model; i++)
                    y[i] += h * down[i];
            else
                for (uint32_t i = 0; i < d_model; i++) /* keep the work the same per row */
                    y[i] += 0.0f * down[i];
        }
        t[n++] = lf_now() - t0;
        sink = y[n % d_model];
    }
    double med = lf_median(t, n);
    *flops_s = 4.0 * d_model * n_rows / med;
    *bytes_s = (double)row * sizeof(float) * n_rows / med;
    free(w);
    free(x);
    free(y);
    free(t);
    return LF_OK;
}
