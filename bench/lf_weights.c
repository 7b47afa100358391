#include "lf_weights.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lf_fs.h"
#include "lf_half.h"
#include "lf_time.h"

#define CHECKSUM_AT (LF_WEIGHTS_HEADER_BYTES - 32)
#define WRITE_BUF (8u << 20)

/* ---------------------------------------------------------------- generator */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* splitmix64 stream of one vector: a function of (seed, layer, unit, part) alone */
static uint64_t vec_state(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part)
{
    return mix64(h->seed ^ mix64(((uint64_t)layer << 40) ^ ((uint64_t)part << 32) ^ unit));
}

static uint64_t next64(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    return mix64(*s);
}

/* Uniform in [-a, a), a = sqrt(3/d_model): unit variance times 1/d_model, so a dot
 * product with a unit-RMS input has variance about 1. */
static void gen_values(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part,
                       float *out, uint64_t n)
{
    uint64_t s = vec_state(h, layer, unit, part);
    float scale = sqrtf(3.0f / (float)h->d_model) / 2147483648.0f;
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t z = next64(&s);
        out[i] = (float)(int32_t)(uint32_t)(z >> 32) * scale;
        if (i + 1 < n)
            out[i + 1] = (float)(int32_t)(uint32_t)z * scale;
    }
}

static uint64_t vec_elems(const lf_weights_header *h)
{
    return h->vector_bytes / lf_dtype_bytes(h->dtype);
}

void lf_weights_values(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part,
                       float *out)
{
    uint64_t n = vec_elems(h);
    gen_values(h, layer, unit, part, out, n);
    if (h->dtype == LF_DTYPE_FP16)
        for (uint64_t i = 0; i < n; i++)
            out[i] = lf_half_to_float(lf_float_to_half(out[i]));
}

float lf_weights_bias(const lf_weights_header *h, uint32_t layer, uint32_t unit)
{
    uint64_t s = vec_state(h, layer, unit, 0xffffu);
    return (float)(int32_t)(uint32_t)(next64(&s) >> 32) * (0.25f / 2147483648.0f);
}

/* Stores vector `part` of `unit` at dst in the file's dtype; tmp holds n floats. The values
 * are the seed's, or fn's (a real model's weights, lf_weights_make_from). */
static void store_vector(const lf_weights_header *h, lf_weights_values_fn fn, void *ctx,
                         uint32_t layer, uint32_t unit, uint32_t part, unsigned char *dst, float *tmp)
{
    uint64_t n = vec_elems(h);
    if (fn)
        fn(ctx, layer, unit, part, tmp);
    else
        gen_values(h, layer, unit, part, tmp, n);
    if (h->dtype == LF_DTYPE_FP16)
        lf_float_to_half_n(tmp, (uint16_t *)(void *)dst, n);
    else
        memcpy(dst, tmp, n * sizeof(float));
}

/* ---------------------------------------------------------------- header bytes */

typedef struct {
    unsigned char *b;
    size_t at;
} cursor;

static void put(cursor *c, const void *v, size_t n)
{
    memcpy(c->b + c->at, v, n);
    c->at += n;
}
static void put32(cursor *c, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(c, x, 4);
}
static void put64(cursor *c, uint64_t v)
{
    put32(c, (uint32_t)v);
    put32(c, (uint32_t)(v >> 32));
}
static void get(cursor *c, void *v, size_t n)
{
    memcpy(v, c->b + c->at, n);
    c->at += n;
}
static uint32_t get32(cursor *c)
{
    const unsigned char *x = c->b + c->at;
    c->at += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}
static uint64_t get64(cursor *c)
{
    uint64_t lo = get32(c);
    return lo | (uint64_t)get32(c) << 32;
}

/* Field order of the 512-byte header (all integers little-endian); bench/README.md. */
static void encode(const lf_weights_header *h, unsigned char *b)
{
    memset(b, 0, LF_WEIGHTS_HEADER_BYTES);
    cursor c = {b, 0};
    char magic[16] = {0};
    memcpy(magic, LF_WEIGHTS_MAGIC, sizeof LF_WEIGHTS_MAGIC - 1);
    put(&c, magic, 16);
    put32(&c, h->version);
    put32(&c, LF_WEIGHTS_HEADER_BYTES);
    put(&c, h->model, 64);
    put32(&c, (uint32_t)h->kind);
    put32(&c, (uint32_t)h->act);
    put32(&c, h->n_layers);
    put32(&c, h->model_layers);
    put32(&c, h->d_model);
    put32(&c, h->d_ff);
    put32(&c, h->n_experts);
    put32(&c, h->top_k);
    put32(&c, h->units);
    put32(&c, h->vectors);
    put32(&c, (uint32_t)h->layout);
    put32(&c, (uint32_t)h->dtype);
    put32(&c, lf_dtype_bytes(h->dtype));
    put32(&c, h->alignment);
    put64(&c, h->vector_bytes);
    put64(&c, h->record_bytes);
    put64(&c, h->records_per_layer);
    put64(&c, h->layer_bytes);
    put64(&c, h->data_offset);
    put64(&c, h->file_bytes);
    put64(&c, h->friends_offset);
    put64(&c, h->seed);
    put(&c, h->created_by, 32);
}

/* Returns 0, or the name of the first field that is out of its domain. */
static const char *decode(const unsigned char *b, lf_weights_header *h)
{
    memset(h, 0, sizeof *h);
    cursor c = {(unsigned char *)(uintptr_t)b, 16};
    h->version = get32(&c);
    uint32_t hb = get32(&c);
    get(&c, h->model, 64);
    h->model[63] = 0;
    uint32_t kind = get32(&c), act = get32(&c);
    h->n_layers = get32(&c);
    h->model_layers = get32(&c);
    h->d_model = get32(&c);
    h->d_ff = get32(&c);
    h->n_experts = get32(&c);
    h->top_k = get32(&c);
    h->units = get32(&c);
    h->vectors = get32(&c);
    uint32_t layout = get32(&c), dtype = get32(&c), dtype_bytes = get32(&c);
    h->alignment = get32(&c);
    h->vector_bytes = get64(&c);
    h->record_bytes = get64(&c);
    h->records_per_layer = get64(&c);
    h->layer_bytes = get64(&c);
    h->data_offset = get64(&c);
    h->file_bytes = get64(&c);
    h->friends_offset = get64(&c);
    h->seed = get64(&c);
    get(&c, h->created_by, 32);
    h->created_by[31] = 0;
    if (hb != LF_WEIGHTS_HEADER_BYTES)
        return "header_bytes";
    if (kind > LF_UNITS_EXPERTS)
        return "unit kind";
    if (act > LF_ACT_SWIGLU)
        return "activation";
    if (layout > LF_LAYOUT_COACT)
        return "layout";
    if (dtype > LF_DTYPE_FP16 || dtype_bytes != lf_dtype_bytes((lf_dtype)dtype))
        return "dtype";
    h->kind = (lf_unit_kind)kind;
    h->act = (lf_activation)act;
    h->layout = (lf_layout_kind)layout;
    h->dtype = (lf_dtype)dtype;
    return NULL;
}

static int sha256(const unsigned char *hdr, const void *friends, size_t friends_bytes,
                  unsigned char out[32], lf_err *err)
{
    unsigned char zeroed[LF_WEIGHTS_HEADER_BYTES];
    memcpy(zeroed, hdr, sizeof zeroed);
    memset(zeroed + CHECKSUM_AT, 0, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, zeroed, sizeof zeroed) &&
             (!friends_bytes || EVP_DigestUpdate(ctx, friends, friends_bytes)) &&
             EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    return ok ? LF_OK : lf_fail(err, LF_EIO, "weights header: SHA-256 failed (libcrypto)");
}

static uint64_t friends_bytes(const lf_weights_header *h)
{
    return h->layout == LF_LAYOUT_COACT ? (uint64_t)h->n_layers * h->units * sizeof(uint32_t) : 0;
}

/* The model shape a header describes (n_layers = the file's layers). */
static void header_model(const lf_weights_header *h, lf_model *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", h->model);
    m->kind = h->kind;
    m->act = h->act;
    m->n_layers = h->n_layers;
    m->d_model = h->d_model;
    m->d_ff = h->d_ff;
    m->n_experts = h->n_experts;
    m->top_k = h->top_k;
    m->kv_dim = h->d_model;
}

/* ---------------------------------------------------------------- writing */

typedef struct {
    int fd;
    const char *tmp;
    unsigned char *buf;
    uint64_t start, len; /* buf holds file bytes [start, start+len) */
    lf_weights_values_fn values; /* NULL: the seed's */
    void *values_ctx;
} writer;

static int flush(writer *w, lf_err *err)
{
    uint64_t done = 0;
    while (done < w->len) {
        ssize_t r = pwrite(w->fd, w->buf + done, w->len - done, (off_t)(w->start + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return lf_fail_errno(err, LF_EIO, r < 0 ? errno : ENOSPC,
                                 "%s: write of %" PRIu64 " bytes at offset %" PRIu64
                                 " failed (disk full? the partial file is removed)",
                                 w->tmp, w->len - done, w->start + done);
        done += (uint64_t)r;
    }
    w->start += w->len;
    w->len = 0;
    return LF_OK;
}

/* Generates one record (extent e of `layer`) into the write buffer. */
static int put_record(writer *w, const lf_weights_header *h, const lf_layout *L, uint32_t layer,
                      const lf_extent *e, float *tmp, lf_err *err)
{
    if (e->length > WRITE_BUF)
        return lf_fail(err, LF_EINVAL, "weights: a record of %" PRIu64 " bytes exceeds the %u-byte "
                       "write buffer", e->length, WRITE_BUF);
    if (e->offset != w->start + w->len || w->len + e->length > WRITE_BUF) {
        int rc = flush(w, err);
        if (rc)
            return rc;
        w->start = e->offset;
    }
    unsigned char *p = w->buf + w->len;
    memset(p, 0, e->length);
    uint64_t at = 0;
    /* a coact record always holds its unit and the unit's closest friend */
    uint32_t carried = h->layout == LF_LAYOUT_COACT ? 2 : 1;
    for (uint32_t k = 0; k < carried; k++) {
        uint32_t u = k == 0 ? e->unit : L->friend_of[(uint64_t)layer * h->units + e->unit];
        uint32_t first = e->part == LF_PART_ALL ? 0 : e->part;
        uint32_t last = e->part == LF_PART_ALL ? h->vectors : e->part + 1u;
        for (uint32_t part = first; part < last; part++, at += h->vector_bytes) {
            if (at + h->vector_bytes > e->length)
                return lf_fail(err, LF_EFORMAT, "weights: layer %u unit %u: the layout's record "
                               "(%" PRIu64 " bytes) is too short for its vectors", layer, e->unit,
                               e->length);
            store_vector(h, w->values, w->values_ctx, layer, u, part, p + at, tmp);
        }
    }
    w->len += e->length;
    return LF_OK;
}

static int cmp_extent(const void *a, const void *b)
{
    const lf_extent *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int write_layer(writer *w, const lf_weights_header *h, const lf_layout *L, uint32_t layer,
                       lf_extent_vec *ev, float *tmp, lf_progress *prog, uint64_t *done,
                       lf_err *err)
{
    /* every unit's records, asked one unit at a time (so coact pairs are not merged),
     * then written in file order */
    ev->n = 0;
    for (uint32_t u = 0; u < h->units; u++) {
        int rc = lf_layout_extents(L, layer, &u, 1, ev, err);
        if (rc)
            return rc;
    }
    qsort(ev->v, ev->n, sizeof ev->v[0], cmp_extent);
    for (size_t i = 0; i < ev->n; i++) {
        int rc = put_record(w, h, L, layer, &ev->v[i], tmp, err);
        if (rc)
            return rc;
        if ((i & 1023) == 0)
            lf_progress_update(prog, *done + i * h->units / (ev->n ? ev->n : 1));
    }
    *done += h->units;
    return LF_OK;
}

static int check_spec(const lf_weights_spec *s, uint32_t layers, lf_err *err)
{
    const lf_model *m = s->model;
    if (layers == 0 || layers > m->n_layers)
        return lf_fail(err, LF_EINVAL, "weights: --layers %u out of range (the model %s has %u "
                       "layers)", layers, m->name, m->n_layers);
    uint32_t a = s->alignment ? s->alignment : 4096;
    if (a & (a - 1))
        return lf_fail(err, LF_EINVAL, "weights: alignment %u is not a power of two (use 4096 for "
                       "direct I/O)", a);
    if (s->layout == LF_LAYOUT_COACT) {
        const lf_trace *p = s->profile;
        if (!p)
            return lf_fail(err, LF_EINVAL, "weights: the coact layout needs a profile trace "
                           "(--profile T.h5) to find each neuron's closest friend");
        if (p->units_per_layer != lf_model_units(m) || p->n_layers < layers)
            return lf_fail(err, LF_EINVAL, "weights: the profile trace (%u layers, %u units per "
                           "layer) does not fit %s (%u layers, %u units per layer)", p->n_layers,
                           p->units_per_layer, m->name, layers, lf_model_units(m));
    }
    return LF_OK;
}

/* Friends from the profile's layers; the file may hold fewer layers than the profile. */
static int set_friends(lf_layout *L, const lf_trace *profile, lf_err *err)
{
    lf_layout full = *L;
    full.friend_of = NULL;
    full.n_layers = profile->n_layers;
    int rc = lf_layout_set_friends(&full, profile, err);
    if (rc)
        return rc;
    free(L->friend_of);
    L->friend_of = full.friend_of; /* the first L->n_layers layers are used */
    return LF_OK;
}

static int fill_header(const lf_weights_spec *s, uint32_t layers, lf_weights_header *h,
                       lf_layout *L, lf_err *err)
{
    const lf_model *m = s->model;
    memset(h, 0, sizeof *h);
    h->version = LF_WEIGHTS_VERSION;
    snprintf(h->model, sizeof h->model, "%s", m->name);
    h->kind = m->kind;
    h->act = m->act;
    h->n_layers = layers;
    h->model_layers = m->n_layers;
    h->d_model = m->d_model;
    h->d_ff = m->d_ff;
    h->n_experts = m->n_experts;
    h->top_k = m->top_k;
    h->units = lf_model_units(m);
    h->vectors = lf_model_vectors_per_neuron(m);
    h->layout = s->layout;
    h->dtype = s->dtype;
    h->alignment = s->alignment ? s->alignment : 4096;
    h->seed = s->seed;
    snprintf(h->created_by, sizeof h->created_by, "llmflash %s", LF_VERSION);
    h->friends_offset = s->layout == LF_LAYOUT_COACT ? LF_WEIGHTS_HEADER_BYTES : 0;
    lf_model mm = *m;
    mm.n_layers = layers;
    int rc = lf_layout_init(L, s->layout, &mm, lf_dtype_bytes(s->dtype), h->alignment,
                            LF_WEIGHTS_HEADER_BYTES + friends_bytes(h), err);
    if (rc)
        return rc;
    if (s->layout == LF_LAYOUT_COACT && (rc = set_friends(L, s->profile, err)) != 0)
        return rc;
    h->vectors = L->vectors;
    h->vector_bytes = L->vector_bytes;
    h->record_bytes = L->record_bytes;
    h->records_per_layer = L->records_per_layer;
    h->layer_bytes = L->layer_bytes;
    h->data_offset = L->data_offset;
    h->file_bytes = L->data_offset + (uint64_t)layers * L->layer_bytes;
    return LF_OK;
}

static int write_all(writer *w, const lf_weights_header *h, const lf_layout *L, lf_err *err)
{
    lf_extent_vec ev = {0};
    float *tmp = malloc(sizeof(float) * (vec_elems(h) + 1));
    if (!tmp)
        return lf_fail(err, LF_ENOMEM, "weights: cannot allocate a vector buffer");
    lf_progress prog;
    lf_progress_start(&prog, "weights", (uint64_t)h->n_layers * h->units);
    uint64_t done = 0;
    int rc = LF_OK;
    for (uint32_t l = 0; l < h->n_layers && !rc; l++)
        rc = write_layer(w, h, L, l, &ev, tmp, &prog, &done, err);
    if (!rc)
        rc = flush(w, err);
    lf_progress_end(&prog);
    free(tmp);
    lf_extent_vec_free(&ev);
    if (rc)
        return rc;
    /* friend table, then the header last: until the end the file has no valid magic */
    unsigned char hdr[LF_WEIGHTS_HEADER_BYTES];
    encode(h, hdr);
    uint64_t fb = friends_bytes(h);
    if ((rc = sha256(hdr, L->friend_of, fb, hdr + CHECKSUM_AT, err)) != 0)
        return rc;
    /* little-endian hosts only (checked in make): the table is written as it is in memory */
    for (uint64_t at = 0; at < fb; at += WRITE_BUF) {
        w->start = h->friends_offset + at;
        w->len = fb - at < WRITE_BUF ? fb - at : WRITE_BUF;
        memcpy(w->buf, (const unsigned char *)L->friend_of + at, w->len);
        if ((rc = flush(w, err)) != 0)
            return rc;
    }
    w->start = 0;
    w->len = LF_WEIGHTS_HEADER_BYTES;
    memcpy(w->buf, hdr, LF_WEIGHTS_HEADER_BYTES);
    if ((rc = flush(w, err)) != 0)
        return rc;
    if (ftruncate(w->fd, (off_t)h->file_bytes) != 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot set the size", w->tmp);
    if (fdatasync(w->fd) != 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot sync (disk full?)", w->tmp);
    /* the data is on disk: drop it from the page cache (the executor reads it cold) */
    posix_fadvise(w->fd, 0, 0, POSIX_FADV_DONTNEED);
    return LF_OK;
}

int lf_weights_make(const char *path, const lf_weights_spec *spec, lf_err *err)
{
    return lf_weights_make_from(path, spec, NULL, NULL, err);
}

int lf_weights_make_from(const char *path, const lf_weights_spec *spec, lf_weights_values_fn fn,
                         void *ctx, lf_err *err)
{
    uint32_t one = 1;
    if (*(unsigned char *)&one != 1)
        return lf_fail(err, LF_EUNSUP, "weights: big-endian hosts are not supported");
    uint32_t layers = spec->n_layers ? spec->n_layers : spec->model->n_layers;
    int rc = check_spec(spec, layers, err);
    if (rc)
        return rc;
    lf_weights_header h;
    lf_layout L;
    memset(&L, 0, sizeof L);
    if ((rc = fill_header(spec, layers, &h, &L, err)) != 0) {
        lf_layout_free(&L);
        return rc;
    }
    char tmp[4200];
    lf_tmp_name(path, tmp, sizeof tmp);
    struct statvfs vfs;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        snprintf(dir, sizeof dir, ".");
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < h.file_bytes) {
        lf_layout_free(&L);
        return lf_fail(err, LF_ENOSPC, "%s: needs %.2f GB but %s has %.2f GB free; choose another "
                       "folder or fewer --layers", path, h.file_bytes / 1e9, dir,
                       (double)vfs.f_bavail * vfs.f_frsize / 1e9);
    }
    writer w = {.tmp = tmp, .values = fn, .values_ctx = ctx};
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        lf_layout_free(&L);
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot create (is the folder there and "
                             "writable?)", tmp);
    }
    w.buf = malloc(WRITE_BUF);
    rc = w.buf ? write_all(&w, &h, &L, err)
               : lf_fail(err, LF_ENOMEM, "weights: cannot allocate the write buffer");
    free(w.buf);
    lf_layout_free(&L);
    if (close(w.fd) != 0 && !rc)
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: close failed", tmp);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return lf_commit_tmp(tmp, path, err);
}

/* ---------------------------------------------------------------- reading */

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

#define CHECK_EQ(field, val)                                                                   \
    do {                                                                                       \
        if ((uint64_t)(field) != (uint64_t)(val))                                              \
            return lf_fail(err, LF_EFORMAT, "%s: header field %s is %" PRIu64 " but the layout " \
                           "of its shape gives %" PRIu64 "; the file was made by an "             \
                           "incompatible llmflash: remake it with `llmflash weights make`",      \
                           path, #field, (uint64_t)(field), (uint64_t)(val));                  \
    } while (0)

/* Everything after the checksum: the fields must agree with each other. */
static int check_fields(const char *path, const lf_weights_header *h, lf_layout *L, lf_err *err)
{
    uint32_t a = h->alignment;
    if (a == 0 || (a & (a - 1)) || h->data_offset % a || h->record_bytes % a)
        return lf_fail(err, LF_EFORMAT, "%s: wrong alignment: the header says records are "
                       "aligned to %u bytes but the data starts at %" PRIu64 " and records are "
                       "%" PRIu64 " bytes; remake the file with --alignment 4096", path, a,
                       h->data_offset, h->record_bytes);
    if (h->n_layers == 0 || h->n_layers > h->model_layers || h->d_model == 0 || h->units == 0)
        return lf_fail(err, LF_EFORMAT, "%s: header shape is impossible (%u of %u layers, d_model "
                       "%u, %u units)", path, h->n_layers, h->model_layers, h->d_model, h->units);
    lf_model m;
    header_model(h, &m);
    if (lf_model_units(&m) != h->units)
        return lf_fail(err, LF_EFORMAT, "%s: header says %u units per layer but d_ff %u / %u "
                       "experts", path, h->units, h->d_ff, h->n_experts);
    lf_err e2;
    if (lf_layout_init(L, h->layout, &m, lf_dtype_bytes(h->dtype), a,
                       LF_WEIGHTS_HEADER_BYTES + friends_bytes(h), &e2) != LF_OK)
        return lf_fail(err, LF_EFORMAT, "%s: the header's shape has no layout: %s", path, e2.msg);
    CHECK_EQ(h->vectors, L->vectors);
    CHECK_EQ(h->vector_bytes, L->vector_bytes);
    CHECK_EQ(h->record_bytes, L->record_bytes);
    CHECK_EQ(h->records_per_layer, L->records_per_layer);
    CHECK_EQ(h->layer_bytes, L->layer_bytes);
    CHECK_EQ(h->data_offset, L->data_offset);
    CHECK_EQ(h->file_bytes, L->data_offset + (uint64_t)h->n_layers * L->layer_bytes);
    return LF_OK;
}

static int open_checked(const char *path, int fd, lf_weights *w, lf_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot stat", path);
    unsigned char hdr[LF_WEIGHTS_HEADER_BYTES];
    if ((uint64_t)st.st_size < sizeof hdr || read_at(fd, hdr, sizeof hdr, 0) != 0)
        return lf_fail(err, LF_EFORMAT, "%s: %lld bytes, too short to be an llmflash weights file "
                       "(truncated? remake it with `llmflash weights make`)", path,
                       (long long)st.st_size);
    if (memcmp(hdr, LF_WEIGHTS_MAGIC, sizeof LF_WEIGHTS_MAGIC) != 0)
        return lf_fail(err, LF_EFORMAT, "%s: not an llmflash weights file (no \"%s\" magic; an "
                       "interrupted `weights make` leaves its header empty)", path,
                       LF_WEIGHTS_MAGIC);
    lf_weights_header *h = &w->h;
    const char *bad = decode(hdr, h);
    if (h->version != LF_WEIGHTS_VERSION)
        return lf_fail(err, LF_EFORMAT, "%s: weights format version %u, this llmflash reads "
                       "version %d; remake the file", path, h->version, LF_WEIGHTS_VERSION);
    uint64_t fb = friends_bytes(h);
    if (bad || fb > (uint64_t)st.st_size || (fb && h->friends_offset != LF_WEIGHTS_HEADER_BYTES))
        return lf_fail(err, LF_EFORMAT, "%s: corrupt header (field %s out of range)", path,
                       bad ? bad : "friends_offset");
    uint32_t *friends = NULL;
    if (fb) {
        friends = malloc(fb);
        if (!friends)
            return lf_fail(err, LF_ENOMEM, "%s: cannot allocate the friend table", path);
        if (read_at(fd, friends, fb, h->friends_offset) != 0) {
            free(friends);
            return lf_fail(err, LF_EFORMAT, "%s: friend table cut short (truncated)", path);
        }
    }
    unsigned char sum[32];
    int rc = sha256(hdr, friends, fb, sum, err);
    if (!rc && memcmp(sum, hdr + CHECKSUM_AT, 32) != 0)
        rc = lf_fail(err, LF_EFORMAT, "%s: header checksum mismatch: the header or friend table "
                     "was modified or damaged; remake the file", path);
    if (!rc)
        rc = check_fields(path, h, &w->layout, err);
    if (rc) {
        free(friends);
        return rc;
    }
    header_model(h, &w->model);
    if (fb) {
        for (uint64_t i = 0; i < fb / 4; i++)
            if (friends[i] >= h->units) {
                uint32_t bad_id = friends[i];
                free(friends);
                return lf_fail(err, LF_EFORMAT, "%s: friend table entry %" PRIu64 " is %u, not a "
                               "unit id (< %u)", path, i, bad_id, h->units);
            }
        free(w->layout.friend_of);
        w->layout.friend_of = friends;
    }
    if ((uint64_t)st.st_size != h->file_bytes)
        return lf_fail(err, LF_EFORMAT, "%s: %s: the file has %lld bytes but its header says "
                       "%" PRIu64 "%s; remake it with `llmflash weights make`", path,
                       (uint64_t)st.st_size < h->file_bytes ? "truncated" : "too long",
                       (long long)st.st_size, h->file_bytes,
                       (uint64_t)st.st_size < h->file_bytes ? " (an interrupted copy?)" : "");
    return LF_OK;
}

int lf_weights_open(const char *path, lf_weights *w, lf_err *err)
{
    memset(w, 0, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open the weights file", path);
    int rc = open_checked(path, fd, w, err);
    close(fd);
    if (rc)
        lf_weights_close(w);
    return rc;
}

void lf_weights_close(lf_weights *w)
{
    lf_layout_free(&w->layout);
    memset(&w->layout, 0, sizeof w->layout);
}

int lf_weights_check_trace(const lf_weights *w, const lf_trace *t, lf_err *err)
{
    const lf_weights_header *h = &w->h;
    char diff[700] = "";
    size_t n = 0;
#define DIFF(...) n += (size_t)snprintf(diff + n, n < sizeof diff ? sizeof diff - n : 0, __VA_ARGS__)
    if ((uint32_t)t->kind != (uint32_t)h->kind)
        DIFF("; unit kind %s (file) vs %s (trace)", h->kind ? "experts" : "neurons",
             t->kind ? "experts" : "neurons");
    if (t->d_model != h->d_model)
        DIFF("; d_model %u (file) vs %u (trace)", h->d_model, t->d_model);
    if (t->units_per_layer != h->units)
        DIFF("; units per layer %u (file) vs %u (trace)", h->units, t->units_per_layer);
    if (t->n_layers > h->n_layers)
        DIFF("; layers %u (file) vs %u (trace): the file must hold every traced layer",
             h->n_layers, t->n_layers);
    if (h->kind == LF_UNITS_EXPERTS && t->top_k != h->top_k)
        DIFF("; top_k %u (file) vs %u (trace)", h->top_k, t->top_k);
    lf_model tm;
    lf_err e2;
    if (lf_model_lookup(t->model, &tm, &e2) == LF_OK && tm.act != h->act)
        DIFF("; activation %s (file) vs %s (trace's model %s)", h->act ? "swiglu" : "relu",
             tm.act ? "swiglu" : "relu", t->model);
#undef DIFF
    if (n == 0)
        return LF_OK;
    return lf_fail(err, LF_EINVAL, "weights %s (model %s) does not fit the trace (model %s)%s; make "
                   "the weights for the trace's model: llmflash weights make --model %s ...",
                   w->path, h->model, t->model, diff, t->model);
}

int lf_weights_check_alignment(const lf_weights *w, uint32_t need, lf_err *err)
{
    if (need && (w->h.alignment % need != 0))
        return lf_fail(err, LF_EINVAL, "%s: wrong alignment: records are aligned to %u bytes but "
                       "direct I/O needs multiples of %u; remake the file with --alignment %u "
                       "(or use --engine buffered)", w->path, w->h.alignment, need, need);
    return LF_OK;
}

void lf_weights_describe(const lf_weights *w, char *out, size_t cap)
{
    const lf_weights_header *h = &w->h;
    snprintf(out, cap,
             "file          %s\n"
             "format        %s version %u (%s)\n"
             "model         %s: %s, %s, %u of %u layers, d_model %u, %u units per layer\n"
             "layout        %s, dtype %s, alignment %u\n"
             "records       %" PRIu64 " per layer, %" PRIu64 " bytes each (vector %" PRIu64
             " bytes)\n"
             "data          from offset %" PRIu64 ", %" PRIu64 " bytes per layer\n"
             "size          %" PRIu64 " bytes (%.3f GB)\n"
             "seed          %" PRIu64 "\n",
             w->path, LF_WEIGHTS_MAGIC, h->version, h->created_by, h->model,
             h->kind ? "experts" : "neurons", h->act ? "swiglu" : "relu", h->n_layers,
             h->model_layers, h->d_model, h->units, lf_layout_kind_name(h->layout),
             lf_dtype_name(h->dtype), h->alignment, h->records_per_layer, h->record_bytes,
             h->vector_bytes, h->data_offset, h->layer_bytes, h->file_bytes, h->file_bytes / 1e9,
             h->seed);
}
