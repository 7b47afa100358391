/* Tests of bench/lf_io: the engine registry, the null engine, psync / io_uring /
 * buffered reading back known data from a small file on a real disk (build/testtmp),
 * and the LF_EUNSUP message on a file system without O_DIRECT (tmpfs /dev/shm). */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_cgroup.h"
#include "lf_device.h"
#include "lf_fs.h"
#include "lf_io.h"
#include "lf_membench.h"
#include "lf_probe.h"
#include "lf_test.h"
#include "lf_time.h"

#define FILE_BYTES (1u << 20)

/* Byte i of the test file: a pattern that differs at every 4 KiB offset. */
static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((i * 131u + (i >> 12) * 7u + 3u) & 0xff);
}

static const char *make_file(void)
{
    const char *p = lf_test_path("io.bin");
    unsigned char *data = malloc(FILE_BYTES);
    assert_non_null(data);
    for (uint64_t i = 0; i < FILE_BYTES; i++)
        data[i] = pattern(i);
    lf_test_write(p, data, FILE_BYTES);
    free(data);
    return p;
}

static void test_registry(void **st)
{
    (void)st;
    const lf_io_ops *ops;
    lf_err err;
    const char *names[] = {"psync", "io_uring", "buffered", "null"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lf_io_engine(names[i], &ops, &err), LF_OK);
        assert_string_equal(ops->name, names[i]);
    }
    assert_int_equal(lf_io_engine("aio", &ops, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "psync, io_uring, buffered, null"));
    assert_int_equal(lf_io_engine("psync", &ops, &err), LF_OK);
    assert_true(ops->caps & LF_IO_CAP_DIRECT);
    assert_int_equal(lf_io_engine("buffered", &ops, &err), LF_OK);
    assert_false(ops->caps & LF_IO_CAP_DIRECT);
}

static void test_null_engine(void **st)
{
    (void)st;
    const lf_io_ops *ops;
    lf_io *io;
    lf_err err;
    assert_int_equal(lf_io_engine("null", &ops, &err), LF_OK);
    assert_true(ops->caps & LF_IO_CAP_NODEVICE);
    assert_int_equal(ops->open(&io, NULL, 2, &err), LF_OK);
    char a[100], b[50], c[10];
    memset(a, 0xaa, sizeof a);
    memset(b, 0xbb, sizeof b);
    lf_io_req r[3] = {{0, 100, a, 7}, {1 << 20, 50, b, 9}, {0, 10, c, 11}};
    assert_int_equal(ops->submit(io, r, 2, &err), LF_OK);
    /* only 2 slots: a third request is refused with a message */
    assert_int_equal(ops->submit(io, r + 2, 1, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "reap first"));
    lf_io_done d[4];
    uint32_t got;
    assert_int_equal(ops->reap(io, d, 1, 4, &got, &err), LF_OK);
    assert_int_equal(got, 2);
    assert_int_equal(d[0].tag, 7);
    assert_int_equal(d[0].result, 100);
    assert_int_equal(d[1].tag, 9);
    assert_int_equal(d[1].result, 50);
    assert_int_equal(a[99], 0);
    assert_int_equal(b[0], 0);
    /* waiting for more than is in flight is an error, not a hang */
    assert_int_equal(ops->reap(io, d, 1, 4, &got, &err), LF_EINVAL);
    /* read_all with more requests than depth */
    lf_io_req many[5];
    char bufs[5][16];
    for (int i = 0; i < 5; i++)
        many[i] = (lf_io_req){(uint64_t)i * 16, 16, bufs[i], 0};
    assert_int_equal(lf_io_read_all(io, many, 5, 0, &err), LF_OK);
    ops->close(io);
}

/* Reads 8 chunks of 4 KiB..32 KiB at aligned offsets in reverse order through an engine
 * and compares with the pattern. Returns 0 when the engine cannot run here (skip). */
static int check_engine(const char *name, const char *path)
{
    const lf_io_ops *ops;
    lf_io *io;
    lf_err err;
    assert_int_equal(lf_io_engine(name, &ops, &err), LF_OK);
    int rc = ops->open(&io, path, 3, &err);
    if (rc == LF_EUNSUP) {
        printf("SKIP: %s engine unsupported here: %s\n", name, err.msg);
        return 0;
    }
    assert_int_equal(rc, LF_OK);
    enum { N = 8 };
    lf_io_req r[N];
    for (int i = 0; i < N; i++) {
        uint64_t len = 4096u * (uint64_t)(1 + i % 8);
        r[i] = (lf_io_req){(uint64_t)(N - 1 - i) * 65536 + 4096, len, lf_io_alloc(len), 0};
        assert_non_null(r[i].buf);
    }
    assert_int_equal(lf_io_read_all(io, r, N, 0, &err), LF_OK);
    for (int i = 0; i < N; i++) {
        const unsigned char *b = r[i].buf;
        for (uint64_t k = 0; k < r[i].length; k++)
            if (b[k] != pattern(r[i].offset + k))
                fail_msg("%s: byte %llu of read at %llu differs", name, (unsigned long long)k,
                         (unsigned long long)r[i].offset);
    }
    /* a read past the end of the file is a short read, reported with its offset */
    r[0].offset = FILE_BYTES - 4096;
    r[0].length = 8192;
    free(r[0].buf);
    r[0].buf = lf_io_alloc(8192);
    assert_int_equal(lf_io_read_all(io, r, 1, 0, &err), LF_EIO);
    assert_non_null(strstr(err.msg, "short read at offset 1044480"));
    if (ops->caps & LF_IO_CAP_ALIGNED) {
        /* an unaligned offset is refused before it reaches the kernel */
        r[0].offset = 100;
        r[0].length = 4096;
        assert_int_equal(lf_io_read_all(io, r, 1, 0, &err), LF_EINVAL);
        assert_non_null(strstr(err.msg, "aligned"));
    }
    ops->close(io);
    for (int i = 0; i < N; i++)
        free(r[i].buf);
    return 1;
}

static void test_psync_reads(void **st)
{
    (void)st;
    if (!check_engine("psync", make_file()))
        skip();
}

static void test_uring_reads(void **st)
{
    (void)st;
    if (!check_engine("io_uring", make_file()))
        skip();
}

/* lf_io_run through the handle: every slot loops next -> read -> done; all 64 reads
 * come back with the file's bytes, at most `depth` slots are used, and with the psync
 * pool each slot stays on one thread. lf_io_read_all reports the failed read of
 * smallest index. */
typedef struct {
    lf_io_req *reqs;
    uint32_t n;
    _Atomic uint32_t next, dones, bad;
    _Atomic uint32_t slot_seen; /* bit per slot */
} run_ctx;

static int run_next(void *arg, uint32_t slot, lf_io_req *req)
{
    run_ctx *c = arg;
    uint32_t i = atomic_fetch_add(&c->next, 1);
    if (i >= c->n)
        return 0;
    *req = c->reqs[i];
    req->tag = i;
    atomic_fetch_or(&c->slot_seen, 1u << slot);
    return 1;
}

static void run_done(void *arg, uint32_t slot, const lf_io_req *req, const lf_io_done *d)
{
    (void)slot;
    run_ctx *c = arg;
    const unsigned char *b = req->buf;
    int ok = d->result == (int64_t)req->length;
    for (uint64_t k = 0; ok && k < req->length; k++)
        ok = b[k] == pattern(req->offset + k);
    if (!ok)
        atomic_fetch_add(&c->bad, 1);
    atomic_fetch_add(&c->dones, 1);
}

/* Opens engine on path with depth 4; 0 (with a SKIP line) where it cannot run here. */
static int open_depth4(const char *engine, const char *path, lf_io **io)
{
    lf_err err;
    int rc = lf_io_open(engine, path, 4, io, &err);
    if (rc == LF_EUNSUP) {
        printf("SKIP: %s engine unsupported here: %s\n", engine, err.msg);
        return 0;
    }
    assert_int_equal(rc, LF_OK);
    return 1;
}

static void check_run(const char *engine, const char *path)
{
    lf_io *io;
    lf_err err;
    if (!open_depth4(engine, path, &io))
        return;
    assert_string_equal(lf_io_ops_of(io)->name, engine);
    enum { N = 64 };
    lf_io_req r[N];
    for (uint32_t i = 0; i < N; i++)
        r[i] = (lf_io_req){(uint64_t)((i * 37) % 200) * 4096, 8192, lf_io_alloc(8192), 0};
    run_ctx c = {.reqs = r, .n = N};
    assert_int_equal(lf_io_run(io, 3, run_next, run_done, &c, &err), LF_OK);
    assert_int_equal(atomic_load(&c.dones), N);
    assert_int_equal(atomic_load(&c.bad), strcmp(engine, "null") == 0 ? N : 0);
    assert_true(atomic_load(&c.slot_seen) != 0 && atomic_load(&c.slot_seen) < (1u << 3));
    /* two failing reads (past the end): the smaller index is reported */
    r[5].offset = FILE_BYTES;
    r[9].offset = FILE_BYTES - 4096;
    if (strcmp(engine, "null") != 0) {
        assert_int_equal(lf_io_read_all(io, r, N, 0, &err), LF_EIO);
        assert_non_null(strstr(err.msg, "offset 1048576"));
        r[5].offset = 0;
        assert_int_equal(lf_io_read_all(io, r, N, 2, &err), LF_EIO);
        assert_non_null(strstr(err.msg, "short read at offset 1044480"));
    }
    lf_io_close(io);
    for (uint32_t i = 0; i < N; i++)
        free(r[i].buf);
}

/* Runs check on every engine, reading the test file. */
static void each_engine(void (*check)(const char *engine, const char *path))
{
    const char *path = make_file();
    const char *engines[] = {"psync", "io_uring", "buffered", "null"};
    for (int i = 0; i < 4; i++)
        check(engines[i], path);
}

static void test_run_loop(void **st)
{
    (void)st;
    each_engine(check_run);
}

/* lf_io_read_start / lf_io_read_wait: 64 reads on a depth-4 handle run in the
 * background (the psync and buffered pools on their own threads; io_uring and null: the
 * first 4 now, the rest as the wait reaps); the handle refuses other reads until the
 * wait; the wait reports the failed read of smallest index with lf_io_read_error's
 * message; a batch never waited for is waited for by lf_io_close. */
static void check_background(const char *engine, const char *path)
{
    lf_io *io;
    lf_err err;
    if (!open_depth4(engine, path, &io))
        return;
    int null = strcmp(engine, "null") == 0;
    enum { N = 64 };
    lf_io_req r[N];
    for (uint32_t i = 0; i < N; i++) {
        r[i] = (lf_io_req){(uint64_t)((i * 53) % 250) * 4096, 4096, lf_io_alloc(4096), 0};
        memset(r[i].buf, 0x5a, 4096);
    }
    assert_int_equal(lf_io_read_wait(io, &err), LF_OK); /* none started */
    assert_int_equal(lf_io_read_start(io, r, N, 0, &err), LF_OK);
    /* one batch at a time, and no other read meanwhile */
    assert_int_equal(lf_io_read_start(io, r, 1, 0, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "wait for it first"));
    assert_int_equal(lf_io_read_all(io, r, 1, 0, &err), LF_EINVAL);
    assert_int_equal(lf_io_submit(io, r, 1, &err), LF_EINVAL);
    lf_io_done d;
    uint32_t got = 7;
    assert_int_equal(lf_io_reap(io, &d, 0, 1, &got, &err), LF_EINVAL);
    assert_int_equal(got, 0);
    assert_int_equal(lf_io_read_wait(io, &err), LF_OK);
    assert_int_equal(lf_io_read_wait(io, &err), LF_OK); /* waited already */
    for (uint32_t i = 0; i < N; i++) {
        const unsigned char *b = r[i].buf;
        for (uint64_t k = 0; k < r[i].length; k++)
            if (b[k] != (null ? 0 : pattern(r[i].offset + k)))
                fail_msg("%s: byte %llu of background read %u differs", engine,
                         (unsigned long long)k, i);
    }
    if (!null) {
        /* two failing reads: the one of smaller index is reported, with the bytes got */
        r[40].offset = FILE_BYTES;
        r[7].offset = FILE_BYTES - 4096;
        r[7].length = 8192;
        free(r[7].buf);
        r[7].buf = lf_io_alloc(8192);
        assert_int_equal(lf_io_read_start(io, r, N, 2, &err), LF_OK);
        assert_int_equal(lf_io_read_wait(io, &err), LF_EIO);
        assert_non_null(strstr(err.msg, path));
        assert_non_null(strstr(err.msg, "short read at offset 1044480: 4096 of 8192 bytes"));
        /* the handle reads again after a failed batch */
        assert_int_equal(lf_io_read_all(io, r + 8, 8, 0, &err), LF_OK);
    }
    /* a bad request fails the start and leaves nothing in flight */
    void *keep = r[3].buf;
    r[3].buf = NULL;
    assert_int_equal(lf_io_read_start(io, r, N, 0, &err), LF_EINVAL);
    assert_int_equal(lf_io_read_wait(io, &err), LF_OK);
    r[3].buf = keep;
    /* closed with a batch running: the close waits for it */
    r[7].offset = 0;
    r[40].offset = 0;
    r[7].length = 4096;
    assert_int_equal(lf_io_read_start(io, r, N, 0, &err), LF_OK);
    lf_io_close(io);
    for (uint32_t i = 0; i < N; i++)
        free(r[i].buf);
}

static void test_background_batch(void **st)
{
    (void)st;
    each_engine(check_background);
}

static void test_buffered_reads(void **st)
{
    (void)st;
    assert_int_equal(check_engine("buffered", make_file()), 1);
}

static void test_missing_file(void **st)
{
    (void)st;
    const lf_io_ops *ops;
    lf_io *io;
    lf_err err;
    assert_int_equal(lf_io_engine("psync", &ops, &err), LF_OK);
    assert_int_equal(ops->open(&io, lf_test_path("absent.bin"), 4, &err), LF_EIO);
    assert_non_null(strstr(err.msg, "absent.bin: cannot open"));
}

static void test_tmpfs_unsupported(void **st)
{
    (void)st;
    if (access("/dev/shm", W_OK) != 0) {
        printf("SKIP: /dev/shm absent or not writable\n");
        skip();
    }
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/llmflash-test-io-%ld", (long)getpid());
    char data[4096] = {1};
    lf_test_write(path, data, sizeof data);
    const char *names[] = {"psync", "io_uring"};
    for (int i = 0; i < 2; i++) {
        const lf_io_ops *ops;
        lf_io *io;
        lf_err err;
        assert_int_equal(lf_io_engine(names[i], &ops, &err), LF_OK);
        /* refused whether the kernel rejects O_DIRECT (before 6.6) or accepts it */
        assert_int_equal(ops->open(&io, path, 4, &err), LF_EUNSUP);
        assert_non_null(strstr(err.msg, "does not support direct I/O"));
        assert_non_null(strstr(err.msg, "buffered"));
        assert_non_null(strstr(err.msg, path));
    }
    unlink(path);
}

/* The probe through the null engine: one row per point in grid order, the median of
 * the repeats kept; the file is created once with random (non-zero) content. */
static void test_probe_null_engine(void **st)
{
    (void)st;
    const char *p = lf_test_path("probe_null.bin");
    uint64_t chunks[] = {4096, 65536}, threads[] = {1, 3};
    lf_probe_opts o = {.path = p, .size = 1 << 20, .chunks = chunks, .n_chunks = 2,
                       .threads = threads, .n_threads = 2, .engine = "null", .seconds = 0.005,
                       .repeats = 3, .seed = 7, .batch_gaps = {0}, .n_batch_gaps = 1};
    lf_probe_row *rows;
    size_t n;
    lf_err err;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    assert_int_equal(n, 4);
    assert_int_equal(rows[1].chunk, 4096);
    assert_int_equal(rows[1].threads, 3);
    assert_int_equal(rows[2].chunk, 65536);
    assert_string_equal(rows[3].engine, "null");
    for (size_t i = 0; i < n; i++) {
        assert_true(rows[i].reads > 0);
        assert_true(rows[i].mb_s > 0 && rows[i].iops > 0);
        assert_true(rows[i].p50_us <= rows[i].p99_us);
    }
    assert_int_equal(rows[0].batch, 0);
    free(rows);
    /* batches (the executor's per-layer pattern): whole batches, marked as such; of
     * several sizes, the grid once per size in the order given */
    const uint64_t sizes[] = {5, 2};
    o.batches = sizes;
    o.n_batches = 1;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].batch, 5);
        assert_true(rows[i].reads >= 15 && rows[i].reads % 5 == 0);
        assert_true(rows[i].mb_s > 0);
    }
    free(rows);
    o.n_batches = 2;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].batch, i < 4 ? 5 : 2);
        assert_int_equal(rows[i].chunk, rows[i % 4].chunk);
        assert_int_equal(rows[i].threads, rows[i % 4].threads);
        assert_true(rows[i].reads % rows[i].batch == 0);
    }
    free(rows);
    /* batches after two gaps: the gap the innermost level, so that the passes interleave
     * them; each row says its own; a third gap, one twice or beyond 1 s refused */
    o.batch_gaps[1] = 0.002;
    o.n_batch_gaps = 2;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    assert_int_equal(n, 16);
    for (size_t i = 0; i < n; i++) {
        assert_true(rows[i].batch_gap_s == (i % 2 ? 0.002 : 0));
        assert_int_equal(rows[i].batch, i < 8 ? 5 : 2);
        assert_int_equal(rows[i].chunk, rows[(i / 2) % 4 * 2].chunk);
        assert_int_equal(rows[i].threads, rows[i ^ 1].threads);
    }
    assert_true(rows[0].threads != rows[2].threads);
    free(rows);
    o.n_batch_gaps = 3;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "batch-gap: 3 gaps"));
    o.n_batch_gaps = 2;
    o.batch_gaps[1] = 0;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "the same gap (0 ms) twice"));
    o.batch_gaps[1] = 1.5;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "1500 ms of compute before a batch"));
    o.n_batch_gaps = 1;
    const uint64_t none[] = {0};
    o.batches = none;
    o.n_batches = 1;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "1..65536"));
    o.batches = NULL;
    o.n_batches = 0;
    lf_probe_row one;
    assert_int_equal(lf_probe_batch("null", p, 1 << 20, 4096, 4, 0, 0, 0.01, 1, 0, &one, &err), LF_EINVAL);
    /* the compute before each batch: waited for (at least 3 batches, 20 ms each), left
     * out of the time measured, and said in the row; a gap beyond 1 s is refused */
    double t0 = lf_now();
    assert_int_equal(lf_probe_batch("null", p, 1 << 20, 4096, 4, 5, 0.02, 0.01, 1, 0, &one, &err),
                     LF_OK);
    double wall = lf_now() - t0;
    assert_true(one.reads >= 15 && one.batch_gap_s == 0.02);
    assert_true(wall >= 3 * 0.02);
    assert_true(one.seconds < wall - 2 * 0.02);
    assert_int_equal(lf_probe_batch("null", p, 1 << 20, 4096, 4, 5, 2, 0.01, 1, 0, &one, &err),
                     LF_EINVAL);
    assert_non_null(strstr(err.msg, "a gap of 0..1 s"));
    const char *gcsv = lf_test_path("gap.csv");
    assert_int_equal(lf_probe_write_csv(gcsv, &one, 1, &err), LF_OK);
    char *text;
    size_t len;
    assert_int_equal(lf_read_file(gcsv, &text, &len, &err), LF_OK);
    assert_non_null(strstr(text, ",batch,batch_gap_ms,footprint\n"));
    assert_non_null(strstr(text, ",5,20,0\n"));
    free(text);
    /* the memory the reads land in (a batch's reads at the next places of it, a steady
     * slot through its share): said in every row, and more than 16 GiB refused */
    assert_int_equal(lf_probe_batch("null", p, 1 << 20, 4096, 4, 5, 0, 0.01, 1, 3 << 20, &one,
                                    &err),
                     LF_OK);
    assert_true(one.footprint == 3 << 20 && one.reads >= 15);
    o.footprint = 1 << 20;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(rows[i].footprint == 1 << 20 && rows[i].reads > 0);
    free(rows);
    o.footprint = LF_DEVICE_MAX_FOOTPRINT + 1;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "footprint: "));
    o.footprint = 0;
    /* the file: 1 MiB, random bytes (about 1/256 zeros, never all zero) */
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    unsigned char buf[65536];
    size_t zeros = 0, got = fread(buf, 1, sizeof buf, f);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f), 1 << 20);
    fclose(f);
    assert_int_equal(got, sizeof buf);
    for (size_t i = 0; i < got; i++)
        zeros += buf[i] == 0;
    assert_true(zeros < 1000);
    /* bad grids are refused before any I/O */
    uint64_t odd[] = {1000};
    o.chunks = odd;
    o.n_chunks = 1;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "multiple of 4096"));
    uint64_t huge[] = {2 << 20};
    o.chunks = huge;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "smaller than the largest chunk"));
}

/* Bytes of path the page cache holds (mincore through a mapping never touched). */
static uint64_t cached_bytes(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = ((size_t)sb.st_size + (size_t)page - 1) / (size_t)page;
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    unsigned char *vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore(map, (size_t)sb.st_size, vec), 0);
    uint64_t n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    munmap(map, (size_t)sb.st_size);
    close(fd);
    return n * (uint64_t)page;
}

static lf_cgroup *test_cgroup; /* the cgroup of test_probe_buffered_misses, if made */

/* A buffered probe measures misses only when something keeps them misses: unheld, the
 * pages it read stay cached; with drop_reads none does (steady and batches); under a
 * memory cgroup (skipped, one line, where none can be made) the file's cache stays
 * within the cgroup's limit though the probe reads the file twice over. */
static void test_probe_buffered_misses(void **st)
{
    (void)st;
    const char *p = lf_test_path("probe_pc.bin");
    uint64_t chunks[] = {65536}, threads[] = {2};
    lf_probe_opts o = {.path = p, .size = 16 << 20, .chunks = chunks, .n_chunks = 1,
                       .threads = threads, .n_threads = 1, .engine = "buffered", .seconds = 0.05,
                       .repeats = 1, .seed = 3};
    lf_probe_row *rows;
    size_t n;
    lf_err err;
    /* until 4 MiB are cached (a slow disk caches little in 0.05 s), so that the drops'
     * bound below is far under what not dropping leaves */
    uint64_t unheld = 0;
    for (int k = 0; k < 40 && (k == 0 || (unheld > 0 && unheld < (4u << 20))); k++) {
        assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
        free(rows);
        unheld = cached_bytes(p);
    }
    if (unheld == 0) {
        print_message("SKIP: this file system's page cache is not visible to mincore\n");
        unlink(p);
        return;
    }
    /* dropped: what reads in flight held when a neighbour's drop came (the kernel skips
     * pages in use): usually 0-8 KiB, once 92 KiB, once 164 KiB (a 6.18 kernel on a host
     * in a slow spell), so the bound is a few times the reads in flight's bytes, threads x
     * chunk; not dropping leaves megabytes */
    const uint64_t in_use = 4 * threads[0] * chunks[0];
    o.drop_reads = 1;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    uint64_t read = rows[0].reads * chunks[0];
    free(rows);
    uint64_t dropped = cached_bytes(p);
    print_message("unheld: %.2f MiB cached; dropping: %.2f MiB read, %llu bytes cached\n",
                  unheld / 1048576.0, read / 1048576.0, (unsigned long long)dropped);
    assert_true(read > chunks[0]);
    assert_true(dropped <= in_use && dropped * 8 < unheld);
    const uint64_t four[] = {4};
    o.batches = four;
    o.n_batches = 1;
    assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
    free(rows);
    assert_true(cached_bytes(p) <= in_use);
    o.batches = NULL;
    o.n_batches = 0;
    o.drop_reads = 0;
    if (lf_cgroup_open(0, &test_cgroup, &err) != LF_OK) {
        print_message("SKIP (cgroup part): %s\n", err.msg);
        unlink(p);
        return;
    }
    o.cgroup = test_cgroup;
    o.seconds = 0.05;
    uint64_t held = 0;
    read = 0;
    for (int k = 0; k < 400 && read <= (32u << 20); k++) { /* the file twice over */
        assert_int_equal(lf_probe_run(&o, &rows, &n, &err), LF_OK);
        read += rows[0].reads * chunks[0];
        free(rows);
        uint64_t now = cached_bytes(p);
        held = now > held ? now : held;
    }
    /* 2 x 128 KiB in flight: the page cache's room is the 4 MiB floor */
    print_message("cgroup: %.1f MiB read, at most %.1f MiB cached after a point (limit's page "
                  "cache %.1f MiB + slack %.1f MiB)\n", read / 1048576.0, held / 1048576.0,
                  LF_CGROUP_FLOOR / 1048576.0, lf_cgroup_slack() / 1048576.0);
    assert_true(read > (32u << 20));
    assert_true(held > 0 && held <= LF_CGROUP_FLOOR + lf_cgroup_slack());
    unlink(p);
}

/* Leaves the cgroup test_probe_buffered_misses made, whether or not it passed (its pages
 * dropped first: lf_cgroup.h). */
static int leave_test_cgroup(void **st)
{
    (void)st;
    if (!test_cgroup)
        return 0;
    lf_probe_drop_cache(lf_test_path("probe_pc.bin"));
    lf_err err;
    int rc = lf_cgroup_close(test_cgroup, &err);
    test_cgroup = NULL;
    unlink(lf_test_path("probe_pc.bin"));
    return rc == LF_OK ? 0 : -1;
}

/* calibrate --engine buffered (auto) marks its profile with the mechanism that held the
 * misses: a memory cgroup where one can be made (this test makes one to know), else
 * fadvise; and says so in the flash keys' comments. */
static void test_calibrate_buffered_cli(void **st)
{
    (void)st;
    const char *bin = lf_test_path("calb.bin"), *conf = lf_test_path("calb.conf");
    lf_err err;
    lf_cgroup *g;
    int cgroup = lf_cgroup_open(0, &g, &err) == LF_OK;
    if (cgroup)
        assert_int_equal(lf_cgroup_close(g, &err), LF_OK);
    char *out = NULL, *err_s = NULL;
    int rc = lf_test_run(&out, &err_s, "calibrate --engine buffered --file %s --size 64m "
                         "--chunks 16k,64k,256k --threads 1,2 --seconds 0.02 --repeats 1 "
                         "--batch-probe 0 -o %s", bin, conf);
    if (rc)
        print_message("%s\n", err_s);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(err_s, cgroup ? "page cache held by cgroup" : "auto: fadvise"));
    assert_non_null(strstr(out, "calibrate: slow spells: a compute kernel's mean time"));
    free(out);
    free(err_s);
    lf_device d;
    assert_int_equal(lf_device_load(conf, &d, &err), LF_OK);
    assert_true(d.flash_buffered == (cgroup ? LF_BUFFERED_CGROUP : LF_BUFFERED_FADVISE));
    /* the FFN kernel by shape and the dense products by columns: every width measured,
     * 4096 columns dense_bw's matrix itself */
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        assert_true(d.ffn_bw_relu[i] > 0 && d.ffn_bw_swiglu[i] > 0 && d.dense_bw_cols[i] > 0);
    assert_true(d.dense_bw_cols[3] == d.dense_bw && lf_ffn_bw_widths[3] == 4096);
    /* the slow spells measured and folded in: a mean over medians, near 1 on any host */
    assert_true(d.compute_stall > 0.5 && d.compute_stall < 4);
    char *text;
    size_t len;
    assert_int_equal(lf_read_file(conf, &text, &len, &err), LF_OK);
    assert_non_null(strstr(text, "\ncompute_stall "));
    assert_non_null(strstr(text, cgroup ? "every read a miss held by a memory cgroup"
                                        : "every read a miss held by fadvise"));
    free(text);
    unlink(bin);
    unlink(conf);
}

/* A direct calibrate times its compute rounds between the steady probe's points (a round
 * after every fifth of them, none in the batch pass), all five, and folds the slow spells
 * into its rates. */
static void test_calibrate_spreads_compute(void **st)
{
    (void)st;
    const char *bin = lf_test_path("cals.bin"), *conf = lf_test_path("cals.conf");
    char *out = NULL, *err_s = NULL;
    int rc = lf_test_run(&out, &err_s, "calibrate --file %s --size 64m --chunks 16k,64k,256k "
                         "--threads 1,2 --seconds 0.02 --repeats 1 -o %s", bin, conf);
    if (rc == 1 && strstr(err_s, "does not support direct I/O")) {
        printf("SKIP: no O_DIRECT under %s\n", lf_test_dir());
        free(out);
        free(err_s);
        skip();
    }
    if (rc)
        print_message("%s\n", err_s);
    assert_int_equal(rc, 0);
    /* 6 steady points: rounds after points 2, 3, 4, 5 and 6 (i + 1 >= (r + 1) x 6 / 5) */
    const char *r1 = strstr(err_s, "compute round 1/5, between the probe's points");
    const char *p2 = strstr(err_s, "probe [2/6]"), *p3 = strstr(err_s, "probe [3/6]");
    const char *r5 = strstr(err_s, "compute round 5/5");
    const char *p6 = strstr(err_s, "probe [6/6]"), *batch = strstr(err_s, "calibrate: batches of");
    assert_true(r1 && p2 && p3 && r5 && p6 && batch);
    assert_true(p2 < r1 && r1 < p3 && p6 < r5 && r5 < batch);
    assert_null(strstr(err_s, "compute round 6/"));
    assert_null(strstr(r5 + 1, "compute round")); /* none in the batch pass */
    free(out);
    free(err_s);
    lf_device d;
    lf_err err;
    assert_int_equal(lf_device_load(conf, &d, &err), LF_OK);
    assert_true(d.compute_stall > 0.5 && d.compute_stall < 4 && d.dense_bw > 0 &&
                d.expert_wps_4 > 0);
    unlink(bin);
    unlink(conf);
}

/* The commands end to end on a small file: probe -> CSV -> fit -> a profile that loads;
 * usage errors exit 2; a tmpfs file gives the helpful message and exit 1. */
static void test_probe_fit_cli(void **st)
{
    (void)st;
    const char *bin = lf_test_path("cli.bin"), *csv = lf_test_path("cli.csv"),
               *conf = lf_test_path("cli.conf");
    char *out = NULL, *err_s = NULL;
    int rc = lf_test_run(&out, &err_s,
                         "probe --file %s --size 4m --chunks 4k,16k,64k --threads 1,2 "
                         "--seconds 0.02 --repeats 1 -o %s",
                         bin, csv);
    if (rc == 1 && strstr(err_s, "does not support direct I/O")) {
        printf("SKIP: no O_DIRECT under %s\n", lf_test_dir());
        free(out);
        free(err_s);
        skip();
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(err_s, "probe [6/6]"));
    free(out);
    free(err_s);
    char *text;
    size_t len;
    lf_err err;
    assert_int_equal(lf_read_file(csv, &text, &len, &err), LF_OK);
    assert_true(strncmp(text, "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us\n", 58) == 0);
    assert_non_null(strstr(text, "\npsync,65536,2,"));
    free(text);
    /* 20 ms per point on a shared disk is noise: this checks the CLI path, not the fit's
     * quality (fit's --max-error refusal has its own test), so any error is accepted. */
    rc = lf_test_run(&out, &err_s, "fit %s -o %s --base costmodel/devices/m1max.conf --max-error 1e6",
                     csv, conf);
    if (rc != 0)
        fail_msg("fit exited %d: %s", rc, err_s);
    assert_non_null(strstr(out, "median APE"));
    free(out);
    free(err_s);
    lf_device d;
    if (lf_device_load(conf, &d, &err) != LF_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(d.name, "cli");
    assert_true(d.mem_bw == 200e9); /* from the base */
    /* usage errors */
    lf_test_expect(2, "exists with 4194304 bytes but --size asks for 8388608",
                   "probe --file %s --size 8m --chunks 4k", bin);
    assert_int_equal(lf_test_run(NULL, NULL, "probe --file %s --frobnicate", bin), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "probe --file %s --chunks 4x", bin), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "probe --file %s --engine aio", bin), 2);
    lf_test_expect(2, "--batch-gap '1,2,3': one amount of milliseconds or two unlike ones",
                   "probe --file %s --batch 4 --batch-gap 1,2,3", bin);
    lf_test_expect(2, "--batch-gap '2,2': one amount", "probe --file %s --batch 4 --batch-gap 2,2",
                   bin);
    lf_test_expect(2, "--batch-gap 'x,2': item 1 is not a number",
                   "probe --file %s --batch 4 --batch-gap x,2", bin);
    assert_int_equal(lf_test_run(NULL, &err_s, "probe --file %s --pagecache-mechanism cgroup", bin), 2);
    assert_non_null(strstr(err_s, "applies to --engine buffered"));
    free(err_s);
    assert_int_equal(lf_test_run(NULL, &err_s, "probe --file %s --engine buffered "
                                 "--pagecache-mechanism lru", bin), 2);
    assert_non_null(strstr(err_s, "expected auto"));
    free(err_s);
    /* a buffered probe says what kept its reads misses */
    assert_int_equal(lf_test_run(&out, &err_s, "probe --file %s --engine buffered --chunks 16k "
                                 "--threads 2 --seconds 0.02 --repeats 1 --pagecache-mechanism "
                                 "fadvise", bin), 0);
    assert_non_null(strstr(err_s, "misses held by fadvise"));
    assert_non_null(strstr(out, "\nbuffered,16384,2,"));
    free(out);
    free(err_s);
    assert_int_equal(lf_test_run(NULL, NULL, "fit"), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "fit %s --p 0.5", csv), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "calibrate --file %s", bin), 2);
    /* --batch-probe: a list of 1..65536 reads each, or 0 alone */
    static const char *const bad_sizes[] = {"0,512", "32,70000", "32,", "1,2,3,4,5,6,7,8,9"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++) {
        assert_int_equal(lf_test_run(NULL, &err_s, "calibrate --file %s -o %s.conf "
                                     "--batch-probe %s", bin, csv, bad_sizes[i]), 2);
        assert_non_null(strstr(err_s, "--batch-probe"));
        free(err_s);
    }
    assert_int_equal(lf_test_run(&out, NULL, "probe --help"), 0);
    assert_non_null(strstr(out, "example:"));
    free(out);
    /* a missing CSV names the file */
    assert_int_equal(lf_test_run(NULL, &err_s, "fit %s.absent", csv), 1);
    assert_non_null(strstr(err_s, "cli.csv.absent"));
    free(err_s);
    if (access("/dev/shm", W_OK) == 0) {
        char shm[64];
        snprintf(shm, sizeof shm, "/dev/shm/llmflash-test-probe-%ld", (long)getpid());
        assert_int_equal(lf_test_run(NULL, &err_s, "probe --file %s --size 1m --chunks 4k "
                                                   "--threads 1 --seconds 0.01 --repeats 1 -o -",
                                     shm),
                         1);
        assert_non_null(strstr(err_s, "does not support direct I/O"));
        assert_non_null(strstr(err_s, "--engine buffered"));
        free(err_s);
        /* refused before the test file is written: nothing is left in RAM */
        assert_int_equal(access(shm, F_OK), -1);
        unlink(shm);
    }
    /* a --size below the largest chunk is refused before the file is made, whatever the
     * engine (the buffered one made the file first) */
    const char *small = lf_test_path("small.bin");
    for (int k = 0; k < 2; k++) {
        assert_int_equal(lf_test_run(NULL, &err_s, "probe --file %s --size 64k --chunks 1m "
                                     "--threads 1 --seconds 0.01 --repeats 1%s -o -", small,
                                     k ? " --engine buffered --pagecache-mechanism fadvise" : ""),
                         1);
        assert_non_null(strstr(err_s, "smaller than the largest chunk"));
        assert_false(lf_file_exists(small));
        free(err_s);
    }
}

/* The calibration microbenchmarks on small sizes: positive rates, and the FFN stand-in's
 * flop/byte ratio is exactly 4d flops per 8d bytes (fp32 up + down) = 0.5. */
static void test_membench_small(void **st)
{
    (void)st;
    lf_err err;
    double bw = 0, alloc = -1, flops = 0, bytes = 0;
    assert_int_equal(lf_membench_copy_bw(1 << 20, 0.01, &bw, &err), LF_OK);
    assert_true(bw > 0);
    assert_int_equal(lf_membench_alloc(1 << 20, 0.01, &alloc, &err), LF_OK);
    assert_true(alloc >= 0);
    assert_int_equal(lf_membench_ffn(64, 8, 0.01, &flops, &bytes, &err), LF_OK);
    assert_true(flops > 0);
    assert_float_equal(flops / bytes, 0.5, 1e-12);
    assert_int_equal(lf_membench_op(0, bw, 0.01, &alloc, &err), LF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),         cmocka_unit_test(test_null_engine),
        cmocka_unit_test(test_psync_reads),      cmocka_unit_test(test_uring_reads),
        cmocka_unit_test(test_buffered_reads),   cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_tmpfs_unsupported), cmocka_unit_test(test_probe_null_engine),
        cmocka_unit_test(test_probe_fit_cli),      cmocka_unit_test(test_membench_small),
        cmocka_unit_test(test_run_loop),         cmocka_unit_test(test_background_batch),
        cmocka_unit_test_teardown(test_probe_buffered_misses, leave_test_cgroup),
        cmocka_unit_test(test_calibrate_buffered_cli),
        cmocka_unit_test(test_calibrate_spreads_compute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
