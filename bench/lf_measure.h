/* lf_measure: one measured configuration end to end, the executor's twin of lf_run:
 * the same configuration, model, budget, policy, predictor and (the weights file's)
 * layout, replayed by lf_replay with the executor's backend instead of the cost model.
 * The lf_run_result it fills is the caller's (lf_run_result_free). */
#ifndef LF_MEASURE_H
#define LF_MEASURE_H

#include "lf_exec.h"
#include "lf_run.h"
#include "lf_weights.h"

typedef struct {
    const char *engine;  /* I/O engine; NULL = "psync" */
    lf_exec_stats stats; /* filled: the executor's totals */
    uint64_t cap_bytes;  /* filled: the DRAM managers' matrices, all layers */
    uint64_t huge_bytes; /* filled: the process's memory in huge pages at the run's end */
} lf_measure;

/* c: the run's configuration (its layout, dtype, backend and layout_from are set from
 * the weights file here, its mode to "run" and data_path to the weights file). dev:
 * recorded in the configuration only (NULL: "measured"). out->extra gets what every
 * measured run folder's meta.json says: engine, weights, weights_seed, ffn_kernel,
 * dram_manager_bytes, ffn_budget_bytes, direct_reads, staged_reads, read_gb_per_s,
 * buffer_pages (thp or 4k: lf_bigmem), anon_huge_bytes, output_checksum. Write the folder with lf_run_write(dir, c-with-mode "run", out). */
int lf_measure_run(const lf_run_config *c, const lf_trace *trace, const lf_trace *profile,
                   const lf_weights *w, const lf_device *dev, lf_measure *m, lf_run_result *out,
                   lf_err *err);

/* The layout in the weights file must be the one asked for (when one is asked for). */
int lf_measure_check_layout(const lf_weights *w, const char *layout, lf_err *err);

#endif
