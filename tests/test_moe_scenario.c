/* Tests of the MoE slice, part 2: the routing fit (known parameters found again, a
 * measured LRU curve met again), the scenario's pricing worked out by hand, the
 * moe-scenario command and its errors, and the hit-rate curve CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_kv.h"
#include "lf_moefit.h"
#include "lf_moesim.h"
#include "lf_scenario.h"
#include "lf_synth.h"
#include "lf_test.h"
#include "lf_trace.h"

/* 2 layers, 8 experts, top-2; every layer routes {0,1} on even tokens, {2,3} on odd
 * ones; 10 tokens. */
static void two_layers(lf_trace *t)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_EXPERTS, "test", 2, 8, 8, 2, 2, 0, 0, &err),
                     LF_OK);
    static const uint32_t even[2] = {0, 1}, odd[2] = {2, 3};
    const uint32_t n[2] = {2, 2};
    for (int32_t tok = 0; tok < 10; tok++) {
        const uint32_t *set = tok % 2 ? odd : even;
        const uint32_t *ids[2] = {set, set};
        assert_int_equal(lf_trace_append_token(t, tok, ids, n, NULL, &err), LF_OK);
    }
}

/* ---- the fit ---------------------------------------------------------------------- */

/* A synthetic trace with known parameters: the fit finds them again. */
static void test_fit_recovers_parameters(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("olmoe-1b-7b", &m, &err), LF_OK);
    m.n_layers = 2;
    const double zipf[2] = {0.9, 0.4}, reuse[2] = {0.3, 0.1};
    lf_trace t;
    assert_int_equal(lf_trace_init(&t, &m, 2, 0, 0, &err), LF_OK);
    /* Layer by layer from two one-layer traces of the generator. */
    lf_trace one[2];
    for (int l = 0; l < 2; l++) {
        lf_model m1 = m;
        m1.n_layers = 1;
        lf_synth_params p;
        lf_synth_defaults(&p);
        p.seed = 100 + (uint64_t)l;
        p.experts.zipf = zipf[l];
        p.experts.reuse = reuse[l];
        assert_int_equal(lf_synth_generate(&m1, 3000, &p, &one[l], &err), LF_OK);
    }
    for (uint32_t tok = 0; tok < 3000; tok++) {
        for (uint32_t l = 0; l < 2; l++) {
            uint32_t n;
            const uint32_t *ids = lf_trace_ids(&one[l], 0, tok, &n);
            assert_int_equal(lf_trace_append_layer(&t, l, ids, n, NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(&t, -1, &err), LF_OK);
    }
    lf_moefit f;
    assert_int_equal(lf_moefit_trace(&t, 1, &f, &err), LF_OK);
    for (int l = 0; l < 2; l++) {
        printf("layer %d: zipf %.3f (true %.2f), reuse %.3f (true %.2f)\n", l, f.layers[l].zipf,
               zipf[l], f.layers[l].reuse, reuse[l]);
        assert_true(fabs(f.layers[l].zipf - zipf[l]) < 0.12);
        assert_true(fabs(f.layers[l].reuse - reuse[l]) < 0.04);
        assert_true(fabs(f.layers[l].fit_reuse - f.layers[l].obs_reuse) < 0.01);
    }
    assert_true(fabs(f.zipf - 0.5 * (f.layers[0].zipf + f.layers[1].zipf)) < 1e-12);
    /* The params file holds the means, readable as key = value. */
    const char *conf = lf_test_path("fit.conf");
    assert_int_equal(lf_moefit_write_conf(&f, "t.h5", conf, &err), LF_OK);
    lf_kv kv;
    double z;
    assert_int_equal(lf_kv_parse_file(conf, &kv, &err), LF_OK);
    assert_int_equal(lf_kv_need_double(&kv, "zipf", &z, &err), LF_OK);
    assert_true(fabs(z - f.zipf) < 1e-4);
    lf_kv_free(&kv);
    lf_moefit_free(&f);
    lf_trace_free(&t);
    for (int l = 0; l < 2; l++)
        lf_trace_free(&one[l]);
    /* A neuron trace is refused with a hint. */
    lf_model opt;
    assert_int_equal(lf_model_lookup("opt-1.3b", &opt, &err), LF_OK);
    assert_int_equal(lf_trace_init(&t, &opt, 2, 0, 0, &err), LF_OK);
    assert_int_equal(lf_moefit_trace(&t, 1, &f, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "trace import"));
    lf_trace_free(&t);
}

/* The LRU-curve fit: targets measured on a synthetic layer of known parameters are met
 * again (the parameters themselves trade off, so the rates are what is checked). */
static void test_fit_lru_curve(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("qwen3.5-397b-a17b", &m, &err), LF_OK);
    lf_model one = m;
    one.n_layers = 1;
    lf_synth_params p;
    lf_synth_defaults(&p);
    p.seed = 42;
    p.experts.zipf = 0.6;
    p.experts.reuse = 0.3;
    lf_trace t;
    assert_int_equal(lf_synth_generate(&one, 3000, &p, &t, &err), LF_OK);
    double target[4], got[4], zipf, reuse;
    assert_int_equal(lf_moefit_lru_rates(&t, 0, lf_moefit_lru_sizes, 4, target, &err), LF_OK);
    lf_trace_free(&t);
    assert_int_equal(lf_moefit_lru(&m, lf_moefit_lru_sizes, target, 4, 3000, 1, &zipf, &reuse,
                                   got, &err),
                     LF_OK);
    for (int i = 0; i < 4; i++) {
        printf("LRU@%u: target %.3f fitted %.3f\n", lf_moefit_lru_sizes[i], target[i], got[i]);
        assert_true(fabs(got[i] - target[i]) < 0.02);
    }
    assert_true(fabs(reuse - 0.3) < 0.1);
    /* Sizes that are not measured are refused. */
    uint32_t bad = 20;
    assert_int_equal(lf_moefit_lru(&m, &bad, target, 1, 100, 1, &zipf, &reuse, got, &err),
                     LF_EINVAL);
}

/* ---- scenario pricing and the moe-scenario command --------------------------------- */

static void test_moesim_pricing(void **st)
{
    (void)st;
    lf_trace t;
    two_layers(&t);
    lf_device d;
    memset(&d, 0, sizeof d);
    d.flash_latency_s = 1e-3; /* a read: 1 ms + bytes / 1 MB/s; 2 in flight */
    d.flash_stream_bw = 1e6;
    d.flash_max_bw = 1e9;
    d.flash_max_iops = 1e6;
    d.pagecache_bw = 1e7; /* a page-cache hit: bytes / 10 MB/s */
    d.compute_flops = 1e12;
    d.mem_bw = 1e12;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("olmoe-1b-7b", &m, &err), LF_OK);
    lf_moesim_cfg c = {&d, &m, 1000, 0, 0, 0, 0, 0, 2, 1, 0, 0, 1e-3, 2, 1};
    lf_moesim_result r;
    /* No caches: per layer 2 reads of 1000 bytes, 2 in flight = (2 ms + 2 ms) / 2 = 2 ms,
     * plus 1 ms compute; 2 layers: 6 ms a token. */
    assert_int_equal(lf_moesim_run(&c, &t, &r, &err), LF_OK);
    assert_true(fabs(r.ms_token - 6.0) < 1e-9);
    assert_true(fabs(r.tok_s - 1000.0 / 6.0) < 1e-6);
    assert_true(r.flash_share == 1.0);
    assert_true(fabs(r.flash_mb - 0.004) < 1e-12);
    assert_int_equal(r.tokens, 8);
    /* A page cache of 8 per layer: after the 2 cold tokens every expert is a page-cache
     * hit of 1000 / 1e7 s = 0.1 ms: per layer 0.2 + 1 ms, 2.4 ms a token. */
    c.pc_per_layer = 8;
    assert_int_equal(lf_moesim_run(&c, &t, &r, &err), LF_OK);
    assert_true(fabs(r.ms_token - 2.4) < 1e-9);
    assert_true(r.pc_hit == 1.0 && r.flash_share == 0.0);
    /* An application cache of 4: no I/O after the warm-up, 2 ms a token. */
    c.pc_per_layer = 0;
    c.app_per_layer = 4;
    assert_int_equal(lf_moesim_run(&c, &t, &r, &err), LF_OK);
    assert_true(fabs(r.ms_token - 2.0) < 1e-9);
    assert_true(r.app_hit == 1.0);
    /* Perfect prefetch without caches: the 2 ms of reads overlap the 1 ms of compute, 1 ms
     * shows: 2 ms a layer, 4 ms a token. */
    c.app_per_layer = 0;
    c.prefetch = 2;
    c.acc = 1;
    assert_int_equal(lf_moesim_run(&c, &t, &r, &err), LF_OK);
    assert_true(fabs(r.ms_token - 4.0) < 1e-9);
    assert_true(fabs(r.prefetch_ms - 2.0) < 1e-9);
    assert_true(r.pf_right == 1.0);
    /* Splitting a read in 2 doubles the latencies paid: (4 x 1 ms + 2 ms) / 2 = 3 ms. */
    c.prefetch = 0;
    c.split = 2;
    assert_int_equal(lf_moesim_run(&c, &t, &r, &err), LF_OK);
    assert_true(fabs(r.ms_token - 8.0) < 1e-9);
    c.warmup = 10;
    assert_int_equal(lf_moesim_run(&c, &t, &r, &err), LF_EINVAL);
    lf_trace_free(&t);
}

static void test_scenario_command(void **st)
{
    (void)st;
    const char *conf = lf_test_path("p.conf");
    lf_test_write(conf, "zipf = 0.8\nreuse = 0.4\n", 23);
    char *out, *errs;
    int rc = lf_test_run(&out, &errs,
                         "moe-scenario --bits 2 --cache-per-layer 32 --params %s --tokens 300 "
                         "--warmup 100 --csv %s",
                         conf, lf_test_path("scen.csv"));
    if (rc != 0)
        fail_msg("moe-scenario failed: %s", errs);
    assert_non_null(strstr(out, "Assumptions"));
    /* a page cache of 32 experts per layer is not the published plan (the page cache gets
     * all free DRAM): no published figure beside the row */
    const char *row = strstr(out, "\ncustom ");
    assert_non_null(row);
    const char *eol = strchr(row + 1, '\n');
    assert_non_null(eol);
    assert_true(eol[-1] == '-');
    assert_non_null(strstr(out, "zipf 0.800, reuse 0.400"));
    char *csv;
    size_t len;
    lf_err err;
    assert_int_equal(lf_read_file(lf_test_path("scen.csv"), &csv, &len, &err), LF_OK);
    assert_true(!strncmp(csv, "scenario,device,bits,", 21));
    assert_non_null(strstr(csv, "custom,m3max,2,0,32,"));
    free(csv);
    free(out);
    free(errs);
    /* The published configurations: every published figure and the explanation. */
    rc = lf_test_run(&out, &errs, "moe-scenario --params %s --tokens 400 --warmup 100", conf);
    if (rc != 0)
        fail_msg("moe-scenario failed: %s", errs);
    const char *expect[] = {"M3 Max 4-bit trust-OS", "4.36", "5.74", "4.11", "-38%", "0.60",
                            "iphone17pro", "Why the prediction differs", "+38%"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strstr(out, expect[i]))
            fail_msg("'%s' missing from: %s", expect[i], out);
    free(out);
    free(errs);
    /* Bad input. */
    assert_int_equal(lf_test_run(NULL, NULL, "moe-scenario --bits 3"), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "moe-scenario --sizes 4,8"), 2);
    /* --csv naming an input: refused before anything is written, the input intact */
    lf_test_write(conf, "zipf = 0.8\nreuse = 0.4\n", 23);
    lf_test_expect(1, "is the same file as input", "moe-scenario --params %s --tokens 400 --csv %s",
                   conf, conf);
    char *kept;
    size_t kept_len;
    lf_err kerr;
    assert_int_equal(lf_read_file(conf, &kept, &kept_len, &kerr), LF_OK);
    assert_string_equal(kept, "zipf = 0.8\nreuse = 0.4\n");
    free(kept);
    assert_int_equal(lf_test_run(NULL, NULL, "moe-scenario --frobnicate"), 2);
    lf_test_write(conf, "zipf = 0.8\nreuse = 0.4\nskew = 2\n", 32);
    rc = lf_test_run(&out, &errs, "moe-scenario --bits 2 --params %s --tokens 400", conf);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(errs, "unknown key 'skew'"));
    free(out);
    free(errs);
    lf_test_write(conf, "zipf = 0.8\nreuse = 0.4\n", 23);
    rc = lf_test_run(&out, &errs, "moe-scenario --device nowhere.conf --params %s", conf);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(errs, "nowhere.conf"));
    free(out);
    free(errs);
}

/* The scenario library: an application cache takes its experts out of the page cache the
 * free DRAM gives; a configuration gets a published figure only when it is a published
 * plan; without options every published plan is priced, in order; a bad profile is
 * refused naming it. */
static int profile_path(const char *spec, char *path, size_t cap, lf_err *err)
{
    (void)err;
    snprintf(path, cap, strchr(spec, '.') ? "%s" : "costmodel/devices/%s.conf", spec);
    return LF_OK;
}

static void test_scenario_library(void **st)
{
    (void)st;
    const char *conf = lf_test_path("lib.conf");
    lf_test_write(conf, "zipf = 0.8\nreuse = 0.4\n", 23);
    lf_scenario_opts o = {.params = conf, .bits = 2, .single = 1, .cache = -1, .app = -1,
                          .tokens = 200, .warmup = 50, .threads = 4, .split = 1, .acc = 0.53,
                          .os_gib = -1, .seed = 1, .find_device = profile_path};
    lf_scenario a, b;
    lf_err err;
    assert_int_equal(lf_scenario_run(&o, &a, &err), LF_OK);
    assert_int_equal(a.n, 1);
    assert_true(a.rows[0].pc > 8 && a.rows[0].app == 0);
    assert_true(a.rows[0].d.published == lf_scenario_defs[1].published); /* 2-bit trust-OS */
    assert_true(fabs(a.zipf - 0.8) < 1e-12 && fabs(a.reuse - 0.4) < 1e-12);
    o.app = 8;
    assert_int_equal(lf_scenario_run(&o, &b, &err), LF_OK);
    assert_int_equal(b.rows[0].app, 8);
    assert_int_equal(b.rows[0].pc, a.rows[0].pc - 8);
    assert_true(b.rows[0].d.published == 0); /* not a published plan */
    assert_true(b.rows[0].r.app_hit > 0);
    lf_scenario_free(&b);
    o.app = -1;
    o.cache = 32; /* nor is a smaller page cache */
    assert_int_equal(lf_scenario_run(&o, &b, &err), LF_OK);
    assert_true(b.rows[0].d.published == 0);
    o.cache = -1;
    lf_scenario_free(&a);
    lf_scenario_free(&b);
    o.single = 0;
    o.app = -1;
    assert_int_equal(lf_scenario_run(&o, &a, &err), LF_OK);
    assert_int_equal(a.n, lf_scenario_n_defs);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.rows[i].d.name, lf_scenario_defs[i].name);
        assert_true(a.rows[i].r.tok_s > 0);
    }
    lf_scenario_free(&a);
    o.single = 1;
    o.device = "nowhere.conf";
    assert_int_not_equal(lf_scenario_run(&o, &a, &err), LF_OK);
    assert_non_null(strstr(err.msg, "nowhere.conf"));
    assert_null(a.rows);
}

/* The hit-rate curve CSV: the documented header; belady's rate at least every other
 * policy's at every size. */
static void test_hit_curve(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("qwen1.5-moe-a2.7b", &m, &err), LF_OK);
    m.n_layers = 2;
    lf_synth_params p;
    lf_synth_defaults(&p);
    lf_trace t;
    assert_int_equal(lf_synth_generate(&m, 400, &p, &t, &err), LF_OK);
    const char *h5 = lf_test_path("curve.h5"), *csv = lf_test_path("curve.csv");
    assert_int_equal(lf_trace_write(&t, h5, &err), LF_OK);
    lf_trace_free(&t);
    char *out, *errs;
    int rc = lf_test_run(&out, &errs, "moe-scenario --hit-curve %s --sizes 2,4,16 --csv %s", h5,
                         csv);
    if (rc != 0)
        fail_msg("hit curve failed: %s", errs);
    free(out);
    free(errs);
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "policy,cache_size,hit_rate,trace\n");
    double best[2] = {0, 0}, belady[2] = {-1, -1};
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char pol[32], tr[64];
        unsigned size;
        double h;
        assert_int_equal(sscanf(line, "%31[^,],%u,%lf,%63s", pol, &size, &h, tr), 4);
        assert_string_equal(tr, "curve");
        assert_true(size == 4 || size == 16); /* 2 < top-4: left out */
        int i = size == 16;
        if (!strcmp(pol, "belady"))
            belady[i] = h;
        else if (h > best[i])
            best[i] = h;
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 12); /* 6 policies x 2 sizes */
    assert_true(belady[0] >= best[0] && belady[1] >= best[1]);
    assert_true(belady[1] > belady[0]);
    /* an empty item of either list, or no size with a hit rate, is refused: no CSV */
    const char *bad[][2] = {{"--hit-curve %s, --sizes 4", "item 2 is empty"},
                            {"--hit-curve %s --sizes 4,,16", "item 2 is empty"},
                            {"--hit-curve %s --sizes 0,999999", "no cache size"},
                            {"--hit-curve %s --bits 2", "--bits is a scenario option"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, bad[i][0], h5);
        remove(csv); /* absent before each */
        rc = lf_test_run(NULL, &errs, "moe-scenario %s --csv %s", args, csv);
        if (rc != 2 || !strstr(errs, bad[i][1]))
            fail_msg("'%s': exit %d, %s", args, rc, errs);
        assert_false(lf_file_exists(csv));
        free(errs);
    }
    /* --csv naming the trace it reads: refused, the trace intact */
    lf_test_expect(1, "is the same file as input", "moe-scenario --hit-curve %s --csv %s", h5, h5);
    lf_trace tt;
    lf_err terr;
    assert_int_equal(lf_trace_read(h5, &tt, &terr), LF_OK);
    lf_trace_free(&tt);
    /* DRAM that cannot hold the engine is refused, naming the least that does */
    rc = lf_test_run(NULL, &errs, "moe-scenario --bits 4 --ram-gib 1 --os-gib 2");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(errs, "--ram-gib 8.5 or more"));
    free(errs);
}

/* Bad option values name the option (moe-scenario said "option wants a positive
 * integer") and numbers that overflow are refused (import took 2^64-1 records). */
static void test_option_values_named(void **st)
{
    (void)st;
    const char *cases[][2] = {
        {"moe-scenario --split 0", "--split"},
        {"moe-scenario --threads x", "--threads"},
        {"trace import --drop-prefix 99999999999999999999 -o x.h5 x.jsonl", "--drop-prefix"},
        {"trace fit --seed 1x --model olmoe-1b-7b --lru 16:0.5", "--seed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *o, *e;
        int rc = lf_test_run(&o, &e, "%s", cases[i][0]);
        if (rc != 2 || !e || !strstr(e, cases[i][1]))
            fail_msg("'%s': exit %d, stderr %s", cases[i][0], rc, e ? e : "(none)");
        free(o);
        free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_recovers_parameters),
        cmocka_unit_test(test_fit_lru_curve),
        cmocka_unit_test(test_moesim_pricing),
        cmocka_unit_test(test_scenario_command),
        cmocka_unit_test(test_hit_curve),
        cmocka_unit_test(test_scenario_library),
        cmocka_unit_test(test_option_values_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
