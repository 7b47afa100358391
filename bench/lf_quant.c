/* Group quantisation (min/max affine, fp16 scale and bias per 64 weights), on-the-fly
 * dequantising matrix-vector products and the expert SwiGLU. */
#include "lf_quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
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
    return lf_model_weights_bytes(n, lf_quant_bits(dt)); /* the one definition of the sizes */
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

/* ---- grouped rows: a group's codes unpacked to 64 bytes, then a 64-long dot ---- */

static uint16_t lut4[256]; /* byte -> its two 4-bit codes as two bytes, in element order */
static uint32_t lut2[256]; /* byte -> its four 2-bit codes as four bytes */
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void lut_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint8_t two[2] = {(uint8_t)(b & 15u), (uint8_t)(b >> 4)};
        uint8_t four[4] = {(uint8_t)(b & 3u), (uint8_t)((b >> 2) & 3u), (uint8_t)((b >> 4) & 3u),
                           (uint8_t)(b >> 6)};
        memcpy(&lut4[b], two, 2);
        memcpy(&lut2[b], four, 4);
    }
}

/* The 64 codes of a group as bytes (int8: the codes themselves). */
static const uint8_t *unpack_group(lf_dtype dt, const uint8_t *c, uint8_t *buf)
{
    if (dt == LF_DTYPE_INT8)
        return c;
    if (dt == LF_DTYPE_Q4)
        for (int i = 0; i < 32; i++)
            memcpy(buf + 2 * i, &lut4[c[i]], 2);
    else
        for (int i = 0; i < 16; i++)
            memcpy(buf + 4 * i, &lut2[c[i]], 4);
    return buf;
}

static float dot64_c(const uint8_t *q, const float *x)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int i = 0; i < 64; i += 4) {
        a0 += (float)q[i] * x[i];
        a1 += (float)q[i + 1] * x[i + 1];
        a2 += (float)q[i + 2] * x[i + 2];
        a3 += (float)q[i + 3] * x[i + 3];
    }
    return (a0 + a1) + (a2 + a3);
}

typedef struct {
    float (*dot64)(const uint8_t *q, const float *x);   /* 64 unpacked codes */
    float (*dot16)(const uint16_t *w, const float *x, uint32_t n);
    float (*half)(uint16_t h);
    /* a whole grouped row (NULL: group by group with dot64) */
    float (*row)(lf_dtype dt, const uint8_t *c, const uint16_t *sc, const uint16_t *bi,
                 uint32_t gpr, const float *x, const float *xs);
} kernels;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LF_FUZZ) /* clang 14: no "f16c" probe */
#include <immintrin.h>
#define LF_TGT __attribute__((target("avx2,fma,f16c")))

LF_TGT static float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

LF_TGT static inline __m256 u8x8(const uint8_t *q)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q)));
}

LF_TGT static float dot64_x(const uint8_t *q, const float *x)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (int i = 0; i < 64; i += 16) {
        a0 = _mm256_fmadd_ps(u8x8(q + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(u8x8(q + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    return hsum(_mm256_add_ps(a0, a1));
}

LF_TGT static inline __m256 lo8(__m128i e)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e));
}

LF_TGT static inline __m256 hi8(__m128i e)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e, 8)));
}

/* 16 codes (as bytes, element order) against x[0..16) into two accumulators */
#define FMA16(e, xp, a0, a1)                                                          \
    do {                                                                            \
        a0 = _mm256_fmadd_ps(lo8(e), _mm256_loadu_ps(xp), a0);                      \
        a1 = _mm256_fmadd_ps(hi8(e), _mm256_loadu_ps((xp) + 8), a1);                \
    } while (0)

LF_TGT static inline __m256 vdot64_q4(const uint8_t *c, const float *x)
{
    __m128i m = _mm_set1_epi8(15), a0 = _mm_loadu_si128((const __m128i *)(const void *)c),
            a1 = _mm_loadu_si128((const __m128i *)(const void *)(c + 16));
    __m128i l0 = _mm_and_si128(a0, m), h0 = _mm_and_si128(_mm_srli_epi16(a0, 4), m);
    __m128i l1 = _mm_and_si128(a1, m), h1 = _mm_and_si128(_mm_srli_epi16(a1, 4), m);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    FMA16(_mm_unpacklo_epi8(l0, h0), x, s0, s1);
    FMA16(_mm_unpackhi_epi8(l0, h0), x + 16, s0, s1);
    FMA16(_mm_unpacklo_epi8(l1, h1), x + 32, s0, s1);
    FMA16(_mm_unpackhi_epi8(l1, h1), x + 48, s0, s1);
    return _mm256_add_ps(s0, s1);
}

LF_TGT static inline __m256 vdot64_q2(const uint8_t *c, const float *x)
{
    __m128i m = _mm_set1_epi8(3), v = _mm_loadu_si128((const __m128i *)(const void *)c);
    __m128i a = _mm_and_si128(v, m), b = _mm_and_si128(_mm_srli_epi16(v, 2), m),
            cc = _mm_and_si128(_mm_srli_epi16(v, 4), m), d = _mm_and_si128(_mm_srli_epi16(v, 6), m);
    __m128i ab_l = _mm_unpacklo_epi8(a, b), cd_l = _mm_unpacklo_epi8(cc, d);
    __m128i ab_h = _mm_unpackhi_epi8(a, b), cd_h = _mm_unpackhi_epi8(cc, d);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    FMA16(_mm_unpacklo_epi16(ab_l, cd_l), x, s0, s1);
    FMA16(_mm_unpackhi_epi16(ab_l, cd_l), x + 16, s0, s1);
    FMA16(_mm_unpacklo_epi16(ab_h, cd_h), x + 32, s0, s1);
    FMA16(_mm_unpackhi_epi16(ab_h, cd_h), x + 48, s0, s1);
    return _mm256_add_ps(s0, s1);
}

LF_TGT static float half_x(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* A whole grouped row: sum over groups of scale * (codes . x) + bias * sum(x), the
 * scales applied to vector partial sums (one horizontal sum per row). */
LF_TGT static float row_x(lf_dtype dt, const uint8_t *c, const uint16_t *sc, const uint16_t *bi,
                          uint32_t gpr, const float *x, const float *xs)
{
    __m256 acc = _mm256_setzero_ps();
    float bsum = 0;
    uint32_t gb = LF_QUANT_GROUP * lf_quant_bits(dt) / 8;
    for (uint32_t g = 0; g < gpr; g++) {
        const float *xg = x + (uint64_t)g * LF_QUANT_GROUP;
        __m256 v;
        if (dt == LF_DTYPE_Q4) {
            v = vdot64_q4(c + (uint64_t)g * gb, xg);
        } else if (dt == LF_DTYPE_Q2) {
            v = vdot64_q2(c + (uint64_t)g * gb, xg);
        } else {
            const uint8_t *q = c + (uint64_t)g * gb;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int i = 0; i < 64; i += 16) {
                a0 = _mm256_fmadd_ps(u8x8(q + i), _mm256_loadu_ps(xg + i), a0);
                a1 = _mm256_fmadd_ps(u8x8(q + i + 8), _mm256_loadu_ps(xg + i + 8), a1);
            }
            v = _mm256_add_ps(a0, a1);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(sc[g])), v, acc);
        bsum += _cvtsh_ss(bi[g]) * xs[g];
    }
    return hsum(acc) + bsum;
}

LF_TGT static float dot16_x(const uint16_t *w, const float *x, uint32_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + i))),
                             _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + i + 8))),
            _mm256_loadu_ps(x + i + 8), a1);
    }
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += lf_half_to_float(w[i]) * x[i];
    return s;
}
#endif

/* AVX2+FMA+F16C when the CPU has them and LLMFLASH_FFN_PORTABLE is unset (as lf_ffn). */
static const kernels *pick(void)
{
    static const kernels portable = {dot64_c, dot_f16, lf_half_to_float, NULL};
#if defined(__x86_64__) && defined(__GNUC__) && !defined(LF_FUZZ) /* clang 14: no "f16c" probe */
    static const kernels x86 = {dot64_x, dot16_x, half_x, row_x};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c") && !getenv("LLMFLASH_FFN_PORTABLE"))
        return &x86;
#endif
    return &portable;
}

#define XSUM_MAX 1024 /* groups of x summed once per product (cols up to 65536) */

void lf_quant_matvec(lf_dtype dt, const void *w, uint32_t rows, uint32_t cols, const float *x,
                     float *out)
{
    const kernels *k = pick();
    if (dt == LF_DTYPE_FP32 || dt == LF_DTYPE_FP16) {
        for (uint32_t r = 0; r < rows; r++)
            out[r] = dt == LF_DTYPE_FP32
                         ? dot_f32((const float *)w + (uint64_t)r * cols, x, cols)
                         : k->dot16((const uint16_t *)w + (uint64_t)r * cols, x, cols);
        return;
    }
    pthread_once(&lut_once, lut_init);
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
    uint8_t buf[LF_QUANT_GROUP];
    if (k->row && gpr <= XSUM_MAX) {
        for (uint32_t r = 0; r < rows; r++)
            out[r] = k->row(dt, c + (uint64_t)r * gpr * group_bytes, s + (uint64_t)r * gpr,
                            b + (uint64_t)r * gpr, gpr, x, xs);
        return;
    }
    for (uint32_t r = 0; r < rows; r++) {
        float acc = 0;
        for (uint32_t g = 0; g < gpr; g++) {
            uint64_t gi = (uint64_t)r * gpr + g;
            const float *xg = x + (uint64_t)g * LF_QUANT_GROUP;
            float d = k->dot64(unpack_group(dt, c + gi * group_bytes, buf), xg);
            float sum_x = xs[g < XSUM_MAX ? g : 0];
            if (g >= XSUM_MAX) {
                sum_x = 0;
                for (int i = 0; i < LF_QUANT_GROUP; i++)
                    sum_x += xg[i];
            }
            acc += k->half(s[gi]) * d + k->half(b[gi]) * sum_x;
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
    uint64_t n = (uint64_t)d_model * d_ff, rec_bytes = 3 * e.vector_bytes;
    /* copies of the record, cycled: each call reads its weights from DRAM, as the
     * executor's experts (read from flash, or cached among many) are; one record
     * computed again and again stays in the CPU's last-level cache */
    uint64_t copies = (LF_QUANT_MEASURE_BYTES + rec_bytes - 1) / rec_bytes;
    copies = copies < 2 ? 2 : copies;
    unsigned char *rec = lf_bigmem_alloc(copies * rec_bytes);
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
    for (uint64_t c = 1; c < copies; c++)
        memcpy(rec + c * rec_bytes, rec, rec_bytes);
    for (uint32_t i = 0; i < d_model; i++)
        x[i] = (float)((double)(lf_mix_next(&st) >> 11) * 0x1p-52 - 1.0);
    uint64_t runs = 0;
    double t0 = lf_now(), t = t0;
    do {
        lf_quant_expert_swiglu(&e, rec + (runs % copies) * rec_bytes, x, 0.25f, y, scr);
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
