/* Tests of the executor (bench/): the FFN kernel on hand-computed cases, the DRAM
 * manager against a dense FFN after many tokens of churn (real reads from a small file in
 * build/testtmp), the executor and the simulator seeing the same reads and evictions,
 * and the weights/run/validate commands. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_exec.h"
#include "lf_ffn.h"
#include "lf_fs.h"
#include "lf_half.h"
#include "lf_price.h"
#include "lf_replay.h"
#include "lf_test.h"
#include "lf_time.h"
#include "lf_validate.h"
#include "lf_weights.h"

/* ------------------------------------------------------------------ FFN kernel */

static void test_ffn_hand(void **st)
{
    (void)st;
    /* two ReLU units, d = 2: unit 0 up (1,2) down (3,4) bias -1; unit 1 up (-1,0) down
     * (5,5) bias 0. x = (1,1): h0 = relu(3-1) = 2, h1 = relu(-1) = 0 -> y = (6, 8). */
    float rows32[2][4] = {{1, 2, 3, 4}, {-1, 0, 5, 5}};
    float bias[2] = {-1, 0}, x[2] = {1, 1}, y[2];
    lf_ffn_shape s = {LF_ACT_RELU, LF_DTYPE_FP32, 2, 2, 2 * sizeof(float), 4 * sizeof(float)};
    lf_ffn_sparse(&s, rows32, bias, 2, x, y);
    assert_true(y[0] == 6.0f && y[1] == 8.0f);
    uint16_t rows16[2][4];
    for (int r = 0; r < 2; r++)
        lf_float_to_half_n(rows32[r], rows16[r], 4);
    s.dtype = LF_DTYPE_FP16;
    s.part_stride = 2 * 2;
    s.row_stride = 4 * 2;
    lf_ffn_sparse(&s, rows16, bias, 2, x, y);
    assert_true(y[0] == 6.0f && y[1] == 8.0f);
    setenv("LLMFLASH_FFN_PORTABLE", "1", 1); /* the portable fp16 path too */
    lf_ffn_sparse(&s, rows16, bias, 2, x, y);
    unsetenv("LLMFLASH_FFN_PORTABLE");
    assert_true(y[0] == 6.0f && y[1] == 8.0f);
    /* SwiGLU: gate (1,0), up (0,2), down (1,-1); x = (1,1): silu(1) * 2 = 2/(1+e^-1) */
    float sw[6] = {1, 0, 0, 2, 1, -1};
    lf_ffn_shape g = {LF_ACT_SWIGLU, LF_DTYPE_FP32, 2, 3, 2 * sizeof(float), 6 * sizeof(float)};
    lf_ffn_sparse(&g, sw, NULL, 1, x, y);
    assert_float_equal(y[0], 1.4621172, 1e-6);
    assert_float_equal(y[1], -1.4621172, 1e-6);
}

/* d = 37 (a vector tail), many rows: both kernel paths against a double-precision loop. */
static void test_ffn_vs_naive(void **st)
{
    (void)st;
    enum { D = 37, R = 50 };
    float rows[R][2 * D], bias[R], x[D], y[D];
    double want[D] = {0};
    uint32_t s = 1;
    for (int r = 0; r < R; r++) {
        for (int i = 0; i < 2 * D; i++) {
            s = s * 1664525u + 1013904223u;
            rows[r][i] = (float)((int32_t)s) / 2147483648.0f;
        }
        bias[r] = (r % 3) - 1.0f;
    }
    for (int i = 0; i < D; i++)
        x[i] = (float)(i % 5) - 2.0f;
    for (int r = 0; r < R; r++) {
        double h = bias[r];
        for (int k = 0; k < D; k++)
            h += (double)x[k] * rows[r][k];
        for (int i = 0; h > 0 && i < D; i++)
            want[i] += h * rows[r][D + i];
    }
    lf_ffn_shape sh = {LF_ACT_RELU, LF_DTYPE_FP32, D, 2, D * sizeof(float), 2 * D * sizeof(float)};
    for (int path = 0; path < 2; path++) { /* the CPU's path, then the portable one */
        if (path)
            setenv("LLMFLASH_FFN_PORTABLE", "1", 1);
        lf_ffn_sparse(&sh, rows, bias, R, x, y);
        for (int i = 0; i < D; i++)
            assert_float_equal(y[i], want[i], 1e-4);
    }
    assert_string_equal(lf_ffn_path(), "portable");
    unsetenv("LLMFLASH_FFN_PORTABLE");
    assert_float_equal(lf_ffn_flops(&sh, 10), 2.0 * 2 * D * 10, 0);
    double fl, by;
    lf_err err;
    lf_model m;
    assert_int_equal(lf_model_lookup("custom:1,256,1024", &m, &err), LF_OK);
    assert_int_equal(lf_ffn_measure(&m, LF_DTYPE_FP16, 64, 0.01, &fl, &by, &err), LF_OK);
    assert_true(fl > 1e6 && by > 1e6);
}

/* calibrate's gapped rows: each row followed by gap bytes the kernel skips, its bytes
 * counted without them (a rate per weight byte, as the packed rows'), and the kernel
 * over them computes what it computes over the same rows packed. */
static void test_ffn_gapped_bench(void **st)
{
    (void)st;
    lf_err err;
    lf_model m;
    assert_int_equal(lf_model_lookup("custom:1,256,1024", &m, &err), LF_OK);
    enum { R = 40, GAP = 4096 };
    lf_ffn_bench packed, gapped;
    assert_int_equal(lf_ffn_bench_sparse(&packed, &m, LF_DTYPE_FP16, R, &err), LF_OK);
    assert_int_equal(lf_ffn_bench_sparse_gapped(&gapped, &m, LF_DTYPE_FP16, R, GAP, &err), LF_OK);
    size_t row = packed.shape.row_stride;
    assert_int_equal(gapped.shape.row_stride, row + GAP);
    assert_true(lf_ffn_bytes(&gapped.shape, R) == lf_ffn_bytes(&packed.shape, R));
    /* the gapped bench's rows, packed, give the same output bit for bit */
    for (uint32_t r = 0; r < R; r++)
        memcpy((char *)packed.w + r * row, (char *)gapped.w + r * (row + GAP), row);
    lf_ffn_sparse(&packed.shape, packed.w, packed.bias, R, packed.x, packed.y);
    lf_ffn_sparse(&gapped.shape, gapped.w, gapped.bias, R, gapped.x, gapped.y);
    assert_memory_equal(packed.y, gapped.y, sizeof(float) * m.d_model);
    double fl, by;
    lf_ffn_bench_time(&gapped, 0.001, &fl, &by);
    assert_true(fl > 0 && by > 0);
    lf_ffn_bench_free(&packed);
    lf_ffn_bench_free(&gapped);
}

/* calibrate's shapes read one bench's weights: a view (sparse or dense) computes what a
 * bench of its own computes over the same bytes, frees nothing of the other's, and
 * refuses rows that would read past the weights. */
static void test_ffn_view_bench(void **st)
{
    (void)st;
    lf_err err;
    lf_model big, relu, swiglu;
    assert_int_equal(lf_model_lookup("custom:1,512,2048", &big, &err), LF_OK);
    assert_int_equal(lf_model_lookup("custom:1,256,1024", &relu, &err), LF_OK);
    assert_int_equal(lf_model_lookup("custom:1,128,512,swiglu", &swiglu, &err), LF_OK);
    lf_ffn_bench over, own, view;
    assert_int_equal(lf_ffn_bench_sparse(&over, &big, LF_DTYPE_FP16, 64, &err), LF_OK);
    /* 64 rows of 2 x 512 fp16 = 128 KiB: 128 ReLU rows of 256, or 170 SwiGLU rows of 128 */
    assert_int_equal(lf_ffn_bench_sparse(&own, &relu, LF_DTYPE_FP16, 128, &err), LF_OK);
    assert_int_equal(lf_ffn_bench_sparse_view(&view, &over, &relu, 128, &err), LF_OK);
    assert_ptr_equal(view.w, over.w);
    memcpy(own.w, over.w, own.shape.row_stride * 128);
    lf_ffn_sparse(&own.shape, own.w, own.bias, 128, own.x, own.y);
    lf_ffn_sparse(&view.shape, view.w, view.bias, 128, view.x, view.y);
    assert_memory_equal(own.y, view.y, sizeof(float) * relu.d_model);
    double fl, by;
    lf_ffn_bench_time(&view, 0.001, &fl, &by);
    assert_true(fl > 0 && by > 0);
    lf_ffn_bench_free(&view); /* leaves over's weights */
    assert_int_equal(lf_ffn_bench_sparse_view(&view, &over, &swiglu, 170, &err), LF_OK);
    lf_ffn_bench_free(&view);
    assert_int_equal(lf_ffn_bench_sparse_view(&view, &over, &swiglu, 171, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "do not fit"));
    /* a dense view: over's 128 KiB as whole rows of 384 columns (170 of them), the
     * product a matrix of its own computes over the same bytes */
    lf_ffn_bench dense, dview;
    assert_int_equal(lf_ffn_bench_dense_view(&dview, &over, 384, &err), LF_OK);
    assert_int_equal(dview.rows, 170);
    assert_int_equal(lf_ffn_bench_dense(&dense, LF_DTYPE_FP16, 170, 384, &err), LF_OK);
    memcpy(dense.w, over.w, (size_t)170 * 384 * 2);
    lf_ffn_matvec(LF_DTYPE_FP16, dense.w, 170, 384, dview.x, dense.y);
    lf_ffn_matvec(LF_DTYPE_FP16, dview.w, 170, 384, dview.x, dview.y);
    assert_memory_equal(dense.y, dview.y, sizeof(float) * 170);
    lf_ffn_bench_free(&dview);
    lf_ffn_bench_free(&dense);
    assert_int_equal(lf_ffn_bench_dense_view(&dview, &over, 70000, &err), LF_EINVAL);
    lf_ffn_bench_free(&own);
    lf_ffn_bench_free(&over); /* ASan: freed once */
}

/* ------------------------------------------------------------------ traces, policy */

#define L_LAYERS 3
#define D_MODEL 64
#define UNITS 256

/* A trace with churn: each token needs ~24 units per layer, half of them from a hot set. */
static void make_trace(lf_trace *t, const char *model, uint32_t n_tok, uint32_t seed)
{
    lf_err err;
    lf_model m;
    assert_int_equal(lf_model_lookup(model, &m, &err), LF_OK);
    assert_int_equal(lf_trace_init(t, &m, 2, 0, 0, &err), LF_OK);
    uint32_t s = seed;
    for (uint32_t tok = 0; tok < n_tok; tok++) {
        for (uint32_t l = 0; l < m.n_layers; l++) {
            uint8_t on[UNITS] = {0};
            for (int k = 0; k < 24; k++) {
                s = s * 1664525u + 1013904223u;
                uint32_t u = (s >> 8) % (k < 12 ? 40 : m.d_ff);
                on[u] = 1;
            }
            uint32_t ids[UNITS], n = 0;
            for (uint32_t u = 0; u < m.d_ff; u++)
                if (on[u])
                    ids[n++] = u;
            assert_int_equal(lf_trace_append_layer(t, l, ids, n, NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(t, (int32_t)tok, &err), LF_OK);
    }
}

/* A window policy (keep the units wanted in the last k tokens), local to the tests. */
typedef struct {
    uint32_t k, units;
    int64_t *last;  /* layers*units: last token wanting the unit, -1 never */
    uint8_t *res;   /* layers*units: resident */
} tw_state;

static int tw_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                   uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)err;
    tw_state *s = p->state;
    int64_t *last = s->last + (size_t)layer * s->units;
    uint8_t *res = s->res + (size_t)layer * s->units;
    for (uint32_t i = 0; i < n_want; i++)
        last[want[i]] = token;
    plan->n_evict = plan->n_load = plan->n_hit = plan->n_resident = 0;
    for (uint32_t u = 0; u < s->units; u++) {
        if (res[u] && (int64_t)token - last[u] >= (int64_t)s->k) {
            res[u] = 0;
            plan->evict[plan->n_evict++] = u;
        }
    }
    for (uint32_t i = 0; i < n_want; i++) {
        if (res[want[i]])
            plan->n_hit++;
        else {
            res[want[i]] = 1;
            plan->load[plan->n_load++] = want[i];
        }
    }
    for (uint32_t u = 0; u < s->units; u++)
        plan->n_resident += res[u];
    return LF_OK;
}

static void tw_destroy(lf_policy *p)
{
    tw_state *s = p->state;
    free(s->last);
    free(s->res);
}

static int tw_init(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    tw_state *s = p->state;
    uint64_t k;
    int rc = lf_kv_u64(kv, "k", 1, &k, err);
    if (rc)
        return rc;
    s->k = (uint32_t)k;
    s->units = ctx->units;
    s->last = malloc(sizeof(int64_t) * ctx->n_layers * ctx->units);
    s->res = calloc((size_t)ctx->n_layers * ctx->units, 1);
    if (!s->last || !s->res)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)ctx->n_layers * ctx->units; i++)
        s->last[i] = -1000;
    return LF_OK;
}

static const lf_policy_desc tw_desc = {
    .name = "test-window",
    .keys = (const lf_policy_key[]){{"k", "window"}, {NULL, NULL}},
    .state_size = sizeof(tw_state),
    .create = tw_init,
    .step = tw_step,
    .destroy = tw_destroy,
};

static lf_policy *tw_create(uint32_t k, uint32_t layers, uint32_t units)
{
    lf_policy_ctx ctx = {.n_layers = layers, .units = units};
    char params[32];
    snprintf(params, sizeof params, "k=%u", k);
    lf_policy *p = NULL;
    lf_err err;
    if (lf_policy_new(&tw_desc, params, &ctx, &p, &err))
        fail_msg("%s", err.msg);
    return p;
}

static void tw_free(lf_policy *p)
{
    lf_policy_free(p);
}

/* ------------------------------------------------------------------ executor */

/* Wraps a backend: records every step's counts, and for the executor compares its
 * output with a dense FFN over the resident set computed from generated values. */
typedef struct {
    lf_backend *inner;
    lf_exec *exec;            /* NULL for the simulator */
    const lf_weights *w;
    uint64_t steps, reads, bytes, evictions, moves, offsets_sum, loads, token_ends;
    double max_err;
    uint64_t compared;
} probe_state;

static int probe_token_end(lf_backend *b, uint32_t token, lf_times *out, lf_err *err)
{
    probe_state *p = b->state;
    p->token_ends++;
    return p->inner->token_end ? p->inner->token_end(p->inner, token, out, err) : LF_OK;
}

static int probe_layer(lf_backend *b, const lf_step *s, lf_times *out, lf_err *err)
{
    probe_state *p = b->state;
    int rc = p->inner->layer(p->inner, s, out, err);
    if (rc)
        return rc;
    p->steps++;
    p->reads += s->n_reads;
    p->bytes += s->bytes_read;
    p->evictions += s->plan->n_evict;
    p->loads += s->plan->n_load;
    p->moves += s->n_moves;
    for (uint32_t i = 0; i < s->n_reads; i++)
        p->offsets_sum += s->reads[i].offset * (i + 1);
    if (!p->exec)
        return LF_OK;
    /* dense reference: sorted resident ids, double precision, generated values */
    const lf_weights_header *h = &p->w->h;
    uint32_t d = h->d_model, n = s->slots->num_used;
    const float *x = lf_exec_last_input(p->exec), *y = lf_exec_last_output(p->exec);
    float up[D_MODEL], down[D_MODEL];
    double ref[D_MODEL] = {0};
    uint32_t seen = 0;
    for (uint32_t u = 0; u < h->units; u++) {
        if (!lf_slots_has(s->slots, u))
            continue;
        seen++;
        lf_weights_values(h, s->layer, u, 0, up);
        lf_weights_values(h, s->layer, u, 1, down);
        double a = lf_weights_bias(h, s->layer, u);
        for (uint32_t i = 0; i < d; i++)
            a += (double)x[i] * up[i];
        if (a > 0)
            for (uint32_t i = 0; i < d; i++)
                ref[i] += a * down[i];
    }
    assert_int_equal(seen, n);
    for (uint32_t i = 0; i < d; i++) {
        double e = fabs(ref[i] - y[i]) / (1.0 + fabs(ref[i]));
        if (e > p->max_err)
            p->max_err = e;
    }
    p->compared++;
    return LF_OK;
}

static void probe_init(lf_backend *b, probe_state *p, lf_backend *inner, lf_exec *e,
                       const lf_weights *w)
{
    memset(p, 0, sizeof *p);
    p->inner = inner;
    p->exec = e;
    p->w = w;
    memset(b, 0, sizeof *b);
    b->state = p;
    b->layer = probe_layer;
    b->token_end = probe_token_end;
}

typedef struct {
    lf_layout_kind kind;
    lf_dtype dt;
    lf_dram_strategy dram;
    uint64_t max_gap, max_read;
    const char *engine;
} exec_case;

static void run_case(const exec_case *c, const lf_trace *t, const lf_trace *prof)
{
    lf_err err;
    lf_model shape;
    assert_int_equal(lf_model_lookup("custom:3,64,256", &shape, &err), LF_OK);
    lf_weights_spec spec = {&shape, c->kind, c->dt, 0, 4096, 42, prof, 0};
    const char *p = lf_test_path("ex.w");
    assert_int_equal(lf_weights_make(p, &spec, &err), LF_OK);
    lf_weights w;
    assert_int_equal(lf_weights_open(p, &w, &err), LF_OK);
    assert_int_equal(lf_weights_check_trace(&w, t, &err), LF_OK);
    lf_model m = w.model;
    uint32_t n_tok = t->n_tokens;
    lf_token_row *rows_e = calloc(n_tok, sizeof *rows_e), *rows_s = calloc(n_tok, sizeof *rows_s);

    /* executor */
    /* the whole token: attention, norms and head around the FFN stream */
    lf_exec_cfg ecfg = {&w, c->engine, 4, c->dram, 3, 9, LF_SCOPE_TOKEN, n_tok};
    lf_exec *e;
    int rc = lf_exec_create(&ecfg, &e, &err);
    if (rc == LF_EUNSUP) { /* no O_DIRECT here: buffered reads the same bytes */
        ecfg.engine = "buffered";
        rc = lf_exec_create(&ecfg, &e, &err);
    }
    assert_int_equal(rc, LF_OK);
    lf_backend eb, pb;
    lf_exec_backend(&eb, e);
    probe_state pe;
    probe_init(&pb, &pe, &eb, strcmp(c->engine, "null") ? e : NULL, &w);
    lf_policy *pol = tw_create(3, 3, UNITS);
    lf_replay_cfg rcfg;
    memset(&rcfg, 0, sizeof rcfg);
    rcfg.trace = t;
    rcfg.model = &m;
    rcfg.dtype_bytes = lf_dtype_bytes(c->dt);
    rcfg.policy = pol;
    rcfg.layout = &w.layout;
    rcfg.reader = (lf_reader_cfg){c->max_gap, c->max_read, 4};
    rcfg.dram = c->dram;
    rcfg.quiet = 1;
    rc = lf_replay(&rcfg, &pb, rows_e, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, LF_OK);
    tw_free(pol);
    lf_exec_stats es;
    lf_exec_stats_get(e, &es);
    lf_exec_free(e);

    /* simulator, same plan */
    lf_device dev = lf_test_toy_device();
    lf_backend sb;
    lf_price sbs;
    lf_price_backend(&sb, &sbs, &dev, &m, lf_dtype_bytes(c->dt), 4);
    probe_state ps;
    lf_backend pb2;
    probe_init(&pb2, &ps, &sb, NULL, &w);
    pol = tw_create(3, 3, UNITS);
    rcfg.policy = pol;
    assert_int_equal(lf_replay(&rcfg, &pb2, rows_s, &err), LF_OK);
    tw_free(pol);

    /* same decisions, reads and bytes */
    assert_int_equal(pe.steps, ps.steps);
    assert_int_equal(pe.reads, ps.reads);
    assert_int_equal(pe.bytes, ps.bytes);
    assert_int_equal(pe.evictions, ps.evictions);
    assert_int_equal(pe.moves, ps.moves);
    assert_int_equal(pe.offsets_sum, ps.offsets_sum);
    assert_int_equal(pe.token_ends, n_tok);
    assert_int_equal(ps.token_ends, n_tok);
    assert_true(es.attn_s > 0 && es.resident_bytes > 0);
    assert_true(pe.loads > 200 && pe.evictions > 100); /* real churn */
    for (uint32_t i = 0; i < n_tok; i++) {
        assert_int_equal(rows_e[i].reads, rows_s[i].reads);
        assert_int_equal(rows_e[i].bytes_read, rows_s[i].bytes_read);
        assert_int_equal(rows_e[i].evictions, rows_s[i].evictions);
        assert_int_equal(rows_e[i].resident_units, rows_s[i].resident_units);
    }
    assert_int_equal(es.reads, pe.reads);
    assert_int_equal(es.bytes_read, pe.bytes);
    if (c->max_gap)
        assert_true(es.staged_reads > 0);
    if (c->kind != LF_LAYOUT_COACT && c->max_read == 0)
        assert_int_equal(es.staged_reads, 0);
    /* the rows the manager holds compute what a dense FFN over the resident set gives */
    if (pe.exec) {
        assert_int_equal(pe.compared, (uint64_t)n_tok * 3);
        assert_true(pe.max_err < (c->dt == LF_DTYPE_FP16 ? 1e-4 : 1e-5));
    }
    free(rows_e);
    free(rows_s);
    lf_weights_close(&w);
}

static void test_exec_matches_dense_and_sim(void **st)
{
    (void)st;
    lf_trace t, prof;
    make_trace(&t, "custom:3,64,256", 60, 11);
    make_trace(&prof, "custom:3,64,256", 30, 3);
    const exec_case cases[] = {
        {LF_LAYOUT_BUNDLED, LF_DTYPE_FP16, LF_DRAM_PREALLOC, 0, 0, "psync"},
        {LF_LAYOUT_BUNDLED, LF_DTYPE_FP32, LF_DRAM_REALLOC, 0, 1 << 20, "psync"},
        {LF_LAYOUT_SPLIT, LF_DTYPE_FP16, LF_DRAM_PREALLOC, 3 * 4096, 64 * 1024, "psync"},
        {LF_LAYOUT_COACT, LF_DTYPE_FP16, LF_DRAM_PREALLOC, 0, 0, "psync"},
        {LF_LAYOUT_BUNDLED, LF_DTYPE_FP16, LF_DRAM_PREALLOC, 0, 0, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], &t, &prof);
    lf_trace_free(&t);
    lf_trace_free(&prof);
}


/* ------------------------------------------------------------------ the commands */

/* lf_test_toy_device as a profile file, for sim beside run. */
static void write_toy_device(const char *path)
{
    lf_device d = lf_test_toy_device();
    lf_err err;
    assert_int_equal(lf_device_save(&d, path, "tests", "lf_test_toy_device", &err), LF_OK);
}

/* make_trace's trace written to `trace`, and lf_test_toy_device to `device`: the inputs
 * of a sim beside a run. */
static void write_trace_and_device(const char *model, uint32_t n_tok, uint32_t seed,
                                   const char *trace, const char *device)
{
    lf_trace t;
    lf_err err;
    make_trace(&t, model, n_tok, seed);
    assert_int_equal(lf_trace_write(&t, trace, &err), LF_OK);
    lf_trace_free(&t);
    write_toy_device(device);
}

static void test_commands(void **st)
{
    (void)st;
    char *out, *er;
    lf_trace t;
    lf_err err;
    make_trace(&t, "custom:3,64,256", 24, 17);
    char tr[1200], wb[1200], ws[1200], wo[1200], r1[1200], g[1200], dev[1200], vd[1200];
    snprintf(tr, sizeof tr, "%s", lf_test_path("cmd.h5"));
    snprintf(wb, sizeof wb, "%s", lf_test_path("cmd-b.w"));
    snprintf(ws, sizeof ws, "%s", lf_test_path("cmd-s.w"));
    snprintf(wo, sizeof wo, "%s", lf_test_path("cmd-other.w"));
    snprintf(r1, sizeof r1, "%s", lf_test_path("r1"));
    snprintf(g, sizeof g, "%s", lf_test_path("grid.conf"));
    snprintf(dev, sizeof dev, "%s", lf_test_path("dev.conf"));
    snprintf(vd, sizeof vd, "%s", lf_test_path("val"));
    assert_int_equal(lf_trace_write(&t, tr, &err), LF_OK);
    lf_trace_free(&t);
    /* usage errors and help */
    assert_int_equal(lf_test_run(NULL, &er, "weights make --model custom:3,64,256"), 2);
    assert_non_null(strstr(er, "--file"));
    free(er);
    assert_int_equal(lf_test_run(NULL, &er, "weights make --bogus"), 2);
    free(er);
    /* an alignment beyond a huge page pads every record to it: 1g made 65 GB of a 2 MB model */
    assert_int_equal(lf_test_run(NULL, &er, "weights make --model custom:1,64,64 --alignment 1g "
                                 "--file %s", wb), 2);
    assert_non_null(strstr(er, "--alignment '1g'"));
    assert_false(lf_file_exists(wb));
    free(er);
    assert_int_equal(lf_test_run(&out, NULL, "run --help"), 0);
    assert_non_null(strstr(out, "example"));
    free(out);
    assert_int_equal(lf_test_run(&out, NULL, "validate --help"), 0);
    free(out);
    /* make both layouts; info verifies records against the seed */
    assert_int_equal(lf_test_run(&out, &er, "weights make --model custom:3,64,256 --file %s", wb), 0);
    assert_non_null(strstr(out, "bundled, fp16, 3 layers"));
    free(out), free(er);
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:3,64,256 --layout split "
                                 "--dtype fp32 --seed 5 --file %s", ws), 0);
    assert_int_equal(lf_test_run(&out, NULL, "weights info %s --trace %s --verify 9", ws, tr), 0);
    assert_non_null(strstr(out, "verified      9 records"));
    assert_non_null(strstr(out, "split, dtype fp32"));
    free(out);
    /* a damaged record is found and named; with seed 0, the mark of a checkpoint's
     * values, the message says that --verify cannot check those */
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:1,64,64 --dtype fp32 "
                                 "--seed 0 --file %s", wo), 0);
    {
        FILE *f = fopen(wo, "r+b");
        assert_non_null(f);
        unsigned char junk[64];
        memset(junk, 0x7f, sizeof junk);
        assert_int_equal(fseek(f, 4096, SEEK_SET), 0); /* the first record */
        assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
        fclose(f);
    }
    assert_int_equal(lf_test_run(NULL, &er, "weights info %s --verify 4", wo), 1);
    assert_non_null(strstr(er, "the data is damaged"));
    assert_non_null(strstr(er, "--verify checks only seeded files"));
    free(er);
    /* run: refuses a file of another model, or another layout than asked */
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:3,32,256 --file %s", wo), 0);
    assert_int_equal(lf_test_run(NULL, &er, "run --trace %s --weights %s --out %s", tr, wo,
                                 lf_test_path("r0")), 1);
    assert_non_null(strstr(er, "d_model 32 (file) vs 64 (trace)"));
    free(er);
    assert_int_equal(lf_test_run(NULL, &er, "run --trace %s --weights %s --layout split --out %s",
                                 tr, wb, lf_test_path("r0")), 1);
    assert_non_null(strstr(er, "holds the bundled layout, not split"));
    free(er);
    /* a measured run writes the simulator's folder layout */
    assert_int_equal(lf_test_run(&out, &er, "run --trace %s --weights %s --policy window:k=3 "
                                 "--threads 4 --dram-fraction 0.95 --predictor-rank 4 --out %s", tr, wb, r1), 0);
    assert_non_null(strstr(out, "max RSS"));
    free(out), free(er);
    char p[2048];
    const char *files[] = {"config.conf", "meta.json", "tokens.csv", "summary.csv", "done"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", r1, files[i]);
        assert_true(lf_file_exists(p));
    }
    /* one scope: a sim of the same options compares with the run; an FFN-only run is
     * refused, naming both scopes */
    write_toy_device(dev);
    char s1[1200], r2[1200];
    snprintf(s1, sizeof s1, "%s", lf_test_path("s1"));
    snprintf(r2, sizeof r2, "%s", lf_test_path("r2"));
    assert_int_equal(lf_test_run(NULL, NULL, "sim --trace %s --device %s --policy window:k=3 "
                                 "--threads 4 --dram-fraction 0.95 --predictor-rank 4 --quiet "
                                 "--out %s", tr, dev, s1), 0);
    assert_int_equal(lf_test_run(&out, &er, "validate --compare %s %s", s1, r1), 0);
    assert_non_null(strstr(out, "scope token"));
    free(out), free(er);
    /* a damaged summary (mean_total_ms, the 10th column, made nan) and an unfinished
     * folder (no done marker) are refused, naming the file or the folder and the fix */
    char s3[1200], cmd[4000];
    snprintf(s3, sizeof s3, "%s", lf_test_path("s3"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && sed -i "
             "'2s/^\\(\\([^,]*,\\)\\{9\\}\\)[^,]*/\\1nan/' '%s/summary.csv'", s3, s1, s3, s3);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(lf_test_run(NULL, &er, "validate --compare %s %s", s3, r1), 1);
    assert_non_null(strstr(er, "mean_total_ms = 'nan' is not a time above 0"));
    assert_non_null(strstr(er, "rerun"));
    free(er);
    snprintf(p, sizeof p, "%s/done", s3);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(lf_test_run(NULL, &er, "validate --compare %s %s", r1, s3), 1);
    assert_non_null(strstr(er, "no 'done' marker"));
    free(er);
    assert_int_equal(lf_test_run(NULL, NULL, "run --trace %s --weights %s --policy window:k=3 "
                                 "--threads 4 --dram-fraction 0.95 --predictor-rank 4 --scope ffn "
                                 "--quiet --out %s", tr, wb, r2), 0);
    snprintf(p, sizeof p, "%s/config.conf", r2);
    char *conf = NULL;
    size_t conf_len;
    assert_int_equal(lf_read_file(p, &conf, &conf_len, &err), LF_OK);
    assert_non_null(strstr(conf, "scope = ffn"));
    free(conf);
    assert_int_equal(lf_test_run(NULL, &er, "validate --compare %s %s", s1, r2), 1);
    assert_non_null(strstr(er, "scope 'token'"));
    assert_non_null(strstr(er, "scope 'ffn'"));
    free(er);
    assert_int_equal(lf_test_run(NULL, &er, "run --trace %s --weights %s --scope layer --out %s",
                                 tr, wb, r2), 2);
    assert_non_null(strstr(er, "expected token"));
    free(er);
    assert_int_equal(lf_test_run(NULL, &er, "sim --trace %s --device %s --scope x --out %s", tr,
                                 dev, s1), 2);
    free(er);
    /* validate: a two-configuration grid; its sim and run folders agree on the plan */
    const char *gtext = "policy = window:k=2 | lru\nlayout = split\ndram_fraction = 0.95\n"
                        "threads = 4\nmax_read = 64k\nmax_gap = 8k\npredictor_rank = 4\n";
    lf_test_write(g, gtext, strlen(gtext));
    int rc = lf_test_run(&out, &er, "validate --trace %s --weights %s --weights %s --device %s "
                         "--grid %s --repeat 2 --out %s", tr, wb, ws, dev, g, vd);
    if (rc)
        fprintf(stderr, "%s%s", out, er);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "MdAPE"));
    assert_non_null(strstr(out, "c02  lru"));
    free(out), free(er);
    const char *cols[] = {"bytes_read", "reads", "loads", "evictions", "hits", "resident_units"};
    for (int c = 0; c < 2; c++) {
        for (int k = 0; k < 6; k++) {
            char a[2048], b[2048];
            snprintf(a, sizeof a, "%s/c0%d-sim/tokens.csv", vd, c + 1);
            snprintf(b, sizeof b, "%s/c0%d-run/tokens.csv", vd, c + 1);
            char *x = lf_test_csv_column(a, cols[k]), *y = lf_test_csv_column(b, cols[k]);
            assert_non_null(x);
            assert_non_null(y);
            assert_string_equal(x, y);
            free(x), free(y);
        }
    }
    /* one writer: `run` and validate's measured folders say the same about the
     * measurement (lf_measure_run's extras), simulated folders none of it */
    const char *keys[] = {"\"engine\"", "\"weights\"", "\"weights_seed\"",
                          "\"ffn_kernel\"", "\"dram_manager_bytes\"", "\"ffn_budget_bytes\"",
                          "\"direct_reads\"", "\"staged_reads\"", "\"read_gb_per_s\"",
                          "\"output_checksum\"", "\"policy_counters\":{"};
    char m1[2048], m2[2048], m3[2048];
    snprintf(m1, sizeof m1, "%s/meta.json", r1);
    snprintf(m2, sizeof m2, "%s/c01-run/meta.json", vd);
    snprintf(m3, sizeof m3, "%s/c01-sim/meta.json", vd);
    char *j1 = lf_test_slurp(m1), *j2 = lf_test_slurp(m2), *j3 = lf_test_slurp(m3);
    assert_true(j1 && j2 && j3);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        assert_non_null(strstr(j1, keys[k]));
        assert_non_null(strstr(j2, keys[k]));
        if (k + 1 < sizeof keys / sizeof keys[0])
            assert_null(strstr(j3, keys[k]));
    }
    assert_non_null(strstr(j1, "\"mode\":\"run\""));
    assert_non_null(strstr(j2, "\"mode\":\"run\""));
    assert_non_null(strstr(j3, "\"mode\":\"sim\""));
    assert_non_null(strstr(j1, "\"max_rss_bytes\"")); /* the CLI's own */
    assert_non_null(strstr(j2, "\"repeats\":\"2\"")); /* validate's own */
    assert_null(strstr(j2, "\"data_path\":\"\"")); /* names the weights file */
    free(j1), free(j2), free(j3);
    snprintf(p, sizeof p, "%s/validate.csv", vd);
    char *errs = lf_test_csv_column(p, "error_pct");
    assert_non_null(errs);
    free(errs);
    /* the cold start's own spread over the 2 repeats: its median between its min and
     * max, the spread and the flag computed from them */
    snprintf(p, sizeof p, "%s/validate_cold.csv", vd);
    const char *cold_names[] = {"measured_ms", "measured_min_ms", "measured_max_ms",
                                "spread_pct", "noisy", "samples"};
    double cv[6][2];
    for (int k = 0; k < 6; k++)
        for (int row = 0; row < 2; row++)
            cv[k][row] = lf_test_csv_value(p, cold_names[k], row);
    for (int row = 0; row < 2; row++) {
        assert_true(cv[1][row] > 0 && cv[1][row] <= cv[0][row] && cv[0][row] <= cv[2][row]);
        assert_true(fabs(cv[0][row] - 0.5 * (cv[1][row] + cv[2][row])) < 1e-5);
        double spread = 100.0 * (cv[2][row] - cv[1][row]) / cv[0][row];
        assert_true(fabs(cv[3][row] - spread) < 0.01);
        assert_true(cv[4][row] == (cv[3][row] > 5.0));
        assert_true(cv[5][row] == 2);
    }
    /* a one-configuration grid in the same folder: the earlier c02 folders go */
    const char *g1 = "policy = lru\nlayout = split\ndram_fraction = 0.95\nthreads = 4\n"
                     "predictor_rank = 4\n";
    lf_test_write(g, g1, strlen(g1));
    assert_int_equal(lf_test_run(NULL, NULL, "validate --trace %s --weights %s --device %s "
                                 "--grid %s --repeat 1 --out %s", tr, ws, dev, g, vd), 0);
    snprintf(p, sizeof p, "%s/c02-sim", vd);
    assert_false(lf_file_exists(p));
    snprintf(p, sizeof p, "%s/c01-run/done", vd);
    assert_true(lf_file_exists(p));
    /* three cold-start samples of the one repeat: three measurements (their min and max
     * differ), their median between them */
    assert_int_equal(lf_test_run(&out, NULL, "validate --trace %s --weights %s --device %s "
                                 "--grid %s --repeat 1 --cold-samples 3 --out %s", tr, ws, dev,
                                 g, vd), 0);
    assert_non_null(strstr(out, "median of 3 samples"));
    free(out);
    snprintf(p, sizeof p, "%s/validate_cold.csv", vd);
    const char *three_names[] = {"samples", "measured_min_ms", "measured_ms", "measured_max_ms"};
    double three[4];
    for (int k = 0; k < 4; k++)
        three[k] = lf_test_csv_value(p, three_names[k], 0);
    assert_true(three[0] == 3);
    assert_true(three[1] < three[3] && three[1] <= three[2] && three[2] <= three[3]);
    for (int bad = 0; bad < 2; bad++) {
        assert_int_equal(lf_test_run(NULL, &er, "validate --trace %s --weights %s --device %s "
                                     "--grid %s --cold-samples %d --out %s", tr, ws, dev, g,
                                     bad ? 9 : 0, vd), 2);
        assert_non_null(strstr(er, "--cold-samples"));
        free(er);
    }
    /* a configuration without its weights file is refused before anything is written */
    const char *gb = "policy = lru\nlayout = bundled | split\ndram_fraction = 0.95\n"
                     "predictor_rank = 4\n";
    lf_test_write(g, gb, strlen(gb));
    char vd3[1200];
    snprintf(vd3, sizeof vd3, "%s", lf_test_path("val3"));
    assert_int_equal(lf_test_run(NULL, &er, "validate --trace %s --weights %s --device %s "
                                 "--grid %s --out %s", tr, wb, dev, g, vd3), 1);
    assert_non_null(strstr(er, "no --weights file has it"));
    assert_false(lf_file_exists(vd3));
    free(er);
    /* so is an unknown policy or engine in a later configuration, or two DRAM budgets */
    const char *gbad[][2] = {
        {"policy = lru | nope\nlayout = bundled\npredictor_rank = 4\n", "unknown policy 'nope'"},
        {"policy = lru\nengine = psync | foo\npredictor_rank = 4\n", "unknown I/O engine 'foo'"},
        {"policy = lru\ndram_fraction = 0.9\ndram_bytes = 1m\n", "both dram_bytes and dram_fraction"}};
    for (size_t i = 0; i < sizeof gbad / sizeof *gbad; i++) {
        lf_test_write(g, gbad[i][0], strlen(gbad[i][0]));
        lf_test_expect(1, gbad[i][1], "validate --trace %s --weights %s --device %s --grid %s "
                       "--out %s", tr, wb, dev, g, vd3);
        assert_false(lf_file_exists(vd3));
    }
    /* a budget in bytes: the row's DRAM fraction is the one the runs had, not the default */
    const char *gbytes = "policy = lru\nlayout = bundled\ndram_bytes = 1g\npredictor_rank = 4\n"
                         "scope = ffn\n";
    lf_test_write(g, gbytes, strlen(gbytes));
    lf_test_expect(0, NULL, "validate --trace %s --weights %s --device %s --grid %s --repeat 1 "
                   "--out %s", tr, wb, dev, g, vd3);
    snprintf(p, sizeof p, "%s/validate.csv", vd3);
    double frac = lf_test_csv_value(p, "dram_fraction", 0);
    snprintf(p, sizeof p, "%s/c01-sim/config.conf", vd3);
    char *cc;
    size_t cc_len;
    assert_int_equal(lf_read_file(p, &cc, &cc_len, &err), LF_OK);
    const char *at = strstr(cc, "\ndram_fraction = ");
    assert_non_null(at);
    double ran = strtod(at + strlen("\ndram_fraction = "), NULL);
    assert_non_null(strstr(cc, "\ndram_bytes = 1073741824\n"));
    free(cc);
    assert_true(ran > 1); /* 1 GiB is more than this small model */
    if (fabs(frac - ran) > 1e-3 * ran)
        fail_msg("validate.csv dram_fraction %g, the runs' %g", frac, ran);
    /* per-engine profiles: a run with the null engine is priced with the null= profile */
    char dev2[1200], vd2[1200];
    snprintf(dev2, sizeof dev2, "%s", lf_test_path("dev2.conf"));
    snprintf(vd2, sizeof vd2, "%s", lf_test_path("val2"));
    const char *d2 = "name = toy2\nflash_latency_s = 1e-3\nflash_stream_bw = 1e9\n"
                     "flash_max_bw = 4e9\nflash_max_iops = 1e5\ndram_copy_bw = 1e10\n"
                     "dram_op_s = 1e-7\ncompute_flops = 1e10\nmem_bw = 1e10\n";
    lf_test_write(dev2, d2, strlen(d2));
    const char *g2 = "policy = lru\nengine = null | psync\ndram_fraction = 0.95\nthreads = 4\n"
                     "predictor_rank = 4\nscope = ffn\n";
    lf_test_write(g, g2, strlen(g2));
    rc = lf_test_run(&out, &er, "validate --trace %s --weights %s --device %s --device null=%s "
                     "--grid %s --repeat 1 --out %s", tr, wb, dev, dev2, g, vd2);
    if (rc)
        fprintf(stderr, "%s%s", out, er);
    assert_int_equal(rc, 0);
    free(out), free(er);
    snprintf(p, sizeof p, "%s/validate.csv", vd2);
    char *devs = lf_test_csv_column(p, "device"), *scopes = lf_test_csv_column(p, "scope");
    assert_non_null(devs);
    assert_non_null(strstr(devs, "toy2"));
    assert_non_null(strstr(devs, "toy"));
    assert_non_null(strstr(scopes, "ffn"));
    free(devs), free(scopes);
    snprintf(p, sizeof p, "%s/validate_cold.csv", vd2);
    char *cold = lf_test_csv_column(p, "error_pct");
    assert_non_null(cold);
    free(cold);
    /* drift references: measured next to the run (a real probe of the weights file and
     * the dense kernel), and the normalised prediction prices the flash and compute terms
     * at those speeds; without the option the factors are 1 and nothing is measured. The
     * run waits --drift-settle seconds after its references (the command takes at least
     * that long). */
    const char *g3 = "policy = lru\nengine = psync\ndram_fraction = 0.95\nthreads = 4\n"
                     "predictor_rank = 4\nscope = token\n";
    lf_test_write(g, g3, strlen(g3));
    double token_compute = 0, token_resident = 0;
    for (int drift = 0; drift < 2; drift++) {
        double t0 = lf_now();
        rc = lf_test_run(&out, &er, "validate --trace %s --weights %s --device %s --grid %s "
                         "--repeat 1 --out %s%s", tr, wb, dev, g, vd2,
                         drift ? " --drift-refs --drift-settle 1.5" : "");
        if (rc)
            fprintf(stderr, "%s%s", out, er);
        assert_int_equal(rc, 0);
        if (drift)
            assert_true(lf_now() - t0 >= 1.5);
        assert_true((strstr(out, "drift-normalised") != NULL) == drift);
        free(out), free(er);
        snprintf(p, sizeof p, "%s/validate.csv", vd2);
        /* the compute in two parts, each at its kernel's speed: the resident part (the
         * token end's attention, norms and head) at the dense reference's, the FFN at
         * the sparse one's */
        const char *names[] = {"drift_measured", "io_drift", "cpu_drift", "predicted_ms",
                               "predicted_io_ms", "predicted_compute_ms", "predicted_norm_ms",
                               "ffn_drift", "predicted_resident_ms"};
        double v[9];
        for (int k = 0; k < 9; k++)
            v[k] = lf_test_csv_value(p, names[k], 0);
        assert_true(v[0] == drift);
        assert_true(v[1] > 0 && v[2] > 0 && v[7] > 0);
        assert_true(v[8] > 0 && v[8] < v[5]); /* scope token: a resident part, and an FFN */
        if (!drift)
            assert_true(v[1] == 1 && v[2] == 1 && v[7] == 1 && fabs(v[6] - v[3]) < 1e-3);
        else
            assert_true(v[1] != 1 && v[2] != 1 && v[7] != 1); /* measured, not placeholders */
        double want = v[3] - v[4] - v[5] + v[4] / v[1] + v[8] / v[2] + (v[5] - v[8]) / v[7];
        assert_true(fabs(v[6] - want) < 1e-3 * (1 + want));
        token_compute = v[5];
        token_resident = v[8];
    }
    /* the resident part is what scope token adds to the FFN's compute */
    const char *g4 = "policy = lru\nengine = psync\ndram_fraction = 0.95\nthreads = 4\n"
                     "predictor_rank = 4\nscope = ffn\n";
    lf_test_write(g, g4, strlen(g4));
    rc = lf_test_run(&out, &er, "validate --trace %s --weights %s --device %s --grid %s "
                     "--repeat 1 --out %s", tr, wb, dev, g, vd2);
    assert_int_equal(rc, 0);
    free(out), free(er);
    char *ffn_c = lf_test_csv_column(p, "predicted_compute_ms"), *ffn_r = lf_test_csv_column(p, "predicted_resident_ms");
    assert_true(strtod(ffn_r, NULL) == 0);
    double resident = token_compute - strtod(ffn_c, NULL);
    assert_true(resident > 0);
    assert_true(fabs(token_resident - resident) < 1e-3 * (1 + resident));
    free(ffn_c), free(ffn_r);
    assert_int_equal(lf_test_run(NULL, &er, "validate --trace %s --weights %s --device %s "
                                 "--grid %s --scope ffn-ish --out %s", tr, wb, dev, g, vd2), 2);
    assert_non_null(strstr(er, "expected token"));
    free(er);
    /* an unknown grid key is refused with the valid ones listed */
    lf_test_write(g, "polcy = lru\n", 12);
    assert_int_equal(lf_test_run(NULL, &er, "validate --trace %s --weights %s --device %s --grid "
                                 "%s --out %s", tr, wb, dev, g, vd), 1);
    assert_non_null(strstr(er, "unknown key 'polcy'"));
    free(er);
}

/* sim and run plan the same when --tokens replays part of a trace: the policies see the
 * tokens replayed (belady's look-ahead, hot's default profile), not what each command
 * loaded (sim loads only those, run the whole trace), and `weights make --profile` takes
 * the coact friends from the profile's first 256 tokens, as sim does. */
static void test_part_of_a_trace_same_plan(void **st)
{
    (void)st;
    char tr[1200], wb[1200], wc[1200], dev[1200], a[1200], b[1200];
    snprintf(tr, sizeof tr, "%s", lf_test_path("part.h5"));
    snprintf(wb, sizeof wb, "%s", lf_test_path("part-b.w"));
    snprintf(wc, sizeof wc, "%s", lf_test_path("part-c.w"));
    snprintf(dev, sizeof dev, "%s", lf_test_path("part-dev.conf"));
    write_trace_and_device("custom:3,64,256", 300, 23, tr, dev);
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:3,64,256 --file %s", wb), 0);
    char *out = NULL;
    assert_int_equal(lf_test_run(&out, NULL, "weights make --model custom:3,64,256 --layout coact "
                                 "--profile %s --file %s", tr, wc), 0);
    free(out);
    assert_int_equal(lf_test_run(&out, NULL, "weights info %s", wc), 0);
    assert_non_null(strstr(out, "friends       from the profile's first 256 tokens"));
    free(out);
    const struct {
        const char *policy, *weights, *layout;
    } cases[] = {{"belady", wb, "bundled"}, {"hot", wb, "bundled"}, {"lru", wc, "coact"}};
    const char *cols[] = {"bytes_read", "reads", "evictions", "hits", "copy_ops"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(a, sizeof a, "%s", lf_test_path("part-sim"));
        snprintf(b, sizeof b, "%s", lf_test_path("part-run"));
        const char *opts = "--tokens 20 --scope ffn --dram-fraction 0.8 --predictor-rank 4 "
                           "--threads 4 --quiet";
        assert_int_equal(lf_test_run(NULL, NULL, "sim --trace %s --device %s --policy %s "
                                     "--layout %s %s --out %s", tr, dev, cases[i].policy,
                                     cases[i].layout, opts, a), 0);
        assert_int_equal(lf_test_run(NULL, NULL, "run --trace %s --weights %s --policy %s %s "
                                     "--out %s", tr, cases[i].weights, cases[i].policy, opts, b), 0);
        for (size_t k = 0; k < sizeof cols / sizeof *cols; k++) {
            char pa[1300], pb[1300];
            snprintf(pa, sizeof pa, "%s/tokens.csv", a);
            snprintf(pb, sizeof pb, "%s/tokens.csv", b);
            char *x = lf_test_csv_column(pa, cols[k]), *y = lf_test_csv_column(pb, cols[k]);
            assert_non_null(x);
            assert_non_null(y);
            if (strcmp(x, y))
                fail_msg("%s: %s differs between sim (%s) and run (%s)", cases[i].policy,
                         cols[k], x, y);
            free(x), free(y);
        }
    }
}

/* Records padded to less than a page (weights make --alignment 512, read buffered) sit
 * in the executor's rows of whole pages: a move copies a page, and run's tokens.csv
 * counts that, as sim prices it (it counted the 512-byte record). */
static void test_small_alignment_rows(void **st)
{
    (void)st;
    char tr[1200], w[1200], dev[1200], a[1300], b[1300];
    snprintf(tr, sizeof tr, "%s", lf_test_path("a512.h5"));
    snprintf(w, sizeof w, "%s", lf_test_path("a512.w"));
    snprintf(dev, sizeof dev, "%s", lf_test_path("a512.conf"));
    write_trace_and_device("custom:2,100,256", 40, 5, tr, dev);
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:2,100,256 --alignment "
                                 "512 --file %s", w), 0);
    const char *opts = "--policy lru --dram-fraction 0.7 --predictor-rank 4 --scope ffn --quiet";
    snprintf(a, sizeof a, "%s", lf_test_path("a512-run"));
    snprintf(b, sizeof b, "%s", lf_test_path("a512-sim"));
    assert_int_equal(lf_test_run(NULL, NULL, "run --trace %s --weights %s --engine buffered %s "
                                 "--out %s", tr, w, opts, a), 0);
    assert_int_equal(lf_test_run(NULL, NULL, "sim --trace %s --device %s %s --out %s", tr, dev,
                                 opts, b), 0);
    strcat(a, "/tokens.csv");
    strcat(b, "/tokens.csv");
    char *ops = lf_test_csv_column(a, "copy_ops"), *bytes = lf_test_csv_column(a, "bytes_copied");
    char *sim_bytes = lf_test_csv_column(b, "bytes_copied");
    assert_true(ops && bytes && sim_bytes);
    uint64_t n_ops = 0, n_bytes = 0;
    for (char *p = ops; *p; p = strchr(p, ';') + 1)
        n_ops += strtoull(p, NULL, 10);
    for (char *p = bytes; *p; p = strchr(p, ';') + 1)
        n_bytes += strtoull(p, NULL, 10);
    assert_true(n_ops > 0);
    assert_int_equal(n_bytes, 4096 * n_ops);
    assert_string_equal(bytes, sim_bytes);
    free(ops), free(bytes), free(sim_bytes);
}

/* A drift reference is probed in the pattern the profile describes: with
 * flash_fit_batch = N it reads batches of N and compares them with the model's price of
 * such a batch, here 1000 s of batch overhead, so the ratio is far above the one of the
 * same profile read as a steady stream (which has no batch in it). The overhead is that
 * large because both ratios carry the disk's speed: with 1 s, a CI disk that read the
 * batches (each after a 5 ms gap) at 10 MB/s and the steady stream at 1.5 times the toy
 * profile left a margin of 25 under the 50 asserted; at 1000 s that disk gives 25 000
 * against the 1000 asserted. */
static void test_drift_reference_repeats_pattern(void **st)
{
    (void)st;
    const char *path = lf_test_path("drift.bin");
    char *data = calloc(1, 1 << 20);
    lf_err err;
    assert_non_null(data);
    assert_int_equal(lf_write_file_atomic(path, data, 1 << 20, &err), LF_OK);
    free(data);
    lf_device d = lf_test_toy_device();
    d.flash_batch_s = 1000.0;
    double steady = 0, batched = 0;
    int rc = lf_validate_flash_drift("psync", path, 1 << 20, 65536, 2, 0.05, 1, &d, &steady,
                                     &err);
    if (rc == LF_EUNSUP) { /* no O_DIRECT on this file system */
        print_message("skipped: %s\n", err.msg);
        return;
    }
    assert_int_equal(rc, LF_OK);
    d.flash_fit_batch = 4;
    assert_int_equal(lf_validate_flash_drift("psync", path, 1 << 20, 65536, 2, 0.05, 1, &d,
                                             &batched, &err), LF_OK);
    print_message("drift ratio: steady %.3g, batches of 4 %.3g\n", steady, batched);
    assert_true(steady > 0 && batched > 1000 * steady);
}

/* The compute drift references take the model's own shapes where the profile prices by
 * shape: a profile whose tables say 1e15 bytes/s gives drifts near 0 through them, one
 * without tables the general references over mem_bw and dense_bw (1 MB/s: drifts above
 * 1); refs made without a model never take the shape path. */
static void test_drift_reference_by_shape(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("custom:1,2048,8192", &m, &err), LF_OK);
    lf_validate_refs r;
    assert_int_equal(lf_validate_refs_make(&r, &m, &err), LF_OK);
    assert_true(r.ffn_view.rows == LF_DENSE_REF_BYTES / (2 * 2048 * 2));
    assert_true(r.cols_view.rows == LF_DENSE_REF_BYTES / (2048 * 2) && r.d_model == 2048);
    assert_true(r.swiglu == 0);
    lf_device d = lf_test_toy_device();
    d.mem_bw = d.dense_bw = 1e6; /* any kernel runs faster, valgrind's too */
    double cpu, ffn;
    lf_validate_kernel_drifts(&r, &d, &cpu, &ffn);
    assert_true(cpu > 1 && ffn > 1); /* no tables: the general references */
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        d.ffn_bw_relu[i] = d.dense_bw_cols[i] = 1e15;
    lf_validate_kernel_drifts(&r, &d, &cpu, &ffn);
    assert_true(cpu < 1e-3 && ffn < 1e-3);
    /* a SwiGLU table does not price ReLU rows */
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        d.ffn_bw_relu[i] = 0, d.ffn_bw_swiglu[i] = 1e15;
    lf_validate_kernel_drifts(&r, &d, &cpu, &ffn);
    assert_true(ffn > 1);
    lf_validate_refs_free(&r);
    assert_int_equal(lf_validate_refs_make(&r, NULL, &err), LF_OK);
    assert_true(r.ffn_view.rows == 0 && r.cols_view.rows == 0);
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++)
        d.ffn_bw_relu[i] = 1e15;
    lf_validate_kernel_drifts(&r, &d, &cpu, &ffn);
    assert_true(cpu > 1 && ffn > 1);
    lf_validate_refs_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ffn_hand),
        cmocka_unit_test(test_ffn_vs_naive),
        cmocka_unit_test(test_ffn_gapped_bench),
        cmocka_unit_test(test_ffn_view_bench),
        cmocka_unit_test(test_exec_matches_dense_and_sim),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_part_of_a_trace_same_plan),
        cmocka_unit_test(test_small_alignment_rows),
        cmocka_unit_test(test_drift_reference_repeats_pattern),
        cmocka_unit_test(test_drift_reference_by_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
