/* Policy `hybrid` (the paper's second baseline, no sparsity): the first
 * P = round(fraction * units) units of each layer are loaded with the first token and
 * kept; the other units are read again for every token and dropped at the next (evicted
 * highest id first, so the DRAM manager's swap-delete moves nothing). Hits are the
 * wanted ids below P after the first token. Ignores the DRAM budget: max_resident =
 * units. O(units - P) per step. */
#include <stdlib.h>

#include "lf_pol.h"

typedef struct {
    lf_pol_base base;
    uint32_t pinned;  /* P */
    uint8_t *started; /* per layer */
} hybrid_state;

static int hybrid_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    hybrid_state *s = p->state;
    int rc = lf_pol_begin(&s->base, layer, token, want, n_want, err);
    if (rc)
        return rc;
    uint32_t units = s->base.units, P = s->pinned;
    plan->n_evict = plan->n_load = plan->n_hit = 0;
    uint32_t first = P;
    if (s->started[layer]) {
        for (uint32_t i = units; i > P; i--)
            plan->evict[plan->n_evict++] = i - 1;
        /* wanted ids below P were kept: count them (want is sorted) */
        uint32_t lo = 0, hi = n_want;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (want[mid] < P)
                lo = mid + 1;
            else
                hi = mid;
        }
        plan->n_hit = lo;
    } else {
        first = 0;
    }
    for (uint32_t i = first; i < units; i++)
        plan->load[plan->n_load++] = i;
    plan->n_resident = units;
    s->started[layer] = 1;
    return LF_OK;
}

static void hybrid_destroy(lf_policy *p)
{
    hybrid_state *s = p->state;
    if (!s)
        return;
    lf_pol_base_free(&s->base);
    free(s->started);
    free(s);
}

int lf_pol_hybrid_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err)
{
    double f;
    int rc = lf_kv_double(kv, "fraction", 0.5, &f, err);
    if (rc)
        return rc;
    if (f < 0 || f > 1)
        return lf_fail(err, LF_EINVAL, "policy 'hybrid': fraction = %g is outside [0, 1]", f);
    hybrid_state *s = calloc(1, sizeof *s);
    if (!s)
        return lf_fail(err, LF_ENOMEM, "policy 'hybrid': out of memory");
    p->state = s;
    p->destroy = hybrid_destroy;
    rc = lf_pol_base_init(&s->base, "hybrid", ctx, err);
    if (rc == LF_OK && !(s->started = calloc(ctx->n_layers, 1)))
        rc = lf_fail(err, LF_ENOMEM, "policy 'hybrid': out of memory");
    if (rc) {
        hybrid_destroy(p);
        p->state = NULL;
        return rc;
    }
    s->pinned = (uint32_t)(f * ctx->units + 0.5);
    if (s->pinned > ctx->units)
        s->pinned = ctx->units;
    p->step = hybrid_step;
    p->max_resident = ctx->units;
    return LF_OK;
}
