/* lf_model: the shapes of the models llmflash knows by name (docs/DESIGN.md section 1) with
 * their attention head layouts, and the sizes derived from them: bytes of one FFN unit,
 * of the FFN, of the resident part. Plain values; nothing to free. */
#ifndef LF_MODEL_H
#define LF_MODEL_H

#include <stdint.h>

#include "lf_err.h"

typedef enum { LF_UNITS_NEURONS = 0, LF_UNITS_EXPERTS = 1 } lf_unit_kind;
typedef enum { LF_ACT_RELU = 0, LF_ACT_SWIGLU = 1 } lf_activation;

typedef struct {
    char name[64];
    lf_unit_kind kind;
    lf_activation act;
    uint32_t n_layers;
    uint32_t d_model;
    uint32_t d_ff;          /* FFN width; for MoE the width of one expert */
    uint32_t n_experts;     /* MoE only; 0 for dense models */
    uint32_t top_k;         /* MoE only: experts routed per token and layer */
    uint32_t vocab;         /* embedding rows (0: no embedding or output head priced) */
    /* Attention: n_heads query heads of head_dim, n_kv_heads key/value heads shared by
     * n_heads / n_kv_heads query heads each (== n_heads: multi-head; 1: multi-query;
     * else grouped-query). Q is d_model x n_heads*head_dim, K and V d_model x
     * n_kv_heads*head_dim, O n_heads*head_dim x d_model. */
    uint32_t n_heads, n_kv_heads, head_dim;
    uint32_t tied_embeddings; /* 1: the output head is the embedding table (one copy) */
    uint32_t shared_ff;       /* MoE: width of the always-active shared expert(s); 0: none */
    double default_sparsity;  /* published fraction of inactive FFN neurons (0 for MoE) */
    double published_params;  /* the model's published parameter count (0: none) */
} lf_model;

/* Looks a model up by name ("opt-6.7b", ..., or
 * "custom:LAYERS,DMODEL,DFF[,relu|swiglu][,heads=H][,kv=K][,vocab=V]"; a custom shape has
 * head_dim 64 when 64 divides DMODEL, else one head of DMODEL; kv defaults to heads).
 * Unknown names give an error that lists the known ones. */
int lf_model_lookup(const char *name, lf_model *out, lf_err *err);

/* Comma-separated list of the known names, for --help. */
const char *lf_model_names(void);
/* The i-th known shape (i < lf_model_count()), for tests and listings. */
uint32_t lf_model_count(void);
const lf_model *lf_model_at(uint32_t i);

/* Units streamed per layer: d_ff neurons, or n_experts experts. */
uint32_t lf_model_units(const lf_model *m);
/* Weight vectors per neuron: 2 (up column + down row) for ReLU, 3 for SwiGLU. */
uint32_t lf_model_vectors_per_neuron(const lf_model *m);
/* Payload bytes of one unit (no padding): a neuron's vectors, or a whole expert. */
uint64_t lf_model_unit_bytes(const lf_model *m, uint32_t dtype_bytes);
/* Bytes of n weights stored in `bits`: 32 and 16 whole (n x 4, n x 2); 8, 4 and 2
 * group-quantised as Flash-MoE packs its experts, the codes then an fp16 scale and an
 * fp16 bias per group of LF_MODEL_GROUP weights (bench/lf_quant.h); 0 for other widths
 * or when n is not a whole number of groups. */
#define LF_MODEL_GROUP 64
uint64_t lf_model_weights_bytes(uint64_t n, uint32_t bits);
/* FFN bytes of one layer and of the whole model (streamed units only). */
uint64_t lf_model_ffn_layer_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_ffn_bytes(const lf_model *m, uint32_t dtype_bytes);
/* Query width (n_heads*head_dim) and key/value width (n_kv_heads*head_dim). */
uint32_t lf_model_q_dim(const lf_model *m);
uint32_t lf_model_kv_dim(const lf_model *m);
/* Bytes that stay in DRAM: attention (Q, K, V, O of every layer), embeddings (the table,
 * and the output head when not tied), an MoE model's shared experts, and a predictor of
 * rank `predictor_rank` per layer (d_model*r + r*units; 0 for none). */
uint64_t lf_model_attention_layer_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_attention_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_shared_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_embedding_bytes(const lf_model *m, uint32_t dtype_bytes);
/* The output head's bytes (vocab x d_model; streamed every token, tied or not). */
uint64_t lf_model_head_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_predictor_bytes(const lf_model *m, uint32_t dtype_bytes, uint32_t rank);
uint64_t lf_model_total_bytes(const lf_model *m, uint32_t dtype_bytes);
/* Total parameters (FFN + attention + embeddings), the figure published counts give. */
double lf_model_params(const lf_model *m);

#endif
