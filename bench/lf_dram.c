#include "lf_dram.h"

#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_io.h"

int lf_dram_init(lf_dram *d, lf_dram_strategy st, uint32_t units, uint32_t cap_rows,
                 size_t row_bytes, lf_err *err)
{
    memset(d, 0, sizeof *d);
    if (row_bytes == 0 || row_bytes % LF_IO_ALIGN != 0)
        return lf_fail(err, LF_EINVAL,
                       "DRAM manager: row size %zu is not a multiple of %d bytes (direct reads "
                       "land in rows)",
                       row_bytes, LF_IO_ALIGN);
    d->strategy = st;
    d->units = units;
    d->cap_rows = cap_rows;
    d->row_bytes = row_bytes;
    d->row_id = malloc(sizeof(uint32_t) * (cap_rows ? cap_rows : 1));
    if (st == LF_DRAM_REALLOC)
        d->old_row = malloc(sizeof(uint32_t) * (units ? units : 1));
    if (!d->row_id || (st == LF_DRAM_REALLOC && !d->old_row)) {
        lf_dram_free(d);
        return lf_fail(err, LF_ENOMEM, "DRAM manager: cannot allocate %u row ids", cap_rows);
    }
    if (st == LF_DRAM_PREALLOC && cap_rows) {
        size_t bytes = (size_t)cap_rows * row_bytes;
        d->rows = lf_io_alloc(bytes);
        d->bias = malloc(sizeof(float) * cap_rows);
        if (!d->rows || !d->bias) {
            lf_dram_free(d);
            return lf_fail(err, LF_ENOMEM,
                           "DRAM manager: cannot allocate %u rows of %zu bytes (%.1f MiB); "
                           "lower --dram-fraction",
                           cap_rows, row_bytes, (double)bytes / 1048576.0);
        }
        /* preallocated means resident: touch every page now, not during the first reads */
        memset(d->rows, 0, bytes);
        memset(d->bias, 0, sizeof(float) * cap_rows);
        d->allocs = 1;
    }
    return LF_OK;
}

void lf_dram_free(lf_dram *d)
{
    free(d->rows);
    free(d->bias);
    free(d->row_id);
    free(d->old_row);
    memset(d, 0, sizeof *d);
}

static int step_prealloc(lf_dram *d, const lf_move *moves, uint32_t n_moves, const lf_slots *s,
                         lf_err *err)
{
    if (s->num_used > d->cap_rows)
        return lf_fail(err, LF_ERANGE,
                       "DRAM manager: %u rows needed but %u preallocated (Req_l too small)",
                       s->num_used, d->cap_rows);
    for (uint32_t i = 0; i < n_moves; i++) {
        uint32_t from = moves[i].from, to = moves[i].to;
        if (from >= d->num_used || to >= d->num_used)
            return lf_fail(err, LF_ERANGE,
                           "DRAM manager: move %u (row %u -> row %u) outside the %u rows in use",
                           i, from, to, d->num_used);
        memcpy(lf_dram_row(d, to), lf_dram_row(d, from), d->row_bytes);
        d->bias[to] = d->bias[from];
        d->row_id[to] = d->row_id[from];
    }
    for (uint32_t i = 0; i < n_moves; i++)
        if (d->row_id[moves[i].to] != lf_slots_id(s, moves[i].to))
            return lf_fail(err, LF_EFORMAT,
                           "DRAM manager: after the moves row %u holds unit %u but the slots say "
                           "%u (moves and slots disagree)",
                           moves[i].to, d->row_id[moves[i].to], lf_slots_id(s, moves[i].to));
    return LF_OK;
}

static int step_realloc(lf_dram *d, const lf_slots *s, uint32_t first_new, lf_err *err)
{
    uint32_t end = s->num_used;
    if (end > d->cap_rows) {
        uint32_t *p = realloc(d->row_id, sizeof(uint32_t) * end);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "DRAM manager: cannot allocate %u row ids", end);
        d->row_id = p;
        d->cap_rows = end;
    }
    for (uint32_t r = 0; r < d->num_used; r++)
        d->old_row[d->row_id[r]] = r;
    size_t bytes = (size_t)(end ? end : 1) * d->row_bytes;
    unsigned char *rows = lf_io_alloc(bytes);
    float *bias = malloc(sizeof(float) * (end ? end : 1));
    if (!rows || !bias) {
        free(rows);
        free(bias);
        return lf_fail(err, LF_ENOMEM, "DRAM manager: cannot allocate a %zu-byte matrix", bytes);
    }
    for (uint32_t r = 0; r < first_new; r++) {
        uint32_t from = d->old_row[lf_slots_id(s, r)];
        if (from >= d->num_used || d->row_id[from] != lf_slots_id(s, r)) {
            free(rows);
            free(bias);
            return lf_fail(err, LF_EFORMAT,
                           "DRAM manager: kept unit %u (row %u) was not resident before the step",
                           lf_slots_id(s, r), r);
        }
        memcpy(rows + (size_t)r * d->row_bytes, lf_dram_row(d, from), d->row_bytes);
        bias[r] = d->bias[from];
    }
    for (uint32_t r = 0; r < first_new; r++)
        d->row_id[r] = lf_slots_id(s, r);
    free(d->rows);
    free(d->bias);
    d->rows = rows;
    d->bias = bias;
    d->allocs++;
    return LF_OK;
}

int lf_dram_step(lf_dram *d, const lf_move *moves, uint32_t n_moves, const lf_slots *slots,
                 uint32_t first_new_row, lf_err *err)
{
    if (first_new_row > d->num_used || first_new_row > slots->num_used)
        return lf_fail(err, LF_ERANGE,
                       "DRAM manager: new rows start at %u but %u rows were in use (%u after)",
                       first_new_row, d->num_used, slots->num_used);
    int rc = d->strategy == LF_DRAM_PREALLOC ? step_prealloc(d, moves, n_moves, slots, err)
                                             : step_realloc(d, slots, first_new_row, err);
    if (rc)
        return rc;
    for (uint32_t r = first_new_row; r < slots->num_used; r++)
        d->row_id[r] = lf_slots_id(slots, r);
    d->num_used = slots->num_used;
    return LF_OK;
}

uint64_t lf_dram_bytes(const lf_dram *d)
{
    uint64_t rows = d->strategy == LF_DRAM_PREALLOC ? d->cap_rows : d->num_used;
    return lf_bigmem_pages_size(rows * (uint64_t)d->row_bytes) + rows * sizeof(float);
}
