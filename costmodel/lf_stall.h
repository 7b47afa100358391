/* lf_stall: how much longer a compute kernel takes on average than its median round
 * says (the host's slow spells), pooled over calibrate's kernels and rounds; plain values.
 * The caller owns the accumulator; nothing is allocated. */
#ifndef LF_STALL_H
#define LF_STALL_H

#include <stdint.h>

/* Rounds of one kernel taken into account (more are ignored). */
#define LF_STALL_MAX_ROUNDS 64

typedef struct {
    double sum;     /* of each round's time over its kernel's median round's */
    double max;     /* the largest such ratio */
    uint32_t n;     /* rounds added */
} lf_stall;

/* One kernel's rates (work per second, any unit) in `rounds` rounds: adds each round's
 * time over the median round's time (median rate / rate). Rates that are not finite and
 * positive are left out, before the median. */
void lf_stall_add_rates(lf_stall *s, const double *rates, uint32_t rounds);
/* The same for the rounds' times per unit of work. */
void lf_stall_add_times(lf_stall *s, const double *times, uint32_t rounds);
/* The mean of the ratios added: a kernel's expected time over its median round's (1
 * when nothing was added). Runs of several seconds pay the spells a median leaves out. */
double lf_stall_factor(const lf_stall *s);

#endif
