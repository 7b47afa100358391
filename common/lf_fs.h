/* lf_fs: files that never appear half-written. Writers create "<path>.tmp.<pid>.<random>"
 * (O_EXCL), write, fsync, then rename over <path>; on failure or SIGINT/SIGTERM the
 * temporary is removed, and one left by a killed process goes when <path> is made again.
 * A <path> that is a device, FIFO, socket or folder is refused, not replaced.
 * Readers read regular files only, bounded by their size. Callers own what they get. */
#ifndef LF_FS_H
#define LF_FS_H

#include <stddef.h>
#include <stdio.h>

#include "lf_err.h"

/* An open temporary that becomes `path` on commit. */
typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4096];
} lf_atomic;

/* Opens the temporary for writing ("w" or "wb"). */
int lf_atomic_open(lf_atomic *a, const char *path, lf_err *err);
/* Flushes, fsyncs and renames. Reports write errors (a full disk included). */
int lf_atomic_commit(lf_atomic *a, lf_err *err);
/* The same without the fsync: the file is whole or absent after a crash of the process,
 * but not after one of the machine until the caller has called lf_sync_fs (a folder of
 * several files then costs one flush, not one per file). */
int lf_atomic_commit_nosync(lf_atomic *a, lf_err *err);
/* Flushes the file system that holds path (syncfs): every file committed without a
 * sync before it is then durable. */
int lf_sync_fs(const char *path, lf_err *err);
/* Flushes the stream and reports a write error (a full disk) without committing, so that
 * a writer of several files commits none of them unless all are whole: on an error the
 * temporary is removed ("nothing written") and the handle is closed. */
int lf_atomic_flush(lf_atomic *a, lf_err *err);
/* Closes and removes the temporary (safe to call after a failed commit). */
void lf_atomic_abort(lf_atomic *a);

/* Writes a whole buffer atomically to path (sync = 0: lf_atomic_commit_nosync). */
int lf_write_file_atomic(const char *path, const void *data, size_t len, lf_err *err);
int lf_write_file_atomic_ex(const char *path, const void *data, size_t len, int sync,
                            lf_err *err);

/* Creates an empty temporary beside `path` (mode 0644) and returns its descriptor in *fd
 * and its name in tmp (cap bytes), for writers that do their own I/O but keep the same
 * rename discipline. O_CREAT|O_EXCL with a random suffix: a name planted in advance (a
 * symlink included) is never opened. Temporaries of dead processes for `path` are removed
 * first. Until lf_commit_tmp or lf_tmp_discard, SIGINT/SIGTERM remove it (once
 * lf_fs_remove_on_signals has been called). */
int lf_tmp_create(const char *path, char *tmp, size_t cap, int *fd, lf_err *err);
/* Renames tmp over path after fsync'ing it; removes tmp on failure. */
int lf_commit_tmp(const char *tmp, const char *path, lf_err *err);
/* Removes a temporary from lf_tmp_create (the caller closes its descriptor). */
void lf_tmp_discard(const char *tmp);
/* Removes "<path>.tmp.<pid>[.*]" files whose process no longer exists; returns how many. */
int lf_tmp_cleanup_stale(const char *path);
/* Installs SIGINT, SIGTERM and SIGHUP handlers that remove the live temporaries and then
 * die of the same signal (signals the parent left ignored stay ignored). For main(). */
void lf_fs_remove_on_signals(void);
/* A function those handlers call first (async-signal-safe calls only; NULL: none). One
 * slot, for what a process must undo before dying (bench/lf_cgroup leaves its cgroup). */
void lf_fs_at_signal(void (*fn)(void));

/* 1 when a and b both exist and are the same file (device and inode: links and other
 * names of it included). */
int lf_fs_same_file(const char *a, const char *b);
/* 1 when a and b name the same file, whether or not it exists yet: the same file, or
 * the same base name in the same folder (two outputs of one command). */
int lf_fs_same_path(const char *a, const char *b);
/* LF_EINVAL naming both when output is the same file as any of the NULL-terminated
 * inputs (NULL entries before the end are not allowed; NULL output is fine). */
int lf_fs_refuse_same(const char *output, const char *const *inputs, lf_err *err);

/* Checks, before a long job, that `path` can be written later: creates and removes its
 * temporary (the same name and folder lf_atomic uses). The error names the folder. */
int lf_check_writable(const char *path, lf_err *err);

/* The folder that holds path ("." for a bare name, "/" at the root), in dir (cap bytes). */
void lf_fs_folder_of(const char *path, char *dir, size_t cap);
/* mkdir -p. */
int lf_mkdirs(const char *dir, lf_err *err);
int lf_file_exists(const char *path);
/* Reads a whole regular file into a malloc'ed buffer (NUL-terminated); caller frees.
 * A non-regular file (FIFO, device such as /dev/zero, folder) or one over max_bytes
 * (0 = no limit but its size) is refused. */
int lf_read_file(const char *path, char **data, size_t *len, lf_err *err);
int lf_read_file_max(const char *path, size_t max_bytes, char **data, size_t *len, lf_err *err);
/* Opens path for reading only when it is a regular file; *size receives its size. */
FILE *lf_open_regular(const char *path, long long *size, lf_err *err);
/* sha256 of a file as 64 hex chars (+NUL). */
int lf_sha256_file(const char *path, char out[65], lf_err *err);

#endif
