/* Tests of the replay engine: golden replays of a hand-made trace with bytes, reads,
 * evictions, moves and priced times worked out by hand; the predictor; invariants on a
 * synthetic trace; the results folder. The policies here are small local ones (window
 * and read-everything), so these tests pin the engine, not the policy plugins. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lf_fs.h"
#include "lf_predictor.h"
#include "lf_price.h"
#include "lf_run.h"
#include "lf_runopt.h"
#include "lf_replay.h"
#include "lf_results.h"
#include "lf_synth.h"
#include "lf_test.h"

/* ---- local policies: window:k, "all" (naive, k = 0) and "fresh" (k = FRESH: evict
 * everything, load exactly the wanted set, nothing kept) ---- */
#define FRESH 1000u
typedef struct {
    uint32_t units, k, all, fresh;
    uint32_t *ring;     /* per layer: k sets of up to units ids */
    uint32_t *ring_n;   /* per layer: k sizes */
    uint32_t *head, *fill;
    uint32_t *cnt;      /* per layer: units */
    uint8_t *res;       /* per layer: units */
    uint32_t *n_res;
} twin;

static int twin_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                     uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token;
    (void)err;
    twin *s = p->state;
    uint32_t U = s->units;
    uint8_t *res = s->res + (size_t)layer * U;
    plan->n_evict = plan->n_load = plan->n_hit = 0;
    if (s->all || s->fresh) { /* evict everything (highest first), load all / wanted */
        for (uint32_t i = U; i-- > 0;)
            if (res[i]) {
                plan->evict[plan->n_evict++] = i;
                res[i] = 0;
            }
        uint32_t n = s->all ? U : n_want;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t id = s->all ? i : want[i];
            plan->load[plan->n_load++] = id;
            res[id] = 1;
        }
        plan->n_resident = n;
        return LF_OK;
    }
    uint32_t *cnt = s->cnt + (size_t)layer * U;
    uint32_t *ring = s->ring + (size_t)layer * s->k * U, *rn = s->ring_n + (size_t)layer * s->k;
    uint32_t slot = s->head[layer];
    if (s->fill[layer] == s->k) { /* drop the oldest set */
        uint32_t *old = ring + (size_t)slot * U;
        for (uint32_t i = 0; i < rn[slot]; i++)
            cnt[old[i]]--;
        for (uint32_t i = 0; i < n_want; i++)
            cnt[want[i]]++;
        for (uint32_t i = 0; i < rn[slot]; i++)
            if (cnt[old[i]] == 0 && res[old[i]]) {
                plan->evict[plan->n_evict++] = old[i];
                res[old[i]] = 0;
            }
    } else {
        for (uint32_t i = 0; i < n_want; i++)
            cnt[want[i]]++;
        s->fill[layer]++;
    }
    memcpy(ring + (size_t)slot * U, want, n_want * sizeof *want);
    rn[slot] = n_want;
    s->head[layer] = (slot + 1) % s->k;
    for (uint32_t i = 0; i < n_want; i++) {
        if (res[want[i]]) {
            plan->n_hit++;
        } else {
            plan->load[plan->n_load++] = want[i];
            res[want[i]] = 1;
        }
    }
    s->n_res[layer] += plan->n_load;
    s->n_res[layer] -= plan->n_evict;
    plan->n_resident = s->n_res[layer];
    return LF_OK;
}

static void twin_destroy(lf_policy *p)
{
    twin *s = p->state;
    free(s->ring);
    free(s->ring_n);
    free(s->head);
    free(s->fill);
    free(s->cnt);
    free(s->res);
    free(s->n_res);
}

/* k = 0: read everything every token (naive). */
static int twin_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    twin *s = p->state;
    uint64_t k;
    int rc = lf_kv_u64(kv, "k", 1, &k, err);
    if (rc)
        return rc;
    uint32_t n_layers = ctx->n_layers, units = ctx->units;
    s->units = units;
    s->all = k == 0;
    s->fresh = k == FRESH;
    s->k = k && k != FRESH ? (uint32_t)k : 1;
    s->ring = malloc((size_t)n_layers * s->k * units * sizeof *s->ring);
    s->ring_n = calloc((size_t)n_layers * s->k, sizeof *s->ring_n);
    s->head = calloc(n_layers, sizeof *s->head);
    s->fill = calloc(n_layers, sizeof *s->fill);
    s->cnt = calloc((size_t)n_layers * units, sizeof *s->cnt);
    s->res = calloc((size_t)n_layers * units, 1);
    s->n_res = calloc(n_layers, sizeof *s->n_res);
    return LF_OK;
}

static const lf_policy_desc twin_desc = {
    .name = "test-window",
    .keys = (const lf_policy_key[]){{"k", "window; 0 = all, FRESH = the wanted set"},
                                    {NULL, NULL}},
    .state_size = sizeof(twin),
    .create = twin_create,
    .step = twin_step,
    .destroy = twin_destroy,
};

static lf_policy *twin_new(const lf_policy_desc *d, uint32_t n_layers, uint32_t units, uint32_t k)
{
    lf_policy_ctx ctx = {.n_layers = n_layers, .units = units};
    char params[32];
    snprintf(params, sizeof params, "k=%u", k);
    lf_policy *p = NULL;
    lf_err err;
    if (lf_policy_new(d, params, &ctx, &p, &err))
        fail_msg("%s", err.msg);
    return p;
}

/* ---- a recording backend: counts what the engine hands over ---- */
typedef struct {
    uint64_t moves, steps, bad;
} rec_state;

static int rec_layer(lf_backend *b, const lf_step *st, lf_times *out, lf_err *err)
{
    (void)err;
    rec_state *r = b->state;
    r->steps++;
    r->moves += st->n_moves;
    /* Loads land in rows [first_new_row, +n_load) of the slots, in load order. */
    for (uint32_t i = 0; i < st->plan->n_load; i++)
        if (lf_slots_id(st->slots, st->first_new_row + i) != st->plan->load[i])
            r->bad++;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < st->n_reads; i++)
        sum += st->reads[i].length;
    if (sum != st->bytes_read)
        r->bad++;
    out->io_s = out->mem_s = out->compute_s = 0;
    return LF_OK;
}

/* One layer, 8 units, d_model 4, 2-byte weights: a unit is 16 bytes (up 8 + down 8).
 * Tokens: {1,2,5} {2,3} {5,6,7} {1}. */
static void tiny_trace(lf_trace *t)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_NEURONS, "custom:1,4,8", 1, 4, 8, 0, 2, 0, 0, &err), LF_OK);
    const uint32_t a[] = {1, 2, 5}, b[] = {2, 3}, c[] = {5, 6, 7}, d[] = {1};
    const uint32_t *sets[] = {a, b, c, d};
    const uint32_t ns[] = {3, 2, 3, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lf_trace_append_layer(t, 0, sets[i], ns[i], NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(t, i, &err), LF_OK);
    }
}

static lf_model model(const char *spec)
{
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup(spec, &m, &err), LF_OK);
    return m;
}

/* A synthetic trace of n_tok tokens of m, the default statistics with this seed. */
static void synth(const lf_model *m, uint32_t n_tok, uint64_t seed, lf_trace *t)
{
    lf_err err;
    lf_synth_params sp;
    lf_synth_defaults(&sp);
    sp.seed = seed;
    assert_int_equal(lf_synth_generate(m, n_tok, &sp, t, &err), LF_OK);
}

/* synth's trace of `seed`, with the sets of another (seed + 1) as its predicted sets. */
static void synth_with_pred(const lf_model *m, uint32_t n_tok, uint64_t seed, lf_trace *t)
{
    lf_err err;
    lf_trace guess;
    synth(m, n_tok, seed, t);
    synth(m, n_tok, seed + 1, &guess);
    for (uint32_t l = 0; l < m->n_layers; l++) {
        lf_trace_layer *G = &guess.layers[l];
        assert_int_equal(lf_trace_set_pred(t, l, G->indptr, G->index, G->nnz, &err), LF_OK);
        G->indptr = NULL; /* now t's */
        G->index = NULL;
    }
    lf_trace_free(&guess);
}

static void replay(const lf_trace *t, const lf_model *m, lf_policy *pol, lf_layout_kind kind,
                   uint32_t align, lf_reader_cfg rd, lf_predictor *pred, lf_dram_strategy dram,
                   lf_backend *be, lf_token_row *rows)
{
    lf_err err;
    lf_layout l;
    assert_int_equal(lf_layout_init(&l, kind, m, 2, align, 0, &err), LF_OK);
    lf_replay_cfg cfg = {.trace = t,
                         .model = m,
                         .dtype_bytes = 2,
                         .policy = pol,
                         .layout = &l,
                         .reader = rd,
                         .predictor = pred,
                         .dram = dram,
                         .quiet = 1};
    int rc = lf_replay(&cfg, be, rows, &err);
    if (rc)
        fprintf(stderr, "replay: %s\n", err.msg);
    assert_int_equal(rc, LF_OK);
    lf_layout_free(&l);
}

/* Replays the tiny trace with the local policy (window k, or FRESH / 0) at alignment 16. */
static void run_tiny(uint32_t k, lf_layout_kind kind, lf_reader_cfg rd, lf_dram_strategy dram,
                     lf_backend *be, lf_token_row *rows)
{
    lf_trace t;
    tiny_trace(&t);
    lf_model m = model("custom:1,4,8");
    lf_policy *pol = twin_new(&twin_desc, 1, 8, k);
    replay(&t, &m, pol, kind, 16, rd, NULL, dram, be, rows);
    lf_policy_free(pol);
    lf_trace_free(&t);
}

/* window k=2 by hand: t0 load {1,2,5}; t1 load {3}, hit 2; t2 evict {1}, load {6,7},
 * hit 5; t3 evict {2,3}, load {1}. Resident 3,4,5,4.
 * Rows: t1 [1 2 5 3]; t2 evicts row 0, row 3 (unit 3) moves 3->0: [3 2 5] + [6 7];
 * t3 evicts 2 (row 1) and 3 (row 0): 7 moves 4->1, 6 moves 3->0: [6 7 5] + [1].
 * Prealloc copies 0,0,1,2; realloc copies every kept row: 0,3,3,3. */
static void test_golden_window_moves(void **st)
{
    (void)st;
    lf_token_row rows[4];
    rec_state rs = {0, 0, 0};
    lf_backend be = {&rs, rec_layer, NULL, 0, 0};
    lf_reader_cfg none = {0, 0, 1};
    run_tiny(2, LF_LAYOUT_BUNDLED, none, LF_DRAM_PREALLOC, &be, rows);
    const uint64_t loads[] = {3, 1, 2, 1}, ev[] = {0, 0, 1, 2}, hits[] = {0, 1, 1, 0};
    const uint64_t res[] = {3, 4, 5, 4}, copies[] = {0, 0, 1, 2};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rows[i].token, i);
        assert_int_equal(rows[i].loads, loads[i]);
        assert_int_equal(rows[i].evictions, ev[i]);
        assert_int_equal(rows[i].hits, hits[i]);
        assert_int_equal(rows[i].misses, loads[i]);
        assert_int_equal(rows[i].reads, loads[i]);         /* bundled: one read a unit */
        assert_int_equal(rows[i].bytes_read, 16 * loads[i]);
        assert_int_equal(rows[i].resident_units, res[i]);
        assert_int_equal(rows[i].resident_bytes, 16 * res[i]);
        assert_int_equal(rows[i].copy_ops, copies[i]);
        assert_int_equal(rows[i].bytes_copied, 16 * copies[i]);
    }
    assert_int_equal(rs.moves, 3);
    assert_int_equal(rs.bad, 0);
    /* realloc: kept rows 0,3,3,3 copied into a fresh matrix. */
    run_tiny(2, LF_LAYOUT_BUNDLED, none, LF_DRAM_REALLOC, &be, rows);
    const uint64_t rcopies[] = {0, 3, 3, 3};
    for (int i = 0; i < 4; i++)
        assert_int_equal(rows[i].copy_ops, rcopies[i]);
}

/* sparse (window k=1), split layout at alignment 16: each 8-byte vector padded to 16
 * (padding counted). Loads 3,1,3,1 -> reads 6,2,6,2, bytes 96,32,96,32 without
 * coalescing. Coalescing adjacent records: t0 {1,2,5}: up 1-2 joined, 5; down the same
 * -> 4 reads; t2 {5,6,7}: one up read, one down read -> 2; bytes unchanged. */
static void test_golden_split_coalescing(void **st)
{
    (void)st;
    lf_token_row rows[4];
    rec_state rs = {0, 0, 0};
    lf_backend be = {&rs, rec_layer, NULL, 0, 0};
    lf_reader_cfg none = {0, 0, 1}, adj = {0, 1 << 20, 1};
    run_tiny(1, LF_LAYOUT_SPLIT, none, LF_DRAM_PREALLOC, &be, rows);
    const uint64_t reads[] = {6, 2, 6, 2}, bytes[] = {96, 32, 96, 32}, ev[] = {0, 2, 2, 3};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rows[i].reads, reads[i]);
        assert_int_equal(rows[i].bytes_read, bytes[i]);
        assert_int_equal(rows[i].evictions, ev[i]);
    }
    /* t1 evicts {1,5} from [1 2 5]: unit 2 (row 1) moves to row 0. */
    assert_int_equal(rows[1].copy_ops, 1);
    run_tiny(1, LF_LAYOUT_SPLIT, adj, LF_DRAM_PREALLOC, &be, rows);
    const uint64_t creads[] = {4, 2, 2, 2};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rows[i].reads, creads[i]);
        assert_int_equal(rows[i].bytes_read, bytes[i]);
    }
    assert_int_equal(rs.bad, 0);
}

/* The simulator's backend on a hand-made device: latency 1 ms, a stream moves 16 B in
 * 1 us, no caps (p = 0: the max of the bounds), DRAM 1 us per op + 1 us per 16 B,
 * 100 us per allocation, 1 GFLOP/s, unlimited memory bandwidth. One read in flight.
 *   io(t)   = reads * 1 ms + bytes/16 us      t0: 3 reads, 48 B -> 3.003 ms
 *   mem     = prealloc moves: t2 1 -> 0.002 ms, t3 2 -> 0.004 ms
 *   compute = 2*2*rows*4 flops at 1 GFLOP/s + the whole token's resident part:
 *             projections 2*64 flops, attention over the KV cache 4*q_dim*(t+1) = 16*(t+1),
 *             3 RMS norms of 4 values at 4 flops each (48). */
static lf_device golden_device(void)
{
    lf_device d;
    memset(&d, 0, sizeof d);
    d.flash_latency_s = 1e-3;
    d.flash_stream_bw = 16e6;
    d.flash_max_bw = 1e18;
    d.flash_max_iops = 1e18;
    d.flash_alignment = 16;
    d.dram_copy_bw = 16e6;
    d.dram_op_s = 1e-6;
    d.dram_alloc_s = 1e-4;
    d.compute_flops = 1e9;
    d.mem_bw = 1e18;
    return d;
}

/* run_tiny (window k=2, bundled, one read in flight) priced by the simulator's backend on
 * d at `scope`. */
static void price_tiny(const lf_device *d, lf_scope scope, lf_dram_strategy dram,
                       lf_token_row *rows)
{
    lf_model m = model("custom:1,4,8");
    lf_backend be;
    lf_price sb;
    lf_price_backend(&be, &sb, d, &m, 2, 1);
    sb.scope = scope;
    run_tiny(2, LF_LAYOUT_BUNDLED, (lf_reader_cfg){0, 0, 1}, dram, &be, rows);
}

static void test_golden_sim_backend(void **st)
{
    (void)st;
    lf_device d = golden_device();
    lf_token_row rows[4];
    price_tiny(&d, LF_SCOPE_TOKEN, LF_DRAM_PREALLOC, rows);
    const double io[] = {3.003, 1.001, 2.002, 1.001}, mem[] = {0, 0, 0.002, 0.004};
    const double rowsn[] = {3, 4, 5, 4};
    for (int i = 0; i < 4; i++) {
        double comp = (16.0 * rowsn[i] + 128.0 + 16.0 * (i + 1) + 48.0) * 1e-9 * 1e3;
        assert_true(fabs(rows[i].io_ms - io[i]) < 1e-9);
        assert_true(fabs(rows[i].mem_ms - mem[i]) < 1e-9);
        assert_true(fabs(rows[i].compute_ms - comp) < 1e-12);
        assert_true(fabs(rows[i].total_ms - (io[i] + mem[i] + comp)) < 1e-9);
    }
    /* realloc: t1 copies 3 rows (3 ops, 48 B: 6 us) + one allocation (100 us). */
    price_tiny(&d, LF_SCOPE_TOKEN, LF_DRAM_REALLOC, rows);
    assert_true(fabs(rows[0].mem_ms - 0.1) < 1e-9);
    assert_true(fabs(rows[1].mem_ms - 0.106) < 1e-9);
    /* scope ffn: the FFN stream only, no resident part */
    price_tiny(&d, LF_SCOPE_FFN, LF_DRAM_PREALLOC, rows);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(rows[i].compute_ms - 16.0 * rowsn[i] * 1e-6) < 1e-12);
}

/* With batch terms probed after two gaps (1 ms: none; 10 ms: 10 ms a batch) each step's
 * batch is priced after the compute before it: the layer's FFN, its DRAM work and, at
 * scope token, the layer's share of the resident part (one layer here: all of it),
 * interpolated in log(gap); at scope ffn the resident part is not in the gap. The
 * device of test_golden_sim_backend with compute at 100 kFLOP/s: tokens of 2.4-3.0 ms,
 * FFN steps of 0.5-0.8 ms. */
static void test_sim_batch_gap(void **st)
{
    (void)st;
    lf_device d = golden_device();
    d.compute_flops = 1e5;
    d.flash_batch_gap_s = 1e-3;
    d.flash_batch2_gap_s = 10e-3;
    d.flash_batch2_s = 10e-3;
    lf_token_row rows[4];
    price_tiny(&d, LF_SCOPE_TOKEN, LF_DRAM_PREALLOC, rows);
    const double io[] = {3.003, 1.001, 2.002, 1.001}; /* the stream's */
    for (int i = 0; i < 4; i++) {
        double gap_ms = rows[i].compute_ms + rows[i].mem_ms;
        assert_true(gap_ms > 2 && gap_ms < 4);
        assert_true(fabs(rows[i].io_ms - (io[i] + 10 * log10(gap_ms))) < 1e-9);
    }
    price_tiny(&d, LF_SCOPE_FFN, LF_DRAM_PREALLOC, rows);
    for (int i = 0; i < 4; i++) {
        assert_true(rows[i].compute_ms + rows[i].mem_ms < 1);
        assert_true(fabs(rows[i].io_ms - io[i]) < 1e-9); /* under 1 ms: the 1 ms condition */
    }
    /* one condition: the gap is not looked at */
    d.flash_batch2_gap_s = d.flash_batch2_s = 0;
    d.flash_batch_s = 1e-3;
    price_tiny(&d, LF_SCOPE_TOKEN, LF_DRAM_PREALLOC, rows);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(rows[i].io_ms - (io[i] + 1)) < 1e-9);
}

/* The executor computes the output head at a token's end, just before the next token's
 * layer 0 reads: the head lies in layer 0's gap alone, the rest of the resident part is
 * shared by the layers, and the gaps of a token's layers sum to its resident compute. */
static void test_head_before_layer0(void **st)
{
    (void)st;
    lf_device d = golden_device();
    lf_model m = model("custom:4,64,256,vocab=1000");
    lf_backend be;
    lf_price sb;
    lf_price_backend(&be, &sb, &d, &m, 2, 1);
    sb.scope = LF_SCOPE_TOKEN;
    lf_times work = {0}, end;
    lf_step step;
    memset(&step, 0, sizeof step);
    step.token = 5;
    double gap[4];
    for (uint32_t l = 0; l < 4; l++) {
        step.layer = l;
        gap[l] = lf_price_batch_gap_s(&sb, &step, &work);
    }
    lf_err err;
    assert_int_equal(be.token_end(&be, 5, &end, &err), LF_OK);
    double head = (double)lf_model_head_bytes(&m, 2);
    double head_s = fmax(head / d.compute_flops, head / sb.dense_bw); /* 2 flops a weight */
    assert_true(head_s > 0);
    assert_true(fabs(gap[0] - gap[1] - head_s) < 1e-12 * end.compute_s);
    assert_true(gap[1] == gap[2] && gap[2] == gap[3]);
    assert_true(fabs(gap[0] + 3 * gap[1] - end.compute_s) < 1e-12 * end.compute_s);
    /* scope ffn: no resident part before any layer */
    sb.scope = LF_SCOPE_FFN;
    step.layer = 0;
    assert_true(lf_price_batch_gap_s(&sb, &step, &work) == 0);
}

/* A policy wrapper that says the page cache serves the first load of every step. */
static int pc_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                   uint32_t n_want, lf_plan *plan, lf_err *err)
{
    int rc = twin_step(p, layer, token, want, n_want, plan, err);
    plan->pagecache = plan->load;
    plan->n_pagecache = plan->n_load ? 1 : 0;
    return rc;
}

/* Window k=2 with the first load of each step from the page cache: flash reads 2,0,1,0
 * (loads 3,1,2,1 less one). On the hand device a page-cache hit costs 1 ms + 1 us per
 * 16 B, like a flash read with one in flight, so I/O stays 3.003, 1.001, 2.002, 1.001. */
static void test_pagecache_loads(void **st)
{
    (void)st;
    lf_trace t;
    tiny_trace(&t);
    lf_model m = model("custom:1,4,8");
    lf_device d;
    memset(&d, 0, sizeof d);
    d.flash_latency_s = d.pagecache_latency_s = 1e-3;
    d.flash_stream_bw = d.pagecache_bw = 16e6;
    d.flash_max_bw = d.flash_max_iops = 1e18;
    d.dram_copy_bw = 16e6;
    d.compute_flops = 1e9;
    d.mem_bw = 1e18;
    lf_backend be;
    lf_price sb;
    lf_price_backend(&be, &sb, &d, &m, 2, 1);
    lf_policy_desc pc_desc = twin_desc;
    pc_desc.step = pc_step;
    lf_policy *pol = twin_new(&pc_desc, 1, 8, 2);
    lf_token_row rows[4];
    replay(&t, &m, pol, LF_LAYOUT_BUNDLED, 16, (lf_reader_cfg){0, 0, 1}, NULL,
           LF_DRAM_PREALLOC, &be, rows);
    lf_policy_free(pol);
    const uint64_t reads[] = {2, 0, 1, 0}, loads[] = {3, 1, 2, 1};
    const double io[] = {3.003, 1.001, 2.002, 1.001};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rows[i].reads, reads[i]);
        assert_int_equal(rows[i].bytes_read, 16 * reads[i]);
        assert_int_equal(rows[i].loads, loads[i]);
        assert_true(fabs(rows[i].io_ms - io[i]) < 1e-9);
    }
    lf_trace_free(&t);
}

static void test_predictor(void **st)
{
    (void)st;
    lf_err err;
    lf_trace t;
    tiny_trace(&t);
    lf_predictor *p;
    const uint32_t *w;
    uint32_t n, fp, fn;
    /* Recorded: need {1,2,5} vs predicted {2,5,6,7}: 2 false positives, 1 false negative. */
    assert_int_equal(lf_predictor_create(&t, 0, 0, 1, 1, &p, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "no recorded predicted sets"));
    uint64_t *ip = calloc(5, sizeof *ip);
    uint32_t *ix = malloc(4 * sizeof *ix);
    const uint32_t pred[] = {2, 5, 6, 7};
    memcpy(ix, pred, sizeof pred);
    ip[1] = ip[2] = ip[3] = ip[4] = 4; /* token 0 has the 4 predictions, others none */
    assert_int_equal(lf_trace_set_pred(&t, 0, ip, ix, 4, &err), LF_OK);
    assert_int_equal(lf_predictor_create(&t, 0, 0, 1, 1, &p, &err), LF_OK);
    assert_int_equal(lf_predictor_predict(p, 0, 0, &w, &n, &fp, &fn, &err), LF_OK);
    assert_int_equal(n, 4);
    assert_int_equal(fp, 2);
    assert_int_equal(fn, 1);
    assert_int_equal(lf_predictor_max_want(p), 4); /* the recorded sets' largest */
    assert_int_equal(lf_predictor_predict(p, 0, 1, &w, &n, &fp, &fn, &err), LF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(fn, 2);
    lf_predictor_free(p);
    /* fn = 1: everything needed dropped. */
    assert_int_equal(lf_predictor_create(&t, 1.0, 0, 0, 1, &p, &err), LF_OK);
    assert_int_equal(lf_predictor_max_want(p), 3); /* no guesses: the largest needed set */
    assert_int_equal(lf_predictor_predict(p, 0, 0, &w, &n, &fp, &fn, &err), LF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(fn, 3);
    lf_predictor_free(p);
    /* fp = 1: as many extras as needed units, capped by the 5 free units: token 0 needs
     * 3 (3 extras), token 2 needs {5,6,7}: 3 extras from the 5 others. Sorted, unique. */
    assert_int_equal(lf_predictor_create(&t, 0, 1.0, 0, 3, &p, &err), LF_OK);
    assert_int_equal(lf_predictor_predict(p, 0, 2, &w, &n, &fp, &fn, &err), LF_OK);
    assert_int_equal(n, 6);
    assert_int_equal(fp, 3);
    assert_int_equal(fn, 0);
    assert_int_equal(lf_predictor_max_want(p), 6); /* bound: 3 needed + 3 guessed */
    assert_true(n <= lf_predictor_max_want(p));
    for (uint32_t i = 1; i < n; i++)
        assert_true(w[i] > w[i - 1]);
    lf_predictor_free(p);
    assert_int_equal(lf_predictor_create(&t, 1.5, 0, 0, 1, &p, &err), LF_EINVAL);
    lf_trace_free(&t);

    /* Many tokens: the observed rates are near the asked ones. */
    lf_model m = model("custom:2,64,2000");
    lf_synth_params sp;
    lf_synth_defaults(&sp);
    lf_trace big;
    assert_int_equal(lf_synth_generate(&m, 200, &sp, &big, &err), LF_OK);
    assert_int_equal(lf_predictor_create(&big, 0.1, 0.2, 0, 9, &p, &err), LF_OK);
    uint64_t need = 0, sfp = 0, sfn = 0;
    for (uint32_t tok = 0; tok < 200; tok++) {
        uint32_t nn;
        const uint32_t *nd = lf_trace_ids(&big, 1, tok, &nn);
        assert_int_equal(lf_predictor_predict(p, 1, tok, &w, &n, &fp, &fn, &err), LF_OK);
        assert_int_equal(n, nn - fn + fp);
        /* every extra is outside the needed set */
        uint32_t j = 0, common = 0;
        for (uint32_t i = 0; i < n; i++) {
            while (j < nn && nd[j] < w[i])
                j++;
            common += j < nn && nd[j] == w[i];
        }
        assert_int_equal(common, nn - fn);
        need += nn;
        sfp += fp;
        sfn += fn;
    }
    assert_true(fabs((double)sfn / need - 0.1) < 0.01);
    assert_true(fabs((double)sfp / need - 0.2) < 0.01);
    lf_predictor_free(p);
    lf_trace_free(&big);
}

/* ---- invariants on a synthetic trace ---- */
typedef struct {
    uint64_t bytes, reads, loads, copies;
} totals;

static totals sum_rows(const lf_token_row *r, uint32_t n)
{
    totals s = {0, 0, 0, 0};
    for (uint32_t i = 0; i < n; i++) {
        s.bytes += r[i].bytes_read;
        s.reads += r[i].reads;
        s.loads += r[i].loads;
        s.copies += r[i].bytes_copied;
    }
    return s;
}

#define NTOK 120
static lf_trace syn;
static lf_model syn_m;

static int syn_setup(void **st)
{
    (void)st;
    lf_err err;
    syn_m = model("custom:4,64,512");
    lf_synth_params sp;
    lf_synth_defaults(&sp);
    sp.seed = 5;
    return lf_synth_generate(&syn_m, NTOK, &sp, &syn, &err);
}

static int syn_teardown(void **st)
{
    (void)st;
    lf_trace_free(&syn);
    return 0;
}

static totals run_syn(uint32_t k, lf_layout_kind kind, uint32_t align, lf_reader_cfg rd,
                      lf_predictor *pred, lf_dram_strategy dram, lf_token_row *rows)
{
    lf_policy *pol = twin_new(&twin_desc, syn_m.n_layers, 512, k);
    rec_state rs = {0, 0, 0};
    lf_backend be = {&rs, rec_layer, NULL, 0, 0};
    replay(&syn, &syn_m, pol, kind, align, rd, pred, dram, &be, rows);
    lf_policy_free(pol);
    assert_int_equal(rs.bad, 0);
    return sum_rows(rows, NTOK);
}

/* Replays t (model m) with policy `name` (capacity 300, seed 3) and a predictor
 * (0: none, 1: the error model, fn 0.1 and fp 0.2, seed 7; 2: the recorded sets) on the
 * bundled layout, priced by the simulator's backend for the m1max device, into rows;
 * returns lf_replay's code (err says why). */
static int priced_replay(const lf_trace *t, const lf_model *m, const char *name, int predictor,
                         lf_dram_strategy dram, int token_major, lf_token_row *rows, lf_err *err)
{
    lf_device d;
    assert_int_equal(lf_device_load("costmodel/devices/m1max.conf", &d, err), LF_OK);
    lf_backend be;
    lf_price sb;
    lf_price_backend(&be, &sb, &d, m, 2, 8);
    assert_true(be.any_order);
    lf_policy_ctx ctx = {.n_layers = m->n_layers, .units = lf_model_units(m), .capacity = 300,
                         .trace = t, .seed = 3};
    lf_policy *pol;
    assert_int_equal(lf_policy_create(name, &ctx, &pol, err), LF_OK);
    lf_predictor *pred = NULL;
    int rec = predictor == 2;
    if (predictor)
        assert_int_equal(lf_predictor_create(t, rec ? 0 : 0.1, rec ? 0 : 0.2, rec, 7, &pred, err),
                         LF_OK);
    lf_layout l;
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, m, 2, 4096, 0, err), LF_OK);
    lf_replay_cfg cfg = {.trace = t, .model = m, .dtype_bytes = 2, .policy = pol, .layout = &l,
                         .reader = {0, 1 << 20, 8}, .predictor = pred, .dram = dram,
                         .quiet = 1, .token_major = token_major};
    int rc = lf_replay(&cfg, &be, rows, err);
    lf_layout_free(&l);
    lf_predictor_free(pred);
    lf_policy_free(pol);
    return rc;
}

/* priced_replay (prealloc), or the policy's refusal to be created (its code, err). */
static int priced_replay_or_refused(const lf_trace *t, const lf_model *m, const char *name,
                                    int predictor, int token_major, lf_token_row *rows,
                                    lf_err *err)
{
    lf_policy_ctx ctx = {.n_layers = m->n_layers, .units = lf_model_units(m), .capacity = 300,
                         .trace = t, .seed = 3};
    lf_policy *pol;
    int rc = lf_policy_create(name, &ctx, &pol, err);
    if (rc)
        return rc;
    lf_policy_free(pol);
    return priced_replay(t, m, name, predictor, LF_DRAM_PREALLOC, token_major, rows, err);
}

/* Layer by layer over blocks of tokens gives the rows token by token gives, bit for bit,
 * for every policy that says its layers are independent: 2500 tokens (three blocks of
 * LF_REPLAY_BLOCK = 1024, the last one partial), the error-model predictor (seeded per layer and token), both DRAM
 * strategies, priced by the simulator's backend. A policy whose layers shared state
 * would make the two orders differ. */
static void test_replay_orders(void **st)
{
    (void)st;
    lf_err err;
    const uint32_t n_tok = 2500;
    lf_model m = model("custom:4,64,512");
    lf_trace t;
    synth(&m, n_tok, 9, &t);
    lf_token_row *a = calloc(n_tok, sizeof *a), *b = calloc(n_tok, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    size_t n_desc, tried = 0;
    const lf_policy_desc *const *reg = lf_policy_registry(&n_desc);
    for (size_t i = 0; i < n_desc; i++) {
        if (!reg[i]->layers_independent)
            continue;
        for (int dram = 0; dram < 2; dram++) {
            lf_token_row *rows[2] = {a, b};
            for (int order = 0; order < 2; order++) {
                int rc = priced_replay(&t, &m, reg[i]->name, 1, (lf_dram_strategy)dram, order,
                                       rows[order], &err);
                if (rc)
                    fprintf(stderr, "%s: %s\n", reg[i]->name, err.msg);
                assert_int_equal(rc, LF_OK);
            }
            if (memcmp(a, b, n_tok * sizeof *a) != 0)
                fail_msg("policy %s (dram %d): the two replay orders differ", reg[i]->name, dram);
            tried++;
        }
    }
    assert_true(tried >= 2 * 8); /* lru, window, lfu, fwlru, hot, belady, sparse, naive, ... */
    free(a);
    free(b);
    lf_trace_free(&t);
}

/* A trace read with narrow_ids (its ids held 16-bit) replays as the same trace held
 * 32-bit: for every policy (and belady looking ahead on the predicted sets), with no
 * predictor, the error-model one and the recorded sets, the rows are bit for bit the
 * same; written back, it is the same file's trace; a bad id is still named; appending
 * widens it. */
static void test_narrow_ids(void **st)
{
    (void)st;
    lf_err err;
    const uint32_t n_tok = 150;
    lf_model m = model("custom:3,64,512");
    lf_trace t;
    synth_with_pred(&m, n_tok, 21, &t); /* another trace's sets as the predictions */
    const char *path = lf_test_path("narrow.h5");
    assert_int_equal(lf_trace_write(&t, path, &err), LF_OK);
    lf_trace wide, narrow;
    lf_trace_read_opts ro = {.narrow_ids = 1};
    assert_int_equal(lf_trace_read(path, &wide, &err), LF_OK);
    assert_int_equal(lf_trace_read_ex(path, &ro, &narrow, &err), LF_OK);
    for (uint32_t l = 0; l < m.n_layers; l++) {
        assert_non_null(wide.layers[l].index);
        assert_null(wide.layers[l].index16);
        assert_null(narrow.layers[l].index);
        assert_non_null(narrow.layers[l].index16);
        assert_non_null(narrow.layers[l].pred_index16);
    }
    lf_token_row *a = calloc(n_tok, sizeof *a), *b = calloc(n_tok, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    size_t n_desc, tried = 0;
    const lf_policy_desc *const *reg = lf_policy_registry(&n_desc);
    for (size_t i = 0; i <= n_desc; i++) {
        const char *name = i < n_desc ? reg[i]->name : "belady:future=pred";
        for (int predictor = 0; predictor < 3; predictor++) {
            int rcs[2] = {priced_replay(&wide, &m, name, predictor, LF_DRAM_PREALLOC, 0, a, &err),
                          priced_replay(&narrow, &m, name, predictor, LF_DRAM_PREALLOC, 0, b,
                                        &err)};
            assert_int_equal(rcs[0], rcs[1]); /* e.g. a policy that refuses predictions */
            if (rcs[0] == LF_OK && memcmp(a, b, n_tok * sizeof *a) != 0)
                fail_msg("policy %s (predictor %d): 16-bit ids replay differently", name,
                         predictor);
            tried += rcs[0] == LF_OK;
        }
    }
    assert_true(tried >= 2 * 8);
    /* written back from 16-bit ids: the same trace */
    const char *again = lf_test_path("narrow-again.h5");
    assert_int_equal(lf_trace_write(&narrow, again, &err), LF_OK);
    lf_trace back;
    assert_int_equal(lf_trace_read(again, &back, &err), LF_OK);
    for (uint32_t l = 0; l < m.n_layers; l++) {
        assert_int_equal(back.layers[l].nnz, t.layers[l].nnz);
        assert_memory_equal(back.layers[l].index, t.layers[l].index, t.layers[l].nnz * 4);
        assert_memory_equal(back.layers[l].pred_index, t.layers[l].pred_index,
                            t.layers[l].pred_nnz * 4);
    }
    lf_trace_free(&back);
    /* a bad 16-bit id is named */
    uint16_t keep = narrow.layers[1].index16[0];
    narrow.layers[1].index16[0] = 999;
    assert_int_equal(lf_trace_check(&narrow, "x", &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "layer 1 token 0: id 999 >= units_per_layer 512"));
    narrow.layers[1].index16[0] = keep;
    /* appending: refused while the trace has predicted sets (they would not cover the
     * new token); then it widens the layers it touches, the rest stay as read */
    const uint32_t more[] = {1, 7, 300};
    assert_int_equal(lf_trace_append_layer(&narrow, 0, more, 3, NULL, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "has predicted sets"));
    for (uint32_t l = 0; l < m.n_layers; l++)
        assert_int_equal(lf_trace_set_pred(&narrow, l, NULL, NULL, 0, &err), LF_OK);
    assert_int_equal(lf_trace_append_layer(&narrow, 0, more, 3, NULL, &err), LF_OK);
    assert_int_equal(lf_trace_end_token(&narrow, -1, &err), LF_OK);
    assert_null(narrow.layers[0].index16);
    assert_non_null(narrow.layers[1].index16);
    assert_int_equal(lf_trace_check(&narrow, "x", &err), LF_OK);
    uint32_t n, buf[512];
    const uint32_t *ids = lf_trace_ids_to(&narrow, 0, n_tok, 0, buf, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(ids, more, sizeof more);
    ids = lf_trace_ids_to(&narrow, 1, 5, 0, buf, &n);
    uint32_t nw;
    const uint32_t *w = lf_trace_ids(&wide, 1, 5, &nw);
    assert_int_equal(n, nw);
    assert_memory_equal(ids, w, (size_t)n * 4);
    free(a);
    free(b);
    lf_trace_free(&t);
    lf_trace_free(&wide);
    lf_trace_free(&narrow);
}

/* A trace read with defer_ids (its needed ids left in the file, staged a layer's block
 * at a time) replays as the trace held in memory: for every policy (and belady looking
 * ahead on the predicted sets), each predictor, layer by layer and token by token, the
 * rows are bit for bit the same, or the policy refuses it because it reads the whole
 * trace (belady, hot) with a message that says so. The replays hold a few tokens of one
 * layer's ids at a time, not the trace's. */
static void test_deferred_ids(void **st)
{
    (void)st;
    lf_err err;
    const uint32_t n_tok = 1100; /* two blocks of LF_REPLAY_BLOCK, the second partial */
    lf_model m = model("custom:3,64,512");
    lf_trace t;
    synth_with_pred(&m, n_tok, 31, &t);
    const char *path = lf_test_path("deferred.h5");
    assert_int_equal(lf_trace_write(&t, path, &err), LF_OK);
    lf_trace narrow, deferred;
    lf_trace_read_opts ro = {.narrow_ids = 1}, rd = {.narrow_ids = 1, .defer_ids = 1};
    assert_int_equal(lf_trace_read_ex(path, &ro, &narrow, &err), LF_OK);
    assert_int_equal(lf_trace_read_ex(path, &rd, &deferred, &err), LF_OK);
    assert_null(narrow.deferred);
    assert_non_null(deferred.deferred);
    for (uint32_t l = 0; l < m.n_layers; l++) {
        assert_null(deferred.layers[l].index);
        assert_null(deferred.layers[l].index16);
        assert_int_equal(deferred.layers[l].nnz, t.layers[l].nnz);
        assert_non_null(deferred.layers[l].pred_index16); /* predictions stay in memory */
    }
    lf_token_row *a = calloc(n_tok, sizeof *a), *b = calloc(n_tok, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    size_t n_desc, same = 0, refused = 0;
    const lf_policy_desc *const *reg = lf_policy_registry(&n_desc);
    for (size_t i = 0; i <= n_desc; i++) {
        const char *name = i < n_desc ? reg[i]->name : "belady:future=pred";
        int reads = lf_policy_find(name)->reads_trace;
        for (int predictor = 0; predictor < 3; predictor++)
            for (int order = 0; order < 2; order++) {
                int ra = priced_replay(&narrow, &m, name, predictor, LF_DRAM_PREALLOC, order, a,
                                       &err);
                int rb = priced_replay_or_refused(&deferred, &m, name, predictor, order, b, &err);
                if (reads) {
                    assert_int_equal(rb, LF_EINVAL);
                    assert_non_null(strstr(err.msg, "reads the whole trace"));
                    refused++;
                    continue;
                }
                assert_int_equal(ra, rb);
                if (ra == LF_OK && memcmp(a, b, n_tok * sizeof *a) != 0)
                    fail_msg("policy %s (predictor %d, order %d): deferred ids replay "
                             "differently", name, predictor, order);
                same += ra == LF_OK;
            }
    }
    print_message("deferred ids: %zu replays the same, %zu refused\n", same, refused);
    assert_true(same >= 2 * 3 * 7 && refused >= 3 * 6);
    /* the replays held a few tokens of one layer's ids at a time, not the trace's */
    assert_true(deferred.deferred->stage_cap > 0);
    assert_true(deferred.deferred->stage_cap * 4 < t.layers[0].nnz);
    free(a);
    free(b);
    lf_trace_free(&t);
    lf_trace_free(&narrow);
    lf_trace_free(&deferred);
}

/* An expert trace's compute: the profile's measured kernel at the experts' bits when it
 * has one (as the executor's prediction prices them), else the roofline; experts stored
 * quantised (--expert-bits). */
/* A shared expert runs the expert kernel, so with a measured fp16 kernel its weights
 * leave the resident part's dense roofline and cost weights / expert_wps_16: the token's
 * compute changes by exactly that difference, and a model without shared experts does
 * not change at all. */
static void test_shared_expert_priced_by_its_kernel(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("qwen1.5-moe-a2.7b");
    assert_true(m.shared_ff > 0);
    lf_device d = lf_test_toy_device();
    d.mem_bw = d.dense_bw = 10e9; /* the resident part bandwidth-bound on both sides */
    d.compute_flops = 1e15;
    lf_price plain, kernel;
    lf_backend b;
    lf_times a, k;
    lf_price_backend(&b, &plain, &d, &m, 2, 4);
    assert_true(plain.shared_wps == 0);
    assert_int_equal(b.token_end(&b, 3, &a, &err), LF_OK);
    d.expert_wps_16 = 2e9;
    lf_price_backend(&b, &kernel, &d, &m, 2, 4);
    assert_true(kernel.shared_wps == 2e9);
    assert_int_equal(b.token_end(&b, 3, &k, &err), LF_OK);
    double weights = (double)lf_model_shared_bytes(&m, 2) / 2;
    double want = a.compute_s - 2 * weights / 10e9 + weights / 2e9;
    assert_float_equal(k.compute_s, want, want * 1e-9);
    /* OLMoE has no shared expert: the kernel changes nothing */
    lf_model o = model("olmoe-1b-7b");
    assert_true(o.shared_ff == 0);
    lf_price_backend(&b, &kernel, &d, &o, 2, 4);
    assert_int_equal(b.token_end(&b, 3, &k, &err), LF_OK);
    d.expert_wps_16 = 0;
    lf_price_backend(&b, &plain, &d, &o, 2, 4);
    assert_int_equal(b.token_end(&b, 3, &a, &err), LF_OK);
    assert_true(k.compute_s == a.compute_s);
}

/* The resident part's dense products at the profile's rate for rows of d_model columns
 * (dense_bw_<columns>): a bandwidth-bound token end of d_model 8192 at half dense_bw
 * takes twice the time; one of d_model 2048, measured at dense_bw, does not move. */
static void test_resident_priced_by_columns(void **st)
{
    (void)st;
    lf_err err;
    lf_device d = lf_test_toy_device();
    d.dense_bw = 10e9;
    d.compute_flops = 1e15;
    const char *models[] = {"custom:2,8192,64", "custom:2,2048,64"};
    for (int i = 0; i < 2; i++) {
        lf_model m = model(models[i]);
        lf_price p;
        lf_backend b;
        lf_times a, k;
        d.dense_bw_cols[1] = d.dense_bw_cols[5] = 0;
        lf_price_backend(&b, &p, &d, &m, 2, 4);
        assert_int_equal(b.token_end(&b, 3, &a, &err), LF_OK);
        d.dense_bw_cols[1] = d.dense_bw;     /* 2048 columns */
        d.dense_bw_cols[5] = d.dense_bw / 2; /* 8192 columns */
        lf_price_backend(&b, &p, &d, &m, 2, 4);
        assert_int_equal(b.token_end(&b, 3, &k, &err), LF_OK);
        assert_true(a.compute_s > 0);
        double want = i == 0 ? 2 * a.compute_s : a.compute_s;
        assert_float_equal(k.compute_s, want, want * 1e-9);
    }
}

/* O's rows are q_dim wide: Qwen3.5-397B's 32 heads of 256 make 8192 against its
 * d_model 4096, and its O projection is priced at the 8192-column rate. With that rate
 * halved (the rest measured at dense_bw), a bandwidth-bound token end grows by exactly
 * the O weights' time once more; with the two rates equal it does not move. */
static void test_o_projection_priced_by_its_columns(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("qwen3.5-397b-a17b");
    assert_int_equal(lf_model_q_dim(&m), 8192);
    assert_int_equal(m.d_model, 4096);
    lf_device d = lf_test_toy_device();
    d.dense_bw = 10e9;
    d.compute_flops = 1e15;
    lf_price p;
    lf_backend b;
    lf_times same, slow_o;
    d.dense_bw_cols[3] = d.dense_bw_cols[5] = d.dense_bw; /* 4096 and 8192 columns */
    lf_price_backend(&b, &p, &d, &m, 2, 4);
    assert_true(p.dense_bw_o == p.dense_bw);
    assert_int_equal(b.token_end(&b, 3, &same, &err), LF_OK);
    d.dense_bw_cols[5] = d.dense_bw / 2;
    lf_price_backend(&b, &p, &d, &m, 2, 4);
    assert_int_equal(b.token_end(&b, 3, &slow_o, &err), LF_OK);
    double o_bytes = (double)m.n_layers * 4096 * 8192 * 2;
    double want = same.compute_s + o_bytes / 10e9;
    assert_float_equal(slow_o.compute_s, want, want * 1e-9);
}

/* sim's defaults with policy lru at scope ffn (the FFN or the experts alone), quiet. */
static void lru_ffn_config(lf_run_config *c)
{
    lf_run_config_defaults(c);
    c->policy = "lru";
    c->scope = LF_SCOPE_FFN;
    c->quiet = 1;
}

/* A DRAM row with bytes after its unit's vectors (padding to the alignment, a split
 * vector's padded record, a coact friend) is gapped, a row the vectors fill is not;
 * rows given larger than the layout's (the executor's whole pages) are gapped too. */
static void test_dram_rows_gapped(void **st)
{
    (void)st;
    lf_err err;
    static const struct {
        const char *model;
        lf_layout_kind kind;
        int gapped;
    } cases[] = {
        {"custom:2,2048,64", LF_LAYOUT_BUNDLED, 0}, /* 2 x 4096 B: two pages exactly */
        {"custom:2,2048,64", LF_LAYOUT_SPLIT, 0},   /* one page per vector */
        {"custom:2,2048,64", LF_LAYOUT_COACT, 0},   /* the unit alone: 8192 B */
        {"custom:2,4544,64", LF_LAYOUT_BUNDLED, 1}, /* 18176 B padded to 20480 */
        {"custom:2,4544,64", LF_LAYOUT_SPLIT, 1},   /* 9088 B padded to 12288, twice */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lf_model m = model(cases[i].model);
        lf_layout l;
        assert_int_equal(lf_layout_init(&l, cases[i].kind, &m, 2, 4096, 0, &err), LF_OK);
        assert_int_equal(lf_replay_dram_row_gapped(&l, 0), cases[i].gapped);
        if (!cases[i].gapped)
            assert_int_equal(lf_replay_dram_row_gapped(&l, lf_replay_dram_row_bytes(&l) + 4096), 1);
        lf_layout_free(&l);
    }
}

/* The gap's price: every row the FFN computes costs ffn_row_gap_s more when the layout's
 * rows are padded, and nothing more when they are packed; io and memory do not move. */
static void test_gapped_rows_priced(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("custom:2,4544,18176"); /* 18176-byte units padded to 20480 */
    lf_trace t;
    synth(&m, 6, 3, &t);
    lf_device d = lf_test_toy_device();
    lf_run_config c;
    lru_ffn_config(&c);
    lf_run_result plain, gap;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &plain, &err), LF_OK);
    d.ffn_row_gap_s = 1e-3;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &gap, &err), LF_OK);
    for (uint32_t i = 0; i < gap.n_rows; i++) {
        /* the prealloc manager computes over every resident row */
        double want = plain.rows[i].compute_ms + (double)gap.rows[i].resident_units;
        assert_true(gap.rows[i].resident_units > 0);
        assert_float_equal(gap.rows[i].compute_ms, want, want * 1e-9);
        assert_true(gap.rows[i].io_ms == plain.rows[i].io_ms);
        assert_true(gap.rows[i].mem_ms == plain.rows[i].mem_ms);
    }
    lf_run_result_free(&gap);
    /* packed rows (alignment 1: the records abut) pay nothing */
    c.alignment = 1;
    lf_run_result packed;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &packed, &err), LF_OK);
    d.ffn_row_gap_s = 0;
    lf_run_result packed0;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &packed0, &err), LF_OK);
    for (uint32_t i = 0; i < packed.n_rows; i++)
        assert_true(packed.rows[i].compute_ms == packed0.rows[i].compute_ms);
    lf_run_result_free(&packed);
    lf_run_result_free(&packed0);
    lf_run_result_free(&plain);
    lf_trace_free(&t);
}

/* The FFN is priced at the profile's kernel rate for the model's shape (ffn_bw_*): a
 * bandwidth-bound ReLU layer of d_model 2048 at twice mem_bw's rate computes in half the
 * time; a rate for the other activation leaves it at mem_bw. */
static void test_ffn_priced_by_shape(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("custom:2,2048,8192"); /* 8192-byte rows: packed at 4096 */
    lf_trace t;
    synth(&m, 6, 3, &t);
    lf_device d = lf_test_toy_device();
    d.compute_flops = 1e15; /* the rows' bytes bound the kernel */
    lf_run_config c;
    lru_ffn_config(&c);
    lf_run_result plain, other, shaped;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &plain, &err), LF_OK);
    d.ffn_bw_swiglu[1] = 4 * d.mem_bw;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &other, &err), LF_OK);
    d.ffn_bw_relu[1] = 2 * d.mem_bw;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &shaped, &err), LF_OK);
    for (uint32_t i = 0; i < plain.n_rows; i++) {
        assert_true(plain.rows[i].compute_ms > 0);
        assert_true(other.rows[i].compute_ms == plain.rows[i].compute_ms);
        assert_float_equal(shaped.rows[i].compute_ms, plain.rows[i].compute_ms / 2,
                           plain.rows[i].compute_ms * 1e-9);
        assert_true(shaped.rows[i].io_ms == plain.rows[i].io_ms);
        assert_true(shaped.rows[i].mem_ms == plain.rows[i].mem_ms);
    }
    lf_run_result_free(&plain);
    lf_run_result_free(&other);
    lf_run_result_free(&shaped);
    lf_trace_free(&t);
}

static void test_experts_priced_by_measured_kernel(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("olmoe-1b-7b");
    lf_trace t;
    synth(&m, 6, 5, &t);
    lf_device d = lf_test_toy_device();
    lf_run_config c;
    lru_ffn_config(&c); /* the experts alone: no resident part */
    lf_run_result roof, kernel;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &roof, &err), LF_OK);
    d.expert_wps_16 = 2e9;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &kernel, &err), LF_OK);
    /* per token: layers x top-k experts x 3 vectors x d_model x d_ff weights / 2e9 */
    double want = (double)m.n_layers * m.top_k * 3.0 * m.d_model * m.d_ff / 2e9 * 1e3;
    for (uint32_t i = 0; i < kernel.n_rows; i++) {
        assert_float_equal(kernel.rows[i].compute_ms, want, want * 1e-9);
        assert_true(fabs(roof.rows[i].compute_ms - want) > want * 0.01);
        assert_true(kernel.rows[i].io_ms == roof.rows[i].io_ms); /* only compute moved */
    }
    d.expert_wps_16 = 0;
    d.expert_wps_8 = 2e9; /* another width's kernel: not the fp16 experts' */
    lf_run_result other;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &other, &err), LF_OK);
    assert_true(other.rows[0].compute_ms == roof.rows[0].compute_ms);
    lf_run_result_free(&other);
    /* experts stored at 4 bits (--expert-bits): records of the quantised size, the budget
     * a fraction of the smaller model, compute from the 4-bit kernel */
    d.expert_wps_4 = 4e9;
    c.expert_bits = 4;
    lf_run_result q4;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &q4, &err), LF_OK);
    uint64_t rec = 3 * lf_model_weights_bytes((uint64_t)m.d_model * m.d_ff, 4);
    assert_int_equal(q4.unit_bytes, rec);
    assert_int_equal(q4.layout.record_bytes, (rec + 4095) / 4096 * 4096);
    assert_int_equal(q4.budget.row_bytes, rec);
    assert_true(q4.budget.model_bytes < roof.budget.model_bytes);
    assert_string_equal(lf_kv_get(&q4.config, "expert_bits"), "4");
    assert_null(lf_kv_get(&roof.config, "expert_bits"));
    for (uint32_t i = 0; i < q4.n_rows; i++) {
        assert_float_equal(q4.rows[i].compute_ms, want / 2, want * 1e-9);
        assert_int_equal(q4.rows[i].bytes_read, q4.rows[i].loads * q4.layout.record_bytes);
    }
    c.expert_bits = 3;
    assert_int_equal(lf_run(&c, &t, NULL, &d, &other, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "--expert-bits 3: expected 16, 8, 4 or 2"));
    lf_model dense = model("custom:2,64,256");
    lf_trace td;
    synth(&dense, 3, 5, &td);
    c.expert_bits = 4;
    assert_int_equal(lf_run(&c, &td, NULL, &d, &other, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "--expert-bits is for expert traces"));
    lf_trace_free(&td);
    lf_run_result_free(&roof);
    lf_run_result_free(&kernel);
    lf_run_result_free(&q4);
    lf_trace_free(&t);
}

/* A run whose decisions are already in the plans cache (same trace, policy, capacity,
 * predictor, seed, tokens) replays them without the policy and gives the rows a fresh
 * run gives, for every policy, priced another way (layout, reads in flight, DRAM
 * strategy); a run whose decisions differ (another capacity) records anew. */
static void test_plans_cache(void **st)
{
    (void)st;
    lf_err err;
    lf_model m = model("custom:4,64,512");
    lf_trace t;
    synth(&m, 150, 11, &t);
    lf_device d;
    assert_int_equal(lf_device_load("costmodel/devices/m1max.conf", &d, &err), LF_OK);
    d.pagecache_bw = 30e9; /* m1max leaves the page cache out; pagecache needs the tier */
    d.pagecache_latency_s = 5e-6;
    size_t n_desc;
    const lf_policy_desc *const *reg = lf_policy_registry(&n_desc);
    for (size_t i = 0; i < n_desc; i++) {
        const char *name = reg[i]->name;
        if (!strcmp(name, "naive") || !strcmp(name, "hybrid"))
            continue; /* baselines: their decisions are the whole FFN, nothing to keep */
        lf_plans_cache cache;
        memset(&cache, 0, sizeof cache);
        lf_run_config a;
        lf_run_config_defaults(&a);
        a.policy = name;
        a.dram_fraction = 0.7;
        a.predictor_rank = 0;
        a.fn_rate = 0.05;
        a.fp_rate = 0.1;
        a.quiet = 1;
        a.plans_cache = &cache;
        lf_run_config b = a;
        b.layout = LF_LAYOUT_SPLIT;
        b.threads = 4;
        b.dram = LF_DRAM_REALLOC;
        lf_run_config fresh = b;
        fresh.plans_cache = NULL;
        lf_run_result ra, rb, rf;
        int rc = lf_run(&a, &t, NULL, &d, &ra, &err);
        if (rc)
            fail_msg("%s: %s", name, err.msg);
        const lf_plans *kept = cache.plans;
        assert_non_null(kept);
        assert_int_equal(lf_run(&b, &t, NULL, &d, &rb, &err), LF_OK);
        assert_ptr_equal(cache.plans, kept); /* played, not recorded again */
        assert_int_equal(lf_run(&fresh, &t, NULL, &d, &rf, &err), LF_OK);
        assert_int_equal(rb.n_rows, rf.n_rows);
        if (memcmp(rb.rows, rf.rows, rf.n_rows * sizeof *rf.rows) != 0)
            fail_msg("%s: the played decisions price differently from a fresh run", name);
        assert_int_equal(rb.counts.n, rf.counts.n);
        for (size_t k = 0; k < rf.counts.n; k++)
            assert_int_equal(rb.counts.values[k], rf.counts.values[k]);
        /* another capacity: other decisions, recorded anew */
        lf_run_config c2 = a;
        c2.dram_fraction = 0.9;
        lf_run_result rc2;
        assert_int_equal(lf_run(&c2, &t, NULL, &d, &rc2, &err), LF_OK);
        assert_true(cache.plans != kept);
        lf_run_result_free(&ra);
        lf_run_result_free(&rb);
        lf_run_result_free(&rf);
        lf_run_result_free(&rc2);
        lf_plans_cache_clear(&cache);
    }
    /* plans that outgrow their room stay incomplete and the run is not disturbed */
    lf_plans *small;
    assert_int_equal(lf_plans_new(m.n_layers, t.n_tokens, 0, 4096, &small, &err), LF_OK);
    lf_policy_ctx ctx = {.n_layers = 4, .units = 512, .capacity = 300, .trace = &t, .seed = 1};
    lf_policy *pol;
    assert_int_equal(lf_policy_create("sparse", &ctx, &pol, &err), LF_OK);
    lf_layout l;
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &m, 2, 4096, 0, &err), LF_OK);
    lf_backend be;
    lf_price sb;
    lf_price_backend(&be, &sb, &d, &m, 2, 8);
    lf_token_row *rows = calloc(t.n_tokens, sizeof *rows);
    assert_non_null(rows);
    lf_replay_cfg cfg = {.trace = &t, .model = &m, .dtype_bytes = 2, .policy = pol,
                         .layout = &l, .reader = {0, 1 << 20, 8}, .quiet = 1, .record = small};
    assert_int_equal(lf_replay(&cfg, &be, rows, &err), LF_OK);
    assert_false(lf_plans_complete(small));
    lf_policy_free(pol);
    assert_int_equal(lf_policy_create("sparse", &ctx, &pol, &err), LF_OK);
    lf_token_row *plain = calloc(t.n_tokens, sizeof *plain);
    assert_non_null(plain);
    cfg.policy = pol;
    cfg.record = NULL;
    assert_int_equal(lf_replay(&cfg, &be, plain, &err), LF_OK);
    assert_memory_equal(rows, plain, t.n_tokens * sizeof *rows);
    free(plain);
    free(rows);
    lf_layout_free(&l);
    lf_policy_free(pol);
    lf_plans_free(small);
    lf_trace_free(&t);
}

static void test_invariants(void **st)
{
    (void)st;
    lf_err err;
    lf_token_row *a = calloc(NTOK, sizeof *a), *b = calloc(NTOK, sizeof *b);
    lf_reader_cfg none = {0, 0, 32}, adj = {0, 1 << 20, 32};
    /* bundled issues half the reads of split for the same loads (ReLU: 2 vectors). */
    totals sp = run_syn(4, LF_LAYOUT_SPLIT, 1, none, NULL, LF_DRAM_PREALLOC, a);
    totals bu = run_syn(4, LF_LAYOUT_BUNDLED, 1, none, NULL, LF_DRAM_PREALLOC, b);
    assert_true(sp.loads > 0);
    assert_int_equal(sp.loads, bu.loads);
    assert_int_equal(sp.reads, 2 * bu.reads);
    assert_int_equal(sp.bytes, bu.bytes); /* no padding at alignment 1 */
    for (int i = 0; i < NTOK; i++)
        assert_int_equal(a[i].reads, 2 * b[i].reads);
    /* naive: every token reads exactly the FFN (alignment 1: no padding) ... */
    run_syn(0, LF_LAYOUT_BUNDLED, 1, adj, NULL, LF_DRAM_PREALLOC, a);
    for (int i = 0; i < NTOK; i++)
        assert_int_equal(a[i].bytes_read, lf_model_ffn_bytes(&syn_m, 2));
    /* ... and with 4 KiB records each 256-byte neuron is padded to 4096 bytes. */
    run_syn(0, LF_LAYOUT_BUNDLED, 4096, adj, NULL, LF_DRAM_PREALLOC, a);
    assert_int_equal(a[3].bytes_read, 4ull * 512 * 4096);
    /* A false-positive rate raises bytes; a false-negative rate lowers them when nothing
     * is kept between tokens. (With a window a dropped unit also leaves the window, so a
     * false negative can raise the next token's loads: not an invariant there.) */
    totals base = run_syn(FRESH, LF_LAYOUT_BUNDLED, 1, none, NULL, LF_DRAM_PREALLOC, a);
    lf_predictor *p;
    assert_int_equal(lf_predictor_create(&syn, 0, 0.2, 0, 3, &p, &err), LF_OK);
    totals fp = run_syn(FRESH, LF_LAYOUT_BUNDLED, 1, none, p, LF_DRAM_PREALLOC, a);
    lf_predictor_free(p);
    assert_int_equal(lf_predictor_create(&syn, 0.2, 0, 0, 3, &p, &err), LF_OK);
    totals fn = run_syn(FRESH, LF_LAYOUT_BUNDLED, 1, none, p, LF_DRAM_PREALLOC, a);
    lf_predictor_free(p);
    assert_true(fp.bytes > base.bytes);
    assert_true(fn.bytes < base.bytes);
    totals w1 = run_syn(1, LF_LAYOUT_BUNDLED, 1, none, NULL, LF_DRAM_PREALLOC, a);
    assert_true(w1.bytes < base.bytes); /* keeping the last token's units saves reads */
    /* The preallocated manager copies less than reallocating. */
    totals pre = run_syn(4, LF_LAYOUT_BUNDLED, 1, none, NULL, LF_DRAM_PREALLOC, a);
    totals re = run_syn(4, LF_LAYOUT_BUNDLED, 1, none, NULL, LF_DRAM_REALLOC, b);
    assert_true(pre.copies < re.copies);
    assert_int_equal(pre.bytes, re.bytes);
    /* window k=4 loads less than window k=1. */
    assert_true(pre.loads < w1.loads);
    /* Determinism: same seed, same rows; another seed, other rows. */
    assert_int_equal(lf_predictor_create(&syn, 0.05, 0.07, 0, 11, &p, &err), LF_OK);
    run_syn(4, LF_LAYOUT_SPLIT, 4096, adj, p, LF_DRAM_PREALLOC, a);
    lf_predictor_free(p);
    assert_int_equal(lf_predictor_create(&syn, 0.05, 0.07, 0, 11, &p, &err), LF_OK);
    run_syn(4, LF_LAYOUT_SPLIT, 4096, adj, p, LF_DRAM_PREALLOC, b);
    lf_predictor_free(p);
    assert_memory_equal(a, b, NTOK * sizeof *a);
    assert_int_equal(lf_predictor_create(&syn, 0.05, 0.07, 0, 12, &p, &err), LF_OK);
    run_syn(4, LF_LAYOUT_SPLIT, 4096, adj, p, LF_DRAM_PREALLOC, b);
    lf_predictor_free(p);
    assert_memory_not_equal(a, b, NTOK * sizeof *a);
    free(a);
    free(b);
}

/* A policy that forgets to load what is wanted is reported with its place. */
static int lazy_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                     uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)p, (void)layer, (void)token, (void)want, (void)n_want, (void)err;
    plan->n_evict = plan->n_load = plan->n_hit = plan->n_resident = 0;
    return LF_OK;
}

static int lazy_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    (void)p, (void)ctx, (void)kv, (void)err;
    return LF_OK;
}

static void test_policy_bug_reported(void **st)
{
    (void)st;
    lf_trace t;
    tiny_trace(&t);
    lf_model m = model("custom:1,4,8");
    static const lf_policy_desc lazy = {
        .name = "lazy", .create = lazy_create, .step = lazy_step};
    lf_policy *pol = NULL;
    lf_policy_ctx ctx = {.n_layers = 1, .units = 8};
    lf_layout l;
    lf_err err;
    assert_int_equal(lf_policy_new(&lazy, NULL, &ctx, &pol, &err), LF_OK);
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &m, 2, 16, 0, &err), LF_OK);
    rec_state rs = {0, 0, 0};
    lf_backend be = {&rs, rec_layer, NULL, 0, 0};
    lf_replay_cfg cfg = {.trace = &t,
                         .model = &m,
                         .dtype_bytes = 2,
                         .policy = pol,
                         .layout = &l,
                         .reader = {.inflight = 1},
                         .dram = LF_DRAM_PREALLOC,
                         .quiet = 1};
    lf_token_row rows[4];
    assert_int_equal(lf_replay(&cfg, &be, rows, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "lazy"));
    assert_non_null(strstr(err.msg, "layer 0 token 0"));
    assert_non_null(strstr(err.msg, "unit 1"));
    /* A trace of another shape is refused. */
    lf_model other = model("custom:1,4,9");
    cfg.model = &other;
    assert_int_equal(lf_replay(&cfg, &be, rows, &err), LF_EINVAL);
    lf_policy_free(pol);
    lf_trace_free(&t);
}

/* The replay trusts a trace's own sets (checked when it was built or read); with
 * check_sets a trace changed in memory afterwards is refused at its step, and the
 * trusted path still keeps the checks that do not read the ids (the set must fit). */
static void test_changed_trace_refused(void **st)
{
    (void)st;
    lf_trace t;
    tiny_trace(&t);
    lf_model m = model("custom:1,4,8");
    lf_layout l;
    lf_err err;
    assert_int_equal(lf_layout_init(&l, LF_LAYOUT_BUNDLED, &m, 2, 16, 0, &err), LF_OK);
    rec_state rs = {0, 0, 0};
    lf_backend be = {&rs, rec_layer, NULL, 0, 0};
    lf_policy_ctx ctx = {.n_layers = 1, .units = 8, .capacity = 4};
    lf_policy *pol = NULL;
    lf_replay_cfg cfg = {.trace = &t,
                         .model = &m,
                         .dtype_bytes = 2,
                         .layout = &l,
                         .reader = {.inflight = 1},
                         .dram = LF_DRAM_PREALLOC,
                         .quiet = 1,
                         .check_sets = 1};
    lf_token_row rows[4];
    uint32_t *ids = t.layers[0].index; /* token 1 is {2, 3}: make it {3, 2} */
    ids[3] = 3;
    ids[4] = 2;
    assert_int_equal(lf_policy_create("lru", &ctx, &pol, &err), LF_OK);
    cfg.policy = pol;
    assert_int_equal(lf_replay(&cfg, &be, rows, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "layer 0 token 1"));
    assert_non_null(strstr(err.msg, "not sorted unique (2 after 3)"));
    lf_policy_free(pol);
    /* trusted: a set larger than the cache is still refused */
    ids[3] = 2;
    ids[4] = 3;
    ctx.capacity = 2;
    assert_int_equal(lf_policy_create("lru", &ctx, &pol, &err), LF_OK);
    cfg.policy = pol;
    cfg.check_sets = 0;
    assert_int_not_equal(lf_replay(&cfg, &be, rows, &err), LF_OK);
    assert_non_null(strstr(err.msg, "layer 0 token 0"));
    lf_policy_free(pol);
    lf_layout_free(&l);
    lf_trace_free(&t);
}

/* The run folder: cold start = token 0 (10 ms); steady tokens 2, 4, 6 ms: mean 4,
 * median 4, p99 = 4 + 0.98 * 2 = 5.96 (GSL's interpolated quantile). */
static void test_results_folder(void **st)
{
    (void)st;
    lf_err err;
    lf_token_row rows[4];
    memset(rows, 0, sizeof rows);
    const double tot[] = {10, 2, 4, 6};
    for (int i = 0; i < 4; i++) {
        rows[i].token = i;
        rows[i].io_ms = tot[i] / 2;
        rows[i].compute_ms = tot[i] / 2;
        rows[i].total_ms = tot[i];
        rows[i].bytes_read = 1000 * (i + 1);
        rows[i].reads = 10;
        rows[i].hits = 3;
        rows[i].misses = 1;
    }
    lf_summary s;
    assert_int_equal(lf_summary_compute(rows, 4, 1, &s, &err), LF_OK);
    assert_true(s.cold_total_ms == 10);
    assert_true(s.mean_total_ms == 4);
    assert_true(s.median_total_ms == 4);
    assert_true(fabs(s.p99_total_ms - 5.96) < 1e-12);
    assert_true(s.hit_rate == 0.75);
    assert_true(s.mean_bytes_read == 3000);
    assert_true(s.mean_read_bytes == 300);
    assert_int_equal(s.bytes_read, 10000);

    const char *trace = lf_test_path("fake.h5");
    lf_test_write(trace, "abc", 3);
    lf_kv cfg;
    lf_kv_init(&cfg, "test");
    assert_int_equal(lf_kv_set(&cfg, "policy", "window:k=4,capacity=9", 0, &err), LF_OK);
    assert_int_equal(lf_kv_set(&cfg, "layout", "bundled", 0, &err), LF_OK);
    const char *dir = lf_test_path("run1");
    lf_results r = {.mode = "sim",
                    .config = &cfg,
                    .rows = rows,
                    .n_rows = 4,
                    .cold_tokens = 1,
                    .seed = 42,
                    .trace_path = trace};
    assert_false(lf_results_done(dir));
    assert_int_equal(lf_results_write(dir, &r, &err), LF_OK);
    assert_true(lf_results_done(dir));
    char p[1400], *data;
    size_t len;
    snprintf(p, sizeof p, "%s/tokens.csv", dir);
    assert_int_equal(lf_read_file(p, &data, &len, &err), LF_OK);
    assert_true(strncmp(data, "token,io_ms,mem_ms,compute_ms,total_ms,bytes_read,reads,", 56) == 0);
    int lines = 0;
    for (char *c = data; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 5);
    assert_non_null(strstr(data, "\n1,1,0,1,2,2000,10,200,"));
    free(data);
    snprintf(p, sizeof p, "%s/summary.csv", dir);
    assert_int_equal(lf_read_file(p, &data, &len, &err), LF_OK);
    assert_non_null(strstr(data, ",policy,layout\n"));
    assert_non_null(strstr(data, "\nsim,4,1,3,10,"));
    assert_non_null(strstr(data, ",\"window:k=4,capacity=9\",bundled\n"));
    free(data);
    snprintf(p, sizeof p, "%s/config.conf", dir);
    assert_int_equal(lf_read_file(p, &data, &len, &err), LF_OK);
    assert_non_null(strstr(data, "policy = window:k=4,capacity=9\n"));
    free(data);
    snprintf(p, sizeof p, "%s/meta.json", dir);
    json_object *o = json_object_from_file(p);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "seed", &v));
    assert_int_equal(json_object_get_int64(v), 42);
    char sha[65];
    assert_int_equal(lf_sha256_file(trace, sha, &err), LF_OK);
    assert_true(json_object_object_get_ex(o, "trace_sha256", &v));
    assert_string_equal(json_object_get_string(v), sha);
    assert_true(json_object_object_get_ex(o, "mode", &v));
    assert_string_equal(json_object_get_string(v), "sim");
    assert_true(json_object_object_get_ex(o, "hdf5_version", &v));
    json_object_put(o);
    /* mode must be sim or run; nothing is written for a bad call. */
    lf_results bad = r;
    bad.mode = "guess";
    assert_int_equal(lf_results_write(lf_test_path("run2"), &bad, &err), LF_EINVAL);
    assert_false(lf_results_done(lf_test_path("run2")));

    /* A run that fails leaves the earlier run whole: here summary.csv cannot be replaced
     * (a FIFO stands in its place), and no file of the folder changes, `done` included. */
    char *before;
    snprintf(p, sizeof p, "%s/tokens.csv", dir);
    before = lf_test_slurp(p);
    lf_results other = r;
    other.n_rows = 3;
    char sum[1400];
    snprintf(sum, sizeof sum, "%s/summary.csv", dir);
    assert_int_equal(unlink(sum), 0);
    assert_int_equal(mkfifo(sum, 0600), 0);
    assert_int_equal(lf_results_write(dir, &other, &err), LF_EINVAL);
    assert_true(lf_results_done(dir));
    data = lf_test_slurp(p);
    assert_string_equal(data, before);
    free(data);
    free(before);
    /* a new folder whose files cannot be written (the disk full: a file size limit, its
     * signal ignored) is taken away again, empty: it was left behind */
    struct rlimit old_lim, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    small = old_lim;
    small.rlim_cur = 64;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    const char *full = lf_test_path("run-full");
    int full_rc = lf_results_write(full, &r, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_not_equal(full_rc, LF_OK);
    struct stat fst;
    assert_int_not_equal(stat(full, &fst), 0);
    /* a re-run replaces the run's files and an earlier ablation's tables */
    assert_int_equal(unlink(sum), 0);
    snprintf(p, sizeof p, "%s/ablation.md", dir);
    lf_test_write(p, "old", 3);
    assert_int_equal(lf_results_write(dir, &other, &err), LF_OK);
    assert_true(lf_results_done(dir));
    assert_false(lf_file_exists(p));
    snprintf(p, sizeof p, "%s/tokens.csv", dir);
    data = lf_test_slurp(p);
    lines = 0;
    for (char *c = data; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 4);
    free(data);
    /* someone else's folder is refused, and left as it was */
    const char *notes = lf_test_path("notes");
    char note[1400];
    snprintf(note, sizeof note, "%s/notes.txt", notes);
    assert_int_equal(lf_mkdirs(notes, &err), LF_OK);
    lf_test_write(note, "mine", 4);
    assert_int_equal(lf_results_write(notes, &r, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "notes.txt"));
    assert_false(lf_results_done(notes));
    snprintf(p, sizeof p, "%s/config.conf", notes);
    assert_false(lf_file_exists(p));
    lf_kv_free(&cfg);
}

/* The shared option table: names and keys find their row, numbers are checked against
 * their range at both ends, garbage is refused naming the option. */
static void test_runopt_table(void **st)
{
    (void)st;
    size_t n;
    const lf_runopt *t = lf_runopt_table(&n);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        const lf_runopt *o = &t[i];
        assert_ptr_equal(lf_runopt_find(o->name), o);
        assert_ptr_equal(lf_runopt_find(lf_runopt_key(o)), o);
        assert_non_null(o->help);
        lf_run_config c;
        lf_run_config_defaults(&c);
        lf_err err;
        char v[64];
        switch (o->kind) {
        case LF_RUNOPT_U32:
        case LF_RUNOPT_U64:
        case LF_RUNOPT_POW2:
            snprintf(v, sizeof v, "%llu", (unsigned long long)o->max);
            assert_int_equal(lf_runopt_set(o, &c, v, &err), LF_OK);
            if (o->max < UINT64_MAX) {
                snprintf(v, sizeof v, "%llu", (unsigned long long)o->max + 1);
                assert_int_equal(lf_runopt_set(o, &c, v, &err), LF_EINVAL);
            }
            if (o->min > 0) {
                snprintf(v, sizeof v, "%llu", (unsigned long long)o->min - 1);
                assert_int_equal(lf_runopt_set(o, &c, v, &err), LF_EINVAL);
            }
            /* fallthrough */
        case LF_RUNOPT_SIZE:
        case LF_RUNOPT_FRACTION:
        case LF_RUNOPT_RATE:
        case LF_RUNOPT_LAYOUT:
        case LF_RUNOPT_STRATEGY:
        case LF_RUNOPT_SCOPE:
            assert_int_equal(lf_runopt_set(o, &c, "x1", &err), LF_EINVAL);
            snprintf(v, sizeof v, "--%s 'x1'", o->name);
            assert_non_null(strstr(err.msg, v));
            break;
        case LF_RUNOPT_STR:
        case LF_RUNOPT_FLAG:
            assert_int_equal(lf_runopt_set(o, &c, "x1", &err), LF_OK);
            break;
        }
    }
    lf_run_config c;
    lf_run_config_defaults(&c);
    lf_err err;
    assert_int_equal(lf_runopt_set(lf_runopt_find("dram_fraction"), &c, "1", &err), LF_OK);
    assert_true(c.dram_fraction == 1.0);
    assert_int_equal(lf_runopt_set(lf_runopt_find("dram-fraction"), &c, "0", &err), LF_EINVAL);
    /* counts take decimal suffixes, sizes binary ones */
    assert_int_equal(lf_runopt_set(lf_runopt_find("tokens"), &c, "10k", &err), LF_OK);
    assert_int_equal(c.n_tokens, 10000);
    assert_int_equal(lf_runopt_set(lf_runopt_find("max-read"), &c, "64k", &err), LF_OK);
    assert_int_equal(c.max_read, 65536);
    assert_int_equal(lf_runopt_set(lf_runopt_find("layout"), &c, "split", &err), LF_OK);
    assert_int_equal(c.layout, LF_LAYOUT_SPLIT);
    assert_int_equal(lf_runopt_set(lf_runopt_find("scope"), &c, "ffn", &err), LF_OK);
    assert_int_equal(c.scope, LF_SCOPE_FFN);
    const char *keys[64];
    size_t nk = lf_runopt_keys(LF_RUNOPT_GRID, keys, 64);
    assert_null(keys[nk]);
    for (size_t i = 0; i < nk; i++)
        assert_true(lf_runopt_find(keys[i])->cmds & LF_RUNOPT_GRID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_window_moves),
        cmocka_unit_test(test_golden_split_coalescing),
        cmocka_unit_test(test_golden_sim_backend),
        cmocka_unit_test(test_sim_batch_gap),
        cmocka_unit_test(test_head_before_layer0),
        cmocka_unit_test(test_pagecache_loads),
        cmocka_unit_test(test_predictor),
        cmocka_unit_test_setup_teardown(test_invariants, syn_setup, syn_teardown),
        cmocka_unit_test(test_replay_orders),
        cmocka_unit_test(test_narrow_ids),
        cmocka_unit_test(test_deferred_ids),
        cmocka_unit_test(test_plans_cache),
        cmocka_unit_test(test_experts_priced_by_measured_kernel),
        cmocka_unit_test(test_shared_expert_priced_by_its_kernel),
        cmocka_unit_test(test_dram_rows_gapped),
        cmocka_unit_test(test_gapped_rows_priced),
        cmocka_unit_test(test_ffn_priced_by_shape),
        cmocka_unit_test(test_resident_priced_by_columns),
        cmocka_unit_test(test_o_projection_priced_by_its_columns),
        cmocka_unit_test(test_policy_bug_reported),
        cmocka_unit_test(test_changed_trace_refused),
        cmocka_unit_test(test_results_folder),
        cmocka_unit_test(test_runopt_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
