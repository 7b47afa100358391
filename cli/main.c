/* llmflash: one binary, subcommands. This file is only the table and the dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_fs.h"
#include "lf_meta.h"

typedef struct {
    const char *group; /* NULL for top-level commands */
    const char *name;
    lf_cmd_fn fn;
    const char *summary;
} command;

static const command commands[] = {
    {"trace", "synth", cmd_trace_synth, "synthesise a neuron or expert trace (HDF5)"},
    {"trace", "stats", cmd_trace_stats, "sparsity, s_agg(k), reuse, popularity, co-activation"},
    {"trace", "record", cmd_trace_record, "record a real model's FFN activations"},
    {"trace", "import", cmd_trace_import, "import MoE routing logs (vllm-moe-jsonl)"},
    {"trace", "fit", cmd_trace_fit, "estimate synthesis parameters from a real trace"},
    {"trace", "predict", cmd_trace_predict, "add a low-rank predictor's sets to a trace"},
    {"trace", "convert", cmd_trace_convert, "re-write an older trace in the current format"},
    {"weights", "make", cmd_weights_make, "write a weights file in a layout"},
    {"weights", "info", cmd_weights_info, "print and check a weights file's header"},
    {NULL, "probe", cmd_probe, "measure flash read throughput (O_DIRECT)"},
    {NULL, "fit", cmd_fit, "fit the flash model to a probe CSV"},
    {NULL, "calibrate", cmd_calibrate, "probe + DRAM + compute: a device profile of this machine"},
    {NULL, "sim", cmd_sim, "replay a trace against a device profile (predict)"},
    {NULL, "run", cmd_run, "replay a trace on the real SSD and DRAM (measure)"},
    {NULL, "validate", cmd_validate, "predicted versus measured over a grid"},
    {NULL, "sweep", cmd_sweep, "run a grid of configurations from a sweep file"},
    {NULL, "generate", cmd_generate, "run a llama2.c checkpoint, optionally streaming its FFN"},
    {NULL, "moe-scenario", cmd_moe_scenario, "the Flash-MoE scenario: predicted tok/s"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: llmflash <command> [options]   (llmflash <command> --help for details)\n\n"
               "llmflash %s: simulate and measure LLM inference with weights on flash.\n\n"
               "commands:\n",
            LF_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char full[64];
        snprintf(full, sizeof full, "%s%s%s", commands[i].group ? commands[i].group : "",
                 commands[i].group ? " " : "", commands[i].name);
        fprintf(f, "  %-18s %s\n", full, commands[i].summary);
    }
    fprintf(f, "  %-18s %s\n", "version", "print version, git revision and build flags");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LF_EXIT_USAGE;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
        usage(stdout);
        return LF_EXIT_OK;
    }
    if (!strcmp(a, "version") || !strcmp(a, "--version")) {
        if (argc > 2) {
            fprintf(stderr, "llmflash version: unexpected argument '%s' (it takes none)\n",
                    argv[2]);
            return LF_EXIT_USAGE;
        }
        printf("llmflash %s (git %s)\nflags: %s\n", LF_VERSION, lf_meta_git_rev(), lf_meta_cflags());
        return LF_EXIT_OK;
    }
    int is_group = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const command *c = &commands[i];
        int match;
        int shift;
        if (c->group) {
            if (strcmp(c->group, a) != 0)
                continue;
            is_group = 1;
            match = argc >= 3 && strcmp(c->name, argv[2]) == 0;
            shift = 2;
        } else {
            match = strcmp(c->name, a) == 0;
            shift = 1;
        }
        if (!match)
            continue;
        lf_cli_reset_getopt();
        lf_fs_remove_on_signals(); /* no temporary outlives Ctrl-C or kill */
        return c->fn(argc - shift, argv + shift);
    }
    if (is_group) {
        fprintf(stderr, "llmflash %s: %s '%s'; subcommands:", a,
                argc >= 3 ? "unknown subcommand" : "missing subcommand", argc >= 3 ? argv[2] : "");
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (commands[i].group && !strcmp(commands[i].group, a))
                fprintf(stderr, " %s", commands[i].name);
        fprintf(stderr, "\n");
        return LF_EXIT_USAGE;
    }
    fprintf(stderr, "llmflash: unknown command '%s'\n\n", a);
    usage(stderr);
    return LF_EXIT_USAGE;
}
