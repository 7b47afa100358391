/* The trace's HDF5 form (schema: traces/README.md), written with HDF5's C API so that
 * h5py reads it with no llmflash code: root attributes, /tokens, /layers/NNN/{indptr,
 * index,value,pred_indptr,pred_index}; version 2 = checksummed metadata, fixed-length
 * strings, contiguous unfiltered datasets. Writing goes to a temporary name and is
 * renamed at the end; reading checks every attribute and bound, with lf_h5lite (no
 * libhdf5) for version 2 and libhdf5 in a time-limited child process for the rest. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lf_bigmem.h"
#include "lf_fs.h"
#include "lf_h5lite.h"
#include "lf_trace.h"


static void quiet_hdf5(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---------- writing ---------- */

/* Group creation properties without object timestamps (a property list HDF5 keeps for
 * the life of the process: created once). */
static hid_t untimed_group(void)
{
    static hid_t gcpl = -1;
    if (gcpl < 0) {
        gcpl = H5Pcreate(H5P_GROUP_CREATE);
        H5Pset_obj_track_times(gcpl, 0);
        /* Links stay in the group's checksummed object header (no fractal heap),
         * whatever the number of layers. */
        H5Pset_link_phase_change(gcpl, 65535, 0);
    }
    return gcpl;
}

static int put_str_attr(hid_t obj, const char *name, const char *value)
{
    /* Fixed length (strlen + 1, null-terminated): no global heap, whose variable-length
     * strings libhdf5 cannot read safely from a damaged file. */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, value);
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return rc < 0 ? -1 : 0;
}

static int put_num_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                        const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, mem_type, value);
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

static int put_u32(hid_t obj, const char *name, uint32_t v)
{
    return put_num_attr(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, &v);
}

static int put_array(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                     const void *data, uint64_t n)
{
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0); /* no timestamps: same trace, same bytes */
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t ds = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : 0;
    if (ds >= 0 && n > 0)
        rc = H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0)
        H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

/* The widest array write_layer narrows to uint16 (ids of units_per_layer <= 65536),
 * in elements: the scratch lf_trace_write allocates for all of them. */
static uint64_t narrow_need(const lf_trace *t)
{
    uint64_t n = 0;
    for (uint32_t l = 0; t->units_per_layer <= 65536 && l < t->n_layers; l++) {
        const lf_trace_layer *L = &t->layers[l];
        n = L->nnz > n ? L->nnz : n;
        n = L->pred_indptr && L->pred_nnz > n ? L->pred_nnz : n;
    }
    return n;
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static void narrow(const uint32_t *src, uint16_t *dst, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        dst[i] = (uint16_t)src[i];
}

/* ids as the file stores them: uint16 narrowed here in one vectorised pass (HDF5's own
 * conversion goes element by element through its buffer), else uint32 as they are. */
static int put_ids(hid_t g, const char *name, const lf_trace *t, const uint32_t *ids,
                   const uint16_t *ids16, uint64_t n, uint16_t *scratch)
{
    if (ids16) /* held 16-bit already (read with narrow_ids: units_per_layer <= 65536) */
        return put_array(g, name, H5T_STD_U16LE, H5T_NATIVE_UINT16, ids16, n);
    if (t->units_per_layer > 65536)
        return put_array(g, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, ids, n);
    narrow(ids, scratch, n);
    return put_array(g, name, H5T_STD_U16LE, H5T_NATIVE_UINT16, scratch, n);
}

static int write_layer(hid_t layers, uint32_t l, const lf_trace *t, uint16_t *scratch)
{
    char name[16];
    snprintf(name, sizeof name, "%03u", l);
    hid_t g = H5Gcreate2(layers, name, H5P_DEFAULT, untimed_group(), H5P_DEFAULT);
    if (g < 0)
        return -1;
    const lf_trace_layer *L = &t->layers[l];
    int bad = put_array(g, "indptr", H5T_STD_U64LE, H5T_NATIVE_UINT64, L->indptr,
                        (uint64_t)t->n_tokens + 1) ||
              put_ids(g, "index", t, L->index, L->index16, L->nnz, scratch);
    if (!bad && L->value)
        bad = put_array(g, "value", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, L->value, L->nnz);
    if (!bad && L->pred_indptr)
        bad = put_array(g, "pred_indptr", H5T_STD_U64LE, H5T_NATIVE_UINT64, L->pred_indptr,
                        (uint64_t)t->n_tokens + 1) ||
              put_ids(g, "pred_index", t, L->pred_index, L->pred_index16, L->pred_nnz,
                      scratch);
    H5Gclose(g);
    return bad ? -1 : 0;
}

static const char *kind_name(lf_unit_kind k)
{
    return k == LF_UNITS_EXPERTS ? "experts" : "neurons";
}

static int write_file(const lf_trace *t, hid_t f, uint16_t *scratch)
{
    char created_by[64];
    snprintf(created_by, sizeof created_by, "llmflash %s", LF_VERSION);
    int bad = put_str_attr(f, "format", LF_TRACE_FORMAT) ||
              put_u32(f, "version", LF_TRACE_VERSION) ||
              put_str_attr(f, "kind", kind_name(t->kind)) || put_str_attr(f, "model", t->model) ||
              put_u32(f, "n_layers", t->n_layers) || put_u32(f, "d_model", t->d_model) ||
              put_u32(f, "units_per_layer", t->units_per_layer) || put_u32(f, "top_k", t->top_k) ||
              put_u32(f, "dtype_bytes", t->dtype_bytes) || put_u32(f, "n_tokens", t->n_tokens) ||
              put_str_attr(f, "source", t->source) ||
              put_num_attr(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &t->seed) ||
              put_str_attr(f, "generator", t->generator) ||
              put_str_attr(f, "created_by", created_by) ||
              (t->first_layer >= 0 && put_u32(f, "first_layer", (uint32_t)t->first_layer));
    if (bad)
        return -1;
    if (t->tokens && put_array(f, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, t->tokens, t->n_tokens))
        return -1;
    hid_t layers = H5Gcreate2(f, "layers", H5P_DEFAULT, untimed_group(), H5P_DEFAULT);
    if (layers < 0)
        return -1;
    for (uint32_t l = 0; l < t->n_layers && !bad; l++)
        bad = write_layer(layers, l, t, scratch);
    H5Gclose(layers);
    return bad ? -1 : 0;
}

/* HDF5 builds the file in memory (the core driver, no backing store) and lf_fs writes
 * the image through its temporary + rename. Why not H5Fcreate on the temporary: when
 * the disk fills, H5Fclose fails, HDF5 keeps the half-closed file in its tables and
 * crashes flushing it again at exit (seen with libhdf5 1.10); a memory file cannot
 * fail that way, and the write error comes back through lf_fs like any other file's.
 * Cost: the file is held in memory twice (HDF5's buffer and the image), about 30 MB
 * more peak memory for 1000 tokens of opt-6.7b; the bytes are the same as before. */
int lf_trace_write(const lf_trace *t, const char *path, lf_err *err)
{
    int rc = lf_trace_check(t, path, err);
    if (rc)
        return lf_err_prefix(err, "refusing to write an invalid trace");
    quiet_hdf5();
    /* the in-memory file grows in steps of its expected size: one allocation */
    uint64_t expect = 1 << 20;
    for (uint32_t l = 0; l < t->n_layers; l++) {
        const lf_trace_layer *L = &t->layers[l];
        uint64_t ids = L->nnz + (L->pred_indptr ? L->pred_nnz : 0);
        expect += ids * (t->units_per_layer <= 65536 ? 2 : 4) + (L->value ? L->nnz * 4 : 0) +
                  ((uint64_t)t->n_tokens + 1) * 8 * (L->pred_indptr ? 2 : 1) + 4096;
    }
    uint64_t n_narrow = narrow_need(t);
    uint16_t *scratch = lf_bigmem_alloc(n_narrow ? n_narrow * sizeof *scratch : 1);
    if (!scratch)
        return lf_fail(err, LF_ENOMEM, "%s: out of memory for the ids (%llu)", path,
                       (unsigned long long)n_narrow);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)expect, 0) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        free(scratch);
        return lf_fail(err, LF_EIO, "%s: cannot set up HDF5's in-memory file", path);
    }
    /* The name is only a label: with no backing store nothing is created under it. But
     * the core driver reads a file that exists under it into memory first (a whole old
     * trace, when one is overwritten), so the label is a path that cannot exist. */
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    H5Pset_attr_phase_change(fcpl, 64, 0); /* attributes in the root's header, not a heap */
    hid_t f = H5Fcreate("/nonexistent-llmflash-label/in-memory.h5", H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (f < 0) {
        free(scratch);
        return lf_fail(err, LF_EIO, "%s: HDF5 cannot create the file in memory", path);
    }
    int bad = write_file(t, f, scratch) || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0;
    free(scratch);
    ssize_t size = bad ? -1 : H5Fget_file_image(f, NULL, 0);
    void *image = size > 0 ? malloc((size_t)size) : NULL;
    if (!image || H5Fget_file_image(f, image, (size_t)size) != size)
        bad = 1;
    if (H5Fclose(f) < 0)
        bad = 1;
    if (bad) {
        free(image);
        return lf_fail(err, LF_ENOMEM, "%s: HDF5 could not build the file (out of memory?); nothing written",
                       path);
    }
    /* libhdf5 1.10 clears the superblock's "open for writing" flag in the image but
     * keeps the checksum it computed with the flag set: recompute it (h5py refuses the
     * file otherwise). */
    uint8_t *sb = image;
    if (size >= 48 && sb[8] >= 2) {
        uint32_t c = lf_h5l_checksum(sb, 44);
        for (int i = 0; i < 4; i++)
            sb[44 + i] = (uint8_t)(c >> (8 * i));
    }
    rc = lf_write_file_atomic(path, image, (size_t)size, err);
    free(image);
    return rc;
}


/* ---------- reading ----------
 * One reading logic (read_trace) over two backends: `lite` (lf_h5lite: checksummed
 * files, the ones this llmflash writes, read without libhdf5) and `h5` (libhdf5, for
 * superblock v0/v1: older traces, h5py's default), which only ever runs in a child
 * process with a time limit, so a crash or an endless loop inside libhdf5 becomes an
 * error message. */

enum { A_U64, A_IDX, A_I32, A_F32 }; /* array kinds: indptr, ids, token ids, values */

typedef struct be be;
struct be {
    const char *path;
    lf_err *err;
    uint64_t budget; /* bytes the arrays may still take */
    /* Opens group `g` ("/" or "/layers" or "/layers/NNN"); *found = 0 when absent. */
    int (*group)(be *b, const char *g, int *found);
    /* Root attribute: a string (s, cap) or a non-negative integer (*u). */
    int (*attr)(be *b, const char *name, int is_str, char *s, size_t cap, uint64_t *u,
                int *found);
    /* 1-D dataset `name` in the open group: its length (*total) and its first `count`
     * elements (all when count = UINT64_MAX) converted to the array kind. */
    int (*array)(be *b, const char *name, int kind, uint64_t *total, uint64_t count,
                 void **out, int *found);
    char where[64]; /* the open group */
    /* Checking ids as they come in (lite only, check_ids set): get_ids puts the CSR
     * of the ids it asks for in ids_indptr / ids_ntok (NULL when that indptr is not
     * monotone), the backend sets ids_valid when it checked every token's ids (sorted,
     * unique, below units_per_layer) and found them valid, and read_trace records that
     * in known[] (lf_trace_check_known's form; calloc'ed, the caller frees it). */
    int check_ids;
    const uint64_t *ids_indptr;
    uint32_t ids_ntok, ids_units;
    int ids_valid;
    uint8_t *known;
    /* lite only: keep 16-bit ids 16-bit (lf_trace_read_opts.narrow_ids); the backend
     * sets got16 when the array it returned holds uint16 */
    int narrow, got16;
};

static const size_t kind_size[] = {8, 4, 4, 4};

static int missing(be *b, const char *what, const char *name)
{
    return lf_fail(b->err, LF_EFORMAT,
                   "%s: %s '%s' missing (not an llmflash trace, or written by an incomplete "
                   "tool; re-create it with 'llmflash trace synth|record|import')",
                   b->path, what, name);
}

static int get_str(be *b, const char *name, char *out, size_t cap, int required)
{
    int found = 0;
    out[0] = '\0';
    int rc = b->attr(b, name, 1, out, cap, NULL, &found);
    if (!rc && !found && required)
        return missing(b, "attribute", name);
    return rc;
}

static int get_u64(be *b, const char *name, uint64_t *out, int required)
{
    int found = 0;
    *out = 0;
    int rc = b->attr(b, name, 0, NULL, 0, out, &found);
    if (!rc && !found && required)
        return missing(b, "attribute", name);
    return rc;
}

static int get_u32(be *b, const char *name, uint32_t *out)
{
    uint64_t v;
    int rc = get_u64(b, name, &v, 1);
    if (rc)
        return rc;
    if (v > UINT32_MAX)
        return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' = %llu is too large", b->path,
                       name, (unsigned long long)v);
    *out = (uint32_t)v;
    return LF_OK;
}

/* Dataset `name` of the open group with `expect` elements (UINT64_MAX: any, returned in
 * *total); its first `count` elements land in *out. */
static int get_array(be *b, const char *name, int kind, uint64_t expect, uint64_t count,
                     void **out, uint64_t *total, int required)
{
    uint64_t n = 0;
    int found = 0;
    *out = NULL;
    int rc = b->array(b, name, kind, &n, count, out, &found);
    if (!rc && !found)
        return required ? lf_fail(b->err, LF_EFORMAT, "%s: dataset %s/%s missing", b->path,
                                  b->where, name)
                        : LF_OK;
    if (!rc && expect != UINT64_MAX && n != expect)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: %s/%s has %llu elements, expected %llu", b->path,
                     b->where, name, (unsigned long long)n, (unsigned long long)expect);
    if (rc) {
        free(*out);
        *out = NULL;
    } else if (total) {
        *total = n;
    }
    return rc;
}

/* Whether the open group has dataset `name`, and its length. */
static int present(be *b, const char *name, int kind, uint64_t *total, int *found)
{
    void *none = NULL;
    *found = 0;
    return b->array(b, name, kind, total, 0, &none, found);
}

/* Ids (index or pred_index) of the first n_tok tokens, whose indptr is already read;
 * *known = 1 when the backend checked them (b->check_ids). */
static int get_ids(be *b, const char *name, const uint64_t *indptr, uint32_t n_tok,
                   uint32_t **ids, uint16_t **ids16, uint64_t *nnz, uint64_t *total,
                   uint8_t *known)
{
    uint64_t want = indptr[n_tok];
    int found, rc = present(b, name, A_IDX, total, &found);
    if (!rc && !found)
        return lf_fail(b->err, LF_EFORMAT, "%s: dataset %s/%s missing", b->path, b->where, name);
    if (!rc && want > *total)
        rc = lf_fail(b->err, LF_EFORMAT,
                     "%s: %s/%s has %llu ids but the indptr of token %u reaches %llu (damaged "
                     "file; re-create it)",
                     b->path, b->where, name, (unsigned long long)*total, n_tok,
                     (unsigned long long)want);
    if (rc)
        return rc;
    *nnz = want;
    /* a backend can check the ids by token only along a monotone indptr (else
     * lf_trace_check reports the indptr) */
    int mono = b->check_ids;
    for (uint32_t k = 0; k < n_tok && mono; k++)
        mono = indptr[k] <= indptr[k + 1];
    b->ids_indptr = mono ? indptr : NULL;
    b->ids_ntok = n_tok;
    b->ids_valid = 0;
    b->got16 = 0;
    void *arr = NULL;
    rc = get_array(b, name, A_IDX, *total, want, &arr, NULL, 1);
    if (b->got16)
        *ids16 = arr;
    else
        *ids = arr;
    *known = !rc && mono && b->ids_valid;
    b->ids_indptr = NULL;
    return rc;
}

static int read_layer(be *b, uint32_t l, uint32_t n_tok, uint32_t n_tokens, lf_trace *t)
{
    char g[32];
    snprintf(g, sizeof g, "/layers/%03u", l);
    int found = 0;
    int rc = b->group(b, g, &found);
    if (!rc && !found)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: group %s missing (n_layers = %u)", b->path, g,
                     t->n_layers);
    if (rc)
        return rc;
    lf_trace_layer *L = &t->layers[l];
    uint64_t n1 = (uint64_t)n_tokens + 1, total = 0;
    if ((rc = get_array(b, "indptr", A_U64, n1, (uint64_t)n_tok + 1, (void **)&L->indptr, NULL,
                        1)))
        return rc;
    if (L->indptr[0] != 0)
        return LF_OK; /* lf_trace_check names it */
    uint8_t unused[2], *known = b->known ? b->known + 2 * (size_t)l : unused;
    if ((rc = get_ids(b, "index", L->indptr, n_tok, &L->index, &L->index16, &L->nnz, &total,
                      &known[0])))
        return rc;
    L->cap = L->nnz;
    if ((rc = get_array(b, "value", A_F32, total, L->nnz, (void **)&L->value, NULL, 0)))
        return rc;
    int has_pi, has_px;
    uint64_t ignored;
    if ((rc = present(b, "pred_indptr", A_U64, &ignored, &has_pi)) ||
        (rc = present(b, "pred_index", A_IDX, &ignored, &has_px)))
        return rc;
    if (has_pi != has_px)
        return lf_fail(b->err, LF_EFORMAT, "%s: %s has only one of pred_indptr and pred_index",
                       b->path, g);
    if (!has_pi)
        return LF_OK;
    if ((rc = get_array(b, "pred_indptr", A_U64, n1, (uint64_t)n_tok + 1,
                        (void **)&L->pred_indptr, NULL, 1)))
        return rc;
    if (L->pred_indptr[0] != 0)
        return LF_OK;
    rc = get_ids(b, "pred_index", L->pred_indptr, n_tok, &L->pred_index, &L->pred_index16,
                 &L->pred_nnz, &ignored, &known[1]);
    L->pred_cap = L->pred_nnz;
    return rc;
}

static int read_trace(be *b, uint32_t max_tokens, lf_trace *t)
{
    char format[64], kind[32];
    uint32_t version, n_tokens;
    int found = 0;
    int rc = b->group(b, "/", &found);
    if (rc || (rc = get_str(b, "format", format, sizeof format, 1)))
        return rc;
    if (strcmp(format, LF_TRACE_FORMAT) != 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: format attribute is '%s', expected '%s'",
                       b->path, format, LF_TRACE_FORMAT);
    if ((rc = get_u32(b, "version", &version)))
        return rc;
    if (version < 1 || version > LF_TRACE_VERSION)
        return lf_fail(b->err, LF_EFORMAT,
                       "%s: trace format version %u; this llmflash reads versions 1 to %d "
                       "(a newer llmflash wrote it?)",
                       b->path, version, LF_TRACE_VERSION);
    if ((rc = get_str(b, "kind", kind, sizeof kind, 1)))
        return rc;
    if (strcmp(kind, "neurons") == 0)
        t->kind = LF_UNITS_NEURONS;
    else if (strcmp(kind, "experts") == 0)
        t->kind = LF_UNITS_EXPERTS;
    else
        return lf_fail(b->err, LF_EFORMAT, "%s: kind '%s' is neither 'neurons' nor 'experts'",
                       b->path, kind);
    if ((rc = get_str(b, "model", t->model, sizeof t->model, 1)) ||
        (rc = get_u32(b, "n_layers", &t->n_layers)) || (rc = get_u32(b, "d_model", &t->d_model)) ||
        (rc = get_u32(b, "units_per_layer", &t->units_per_layer)) ||
        (rc = get_u32(b, "top_k", &t->top_k)) || (rc = get_u32(b, "dtype_bytes", &t->dtype_bytes)) ||
        (rc = get_u32(b, "n_tokens", &n_tokens)) ||
        (rc = get_str(b, "source", t->source, sizeof t->source, 1)) ||
        (rc = get_u64(b, "seed", &t->seed, 0)) ||
        (rc = get_str(b, "generator", t->generator, sizeof t->generator, 0)))
        return rc;
    /* first_layer: present only in a trace of part of its model (absent: every layer) */
    uint64_t first = 0;
    int part = 0;
    if ((rc = b->attr(b, "first_layer", 0, NULL, 0, &first, &part)))
        return rc;
    if (part && first > LF_TRACE_MAX_LAYERS)
        return lf_fail(b->err, LF_EFORMAT, "%s: implausible first_layer %llu", b->path,
                       (unsigned long long)first);
    t->first_layer = part ? (int32_t)first : -1;
    if (t->n_layers == 0 || t->n_layers > LF_TRACE_MAX_LAYERS || t->units_per_layer == 0 ||
        t->units_per_layer > LF_TRACE_MAX_UNITS)
        return lf_fail(b->err, LF_EFORMAT,
                       "%s: implausible shape n_layers=%u units_per_layer=%u (1..%u and 1..%u "
                       "allowed; damaged file?)",
                       b->path, t->n_layers, t->units_per_layer, LF_TRACE_MAX_LAYERS,
                       LF_TRACE_MAX_UNITS);
    t->n_tokens = t->tokens_cap = n_tokens < max_tokens ? n_tokens : max_tokens;
    if ((rc = get_array(b, "tokens", A_I32, n_tokens, t->n_tokens, (void **)&t->tokens, NULL, 0)))
        return rc;
    if ((rc = b->group(b, "/layers", &found)))
        return rc;
    if (!found)
        return lf_fail(b->err, LF_EFORMAT, "%s: group /layers missing", b->path);
    /* indptr arrays come from the file (each is checked against what the file holds)
     * but this one is sized by attributes: bound it by the layer count checked above. */
    t->layers = calloc(t->n_layers, sizeof *t->layers);
    if (b->check_ids)
        b->known = calloc(2 * (size_t)t->n_layers, 1);
    if (!t->layers || (b->check_ids && !b->known))
        return lf_fail(b->err, LF_ENOMEM, "%s: out of memory", b->path);
    b->ids_units = t->units_per_layer;
    for (uint32_t l = 0; l < t->n_layers && !rc; l++)
        rc = read_layer(b, l, t->n_tokens, n_tokens, t);
    return rc;
}

/* ---------- the lite backend (no libhdf5) ---------- */

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lf_trace_h5.c reads little-endian data straight into memory: port the copy loops"
#endif

typedef struct {
    be b;
    const lf_h5l_file *f;
    lf_h5l_obj root, layers, grp;
    const lf_h5l_obj *cur;
} lite;

static int lite_group(be *b, const char *g, int *found)
{
    lite *l = (lite *)b;
    snprintf(b->where, sizeof b->where, "%s", strcmp(g, "/") ? g : "");
    uint64_t addr = l->f->root;
    int rc = LF_OK;
    *found = 1;
    if (strcmp(g, "/") == 0) {
        lf_h5l_obj_free(&l->root);
        rc = lf_h5l_obj_read(l->f, addr, "/", &l->root, b->err);
        l->cur = &l->root;
    } else if (strcmp(g, "/layers") == 0) {
        lf_h5l_obj_free(&l->layers);
        rc = lf_h5l_link(l->f, &l->root, "/", "layers", &addr, b->err);
        if (!rc && addr)
            rc = lf_h5l_obj_read(l->f, addr, g, &l->layers, b->err);
        l->cur = &l->layers;
    } else {
        lf_h5l_obj_free(&l->grp);
        rc = lf_h5l_link(l->f, &l->layers, "/layers", g + 8, &addr, b->err);
        if (!rc && addr)
            rc = lf_h5l_obj_read(l->f, addr, g, &l->grp, b->err);
        l->cur = &l->grp;
    }
    if (!rc && !addr)
        *found = 0;
    return rc;
}

static int lite_attr(be *b, const char *name, int is_str, char *s, size_t cap, uint64_t *u,
                     int *found)
{
    lite *l = (lite *)b;
    lf_h5l_value v;
    int rc = lf_h5l_attr(l->f, &l->root, "/", name, &v, b->err);
    if (rc || !(*found = v.found))
        return rc;
    if (is_str) {
        if (v.cls != LF_H5L_STR || v.npoints != 1)
            return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be a string", b->path,
                           name);
        size_t n = v.size < cap - 1 ? v.size : cap - 1;
        memcpy(s, v.data, n);
        s[n] = '\0';
        return LF_OK;
    }
    if ((v.cls != LF_H5L_UINT && v.cls != LF_H5L_SINT) || v.npoints != 1 || v.size == 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be one integer", b->path,
                       name);
    *u = 0;
    for (uint32_t i = 0; i < v.size; i++)
        *u |= (uint64_t)v.data[i] << (8 * i);
    if (v.cls == LF_H5L_SINT && (v.data[v.size - 1] & 0x80))
        return lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' is not a non-negative integer",
                       b->path, name);
    return LF_OK;
}

static int wrong_type(be *b, const char *name, int kind)
{
    return lf_fail(b->err, LF_EFORMAT, "%s: %s/%s has the wrong element type (%s expected)",
                   b->path, b->where, name, kind == A_F32 ? "float" : "integer");
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static void widen(const uint16_t *src, uint32_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

/* lf_ids_ok on 16-bit ids, in 16-bit lanes: the ids with their top bit flipped compare
 * as signed 16-bit numbers in the order of the ids, which SSE2 compares and maxes
 * (it has no unsigned 16-bit compare; in 32-bit lanes the check cost 3x more). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static int ids16_ok(const uint16_t *ids, size_t n, uint32_t bound)
{
    if (n == 0)
        return 1;
    int16_t top = (int16_t)(ids[0] ^ 0x8000), bad = 0;
    for (size_t i = 1; i < n; i++) {
        int16_t x = (int16_t)(ids[i] ^ 0x8000), y = (int16_t)(ids[i - 1] ^ 0x8000);
        top = x > top ? x : top;
        bad |= (int16_t)-(x <= y);
    }
    return (uint32_t)(uint16_t)(top ^ 0x8000) < bound && !bad;
}

/* Checks the ids a block at a time as they are read, while the block is in cache (a
 * second pass over the widened ids in lf_trace_check read twice the bytes from memory).
 * A token's ids may run on from one block into the next. */
typedef struct {
    const uint64_t *indptr; /* monotone, indptr[0] = 0, n_tok + 1 entries */
    uint32_t n_tok, tok, units;
    int ok;
    uint16_t last; /* the previous block's last id */
} ids_check;

static void ids_check_block(ids_check *c, const uint16_t *buf, uint64_t i0, size_t n)
{
    uint64_t pos = i0, end = i0 + n;
    while (c->ok && pos < end) {
        while (c->tok < c->n_tok && c->indptr[c->tok + 1] <= pos)
            c->tok++;
        if (c->tok == c->n_tok) { /* ids past the last token's: not this CSR's */
            c->ok = 0;
            break;
        }
        uint64_t a = c->indptr[c->tok], e = c->indptr[c->tok + 1] < end ? c->indptr[c->tok + 1] : end;
        if (pos == i0 && pos > a && buf[0] <= c->last) /* the token began in the last block */
            c->ok = 0;
        if (!ids16_ok(buf + (pos - i0), (size_t)(e - pos), c->units))
            c->ok = 0;
        pos = e;
    }
    c->last = buf[n - 1];
}

static int lite_array(be *b, const char *name, int kind, uint64_t *total, uint64_t count,
                      void **out, int *found)
{
    lite *l = (lite *)b;
    uint64_t addr;
    char where[96];
    snprintf(where, sizeof where, "%s/%s", b->where, name);
    int rc = lf_h5l_link(l->f, l->cur, b->where[0] ? b->where : "/", name, &addr, b->err);
    if (rc || !(*found = addr != 0))
        return rc;
    lf_h5l_obj o;
    lf_h5l_value v;
    if ((rc = lf_h5l_obj_read(l->f, addr, where, &o, b->err)))
        return rc;
    rc = lf_h5l_dataset(l->f, &o, where, &v, b->err);
    lf_h5l_obj_free(&o);
    if (rc)
        return rc;
    int is_float = v.cls == LF_H5L_F32;
    if (is_float != (kind == A_F32))
        return wrong_type(b, name, kind);
    int ok = kind == A_U64 ? v.cls == LF_H5L_UINT && v.size == 8
           : kind == A_IDX ? v.cls == LF_H5L_UINT && (v.size == 2 || v.size == 4)
           : kind == A_I32 ? v.cls == LF_H5L_SINT && v.size == 4
                           : 1;
    if (!ok)
        return lf_fail(b->err, LF_EFORMAT,
                       "%s: %s has an element type this llmflash does not write (%s %u bytes); "
                       "re-write the file with llmflash",
                       b->path, where, v.cls == LF_H5L_SINT ? "signed" : "unsigned", v.size);
    if (v.rank != 1)
        return lf_fail(b->err, LF_EFORMAT, "%s: %s must be 1-D (has %d dimensions)", b->path,
                       where, v.rank);
    *total = v.npoints;
    if (count > v.npoints)
        count = v.npoints;
    if (count == 0)
        return LF_OK;
    /* uint16 ids are kept 16-bit (narrow) or widened; every other array is read as it is
     * (the type checks above made its element size the kind's) */
    int ids16 = kind == A_IDX && v.size == 2, keep16 = ids16 && b->narrow;
    size_t es = keep16 ? 2 : kind_size[kind];
    uint8_t *dst = lf_bigmem_alloc(count * es);
    if (!dst)
        return lf_fail(b->err, LF_ENOMEM, "%s: out of memory reading %s", b->path, where);
    if (!ids16) {
        rc = lf_h5l_pread(l->f, v.addr, dst, count * es, where, b->err);
    } else { /* checked a block at a time (while in cache) */
        uint16_t buf[1 << 15];
        ids_check c = {.indptr = b->ids_indptr, .n_tok = b->ids_ntok, .units = b->ids_units,
                       .ok = b->ids_indptr != NULL};
        for (uint64_t i = 0; i < count && !rc; i += sizeof buf / 2) {
            size_t n = count - i < sizeof buf / 2 ? (size_t)(count - i) : sizeof buf / 2;
            uint16_t *to = keep16 ? (uint16_t *)dst + i : buf;
            rc = lf_h5l_pread(l->f, v.addr + 2 * i, to, 2 * n, where, b->err);
            if (!rc && !keep16)
                widen(buf, (uint32_t *)dst + i, n);
            if (!rc && c.ok)
                ids_check_block(&c, to, i, n);
        }
        b->ids_valid = c.ok; /* else lf_trace_check finds and names the first bad id */
        b->got16 = keep16;
    }
    if (rc)
        free(dst);
    else
        *out = dst;
    return rc;
}

/* *known: which id arrays were checked while read (lf_trace_check_known), or NULL */
static int read_lite(const lf_h5l_file *f, uint32_t max_tokens, int narrow, lf_trace *t,
                     uint8_t **known, lf_err *err)
{
    lite l = {.b = {.path = f->path, .err = err, .group = lite_group, .attr = lite_attr,
                    .array = lite_array, .check_ids = 1, .narrow = narrow},
              .f = f};
    int rc = read_trace(&l.b, max_tokens, t);
    *known = l.b.known;
    lf_h5l_obj_free(&l.root);
    lf_h5l_obj_free(&l.layers);
    lf_h5l_obj_free(&l.grp);
    return rc;
}

/* ---------- the libhdf5 backend (only in the child) ---------- */

typedef struct {
    be b;
    hid_t f, g;
    char *place; /* shared with the parent: what libhdf5 is reading now */
} h5be;

static void at(h5be *h, const char *what, const char *name)
{
    snprintf(h->place, 256, "%s%s%s", what, name ? " " : "", name ? name : "");
}

static int h5_group(be *b, const char *g, int *found)
{
    h5be *h = (h5be *)b;
    snprintf(b->where, sizeof b->where, "%s", strcmp(g, "/") ? g : "");
    if (h->g >= 0)
        H5Gclose(h->g);
    h->g = -1;
    at(h, "group", g);
    *found = 1;
    if (strcmp(g, "/") != 0) {
        *found = H5Lexists(h->f, "layers", H5P_DEFAULT) > 0 &&
                 (strcmp(g, "/layers") == 0 || H5Lexists(h->f, g, H5P_DEFAULT) > 0);
        if (!*found)
            return LF_OK;
    }
    h->g = H5Gopen2(h->f, g, H5P_DEFAULT);
    if (h->g < 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: cannot open group %s", b->path, g);
    return LF_OK;
}

static int h5_attr(be *b, const char *name, int is_str, char *s, size_t cap, uint64_t *u,
                   int *found)
{
    h5be *h = (h5be *)b;
    at(h, "attribute", name);
    if (!(*found = H5Aexists(h->f, name) > 0))
        return LF_OK;
    hid_t attr = H5Aopen(h->f, name, H5P_DEFAULT);
    hid_t ftype = H5Aget_type(attr), space = H5Aget_space(attr);
    int rc = LF_OK;
    int one = H5Sget_simple_extent_npoints(space) == 1;
    if (is_str && (H5Tget_class(ftype) != H5T_STRING || !one)) {
        rc = lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be a string", b->path, name);
    } else if (is_str && H5Tis_variable_str(ftype) > 0) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char *v = NULL;
        if (H5Aread(attr, mtype, &v) < 0 || !v)
            rc = lf_fail(b->err, LF_EFORMAT, "%s: cannot read attribute '%s'", b->path, name);
        else
            snprintf(s, cap, "%s", v);
        if (v)
            H5free_memory(v);
        H5Tclose(mtype);
    } else if (is_str) {
        size_t sz = H5Tget_size(ftype);
        char *buf = sz < (1u << 20) ? calloc(sz + 1, 1) : NULL;
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, sz ? sz : 1);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        if (!buf || H5Aread(attr, mtype, buf) < 0)
            rc = lf_fail(b->err, LF_EFORMAT, "%s: cannot read attribute '%s'", b->path, name);
        else
            snprintf(s, cap, "%s", buf);
        free(buf);
        H5Tclose(mtype);
    } else if (H5Tget_class(ftype) != H5T_INTEGER || !one) {
        rc = lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' should be one integer", b->path,
                     name);
    } else if (H5Aread(attr, H5T_NATIVE_UINT64, u) < 0) {
        rc = lf_fail(b->err, LF_EFORMAT, "%s: attribute '%s' is not a non-negative integer",
                     b->path, name);
    }
    H5Sclose(space);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

static int h5_array(be *b, const char *name, int kind, uint64_t *total, uint64_t count,
                    void **out, int *found)
{
    h5be *h = (h5be *)b;
    char where[96];
    snprintf(where, sizeof where, "%s/%s", b->where, name);
    at(h, "dataset", where);
    if (!(*found = H5Lexists(h->g, name, H5P_DEFAULT) > 0))
        return LF_OK;
    hid_t ds = H5Dopen2(h->g, name, H5P_DEFAULT);
    if (ds < 0)
        return lf_fail(b->err, LF_EFORMAT, "%s: cannot open dataset %s", b->path, where);
    hid_t space = H5Dget_space(ds), ftype = H5Dget_type(ds);
    hid_t mtype = kind == A_U64   ? H5T_NATIVE_UINT64
                  : kind == A_IDX ? H5T_NATIVE_UINT32
                  : kind == A_I32 ? H5T_NATIVE_INT32
                                  : H5T_NATIVE_FLOAT;
    hsize_t dims[1] = {0};
    int rc = LF_OK, rank = H5Sget_simple_extent_ndims(space);
    H5T_class_t cls = H5Tget_class(ftype);
    size_t es = kind_size[kind];
    if (rank != 1)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: %s must be 1-D (has %d dimensions)", b->path,
                     where, rank);
    else if ((cls == H5T_FLOAT) != (kind == A_F32) || (cls != H5T_FLOAT && cls != H5T_INTEGER))
        rc = wrong_type(b, name, kind);
    else if (H5Sget_simple_extent_dims(space, dims, NULL) != 1)
        rc = lf_fail(b->err, LF_EFORMAT, "%s: cannot read the shape of %s", b->path, where);
    else if (dims[0] > b->budget / es)
        rc = lf_fail(b->err, LF_EFORMAT,
                     "%s: %s claims %llu elements, more than the file can hold (damaged file; "
                     "re-create it)",
                     b->path, where, (unsigned long long)dims[0]);
    *total = dims[0];
    if (count > dims[0])
        count = dims[0];
    if (!rc && count > 0) {
        void *buf = malloc(count * es);
        hsize_t start[1] = {0}, n[1] = {count};
        hid_t ms = H5Screate_simple(1, n, NULL);
        at(h, "reading dataset", where);
        if (!buf)
            rc = lf_fail(b->err, LF_ENOMEM, "%s: out of memory reading %s", b->path, where);
        else if (H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, n, NULL) < 0 ||
                 H5Dread(ds, mtype, ms, space, H5P_DEFAULT, buf) < 0)
            rc = lf_fail(b->err, LF_EFORMAT,
                         "%s: cannot read %s (truncated or corrupt file, or values out of range "
                         "for the type)",
                         b->path, where);
        H5Sclose(ms);
        if (rc)
            free(buf);
        else
            *out = buf;
        b->budget -= count * es;
    }
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(ds);
    return rc;
}

/* ---------- the child process ----------
 * The child reads with libhdf5 and sends the trace down a pipe: a header (status, the
 * lf_trace struct or the error), then per layer its counts and arrays. The parent
 * bounds every count again before allocating; pointers in the struct are not used. */

#define WIRE_MAGIC 0x4c465452u /* "LFTR" */
#define MAX_EXPANSION 1100     /* deflate expands at most ~1032x */

typedef struct {
    uint32_t magic;
    int32_t rc;
    lf_err err;
    lf_trace t;
    uint8_t has_tokens;
} wire_head;

typedef struct {
    uint64_t nnz, pred_nnz;
    uint8_t has_value, has_pred;
} wire_layer;

static int put_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sanitizer builds (the tests' and the fuzzers'): the child clears the sanitizer's death
 * callback, decided at compile time rather than by a weak symbol. */
#if defined(__SANITIZE_ADDRESS__)
#define LF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LF_SANITIZED 1
#endif
#endif
#ifdef LF_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

static void child_read(const char *path, uint64_t fsize, uint32_t max_tokens, char *place, int fd)
{
    /* A crash here must end this process, not run a fuzzer's or sanitizer's handler. */
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], SIG_DFL);
#ifdef LF_SANITIZED
    __sanitizer_set_death_callback(NULL);
#endif
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
        dup2(devnull, 2);
#ifndef LF_SANITIZED
    /* A memory limit too: what the parent already maps, plus twice what the trace may
     * expand to, plus 1 GiB for libhdf5. A small damaged file that makes libhdf5 ask for
     * more gets a failed allocation (an error, or a crash the parent reports), not the
     * machine's memory. (Sanitizer builds reserve terabytes of shadow: no limit there.) */
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) {
        if (fscanf(statm, "%ld", &pages) != 1)
            pages = 0;
        fclose(statm);
    }
    uint64_t expand = fsize * MAX_EXPANSION + (1u << 20);
    struct rlimit lim;
    if (pages > 0 && getrlimit(RLIMIT_AS, &lim) == 0) {
        uint64_t want = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) + 2 * expand +
                        ((uint64_t)1 << 30);
        if (lim.rlim_cur == RLIM_INFINITY || want < lim.rlim_cur) {
            lim.rlim_cur = (rlim_t)want;
            setrlimit(RLIMIT_AS, &lim);
        }
    }
#endif
    quiet_hdf5();
    wire_head h;
    memset(&h, 0, sizeof h);
    h.magic = WIRE_MAGIC;
    h5be hb = {.b = {.path = path, .err = &h.err, .budget = fsize * MAX_EXPANSION + (1u << 20),
                     .group = h5_group, .attr = h5_attr, .array = h5_array},
               .f = -1, .g = -1, .place = place};
    at(&hb, "opening the file", NULL);
    hb.f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (hb.f < 0)
        h.rc = lf_fail(&h.err, LF_EFORMAT, "%s: cannot open as HDF5 (truncated or corrupt?)", path);
    else
        h.rc = read_trace(&hb.b, max_tokens, &h.t);
    /* Closing may touch damaged metadata too: the result is sent first. */
    h.has_tokens = h.t.tokens != NULL;
    int bad = put_all(fd, &h, sizeof h);
    for (uint32_t l = 0; !bad && !h.rc && l < h.t.n_layers; l++) {
        const lf_trace_layer *L = &h.t.layers[l];
        wire_layer w;
        memset(&w, 0, sizeof w); /* its padding is sent too (valgrind checks each byte) */
        w.nnz = L->nnz;
        w.pred_nnz = L->pred_nnz;
        w.has_value = L->value != NULL;
        w.has_pred = L->pred_indptr != NULL;
        size_t n1 = ((size_t)h.t.n_tokens + 1) * 8;
        bad = put_all(fd, &w, sizeof w) || put_all(fd, L->indptr, n1) ||
              put_all(fd, L->index, L->nnz * 4) ||
              (w.has_value && put_all(fd, L->value, L->nnz * 4)) ||
              (w.has_pred && (put_all(fd, L->pred_indptr, n1) ||
                              put_all(fd, L->pred_index, L->pred_nnz * 4)));
    }
    if (!bad && !h.rc && h.has_tokens)
        bad = put_all(fd, h.t.tokens, (size_t)h.t.n_tokens * 4);
    uint32_t end = WIRE_MAGIC;
    if (!bad)
        put_all(fd, &end, sizeof end);
    close(fd);
    _exit(0);
}

enum { W_EOF = 1001, W_TIMEOUT, W_BIG }; /* receiving failures (LF codes are negative) */

/* Reads exactly n bytes before the deadline; W_EOF at the end of the stream. */
static int get_all(int fd, void *p, size_t n, const struct timespec *deadline)
{
    uint8_t *b = p;
    while (n > 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
                  (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0)
            return W_TIMEOUT;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)(ms > 1000000 ? 1000000 : ms));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        ssize_t r = read(fd, b, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return W_EOF;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Allocates (bounded by *budget) and receives n bytes; W_BIG when over budget or out
 * of memory. */
static int get_arr(int fd, void **out, uint64_t n, uint64_t *budget, const struct timespec *dl)
{
    if (n > *budget)
        return W_BIG;
    *budget -= n;
    *out = malloc(n ? n : 1);
    if (!*out)
        return W_BIG;
    return get_all(fd, *out, n, dl);
}

static int receive(int fd, uint64_t budget, const struct timespec *dl, lf_trace *t, lf_err *err)
{
    wire_head h;
    int rc = get_all(fd, &h, sizeof h, dl);
    if (rc)
        return rc;
    if (h.magic != WIRE_MAGIC)
        return W_EOF;
    if (h.rc) {
        h.err.msg[sizeof h.err.msg - 1] = '\0';
        *err = h.err;
        return h.rc;
    }
    *t = h.t;
    t->layers = NULL;
    t->tokens = NULL;
    t->model[sizeof t->model - 1] = t->source[sizeof t->source - 1] = '\0';
    t->generator[sizeof t->generator - 1] = '\0';
    if (t->n_layers == 0 || t->n_layers > LF_TRACE_MAX_LAYERS)
        return W_EOF;
    t->tokens_cap = t->n_tokens;
    t->layers = calloc(t->n_layers, sizeof *t->layers);
    if (!t->layers)
        return W_BIG;
    uint64_t n1 = ((uint64_t)t->n_tokens + 1) * 8;
    for (uint32_t l = 0; !rc && l < t->n_layers; l++) {
        lf_trace_layer *L = &t->layers[l];
        wire_layer w;
        if ((rc = get_all(fd, &w, sizeof w, dl)))
            break;
        if (w.nnz > budget / 4 || w.pred_nnz > budget / 4)
            return W_BIG;
        L->nnz = L->cap = w.nnz;
        rc = get_arr(fd, (void **)&L->indptr, n1, &budget, dl);
        if (!rc)
            rc = get_arr(fd, (void **)&L->index, w.nnz * 4, &budget, dl);
        if (!rc && w.has_value)
            rc = get_arr(fd, (void **)&L->value, w.nnz * 4, &budget, dl);
        if (!rc && w.has_pred) {
            L->pred_nnz = L->pred_cap = w.pred_nnz;
            rc = get_arr(fd, (void **)&L->pred_indptr, n1, &budget, dl);
            if (!rc)
                rc = get_arr(fd, (void **)&L->pred_index, w.pred_nnz * 4, &budget, dl);
        }
    }
    if (!rc && h.has_tokens)
        rc = get_arr(fd, (void **)&t->tokens, (uint64_t)t->n_tokens * 4, &budget, dl);
    uint32_t end = 0;
    if (!rc && !(rc = get_all(fd, &end, sizeof end, dl)) && end != WIRE_MAGIC)
        rc = W_EOF;
    return rc;
}

static int read_in_child(const char *path, uint64_t fsize, uint32_t max_tokens, double limit,
                         lf_trace *t, lf_err *err)
{
    char *place = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (place == MAP_FAILED)
        return lf_fail_errno(err, LF_ENOMEM, errno, "%s: cannot map a page to read the trace", path);
    snprintf(place, 256, "starting");
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        munmap(place, 4096);
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot create a pipe to read the trace",
                             path);
    }
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
    H5open(); /* once, here: children start with libhdf5 initialised (no file touched) */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        munmap(place, 4096);
        return lf_fail_errno(err, LF_EIO, e, "%s: cannot fork to read the trace", path);
    }
    if (pid == 0) {
        close(p[0]);
        child_read(path, fsize, max_tokens, place, p[1]);
    }
    close(p[1]);
    if (limit <= 0)
        limit = LF_TRACE_CHILD_TIMEOUT_S + (double)fsize / 20e6;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    double whole = (double)(time_t)limit;
    dl.tv_sec += (time_t)whole;
    dl.tv_nsec += (long)((limit - whole) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    lf_err cerr;
    lf_err_clear(&cerr);
    int rc = receive(p[0], fsize * MAX_EXPANSION + (1u << 20), &dl, t, &cerr);
    close(p[0]);
    if (rc > 0)
        kill(pid, SIGKILL); /* stuck, or sent too much: stop it */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char where[256];
    snprintf(where, sizeof where, "%s", place);
    munmap(place, 4096);
    if (rc == LF_OK)
        return LF_OK;
    const char *fix = "the file is damaged: re-create it (llmflash trace synth|record|import)";
    if (rc == W_TIMEOUT)
        return lf_fail(err, LF_EFORMAT,
                       "%s: libhdf5 did not finish reading it in %.3g s (stuck at %s: an "
                       "endless loop on damaged metadata?); %s",
                       path, limit, where, fix);
    if (rc == W_BIG)
        return lf_fail(err, LF_EFORMAT,
                       "%s: the trace's arrays are larger than the file can hold (%s); %s", path,
                       where, fix);
    if (rc == W_EOF && WIFSIGNALED(status))
        return lf_fail(err, LF_EFORMAT, "%s: libhdf5 crashed (signal %d, %s) at %s; %s", path,
                       WTERMSIG(status), strsignal(WTERMSIG(status)), where, fix);
    if (rc == W_EOF)
        return lf_fail(err, LF_EFORMAT,
                       "%s: libhdf5 failed (its reading process ended with status %d, no "
                       "result) at %s; %s",
                       path,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, where, fix);
    *err = cerr;
    return rc;
}

/* ---------- entry points ---------- */

/* A damaged file's message ends with what to do, whichever check refused it: several
 * (the libhdf5 reader's "cannot open dataset ...", the id checks) name only the file and
 * the place. The messages that say what to do already are kept: re-create, a newer
 * llmflash, a file outside the HDF5 subset read here (write it with ...). */
static int with_fix(int rc, lf_err *err)
{
    if ((rc != LF_EFORMAT && rc != LF_ERANGE) || !err || strstr(err->msg, "re-create") ||
        strstr(err->msg, "newer llmflash") || strstr(err->msg, "write the file with"))
        return rc;
    lf_err_suffix(err, "the file is damaged: re-create it (llmflash trace synth|record|import)");
    return rc;
}

int lf_trace_read_ex(const char *path, const lf_trace_read_opts *o, lf_trace *t, lf_err *err)
{
    memset(t, 0, sizeof *t);
    uint32_t max_tokens = o && o->max_tokens ? o->max_tokens : UINT32_MAX;
    lf_h5l_file f;
    int rc = lf_h5l_open(path, &f, err);
    if (rc < 0)
        return rc;
    /* A checksummed (v2/v3 superblock) file is read by lf_h5lite alone: libhdf5 never
     * sees a file that claims the format llmflash writes; a feature outside the subset
     * is an error (LF_EFORMAT) that says which and how to re-write the file. */
    uint64_t size = f.size;
    uint8_t *known = NULL;
    if (rc == LF_OK) {
        rc = read_lite(&f, max_tokens, o && o->narrow_ids, t, &known, err);
        lf_h5l_close(&f);
    } else {
        lf_h5l_close(&f);
        rc = read_in_child(path, size, max_tokens, o ? o->timeout_s : 0, t, err);
    }
    if (!rc)
        rc = lf_trace_check_known(t, path, known, err);
    free(known);
    if (rc)
        lf_trace_free(t);
    return with_fix(rc, err);
}

int lf_trace_read(const char *path, lf_trace *t, lf_err *err)
{
    return lf_trace_read_ex(path, NULL, t, err);
}
