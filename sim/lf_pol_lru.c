/* Policy `lru`: a per-layer cache of `capacity` units (default the DRAM budget's);
 * a miss evicts the least recently wanted units that the current token does not want.
 * Units wanted by the same token are equally recent: the smaller id is evicted first.
 * A wanted set larger than the cache is an error. Per layer a doubly linked list in
 * id-indexed arrays; O(n_want + n_evict) per step. */
#include <stdlib.h>
#include <string.h>

#include "lf_pol.h"

#define NIL UINT32_MAX

typedef struct {
    uint64_t cap;
    uint32_t *prev, *next; /* n_layers * units; prev is toward the most recent */
    uint8_t *res;          /* n_layers * units */
    uint32_t *head, *tail; /* per layer: most and least recent */
    uint32_t *n_res;
} lru_state;

static int lru_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                    uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token, (void)err;
    lru_state *s = p->state;
    size_t off = (size_t)layer * p->units;
    uint32_t *prev = s->prev + off, *next = s->next + off;
    uint8_t *res = s->res + off;
    uint32_t *head = &s->head[layer], *tail = &s->tail[layer];
    /* take the wanted hits out of the list, so the tail holds only unwanted units */
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i];
        if (!res[u]) {
            plan->load[plan->n_load++] = u;
            continue;
        }
        plan->n_hit++;
        if (prev[u] != NIL) next[prev[u]] = next[u]; else *head = next[u];
        if (next[u] != NIL) prev[next[u]] = prev[u]; else *tail = prev[u];
    }
    uint64_t after = (uint64_t)s->n_res[layer] + plan->n_load;
    while (after > s->cap) {
        uint32_t u = *tail;
        *tail = prev[u];
        if (*tail != NIL) next[*tail] = NIL; else *head = NIL;
        res[u] = 0;
        plan->evict[plan->n_evict++] = u;
        after--;
    }
    /* the wanted units become the most recent, the largest id at the head */
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i];
        res[u] = 1;
        prev[u] = NIL;
        next[u] = *head;
        if (*head != NIL) prev[*head] = u; else *tail = u;
        *head = u;
    }
    s->n_res[layer] = (uint32_t)after;
    plan->n_resident = (uint32_t)after;
    return LF_OK;
}

static void lru_destroy(lf_policy *p)
{
    lru_state *s = p->state;
    free(s->prev);
    free(s->next);
    free(s->res);
    free(s->head);
    free(s->tail);
    free(s->n_res);
}

static int lru_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    lru_state *s = p->state;
    int rc = lf_pol_capacity(ctx, kv, &s->cap, err);
    if (rc)
        return rc;
    size_t n = (size_t)ctx->n_layers * ctx->units;
    s->prev = malloc(n * sizeof *s->prev);
    s->next = malloc(n * sizeof *s->next);
    s->res = calloc(n, 1);
    s->head = malloc(ctx->n_layers * sizeof *s->head);
    s->tail = malloc(ctx->n_layers * sizeof *s->tail);
    s->n_res = calloc(ctx->n_layers, sizeof *s->n_res);
    if (!s->prev || !s->next || !s->res || !s->head || !s->tail || !s->n_res)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    memset(s->head, 0xff, ctx->n_layers * sizeof *s->head);
    memset(s->tail, 0xff, ctx->n_layers * sizeof *s->tail);
    p->fit = s->cap;
    p->max_resident = s->cap;
    return LF_OK;
}

const lf_policy_desc lf_pol_lru = {
    .name = "lru",
    .help = "a cache that evicts the least recently wanted units",
    .keys = (const lf_policy_key[]){LF_POL_KEY_CAPACITY, {NULL, NULL}},
    .state_size = sizeof(lru_state),
    .create = lru_create,
    .step = lru_step,
    .destroy = lru_destroy,
};
