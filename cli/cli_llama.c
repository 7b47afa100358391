/* The llama commands' shared options: one table. */
#include <getopt.h>

#include "lf_cli.h"
#include "lf_cli_llama.h"
#include "lf_cli_num.h"
#include "lf_llama.h"

typedef struct {
    unsigned bit;
    const char *name, *metavar, *help;
} row;

static const row rows[] = {
    {LF_LLAMA_CHECKPOINT, "checkpoint", "FILE", "llama2.c model (.bin)"},
    {LF_LLAMA_TOKENIZER, "tokenizer", "FILE", "llama2.c tokenizer (.bin) made for that model"},
    {LF_LLAMA_PROMPT, "prompt", "TEXT", "text to start from (default: empty, the model starts\n"
                                        "a story)"},
    {LF_LLAMA_STEPS, "steps", "N", "forward passes (tokens), prompt included"},
    {LF_LLAMA_TEMPERATURE, "temperature", "T", "0 = greedy (default); > 0 samples from\n"
                                               "softmax(logits/T), seeded"},
    {LF_LLAMA_SEED, "seed", "S", "seed of the sampling generator (default 1)"},
    {LF_LLAMA_THRESHOLD, "threshold", "X", "needed neurons: |h| >= X, h = silu(W1 x) * (W3 x)"},
    {LF_LLAMA_RELATIVE, "relative", NULL, "X is relative to the largest |h| of the token and\n"
                                          "layer (0 <= X <= 1)"},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

void lf_cli_llama_init(lf_cli_llama *o)
{
    *o = (lf_cli_llama){.seed = 1, .threshold = -1.0};
}

size_t lf_cli_llama_opts(unsigned which, struct option *opts, size_t n, size_t cap)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!(rows[i].bit & which))
            continue;
        if (n + 2 > cap)
            return 0;
        opts[n++] = (struct option){rows[i].name,
                                    rows[i].metavar ? required_argument : no_argument, NULL,
                                    LF_CLI_LLAMA + (int)i};
    }
    opts[n] = (struct option){0, 0, 0, 0};
    return n;
}

int lf_cli_llama_option(const char *cmd, int ch, const char *arg, lf_cli_llama *o, int *rc)
{
    if (ch < LF_CLI_LLAMA || ch >= LF_CLI_LLAMA + (int)N_ROWS)
        return 0;
    *rc = 0;
    switch (rows[ch - LF_CLI_LLAMA].bit) {
    case LF_LLAMA_CHECKPOINT: o->checkpoint = arg; break;
    case LF_LLAMA_TOKENIZER: o->tokenizer = arg; break;
    case LF_LLAMA_PROMPT: o->prompt = arg; break;
    case LF_LLAMA_STEPS: *rc = lf_cli_u64(cmd, "--steps", arg, 1, 100000000, &o->steps); break;
    case LF_LLAMA_TEMPERATURE:
        *rc = lf_cli_double(cmd, "--temperature", arg, 0, 1e6, &o->temperature);
        if (*rc == 0 && o->temperature > 0 && o->temperature < LF_LLAMA_MIN_TEMPERATURE)
            *rc = lf_cli_usage(cmd, "--temperature must be 0 (greedy) or at least 0.001");
        break;
    case LF_LLAMA_SEED: *rc = lf_cli_u64(cmd, "--seed", arg, 0, UINT64_MAX, &o->seed); break;
    case LF_LLAMA_THRESHOLD:
        *rc = lf_cli_double(cmd, "--threshold", arg, 0, 1e30, &o->threshold);
        break;
    case LF_LLAMA_RELATIVE: o->relative = 1; break;
    }
    return 1;
}

void lf_cli_llama_help(FILE *f, unsigned which)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!(rows[i].bit & which))
            continue;
        char head[64];
        int w = snprintf(head, sizeof head, "  --%s%s%s", rows[i].name, rows[i].metavar ? " " : "",
                         rows[i].metavar ? rows[i].metavar : "");
        fprintf(f, "%s%*s", head, w < 22 ? 22 - w : 1, "");
        for (const char *h = rows[i].help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n')
                fprintf(f, "%22s", "");
        }
        fputc('\n', f);
    }
}
