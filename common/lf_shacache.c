/* A file's sha256 remembered in an extended attribute, keyed by size, mtime and inode. */
#include "lf_shacache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "lf_fs.h"

static int settled(const struct stat *st)
{
    struct timespec now;
    return clock_gettime(CLOCK_REALTIME, &now) == 0 && now.tv_sec - st->st_mtim.tv_sec > 2;
}

static void key_of(const struct stat *st, char *buf, size_t cap)
{
    snprintf(buf, cap, "%llu %lld.%09ld %llu ", (unsigned long long)st->st_size,
             (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec,
             (unsigned long long)st->st_ino);
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

int lf_shacache_file(const char *path, char out[65], lf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !settled(&st)) {
        if (fd >= 0)
            close(fd);
        return lf_sha256_file(path, out, err); /* its message names the failure */
    }
    char key[96], val[200];
    key_of(&st, key, sizeof key);
    size_t kl = strlen(key);
    ssize_t n = fgetxattr(fd, LF_SHACACHE_XATTR, val, sizeof val - 1);
    if (n == (ssize_t)(kl + 64)) {
        val[n] = '\0';
        if (!strncmp(val, key, kl) && is_hex64(val + kl)) {
            memcpy(out, val + kl, 65);
            close(fd);
            return LF_OK;
        }
    }
    int rc = lf_sha256_file(path, out, err);
    struct stat after;
    /* store only when the file did not change while it was hashed */
    if (rc == LF_OK && fstat(fd, &after) == 0 && after.st_size == st.st_size &&
        after.st_mtim.tv_sec == st.st_mtim.tv_sec && after.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
        snprintf(val, sizeof val, "%s%s", key, out);
        (void)fsetxattr(fd, LF_SHACACHE_XATTR, val, strlen(val), 0); /* best effort */
    }
    close(fd);
    return rc;
}
