/* lf_cli_llama: the options the llama commands (generate, trace record, trace predict)
 * share: one getopt row, one parser and one help line each. The values are the
 * caller's (strings point into argv); nothing to free. */
#ifndef LF_CLI_LLAMA_H
#define LF_CLI_LLAMA_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *checkpoint, *tokenizer, *prompt;
    uint64_t steps, seed; /* steps 0 = not given; seed default 1 */
    double temperature;   /* default 0 (greedy) */
    double threshold;     /* < 0 = not given */
    int relative;
} lf_cli_llama;

/* Which shared options a command takes. */
enum {
    LF_LLAMA_CHECKPOINT = 1,
    LF_LLAMA_TOKENIZER = 2,
    LF_LLAMA_PROMPT = 4,
    LF_LLAMA_STEPS = 8,
    LF_LLAMA_TEMPERATURE = 16,
    LF_LLAMA_SEED = 32,
    LF_LLAMA_THRESHOLD = 64,
    LF_LLAMA_RELATIVE = 128
};
#define LF_CLI_LLAMA 0x2000 /* getopt values: LF_CLI_LLAMA + row */

struct option;
void lf_cli_llama_init(lf_cli_llama *o);
/* Appends the rows of `which` to opts (n rows so far, cap in all) and a zero row;
 * returns the rows now in opts, 0 when cap is too small. */
size_t lf_cli_llama_opts(unsigned which, struct option *opts, size_t n, size_t cap);
/* When ch is a shared llama option: parses arg into o, *rc = 0 or the usage error's exit
 * status, and returns 1; else 0. */
int lf_cli_llama_option(const char *cmd, int ch, const char *arg, lf_cli_llama *o, int *rc);
/* The help lines of `which`. */
void lf_cli_llama_help(FILE *f, unsigned which);

#endif
