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
