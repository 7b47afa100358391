/* What the policy plugins share: the capacity key, the no-fit error, the set bound. */
#include "lf_pol.h"

int lf_pol_capacity(const lf_policy_ctx *ctx, const lf_kv *kv, uint64_t *cap, lf_err *err)
{
    int rc = lf_kv_u64(kv, "capacity", ctx->capacity, cap, err);
    if (rc)
        return rc;
    if (*cap > ctx->units)
        *cap = ctx->units;
    return LF_OK;
}

int lf_pol_no_fit(uint64_t n_want, uint64_t cap, lf_err *err)
{
    return lf_fail(err, LF_ERANGE,
                   "cannot fit the budget: %llu units must be resident at once but the cache "
                   "holds %llu per layer; raise the DRAM budget (--dram-fraction or "
                   "--dram-bytes) or the policy's capacity=",
                   (unsigned long long)n_want, (unsigned long long)cap);
}

uint32_t lf_pol_max_want(const lf_policy_ctx *ctx)
{
    if (ctx->max_want)
        return ctx->max_want;
    if (!ctx->trace)
        return ctx->units;
    uint32_t need = lf_trace_max_set(ctx->trace, 0), pred = lf_trace_max_set(ctx->trace, 1);
    return need > pred ? need : pred;
}
