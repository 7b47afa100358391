/* Policy `sparse`: exactly the token's wanted units are resident, nothing is kept for
 * later tokens: each step evicts the previous token's units that are not wanted now and
 * loads the wanted units that are not resident (so a unit wanted by two consecutive
 * tokens is a hit, not a reload). A wanted set larger than the cache (key capacity,
 * default the DRAM budget's) cannot fit and is an error. O(n_want + n_previous). */
#include <stdlib.h>
#include <string.h>

#include "lf_pol.h"

typedef struct {
    uint64_t cap;
    uint8_t *res;   /* n_layers * units: 1 = resident (2 = wanted, during a step) */
    uint32_t *prev; /* n_layers * cap: the previous token's set */
    uint32_t *n_prev;
} sparse_state;

static int sparse_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token, (void)err;
    sparse_state *s = p->state;
    uint8_t *res = s->res + (size_t)layer * p->units;
    uint32_t *prev = s->prev + (size_t)layer * s->cap;
    /* branch-free (hit or miss is a coin toss); res: 0 absent, 1 resident, 2 wanted */
    uint32_t *ld = plan->load, *ev = plan->evict, hits = 0;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i], v = res[u];
        hits += v;
        *ld = u;
        ld += v ^ 1;
        res[u] = 2;
    }
    for (uint32_t i = 0; i < s->n_prev[layer]; i++) {
        uint32_t u = prev[i], v = res[u], gone = v == 1;
        *ev = u;
        ev += gone;
        res[u] = (uint8_t)(v * (gone ^ 1));
    }
    plan->n_hit = hits;
    plan->n_load = (uint32_t)(ld - plan->load);
    plan->n_evict = (uint32_t)(ev - plan->evict);
    for (uint32_t i = 0; i < n_want; i++)
        res[want[i]] = 1;
    memcpy(prev, want, (size_t)n_want * sizeof *want);
    s->n_prev[layer] = n_want;
    plan->n_resident = n_want;
    return LF_OK;
}

static void sparse_destroy(lf_policy *p)
{
    sparse_state *s = p->state;
    free(s->res);
    free(s->prev);
    free(s->n_prev);
}

static int sparse_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    sparse_state *s = p->state;
    int rc = lf_pol_capacity(ctx, kv, &s->cap, err);
    if (rc)
        return rc;
    s->res = calloc((size_t)ctx->n_layers * ctx->units, 1);
    s->prev = malloc(((size_t)ctx->n_layers * s->cap + 1) * sizeof *s->prev);
    s->n_prev = calloc(ctx->n_layers, sizeof *s->n_prev);
    if (!s->res || !s->prev || !s->n_prev)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    p->fit = s->cap;
    p->max_resident = s->cap;
    return LF_OK;
}

const lf_policy_desc lf_pol_sparse = {
    .name = "sparse",
    .help = "exactly the token's wanted set is resident",
    .keys = (const lf_policy_key[]){LF_POL_KEY_CAPACITY, {NULL, NULL}},
    .state_size = sizeof(sparse_state),
    .create = sparse_create,
    .step = sparse_step,
    .destroy = sparse_destroy,
    .layers_independent = 1,
};
