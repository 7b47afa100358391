/* lf_exec: the executor, a second lf_backend for the shared replay loop (sim/lf_replay.h):
 * per step it performs the DRAM manager's moves (lf_dram), reads the step's flash reads
 * from the weights file through an I/O engine (lf_io) into the rows, and computes the
 * sparse FFN (lf_ffn) on rows [0, num_used) for a real input vector, timing I/O,
 * memory management and compute separately. At scope token it also runs the resident
 * part of the token (lf_attn: embedding, attention with a KV cache, norms, output head)
 * and chains the residual stream through the layers. An lf_exec owns its engine, rows and
 * buffers; it keeps a pointer to the lf_weights, which must outlive it. */
#ifndef LF_EXEC_H
#define LF_EXEC_H

#include <stdint.h>

#include "lf_attn.h"
#include "lf_dram.h"
#include "lf_err.h"
#include "lf_ffn.h"
#include "lf_io.h"
#include "lf_replay.h"
#include "lf_weights.h"

typedef struct {
    const lf_weights *weights;
    const char *engine;         /* "psync", "io_uring", "buffered", "null" */
    uint32_t inflight;          /* reads in flight (threads / queue depth) */
    lf_dram_strategy dram;
    uint32_t n_layers;          /* layers replayed (<= the file's) */
    uint64_t seed;              /* input vectors (and the resident weights' values) */
    lf_scope scope;             /* token (default): the whole token; ffn: the FFN only */
    uint32_t n_tokens;          /* scope token: KV-cache positions (the run's tokens) */
} lf_exec_cfg;

typedef struct {
    double io_s, mem_s, compute_s;   /* sums over every step */
    double scatter_s;                /* part of mem_s: copies out of the staging buffer */
    uint64_t reads, bytes_read;
    uint64_t direct_reads;           /* landed in their rows */
    uint64_t staged_reads;           /* went through the staging buffer */
    uint64_t moves, rows_loaded;
    uint64_t dram_bytes;             /* the managers' matrices and biases now */
    uint64_t fixed_bytes;            /* staging, biases of every unit, request arrays */
    double checksum;                 /* sum of every token's last-layer output */
    double attn_s;                   /* part of compute_s: the resident part (scope token) */
    uint64_t resident_bytes;         /* scope token: attention and head weights, KV cache */
} lf_exec_stats;

typedef struct lf_exec lf_exec;

/* Opens the engine on the weights file (direct engines require a 4096-aligned file). */
int lf_exec_create(const lf_exec_cfg *cfg, lf_exec **out, lf_err *err);
/* Bytes of one of the executor's DRAM rows for the file (what a move copies). */
uint64_t lf_exec_row_bytes(const lf_weights *w);
void lf_exec_free(lf_exec *e);

/* Points b at the executor (b->state = e). */
void lf_exec_backend(lf_backend *b, lf_exec *e);

void lf_exec_stats_get(const lf_exec *e, lf_exec_stats *s);

/* Scope token: the resident part (NULL at scope ffn), for tests. */
const lf_attn *lf_exec_attn(const lf_exec *e);

/* Makes every following step read its input vector from x (d_model floats, the caller's,
 * read at each step: a real model's FFN input) instead of generating one; NULL restores
 * the generated inputs. */
void lf_exec_set_input(lf_exec *e, const float *x);

/* The last step's input and output vectors (d_model floats):
 * for tests that recompute the FFN densely. */
const float *lf_exec_last_input(const lf_exec *e);
const float *lf_exec_last_output(const lf_exec *e);

#endif
