/* lf_bigmem: large buffers in transparent huge pages, the same kind of memory wherever the
 * tool reads, computes or measures (probe, calibrate, executor, trace arrays). The caller
 * owns what these return and releases it with free().
 *
 * Why one allocator: on this project's virtual disk a direct read into 4 KiB pages ran
 * 1.6-4x slower than into a huge page, and kernels streaming 4 KiB pages up to 20%
 * slower (costmodel/README.md, "Huge pages"); a measurement is only a prediction of a
 * run when both use the same pages. LLMFLASH_THP=0 in the environment gives 4 KiB pages
 * everywhere instead (advised MADV_NOHUGEPAGE, so a kernel with THP "always" obeys too).
 * The first call fixes glibc's mmap threshold at 1 MiB (lf_bigmem.c says why): every
 * malloc from 1 MiB up in the process is then a fresh mapping. */
#ifndef LF_BIGMEM_H
#define LF_BIGMEM_H

#include <stddef.h>
#include <stdint.h>

#define LF_BIGMEM_HUGE ((size_t)2 << 20)
#define LF_BIGMEM_PAGE ((size_t)4096)

/* 1 unless the environment says LLMFLASH_THP=0 */
int lf_bigmem_huge(void);

/* Whole pages: 2 MiB-aligned, n rounded up to whole 2 MiB and advised into huge pages
 * (4 KiB-aligned and rounded to 4 KiB with LLMFLASH_THP=0); NULL when out of memory.
 * lf_bigmem_pages_size(n) is what it really takes, 0 when that overflows. */
void *lf_bigmem_pages(size_t n);
size_t lf_bigmem_pages_size(size_t n);

/* n bytes (uninitialised), or NULL: below 1 MiB plain malloc, from 1 MiB up
 * lf_bigmem_pages (filling it then takes a few page faults instead of one per 4 KiB,
 * each about a microsecond of system time). */
void *lf_bigmem_alloc(size_t n);

/* This process's memory in transparent huge pages now (AnonHugePages of
 * /proc/self/smaps_rollup; 0 where it cannot be read): what the advice really got. */
uint64_t lf_bigmem_huge_bytes(void);

/* An arena: many large arrays that live and die together (a trace's ids and values) in
 * blocks of lf_bigmem_pages, so that filling them takes a few huge-page faults. Why:
 * on this project's VM a fault costs ~11 us; reading a 32 MB trace into 32 arrays of
 * 1 MB (malloc: 4 KiB pages) spent 90 ms in faults, into one arena 4 ms. Memory from
 * lf_bigmem_arena_alloc (n bytes, 64-byte aligned, NULL when out of memory) belongs to
 * the arena: never free() it; lf_bigmem_arena_free releases every block at once.
 * lf_bigmem_arena_owns(a, p): whether p came from a (0 for a NULL arena). */
typedef struct lf_bigmem_arena lf_bigmem_arena;
lf_bigmem_arena *lf_bigmem_arena_new(void);
void *lf_bigmem_arena_alloc(lf_bigmem_arena *a, size_t n);
int lf_bigmem_arena_owns(const lf_bigmem_arena *a, const void *p);
void lf_bigmem_arena_free(lf_bigmem_arena *a);

#endif
