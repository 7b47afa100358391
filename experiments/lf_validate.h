/* lf_validate: predicted versus measured. For every configuration of a grid (a grid file read by lf_sweep_load_grid:
 * policy, layout, DRAM fraction, threads, reader, ...) it runs the simulator and the
 * executor on the same trace and plan, `repeat` measured runs taking the median, and
 * reports the steady-state per-token latency both ways and the error, the cold start
 * (first tokens) as its own figures, and the measured spread over the repeats. Both sides
 * price the grid's `scope` (default token: the whole token, attention over a KV cache,
 * norms, FFN stream, embedding and output head; ffn: the FFN stream only). Rows are
 * malloc'ed; the caller frees them. */
#ifndef LF_VALIDATE_H
#define LF_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_device.h"
#include "lf_ffn.h"
#include "lf_replay.h"
#include "lf_sweep.h"
#include "lf_trace.h"
#include "lf_weights.h"

/* The keys a validation grid may set (NULL-terminated, static): the shared run options
 * that take LF_RUNOPT_GRID (sim/lf_runopt.h), and engine. */
const char *const *lf_validate_keys(void);

typedef struct {
    char id[16];                 /* c01, c02, ... (the run folders' names) */
    char policy[128], layout[16], dram[16], engine[16], scope[8];
    char device[64];             /* the profile that priced it (its name) */
    char trace[64];              /* its set's trace file, without folders (CSV-safe) */
    char flash_outside[512];     /* "" or why the configuration's reads fall outside those
                                  * the profile's flash keys were fitted on
                                  * (lf_device_flash_outside) */
    double dram_fraction;
    uint32_t threads, tokens;
    uint64_t max_read, max_gap;
    double predicted_ms, measured_ms, error_pct;      /* steady-state mean per token */
    double predicted_io_ms, measured_io_ms, predicted_mem_ms, measured_mem_ms;
    double predicted_compute_ms, measured_compute_ms;
    double measured_min_ms, measured_max_ms;          /* spread over the repeats */
    double spread_pct;       /* (max - min) / median of the repeats, percent */
    int noisy;               /* spread_pct > the error target: the error says little */
    double predicted_cold_ms, measured_cold_ms, cold_error_pct; /* the cold start (median) */
    /* the cold start's own spread over its samples (cold_samples per repeat; each one
     * first token, noisier than the steady-state mean over many), flagged on its own */
    double measured_cold_min_ms, measured_cold_max_ms, cold_spread_pct;
    int cold_noisy;
    uint32_t cold_samples;   /* samples behind measured_cold_ms */
    double bytes_per_token, reads_per_token, read_gb_per_s; /* executor, median run */
    /* Drift references (lf_validate_cfg.drift_refs): the device's speed measured next to
     * each measured run, over what the profile says, median over the repeats (1 when not
     * measured): flash at LF_VALIDATE_REF_CHUNK x LF_VALIDATE_REF_INFLIGHT with the
     * configuration's engine on its weights file, compute with the dense kernel
     * (cpu_drift, the resident part) and the sparse FFN kernel (ffn_drift). The
     * normalised prediction prices the flash, resident and FFN terms at those speeds. */
    int drift_measured;
    double io_drift, cpu_drift, ffn_drift;
    double predicted_resident_ms; /* the resident part of predicted_compute_ms (0: scope ffn) */
    double predicted_norm_ms, norm_error_pct;
    double predicted_cold_norm_ms, cold_norm_error_pct;
    /* The cold start pooled with its twins' samples (lf_validate_twins.h: configurations
     * whose first token is the same work): the group's first row ("" for a row alone),
     * the samples pooled, their median and its error. */
    char cold_twin[16];
    uint32_t cold_pooled_samples;
    double measured_cold_pooled_ms, cold_pooled_error_pct;
} lf_validate_row;

#define LF_VALIDATE_REF_CHUNK 16384u
#define LF_VALIDATE_REF_INFLIGHT 8u

/* A flash drift reference: `seconds` of reads of `chunk` bytes with `inflight` in flight
 * by `engine` on path (file_bytes long), over what dev's flash model predicts there
 * (*ratio; 1 when either is 0); a steady stream, or batches of dev->flash_fit_batch
 * reads waited for whole when the profile was fitted on those. Used by the dense and
 * the expert grids. */
int lf_validate_flash_drift(const char *engine, const char *path, uint64_t file_bytes,
                            uint64_t chunk, uint32_t inflight, double seconds, uint64_t seed,
                            const lf_device *dev, double *ratio, lf_err *err);
/* A kernel's rate timed once (0.1 s) over the rate dev prices it at times dev's
 * compute_stall: a single round against the median round calibrate folded the stall
 * out of (1 when either rate is 0). */
double lf_validate_kernel_ratio(double measured, double profile_rate, const lf_device *dev);
/* A compute drift reference: ref (lf_ffn_bench_dense_ref) timed for 0.1 s, over dev's
 * dense bandwidth (lf_validate_kernel_ratio; 1 when it measured nothing). Used by the
 * dense and the expert grids. */
double lf_validate_dense_drift(const lf_ffn_bench *ref, const lf_device *dev);

/* The mean over tokens [from, to) of rows' end_compute_ms (0 for none): of a prediction,
 * the resident part, which the drift normalisation scales apart from the FFN or the
 * experts. Used by the dense and the expert grids. */
double lf_validate_end_compute_ms(const lf_token_row *rows, uint32_t from, uint32_t to);

/* The compute drift references of the dense grids, filled once: the dense reference,
 * calibrate's mem_bw rows (LF_VALIDATE_SPARSE_REF_ROWS of OPT-6.7B at fp16) and, for a
 * model, its own shapes as views of the dense reference's weights, as calibrate measures
 * its tables: its FFN rows (ffn_view) and its resident rows of d_model columns
 * (cols_view; both unset, rows 0, without a model or where a row does not fit). */
#define LF_VALIDATE_SPARSE_REF_ROWS 4096u
typedef struct {
    lf_ffn_bench dense, sparse, ffn_view, cols_view;
    int swiglu;
    uint32_t d_model;
} lf_validate_refs;
int lf_validate_refs_make(lf_validate_refs *r, const lf_model *model, lf_err *err);
void lf_validate_refs_free(lf_validate_refs *r);
/* The kernels' drift: each reference timed for 0.1 s over the rate dev prices it at.
 * *cpu: the resident part's (the model's columns at dev's dense_bw_<columns> when the
 * profile has that table and r the view, else the dense reference at dense_bw); *ffn:
 * the FFN's (the model's rows at its ffn_bw_<act>_<d> when the profile has that table,
 * else mem_bw's rows at mem_bw). A shape's entry can be off for one shape alone (the
 * level of calibrate's process): only a reference of that shape sees it. */
void lf_validate_kernel_drifts(const lf_validate_refs *r, const lf_device *dev, double *cpu,
                               double *ffn);

/* The default idle time between the drift references and the run they precede. On this
 * project's test machine the first token read 1.3-1.8x slower right after a reference
 * than after an idle disk (the reference's burst of reads slows the disk for a second or
 * two: costmodel/README.md, "The reference disturbs what follows it"). */
#define LF_VALIDATE_REF_SETTLE_S 2.0

/* Waits `seconds` (none when <= 0), resuming after signals. */
void lf_validate_settle(double seconds);

typedef struct {
    const lf_trace *trace;
    const char *trace_path;
    const lf_weights *weights;   /* one file per layout the grid names */
    size_t n_weights;
    const lf_device *dev;
    const char *device_path;
    const lf_sweep *grid;  /* its grid file (lf_sweep_load_grid) */
    const char *engine;          /* default engine when the grid sets none */
    uint32_t repeat;             /* measured runs per configuration (median) */
    uint32_t tokens;             /* 0: the grid's `tokens`, else the whole trace */
    uint32_t cold_tokens;
    const char *out_dir;         /* DIR/<id>-sim and DIR/<id>-run folders */
    double target_pct;           /* error target a repeat spread is held to (0: 5%) */
    /* Per-engine profiles: a configuration run with engine engines[k] is priced with
     * devs[k] (calibrated with that engine), others with dev. n_engine_devs may be 0. */
    const char *const *engines;
    const lf_device *devs;
    const char *const *dev_paths;
    size_t n_engine_devs;
    void (*on_row)(const lf_validate_row *row, size_t i, size_t n, void *arg);
    /* after each measured run (row i of all the sets' rows, repeat k from 0), in the
     * order the runs were taken; NULL: none */
    void (*on_measured)(size_t i, uint32_t repeat, void *arg);
    void *arg;
    const char *scope;           /* scope of configurations whose grid sets none (NULL: token) */
    /* 1: measure the drift references before every measured run (this machine's disk
     * and CPU speed drift by more than the error target from minute to minute) */
    int drift_refs;
    double drift_seconds;        /* per flash reference (0: 0.3 s) */
    double drift_settle_s;       /* idle after the references, before the run (0: none) */
    /* Cold-start samples per repeat (0 or 1: the first token of the measured run alone):
     * the others are runs of the cold tokens plus one, each after the same references
     * and idle time as the measured run, so that every sample starts from the same disk
     * history. At most LF_VALIDATE_MAX_COLD_SAMPLES. */
    uint32_t cold_samples;
} lf_validate_cfg;

#define LF_VALIDATE_MAX_COLD_SAMPLES 8u

int lf_validate_run(const lf_validate_cfg *c, lf_validate_row **rows, size_t *n, lf_err *err);
/* Several sets (a trace, its weights files, its grid and profiles each: one per model
 * shape) validated as one: predictions first, then the measured runs round-robin over
 * every configuration of every set, so that a slow spell of the machine is shared by the
 * shapes instead of falling on one. Rows are numbered on across the sets (c01 ... in the
 * first set's grid order, then the second's), in one output folder. The sets must agree
 * on out_dir, repeat, cold_tokens, cold_samples and the drift references' settings;
 * on_row, on_measured and their arg are the first set's. lf_validate_run is this with one
 * set. */
int lf_validate_run_sets(const lf_validate_cfg *sets, size_t n_sets, lf_validate_row **rows,
                         size_t *n, lf_err *err);

/* Two run folders (a `sim` and a `run` of identical options, say) compared. Refused with
 * a message naming both values when their config.conf record a different scope (or one
 * records none: a folder from before scopes existed) or a different plan (model, policy,
 * layout, threads, DRAM bytes, tokens, reader, predictor, seed, dtype). */
typedef struct {
    char scope[8];
    double a_ms, b_ms, error_pct;           /* steady-state mean per token; error of a vs b */
    double a_cold_ms, b_cold_ms, cold_error_pct;
} lf_validate_pair;
int lf_validate_compare(const char *a_dir, const char *b_dir, lf_validate_pair *out, lf_err *err);

/* Median and max of |error_pct| over the rows (cold: of |cold_error_pct|). */
void lf_validate_errors(const lf_validate_row *rows, size_t n, double *mdape, double *max_ape);
void lf_validate_cold_errors(const lf_validate_row *rows, size_t n, double *mdape,
                             double *max_ape);
/* The same over the drift-normalised errors (norm_error_pct, cold_norm_error_pct). */
void lf_validate_norm_errors(const lf_validate_row *rows, size_t n, int cold, double *mdape,
                             double *max_ape);

/* cold = 0: validate.csv, the steady state: config columns, predicted_ms, measured_ms,
 * error_pct, the parts, then spread_pct, noisy (1: spread over the target), scope,
 * device, drift_measured, io_drift, cpu_drift, predicted_norm_ms, norm_error_pct,
 * ffn_drift, predicted_resident_ms.
 * cold = 1: validate_cold.csv, the cold start (first tokens) as its own row per
 * configuration: config columns, predicted_ms, measured_ms, error_pct, scope, device,
 * drift_measured, predicted_norm_ms, norm_error_pct, measured_min_ms, measured_max_ms,
 * spread_pct, noisy, samples, twin, pooled_samples, pooled_ms, pooled_error_pct, trace. */
int lf_validate_write_csv(const char *path, const lf_validate_row *rows, size_t n, int cold,
                          lf_err *err);

#endif
