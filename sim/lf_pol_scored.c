/* The heap-scored cache behind `fwlru` (see lf_pol.h). Per layer an indexed
 * min-heap of the resident units keyed by their score, plus use counts and last-use
 * tokens. A step takes its wanted hits out of the heap, pops the evictions (so no
 * wanted unit can be chosen), then puts every wanted unit back with its new key.
 * O((n_want + n_evict) log capacity) per step. */
#include <stdlib.h>

#include "lf_pheap.h"
#include "lf_pol.h"

int lf_pol_scored_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)err;
    lf_pol_scored *s = p->state;
    lf_pheap *h = &s->heap[layer];
    uint32_t *count = s->count + (size_t)layer * p->units;
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
        lf_pheap_push(h, u, (uint64_t)count[u] * s->w + t);
    }
    plan->n_resident = h->n;
    return LF_OK;
}

void lf_pol_scored_destroy(lf_policy *p)
{
    lf_pol_scored *s = p->state;
    if (s->heap)
        for (uint32_t l = 0; l < p->n_layers; l++)
            lf_pheap_free(&s->heap[l]);
    free(s->heap);
    free(s->count);
}

int lf_pol_scored_init(lf_policy *p, const lf_policy_ctx *ctx, uint64_t cap, uint64_t w,
                       int history, lf_err *err)
{
    lf_pol_scored *s = p->state;
    s->cap = cap;
    s->w = w;
    s->history = history;
    s->heap = calloc(ctx->n_layers, sizeof *s->heap);
    s->count = calloc((size_t)ctx->n_layers * ctx->units, sizeof *s->count);
    if (!s->heap || !s->count)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    for (uint32_t l = 0; l < ctx->n_layers; l++) {
        int rc = lf_pheap_init(&s->heap[l], ctx->units, err);
        if (rc)
            return rc;
    }
    p->fit = cap;
    p->max_resident = cap;
    return LF_OK;
}
