/* Indexed binary min-heap: sift up/down keeping pos[] in step with heap[]. Keys live in
 * the heap items, not in an id-indexed array, so a sift touches contiguous memory. */
#include "lf_pheap.h"

#include <stdlib.h>
#include <string.h>

int lf_pheap_init(lf_pheap *h, uint32_t units, lf_err *err)
{
    memset(h, 0, sizeof *h);
    h->units = units;
    h->heap = malloc((size_t)units * sizeof *h->heap);
    h->pos = malloc((size_t)units * sizeof *h->pos);
    if (!h->heap || !h->pos) {
        lf_pheap_free(h);
        return lf_fail(err, LF_ENOMEM, "policy heap: out of memory (%u units)", units);
    }
    memset(h->pos, 0xff, (size_t)units * sizeof *h->pos);
    return LF_OK;
}

void lf_pheap_free(lf_pheap *h)
{
    free(h->heap);
    free(h->pos);
    memset(h, 0, sizeof *h);
}

static inline int less(lf_pheap_item a, lf_pheap_item b)
{
    return a.key < b.key || (a.key == b.key && a.id < b.id);
}

static inline void place(lf_pheap *h, uint32_t i, lf_pheap_item it)
{
    h->heap[i] = it;
    h->pos[it.id] = i;
}

static void sift_up(lf_pheap *h, uint32_t i, lf_pheap_item it)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!less(it, h->heap[parent]))
            break;
        place(h, i, h->heap[parent]);
        i = parent;
    }
    place(h, i, it);
}

static void sift_down(lf_pheap *h, uint32_t i, lf_pheap_item it)
{
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && less(h->heap[c + 1], h->heap[c]))
            c++;
        if (!less(h->heap[c], it))
            break;
        place(h, i, h->heap[c]);
        i = c;
    }
    place(h, i, it);
}

void lf_pheap_push(lf_pheap *h, uint32_t id, uint64_t key)
{
    lf_pheap_item it = {key, id};
    sift_up(h, h->n++, it);
}

void lf_pheap_remove(lf_pheap *h, uint32_t id)
{
    uint32_t i = h->pos[id];
    h->pos[id] = LF_PHEAP_NONE;
    lf_pheap_item last = h->heap[--h->n];
    if (i == h->n)
        return;
    if (i > 0 && less(last, h->heap[(i - 1) / 2]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

uint32_t lf_pheap_pop(lf_pheap *h)
{
    uint32_t id = h->heap[0].id;
    lf_pheap_remove(h, id);
    return id;
}

uint32_t lf_pheap_take_wanted(lf_pheap *h, const uint32_t *want, uint32_t n_want, uint32_t *miss,
                              uint32_t *n_miss)
{
    uint32_t hits = 0, m = 0;
    for (uint32_t i = 0; i < n_want; i++) {
        if (lf_pheap_has(h, want[i])) {
            lf_pheap_remove(h, want[i]);
            hits++;
        } else {
            miss[m++] = want[i];
        }
    }
    *n_miss = m;
    return hits;
}
