/* llmflash weights make: writes the FFN weights of a model shape to one file in a layout
 * (bench/lf_weights.h; format in bench/README.md). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_kv.h"
#include "lf_llama_weights.h"
#include "lf_time.h"
#include "lf_quant.h"
#include "lf_weights.h"

static const char *CMD = "weights make";

static void help(void)
{
    printf("usage: llmflash weights make --model NAME|custom:L,D,F[,swiglu] --file PATH\n"
           "       llmflash weights make --checkpoint M.bin --file PATH  (a real model)\n"
           "                             [--layout bundled|split|coact]\n"
           "                             [--dtype fp16|fp32|int8|q4|q2]\n"
           "                             [--layers N] [--seed S] [--alignment BYTES]\n"
           "                             [--profile T.h5 [--coact-profile-tokens N]]\n\n"
           "Writes the FFN weights of a model shape (every layer's up/down vectors, plus gate\n"
           "for SwiGLU) to PATH in the chosen layout, records padded to the alignment so the\n"
           "executor can read them with direct I/O. Values are pseudo-random from the seed and\n"
           "depend only on (layer, unit, vector, element). The file is written under a\n"
           "temporary name, its header last, synced and renamed: an interrupted or failed\n"
           "write (a full disk) leaves no file that looks valid.\n\n"
           "options:\n"
           "  -m, --model NAME     model shape (%s)\n"
           "  -c, --checkpoint F   instead of --model: a llama2.c checkpoint; its real FFN\n"
           "                       weights are written (gate, up, down per neuron; default\n"
           "                       dtype fp32, so a streamed run can match the dense one)\n"
           "  -f, --file PATH      the weights file to write\n"
           "  -l, --layout KIND    bundled (default), split, coact (needs --profile)\n"
           "  -d, --dtype T        fp16 (default; fp32 with --checkpoint) or fp32; expert\n"
           "                       models also int8, q4, q2: group-quantised, an fp16 scale\n"
           "                       and bias per 64 weights (Flash-MoE's 4.5 / 2.5 bits)\n"
           "  -n, --layers N       only the first N layers (default: all)\n"
           "  -s, --seed S         value seed (default 1)\n"
           "  -a, --alignment B    record alignment in bytes, a power of two up to 2m\n"
           "                       (default 4096; direct I/O needs 4096)\n"
           "  -p, --profile T.h5   coact: the trace whose co-activations pick each neuron's\n"
           "                       closest friend (the same trace `sim --profile` uses)\n"
           "      --coact-profile-tokens N  coact: the profile's first N tokens give the\n"
           "                       friends (default %u, as `sim`; 0: all of them)\n"
           "  -h, --help           this text\n\n"
           "example:\n"
           "  llmflash weights make --model opt-1.3b --layout bundled --dtype fp16 \\\n"
           "      --file /var/tmp/opt-1.3b.w\n",
           lf_model_names(), LF_LAYOUT_PROFILE_TOKENS);
}

int cmd_weights_make(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"file", required_argument, 0, 'f'},
        {"layout", required_argument, 0, 'l'}, {"dtype", required_argument, 0, 'd'},
        {"layers", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
        {"alignment", required_argument, 0, 'a'}, {"profile", required_argument, 0, 'p'},
        {"checkpoint", required_argument, 0, 'c'},
        {"coact-profile-tokens", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *model = NULL, *file = NULL, *layout = "bundled", *dtype = NULL, *profile = NULL;
    const char *ckpt = NULL;
    uint64_t layers = 0, seed = 1, align = 4096, profile_tokens = LF_LAYOUT_PROFILE_TOKENS;
    int profile_tokens_given = 0;
    int c;
    while ((c = lf_cli_getopt(CMD, argc, argv, ":m:f:l:d:n:s:a:p:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'f': file = optarg; break;
        case 'l': layout = optarg; break;
        case 'd': dtype = optarg; break;
        case 'p': profile = optarg; break;
        case 'c': ckpt = optarg; break;
        case 'n':
            if (lf_cli_u64(CMD, "--layers", optarg, 1, 65536, &layers))
                return LF_EXIT_USAGE;
            break;
        case 's':
            if (lf_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &seed))
                return LF_EXIT_USAGE;
            break;
        case 'a':
            /* up to a huge page: beyond it every record is padded to the alignment for
             * nothing (1g, a typo for 4k, made a 65 GB file of a 2 MB model) */
            if (lf_cli_size(CMD, "--alignment", optarg, 1, 2u << 20, &align))
                return LF_EXIT_USAGE;
            break;
        case 'P':
            if (lf_cli_u64(CMD, "--coact-profile-tokens", optarg, 0, UINT32_MAX, &profile_tokens))
                return LF_EXIT_USAGE;
            profile_tokens_given = 1;
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (model && ckpt)
        return lf_cli_usage(CMD, "--model and --checkpoint exclude each other: a checkpoint "
                            "brings its own shape (give one of them)");
    if (!(model || ckpt) || !file)
        return lf_cli_usage(CMD, "--file and one of --model or --checkpoint are required");
    if (lf_cli_refuse_same(CMD, file, ckpt, profile, LF_CLI_END))
        return LF_EXIT_FAIL;
    lf_err err;
    lf_model m;
    lf_weights_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!dtype)
        dtype = ckpt ? "fp32" : "fp16";
    if ((model && lf_model_lookup(model, &m, &err)) ||
        lf_layout_parse_kind(layout, &spec.layout, &err) ||
        lf_quant_dtype_parse(dtype, &spec.dtype, &err))
        return lf_cli_usage(CMD, "%s", err.msg);
    if ((profile || profile_tokens_given) && spec.layout != LF_LAYOUT_COACT)
        return lf_cli_usage(CMD, "--profile and --coact-profile-tokens are only for --layout coact");
    lf_llama llama;
    memset(&llama, 0, sizeof llama);
    if (ckpt && (lf_llama_open(&llama, ckpt, &err) ||
                 lf_llama_weights_spec(&llama, &m, &spec, &err))) {
        lf_llama_close(&llama);
        return lf_cli_error(CMD, &err);
    }
    spec.model = &m;
    spec.n_layers = (uint32_t)layers;
    spec.alignment = (uint32_t)align;
    spec.profile_tokens = (uint32_t)profile_tokens;
    if (!ckpt)
        spec.seed = seed;
    lf_trace prof;
    memset(&prof, 0, sizeof prof);
    if (profile) {
        lf_trace_read_opts ro = {.max_tokens = (uint32_t)profile_tokens}; /* 0: all */
        if (lf_trace_read_ex(profile, &ro, &prof, &err)) {
            lf_llama_close(&llama);
            return lf_cli_error(CMD, &err);
        }
        spec.profile = &prof;
    }
    double t0 = lf_now();
    int rc = ckpt ? lf_weights_make_from(file, &spec, lf_llama_weights_values, &llama, &err)
                  : lf_weights_make(file, &spec, &err);
    if (profile)
        lf_trace_free(&prof);
    lf_llama_close(&llama);
    if (rc)
        return lf_cli_error(CMD, &err);
    lf_weights w;
    if (lf_weights_open(file, &w, &err))
        return lf_cli_error(CMD, &err);
    double dt = lf_now() - t0;
    printf("wrote %s: %s, %s, %s, %u layers, %" PRIu64 " bytes (%.3f GiB) in %.1f s (%.0f MB/s)\n",
           file, w.h.model, lf_layout_kind_name(w.h.layout), lf_dtype_name(w.h.dtype), w.h.n_layers,
           w.h.file_bytes, w.h.file_bytes / 1073741824.0, dt, w.h.file_bytes / 1e6 / (dt > 0 ? dt : 1));
    lf_weights_close(&w);
    return LF_EXIT_OK;
}
