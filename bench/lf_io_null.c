/* lf_io_null: the null engine: no device; every read "succeeds" at once and zero-fills
 * its buffer (tests of the executor on any file system). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_io_impl.h"

typedef struct {
    lf_io base;
    lf_io_done *done; /* ring of depth completions */
    uint32_t head, count;
} null_io;

static int null_open(lf_io **out, const char *path, uint32_t depth, lf_err *err)
{
    if (depth == 0)
        return lf_fail(err, LF_EINVAL, "null engine: depth must be at least 1");
    null_io *n = calloc(1, sizeof *n);
    if (n)
        n->done = calloc(depth, sizeof *n->done);
    if (!n || !n->done) {
        if (n)
            free(n);
        return lf_fail(err, LF_ENOMEM, "null engine: out of memory for depth %u", depth);
    }
    n->base.ops = &lf_io_null_ops;
    n->base.fd = -1;
    n->base.depth = depth;
    snprintf(n->base.path, sizeof n->base.path, "%s", path ? path : "");
    *out = &n->base;
    return LF_OK;
}

static int null_submit(lf_io *io, const lf_io_req *reqs, uint32_t n, lf_err *err)
{
    null_io *s = (null_io *)io;
    int rc = lf_io_check_submit(io, reqs, n, 0, "null", err);
    if (rc != LF_OK)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        memset(reqs[i].buf, 0, reqs[i].length);
        lf_io_done *d = &s->done[(s->head + s->count) % io->depth];
        d->tag = reqs[i].tag;
        d->result = (int64_t)reqs[i].length;
        d->latency_s = 0;
        s->count++;
    }
    io->inflight += n;
    return LF_OK;
}

static int null_reap(lf_io *io, lf_io_done *done, uint32_t min, uint32_t max, uint32_t *got,
                     lf_err *err)
{
    null_io *s = (null_io *)io;
    *got = 0;
    int rc = lf_io_check_reap(io, min, max, "null", err);
    if (rc != LF_OK)
        return rc;
    uint32_t k = s->count < max ? s->count : max;
    for (uint32_t i = 0; i < k; i++) {
        done[i] = s->done[s->head];
        s->head = (s->head + 1) % io->depth;
    }
    s->count -= k;
    io->inflight -= k;
    *got = k;
    return LF_OK;
}

static void null_close(lf_io *io)
{
    if (!io)
        return;
    null_io *s = (null_io *)io;
    free(s->done);
    free(s);
}

const lf_io_ops lf_io_null_ops = {"null", LF_IO_CAP_NODEVICE, null_open, null_submit,
                                  null_reap, null_close, NULL, NULL, NULL};

