/* lf_synth_moe: synthetic expert (MoE) routing traces, the expert half of lf_synth
 * (which calls it for expert models). The caller owns the params and the output trace. */
#ifndef LF_SYNTH_MOE_H
#define LF_SYNTH_MOE_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"
#include "lf_trace.h"

/* Expert (MoE) routing model. `trace fit` may fill these from a real trace. */
typedef struct {
    uint32_t top_k;           /* experts routed per token and layer; 0 = the model's */
    double zipf;              /* popularity: weight of the r-th most popular expert ~ r^-zipf */
    double reuse;             /* probability that each expert of the previous token is kept */
    const double *layer_reuse; /* NULL, or n_layers values overriding reuse */
    const double *popularity; /* NULL, or n_layers*n_experts weights (layer-major, >= 0)
                               * overriding zipf; row l is layer l's expert weights */
} lf_synth_expert_params;

/* Called after each generated token when non-NULL (for a progress line). */
typedef void (*lf_synth_progress_fn)(uint32_t done, uint32_t total, void *arg);

/* Generates n_tokens tokens of routing for every layer of expert model m into *out
 * (initialised by the caller). Layer l draws from the mt19937 stream
 * lf_mix_stream_seed(seed, l). Same inputs, same bits. */
int lf_synth_moe_generate(const lf_model *m, uint32_t n_tokens, const lf_synth_expert_params *X,
                          uint64_t seed, lf_synth_progress_fn progress, void *progress_arg,
                          lf_trace *out, lf_err *err);

#endif
