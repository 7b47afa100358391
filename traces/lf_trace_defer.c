/* lf_trace: a trace's needed ids left in its file (lf_trace_deferred, lf_trace.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_bigmem.h"
#include "lf_h5lite.h"
#include "lf_trace.h"

int lf_trace_defer_init(lf_trace *t, lf_err *err)
{
    lf_trace_deferred *d = calloc(1, sizeof *d);
    if (d)
        d->at = calloc(t->n_layers, sizeof *d->at);
    if (!d || !d->at) {
        free(d);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    d->fd = -1;
    t->deferred = d;
    return LF_OK;
}

int lf_trace_defer_open(lf_trace *t, int fd, uint64_t file_size, const char *path, lf_err *err)
{
    lf_trace_deferred *d = t->deferred;
    if ((d->fd = dup(fd)) < 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot keep the file open", path);
    d->file_size = file_size;
    if (!(d->path = strdup(path)))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    return LF_OK;
}

void lf_trace_defer_free(lf_trace *t)
{
    lf_trace_deferred *d = t->deferred;
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d->at);
    free(d->stage);
    free(d);
    t->deferred = NULL;
}

/* Room for n ids: at least the largest of every layer's ids of tokens [t0, t1) (a
 * replay by layer stages each layer's block in turn) and twice the room before, so
 * that a few allocations serve a whole replay (a fresh buffer costs its page faults). */
static int stage_room(lf_trace_deferred *d, const lf_trace *t, uint32_t t0, uint32_t t1,
                      uint64_t n, lf_err *err)
{
    if (n <= d->stage_cap)
        return LF_OK;
    if (d->stage_cap <= UINT64_MAX / 2 && 2 * d->stage_cap > n)
        n = 2 * d->stage_cap;
    for (uint32_t l = 0; l < t->n_layers; l++) {
        const uint64_t *ip = t->layers[l].indptr;
        if (ip[t1] - ip[t0] > n)
            n = ip[t1] - ip[t0];
    }
    free(d->stage);
    d->stage_cap = 0;
    if (n > SIZE_MAX / 2 || !(d->stage = lf_bigmem_alloc((size_t)n * 2)))
        return lf_fail(err, LF_ENOMEM, "%s: out of memory for %llu ids", d->path,
                       (unsigned long long)n);
    d->stage_cap = n;
    return LF_OK;
}

/* The first bad id of token tok (its ids at ids[0..n)), for the message. */
static int bad_token(const lf_trace_deferred *d, const lf_trace *t, uint32_t layer, uint32_t tok,
                     const uint16_t *ids, uint64_t n, lf_err *err)
{
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] >= t->units_per_layer)
            return lf_fail(err, LF_ERANGE,
                           "%s: layer %u token %u: id %u >= units_per_layer %u (the file is "
                           "damaged or changed since it was opened: re-create it)",
                           d->path, layer, tok, ids[i], t->units_per_layer);
        if (i > 0 && ids[i] <= ids[i - 1])
            return lf_fail(err, LF_EFORMAT,
                           "%s: layer %u token %u: ids not sorted and unique (%u after %u; the "
                           "file is damaged or changed since it was opened: re-create it)",
                           d->path, layer, tok, ids[i], ids[i - 1]);
    }
    return LF_OK;
}

int lf_trace_stage(const lf_trace *t, uint32_t layer, uint32_t t0, uint32_t t1, lf_err *err)
{
    lf_trace_deferred *d = t->deferred;
    if (!d || t0 >= t1)
        return LF_OK;
    if (layer >= t->n_layers || t1 > t->n_tokens)
        return lf_fail(err, LF_EINVAL, "%s: layer %u tokens %u..%u outside the trace (%u x %u)",
                       d->path, layer, t0, t1, t->n_layers, t->n_tokens);
    const lf_trace_layer *L = &t->layers[layer];
    if (L->index || L->index16)
        return LF_OK;
    const uint64_t *ip = L->indptr;
    uint64_t a = ip[t0], e = ip[t1];
    if (d->layer == layer && a >= d->first && e <= d->end)
        return LF_OK;
    d->end = d->first; /* nothing staged until the new ids are read and checked */
    if (e == a) { /* tokens without ids: nothing to read (the buffer may not exist) */
        d->layer = layer;
        d->first = d->end = a;
        return LF_OK;
    }
    int rc = stage_room(d, t, t0, t1, e - a, err);
    if (rc)
        return rc;
    char where[48];
    snprintf(where, sizeof where, "/layers/%03u/index", layer);
    lf_h5l_file f = {.fd = d->fd, .size = d->file_size, .path = d->path};
    if ((rc = lf_h5l_pread(&f, d->at[layer] + 2 * a, d->stage, (size_t)(e - a) * 2, where, err)))
        return rc;
    for (uint32_t tok = t0; tok < t1; tok++) {
        const uint16_t *ids = d->stage + (ip[tok] - a);
        uint64_t n = ip[tok + 1] - ip[tok];
        if (!lf_ids16_ok(ids, n, t->units_per_layer))
            return bad_token(d, t, layer, tok, ids, n, err);
    }
    d->layer = layer;
    d->first = a;
    d->end = e;
    return LF_OK;
}
