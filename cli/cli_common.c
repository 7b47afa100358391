#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_fs.h"

int lf_cli_error(const char *cmd, const lf_err *err)
{
    fprintf(stderr, "llmflash %s: error: %s\n", cmd, err && err->msg[0] ? err->msg : "failed");
    return LF_EXIT_FAIL;
}

void lf_cli_policy_counts(FILE *f, const lf_policy_counts *c)
{
    if (!c || c->n == 0)
        return;
    fputs("policy counters:", f);
    for (size_t i = 0; i < c->n; i++)
        fprintf(f, " %s=%llu", c->names[i].name, (unsigned long long)c->values[i]);
    fputc('\n', f);
}

void lf_cli_policy_notes(const char *cmd, const char *spec, const lf_policy_counts *c)
{
    for (size_t i = 0; c && i < c->n; i++) {
        if (!c->names[i].warn || c->values[i] == 0)
            continue;
        fprintf(stderr, "llmflash %s: note: policy '%s' did not run as written: %s = %llu (%s);",
                cmd, spec, c->names[i].name, (unsigned long long)c->values[i], c->names[i].help);
        for (size_t j = 0; j < c->n; j++)
            if (j != i)
                fprintf(stderr, " %s = %llu", c->names[j].name,
                        (unsigned long long)c->values[j]);
        fputc('\n', stderr);
    }
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

int lf_cli_getopt(const char *cmd, int argc, char **argv, const char *shorts,
                  const struct option *opts, const char *repeatable)
{
    enum { N_CODES = 8192 };
    static unsigned char seen[N_CODES / 8];
    if (optind <= 1) /* a parse starts (lf_cli_reset_getopt, or getopt's first call) */
        memset(seen, 0, sizeof seen);
    int c = getopt_long(argc, argv, shorts, opts, NULL);
    if (c < 0 || c >= N_CODES || c == '?' || c == ':' || c == 'h' ||
        (c < 128 && repeatable && strchr(repeatable, c)))
        return c;
    if (seen[c / 8] & (1u << (c % 8))) {
        int i = optind - (optarg && optarg == argv[optind - 1] ? 2 : 1);
        fprintf(stderr, "llmflash %s: note: '%s' given again; the last value%s%s%s is used\n", cmd,
                (i > 0 && i < argc) ? argv[i] : "?", optarg ? " ('" : "", optarg ? optarg : "",
                optarg ? "')" : "");
    }
    seen[c / 8] |= (unsigned char)(1u << (c % 8));
    return c;
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

int lf_cli_refuse_same(const char *cmd, const char *out, ...)
{
    if (!out)
        return LF_EXIT_OK;
    const char *in[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, out);
    for (const char *p; (p = va_arg(ap, const char *)) != LF_CLI_END && n < 63;)
        if (p) /* an option not given */
            in[n++] = p;
    va_end(ap);
    in[n] = NULL;
    lf_err err;
    if (lf_fs_refuse_same(out, in, &err) != LF_OK)
        return lf_cli_error(cmd, &err);
    return LF_EXIT_OK;
}

int lf_cli_refuse_same_list(const char *cmd, const char *out, char *const *inputs, int n)
{
    for (int i = 0; out && i < n; i++)
        if (lf_cli_refuse_same(cmd, out, inputs[i], LF_CLI_END))
            return LF_EXIT_FAIL;
    return LF_EXIT_OK;
}
