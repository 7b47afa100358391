/* lf_dram: the executor's DRAM for one layer's FFN cache, as in the paper's Figure 6: a
 * preallocated matrix of cap_rows x row_bytes plus a bias vector, rows [0, num_used)
 * in use; the pointer vector (row -> unit id) is the shared lf_slots bookkeeping, whose
 * moves this module performs (and checks against its own copy of the ids). The realloc
 * strategy (a fresh matrix per step, every kept row copied) is here for comparison.
 * An lf_dram owns its matrix and vectors. */
#ifndef LF_DRAM_H
#define LF_DRAM_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_replay.h"
#include "lf_slots.h"

typedef struct {
    lf_dram_strategy strategy;
    uint32_t cap_rows;     /* rows the matrix can hold (Req_l) */
    size_t row_bytes;      /* row stride: a multiple of 4096, so rows take direct reads */
    unsigned char *rows;   /* prealloc: cap_rows rows, allocated and touched once;
                            * realloc: the current matrix, num_used rows */
    float *bias;           /* prealloc: cap_rows; realloc: reallocated with the matrix */
    uint32_t num_used;
    uint32_t units;
    uint32_t *row_id;      /* the unit each row holds (our copy of slots->row_to_id) */
    uint32_t *old_row;     /* realloc scratch: units entries, a unit's row before the step */
    uint64_t allocs;       /* matrices allocated so far */
} lf_dram;

/* prealloc allocates (and touches) cap_rows*row_bytes now; realloc allocates per step. */
int lf_dram_init(lf_dram *d, lf_dram_strategy st, uint32_t units, uint32_t cap_rows,
                 size_t row_bytes, lf_err *err);
void lf_dram_free(lf_dram *d);

/* One step's memory management, `slots` being the layer's bookkeeping after the step
 * (rows [first_new_row, slots->num_used) are the loads). prealloc: performs the moves
 * (row from -> row to, bias too) and checks each moved row now holds the unit the slots
 * say. realloc: a fresh matrix of num_used rows receives every kept row where the slots
 * put it (moves are not needed), the old one is freed. The new rows' contents and biases
 * are the caller's to fill (lf_dram_row, d->bias). */
int lf_dram_step(lf_dram *d, const lf_move *moves, uint32_t n_moves, const lf_slots *slots,
                 uint32_t first_new_row, lf_err *err);

static inline unsigned char *lf_dram_row(const lf_dram *d, uint32_t row)
{
    return d->rows + (size_t)row * d->row_bytes;
}

/* Bytes the manager holds (matrix + bias) right now. */
uint64_t lf_dram_bytes(const lf_dram *d);

#endif
