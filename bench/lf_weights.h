/* lf_weights: the weights file: a header (magic, version, model shape, layout, dtype,
 * alignment, sizes, seed, SHA-256 of the header), the coact friend table, then the FFN
 * records exactly where sim/lf_layout puts them, padded for direct I/O. Values are
 * pseudo-random from the seed, a function of (layer, unit, part, element) alone, so any
 * record can be regenerated for checking. An lf_weights owns its layout (lf_weights_close).
 * Format, field by field: bench/README.md. */
#ifndef LF_WEIGHTS_H
#define LF_WEIGHTS_H

#include <stdint.h>

#include "lf_err.h"
#include "lf_ffn.h"
#include "lf_layout.h"
#include "lf_model.h"
#include "lf_trace.h"

#define LF_WEIGHTS_MAGIC "LLMFLASHW"
#define LF_WEIGHTS_VERSION 1
#define LF_WEIGHTS_HEADER_BYTES 512 /* fixed part; the friend table follows */

typedef struct {
    uint32_t version;
    char model[64];
    lf_unit_kind kind;
    lf_activation act;
    uint32_t n_layers;       /* layers in the file (--layers) */
    uint32_t model_layers;   /* layers of the model shape */
    uint32_t d_model, d_ff, n_experts, top_k;
    uint32_t units;          /* units per layer (d_ff or n_experts) */
    uint32_t vectors;        /* per unit: 2 ReLU (up, down), 3 SwiGLU (gate, up, down) */
    lf_layout_kind layout;
    lf_dtype dtype;
    uint32_t alignment;
    uint64_t vector_bytes, record_bytes, records_per_layer, layer_bytes;
    uint64_t data_offset;    /* first record; a multiple of alignment */
    uint64_t file_bytes;     /* the whole file's size */
    uint64_t friends_offset; /* coact: n_layers*units uint32 closest friends; else 0 */
    uint64_t seed;
    char created_by[32];
    uint32_t profile_tokens; /* coact: the profile's first tokens the friends came from
                              * (0: all of it, as files before this field) */
} lf_weights_header;

typedef struct {
    char path[4096];
    lf_weights_header h;
    lf_model model;          /* the shape, n_layers = the file's layers */
    lf_layout layout;        /* the file's layout (friend table included) */
} lf_weights;

typedef struct {
    const lf_model *model;
    lf_layout_kind layout;
    lf_dtype dtype;
    uint32_t n_layers;       /* 0: all of the model's */
    uint32_t alignment;      /* 0: 4096 */
    uint64_t seed;
    const lf_trace *profile; /* coact: the trace the friends are computed from */
    uint32_t profile_tokens; /* coact: its first tokens used (0: all) */
} lf_weights_spec;

/* A real model's weights instead of the seed's values: fills out (d_model floats) with
 * vector `part` of `unit` in `layer`, in the file's part order (ReLU: up, down; SwiGLU:
 * gate, up, down); they are rounded to the file's dtype. */
typedef void (*lf_weights_values_fn)(void *ctx, uint32_t layer, uint32_t unit, uint32_t part,
                                     float *out);

/* Writes the file through a temporary name, header last, fsync, rename. Any failure
 * (a full disk included) removes the temporary: no file that looks valid is left.
 * Shows a progress line for long writes. */
int lf_weights_make(const char *path, const lf_weights_spec *spec, lf_err *err);
/* The same with the values from fn (the header's seed is then the spec's, 0 by convention
 * for real weights, and lf_weights_values does not reproduce them). */
int lf_weights_make_from(const char *path, const lf_weights_spec *spec, lf_weights_values_fn fn,
                         void *ctx, lf_err *err);

/* Opens and checks: magic, version, header checksum, field consistency (the sizes are
 * recomputed with lf_layout_init), alignment sanity and the file's size (truncation). */
int lf_weights_open(const char *path, lf_weights *w, lf_err *err);
void lf_weights_close(lf_weights *w);

/* Refuses a file whose shape differs from the trace's, listing every difference; the
 * file may have more layers than the trace. */
int lf_weights_check_trace(const lf_weights *w, const lf_trace *t, lf_err *err);
/* Refuses a file whose records are aligned to less than `need` bytes (direct I/O). */
int lf_weights_check_alignment(const lf_weights *w, uint32_t need, lf_err *err);

/* The generator: vector `part` of unit `unit` in `layer` (n = vector_bytes/dtype values,
 * rounded as stored), and the unit's bias (kept in DRAM, not in the file). */
void lf_weights_values(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part,
                       float *out);
float lf_weights_bias(const lf_weights_header *h, uint32_t layer, uint32_t unit);

/* Weights per vector: d_model (neurons), d_model * d_ff (an expert's part). */
uint64_t lf_weights_elems(const lf_weights_header *h);
/* The generator's values before rounding to the file's dtype (the float reference the
 * quantised experts are checked against). */
void lf_weights_values_float(const lf_weights_header *h, uint32_t layer, uint32_t unit,
                             uint32_t part, float *out);
/* Bytes of one stored vector of m in dt (0: dt cannot store that shape), and the layout
 * of a weights file (refuses a grouped dtype on a dense model or a shape whose rows are
 * not whole groups of 64, saying why). */
uint64_t lf_weights_vector_bytes(const lf_model *m, lf_dtype dt);
int lf_weights_layout(lf_layout *L, lf_layout_kind kind, const lf_model *m, lf_dtype dt,
                      uint32_t alignment, uint64_t data_offset, lf_err *err);

/* One-paragraph description of the header, for `weights info`. */
void lf_weights_describe(const lf_weights *w, char *out, size_t cap);

#endif
