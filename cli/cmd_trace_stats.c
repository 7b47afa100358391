/* llmflash trace stats: a trace's statistics as a one-screen table and a long CSV. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_sort_double.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_stats.h"
#include "lf_time.h"
#include "lf_trace.h"

static const char *CMD = "trace stats";

static void help(void)
{
    printf("usage: llmflash trace stats FILE.h5 [--max-window K] [--csv OUT.csv] [--layer L]\n"
           "                                    [--friend-sample N] [--per-layer]\n"
           "\n"
           "Prints a trace's statistics, per layer and overall (mean of the layers):\n"
           "sparsity, s_agg(k) and delta(k) = s_agg(k+1) - s_agg(k) for k = 1..K (fractions\n"
           "of the units), reuse, the share of activations carried by the 10%% and 20%%\n"
           "hottest units, closest-friend co-activation; for expert traces also the expert\n"
           "popularity and the LRU hit rate against the cache size. Definitions and CSV\n"
           "columns: traces/README.md.\n"
           "\n"
           "  --max-window K      largest window k of s_agg and delta (default 8)\n"
           "  --csv OUT.csv       also write every figure as CSV: layer,metric,k,value\n"
           "                      (layer -1 = overall), written atomically\n"
           "  --layer L           only layer L\n"
           "  --friend-sample N   units per layer examined for closest friends, evenly\n"
           "                      spaced ids (default 512; 0 = all units, slower)\n"
           "  --per-layer         print one row per layer (default: min/median/max)\n"
           "  --friends-csv OUT   also write every active unit's closest friend (all units,\n"
           "                      of --layer or of every layer): layer,unit,count,friend,\n"
           "                      friend_count\n"
           "\n"
           "example:\n"
           "  llmflash trace stats opt.h5 --max-window 8 --csv opt.stats.csv\n");
}

static void on_progress(uint32_t done, uint32_t total, void *arg)
{
    (void)total;
    lf_progress_update(arg, done);
}

/* A row of values, 10 to a line: keys (fmt for one unsigned) or else v (fmt for one
 * double; NaN prints "-"). */
static void print_series(const char *label, const double *v, const uint32_t *keys, uint32_t n,
                         const char *fmt)
{
    for (uint32_t i = 0; i < n; i += 10) {
        printf("  %-8s", i ? "" : label);
        for (uint32_t j = i; j < n && j < i + 10; j++) {
            if (keys)
                printf(fmt, keys[j]);
            else if (isnan(v[j]))
                printf(" %7s", "-");
            else
                printf(fmt, v[j]);
        }
        printf("\n");
    }
}

/* Column c of the per-layer table. */
typedef struct {
    const char *head;
    double (*get)(const lf_stats_layer *, uint32_t K);
} column;

static double c_sparsity(const lf_stats_layer *L, uint32_t K) { (void)K; return L->sparsity; }
static double c_sagg1(const lf_stats_layer *L, uint32_t K) { (void)K; return L->s_agg[0]; }
static double c_saggK(const lf_stats_layer *L, uint32_t K) { return L->s_agg[K - 1]; }
static double c_delta1(const lf_stats_layer *L, uint32_t K) { (void)K; return L->delta[0]; }
static double c_deltaK(const lf_stats_layer *L, uint32_t K) { return L->delta[K - 1]; }
static double c_reuse(const lf_stats_layer *L, uint32_t K) { (void)K; return L->reuse; }
static double c_top10(const lf_stats_layer *L, uint32_t K) { (void)K; return L->top10; }
static double c_top20(const lf_stats_layer *L, uint32_t K) { (void)K; return L->top20; }
static double c_fshare(const lf_stats_layer *L, uint32_t K)
{
    (void)K;
    return L->friend_share_mean;
}
static double c_fhot(const lf_stats_layer *L, uint32_t K) { (void)K; return L->friend_in_top1; }

static const column columns[] = {
    {"sparsity", c_sparsity}, {"s_agg1", c_sagg1}, {"s_aggK", c_saggK}, {"delta1", c_delta1},
    {"deltaK", c_deltaK},     {"reuse", c_reuse},  {"top10", c_top10},  {"top20", c_top20},
    {"f_share", c_fshare},    {"f_hot1%", c_fhot},
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

static void print_cell(double v)
{
    if (isnan(v))
        printf(" %8s", "-");
    else
        printf(" %8.4f", v);
}

static void print_layers(const lf_stats *s, int per_layer)
{
    uint32_t K = s->max_window;
    printf("\n  %-7s", "layer");
    for (size_t c = 0; c < N_COLUMNS; c++)
        printf(" %8s", columns[c].head);
    printf("\n");
    if (per_layer || s->n_layers <= 3) {
        for (uint32_t i = 0; i < s->n_layers; i++) {
            printf("  %-7u", s->layers[i].layer);
            for (size_t c = 0; c < N_COLUMNS; c++)
                print_cell(columns[c].get(&s->layers[i], K));
            printf("\n");
        }
        return;
    }
    double *v = malloc(s->n_layers * sizeof *v);
    if (!v)
        return;
    const char *names[3] = {"min", "median", "max"};
    for (int row = 0; row < 3; row++) {
        printf("  %-7s", names[row]);
        for (size_t c = 0; c < N_COLUMNS; c++) {
            uint32_t m = 0;
            for (uint32_t i = 0; i < s->n_layers; i++) {
                double x = columns[c].get(&s->layers[i], K);
                if (!isnan(x))
                    v[m++] = x;
            }
            gsl_sort(v, 1, m);
            double x = !m ? NAN : row == 0 ? v[0] : row == 2 ? v[m - 1]
                                  : m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
            print_cell(x);
        }
        printf("\n");
    }
    free(v);
}

static void print_stats(const char *path, const lf_trace *t, const lf_stats *s, int per_layer)
{
    const lf_stats_layer *A = &s->all;
    int experts = t->kind == LF_UNITS_EXPERTS;
    printf("trace %s: %s, %u layers x %u %s, %u tokens, source %s, seed %llu\n", path,
           t->model, t->n_layers, t->units_per_layer, experts ? "experts" : "neurons",
           t->n_tokens, t->source, (unsigned long long)t->seed);
    if (experts)
        printf("top_k %u\n", t->top_k);
    if (t->generator[0])
        printf("generator: %s\n", t->generator);
    if (s->n_layers == 1)
        printf("\nlayer %u:\n", s->layers[0].layer);
    else
        printf("\noverall (mean of %u layers):\n", s->n_layers);
    /* a share of nothing (no active unit, no friend examined) is undefined: "-" */
    char v[7][24];
    const double x[7] = {A->reuse, A->top10, A->top20, A->friend_share_mean,
                         A->friend_share_median, A->friend_in_top1, A->friend_distinct};
    for (int i = 0; i < 7; i++)
        snprintf(v[i], sizeof v[i], isfinite(x[i]) ? (i < 3 ? "%.4f" : "%.3f") : "-", x[i]);
    printf("  sparsity %.4f   reuse %s   top10%% share %s   top20%% share %s\n", A->sparsity,
           v[0], v[1], v[2]);
    printf("  closest friend: co-activation share mean %s median %s; friend among the 1%% "
           "hottest %s;\n  distinct friends %s of %u units examined (%s per layer)\n", v[3],
           v[4], v[5], v[6], A->friend_units,
           s->friend_sample && s->friend_sample < s->units ? "sample" : "all");
    uint32_t K = s->max_window;
    uint32_t *ks = malloc(K * sizeof *ks);
    if (ks) {
        for (uint32_t k = 0; k < K; k++)
            ks[k] = k + 1;
        print_series("k", NULL, ks, K, " %7u");
        free(ks);
    }
    print_series("s_agg", A->s_agg, NULL, K, " %7.4f");
    print_series("delta", A->delta, NULL, K, " %7.4f");
    if (experts) {
        uint32_t n = s->units < 10 ? s->units : 10;
        uint32_t *rank = malloc(n * sizeof *rank);
        if (rank) {
            for (uint32_t r = 0; r < n; r++)
                rank[r] = r + 1;
            printf("  expert popularity (share of activations by rank, mean over layers):\n");
            print_series("rank", NULL, rank, n, " %7u");
            print_series("share", A->expert_share, NULL, n, " %7.4f");
            free(rank);
        }
        printf("  LRU hit rate per layer against cached experts per layer:\n");
        print_series("cache", NULL, s->cache_sizes, s->n_cache, " %7u");
        print_series("hit", A->lru_hit, NULL, s->n_cache, " %7.3f");
    }
    if (s->n_layers > 1)
        print_layers(s, per_layer);
}

int cmd_trace_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-window", required_argument, 0, 'k'},
        {"csv", required_argument, 0, 'c'},
        {"layer", required_argument, 0, 'l'},
        {"friend-sample", required_argument, 0, 'f'},
        {"per-layer", no_argument, 0, 'p'},
        {"friends-csv", required_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    lf_stats_opts o;
    lf_stats_opts_default(&o);
    const char *csv = NULL, *friends_csv = NULL;
    int per_layer = 0, c, rc = 0;
    uint64_t v, layer = UINT64_MAX;
    while (rc == 0 && (c = lf_cli_getopt(CMD, argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            rc = lf_cli_u64(CMD, "--max-window", optarg, 1, 100000, &v);
            o.max_window = (uint32_t)v;
            break;
        case 'c': csv = optarg; break;
        case 'l': rc = lf_cli_u64(CMD, "--layer", optarg, 0, 1000000, &layer); break;
        case 'f':
            rc = lf_cli_u64(CMD, "--friend-sample", optarg, 0, UINT32_MAX, &v);
            o.friend_sample = (uint32_t)v;
            break;
        case 'p': per_layer = 1; break;
        case 'F': friends_csv = optarg; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (rc)
        return rc;
    if (optind >= argc)
        return lf_cli_usage(CMD, "missing the trace file (FILE.h5)");
    if (optind + 1 < argc)
        return lf_cli_usage(CMD, "one trace file expected, got also '%s'", argv[optind + 1]);
    const char *path = argv[optind];
    if (lf_cli_refuse_same(CMD, csv, path, LF_CLI_END) ||
        lf_cli_refuse_same(CMD, friends_csv, path, csv, LF_CLI_END))
        return LF_EXIT_FAIL;
    lf_err err;
    lf_trace t;
    if (lf_trace_read(path, &t, &err))
        return lf_cli_error(CMD, &err);
    if (layer != UINT64_MAX && layer >= t.n_layers) {
        uint32_t n = t.n_layers;
        lf_trace_free(&t);
        return lf_cli_usage(CMD, "--layer %llu: %s has layers 0..%u", (unsigned long long)layer,
                            path, n - 1);
    }
    o.layer = layer == UINT64_MAX ? -1 : (int)layer;
    lf_progress prog;
    lf_progress_start(&prog, "trace stats (layers)", o.layer >= 0 ? 1 : t.n_layers);
    o.progress = on_progress;
    o.progress_arg = &prog;
    lf_stats s;
    rc = lf_stats_compute(&t, &o, &s, &err);
    lf_progress_end(&prog);
    if (rc == LF_OK) {
        print_stats(path, &t, &s, per_layer);
        if (csv) {
            rc = lf_stats_write_csv(&s, csv, &err);
            if (rc == LF_OK)
                printf("\nwrote %s\n", csv);
        }
        lf_stats_free(&s);
    }
    if (rc == LF_OK && friends_csv) {
        rc = lf_stats_write_friends_csv(&t, o.layer, friends_csv, &err);
        if (rc == LF_OK)
            printf("wrote %s\n", friends_csv);
    }
    lf_trace_free(&t);
    return rc == LF_OK ? LF_EXIT_OK : lf_cli_error(CMD, &err);
}
