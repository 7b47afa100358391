/* lf_io_uring: the io_uring engine (liburing, O_DIRECT). One ring of `depth` entries;
 * each request takes a slot that remembers its tag and submit time; latency is counted
 * from submit to the reap that sees the completion (as fio's clat + slat). */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_io_impl.h"
#include "lf_time.h"

/* Valgrind cannot see the kernel write buffers through io_uring: say so after each
 * completion, or every later use of the data is an "uninitialised value". */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

typedef struct {
    uint64_t tag;
    double t0;
    void *buf;
} slot;

typedef struct {
    lf_io base;
    struct io_uring ring;
    int ring_up;
    slot *slots;
    uint32_t *free_ids; /* stack of free slot ids */
    uint32_t nfree;
} uring_io;

static void uring_close(lf_io *io)
{
    if (!io)
        return;
    uring_io *u = (uring_io *)io;
    if (u->ring_up) {
        /* wait for reads still in flight so no buffer is written after we return */
        while (io->inflight > 0) {
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(&u->ring, &cqe) != 0)
                break;
            io_uring_cqe_seen(&u->ring, cqe);
            io->inflight--;
        }
        io_uring_queue_exit(&u->ring);
    }
    if (io->fd >= 0)
        close(io->fd);
    free(u->slots);
    free(u->free_ids);
    free(u);
}

static int uring_open(lf_io **out, const char *path, uint32_t depth, lf_err *err)
{
    if (depth == 0 || depth > 4096)
        return lf_fail(err, LF_EINVAL, "io_uring engine: depth %u out of range 1..4096", depth);
    int fd = lf_io_open_fd(path, 1, err);
    if (fd < 0)
        return fd;
    uring_io *u = calloc(1, sizeof *u);
    if (!u) {
        close(fd);
        return lf_fail(err, LF_ENOMEM, "io_uring engine: out of memory");
    }
    u->base.ops = &lf_io_uring_ops;
    u->base.fd = fd;
    u->base.depth = depth;
    snprintf(u->base.path, sizeof u->base.path, "%s", path);
    u->slots = calloc(depth, sizeof *u->slots);
    u->free_ids = calloc(depth, sizeof *u->free_ids);
    if (!u->slots || !u->free_ids) {
        uring_close(&u->base);
        return lf_fail(err, LF_ENOMEM, "io_uring engine: out of memory for depth %u", depth);
    }
    for (uint32_t i = 0; i < depth; i++)
        u->free_ids[i] = depth - 1 - i;
    u->nfree = depth;
    int r = io_uring_queue_init(depth, &u->ring, 0);
    if (r < 0) {
        uring_close(&u->base);
        return lf_fail_errno(err, r == -ENOSYS || r == -EPERM ? LF_EUNSUP : LF_EIO, -r,
                             "io_uring engine: cannot set up a ring of %u entries (kernel "
                             "without io_uring, or kernel.io_uring_disabled set?); use "
                             "--engine psync",
                             depth);
    }
    u->ring_up = 1;
    *out = &u->base;
    return LF_OK;
}

static int uring_submit(lf_io *io, const lf_io_req *reqs, uint32_t n, lf_err *err)
{
    uring_io *u = (uring_io *)io;
    int rc = lf_io_check_submit(io, reqs, n, 1, "io_uring", err);
    if (rc != LF_OK)
        return rc;
    for (uint32_t i = 0; i < n; i++)
        if (reqs[i].length > 0x7ffff000u)
            return lf_fail(err, LF_EINVAL, "io_uring engine: read of %llu bytes at offset %llu is "
                           "larger than one read may be (2 GiB)",
                           (unsigned long long)reqs[i].length, (unsigned long long)reqs[i].offset);
    double t0 = lf_now();
    for (uint32_t i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (!sqe) /* cannot happen: the ring has depth entries and depth >= inflight + n */
            return lf_fail(err, LF_EIO, "io_uring engine: submission queue full");
        uint32_t id = u->free_ids[--u->nfree];
        u->slots[id].tag = reqs[i].tag;
        u->slots[id].t0 = t0;
        u->slots[id].buf = reqs[i].buf;
        io_uring_prep_read(sqe, io->fd, reqs[i].buf, (unsigned)reqs[i].length, reqs[i].offset);
        io_uring_sqe_set_data(sqe, (void *)(uintptr_t)id);
    }
    uint32_t left = n;
    while (left > 0) {
        int r = io_uring_submit(&u->ring);
        if (r == -EINTR || r == -EAGAIN)
            continue;
        if (r < 0)
            return lf_fail_errno(err, LF_EIO, -r, "%s: io_uring submit failed", io->path);
        left -= (uint32_t)r > left ? left : (uint32_t)r;
        if (r == 0)
            break;
    }
    io->inflight += n;
    return LF_OK;
}

static int uring_reap(lf_io *io, lf_io_done *done, uint32_t min, uint32_t max, uint32_t *got,
                      lf_err *err)
{
    uring_io *u = (uring_io *)io;
    *got = 0;
    int rc = lf_io_check_reap(io, min, max, "io_uring", err);
    if (rc != LF_OK)
        return rc;
    uint32_t k = 0;
    while (k < max && io->inflight > 0) {
        struct io_uring_cqe *cqe;
        int r = k < min ? io_uring_wait_cqe(&u->ring, &cqe) : io_uring_peek_cqe(&u->ring, &cqe);
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN && k >= min)
            break;
        if (r < 0) {
            *got = k;
            return lf_fail_errno(err, LF_EIO, -r, "%s: io_uring wait failed", io->path);
        }
        double t1 = lf_now();
        uint32_t id = (uint32_t)(uintptr_t)io_uring_cqe_get_data(cqe);
        done[k].tag = u->slots[id].tag;
        done[k].result = cqe->res;
        if (cqe->res > 0)
            VALGRIND_MAKE_MEM_DEFINED(u->slots[id].buf, (size_t)cqe->res);
        done[k].latency_s = t1 - u->slots[id].t0;
        io_uring_cqe_seen(&u->ring, cqe);
        u->free_ids[u->nfree++] = id;
        io->inflight--;
        k++;
    }
    *got = k;
    return LF_OK;
}

/* Queues slot `s`'s next read, if it has one; returns 1 when it did. */
static int run_queue(uring_io *u, uint32_t s, lf_io_next_fn next, void *arg, lf_io_req *reqs,
                     int *bad)
{
    if (!next(arg, s, &reqs[s]))
        return 0;
    const lf_io_req *r = &reqs[s];
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe || r->length > 0x7ffff000u) { /* no sqe cannot happen: one per slot */
        *bad = 1;
        return 0;
    }
    io_uring_prep_read(sqe, u->base.fd, r->buf, (unsigned)r->length, r->offset);
    io_uring_sqe_set_data(sqe, (void *)(uintptr_t)s);
    u->slots[s].t0 = lf_now();
    u->slots[s].buf = r->buf;
    return 1;
}

/* Closed-loop reads from this thread: each pass submits the reads queued since the last
 * one and waits for a completion in the same system call (io_uring_submit_and_wait),
 * then takes every completion there is and queues each slot's next read. */
static int uring_run(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done,
                     void *arg, lf_err *err)
{
    uring_io *u = (uring_io *)io;
    lf_io_req *reqs = malloc((size_t)depth * sizeof *reqs);
    if (!reqs)
        return lf_fail(err, LF_ENOMEM, "io_uring engine: out of memory for %u slots", depth);
    int bad = 0, rc = LF_OK;
    uint32_t active = 0;
    for (uint32_t s = 0; s < depth && !bad; s++)
        active += (uint32_t)run_queue(u, s, next, arg, reqs, &bad);
    io->inflight += active;
    while (active > 0) {
        int r = io_uring_submit_and_wait(&u->ring, 1);
        if (r == -EINTR || r == -EAGAIN || r == -EBUSY)
            continue;
        if (r < 0) {
            rc = lf_fail_errno(err, LF_EIO, -r, "%s: io_uring submit failed", io->path);
            break; /* close waits for what is left */
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        double t1 = lf_now();
        uint32_t requeue[64], nq = 0;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            uint32_t s = (uint32_t)(uintptr_t)io_uring_cqe_get_data(cqe);
            lf_io_done d = {reqs[s].tag, cqe->res, t1 - u->slots[s].t0};
            if (cqe->res > 0)
                VALGRIND_MAKE_MEM_DEFINED(u->slots[s].buf, (size_t)cqe->res);
            done(arg, s, &reqs[s], &d);
            seen++;
            active--;
            io->inflight--;
            requeue[nq++] = s;
            if (nq == 64)
                break;
        }
        io_uring_cq_advance(&u->ring, seen);
        for (uint32_t i = 0; i < nq && !bad; i++)
            if (run_queue(u, requeue[i], next, arg, reqs, &bad)) {
                active++;
                io->inflight++;
            }
    }
    if (bad && rc == LF_OK)
        rc = lf_fail(err, LF_EINVAL, "io_uring engine: a read longer than 2 GiB, or no room in "
                                     "the ring");
    free(reqs);
    return rc;
}

const lf_io_ops lf_io_uring_ops = {"io_uring", LF_IO_CAP_DIRECT | LF_IO_CAP_ALIGNED, uring_open,
                                   uring_submit, uring_reap, uring_close, uring_run,
                                   NULL, NULL};
