/* llmflash calibrate: probe + fit + DRAM + page cache + compute -> a device profile. */
#include <getopt.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
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
#include "lf_quant.h"

#define CMD "calibrate"

#include "lf_ffn.h"
#include "lf_model.h"

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

static void on_row(const lf_probe_row *r, size_t i, size_t total, void *arg)
{
    (void)arg;
    fprintf(stderr, "calibrate: probe [%zu/%zu] chunk %llu threads %u: %.1f MB/s\n", i + 1,
            total, (unsigned long long)r->chunk, r->threads, r->mb_s);
}

/* dtype: "fp16" or "fp32", the weights the kernel streams (fp16 halves the bytes per
 * flop and adds a conversion, so the two rates differ from fp32's). The three kernels
 * are prepared once and timed in COMPUTE_ROUNDS interleaved rounds; each rate is the
 * median: this machine's memory bandwidth swings by 20-30% within a minute, and one
 * long measurement per kernel took whichever spell it fell in (profiles priced compute
 * 17% slow). */
#define COMPUTE_ROUNDS 5
/* The padding of the gapped rows: one page, what a 4096-aligned record adds at most. */
#define GAP_BYTES 4096
/* The FFN kernel by shape (lf_device.ffn_bw_*): ReLU and SwiGLU rows at each width of
 * lf_ffn_bw_widths, each streamed from all 512 MiB of the dense reference's weights
 * (views: no buffer of their own), as a model's FFN rows are from DRAM: against the
 * 64 MiB of mem_bw's rows, which the last-level cache partly holds, the same rows ran
 * 9-15% slower there, and pricing every shape at mem_bw's size priced the FFN of every
 * fidelity shape fast. Two buffers of one size and shape ran 10% apart on this
 * project's VM (its memory is not all backed alike), so the profile keeps each shape's
 * rate relative to mem_bw's shape (ReLU rows of 4096) on 64 MiB of the same buffer in
 * the same round (the host's speed moves between rounds), times mem_bw. */
#define SHAPES (2 * LF_FFN_BW_WIDTHS)
#define SHAPE_RELU_4096 3 /* the shape of mem_bw's rows */
#define REF_BYTES (64u << 20) /* as mem_bw's 4096 opt-6.7b rows */
/* The dense products by columns (lf_device.dense_bw_cols): the dense reference's 512 MiB
 * as whole rows of each width, relative to the reference (4096 columns) in the same
 * round, times dense_bw. */
#define COLS_4096 3

/* Shape i's rows (ReLU widths, then SwiGLU's), as many as `bytes` of over's weights hold. */
static int shape_bench(lf_ffn_bench *b, const lf_ffn_bench *over, int i, size_t bytes,
                       lf_err *err)
{
    int swiglu = i >= LF_FFN_BW_WIDTHS;
    uint32_t w = lf_ffn_bw_widths[i % LF_FFN_BW_WIDTHS];
    char spec[64];
    snprintf(spec, sizeof spec, "custom:1,%u,%u%s", w, 4 * w, swiglu ? ",swiglu" : "");
    lf_model m;
    int rc = lf_model_lookup(spec, &m, err);
    if (rc)
        return rc;
    lf_ffn_shape shape;
    lf_ffn_shape_packed(&shape, &m, over->dtype);
    return lf_ffn_bench_sparse_view(b, over, &m, (uint32_t)(bytes / lf_ffn_bytes(&shape, 1)), err);
}

static int measure_compute(const char *dtype, lf_device *d, const char **how, lf_err *err)
{
    lf_model m;
    lf_dtype dt;
    /* rows in cache (the flop rate), 4096 rows (weight bytes), the same rows with a page
     * of padding after each (a padded layout's DRAM rows: the prefetcher starts over at
     * every row), and the resident part's kernel on the dense reference (512 MiB, beyond
     * the caches, as a token's resident weights are) */
    lf_ffn_bench small, big, gapped, dense, ref, shape[SHAPES], cols[LF_FFN_BW_WIDTHS];
    memset(&small, 0, sizeof small), memset(&big, 0, sizeof big);
    memset(&gapped, 0, sizeof gapped), memset(&dense, 0, sizeof dense);
    memset(&ref, 0, sizeof ref), memset(shape, 0, sizeof shape), memset(cols, 0, sizeof cols);
    int rc = lf_dtype_parse(dtype, &dt, err);
    if (rc == LF_OK)
        rc = lf_model_lookup("opt-6.7b", &m, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_sparse(&small, &m, dt, 16, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_sparse(&big, &m, dt, 4096, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_sparse_gapped(&gapped, &m, dt, 4096, GAP_BYTES, err);
    if (rc == LF_OK)
        rc = lf_ffn_bench_dense_ref(&dense, dt, err);
    if (rc == LF_OK)
        rc = shape_bench(&ref, &dense, SHAPE_RELU_4096, REF_BYTES, err);
    for (int i = 0; i < SHAPES && rc == LF_OK; i++)
        rc = shape_bench(&shape[i], &dense, i, dense.w_bytes, err);
    for (int i = 0; i < LF_FFN_BW_WIDTHS && rc == LF_OK; i++)
        if (i != COLS_4096)
            rc = lf_ffn_bench_dense_view(&cols[i], &dense, lf_ffn_bw_widths[i], err);
    double f_small[COMPUTE_ROUNDS], b_big[COMPUTE_ROUNDS], d_big[COMPUTE_ROUNDS];
    double gap[COMPUTE_ROUNDS], unused;
    double shape_ratio[SHAPES][COMPUTE_ROUNDS], cols_ratio[LF_FFN_BW_WIDTHS][COMPUTE_ROUNDS];
    double row_bytes = rc == LF_OK ? lf_ffn_bytes(&big.shape, 1) : 0;
    for (int r = 0; r < COMPUTE_ROUNDS && rc == LF_OK; r++) {
        double g_bw;
        lf_ffn_bench_time(&small, 0.1, &f_small[r], &unused);
        lf_ffn_bench_time(&big, 0.2, &unused, &b_big[r]);
        lf_ffn_bench_time(&gapped, 0.2, &unused, &g_bw);
        lf_ffn_bench_time(&dense, 0.1, &unused, &d_big[r]);
        /* a gapped row's time beyond a packed one's, in the same round */
        gap[r] = row_bytes / g_bw - row_bytes / b_big[r];
        /* each a ratio to its reference in the same round */
        double bw[SHAPES], ref_bw;
        lf_ffn_bench_time(&ref, 0.1, &unused, &ref_bw);
        for (int i = 0; i < SHAPES; i++) {
            lf_ffn_bench_time(&shape[i], 0.2, &unused, &bw[i]);
            shape_ratio[i][r] = bw[i] / ref_bw;
        }
        for (int i = 0; i < LF_FFN_BW_WIDTHS; i++) {
            double cols_bw = d_big[r]; /* 4096 columns: the reference itself */
            if (i != COLS_4096)
                lf_ffn_bench_time(&cols[i], 0.1, &unused, &cols_bw);
            cols_ratio[i][r] = cols_bw / d_big[r];
        }
    }
    for (int i = 0; i < SHAPES; i++) /* views of dense's weights: before it */
        lf_ffn_bench_free(&shape[i]);
    lf_ffn_bench_free(&ref);
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        lf_ffn_bench_free(&cols[i]);
    lf_ffn_bench_free(&small), lf_ffn_bench_free(&big);
    lf_ffn_bench_free(&gapped), lf_ffn_bench_free(&dense);
    if (rc)
        return rc;
    gsl_sort(f_small, 1, COMPUTE_ROUNDS);
    gsl_sort(b_big, 1, COMPUTE_ROUNDS);
    gsl_sort(d_big, 1, COMPUTE_ROUNDS);
    gsl_sort(gap, 1, COMPUTE_ROUNDS);
    static char what[96];
    snprintf(what, sizeof what, "%s, %s rows", lf_ffn_path(), dtype);
    d->compute_flops = gsl_stats_median_from_sorted_data(f_small, 1, COMPUTE_ROUNDS);
    d->mem_bw = gsl_stats_median_from_sorted_data(b_big, 1, COMPUTE_ROUNDS);
    d->dense_bw = gsl_stats_median_from_sorted_data(d_big, 1, COMPUTE_ROUNDS);
    /* a round where the gapped rows ran faster is noise: no negative cost */
    d->ffn_row_gap_s = fmax(0, gsl_stats_median_from_sorted_data(gap, 1, COMPUTE_ROUNDS));
    for (int i = 0; i < SHAPES; i++) {
        gsl_sort(shape_ratio[i], 1, COMPUTE_ROUNDS);
        double *to = i < LF_FFN_BW_WIDTHS ? d->ffn_bw_relu : d->ffn_bw_swiglu;
        to[i % LF_FFN_BW_WIDTHS] =
            d->mem_bw * gsl_stats_median_from_sorted_data(shape_ratio[i], 1, COMPUTE_ROUNDS);
    }
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++) {
        gsl_sort(cols_ratio[i], 1, COMPUTE_ROUNDS);
        d->dense_bw_cols[i] =
            d->dense_bw * gsl_stats_median_from_sorted_data(cols_ratio[i], 1, COMPUTE_ROUNDS);
    }
    *how = what;
    return LF_OK;
}

/* The expert kernel (bench/lf_quant) at each bit width, on one Qwen3.5-397B-sized
 * expert (4096 x 1024, three matrices) in DRAM: expert weights per second, the median
 * of COMPUTE_ROUNDS interleaved rounds (one 0.3 s measurement per width priced a whole
 * MoE grid 15% fast when it fell in a fast spell). */
static int measure_experts(lf_device *d, lf_err *err)
{
    static const lf_dtype dts[] = {LF_DTYPE_FP16, LF_DTYPE_INT8, LF_DTYPE_Q4, LF_DTYPE_Q2};
    double *out[] = {&d->expert_wps_16, &d->expert_wps_8, &d->expert_wps_4, &d->expert_wps_2};
    double s[4][COMPUTE_ROUNDS];
    for (int r = 0; r < COMPUTE_ROUNDS; r++)
        for (int i = 0; i < 4; i++) {
            int rc = lf_quant_measure(dts[i], 4096, 1024, 0.06, &s[i][r], err);
            if (rc)
                return rc;
        }
    for (int i = 0; i < 4; i++) {
        gsl_sort(s[i], 1, COMPUTE_ROUNDS);
        *out[i] = 3.0 * 4096 * 1024 / gsl_stats_median_from_sorted_data(s[i], 1, COMPUTE_ROUNDS);
    }
    return LF_OK;
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
    p.o.on_row = on_row;
    lf_probe_row *rows = NULL;
    lf_fit_point *pts = NULL;
    size_t n = 0;
    rc = lf_probe_run(&p.o, &rows, &n, &err);
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
    if (rc != LF_OK)
        return lf_cli_error("calibrate", &err);
    lf_device *d = &res.dev;
    d->flash_buffered = buffered;
    fprintf(stderr, "calibrate: flash fit: %zu points, median APE %.2f%%\n", n, res.mdape);
    const char *how = "";
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
        (rc = measure_compute(dtype, d, &how, &err)) ||
        (rc = measure_experts(d, &err)))
        return lf_cli_error("calibrate", &err);
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
    printf("calibrate: expert kernel (4096 x 1024 SwiGLU, one expert): %.2f ms fp16, %.2f ms "
           "int8, %.2f ms q4, %.2f ms q2\n", 3.0 * 4096 * 1024 / d->expert_wps_16 * 1e3,
           3.0 * 4096 * 1024 / d->expert_wps_8 * 1e3, 3.0 * 4096 * 1024 / d->expert_wps_4 * 1e3,
           3.0 * 4096 * 1024 / d->expert_wps_2 * 1e3);
    printf("calibrate: wrote %s\n", out);
    return LF_EXIT_OK;
}
