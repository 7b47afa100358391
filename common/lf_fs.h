/* lf_fs: files that never appear half-written. Writers create "<path>.tmp.<pid>",
 * write, fsync, then rename over <path>; on any failure the temporary is removed. */
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
/* Closes and removes the temporary (safe to call after a failed commit). */
void lf_atomic_abort(lf_atomic *a);

/* Writes a whole buffer atomically to path. */
int lf_write_file_atomic(const char *path, const void *data, size_t len, lf_err *err);

/* The temporary name a writer uses for `path` (cap bytes); for writers that use
 * their own API (HDF5) but the same rename discipline. */
void lf_tmp_name(const char *path, char *out, size_t cap);
/* Renames tmp over path after fsync'ing it; removes tmp on failure. */
int lf_commit_tmp(const char *tmp, const char *path, lf_err *err);

/* Checks, before a long job, that `path` can be written later: creates and removes its
 * temporary (the same name and folder lf_atomic uses). The error names the folder. */
int lf_check_writable(const char *path, lf_err *err);

/* mkdir -p. */
int lf_mkdirs(const char *dir, lf_err *err);
int lf_file_exists(const char *path);
/* Reads a whole file into a malloc'ed buffer (NUL-terminated); caller frees. */
int lf_read_file(const char *path, char **data, size_t *len, lf_err *err);
/* sha256 of a file as 64 hex chars (+NUL). A file unchanged for 2 s and hashed again
 * (same device, inode, size, modification and status-change times) reuses its digest. */
int lf_sha256_file(const char *path, char out[65], lf_err *err);

#endif
