/* The llama2.c tokenizer format. Hand-written: the format and its merge rule are
 * llama2.c's own (a sentencepiece BPE vocabulary exported with scores), no library
 * reads it. */
#include "lf_tok.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"

static const lf_tok *sort_tok; /* qsort has no context argument in C11 */

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(sort_tok->vocab[*(const uint32_t *)a], sort_tok->vocab[*(const uint32_t *)b]);
}

int lf_tok_load(lf_tok *t, const char *path, uint32_t vocab_size, lf_err *err)
{
    memset(t, 0, sizeof *t);
    char *data = NULL;
    size_t len = 0;
    /* bounded by the file's size; a tokenizer is a few MB (256 MiB allows 4M tokens) */
    int rc = lf_read_file_max(path, (size_t)256 << 20, &data, &len, err);
    if (rc)
        return lf_err_prefix(err, "tokenizer");
    if (vocab_size == 0 || len < 4) {
        free(data);
        return lf_fail(err, LF_EFORMAT, "tokenizer %s: %zu bytes, too short for a llama2.c "
                       "tokenizer (or vocab_size 0)", path, len);
    }
    int32_t maxlen;
    memcpy(&maxlen, data, 4);
    if (maxlen <= 0 || maxlen > 65536) {
        free(data);
        return lf_fail(err, LF_EFORMAT, "tokenizer %s: max_token_length %d is out of range "
                       "(1..65536): not a llama2.c tokenizer file", path, maxlen);
    }
    if ((uint64_t)vocab_size * 8 > len - 4) { /* before allocating for vocab_size tokens */
        free(data);
        return lf_fail(err, LF_EFORMAT, "tokenizer %s: %zu bytes cannot hold %u tokens (8 bytes "
                       "each at least): truncated, or made for a smaller vocabulary", path, len,
                       vocab_size);
    }
    t->vocab_size = vocab_size;
    t->max_token_length = (uint32_t)maxlen;
    t->vocab = calloc(vocab_size, sizeof *t->vocab);
    t->scores = calloc(vocab_size, sizeof *t->scores);
    t->sorted = calloc(vocab_size, sizeof *t->sorted);
    if (!t->vocab || !t->scores || !t->sorted) {
        free(data);
        lf_tok_free(t);
        return lf_fail(err, LF_ENOMEM, "tokenizer %s: out of memory", path);
    }
    size_t off = 4;
    for (uint32_t i = 0; i < vocab_size; i++) {
        int32_t n;
        if (len - off < 8) {
            rc = lf_fail(err, LF_EFORMAT, "tokenizer %s: ends at byte %zu inside token %u of "
                         "%u: truncated, or made for a smaller vocabulary than the "
                         "checkpoint's", path, len, i, vocab_size);
            goto fail;
        }
        memcpy(&t->scores[i], data + off, 4);
        memcpy(&n, data + off + 4, 4);
        off += 8;
        if (!isfinite(t->scores[i])) {
            rc = lf_fail(err, LF_EFORMAT, "tokenizer %s: token %u (byte %zu) has a score that is "
                         "not a finite number", path, i, off - 8);
            goto fail;
        }
        if (n < 0 || (uint32_t)n > t->max_token_length || (size_t)n > len - off) {
            rc = lf_fail(err, LF_EFORMAT, "tokenizer %s: token %u (byte %zu) has length %d, "
                         "outside 0..%u or past the end of the file", path, i, off - 4, n,
                         t->max_token_length);
            goto fail;
        }
        if (memchr(data + off, '\0', (size_t)n)) {
            rc = lf_fail(err, LF_EFORMAT, "tokenizer %s: token %u holds a NUL byte", path, i);
            goto fail;
        }
        if (!(t->vocab[i] = malloc((size_t)n + 1))) {
            rc = lf_fail(err, LF_ENOMEM, "tokenizer %s: out of memory", path);
            goto fail;
        }
        memcpy(t->vocab[i], data + off, (size_t)n);
        t->vocab[i][n] = '\0';
        off += (size_t)n;
        t->sorted[i] = i;
    }
    if (off != len) {
        rc = lf_fail(err, LF_EFORMAT, "tokenizer %s: %zu bytes left after the %u tokens the "
                     "checkpoint's vocab_size asks for: the tokenizer belongs to a bigger "
                     "vocabulary (use the tokenizer made with this checkpoint)",
                     path, len - off, vocab_size);
        goto fail;
    }
    free(data);
    sort_tok = t;
    qsort(t->sorted, vocab_size, sizeof *t->sorted, cmp_ids);
    sort_tok = NULL;
    for (int b = 0; b < 256; b++) {
        t->bytes[b][0] = (char)b;
        t->bytes[b][1] = '\0';
    }
    return LF_OK;
fail:
    free(data);
    lf_tok_free(t);
    return rc;
}

void lf_tok_free(lf_tok *t)
{
    if (!t)
        return;
    if (t->vocab)
        for (uint32_t i = 0; i < t->vocab_size; i++)
            free(t->vocab[i]);
    free(t->vocab);
    free(t->scores);
    free(t->sorted);
    memset(t, 0, sizeof *t);
}

int32_t lf_tok_lookup(const lf_tok *t, const char *piece)
{
    size_t lo = 0, hi = t->vocab_size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(piece, t->vocab[t->sorted[mid]]);
        if (c == 0)
            return (int32_t)t->sorted[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Appends the tokens of one code point (bytes cp[0..n)). */
static int push_codepoint(const lf_tok *t, const char *cp, size_t n, int32_t *ids, uint32_t *k,
                          lf_err *err)
{
    char buf[8];
    memcpy(buf, cp, n);
    buf[n] = '\0';
    int32_t id = lf_tok_lookup(t, buf);
    if (id >= 0) {
        ids[(*k)++] = id;
        return LF_OK;
    }
    for (size_t i = 0; i < n; i++) { /* byte fallback */
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", (unsigned char)cp[i]);
        id = lf_tok_lookup(t, name);
        if (id < 0)
            return lf_fail(err, LF_EFORMAT, "tokenizer: byte 0x%02X is neither in a known "
                           "piece nor a <0x%02X> token", (unsigned char)cp[i],
                           (unsigned char)cp[i]);
        ids[(*k)++] = id;
    }
    return LF_OK;
}

int lf_tok_encode(const lf_tok *t, const char *text, int bos, int eos, int32_t **ids,
                  uint32_t *n, lf_err *err)
{
    *ids = NULL;
    *n = 0;
    size_t len = strlen(text);
    int32_t *out = malloc((len + 3) * sizeof *out);
    char *pair = malloc(2 * (size_t)t->max_token_length + 1);
    if (!out || !pair) {
        free(out);
        free(pair);
        return lf_fail(err, LF_ENOMEM, "tokenizer: out of memory for a %zu-byte text", len);
    }
    uint32_t k = 0;
    int rc = LF_OK;
    if (bos)
        out[k++] = LF_TOK_BOS_ID;
    if (len > 0) {
        int32_t space = lf_tok_lookup(t, " ");
        if (space < 0) {
            rc = lf_fail(err, LF_EFORMAT, "tokenizer: no \" \" piece for the dummy prefix");
            goto done;
        }
        out[k++] = space;
    }
    for (size_t i = 0; i < len && !rc;) {
        size_t n_cp = 1; /* a lead byte and at most 3 continuation bytes */
        while (i + n_cp < len && n_cp < 4 && ((unsigned char)text[i + n_cp] & 0xC0) == 0x80)
            n_cp++;
        rc = push_codepoint(t, text + i, n_cp, out, &k, err);
        i += n_cp;
    }
    while (!rc) { /* merge the best-scoring adjacent pair until none is in the vocabulary */
        float best = -1e10f;
        int32_t best_id = -1;
        uint32_t at = 0;
        for (uint32_t i = 0; i + 1 < k; i++) {
            const char *a = t->vocab[out[i]], *b = t->vocab[out[i + 1]];
            size_t la = strlen(a), lb = strlen(b);
            if (la + lb > t->max_token_length)
                continue; /* no piece is that long */
            memcpy(pair, a, la);
            memcpy(pair + la, b, lb + 1);
            int32_t id = lf_tok_lookup(t, pair);
            if (id >= 0 && t->scores[id] > best) {
                best = t->scores[id];
                best_id = id;
                at = i;
            }
        }
        if (best_id < 0)
            break;
        out[at] = best_id;
        memmove(out + at + 1, out + at + 2, (k - at - 2) * sizeof *out);
        k--;
    }
    if (!rc && eos)
        out[k++] = LF_TOK_EOS_ID;
done:
    free(pair);
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = k;
    return LF_OK;
}

const char *lf_tok_decode(const lf_tok *t, int32_t prev, int32_t id)
{
    if (id < 0 || (uint32_t)id >= t->vocab_size)
        return "";
    const char *p = t->vocab[id];
    if (prev == LF_TOK_BOS_ID && p[0] == ' ')
        p++;
    if (strlen(p) == 6 && !strncmp(p, "<0x", 3) && isxdigit((unsigned char)p[3]) &&
        isxdigit((unsigned char)p[4]) && p[5] == '>')
        return t->bytes[strtoul(p + 3, NULL, 16)];
    return p;
}
