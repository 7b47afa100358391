#include "lf_kv.h"
#include "lf_fs.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lf_kv_init(lf_kv *kv, const char *source)
{
    memset(kv, 0, sizeof *kv);
    snprintf(kv->source, sizeof kv->source, "%s", source ? source : "");
}

void lf_kv_free(lf_kv *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->items[i].key);
        free(kv->items[i].value);
    }
    free(kv->items);
    kv->items = NULL;
    kv->n = kv->cap = 0;
}

const lf_kv_entry *lf_kv_find(const lf_kv *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->items[i].key, key) == 0)
            return &kv->items[i];
    return NULL;
}

int lf_kv_set(lf_kv *kv, const char *key, const char *value, int line, lf_err *err)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcmp(kv->items[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return lf_fail(err, LF_ENOMEM, "out of memory");
            free(kv->items[i].value);
            kv->items[i].value = v;
            kv->items[i].line = line;
            return LF_OK;
        }
    }
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 16;
        lf_kv_entry *p = realloc(kv->items, cap * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "out of memory");
        kv->items = p;
        kv->cap = cap;
    }
    lf_kv_entry *e = &kv->items[kv->n];
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = line;
    e->used = 0;
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    kv->n++;
    return LF_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

char *lf_kv_trim(char *s)
{
    return trim(s);
}

int lf_kv_parse_text(const char *text, size_t len, const char *source, lf_kv *out, lf_err *err)
{
    lf_kv_init(out, source);
    char buf[LF_KV_LINE_MAX + 2];
    int line = 0, rc = LF_OK;
    for (size_t at = 0; at < len && rc == LF_OK;) {
        const char *p = text + at;
        const char *nl = memchr(p, '\n', len - at);
        size_t n = nl ? (size_t)(nl - p) : len - at;
        at += n + (nl != NULL);
        line++;
        if (n > LF_KV_LINE_MAX) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: line longer than %d characters", source, line,
                         LF_KV_LINE_MAX);
            break;
        }
        /* a NUL would cut the value short without a word: a text file has none */
        if (memchr(p, '\0', n)) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: NUL byte in a text file (is it a binary file, or "
                         "UTF-16?)", source, line);
            break;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(buf);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: expected 'key = value', got '%.200s'", source, line,
                         s);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*key) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: empty key before '='", source, line);
            break;
        }
        const lf_kv_entry *prev = lf_kv_find(out, key);
        if (prev) {
            rc = lf_fail(err, LF_EFORMAT, "%s:%d: key '%.200s' already set on line %d", source, line,
                         key, prev->line);
            break;
        }
        rc = lf_kv_set(out, key, value, line, err);
    }
    if (rc != LF_OK)
        lf_kv_free(out);
    return rc;
}

int lf_kv_parse_file(const char *path, lf_kv *out, lf_err *err)
{
    lf_kv_init(out, path);
    char *data;
    size_t len;
    /* a `key = value` file is small: bounded, and only a regular file (never /dev/zero) */
    int rc = lf_read_file_max(path, LF_KV_FILE_MAX, &data, &len, err);
    if (rc != LF_OK)
        return rc;
    rc = lf_kv_parse_text(data, len, path, out, err);
    free(data);
    return rc;
}

int lf_kv_parse_spec(const char *spec, lf_kv *out, char *name_out, size_t name_cap, lf_err *err)
{
    char src[256];
    snprintf(src, sizeof src, "'%s'", spec);
    lf_kv_init(out, src);
    char *copy = strdup(spec);
    if (!copy)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    char *params = copy;
    if (name_out) {
        char *colon = strchr(copy, ':');
        if (colon) {
            *colon = '\0';
            params = colon + 1;
        } else {
            params = copy + strlen(copy);
        }
        char *name = trim(copy);
        if (strlen(name) >= name_cap) {
            free(copy);
            return lf_fail(err, LF_EINVAL, "'%s': name too long", spec);
        }
        snprintf(name_out, name_cap, "%s", name);
    }
    int rc = LF_OK;
    char *save = NULL;
    for (char *tok = strtok_r(params, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            rc = lf_fail(err, LF_EINVAL, "'%s': expected key=value, got '%s'", spec, trim(tok));
            break;
        }
        *eq = '\0';
        char *key = trim(tok), *value = trim(eq + 1);
        if (!*key || lf_kv_find(out, key)) {
            rc = lf_fail(err, LF_EINVAL, "'%s': %s key '%s'", spec, *key ? "repeated" : "empty", key);
            break;
        }
        if ((rc = lf_kv_set(out, key, value, 0, err)) != LF_OK)
            break;
    }
    free(copy);
    if (rc != LF_OK)
        lf_kv_free(out);
    return rc;
}

const char *lf_kv_get(const lf_kv *kv, const char *key)
{
    lf_kv_entry *e = (lf_kv_entry *)lf_kv_find(kv, key);
    if (!e)
        return NULL;
    e->used = 1;
    return e->value;
}

static int where(const lf_kv *kv, const lf_kv_entry *e, char *buf, size_t cap)
{
    if (e->line > 0)
        return snprintf(buf, cap, "%s:%d", kv->source, e->line);
    return snprintf(buf, cap, "%s", kv->source);
}

int lf_kv_double(const lf_kv *kv, const char *key, double def, double *out, lf_err *err)
{
    const char *v = lf_kv_get(kv, key);
    if (!v) {
        *out = def;
        return LF_OK;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    /* strtod also takes hexadecimal ("0x10" = 16): a profile means decimal, so refuse it */
    if (end == v || *end || errno || !isfinite(d) || strpbrk(v, "xX")) {
        char w[300];
        where(kv, lf_kv_find(kv, key), w, sizeof w);
        return lf_fail(err, LF_EINVAL, "%s: %s = '%s' is not a number", w, key, v);
    }
    *out = d;
    return LF_OK;
}

int lf_kv_u64(const lf_kv *kv, const char *key, uint64_t def, uint64_t *out, lf_err *err)
{
    const char *v = lf_kv_get(kv, key);
    if (!v) {
        *out = def;
        return LF_OK;
    }
    if (lf_parse_size(v, out) != 0) {
        char w[300];
        where(kv, lf_kv_find(kv, key), w, sizeof w);
        return lf_fail(err, LF_EINVAL, "%s: %s = '%s' is not a non-negative integer", w, key, v);
    }
    return LF_OK;
}

static int missing(const lf_kv *kv, const char *key, lf_err *err)
{
    return lf_fail(err, LF_EINVAL, "%s: missing key '%s'", kv->source, key);
}

int lf_kv_need_double(const lf_kv *kv, const char *key, double *out, lf_err *err)
{
    if (!lf_kv_find(kv, key))
        return missing(kv, key, err);
    return lf_kv_double(kv, key, 0, out, err);
}

int lf_kv_need_u64(const lf_kv *kv, const char *key, uint64_t *out, lf_err *err)
{
    if (!lf_kv_find(kv, key))
        return missing(kv, key, err);
    return lf_kv_u64(kv, key, 0, out, err);
}

int lf_kv_check_known(const lf_kv *kv, const char *const *valid, lf_err *err)
{
    for (size_t i = 0; i < kv->n; i++) {
        int ok = 0;
        for (const char *const *v = valid; *v; v++)
            if (strcmp(*v, kv->items[i].key) == 0)
                ok = 1;
        if (!ok) {
            /* whole keys only: a list cut mid-word names a key that does not exist */
            char list[560] = "";
            size_t len = 0, more = 0;
            for (const char *const *v = valid; *v; v++) {
                if (more || len + strlen(*v) + 2 > 500) {
                    more++;
                    continue;
                }
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *v);
            }
            if (more)
                snprintf(list + len, sizeof list - len, " and %zu more", more);
            char w[300];
            where(kv, &kv->items[i], w, sizeof w);
            return lf_fail(err, LF_EINVAL, "%s: unknown key '%s' (valid keys: %s)", w,
                           kv->items[i].key, *valid ? list : "none");
        }
    }
    return LF_OK;
}

/* digits, then an optional k/m/g(/t) suffix worth `unit` to its power; sizes also take
 * an "i", "B" or "iB" after it. */
static int parse_scaled(const char *s, uint64_t unit, int size, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t mult = 1;
    const char *suffixes = size ? "kmgt" : "kmg";
    const char *at = *end ? strchr(suffixes, tolower((unsigned char)*end)) : NULL;
    if (*end && !at)
        return -1;
    if (at) {
        for (const char *p = suffixes; p <= at; p++)
            mult *= unit;
        end++;
        if (size && (*end == 'i' || *end == 'B'))
            end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    }
    if (*end || v > UINT64_MAX / mult)
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

int lf_parse_size(const char *s, uint64_t *out)
{
    return parse_scaled(s, 1024, 1, out);
}

int lf_parse_count(const char *s, uint64_t *out)
{
    return parse_scaled(s, 1000, 0, out);
}

int lf_parse_size_list(const char *s, uint64_t **out, size_t *n, lf_err *err)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(s);
    if (!copy)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    uint64_t *v = calloc(cap, sizeof *v);
    if (!v) {
        free(copy);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    size_t k = 0;
    /* item by item, empty ones included: "1,,2" is a typo, not the list 1,2 */
    for (char *tok = copy, *next; tok; tok = next, k++) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        char *t = trim(tok);
        if (lf_parse_size(t, &v[k]) != 0) {
            int rc = *t ? lf_fail(err, LF_EINVAL, "'%s': '%s' is not a size (examples: 4096, 16k, "
                                  "1m)", s, t)
                        : lf_fail(err, LF_EINVAL, "'%s': item %zu is empty", s, k + 1);
            free(copy);
            free(v);
            return rc;
        }
    }
    free(copy);
    *out = v;
    *n = k;
    return LF_OK;
}

int lf_kv_setf(lf_kv *kv, lf_err *err, const char *key, const char *fmt, ...)
{
    char v[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return lf_kv_set(kv, key, v, 0, err);
}
