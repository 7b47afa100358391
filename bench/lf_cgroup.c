/* A memory cgroup for this process: found (v2, then v1) or named by LLMFLASH_CGROUP_ROOT,
 * made, entered, its limit fitted to the page-cache budget, left and removed. */
#include "lf_cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lf_fs.h"

#define CGROUP_V1_MAGIC 0x27e0ebL /* linux/magic.h: CGROUP_SUPER_MAGIC */
#define CGROUP_V2_MAGIC 0x63677270L /* CGROUP2_SUPER_MAGIC */
#define PATHCAP 4200

struct lf_cgroup {
    int version;
    char dir[PATHCAP];       /* the cgroup's folder */
    char home[PATHCAP];      /* the cgroup the process came from */
    uint64_t budget, limit;
    uint64_t in_flight;      /* bytes of buffered reads in flight: locked, not evictable */
};

/* The live cgroup, for the signal handler (one per process): paths ready to use. */
static char sig_home_procs[PATHCAP], sig_dir[PATHCAP], sig_pid[24];
static atomic_int sig_live;
static atomic_uint counter;

static void on_signal(void)
{
    if (!atomic_load(&sig_live))
        return;
    int fd = open(sig_home_procs, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t k = write(fd, sig_pid, strlen(sig_pid));
        (void)k;
        close(fd);
    }
    rmdir(sig_dir);
}

/* Reads a small file (a cgroup control) into buf, NUL-terminated. */
static int read_text(const char *dir, const char *name, char *buf, size_t cap)
{
    char p[PATHCAP + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    close(fd);
    buf[n] = 0;
    return 0;
}

/* Writes text to dir/name; returns 0 or errno. */
static int write_text(const char *dir, const char *name, const char *text)
{
    char p[PATHCAP + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    ssize_t k = write(fd, text, strlen(text));
    int e = k < 0 ? errno : 0;
    close(fd);
    return e;
}

/* 1 when the whitespace-separated list holds word. */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || isspace((unsigned char)p[-1]) || p[-1] == ',') &&
            (!p[n] || isspace((unsigned char)p[n]) || p[n] == ','))
            return 1;
    return 0;
}

/* The mount point and mounted root of the v2 hierarchy (version 2) or of the v1 hierarchy
 * with the memory controller (version 1), from /proc/self/mountinfo. */
static int find_mount(int version, char *mnt, char *mroot)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return -1;
    char line[8192];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char root[PATHCAP], point[PATHCAP], fstype[64], source[256], super[1024] = "";
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %4199s %4199s", root, point) != 2 ||
            sscanf(dash + 3, "%63s %255s %1023s", fstype, source, super) < 2)
            continue;
        if ((version == 2 && !strcmp(fstype, "cgroup2")) ||
            (version == 1 && !strcmp(fstype, "cgroup") && has_word(super, "memory"))) {
            snprintf(mnt, PATHCAP, "%s", point);
            snprintf(mroot, PATHCAP, "%s", root);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* This process's cgroup folder in the hierarchy of `version` (v1: memory). */
static int own_dir(int version, char *out, char *why, size_t wcap)
{
    char mnt[PATHCAP], mroot[PATHCAP];
    if (find_mount(version, mnt, mroot)) {
        snprintf(why, wcap, "no cgroup v%d %shierarchy is mounted", version,
                 version == 1 ? "memory " : "");
        return -1;
    }
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) {
        snprintf(why, wcap, "cannot read /proc/self/cgroup");
        return -1;
    }
    char line[PATHCAP + 256];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b)
            continue;
        *b = 0;
        const char *ctl = a + 1, *path = b + 1;
        if (version == 2 ? !strcmp(line, "0") && !*ctl : has_word(ctl, "memory")) {
            /* the path is relative to the cgroup namespace's root, the mount's root too */
            size_t rl = strlen(mroot);
            if (strcmp(mroot, "/") && !strncmp(path, mroot, rl))
                path += rl;
            snprintf(out, PATHCAP, "%s%s", mnt, strcmp(path, "/") ? path : "");
            found = 0;
        }
    }
    fclose(f);
    if (found)
        snprintf(why, wcap, "/proc/self/cgroup names no cgroup v%d %s", version,
                 version == 1 ? "memory cgroup" : "path");
    return found;
}

/* Where the cgroup goes: *version and parent, or -1 with the reason. */
static int choose_parent(int *version, char *parent, char *why, size_t wcap)
{
    char text[1024];
    const char *env = getenv("LLMFLASH_CGROUP_ROOT");
    if (env && *env) {
        struct statfs sf;
        snprintf(parent, PATHCAP, "%s", env);
        if (statfs(env, &sf) != 0) {
            snprintf(why, wcap, "LLMFLASH_CGROUP_ROOT=%s: %s", env, strerror(errno));
            return -1;
        }
        if ((long)sf.f_type == CGROUP_V2_MAGIC) {
            *version = 2;
            if (read_text(env, "cgroup.subtree_control", text, sizeof text) == 0 &&
                has_word(text, "memory"))
                return 0;
            snprintf(why, wcap, "LLMFLASH_CGROUP_ROOT=%s: its cgroup.subtree_control does not "
                     "enable the memory controller", env);
            return -1;
        }
        if ((long)sf.f_type == CGROUP_V1_MAGIC &&
            read_text(env, "memory.limit_in_bytes", text, sizeof text) == 0) {
            *version = 1;
            return 0;
        }
        snprintf(why, wcap, "LLMFLASH_CGROUP_ROOT=%s is not a folder of a memory cgroup "
                 "hierarchy", env);
        return -1;
    }
    char mnt[PATHCAP], mroot[PATHCAP], why2[512] = "";
    if (find_mount(2, mnt, mroot) == 0) {
        if (read_text(mnt, "cgroup.subtree_control", text, sizeof text) == 0 &&
            has_word(text, "memory")) {
            *version = 2;
            snprintf(parent, PATHCAP, "%s", mnt);
            return 0;
        }
        char ctl[512] = "";
        read_text(mnt, "cgroup.controllers", ctl, sizeof ctl);
        ctl[strcspn(ctl, "\n")] = 0;
        snprintf(why2, sizeof why2, "cgroup v2 at %s does not enable the memory controller for "
                 "its children (cgroup.controllers: %s)", mnt, *ctl ? ctl : "none");
    } else {
        snprintf(why2, sizeof why2, "no cgroup v2 hierarchy");
    }
    char v1why[512];
    if (own_dir(1, parent, v1why, sizeof v1why) == 0) {
        *version = 1;
        return 0;
    }
    snprintf(why, wcap, "%s; %s", why2, v1why);
    return -1;
}

/* Removes "llmflash.<pid>.*" cgroups of processes that are gone (empty: rmdir works). */
static void remove_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "llmflash.", 9) || !isdigit((unsigned char)e->d_name[9]))
            continue;
        long pid = strtol(e->d_name + 9, NULL, 10);
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

int lf_cgroup_open(uint64_t budget, lf_cgroup **out, lf_err *err)
{
    *out = NULL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&sig_live, &expect, 2))
        return lf_fail(err, LF_EUNSUP, "memory cgroup: this process already holds one (%s)",
                       sig_dir);
    lf_cgroup *g = calloc(1, sizeof *g);
    char why[1200];
    int rc = LF_OK;
    if (!g) {
        rc = lf_fail(err, LF_ENOMEM, "memory cgroup: out of memory");
        goto out;
    }
    g->budget = budget;
    char parent[PATHCAP];
    if (choose_parent(&g->version, parent, why, sizeof why) ||
        own_dir(g->version, g->home, why, sizeof why)) {
        rc = lf_fail(err, LF_EUNSUP, "memory cgroup: %s", why);
        goto out;
    }
    remove_stale(parent);
    snprintf(g->dir, sizeof g->dir, "%s/llmflash.%ld.%u", parent, (long)getpid(),
             atomic_fetch_add(&counter, 1));
    if (mkdir(g->dir, 0755) != 0) {
        rc = lf_fail_errno(err, LF_EUNSUP, errno, "memory cgroup: cannot make %s (root, and a "
                           "writable memory hierarchy, are needed)", g->dir);
        goto out;
    }
    /* anonymous memory is never swapped out for the page cache's sake (best effort) */
    if (g->version == 1)
        write_text(g->dir, "memory.swappiness", "0");
    else
        write_text(g->dir, "memory.swap.max", "0");
    snprintf(sig_home_procs, sizeof sig_home_procs, "%s/cgroup.procs", g->home);
    snprintf(sig_dir, sizeof sig_dir, "%s", g->dir);
    snprintf(sig_pid, sizeof sig_pid, "%ld", (long)getpid());
    lf_fs_at_signal(on_signal);
    /* live before the move: a signal during it takes the process out again */
    atomic_store(&sig_live, 1);
    int e = write_text(g->dir, "cgroup.procs", sig_pid);
    if (e) {
        atomic_store(&sig_live, 2);
        rmdir(g->dir);
        rc = lf_fail_errno(err, LF_EUNSUP, e, "memory cgroup: cannot move the process into %s",
                           g->dir);
        goto out;
    }
    *out = g;
    return LF_OK;
out:
    free(g);
    atomic_store(&sig_live, 0);
    return rc;
}

/* "key value" in a memory.stat text. */
static int stat_value(const char *text, const char *key, uint64_t *v)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, n) && p[n] == ' ') {
            *v = strtoull(p + n + 1, NULL, 10);
            return 0;
        }
    return -1;
}

void lf_cgroup_set_budget(lf_cgroup *g, uint64_t budget)
{
    g->budget = budget;
}

void lf_cgroup_set_in_flight(lf_cgroup *g, uint64_t in_flight)
{
    g->in_flight = in_flight;
}

int lf_cgroup_fit(lf_cgroup *g, uint64_t headroom, lf_err *err)
{
    char usage[64], stat[8192];
    uint64_t charge, file;
    if (read_text(g->dir, g->version == 1 ? "memory.usage_in_bytes" : "memory.current", usage,
                  sizeof usage) ||
        read_text(g->dir, "memory.stat", stat, sizeof stat) ||
        stat_value(stat, g->version == 1 ? "cache" : "file", &file))
        return lf_fail_errno(err, LF_EIO, errno, "memory cgroup %s: cannot read its charge",
                             g->dir);
    charge = strtoull(usage, NULL, 10);
    uint64_t least = lf_cgroup_floor(g->in_flight);
    uint64_t room = g->budget > least ? g->budget : least;
    /* a quarter more than announced: touching memory charges page tables and a
     * sanitizer's shadow (an eighth) beside the pages */
    uint64_t limit = (charge > file ? charge - file : 0) + headroom + headroom / 4 + room +
                     LF_CGROUP_ROOM;
    if (limit == g->limit)
        return LF_OK;
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)limit);
    int e = write_text(g->dir, g->version == 1 ? "memory.limit_in_bytes" : "memory.max", text);
    if (e)
        return lf_fail_errno(err, LF_EIO, e, "memory cgroup %s: cannot set its limit to %s bytes",
                             g->dir, text);
    g->limit = limit;
    return LF_OK;
}

int lf_cgroup_close(lf_cgroup *g, lf_err *err)
{
    if (!g)
        return LF_OK;
    int rc = LF_OK, e = write_text(g->home, "cgroup.procs", sig_pid);
    if (e) { /* still inside: the signal handler keeps trying, and no second cgroup */
        rc = lf_fail_errno(err, LF_EIO, e, "memory cgroup: cannot move the process back to %s",
                           g->home);
    } else {
        atomic_store(&sig_live, 0);
        /* the kernel may still list an exiting helper thread for a moment */
        int tries = 0, r;
        while ((r = rmdir(g->dir)) != 0 && errno == EBUSY && ++tries < 200)
            usleep(5000);
        if (r != 0)
            rc = lf_fail_errno(err, LF_EIO, errno, "memory cgroup: cannot remove %s", g->dir);
    }
    free(g);
    return rc;
}

uint64_t lf_cgroup_floor(uint64_t in_flight)
{
    return 2 * in_flight > LF_CGROUP_FLOOR ? 2 * in_flight : LF_CGROUP_FLOOR;
}

uint64_t lf_cgroup_slack(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF), page = sysconf(_SC_PAGESIZE);
    return LF_CGROUP_ROOM + (uint64_t)(cpus > 0 ? cpus : 1) * 64 * (uint64_t)(page > 0 ? page : 4096);
}

const char *lf_cgroup_path(const lf_cgroup *g)
{
    return g->dir;
}

int lf_cgroup_version(const lf_cgroup *g)
{
    return g->version;
}

uint64_t lf_cgroup_limit(const lf_cgroup *g)
{
    return g->limit;
}
