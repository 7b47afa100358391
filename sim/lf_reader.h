/* lf_reader: turns extents into the flash reads actually issued: neighbouring extents
 * are coalesced when the gap between them is at most max_gap (the gap is read through
 * and counted) and the read stays within max_read. The vectors are caller-owned. */
#ifndef LF_READER_H
#define LF_READER_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_layout.h"

typedef struct {
    uint64_t max_gap;   /* bytes read through to join two extents; 0 = only adjacent */
    uint64_t max_read;  /* largest single read in bytes; 0 = no coalescing at all */
    uint32_t inflight;  /* reads in flight (threads / queue depth) */
} lf_reader_cfg;

typedef struct {
    uint64_t offset, length;
    uint32_t first_extent, n_extents; /* the extents (in the input order) it covers */
} lf_read;

typedef struct {
    lf_read *v;
    size_t n, cap;
} lf_read_vec;

/* out is cleared first. Extents must be sorted by offset. */
int lf_reader_plan(const lf_reader_cfg *cfg, const lf_extent *ext, size_t n_ext,
                   lf_read_vec *out, lf_err *err);
void lf_read_vec_free(lf_read_vec *v);

/* The number and total bytes of the reads lf_reader_plan issues for the extents of
 * lf_layout_extents(l, layer, ids, n), computed without building either list (the
 * simulator's backend needs only these): bundled and split layouts; coact is
 * LF_EINVAL (build the lists). */
int lf_reader_totals(const lf_reader_cfg *cfg, const lf_layout *l, uint32_t layer,
                     const uint32_t *ids, uint32_t n, uint32_t *n_reads, uint64_t *bytes,
                     lf_err *err);

#endif
