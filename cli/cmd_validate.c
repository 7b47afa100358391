/* llmflash validate: predicted versus measured over a grid of configurations
 * (experiments/lf_validate.h): prints each configuration's predicted and measured per-token
 * latency and error, the median absolute percentage error, and writes validate.csv. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_moe.h"
#include "lf_cli_num.h"
#include "lf_io.h"
#include "lf_kv.h"
#include "lf_validate.h"
#include "lf_validate_twins.h"

static const char *CMD = "validate";
#define MAX_WEIGHTS 8
#define MAX_SETS 8

static void help(void)
{
    char keys[1024] = "";
    size_t len = 0;
    for (const char *const *k = lf_validate_keys(); *k && len < sizeof keys; k++)
        len += (size_t)snprintf(keys + len, sizeof keys - len, "%s%s", len ? ", " : "", *k);
    printf(
        "usage: llmflash validate --trace T.h5 --weights W [--weights W2 ...] --device D.conf\n"
        "                         --grid G.conf --out DIR [--repeat N] [--tokens N]\n"
        "                         [--engine psync|io_uring]\n"
        "                         [--trace T2.h5 --weights W3 ... [--device ...] [--grid G2]]\n"
        "       llmflash validate --compare SIM_DIR RUN_DIR\n\n"
        "--compare: the steady-state and cold-start per-token latency of two run folders\n"
        "(a `sim` and a `run` of identical options) and the error of the first against the\n"
        "second; folders of different scope or plan are refused.\n\n"
        "For every configuration of the grid, runs the simulator (the cost model of\n"
        "D.conf) and the executor (N measured runs on this machine, direct I/O, median) on\n"
        "the same trace and plan, prints predicted and measured steady-state per-token\n"
        "latency of the whole token (attention over a KV cache, norms, FFN stream, embedding\n"
        "and output head; grid key scope = ffn: the FFN stream only) and the error, the\n"
        "spread of the repeats (NOISY when it exceeds the 5%% error target), then the median\n"
        "absolute percentage error (MdAPE) and the worst against their targets (5%%, 15%%;\n"
        "MISSED when missed), and the cold start (first token) as its own rows, with its\n"
        "own spread (COLD-NOISY: a first token moves with the disk more than the\n"
        "steady-state mean does; --cold-samples takes more of them). Configurations\n"
        "whose first token is the same work (policies that differ only after it) are\n"
        "its twins: how far apart they measure it is printed, the noise in a cold row,\n"
        "and their samples pooled (validate_cold.csv: twin, pooled_ms). Writes\n"
        "DIR/validate.csv, DIR/validate_cold.csv and, per configuration, the run folders\n"
        "DIR/cNN-sim and DIR/cNN-run (the middle repeat).\n\n"
        "Several model shapes in one validation: each --trace after the first starts a\n"
        "set of its own, and the --weights, --device and --grid after it belong to that\n"
        "set (a set without --device or --grid takes the first set's). The measured runs\n"
        "go round-robin over every configuration of every set, so a slow spell of the\n"
        "machine is shared by the shapes instead of falling on one of them; rows are\n"
        "numbered on from set to set, with their trace in the CSVs' `trace` column.\n\n"
        "Grid file: `key = a | b | c` lines; the configurations are the product. Keys:\n"
        "  %s\n"
        "(the options of `llmflash sim` with '_' for '-': same values and ranges; engine as\n"
        "`llmflash run --engine`). Each layout named needs a weights file in that layout\n"
        "(--weights, repeatable).\n"
        "Expert weights files (an expert trace) take an expert grid instead (keys policy,\n"
        "dtype, threads, tokens, seed, capacity, scope = token (default: attention, router\n"
        "and shared expert too) | ffn, pagecache_mechanism = auto | cgroup | fadvise; e.g.\n"
        "experiments/moe_validate.conf), one --weights file per bit width, and report the\n"
        "page cache's predicted and measured hit rates too (DIR/validate_moe.csv).\n\n"
        "options:\n"
        "  -t, --trace T.h5     the trace (again: a further set, above)\n"
        "  -w, --weights W      weights file; repeat for several layouts\n"
        "  -d, --device D       device profile: a name (m1max) or a .conf file (llmflash\n"
        "                       calibrate on this machine)\n"
        "  -d, --device ENGINE=D.conf  the profile for runs with that engine (calibrate\n"
        "                       --engine ENGINE): each run is priced with its engine's\n"
        "                       profile; repeatable (psync=..., io_uring=...); expert\n"
        "                       grids: buffered=P.conf (calibrate --engine buffered)\n"
        "                       prices their page-cache configurations, D the direct ones\n"
        "  -g, --grid G.conf    the grid (e.g. experiments/validate.conf)\n"
        "  -o, --out DIR        output folder\n"
        "  -r, --repeat N       measured runs per configuration (default 3)\n"
        "  -n, --tokens N       tokens per run, overriding the grid (default: grid or trace)\n"
        "  -e, --engine NAME    I/O engine when the grid names none (default psync)\n"
        "      --scope S        token (default) or ffn, when the grid sets no scope\n"
        "      --drift-refs     before every measured run, measure the device's speed now:\n"
        "                       flash reads of 16 KiB with 8 in flight (0.3 s, the run's\n"
        "                       engine, on its weights file), the dense kernel (0.1 s: the\n"
        "                       resident part's) and the sparse FFN kernel (0.1 s), each\n"
        "                       at the model's own shape when the profile has rates by\n"
        "                       shape, over what the profile says; a second prediction prices the\n"
        "                       flash term, the resident part and the FFN at those speeds\n"
        "                       (io_drift, cpu_drift, ffn_drift, predicted_resident_ms,\n"
        "                       predicted_norm_ms, norm_error_pct in the CSVs):\n"
        "                       on a machine whose disk or CPU drifts by more than the\n"
        "                       target between calibration and run, it separates the drift\n"
        "                       from the model's error. Both errors are reported.\n"
        "                       Expert grids: O_DIRECT reads of 1 MiB with 4 in flight\n"
        "                       (in batches when the profile was fitted on them:\n"
        "                       flash_fit_batch), the expert kernel at the configuration's\n"
        "                       bit width (the experts' compute) and the dense kernel (the\n"
        "                       resident part's: dense_drift)\n"
        "      --drift-settle S seconds of idle disk after the references, before the\n"
        "                       run (default 2; 0: none): right after a burst of reads\n"
        "                       this machine's disk read the first token up to\n"
        "                       1.8x slower\n"
        "      --cold-samples N first-token samples per repeat (1..8, default 1): the\n"
        "                       others are runs of two tokens, each after the same\n"
        "                       references and idle time; the cold start is their median\n"
        "                       (dense grids)\n"
        "      --pagecache-mechanism M  expert grids without the key: auto (default: a\n"
        "                       memory cgroup when one can be made, else fadvise), cgroup\n"
        "                       or fadvise (llmflash run --help)\n"
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
    if (i == 0) {
        printf("%-4s %-22s %-8s %5s %3s %7s %8s %-8s %10s %10s %8s %8s", "cfg", "policy",
               "layout", "dram", "thr", "maxread", "strategy", "engine", "pred_ms", "meas_ms",
               "err_%", "spread_%");
        if (r->drift_measured)
            printf(" %8s %8s %10s %8s", "io_drift", "cpu_drft", "norm_ms", "norm_e_%");
        printf(" %8s %8s\n", "cold_e_%", "cold_sp%");
    }
    char mr[32];
    snprintf(mr, sizeof mr, "%lluk", (unsigned long long)(r->max_read >> 10));
    printf("%-4s %-22.22s %-8s %5.2f %3u %7s %8s %-8s %10.3f %10.3f %+8.1f %8.1f", r->id,
           r->policy, r->layout, r->dram_fraction, r->threads, mr, r->dram, r->engine,
           r->predicted_ms, r->measured_ms, r->error_pct, r->spread_pct);
    if (r->drift_measured)
        printf(" %8.3f %8.3f %10.3f %+8.1f", r->io_drift, r->cpu_drift, r->predicted_norm_ms,
               r->norm_error_pct);
    printf(" %+8.1f %8.1f%s%s\n", r->cold_error_pct, r->cold_spread_pct,
           r->noisy ? " NOISY" : "", r->cold_noisy ? " COLD-NOISY" : "");
    fflush(stdout);
    (void)n;
}

/* One set of a validation: a trace with its weights files, profiles and grid (a model
 * shape), as given on the command line and as opened. */
typedef struct {
    const char *trace, *device, *grid;
    const char *wpaths[MAX_WEIGHTS];
    size_t n_w;
    char ed_engine[4][16];
    const char *ed_path[4], *ed_names[4];
    size_t n_ed;
    int plain_device; /* a plain --device was given (not only ENGINE=) */
    char dev_found[4096], ed_found[4][4096]; /* names (m3max) as the plain --device takes them */
    lf_weights w[MAX_WEIGHTS];
    size_t opened;
    lf_device dev, ed_dev[4];
    lf_trace t;
    lf_sweep g;
    int have_t, have_g;
} vset;

/* --device D or --device ENGINE=D into s (usage errors printed; LF_EXIT_* returned). */
static int add_device(vset *s, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        s->device = arg;
        return LF_EXIT_OK;
    }
    if (s->n_ed == 4)
        return lf_cli_usage(CMD, "at most 4 --device ENGINE=PROFILE");
    size_t k = (size_t)(eq - arg);
    if (k == 0 || k >= sizeof s->ed_engine[0])
        return lf_cli_usage(CMD, "--device '%s': expected ENGINE=PROFILE", arg);
    memcpy(s->ed_engine[s->n_ed], arg, k);
    s->ed_engine[s->n_ed][k] = '\0';
    const lf_io_ops *ops;
    lf_err eerr;
    if (lf_io_engine(s->ed_engine[s->n_ed], &ops, &eerr) != LF_OK)
        return lf_cli_usage(CMD, "--device '%s': %s", arg, eerr.msg);
    s->ed_path[s->n_ed++] = eq + 1;
    return LF_EXIT_OK;
}

/* A later set without a profile or a grid of its own takes the first set's. */
static void inherit(vset *s, const vset *first)
{
    if (!s->device && !s->n_ed) {
        s->device = first->device;
        s->n_ed = first->n_ed;
        memcpy(s->ed_engine, first->ed_engine, sizeof s->ed_engine);
        memcpy(s->ed_path, first->ed_path, sizeof s->ed_path);
    }
    if (!s->grid)
        s->grid = first->grid;
}

/* Profile names resolved (printed errors; LF_EXIT_* returned). */
static int resolve_devices(vset *s)
{
    s->plain_device = s->device != NULL;
    if (!s->device && s->n_ed)
        s->device = s->ed_path[0];
    if (lf_cli_device_resolve(CMD, s->device, s->dev_found, sizeof s->dev_found))
        return LF_EXIT_FAIL;
    s->device = s->dev_found;
    for (size_t k = 0; k < s->n_ed; k++) {
        if (lf_cli_device_resolve(CMD, s->ed_path[k], s->ed_found[k], sizeof s->ed_found[k]))
            return LF_EXIT_FAIL;
        s->ed_path[k] = s->ed_found[k];
        s->ed_names[k] = s->ed_engine[k];
    }
    return LF_EXIT_OK;
}

static int open_weights(vset *s, lf_err *err)
{
    int rc = LF_OK;
    for (; s->opened < s->n_w && !rc; s->opened++)
        if ((rc = lf_weights_open(s->wpaths[s->opened], &s->w[s->opened], err)))
            break;
    return rc;
}

/* The profiles, the grid and the trace of a set of neuron files. */
static int open_rest(vset *s, lf_err *err)
{
    int rc = lf_device_load(s->device, &s->dev, err);
    for (size_t k = 0; k < s->n_ed && !rc; k++)
        rc = lf_device_load(s->ed_path[k], &s->ed_dev[k], err);
    if (!rc && !(rc = lf_sweep_load_grid(s->grid, lf_validate_keys(), &s->g, err)))
        s->have_g = 1;
    if (!rc && !(rc = lf_trace_read(s->trace, &s->t, err)))
        s->have_t = 1;
    return rc;
}

static void close_set(vset *s)
{
    if (s->have_t)
        lf_trace_free(&s->t);
    if (s->have_g)
        lf_sweep_free(&s->g);
    for (size_t k = 0; k < s->opened; k++)
        lf_weights_close(&s->w[k]);
}

/* validate.csv, validate_cold.csv and the verdict lines. */
static int report(const lf_validate_row *rows, size_t n, const char *out, int drift_refs,
                  lf_err *err)
{
    char csv[4200], cold[4200];
    snprintf(csv, sizeof csv, "%s/validate.csv", out);
    snprintf(cold, sizeof cold, "%s/validate_cold.csv", out);
    int rc = lf_validate_write_csv(csv, rows, n, 0, err);
    if (!rc)
        rc = lf_validate_write_csv(cold, rows, n, 1, err);
    if (rc)
        return rc;
    double mdape, max_ape, cmd, cmax;
    lf_validate_errors(rows, n, &mdape, &max_ape);
    lf_validate_cold_errors(rows, n, &cmd, &cmax);
    size_t noisy = 0, cold_noisy = 0;
    for (size_t i = 0; i < n; i++) {
        noisy += rows[i].noisy;
        cold_noisy += rows[i].cold_noisy;
    }
    printf("scope %s; cold start (first token, median of %u samples): MdAPE %.1f%%, "
           "worst %.1f%% -> %s\n", n ? rows[0].scope : "token",
           n ? rows[0].cold_samples : 0, cmd, cmax, cold);
    lf_twin_stats tw;
    lf_validate_twin_stats(rows, n, &tw);
    if (tw.groups)
        printf("cold start twins: %zu groups of %zu configurations whose first token is the "
               "same work (policies that differ only after it) measured it %.1f-%.1f%% apart "
               "(median %.1f%%), the noise in one cold row; pooled over each group's samples: "
               "MdAPE %.1f%%, worst %.1f%% (validate_cold.csv: twin, pooled_ms)\n", tw.groups,
               tw.rows, tw.apart_min_pct, tw.apart_max_pct, tw.apart_median_pct,
               tw.pooled_mdape, tw.pooled_max_ape);
    char a[16], b[16];
    printf("MdAPE %s%% over %zu configurations (target <= 5%%)%s; worst %s%% "
           "(target <= 15%%)%s -> %s\n", lf_cli_pct(a, sizeof a, mdape, 5), n,
           mdape > 5.0 ? " MISSED" : "", lf_cli_pct(b, sizeof b, max_ape, 15),
           max_ape > 15.0 ? " MISSED" : "", csv);
    if (drift_refs) {
        double nmd, nmax, ncmd, ncmax;
        lf_validate_norm_errors(rows, n, 0, &nmd, &nmax);
        lf_validate_norm_errors(rows, n, 1, &ncmd, &ncmax);
        printf("drift-normalised (flash, resident part and FFN priced at the speeds "
               "measured next to each run): MdAPE %s%% (target <= 5%%)%s; worst %s%% (target <= "
               "15%%)%s; cold start MdAPE %.1f%%, worst %.1f%%\n", lf_cli_pct(a, sizeof a, nmd, 5),
               nmd > 5.0 ? " MISSED" : "", lf_cli_pct(b, sizeof b, nmax, 15),
               nmax > 15.0 ? " MISSED" : "", ncmd, ncmax);
    }
    if (noisy)
        printf("NOISY: %zu of %zu configurations spread more than 5%% over their "
               "repeats; their errors say little (measure on a quiet machine)\n",
               noisy, n);
    if (cold_noisy)
        printf("COLD-NOISY: the cold start (first-token samples) of %zu of %zu "
               "configurations spread more than 5%% over its samples\n", cold_noisy, n);
    if (n)
        lf_cli_device_range_notes(CMD, n, sizeof *rows, rows->id, rows->device,
                                  rows->flash_outside);
    return LF_OK;
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trace", required_argument, 0, 't'},  {"weights", required_argument, 0, 'w'},
        {"device", required_argument, 0, 'd'}, {"grid", required_argument, 0, 'g'},
        {"out", required_argument, 0, 'o'},    {"repeat", required_argument, 0, 'r'},
        {"tokens", required_argument, 0, 'n'}, {"engine", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'},         {"compare", required_argument, 0, 'c'},
        {"scope", required_argument, 0, 'S'},  {"pagecache-mechanism", required_argument, 0, 'P'},
        {"drift-refs", no_argument, 0, 'D'},   {"drift-settle", required_argument, 0, 'L'},
        {"cold-samples", required_argument, 0, 'C'},
        {0, 0, 0, 0}};
    const char *out = NULL, *engine = "psync";
    const char *compare = NULL, *scope = NULL, *pc_mech = NULL;
    vset *sets = calloc(MAX_SETS, sizeof *sets);
    if (!sets) {
        fprintf(stderr, "llmflash %s: out of memory\n", CMD);
        return LF_EXIT_FAIL;
    }
    size_t n_sets = 1; /* options before the second --trace belong to the first set */
    uint64_t repeat = 3, tokens = 0, cold_samples = 1;
    int c, drift_refs = 0, status = LF_EXIT_OK;
    double drift_settle = LF_VALIDATE_REF_SETTLE_S;
    while (status == LF_EXIT_OK &&
           (c = lf_cli_getopt(CMD, argc, argv, ":t:w:d:g:o:r:n:e:h", opts, "dwtg")) != -1) {
        vset *cur = &sets[n_sets - 1];
        switch (c) {
        case 'c': compare = optarg; break;
        case 'D': drift_refs = 1; break;
        case 'L':
            if (lf_cli_double(CMD, "--drift-settle", optarg, 0, 60, &drift_settle))
                status = LF_EXIT_USAGE;
            break;
        case 'C':
            if (lf_cli_u64(CMD, "--cold-samples", optarg, 1, LF_VALIDATE_MAX_COLD_SAMPLES,
                           &cold_samples))
                status = LF_EXIT_USAGE;
            break;
        case 'P': pc_mech = optarg; break;
        case 'S': {
            lf_err e3;
            lf_scope sc;
            if (lf_scope_parse(optarg, &sc, &e3))
                status = lf_cli_usage(CMD, "--%s", e3.msg);
            scope = optarg;
            break;
        }
        case 't':
            if (cur->trace && n_sets == MAX_SETS) {
                status = lf_cli_usage(CMD, "at most %d --trace sets", MAX_SETS);
                break;
            }
            if (cur->trace)
                cur = &sets[n_sets++];
            cur->trace = optarg;
            break;
        case 'd': status = add_device(cur, optarg); break;
        case 'g':
            if (cur->grid)
                fprintf(stderr, "llmflash %s: note: '--grid' given again for trace %s; the last "
                        "value ('%s') is used\n", CMD, cur->trace ? cur->trace : "(first)", optarg);
            cur->grid = optarg;
            break;
        case 'o': out = optarg; break;
        case 'e': engine = optarg; break;
        case 'w':
            if (cur->n_w == MAX_WEIGHTS)
                status = lf_cli_usage(CMD, "at most %d --weights files per trace", MAX_WEIGHTS);
            else
                cur->wpaths[cur->n_w++] = optarg;
            break;
        case 'r':
            if (lf_cli_u64(CMD, "--repeat", optarg, 1, 64, &repeat))
                status = LF_EXIT_USAGE;
            break;
        case 'n': { /* the shared option's parser and range */
            lf_run_config tc;
            lf_run_config_defaults(&tc);
            lf_err e;
            if (lf_runopt_set(lf_runopt_find("tokens"), &tc, optarg, &e))
                status = lf_cli_usage(CMD, "%s", e.msg);
            tokens = tc.n_tokens;
            if (!status && tokens == 1) /* the cold start is the first token: one more */
                status = lf_cli_usage(CMD, "--tokens 1: validate reports the first token as "
                                      "the cold start and the others as the steady state; "
                                      "give at least 2");
            break;
        }
        case 'h':
            help();
            printf("\n");
            lf_cli_device_help(stdout);
            free(sets);
            return LF_EXIT_OK;
        default: status = lf_cli_bad_option(CMD, argc, argv); break;
        }
    }
    if (status == LF_EXIT_OK && compare) {
        lf_err e2;
        lf_validate_pair pr;
        if (optind + 1 != argc)
            status = lf_cli_usage(CMD, "--compare takes two folders: --compare SIM_DIR RUN_DIR");
        else if (lf_validate_compare(compare, argv[optind], &pr, &e2))
            status = lf_cli_error(CMD, &e2);
        else
            printf("scope %s: steady state %.3f ms (%s) vs %.3f ms (%s): error %+.1f%%%s; cold "
                   "start %.3f vs %.3f ms: error %+.1f%%\n", pr.scope, pr.a_ms, compare,
                   pr.b_ms, argv[optind], pr.error_pct,
                   fabs(pr.error_pct) > 15.0 ? " MISSED (target 15%)" : "", pr.a_cold_ms,
                   pr.b_cold_ms, pr.cold_error_pct);
        free(sets);
        return status;
    }
    if (status == LF_EXIT_OK && optind < argc)
        status = lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    vset *first = &sets[0];
    if (status == LF_EXIT_OK && (!first->trace || (!first->n_w && n_sets == 1) ||
                                 (!first->device && !first->n_ed) || !first->grid || !out))
        status = lf_cli_usage(CMD, "--trace, --weights, --device, --grid and --out are required");
    for (size_t j = 0; j < n_sets && status == LF_EXIT_OK; j++) {
        if (!sets[j].n_w)
            status = lf_cli_usage(CMD, "--trace %s: give its --weights after it (each --trace "
                                  "after the first starts a set of its own)", sets[j].trace);
        if (j)
            inherit(&sets[j], first);
    }
    for (size_t j = 0; j < n_sets && status == LF_EXIT_OK; j++)
        status = resolve_devices(&sets[j]);
    if (status != LF_EXIT_OK) {
        free(sets);
        return status;
    }
    lf_err err;
    int rc = LF_OK;
    for (size_t j = 0; j < n_sets && !rc; j++)
        rc = open_weights(&sets[j], &err);
    if (!rc && first->w[0].h.kind == LF_UNITS_EXPERTS) { /* expert files: the expert grid */
        const char *bdev = NULL;
        if (n_sets > 1)
            rc = lf_fail(&err, LF_EINVAL, "%s holds experts: expert grids take one --trace "
                         "(several sets are for neuron files)", first->wpaths[0]);
        for (size_t k = 0; k < first->n_ed && !rc; k++) {
            if (strcmp(first->ed_engine[k], "buffered") || !first->plain_device)
                rc = lf_fail(&err, LF_EINVAL, "--device %s=%s: expert grids price their direct "
                             "reads with --device D.conf and their page-cache reads with "
                             "--device buffered=P.conf (both given); no other ENGINE= profile",
                             first->ed_engine[k], first->ed_path[k]);
            bdev = first->ed_path[k];
        }
        if (!rc && cold_samples != 1)
            rc = lf_fail(&err, LF_EINVAL, "--cold-samples: %s holds experts; expert grids take "
                         "one cold-start sample per repeat (leave the option out)",
                         first->wpaths[0]);
        if (!rc) {
            status = cmd_validate_moe(first->trace, first->w, first->opened, first->device,
                                      bdev, first->grid, out, (uint32_t)repeat,
                                      (uint32_t)tokens, pc_mech, scope, drift_refs,
                                      drift_settle);
            free(sets); /* cmd_validate_moe closed the weights */
            return status;
        }
    }
    for (size_t j = 1; j < n_sets && !rc; j++)
        if (sets[j].w[0].h.kind == LF_UNITS_EXPERTS)
            rc = lf_fail(&err, LF_EINVAL, "%s holds experts: expert grids take one --trace "
                         "(several sets are for neuron files)", sets[j].wpaths[0]);
    if (!rc && pc_mech)
        rc = lf_fail(&err, LF_EINVAL, "--pagecache-mechanism: %s holds neurons; only the expert "
                     "executor has a page-cache tier", first->wpaths[0]);
    for (size_t j = 0; j < n_sets && !rc; j++)
        rc = open_rest(&sets[j], &err);
    lf_validate_cfg v[MAX_SETS];
    lf_validate_row *rows = NULL;
    size_t n = 0, from = 1;
    for (size_t j = 0; j < n_sets && !rc; j++) {
        vset *s = &sets[j];
        if (n_sets == 1)
            printf("validate: %zu configurations x %llu measured runs, trace %s, device %s\n",
                   s->g.n_runs, (unsigned long long)repeat, s->trace, s->dev.name);
        else
            printf("validate: set %zu: c%02zu-c%02zu (%zu configurations) x %llu measured runs, "
                   "trace %s, device %s\n", j + 1, from, from + s->g.n_runs - 1, s->g.n_runs,
                   (unsigned long long)repeat, s->trace, s->dev.name);
        from += s->g.n_runs;
        v[j] = (lf_validate_cfg){.trace = &s->t,
                                 .trace_path = s->trace,
                                 .weights = s->w,
                                 .n_weights = s->n_w,
                                 .dev = &s->dev,
                                 .device_path = s->device,
                                 .grid = &s->g,
                                 .engine = engine,
                                 .repeat = (uint32_t)repeat,
                                 .tokens = (uint32_t)tokens,
                                 .cold_tokens = 1,
                                 .out_dir = out,
                                 .target_pct = 5.0,
                                 .engines = s->ed_names,
                                 .devs = s->ed_dev,
                                 .dev_paths = s->ed_path,
                                 .n_engine_devs = s->n_ed,
                                 .on_row = print_row,
                                 .scope = scope,
                                 .drift_refs = drift_refs,
                                 .drift_settle_s = drift_settle,
                                 .cold_samples = (uint32_t)cold_samples};
    }
    if (!rc)
        rc = lf_validate_run_sets(v, n_sets, &rows, &n, &err);
    if (!rc)
        rc = report(rows, n, out, drift_refs, &err);
    free(rows);
    for (size_t j = 0; j < n_sets; j++)
        close_set(&sets[j]);
    free(sets);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
