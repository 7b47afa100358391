/* lf_tok: the llama2.c tokenizer file (max_token_length, then per token: float score,
 * int32 length, bytes): BPE encoding by best-scoring merges, and decoding of pieces.
 * An lf_tok owns its strings; lf_tok_free releases them. Pieces returned by
 * lf_tok_decode point into the lf_tok. */
#ifndef LF_TOK_H
#define LF_TOK_H

#include <stdint.h>

#include "lf_err.h"

#define LF_TOK_BOS_ID 1 /* <s> */
#define LF_TOK_EOS_ID 2 /* </s> */

typedef struct {
    uint32_t vocab_size;
    uint32_t max_token_length;
    char **vocab;      /* NUL-terminated pieces */
    float *scores;     /* merge priority: higher merges first */
    uint32_t *sorted;  /* ids sorted by piece (strcmp), for lookups */
    char bytes[256][2]; /* single-byte pieces for <0xXX> tokens */
} lf_tok;

/* Loads `path` holding exactly vocab_size tokens (the checkpoint's vocab_size; the file
 * does not store it). A file with fewer or more tokens is refused, saying which. */
int lf_tok_load(lf_tok *t, const char *path, uint32_t vocab_size, lf_err *err);
void lf_tok_free(lf_tok *t);

/* The id of an exact piece, or -1. */
int32_t lf_tok_lookup(const lf_tok *t, const char *piece);

/* Encodes UTF-8 text as llama2.c does: optional BOS, a dummy-prefix " " token when the
 * text is not empty, one token per code point (or one per byte via <0xXX> when the
 * code point is not in the vocabulary), then repeated merges of the adjacent pair whose
 * concatenation is the best-scoring piece. *ids is malloc'ed; the caller frees it. */
int lf_tok_encode(const lf_tok *t, const char *text, int bos, int eos, int32_t **ids,
                  uint32_t *n, lf_err *err);

/* The text of `id` following `prev`: the leading space of a piece after BOS is dropped,
 * and <0xXX> pieces become the raw byte. Returns "" for an id outside the vocabulary. */
const char *lf_tok_decode(const lf_tok *t, int32_t prev, int32_t id);

#endif
