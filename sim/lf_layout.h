/* lf_layout: where each unit's weights live in the weights file, and which byte ranges
 * (extents) a set of loads needs. Layouts: split (each weight vector its own record),
 * bundled (a unit's vectors in one record), coact (a unit bundled with its closest
 * friend). Records are padded to `alignment` and the padding is counted.
 * An lf_layout owns friend_of; lf_layout_free releases it. */
#ifndef LF_LAYOUT_H
#define LF_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"
#include "lf_trace.h"

typedef enum { LF_LAYOUT_SPLIT = 0, LF_LAYOUT_BUNDLED = 1, LF_LAYOUT_COACT = 2 } lf_layout_kind;

typedef struct {
    lf_layout_kind kind;
    uint32_t n_layers, units, d_model, dtype_bytes; /* dtype_bytes 0: see vector_bytes */
    uint32_t vectors;        /* weight vectors per unit: 2 (ReLU) or 3 (SwiGLU) */
    uint32_t alignment;      /* record alignment in bytes (4096 for direct I/O; 1 = none) */
    uint64_t vector_bytes;   /* payload of one vector (a whole expert part for MoE) */
    uint64_t record_bytes;   /* padded size of one record */
    uint64_t records_per_layer;
    uint64_t data_offset;    /* file offset of layer 0 (after the weights-file header) */
    uint64_t layer_bytes;    /* stride between layers */
    uint32_t *friend_of;     /* coact: n_layers*units closest friends; NULL otherwise */
} lf_layout;

/* One contiguous byte range holding part `part` (0 = up/gate.., see weights format) of
 * unit `unit`; for bundled/coact records part = LF_PART_ALL (all vectors). */
#define LF_PART_ALL 0xffffu
typedef struct {
    uint64_t offset;
    uint64_t length;   /* padded length actually read */
    uint32_t unit;
    uint16_t part;
    uint16_t n_units;  /* loaded units this read serves: 2 when a coact record serves its
                        * head `unit` and the friend (friend_of[layer*units+unit]), else 1 */
} lf_extent;

typedef struct {
    lf_extent *v;
    size_t n, cap;
} lf_extent_vec;

int lf_layout_parse_kind(const char *name, lf_layout_kind *out, lf_err *err);
const char *lf_layout_kind_name(lf_layout_kind k);
/* "split, bundled, coact": the known layouts, from the same table, for help texts. */
const char *lf_layout_kind_names(void);

/* Lays out a model shape. data_offset is rounded up to the alignment. */
int lf_layout_init(lf_layout *l, lf_layout_kind kind, const lf_model *m, uint32_t dtype_bytes,
                   uint32_t alignment, uint64_t data_offset, lf_err *err);
/* The same with the bytes of one vector given (group-quantised experts: 4.5 or 2.5 bits
 * per weight with their scales, no whole bytes per weight); dtype_bytes is then 0. */
int lf_layout_init_bytes(lf_layout *l, lf_layout_kind kind, const lf_model *m,
                         uint64_t vector_bytes, uint32_t alignment, uint64_t data_offset,
                         lf_err *err);
/* coact: computes every unit's closest friend from a profile trace: the unit it is
 * active together with in the most tokens (ties: the lowest id; a unit never active
 * with another is its own friend). _n uses only the first max_tokens tokens (0 = all):
 * the count costs sum over tokens of (active units)^2 per layer. */
int lf_layout_set_friends(lf_layout *l, const lf_trace *profile, lf_err *err);
/* The profile tokens the friends come from by default, in `sim` and `weights make` alike
 * (the same friends, so the same reads). */
#define LF_LAYOUT_PROFILE_TOKENS 256
int lf_layout_set_friends_n(lf_layout *l, const lf_trace *profile, uint32_t max_tokens,
                            lf_err *err);
void lf_layout_free(lf_layout *l);

/* Bytes of the whole weights file region (all layers). */
uint64_t lf_layout_file_bytes(const lf_layout *l);

/* Records per unit (split: one per vector, bundled: one) and where part `part` of unit
 * id's record starts: a layer holds all part-0 records in unit order, then all part-1
 * records, ... (split and bundled; coact places records by its friend table). */
static inline uint32_t lf_layout_parts(const lf_layout *l)
{
    return l->kind == LF_LAYOUT_SPLIT ? l->vectors : 1;
}
static inline uint64_t lf_layout_record_offset(const lf_layout *l, uint32_t layer,
                                               uint32_t part, uint32_t id)
{
    return l->data_offset + (uint64_t)layer * l->layer_bytes +
           ((uint64_t)part * l->units + id) * l->record_bytes;
}

/* Checks load ids for lf_layout_extents: layer in range, ids sorted, unique, < units. */
int lf_layout_check_ids(const lf_layout *l, uint32_t layer, const uint32_t *ids, uint32_t n,
                        lf_err *err);
/* Appends to out the extents, sorted by offset, that loading `ids` (sorted) in `layer`
 * reads. coact: a unit whose friend is also loaded is read once, as a pair. */
int lf_layout_extents(const lf_layout *l, uint32_t layer, const uint32_t *ids, uint32_t n,
                      lf_extent_vec *out, lf_err *err);

void lf_extent_vec_free(lf_extent_vec *v);

#endif
