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
    lf_pol_base base;
    uint64_t cap;
    uint32_t *prev, *next; /* n_layers * units; prev is toward the most recent */
    uint8_t *res;          /* n_layers * units */
    uint32_t *head, *tail; /* per layer: most and least recent */
    uint32_t *n_res;
} lru_state;

static int lru_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                    uint32_t n_want, lf_plan *plan, lf_err *err)
{
    lru_state *s = p->state;
    int rc = lf_pol_begin(&s->base, layer, token, want, n_want, err);
    if (rc)
        return rc;
    if (n_want > s->cap)
        return lf_pol_no_fit(&s->base, layer, token, n_want, s->cap, err);
    size_t off = (size_t)layer * s->base.units;
    uint32_t *prev = s->prev + off, *next = s->next + off;
    uint8_t *res = s->res + off;
    uint32_t *head = &s->head[layer], *tail = &s->tail[layer];
    plan->n_evict = plan->n_load = plan->n_hit = 0;
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
    if (!s)
        return;
    lf_pol_base_free(&s->base);
    free(s->prev);
    free(s->next);
    free(s->res);
    free(s->head);
    free(s->tail);
    free(s->n_res);
    free(s);
}

int lf_pol_lru_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err)
{
    uint64_t cap;
    int rc = lf_pol_capacity(ctx, kv, &cap, err);
    if (rc)
        return rc;
    lru_state *s = calloc(1, sizeof *s);
    if (!s)
        return lf_fail(err, LF_ENOMEM, "policy 'lru': out of memory");
    p->state = s;
    p->destroy = lru_destroy;
    s->cap = cap;
    rc = lf_pol_base_init(&s->base, "lru", ctx, err);
    if (rc == LF_OK) {
        size_t n = (size_t)ctx->n_layers * ctx->units;
        s->prev = malloc(n * sizeof *s->prev);
        s->next = malloc(n * sizeof *s->next);
        s->res = calloc(n, 1);
        s->head = malloc(ctx->n_layers * sizeof *s->head);
        s->tail = malloc(ctx->n_layers * sizeof *s->tail);
        s->n_res = calloc(ctx->n_layers, sizeof *s->n_res);
        if (!s->prev || !s->next || !s->res || !s->head || !s->tail || !s->n_res)
            rc = lf_fail(err, LF_ENOMEM, "policy 'lru': out of memory");
        else {
            memset(s->head, 0xff, ctx->n_layers * sizeof *s->head);
            memset(s->tail, 0xff, ctx->n_layers * sizeof *s->tail);
        }
    }
    if (rc) {
        lru_destroy(p);
        p->state = NULL;
        return rc;
    }
    p->step = lru_step;
    p->max_resident = cap;
    return LF_OK;
}
