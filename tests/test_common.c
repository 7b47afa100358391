/* Tests of common/: key=value parsing, sizes, atomic files, the pages of big buffers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_bigmem.h"
#include "lf_fs.h"
#include "lf_kv.h"
#include "lf_median.h"
#include "lf_test.h"

static void test_kv_file_ok_and_errors(void **st)
{
    (void)st;
    const char *p = lf_test_path("a.conf");
    const char *txt = "# comment\nalpha = 1.5   # trailing\n\nbeta=4k\nname = m1\n";
    lf_test_write(p, txt, strlen(txt));
    lf_kv kv;
    lf_err err;
    assert_int_equal(lf_kv_parse_file(p, &kv, &err), LF_OK);
    double a;
    uint64_t b;
    assert_int_equal(lf_kv_need_double(&kv, "alpha", &a, &err), LF_OK);
    assert_true(a == 1.5);
    assert_int_equal(lf_kv_need_u64(&kv, "beta", &b, &err), LF_OK);
    assert_int_equal(b, 4096);
    assert_int_equal(lf_kv_need_double(&kv, "gamma", &a, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "missing key 'gamma'"));
    assert_int_equal(lf_kv_double(&kv, "name", 0, &a, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, ":5:"));
    const char *valid[] = {"alpha", "beta", NULL};
    assert_int_equal(lf_kv_check_known(&kv, valid, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown key 'name'"));
    assert_non_null(strstr(err.msg, "alpha, beta"));
    lf_kv_free(&kv);

    const char *bad = "ok = 1\nno equals sign here\n";
    lf_test_write(p, bad, strlen(bad));
    assert_int_equal(lf_kv_parse_file(p, &kv, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, ":2:"));
    const char *dup = "a = 1\na = 2\n";
    lf_test_write(p, dup, strlen(dup));
    assert_int_equal(lf_kv_parse_file(p, &kv, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "already set on line 1"));
}

static void test_kv_spec(void **st)
{
    (void)st;
    lf_kv kv;
    lf_err err;
    char name[32];
    assert_int_equal(lf_kv_parse_spec("window:k=4,x = 2", &kv, name, sizeof name, &err), LF_OK);
    assert_string_equal(name, "window");
    assert_string_equal(lf_kv_get(&kv, "k"), "4");
    assert_string_equal(lf_kv_get(&kv, "x"), "2");
    lf_kv_free(&kv);
    assert_int_equal(lf_kv_parse_spec("lru", &kv, name, sizeof name, &err), LF_OK);
    assert_string_equal(name, "lru");
    assert_int_equal(kv.n, 0);
    lf_kv_free(&kv);
    assert_int_equal(lf_kv_parse_spec("lru:k", &kv, name, sizeof name, &err), LF_EINVAL);
    assert_int_equal(lf_kv_parse_spec("lru:k=1,k=2", &kv, name, sizeof name, &err), LF_EINVAL);
}

static void test_sizes(void **st)
{
    (void)st;
    uint64_t v;
    assert_int_equal(lf_parse_size("16k", &v), 0);
    assert_int_equal(v, 16384);
    assert_int_equal(lf_parse_size("1M", &v), 0);
    assert_int_equal(v, 1 << 20);
    assert_int_equal(lf_parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_not_equal(lf_parse_size("-1", &v), 0);
    assert_int_not_equal(lf_parse_size("12q", &v), 0);
    assert_int_not_equal(lf_parse_size("", &v), 0);
    uint64_t *list;
    size_t n;
    lf_err err;
    assert_int_equal(lf_parse_size_list("4k,32k,1m", &list, &n, &err), LF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[2], 1 << 20);
    free(list);
    assert_int_equal(lf_parse_size_list("4k,zz", &list, &n, &err), LF_EINVAL);
}

static void test_atomic_write_leaves_no_partial(void **st)
{
    (void)st;
    const char *p = lf_test_path("atomic.txt");
    lf_err err;
    assert_int_equal(lf_write_file_atomic(p, "hello", 5, &err), LF_OK);
    char *d;
    size_t n;
    assert_int_equal(lf_read_file(p, &d, &n, &err), LF_OK);
    assert_int_equal(n, 5);
    free(d);
    /* An aborted writer leaves the old content and no temporary. */
    lf_atomic a;
    assert_int_equal(lf_atomic_open(&a, p, &err), LF_OK);
    fputs("partial", a.f);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", a.tmp);
    lf_atomic_abort(&a);
    assert_false(lf_file_exists(tmp));
    assert_int_equal(lf_read_file(p, &d, &n, &err), LF_OK);
    assert_string_equal(d, "hello");
    free(d);
    /* A folder that does not exist is a clear error. */
    assert_int_not_equal(lf_write_file_atomic("/nonexistent-dir/x", "a", 1, &err), LF_OK);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x"));
}

static int is_fifo(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0 && S_ISFIFO(sb.st_mode);
}

/* Writers rename a temporary over the output: a FIFO (or a device: as root, /dev/null
 * became an ordinary file that way), a link to one, a folder or an empty name is refused
 * before anything is written, and again at the rename if one appeared meanwhile; the
 * FIFO stays a FIFO and no temporary is left. */
static void test_special_outputs_refused(void **st)
{
    (void)st;
    lf_err err;
    char fifo[4096], link[4096], dir[4096];
    snprintf(fifo, sizeof fifo, "%s", lf_test_path("out.fifo"));
    snprintf(link, sizeof link, "%s", lf_test_path("out.link"));
    snprintf(dir, sizeof dir, "%s", lf_test_path("out.dir"));
    unlink(fifo), unlink(link), rmdir(dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("out.fifo", link), 0); /* beside it */
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(lf_write_file_atomic(fifo, "x", 1, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "FIFO"));
    assert_non_null(strstr(err.msg, fifo));
    assert_true(is_fifo(fifo));
    assert_int_equal(lf_write_file_atomic(link, "x", 1, &err), LF_EINVAL);
    assert_true(is_fifo(fifo));
    struct stat sb;
    assert_true(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
    assert_int_equal(lf_write_file_atomic(dir, "x", 1, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "folder"));
    assert_int_equal(lf_write_file_atomic("", "x", 1, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    /* appearing between the temporary and the rename: the commit refuses, drops it */
    char out[4096], tmp[4096];
    snprintf(out, sizeof out, "%s", lf_test_path("late.fifo"));
    unlink(out);
    int fd;
    assert_int_equal(lf_tmp_create(out, tmp, sizeof tmp, &fd, &err), LF_OK);
    close(fd);
    assert_int_equal(mkfifo(out, 0600), 0);
    assert_int_equal(lf_commit_tmp(tmp, out, &err), LF_EINVAL);
    assert_true(is_fifo(out));
    assert_false(lf_file_exists(tmp));
    lf_atomic a;
    unlink(out);
    assert_int_equal(lf_atomic_open(&a, out, &err), LF_OK);
    fputs("data", a.f);
    snprintf(tmp, sizeof tmp, "%s", a.tmp);
    assert_int_equal(mkfifo(out, 0600), 0);
    assert_int_equal(lf_atomic_commit(&a, &err), LF_EINVAL);
    assert_true(is_fifo(out));
    assert_false(lf_file_exists(tmp));
    unlink(fifo), unlink(link), rmdir(dir), unlink(out);
}

static void test_full_disk_is_reported(void **st)
{
    (void)st;
    if (access("/dev/full", W_OK) != 0)
        skip();
    /* /dev/full: every write fails with ENOSPC; a commit must say so. */
    lf_atomic a;
    lf_err err;
    memset(&a, 0, sizeof a);
    a.f = fopen("/dev/full", "w");
    assert_non_null(a.f);
    snprintf(a.path, sizeof a.path, "/dev/full");
    for (int i = 0; i < 10000; i++)
        fputs("0123456789", a.f);
    assert_int_equal(lf_atomic_commit(&a, &err), LF_ENOSPC);
    assert_non_null(strstr(err.msg, "No space"));
}

/* The mapping of /proc/self/smaps that holds p: its AnonHugePages (kB) and VmFlags. */
static int smaps_of(const void *p, unsigned long long *huge_kb, char *flags, size_t cap)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[512];
    int inside = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b, kb;
        if (sscanf(line, "%llx-%llx ", &a, &b) == 2) { /* a mapping's first line */
            if (found)
                break;
            inside = (uintptr_t)p >= a && (uintptr_t)p < b;
        } else if (inside && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1) {
            *huge_kb = kb;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, cap, "%s", line + 8);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* /proc/vmstat's thp_fault_fallback: huge-page faults the kernel could not serve */
static unsigned long long thp_fallbacks(void)
{
    unsigned long long v = 0;
    char line[128];
    FILE *f = fopen("/proc/vmstat", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "thp_fault_fallback %llu", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static int thp_available(void)
{
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

/* The arena: aligned, non-overlapping allocations, a block of its own for one larger
 * than a block, ownership known, everything released at once (ASAN/valgrind: no leak). */
static void test_arena(void **st)
{
    (void)st;
    assert_false(lf_bigmem_arena_owns(NULL, &st));
    lf_bigmem_arena *a = lf_bigmem_arena_new();
    assert_non_null(a);
    const size_t sizes[] = {1, 100, 0, 4096, (size_t)70 << 20, 3};
    unsigned char *p[6];
    for (int i = 0; i < 6; i++) {
        p[i] = lf_bigmem_arena_alloc(a, sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 64, 0);
        assert_true(lf_bigmem_arena_owns(a, p[i]));
        memset(p[i], i + 1, sizes[i]);
        if (sizes[i] > 1)
            assert_true(lf_bigmem_arena_owns(a, p[i] + sizes[i] - 1));
    }
    for (int i = 0; i < 6; i++) /* nothing written over another's bytes */
        for (size_t k = 0; k < sizes[i]; k += sizes[i] / 7 + 1)
            assert_int_equal(p[i][k], i + 1);
    assert_true(p[1] >= p[0] + 64 && p[3] >= p[2] + 64); /* a 0-byte block is distinct */
    assert_null(lf_bigmem_arena_alloc(a, SIZE_MAX - 10));
    void *outside = malloc(16);
    assert_false(lf_bigmem_arena_owns(a, outside));
    free(outside);
    lf_bigmem_arena_free(a);
    lf_bigmem_arena_free(NULL);
}

/* Big buffers in huge pages unless LLMFLASH_THP=0 (reads 1.6-4x faster on this VM);
 * lf_bigmem_alloc keeps malloc below 1 MiB */
static void test_alloc_pages(void **st)
{
    (void)st;
    char flags[256];
    unsigned long long kb = 0;
    const size_t bytes = (size_t)3 << 20;
    setenv("LLMFLASH_THP", "1", 1);
    assert_int_equal(lf_bigmem_huge(), 1);
    assert_int_equal(lf_bigmem_pages_size(bytes), (size_t)4 << 20);
    assert_int_equal(lf_bigmem_pages_size(1), LF_BIGMEM_HUGE);
    assert_int_equal(lf_bigmem_pages_size(SIZE_MAX - 5), 0);
    unsigned char *p = lf_bigmem_pages(bytes);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % LF_BIGMEM_HUGE, 0);
    unsigned long long fallbacks = thp_fallbacks();
    memset(p, 1, lf_bigmem_pages_size(bytes));
    fallbacks = thp_fallbacks() - fallbacks;
    if (!smaps_of(p, &kb, flags, sizeof flags)) {
        free(p);
        unsetenv("LLMFLASH_THP");
        skip();
    }
    assert_non_null(strstr(flags, " hg")); /* advised into huge pages */
    if (thp_available() && fallbacks == 0) /* (memory too fragmented: the kernel's choice) */
        assert_true(kb >= 2048);
    free(p);
    setenv("LLMFLASH_THP", "0", 1);
    assert_int_equal(lf_bigmem_huge(), 0);
    assert_int_equal(lf_bigmem_pages_size(bytes), bytes);
    assert_int_equal(lf_bigmem_pages_size(5000), 8192);
    p = lf_bigmem_pages(bytes);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % LF_BIGMEM_PAGE, 0);
    memset(p, 1, bytes);
    kb = 1;
    assert_true(smaps_of(p, &kb, flags, sizeof flags));
    assert_non_null(strstr(flags, " nh"));
    assert_int_equal(kb, 0);
    free(p);
    unsetenv("LLMFLASH_THP");
    assert_int_equal(lf_bigmem_huge(), 1);
    p = lf_bigmem_alloc(1000);
    assert_non_null(p);
    free(p);
    p = lf_bigmem_alloc(LF_BIGMEM_HUGE / 2);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % LF_BIGMEM_HUGE, 0);
    free(p);
}

/* lf_median: the middle value, the middle pair's mean for an even count; v left sorted. */
static void test_median(void **st)
{
    (void)st;
    double odd[] = {3, -1, 7, 2, 2};
    assert_true(lf_median(odd, 5) == 2.0);
    assert_true(odd[0] == -1 && odd[1] == 2 && odd[2] == 2 && odd[3] == 3 && odd[4] == 7);
    double even[] = {10, 1, 4, 8};
    assert_true(lf_median(even, 4) == 6.0);
    double one[] = {5};
    assert_true(lf_median(one, 1) == 5.0);
    assert_true(lf_median(NULL, 0) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_file_ok_and_errors),
        cmocka_unit_test(test_kv_spec),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_atomic_write_leaves_no_partial),
        cmocka_unit_test(test_special_outputs_refused),
        cmocka_unit_test(test_full_disk_is_reported),
        cmocka_unit_test(test_alloc_pages),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
