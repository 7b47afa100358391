/* lf_validate_moe: predicted versus measured for expert traces. For every configuration
 * of a grid (policy, bit width, reads in flight, tokens, seed, scope, page-cache
 * mechanism) the simulator (the device profile's cost model) and the expert executor
 * (`repeat` measured runs taken round-robin over the grid, the median) replay the same
 * trace through the same replay loop with the weights file of that bit width; each row
 * holds the per-token latency both ways, the page cache's predicted and measured hit
 * rates (mincore) and, with drift references, the prediction at the disk and CPU speeds
 * measured next to each run. Rows are malloc'ed; the caller frees them. */
#ifndef LF_VALIDATE_MOE_H
#define LF_VALIDATE_MOE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_device.h"
#include "lf_pcache.h"
#include "lf_replay.h"
#include "lf_sweep.h"
#include "lf_trace.h"
#include "lf_weights.h"

/* The keys an expert validation grid may set (NULL-terminated). */
extern const char *const lf_vmoe_keys[];

typedef struct {
    char id[16];                     /* m01, m02, ... */
    char policy[128], dtype[8];
    char mechanism[16];              /* what held the page cache (median run): fadvise,
                                      * cgroup, or direct (none) */
    char mechanism_note[1400];       /* its note (lf_pcache_note): why auto fell back */
    char scope[8];                   /* token or ffn */
    char device[64];                 /* the profile that priced it (its name) */
    char flash_outside[512];         /* "" or why its reads, or the compute between its
                                      * layers' batches, fall outside what that profile
                                      * was fitted on (lf_device_flash_outside) */
    uint32_t threads, tokens;
    double predicted_ms, measured_ms, error_pct;        /* steady-state mean per token */
    double predicted_io_ms, measured_io_ms, predicted_compute_ms, measured_compute_ms;
    double predicted_mem_ms, measured_mem_ms;
    double measured_min_ms, measured_max_ms;             /* spread over the repeats */
    double app_hit;                  /* application cache hit rate (both sides) */
    /* The page cache (NaN: none): the hit rates of the reads, predicted and measured
     * (whole records found cached). pc_hit_measured, pc_byte_hit_measured, pc_partial,
     * outside_reclaim and outside_paged_mb are the run's with the median measured hit
     * rate among the repeats during which the outside reclaimer paged nothing out
     * (among all when it paged out during every one, or cannot be counted) */
    double pc_hit_predicted, pc_hit_measured;
    double pc_hit_min, pc_hit_max;   /* the measured hit rate's spread over all repeats */
    double pc_hit_all;               /* its median over all repeats, struck or not */
    uint32_t pc_clean_runs;          /* repeats during which the reclaimer paged nothing */
    uint32_t pc_struck_runs;         /* repeats during which it paged out (0: none, or not
                                      * counted) */
    double pc_byte_hit_measured;     /* bytes of the reads found cached */
    uint64_t pc_partial;             /* reads whose record was found partly cached */
    char outside_reclaim[1024];      /* lf_pcache_outside_reclaim's note, "" when none */
    double outside_paged_mb;         /* what it paged out during that run, machine-wide
                                      * (MB; NaN: unknown or no page cache) */
    double read_gb_per_s;                /* executor, median run, while reading */
    int drift_measured;              /* the drift references below were measured */
    double io_drift, cpu_drift;      /* now / profile (medians over the repeats); 1: not
                                      * measured */
    double dense_drift;              /* the same for the resident part's dense products */
    double predicted_resident_ms;    /* of predicted_compute_ms, the resident part's (the
                                      * rest is the experts') */
    double predicted_norm_ms;        /* io, expert and resident compute terms divided by
                                      * io_drift, cpu_drift and dense_drift */
    double norm_error_pct;
} lf_vmoe_row;

/* The drift references of --drift-refs: O_DIRECT reads of 1 MiB, 4 in flight (a point
 * of calibrate's default grid and bench_moe's) on the configuration's file; the expert
 * kernel at the configuration's bit width; a dense fp16 product streamed from DRAM (the
 * resident part's kernel: bound by memory bandwidth, which other tenants of a shared
 * host take, where the dequantising expert kernel is bound by arithmetic). */
#define LF_VMOE_REF_CHUNK (1u << 20)
#define LF_VMOE_REF_INFLIGHT 4u

typedef struct {
    const lf_trace *trace;
    const lf_weights *weights;       /* expert files, one per bit width the grid names */
    size_t n_weights;
    const lf_device *dev;
    const lf_device *buffered_dev;   /* prices the page-cache configurations' reads (a
                                      * profile with flash_buffered > 0); NULL: dev */
    const lf_sweep *grid;
    uint32_t repeat;                 /* measured runs per configuration (median) */
    uint32_t tokens;                 /* 0: the grid's `tokens`, else the whole trace */
    uint32_t cold_tokens;            /* tokens left out of the steady state */
    lf_pcache_mech pc_mech;          /* configurations whose grid sets no pagecache_mechanism */
    lf_scope scope;                  /* configurations whose grid sets no scope */
    int drift_refs;                  /* measure the drift references before every run */
    double drift_seconds;            /* the flash reference's length (0: 0.3 s) */
    double drift_settle_s;           /* idle after the references, before the run (0: none) */
    void (*on_row)(const lf_vmoe_row *row, size_t i, size_t n, void *arg);
    void *arg;
} lf_vmoe_cfg;

int lf_vmoe_run(const lf_vmoe_cfg *c, lf_vmoe_row **rows, size_t *n, lf_err *err);

/* Median and max |error_pct| (norm: |norm_error_pct|); the largest |predicted -
 * measured| page-cache hit rate over the rows that have a page cache (NaN when none). */
void lf_vmoe_errors(const lf_vmoe_row *rows, size_t n, int norm, double *mdape, double *max_ape,
                    double *max_hit_gap);

int lf_vmoe_write_csv(const char *path, const lf_vmoe_row *rows, size_t n, lf_err *err);

/* The run whose v is nearest the median of v[0..n) (an even count's median is no run; the
 * first of a tie); `sorted` (n entries) receives v sorted. */
uint32_t lf_vmoe_median_run(const double *v, uint32_t n, double *sorted);
/* The same over the repeats' hit rates, among those during which the outside reclaimer
 * paged out nothing (paged[k] == 0; -1 is unknown) when clean_only, else among all;
 * UINT32_MAX when none qualifies. *count: how many did; work and sorted: n entries. */
uint32_t lf_vmoe_median_hit_run(const double *hit, const int64_t *paged, uint32_t n,
                                int clean_only, double *work, double *sorted, uint32_t *count);

#endif
