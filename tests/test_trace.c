/* Tests of the in-memory trace and its HDF5 form: round trip, invariants, and every
 * kind of bad input the reader must refuse with the place named. */
#include <dirent.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lf_bigmem.h"
#include "lf_h5lite.h"
#include "lf_h5read.h"
#include "lf_test.h"
#include "lf_trace.h"

/* A 2-layer, 3-token, 8-unit trace with values and tokens. */
static void make_small(lf_trace *t)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_NEURONS, "custom:2,4,8", 2, 4, 8, 0, 2, 1, 1,
                                         &err),
                     LF_OK);
    const uint32_t a0[] = {1, 3, 5}, a1[] = {0, 7};
    const uint32_t b0[] = {3}, b1[] = {};
    const uint32_t c0[] = {0, 1, 2, 3, 4, 5, 6, 7}, c1[] = {6};
    const float v[] = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f};
    const uint32_t *ids[3][2] = {{a0, a1}, {b0, b1}, {c0, c1}};
    const uint32_t n[3][2] = {{3, 2}, {1, 0}, {8, 1}};
    for (int tok = 0; tok < 3; tok++) {
        const float *vals[2] = {v, v};
        assert_int_equal(lf_trace_append_token(t, 100 + tok, ids[tok], n[tok], vals, &err), LF_OK);
    }
    t->seed = 42;
    snprintf(t->generator, sizeof t->generator, "hand-made");
}

/* make_small written to the scratch file `name`; returns its path. */
static const char *write_small(const char *name)
{
    lf_trace t;
    lf_err err;
    make_small(&t);
    const char *p = lf_test_path(name);
    assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
    lf_trace_free(&t);
    return p;
}

/* A view of the first tokens is a trace of those tokens (what a replay of part of a
 * trace shows its policy), over the same arrays; the trace is unchanged. */
static void test_view(void **st)
{
    (void)st;
    lf_trace t, v;
    lf_err err;
    make_small(&t);
    assert_int_equal(lf_trace_view(&t, 0, &v, &err), LF_EINVAL);
    assert_int_equal(lf_trace_view(&t, 4, &v, &err), LF_EINVAL);
    assert_int_equal(lf_trace_view(&t, 2, &v, &err), LF_OK);
    assert_int_equal(v.n_tokens, 2);
    assert_int_equal(lf_trace_check(&v, "view", &err), LF_OK);
    for (uint32_t l = 0; l < t.n_layers; l++) {
        assert_int_equal(v.layers[l].nnz, t.layers[l].indptr[2]);
        assert_ptr_equal(v.layers[l].indptr, t.layers[l].indptr);
    }
    uint32_t n, m;
    const uint32_t *a = lf_trace_ids(&v, 0, 1, &n), *b = lf_trace_ids(&t, 0, 1, &m);
    assert_int_equal(n, m);
    assert_memory_equal(a, b, n * sizeof *a);
    /* the largest set is token 2's (8 ids), outside a view of two tokens */
    assert_true(lf_trace_max_set(&v, 0) < lf_trace_max_set(&t, 0));
    lf_trace_view_free(&v);
    assert_int_equal(t.n_tokens, 3);
    assert_int_equal(lf_trace_check(&t, "small", &err), LF_OK);
    lf_trace_free(&t);
}

/* A trace of n_layers layers of `units` units: token t's layer 0 wants `per` ids, 2i + t % 2
 * with value t * per + i; every other layer wants units 5 and 9 (value 1). Large enough,
 * at a few thousand ids a token, to reach the reader's arena and lf_bigmem. */
static void make_alternating(lf_trace *t, uint32_t n_layers, uint32_t units, uint32_t tokens,
                             uint32_t per)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_NEURONS, "alternating", n_layers, 4, units,
                                         0, 2, 1, 0, &err),
                     LF_OK);
    uint32_t *ids = malloc(per * sizeof *ids);
    float *vals = malloc(per * sizeof *vals);
    assert_non_null(ids);
    assert_non_null(vals);
    const uint32_t few[] = {5, 9};
    for (uint32_t tok = 0; tok < tokens; tok++) {
        for (uint32_t i = 0; i < per; i++) {
            ids[i] = 2 * i + tok % 2;
            vals[i] = (float)((uint64_t)tok * per + i);
        }
        assert_int_equal(lf_trace_append_layer(t, 0, ids, per, vals, &err), LF_OK);
        for (uint32_t l = 1; l < n_layers; l++)
            assert_int_equal(lf_trace_append_layer(t, l, few, 2, NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(t, -1, &err), LF_OK);
    }
    free(ids);
    free(vals);
}

/* Large arrays are read into the trace's arena (huge pages; lf_bigmem.h says why), small
 * ones malloc'ed; a read trace stays a trace: predictions replaced, tokens appended
 * (arrays copied out of the arena), freed (ASAN: nothing free()d that malloc did not
 * give). */
static void test_read_into_arena(void **st)
{
    (void)st;
    enum { TOKENS = 80, PER = 2048 };
    lf_trace t;
    lf_err err;
    make_alternating(&t, 2, 4096, TOKENS, PER);
    const char *p = lf_test_path("arena.h5");
    assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
    lf_trace wide, narrow;
    lf_trace_read_opts ro = {.narrow_ids = 1};
    assert_int_equal(lf_trace_read(p, &wide, &err), LF_OK);
    assert_int_equal(lf_trace_read_ex(p, &ro, &narrow, &err), LF_OK);
    /* layer 0: 163,840 ids (640 KiB wide, 320 KiB narrow) and values in the arena (from
     * LF_H5READ_ARENA_MIN = 256 KiB); layer 1's 160 ids and every indptr malloc'ed */
    assert_true(t.layers[0].nnz * 2 >= LF_H5READ_ARENA_MIN);
    assert_non_null(wide.arena);
    assert_true(lf_bigmem_arena_owns(wide.arena, wide.layers[0].index));
    assert_true(lf_bigmem_arena_owns(wide.arena, wide.layers[0].value));
    assert_true(lf_bigmem_arena_owns(narrow.arena, narrow.layers[0].index16));
    assert_false(lf_bigmem_arena_owns(wide.arena, wide.layers[1].index));
    assert_false(lf_bigmem_arena_owns(wide.arena, wide.layers[0].indptr));
    assert_memory_equal(wide.layers[0].index, t.layers[0].index, t.layers[0].nnz * 4);
    assert_memory_equal(wide.layers[0].value, t.layers[0].value, t.layers[0].nnz * 4);
    /* predictions: layer 0's own sets as arena-read arrays, then dropped again */
    uint64_t *pi = malloc((TOKENS + 1) * sizeof *pi);
    uint32_t *px = malloc((size_t)TOKENS * PER * sizeof *px);
    assert_non_null(pi);
    assert_non_null(px);
    memcpy(pi, t.layers[0].indptr, (TOKENS + 1) * sizeof *pi);
    memcpy(px, t.layers[0].index, (size_t)TOKENS * PER * sizeof *px);
    assert_int_equal(lf_trace_set_pred(&t, 0, pi, px, (uint64_t)TOKENS * PER, &err), LF_OK);
    assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
    lf_trace with_pred;
    assert_int_equal(lf_trace_read(p, &with_pred, &err), LF_OK);
    assert_true(lf_bigmem_arena_owns(with_pred.arena, with_pred.layers[0].pred_index));
    assert_int_equal(lf_trace_set_pred(&with_pred, 0, NULL, NULL, 0, &err), LF_OK);
    lf_trace_free(&with_pred);
    /* appending copies layer 0 out of the arena, widening the narrow one */
    for (lf_trace *r = &wide; r; r = r == &wide ? &narrow : NULL) {
        const uint32_t more0[] = {1, 4095}, more1[] = {5, 9}, *more[2] = {more0, more1};
        const uint32_t n_more[2] = {2, 2};
        assert_int_equal(lf_trace_append_token(r, -1, more, n_more, NULL, &err), LF_OK);
        assert_non_null(r->layers[0].index);
        assert_null(r->layers[0].index16);
        assert_false(lf_bigmem_arena_owns(r->arena, r->layers[0].index));
        assert_memory_equal(r->layers[0].index, t.layers[0].index, t.layers[0].nnz * 4);
        assert_int_equal(r->layers[0].index[t.layers[0].nnz + 1], 4095);
        assert_int_equal(lf_trace_check(r, "appended", &err), LF_OK);
    }
    assert_float_equal(wide.layers[0].value[t.layers[0].nnz], 1.0f, 0);
    lf_trace_free(&wide);
    lf_trace_free(&narrow);
    lf_trace_free(&t);
}

/* A layer that grows past 1 MiB moves into lf_bigmem memory (huge pages): ids and values
 * survive every move. */
static void test_grows_into_huge_pages(void **st)
{
    (void)st;
    enum { TOKENS = 70, PER = 4096 };
    lf_trace t;
    lf_err err;
    make_alternating(&t, 1, 8192, TOKENS, PER);
    const lf_trace_layer *L = &t.layers[0];
    assert_true(L->cap * sizeof *L->index >= ((size_t)1 << 20));
    assert_int_equal(L->nnz, (uint64_t)TOKENS * PER);
    for (uint64_t k = 0; k < L->nnz; k += 997) {
        uint32_t tok = (uint32_t)(k / PER), i = (uint32_t)(k % PER);
        assert_int_equal(L->index[k], 2 * i + tok % 2);
        assert_true(L->value[k] == (float)k);
    }
    assert_int_equal(lf_trace_check(&t, "grown", &err), LF_OK);
    lf_trace_free(&t);
}

static void test_build_and_check(void **st)
{
    (void)st;
    lf_trace t;
    make_small(&t);
    lf_err err;
    assert_int_equal(t.n_tokens, 3);
    assert_int_equal(lf_trace_check(&t, "small", &err), LF_OK);
    uint32_t n;
    const uint32_t *ids = lf_trace_ids(&t, 0, 2, &n);
    assert_int_equal(n, 8);
    assert_int_equal(ids[7], 7);
    lf_trace_ids(&t, 1, 1, &n);
    assert_int_equal(n, 0);
    /* Appending an unsorted or out-of-range set is refused with the place. */
    const uint32_t bad[] = {4, 2};
    assert_int_equal(lf_trace_append_layer(&t, 0, bad, 2, NULL, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "token 3"));
    const uint32_t big[] = {8};
    assert_int_equal(lf_trace_append_layer(&t, 0, big, 1, NULL, &err), LF_ERANGE);
    /* The token capacity cannot double past 2^31 (it wrapped to 0 and the next append
     * wrote past a one-entry indptr). */
    uint32_t n_tok = t.n_tokens, cap = t.tokens_cap;
    t.n_tokens = t.tokens_cap = 0x80000000u;
    assert_int_equal(lf_trace_end_token(&t, 0, &err), LF_ERANGE);
    t.n_tokens = n_tok;
    t.tokens_cap = cap;
    lf_trace_free(&t);
}

/* Blocks of tokens one layer at a time give the trace that token-by-token appends give;
 * a layer left out gets empty sets; recording a layer twice, unsorted ids and ids out
 * of range are refused. */
static void test_blocks(void **st)
{
    (void)st;
    lf_trace a, b;
    lf_err err;
    assert_int_equal(lf_trace_init_shape(&a, LF_UNITS_NEURONS, "x", 2, 16, 10, 0, 2, 0, 0, &err), LF_OK);
    assert_int_equal(lf_trace_init_shape(&b, LF_UNITS_NEURONS, "x", 2, 16, 10, 0, 2, 0, 0, &err), LF_OK);
    const uint32_t ids[] = {1, 7, 0, 4, 9}, counts[] = {2, 0, 3};
    /* a: token by token, layer 1 left empty */
    for (uint32_t t = 0, at = 0; t < 3; at += counts[t], t++) {
        assert_int_equal(lf_trace_append_layer(&a, 0, ids + at, counts[t], NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(&a, -1, &err), LF_OK);
    }
    /* b: one block of 3 tokens for layer 0 */
    uint32_t *dst = lf_trace_block_room(&b, 0, 30, &err);
    assert_non_null(dst);
    memcpy(dst, ids, sizeof ids);
    assert_int_equal(lf_trace_block_layer(&b, 0, 3, counts, &err), LF_OK);
    assert_int_equal(lf_trace_block_layer(&b, 0, 3, counts, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    assert_int_equal(lf_trace_block_end(&b, 3, &err), LF_OK);
    assert_int_equal(b.n_tokens, 3);
    assert_int_equal(lf_trace_check(&b, "blocks", &err), LF_OK);
    for (uint32_t l = 0; l < 2; l++)
        for (uint32_t t = 0; t < 3; t++) {
            uint32_t na, nb;
            const uint32_t *x = lf_trace_ids(&a, l, t, &na), *y = lf_trace_ids(&b, l, t, &nb);
            assert_int_equal(na, nb);
            assert_memory_equal(x, y, na * sizeof *x);
        }
    /* a second block: bad sets are refused with the token */
    dst = lf_trace_block_room(&b, 1, 20, &err);
    assert_non_null(dst);
    const uint32_t unsorted[] = {5, 3}, one = 1;
    memcpy(dst, unsorted, sizeof unsorted);
    assert_int_equal(lf_trace_block_layer(&b, 1, 1, (const uint32_t[]){2}, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "token 3"));
    dst[0] = 10; /* = units_per_layer */
    assert_int_equal(lf_trace_block_layer(&b, 1, 1, &one, &err), LF_EINVAL);
    lf_trace_free(&a);
    lf_trace_free(&b);
}

static void test_roundtrip(void **st)
{
    (void)st;
    lf_trace t, r;
    make_small(&t);
    lf_err err;
    /* add predicted sets to layer 1 */
    uint64_t *pi = calloc(4, sizeof *pi);
    uint32_t *px = calloc(2, sizeof *px);
    pi[1] = 1;
    pi[2] = 1;
    pi[3] = 2;
    px[0] = 7;
    px[1] = 5;
    assert_int_equal(lf_trace_set_pred(&t, 1, pi, px, 2, &err), LF_OK);
    const char *p = lf_test_path("rt.h5");
    assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
    assert_int_equal(lf_trace_read(p, &r, &err), LF_OK);
    assert_int_equal(r.n_layers, 2);
    assert_int_equal(r.n_tokens, 3);
    assert_int_equal(r.units_per_layer, 8);
    assert_int_equal(r.seed, 42);
    assert_string_equal(r.model, "custom:2,4,8");
    assert_string_equal(r.generator, "hand-made");
    assert_string_equal(r.source, "synthetic");
    assert_non_null(r.tokens);
    assert_int_equal(r.tokens[2], 102);
    for (uint32_t l = 0; l < 2; l++) {
        assert_int_equal(r.layers[l].nnz, t.layers[l].nnz);
        assert_memory_equal(r.layers[l].indptr, t.layers[l].indptr, 4 * sizeof(uint64_t));
        assert_memory_equal(r.layers[l].index, t.layers[l].index, t.layers[l].nnz * 4);
        assert_memory_equal(r.layers[l].value, t.layers[l].value, t.layers[l].nnz * 4);
    }
    assert_null(r.layers[0].pred_indptr);
    assert_non_null(r.layers[1].pred_indptr);
    assert_int_equal(r.layers[1].pred_nnz, 2);
    assert_int_equal(r.layers[1].pred_index[1], 5);
    /* What was read writes back to the same bytes. */
    const char *p2 = lf_test_path("rt2.h5");
    assert_int_equal(lf_trace_write(&r, p2, &err), LF_OK);
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", p, p2);
    assert_int_equal(system(cmd), 0);
    lf_trace_free(&t);
    lf_trace_free(&r);
}

/* Writes a valid trace, then lets `mutate` damage it through HDF5, then reads it. */
static int read_damaged(void (*mutate)(hid_t f), lf_err *err)
{
    lf_trace r;
    const char *p = write_small("bad.h5");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    mutate(f);
    H5Fclose(f);
    int rc = lf_trace_read(p, &r, err);
    if (rc == LF_OK)
        lf_trace_free(&r);
    return rc;
}

static void overwrite_u32(hid_t f, const char *ds_name, const uint32_t *v)
{
    hid_t ds = H5Dopen2(f, ds_name, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(ds);
}

static void drop_units_attr(hid_t f) { assert_true(H5Adelete(f, "units_per_layer") >= 0); }
static void id_out_of_range(hid_t f)
{
    const uint32_t v[] = {1, 3, 9, 3, 0, 1, 2, 3, 4, 5, 6, 7};
    overwrite_u32(f, "/layers/000/index", v);
}
static void unsorted_ids(hid_t f)
{
    const uint32_t v[] = {1, 3, 5, 3, 0, 1, 2, 4, 3, 5, 6, 7};
    overwrite_u32(f, "/layers/000/index", v);
}
static void duplicate_ids(hid_t f)
{
    const uint32_t v[] = {0, 6};
    const uint32_t w[] = {0, 7, 6};
    (void)v;
    overwrite_u32(f, "/layers/001/index", w);
    /* layer 1 token 2 is {6}; make token 0 {0,0} by rewriting ids 0..1 */
    const uint32_t dup[] = {0, 0, 6};
    overwrite_u32(f, "/layers/001/index", dup);
}
static void indptr_not_monotone(hid_t f)
{
    const uint64_t v[] = {0, 3, 2, 12};
    hid_t ds = H5Dopen2(f, "/layers/000/indptr", H5P_DEFAULT);
    assert_true(H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(ds);
}
static void drop_layer(hid_t f) { assert_true(H5Ldelete(f, "/layers/001", H5P_DEFAULT) >= 0); }
static void wrong_format(hid_t f)
{
    assert_true(H5Adelete(f, "format") >= 0);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format", type, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, "other\0\0\0");
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(type);
}

/* Replaces dataset `name` by a uint32 one claiming n elements, never written (the file
 * stays tiny): chunked, or contiguous with no storage. */
static void claim_elements(hid_t f, const char *name, hsize_t n, int chunked)
{
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hsize_t chunk[1] = {1024};
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked)
        H5Pset_chunk(dcpl, 1, chunk);
    hid_t ds = H5Dcreate2(f, name, H5T_STD_U32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

/* An index claiming 2^62 ids. 2^62 * 4 bytes wraps to 0 in size_t: the reader must
 * refuse it, not allocate 0 bytes and let HDF5 write past them. */
static void huge_index(hid_t f) { claim_elements(f, "/layers/000/index", (hsize_t)1 << 62, 1); }

static void test_bad_inputs_name_the_place(void **st)
{
    (void)st;
    lf_err err;
    assert_int_equal(read_damaged(drop_units_attr, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "'units_per_layer' missing"));
    assert_non_null(strstr(err.msg, "bad.h5"));

    assert_int_equal(read_damaged(id_out_of_range, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "layer 0 token 0"));
    assert_non_null(strstr(err.msg, "id 9 >= units_per_layer 8"));

    assert_int_equal(read_damaged(unsorted_ids, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "layer 0 token 2"));
    assert_non_null(strstr(err.msg, "sorted"));

    assert_int_equal(read_damaged(duplicate_ids, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "layer 1 token 0"));

    assert_int_equal(read_damaged(indptr_not_monotone, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "layer 0 token 1"));
    assert_non_null(strstr(err.msg, "monotone"));

    assert_int_equal(read_damaged(drop_layer, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "/layers/001 missing"));

    assert_int_equal(read_damaged(huge_index, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "/layers/000/index"));
    assert_non_null(strstr(err.msg, "chunked")); /* refused before its size matters */

    assert_int_equal(read_damaged(wrong_format, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "'other'"));
}

static void test_missing_truncated_and_foreign_files(void **st)
{
    (void)st;
    lf_err err;
    lf_trace r;
    assert_int_equal(lf_trace_read(lf_test_path("nope.h5"), &r, &err), LF_EIO);
    assert_non_null(strstr(err.msg, "nope.h5"));

    const char *txt = lf_test_path("text.h5");
    lf_test_write(txt, "hello, not hdf5\n", 16);
    assert_int_equal(lf_trace_read(txt, &r, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "not an HDF5 file"));

    /* A truncated copy of a valid trace. */
    const char *p = write_small("full.h5");
    FILE *f = fopen(p, "rb");
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *q = lf_test_path("trunc.h5");
    lf_test_write(q, buf, n / 2);
    assert_int_not_equal(lf_trace_read(q, &r, &err), LF_OK);
    assert_non_null(strstr(err.msg, "trunc.h5"));
}

static void test_write_refuses_invalid_and_leaves_nothing(void **st)
{
    (void)st;
    lf_trace t;
    make_small(&t);
    lf_err err;
    t.layers[0].index[0] = 99; /* corrupt in memory */
    const char *p = lf_test_path("never.h5");
    assert_int_not_equal(lf_trace_write(&t, p, &err), LF_OK);
    assert_non_null(strstr(err.msg, "id 99"));
    FILE *f = fopen(p, "rb");
    assert_null(f);
    /* An unwritable folder: a clear error, no file. */
    t.layers[0].index[0] = 1;
    assert_int_not_equal(lf_trace_write(&t, "/nonexistent-dir/x.h5", &err), LF_OK);
    assert_non_null(strstr(err.msg, "/nonexistent-dir"));
    lf_trace_free(&t);
}

/* A disk that fills while the trace is written: a clear error, no file, no temporary,
 * and a normal exit (HDF5 used to crash at exit over the file it could not close).
 * The full disk is a file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so that
 * writes fail with EFBIG), inherited by the binary the test runs. */
static void test_full_disk_leaves_nothing(void **st)
{
    (void)st;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/fulldisk", lf_test_dir());
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    assert_int_equal(system(cmd), 0);
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 64 * 1024;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    char *err = NULL;
    int rc = lf_test_run(NULL, &err, "trace synth --model opt-1.3b --tokens 64 --seed 3 -o %s/x.h5",
                         dir);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, 1);
    assert_non_null(err);
    assert_non_null(strstr(err, "x.h5"));
    assert_non_null(strstr(err, "nothing written"));
    assert_null(strstr(err, "Sanitizer")); /* an ASan binary reports a crash with exit 1 */
    free(err);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    assert_int_equal(entries, 0);
}

/* Identical traces give identical files, whenever they are written (no timestamps). */
static void test_same_trace_same_bytes(void **st)
{
    (void)st;
    const char *a = write_small("same_a.h5");
    usleep(1100 * 1000); /* HDF5 object times have one-second resolution */
    const char *b = write_small("same_b.h5");
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    assert_int_equal(system(cmd), 0);
}

/* The file must be readable by h5py with no llmflash code (docs/DESIGN.md section 5). */
static void test_h5py_reads_it(void **st)
{
    (void)st;
    if (system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0) {
        printf("SKIP: python3-h5py not installed\n");
        skip();
    }
    const char *p = write_small("py.h5");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import h5py; f = h5py.File('%s', 'r'); "
             "a = f.attrs; L = f['layers/000']; "
             "assert a['format'] == b'llmflash-trace' and a['kind'] == b'neurons'; "
             "assert int(a['version']) == 2 and L['index'].dtype == 'uint16'; "
             "assert L['index'].chunks is None and L['index'].compression is None; "
             "assert int(a['units_per_layer']) == 8 and int(a['n_tokens']) == 3; "
             "assert list(L['indptr'][:]) == [0, 3, 4, 12]; "
             "assert list(L['index'][:4]) == [1, 3, 5, 3]; "
             "assert list(f['tokens'][:]) == [100, 101, 102]; "
             "assert abs(float(L['value'][1]) - 1.5) < 1e-6\"",
             p);
    assert_int_equal(system(cmd), 0);
}


/* ---------- version 1 traces (libhdf5 in a child) ---------- */

static void v1_str(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, type, &value) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(type);
}

static void v1_u32(hid_t obj, const char *name, uint32_t v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_U32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_UINT32, &v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
}

static void v1_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *d,
                     hsize_t n)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk = n ? n : 1;
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
    hid_t ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    if (n)
        assert_true(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, d) >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

/* Writes t the way llmflash wrote version 1 (superblock v0, variable-length strings,
 * chunked deflated datasets). */
static void write_v1(const lf_trace *t, const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    v1_str(f, "format", "llmflash-trace");
    v1_u32(f, "version", 1);
    v1_str(f, "kind", "neurons");
    v1_str(f, "model", t->model);
    v1_u32(f, "n_layers", t->n_layers);
    v1_u32(f, "d_model", t->d_model);
    v1_u32(f, "units_per_layer", t->units_per_layer);
    v1_u32(f, "top_k", t->top_k);
    v1_u32(f, "dtype_bytes", t->dtype_bytes);
    v1_u32(f, "n_tokens", t->n_tokens);
    v1_str(f, "source", t->source);
    v1_str(f, "generator", t->generator);
    v1_array(f, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, t->tokens, t->n_tokens);
    hid_t g = H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (uint32_t l = 0; l < t->n_layers; l++) {
        char name[8];
        snprintf(name, sizeof name, "%03u", l);
        hid_t lg = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const lf_trace_layer *L = &t->layers[l];
        v1_array(lg, "indptr", H5T_STD_U64LE, H5T_NATIVE_UINT64, L->indptr, t->n_tokens + 1);
        v1_array(lg, "index", H5T_STD_U32LE, H5T_NATIVE_UINT32, L->index, L->nnz);
        v1_array(lg, "value", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, L->value, L->nnz);
        H5Gclose(lg);
    }
    H5Gclose(g);
    assert_true(H5Fclose(f) >= 0);
}

static void assert_same_prefix(const lf_trace *a, const lf_trace *b, uint32_t n_tok)
{
    assert_int_equal(b->n_tokens, n_tok);
    assert_int_equal(b->n_layers, a->n_layers);
    assert_memory_equal(b->tokens, a->tokens, n_tok * sizeof *a->tokens);
    for (uint32_t l = 0; l < a->n_layers; l++) {
        const lf_trace_layer *A = &a->layers[l], *B = &b->layers[l];
        assert_int_equal(B->nnz, A->indptr[n_tok]);
        assert_memory_equal(B->indptr, A->indptr, (n_tok + 1) * sizeof *A->indptr);
        assert_memory_equal(B->index, A->index, B->nnz * sizeof *A->index);
        assert_memory_equal(B->value, A->value, B->nnz * sizeof *A->value);
    }
}

/* A version 1 trace still loads (through libhdf5 in a child), whole or its first
 * tokens; so does a version 2 one read in part. */
static void test_v1_loads_and_first_tokens(void **st)
{
    (void)st;
    lf_trace t, r;
    make_small(&t);
    lf_err err;
    const char *v1 = lf_test_path("v1.h5"), *v2 = lf_test_path("v2.h5");
    write_v1(&t, v1);
    assert_int_equal(lf_trace_write(&t, v2, &err), LF_OK);
    const char *paths[2] = {v1, v2};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(lf_trace_read(paths[i], &r, &err), LF_OK);
        assert_string_equal(r.generator, "hand-made");
        assert_same_prefix(&t, &r, 3);
        lf_trace_free(&r);
        for (uint32_t n = 1; n <= 4; n++) {
            lf_trace_read_opts o = {.max_tokens = n};
            assert_int_equal(lf_trace_read_ex(paths[i], &o, &r, &err), LF_OK);
            assert_same_prefix(&t, &r, n < 3 ? n : 3);
            lf_trace_free(&r);
        }
    }
    lf_trace_free(&t);
    /* The child bounds what a dataset claims by the file's size too. */
    hid_t f = H5Fopen(v1, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    claim_elements(f, "/layers/000/index", (hsize_t)1 << 62, 1);
    H5Fclose(f);
    assert_int_equal(lf_trace_read(v1, &r, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "/layers/000/index"));
    assert_non_null(strstr(err.msg, "more than the file can hold"));
}

/* `llmflash trace convert`: a version 1 trace re-written in the current format (a
 * checksummed superblock, read without libhdf5) reads back the same; the output may not
 * be the input; a damaged input is refused by name and leaves no output. */
static void test_convert(void **st)
{
    (void)st;
    lf_trace t, r;
    lf_err err;
    make_small(&t);
    const char *v1 = lf_test_path("conv-v1.h5"), *out = lf_test_path("conv-v2.h5");
    write_v1(&t, v1);
    char *o = NULL, *e = NULL;
    int rc = lf_test_run(&o, &e, "trace convert %s -o %s", v1, out);
    if (rc)
        print_message("%s%s", o, e);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "format version"));
    free(o), free(e);
    unsigned char sb[9] = {0};
    FILE *fp = fopen(out, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(sb, 1, sizeof sb, fp), sizeof sb);
    fclose(fp);
    assert_true(sb[8] >= 2); /* superblock v2+: checksummed, read in place, not by libhdf5 */
    lf_trace old;
    assert_int_equal(lf_trace_read(out, &r, &err), LF_OK);
    assert_int_equal(lf_trace_read(v1, &old, &err), LF_OK);
    assert_same_prefix(&t, &r, 3);
    /* the attributes: what the version 1 file said, unchanged */
    assert_string_equal(r.generator, "hand-made");
    assert_string_equal(r.generator, old.generator);
    assert_string_equal(r.model, old.model);
    assert_string_equal(r.source, old.source);
    assert_int_equal(r.seed, old.seed);
    assert_int_equal(r.top_k, old.top_k);
    assert_int_equal(r.d_model, old.d_model);
    assert_int_equal(r.dtype_bytes, old.dtype_bytes);
    assert_int_equal(r.kind, old.kind);
    assert_int_equal(r.first_layer, old.first_layer);
    lf_trace_free(&old);
    lf_trace_free(&r);
    lf_trace_free(&t);
    assert_int_equal(lf_test_run(NULL, &e, "trace convert %s -o %s", v1, v1), 1);
    assert_non_null(strstr(e, v1));
    free(e);
    assert_int_equal(lf_test_run(NULL, &e, "trace convert %s", v1), 2);
    assert_non_null(strstr(e, "missing -o"));
    free(e);
    /* damaged: a dataset that claims more than the file holds */
    hid_t f = H5Fopen(v1, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    claim_elements(f, "/layers/000/index", (hsize_t)1 << 62, 1);
    H5Fclose(f);
    const char *none = lf_test_path("conv-none.h5");
    assert_int_equal(lf_test_run(NULL, &e, "trace convert %s -o %s", v1, none), 1);
    assert_non_null(strstr(e, "/layers/000/index"));
    assert_non_null(strstr(e, "re-create"));
    free(e);
    assert_int_not_equal(access(none, F_OK), 0);
}

/* ---------- ids checked while read, across the reader's blocks of 32768 ids ---------- */

enum { BIG_UNITS = 40000, BIG_TOKENS = 5 };
static const uint32_t big_n[BIG_TOKENS] = {20000, 12768, 1, 0, 30000}; /* tokens 0-1 end at a block's end */

/* Two layers of uint16 ids; token t of layer l holds n ids from (t * 7 + l) spaced by
 * 1 (wrapping below BIG_UNITS keeps them sorted: the start is small enough). */
static void make_big(lf_trace *t)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_NEURONS, "custom:2,4,40000", 2, 4, BIG_UNITS,
                                         0, 2, 0, 0, &err),
                     LF_OK);
    static uint32_t ids[2][30000];
    for (uint32_t tok = 0; tok < BIG_TOKENS; tok++) {
        const uint32_t *p[2] = {ids[0], ids[1]}, n[2] = {big_n[tok], big_n[(tok + 1) % BIG_TOKENS]};
        for (uint32_t l = 0; l < 2; l++)
            for (uint32_t i = 0; i < n[l]; i++)
                ids[l][i] = tok * 7 + l + i;
        assert_int_equal(lf_trace_append_token(t, -1, p, n, NULL, &err), LF_OK);
    }
}

static void set_id(const char *path, const char *ds_name, hsize_t at, uint32_t v)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, ds_name, H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t fs = H5Dget_space(ds);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL) >= 0);
    assert_true(H5Dwrite(ds, H5T_NATIVE_UINT32, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
}

/* The reader checks uint16 ids a block at a time as it widens them (one pass, not a
 * second one over the widened ids): a valid trace loads bit-identical, whole or its
 * first N tokens; a fault anywhere, also where a token runs from one block into the
 * next, is named as lf_trace_check names it. */
static void test_ids_checked_across_blocks(void **st)
{
    (void)st;
    lf_trace t, r;
    lf_err err;
    make_big(&t);
    const char *p = lf_test_path("big.h5");
    assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
    for (uint32_t n = 1; n <= BIG_TOKENS + 1; n++) {
        lf_trace_read_opts o = {.max_tokens = n <= BIG_TOKENS ? n : 0};
        assert_int_equal(lf_trace_read_ex(p, &o, &r, &err), LF_OK);
        uint32_t m = n <= BIG_TOKENS ? n : BIG_TOKENS;
        assert_int_equal(r.n_tokens, m);
        for (uint32_t l = 0; l < 2; l++) {
            const lf_trace_layer *A = &t.layers[l], *B = &r.layers[l];
            assert_int_equal(B->nnz, A->indptr[m]);
            assert_memory_equal(B->indptr, A->indptr, (m + 1) * sizeof *A->indptr);
            if (B->nnz)
                assert_memory_equal(B->index, A->index, B->nnz * sizeof *A->index);
        }
        lf_trace_free(&r);
    }
    /* Layer 0's tokens lie at [0, 20000) [20000, 32768) [32768] [] [32769, 62769): token 1
     * ends where the second block begins. Layer 1's: [0, 12768) [12768] [] [12769, 42769)
     * [42769, 62769): token 3 (ids 22, 23, ...) runs on into the second block at 32768. */
    struct {
        const char *ds;
        hsize_t at;
        uint32_t v;
        int rc;
        const char *msg;
    } bad[] = {
        {"/layers/000/index", 32767, 7 + 12766, LF_EFORMAT, "layer 0 token 1: ids not sorted"},
        {"/layers/001/index", 32768, 22 + 19998, LF_EFORMAT, "layer 1 token 3: ids not sorted and unique (20020 after 20020)"},
        {"/layers/001/index", 32767, 30000, LF_EFORMAT, "layer 1 token 3: ids not sorted and unique (20021 after 30000)"},
        {"/layers/000/index", 62768, 40000, LF_ERANGE, "layer 0 token 4: id 40000 >= units_per_layer 40000"},
        {"/layers/001/index", 0, 5, LF_EFORMAT, "layer 1 token 0: ids not sorted"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
        set_id(p, bad[i].ds, bad[i].at, bad[i].v);
        assert_int_equal(lf_trace_read(p, &r, &err), bad[i].rc);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: %s", i, err.msg);
        /* only the tokens asked for are read, and checked */
        lf_trace_read_opts o = {.max_tokens = 1};
        assert_int_equal(lf_trace_read_ex(p, &o, &r, &err), i == 4 ? LF_EFORMAT : LF_OK);
        if (i != 4)
            lf_trace_free(&r);
    }
    lf_trace_free(&t);
}

/* A trace read with defer_ids keeps its 16-bit needed ids in the file: staged blocks
 * (whole tokens, across the reader's blocks, through a view of the first tokens) hold
 * the ids the trace holds; it is checked but not written; an id changed in the file
 * after it was opened is named when its block is staged (and nothing stays staged); a
 * file cut short is an error, not a crash. */
static void test_deferred_ids_staged(void **st)
{
    (void)st;
    lf_trace t, r;
    lf_err err;
    make_big(&t);
    const char *p = lf_test_path("deferred.h5");
    assert_int_equal(lf_trace_write(&t, p, &err), LF_OK);
    lf_trace_read_opts o = {.narrow_ids = 1, .defer_ids = 1};
    assert_int_equal(lf_trace_read_ex(p, &o, &r, &err), LF_OK);
    assert_non_null(r.deferred);
    assert_int_equal(lf_trace_check(&r, "deferred", &err), LF_OK);
    uint32_t buf[BIG_UNITS], n;
    /* first a token without ids (layer 0's token 3): nothing to read, no buffer yet */
    assert_int_equal(lf_trace_stage(&r, 0, 3, 4, &err), LF_OK);
    lf_trace_ids_to(&r, 0, 3, 0, buf, &n);
    assert_int_equal(n, 0);
    const uint32_t ranges[][2] = {{0, 5}, {1, 2}, {3, 4}, {2, 5}, {0, 1}, {4, 5}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        for (uint32_t l = 0; l < 2; l++) {
            assert_int_equal(lf_trace_stage(&r, l, ranges[i][0], ranges[i][1], &err), LF_OK);
            for (uint32_t tok = ranges[i][0]; tok < ranges[i][1]; tok++) {
                uint32_t nt;
                const uint32_t *want = lf_trace_ids(&t, l, tok, &nt);
                const uint32_t *got = lf_trace_ids_to(&r, l, tok, 0, buf, &n);
                assert_int_equal(n, nt);
                if (n)
                    assert_memory_equal(got, want, (size_t)n * 4);
            }
        }
    assert_int_equal(lf_trace_stage(&r, 2, 0, 1, &err), LF_EINVAL); /* 2 layers */
    assert_int_equal(lf_trace_stage(&r, 0, 4, 6, &err), LF_EINVAL); /* 5 tokens */
    lf_trace view;
    assert_int_equal(lf_trace_view(&r, 2, &view, &err), LF_OK);
    assert_int_equal(lf_trace_stage(&view, 1, 0, 2, &err), LF_OK);
    assert_int_equal(lf_trace_stage(&view, 1, 1, 3, &err), LF_EINVAL); /* the view's 2 */
    lf_trace_ids_to(&view, 1, 1, 0, buf, &n);
    assert_int_equal(n, big_n[2]);
    lf_trace_view_free(&view);
    /* not written: its ids are not in memory */
    const char *out = lf_test_path("deferred-out.h5");
    unlink(out);
    assert_int_equal(lf_trace_write(&r, out, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "read it whole"));
    assert_int_equal(access(out, F_OK), -1);
    /* an id changed after the file was opened: named at its block, nothing staged */
    set_id(p, "/layers/001/index", 32768, 22 + 19998);
    assert_int_equal(lf_trace_stage(&r, 0, 0, 5, &err), LF_OK); /* layer 0 untouched */
    assert_int_equal(lf_trace_stage(&r, 1, 0, 5, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "layer 1 token 3: ids not sorted and unique (20020 after "
                                    "20020"));
    assert_non_null(strstr(err.msg, "changed since it was opened"));
    assert_int_equal(r.deferred->first, r.deferred->end);
    assert_int_equal(lf_trace_stage(&r, 1, 0, 3, &err), LF_OK); /* the tokens before it */
    set_id(p, "/layers/000/index", 5, 40000);
    assert_int_equal(lf_trace_stage(&r, 0, 0, 1, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "layer 0 token 0: id 40000 >= units_per_layer 40000"));
    /* cut short under it */
    assert_int_equal(truncate(p, 4096), 0);
    assert_int_equal(lf_trace_stage(&r, 1, 3, 5, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, p));
    lf_trace_free(&r);
    lf_trace_free(&t);
}

/* ---------- damaged version 2 files (no libhdf5 involved) ---------- */

static unsigned char *slurp_bin(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static int read_bytes(const unsigned char *b, size_t n, lf_err *err)
{
    const char *p = lf_test_path("v2bad.h5");
    lf_test_write(p, b, n);
    lf_trace r;
    int rc = lf_trace_read(p, &r, err);
    if (rc == LF_OK)
        lf_trace_free(&r);
    return rc;
}

/* Descriptors this process has open (a refused file must not leave one behind: a sweep
 * worker reads thousands of traces). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_v2_damage_is_named(void **st)
{
    (void)st;
    lf_err err;
    const char *p = write_small("v2ok.h5");
    size_t n;
    unsigned char *img = slurp_bin(p, &n), copy[1 << 16];
    assert_true(n > 1000 && n < sizeof copy);
    assert_int_equal(img[8], 3); /* superblock version 3: checksummed metadata */
    int fds = open_fds();
    /* A checksummed superblock with 4-byte addresses: outside the subset, refused, and
     * its descriptor closed (fuzz_trace_h5 found it left open). */
    memcpy(copy, img, n);
    copy[9] = 4;
    uint32_t sum = lf_h5l_checksum(copy, 44);
    for (int k = 0; k < 4; k++)
        copy[44 + k] = (unsigned char)(sum >> (8 * k));
    for (int k = 0; k < 3; k++) {
        assert_int_equal(read_bytes(copy, n, &err), LF_EFORMAT);
        assert_non_null(strstr(err.msg, "outside the HDF5 subset"));
    }
    assert_int_equal(open_fds(), fds);
    /* Any flipped byte of the superblock or the root's header: a checksum error. */
    size_t at[] = {30, 40, 0x30 + 100, 0x30 + 300};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        memcpy(copy, img, n);
        copy[at[i]] ^= 0x40;
        assert_int_equal(read_bytes(copy, n, &err), LF_EFORMAT);
        assert_non_null(strstr(err.msg, "checksum mismatch"));
        assert_non_null(strstr(err.msg, "v2bad.h5"));
        assert_non_null(strstr(err.msg, "re-create"));
    }
    /* Every truncation: an error, never a crash or a success; the message says what to
     * do (re-create it, or make one when nothing of a trace is left). */
    for (size_t len = 0; len < n; len += 97) {
        assert_int_not_equal(read_bytes(img, len, &err), LF_OK);
        assert_non_null(strstr(err.msg, "v2bad.h5"));
        assert_true(strstr(err.msg, "re-create") || strstr(err.msg, "make one with"));
    }
    /* Every single flipped byte: an error or (bytes nobody checks: padding, the
     * unchecked data) a trace that passes lf_trace_check. An error names the fix,
     * whichever check found it (ids out of order said only where, before). */
    for (size_t i = 0; i < n; i += 7) {
        memcpy(copy, img, n);
        copy[i] ^= 0xff;
        int rc = read_bytes(copy, n, &err);
        if (rc) {
            assert_non_null(strstr(err.msg, "v2bad.h5"));
            if (!strstr(err.msg, "re-create") && !strstr(err.msg, "write the file with") &&
                !strstr(err.msg, "make one with"))
                fail_msg("flipped byte %zu: no fix in '%s'", i, err.msg);
        }
    }
    assert_int_equal(open_fds(), fds); /* no read above left a descriptor open */
}

/* Recomputes the checksum of every object header's first chunk ("OHDR"), as a tool that
 * forges a file would (fuzz_trace_h5 does the same). */
static void fix_ohdr_checksums(unsigned char *b, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i++) {
        if (memcmp(b + i, "OHDR", 4) != 0)
            continue;
        unsigned char flags = b[i + 5];
        size_t off = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
        unsigned szlen = 1u << (flags & 3);
        uint64_t len = 0;
        for (unsigned k = 0; k < szlen && i + off + k < n; k++)
            len |= (uint64_t)b[i + off + k] << (8 * k);
        size_t body = off + szlen + (size_t)len;
        if (len > n || i + body + 4 > n)
            continue;
        uint32_t sum = lf_h5l_checksum(b + i, body);
        for (int k = 0; k < 4; k++)
            b[i + body + k] = (unsigned char)(sum >> (8 * k));
    }
}

/* An integer element type of 0 bytes, checksums intact: refused (fuzz_trace_h5 found the
 * reader dividing the file's size by it). */
static void test_v2_zero_size_type(void **st)
{
    (void)st;
    lf_err err;
    const char *p = write_small("v2zero.h5");
    size_t n, hits = 0;
    unsigned char *img = slurp_bin(p, &n), copy[1 << 16];
    assert_true(n < sizeof copy);
    memcpy(copy, img, n);
    /* datatype message, version 1, fixed-point class, little-endian unsigned, of 2 bytes
     * at offset 0 with all 16 bits used: the ids (no attribute is 16-bit) */
    for (size_t i = 0; i + 12 <= n; i++) {
        unsigned size = copy[i + 4];
        if (copy[i] == 0x10 && !copy[i + 1] && !copy[i + 2] && !copy[i + 3] &&
            size == 2 && !copy[i + 5] && !copy[i + 6] && !copy[i + 7] &&
            !copy[i + 8] && !copy[i + 9] && copy[i + 10] == size * 8 && !copy[i + 11]) {
            copy[i + 4] = copy[i + 10] = 0;
            hits++;
        }
    }
    assert_true(hits >= 1);
    fix_ohdr_checksums(copy, n);
    assert_int_equal(read_bytes(copy, n, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "v2bad.h5"));
}

/* Attribute values that ask for absurd allocations, in a checksummed file. */
static void test_v2_absurd_sizes(void **st)
{
    (void)st;
    lf_err err;
    lf_trace r;
    const char *p = write_small("v2huge.h5");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    uint32_t units = 100000000;
    hid_t a = H5Aopen(f, "units_per_layer", H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_UINT32, &units) >= 0);
    H5Aclose(a);
    claim_elements(f, "/layers/001/index", (hsize_t)1 << 40, 0); /* 4 TiB */
    H5Fclose(f);
    assert_int_equal(lf_trace_read(p, &r, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "units_per_layer=100000000"));
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    units = 8;
    a = H5Aopen(f, "units_per_layer", H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_UINT32, &units) >= 0);
    H5Aclose(a);
    H5Fclose(f);
    assert_int_equal(lf_trace_read(p, &r, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "/layers/001/index"));
    assert_non_null(strstr(err.msg, "1099511627776"));
    assert_non_null(strstr(err.msg, "bytes can hold")); /* lf_h5lite said it, not libhdf5 */
}

/* ---------- the crashing files of issue 14 (../shared/repro/hdf5) ---------- */

static const char *repro_dir(void)
{
    static char dir[1200];
    static int state; /* 0 unknown, 1 present, 2 absent */
    if (!state) {
        const char *base = getenv("LLMFLASH_SHARED_DATA");
        snprintf(dir, sizeof dir, "%s/../repro/hdf5", base && *base ? base : "../shared/data");
        if (access(dir, R_OK) != 0)
            snprintf(dir, sizeof dir, "../shared/repro/hdf5");
        state = access(dir, R_OK) == 0 ? 1 : 2;
        if (state == 2)
            printf("SKIP: %s absent (the issue 14 reproducers are skipped)\n", dir);
    }
    return state == 1 ? dir : NULL;
}

/* Refused with the file's name and the fix, no crash, no hang (a 3 s limit for the
 * libhdf5 child, to keep the test short). */
static void assert_refused(const char *path)
{
    lf_trace r;
    lf_err err;
    lf_trace_read_opts o = {.timeout_s = 3.0};
    int rc = lf_trace_read_ex(path, &o, &r, &err);
    if (rc == LF_OK)
        lf_trace_free(&r);
    assert_int_not_equal(rc, LF_OK);
    const char *base = strrchr(path, '/');
    assert_non_null(strstr(err.msg, base ? base + 1 : path));
    assert_non_null(strstr(err.msg, "re-create"));
}

static void repro(const char *name)
{
    const char *dir = repro_dir();
    if (!dir)
        skip();
    char p[1300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (access(p, R_OK) != 0) {
        printf("SKIP: %s absent\n", p);
        skip();
    }
    assert_refused(p);
}

#define REPRO(fn, file) \
    static void fn(void **st) { (void)st; repro(file); }
REPRO(test_repro_asan_259d, "h5-asan-259d9cf636.h5")
REPRO(test_repro_asan_b29b, "h5-asan-b29b403d4f.h5")
REPRO(test_repro_asan_d5f4, "h5-asan-d5f4594ec8.h5")
REPRO(test_repro_timeout_56d3, "h5-timeout-56d3c9490b.h5")
REPRO(test_repro_sim_20d6, "h5sim-asan-20d65a3107.h5")
REPRO(test_repro_sim_734e, "h5sim-asan-734ee702e2.h5")

/* And any other file put there later. */
static void test_repro_every_file(void **st)
{
    (void)st;
    const char *dir = repro_dir();
    if (!dir)
        skip();
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0)
            continue;
        char p[1300];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        assert_refused(p);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_check),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_read_into_arena),
        cmocka_unit_test(test_grows_into_huge_pages),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_inputs_name_the_place),
        cmocka_unit_test(test_missing_truncated_and_foreign_files),
        cmocka_unit_test(test_write_refuses_invalid_and_leaves_nothing),
        cmocka_unit_test(test_h5py_reads_it),
        cmocka_unit_test(test_same_trace_same_bytes),
        cmocka_unit_test(test_full_disk_leaves_nothing),
        cmocka_unit_test(test_v1_loads_and_first_tokens),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_ids_checked_across_blocks),
        cmocka_unit_test(test_deferred_ids_staged),
        cmocka_unit_test(test_v2_damage_is_named),
        cmocka_unit_test(test_v2_zero_size_type),
        cmocka_unit_test(test_v2_absurd_sizes),
        cmocka_unit_test(test_repro_asan_259d),
        cmocka_unit_test(test_repro_asan_b29b),
        cmocka_unit_test(test_repro_asan_d5f4),
        cmocka_unit_test(test_repro_timeout_56d3),
        cmocka_unit_test(test_repro_sim_20d6),
        cmocka_unit_test(test_repro_sim_734e),
        cmocka_unit_test(test_repro_every_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
