#include "lf_fs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporaries that SIGINT/SIGTERM remove: a fixed table the handler can walk without
 * locks (slot state 0 free, 1 being filled, 2 live). */
#define TMP_SLOTS 64
static char tmp_paths[TMP_SLOTS][4200];
static atomic_int tmp_state[TMP_SLOTS];

static void tmp_register(const char *tmp)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        int want = 0;
        if (atomic_compare_exchange_strong(&tmp_state[i], &want, 1)) {
            snprintf(tmp_paths[i], sizeof tmp_paths[i], "%s", tmp);
            atomic_store(&tmp_state[i], 2);
            return;
        }
    }
    /* table full: the temporary is still removed on errors, and by the next run */
}

static void tmp_forget(const char *tmp)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        if (atomic_load(&tmp_state[i]) == 2 && strcmp(tmp_paths[i], tmp) == 0) {
            atomic_store(&tmp_state[i], 0);
            return;
        }
    }
}

static void (*volatile at_signal)(void);

void lf_fs_at_signal(void (*fn)(void))
{
    at_signal = fn;
}

static void on_signal(int sig)
{
    int saved = errno;
    void (*fn)(void) = at_signal;
    if (fn)
        fn();
    for (int i = 0; i < TMP_SLOTS; i++)
        if (atomic_load(&tmp_state[i]) == 2)
            unlink(tmp_paths[i]);
    errno = saved;
    signal(sig, SIG_DFL); /* then die of the same signal, as without the handler */
    raise(sig);
}

void lf_fs_remove_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask); /* one handler at a time: the others wait */
        for (size_t j = 0; j < sizeof sigs / sizeof sigs[0]; j++)
            sigaddset(&sa.sa_mask, sigs[j]);
        /* a signal ignored by the parent (nohup, a shell's background job) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* "<dir>" and "<base>" of path, in caller buffers. */
static void split_path(const char *path, char *dir, size_t dcap, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dcap, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dcap, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dcap, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

void lf_fs_folder_of(const char *path, char *dir, size_t cap)
{
    const char *base;
    split_path(path, dir, cap, &base);
}

/* 1 when process pid is gone: no such process, or a zombie nobody reaps (a killed
 * child whose parent died too, in a container whose init does not reap). */
static int process_gone(long pid)
{
    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH;
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *close_paren = strrchr(buf, ')'); /* "pid (name) S ..." */
    return close_paren && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

int lf_tmp_cleanup_stale(const char *path)
{
    char dir[4200];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0)
            continue;
        const char *p = n + blen + 5;
        if (!isdigit((unsigned char)*p))
            continue;
        char *end;
        errno = 0;
        long pid = strtol(p, &end, 10);
        if (errno || pid <= 0 || (*end && *end != '.'))
            continue;
        if (pid == (long)getpid() || !process_gone(pid))
            continue; /* ours, or a live process (maybe another user's) */
        struct stat st;
        /* only regular files and symlinks (never a folder someone named like this) */
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            continue;
        if (unlinkat(dirfd(d), n, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* What a rename over `path` would destroy that is not an earlier output: a device, a
 * FIFO, a socket or a folder (through a symbolic link too: /dev/stdout is one). As
 * root, renaming over /dev/null makes it an ordinary file for every process. NULL: an
 * absent path or a regular file, which the output may replace. */
static const char *not_replaceable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return NULL;
    return S_ISDIR(st.st_mode)    ? "a folder"
           : S_ISCHR(st.st_mode)  ? "a character device"
           : S_ISBLK(st.st_mode)  ? "a block device"
           : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
           : S_ISSOCK(st.st_mode) ? "a socket"
                                  : "not a regular file";
}

static int refuse_unreplaceable(const char *path, lf_err *err)
{
    if (!path[0])
        return lf_fail(err, LF_EINVAL, "an empty output path: give the path of a regular file");
    const char *what = not_replaceable(path);
    if (!what)
        return LF_OK;
    return lf_fail(err, LF_EINVAL, "output '%s' is %s: outputs are written to a temporary and "
                   "renamed over the name, which would replace it; give the path of a "
                   "regular file", path, what);
}

int lf_tmp_create(const char *path, char *tmp, size_t cap, int *fd, lf_err *err)
{
    *fd = -1;
    int refused = refuse_unreplaceable(path, err);
    if (refused)
        return refused;
    if (strlen(path) + 40 >= cap || strlen(path) + 40 >= sizeof tmp_paths[0])
        return lf_fail(err, LF_EINVAL, "%s: path too long", path);
    lf_tmp_cleanup_stale(path);
    /* mkostemp opens with O_CREAT|O_EXCL: a planted name (a symlink included) is never
     * followed or truncated, and the random suffix makes planting it guesswork */
    snprintf(tmp, cap, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    /* no signal between creating and registering: it would leave the file behind */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int f = mkostemp(tmp, O_CLOEXEC);
    int saved = errno;
    if (f >= 0)
        tmp_register(tmp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (f < 0)
        return lf_fail_errno(err, LF_EIO, saved, "%s: cannot create a temporary beside it (is the "
                             "folder there and writable?)", path);
    fchmod(f, 0644); /* mkstemp makes 0600; outputs are ordinary files */
    *fd = f;
    return LF_OK;
}

void lf_tmp_discard(const char *tmp)
{
    unlink(tmp);
    tmp_forget(tmp);
}

int lf_fs_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int lf_fs_same_path(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    if (lf_fs_same_file(a, b))
        return 1;
    /* not both there yet: the same name in the same folder (by inode, or by name when
     * the folder is not there yet either) */
    const char *na = strrchr(a, '/'), *nb = strrchr(b, '/');
    na = na ? na + 1 : a;
    nb = nb ? nb + 1 : b;
    if (strcmp(na, nb) != 0)
        return 0;
    char da[4096], db[4096];
    lf_fs_folder_of(a, da, sizeof da);
    lf_fs_folder_of(b, db, sizeof db);
    return lf_fs_same_file(da, db) || strcmp(da, db) == 0; /* a folder not made yet */
}

int lf_fs_refuse_same(const char *output, const char *const *inputs, lf_err *err)
{
    if (!output)
        return LF_OK;
    for (size_t i = 0; inputs && inputs[i]; i++)
        if (lf_fs_same_file(output, inputs[i]))
            return lf_fail(err, LF_EINVAL, "output %s is the same file as input %s; writing it "
                           "would destroy the input: choose another output name", output,
                           inputs[i]);
    return LF_OK;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
        lf_tmp_discard(tmp);
        return rc;
    }
    int rc = refuse_unreplaceable(path, err); /* it may have appeared meanwhile */
    if (rc == LF_OK && rename(tmp, path) != 0)
        rc = lf_fail_errno(err, LF_EIO, errno, "cannot rename %s to %s", tmp, path);
    if (rc) {
        lf_tmp_discard(tmp);
        return rc;
    }
    tmp_forget(tmp);
    return LF_OK;
}

int lf_atomic_open(lf_atomic *a, const char *path, lf_err *err)
{
    memset(a, 0, sizeof *a);
    if (strlen(path) + 48 >= sizeof a->path)
        return lf_fail(err, LF_EINVAL, "%s: path too long", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    int fd, rc = lf_tmp_create(path, a->tmp, sizeof a->tmp, &fd, err);
    if (rc)
        return rc;
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        rc = lf_fail_errno(err, LF_ENOMEM, errno, "%s: cannot open a stream", a->tmp);
        close(fd);
        lf_tmp_discard(a->tmp);
        a->tmp[0] = 0;
    }
    return rc;
}

static int commit(lf_atomic *a, int sync, lf_err *err);

int lf_atomic_commit(lf_atomic *a, lf_err *err)
{
    return commit(a, 1, err);
}

int lf_atomic_commit_nosync(lf_atomic *a, lf_err *err)
{
    return commit(a, 0, err);
}

int lf_sync_fs(const char *path, lf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open to sync", path);
    int rc = syncfs(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return lf_fail_errno(err, LF_EIO, saved, "%s: cannot sync its file system", path);
    return LF_OK;
}

int lf_atomic_flush(lf_atomic *a, lf_err *err)
{
    if (!a->f)
        return lf_fail(err, LF_EINVAL, "%s: not open", a->path);
    int bad = ferror(a->f), saved = errno;
    if (fflush(a->f) != 0) {
        bad = 1;
        saved = errno;
    }
    if (!bad)
        return LF_OK;
    lf_atomic_abort(a);
    return lf_fail_errno(err, LF_EIO, saved ? saved : EIO, "%s: write failed, nothing written",
                         a->path);
}

static int commit(lf_atomic *a, int sync, lf_err *err)
{
    if (!a->f)
        return lf_fail(err, LF_EINVAL, "%s: not open", a->path);
    int bad = ferror(a->f);
    int saved = errno;
    if (fflush(a->f) != 0) {
        bad = 1;
        saved = errno;
    }
    if (!bad && sync && fsync(fileno(a->f)) != 0) {
        bad = 1;
        saved = errno;
    }
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    a->f = NULL;
    if (bad) {
        lf_tmp_discard(a->tmp);
        return lf_fail_errno(err, LF_EIO, saved ? saved : EIO, "%s: write failed, nothing written",
                             a->path);
    }
    int rc = refuse_unreplaceable(a->path, err); /* it may have appeared meanwhile */
    if (rc == LF_OK && rename(a->tmp, a->path) != 0)
        rc = lf_fail_errno(err, LF_EIO, errno, "cannot rename %s to %s", a->tmp, a->path);
    if (rc) {
        lf_tmp_discard(a->tmp);
        return rc;
    }
    tmp_forget(a->tmp);
    return LF_OK;
}

void lf_atomic_abort(lf_atomic *a)
{
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
    }
    if (a->tmp[0])
        lf_tmp_discard(a->tmp);
    a->tmp[0] = 0;
}

int lf_write_file_atomic_ex(const char *path, const void *data, size_t len, int sync,
                            lf_err *err)
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
    return commit(&a, sync, err);
}

int lf_write_file_atomic(const char *path, const void *data, size_t len, lf_err *err)
{
    return lf_write_file_atomic_ex(path, data, len, 1, err);
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
    if (!dir[0])
        return lf_fail(err, LF_EINVAL, "an empty folder name: give the path of a folder");
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

FILE *lf_open_regular(const char *path, long long *size, lf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) {
        lf_fail_errno(err, LF_EIO, errno, "%s: cannot open", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        lf_fail(err, LF_EINVAL, "%s: not a regular file (a device, pipe or folder cannot be "
                "read as one): give a file", path);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        lf_fail(err, LF_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (size)
        *size = (long long)st.st_size;
    return f;
}

int lf_read_file_max(const char *path, size_t max_bytes, char **data, size_t *len, lf_err *err)
{
    *data = NULL;
    *len = 0;
    long long size;
    FILE *f = lf_open_regular(path, &size, err);
    if (!f)
        return err ? err->code : LF_EIO;
    if (max_bytes && (unsigned long long)size > max_bytes) {
        fclose(f);
        return lf_fail(err, LF_EFORMAT, "%s: %lld bytes, more than the %zu this kind of file may "
                       "have: is it the right file?", path, size, max_bytes);
    }
    /* never more than the size it had when opened (a file growing meanwhile is cut) */
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return lf_fail(err, LF_ENOMEM, "%s: out of memory for %lld bytes", path, size);
    }
    size_t n = fread(buf, 1, (size_t)size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return lf_fail(err, LF_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return LF_OK;
}

int lf_read_file(const char *path, char **data, size_t *len, lf_err *err)
{
    return lf_read_file_max(path, 0, data, len, err);
}

int lf_sha256_file(const char *path, char out[65], lf_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open", path);
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
    return LF_OK;
}
