/* Importer of vllm-moe-jsonl routing logs (json-c, one object a line). Each file is
 * read once into a buffer of records (ids sorted per record, router weights kept
 * aligned with them); the trace is built once every file is read, so that the files'
 * lengths can be checked against each other first. */
#include "lf_import.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lf_fs.h"
#include "lf_model.h"

#define MAX_TOPK 1024

typedef struct {
    uint32_t *ids; /* n * top_k, sorted within a record */
    float *w;      /* n * top_k, or NULL */
    uint64_t n, cap;
} recbuf;

/* What is known across files. */
typedef struct {
    const lf_import_opts *o;
    lf_model model;
    int have_model;
    uint32_t n_experts, top_k; /* 0 until resolved */
    int has_weights;           /* -1 until the first route record */
    char model_id[128];
    int64_t meta_top_k, meta_experts; /* -1: not given by any meta line */
    int64_t prev_layer;               /* layer of the previous file, -1 before the first */
} ictx;

/* State of the file being read. */
typedef struct {
    const char *path;
    long line;
    int seen_route, seen_meta;
    int64_t layer;
    uint32_t first_raw[MAX_TOPK]; /* the first record's ids in log order (warm-up run) */
    int warm_open;                /* the leading run of identical records is still going */
    lf_import_info info;
} ifile;

const char *lf_import_formats(void)
{
    return "vllm-moe-jsonl";
}

static void recbuf_free(recbuf *b)
{
    free(b->ids);
    free(b->w);
    memset(b, 0, sizeof *b);
}

static int recbuf_push(recbuf *b, const uint32_t *ids, const float *w, uint32_t k, lf_err *err)
{
    if (b->n == b->cap) {
        uint64_t nc = b->cap ? b->cap * 2 : 4096;
        if (nc > SIZE_MAX / sizeof(uint32_t) / MAX_TOPK)
            return lf_fail(err, LF_ENOMEM, "import: too many records (%llu)",
                           (unsigned long long)b->n);
        uint32_t *ni = realloc(b->ids, nc * k * sizeof *ni);
        if (!ni)
            return lf_fail(err, LF_ENOMEM, "import: out of memory at record %llu",
                           (unsigned long long)b->n);
        b->ids = ni;
        if (w) {
            float *nw = realloc(b->w, nc * k * sizeof *nw);
            if (!nw)
                return lf_fail(err, LF_ENOMEM, "import: out of memory at record %llu",
                               (unsigned long long)b->n);
            b->w = nw;
        }
        b->cap = nc;
    }
    memcpy(b->ids + b->n * k, ids, k * sizeof *ids);
    if (w)
        memcpy(b->w + b->n * k, w, k * sizeof *w);
    b->n++;
    return LF_OK;
}

/* A known MoE model whose name occurs in the log's model_id ("Qwen/Qwen1.5-MoE-A2.7B-Chat"
 * contains "qwen1.5-moe-a2.7b"); the longest match wins. */
static int match_model_id(const char *model_id, lf_model *out)
{
    char names[1024];
    snprintf(names, sizeof names, "%s", lf_model_names());
    int found = 0;
    size_t best = 0;
    char *save = NULL;
    for (char *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        lf_model m;
        if (strchr(tok, ':') || !strcasestr(model_id, tok) || strlen(tok) <= best)
            continue;
        if (lf_model_lookup(tok, &m, NULL) == LF_OK && m.kind == LF_UNITS_EXPERTS) {
            *out = m;
            best = strlen(tok);
            found = 1;
        }
    }
    return found;
}

/* "FILE:LINE: what (fix)". */
static int ferr(lf_err *err, int code, const ifile *f, const char *fix, const char *what)
{
    return lf_fail(err, code, "%s:%ld: %s %s", f->path, f->line, what, fix);
}

/* An integer as read: json-c clamps what does not fit 64 bits to its limits, which are
 * then not the file's number. */
static const char *int_text(char buf[32], int64_t x)
{
    if (x == INT64_MAX || x == INT64_MIN)
        return x > 0 ? "(2^63 - 1 or more)" : "(-2^63 or less)";
    snprintf(buf, 32, "%lld", (long long)x);
    return buf;
}

static int get_int(json_object *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   const ifile *f, lf_err *err)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return LF_EINVAL - 100; /* absent: the caller decides */
    if (!json_object_is_type(v, json_type_int))
        return lf_fail(err, LF_EFORMAT, "%s:%ld: \"%s\" must be an integer", f->path, f->line, key);
    int64_t x = json_object_get_int64(v);
    char shown[32];
    if (x < lo || x > hi)
        return lf_fail(err, LF_ERANGE, "%s:%ld: \"%s\" = %s is out of range %lld..%lld", f->path,
                       f->line, key, int_text(shown, x), (long long)lo, (long long)hi);
    *out = x;
    return LF_OK;
}

/* Optional integer: absent leaves *out untouched. */
static int opt_int(json_object *obj, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   const ifile *f, lf_err *err)
{
    int rc = get_int(obj, key, lo, hi, out, f, err);
    return rc == LF_EINVAL - 100 ? LF_OK : rc;
}

static int handle_meta(ictx *c, ifile *f, json_object *obj, lf_err *err)
{
    if (f->seen_route)
        return ferr(err, LF_EFORMAT, f, "(a meta line must come before the route records)",
                    "meta line after route records");
    if (f->seen_meta)
        return ferr(err, LF_EFORMAT, f, "(one meta line per file)", "second meta line");
    f->seen_meta = 1;
    json_object *v;
    if (json_object_object_get_ex(obj, "model_id", &v) && json_object_is_type(v, json_type_string)) {
        const char *id = json_object_get_string(v);
        if (c->model_id[0] && strcmp(c->model_id, id) != 0)
            return lf_fail(err, LF_EFORMAT,
                           "%s:%ld: model_id '%s' differs from '%s' of the files before: import "
                           "files of one model and one run",
                           f->path, f->line, id, c->model_id);
        snprintf(c->model_id, sizeof c->model_id, "%s", id);
    }
    int64_t k = -1, e = -1;
    int rc = opt_int(obj, "top_k", 1, MAX_TOPK, &k, f, err);
    if (!rc)
        rc = opt_int(obj, "num_experts", 1, 1 << 24, &e, f, err);
    if (rc)
        return rc;
    if (k > 0 && c->meta_top_k > 0 && k != c->meta_top_k)
        return lf_fail(err, LF_EFORMAT, "%s:%ld: top_k %lld differs from %lld in the files before",
                       f->path, f->line, (long long)k, (long long)c->meta_top_k);
    if (e > 0 && c->meta_experts > 0 && e != c->meta_experts)
        return lf_fail(err, LF_EFORMAT,
                       "%s:%ld: num_experts %lld differs from %lld in the files before", f->path,
                       f->line, (long long)e, (long long)c->meta_experts);
    if (k > 0)
        c->meta_top_k = k;
    if (e > 0)
        c->meta_experts = e;
    if (json_object_object_get_ex(obj, "layers_logged", &v) &&
        json_object_is_type(v, json_type_array) && json_object_array_length(v) > 1)
        return lf_fail(err, LF_EFORMAT,
                       "%s:%ld: the log holds %zu layers; this importer takes one layer per "
                       "file (split the log by its \"layer\" field)",
                       f->path, f->line, json_object_array_length(v));
    return LF_OK;
}

/* Fixes experts and top-k when the first route record arrives. */
static int resolve_shape(ictx *c, const ifile *f, uint32_t first_len, lf_err *err)
{
    if (c->n_experts)
        return LF_OK;
    const lf_import_opts *o = c->o;
    lf_model m;
    if (!c->have_model && c->model_id[0] && match_model_id(c->model_id, &m)) {
        c->model = m;
        c->have_model = 1;
    }
    uint32_t e = 0;
    const char *from = "";
    if (o->n_experts) {
        e = o->n_experts;
        from = "--experts";
    } else if (c->meta_experts > 0) {
        e = (uint32_t)c->meta_experts;
        from = "the meta line's num_experts";
    } else if (c->have_model) {
        e = c->model.n_experts;
        from = c->model.name;
    }
    if (!e)
        return lf_fail(err, LF_EINVAL,
                       "%s:%ld: the number of experts is unknown: the meta line has no "
                       "num_experts and model_id '%s' is not a known model; give --model NAME "
                       "(known: %s) or --experts N",
                       f->path, f->line, c->model_id[0] ? c->model_id : "(none)", lf_model_names());
    if (c->meta_experts > 0 && (uint32_t)c->meta_experts != e)
        return lf_fail(err, LF_EINVAL, "%s: num_experts %lld in the log but %u from %s", f->path,
                       (long long)c->meta_experts, e, from);
    if (c->have_model && c->model.n_experts != e)
        return lf_fail(err, LF_EINVAL, "%s: %u experts from %s but model %s has %u", f->path, e,
                       from, c->model.name, c->model.n_experts);
    uint32_t k = c->meta_top_k > 0 ? (uint32_t)c->meta_top_k
                 : c->have_model   ? c->model.top_k
                                   : first_len;
    if (c->have_model && c->meta_top_k > 0 && c->model.top_k != k)
        return lf_fail(err, LF_EINVAL, "%s: top_k %u in the log but model %s routes top-%u",
                       f->path, k, c->model.name, c->model.top_k);
    if (k == 0 || k > e)
        return lf_fail(err, LF_EINVAL, "%s: top_k %u must be in 1..%u (the experts)", f->path, k, e);
    c->n_experts = e;
    c->top_k = k;
    return LF_OK;
}

/* Sorts ids ascending, carrying w along (insertion sort: k is small). */
static void sort_pairs(uint32_t *ids, float *w, uint32_t k)
{
    for (uint32_t i = 1; i < k; i++) {
        uint32_t x = ids[i];
        float y = w ? w[i] : 0;
        uint32_t j = i;
        for (; j > 0 && ids[j - 1] > x; j--) {
            ids[j] = ids[j - 1];
            if (w)
                w[j] = w[j - 1];
        }
        ids[j] = x;
        if (w)
            w[j] = y;
    }
}

static int handle_route(ictx *c, ifile *f, json_object *obj, recbuf *buf, lf_err *err)
{
    json_object *ids_o, *w_o = NULL;
    if (!json_object_object_get_ex(obj, "topk_ids", &ids_o) ||
        !json_object_is_type(ids_o, json_type_array))
        return ferr(err, LF_EFORMAT, f, "(expected \"topk_ids\": [id, ...])",
                    "route record without a topk_ids array");
    size_t n = json_object_array_length(ids_o);
    int rc = resolve_shape(c, f, (uint32_t)(n < MAX_TOPK ? n : MAX_TOPK), err);
    if (rc)
        return rc;
    if (n != c->top_k)
        return lf_fail(err, LF_EFORMAT, "%s:%ld: topk_ids has %zu ids but the model routes top-%u",
                       f->path, f->line, n, c->top_k);
    int has_w = json_object_object_get_ex(obj, "topk_weights", &w_o);
    if (c->has_weights < 0)
        c->has_weights = has_w;
    if (has_w != c->has_weights)
        return lf_fail(err, LF_EFORMAT, "%s:%ld: topk_weights %s here but %s in the first record",
                       f->path, f->line, has_w ? "present" : "absent", has_w ? "absent" : "present");
    if (has_w && (!json_object_is_type(w_o, json_type_array) || json_object_array_length(w_o) != n))
        return lf_fail(err, LF_EFORMAT,
                       "%s:%ld: topk_weights must be an array of %zu numbers, like topk_ids",
                       f->path, f->line, n);
    int64_t layer = (int64_t)(c->prev_layer + 1);
    rc = opt_int(obj, "layer", 0, 1 << 20, &layer, f, err);
    if (rc)
        return rc;
    if (!f->seen_route) {
        f->layer = layer;
        if (layer <= c->prev_layer)
            return lf_fail(err, LF_EFORMAT,
                           "%s:%ld: records of layer %lld, but the file before held layer %lld: "
                           "give one file per layer, in layer order",
                           f->path, f->line, (long long)layer, (long long)c->prev_layer);
    } else if (layer != f->layer) {
        return lf_fail(err, LF_EFORMAT,
                       "%s:%ld: layer %lld, but the file's records so far are of layer %lld: the "
                       "importer takes one layer per file",
                       f->path, f->line, (long long)layer, (long long)f->layer);
    }
    uint32_t ids[MAX_TOPK];
    float w[MAX_TOPK];
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(ids_o, i);
        if (!json_object_is_type(v, json_type_int))
            return lf_fail(err, LF_EFORMAT, "%s:%ld: topk_ids[%zu] is not an integer", f->path,
                           f->line, i);
        int64_t x = json_object_get_int64(v);
        char shown[32];
        if (x < 0 || x >= c->n_experts)
            return lf_fail(err, LF_ERANGE,
                           "%s:%ld: expert id %s is out of range 0..%u (the model has %u "
                           "experts; check --model/--experts)",
                           f->path, f->line, int_text(shown, x), c->n_experts - 1, c->n_experts);
        ids[i] = (uint32_t)x;
        if (has_w) {
            json_object *y = json_object_array_get_idx(w_o, i);
            if (!json_object_is_type(y, json_type_double) && !json_object_is_type(y, json_type_int))
                return lf_fail(err, LF_EFORMAT, "%s:%ld: topk_weights[%zu] is not a number",
                               f->path, f->line, i);
            double d = json_object_get_double(y);
            /* a router weight is a probability-like gate: NaN, inf or < 0 is a broken log */
            if (!isfinite(d) || d < 0 || !isfinite((float)d))
                return lf_fail(err, LF_EFORMAT, "%s:%ld: topk_weights[%zu] = %g is not a finite "
                               "number >= 0", f->path, f->line, i, d);
            w[i] = (float)d;
        }
    }
    if (!f->seen_route) {
        memcpy(f->first_raw, ids, n * sizeof *ids);
        f->warm_open = 1;
    }
    if (f->warm_open && memcmp(f->first_raw, ids, n * sizeof *ids) == 0)
        f->info.warmup++;
    else
        f->warm_open = 0;
    f->seen_route = 1;
    sort_pairs(ids, has_w ? w : NULL, (uint32_t)n);
    for (size_t i = 1; i < n; i++)
        if (ids[i] == ids[i - 1])
            return lf_fail(err, LF_EFORMAT, "%s:%ld: expert %u appears twice in topk_ids", f->path,
                           f->line, ids[i]);
    f->info.records++;
    return recbuf_push(buf, ids, has_w ? w : NULL, (uint32_t)n, err);
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

/* Members of the outer object as written: one ':' outside strings at depth 1 each.
 * json-c keeps the last of repeated keys silently, so fewer parsed members than this
 * means a key was repeated. */
static size_t members_written(const char *s, size_t len)
{
    size_t n = 0;
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        } else if (ch == ':' && depth == 1) {
            n++;
        }
    }
    return n;
}

static int handle_line(ictx *c, ifile *f, json_tokener *tok, const char *line, size_t len,
                       recbuf *buf, lf_err *err)
{
    json_tokener_reset(tok);
    json_object *obj = json_tokener_parse_ex(tok, line, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    if (!obj || je != json_tokener_success) {
        if (obj)
            json_object_put(obj);
        return lf_fail(err, LF_EFORMAT, "%s:%ld: not a JSON object (%s); each line must be one "
                       "JSON object",
                       f->path, f->line,
                       je == json_tokener_continue ? "truncated line" : json_tokener_error_desc(je));
    }
    size_t end = json_tokener_get_parse_end(tok);
    int rc = LF_OK;
    json_object *type;
    if (end < len && !blank(line + end))
        rc = lf_fail(err, LF_EFORMAT, "%s:%ld: text after the JSON object at column %zu", f->path,
                     f->line, end + 1);
    else if (!json_object_is_type(obj, json_type_object))
        rc = lf_fail(err, LF_EFORMAT, "%s:%ld: not a JSON object", f->path, f->line);
    else if (members_written(line, end) != (size_t)json_object_object_length(obj))
        rc = lf_fail(err, LF_EFORMAT, "%s:%ld: a key appears twice in the object (which one "
                     "counts is ambiguous): fix the log", f->path, f->line);
    else if (!json_object_object_get_ex(obj, "type", &type) ||
             !json_object_is_type(type, json_type_string))
        rc = lf_fail(err, LF_EFORMAT, "%s:%ld: no \"type\" field (expected \"meta\" or \"route\")",
                     f->path, f->line);
    else if (!strcmp(json_object_get_string(type), "meta"))
        rc = handle_meta(c, f, obj, err);
    else if (!strcmp(json_object_get_string(type), "route"))
        rc = handle_route(c, f, obj, buf, err);
    else
        rc = lf_fail(err, LF_EFORMAT, "%s:%ld: unknown record type '%s' (expected meta or route)",
                     f->path, f->line, json_object_get_string(type));
    json_object_put(obj);
    return rc;
}

/* Reads one line (without its '\n') into *buf (grown up to LF_IMPORT_LINE_MAX + 1 bytes).
 * Returns its length, -1 at the end of the file, -2 when longer than LF_IMPORT_LINE_MAX,
 * -3 on a NUL byte, -4 when out of memory. Bounded: an endless line costs no memory. */
static long read_line(FILE *fp, char **buf, size_t *cap)
{
    long n = 0;
    int ch, nul = 0;
    while ((ch = getc_unlocked(fp)) != EOF && ch != '\n') {
        if (n == LF_IMPORT_LINE_MAX)
            return -2;
        if ((size_t)n + 1 >= *cap) {
            size_t nc = *cap ? *cap * 2 : 4096;
            if (nc > (size_t)LF_IMPORT_LINE_MAX + 1)
                nc = (size_t)LF_IMPORT_LINE_MAX + 1;
            char *p = realloc(*buf, nc);
            if (!p)
                return -4;
            *buf = p;
            *cap = nc;
        }
        nul |= ch == 0;
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && n == 0)
        return -1;
    if (!*buf && !(*buf = malloc(*cap = 4096)))
        return -4;
    (*buf)[n] = '\0';
    return nul ? -3 : n;
}

static int read_file(ictx *c, ifile *f, recbuf *buf, lf_err *err)
{
    lf_err e2;
    FILE *fp = lf_open_regular(f->path, NULL, &e2);
    if (!fp)
        return lf_fail(err, e2.code, "%s", e2.msg);
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        fclose(fp);
        return lf_fail(err, LF_ENOMEM, "import: out of memory");
    }
    char *line = NULL;
    size_t cap = 0;
    long len;
    int rc = LF_OK;
    while (rc == LF_OK && (len = read_line(fp, &line, &cap)) != -1) {
        f->line++;
        if (len == -2)
            rc = lf_fail(err, LF_EFORMAT, "%s:%ld: line longer than %d bytes (a route record is "
                         "far shorter: is it the right file?)", f->path, f->line, LF_IMPORT_LINE_MAX);
        else if (len == -3)
            rc = lf_fail(err, LF_EFORMAT, "%s:%ld: NUL byte in a text line", f->path, f->line);
        else if (len == -4) /* never a silently shorter trace */
            rc = lf_fail(err, LF_ENOMEM, "%s:%ld: out of memory reading the line", f->path, f->line);
        else if (!blank(line))
            rc = handle_line(c, f, tok, line, (size_t)len, buf, err);
    }
    if (rc == LF_OK && ferror(fp))
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: read failed after line %ld", f->path, f->line);
    free(line);
    json_tokener_free(tok);
    fclose(fp);
    if (rc == LF_OK && f->info.records == 0)
        rc = lf_fail(err, LF_EFORMAT, "%s: no route records (%ld lines)", f->path, f->line);
    return rc;
}

static int decide_drop(const ictx *c, ifile *f, lf_err *err)
{
    if (c->o->drop_warmup)
        f->info.dropped = f->info.warmup > 1 ? f->info.warmup : 0;
    else
        f->info.dropped = c->o->drop_prefix;
    if (f->info.dropped >= f->info.records)
        return lf_fail(err, LF_EINVAL,
                       "%s: dropping %llu of its %llu route records leaves nothing; drop fewer",
                       f->path, (unsigned long long)f->info.dropped,
                       (unsigned long long)f->info.records);
    return LF_OK;
}

/* Tokens to import: every file's records after dropping must agree (or reach --tokens). */
static int common_tokens(const ictx *c, ifile *fs, size_t n_files, uint64_t *out, lf_err *err)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t ilo = 0, ihi = 0;
    for (size_t i = 0; i < n_files; i++) {
        uint64_t t = fs[i].info.records - fs[i].info.dropped;
        if (t < lo) {
            lo = t;
            ilo = i;
        }
        if (t > hi) {
            hi = t;
            ihi = i;
        }
    }
    uint64_t want = c->o->max_tokens;
    if (want && lo >= want)
        *out = want;
    else if (lo == hi)
        *out = lo;
    else
        return lf_fail(err, LF_EFORMAT,
                       "files of different lengths: %s has %llu records after dropping %llu, %s "
                       "has %llu after dropping %llu; import the layers of one run, or cut them "
                       "with --tokens N (N <= %llu)",
                       fs[ilo].path, (unsigned long long)lo, (unsigned long long)fs[ilo].info.dropped,
                       fs[ihi].path, (unsigned long long)hi, (unsigned long long)fs[ihi].info.dropped,
                       (unsigned long long)lo);
    if (*out > UINT32_MAX - 1)
        return lf_fail(err, LF_ERANGE, "import: %llu tokens is more than a trace holds",
                       (unsigned long long)*out);
    return LF_OK;
}

static void base_name(const char *p, char *out, size_t cap)
{
    const char *s = strrchr(p, '/');
    snprintf(out, cap, "%s", s ? s + 1 : p);
}

static int build_trace(const ictx *c, ifile *fs, recbuf *bufs, size_t n_files, uint64_t n_tok,
                       lf_trace *out, lf_err *err)
{
    const char *label = c->have_model ? c->model.name : c->model_id[0] ? c->model_id : "unknown";
    int rc = lf_trace_init_shape(out, LF_UNITS_EXPERTS, label, (uint32_t)n_files,
                                 c->have_model ? c->model.d_model : 0, c->n_experts, c->top_k, 2,
                                 c->has_weights > 0, 0, err);
    if (rc)
        return rc;
    snprintf(out->source, sizeof out->source, "imported");
    int p = snprintf(out->generator, sizeof out->generator,
                     "importer=vllm-moe-jsonl model_id=%s drop=%s tokens=%llu files=",
                     c->model_id[0] ? c->model_id : "unknown",
                     c->o->drop_warmup ? "warmup" : "prefix", (unsigned long long)n_tok);
    for (size_t i = 0; i < n_files && p > 0 && (size_t)p < sizeof out->generator; i++) {
        char b[256];
        base_name(fs[i].path, b, sizeof b);
        p += snprintf(out->generator + p, sizeof out->generator - (size_t)p, "%s%s:%llu",
                      i ? "," : "", b, (unsigned long long)fs[i].info.dropped);
    }
    for (uint64_t t = 0; t < n_tok && rc == LF_OK; t++) {
        for (size_t l = 0; l < n_files && rc == LF_OK; l++) {
            uint64_t r = (fs[l].info.dropped + t) * c->top_k;
            rc = lf_trace_append_layer(out, (uint32_t)l, bufs[l].ids + r, c->top_k,
                                       bufs[l].w ? bufs[l].w + r : NULL, err);
        }
        if (rc == LF_OK)
            rc = lf_trace_end_token(out, -1, err);
    }
    if (rc)
        lf_trace_free(out);
    return rc;
}

int lf_import_vllm_moe(const char *const *files, size_t n_files, const lf_import_opts *opts,
                       lf_trace *out, lf_import_info *info, char *model_id, size_t model_id_cap,
                       lf_err *err)
{
    memset(out, 0, sizeof *out);
    if (n_files == 0)
        return lf_fail(err, LF_EINVAL, "import: no input files (give one JSONL file per layer)");
    if (n_files > 4096)
        return lf_fail(err, LF_EINVAL, "import: %zu files; at most 4096 layers", n_files);
    if (opts->drop_warmup && opts->drop_prefix)
        return lf_fail(err, LF_EINVAL, "import: give either a prefix count or warm-up detection");
    ictx c;
    memset(&c, 0, sizeof c);
    c.o = opts;
    c.has_weights = -1;
    c.meta_top_k = c.meta_experts = -1;
    c.prev_layer = -1;
    if (opts->model) {
        int rc = lf_model_lookup(opts->model, &c.model, err);
        if (rc)
            return rc;
        if (c.model.kind != LF_UNITS_EXPERTS)
            return lf_fail(err, LF_EINVAL, "import: model %s is not a mixture of experts",
                           c.model.name);
        c.have_model = 1;
    }
    ifile *fs = calloc(n_files, sizeof *fs);
    recbuf *bufs = calloc(n_files, sizeof *bufs);
    int rc = fs && bufs ? LF_OK : lf_fail(err, LF_ENOMEM, "import: out of memory");
    for (size_t i = 0; i < n_files && rc == LF_OK; i++) {
        fs[i].path = files[i];
        rc = read_file(&c, &fs[i], &bufs[i], err);
        if (rc == LF_OK) {
            c.prev_layer = fs[i].layer;
            fs[i].info.layer = (uint32_t)fs[i].layer;
            rc = decide_drop(&c, &fs[i], err);
        }
    }
    uint64_t n_tok = 0;
    if (rc == LF_OK)
        rc = common_tokens(&c, fs, n_files, &n_tok, err);
    if (rc == LF_OK)
        rc = build_trace(&c, fs, bufs, n_files, n_tok, out, err);
    if (rc == LF_OK) /* the logs name their layers: the trace says which it holds */
        out->first_layer = (int32_t)fs[0].layer;
    if (rc == LF_OK && info)
        for (size_t i = 0; i < n_files; i++)
            info[i] = fs[i].info;
    if (model_id && model_id_cap)
        snprintf(model_id, model_id_cap, "%s", c.model_id);
    for (size_t i = 0; bufs && i < n_files; i++)
        recbuf_free(&bufs[i]);
    free(bufs);
    free(fs);
    return rc;
}
