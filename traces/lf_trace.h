/* lf_trace: the in-memory activation trace: per layer, a CSR of the unit ids (neurons
 * or experts) each token needs, plus optional magnitudes and predicted sets; and its
 * HDF5 file form (schema: traces/README.md). An lf_trace owns all its arrays;
 * lf_trace_free releases them (some may live in the trace's arena). */
#ifndef LF_TRACE_H
#define LF_TRACE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_model.h"

#define LF_TRACE_FORMAT "llmflash-trace"
#define LF_TRACE_VERSION 2    /* 2: fixed-length strings, contiguous data, uint16 ids */
#define LF_TRACE_MAX_LAYERS 4096       /* as lf_model's custom models */
#define LF_TRACE_MAX_UNITS (1u << 24)
#define LF_TRACE_CHILD_TIMEOUT_S 10.0  /* + 1 s per 20 MB, for libhdf5 in a child */

/* A layer's ids are held 32-bit (index), or 16-bit (index16, index NULL) in a trace read
 * with lf_trace_read_opts.narrow_ids from a file that stores them 16-bit: half the
 * memory, and no fresh pages to fill with widened copies (on this project's VM, first
 * touches of fresh memory cost more than the simulator's whole replay). Code that may
 * see either reads ids through lf_trace_ids_to; lf_trace_ids is for 32-bit traces. */
typedef struct {
    uint64_t *indptr;      /* n_tokens+1 entries; token t uses index[indptr[t]..indptr[t+1]) */
    uint32_t *index;       /* sorted, unique within a token, < units_per_layer */
    uint16_t *index16;     /* NULL, or the same ids held 16-bit (then index is NULL) */
    float *value;          /* NULL, or one magnitude / router weight per index entry */
    uint64_t *pred_indptr; /* NULL, or the predictor's sets in the same CSR form */
    uint32_t *pred_index;
    uint16_t *pred_index16; /* as index16, for pred_index */
    uint64_t nnz, cap;           /* entries used / allocated in index (and value) */
    uint64_t pred_nnz, pred_cap; /* same for pred_index */
} lf_trace_layer;

typedef struct {
    lf_unit_kind kind;
    char model[64];           /* a name lf_model_lookup knows, or a free label for imports */
    uint32_t n_layers;
    /* -1: the trace holds every layer of its model. Else it holds part of the model:
     * its layers are the model's first_layer .. first_layer + n_layers - 1 (a routing
     * log of one layer); HDF5 attribute "first_layer", absent in whole-model files. */
    int32_t first_layer;
    uint32_t d_model;
    uint32_t units_per_layer; /* d_ff or n_experts */
    uint32_t top_k;           /* experts; 0 for neurons */
    uint32_t dtype_bytes;
    char source[16];          /* "synthetic" | "recorded" | "imported" */
    uint64_t seed;
    char generator[1024];     /* generator parameters, "key=value key=value ..." */
    uint32_t n_tokens;        /* tokens appended so far */
    uint32_t tokens_cap;      /* capacity of indptr (and tokens) in tokens */
    int32_t *tokens;          /* NULL, or n_tokens token ids */
    lf_trace_layer *layers;   /* n_layers */
    /* NULL, or where a reader put the large arrays (index, index16, value, pred_index,
     * pred_index16 of any layer may point into it; lf_bigmem.h says why): release a
     * trace's arrays with lf_trace_free or lf_trace_set_pred, never with free() */
    struct lf_bigmem_arena *arena;
    /* NULL, or the file that holds the needed ids of a trace read with
     * lf_trace_read_opts.defer_ids (every layer's index and index16 are then NULL) */
    struct lf_trace_deferred *deferred;
} lf_trace;

/* A trace whose needed ids stay in its file: lf_trace_stage brings one layer's ids of a
 * range of tokens into one buffer and checks them there, so a replay holds a few tokens'
 * ids instead of the whole trace's. Why: the memory no longer grows with the trace (a
 * trace larger than memory replays), and the ids land in a buffer still in cache
 * instead of fresh pages (traces/README.md, "Ids left in the file": a whole `sim` about
 * 10% less CPU). The ids are checked when staged, in private memory, so a file changed
 * after it was opened is an error at that step, never an unchecked id. Owned by the
 * trace. */
typedef struct lf_trace_deferred {
    int fd;
    uint64_t file_size; /* at open: nothing is read past it */
    char *path;
    uint64_t *at;       /* per layer: the file offset of its 16-bit ids */
    uint16_t *stage;    /* the staged ids: layer `layer`'s entries [first, end) */
    uint64_t stage_cap, first, end;
    uint32_t layer;
} lf_trace_deferred;

/* Stages layer `layer`'s ids of tokens [t0, t1) of a deferred trace (a no-op for any
 * other): read, checked (sorted, unique, below units_per_layer; an error names the file,
 * layer and token), and what lf_trace_ids_to returns for those tokens until the next
 * call. A layer or tokens outside t (a view: its own n_tokens) are LF_EINVAL. The trace
 * is const: what changes is its lf_trace_deferred, shared by its views. */
int lf_trace_stage(const lf_trace *t, uint32_t layer, uint32_t t0, uint32_t t1, lf_err *err);
/* For readers: t->deferred for t's n_layers (at[] zeroed, no file yet); then the file it
 * reads from (fd is duplicated, path copied); lf_trace_free calls lf_trace_defer_free. */
int lf_trace_defer_init(lf_trace *t, lf_err *err);
int lf_trace_defer_open(lf_trace *t, int fd, uint64_t file_size, const char *path, lf_err *err);
void lf_trace_defer_free(lf_trace *t);

/* The staged ids at entries [a, a + n) of `layer` (lf_trace_stage staged them). */
static inline const uint16_t *lf_trace_staged(const lf_trace *t, uint32_t layer, uint64_t a,
                                              uint32_t n)
{
    const lf_trace_deferred *d = t->deferred;
    assert(d && d->layer == layer && a >= d->first && a + n <= d->end);
    return d->stage + (a - d->first);
}

/* Initialises an empty trace for the given shape. with_values/with_pred/with_tokens
 * select the optional arrays. */
int lf_trace_init(lf_trace *t, const lf_model *m, uint32_t dtype_bytes, int with_values,
                  int with_tokens, lf_err *err);
/* Initialises an empty trace from explicit fields (importers, tests). */
int lf_trace_init_shape(lf_trace *t, lf_unit_kind kind, const char *model, uint32_t n_layers,
                        uint32_t d_model, uint32_t units_per_layer, uint32_t top_k,
                        uint32_t dtype_bytes, int with_values, int with_tokens, lf_err *err);
void lf_trace_free(lf_trace *t);
/* A view of t's first n_tokens tokens (1 <= n_tokens <= t->n_tokens): the same arrays,
 * with n_tokens and each layer's nnz cut, so that whatever reads the view sees a trace
 * of n_tokens tokens. It owns only its layer table: release it with lf_trace_view_free
 * (never lf_trace_free), before t. */
int lf_trace_view(const lf_trace *t, uint32_t n_tokens, lf_trace *view, lf_err *err);
void lf_trace_view_free(lf_trace *view);

/* Appends one token: for each layer l, ids[l][0..n[l]) (sorted unique) and, when the
 * trace has values, vals[l]. token_id is stored when the trace has tokens.
 * Building token by token keeps the CSR invariant at every step. */
int lf_trace_append_token(lf_trace *t, int32_t token_id, const uint32_t *const *ids,
                          const uint32_t *n, const float *const *vals, lf_err *err);
/* Appends one token's ids for a single layer; call for layers 0..n_layers-1 in order,
 * then lf_trace_end_token. Lets generators avoid holding all layers at once. */
int lf_trace_append_layer(lf_trace *t, uint32_t layer, const uint32_t *ids, uint32_t n,
                          const float *vals, lf_err *err);
int lf_trace_end_token(lf_trace *t, int32_t token_id, lf_err *err);
/* Blocks of tokens, one layer at a time, for generators that make a layer's tokens
 * together: write the ids of the next nb tokens of `layer` (each token's sorted and
 * unique, in token order) at the address lf_trace_block_room gives for up to n ids
 * (NULL: out of memory, err set), then lf_trace_block_layer with each token's count;
 * after the layers, lf_trace_block_end(nb) ends the nb tokens (token ids -1; a layer
 * not recorded gets empty sets). Not for traces with values. */
uint32_t *lf_trace_block_room(lf_trace *t, uint32_t layer, uint64_t n, lf_err *err);
int lf_trace_block_layer(lf_trace *t, uint32_t layer, uint32_t nb, const uint32_t *counts,
                         lf_err *err);
int lf_trace_block_end(lf_trace *t, uint32_t nb, lf_err *err);
/* Room for nnz ids (and values) in `layer` before appending: a generator that knows
 * about how many ids it will append saves the regrowth. A smaller nnz than the room
 * already there changes nothing. */
int lf_trace_reserve(lf_trace *t, uint32_t layer, uint64_t nnz, lf_err *err);

/* Adds predicted sets: pred_indptr/pred_index for every layer, built by the caller
 * (malloc'ed arrays whose ownership passes to the trace). */
int lf_trace_set_pred(lf_trace *t, uint32_t layer, uint64_t *indptr, uint32_t *index,
                      uint64_t nnz, lf_err *err);

/* The ids token `tok` needs in `layer`, of a trace that holds them 32-bit (every trace
 * but one read with narrow_ids: there use lf_trace_ids_to). */
static inline const uint32_t *lf_trace_ids(const lf_trace *t, uint32_t layer, uint32_t tok,
                                           uint32_t *n)
{
    const lf_trace_layer *L = &t->layers[layer];
    assert(!L->index16);
    *n = (uint32_t)(L->indptr[tok + 1] - L->indptr[tok]);
    return L->index + L->indptr[tok];
}

/* The ids token `tok` needs in `layer` (pred != 0: its predicted set, which must exist),
 * whichever width the trace holds: a pointer into the trace, or into buf where 16-bit ids
 * are widened (buf: room for the set; units_per_layer entries always are). */
static inline const uint32_t *lf_trace_ids_to(const lf_trace *t, uint32_t layer, uint32_t tok,
                                              int pred, uint32_t *buf, uint32_t *n)
{
    const lf_trace_layer *L = &t->layers[layer];
    const uint64_t *indptr = pred ? L->pred_indptr : L->indptr;
    const uint16_t *narrow = pred ? L->pred_index16 : L->index16;
    uint64_t a = indptr[tok];
    uint32_t count = (uint32_t)(indptr[tok + 1] - a); /* a local: *n may alias buf */
    *n = count;
    if (!count) /* an empty layer's arrays may be NULL */
        return buf;
    if (narrow) {
        narrow += a;
    } else {
        const uint32_t *wide = pred ? L->pred_index : L->index;
        if (wide || pred)
            return wide + a;
        narrow = lf_trace_staged(t, layer, a, count); /* a deferred trace */
    }
    for (uint32_t i = 0; i < count; i++)
        buf[i] = narrow[i];
    return buf;
}

/* Entry i of an id array held at either width (narrow non-NULL: 16-bit, else wide). */
static inline uint32_t lf_ids_at(const uint32_t *wide, const uint16_t *narrow, uint64_t i)
{
    return narrow ? narrow[i] : wide[i];
}

/* Entry i of layer L's ids (pred: its predicted ids), whichever width they are held in:
 * for code that walks a layer's whole array. */
static inline uint32_t lf_trace_id_at(const lf_trace_layer *L, int pred, uint64_t i)
{
    return pred ? lf_ids_at(L->pred_index, L->pred_index16, i)
                : lf_ids_at(L->index, L->index16, i);
}

/* 1 when ids[0..n) are strictly increasing and all below bound (a valid set), in one
 * pass the compiler vectorises; callers on the error path then name the first bad id. */
int lf_ids_ok(const uint32_t *ids, uint64_t n, uint32_t bound);
/* The same for 16-bit ids. */
int lf_ids16_ok(const uint16_t *ids, uint64_t n, uint32_t bound);

/* The first position in sorted ids[0..n) whose id is >= id (n if none): a set's
 * membership test is `lo < n && ids[lo] == id`, the count of ids below id is lo. */
static inline uint32_t lf_ids_lower_bound(const uint32_t *ids, uint32_t n, uint32_t id)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The largest set any token has in any layer: of the needed sets, or (pred != 0) of
 * the recorded predicted sets (0 when there are none). */
uint32_t lf_trace_max_set(const lf_trace *t, int pred);

/* Checks every invariant (shape, monotone indptr, sorted unique in-range ids) and
 * reports the first violation with its layer and token; `what` names the file. */
int lf_trace_check(const lf_trace *t, const char *what, lf_err *err);
/* The same, skipping the id checks of the arrays known to hold valid ids: known[2 l]
 * (layer l's index) and known[2 l + 1] (its pred_index) nonzero; known may be NULL.
 * For a reader that checked the ids in the pass that brought them in (one pass over
 * the ids instead of two); the indptr arrays are still checked. */
int lf_trace_check_known(const lf_trace *t, const char *what, const uint8_t *known, lf_err *err);

/* HDF5 (traces/README.md): writes version 2 (checksummed metadata, contiguous data)
 * through a temporary and rename. */
int lf_trace_write(const lf_trace *t, const char *path, lf_err *err);

typedef struct {
    uint32_t max_tokens; /* read only the first max_tokens tokens (0 = all) */
    int narrow_ids;      /* keep ids the file stores 16-bit as 16-bit (lf_trace_layer) */
    int defer_ids;       /* leave the needed ids the file stores 16-bit in the file
                          * (lf_trace_deferred; ignored for other files): only for
                          * code that reads them through lf_trace_ids_to after
                          * lf_trace_stage */
    double timeout_s;    /* limit of the libhdf5 child (0 = LF_TRACE_CHILD_TIMEOUT_S +
                          * 1 s per 20 MB of file) */
} lf_trace_read_opts;

/* Reads and checks a trace (every attribute, bound and invariant). A file with a
 * checksummed superblock (v2/v3: version 2 traces) is read without libhdf5 (lf_h5lite:
 * checksums, offsets checked against the file size) or refused; one with superblock
 * v0/v1 (version 1 traces, h5py's default) is read by libhdf5 in a child process under
 * a time limit, so a damaged file is an error, never a crash or a hang. o may be NULL
 * (all tokens). */
int lf_trace_read_ex(const char *path, const lf_trace_read_opts *o, lf_trace *t, lf_err *err);
int lf_trace_read(const char *path, lf_trace *t, lf_err *err);

#endif
