/* Tests of the executor (bench/): fp16 conversion, the FFN kernel on hand-computed
 * cases, the weights file (make, open, every refusal, failed writes), the DRAM manager
 * against a dense FFN after many tokens of churn (real reads from a small file in
 * build/testtmp), and the executor and simulator seeing the same reads and evictions. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "lf_exec.h"
#include "lf_ffn.h"
#include "lf_fs.h"
#include "lf_half.h"
#include "lf_replay.h"
#include "lf_test.h"
#include "lf_weights.h"

/* ------------------------------------------------------------------ fp16 */

static void test_half(void **st)
{
    (void)st;
    /* every half survives half -> float -> half (NaNs come back quiet) */
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = lf_float_to_half(lf_half_to_float((uint16_t)h));
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan)
            assert_int_equal(back, h | 0x200);
        else
            assert_int_equal(back, h);
    }
    assert_true(lf_half_to_float(0x3c00) == 1.0f);
    assert_true(lf_half_to_float(0xc000) == -2.0f);
    assert_true(lf_half_to_float(0x7bff) == 65504.0f);
    assert_true(lf_half_to_float(0x0001) == ldexpf(1, -24));
    assert_true(lf_half_to_float(0x0400) == ldexpf(1, -14));
    /* rounding: ties go to the even neighbour */
    assert_int_equal(lf_float_to_half(1.0f + ldexpf(1, -11)), 0x3c00);
    assert_int_equal(lf_float_to_half(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    assert_int_equal(lf_float_to_half(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01);
    assert_int_equal(lf_float_to_half(65519.0f), 0x7bff);
    assert_int_equal(lf_float_to_half(65520.0f), 0x7c00);
    assert_int_equal(lf_float_to_half(-1e9f), 0xfc00);
    assert_int_equal(lf_float_to_half(ldexpf(1, -25)), 0x0000);
    assert_int_equal(lf_float_to_half(3 * ldexpf(1, -25)), 0x0002);
    assert_int_equal(lf_float_to_half(ldexpf(1, -24)), 0x0001);
    assert_int_equal(lf_float_to_half(ldexpf(1023, -24) + ldexpf(1, -25)), 0x0400);
    assert_int_equal(lf_float_to_half(-0.0f), 0x8000);
    assert_int_equal(lf_float_to_half(INFINITY), 0x7c00);
    assert_true((lf_float_to_half(NAN) & 0x7c00) == 0x7c00 && (lf_float_to_half(NAN) & 0x3ff));
#ifdef __FLT16_MAX__
    /* cross-check with the compiler's conversion on many floats */
    uint32_t s = 7;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        float f;
        uint32_t u = (s & 0x8fffffffu) | ((s & 0x0f000000u) ? 0x30000000u : 0); /* |f| ~ 2^-30..2^17 */
        memcpy(&f, &u, sizeof f);
        _Float16 g = (_Float16)f;
        uint16_t gu;
        memcpy(&gu, &g, sizeof gu);
        assert_int_equal(lf_float_to_half(f), gu);
    }
#endif
}

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
    /* SwiGLU: gate (1,0), up (0,2), down (1,-1); x = (1,1): silu(1) * 2 = 2/(1+e^-1) */
    float sw[6] = {1, 0, 0, 2, 1, -1};
    lf_ffn_shape g = {LF_ACT_SWIGLU, LF_DTYPE_FP32, 2, 3, 2 * sizeof(float), 6 * sizeof(float)};
    lf_ffn_sparse(&g, sw, NULL, 1, x, y);
    assert_float_equal(y[0], 1.4621172, 1e-6);
    assert_float_equal(y[1], -1.4621172, 1e-6);
}

/* d = 37 (a vector tail), many rows: against a double-precision loop. */
static void test_ffn_vs_naive(void **st)
{
    (void)st;
    enum { D = 37, R = 50 };
    float rows[R][2 * D], bias[R], x[D], y[D];
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
    lf_ffn_shape sh = {LF_ACT_RELU, LF_DTYPE_FP32, D, 2, D * sizeof(float), 2 * D * sizeof(float)};
    lf_ffn_sparse(&sh, rows, bias, R, x, y);
    for (int i = 0; i < D; i++) {
        double want = 0;
        for (int r = 0; r < R; r++) {
            double h = bias[r];
            for (int k = 0; k < D; k++)
                h += (double)x[k] * rows[r][k];
            if (h > 0)
                want += h * rows[r][D + i];
        }
        assert_float_equal(y[i], want, 1e-4);
    }
    assert_float_equal(lf_ffn_flops(&sh, 10), 2.0 * 2 * D * 10, 0);
    double fl, by;
    lf_err err;
    lf_model m;
    assert_int_equal(lf_model_lookup("custom:1,256,1024", &m, &err), LF_OK);
    assert_int_equal(lf_ffn_measure(&m, LF_DTYPE_FP16, 64, 0.01, &fl, &by, &err), LF_OK);
    assert_true(fl > 1e6 && by > 1e6);
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
    free(s);
}

static lf_policy *tw_create(uint32_t k, uint32_t layers, uint32_t units)
{
    lf_policy *p = calloc(1, sizeof *p);
    tw_state *s = calloc(1, sizeof *s);
    s->k = k;
    s->units = units;
    s->last = malloc(sizeof(int64_t) * layers * units);
    s->res = calloc((size_t)layers * units, 1);
    for (size_t i = 0; i < (size_t)layers * units; i++)
        s->last[i] = -1000;
    p->name = "test-window";
    p->state = s;
    p->step = tw_step;
    p->destroy = tw_destroy;
    return p;
}

static void tw_free(lf_policy *p)
{
    p->destroy(p);
    free(p);
}

/* ------------------------------------------------------------------ weights file */

static const char *make_weights(const char *name, const char *model, lf_layout_kind kind,
                                lf_dtype dt, uint32_t align, const lf_trace *profile)
{
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup(model, &m, &err), LF_OK);
    lf_weights_spec spec = {&m, kind, dt, 0, align, 42, profile};
    const char *p = lf_test_path(name);
    int rc = lf_weights_make(p, &spec, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, LF_OK);
    return p;
}

static void test_weights_roundtrip(void **st)
{
    (void)st;
    lf_trace prof;
    make_trace(&prof, "custom:3,64,256", 40, 5);
    const lf_layout_kind kinds[] = {LF_LAYOUT_BUNDLED, LF_LAYOUT_SPLIT, LF_LAYOUT_COACT};
    for (int k = 0; k < 3; k++) {
        for (int d = 0; d < 2; d++) {
            lf_dtype dt = d ? LF_DTYPE_FP32 : LF_DTYPE_FP16;
            const char *p = make_weights("rt.w", "custom:3,64,256", kinds[k], dt, 4096, &prof);
            lf_weights w;
            lf_err err;
            assert_int_equal(lf_weights_open(p, &w, &err), LF_OK);
            assert_int_equal(w.h.layout, kinds[k]);
            assert_int_equal(w.h.units, 256);
            /* file size: data offset + 3 layers of records, each record 4096 bytes */
            uint64_t recs = kinds[k] == LF_LAYOUT_SPLIT ? 512 : 256;
            struct stat sb;
            assert_int_equal(stat(p, &sb), 0);
            assert_int_equal((uint64_t)sb.st_size, w.h.data_offset + 3 * recs * 4096);
            /* every record of layer 1 holds what the generator says */
            FILE *f = fopen(p, "rb");
            unsigned char rec[4096];
            float want[64];
            lf_extent_vec ev = {0};
            for (uint32_t u = 0; u < 256; u += 17) {
                ev.n = 0;
                assert_int_equal(lf_layout_extents(&w.layout, 1, &u, 1, &ev, &err), LF_OK);
                for (size_t e = 0; e < ev.n; e++) {
                    assert_int_equal(fseek(f, (long)ev.v[e].offset, SEEK_SET), 0);
                    assert_int_equal(fread(rec, 1, 4096, f), 4096);
                    uint32_t nv = ev.v[e].part == LF_PART_ALL ? 2 : 1;
                    uint32_t units_in = kinds[k] == LF_LAYOUT_COACT ? 2 : 1;
                    for (uint32_t c = 0; c < units_in; c++) {
                        uint32_t unit = c ? w.layout.friend_of[256 + u] : u;
                        for (uint32_t v = 0; v < nv; v++) {
                            uint32_t part = ev.v[e].part == LF_PART_ALL ? v : ev.v[e].part;
                            lf_weights_values(&w.h, 1, unit, part, want);
                            const unsigned char *at = rec + (c * nv + v) * 64 * (d ? 4 : 2);
                            for (int i = 0; i < 64; i++) {
                                float got = d ? ((const float *)(const void *)at)[i]
                                              : lf_half_to_float(((const uint16_t *)(const void *)at)[i]);
                                assert_true(got == want[i]);
                            }
                        }
                    }
                }
            }
            lf_extent_vec_free(&ev);
            fclose(f);
            lf_weights_close(&w);
        }
    }
    lf_trace_free(&prof);
}

static void test_weights_refusals(void **st)
{
    (void)st;
    lf_err err;
    lf_weights w;
    const char *p = make_weights("ref.w", "custom:3,64,256", LF_LAYOUT_BUNDLED, LF_DTYPE_FP16,
                                 4096, NULL);
    assert_int_equal(lf_weights_open(p, &w, &err), LF_OK);
    /* header mismatch: every difference is named */
    lf_trace t;
    make_trace(&t, "custom:3,128,256", 2, 1);
    assert_int_equal(lf_weights_check_trace(&w, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "d_model 64 (file) vs 128 (trace)"));
    lf_trace_free(&t);
    make_trace(&t, "custom:4,64,200", 2, 1);
    assert_int_equal(lf_weights_check_trace(&w, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "units per layer 256 (file) vs 200 (trace)"));
    assert_non_null(strstr(err.msg, "layers 3 (file) vs 4 (trace)"));
    lf_trace_free(&t);
    make_trace(&t, "custom:2,64,256", 2, 1);
    assert_int_equal(lf_weights_check_trace(&w, &t, &err), LF_OK); /* fewer layers is fine */
    lf_trace_free(&t);
    lf_weights_close(&w);

    /* truncated by one record */
    const char *q = lf_test_path("trunc.w");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp %s %s", p, q);
    assert_int_equal(system(cmd), 0);
    struct stat sb;
    assert_int_equal(stat(q, &sb), 0);
    assert_int_equal(truncate(q, sb.st_size - 4096), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(truncate(q, 100), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "too short"));

    /* a damaged header byte (the model name) */
    snprintf(cmd, sizeof cmd, "cp %s %s && printf 'X' | dd of=%s bs=1 seek=30 conv=notrunc 2>/dev/null",
             p, q, q);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "checksum"));

    /* not a weights file */
    const char *junk = "hello world, this is not a weights file";
    lf_test_write(q, junk, strlen(junk));
    assert_int_equal(truncate(q, 8192), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "not an llmflash weights file"));

    /* wrong alignment: records padded to 512 bytes are refused by direct engines */
    const char *a = make_weights("a512.w", "custom:3,64,256", LF_LAYOUT_BUNDLED, LF_DTYPE_FP16,
                                 512, NULL);
    assert_int_equal(lf_weights_open(a, &w, &err), LF_OK);
    assert_int_equal(w.h.record_bytes, 512);
    lf_exec_cfg cfg = {&w, "psync", 2, LF_DRAM_PREALLOC, 3, 1};
    lf_exec *e;
    assert_int_equal(lf_exec_create(&cfg, &e, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "wrong alignment"));
    assert_non_null(strstr(err.msg, "--alignment 4096"));
    cfg.engine = "buffered"; /* no alignment needed */
    assert_int_equal(lf_exec_create(&cfg, &e, &err), LF_OK);
    lf_exec_free(e);
    lf_weights_close(&w);
    /* bad alignment asked of make */
    lf_model m;
    assert_int_equal(lf_model_lookup("custom:1,64,256", &m, &err), LF_OK);
    lf_weights_spec spec = {&m, LF_LAYOUT_BUNDLED, LF_DTYPE_FP16, 0, 3000, 1, NULL};
    assert_int_equal(lf_weights_make(lf_test_path("bad.w"), &spec, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "power of two"));
    spec.layout = LF_LAYOUT_COACT;
    spec.alignment = 4096;
    assert_int_equal(lf_weights_make(lf_test_path("bad.w"), &spec, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "profile"));
}

static int no_tmp_left(const char *prefix)
{
    DIR *d = opendir(lf_test_dir());
    struct dirent *de;
    int ok = 1;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)) && strstr(de->d_name, ".tmp."))
            ok = 0;
    closedir(d);
    return ok;
}

/* A write that fails (file size limit: EFBIG, as a full disk gives ENOSPC) leaves
 * nothing; a write killed half way leaves only a temporary without a valid header. */
static void test_weights_failed_write(void **st)
{
    (void)st;
    const char *p = lf_test_path("full.w");
    for (int kill_it = 0; kill_it < 2; kill_it++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (!kill_it)
                signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {256 * 1024, 256 * 1024};
            setrlimit(RLIMIT_FSIZE, &rl);
            lf_model m;
            lf_err err;
            lf_model_lookup("custom:3,64,256", &m, &err);
            lf_weights_spec spec = {&m, LF_LAYOUT_BUNDLED, LF_DTYPE_FP16, 0, 4096, 1, NULL};
            int rc = lf_weights_make(p, &spec, &err);
            _exit(rc == LF_EIO && strstr(err.msg, "removed") ? 3 : 4);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!kill_it) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 3);
            assert_true(no_tmp_left("full.w"));
        } else {
            assert_true(WIFSIGNALED(status));
            char tmp[2048];
            snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)pid);
            lf_weights w;
            lf_err err;
            assert_int_equal(lf_weights_open(tmp, &w, &err), LF_EFORMAT);
            assert_non_null(strstr(err.msg, "not an llmflash weights file"));
            unlink(tmp);
        }
        assert_false(lf_file_exists(p));
    }
}

/* ------------------------------------------------------------------ executor */

/* Wraps a backend: records every step's counts, and for the executor compares its
 * output with a dense FFN over the resident set computed from generated values. */
typedef struct {
    lf_backend *inner;
    lf_exec *exec;            /* NULL for the simulator */
    const lf_weights *w;
    uint64_t steps, reads, bytes, evictions, moves, offsets_sum, loads;
    double max_err;
    uint64_t compared;
} probe_state;

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
}

static lf_device toy_device(void)
{
    lf_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "toy");
    d.flash_latency_s = 100e-6;
    d.flash_stream_bw = 1e9;
    d.flash_max_bw = 4e9;
    d.flash_max_iops = 1e5;
    d.flash_alignment = 4096;
    d.dram_copy_bw = 10e9;
    d.dram_op_s = 1e-7;
    d.compute_flops = 1e10;
    d.mem_bw = 1e10;
    return d;
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
    const char *p = make_weights("ex.w", "custom:3,64,256", c->kind, c->dt, 4096, prof);
    lf_weights w;
    assert_int_equal(lf_weights_open(p, &w, &err), LF_OK);
    assert_int_equal(lf_weights_check_trace(&w, t, &err), LF_OK);
    lf_model m = w.model;
    uint32_t n_tok = t->n_tokens;
    lf_token_row *rows_e = calloc(n_tok, sizeof *rows_e), *rows_s = calloc(n_tok, sizeof *rows_s);

    /* executor */
    lf_exec_cfg ecfg = {&w, c->engine, 4, c->dram, 3, 9};
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
    lf_device dev = toy_device();
    lf_backend sb;
    lf_sim_backend sbs;
    lf_sim_backend_init(&sb, &sbs, &dev, &m, lf_dtype_bytes(c->dt), 4);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half),
        cmocka_unit_test(test_ffn_hand),
        cmocka_unit_test(test_ffn_vs_naive),
        cmocka_unit_test(test_weights_roundtrip),
        cmocka_unit_test(test_weights_refusals),
        cmocka_unit_test(test_weights_failed_write),
        cmocka_unit_test(test_exec_matches_dense_and_sim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
