#include "lf_sweep_emit.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lf_fs.h"

int lf_sweep_emit_jobs(const lf_sweep *s, const char *exe, const char *cwd,
                       const char *sweep_copy, const char *out_dir, const char *jobs_path,
                       lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, jobs_path, err);
    if (rc != LF_OK)
        return rc;
    char line[8192], id[LF_SWEEP_ID_MAX];
    for (size_t i = 0; i < s->n_runs; i++) {
        lf_sweep_run_id(s, i, id);
        const char *parts[] = {"cd", cwd, "&&", exe, "sweep", sweep_copy, "--out", out_dir,
                               "--only", id};
        line[0] = '\0';
        int bad = 0;
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            if (k)
                bad |= strlen(line) + 2 > sizeof line || !strcat(line, " ");
            if (!strcmp(parts[k], "&&"))
                bad |= strlen(line) + 3 > sizeof line || !strcat(line, "&&");
            else
                bad |= lf_sweep_shell_quote(line, sizeof line, parts[k]) != 0;
        }
        if (bad) {
            lf_atomic_abort(&a);
            return lf_fail(err, LF_EINVAL, "%s: job line %zu too long (shorter paths?)", jobs_path,
                           i + 1);
        }
        fprintf(a.f, "%s\n", line);
    }
    return lf_atomic_commit(&a, err);
}

void lf_sweep_slurm_shape(const lf_sweep_slurm *o, size_t n_runs, size_t *per_task,
                          size_t *tasks)
{
    size_t per = o->per_task;
    if (!per)
        per = (n_runs + LF_SWEEP_MAX_ARRAY - 1) / LF_SWEEP_MAX_ARRAY;
    if (!per)
        per = 1;
    *per_task = per;
    *tasks = n_runs ? (n_runs + per - 1) / per : 0;
}

/* The key of an #SBATCH item ("time=1:00" -> "time"), into key (cap bytes); -1 when the
 * item is not `key[=value]` with a key of lower-case letters, digits and '-'. */
static int item_key(const char *item, char *key, size_t cap)
{
    size_t k = 0;
    const char *p = item;
    while (*p == '-')
        p++;
    for (; *p && *p != '='; p++) {
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
            return -1;
        if (k + 1 < cap)
            key[k++] = *p;
    }
    key[k] = '\0';
    for (p = item; *p; p++)
        if (*p == '\n' || *p == '\r')
            return -1;
    return k ? 0 : -1;
}

static int user_sets(const lf_sweep_slurm *o, const char *key)
{
    char k[64];
    for (size_t i = 0; i < o->n_sbatch; i++)
        if (item_key(o->sbatch[i], k, sizeof k) == 0 && !strcmp(k, key))
            return 1;
    return 0;
}

static const char *strip_dashes(const char *item)
{
    while (*item == '-')
        item++;
    return item;
}

/* The combine job's sbatch options: the account, partition, qos and time items. */
static int combine_opts(const lf_sweep_slurm *o, char *buf, size_t cap)
{
    static const char *const pass[] = {"account", "partition", "qos", "time", "clusters", NULL};
    buf[0] = '\0';
    for (size_t i = 0; i < o->n_sbatch; i++) {
        char k[64], opt[600];
        if (item_key(o->sbatch[i], k, sizeof k) != 0)
            continue;
        for (const char *const *p = pass; *p; p++) {
            if (strcmp(*p, k))
                continue;
            snprintf(opt, sizeof opt, "--%s", strip_dashes(o->sbatch[i]));
            if (strlen(buf) + 2 > cap || lf_sweep_shell_quote(strcat(buf, " "), cap, opt))
                return -1;
        }
    }
    return 0;
}

int lf_sweep_slurm_check(const lf_sweep *s, const lf_sweep_slurm *o, const char *script_path,
                         lf_err *err)
{
    size_t per, tasks;
    lf_sweep_slurm_shape(o, s->n_runs, &per, &tasks);
    if (tasks > LF_SWEEP_MAX_ARRAY)
        return lf_fail(err, LF_EINVAL,
                       "%s: %zu runs at %zu per task make %zu array tasks, over Slurm's default "
                       "MaxArraySize (%d); give more runs per task (--runs-per-task %zu)",
                       script_path, s->n_runs, per, tasks, LF_SWEEP_MAX_ARRAY + 1,
                       (s->n_runs + LF_SWEEP_MAX_ARRAY - 1) / LF_SWEEP_MAX_ARRAY);
    for (size_t i = 0; i < o->n_sbatch; i++) {
        char k[64];
        if (item_key(o->sbatch[i], k, sizeof k) != 0)
            return lf_fail(err, LF_EINVAL,
                           "--sbatch '%s': expected key=value (e.g. time=02:00:00, mem=8G, "
                           "cpus-per-task=4, partition=short, account=myproject)",
                           o->sbatch[i]);
        if (!strcmp(k, "array"))
            return lf_fail(err, LF_EINVAL,
                           "--sbatch '%s': the array is computed from the grid; use "
                           "--runs-per-task and --max-running instead",
                           o->sbatch[i]);
    }
    return LF_OK;
}

int lf_sweep_emit_slurm(const lf_sweep *s, const lf_sweep_slurm *o, const char *script_path,
                        lf_err *err)
{
    int rc = lf_sweep_slurm_check(s, o, script_path, err);
    if (rc)
        return rc;
    size_t per, tasks;
    lf_sweep_slurm_shape(o, s->n_runs, &per, &tasks);
    char qcwd[4200] = "", qjobs[4200] = "", qlog[4200] = "", log[4200], clog[4200];
    char qclog[4200] = "", wrap[8192] = "", qwrap[9000] = "", copts[4096];
    snprintf(log, sizeof log, "%s/slurm-%%A_%%a.log", o->out_dir);
    snprintf(clog, sizeof clog, "%s/slurm-combine-%%j.log", o->out_dir);
    int bad = lf_sweep_shell_quote(qcwd, sizeof qcwd, o->cwd) ||
              lf_sweep_shell_quote(qjobs, sizeof qjobs, o->jobs_path) ||
              lf_sweep_shell_quote(qlog, sizeof qlog, log) ||
              lf_sweep_shell_quote(qclog, sizeof qclog, clog) || combine_opts(o, copts, sizeof copts);
    const char *wparts[] = {"cd", o->cwd, "&&", o->exe, "sweep", o->sweep_copy, "--combine",
                            o->out_dir};
    for (size_t k = 0; k < sizeof wparts / sizeof *wparts && !bad; k++) {
        if (k)
            strcat(wrap, " ");
        if (!strcmp(wparts[k], "&&"))
            strcat(wrap, "&&");
        else
            bad |= strlen(wrap) + 16 > sizeof wrap ||
                   lf_sweep_shell_quote(wrap, sizeof wrap - 4, wparts[k]);
    }
    bad = bad || lf_sweep_shell_quote(qwrap, sizeof qwrap, wrap);
    if (bad)
        return lf_fail(err, LF_EINVAL, "%s: paths too long", script_path);
    lf_atomic a;
    rc = lf_atomic_open(&a, script_path, err);
    if (rc != LF_OK)
        return rc;
    FILE *f = a.f;
    fprintf(f,
            "#!/bin/sh\n"
            "# Slurm array for the sweep %s: %zu runs, %zu per task, %zu tasks; written by\n"
            "# llmflash sweep. Task t runs lines t*%zu+1 .. t*%zu+%zu of %s\n"
            "# (finished runs, with their done marker, are skipped).\n",
            s->path, s->n_runs, per, tasks, per, per, per, o->jobs_path);
    if (o->combine)
        fprintf(f, "# Submit the array and a combine job that waits for it (afterok):\n"
                   "#   sh %s\n"
                   "# or the array alone: sbatch %s, then: llmflash sweep --combine %s\n",
                script_path, script_path, o->out_dir);
    else
        fprintf(f, "# Submit: sbatch %s\n# Afterwards: llmflash sweep --combine %s\n",
                script_path, o->out_dir);
    if (!user_sets(o, "job-name"))
        fprintf(f, "#SBATCH --job-name=llmflash-sweep\n");
    fprintf(f, "#SBATCH --array=0-%zu", tasks ? tasks - 1 : 0);
    if (o->max_running)
        fprintf(f, "%%%u", o->max_running);
    fprintf(f, "\n");
    if (!user_sets(o, "chdir"))
        fprintf(f, "#SBATCH --chdir=%s\n", qcwd);
    if (!user_sets(o, "output"))
        fprintf(f, "#SBATCH --output=%s\n", qlog);
    for (size_t i = 0; i < o->n_sbatch; i++)
        fprintf(f, "#SBATCH --%s\n", strip_dashes(o->sbatch[i]));
    fprintf(f, "set -u\n");
    if (o->combine)
        fprintf(f,
                "if [ -z \"${SLURM_ARRAY_TASK_ID:-}\" ]; then\n"
                "  # run from a shell: submit this script as the array, then the combine job\n"
                "  jid=$(sbatch --parsable \"$0\") || exit 1\n"
                "  jid=${jid%%%%;*}\n"
                "  cjid=$(sbatch --parsable --dependency=afterok:\"$jid\" "
                "--job-name=llmflash-combine --chdir=%s --output=%s%s --wrap=%s) || exit 1\n"
                "  echo \"submitted the array job $jid and the combine job ${cjid%%%%;*} (runs "
                "when every task of $jid succeeded)\"\n"
                "  exit 0\n"
                "fi\n",
                qcwd, qclog, copts, qwrap);
    fprintf(f,
            "cd %s || exit 1\n"
            "jobs=%s\n"
            "per=%zu\n"
            "n=%zu\n"
            "first=$((SLURM_ARRAY_TASK_ID * per + 1))\n"
            "last=$((first + per - 1))\n"
            "[ \"$last\" -le \"$n\" ] || last=$n\n"
            "[ \"$first\" -le \"$n\" ] || { echo \"task $SLURM_ARRAY_TASK_ID: no line $first in "
            "$jobs ($n lines)\" >&2; exit 1; }\n"
            "status=0\n"
            "i=$first\n"
            "while [ \"$i\" -le \"$last\" ]; do\n"
            "  line=$(sed -n \"${i}p\" \"$jobs\")\n"
            "  if [ -z \"$line\" ]; then\n"
            "    echo \"no line $i in $jobs\" >&2; status=1\n"
            "  else\n"
            "    sh -c \"$line\" || { echo \"llmflash sweep: line $i of $jobs failed (exit $?)\" "
            ">&2; status=1; }\n"
            "  fi\n"
            "  i=$((i + 1))\n"
            "done\n"
            "exit $status\n",
            qcwd, qjobs, per, s->n_runs);
    rc = lf_atomic_commit(&a, err);
    if (rc == LF_OK)
        chmod(script_path, 0755);
    return rc;
}
