/* lf_pcache: the OS page cache as a real, bounded tier for one weights file. The file is
 * opened for buffered reads with readahead off (POSIX_FADV_RANDOM); after each read the
 * record becomes the most recent of an LRU of records, and records are evicted from the
 * page cache (POSIX_FADV_DONTNEED) until the file's cached records fit the budget: the
 * page cache then holds exactly the budget's LRU, as the `pagecache` policy models it.
 * mincore (through a mapping of the file that is never touched) says, before a read,
 * whether the page cache really holds the record, and how many bytes of the file it
 * holds in all. An lf_pcache owns its descriptor, mapping and lists (lf_pcache_close). */
#ifndef LF_PCACHE_H
#define LF_PCACHE_H

#include <stdint.h>

#include "lf_err.h"

typedef struct lf_pcache lf_pcache;

/* Records are record_bytes long from data_offset to the end of the file. budget: bytes
 * of the file the page cache may hold (0: none: every record is dropped after its read,
 * like F_NOCACHE). group_records > 0: one LRU and one budget per group of that many
 * records (a layer: the `pagecache` policy's scope=layer); 0: one pool for the file.
 * Drops the file's pages from the page cache first (a cold start). */
int lf_pcache_open(const char *path, uint64_t data_offset, uint64_t record_bytes,
                   uint64_t group_records, uint64_t budget, lf_pcache **out, lf_err *err);
void lf_pcache_close(lf_pcache *p);

/* The descriptor to pread the records from (buffered, readahead off). */
int lf_pcache_fd(const lf_pcache *p);
/* "fadvise": the mechanism holding the budget (written to meta.json). */
const char *lf_pcache_mechanism(const lf_pcache *p);
uint64_t lf_pcache_budget(const lf_pcache *p);

/* Before a read: 1 when every page of [offset, offset+len) is in the page cache. */
int lf_pcache_resident(const lf_pcache *p, uint64_t offset, uint64_t len, int *all, lf_err *err);
/* After a read of the record at offset: makes it the most recent and evicts the least
 * recent records until the cached records fit the budget. */
int lf_pcache_touch(lf_pcache *p, uint64_t offset, lf_err *err);
/* Bytes of the whole file in the page cache now (mincore over every page). */
int lf_pcache_cached_bytes(const lf_pcache *p, uint64_t *bytes, lf_err *err);

typedef struct {
    uint64_t evictions;      /* records dropped to keep the budget */
    uint64_t max_cached;     /* most records held at once (all groups) times record_bytes */
} lf_pcache_stats;
void lf_pcache_stats_get(const lf_pcache *p, lf_pcache_stats *s);

#endif
