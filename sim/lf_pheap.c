/* Indexed binary min-heap: sift up/down keeping pos[] in step with heap[]. */
#include "lf_pheap.h"

#include <stdlib.h>
#include <string.h>

int lf_pheap_init(lf_pheap *h, uint32_t units, lf_err *err)
{
    memset(h, 0, sizeof *h);
    h->units = units;
    h->heap = malloc((size_t)units * sizeof *h->heap);
    h->pos = malloc((size_t)units * sizeof *h->pos);
    h->key = malloc((size_t)units * sizeof *h->key);
    if (!h->heap || !h->pos || !h->key) {
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
    free(h->key);
    memset(h, 0, sizeof *h);
}

static inline int less(const lf_pheap *h, uint32_t a, uint32_t b)
{
    uint64_t ka = h->key[a], kb = h->key[b];
    return ka < kb || (ka == kb && a < b);
}

static void place(lf_pheap *h, uint32_t i, uint32_t id)
{
    h->heap[i] = id;
    h->pos[id] = i;
}

static void sift_up(lf_pheap *h, uint32_t i)
{
    uint32_t id = h->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!less(h, id, h->heap[parent]))
            break;
        place(h, i, h->heap[parent]);
        i = parent;
    }
    place(h, i, id);
}

static void sift_down(lf_pheap *h, uint32_t i)
{
    uint32_t id = h->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && less(h, h->heap[c + 1], h->heap[c]))
            c++;
        if (!less(h, h->heap[c], id))
            break;
        place(h, i, h->heap[c]);
        i = c;
    }
    place(h, i, id);
}

void lf_pheap_push(lf_pheap *h, uint32_t id, uint64_t key)
{
    h->key[id] = key;
    place(h, h->n++, id);
    sift_up(h, h->n - 1);
}

void lf_pheap_remove(lf_pheap *h, uint32_t id)
{
    uint32_t i = h->pos[id];
    h->pos[id] = LF_PHEAP_NONE;
    uint32_t last = h->heap[--h->n];
    if (i == h->n)
        return;
    place(h, i, last);
    if (i > 0 && less(h, last, h->heap[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

uint32_t lf_pheap_pop(lf_pheap *h)
{
    uint32_t id = h->heap[0];
    lf_pheap_remove(h, id);
    return id;
}
