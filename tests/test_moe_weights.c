/* Tests of the expert weights files (bench/lf_quant, bench/lf_weights with expert
 * dtypes): group quantisation bounds, the dequantising expert SwiGLU against a float
 * reference within the stated tolerances, record sizes, and the refusal of bad expert
 * files (wrong shape, truncated, wrong bit width). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_half.h"
#include "lf_quant.h"
#include "lf_test.h"
#include "lf_weights.h"
#include "lf_weights_impl.h"

static int make(const char *path, const lf_model *m, lf_dtype dt, lf_err *err)
{
    lf_weights_spec s;
    memset(&s, 0, sizeof s);
    s.model = m;
    s.layout = LF_LAYOUT_BUNDLED;
    s.dtype = dt;
    s.seed = 7;
    return lf_weights_make(path, &s, err);
}

/* Every value within half a step (plus the fp16 rounding of scale and bias) of its
 * original; a constant group comes back exactly. */
static void test_pack_bounds(void **st)
{
    (void)st;
    enum { N = 64 * 40 };
    float in[N], out[N];
    uint64_t s = 99;
    for (int i = 0; i < N; i++)
        in[i] = (float)((double)(s = s * 6364136223846793005ull + 1442695040888963407ull) /
                            18446744073709551616.0 * 2.0 - 1.0) * (1.0f + (float)(i / 64));
    for (int i = 64; i < 128; i++)
        in[i] = 0.375f; /* a constant group */
    lf_dtype dts[] = {LF_DTYPE_INT8, LF_DTYPE_Q4, LF_DTYPE_Q2};
    for (int d = 0; d < 3; d++) {
        unsigned char buf[N * 2];
        assert_int_equal(lf_quant_bytes(dts[d], N), N * lf_quant_bits(dts[d]) / 8 + N / 64 * 4);
        lf_quant_pack(dts[d], in, N, buf);
        lf_quant_unpack(dts[d], buf, N, out);
        double qmax = (1u << lf_quant_bits(dts[d])) - 1;
        for (int g = 0; g < N / 64; g++) {
            float lo = in[g * 64], hi = lo;
            for (int i = 0; i < 64; i++) {
                lo = fminf(lo, in[g * 64 + i]);
                hi = fmaxf(hi, in[g * 64 + i]);
            }
            double step = (hi - lo) / qmax;
            for (int i = 0; i < 64; i++) {
                double e = fabs((double)out[g * 64 + i] - in[g * 64 + i]);
                assert_true(e <= 0.5 * step * 1.01 + 2e-3 * fabs(lo) + 1e-3 * (hi - lo) + 1e-7);
            }
        }
        for (int i = 64; i < 128; i++)
            assert_true(out[i] == 0.375f);
    }
    assert_int_equal(lf_quant_bytes(LF_DTYPE_Q4, 100), 0); /* not whole groups */
    /* Flash-MoE's record sizes for Qwen3.5-397B (4096 x 1024, three matrices) */
    assert_int_equal(3 * lf_quant_bytes(LF_DTYPE_Q4, 4096 * 1024), 7077888);
    assert_int_equal(3 * lf_quant_bytes(LF_DTYPE_Q2, 4096 * 1024), 3932160);
}

/* Reference expert in double from float values of its three parts. */
static void ref_expert(const float *g, const float *u, const float *dn, uint32_t d, uint32_t f,
                       const float *x, double *y)
{
    double *h = calloc(f, sizeof *h);
    assert_non_null(h);
    for (uint32_t r = 0; r < f; r++) {
        double a = 0, b = 0;
        for (uint32_t c = 0; c < d; c++) {
            a += (double)g[(size_t)r * d + c] * x[c];
            b += (double)u[(size_t)r * d + c] * x[c];
        }
        h[r] = a / (1.0 + exp(-a)) * b;
    }
    for (uint32_t r = 0; r < d; r++) {
        double a = 0;
        for (uint32_t c = 0; c < f; c++)
            a += (double)dn[(size_t)r * f + c] * h[c];
        y[r] = a;
    }
    free(h);
}

static double rel_rms(const float *got, const double *want, uint32_t n)
{
    double e = 0, w = 0;
    for (uint32_t i = 0; i < n; i++) {
        e += (got[i] - want[i]) * (got[i] - want[i]);
        w += want[i] * want[i];
    }
    return sqrt(e / w);
}

/* The kernel on the file's record matches (a) the dequantised values to float rounding
 * and (b) the unquantised float expert within the dtype's stated tolerance:
 * relative RMS error fp32 1e-5, fp16 5e-3, and for the grouped widths 2.2 / (2^bits - 1):
 * one code step over the group's range is the per-weight relative error of uniform
 * weights, compounded through gate, up and down (int8 0.0086, q4 0.147, q2 0.733). */
static void test_expert_kernel_tolerance(void **st)
{
    (void)st;
    const uint32_t D = 256, F = 128;
    lf_model m;
    lf_test_moe_model(&m, 2, D, F, 8, 2);
    lf_dtype dts[] = {LF_DTYPE_FP32, LF_DTYPE_FP16, LF_DTYPE_INT8, LF_DTYPE_Q4, LF_DTYPE_Q2};
    double tol[] = {1e-5, 5e-3, 2.2 / 255, 2.2 / 15, 2.2 / 3};
    double prev = 0;
    for (int d = 0; d < 5; d++) {
        lf_err err;
        const char *path = lf_test_path("k.w");
        assert_int_equal(make(path, &m, dts[d], &err), LF_OK);
        lf_weights w;
        assert_int_equal(lf_weights_open(path, &w, &err), LF_OK);
        assert_int_equal(w.h.dtype, dts[d]);
        lf_quant_expert e;
        lf_quant_expert_init(&e, dts[d], D, F);
        assert_int_equal(w.h.vector_bytes, e.vector_bytes);
        assert_true(w.h.record_bytes >= 3 * e.vector_bytes && w.h.record_bytes % 4096 == 0);
        uint32_t layer = 1, unit = 5;
        unsigned char *rec = malloc(w.h.record_bytes);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        uint64_t off = w.layout.data_offset + layer * w.layout.layer_bytes + unit * w.h.record_bytes;
        assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
        assert_int_equal(fread(rec, 1, w.h.record_bytes, f), w.h.record_bytes);
        fclose(f);
        size_t n = (size_t)D * F;
        float *v[3], *q[3];
        for (int p = 0; p < 3; p++) {
            v[p] = malloc(n * sizeof(float));
            q[p] = malloc(n * sizeof(float));
            lf_weights_values_float(&w.h, layer, unit, (uint32_t)p, v[p]);
            lf_weights_values(&w.h, layer, unit, (uint32_t)p, q[p]);
        }
        float x[256], y[256] = {0};
        for (uint32_t i = 0; i < D; i++)
            x[i] = sinf((float)i * 0.37f) * 1.7f;
        float *scr = malloc(lf_quant_expert_scratch(&e) * sizeof(float));
        lf_quant_expert_swiglu(&e, rec, x, 0.5f, y, scr);
        for (uint32_t i = 0; i < D; i++)
            y[i] *= 2.0f; /* router weight 0.5 */
        double yq[256], yf[256];
        ref_expert(q[0], q[1], q[2], D, F, x, yq);
        ref_expert(v[0], v[1], v[2], D, F, x, yf);
        double kernel_err = rel_rms(y, yq, D), quant_err = rel_rms(y, yf, D);
        print_message("dtype %-5s kernel vs dequantised %.2e, vs float %.4f (tolerance %g)\n",
                      lf_dtype_name(dts[d]), kernel_err, quant_err, tol[d]);
        assert_true(kernel_err < 1e-4);
        assert_true(quant_err < tol[d]);
        assert_true(quant_err >= prev * 0.5); /* fewer bits, no better by much */
        prev = quant_err;
        for (int p = 0; p < 3; p++) {
            free(v[p]);
            free(q[p]);
        }
        free(scr);
        free(rec);
        lf_weights_close(&w);
        unlink(path);
    }
}

static void expect_refusal(const char *path, const char *needle)
{
    lf_weights w;
    lf_err err;
    assert_int_not_equal(lf_weights_open(path, &w, &err), LF_OK);
    print_message("refused: %s\n", err.msg);
    assert_non_null(strstr(err.msg, needle));
}

/* Truncated, wrong bit width (header patched with a valid checksum), an unknown bit
 * width, a shape whose rows are not whole groups, a dense model in q4, a trace of
 * another shape: each refused with a message that says what is wrong. */
static void test_bad_expert_files(void **st)
{
    (void)st;
    lf_model m;
    lf_test_moe_model(&m, 2, 128, 64, 8, 2);
    lf_err err;
    const char *path = lf_test_path("bad.w");
    assert_int_equal(make(path, &m, LF_DTYPE_Q4, &err), LF_OK);
    char *all = NULL;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    all = malloc((size_t)size);
    assert_int_equal(fread(all, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    /* truncated by one page */
    lf_test_write(path, all, (size_t)size - 4096);
    expect_refusal(path, "truncated");
    /* header says q2, records are q4's: re-signed so only the width check can catch it */
    unsigned char *h = (unsigned char *)all;
    const size_t DTYPE_AT = 16 + 4 + 4 + 64 + 11 * 4;
    assert_int_equal(h[DTYPE_AT], LF_DTYPE_Q4);
    h[DTYPE_AT] = LF_DTYPE_Q2;
    assert_int_equal(lf_weights_sha256(h, NULL, 0, h + LF_WEIGHTS_CHECKSUM_AT, &err), LF_OK);
    lf_test_write(path, all, (size_t)size);
    expect_refusal(path, "wrong bit width");
    /* a bit width this reader does not know */
    h[DTYPE_AT] = 9;
    assert_int_equal(lf_weights_sha256(h, NULL, 0, h + LF_WEIGHTS_CHECKSUM_AT, &err), LF_OK);
    lf_test_write(path, all, (size_t)size);
    expect_refusal(path, "bit width");
    free(all);
    unlink(path);
    /* rows that are not whole groups of 64 */
    lf_model odd;
    lf_test_moe_model(&odd, 2, 96, 64, 8, 2);
    assert_int_not_equal(make(path, &odd, LF_DTYPE_Q2, &err), LF_OK);
    assert_non_null(strstr(err.msg, "multiples of 64"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(make(path, &odd, LF_DTYPE_FP16, &err), LF_OK); /* fp16 has no groups */
    unlink(path);
    /* a dense model cannot be group-quantised */
    lf_model dense;
    assert_int_equal(lf_model_lookup("custom:2,128,256,swiglu", &dense, &err), LF_OK);
    assert_int_not_equal(make(path, &dense, LF_DTYPE_Q4, &err), LF_OK);
    assert_non_null(strstr(err.msg, "expert models"));
    /* an expert file against a trace of another shape */
    assert_int_equal(make(path, &m, LF_DTYPE_Q2, &err), LF_OK);
    lf_weights w;
    assert_int_equal(lf_weights_open(path, &w, &err), LF_OK);
    lf_model other = m;
    other.d_model = 256;
    lf_trace t;
    assert_int_equal(lf_trace_init(&t, &other, 2, 0, 0, &err), LF_OK);
    assert_int_not_equal(lf_weights_check_trace(&w, &t, &err), LF_OK);
    assert_non_null(strstr(err.msg, "d_model 128 (file) vs 256 (trace)"));
    lf_trace_free(&t);
    lf_weights_close(&w);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_bounds),
        cmocka_unit_test(test_expert_kernel_tolerance),
        cmocka_unit_test(test_bad_expert_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
