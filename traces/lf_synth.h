/* lf_synth: synthetic neuron and expert traces from a seeded generative model (GSL
 * mt19937 streams, one per layer); see traces/README.md. The caller owns the params
 * (and the arrays they point to) and the output trace, which lf_trace_free releases. */
#ifndef LF_SYNTH_H
#define LF_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"
#include "lf_trace.h"
#include "lf_synth_moe.h"

/* Neuron model parameters (kind=neurons), the seed, and the expert model. */
typedef struct {
    double sparsity;             /* mean fraction of inactive neurons; < 0 = model default */
    const double *layer_sparsity; /* NULL, or n_layers values overriding sparsity */
    double persistence;          /* lag-1 autocorrelation of each neuron's on/off chain, [0,1] */
    double skew;                 /* sigma of the lognormal activation probabilities, >= 0 */
    double p_max;                /* cap on one neuron's activation probability, (0,1] */
    uint32_t groups;             /* co-activation groups per layer (0 = none) */
    uint32_t group_size;         /* neurons per group (disjoint groups) */
    double group_strength;       /* share of the least active member's rate driven by the
                                  * group's latent state, [0,1] */
    uint64_t seed;
    uint32_t dtype_bytes;        /* bytes per weight recorded in the trace (default 2) */
    lf_synth_expert_params experts;
    lf_synth_progress_fn progress; /* NULL = none */
    void *progress_arg;
} lf_synth_params;

/* Defaults: see traces/README.md (sparsity from the model, persistence 0.6, skew 1.5,
 * p_max 0.95, no groups (size 8, strength 0.5), seed 1, dtype_bytes 2; experts zipf 0.9, reuse 0.35). */
void lf_synth_defaults(lf_synth_params *p);

/* Checks the parameters against the model; the message names the parameter and range. */
int lf_synth_check(const lf_model *m, const lf_synth_params *p, lf_err *err);

/* Generates n_tokens tokens for every layer of model m into *out (initialised here;
 * free with lf_trace_free, also after an error). Same inputs, same bits. */
int lf_synth_generate(const lf_model *m, uint32_t n_tokens, const lf_synth_params *p,
                      lf_trace *out, lf_err *err);

#endif
