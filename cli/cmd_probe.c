/* llmflash probe: measure random-read throughput of the flash under a file (O_DIRECT). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_fs.h"
#include "lf_io.h"
#include "lf_cli_probe.h"
#include "lf_probe.h"

#define CMD "probe"

static void help(void)
{
    printf("usage: llmflash probe --file PATH [options] [-o probe.csv]\n"
           "\n"
           "Measures random, aligned reads of each chunk size with each number of reads in\n"
           "flight (threads), bypassing the page cache (O_DIRECT; with --engine buffered\n"
           "through it, every read a miss). Progress on stderr; one CSV row per (engine,\n"
           "chunk, threads) on -o (default stdout). Reads land in\n"
           "transparent huge pages, as the executor's do (a virtual disk may read 4 KiB\n"
           "pages several times slower); LLMFLASH_THP=0 in the environment: 4 KiB pages.\n"
           "\n"
           "options:\n" LF_CLI_PROBE_HELP
           "  --engine NAME      psync (thread pool of pread, default), io_uring, buffered\n"
           "  --buffered         the same as --engine buffered: through the page cache,\n"
           "                     readahead off, each read a miss (--pagecache-mechanism)\n"
           "  -o, --output FILE  CSV output, '-' for stdout (default)\n"
           "\n"
           "CSV columns: engine, chunk (bytes), threads, reads, seconds, mb_s (1e6 bytes/s),\n"
           "iops, p50_us and p99_us (latency from submit to completion, microseconds).\n"
           "\n"
           "example:\n"
           "  llmflash probe --file /var/tmp/probe.bin --size 2g --chunks 4k,32k,256k \\\n"
           "      --threads 1,8,32 -o probe.csv\n");
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
    static const struct option opts[] = {LF_CLI_PROBE_LONGOPTS,
                                         {"buffered", no_argument, 0, 'b'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    lf_cli_probe p;
    lf_cli_probe_init(&p);
    const char *out = "-";
    int buffered = 0, c;
    lf_cli_reset_getopt();
    while ((c = lf_cli_getopt(CMD, argc, argv, "o:h", opts, NULL)) != -1) {
        int k = lf_cli_probe_option(&p, CMD, c, optarg);
        if (k < 0)
            return LF_EXIT_USAGE;
        if (k > 0)
            continue;
        switch (c) {
        case 'b': buffered = 1; break;
        case 'o': out = optarg; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (buffered) {
        if (strcmp(p.o.engine, "psync") != 0 && strcmp(p.o.engine, "buffered") != 0)
            return lf_cli_usage(CMD, "--buffered contradicts --engine %s", p.o.engine);
        p.o.engine = "buffered";
    }
    lf_err err;
    const lf_io_ops *ops;
    if (lf_io_engine(p.o.engine, &ops, &err) != LF_OK || (ops->caps & LF_IO_CAP_NODEVICE))
        return lf_cli_usage(CMD, "--engine '%s': use psync, io_uring or buffered", p.o.engine);
    int rc = lf_cli_probe_finish(&p, CMD);
    if (rc != 0) {
        lf_cli_probe_free(&p);
        return rc;
    }
    if (strcmp(out, "-") != 0 && lf_cli_refuse_same(CMD, out, p.o.path, LF_CLI_END)) {
        lf_cli_probe_free(&p);
        return LF_EXIT_FAIL;
    }
    /* Fail now rather than after minutes of measuring. */
    if (strcmp(out, "-") != 0 && lf_check_writable(out, &err) != LF_OK) {
        lf_cli_probe_free(&p);
        return lf_cli_error(CMD, &err);
    }
    if ((rc = lf_cli_probe_hold(&p, CMD)) != 0) {
        lf_cli_probe_free(&p);
        return rc;
    }
    p.o.on_row = on_row;
    fprintf(stderr, "probe: %zu points x %u x %.2f s on %s (%s engine%s%s)\n",
            p.o.n_chunks * p.o.n_threads, p.o.repeats, p.o.seconds, p.o.path, p.o.engine,
            *p.mechanism ? ", misses held by " : "", p.mechanism);
    lf_probe_row *rows = NULL;
    size_t n = 0;
    rc = lf_probe_run(&p.o, &rows, &n, &err);
    lf_cli_probe_free(&p); /* out of the cgroup before the CSV's pages are charged to it */
    if (rc == LF_OK)
        rc = lf_probe_write_csv(out, rows, n, &err);
    free(rows);
    if (rc != LF_OK)
        return lf_cli_error(CMD, &err);
    if (strcmp(out, "-") != 0)
        fprintf(stderr, "probe: wrote %zu rows to %s\n", n, out);
    return LF_EXIT_OK;
}
