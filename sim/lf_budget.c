/* DRAM budget: resident part + FFN cache capacity. */
#include "lf_budget.h"

#include <string.h>

#define GIB 1073741824.0 /* sizes are printed in GiB, as --dram-bytes 6g reads them */

int lf_budget_compute(const lf_model *m, uint32_t dtype_bytes, double fraction,
                      uint64_t budget_bytes, uint32_t predictor_rank, lf_budget *out,
                      lf_err *err)
{
    memset(out, 0, sizeof *out);
    out->model_bytes = lf_model_total_bytes(m, dtype_bytes);
    out->ffn_bytes = lf_model_ffn_bytes(m, dtype_bytes);
    out->embedding_bytes = lf_model_embedding_bytes(m, dtype_bytes);
    out->attention_bytes = lf_model_attention_bytes(m, dtype_bytes);
    out->predictor_bytes = lf_model_predictor_bytes(m, dtype_bytes, predictor_rank);
    out->resident_bytes = out->embedding_bytes + out->attention_bytes + out->predictor_bytes;
    out->row_bytes = lf_model_unit_bytes(m, dtype_bytes);
    out->predictor_rank = predictor_rank;
    if (budget_bytes == 0) {
        if (!(fraction > 0 && fraction <= 1.0))
            return lf_fail(err, LF_EINVAL,
                           "DRAM budget: --dram-fraction %g must be in (0, 1] (or give "
                           "--dram-bytes)",
                           fraction);
        budget_bytes = (uint64_t)(fraction * (double)out->model_bytes);
    }
    out->budget_bytes = budget_bytes;
    if (budget_bytes < out->resident_bytes)
        return lf_fail(err, LF_EINVAL,
                       "DRAM budget of %.3f GiB is below the resident part, %.3f GiB (embeddings "
                       "%.3f + attention %.3f + predictor %.3f of rank %u) of model '%s' "
                       "(%.3f GiB); raise --dram-fraction to at least %.3f or --dram-bytes",
                       budget_bytes / GIB, out->resident_bytes / GIB, out->embedding_bytes / GIB,
                       out->attention_bytes / GIB, out->predictor_bytes / GIB, predictor_rank,
                       m->name, out->model_bytes / GIB,
                       (double)out->resident_bytes / (double)out->model_bytes + 0.0005);
    uint64_t per_unit_all_layers = out->row_bytes * m->n_layers;
    uint64_t cap = (budget_bytes - out->resident_bytes) / per_unit_all_layers;
    uint32_t units = lf_model_units(m);
    out->capacity = cap > units ? units : cap;
    return LF_OK;
}
