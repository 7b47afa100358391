/* Policy `lfu`: a per-layer cache of `capacity` units (default the DRAM budget's); a
 * miss evicts the unwanted resident unit used least often, ties: the one used least
 * recently, then the smaller id. history=0 (default) counts uses since the unit was
 * last loaded (classic in-cache LFU); history=1 keeps counts across evictions.
 * Lazy bucketed queues: per layer one queue per use count of entries (unit, the step at
 * which it reached that count), in push order, which is (last use, id) order because a
 * step pushes its wanted units in ascending id after every older step. A hit does not
 * take its unit out of its old count's queue (that unlink, two scattered writes per hit,
 * was most of the time of a doubly-linked version): the entry goes stale, for its unit's
 * last use is no longer the entry's step, and is dropped when an eviction meets it at a
 * queue's head, or by a sweep of the layer's queues once stale entries outnumber the
 * units. A bitmap of the non-empty queues finds the least count. A step pushes its
 * wanted units in the same pass that splits hits from loads, before its evictions, which
 * stop in each queue at the step's own entries (a second pass over the wanted units,
 * after the evictions, cost 17% of the replay). O(n_want + n_evict) per step, amortised
 * over the sweeps. The queues' arrays come from an arena of huge pages
 * with a free list per power-of-two size: from malloc they took 4700 page faults more on
 * opt-6.7b (~11 us each on this VM: 0.05 s of a 0.23 s replay). Queues
 * singly linked through one log of entries instead were 30% slower: an eviction then
 * chases a pointer per entry where an array streams. */
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_pol.h"

typedef struct {
    uint32_t unit, step;
} lfu_entry;

typedef struct {
    lfu_entry *v;
    uint32_t head, len, cap; /* live part v[head..len); cap = 0 or MIN_QUEUE << k */
} lfu_queue;

#define MIN_QUEUE 16u
#define N_SIZES 28 /* up to MIN_QUEUE << 27 = 2^31 entries; a larger queue is ENOMEM */

/* Queue arrays: an arena of huge pages and a free list per size (an array's first
 * bytes hold the link while it is free). Shared by the policy's layers; freed with it. */
typedef struct {
    lf_bigmem_arena *arena;
    lfu_entry *free[N_SIZES];
} lfu_pool;

typedef struct {
    uint32_t count; /* uses (since loaded, or since the start with history=1) */
    uint32_t last;  /* the step of its latest use: its one valid entry's step */
} lfu_unit;

typedef struct {
    lfu_unit *unit;     /* units */
    uint8_t *res;       /* units: 1 = resident (a byte array a step's tests keep in L1) */
    lfu_queue *q;       /* per count 0..n_counts-1 */
    uint64_t *nonempty; /* bit c: q[c] has entries (valid or stale) */
    uint32_t n_counts;  /* queues allocated */
    uint32_t low;       /* no non-empty queue below it */
    uint32_t top;       /* the largest count any unit has had */
    uint32_t n_res;
    uint64_t stored; /* entries in all queues, stale ones included */
    lfu_pool *pool;
} lfu_layer;

typedef struct {
    uint64_t cap;
    int history;
    int broken;        /* a step ran out of memory half-way: the state is lost */
    uint64_t sweep_at; /* sweep a layer's queues when it stores more entries */
    lfu_pool pool;
    lfu_layer *layers;
    lfu_unit *units;   /* every layer's unit arrays, one block of fresh huge pages */
    uint8_t *res;      /* every layer's res arrays */
} lfu_state;

static inline int valid(const lfu_layer *L, lfu_entry e)
{
    return L->res[e.unit] && L->unit[e.unit].last == e.step;
}

static uint32_t size_of(uint32_t cap)
{
    return (uint32_t)__builtin_ctz(cap / MIN_QUEUE);
}

static lfu_entry *pool_get(lfu_pool *p, uint32_t size)
{
    lfu_entry *b = p->free[size];
    if (b) {
        uintptr_t next;
        memcpy(&next, b, sizeof next);
        p->free[size] = (lfu_entry *)next;
        return b;
    }
    return lf_bigmem_arena_alloc(p->arena, ((size_t)MIN_QUEUE << size) * sizeof *b);
}

static void pool_put(lfu_pool *p, lfu_entry *b, uint32_t cap)
{
    if (!b)
        return;
    uint32_t size = size_of(cap);
    uintptr_t next = (uintptr_t)p->free[size];
    memcpy(b, &next, sizeof next);
    p->free[size] = b;
}

/* Moves q's live entries to the start of a new array of cap entries (>= them); 0 when
 * out of memory (q unchanged). */
static int requeue(lfu_pool *p, lfu_queue *q, uint32_t cap)
{
    lfu_entry *v = cap ? pool_get(p, size_of(cap)) : NULL;
    if (cap && !v)
        return 0;
    if (q->len > q->head)
        memcpy(v, q->v + q->head, (size_t)(q->len - q->head) * sizeof *v);
    pool_put(p, q->v, q->cap);
    q->v = v;
    q->len -= q->head;
    q->head = 0;
    q->cap = cap;
    return 1;
}

/* Makes room for queues 0..c. */
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
    lfu_queue *q = realloc(L->q, n * sizeof *q);
    if (q)
        L->q = q;
    uint64_t *b = q ? realloc(L->nonempty, n / 64 * sizeof *b) : NULL;
    if (!b)
        return lf_fail(err, LF_ENOMEM, "out of memory (use counts up to %u)", c);
    L->nonempty = b;
    memset(L->q + L->n_counts, 0, (n - L->n_counts) * sizeof *q);
    memset(L->nonempty + L->n_counts / 64, 0, (n - L->n_counts) / 64 * sizeof *b);
    L->n_counts = (uint32_t)n;
    return LF_OK;
}

/* Keeps each queue's valid entries, in order; then stored = the resident units. Gives
 * back the room of queues much larger than what they keep (a failed shrink keeps it). */
static void sweep(lfu_layer *L)
{
    uint64_t kept_all = 0;
    for (uint32_t w = 0; w < L->n_counts / 64; w++)
        for (uint64_t bits = L->nonempty[w]; bits; bits &= bits - 1) {
            uint32_t c = w * 64 + (uint32_t)__builtin_ctzll(bits);
            lfu_queue *q = &L->q[c];
            uint32_t kept = 0;
            for (uint32_t i = q->head; i < q->len; i++) {
                q->v[kept] = q->v[i];
                kept += (uint32_t)valid(L, q->v[i]);
            }
            q->head = 0;
            q->len = kept;
            kept_all += kept;
            if (!kept)
                L->nonempty[w] &= ~(1ull << (c & 63));
            uint64_t fit = MIN_QUEUE; /* the least size with room for twice what it keeps */
            while (fit < 2 * (uint64_t)kept)
                fit *= 2;
            if (q->cap > 4 * fit || !kept) /* a failed move keeps its array */
                (void)requeue(L->pool, q, kept ? (uint32_t)fit : 0);
        }
    L->stored = kept_all;
}

/* Appends (u, step) to q[c]; 0 when out of memory. */
static int push(lfu_layer *L, uint32_t c, uint32_t u, uint32_t step)
{
    lfu_queue *q = &L->q[c];
    if (q->len == q->cap) {
        if (q->head > q->cap / 2) { /* mostly popped: slide down instead of growing */
            memmove(q->v, q->v + q->head, (size_t)(q->len - q->head) * sizeof *q->v);
            q->len -= q->head;
            q->head = 0;
        } else if (q->cap >= (MIN_QUEUE << (N_SIZES - 1)) ||
                   !requeue(L->pool, q, q->cap ? 2 * q->cap : MIN_QUEUE)) {
            return 0;
        }
    }
    q->v[q->len++] = (lfu_entry){u, step};
    L->stored++;
    L->nonempty[c >> 6] |= 1ull << (c & 63);
    if (c < L->low)
        L->low = c;
    return 1;
}

/* The least count from `from` up whose queue is non-empty (n_counts when none). */
static uint32_t least_nonempty(const lfu_layer *L, uint32_t from)
{
    for (uint32_t w = from >> 6; w < L->n_counts / 64; w++) {
        uint64_t bits = L->nonempty[w] & (~0ull << (w == from >> 6 ? (from & 63) : 0));
        if (bits)
            return w * 64 + (uint32_t)__builtin_ctzll(bits);
    }
    return L->n_counts;
}

/* Pops the least count's oldest valid entry older than step t, searching from count
 * *from up; UINT32_MAX when there is none (the caller's accounting says there is: a
 * bug). A queue's entries are in step order, so an entry of step t ends the search in
 * its queue: it and all after it are the step's own wanted units, which stay, and the
 * step's later pops start above that queue (*from). */
static uint32_t pop_least(lfu_layer *L, uint32_t t, uint32_t *from)
{
    for (uint32_t c = least_nonempty(L, *from); c < L->n_counts; c = least_nonempty(L, c + 1)) {
        lfu_queue *q = &L->q[c];
        uint32_t found = UINT32_MAX;
        while (q->head < q->len && q->v[q->head].step != t && found == UINT32_MAX) {
            lfu_entry e = q->v[q->head++];
            L->stored--;
            if (valid(L, e))
                found = e.unit;
        }
        if (q->head == q->len) {
            q->head = q->len = 0;
            L->nonempty[c >> 6] &= ~(1ull << (c & 63));
        }
        if (found != UINT32_MAX) {
            *from = c;
            return found;
        }
        *from = c + 1; /* empty, or only the step's own entries left */
    }
    return UINT32_MAX;
}

static int lfu_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                    uint32_t n_want, lf_plan *plan, lf_err *err)
{
    lfu_state *s = p->state;
    if (s->broken)
        return lf_fail(err, LF_ENOMEM, "an earlier step ran out of memory; start again");
    lfu_layer *L = &s->layers[layer];
    lfu_unit *unit = L->unit;
    uint8_t *res = L->res;
    /* the queues the step will push to exist before anything changes: a count grows by
     * at most one per step, so queues up to the largest count so far + 1 */
    int rc = grow(L, L->top + 1, err);
    if (rc != LF_OK)
        return rc;
    if (L->stored > s->sweep_at)
        sweep(L);
    /* One pass: hit or miss is a coin toss, so the loads and hits are split without
     * branches; every wanted unit's latest use becomes this step and it joins the queue
     * of its new count (the pushes come before the evictions: pop_least leaves the
     * step's own entries alone, so no eviction below can take a wanted unit). */
    uint32_t n_load = 0, top = L->top;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i];
        plan->load[n_load] = u;
        n_load += res[u] ^ 1u;
        uint32_t c = unit[u].count + (unit[u].count < UINT32_MAX - 1);
        unit[u] = (lfu_unit){c, t};
        res[u] = 1;
        top = c > top ? c : top;
        if (!push(L, c, u, t)) {
            s->broken = 1;
            return lf_fail(err, LF_ENOMEM, "out of memory (a queue of count %u)", c);
        }
    }
    plan->n_load = n_load;
    plan->n_hit = n_want - n_load;
    uint64_t after = (uint64_t)L->n_res + n_load;
    uint32_t from = L->low;
    while (after > s->cap) {
        uint32_t u = pop_least(L, t, &from);
        if (u == UINT32_MAX)
            return lf_fail(err, LF_EINVAL, "no unit left to evict (policy bug)");
        res[u] = 0;
        if (!s->history)
            unit[u].count = 0;
        plan->evict[plan->n_evict++] = u;
        L->n_res--;
        after--;
    }
    L->low = least_nonempty(L, L->low);
    L->top = top;
    L->n_res += n_load;
    plan->n_resident = L->n_res;
    return LF_OK;
}

static void lfu_destroy(lf_policy *p)
{
    lfu_state *s = p->state;
    free(s->units);
    free(s->res);
    lf_bigmem_arena_free(s->pool.arena); /* every queue's array */
    for (uint32_t l = 0; s->layers && l < p->n_layers; l++) {
        lfu_layer *L = &s->layers[l];
        free(L->q);
        free(L->nonempty);
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
    /* a sweep leaves the resident units' entries (<= units): sweeping above 2 x units
     * keeps at least `units` pushes between sweeps, so each entry is swept O(1) times
     * (above 1 x units ran as fast on opt-6.7b in 5 MB less, but a cache of nearly
     * every unit would then sweep every 1024 pushes) */
    s->sweep_at = 2 * (uint64_t)ctx->units + 1024;
    size_t n_units = (size_t)ctx->n_layers * ctx->units;
    if (!(s->layers = calloc(ctx->n_layers, sizeof *s->layers)) ||
        !(s->units = lf_bigmem_alloc(n_units * sizeof *s->units)) ||
        !(s->res = calloc(n_units, 1)) || !(s->pool.arena = lf_bigmem_arena_new()))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    memset(s->units, 0, n_units * sizeof *s->units);
    for (uint32_t l = 0; l < ctx->n_layers; l++) {
        lfu_layer *L = &s->layers[l];
        L->unit = s->units + (size_t)l * ctx->units;
        L->res = s->res + (size_t)l * ctx->units;
        L->pool = &s->pool;
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
