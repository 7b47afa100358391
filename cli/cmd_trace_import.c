/* llmflash trace import: MoE routing logs (vllm-moe-jsonl) -> expert trace (HDF5). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_import.h"
#include "lf_kv.h"
#include "lf_trace.h"

static const char *CMD = "trace import";

static void help(void)
{
    printf("usage: llmflash trace import --format vllm-moe-jsonl FILE... -o T.h5\n"
           "         [--drop-prefix N | --drop-warmup] [--model NAME] [--experts N] [--tokens N]\n\n"
           "Builds an expert trace (kind experts, source imported) from MoE routing logs: one\n"
           "JSON object a line, a {\"type\":\"meta\",...} line then {\"type\":\"route\",\"layer\":L,\n"
           "\"topk_ids\":[...],\"topk_weights\":[...]} records. One file per layer: the first FILE\n"
           "is layer 0 of the trace, the next layer 1, ... (their \"layer\" fields must increase).\n"
           "Each record becomes one token; its ids are sorted and the router weights, kept\n"
           "aligned with them, go to /layers/NNN/value. Records are taken in file order\n"
           "(token_idx is ignored: in vLLM logs it counts inside one engine step).\n\n"
           "options:\n"
           "  --format F        input format (only vllm-moe-jsonl)\n"
           "  -o, --out T.h5    output trace (written atomically)\n"
           "  --drop-prefix N   drop the first N route records of every file\n"
           "  --drop-warmup     drop each file's leading run of identical records (the serving\n"
           "                    engine's warm-up; 8448 in the Qwen log, 2048 in the OLMoE log)\n"
           "  --model NAME      model shape (experts, top-k, d_model); default: matched from the\n"
           "                    log's model_id (known: %s)\n"
           "  --experts N       number of experts per layer, when neither the log nor the model\n"
           "                    says\n"
           "  --tokens N        import at most N tokens (records after dropping)\n"
           "  -h, --help        this text\n\n"
           "The number of records dropped per file is printed. Errors name the file and line.\n\n"
           "example:\n"
           "  llmflash trace import --format vllm-moe-jsonl ../shared/data/qwen_moe_layer0.jsonl \\\n"
           "      --drop-warmup -o qwen.h5\n",
           lf_model_names());
}

int cmd_trace_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'},  {"out", required_argument, 0, 'o'},
        {"drop-prefix", required_argument, 0, 'p'}, {"drop-warmup", no_argument, 0, 'w'},
        {"model", required_argument, 0, 'm'},   {"experts", required_argument, 0, 'e'},
        {"tokens", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    lf_import_opts o;
    memset(&o, 0, sizeof o);
    const char *out = NULL, *format = NULL;
    int have_prefix = 0;
    uint64_t v;
    int c;
    while ((c = lf_cli_getopt(CMD, argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'p':
            if (lf_cli_u64(CMD, "--drop-prefix", optarg, 0, UINT64_MAX, &v))
                return LF_EXIT_USAGE;
            o.drop_prefix = v;
            have_prefix = 1;
            break;
        case 'w':
            o.drop_warmup = 1;
            break;
        case 'm':
            o.model = optarg;
            break;
        case 'e':
            if (lf_cli_u64(CMD, "--experts", optarg, 1, 1u << 24, &v))
                return LF_EXIT_USAGE;
            o.n_experts = (uint32_t)v;
            break;
        case 't':
            if (lf_cli_u64(CMD, "--tokens", optarg, 1, UINT32_MAX - 1, &v))
                return LF_EXIT_USAGE;
            o.max_tokens = (uint32_t)v;
            break;
        case 'h':
            help();
            return LF_EXIT_OK;
        default:
            return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (format && strcmp(format, "vllm-moe-jsonl") != 0)
        return lf_cli_usage(CMD, "unknown --format '%s' (known: %s)", format, lf_import_formats());
    if (!out)
        return lf_cli_usage(CMD, "missing -o T.h5 (the trace to write)");
    if (optind >= argc)
        return lf_cli_usage(CMD, "no input files (one JSONL routing log per layer)");
    if (have_prefix && o.drop_warmup)
        return lf_cli_usage(CMD, "give --drop-prefix N or --drop-warmup, not both");
    size_t n = (size_t)(argc - optind);
    if (lf_cli_refuse_same_list(CMD, out, argv + optind, (int)n))
        return LF_EXIT_FAIL;
    lf_import_info *info = calloc(n, sizeof *info);
    if (!info)
        return LF_EXIT_FAIL;
    lf_trace t;
    lf_err err;
    char model_id[128];
    int rc = lf_import_vllm_moe((const char *const *)(argv + optind), n, &o, &t, info, model_id,
                                sizeof model_id, &err);
    if (rc == LF_OK) {
        rc = lf_trace_write(&t, out, &err);
        if (rc)
            lf_err_prefix(&err, "%s", out);
    }
    if (rc) {
        free(info);
        return lf_cli_error(CMD, &err);
    }
    for (size_t i = 0; i < n; i++)
        printf("%s: layer %u, %llu route records, dropped %llu (%s; leading run of identical "
               "records: %llu)\n",
               argv[optind + i], info[i].layer, (unsigned long long)info[i].records,
               (unsigned long long)info[i].dropped,
               o.drop_warmup ? "warm-up" : have_prefix ? "--drop-prefix" : "none asked",
               (unsigned long long)info[i].warmup);
    printf("wrote %s: %u tokens x %u layers, %u experts, top-%u, model %s (model_id %s)%s\n", out,
           t.n_tokens, t.n_layers, t.units_per_layer, t.top_k, t.model,
           model_id[0] ? model_id : "none", t.layers[0].value ? ", router weights in value" : "");
    lf_trace_free(&t);
    free(info);
    return LF_EXIT_OK;
}
