/* lf_shacache: a file's sha256 kept in its extended attribute user.llmflash.sha256, so a
 * trace is hashed once, not once per run. Fills the caller's buffer; owns nothing. */
#ifndef LF_SHACACHE_H
#define LF_SHACACHE_H

#include "lf_err.h"

#define LF_SHACACHE_XATTR "user.llmflash.sha256"

/* sha256 of the file at path as 64 hex chars (+NUL), as lf_sha256_file. The digest is
 * stored in the attribute as "<size> <mtime s>.<mtime ns> <inode> <hex>" and reused while
 * the file keeps that size, modification time and inode; a file modified less than 2 s
 * ago (the clock tick can hide a rewrite) is hashed and not stored. Where attributes
 * cannot be read or set (file system, permissions) the file is hashed every time. */
int lf_shacache_file(const char *path, char out[65], lf_err *err);

#endif
