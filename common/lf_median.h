/* lf_median: the median of a few measurements (rounds, repeats), the statistic the
 * benchmarks and calibrate report. Plain values; the caller owns the array. */
#ifndef LF_MEDIAN_H
#define LF_MEDIAN_H

#include <stddef.h>

/* Sorts v[0..n) ascending and returns its median (the middle pair's mean for an even n;
 * 0 for n = 0). */
double lf_median(double *v, size_t n);

#endif
