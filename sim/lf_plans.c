/* Recorded replay decisions: a step table indexed by (layer, token), ids in one array. */
#include "lf_plans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t off; /* first id in ids: evictions, then loads, then page-cache loads */
    uint32_t n_evict, n_load, n_pagecache, n_hit, n_resident;
    lf_plans_outcome o;
    uint32_t set;
} step_rec;

struct lf_plans {
    uint32_t n_layers, n_tokens, n_counters;
    step_rec *steps;   /* n_layers * n_tokens */
    uint64_t *counts;  /* n_layers * n_tokens * n_counters */
    uint32_t *ids;
    uint64_t n_ids, cap_ids, max_bytes;
    uint64_t n_set;
    lf_plans_policy pol;
};

int lf_plans_new(uint32_t n_layers, uint32_t n_tokens, uint32_t n_counters, uint64_t max_bytes,
                 lf_plans **out, lf_err *err)
{
    *out = NULL;
    if (n_counters > LF_POLICY_MAX_COUNTERS)
        return lf_fail(err, LF_EINVAL, "plans: %u counters, at most %d", n_counters,
                       LF_POLICY_MAX_COUNTERS);
    size_t n = (size_t)n_layers * n_tokens;
    lf_plans *p = calloc(1, sizeof *p);
    if (p) {
        p->steps = calloc(n ? n : 1, sizeof *p->steps);
        p->counts = n_counters ? calloc(n * n_counters, sizeof *p->counts) : NULL;
    }
    if (!p || !p->steps || (n_counters && !p->counts)) {
        lf_plans_free(p);
        return lf_fail(err, LF_ENOMEM, "plans: out of memory for %u x %u steps", n_layers,
                       n_tokens);
    }
    p->n_layers = n_layers;
    p->n_tokens = n_tokens;
    p->n_counters = n_counters;
    p->max_bytes = max_bytes;
    *out = p;
    return LF_OK;
}

void lf_plans_free(lf_plans *p)
{
    if (!p)
        return;
    free(p->steps);
    free(p->counts);
    free(p->ids);
    free(p);
}

static int append(lf_plans *p, const uint32_t *ids, uint32_t n, lf_err *err)
{
    if (p->n_ids + n > p->cap_ids) {
        uint64_t need = (p->n_ids + n) * sizeof *p->ids;
        if (need > p->max_bytes)
            return lf_fail(err, LF_ENOMEM, "plans: more than %llu bytes of ids",
                           (unsigned long long)p->max_bytes);
        uint64_t cap = p->cap_ids ? p->cap_ids : (1u << 16);
        while (cap < p->n_ids + n)
            cap *= 2;
        if (cap * sizeof *p->ids > p->max_bytes)
            cap = p->max_bytes / sizeof *p->ids;
        uint32_t *v = realloc(p->ids, cap * sizeof *v);
        if (!v)
            return lf_fail(err, LF_ENOMEM, "plans: out of memory");
        p->ids = v;
        p->cap_ids = cap;
    }
    if (n)
        memcpy(p->ids + p->n_ids, ids, (size_t)n * sizeof *ids);
    p->n_ids += n;
    return LF_OK;
}

int lf_plans_put(lf_plans *p, uint32_t layer, uint32_t token, const lf_plan *plan,
                 const lf_plans_outcome *o, const uint64_t *counters, lf_err *err)
{
    if (layer >= p->n_layers || token >= p->n_tokens)
        return lf_fail(err, LF_ERANGE, "plans: step (%u, %u) outside %u x %u", layer, token,
                       p->n_layers, p->n_tokens);
    step_rec *r = &p->steps[(size_t)layer * p->n_tokens + token];
    if (r->set)
        return lf_fail(err, LF_EINVAL, "plans: step (%u, %u) recorded twice", layer, token);
    uint64_t off = p->n_ids;
    int rc = append(p, plan->evict, plan->n_evict, err);
    if (rc == LF_OK)
        rc = append(p, plan->load, plan->n_load, err);
    if (rc == LF_OK)
        rc = append(p, plan->pagecache, plan->n_pagecache, err);
    if (rc) {
        p->n_ids = off;
        return rc;
    }
    *r = (step_rec){off, plan->n_evict, plan->n_load, plan->n_pagecache, plan->n_hit,
                    plan->n_resident, *o, 1};
    if (p->n_counters)
        memcpy(p->counts + ((size_t)layer * p->n_tokens + token) * p->n_counters, counters,
               p->n_counters * sizeof *counters);
    p->n_set++;
    return LF_OK;
}

int lf_plans_get(const lf_plans *p, uint32_t layer, uint32_t token, lf_plans_step *out,
                 lf_err *err)
{
    const step_rec *r = layer < p->n_layers && token < p->n_tokens
                            ? &p->steps[(size_t)layer * p->n_tokens + token]
                            : NULL;
    if (!r || !r->set)
        return lf_fail(err, LF_EINVAL, "plans: step (%u, %u) was not recorded", layer, token);
    uint32_t *base = p->ids + r->off;
    out->plan = (lf_plan){base, r->n_evict, base + r->n_evict, r->n_load, r->n_hit,
                          r->n_resident, base + r->n_evict + r->n_load, r->n_pagecache,
                          NULL};
    out->n_want = r->o.n_want;
    out->false_pos = r->o.false_pos;
    out->false_neg = r->o.false_neg;
    out->n_moves = r->o.n_moves;
    out->kept = r->o.kept;
    out->used = r->o.used;
    out->counters = p->n_counters
                        ? p->counts + ((size_t)layer * p->n_tokens + token) * p->n_counters
                        : NULL;
    return LF_OK;
}

void lf_plans_set_policy(lf_plans *p, const lf_plans_policy *pol)
{
    p->pol = *pol;
}

const lf_plans_policy *lf_plans_policy_of(const lf_plans *p)
{
    return &p->pol;
}

int lf_plans_complete(const lf_plans *p)
{
    return p->n_set == (uint64_t)p->n_layers * p->n_tokens;
}

const lf_plans *lf_plans_cache_find(const lf_plans_cache *c, const char *key)
{
    return c && c->plans && strcmp(c->key, key) == 0 ? c->plans : NULL;
}

void lf_plans_cache_store(lf_plans_cache *c, const char *key, lf_plans *p)
{
    lf_plans_cache_clear(c);
    snprintf(c->key, sizeof c->key, "%s", key);
    c->plans = p;
}

void lf_plans_cache_clear(lf_plans_cache *c)
{
    lf_plans_free(c->plans);
    c->plans = NULL;
    c->key[0] = '\0';
}
