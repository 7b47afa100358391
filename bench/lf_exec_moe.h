/* lf_exec_moe: the executor for expert traces, an lf_backend for the shared replay loop.
 * Per token and layer the policy's plan (an application cache in the DRAM manager, the
 * page-cache model, prefetch guesses) is performed for real: the loaded experts' records
 * are read into their DRAM rows, through the OS page cache (lf_io's buffered engine,
 * on a bounded lf_pcache, mincore saying beforehand which reads it served) or from flash
 * (lf_io's psync engine, O_DIRECT), with `inflight` reads at once (lf_io_read_all; the
 * wrong prefetch guesses' in the background, lf_io_read_start, while the layer
 * computes); then the routed experts' SwiGLU is computed from the rows with on-the-fly
 * dequantisation (lf_quant), weighted by the trace's router weights. At scope token (the
 * default) it also runs the resident part from DRAM as the dense executor does
 * (bench/lf_attn: embedding, attention with a KV cache, norms, output head) plus the
 * router (a d_model x n_experts matvec of seeded fp16 weights) and the model's shared
 * expert (fp16 SwiGLU); the routing itself stays the trace's. At scope ffn it runs the
 * experts only. lf_moe_replay drives the replay for an expert file with any backend (this
 * one, or the simulator's: the same reads and decisions, priced). An lf_exec_moe owns its
 * descriptors, rows, page-cache tier and read log; the weights and trace are the caller's. */
#ifndef LF_EXEC_MOE_H
#define LF_EXEC_MOE_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_pcache.h"
#include "lf_policy.h"
#include "lf_price.h"
#include "lf_replay.h"
#include "lf_weights.h"

typedef struct {
    const lf_weights *weights;  /* an expert file (any dtype) */
    const lf_trace *trace;      /* router weights (value); none: 1/k each */
    uint32_t inflight;          /* reads in flight (threads) */
    int buffered;               /* 1: reads through the OS page cache, held to pc_budget */
    uint64_t pc_budget;         /* bytes of the file the page cache may hold (buffered);
                                 * per layer when pc_per_layer */
    int pc_per_layer;           /* one budget and LRU per layer (policy scope=layer) */
    uint32_t n_layers;          /* layers replayed (<= the file's) */
    uint64_t seed;              /* layer-0 input vectors */
    int log_reads;              /* keep the offset of every read, in order (tests) */
    lf_scope scope;             /* token (default): attention and router too; ffn: experts */
    uint32_t n_tokens;          /* scope token: KV-cache positions (0: the trace's tokens) */
    lf_pcache_mech pc_mech;     /* buffered: what holds the budget (0: fadvise, lf_pcache.h) */
} lf_exec_moe_cfg;

/* Reads in flight at most (the depth of the executor's lf_io engine: its threads). */
#define LF_MOE_MAX_INFLIGHT 64

typedef struct {
    double io_s, mem_s, compute_s;   /* sums over every step */
    double pcache_s;                 /* instrument: mincore and the budget's evictions */
    uint64_t reads, bytes_read, loads, moves; /* reads: reads issued, one per load
                                      * (a whole record); loads: records read */
    uint64_t experts_computed;
    uint64_t pc_predicted;           /* loads the policy said the page cache serves */
    uint64_t pc_measured;            /* loads mincore found wholly cached before the read */
    uint64_t pc_agree;               /* loads where both said the same */
    uint64_t pc_partial;             /* loads mincore found partly cached (some pages, not
                                      * all: taken by a reclaimer outside the budget) */
    uint64_t pc_bytes_loaded;        /* bytes of the page-cache path's loads */
    uint64_t pc_bytes_cached;        /* of those, cached before the read (whole pages) */
    uint64_t max_cached_bytes;       /* largest mincore count of the file seen (see check) */
    uint64_t pc_checks;              /* times the whole file was counted */
    double checksum;                 /* sum of every token's last-layer output */
    double attn_s;                   /* part of compute_s: the resident part (scope token) */
    uint64_t resident_bytes;         /* scope token: attention, head, router and shared-expert
                                      * weights, KV cache */
} lf_exec_moe_stats;

typedef struct lf_exec_moe lf_exec_moe;

int lf_exec_moe_create(const lf_exec_moe_cfg *cfg, lf_exec_moe **out, lf_err *err);
void lf_exec_moe_free(lf_exec_moe *e);
void lf_exec_moe_backend(lf_backend *b, lf_exec_moe *e);
void lf_exec_moe_stats_get(const lf_exec_moe *e, lf_exec_moe_stats *s);
/* "fadvise" or "cgroup" (what held the page cache to its budget) or "direct"
 * (O_DIRECT, no page cache); the note: lf_pcache_note ("" when direct). */
const char *lf_exec_moe_mechanism(const lf_exec_moe *e);
const char *lf_exec_moe_mechanism_note(const lf_exec_moe *e);
/* Counts the file's cached bytes with mincore after every `every` steps (0: never),
 * keeping the largest in max_cached_bytes (the budget test). */
void lf_exec_moe_check_every(lf_exec_moe *e, uint32_t every);
/* The read log (log_reads): offsets in issue order. */
const uint64_t *lf_exec_moe_log(const lf_exec_moe *e, uint64_t *n);
/* The last step's output (d_model floats). */
const float *lf_exec_moe_last_output(const lf_exec_moe *e);

/* One replay of an expert trace with an expert file's record size and layout. */
typedef struct {
    const lf_trace *trace;
    const lf_weights *weights;  /* layout, shape and record size */
    const char *policy;         /* "pagecache:dram=8,pc=32", "lru:capacity=8", ... */
    uint64_t capacity;          /* experts per layer for the policy (0: all) */
    uint32_t n_tokens;          /* 0: all */
    uint32_t threads;           /* reads in flight (the reader's and the pricing's) */
    uint64_t seed;
    int quiet;
    lf_scope scope;             /* the executor's (lf_moe_measure); default token */
    lf_pcache_mech pc_mech;     /* the executor's page-cache mechanism (0: fadvise) */
} lf_moe_replay_cfg;

/* A trace with more layers than the file replays the file's layers (a model scaled
 * down to this disk: fewer layers, the real expert size): the layers replayed. */
uint32_t lf_moe_layers(const lf_trace *t, const lf_weights *w);
/* rows: n_tokens entries. counts: the policy's counters after the run (may be NULL). */
int lf_moe_replay(const lf_moe_replay_cfg *c, lf_backend *b, lf_token_row *rows,
                  lf_policy_counts *counts, lf_err *err);
/* The read path a policy implies: a `pagecache` policy with pc > 0 reads through the OS
 * page cache held to pc experts per layer (one LRU per layer for scope=layer, one pool
 * of pc x layers for scope=global); any other policy (pc = 0 included) reads with
 * O_DIRECT. capacity: the policy's default budget (pc defaults to capacity - dram). */
int lf_moe_tiers(const char *policy, uint64_t capacity, uint32_t n_layers, uint64_t record_bytes,
                 lf_exec_moe_cfg *ec, lf_err *err);

/* A measured run: the executor on c's trace and file, the read path from the policy. */
typedef struct {
    lf_exec_moe_stats stats;
    char mechanism[16];         /* "fadvise", "cgroup" or "direct" */
    char mechanism_note[1400];  /* lf_exec_moe_mechanism_note */
    uint64_t pc_budget_bytes;   /* bytes of the file the page cache may hold in all */
    lf_policy_counts counts;    /* the policy's counters */
    uint64_t huge_bytes;        /* the process's memory in huge pages at the run's end */
    char outside_reclaim[1024]; /* lf_pcache_outside_reclaim's note ("" when none or
                                 * no page cache) */
    int64_t outside_paged;      /* bytes that reclaimer paged out during the replay,
                                 * machine-wide (lf_pcache_outside_paged); -1: unknown or
                                 * no page cache */
} lf_moe_measured;
int lf_moe_measure(const lf_moe_replay_cfg *c, lf_token_row *rows, lf_moe_measured *out,
                   lf_err *err);

/* The simulator's twin of the expert executor for an expert file: the simulator's
 * backend (lf_price: unit bytes = the record's payload, experts priced by the
 * profile's measured expert kernel when it has one; at scope token its token_end prices
 * the resident part of n_layers layers (0: the file's) with fp16 weights, router and
 * shared expert included, as for any model; at scope ffn nothing beside the experts), with the
 * executor's two rules: loads the layer does not compute with (wrong prefetch guesses)
 * are read while it computes (io = the others' + max(0, theirs - compute)); with the page
 * cache (buffered) a miss also costs the copy out of the page cache. */
typedef struct {
    lf_price sim;
    lf_backend inner;
    lf_model model;             /* the file's shape, n_layers replayed */
    int buffered;
    uint64_t record_bytes;
} lf_moe_sim;
void lf_moe_sim_backend(lf_backend *b, lf_moe_sim *s, const lf_device *dev, const lf_weights *w,
                        uint32_t threads, int buffered, lf_scope scope, uint32_t n_layers);

#endif
