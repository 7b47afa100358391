/* lf_measure: one measured configuration end to end, the executor's twin of lf_sim_run:
 * the same configuration, model, budget, policy, predictor and (the weights file's)
 * layout, replayed by lf_replay with the executor's backend instead of the cost model.
 * The lf_sim_result it fills is the caller's (lf_sim_result_free). */
#ifndef LF_MEASURE_H
#define LF_MEASURE_H

#include "lf_exec.h"
#include "lf_simrun.h"
#include "lf_weights.h"

typedef struct {
    const char *engine;  /* I/O engine; NULL = "psync" */
    lf_exec_stats stats; /* filled: the executor's totals */
    uint64_t cap_bytes;  /* filled: the DRAM managers' matrices, all layers */
} lf_measure;

/* c: the run's configuration (its layout, dtype, backend and layout_from are set from
 * the weights file here). dev: recorded in the configuration only (NULL: "measured"). */
int lf_measure_run(const lf_sim_config *c, const lf_trace *trace, const lf_trace *profile,
                   const lf_weights *w, const lf_device *dev, lf_measure *m, lf_sim_result *out,
                   lf_err *err);

/* The layout in the weights file must be the one asked for (when one is asked for). */
int lf_measure_check_layout(const lf_weights *w, const char *layout, lf_err *err);

#endif
