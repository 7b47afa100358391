/* Policy `lru`: a per-layer cache of `capacity` units (default the DRAM budget's);
 * a miss evicts the least recently wanted units that the current token does not want.
 * Units wanted by the same token are equally recent: the smaller id is evicted first.
 * A wanted set larger than the cache is an error.
 * Per layer a FIFO of wanted ids in the order they were wanted (each token's ids pushed
 * in ascending order, so popping gives exactly the eviction order above) and, per unit,
 * the queue position of its latest entry: an older entry of a unit wanted again is
 * stale and skipped when it reaches the front. That is one random access per wanted
 * unit, where a linked list needs up to seven. The queue is a ring of qcap (a power of
 * two >= 2 x units) slots addressed by absolute positions (slot = position & mask):
 * the eviction pass skips stale entries as fast as hits make them, so in steady state
 * the live span does not grow and the ring is compacted only when the span would
 * overflow it or the positions near 2^31 (each compaction O(span)). O(n_want +
 * n_evict) per step, amortised. */
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_pol.h"
#include "lf_width.h"

#define POS_LIMIT (1u << 31) /* absolute positions stay below it (see compact) */
#define NARROW_UNITS 16384u  /* up to this many units: 16-bit ids and slots */

typedef struct {
    uint64_t cap;
    uint32_t units, qcap;  /* ring slots per layer: a power of two >= 2 x units */
    int narrow;            /* units <= NARROW_UNITS: pos and queue hold uint16_t */
    void *pos;             /* n_layers * units: the unit's live entry (GONE: none) */
    void *queue;           /* n_layers * qcap ids */
    uint32_t *head, *tail; /* per layer: the live span is positions [head, tail) */
    uint32_t *n_res;
} lru_state;

/* The two widths (lf_width.h), as one code path that the compiler specialises (narrow
 * is a constant in each caller); GONE is all ones at either (lf_w16_ones). Wide: pos
 * holds absolute positions (they stay below POS_LIMIT). Narrow: pos holds slots
 * (position & mask < qcap <= 32768); the live span is < qcap, so a slot names one entry
 * of it. Half the bytes keep a layer's state in the L1 cache longer. */
LF_WIDTH_INLINE uint32_t key(uint32_t position, uint32_t mask, int narrow)
{
    return narrow ? position & mask : position;
}

/* Moves the live entries of [head, tail) together at the front of the span, in order
 * (the write slot never passes the read slot), then shifts every position down by a
 * multiple of qcap so that head < qcap (slots unchanged). The live entries are the
 * resident units (<= cap <= units), so afterwards the step's pushes (<= cap) fit the
 * ring and tail stays far below POS_LIMIT. */
LF_WIDTH_INLINE void compact(void *queue, void *pos, uint32_t mask, uint32_t *head, uint32_t *tail,
                             int narrow)
{
    uint32_t w = *head, base = *head & ~mask;
    for (uint32_t i = *head; i < *tail; i++) {
        uint32_t u = lf_w16_get(queue, i & mask, narrow);
        if (lf_w16_get(pos, u, narrow) == key(i, mask, narrow)) {
            lf_w16_put(pos, u, key(w - base, mask, narrow), narrow);
            lf_w16_put(queue, w & mask, u, narrow);
            w++;
        }
    }
    *head -= base;
    *tail = w - base;
}

LF_WIDTH_INLINE void step(lru_state *s, uint32_t layer, const uint32_t *want, uint32_t n_want,
                          lf_plan *plan, int narrow)
{
    size_t es = narrow ? 2 : 4;
    void *pos = (char *)s->pos + (size_t)layer * s->units * es;
    void *queue = (char *)s->queue + (size_t)layer * s->qcap * es;
    uint32_t head = s->head[layer], tail = s->tail[layer], mask = s->qcap - 1;
    if (tail - head + (uint64_t)n_want > s->qcap || tail + (uint64_t)n_want >= POS_LIMIT)
        compact(queue, pos, mask, &head, &tail, narrow);
    /* One pass: every wanted unit becomes the most recent (pushed in ascending id
     * order), which also makes a hit's older entry stale, so the front of the queue
     * holds only units this token does not want. Branch-free: hit or miss is a coin
     * toss. */
    uint32_t *ld = plan->load;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i];
        *ld = u;
        ld += lf_w16_get(pos, u, narrow) == lf_w16_ones(narrow);
        lf_w16_put(pos, u, key(tail + i, mask, narrow), narrow);
        lf_w16_put(queue, (tail + i) & mask, u, narrow);
    }
    uint32_t n_load = (uint32_t)(ld - plan->load);
    plan->n_load = n_load;
    plan->n_hit = n_want - n_load;
    uint64_t after = (uint64_t)s->n_res[layer] + n_load;
    /* n_want <= cap (lf_policy_step), so the old entries hold enough live units before
     * the new ones are reached. The store one past the last eviction is inside
     * plan->evict (units entries). */
    uint32_t *ev = plan->evict;
    while (after > s->cap) {
        uint32_t u = lf_w16_get(queue, head & mask, narrow);
        uint32_t p = lf_w16_get(pos, u, narrow), live = p == key(head, mask, narrow);
        *ev = u;
        ev += live;
        lf_w16_put(pos, u, p | (0u - live), narrow); /* live: GONE (all ones); no branch */
        after -= live;
        head++;
    }
    plan->n_evict = (uint32_t)(ev - plan->evict);
    tail += n_want;
    s->head[layer] = head;
    s->tail[layer] = tail;
    s->n_res[layer] = (uint32_t)after;
    plan->n_resident = (uint32_t)after;
}

static int lru_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                    uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token, (void)err;
    lru_state *s = p->state;
    if (s->narrow)
        step(s, layer, want, n_want, plan, 1);
    else
        step(s, layer, want, n_want, plan, 0);
    return LF_OK;
}

static void lru_destroy(lf_policy *p)
{
    lru_state *s = p->state;
    free(s->pos);
    free(s->queue);
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
    if (ctx->units > (1u << 28))
        return lf_fail(err, LF_EINVAL, "%u units per layer: at most %u", ctx->units, 1u << 28);
    s->units = ctx->units;
    s->qcap = 2;
    while (s->qcap < 2 * ctx->units)
        s->qcap *= 2;
    s->narrow = ctx->units <= NARROW_UNITS;
    size_t n = (size_t)ctx->n_layers * ctx->units, es = s->narrow ? 2 : 4;
    s->pos = lf_bigmem_alloc(n * es); /* fresh pages: a few huge ones (lf_bigmem.h) */
    s->queue = lf_bigmem_alloc((size_t)ctx->n_layers * s->qcap * es);
    s->head = calloc(ctx->n_layers, sizeof *s->head);
    s->tail = calloc(ctx->n_layers, sizeof *s->tail);
    s->n_res = calloc(ctx->n_layers, sizeof *s->n_res);
    if (!s->pos || !s->queue || !s->head || !s->tail || !s->n_res)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    memset(s->pos, 0xff, n * es);
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
    .layers_independent = 1,
};
