/* lf_run: the run driver, one configuration from start to finish, simulated or measured:
 * resolve the model and dtype from the trace, the DRAM budget, the layout (coact
 * friends), the predictor and the policy; replay with a backend (the simulator's,
 * sim/lf_price.h, by default; the executor's, bench/lf_exec.h, through
 * bench/lf_measure.h); summarise; and write the run folder (lf_run_write, the one
 * writer of run folders). Used by `sim` (single runs, --ablation, --repeat-configs),
 * `run`, `validate`, `generate --stream` and sweeps. The config's strings are the
 * caller's; an lf_run_result owns its rows, layout, config kv and meta extras
 * (lf_run_result_free). */
#ifndef LF_RUN_H
#define LF_RUN_H

#include <stdint.h>

#include "lf_budget.h"
#include "lf_device.h"
#include "lf_err.h"
#include "lf_kv.h"
#include "lf_layout.h"
#include "lf_replay.h"
#include "lf_results.h"
#include "lf_trace.h"

typedef struct {
    const char *trace_path;        /* recorded in config/meta (the trace is passed loaded) */
    const char *device_path;       /* recorded in config */
    const char *profile_path;      /* recorded in config; NULL = the trace is the profile */
    const char *model;             /* NULL or "" = the trace's model */
    const char *policy;            /* "window:k=4" ... */
    lf_layout_kind layout;         /* default bundled */
    double dram_fraction;          /* of lf_model_total_bytes; default 0.5 */
    uint64_t dram_bytes;           /* > 0 overrides dram_fraction */
    uint32_t predictor_rank;       /* default 128; naive, hybrid and MoE use none */
    uint32_t threads;              /* reads in flight; default 32 */
    uint32_t dtype_bytes;          /* 0 = the trace's (2 when it has none) */
    uint32_t expert_bits;          /* experts stored in 16, 8, 4 or 2 bits per weight (below
                                    * 16 group-quantised: lf_model_weights_bytes); the
                                    * resident part stays at dtype_bytes; 0 = dtype_bytes */
    double fn_rate, fp_rate;       /* error-model predictor; both 0 = perfect */
    int recorded_predictor;        /* use the trace's predicted sets */
    uint64_t max_gap, max_read;    /* reader coalescing; defaults 0 and 1 MiB */
    lf_dram_strategy dram;         /* default prealloc */
    uint32_t n_tokens;             /* 0 = the whole trace */
    uint64_t seed;                 /* default 1 */
    uint32_t alignment;            /* 0 = the device's flash_alignment (4096 if unset) */
    uint32_t cold_tokens;          /* tokens reported as the cold start; default 1 */
    uint32_t coact_profile_tokens; /* tokens of the profile used for friends; default 256 */
    uint64_t stream_bytes;         /* baseline only: non-FFN bytes read per token */
    lf_scope scope;                /* what a token is (lf_replay.h); default token */
    int quiet;                     /* no progress line */
    /* The executor (`llmflash run`, `validate`) replays the same plan another way: */
    lf_backend *backend;           /* NULL = the simulator's backend on `dev` */
    const char *mode;              /* the run folder's mode: NULL = "sim"; "run" = measured */
    const char *data_path;         /* NULL or the weights file read (meta.json names its
                                    * storage device) */
    lf_plans_cache *plans_cache;   /* NULL = none; else the simulator's decisions are kept
                                    * in it, and a later run whose decisions depend on the
                                    * same things (trace, policy, capacity, predictor, seed,
                                    * tokens) replays them without the policy: the cache
                                    * must belong to this trace (lf_cli_trace_plans) */
    uint64_t dram_row_bytes;       /* bytes of a DRAM row (lf_replay_cfg); 0: the layout's */
    const lf_layout *layout_from;  /* NULL = built here; else copied (friends included):
                                    * the weights file's layout, its n_layers cut to the
                                    * trace's */
} lf_run_config;

typedef struct {
    lf_model model;
    uint32_t dtype_bytes;
    uint64_t unit_bytes;      /* > 0: a streamed unit's bytes as stored (expert_bits) */
    lf_budget budget;
    lf_layout layout;
    uint64_t cap_rows;        /* rows preallocated per layer (the policy's max_resident or
                               * the budget's capacity) */
    lf_token_row *rows;
    uint32_t n_rows;
    lf_summary summary;
    lf_kv config;             /* the fully resolved configuration */
    lf_policy_counts counts;  /* the policy's own counters at the end of the run */
    const char *mode;         /* c->mode or "sim"; data_path: c->data_path (the config's
                               * strings) */
    const char *data_path;
    lf_kv extra;              /* meta.json's "extra": filled by the backend's driver
                               * (lf_measure_run: engine, weights, ...); callers may add */
} lf_run_result;

void lf_run_config_defaults(lf_run_config *c);

/* The model a trace was made with: --model if given, else the trace's name, else a
 * custom shape from the trace's attributes (neurons, ReLU). Checks the shapes agree. */
int lf_run_resolve_model(const lf_trace *t, const char *model, lf_model *out, lf_err *err);

/* Runs one configuration. profile: the trace whose co-activations and popularity the
 * coact layout and the `hot` policy learn from (NULL = trace). */
int lf_run(const lf_run_config *c, const lf_trace *trace, const lf_trace *profile,
               const lf_device *dev, lf_run_result *out, lf_err *err);
void lf_run_result_free(lf_run_result *r);

/* Runs n configurations on `jobs` threads (1 = in this thread), each a whole
 * lf_run over the same loaded trace (read-only, shared). results[i], rcs[i] and
 * errs[i] belong to configs[i]; a failed configuration does not stop the others.
 * Returns LF_OK when every configuration ran, else the first failure's status. */
int lf_run_many(const lf_run_config *configs, size_t n, unsigned jobs, const lf_trace *trace,
                    const lf_trace *profile, const lf_device *dev, lf_run_result *results,
                    int *rcs, lf_err *errs);

/* Writes the run folder of every run, simulated or measured: config.conf, meta.json
 * (r->mode, r->data_path, policy counters, r->extra), tokens.csv,
 * summary.csv, done. */
int lf_run_write(const char *dir, const lf_run_config *c, const lf_run_result *r, lf_err *err);

#endif
