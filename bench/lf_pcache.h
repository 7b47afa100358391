/* lf_pcache: the OS page cache as a real, bounded tier for one weights file. The file is
 * opened for buffered reads with readahead off (POSIX_FADV_RANDOM) and its pages dropped
 * (a cold start); the page cache is then held to the budget by one of two mechanisms:
 * - fadvise: each record a step loads becomes the most recent of an LRU of records (in
 *   the order the `pagecache` policy's model passes them), and records are evicted
 *   (POSIX_FADV_DONTNEED) until the file's cached records fit the budget, the step's
 *   own ones after its reads (lf_pcache_settle): the page cache holds exactly the
 *   budget's LRU, as the policy models it;
 * - cgroup: the process runs in a memory cgroup whose limit leaves the page cache the
 *   budget (bench/lf_cgroup.h); the kernel decides what to evict (its active/inactive
 *   lists, not an exact LRU), and knows no layers: one budget for the whole file, the
 *   sum of the groups' (`groups` x budget).
 * Either way mincore (through a mapping of the file that is never touched) says, before
 * a read, whether the page cache really holds the record, and how many bytes of the file
 * it holds in all: the measured hits are what the page cache served. An lf_pcache owns
 * its descriptor, mapping, lists and cgroup (lf_pcache_close). */
#ifndef LF_PCACHE_H
#define LF_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

typedef struct lf_pcache lf_pcache;

typedef enum {
    LF_PCACHE_FADVISE = 0, /* the default of a zeroed configuration */
    LF_PCACHE_CGROUP,
    LF_PCACHE_AUTO         /* cgroup when one can be created, else fadvise (with the reason) */
} lf_pcache_mech;

/* "fadvise", "cgroup", "auto" (LF_EINVAL naming the known ones otherwise). */
int lf_pcache_mech_parse(const char *s, lf_pcache_mech *out, lf_err *err);
const char *lf_pcache_mech_name(lf_pcache_mech m);

typedef struct {
    uint64_t data_offset, record_bytes; /* records from data_offset to the end of the file */
    uint64_t group_records;  /* > 0: one LRU and one budget per group of that many records
                              * (a layer: the `pagecache` policy's scope=layer); 0: one
                              * pool for the file */
    uint64_t budget;         /* bytes the page cache may hold (per group); 0: none: every
                              * record is dropped after its read, like F_NOCACHE (fadvise) */
    uint32_t groups;         /* cgroup: groups read (the budget is groups x budget); 0: 1 */
    lf_pcache_mech mech;
    uint64_t in_flight;      /* cgroup: bytes of reads in flight at once (they set the
                              * floor: lf_cgroup_set_in_flight) */
} lf_pcache_cfg;

/* Drops the file's pages from the page cache first (a cold start), then holds it to the
 * budget by c->mech. LF_PCACHE_CGROUP fails when no cgroup can be created; AUTO falls
 * back to fadvise and says why (lf_pcache_note). */
int lf_pcache_open(const char *path, const lf_pcache_cfg *c, lf_pcache **out, lf_err *err);
void lf_pcache_close(lf_pcache *p);

/* The descriptor to pread the records from (buffered, readahead off). */
int lf_pcache_fd(const lf_pcache *p);
/* "fadvise" or "cgroup": the mechanism holding the budget (written to meta.json). */
const char *lf_pcache_mechanism(const lf_pcache *p);
/* One line on the mechanism: the cgroup used and its limit rule, or why `auto` fell back
 * to fadvise; "" for fadvise asked. Valid until lf_pcache_close. */
const char *lf_pcache_note(const lf_pcache *p);
uint64_t lf_pcache_budget(const lf_pcache *p);
/* Before a step's reads (cgroup: fits the limit, lf_cgroup_fit; fadvise: nothing).
 * headroom: bytes the caller allocates before its next call. */
int lf_pcache_fit(lf_pcache *p, uint64_t headroom, lf_err *err);

/* Before a read: all = 1 when every page of [offset, offset+len) is in the page cache;
 * bytes (may be NULL): the bytes of the range that are (whole pages, clipped). */
int lf_pcache_resident(const lf_pcache *p, uint64_t offset, uint64_t len, int *all,
                       uint64_t *bytes, lf_err *err);
/* A step's record at offset, in the step's read order, before or after its read
 * (fadvise): makes it the most recent and evicts the least recent records until the
 * cached records fit the budget. An evicted record that this step touched is dropped at
 * lf_pcache_settle (its read may come after this), the others at once. cgroup: checks
 * the offset only (the kernel evicts). */
int lf_pcache_touch(lf_pcache *p, uint64_t offset, lf_err *err);
/* After a step's reads have all landed: drops what the step evicted of its own records;
 * the next touch starts a new step. */
int lf_pcache_settle(lf_pcache *p, lf_err *err);
/* Bytes of the whole file in the page cache now (mincore over every page). */
int lf_pcache_cached_bytes(const lf_pcache *p, uint64_t *bytes, lf_err *err);

typedef struct {
    uint64_t evictions;      /* records dropped to keep the budget (fadvise) */
    uint64_t max_cached;     /* most records held at once (all groups) times record_bytes
                              * (fadvise's LRU; cgroup: 0) */
} lf_pcache_stats;
void lf_pcache_stats_get(const lf_pcache *p, lf_pcache_stats *s);

/* Whether something outside the process reclaims the page cache on its own: a DAMON
 * kdamond running a `pageout` scheme (found under $LLMFLASH_DAMON_ROOT, default
 * /sys/kernel/mm/damon/admin). Such a machine takes pages of records the budget would
 * keep, so records are found partly cached. Returns 1 and a one-line note, else 0 and
 * "". */
int lf_pcache_outside_reclaim(char *note, size_t cap);

/* The bytes such pageout schemes have paged out since their kdamond started (the sum of
 * their stats/sz_applied), after asking each running kdamond to refresh its schemes'
 * stats (writing "update_schemes_stats" to its state file: root only; it changes
 * nothing else). The difference over a run is what the outside reclaimer took during
 * it, machine-wide. Returns 0, or -1 when there is no running kdamond with a pageout
 * scheme or its stats cannot be refreshed or read. */
int lf_pcache_outside_paged(uint64_t *bytes);

#endif
