/* llmflash trace fit: expert routing parameters (zipf, reuse) from a real trace or from
 * a published LRU hit-rate curve, written as a params file for trace synth. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_fs.h"
#include "lf_kv.h"
#include "lf_moefit.h"
#include "lf_trace.h"

static const char *CMD = "trace fit";

static void help(void)
{
    printf("usage: llmflash trace fit T.h5 [-o params.conf] [--seed S]\n"
           "       llmflash trace fit --model NAME --lru SIZE:RATE,... [--tokens N] [-o params.conf]\n\n"
           "Estimates the expert generator's parameters of `trace synth` so that a small real\n"
           "routing log can be scaled to a large model:\n"
           "  zipf   popularity skew: the r-th hottest expert is routed with weight r^-zipf\n"
           "  reuse  probability that each expert of the previous token is routed again\n"
           "By simulated moments: synthetic layers of the trace's shape (4 replicates, fixed\n"
           "seeds) are generated until their sorted popularity curve (least squares, GSL Brent\n"
           "minimiser) and consecutive-token reuse (GSL Brent root) match the trace's. Every\n"
           "layer is fitted; the file holds the means (per-layer values as comments).\n"
           "With --lru instead of a trace, (zipf, reuse) are fitted (GSL Nelder-Mead) so that a\n"
           "synthetic layer of --model has the given per-layer LRU hit rates.\n\n"
           "options:\n"
           "  -o, --out FILE   write the parameters (key = value; default: print only)\n"
           "  --seed S         seed of the synthetic traces (default 1)\n"
           "  --model NAME     MoE model for --lru (e.g. qwen3.5-397b-a17b)\n"
           "  --lru LIST       target LRU hit rates, SIZE:RATE pairs; sizes 16, 32, 64, 128\n"
           "  --tokens N       synthetic tokens per evaluation for --lru (default 8192)\n"
           "  -h, --help       this text\n\n"
           "examples:\n"
           "  llmflash trace fit qwen.h5 -o qwen.params.conf\n"
           "  llmflash trace synth --model qwen3.5-397b-a17b --zipf Z --reuse R -o big.h5\n"
           "  llmflash moe-scenario --params qwen.params.conf\n"
           "  llmflash trace fit --model qwen3.5-397b-a17b --lru 16:0.49,32:0.59,64:0.68,128:0.71\n");
}

static int parse_lru(const char *s, uint32_t *size, double *rate, uint32_t *n)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned sz;
        double r;
        int used = 0;
        if (*n >= LF_MOEFIT_NLRU || sscanf(tok, "%u:%lf%n", &sz, &r, &used) != 2 || tok[used])
            return -1;
        for (uint32_t i = 0; i < *n; i++)
            if (size[i] == sz) /* one target per cache size */
                return -1;
        size[*n] = sz;
        rate[(*n)++] = r;
    }
    return *n ? 0 : -1;
}

static int fit_lru(const char *model, const char *lru, uint32_t tokens, uint64_t seed,
                   const char *out)
{
    uint32_t size[LF_MOEFIT_NLRU];
    double rate[LF_MOEFIT_NLRU], got[LF_MOEFIT_NLRU];
    uint32_t n;
    if (parse_lru(lru, size, rate, &n))
        return lf_cli_usage(CMD, "--lru wants SIZE:RATE pairs, one per cache size, such as "
                            "16:0.49,32:0.59, got '%s'", lru);
    lf_model m;
    lf_err err;
    double zipf, reuse;
    if (lf_model_lookup(model, &m, &err) ||
        lf_moefit_lru(&m, size, rate, n, tokens, seed, &zipf, &reuse, got, &err))
        return lf_cli_error(CMD, &err);
    printf("model %s (%u experts, top-%u): zipf %.4f reuse %.4f\n", m.name, m.n_experts, m.top_k,
           zipf, reuse);
    printf("synthesise with: llmflash trace synth --model %s --zipf %.4f --reuse %.4f --tokens N -o T.h5\n",
           m.name, zipf, reuse);
    printf("%-10s %-8s %-8s\n", "cache", "target", "fitted");
    double worst = 0;
    uint32_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        printf("%-10u %-8.3f %-8.3f\n", size[i], rate[i], got[i]);
        if (fabs(got[i] - rate[i]) > worst) {
            worst = fabs(got[i] - rate[i]);
            at = i;
        }
    }
    if (worst > 0.05) /* a hit curve the two parameters cannot draw (one falling with size) */
        fprintf(stderr, "llmflash %s: warning: the fit misses the target at cache size %u by "
                "%.3f (%.3f for %.3f): no (zipf, reuse) of this model gives these rates; check "
                "them (a hit rate does not fall as the cache grows)\n", CMD, size[at], worst,
                got[at], rate[at]);
    if (out) {
        char txt[2048];
        int p = snprintf(txt, sizeof txt,
                         "# Expert routing parameters fitted by `llmflash trace fit` to LRU hit "
                         "rates of model %s\n# (one synthetic layer of %u tokens, 2 replicates, "
                         "seed %llu). target -> fitted:",
                         m.name, tokens, (unsigned long long)seed);
        for (uint32_t i = 0; i < n; i++)
            p += snprintf(txt + p, sizeof txt - (size_t)p, " %u:%.3f->%.3f", size[i], rate[i],
                          got[i]);
        snprintf(txt + p, sizeof txt - (size_t)p, "\nzipf = %.4f\nreuse = %.4f\n", zipf, reuse);
        if (lf_write_file_atomic(out, txt, strlen(txt), &err))
            return lf_cli_error(CMD, &err);
        printf("wrote %s\n", out);
    }
    return LF_EXIT_OK;
}

int cmd_trace_fit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},   {"seed", required_argument, 0, 's'},
        {"model", required_argument, 0, 'm'}, {"lru", required_argument, 0, 'l'},
        {"tokens", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *out = NULL, *model = NULL, *lru = NULL;
    uint64_t seed = 1, tokens = 8192;
    int c;
    while ((c = lf_cli_getopt(CMD, argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 's':
            if (lf_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &seed))
                return LF_EXIT_USAGE;
            break;
        case 'm':
            model = optarg;
            break;
        case 'l':
            lru = optarg;
            break;
        case 't':
            if (lf_cli_u64(CMD, "--tokens", optarg, 2, 10000000, &tokens))
                return LF_EXIT_USAGE;
            break;
        case 'h':
            help();
            return LF_EXIT_OK;
        default:
            return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (lru || model) {
        if (!lru || !model || optind < argc)
            return lf_cli_usage(CMD, "--lru and --model go together, without a trace");
        return fit_lru(model, lru, (uint32_t)tokens, seed, out);
    }
    if (optind != argc - 1)
        return lf_cli_usage(CMD, "give one expert trace (T.h5), or --model with --lru");
    const char *path = argv[optind];
    if (lf_cli_refuse_same(CMD, out, path, LF_CLI_END))
        return LF_EXIT_FAIL;
    lf_trace t;
    lf_moefit f;
    lf_err err;
    if (lf_trace_read(path, &t, &err))
        return lf_cli_error(CMD, &err);
    int rc = lf_moefit_trace(&t, seed, &f, &err);
    if (rc) {
        lf_err_prefix(&err, "%s", path);
        lf_trace_free(&t);
        return lf_cli_error(CMD, &err);
    }
    printf("%s: %u layers, %u experts, top-%u, %u tokens (model %s)\n", path, t.n_layers,
           t.units_per_layer, t.top_k, t.n_tokens, t.model);
    printf("%-6s %-7s %-7s %-13s %-13s %-9s %-13s %-13s\n", "layer", "zipf", "reuse",
           "reuse tr/syn", "top20 tr/syn", "pop_rms", "LRU16 tr/syn", "LRU32 tr/syn");
    for (uint32_t l = 0; l < f.n_layers; l++) {
        const lf_moefit_layer *L = &f.layers[l];
        printf("%-6u %-7.4f %-7.4f %.3f/%.3f   %.3f/%.3f   %-9.5f %.3f/%.3f   %.3f/%.3f\n", l,
               L->zipf, L->reuse, L->obs_reuse, L->fit_reuse, L->obs_top20, L->fit_top20,
               L->share_rms, L->obs_lru[0], L->fit_lru[0], L->obs_lru[1], L->fit_lru[1]);
    }
    printf("parameters (means over layers): zipf = %.4f, reuse = %.4f\n", f.zipf, f.reuse);
    printf("scale with: llmflash trace synth --model MODEL --zipf %.4f --reuse %.4f --tokens N -o T.h5\n",
           f.zipf, f.reuse);
    rc = LF_EXIT_OK;
    if (out) {
        if (lf_moefit_write_conf(&f, path, out, &err))
            rc = lf_cli_error(CMD, &err);
        else
            printf("wrote %s\n", out);
    }
    lf_moefit_free(&f);
    lf_trace_free(&t);
    return rc;
}
