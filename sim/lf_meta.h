/* lf_meta: provenance of an output as JSON (json-c): llmflash version, git revision and
 * build flags, compiler, GSL/HDF5/json-c versions, host, CPU, kernel, the storage device
 * behind a file, seed, a file's sha256. The JSON string returned is malloc'ed and the
 * caller frees it. */
#ifndef LF_META_H
#define LF_META_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_kv.h"

/* Named counts written as one JSON object of integers. */
typedef struct {
    const char *const *names;
    const uint64_t *values;
    size_t n;
} lf_meta_counts;

/* mode: "sim" | "run" | anything descriptive. trace_path (sha256 + device) and data_path
 * (device only) may be NULL; extra (may be NULL) goes under "extra" as strings; counts
 * (may be NULL) under "policy_counters" as an object of integers. */
int lf_meta_build(const char *mode, uint64_t seed, const char *trace_path, const char *data_path,
                  const lf_kv *extra, const lf_meta_counts *counts, char **json, lf_err *err);

/* The build's git revision ("abc1234", "abc1234-dirty", "unknown") and compiler flags:
 * only lf_meta.o carries them, and the build recompiles it when the revision moves. */
const char *lf_meta_git_rev(void);
const char *lf_meta_cflags(void);

/* The block device holding `path` ("nvme0n1p2 (Samsung SSD 980, non-rotational)"), or a
 * note that it lives on a virtual file system; never fails (writes "unknown"). */
void lf_meta_storage(const char *path, char *out, size_t cap);

#endif
