/* lf_h5child: reads a trace with libhdf5 in a child process with a time and memory
 * limit (files lf_h5lite leaves: superblock v0/v1, h5py's default), so that a crash or an
 * endless loop inside libhdf5 on a damaged file becomes an error message. The child
 * sends the trace down a pipe; the parent bounds every count again before allocating.
 * The trace's arrays are the caller's (lf_trace_free). */
#ifndef LF_H5CHILD_H
#define LF_H5CHILD_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_trace.h"

/* fsize: the file's size (bounds what the trace may expand to); limit: seconds, <= 0 for
 * LF_TRACE_CHILD_TIMEOUT_S plus one per 20 MB. */
int lf_h5child_read(const char *path, uint64_t fsize, uint32_t max_tokens, double limit,
                    lf_trace *t, lf_err *err);

#endif
