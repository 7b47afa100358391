/* lf_pheap: an indexed binary min-heap over unit ids (< units) with 64-bit keys, ties
 * broken by the smaller id; lfu, fwlru and belady keep their resident units in one per
 * layer. An lf_pheap owns its arrays; lf_pheap_free releases them. */
#ifndef LF_PHEAP_H
#define LF_PHEAP_H

#include <stdint.h>

#include "lf_err.h"

#define LF_PHEAP_NONE UINT32_MAX

typedef struct {
    uint64_t key;
    uint32_t id;
} lf_pheap_item;

typedef struct {
    uint32_t units;
    uint32_t n;          /* ids in the heap */
    lf_pheap_item *heap; /* n items in heap order (keys inline: compares stay local) */
    uint32_t *pos;       /* units: index in heap, LF_PHEAP_NONE when absent */
} lf_pheap;

int lf_pheap_init(lf_pheap *h, uint32_t units, lf_err *err);
void lf_pheap_free(lf_pheap *h);

static inline int lf_pheap_has(const lf_pheap *h, uint32_t id)
{
    return h->pos[id] != LF_PHEAP_NONE;
}

/* Inserts an absent id. */
void lf_pheap_push(lf_pheap *h, uint32_t id, uint64_t key);
/* Removes a present id. */
void lf_pheap_remove(lf_pheap *h, uint32_t id);
/* Removes and returns the id with the smallest (key, id); the heap must not be empty. */
uint32_t lf_pheap_pop(lf_pheap *h);

/* A cache step's first move: takes the wanted ids present out of the heap (so the pops
 * that follow cannot choose them) and lists the absent ones in miss[0..*n_miss), in
 * want's order. Returns the number taken out (the hits). */
uint32_t lf_pheap_take_wanted(lf_pheap *h, const uint32_t *want, uint32_t n_want, uint32_t *miss,
                              uint32_t *n_miss);

#endif
