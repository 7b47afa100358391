/* llmflash probe: measure random-read throughput of the flash under a file (O_DIRECT). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_io.h"
#include "lf_kv.h"
#include "lf_probe.h"

static void help(void)
{
    printf(
        "usage: llmflash probe --file PATH [options] [-o probe.csv]\n"
        "\n"
        "Measures random, aligned reads of each chunk size with each number of reads in\n"
        "flight (threads), bypassing the page cache (O_DIRECT), for --seconds per point.\n"
        "Creates PATH with --size bytes of random data when it is missing (kept afterwards).\n"
        "Progress on stderr; one CSV row per (engine, chunk, threads) on -o (default stdout).\n"
        "\n"
        "options:\n"
        "  --file PATH        test file, on the disk to measure (not tmpfs)\n"
        "  --size BYTES       size of a new test file (default 2g; sizes like 512m, 2g)\n"
        "  --chunks LIST      read sizes, multiples of 4k (default 4k,16k,32k,64k,256k,1m)\n"
        "  --threads LIST     reads in flight (default 1,4,8,16,32)\n"
        "  --engine NAME      psync (thread pool of pread, default), io_uring, buffered\n"
        "  --buffered         the same as --engine buffered: through the page cache, whose\n"
        "                     pages of PATH are dropped (fadvise) before each point\n"
        "  --seconds S        time per point (default 1)\n"
        "  --seed N           seed of offsets and file content (default 1)\n"
        "  -o, --output FILE  CSV output, '-' for stdout (default)\n"
        "\n"
        "CSV columns: engine, chunk (bytes), threads, reads, seconds, mb_s (1e6 bytes/s),\n"
        "iops, p50_us and p99_us (latency from submit to completion, microseconds).\n"
        "\n"
        "example:\n"
        "  llmflash probe --file /var/tmp/probe.bin --size 2g --chunks 4k,32k,256k \\\n"
        "      --threads 1,8,32 --seconds 2 -o probe.csv\n");
}

static void on_row(const lf_probe_row *r, size_t i, size_t total, void *arg)
{
    (void)arg;
    fprintf(stderr,
            "probe [%zu/%zu] %s chunk %llu threads %u: %.1f MB/s, %.0f IOPS, p50 %.0f us, "
            "p99 %.0f us\n",
            i + 1, total, r->engine, (unsigned long long)r->chunk, r->threads, r->mb_s, r->iops,
            r->p50_us, r->p99_us);
}

int cmd_probe(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},    {"size", required_argument, 0, 's'},
        {"chunks", required_argument, 0, 'c'},  {"threads", required_argument, 0, 't'},
        {"engine", required_argument, 0, 'e'},  {"buffered", no_argument, 0, 'b'},
        {"seconds", required_argument, 0, 'S'}, {"seed", required_argument, 0, 'r'},
        {"output", required_argument, 0, 'o'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *file = NULL, *out = "-", *engine = "psync";
    const char *chunks_s = "4k,16k,32k,64k,256k,1m", *threads_s = "1,4,8,16,32";
    uint64_t size = 2ull << 30, seed = 1;
    double seconds = 1.0;
    int buffered = 0, c;
    lf_cli_reset_getopt();
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'f': file = optarg; break;
        case 's':
            if (lf_parse_size(optarg, &size) != 0 || size == 0)
                return lf_cli_usage("probe", "--size '%s' is not a size (e.g. 2g)", optarg);
            break;
        case 'c': chunks_s = optarg; break;
        case 't': threads_s = optarg; break;
        case 'e': engine = optarg; break;
        case 'b': buffered = 1; break;
        case 'S':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0) || seconds > 3600)
                return lf_cli_usage("probe", "--seconds '%s' must be a number in (0, 3600]",
                                    optarg);
            break;
        case 'r':
            if (lf_parse_size(optarg, &seed) != 0)
                return lf_cli_usage("probe", "--seed '%s' is not a non-negative integer", optarg);
            break;
        case 'o': out = optarg; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option("probe", argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage("probe", "unexpected argument '%s'", argv[optind]);
    if (!file)
        return lf_cli_usage("probe", "--file PATH is required");
    if (buffered) {
        if (strcmp(engine, "psync") != 0 && strcmp(engine, "buffered") != 0)
            return lf_cli_usage("probe", "--buffered contradicts --engine %s", engine);
        engine = "buffered";
    }
    lf_err err;
    const lf_io_ops *ops;
    if (lf_io_engine(engine, &ops, &err) != LF_OK || (ops->caps & LF_IO_CAP_NODEVICE))
        return lf_cli_usage("probe", "--engine '%s': use psync, io_uring or buffered", engine);
    uint64_t *chunks = NULL, *threads = NULL;
    size_t nc, nt;
    if (lf_parse_size_list(chunks_s, &chunks, &nc, &err) != LF_OK)
        return lf_cli_usage("probe", "--chunks: %s", err.msg);
    if (lf_parse_size_list(threads_s, &threads, &nt, &err) != LF_OK) {
        free(chunks);
        return lf_cli_usage("probe", "--threads: %s", err.msg);
    }
    lf_probe_opts o = {file, size, chunks, nc, threads, nt, engine, seconds, seed, on_row, NULL};
    fprintf(stderr, "probe: %zu points x %.1f s on %s (%s engine)\n", nc * nt, seconds, file,
            engine);
    lf_probe_row *rows = NULL;
    size_t n = 0;
    int rc = lf_probe_run(&o, &rows, &n, &err);
    if (rc == LF_OK)
        rc = lf_probe_write_csv(out, rows, n, &err);
    free(chunks);
    free(threads);
    free(rows);
    if (rc != LF_OK)
        return lf_cli_error("probe", &err);
    if (strcmp(out, "-") != 0)
        fprintf(stderr, "probe: wrote %zu rows to %s\n", n, out);
    return LF_EXIT_OK;
}
