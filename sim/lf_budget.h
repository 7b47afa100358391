/* lf_budget: the DRAM budget of a run: the resident part (embeddings, attention,
 * predictor) plus the FFN cache must fit; the cache's capacity in units per layer.
 * Plain values; nothing to free. */
#ifndef LF_BUDGET_H
#define LF_BUDGET_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"

typedef struct {
    uint64_t model_bytes;     /* lf_model_total_bytes: FFN + attention + embeddings */
    uint64_t ffn_bytes;
    uint64_t embedding_bytes, attention_bytes, predictor_bytes;
    uint64_t shared_bytes;    /* an MoE model's shared experts (always computed with) */
    uint64_t resident_bytes;  /* embeddings + attention + predictor + shared experts */
    uint64_t budget_bytes;    /* DRAM allowed in all */
    uint64_t row_bytes;       /* DRAM bytes of one cached unit (its vectors as stored,
                               * unpadded) */
    uint64_t capacity;        /* units per layer the FFN cache holds (<= units) */
    uint32_t predictor_rank;
} lf_budget;

/* budget_bytes > 0 is used as is; otherwise fraction (0..1] of model_bytes. The FFN
 * capacity per layer is (budget - resident) / (n_layers * row_bytes), capped at the
 * units per layer. A budget below the resident part is an error saying what fits.
 * unit_bytes > 0: a streamed unit's bytes as stored (quantised experts) instead of
 * dtype_bytes per weight; the resident part stays at dtype_bytes. */
int lf_budget_compute(const lf_model *m, uint32_t dtype_bytes, uint64_t unit_bytes,
                      double fraction, uint64_t budget_bytes, uint32_t predictor_rank,
                      lf_budget *out, lf_err *err);

#endif
