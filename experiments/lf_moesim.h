/* lf_moesim: prices an expert trace on a device for the Flash-MoE scenario (expert
 * records of a fractional bit width, an application cache in front of the OS page
 * cache, optional prefetch whose reads overlap compute) and measures expert hit-rate
 * curves per policy. The decisions are the shared policies' (the registry's,
 * pagecache among them); only the per-layer pricing is specific (see traces/MOE.md). Plain values;
 * nothing to free. */
#ifndef LF_MOESIM_H
#define LF_MOESIM_H

#include <stdint.h>

#include "lf_device.h"
#include "lf_err.h"
#include "lf_model.h"
#include "lf_trace.h"

typedef struct {
    const lf_device *dev;
    const lf_model *model;      /* shape: d_model, d_ff, top_k for the expert flops */
    double expert_bytes;        /* one expert record (gate, up, down and their scales) */
    uint32_t app_per_layer;     /* application cache, experts per layer (0: none) */
    uint32_t pc_per_layer;      /* OS page cache, experts per layer (0: none, F_NOCACHE) */
    int pc_global;              /* one page cache for all layers (pc_per_layer * layers) */
    uint32_t prefetch;          /* guessed experts read per layer before routing */
    double acc;                 /* probability that a guess is routed */
    uint32_t threads;           /* preads in flight */
    uint32_t split;             /* reads one expert is split into (1: one pread) */
    double resident_bytes;      /* non-expert weights compute streams per token */
    double resident_flops;      /* non-expert flops per token */
    double compute_s_per_layer; /* > 0: replaces the roofline compute time of a layer */
    uint32_t warmup;            /* first tokens left out of the averages */
    uint64_t seed;
} lf_moesim_cfg;

typedef struct {
    double tok_s;                    /* steady state: tokens / (sum of token times) */
    double ms_token;                 /* mean time of a steady-state token */
    double flash_ms, pc_ms, compute_ms, prefetch_ms; /* per token; prefetch: its exposed part */
    double app_hit, pc_hit, flash_share; /* shares of the routed experts (sum 1) */
    double flash_mb;                 /* MB read from flash per token (prefetch included) */
    double pf_right;                 /* share of the guesses that were routed */
    uint32_t tokens;                 /* tokens averaged */
} lf_moesim_result;

int lf_moesim_run(const lf_moesim_cfg *cfg, const lf_trace *t, lf_moesim_result *out,
                  lf_err *err);

/* Hit rate of a policy spec on every layer of t: (routed experts found in the
 * application cache or the page cache) / routed experts, over the whole trace (cold
 * start included). Every spec goes through the registry with capacity cap. */
int lf_moesim_hit_rate(const lf_trace *t, const char *spec, uint64_t cap, uint64_t seed,
                       double *rate, lf_err *err);

#endif
