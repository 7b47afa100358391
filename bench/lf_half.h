/* lf_half: IEEE 754 binary16 <-> binary32 conversion for the weights files and the FFN
 * kernel's portable path. Plain functions on values; nothing is allocated.
 * Hand-written because C11 has no half type and no Debian library offers just this
 * (GCC's _Float16 is compiler- and target-specific); the tests check every one of the
 * 65536 halves against the exact definition and round-to-nearest-even on ties. */
#ifndef LF_HALF_H
#define LF_HALF_H

#include <stddef.h>
#include <stdint.h>

/* Exact (every half is a float). NaN payloads are kept (quiet bit set). */
float lf_half_to_float(uint16_t h);
/* Round to nearest, ties to even; overflow gives +-inf; NaN stays NaN. */
uint16_t lf_float_to_half(float f);

/* Converts n floats. */
void lf_float_to_half_n(const float *in, uint16_t *out, size_t n);

#endif
