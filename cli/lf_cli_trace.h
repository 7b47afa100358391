/* lf_cli_trace: how subcommands read traces. Normally a read reads the file and a release
 * frees it; in a sweep worker (lf_cli_trace_keep) the traces read stay in memory for the
 * next run of the same file. The caller owns what a read returns until it releases it. */
#ifndef LF_CLI_TRACE_H
#define LF_CLI_TRACE_H

#include "lf_err.h"
#include "lf_plans.h"
#include "lf_trace.h"

/* Reads the trace at path into *t (lf_trace_read_ex with o, which may be NULL), or with
 * keeping on, a copy of the kept trace of that file read with the same max_tokens when
 * its device, inode, size and modification time are the same. The caller must not
 * change the arrays of *t (they may be shared). */
int lf_cli_trace_read(const char *path, const lf_trace_read_opts *o, lf_trace *t, lf_err *err);
/* Frees *t unless it is a kept trace. */
void lf_cli_trace_release(lf_trace *t);
/* Keeping on (the last LF_CLI_TRACE_KEEP traces read, the oldest dropped first) or off
 * (every kept trace freed). */
#define LF_CLI_TRACE_KEEP 4
void lf_cli_trace_keep(int on);
/* The plans cache that lives with kept trace t (lf_run_config.plans_cache: the last
 * simulated decisions on it), or NULL when t is not a kept trace. */
lf_plans_cache *lf_cli_trace_plans(const lf_trace *t);

#endif
