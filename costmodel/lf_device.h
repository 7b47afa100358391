/* lf_device: a device profile (flash, DRAM and compute parameters) and the cost
 * models that price work on it. Profiles are `key = value` files in costmodel/devices/;
 * every number there carries a comment saying where it comes from.
 * An lf_device is a plain value (no pointers); nothing to free. */
#ifndef LF_DEVICE_H
#define LF_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

/* The widths of the measured rates by shape: d_model of the FFN kernel's (ffn_bw_relu,
 * ffn_bw_swiglu), columns of the dense products' (dense_bw_cols). */
#define LF_FFN_BW_WIDTHS 6
extern const uint32_t lf_ffn_bw_widths[LF_FFN_BW_WIDTHS]; /* 1024 ... 8192, ascending */

/* The most memory a probe's reads may land in (probe --footprint, flash_footprint). */
#define LF_DEVICE_MAX_FOOTPRINT ((uint64_t)16 << 30)
/* The largest flash_batch_loss a profile may say (batches 5x slower than the stream):
 * beyond it the pattern is another device, to be probed as batches alone (probe --batch). */
#define LF_DEVICE_MAX_BATCH_LOSS 4

typedef struct {
    char name[64];
    /* Flash: each read pays flash_latency_s before its bytes flow at flash_stream_bw;
     * the device caps total bandwidth (flash_max_bw) and IOPS (flash_max_iops). */
    double flash_latency_s;
    double flash_stream_bw;   /* bytes/s of one read stream */
    double flash_max_bw;      /* bytes/s, whole device */
    double flash_max_iops;    /* reads/s, whole device */
    uint32_t flash_alignment; /* bytes; direct I/O offsets and sizes are multiples */
    /* How the three flash bounds combine (costmodel/README.md): a p-norm with this p;
     * 0 = a hard max (p = infinity). Optional key, default 0. */
    double flash_smooth_p;
    /* How far reads in flight fall short of independent streams: m reads in flight serve
     * as m^(1 - flash_depth_loss) streams (each read's latency grows with the queue).
     * In [0, 1]; optional key, default 0 (m streams). calibrate and fit fit it when the
     * probe has three or more thread counts (costmodel/README.md, "Depth"). */
    double flash_depth_loss;
    /* A batch of reads waited for whole (one layer's reads) costs more than the steady
     * state: flash_batch_s per batch (dispatch, the drain) plus flash_slot_s per read
     * slot it wakes (min(reads, in flight): a pool thread each). Optional keys, default 0;
     * calibrate fits them on probes of batches (costmodel/README.md, "Batches"). */
    double flash_batch_s;
    double flash_slot_s;
    /* A batch's reads run slower than the same reads in a steady stream: the stream's
     * time x (1 + flash_batch_loss) (io_uring on this VM's disk: batches of 512-2048
     * reads at 0.72-0.91 of the steady rate, time lost in proportion to the batch, which
     * a cost per batch cannot draw). Optional key, 0..LF_DEVICE_MAX_BATCH_LOSS, default
     * 0; fitted with the batch keys (costmodel/README.md, "Batches read slower"). */
    double flash_batch_loss;
    /* The pattern the flash keys describe: 0 (default) a steady stream of reads; N > 0
     * batches waited for whole, N reads the largest (probe --batch N or a list of sizes,
     * alone: the executor's per-layer pattern measured directly, where a device serves
     * it well below its steady state). A drift reference is probed in batches of N. */
    double flash_fit_batch;
    /* The memory the probe's reads landed in, bytes (probe --footprint): 0 (default) a
     * buffer per read in flight, as fio; a drift reference reads into as much. At most
     * LF_DEVICE_MAX_FOOTPRINT, the one bound of the probe, its CSV and the profile. */
    double flash_footprint;
    /* The compute (busy wait) before each probed batch the batch keys were fitted on, s
     * (probe/calibrate --batch-gap): a disk may serve a batch after a longer idle spell
     * slower, so a run whose layers compute far longer or shorter between their reads
     * is priced with batch terms of another condition (lf_device_flash_outside says so).
     * 0 = back to back or not recorded. */
    double flash_batch_gap_s;
    /* The batch terms probed after a second amount of compute (calibrate --batch-gap A,B;
     * fit of batches after two gaps): a batch after gap g costs what the two conditions
     * say, interpolated linearly in log(g) between the gaps and held at the nearer one
     * outside them (lf_flash_time_gap; costmodel/README.md, "A batch after compute").
     * flash_batch2_gap_s 0 (default) = one condition only; otherwise > 0 and unlike
     * flash_batch_gap_s, which must be > 0 too. */
    double flash_batch2_gap_s, flash_batch2_s, flash_slot2_s, flash_batch2_loss;
    /* The reads the flash keys were fitted on: the smallest and largest read size (bytes)
     * and the fewest and most reads in flight among the probe's points. Outside them the
     * model extrapolates (a profile fitted from 16 KiB up priced 4-8 KiB reads 16-58% slow
     * in `make demo`): lf_device_flash_outside says so. 0 = not recorded (a hand-written
     * or older profile). */
    double flash_fit_min_chunk, flash_fit_max_chunk;
    double flash_fit_min_depth, flash_fit_max_depth;
    /* How the flash keys were measured: 0 (default) with O_DIRECT; through the page cache
     * (calibrate --engine buffered: a read that misses it, its copy out included), every
     * probe read kept a miss under a memory cgroup whose limit makes the kernel reclaim
     * (LF_BUFFERED_CGROUP, the executor's cgroup mechanism: reclaim included) or by
     * dropping its pages (LF_BUFFERED_FADVISE, its fadvise mechanism). 1, an older
     * calibrate's buffered probe that let reads hit, is refused. */
    double flash_buffered;
    /* OS page cache as a second tier (MoE two-level model). 0 = not modelled. */
    double pagecache_bw;      /* bytes/s of a page-cache hit */
    double pagecache_latency_s;
    /* DRAM: a copy of n bytes costs dram_op_s + n / dram_copy_bw. */
    double dram_copy_bw;      /* bytes/s */
    double dram_op_s;         /* fixed cost of one copy / insert operation */
    double dram_alloc_s;      /* fixed cost of one allocation (realloc strategy) */
    double dram_fault_s;      /* per 4 KiB page of a fresh allocation first touched */
    /* Compute roofline: time = max(flops / compute_flops, bytes / mem_bw). */
    double compute_flops;     /* floating-point ops/s (a multiply-add is 2) */
    double mem_bw;            /* bytes/s streamed from DRAM by compute */
    double dense_bw;          /* bytes/s the dense matrix-vector products of the resident
                               * part (attention projections, output head, router) stream:
                               * another kernel than the FFN's; 0 = mem_bw */
    double ffn_row_gap_s;     /* s per FFN row computed that the next row does not follow
                               * in memory (padding after it: the prefetcher starts over);
                               * mem_bw is measured on packed rows; 0 = not measured */
    /* The FFN kernel's weight bytes/s by row shape: packed rows of ReLU (up, down) and
     * SwiGLU (gate, up, down) units of d_model lf_ffn_bw_widths[i] streamed from DRAM;
     * keys ffn_bw_relu_<width>, ffn_bw_swiglu_<width>; optional, 0 = not measured.
     * calibrate measures each relative to mem_bw's rows on the same buffer, times mem_bw
     * (costmodel/README.md, "The FFN kernel by shape": one mem_bw priced the FFN of the
     * fidelity shapes 6-48% off, by shape and by the caches' share). */
    double ffn_bw_relu[LF_FFN_BW_WIDTHS], ffn_bw_swiglu[LF_FFN_BW_WIDTHS];
    /* The dense products' bytes/s by the matrix's columns, measured by calibrate on 512 MiB
     * of fp16 weights as dense_bw (4096 columns) is: keys dense_bw_<columns> for the widths
     * of lf_ffn_bw_widths; optional, 0 = not measured. On this project's host 8192 columns
     * (x no longer in the L1 cache) streamed 19-32% slower than 1024-5120. */
    double dense_bw_cols[LF_FFN_BW_WIDTHS];
    /* The expert kernel (dequantise + gate, up, down products), measured by calibrate:
     * expert weights per second at 16 (fp16), 8, 4 and 2 bits (group-quantised, scale
     * and bias per 64). Optional; 0 = not measured: experts are priced by the roofline. */
    double expert_wps_16, expert_wps_8, expert_wps_4, expert_wps_2;
    /* A compute kernel's mean time over its median round's in calibrate (lf_stall: the
     * host's slow spells, which a run of seconds pays and a median leaves out). calibrate
     * has already divided every compute rate above by it; it is kept so that a kernel
     * timed once (validate's drift references) is compared with rate x stall, its own
     * statistic. Optional; 0 = not measured (1). */
    double compute_stall;
} lf_device;

/* Whether reads of mean_read_bytes each, inflight at a time, fall outside what the
 * profile's flash keys were fitted on (below 0.9x its smallest read, above 1.1x its
 * largest, or reads in flight outside its range), or layers computing gap_s seconds
 * between their batches (< 0: not checked) more than 4x longer or shorter than the
 * batches its batch terms were probed after (with two conditions: 4x outside the range
 * of their gaps): 1 with a sentence saying which into msg
 * (size bytes), else 0 (inside, or the profile does not record its range). */
int lf_device_flash_outside(const lf_device *d, double mean_read_bytes, uint32_t inflight,
                            double gap_s, char *msg, size_t size);

/* The measured expert-kernel rate for a bit width (16, 8, 4, 2), or 0. */
double lf_device_expert_wps(const lf_device *d, uint32_t bits);
/* compute_stall, or 1 for a profile without it. */
double lf_device_compute_stall(const lf_device *d);

#define LF_BUFFERED_CGROUP 2
#define LF_BUFFERED_FADVISE 3

/* Loads a profile. Unknown keys, missing keys, non-numbers and out-of-range values
 * (negative, zero rates) are errors naming the file and line. Optional keys:
 * pagecache_*, expert_wps_*, compute_stall, ffn_bw_*, dense_bw, dense_bw_*, ffn_row_gap_s, dram_alloc_s, dram_fault_s, flash_alignment (default 4096),
 * flash_smooth_p, flash_depth_loss, flash_batch_s, flash_slot_s, flash_batch_loss,
 * flash_batch2_*, flash_buffered, flash_fit_* (default 0),
 * name (default: the file's base name without .conf). */
int lf_device_load(const char *path, lf_device *out, lf_err *err);
/* Writes a profile atomically; `provenance` (may be NULL) is a comment block put at
 * the top and `source` a comment appended to every value (e.g. "measured by ..."). */
int lf_device_save(const lf_device *d, const char *path, const char *provenance,
                   const char *source, lf_err *err);

/* Per-group comment appended to the values (NULL: none), for profiles whose numbers come
 * from different places (flash fitted, DRAM measured, compute taken from a base...). */
typedef struct {
    const char *flash, *pagecache, *dram, *compute;
} lf_device_sources;
int lf_device_save_sourced(const lf_device *d, const char *path, const char *provenance,
                           const lf_device_sources *src, lf_err *err);
/* Finds a profile given as a path or a name. A spec naming an existing file (or holding a
 * '/') is used as it is; otherwise "NAME" or "NAME.conf" is looked up in `dirs`
 * (NULL-terminated, searched in order; empty or NULL entries skipped). The path found
 * goes to out (cap bytes). The error lists the folders searched and the names found. */
int lf_device_find(const char *spec, const char *const *dirs, char *out, size_t cap,
                   lf_err *err);
/* Names (without ".conf") of the profiles in `dir`, sorted, joined by ", " into out
 * (cap bytes; "" when none or unreadable). */
void lf_device_list_dir(const char *dir, char *out, size_t cap);

/* A profile's default name: path's base name without ".conf" (cap bytes). */
void lf_device_name_from_path(const char *path, char *out, size_t cap);
/* A profile's checks without a file: every rate > 0, times >= 0, p == 0 or p >= 1.
 * `where` names the profile in the message. */
int lf_device_check(const lf_device *d, const char *where, lf_err *err);

/* Seconds to read one batch of n_reads reads totalling `bytes`, `inflight` in flight,
 * waited for whole: lf_flash_rounds_time x (1 + flash_batch_loss) +
 * lf_flash_batch_overhead. 0 reads cost 0.
 * Monotone non-decreasing in bytes (at fixed n_reads) and in n_reads (at fixed read
 * size bytes/n_reads); non-increasing in inflight over whole rounds (inflight counts
 * that divide n_reads, or at least n_reads) when flash_slot_s is 0. Between those it
 * saws: 5 reads cost more with 4 in flight than with 3 when the device's bandwidth is
 * shared (4 + a lone last read against 3 + 2), as a real batch's tail does; and waking
 * more slots may cost more than their parallelism gains (flash_slot_s, psync). */
double lf_flash_time(const lf_device *d, uint64_t n_reads, uint64_t bytes, uint32_t inflight);
/* The same batch after gap_s seconds of compute (the layer's work between its batches):
 * lf_flash_time with the batch terms interpolated between the profile's two conditions
 * (flash_batch2_gap_s); lf_flash_time itself when the profile has one or gap_s < 0.
 * Gaps under 0.1 ms count as 0.1 ms. */
double lf_flash_time_gap(const lf_device *d, uint64_t n_reads, uint64_t bytes, uint32_t inflight,
                         double gap_s);
/* The same reads as part of a steady stream (the queue never drains): the three bounds
 * of the model only. */
double lf_flash_stream_time(const lf_device *d, uint64_t n_reads, uint64_t bytes,
                            uint32_t inflight);
/* The batch's reads in rounds: the reads that fill whole rounds of `inflight` as a
 * stream, then the last n_reads % inflight reads on their own (a slot that finishes
 * its read finds none left; a lone large read is not sped up by idle slots: the tail
 * of a batch of few large reads, e.g. 5 experts with 4 in flight take two reads' time,
 * not 5/4). Equal to lf_flash_stream_time when n_reads <= inflight or a multiple of it. */
double lf_flash_rounds_time(const lf_device *d, uint64_t n_reads, uint64_t bytes,
                            uint32_t inflight);
/* A batch's extra: flash_batch_s + min(n_reads, inflight) * flash_slot_s (0 for 0 reads). */
double lf_flash_batch_overhead(const lf_device *d, uint64_t n_reads, uint32_t inflight);
/* Steady-state throughput (bytes/s) the model predicts for reads of `chunk` bytes,
 * `inflight` at once (lf_flash_stream_time). */
double lf_flash_throughput(const lf_device *d, uint64_t chunk, uint32_t inflight);
/* Seconds for n_ops DRAM copy operations moving `bytes` in all. */
double lf_dram_time(const lf_device *d, uint64_t n_ops, uint64_t bytes);
/* Seconds for n_allocs allocations of `bytes` in all (the reallocate-per-token
 * strategy): n_allocs * dram_alloc_s + pages(bytes) * dram_fault_s, the pages of a fresh
 * matrix faulted in as it is filled. */
double lf_dram_alloc_time(const lf_device *d, uint64_t n_allocs, uint64_t bytes);
/* The roofline at a given bandwidth: seconds for `flops` floating-point ops streaming
 * `bytes`, max(flops / compute_flops, bytes / bw), a term dropped when its count is 0.
 * bw is the kernel's: mem_bw (lf_compute_time), lf_device_ffn_bw for a dense model's
 * FFN, lf_device_dense_bw_at for the resident part; a caller pricing many steps of one
 * shape (sim's backend) takes the rate once. */
double lf_roofline_time(const lf_device *d, double flops, double bytes, double bw);
/* The roofline at mem_bw. */
double lf_compute_time(const lf_device *d, double flops, double bytes);
/* The FFN kernel's weight bytes/s for rows of d_model (swiglu: gate, up, down; else up,
 * down): the profile's measured rates for that activation, interpolated in log2(d_model)
 * (time per byte, linearly) between the two measured widths around it, the nearest one
 * outside them; mem_bw when the profile measured none. */
double lf_device_ffn_bw(const lf_device *d, int swiglu, uint32_t d_model);
/* The bytes/s of the resident part's dense products: dense_bw, or mem_bw when the
 * profile has none. */
double lf_device_dense_bw(const lf_device *d);
/* The bytes/s of dense products over matrices of `cols` columns: the measured
 * dense_bw_<columns>, interpolated as lf_device_ffn_bw; lf_device_dense_bw without them. */
double lf_device_dense_bw_at(const lf_device *d, uint32_t cols);
/* Page-cache tier: seconds for n hits totalling bytes (0 when not modelled). */
double lf_pagecache_time(const lf_device *d, uint64_t n_hits, uint64_t bytes);
/* LF_EINVAL, saying so, when a plan has page-cache hits (n_hits > 0) but the profile does
 * not model that tier (pagecache_bw 0): the hits would be priced as free. */
int lf_pagecache_check(const lf_device *d, uint64_t n_hits, lf_err *err);

#endif
