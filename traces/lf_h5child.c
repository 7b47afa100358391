/* lf_h5child: see lf_h5child.h. The libhdf5 backend of lf_h5read, then the child process. */
#include "lf_h5child.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lf_h5read.h"

/* ---------- the libhdf5 backend (only in the child) ---------- */

typedef struct {
    lf_h5read_be b;
    hid_t f, g;
    char *place; /* shared with the parent: what libhdf5 is reading now */
} h5be;

static void at(h5be *h, const char *what, const char *name)
{
    snprintf(h->place, 256, "%s%s%s", what, name ? " " : "", name ? name : "");
}

static int h5_group(lf_h5read_be *b, const char *g, int *found)
{
    h5be *h = (h5be *)b;
    snprintf(b->where, sizeof b->where, "%s", strcmp(g, "/") ? g : "");
    if (h->g >= 0)
        H5Gclose(h->g);
    h->g = -1;
    at(h, "group", g);
    *found = 1;
    if (strcmp(g, "/") != 0) {
        *found = H5Lexists(h->f, "layers", H5P_DEFAULT) > 0 &&
                 (strcmp(g, "/layers") == 0 || H5Lexists(h->f, g, H5P_DEFAULT) > 0);
        if (!*found)
            return LF_OK;
    }
    h->g = H5Gopen2(h->f, g, H5P_DEFAULT);
    if (h->g < 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: cannot open group %s", b->path, g);
    return LF_OK;
}

static int h5_attr(lf_h5read_be *b, const char *name, int is_str, char *s, size_t cap, uint64_t *u,
                   int *found)
{
    h5be *h = (h5be *)b;
    at(h, "attribute", name);
    if (!(*found = H5Aexists(h->f, name) > 0))
        return LF_OK;
    hid_t attr = H5Aopen(h->f, name, H5P_DEFAULT);
    hid_t ftype = H5Aget_type(attr), space = H5Aget_space(attr);
    int rc = LF_OK;
    int one = H5Sget_simple_extent_npoints(space) == 1;
    if (is_str && (H5Tget_class(ftype) != H5T_STRING || !one)) {
        rc = lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be a string", b->path, name);
    } else if (is_str && H5Tis_variable_str(ftype) > 0) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char *v = NULL;
        if (H5Aread(attr, mtype, &v) < 0 || !v)
            rc = lf_fail(b->err, LF_EFORMAT, "%s: cannot read attribute '%s'", b->path, name);
        else
            snprintf(s, cap, "%s", v);
        if (v)
            H5free_memory(v);
        H5Tclose(mtype);
    } else if (is_str) {
        size_t sz = H5Tget_size(ftype);
        char *buf = sz < (1u << 20) ? calloc(sz + 1, 1) : NULL;
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, sz ? sz : 1);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        if (!buf || H5Aread(attr, mtype, buf) < 0)
            rc = lf_fail(b->err, LF_EFORMAT, "%s: cannot read attribute '%s'", b->path, name);
        else
            snprintf(s, cap, "%s", buf);
        free(buf);
        H5Tclose(mtype);
    } else if (H5Tget_class(ftype) != H5T_INTEGER || !one) {
        rc = lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be one integer", b->path,
                     name);
    } else if (H5Aread(attr, H5T_NATIVE_UINT64, u) < 0) {
        rc = lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' is not a non-negative integer",
                     b->path, name);
    }
    H5Sclose(space);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

static int h5_array(lf_h5read_be *b, const char *name, int kind, uint64_t *total, uint64_t count,
                    void **out, int *found)
{
    h5be *h = (h5be *)b;
    char where[96];
    snprintf(where, sizeof where, "%s/%s", b->where, name);
    at(h, "dataset", where);
    if (!(*found = H5Lexists(h->g, name, H5P_DEFAULT) > 0))
        return LF_OK;
    hid_t ds = H5Dopen2(h->g, name, H5P_DEFAULT);
    if (ds < 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: cannot open dataset %s", b->path, where);
    hid_t space = H5Dget_space(ds), ftype = H5Dget_type(ds);
    hid_t mtype = kind == LF_H5R_U64   ? H5T_NATIVE_UINT64
                  : kind == LF_H5R_IDX ? H5T_NATIVE_UINT32
                  : kind == LF_H5R_I32 ? H5T_NATIVE_INT32
                                  : H5T_NATIVE_FLOAT;
    hsize_t dims[1] = {0};
    int rc = LF_OK, rank = H5Sget_simple_extent_ndims(space);
    H5T_class_t cls = H5Tget_class(ftype);
    size_t es = lf_h5read_kind_size[kind];
    if (rank != 1)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: %s must be 1-D (has %d dimensions)", b->path,
                     where, rank);
    else if ((cls == H5T_FLOAT) != (kind == LF_H5R_F32) || (cls != H5T_FLOAT && cls != H5T_INTEGER))
        rc = lf_h5read_wrong_type(b, name, kind);
    else if (H5Sget_simple_extent_dims(space, dims, NULL) != 1)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: cannot read the shape of %s", b->path, where);
    else if (dims[0] > b->budget / es)
        rc = lf_fail(b->err, LF_EFORMAT,
                     "%s: %s claims %llu elements, more than the file can hold (damaged file; "
                     "re-create it)",
                     b->path, where, (unsigned long long)dims[0]);
    *total = dims[0];
    if (count > dims[0])
        count = dims[0];
    if (!rc && count > 0) {
        void *buf = malloc(count * es);
        hsize_t start[1] = {0}, n[1] = {count};
        hid_t ms = H5Screate_simple(1, n, NULL);
        at(h, "reading dataset", where);
        if (!buf)
            rc = lf_fail(b->err, LF_ENOMEM, "%s: out of memory reading %s", b->path, where);
        else if (H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, n, NULL) < 0 ||
                 H5Dread(ds, mtype, ms, space, H5P_DEFAULT, buf) < 0)
            rc = lf_fail(b->err, LF_EFORMAT,
                         "%s: cannot read %s (truncated or corrupt file, or values out of range "
                         "for the type)",
                         b->path, where);
        H5Sclose(ms);
        if (rc)
            free(buf);
        else
            *out = buf;
        b->budget -= count * es;
    }
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(ds);
    return rc;
}

/* ---------- the child process ----------
 * The child reads with libhdf5 and sends the trace down a pipe: a header (status, the
 * lf_trace struct or the error), then per layer its counts and arrays. The parent
 * bounds every count again before allocating; pointers in the struct are not used. */

#define WIRE_MAGIC 0x4c465452u /* "LFTR" */
#define MAX_EXPANSION 1100     /* deflate expands at most ~1032x */

typedef struct {
    uint32_t magic;
    int32_t rc;
    lf_err err;
    lf_trace t;
    uint8_t has_tokens;
} wire_head;

typedef struct {
    uint64_t nnz, pred_nnz;
    uint8_t has_value, has_pred;
} wire_layer;

static int put_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sanitizer builds (the tests' and the fuzzers'): the child clears the sanitizer's death
 * callback, decided at compile time rather than by a weak symbol. */
#if defined(__SANITIZE_ADDRESS__)
#define LF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LF_SANITIZED 1
#endif
#endif
#ifdef LF_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

static void child_read(const char *path, uint64_t fsize, uint32_t max_tokens, char *place, int fd)
{
    /* A crash here must end this process, not run a fuzzer's or sanitizer's handler. */
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], SIG_DFL);
#ifdef LF_SANITIZED
    __sanitizer_set_death_callback(NULL);
#endif
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
        dup2(devnull, 2);
#ifndef LF_SANITIZED
    /* A memory limit too: what the parent already maps, plus twice what the trace may
     * expand to, plus 1 GiB for libhdf5. A small damaged file that makes libhdf5 ask for
     * more gets a failed allocation (an error, or a crash the parent reports), not the
     * machine's memory. (Sanitizer builds reserve terabytes of shadow: no limit there.) */
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) {
        if (fscanf(statm, "%ld", &pages) != 1)
            pages = 0;
        fclose(statm);
    }
    uint64_t expand = fsize * MAX_EXPANSION + (1u << 20);
    struct rlimit lim;
    if (pages > 0 && getrlimit(RLIMIT_AS, &lim) == 0) {
        uint64_t want = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) + 2 * expand +
                        ((uint64_t)1 << 30);
        if (lim.rlim_cur == RLIM_INFINITY || want < lim.rlim_cur) {
            lim.rlim_cur = (rlim_t)want;
            setrlimit(RLIMIT_AS, &lim);
        }
    }
#endif
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are ours to report */
    wire_head h;
    memset(&h, 0, sizeof h);
    h.magic = WIRE_MAGIC;
    h5be hb = {.b = {.path = path, .err = &h.err, .budget = fsize * MAX_EXPANSION + (1u << 20),
                     .group = h5_group, .attr = h5_attr, .array = h5_array},
               .f = -1, .g = -1, .place = place};
    at(&hb, "opening the file", NULL);
    hb.f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (hb.f < 0)
        h.rc = lf_fail(&h.err, LF_EFORMAT, "%s: cannot open as HDF5 (truncated or corrupt?)", path);
    else
        h.rc = lf_h5read_trace(&hb.b, max_tokens, &h.t);
    /* Closing may touch damaged metadata too: the result is sent first. */
    h.has_tokens = h.t.tokens != NULL;
    int bad = put_all(fd, &h, sizeof h);
    for (uint32_t l = 0; !bad && !h.rc && l < h.t.n_layers; l++) {
        const lf_trace_layer *L = &h.t.layers[l];
        wire_layer w;
        memset(&w, 0, sizeof w); /* its padding is sent too (valgrind checks each byte) */
        w.nnz = L->nnz;
        w.pred_nnz = L->pred_nnz;
        w.has_value = L->value != NULL;
        w.has_pred = L->pred_indptr != NULL;
        size_t n1 = ((size_t)h.t.n_tokens + 1) * 8;
        bad = put_all(fd, &w, sizeof w) || put_all(fd, L->indptr, n1) ||
              put_all(fd, L->index, L->nnz * 4) ||
              (w.has_value && put_all(fd, L->value, L->nnz * 4)) ||
              (w.has_pred && (put_all(fd, L->pred_indptr, n1) ||
                              put_all(fd, L->pred_index, L->pred_nnz * 4)));
    }
    if (!bad && !h.rc && h.has_tokens)
        bad = put_all(fd, h.t.tokens, (size_t)h.t.n_tokens * 4);
    uint32_t end = WIRE_MAGIC;
    if (!bad)
        put_all(fd, &end, sizeof end);
    close(fd);
    _exit(0);
}

enum { W_EOF = 1001, W_TIMEOUT, W_BIG }; /* receiving failures (LF codes are negative) */

/* Reads exactly n bytes before the deadline; W_EOF at the end of the stream. */
static int get_all(int fd, void *p, size_t n, const struct timespec *deadline)
{
    uint8_t *b = p;
    while (n > 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
                  (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0)
            return W_TIMEOUT;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)(ms > 1000000 ? 1000000 : ms));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        ssize_t r = read(fd, b, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return W_EOF;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Allocates (bounded by *budget) and receives n bytes; W_BIG when over budget or out
 * of memory. */
static int get_arr(int fd, void **out, uint64_t n, uint64_t *budget, const struct timespec *dl)
{
    if (n > *budget)
        return W_BIG;
    *budget -= n;
    *out = malloc(n ? n : 1);
    if (!*out)
        return W_BIG;
    return get_all(fd, *out, n, dl);
}

static int receive(int fd, uint64_t budget, const struct timespec *dl, lf_trace *t, lf_err *err)
{
    wire_head h;
    int rc = get_all(fd, &h, sizeof h, dl);
    if (rc)
        return rc;
    if (h.magic != WIRE_MAGIC)
        return W_EOF;
    if (h.rc) {
        h.err.msg[sizeof h.err.msg - 1] = '\0';
        *err = h.err;
        return h.rc;
    }
    *t = h.t;
    t->layers = NULL;
    t->tokens = NULL;
    t->model[sizeof t->model - 1] = t->source[sizeof t->source - 1] = '\0';
    t->generator[sizeof t->generator - 1] = '\0';
    if (t->n_layers == 0 || t->n_layers > LF_TRACE_MAX_LAYERS)
        return W_EOF;
    t->tokens_cap = t->n_tokens;
    t->layers = calloc(t->n_layers, sizeof *t->layers);
    if (!t->layers)
        return W_BIG;
    uint64_t n1 = ((uint64_t)t->n_tokens + 1) * 8;
    for (uint32_t l = 0; !rc && l < t->n_layers; l++) {
        lf_trace_layer *L = &t->layers[l];
        wire_layer w;
        if ((rc = get_all(fd, &w, sizeof w, dl)))
            break;
        if (w.nnz > budget / 4 || w.pred_nnz > budget / 4)
            return W_BIG;
        L->nnz = L->cap = w.nnz;
        rc = get_arr(fd, (void **)&L->indptr, n1, &budget, dl);
        if (!rc)
            rc = get_arr(fd, (void **)&L->index, w.nnz * 4, &budget, dl);
        if (!rc && w.has_value)
            rc = get_arr(fd, (void **)&L->value, w.nnz * 4, &budget, dl);
        if (!rc && w.has_pred) {
            L->pred_nnz = L->pred_cap = w.pred_nnz;
            rc = get_arr(fd, (void **)&L->pred_indptr, n1, &budget, dl);
            if (!rc)
                rc = get_arr(fd, (void **)&L->pred_index, w.pred_nnz * 4, &budget, dl);
        }
    }
    if (!rc && h.has_tokens)
        rc = get_arr(fd, (void **)&t->tokens, (uint64_t)t->n_tokens * 4, &budget, dl);
    uint32_t end = 0;
    if (!rc && !(rc = get_all(fd, &end, sizeof end, dl)) && end != WIRE_MAGIC)
        rc = W_EOF;
    return rc;
}

int lf_h5child_read(const char *path, uint64_t fsize, uint32_t max_tokens, double limit,
                         lf_trace *t, lf_err *err)
{
    char *place = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (place == MAP_FAILED)
        return lf_fail_errno(err, LF_ENOMEM, errno, "%s: cannot map a page to read the trace", path);
    snprintf(place, 256, "starting");
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        munmap(place, 4096);
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot create a pipe to read the trace",
                             path);
    }
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
    H5open(); /* once, here: children start with libhdf5 initialised (no file touched) */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        munmap(place, 4096);
        return lf_fail_errno(err, LF_EIO, e, "%s: cannot fork to read the trace", path);
    }
    if (pid == 0) {
        close(p[0]);
        child_read(path, fsize, max_tokens, place, p[1]);
    }
    close(p[1]);
    if (limit <= 0)
        limit = LF_TRACE_CHILD_TIMEOUT_S + (double)fsize / 20e6;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    double whole = (double)(time_t)limit;
    dl.tv_sec += (time_t)whole;
    dl.tv_nsec += (long)((limit - whole) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    lf_err cerr;
    lf_err_clear(&cerr);
    int rc = receive(p[0], fsize * MAX_EXPANSION + (1u << 20), &dl, t, &cerr);
    close(p[0]);
    if (rc > 0)
        kill(pid, SIGKILL); /* stuck, or sent too much: stop it */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char where[256];
    snprintf(where, sizeof where, "%s", place);
    munmap(place, 4096);
    if (rc == LF_OK)
        return LF_OK;
    const char *fix = "the file is damaged: re-create it (llmflash trace synth|record|import)";
    if (rc == W_TIMEOUT)
        return lf_fail(err, LF_EFORMAT,
                       "%s: libhdf5 did not finish reading it in %.3g s (stuck at %s: an "
                       "endless loop on damaged metadata?); %s",
                       path, limit, where, fix);
    if (rc == W_BIG)
        return lf_fail(err, LF_EFORMAT,
                       "%s: the trace's arrays are larger than the file can hold (%s); %s", path,
                       where, fix);
    if (rc == W_EOF && WIFSIGNALED(status))
        return lf_fail(err, LF_EFORMAT, "%s: libhdf5 crashed (signal %d, %s) at %s; %s", path,
                       WTERMSIG(status), strsignal(WTERMSIG(status)), where, fix);
    if (rc == W_EOF)
        return lf_fail(err, LF_EFORMAT,
                       "%s: libhdf5 failed (its reading process ended with status %d, no "
                       "result) at %s; %s",
                       path,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, where, fix);
    *err = cerr;
    return rc;
}
