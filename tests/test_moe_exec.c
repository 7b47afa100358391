/* Tests of the expert executor (bench/lf_exec_moe) and the page-cache tier (lf_pcache):
 * the executor and the simulator make the same reads and cache decisions for the same
 * expert trace; the routed experts' output is the dense recomputation; the page-cache
 * budget is respected (mincore never counts more of the file than the budget); the
 * measured page-cache hits are the predicted ones when the page cache is held to the
 * policy's LRU; a memory cgroup holds it too (where one can be made). */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "lf_cgroup.h"
#include "lf_exec_moe.h"
#include "lf_mix.h"
#include "lf_quant.h"
#include "lf_test.h"
#include "lf_weights.h"

/* Skewed top-2 routing with reuse, router weights summing to 1. */
static void make_trace(lf_trace *t, const lf_model *m, uint32_t n_tok, uint64_t seed)
{
    lf_err err;
    assert_int_equal(lf_trace_init(t, m, 2, 1, 0, &err), LF_OK);
    uint64_t s = seed;
    uint32_t last[8][2] = {{0}};
    for (uint32_t tok = 0; tok < n_tok; tok++) {
        for (uint32_t l = 0; l < m->n_layers; l++) {
            uint32_t ids[2];
            for (int k = 0; k < 2; k++) {
                uint64_t z = lf_mix_next(&s);
                if (tok > 0 && z % 3 == 0)
                    ids[k] = last[l][k];
                else
                    ids[k] = (uint32_t)((z >> 8) % 16 * ((z >> 20) % 16) / 16);
            }
            if (ids[0] == ids[1])
                ids[1] = (ids[0] + 1) % 16;
            if (ids[0] > ids[1]) {
                uint32_t x = ids[0];
                ids[0] = ids[1];
                ids[1] = x;
            }
            last[l][0] = ids[0];
            last[l][1] = ids[1];
            float g = 0.3f + (float)(lf_mix_next(&s) % 400) / 1000.0f;
            float vals[2] = {g, 1.0f - g};
            assert_int_equal(lf_trace_append_layer(t, l, ids, 2, vals, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(t, (int32_t)tok, &err), LF_OK);
    }
}

static const char *make_file(const lf_model *m, lf_dtype dt, const char *name)
{
    lf_weights_spec s;
    memset(&s, 0, sizeof s);
    s.model = m;
    s.layout = LF_LAYOUT_BUNDLED;
    s.dtype = dt;
    s.seed = 3;
    lf_err err;
    const char *path = lf_test_path(name);
    assert_int_equal(lf_weights_make(path, &s, &err), LF_OK);
    return path;
}

/* A q4 file of the tests' expert shape with n_layers layers, opened into w; its path. */
static const char *open_q4(uint32_t n_layers, const char *name, lf_model *m, lf_weights *w)
{
    lf_test_moe_model(m, n_layers, 128, 64, 16, 2);
    const char *path = make_file(m, LF_DTYPE_Q4, name);
    lf_err err;
    assert_int_equal(lf_weights_open(path, w, &err), LF_OK);
    return path;
}

/* A backend wrapper that logs every step's decisions and the records it needs read
 * (flash reads from the reader plus the page cache's loads), then calls the inner one. */
typedef struct {
    lf_backend *inner;
    const lf_layout *L;
    uint64_t *log;   /* per step: token, layer, n_load, loads..., n_pc, pc..., n_evict,
                      * evicts..., n_hit, then the record offsets */
    size_t n, cap;
    uint64_t *offs;
    size_t n_offs, cap_offs;
} logger;

static void put(logger *g, uint64_t v)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4096;
        g->log = realloc(g->log, g->cap * sizeof *g->log);
        assert_non_null(g->log);
    }
    g->log[g->n++] = v;
}

static void put_off(logger *g, uint64_t v)
{
    if (g->n_offs == g->cap_offs) {
        g->cap_offs = g->cap_offs ? g->cap_offs * 2 : 4096;
        g->offs = realloc(g->offs, g->cap_offs * sizeof *g->offs);
        assert_non_null(g->offs);
    }
    g->offs[g->n_offs++] = v;
}

static int log_layer(lf_backend *b, const lf_step *s, lf_times *out, lf_err *err)
{
    logger *g = b->state;
    const lf_plan *p = s->plan;
    put(g, s->token);
    put(g, s->layer);
    put(g, p->n_load);
    for (uint32_t i = 0; i < p->n_load; i++)
        put(g, p->load[i]);
    put(g, p->n_pagecache);
    for (uint32_t i = 0; i < p->n_pagecache; i++)
        put(g, p->pagecache[i]);
    put(g, p->n_evict);
    for (uint32_t i = 0; i < p->n_evict; i++)
        put(g, p->evict[i]);
    put(g, p->n_hit);
    /* the records this step reads: the reader's flash reads and the page cache's loads,
     * in id order (= offset order within a layer) */
    uint64_t base = g->L->data_offset + (uint64_t)s->layer * g->L->layer_bytes;
    uint32_t a = 0, c = 0;
    while (a < s->n_extents || c < p->n_pagecache) {
        uint64_t ea = a < s->n_extents ? s->extents[a].offset : UINT64_MAX;
        uint64_t ec = c < p->n_pagecache ? base + p->pagecache[c] * g->L->record_bytes : UINT64_MAX;
        if (ea < ec) {
            assert_int_equal(s->extents[a].length, g->L->record_bytes);
            put_off(g, ea);
            a++;
        } else {
            put_off(g, ec);
            c++;
        }
    }
    return g->inner->layer(g->inner, s, out, err);
}

static void wrap(lf_backend *outer, logger *g, lf_backend *inner, const lf_layout *L)
{
    memset(g, 0, sizeof *g);
    g->inner = inner;
    g->L = L;
    memset(outer, 0, sizeof *outer);
    outer->state = g;
    outer->layer = log_layer;
}

/* Dense recomputation of one layer's output from the file's values (float, the stored
 * rounding), for the last step. */
static void dense_layer(const lf_weights *w, uint32_t layer, const uint32_t *ids, const float *g,
                        uint32_t n, const float *x, float *y)
{
    uint32_t D = w->h.d_model, F = w->h.d_ff;
    float *v[3];
    for (int p = 0; p < 3; p++)
        v[p] = malloc(sizeof(float) * D * F);
    memset(y, 0, sizeof(float) * D);
    for (uint32_t k = 0; k < n; k++) {
        for (int p = 0; p < 3; p++)
            lf_weights_values(&w->h, layer, ids[k], (uint32_t)p, v[p]);
        double h[64];
        for (uint32_t r = 0; r < F; r++) {
            double a = 0, b = 0;
            for (uint32_t c = 0; c < D; c++) {
                a += (double)v[0][r * D + c] * x[c];
                b += (double)v[1][r * D + c] * x[c];
            }
            h[r] = a / (1 + exp(-a)) * b;
        }
        for (uint32_t r = 0; r < D; r++) {
            double a = 0;
            for (uint32_t c = 0; c < F; c++)
                a += (double)v[2][r * F + c] * h[c];
            y[r] += (float)(g[k] * a);
        }
    }
    for (int p = 0; p < 3; p++)
        free(v[p]);
}

typedef struct {
    const char *policy;
    int buffered, per_layer;
    uint32_t pc_per_layer; /* the policy's pc (experts per layer), for the budget */
} config;

static void run_pair(const config *cf, lf_dtype dt)
{
    lf_model m;
    lf_test_moe_model(&m, 3, 128, 64, 16, 2);
    const char *path = make_file(&m, dt, "e.w");
    lf_weights w;
    lf_err err;
    assert_int_equal(lf_weights_open(path, &w, &err), LF_OK);
    lf_trace t;
    make_trace(&t, &m, 40, 11);
    lf_moe_replay_cfg rc = {&t, &w, cf->policy, 0, 0, 4, 5, 1, LF_SCOPE_TOKEN, LF_PCACHE_FADVISE};
    lf_token_row rows_s[40], rows_e[40];
    /* simulator */
    lf_device dev = lf_test_toy_device();
    lf_backend sb, outer_s;
    lf_moe_sim sbs;
    lf_moe_sim_backend(&sb, &sbs, &dev, &w, 4, cf->buffered, LF_SCOPE_TOKEN, 0);
    logger gs;
    wrap(&outer_s, &gs, &sb, &w.layout);
    assert_int_equal(lf_moe_replay(&rc, &outer_s, rows_s, NULL, &err), LF_OK);
    /* executor */
    uint64_t layers = cf->per_layer ? 1 : m.n_layers;
    lf_exec_moe_cfg ec = {&w, &t, 4, cf->buffered,
                          (uint64_t)cf->pc_per_layer * layers * w.h.record_bytes, cf->per_layer,
                          m.n_layers, 9, 1, LF_SCOPE_TOKEN, 0, LF_PCACHE_FADVISE};
    lf_exec_moe *e;
    assert_int_equal(lf_exec_moe_create(&ec, &e, &err), LF_OK);
    lf_exec_moe_check_every(e, 1);
    lf_backend eb, outer_e;
    lf_exec_moe_backend(&eb, e);
    logger ge;
    wrap(&outer_e, &ge, &eb, &w.layout);
    lf_policy_counts counts;
    int r = lf_moe_replay(&rc, &outer_e, rows_e, &counts, &err);
    if (r)
        print_message("%s\n", err.msg);
    assert_int_equal(r, LF_OK);
    /* same decisions, same records, and the executor read exactly those */
    assert_int_equal(gs.n, ge.n);
    assert_memory_equal(gs.log, ge.log, gs.n * sizeof *gs.log);
    uint64_t n_log;
    const uint64_t *elog = lf_exec_moe_log(e, &n_log);
    assert_int_equal(n_log, gs.n_offs);
    assert_memory_equal(elog, gs.offs, n_log * sizeof *elog);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(rows_s[i].hits, rows_e[i].hits);
        assert_int_equal(rows_s[i].loads, rows_e[i].loads);
        assert_int_equal(rows_s[i].evictions, rows_e[i].evictions);
    }
    lf_exec_moe_stats st;
    lf_exec_moe_stats_get(e, &st);
    print_message("%-34s %s: loads %llu, page cache predicted %llu measured %llu agree %llu; "
                  "max cached %llu of budget %llu (%s)\n", cf->policy, lf_dtype_name(dt),
                  (unsigned long long)st.loads, (unsigned long long)st.pc_predicted,
                  (unsigned long long)st.pc_measured, (unsigned long long)st.pc_agree,
                  (unsigned long long)st.max_cached_bytes, (unsigned long long)ec.pc_budget,
                  lf_exec_moe_mechanism(e));
    assert_true(st.loads > 0);
    assert_int_equal(st.reads, st.loads); /* one read a record */
    if (cf->buffered) {
        /* the budget respected, by mincore's count, after every step */
        assert_true(st.pc_checks == 40u * m.n_layers);
        uint64_t budget = ec.pc_budget * (cf->per_layer ? m.n_layers : 1);
        assert_true(st.max_cached_bytes <= budget);
        assert_true(st.max_cached_bytes >= budget / 2); /* it was used */
        /* the page cache held to the policy's LRU serves exactly the predicted loads,
         * prefetch guesses included (both pass it in ascending id) */
        assert_int_equal(st.pc_agree, st.loads);
        assert_int_equal(st.pc_measured, st.pc_predicted);
        assert_true(st.pc_measured > 0);
        assert_string_equal(lf_exec_moe_mechanism(e), "fadvise");
    } else {
        assert_int_equal(st.pc_measured, 0);
        assert_string_equal(lf_exec_moe_mechanism(e), "direct");
    }
    lf_exec_moe_free(e);
    free(gs.log);
    free(ge.log);
    free(gs.offs);
    free(ge.offs);
    lf_trace_free(&t);
    lf_weights_close(&w);
    unlink(path);
}

static void test_exec_matches_sim_trust_os(void **st)
{
    (void)st;
    config c = {"pagecache:dram=0,pc=3,scope=global", 1, 0, 3};
    run_pair(&c, LF_DTYPE_Q4);
}

static void test_exec_matches_sim_two_level(void **st)
{
    (void)st;
    config c = {"pagecache:dram=2,pc=3,scope=layer,prefetch=1,acc=0.5", 1, 1, 3};
    run_pair(&c, LF_DTYPE_Q2);
}

static void test_exec_matches_sim_app_and_pagecache(void **st)
{
    (void)st;
    config c = {"pagecache:dram=1,pc=4,scope=layer", 1, 1, 4};
    run_pair(&c, LF_DTYPE_FP16);
}

/* A step loads more records (top-2) than its layer's page cache holds (1): the records it
 * evicts of its own are read after their eviction, and must still leave (fadvise dropped
 * them before their reads, which cached them past the budget: measured hits 0.44 against
 * 0 predicted on OLMoE at pc=4). */
static void test_exec_matches_sim_small_budget(void **st)
{
    (void)st;
    config c = {"pagecache:dram=0,pc=1,scope=layer", 1, 1, 1};
    run_pair(&c, LF_DTYPE_Q4);
}

static void test_exec_matches_sim_app_lru_direct(void **st)
{
    (void)st;
    config c = {"lru:capacity=4", 0, 0, 0};
    run_pair(&c, LF_DTYPE_INT8);
}

/* The executor's output for one step equals the dense recomputation of the routed
 * experts (weighted by the trace's router weights) from the file's stored values. */
static void test_exec_output_dense(void **st)
{
    (void)st;
    lf_model m;
    lf_test_moe_model(&m, 3, 128, 64, 16, 2);
    m.n_layers = 1;
    const char *path = make_file(&m, LF_DTYPE_Q4, "d.w");
    lf_weights w;
    lf_err err;
    assert_int_equal(lf_weights_open(path, &w, &err), LF_OK);
    lf_trace t;
    make_trace(&t, &m, 5, 4);
    lf_exec_moe_cfg ec = {&w, &t, 2, 0, 0, 0, 1, 9, 0, LF_SCOPE_FFN, 0, LF_PCACHE_FADVISE};
    lf_exec_moe *e;
    assert_int_equal(lf_exec_moe_create(&ec, &e, &err), LF_OK);
    lf_backend eb;
    lf_exec_moe_backend(&eb, e);
    lf_moe_replay_cfg rc = {&t, &w, "lru:capacity=3", 0, 0, 2, 5, 1, LF_SCOPE_FFN,
                            LF_PCACHE_FADVISE};
    lf_token_row rows[5];
    assert_int_equal(lf_moe_replay(&rc, &eb, rows, NULL, &err), LF_OK);
    /* layer 0's input for token 4 is the generated one: regenerate it the same way */
    float x[128], y[128];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, 9u * 1000003u + 4u);
    for (int i = 0; i < 128; i++)
        x[i] = (float)((gsl_rng_uniform(rng) * 2.0 - 1.0) * 1.7320508075688772);
    gsl_rng_free(rng);
    uint32_t n;
    const uint32_t *ids = lf_trace_ids(&t, 0, 4, &n);
    dense_layer(&w, 0, ids, t.layers[0].value + t.layers[0].indptr[4], n, x, y);
    const float *got = lf_exec_moe_last_output(e);
    double num = 0, den = 0;
    for (int i = 0; i < 128; i++) {
        num += (got[i] - y[i]) * (got[i] - y[i]);
        den += y[i] * y[i];
    }
    assert_true(den > 0);
    assert_true(sqrt(num / den) < 1e-4);
    lf_exec_moe_free(e);
    lf_trace_free(&t);
    lf_weights_close(&w);
    unlink(path);
}

/* One layer step for the twin alone: records `load` of rec bytes read one a read
 * (bundled, no coalescing), the layer computing with `need`. */
typedef struct {
    lf_extent ext[8];
    lf_read rd[8];
    lf_plan plan;
    lf_step s;
} one_step;

static void one_step_init(one_step *o, uint64_t rec, uint32_t *load, uint32_t n_load,
                          uint32_t *need, uint32_t n_need)
{
    assert_true(n_load <= 8);
    memset(o, 0, sizeof *o);
    for (uint32_t i = 0; i < n_load; i++) {
        o->ext[i] = (lf_extent){rec * load[i], rec, load[i], LF_PART_ALL, 1};
        o->rd[i] = (lf_read){rec * load[i], rec, i, 1};
    }
    o->plan.load = load;
    o->plan.n_load = n_load;
    o->s.need = o->s.want = need;
    o->s.n_need = o->s.n_want = n_need;
    o->s.plan = &o->plan;
    o->s.extents = o->ext;
    o->s.n_extents = n_load;
    o->s.reads = o->rd;
    o->s.n_reads = n_load;
    o->s.bytes_read = n_load * rec;
    o->s.n_compute_rows = n_need;
}

/* The simulator's twin prices a wrong guess's read as overlapping the layer's compute
 * (only what compute does not hide counts) and, with the page cache, a miss's copy. */
static void test_sim_prefetch_overlap(void **st)
{
    (void)st;
    lf_model m;
    lf_weights w;
    lf_err err;
    const char *path = open_q4(1, "ov.w", &m, &w);
    lf_device dev = lf_test_toy_device();
    dev.expert_wps_4 = 1e6; /* 24.6 ms per 128 x 64 expert: compute hides one read */
    uint64_t rec = w.h.record_bytes;
    uint32_t need[2] = {1, 2}, load[2] = {2, 5};
    one_step o;
    one_step_init(&o, rec, load, 2, need, 2);
    lf_step s = o.s;
    double one = lf_flash_time(&dev, 1, rec, 4), two = lf_flash_time(&dev, 2, 2 * rec, 4);
    for (int buffered = 0; buffered < 2; buffered++) {
        lf_backend b;
        lf_moe_sim sim;
        lf_moe_sim_backend(&b, &sim, &dev, &w, 4, buffered, LF_SCOPE_FFN, 0);
        lf_times t;
        assert_int_equal(b.layer(&b, &s, &t, &err), LF_OK);
        double copy = buffered ? lf_pagecache_time(&dev, 1, rec) : 0;
        assert_true(fabs(t.compute_s - 2.0 * 3 * 128 * 64 / 1e6) < 1e-9);
        assert_true(fabs(t.io_s - (one + copy)) < 1e-12); /* guess 5 hidden by compute */
        uint32_t all[3] = {1, 2, 5};
        s.need = all;
        s.n_need = 3;
        assert_int_equal(b.layer(&b, &s, &t, &err), LF_OK);
        assert_true(fabs(t.io_s - (two + 2 * copy)) < 1e-12); /* both needed: both count */
        s.need = need;
        s.n_need = 2;
        dev.expert_wps_4 = 1e12; /* compute too short to hide the guess */
        lf_moe_sim_backend(&b, &sim, &dev, &w, 4, buffered, LF_SCOPE_FFN, 0);
        assert_int_equal(b.layer(&b, &s, &t, &err), LF_OK);
        assert_true(t.io_s > one + copy + 0.9 * (one + copy - t.compute_s));
        dev.expert_wps_4 = 1e6;
        /* a profile measured through the page cache has the copy in its flash keys */
        dev.flash_buffered = LF_BUFFERED_FADVISE;
        lf_moe_sim_backend(&b, &sim, &dev, &w, 4, buffered, LF_SCOPE_FFN, 0);
        assert_int_equal(b.layer(&b, &s, &t, &err), LF_OK);
        assert_true(fabs(t.io_s - one) < 1e-12);
        dev.flash_buffered = 0;
    }
    lf_weights_close(&w);
    unlink(path);
}

/* Scope: at token scope the executor runs the resident part (attention with its KV cache,
 * the router, a shared expert) and the simulator prices it per token with the dense
 * path's terms, the router's d_model x n_experts matvec and the shared expert included;
 * at scope ffn neither does. Both scopes read the same records. */
static void test_scope_token_vs_ffn(void **st)
{
    (void)st;
    enum { TOK = 6 };
    lf_model m;
    lf_test_moe_model(&m, 2, 128, 64, 16, 2);
    const char *path = make_file(&m, LF_DTYPE_Q4, "sc.w");
    lf_weights w;
    lf_err err;
    assert_int_equal(lf_weights_open(path, &w, &err), LF_OK);
    w.model.shared_ff = 64; /* a shared expert, as qwen's models have */
    lf_trace t;
    make_trace(&t, &m, TOK, 3);
    lf_device dev = lf_test_toy_device();
    double sim_ms[2][TOK];
    lf_exec_moe_stats es[2];
    uint64_t *logs[2], nlog[2];
    for (int k = 0; k < 2; k++) {
        lf_scope sc = k ? LF_SCOPE_FFN : LF_SCOPE_TOKEN;
        lf_moe_replay_cfg rc = {&t, &w, "lru:capacity=4", 0, 0, 2, 5, 1, sc, LF_PCACHE_FADVISE};
        lf_token_row rows[TOK];
        lf_backend sb;
        lf_moe_sim sbs;
        lf_moe_sim_backend(&sb, &sbs, &dev, &w, 2, 0, sc, 0);
        assert_int_equal(lf_moe_replay(&rc, &sb, rows, NULL, &err), LF_OK);
        for (int i = 0; i < TOK; i++)
            sim_ms[k][i] = rows[i].compute_ms;
        lf_exec_moe_cfg ec = {.weights = &w, .trace = &t, .inflight = 2, .n_layers = 2,
                              .seed = 9, .log_reads = 1, .scope = sc};
        lf_exec_moe *e;
        assert_int_equal(lf_exec_moe_create(&ec, &e, &err), LF_OK);
        lf_backend eb;
        lf_exec_moe_backend(&eb, e);
        int r = lf_moe_replay(&rc, &eb, rows, NULL, &err);
        if (r)
            print_message("%s\n", err.msg);
        assert_int_equal(r, LF_OK);
        lf_exec_moe_stats_get(e, &es[k]);
        const uint64_t *lg = lf_exec_moe_log(e, &nlog[k]);
        logs[k] = malloc(nlog[k] * sizeof *lg + 1);
        memcpy(logs[k], lg, nlog[k] * sizeof *lg);
        lf_exec_moe_free(e);
    }
    /* the simulator: token - ffn = the resident term, router included */
    const lf_model *wm = &w.model;
    double L = 2, d = 128, eb = 2;
    double att = (double)lf_model_attention_layer_bytes(wm, 2) * L;
    double head = (double)lf_model_head_bytes(wm, 2);
    double router = L * d * 16 * eb, shared = L * 3 * d * 64 * eb;
    double norms = (2 * L + 1) * d;
    for (int i = 0; i < TOK; i++) {
        double pos = i + 1;
        double kv = L * pos * 2.0 * lf_model_kv_dim(wm) * sizeof(float);
        double flops = 2.0 * (att + head + router + shared) / eb +
                       L * pos * 4.0 * lf_model_q_dim(wm) + 4.0 * norms;
        double bytes = att + head + router + shared + kv + norms * sizeof(float) + d * eb;
        double want = lf_compute_time(&dev, flops, bytes) * 1e3;
        assert_true(want > 0);
        assert_true(fabs((sim_ms[0][i] - sim_ms[1][i]) - want) < 1e-9 * (1 + want));
    }
    /* the executor: the resident part ran and is held at token scope only */
    assert_true(es[0].attn_s > 0);
    assert_true(es[0].compute_s > es[0].attn_s);
    assert_true(es[0].resident_bytes >=
                att + router + shared + L * TOK * 2 * lf_model_kv_dim(wm) * 4);
    assert_true(es[1].attn_s == 0);
    assert_int_equal(es[1].resident_bytes, 0);
    assert_true(es[0].checksum != es[1].checksum); /* attention feeds the experts */
    /* the same reads and decisions in both scopes */
    assert_int_equal(nlog[0], nlog[1]);
    assert_memory_equal(logs[0], logs[1], nlog[0] * sizeof *logs[0]);
    assert_int_equal(es[0].loads, es[1].loads);
    assert_int_equal(es[0].experts_computed, es[1].experts_computed);
    free(logs[0]);
    free(logs[1]);
    lf_trace_free(&t);
    lf_weights_close(&w);
    unlink(path);
}

/* The page-cache tier alone: records read through it stay cached up to the budget, the
 * least recently read dropped first, per group when asked (mincore's view). */
static void test_pcache_lru_budget(void **st)
{
    (void)st;
    enum { REC = 8192, N = 10 };
    const char *path = lf_test_path("pc.bin");
    unsigned char *data = calloc(1, 4096 + (size_t)N * REC);
    for (size_t i = 0; i < 4096 + (size_t)N * REC; i++)
        data[i] = (unsigned char)(i * 7);
    lf_test_write(path, data, 4096 + (size_t)N * REC);
    free(data);
    lf_err err;
    for (int grouped = 0; grouped < 2; grouped++) {
        lf_pcache *p;
        lf_pcache_cfg pcc = {4096, REC, grouped ? 5 : 0, 2 * REC, 2, LF_PCACHE_FADVISE, 0};
        assert_int_equal(lf_pcache_open(path, &pcc, &p, &err), LF_OK);
        uint64_t cached;
        assert_int_equal(lf_pcache_cached_bytes(p, &cached, &err), LF_OK);
        assert_true(cached <= 4096); /* dropped at open (the header page may come back) */
        unsigned char buf[REC];
        int order[] = {0, 1, 2, 1, 6, 7, 8, 0};
        for (int k = 0; k < 8; k++) {
            uint64_t off = 4096 + (uint64_t)order[k] * REC;
            int all;
            assert_int_equal(lf_pcache_resident(p, off, REC, &all, NULL, &err), LF_OK);
            /* expected: 1 was read two steps before (still in a 2-record LRU) */
            if (k == 3)
                assert_true(all);
            if (k < 3 || k == 4)
                assert_false(all);
            assert_int_equal(lf_pcache_touch(p, off, &err), LF_OK);
            assert_int_equal(pread(lf_pcache_fd(p), buf, REC, (off_t)off), REC);
            assert_int_equal(lf_pcache_settle(p, &err), LF_OK); /* one read a step */
            assert_int_equal(lf_pcache_cached_bytes(p, &cached, &err), LF_OK);
            assert_true(cached <= (grouped ? 4 : 2) * (uint64_t)REC); /* two groups of 2 */
        }
        int all;
        /* last reads: 7, 8, 0; global: 8 and 0 remain; grouped: 0 and 1 (group 0) and
         * 7 and 8 (group 1) */
        assert_int_equal(lf_pcache_resident(p, 4096 + 8 * REC, REC, &all, NULL, &err), LF_OK);
        assert_true(all);
        assert_int_equal(lf_pcache_resident(p, 4096 + 7 * REC, REC, &all, NULL, &err), LF_OK);
        assert_int_equal(all, grouped);
        assert_int_equal(lf_pcache_resident(p, 4096 + 1 * REC, REC, &all, NULL, &err), LF_OK);
        assert_int_equal(all, grouped);
        /* a page taken by someone else (a reclaimer outside the budget): the record is
         * partly cached, and the bytes say how much */
        uint64_t bytes = 0;
        assert_int_equal(posix_fadvise(lf_pcache_fd(p), 4096 + 8 * REC + 4096, 4096,
                                       POSIX_FADV_DONTNEED), 0);
        assert_int_equal(lf_pcache_resident(p, 4096 + 8 * REC, REC, &all, &bytes, &err), LF_OK);
        assert_false(all);
        assert_int_equal(bytes, REC - 4096);
        lf_pcache_stats ps;
        lf_pcache_stats_get(p, &ps);
        assert_true(ps.evictions > 0);
        assert_string_equal(lf_pcache_mechanism(p), "fadvise");
        assert_int_not_equal(lf_pcache_touch(p, 4096 + 3, &err), LF_OK); /* not a record start */
        lf_pcache_close(p);
    }
    unlink(path);
}

/* A reclaimer outside the process is found in a DAMON sysfs tree (a fake one here):
 * only a kdamond that is on with a pageout scheme counts. */
static void test_pcache_outside_reclaim(void **st)
{
    (void)st;
    char root[4200], p[4400], note[1024];
    snprintf(root, sizeof root, "%s/damon", lf_test_dir());
    const char *dirs[] = {"", "/kdamonds", "/kdamonds/0", "/kdamonds/0/contexts",
                          "/kdamonds/0/contexts/0", "/kdamonds/0/contexts/0/monitoring_attrs",
                          "/kdamonds/0/contexts/0/monitoring_attrs/intervals",
                          "/kdamonds/0/contexts/0/schemes", "/kdamonds/0/contexts/0/schemes/0",
                          "/kdamonds/0/contexts/0/schemes/1",
                          "/kdamonds/0/contexts/0/schemes/1/access_pattern",
                          "/kdamonds/0/contexts/0/schemes/1/access_pattern/age",
                          "/kdamonds/0/contexts/0/schemes/1/access_pattern/nr_accesses",
                          "/kdamonds/0/contexts/0/schemes/1/stats"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        mkdir(p, 0755);
    }
    const char *files[][2] = {
        {"/kdamonds/0/state", "off\n"},
        {"/kdamonds/0/contexts/0/monitoring_attrs/intervals/aggr_us", "5000000\n"},
        {"/kdamonds/0/contexts/0/schemes/0/action", "stat\n"},
        {"/kdamonds/0/contexts/0/schemes/1/action", "pageout\n"},
        {"/kdamonds/0/contexts/0/schemes/1/access_pattern/age/min", "12\n"},
        {"/kdamonds/0/contexts/0/schemes/1/access_pattern/nr_accesses/max", "1\n"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s%s", root, files[i][0]);
        lf_test_write(p, files[i][1], strlen(files[i][1]));
    }
    setenv("LLMFLASH_DAMON_ROOT", root, 1);
    assert_int_equal(lf_pcache_outside_reclaim(note, sizeof note), 0); /* off */
    assert_string_equal(note, "");
    snprintf(p, sizeof p, "%s/kdamonds/0/state", root);
    lf_test_write(p, "on\n", 3);
    assert_int_equal(lf_pcache_outside_reclaim(note, sizeof note), 1);
    assert_non_null(strstr(note, "pageout"));
    assert_non_null(strstr(note, "with at most 1 accesses per aggregation interval of 5000000 us "
                                 "for at least 12 intervals"));
    /* what it paged out: asked to refresh its stats first, then their sum; unknown
     * without the stats or with the kdamond off */
    uint64_t paged = 7;
    assert_int_equal(lf_pcache_outside_paged(&paged), -1); /* no stats file yet */
    snprintf(p, sizeof p, "%s/kdamonds/0/contexts/0/schemes/1/stats/sz_applied", root);
    lf_test_write(p, "123456789\n", 10);
    snprintf(p, sizeof p, "%s/kdamonds/0/state", root);
    lf_test_write(p, "on\n", 3);
    assert_int_equal(lf_pcache_outside_paged(&paged), 0);
    assert_int_equal(paged, 123456789);
    char *state = lf_test_slurp(p);
    assert_string_equal(state, "update_schemes_stats"); /* the refresh was asked */
    free(state);
    lf_test_write(p, "off\n", 4);
    assert_int_equal(lf_pcache_outside_paged(&paged), -1);
    lf_test_write(p, "on\n", 3);
    snprintf(p, sizeof p, "%s/kdamonds/0/contexts/0/schemes/1/action", root);
    lf_test_write(p, "cold\n", 5); /* on, but nothing paged out */
    assert_int_equal(lf_pcache_outside_reclaim(note, sizeof note), 0);
    setenv("LLMFLASH_DAMON_ROOT", "/nonexistent", 1);
    assert_int_equal(lf_pcache_outside_reclaim(note, sizeof note), 0);
    unsetenv("LLMFLASH_DAMON_ROOT");
}

/* This process's memory cgroup (the "memory" line of /proc/self/cgroup), into buf. */
static void memory_cgroup(char *buf, size_t cap)
{
    char all[8192];
    FILE *f = fopen("/proc/self/cgroup", "r"); /* size 0: read, not slurped */
    assert_non_null(f);
    all[fread(all, 1, sizeof all - 1, f)] = 0;
    fclose(f);
    const char *p = strstr(all, "memory:");
    if (!p)
        p = strstr(all, "0::");
    assert_non_null(p);
    snprintf(buf, cap, "%.*s", (int)strcspn(p, "\n"), p);
}

/* The cgroup mechanism (skipped, one line, without root or a writable memory hierarchy):
 * the kernel, not an LRU of ours, holds the file's page cache to the budget plus the
 * stated slack after every step (mincore over the whole file); the reads it served are
 * measured; the process comes back to its own cgroup and the cgroup's folder is gone;
 * a cgroup left by a dead process is removed by the next one. */
static void test_pcache_cgroup_budget(void **st)
{
    (void)st;
    lf_model m;
    lf_test_moe_model(&m, 2, 512, 512, 16, 2); /* fp16 experts of 1.5 MiB, 48 MiB in all */
    const char *path = make_file(&m, LF_DTYPE_FP16, "cg.w");
    lf_weights w;
    lf_err err;
    assert_int_equal(lf_weights_open(path, &w, &err), LF_OK);
    lf_trace t;
    make_trace(&t, &m, 40, 13);
    char home[4200], inside[4200];
    memory_cgroup(home, sizeof home);
    /* at least the floor (twice the 4 reads in flight), so the budget is what holds */
    uint64_t budget = 8 * w.h.record_bytes;
    lf_exec_moe_cfg ec = {.weights = &w, .trace = &t, .inflight = 4, .buffered = 1,
                          .pc_budget = budget, .n_layers = m.n_layers, .seed = 9,
                          .scope = LF_SCOPE_FFN, .pc_mech = LF_PCACHE_CGROUP};
    lf_exec_moe *e;
    int rc = lf_exec_moe_create(&ec, &e, &err);
    if (rc == LF_EUNSUP) {
        print_message("SKIP: no memory cgroup can be made here: %s\n", err.msg);
        lf_trace_free(&t);
        lf_weights_close(&w);
        unlink(path);
        skip();
    }
    assert_int_equal(rc, LF_OK);
    assert_string_equal(lf_exec_moe_mechanism(e), "cgroup");
    /* "cgroup vN PATH: limit = ..." */
    const char *note = lf_exec_moe_mechanism_note(e);
    assert_true(!strncmp(note, "cgroup v", 8));
    char dir[4200];
    snprintf(dir, sizeof dir, "%.*s", (int)strcspn(note + 10, ":"), note + 10);
    assert_int_equal(access(dir, F_OK), 0);
    memory_cgroup(inside, sizeof inside);
    assert_string_not_equal(home, inside);
    lf_exec_moe_check_every(e, 1);
    lf_backend b;
    lf_exec_moe_backend(&b, e);
    lf_moe_replay_cfg rcfg = {&t, &w, "pagecache:dram=0,pc=8,scope=global", 0, 0, 4, 5, 1,
                              LF_SCOPE_FFN, LF_PCACHE_CGROUP};
    lf_token_row rows[40];
    rc = lf_moe_replay(&rcfg, &b, rows, NULL, &err);
    if (rc)
        print_message("%s\n", err.msg);
    assert_int_equal(rc, LF_OK);
    lf_exec_moe_stats s;
    lf_exec_moe_stats_get(e, &s);
    print_message("cgroup: loads %llu, page cache predicted %llu measured %llu agree %llu; max "
                  "cached %.2f MiB of budget %.2f MiB + slack %.2f MiB (file %.0f MiB)\n",
                  (unsigned long long)s.loads, (unsigned long long)s.pc_predicted,
                  (unsigned long long)s.pc_measured, (unsigned long long)s.pc_agree,
                  s.max_cached_bytes / 1048576.0, budget / 1048576.0,
                  lf_cgroup_slack() / 1048576.0, w.h.file_bytes / 1048576.0);
    assert_int_equal(s.pc_checks, 40u * m.n_layers);
    /* held: without the limit the routed experts would fill far more of the file */
    assert_true(budget >= LF_CGROUP_FLOOR + 4 * w.h.record_bytes);
    assert_true(budget >= lf_cgroup_floor(4 * w.h.record_bytes));
    assert_true(s.max_cached_bytes <= budget + lf_cgroup_slack());
    assert_true(s.max_cached_bytes >= budget / 2); /* and used */
    assert_true(s.pc_measured > 0);
    lf_exec_moe_free(e);
    assert_int_not_equal(access(dir, F_OK), 0);
    memory_cgroup(inside, sizeof inside);
    assert_string_equal(home, inside);
    /* a cgroup a killed process left (its pid gone) is removed by the next one */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    char stale[4300];
    snprintf(stale, sizeof stale, "%.*s/llmflash.%ld.0", (int)(strrchr(dir, '/') - dir), dir,
             (long)pid);
    assert_int_equal(mkdir(stale, 0755), 0);
    lf_cgroup *g;
    assert_int_equal(lf_cgroup_open(0, &g, &err), LF_OK);
    assert_int_not_equal(access(stale, F_OK), 0);
    /* reads in flight raise the floor to twice their bytes: their pages are locked, the
     * kernel cannot evict them to make room (the non-file charge may move by a little
     * between the fits); 1 MiB in flight stays under the 4 MiB floor */
    assert_int_equal(lf_cgroup_fit(g, 0, &err), LF_OK);
    uint64_t without = lf_cgroup_limit(g);
    lf_cgroup_set_in_flight(g, 1ull << 20);
    assert_int_equal(lf_cgroup_fit(g, 0, &err), LF_OK);
    int64_t raised = (int64_t)(lf_cgroup_limit(g) - without);
    assert_true(raised > -(1ll << 20) && raised < (1ll << 20));
    lf_cgroup_set_in_flight(g, 32ull << 20);
    assert_int_equal(lf_cgroup_fit(g, 0, &err), LF_OK);
    raised = (int64_t)(lf_cgroup_limit(g) - without);
    assert_true(raised > (59ll << 20) && raised < (61ll << 20));
    lf_cgroup_set_budget(g, 96ull << 20); /* a budget above the floor is the room */
    assert_int_equal(lf_cgroup_fit(g, 0, &err), LF_OK);
    raised = (int64_t)(lf_cgroup_limit(g) - without);
    assert_true(raised > (91ll << 20) && raised < (93ll << 20));
    assert_int_equal(lf_cgroup_close(g, &err), LF_OK);
    lf_trace_free(&t);
    lf_weights_close(&w);
    unlink(path);
}

/* One executor, direct reads, many layer steps with prefetch guesses (read in the
 * background while the layer computes, more of them than reads in flight with one or
 * three): the output is the same whatever the reads in flight, one read a record, and
 * the engine, opened once, serves every batch. */
static void run_direct(const lf_weights *w, const lf_trace *t, const char *policy,
                       uint32_t inflight, lf_exec_moe_stats *out)
{
    lf_err err;
    lf_exec_moe_cfg ec = {.weights = w, .trace = t, .inflight = inflight,
                          .n_layers = w->h.n_layers, .seed = 9, .scope = LF_SCOPE_FFN};
    lf_exec_moe *e;
    assert_int_equal(lf_exec_moe_create(&ec, &e, &err), LF_OK);
    lf_backend b;
    lf_exec_moe_backend(&b, e);
    lf_moe_replay_cfg rc = {t, w, policy, 0, 0, inflight, 5, 1, LF_SCOPE_FFN,
                            LF_PCACHE_FADVISE};
    lf_token_row rows[300];
    int r = lf_moe_replay(&rc, &b, rows, NULL, &err);
    if (r)
        print_message("%s\n", err.msg);
    assert_int_equal(r, LF_OK);
    lf_exec_moe_stats_get(e, out);
    lf_exec_moe_free(e);
}

static void test_direct_many_batches(void **st)
{
    (void)st;
    lf_model m;
    lf_weights w;
    const char *path = open_q4(3, "pp.w", &m, &w);
    lf_trace t;
    make_trace(&t, &m, 300, 17);
    const char *pol = "pagecache:dram=4,pc=0,prefetch=2,acc=0.5";
    lf_exec_moe_stats four, one, three;
    run_direct(&w, &t, pol, 4, &four);
    run_direct(&w, &t, pol, 1, &one);
    run_direct(&w, &t, pol, 3, &three);
    print_message("300 tokens x 3 layers: %llu loads, %llu reads\n",
                  (unsigned long long)four.loads, (unsigned long long)four.reads);
    assert_true(four.loads > 600);
    assert_int_equal(four.reads, four.loads);
    assert_int_equal(one.loads, four.loads);
    assert_int_equal(three.loads, four.loads);
    assert_true(four.checksum != 0);
    assert_true(one.checksum == four.checksum);
    assert_true(three.checksum == four.checksum);
    lf_trace_free(&t);
    lf_weights_close(&w);
    unlink(path);
}

/* A read that fails (the file cut short after it was opened) is reported with the file,
 * the step, the record's offset and the bytes got of those asked (lf_io_read_error's
 * message): the second record of the first step, 4 KiB of it left, with one read in
 * flight or four. */
static void test_short_read(void **st)
{
    (void)st;
    lf_model m;
    for (uint32_t inflight = 1; inflight <= 4; inflight += 3) {
        lf_weights w;
        lf_err err;
        const char *path = open_q4(1, "sr.w", &m, &w);
        lf_trace t;
        make_trace(&t, &m, 3, 5);
        uint32_t n;
        const uint32_t *ids = lf_trace_ids(&t, 0, 0, &n);
        assert_int_equal(n, 2);
        uint64_t at = w.layout.data_offset + (uint64_t)ids[1] * w.h.record_bytes;
        assert_true(w.h.record_bytes > 8192);
        assert_int_equal(truncate(path, (off_t)(at + 4096)), 0);
        lf_exec_moe_cfg ec = {.weights = &w, .trace = &t, .inflight = inflight, .n_layers = 1,
                              .seed = 9, .scope = LF_SCOPE_FFN};
        lf_exec_moe *e;
        assert_int_equal(lf_exec_moe_create(&ec, &e, &err), LF_OK);
        lf_backend b;
        lf_exec_moe_backend(&b, e);
        lf_moe_replay_cfg rc = {&t, &w, "lru:capacity=4", 0, 0, inflight, 5, 1, LF_SCOPE_FFN,
                                LF_PCACHE_FADVISE};
        lf_token_row rows[3];
        assert_int_equal(lf_moe_replay(&rc, &b, rows, NULL, &err), LF_EIO);
        print_message("%u in flight: %s\n", inflight, err.msg);
        assert_non_null(strstr(err.msg, path));
        assert_non_null(strstr(err.msg, "token 0 layer 0"));
        char want[128];
        snprintf(want, sizeof want, "short read at offset %llu: 4096 of %llu bytes",
                 (unsigned long long)at, (unsigned long long)w.h.record_bytes);
        assert_non_null(strstr(err.msg, want));
        lf_exec_moe_free(e);
        lf_trace_free(&t);
        lf_weights_close(&w);
        unlink(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_matches_sim_trust_os),
        cmocka_unit_test(test_exec_matches_sim_two_level),
        cmocka_unit_test(test_exec_matches_sim_app_and_pagecache),
        cmocka_unit_test(test_exec_matches_sim_small_budget),
        cmocka_unit_test(test_exec_matches_sim_app_lru_direct),
        cmocka_unit_test(test_exec_output_dense),
        cmocka_unit_test(test_pcache_lru_budget),
        cmocka_unit_test(test_pcache_outside_reclaim),
        cmocka_unit_test(test_pcache_cgroup_budget),
        cmocka_unit_test(test_sim_prefetch_overlap),
        cmocka_unit_test(test_scope_token_vs_ffn),
        cmocka_unit_test(test_direct_many_batches),
        cmocka_unit_test(test_short_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
