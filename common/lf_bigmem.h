/* lf_bigmem: buffers for large arrays, 2 MiB aligned and marked for transparent huge
 * pages. The caller owns what lf_bigmem_alloc returns and releases it with free(). */
#ifndef LF_BIGMEM_H
#define LF_BIGMEM_H

#include <stddef.h>

/* n bytes (uninitialised), or NULL when out of memory. From 1 MiB up the buffer is
 * 2 MiB aligned and advised MADV_HUGEPAGE, so filling it takes a few page faults
 * instead of one per 4 KiB (each costs about a microsecond of system time). */
void *lf_bigmem_alloc(size_t n);

#endif
