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

/* Whether sorted unique ids hold a run of more than m consecutive ids: ids[k + m] -
 * ids[k] == m only where the m + 1 ids from k are consecutive. */
static int run_longer_than(const uint32_t *ids, uint32_t n, uint64_t m)
{
    uint32_t longer = 0;
    for (uint64_t k = 0; k + m < n; k++)
        longer |= ids[k + m] - ids[k] == m;
    return longer;
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
    /* One pass, which vectorises: the checks of lf_layout_check_ids (sorted, unique, below
     * units, as lf_ids_ok makes them; it names a bad id) and the breaks between runs of
     * consecutive ids. */
    uint32_t top = ids[0], order = 0, breaks = 0;
    for (uint32_t k = 1; k < n; k++) {
        top = ids[k] > top ? ids[k] : top;
        order |= ids[k] - ids[k - 1] - 1;
        breaks += ids[k] - ids[k - 1] != 1;
    }
    if (top >= l->units || top >= 0x80000000u || order >> 31)
        return lf_layout_check_ids(l, layer, ids, n, err);
    const uint64_t rb = l->record_bytes;
    const uint32_t parts = lf_layout_parts(l);
    /* The default reader joins only adjacent records (max_gap 0). When no run is longer
     * than a read holds, no read is cut at max_read: a read per run in each part. Runs
     * that touch across parts (the last unit and unit 0: parts follow each other in the
     * file) could join into one too long: those take the merge below. */
    if (cfg->max_gap == 0 && cfg->max_read >= rb && rb > 0 &&
        !run_longer_than(ids, n, cfg->max_read / rb) &&
        !(parts > 1 && ids[0] == 0 && ids[n - 1] == l->units - 1)) {
        *n_reads = parts * (breaks + 1);
        *bytes = (uint64_t)n * parts * rb;
        return LF_OK;
    }
    /* The extents lf_layout_extents makes, in its order (part by part, ids ascending:
     * offsets ascending and disjoint), merged as lf_reader_plan merges them. */
    uint64_t r_off = lf_layout_record_offset(l, layer, 0, ids[0]), r_end = r_off + rb, total = 0;
    uint32_t reads = 0;
    for (uint32_t p = 0; p < parts; p++) {
        const uint64_t base = lf_layout_record_offset(l, layer, p, 0);
        for (uint32_t k = p == 0; k < n; k++) {
            uint64_t off = base + ids[k] * rb, end = off + rb;
            if (cfg->max_read && off - r_end <= cfg->max_gap && end - r_off <= cfg->max_read) {
                r_end = end;
                continue;
            }
            reads++;
            total += r_end - r_off;
            r_off = off;
            r_end = end;
        }
    }
    *n_reads = reads + 1;
    *bytes = total + (r_end - r_off);
    return LF_OK;
}
