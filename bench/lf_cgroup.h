/* lf_cgroup: a memory cgroup that holds this process's page cache to a budget, the kernel
 * choosing what to evict. An lf_cgroup owns its folder (removed by lf_cgroup_close). */
#ifndef LF_CGROUP_H
#define LF_CGROUP_H

#include <stdint.h>

#include "lf_err.h"

/* How it works. lf_cgroup_open makes the folder "llmflash.<pid>.<n>" (cgroup v2: under
 * the v2 hierarchy's root, when its cgroup.subtree_control enables `memory`; else
 * cgroup v1: under this process's own cgroup of the v1 `memory` hierarchy; or under
 * $LLMFLASH_CGROUP_ROOT when set, a folder of either kind: tests point it at a folder
 * that is not a cgroup to make the creation fail), turns swapping off in it and moves
 * the whole process in (cgroup.procs: the kernel charges page cache and anonymous
 * memory to the cgroup of the process's mm owner, so moving one thread would not do).
 * From then on the kernel charges to it the pages this process brings in: the page
 * cache of what it reads, and the anonymous and kernel memory it touches from now on
 * (what it touched before stays charged where it was; cgroups do not move charges).
 *
 * The limit. Without swap, anonymous memory cannot be reclaimed: at the limit the
 * kernel evicts page cache, and kills the process when no page cache is left to evict.
 * So the limit follows the non-file charge: lf_cgroup_fit, called before every step
 * of the run, sets it to
 *     (charge - file charge) + 5/4 headroom + max(budget, floor) + LF_CGROUP_ROOM
 * with floor = lf_cgroup_floor(the bytes of buffered reads in flight)
 * (memory.limit_in_bytes in v1, memory.max in v2; charge = memory.usage_in_bytes /
 * memory.current, file charge = memory.stat's `cache` / `file`): the memory the process
 * already holds is not squeezed; `headroom` is what the caller is about to allocate
 * (the DRAM rows of a layer it prepares; it fits again once they are taken), a quarter
 * more for what touching it charges besides (page tables, the sanitizer's shadow); the page
 * cache may hold the budget. Memory nobody announces (thread stacks and kernel objects
 * of the reads in flight, the KV cache's growth, the allocator's and the sanitizer's
 * bookkeeping) takes its room from the page cache until the next fit, which the kernel
 * then evicts: the floor (twice the bytes of buffered reads in flight, whose pages are
 * locked while being read so that the kernel cannot evict them, and as much again to
 * evict from; at least 4 MiB) keeps that room when the budget is smaller (the page cache
 * may then hold up to the floor), so that such growth never meets a limit with nothing
 * left to evict. The room (2 MiB) is for non-file
 * memory freed within a step, whose place the page cache takes (the kernel frees the
 * previous step's exited reader threads a little later: ~0.25 MiB with 4 reads in flight
 * under the sanitizers, more with more threads). The charge also counts what the kernel
 * took ahead in per-CPU batches (up to 64 pages per CPU) as non-file memory, which the
 * page cache then uses.
 * The page cache can so exceed max(budget, floor) by up to lf_cgroup_slack() = room +
 * 64 pages per CPU (more if more is freed within a step), and be squeezed below the
 * budget while memory grows within a step: it is measured (mincore), not assumed.
 * Until the first fit there is no limit (nothing is read through the page cache before
 * it). */
#define LF_CGROUP_FLOOR (4ull << 20)
#define LF_CGROUP_ROOM (2ull << 20)
uint64_t lf_cgroup_slack(void);
/* The page cache's room below any budget: max(2 x in_flight, LF_CGROUP_FLOOR). */
uint64_t lf_cgroup_floor(uint64_t in_flight);

typedef struct lf_cgroup lf_cgroup;

/* budget: bytes of page cache the process may hold. One cgroup per process at a time
 * (a process is in one cgroup). Fails (LF_EUNSUP, the reason in err: not root, no
 * writable memory hierarchy, ...) without changing anything. Cgroups of dead processes
 * ("llmflash.<pid>.*", left by SIGKILL) in the same folder are removed first; on
 * SIGINT/SIGTERM/SIGHUP (lf_fs_remove_on_signals) the process leaves its cgroup and
 * removes it before dying. */
int lf_cgroup_open(uint64_t budget, lf_cgroup **out, lf_err *err);
/* Changes the budget; the next fit sets the limit from it. */
void lf_cgroup_set_budget(lf_cgroup *g, uint64_t budget);
/* Bytes of buffered reads the process has in flight at once (0 at open): the floor
 * becomes lf_cgroup_floor(in_flight) from the next fit. */
void lf_cgroup_set_in_flight(lf_cgroup *g, uint64_t in_flight);
/* Sets the limit as above; headroom: bytes the caller allocates before the next fit. */
int lf_cgroup_fit(lf_cgroup *g, uint64_t headroom, lf_err *err);
/* Moves the process back to the cgroup it came from and removes the folder (NULL: no-op).
 * The caller drops the page cache charged to it first (posix_fadvise DONTNEED), or the
 * kernel keeps the charges on a removed cgroup until those pages go. */
int lf_cgroup_close(lf_cgroup *g, lf_err *err);

const char *lf_cgroup_path(const lf_cgroup *g); /* the folder */
int lf_cgroup_version(const lf_cgroup *g);      /* 1 or 2 */
uint64_t lf_cgroup_limit(const lf_cgroup *g);   /* the last limit set (0: none yet) */

#endif
