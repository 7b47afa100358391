#include "lf_grid.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_kv.h"

static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

static int split(const lf_kv_entry *e, lf_grid_axis *a, const char *src, lf_err *err)
{
    a->key = strdup(e->key);
    if (!a->key)
        return lf_fail(err, LF_ENOMEM, "grid: out of memory");
    for (const char *p = e->value;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        char *v = trimmed(p, n);
        char **vs = realloc(a->vals, (a->n + 1) * sizeof *vs);
        if (!v || !vs) {
            free(v);
            if (vs)
                a->vals = vs;
            return lf_fail(err, LF_ENOMEM, "grid: out of memory");
        }
        a->vals = vs;
        a->vals[a->n++] = v;
        if (!*v)
            return lf_fail(err, LF_EFORMAT, "%s:%d: key '%s' has an empty list item (write "
                           "`key = a | b`)", src, e->line, e->key);
        if (!bar)
            break;
        p = bar + 1;
    }
    return LF_OK;
}

int lf_grid_load(const char *path, const char *const *valid, lf_grid *g, lf_err *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->source, sizeof g->source, "%s", path);
    lf_kv kv;
    int rc = lf_kv_parse_file(path, &kv, err);
    if (rc)
        return rc;
    if (valid && (rc = lf_kv_check_known(&kv, valid, err))) {
        lf_kv_free(&kv);
        return rc;
    }
    g->axes = calloc(kv.n ? kv.n : 1, sizeof *g->axes);
    if (!g->axes)
        rc = lf_fail(err, LF_ENOMEM, "grid: out of memory");
    g->n_configs = 1;
    for (size_t i = 0; i < kv.n && !rc; i++) {
        rc = split(&kv.items[i], &g->axes[i], path, err);
        g->n_axes = i + 1;
        g->n_configs *= g->axes[i].n;
    }
    lf_kv_free(&kv);
    if (rc)
        lf_grid_free(g);
    return rc;
}

void lf_grid_free(lf_grid *g)
{
    for (size_t i = 0; g->axes && i < g->n_axes; i++) {
        for (size_t k = 0; k < g->axes[i].n; k++)
            free(g->axes[i].vals[k]);
        free(g->axes[i].vals);
        free(g->axes[i].key);
    }
    free(g->axes);
    memset(g, 0, sizeof *g);
}

const char *lf_grid_value(const lf_grid *g, size_t i, const char *key)
{
    /* mixed radix, last axis fastest */
    for (size_t a = g->n_axes; a-- > 0;) {
        const lf_grid_axis *x = &g->axes[a];
        size_t digit = i % x->n;
        i /= x->n;
        if (!strcmp(x->key, key))
            return x->vals[digit];
    }
    return NULL;
}
