/* lf_slots: the bookkeeping of the paper's preallocated DRAM manager (Figure 6), shared
 * by the simulator (which counts the copies) and the executor (which performs them):
 * rows [0, num_used) of a per-layer matrix hold resident units; deleting a unit moves
 * the last used row into its slot; new units are appended at num_used.
 * An lf_slots owns its arrays; lf_slots_free releases them. */
#ifndef LF_SLOTS_H
#define LF_SLOTS_H

#include <stdint.h>

#include "lf_bigmem.h"
#include "lf_err.h"

#define LF_SLOT_NONE UINT32_MAX
/* Up to this many units and rows the row and id arrays hold 16-bit entries (their
 * all-ones entry is LF_SLOT_NONE), half the bytes to fault in and keep in cache. */
#define LF_SLOTS_NARROW 65535u

typedef struct {
    uint32_t units;    /* ids are < units */
    uint32_t cap_rows; /* preallocated rows (Req_l) */
    uint32_t num_used;
    int narrow;        /* units and cap_rows <= LF_SLOTS_NARROW: uint16_t entries below */
    void *row_to_id;   /* cap_rows entries: read them with lf_slots_id */
    void *id_to_row;   /* units entries, LF_SLOT_NONE when not resident: lf_slots_row */
    uint8_t *resident; /* units bytes, 1 = resident: a small array that stays in cache,
                        * so membership tests need not touch id_to_row (bytes, not
                        * bits: a test is one load, no shift; the replay tests every
                        * wanted unit after every step) */
    int in_arena;      /* the arrays belong to an arena (lf_slots_init_in) */
} lf_slots;

typedef struct {
    uint32_t from, to; /* copy row `from` into row `to` */
} lf_move;

int lf_slots_init(lf_slots *s, uint32_t units, uint32_t cap_rows, lf_err *err);
/* Bytes of the arrays lf_slots_init allocates for units and cap_rows. */
uint64_t lf_slots_bytes(uint32_t units, uint32_t cap_rows);
/* The same with the arrays in `arena` (lf_bigmem.h: a replay's layers share a few huge
 * pages instead of faulting in 4 KiB pages each); lf_slots_free leaves them to it. */
int lf_slots_init_in(lf_slots *s, uint32_t units, uint32_t cap_rows,
                     lf_bigmem_arena *arena, lf_err *err);
void lf_slots_free(lf_slots *s);

/* Removes ids (each resident); fills moves[0..*n_moves) (capacity n) in the order they
 * must be performed. */
int lf_slots_evict(lf_slots *s, const uint32_t *ids, uint32_t n, lf_move *moves,
                   uint32_t *n_moves, lf_err *err);
/* Appends ids (none resident) at rows num_used..; *first_row receives the first. */
int lf_slots_append(lf_slots *s, const uint32_t *ids, uint32_t n, uint32_t *first_row,
                    lf_err *err);

static inline int lf_slots_has(const lf_slots *s, uint32_t id)
{
    return s->resident[id];
}

/* The row that holds unit id, LF_SLOT_NONE when it is not resident. */
static inline uint32_t lf_slots_row(const lf_slots *s, uint32_t id)
{
    if (!s->narrow)
        return ((const uint32_t *)s->id_to_row)[id];
    uint32_t row = ((const uint16_t *)s->id_to_row)[id];
    return row == 0xffffu ? LF_SLOT_NONE : row;
}

/* The unit in row (< num_used). */
static inline uint32_t lf_slots_id(const lf_slots *s, uint32_t row)
{
    return s->narrow ? ((const uint16_t *)s->row_to_id)[row]
                     : ((const uint32_t *)s->row_to_id)[row];
}

#endif
