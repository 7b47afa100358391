/* The heap-scored cache behind `lfu` and `fwlru` (see lf_pol.h). Per layer an indexed
 * min-heap of the resident units keyed by their score, plus use counts and last-use
 * tokens. A step takes its wanted hits out of the heap, pops the evictions (so no
 * wanted unit can be chosen), then puts every wanted unit back with its new key.
 * O((n_want + n_evict) log capacity) per step. */
#include <stdlib.h>

#include "lf_pheap.h"
#include "lf_pol.h"

typedef struct {
    lf_pol_base base;
    uint64_t cap;
    int lfu, history;
    uint64_t w;
    lf_pheap *heap;  /* n_layers */
    uint32_t *count; /* n_layers * units */
} scored_state;

static int scored_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    scored_state *s = p->state;
    int rc = lf_pol_begin(&s->base, layer, t, want, n_want, err);
    if (rc)
        return rc;
    if (n_want > s->cap)
        return lf_pol_no_fit(&s->base, layer, t, n_want, s->cap, err);
    lf_pheap *h = &s->heap[layer];
    uint32_t *count = s->count + (size_t)layer * s->base.units;
    plan->n_evict = 0;
    plan->n_hit = lf_pheap_take_wanted(h, want, n_want, plan->load, &plan->n_load);
    uint64_t after = (uint64_t)h->n + n_want;
    while (after > s->cap) {
        uint32_t u = lf_pheap_pop(h);
        if (!s->history)
            count[u] = 0;
        plan->evict[plan->n_evict++] = u;
        after--;
    }
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i];
        if (count[u] < UINT32_MAX)
            count[u]++;
        uint64_t key = s->lfu ? ((uint64_t)count[u] << 32 | t) : (uint64_t)count[u] * s->w + t;
        lf_pheap_push(h, u, key);
    }
    plan->n_resident = h->n;
    return LF_OK;
}

static void scored_destroy(lf_policy *p)
{
    scored_state *s = p->state;
    if (!s)
        return;
    if (s->heap)
        for (uint32_t l = 0; l < s->base.n_layers; l++)
            lf_pheap_free(&s->heap[l]);
    lf_pol_base_free(&s->base);
    free(s->heap);
    free(s->count);
    free(s);
}

int lf_pol_scored_create(const char *name, const lf_policy_ctx *ctx, uint64_t cap, int lfu,
                         uint64_t w, int history, lf_policy *p, lf_err *err)
{
    scored_state *s = calloc(1, sizeof *s);
    if (!s)
        return lf_fail(err, LF_ENOMEM, "policy '%s': out of memory", name);
    p->state = s;
    p->destroy = scored_destroy;
    s->cap = cap;
    s->lfu = lfu;
    s->w = w;
    s->history = history;
    int rc = lf_pol_base_init(&s->base, name, ctx, err);
    if (rc == LF_OK) {
        s->heap = calloc(ctx->n_layers, sizeof *s->heap);
        s->count = calloc((size_t)ctx->n_layers * ctx->units, sizeof *s->count);
        if (!s->heap || !s->count)
            rc = lf_fail(err, LF_ENOMEM, "policy '%s': out of memory", name);
        for (uint32_t l = 0; rc == LF_OK && l < ctx->n_layers; l++)
            rc = lf_pheap_init(&s->heap[l], ctx->units, err);
    }
    if (rc) {
        scored_destroy(p);
        p->state = NULL;
        return rc;
    }
    p->step = scored_step;
    p->max_resident = cap;
    return LF_OK;
}
