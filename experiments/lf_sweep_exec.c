#include "lf_sweep_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_fs.h"
#include "lf_time.h"

void lf_sweep_report_free(lf_sweep_report *r)
{
    free(r->state);
    free(r->exit_code);
    memset(r, 0, sizeof *r);
}

void lf_sweep_run_dir(const lf_sweep *s, size_t index, const char *out_dir, char *buf,
                      size_t cap)
{
    char id[LF_SWEEP_ID_MAX];
    lf_sweep_run_id(s, index, id);
    snprintf(buf, cap, "%s/%s", out_dir, id);
}

static void file_in(const lf_sweep *s, size_t index, const char *out_dir, const char *name,
                    char *buf, size_t cap)
{
    char dir[4096];
    lf_sweep_run_dir(s, index, out_dir, dir, sizeof dir);
    snprintf(buf, cap, "%s/%s", dir, name);
}

int lf_sweep_is_done(const lf_sweep *s, size_t index, const char *out_dir)
{
    char p[4200];
    file_in(s, index, out_dir, "done", p, sizeof p);
    return lf_file_exists(p);
}

static int join_argv(char *const *argv, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; argv[i]; i++) {
        if (i && strlen(buf) + 2 > cap)
            return -1;
        if (i)
            strcat(buf, " ");
        if (lf_sweep_shell_quote(buf, cap, argv[i]) != 0)
            return -1;
    }
    return 0;
}

int lf_sweep_command_line(const lf_sweep *s, size_t index, const char *const *prefix,
                          const char *out_dir, char *buf, size_t cap, lf_err *err)
{
    char dir[4096];
    lf_sweep_run_dir(s, index, out_dir, dir, sizeof dir);
    char **argv = lf_sweep_argv(s, index, prefix, dir, err);
    if (!argv)
        return err ? err->code : LF_ENOMEM;
    int rc = join_argv(argv, buf, cap) == 0
                 ? LF_OK
                 : lf_fail(err, LF_EINVAL, "%s: the command of run %zu is longer than %zu bytes",
                           s->path, index, cap);
    lf_sweep_argv_free(argv);
    return rc;
}

/* Appends a line to a run's sweep.log (best effort: the log is for people). */
static void log_line(const char *dir, const char *fmt, int a)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/sweep.log", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return;
    }
    fprintf(f, fmt, a);
    fclose(f);
}

/* Starts run i; *pid receives the child. */
static int launch(const lf_sweep *s, size_t i, const char *out_dir, const lf_sweep_exec *ex,
                  pid_t *pid, lf_err *err)
{
    char dir[4096], p[4200];
    lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
    int rc = lf_mkdirs(dir, err);
    if (rc != LF_OK)
        return rc;
    char **argv = lf_sweep_argv(s, i, ex->prefix, dir, err);
    if (!argv)
        return err ? err->code : LF_ENOMEM;
    char line[16384];
    if (join_argv(argv, line, sizeof line - 1) != 0) {
        lf_sweep_argv_free(argv);
        return lf_fail(err, LF_EINVAL, "%s: the command of run %s is too long", s->path, dir);
    }
    strcat(line, "\n");
    snprintf(p, sizeof p, "%s/sweep.cmd", dir);
    if ((rc = lf_write_file_atomic(p, line, strlen(line), err)) != LF_OK) {
        lf_sweep_argv_free(argv);
        return rc;
    }
    snprintf(p, sizeof p, "%s/sweep.log", dir);
    /* O_NOFOLLOW: never truncate a file through a link planted at this name */
    int logfd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: cannot create the run's log", p);
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        lf_sweep_argv_free(argv);
        return rc;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(argv[0], argv);
        dprintf(2, "llmflash sweep: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int saved = errno;
    close(logfd);
    close(nullfd);
    lf_sweep_argv_free(argv);
    if (child < 0)
        return lf_fail_errno(err, LF_EIO, saved, "cannot start run %s (fork)", dir);
    *pid = child;
    return LF_OK;
}

/* Judges a finished child: ok needs exit 0 and the first collect file. */
static int finish(const lf_sweep *s, size_t i, const char *out_dir, int status, int *code)
{
    char dir[4096], done[4200], result[4200];
    lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
    snprintf(done, sizeof done, "%s/done", dir);
    snprintf(result, sizeof result, "%s/%s", dir, s->collect[0]);
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (*code != 0) {
        unlink(done);
        log_line(dir, "llmflash sweep: the run failed with exit status %d; no done marker\n",
                 *code);
        return LF_RUN_FAILED;
    }
    if (!lf_file_exists(result)) {
        unlink(done);
        log_line(dir, "llmflash sweep: exit status %d but no result file; no done marker\n", 0);
        return LF_RUN_FAILED;
    }
    if (!lf_file_exists(done)) {
        lf_err e;
        const char *msg = "finished: exit status 0 (marker written by llmflash sweep)\n";
        if (lf_write_file_atomic(done, msg, strlen(msg), &e) != LF_OK)
            return LF_RUN_FAILED;
    }
    return LF_RUN_OK;
}

int lf_sweep_run(const lf_sweep *s, const char *out_dir, const lf_sweep_exec *ex,
                 lf_sweep_report *rep, lf_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->state = calloc(s->n_runs, 1);
    rep->exit_code = malloc(s->n_runs * sizeof *rep->exit_code);
    unsigned jobs = ex->jobs;
    if (!jobs) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = n > 0 ? (unsigned)n : 1;
    }
    pid_t *pids = calloc(jobs, sizeof *pids);
    size_t *slot_run = calloc(jobs, sizeof *slot_run);
    if (!rep->state || !rep->exit_code || !pids || !slot_run) {
        free(pids);
        free(slot_run);
        lf_sweep_report_free(rep);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->n_runs; i++)
        rep->exit_code[i] = -1;
    size_t first = 0, end = s->n_runs;
    if (ex->only >= 0) {
        if ((size_t)ex->only >= s->n_runs) {
            free(pids);
            free(slot_run);
            lf_sweep_report_free(rep);
            return lf_fail(err, LF_EINVAL, "%s: run index %ld outside the grid of %zu", s->path,
                           ex->only, s->n_runs);
        }
        first = (size_t)ex->only;
        end = first + 1;
    }
    rep->total = end - first;
    lf_progress prog;
    lf_progress_start(&prog, "sweep", rep->total);
    if (!ex->progress)
        prog.enabled = 0;
    int rc = LF_OK;
    size_t next = first, running = 0;
    while ((next < end && rc == LF_OK && !(ex->stop && *ex->stop)) || running > 0) {
        while (rc == LF_OK && running < jobs && next < end && !(ex->stop && *ex->stop)) {
            size_t i = next++;
            if (lf_sweep_is_done(s, i, out_dir)) {
                rep->state[i] = LF_RUN_SKIPPED;
                rep->skipped++;
                continue;
            }
            size_t slot = 0;
            while (pids[slot])
                slot++;
            if ((rc = launch(s, i, out_dir, ex, &pids[slot], err)) != LF_OK)
                break;
            slot_run[slot] = i;
            running++;
        }
        if (!running)
            continue;
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            rc = lf_fail_errno(err, LF_EIO, errno, "waiting for sweep runs");
            break;
        }
        for (unsigned slot = 0; slot < jobs; slot++) {
            if (pids[slot] != pid)
                continue;
            size_t i = slot_run[slot];
            pids[slot] = 0;
            running--;
            rep->state[i] = (unsigned char)finish(s, i, out_dir, st, &rep->exit_code[i]);
            if (rep->state[i] == LF_RUN_OK)
                rep->ok++;
            else
                rep->failed++;
        }
        lf_progress_update(&prog, rep->skipped + rep->ok + rep->failed);
    }
    lf_progress_end(&prog);
    free(pids);
    free(slot_run);
    return rc;
}

int lf_sweep_save_copy(const lf_sweep *s, const char *out_dir, char *copy_path, size_t cap,
                       lf_err *err)
{
    snprintf(copy_path, cap, "%s/sweep.conf", out_dir);
    int rc = lf_mkdirs(out_dir, err);
    if (rc != LF_OK)
        return rc;
    struct stat a, b;
    if (stat(s->path, &a) == 0 && stat(copy_path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return LF_OK;
    char *data;
    size_t len;
    if ((rc = lf_read_file(s->path, &data, &len, err)) != LF_OK)
        return rc;
    rc = lf_write_file_atomic(copy_path, data, len, err);
    free(data);
    return rc;
}
