/* lf_probe: closed-loop random-read measurement through lf_io engines (as fio's
 * randread with iodepth = threads): keep `threads` reads in flight through lf_io_run,
 * each slot issuing its next read as its last completes (one pool thread per slot with
 * psync, as fio's psync jobs; one ring with io_uring), stop at the deadline and drain.
 * Offsets are uniform over the file, aligned to 4096, from one gsl_rng per slot seeded
 * from (seed, chunk, threads, slot). */
#include "lf_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_bigmem.h"
#include "lf_cgroup.h"
#include "lf_fs.h"
#include "lf_io.h"
#include "lf_time.h"

#define PROBE_ALIGN 4096u

int lf_probe_prepare_file(const char *path, uint64_t size, uint64_t seed, int *created,
                          uint64_t *size_out, lf_err *err)
{
    *created = 0;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return lf_fail(err, LF_EINVAL, "%s: not a regular file", path);
        *size_out = (uint64_t)sb.st_size;
        return LF_OK;
    }
    if (errno != ENOENT)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot stat", path);
    size = (size + PROBE_ALIGN - 1) / PROBE_ALIGN * PROBE_ALIGN;
    if (size == 0)
        return lf_fail(err, LF_EINVAL, "%s: size 0 for a new probe file", path);
    const size_t buf_bytes = 1u << 20;
    uint32_t *buf = malloc(buf_bytes);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_taus2);
    if (!buf || !r) {
        free(buf);
        if (r)
            gsl_rng_free(r);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    gsl_rng_set(r, seed);
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    lf_progress prog;
    lf_progress_start(&prog, "probe: writing the test file (MiB)", size >> 20);
    for (uint64_t done = 0; rc == LF_OK && done < size;) {
        size_t k = size - done < buf_bytes ? (size_t)(size - done) : buf_bytes;
        for (size_t i = 0; i < (k + 3) / 4; i++)
            buf[i] = (uint32_t)gsl_rng_get(r); /* taus2: 32 random bits */
        if (fwrite(buf, 1, k, a.f) != k) {
            rc = lf_fail_errno(err, LF_EIO, errno, "%s: writing the %llu-byte test file failed, "
                               "nothing written (a full disk? a smaller --size or another "
                               "folder)", path, (unsigned long long)size);
            lf_atomic_abort(&a);
            break;
        }
        done += k;
        lf_progress_update(&prog, done >> 20);
    }
    if (rc == LF_OK)
        rc = lf_atomic_commit(&a, err);
    lf_progress_end(&prog);
    free(buf);
    gsl_rng_free(r);
    if (rc != LF_OK)
        return rc;
    *created = 1;
    *size_out = size;
    return LF_OK;
}

int lf_probe_check_new_file(const lf_probe_opts *o, lf_err *err)
{
    struct stat st;
    if (stat(o->path, &st) == 0)
        return LF_OK;
    uint64_t max_chunk = 0;
    for (size_t i = 0; i < o->n_chunks; i++)
        max_chunk = o->chunks[i] > max_chunk ? o->chunks[i] : max_chunk;
    if (o->size < max_chunk)
        return lf_fail(err, LF_EINVAL, "%s: --size %llu is smaller than the largest chunk %llu; "
                       "give a larger --size", o->path, (unsigned long long)o->size,
                       (unsigned long long)max_chunk);
    const lf_io_ops *ops;
    int rc = lf_io_engine(o->engine, &ops, err);
    if (rc == LF_OK && (ops->caps & LF_IO_CAP_DIRECT))
        rc = lf_io_direct_folder(o->path, err);
    return rc;
}

void lf_probe_drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

static uint64_t next_offset(gsl_rng *r, uint64_t nblocks)
{
    uint64_t hi = nblocks > 0xffffffffull ? gsl_rng_uniform_int(r, nblocks >> 32) : 0;
    uint64_t lo = gsl_rng_uniform_int(r, nblocks > 0xffffffffull ? 0xffffffffull : nblocks);
    return ((hi << 32) + lo) * PROBE_ALIGN;
}

/* How a measurement holds the page cache (lf_probe_opts.cgroup, .drop_reads). */
typedef struct {
    lf_cgroup *cgroup;
    int drop_reads;
} held_cache;

/* Under a cgroup, before a point's memory is touched: its reads in flight announced
 * (the page cache then holds the cgroup's floor for them, lf_cgroup_floor: every read
 * misses, there is no budget of cached records) and the limit fitted with `touch` bytes
 * of headroom for the memory about to be touched. */
static int announce(const held_cache *held, const lf_io_ops *ops, uint64_t in_flight,
                    uint64_t touch, lf_err *err)
{
    if (!held->cgroup || (ops->caps & LF_IO_CAP_DIRECT))
        return LF_OK;
    lf_cgroup_set_in_flight(held->cgroup, in_flight);
    return lf_cgroup_fit(held->cgroup, touch, err); /* open_engine fits again once touched */
}

/* Under a cgroup, before a point's memory is freed: room in the limit for the frees (a
 * sanitizer poisons the shadow of freed memory, an eighth of it, on pages the fit after
 * the touch did not count). Returns rc, or the fit's failure when rc was LF_OK. */
static int before_free(const held_cache *held, uint64_t bytes, int rc, lf_err *err)
{
    lf_err fit_err;
    if (!held->cgroup || lf_cgroup_fit(held->cgroup, bytes / 8, &fit_err) == LF_OK ||
        rc != LF_OK)
        return rc;
    if (err)
        *err = fit_err;
    return fit_err.code;
}

/* The engine on path with `threads` in flight, once the point's memory is touched. When
 * the engine goes through the page cache: the file's pages dropped first; under a
 * cgroup, the limit fitted again to what the process now holds; with drop_reads,
 * *drop_fd a descriptor to drop read pages through (-1: none). */
static int open_engine(const lf_io_ops *ops, const char *path, uint32_t threads,
                       const held_cache *held, lf_io **io, int *drop_fd, lf_err *err)
{
    int rc;
    *drop_fd = -1;
    if (!(ops->caps & LF_IO_CAP_DIRECT)) {
        lf_probe_drop_cache(path);
        if (held->cgroup && (rc = lf_cgroup_fit(held->cgroup, 0, err)) != LF_OK)
            return rc;
        if (held->drop_reads && (*drop_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open to drop read pages", path);
    }
    rc = ops->open(io, path, threads, err);
    if (rc != LF_OK && *drop_fd >= 0) {
        close(*drop_fd);
        *drop_fd = -1;
    }
    return rc;
}

/* Drops a read's pages (a failure's errno into *error); returns the seconds it took (0
 * without a descriptor). The time is taken out of the measurement: a run's fadvise
 * evictions are its bookkeeping, not its reads (bench/lf_exec_moe.c keeps them out of
 * the step's times too). */
static double drop_pages(int fd, uint64_t offset, uint64_t length, int *error)
{
    if (fd < 0)
        return 0;
    double t0 = lf_now();
    int e = posix_fadvise(fd, (off_t)offset, (off_t)length, POSIX_FADV_DONTNEED);
    if (e)
        *error = e;
    return lf_now() - t0;
}

static int drop_failed(const char *path, int e, lf_err *err)
{
    return lf_fail_errno(err, LF_EIO, e, "%s: dropping read pages (posix_fadvise DONTNEED) "
                         "failed, so reads could hit the page cache; use --pagecache-mechanism "
                         "cgroup", path);
}

/* A measured point: rates from reads over seconds, p50/p99 of the n latencies (sorted
 * here), in microseconds. */
static void fill_row(lf_probe_row *row, const char *engine, uint64_t chunk, uint32_t threads,
                     uint32_t batch, uint64_t reads, double seconds, double *lat, size_t n)
{
    memset(row, 0, sizeof *row);
    snprintf(row->engine, sizeof row->engine, "%s", engine);
    row->chunk = chunk;
    row->threads = threads;
    row->batch = batch;
    row->reads = reads;
    row->seconds = seconds;
    row->mb_s = (double)reads * (double)chunk / seconds / 1e6;
    row->iops = (double)reads / seconds;
    gsl_sort(lat, 1, n);
    row->p50_us = 1e6 * gsl_stats_quantile_from_sorted_data(lat, 1, n, 0.50);
    row->p99_us = 1e6 * gsl_stats_quantile_from_sorted_data(lat, 1, n, 0.99);
}

/* Latencies kept per slot: a uniform sample (reservoir) of a slot's reads beyond it, so
 * that a point's memory is all allocated and touched before it starts (a probe in a
 * memory cgroup must not grow during a point: bench/lf_cgroup.h). */
#define LAT_KEPT (1u << 12)

/* One in-flight slot of the closed loop: its own random stream, buffer and latencies
 * (slots run on separate threads with the psync pool; padded apart). */
typedef struct {
    gsl_rng *r;
    char *buf;
    double *lat;      /* its LAT_KEPT entries of the point's latency array */
    size_t nlat;
    uint64_t reads;
    double t_end;
    double dropping;  /* seconds in drop_pages */
    int drop_errno;   /* a failed drop: the read may stay cached */
    int64_t bad_result; /* first failed read of this slot */
    uint64_t bad_offset;
    int bad;
    char pad[64];
} probe_slot;

typedef struct {
    probe_slot *slot;
    uint64_t nblocks, chunk;
    uint64_t bufs_per_slot; /* a slot's reads cycle through this many chunks of memory */
    double deadline;
    int drop_fd;          /* >= 0: drop each read's pages as it completes */
    _Atomic int failed;
} probe_ctx;

static int probe_next(void *arg, uint32_t s, lf_io_req *req)
{
    probe_ctx *c = arg;
    probe_slot *ps = &c->slot[s];
    if (atomic_load_explicit(&c->failed, memory_order_relaxed) || lf_now() >= c->deadline)
        return 0;
    char *buf = ps->buf + (size_t)(ps->reads % c->bufs_per_slot) * c->chunk;
    *req = (lf_io_req){next_offset(ps->r, c->nblocks), c->chunk, buf, s};
    return 1;
}

static void probe_done(void *arg, uint32_t s, const lf_io_req *req, const lf_io_done *d)
{
    probe_ctx *c = arg;
    probe_slot *ps = &c->slot[s];
    int e = 0;
    ps->dropping += drop_pages(c->drop_fd, req->offset, c->chunk, &e);
    ps->t_end = lf_now();
    ps->reads++;
    if (e && !ps->drop_errno) {
        ps->drop_errno = e;
        atomic_store(&c->failed, 1);
    }
    if (d->result != (int64_t)c->chunk && !ps->bad) {
        ps->bad = 1;
        ps->bad_result = d->result;
        ps->bad_offset = req->offset;
        atomic_store(&c->failed, 1);
    }
    if (ps->nlat < LAT_KEPT) {
        ps->lat[ps->nlat++] = d->latency_s;
    } else { /* reservoir: read number `reads` replaces a kept one with p = LAT_KEPT / reads */
        uint64_t h = ps->reads * 0x9e3779b97f4a7c15ull;
        h ^= h >> 31;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        if (h % ps->reads < LAT_KEPT)
            ps->lat[h % ps->reads] = d->latency_s;
    }
}

static int measure_point(const char *engine, const char *path, uint64_t file_size,
                         uint64_t chunk, uint32_t threads, double seconds, uint64_t seed,
                         uint64_t footprint, const held_cache *held, lf_probe_row *row,
                         lf_err *err)
{
    if (chunk == 0 || chunk % PROBE_ALIGN || chunk > file_size)
        return lf_fail(err, LF_EINVAL,
                       "probe: chunk %llu must be a multiple of %u and at most the file size "
                       "%llu",
                       (unsigned long long)chunk, PROBE_ALIGN, (unsigned long long)file_size);
    if (threads == 0 || threads > 4096)
        return lf_fail(err, LF_EINVAL, "probe: threads %u out of range 1..4096", threads);
    if (!(seconds > 0))
        return lf_fail(err, LF_EINVAL, "probe: seconds must be > 0");
    /* everything the point uses, allocated and touched before the engine opens (a
     * cgroup's limit is fitted to what the process then holds), once the limit has room
     * for it (a sanitizer's allocator touches its shadow as it allocates) */
    const lf_io_ops *ops = NULL;
    int rc = lf_io_engine(engine, &ops, err);
    if (rc != LF_OK)
        return rc;
    /* each slot cycles through its share of the footprint, at least one chunk */
    uint64_t per_slot = footprint / (chunk * threads);
    per_slot = per_slot ? per_slot : 1;
    size_t buf_bytes = (size_t)(chunk * threads * per_slot);
    uint64_t lat_bytes = (uint64_t)threads * LAT_KEPT * sizeof(double);
    if ((rc = announce(held, ops, chunk * threads, lf_bigmem_pages_size(buf_bytes) + lat_bytes,
                       err)) != LF_OK)
        return rc;
    char *bufs = lf_io_alloc(buf_bytes);
    probe_ctx c = {.chunk = chunk, .nblocks = (file_size - chunk) / PROBE_ALIGN + 1,
                   .bufs_per_slot = per_slot, .drop_fd = -1};
    atomic_init(&c.failed, 0);
    c.slot = calloc(threads, sizeof *c.slot);
    double *lat = malloc(lat_bytes);
    lf_io *io = NULL;
    int ok = bufs && c.slot && lat;
    for (uint32_t i = 0; ok && i < threads; i++) {
        probe_slot *ps = &c.slot[i];
        ps->buf = bufs + (size_t)(i * chunk * per_slot);
        ps->lat = lat + (size_t)i * LAT_KEPT;
        ps->r = gsl_rng_alloc(gsl_rng_mt19937);
        ok = ps->r != NULL;
        if (ok)
            gsl_rng_set(ps->r, seed ^ (chunk * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)threads << 48) ^
                                   ((uint64_t)i << 32));
    }
    if (!ok) {
        rc = lf_fail(err, LF_ENOMEM, "probe: out of memory for %u reads of %llu bytes", threads,
                     (unsigned long long)chunk);
        goto out;
    }
    memset(bufs, 0, buf_bytes);
    memset(lat, 0, lat_bytes);
    if ((rc = open_engine(ops, path, threads, held, &io, &c.drop_fd, err)) != LF_OK)
        goto out;
    double t0 = lf_now();
    c.deadline = t0 + seconds;
    if ((rc = lf_io_run(io, threads, probe_next, probe_done, &c, err)) != LF_OK)
        goto out;
    uint64_t reads = 0;
    size_t nlat = 0;
    double elapsed = 0;
    for (uint32_t i = 0; i < threads; i++) {
        probe_slot *ps = &c.slot[i];
        if (ps->bad && rc == LF_OK)
            rc = lf_io_read_error(path, ps->bad_offset, chunk, ps->bad_result, err);
        if (ps->drop_errno && rc == LF_OK)
            rc = drop_failed(path, ps->drop_errno, err);
        reads += ps->reads;
        memmove(lat + nlat, ps->lat, ps->nlat * sizeof *lat); /* the slots' samples together */
        nlat += ps->nlat;
        /* the slot's time without its drops (a run's fadvise evictions are bookkeeping) */
        if (ps->reads && ps->t_end - t0 - ps->dropping > elapsed)
            elapsed = ps->t_end - t0 - ps->dropping;
    }
    if (rc == LF_OK) {
        fill_row(row, engine, chunk, threads, 0, reads, elapsed, lat, nlat);
        row->footprint = footprint;
    }
out:
    if (io)
        lf_io_close(io);
    if (c.drop_fd >= 0)
        close(c.drop_fd);
    rc = before_free(held, buf_bytes + lat_bytes, rc, err);
    for (uint32_t i = 0; c.slot && i < threads; i++)
        if (c.slot[i].r)
            gsl_rng_free(c.slot[i].r);
    free(c.slot);
    free(bufs);
    free(lat);
    return rc;
}

int lf_probe_point(const char *engine, const char *path, uint64_t file_size, uint64_t chunk,
                   uint32_t threads, double seconds, uint64_t seed, uint64_t footprint,
                   lf_probe_row *row, lf_err *err)
{
    static const held_cache none = {NULL, 0};
    return measure_point(engine, path, file_size, chunk, threads, seconds, seed, footprint, &none,
                         row, err);
}

/* The executor's compute between batches, as a busy wait (a sleeping CPU and a busy one
 * made the next batch alike slow; the device's idle spell is what counts). */
static void busy_wait(double seconds)
{
    double until = lf_now() + seconds;
    while (lf_now() < until)
        ;
}

static int measure_batch(const char *engine, const char *path, uint64_t file_size,
                         uint64_t chunk, uint32_t threads, uint32_t batch, double gap_s,
                         double seconds, uint64_t seed, uint64_t footprint,
                         const held_cache *held, lf_probe_row *row, lf_err *err)
{
    if (chunk == 0 || chunk % PROBE_ALIGN || chunk > file_size || threads == 0 ||
        threads > 4096 || batch == 0 || batch > 65536 || !(seconds > 0) || !(gap_s >= 0) ||
        gap_s > 1)
        return lf_fail(err, LF_EINVAL, "probe: batch of %u reads of %llu bytes, %u in flight, "
                       "%g s before each: need 1..65536 reads, chunks a multiple of %u within "
                       "the file, 1..4096 in flight, seconds > 0, a gap of 0..1 s", batch,
                       (unsigned long long)chunk, threads, gap_s, PROBE_ALIGN);
    const lf_io_ops *ops = NULL;
    int rc = lf_io_engine(engine, &ops, err);
    if (rc != LF_OK)
        return rc;
    /* a batch's reads land at the next places of the footprint, as new rows do */
    uint64_t n_bufs = footprint / chunk > batch ? footprint / chunk : batch, next_buf = 0;
    size_t buf_bytes = (size_t)(chunk * n_bufs);
    /* room in the limit, then allocated and touched before the engine opens (see
     * measure_point) */
    if ((rc = announce(held, ops, chunk * (threads < batch ? threads : batch),
                       lf_bigmem_pages_size(buf_bytes), err)) != LF_OK)
        return rc;
    char *bufs = lf_io_alloc(buf_bytes);
    lf_io_req *reqs = calloc(batch, sizeof *reqs);
    size_t cap = 4096, nt = 0;
    double *per = calloc(cap, sizeof *per);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    lf_io *io = NULL;
    int drop_fd = -1;
    if (!bufs || !reqs || !per || !r) {
        rc = lf_fail(err, LF_ENOMEM, "probe: out of memory for a batch of %u reads", batch);
        goto out;
    }
    memset(bufs, 0, buf_bytes);
    if ((rc = open_engine(ops, path, threads, held, &io, &drop_fd, err)) != LF_OK)
        goto out;
    gsl_rng_set(r, seed ^ (chunk * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)threads << 48) ^ batch);
    uint64_t nblocks = (file_size - chunk) / PROBE_ALIGN + 1, reads = 0;
    double total = 0, start = lf_now();
    while (rc == LF_OK && nt < cap && (nt < 3 || lf_now() - start < seconds)) {
        for (uint32_t i = 0; i < batch; i++, next_buf = (next_buf + 1) % n_bufs)
            reqs[i] = (lf_io_req){next_offset(r, nblocks), chunk,
                                  bufs + (size_t)(next_buf * chunk), i};
        busy_wait(gap_s);
        double t0 = lf_now();
        rc = lf_io_read_all(io, reqs, batch, threads, err);
        double t = lf_now() - t0;
        int e = 0;
        for (uint32_t i = 0; i < batch; i++)
            drop_pages(drop_fd, reqs[i].offset, chunk, &e);
        if (e && rc == LF_OK)
            rc = drop_failed(path, e, err);
        total += t;
        per[nt++] = t / batch;
        reads += batch;
    }
    if (rc == LF_OK) {
        fill_row(row, engine, chunk, threads, batch, reads, total, per, nt);
        row->batch_gap_s = gap_s;
        row->footprint = footprint;
    }
out:
    if (io)
        ops->close(io);
    if (drop_fd >= 0)
        close(drop_fd);
    rc = before_free(held, buf_bytes, rc, err);
    free(bufs);
    free(reqs);
    free(per);
    if (r)
        gsl_rng_free(r);
    return rc;
}

int lf_probe_batch(const char *engine, const char *path, uint64_t file_size, uint64_t chunk,
                   uint32_t threads, uint32_t batch, double gap_s, double seconds, uint64_t seed,
                   uint64_t footprint, lf_probe_row *row, lf_err *err)
{
    static const held_cache none = {NULL, 0};
    return measure_batch(engine, path, file_size, chunk, threads, batch, gap_s, seconds, seed,
                         footprint, &none, row, err);
}

int lf_probe_check_grid(const lf_probe_opts *o, lf_err *err)
{
    if (!o->n_chunks || !o->n_threads)
        return lf_fail(err, LF_EINVAL, "probe: no chunk sizes or no thread counts");
    for (size_t i = 0; i < o->n_chunks; i++)
        if (o->chunks[i] == 0 || o->chunks[i] % PROBE_ALIGN || o->chunks[i] > (1ull << 40))
            return lf_fail(err, LF_EINVAL,
                           "chunks: %llu bytes is not a multiple of %u up to 1t (direct I/O "
                           "needs aligned sizes); e.g. 4k,16k,64k",
                           (unsigned long long)o->chunks[i], PROBE_ALIGN);
    for (size_t i = 0; i < o->n_threads; i++)
        if (o->threads[i] == 0 || o->threads[i] > 4096)
            return lf_fail(err, LF_EINVAL, "threads: %llu reads in flight: use 1..4096",
                           (unsigned long long)o->threads[i]);
    if (o->footprint > LF_DEVICE_MAX_FOOTPRINT)
        return lf_fail(err, LF_EINVAL, "footprint: %llu bytes of memory to read into: use 0..%llug "
                       "(64m, the default, is already far beyond the CPU's caches)",
                       (unsigned long long)o->footprint,
                       (unsigned long long)(LF_DEVICE_MAX_FOOTPRINT >> 30));
    if (o->n_batch_gaps > LF_PROBE_MAX_GAPS)
        return lf_fail(err, LF_EINVAL, "batch-gap: %zu gaps: a probe measures batches after "
                       "%d at most", o->n_batch_gaps, LF_PROBE_MAX_GAPS);
    for (size_t i = 0; i < o->n_batch_gaps; i++)
        if (!(o->batch_gaps[i] >= 0 && o->batch_gaps[i] <= 1))
            return lf_fail(err, LF_EINVAL, "batch-gap: %g ms of compute before a batch: use "
                           "0..1000 ms", o->batch_gaps[i] * 1e3);
    if (o->n_batch_gaps == 2 && o->batch_gaps[0] == o->batch_gaps[1])
        return lf_fail(err, LF_EINVAL, "batch-gap: the same gap (%g ms) twice: give two amounts "
                       "or one", o->batch_gaps[0] * 1e3);
    for (size_t i = 0; i < o->n_batches; i++)
        if (o->batches[i] == 0 || o->batches[i] > 65536)
            return lf_fail(err, LF_EINVAL, "batch: a batch of %llu reads: use 1..65536 (a list "
                           "such as 1,8 probes each size)",
                           (unsigned long long)o->batches[i]);
    return LF_OK;
}

int lf_probe_run(const lf_probe_opts *o, lf_probe_row **rows, size_t *n, lf_err *err)
{
    *rows = NULL;
    *n = 0;
    int rc = lf_probe_check_grid(o, err);
    if (rc != LF_OK)
        return rc;
    uint64_t max_chunk = 0;
    for (size_t i = 0; i < o->n_chunks; i++)
        max_chunk = o->chunks[i] > max_chunk ? o->chunks[i] : max_chunk;
    const lf_io_ops *ops;
    rc = lf_io_engine(o->engine, &ops, err);
    if (rc != LF_OK)
        return rc;
    int created;
    uint64_t size;
    if ((rc = lf_probe_check_new_file(o, err)) != LF_OK ||
        (rc = lf_probe_prepare_file(o->path, o->size, o->seed, &created, &size, err)) != LF_OK)
        return rc;
    if (size < max_chunk)
        return lf_fail(err, LF_EINVAL, "%s: %llu bytes, smaller than the largest chunk %llu; "
                       "use a larger file or remove it and give --size", o->path,
                       (unsigned long long)size, (unsigned long long)max_chunk);
    size_t grid = o->n_chunks * o->n_threads, levels = o->n_batches ? o->n_batches : 1;
    static const double default_gap = LF_PROBE_BATCH_GAP_S;
    const double *gaps = o->n_batch_gaps ? o->batch_gaps : &default_gap;
    size_t n_gaps = o->n_batches && o->n_batch_gaps ? o->n_batch_gaps : 1;
    size_t points = levels * grid * n_gaps;
    uint32_t reps = o->repeats ? o->repeats : 1;
    lf_probe_row *all = calloc(points * reps, sizeof *all);
    lf_probe_row *v = calloc(points, sizeof *v);
    double *mbs = malloc(reps * sizeof *mbs);
    if (!all || !v || !mbs) {
        free(all);
        free(v);
        free(mbs);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    held_cache held = {o->cgroup, o->drop_reads};
    size_t done = 0;
    for (uint32_t r = 0; r < reps && rc == LF_OK; r++)
        for (size_t q = 0; q < points && rc == LF_OK; q++) {
            size_t k = r % 2 ? points - 1 - q : q; /* odd passes run backward */
            size_t gi = k % n_gaps, kg = k / n_gaps;
            size_t g = kg % grid, i = g / o->n_threads, j = g % o->n_threads;
            lf_probe_row *row = &all[k * reps + r];
            /* the second gap's batches at other offsets: a host that caches the disk
             * must not serve them what the first gap's just read */
            uint64_t seed = o->seed + r + (uint64_t)gi * 0x10000;
            rc = o->n_batches
                     ? measure_batch(o->engine, o->path, size, o->chunks[i],
                                     (uint32_t)o->threads[j], (uint32_t)o->batches[kg / grid],
                                     gaps[gi], o->seconds, seed, o->footprint, &held, row, err)
                     : measure_point(o->engine, o->path, size, o->chunks[i],
                                     (uint32_t)o->threads[j], o->seconds, o->seed + r,
                                     o->footprint, &held, row, err);
            if (rc == LF_OK && o->on_row)
                o->on_row(row, done, points * reps, o->arg);
            done++;
        }
    for (size_t k = 0; k < points && rc == LF_OK; k++) {
        /* the measurement with the median MB/s (the lower middle one for even counts) */
        for (uint32_t r = 0; r < reps; r++)
            mbs[r] = all[k * reps + r].mb_s;
        gsl_sort(mbs, 1, reps);
        double med = mbs[(reps - 1) / 2];
        for (uint32_t r = 0; r < reps; r++)
            if (all[k * reps + r].mb_s == med) {
                v[k] = all[k * reps + r];
                break;
            }
    }
    free(all);
    free(mbs);
    if (rc != LF_OK) {
        free(v);
        return rc;
    }
    *rows = v;
    *n = points;
    return LF_OK;
}

static void write_rows(FILE *f, const lf_probe_row *rows, size_t n)
{
    fprintf(f, "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us,batch,batch_gap_ms,"
               "footprint\n");
    for (size_t i = 0; i < n; i++) {
        const lf_probe_row *r = &rows[i];
        fprintf(f, "%s,%llu,%u,%llu,%.4f,%.2f,%.1f,%.1f,%.1f,%u,%g,%llu\n", r->engine,
                (unsigned long long)r->chunk, r->threads, (unsigned long long)r->reads,
                r->seconds, r->mb_s, r->iops, r->p50_us, r->p99_us, r->batch,
                r->batch ? r->batch_gap_s * 1e3 : 0, (unsigned long long)r->footprint);
    }
}

int lf_probe_write_csv(const char *path, const lf_probe_row *rows, size_t n, lf_err *err)
{
    if (strcmp(path, "-") == 0) {
        write_rows(stdout, rows, n);
        fflush(stdout);
        return ferror(stdout) ? lf_fail(err, LF_EIO, "stdout: write failed") : LF_OK;
    }
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc != LF_OK)
        return rc;
    write_rows(a.f, rows, n);
    return lf_atomic_commit(&a, err);
}
