/* Tests of sim/ building blocks with values worked out by hand: layouts (split, bundled,
 * coact, padding), reader coalescing, the DRAM manager's swap-delete moves, the budget. */
#include <stdlib.h>
#include <string.h>

#include "lf_budget.h"
#include "lf_bigmem.h"
#include "lf_layout.h"
#include "lf_reader.h"
#include "lf_slots.h"
#include "lf_test.h"

static lf_model model(const char *spec)
{
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup(spec, &m, &err), LF_OK);
    return m;
}

static void test_layout_sizes_and_padding(void **st)
{
    (void)st;
    lf_err err;
    lf_layout l;
    /* 2 layers, d_model 4, 8 units, ReLU, 2-byte weights: a vector is 8 bytes. */
    lf_model m = model("custom:2,4,8");
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_SPLIT, &m, 2, 16, 0, &err), LF_OK);
    assert_int_equal(l.vector_bytes, 8);
    assert_int_equal(l.record_bytes, 16); /* 8 bytes of weights + 8 of padding */
    assert_int_equal(l.records_per_layer, 16);
    assert_int_equal(l.layer_bytes, 256);
    assert_int_equal(lf_layout_file_bytes(&l), 512);
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &m, 2, 16, 0, &err), LF_OK);
    assert_int_equal(l.record_bytes, 16); /* up + down = 16: no padding */
    assert_int_equal(l.layer_bytes, 128);
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_COACT, &m, 2, 16, 0, &err), LF_OK);
    assert_int_equal(l.record_bytes, 32);
    /* d_model 3: vectors of 6 bytes, alignment 8 -> split 8, bundled 12->16, coact 24. */
    lf_model m3 = model("custom:1,3,4");
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_SPLIT, &m3, 2, 8, 5, &err), LF_OK);
    assert_int_equal(l.record_bytes, 8);
    assert_int_equal(l.data_offset, 8); /* rounded up to the alignment */
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &m3, 2, 8, 0, &err), LF_OK);
    assert_int_equal(l.record_bytes, 16);
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_COACT, &m3, 2, 8, 0, &err), LF_OK);
    assert_int_equal(l.record_bytes, 24);
    /* SwiGLU: three vectors per neuron. OPT-like fp16 bundle = 16 KiB at 4 KiB alignment. */
    lf_model sw = model("custom:1,4096,16,swiglu");
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &sw, 2, 4096, 0, &err), LF_OK);
    assert_int_equal(l.vectors, 3);
    assert_int_equal(l.record_bytes, 3 * 8192);
    lf_model opt = model("custom:1,4096,16");
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &opt, 4, 4096, 0, &err), LF_OK);
    assert_int_equal(l.record_bytes, 32768); /* the paper's 32 KiB fp32 bundle */
    /* Experts: one record per expert, vector = d_model * d_ff * dtype. */
    lf_model moe = model("olmoe-1b-7b");
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &moe, 2, 4096, 0, &err), LF_OK);
    assert_int_equal(l.units, 64);
    assert_int_equal(l.vector_bytes, 2048ull * 1024 * 2);
    assert_int_equal(l.record_bytes, 3ull * 2048 * 1024 * 2);
    /* Bad arguments. */
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_SPLIT, &m, 2, 0, 0, &err), LF_EINVAL);
    lf_layout_kind k;
    assert_int_equal(lf_layout_parse_kind("Bundled", &k, &err), LF_OK);
    assert_int_equal(k, LF_LAYOUT_BUNDLED);
    assert_int_equal(lf_layout_parse_kind("rows", &k, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "split, bundled, coact"));
}

static void test_layout_extents_split_bundled(void **st)
{
    (void)st;
    lf_err err;
    lf_layout l;
    lf_extent_vec v = {0};
    lf_model m = model("custom:2,4,8");
    const uint32_t ids[] = {1, 2, 5};
    /* split, layer 1 starts at 256; up records at 256 + 16*id, down at 256 + 128 + 16*id. */
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_SPLIT, &m, 2, 16, 0, &err), LF_OK);
    assert_int_equal(lf_layout_extents(&l, 1, ids, 3, &v, &err), LF_OK);
    assert_int_equal(v.n, 6);
    const uint64_t want_off[] = {272, 288, 336, 400, 416, 464};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(v.v[i].offset, want_off[i]);
        assert_int_equal(v.v[i].length, 16);
        assert_int_equal(v.v[i].part, i / 3);
        assert_int_equal(v.v[i].unit, ids[i % 3]);
    }
    /* bundled appends: layer 1 starts at 128. */
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &m, 2, 16, 0, &err), LF_OK);
    v.n = 0;
    assert_int_equal(lf_layout_extents(&l, 1, ids, 3, &v, &err), LF_OK);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.v[0].offset, 144);
    assert_int_equal(v.v[1].offset, 160);
    assert_int_equal(v.v[2].offset, 208);
    assert_int_equal(v.v[2].part, LF_PART_ALL);
    /* Unsorted, out of range, no friends for coact. */
    const uint32_t bad[] = {3, 2};
    assert_int_equal(lf_layout_extents(&l, 0, bad, 2, &v, &err), LF_EINVAL);
    const uint32_t big[] = {8};
    assert_int_equal(lf_layout_extents(&l, 0, big, 1, &v, &err), LF_ERANGE);
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_COACT, &m, 2, 16, 0, &err), LF_OK);
    assert_int_equal(lf_layout_extents(&l, 0, ids, 3, &v, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "friends"));
    lf_extent_vec_free(&v);
}

/* One layer, 6 units: tokens {0,1} {0,1,2} {2,3} {2,3} {4}. Co-activation counts give
 * friends 0->1, 1->0, 2->3 (2 beats 0 and 1 with 1 each), 3->2, 4->4 (alone), 5->5. */
static void test_layout_coact(void **st)
{
    (void)st;
    lf_err err;
    lf_trace t;
    assert_int_equal(lf_trace_init_shape(&t, LF_UNITS_NEURONS, "custom:1,4,6", 1, 4, 6, 0, 2, 0, 0, &err), LF_OK);
    const uint32_t a[] = {0, 1}, b[] = {0, 1, 2}, c[] = {2, 3}, d[] = {4};
    const uint32_t *sets[] = {a, b, c, c, d};
    const uint32_t ns[] = {2, 3, 2, 2, 1};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lf_trace_append_layer(&t, 0, sets[i], ns[i], NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(&t, 0, &err), LF_OK);
    }
    lf_model m = model("custom:1,4,6");
    lf_layout l;
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_COACT, &m, 2, 16, 0, &err), LF_OK);
    assert_int_equal(lf_layout_set_friends(&l, &t, &err), LF_OK);
    const uint32_t fr[] = {1, 0, 3, 2, 4, 5};
    for (int i = 0; i < 6; i++)
        assert_int_equal(l.friend_of[i], fr[i]);
    lf_extent_vec v = {0};
    /* {0,1,3}: 0 carries its friend 1 (one read for both); 3's friend 2 is not loaded. */
    const uint32_t ids1[] = {0, 1, 3};
    assert_int_equal(lf_layout_extents(&l, 0, ids1, 3, &v, &err), LF_OK);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.v[0].offset, 0);
    assert_int_equal(v.v[0].length, 32);
    assert_int_equal(v.v[0].n_units, 2);
    assert_int_equal(v.v[1].offset, 3 * 32);
    assert_int_equal(v.v[1].n_units, 1);
    /* {1,2,3}: 1's friend 0 is absent (read alone, 0 comes along unused); 2 pairs with 3. */
    const uint32_t ids2[] = {1, 2, 3};
    v.n = 0;
    assert_int_equal(lf_layout_extents(&l, 0, ids2, 3, &v, &err), LF_OK);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.v[0].unit, 1);
    assert_int_equal(v.v[0].n_units, 1);
    assert_int_equal(v.v[1].unit, 2);
    assert_int_equal(v.v[1].n_units, 2);
    /* Only the prefix of 1 token: 0 and 1 are friends, 2..5 have none (their own). */
    assert_int_equal(lf_layout_set_friends_n(&l, &t, 1, &err), LF_OK);
    assert_int_equal(l.friend_of[0], 1);
    assert_int_equal(l.friend_of[2], 2);
    lf_extent_vec_free(&v);
    lf_layout_free(&l);
    lf_trace_free(&t);
}

static void test_reader_coalescing(void **st)
{
    (void)st;
    lf_err err;
    lf_extent e[5];
    memset(e, 0, sizeof e);
    const uint64_t off[] = {0, 16, 48, 64, 200};
    for (int i = 0; i < 5; i++) {
        e[i].offset = off[i];
        e[i].length = 16;
    }
    lf_read_vec r = {0};
    lf_reader_cfg none = {0, 0, 1};
    assert_int_equal(lf_reader_plan(&none, e, 5, &r, &err), LF_OK);
    assert_int_equal(r.n, 5);
    /* adjacent only: [0,32) [48,80) [200,216) */
    lf_reader_cfg adj = {0, 1 << 20, 1};
    assert_int_equal(lf_reader_plan(&adj, e, 5, &r, &err), LF_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.v[0].length, 32);
    assert_int_equal(r.v[0].n_extents, 2);
    assert_int_equal(r.v[1].offset, 48);
    assert_int_equal(r.v[1].first_extent, 2);
    assert_int_equal(r.v[2].offset, 200);
    /* gap 16 read through: [0,80) (16 gap bytes counted) and [200,216): 96 bytes */
    lf_reader_cfg gap = {16, 1 << 20, 1};
    assert_int_equal(lf_reader_plan(&gap, e, 5, &r, &err), LF_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].length, 80);
    assert_int_equal(r.v[0].n_extents, 4);
    assert_int_equal(r.v[0].length + r.v[1].length, 96);
    /* max_read 32 caps each read: [0,32) [48,80) [200,216) */
    lf_reader_cfg cap = {16, 32, 1};
    assert_int_equal(lf_reader_plan(&cap, e, 5, &r, &err), LF_OK);
    assert_int_equal(r.n, 3);
    /* Out of order is an error. */
    e[1].offset = 8;
    assert_int_equal(lf_reader_plan(&adj, e, 5, &r, &err), LF_EINVAL);
    assert_int_equal(lf_reader_plan(&adj, e, 0, &r, &err), LF_OK);
    assert_int_equal(r.n, 0);
    lf_read_vec_free(&r);
}

/* The DRAM manager's bookkeeping, its arrays malloc'ed or in an arena (a replay's). */
static void slots_swap_delete(lf_bigmem_arena *arena)
{
    lf_err err;
    lf_slots s;
    lf_move mv[8];
    uint32_t nm, first;
    assert_int_equal(lf_slots_init_in(&s, 20, 8, arena, &err), LF_OK);
    assert_int_equal(s.in_arena, arena != NULL);
    assert_int_equal(lf_bigmem_arena_owns(arena, s.id_to_row), arena != NULL);
    assert_int_equal(lf_bigmem_arena_owns(arena, s.resident), arena != NULL);
    const uint32_t a[] = {10, 11, 12, 13, 14};
    assert_int_equal(lf_slots_append(&s, a, 5, &first, &err), LF_OK);
    assert_int_equal(first, 0);
    assert_int_equal(s.num_used, 5);
    /* Evict 11 (row 1) and 14 (row 4): the line is at 3; row 1 is a hole; of the tail rows
     * 3 and 4, 13 survives: one move 3 -> 1. Rows: [10 13 12]. */
    const uint32_t e1[] = {11, 14};
    assert_int_equal(lf_slots_evict(&s, e1, 2, mv, &nm, &err), LF_OK);
    assert_int_equal(nm, 1);
    assert_int_equal(mv[0].from, 3);
    assert_int_equal(mv[0].to, 1);
    assert_int_equal(s.num_used, 3);
    assert_int_equal(lf_slots_id(&s, 1), 13);
    assert_int_equal(lf_slots_row(&s, 13), 1);
    assert_false(lf_slots_has(&s, 11));
    assert_false(lf_slots_has(&s, 14));
    /* Append 1..4 -> rows 3..6: [10 13 12 1 2 3 4]; evict 10 and 13 (rows 0, 1): the
     * last two rows (4 at 6, 3 at 5) fill rows 0 and 1: moves 6->0, 5->1. */
    const uint32_t b[] = {1, 2, 3, 4};
    assert_int_equal(lf_slots_append(&s, b, 4, &first, &err), LF_OK);
    assert_int_equal(first, 3);
    const uint32_t e2[] = {10, 13};
    assert_int_equal(lf_slots_evict(&s, e2, 2, mv, &nm, &err), LF_OK);
    assert_int_equal(nm, 2);
    assert_int_equal(mv[0].from, 6);
    assert_int_equal(mv[0].to, 0);
    assert_int_equal(mv[1].from, 5);
    assert_int_equal(mv[1].to, 1);
    const uint32_t rows[] = {4, 3, 12, 1, 2};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lf_slots_id(&s, i), rows[i]);
        assert_int_equal(lf_slots_row(&s, rows[i]), i);
    }
    /* Evicting everything moves nothing. */
    const uint32_t all[] = {1, 2, 3, 4, 12};
    assert_int_equal(lf_slots_evict(&s, all, 5, mv, &nm, &err), LF_OK);
    assert_int_equal(nm, 0);
    assert_int_equal(s.num_used, 0);
    /* Errors leave the state as it was. */
    assert_int_equal(lf_slots_append(&s, a, 3, &first, &err), LF_OK);
    const uint32_t notres[] = {10, 19};
    assert_int_equal(lf_slots_evict(&s, notres, 2, mv, &nm, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "not resident"));
    assert_true(lf_slots_has(&s, 10));
    assert_int_equal(s.num_used, 3);
    const uint32_t dup[] = {15, 10};
    assert_int_equal(lf_slots_append(&s, dup, 2, &first, &err), LF_EINVAL);
    assert_false(lf_slots_has(&s, 15));
    const uint32_t many[] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(lf_slots_append(&s, many, 6, &first, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "preallocated"));
    lf_slots_free(&s); /* in an arena: the arena's to free (ASAN: no invalid free) */
}

static void test_slots_swap_delete(void **st)
{
    (void)st;
    slots_swap_delete(NULL);
    lf_bigmem_arena *arena = lf_bigmem_arena_new();
    assert_non_null(arena);
    slots_swap_delete(arena);
    slots_swap_delete(arena); /* a second manager beside the first one's arrays */
    lf_bigmem_arena_free(arena);
}

static uint32_t draw(uint64_t *seed, uint32_t n)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((*seed >> 33) % n);
}

/* Random evictions and appends against what the manager promises: the moves, done in
 * order on a copy of the old rows, give the new rows; every move takes a surviving row
 * of the tail into a hole below the new end; the row and id arrays and the resident
 * bytes agree. */
static void slots_random(uint32_t units, uint32_t cap, int steps, int narrow)
{
    lf_err err;
    lf_slots s;
    lf_move *mv = malloc(cap * sizeof *mv);
    uint32_t *rows = malloc(cap * sizeof *rows), *ids = malloc(cap * sizeof *ids), nm, first;
    uint8_t *picked = calloc(units, 1);
    uint64_t seed = 99;
    assert_true(mv && rows && ids && picked);
    assert_int_equal(lf_slots_init(&s, units, cap, &err), LF_OK);
    assert_int_equal(s.narrow, narrow);
    for (int step = 0; step < steps; step++) {
        uint32_t used = s.num_used, n = 0;
        for (uint32_t r = 0; r < used; r++)
            rows[r] = lf_slots_id(&s, r);
        for (uint32_t r = 0; r < used; r++) /* about a third, in the rows' order: any */
            if (draw(&seed, 3) == 0)
                ids[n++] = rows[r];
        assert_int_equal(lf_slots_evict(&s, ids, n, mv, &nm, &err), LF_OK);
        assert_int_equal(s.num_used, used - n);
        assert_true(nm <= n);
        for (uint32_t k = 0; k < nm; k++) {
            assert_true(mv[k].from >= s.num_used && mv[k].from < used);
            assert_true(mv[k].to < s.num_used);
            rows[mv[k].to] = rows[mv[k].from];
        }
        for (uint32_t k = 0; k < n; k++) {
            assert_false(lf_slots_has(&s, ids[k]));
            assert_int_equal(lf_slots_row(&s, ids[k]), LF_SLOT_NONE);
        }
        for (uint32_t r = 0; r < s.num_used; r++) {
            assert_int_equal(rows[r], lf_slots_id(&s, r));
            assert_true(lf_slots_has(&s, rows[r]));
            assert_int_equal(lf_slots_row(&s, rows[r]), r);
        }
        n = 0;
        for (uint32_t tries = 0; tries < cap && s.num_used + n < cap; tries++) {
            uint32_t u = draw(&seed, units); /* ids anywhere, the last ones too */
            if (!lf_slots_has(&s, u) && !picked[u])
                picked[u] = 1, ids[n++] = u;
        }
        assert_int_equal(lf_slots_append(&s, ids, n, &first, &err), LF_OK);
        for (uint32_t k = 0; k < n; k++) {
            picked[ids[k]] = 0;
            assert_int_equal(lf_slots_row(&s, ids[k]), first + k);
        }
    }
    uint32_t resident = 0;
    for (uint32_t u = 0; u < units; u++)
        resident += lf_slots_has(&s, u);
    assert_int_equal(resident, s.num_used);
    /* a refused append leaves the state as it was, at either width */
    if (lf_slots_has(&s, units - 1)) {
        uint32_t last = units - 1;
        assert_int_equal(lf_slots_evict(&s, &last, 1, mv, &nm, &err), LF_OK);
    }
    while (s.num_used + 2 > cap) { /* room for the two */
        uint32_t last = lf_slots_id(&s, s.num_used - 1);
        assert_int_equal(lf_slots_evict(&s, &last, 1, mv, &nm, &err), LF_OK);
    }
    uint32_t in = lf_slots_id(&s, 0), bad[2] = {units - 1, in};
    assert_int_equal(lf_slots_append(&s, bad, 2, &first, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "already resident"));
    assert_int_equal(lf_slots_row(&s, units - 1), LF_SLOT_NONE);
    assert_int_equal(lf_slots_row(&s, in), 0);
    lf_slots_free(&s);
    free(mv);
    free(rows);
    free(ids);
    free(picked);
}

static void test_slots_random(void **st)
{
    (void)st;
    slots_random(200, 120, 2000, 1);
    slots_random(65535, 300, 300, 1); /* the widest narrow one: ids up to 65534 */
    slots_random(65536, 300, 300, 0);
    slots_random(70000, 300, 300, 0);
}

/* custom:2,4,8 at 2 bytes: unit 16 B, FFN 2*8*16 = 256 B, attention (2*4*4 + 2*4*4) * 2
 * layers * 2 B = 256 B, no embeddings (vocab 0): 512 B. Predictor rank 1: 1*(4+8)*2*2 = 48. */
static void test_budget(void **st)
{
    (void)st;
    lf_err err;
    lf_budget b;
    lf_model m = model("custom:2,4,8");
    assert_int_equal(lf_budget_compute(&m, 2, 0, 0.75, 0, 1, &b, &err), LF_OK);
    assert_int_equal(b.model_bytes, 512);
    assert_int_equal(b.ffn_bytes, 256);
    assert_int_equal(b.predictor_bytes, 48);
    assert_int_equal(b.resident_bytes, 304);
    assert_int_equal(b.budget_bytes, 384);
    assert_int_equal(b.capacity, 2); /* (384 - 304) / (2 layers * 16) = 2.5 */
    assert_int_equal(lf_budget_compute(&m, 2, 0, 0, 10000, 0, &b, &err), LF_OK);
    assert_int_equal(b.capacity, 8); /* capped at the units */
    assert_int_equal(lf_budget_compute(&m, 2, 0, 0.5, 0, 1, &b, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "resident part"));
    assert_non_null(strstr(err.msg, "at least 0.59"));
    assert_non_null(strstr(err.msg, "304 bytes")); /* sizes in a unit that shows them */
    /* a resident part larger than the model (rank 8: a 384-byte predictor) cannot be met
     * by a fraction: the advice is bytes or a lower rank */
    assert_int_equal(lf_budget_compute(&m, 2, 0, 1, 0, 8, &b, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "--dram-bytes 640 or more"));
    assert_null(strstr(err.msg, "--dram-fraction to"));
    assert_int_equal(lf_budget_compute(&m, 2, 0, 1.5, 0, 1, &b, &err), LF_EINVAL);
    /* an MoE model's shared experts stay in DRAM (every token computes with them): they
     * are part of the resident part, not room for routed experts */
    lf_model q = model("qwen1.5-moe-a2.7b");
    assert_true(lf_model_shared_bytes(&q, 2) > 0);
    assert_int_equal(lf_budget_compute(&q, 2, 0, 0.5, 0, 0, &b, &err), LF_OK);
    assert_int_equal(b.shared_bytes, lf_model_shared_bytes(&q, 2));
    assert_int_equal(b.resident_bytes, b.embedding_bytes + b.attention_bytes + b.shared_bytes);
    assert_int_equal(b.capacity, (b.budget_bytes - b.resident_bytes) / (b.row_bytes * q.n_layers));
    assert_int_equal(lf_budget_compute(&q, 2, 0, 0.05, 0, 0, &b, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "+ shared experts"));
    /* experts stored at 4 bits (a scale and a bias per 64 weights): the model is smaller,
     * the resident part stays fp16, and a budget of the same bytes holds more experts */
    uint64_t q4 = 3 * lf_model_weights_bytes((uint64_t)q.d_model * q.d_ff, 4);
    assert_int_equal(q4, 3 * ((uint64_t)q.d_model * q.d_ff / 2 + (uint64_t)q.d_model * q.d_ff / 16));
    lf_budget fp16 = b;
    assert_int_equal(lf_budget_compute(&q, 2, 0, 0, 6ull << 30, 0, &fp16, &err), LF_OK);
    assert_int_equal(lf_budget_compute(&q, 2, q4, 0, 6ull << 30, 0, &b, &err), LF_OK);
    assert_int_equal(b.row_bytes, q4);
    assert_int_equal(b.resident_bytes, fp16.resident_bytes);
    assert_int_equal(b.ffn_bytes, q4 * q.n_experts * q.n_layers);
    assert_int_equal(b.model_bytes, fp16.model_bytes - fp16.ffn_bytes + b.ffn_bytes);
    assert_int_equal(b.capacity, (b.budget_bytes - b.resident_bytes) / (q4 * q.n_layers));
    assert_true(b.capacity > fp16.capacity);
    assert_int_equal(lf_model_weights_bytes(100, 4), 0); /* not whole groups */
    assert_int_equal(lf_model_weights_bytes(128, 3), 0);
    assert_int_equal(lf_model_weights_bytes(128, 16), 256);
}

/* lf_reader_totals counts exactly the reads, and their bytes, that lf_layout_extents
 * and lf_reader_plan build, over random load sets, both layouts, alignments and
 * coalescing settings (no coalescing, adjacent only, gaps, a small max_read). */
static void test_reader_totals(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("custom:3,64,512");
    const lf_layout_kind kinds[] = {LF_LAYOUT_SPLIT, LF_LAYOUT_BUNDLED};
    const uint32_t aligns[] = {1, 16, 4096};
    /* no coalescing; adjacent only (every loaded byte in one read, or cut at 2048); gaps */
    const lf_reader_cfg cfgs[] = {{0, 0, 8},         {0, 1 << 20, 8},    {0, 2048, 8},
                                  {300, 1 << 20, 8}, {5000, 2048, 8}};
    uint32_t ids[512];
    uint64_t seed = 12345, checked = 0, one_read = 0, cut = 0;
    lf_extent_vec ext = {0};
    lf_read_vec reads = {0};
    for (size_t k = 0; k < 2; k++)
        for (size_t a = 0; a < 3; a++) {
            lf_layout l;
            assert_int_equal(lf_layout_init(&l, kinds[k], &m, 2, aligns[a], 0, &err), LF_OK);
            for (int trial = 0; trial < 40; trial++) {
                uint32_t n = 0, density = 1 + (uint32_t)(trial % 8);
                for (uint32_t u = 0; u < 512; u++) {
                    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                    if ((seed >> 33) % 8 < density)
                        ids[n++] = u;
                }
                uint32_t layer = (uint32_t)trial % 3;
                for (size_t c = 0; c < 5; c++) {
                    ext.n = 0;
                    assert_int_equal(lf_layout_extents(&l, layer, ids, n, &ext, &err), LF_OK);
                    assert_int_equal(lf_reader_plan(&cfgs[c], ext.v, ext.n, &reads, &err), LF_OK);
                    uint64_t bytes = 0;
                    for (size_t i = 0; i < reads.n; i++)
                        bytes += reads.v[i].length;
                    uint32_t n_reads;
                    uint64_t total;
                    assert_int_equal(
                        lf_reader_totals(&cfgs[c], &l, layer, ids, n, &n_reads, &total, &err),
                        LF_OK);
                    assert_int_equal(n_reads, reads.n);
                    assert_int_equal(total, bytes);
                    checked++;
                    if (cfgs[c].max_gap == 0 && cfgs[c].max_read) { /* adjacent only */
                        uint32_t run = 1, longest = n > 0;
                        for (uint32_t i = 1; i < n; i++) {
                            run = ids[i] == ids[i - 1] + 1 ? run + 1 : 1;
                            longest = run > longest ? run : longest;
                        }
                        uint64_t fits = cfgs[c].max_read / l.record_bytes;
                        one_read += longest <= fits; /* every run in one read */
                        cut += longest > fits;       /* runs cut at max_read */
                    }
                }
            }
            /* the same refusals as lf_layout_extents */
            uint32_t bad[2] = {7, 7};
            uint32_t n_reads;
            uint64_t total;
            assert_int_equal(lf_reader_totals(&cfgs[1], &l, 0, bad, 2, &n_reads, &total, &err),
                             LF_EINVAL);
            bad[1] = 512;
            assert_int_equal(lf_reader_totals(&cfgs[1], &l, 0, bad, 2, &n_reads, &total, &err),
                             LF_ERANGE);
            assert_int_equal(lf_reader_totals(&cfgs[1], &l, 0, bad + 1, 1, &n_reads, &total, &err),
                             LF_ERANGE); /* a single id: no pair to compare */
            uint32_t unsorted[3] = {2, 9, 5}, wraps[2] = {1, 0x80000001u};
            assert_int_equal(
                lf_reader_totals(&cfgs[1], &l, 0, unsorted, 3, &n_reads, &total, &err), LF_EINVAL);
            assert_non_null(strstr(err.msg, "sorted and unique (5 after 9)"));
            assert_int_equal(lf_reader_totals(&cfgs[1], &l, 0, wraps, 2, &n_reads, &total, &err),
                             LF_ERANGE);
            assert_int_equal(lf_reader_totals(&cfgs[1], &l, 3, ids, 1, &n_reads, &total, &err),
                             LF_ERANGE); /* layer 3 of 3 */
            assert_int_equal(lf_reader_totals(&cfgs[1], &l, 0, NULL, 0, &n_reads, &total, &err),
                             LF_OK);
            assert_true(n_reads == 0 && total == 0);
            lf_layout_free(&l);
        }
    assert_int_equal(checked, 2 * 3 * 40 * 5);
    assert_true(one_read > 50 && cut > 50); /* both ways of counting adjacent records */
    lf_extent_vec_free(&ext);
    lf_read_vec_free(&reads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_sizes_and_padding),
        cmocka_unit_test(test_layout_extents_split_bundled),
        cmocka_unit_test(test_layout_coact),
        cmocka_unit_test(test_reader_coalescing),
        cmocka_unit_test(test_reader_totals),
        cmocka_unit_test(test_slots_swap_delete),
        cmocka_unit_test(test_slots_random),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
