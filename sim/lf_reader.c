/* Reader: coalesces sorted extents into the reads actually issued. */
#include "lf_reader.h"

#include <stdlib.h>

void lf_read_vec_free(lf_read_vec *v)
{
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

int lf_reader_plan(const lf_reader_cfg *cfg, const lf_extent *ext, size_t n_ext,
                   lf_read_vec *out, lf_err *err)
{
    out->n = 0;
    if (n_ext == 0)
        return LF_OK;
    if (out->cap < n_ext) {
        /* At most one read per extent. */
        size_t cap = out->cap ? out->cap : 256;
        while (cap < n_ext)
            cap *= 2;
        lf_read *p = realloc(out->v, cap * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "reader: out of memory for %zu reads", cap);
        out->v = p;
        out->cap = cap;
    }
    lf_read *r = out->v;
    r->offset = ext[0].offset;
    r->length = ext[0].length;
    r->first_extent = 0;
    r->n_extents = 1;
    for (size_t i = 1; i < n_ext; i++) {
        const lf_extent *e = &ext[i];
        uint64_t end = r->offset + r->length;
        if (e->offset < ext[i - 1].offset + ext[i - 1].length)
            return lf_fail(err, LF_EINVAL,
                           "reader: extent %zu (offset %llu) overlaps or precedes extent %zu; "
                           "extents must be sorted by offset and disjoint",
                           i, (unsigned long long)e->offset, i - 1);
        uint64_t gap = e->offset - end;
        if (cfg->max_read && gap <= cfg->max_gap &&
            e->offset + e->length - r->offset <= cfg->max_read) {
            r->length = e->offset + e->length - r->offset;
            r->n_extents++;
            continue;
        }
        r++;
        r->offset = e->offset;
        r->length = e->length;
        r->first_extent = (uint32_t)i;
        r->n_extents = 1;
    }
    out->n = (size_t)(r - out->v) + 1;
    return LF_OK;
}

/* The reads lf_reader_totals counts so far: the open one is [r_off, r_end). */
typedef struct {
    uint64_t r_off, r_end, total;
    uint32_t reads;
} read_tally;

/* Adds the record at [off, off + rb) to t as lf_reader_plan merges extents. */
static inline void tally_record(read_tally *t, const lf_reader_cfg *cfg, uint64_t off,
                                uint64_t rb)
{
    uint64_t end = off + rb;
    if (cfg->max_read && off - t->r_end <= cfg->max_gap && end - t->r_off <= cfg->max_read) {
        t->r_end = end;
        return;
    }
    t->reads++;
    t->total += t->r_end - t->r_off;
    t->r_off = off;
    t->r_end = end;
}

/* lf_reader_totals when only adjacent records join (max_gap 0, the default reader) and
 * no run of consecutive ids is longer than a read holds (m records: ids[k + m] - ids[k]
 * > m for every k, since sorted unique ids are m apart only where the m + 1 from k are
 * consecutive), so that no read is ever cut at max_read: a read per run in each part.
 * A count without a multiply or a branch per record, which vectorises. 1 when it
 * answered (*rc set), 0 when the layer needs the record-by-record merge: a longer run,
 * or runs that touch across parts (the last unit and unit 0: parts follow each other
 * in the file, and the joined run could be too long). */
static int adjacent_totals(const lf_layout *l, uint32_t layer, const uint32_t *ids, uint32_t n,
                           uint64_t m, uint32_t *n_reads, uint64_t *bytes, int *rc,
                           lf_err *err)
{
    uint32_t top = ids[0], order = 0, breaks = 0, long_run = 0;
    for (uint32_t k = 1; k < n; k++) {
        top = ids[k] > top ? ids[k] : top;
        order |= ids[k] - ids[k - 1] - 1;
        breaks += ids[k] - ids[k - 1] != 1;
    }
    if (top >= l->units || top >= 0x80000000u || order >> 31) {
        *rc = lf_layout_check_ids(l, layer, ids, n, err);
        return 1;
    }
    for (uint64_t k = 0; k + m < n; k++)
        long_run |= ids[k + m] - ids[k] == m;
    const uint32_t parts = lf_layout_parts(l);
    if (long_run || (parts > 1 && ids[0] == 0 && ids[n - 1] == l->units - 1))
        return 0;
    *n_reads = parts * (breaks + 1);
    *bytes = (uint64_t)n * parts * l->record_bytes;
    *rc = LF_OK;
    return 1;
}

int lf_reader_totals(const lf_reader_cfg *cfg, const lf_layout *l, uint32_t layer,
                     const uint32_t *ids, uint32_t n, uint32_t *n_reads, uint64_t *bytes,
                     lf_err *err)
{
    *n_reads = 0;
    *bytes = 0;
    if (l->kind != LF_LAYOUT_BUNDLED && l->kind != LF_LAYOUT_SPLIT)
        return lf_fail(err, LF_EINVAL, "reader: totals only for split and bundled layouts");
    if (layer >= l->n_layers || n == 0)
        return lf_layout_check_ids(l, layer, ids, n, err);
    /* The extents lf_layout_extents makes, in its order (part by part, ids ascending:
     * offsets ascending and disjoint), merged as lf_reader_plan merges them. The first
     * part's pass also checks the ids as lf_layout_check_ids does (sorted, unique, below
     * units: see lf_ids_ok), which saves a pass; offsets of bad ids are only computed,
     * never used, and lf_layout_check_ids names the bad id. */
    const uint64_t rb = l->record_bytes;
    const uint32_t parts = lf_layout_parts(l);
    int rc;
    if (cfg->max_gap == 0 && cfg->max_read >= rb && rb > 0 &&
        adjacent_totals(l, layer, ids, n, cfg->max_read / rb, n_reads, bytes, &rc, err))
        return rc;
    uint64_t base = lf_layout_record_offset(l, layer, 0, 0);
    read_tally t = {base + ids[0] * rb, base + ids[0] * rb + rb, 0, 0};
    uint32_t top = ids[0], order = 0;
    for (uint32_t k = 1; k < n; k++) {
        top = ids[k] > top ? ids[k] : top;
        order |= ids[k] - ids[k - 1] - 1;
        tally_record(&t, cfg, base + ids[k] * rb, rb);
    }
    if (top >= l->units || top >= 0x80000000u || order >> 31)
        return lf_layout_check_ids(l, layer, ids, n, err);
    for (uint32_t p = 1; p < parts; p++) {
        base = lf_layout_record_offset(l, layer, p, 0);
        for (uint32_t k = 0; k < n; k++)
            tally_record(&t, cfg, base + ids[k] * rb, rb);
    }
    *n_reads = t.reads + 1;
    *bytes = t.total + (t.r_end - t.r_off);
    return LF_OK;
}
