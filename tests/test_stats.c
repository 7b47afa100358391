/* Tests of trace statistics (traces/lf_stats) and `llmflash trace stats` on tiny
 * hand-made traces whose every figure is worked out by hand in the comments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_stats.h"
#include "lf_test.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* Layer 0 (10 units, 5 tokens): {0,1} {1,2} {1} {0,1,3} {}.  Layer 1: {5} every token. */
static void make_neurons(lf_trace *t)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_NEURONS, "hand", 2, 4, 10, 0, 2, 0, 0, &err),
                     LF_OK);
    const uint32_t a[] = {0, 1}, b[] = {1, 2}, c[] = {1}, d[] = {0, 1, 3}, five[] = {5};
    const uint32_t *l0[5] = {a, b, c, d, a}; /* the last with n = 0 */
    const uint32_t n0[5] = {2, 2, 1, 3, 0};
    for (int tok = 0; tok < 5; tok++) {
        assert_int_equal(lf_trace_append_layer(t, 0, l0[tok], n0[tok], NULL, &err), LF_OK);
        assert_int_equal(lf_trace_append_layer(t, 1, five, 1, NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(t, -1, &err), LF_OK);
    }
}

static void test_hand_neurons(void **st)
{
    (void)st;
    lf_trace t;
    make_neurons(&t);
    lf_stats s;
    lf_stats_opts o;
    lf_stats_opts_default(&o);
    o.max_window = 5;
    lf_err err;
    assert_int_equal(lf_stats_compute(&t, &o, &s, &err), LF_OK);
    assert_int_equal(s.n_layers, 2);
    const lf_stats_layer *L = &s.layers[0];
    /* inactive fractions 8/10 8/10 9/10 7/10 10/10 -> 0.84 */
    NEAR(L->sparsity, 0.84);
    /* unions: k=1: 2,2,1,3,0 -> 8/5; k=2: 3,2,3,3 -> 11/4; k=3: 3,4,3 -> 10/3; k=4: 4,4;
     * k=5: 4; divided by 10 units. */
    NEAR(L->s_agg[0], 0.16);
    NEAR(L->s_agg[1], 0.275);
    NEAR(L->s_agg[2], 1.0 / 3);
    NEAR(L->s_agg[3], 0.4);
    NEAR(L->s_agg[4], 0.4);
    NEAR(L->delta[0], 0.275 - 0.16);
    NEAR(L->delta[1], 1.0 / 3 - 0.275);
    NEAR(L->delta[2], 0.4 - 1.0 / 3);
    NEAR(L->delta[3], 0);
    assert_true(isnan(L->delta[4])); /* s_agg(6) needs 6 tokens */
    /* reuse: intersections 1,1,1,0 over sizes 2,1,3,0 -> 3/6 */
    NEAR(L->reuse, 0.5);
    /* counts: unit1 4, unit0 2, unit2 1, unit3 1 (total 8); top 10% = 1 unit, 20% = 2 */
    NEAR(L->top10, 4.0 / 8);
    NEAR(L->top20, 6.0 / 8);
    /* co-activation: C(0,1)=2 C(0,3)=1 C(1,2)=1 C(1,3)=1. Friends: 0->1 (2 of 2),
     * 1->0 (2 of 4), 2->1 (1 of 1), 3->0 (tie with 1, lower id; 1 of 1).
     * Shares 1, .5, 1, 1: mean .875, median 1. Hottest 1% = {1}: friends 1,0,1,0 -> 0.5.
     * Distinct friends {0,1}: 2 of 4. */
    assert_int_equal(L->friend_units, 4);
    NEAR(L->friend_share_mean, 0.875);
    NEAR(L->friend_share_median, 1.0);
    NEAR(L->friend_in_top1, 0.5);
    NEAR(L->friend_distinct, 0.5);
    assert_null(L->expert_share);
    /* Layer 1: {5} always. */
    const lf_stats_layer *M = &s.layers[1];
    NEAR(M->sparsity, 0.9);
    NEAR(M->s_agg[3], 0.1);
    NEAR(M->delta[0], 0);
    NEAR(M->reuse, 1);
    NEAR(M->top10, 1);
    assert_int_equal(M->friend_units, 0);
    assert_true(isnan(M->friend_share_mean));
    /* Overall: means of the layers, NaN skipped. */
    NEAR(s.all.sparsity, 0.87);
    NEAR(s.all.s_agg[1], (0.275 + 0.1) / 2);
    NEAR(s.all.reuse, 0.75);
    NEAR(s.all.friend_share_mean, 0.875);
    assert_int_equal(s.all.friend_units, 4);
    lf_stats_free(&s);

    /* Every unit's friend, and a sampled subset (ids 0 and 5 of 10). */
    uint32_t f[10], c[10];
    assert_int_equal(lf_stats_closest_friends(&t, 0, f, c, &err), LF_OK);
    const uint32_t wf[4] = {1, 0, 1, 0}, wc[4] = {2, 2, 1, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f[i], wf[i]);
        assert_int_equal(c[i], wc[i]);
    }
    for (int i = 4; i < 10; i++) {
        assert_int_equal(f[i], LF_STATS_NO_FRIEND);
        assert_int_equal(c[i], 0);
    }
    o.friend_sample = 2;
    o.layer = 0;
    assert_int_equal(lf_stats_compute(&t, &o, &s, &err), LF_OK);
    assert_int_equal(s.n_layers, 1);
    assert_int_equal(s.layers[0].friend_units, 1); /* unit 5 never fires in layer 0 */
    NEAR(s.layers[0].friend_share_mean, 1.0);
    NEAR(s.all.sparsity, 0.84);
    lf_stats_free(&s);
    o.layer = 2;
    assert_int_equal(lf_stats_compute(&t, &o, &s, &err), LF_ERANGE);
    assert_int_equal(lf_stats_closest_friends(&t, 7, f, c, &err), LF_ERANGE);
    lf_trace_free(&t);
}

/* 4 experts, top-2: {0,1} {0,2} {1,2} {0,1}. */
static void make_experts(lf_trace *t)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(t, LF_UNITS_EXPERTS, "hand-moe", 1, 4, 4, 2, 2, 0, 0,
                                         &err),
                     LF_OK);
    const uint32_t s[4][2] = {{0, 1}, {0, 2}, {1, 2}, {0, 1}};
    for (int tok = 0; tok < 4; tok++) {
        assert_int_equal(lf_trace_append_layer(t, 0, s[tok], 2, NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(t, -1, &err), LF_OK);
    }
}

static void test_hand_experts(void **st)
{
    (void)st;
    lf_trace t;
    make_experts(&t);
    lf_stats s;
    lf_stats_opts o;
    lf_stats_opts_default(&o);
    lf_err err;
    assert_int_equal(lf_stats_compute(&t, &o, &s, &err), LF_OK);
    /* counts 3,3,2,0 of 8 */
    NEAR(s.all.expert_share[0], 0.375);
    NEAR(s.all.expert_share[1], 0.375);
    NEAR(s.all.expert_share[2], 0.25);
    NEAR(s.all.expert_share[3], 0);
    NEAR(s.all.reuse, 0.5);
    NEAR(s.all.sparsity, 0.5);
    /* Accesses 0,1 | 0,2 | 1,2 | 0,1; stack distances -,-,1,-,2,1,2,2.
     * Cache 1: 0 hits; 2: the two at distance 1; 4: 5 of 8. */
    assert_int_equal(s.n_cache, 3);
    assert_int_equal(s.cache_sizes[0], 1);
    assert_int_equal(s.cache_sizes[1], 2);
    assert_int_equal(s.cache_sizes[2], 4);
    NEAR(s.all.lru_hit[0], 0);
    NEAR(s.all.lru_hit[1], 0.25);
    NEAR(s.all.lru_hit[2], 0.625);
    lf_stats_free(&s);
    lf_trace_free(&t);
}

/* No tokens, or one: the figures that need more are NaN, nothing crashes. */
static void test_short_traces(void **st)
{
    (void)st;
    lf_trace t;
    lf_err err;
    lf_stats s;
    lf_stats_opts o;
    lf_stats_opts_default(&o);
    assert_int_equal(lf_trace_init_shape(&t, LF_UNITS_NEURONS, "empty", 1, 4, 6, 0, 2, 0, 0, &err),
                     LF_OK);
    assert_int_equal(lf_stats_compute(&t, &o, &s, &err), LF_OK);
    assert_true(isnan(s.all.sparsity) && isnan(s.all.s_agg[0]) && isnan(s.all.reuse));
    assert_true(isnan(s.all.top10));
    assert_int_equal(s.all.friend_units, 0);
    lf_stats_free(&s);
    const uint32_t a[] = {2, 4};
    assert_int_equal(lf_trace_append_layer(&t, 0, a, 2, NULL, &err), LF_OK);
    assert_int_equal(lf_trace_end_token(&t, -1, &err), LF_OK);
    assert_int_equal(lf_stats_compute(&t, &o, &s, &err), LF_OK);
    NEAR(s.all.sparsity, 4.0 / 6);
    NEAR(s.all.s_agg[0], 2.0 / 6);
    assert_true(isnan(s.all.s_agg[1]) && isnan(s.all.delta[0]) && isnan(s.all.reuse));
    NEAR(s.all.top10, 0.5); /* ceil(0.6) = 1 unit of 2 activations */
    NEAR(s.all.friend_share_mean, 1);
    lf_stats_free(&s);
    lf_trace_free(&t);
}

static char *slurp(const char *path)
{
    char *d = lf_test_slurp(path);
    assert_non_null(d);
    return d;
}

/* Runs `llmflash trace stats FILE ARGS`; checks that stderr holds `want`. */
static int stats_cli(const char *file, const char *args, const char *want)
{
    char *out, *err;
    int rc = lf_test_run(&out, &err, "trace stats %s %s", file, args);
    if (!strstr(err, want))
        fail_msg("stderr of 'trace stats %s %s' lacks '%s': %s", file, args, want, err);
    free(out);
    free(err);
    return rc;
}

static void test_csv_and_cli(void **st)
{
    (void)st;
    lf_trace t;
    make_neurons(&t);
    lf_err err;
    const char *h5 = lf_test_path("hand.h5");
    assert_int_equal(lf_trace_write(&t, h5, &err), LF_OK);
    lf_trace_free(&t);
    const char *csv = lf_test_path("hand.csv");
    char *out, *e;
    assert_int_equal(lf_test_run(&out, &e, "trace stats %s --max-window 3 --csv %s", h5, csv), 0);
    assert_non_null(strstr(out, "s_agg"));
    assert_non_null(strstr(out, "0.8700"));
    free(out);
    free(e);
    char *d = slurp(csv);
    assert_true(strncmp(d, "layer,metric,k,value\n", 21) == 0);
    assert_non_null(strstr(d, "\n-1,tokens,0,5\n"));
    assert_non_null(strstr(d, "\n-1,sparsity,0,0.87\n"));
    assert_non_null(strstr(d, "\n0,s_agg,2,0.275\n"));
    assert_non_null(strstr(d, "\n0,reuse,0,0.5\n"));
    assert_non_null(strstr(d, "\n0,friend_share_mean,0,0.875\n"));
    assert_null(strstr(d, "\n0,s_agg,4,")); /* K = 3 */
    assert_null(strstr(d, "nan"));
    free(d);

    /* Per-unit friends, worked out by hand from make_neurons. */
    const char *fcsv = lf_test_path("friends.csv");
    assert_int_equal(lf_test_run(&out, &e, "trace stats %s --friends-csv %s", h5, fcsv), 0);
    free(out);
    free(e);
    d = slurp(fcsv);
    assert_string_equal(d, "layer,unit,count,friend,friend_count\n"
                           "0,0,2,1,2\n0,1,4,0,2\n0,2,1,1,1\n0,3,1,0,1\n"
                           "1,5,5,-1,0\n");
    free(d);

    assert_int_equal(lf_test_run(&out, &e, "trace stats %s --layer 1 --per-layer", h5), 0);
    assert_non_null(strstr(out, "layer 1:"));
    free(out);
    free(e);
    assert_int_equal(stats_cli(h5, "--layer 2", "layers 0..1"), 2);
    assert_int_equal(stats_cli(h5, "--bogus", "--bogus"), 2);
    assert_int_equal(stats_cli(h5, "--max-window 0", "--max-window"), 2);
    assert_int_equal(stats_cli("", "", "missing the trace file"), 2);
    assert_int_equal(stats_cli(lf_test_path("missing.h5"), "", "missing.h5"), 1);
    const char *junk = lf_test_path("junk.h5");
    lf_test_write(junk, "not hdf5", 8);
    assert_int_equal(stats_cli(junk, "", "junk.h5"), 1);
    /* A CSV into a folder that does not exist: error, nothing written. */
    char bad_csv[1300];
    snprintf(bad_csv, sizeof bad_csv, "--csv %s/no/such/x.csv", lf_test_dir());
    assert_int_equal(stats_cli(h5, bad_csv, "no/such"), 1);
    assert_int_equal(lf_test_run(&out, &e, "trace stats --help"), 0);
    assert_non_null(strstr(out, "example"));
    free(out);
    free(e);

    /* Expert traces print the LRU curve. */
    make_experts(&t);
    assert_int_equal(lf_trace_write(&t, h5, &err), LF_OK);
    lf_trace_free(&t);
    assert_int_equal(lf_test_run(&out, &e, "trace stats %s --csv %s", h5, csv), 0);
    assert_non_null(strstr(out, "LRU"));
    free(out);
    free(e);
    d = slurp(csv);
    assert_non_null(strstr(d, "\n0,lru_hit_rate,4,0.625\n"));
    assert_non_null(strstr(d, "\n0,expert_share,1,0.375\n"));
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_neurons),
        cmocka_unit_test(test_hand_experts),
        cmocka_unit_test(test_short_traces),
        cmocka_unit_test(test_csv_and_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
