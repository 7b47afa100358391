/* Policy `naive` (the paper's baseline): every unit of the layer is read from flash for
 * every token. Each step evicts all of the previous token's units (highest id first, so
 * the DRAM manager's swap-delete moves nothing) and loads all units; there are no hits.
 * Ignores the DRAM budget: max_resident = units. O(units) per step. */
#include <stdlib.h>

#include "lf_pol.h"

typedef struct {
    lf_pol_base base;
    uint8_t *started; /* per layer: a previous token loaded everything */
} naive_state;

static int naive_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                      uint32_t n_want, lf_plan *plan, lf_err *err)
{
    naive_state *s = p->state;
    int rc = lf_pol_begin(&s->base, layer, token, want, n_want, err);
    if (rc)
        return rc;
    uint32_t units = s->base.units;
    plan->n_evict = 0;
    if (s->started[layer])
        for (uint32_t i = 0; i < units; i++)
            plan->evict[plan->n_evict++] = units - 1 - i;
    for (uint32_t i = 0; i < units; i++)
        plan->load[i] = i;
    plan->n_load = units;
    plan->n_hit = 0;
    plan->n_resident = units;
    s->started[layer] = 1;
    return LF_OK;
}

static void naive_destroy(lf_policy *p)
{
    naive_state *s = p->state;
    if (!s)
        return;
    lf_pol_base_free(&s->base);
    free(s->started);
    free(s);
}

int lf_pol_naive_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err)
{
    (void)kv;
    naive_state *s = calloc(1, sizeof *s);
    if (!s)
        return lf_fail(err, LF_ENOMEM, "policy 'naive': out of memory");
    p->state = s;
    p->destroy = naive_destroy;
    int rc = lf_pol_base_init(&s->base, "naive", ctx, err);
    if (rc == LF_OK && !(s->started = calloc(ctx->n_layers, 1)))
        rc = lf_fail(err, LF_ENOMEM, "policy 'naive': out of memory");
    if (rc) {
        naive_destroy(p);
        p->state = NULL;
        return rc;
    }
    p->step = naive_step;
    p->max_resident = ctx->units;
    return LF_OK;
}
