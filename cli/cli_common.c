#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "lf_cli.h"
#include "lf_replay.h"

int lf_cli_error(const char *cmd, const lf_err *err)
{
    fprintf(stderr, "llmflash %s: error: %s\n", cmd, err && err->msg[0] ? err->msg : "failed");
    return LF_EXIT_FAIL;
}

int lf_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llmflash %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'llmflash %s --help'\n", cmd);
    return LF_EXIT_USAGE;
}

int lf_cli_bad_option(const char *cmd, int argc, char **argv)
{
    int i = optind - 1;
    const char *what = (i > 0 && i < argc) ? argv[i] : "?";
    return lf_cli_usage(cmd, "unknown or incomplete option '%s'", what);
}

void lf_cli_reset_getopt(void)
{
    optind = 1;
    opterr = 0;
}

int lf_cli_scope(const char *cmd, const char *arg, int *out)
{
    lf_err err;
    lf_scope s;
    if (lf_scope_parse(arg, &s, &err))
        return lf_cli_usage(cmd, "--%s", err.msg);
    *out = (int)s;
    return 0;
}
