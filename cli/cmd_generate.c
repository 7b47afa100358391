/* llmflash generate: run a llama2.c checkpoint (dense, or with its FFN streamed from a
 * weights file through the executor) and print the text or the token ids. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_llama.h"
#include "lf_time.h"
#include "lf_tok.h"

static const char *CMD = "generate";

static void help(void)
{
    printf("usage: llmflash generate --checkpoint M.bin --tokenizer T.bin --steps N\n"
           "                         [--prompt TEXT] [--temperature 0] [--seed S] [--print-ids]\n\n"
           "Runs a llama2.c checkpoint (legacy or version-1 fp32 export) in C and prints the\n"
           "generated text. The loop is llama2.c's: the sequence starts with BOS, the prompt is\n"
           "fed, then tokens are sampled until N positions (prompt included, at most seq_len)\n"
           "or until the model produces BOS. Temperature 0 is greedy decoding and gives the\n"
           "same tokens as llama2.c's run.c; a temperature > 0 samples with a GSL mt19937\n"
           "generator seeded by --seed (same seed, same text).\n\n"
           "options:\n"
           "  --checkpoint FILE   llama2.c model (.bin)\n"
           "  --tokenizer FILE    llama2.c tokenizer (.bin) made for that model\n"
           "  --prompt TEXT       text to start from (default: empty, the model starts a story)\n"
           "  --steps N           positions to run, prompt included (capped at seq_len)\n"
           "  --temperature T     0 = greedy (default); > 0 samples from softmax(logits/T)\n"
           "  --seed S            seed of the sampling generator (default 1)\n"
           "  --print-ids         print the token ids (space-separated, BOS first) instead of\n"
           "                      the text\n\n"
           "example:\n"
           "  llmflash generate --checkpoint ../shared/data/stories260K.bin \\\n"
           "      --tokenizer ../shared/data/tok512.bin --prompt \"Once upon a time\" --steps 128\n");
}

/* Prints a decoded piece, skipping single bytes that are control codes (as run.c). */
static void put_piece(const char *p)
{
    if (!p[0])
        return;
    if (!p[1]) {
        unsigned char b = (unsigned char)p[0];
        if (!((b >= 0x20 && b < 0x7f) || b == '\n' || b == '\t' || b == '\r' || b == ' '))
            return;
    }
    fputs(p, stdout);
}

int cmd_generate(int argc, char **argv)
{
    const char *ckpt = NULL, *tokp = NULL, *prompt = "";
    uint64_t steps = 0, seed = 1;
    double temperature = 0.0;
    int print_ids = 0;
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"tokenizer", required_argument, 0, 'k'},
        {"prompt", required_argument, 0, 'p'},     {"steps", required_argument, 0, 'n'},
        {"temperature", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'},
        {"print-ids", no_argument, 0, 'i'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    lf_cli_reset_getopt();
    int c, u = LF_EXIT_OK;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'k': tokp = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': u = lf_cli_u64(CMD, "--steps", optarg, 1, 100000000, &steps); break;
        case 't': u = lf_cli_double(CMD, "--temperature", optarg, 0, 1e6, &temperature); break;
        case 's': u = lf_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &seed); break;
        case 'i': print_ids = 1; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
        if (u)
            return u;
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !tokp || !steps)
        return lf_cli_usage(CMD, "--checkpoint, --tokenizer and --steps are required");

    lf_err err = {0};
    lf_llama m;
    lf_tok tok;
    if (lf_llama_open(&m, ckpt, &err))
        return lf_cli_error(CMD, &err);
    if (lf_tok_load(&tok, tokp, m.cfg.vocab_size, &err)) {
        lf_llama_close(&m);
        return lf_cli_error(CMD, &err);
    }
    int32_t *prompt_ids = NULL, *ids = NULL;
    uint32_t n_prompt = 0, n_ids = 0;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = rng ? LF_OK : lf_fail(&err, LF_ENOMEM, "out of memory");
    if (!rc) {
        gsl_rng_set(rng, (unsigned long)seed);
        rc = lf_tok_encode(&tok, prompt, 1, 0, &prompt_ids, &n_prompt, &err);
    }
    double t0 = lf_now();
    if (!rc)
        rc = lf_llama_generate(&m, prompt_ids, n_prompt, (uint32_t)steps, (float)temperature, rng,
                               NULL, NULL, &ids, &n_ids, &err);
    double dt = lf_now() - t0;
    if (!rc) {
        for (uint32_t i = 0; i < n_ids; i++) {
            if (print_ids)
                printf(i ? " %d" : "%d", ids[i]);
            else if (i > 0)
                put_piece(lf_tok_decode(&tok, ids[i - 1], ids[i]));
        }
        printf("\n");
        fprintf(stderr, "llmflash generate: %u positions in %.3f s (%.0f tok/s)\n",
                n_ids ? n_ids - 1 : 0, dt, dt > 0 ? (n_ids ? n_ids - 1 : 0) / dt : 0.0);
    }
    free(ids);
    free(prompt_ids);
    gsl_rng_free(rng);
    lf_tok_free(&tok);
    lf_llama_close(&m);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
