/* lf_fit: fits the flash model of lf_device (latency, per-stream bandwidth, device
 * bandwidth and IOPS caps, p-norm exponent, depth loss) to measured (chunk, threads) -> throughput
 * points with GSL nonlinear least squares, and reads `llmflash probe` CSVs.
 * Results are plain values; the array of lf_fit_read_probe is the caller's to free(). */
#ifndef LF_FIT_H
#define LF_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "lf_device.h"
#include "lf_err.h"

typedef struct {
    uint64_t chunk;   /* bytes per read */
    uint32_t threads; /* reads in flight */
    double bw;        /* measured bytes/s */
    uint32_t batch;   /* 0: steady state (the model at n = threads reads); else reads per
                       * batch waited for whole (the model at n = batch reads) */
    uint64_t footprint; /* bytes of memory the reads landed in (probe --footprint; 0: a
                         * buffer per read in flight, or a CSV without the column) */
    double gap_s;       /* batches: the compute before each (probe --batch-gap); 0: back
                         * to back, steady, or a CSV without the column */
} lf_fit_point;

typedef struct {
    lf_device dev;     /* the base profile with the flash_* fields fitted */
    double mdape;      /* median absolute percentage error over the points, % */
    double max_ape;    /* the worst point's, % */
    double rms_log;    /* root mean square of log(predicted / measured) */
    size_t iterations; /* of the best start */
    int status;        /* GSL status of the best start (0, or GSL_EMAXITER / GSL_ENOPROG) */
} lf_fit_result;

/* Reads the rows of a probe CSV (columns by header name: engine, chunk, threads, mb_s,
 * and batch when present: probes of per-layer batches, `probe --batch N`).
 * engine NULL: the file must hold one engine only (else an error listing them).
 * Rows with mb_s <= 0 are errors naming the line. */
int lf_fit_read_probe(const char *path, const char *engine, lf_fit_point **pts, size_t *n,
                      lf_err *err);
/* The same over len bytes of CSV text (path names it in messages). Lines are bounded,
 * NUL bytes and numbers that are not plain decimals are errors. */
int lf_fit_parse_probe(const char *text, size_t len, const char *path, const char *engine,
                       lf_fit_point **pts, size_t *n, lf_err *err);

/* Fits flash_latency_s, flash_stream_bw, flash_max_bw, flash_max_iops, when fixed_p < 0
 * flash_smooth_p (else p is fixed_p: 0 = hard max, or >= 1) and, when fixed_loss < 0 and
 * the points have three thread counts or more, flash_depth_loss (else fixed_loss, or 0
 * when it is negative: too few depths to tell it from L and the caps). Minimises
 * sum of log(predicted / measured)^2 from several starting points, then refines the
 * best to least absolute deviations of the same residuals; `base` gives the
 * other fields (NULL: lf_fit_unmeasured_defaults). Needs at least as many points as
 * fitted parameters. Batch points (probe --batch) with steady ones: flash_batch_s and
 * flash_slot_s from what the batches took beyond the steady fit; batches alone: the
 * bounds from them, and, when their sizes differ, flash_batch_s fitted with the bounds
 * (flash_slot_s 0); flash_fit_batch = their largest size. */
int lf_fit_flash(const lf_fit_point *pts, size_t n, const lf_device *base, double fixed_p,
                 double fixed_loss, lf_fit_result *out, lf_err *err);

/* Hold-out check of the model: the probe grid is split like a checkerboard over its
 * (chunk rank + thread-count rank), so that both halves span every chunk and every
 * depth; the model is fitted on one half (`fit_half` 0 or 1) and its error reported on
 * the other. out: the fit on the fitting half (its mdape/max_ape are the fitting half's);
 * held_mdape, held_max_ape: the other half's; n_fit, n_held: the halves' sizes. */
int lf_fit_holdout(const lf_fit_point *pts, size_t n, const lf_device *base, double fixed_p,
                   double fixed_loss, int fit_half, lf_fit_result *out, double *held_mdape, double *held_max_ape,
                   size_t *n_fit, size_t *n_held, lf_err *err);

/* The model's throughput for a point: n = batch (or threads) reads of chunk bytes with
 * threads in flight, n * chunk / lf_flash_time. */
double lf_fit_predict(const lf_device *d, const lf_fit_point *p);
/* Default largest median APE (%) a fit may have to be written as a profile. */
#define LF_FIT_MAX_MDAPE 25.0

/* LF_ERANGE when the fit's median APE is over max_mdape (a fit that does not describe
 * the device must not become a profile silently); source names the probe data. */
int lf_fit_check_quality(const lf_fit_result *r, double max_mdape, const char *source,
                         lf_err *err);

/* |predicted - measured| / measured * 100 for one point. */
double lf_fit_ape(const lf_device *d, const lf_fit_point *p);

/* Fills every non-flash field with a placeholder (NOT measured: generic desktop figures)
 * and the flash fields with zeros; name "unnamed". */
void lf_fit_unmeasured_defaults(lf_device *d);

#endif
