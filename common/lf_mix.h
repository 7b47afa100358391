/* lf_mix: splitmix64, the one hash llmflash uses to derive independent seeds and value
 * streams from (seed, layer, token, ...). Header-only; returns plain values. */
#ifndef LF_MIX_H
#define LF_MIX_H

#include <stdint.h>

/* The golden-ratio increment of the splitmix64 stream. */
#define LF_MIX_GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser: a bijection that scatters nearby inputs far apart. */
static inline uint64_t lf_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The next value of a splitmix64 stream whose state is *s. */
static inline uint64_t lf_mix_next(uint64_t *s)
{
    *s += LF_MIX_GOLDEN;
    return lf_mix64(*s);
}

/* The 32-bit mt19937 seed of stream `index` (a layer, say) of a configuration's seed:
 * independent-looking streams per index (mt19937 uses 32 bits of its seed). */
static inline unsigned long lf_mix_stream_seed(uint64_t seed, uint32_t index)
{
    return (unsigned long)(lf_mix64(seed + LF_MIX_GOLDEN * ((uint64_t)index + 1)) & 0xffffffffu);
}

#endif
