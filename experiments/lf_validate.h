/* lf_validate: predicted versus measured. For every configuration of a grid (a grid file read by lf_sweep_load_grid:
 * policy, layout, DRAM fraction, threads, reader, ...) it runs the simulator and the
 * executor on the same trace and plan, `repeat` measured runs taking the median, and
 * reports the steady-state per-token latency both ways and the error. Both sides price
 * the FFN stream only (the simulator's resident-attention term is left out, as the
 * executor holds no attention). Rows are malloc'ed; the caller frees them. */
#ifndef LF_VALIDATE_H
#define LF_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_device.h"
#include "lf_sweep.h"
#include "lf_trace.h"
#include "lf_weights.h"

/* The keys a validation grid may set (NULL-terminated, static): the shared run options
 * that take LF_RUNOPT_GRID (sim/lf_runopt.h), and engine. */
const char *const *lf_validate_keys(void);

typedef struct {
    char id[16];                 /* c01, c02, ... (the run folders' names) */
    char policy[128], layout[16], dram[16], engine[16];
    double dram_fraction;
    uint32_t threads, tokens;
    uint64_t max_read, max_gap;
    double predicted_ms, measured_ms, error_pct;      /* steady-state mean per token */
    double predicted_io_ms, measured_io_ms, predicted_mem_ms, measured_mem_ms;
    double predicted_compute_ms, measured_compute_ms;
    double measured_min_ms, measured_max_ms;          /* spread over the repeats */
    double bytes_per_token, reads_per_token, read_gbps; /* executor, median run */
} lf_validate_row;

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
    void (*on_row)(const lf_validate_row *row, size_t i, size_t n, void *arg);
    void *arg;
} lf_validate_cfg;

int lf_validate_run(const lf_validate_cfg *c, lf_validate_row **rows, size_t *n, lf_err *err);

/* Median and max of |error_pct| over the rows. */
void lf_validate_errors(const lf_validate_row *rows, size_t n, double *mdape, double *max_ape);

/* validate.csv: config columns, predicted_ms, measured_ms, error_pct, then the parts. */
int lf_validate_write_csv(const char *path, const lf_validate_row *rows, size_t n, lf_err *err);

#endif
