/* lf_attn: the resident (non-FFN) part of a whole token for the executor: the embedding
 * row, per layer the attention block (RMS norm, Q/K/V projections with the model's head
 * layout, multi-head, grouped-query or multi-query, a KV cache of the tokens so far,
 * softmax attention, the O projection, residual add) and the norm before the FFN, and at
 * the end the final norm and the output head (greedy: the argmax is the next token).
 * Weights are DRAM-resident, generated in memory from a seed at creation (why: see
 * bench/README.md, "Whole token"). An lf_attn owns its weights, cache and buffers. */
#ifndef LF_ATTN_H
#define LF_ATTN_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_ffn.h"
#include "lf_model.h"

typedef struct {
    const lf_model *model;  /* shape and head layout (copied) */
    lf_dtype dtype;         /* of the resident weights (the weights file's) */
    uint32_t n_layers;      /* layers held (<= model's) */
    uint32_t max_pos;       /* KV-cache positions (tokens of the run) */
    uint64_t seed;          /* weight values and the first token id */
} lf_attn_cfg;

typedef struct lf_attn lf_attn;

int lf_attn_create(const lf_attn_cfg *cfg, lf_attn **out, lf_err *err);
void lf_attn_free(lf_attn *a);

/* Starts the token at position pos: x (d_model floats) = the embedding row of the token
 * id (pos 0: from the seed; later: the previous token's argmax), or without a vocabulary
 * a unit-RMS vector from the seed. */
int lf_attn_begin(lf_attn *a, uint32_t pos, float *x, lf_err *err);
/* x += the attention block of `layer` at position pos; pos must be the layer's next
 * cache position (0, 1, 2, ... in order). */
int lf_attn_layer(lf_attn *a, uint32_t layer, uint32_t pos, float *x, lf_err *err);
/* out = x / rms(x) (d floats; the norms have unit gains). */
void lf_attn_norm(const float *x, uint32_t d, float *out);

/* The vector x (d values) a layer's FFN or experts take for `token`: at scope token
 * (res != NULL) the residual stream after attention, normed; at scope ffn a chain that
 * makes every layer's math matter to the checksum: layer 0 a fresh unit-RMS vector drawn
 * from rng reseeded with (seed, token), later layers the previous output y scaled to
 * unit RMS. Both executors (dense and expert) use it, so their inputs are the same. */
void lf_attn_layer_input(const float *res, const float *y, uint32_t d, uint32_t layer,
                         uint32_t token, uint64_t seed, gsl_rng *rng, float *x);
/* The final norm and the output head on x; keeps the argmax as the next token id. */
void lf_attn_end(lf_attn *a, const float *x);
uint32_t lf_attn_next_id(const lf_attn *a);

/* For dense references: weight (row, col) of matrix 0..3 = Q (q_dim x d_model), K, V
 * (kv_dim x d_model), O (d_model x q_dim) of a layer; a cached key (v = 0) or value
 * (v = 1) vector of kv_dim floats. */
float lf_attn_weight(const lf_attn *a, uint32_t layer, uint32_t matrix, uint32_t row,
                     uint32_t col);
const float *lf_attn_cached(const lf_attn *a, uint32_t layer, int v, uint32_t pos);

/* Bytes held: resident weights (attention and head) and the KV cache. */
uint64_t lf_attn_weight_bytes(const lf_attn *a);
uint64_t lf_attn_cache_bytes(const lf_attn *a);

#endif
