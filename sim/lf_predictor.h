/* lf_predictor: the set a token's predictor asks for. Either the trace's recorded
 * predicted sets, or a seeded error model with a false-negative rate (needed units
 * dropped: an accuracy cost) and a false-positive rate (useless units added: an I/O
 * cost, as a fraction of the needed count). The predictor owns its gsl_rng and buffers. */
#ifndef LF_PREDICTOR_H
#define LF_PREDICTOR_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_trace.h"

typedef struct lf_predictor lf_predictor;

/* fn_rate, fp_rate in [0,1]; use_recorded: take the trace's pred sets (error if absent). */
int lf_predictor_create(const lf_trace *t, double fn_rate, double fp_rate, int use_recorded,
                        uint64_t seed, lf_predictor **out, lf_err *err);
void lf_predictor_free(lf_predictor *p);

/* The predicted set for (layer, token): sorted unique, valid until the next call.
 * *fp and *fn count false positives and negatives against the needed set. */
int lf_predictor_predict(lf_predictor *p, uint32_t layer, uint32_t token, const uint32_t **want,
                         uint32_t *n_want, uint32_t *fp, uint32_t *fn, lf_err *err);

/* The largest set lf_predictor_predict can return: the recorded sets' largest, or
 * for the error model the trace's largest needed set plus as many false positives
 * (at most one per needed unit, since fp_rate <= 1). Policies size their DRAM from it. */
uint32_t lf_predictor_max_want(const lf_predictor *p);

#endif
