/* The shared run options (sim/lf_runopt.h) as getopt rows, their parsing and their help. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lf_cli.h"

size_t lf_cli_runopts(unsigned cmd, struct option *opts, size_t n, size_t cap, char *shorts,
                      size_t shorts_cap)
{
    size_t n_tab, len = strlen(shorts);
    const lf_runopt *t = lf_runopt_table(&n_tab);
    for (size_t i = 0; i < n_tab; i++) {
        if (!(t[i].cmds & cmd))
            continue;
        if (n + 2 > cap || len + 3 >= shorts_cap)
            return 0;
        opts[n++] = (struct option){t[i].name, t[i].metavar ? required_argument : no_argument,
                                    NULL, LF_CLI_RUNOPT + (int)i};
        if (t[i].short_name) {
            shorts[len++] = t[i].short_name;
            if (t[i].metavar)
                shorts[len++] = ':';
            shorts[len] = '\0';
        }
    }
    opts[n] = (struct option){0, 0, 0, 0};
    return n;
}

const lf_runopt *lf_cli_runopt(const char *cmd_name, unsigned cmd, int ch, const char *arg,
                              lf_run_config *c, int *rc)
{
    size_t n_tab;
    const lf_runopt *t = lf_runopt_table(&n_tab), *o = NULL;
    if (ch >= LF_CLI_RUNOPT && (size_t)(ch - LF_CLI_RUNOPT) < n_tab)
        o = &t[ch - LF_CLI_RUNOPT];
    for (size_t i = 0; i < n_tab && !o; i++)
        if (t[i].short_name && t[i].short_name == ch && (t[i].cmds & cmd))
            o = &t[i];
    if (!o)
        return NULL;
    lf_err err;
    *rc = lf_runopt_set(o, c, arg, &err) ? lf_cli_usage(cmd_name, "%s", err.msg) : 0;
    return o;
}

void lf_cli_runopt_help(FILE *f, unsigned cmd)
{
    size_t n_tab;
    const lf_runopt *t = lf_runopt_table(&n_tab);
    for (size_t i = 0; i < n_tab; i++) {
        if (!(t[i].cmds & cmd))
            continue;
        char head[64];
        int w = t[i].short_name ? snprintf(head, sizeof head, "  -%c, --%s%s%s", t[i].short_name,
                                           t[i].name, t[i].metavar ? " " : "",
                                           t[i].metavar ? t[i].metavar : "")
                                : snprintf(head, sizeof head, "      --%s%s%s", t[i].name,
                                           t[i].metavar ? " " : "",
                                           t[i].metavar ? t[i].metavar : "");
        fputs(head, f);
        const char *h = t[i].help;
        for (int first = 1; *h; first = 0) {
            const char *nl = strchr(h, '\n');
            size_t len = nl ? (size_t)(nl - h) : strlen(h);
            if (first && w < 30)
                fprintf(f, "%*s", 30 - w, "");
            else
                fprintf(f, "%s%30s", first ? "\n" : "", "");
            fprintf(f, "%.*s\n", (int)len, h);
            h += len + (nl != NULL);
        }
        if (t[i].known)
            fprintf(f, "%30s(known: %s)\n", "", t[i].known());
    }
}
