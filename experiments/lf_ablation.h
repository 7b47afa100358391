/* lf_ablation: the paper's ablation (its Table 2): naive; hybrid; + sparsity with a
 * predictor; + windowing; + row-column bundling, each a simulated configuration built
 * from one base configuration, with steady-state figures side by side.
 * Rows are plain values; nothing to free. */
#ifndef LF_ABLATION_H
#define LF_ABLATION_H

#include <stdio.h>

#include "lf_run.h"

#define LF_ABLATION_ROWS 5

typedef struct {
    char name[40];
    char policy[96];
    char layout[16];
    double dram_gb;            /* weights kept in DRAM between tokens: resident part +
                                * peak FFN cache (naive: 0, it streams everything;
                                * hybrid: the non-FFN weights + its pinned FFN share) */
    double flash_gb_per_token; /* flash -> DRAM per token, steady state */
    double throughput_gbps;    /* flash_gb_per_token / io time */
    double io_ms, mem_ms, compute_ms, total_ms; /* steady-state means per token */
    double speedup;            /* naive total_ms / this total_ms */
} lf_ablation_row;

/* base supplies trace, device, dtype, threads, reader, tokens, seed, DRAM fraction
 * (the hybrid's resident half and the budget of the sparse rows) and the predictor
 * (none given: the trace's recorded sets when present, else 5% false negatives and 7%
 * false positives, the published predictor's rates). */
int lf_ablation_run(const lf_run_config *base, const lf_trace *trace, const lf_device *dev,
                    lf_ablation_row rows[LF_ABLATION_ROWS], lf_err *err);

void lf_ablation_format_md(FILE *f, const lf_ablation_row *rows, int n);
int lf_ablation_write(const char *csv_path, const char *md_path, const lf_ablation_row *rows,
                      int n, lf_err *err);

#endif
