/* lf_quant: expert weights in fp32, fp16 and group-quantised int8 / 4-bit / 2-bit (a
 * scale and a bias, both fp16, per group of 64 weights, as Flash-MoE packs its experts),
 * and the dequantising expert SwiGLU kernel. Plain functions; the caller owns every buffer.
 * A grouped vector of n weights is [codes][n/64 scales][n/64 biases]: codes unsigned,
 * little-endian bit order (int8: a byte each; q4: element 2i in the low nibble; q2:
 * element 4i in bits 0-1); weight = scale * code + bias. */
#ifndef LF_QUANT_H
#define LF_QUANT_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_ffn.h"
#include "lf_model.h"

#define LF_QUANT_GROUP LF_MODEL_GROUP

/* fp32, fp16, int8, q4, q2 (also "4bit", "2bit"). */
int lf_quant_dtype_parse(const char *name, lf_dtype *out, lf_err *err);
/* 1 for int8, q4, q2 (grouped, no whole number of bytes per weight). */
int lf_quant_grouped(lf_dtype dt);
/* Bits of a code: 32, 16, 8, 4, 2. */
uint32_t lf_quant_bits(lf_dtype dt);
/* Bytes of n weights stored in dt (grouped: n must be a multiple of 64, else 0). */
uint64_t lf_quant_bytes(lf_dtype dt, uint64_t n);

/* Stores n floats in dt (grouped: min/max affine per group, scale and bias rounded to
 * fp16 before the codes are chosen). out holds lf_quant_bytes(dt, n) bytes. */
void lf_quant_pack(lf_dtype dt, const float *in, uint64_t n, void *out);
/* The stored values as floats. */
void lf_quant_unpack(lf_dtype dt, const void *in, uint64_t n, float *out);

/* out[r] = sum_c W[r][c] x[c] for a row-major rows x cols matrix stored in dt
 * (grouped: cols a multiple of 64), dequantised on the fly. */
void lf_quant_matvec(lf_dtype dt, const void *w, uint32_t rows, uint32_t cols, const float *x,
                     float *out);

/* One expert record: gate (d_ff x d_model), up (d_ff x d_model), down (d_model x d_ff),
 * each vector_bytes = lf_quant_bytes(dt, d_model*d_ff), back to back. */
typedef struct {
    lf_dtype dt;
    uint32_t d_model, d_ff;
    uint64_t vector_bytes;
} lf_quant_expert;

void lf_quant_expert_init(lf_quant_expert *e, lf_dtype dt, uint32_t d_model, uint32_t d_ff);
/* Floats of scratch lf_quant_expert_swiglu needs. */
uint64_t lf_quant_expert_scratch(const lf_quant_expert *e);
/* y += weight * down(silu(gate x) * (up x)). */
void lf_quant_expert_swiglu(const lf_quant_expert *e, const void *record, const float *x,
                            float weight, float *y, float *scratch);

/* Measures the expert kernel for about min_seconds: seconds per expert (dequantisation
 * and three matrix-vector products), cycling over copies of one record that together
 * fill LF_QUANT_MEASURE_BYTES, so that every expert is read from DRAM as the
 * executor's are. One 4096 x 1024 record computed again and again stays in the
 * last-level cache: on this project's host (2026-11-29, 10 rounds) fp16 ran at 14.0 G
 * weights/s hot against 8.5-12.7 cold, int8 15.0 against 12.9-14.3; q4 and q2, bound by
 * the dequantisation, alike. */
#define LF_QUANT_MEASURE_BYTES ((uint64_t)256 << 20)
int lf_quant_measure(lf_dtype dt, uint32_t d_model, uint32_t d_ff, double min_seconds,
                     double *s_per_expert, lf_err *err);

#endif
