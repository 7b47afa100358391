#include "lf_half.h"

#include <string.h>

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float lf_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / NaN */
        return u2f(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0));
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * u2f(0x33800000u); /* 2^-24 */
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t lf_float_to_half(float f)
{
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or NaN */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0));
    if (a >= 0x477ff000u) /* >= 65520: rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        /* below the smallest normal half (2^-14): result is subnormal or zero.
         * Adding 0.5 (2^-1) in float aligns the value so that the float adder's own
         * round-to-nearest-even does the half rounding: the low mantissa bits of the
         * sum are the half subnormal's bits. */
        float v = u2f(a) + 0.5f;
        return (uint16_t)(sign | (uint16_t)(f2u(v) - 0x3f000000u));
    }
    /* normal: rebias exponent (127 -> 15), round the 13 dropped bits to nearest even */
    uint32_t odd = (a >> 13) & 1u;
    a += 0xc8000fffu + odd; /* (15-127)<<23 plus rounding bias 0xfff + odd */
    return (uint16_t)(sign | (uint16_t)(a >> 13));
}

void lf_float_to_half_n(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lf_float_to_half(in[i]);
}
