#include "lf_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void lf_tmp_name(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s.tmp.%ld", path, (long)getpid());
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int lf_commit_tmp(const char *tmp, const char *path, lf_err *err)
{
    if (fsync_path(tmp) != 0) {
        int rc = lf_fail_errno(err, LF_EIO, errno, "%s: cannot sync", tmp);
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0) {
        int rc = lf_fail_errno(err, LF_EIO, errno, "cannot rename %s to %s", tmp, path);
        unlink(tmp);
        return rc;
    }
    return LF_OK;
}

int lf_atomic_open(lf_atomic *a, const char *path, lf_err *err)
{
    memset(a, 0, sizeof *a);
    if (strlen(path) + 32 >= sizeof a->path)
        return lf_fail(err, LF_EINVAL, "%s: path too long", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    lf_tmp_name(path, a->tmp, sizeof a->tmp);
    a->f = fopen(a->tmp, "wb");
    if (!a->f)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot create (is the folder there and writable?)",
                             a->tmp);
    return LF_OK;
}

int lf_atomic_commit(lf_atomic *a, lf_err *err)
{
    if (!a->f)
        return lf_fail(err, LF_EINVAL, "%s: not open", a->path);
    int bad = ferror(a->f);
    int saved = errno;
    if (fflush(a->f) != 0) {
        bad = 1;
        saved = errno;
    }
    if (!bad && fsync(fileno(a->f)) != 0) {
        bad = 1;
        saved = errno;
    }
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return lf_fail_errno(err, LF_EIO, saved ? saved : EIO, "%s: write failed, nothing written",
                             a->path);
    }
    if (rename(a->tmp, a->path) != 0) {
        int rc = lf_fail_errno(err, LF_EIO, errno, "cannot rename %s to %s", a->tmp, a->path);
        unlink(a->tmp);
        return rc;
    }
    return LF_OK;
}

void lf_atomic_abort(lf_atomic *a)
{
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
    }
    if (a->tmp[0])
        unlink(a->tmp);
}

int lf_write_file_atomic(const char *path, const void *data, size_t len, lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    if (len && fwrite(data, 1, len, a.f) != len) {
        int saved = errno;
        lf_atomic_abort(&a);
        return lf_fail_errno(err, LF_EIO, saved, "%s: write failed, nothing written", path);
    }
    return lf_atomic_commit(&a, err);
}

int lf_check_writable(const char *path, lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc == LF_OK)
        lf_atomic_abort(&a);
    return rc;
}

int lf_mkdirs(const char *dir, lf_err *err)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf)
        return lf_fail(err, LF_EINVAL, "%s: path too long", dir);
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lf_fail_errno(err, LF_EIO, errno, "%s: cannot create folder", buf);
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot create folder", buf);
    return LF_OK;
}

int lf_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int lf_read_file(const char *path, char **data, size_t *len, lf_err *err)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        char *p = realloc(buf, cap);
        if (!p) {
            free(buf);
            buf = NULL;
        }
        buf = p;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf)
        return lf_fail(err, LF_ENOMEM, "%s: out of memory", path);
    if (bad) {
        free(buf);
        return lf_fail(err, LF_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return LF_OK;
}

/* The last digests computed, keyed by the file's identity and times: a sweep worker
 * writes one meta.json per run of the same trace and hashes it once. A file rewritten
 * in place changes its modification or status-change time, so it is hashed again;
 * since those times are as coarse as the kernel's clock tick, a file changed less than
 * 2 s before is neither memoised nor looked up. */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    char hex[65];
} sha_memo;
#define SHA_MEMO 4
static sha_memo sha_memos[SHA_MEMO];
static unsigned sha_memo_next;
static pthread_mutex_t sha_memo_mu = PTHREAD_MUTEX_INITIALIZER;

static int same_stat(const sha_memo *m, const struct stat *st)
{
    return m->hex[0] && m->dev == st->st_dev && m->ino == st->st_ino &&
           m->size == st->st_size && m->mtim.tv_sec == st->st_mtim.tv_sec &&
           m->mtim.tv_nsec == st->st_mtim.tv_nsec && m->ctim.tv_sec == st->st_ctim.tv_sec &&
           m->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

int lf_sha256_file(const char *path, char out[65], lf_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open", path);
    struct stat st;
    struct timespec now;
    int have_st = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
                  clock_gettime(CLOCK_REALTIME, &now) == 0 && now.tv_sec - st.st_mtim.tv_sec > 2 &&
                  now.tv_sec - st.st_ctim.tv_sec > 2;
    if (have_st) {
        pthread_mutex_lock(&sha_memo_mu);
        for (unsigned i = 0; i < SHA_MEMO; i++)
            if (same_stat(&sha_memos[i], &st)) {
                memcpy(out, sha_memos[i].hex, 65);
                pthread_mutex_unlock(&sha_memo_mu);
                fclose(f);
                return LF_OK;
            }
        pthread_mutex_unlock(&sha_memo_mu);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        fclose(f);
        EVP_MD_CTX_free(ctx);
        return lf_fail(err, LF_ENOMEM, "sha256: cannot initialise");
    }
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad)
        return lf_fail(err, LF_EIO, "%s: read error", path);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    if (have_st) {
        pthread_mutex_lock(&sha_memo_mu);
        sha_memo *m = &sha_memos[sha_memo_next++ % SHA_MEMO];
        m->dev = st.st_dev;
        m->ino = st.st_ino;
        m->size = st.st_size;
        m->mtim = st.st_mtim;
        m->ctim = st.st_ctim;
        memcpy(m->hex, out, 65);
        pthread_mutex_unlock(&sha_memo_mu);
    }
    return LF_OK;
}
