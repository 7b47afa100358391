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

/* Blocks of at least ARENA_BLOCK bytes of address space: untouched pages cost nothing, so
 * the tail of a block that the next array did not fit into wastes at most the huge page
 * it ends in. */
#define ARENA_BLOCK ((size_t)64 << 20)
#define ARENA_ALIGN ((size_t)64)

typedef struct arena_block {
    struct arena_block *next;
    uint8_t *base;
    size_t size, used;
} arena_block;

struct lf_bigmem_arena {
    arena_block *blocks; /* newest first; allocations come from the newest */
};

lf_bigmem_arena *lf_bigmem_arena_new(void)
{
    return calloc(1, sizeof(lf_bigmem_arena));
}

void *lf_bigmem_arena_alloc(lf_bigmem_arena *a, size_t n)
{
    if (n > SIZE_MAX - ARENA_BLOCK)
        return NULL;
    n = (n ? n + ARENA_ALIGN - 1 : ARENA_ALIGN) & ~(ARENA_ALIGN - 1);
    arena_block *b = a->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = lf_bigmem_pages_size(n > ARENA_BLOCK ? n : ARENA_BLOCK);
        arena_block *nb = malloc(sizeof *nb);
        uint8_t *base = size ? lf_bigmem_pages(size) : NULL;
        if (!nb || !base) {
            free(nb);
            free(base);
            return NULL;
        }
        *nb = (arena_block){.next = a->blocks, .base = base, .size = size};
        a->blocks = b = nb;
    }
    void *p = b->base + b->used;
    b->used += n;
    return p;
}

int lf_bigmem_arena_owns(const lf_bigmem_arena *a, const void *p)
{
    if (!a || !p)
        return 0;
    for (const arena_block *b = a->blocks; b; b = b->next)
        if ((uintptr_t)p >= (uintptr_t)b->base && (uintptr_t)p < (uintptr_t)b->base + b->size)
            return 1;
    return 0;
}

void lf_bigmem_arena_free(lf_bigmem_arena *a)
{
    if (!a)
        return;
    for (arena_block *b = a->blocks, *next; b; b = next) {
        next = b->next;
        free(b->base);
        free(b);
    }
    free(a);
}
