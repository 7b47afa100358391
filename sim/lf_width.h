/* lf_width: arrays whose entries are held at one of two widths chosen at run time (the
 * narrower when the values fit, to halve what a layer's state costs in cache), read and
 * written through one code path that the compiler specialises: `narrow` is a constant
 * at each inlined call site, and the functions that take it are LF_WIDTH_INLINE too.
 * lf_w16_*: 16 or 32 bits; lf_w8_*: 8 or 16 bits. The caller owns the arrays. */
#ifndef LF_WIDTH_H
#define LF_WIDTH_H

#include <stddef.h>
#include <stdint.h>

#define LF_WIDTH_INLINE static inline __attribute__((always_inline))

/* All ones at the width: the "none" entry of an array whose values stay below it. */
LF_WIDTH_INLINE uint32_t lf_w16_ones(int narrow) { return narrow ? 0xffffu : UINT32_MAX; }
LF_WIDTH_INLINE uint32_t lf_w16_get(const void *a, size_t i, int narrow)
{
    return narrow ? ((const uint16_t *)a)[i] : ((const uint32_t *)a)[i];
}
LF_WIDTH_INLINE void lf_w16_put(void *a, size_t i, uint32_t v, int narrow)
{
    if (narrow)
        ((uint16_t *)a)[i] = (uint16_t)v;
    else
        ((uint32_t *)a)[i] = v;
}

LF_WIDTH_INLINE uint32_t lf_w8_get(const void *a, size_t i, int narrow)
{
    return narrow ? ((const uint8_t *)a)[i] : ((const uint16_t *)a)[i];
}
LF_WIDTH_INLINE void lf_w8_put(void *a, size_t i, uint32_t v, int narrow)
{
    if (narrow)
        ((uint8_t *)a)[i] = (uint8_t)v;
    else
        ((uint16_t *)a)[i] = (uint16_t)v;
}

#endif
