/* lf_membench: the DRAM and compute measurements of `llmflash calibrate`: memcpy
 * bandwidth, the fixed cost of one small copy, of one allocation, the page-cache hit
 * cost, and (until the executor's kernel is linked) a stand-in sparse-FFN kernel.
 * Results are plain numbers; every buffer is allocated and freed inside. */
#ifndef LF_MEMBENCH_H
#define LF_MEMBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

/* memcpy between two buffers of `bytes` each, repeated for about min_seconds; the
 * median over repeats of bytes copied per second (a copy of n bytes counts n). */
int lf_membench_copy_bw(size_t bytes, double min_seconds, double *bw, lf_err *err);

/* Fixed cost of one copy operation: times copies of `row` bytes between random slots of
 * a 256 MiB buffer (as the DRAM manager's swap-delete moves) and subtracts row / bw. */
int lf_membench_op(size_t row, double bw, double min_seconds, double *op_s, lf_err *err);

/* The DRAM manager's copies at the row sizes it really moves: the median time of one
 * move of each rows[i] bytes between random slots of a 256 MiB buffer (per_move[i],
 * n <= 16 sizes), and the line per_move = op_s + row / bw fitted through them
 * (lf_membench_line). */
int lf_membench_rows(const size_t *rows, size_t n, double min_seconds, double *per_move,
                     double *op_s, double *bw, lf_err *err);
/* Least-squares line y = op_s + x / bw (op_s >= 0: else through the origin); an error
 * when y does not grow with x. */
int lf_membench_line(const double *x, const double *y, size_t n, double *op_s, double *bw,
                     lf_err *err);

/* The first touch of each 4 KiB page of a fresh `bytes` allocation (the realloc
 * strategy's new matrix): seconds per page, median over repeats. */
int lf_membench_fault(size_t bytes, double min_seconds, double *fault_s, lf_err *err);

/* malloc + free of `bytes` (no page touched): seconds per allocation, median. */
int lf_membench_alloc(size_t bytes, double min_seconds, double *alloc_s, lf_err *err);

/* Page-cache hits through the buffered engine on `path` (its first 64 MiB are read once
 * to warm them): *lat_s from 4 KiB reads, *bw from 1 MiB reads (t = lat + n / bw). */
int lf_membench_pagecache(const char *path, double min_seconds, double *bw, double *lat_s,
                          lf_err *err);

/* Stand-in for the executor's sparse FFN kernel (bench/lf_ffn): rows of [up | down],
 * fp32, d_model each; y += relu(x . up_r) * down_r over n_rows rows, for about
 * min_seconds. Reports flop/s (4 * d_model per row) and weight bytes/s. */
int lf_membench_ffn(uint32_t d_model, uint32_t n_rows, double min_seconds, double *flops_s,
                    double *bytes_s, lf_err *err);

#endif
