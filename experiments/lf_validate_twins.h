/* lf_validate_twins: the cold start's twins. Configurations of one validation whose first
 * token is the same work (policies that differ only after it) measure one cold start
 * several times: how far apart those measurements lie is the noise a cold row carries,
 * and their samples pooled make a better-sampled cold row. The caller owns everything. */
#ifndef LF_VALIDATE_TWINS_H
#define LF_VALIDATE_TWINS_H

#include <stddef.h>
#include <stdint.h>

#include "lf_validate.h"

/* What a row's first token was, beyond its row: its set (one trace and weights), the
 * simulator's terms of it, and the cold-start samples measured. */
typedef struct {
    size_t set;
    double pred_io_ms, pred_mem_ms, pred_compute_ms, pred_bytes;
    const double *samples;
    uint32_t n_samples;
} lf_twin_input;

/* Groups twins: rows of the same set, engine, layout, DRAM strategy and budget, reads in
 * flight, reader and scope, whose predicted first tokens are equal in every term and in
 * bytes. Fills each row's cold_twin (the first row of its group, "" for a row alone),
 * cold_pooled_samples, measured_cold_pooled_ms (the median over the group's samples) and
 * cold_pooled_error_pct; a row alone keeps its own figures there. LF_ENOMEM or LF_OK. */
int lf_validate_pool_twins(lf_validate_row *rows, const lf_twin_input *in, size_t n,
                           lf_err *err);

typedef struct {
    size_t groups;                   /* groups of two or more twins */
    size_t rows;                     /* rows in them */
    double apart_min_pct, apart_median_pct, apart_max_pct; /* (max - min) / median of a
                                      * group's own medians, over the groups */
    double pooled_mdape, pooled_max_ape; /* over every group and every row alone, once */
} lf_twin_stats;

/* The figures of lf_validate_pool_twins's groups (NaN where there is no group). */
void lf_validate_twin_stats(const lf_validate_row *rows, size_t n, lf_twin_stats *st);

#endif
