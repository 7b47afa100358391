/* lf_stall: the mean over the median of calibrate's compute rounds (lf_stall.h). A median
 * round is what a kernel usually takes; a run of several seconds also pays the rounds
 * that fell in a slow spell of the host (costmodel/README.md, "Slow spells"). */
#include "lf_stall.h"

#include <math.h>

#include "lf_median.h"

/* times: per unit of work, positive and finite, n <= LF_STALL_MAX_ROUNDS */
static void add_times(lf_stall *s, const double *times, uint32_t n)
{
    if (n == 0)
        return;
    double sorted[LF_STALL_MAX_ROUNDS];
    for (uint32_t i = 0; i < n; i++)
        sorted[i] = times[i];
    double median = lf_median(sorted, n);
    for (uint32_t i = 0; i < n; i++) {
        double r = times[i] / median;
        s->sum += r;
        s->max = r > s->max ? r : s->max;
        s->n++;
    }
}

/* keeps the finite positive values of v (inverted when `invert`) in out */
static uint32_t usable(const double *v, uint32_t rounds, int invert, double *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < rounds && i < LF_STALL_MAX_ROUNDS; i++)
        if (isfinite(v[i]) && v[i] > 0)
            out[n++] = invert ? 1.0 / v[i] : v[i];
    return n;
}

void lf_stall_add_rates(lf_stall *s, const double *rates, uint32_t rounds)
{
    double t[LF_STALL_MAX_ROUNDS];
    add_times(s, t, usable(rates, rounds, 1, t));
}

void lf_stall_add_times(lf_stall *s, const double *times, uint32_t rounds)
{
    double t[LF_STALL_MAX_ROUNDS];
    add_times(s, t, usable(times, rounds, 0, t));
}

double lf_stall_factor(const lf_stall *s)
{
    return s->n ? s->sum / s->n : 1.0;
}
