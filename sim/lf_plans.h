/* lf_plans: a replay's decisions (the predictor's and the policy's, per layer and token)
 * kept so that other runs that differ only in how the decisions are priced (layout,
 * reads in flight, reader coalescing, DRAM strategy, device) replay them without the
 * policy: a sweep over those keys runs each policy once. An lf_plans owns its arrays
 * (lf_plans_free); an lf_plans_cache owns the one lf_plans it holds. */
#ifndef LF_PLANS_H
#define LF_PLANS_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_policy.h"

typedef struct lf_plans lf_plans;

/* What a step decided besides its plan: the wanted set's size, the predictor's errors,
 * and the DRAM manager's outcome (moves of the evictions, rows after the evictions,
 * rows after the loads). */
typedef struct {
    uint32_t n_want, false_pos, false_neg;
    uint32_t n_moves, kept, used;
} lf_plans_outcome;

/* One step as recorded: the plan (arrays valid while the lf_plans lives), its outcome,
 * and the growth of the policy's counters over the step. */
typedef struct {
    lf_plan plan;
    uint32_t n_want, false_pos, false_neg;
    uint32_t n_moves, kept, used;
    const uint64_t *counters; /* n_counters values */
} lf_plans_step;

/* Room for n_layers x n_tokens steps and n_counters policy counters. */
int lf_plans_new(uint32_t n_layers, uint32_t n_tokens, uint32_t n_counters, lf_plans **out,
                 lf_err *err);
void lf_plans_free(lf_plans *p);

/* Records the step of (layer, token); each step at most once. Fails (LF_ENOMEM) past
 * LF_PLANS_MAX_BYTES: the caller then runs without keeping its plans. */
#define LF_PLANS_MAX_BYTES ((uint64_t)1 << 30)
int lf_plans_put(lf_plans *p, uint32_t layer, uint32_t token, const lf_plan *plan,
                 const lf_plans_outcome *o, const uint64_t *counters, lf_err *err);
/* The recorded step of (layer, token); LF_EINVAL if it was never recorded. */
int lf_plans_get(const lf_plans *p, uint32_t layer, uint32_t token, lf_plans_step *out,
                 lf_err *err);

/* What the run that recorded them knew of its policy, kept with the plans: */
typedef struct {
    uint64_t max_resident;     /* the policy's max_resident */
    int layers_independent;    /* its descriptor's flag */
    const char *name;          /* its descriptor's name (static) */
    lf_policy_counts counts;   /* its counters at the end of the run */
} lf_plans_policy;
void lf_plans_set_policy(lf_plans *p, const lf_plans_policy *pol);
const lf_plans_policy *lf_plans_policy_of(const lf_plans *p);
/* 1 when every step of tokens [0, n_tokens) of every layer was recorded. */
int lf_plans_complete(const lf_plans *p);

/* A cache of one lf_plans under a key that names everything the decisions depend on
 * (lf_run builds it). Zero-initialise; lf_plans_cache_clear frees what it holds. */
typedef struct {
    char key[1024];
    lf_plans *plans;
} lf_plans_cache;
/* The kept plans when their key is `key`, else NULL. */
const lf_plans *lf_plans_cache_find(const lf_plans_cache *c, const char *key);
/* Keeps p (complete) under key, freeing what was kept before; takes ownership of p. */
void lf_plans_cache_store(lf_plans_cache *c, const char *key, lf_plans *p);
void lf_plans_cache_clear(lf_plans_cache *c);

#endif
