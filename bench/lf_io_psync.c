/* lf_io_psync: the psync engine (a pool of `depth` threads, each doing a blocking pread
 * on an O_DIRECT descriptor) and the buffered engine (the same pool, no O_DIRECT, so
 * reads go through the page cache; readahead off: random reads of whole records, as
 * lf_pcache reads them, and a read brings in only its own pages). Submitted requests
 * and their completions pass through two rings of `depth` entries under one mutex;
 * closed-loop reads (lf_io_run) skip both: the caller and depth-1 woken threads each run
 * one slot (in the background, lf_io_read_start: depth woken threads). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_io_impl.h"
#include "lf_time.h"

typedef struct {
    lf_io_req req;
    double t0;
} job;

typedef struct {
    lf_io base;
    const char *engine;
    pthread_t *threads;
    uint32_t nthreads;
    pthread_mutex_t mu;
    pthread_cond_t has_work, has_done;
    job *q;              /* ring of depth pending requests */
    uint32_t qhead, qcount;
    lf_io_done *d;       /* ring of depth completions */
    uint32_t dhead, dcount;
    int stop;
    /* closed-loop reads (pool_run): run_depth slots, each claimed by one thread */
    uint32_t run_depth, run_claimed, run_left;
    lf_io_next_fn run_next;
    lf_io_done_fn run_done;
    void *run_arg;
} pool_io;

/* One slot of a closed loop, on its own thread: next -> pread -> done, no hand-off. */
static void run_slot(pool_io *p, uint32_t slot, lf_io_next_fn next, lf_io_done_fn done,
                     void *arg)
{
    lf_io_req req;
    while (next(arg, slot, &req)) {
        double t0 = lf_now();
        lf_io_done d = {req.tag, lf_io_pread_full(p->base.fd, req.buf, req.length, req.offset), 0};
        d.latency_s = lf_now() - t0;
        done(arg, slot, &req, &d);
    }
}

static void *worker(void *arg)
{
    pool_io *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->qcount == 0 && p->run_claimed >= p->run_depth)
            pthread_cond_wait(&p->has_work, &p->mu);
        if (p->run_claimed < p->run_depth) {
            uint32_t slot = p->run_claimed++;
            lf_io_next_fn next = p->run_next;
            lf_io_done_fn done = p->run_done;
            void *run_arg = p->run_arg;
            pthread_mutex_unlock(&p->mu);
            run_slot(p, slot, next, done, run_arg);
            pthread_mutex_lock(&p->mu);
            if (--p->run_left == 0)
                pthread_cond_broadcast(&p->has_done);
            continue;
        }
        if (p->qcount == 0)
            break; /* stopping and nothing left */
        job j = p->q[p->qhead];
        p->qhead = (p->qhead + 1) % p->base.depth;
        p->qcount--;
        pthread_mutex_unlock(&p->mu);
        int64_t r = lf_io_pread_full(p->base.fd, j.req.buf, j.req.length, j.req.offset);
        double t1 = lf_now();
        pthread_mutex_lock(&p->mu);
        lf_io_done *d = &p->d[(p->dhead + p->dcount) % p->base.depth];
        d->tag = j.req.tag;
        d->result = r;
        d->latency_s = t1 - j.t0;
        p->dcount++;
        pthread_cond_signal(&p->has_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_close(lf_io *io)
{
    if (!io)
        return;
    pool_io *p = (pool_io *)io;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->has_work);
    pthread_mutex_unlock(&p->mu);
    for (uint32_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->has_work);
    pthread_cond_destroy(&p->has_done);
    pthread_mutex_destroy(&p->mu);
    if (p->base.fd >= 0)
        close(p->base.fd);
    free(p->threads);
    free(p->q);
    free(p->d);
    free(p);
}

static int pool_open(lf_io **out, const char *path, uint32_t depth, int direct,
                     const char *engine, lf_err *err)
{
    if (depth == 0 || depth > 4096)
        return lf_fail(err, LF_EINVAL, "%s engine: depth %u out of range 1..4096", engine, depth);
    int fd = lf_io_open_fd(path, direct, err);
    if (fd < 0)
        return fd;
    if (!direct)
        posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    pool_io *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return lf_fail(err, LF_ENOMEM, "%s engine: out of memory", engine);
    }
    p->base.ops = direct ? &lf_io_psync_ops : &lf_io_buffered_ops;
    p->base.fd = fd;
    p->base.depth = depth;
    snprintf(p->base.path, sizeof p->base.path, "%s", path);
    p->engine = engine;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->has_work, NULL);
    pthread_cond_init(&p->has_done, NULL);
    p->threads = calloc(depth, sizeof *p->threads);
    p->q = calloc(depth, sizeof *p->q);
    p->d = calloc(depth, sizeof *p->d);
    if (!p->threads || !p->q || !p->d) {
        pool_close(&p->base);
        return lf_fail(err, LF_ENOMEM, "%s engine: out of memory for depth %u", engine, depth);
    }
    for (uint32_t i = 0; i < depth; i++) {
        int e = pthread_create(&p->threads[i], NULL, worker, p);
        if (e != 0) {
            pool_close(&p->base);
            return lf_fail_errno(err, LF_ENOMEM, e, "%s engine: cannot start thread %u of %u",
                                 engine, i + 1, depth);
        }
        p->nthreads++;
    }
    *out = &p->base;
    return LF_OK;
}

static int psync_open(lf_io **out, const char *path, uint32_t depth, lf_err *err)
{
    return pool_open(out, path, depth, 1, "psync", err);
}

static int buffered_open(lf_io **out, const char *path, uint32_t depth, lf_err *err)
{
    return pool_open(out, path, depth, 0, "buffered", err);
}

static int pool_submit(lf_io *io, const lf_io_req *reqs, uint32_t n, lf_err *err)
{
    pool_io *p = (pool_io *)io;
    int aligned = strcmp(p->engine, "psync") == 0;
    int rc = lf_io_check_submit(io, reqs, n, aligned, p->engine, err);
    if (rc != LF_OK)
        return rc;
    double t0 = lf_now();
    pthread_mutex_lock(&p->mu);
    for (uint32_t i = 0; i < n; i++) {
        job *j = &p->q[(p->qhead + p->qcount) % io->depth];
        j->req = reqs[i];
        j->t0 = t0;
        p->qcount++;
    }
    io->inflight += n;
    if (n == 1)
        pthread_cond_signal(&p->has_work);
    else if (n > 1)
        pthread_cond_broadcast(&p->has_work);
    pthread_mutex_unlock(&p->mu);
    return LF_OK;
}

static int pool_reap(lf_io *io, lf_io_done *done, uint32_t min, uint32_t max, uint32_t *got,
                     lf_err *err)
{
    pool_io *p = (pool_io *)io;
    *got = 0;
    int rc = lf_io_check_reap(io, min, max, p->engine, err);
    if (rc != LF_OK)
        return rc;
    pthread_mutex_lock(&p->mu);
    while (p->dcount < min)
        pthread_cond_wait(&p->has_done, &p->mu);
    uint32_t k = p->dcount < max ? p->dcount : max;
    for (uint32_t i = 0; i < k; i++) {
        done[i] = p->d[p->dhead];
        p->dhead = (p->dhead + 1) % io->depth;
    }
    p->dcount -= k;
    io->inflight -= k;
    pthread_mutex_unlock(&p->mu);
    *got = k;
    return LF_OK;
}

/* Hands slots first..depth-1 of a closed loop to the workers, one signal each;
 * whichever wakes claims the next slot. */
static void pool_launch(pool_io *p, uint32_t depth, uint32_t first, lf_io_next_fn next,
                        lf_io_done_fn done, void *arg)
{
    pthread_mutex_lock(&p->mu);
    p->run_next = next;
    p->run_done = done;
    p->run_arg = arg;
    p->run_depth = depth;
    p->run_claimed = first;
    p->run_left = depth;
    for (uint32_t i = first; i < depth; i++)
        pthread_cond_signal(&p->has_work);
    pthread_mutex_unlock(&p->mu);
}

/* Waits until every slot of the loop has stopped. */
static int pool_run_wait(lf_io *io, lf_err *err)
{
    (void)err;
    pool_io *p = (pool_io *)io;
    pthread_mutex_lock(&p->mu);
    while (p->run_left > 0)
        pthread_cond_wait(&p->has_done, &p->mu);
    p->run_depth = p->run_claimed = 0;
    pthread_mutex_unlock(&p->mu);
    return LF_OK;
}

/* Closed-loop reads: depth slots, each run by one thread (as fio's psync jobs do):
 * this thread runs slot 0 and wakes depth-1 workers. Waking the whole pool for every
 * per-layer batch cost more than the batch's reads at 64 threads on 2 cores
 * (costmodel/README.md, "Batches"). Buffers and alignment are the callbacks' business,
 * checked by the pread itself. */
static int pool_run(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done,
                    void *arg, lf_err *err)
{
    pool_io *p = (pool_io *)io;
    pool_launch(p, depth, 1, next, done, arg); /* slot 0 is this thread's */
    run_slot(p, 0, next, done, arg);
    /* The work has run out: the slots no worker has claimed yet are dropped, so this
     * thread waits only for reads in progress, not for a worker still waking (on an idle
     * vCPU of a VM that takes a while) only to find nothing: batches of 2 and 3 reads of
     * 256 KiB, 4 and 8 threads, ran 5-6% faster (medians of 6 interleaved rounds). */
    pthread_mutex_lock(&p->mu);
    p->run_left -= 1 + (p->run_depth - p->run_claimed);
    p->run_depth = p->run_claimed;
    pthread_mutex_unlock(&p->mu);
    return pool_run_wait(io, err);
}

/* The same loop with every slot on a worker (depth <= the pool's threads), returning at
 * once: the caller computes while it runs (lf_io_read_start). */
static int pool_run_start(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done,
                          void *arg, lf_err *err)
{
    (void)err;
    pool_launch((pool_io *)io, depth, 0, next, done, arg);
    return LF_OK;
}

const lf_io_ops lf_io_psync_ops = {"psync", LF_IO_CAP_DIRECT | LF_IO_CAP_ALIGNED, psync_open,
                                   pool_submit, pool_reap, pool_close, pool_run,
                                   pool_run_start, pool_run_wait};
const lf_io_ops lf_io_buffered_ops = {"buffered", 0, buffered_open, pool_submit, pool_reap,
                                      pool_close, pool_run, pool_run_start,
                                      pool_run_wait};
