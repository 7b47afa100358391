/* lf_pol: what the policy plugins share (the registry in lf_policy.c is the only user
 * of their create functions): step-argument checks, capacity parameter, errors. A
 * lf_pol_base is embedded at the start of each policy's state; lf_pol_base_free frees it. */
#ifndef LF_POL_H
#define LF_POL_H

#include <stdint.h>

#include "lf_policy.h"

/* Fills p->state, p->step, p->destroy, p->max_resident (p->name is set by the registry).
 * kv holds only keys the registry checked against the policy's valid list. */
typedef int (*lf_pol_create_fn)(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p,
                                lf_err *err);

int lf_pol_naive_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_hybrid_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_sparse_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_window_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_lru_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_lfu_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_fwlru_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_hot_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);
int lf_pol_belady_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);

/* The heap-scored cache behind lfu and fwlru (lf_pol_scored.c): a step evicts the
 * unwanted resident units of smallest key. lfu: key = (count, last use); fwlru
 * (w > 0): key = count * w + last use. count = uses while resident, or since the start
 * when history is set. */
int lf_pol_scored_create(const char *name, const lf_policy_ctx *ctx, uint64_t cap, int lfu,
                         uint64_t w, int history, lf_policy *p, lf_err *err);

typedef struct {
    const char *name;     /* the policy's registry name, for messages */
    uint32_t n_layers, units;
    uint32_t *next_token; /* per layer: the token the next step must carry */
} lf_pol_base;

int lf_pol_base_init(lf_pol_base *b, const char *name, const lf_policy_ctx *ctx, lf_err *err);
void lf_pol_base_free(lf_pol_base *b);

/* Checks one step's arguments (layer in range, tokens in order per layer, want sorted
 * unique and < units) and advances the layer's token counter. */
int lf_pol_begin(lf_pol_base *b, uint32_t layer, uint32_t token, const uint32_t *want,
                 uint32_t n_want, lf_err *err);

/* The per-layer cache size: key `capacity` when given, else ctx->capacity; clamped to
 * units. */
int lf_pol_capacity(const lf_policy_ctx *ctx, const lf_kv *kv, uint64_t *cap, lf_err *err);

/* The "cannot fit the budget" error: a step wants more units than the cache holds.
 * Call it before the step changes anything: it takes the step back (the token counter),
 * so the policy is as it was before the refused step. */
int lf_pol_no_fit(lf_pol_base *b, uint32_t layer, uint32_t token, uint64_t n_want,
                  uint64_t cap, lf_err *err);

/* The largest set a step will be handed: ctx->max_want, or when the creator left it 0,
 * the largest needed or recorded-predicted set of the trace (units without a trace). */
uint32_t lf_pol_max_want(const lf_policy_ctx *ctx);

#endif
