/* lf_moefit: estimates the expert generator's parameters (lf_synth: Zipf popularity
 * skew `zipf`, temporal `reuse`) by simulated moments: synthetic traces of the same
 * shape are generated and the parameters moved (GSL minimiser and root finder) until
 * their statistics match the target's: a real trace's sorted popularity curve and
 * consecutive-token reuse, or a published LRU hit-rate curve. Results are plain values
 * except lf_moefit.layers (malloc'ed; lf_moefit_free). */
#ifndef LF_MOEFIT_H
#define LF_MOEFIT_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"
#include "lf_trace.h"

#define LF_MOEFIT_NLRU 4 /* LRU sizes reported: 16, 32, 64, 128 units (as Flash-MoE) */

typedef struct {
    double zipf, reuse;                  /* fitted */
    double obs_reuse, fit_reuse;         /* sum|A_t & A_t-1| / sum|A_t|: trace, synthetic at the fit */
    double obs_top20, fit_top20;         /* share of activations of the 20% hottest experts */
    double share_rms;                    /* RMS gap of the sorted popularity curves */
    double obs_lru[LF_MOEFIT_NLRU], fit_lru[LF_MOEFIT_NLRU]; /* LRU hit rates (NaN if size >= E) */
} lf_moefit_layer;

typedef struct {
    uint32_t n_layers, n_experts, top_k, n_tokens;
    uint32_t replicates; /* synthetic traces averaged per evaluation */
    uint64_t seed;
    lf_moefit_layer *layers; /* n_layers */
    double zipf, reuse;      /* the means over layers: the parameters to scale with */
} lf_moefit;

extern const uint32_t lf_moefit_lru_sizes[LF_MOEFIT_NLRU];

/* Fits every layer of an expert trace. seed: the synthetic traces' seed. */
int lf_moefit_trace(const lf_trace *t, uint64_t seed, lf_moefit *out, lf_err *err);
void lf_moefit_free(lf_moefit *f);

/* Fits (zipf, reuse) so that one synthetic layer of model m (n_tokens tokens) has LRU
 * hit rates hit[i] at cache sizes size[i] (least squares, GSL Nelder-Mead); fitted[i]
 * receives the rates at the fit. */
int lf_moefit_lru(const lf_model *m, const uint32_t *size, const double *hit, uint32_t n,
                  uint32_t n_tokens, uint64_t seed, double *zipf, double *reuse, double *fitted,
                  lf_err *err);

/* LRU hit rates of one layer of a trace at the given cache sizes (per access, stack
 * distances; sizes >= units give NaN). */
int lf_moefit_lru_rates(const lf_trace *t, uint32_t layer, const uint32_t *size, uint32_t n,
                        double *rate, lf_err *err);

/* Writes the parameters as a key = value file (zipf, reuse) that `moe-scenario --params`
 * reads, with the fit's figures as comments. Atomic. */
int lf_moefit_write_conf(const lf_moefit *f, const char *trace_path, const char *path,
                         lf_err *err);

#endif
