/* lf_h5read: see lf_h5read.h. The reading logic, then the lite backend. */
#include "lf_h5read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"

const size_t lf_h5read_kind_size[] = {8, 4, 4, 4};

static int missing(lf_h5read_be *b, const char *what, const char *name)
{
    return lf_fail(b->err, LF_EFORMAT,
                   "%s: %s '%s' missing (not an llmflash trace, or written by an incomplete "
                   "tool; re-create it with 'llmflash trace synth|record|import')",
                   b->path, what, name);
}

static int get_str(lf_h5read_be *b, const char *name, char *out, size_t cap, int required)
{
    int found = 0;
    out[0] = '\0';
    int rc = b->attr(b, name, 1, out, cap, NULL, &found);
    if (!rc && !found && required)
        return missing(b, "attribute", name);
    return rc;
}

static int get_u64(lf_h5read_be *b, const char *name, uint64_t *out, int required)
{
    int found = 0;
    *out = 0;
    int rc = b->attr(b, name, 0, NULL, 0, out, &found);
    if (!rc && !found && required)
        return missing(b, "attribute", name);
    return rc;
}

static int get_u32(lf_h5read_be *b, const char *name, uint32_t *out)
{
    uint64_t v;
    int rc = get_u64(b, name, &v, 1);
    if (rc)
        return rc;
    if (v > UINT32_MAX)
        return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' = %llu is too large", b->path,
                       name, (unsigned long long)v);
    *out = (uint32_t)v;
    return LF_OK;
}

void lf_h5read_drop(lf_h5read_be *b, void *p)
{
    if (!b->arena || !lf_bigmem_arena_owns(*b->arena, p))
        free(p);
}

/* Dataset `name` of the open group with `expect` elements (UINT64_MAX: any, returned in
 * *total); its first `count` elements land in *out. */
static int get_array(lf_h5read_be *b, const char *name, int kind, uint64_t expect, uint64_t count,
                     void **out, uint64_t *total, int required)
{
    uint64_t n = 0;
    int found = 0;
    *out = NULL;
    int rc = b->array(b, name, kind, &n, count, out, &found);
    if (!rc && !found)
        return required ? lf_fail(b->err, LF_EFORMAT, "%s: dataset %s/%s missing", b->path,
                                  b->where, name)
                        : LF_OK;
    if (!rc && expect != UINT64_MAX && n != expect)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: %s/%s has %llu elements, expected %llu", b->path,
                     b->where, name, (unsigned long long)n, (unsigned long long)expect);
    if (rc) {
        lf_h5read_drop(b, *out);
        *out = NULL;
    } else if (total) {
        *total = n;
    }
    return rc;
}

/* Whether the open group has dataset `name`, and its length. */
static int present(lf_h5read_be *b, const char *name, int kind, uint64_t *total, int *found)
{
    void *none = NULL;
    *found = 0;
    return b->array(b, name, kind, total, 0, &none, found);
}

/* Ids (index or pred_index) of the first n_tok tokens, whose indptr is already read;
 * *known = 1 when the backend checked them (b->check_ids). */
static int get_ids(lf_h5read_be *b, const char *name, const uint64_t *indptr, uint32_t n_tok,
                   uint32_t **ids, uint16_t **ids16, uint64_t *nnz, uint64_t *total,
                   uint8_t *known)
{
    uint64_t want = indptr[n_tok];
    int found, rc = present(b, name, LF_H5R_IDX, total, &found);
    if (!rc && !found)
        return lf_fail(b->err, LF_EFORMAT, "%s: dataset %s/%s missing", b->path, b->where, name);
    if (!rc && want > *total)
        rc = lf_fail(b->err, LF_EFORMAT,
                     "%s: %s/%s has %llu ids but the indptr of token %u reaches %llu (damaged "
                     "file; re-create it)",
                     b->path, b->where, name, (unsigned long long)*total, n_tok,
                     (unsigned long long)want);
    if (rc)
        return rc;
    *nnz = want;
    /* a backend can check the ids by token only along a monotone indptr (else
     * lf_trace_check reports the indptr) */
    int mono = b->check_ids;
    for (uint32_t k = 0; k < n_tok && mono; k++)
        mono = indptr[k] <= indptr[k + 1];
    b->ids_indptr = mono ? indptr : NULL;
    b->ids_ntok = n_tok;
    b->ids_valid = 0;
    b->got16 = 0;
    b->deferred_at = 0;
    b->defer_index = b->defer && !strcmp(name, "index");
    void *arr = NULL;
    rc = get_array(b, name, LF_H5R_IDX, *total, want, &arr, NULL, 1);
    b->defer_index = 0;
    if (b->got16)
        *ids16 = arr;
    else
        *ids = arr;
    /* deferred ids are checked when staged (lf_trace_stage) */
    *known = !rc && ((mono && b->ids_valid) || b->deferred_at);
    b->ids_indptr = NULL;
    return rc;
}

static int read_layer(lf_h5read_be *b, uint32_t l, uint32_t n_tok, uint32_t n_tokens, lf_trace *t)
{
    char g[32];
    snprintf(g, sizeof g, "/layers/%03u", l);
    int found = 0;
    int rc = b->group(b, g, &found);
    if (!rc && !found)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: group %s missing (n_layers = %u)", b->path, g,
                     t->n_layers);
    if (rc)
        return rc;
    lf_trace_layer *L = &t->layers[l];
    uint64_t n1 = (uint64_t)n_tokens + 1, total = 0;
    if ((rc = get_array(b, "indptr", LF_H5R_U64, n1, (uint64_t)n_tok + 1, (void **)&L->indptr, NULL,
                        1)))
        return rc;
    if (L->indptr[0] != 0)
        return LF_OK; /* lf_trace_check names it */
    uint8_t unused[2], *known = b->known ? b->known + 2 * (size_t)l : unused;
    if ((rc = get_ids(b, "index", L->indptr, n_tok, &L->index, &L->index16, &L->nnz, &total,
                      &known[0])))
        return rc;
    if (b->deferred_at)
        t->deferred->at[l] = b->deferred_at;
    L->cap = L->nnz;
    if ((rc = get_array(b, "value", LF_H5R_F32, total, L->nnz, (void **)&L->value, NULL, 0)))
        return rc;
    int has_pi, has_px;
    uint64_t ignored;
    if ((rc = present(b, "pred_indptr", LF_H5R_U64, &ignored, &has_pi)) ||
        (rc = present(b, "pred_index", LF_H5R_IDX, &ignored, &has_px)))
        return rc;
    if (has_pi != has_px)
        return lf_fail(b->err, LF_EFORMAT, "%s: %s has only one of pred_indptr and pred_index",
                       b->path, g);
    if (!has_pi)
        return LF_OK;
    if ((rc = get_array(b, "pred_indptr", LF_H5R_U64, n1, (uint64_t)n_tok + 1,
                        (void **)&L->pred_indptr, NULL, 1)))
        return rc;
    if (L->pred_indptr[0] != 0)
        return LF_OK;
    rc = get_ids(b, "pred_index", L->pred_indptr, n_tok, &L->pred_index, &L->pred_index16,
                 &L->pred_nnz, &ignored, &known[1]);
    L->pred_cap = L->pred_nnz;
    return rc;
}

int lf_h5read_trace(lf_h5read_be *b, uint32_t max_tokens, lf_trace *t)
{
    char format[64], kind[32];
    uint32_t version, n_tokens;
    int found = 0;
    int rc = b->group(b, "/", &found);
    if (rc || (rc = get_str(b, "format", format, sizeof format, 1)))
        return rc;
    if (strcmp(format, LF_TRACE_FORMAT) != 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: format attribute is '%s', expected '%s'",
                       b->path, format, LF_TRACE_FORMAT);
    if ((rc = get_u32(b, "version", &version)))
        return rc;
    if (version < 1 || version > LF_TRACE_VERSION)
        return lf_fail(b->err, LF_EFORMAT,
                       "%s: trace format version %u; this llmflash reads versions 1 to %d "
                       "(a newer llmflash wrote it?)",
                       b->path, version, LF_TRACE_VERSION);
    if ((rc = get_str(b, "kind", kind, sizeof kind, 1)))
        return rc;
    if (strcmp(kind, "neurons") == 0)
        t->kind = LF_UNITS_NEURONS;
    else if (strcmp(kind, "experts") == 0)
        t->kind = LF_UNITS_EXPERTS;
    else
        return lf_fail(b->err, LF_EFORMAT, "%s: kind '%s' is neither 'neurons' nor 'experts'",
                       b->path, kind);
    if ((rc = get_str(b, "model", t->model, sizeof t->model, 1)) ||
        (rc = get_u32(b, "n_layers", &t->n_layers)) || (rc = get_u32(b, "d_model", &t->d_model)) ||
        (rc = get_u32(b, "units_per_layer", &t->units_per_layer)) ||
        (rc = get_u32(b, "top_k", &t->top_k)) || (rc = get_u32(b, "dtype_bytes", &t->dtype_bytes)) ||
        (rc = get_u32(b, "n_tokens", &n_tokens)) ||
        (rc = get_str(b, "source", t->source, sizeof t->source, 1)) ||
        (rc = get_u64(b, "seed", &t->seed, 0)) ||
        (rc = get_str(b, "generator", t->generator, sizeof t->generator, 0)))
        return rc;
    /* first_layer: present only in a trace of part of its model (absent: every layer) */
    uint64_t first = 0;
    int part = 0;
    if ((rc = b->attr(b, "first_layer", 0, NULL, 0, &first, &part)))
        return rc;
    if (part && first > LF_TRACE_MAX_LAYERS)
        return lf_fail(b->err, LF_EFORMAT, "%s: implausible first_layer %llu", b->path,
                       (unsigned long long)first);
    t->first_layer = part ? (int32_t)first : -1;
    if (t->n_layers == 0 || t->n_layers > LF_TRACE_MAX_LAYERS || t->units_per_layer == 0 ||
        t->units_per_layer > LF_TRACE_MAX_UNITS)
        return lf_fail(b->err, LF_EFORMAT,
                       "%s: implausible shape n_layers=%u units_per_layer=%u (1..%u and 1..%u "
                       "allowed; damaged file?)",
                       b->path, t->n_layers, t->units_per_layer, LF_TRACE_MAX_LAYERS,
                       LF_TRACE_MAX_UNITS);
    t->n_tokens = t->tokens_cap = n_tokens < max_tokens ? n_tokens : max_tokens;
    if ((rc = get_array(b, "tokens", LF_H5R_I32, n_tokens, t->n_tokens, (void **)&t->tokens, NULL, 0)))
        return rc;
    if ((rc = b->group(b, "/layers", &found)))
        return rc;
    if (!found)
        return lf_fail(b->err, LF_EFORMAT, "%s: group /layers missing", b->path);
    /* indptr arrays come from the file (each is checked against what the file holds)
     * but this one is sized by attributes: bound it by the layer count checked above. */
    t->layers = calloc(t->n_layers, sizeof *t->layers);
    if (b->check_ids)
        b->known = calloc(2 * (size_t)t->n_layers, 1);
    if (!t->layers || (b->check_ids && !b->known))
        return lf_fail(b->err, LF_ENOMEM, "%s: out of memory", b->path);
    if (b->defer && (rc = lf_trace_defer_init(t, b->err)))
        return rc;
    b->ids_units = t->units_per_layer;
    for (uint32_t l = 0; l < t->n_layers && !rc; l++)
        rc = read_layer(b, l, t->n_tokens, n_tokens, t);
    return rc;
}

/* ---------- the lite backend (no libhdf5) ---------- */

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lf_h5read.c reads little-endian data straight into memory: port the copy loops"
#endif

typedef struct {
    lf_h5read_be b;
    const lf_h5l_file *f;
    lf_h5l_obj root, layers, grp;
    const lf_h5l_obj *cur;
} lite;

static int lite_group(lf_h5read_be *b, const char *g, int *found)
{
    lite *l = (lite *)b;
    snprintf(b->where, sizeof b->where, "%s", strcmp(g, "/") ? g : "");
    uint64_t addr = l->f->root;
    int rc = LF_OK;
    *found = 1;
    if (strcmp(g, "/") == 0) {
        lf_h5l_obj_free(&l->root);
        rc = lf_h5l_obj_read(l->f, addr, "/", &l->root, b->err);
        l->cur = &l->root;
    } else if (strcmp(g, "/layers") == 0) {
        lf_h5l_obj_free(&l->layers);
        rc = lf_h5l_link(l->f, &l->root, "/", "layers", &addr, b->err);
        if (!rc && addr)
            rc = lf_h5l_obj_read(l->f, addr, g, &l->layers, b->err);
        l->cur = &l->layers;
    } else {
        lf_h5l_obj_free(&l->grp);
        rc = lf_h5l_link(l->f, &l->layers, "/layers", g + 8, &addr, b->err);
        if (!rc && addr)
            rc = lf_h5l_obj_read(l->f, addr, g, &l->grp, b->err);
        l->cur = &l->grp;
    }
    if (!rc && !addr)
        *found = 0;
    return rc;
}

static int lite_attr(lf_h5read_be *b, const char *name, int is_str, char *s, size_t cap, uint64_t *u,
                     int *found)
{
    lite *l = (lite *)b;
    lf_h5l_value v;
    int rc = lf_h5l_attr(l->f, &l->root, "/", name, &v, b->err);
    if (rc || !(*found = v.found))
        return rc;
    if (is_str) {
        if (v.cls != LF_H5L_STR || v.npoints != 1)
            return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be a string", b->path,
                           name);
        size_t n = v.size < cap - 1 ? v.size : cap - 1;
        memcpy(s, v.data, n);
        s[n] = '\0';
        return LF_OK;
    }
    if ((v.cls != LF_H5L_UINT && v.cls != LF_H5L_SINT) || v.npoints != 1 || v.size == 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be one integer", b->path,
                       name);
    *u = 0;
    for (uint32_t i = 0; i < v.size; i++)
        *u |= (uint64_t)v.data[i] << (8 * i);
    if (v.cls == LF_H5L_SINT && (v.data[v.size - 1] & 0x80))
        return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' is not a non-negative integer",
                       b->path, name);
    return LF_OK;
}

int lf_h5read_wrong_type(lf_h5read_be *b, const char *name, int kind)
{
    return lf_fail(b->err, LF_EFORMAT, "%s: %s/%s has the wrong element type (%s expected)",
                   b->path, b->where, name, kind == LF_H5R_F32 ? "float" : "integer");
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static void widen(const uint16_t *src, uint32_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

/* Checks the ids a block at a time as they are read, while the block is in cache (a
 * second pass over the widened ids in lf_trace_check read twice the bytes from memory).
 * A token's ids may run on from one block into the next. */
typedef struct {
    const uint64_t *indptr; /* monotone, indptr[0] = 0, n_tok + 1 entries */
    uint32_t n_tok, tok, units;
    int ok;
    uint16_t last; /* the previous block's last id */
} ids_check;

static void ids_check_block(ids_check *c, const uint16_t *buf, uint64_t i0, size_t n)
{
    uint64_t pos = i0, end = i0 + n;
    while (c->ok && pos < end) {
        while (c->tok < c->n_tok && c->indptr[c->tok + 1] <= pos)
            c->tok++;
        if (c->tok == c->n_tok) { /* ids past the last token's: not this CSR's */
            c->ok = 0;
            break;
        }
        uint64_t a = c->indptr[c->tok], e = c->indptr[c->tok + 1] < end ? c->indptr[c->tok + 1] : end;
        if (pos == i0 && pos > a && buf[0] <= c->last) /* the token began in the last block */
            c->ok = 0;
        if (!lf_ids16_ok(buf + (pos - i0), (size_t)(e - pos), c->units))
            c->ok = 0;
        pos = e;
    }
    c->last = buf[n - 1];
}

/* Room for an array of n bytes (lf_h5read_be.arena). */
static void *alloc_array(lf_h5read_be *b, size_t n)
{
    if (n < LF_H5READ_ARENA_MIN || !b->arena)
        return malloc(n ? n : 1);
    if (!*b->arena && !(*b->arena = lf_bigmem_arena_new()))
        return NULL;
    return lf_bigmem_arena_alloc(*b->arena, n);
}

static int lite_array(lf_h5read_be *b, const char *name, int kind, uint64_t *total, uint64_t count,
                      void **out, int *found)
{
    lite *l = (lite *)b;
    uint64_t addr;
    char where[96];
    snprintf(where, sizeof where, "%s/%s", b->where, name);
    int rc = lf_h5l_link(l->f, l->cur, b->where[0] ? b->where : "/", name, &addr, b->err);
    if (rc || !(*found = addr != 0))
        return rc;
    lf_h5l_obj o;
    lf_h5l_value v;
    if ((rc = lf_h5l_obj_read(l->f, addr, where, &o, b->err)))
        return rc;
    rc = lf_h5l_dataset(l->f, &o, where, &v, b->err);
    lf_h5l_obj_free(&o);
    if (rc)
        return rc;
    int is_float = v.cls == LF_H5L_F32;
    if (is_float != (kind == LF_H5R_F32))
        return lf_h5read_wrong_type(b, name, kind);
    int ok = kind == LF_H5R_U64 ? v.cls == LF_H5L_UINT && v.size == 8
           : kind == LF_H5R_IDX ? v.cls == LF_H5L_UINT && (v.size == 2 || v.size == 4)
           : kind == LF_H5R_I32 ? v.cls == LF_H5L_SINT && v.size == 4
                           : 1;
    if (!ok)
        return lf_fail(b->err, LF_EFORMAT,
                       "%s: %s has an element type this llmflash does not write (%s %u bytes); "
                       "re-write the file with llmflash",
                       b->path, where, v.cls == LF_H5L_SINT ? "signed" : "unsigned", v.size);
    if (v.rank != 1)
        return lf_fail(b->err, LF_EFORMAT, "%s: %s must be 1-D (has %d dimensions)", b->path,
                       where, v.rank);
    *total = v.npoints;
    if (count > v.npoints)
        count = v.npoints;
    if (count == 0)
        return LF_OK;
    /* uint16 ids are kept 16-bit (narrow) or widened; every other array is read as it is
     * (the type checks above made its element size the kind's) */
    int ids16 = kind == LF_H5R_IDX && v.size == 2, keep16 = ids16 && b->narrow;
    if (ids16 && b->defer_index) { /* left in the file: lf_h5l_dataset checked its extent */
        b->deferred_at = v.addr;
        return LF_OK;
    }
    size_t es = keep16 ? 2 : lf_h5read_kind_size[kind];
    uint8_t *dst = alloc_array(b, count * es);
    if (!dst)
        return lf_fail(b->err, LF_ENOMEM, "%s: out of memory reading %s", b->path, where);
    if (!ids16) {
        rc = lf_h5l_pread(l->f, v.addr, dst, count * es, where, b->err);
    } else { /* checked a block at a time (while in cache) */
        uint16_t buf[1 << 15];
        ids_check c = {.indptr = b->ids_indptr, .n_tok = b->ids_ntok, .units = b->ids_units,
                       .ok = b->ids_indptr != NULL};
        for (uint64_t i = 0; i < count && !rc; i += sizeof buf / 2) {
            size_t n = count - i < sizeof buf / 2 ? (size_t)(count - i) : sizeof buf / 2;
            uint16_t *to = keep16 ? (uint16_t *)dst + i : buf;
            rc = lf_h5l_pread(l->f, v.addr + 2 * i, to, 2 * n, where, b->err);
            if (!rc && !keep16)
                widen(buf, (uint32_t *)dst + i, n);
            if (!rc && c.ok)
                ids_check_block(&c, to, i, n);
        }
        b->ids_valid = c.ok; /* else lf_trace_check finds and names the first bad id */
        b->got16 = keep16;
    }
    if (rc)
        lf_h5read_drop(b, dst);
    else
        *out = dst;
    return rc;
}

/* *known: which id arrays were checked while read (lf_trace_check_known), or NULL */
int lf_h5read_lite(const lf_h5l_file *f, uint32_t max_tokens, int narrow, int defer, lf_trace *t,
                     uint8_t **known, lf_err *err)
{
    lite l = {.b = {.path = f->path, .err = err, .group = lite_group, .attr = lite_attr,
                    .array = lite_array, .check_ids = 1, .narrow = narrow, .defer = defer,
                    .arena = &t->arena},
              .f = f};
    int rc = lf_h5read_trace(&l.b, max_tokens, t);
    *known = l.b.known;
    lf_h5l_obj_free(&l.root);
    lf_h5l_obj_free(&l.layers);
    lf_h5l_obj_free(&l.grp);
    return rc;
}
