/* lf_calcomp: calibrate's compute kernels (the sparse FFN by shape, the dense products by
 * columns, the expert kernel by bit width) timed in rounds that the caller may spread
 * over a longer task (the flash probe), then folded into a device profile.
 * The handle owns its kernels' buffers until lf_calcomp_free. */
#ifndef LF_CALCOMP_H
#define LF_CALCOMP_H

#include <stdint.h>

#include "lf_device.h"
#include "lf_err.h"
#include "lf_stall.h"

/* Rounds per measurement: each rate is the median of its rounds. */
#define LF_CALCOMP_ROUNDS 5

typedef struct lf_calcomp lf_calcomp;

/* Prepares the kernels (dtype "fp16" or "fp32": the FFN's and dense products' weights;
 * about 650 MiB held until free). */
int lf_calcomp_create(const char *dtype, lf_calcomp **out, lf_err *err);
/* Times the next round of every kernel (a few seconds); LF_OK and nothing done once all
 * LF_CALCOMP_ROUNDS are. */
int lf_calcomp_round(lf_calcomp *c, lf_err *err);
/* Rounds timed so far. */
uint32_t lf_calcomp_rounds_done(const lf_calcomp *c);
/* Times the rounds still to do, then writes d's compute keys: compute_flops, mem_bw,
 * dense_bw, ffn_row_gap_s, ffn_bw_*, dense_bw_*, expert_wps_*, each divided by
 * compute_stall (which it sets: lf_stall over all the kernels' rounds, kept in *stall
 * when not NULL), and a static text naming the kernels' code path into *how. */
int lf_calcomp_finish(lf_calcomp *c, lf_device *d, const char **how, lf_stall *stall,
                      lf_err *err);
void lf_calcomp_free(lf_calcomp *c);

#endif
