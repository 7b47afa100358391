/* In-memory trace: building token by token, checking invariants, freeing.
 * The HDF5 form is in lf_trace_h5.c. */
#include "lf_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"

int lf_trace_init_shape(lf_trace *t, lf_unit_kind kind, const char *model, uint32_t n_layers,
                        uint32_t d_model, uint32_t units_per_layer, uint32_t top_k,
                        uint32_t dtype_bytes, int with_values, int with_tokens, lf_err *err)
{
    memset(t, 0, sizeof *t);
    if (n_layers == 0 || units_per_layer == 0)
        return lf_fail(err, LF_EINVAL, "trace shape: n_layers (%u) and units_per_layer (%u) must be positive",
                       n_layers, units_per_layer);
    t->kind = kind;
    snprintf(t->model, sizeof t->model, "%s", model ? model : "");
    t->n_layers = n_layers;
    t->first_layer = -1;
    t->d_model = d_model;
    t->units_per_layer = units_per_layer;
    t->top_k = top_k;
    t->dtype_bytes = dtype_bytes;
    snprintf(t->source, sizeof t->source, "synthetic");
    t->tokens_cap = 64;
    t->layers = calloc(n_layers, sizeof *t->layers);
    if (!t->layers)
        goto oom;
    if (with_tokens && !(t->tokens = malloc(t->tokens_cap * sizeof *t->tokens)))
        goto oom;
    for (uint32_t l = 0; l < n_layers; l++) {
        lf_trace_layer *L = &t->layers[l];
        L->cap = 1024;
        L->indptr = calloc(t->tokens_cap + 1, sizeof *L->indptr);
        L->index = malloc(L->cap * sizeof *L->index);
        if (!L->indptr || !L->index)
            goto oom;
        if (with_values && !(L->value = malloc(L->cap * sizeof *L->value)))
            goto oom;
    }
    return LF_OK;
oom:
    lf_trace_free(t);
    return lf_fail(err, LF_ENOMEM, "trace: out of memory");
}

int lf_trace_init(lf_trace *t, const lf_model *m, uint32_t dtype_bytes, int with_values,
                  int with_tokens, lf_err *err)
{
    return lf_trace_init_shape(t, m->kind, m->name, m->n_layers, m->d_model, lf_model_units(m),
                               m->top_k, dtype_bytes, with_values, with_tokens, err);
}

/* Frees an array of t unless it lives in t's arena (freed with the arena). */
static void release(const lf_trace *t, void *p)
{
    if (!lf_bigmem_arena_owns(t->arena, p))
        free(p);
}

void lf_trace_free(lf_trace *t)
{
    if (!t)
        return;
    if (t->layers) {
        for (uint32_t l = 0; l < t->n_layers; l++) {
            lf_trace_layer *L = &t->layers[l];
            free(L->indptr);
            release(t, L->index);
            release(t, L->index16);
            release(t, L->value);
            free(L->pred_indptr);
            release(t, L->pred_index);
            release(t, L->pred_index16);
        }
    }
    free(t->layers);
    free(t->tokens);
    lf_bigmem_arena_free(t->arena);
    lf_trace_defer_free(t);
    memset(t, 0, sizeof *t);
}

int lf_trace_view(const lf_trace *t, uint32_t n_tokens, lf_trace *view, lf_err *err)
{
    memset(view, 0, sizeof *view);
    if (n_tokens == 0 || n_tokens > t->n_tokens)
        return lf_fail(err, LF_EINVAL, "a view of %u tokens of a trace of %u", n_tokens,
                       t->n_tokens);
    lf_trace_layer *layers = malloc((size_t)t->n_layers * sizeof *layers);
    if (!layers)
        return lf_fail(err, LF_ENOMEM, "out of memory for a view of %u layers", t->n_layers);
    memcpy(layers, t->layers, (size_t)t->n_layers * sizeof *layers);
    for (uint32_t l = 0; l < t->n_layers; l++) {
        lf_trace_layer *L = &layers[l];
        L->nnz = L->cap = L->indptr[n_tokens];
        if (L->pred_indptr)
            L->pred_nnz = L->pred_cap = L->pred_indptr[n_tokens];
    }
    *view = *t;
    view->n_tokens = view->tokens_cap = n_tokens;
    view->layers = layers;
    view->arena = NULL; /* the view frees no array */
    return LF_OK;
}

void lf_trace_view_free(lf_trace *view)
{
    free(view->layers);
    memset(view, 0, sizeof *view);
}

/* Room for k more tokens (indptr up to n_tokens + k). */
static int grow_tokens_by(lf_trace *t, uint32_t k, lf_err *err)
{
    /* the predicted sets cover the tokens they were made for; a new token has none */
    for (uint32_t l = 0; l < t->n_layers; l++)
        if (t->layers[l].pred_indptr)
            return lf_fail(err, LF_EINVAL, "trace: layer %u has predicted sets; append the "
                           "tokens first, then add the predictions (llmflash trace predict)", l);
    if ((uint64_t)t->n_tokens + k <= t->tokens_cap)
        return LF_OK;
    /* n_tokens is 32-bit: doubling past 2^31 would wrap to a tiny capacity. */
    if ((uint64_t)t->n_tokens + k >= UINT32_MAX / 2)
        return lf_fail(err, LF_ERANGE, "trace: more than %u tokens", UINT32_MAX / 2);
    uint32_t cap = t->tokens_cap ? t->tokens_cap : 64;
    while (cap < (uint64_t)t->n_tokens + k)
        cap *= 2;
    for (uint32_t l = 0; l < t->n_layers; l++) {
        uint64_t *p = realloc(t->layers[l].indptr, ((size_t)cap + 1) * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "trace: out of memory at token %u", t->n_tokens);
        t->layers[l].indptr = p;
    }
    if (t->tokens) {
        int32_t *p = realloc(t->tokens, (size_t)cap * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "trace: out of memory at token %u", t->n_tokens);
        t->tokens = p;
    }
    t->tokens_cap = cap;
    return LF_OK;
}

static int grow_tokens(lf_trace *t, lf_err *err)
{
    return grow_tokens_by(t, 1, err);
}

/* realloc for an array of t holding nnz elements of es bytes. From 1 MiB up the array
 * moves to lf_bigmem memory (huge pages: `trace synth` of 1000 opt-6.7b tokens grows
 * 63 MB of ids, which in 4 KiB pages took 15,000 page faults, ~0.17 s on this VM); one
 * in t's arena is copied out. */
static void *resize(const lf_trace *t, void *p, uint64_t nnz, uint64_t cap, size_t es)
{
    int in_arena = lf_bigmem_arena_owns(t->arena, p);
    if (!in_arena && cap * es < LF_BIGMEM_HUGE / 2)
        return realloc(p, cap * es);
    void *q = lf_bigmem_alloc(cap * es);
    if (q && p) {
        memcpy(q, p, nnz * es);
        release(t, p);
    }
    return q;
}

/* Layer L's index (and values) resized to cap ids (>= nnz); ids held 16-bit are
 * widened first (appending to a trace read with narrow_ids). */
static int set_cap(lf_trace *t, lf_trace_layer *L, uint64_t cap, lf_err *err)
{
    uint32_t *pi = resize(t, L->index, L->nnz, cap, sizeof *pi);
    if (!pi)
        return lf_fail(err, LF_ENOMEM, "trace: out of memory for %llu ids",
                       (unsigned long long)cap);
    L->index = pi;
    if (L->index16) {
        for (uint64_t i = 0; i < L->nnz; i++)
            pi[i] = L->index16[i];
        release(t, L->index16);
        L->index16 = NULL;
    }
    if (L->value) {
        float *pv = resize(t, L->value, L->nnz, cap, sizeof *pv);
        if (!pv)
            return lf_fail(err, LF_ENOMEM, "trace: out of memory for %llu values",
                           (unsigned long long)cap);
        L->value = pv;
    }
    L->cap = cap;
    return LF_OK;
}

/* Room for n more ids in layer L's index (and values), doubling. */
static int grow_ids(lf_trace *t, lf_trace_layer *L, uint64_t n, lf_err *err)
{
    if (L->nnz + n <= L->cap && !L->index16)
        return LF_OK;
    uint64_t cap = L->cap ? L->cap : 1024;
    while (cap < L->nnz + n)
        cap *= 2;
    return set_cap(t, L, cap, err);
}

int lf_trace_append_layer(lf_trace *t, uint32_t layer, const uint32_t *ids, uint32_t n,
                          const float *vals, lf_err *err)
{
    if (layer >= t->n_layers)
        return lf_fail(err, LF_ERANGE, "trace: layer %u >= n_layers %u", layer, t->n_layers);
    int rc = grow_tokens(t, err);
    if (rc)
        return rc;
    lf_trace_layer *L = &t->layers[layer];
    uint64_t start = L->indptr[t->n_tokens];
    if (L->nnz != start)
        return lf_fail(err, LF_EINVAL, "trace: layer %u appended twice for token %u", layer,
                       t->n_tokens);
    /* the usual case in one vectorised pass; else the loop names the first bad id */
    int ok = lf_ids_ok(ids, n, t->units_per_layer);
    for (uint32_t i = 0; !ok && i < n; i++) {
        if (ids[i] >= t->units_per_layer)
            return lf_fail(err, LF_ERANGE, "trace: layer %u token %u: id %u >= units_per_layer %u",
                           layer, t->n_tokens, ids[i], t->units_per_layer);
        if (i && ids[i] <= ids[i - 1])
            return lf_fail(err, LF_EINVAL, "trace: layer %u token %u: ids not sorted unique (%u after %u)",
                           layer, t->n_tokens, ids[i], ids[i - 1]);
    }
    if ((rc = grow_ids(t, L, n, err)) != LF_OK)
        return rc;
    if (n)
        memcpy(L->index + L->nnz, ids, (size_t)n * sizeof *ids);
    if (L->value) {
        if (vals && n)
            memcpy(L->value + L->nnz, vals, (size_t)n * sizeof *vals);
        else
            for (uint32_t i = 0; i < n; i++)
                L->value[L->nnz + i] = 1.0f;
    }
    L->nnz += n;
    L->indptr[t->n_tokens + 1] = L->nnz;
    return LF_OK;
}

int lf_trace_reserve(lf_trace *t, uint32_t layer, uint64_t nnz, lf_err *err)
{
    if (layer >= t->n_layers)
        return lf_fail(err, LF_ERANGE, "trace: layer %u >= n_layers %u", layer, t->n_layers);
    lf_trace_layer *L = &t->layers[layer];
    if (nnz <= L->cap)
        return LF_OK;
    int rc = set_cap(t, L, nnz, err);
    return rc ? lf_err_prefix(err, "layer %u", layer) : LF_OK;
}

uint32_t *lf_trace_block_room(lf_trace *t, uint32_t layer, uint64_t n, lf_err *err)
{
    if (layer >= t->n_layers) {
        lf_fail(err, LF_ERANGE, "trace: layer %u >= n_layers %u", layer, t->n_layers);
        return NULL;
    }
    lf_trace_layer *L = &t->layers[layer];
    return grow_ids(t, L, n, err) == LF_OK ? L->index + L->nnz : NULL;
}

int lf_trace_block_layer(lf_trace *t, uint32_t layer, uint32_t nb, const uint32_t *counts,
                         lf_err *err)
{
    if (layer >= t->n_layers)
        return lf_fail(err, LF_ERANGE, "trace: layer %u >= n_layers %u", layer, t->n_layers);
    int rc = grow_tokens_by(t, nb, err);
    if (rc)
        return rc;
    lf_trace_layer *L = &t->layers[layer];
    if (L->value)
        return lf_fail(err, LF_EINVAL, "trace: layer %u has values; append it token by token",
                       layer);
    if (L->nnz != L->indptr[t->n_tokens])
        return lf_fail(err, LF_EINVAL, "trace: layer %u recorded twice for token %u", layer,
                       t->n_tokens);
    uint64_t at = L->nnz;
    for (uint32_t b = 0; b < nb; b++) {
        if (at + counts[b] > L->cap)
            return lf_fail(err, LF_ERANGE, "trace: layer %u token %u: %u ids past the room "
                           "lf_trace_block_room gave", layer, t->n_tokens + b, counts[b]);
        const uint32_t *ids = L->index + at;
        if (!lf_ids_ok(ids, counts[b], t->units_per_layer))
            return lf_fail(err, LF_EINVAL, "trace: layer %u token %u: ids not sorted unique "
                           "or >= units_per_layer %u", layer, t->n_tokens + b,
                           t->units_per_layer);
        at += counts[b];
        L->indptr[t->n_tokens + b + 1] = at;
    }
    L->nnz = at;
    return LF_OK;
}

int lf_trace_block_end(lf_trace *t, uint32_t nb, lf_err *err)
{
    int rc = grow_tokens_by(t, nb, err);
    if (rc)
        return rc;
    for (uint32_t l = 0; l < t->n_layers; l++) {
        lf_trace_layer *L = &t->layers[l];
        /* a layer not recorded for the block gets empty sets */
        if (L->nnz == L->indptr[t->n_tokens])
            for (uint32_t b = 1; b <= nb; b++)
                L->indptr[t->n_tokens + b] = L->nnz;
    }
    for (uint32_t b = 0; t->tokens && b < nb; b++)
        t->tokens[t->n_tokens + b] = -1;
    t->n_tokens += nb;
    return LF_OK;
}

int lf_trace_end_token(lf_trace *t, int32_t token_id, lf_err *err)
{
    int rc = grow_tokens(t, err);
    if (rc)
        return rc;
    for (uint32_t l = 0; l < t->n_layers; l++) {
        lf_trace_layer *L = &t->layers[l];
        /* A layer not appended this token gets an empty set. */
        L->indptr[t->n_tokens + 1] = L->nnz;
    }
    if (t->tokens)
        t->tokens[t->n_tokens] = token_id;
    t->n_tokens++;
    return LF_OK;
}

int lf_trace_append_token(lf_trace *t, int32_t token_id, const uint32_t *const *ids,
                          const uint32_t *n, const float *const *vals, lf_err *err)
{
    for (uint32_t l = 0; l < t->n_layers; l++) {
        int rc = lf_trace_append_layer(t, l, ids[l], n[l], vals ? vals[l] : NULL, err);
        if (rc)
            return rc;
    }
    return lf_trace_end_token(t, token_id, err);
}

int lf_trace_set_pred(lf_trace *t, uint32_t layer, uint64_t *indptr, uint32_t *index,
                      uint64_t nnz, lf_err *err)
{
    if (layer >= t->n_layers)
        return lf_fail(err, LF_ERANGE, "trace: layer %u >= n_layers %u", layer, t->n_layers);
    lf_trace_layer *L = &t->layers[layer];
    free(L->pred_indptr);
    release(t, L->pred_index);
    release(t, L->pred_index16);
    L->pred_index16 = NULL;
    L->pred_indptr = indptr;
    L->pred_index = index;
    L->pred_nnz = L->pred_cap = nnz;
    return LF_OK;
}

uint32_t lf_trace_max_set(const lf_trace *t, int pred)
{
    uint64_t best = 0;
    for (uint32_t l = 0; l < t->n_layers; l++) {
        const uint64_t *indptr = pred ? t->layers[l].pred_indptr : t->layers[l].indptr;
        for (uint32_t k = 0; indptr && k < t->n_tokens; k++)
            if (indptr[k + 1] - indptr[k] > best)
                best = indptr[k + 1] - indptr[k];
    }
    return (uint32_t)best;
}

/* 1 when ids[0..n) is strictly increasing and below units (<= LF_TRACE_MAX_UNITS):
 * the hot loop of reading a trace, branch-free so that it vectorises. With every id
 * below 2^24 (the OR of all ids says so) a signed comparison is exact. */
int lf_ids_ok(const uint32_t *ids, uint64_t n, uint32_t bound)
{
    if (n == 0)
        return 1;
    /* a max and an or: with every id below 2^31, ids[i] <= ids[i-1] exactly when
     * ids[i] - ids[i-1] - 1 has its top bit set */
    uint32_t top = ids[0], order = 0;
    for (uint64_t i = 1; i < n; i++) {
        top = ids[i] > top ? ids[i] : top;
        order |= ids[i] - ids[i - 1] - 1;
    }
    return top < bound && top < 0x80000000u && !(order >> 31);
}

/* lf_ids_ok on 16-bit ids, in 16-bit lanes: the ids with their top bit flipped compare
 * as signed 16-bit numbers in the order of the ids, which SSE2 compares and maxes
 * (it has no unsigned 16-bit compare; in 32-bit lanes the check cost 3x more). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
int lf_ids16_ok(const uint16_t *ids, uint64_t n, uint32_t bound)
{
    if (n == 0)
        return 1;
    int16_t top = (int16_t)(ids[0] ^ 0x8000), bad = 0;
    for (uint64_t i = 1; i < n; i++) {
        int16_t x = (int16_t)(ids[i] ^ 0x8000), y = (int16_t)(ids[i - 1] ^ 0x8000);
        top = x > top ? x : top;
        bad |= (int16_t)-(x <= y);
    }
    return (uint32_t)(uint16_t)(top ^ 0x8000) < bound && !bad;
}

/* ids_known: the ids were checked already (the reader checks them while it widens
 * them, when they are still in cache); only the indptr is checked here then. */
static int check_csr(const lf_trace_layer *L, int pred, uint32_t n_tokens, uint32_t units,
                     const char *what, uint32_t layer, int ids_known, lf_err *err)
{
    const uint64_t *indptr = pred ? L->pred_indptr : L->indptr;
    const uint32_t *index = pred ? L->pred_index : L->index;
    const uint16_t *index16 = pred ? L->pred_index16 : L->index16;
    uint64_t nnz = pred ? L->pred_nnz : L->nnz;
    const char *array = pred ? "pred_" : "";
    if (indptr[0] != 0)
        return lf_fail(err, LF_EFORMAT, "%s: layer %u: %sindptr[0] = %llu, must be 0", what, layer,
                       array, (unsigned long long)indptr[0]);
    for (uint32_t tok = 0; tok < n_tokens; tok++) {
        uint64_t a = indptr[tok], b = indptr[tok + 1];
        if (b < a || b > nnz)
            return lf_fail(err, LF_EFORMAT,
                           "%s: layer %u token %u: %sindptr not monotone or past the end "
                           "(%llu -> %llu, %llu entries)",
                           what, layer, tok, array, (unsigned long long)a, (unsigned long long)b,
                           (unsigned long long)nnz);
        /* index may be NULL when empty */
        if (b == a || ids_known || (!index16 && lf_ids_ok(index + a, b - a, units)))
            continue;
        for (uint64_t i = a; i < b; i++) { /* find the first bad id, for the message */
            uint32_t id = lf_trace_id_at(L, pred, i), before = i > a ? lf_trace_id_at(L, pred, i - 1) : 0;
            if (id >= units)
                return lf_fail(err, LF_ERANGE,
                               "%s: layer %u token %u: %sid %u >= units_per_layer %u", what, layer,
                               tok, array, id, units);
            if (i > a && id <= before)
                return lf_fail(err, LF_EFORMAT,
                               "%s: layer %u token %u: %sids not sorted and unique (%u after %u)",
                               what, layer, tok, array, id, before);
        }
    }
    if (indptr[n_tokens] != nnz)
        return lf_fail(err, LF_EFORMAT, "%s: layer %u: %sindptr ends at %llu but there are %llu ids",
                       what, layer, array, (unsigned long long)indptr[n_tokens],
                       (unsigned long long)nnz);
    return LF_OK;
}

int lf_trace_check(const lf_trace *t, const char *what, lf_err *err)
{
    return lf_trace_check_known(t, what, NULL, err);
}

int lf_trace_check_known(const lf_trace *t, const char *what, const uint8_t *known, lf_err *err)
{
    if (!what)
        what = "trace";
    if (t->n_layers == 0 || t->units_per_layer == 0 || !t->layers)
        return lf_fail(err, LF_EFORMAT, "%s: empty shape (n_layers %u, units_per_layer %u)", what,
                       t->n_layers, t->units_per_layer);
    if (t->kind == LF_UNITS_EXPERTS && (t->top_k == 0 || t->top_k > t->units_per_layer))
        return lf_fail(err, LF_EFORMAT, "%s: top_k %u must be in 1..%u for an expert trace", what,
                       t->top_k, t->units_per_layer);
    for (uint32_t l = 0; l < t->n_layers; l++) {
        const lf_trace_layer *L = &t->layers[l];
        /* a deferred layer's ids are checked when staged (lf_trace_stage) */
        int in_file = t->deferred && !L->index && !L->index16;
        int rc = check_csr(L, 0, t->n_tokens, t->units_per_layer, what, l,
                           in_file || (known && known[2 * l]), err);
        if (rc)
            return rc;
        if (L->pred_indptr) {
            rc = check_csr(L, 1, t->n_tokens, t->units_per_layer, what, l,
                           known && known[2 * l + 1], err);
            if (rc)
                return rc;
        }
    }
    return LF_OK;
}
