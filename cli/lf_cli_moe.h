/* lf_cli_moe: `run` on an expert file (cli/cmd_run_moe.c), called by cmd_run once the
 * trace and weights are loaded (both the caller's). */
#ifndef LF_CLI_MOE_H
#define LF_CLI_MOE_H

#include "lf_simrun.h"
#include "lf_weights.h"

/* c: run's resolved options (policy, threads, tokens, seed, DRAM budget, cold tokens,
 * quiet, trace_path); policy_given 0: the default policy, trust the OS page cache
 * (pagecache:dram=0). Returns the exit status. */
int cmd_run_moe(const lf_sim_config *c, int policy_given, const lf_trace *t, const lf_weights *w,
                const char *out);

#endif
