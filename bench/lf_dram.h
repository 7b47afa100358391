/* lf_dram: the executor's DRAM for one layer's FFN cache, as in the paper's Figure 6: a
 * preallocated matrix of cap_rows x row_bytes plus a bias vector, rows [0, num_used)
 * in use; the pointer vector (row -> unit id) is the shared lf_slots bookkeeping, whose
 * moves this module performs. The realloc strategy (a fresh matrix per step, every
 * kept row copied) is here for comparison. An lf_dram owns its matrix and vectors. */
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
    uint32_t *src;         /* scratch: old row of each new row (realloc) */
    uint64_t allocs;       /* matrices allocated so far */
} lf_dram;

/* prealloc allocates (and touches) cap_rows*row_bytes now; realloc allocates per step. */
int lf_dram_init(lf_dram *d, lf_dram_strategy st, uint32_t cap_rows, size_t row_bytes,
                 lf_err *err);
void lf_dram_free(lf_dram *d);

/* One step's memory management: performs the evictions' moves (row from -> row to, bias
 * too) and makes rows [first_new_row, first_new_row + n_new) available for the loads;
 * afterwards num_used = first_new_row + n_new. realloc: a fresh matrix of that many
 * rows receives the kept rows, the old one is freed. The new rows' contents and biases
 * are the caller's to fill (lf_dram_row, d->bias). */
int lf_dram_step(lf_dram *d, const lf_move *moves, uint32_t n_moves, uint32_t first_new_row,
                 uint32_t n_new, lf_err *err);

static inline unsigned char *lf_dram_row(const lf_dram *d, uint32_t row)
{
    return d->rows + (size_t)row * d->row_bytes;
}

/* Bytes the manager holds (matrix + bias) right now. */
uint64_t lf_dram_bytes(const lf_dram *d);

#endif
