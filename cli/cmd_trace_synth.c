/* llmflash trace synth: a synthetic neuron or expert trace written as HDF5. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_fs.h"
#include "lf_cli_num.h"
#include "lf_synth.h"
#include "lf_time.h"

static const char *CMD = "trace synth";

static void help(void)
{
    lf_synth_params d;
    lf_synth_defaults(&d);
    printf("usage: llmflash trace synth --model NAME --tokens N [--seed S] -o FILE.h5 [options]\n"
           "\n"
           "Synthesises which FFN neurons (dense models) or experts (MoE models) each token\n"
           "needs, per layer, from a seeded generative model (traces/README.md), and writes\n"
           "the trace as HDF5. Same options and seed => bit-identical file contents.\n"
           "\n"
           "  --model NAME        %s\n"
           "  --tokens N          tokens to generate (>= 1)\n"
           "  --seed S            random seed (default %llu)\n"
           "  -o, --output FILE   the HDF5 trace to write (atomically)\n"
           "  --dtype-bytes B     bytes per weight recorded in the trace (default %u)\n"
           "neuron models:\n"
           "  --sparsity X[,..]   mean fraction of inactive neurons, one value or one per\n"
           "                      layer (default: the model's published figure, e.g. 0.97)\n"
           "  --persistence P     lag-1 autocorrelation of a neuron's on/off state, 0..1\n"
           "                      (default %g; 0 = independent tokens)\n"
           "  --skew A            sigma of the lognormal activation probabilities (default %g;\n"
           "                      0 = every neuron equally likely)\n"
           "  --p-max P           cap on one neuron's activation probability (default %g)\n"
           "  --groups G          co-activation groups per layer (default %u)\n"
           "  --group-size S      neurons per group (default %u)\n"
           "  --group-strength Q  share of the least active member's rate driven by the\n"
           "                      group, 0..1 (default %g)\n"
           "expert (MoE) models:\n"
           "  --top-k K           experts per token and layer (default: the model's)\n"
           "  --zipf A            popularity: r-th most popular expert ~ r^-A (default %g)\n"
           "  --reuse R           probability each expert of the previous token is kept\n"
           "                      (default %g)\n"
           "\n"
           "example:\n"
           "  llmflash trace synth --model opt-6.7b --tokens 1000 --seed 7 -o opt.h5\n"
           "  llmflash trace synth --model olmoe-1b-7b --tokens 500 --zipf 1.1 -o olmoe.h5\n",
           lf_model_names(), (unsigned long long)d.seed, d.dtype_bytes, d.persistence, d.skew,
           d.p_max, d.groups, d.group_size, d.group_strength, d.experts.zipf, d.experts.reuse);
}

static void on_progress(uint32_t done, uint32_t total, void *arg)
{
    (void)total;
    lf_progress_update(arg, done);
}

enum {
    O_MODEL = 256, O_TOKENS, O_SEED, O_DTYPE, O_SPARSITY, O_PERSIST, O_SKEW, O_PMAX, O_GROUPS,
    O_GSIZE, O_GSTRENGTH, O_TOPK, O_ZIPF, O_REUSE
};

int cmd_trace_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"tokens", required_argument, 0, O_TOKENS},
        {"seed", required_argument, 0, O_SEED},
        {"output", required_argument, 0, 'o'},
        {"dtype-bytes", required_argument, 0, O_DTYPE},
        {"sparsity", required_argument, 0, O_SPARSITY},
        {"persistence", required_argument, 0, O_PERSIST},
        {"skew", required_argument, 0, O_SKEW},
        {"p-max", required_argument, 0, O_PMAX},
        {"groups", required_argument, 0, O_GROUPS},
        {"group-size", required_argument, 0, O_GSIZE},
        {"group-strength", required_argument, 0, O_GSTRENGTH},
        {"top-k", required_argument, 0, O_TOPK},
        {"zipf", required_argument, 0, O_ZIPF},
        {"reuse", required_argument, 0, O_REUSE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    lf_synth_params p;
    lf_synth_defaults(&p);
    const char *model = NULL, *out = NULL, *sparsity = NULL;
    const char *neuron_opt = NULL, *expert_opt = NULL;
    uint64_t tokens = 0, v;
    int have_tokens = 0, c, rc = 0;
    while (rc == 0 && (c = lf_cli_getopt(CMD, argc, argv, "o:h", opts, NULL)) != -1) {
        const char *name = "";
        for (const struct option *o = opts; o->name; o++)
            if (o->val == c)
                name = o->name;
        if (c >= O_SPARSITY && c <= O_GSTRENGTH)
            neuron_opt = name;
        if (c >= O_TOPK)
            expert_opt = name;
        switch (c) {
        case O_MODEL: model = optarg; break;
        case 'o': out = optarg; break;
        case O_SPARSITY: sparsity = optarg; break;
        case O_TOKENS:
            rc = lf_cli_u64(CMD, "--tokens", optarg, 1, UINT32_MAX - 1, &tokens);
            have_tokens = 1;
            break;
        case O_SEED: rc = lf_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &p.seed); break;
        case O_DTYPE:
            rc = lf_cli_u64(CMD, "--dtype-bytes", optarg, 1, 8, &v);
            p.dtype_bytes = (uint32_t)v;
            break;
        case O_PERSIST:
            rc = lf_cli_double(CMD, "--persistence", optarg, 0, 1, &p.persistence);
            break;
        case O_SKEW: rc = lf_cli_double(CMD, "--skew", optarg, 0, 10, &p.skew); break;
        case O_PMAX: rc = lf_cli_double(CMD, "--p-max", optarg, 1e-9, 1, &p.p_max); break;
        case O_GROUPS:
            rc = lf_cli_u64(CMD, "--groups", optarg, 0, UINT32_MAX, &v);
            p.groups = (uint32_t)v;
            break;
        case O_GSIZE:
            rc = lf_cli_u64(CMD, "--group-size", optarg, 2, UINT32_MAX, &v);
            p.group_size = (uint32_t)v;
            break;
        case O_GSTRENGTH:
            rc = lf_cli_double(CMD, "--group-strength", optarg, 0, 1, &p.group_strength);
            break;
        case O_TOPK:
            rc = lf_cli_u64(CMD, "--top-k", optarg, 1, UINT32_MAX, &v);
            p.experts.top_k = (uint32_t)v;
            break;
        case O_ZIPF: rc = lf_cli_double(CMD, "--zipf", optarg, 0, 10, &p.experts.zipf); break;
        case O_REUSE: rc = lf_cli_double(CMD, "--reuse", optarg, 0, 1, &p.experts.reuse); break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!model)
        return lf_cli_usage(CMD, "--model is required (known: %s)", lf_model_names());
    if (!have_tokens)
        return lf_cli_usage(CMD, "--tokens is required (a positive integer)");
    if (!out)
        return lf_cli_usage(CMD, "-o FILE.h5 is required");

    lf_err err;
    lf_model m;
    if (lf_model_lookup(model, &m, &err))
        return lf_cli_error(CMD, &err);
    if (lf_check_writable(out, &err)) /* before generating, which can take seconds */
        return lf_cli_error(CMD, &err);
    if (m.kind == LF_UNITS_EXPERTS && neuron_opt)
        return lf_cli_usage(CMD, "--%s applies to neuron models; %s is a mixture of experts "
                            "(use --top-k, --zipf, --reuse)", neuron_opt, m.name);
    if (m.kind == LF_UNITS_NEURONS && expert_opt)
        return lf_cli_usage(CMD, "--%s applies to expert (MoE) models; %s is dense", expert_opt,
                            m.name);
    double *layer_sp = NULL;
    if (sparsity) {
        size_t n;
        rc = lf_cli_double_list(CMD, "--sparsity", sparsity, 0, 0.999999, &layer_sp, &n);
        if (rc)
            return rc;
        if (n == 1) {
            p.sparsity = layer_sp[0];
        } else if (n == m.n_layers) {
            p.layer_sparsity = layer_sp;
        } else {
            free(layer_sp);
            return lf_cli_usage(CMD, "--sparsity: give one value or one per layer (%s has %u "
                                "layers, got %zu values)", m.name, m.n_layers, n);
        }
    }
    lf_progress prog;
    lf_progress_start(&prog, "trace synth", tokens);
    p.progress = on_progress;
    p.progress_arg = &prog;
    lf_trace t;
    double t0 = lf_now();
    rc = lf_synth_generate(&m, (uint32_t)tokens, &p, &t, &err);
    lf_progress_end(&prog);
    double t1 = lf_now();
    if (rc == LF_OK)
        rc = lf_trace_write(&t, out, &err);
    if (rc == LF_OK) {
        uint64_t nnz = 0;
        for (uint32_t l = 0; l < t.n_layers; l++)
            nnz += t.layers[l].nnz;
        printf("wrote %s: %s, %u tokens x %u layers x %u %s, %.2f%% active, seed %llu "
               "(generated in %.2f s, written in %.2f s)\n",
               out, m.name, t.n_tokens, t.n_layers, t.units_per_layer,
               m.kind == LF_UNITS_EXPERTS ? "experts" : "neurons",
               100.0 * (double)nnz / ((double)t.n_tokens * t.n_layers * t.units_per_layer),
               (unsigned long long)p.seed, t1 - t0, lf_now() - t1);
    }
    lf_trace_free(&t);
    free(layer_sp);
    return rc == LF_OK ? LF_EXIT_OK : lf_cli_error(CMD, &err);
}
