/* lf_ffn: the sparse FFN kernel over the resident rows of the DRAM manager:
 *   ReLU:   y = sum_r relu(x . up_r + b_r) * down_r
 *   SwiGLU: y = sum_r silu(x . gate_r) * (x . up_r) * down_r      (no bias)
 * Rows hold a unit's vectors in the weights file's part order (ReLU: up, down;
 * SwiGLU: gate, up, down), fp16 or fp32. Caller owns every buffer. */
#ifndef LF_FFN_H
#define LF_FFN_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"

/* INT8, Q4, Q2: group-quantised expert weights (bench/lf_quant.h); the dense kernel here
 * takes fp32 and fp16 only. */
typedef enum {
    LF_DTYPE_FP32 = 0,
    LF_DTYPE_FP16 = 1,
    LF_DTYPE_INT8 = 2,
    LF_DTYPE_Q4 = 3,
    LF_DTYPE_Q2 = 4
} lf_dtype;

typedef struct {
    lf_activation act;
    lf_dtype dtype;
    uint32_t d_model;
    uint32_t vectors;     /* 2 (ReLU) or 3 (SwiGLU) */
    size_t part_stride;   /* bytes from one vector of a row to the next */
    size_t row_stride;    /* bytes from one row to the next */
} lf_ffn_shape;

int lf_dtype_parse(const char *name, lf_dtype *out, lf_err *err);
const char *lf_dtype_name(lf_dtype d);
/* Bytes per weight: 4, 2; 0 for the grouped dtypes (lf_quant_bytes sizes them). */
uint32_t lf_dtype_bytes(lf_dtype d);

/* Fills s for a model with packed rows (part_stride = d_model*bytes). */
void lf_ffn_shape_packed(lf_ffn_shape *s, const lf_model *m, lf_dtype dt);

/* y[0..d_model) = FFN over rows [0, n_rows) (bias: n_rows floats, ignored for SwiGLU).
 * y is overwritten. Uses AVX2/FMA/F16C when the CPU has them, else portable C (also when
 * the environment sets LLMFLASH_FFN_PORTABLE, for tests and comparisons). */
void lf_ffn_sparse(const lf_ffn_shape *s, const void *rows, const float *bias, uint32_t n_rows,
                   const float *x, float *y);

/* Dense matrix-vector product with the same dot kernel: y[r] = w_r . x for rows
 * r in [0, n_rows), each row `cols` values of dtype dt, rows packed (the resident
 * attention projections and the output head of a whole token). */
void lf_ffn_matvec(lf_dtype dt, const void *w, uint32_t n_rows, uint32_t cols, const float *x,
                   float *y);

/* Floating-point operations of n_rows rows (a multiply-add counts 2) and bytes of
 * weights they stream. */
double lf_ffn_flops(const lf_ffn_shape *s, uint64_t n_rows);
double lf_ffn_bytes(const lf_ffn_shape *s, uint64_t n_rows);

/* One measurement of the kernel over n_rows rows (a bench made, timed and freed). */
int lf_ffn_measure(const lf_model *m, lf_dtype dt, uint32_t n_rows, double min_seconds,
                   double *flops_per_s, double *bytes_per_s, lf_err *err);

/* A kernel prepared for timing: its weights allocated and filled once, so that repeated
 * measurements (calibrate's interleaved rounds, validate's drift references) time the
 * kernel and not the filling. _sparse: lf_ffn_sparse over n_rows rows of m's shape;
 * _dense: lf_ffn_matvec on a rows x cols matrix. _time runs it for about min_seconds:
 * FLOP/s and weight bytes/s. The bench owns its buffers until lf_ffn_bench_free. */
typedef struct {
    lf_ffn_shape shape; /* sparse */
    lf_dtype dtype;
    uint32_t rows, cols; /* cols > 0: dense */
    void *w;
    float *bias, *x, *y;
    size_t w_bytes; /* of w */
    int w_borrowed; /* w belongs to another bench (a view, below) */
} lf_ffn_bench;
int lf_ffn_bench_sparse(lf_ffn_bench *b, const lf_model *m, lf_dtype dt, uint32_t n_rows,
                        lf_err *err);
/* The same rows with gap_bytes after each (padding the kernel skips), as a padded
 * layout's DRAM rows are: calibrate's ffn_row_gap_s against packed rows. */
int lf_ffn_bench_sparse_gapped(lf_ffn_bench *b, const lf_model *m, lf_dtype dt, uint32_t n_rows,
                               size_t gap_bytes, lf_err *err);
/* Views: several shapes timed on one buffer, without one each. _sparse_view: n_rows rows
 * of m's shape read from the weights of `over` (a bench of the same dtype holding at
 * least that many bytes); _dense_view: all of over's weights as a matrix of `cols`
 * columns (whole rows). A view owns only its vectors; free it before `over`. */
int lf_ffn_bench_sparse_view(lf_ffn_bench *b, const lf_ffn_bench *over, const lf_model *m,
                             uint32_t n_rows, lf_err *err);
int lf_ffn_bench_dense_view(lf_ffn_bench *b, const lf_ffn_bench *over, uint32_t cols,
                            lf_err *err);
int lf_ffn_bench_dense(lf_ffn_bench *b, lf_dtype dt, uint32_t rows, uint32_t cols, lf_err *err);
/* The dense reference of calibrate's dense_bw and validate's drift references: 512 MiB
 * of rows of 4096 columns (fp16: 65536 rows; fp32: 32768), streamed from DRAM as an
 * output head is. A 64 MiB matrix, the reference until stop 28, was served partly by
 * the last-level cache of this project's host (33-35 GB/s against 24-25 at 512 MiB). */
#define LF_DENSE_REF_BYTES (512ull << 20)
#define LF_DENSE_REF_COLS 4096u
int lf_ffn_bench_dense_ref(lf_ffn_bench *b, lf_dtype dt, lf_err *err);
void lf_ffn_bench_time(const lf_ffn_bench *b, double min_seconds, double *flops_per_s,
                       double *bytes_per_s);
void lf_ffn_bench_free(lf_ffn_bench *b);

/* "avx2+fma+f16c" or "portable": the path lf_ffn_sparse takes on this CPU. */
const char *lf_ffn_path(void);

#endif
