/* Layouts of the weights file: where each unit's vectors live and which extents a set
 * of loads reads. See sim/README.md ("Layouts") for the byte-level picture. */
#include "lf_layout.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lf_stats.h"

static const char *const kind_names[] = {"split", "bundled", "coact"};

int lf_layout_parse_kind(const char *name, lf_layout_kind *out, lf_err *err)
{
    for (int k = 0; k < 3; k++) {
        if (name && strcasecmp(name, kind_names[k]) == 0) {
            *out = (lf_layout_kind)k;
            return LF_OK;
        }
    }
    return lf_fail(err, LF_EINVAL, "unknown layout '%s' (known: %s)", name ? name : "(null)",
                   lf_layout_kind_names());
}

static char name_list[64];
static pthread_once_t name_list_once = PTHREAD_ONCE_INIT;

static void build_name_list(void)
{
    size_t len = 0;
    for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++)
        len += (size_t)snprintf(name_list + len, sizeof name_list - len, "%s%s", k ? ", " : "",
                                kind_names[k]);
}

const char *lf_layout_kind_names(void)
{
    pthread_once(&name_list_once, build_name_list);
    return name_list;
}

const char *lf_layout_kind_name(lf_layout_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
    return a <= 1 ? x : (x + a - 1) / a * a;
}

static int init_common(lf_layout *l, lf_layout_kind kind, const lf_model *m,
                       uint64_t vector_bytes, uint32_t alignment, lf_err *err)
{
    memset(l, 0, sizeof *l);
    if ((unsigned)kind > LF_LAYOUT_COACT)
        return lf_fail(err, LF_EINVAL, "layout: unknown kind %d", (int)kind);
    if (alignment == 0)
        return lf_fail(err, LF_EINVAL, "layout: alignment must be >= 1 byte (4096 for direct I/O)");
    l->kind = kind;
    l->n_layers = m->n_layers;
    l->units = lf_model_units(m);
    l->d_model = m->d_model;
    l->vectors = lf_model_vectors_per_neuron(m);
    l->alignment = alignment;
    l->vector_bytes = vector_bytes;
    if (l->units == 0 || l->vector_bytes == 0)
        return lf_fail(err, LF_EINVAL, "layout: model '%s' has no units or zero-sized vectors",
                       m->name);
    return LF_OK;
}

static int init_records(lf_layout *l, lf_layout_kind kind, uint64_t data_offset);

int lf_layout_init(lf_layout *l, lf_layout_kind kind, const lf_model *m, uint32_t dtype_bytes,
                   uint32_t alignment, uint64_t data_offset, lf_err *err)
{
    if (dtype_bytes == 0 || dtype_bytes > 8) {
        memset(l, 0, sizeof *l);
        return lf_fail(err, LF_EINVAL, "layout: dtype_bytes %u must be in 1..8", dtype_bytes);
    }
    uint64_t vb = (uint64_t)m->d_model * dtype_bytes;
    if (m->kind == LF_UNITS_EXPERTS)
        vb *= m->d_ff;
    int rc = init_common(l, kind, m, vb, alignment, err);
    if (rc)
        return rc;
    l->dtype_bytes = dtype_bytes;
    return init_records(l, kind, data_offset);
}

int lf_layout_init_bytes(lf_layout *l, lf_layout_kind kind, const lf_model *m,
                         uint64_t vector_bytes, uint32_t alignment, uint64_t data_offset,
                         lf_err *err)
{
    int rc = init_common(l, kind, m, vector_bytes, alignment, err);
    return rc ? rc : init_records(l, kind, data_offset);
}

static int init_records(lf_layout *l, lf_layout_kind kind, uint64_t data_offset)
{
    uint32_t alignment = l->alignment;
    switch (kind) {
    case LF_LAYOUT_SPLIT:
        l->record_bytes = round_up(l->vector_bytes, alignment);
        l->records_per_layer = (uint64_t)l->vectors * l->units;
        break;
    case LF_LAYOUT_BUNDLED:
        l->record_bytes = round_up(l->vector_bytes * l->vectors, alignment);
        l->records_per_layer = l->units;
        break;
    case LF_LAYOUT_COACT:
        l->record_bytes = round_up(2 * l->vector_bytes * l->vectors, alignment);
        l->records_per_layer = l->units;
        break;
    }
    l->data_offset = round_up(data_offset, alignment);
    l->layer_bytes = l->records_per_layer * l->record_bytes;
    return LF_OK;
}

void lf_layout_free(lf_layout *l)
{
    if (!l)
        return;
    free(l->friend_of);
    l->friend_of = NULL;
}

uint64_t lf_layout_file_bytes(const lf_layout *l)
{
    return l->layer_bytes * l->n_layers;
}

static int vec_reserve(lf_extent_vec *v, size_t extra, lf_err *err)
{
    if (v->n + extra <= v->cap)
        return LF_OK;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < v->n + extra)
        cap *= 2;
    lf_extent *p = realloc(v->v, cap * sizeof *p);
    if (!p)
        return lf_fail(err, LF_ENOMEM, "layout: out of memory for %zu extents", cap);
    v->v = p;
    v->cap = cap;
    return LF_OK;
}

void lf_extent_vec_free(lf_extent_vec *v)
{
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

/* Index of id in sorted ids[0..n), or -1. */
static long find_id(const uint32_t *ids, uint32_t n, uint32_t id)
{
    uint32_t lo = lf_ids_lower_bound(ids, n, id);
    return (lo < n && ids[lo] == id) ? (long)lo : -1;
}

/* coact: choose the records to read. Pass 1 pairs each loaded unit with its loaded,
 * still uncovered friend (one read serves both); pass 2 reads every unit left alone.
 * Records are then emitted in id order, so the extents are sorted by offset. */
static int coact_extents(const lf_layout *l, uint32_t layer, const uint32_t *ids, uint32_t n,
                         lf_extent_vec *out, lf_err *err)
{
    const uint32_t *fr = l->friend_of + (size_t)layer * l->units;
    uint8_t *st = calloc(n ? n : 1, 1); /* 0 unread, 1 head alone, 2 head of pair, 3 covered */
    if (!st)
        return lf_fail(err, LF_ENOMEM, "layout: out of memory");
    uint32_t n_rec = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (st[k])
            continue;
        uint32_t f = fr[ids[k]];
        long j = f == ids[k] ? -1 : find_id(ids, n, f);
        if (j >= 0 && st[j] == 0) {
            st[k] = 2;
            st[j] = 3;
            n_rec++;
        }
    }
    for (uint32_t k = 0; k < n; k++)
        if (!st[k]) {
            st[k] = 1;
            n_rec++;
        }
    int rc = vec_reserve(out, n_rec, err);
    if (rc == LF_OK) {
        uint64_t base = l->data_offset + (uint64_t)layer * l->layer_bytes;
        for (uint32_t k = 0; k < n; k++) {
            if (st[k] == 3)
                continue;
            lf_extent *e = &out->v[out->n++];
            e->offset = base + (uint64_t)ids[k] * l->record_bytes;
            e->length = l->record_bytes;
            e->unit = ids[k];
            e->part = LF_PART_ALL;
            e->n_units = st[k] == 2 ? 2 : 1;
        }
    }
    free(st);
    return rc;
}

int lf_layout_check_ids(const lf_layout *l, uint32_t layer, const uint32_t *ids, uint32_t n,
                        lf_err *err)
{
    if (layer >= l->n_layers)
        return lf_fail(err, LF_ERANGE, "layout: layer %u >= n_layers %u", layer, l->n_layers);
    /* the common case in one vectorised pass; the loop only names the first bad id */
    int bad = !lf_ids_ok(ids, n, l->units);
    for (uint32_t k = 0; bad && k < n; k++) {
        if (ids[k] >= l->units)
            return lf_fail(err, LF_ERANGE, "layout: layer %u: unit id %u >= %u units", layer,
                           ids[k], l->units);
        if (k && ids[k] <= ids[k - 1])
            return lf_fail(err, LF_EINVAL,
                           "layout: layer %u: load ids must be sorted and unique (%u after %u)",
                           layer, ids[k], ids[k - 1]);
    }
    return LF_OK;
}

int lf_layout_extents(const lf_layout *l, uint32_t layer, const uint32_t *ids, uint32_t n,
                      lf_extent_vec *out, lf_err *err)
{
    int rc = lf_layout_check_ids(l, layer, ids, n, err);
    if (rc || n == 0)
        return rc;
    if (l->kind == LF_LAYOUT_COACT) {
        if (!l->friend_of)
            return lf_fail(err, LF_EINVAL,
                           "layout coact: no closest friends set (call lf_layout_set_friends "
                           "with a profile trace first)");
        return coact_extents(l, layer, ids, n, out, err);
    }
    uint32_t parts = lf_layout_parts(l);
    rc = vec_reserve(out, (size_t)n * parts, err);
    if (rc)
        return rc;
    lf_extent *e = out->v + out->n;
    for (uint32_t p = 0; p < parts; p++)
        for (uint32_t k = 0; k < n; k++, e++) {
            e->offset = lf_layout_record_offset(l, layer, p, ids[k]);
            e->length = l->record_bytes;
            e->unit = ids[k];
            e->part = l->kind == LF_LAYOUT_SPLIT ? (uint16_t)p : LF_PART_ALL;
            e->n_units = 1;
        }
    out->n += (size_t)n * parts;
    return LF_OK;
}

int lf_layout_set_friends(lf_layout *l, const lf_trace *profile, lf_err *err)
{
    return lf_layout_set_friends_n(l, profile, 0, err);
}

int lf_layout_set_friends_n(lf_layout *l, const lf_trace *profile, uint32_t max_tokens,
                            lf_err *err)
{
    if (!profile || profile->n_layers != l->n_layers || profile->units_per_layer != l->units)
        return lf_fail(err, LF_EINVAL,
                       "layout coact: the profile trace's shape (%u layers x %u units) differs "
                       "from the model's (%u x %u); profile with a trace of the same model",
                       profile ? profile->n_layers : 0, profile ? profile->units_per_layer : 0,
                       l->n_layers, l->units);
    if (profile->n_tokens == 0)
        return lf_fail(err, LF_EINVAL, "layout coact: the profile trace has no tokens");
    /* A view of the first max_tokens tokens: the CSR arrays are shared, never freed. */
    lf_trace view = *profile;
    if (max_tokens && max_tokens < view.n_tokens)
        view.n_tokens = max_tokens;
    uint32_t *fr = malloc((size_t)l->n_layers * l->units * sizeof *fr);
    uint32_t *cnt = malloc((size_t)l->units * sizeof *cnt);
    if (!fr || !cnt) {
        free(fr);
        free(cnt);
        return lf_fail(err, LF_ENOMEM, "layout coact: out of memory for the friends");
    }
    int rc = LF_OK;
    for (uint32_t ly = 0; ly < l->n_layers && rc == LF_OK; ly++) {
        uint32_t *f = fr + (size_t)ly * l->units;
        rc = lf_stats_closest_friends(&view, ly, f, cnt, err);
        for (uint32_t u = 0; u < l->units && rc == LF_OK; u++)
            if (f[u] == LF_STATS_NO_FRIEND)
                f[u] = u; /* never active with another unit: its own friend */
    }
    free(cnt);
    if (rc) {
        free(fr);
        return rc;
    }
    free(l->friend_of);
    l->friend_of = fr;
    return LF_OK;
}
