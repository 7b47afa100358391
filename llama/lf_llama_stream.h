/* lf_llama_stream: a llama2.c model whose FFN is read from flash. Attention, norms and
 * embeddings stay in DRAM (the mapped checkpoint); each layer's FFN neurons come through
 * the shared replay loop (policy, DRAM manager, layout, reader) and the executor (I/O
 * engine, sparse FFN) from a weights file made with `weights make --checkpoint`.
 * An lf_llama_stream_result owns its id arrays (lf_llama_stream_result_free). */
#ifndef LF_LLAMA_STREAM_H
#define LF_LLAMA_STREAM_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_llama.h"

typedef struct {
    const char *weights;  /* weights file holding this checkpoint's FFN */
    const char *policy;   /* NULL = "window:k=4" */
    const char *engine;   /* NULL = "psync" (O_DIRECT) */
    uint32_t inflight;    /* reads in flight; 0 = 4 */
    double dram_fraction; /* DRAM budget as a fraction of the model; 0 = 1 (all fits) */
    uint64_t dram_bytes;  /* the budget in bytes instead; 0 = dram_fraction's */
    double threshold;     /* the neurons a token needs: the recording rule on the dense h */
    int relative;
    uint32_t steps;       /* positions, as lf_llama_generate */
    uint32_t predictor_rank;  /* 0: load the rule's sets (a perfect predictor); else load
                               * the sets of the rank-r SVD predictor (lf_lowrank) */
    double predictor_scale;   /* its threshold multiplier (0 = 1) */
} lf_llama_stream_opts;

typedef struct {
    int32_t *dense_ids;    /* the dense greedy sequence (BOS first), n_dense entries */
    uint32_t n_dense;
    int32_t *stream_ids;   /* BOS, then per position the prompt token or the streamed model's
                            * greedy choice; n_stream = positions + 1 */
    uint32_t n_stream;
    uint32_t positions;    /* forward passes compared */
    uint32_t same;         /* positions where the streamed and dense argmax agree */
    uint32_t first_diff;   /* first such position that differs; == positions if none */
    double mean_abs_logit_diff, max_abs_logit_diff;
    double sparsity;       /* share of neurons not needed (the rule), over all steps */
    uint64_t bytes_read, reads;
    uint64_t dense_bytes;  /* reading every layer's whole FFN region for every position */
    double io_ms, mem_ms, compute_ms; /* FFN stream totals, measured */
    double mean_resident;  /* neurons resident per layer after a step, mean */
    double pred_recall, pred_precision; /* the predictor's sets against the rule's (1 if none) */
} lf_llama_stream_result;

/* Runs the dense model greedily from `prompt` (recording, per position and layer, the
 * neurons whose |h| passes the rule), then the streamed model on the same token sequence
 * (teacher-forced, so logits compare position by position). m is used for the dense run;
 * a second instance of the same checkpoint runs the streamed one. */
int lf_llama_stream(lf_llama *m, const int32_t *prompt, uint32_t n_prompt,
                    const lf_llama_stream_opts *o, lf_llama_stream_result *r, lf_err *err);
void lf_llama_stream_result_free(lf_llama_stream_result *r);

#endif
