#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_sweep_check.h"
#include "lf_kv.h"
#include "lf_layout.h"
#include "lf_policy.h"

typedef struct {
    char name[64];
    char arg[32]; /* placeholder in the help ("N", "PATH", "SPEC"); "" for a flag */
    int required; /* outside the brackets of the help's first usage line */
} opt_info;

#define MAX_OPTS 128

/* The long options `exe mode --help` documents, with their placeholders. */
static size_t read_options(const char *exe, const char *mode, opt_info *opts)
{
    char cmd[4400] = "";
    if (lf_sweep_shell_quote(cmd, sizeof cmd - 64, exe) != 0)
        return 0;
    strcat(cmd, " ");
    strcat(cmd, mode);
    strcat(cmd, " --help 2>/dev/null");
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    size_t n = 0;
    char line[1024];
    int first = 1;
    while (fgets(line, sizeof line, p)) {
        int usage = first && strncmp(line, "usage:", 6) == 0;
        first = 0;
        for (char *q = strstr(line, "--"); q; q = strstr(q + 2, "--")) {
            if (q > line && !isspace((unsigned char)q[-1]) && q[-1] != '[' && q[-1] != ',')
                continue;
            char name[64];
            size_t k = 0;
            const char *r = q + 2;
            while ((islower((unsigned char)*r) || isdigit((unsigned char)*r) || *r == '-') &&
                   k < sizeof name - 1)
                name[k++] = *r++;
            name[k] = '\0';
            if (k < 2)
                continue;
            char arg[32] = "";
            if (*r == ' ' && isupper((unsigned char)r[1])) {
                size_t a = 0;
                for (r++; *r && !isspace((unsigned char)*r) && *r != ']' && a < sizeof arg - 1;)
                    arg[a++] = *r++;
                arg[a] = '\0';
            }
            size_t i = 0;
            while (i < n && strcmp(opts[i].name, name))
                i++;
            if (i == n && n < MAX_OPTS) {
                snprintf(opts[n].name, sizeof opts[n].name, "%s", name);
                opts[n].arg[0] = '\0';
                opts[n].required = 0;
                n++;
            }
            if (usage && i < n) { /* "[" opened and not closed before q: optional */
                int depth = 0;
                for (const char *b = line; b < q; b++)
                    depth += (*b == '[') - (*b == ']');
                opts[i].required |= depth == 0;
            }
            if (i < n && arg[0] && !opts[i].arg[0])
                snprintf(opts[i].arg, sizeof opts[i].arg, "%s", arg);
        }
    }
    pclose(p);
    return n;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[80], cur[80];
    if (la >= 79 || lb >= 79)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            cur[j] = d;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

/* A whole number as the options read them: a decimal (1e-3, 0.5) or a count or size with
 * its suffix (10k, 4m); "12abc" and "1\xff" are not. */
static int is_number(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    uint64_t u;
    return (end != v && *end == '\0' && isfinite(d)) || lf_parse_size(v, &u) == 0 ||
           lf_parse_count(v, &u) == 0;
}

/* NULL when `item` is a plausible value for option o, else why not (static text). */
static const char *item_problem(const opt_info *o, const char *item, char *why, size_t cap)
{
    lf_err err;
    if (!strcmp(o->name, "policy")) {
        lf_kv kv;
        char name[64];
        if (lf_kv_parse_spec(item, &kv, name, sizeof name, &err) != LF_OK) {
            snprintf(why, cap, "%s", err.msg);
            return why;
        }
        lf_kv_free(&kv);
        const char *names = lf_policy_names();
        size_t nl = strlen(name);
        for (const char *p = strstr(names, name); p; p = strstr(p + 1, name))
            if ((p == names || p[-1] == ' ' || p[-1] == ',') &&
                (p[nl] == '\0' || p[nl] == ',' || p[nl] == ' '))
                return NULL;
        snprintf(why, cap, "'%s' is not a policy (%s); a spec with '|' inside goes in "
                           "double quotes",
                 name, names);
        return why;
    }
    if (!strcmp(o->name, "layout")) {
        lf_layout_kind k;
        if (lf_layout_parse_kind(item, &k, &err) != LF_OK) {
            snprintf(why, cap, "%s", err.msg);
            return why;
        }
        return NULL;
    }
    if (!strcmp(o->name, "device")) {
        char path[4096];
        if (lf_cli_device_find(item, path, sizeof path, &err) != LF_OK) {
            snprintf(why, cap, "%s", err.msg);
            return why;
        }
        return NULL;
    }
    /* one-letter placeholders (N, F, B, X, S, R) are numbers, with or without suffixes */
    if (o->arg[0] && !o->arg[1] && strchr("NFBXYSRKG", o->arg[0]) && !is_number(item)) {
        snprintf(why, cap, "--%s %s wants a number", o->name, o->arg);
        return why;
    }
    return NULL;
}

int lf_cli_sweep_check(const lf_sweep *s, const char *exe, int strict_items)
{
    static opt_info opts[MAX_OPTS];
    size_t n = read_options(exe, s->mode, opts);
    if (n == 0) {
        fprintf(stderr, "llmflash sweep: warning: cannot read the options of '%s %s --help'; "
                        "keys not checked\n", exe, s->mode);
        return 0;
    }
    int bad = 0;
    for (size_t a = 0; a < s->n_axes; a++) {
        const lf_sweep_axis *ax = &s->axes[a];
        if (ax->is_var)
            continue;
        const opt_info *o = NULL;
        for (size_t i = 0; i < n && !o; i++)
            if (!strcmp(opts[i].name, ax->key))
                o = &opts[i];
        if (!o) {
            const char *best = NULL;
            size_t bd = 4;
            for (size_t i = 0; i < n; i++) {
                size_t d = edit_distance(ax->key, opts[i].name);
                if (d < bd) {
                    bd = d;
                    best = opts[i].name;
                }
            }
            fprintf(stderr, "llmflash sweep: %s:%d: '%s' is not an option of llmflash %s%s%s%s\n",
                    s->path, ax->line, ax->key, s->mode, best ? " (did you mean '" : "",
                    best ? best : "", best ? "'?)" : "; see llmflash <mode> --help");
            bad = 1;
            continue;
        }
        for (size_t v = 0; v < ax->n_values; v++) {
            const char *item = ax->values[v];
            if (!strcmp(item, LF_SWEEP_NONE) || strchr(item, '{'))
                continue;
            if (!item[0] && o->arg[0]) {
                fprintf(stderr, "llmflash sweep: %s:%d: '%s' needs a value (--%s %s)\n",
                        s->path, ax->line, ax->key, ax->key, o->arg);
                bad = 1;
                continue;
            }
            if (item[0] && !o->arg[0]) {
                fprintf(stderr, "llmflash sweep: warning: %s:%d: --%s looks like a bare flag "
                                "(no value in its --help) but gets '%s'\n",
                        s->path, ax->line, ax->key, item);
                continue;
            }
            /* a value its own parser refuses would fail its every run: nothing starts */
            char why[1024];
            /* a file (a device profile) may be made before the runs start (by
             * plots/make_figures.sh, or an earlier job of a cluster pipeline): a warning */
            int strict = strict_items && strcmp(o->name, "device") != 0;
            if (item[0] && item_problem(o, item, why, sizeof why)) {
                fprintf(stderr, "llmflash sweep: %s%s:%d: %s = '%s' %s: %s\n",
                        strict ? "" : "warning: ", s->path, ax->line, ax->key, item,
                        strict ? "cannot run" : "looks wrong", why);
                bad |= strict;
            }
        }
    }
    /* what the command cannot run without (its usage line's options outside brackets;
     * --out is the sweep's own) */
    for (size_t i = 0; i < n && strict_items; i++) {
        int given = !opts[i].required || !strcmp(opts[i].name, "out");
        for (size_t a = 0; a < s->n_axes && !given; a++)
            given = !s->axes[a].is_var && !strcmp(s->axes[a].key, opts[i].name);
        if (!given) {
            fprintf(stderr, "llmflash sweep: %s: llmflash %s needs --%s, which the sweep file "
                    "does not give: add a line '%s = ...'\n", s->path, s->mode, opts[i].name,
                    opts[i].name);
            bad = 1;
        }
    }
    if (bad)
        fprintf(stderr, "llmflash sweep: nothing was run; fix the sweep file\n");
    return bad ? LF_EXIT_USAGE : 0;
}
