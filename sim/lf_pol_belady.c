/* Policy `belady`: the offline optimum (Belady's MIN) for a cache of `capacity` units
 * per layer (default the DRAM budget's): load only on demand, and when room is needed
 * evict the unwanted resident units whose next use is farthest (never used again
 * first; ties: the smaller id). Farthest-next-use stays optimal when a token wants a
 * whole set at once: it is the lower bound for every demand policy at that capacity.
 * The look-ahead reads the replayed trace (ctx->trace): future=need (default) its
 * needed sets, future=pred its recorded predicted sets. When the sets the engine
 * passes (`want`) equal those, the result is exactly optimal; when they differ (a
 * predictor's error model), the policy still serves `want` correctly but its
 * look-ahead is that of the trace's sets, so it is an approximation of the optimum.
 * Per layer: each unit's future use tokens (a transposed copy of the trace), a cursor
 * per unit, and an indexed heap of the resident units keyed by next use.
 * O((n_want + n_evict + n_future) log capacity) per step. */
#include <stdlib.h>
#include <string.h>

#include "lf_pheap.h"
#include "lf_pol.h"

#define NEVER UINT32_MAX

typedef struct {
    uint64_t *ptr;    /* units + 1: uses of u are occ[ptr[u]..ptr[u+1]) */
    uint32_t *occ;    /* tokens, ascending per unit */
    uint64_t *cursor; /* units: first use not yet passed */
    lf_pheap heap;    /* resident units, key = NEVER - next use */
} belady_layer;

typedef struct {
    uint64_t cap;
    const lf_trace *trace;
    int pred; /* look ahead on the recorded predicted sets */
    belady_layer *layers;
} belady_state;

/* The sets the look-ahead reads for token tok of layer l. */
static const uint32_t *future_set(const belady_state *s, uint32_t l, uint32_t tok, uint32_t *n)
{
    const lf_trace_layer *L = &s->trace->layers[l];
    if (tok >= s->trace->n_tokens) {
        *n = 0;
        return NULL;
    }
    if (!s->pred)
        return lf_trace_ids(s->trace, l, tok, n);
    *n = (uint32_t)(L->pred_indptr[tok + 1] - L->pred_indptr[tok]);
    return L->pred_index + L->pred_indptr[tok];
}

static inline uint32_t next_use(belady_layer *B, uint32_t u, uint32_t t)
{
    uint64_t p = B->cursor[u], end = B->ptr[u + 1];
    while (p < end && B->occ[p] <= t)
        p++;
    B->cursor[u] = p;
    return p < end ? B->occ[p] : NEVER;
}

static int belady_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)err;
    belady_state *s = p->state;
    belady_layer *B = &s->layers[layer];
    lf_pheap *h = &B->heap;
    plan->n_hit = lf_pheap_take_wanted(h, want, n_want, plan->load, &plan->n_load);
    /* resident units the trace uses now but `want` lacks: their key has just passed */
    uint32_t n_fut;
    const uint32_t *fut = future_set(s, layer, t, &n_fut);
    for (uint32_t i = 0; i < n_fut; i++) {
        uint32_t u = fut[i];
        if (lf_pheap_has(h, u)) {
            lf_pheap_remove(h, u);
            lf_pheap_push(h, u, NEVER - next_use(B, u, t));
        }
    }
    uint64_t after = (uint64_t)h->n + n_want;
    while (after > s->cap) {
        plan->evict[plan->n_evict++] = lf_pheap_pop(h);
        after--;
    }
    for (uint32_t i = 0; i < n_want; i++)
        lf_pheap_push(h, want[i], NEVER - next_use(B, want[i], t));
    plan->n_resident = h->n;
    return LF_OK;
}

static void belady_destroy(lf_policy *p)
{
    belady_state *s = p->state;
    if (s->layers)
        for (uint32_t l = 0; l < p->n_layers; l++) {
            free(s->layers[l].ptr);
            free(s->layers[l].occ);
            free(s->layers[l].cursor);
            lf_pheap_free(&s->layers[l].heap);
        }
    free(s->layers);
}

/* Transposes layer l's future sets: for every unit, the tokens that use it. */
static int build_layer(belady_state *s, uint32_t units, uint32_t l, lf_err *err)
{
    belady_layer *B = &s->layers[l];
    uint32_t n_tok = s->trace->n_tokens;
    B->ptr = calloc((size_t)units + 1, sizeof *B->ptr);
    B->cursor = malloc((size_t)units * sizeof *B->cursor);
    if (!B->ptr || !B->cursor)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    for (uint32_t t = 0; t < n_tok; t++) {
        uint32_t n;
        const uint32_t *ids = future_set(s, l, t, &n);
        for (uint32_t i = 0; i < n; i++)
            B->ptr[ids[i] + 1]++;
    }
    for (uint32_t u = 0; u < units; u++)
        B->ptr[u + 1] += B->ptr[u];
    B->occ = malloc((size_t)(B->ptr[units] ? B->ptr[units] : 1) * sizeof *B->occ);
    if (!B->occ)
        return lf_fail(err, LF_ENOMEM, "out of memory (%llu uses in layer %u)",
                       (unsigned long long)B->ptr[units], l);
    memcpy(B->cursor, B->ptr, (size_t)units * sizeof *B->cursor);
    for (uint32_t t = 0; t < n_tok; t++) {
        uint32_t n;
        const uint32_t *ids = future_set(s, l, t, &n);
        for (uint32_t i = 0; i < n; i++)
            B->occ[B->cursor[ids[i]]++] = t;
    }
    memcpy(B->cursor, B->ptr, (size_t)units * sizeof *B->cursor);
    return lf_pheap_init(&B->heap, units, err);
}

static int belady_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    belady_state *s = p->state;
    uint64_t cap;
    int rc = lf_pol_capacity(ctx, kv, &cap, err);
    if (rc)
        return rc;
    const char *fut = lf_kv_get(kv, "future");
    int pred = 0;
    if (fut && strcmp(fut, "pred") == 0)
        pred = 1;
    else if (fut && strcmp(fut, "need") != 0)
        return lf_fail(err, LF_EINVAL, "future = '%s' must be need or pred", fut);
    const lf_trace *t = ctx->trace;
    if (!t)
        return lf_fail(err, LF_EINVAL, "the look-ahead needs the replayed trace");
    if (t->n_layers != ctx->n_layers || t->units_per_layer != ctx->units)
        return lf_fail(err, LF_EINVAL,
                       "the trace has %u layers x %u units, the replay %u x %u",
                       t->n_layers, t->units_per_layer, ctx->n_layers, ctx->units);
    if (pred)
        for (uint32_t l = 0; l < t->n_layers; l++)
            if (!t->layers[l].pred_indptr)
                return lf_fail(err, LF_EINVAL,
                               "future=pred but layer %u of the trace has no "
                               "recorded predicted sets; use future=need",
                               l);
    s->cap = cap;
    s->trace = t;
    s->pred = pred;
    if (!(s->layers = calloc(ctx->n_layers, sizeof *s->layers)))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    for (uint32_t l = 0; l < ctx->n_layers; l++)
        if ((rc = build_layer(s, ctx->units, l, err)))
            return rc;
    p->fit = cap;
    p->max_resident = cap;
    return LF_OK;
}

const lf_policy_desc lf_pol_belady = {
    .name = "belady",
    .help = "the offline optimum: evicts the unit whose next use is farthest",
    .keys = (const lf_policy_key[]){LF_POL_KEY_CAPACITY,
                                    {"future", "need (default): look ahead on the needed sets; "
                                               "pred: on the recorded predicted sets"},
                                    {NULL, NULL}},
    .state_size = sizeof(belady_state),
    .create = belady_create,
    .step = belady_step,
    .destroy = belady_destroy,
};
