/* llmflash trace record: run a llama2.c checkpoint and record which FFN neurons each
 * token needs (|h| over a threshold, h = silu(gate)*up) into an HDF5 trace. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_llama.h"
#include "lf_cli_num.h"
#include "lf_fs.h"
#include "lf_llama.h"
#include "lf_llama_rec.h"
#include "lf_model.h"
#include "lf_tok.h"

static const char *CMD = "trace record";
#define WHICH                                                                               \
    (LF_LLAMA_CHECKPOINT | LF_LLAMA_TOKENIZER | LF_LLAMA_PROMPT | LF_LLAMA_STEPS |            \
     LF_LLAMA_THRESHOLD | LF_LLAMA_RELATIVE | LF_LLAMA_TEMPERATURE | LF_LLAMA_SEED)

static void help(void)
{
    printf("usage: llmflash trace record --checkpoint M.bin --tokenizer T.bin --steps N\n"
           "           --threshold X [--relative] [--prompt TEXT | --prompt-file F]\n"
           "           [--temperature 0] [--seed S] [--model NAME] -o TRACE.h5\n\n"
           "Runs a llama2.c checkpoint for N forward passes (tokens) and records, per layer\n"
           "and token, the FFN neurons whose |h| (h = silu(W1 x) * (W3 x)) is >= X, or\n"
           ">= X times the token's largest |h| in that layer with --relative (0 <= X <= 1).\n"
           "X = 0 records every neuron (0%% sparsity). Magnitudes |h| go to\n"
           "/layers/NNN/value, the input token ids to /tokens. When a sequence reaches the\n"
           "model's seq_len or produces BOS, recording goes on with a new sequence from BOS.\n\n"
           "options:\n");
    lf_cli_llama_help(stdout, WHICH);
    printf("  --prompt-file F     read the prompt from a file (trailing newlines dropped)\n"
           "  --model NAME        model name in the trace (default: checkpoint file name\n"
           "                      without .bin, e.g. stories260K)\n"
           "  -o FILE             output trace (HDF5, written atomically)\n\n"
           "example:\n"
           "  llmflash trace record --checkpoint ../shared/data/stories260K.bin \\\n"
           "      --tokenizer ../shared/data/tok512.bin --prompt \"Once upon a time\" \\\n"
           "      --steps 512 --threshold 0.1 --relative -o results/stories260K.h5\n");
}

int cmd_trace_record(int argc, char **argv)
{
    const char *prompt_file = NULL, *out = NULL, *model = NULL;
    lf_cli_llama lo;
    lf_cli_llama_init(&lo);
    static const struct option own[] = {
        {"prompt-file", required_argument, 0, 'f'}, {"model", required_argument, 0, 'm'},
        {"output", required_argument, 0, 'o'},      {"help", no_argument, 0, 'h'}};
    struct option opts[sizeof own / sizeof own[0] + 16];
    memcpy(opts, own, sizeof own);
    lf_cli_llama_opts(WHICH, opts, sizeof own / sizeof own[0], sizeof opts / sizeof opts[0]);
    lf_cli_reset_getopt();
    int c, u = LF_EXIT_OK;
    while ((c = lf_cli_getopt(CMD, argc, argv, "ho:", opts, NULL)) != -1) {
        if (lf_cli_llama_option(CMD, c, optarg, &lo, &u)) {
            if (u)
                return u;
            continue;
        }
        switch (c) {
        case 'f': prompt_file = optarg; break;
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    const char *ckpt = lo.checkpoint, *tokp = lo.tokenizer, *prompt = lo.prompt;
    uint64_t steps = lo.steps, seed = lo.seed;
    double threshold = lo.threshold, temperature = lo.temperature;
    int relative = lo.relative;
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !tokp || !steps || threshold < 0.0 || !out)
        return lf_cli_usage(CMD, "--checkpoint, --tokenizer, --steps, --threshold and -o are "
                                 "required");
    if (prompt && prompt_file)
        return lf_cli_usage(CMD, "give --prompt or --prompt-file, not both");
    if (relative && threshold > 1.0)
        return lf_cli_usage(CMD, "--threshold %g with --relative: expected 0..1", threshold);

    if (lf_cli_refuse_same(CMD, out, ckpt, tokp, prompt_file, LF_CLI_END))
        return LF_EXIT_FAIL;
    lf_err err = {0};
    char *file_text = NULL;
    size_t file_len;
    if (prompt_file) {
        if (lf_read_file(prompt_file, &file_text, &file_len, &err))
            return lf_cli_error(CMD, &err);
        while (file_len > 0 && (file_text[file_len - 1] == '\n' || file_text[file_len - 1] == '\r'))
            file_text[--file_len] = '\0';
        prompt = file_text;
    }
    char name[64];
    if (model) {
        snprintf(name, sizeof name, "%s", model);
    } else {
        const char *b = strrchr(ckpt, '/');
        snprintf(name, sizeof name, "%s", b ? b + 1 : ckpt);
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
    }

    lf_llama m;
    lf_tok tok;
    lf_trace t;
    memset(&t, 0, sizeof t);
    int32_t *ids = NULL;
    uint32_t n_ids = 0;
    int rc = lf_llama_open(&m, ckpt, &err);
    if (rc) {
        free(file_text);
        return lf_cli_error(CMD, &err);
    }
    /* --model names the trace's shape for every later command: a known name must be the
     * checkpoint's shape (an unknown one is a label, which sim asks --model for) */
    lf_model known;
    lf_err unknown;
    if (model && !*model)
        rc = lf_fail(&err, LF_EINVAL, "--model is empty: give a name, or drop it to use the "
                     "checkpoint's file name");
    else if (model && lf_model_lookup(model, &known, &unknown) == LF_OK &&
             (known.n_layers != m.cfg.n_layers || known.d_model != m.cfg.dim ||
              known.d_ff != m.cfg.hidden_dim))
        rc = lf_fail(&err, LF_EINVAL, "--model %s is %u layers x d_model %u x d_ff %u but the "
                     "checkpoint %s is %u x %u x %u: name the trace after its own model (or drop "
                     "--model)", model, known.n_layers, known.d_model, known.d_ff, ckpt,
                     m.cfg.n_layers, m.cfg.dim, m.cfg.hidden_dim);
    if (rc) {
        lf_llama_close(&m);
        free(file_text);
        return lf_cli_error(CMD, &err);
    }
    rc = lf_tok_load(&tok, tokp, m.cfg.vocab_size, &err);
    if (!rc) {
        rc = lf_tok_encode(&tok, prompt ? prompt : "", 1, 0, &ids, &n_ids, &err);
        if (rc)
            lf_err_prefix(&err, "%s (with the tokenizer %s)",
                          prompt_file ? prompt_file : "--prompt", tokp);
        if (!rc && n_ids > m.cfg.seq_len)
            rc = lf_fail(&err, LF_EINVAL, "the prompt is %u tokens, more than the model's "
                         "seq_len %u: shorten it", n_ids, m.cfg.seq_len);
        lf_tok_free(&tok);
    }
    lf_llama_rec_opts o = {threshold, relative, (uint32_t)steps, (float)temperature, seed};
    if (!rc)
        rc = lf_llama_record(&m, name, ids, n_ids, &o, &t, &err);
    if (!rc)
        rc = lf_trace_write(&t, out, &err);
    if (!rc) {
        printf("recorded %u tokens of %s (%u layers x %u neurons, d_model %u) into %s\n"
               "rule: |h| >= %g%s\n"
               "layer,active_mean,sparsity\n",
               t.n_tokens, name, t.n_layers, t.units_per_layer, t.d_model, out, threshold,
               relative ? " x max|h| (per token and layer)" : "");
        for (uint32_t l = 0; l < t.n_layers; l++) {
            double mean = (double)t.layers[l].nnz / t.n_tokens;
            printf("%u,%.3f,%.4f\n", l, mean, 1.0 - mean / t.units_per_layer);
        }
    }
    lf_trace_free(&t);
    free(ids);
    free(file_text);
    lf_llama_close(&m);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
