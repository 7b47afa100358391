/* llmflash sweep: runs the grid of a sweep file (experiments/lf_sweep*), locally in parallel or
 * as a jobs file / Slurm array for a cluster, and combines the results into one CSV. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_cli_sweep_check.h"
#include "lf_cli_trace.h"
#include "lf_fs.h"
#include "lf_sweep.h"
#include "lf_sweep_combine.h"
#include "lf_sweep_emit.h"
#include "lf_sweep_exec.h"

static const char *CMD = "sweep";

static void help(const char *exe)
{
    printf(
        "usage: llmflash sweep SWEEP.conf --out DIR [--jobs N] [--dry-run]\n"
        "                      [--emit-jobs FILE] [--emit-slurm FILE] [--only RUN_ID]\n"
        "       llmflash sweep --combine DIR\n\n"
        "Runs every configuration of a sweep file, one run folder each (DIR/<run-id>/ with\n"
        "config.conf, meta.json, tokens.csv, summary.csv, done), as this binary would\n"
        "(`llmflash <mode> --key value ... --out DIR/<run-id>`), N at a time: sim runs in\n"
        "N worker processes that read each trace once, run and validate runs as one child\n"
        "process each. Runs whose `done` marker exists are skipped; a run without one is\n"
        "run again. At the end it writes DIR/combined.csv: run_id, one column per sweep\n"
        "key, then the run's summary.csv columns (see experiments/README.md).\n\n"
        "Sweep file: `key = value` lines, `#` comments; `a | b | c` is a list and the grid\n"
        "is the product of all lists. `mode = sim|run|validate` names the subcommand; every\n"
        "other key is one of its long options without dashes (an empty value is a bare\n"
        "flag, the item (none) leaves the option out); `collect = summary.csv | tokens.csv`\n"
        "names the per-run CSVs to gather (further ones go to DIR/combined-<name>.csv).\n\n"
        "options:\n"
        "  -o, --out DIR          results folder of this sweep (e.g. results/fig7)\n"
        "  -j, --jobs N           runs at once (default: the number of cores)\n"
        "  -n, --dry-run          print each run's id, state and command; run nothing\n"
        "      --emit-jobs FILE   write one command per run for GNU parallel; run nothing\n"
        "      --emit-slurm FILE  write a Slurm array script (and DIR/jobs.txt unless\n"
        "                         --emit-jobs names the jobs file); run nothing\n"
        "      --exe PATH         the llmflash binary the jobs run (default: this one,\n"
        "                         %s)\n"
        "      --sbatch KEY=VALUE an #SBATCH line of the script (repeat): time=02:00:00,\n"
        "                         mem=8G, cpus-per-task=4, partition=P, account=A, ...\n"
        "      --runs-per-task N  runs one array task does in turn (default: the fewest\n"
        "                         that keep the array under 1000 tasks)\n"
        "      --max-running N    array tasks at once (--array=0-T%%N)\n"
        "      --slurm-combine    `sh FILE` submits the array and a combine job chained\n"
        "                         with --dependency=afterok (sbatch FILE: the array only)\n"
        "      --only RUN_ID      run just this configuration (what each cluster job does)\n"
        "      --combine DIR      only rebuild DIR/combined.csv from DIR/sweep.conf and the\n"
        "                         finished run folders (after a cluster run)\n"
        "  -h, --help             this text\n\n"
        "example:\n"
        "  llmflash sweep experiments/fig7.conf --jobs 2 --out results/fig7\n"
        "  llmflash sweep experiments/fig7.conf --out results/fig7 --emit-jobs jobs.txt\n"
        "  parallel --jobs 16 < jobs.txt && llmflash sweep --combine results/fig7\n"
        "  llmflash sweep experiments/fig7.conf --out results/fig7 --emit-slurm fig7.sh \\\n"
        "      --sbatch time=01:00:00 --sbatch mem=4G --sbatch account=myproj --slurm-combine\n"
        "  sh fig7.sh\n\n"
        "Keys: a key that is not an option of the mode's subcommand stops the sweep before\n"
        "anything runs; a list item that does not look like a valid value is warned about.\n"
        "A spec with '|' inside goes in double quotes: policy = lru | \"window:k=2|4\"\n"
        "Ctrl-C (or SIGTERM) starts no further run, waits for the running ones and says\n"
        "how many finished; the same command again resumes.\n", exe);
}

static int print_combine(const char *out_dir, const lf_sweep *s)
{
    lf_err err;
    lf_sweep_combine_report cr;
    if (lf_sweep_combine(s, out_dir, &cr, &err) != LF_OK)
        return lf_cli_error(CMD, &err);
    printf("combined: %s/combined.csv (%zu rows from %zu of %zu runs", out_dir, cr.rows, cr.done,
           cr.runs);
    if (cr.missing)
        printf("; %zu not done, e.g. %s", cr.missing, cr.first_missing);
    printf(")\n");
    for (size_t k = 1; k < s->n_collect; k++)
        printf("combined: %s/combined-%.*s.csv\n", out_dir,
               (int)(strlen(s->collect[k]) - 4), s->collect[k]);
    return LF_EXIT_OK;
}

static int dry_run(const lf_sweep *s, const char *out_dir, const char *const *prefix)
{
    lf_err err;
    size_t done = 0;
    char line[16384], id[LF_SWEEP_ID_MAX];
    for (size_t i = 0; i < s->n_runs; i++) {
        int d = lf_sweep_is_done(s, i, out_dir);
        done += d;
        lf_sweep_run_id(s, i, id);
        if (lf_sweep_command_line(s, i, prefix, out_dir, line, sizeof line, &err) != LF_OK)
            return lf_cli_error(CMD, &err);
        printf("%-4s %s\n     %s\n", d ? "done" : "todo", id, line);
    }
    printf("%zu runs, %zu done, %zu to run\n", s->n_runs, done, s->n_runs - done);
    return LF_EXIT_OK;
}

/* A folder that held another sweep file's copy (or this one's before an edit): said, as
 * its run folders stay beside the new ones (runs are named by their configuration, so
 * the ones both grids share are reused, and the others are left alone). */
static void note_replaced(const char *out_dir)
{
    fprintf(stderr, "llmflash sweep: note: %s/sweep.conf was another sweep file's (or this "
            "one before an edit); replaced. Run folders of configurations this grid does not "
            "have stay in %s; `--combine` reads only this grid's\n", out_dir, out_dir);
}

static int emit(const lf_sweep *s, const char *out_dir, const char *exe, const char *jobs,
                const char *slurm, lf_sweep_slurm *so)
{
    lf_err err;
    char copy[4200], cwd[PATH_MAX], jobs_buf[4200];
    if (!getcwd(cwd, sizeof cwd)) {
        lf_fail(&err, LF_EIO, "cannot get the current folder");
        return lf_cli_error(CMD, &err);
    }
    if (!jobs) {
        snprintf(jobs_buf, sizeof jobs_buf, "%s/jobs.txt", out_dir);
        jobs = jobs_buf;
    }
    /* the script's checks before anything is written; its job list is another file */
    if (slurm && lf_fs_same_path(jobs, slurm))
        return lf_cli_usage(CMD, "the job list and --emit-slurm name the same file %s: the "
                            "script reads the list, give it another name", slurm);
    if (slurm && lf_sweep_slurm_check(s, so, slurm, &err) != LF_OK)
        return lf_cli_error(CMD, &err);
    int replaced;
    if (lf_sweep_save_copy(s, out_dir, copy, sizeof copy, &replaced, &err) != LF_OK)
        return lf_cli_error(CMD, &err);
    if (replaced)
        note_replaced(out_dir);
    if (lf_sweep_emit_jobs(s, exe, cwd, copy, out_dir, jobs, &err) != LF_OK)
        return lf_cli_error(CMD, &err);
    printf("wrote %s: %zu jobs (one per line)\n", jobs, s->n_runs);
    if (slurm) {
        so->cwd = cwd;
        so->out_dir = out_dir;
        so->jobs_path = jobs;
        so->exe = exe;
        so->sweep_copy = copy;
        if (lf_sweep_emit_slurm(s, so, slurm, &err) != LF_OK)
            return lf_cli_error(CMD, &err);
        size_t per, tasks;
        lf_sweep_slurm_shape(so, s->n_runs, &per, &tasks);
        printf("wrote %s: Slurm array of %zu tasks, %zu run%s each; submit with: %s %s\n", slurm,
               tasks, per, per == 1 ? "" : "s", so->combine ? "sh" : "sbatch", slurm);
        if (so->combine) {
            printf("(it submits the array and a combine job that runs after it succeeds)\n");
            return LF_EXIT_OK;
        }
    } else {
        printf("run them with e.g.: parallel --jobs 16 < %s\n", jobs);
    }
    printf("then combine with: llmflash sweep --combine %s\n", out_dir);
    return LF_EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* A sim run inside a sweep worker: the worker keeps the traces it read for its next
 * runs, so a grid over one trace reads it once per worker. */
static int sim_in_worker(int argc, char **argv)
{
    lf_cli_trace_keep(1);
    return cmd_sim(argc, argv);
}

static int run(const lf_sweep *s, const char *out_dir, const char *const *prefix, unsigned jobs,
               const char *only, int workers)
{
    lf_err err;
    lf_sweep_exec ex = {.prefix = prefix, .jobs = jobs, .only = -1, .progress = 1,
                        .stop = &interrupted};
    if (workers && strcmp(s->mode, "sim") == 0)
        ex.run_inproc = sim_in_worker;
    /* Ctrl-C (or Slurm's SIGTERM): start nothing more, wait for the children (they get
     * the terminal's SIGINT themselves), then say what finished and how to resume. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (only) {
        size_t idx;
        if (lf_sweep_find(s, only, &idx, &err) != LF_OK)
            return lf_cli_error(CMD, &err);
        ex.only = (long)idx;
    } else {
        char copy[4200];
        int replaced;
        if (lf_sweep_save_copy(s, out_dir, copy, sizeof copy, &replaced, &err) != LF_OK)
            return lf_cli_error(CMD, &err);
        if (replaced)
            note_replaced(out_dir);
    }
    lf_sweep_report rep;
    if (lf_sweep_run(s, out_dir, &ex, &rep, &err) != LF_OK)
        return lf_cli_error(CMD, &err);
    if (interrupted) {
        size_t done = 0;
        for (size_t i = 0; i < s->n_runs; i++)
            done += lf_sweep_is_done(s, i, out_dir);
        fprintf(stderr,
                "\nllmflash sweep: interrupted (%s): %zu of %zu runs are finished (%zu in this "
                "session, %zu before); rerun the same command to resume: finished runs are "
                "skipped, interrupted ones run again\n",
                interrupted == SIGINT ? "Ctrl-C" : "SIGTERM", done, s->n_runs, rep.ok,
                rep.skipped);
        lf_sweep_report_free(&rep);
        return 128 + (int)interrupted;
    }
    printf("sweep %s: %zu runs into %s: %zu ran ok, %zu failed, %zu skipped (already done)\n",
           s->path, rep.total, out_dir, rep.ok, rep.failed, rep.skipped);
    size_t shown = 0;
    char dir[4200];
    for (size_t i = 0; i < s->n_runs && shown < 10; i++) {
        if (rep.state[i] != LF_RUN_FAILED)
            continue;
        lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
        fprintf(stderr, "llmflash sweep: run failed (exit %d): see %s/sweep.log\n",
                rep.exit_code[i], dir);
        shown++;
    }
    if (rep.failed > shown)
        fprintf(stderr, "llmflash sweep: ... and %zu more failed runs\n", rep.failed - shown);
    int failed = rep.failed > 0;
    lf_sweep_report_free(&rep);
    if (!only && print_combine(out_dir, s) != LF_EXIT_OK)
        return LF_EXIT_FAIL;
    return failed ? LF_EXIT_FAIL : LF_EXIT_OK;
}

int cmd_sweep(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},   {"jobs", required_argument, 0, 'j'},
        {"dry-run", no_argument, 0, 'n'},     {"emit-jobs", required_argument, 0, 'J'},
        {"emit-slurm", required_argument, 0, 'S'}, {"only", required_argument, 0, 'O'},
        {"combine", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
        {"exe", required_argument, 0, 'E'},   {"sbatch", required_argument, 0, 'B'},
        {"runs-per-task", required_argument, 0, 'R'},
        {"max-running", required_argument, 0, 'M'},
        {"slurm-combine", no_argument, 0, 'K'},
        {0, 0, 0, 0}};
    lf_sweep_slurm so;
    memset(&so, 0, sizeof so);
    const char *exe_opt = NULL;
    int slurm_only = 0;
    const char *out = NULL, *emit_jobs = NULL, *emit_slurm = NULL, *only = NULL, *combine = NULL;
    unsigned jobs = 0;
    int dry = 0, c;
    while ((c = lf_cli_getopt(CMD, argc, argv, "o:j:nh", opts, "B")) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'j': {
            uint64_t v;
            if (lf_cli_u64(CMD, "--jobs", optarg, 1, 4096, &v))
                return LF_EXIT_USAGE;
            jobs = (unsigned)v;
            break;
        }
        case 'n': dry = 1; break;
        case 'J': emit_jobs = optarg; break;
        case 'S': emit_slurm = optarg; break;
        case 'O': only = optarg; break;
        case 'C': combine = optarg; break;
        case 'E': exe_opt = optarg; break;
        case 'B':
            if (so.n_sbatch == LF_SWEEP_MAX_SBATCH)
                return lf_cli_usage(CMD, "at most %d --sbatch options", LF_SWEEP_MAX_SBATCH);
            so.sbatch[so.n_sbatch++] = optarg;
            slurm_only = 1;
            break;
        case 'R':
        case 'M': {
            uint64_t v;
            if (lf_cli_u64(CMD, c == 'R' ? "--runs-per-task" : "--max-running", optarg, 1,
                           c == 'R' ? 1000000 : 100000, &v))
                return LF_EXIT_USAGE;
            if (c == 'R')
                so.per_task = (size_t)v;
            else
                so.max_running = (unsigned)v;
            slurm_only = 1;
            break;
        }
        case 'K': so.combine = 1; slurm_only = 1; break;
        case 'h': {
            char self[PATH_MAX];
            ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
            self[len > 0 ? len : 0] = '\0';
            help(self);
            return LF_EXIT_OK;
        }
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind + 1 < argc)
        return lf_cli_usage(CMD, "one sweep file expected, got '%s' too", argv[optind + 1]);
    const char *file = optind < argc ? argv[optind] : NULL;
    char combine_conf[4200];
    if (combine) {
        if (out || dry || emit_jobs || emit_slurm || only)
            return lf_cli_usage(CMD, "--combine DIR goes alone (optionally with the sweep file)");
        if (!file) {
            snprintf(combine_conf, sizeof combine_conf, "%s/sweep.conf", combine);
            file = combine_conf;
            if (!lf_file_exists(file)) {
                lf_err err;
                lf_fail(&err, LF_EIO,
                        "%s: no sweep.conf (llmflash sweep copies the sweep file there); name "
                        "the sweep file: llmflash sweep FILE.conf --combine %s",
                        combine, combine);
                return lf_cli_error(CMD, &err);
            }
        }
        out = combine;
    }
    if (!file)
        return lf_cli_usage(CMD, "missing the sweep file (e.g. experiments/fig7.conf)");
    if (!out)
        return lf_cli_usage(CMD, "missing --out DIR (e.g. --out results/fig7)");
    struct stat out_st;
    if (stat(out, &out_st) == 0 && !S_ISDIR(out_st.st_mode))
        return lf_cli_usage(CMD, "--out %s is a file, not a folder: give the folder the runs "
                            "go in (it is made when missing)", out);
    if (slurm_only && !emit_slurm)
        return lf_cli_usage(CMD, "--sbatch, --runs-per-task, --max-running and --slurm-combine "
                                 "shape the script of --emit-slurm FILE");
    if (exe_opt && !emit_slurm && !emit_jobs)
        return lf_cli_usage(CMD, "--exe names the binary of the emitted jobs (--emit-jobs, "
                                 "--emit-slurm)");
    if (lf_cli_refuse_same(CMD, emit_jobs, file, LF_CLI_END) ||
        lf_cli_refuse_same(CMD, emit_slurm, file, emit_jobs, LF_CLI_END))
        return LF_EXIT_FAIL;
    if (only && (dry || emit_jobs || emit_slurm))
        return lf_cli_usage(CMD, "--only runs one configuration; it does not mix with "
                                 "--dry-run or --emit-*");

    lf_sweep s;
    lf_err err;
    if (lf_sweep_load(file, &s, &err) != LF_OK)
        return lf_cli_error(CMD, &err);

    /* The command each run executes: this binary, or (for tests of the runner) a shell
     * command given in LLMFLASH_SWEEP_CMD that receives the arguments as "$@". */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = '\0';
    else
        snprintf(exe, sizeof exe, "/proc/self/exe");
    const char *fake = getenv("LLMFLASH_SWEEP_CMD");
    const char *self_prefix[] = {exe, NULL};
    const char *fake_prefix[] = {"/bin/sh", "-c", fake, "llmflash-sweep", NULL};
    const char *const *prefix = fake && *fake ? fake_prefix : self_prefix;

    int rc;
    if (!combine && (rc = lf_cli_sweep_check(&s, exe, !(fake && *fake))) != 0) {
        lf_sweep_free(&s);
        return rc;
    }
    if (combine)
        rc = print_combine(out, &s);
    else if (dry)
        rc = dry_run(&s, out, prefix);
    else if (emit_jobs || emit_slurm)
        rc = emit(&s, out, exe_opt ? exe_opt : exe, emit_jobs, emit_slurm, &so);
    else
        rc = run(&s, out, prefix, jobs, only, prefix == self_prefix);
    lf_sweep_free(&s);
    return rc;
}
