/* lf_results: the run folder of docs/DESIGN.md section 6, shared by `sim` (predicted) and
 * `run` (measured): config.conf, meta.json, tokens.csv, summary.csv, then `done`, every
 * file written atomically. Columns: sim/README.md ("Results").
 * The caller owns everything it passes; lf_summary is a plain value. */
#ifndef LF_RESULTS_H
#define LF_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include "lf_err.h"
#include "lf_kv.h"
#include "lf_policy.h"
#include "lf_replay.h"

/* Cold start versus steady state, from the per-token rows. */
typedef struct {
    uint32_t n_tokens, cold_tokens, steady_tokens;
    /* cold start: means over tokens [0, cold_tokens) */
    double cold_total_ms, cold_io_ms, cold_mem_ms, cold_compute_ms, cold_bytes_read;
    /* steady state: tokens [cold_tokens, n_tokens) */
    double mean_total_ms, median_total_ms, p99_total_ms;
    double mean_io_ms, median_io_ms, p99_io_ms, mean_mem_ms, mean_compute_ms;
    double mean_bytes_read, mean_reads, mean_read_bytes, mean_loads, mean_evictions;
    double hit_rate;        /* hits / (hits + misses) */
    double mean_false_pos, mean_false_neg;
    double mean_resident_bytes, max_resident_bytes;
    double mean_bytes_copied, mean_copy_ops;
    double tokens_per_s;    /* 1000 / mean_total_ms */
    double flash_gb_per_s;      /* mean_bytes_read / mean_io_ms: effective flash throughput */
    /* the whole run */
    double total_ms;
    uint64_t bytes_read, reads, loads, evictions, hits, misses, false_pos, false_neg;
    uint64_t bytes_copied, copy_ops;
} lf_summary;

/* cold_tokens must leave at least one steady token (cold_tokens <= n - 1), else LF_EINVAL
 * with the fix (rows are not read then: NULL will do); cold_tokens = 0 leaves the cold
 * start empty (NaN). */
int lf_summary_compute(const lf_token_row *rows, uint32_t n, uint32_t cold_tokens,
                       lf_summary *out, lf_err *err);

/* The mean compute (and DRAM work) between two of n_layers layers' read batches in the
 * steady state, s: what the batches' idle spell was (lf_device_flash_outside's gap_s). */
double lf_summary_batch_gap_s(const lf_summary *s, uint32_t n_layers);

typedef struct {
    const char *mode;            /* "sim" (predicted) or "run" (measured) */
    const lf_kv *config;         /* fully resolved configuration -> config.conf, and
                                  * appended as columns of summary.csv */
    const lf_token_row *rows;
    uint32_t n_rows;
    uint32_t cold_tokens;        /* tokens counted as the cold start (default 1) */
    uint64_t seed;
    const char *trace_path;      /* NULL or the trace: sha256 and storage device in meta */
    const char *data_path;       /* NULL or a weights/data file whose device meta names */
    const lf_kv *meta_extra;     /* NULL or extra string pairs for meta.json's "extra" */
    /* NULL or the policy's counters: columns policy_<name> of summary.csv (each
     * counter's run value) and of tokens.csv (LF_COUNT_SUM counters: the token's share,
     * lf_token_row.policy), and meta.json's object "policy_counters". */
    const lf_policy_counts *counts;
} lf_results;

/* Writes the run folder (created if needed). A `done` left by an earlier run is
 * removed first and written again only after every other file is in place. */
int lf_results_write(const char *dir, const lf_results *r, lf_err *err);
/* Removes a run folder's files (its `done` first) and then the folder, when it is empty;
 * nothing when dir holds no run (no config.conf). Files of other kinds stay. */
void lf_results_remove(const char *dir);
/* 1 when dir holds a finished run (its `done` marker): callers may skip it. */
int lf_results_done(const char *dir);

/* The header (with_header) or the values of summary.csv's row, which sim also prints:
 * the summary, the policy's counters (counts may be NULL), config columns last. */
void lf_results_summary_row(FILE *f, const char *mode, const lf_summary *s,
                            const lf_policy_counts *counts, const lf_kv *config, int with_header);
/* meta.json's object as a malloc'ed JSON string the caller frees. */
int lf_results_meta_json(const lf_results *r, char **json, lf_err *err);

#endif
