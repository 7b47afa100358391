/* lf_mt: GSL's Mersenne Twister (gsl_rng_mt19937: same seeding, same numbers) as a
 * gsl_rng type whose state the hot loops read inline, without GSL's two indirect calls
 * per number, and a geometric draw's floor(log(u) / lq) bit for bit as libm gives it,
 * cheaper. gsl_rng_alloc(lf_mt19937) makes one; the caller owns it (gsl_rng_free). */
#ifndef LF_MT_H
#define LF_MT_H

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* The numerator k of gsl_rng_uniform_pos = k / 2^32: the next non-zero number. */
static inline uint32_t lf_mt_get_pos(gsl_rng *r)
{
    uint32_t k;
    do
        k = lf_mt_get(r);
    while (k == 0);
    return k;
}

/* gsl_rng_uniform_pos of an lf_mt19937 generator: uniform on (0, 1). */
static inline double lf_mt_uniform_pos(gsl_rng *r)
{
    return lf_mt_get_pos(r) / 4294967296.0;
}

/* A table for lf_mt_floor_log_ratio: log(c_j) and 1 / c_j, c_j = 1 + (j + 0.5) / 256. */
typedef struct {
    double log_c[256], inv_c[256];
} lf_mt_logtab;

void lf_mt_logtab_init(lf_mt_logtab *T);

/* log(k / 2^32) for k in [1, 2^32), within LF_MT_LOG_ERR: k = 2^e m, m in [1, 2),
 * m = c_j (1 + r) with |r| < 1/512, log(1 + r) by its series to r^5 (the rest is below
 * 1e-17), evaluated in pairs (Estrin) so that the chain of dependent operations is
 * short; the error is the rounding of a few operations on values below 23. */
#define LF_MT_LOG_ERR 4e-14
static inline double lf_mt_log_u32(const lf_mt_logtab *T, uint32_t k)
{
    double x = (double)k;
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    int e = (int)(b >> 52) - 1023;
    uint32_t j = (uint32_t)(b >> 44) & 255;
    b = (b & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &b, sizeof m);
    double r = m * T->inv_c[j] - 1, r2 = r * r;
    double poly = r + r2 * ((-0.5 + r * (1.0 / 3)) + r2 * (-0.25 + r * 0.2));
    return (e - 32) * 0.69314718055994530942 + T->log_c[j] + poly;
}

/* floor(log(u) / lq) for the next u = gsl_rng_uniform_pos(r) and lq < 0 (-inf
 * included), exactly as libm's log and the division give it, at a third of the cost:
 * lf_mt_log_u32's quotient is within LF_MT_LOG_ERR / |lq| (plus a few roundings) of
 * libm's (whose log errs by under 0.52 ulp), so when no integer lies that close to it
 * the floor is the same; else (about one draw in 10^7) libm's log decides. */
static inline double lf_mt_floor_log_ratio(gsl_rng *r, const lf_mt_logtab *T, double lq)
{
    uint32_t k = lf_mt_get_pos(r);
    double y = lf_mt_log_u32(T, k) / lq; /* >= 0 (log(u) < 0, lq < 0) */
    double f = y < 9e18 ? (double)(int64_t)y : floor(y); /* truncation is the floor */
    /* the distances to the integers below and above, less the quotients' rounding
     * (relative), scaled back to the log's error by |lq| (no second division) */
    double slack = fabs(y) * 8e-16;
    if (!((y - f - slack) * -lq >= LF_MT_LOG_ERR && (f + 1 - y - slack) * -lq > LF_MT_LOG_ERR))
        f = floor(log(k / 4294967296.0) / lq);
    return f;
}

#endif
