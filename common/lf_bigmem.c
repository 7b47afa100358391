/* lf_bigmem: see lf_bigmem.h. */
#include "lf_bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void *lf_bigmem_alloc(size_t n)
{
    const size_t huge = (size_t)2 << 20;
    if (n < huge / 2)
        return malloc(n ? n : 1);
    if (n > SIZE_MAX - huge)
        return NULL;
    size_t len = (n + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, len) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}
