/* Group quantisation (min/max affine, fp16 scale and bias per 64 weights), on-the-fly
 * dequantising matrix-vector products and the expert SwiGLU. */
#include "lf_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lf_half.h"
#include "lf_mix.h"
#include "lf_time.h"

int lf_quant_dtype_parse(const char *name, lf_dtype *out, lf_err *err)
{
    static const struct {
        const char *name;
        lf_dtype dt;
    } names[] = {{"fp32", LF_DTYPE_FP32}, {"f32", LF_DTYPE_FP32}, {"fp16", LF_DTYPE_FP16},
                 {"f16", LF_DTYPE_FP16},  {"int8", LF_DTYPE_INT8}, {"q8", LF_DTYPE_INT8},
                 {"q4", LF_DTYPE_Q4},     {"4bit", LF_DTYPE_Q4},   {"q2", LF_DTYPE_Q2},
                 {"2bit", LF_DTYPE_Q2}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].dt;
            return LF_OK;
        }
    return lf_fail(err, LF_EINVAL, "unknown dtype '%s' (known: fp32, fp16, and for expert models "
                   "int8, q4, q2: group-quantised, a scale and a bias per 64 weights)",
                   name ? name : "(null)");
}

int lf_quant_grouped(lf_dtype dt)
{
    return dt == LF_DTYPE_INT8 || dt == LF_DTYPE_Q4 || dt == LF_DTYPE_Q2;
}

uint32_t lf_quant_bits(lf_dtype dt)
{
    switch (dt) {
    case LF_DTYPE_FP32: return 32;
    case LF_DTYPE_FP16: return 16;
    case LF_DTYPE_INT8: return 8;
    case LF_DTYPE_Q4: return 4;
    case LF_DTYPE_Q2: return 2;
    }
    return 0;
}

uint64_t lf_quant_bytes(lf_dtype dt, uint64_t n)
{
    if (!lf_quant_grouped(dt))
        return n * (lf_quant_bits(dt) / 8);
    if (n % LF_QUANT_GROUP)
        return 0;
    return n * lf_quant_bits(dt) / 8 + n / LF_QUANT_GROUP * 4; /* fp16 scale + fp16 bias */
}

/* Pointers into a grouped vector of n weights. */
static void parts(lf_dtype dt, const void *v, uint64_t n, const uint8_t **codes,
                  const uint16_t **scales, const uint16_t **biases)
{
    const uint8_t *p = v;
    *codes = p;
    *scales = (const uint16_t *)(const void *)(p + n * lf_quant_bits(dt) / 8);
    *biases = *scales + n / LF_QUANT_GROUP;
}

static inline uint32_t code_at(lf_dtype dt, const uint8_t *c, uint64_t i)
{
    switch (dt) {
    case LF_DTYPE_INT8: return c[i];
    case LF_DTYPE_Q4: return (c[i >> 1] >> ((i & 1) * 4)) & 15u;
    default: return (c[i >> 2] >> ((i & 3) * 2)) & 3u;
    }
}

void lf_quant_pack(lf_dtype dt, const float *in, uint64_t n, void *out)
{
    if (dt == LF_DTYPE_FP32) {
        memcpy(out, in, n * sizeof(float));
        return;
    }
    if (dt == LF_DTYPE_FP16) {
        lf_float_to_half_n(in, out, n);
        return;
    }
    uint8_t *codes = out;
    uint32_t bits = lf_quant_bits(dt), qmax = (1u << bits) - 1;
    uint16_t *scales = (uint16_t *)(void *)(codes + n * bits / 8), *biases = scales + n / LF_QUANT_GROUP;
    memset(codes, 0, n * bits / 8);
    for (uint64_t g = 0; g < n / LF_QUANT_GROUP; g++) {
        const float *w = in + g * LF_QUANT_GROUP;
        float lo = w[0], hi = w[0];
        for (int i = 1; i < LF_QUANT_GROUP; i++) {
            lo = w[i] < lo ? w[i] : lo;
            hi = w[i] > hi ? w[i] : hi;
        }
        uint16_t hs = lf_float_to_half((hi - lo) / (float)qmax), hb = lf_float_to_half(lo);
        scales[g] = hs;
        biases[g] = hb;
        float s = lf_half_to_float(hs), b = lf_half_to_float(hb);
        for (int i = 0; i < LF_QUANT_GROUP; i++) {
            float q = s > 0 ? rintf((w[i] - b) / s) : 0;
            uint32_t c = q < 0 ? 0 : q > (float)qmax ? qmax : (uint32_t)q;
            uint64_t at = g * LF_QUANT_GROUP + (uint64_t)i;
            codes[at * bits / 8] |= (uint8_t)(c << ((at * bits) % 8));
        }
    }
}

void lf_quant_unpack(lf_dtype dt, const void *in, uint64_t n, float *out)
{
    if (dt == LF_DTYPE_FP32) {
        memcpy(out, in, n * sizeof(float));
        return;
    }
    if (dt == LF_DTYPE_FP16) {
        const uint16_t *h = in;
        for (uint64_t i = 0; i < n; i++)
            out[i] = lf_half_to_float(h[i]);
        return;
    }
    const uint8_t *c;
    const uint16_t *s, *b;
    parts(dt, in, n, &c, &s, &b);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t g = i / LF_QUANT_GROUP;
        out[i] = lf_half_to_float(s[g]) * (float)code_at(dt, c, i) + lf_half_to_float(b[g]);
    }
}

/* ---- dot products of one row against x ---- */

static float dot_f32(const float *w, const float *x, uint32_t n)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += w[i] * x[i];
        a1 += w[i + 1] * x[i + 1];
        a2 += w[i + 2] * x[i + 2];
        a3 += w[i + 3] * x[i + 3];
    }
    for (; i < n; i++)
        a0 += w[i] * x[i];
    return (a0 + a1) + (a2 + a3);
}

static float dot_f16(const uint16_t *w, const float *x, uint32_t n)
{
    float a0 = 0, a1 = 0;
    uint32_t i = 0;
    for (; i + 2 <= n; i += 2) {
        a0 += lf_half_to_float(w[i]) * x[i];
        a1 += lf_half_to_float(w[i + 1]) * x[i + 1];
    }
    for (; i < n; i++)
        a0 += lf_half_to_float(w[i]) * x[i];
    return a0 + a1;
}

/* One group of 64 codes against x (64 floats): sum code * x. */
static float group_int8(const uint8_t *c, const float *x)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int i = 0; i < 64; i += 4) {
        a0 += (float)c[i] * x[i];
        a1 += (float)c[i + 1] * x[i + 1];
        a2 += (float)c[i + 2] * x[i + 2];
        a3 += (float)c[i + 3] * x[i + 3];
    }
    return (a0 + a1) + (a2 + a3);
}

static float group_q4(const uint8_t *c, const float *x)
{
    float a0 = 0, a1 = 0;
    for (int i = 0; i < 32; i++) {
        a0 += (float)(c[i] & 15u) * x[2 * i];
        a1 += (float)(c[i] >> 4) * x[2 * i + 1];
    }
    return a0 + a1;
}

static float group_q2(const uint8_t *c, const float *x)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int i = 0; i < 16; i++) {
        a0 += (float)(c[i] & 3u) * x[4 * i];
        a1 += (float)((c[i] >> 2) & 3u) * x[4 * i + 1];
        a2 += (float)((c[i] >> 4) & 3u) * x[4 * i + 2];
        a3 += (float)(c[i] >> 6) * x[4 * i + 3];
    }
    return (a0 + a1) + (a2 + a3);
}

#define XSUM_MAX 1024 /* groups of x summed once per product (cols up to 65536) */

void lf_quant_matvec(lf_dtype dt, const void *w, uint32_t rows, uint32_t cols, const float *x,
                     float *out)
{
    if (dt == LF_DTYPE_FP32 || dt == LF_DTYPE_FP16) {
        for (uint32_t r = 0; r < rows; r++)
            out[r] = dt == LF_DTYPE_FP32
                         ? dot_f32((const float *)w + (uint64_t)r * cols, x, cols)
                         : dot_f16((const uint16_t *)w + (uint64_t)r * cols, x, cols);
        return;
    }
    uint64_t n = (uint64_t)rows * cols;
    uint32_t gpr = cols / LF_QUANT_GROUP, bits = lf_quant_bits(dt);
    const uint8_t *c;
    const uint16_t *s, *b;
    parts(dt, w, n, &c, &s, &b);
    float xs[XSUM_MAX];
    for (uint32_t g = 0; g < gpr && g < XSUM_MAX; g++) {
        float a = 0;
        for (int i = 0; i < LF_QUANT_GROUP; i++)
            a += x[g * LF_QUANT_GROUP + i];
        xs[g] = a;
    }
    uint32_t group_bytes = LF_QUANT_GROUP * bits / 8;
    for (uint32_t r = 0; r < rows; r++) {
        float acc = 0;
        for (uint32_t g = 0; g < gpr; g++) {
            uint64_t gi = (uint64_t)r * gpr + g;
            const uint8_t *cg = c + gi * group_bytes;
            const float *xg = x + (uint64_t)g * LF_QUANT_GROUP;
            float d = dt == LF_DTYPE_INT8 ? group_int8(cg, xg)
                      : dt == LF_DTYPE_Q4 ? group_q4(cg, xg)
                                          : group_q2(cg, xg);
            float sum_x = xs[g < XSUM_MAX ? g : 0];
            if (g >= XSUM_MAX) {
                sum_x = 0;
                for (int i = 0; i < LF_QUANT_GROUP; i++)
                    sum_x += xg[i];
            }
            acc += lf_half_to_float(s[gi]) * d + lf_half_to_float(b[gi]) * sum_x;
        }
        out[r] = acc;
    }
}

void lf_quant_expert_init(lf_quant_expert *e, lf_dtype dt, uint32_t d_model, uint32_t d_ff)
{
    e->dt = dt;
    e->d_model = d_model;
    e->d_ff = d_ff;
    e->vector_bytes = lf_quant_bytes(dt, (uint64_t)d_model * d_ff);
}

uint64_t lf_quant_expert_scratch(const lf_quant_expert *e)
{
    return 2ull * e->d_ff + e->d_model;
}

void lf_quant_expert_swiglu(const lf_quant_expert *e, const void *record, const float *x,
                            float weight, float *y, float *scratch)
{
    const uint8_t *p = record;
    float *g = scratch, *u = scratch + e->d_ff, *o = scratch + 2 * (uint64_t)e->d_ff;
    lf_quant_matvec(e->dt, p, e->d_ff, e->d_model, x, g);
    lf_quant_matvec(e->dt, p + e->vector_bytes, e->d_ff, e->d_model, x, u);
    for (uint32_t i = 0; i < e->d_ff; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    lf_quant_matvec(e->dt, p + 2 * e->vector_bytes, e->d_model, e->d_ff, g, o);
    for (uint32_t i = 0; i < e->d_model; i++)
        y[i] += weight * o[i];
}

int lf_quant_measure(lf_dtype dt, uint32_t d_model, uint32_t d_ff, double min_seconds,
                     double *s_per_expert, lf_err *err)
{
    lf_quant_expert e;
    lf_quant_expert_init(&e, dt, d_model, d_ff);
    if (!e.vector_bytes)
        return lf_fail(err, LF_EINVAL, "expert kernel: %s needs d_model (%u) and d_ff (%u) "
                       "multiples of %d", lf_dtype_name(dt), d_model, d_ff, LF_QUANT_GROUP);
    uint64_t n = (uint64_t)d_model * d_ff;
    unsigned char *rec = malloc(3 * e.vector_bytes);
    float *v = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * d_model);
    float *y = calloc(d_model, sizeof(float));
    float *scr = malloc(sizeof(float) * lf_quant_expert_scratch(&e));
    int rc = LF_OK;
    if (!rec || !v || !x || !y || !scr) {
        rc = lf_fail(err, LF_ENOMEM, "expert kernel: out of memory for a %u x %u expert", d_model,
                     d_ff);
        goto done;
    }
    uint64_t st = 12345;
    float a = sqrtf(3.0f / (float)d_model);
    for (int part = 0; part < 3; part++) {
        for (uint64_t i = 0; i < n; i++)
            v[i] = a * (float)((double)(lf_mix_next(&st) >> 11) * 0x1p-52 - 1.0);
        lf_quant_pack(dt, v, n, rec + part * e.vector_bytes);
    }
    for (uint32_t i = 0; i < d_model; i++)
        x[i] = (float)((double)(lf_mix_next(&st) >> 11) * 0x1p-52 - 1.0);
    uint64_t runs = 0;
    double t0 = lf_now(), t = t0;
    do {
        lf_quant_expert_swiglu(&e, rec, x, 0.25f, y, scr);
        runs++;
        t = lf_now();
    } while (t - t0 < min_seconds || runs < 3);
    *s_per_expert = (t - t0) / (double)runs;
    if (!isfinite(y[0]))
        rc = lf_fail(err, LF_EINVAL, "expert kernel: output not finite (kernel bug)");
done:
    free(rec);
    free(v);
    free(x);
    free(y);
    free(scr);
    return rc;
}
