/* Tests of `llmflash validate` over several sets (a trace with its weights, grid and
 * profiles per model shape), validated as one: rows numbered on across the sets, each
 * configuration run on its own set's files, the measured runs taken round-robin over
 * every set, bad sets refused before anything is written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_test.h"
#include "lf_validate.h"
#include "lf_validate_twins.h"

typedef struct {
    char trace[1200], weights[1200];
} shape;

/* A synthetic trace of `model` and its bundled fp16 weights file, named after `name`. */
static void make_shape(shape *s, const char *name, const char *model, unsigned seed)
{
    char t[64], w[64];
    snprintf(t, sizeof t, "%s.h5", name);
    snprintf(w, sizeof w, "%s.w", name);
    snprintf(s->trace, sizeof s->trace, "%s", lf_test_path(t));
    snprintf(s->weights, sizeof s->weights, "%s", lf_test_path(w));
    lf_test_expect(0, NULL, "trace synth --model %s --tokens 6 --seed %u -o %s", model, seed,
                   s->trace);
    lf_test_expect(0, NULL, "weights make --model %s --file %s", model, s->weights);
}

static void write_device(const char *path)
{
    lf_device d = lf_test_toy_device();
    lf_err err;
    assert_int_equal(lf_device_save(&d, path, "tests", "lf_test_toy_device", &err), LF_OK);
}

/* The shape's trace and weights file, opened for the library's calls. */
static void open_shape(const shape *s, lf_trace *t, lf_weights *w)
{
    lf_err err;
    assert_int_equal(lf_trace_read(s->trace, t, &err), LF_OK);
    assert_int_equal(lf_weights_open(s->weights, w, &err), LF_OK);
}

static void close_shape(lf_trace *t, lf_weights *w)
{
    lf_weights_close(w);
    lf_trace_free(t);
}

static const char *GRID = "policy = lru | window:k=2\nlayout = bundled\ndram_fraction = 0.95\n"
                          "threads = 2\npredictor_rank = 4\n";

static void test_two_sets(void **st)
{
    (void)st;
    shape a, b;
    make_shape(&a, "a", "custom:3,64,256", 1);
    make_shape(&b, "b", "custom:2,32,128", 2);
    char dev[1200], grid[1200], out_dir[1200], p[2400], q[2400];
    snprintf(dev, sizeof dev, "%s", lf_test_path("toy.conf"));
    snprintf(grid, sizeof grid, "%s", lf_test_path("grid.conf"));
    snprintf(out_dir, sizeof out_dir, "%s", lf_test_path("val"));
    write_device(dev);
    lf_test_write(grid, GRID, strlen(GRID));
    char *out = NULL, *er = NULL;
    int rc = lf_test_run(&out, &er, "validate --trace %s --weights %s --device %s --grid %s "
                         "--trace %s --weights %s --repeat 2 --out %s", a.trace, a.weights, dev,
                         grid, b.trace, b.weights, out_dir);
    if (rc)
        fprintf(stderr, "%s%s", out, er);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "set 1: c01-c02 (2 configurations)"));
    assert_non_null(strstr(out, "set 2: c03-c04 (2 configurations)"));
    assert_non_null(strstr(out, "over 4 configurations"));
    free(out), free(er);
    /* every row names its trace, in both CSVs */
    const char *csvs[] = {"validate.csv", "validate_cold.csv"};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", out_dir, csvs[k]);
        char *traces = lf_test_csv_column(p, "trace"), *ids = lf_test_csv_column(p, "config");
        assert_non_null(traces);
        assert_string_equal(traces, "a.h5;a.h5;b.h5;b.h5;");
        assert_string_equal(ids, "c01;c02;c03;c04;");
        free(traces), free(ids);
    }
    /* each configuration ran on its own set's weights file, and its run and simulation
     * agree; the two shapes read different bytes */
    char *bytes[4];
    for (int c = 0; c < 4; c++) {
        snprintf(p, sizeof p, "%s/c%02d-run/meta.json", out_dir, c + 1);
        char *meta = lf_test_slurp(p);
        assert_non_null(meta);
        snprintf(q, sizeof q, "\"data_path\":\"%s\"", c < 2 ? a.weights : b.weights);
        if (!strstr(meta, q))
            fail_msg("c%02d-run/meta.json does not name %s", c + 1, c < 2 ? a.weights : b.weights);
        free(meta);
        snprintf(p, sizeof p, "%s/c%02d-run/tokens.csv", out_dir, c + 1);
        snprintf(q, sizeof q, "%s/c%02d-sim/tokens.csv", out_dir, c + 1);
        bytes[c] = lf_test_csv_column(p, "bytes_read");
        char *sim = lf_test_csv_column(q, "bytes_read");
        assert_non_null(bytes[c]);
        assert_non_null(sim);
        assert_string_equal(bytes[c], sim);
        free(sim);
    }
    assert_string_not_equal(bytes[0], bytes[2]);
    for (int c = 0; c < 4; c++)
        free(bytes[c]);
}

/* A later set that is incomplete or wrong is refused before anything is written. */
static void test_bad_sets(void **st)
{
    (void)st;
    shape a, b;
    make_shape(&a, "ra", "custom:3,64,256", 1);
    make_shape(&b, "rb", "custom:2,32,128", 2);
    char dev[1200], grid[1200], bad_grid[1200], out_dir[1200];
    snprintf(dev, sizeof dev, "%s", lf_test_path("rtoy.conf"));
    snprintf(grid, sizeof grid, "%s", lf_test_path("rgrid.conf"));
    snprintf(bad_grid, sizeof bad_grid, "%s", lf_test_path("rbad.conf"));
    snprintf(out_dir, sizeof out_dir, "%s", lf_test_path("rval"));
    write_device(dev);
    lf_test_write(grid, GRID, strlen(GRID));
    const char *bad = "policy = lru | nope\nlayout = bundled\n";
    lf_test_write(bad_grid, bad, strlen(bad));
    lf_test_expect(2, "give its --weights after it", "validate --trace %s --weights %s "
                   "--device %s --grid %s --trace %s --out %s", a.trace, a.weights, dev, grid,
                   b.trace, out_dir);
    lf_test_expect(1, "unknown policy 'nope'", "validate --trace %s --weights %s --device %s "
                   "--grid %s --trace %s --weights %s --grid %s --out %s", a.trace, a.weights,
                   dev, grid, b.trace, b.weights, bad_grid, out_dir);
    assert_false(lf_file_exists(out_dir));
    /* the first shape's weights for the second shape's trace */
    lf_test_expect(1, "d_model 64 (file) vs 32 (trace)", "validate --trace %s --weights %s "
                   "--device %s --grid %s --trace %s --weights %s --out %s", a.trace,
                   a.weights, dev, grid, b.trace, a.weights, out_dir);
    assert_false(lf_file_exists(out_dir));
}

/* The library refuses sets that disagree on what one validation shares. */
static void test_sets_share(void **st)
{
    (void)st;
    shape a;
    make_shape(&a, "la", "custom:3,64,256", 1);
    char grid[1200];
    snprintf(grid, sizeof grid, "%s", lf_test_path("lgrid.conf"));
    lf_test_write(grid, GRID, strlen(GRID));
    lf_err err;
    lf_trace t;
    lf_weights w;
    lf_sweep g;
    open_shape(&a, &t, &w);
    assert_int_equal(lf_sweep_load_grid(grid, lf_validate_keys(), &g, &err), LF_OK);
    lf_device d = lf_test_toy_device();
    char out1[1200], out2[1200];
    snprintf(out1, sizeof out1, "%s", lf_test_path("l1"));
    snprintf(out2, sizeof out2, "%s", lf_test_path("l2"));
    lf_validate_cfg v[2] = {{.trace = &t, .trace_path = a.trace, .weights = &w, .n_weights = 1,
                             .dev = &d, .grid = &g, .repeat = 2, .out_dir = out1}};
    v[1] = v[0];
    v[1].repeat = 3;
    lf_validate_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(lf_validate_run_sets(v, 2, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "set 2"));
    assert_non_null(strstr(err.msg, "share them"));
    v[1].repeat = 2;
    v[1].out_dir = out2;
    assert_int_equal(lf_validate_run_sets(v, 2, &rows, &n, &err), LF_EINVAL);
    v[1].out_dir = v[0].out_dir;
    v[1].n_weights = 0;
    assert_int_equal(lf_validate_run_sets(v, 2, &rows, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "no weights file"));
    assert_null(rows);
    assert_false(lf_file_exists(v[0].out_dir));
    lf_sweep_free(&g);
    close_shape(&t, &w);
}

/* The measured runs are taken round-robin: repeat 1 of every configuration of every set,
 * then repeat 2, ... (a slow spell of the host is then shared by the shapes). */
typedef struct {
    size_t row[64];
    uint32_t repeat[64];
    size_t n;
} run_order;

static void note_run(size_t i, uint32_t repeat, void *arg)
{
    run_order *o = arg;
    if (o->n < 64) {
        o->row[o->n] = i;
        o->repeat[o->n] = repeat;
    }
    o->n++;
}

static void test_round_robin(void **st)
{
    (void)st;
    shape sh[2];
    make_shape(&sh[0], "oa", "custom:3,64,256", 1);
    make_shape(&sh[1], "ob", "custom:2,32,128", 2);
    char grid[1200], out[1200];
    snprintf(grid, sizeof grid, "%s", lf_test_path("ogrid.conf"));
    snprintf(out, sizeof out, "%s", lf_test_path("oval"));
    lf_test_write(grid, GRID, strlen(GRID));
    lf_err err;
    lf_trace t[2];
    lf_weights w[2];
    lf_sweep g;
    assert_int_equal(lf_sweep_load_grid(grid, lf_validate_keys(), &g, &err), LF_OK);
    lf_device d = lf_test_toy_device();
    run_order o = {.n = 0};
    lf_validate_cfg v[2];
    for (int j = 0; j < 2; j++) {
        open_shape(&sh[j], &t[j], &w[j]);
        v[j] = (lf_validate_cfg){.trace = &t[j], .trace_path = sh[j].trace, .weights = &w[j],
                                 .n_weights = 1, .dev = &d, .grid = &g, .engine = "null",
                                 .repeat = 3, .out_dir = out, .on_measured = note_run,
                                 .arg = &o};
    }
    lf_validate_row *rows = NULL;
    size_t n = 0;
    if (lf_validate_run_sets(v, 2, &rows, &n, &err) != LF_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 4);
    assert_int_equal(o.n, 3 * 4);
    for (size_t k = 0; k < o.n; k++) {
        assert_int_equal(o.repeat[k], k / 4);
        assert_int_equal(o.row[k], k % 4);
    }
    /* the cold start's twins stay within their set, and share their predicted first token
     * and their pooled samples */
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].cold_twin[0]) {
            assert_int_equal(rows[i].cold_pooled_samples, rows[i].cold_samples);
            continue;
        }
        size_t lead = (size_t)atoi(rows[i].cold_twin + 1) - 1, members = 0;
        assert_true(lead / 2 == i / 2); /* c01-c02 are set a's, c03-c04 set b's */
        assert_true(rows[lead].predicted_cold_ms == rows[i].predicted_cold_ms);
        for (size_t j = 0; j < n; j++)
            members += strcmp(rows[j].cold_twin, rows[i].cold_twin) == 0;
        assert_int_equal(rows[i].cold_pooled_samples, members * rows[i].cold_samples);
    }
    free(rows);
    lf_sweep_free(&g);
    for (int j = 0; j < 2; j++)
        close_shape(&t[j], &w[j]);
}

/* A row of the twins test: id, options shared, the first token's prediction. */
static lf_validate_row twin_row(const char *id, uint32_t threads, double pred_cold)
{
    lf_validate_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.engine, sizeof r.engine, "psync");
    snprintf(r.layout, sizeof r.layout, "bundled");
    snprintf(r.dram, sizeof r.dram, "prealloc");
    snprintf(r.scope, sizeof r.scope, "token");
    r.threads = threads;
    r.dram_fraction = 0.5;
    r.predicted_cold_ms = pred_cold;
    return r;
}

/* A kernel timed once is one round: compared with the profile's rate times its
 * compute_stall (the median round calibrate divided it out of); 1 when a rate is 0. */
static void test_kernel_ratio_stall(void **st)
{
    (void)st;
    lf_device dev;
    memset(&dev, 0, sizeof dev);
    assert_true(lf_validate_kernel_ratio(30e9, 30e9, &dev) == 1.0); /* no stall measured */
    dev.compute_stall = 1.25;
    assert_true(fabs(lf_validate_kernel_ratio(30e9, 24e9, &dev) - 1.0) < 1e-12);
    assert_true(fabs(lf_validate_kernel_ratio(15e9, 24e9, &dev) - 0.5) < 1e-12);
    assert_true(lf_validate_kernel_ratio(0, 24e9, &dev) == 1.0);
    assert_true(lf_validate_kernel_ratio(30e9, 0, &dev) == 1.0);
}

static void test_cold_twins(void **st)
{
    (void)st;
    /* c01, c02, c04: one first token (c04 after another policy's c03); c03: other reads
     * in flight; c05: the same options and prediction in another set; c06: another
     * predicted DRAM term */
    lf_validate_row r[6] = {twin_row("c01", 8, 10), twin_row("c02", 8, 10), twin_row("c03", 4, 10),
                            twin_row("c04", 8, 10), twin_row("c05", 8, 10), twin_row("c06", 8, 10)};
    const double s1[] = {9, 10, 11}, s2[] = {12, 13, 14}, s3[] = {20}, s4[] = {8, 16},
                 s5[] = {30}, s6[] = {5, 6};
    lf_twin_input in[6] = {{0, 4, 1, 5, 1e6, s1, 3}, {0, 4, 1, 5, 1e6, s2, 3},
                           {0, 4, 1, 5, 1e6, s3, 1}, {0, 4, 1, 5, 1e6, s4, 2},
                           {1, 4, 1, 5, 1e6, s5, 1}, {0, 4, 2, 5, 1e6, s6, 2}};
    lf_err err;
    assert_int_equal(lf_validate_pool_twins(r, in, 6, &err), LF_OK);
    const char *want[] = {"c01", "c01", "", "c01", "", ""};
    const uint32_t pooled[] = {8, 8, 1, 8, 1, 2};
    /* c01's group: 8, 9, 10, 11, 12, 13, 14, 16 -> 11.5; the others their own median */
    const double med[] = {11.5, 11.5, 20, 11.5, 30, 5.5};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(r[i].cold_twin, want[i]);
        assert_int_equal(r[i].cold_pooled_samples, pooled[i]);
        assert_true(fabs(r[i].measured_cold_pooled_ms - med[i]) < 1e-12);
        assert_true(fabs(r[i].cold_pooled_error_pct - 100 * (10 - med[i]) / med[i]) < 1e-9);
    }
    /* the group's own medians (10, 13, 12 as validate's rows hold them) lie 3 / 12 apart;
     * the pooled errors count c01's group once: |10 - 11.5| / 11.5, 50%, 66.7%, 81.8% */
    r[0].measured_cold_ms = 10, r[1].measured_cold_ms = 13, r[3].measured_cold_ms = 12;
    lf_twin_stats ts;
    lf_validate_twin_stats(r, 6, &ts);
    assert_int_equal(ts.groups, 1);
    assert_int_equal(ts.rows, 3);
    assert_true(fabs(ts.apart_median_pct - 25.0) < 1e-9);
    assert_true(fabs(ts.pooled_mdape - 0.5 * (50 + 100 * 20 / 30.0)) < 1e-9);
    assert_true(fabs(ts.pooled_max_ape - 100 * 4.5 / 5.5) < 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_sets),
        cmocka_unit_test(test_bad_sets),
        cmocka_unit_test(test_sets_share),
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_cold_twins),
        cmocka_unit_test(test_kernel_ratio_stall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
