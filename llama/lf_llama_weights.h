/* lf_llama_weights: a llama2.c checkpoint as the executor sees it: its model shape
 * (lf_model) and its real FFN weights as the values of a weights file (lf_weights_make).
 * Plain values; the spec points at the lf_llama and the lf_model, which must outlive the
 * lf_weights_make call. */
#ifndef LF_LLAMA_WEIGHTS_H
#define LF_LLAMA_WEIGHTS_H

#include "lf_err.h"
#include "lf_llama.h"
#include "lf_model.h"
#include "lf_weights.h"

/* The checkpoint's shape: the known model named like the checkpoint file (stories260K.bin
 * -> stories260k) when its shape matches, else custom:LAYERS,DIM,HIDDEN,swiglu. */
int lf_llama_model(const lf_llama *m, lf_model *out, lf_err *err);

/* Points spec->model at *model (filled here; seed 0) for lf_llama_weights_values. The caller
 * sets layout, dtype, alignment and layers. */
int lf_llama_weights_spec(const lf_llama *m, lf_model *model, lf_weights_spec *spec, lf_err *err);
/* The checkpoint's FFN weights for lf_weights_make_from (ctx = the const lf_llama *): per
 * neuron i, part 0 = gate (row i of W1), 1 = up (row i of W3), 2 = down (column i of W2). */
void lf_llama_weights_values(void *ctx, uint32_t layer, uint32_t unit, uint32_t part, float *out);

#endif
