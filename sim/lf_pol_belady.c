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
 *
 * Per layer, a unit's next use is an entry of the look-ahead sets (their CSR: tokens in
 * order, ids ascending within a token), so "farthest next use, then smaller id" is
 * "the entry of the latest token, then the first entry within that token". Each
 * resident unit marks the entry of its next use in a bitmap over the layer's entries
 * (with a summary bitmap of non-empty words), units never used again sit in a bitmap
 * over ids. nxt[e], built in one backward pass, is the entry of the same unit's
 * following use: a wanted unit found in the token's own set gets its next use in O(1).
 * A layer's nxt is built at its first step, not at creation, and handed to the next
 * layer's build after the trace's last token: replayed layer by layer (lf_replay), one
 * buffer of one layer's uses serves them all, written just before it is read (built up
 * front, 63 MB of fresh pages on opt-6.7b went out to memory and back). A wanted unit
 * that the token's set lacks (a predictor's false positive) looks its next use up in a
 * per-unit list of its entries, built the first time it is needed. O(n_want + n_future
 * + n_evict) per step plus the bitmap scans, and O(nnz) at a layer's first step. */
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_pol.h"

#define NOT_RES UINT32_MAX        /* pos[u]: u is not resident */
#define IN_NEVER (UINT32_MAX - 1) /* pos[u]: resident, never used again */
#define NO_NEXT UINT32_MAX        /* nxt[e]: no later use */

typedef struct {
    const uint64_t *indptr; /* the look-ahead sets (the trace's CSR), n_tokens + 1 */
    const uint32_t *index;  /* their ids: index, or index16 when the trace holds 16-bit ids */
    const uint16_t *index16;
    uint64_t nnz;
    uint32_t *nxt;    /* nnz: entry of the same unit's next use, NO_NEXT when none;
                       * NULL until the layer's first step, and after its last token */
    uint64_t nxt_n;   /* entries nxt can hold (a reused buffer may be larger than nnz) */
    uint32_t *pos;    /* units: entry of u's next use, IN_NEVER or NOT_RES */
    uint64_t *ebits;  /* nnz bits: entry e is a resident unit's next use */
    uint64_t *esum;   /* ebits words bits: word w of ebits is non-zero */
    uint64_t n_ewords, n_esum;
    uint64_t esum_hi; /* no esum word above it is non-zero */
    uint64_t *never;  /* units bits: resident, never used again */
    uint64_t never_lo; /* no never word below it is non-zero */
    uint32_t n_never, n_res;
    /* fallback look-up (built on first use): entries of each unit, ascending */
    uint64_t *optr;   /* units + 1 */
    uint32_t *occ;
    uint64_t *cursor; /* units: first entry not yet passed */
    uint32_t last_tok; /* the token of the last victim found by its mark (< n_tokens) */
} belady_layer;

typedef struct {
    uint64_t cap;
    const lf_trace *trace;
    int pred; /* look ahead on the recorded predicted sets */
    belady_layer *layers;
    uint32_t *last_seen; /* units: scratch of the backward pass that builds nxt */
    uint32_t *spare;     /* a released nxt for the next build to reuse, spare_n entries */
    uint64_t spare_n;
} belady_state;

/* The unit of look-ahead entry k. The ids are read in place at either width (a
 * widened copy cost more than the replay it served: 4 bytes of fresh memory per use). */
static inline uint32_t unit_at(const belady_layer *B, uint64_t k)
{
    return lf_ids_at(B->index, B->index16, k);
}

/* Whether want[0..n) is look-ahead entries f0..f0+n: one pass without early exit, which
 * the compiler vectorises at either width. */
static int same_set(const belady_layer *B, const uint32_t *want, uint64_t f0, uint32_t n)
{
    uint32_t diff = 0;
    if (B->index16) {
        const uint16_t *ids = B->index16 + f0;
        for (uint32_t i = 0; i < n; i++)
            diff |= want[i] ^ ids[i];
    } else {
        const uint32_t *ids = B->index + f0;
        for (uint32_t i = 0; i < n; i++)
            diff |= want[i] ^ ids[i];
    }
    return diff == 0;
}

static inline void ebit_set(belady_layer *B, uint64_t e)
{
    uint64_t w = e >> 6;
    B->ebits[w] |= 1ull << (e & 63);
    B->esum[w >> 6] |= 1ull << (w & 63);
    if (w >> 6 > B->esum_hi)
        B->esum_hi = w >> 6;
}

static inline void ebit_clear(belady_layer *B, uint64_t e)
{
    uint64_t w = e >> 6;
    uint64_t b = B->ebits[w] & ~(1ull << (e & 63));
    B->ebits[w] = b;
    B->esum[w >> 6] &= ~((uint64_t)(b == 0) << (w & 63));
}

/* Marks resident unit u with next-use entry e (NO_NEXT: never used again). */
static inline void place(belady_layer *B, uint32_t u, uint32_t e)
{
    if (e == NO_NEXT) {
        B->pos[u] = IN_NEVER;
        B->never[u >> 6] |= 1ull << (u & 63);
        if (u >> 6 < B->never_lo)
            B->never_lo = u >> 6;
        B->n_never++;
    } else {
        B->pos[u] = e;
        ebit_set(B, e);
    }
}

/* Takes resident unit u out of the marks (it stays resident unless the caller evicts). */
static inline void unplace(belady_layer *B, uint32_t u)
{
    uint32_t e = B->pos[u];
    if (e == IN_NEVER) {
        B->never[u >> 6] &= ~(1ull << (u & 63));
        B->n_never--;
    } else {
        ebit_clear(B, e);
    }
    B->pos[u] = NOT_RES;
}

/* Builds the per-unit entry lists that fallback_next reads. */
static int build_occ(belady_layer *B, uint32_t units, lf_err *err)
{
    B->optr = calloc((size_t)units + 1, sizeof *B->optr);
    B->cursor = malloc((size_t)units * sizeof *B->cursor);
    B->occ = malloc((size_t)(B->nnz ? B->nnz : 1) * sizeof *B->occ);
    if (!B->optr || !B->cursor || !B->occ) {
        free(B->optr), free(B->cursor), free(B->occ);
        B->optr = NULL, B->cursor = NULL, B->occ = NULL;
        return lf_fail(err, LF_ENOMEM, "policy 'belady': out of memory (%llu uses)",
                       (unsigned long long)B->nnz);
    }
    for (uint64_t k = 0; k < B->nnz; k++)
        B->optr[unit_at(B, k) + 1]++;
    for (uint32_t v = 0; v < units; v++)
        B->optr[v + 1] += B->optr[v];
    memcpy(B->cursor, B->optr, (size_t)units * sizeof *B->cursor);
    for (uint64_t k = 0; k < B->nnz; k++)
        B->occ[B->cursor[unit_at(B, k)]++] = (uint32_t)k;
    memcpy(B->cursor, B->optr, (size_t)units * sizeof *B->cursor);
    return LF_OK;
}

/* The first entry of u's uses after token t's entries (those < end_t), or NO_NEXT. */
static uint32_t fallback_next(belady_layer *B, uint32_t u, uint64_t end_t)
{
    uint64_t p = B->cursor[u], end = B->optr[u + 1];
    while (p < end && B->occ[p] < end_t)
        p++;
    B->cursor[u] = p;
    return p < end ? B->occ[p] : NO_NEXT;
}

/* Whether some wanted unit is missing from the look-ahead entries [f0, f1). */
static int want_outside(const belady_layer *B, const uint32_t *want, uint32_t n_want,
                        uint64_t f0, uint64_t f1)
{
    uint64_t j = f0;
    for (uint32_t i = 0; i < n_want; i++) {
        while (j < f1 && unit_at(B, j) < want[i])
            j++;
        if (j == f1 || unit_at(B, j) != want[i])
            return 1;
    }
    return 0;
}

/* Removes and returns the resident unit to evict when some resident unit is never
 * used again: the smallest such id. */
static uint32_t pop_never(belady_layer *B)
{
    uint64_t w = B->never_lo;
    while (!B->never[w])
        w++;
    B->never_lo = w;
    uint32_t u = (uint32_t)(w * 64 + (uint64_t)__builtin_ctzll(B->never[w]));
    unplace(B, u);
    return u;
}

/* Clears and returns the mark of the unit to evict when no resident unit is never used
 * again: the latest next-use token, the first marked entry within it. The caller reads
 * the unit (index[entry]) afterwards, so that several victims' reads overlap. `from`:
 * the entries of the last victim's token (B->last_tok) below it are unmarked (0 at a
 * step's first pop). */
static uint64_t pop_entry(belady_layer *B, uint32_t n_tokens, uint64_t *from)
{
    /* the highest marked entry gives the token; then its first marked entry */
    uint64_t s = B->esum_hi;
    while (!B->esum[s])
        s--;
    B->esum_hi = s;
    uint64_t w = s * 64 + 63 - (uint64_t)__builtin_clzll(B->esum[s]);
    uint64_t top = w * 64 + 63 - (uint64_t)__builtin_clzll(B->ebits[w]);
    uint32_t tok = B->last_tok;
    if (!(B->indptr[tok] <= top && top < B->indptr[tok + 1])) {
        /* token of entry `top`: the last token whose first entry is <= top, searched
         * outwards from the last victim's token (victims' tokens are close) */
        uint32_t lo, hi, step = 1; /* indptr[lo] <= top < indptr[hi] */
        if (top < B->indptr[tok]) {
            hi = tok;
            for (;;) {
                if (step >= hi) {
                    lo = 0;
                    break;
                }
                lo = hi - step;
                if (B->indptr[lo] <= top)
                    break;
                hi = lo;
                step *= 2;
            }
        } else {
            lo = tok + 1;
            for (;;) {
                if (step >= n_tokens - lo) {
                    hi = n_tokens;
                    break;
                }
                hi = lo + step;
                if (B->indptr[hi] > top)
                    break;
                lo = hi;
                step *= 2;
            }
        }
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (B->indptr[mid] <= top)
                lo = mid;
            else
                hi = mid;
        }
        B->last_tok = tok = lo;
        *from = 0;
    }
    uint64_t e = B->indptr[tok] > *from ? B->indptr[tok] : *from;
    uint64_t ew = e >> 6;
    uint64_t bits = B->ebits[ew] & (~0ull << (e & 63));
    while (!bits)
        bits = B->ebits[++ew];
    e = ew * 64 + (uint64_t)__builtin_ctzll(bits);
    ebit_clear(B, e);
    *from = e + 1;
    return e;
}

/* Layer `layer`'s nxt, in one backward pass, in the spare buffer when it is big enough. */
static int build_next(belady_state *s, belady_layer *B, uint32_t units, uint32_t layer,
                      lf_err *err)
{
    uint64_t n = B->nnz ? B->nnz : 1;
    if (s->spare && s->spare_n >= n) {
        B->nxt = s->spare;
        B->nxt_n = s->spare_n;
        s->spare = NULL;
        s->spare_n = 0;
    } else {
        if (!(B->nxt = lf_bigmem_alloc((size_t)n * sizeof *B->nxt)))
            return lf_fail(err, LF_ENOMEM,
                           "policy 'belady': out of memory (%llu uses in layer %u)",
                           (unsigned long long)B->nnz, layer);
        B->nxt_n = n;
    }
    uint32_t *restrict last = s->last_seen, *restrict nxt = B->nxt;
    memset(last, 0xff, (size_t)units * sizeof *last);
    /* one loop per id width: the width test and the pointers stay out of the loop */
    if (B->index16) {
        const uint16_t *ids = B->index16;
        for (uint64_t k = B->nnz; k-- > 0;) {
            nxt[k] = last[ids[k]];
            last[ids[k]] = (uint32_t)k;
        }
    } else {
        const uint32_t *ids = B->index;
        for (uint64_t k = B->nnz; k-- > 0;) {
            nxt[k] = last[ids[k]];
            last[ids[k]] = (uint32_t)k;
        }
    }
    return LF_OK;
}

/* Hands the layer's nxt to the spare (keeping the larger of the two buffers). */
static void release_next(belady_state *s, belady_layer *B)
{
    if (!s->spare || B->nxt_n > s->spare_n) {
        free(s->spare);
        s->spare = B->nxt;
        s->spare_n = B->nxt_n;
    } else {
        free(B->nxt);
    }
    B->nxt = NULL;
    B->nxt_n = 0;
}

static int belady_step(lf_policy *p, uint32_t layer, uint32_t t, const uint32_t *want,
                       uint32_t n_want, lf_plan *plan, lf_err *err)
{
    belady_state *s = p->state;
    int rc;
    belady_layer *B = &s->layers[layer];
    uint32_t n_tok = s->trace->n_tokens;
    /* before anything changes, so that running out of memory changes nothing */
    if (t < n_tok && !B->nxt && (rc = build_next(s, B, p->units, layer, err)) != LF_OK)
        return rc;
    uint64_t f0 = 0, f1 = 0; /* token t's look-ahead entries [f0, f1) */
    if (t < n_tok) {
        f0 = B->indptr[t];
        f1 = B->indptr[t + 1];
    }
    /* the usual case: want is exactly token t's look-ahead set (a perfect predictor,
     * or the recorded one with future=pred), and want[i] is entry f0 + i */
    int same = t < n_tok && f1 - f0 == n_want && same_set(B, want, f0, n_want);
    /* a wanted unit outside token t's look-ahead set needs the per-unit lists: build
     * them before anything changes, so that running out of memory changes nothing */
    if (!same && !B->occ && t < n_tok && want_outside(B, want, n_want, f0, f1)) {
        if ((rc = build_occ(B, p->units, err)) != LF_OK)
            return rc;
    }
    uint32_t n_hit = 0, n_load = 0;
    if (same) {
        /* a resident wanted unit is marked at its use now, entry f0 + i, and those are
         * all the marks in [f0, f1): the hits are the marked entries, read and cleared
         * a word at a time. A unit without its mark there is a load (when resident
         * anyway, its mark elsewhere is taken out: it is a hit). */
        for (uint64_t w = f0 >> 6; f1 > f0 && w <= (f1 - 1) >> 6; w++) {
            uint64_t m = ~0ull;
            if (w == f0 >> 6)
                m &= ~0ull << (f0 & 63);
            if (w == (f1 - 1) >> 6)
                m &= ~0ull >> (63 - ((f1 - 1) & 63));
            uint64_t b = B->ebits[w], miss = ~b & m;
            n_hit += (uint32_t)__builtin_popcountll(b & m);
            b &= ~m;
            B->ebits[w] = b;
            B->esum[w >> 6] &= ~((uint64_t)(b == 0) << (w & 63));
            while (miss) {
                uint32_t u = unit_at(B, w * 64 + (uint64_t)__builtin_ctzll(miss));
                miss &= miss - 1;
                if (B->pos[u] == NOT_RES) {
                    plan->load[n_load++] = u;
                } else {
                    unplace(B, u);
                    n_hit++;
                }
            }
        }
    } else {
        for (uint32_t i = 0; i < n_want; i++) {
            uint32_t u = want[i];
            if (B->pos[u] == NOT_RES) {
                plan->load[n_load++] = u;
            } else {
                unplace(B, u);
                n_hit++;
            }
        }
    }
    /* resident units the look-ahead uses now but `want` lacks: their next use has just
     * passed; move each to its following use */
    uint32_t i = 0;
    for (uint64_t e = same ? f1 : f0; e < f1; e++) {
        uint32_t u = unit_at(B, e);
        while (i < n_want && want[i] < u)
            i++;
        if (i < n_want && want[i] == u)
            continue;
        if (B->pos[u] != NOT_RES) {
            unplace(B, u);
            place(B, u, B->nxt[e]);
        }
    }
    B->n_res -= n_hit;
    uint32_t n_evict = 0;
    uint64_t after = (uint64_t)B->n_res + n_want;
    while (after > s->cap && B->n_never) {
        plan->evict[n_evict++] = pop_never(B);
        after--;
    }
    /* the others by their marks first, then their units: the unit reads (far ahead in
     * the trace, out of cache) overlap */
    uint32_t first = n_evict;
    uint64_t from = 0;
    while (after > s->cap) {
        uint64_t e = pop_entry(B, n_tok, &from);
        __builtin_prefetch(B->index16 ? (const void *)&B->index16[e] : (const void *)&B->index[e]);
        plan->evict[n_evict++] = (uint32_t)e;
        after--;
    }
    for (uint32_t k = first; k < n_evict; k++) {
        uint32_t u = unit_at(B, plan->evict[k]);
        B->pos[u] = NOT_RES;
        plan->evict[k] = u;
    }
    B->n_res -= n_evict;
    plan->n_evict = n_evict;
    /* every wanted unit back, marked at its next use */
    if (same) {
        const uint32_t *nxt = B->nxt + f0;
        for (i = 0; i < n_want; i++)
            place(B, want[i], nxt[i]);
    } else {
        uint64_t e = f0;
        for (i = 0; i < n_want; i++) {
            uint32_t u = want[i];
            while (e < f1 && unit_at(B, e) < u)
                e++;
            uint32_t nx;
            if (e < f1 && unit_at(B, e) == u) {
                nx = B->nxt[e];
            } else if (t >= n_tok) {
                nx = NO_NEXT;
            } else {
                nx = fallback_next(B, u, f1);
            }
            place(B, u, nx);
        }
    }
    B->n_res += n_want;
    plan->n_hit = n_hit;
    plan->n_load = n_load;
    plan->n_resident = B->n_res;
    if (t + 1 == n_tok) /* steps after the trace's last token look nothing up */
        release_next(s, B);
    return LF_OK;
}

static void belady_destroy(lf_policy *p)
{
    belady_state *s = p->state;
    free(s->last_seen);
    free(s->spare);
    for (uint32_t l = 0; s->layers && l < p->n_layers; l++) {
        belady_layer *B = &s->layers[l];
        free(B->nxt);
        free(B->pos);
        free(B->ebits);
        free(B->esum);
        free(B->never);
        free(B->optr);
        free(B->occ);
        free(B->cursor);
    }
    free(s->layers);
}

/* Layer l's look-ahead sets and its (empty) marks; its next uses come at its first step. */
static int build_layer(belady_state *s, uint32_t units, uint32_t l, lf_err *err)
{
    belady_layer *B = &s->layers[l];
    const lf_trace_layer *T = &s->trace->layers[l];
    uint32_t n_tok = s->trace->n_tokens;
    B->indptr = s->pred ? T->pred_indptr : T->indptr;
    B->index = s->pred ? T->pred_index : T->index;
    B->index16 = s->pred ? T->pred_index16 : T->index16;
    B->nnz = B->indptr[n_tok];
    if (B->nnz >= IN_NEVER)
        return lf_fail(err, LF_ERANGE,
                       "layer %u of the trace has %llu entries, more than "
                       "it can index (%u); replay fewer tokens of a shorter trace",
                       l, (unsigned long long)B->nnz, IN_NEVER - 1);
    B->n_ewords = (B->nnz + 63) / 64 + 1;
    B->n_esum = (B->n_ewords + 63) / 64;
    B->pos = malloc((size_t)units * sizeof *B->pos);
    B->ebits = calloc(B->n_ewords, sizeof *B->ebits);
    B->esum = calloc(B->n_esum, sizeof *B->esum);
    B->never = calloc(((size_t)units + 63) / 64, sizeof *B->never);
    if (!B->pos || !B->ebits || !B->esum || !B->never)
        return lf_fail(err, LF_ENOMEM, "out of memory (%llu uses in layer %u)",
                       (unsigned long long)B->nnz, l);
    memset(B->pos, 0xff, (size_t)units * sizeof *B->pos);
    return LF_OK;
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
    s->layers = calloc(ctx->n_layers, sizeof *s->layers);
    s->last_seen = malloc((size_t)ctx->units * sizeof *s->last_seen);
    if (!s->layers || !s->last_seen)
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
    .layers_independent = 1,
    .reads_trace = 1,
};
