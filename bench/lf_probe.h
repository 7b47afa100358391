/* lf_probe: the flash probe. Random aligned reads of a chunk size with a number of
 * reads in flight through an I/O engine, for a fixed time: MB/s, IOPS and latency
 * percentiles per (engine, chunk, threads); creates its test file (random data) when
 * missing. Rows and CSVs are the caller's (rows array: free()). */
#ifndef LF_PROBE_H
#define LF_PROBE_H

#include <stddef.h>
#include <stdint.h>

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
} lf_probe_row;

typedef struct {
    const char *path;        /* the test file */
    uint64_t size;           /* bytes when it must be created (existing files keep theirs) */
    const uint64_t *chunks;  /* read sizes, multiples of 4096 */
    size_t n_chunks;
    const uint64_t *threads; /* reads in flight, 1..4096 */
    size_t n_threads;
    const char *engine;      /* psync, io_uring, buffered (null: for tests) */
    double seconds;          /* per point */
    uint64_t seed;           /* offsets and file content */
    /* Called after each point (may be NULL); the CLI prints progress with it. */
    void (*on_row)(const lf_probe_row *row, size_t index, size_t total, void *arg);
    void *arg;
} lf_probe_opts;

/* Creates path with `size` bytes of random data (temp + rename) unless it exists;
 * *created says which. *size_out receives the file's size. */
int lf_probe_prepare_file(const char *path, uint64_t size, uint64_t seed, int *created,
                          uint64_t *size_out, lf_err *err);

/* Measures one point on an existing file of file_size bytes. */
int lf_probe_point(const char *engine, const char *path, uint64_t file_size, uint64_t chunk,
                   uint32_t threads, double seconds, uint64_t seed, lf_probe_row *row,
                   lf_err *err);

/* Prepares the file, then measures every (chunk, threads) in order. */
int lf_probe_run(const lf_probe_opts *o, lf_probe_row **rows, size_t *n, lf_err *err);

/* Writes rows as CSV (header: engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us),
 * atomically; path "-" writes to stdout. */
int lf_probe_write_csv(const char *path, const lf_probe_row *rows, size_t n, lf_err *err);

#endif
