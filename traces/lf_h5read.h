/* lf_h5read: reading a trace file, one logic (lf_h5read_trace: the root attributes, the
 * shape, per layer indptr, ids, values and predicted sets, every count checked) over a
 * backend that fetches groups, attributes and 1-D datasets. Two backends: lite
 * (lf_h5read_lite, lf_h5lite underneath: the checksummed files llmflash writes, without
 * libhdf5) and libhdf5 (lf_h5child, only in a time-limited child process, for older
 * files and h5py's default). The trace's arrays are the caller's (lf_trace_free). */
#ifndef LF_H5READ_H
#define LF_H5READ_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_h5lite.h"
#include "lf_trace.h"

/* array kinds: indptr, ids, token ids, values (element bytes: lf_h5read_kind_size) */
enum { LF_H5R_U64, LF_H5R_IDX, LF_H5R_I32, LF_H5R_F32 };

typedef struct lf_h5read_be lf_h5read_be;
struct lf_h5read_be {
    const char *path;
    lf_err *err;
    uint64_t budget; /* bytes the arrays may still take */
    /* Opens group `g` ("/" or "/layers" or "/layers/NNN"); *found = 0 when absent. */
    int (*group)(lf_h5read_be *b, const char *g, int *found);
    /* Root attribute: a string (s, cap) or a non-negative integer (*u). */
    int (*attr)(lf_h5read_be *b, const char *name, int is_str, char *s, size_t cap, uint64_t *u,
                int *found);
    /* 1-D dataset `name` in the open group: its length (*total) and its first `count`
     * elements (all when count = UINT64_MAX) converted to the array kind. */
    int (*array)(lf_h5read_be *b, const char *name, int kind, uint64_t *total, uint64_t count,
                 void **out, int *found);
    char where[64]; /* the open group */
    /* Checking ids as they come in (lite only, check_ids set): get_ids puts the CSR
     * of the ids it asks for in ids_indptr / ids_ntok (NULL when that indptr is not
     * monotone), the backend sets ids_valid when it checked every token's ids (sorted,
     * unique, below units_per_layer) and found them valid, and lf_h5read_trace records that
     * in known[] (lf_trace_check_known's form; calloc'ed, the caller frees it). */
    int check_ids;
    const uint64_t *ids_indptr;
    uint32_t ids_ntok, ids_units;
    int ids_valid;
    uint8_t *known;
    /* lite only: keep 16-bit ids 16-bit (lf_trace_read_opts.narrow_ids); the backend
     * sets got16 when the array it returned holds uint16 */
    int narrow, got16;
    /* lite only: leave 16-bit needed ids in the file (lf_trace_read_opts.defer_ids):
     * defer_index is set while get_ids asks for a layer's index, and the backend then
     * sets deferred_at to the ids' file offset instead of reading them (0: it read them) */
    int defer, defer_index;
    uint64_t deferred_at;
    /* lite only: arrays from LF_H5READ_ARENA_MIN bytes go into *arena (the trace's,
     * made on first use), smaller ones are malloc'ed; lf_h5read_drop releases either */
    struct lf_bigmem_arena **arena;
};
#define LF_H5READ_ARENA_MIN ((size_t)256 << 10)
/* Releases an array the backend returned (an error path; an arena keeps its bytes). */
void lf_h5read_drop(lf_h5read_be *b, void *p);

extern const size_t lf_h5read_kind_size[];

/* Reads the trace's first max_tokens tokens (all when fewer) into t through b; on error
 * t may hold part of the arrays (the caller frees it). */
int lf_h5read_trace(lf_h5read_be *b, uint32_t max_tokens, lf_trace *t);
/* The error for dataset `name` of the open group holding the wrong element type. */
int lf_h5read_wrong_type(lf_h5read_be *b, const char *name, int kind);
/* Reads a checksummed file (lf_h5l_open returned LF_OK) with the lite backend; narrow:
 * keep 16-bit ids 16-bit; defer: leave 16-bit needed ids in the file (t->deferred, whose
 * file the caller then opens with lf_trace_defer_open). *known: which id arrays were
 * checked while read (lf_trace_check_known's form), the caller frees it. */
int lf_h5read_lite(const lf_h5l_file *f, uint32_t max_tokens, int narrow, int defer, lf_trace *t,
                   uint8_t **known, lf_err *err);

#endif
