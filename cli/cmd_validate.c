/* llmflash validate: predicted versus measured over a grid of configurations
 * (experiments/lf_validate.h): prints each configuration's predicted and measured per-token
 * latency and error, the median absolute percentage error, and writes validate.csv. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_kv.h"
#include "lf_validate.h"

static const char *CMD = "validate";
#define MAX_WEIGHTS 8

static void help(void)
{
    char keys[1024] = "";
    size_t len = 0;
    for (const char *const *k = lf_validate_keys(); *k && len < sizeof keys; k++)
        len += (size_t)snprintf(keys + len, sizeof keys - len, "%s%s", len ? ", " : "", *k);
    printf(
        "usage: llmflash validate --trace T.h5 --weights W [--weights W2 ...] --device D.conf\n"
        "                         --grid G.conf --out DIR [--repeat N] [--tokens N]\n"
        "                         [--engine psync|io_uring]\n\n"
        "For every configuration of the grid, runs the simulator (the cost model of\n"
        "D.conf) and the executor (N measured runs on this machine, direct I/O, median) on\n"
        "the same trace and plan, prints predicted and measured steady-state per-token\n"
        "latency (FFN stream: I/O + memory management + compute) and the error, then the\n"
        "median absolute percentage error (MdAPE). Writes DIR/validate.csv and, per\n"
        "configuration, the run folders DIR/cNN-sim and DIR/cNN-run (the middle repeat).\n\n"
        "Grid file: `key = a | b | c` lines; the configurations are the product. Keys:\n"
        "  %s\n"
        "(the options of `llmflash sim` with '_' for '-': same values and ranges; engine as\n"
        "`llmflash run --engine`). Each layout named needs a weights file in that layout\n"
        "(--weights, repeatable).\n\n"
        "options:\n"
        "  -t, --trace T.h5     the trace\n"
        "  -w, --weights W      weights file; repeat for several layouts\n"
        "  -d, --device D.conf  device profile (llmflash calibrate on this machine)\n"
        "  -g, --grid G.conf    the grid (e.g. experiments/validate.conf)\n"
        "  -o, --out DIR        output folder\n"
        "  -r, --repeat N       measured runs per configuration (default 3)\n"
        "  -n, --tokens N       tokens per run, overriding the grid (default: grid or trace)\n"
        "  -e, --engine NAME    I/O engine when the grid names none (default psync)\n"
        "  -h, --help           this text\n\n"
        "example:\n"
        "  llmflash validate --trace opt13.h5 --weights /var/tmp/w/opt13-bundled.w \\\n"
        "      --weights /var/tmp/w/opt13-split.w --device costmodel/devices/thisbox.conf \\\n"
        "      --grid experiments/validate.conf --tokens 64 --out results/validate\n",
        keys);
}

static void print_row(const lf_validate_row *r, size_t i, size_t n, void *arg)
{
    (void)arg;
    if (i == 0)
        printf("%-4s %-22s %-8s %5s %3s %7s %8s  %10s %10s %8s\n", "cfg", "policy", "layout", "dram",
               "thr", "maxread", "strategy", "pred_ms", "meas_ms", "err_%");
    char mr[32];
    snprintf(mr, sizeof mr, "%lluk", (unsigned long long)(r->max_read >> 10));
    printf("%-4s %-22.22s %-8s %5.2f %3u %7s %8s  %10.3f %10.3f %+8.1f\n", r->id, r->policy,
           r->layout, r->dram_fraction, r->threads, mr, r->dram, r->predicted_ms, r->measured_ms,
           r->error_pct);
    fflush(stdout);
    (void)n;
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trace", required_argument, 0, 't'},  {"weights", required_argument, 0, 'w'},
        {"device", required_argument, 0, 'd'}, {"grid", required_argument, 0, 'g'},
        {"out", required_argument, 0, 'o'},    {"repeat", required_argument, 0, 'r'},
        {"tokens", required_argument, 0, 'n'}, {"engine", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *trace = NULL, *device = NULL, *grid = NULL, *out = NULL, *engine = "psync";
    const char *wpaths[MAX_WEIGHTS];
    size_t n_w = 0;
    uint64_t repeat = 3, tokens = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":t:w:d:g:o:r:n:e:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case 'd': device = optarg; break;
        case 'g': grid = optarg; break;
        case 'o': out = optarg; break;
        case 'e': engine = optarg; break;
        case 'w':
            if (n_w == MAX_WEIGHTS)
                return lf_cli_usage(CMD, "at most %d --weights files", MAX_WEIGHTS);
            wpaths[n_w++] = optarg;
            break;
        case 'r':
            if (lf_cli_u64(CMD, "--repeat", optarg, 1, 64, &repeat))
                return LF_EXIT_USAGE;
            break;
        case 'n': { /* the shared option's parser and range */
            lf_run_config tc;
            lf_run_config_defaults(&tc);
            lf_err e;
            if (lf_runopt_set(lf_runopt_find("tokens"), &tc, optarg, &e))
                return lf_cli_usage(CMD, "%s", e.msg);
            tokens = tc.n_tokens;
            break;
        }
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!trace || !n_w || !device || !grid || !out)
        return lf_cli_usage(CMD, "--trace, --weights, --device, --grid and --out are required");
    lf_err err;
    lf_weights w[MAX_WEIGHTS];
    size_t opened = 0;
    lf_trace t;
    lf_device dev;
    lf_sweep g;
    int have_t = 0, have_g = 0, rc = LF_OK;
    for (; opened < n_w && !rc; opened++)
        if ((rc = lf_weights_open(wpaths[opened], &w[opened], &err)))
            break;
    if (!rc)
        rc = lf_device_load(device, &dev, &err);
    if (!rc && !(rc = lf_sweep_load_grid(grid, lf_validate_keys(), &g, &err)))
        have_g = 1;
    if (!rc && !(rc = lf_trace_read(trace, &t, &err)))
        have_t = 1;
    lf_validate_row *rows = NULL;
    size_t n = 0;
    if (!rc) {
        printf("validate: %zu configurations x %llu measured runs, trace %s, device %s\n",
               g.n_runs, (unsigned long long)repeat, trace, dev.name);
        lf_validate_cfg v = {&t, trace, w, n_w, &dev, device, &g, engine, (uint32_t)repeat,
                             (uint32_t)tokens, 1, out, print_row, NULL};
        rc = lf_validate_run(&v, &rows, &n, &err);
    }
    if (!rc) {
        char csv[4200];
        snprintf(csv, sizeof csv, "%s/validate.csv", out);
        rc = lf_validate_write_csv(csv, rows, n, &err);
        double mdape, max_ape;
        lf_validate_errors(rows, n, &mdape, &max_ape);
        size_t over = 0;
        for (size_t i = 0; i < n; i++)
            over += fabs(rows[i].error_pct) > 25.0;
        if (!rc)
            printf("MdAPE %.1f%% over %zu configurations (target <= 10%%); max %.1f%%, %zu over "
                   "25%% (target: none) -> %s\n", mdape, n, max_ape, over, csv);
    }
    free(rows);
    if (have_t)
        lf_trace_free(&t);
    if (have_g)
        lf_sweep_free(&g);
    for (size_t k = 0; k < opened; k++)
        lf_weights_close(&w[k]);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
