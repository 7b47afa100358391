/* The trace's HDF5 form (schema: traces/README.md), written with HDF5's C API so that
 * h5py reads it with no llmflash code: root attributes, /tokens, /layers/NNN/{indptr,
 * index,value,pred_indptr,pred_index}; version 2 = checksummed metadata, fixed-length
 * strings, contiguous unfiltered datasets. Writing goes to a temporary name and is
 * renamed at the end. Reading (the entry points at the end) checks every attribute and
 * bound: lf_h5read with lf_h5lite (no libhdf5) for version 2 files, lf_h5child (libhdf5
 * in a time-limited child process) for the rest. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_fs.h"
#include "lf_h5child.h"
#include "lf_h5lite.h"
#include "lf_h5read.h"
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

/* HDF5's in-memory file lives in lf_bigmem memory (huge pages): in 4 KiB pages, filling
 * it and the image copied out of it took 15,000 page faults for 1000 opt-6.7b tokens,
 * ~0.15 s of a 0.9 s `trace synth` on this VM. The buffer normally grows once (the
 * increment is the expected size); a second growth is glibc's realloc, which takes
 * posix_memalign'ed memory. */
static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op, (void)udata;
    return lf_bigmem_alloc(size);
}

static void *image_realloc(void *p, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op, (void)udata;
    return p ? realloc(p, size) : lf_bigmem_alloc(size);
}

static herr_t image_free(void *p, H5FD_file_image_op_t op, void *udata)
{
    (void)op, (void)udata;
    free(p);
    return 0;
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
    if (t->deferred)
        return lf_fail(err, LF_EINVAL, "%s: not written: the trace was read with its ids left "
                       "in %s (defer_ids); read it whole to write it", path, t->deferred->path);
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
    H5FD_file_image_callbacks_t in_bigmem = {image_malloc, NULL, image_realloc, image_free,
                                             NULL, NULL, NULL};
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)expect, 0) < 0 ||
        H5Pset_file_image_callbacks(fapl, &in_bigmem) < 0 ||
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
    void *image = size > 0 ? lf_bigmem_alloc((size_t)size) : NULL;
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
        int defer = o && o->defer_ids;
        rc = lf_h5read_lite(&f, max_tokens, o && o->narrow_ids, defer, t, &known, err);
        if (!rc && t->deferred)
            rc = lf_trace_defer_open(t, f.fd, f.size, path, err);
        lf_h5l_close(&f);
    } else {
        lf_h5l_close(&f);
        rc = lf_h5child_read(path, size, max_tokens, o ? o->timeout_s : 0, t, err);
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
