/* lf_kv: `key = value` lists, from config files (one pair a line, `#` comments)
 * or from spec strings such as "window:k=4,budget=0.5". Used for device profiles,
 * policy parameters, sweep files. The lf_kv owns copies of every key and value. */
#ifndef LF_KV_H
#define LF_KV_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

typedef struct {
    char *key;
    char *value;
    int line;  /* 1-based line in the source file; 0 for spec strings */
    int used;  /* set by the getters; lf_kv_check_unknown reports unused keys */
} lf_kv_entry;

typedef struct {
    lf_kv_entry *items;
    size_t n, cap;
    char source[256]; /* file name or "spec 'xxx'", used in messages */
} lf_kv;

void lf_kv_init(lf_kv *kv, const char *source);
void lf_kv_free(lf_kv *kv);

#define LF_KV_LINE_MAX 4094        /* characters in one line */
#define LF_KV_FILE_MAX (16u << 20) /* bytes in one file */

/* Parses a file of `key = value` lines. Blank lines and `#` comments are skipped
 * (a `#` after a value starts a comment too). A repeated key, a NUL byte, a line over
 * LF_KV_LINE_MAX and a file that is not regular or over LF_KV_FILE_MAX are errors. */
int lf_kv_parse_file(const char *path, lf_kv *out, lf_err *err);
/* The same over len bytes of text (need not be NUL-terminated); source names it in messages. */
int lf_kv_parse_text(const char *text, size_t len, const char *source, lf_kv *out, lf_err *err);

/* Parses "name:k=v,k=v" (or "name", or "k=v,k=v" when name_out is NULL).
 * name_out receives the part before ':' (cap bytes). */
int lf_kv_parse_spec(const char *spec, lf_kv *out, char *name_out, size_t name_cap,
                     lf_err *err);

/* Adds or replaces a pair. */
int lf_kv_set(lf_kv *kv, const char *key, const char *value, int line, lf_err *err);
/* lf_kv_set of a printf-formatted value (cut at 4 KiB), line 0; err may be NULL. */
int lf_kv_setf(lf_kv *kv, lf_err *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The value of key, or NULL; marks it used. */
const char *lf_kv_get(const lf_kv *kv, const char *key);
const lf_kv_entry *lf_kv_find(const lf_kv *kv, const char *key);

/* Typed getters. Absent key: *out = def and LF_OK. A value that is not a decimal number
 * (hexadecimal, inf, nan, out of range) is LF_EINVAL naming source, line and key. */
int lf_kv_double(const lf_kv *kv, const char *key, double def, double *out, lf_err *err);
int lf_kv_u64(const lf_kv *kv, const char *key, uint64_t def, uint64_t *out, lf_err *err);
/* Same, but an absent key is an error. */
int lf_kv_need_double(const lf_kv *kv, const char *key, double *out, lf_err *err);
int lf_kv_need_u64(const lf_kv *kv, const char *key, uint64_t *out, lf_err *err);

/* Error if any key is not in the NULL-terminated list `valid`; the message lists them. */
int lf_kv_check_known(const lf_kv *kv, const char *const *valid, lf_err *err);

/* Strips leading and trailing white space in place; returns the first non-blank. */
char *lf_kv_trim(char *s);

/* Parses a size such as "4k", "32K", "1m", "2g", "4096" (binary units). */
int lf_parse_size(const char *s, uint64_t *out);
/* Parses a count: "1500", "10k" (10000), "2m", "1g" (decimal units, unlike sizes). */
int lf_parse_count(const char *s, uint64_t *out);
/* Parses a comma list of sizes / unsigned ints into a malloc'ed array the caller frees;
 * an empty item (or list) is refused. */
int lf_parse_size_list(const char *s, uint64_t **out, size_t *n, lf_err *err);

#endif
