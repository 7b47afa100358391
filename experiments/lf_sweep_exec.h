/* lf_sweep_exec: runs a sweep's configurations as child processes (fork/exec, or worker
 * processes that each run many), up to `jobs` at a time, one run folder each, skipping
 * folders whose `done` marker exists (the jobs file and Slurm script for a cluster are
 * lf_sweep_emit's).
 * The caller owns the lf_sweep; lf_sweep_report's array is freed by lf_sweep_report_free. */
#ifndef LF_SWEEP_EXEC_H
#define LF_SWEEP_EXEC_H

#include <signal.h>
#include <stddef.h>

#include "lf_err.h"
#include "lf_sweep.h"

enum { LF_RUN_PENDING = 0, LF_RUN_SKIPPED = 1, LF_RUN_OK = 2, LF_RUN_FAILED = 3 };

typedef struct {
    const char *const *prefix; /* argv before the subcommand, NULL-terminated:
                                  {"/proc/self/exe", NULL}, or a test's {"/bin/sh", "-c", "...", "sh", NULL} */
    unsigned jobs;             /* runs at once; 0 = the number of online cores */
    long only;                 /* >= 0: run just this index (a cluster job); -1: all */
    int progress;              /* draw lf_progress on stderr */
    const volatile sig_atomic_t *stop; /* NULL, or set non-zero (a signal handler) to
                                          start no further run; running ones are waited for */
    /* When set, runs go to `jobs` worker processes forked once from this one (no exec):
     * a worker calls run_inproc(argc, argv) with argv = mode, --key value ..., --out
     * DIR (no prefix), stdout and stderr sent to the run's sweep.log, and takes its
     * return value as the run's exit status. A worker keeps what it loaded (a trace)
     * for its next runs. A worker that dies fails only the run it held; a new worker
     * takes the rest. NULL: one fork/exec of `prefix` per run. */
    int (*run_inproc)(int argc, char **argv);
} lf_sweep_exec;

typedef struct {
    size_t total, skipped, ok, failed;
    unsigned char *state; /* n_runs entries, LF_RUN_* */
    int *exit_code;       /* n_runs entries: exit status, or 128+signal; -1 not run */
} lf_sweep_report;

void lf_sweep_report_free(lf_sweep_report *r);

/* Runs the grid into out_dir/<run-id>/. Per run: a folder with `done` is skipped;
 * otherwise the folder is made, the command line written to `sweep.cmd`, the child's
 * stdout and stderr to `sweep.log`. A run succeeds when the child exits 0 and wrote
 * the sweep's first collect file; `done` is then written (atomically) if the child did
 * not write it. A child that fails has its `done` removed, so a rerun repeats it.
 * Returns LF_OK when every run was attempted (failed runs are in the report), an
 * error only when the runner itself cannot work (no folder, fork failed). */
int lf_sweep_run(const lf_sweep *s, const char *out_dir, const lf_sweep_exec *ex,
                 lf_sweep_report *rep, lf_err *err);

/* The folder of run `index`: out_dir/<run-id> (cap bytes). */
void lf_sweep_run_dir(const lf_sweep *s, size_t index, const char *out_dir, char *buf,
                      size_t cap);
/* 1 when run `index` has its `done` marker. */
int lf_sweep_is_done(const lf_sweep *s, size_t index, const char *out_dir);

/* The shell command of run `index` as one line (no newline), args quoted. */
int lf_sweep_command_line(const lf_sweep *s, size_t index, const char *const *prefix,
                          const char *out_dir, char *buf, size_t cap, lf_err *err);

/* Copies the sweep file to out_dir/sweep.conf (atomically) unless it is that file;
 * `llmflash sweep --combine out_dir` reads the grid back from it. *replaced (may be
 * NULL) says whether an earlier copy with other contents was there: another sweep file,
 * or this one edited, whose run folders stay beside the new ones. */
int lf_sweep_save_copy(const lf_sweep *s, const char *out_dir, char *copy_path, size_t cap,
                       int *replaced, lf_err *err);

#endif
