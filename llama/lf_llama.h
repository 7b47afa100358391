/* lf_llama: a llama2.c checkpoint (legacy v0 and version-1 fp32 exports) mapped read-only,
 * its dense forward pass (RMSNorm, RoPE, grouped-query attention with a KV cache, SwiGLU
 * FFN, classifier), sampling, and per-layer FFN hooks (observe h, or replace the FFN).
 * An lf_llama owns its mapping and run state; lf_llama_close releases them. Weight
 * pointers point into the mapping and live until lf_llama_close. */
#ifndef LF_LLAMA_H
#define LF_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "lf_err.h"

#define LF_LLAMA_BOS 1
#define LF_LLAMA_EOS 2

typedef struct {
    uint32_t dim;        /* d_model */
    uint32_t hidden_dim; /* d_ff: FFN neurons per layer */
    uint32_t n_layers;
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t vocab_size;
    uint32_t seq_len;
    int shared_classifier; /* classifier = token embedding */
    int version;           /* 0 legacy (7-int header), 1 llama2.c export v1 (fp32) */
    uint64_t header_bytes; /* 28 or 256 */
    uint64_t expected_bytes;
} lf_llama_config;

/* The FFN input x (dim floats, after the FFN RMSNorm) and h = silu(W1 x) * (W3 x)
 * (hidden_dim floats) of one layer at one position. Return non-zero (an lf_status with
 * err filled) to stop the forward pass. */
typedef int (*lf_llama_observe_fn)(void *ctx, uint32_t layer, uint32_t pos, const float *x,
                                   const float *h, lf_err *err);
/* Replaces the FFN of one layer: out (dim floats) = W2 (silu(W1 x) * (W3 x)) or an
 * approximation of it (a sparse or streamed FFN). */
typedef int (*lf_llama_ffn_fn)(void *ctx, uint32_t layer, uint32_t pos, const float *x,
                               float *out, lf_err *err);

typedef struct {
    lf_llama_observe_fn observe; /* called after the dense FFN computed h (not with ffn) */
    void *observe_ctx;
    lf_llama_ffn_fn ffn; /* when set, the dense FFN is not computed */
    void *ffn_ctx;
} lf_llama_hooks;

/* One layer's FFN weights, row-major as llama2.c stores them. */
typedef struct {
    const float *w1; /* gate [hidden_dim][dim]: neuron i's gate vector is row i */
    const float *w3; /* up   [hidden_dim][dim]: row i */
    const float *w2; /* down [dim][hidden_dim]: neuron i's down vector is column i */
} lf_llama_ffn;

typedef struct {
    lf_llama_config cfg;
    char path[1024];
    /* weights (into the mapping) */
    const float *tok_emb, *rms_att, *rms_ffn, *rms_final;
    const float *wq, *wk, *wv, *wo, *w1, *w2, *w3, *wcls;
    /* mapping */
    void *map;
    size_t map_len;
    /* run state */
    float *x, *xb, *xb2, *q, *hb, *hb2, *att, *logits;
    float *key_cache, *value_cache; /* [layer][seq_len][kv_dim] */
    lf_llama_hooks hooks;
    uint32_t pos; /* position of the pass under way (lf_llama_begin) */
} lf_llama;

/* Reads the header of `path` and checks its length against it: a file that is shorter or
 * longer than the header implies is refused, saying by how many bytes. */
int lf_llama_read_config(const char *path, lf_llama_config *cfg, lf_err *err);
/* Maps the checkpoint and allocates the run state. */
int lf_llama_open(lf_llama *m, const char *path, lf_err *err);
void lf_llama_close(lf_llama *m);

/* One forward pass for `token` at position `pos` (0 <= pos < seq_len; positions must be
 * fed in order 0,1,2,... for the KV cache to be valid). *logits (vocab_size floats) is
 * owned by m and valid until the next call. */
int lf_llama_forward(lf_llama *m, int32_t token, uint32_t pos, float **logits, lf_err *err);

/* The same pass step by step, for a driver that owns the layer loop (the streamed FFN):
 * begin (embedding), then per layer attend (attention and its residual; returns the FFN
 * input x, dim floats owned by m) and add (x += the FFN output), then finish (logits,
 * owned by m). The hooks are not called. */
int lf_llama_begin(lf_llama *m, int32_t token, uint32_t pos, lf_err *err);
const float *lf_llama_attend(lf_llama *m, uint32_t layer);
void lf_llama_add(lf_llama *m, const float *out);
float *lf_llama_finish(lf_llama *m);

void lf_llama_ffn_weights(const lf_llama *m, uint32_t layer, lf_llama_ffn *out);
/* The dense SwiGLU FFN of `layer` on x: fills h (hidden_dim) and out (dim). */
void lf_llama_ffn_dense(const lf_llama *m, uint32_t layer, const float *x, float *h,
                        float *out);

/* Smallest temperature > 0 accepted (below it, logits / T overflows). */
#define LF_LLAMA_MIN_TEMPERATURE 1e-3f

/* Sampling. argmax: the first index of the largest logit. sample: temperature > 0,
 * softmax(logits / temperature) in place, then one draw from rng. */
uint32_t lf_llama_argmax(const float *logits, uint32_t n);
uint32_t lf_llama_sample(float *logits, uint32_t n, float temperature, gsl_rng *rng);

/* The llama2.c generation loop: position 0 gets prompt[0] (the BOS), the prompt is fed
 * (forced) while pos < n_prompt - 1, then tokens are sampled (greedy when temperature is
 * 0); it stops after `steps` positions (capped at seq_len) or when BOS is produced.
 * ids (malloc'ed, caller frees) receives the sequence: prompt[0] then each next token.
 * on_step, when set, sees each position's logits before sampling (and may stop the
 * loop by returning non-zero). rng may be NULL for greedy. */
typedef int (*lf_llama_step_fn)(void *ctx, uint32_t pos, int32_t token, const float *logits,
                                lf_err *err);
int lf_llama_generate(lf_llama *m, const int32_t *prompt, uint32_t n_prompt, uint32_t steps,
                      float temperature, gsl_rng *rng, lf_llama_step_fn on_step, void *step_ctx,
                      int32_t **ids, uint32_t *n_ids, lf_err *err);

#endif
