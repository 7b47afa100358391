/* llmflash calibrate: probe + fit + DRAM + page cache + compute -> a device profile. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lf_cli.h"
#include "lf_fs.h"
#include "lf_device.h"
#include "lf_fit.h"
#include "lf_io.h"
#include "lf_cli_probe.h"
#include "lf_membench.h"
#include "lf_calcomp.h"

#define CMD "calibrate"

#include "lf_ffn.h"

static void help(void)
{
    printf(
        "usage: llmflash calibrate --file PATH -o NAME.conf [options]\n"
        "\n"
        "Measures this machine and writes a complete device profile:\n"
        "  flash      llmflash probe on PATH (O_DIRECT) + llmflash fit; then batches of\n"
        "             --batch-probe reads of 16 and 64 KiB at each thread count, waited\n"
        "             for whole as the executor's per-layer reads are, each after 5 or\n"
        "             0.25 ms of compute (--batch-gap), interleaved: flash_batch_s,\n"
        "             flash_slot_s and flash_batch_loss, what a batch after 5 ms costs\n"
        "             beyond the steady stream, and flash_batch2_* after 0.25 ms (a\n"
        "             layer's batch is priced by its own compute, between the two)\n"
        "  DRAM       memcpy bandwidth of 256 MiB buffers, the fixed cost of one 256-byte\n"
        "             move between random slots, malloc+free of 64 MiB\n"
        "  page cache buffered reads of PATH's first 64 MiB once cached\n"
        "  compute    the sparse FFN kernel (OPT-6.7B shape, --dtype): flop/s with the rows\n"
        "             in cache, weight bytes/s with 4096 rows (the roofline's two rates),\n"
        "             the same rows with a page of padding after each: ffn_row_gap_s, what\n"
        "             a row of a padded layout costs beyond a packed one; ReLU and SwiGLU\n"
        "             rows of d_model 1024-8192 streamed from 512 MiB: ffn_bw_relu_<d>,\n"
        "             ffn_bw_swiglu_<d>, the kernel's rate by shape from DRAM;\n"
        "             the dense products of the resident part (attention, output head)\n"
        "             on a 512 MiB matrix of 4096 columns: dense_bw, and the same bytes\n"
        "             as rows of 1024-8192 columns: dense_bw_<columns>; each the median of 5\n"
        "             interleaved rounds (memory bandwidth drifts from second to second)\n"
        "  experts    the expert kernel (dequantise + gate/up/down, bench/lf_quant) on\n"
        "             4096 x 1024 experts at fp16, int8, q4, q2, each read from DRAM (copies\n"
        "             of one cycled over 256 MiB, as the executor's are not in the CPU's\n"
        "             caches): expert_wps_* (weights/s), each the median of 5 interleaved\n"
        "             rounds\n"
        "  spells     every compute rate above divided by compute_stall: the kernels'\n"
        "             mean time over their median round's, pooled (a run of seconds pays\n"
        "             the host's slow spells that a median leaves out)\n"
        "\n"
        "options:\n" LF_CLI_PROBE_HELP
        "  -o, --output FILE  the profile to write (atomically)\n"
        "  --engine NAME      psync (default), io_uring, or buffered: reads through the\n"
        "                     page cache, each a miss (--pagecache-mechanism), so the\n"
        "                     flash keys price misses and their copy out (flash_buffered\n"
        "                     = 2 held by a cgroup, 3 by fadvise; for expert grids'\n"
        "                     page-cache paths: validate --device buffered=P.conf);\n"
        "                     probed in batches of 4 reads waited for whole, the\n"
        "                     executor's pattern, unless --batch says otherwise\n"
        "  --probe-csv FILE   also keep the probe's CSV (steady rows, then batch rows)\n"
        "  --batch-probe LIST reads per probed batch, one size or several (default 32,512:\n"
        "                     two sizes tell a batch's slower reads, flash_batch_loss,\n"
        "                     from a cost per batch; 0: no batch probes, the batch keys\n"
        "                     stay 0)\n"
        "  --name NAME        profile name (default: the output's base name)\n"
        "  --dtype T          weights of the compute measurement: fp16 (default, what\n"
        "                     `weights make` writes and the executor runs) or fp32\n"
        "\n"
        "example:\n"
        "  llmflash calibrate --file /var/tmp/probe.bin -o costmodel/devices/mybox.conf\n");
}

/* The compute kernels' rounds, spread over the steady probe (a round after every fifth
 * of its points) when `compute` is set: the rates' medians then sample a window of a
 * minute or more, not the 25 s of five rounds back to back (costmodel/README.md, "Slow
 * spells"). A round's error stops the spreading and is kept for after the probe. */
typedef struct {
    lf_calcomp *compute;
    int rc;
    lf_err err;
} probe_state;

static void on_row(const lf_probe_row *r, size_t i, size_t total, void *arg)
{
    probe_state *ps = arg;
    fprintf(stderr, "calibrate: probe [%zu/%zu] chunk %llu threads %u: %.1f MB/s\n", i + 1,
            total, (unsigned long long)r->chunk, r->threads, r->mb_s);
    while (ps->compute && ps->rc == LF_OK &&
           lf_calcomp_rounds_done(ps->compute) < (i + 1) * LF_CALCOMP_ROUNDS / total) {
        fprintf(stderr, "calibrate: compute round %u/%d, between the probe's points\n",
                lf_calcomp_rounds_done(ps->compute) + 1, LF_CALCOMP_ROUNDS);
        ps->rc = lf_calcomp_round(ps->compute, &ps->err);
    }
}


/* The batch pass's two gaps unless --batch-gap says otherwise (s). */
#define CALIBRATE_GAP_S LF_PROBE_BATCH_GAP_S
#define CALIBRATE_GAP2_S 0.00025

/* "5 ms" or "5 and 0.25 ms": the gaps the batches are probed after (cap bytes). */
static void gaps_text(const lf_probe_opts *o, char *out, size_t cap)
{
    if (o->n_batch_gaps == 2)
        snprintf(out, cap, "%g and %g ms", o->batch_gaps[0] * 1e3, o->batch_gaps[1] * 1e3);
    else
        snprintf(out, cap, "%g ms",
                 (o->n_batch_gaps ? o->batch_gaps[0] : LF_PROBE_BATCH_GAP_S) * 1e3);
}

/* The batch pass: batches of each of the `n_sizes` sizes of reads of 16 and 64 KiB
 * (those the file holds) at the steady grid's thread counts, appended to rows (the fit
 * takes the flash_batch_* keys from them; two sizes tell a batch's slower reads from a
 * cost per batch). */
static int probe_batches(const lf_probe_opts *steady, const uint64_t *sizes, size_t n_sizes,
                         lf_probe_row **rows, size_t *n, lf_err *err)
{
    static const uint64_t chunks[] = {16384, 65536};
    struct stat sb;
    size_t n_chunks = 0;
    if (stat(steady->path, &sb) == 0)
        while (n_chunks < 2 && (uint64_t)sb.st_size >= chunks[n_chunks])
            n_chunks++;
    if (n_chunks == 0)
        return LF_OK; /* a file under 16 KiB: no batches, the batch keys stay 0 */
    lf_probe_opts o = *steady;
    o.chunks = chunks;
    o.n_chunks = n_chunks;
    o.batches = sizes;
    o.n_batches = n_sizes;
    char list[128] = "";
    for (size_t i = 0; i < n_sizes; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%llu", i ? ", " : "",
                 (unsigned long long)sizes[i]);
    lf_probe_row *more = NULL;
    size_t m = 0;
    char gaps[64];
    gaps_text(&o, gaps, sizeof gaps);
    fprintf(stderr, "calibrate: batches of %s reads (%s), each after %s of compute, "
            "waited for whole...\n", list, n_chunks == 2 ? "16 and 64 KiB" : "16 KiB", gaps);
    int rc = lf_probe_run(&o, &more, &m, err);
    lf_probe_row *all = rc == LF_OK ? realloc(*rows, (*n + m) * sizeof *all) : NULL;
    if (rc == LF_OK && !all)
        rc = lf_fail(err, LF_ENOMEM, "calibrate: out of memory");
    if (all) {
        memcpy(all + *n, more, m * sizeof *all);
        *rows = all;
        *n += m;
    }
    free(more);
    return rc;
}

#define MAX_BATCH_PROBES 8

/* --batch-probe's list into sizes ("0": none): 0, or LF_EXIT_USAGE after a message. */
static int parse_batch_probe(const char *arg, uint64_t sizes[MAX_BATCH_PROBES], size_t *n)
{
    *n = 0;
    if (strcmp(arg, "0") == 0)
        return 0;
    uint64_t *v = NULL;
    lf_err err;
    if (lf_parse_size_list(arg, &v, n, &err) != LF_OK)
        return lf_cli_usage(CMD, "--batch-probe: %s", err.msg);
    int ok = *n <= MAX_BATCH_PROBES;
    for (size_t i = 0; ok && i < *n; i++) {
        ok = v[i] >= 1 && v[i] <= 65536;
        sizes[i] = v[i];
    }
    free(v);
    if (!ok)
        return lf_cli_usage(CMD, "--batch-probe '%s': up to %d sizes of 1..65536 reads, or 0 "
                            "alone for no batch probes", arg, MAX_BATCH_PROBES);
    return 0;
}

int cmd_calibrate(int argc, char **argv)
{
    static const struct option opts[] = {LF_CLI_PROBE_LONGOPTS,
                                         {"output", required_argument, 0, 'o'},
                                         {"probe-csv", required_argument, 0, 'p'},
                                         {"name", required_argument, 0, 'n'},
                                         {"dtype", required_argument, 0, 'd'},
                                         {"batch-probe", required_argument, 0, 'B'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    lf_cli_probe p;
    lf_cli_probe_init(&p);
    const char *out = NULL, *csv = NULL, *name = NULL, *dtype = "fp16";
    const char *batch_probe = "32,512";
    int c;
    lf_cli_reset_getopt();
    while ((c = lf_cli_getopt(CMD, argc, argv, "o:h", opts, NULL)) != -1) {
        int k = lf_cli_probe_option(&p, CMD, c, optarg);
        if (k < 0)
            return LF_EXIT_USAGE;
        if (k > 0)
            continue;
        switch (c) {
        case 'o': out = optarg; break;
        case 'p': csv = optarg; break;
        case 'n': name = optarg; break;
        case 'B': batch_probe = optarg; break;
        case 'd':
            if (strcmp(optarg, "fp16") && strcmp(optarg, "fp32"))
                return lf_cli_usage(CMD, "--dtype '%s': use fp16 or fp32", optarg);
            dtype = optarg;
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!out)
        return lf_cli_usage(CMD, "-o NAME.conf is required");
    uint64_t probe_sizes[MAX_BATCH_PROBES];
    size_t n_probe_sizes = 0;
    if (parse_batch_probe(batch_probe, probe_sizes, &n_probe_sizes) != 0)
        return LF_EXIT_USAGE;
    const char *engine = p.o.engine, *file = p.o.path;
    if (strcmp(engine, "psync") != 0 && strcmp(engine, "io_uring") != 0 &&
        strcmp(engine, "buffered") != 0)
        return lf_cli_usage(CMD, "--engine '%s': use psync, io_uring or buffered", engine);
    /* buffered reads waited for as a batch may not overlap where a stream of them does
     * (costmodel/README.md, "Batches, not streams"): measure the executor's pattern */
    int batch_default = !strcmp(engine, "buffered") && !p.batches_s;
    if (batch_default)
        p.batches_s = "4";
    int rc = lf_cli_probe_finish(&p, CMD);
    if (rc != 0) {
        lf_cli_probe_free(&p);
        return rc;
    }
    lf_err err;
    if (lf_cli_refuse_same(CMD, out, file, csv, LF_CLI_END) ||
        lf_cli_refuse_same(CMD, csv, file, LF_CLI_END)) {
        lf_cli_probe_free(&p);
        return LF_EXIT_FAIL;
    }
    /* Fail now rather than after minutes of measuring. */
    if (lf_check_writable(out, &err) != LF_OK || (csv && lf_check_writable(csv, &err) != LF_OK)) {
        lf_cli_probe_free(&p);
        return lf_cli_error(CMD, &err);
    }
    /* the batch pass after the two gaps that span what layers compute between their reads
     * (0.2-3.5 ms in the FFN-scope grids, more at scope token) */
    if (p.o.n_batches == 0 && n_probe_sizes > 0 && p.o.n_batch_gaps == 0) {
        p.o.batch_gaps[0] = CALIBRATE_GAP_S;
        p.o.batch_gaps[1] = CALIBRATE_GAP2_S;
        p.o.n_batch_gaps = 2;
    }
    if (batch_default)
        fprintf(stderr, "calibrate: buffered reads probed in batches of 4 waited for whole (the "
                "executor's per-layer pattern; --batch LIST to change)\n");
    if ((rc = lf_cli_probe_hold(&p, CMD)) != 0) {
        lf_cli_probe_free(&p);
        return rc;
    }
    double buffered = !strcmp(p.mechanism, "cgroup")    ? LF_BUFFERED_CGROUP
                      : !strcmp(p.mechanism, "fadvise") ? LF_BUFFERED_FADVISE
                                                        : 0;
    /* the compute rounds spread over a direct probe; a buffered one's may run in a memory
     * cgroup sized for the page cache, where the kernels' 1 GB would not fit: after it */
    probe_state ps = {NULL, LF_OK, {0}};
    if (!buffered && (rc = lf_calcomp_create(dtype, &ps.compute, &err)) != LF_OK) {
        lf_cli_probe_free(&p);
        return lf_cli_error("calibrate", &err);
    }
    p.o.on_row = on_row;
    p.o.arg = &ps;
    lf_probe_row *rows = NULL;
    lf_fit_point *pts = NULL;
    size_t n = 0;
    rc = lf_probe_run(&p.o, &rows, &n, &err);
    if (rc == LF_OK && ps.rc != LF_OK)
        rc = ps.rc, err = ps.err;
    lf_calcomp *compute = ps.compute;
    ps.compute = NULL; /* the batch pass copies on_row: no rounds there */
    int batched = p.o.n_batches > 0 || n_probe_sizes > 0;
    char gaps[64];
    gaps_text(&p.o, gaps, sizeof gaps);
    if (rc == LF_OK && p.o.n_batches == 0 && n_probe_sizes > 0)
        rc = probe_batches(&p.o, probe_sizes, n_probe_sizes, &rows, &n, &err);
    lf_cli_probe_free(&p);
    if (rc == LF_OK && csv)
        rc = lf_probe_write_csv(csv, rows, n, &err);
    if (rc == LF_OK && !(pts = malloc(n * sizeof *pts)))
        rc = lf_fail(&err, LF_ENOMEM, "out of memory");
    for (size_t i = 0; rc == LF_OK && i < n; i++)
        pts[i] = (lf_fit_point){rows[i].chunk, rows[i].threads, rows[i].mb_s * 1e6,
                                rows[i].batch, rows[i].footprint,
                                rows[i].batch ? rows[i].batch_gap_s : 0};
    free(rows);
    lf_device base;
    lf_fit_unmeasured_defaults(&base);
    lf_fit_result res;
    if (rc == LF_OK)
        rc = lf_fit_flash(pts, n, &base, -1, -1, &res, &err);
    free(pts);
    if (rc == LF_OK && !compute)
        rc = lf_calcomp_create(dtype, &compute, &err);
    if (rc != LF_OK) {
        lf_calcomp_free(compute);
        return lf_cli_error("calibrate", &err);
    }
    lf_device *d = &res.dev;
    d->flash_buffered = buffered;
    fprintf(stderr, "calibrate: flash fit: %zu points, median APE %.2f%%\n", n, res.mdape);
    const char *how = "";
    lf_stall stall = {0};
    fprintf(stderr, "calibrate: DRAM, page cache and compute...\n");
    /* DRAM copies at the row sizes the manager moves (4-64 KiB rows, random slots of a
     * large buffer), not a 256 MiB memcpy: dram_op_s and dram_copy_bw are the line
     * through them; the large copy is printed for comparison only */
    static const size_t move_rows[] = {4096, 8192, 16384, 32768, 65536};
    double per_move[5], big_bw = 0;
    if ((rc = lf_membench_copy_bw(256u << 20, 0.5, &big_bw, &err)) ||
        (rc = lf_membench_rows(move_rows, 5, 0.2, per_move, &d->dram_op_s, &d->dram_copy_bw, &err)) ||
        (rc = lf_membench_alloc(64u << 20, 0.2, &d->dram_alloc_s, &err)) ||
        (rc = lf_membench_fault(64u << 20, 0.3, &d->dram_fault_s, &err)) ||
        (rc = lf_membench_pagecache(file, 0.5, &d->pagecache_bw, &d->pagecache_latency_s, &err)) ||
        (rc = lf_calcomp_finish(compute, d, &how, &stall, &err))) {
        lf_calcomp_free(compute);
        return lf_cli_error("calibrate", &err);
    }
    lf_calcomp_free(compute);
    if (name)
        snprintf(d->name, sizeof d->name, "%s", name);
    else
        lf_device_name_from_path(out, d->name, sizeof d->name);
    struct utsname u;
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "?");
    char prov[2048], fsrc[1200], csrc[600];
    snprintf(prov, sizeof prov,
             "Device profile measured by llmflash calibrate %s on host %s (Linux %s).\n"
             "Flash: probe of %s with the %s engine, fitted: median APE %.2f%%, max %.1f%%.\n"
             "Compute: %s.",
             LF_VERSION, host, u.release, file, engine, res.mdape, res.max_ape, how);
    char gap[64] = "";
    if (batched)
        snprintf(gap, sizeof gap, ", batches each after %s of compute", gaps);
    snprintf(fsrc, sizeof fsrc, "measured by llmflash calibrate (probe + fit, %s%s%s%s)", engine,
             buffered > 0 ? ", every read a miss held by " : "",
             buffered == LF_BUFFERED_CGROUP ? "a memory cgroup" : buffered > 0 ? "fadvise" : "",
             gap);
    snprintf(csrc, sizeof csrc, "measured by llmflash calibrate (the executor's kernels, %s)",
             how);
    lf_device_sources src = {fsrc, "measured by llmflash calibrate (buffered reads, cached)",
                             "measured by llmflash calibrate (moves of 4-64 KiB rows, malloc, "
                             "page faults)", csrc};
    if (lf_device_save_sourced(d, out, prov, &src, &err) != LF_OK)
        return lf_cli_error("calibrate", &err);
    printf("calibrate: flash L = %.1f us, b = %.0f MB/s, B = %.0f MB/s, IOPS = %.0f, p = %.3g, "
           "depth loss %.3f, a batch +%.1f us + %.1f us per slot, its reads x%.3f after %g ms "
           "of compute (median APE %.2f%%)\n",
           d->flash_latency_s * 1e6, d->flash_stream_bw / 1e6, d->flash_max_bw / 1e6,
           d->flash_max_iops, d->flash_smooth_p, d->flash_depth_loss, d->flash_batch_s * 1e6,
           d->flash_slot_s * 1e6, 1 + d->flash_batch_loss, d->flash_batch_gap_s * 1e3, res.mdape);
    if (d->flash_batch2_gap_s > 0)
        printf("calibrate: after %g ms of compute a batch +%.1f us + %.1f us per slot, its reads "
               "x%.3f\n", d->flash_batch2_gap_s * 1e3, d->flash_batch2_s * 1e6,
               d->flash_slot2_s * 1e6, 1 + d->flash_batch2_loss);
    printf("calibrate: DRAM row moves %.2f GB/s + %.0f ns per move (4/8/16/32/64 KiB: %.2f "
           "%.2f %.2f %.2f %.2f us; a 256 MiB memcpy runs at %.2f GB/s), alloc %.1f us + %.2f "
           "us per page faulted in; page cache %.2f GB/s + %.1f us\n",
           d->dram_copy_bw / 1e9, d->dram_op_s * 1e9, per_move[0] * 1e6, per_move[1] * 1e6,
           per_move[2] * 1e6, per_move[3] * 1e6, per_move[4] * 1e6, big_bw / 1e9,
           d->dram_alloc_s * 1e6, d->dram_fault_s * 1e6, d->pagecache_bw / 1e9,
           d->pagecache_latency_s * 1e6);
    printf("calibrate: compute %.2f GFLOP/s, memory %.2f GB/s (%s), +%.3f us per row with "
           "padding after it; dense products %.2f GB/s\n", d->compute_flops / 1e9,
           d->mem_bw / 1e9, how, d->ffn_row_gap_s * 1e6, d->dense_bw / 1e9);
    printf("calibrate: FFN kernel by shape (GB/s of weights), ReLU / SwiGLU rows of d_model");
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        printf(" %u: %.2f / %.2f%s", lf_ffn_bw_widths[i], d->ffn_bw_relu[i] / 1e9,
               d->ffn_bw_swiglu[i] / 1e9, i + 1 < LF_FFN_BW_WIDTHS ? "," : "\n");
    printf("calibrate: dense products by columns (GB/s)");
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        printf(" %u: %.2f%s", lf_ffn_bw_widths[i], d->dense_bw_cols[i] / 1e9,
               i + 1 < LF_FFN_BW_WIDTHS ? "," : "\n");
    printf("calibrate: slow spells: a compute kernel's mean time %.3f x its median round's "
           "(%u rounds of %d kernels, the slowest %.2f x), in every compute rate above\n",
           d->compute_stall, stall.n, (int)(stall.n / LF_CALCOMP_ROUNDS), stall.max);
    printf("calibrate: expert kernel (4096 x 1024 SwiGLU, one expert): %.2f ms fp16, %.2f ms "
           "int8, %.2f ms q4, %.2f ms q2\n", 3.0 * 4096 * 1024 / d->expert_wps_16 * 1e3,
           3.0 * 4096 * 1024 / d->expert_wps_8 * 1e3, 3.0 * 4096 * 1024 / d->expert_wps_4 * 1e3,
           3.0 * 4096 * 1024 / d->expert_wps_2 * 1e3);
    printf("calibrate: wrote %s\n", out);
    return LF_EXIT_OK;
}
