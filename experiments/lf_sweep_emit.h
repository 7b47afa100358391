/* lf_sweep_emit: a sweep's runs written out for a cluster: a jobs file (one shell line
 * per run, for GNU parallel) and a Slurm array script (#SBATCH pass-through, several runs
 * per array task, an optional combine job chained with --dependency=afterok).
 * Writes files only (atomically); the caller owns every argument. */
#ifndef LF_SWEEP_EMIT_H
#define LF_SWEEP_EMIT_H

#include <stddef.h>

#include "lf_err.h"
#include "lf_sweep.h"

#define LF_SWEEP_MAX_ARRAY 1000 /* array tasks at most (Slurm's default MaxArraySize 1001) */
#define LF_SWEEP_MAX_SBATCH 32

/* Jobs file: one line per configuration, in grid order:
 *   cd CWD && EXE sweep SWEEP_COPY --out OUT_DIR --only RUN_ID
 * where SWEEP_COPY is the sweep file as copied into out_dir (lf_sweep_save_copy), so
 * each job runs exactly as `llmflash sweep` does locally. Written atomically. */
int lf_sweep_emit_jobs(const lf_sweep *s, const char *exe, const char *cwd,
                       const char *sweep_copy, const char *out_dir, const char *jobs_path,
                       lf_err *err);

typedef struct {
    const char *cwd;        /* folder the jobs run in */
    const char *out_dir;    /* the sweep's results folder */
    const char *jobs_path;  /* the jobs file (lf_sweep_emit_jobs) */
    const char *exe;        /* the binary the nodes run (for the combine job) */
    const char *sweep_copy; /* out_dir/sweep.conf */
    /* `#SBATCH --<item>` lines, each "key=value" or "key" (e.g. "time=02:00:00",
     * "mem=8G", "cpus-per-task=4", "partition=short", "account=proj"); a key given here
     * replaces the script's default for it (job-name, output, chdir). */
    const char *sbatch[LF_SWEEP_MAX_SBATCH];
    size_t n_sbatch;
    size_t per_task;        /* runs per array task; 0 = the fewest that keep the array
                               within LF_SWEEP_MAX_ARRAY tasks */
    unsigned max_running;   /* array tasks at once (--array=0-N%M); 0 = no cap */
    int combine;            /* run from a shell (not sbatch), the script submits itself
                               and a combine job that waits for it (afterok) */
} lf_sweep_slurm;

/* Runs per task and array tasks for n runs (what the script will use). */
void lf_sweep_slurm_shape(const lf_sweep_slurm *o, size_t n_runs, size_t *per_task,
                          size_t *tasks);
/* Writes the Slurm array script: task t runs jobs lines t*per+1 .. (t+1)*per one after
 * the other (all of them, failing or not; the task fails when one did). Errors: an
 * #SBATCH item that is not `key[=value]`, an `array` item (the array is computed), a
 * per_task that leaves more than LF_SWEEP_MAX_ARRAY tasks. */
int lf_sweep_emit_slurm(const lf_sweep *s, const lf_sweep_slurm *o, const char *script_path,
                        lf_err *err);
/* lf_sweep_emit_slurm's checks alone, for a caller that writes other files first. */
int lf_sweep_slurm_check(const lf_sweep *s, const lf_sweep_slurm *o, const char *script_path,
                         lf_err *err);

#endif
