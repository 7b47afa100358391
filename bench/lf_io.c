/* lf_io: the engine registry, the null engine, lf_io_read_all and the helpers the
 * engines share (direct open with a helpful error, request checks, full pread). */
#include "lf_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lf_io_impl.h"
#include "lf_time.h"

int lf_io_open_fd(const char *path, int direct, lf_err *err)
{
    if (!path || !*path)
        return lf_fail(err, LF_EINVAL, "I/O engine: no file given");
    int flags = O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0);
    int fd = open(path, flags);
    int e = errno;
    /* Since Linux 6.6 tmpfs accepts O_DIRECT, but its "device" is the page cache in RAM:
     * refuse it too, or a probe would measure DRAM and call it flash. */
    struct statfs sf;
    int in_ram = fd >= 0 && direct && fstatfs(fd, &sf) == 0 &&
                 (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
    if (fd >= 0 && !in_ram)
        return fd;
    if (in_ram)
        close(fd);
    if (in_ram || (direct && e == EINVAL))
        return lf_fail(err, LF_EUNSUP,
                       "%s: the file system does not support direct I/O (O_DIRECT%s): put the "
                       "file on a disk-backed path (e.g. /var/tmp), or use the buffered engine "
                       "(--engine buffered / --buffered) after dropping the page cache for the "
                       "file (e.g. `sync; echo 1 | sudo tee /proc/sys/vm/drop_caches`)",
                       path, in_ram ? "; it is tmpfs/ramfs, whose files live in RAM" : "");
    return lf_fail_errno(err, LF_EIO, e, "%s: cannot open for reading", path);
}

int lf_io_check_submit(const lf_io *io, const lf_io_req *reqs, uint32_t n, int aligned,
                       const char *engine, lf_err *err)
{
    if (n > io->depth - io->inflight)
        return lf_fail(err, LF_EINVAL,
                       "%s engine: %u requests submitted with only %u of %u slots free; reap "
                       "first",
                       engine, n, io->depth - io->inflight, io->depth);
    for (uint32_t i = 0; i < n; i++) {
        const lf_io_req *r = &reqs[i];
        if (!r->buf || r->length == 0)
            return lf_fail(err, LF_EINVAL, "%s engine: request at offset %llu has %s", engine,
                           (unsigned long long)r->offset, r->buf ? "length 0" : "no buffer");
        if (aligned && ((r->offset | r->length | (uint64_t)(uintptr_t)r->buf) %
                        LF_IO_MIN_ALIGN) != 0)
            return lf_fail(err, LF_EINVAL,
                           "%s engine: request offset %llu length %llu buffer %p is not "
                           "%d-byte aligned, as direct I/O requires; pad the layout to "
                           "multiples of %d and allocate buffers with lf_io_alloc",
                           engine, (unsigned long long)r->offset,
                           (unsigned long long)r->length, r->buf, LF_IO_MIN_ALIGN,
                           LF_IO_ALIGN);
    }
    return LF_OK;
}

int64_t lf_io_pread_full(int fd, void *buf, uint64_t length, uint64_t offset)
{
    uint64_t got = 0;
    while (got < length) {
        ssize_t r = pread(fd, (char *)buf + got, length - got, (off_t)(offset + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -(int64_t)errno;
        }
        if (r == 0)
            break; /* end of file: a short read */
        got += (uint64_t)r;
    }
    return (int64_t)got;
}

/* ---- null engine: no device; every read "succeeds" at once and zero-fills. ---- */

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
    if (min > s->count)
        return lf_fail(err, LF_EINVAL, "null engine: waiting for %u completions with %u in flight",
                       min, s->count);
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

static const lf_io_ops null_ops = {"null", LF_IO_CAP_NODEVICE, null_open, null_submit, null_reap,
                                   null_close};

/* ---- registry ---- */

static const lf_io_ops *const engines[] = {&lf_io_psync_ops, &lf_io_uring_ops,
                                           &lf_io_buffered_ops, &null_ops};

const char *lf_io_engine_names(void)
{
    return "psync, io_uring, buffered, null";
}

int lf_io_engine(const char *name, const lf_io_ops **out, lf_err *err)
{
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        if (name && strcmp(name, engines[i]->name) == 0) {
            *out = engines[i];
            return LF_OK;
        }
    return lf_fail(err, LF_EINVAL, "unknown I/O engine '%s' (known: %s)", name ? name : "(null)",
                   lf_io_engine_names());
}

static int done_error(const lf_io *io, const lf_io_req *q, int64_t result, lf_err *err)
{
    if (result < 0)
        return lf_fail_errno(err, LF_EIO, (int)-result, "%s: read of %llu bytes at offset %llu failed",
                             io->path, (unsigned long long)q->length,
                             (unsigned long long)q->offset);
    return lf_fail(err, LF_EIO,
                   "%s: short read at offset %llu: %lld of %llu bytes (is the file shorter than "
                   "the layout says?)",
                   io->path, (unsigned long long)q->offset, (long long)result,
                   (unsigned long long)q->length);
}

int lf_io_read_all(const lf_io_ops *ops, lf_io *io, const lf_io_req *reqs, uint32_t n,
                   uint32_t depth, lf_err *err)
{
    enum { BATCH = 64 };
    if (depth == 0 || depth > io->depth)
        depth = io->depth;
    if (io->inflight)
        return lf_fail(err, LF_EINVAL,
                       "%s engine: lf_io_read_all called with %u reads already in flight; reap "
                       "them first",
                       ops->name, io->inflight);
    lf_io_req batch[BATCH];
    lf_io_done done[BATCH];
    lf_err ignored;
    uint32_t next = 0;
    int rc = LF_OK;
    /* Our own tags (the request's index) so that completions map back to requests;
     * after an error, stop submitting and drain what is in flight. */
    while ((rc == LF_OK && next < n) || io->inflight > 0) {
        while (rc == LF_OK && next < n && io->inflight < depth) {
            uint32_t k = n - next;
            if (k > depth - io->inflight)
                k = depth - io->inflight;
            if (k > BATCH)
                k = BATCH;
            for (uint32_t i = 0; i < k; i++) {
                batch[i] = reqs[next + i];
                batch[i].tag = next + i;
            }
            if ((rc = ops->submit(io, batch, k, err)) == LF_OK)
                next += k;
        }
        if (io->inflight == 0)
            break;
        uint32_t got = 0;
        int r = ops->reap(io, done, 1, BATCH, &got, rc == LF_OK ? err : &ignored);
        if (r != LF_OK)
            return rc == LF_OK ? r : rc;
        for (uint32_t i = 0; i < got; i++) {
            const lf_io_req *q = &reqs[done[i].tag];
            if (rc == LF_OK && done[i].result != (int64_t)q->length)
                rc = done_error(io, q, done[i].result, err);
        }
    }
    return rc;
}

void *lf_io_alloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, LF_IO_ALIGN, bytes ? bytes : LF_IO_ALIGN) != 0)
        return NULL;
    return p;
}
