/* Policy `naive` (the paper's baseline): every unit of the layer is read from flash for
 * every token. Each step evicts all of the previous token's units (highest id first, so
 * the DRAM manager's swap-delete moves nothing) and loads all units; there are no hits.
 * Ignores the DRAM budget: max_resident = units. O(units) per step. */
#include <stdlib.h>

#include "lf_pol.h"

typedef struct {
    uint8_t *started; /* per layer: a previous token loaded everything */
} naive_state;

static int naive_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                      uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token, (void)want, (void)n_want, (void)err;
    naive_state *s = p->state;
    uint32_t units = p->units;
    if (s->started[layer])
        for (uint32_t i = 0; i < units; i++)
            plan->evict[plan->n_evict++] = units - 1 - i;
    for (uint32_t i = 0; i < units; i++)
        plan->load[i] = i;
    plan->n_load = units;
    plan->n_resident = units;
    s->started[layer] = 1;
    return LF_OK;
}

static void naive_destroy(lf_policy *p)
{
    naive_state *s = p->state;
    free(s->started);
}

static int naive_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    (void)kv;
    naive_state *s = p->state;
    if (!(s->started = calloc(ctx->n_layers, 1)))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    p->max_resident = ctx->units;
    return LF_OK;
}

const lf_policy_desc lf_pol_naive = {
    .name = "naive",
    .help = "reads every unit of the layer for every token (the paper's baseline)",
    .keys = (const lf_policy_key[]){{NULL, NULL}},
    .state_size = sizeof(naive_state),
    .create = naive_create,
    .step = naive_step,
    .destroy = naive_destroy,
    .layers_independent = 1,
};
