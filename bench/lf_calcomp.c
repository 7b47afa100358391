/* lf_calcomp: calibrate's compute kernels in rounds (lf_calcomp.h). Each rate is the
 * median of LF_CALCOMP_ROUNDS rounds: this machine's memory bandwidth swings by 20-30%
 * within a minute, and one long measurement per kernel took whichever spell it fell in
 * (profiles priced compute 17% slow). The rounds are timed when the caller asks, so that
 * calibrate can spread them over its flash probe: five rounds back to back span about 25
 * s, a window whose level a later run of minutes does not share (costmodel/README.md,
 * "Slow spells"). */
#include "lf_calcomp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_ffn.h"
#include "lf_median.h"
#include "lf_model.h"
#include "lf_quant.h"

#define R LF_CALCOMP_ROUNDS
/* The padding of the gapped rows: one page, what a 4096-aligned record adds at most. */
#define GAP_BYTES 4096
/* The FFN kernel by shape (lf_device.ffn_bw_*): ReLU and SwiGLU rows at each width of
 * lf_ffn_bw_widths, each streamed from all 512 MiB of the dense reference's weights
 * (views: no buffer of their own), as a model's FFN rows are from DRAM: against the
 * 64 MiB of mem_bw's rows, which the last-level cache partly holds, the same rows ran
 * 9-15% slower there, and pricing every shape at mem_bw's size priced the FFN of every
 * fidelity shape fast. Two buffers of one size and shape ran 10% apart on this
 * project's VM (its memory is not all backed alike), so the profile keeps each shape's
 * rate relative to mem_bw's shape (ReLU rows of 4096) on 64 MiB of the same buffer in
 * the same round (the host's speed moves between rounds), times mem_bw. */
#define SHAPES (2 * LF_FFN_BW_WIDTHS)
#define SHAPE_RELU_4096 3 /* the shape of mem_bw's rows */
#define REF_BYTES (64u << 20) /* as mem_bw's 4096 opt-6.7b rows */
/* The dense products by columns (lf_device.dense_bw_cols): the dense reference's 512 MiB
 * as whole rows of each width, relative to the reference (4096 columns) in the same
 * round, times dense_bw. */
#define COLS_4096 3
/* The expert kernel (bench/lf_quant) at each bit width, on one Qwen3.5-397B-sized
 * expert (4096 x 1024, three matrices) in DRAM (one 0.3 s measurement per width priced
 * a whole MoE grid 15% fast when it fell in a fast spell). */
#define EXPERT_WIDTHS 4
static const lf_dtype expert_dts[EXPERT_WIDTHS] = {LF_DTYPE_FP16, LF_DTYPE_INT8, LF_DTYPE_Q4,
                                                   LF_DTYPE_Q2};

struct lf_calcomp {
    char dtype[8];
    /* rows in cache (the flop rate), 4096 rows (weight bytes), the same rows with a page
     * of padding after each (a padded layout's DRAM rows: the prefetcher starts over at
     * every row), and the resident part's kernel on the dense reference (512 MiB, beyond
     * the caches, as a token's resident weights are) */
    lf_ffn_bench small, big, gapped, dense, ref, shape[SHAPES], cols[LF_FFN_BW_WIDTHS];
    uint32_t done;
    /* each kernel's rate (or time: experts) per round */
    double f_small[R], b_big[R], g_big[R], d_big[R], ref_big[R];
    double shape_bw[SHAPES][R], cols_bw[LF_FFN_BW_WIDTHS][R], expert_s[EXPERT_WIDTHS][R];
};

/* Shape i's rows (ReLU widths, then SwiGLU's), as many as `bytes` of over's weights hold. */
static int shape_bench(lf_ffn_bench *b, const lf_ffn_bench *over, int i, size_t bytes,
                       lf_err *err)
{
    int swiglu = i >= LF_FFN_BW_WIDTHS;
    uint32_t w = lf_ffn_bw_widths[i % LF_FFN_BW_WIDTHS];
    char spec[64];
    snprintf(spec, sizeof spec, "custom:1,%u,%u%s", w, 4 * w, swiglu ? ",swiglu" : "");
    lf_model m;
    int rc = lf_model_lookup(spec, &m, err);
    if (rc)
        return rc;
    lf_ffn_shape shape;
    lf_ffn_shape_packed(&shape, &m, over->dtype);
    return lf_ffn_bench_sparse_view(b, over, &m, (uint32_t)(bytes / lf_ffn_bytes(&shape, 1)), err);
}

int lf_calcomp_create(const char *dtype, lf_calcomp **out, lf_err *err)
{
    *out = NULL;
    lf_dtype dt;
    lf_model m;
    int rc = lf_dtype_parse(dtype, &dt, err);
    if (rc)
        return rc;
    lf_calcomp *c = calloc(1, sizeof *c);
    if (!c)
        return lf_fail(err, LF_ENOMEM, "calibrate: out of memory for the compute kernels");
    snprintf(c->dtype, sizeof c->dtype, "%s", dtype);
    rc = lf_model_lookup("opt-6.7b", &m, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_sparse(&c->small, &m, dt, 16, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_sparse(&c->big, &m, dt, 4096, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_sparse_gapped(&c->gapped, &m, dt, 4096, GAP_BYTES, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_dense_ref(&c->dense, dt, err);
    if (rc == LF_OK)
        rc = shape_bench(&c->ref, &c->dense, SHAPE_RELU_4096, REF_BYTES, err);
    for (int i = 0; i < SHAPES && rc == LF_OK; i++)
        rc = shape_bench(&c->shape[i], &c->dense, i, c->dense.w_bytes, err);
    for (int i = 0; i < LF_FFN_BW_WIDTHS && rc == LF_OK; i++)
        if (i != COLS_4096)
            rc = lf_ffn_bench_dense_view(&c->cols[i], &c->dense, lf_ffn_bw_widths[i], err);
    if (rc) {
        lf_calcomp_free(c);
        return rc;
    }
    *out = c;
    return LF_OK;
}

int lf_calcomp_round(lf_calcomp *c, lf_err *err)
{
    if (c->done >= R)
        return LF_OK;
    uint32_t r = c->done;
    double unused;
    lf_ffn_bench_time(&c->small, 0.1, &c->f_small[r], &unused);
    lf_ffn_bench_time(&c->big, 0.2, &unused, &c->b_big[r]);
    lf_ffn_bench_time(&c->gapped, 0.2, &unused, &c->g_big[r]);
    lf_ffn_bench_time(&c->dense, 0.1, &unused, &c->d_big[r]);
    lf_ffn_bench_time(&c->ref, 0.1, &unused, &c->ref_big[r]);
    for (int i = 0; i < SHAPES; i++)
        lf_ffn_bench_time(&c->shape[i], 0.2, &unused, &c->shape_bw[i][r]);
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++) {
        c->cols_bw[i][r] = c->d_big[r]; /* 4096 columns: the reference itself */
        if (i != COLS_4096)
            lf_ffn_bench_time(&c->cols[i], 0.1, &unused, &c->cols_bw[i][r]);
    }
    for (int i = 0; i < EXPERT_WIDTHS; i++) {
        int rc = lf_quant_measure(expert_dts[i], 4096, 1024, 0.06, &c->expert_s[i][r], err);
        if (rc)
            return rc;
    }
    c->done++;
    return LF_OK;
}

uint32_t lf_calcomp_rounds_done(const lf_calcomp *c)
{
    return c->done;
}

/* The median of a kernel's rounds (a left in round order, for lf_stall). */
static double median_rounds(const double *a)
{
    double v[R];
    memcpy(v, a, sizeof v);
    return lf_median(v, R);
}

/* The median over the rounds of a[r] / b[r] (each in the same round: the host's speed,
 * which moves between rounds, cancels). */
static double median_ratio(const double *a, const double *b)
{
    double q[R];
    for (int r = 0; r < R; r++)
        q[r] = a[r] / b[r];
    return lf_median(q, R);
}

/* Every kernel's rounds into the slow-spell factor. */
static void add_stall(const lf_calcomp *c, lf_stall *s)
{
    const double *rates[] = {c->f_small, c->b_big, c->g_big, c->d_big, c->ref_big};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        lf_stall_add_rates(s, rates[i], R);
    for (int i = 0; i < SHAPES; i++)
        lf_stall_add_rates(s, c->shape_bw[i], R);
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        if (i != COLS_4096)
            lf_stall_add_rates(s, c->cols_bw[i], R);
    for (int i = 0; i < EXPERT_WIDTHS; i++)
        lf_stall_add_times(s, c->expert_s[i], R);
}

/* The rates are each a median round; a run of seconds also pays the rounds that fall in
 * the host's slow spells, which made profiles price compute fast. Every rate is divided
 * by the kernels' mean time over their median round's, pooled over all of them (one
 * kernel's five rounds would be too few), and the factor kept for the drift references. */
static void apply_stall(lf_device *d, double stall)
{
    double *rates[] = {&d->compute_flops, &d->mem_bw, &d->dense_bw, &d->expert_wps_16,
                       &d->expert_wps_8, &d->expert_wps_4, &d->expert_wps_2};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        *rates[i] /= stall;
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++) {
        d->ffn_bw_relu[i] /= stall;
        d->ffn_bw_swiglu[i] /= stall;
        d->dense_bw_cols[i] /= stall;
    }
    d->ffn_row_gap_s *= stall;
    d->compute_stall = stall;
}

int lf_calcomp_finish(lf_calcomp *c, lf_device *d, const char **how, lf_stall *stall,
                      lf_err *err)
{
    while (c->done < R) {
        int rc = lf_calcomp_round(c, err);
        if (rc)
            return rc;
    }
    lf_stall s = {0};
    add_stall(c, &s);
    double row_bytes = lf_ffn_bytes(&c->big.shape, 1), gap[R];
    for (int r = 0; r < R; r++) /* a gapped row's time beyond a packed one's, per round */
        gap[r] = row_bytes / c->g_big[r] - row_bytes / c->b_big[r];
    d->compute_flops = median_rounds(c->f_small);
    d->mem_bw = median_rounds(c->b_big);
    d->dense_bw = median_rounds(c->d_big);
    /* a round where the gapped rows ran faster is noise: no negative cost */
    d->ffn_row_gap_s = fmax(0, lf_median(gap, R));
    for (int i = 0; i < SHAPES; i++) {
        double *to = i < LF_FFN_BW_WIDTHS ? d->ffn_bw_relu : d->ffn_bw_swiglu;
        to[i % LF_FFN_BW_WIDTHS] = d->mem_bw * median_ratio(c->shape_bw[i], c->ref_big);
    }
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        d->dense_bw_cols[i] = d->dense_bw * median_ratio(c->cols_bw[i], c->d_big);
    double *wps[EXPERT_WIDTHS] = {&d->expert_wps_16, &d->expert_wps_8, &d->expert_wps_4,
                                  &d->expert_wps_2};
    for (int i = 0; i < EXPERT_WIDTHS; i++)
        *wps[i] = 3.0 * 4096 * 1024 / median_rounds(c->expert_s[i]);
    apply_stall(d, lf_stall_factor(&s));
    if (stall)
        *stall = s;
    static char what[96];
    snprintf(what, sizeof what, "%s, %s rows", lf_ffn_path(), c->dtype);
    *how = what;
    return LF_OK;
}

void lf_calcomp_free(lf_calcomp *c)
{
    if (!c)
        return;
    for (int i = 0; i < SHAPES; i++) /* views of dense's weights: before it */
        lf_ffn_bench_free(&c->shape[i]);
    lf_ffn_bench_free(&c->ref);
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        lf_ffn_bench_free(&c->cols[i]);
    lf_ffn_bench_free(&c->small);
    lf_ffn_bench_free(&c->big);
    lf_ffn_bench_free(&c->gapped);
    lf_ffn_bench_free(&c->dense);
    free(c);
}
