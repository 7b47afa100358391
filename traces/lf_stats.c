/* Trace statistics (traces/README.md, "Statistics"). s_agg(k) for every k comes from one
 * pass over the trace: a histogram of the runs of tokens in which a unit is inactive (a
 * window of k tokens misses a unit iff it lies inside one of those runs). Closest friends
 * accumulate one co-activation row per examined unit over the tokens where it is active.
 * LRU hit rates for every cache size come from one pass of stack distances (Mattson).
 * Hand-written: no library computes these trace metrics. */
#include "lf_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_sort_double.h>
#include <gsl/gsl_sort_ulong.h>

void lf_stats_opts_default(lf_stats_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_window = 8;
    o->friend_sample = 512;
    o->layer = -1;
}

static void layer_free(lf_stats_layer *L)
{
    free(L->s_agg);
    free(L->delta);
    free(L->expert_share);
    free(L->lru_hit);
}

void lf_stats_free(lf_stats *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; s->layers && i < s->n_layers; i++)
        layer_free(&s->layers[i]);
    free(s->layers);
    layer_free(&s->all);
    free(s->cache_sizes);
    memset(s, 0, sizeof *s);
}

/* Work buffers shared by the layers ([U] unless said). */
typedef struct {
    uint32_t *count;   /* activations per unit */
    int64_t *last;     /* last token a unit was active, -1 */
    uint64_t *gaps;    /* [T+1] histogram of inactive run lengths */
    double *sagg;      /* [K+2] */
    uint64_t *order;   /* (UINT32_MAX - count) << 32 | unit: sorted = hottest first */
    uint8_t *hot;      /* among the 1% hottest */
    uint8_t *seen;
    uint32_t *sample, *friend, *fcount;
    double *share;
    uint32_t *stack;   /* LRU recency order */
    int32_t *pos;      /* position in stack, -1 */
    uint64_t *dist;    /* stack-distance histogram */
} work;

/* Sparsity, reuse, activation counts, s_agg and delta of one layer. */
static void basic(const lf_trace *t, uint32_t l, uint32_t K, work *w, lf_stats_layer *S)
{
    uint32_t U = t->units_per_layer, T = t->n_tokens;
    memset(w->count, 0, (size_t)U * sizeof *w->count);
    memset(w->gaps, 0, ((size_t)T + 1) * sizeof *w->gaps);
    for (uint32_t i = 0; i < U; i++)
        w->last[i] = -1;
    double inactive = 0;
    uint64_t inter = 0, after_first = 0;
    const uint32_t *prev = NULL;
    uint32_t n_prev = 0;
    for (uint32_t tok = 0; tok < T; tok++) {
        uint32_t n;
        const uint32_t *ids = lf_trace_ids(t, l, tok, &n);
        inactive += 1.0 - (double)n / U;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t i = ids[j];
            w->count[i]++;
            w->gaps[(int64_t)tok - w->last[i] - 1]++;
            w->last[i] = tok;
        }
        if (tok) {
            after_first += n;
            for (uint32_t a = 0, b = 0; a < n && b < n_prev;) {
                if (ids[a] == prev[b]) {
                    inter++;
                    a++;
                    b++;
                } else if (ids[a] < prev[b]) {
                    a++;
                } else {
                    b++;
                }
            }
        }
        prev = ids;
        n_prev = n;
    }
    for (uint32_t i = 0; i < U; i++)
        w->gaps[(int64_t)T - 1 - w->last[i]]++;
    S->sparsity = T ? inactive / T : NAN;
    S->reuse = after_first ? (double)inter / (double)after_first : NAN;
    /* Windows of k tokens that miss a unit: sum over its inactive runs of length g >= k
     * of (g - k + 1) = s1 - (k - 1) s0 with suffix sums s0 = sum H[g], s1 = sum g H[g]. */
    double s0 = 0, s1 = 0;
    int64_t g = T;
    for (uint32_t k = K + 1; k >= 1; k--) {
        for (; g >= (int64_t)k; g--) {
            s0 += (double)w->gaps[g];
            s1 += (double)w->gaps[g] * (double)g;
        }
        double windows = (double)T - k + 1;
        w->sagg[k] = k <= T ? 1.0 - (s1 - (double)(k - 1) * s0) / ((double)U * windows) : NAN;
    }
    for (uint32_t k = 1; k <= K; k++) {
        S->s_agg[k - 1] = w->sagg[k];
        S->delta[k - 1] = w->sagg[k + 1] - w->sagg[k];
    }
}

/* Popularity: top 10% / 20% shares, the 1% hottest set, expert shares. */
static void popularity(uint32_t U, work *w, lf_stats_layer *S)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < U; i++) {
        w->order[i] = ((uint64_t)(UINT32_MAX - w->count[i]) << 32) | i;
        total += w->count[i];
    }
    gsl_sort_ulong(w->order, 1, U);
    uint32_t n10 = (U + 9) / 10, n20 = (2 * U + 9) / 10, n1 = (U + 99) / 100;
    uint64_t top = 0;
    memset(w->hot, 0, U);
    for (uint32_t r = 0; r < U; r++) {
        uint32_t c = UINT32_MAX - (uint32_t)(w->order[r] >> 32);
        top += c;
        if (r + 1 == n10)
            S->top10 = total ? (double)top / (double)total : NAN;
        if (r + 1 == n20)
            S->top20 = total ? (double)top / (double)total : NAN;
        if (r < n1)
            w->hot[w->order[r] & 0xffffffffu] = 1;
        if (S->expert_share)
            S->expert_share[r] = total ? (double)c / (double)total : NAN;
    }
}

int lf_stats_closest_friends_of(const lf_trace *t, uint32_t layer, const uint32_t *units,
                                uint32_t n, uint32_t *friend, uint32_t *count, lf_err *err)
{
    if (layer >= t->n_layers)
        return lf_fail(err, LF_ERANGE, "closest friends: layer %u >= n_layers %u", layer,
                       t->n_layers);
    uint32_t U = t->units_per_layer, T = t->n_tokens;
    const lf_trace_layer *L = &t->layers[layer];
    uint64_t nnz = L->indptr[T];
    uint64_t *tptr = calloc((size_t)U + 1, sizeof *tptr);
    uint64_t *cur = malloc(((size_t)U + 1) * sizeof *cur);
    uint32_t *toks = malloc((size_t)(nnz ? nnz : 1) * sizeof *toks);
    uint32_t *acc = calloc(U, sizeof *acc);
    uint32_t *touched = malloc((size_t)U * sizeof *touched);
    uint32_t *idbuf = malloc((size_t)U * sizeof *idbuf); /* a token's ids held 16-bit */
    int rc = LF_OK;
    if (!tptr || !cur || !toks || !acc || !touched || !idbuf) {
        rc = lf_fail(err, LF_ENOMEM, "closest friends: out of memory for layer %u", layer);
        goto done;
    }
    /* The tokens where each unit is active (the transpose of the layer's CSR). */
    for (uint64_t p = 0; p < nnz; p++)
        tptr[lf_trace_id_at(L, 0, p) + 1]++;
    for (uint32_t i = 0; i < U; i++)
        tptr[i + 1] += tptr[i];
    memcpy(cur, tptr, ((size_t)U + 1) * sizeof *cur);
    for (uint32_t tok = 0; tok < T; tok++)
        for (uint64_t p = L->indptr[tok]; p < L->indptr[tok + 1]; p++)
            toks[cur[lf_trace_id_at(L, 0, p)]++] = tok;
    for (uint32_t q = 0; q < n; q++) {
        uint32_t i = units ? units[q] : q, nt = 0;
        if (i >= U) {
            rc = lf_fail(err, LF_ERANGE, "closest friends: unit %u >= units_per_layer %u", i, U);
            goto done;
        }
        for (uint64_t p = tptr[i]; p < tptr[i + 1]; p++) {
            uint32_t m;
            const uint32_t *ids = lf_trace_ids_to(t, layer, toks[p], 0, idbuf, &m);
            for (uint32_t j = 0; j < m; j++)
                if (acc[ids[j]]++ == 0)
                    touched[nt++] = ids[j];
        }
        uint32_t best = LF_STATS_NO_FRIEND, bc = 0;
        for (uint32_t x = 0; x < nt; x++) {
            uint32_t j = touched[x];
            if (j != i && (acc[j] > bc || (acc[j] == bc && j < best))) {
                best = j;
                bc = acc[j];
            }
            acc[j] = 0;
        }
        friend[q] = best;
        count[q] = bc;
    }
done:
    free(tptr);
    free(cur);
    free(toks);
    free(acc);
    free(touched);
    free(idbuf);
    return rc;
}

int lf_stats_closest_friends(const lf_trace *t, uint32_t layer, uint32_t *friend,
                             uint32_t *count, lf_err *err)
{
    return lf_stats_closest_friends_of(t, layer, NULL, t->units_per_layer, friend, count, err);
}

/* Closest-friend summary over a sample of evenly spaced unit ids. */
static int friends(const lf_trace *t, uint32_t l, uint32_t sample, work *w, lf_stats_layer *S,
                   lf_err *err)
{
    uint32_t U = t->units_per_layer;
    uint32_t n = sample == 0 || sample >= U ? U : sample;
    for (uint32_t j = 0; j < n; j++)
        w->sample[j] = (uint32_t)((uint64_t)j * U / n);
    int rc = lf_stats_closest_friends_of(t, l, w->sample, n, w->friend, w->fcount, err);
    if (rc)
        return rc;
    uint32_t m = 0, in_hot = 0, distinct = 0;
    double sum = 0;
    memset(w->seen, 0, U);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t f = w->friend[j];
        if (f == LF_STATS_NO_FRIEND)
            continue;
        w->share[m] = (double)w->fcount[j] / w->count[w->sample[j]];
        sum += w->share[m++];
        in_hot += w->hot[f];
        distinct += !w->seen[f];
        w->seen[f] = 1;
    }
    S->friend_units = m;
    S->friend_share_mean = m ? sum / m : NAN;
    gsl_sort(w->share, 1, m);
    S->friend_share_median = !m ? NAN : m % 2 ? w->share[m / 2]
                                               : 0.5 * (w->share[m / 2 - 1] + w->share[m / 2]);
    S->friend_in_top1 = m ? (double)in_hot / m : NAN;
    S->friend_distinct = m ? (double)distinct / m : NAN;
    return LF_OK;
}

/* LRU hit rates for every cache size at once: an access hits a cache of C units iff its
 * stack distance (distinct units used since its last use) is < C. Within a token the
 * units are accessed in id order; first uses are misses at every size. */
static void lru(const lf_trace *t, uint32_t l, const lf_stats *st, work *w, lf_stats_layer *S)
{
    uint32_t U = t->units_per_layer, depth = 0;
    uint64_t accesses = 0;
    memset(w->dist, 0, (size_t)U * sizeof *w->dist);
    for (uint32_t i = 0; i < U; i++)
        w->pos[i] = -1;
    for (uint32_t tok = 0; tok < t->n_tokens; tok++) {
        uint32_t n;
        const uint32_t *ids = lf_trace_ids(t, l, tok, &n);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t e = ids[j];
            int32_t d = w->pos[e];
            accesses++;
            if (d >= 0)
                w->dist[d]++;
            else
                d = (int32_t)depth++;
            for (int32_t x = d; x > 0; x--) {
                w->stack[x] = w->stack[x - 1];
                w->pos[w->stack[x]] = x;
            }
            w->stack[0] = e;
            w->pos[e] = 0;
        }
    }
    for (uint32_t c = 0; c < st->n_cache; c++) {
        uint64_t hits = 0;
        for (uint32_t d = 0; d < st->cache_sizes[c] && d < U; d++)
            hits += w->dist[d];
        S->lru_hit[c] = accesses ? (double)hits / (double)accesses : NAN;
    }
}

static int layer_alloc(lf_stats_layer *S, const lf_stats *st)
{
    S->s_agg = calloc(st->max_window, sizeof *S->s_agg);
    S->delta = calloc(st->max_window, sizeof *S->delta);
    if (!S->s_agg || !S->delta)
        return LF_ENOMEM;
    if (st->kind == LF_UNITS_EXPERTS) {
        S->expert_share = calloc(st->units, sizeof *S->expert_share);
        S->lru_hit = calloc(st->n_cache, sizeof *S->lru_hit);
        if (!S->expert_share || !S->lru_hit)
            return LF_ENOMEM;
    }
    return LF_OK;
}

/* Mean over the n layers of the non-NaN values of one field (the field at byte offset off,
 * or element idx of the array it points to); NaN if none. */
static double mean_of(const lf_stats_layer *layers, uint32_t n, size_t off, uint32_t idx,
                      int is_array)
{
    double s = 0;
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *base = (const char *)&layers[i] + off;
        double v = is_array ? (*(double *const *)base)[idx] : *(const double *)base;
        if (!isnan(v)) {
            s += v;
            m++;
        }
    }
    return m ? s / m : NAN;
}

static void overall(lf_stats *st)
{
    lf_stats_layer *A = &st->all;
    uint32_t n = st->n_layers;
    const lf_stats_layer *Ls = st->layers;
    A->layer = LF_STATS_ALL_LAYERS;
#define SCALAR(f) A->f = mean_of(Ls, n, offsetof(lf_stats_layer, f), 0, 0)
#define ARRAY(f, i) A->f[i] = mean_of(Ls, n, offsetof(lf_stats_layer, f), i, 1)
    SCALAR(sparsity);
    SCALAR(reuse);
    SCALAR(top10);
    SCALAR(top20);
    SCALAR(friend_share_mean);
    SCALAR(friend_share_median);
    SCALAR(friend_in_top1);
    SCALAR(friend_distinct);
    for (uint32_t k = 0; k < st->max_window; k++) {
        ARRAY(s_agg, k);
        ARRAY(delta, k);
    }
    for (uint32_t r = 0; A->expert_share && r < st->units; r++)
        ARRAY(expert_share, r);
    for (uint32_t c = 0; A->lru_hit && c < st->n_cache; c++)
        ARRAY(lru_hit, c);
#undef SCALAR
#undef ARRAY
    A->friend_units = 0;
    for (uint32_t i = 0; i < n; i++)
        A->friend_units += Ls[i].friend_units;
}

static void work_free(work *w)
{
    free(w->count);
    free(w->last);
    free(w->gaps);
    free(w->sagg);
    free(w->order);
    free(w->hot);
    free(w->seen);
    free(w->sample);
    free(w->friend);
    free(w->fcount);
    free(w->share);
    free(w->stack);
    free(w->pos);
    free(w->dist);
}

static int work_alloc(work *w, uint32_t U, uint32_t T, uint32_t K)
{
    memset(w, 0, sizeof *w);
    w->count = malloc((size_t)U * sizeof *w->count);
    w->last = malloc((size_t)U * sizeof *w->last);
    w->gaps = malloc(((size_t)T + 1) * sizeof *w->gaps);
    w->sagg = malloc(((size_t)K + 2) * sizeof *w->sagg);
    w->order = malloc((size_t)U * sizeof *w->order);
    w->hot = malloc(U);
    w->seen = malloc(U);
    w->sample = malloc((size_t)U * sizeof *w->sample);
    w->friend = malloc((size_t)U * sizeof *w->friend);
    w->fcount = malloc((size_t)U * sizeof *w->fcount);
    w->share = malloc((size_t)U * sizeof *w->share);
    w->stack = malloc((size_t)U * sizeof *w->stack);
    w->pos = malloc((size_t)U * sizeof *w->pos);
    w->dist = malloc((size_t)U * sizeof *w->dist);
    return w->count && w->last && w->gaps && w->sagg && w->order && w->hot && w->seen &&
                   w->sample && w->friend && w->fcount && w->share && w->stack && w->pos &&
                   w->dist
               ? LF_OK
               : LF_ENOMEM;
}

int lf_stats_compute(const lf_trace *t, const lf_stats_opts *o, lf_stats *st, lf_err *err)
{
    memset(st, 0, sizeof *st);
    if (o->max_window < 1 || o->max_window > 100000)
        return lf_fail(err, LF_EINVAL, "stats: max window %u out of range 1..100000",
                       o->max_window);
    if (o->layer >= 0 && (uint32_t)o->layer >= t->n_layers)
        return lf_fail(err, LF_ERANGE, "stats: layer %d out of range 0..%u", o->layer,
                       t->n_layers - 1);
    uint32_t U = t->units_per_layer, T = t->n_tokens;
    st->kind = t->kind;
    st->n_tokens = T;
    st->units = U;
    st->max_window = o->max_window;
    st->friend_sample = o->friend_sample;
    st->n_layers = o->layer >= 0 ? 1 : t->n_layers;
    if (t->kind == LF_UNITS_EXPERTS) {
        for (uint32_t c = 1; c < U; c *= 2)
            st->n_cache++;
        st->n_cache++;
        st->cache_sizes = malloc(st->n_cache * sizeof *st->cache_sizes);
        if (st->cache_sizes) {
            uint32_t i = 0;
            for (uint32_t c = 1; c < U; c *= 2)
                st->cache_sizes[i++] = c;
            st->cache_sizes[i] = U;
        }
    }
    work w;
    int rc = work_alloc(&w, U, T, o->max_window);
    st->layers = calloc(st->n_layers, sizeof *st->layers);
    if (rc || !st->layers || (st->kind == LF_UNITS_EXPERTS && !st->cache_sizes))
        rc = LF_ENOMEM;
    for (uint32_t i = 0; rc == LF_OK && i < st->n_layers; i++)
        rc = layer_alloc(&st->layers[i], st);
    if (rc == LF_OK)
        rc = layer_alloc(&st->all, st);
    if (rc) {
        rc = lf_fail(err, LF_ENOMEM, "stats: out of memory (%u units, %u tokens)", U, T);
        goto done;
    }
    for (uint32_t i = 0; i < st->n_layers; i++) {
        uint32_t l = o->layer >= 0 ? (uint32_t)o->layer : i;
        lf_stats_layer *S = &st->layers[i];
        S->layer = l;
        basic(t, l, o->max_window, &w, S);
        popularity(U, &w, S);
        rc = friends(t, l, o->friend_sample, &w, S, err);
        if (rc)
            goto done;
        if (st->kind == LF_UNITS_EXPERTS)
            lru(t, l, st, &w, S);
        if (o->progress)
            o->progress(i + 1, st->n_layers, o->progress_arg);
    }
    overall(st);
done:
    work_free(&w);
    if (rc)
        lf_stats_free(st);
    return rc;
}
