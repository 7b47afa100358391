/* lf_probe: the flash probe. Random aligned reads of a chunk size with a number of
 * reads in flight through an I/O engine, for a fixed time: MB/s, IOPS and latency
 * percentiles per (engine, chunk, threads); creates its test file (random data) when
 * missing. Rows and CSVs are the caller's (rows array: free()). */
#ifndef LF_PROBE_H
#define LF_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_device.h" /* LF_DEVICE_MAX_FOOTPRINT */
#include "lf_err.h"

typedef struct {
    char engine[16];
    uint64_t chunk;    /* bytes per read */
    uint32_t threads;  /* reads in flight */
    uint64_t reads;    /* completed */
    double seconds;    /* from the first submit to the last completion */
    double mb_s;       /* 1e6 bytes/s */
    double iops;       /* reads/s */
    double p50_us, p99_us; /* latency from submit to completion, microseconds */
    uint32_t batch;    /* 0: steady state (threads always in flight); else reads per batch,
                        * each batch waited for whole (the executor's per-layer reads) */
    double batch_gap_s; /* batch > 0: the compute (a busy wait) before each batch */
    uint64_t footprint; /* bytes of memory the reads landed in (lf_probe_opts.footprint) */
} lf_probe_row;

/* The busy wait before each probed batch unless told otherwise: the executor computes a
 * layer between its batches, and on this project's virtual disk a batch after an idle
 * spell ran slower, the more so the longer the spell (costmodel/README.md, "A batch
 * after compute"); 5 ms is a layer's compute in the middle of the grids measured. */
#define LF_PROBE_BATCH_GAP_S 0.005
/* The most gaps one probe measures batches after (a profile holds two conditions). */
#define LF_PROBE_MAX_GAPS 2

/* The memory a probe's reads land in unless told otherwise: a run reads into its DRAM
 * rows, far more memory than the CPU's caches, and on this project's VM reads into a
 * buffer per read in flight (fio's way, half a MiB at 8 KiB x 64) ran up to 1.75x faster
 * than the same reads cycled through 64 MiB, at high throughput only (costmodel/README.md,
 * "Where the reads land"). */
#define LF_PROBE_FOOTPRINT ((uint64_t)64 << 20)

typedef struct {
    const char *path;        /* the test file */
    uint64_t size;           /* bytes when it must be created (existing files keep theirs) */
    const uint64_t *chunks;  /* read sizes, multiples of 4096 */
    size_t n_chunks;
    const uint64_t *threads; /* reads in flight, 1..4096 */
    size_t n_threads;
    const char *engine;      /* psync, io_uring, buffered (null: for tests) */
    double seconds;          /* per measurement */
    uint32_t repeats;        /* measurements per point, in that many passes over the grid
                                (alternately forward and backward); the row kept is the
                                one with the median MB/s. 0 is taken as 1. */
    uint64_t seed;           /* offsets (pass r uses seed + r) and file content */
    /* Called after each measurement, index < total = points * repeats (may be NULL);
     * the CLI prints progress with it. */
    void (*on_row)(const lf_probe_row *row, size_t index, size_t total, void *arg);
    void *arg;
    const uint64_t *batches; /* none (n_batches 0): steady state; else batches of each of
                                these many reads, 1..65536 (lf_probe_batch): the grid is
                                batch sizes x chunks x threads */
    size_t n_batches;
    /* batches: the busy wait before each, one amount or two (batches after each, the
     * gaps the grid's innermost level, so that the repeats' passes interleave them);
     * n_batch_gaps 0 = one, LF_PROBE_BATCH_GAP_S */
    double batch_gaps[LF_PROBE_MAX_GAPS];
    size_t n_batch_gaps;
    /* Engines through the page cache only: what keeps the reads misses, as the executor's
     * page-cache mechanisms do (bench/lf_pcache.h). Without either, a read may hit pages
     * an earlier read of the same measurement brought in (a 1 GiB file read at 2 GB/s for
     * a second is mostly cached by its end). */
    struct lf_cgroup *cgroup; /* the caller's memory cgroup, this process in it: before every
                               * measurement its budget is set to twice the reads in flight
                               * and its limit fitted; the kernel evicts */
    int drop_reads;           /* 1: each read's pages are dropped (POSIX_FADV_DONTNEED) as
                               * it completes, the drop's time taken out of the measured
                               * time as a run's evictions are (fadvise) */
    uint64_t footprint;       /* bytes of memory the reads land in, cycled through (each
                               * slot its share; a batch's reads at successive places):
                               * LF_PROBE_FOOTPRINT as a run's rows; 0 = one chunk per read
                               * in flight (per read of a batch), as fio's buffers */
} lf_probe_opts;

/* The grid's ranges (the message begins with the option's name: chunks, threads,
 * batch): chunk sizes multiples of 4096 up to 1 TiB, 1..4096 threads, batch
 * sizes 1..65536; lf_probe_run checks them first, a caller that makes something before
 * it (the CLI's cgroup) may check them sooner. */
int lf_probe_check_grid(const lf_probe_opts *o, lf_err *err);
/* When o->path is still to be made: refuses what would make it in vain (a --size below
 * the largest chunk; for a direct engine, a folder without direct I/O) before a byte is
 * written. LF_OK when the file exists. */
int lf_probe_check_new_file(const lf_probe_opts *o, lf_err *err);
/* Creates path with `size` bytes of random data (temp + rename) unless it exists;
 * *created says which. *size_out receives the file's size. */
int lf_probe_prepare_file(const char *path, uint64_t size, uint64_t seed, int *created,
                          uint64_t *size_out, lf_err *err);

/* Drops path's clean pages from the page cache (no root needed), so that a buffered
 * engine reads the device. Best effort. */
void lf_probe_drop_cache(const char *path);

/* Measures one point on an existing file of file_size bytes (the page cache not held:
 * lf_probe_run's opts do that), the reads landing in `footprint` bytes (as
 * lf_probe_opts.footprint). */
int lf_probe_point(const char *engine, const char *path, uint64_t file_size, uint64_t chunk,
                   uint32_t threads, double seconds, uint64_t seed, uint64_t footprint,
                   lf_probe_row *row, lf_err *err);

/* The executor's pattern instead of a steady state: batches of `batch` random reads of
 * `chunk` bytes through lf_io_read_all with `threads` in flight, each batch waited for
 * whole (one layer's reads: the queue drains at its end, and the slowest read ends it),
 * for about `seconds`, each after gap_s of a busy wait (the layer's compute, which the
 * time measured leaves out). mb_s: the batches' bytes over their summed time; p50/p99: of
 * the batch times divided by the batch's reads. The reads land in `footprint` bytes. */
int lf_probe_batch(const char *engine, const char *path, uint64_t file_size, uint64_t chunk,
                   uint32_t threads, uint32_t batch, double gap_s, double seconds, uint64_t seed,
                   uint64_t footprint, lf_probe_row *row, lf_err *err);

/* Prepares the file, then measures every (chunk, threads), with batches every (batch,
 * chunk, threads, gap); rows in grid order (batch, then chunk major, the gap innermost). */
int lf_probe_run(const lf_probe_opts *o, lf_probe_row **rows, size_t *n, lf_err *err);

/* Writes rows as CSV (header: engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us,
 * batch,batch_gap_ms,footprint), atomically; path "-" writes to stdout. */
int lf_probe_write_csv(const char *path, const lf_probe_row *rows, size_t n, lf_err *err);

#endif
