/* lf_pol: what the policy plugins share (each sim/lf_pol_<name>.c exports one
 * lf_policy_desc `lf_pol_<name>` that the registry in lf_policy.c lists): the capacity
 * key, the "cannot fit" error, the wanted-set bound, and the heap-scored cache behind
 * fwlru. Nothing here allocates what the caller must free. */
#ifndef LF_POL_H
#define LF_POL_H

#include <stdint.h>

#include "lf_pheap.h"
#include "lf_policy.h"

/* The per-layer cache size: key `capacity` when given, else ctx->capacity; clamped to
 * units. */
int lf_pol_capacity(const lf_policy_ctx *ctx, const lf_kv *kv, uint64_t *cap, lf_err *err);

/* The "cannot fit the budget" error of a step that wants n_want units resident at once
 * with a cache of cap (lf_policy_step adds the policy, layer and token). Return it
 * before the step changes anything. */
int lf_pol_no_fit(uint64_t n_want, uint64_t cap, lf_err *err);

/* The largest set a step will be handed: ctx->max_want, or when the creator left it 0,
 * the largest needed or recorded-predicted set of the trace (units without a trace). */
uint32_t lf_pol_max_want(const lf_policy_ctx *ctx);

/* The heap-scored cache behind fwlru (lf_pol_scored.c): a step evicts the unwanted
 * resident units of smallest key = count * w + last use, count = uses while resident,
 * or since the start when history is set. Its descriptor uses this state, step and
 * destroy. */
typedef struct {
    uint64_t cap;
    int history;
    uint64_t w;
    lf_pheap *heap;  /* n_layers */
    uint32_t *count; /* n_layers * units */
} lf_pol_scored;

int lf_pol_scored_init(lf_policy *p, const lf_policy_ctx *ctx, uint64_t cap, uint64_t w,
                       int history, lf_err *err);
int lf_pol_scored_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err);
void lf_pol_scored_destroy(lf_policy *p);

/* Shared key lists. */
#define LF_POL_KEY_CAPACITY                                                                 \
    {"capacity", "units per layer the cache holds (default: the DRAM budget's)"}

#endif
