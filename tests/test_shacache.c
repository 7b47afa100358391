/* Tests of common/lf_shacache: the digest kept in an extended attribute is reused only
 * while the file keeps its size, mtime and inode, and never stored for a fresh file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "lf_fs.h"
#include "lf_shacache.h"
#include "lf_test.h"

static void set_mtime_ago(const char *p, long secs)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= secs;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void test_digest_reused_until_the_file_changes(void **st)
{
    (void)st;
    const char *p = lf_test_path("hashed.bin");
    lf_test_write(p, "first content", 13);
    set_mtime_ago(p, 100);
    char want[65], got[65], val[200];
    lf_err err;
    assert_int_equal(lf_sha256_file(p, want, &err), LF_OK);
    assert_int_equal(lf_shacache_file(p, got, &err), LF_OK);
    assert_string_equal(got, want);
    ssize_t n = getxattr(p, LF_SHACACHE_XATTR, val, sizeof val - 1);
    if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
        skip(); /* no user attributes here: nothing is cached, hashing above was checked */
    assert_true(n > 64);
    val[n] = '\0';
    assert_string_equal(val + n - 64, want);

    /* the attribute is what a second call reads: a forged digest under the same key
     * comes back (so the file was not hashed again) */
    char forged[200];
    snprintf(forged, sizeof forged, "%.*s%064d", (int)(n - 64), val, 0);
    assert_int_equal(setxattr(p, LF_SHACACHE_XATTR, forged, strlen(forged), 0), 0);
    assert_int_equal(lf_shacache_file(p, got, &err), LF_OK);
    assert_string_equal(got, "0000000000000000000000000000000000000000000000000000000000000000");

    /* same size, new content and an older mtime: the key differs, the file is hashed */
    lf_test_write(p, "other content", 13);
    set_mtime_ago(p, 50);
    assert_int_equal(lf_sha256_file(p, want, &err), LF_OK);
    assert_int_equal(lf_shacache_file(p, got, &err), LF_OK);
    assert_string_equal(got, want);

    /* a garbled attribute is ignored and replaced */
    assert_int_equal(setxattr(p, LF_SHACACHE_XATTR, "garbage", 7, 0), 0);
    assert_int_equal(lf_shacache_file(p, got, &err), LF_OK);
    assert_string_equal(got, want);
    n = getxattr(p, LF_SHACACHE_XATTR, val, sizeof val - 1);
    assert_true(n > 64);
    val[n] = '\0';
    assert_string_equal(val + n - 64, want);
}

static void test_fresh_file_not_stored(void **st)
{
    (void)st;
    const char *p = lf_test_path("fresh.bin");
    lf_test_write(p, "just written", 12);
    char want[65], got[65], val[200];
    lf_err err;
    assert_int_equal(lf_sha256_file(p, want, &err), LF_OK);
    assert_int_equal(lf_shacache_file(p, got, &err), LF_OK);
    assert_string_equal(got, want);
    errno = 0;
    assert_true(getxattr(p, LF_SHACACHE_XATTR, val, sizeof val) < 0);
    assert_true(errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP);
    /* a missing file fails with lf_sha256_file's message */
    assert_int_equal(lf_shacache_file(lf_test_path("absent.bin"), got, &err), LF_EIO);
    assert_non_null(strstr(err.msg, "absent.bin"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_reused_until_the_file_changes),
        cmocka_unit_test(test_fresh_file_not_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
