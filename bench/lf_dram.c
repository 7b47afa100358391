#include "lf_dram.h"

#include <stdlib.h>
#include <string.h>

#include "lf_io.h"

int lf_dram_init(lf_dram *d, lf_dram_strategy st, uint32_t cap_rows, size_t row_bytes,
                 lf_err *err)
{
    memset(d, 0, sizeof *d);
    if (row_bytes == 0 || row_bytes % LF_IO_ALIGN != 0)
        return lf_fail(err, LF_EINVAL,
                       "DRAM manager: row size %zu is not a multiple of %d bytes (direct reads "
                       "land in rows); make the weights file with --alignment 4096",
                       row_bytes, LF_IO_ALIGN);
    d->strategy = st;
    d->cap_rows = cap_rows;
    d->row_bytes = row_bytes;
    d->src = malloc(sizeof(uint32_t) * (cap_rows ? cap_rows : 1));
    if (!d->src)
        return lf_fail(err, LF_ENOMEM, "DRAM manager: cannot allocate %u row indices", cap_rows);
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
    free(d->src);
    memset(d, 0, sizeof *d);
}

static int check_moves(const lf_dram *d, const lf_move *moves, uint32_t n_moves, lf_err *err)
{
    for (uint32_t i = 0; i < n_moves; i++)
        if (moves[i].from >= d->num_used || moves[i].to >= d->num_used)
            return lf_fail(err, LF_ERANGE,
                           "DRAM manager: move %u (row %u -> row %u) outside the %u rows in use",
                           i, moves[i].from, moves[i].to, d->num_used);
    return LF_OK;
}

static int step_prealloc(lf_dram *d, const lf_move *moves, uint32_t n_moves, uint32_t end,
                         lf_err *err)
{
    if (end > d->cap_rows)
        return lf_fail(err, LF_ERANGE,
                       "DRAM manager: %u rows needed but %u preallocated (Req_l too small)", end,
                       d->cap_rows);
    for (uint32_t i = 0; i < n_moves; i++) {
        memcpy(lf_dram_row(d, moves[i].to), lf_dram_row(d, moves[i].from), d->row_bytes);
        d->bias[moves[i].to] = d->bias[moves[i].from];
    }
    return LF_OK;
}

static int step_realloc(lf_dram *d, const lf_move *moves, uint32_t n_moves, uint32_t first_new,
                        uint32_t end, lf_err *err)
{
    if (end > d->cap_rows) {
        uint32_t *s = realloc(d->src, sizeof(uint32_t) * end);
        if (!s)
            return lf_fail(err, LF_ENOMEM, "DRAM manager: cannot allocate %u row indices", end);
        d->src = s;
        d->cap_rows = end;
    }
    /* where each kept row comes from: the moves applied to the identity */
    for (uint32_t r = 0; r < d->num_used; r++)
        d->src[r] = r;
    for (uint32_t i = 0; i < n_moves; i++)
        d->src[moves[i].to] = d->src[moves[i].from];
    size_t bytes = (size_t)(end ? end : 1) * d->row_bytes;
    unsigned char *rows = lf_io_alloc(bytes);
    float *bias = malloc(sizeof(float) * (end ? end : 1));
    if (!rows || !bias) {
        free(rows);
        free(bias);
        return lf_fail(err, LF_ENOMEM, "DRAM manager: cannot allocate a %zu-byte matrix", bytes);
    }
    for (uint32_t r = 0; r < first_new; r++) {
        memcpy(rows + (size_t)r * d->row_bytes, lf_dram_row(d, d->src[r]), d->row_bytes);
        bias[r] = d->bias[d->src[r]];
    }
    free(d->rows);
    free(d->bias);
    d->rows = rows;
    d->bias = bias;
    d->allocs++;
    return LF_OK;
}

int lf_dram_step(lf_dram *d, const lf_move *moves, uint32_t n_moves, uint32_t first_new_row,
                 uint32_t n_new, lf_err *err)
{
    int rc = check_moves(d, moves, n_moves, err);
    if (rc)
        return rc;
    if (first_new_row > d->num_used)
        return lf_fail(err, LF_ERANGE,
                       "DRAM manager: new rows start at %u but only %u rows are in use",
                       first_new_row, d->num_used);
    uint32_t end = first_new_row + n_new;
    rc = d->strategy == LF_DRAM_PREALLOC ? step_prealloc(d, moves, n_moves, end, err)
                                         : step_realloc(d, moves, n_moves, first_new_row, end, err);
    if (rc)
        return rc;
    d->num_used = end;
    return LF_OK;
}

uint64_t lf_dram_bytes(const lf_dram *d)
{
    uint64_t rows = d->strategy == LF_DRAM_PREALLOC ? d->cap_rows : d->num_used;
    return rows * (uint64_t)d->row_bytes + rows * sizeof(float);
}
