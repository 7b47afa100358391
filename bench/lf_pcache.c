/* The page cache held to a budget by evicting the least recently read records with
 * posix_fadvise(DONTNEED), or by a memory cgroup's limit; measured with mincore. */
#include "lf_pcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_cgroup.h"

#define NONE UINT32_MAX

struct lf_pcache {
    int fd;
    unsigned char *map;      /* PROT_READ mapping of the whole file, never touched */
    uint64_t file_bytes, data_offset, record_bytes, budget;
    uint32_t n_records;
    uint32_t *prev, *next;   /* LRUs of cached records: head = most recent */
    uint8_t *in;             /* record is in its LRU */
    uint32_t *stamp;         /* the step that last touched the record (lf_pcache_settle) */
    uint32_t step;           /* the current step, from 1 */
    uint32_t *pending, n_pending; /* evicted this step before their reads: dropped at settle */
    uint64_t group_records;  /* records per LRU */
    uint32_t n_groups;
    uint32_t *head, *tail, *count; /* per group */
    uint64_t total, max_total;
    uint64_t evictions;
    long page;
    lf_cgroup *cg;           /* the cgroup mechanism; NULL: fadvise */
    char note[1400];
};

static const char *const MECH[] = {"fadvise", "cgroup", "auto"};

int lf_pcache_mech_parse(const char *s, lf_pcache_mech *out, lf_err *err)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, MECH[i])) {
            *out = (lf_pcache_mech)i;
            return LF_OK;
        }
    return lf_fail(err, LF_EINVAL, "page-cache mechanism '%s': expected auto (a memory cgroup "
                   "when one can be created, else fadvise), cgroup or fadvise", s);
}

const char *lf_pcache_mech_name(lf_pcache_mech m)
{
    return (unsigned)m < 3 ? MECH[m] : "?";
}

/* The cgroup mechanism, or for `auto` the fallback's reason in the note. */
static int open_cgroup(lf_pcache *p, const lf_pcache_cfg *c, lf_err *err)
{
    uint64_t total = c->budget * (c->group_records && c->groups ? c->groups : 1);
    lf_err e2;
    int rc = lf_cgroup_open(total, &p->cg, &e2);
    if (rc == LF_OK) {
        lf_cgroup_set_in_flight(p->cg, c->in_flight);
        snprintf(p->note, sizeof p->note, "cgroup v%d %s: limit = its non-file charge + "
                 "page-cache budget %llu (at least %llu: twice the reads in flight, at least "
                 "%llu MiB) + %llu MiB, fitted before every step; the kernel evicts",
                 lf_cgroup_version(p->cg), lf_cgroup_path(p->cg),
                 (unsigned long long)total, (unsigned long long)lf_cgroup_floor(c->in_flight),
                 (unsigned long long)(LF_CGROUP_FLOOR >> 20),
                 (unsigned long long)(LF_CGROUP_ROOM >> 20));
        return LF_OK;
    }
    if (c->mech == LF_PCACHE_CGROUP) {
        *err = e2;
        return rc;
    }
    snprintf(p->note, sizeof p->note, "auto: fadvise; %s", e2.msg);
    return LF_OK;
}

int lf_pcache_open(const char *path, const lf_pcache_cfg *c, lf_pcache **out, lf_err *err)
{
    uint64_t data_offset = c->data_offset, record_bytes = c->record_bytes;
    uint64_t group_records = c->group_records, budget = c->budget;
    *out = NULL;
    if (record_bytes == 0)
        return lf_fail(err, LF_EINVAL, "page cache: record size must be positive");
    lf_pcache *p = calloc(1, sizeof *p);
    if (!p)
        return lf_fail(err, LF_ENOMEM, "page cache: out of memory");
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    p->page = sysconf(_SC_PAGESIZE);
    p->map = MAP_FAILED;
    int rc = LF_OK;
    struct stat st;
    if (p->fd < 0 || fstat(p->fd, &st) != 0) {
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: cannot open for buffered reads", path);
        goto fail;
    }
    p->file_bytes = (uint64_t)st.st_size;
    if (data_offset > p->file_bytes || (p->file_bytes - data_offset) / record_bytes > UINT32_MAX - 1) {
        rc = lf_fail(err, LF_EINVAL, "%s: data offset %llu / record size %llu do not fit the "
                     "file's %llu bytes", path, (unsigned long long)data_offset,
                     (unsigned long long)record_bytes, (unsigned long long)p->file_bytes);
        goto fail;
    }
    p->data_offset = data_offset;
    p->record_bytes = record_bytes;
    p->budget = budget;
    p->n_records = (uint32_t)((p->file_bytes - data_offset) / record_bytes);
    p->prev = malloc(sizeof *p->prev * (p->n_records + 1));
    p->next = malloc(sizeof *p->next * (p->n_records + 1));
    p->in = calloc(p->n_records + 1, 1);
    p->stamp = calloc(p->n_records + 1, sizeof *p->stamp);
    p->pending = malloc((p->n_records + 1) * sizeof *p->pending);
    p->step = 1;
    p->group_records = group_records ? group_records : (uint64_t)p->n_records + 1;
    p->n_groups = (uint32_t)((p->n_records + p->group_records - 1) / p->group_records) + 1;
    p->head = malloc(sizeof *p->head * p->n_groups);
    p->tail = malloc(sizeof *p->tail * p->n_groups);
    p->count = calloc(p->n_groups, sizeof *p->count);
    if (!p->prev || !p->next || !p->in || !p->stamp || !p->pending || !p->head || !p->tail ||
        !p->count) {
        rc = lf_fail(err, LF_ENOMEM, "page cache: out of memory for %u records", p->n_records);
        goto fail;
    }
    for (uint32_t g = 0; g < p->n_groups; g++)
        p->head[g] = p->tail[g] = NONE;
    p->map = mmap(NULL, p->file_bytes ? p->file_bytes : 1, PROT_READ, MAP_SHARED, p->fd, 0);
    if (p->map == MAP_FAILED) {
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: cannot map the file for mincore", path);
        goto fail;
    }
    /* dirty pages cannot be dropped: a file written moments ago is synced first */
    (void)fdatasync(p->fd);
    /* readahead would pull in neighbouring records the LRU does not know about */
    int e1 = posix_fadvise(p->fd, 0, 0, POSIX_FADV_RANDOM);
    int e2 = posix_fadvise(p->fd, 0, 0, POSIX_FADV_DONTNEED);
    if (e1 || e2) {
        rc = lf_fail_errno(err, LF_EUNSUP, e1 ? e1 : e2, "%s: posix_fadvise refused: the page "
                           "cache cannot be bounded on this file system", path);
        goto fail;
    }
    /* after the drop: what the cgroup is charged with is what this run reads */
    if (c->mech != LF_PCACHE_FADVISE && (rc = open_cgroup(p, c, err)))
        goto fail;
    *out = p;
    return LF_OK;
fail:
    lf_pcache_close(p);
    return rc;
}

void lf_pcache_close(lf_pcache *p)
{
    if (!p)
        return;
    if (p->cg) { /* uncharge the cgroup (its pages would keep it alive), then remove it */
        (void)posix_fadvise(p->fd, 0, 0, POSIX_FADV_DONTNEED);
        lf_cgroup_close(p->cg, NULL);
    }
    if (p->map != MAP_FAILED && p->map)
        munmap(p->map, p->file_bytes ? p->file_bytes : 1);
    if (p->fd >= 0)
        close(p->fd);
    free(p->prev);
    free(p->next);
    free(p->in);
    free(p->stamp);
    free(p->pending);
    free(p->head);
    free(p->tail);
    free(p->count);
    free(p);
}

int lf_pcache_fd(const lf_pcache *p)
{
    return p->fd;
}

const char *lf_pcache_mechanism(const lf_pcache *p)
{
    return p->cg ? "cgroup" : "fadvise";
}

const char *lf_pcache_note(const lf_pcache *p)
{
    return p->note;
}

int lf_pcache_fit(lf_pcache *p, uint64_t headroom, lf_err *err)
{
    return p->cg ? lf_cgroup_fit(p->cg, headroom, err) : LF_OK;
}

uint64_t lf_pcache_budget(const lf_pcache *p)
{
    return p->budget;
}

/* mincore over [offset, offset+len): resident bytes (whole pages, clipped to the range). */
static int resident_bytes(const lf_pcache *p, uint64_t offset, uint64_t len, uint64_t *out,
                          lf_err *err)
{
    *out = 0;
    if (offset >= p->file_bytes || len == 0)
        return LF_OK;
    if (len > p->file_bytes - offset)
        len = p->file_bytes - offset;
    uint64_t pg = (uint64_t)p->page, first = offset / pg, last = (offset + len - 1) / pg;
    size_t n = (size_t)(last - first + 1);
    unsigned char small[1024], *vec = n <= sizeof small ? small : malloc(n);
    if (!vec)
        return lf_fail(err, LF_ENOMEM, "page cache: out of memory for mincore");
    int rc = LF_OK;
    if (mincore(p->map + first * pg, n * pg > p->file_bytes - first * pg ? p->file_bytes - first * pg
                                                                      : n * pg, vec) != 0)
        rc = lf_fail_errno(err, LF_EIO, errno, "page cache: mincore failed");
    else
        for (size_t i = 0; i < n; i++)
            if (vec[i] & 1) {
                uint64_t a = (first + i) * pg, b = a + pg;
                a = a < offset ? offset : a;
                b = b > offset + len ? offset + len : b;
                *out += b - a;
            }
    if (vec != small)
        free(vec);
    return rc;
}

int lf_pcache_resident(const lf_pcache *p, uint64_t offset, uint64_t len, int *all,
                       uint64_t *bytes, lf_err *err)
{
    uint64_t r;
    int rc = resident_bytes(p, offset, len, &r, err);
    uint64_t want = offset >= p->file_bytes ? 0
                    : (len > p->file_bytes - offset ? p->file_bytes - offset : len);
    *all = rc == LF_OK && r == want;
    if (bytes)
        *bytes = rc == LF_OK ? r : 0;
    return rc;
}

/* Reads a small sysfs file into buf (NUL-terminated, trailing newline cut); -1: none. */
static int read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = 0;
    return 0;
}

/* The DAMON sysfs tree: $LLMFLASH_DAMON_ROOT, default /sys/kernel/mm/damon/admin. */
static const char *damon_root(void)
{
    const char *root = getenv("LLMFLASH_DAMON_ROOT");
    return root && *root ? root : "/sys/kernel/mm/damon/admin";
}

/* Calls fn for every `pageout` scheme of every running kdamond (a few kdamonds, contexts
 * and schemes at most: the tree numbers them 0..) with the kdamond's folder, its
 * context's and the scheme's, until fn returns nonzero (returned). kdamond_fn, when
 * given, is called first for each running kdamond (nonzero: stop, returned). */
typedef int (*damon_fn)(const char *kdamond, const char *context, const char *scheme,
                        void *arg);
static int each_pageout_scheme(int (*kdamond_fn)(const char *kdamond, void *arg), damon_fn fn,
                               void *arg)
{
    const char *root = damon_root();
    char kd[4200], ctx[4300], sch[4400], p[4500], v[64];
    for (int k = 0; k < 16; k++) {
        snprintf(kd, sizeof kd, "%s/kdamonds/%d", root, k);
        snprintf(p, sizeof p, "%s/state", kd);
        if (read_small(p, v, sizeof v))
            break;
        if (strcmp(v, "on"))
            continue;
        int rc = kdamond_fn ? kdamond_fn(kd, arg) : 0;
        for (int c = 0; c < 16 && !rc; c++)
            for (int s = 0; s < 64 && !rc; s++) {
                snprintf(ctx, sizeof ctx, "%s/contexts/%d", kd, c);
                snprintf(sch, sizeof sch, "%s/schemes/%d", ctx, s);
                snprintf(p, sizeof p, "%s/action", sch);
                if (read_small(p, v, sizeof v))
                    break;
                if (!strcmp(v, "pageout"))
                    rc = fn(kd, ctx, sch, arg);
            }
        if (rc)
            return rc;
    }
    return 0;
}

/* A file below dir, or "?" when it cannot be read. */
static void read_or_unknown(const char *dir, const char *name, char *v, size_t cap)
{
    char p[4500];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (read_small(p, v, cap))
        snprintf(v, cap, "?");
}

typedef struct {
    char *note;
    size_t cap;
} note_arg;

static int describe_scheme(const char *kd, const char *ctx, const char *sch, void *arg)
{
    note_arg *a = arg;
    char age[64], aggr[64], acc[64];
    read_or_unknown(sch, "access_pattern/age/min", age, sizeof age);
    read_or_unknown(sch, "access_pattern/nr_accesses/max", acc, sizeof acc);
    read_or_unknown(ctx, "monitoring_attrs/intervals/aggr_us", aggr, sizeof aggr);
    snprintf(a->note, a->cap, "DAMON kdamond %s runs a pageout scheme (memory with at most %s "
             "accesses per aggregation interval of %s us for at least %s intervals): it "
             "reclaims page cache on its own, so records the budget keeps can be found partly "
             "cached", kd, acc, aggr, age);
    return 1;
}

int lf_pcache_outside_reclaim(char *note, size_t cap)
{
    note[0] = 0;
    note_arg a = {note, cap};
    return each_pageout_scheme(NULL, describe_scheme, &a);
}

typedef struct {
    uint64_t sum;
    int refreshed, found;
} paged_arg;

/* The stats files hold what they were at the last refresh: ask for one. */
static int refresh_stats(const char *kd, void *arg)
{
    paged_arg *a = arg;
    char p[4300];
    snprintf(p, sizeof p, "%s/state", kd);
    FILE *f = fopen(p, "w");
    a->refreshed = f && fputs("update_schemes_stats", f) >= 0;
    if (f && fclose(f) != 0)
        a->refreshed = 0;
    return 0;
}

static int add_paged(const char *kd, const char *ctx, const char *sch, void *arg)
{
    (void)kd, (void)ctx;
    paged_arg *a = arg;
    char p[4500], v[64], *end;
    snprintf(p, sizeof p, "%s/stats/sz_applied", sch);
    if (!a->refreshed || read_small(p, v, sizeof v))
        return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end)
        return -1;
    a->sum += x;
    a->found = 1;
    return 0;
}

int lf_pcache_outside_paged(uint64_t *bytes)
{
    paged_arg a = {0, 0, 0};
    int rc = each_pageout_scheme(refresh_stats, add_paged, &a);
    *bytes = a.sum;
    return rc == 0 && a.found ? 0 : -1;
}

int lf_pcache_cached_bytes(const lf_pcache *p, uint64_t *bytes, lf_err *err)
{
    return resident_bytes(p, 0, p->file_bytes, bytes, err);
}

static void unlink_rec(lf_pcache *p, uint32_t r)
{
    uint32_t g = (uint32_t)(r / p->group_records), a = p->prev[r], b = p->next[r];
    if (a != NONE)
        p->next[a] = b;
    else
        p->head[g] = b;
    if (b != NONE)
        p->prev[b] = a;
    else
        p->tail[g] = a;
    p->in[r] = 0;
    p->count[g]--;
    p->total--;
}

static void push_front(lf_pcache *p, uint32_t r)
{
    uint32_t g = (uint32_t)(r / p->group_records);
    p->prev[r] = NONE;
    p->next[r] = p->head[g];
    if (p->head[g] != NONE)
        p->prev[p->head[g]] = r;
    p->head[g] = r;
    if (p->tail[g] == NONE)
        p->tail[g] = r;
    p->in[r] = 1;
    p->count[g]++;
    p->total++;
}

static int drop(lf_pcache *p, uint32_t r, lf_err *err)
{
    int e = posix_fadvise(p->fd, (off_t)(p->data_offset + (uint64_t)r * p->record_bytes),
                          (off_t)p->record_bytes, POSIX_FADV_DONTNEED);
    p->evictions++;
    return e ? lf_fail_errno(err, LF_EIO, e, "page cache: posix_fadvise(DONTNEED) failed") : LF_OK;
}

int lf_pcache_touch(lf_pcache *p, uint64_t offset, lf_err *err)
{
    if (offset < p->data_offset || (offset - p->data_offset) % p->record_bytes)
        return lf_fail(err, LF_EINVAL, "page cache: offset %llu is not the start of a record",
                       (unsigned long long)offset);
    uint64_t r64 = (offset - p->data_offset) / p->record_bytes;
    if (r64 >= p->n_records)
        return lf_fail(err, LF_ERANGE, "page cache: record at %llu beyond the file",
                       (unsigned long long)offset);
    uint32_t r = (uint32_t)r64;
    if (p->cg)
        return LF_OK;
    if (p->in[r])
        unlink_rec(p, r);
    push_front(p, r);
    p->stamp[r] = p->step;
    uint32_t g = (uint32_t)(r / p->group_records);
    uint64_t fit = p->budget / p->record_bytes;
    while (p->count[g] > fit) {
        uint32_t v = p->tail[g];
        unlink_rec(p, v);
        /* touched this step, so read after this: dropping it now would leave its read's
         * pages cached past the budget (a step that loads more records than fit) */
        if (p->stamp[v] == p->step && p->n_pending <= p->n_records) {
            p->pending[p->n_pending++] = v; /* (a caller that never settles: dropped now) */
            continue;
        }
        int rc = drop(p, v, err);
        if (rc)
            return rc;
    }
    if (p->total > p->max_total)
        p->max_total = p->total;
    return LF_OK;
}

int lf_pcache_settle(lf_pcache *p, lf_err *err)
{
    int rc = LF_OK;
    for (uint32_t i = 0; i < p->n_pending && rc == LF_OK; i++)
        if (!p->in[p->pending[i]]) /* not touched again since */
            rc = drop(p, p->pending[i], err);
    p->n_pending = 0;
    p->step++;
    return rc;
}

void lf_pcache_stats_get(const lf_pcache *p, lf_pcache_stats *s)
{
    s->evictions = p->evictions;
    s->max_cached = p->max_total * p->record_bytes;
}
