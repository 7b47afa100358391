/* lf_bigmem: see lf_bigmem.h. */
#include "lf_bigmem.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* glibc raises its mmap threshold after a large block is freed (up to 32 MiB), and then
 * serves later large blocks from memory the heap already faulted in 4 KiB pages, where
 * the advice below changes nothing: a long-lived process (validate: executor runs, then
 * a probe) got 4 KiB buffers and read a third as fast. A fixed threshold keeps every
 * block from 1 MiB up a fresh mapping, unmapped by free(). */
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

static void fix_threshold(void)
{
#ifdef M_MMAP_THRESHOLD
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

int lf_bigmem_huge(void)
{
    const char *v = getenv("LLMFLASH_THP");
    return !(v && strcmp(v, "0") == 0);
}

size_t lf_bigmem_pages_size(size_t n)
{
    size_t unit = lf_bigmem_huge() ? LF_BIGMEM_HUGE : LF_BIGMEM_PAGE;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - unit)
        return 0;
    return (n + unit - 1) / unit * unit;
}

void *lf_bigmem_pages(size_t n)
{
    int huge = lf_bigmem_huge();
    size_t len = lf_bigmem_pages_size(n);
    void *p = NULL;
    pthread_once(&threshold_once, fix_threshold);
    if (len == 0 || posix_memalign(&p, huge ? LF_BIGMEM_HUGE : LF_BIGMEM_PAGE, len) != 0)
        return NULL;
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    /* advice only: a kernel without THP keeps 4 KiB pages (lf_bigmem_huge_bytes says) */
    (void)madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
    return p;
}

void *lf_bigmem_alloc(size_t n)
{
    if (n < LF_BIGMEM_HUGE / 2)
        return malloc(n ? n : 1);
    return lf_bigmem_pages(n);
}

uint64_t lf_bigmem_huge_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}
