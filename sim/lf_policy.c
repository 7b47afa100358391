/* The policy registry and contract: the list of descriptors, spec parsing ("name:k=v,..."),
 * key checking, state allocation, the checked step, counters, freeing.
 * Adding a policy: its file sim/lf_pol_<name>.c exporting `lf_pol_<name>` and one
 * X(<name>) line in LF_POLICIES below (sim/POLICIES.md). */
#include "lf_policy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_pol.h"

/* The registry: one line per policy, in the order --help lists them. */
#define LF_POLICIES(X)                                                                      \
    X(naive)                                                                                \
    X(hybrid)                                                                               \
    X(sparse)                                                                               \
    X(window)                                                                               \
    X(lru)                                                                                  \
    X(lfu)                                                                                  \
    X(fwlru)                                                                                \
    X(hot)                                                                                  \
    X(belady)                                                                               \
    X(pagecache)

#define DECLARE(n) extern const lf_policy_desc lf_pol_##n;
LF_POLICIES(DECLARE)
#define ENTRY(n) &lf_pol_##n,
static const lf_policy_desc *const table[] = {LF_POLICIES(ENTRY)};
#define N_ENTRIES (sizeof table / sizeof table[0])

const lf_policy_desc *const *lf_policy_registry(size_t *n)
{
    *n = N_ENTRIES;
    return table;
}

static char name_list[512];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
    size_t len = 0;
    for (size_t i = 0; i < N_ENTRIES && len < sizeof name_list; i++)
        len += (size_t)snprintf(name_list + len, sizeof name_list - len, "%s%s", i ? ", " : "",
                                table[i]->name);
}

const char *lf_policy_names(void)
{
    pthread_once(&names_once, build_names);
    return name_list;
}

const lf_policy_desc *lf_policy_find(const char *spec)
{
    size_t len = strcspn(spec, ":");
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strlen(table[i]->name) == len && strncmp(table[i]->name, spec, len) == 0)
            return table[i];
    return NULL;
}

/* Builds a policy of descriptor d from checked-free kv. */
static int make(const lf_policy_desc *d, lf_kv *kv, const lf_policy_ctx *ctx, lf_policy **out,
                lf_err *err)
{
    const char *valid[32];
    size_t nk = 0;
    for (const lf_policy_key *k = d->keys; k && k->name && nk + 1 < 32; k++)
        valid[nk++] = k->name;
    valid[nk] = NULL;
    int rc = lf_kv_check_known(kv, valid, err); /* its message names the spec */
    if (rc)
        return rc;
    if (ctx->n_layers == 0 || ctx->units == 0)
        return lf_fail(err, LF_EINVAL, "policy '%s': n_layers (%u) and units (%u) must be positive",
                       d->name, ctx->n_layers, ctx->units);
    if (d->reads_trace && ((ctx->trace && ctx->trace->deferred) ||
                           (ctx->profile && ctx->profile->deferred)))
        return lf_fail(err, LF_EINVAL, "policy '%s' reads the whole trace, which was read with "
                       "its ids left in the file (defer_ids): read it whole", d->name);
    lf_policy *p = calloc(1, sizeof *p);
    if (p) {
        p->next_token = calloc(ctx->n_layers, sizeof *p->next_token);
        p->state = d->state_size ? calloc(1, d->state_size) : NULL;
    }
    if (!p || !p->next_token || (d->state_size && !p->state)) {
        if (p) {
            free(p->next_token);
            free(p->state);
        }
        free(p);
        return lf_fail(err, LF_ENOMEM, "policy '%s': out of memory", d->name);
    }
    p->desc = d;
    p->name = d->name;
    p->n_layers = ctx->n_layers;
    p->units = ctx->units;
    p->fit = UINT64_MAX;
    if ((rc = d->create(p, ctx, kv, err)) != LF_OK) {
        lf_err_prefix(err, "policy '%s'", d->name);
        lf_policy_free(p);
        return rc;
    }
    *out = p;
    return LF_OK;
}

int lf_policy_create(const char *spec, const lf_policy_ctx *ctx, lf_policy **out, lf_err *err)
{
    *out = NULL;
    if (!spec || !*spec)
        return lf_fail(err, LF_EINVAL, "empty policy spec (known policies: %s)",
                       lf_policy_names());
    if (!ctx)
        return lf_fail(err, LF_EINVAL, "policy '%s': no context given", spec);
    lf_kv kv;
    char name[64];
    int rc = lf_kv_parse_spec(spec, &kv, name, sizeof name, err);
    if (rc)
        return rc;
    const lf_policy_desc *d = lf_policy_find(name);
    if (!d)
        rc = lf_fail(err, LF_EINVAL, "unknown policy '%s' in '%s' (known policies: %s)", name,
                     spec, lf_policy_names());
    else
        rc = make(d, &kv, ctx, out, err);
    lf_kv_free(&kv);
    return rc;
}

int lf_policy_new(const lf_policy_desc *d, const char *params, const lf_policy_ctx *ctx,
                  lf_policy **out, lf_err *err)
{
    *out = NULL;
    if (!d || !ctx)
        return lf_fail(err, LF_EINVAL, "lf_policy_new: no descriptor or context given");
    lf_kv kv;
    int rc = lf_kv_parse_spec(params ? params : "", &kv, NULL, 0, err);
    if (rc)
        return rc;
    rc = make(d, &kv, ctx, out, err);
    lf_kv_free(&kv);
    return rc;
}

void lf_policy_free(lf_policy *p)
{
    if (!p)
        return;
    if (p->desc && p->desc->destroy && (p->state || !p->desc->state_size))
        p->desc->destroy(p);
    free(p->state);
    free(p->next_token);
    free(p);
}

static int check_want(const lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                      uint32_t n_want, int valid, lf_err *err)
{
    if (layer >= p->n_layers)
        return lf_fail(err, LF_ERANGE, "layer %u >= n_layers %u", layer, p->n_layers);
    if (token != p->next_token[layer])
        return lf_fail(err, LF_EINVAL,
                       "expected token %u (tokens must arrive in order 0,1,2,... for every "
                       "layer)",
                       p->next_token[layer]);
    if (n_want > p->units)
        return lf_fail(err, LF_ERANGE, "wants %u units of %u", n_want, p->units);
    /* the common case in one vectorised pass; the loop only names the first bad id */
    int bad = !valid && !lf_ids_ok(want, n_want, p->units);
    for (uint32_t i = 0; bad && i < n_want; i++) {
        if (want[i] >= p->units)
            return lf_fail(err, LF_ERANGE, "id %u >= units %u", want[i], p->units);
        if (i && want[i] <= want[i - 1])
            return lf_fail(err, LF_EINVAL, "wanted ids not sorted unique (%u after %u)", want[i],
                           want[i - 1]);
    }
    if (n_want > p->fit)
        return lf_pol_no_fit(n_want, p->fit, err);
    return LF_OK;
}

static int check_plan(const lf_policy *p, const lf_plan *plan, lf_err *err)
{
    if (plan->n_evict > p->units || plan->n_load > p->units || plan->n_resident > p->units)
        return lf_fail(err, LF_EINVAL,
                       "plan larger than %u units (%u evictions, %u loads, %u resident; policy "
                       "bug)",
                       p->units, plan->n_evict, plan->n_load, plan->n_resident);
    if (plan->n_pagecache > plan->n_load || (plan->n_pagecache && !plan->pagecache))
        return lf_fail(err, LF_EINVAL,
                       "page-cache loads are not a sorted subset of the loads (policy bug)");
    uint32_t j = 0;
    for (uint32_t i = 0; i < plan->n_load && j < plan->n_pagecache; i++)
        if (plan->pagecache[j] == plan->load[i])
            j++;
    if (j != plan->n_pagecache)
        return lf_fail(err, LF_EINVAL,
                       "page-cache loads are not a sorted subset of the loads (policy bug)");
    return LF_OK;
}

static int step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                uint32_t n_want, int valid, lf_plan *plan, lf_err *err)
{
    plan->n_evict = plan->n_load = plan->n_hit = plan->n_resident = 0;
    plan->pagecache = NULL;
    plan->n_pagecache = 0;
    plan->pagecache_order = NULL;
    int rc = check_want(p, layer, token, want, n_want, valid, err);
    if (rc == LF_OK)
        rc = p->desc->step(p, layer, token, want, n_want, plan, err);
    if (rc == LF_OK)
        rc = check_plan(p, plan, err);
    if (rc) {
        lf_err_prefix(err, "policy '%s': layer %u token %u", p->name, layer, token);
        return rc;
    }
    p->next_token[layer]++;
    return LF_OK;
}

int lf_policy_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                   uint32_t n_want, lf_plan *plan, lf_err *err)
{
    return step(p, layer, token, want, n_want, 0, plan, err);
}

int lf_policy_step_valid(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                         uint32_t n_want, lf_plan *plan, lf_err *err)
{
    return step(p, layer, token, want, n_want, 1, plan, err);
}

size_t lf_policy_counters(const lf_policy *p, const lf_policy_counter **names,
                          uint64_t values[LF_POLICY_MAX_COUNTERS])
{
    size_t n = 0;
    const lf_policy_counter *c = p->desc->counters;
    while (c && c[n].name && n < LF_POLICY_MAX_COUNTERS)
        values[n++] = 0;
    if (names)
        *names = c;
    if (n && p->desc->count)
        p->desc->count(p, values);
    return n;
}

void lf_policy_counts_get(const lf_policy *p, lf_policy_counts *out)
{
    out->n = lf_policy_counters(p, &out->names, out->values);
}

int lf_policy_counter_index(const lf_policy *p, const char *name)
{
    const lf_policy_counter *c = p->desc->counters;
    for (int i = 0; c && c[i].name && i < LF_POLICY_MAX_COUNTERS; i++)
        if (strcmp(c[i].name, name) == 0)
            return i;
    return -1;
}
