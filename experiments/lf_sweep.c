#include "lf_sweep.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_kv.h"

#define MAX_RUNS 1000000u
static const char *const modes[] = {"sim", "run", "validate", NULL};

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void lf_sweep_free(lf_sweep *s)
{
    for (size_t a = 0; a < s->n_axes; a++) {
        free(s->axes[a].key);
        free_list(s->axes[a].values, s->axes[a].n_values);
    }
    free(s->axes);
    free_list(s->collect, s->n_collect);
    memset(s, 0, sizeof *s);
}

/* Splits "a | b | c" into trimmed items; an empty item is allowed only when the value
 * has no '|' at all (a bare flag). */
static int split_list(const char *path, int line, const char *key, const char *value,
                      char ***out, size_t *n_out, lf_err *err)
{
    size_t cap = 1;
    for (const char *p = value; *p; p++)
        cap += *p == '|';
    char **v = calloc(cap, sizeof *v);
    char *copy = strdup(value);
    if (!v || !copy) {
        free(v);
        free(copy);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    size_t n = 0;
    char *start = copy;
    for (;;) {
        char *bar = strchr(start, '|');
        if (bar)
            *bar = '\0';
        char *item = lf_kv_trim(start);
        if (!*item && cap > 1) {
            free(copy);
            free_list(v, n);
            return lf_fail(err, LF_EFORMAT,
                           "%s:%d: '%s' has an empty list item (a stray '|'?); write %s for "
                           "'leave the option out'",
                           path, line, key, LF_SWEEP_NONE);
        }
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(v[i], item)) {
                int rc = lf_fail(err, LF_EFORMAT, "%s:%d: '%s' lists '%s' twice", path, line,
                                 key, item);
                free(copy);
                free_list(v, n);
                return rc;
            }
        }
        if (!(v[n++] = strdup(item))) {
            free(copy);
            free_list(v, n - 1);
            return lf_fail(err, LF_ENOMEM, "out of memory");
        }
        if (!bar)
            break;
        start = bar + 1;
    }
    free(copy);
    *out = v;
    *n_out = n;
    return LF_OK;
}

static int option_name_ok(const char *k, int is_var)
{
    if (!islower((unsigned char)k[0]) && !isdigit((unsigned char)k[0]))
        return 0;
    for (const char *p = k; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' &&
            !(is_var && *p == '_'))
            return 0;
    return 1;
}

static int load_entry(lf_sweep *s, const lf_kv_entry *e, lf_err *err)
{
    const char *path = s->path;
    if (!strcmp(e->key, "mode")) {
        for (const char *const *m = modes; *m; m++)
            if (!strcmp(*m, e->value)) {
                snprintf(s->mode, sizeof s->mode, "%s", *m);
                return LF_OK;
            }
        return lf_fail(err, LF_EFORMAT,
                       "%s:%d: mode = '%s' is not one of sim, run, validate (one mode per "
                       "sweep file)",
                       path, e->line, e->value);
    }
    if (!strcmp(e->key, "collect")) {
        int rc = split_list(path, e->line, e->key, e->value, &s->collect, &s->n_collect, err);
        if (rc == LF_OK && !s->collect[0][0]) {
            free_list(s->collect, s->n_collect);
            s->collect = NULL;
            s->n_collect = 0;
            return lf_fail(err, LF_EFORMAT, "%s:%d: collect is empty; name the CSV files of a "
                           "run folder to gather (default: summary.csv)", path, e->line);
        }
        for (size_t i = 0; rc == LF_OK && i < s->n_collect; i++)
            if (strchr(s->collect[i], '/') || !strstr(s->collect[i], ".csv"))
                rc = lf_fail(err, LF_EFORMAT,
                             "%s:%d: collect item '%s' must be a CSV file name inside the run "
                             "folder (e.g. summary.csv | tokens.csv)",
                             path, e->line, s->collect[i]);
        return rc;
    }
    if (!strcmp(e->key, "out"))
        return lf_fail(err, LF_EFORMAT,
                       "%s:%d: 'out' is set by the runner (one folder per run under --out); "
                       "remove it",
                       path, e->line);
    int is_var = e->key[0] == '@';
    const char *name = e->key + is_var;
    if (!option_name_ok(name, is_var))
        return lf_fail(err, LF_EFORMAT,
                       is_var ? "%s:%d: '%s' is not a variable name: lower case, digits, '-' "
                                "and '_' after the '@' (e.g. @cache_size = 16 | 32)"
                              : "%s:%d: '%s' is not an option name: write the long option "
                                "without dashes, lower case (e.g. dram-fraction = 0.25 | 0.5)",
                       path, e->line, e->key);
    for (size_t a = 0; a < s->n_axes; a++)
        if (!strcmp(s->axes[a].key, name))
            return lf_fail(err, LF_EFORMAT,
                           "%s:%d: '%s' and '%s%s' (line %d) would share the column '%s'; "
                           "rename the variable",
                           path, e->line, e->key, s->axes[a].is_var ? "@" : "", name,
                           s->axes[a].line, name);
    lf_sweep_axis *ax = &s->axes[s->n_axes];
    memset(ax, 0, sizeof *ax);
    ax->line = e->line;
    ax->is_var = is_var;
    if (!(ax->key = strdup(name)))
        return lf_fail(err, LF_ENOMEM, "out of memory");
    s->n_axes++;
    return split_list(path, e->line, e->key, e->value, &ax->values, &ax->n_values, err);
}

static const lf_sweep_axis *find_var(const lf_sweep *s, const char *name, size_t len)
{
    for (size_t a = 0; a < s->n_axes; a++)
        if (s->axes[a].is_var && strlen(s->axes[a].key) == len &&
            !strncmp(s->axes[a].key, name, len))
            return &s->axes[a];
    return NULL;
}

/* Every `{name}` in the values of ax must name a variable; variables hold no braces. */
static int check_refs(const lf_sweep *s, const lf_sweep_axis *ax, lf_err *err)
{
    for (size_t i = 0; i < ax->n_values; i++) {
        for (const char *p = strchr(ax->values[i], '{'); p; p = strchr(p + 1, '{')) {
            const char *end = strchr(p, '}');
            if (ax->is_var || !end || !find_var(s, p + 1, (size_t)(end - p - 1)))
                return lf_fail(err, LF_EFORMAT,
                               "%s:%d: '%s' in %s = %s: %s", s->path, ax->line,
                               end ? "{...}" : "{", ax->key, ax->values[i],
                               ax->is_var ? "a variable's values cannot refer to variables"
                                          : "braces must name a variable defined as "
                                            "@name = ... in this file");
        }
    }
    return LF_OK;
}

int lf_sweep_value(const lf_sweep *s, size_t index, size_t axis, char *buf, size_t cap,
                   lf_err *err)
{
    const char *vals[256];
    const char **v = s->n_axes <= 256 ? vals : calloc(s->n_axes, sizeof *v);
    if (!v)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    lf_sweep_values(s, index, v);
    size_t len = 0;
    int rc = LF_OK;
    for (const char *p = v[axis]; *p && rc == LF_OK; p++) {
        const char *piece = p;
        size_t plen = 1;
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        const lf_sweep_axis *var = end ? find_var(s, p + 1, (size_t)(end - p - 1)) : NULL;
        if (var) {
            piece = v[var - s->axes];
            plen = strlen(piece);
            p = end;
        }
        if (len + plen + 1 > cap)
            rc = lf_fail(err, LF_EINVAL, "%s: the value of '%s' in run %zu is too long",
                         s->path, s->axes[axis].key, index);
        else
            memcpy(buf + len, piece, plen);
        len += plen;
    }
    if (rc == LF_OK)
        buf[len] = '\0';
    if (v != vals)
        free(v);
    return rc;
}

int lf_sweep_load(const char *path, lf_sweep *out, lf_err *err)
{
    memset(out, 0, sizeof *out);
    lf_kv kv;
    int rc = lf_kv_parse_file(path, &kv, err);
    if (rc != LF_OK)
        return rc;
    snprintf(out->path, sizeof out->path, "%s", path);
    out->axes = calloc(kv.n ? kv.n : 1, sizeof *out->axes);
    if (!out->axes) {
        lf_kv_free(&kv);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < kv.n && rc == LF_OK; i++)
        rc = load_entry(out, &kv.items[i], err);
    lf_kv_free(&kv);
    if (rc == LF_OK && !out->mode[0])
        rc = lf_fail(err, LF_EFORMAT, "%s: missing 'mode = sim' (or run, validate)", path);
    if (rc == LF_OK && !out->collect) {
        out->collect = calloc(1, sizeof *out->collect);
        if (!out->collect || !(out->collect[0] = strdup("summary.csv")))
            rc = lf_fail(err, LF_ENOMEM, "out of memory");
        else
            out->n_collect = 1;
    }
    for (size_t a = 0; a < out->n_axes && rc == LF_OK; a++)
        rc = check_refs(out, &out->axes[a], err);
    out->n_runs = 1;
    for (size_t a = 0; a < out->n_axes && rc == LF_OK; a++) {
        out->n_runs *= out->axes[a].n_values;
        if (out->n_runs > MAX_RUNS)
            rc = lf_fail(err, LF_EFORMAT,
                         "%s:%d: the grid exceeds %u runs at '%s'; split the sweep into "
                         "several files",
                         path, out->axes[a].line, MAX_RUNS, out->axes[a].key);
    }
    if (rc != LF_OK)
        lf_sweep_free(out);
    return rc;
}

int lf_sweep_load_grid(const char *path, const char *const *valid, lf_sweep *out, lf_err *err)
{
    memset(out, 0, sizeof *out);
    lf_kv kv;
    int rc = lf_kv_parse_file(path, &kv, err);
    if (rc != LF_OK)
        return rc;
    snprintf(out->path, sizeof out->path, "%s", path);
    if (valid)
        rc = lf_kv_check_known(&kv, valid, err);
    if (rc == LF_OK && !(out->axes = calloc(kv.n ? kv.n : 1, sizeof *out->axes)))
        rc = lf_fail(err, LF_ENOMEM, "out of memory");
    out->n_runs = 1;
    for (size_t i = 0; i < kv.n && rc == LF_OK; i++) {
        lf_sweep_axis *ax = &out->axes[out->n_axes];
        ax->line = kv.items[i].line;
        if (!(ax->key = strdup(kv.items[i].key))) {
            rc = lf_fail(err, LF_ENOMEM, "out of memory");
            break;
        }
        out->n_axes++;
        rc = split_list(path, ax->line, ax->key, kv.items[i].value, &ax->values, &ax->n_values,
                        err);
        if (rc == LF_OK && (out->n_runs *= ax->n_values) > MAX_RUNS)
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: the grid exceeds %u configurations at '%s'",
                         path, ax->line, MAX_RUNS, ax->key);
    }
    lf_kv_free(&kv);
    if (rc != LF_OK)
        lf_sweep_free(out);
    return rc;
}

const char *lf_sweep_get(const lf_sweep *s, size_t index, const char *key)
{
    for (size_t a = s->n_axes; a-- > 0;) {
        const lf_sweep_axis *ax = &s->axes[a];
        if (!strcmp(ax->key, key))
            return ax->values[index % ax->n_values];
        index /= ax->n_values;
    }
    return NULL;
}

void lf_sweep_values(const lf_sweep *s, size_t index, const char **vals)
{
    for (size_t a = s->n_axes; a-- > 0;) {
        const lf_sweep_axis *ax = &s->axes[a];
        vals[a] = ax->values[index % ax->n_values];
        index /= ax->n_values;
    }
}

/* Appends a sanitised copy of v to buf (len in/out), never past cap-1. */
static void append_clean(char *buf, size_t *len, size_t cap, const char *v)
{
    if (!strcmp(v, LF_SWEEP_NONE))
        v = "none";
    const char *slash = strrchr(v, '/');
    if (slash && slash[1])
        v = slash + 1;
    for (const char *p = v; *p && *len + 1 < cap; p++) {
        char c = *p;
        if (!isalnum((unsigned char)c) && !strchr("._=+-", c))
            c = '-';
        if (c == '-' && *len > 0 && buf[*len - 1] == '-')
            continue;
        buf[(*len)++] = c;
    }
    buf[*len] = '\0';
}

void lf_sweep_run_id(const lf_sweep *s, size_t index, char id[LF_SWEEP_ID_MAX])
{
    const char **vals = calloc(s->n_axes ? s->n_axes : 1, sizeof *vals);
    char readable[101] = "";
    size_t len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!vals || !ctx) { /* no memory: an id that can never match a folder */
        free(vals);
        EVP_MD_CTX_free(ctx);
        snprintf(id, LF_SWEEP_ID_MAX, "out-of-memory");
        return;
    }
    lf_sweep_values(s, index, vals);
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "mode=", 5);
    EVP_DigestUpdate(ctx, s->mode, strlen(s->mode));
    EVP_DigestUpdate(ctx, "\n", 1);
    for (size_t a = 0; a < s->n_axes; a++) {
        const char *k = s->axes[a].key;
        EVP_DigestUpdate(ctx, k, strlen(k));
        EVP_DigestUpdate(ctx, "=", 1);
        EVP_DigestUpdate(ctx, vals[a], strlen(vals[a]));
        EVP_DigestUpdate(ctx, "\n", 1);
        if (s->axes[a].n_values < 2)
            continue;
        if (len && len + 1 < sizeof readable) {
            readable[len++] = '_';
            readable[len] = '\0';
        }
        append_clean(readable, &len, sizeof readable, k);
        append_clean(readable, &len, sizeof readable, "=");
        append_clean(readable, &len, sizeof readable, vals[a]);
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    free(vals);
    snprintf(id, LF_SWEEP_ID_MAX, "%s_%02x%02x%02x%02x", len ? readable : "run", md[0], md[1],
             md[2], md[3]);
}

int lf_sweep_find(const lf_sweep *s, const char *id, size_t *index, lf_err *err)
{
    char buf[LF_SWEEP_ID_MAX];
    for (size_t i = 0; i < s->n_runs; i++) {
        lf_sweep_run_id(s, i, buf);
        if (!strcmp(buf, id)) {
            *index = i;
            return LF_OK;
        }
    }
    return lf_fail(err, LF_EINVAL,
                   "%s: no run with id '%s' in its grid of %zu (was the sweep file changed "
                   "after the jobs were written? re-emit them)",
                   s->path, id, s->n_runs);
}

void lf_sweep_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

char **lf_sweep_argv(const lf_sweep *s, size_t index, const char *const *prefix,
                     const char *run_dir, lf_err *err)
{
    size_t n_prefix = 0;
    while (prefix[n_prefix])
        n_prefix++;
    size_t cap = n_prefix + 1 + 2 * s->n_axes + 2 + 1;
    char **argv = calloc(cap, sizeof *argv);
    const char **vals = calloc(s->n_axes ? s->n_axes : 1, sizeof *vals);
    if (!argv || !vals) {
        free(argv);
        free(vals);
        lf_fail(err, LF_ENOMEM, "out of memory");
        return NULL;
    }
    lf_sweep_values(s, index, vals);
    size_t n = 0;
    int bad = 0;
    for (size_t i = 0; i < n_prefix; i++)
        bad |= !(argv[n++] = strdup(prefix[i]));
    bad |= !(argv[n++] = strdup(s->mode));
    char value[8192];
    for (size_t a = 0; a < s->n_axes && !bad; a++) {
        if (s->axes[a].is_var || !strcmp(vals[a], LF_SWEEP_NONE))
            continue;
        if (lf_sweep_value(s, index, a, value, sizeof value, err) != LF_OK) {
            free(vals);
            lf_sweep_argv_free(argv);
            return NULL;
        }
        size_t klen = strlen(s->axes[a].key) + 3;
        char *opt = malloc(klen);
        if (opt)
            snprintf(opt, klen, "--%s", s->axes[a].key);
        bad |= !(argv[n++] = opt);
        if (value[0])
            bad |= !(argv[n++] = strdup(value));
    }
    bad |= !(argv[n++] = strdup("--out"));
    bad |= !(argv[n++] = strdup(run_dir));
    free(vals);
    if (bad) {
        lf_sweep_argv_free(argv);
        lf_fail(err, LF_ENOMEM, "out of memory");
        return NULL;
    }
    return argv;
}

int lf_sweep_shell_quote(char *buf, size_t cap, const char *arg)
{
    size_t len = strlen(buf);
    int plain = *arg != '\0';
    for (const char *p = arg; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._/=:+,-@%", *p))
            plain = 0;
    if (plain) {
        if (len + strlen(arg) + 1 > cap)
            return -1;
        memcpy(buf + len, arg, strlen(arg) + 1);
        return 0;
    }
    if (len + 1 >= cap)
        return -1;
    buf[len++] = '\'';
    for (const char *p = arg; *p; p++) {
        const char *piece = *p == '\'' ? "'\\''" : NULL;
        size_t plen = piece ? 4 : 1;
        if (len + plen + 2 > cap)
            return -1;
        if (piece)
            memcpy(buf + len, piece, plen);
        else
            buf[len] = *p;
        len += plen;
    }
    buf[len++] = '\'';
    buf[len] = '\0';
    return 0;
}
