/* lf_io_impl: what the I/O engines of bench/lf_io*.c share and nobody else sees: the
 * common head of every engine's handle, the direct-I/O open with its helpful error,
 * and the engines' ops tables. Private to bench/lf_io*.c. */
#ifndef LF_IO_IMPL_H
#define LF_IO_IMPL_H

#include "lf_io.h"

/* Every engine's handle starts with this (so an lf_io * is the engine's own struct). */
struct lf_io {
    const lf_io_ops *ops; /* the engine (set by its open) */
    int fd;             /* -1 for the null engine */
    uint32_t depth;     /* reads in flight at most */
    uint32_t inflight;  /* submitted and not yet reaped */
    struct lf_io_bg *bg; /* lf_io_read_start's batch until its wait; NULL: none */
    char path[1024];
};

/* Opens path read-only, with O_DIRECT when direct is set. An O_DIRECT refusal (EINVAL:
 * tmpfs and other file systems without direct I/O) is LF_EUNSUP with a message saying
 * how to proceed. Returns the fd or a negative lf_status. */
int lf_io_open_fd(const char *path, int direct, lf_err *err);
/* Checks n requests against the free slots and, when aligned, the 512-byte rule. */
int lf_io_check_submit(const lf_io *io, const lf_io_req *reqs, uint32_t n, int aligned,
                       const char *engine, lf_err *err);
/* Checks requests alone: a buffer, a length, and when aligned the 512-byte rule. */
int lf_io_check_reqs(const lf_io_req *reqs, uint32_t n, int aligned, const char *engine,
                     lf_err *err);
/* Checks reap's bounds: min <= inflight (else it would wait forever), min <= max, max > 0. */
int lf_io_check_reap(const lf_io *io, uint32_t min, uint32_t max, const char *engine,
                     lf_err *err);
/* Reads length bytes at offset, looping over short reads; bytes read or -errno. */
int64_t lf_io_pread_full(int fd, void *buf, uint64_t length, uint64_t offset);

/* The registry (lf_io.c) lists these; each is defined in its bench/lf_io_<name>.c. */
extern const lf_io_ops lf_io_psync_ops;
extern const lf_io_ops lf_io_buffered_ops;
extern const lf_io_ops lf_io_uring_ops;
extern const lf_io_ops lf_io_null_ops;

#endif
