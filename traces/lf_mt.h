/* lf_mt: GSL's Mersenne Twister (gsl_rng_mt19937: same seeding, same numbers) as a
 * gsl_rng type whose state the hot loops read inline, without GSL's two indirect calls
 * per number. gsl_rng_alloc(lf_mt19937) makes one; the caller owns it (gsl_rng_free). */
#ifndef LF_MT_H
#define LF_MT_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#define LF_MT_N 624

typedef struct {
    uint32_t mt[LF_MT_N];
    uint32_t mti; /* next word; LF_MT_N: the block is used up */
} lf_mt_state;

extern const gsl_rng_type *lf_mt19937;

/* Makes the next block of LF_MT_N words (the generator's "twist"). */
void lf_mt_twist(lf_mt_state *s);

/* The next 32-bit number of an lf_mt19937 generator (gsl_rng_get). */
static inline uint32_t lf_mt_get(gsl_rng *r)
{
    lf_mt_state *s = r->state;
    if (s->mti >= LF_MT_N)
        lf_mt_twist(s);
    uint32_t k = s->mt[s->mti++];
    k ^= k >> 11;
    k ^= (k << 7) & 0x9d2c5680u;
    k ^= (k << 15) & 0xefc60000u;
    k ^= k >> 18;
    return k;
}

/* gsl_rng_uniform_pos of an lf_mt19937 generator: uniform on (0, 1). */
static inline double lf_mt_uniform_pos(gsl_rng *r)
{
    uint32_t k;
    do
        k = lf_mt_get(r);
    while (k == 0);
    return k / 4294967296.0;
}

#endif
