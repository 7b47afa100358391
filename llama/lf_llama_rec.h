/* lf_llama_rec: recording a llama2.c model's real FFN activations into a trace (which
 * neurons each token needs, per layer), and replaying a recorded token sequence through
 * the model to see its FFN inputs again. The caller owns the lf_llama and the lf_trace;
 * lf_trace_free releases what lf_llama_record put in the trace. */
#ifndef LF_LLAMA_REC_H
#define LF_LLAMA_REC_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "lf_err.h"
#include "lf_llama.h"
#include "lf_trace.h"

/* The recording rule. Neuron i of a layer is active for a token when
 *   |h_i| >= threshold                    (absolute), or
 *   |h_i| >= threshold * max_j |h_j|      (relative: per token and layer, threshold in [0,1]).
 * threshold 0 therefore records every neuron (0% sparsity). Writes the active ids (ascending)
 * and |h| into ids/vals (n entries each, vals may be NULL); returns the count. */
uint32_t lf_llama_select(const float *h, uint32_t n, double threshold, int relative,
                         uint32_t *ids, float *vals);

typedef struct {
    double threshold;
    int relative;
    uint32_t steps;    /* trace tokens (forward passes) to record */
    float temperature; /* 0 = greedy */
    uint64_t seed;     /* sampling seed (temperature > 0) */
} lf_llama_rec_opts;

/* Runs the model from `prompt` (BOS first) for o->steps forward passes, recording each
 * pass as one trace token: the input token id and, per layer, the active set and |h|.
 * When a sequence reaches seq_len or the model produces BOS, a new one starts from BOS at
 * position 0 (the prompt is fed only once). The trace is initialised here: kind neurons,
 * `model` as given, source "recorded", the rule and settings in `generator`. */
int lf_llama_record(lf_llama *m, const char *model, const int32_t *prompt, uint32_t n_prompt,
                    const lf_llama_rec_opts *o, lf_trace *t, lf_err *err);

/* The recording machinery on its own, for drivers with their own loop: start initialises
 * t as lf_llama_record does and installs m's observe hook, which appends each layer's set;
 * the driver ends each pass with lf_trace_end_token; stop restores m's hooks. */
typedef struct {
    lf_trace *t;
    double threshold;
    int relative;
    uint32_t *ids;
    float *vals;
    lf_llama_hooks saved;
} lf_llama_recorder;
int lf_llama_recorder_start(lf_llama_recorder *r, lf_llama *m, const char *model,
                            const lf_llama_rec_opts *o, uint32_t n_prompt, lf_trace *t,
                            lf_err *err);
void lf_llama_recorder_stop(lf_llama_recorder *r, lf_llama *m);

/* Feeds tokens[0..n) through the model, position restarting at 0 at every BOS (the
 * layout lf_llama_record produces), with `observe` called for every layer of every
 * token (its pos argument is the token's index in `tokens`, not its position). */
int lf_llama_replay(lf_llama *m, const int32_t *tokens, uint32_t n, lf_llama_observe_fn observe,
                    void *ctx, lf_err *err);

/* Reads "threshold=X relative=R" back from a recorded trace's generator string. */
int lf_llama_rec_rule(const lf_trace *t, const char *what, double *threshold, int *relative,
                      lf_err *err);

#endif
