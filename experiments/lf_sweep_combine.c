#include "lf_sweep_combine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_sweep_exec.h"

/* A list of malloc'ed strings. */
typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int sl_push(strlist *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return -1;
        l->v = p;
        l->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c)
        return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    l->v[l->n++] = c;
    return 0;
}

static long sl_find(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return (long)i;
    return -1;
}

/* Splits one CSV line into fields kept verbatim (quotes included); a quoted field may
 * hold commas. Returns -1 on an unterminated quote or no memory. */
static int split_csv(const char *line, strlist *out)
{
    const char *p = line;
    for (;;) {
        const char *start = p;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"'))
                p += (*p == '"') ? 2 : 1;
            if (*p != '"')
                return -1;
            p++;
        }
        while (*p && *p != ',')
            p++;
        if (sl_push(out, start, (size_t)(p - start)) != 0)
            return -1;
        if (!*p)
            return 0;
        p++;
    }
}

/* Next line of buf (modified in place: '\n' and a '\r' before it become NUL). */
static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (!s || !*s)
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    size_t len = strlen(s);
    if (len && s[len - 1] == '\r')
        s[len - 1] = '\0';
    return s;
}

static void csv_path(const lf_sweep *s, size_t i, const char *out_dir, const char *name,
                     char *buf, size_t cap)
{
    char dir[4096];
    lf_sweep_run_dir(s, i, out_dir, dir, sizeof dir);
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Pass 1: the union of the headers of `name` over done runs. */
static int gather_header(const lf_sweep *s, const char *out_dir, const char *name,
                         strlist *cols, lf_err *err)
{
    for (size_t i = 0; i < s->n_runs; i++) {
        if (!lf_sweep_is_done(s, i, out_dir))
            continue;
        char path[4300];
        csv_path(s, i, out_dir, name, path, sizeof path);
        char *data;
        size_t len;
        int rc = lf_read_file(path, &data, &len, err);
        if (rc != LF_OK)
            return lf_err_prefix(err, "run is marked done but its %s is unreadable (delete its "
                                 "done marker and rerun)", name);
        char *cur = data, *line = next_line(&cur);
        strlist h = {0};
        if (!line || !*line || split_csv(line, &h) != 0) {
            free(data);
            sl_free(&h);
            return lf_fail(err, LF_EFORMAT, "%s:1: no CSV header row", path);
        }
        for (size_t c = 0; c < h.n; c++)
            if (sl_find(cols, h.v[c]) < 0 && sl_push(cols, h.v[c], strlen(h.v[c])) != 0) {
                free(data);
                sl_free(&h);
                return lf_fail(err, LF_ENOMEM, "out of memory");
            }
        free(data);
        sl_free(&h);
    }
    return LF_OK;
}

/* A CSV field: quoted (inner quotes doubled) when it holds a comma or a quote. */
static void put_field(FILE *f, const char *v)
{
    if (!strpbrk(v, ",\"\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* A run's cell: a whole number written in exponent form (6.03979776e+09) is written
 * as an integer (6039797760); everything else as it is. */
static void put_cell(FILE *f, const char *v)
{
    if (strpbrk(v, "eE") && v[0] != '"') {
        char *end;
        double d = strtod(v, &end);
        if (end != v && !*end && isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0) {
            fprintf(f, "%.0f", d);
            return;
        }
    }
    fputs(v, f);
}

/* The column name of a sweep key: '-' becomes '_' (dram-fraction -> dram_fraction), so
 * that the key and the run's own column of the same name are one column. */
static void key_column(const char *key, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", key);
    for (char *p = buf; *p; p++)
        if (*p == '-')
            *p = '_';
}

/* An axis whose only value is a bare flag (`ablation =`) gets no column: it is the same
 * in every row. */
static int axis_has_column(const lf_sweep_axis *ax)
{
    return !(ax->n_values == 1 && !ax->values[0][0]);
}


/* 1 when axis a gets a column: not a constant bare flag, named like
 * one of the runs' own columns (then the run's column, what happened, stands for it). */
static int axis_shown(const lf_sweep *s, size_t a, const strlist *cols)
{
    char k[256];
    key_column(s->axes[a].key, k, sizeof k);
    return axis_has_column(&s->axes[a]) && sl_find(cols, k) < 0;
}

/* Pass 2: the rows of one run. */
static int write_run(const lf_sweep *s, size_t i, const char *out_dir, const char *name,
                     const strlist *cols, FILE *f, const char **vals, size_t *rows, lf_err *err)
{
    char path[4300], id[LF_SWEEP_ID_MAX];
    csv_path(s, i, out_dir, name, path, sizeof path);
    lf_sweep_run_id(s, i, id);
    char *data;
    size_t len;
    int rc = lf_read_file(path, &data, &len, err);
    if (rc != LF_OK)
        return rc;
    char *cur = data, *line = next_line(&cur);
    strlist h = {0};
    long *map = NULL;
    if (!line || split_csv(line, &h) != 0 || !(map = calloc(cols->n ? cols->n : 1, sizeof *map))) {
        rc = lf_fail(err, LF_EFORMAT, "%s:1: unreadable header", path);
        goto out;
    }
    for (size_t c = 0; c < cols->n; c++)
        map[c] = sl_find(&h, cols->v[c]);
    lf_sweep_values(s, i, vals);
    for (int ln = 2; (line = next_line(&cur)) != NULL; ln++) {
        if (!*line)
            continue;
        strlist r = {0};
        if (split_csv(line, &r) != 0 || r.n != h.n) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: %zu fields where the header has %zu", path, ln,
                         r.n, h.n);
            sl_free(&r);
            goto out;
        }
        fputs(id, f);
        for (size_t a = 0; a < s->n_axes; a++) {
            if (!axis_shown(s, a, cols))
                continue;
            fputc(',', f);
            if (!strcmp(vals[a], LF_SWEEP_NONE))
                continue;
            char value[8192];
            if ((rc = lf_sweep_value(s, i, a, value, sizeof value, err)) != LF_OK) {
                sl_free(&r);
                goto out;
            }
            put_field(f, value);
        }
        for (size_t c = 0; c < cols->n; c++) {
            if (!strcmp(cols->v[c], "run_id"))
                continue;
            fputc(',', f);
            if (map[c] >= 0)
                put_cell(f, r.v[map[c]]);
        }
        fputc('\n', f);
        (*rows)++;
        sl_free(&r);
    }
out:
    free(map);
    sl_free(&h);
    free(data);
    return rc;
}


static int combine_one(const lf_sweep *s, const char *out_dir, size_t k, size_t *rows,
                       lf_err *err)
{
    const char *name = s->collect[k];
    char target[4300];
    if (k == 0) {
        snprintf(target, sizeof target, "%s/combined.csv", out_dir);
    } else {
        size_t stem = strlen(name);
        if (stem > 4 && !strcmp(name + stem - 4, ".csv"))
            stem -= 4;
        snprintf(target, sizeof target, "%s/combined-%.*s.csv", out_dir, (int)stem, name);
    }
    strlist cols = {0};
    const char **vals = calloc(s->n_axes ? s->n_axes : 1, sizeof *vals);
    if (!vals)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    int rc = gather_header(s, out_dir, name, &cols, err);
    lf_atomic a;
    if (rc == LF_OK)
        rc = lf_atomic_open(&a, target, err);
    if (rc != LF_OK) {
        free(vals);
        sl_free(&cols);
        return rc;
    }
    fputs("run_id", a.f);
    for (size_t i = 0; i < s->n_axes; i++) {
        char col[256];
        key_column(s->axes[i].key, col, sizeof col);
        if (axis_shown(s, i, &cols))
            fprintf(a.f, ",%s", col);
    }
    for (size_t c = 0; c < cols.n; c++)
        if (strcmp(cols.v[c], "run_id"))
            fprintf(a.f, ",%s", cols.v[c]);
    fputc('\n', a.f);
    for (size_t i = 0; i < s->n_runs && rc == LF_OK; i++)
        if (lf_sweep_is_done(s, i, out_dir))
            rc = write_run(s, i, out_dir, name, &cols, a.f, vals, rows, err);
    free(vals);
    sl_free(&cols);
    if (rc != LF_OK) {
        lf_atomic_abort(&a);
        return rc;
    }
    return lf_atomic_commit(&a, err);
}

int lf_sweep_combine(const lf_sweep *s, const char *out_dir, lf_sweep_combine_report *rep,
                     lf_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->runs = s->n_runs;
    for (size_t i = 0; i < s->n_runs; i++) {
        if (lf_sweep_is_done(s, i, out_dir)) {
            rep->done++;
        } else if (rep->missing++ == 0) {
            lf_sweep_run_id(s, i, rep->first_missing);
        }
    }
    int rc = LF_OK;
    for (size_t k = 0; k < s->n_collect && rc == LF_OK; k++) {
        size_t rows = 0;
        rc = combine_one(s, out_dir, k, &rows, err);
        if (k == 0)
            rep->rows = rows;
    }
    return rc;
}
