/* Policy `window` (the paper's sliding window): keep the union of the last k tokens'
 * wanted sets; a token loads what it wants that is not resident and evicts the units
 * whose latest use has left the window. When that union would exceed the cache
 * (capacity, default the DRAM budget's), the step uses the largest k' < k that fits:
 * the units last used by the older tokens are dropped (counted as a shrink; the window
 * regrows as new tokens come). A wanted set larger than the cache is an error.
 * Per layer: st[u] = resident bit | latest token that wanted u (mod 2^7 or 2^15:
 * resident units are at most k tokens old, so that is unambiguous), one byte per unit
 * when k < 128 and a 16-bit word otherwise, to keep the state small in cache (bytes
 * made window:k=4's replay 4-10% faster than words in three interleaved comparisons),
 * and a ring of the last k sets (to find who leaves). O(n_want + |set of t - k|) per
 * step; a step whose window does not fit scans the sets it drops twice, once to size k'
 * (a count per latest-use token kept instead cost every step a scattered decrement per
 * hit). */
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_pol.h"
#include "lf_width.h"

#define NARROW_K 127u /* up to this k: one byte per unit */

typedef struct {
    uint32_t *ids;
    uint32_t n, cap;
} ring_set;

typedef struct {
    uint32_t units;
    uint32_t k;
    uint32_t ring_n, mask; /* ring slots: k rounded up to a power of 2; ring_n - 1 */
    uint64_t cap;
    int narrow;       /* k <= NARROW_K: st holds bytes */
    void *st;         /* n_layers * units: res_bit | (latest token that wanted it & tok) */
    ring_set *ring;   /* n_layers * ring_n: set of token t in slot t & mask */
    uint32_t *n_res;  /* n_layers */
    uint32_t *oldest; /* n_layers: tokens before it hold no resident unit (shrinks) */
    uint64_t shrinks; /* steps that ran with k' < k */
    uint32_t min_k;
} window_state;

/* The two widths of st (lf_width.h) as one code path that the compiler specialises
 * (narrow is a constant in each caller). */
LF_WIDTH_INLINE uint32_t res_bit(int narrow) { return narrow ? 0x80u : 0x8000u; }
LF_WIDTH_INLINE uint32_t tok_bits(uint32_t tok, int narrow) { return tok & (res_bit(narrow) - 1); }
LF_WIDTH_INLINE void *layer_st(const window_state *s, uint32_t layer, int narrow)
{
    return (char *)s->st + (size_t)layer * s->units * (narrow ? 1 : 2);
}

/* Layer's set of token tok (its ring slot). */
static ring_set *set_of(const window_state *s, uint32_t layer, uint32_t tok)
{
    return &s->ring[(size_t)layer * s->ring_n + (tok & s->mask)];
}

/* Evicts the resident units whose latest use is `tok` (they are all in its set). */
LF_WIDTH_INLINE void drop_token(window_state *s, uint32_t layer, uint32_t tok, lf_plan *plan,
                                int narrow)
{
    void *st = layer_st(s, layer, narrow);
    const uint32_t mine = res_bit(narrow) | tok_bits(tok, narrow);
    const ring_set *rs = set_of(s, layer, tok);
    /* locals: the uint32_t stores through ev could alias rs's fields */
    const uint32_t *const ids = rs->ids, n_ids = rs->n;
    uint32_t *ev = plan->evict + plan->n_evict;
    if (plan->n_evict + (uint64_t)n_ids <= s->units) {
        /* branch-free (the test is a coin toss): writes one past the last eviction */
        for (uint32_t i = 0; i < n_ids; i++) {
            uint32_t u = ids[i];
            uint32_t v = lf_w8_get(st, u, narrow), gone = v == mine;
            *ev = u;
            ev += gone;
            lf_w8_put(st, u, v - (res_bit(narrow) & (0u - gone)), narrow);
        }
    } else {
        for (uint32_t i = 0; i < n_ids; i++)
            if (lf_w8_get(st, ids[i], narrow) == mine) {
                lf_w8_put(st, ids[i], tok_bits(tok, narrow), narrow);
                *ev++ = ids[i];
            }
    }
    uint32_t n = (uint32_t)(ev - (plan->evict + plan->n_evict));
    plan->n_evict += n;
    s->n_res[layer] -= n;
}

/* The resident units whose latest use is `tok` (a scan of its set: only a step whose
 * window does not fit asks, for the tokens it drops). */
static uint32_t resident_of(const window_state *s, uint32_t layer, uint32_t tok)
{
    const int narrow = s->narrow;
    const void *st = layer_st(s, layer, narrow);
    const uint32_t mine = res_bit(narrow) | tok_bits(tok, narrow);
    const ring_set *rs = set_of(s, layer, tok);
    uint32_t n = 0;
    for (uint32_t i = 0; i < rs->n; i++)
        n += lf_w8_get(st, rs->ids[i], narrow) == mine;
    return n;
}

LF_WIDTH_INLINE int step(window_state *s, uint32_t layer, uint32_t t, const uint32_t *want,
                         uint32_t n_want, lf_plan *plan, lf_err *err, int narrow)
{
    const uint32_t k = s->k;
    void *st = layer_st(s, layer, narrow);
    const uint32_t now = res_bit(narrow) | tok_bits(t, narrow);
    uint32_t *ld = plan->load, hits = 0;
    /* a ring slot's set has room for the wanted set before anything changes */
    ring_set *rs = set_of(s, layer, t);
    if (n_want > rs->cap) {
        uint32_t *ids = realloc(rs->ids, (size_t)n_want * sizeof *ids);
        if (!ids)
            return lf_fail(err, LF_ENOMEM, "out of memory");
        rs->ids = ids;
        rs->cap = n_want;
    }
    for (uint32_t i = 0; i < n_want; i++) { /* branch-free: hit or miss is a coin toss */
        uint32_t u = want[i];
        uint32_t hit = lf_w8_get(st, u, narrow) >> (narrow ? 7 : 15);
        hits += hit;
        *ld = u;
        ld += hit ^ 1;
        lf_w8_put(st, u, now, narrow);
    }
    plan->n_hit = hits;
    plan->n_load = (uint32_t)(ld - plan->load);
    s->n_res[layer] += plan->n_load;
    /* the token that leaves the window: t - k (its slot is t's: drop it before reuse) */
    uint32_t *oldest = &s->oldest[layer];
    if (t >= k && t - k >= *oldest)
        drop_token(s, layer, t - k, plan, narrow);
    if (n_want) /* an empty set leaves rs->ids NULL; memcpy must not see it */
        memcpy(rs->ids, want, (size_t)n_want * sizeof *want);
    rs->n = n_want;

    uint32_t keff = k;
    if (s->n_res[layer] > s->cap) {
        /* the largest k' whose union fits: count the oldest tokens' resident units until
         * they make up the excess (k' >= 1 since n_want <= cap), then drop them newest
         * first, the order the plan's evictions have always had */
        uint64_t excess = s->n_res[layer] - s->cap;
        uint32_t first = t - *oldest < k - 1 ? t - *oldest : k - 1, j = first;
        for (; j >= 1 && excess > 0; j--) {
            uint32_t c = resident_of(s, layer, t - j);
            excess = c >= excess ? 0 : excess - c;
        }
        keff = j + 1;
        for (uint32_t jj = keff; jj <= first; jj++)
            drop_token(s, layer, t - jj, plan, narrow);
        *oldest = t - j;
        s->shrinks++;
    }
    if (keff < s->min_k)
        s->min_k = keff;
    plan->n_resident = s->n_res[layer];
    return LF_OK;
}

static int window_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    window_state *s = p->state;
    return s->narrow ? step(s, layer, t, want, n_want, plan, err, 1)
                     : step(s, layer, t, want, n_want, plan, err, 0);
}

static void window_count(const lf_policy *p, uint64_t *v)
{
    const window_state *s = p->state;
    v[0] = s->shrinks;
    v[1] = s->min_k;
}

static void window_destroy(lf_policy *p)
{
    window_state *s = p->state;
    if (s->ring)
        for (size_t i = 0; i < (size_t)p->n_layers * s->ring_n; i++)
            free(s->ring[i].ids);
    free(s->ring);
    free(s->st);
    free(s->n_res);
    free(s->oldest);
}

static int window_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    window_state *s = p->state;
    uint64_t k;
    int rc = lf_kv_u64(kv, "k", 4, &k, err);
    if (rc)
        return rc;
    if (k < 1 || k > 4096) /* < 2^15: see st */
        return lf_fail(err, LF_EINVAL, "k = %llu is outside [1, 4096]", (unsigned long long)k);
    if ((rc = lf_pol_capacity(ctx, kv, &s->cap, err)) != LF_OK)
        return rc;
    s->units = ctx->units;
    s->k = (uint32_t)k;
    s->ring_n = 1;
    while (s->ring_n < k)
        s->ring_n *= 2;
    s->mask = s->ring_n - 1;
    s->min_k = (uint32_t)k;
    s->narrow = k <= NARROW_K;
    size_t n = (size_t)ctx->n_layers * ctx->units * (s->narrow ? 1 : 2);
    /* Fresh pages: a few huge ones. lf_bigmem_alloc gives them from 1 MiB, which the
     * 16-bit state of opt-6.7b (32 x 16384 units) reached and its bytes do not: faulting
     * that 512 KiB in 4 KiB pages made a whole `sim` 2.6% slower here, so the state takes
     * huge pages from half that size (a small model's state stays in small pages). */
    s->st = n >= LF_BIGMEM_HUGE / 4 ? lf_bigmem_pages(n) : lf_bigmem_alloc(n);
    if (s->st)
        memset(s->st, 0, n);
    s->ring = calloc((size_t)ctx->n_layers * s->ring_n, sizeof *s->ring);
    s->n_res = calloc(ctx->n_layers, sizeof *s->n_res);
    s->oldest = calloc(ctx->n_layers, sizeof *s->oldest);
    if (!s->st || !s->ring || !s->n_res || !s->oldest)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    p->fit = s->cap;
    p->max_resident = s->cap;
    return LF_OK;
}

const lf_policy_desc lf_pol_window = {
    .name = "window",
    .help = "the paper's sliding window: the union of the last k tokens' wanted sets",
    .keys = (const lf_policy_key[]){{"k", "tokens in the window, 1..4096 (default 4)"},
                                    LF_POL_KEY_CAPACITY,
                                    {NULL, NULL}},
    .counters = (const lf_policy_counter[]){{"shrinks", "steps that ran with a window k' < k "
                                                        "because the union did not fit",
                                             LF_COUNT_SUM, 1},
                                            {"min_k", "the smallest window a step ran with",
                                             LF_COUNT_MIN, 0},
                                            {NULL, NULL, LF_COUNT_SUM, 0}},
    .state_size = sizeof(window_state),
    .create = window_create,
    .step = window_step,
    .destroy = window_destroy,
    .count = window_count,
    .layers_independent = 1,
};
