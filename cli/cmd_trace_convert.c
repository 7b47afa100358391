/* llmflash trace convert: re-writes a trace of any version this llmflash reads (version 1:
 * deflate, variable-length strings, read by libhdf5 in a child process) in the current
 * format (checksummed, read in place), keeping the sets, values and the attributes
 * llmflash reads (lf_trace_read then lf_trace_write). */
#include <getopt.h>
#include <stdio.h>

#include "lf_cli.h"
#include "lf_trace.h"

static const char *CMD = "trace convert";

static void help(void)
{
    printf("usage: llmflash trace convert OLD.h5 -o NEW.h5\n\n"
           "Reads a trace of any version this llmflash reads and writes it again in the\n"
           "current format (version %d: checksummed metadata, contiguous arrays, read\n"
           "without libhdf5). The sets, predicted sets, activation values, token ids and\n"
           "the attributes llmflash reads are kept: the new trace reads back the same, bit\n"
           "for bit. A version 1 trace (deflate, variable-length strings) loads about ten\n"
           "times faster once converted. A damaged trace is refused with the place and\n"
           "nothing is written. NEW.h5 is written whole or not at all (a temporary file,\n"
           "renamed), and must not be OLD.h5.\n\n"
           "options:\n"
           "  -o, --out NEW.h5  the trace to write\n"
           "  -h, --help        this text\n\n"
           "example:\n"
           "  llmflash trace convert results/old/opt67.h5 -o results/opt67-v%d.h5\n",
           LF_TRACE_VERSION, LF_TRACE_VERSION);
}

int cmd_trace_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL;
    int c;
    while ((c = lf_cli_getopt(CMD, argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind >= argc)
        return lf_cli_usage(CMD, "missing the trace to convert (OLD.h5)");
    if (optind + 1 < argc)
        return lf_cli_usage(CMD, "one trace expected, got also '%s'", argv[optind + 1]);
    if (!out)
        return lf_cli_usage(CMD, "missing -o NEW.h5");
    const char *in = argv[optind];
    if (lf_cli_refuse_same(CMD, out, in, LF_CLI_END))
        return LF_EXIT_FAIL;
    lf_err err;
    lf_trace t;
    if (lf_trace_read(in, &t, &err))
        return lf_cli_error(CMD, &err);
    int rc = lf_trace_write(&t, out, &err);
    uint32_t n_tokens = t.n_tokens, n_layers = t.n_layers;
    lf_trace_free(&t);
    if (rc)
        return lf_cli_error(CMD, &err);
    printf("trace convert: %s -> %s (%u layers x %u tokens, format version %d)\n", in, out,
           n_layers, n_tokens, LF_TRACE_VERSION);
    return LF_EXIT_OK;
}
