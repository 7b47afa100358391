/* lf_policy: loading policies as plugins (sim/POLICIES.md). A policy sees, per token
 * and layer, the set of units wanted (the predictor's set) and decides what to evict
 * and what to load; after its step every wanted unit is resident. Each policy file
 * exports one lf_policy_desc; the registry (lf_policy.c) is the list of them and owns
 * the contract: spec parsing, key checking, the state allocation, and lf_policy_step,
 * which checks every step before and after the policy's own code and adds the error
 * context (policy, layer, token) once. The engine owns the lf_plan arrays; the
 * registry owns the lf_policy (lf_policy_free). */
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
     * page cache leave n_pagecache 0 (lf_policy_step zeroes the plan's counts). */
    const uint32_t *pagecache;
    uint32_t n_pagecache;
    /* The order in which the model passes the loads through the page cache (prefetch
     * guesses first), a permutation of load; NULL: load's order. Policy-owned, as
     * pagecache; the executor holds the page cache in this order. */
    const uint32_t *pagecache_order;
} lf_plan;

/* A key of a policy's spec, or one of its counters: name and a one-line help. */
typedef struct {
    const char *name;
    const char *help;
} lf_policy_key;

/* How a counter adds up over a run: a total (per token: the token's share), or the
 * smallest value seen (per token: the token's smallest). */
typedef enum { LF_COUNT_SUM = 0, LF_COUNT_MIN = 1 } lf_count_kind;

typedef struct {
    const char *name; /* a column name: lower case, digits and '_' */
    const char *help;
    lf_count_kind kind;
    int warn;         /* 1: a non-zero value means the run did not do what its spec says
                       * (window's shrinks): the CLI says so on stderr */
} lf_policy_counter;

#define LF_POLICY_MAX_COUNTERS 8

typedef struct lf_policy lf_policy;

/* What one policy file exports (the registry's list holds one per policy). */
typedef struct {
    const char *name;                    /* the spec's name */
    const char *help;                    /* one line, for --help and POLICIES.md */
    const lf_policy_key *keys;           /* valid spec keys; ends with {NULL, NULL} */
    const lf_policy_counter *counters;   /* its counters (at most LF_POLICY_MAX_COUNTERS),
                                          * ending with a NULL name; NULL = none */
    size_t state_size;                   /* bytes of p->state the registry allocates zeroed
                                          * before create and frees after destroy */
    /* Reads kv (only keys of `keys`) and ctx; fills p->state and sets p->max_resident
     * and p->fit. On failure the registry calls destroy, so create just returns. */
    int (*create)(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err);
    /* One step; called by lf_policy_step only, with arguments already checked and the
     * plan's counts zeroed. Messages need no context (lf_policy_step adds it). A step
     * that fails must change nothing. */
    int (*step)(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                uint32_t n_want, lf_plan *plan, lf_err *err);
    /* Frees what create allocated inside p->state (not p->state); NULL = nothing. Must
     * accept a state that create left half-built (zeroed fields). */
    void (*destroy)(lf_policy *p);
    /* Writes the current value of each counter, in `counters` order; NULL = none. */
    void (*count)(const lf_policy *p, uint64_t *values);
    /* 1: a layer's steps read and change only that layer's state (and random streams
     * drawn per layer), so the replay may step layers in any interleaving; 0: shared
     * state across layers (pagecache's global list and its guess stream). */
    int layers_independent;
    /* 1: create() reads the ids of the replayed trace (belady's look-ahead, hot's
     * profile), which must then be held in memory: not a trace read with
     * lf_trace_read_opts.defer_ids (lf_policy_create refuses one) */
    int reads_trace;
} lf_policy_desc;

struct lf_policy {
    const lf_policy_desc *desc;
    const char *name;      /* desc->name */
    void *state;           /* desc->state_size bytes, the policy's own */
    uint32_t n_layers, units;
    /* Optional: the most units this policy keeps resident per layer (for the DRAM
     * manager's preallocation, Req_l); 0 = unknown (use ctx.capacity). */
    uint64_t max_resident;
    /* The cache a wanted set must fit: lf_policy_step refuses a larger set with the
     * "cannot fit the budget" error before the policy sees it. UINT64_MAX = no limit
     * (the default: baselines that ignore the budget). */
    uint64_t fit;
    uint32_t *next_token;  /* registry's: per layer, the token the next step must carry */
};

/* Creates a policy from a spec "name[:key=value,...]". Unknown names list the known
 * ones; unknown keys list the valid keys. The caller destroys it with lf_policy_free. */
int lf_policy_create(const char *spec, const lf_policy_ctx *ctx, lf_policy **out, lf_err *err);
/* The same from a descriptor outside the registry (tests' reference policies) and its
 * parameters "key=value,..." ("" or NULL for none). */
int lf_policy_new(const lf_policy_desc *d, const char *params, const lf_policy_ctx *ctx,
                  lf_policy **out, lf_err *err);
void lf_policy_free(lf_policy *p);

/* One step for (layer, token): want is the sorted unique ids the token needs (as
 * predicted). Tokens arrive in order 0,1,2,... for every layer; layers in any order.
 * Before: layer in range, token in order, want sorted unique and < units, want fits
 * p->fit. After: plan sizes within units, page-cache loads a sorted subset of the
 * loads. Every error reads "policy 'X': layer L token T: ..."; a refused step changes
 * nothing (the token may be stepped again). */
int lf_policy_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                   uint32_t n_want, lf_plan *plan, lf_err *err);
/* The same for a want the caller knows is a valid set (sorted, unique, < units): the
 * ids of a loaded lf_trace, which every constructor checked (lf_trace_read,
 * lf_trace_append_*). Skips only that per-id pass; every other check stays. */
int lf_policy_step_valid(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                         uint32_t n_want, lf_plan *plan, lf_err *err);

/* The policy's counters: *names points to its descriptor's list; values gets their
 * current values. Returns how many (0 when the policy has none). */
size_t lf_policy_counters(const lf_policy *p, const lf_policy_counter **names,
                          uint64_t values[LF_POLICY_MAX_COUNTERS]);
/* A run's counters as a value: the descriptor's names and their values. */
typedef struct {
    const lf_policy_counter *names; /* NULL when n == 0 */
    size_t n;
    uint64_t values[LF_POLICY_MAX_COUNTERS];
} lf_policy_counts;
/* Fills out with p's counters now. */
void lf_policy_counts_get(const lf_policy *p, lf_policy_counts *out);

/* The index of counter `name` of p, or -1. */
int lf_policy_counter_index(const lf_policy *p, const char *name);

/* The descriptor a spec "name[:...]" names, or NULL for an unknown name. */
const lf_policy_desc *lf_policy_find(const char *spec);
/* The registry: its descriptors, in order (*n of them). */
const lf_policy_desc *const *lf_policy_registry(size_t *n);
/* Comma-separated list of policy names, for --help. */
const char *lf_policy_names(void);

#endif
