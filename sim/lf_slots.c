/* The preallocated DRAM manager's bookkeeping (paper's Figure 6): swap-delete, append. */
#include "lf_slots.h"

#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_width.h"

/* The row and id arrays are read and written at their width through lf_width.h, in
 * code the compiler specialises per width; NONE is all ones at either (lf_w16_ones):
 * narrow, every row is below cap_rows <= LF_SLOTS_NARROW, so 0xffff names none. */
static size_t entry_bytes(uint32_t units)
{
    return units <= LF_SLOTS_NARROW ? sizeof(uint16_t) : sizeof(uint32_t);
}

int lf_slots_init_in(lf_slots *s, uint32_t units, uint32_t cap_rows, lf_bigmem_arena *arena,
                     lf_err *err)
{
    memset(s, 0, sizeof *s);
    if (units == 0)
        return lf_fail(err, LF_EINVAL, "DRAM manager: zero units per layer");
    if (cap_rows > units)
        cap_rows = units; /* never more rows than distinct units */
    s->units = units;
    s->cap_rows = cap_rows;
    s->narrow = units <= LF_SLOTS_NARROW;
    s->in_arena = arena != NULL;
    size_t es = entry_bytes(units);
    size_t rows = (cap_rows ? cap_rows : 1) * es, ids = (size_t)units * es, res = units;
    s->row_to_id = arena ? lf_bigmem_arena_alloc(arena, rows) : malloc(rows);
    s->id_to_row = arena ? lf_bigmem_arena_alloc(arena, ids) : malloc(ids);
    s->resident = arena ? lf_bigmem_arena_alloc(arena, res) : malloc(res);
    if (!s->row_to_id || !s->id_to_row || !s->resident) {
        lf_slots_free(s);
        return lf_fail(err, LF_ENOMEM, "DRAM manager: out of memory for %u units", units);
    }
    memset(s->id_to_row, 0xff, ids); /* all ones: NONE at either width */
    memset(s->resident, 0, res);
    return LF_OK;
}

uint64_t lf_slots_bytes(uint32_t units, uint32_t cap_rows)
{
    uint32_t rows = cap_rows > units ? units : cap_rows;
    return ((uint64_t)(rows ? rows : 1) + units) * entry_bytes(units) +
           units; /* row_to_id, id_to_row, resident */
}

int lf_slots_init(lf_slots *s, uint32_t units, uint32_t cap_rows, lf_err *err)
{
    return lf_slots_init_in(s, units, cap_rows, NULL, err);
}

void lf_slots_free(lf_slots *s)
{
    if (!s)
        return;
    if (!s->in_arena) {
        free(s->row_to_id);
        free(s->id_to_row);
        free(s->resident);
    }
    s->row_to_id = s->id_to_row = NULL;
    s->resident = NULL;
    s->num_used = 0;
}

/* Deleting n units leaves num_used - n rows. Every deleted unit below that line leaves a
 * hole; exactly as many surviving units sit in the last n rows; each survivor is copied
 * into a hole (the paper's "move the last rows into their slots"), deleted rows in the
 * tail are simply dropped. So moves = survivors in the tail <= n, each row copied once.
 * The loops read the arrays and sizes from locals: their stores could otherwise alias
 * s's fields, which the compiler would reload at every id. */
LF_WIDTH_INLINE int evict(lf_slots *s, const uint32_t *ids, uint32_t n, lf_move *moves,
                          uint32_t *n_moves, lf_err *err, int narrow)
{
    const uint32_t units = s->units, used = s->num_used, NONE = lf_w16_ones(narrow);
    void *const id_to_row = s->id_to_row, *const row_to_id = s->row_to_id;
    uint8_t *const resident = s->resident;
    if (n > used)
        return lf_fail(err, LF_EINVAL, "DRAM manager: evicting %u units but only %u are resident",
                       n, used);
    /* Clear every id, remembering its row in moves[k].from to roll back on error, and
     * list the holes, the rows below the new end, in moves[0..holes).to. Hole or tail is
     * a coin toss: no branch. (moves[holes].to is written, holes <= k, after
     * moves[k].from; the roll-back reads only .from.) */
    const uint32_t new_used = used - n;
    uint32_t holes = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t id = ids[k];
        if (id >= units || !resident[id]) {
            for (uint32_t j = 0; j < k; j++) {
                lf_w16_put(id_to_row, ids[j], moves[j].from, narrow);
                resident[ids[j]] = 1;
            }
            return lf_fail(err, LF_EINVAL,
                           "DRAM manager: evicting unit %u which is %s (policy bug: evict only "
                           "resident units, each once)",
                           id, id >= units ? "out of range" : "not resident");
        }
        uint32_t from = lf_w16_get(id_to_row, id, narrow);
        moves[k].from = from;
        moves[holes].to = from;
        holes += from < new_used;
        lf_w16_put(id_to_row, id, NONE, narrow);
        resident[id] = 0;
    }
    /* Survivors in the tail, taken from the last row backwards: each fills the hole
     * moves[m].to. Deleted or survivor is a coin toss: no branch. A deleted row writes
     * there too (and its id_to_row stays NONE), but the next survivor, which exists
     * while m < holes, overwrites it. */
    uint32_t m = 0;
    for (uint32_t r = used; r-- > new_used && m < holes;) {
        uint32_t id = lf_w16_get(row_to_id, r, narrow);
        uint32_t live = resident[id], to = moves[m].to;
        moves[m].from = r;
        lf_w16_put(row_to_id, to, id, narrow);
        lf_w16_put(id_to_row, id, live ? to : NONE, narrow);
        m += live;
    }
    s->num_used = new_used;
    *n_moves = m;
    return LF_OK;
}

int lf_slots_evict(lf_slots *s, const uint32_t *ids, uint32_t n, lf_move *moves,
                   uint32_t *n_moves, lf_err *err)
{
    *n_moves = 0;
    if (n == 0)
        return LF_OK;
    return s->narrow ? evict(s, ids, n, moves, n_moves, err, 1)
                     : evict(s, ids, n, moves, n_moves, err, 0);
}

LF_WIDTH_INLINE int append(lf_slots *s, const uint32_t *ids, uint32_t n, lf_err *err, int narrow)
{
    const uint32_t units = s->units, used = s->num_used;
    void *const id_to_row = s->id_to_row, *const row_to_id = s->row_to_id;
    uint8_t *const resident = s->resident;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t id = ids[k];
        if (id >= units || resident[id]) {
            for (uint32_t j = 0; j < k; j++) {
                lf_w16_put(id_to_row, ids[j], lf_w16_ones(narrow), narrow);
                resident[ids[j]] = 0;
            }
            return lf_fail(err, LF_EINVAL,
                           "DRAM manager: appending unit %u which is %s (policy bug: load only "
                           "units not resident, each once)",
                           id, id >= units ? "out of range" : "already resident");
        }
        lf_w16_put(id_to_row, id, used + k, narrow);
        lf_w16_put(row_to_id, used + k, id, narrow);
        resident[id] = 1;
    }
    s->num_used = used + n;
    return LF_OK;
}

int lf_slots_append(lf_slots *s, const uint32_t *ids, uint32_t n, uint32_t *first_row,
                    lf_err *err)
{
    *first_row = s->num_used;
    if ((uint64_t)s->num_used + n > s->cap_rows)
        return lf_fail(err, LF_ERANGE,
                       "DRAM manager: %u resident + %u new units exceed the %u preallocated rows "
                       "(the DRAM budget's FFN capacity); raise the budget or use a policy that "
                       "keeps fewer units",
                       s->num_used, n, s->cap_rows);
    return s->narrow ? append(s, ids, n, err, 1) : append(s, ids, n, err, 0);
}
