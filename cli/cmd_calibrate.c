/* llmflash calibrate: probe + fit + DRAM + page cache + compute -> a device profile. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lf_cli.h"
#include "lf_device.h"
#include "lf_fit.h"
#include "lf_io.h"
#include "lf_kv.h"
#include "lf_membench.h"
#include "lf_probe.h"

/* The compute rate is the executor's own FFN kernel (bench/lf_ffn) when it is in the
 * tree; until then a stand-in loop of the same shape (lf_membench_ffn). */
#if defined(__has_include)
#if __has_include("lf_ffn.h")
#define HAVE_LF_FFN 1
#include "lf_ffn.h"
#include "lf_model.h"
#endif
#endif

static void help(void)
{
    printf(
        "usage: llmflash calibrate --file PATH -o NAME.conf [options]\n"
        "\n"
        "Measures this machine and writes a complete device profile:\n"
        "  flash      llmflash probe on PATH (O_DIRECT) + llmflash fit\n"
        "  DRAM       memcpy bandwidth of 256 MiB buffers, the fixed cost of one 256-byte\n"
        "             move between random slots, malloc+free of 64 MiB\n"
        "  page cache buffered reads of PATH's first 64 MiB once cached\n"
        "  compute    the sparse FFN kernel (OPT-6.7B shape, fp32): flop/s with the rows in\n"
        "             cache, bytes/s with 128 MiB of rows (the roofline's two rates)\n"
        "\n"
        "options:\n"
        "  --file PATH        probe file (created with --size bytes of random data if missing)\n"
        "  -o, --output FILE  the profile to write (atomically)\n"
        "  --size BYTES       size of a new probe file (default 2g)\n"
        "  --chunks LIST      probe read sizes (default 4k,16k,32k,64k,256k,1m)\n"
        "  --threads LIST     probe reads in flight (default 1,4,8,16,32)\n"
        "  --engine NAME      psync (default) or io_uring\n"
        "  --seconds S        probe time per point (default 1)\n"
        "  --probe-csv FILE   also keep the probe's CSV\n"
        "  --name NAME        profile name (default: the output's base name)\n"
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

static int measure_compute(double *flops, double *bw, const char **how, lf_err *err)
{
#ifdef HAVE_LF_FFN
    lf_model m;
    double f_small, b_small, f_big, b_big;
    int rc = lf_model_lookup("opt-6.7b", &m, err);
    if (rc == LF_OK)
        rc = lf_ffn_measure(&m, LF_DTYPE_FP32, 16, 0.5, &f_small, &b_small, err);
    if (rc == LF_OK)
        rc = lf_ffn_measure(&m, LF_DTYPE_FP32, 4096, 1.0, &f_big, &b_big, err);
    *flops = f_small;
    *bw = b_big;
    *how = lf_ffn_path();
    return rc;
#else
    double f_small, b_small, f_big, b_big;
    int rc = lf_membench_ffn(4096, 16, 0.5, &f_small, &b_small, err);
    if (rc == LF_OK)
        rc = lf_membench_ffn(4096, 4096, 1.0, &f_big, &b_big, err);
    *flops = f_small;
    *bw = b_big;
    *how = "stand-in loop (bench/lf_membench.c), not the executor's kernel";
    return rc;
#endif
}

static void name_from(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    snprintf(out, cap, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

int cmd_calibrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},    {"output", required_argument, 0, 'o'},
        {"size", required_argument, 0, 's'},    {"chunks", required_argument, 0, 'c'},
        {"threads", required_argument, 0, 't'}, {"engine", required_argument, 0, 'e'},
        {"seconds", required_argument, 0, 'S'}, {"probe-csv", required_argument, 0, 'p'},
        {"name", required_argument, 0, 'n'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *file = NULL, *out = NULL, *engine = "psync", *csv = NULL, *name = NULL;
    const char *chunks_s = "4k,16k,32k,64k,256k,1m", *threads_s = "1,4,8,16,32";
    uint64_t size = 2ull << 30;
    double seconds = 1.0;
    int c;
    lf_cli_reset_getopt();
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'f': file = optarg; break;
        case 'o': out = optarg; break;
        case 's':
            if (lf_parse_size(optarg, &size) != 0 || size == 0)
                return lf_cli_usage("calibrate", "--size '%s' is not a size (e.g. 2g)", optarg);
            break;
        case 'c': chunks_s = optarg; break;
        case 't': threads_s = optarg; break;
        case 'e': engine = optarg; break;
        case 'S':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0) || seconds > 3600)
                return lf_cli_usage("calibrate", "--seconds '%s' must be in (0, 3600]", optarg);
            break;
        case 'p': csv = optarg; break;
        case 'n': name = optarg; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option("calibrate", argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage("calibrate", "unexpected argument '%s'", argv[optind]);
    if (!file || !out)
        return lf_cli_usage("calibrate", "--file PATH and -o NAME.conf are required");
    if (strcmp(engine, "psync") != 0 && strcmp(engine, "io_uring") != 0)
        return lf_cli_usage("calibrate", "--engine '%s': use psync or io_uring", engine);
    lf_err err;
    uint64_t *chunks = NULL, *threads = NULL;
    size_t nc, nt;
    if (lf_parse_size_list(chunks_s, &chunks, &nc, &err) != LF_OK)
        return lf_cli_usage("calibrate", "--chunks: %s", err.msg);
    if (lf_parse_size_list(threads_s, &threads, &nt, &err) != LF_OK) {
        free(chunks);
        return lf_cli_usage("calibrate", "--threads: %s", err.msg);
    }
    lf_probe_opts o = {file, size, chunks, nc, threads, nt, engine, seconds, 1, on_row, NULL};
    lf_probe_row *rows = NULL;
    lf_fit_point *pts = NULL;
    size_t n = 0;
    int rc = lf_probe_run(&o, &rows, &n, &err);
    free(chunks);
    free(threads);
    if (rc == LF_OK && csv)
        rc = lf_probe_write_csv(csv, rows, n, &err);
    if (rc == LF_OK && !(pts = malloc(n * sizeof *pts)))
        rc = lf_fail(&err, LF_ENOMEM, "out of memory");
    for (size_t i = 0; rc == LF_OK && i < n; i++)
        pts[i] = (lf_fit_point){rows[i].chunk, rows[i].threads, rows[i].mb_s * 1e6};
    free(rows);
    lf_device base;
    lf_fit_unmeasured_defaults(&base);
    lf_fit_result res;
    if (rc == LF_OK)
        rc = lf_fit_flash(pts, n, &base, -1, &res, &err);
    free(pts);
    if (rc != LF_OK)
        return lf_cli_error("calibrate", &err);
    lf_device *d = &res.dev;
    fprintf(stderr, "calibrate: flash fit: %zu points, median APE %.2f%%\n", n, res.mdape);
    const char *how = "";
    fprintf(stderr, "calibrate: DRAM, page cache and compute...\n");
    if ((rc = lf_membench_copy_bw(256u << 20, 1.0, &d->dram_copy_bw, &err)) ||
        (rc = lf_membench_op(256, d->dram_copy_bw, 0.5, &d->dram_op_s, &err)) ||
        (rc = lf_membench_alloc(64u << 20, 0.2, &d->dram_alloc_s, &err)) ||
        (rc = lf_membench_pagecache(file, 0.5, &d->pagecache_bw, &d->pagecache_latency_s, &err)) ||
        (rc = measure_compute(&d->compute_flops, &d->mem_bw, &how, &err)))
        return lf_cli_error("calibrate", &err);
    if (name)
        snprintf(d->name, sizeof d->name, "%s", name);
    else
        name_from(out, d->name, sizeof d->name);
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
    snprintf(fsrc, sizeof fsrc, "measured by llmflash calibrate (probe + fit, %s)", engine);
    snprintf(csrc, sizeof csrc, "measured by llmflash calibrate (sparse FFN kernel, %s)", how);
    lf_device_sources src = {fsrc, "measured by llmflash calibrate (buffered reads, cached)",
                             "measured by llmflash calibrate (memcpy, moves, malloc)", csrc};
    if (lf_device_save_sourced(d, out, prov, &src, &err) != LF_OK)
        return lf_cli_error("calibrate", &err);
    printf("calibrate: flash L = %.1f us, b = %.0f MB/s, B = %.0f MB/s, IOPS = %.0f, p = %.3g "
           "(median APE %.2f%%)\n",
           d->flash_latency_s * 1e6, d->flash_stream_bw / 1e6, d->flash_max_bw / 1e6,
           d->flash_max_iops, d->flash_smooth_p, res.mdape);
    printf("calibrate: DRAM copy %.2f GB/s, op %.0f ns, alloc %.1f us; page cache %.2f GB/s + "
           "%.1f us\n",
           d->dram_copy_bw / 1e9, d->dram_op_s * 1e9, d->dram_alloc_s * 1e6, d->pagecache_bw / 1e9,
           d->pagecache_latency_s * 1e6);
    printf("calibrate: compute %.2f GFLOP/s, memory %.2f GB/s (%s)\n", d->compute_flops / 1e9,
           d->mem_bw / 1e9, how);
    printf("calibrate: wrote %s\n", out);
    return LF_EXIT_OK;
}
