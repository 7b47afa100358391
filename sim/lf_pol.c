/* What the policy plugins share: step checks, the capacity parameter, errors. */
#include "lf_pol.h"

#include <stdlib.h>

int lf_pol_base_init(lf_pol_base *b, const char *name, const lf_policy_ctx *ctx, lf_err *err)
{
    b->name = name;
    b->n_layers = ctx->n_layers;
    b->units = ctx->units;
    b->next_token = NULL;
    if (ctx->n_layers == 0 || ctx->units == 0)
        return lf_fail(err, LF_EINVAL, "policy '%s': n_layers (%u) and units (%u) must be positive",
                       name, ctx->n_layers, ctx->units);
    b->next_token = calloc(ctx->n_layers, sizeof *b->next_token);
    if (!b->next_token)
        return lf_fail(err, LF_ENOMEM, "policy '%s': out of memory", name);
    return LF_OK;
}

void lf_pol_base_free(lf_pol_base *b)
{
    free(b->next_token);
    b->next_token = NULL;
}

int lf_pol_begin(lf_pol_base *b, uint32_t layer, uint32_t token, const uint32_t *want,
                 uint32_t n_want, lf_err *err)
{
    if (layer >= b->n_layers)
        return lf_fail(err, LF_ERANGE, "policy '%s': layer %u >= n_layers %u", b->name, layer,
                       b->n_layers);
    if (token != b->next_token[layer])
        return lf_fail(err, LF_EINVAL,
                       "policy '%s': layer %u got token %u, expected %u (tokens must arrive "
                       "in order 0,1,2,... for every layer)",
                       b->name, layer, token, b->next_token[layer]);
    if (n_want > b->units)
        return lf_fail(err, LF_ERANGE, "policy '%s': layer %u token %u wants %u units of %u",
                       b->name, layer, token, n_want, b->units);
    for (uint32_t i = 0; i < n_want; i++) {
        if (want[i] >= b->units)
            return lf_fail(err, LF_ERANGE, "policy '%s': layer %u token %u: id %u >= units %u",
                           b->name, layer, token, want[i], b->units);
        if (i && want[i] <= want[i - 1])
            return lf_fail(err, LF_EINVAL,
                           "policy '%s': layer %u token %u: wanted ids not sorted unique "
                           "(%u after %u)",
                           b->name, layer, token, want[i], want[i - 1]);
    }
    b->next_token[layer]++;
    return LF_OK;
}

int lf_pol_capacity(const lf_policy_ctx *ctx, const lf_kv *kv, uint64_t *cap, lf_err *err)
{
    int rc = lf_kv_u64(kv, "capacity", ctx->capacity, cap, err);
    if (rc)
        return rc;
    if (*cap > ctx->units)
        *cap = ctx->units;
    return LF_OK;
}

int lf_pol_no_fit(lf_pol_base *b, uint32_t layer, uint32_t token, uint64_t n_want,
                  uint64_t cap, lf_err *err)
{
    b->next_token[layer]--;
    return lf_fail(err, LF_ERANGE,
                   "policy '%s' cannot fit the budget: layer %u token %u needs %llu units "
                   "resident at once but the cache holds %llu per layer; raise the DRAM "
                   "budget (--dram-fraction or --dram-bytes) or the policy's capacity=",
                   b->name, layer, token, (unsigned long long)n_want, (unsigned long long)cap);
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
