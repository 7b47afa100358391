/* llmflash moe-scenario: parses the options, and prints the Flash-MoE scenario
 * (experiments/lf_scenario: its published figures, plans and pricing) with its
 * assumptions and explanations, and expert hit-rate curves per policy (--hit-curve). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_num.h"
#include "lf_fs.h"
#include "lf_moesim.h"
#include "lf_scenario.h"
#include "lf_trace.h"

static const char *CMD = "moe-scenario";

#define MIB 1048576.0

typedef lf_scenario_row row;

static void help(void)
{
    printf(
        "usage: llmflash moe-scenario [--device FILE] [--bits 4|2] [--cache-per-layer N]\n"
        "         [--app-cache-per-layer N] [--prefetch K --acc A] [--ram-gib G] [--os-gib G]\n"
        "         [--params P.conf] [--tokens N] [--warmup N] [--threads T] [--split S]\n"
        "         [--compute-ms-per-layer X] [--seed S] [--csv FILE]\n"
        "       llmflash moe-scenario --hit-curve T.h5[,T2.h5...] [--sizes 4,8,16,...] --csv FILE\n\n"
        "Predicts tokens per second of Qwen3.5-397B-A17B (60 layers, 512 experts, top-4)\n"
        "streamed from flash, as Flash-MoE ran it, and prints the prediction next to the\n"
        "published figures (4.36 tok/s 4-bit and 5.74 tok/s 2-bit on an M3 Max, about 0.6\n"
        "tok/s on an iPhone 17 Pro) with every assumption and an explanation of the gap.\n"
        "Without --device/--bits/--cache-per-layer/--app-cache-per-layer/--prefetch it runs\n"
        "the published configurations; with any of them, one configuration.\n\n"
        "The routing is a synthetic trace (trace synth's expert model): by default its\n"
        "(zipf, reuse) are fitted to the published per-layer LRU hit rates 49/59/68/71%% at\n"
        "16/32/64/128 experts; --params P.conf takes them from `llmflash trace fit` of a real\n"
        "routing log instead. Either way the trace's LRU hit rates are printed as a check.\n\n"
        "options:\n"
        "  --device NAME|FILE     device profile, a name or a .conf (default m3max)\n"
        "  --bits 4|2             expert precision: 7077888 or 3932160 bytes per expert\n"
        "  --cache-per-layer N    OS page cache, experts per layer (default: the DRAM left\n"
        "                         after the engine and the OS, split over the 60 layers)\n"
        "  --app-cache-per-layer N  application LRU cache, experts per layer (default 0)\n"
        "  --prefetch K, --acc A  K guessed experts per layer read ahead, each routed with\n"
        "                         probability A (default 0; A 0.53)\n"
        "  --ram-gib G, --os-gib G  device DRAM and what the OS and other apps keep (default\n"
        "                         48/6 for m3max, 12/4 for iphone17pro profiles)\n"
        "  --params FILE          zipf = ..., reuse = ... (from trace fit)\n"
        "  --tokens N, --warmup N synthetic tokens (default 1500) and cold ones left out (300)\n"
        "  --threads T            preads in flight (default 4, as Flash-MoE)\n"
        "  --split S              reads per expert (default 1: one pread per expert)\n"
        "  --compute-ms-per-layer X  compute per layer instead of the roofline\n"
        "  --seed S               seed of the trace and the prefetch guesses (default 1)\n"
        "  --csv FILE             write the rows (columns: traces/MOE.md)\n"
        "  --hit-curve LIST       hit rate against cache size for lru, lfu, fwlru, hot,\n"
        "                         belady and pagecache on expert traces; CSV columns\n"
        "                         policy,cache_size,hit_rate,trace\n"
        "  --sizes LIST           cache sizes for --hit-curve (default 4,8,12,16,24,32,48)\n"
        "  -h, --help             this text\n\n"
        "examples:\n"
        "  llmflash moe-scenario\n"
        "  llmflash moe-scenario --bits 2 --cache-per-layer 64 --prefetch 4 --acc 0.53\n"
        "  llmflash moe-scenario --hit-curve qwen.h5,olmoe.h5 --csv results/moe/hit_rate.csv\n");
}

/* ---- hit-rate curves ------------------------------------------------------------- */

static const char *base_noext(const char *p, char *buf, size_t cap)
{
    const char *s = strrchr(p, '/');
    snprintf(buf, cap, "%s", s ? s + 1 : p);
    char *dot = strrchr(buf, '.');
    if (dot && !strcmp(dot, ".h5"))
        *dot = '\0';
    return buf;
}

static int hit_curve(const char *list, const char *sizes_s, const char *csv, uint64_t seed)
{
    const char *const *pols = lf_scenario_curve_policies;
    uint64_t *sizes;
    size_t n_sizes;
    lf_err err;
    if (lf_parse_size_list(sizes_s, &sizes, &n_sizes, &err))
        return lf_cli_usage(CMD, "--sizes: %s", err.msg);
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    /* every item checked before any work: a typo in the list, or --csv naming one of the
     * traces (the atomic write would replace it), is refused at once */
    size_t n_items = 0;
    char *items[64];
    for (char *path = buf, *next; path; path = next) {
        next = strchr(path, ',');
        if (next)
            *next++ = '\0';
        if (!*path || n_items == 63) {
            free(sizes);
            return !*path ? lf_cli_usage(CMD, "--hit-curve '%s': item %zu is empty", list,
                                         n_items + 1)
                          : lf_cli_usage(CMD, "--hit-curve: at most 63 traces");
        }
        items[n_items++] = path;
    }
    lf_atomic a;
    if (csv && lf_cli_refuse_same_list(CMD, csv, items, (int)n_items)) {
        free(sizes);
        return LF_EXIT_FAIL;
    }
    if (csv && lf_atomic_open(&a, csv, &err)) {
        free(sizes);
        return lf_cli_error(CMD, &err);
    }
    if (csv)
        fprintf(a.f, "policy,cache_size,hit_rate,trace\n");
    int rc = LF_EXIT_OK;
    size_t rows = 0;
    for (size_t item = 0; item < n_items && rc == LF_EXIT_OK; item++) {
        const char *path = items[item];
        lf_trace t;
        char name[256];
        base_noext(path, name, sizeof name);
        if (lf_trace_read(path, &t, &err)) {
            rc = lf_cli_error(CMD, &err);
            break;
        }
        printf("%s: %u layers, %u experts, top-%u, %u tokens; hit rate (cold start included)\n",
               path, t.n_layers, t.units_per_layer, t.top_k, t.n_tokens);
        printf("%-18s", "policy \\ size");
        for (size_t i = 0; i < n_sizes; i++)
            printf(" %6llu", (unsigned long long)sizes[i]);
        printf("\n");
        int outside = 0;
        for (size_t p = 0; pols[p] && rc == LF_EXIT_OK; p++) {
            printf("%-18s", pols[p]);
            for (size_t i = 0; i < n_sizes && rc == LF_EXIT_OK; i++) {
                double h;
                if (sizes[i] < t.top_k || sizes[i] > t.units_per_layer) {
                    printf(" %6s", "-");
                    outside = 1;
                    continue;
                }
                rows++;
                if (lf_moesim_hit_rate(&t, pols[p], sizes[i], seed, &h, &err)) {
                    lf_err_prefix(&err, "%s", path);
                    rc = lf_cli_error(CMD, &err);
                    break;
                }
                printf(" %6.3f", h);
                if (csv) {
                    char pname[32];
                    snprintf(pname, sizeof pname, "%s", pols[p]);
                    char *colon = strchr(pname, ':');
                    if (colon)
                        *colon = '\0';
                    fprintf(a.f, "%s,%llu,%.6f,%s\n", pname, (unsigned long long)sizes[i], h, name);
                }
            }
            printf("\n");
        }
        if (outside)
            printf("(-: a cache of fewer experts than top-%u or more than the %u a layer has)\n",
                   t.top_k, t.units_per_layer);
        lf_trace_free(&t);
    }
    free(sizes);
    if (rc == LF_EXIT_OK && rows == 0)
        rc = lf_cli_usage(CMD, "--sizes '%s': no cache size lies between top-k and the experts "
                          "of a layer, so there is no hit rate to give", sizes_s);
    if (csv) {
        if (rc == LF_EXIT_OK && lf_atomic_commit(&a, &err))
            rc = lf_cli_error(CMD, &err);
        else if (rc != LF_EXIT_OK)
            lf_atomic_abort(&a);
        if (rc == LF_EXIT_OK)
            printf("wrote %s\n", csv);
    }
    return rc;
}

/* ---- the scenario ---------------------------------------------------------------- */

static void print_assumptions(const lf_scenario_opts *o, const lf_scenario *sc)
{
    const lf_scenario_published *P = &lf_scenario_pub;
    const double *lru = sc->lru;
    lf_model qm;
    lf_err e_;
    double e4 = 0, e2 = 0;
    if (lf_model_lookup("qwen3.5-397b-a17b", &qm, &e_) == LF_OK) {
        e4 = lf_scenario_expert_bytes(&qm, 4);
        e2 = lf_scenario_expert_bytes(&qm, 2);
    }
    printf("\nAssumptions (each one changes the prediction; see traces/MOE.md):\n");
    printf("  1. Model: Qwen3.5-397B-A17B, 60 layers, 512 experts per layer, top-4 routing (Flash-MoE's\n"
           "     K=4), expert 4096x1024 SwiGLU (gate, up, down: 12.6M parameters).\n");
    printf("  2. Expert record: 4-bit %.0f bytes (%.2f MiB), 2-bit %.0f bytes (%.2f MiB), as Flash-MoE\n"
           "     packs them (weights + bf16 scale and bias per 64); one contiguous record per expert.\n",
           e4, e4 / MIB, e2, e2 / MIB);
    printf("  3. Non-expert weights (%.1f GB) stay in DRAM and compute streams all of them every token;\n"
           "     non-expert work %.1f GFLOP/token (17B active at top-10 minus 10x60 experts).\n",
           P->resident_bytes / 1e9, P->resident_flops / 1e9);
    printf("  4. DRAM: the engine keeps %.1f GiB; the OS and other apps keep --os-gib (6 GiB of 48 on the\n"
           "     M3 Max, 4 of 12 on the iPhone: ASSUMED); the rest is the OS page cache, split evenly\n"
           "     over the 60 layers. An application cache takes its experts out of the page cache.\n",
           P->engine_gib);
    printf("  5. The page cache is modelled as an LRU per layer; the application cache as an LRU.\n");
    printf("  6. Routing: synthetic, layers independent (Flash-MoE: cross-layer correlation near\n"
           "     zero); zipf %.3f, reuse %.3f %s.\n", sc->zipf, sc->reuse, sc->how);
    printf("     Check, per-layer LRU hit rate of the synthetic trace vs published (16/32/64/128 experts):\n"
           "     %.0f/%.0f/%.0f/%.0f%% vs 49/59/68/71%%.\n",
           100 * lru[0], 100 * lru[1], 100 * lru[2], 100 * lru[3]);
    printf("  7. I/O: a missed expert is %u pread(s) of its record, %u in flight (Flash-MoE: 4 threads),\n"
           "     priced by the profile's flash model; a page-cache hit costs pagecache_latency_s +\n"
           "     bytes / pagecache_bw. Expert I/O and compute do not overlap (prefetch excepted).\n",
           o->split, o->threads);
    printf("  8. Compute: the roofline (max(flops/compute_flops, bytes/mem_bw)) of each layer's share of\n"
           "     the non-expert weights plus its routed experts; the 'measured compute' column uses\n"
           "     Flash-MoE's published non-I/O time per layer instead: 2.9 - 1.37 = %.2f ms.\n",
           P->measured_compute_s * 1e3);
    printf("  9. Steady state: %u synthetic tokens, the first %u left out (the page cache warm).\n",
           o->tokens, o->warmup);
    printf(" 10. 'app-LRU' row: Flash-MoE's Metal LRU cache of %d entries (%d per layer) with\n"
           "     F_NOCACHE (no page cache), which it measured at 4.11 tok/s before trusting the OS.\n",
           P->metal_lru_entries, P->metal_lru_entries / 60);
    printf(" 11. 'prefetch' row: 4 guessed experts per layer read ahead, 53%% of guesses right\n"
           "     (Flash-MoE's speculative routing accuracy); their reads overlap the layer's compute.\n");
    printf(" 12. iPhone 17 Pro: 2-bit experts (ASSUMED) and an all-assumption device profile.\n");
    printf(" 13. The published 4.36 (4-bit) and 5.74 (2-bit) are taken as runs of the final design\n"
           "     (no application cache, the OS page cache) in steady state.\n");
}

static void explain(const row *rows, size_t n)
{
    const row *b4 = NULL, *b2 = NULL, *lru = NULL, *pf = NULL, *ph = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *nm = rows[i].d.name;
        if (!strcmp(nm, "M3 Max 4-bit trust-OS"))
            b4 = &rows[i];
        else if (!strcmp(nm, "M3 Max 2-bit trust-OS"))
            b2 = &rows[i];
        else if (!strcmp(nm, "M3 Max 2-bit app-LRU"))
            lru = &rows[i];
        else if (!strcmp(nm, "M3 Max 2-bit prefetch"))
            pf = &rows[i];
        else if (!strcmp(nm, "iPhone 17 Pro 2-bit"))
            ph = &rows[i];
    }
    printf("\nWhy the prediction differs from the published figures:\n");
    if (b2) {
        const lf_moesim_result *r = &b2->r;
        double io = (r->flash_ms + r->pc_ms) / 60, cm = r->compute_ms / 60;
        printf("  Flash-MoE measured 2.9 ms per layer at 2-bit with the OS cache: 1.37 ms of expert I/O\n"
               "  and 1.53 ms of GPU/CPU work. The model prices that configuration at %.2f ms of I/O\n"
               "  (%.0f%% of the routed experts from flash, %.0f%% from the page cache) and %.2f ms of\n"
               "  compute per layer: %s on I/O, %.1fx too low on compute.\n",
               io, 100 * r->flash_share, 100 * r->pc_hit, cm,
               io > 1.37 ? "too high" : "too low", cm > 0 ? 1.53 / cm : 0);
        printf("  Compute: the roofline counts only the bytes the GPU must stream (%.1f GB per token\n"
               "  at the profile's %.0f GB/s), while the real engine waits on three command buffers\n"
               "  per layer, runs attention on the CPU and dequantises on the fly. With the measured\n"
               "  1.53 ms per layer in its place the model gives %.2f tok/s for the published 5.74.\n",
               (lf_scenario_pub.resident_bytes + 240 * b2->expert_bytes) / 1e9, b2->dev.mem_bw / 1e9,
               b2->rm.tok_s);
        printf("  I/O: the profile's flash model (5.5 GB/s over 4 threads) gives one pread %.2f GB/s,\n"
               "  so a layer with a single missed expert costs almost as much as one with four, and\n"
               "  the page cache shortens a layer only when all four experts hit. The Flash-MoE paper\n"
               "  reports 17.5 GB/s sequential and 10.5 GB/s effective per layer: its single preads\n"
               "  are faster than this profile says (try --split 4, the later forks' pread fan-out).\n"
               "  The two errors pull in opposite directions, so a roofline prediction near the\n"
               "  published figure would be right for the wrong reasons; the measured-compute\n"
               "  column (tok/s*) isolates the I/O model.\n",
               b2->dev.flash_stream_bw / 1e9);
    }
    if (b4)
        printf("  At 4-bit the records are 1.8x larger and the page cache holds %u instead of %u experts\n"
               "  per layer: the model gives %.2f tok/s (%.2f with the measured compute) for 4.36.\n"
               "  Flash-MoE's 4-bit figure was measured with a later (FMA) kernel than its 2-bit\n"
               "  per-layer breakdown, so the 1.53 ms used here may overstate its compute.\n",
               b4->pc, b2 ? b2->pc : 0, b4->r.tok_s, b4->rm.tok_s);
    if (b2 && lru) {
        double gain = lru->r.tok_s > 0 ? b2->r.tok_s / lru->r.tok_s - 1 : 0;
        printf("  Trusting the OS: the model gives %+.0f%% over the %u-per-layer Metal LRU with\n"
               "  F_NOCACHE (published +38%%: 4.11 -> 5.74), from hit rates alone (%.0f%% in the\n"
               "  small app cache vs %.0f%% in the page cache). The paper attributes its gain to\n"
               "  memory-compressor thrashing caused by the GPU-visible cache, which the model does\n"
               "  not represent; it only shows that the page cache's size is worth more than the\n"
               "  copy a page-cache hit costs.\n",
               100 * gain, lru->app, 100 * lru->r.app_hit, 100 * b2->r.pc_hit);
    }
    if (b2 && pf)
        printf("  Prefetch with 53%% right guesses: %+.0f%% (%+.0f%% with the measured compute, which\n"
               "  hides more of the guesses' reads) against the same configuration without it;\n"
               "  published: 38%% slower. Wrong guesses cost flash bandwidth (%.0f instead of %.0f MB\n"
               "  per token) and push useful experts out of the page cache.\n",
               100 * (pf->r.tok_s / b2->r.tok_s - 1), 100 * (pf->rm.tok_s / b2->rm.tok_s - 1),
               pf->r.flash_mb, b2->r.flash_mb);
    if (ph)
        printf("  iPhone 17 Pro: %.2f tok/s for about 0.6. Its page cache holds only %u experts per\n"
               "  layer, so %.0f%% of the experts come from flash; every flash and compute number of\n"
               "  its profile is an assumption (no published figures), so this row checks the order\n"
               "  of magnitude only.\n",
               ph->r.tok_s, ph->pc, 100 * ph->r.flash_share);
}

static int write_csv(const char *path, const row *rows, size_t n, lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f, "scenario,device,bits,app_per_layer,pagecache_per_layer,prefetch,acc,app_hit,"
                 "pagecache_hit,flash_share,flash_mb_per_token,flash_ms,pagecache_ms,prefetch_ms,"
                 "compute_ms,ms_per_token,tok_s,tok_s_measured_compute,published_tok_s\n");
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        const lf_moesim_result *x = &r->r;
        fprintf(a.f, "%s,%s,%d,%u,%u,%u,%.3f,%.5f,%.5f,%.5f,%.2f,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,",
                r->d.name, r->dev.name, r->d.bits, r->app, r->pc, r->d.prefetch, r->d.acc,
                x->app_hit, x->pc_hit, x->flash_share, x->flash_mb, x->flash_ms, x->pc_ms,
                x->prefetch_ms, x->compute_ms, x->ms_token, x->tok_s);
        if (r->d.measured_compute)
            fprintf(a.f, "%.4f,", r->rm.tok_s);
        else
            fprintf(a.f, ",");
        if (r->d.published > 0)
            fprintf(a.f, "%.2f\n", r->d.published);
        else
            fprintf(a.f, "\n");
    }
    return lf_atomic_commit(&a, err);
}

static int scenario(const lf_scenario_opts *o, const char *csv)
{
    lf_scenario sc;
    lf_err err;
    if (lf_scenario_run(o, &sc, &err))
        return lf_cli_error(CMD, &err);
    const lf_model m = sc.model;
    const row *rows = sc.rows;
    size_t n = sc.n;
    int rc = LF_EXIT_OK;
    { /* the table, the assumptions, the explanations */
        printf("Flash-MoE scenario: Qwen3.5-397B-A17B, %u layers x %u experts, top-%u; %u tokens "
               "(%u warm-up), seed %llu\n\n",
               m.n_layers, m.n_experts, m.top_k, o->tokens, o->warmup,
               (unsigned long long)o->seed);
        printf("%-24s %-11s %4s %4s %4s %5s %5s %5s %7s %7s %6s %7s %7s %7s %8s %9s\n", "scenario",
               "device", "bits", "app", "pc", "appH", "pcH", "flash", "MB/tok", "fl_ms", "pc_ms",
               "pf_ms", "cmp_ms", "tok/s", "tok/s*", "published");
        for (size_t i = 0; i < n; i++) {
            const row *r = &rows[i];
            const lf_moesim_result *x = &r->r;
            char meas[16] = "-", pub[32] = "-";
            if (r->d.measured_compute)
                snprintf(meas, sizeof meas, "%.2f", r->rm.tok_s);
            if (r->d.published > 0)
                snprintf(pub, sizeof pub, "%.2f", r->d.published);
            else if (r->d.prefetch)
                snprintf(pub, sizeof pub, "-38%%");
            printf("%-24s %-11s %4d %4u %4u %5.2f %5.2f %5.2f %7.1f %7.1f %6.1f %7.1f %7.1f %7.2f "
                   "%8s %9s\n",
                   r->d.name, r->dev.name, r->d.bits, r->app, r->pc, x->app_hit, x->pc_hit,
                   x->flash_share, x->flash_mb, x->flash_ms, x->pc_ms, x->prefetch_ms,
                   x->compute_ms, x->tok_s, meas, pub);
        }
        printf("(appH/pcH/flash: shares of the routed experts served by the application cache, the\n"
               " page cache, flash; times per token; tok/s* uses the published compute per layer)\n");
        print_assumptions(o, &sc);
        if (!o->single)
            explain(rows, n);
        if (csv) {
            if (write_csv(csv, rows, n, &err))
                rc = lf_cli_error(CMD, &err);
            else
                printf("\nwrote %s\n", csv);
        }
    }
    lf_scenario_free(&sc);
    return rc;
}

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cmd_moe_scenario(int argc, char **argv)
{
    static const struct option lo[] = {
        {"device", required_argument, 0, 'd'},    {"bits", required_argument, 0, 'b'},
        {"cache-per-layer", required_argument, 0, 'c'},
        {"app-cache-per-layer", required_argument, 0, 'a'},
        {"prefetch", required_argument, 0, 'p'},  {"acc", required_argument, 0, 'A'},
        {"ram-gib", required_argument, 0, 'r'},   {"os-gib", required_argument, 0, 'O'},
        {"params", required_argument, 0, 'P'},    {"tokens", required_argument, 0, 't'},
        {"warmup", required_argument, 0, 'w'},    {"threads", required_argument, 0, 'T'},
        {"split", required_argument, 0, 'S'},
        {"compute-ms-per-layer", required_argument, 0, 'C'},
        {"seed", required_argument, 0, 's'},      {"csv", required_argument, 0, 'o'},
        {"hit-curve", required_argument, 0, 'H'}, {"sizes", required_argument, 0, 'z'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    lf_scenario_opts o = {.cache = -1, .app = -1, .tokens = 1500, .warmup = 300, .threads = 4,
                          .split = 1, .acc = 0.53, .os_gib = -1, .seed = 1,
                          .find_device = lf_cli_device_find};
    const char *curve = NULL, *sizes = "4,8,12,16,24,32,48", *csv = NULL;
    const char *scenario_opt = NULL, *sizes_opt = NULL; /* given, for the checks below */
    double v;
    int c;
    while ((c = lf_cli_getopt(CMD, argc, argv, "h", lo, NULL)) != -1) {
        for (size_t i = 0; c != 'o' && c != 'H' && c != 'z' && c != 's' && lo[i].name; i++)
            if (lo[i].val == c)
                scenario_opt = lo[i].name;
        if (c == 'z')
            sizes_opt = optarg;
        switch (c) {
        case 'd': o.device = optarg; o.single = 1; break;
        case 'b':
            if (strcmp(optarg, "4") && strcmp(optarg, "2"))
                return lf_cli_usage(CMD, "--bits is 4 or 2, got '%s'", optarg);
            o.bits = atoi(optarg);
            o.single = 1;
            break;
        case 'c':
        case 'a':
            if (num(optarg, 0, 512, &v) || v != floor(v))
                return lf_cli_usage(CMD, "--%s wants 0..512 experts, got '%s'",
                                    c == 'c' ? "cache-per-layer" : "app-cache-per-layer", optarg);
            *(c == 'c' ? &o.cache : &o.app) = (long)v;
            o.single = 1;
            break;
        case 'p':
            if (num(optarg, 0, 512, &v) || v != floor(v))
                return lf_cli_usage(CMD, "--prefetch wants 0..512 guesses, got '%s'", optarg);
            o.prefetch = (uint32_t)v;
            o.single = 1;
            break;
        case 'A':
            if (num(optarg, 0, 1, &o.acc))
                return lf_cli_usage(CMD, "--acc wants a probability in [0,1], got '%s'", optarg);
            break;
        case 'r':
            if (num(optarg, 1, 1e6, &o.ram_gib))
                return lf_cli_usage(CMD, "--ram-gib wants a size in GiB, got '%s'", optarg);
            break;
        case 'O':
            if (num(optarg, 0, 1e6, &o.os_gib))
                return lf_cli_usage(CMD, "--os-gib wants a size in GiB, got '%s'", optarg);
            break;
        case 'P': o.params = optarg; break;
        case 't':
        case 'w':
        case 'T':
        case 'S': {
            const char *name = c == 't' ? "--tokens" : c == 'w' ? "--warmup"
                             : c == 'T' ? "--threads" : "--split";
            uint64_t u;
            if (lf_cli_u64(CMD, name, optarg, c == 'w' ? 0 : 1, 10000000, &u))
                return LF_EXIT_USAGE;
            *(c == 't' ? &o.tokens : c == 'w' ? &o.warmup : c == 'T' ? &o.threads : &o.split) =
                (uint32_t)u;
            break;
        }
        case 'C':
            if (num(optarg, 1e-6, 1e6, &o.compute_ms))
                return lf_cli_usage(CMD, "--compute-ms-per-layer wants a time in ms, got '%s'",
                                    optarg);
            break;
        case 's':
            if (lf_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &o.seed))
                return LF_EXIT_USAGE;
            break;
        case 'o': csv = optarg; break;
        case 'H': curve = optarg; break;
        case 'z': sizes = optarg; break;
        case 'h': help(); printf("\n"); lf_cli_device_help(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (curve && scenario_opt)
        return lf_cli_usage(CMD, "--%s is a scenario option; --hit-curve takes only --sizes, "
                            "--seed and --csv", scenario_opt);
    if (!curve && sizes_opt)
        return lf_cli_usage(CMD, "--sizes goes with --hit-curve (the cache sizes of its curve)");
    if (curve)
        return hit_curve(curve, sizes, csv, o.seed);
    if (csv) { /* before the work: not an input, and writable */
        lf_err err;
        if (lf_cli_refuse_same(CMD, csv, o.device, o.params, LF_CLI_END))
            return LF_EXIT_FAIL;
        if (lf_check_writable(csv, &err))
            return lf_cli_error(CMD, &err);
    }
    if (o.warmup >= o.tokens)
        return lf_cli_usage(CMD, "--warmup (%u) must be below --tokens (%u)", o.warmup, o.tokens);
    return scenario(&o, csv);
}
