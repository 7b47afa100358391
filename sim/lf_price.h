/* lf_price: the simulator's backend for the replay loop (sim/lf_replay.h), the twin of
 * the executor's (bench/lf_exec.h): it prices each step with the device's cost models
 * instead of performing it. The caller owns the state struct; nothing is allocated. */
#ifndef LF_PRICE_H
#define LF_PRICE_H

#include <stdint.h>

#include "lf_device.h"
#include "lf_model.h"
#include "lf_replay.h"

/* Fills b with the simulator's backend on state (the caller's; it keeps pointers to dev
 * and model); inflight: reads in flight.
 *   layer:     io = lf_flash_time_gap(reads, bytes_read, inflight, the compute before
 *                   the batch: lf_price_batch_gap_s, when the profile has two batch
 *                   conditions) + lf_pagecache_time(n_pagecache, pagecache_bytes);
 *              mem = lf_dram_time(copy_ops, bytes_copied)
 *                    + lf_dram_alloc_time(allocs, alloc_bytes); bytes_copied and
 *              alloc_bytes count the DRAM rows the manager really moves: a unit's
 *              records as read (bundled: one padded record; split: one padded record
 *              per vector), rounded up to the layout's alignment (4096 for the
 *              executor's direct-I/O rows; lf_replay_dram_row_bytes);
 *              compute = roofline of the sparse FFN on n_compute_rows rows at ffn_bw:
 *              flops = 2 * vectors * rows * d_model (* d_ff for experts), bytes = rows*row;
 *              plus rows * ffn_row_gap_s when the rows are gapped (rows_gapped).
 *   token_end: scope token: compute = one roofline at dense_bw over the resident work of the
 *              token (O's projection a roofline of its own at dense_bw_o when that rate
 *              differs): Q/K/V/O projections (2 flops per weight, the weights streamed from
 *              DRAM), attention over the KV cache of positions 0..token (4 * q_dim flops
 *              and 2 * kv_dim fp32 values per position and layer), 2 RMS norms per layer
 *              and a final one, one embedding row, the output head (vocab x d_model) and
 *              an MoE model's shared experts and router (d_model x n_experts per
 *              layer); the shared experts priced by the expert kernel instead when the
 *              profile measured it at the resident dtype (shared_wps); scope ffn: 0.
 *              io = reading stream_bytes (0
 *              unless a baseline streams the resident part too) in reads of stream_chunk
 *              bytes. */
typedef struct {
    const lf_device *dev;
    const lf_model *model;
    uint32_t dtype_bytes;
    uint32_t inflight;
    uint64_t stream_bytes;   /* bytes of non-FFN weights read from flash per token */
    uint64_t stream_chunk;   /* read size for them (default 1 MiB) */
    lf_scope scope;          /* default token */
    uint64_t unit_bytes;     /* > 0: bytes of one unit as stored (quantised experts) */
    double expert_wps;       /* > 0: experts cost their weights / this (a measured
                              * kernel, lf_device_expert_wps) instead of the roofline */
    int rows_gapped;         /* 1: each DRAM row the FFN kernel computes has bytes after its
                              * vectors that it skips (padding to the alignment): priced
                              * ffn_row_gap_s per row (lf_replay_dram_row_gapped) */
    double shared_wps;       /* > 0: the shared experts cost their weights / this (the
                              * expert kernel at the resident dtype, which runs them),
                              * outside the resident part's dense roofline; set by
                              * lf_price_backend from the profile */
    double ffn_bw;           /* bytes/s of the FFN kernel for the model's shape
                              * (lf_device_ffn_bw; experts: mem_bw) */
    double dense_bw;         /* bytes/s of the resident part's products at d_model columns
                              * (lf_device_dense_bw_at) */
    double dense_bw_o;       /* the same at q_dim columns (O's rows); the three set once
                              * by lf_price_backend, not per step */
} lf_price;
void lf_price_backend(lf_backend *b, lf_price *state, const lf_device *dev,
                      const lf_model *model, uint32_t dtype_bytes, uint32_t inflight);

/* The layer callback's mem and compute for step st into out (io untouched): for a
 * backend that prices the step's reads its own way (the expert executor's twin). */
void lf_price_layer_work(const lf_price *s, const lf_step *st, lf_times *out);

/* The compute before a step's read batch, s, for lf_flash_time_gap: the step's priced
 * compute and DRAM work (t) plus, at scope token, the layer's share of the token's
 * resident part but for the output head, and before layer 0 the head (computed at the
 * previous token's end). The executor reads a layer's rows after the previous layer's
 * work; this layer's own stands in for it (layers of one model compute alike). Over a
 * token's layers the gaps sum to its priced compute and DRAM work. */
double lf_price_batch_gap_s(const lf_price *s, const lf_step *st, const lf_times *t);

#endif
