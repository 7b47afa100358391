/* lf_io: the engine registry, the handle's operations, closed-loop reads (lf_io_run,
 * lf_io_read_all, lf_io_read_start) and the helpers the engines share (direct open with
 * a helpful error, request checks, full pread). */
#include "lf_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lf_bigmem.h"
#include "lf_fs.h"
#include "lf_io_impl.h"
#include "lf_time.h"

static int no_direct(const char *path, int in_ram, lf_err *err)
{
    return lf_fail(err, LF_EUNSUP,
                   "%s: the file system does not support direct I/O (O_DIRECT%s): put the "
                   "file on a disk-backed path (e.g. /var/tmp), or use the buffered engine "
                   "(--engine buffered / --buffered) after dropping the page cache for the "
                   "file (e.g. `sync; echo 1 | sudo tee /proc/sys/vm/drop_caches`)",
                   path, in_ram ? "; it is tmpfs/ramfs, whose files live in RAM" : "");
}

static int in_ram_fs(const struct statfs *sf)
{
    return sf->f_type == TMPFS_MAGIC || sf->f_type == RAMFS_MAGIC;
}

int lf_io_direct_folder(const char *path, lf_err *err)
{
    char dir[4096];
    lf_fs_folder_of(path, dir, sizeof dir);
    struct statfs sf;
    if (statfs(dir, &sf) == 0 && in_ram_fs(&sf))
        return no_direct(path, 1, err);
    char test[4200];
    snprintf(test, sizeof test, "%s/.llmflash-direct.%ld", dir, (long)getpid());
    int fd = open(test, O_CREAT | O_EXCL | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        unlink(test);
        return LF_OK;
    }
    if (e == EINVAL)
        return no_direct(path, 0, err);
    return LF_OK; /* another failure (a read-only folder): the writer names it */
}

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
    int in_ram = fd >= 0 && direct && fstatfs(fd, &sf) == 0 && in_ram_fs(&sf);
    if (fd >= 0 && !in_ram)
        return fd;
    if (in_ram)
        close(fd);
    if (in_ram || (direct && e == EINVAL))
        return no_direct(path, in_ram, err);
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
    return lf_io_check_reqs(reqs, n, aligned, engine, err);
}

int lf_io_check_reqs(const lf_io_req *reqs, uint32_t n, int aligned, const char *engine,
                     lf_err *err)
{
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

int lf_io_check_reap(const lf_io *io, uint32_t min, uint32_t max, const char *engine,
                     lf_err *err)
{
    if (max == 0 || min > max)
        return lf_fail(err, LF_EINVAL, "%s engine: reap with min %u, max %u", engine, min, max);
    if (min > io->inflight)
        return lf_fail(err, LF_EINVAL, "%s engine: waiting for %u completions with %u in flight",
                       engine, min, io->inflight);
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

/* ---- registry: one line per engine ---- */

static const lf_io_ops *const engines[] = {
    &lf_io_psync_ops,
    &lf_io_uring_ops,
    &lf_io_buffered_ops,
    &lf_io_null_ops,
};
#define N_ENGINES (sizeof engines / sizeof engines[0])

const char *lf_io_engine_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < N_ENGINES; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     engines[i]->name);
    return names;
}

int lf_io_engine(const char *name, const lf_io_ops **out, lf_err *err)
{
    for (size_t i = 0; i < N_ENGINES; i++)
        if (name && strcmp(name, engines[i]->name) == 0) {
            *out = engines[i];
            return LF_OK;
        }
    return lf_fail(err, LF_EINVAL, "unknown I/O engine '%s' (known: %s)", name ? name : "(null)",
                   lf_io_engine_names());
}

/* ---- the handle's operations ---- */

int lf_io_open(const char *engine, const char *path, uint32_t depth, lf_io **out, lf_err *err)
{
    const lf_io_ops *ops = NULL;
    int rc = lf_io_engine(engine, &ops, err);
    return rc != LF_OK ? rc : ops->open(out, path, depth, err);
}

const lf_io_ops *lf_io_ops_of(const lf_io *io) { return io->ops; }

static int idle(const lf_io *io, const char *what, lf_err *err);

int lf_io_submit(lf_io *io, const lf_io_req *reqs, uint32_t n, lf_err *err)
{
    if (io->bg) /* the background batch has the handle until its wait */
        return idle(io, "submit", err);
    return io->ops->submit(io, reqs, n, err);
}

int lf_io_reap(lf_io *io, lf_io_done *done, uint32_t min, uint32_t max, uint32_t *got,
               lf_err *err)
{
    *got = 0;
    if (io->bg) /* its completions are the batch's (io_uring, null: reaped by its wait) */
        return idle(io, "reap", err);
    return io->ops->reap(io, done, min, max, got, err);
}

void lf_io_close(lf_io *io)
{
    if (!io)
        return;
    lf_err ignored;
    lf_io_read_wait(io, &ignored); /* a batch still running reads into the caller's buffers */
    io->ops->close(io);
}

/* lf_io_run for engines without their own: submit and reap from this thread, one
 * request per slot, the slot's id as the tag. gen_start submits every slot's first
 * request, gen_finish reaps and refills until every slot has stopped (lf_io_read_start
 * calls them apart, with the caller's work between). */
typedef struct {
    lf_io_req *slot; /* depth: each slot's request in flight */
    lf_io_next_fn next;
    lf_io_done_fn done;
    void *arg;
} gen_loop;

enum { GEN_BATCH = 64 };

static int gen_start(lf_io *io, gen_loop *g, uint32_t depth, lf_io_next_fn next,
                     lf_io_done_fn done, void *arg, lf_err *err)
{
    *g = (gen_loop){malloc((size_t)depth * sizeof *g->slot), next, done, arg};
    if (!g->slot)
        return lf_fail(err, LF_ENOMEM, "%s engine: out of memory for %u slots", io->ops->name,
                       depth);
    lf_io_req batch[GEN_BATCH];
    int rc = LF_OK;
    for (uint32_t s0 = 0; s0 < depth && rc == LF_OK;) {
        uint32_t m = 0;
        while (m < GEN_BATCH && s0 < depth) {
            if (next(arg, s0, &g->slot[s0])) {
                batch[m] = g->slot[s0];
                batch[m++].tag = s0;
            }
            s0++;
        }
        if (m)
            rc = io->ops->submit(io, batch, m, err);
    }
    return rc;
}

/* rc: gen_start's; after an error it only drains. Returns the first error. */
static int gen_finish(lf_io *io, gen_loop *g, int rc, lf_err *err)
{
    lf_io_req batch[GEN_BATCH];
    lf_io_done got_done[GEN_BATCH];
    lf_err ignored;
    while (io->inflight > 0) {
        uint32_t got = 0;
        int r = io->ops->reap(io, got_done, 1, GEN_BATCH, &got, rc == LF_OK ? err : &ignored);
        if (r != LF_OK) {
            rc = rc == LF_OK ? r : rc;
            break; /* close waits for what is left */
        }
        uint32_t m = 0;
        for (uint32_t i = 0; i < got; i++) {
            uint32_t s = (uint32_t)got_done[i].tag;
            g->done(g->arg, s, &g->slot[s], &got_done[i]);
            if (rc == LF_OK && g->next(g->arg, s, &g->slot[s])) {
                batch[m] = g->slot[s];
                batch[m++].tag = s;
            }
        }
        if (m && rc == LF_OK)
            rc = io->ops->submit(io, batch, m, err);
    }
    free(g->slot);
    g->slot = NULL;
    return rc;
}

/* A loop (`what`) starts only on an idle handle: no background batch, no reads submitted
 * and not yet reaped. */
static int idle(const lf_io *io, const char *what, lf_err *err)
{
    if (io->bg)
        return lf_fail(err, LF_EINVAL,
                       "%s engine: a background batch (lf_io_read_start) is in flight; wait for "
                       "it first",
                       io->ops->name);
    if (io->inflight)
        return lf_fail(err, LF_EINVAL,
                       "%s engine: %s started with %u reads already in flight; reap them first",
                       io->ops->name, what, io->inflight);
    return LF_OK;
}

int lf_io_run(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done, void *arg,
              lf_err *err)
{
    if (depth == 0 || depth > io->depth)
        depth = io->depth;
    int rc = idle(io, "closed-loop reads", err);
    if (rc != LF_OK)
        return rc;
    if (io->ops->run)
        return io->ops->run(io, depth, next, done, arg, err);
    gen_loop g;
    rc = gen_start(io, &g, depth, next, done, arg, err);
    return g.slot ? gen_finish(io, &g, rc, err) : rc;
}

int lf_io_read_error(const char *path, uint64_t offset, uint64_t length, int64_t result,
                     lf_err *err)
{
    if (result < 0)
        return lf_fail_errno(err, LF_EIO, (int)-result,
                             "%s: read of %llu bytes at offset %llu failed", path,
                             (unsigned long long)length, (unsigned long long)offset);
    return lf_fail(err, LF_EIO,
                   "%s: short read at offset %llu: %lld of %llu bytes (is the file shorter than "
                   "the layout says?)",
                   path, (unsigned long long)offset, (long long)result,
                   (unsigned long long)length);
}

/* lf_io_read_all's closed loop: slots take the next request index; the failed read of
 * smallest index is the one reported. */
typedef struct {
    const lf_io_req *reqs;
    uint32_t n;
    _Atomic uint32_t next;
    _Atomic uint32_t bad; /* smallest failed index, n = none */
    int64_t *result;      /* n: what each failed read returned */
} read_all_ctx;

static int read_all_next(void *arg, uint32_t slot, lf_io_req *req)
{
    (void)slot;
    read_all_ctx *c = arg;
    if (atomic_load_explicit(&c->bad, memory_order_relaxed) < c->n)
        return 0; /* after an error, drain */
    uint32_t i = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
    if (i >= c->n)
        return 0;
    *req = c->reqs[i];
    req->tag = i;
    return 1;
}

static void read_all_done(void *arg, uint32_t slot, const lf_io_req *req, const lf_io_done *d)
{
    (void)slot;
    read_all_ctx *c = arg;
    uint32_t i = (uint32_t)req->tag;
    if (d->result == (int64_t)req->length)
        return;
    c->result[i] = d->result;
    uint32_t cur = atomic_load(&c->bad);
    while (i < cur && !atomic_compare_exchange_weak(&c->bad, &cur, i))
        ;
}

/* Checks the requests and sets up c; *slots: the slots to run (no more than reads: each
 * slot is a thread woken (psync) for nothing). */
static int read_all_begin(lf_io *io, read_all_ctx *c, const lf_io_req *reqs, uint32_t n,
                          uint32_t depth, uint32_t *slots, lf_err *err)
{
    int rc = lf_io_check_reqs(reqs, n, (io->ops->caps & LF_IO_CAP_ALIGNED) != 0, io->ops->name,
                              err);
    if (rc != LF_OK)
        return rc;
    c->reqs = reqs;
    c->n = n;
    atomic_init(&c->next, 0);
    atomic_init(&c->bad, n);
    c->result = malloc((size_t)n * sizeof *c->result);
    if (!c->result)
        return lf_fail(err, LF_ENOMEM, "%s engine: out of memory for %u reads", io->ops->name, n);
    uint32_t s = depth == 0 || depth > io->depth ? io->depth : depth;
    *slots = s < n ? s : n;
    return LF_OK;
}

/* rc: the loop's; reports the failed read of smallest index, and frees c. */
static int read_all_end(lf_io *io, read_all_ctx *c, int rc, lf_err *err)
{
    uint32_t bad = atomic_load(&c->bad);
    if (rc == LF_OK && bad < c->n)
        rc = lf_io_read_error(io->path, c->reqs[bad].offset, c->reqs[bad].length,
                              c->result[bad], err);
    free(c->result);
    c->result = NULL;
    return rc;
}

int lf_io_read_all(lf_io *io, const lf_io_req *reqs, uint32_t n, uint32_t depth, lf_err *err)
{
    if (n == 0)
        return LF_OK;
    read_all_ctx c;
    uint32_t slots = 0;
    int rc = read_all_begin(io, &c, reqs, n, depth, &slots, err);
    if (rc != LF_OK)
        return rc;
    rc = lf_io_run(io, slots, read_all_next, read_all_done, &c, err);
    return read_all_end(io, &c, rc, err);
}

/* lf_io_read_start's batch, kept by the handle until lf_io_read_wait. */
struct lf_io_bg {
    read_all_ctx c;
    gen_loop g; /* engines without run_start */
};

int lf_io_read_start(lf_io *io, const lf_io_req *reqs, uint32_t n, uint32_t depth, lf_err *err)
{
    int rc = idle(io, "a background batch", err);
    if (rc != LF_OK || n == 0)
        return rc;
    struct lf_io_bg *bg = calloc(1, sizeof *bg);
    if (!bg)
        return lf_fail(err, LF_ENOMEM, "%s engine: out of memory", io->ops->name);
    uint32_t slots = 0;
    rc = read_all_begin(io, &bg->c, reqs, n, depth, &slots, err);
    if (rc == LF_OK) {
        if (io->ops->run_start) {
            rc = io->ops->run_start(io, slots, read_all_next, read_all_done, &bg->c, err);
        } else {
            rc = gen_start(io, &bg->g, slots, read_all_next, read_all_done, &bg->c, err);
            if (rc != LF_OK && bg->g.slot) {
                lf_err ignored;
                gen_finish(io, &bg->g, rc, &ignored); /* drains what went out */
            }
        }
        if (rc == LF_OK) {
            io->bg = bg;
            return LF_OK;
        }
        free(bg->c.result);
    }
    free(bg);
    return rc;
}

int lf_io_read_wait(lf_io *io, lf_err *err)
{
    struct lf_io_bg *bg = io->bg;
    if (!bg)
        return LF_OK;
    io->bg = NULL;
    int rc = io->ops->run_wait ? io->ops->run_wait(io, err) : gen_finish(io, &bg->g, LF_OK, err);
    rc = read_all_end(io, &bg->c, rc, err);
    free(bg);
    return rc;
}

void *lf_io_alloc(size_t bytes)
{
    return lf_bigmem_pages(bytes);
}
