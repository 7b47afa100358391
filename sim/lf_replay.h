/* lf_replay: the one replay loop. For every token and layer it takes the needed set
 * from the trace, the predictor's set, the policy's plan, the DRAM manager's moves,
 * the layout's extents and the reader's reads, and hands them to a backend: the
 * simulator's backend (sim/lf_price.h) prices them with the cost model; the executor's
 * backend (bench/lf_exec.h) performs them on the real SSD and DRAM. Same decisions, two
 * ways to price them.
 * The caller owns cfg's objects and the rows array (n_tokens entries). */
#ifndef LF_REPLAY_H
#define LF_REPLAY_H

#include <stdint.h>

#include "lf_device.h"
#include "lf_err.h"
#include "lf_layout.h"
#include "lf_model.h"
#include "lf_plans.h"
#include "lf_policy.h"
#include "lf_predictor.h"
#include "lf_reader.h"
#include "lf_slots.h"
#include "lf_trace.h"

typedef enum {
    LF_DRAM_PREALLOC = 0, /* the paper's manager: preallocated rows, swap-delete, append */
    LF_DRAM_REALLOC = 1   /* baseline: a fresh matrix per token and layer, all rows copied */
} lf_dram_strategy;

/* What a token is (config.conf `scope`): `token` = the whole token (per layer the
 * attention block from DRAM-resident weights over a KV cache, the norms and the FFN
 * streamed from flash; the embedding row and the output head), the default; `ffn` = the
 * FFN stream only. sim, run, validate, sweep and the ablation price the same scope. */
typedef enum { LF_SCOPE_TOKEN = 0, LF_SCOPE_FFN = 1 } lf_scope;
int lf_scope_parse(const char *s, lf_scope *out, lf_err *err);
const char *lf_scope_name(lf_scope s);

/* Everything one token-layer step hands the backend. Pointers are valid during the call. */
typedef struct {
    uint32_t token, layer;
    const uint32_t *need; uint32_t n_need;  /* the true set (trace) */
    const uint32_t *want; uint32_t n_want;  /* the predicted set the policy served */
    uint32_t false_pos, false_neg;
    const lf_plan *plan;
    const lf_move *moves; uint32_t n_moves; /* DRAM-manager copies for the evictions
                                             * (moves NULL when played from lf_plans) */
    uint32_t first_new_row;                 /* loads land in rows [first_new_row, +n_load) */
    const lf_slots *slots;                  /* the layer's rows after the step (NULL when
                                             * played from lf_plans) */
    const uint32_t *flash_load; uint32_t n_flash_load; /* loads read from flash: the plan's
                                             * loads less those the page cache serves */
    uint32_t n_pagecache;                   /* loads served by the OS page cache (MoE
                                             * two-level model): no flash read */
    uint64_t pagecache_bytes;               /* their bytes (n_pagecache * row bytes) */
    const lf_extent *extents; uint32_t n_extents; /* NULL / 0 for a counts_only backend */
    const lf_read *reads; uint32_t n_reads;   /* reads: NULL for a counts_only backend */
    uint64_t bytes_read;                    /* sum of read lengths, padding and gaps included */
    uint64_t bytes_copied;                  /* DRAM bytes the manager moves this step */
    uint64_t copy_ops;                      /* DRAM copy operations this step */
    lf_dram_strategy dram;                  /* how the manager keeps the rows */
    uint64_t allocs;                        /* matrix allocations this step (realloc: 1) */
    uint64_t alloc_bytes;                   /* their bytes (rows x the DRAM row size) */
    uint32_t n_compute_rows;                /* rows the FFN computes on: all resident rows
                                             * (neurons), the routed experts (MoE) */
} lf_step;

typedef struct {
    double io_s, mem_s, compute_s;
} lf_times;

typedef struct lf_backend lf_backend;
struct lf_backend {
    void *state;
    /* Prices or performs one step. */
    int (*layer)(lf_backend *b, const lf_step *step, lf_times *out, lf_err *err);
    /* Optional: per-token work outside the FFN stream (resident attention, ...). */
    int (*token_end)(lf_backend *b, uint32_t token, lf_times *out, lf_err *err);
    /* 1: layer() keeps no state between calls (the simulator's pricing), so the replay
     * may run a block of tokens layer by layer; 0 (an executor): token by token. */
    int any_order;
    /* 1: layer() reads only the step's counts and sizes (n_reads, bytes_read, copies,
     * ...), not its extents, reads, moves or slots, which the replay may then leave
     * NULL (the simulator's pricing); 0: everything. */
    int counts_only;
};

typedef struct {
    uint32_t token;
    double io_ms, mem_ms, compute_ms, total_ms;
    double end_compute_ms;  /* the part of compute_ms the backend's token_end took (the
                             * simulator's: the whole resident part at scope token) */
    uint64_t bytes_read, reads, loads, evictions, hits, misses;
    uint64_t false_pos, false_neg;
    uint64_t resident_units, resident_bytes; /* FFN cache after the token, all layers */
    uint64_t bytes_copied, copy_ops;
    uint64_t policy[LF_POLICY_MAX_COUNTERS]; /* the token's share of each of the policy's
                                               * total counters (lf_policy_counters order;
                                               * LF_COUNT_MIN counters: 0) */
} lf_token_row;

typedef struct {
    const lf_trace *trace;
    const lf_model *model;
    uint32_t dtype_bytes;
    lf_policy *policy;
    const lf_layout *layout; /* a layout of dtype_bytes 0 (group-quantised experts) gives
                              * the unit's bytes itself: vectors * vector_bytes */
    lf_reader_cfg reader;
    lf_predictor *predictor; /* NULL: the predictor is perfect (want = need) */
    lf_dram_strategy dram;
    uint64_t dram_row_bytes; /* bytes a DRAM row holds and a move copies; 0: the layout's
                              * (lf_replay_dram_row_bytes); the executor's rows may be
                              * larger (whole pages) */
    uint32_t n_tokens;       /* tokens to replay from 0; 0 = the whole trace */
    uint64_t capacity;       /* FFN cache units per layer the budget allows (the policy's
                              * ctx.capacity); rows preallocated per layer are the policy's
                              * max_resident, else this, else all units */
    int quiet;               /* no progress line (parallel sweeps) */
    int token_major;         /* 1: token by token even where layer by layer is allowed
                              * (tests compare the two orders) */
    int check_sets;          /* 1: the policy checks the trace's sets again at every step
                              * (sorted, unique, < units). 0: it trusts them when they
                              * are the trace's own (want = need): a loaded or built
                              * lf_trace was checked once; a predictor's sets are always
                              * checked. Tests turn it on for traces changed in memory. */
    lf_plans *record;        /* non-NULL: every step's decisions are recorded into it
                              * (until it is full: then it stays incomplete) */
    const lf_plans *play;    /* non-NULL: the decisions come from it (recorded by a replay
                              * of the same trace, predictor and policy); policy and
                              * predictor are then unused (policy may be NULL) */
} lf_replay_cfg;

/* Bytes of one DRAM-manager row for a layout: what the executor keeps per unit and each
 * move or realloc copy moves (records as read, so reads land in place), rounded up to
 * the layout's alignment (4096 in every weights file: direct-I/O destinations). */
uint64_t lf_replay_dram_row_bytes(const lf_layout *layout);
/* 1 when a DRAM row of row_bytes (0: the layout's) holds more than its unit's vectors
 * (its record padded to the alignment, a split vector's padded record, whole pages the
 * executor rounds to), so the FFN kernel, which reads only the vectors, skips bytes
 * between rows (costmodel/README.md, "Gapped rows"). */
int lf_replay_dram_row_gapped(const lf_layout *layout, uint64_t row_bytes);

/* Replays; rows must hold n_tokens entries. Progress on stderr for long replays.
 * When the policy's layers are independent (lf_policy_desc.layers_independent) and the
 * backend is any_order, blocks of tokens are replayed layer by layer (faster, the same
 * rows bit for bit); otherwise token by token. On an error the rows are incomplete. */
int lf_replay(const lf_replay_cfg *cfg, lf_backend *backend, lf_token_row *rows, lf_err *err);

#endif
