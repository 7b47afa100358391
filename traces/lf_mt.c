/* lf_mt: see lf_mt.h. The algorithm is Matsumoto and Nishimura's MT19937 with the
 * initialisation GSL uses (seed 0 means 4357; Knuth's multiplier 1812433253). */
#include "lf_mt.h"

#define M 397
#define UPPER 0x80000000u
#define LOWER 0x7fffffffu

static inline uint32_t mix(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t y = (a & UPPER) | (b & LOWER);
    return c ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
}

void lf_mt_twist(lf_mt_state *s)
{
    uint32_t *mt = s->mt;
    int k;
    for (k = 0; k < LF_MT_N - M; k++)
        mt[k] = mix(mt[k], mt[k + 1], mt[k + M]);
    for (; k < LF_MT_N - 1; k++)
        mt[k] = mix(mt[k], mt[k + 1], mt[k + M - LF_MT_N]);
    mt[LF_MT_N - 1] = mix(mt[LF_MT_N - 1], mt[0], mt[M - 1]);
    s->mti = 0;
}

static void mt_set(void *state, unsigned long seed)
{
    lf_mt_state *s = state;
    if (seed == 0)
        seed = 4357;
    s->mt[0] = (uint32_t)seed;
    for (uint32_t i = 1; i < LF_MT_N; i++)
        s->mt[i] = 1812433253u * (s->mt[i - 1] ^ (s->mt[i - 1] >> 30)) + i;
    s->mti = LF_MT_N;
}

static unsigned long mt_get(void *state)
{
    gsl_rng r = {.type = NULL, .state = state};
    return lf_mt_get(&r);
}

static double mt_get_double(void *state)
{
    return mt_get(state) / 4294967296.0;
}

static const gsl_rng_type mt_type = {"lf_mt19937", 0xffffffffUL, 0, sizeof(lf_mt_state),
                                     mt_set, mt_get, mt_get_double};

const gsl_rng_type *lf_mt19937 = &mt_type;

void lf_mt_logtab_init(lf_mt_logtab *T)
{
    for (int j = 0; j < 256; j++) {
        double c = 1 + (j + 0.5) / 256;
        T->log_c[j] = log(c);
        T->inv_c[j] = 1 / c;
    }
}
