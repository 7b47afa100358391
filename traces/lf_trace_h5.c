/* The trace's HDF5 form (DESIGN.md section 5), written with HDF5's C API so that h5py
 * reads it with no llmflash code: root attributes, /tokens, /layers/NNN/{indptr,index,
 * value,pred_indptr,pred_index}, chunked and deflate-compressed. Writing goes to a
 * temporary name and is renamed at the end; reading checks every attribute and bound. */
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_trace.h"

#define CHUNK_ELEMS (1u << 16)
#define DEFLATE_LEVEL 4

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
    }
    return gcpl;
}

static int put_str_attr(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, &value);
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
    if (n > 0) {
        hsize_t chunk[1] = {n < CHUNK_ELEMS ? n : CHUNK_ELEMS};
        H5Pset_chunk(dcpl, 1, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, DEFLATE_LEVEL);
    }
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

static int write_layer(hid_t layers, uint32_t l, const lf_trace *t)
{
    char name[16];
    snprintf(name, sizeof name, "%03u", l);
    hid_t g = H5Gcreate2(layers, name, H5P_DEFAULT, untimed_group(), H5P_DEFAULT);
    if (g < 0)
        return -1;
    const lf_trace_layer *L = &t->layers[l];
    int bad = put_array(g, "indptr", H5T_STD_U64LE, H5T_NATIVE_UINT64, L->indptr,
                        (uint64_t)t->n_tokens + 1) ||
              put_array(g, "index", H5T_STD_U32LE, H5T_NATIVE_UINT32, L->index, L->nnz);
    if (!bad && L->value)
        bad = put_array(g, "value", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, L->value, L->nnz);
    if (!bad && L->pred_indptr)
        bad = put_array(g, "pred_indptr", H5T_STD_U64LE, H5T_NATIVE_UINT64, L->pred_indptr,
                        (uint64_t)t->n_tokens + 1) ||
              put_array(g, "pred_index", H5T_STD_U32LE, H5T_NATIVE_UINT32, L->pred_index,
                        L->pred_nnz);
    H5Gclose(g);
    return bad ? -1 : 0;
}

static const char *kind_name(lf_unit_kind k)
{
    return k == LF_UNITS_EXPERTS ? "experts" : "neurons";
}

static int write_file(const lf_trace *t, hid_t f)
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
        bad = write_layer(layers, l, t);
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
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)8 << 20, 0) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        return lf_fail(err, LF_EIO, "%s: cannot set up HDF5's in-memory file", path);
    }
    /* The name is only a label: with no backing store nothing is created under it. */
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return lf_fail(err, LF_EIO, "%s: HDF5 cannot create the file in memory", path);
    int bad = write_file(t, f) || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0;
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
    rc = lf_write_file_atomic(path, image, (size_t)size, err);
    free(image);
    return rc;
}

/* ---------- reading ---------- */

typedef struct {
    const char *path;
    lf_err *err;
} rd;

static int missing_attr(rd *r, const char *name)
{
    return lf_fail(r->err, LF_EFORMAT,
                   "%s: attribute '%s' missing on / (not an llmflash trace, or written by an "
                   "incomplete tool; re-create it with 'llmflash trace synth|record|import')",
                   r->path, name);
}

static int get_str_attr(rd *r, hid_t obj, const char *name, char *out, size_t cap, int required)
{
    out[0] = '\0';
    if (H5Aexists(obj, name) <= 0)
        return required ? missing_attr(r, name) : LF_OK;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ftype = H5Aget_type(attr);
    int rc = LF_OK;
    if (H5Tget_class(ftype) != H5T_STRING) {
        rc = lf_fail(r->err, LF_EFORMAT, "%s: attribute '%s' should be a string", r->path, name);
    } else if (H5Tis_variable_str(ftype) > 0) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char *s = NULL;
        if (H5Aread(attr, mtype, &s) < 0 || !s)
            rc = lf_fail(r->err, LF_EFORMAT, "%s: cannot read attribute '%s'", r->path, name);
        else
            snprintf(out, cap, "%s", s);
        if (s)
            H5free_memory(s);
        H5Tclose(mtype);
    } else {
        size_t sz = H5Tget_size(ftype);
        char *buf = calloc(sz + 1, 1);
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, sz);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        if (!buf || H5Aread(attr, mtype, buf) < 0)
            rc = lf_fail(r->err, LF_EFORMAT, "%s: cannot read attribute '%s'", r->path, name);
        else
            snprintf(out, cap, "%s", buf);
        free(buf);
        H5Tclose(mtype);
    }
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

static int get_u64_attr(rd *r, hid_t obj, const char *name, uint64_t *out, int required)
{
    *out = 0;
    if (H5Aexists(obj, name) <= 0)
        return required ? missing_attr(r, name) : LF_OK;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ftype = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    int rc = LF_OK;
    if (H5Tget_class(ftype) != H5T_INTEGER || H5Sget_simple_extent_npoints(space) != 1)
        rc = lf_fail(r->err, LF_EFORMAT, "%s: attribute '%s' should be one integer", r->path, name);
    else if (H5Aread(attr, H5T_NATIVE_UINT64, out) < 0)
        rc = lf_fail(r->err, LF_EFORMAT, "%s: attribute '%s' is not a non-negative integer",
                     r->path, name);
    H5Sclose(space);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

static int get_u32_attr(rd *r, hid_t obj, const char *name, uint32_t *out, int required)
{
    uint64_t v;
    int rc = get_u64_attr(r, obj, name, &v, required);
    if (rc)
        return rc;
    if (v > UINT32_MAX)
        return lf_fail(r->err, LF_EFORMAT, "%s: attribute '%s' = %llu is too large", r->path, name,
                       (unsigned long long)v);
    *out = (uint32_t)v;
    return LF_OK;
}

/* Reads a 1-D dataset of exactly `expect` elements (or any length when expect is
 * UINT64_MAX, returned in *n) into a fresh malloc'ed array. */
static int get_array(rd *r, hid_t loc, const char *where, const char *name, hid_t mem_type,
                     size_t elem, uint64_t expect, void **out, uint64_t *n)
{
    *out = NULL;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return lf_fail(r->err, LF_EFORMAT, "%s: dataset %s/%s missing", r->path, where, name);
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0)
        return lf_fail(r->err, LF_EFORMAT, "%s: cannot open dataset %s/%s", r->path, where, name);
    hid_t space = H5Dget_space(ds);
    hid_t ftype = H5Dget_type(ds);
    int rc = LF_OK;
    hsize_t dims[2] = {0, 0};
    int rank = H5Sget_simple_extent_ndims(space);
    H5T_class_t cls = H5Tget_class(ftype), want = H5Tget_class(mem_type);
    if (rank != 1) {
        rc = lf_fail(r->err, LF_EFORMAT, "%s: %s/%s must be 1-D (has %d dimensions)", r->path, where,
                     name, rank);
    } else if (cls != want) {
        rc = lf_fail(r->err, LF_EFORMAT, "%s: %s/%s has the wrong element type (%s expected)",
                     r->path, where, name, want == H5T_FLOAT ? "float" : "integer");
    } else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        if (expect != UINT64_MAX && dims[0] != expect)
            rc = lf_fail(r->err, LF_EFORMAT, "%s: %s/%s has %llu elements, expected %llu", r->path,
                         where, name, (unsigned long long)dims[0], (unsigned long long)expect);
    }
    if (rc == LF_OK && dims[0] > SIZE_MAX / 2 / elem)
        rc = lf_fail(r->err, LF_EFORMAT, "%s: %s/%s claims %llu elements (corrupt file?)", r->path,
                     where, name, (unsigned long long)dims[0]);
    if (rc == LF_OK) {
        void *buf = malloc((dims[0] ? dims[0] : 1) * elem);
        if (!buf)
            rc = lf_fail(r->err, LF_ENOMEM, "%s: out of memory reading %s/%s", r->path, where, name);
        else if (dims[0] && H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            free(buf);
            rc = lf_fail(r->err, LF_EFORMAT,
                         "%s: cannot read %s/%s (truncated or corrupt file, or values out of "
                         "range for the type)",
                         r->path, where, name);
        } else {
            *out = buf;
            if (n)
                *n = dims[0];
        }
    }
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(ds);
    return rc;
}

static int read_layer(rd *r, hid_t layers, uint32_t l, lf_trace *t)
{
    char name[16], where[32];
    snprintf(name, sizeof name, "%03u", l);
    snprintf(where, sizeof where, "/layers/%s", name);
    if (H5Lexists(layers, name, H5P_DEFAULT) <= 0)
        return lf_fail(r->err, LF_EFORMAT, "%s: group %s missing (n_layers = %u)", r->path, where,
                       t->n_layers);
    hid_t g = H5Gopen2(layers, name, H5P_DEFAULT);
    lf_trace_layer *L = &t->layers[l];
    uint64_t n1 = (uint64_t)t->n_tokens + 1;
    int rc = get_array(r, g, where, "indptr", H5T_NATIVE_UINT64, 8, n1, (void **)&L->indptr, NULL);
    if (!rc)
        rc = get_array(r, g, where, "index", H5T_NATIVE_UINT32, 4, UINT64_MAX, (void **)&L->index,
                       &L->nnz);
    L->cap = L->nnz;
    if (!rc && H5Lexists(g, "value", H5P_DEFAULT) > 0)
        rc = get_array(r, g, where, "value", H5T_NATIVE_FLOAT, 4, L->nnz, (void **)&L->value, NULL);
    int has_pi = H5Lexists(g, "pred_indptr", H5P_DEFAULT) > 0;
    int has_px = H5Lexists(g, "pred_index", H5P_DEFAULT) > 0;
    if (!rc && has_pi != has_px)
        rc = lf_fail(r->err, LF_EFORMAT, "%s: %s has only one of pred_indptr and pred_index",
                     r->path, where);
    if (!rc && has_pi) {
        rc = get_array(r, g, where, "pred_indptr", H5T_NATIVE_UINT64, 8, n1,
                       (void **)&L->pred_indptr, NULL);
        if (!rc)
            rc = get_array(r, g, where, "pred_index", H5T_NATIVE_UINT32, 4, UINT64_MAX,
                           (void **)&L->pred_index, &L->pred_nnz);
        L->pred_cap = L->pred_nnz;
    }
    H5Gclose(g);
    return rc;
}

static int read_file(rd *r, hid_t f, lf_trace *t)
{
    char format[64], kind[32];
    uint32_t version;
    int rc = get_str_attr(r, f, "format", format, sizeof format, 1);
    if (rc)
        return rc;
    if (strcmp(format, LF_TRACE_FORMAT) != 0)
        return lf_fail(r->err, LF_EFORMAT, "%s: format attribute is '%s', expected '%s'", r->path,
                       format, LF_TRACE_FORMAT);
    if ((rc = get_u32_attr(r, f, "version", &version, 1)))
        return rc;
    if (version != LF_TRACE_VERSION)
        return lf_fail(r->err, LF_EFORMAT,
                       "%s: trace format version %u; this llmflash reads version %d", r->path,
                       version, LF_TRACE_VERSION);
    if ((rc = get_str_attr(r, f, "kind", kind, sizeof kind, 1)))
        return rc;
    if (strcmp(kind, "neurons") == 0)
        t->kind = LF_UNITS_NEURONS;
    else if (strcmp(kind, "experts") == 0)
        t->kind = LF_UNITS_EXPERTS;
    else
        return lf_fail(r->err, LF_EFORMAT, "%s: kind '%s' is neither 'neurons' nor 'experts'",
                       r->path, kind);
    if ((rc = get_str_attr(r, f, "model", t->model, sizeof t->model, 1)) ||
        (rc = get_u32_attr(r, f, "n_layers", &t->n_layers, 1)) ||
        (rc = get_u32_attr(r, f, "d_model", &t->d_model, 1)) ||
        (rc = get_u32_attr(r, f, "units_per_layer", &t->units_per_layer, 1)) ||
        (rc = get_u32_attr(r, f, "top_k", &t->top_k, 1)) ||
        (rc = get_u32_attr(r, f, "dtype_bytes", &t->dtype_bytes, 1)) ||
        (rc = get_u32_attr(r, f, "n_tokens", &t->n_tokens, 1)) ||
        (rc = get_str_attr(r, f, "source", t->source, sizeof t->source, 1)) ||
        (rc = get_u64_attr(r, f, "seed", &t->seed, 0)) ||
        (rc = get_str_attr(r, f, "generator", t->generator, sizeof t->generator, 0)))
        return rc;
    uint64_t first = 0; /* absent: a whole-model trace (first_layer -1) */
    int part = H5Aexists(f, "first_layer") > 0;
    if (part && (rc = get_u64_attr(r, f, "first_layer", &first, 1)))
        return rc;
    if (first > 100000)
        return lf_fail(r->err, LF_EFORMAT, "%s: implausible first_layer %llu", r->path,
                       (unsigned long long)first);
    t->first_layer = part ? (int32_t)first : -1;
    if (t->n_layers == 0 || t->n_layers > 100000 || t->units_per_layer == 0)
        return lf_fail(r->err, LF_EFORMAT, "%s: implausible shape n_layers=%u units_per_layer=%u",
                       r->path, t->n_layers, t->units_per_layer);
    t->tokens_cap = t->n_tokens;
    if (H5Lexists(f, "tokens", H5P_DEFAULT) > 0 &&
        (rc = get_array(r, f, "", "tokens", H5T_NATIVE_INT32, 4, t->n_tokens, (void **)&t->tokens,
                        NULL)))
        return rc;
    t->layers = calloc(t->n_layers, sizeof *t->layers);
    if (!t->layers)
        return lf_fail(r->err, LF_ENOMEM, "%s: out of memory", r->path);
    if (H5Lexists(f, "layers", H5P_DEFAULT) <= 0)
        return lf_fail(r->err, LF_EFORMAT, "%s: group /layers missing", r->path);
    hid_t layers = H5Gopen2(f, "layers", H5P_DEFAULT);
    for (uint32_t l = 0; l < t->n_layers && !rc; l++)
        rc = read_layer(r, layers, l, t);
    H5Gclose(layers);
    return rc;
}

int lf_trace_read(const char *path, lf_trace *t, lf_err *err)
{
    memset(t, 0, sizeof *t);
    quiet_hdf5();
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open trace", path);
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0)
        return lf_fail(err, LF_EFORMAT,
                       "%s: not an HDF5 file (truncated, or not a trace: make one with 'llmflash "
                       "trace synth')",
                       path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return lf_fail(err, LF_EFORMAT, "%s: cannot open as HDF5 (truncated or corrupt?)", path);
    rd r = {path, err};
    int rc = read_file(&r, f, t);
    H5Fclose(f);
    if (!rc)
        rc = lf_trace_check(t, path, err);
    if (rc)
        lf_trace_free(t);
    return rc;
}
