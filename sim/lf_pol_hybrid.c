/* Policy `hybrid` (the paper's second baseline, no sparsity): the first
 * P = round(fraction * units) units of each layer are loaded with the first token and
 * kept; the other units are read again for every token and dropped at the next (evicted
 * highest id first, so the DRAM manager's swap-delete moves nothing). Hits are the
 * wanted ids below P after the first token. Ignores the DRAM budget: max_resident =
 * units. O(units - P) per step. */
#include <stdlib.h>

#include "lf_pol.h"

typedef struct {
    uint32_t pinned;  /* P */
    uint8_t *started; /* per layer */
} hybrid_state;

static int hybrid_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token, (void)err;
    hybrid_state *s = p->state;
    uint32_t units = p->units, P = s->pinned;
    uint32_t first = P;
    if (s->started[layer]) {
        for (uint32_t i = units; i > P; i--)
            plan->evict[plan->n_evict++] = i - 1;
        /* wanted ids below P were kept: count them (want is sorted) */
        plan->n_hit = lf_ids_lower_bound(want, n_want, P);
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
    free(s->started);
}

static int hybrid_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    hybrid_state *s = p->state;
    double f;
    int rc = lf_kv_double(kv, "fraction", 0.5, &f, err);
    if (rc)
        return rc;
    if (f < 0 || f > 1)
        return lf_fail(err, LF_EINVAL, "fraction = %g is outside [0, 1]", f);
    if (!(s->started = calloc(ctx->n_layers, 1)))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    s->pinned = (uint32_t)(f * ctx->units + 0.5);
    if (s->pinned > ctx->units)
        s->pinned = ctx->units;
    p->max_resident = ctx->units;
    return LF_OK;
}

const lf_policy_desc lf_pol_hybrid = {
    .name = "hybrid",
    .help = "keeps the first fraction of each layer, reads the rest for every token",
    .keys = (const lf_policy_key[]){{"fraction", "share of units pinned, in [0,1] (default 0.5)"},
                                    {NULL, NULL}},
    .state_size = sizeof(hybrid_state),
    .create = hybrid_create,
    .step = hybrid_step,
    .destroy = hybrid_destroy,
    .layers_independent = 1,
};
