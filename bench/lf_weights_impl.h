/* lf_weights_impl: what lf_weights.c (format, generator, opening) shares with
 * lf_weights_make.c (the writer). Internal to the weights module; nothing allocated. */
#ifndef LF_WEIGHTS_IMPL_H
#define LF_WEIGHTS_IMPL_H

#include <stdint.h>

#include "lf_weights.h"

#define LF_WEIGHTS_CHECKSUM_AT (LF_WEIGHTS_HEADER_BYTES - 32)

/* Generates vector `part` of `unit` (the seed's values, or fn's when fn is not NULL)
 * into dst in the file's dtype; tmp holds the floats. */
void lf_weights_store_vector(const lf_weights_header *h, lf_weights_values_fn fn, void *ctx,
                             uint32_t layer, uint32_t unit, uint32_t part, unsigned char *dst,
                             float *tmp);
/* The 512 header bytes (checksum field zero). */
void lf_weights_encode(const lf_weights_header *h, unsigned char *b);
/* SHA-256 of the header (checksum field zeroed) followed by the friend table. */
int lf_weights_sha256(const unsigned char *hdr, const void *friends, size_t friends_bytes,
                      unsigned char out[32], lf_err *err);
/* Bytes of the coact friend table (0 for other layouts). */
uint64_t lf_weights_friends_bytes(const lf_weights_header *h);
/* The model shape a header describes (n_layers = the file's layers). */
void lf_weights_header_model(const lf_weights_header *h, lf_model *m);

#endif
