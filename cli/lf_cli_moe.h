/* lf_cli_moe: `run` and `validate` on expert files (cli/cmd_run_moe.c,
 * cli/cmd_validate_moe.c), called by cmd_run and cmd_validate; nothing returned to own. */
#ifndef LF_CLI_MOE_H
#define LF_CLI_MOE_H

#include "lf_run.h"
#include "lf_weights.h"

/* c: run's resolved options (policy, threads, tokens, seed, DRAM budget, cold tokens,
 * quiet, trace_path); policy_given 0: the default policy, trust the OS page cache
 * (pagecache:dram=0); pc_mech: --pagecache-mechanism (NULL: auto). Returns the exit
 * status. */
int cmd_run_moe(const lf_run_config *c, int policy_given, const char *pc_mech, const lf_trace *t,
                const lf_weights *w, const char *out);

/* validate on expert files (cli/cmd_validate_moe.c): called by cmd_validate when its
 * first weights file holds experts, with the n_w files it opened, which this closes;
 * pc_mech and scope: --pagecache-mechanism and --scope, for configurations whose grid
 * sets none (NULL: auto, token); buffered_device: the profile that prices the page-cache
 * configurations' reads (--device buffered=P.conf; NULL: device); drift_refs,
 * drift_settle: --drift-refs, --drift-settle. Returns the exit status. */
int cmd_validate_moe(const char *trace, lf_weights *w, size_t n_w, const char *device,
                     const char *buffered_device, const char *grid, const char *out,
                     uint32_t repeat, uint32_t tokens, const char *pc_mech, const char *scope,
                     int drift_refs, double drift_settle);

#endif
