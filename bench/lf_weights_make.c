/* The weights file's writer: records in file order through a write-combining buffer,
 * the friend table and header last, fsync, rename (bench/README.md). */
#include "lf_weights.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lf_fs.h"
#include "lf_time.h"
#include "lf_weights_impl.h"

#define WRITE_BUF (8u << 20)

/* ---------------------------------------------------------------- writing */

typedef struct {
    int fd;
    const char *tmp;
    unsigned char *buf;
    uint64_t cap;        /* bytes of buf: 8 MiB, or one record when records are larger */
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
    if (e->length > w->cap)
        return lf_fail(err, LF_EINVAL, "weights: a record of %" PRIu64 " bytes exceeds the %" PRIu64
                       "-byte write buffer", e->length, w->cap);
    if (e->offset != w->start + w->len || w->len + e->length > w->cap) {
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
            lf_weights_store_vector(h, w->values, w->values_ctx, layer, u, part, p + at, tmp);
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

/* Friends from the profile's layers (its first n_tokens tokens, 0: all); the file may
 * hold fewer layers than the profile. */
static int set_friends(lf_layout *L, const lf_trace *profile, uint32_t n_tokens, lf_err *err)
{
    lf_layout full = *L;
    full.friend_of = NULL;
    full.n_layers = profile->n_layers;
    int rc = lf_layout_set_friends_n(&full, profile, n_tokens, err);
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
    if (s->layout == LF_LAYOUT_COACT)
        h->profile_tokens = s->profile_tokens;
    snprintf(h->created_by, sizeof h->created_by, "llmflash %s", LF_VERSION);
    h->friends_offset = s->layout == LF_LAYOUT_COACT ? LF_WEIGHTS_HEADER_BYTES : 0;
    lf_model mm = *m;
    mm.n_layers = layers;
    int rc = lf_weights_layout(L, s->layout, &mm, s->dtype, h->alignment,
                               LF_WEIGHTS_HEADER_BYTES + lf_weights_friends_bytes(h), err);
    if (rc)
        return rc;
    if (s->layout == LF_LAYOUT_COACT &&
        (rc = set_friends(L, s->profile, s->profile_tokens, err)) != 0)
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
    float *tmp = malloc(sizeof(float) * (lf_weights_elems(h) + 1));
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
    lf_weights_encode(h, hdr);
    uint64_t fb = lf_weights_friends_bytes(h);
    if ((rc = lf_weights_sha256(hdr, L->friend_of, fb, hdr + LF_WEIGHTS_CHECKSUM_AT, err)) != 0)
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
    struct statvfs vfs;
    char dir[4200];
    lf_fs_folder_of(path, dir, sizeof dir);
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < h.file_bytes) {
        lf_layout_free(&L);
        return lf_fail(err, LF_ENOSPC, "%s: needs %.3g MB but %s has %.3g MB free; choose another "
                       "folder or fewer --layers", path, h.file_bytes / 1e6, dir,
                       (double)vfs.f_bavail * vfs.f_frsize / 1e6);
    }
    writer w = {.tmp = tmp, .values = fn, .values_ctx = ctx};
    if ((rc = lf_tmp_create(path, tmp, sizeof tmp, &w.fd, err)) != LF_OK) {
        lf_layout_free(&L);
        return rc;
    }
    w.cap = h.record_bytes > WRITE_BUF ? h.record_bytes : WRITE_BUF;
    w.buf = malloc(w.cap);
    rc = w.buf ? write_all(&w, &h, &L, err)
               : lf_fail(err, LF_ENOMEM, "weights: cannot allocate the write buffer");
    free(w.buf);
    lf_layout_free(&L);
    if (close(w.fd) != 0 && !rc)
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: close failed", tmp);
    if (rc) {
        lf_tmp_discard(tmp);
        return rc;
    }
    return lf_commit_tmp(tmp, path, err);
}
