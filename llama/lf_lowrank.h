/* lf_lowrank: rank-r predictors of which FFN neurons a token needs, computed from the FFN
 * input x before any FFN weight is read; built per layer from the weights (truncated SVD
 * of the gate and up projections) or fitted to recorded activations (ridge least squares,
 * then truncated), and scored against recorded sets. An lf_lowrank owns its factors and
 * an lf_lowrank_sets its arrays; the _free functions release them. */
#ifndef LF_LOWRANK_H
#define LF_LOWRANK_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_trace.h"

typedef enum { LF_LOWRANK_SVD = 0, LF_LOWRANK_LSQ = 1 } lf_lowrank_method;

typedef struct {
    lf_lowrank_method method;
    uint32_t rank, dim, hidden, in; /* in = dim (svd) or dim + 1 (lsq: a bias column) */
    /* svd: g = ag (bg x), u = au (bu x), score = silu(g) * u  (approximates h)
     * lsq: score = ag (bg [x; 1])                             (approximates |h|)
     * a*: hidden x rank, b*: rank x in, row-major; au/bu NULL for lsq. */
    double *ag, *bg, *au, *bu;
    double *tmp; /* rank + 2 * hidden doubles, scratch for lf_lowrank_score */
} lf_lowrank;

/* W1 (gate) and W3 (up) are hidden x dim, row-major (llama2.c layout). The factors are the
 * rank-r truncated SVDs W ~ (U_r S_r)(V_r^T), from GSL's gsl_linalg_SV_decomp. */
int lf_lowrank_from_weights(lf_lowrank *p, const float *w1, const float *w3, uint32_t dim,
                            uint32_t hidden, uint32_t rank, lf_err *err);
/* Fits |h| ~ B [x; 1] on n samples (x: n x dim, h: n x hidden, row-major) by ridge least
 * squares (lambda = ridge * mean diagonal of the Gram matrix), then truncates B to rank r. */
int lf_lowrank_fit(lf_lowrank *p, const float *x, const float *h, uint32_t n, uint32_t dim,
                   uint32_t hidden, uint32_t rank, double ridge, lf_err *err);
void lf_lowrank_free(lf_lowrank *p);
/* Parameters a deployment would keep resident (both factors, both matrices for svd). */
uint64_t lf_lowrank_params(const lf_lowrank *p);
/* score (hidden floats) for one input x (dim floats). */
void lf_lowrank_score(const lf_lowrank *p, const float *x, float *score);

/* How a score becomes a predicted set. by_count: the top n_true neurons by |score| (n_true
 * = the recorded set's size: an oracle on the size, used to compare ranks); otherwise the
 * recording rule with the threshold multiplied by `scale` (scale < 1 trades precision for
 * recall). */
typedef struct {
    double threshold;
    int relative;
    double scale;
    int by_count;
} lf_lowrank_select;

/* Predicted sets of one layer, built token by token (the trace's CSR form). */
typedef struct {
    uint64_t *indptr; /* n_tokens + 1 */
    uint32_t *index;
    uint64_t nnz, cap;
    uint32_t n_tokens, tokens_cap;
} lf_lowrank_sets;

typedef struct {
    uint64_t tokens, n_true, n_pred, tp; /* sums over tokens */
} lf_lowrank_stats;

void lf_lowrank_sets_free(lf_lowrank_sets *s);

/* Predicts tokens [tok0, tok1) of `layer`: x holds their inputs (row tok - tok0), the trace
 * their recorded sets. Adds to *st and appends the sets to *out (tokens must be appended in
 * trace order). */
int lf_lowrank_eval(const lf_lowrank *p, const lf_trace *t, uint32_t layer, const float *x,
                    uint32_t tok0, uint32_t tok1, const lf_lowrank_select *sel,
                    lf_lowrank_stats *st, lf_lowrank_sets *out, lf_err *err);

#endif
