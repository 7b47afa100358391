/* DRAM budget: resident part + FFN cache capacity. */
#include "lf_budget.h"

#include <stdio.h>
#include <string.h>

#define GIB 1073741824.0 /* sizes are printed in GiB, as --dram-bytes 6g reads them */

/* Bytes in the unit that shows them (a small model's parts were all "0.000 GiB"). */
static const char *bytes_text(char buf[32], uint64_t v)
{
    if (v >= GIB)
        snprintf(buf, 32, "%.3f GiB", v / GIB);
    else if (v >= 1048576)
        snprintf(buf, 32, "%.3f MiB", v / 1048576.0);
    else if (v >= 1024)
        snprintf(buf, 32, "%.3f KiB", v / 1024.0);
    else
        snprintf(buf, 32, "%llu bytes", (unsigned long long)v);
    return buf;
}

int lf_budget_compute(const lf_model *m, uint32_t dtype_bytes, uint64_t unit_bytes,
                      double fraction, uint64_t budget_bytes, uint32_t predictor_rank,
                      lf_budget *out, lf_err *err)
{
    memset(out, 0, sizeof *out);
    out->row_bytes = unit_bytes ? unit_bytes : lf_model_unit_bytes(m, dtype_bytes);
    out->ffn_bytes = out->row_bytes * lf_model_units(m) * m->n_layers;
    out->model_bytes = lf_model_total_bytes(m, dtype_bytes) - lf_model_ffn_bytes(m, dtype_bytes) +
                       out->ffn_bytes;
    out->embedding_bytes = lf_model_embedding_bytes(m, dtype_bytes);
    out->attention_bytes = lf_model_attention_bytes(m, dtype_bytes);
    out->predictor_bytes = lf_model_predictor_bytes(m, dtype_bytes, predictor_rank);
    out->shared_bytes = lf_model_shared_bytes(m, dtype_bytes);
    out->resident_bytes = out->embedding_bytes + out->attention_bytes + out->predictor_bytes +
                          out->shared_bytes;
    out->predictor_rank = predictor_rank;
    int given_bytes = budget_bytes != 0;
    if (budget_bytes == 0) {
        if (!(fraction > 0 && fraction <= 1.0))
            return lf_fail(err, LF_EINVAL,
                           "DRAM budget: --dram-fraction %g must be in (0, 1] (or give "
                           "--dram-bytes)",
                           fraction);
        budget_bytes = (uint64_t)(fraction * (double)out->model_bytes);
    }
    out->budget_bytes = budget_bytes;
    if (budget_bytes < out->resident_bytes) {
        /* the fix that exists: a fraction of at most 1, else bytes (the predictor can make
         * the resident part larger than the model) */
        double need = (double)out->resident_bytes / (double)out->model_bytes + 0.0005;
        char fix[160], b[7][32], shared[64] = "";
        if (given_bytes) /* the bytes, exact: rounded, the two sizes can print alike */
            snprintf(fix, sizeof fix, "give --dram-bytes %llu or more (%llu bytes now), or a "
                     "lower --predictor-rank", (unsigned long long)out->resident_bytes,
                     (unsigned long long)budget_bytes);
        else if (need <= 1)
            snprintf(fix, sizeof fix, "raise --dram-fraction to at least %.3f, or give "
                     "--dram-bytes", need);
        else
            snprintf(fix, sizeof fix, "give --dram-bytes %llu or more (more than the whole "
                     "model), or a lower --predictor-rank", (unsigned long long)out->resident_bytes);
        if (out->shared_bytes)
            snprintf(shared, sizeof shared, " + shared experts %s",
                     bytes_text(b[6], out->shared_bytes));
        return lf_fail(err, LF_EINVAL,
                       "DRAM budget of %s is below the resident part, %s (embeddings %s + "
                       "attention %s + predictor %s of rank %u%s) of model '%s' (%s); %s",
                       bytes_text(b[0], budget_bytes), bytes_text(b[1], out->resident_bytes),
                       bytes_text(b[2], out->embedding_bytes),
                       bytes_text(b[3], out->attention_bytes),
                       bytes_text(b[4], out->predictor_bytes), predictor_rank, shared, m->name,
                       bytes_text(b[5], out->model_bytes), fix);
    }
    uint64_t per_unit_all_layers = out->row_bytes * m->n_layers;
    uint64_t cap = (budget_bytes - out->resident_bytes) / per_unit_all_layers;
    uint32_t units = lf_model_units(m);
    out->capacity = cap > units ? units : cap;
    return LF_OK;
}
