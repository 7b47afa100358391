#include "lf_ffn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_half.h"
#include "lf_time.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LF_FUZZ) /* clang 14: no "f16c" probe */
#include <immintrin.h>
#define LF_FFN_X86 1
#endif

int lf_dtype_parse(const char *name, lf_dtype *out, lf_err *err)
{
    if (!strcmp(name, "fp16") || !strcmp(name, "f16")) {
        *out = LF_DTYPE_FP16;
        return LF_OK;
    }
    if (!strcmp(name, "fp32") || !strcmp(name, "f32")) {
        *out = LF_DTYPE_FP32;
        return LF_OK;
    }
    return lf_fail(err, LF_EINVAL, "unknown dtype '%s' (known: fp16, fp32)", name);
}

const char *lf_dtype_name(lf_dtype d)
{
    static const char *const names[] = {"fp32", "fp16", "int8", "q4", "q2"};
    return (unsigned)d < 5 ? names[d] : "?";
}

uint32_t lf_dtype_bytes(lf_dtype d)
{
    return d == LF_DTYPE_FP16 ? 2 : d == LF_DTYPE_FP32 ? 4 : 0;
}

void lf_ffn_shape_packed(lf_ffn_shape *s, const lf_model *m, lf_dtype dt)
{
    memset(s, 0, sizeof *s);
    s->act = m->act;
    s->dtype = dt;
    s->d_model = m->d_model;
    s->vectors = lf_model_vectors_per_neuron(m);
    s->part_stride = (size_t)m->d_model * lf_dtype_bytes(dt);
    s->row_stride = s->part_stride * s->vectors;
}

/* ---- portable path: four accumulators so the loop has independent chains ---- */

/* One element of a weight vector as a float. */
static inline float el32(const float *w, uint32_t i)
{
    return w[i];
}

static inline float el16(const uint16_t *w, uint32_t i)
{
    return lf_half_to_float(w[i]);
}

/* The fp32 and fp16 versions differ only in how an element is read. */
#define DEF_DOT_C(NAME, T, EL)                                                               \
    static float NAME(const float *x, const T *w, uint32_t d)                                \
    {                                                                                        \
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                \
        uint32_t i = 0;                                                                      \
        for (; i + 4 <= d; i += 4) {                                                         \
            a0 += x[i] * EL(w, i);                                                           \
            a1 += x[i + 1] * EL(w, i + 1);                                                   \
            a2 += x[i + 2] * EL(w, i + 2);                                                   \
            a3 += x[i + 3] * EL(w, i + 3);                                                   \
        }                                                                                    \
        for (; i < d; i++)                                                                   \
            a0 += x[i] * EL(w, i);                                                           \
        return (a0 + a1) + (a2 + a3);                                                        \
    }
#define DEF_AXPY_C(NAME, T, EL)                                                              \
    static void NAME(float *y, float h, const T *w, uint32_t d)                              \
    {                                                                                        \
        for (uint32_t i = 0; i < d; i++)                                                     \
            y[i] += h * EL(w, i);                                                            \
    }
DEF_DOT_C(dot_f32_c, float, el32)
DEF_DOT_C(dot_f16_c, uint16_t, el16)
DEF_AXPY_C(axpy_f32_c, float, el32)
DEF_AXPY_C(axpy_f16_c, uint16_t, el16)

/* ---- x86: AVX2 + FMA + F16C, chosen at run time ---- */
#ifdef LF_FFN_X86
#define LF_TGT __attribute__((target("avx2,fma,f16c")))

LF_TGT static float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/* Eight elements of a weight vector as floats. */
LF_TGT static inline __m256 ld32(const float *p)
{
    return _mm256_loadu_ps(p);
}

LF_TGT static inline __m256 ld16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

#define DEF_DOT_X(NAME, T, LD, EL)                                                           \
    LF_TGT static float NAME(const float *x, const T *w, uint32_t d)                         \
    {                                                                                        \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                          \
        uint32_t i = 0;                                                                      \
        for (; i + 32 <= d; i += 32) {                                                       \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LD(w + i), a0);                     \
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), LD(w + i + 8), a1);             \
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), LD(w + i + 16), a2);           \
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), LD(w + i + 24), a3);           \
        }                                                                                    \
        for (; i + 8 <= d; i += 8)                                                           \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LD(w + i), a0);                     \
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));     \
        for (; i < d; i++)                                                                   \
            s += x[i] * EL(w, i);                                                            \
        return s;                                                                            \
    }
#define DEF_AXPY_X(NAME, T, LD, EL)                                                          \
    LF_TGT static void NAME(float *y, float h, const T *w, uint32_t d)                       \
    {                                                                                        \
        __m256 hv = _mm256_set1_ps(h);                                                       \
        uint32_t i = 0;                                                                      \
        for (; i + 8 <= d; i += 8)                                                           \
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(hv, LD(w + i), _mm256_loadu_ps(y + i))); \
        for (; i < d; i++)                                                                   \
            y[i] += h * EL(w, i);                                                            \
    }
DEF_DOT_X(dot_f32_x, float, ld32, el32)
DEF_DOT_X(dot_f16_x, uint16_t, ld16, el16)
DEF_AXPY_X(axpy_f32_x, float, ld32, el32)
DEF_AXPY_X(axpy_f16_x, uint16_t, ld16, el16)
#endif

typedef struct {
    float (*dot32)(const float *, const float *, uint32_t);
    float (*dot16)(const float *, const uint16_t *, uint32_t);
    void (*axpy32)(float *, float, const float *, uint32_t);
    void (*axpy16)(float *, float, const uint16_t *, uint32_t);
    const char *name;
} kernels;

static const kernels *pick(void)
{
    static const kernels portable = {dot_f32_c, dot_f16_c, axpy_f32_c, axpy_f16_c, "portable"};
#ifdef LF_FFN_X86
    static const kernels x86 = {dot_f32_x, dot_f16_x, axpy_f32_x, axpy_f16_x, "avx2+fma+f16c"};
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    }
    if (have && !getenv("LLMFLASH_FFN_PORTABLE"))
        return &x86;
#endif
    return &portable;
}

const char *lf_ffn_path(void)
{
    return pick()->name;
}

static float dot(const kernels *k, lf_dtype dt, const float *x, const void *w, uint32_t d)
{
    return dt == LF_DTYPE_FP16 ? k->dot16(x, (const uint16_t *)w, d) : k->dot32(x, (const float *)w, d);
}

static void axpy(const kernels *k, lf_dtype dt, float *y, float h, const void *w, uint32_t d)
{
    if (dt == LF_DTYPE_FP16)
        k->axpy16(y, h, (const uint16_t *)w, d);
    else
        k->axpy32(y, h, (const float *)w, d);
}

/* One unit: adds its contribution to y. */
static void unit(const kernels *k, const lf_ffn_shape *s, const unsigned char *row, float bias,
                 const float *x, float *y)
{
    uint32_t d = s->d_model;
    float h;
    if (s->act == LF_ACT_SWIGLU) {
        float g = dot(k, s->dtype, x, row, d);
        float u = dot(k, s->dtype, x, row + s->part_stride, d);
        h = g / (1.0f + expf(-g)) * u;
    } else {
        h = dot(k, s->dtype, x, row, d) + bias;
        h = h > 0.0f ? h : 0.0f; /* no early exit: every row costs the same, as in a dense
                                  * matrix product over the resident rows */
    }
    axpy(k, s->dtype, y, h, row + (size_t)(s->vectors - 1) * s->part_stride, d);
}

void lf_ffn_sparse(const lf_ffn_shape *s, const void *rows, const float *bias, uint32_t n_rows,
                   const float *x, float *y)
{
    const kernels *k = pick();
    memset(y, 0, sizeof(float) * s->d_model);
    const unsigned char *r = rows;
    for (uint32_t i = 0; i < n_rows; i++, r += s->row_stride)
        unit(k, s, r, bias ? bias[i] : 0.0f, x, y);
}

void lf_ffn_matvec(lf_dtype dt, const void *w, uint32_t n_rows, uint32_t cols, const float *x,
                   float *y)
{
    const kernels *k = pick();
    size_t stride = (size_t)cols * lf_dtype_bytes(dt);
    const unsigned char *r = w;
    for (uint32_t i = 0; i < n_rows; i++, r += stride)
        y[i] = dot(k, dt, x, r, cols);
}

double lf_ffn_flops(const lf_ffn_shape *s, uint64_t n_rows)
{
    /* one multiply-add (2 flops) per element of each vector */
    return 2.0 * s->vectors * (double)s->d_model * (double)n_rows;
}

double lf_ffn_bytes(const lf_ffn_shape *s, uint64_t n_rows)
{
    return (double)s->vectors * s->d_model * lf_dtype_bytes(s->dtype) * (double)n_rows;
}

/* Small fixed values, the same every measurement. */
static void fill_weights(void *buf, size_t n_el, lf_dtype dt)
{
    uint32_t state = 12345;
    for (size_t i = 0; i < n_el; i++) {
        state = state * 1664525u + 1013904223u;
        float v = ((float)(state >> 8) / 16777216.0f - 0.5f) * 0.01f;
        if (dt == LF_DTYPE_FP16)
            ((uint16_t *)buf)[i] = lf_float_to_half(v);
        else
            ((float *)buf)[i] = v;
    }
}

/* The buffers of a bench: weights of `bytes`, bias of n_bias floats, x and y. */
/* borrow: NULL, or weights of another bench to read instead of bytes of new ones */
static int bench_alloc(lf_ffn_bench *b, void *borrow, size_t bytes, uint32_t n_bias, uint32_t nx,
                       uint32_t ny, lf_err *err)
{
    /* the pages the executor computes on: rows (lf_io_alloc) and resident weights */
    b->w = borrow ? borrow : lf_bigmem_alloc(bytes ? bytes : 1);
    b->w_bytes = bytes;
    b->w_borrowed = borrow != NULL;
    b->bias = n_bias ? malloc(sizeof(float) * n_bias) : NULL;
    b->x = malloc(sizeof(float) * nx);
    b->y = malloc(sizeof(float) * ny);
    if (!b->w || (n_bias && !b->bias) || !b->x || !b->y) {
        lf_ffn_bench_free(b);
        return lf_fail(err, LF_ENOMEM, "ffn bench: cannot allocate %zu bytes of weights", bytes);
    }
    for (uint32_t i = 0; i < n_bias; i++)
        b->bias[i] = 1.0f;
    for (uint32_t i = 0; i < nx; i++)
        b->x[i] = (float)(i % 7) * 0.01f;
    return LF_OK;
}

int lf_ffn_bench_sparse(lf_ffn_bench *b, const lf_model *m, lf_dtype dt, uint32_t n_rows,
                        lf_err *err)
{
    return lf_ffn_bench_sparse_gapped(b, m, dt, n_rows, 0, err);
}

int lf_ffn_bench_sparse_gapped(lf_ffn_bench *b, const lf_model *m, lf_dtype dt, uint32_t n_rows,
                               size_t gap_bytes, lf_err *err)
{
    memset(b, 0, sizeof *b);
    if (n_rows == 0 || m->d_model == 0)
        return lf_fail(err, LF_EINVAL, "ffn measure: need rows > 0 and d_model > 0");
    lf_ffn_shape_packed(&b->shape, m, dt);
    b->shape.row_stride += gap_bytes;
    b->dtype = dt;
    b->rows = n_rows;
    size_t bytes = b->shape.row_stride * n_rows;
    int rc = bench_alloc(b, NULL, bytes, n_rows, m->d_model, m->d_model, err);
    if (rc == LF_OK)
        fill_weights(b->w, bytes / lf_dtype_bytes(dt), dt);
    return rc;
}

int lf_ffn_bench_sparse_view(lf_ffn_bench *b, const lf_ffn_bench *over, const lf_model *m,
                             uint32_t n_rows, lf_err *err)
{
    memset(b, 0, sizeof *b);
    if (n_rows == 0 || m->d_model == 0)
        return lf_fail(err, LF_EINVAL, "ffn measure: need rows > 0 and d_model > 0");
    lf_ffn_shape_packed(&b->shape, m, over->dtype);
    b->dtype = over->dtype;
    b->rows = n_rows;
    size_t bytes = b->shape.row_stride * n_rows;
    if (bytes > over->w_bytes)
        return lf_fail(err, LF_EINVAL, "ffn measure: %u rows of %zu bytes do not fit the %zu "
                       "bytes of weights they would read", n_rows, b->shape.row_stride,
                       over->w_bytes);
    return bench_alloc(b, over->w, bytes, n_rows, m->d_model, m->d_model, err);
}

int lf_ffn_bench_dense_view(lf_ffn_bench *b, const lf_ffn_bench *over, uint32_t cols,
                            lf_err *err)
{
    memset(b, 0, sizeof *b);
    size_t row = (size_t)cols * lf_dtype_bytes(over->dtype);
    if (row == 0 || over->w_bytes / row == 0 || over->w_bytes / row > UINT32_MAX)
        return lf_fail(err, LF_EINVAL, "dense measure: rows of %u columns do not fit the %zu "
                       "bytes of weights they would read", cols, over->w_bytes);
    b->dtype = over->dtype;
    b->rows = (uint32_t)(over->w_bytes / row);
    b->cols = cols;
    return bench_alloc(b, over->w, b->rows * row, 0, cols, b->rows, err);
}

int lf_ffn_bench_dense(lf_ffn_bench *b, lf_dtype dt, uint32_t rows, uint32_t cols, lf_err *err)
{
    memset(b, 0, sizeof *b);
    if (rows == 0 || cols == 0)
        return lf_fail(err, LF_EINVAL, "dense measure: need rows > 0 and cols > 0");
    b->dtype = dt;
    b->rows = rows;
    b->cols = cols;
    size_t n_el = (size_t)rows * cols;
    int rc = bench_alloc(b, NULL, n_el * lf_dtype_bytes(dt), 0, cols, rows, err);
    if (rc == LF_OK)
        fill_weights(b->w, n_el, dt);
    return rc;
}

int lf_ffn_bench_dense_ref(lf_ffn_bench *b, lf_dtype dt, lf_err *err)
{
    uint64_t rows = LF_DENSE_REF_BYTES / LF_DENSE_REF_COLS / lf_dtype_bytes(dt);
    return lf_ffn_bench_dense(b, dt, (uint32_t)rows, LF_DENSE_REF_COLS, err);
}

static void bench_once(const lf_ffn_bench *b)
{
    if (b->cols)
        lf_ffn_matvec(b->dtype, b->w, b->rows, b->cols, b->x, b->y);
    else
        lf_ffn_sparse(&b->shape, b->w, b->bias, b->rows, b->x, b->y);
}

void lf_ffn_bench_time(const lf_ffn_bench *b, double min_seconds, double *flops_per_s,
                       double *bytes_per_s)
{
    bench_once(b); /* warm */
    uint64_t reps = 0;
    double t0 = lf_now(), t;
    do {
        bench_once(b);
        reps++;
        t = lf_now() - t0;
    } while (t < min_seconds);
    double n_el = (double)b->rows * b->cols;
    double flops = b->cols ? 2.0 * n_el : lf_ffn_flops(&b->shape, b->rows);
    double bytes = b->cols ? n_el * lf_dtype_bytes(b->dtype) : lf_ffn_bytes(&b->shape, b->rows);
    *flops_per_s = flops * (double)reps / t;
    *bytes_per_s = bytes * (double)reps / t;
}

void lf_ffn_bench_free(lf_ffn_bench *b)
{
    if (!b->w_borrowed)
        free(b->w);
    free(b->bias), free(b->x), free(b->y);
    memset(b, 0, sizeof *b);
}

int lf_ffn_measure(const lf_model *m, lf_dtype dt, uint32_t n_rows, double min_seconds,
                   double *flops_per_s, double *bytes_per_s, lf_err *err)
{
    lf_ffn_bench b;
    int rc = lf_ffn_bench_sparse(&b, m, dt, n_rows, err);
    if (rc == LF_OK)
        lf_ffn_bench_time(&b, min_seconds, flops_per_s, bytes_per_s);
    lf_ffn_bench_free(&b);
    return rc;
}
