/* lf_policy: loading policies as plugins (docs/DESIGN.md section 4). A policy sees, per token
 * and layer, the set of units wanted (the predictor's set) and decides what to evict
 * and what to load; after its step every wanted unit is resident. Policies keep their
 * own bookkeeping in `state`; the registry in lf_policy.c is the only list of them.
 * The engine owns the lf_plan arrays; the policy owns its state (freed by destroy). */
#ifndef LF_POLICY_H
#define LF_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_kv.h"
#include "lf_trace.h"

/* What a policy is told when it is created. */
typedef struct {
    uint32_t n_layers;
    uint32_t units;          /* units per layer */
    uint64_t capacity;       /* units per layer the DRAM budget leaves for the FFN cache */
    const lf_trace *trace;   /* the trace replayed (offline policies such as belady look ahead) */
    const lf_trace *profile; /* optional profile trace for `hot` (NULL: a prefix of trace) */
    uint64_t seed;
    uint32_t max_want;       /* the largest set step() will be handed (the predictor's bound,
                              * or the trace's largest set); 0 = unknown */
} lf_policy_ctx;

/* One step's decision, for one token and layer. Arrays are sized `units` by the engine. */
typedef struct {
    uint32_t *evict;     /* ids removed from DRAM, before the loads */
    uint32_t n_evict;
    uint32_t *load;      /* ids read from flash and inserted, sorted ascending */
    uint32_t n_load;
    uint32_t n_hit;      /* wanted ids already resident */
    uint32_t n_resident; /* units resident after the step */
    /* Two-level model (MoE policy "pagecache"): the loads the OS page cache serves
     * instead of flash, sorted, a subset of load; priced with lf_pagecache_time and
     * given no flash read. Policy-owned, valid until its next step. Policies without a
     * page cache leave n_pagecache 0 (the engine zeroes the plan before each step). */
    const uint32_t *pagecache;
    uint32_t n_pagecache;
} lf_plan;

typedef struct lf_policy lf_policy;
struct lf_policy {
    const char *name;
    void *state;
    /* want: sorted unique ids the token needs (as predicted) in `layer`. Tokens arrive
     * in order 0,1,2,...; for each token, layers 0..n_layers-1 in order. */
    int (*step)(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                uint32_t n_want, lf_plan *plan, lf_err *err);
    void (*destroy)(lf_policy *p);
    /* Optional: the most units this policy keeps resident per layer (for the DRAM
     * manager's preallocation, Req_l); 0 = unknown (use ctx.capacity). */
    uint64_t max_resident;
    /* Optional (NULL when none): policy-specific counters as "key=value ..." text for a
     * run's summary, e.g. window's "shrinks=3 min_k=2". */
    void (*counters)(const lf_policy *p, char *buf, size_t cap);
};

/* Creates a policy from a spec "name[:key=value,...]". Unknown names list the known
 * ones; unknown keys list the valid keys. The caller destroys it with lf_policy_free. */
int lf_policy_create(const char *spec, const lf_policy_ctx *ctx, lf_policy **out, lf_err *err);
void lf_policy_free(lf_policy *p);
/* Comma-separated list of policy names, for --help. */
const char *lf_policy_names(void);

#endif
