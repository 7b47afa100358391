#include "lf_sweep_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

/* Makes run i's folder, writes its sweep.cmd, opens its sweep.log (truncated) and
 * /dev/null; *argv receives the command (prefix included). */
static int prepare(const lf_sweep *s, size_t i, const char *out_dir, const char *const *prefix,
                   char ***argv_out, int *logfd_out, int *nullfd_out, lf_err *err)
{
    char dir[4096], p[4200];
    lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
    int rc = lf_mkdirs(dir, err);
    if (rc != LF_OK)
        return rc;
    char **argv = lf_sweep_argv(s, i, prefix, dir, err);
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
    *argv_out = argv;
    *logfd_out = logfd;
    *nullfd_out = nullfd;
    return LF_OK;
}

/* Starts run i; *pid receives the child. */
static int launch(const lf_sweep *s, size_t i, const char *out_dir, const lf_sweep_exec *ex,
                  pid_t *pid, lf_err *err)
{
    char **argv = NULL;
    int logfd = -1, nullfd = -1;
    int rc = prepare(s, i, out_dir, ex->prefix, &argv, &logfd, &nullfd, err);
    if (rc != LF_OK)
        return rc;
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
    if (child < 0) {
        char dir[4096];
        lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
        return lf_fail_errno(err, LF_EIO, saved, "cannot start run %s (fork)", dir);
    }
    *pid = child;
    return LF_OK;
}

static int status_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Judges a finished run by its exit status `code`: ok needs 0 and the first collect
 * file. */
static int finish(const lf_sweep *s, size_t i, const char *out_dir, int code)
{
    char dir[4096], done[4200], result[4200];
    lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
    snprintf(done, sizeof done, "%s/done", dir);
    snprintf(result, sizeof result, "%s/%s", dir, s->collect[0]);
    if (code != 0) {
        unlink(done);
        log_line(dir, "llmflash sweep: the run failed with exit status %d; no done marker\n",
                 code);
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

/* ---- worker processes (ex->run_inproc) ---- */

typedef struct {
    pid_t pid;     /* 0: none */
    int cmd_fd;    /* parent -> worker: run indices */
    int res_fd;    /* worker -> parent: (index, exit status) */
    int busy;
    size_t run;    /* the run it holds when busy */
} worker;

typedef struct {
    size_t index;
    int code;
} worker_result;

static int full_io(int fd, void *buf, size_t n, int writing)
{
    char *p = buf;
    while (n) {
        ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A worker's life: take a run index, run it with stdout and stderr in its sweep.log,
 * answer with its exit status; end when the parent closes the command pipe. */
static void worker_main(const lf_sweep *s, const char *out_dir, const lf_sweep_exec *ex,
                        int cmd_fd, int res_fd)
{
    static const char *const no_prefix[] = {NULL};
    int out_fd = dup(1), err_fd = dup(2);
    size_t i;
    while (full_io(cmd_fd, &i, sizeof i, 0) == 0) {
        char dir[4096], p[4200];
        lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
        snprintf(p, sizeof p, "%s/sweep.log", dir);
        worker_result r = {i, 127};
        lf_err e;
        char **argv = lf_sweep_argv(s, i, no_prefix, dir, &e);
        int logfd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        if (argv && logfd >= 0) {
            int argc = 0;
            while (argv[argc])
                argc++;
            fflush(NULL);
            dup2(logfd, 1);
            dup2(logfd, 2);
            r.code = ex->run_inproc(argc, argv);
            fflush(NULL);
            dup2(out_fd, 1);
            dup2(err_fd, 2);
        }
        if (logfd >= 0)
            close(logfd);
        lf_sweep_argv_free(argv);
        if (full_io(res_fd, &r, sizeof r, 1) != 0)
            break;
    }
    _exit(0);
}

static int worker_start(const lf_sweep *s, const char *out_dir, const lf_sweep_exec *ex,
                        worker *w, worker *all, unsigned n_all, lf_err *err)
{
    int cmd[2], res[2];
    if (pipe(cmd) != 0)
        return lf_fail_errno(err, LF_EIO, errno, "sweep: cannot make a worker's pipe");
    if (pipe(res) != 0) {
        int saved = errno;
        close(cmd[0]), close(cmd[1]);
        return lf_fail_errno(err, LF_EIO, saved, "sweep: cannot make a worker's pipe");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* only this worker's ends stay open, so every worker sees its own EOF */
        for (unsigned k = 0; k < n_all; k++)
            if (all[k].pid) {
                close(all[k].cmd_fd);
                close(all[k].res_fd);
            }
        close(cmd[1]);
        close(res[0]);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0) {
            dup2(nullfd, 0);
            close(nullfd);
        }
        worker_main(s, out_dir, ex, cmd[0], res[1]);
    }
    int saved = errno;
    close(cmd[0]);
    close(res[1]);
    if (pid < 0) {
        close(cmd[1]), close(res[0]);
        return lf_fail_errno(err, LF_EIO, saved, "sweep: cannot start a worker (fork)");
    }
    w->pid = pid;
    w->cmd_fd = cmd[1];
    w->res_fd = res[0];
    w->busy = 0;
    return LF_OK;
}

/* Ends a worker whose result pipe is closed or that must stop; returns its exit status. */
static int worker_reap(worker *w)
{
    close(w->cmd_fd);
    close(w->res_fd);
    int st = 0;
    while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
    w->busy = 0;
    return status_code(st);
}

static void record(const lf_sweep *s, const char *out_dir, lf_sweep_report *rep, size_t i,
                   int code)
{
    rep->exit_code[i] = code;
    rep->state[i] = (unsigned char)finish(s, i, out_dir, code);
    if (rep->state[i] == LF_RUN_OK)
        rep->ok++;
    else
        rep->failed++;
}

/* Worker k's share of the runs is the span [lo[k], hi[k]): it takes them in order, so the
 * runs of a grid that differ only in their last keys (a layout, reads in flight) follow
 * each other in one worker, which replays the policy once for them (sim/lf_plans). A
 * worker whose span is empty takes the last run of the longest other span. Runs already
 * done are skipped on the way. Returns the run to start, or end when none is left. */
static size_t take_run(const lf_sweep *s, const char *out_dir, size_t *lo, size_t *hi,
                       unsigned jobs, unsigned k, size_t end, lf_sweep_report *rep)
{
    for (;;) {
        unsigned from = k;
        if (lo[k] == hi[k])
            for (unsigned j = 0; j < jobs; j++)
                if (hi[j] - lo[j] > hi[from] - lo[from])
                    from = j;
        if (lo[from] == hi[from])
            return end;
        size_t i = from == k ? lo[from]++ : --hi[from];
        if (!lf_sweep_is_done(s, i, out_dir))
            return i;
        rep->state[i] = LF_RUN_SKIPPED;
        rep->skipped++;
    }
}

static int run_workers(const lf_sweep *s, const char *out_dir, const lf_sweep_exec *ex,
                       unsigned jobs, size_t first, size_t end, lf_sweep_report *rep,
                       lf_progress *prog, lf_err *err)
{
    worker *w = calloc(jobs, sizeof *w);
    struct pollfd *pfd = calloc(jobs, sizeof *pfd);
    size_t *lo = calloc(jobs, sizeof *lo), *hi = calloc(jobs, sizeof *hi);
    if (!w || !pfd || !lo || !hi) {
        free(w);
        free(pfd);
        free(lo);
        free(hi);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    size_t span = (end - first + jobs - 1) / jobs;
    for (unsigned k = 0; k < jobs; k++) {
        lo[k] = first + k * span < end ? first + k * span : end;
        hi[k] = lo[k] + span < end ? lo[k] + span : end;
    }
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    int rc = LF_OK;
    for (;;) {
        /* hand the next runs to idle workers, starting workers as needed */
        for (unsigned k = 0; k < jobs && rc == LF_OK; k++) {
            if (w[k].busy)
                continue;
            if (ex->stop && *ex->stop)
                break; /* interrupted: start nothing more */
            size_t next = take_run(s, out_dir, lo, hi, jobs, k, end, rep);
            if (next == end)
                break; /* all handed out */
            if (!w[k].pid && (rc = worker_start(s, out_dir, ex, &w[k], w, jobs, err)) != LF_OK)
                break;
            char **argv = NULL;
            int logfd = -1, nullfd = -1;
            if ((rc = prepare(s, next, out_dir, ex->prefix, &argv, &logfd, &nullfd, err)) != LF_OK)
                break;
            close(logfd);
            close(nullfd);
            lf_sweep_argv_free(argv);
            size_t i = next;
            if (full_io(w[k].cmd_fd, &i, sizeof i, 1) != 0) {
                int code = worker_reap(&w[k]);
                record(s, out_dir, rep, i, code ? code : 127);
                continue;
            }
            w[k].busy = 1;
            w[k].run = i;
        }
        unsigned n = 0;
        for (unsigned k = 0; k < jobs; k++)
            if (w[k].busy) {
                pfd[n].fd = w[k].res_fd;
                pfd[n].events = POLLIN;
                n++;
            }
        if (n == 0)
            break;
        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = lf_fail_errno(err, LF_EIO, errno, "waiting for sweep workers");
            break; /* the busy workers are stopped below, their runs failed */
        }
        for (unsigned k = 0, j = 0; k < jobs; k++) {
            if (!w[k].busy)
                continue;
            short ev = pfd[j++].revents;
            if (!ev)
                continue;
            worker_result r;
            if ((ev & POLLIN) && full_io(w[k].res_fd, &r, sizeof r, 0) == 0 && r.index == w[k].run) {
                w[k].busy = 0;
                record(s, out_dir, rep, r.index, r.code);
            } else {
                /* the worker died inside the run: that run fails, the others go on */
                size_t i = w[k].run;
                int code = worker_reap(&w[k]);
                record(s, out_dir, rep, i, code ? code : 127);
                char dir[4096];
                lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
                log_line(dir, "llmflash sweep: the worker running this run died (status %d)\n",
                         code);
            }
            lf_progress_update(prog, rep->skipped + rep->ok + rep->failed);
        }
    }
    for (unsigned k = 0; k < jobs; k++) {
        if (!w[k].pid)
            continue;
        if (w[k].busy) {
            kill(w[k].pid, SIGTERM);
            record(s, out_dir, rep, w[k].run, 128 + SIGTERM);
        }
        worker_reap(&w[k]);
    }
    signal(SIGPIPE, old_pipe);
    free(w);
    free(pfd);
    free(lo);
    free(hi);
    return rc;
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
    if (ex->run_inproc) {
        rc = run_workers(s, out_dir, ex, jobs, first, end, rep, &prog, err);
        next = end;
    }
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
            rep->exit_code[i] = status_code(st);
            rep->state[i] = (unsigned char)finish(s, i, out_dir, rep->exit_code[i]);
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
                       int *replaced, lf_err *err)
{
    if (replaced)
        *replaced = 0;
    snprintf(copy_path, cap, "%s/sweep.conf", out_dir);
    int rc = lf_mkdirs(out_dir, err);
    if (rc != LF_OK)
        return rc;
    struct stat a, b;
    if (stat(s->path, &a) == 0 && stat(copy_path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return LF_OK;
    char *data, *old = NULL;
    size_t len, old_len;
    if ((rc = lf_read_file(s->path, &data, &len, err)) != LF_OK)
        return rc;
    lf_err ignored;
    if (replaced && lf_read_file(copy_path, &old, &old_len, &ignored) == LF_OK)
        *replaced = old_len != len || memcmp(old, data, len) != 0;
    free(old);
    rc = lf_write_file_atomic(copy_path, data, len, err);
    free(data);
    return rc;
}
