/* lf_pagecache: the two-level expert cache of the MoE model (policy "pagecache"): an
 * application cache of `dram` units per layer (LRU) in front of the OS page cache of
 * `pc` units per layer (LRU, or one list for all layers with scope=global). A unit the
 * application misses is read through the page cache: a page-cache hit costs a copy
 * (lf_pagecache_time), a miss a flash read that the page cache then keeps. dram=0 is
 * Flash-MoE's "trust the OS": no application cache, every routed expert re-read.
 * Optional speculative prefetch: `prefetch` guessed units per step, each right with
 * probability `acc` (seeded); guesses are read before the routed set is known, and a
 * wrong one costs its read and takes a cache slot.
 * The policy owns its state; plan->pagecache points into it until the next step. */
#ifndef LF_PAGECACHE_H
#define LF_PAGECACHE_H

#include <stdint.h>

#include "lf_kv.h"
#include "lf_policy.h"

/* Keys: dram (default 0), pc (default: the policy budget ctx->capacity minus dram),
 * scope (layer|global, default layer), prefetch (guesses per step, default 0), acc
 * (default 0.5), seed (default ctx->seed). Fills p->state, step, destroy, max_resident. */
int lf_pagecache_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err);

/* Valid keys, NULL-terminated (for the registry row
 * {"pagecache", lf_pagecache_create, lf_pagecache_keys}). */
extern const char *const lf_pagecache_keys[];

/* Creates the policy from its parameters "dram=16,pc=64,..." (or "" for the defaults)
 * without going through the registry; free with lf_policy_free. */
int lf_pagecache_new(const char *params, const lf_policy_ctx *ctx, lf_policy **out, lf_err *err);

/* Totals since creation: wanted units served by the application cache, by the page
 * cache, and read from flash. Returns LF_EINVAL if p is not a pagecache policy. */
typedef struct {
    uint64_t app_hits, pc_hits, flash_reads; /* routed units, by where they came from */
    uint64_t pf_guesses, pf_right;           /* prefetch guesses, of which routed */
    uint64_t pf_pc, pf_flash;                /* guesses read from the page cache / flash */
} lf_pagecache_totals;
int lf_pagecache_get_totals(const lf_policy *p, lf_pagecache_totals *out, lf_err *err);
/* The same counts for the last step only (for pricing prefetch apart: its reads can
 * overlap compute). */
int lf_pagecache_get_last(const lf_policy *p, lf_pagecache_totals *out, lf_err *err);

#endif
