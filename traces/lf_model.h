/* lf_model: the shapes of the models llmflash knows by name (docs/DESIGN.md section 1),
 * and the sizes derived from them: bytes of one FFN unit, of the FFN, of the resident
 * part. Plain values; nothing to free. */
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
    uint32_t vocab;         /* for the embedding's share of the resident part */
    uint32_t kv_dim;        /* d_model / n_heads * n_kv_heads (== d_model without GQA) */
    double default_sparsity; /* published fraction of inactive FFN neurons (0 for MoE) */
} lf_model;

/* Looks a model up by name ("opt-6.7b", ..., or "custom:LAYERS,DMODEL,DFF[,relu|swiglu]").
 * Unknown names give an error that lists the known ones. */
int lf_model_lookup(const char *name, lf_model *out, lf_err *err);

/* Comma-separated list of the known names, for --help. */
const char *lf_model_names(void);

/* Units streamed per layer: d_ff neurons, or n_experts experts. */
uint32_t lf_model_units(const lf_model *m);
/* Weight vectors per neuron: 2 (up column + down row) for ReLU, 3 for SwiGLU. */
uint32_t lf_model_vectors_per_neuron(const lf_model *m);
/* Payload bytes of one unit (no padding): a neuron's vectors, or a whole expert. */
uint64_t lf_model_unit_bytes(const lf_model *m, uint32_t dtype_bytes);
/* FFN bytes of one layer and of the whole model. */
uint64_t lf_model_ffn_layer_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_ffn_bytes(const lf_model *m, uint32_t dtype_bytes);
/* Bytes that stay in DRAM: embeddings, attention, and a predictor of rank
 * `predictor_rank` per layer (d_model*r + r*units parameters; 0 for none). */
uint64_t lf_model_attention_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_embedding_bytes(const lf_model *m, uint32_t dtype_bytes);
uint64_t lf_model_predictor_bytes(const lf_model *m, uint32_t dtype_bytes, uint32_t rank);
uint64_t lf_model_total_bytes(const lf_model *m, uint32_t dtype_bytes);

#endif
