/* lf_scenario: the Flash-MoE scenario (Qwen3.5-397B-A17B streamed from an SSD, as
 * Flash-MoE ran it): the published figures it is checked against, as data with their
 * sources, and its plans priced through lf_moesim on a synthetic expert trace. The
 * constants are static; an lf_scenario owns its rows (lf_scenario_free). */
#ifndef LF_SCENARIO_H
#define LF_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "lf_device.h"
#include "lf_err.h"
#include "lf_model.h"
#include "lf_moesim.h"

#define LF_SCENARIO_N_LRU 4

/* Figures of the Flash-MoE paper (paper/flash_moe.tex of danveloper/flash-moe and its
 * forks; traces/MOE.md, "Sources"), used as inputs or as the figures to compare with. */
typedef struct {
    double resident_bytes;      /* non-expert weights, streamed by compute every token */
    double resident_flops;      /* non-expert flops per token */
    double engine_gib;          /* the engine's own DRAM (the DRAM budget table) */
    double measured_compute_s;  /* non-I/O time per layer (per-layer breakdown, 2-bit) */
    int metal_lru_entries;      /* the Metal LRU cache (then F_NOCACHE) */
    uint32_t lru_sizes[LF_SCENARIO_N_LRU];  /* experts per layer of an LRU ... */
    double lru_hit[LF_SCENARIO_N_LRU];      /* ... and its published hit rate */
} lf_scenario_published;
extern const lf_scenario_published lf_scenario_pub;

/* One configuration: a published one (lf_scenario_rows) or the caller's. */
typedef struct {
    const char *name;
    const char *device;  /* profile: a name (m3max) or a path */
    double ram_gib, os_gib;
    int bits;
    int app_entries;     /* < 0: none; else application LRU entries over all layers */
    int trust_os;        /* page cache gets the free DRAM */
    uint32_t prefetch;
    double acc;
    double published;    /* tok/s; 0 = none */
    const char *pub_note;
    int measured_compute; /* also price with the published per-layer compute time */
} lf_scenario_def;
/* The published configurations (M3 Max 4- and 2-bit trusting the OS, the Metal LRU, the
 * prefetch experiment, the iPhone port), in the order they are printed. */
extern const lf_scenario_def lf_scenario_defs[];
extern const size_t lf_scenario_n_defs;
/* The policies of the hit-rate curves (NULL-terminated). */
extern const char *const lf_scenario_curve_policies[];

/* What a scenario is asked (moe-scenario's options). */
typedef struct {
    const char *device, *params;   /* profile of the one configuration; zipf/reuse file */
    int bits, single;              /* single: one configuration from these options */
    long cache, app;               /* experts per layer (< 0: default) */
    uint32_t prefetch, tokens, warmup, threads, split;
    double acc, ram_gib, os_gib, compute_ms;
    uint64_t seed;
    /* a device spec (a profile's name or path) into a path; NULL: the spec is the path */
    int (*find_device)(const char *spec, char *path, size_t cap, lf_err *err);
} lf_scenario_opts;

typedef struct {
    lf_scenario_def d;
    lf_device dev;
    uint32_t app, pc;
    double expert_bytes;
    lf_moesim_result r, rm; /* roofline compute, published compute */
} lf_scenario_row;

typedef struct {
    lf_model model;                 /* qwen3.5-397b-a17b */
    double zipf, reuse;             /* the synthetic routing's parameters ... */
    char how[512];                  /* ... and where they come from */
    double lru[LF_SCENARIO_N_LRU];  /* the synthetic trace's LRU hit rates at lru_sizes */
    lf_scenario_row *rows;
    size_t n;
} lf_scenario;

/* Bytes of an expert record at 4 or 2 bits, as the weights files store it. */
double lf_scenario_expert_bytes(const lf_model *m, int bits);
/* Generates the routing and prices every configuration (the published ones, or o's). */
int lf_scenario_run(const lf_scenario_opts *o, lf_scenario *out, lf_err *err);
void lf_scenario_free(lf_scenario *s);

#endif
