/* lf_io: I/O engines behind one interface (docs/DESIGN.md section 4, after fio's ioengine_ops):
 * psync (a thread pool of pread), io_uring (liburing), buffered (page cache) and null
 * (no device, for tests on any file system); an engine is one bench/lf_io_<name>.c and
 * one line of the registry in lf_io.c. The handle carries its engine's operations. Used by
 * the probe and the executor. An engine owns its threads/rings and file descriptor; lf_io_close releases them.
 * Buffers are the caller's and must stay valid until reaped. */
#ifndef LF_IO_H
#define LF_IO_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

enum {
    LF_IO_CAP_DIRECT = 1u << 0,     /* bypasses the page cache (O_DIRECT) */
    LF_IO_CAP_ALIGNED = 1u << 1,    /* offsets, lengths and buffers must be aligned */
    LF_IO_CAP_NODEVICE = 1u << 2    /* performs no I/O at all (null) */
};

/* Buffers from lf_io_alloc are LF_IO_ALIGN-aligned. Direct engines need offsets, lengths
 * and buffers to be multiples of LF_IO_MIN_ALIGN (the 512-byte logical block; 4096 is
 * safe on every device). */
#define LF_IO_ALIGN 4096
#define LF_IO_MIN_ALIGN 512

typedef struct {
    uint64_t offset;
    uint64_t length;
    void *buf;
    uint64_t tag;      /* caller's cookie, returned by reap */
} lf_io_req;

typedef struct {
    uint64_t tag;
    int64_t result;    /* bytes read, or -errno */
    double latency_s;  /* submit to completion */
} lf_io_done;

typedef struct lf_io lf_io;

/* Closed-loop reads (lf_io_run): slot `slot` (0..depth-1) asks `next` for its next
 * request (return 0 to stop the slot) and hears of each completion through `done`.
 * Engines with their own threads (psync, buffered) call both from those threads, one
 * thread per slot, concurrently across slots: callbacks may share state only through
 * atomics or locks, or per slot. */
typedef int (*lf_io_next_fn)(void *arg, uint32_t slot, lf_io_req *req);
typedef void (*lf_io_done_fn)(void *arg, uint32_t slot, const lf_io_req *req,
                              const lf_io_done *done);

typedef struct {
    const char *name;
    uint32_t caps;
    /* Opens path for reading with `depth` reads in flight at most; the handle carries
     * this table (lf_io_submit(io, ...) and the rest call through it). */
    int (*open)(lf_io **out, const char *path, uint32_t depth, lf_err *err);
    /* Queues n requests (n <= free slots); returns at once. */
    int (*submit)(lf_io *io, const lf_io_req *reqs, uint32_t n, lf_err *err);
    /* Waits for at least min completions (up to max); *got receives the count. */
    int (*reap)(lf_io *io, lf_io_done *done, uint32_t min, uint32_t max, uint32_t *got,
                lf_err *err);
    void (*close)(lf_io *io);
    /* Optional (NULL: lf_io_run drives submit and reap from the caller's thread):
     * closed-loop reads the engine drives itself (see lf_io_run). */
    int (*run)(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done, void *arg,
               lf_err *err);
    /* Optional, both or neither (NULL: lf_io_read_start submits from the caller's thread
     * and lf_io_read_wait reaps): run's closed loop on the engine's own threads, every
     * slot on one of them, returning at once; run_wait returns when every slot stopped. */
    int (*run_start)(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done,
                     void *arg, lf_err *err);
    int (*run_wait)(lf_io *io, lf_err *err);
} lf_io_ops;

/* Opening a direct engine (psync, io_uring) on a file system without O_DIRECT (tmpfs)
 * fails with LF_EUNSUP and a message saying how to proceed. The null engine opens
 * nothing (path may be NULL) and completes every read at once, zero-filling the buffer.
 * The psync and buffered engines run `depth` threads; reap's latency_s is measured
 * from submit to the end of the pread (psync) or to the reap that saw it (io_uring);
 * lf_io_run's from the pread's start (psync) or the queueing (io_uring). */

/* Before a file is made for direct reads (a probe's test file): whether the folder of
 * path is on a file system with direct I/O (not tmpfs or ramfs, O_DIRECT accepted);
 * LF_EUNSUP with the engines' message when not, so that nothing is written in vain. */
int lf_io_direct_folder(const char *path, lf_err *err);
/* Looks up an engine by name ("psync", "io_uring", "buffered", "null"). */
int lf_io_engine(const char *name, const lf_io_ops **out, lf_err *err);
const char *lf_io_engine_names(void);

/* Opens engine `engine` (a name lf_io_engine knows) on path; close with lf_io_close. */
int lf_io_open(const char *engine, const char *path, uint32_t depth, lf_io **out, lf_err *err);
/* The handle's engine, and its operations called through the handle. */
const lf_io_ops *lf_io_ops_of(const lf_io *io);
int lf_io_submit(lf_io *io, const lf_io_req *reqs, uint32_t n, lf_err *err);
int lf_io_reap(lf_io *io, lf_io_done *done, uint32_t min, uint32_t max, uint32_t *got,
               lf_err *err);
void lf_io_close(lf_io *io);

/* Closed-loop reads with `depth` slots in flight (0 or more than the handle's depth:
 * the handle's depth), each slot looping next -> read -> done until next returns 0;
 * returns when every slot has stopped and its last read completed. Needs no read in
 * flight on entry. What fio's jobs do: the psync pool's threads each run one slot
 * with no hand-off to the caller; io_uring submits and waits in one system call. */
int lf_io_run(lf_io *io, uint32_t depth, lf_io_next_fn next, lf_io_done_fn done, void *arg,
              lf_err *err);

/* Reads all n requests with up to `depth` in flight (0 or more than the engine's
 * depth: the engine's depth), returns when all are done (lf_io_run). Needs no read in
 * flight on entry. A short read or an error is reported with the request's offset
 * (the one of smallest index; the others in flight are drained). Tags are ignored. */
int lf_io_read_all(lf_io *io, const lf_io_req *reqs, uint32_t n, uint32_t depth, lf_err *err);

/* lf_io_read_all in the background: starts reading the n requests (n may exceed the
 * depth) and returns at once, so the caller computes meanwhile; lf_io_read_wait waits
 * for them and reports as lf_io_read_all does (LF_OK when none was started). The psync
 * and buffered engines read the whole batch on their own threads; engines without
 * threads (io_uring, null) submit the first `depth` reads now and the rest as the wait
 * reaps. One batch at a time: until its wait the handle takes no other read (submit,
 * reap, closed loops refuse), and the requests and buffers stay the caller's. A failed start leaves nothing in flight.
 * lf_io_close waits for a batch still running. */
int lf_io_read_start(lf_io *io, const lf_io_req *reqs, uint32_t n, uint32_t depth, lf_err *err);
int lf_io_read_wait(lf_io *io, lf_err *err);

/* The one report of a failed read of `length` bytes at offset in path: result < 0 is
 * -errno ("read of L bytes at offset O failed: ..."), else the bytes a short read got
 * ("short read at offset O: G of L bytes ..."). Returns LF_EIO. */
int lf_io_read_error(const char *path, uint64_t offset, uint64_t length, int64_t result,
                     lf_err *err);

/* Allocates a buffer for direct reads, free with free(): lf_bigmem_pages (whole
 * transparent huge pages unless LLMFLASH_THP=0), so always LF_IO_ALIGN-aligned. */
void *lf_io_alloc(size_t bytes);

#endif
