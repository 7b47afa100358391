/* Policy `lfu`: a per-layer cache of `capacity` units (default the DRAM budget's); a
 * miss evicts the unwanted resident unit used least often, ties: the one used least
 * recently, then the smaller id. history=0 (default) counts uses since the unit was
 * last loaded (classic in-cache LFU); history=1 keeps counts across evictions.
 * O(1) LFU: per layer one list of resident units per use count, each list in (last
 * use, id) order, because a step appends its wanted units in ascending id after every
 * older use; a bitmap of the non-empty counts finds the least one. A step takes its
 * wanted hits out of their lists, pops the evictions from the least counts' heads (so
 * no wanted unit can be chosen), then appends every wanted unit to its new count's
 * list. O(n_want + n_evict) per step, plus the bitmap scans. */
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_pol.h"

#define NIL UINT32_MAX

typedef struct {
    uint32_t prev, next; /* neighbours in the unit's count list */
    uint32_t count;      /* uses (since loaded, or since the start with history=1) */
    uint32_t res;        /* resident */
} lfu_node;

typedef struct {
    lfu_node *node;       /* units */
    uint32_t *head, *tail; /* per count 0..n_counts-1 */
    uint64_t *nonempty;   /* bit c: list c is non-empty */
    uint32_t n_counts;    /* lists allocated */
    uint32_t low;         /* no non-empty list below it */
    uint32_t top;         /* the largest count any unit has had */
    uint32_t n_res;
} lfu_layer;

typedef struct {
    uint64_t cap;
    int history;
    lfu_layer *layers;
    lfu_node *nodes; /* every layer's node arrays, one block of fresh huge pages */
} lfu_state;

static inline void unlink_unit(lfu_layer *L, uint32_t u)
{
    lfu_node *x = &L->node[u];
    uint32_t c = x->count;
    if (x->prev != NIL) L->node[x->prev].next = x->next; else L->head[c] = x->next;
    if (x->next != NIL) L->node[x->next].prev = x->prev; else L->tail[c] = x->prev;
    if (L->head[c] == NIL)
        L->nonempty[c >> 6] &= ~(1ull << (c & 63));
}

/* Makes room for lists 0..c. */
static int grow(lfu_layer *L, uint32_t c, lf_err *err)
{
    if (c < L->n_counts)
        return LF_OK;
    uint64_t n = (uint64_t)L->n_counts * 2;
    if (n <= c)
        n = (uint64_t)c + 1;
    n = (n + 63) & ~63ull;
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    uint32_t *h = realloc(L->head, n * sizeof *h);
    if (h)
        L->head = h;
    uint32_t *t = h ? realloc(L->tail, n * sizeof *t) : NULL;
    if (t)
        L->tail = t;
    uint64_t *b = t ? realloc(L->nonempty, n / 64 * sizeof *b) : NULL;
    if (!b)
        return lf_fail(err, LF_ENOMEM, "out of memory (use counts up to %u)", c);
    L->nonempty = b;
    memset(L->head + L->n_counts, 0xff, (n - L->n_counts) * sizeof *h);
    memset(L->tail + L->n_counts, 0xff, (n - L->n_counts) * sizeof *t);
    memset(L->nonempty + L->n_counts / 64, 0, (n - L->n_counts) / 64 * sizeof *b);
    L->n_counts = (uint32_t)n;
    return LF_OK;
}

static uint32_t pop_least(lfu_layer *L)
{
    uint32_t w = L->low >> 6;
    while (!L->nonempty[w])
        w++;
    uint32_t c = w * 64 + (uint32_t)__builtin_ctzll(L->nonempty[w]);
    L->low = c;
    uint32_t u = L->head[c];
    unlink_unit(L, u);
    return u;
}

static int lfu_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                    uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)t;
    lfu_state *s = p->state;
    lfu_layer *L = &s->layers[layer];
    lfu_node *node = L->node;
    /* the lists the step will append to exist before anything changes: a count grows
     * by at most one per step, so lists up to the largest count so far + 1 */
    int rc = grow(L, L->top + 1, err);
    if (rc != LF_OK)
        return rc;
    /* Hit or miss is a coin toss: split want without branches into the loads and the
     * hits (kept in plan->evict until the evictions overwrite them), then take the hits
     * out of their lists, asking ahead for their neighbours (scattered over node). */
    uint32_t n_load = 0, n_hit = 0, *hit = plan->evict;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i], r = node[u].res;
        plan->load[n_load] = u;
        n_load += r ^ 1;
        hit[n_hit] = u;
        n_hit += r;
    }
    for (uint32_t j = 0; j < n_hit; j++)
        unlink_unit(L, hit[j]);
    plan->n_load = n_load;
    plan->n_hit = n_hit;
    L->n_res -= n_hit;
    uint64_t after = (uint64_t)L->n_res + n_want;
    while (after > s->cap) {
        uint32_t u = pop_least(L);
        node[u].res = 0;
        if (!s->history)
            node[u].count = 0;
        plan->evict[plan->n_evict++] = u;
        L->n_res--;
        after--;
    }
    uint32_t top = L->top;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i];
        lfu_node *x = &node[u];
        if (x->count < UINT32_MAX - 1)
            x->count++;
        uint32_t c = x->count;
        top = c > top ? c : top;
        x->res = 1;
        x->next = NIL;
        x->prev = L->tail[c];
        if (x->prev != NIL) node[x->prev].next = u; else L->head[c] = u;
        L->tail[c] = u;
        L->nonempty[c >> 6] |= 1ull << (c & 63);
        if (c < L->low)
            L->low = c;
    }
    L->top = top;
    L->n_res += n_want;
    plan->n_resident = L->n_res;
    return LF_OK;
}

static void lfu_destroy(lf_policy *p)
{
    lfu_state *s = p->state;
    free(s->nodes);
    for (uint32_t l = 0; s->layers && l < p->n_layers; l++) {
        free(s->layers[l].head);
        free(s->layers[l].tail);
        free(s->layers[l].nonempty);
    }
    free(s->layers);
}

static int lfu_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    lfu_state *s = p->state;
    uint64_t history;
    int rc = lf_pol_capacity(ctx, kv, &s->cap, err);
    if (rc == LF_OK)
        rc = lf_kv_u64(kv, "history", 0, &history, err);
    if (rc)
        return rc;
    if (history > 1)
        return lf_fail(err, LF_EINVAL, "history = %llu must be 0 or 1",
                       (unsigned long long)history);
    s->history = (int)history;
    size_t n_nodes = (size_t)ctx->n_layers * ctx->units;
    if (!(s->layers = calloc(ctx->n_layers, sizeof *s->layers)) ||
        !(s->nodes = lf_bigmem_alloc(n_nodes * sizeof *s->nodes)))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    memset(s->nodes, 0, n_nodes * sizeof *s->nodes);
    for (uint32_t l = 0; l < ctx->n_layers; l++) {
        lfu_layer *L = &s->layers[l];
        L->node = s->nodes + (size_t)l * ctx->units;
        if ((rc = grow(L, 63, err)) != LF_OK)
            return rc;
    }
    p->fit = s->cap;
    p->max_resident = s->cap;
    return LF_OK;
}

const lf_policy_desc lf_pol_lfu = {
    .name = "lfu",
    .help = "a cache that evicts the unwanted unit wanted least often",
    .keys = (const lf_policy_key[]){LF_POL_KEY_CAPACITY,
                                    {"history", "0: count uses since loaded (default), 1: since "
                                                "the start"},
                                    {NULL, NULL}},
    .state_size = sizeof(lfu_state),
    .create = lfu_create,
    .step = lfu_step,
    .destroy = lfu_destroy,
    .layers_independent = 1,
};
