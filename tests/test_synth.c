/* Tests of the synthetic trace generator (traces/lf_synth) and `llmflash trace synth`:
 * determinism, the targets of the generative model (sparsity, reuse, s_agg of the
 * two-state chain), groups, the expert router, and bad input. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_mt.h"
#include "lf_stats.h"
#include "lf_synth.h"
#include "lf_test.h"

static void gen(const char *model, uint32_t tokens, const lf_synth_params *p, lf_trace *t)
{
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup(model, &m, &err), LF_OK);
    int rc = lf_synth_generate(&m, tokens, p, t, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(lf_trace_check(t, model, &err), LF_OK);
    assert_int_equal(t->n_tokens, tokens);
}

static int same_data(const lf_trace *a, const lf_trace *b)
{
    if (a->n_layers != b->n_layers || a->n_tokens != b->n_tokens)
        return 0;
    for (uint32_t l = 0; l < a->n_layers; l++) {
        const lf_trace_layer *x = &a->layers[l], *y = &b->layers[l];
        if (x->nnz != y->nnz ||
            memcmp(x->indptr, y->indptr, (a->n_tokens + 1) * sizeof *x->indptr) ||
            memcmp(x->index, y->index, x->nnz * sizeof *x->index))
            return 0;
    }
    return 1;
}

static void stats_of(const lf_trace *t, uint32_t K, lf_stats *s)
{
    lf_stats_opts o;
    lf_stats_opts_default(&o);
    o.max_window = K;
    lf_err err;
    assert_int_equal(lf_stats_compute(t, &o, s, &err), LF_OK);
}

static void test_seed_determinism(void **st)
{
    (void)st;
    lf_synth_params p;
    lf_synth_defaults(&p);
    p.groups = 8;
    p.seed = 11;
    lf_trace a, b, c;
    gen("custom:3,16,512", 200, &p, &a);
    gen("custom:3,16,512", 200, &p, &b);
    assert_true(same_data(&a, &b));
    assert_int_equal(a.seed, 11);
    assert_string_equal(a.source, "synthetic");
    assert_non_null(strstr(a.generator, "persistence=0.6 "));
    assert_non_null(strstr(a.generator, "groups=8 "));
    p.seed = 12;
    gen("custom:3,16,512", 200, &p, &c);
    assert_false(same_data(&a, &c));
    /* Layers use different streams: layer 0 and 1 differ within one trace. */
    assert_false(a.layers[0].nnz == a.layers[1].nnz &&
                 !memcmp(a.layers[0].index, a.layers[1].index, a.layers[0].nnz * 4));
    lf_trace_free(&a);
    lf_trace_free(&b);
    lf_trace_free(&c);

    lf_trace e1, e2;
    gen("olmoe-1b-7b", 50, &p, &e1);
    gen("olmoe-1b-7b", 50, &p, &e2);
    assert_true(same_data(&e1, &e2));
    lf_trace_free(&e1);
    lf_trace_free(&e2);
}

/* The mean of the activation probabilities is exactly 1 - sparsity by construction and
 * token 0 is drawn from the stationary law, so the only error is the time average:
 * its variance is at most mu (1 + rho) / (1 - rho) / (U T) = 0.1 * 4 / (4096 * 400),
 * sd 5e-4 at mu = 0.1 (2.4e-4 at 0.05); groups add a little correlation. 0.004 is > 7 sd. */
static void test_sparsity_target(void **st)
{
    (void)st;
    lf_synth_params p;
    lf_synth_defaults(&p);
    double per_layer[2] = {0.9, 0.95};
    p.layer_sparsity = per_layer;
    p.groups = 100;
    p.group_strength = 0.5;
    lf_trace t;
    gen("custom:2,64,4096", 400, &p, &t);
    lf_stats s;
    stats_of(&t, 4, &s);
    assert_true(fabs(s.layers[0].sparsity - 0.9) < 0.004);
    assert_true(fabs(s.layers[1].sparsity - 0.95) < 0.004);
    assert_non_null(strstr(t.generator, "sparsity=0.9,0.95 "));
    lf_stats_free(&s);
    lf_trace_free(&t);
    /* No sparsity given: the model's default (0.90 for custom shapes). */
    lf_synth_defaults(&p);
    gen("custom:1,64,4096", 300, &p, &t);
    stats_of(&t, 2, &s);
    assert_true(fabs(s.all.sparsity - 0.90) < 0.004);
    lf_stats_free(&s);
    lf_trace_free(&t);
}

/* With skew 0 every neuron has p = mu and the two-state chain gives closed forms:
 * reuse = p + rho (1 - p) and s_agg(k) = 1 - (1 - p)(1 - p (1 - rho))^(k-1).
 * Here p = 0.1, rho = 0.5: reuse 0.55, s_agg(4) = 1 - 0.9 * 0.95^3 = 0.228363.
 * Sampling error over 8192 x 600 neuron-steps is below 0.005 (sd ~ 1e-3). */
static void test_chain_closed_forms(void **st)
{
    (void)st;
    lf_synth_params p;
    lf_synth_defaults(&p);
    p.skew = 0;
    p.sparsity = 0.9;
    p.persistence = 0.5;
    lf_trace t;
    gen("custom:1,64,8192", 600, &p, &t);
    lf_stats s;
    stats_of(&t, 8, &s);
    assert_true(fabs(s.all.reuse - 0.55) < 0.01);
    for (uint32_t k = 1; k <= 8; k++) {
        double want = 1 - 0.9 * pow(0.95, k - 1);
        assert_true(fabs(s.all.s_agg[k - 1] - want) < 0.005);
    }
    lf_stats_free(&s);
    lf_trace_free(&t);
    /* persistence 0: independent tokens, reuse = p. */
    p.persistence = 0;
    gen("custom:1,64,8192", 300, &p, &t);
    stats_of(&t, 2, &s);
    assert_true(fabs(s.all.reuse - 0.1) < 0.01);
    lf_stats_free(&s);
    lf_trace_free(&t);
}

/* Default OPT-like parameters: s_agg increases and is concave (delta non-increasing);
 * more persistence means a smaller union. */
static void test_sagg_concave(void **st)
{
    (void)st;
    lf_synth_params p;
    lf_synth_defaults(&p);
    p.sparsity = 0.97;
    lf_trace t;
    gen("custom:2,64,8192", 500, &p, &t);
    lf_stats s;
    stats_of(&t, 8, &s);
    for (uint32_t k = 1; k < 8; k++) {
        assert_true(s.all.s_agg[k] > s.all.s_agg[k - 1]);
        assert_true(s.all.delta[k] <= s.all.delta[k - 1] + 2e-4);
    }
    assert_true(s.all.delta[7] < s.all.delta[0]);
    /* Popularity is skewed: the 10% hottest carry far more than 10%. */
    assert_true(s.all.top10 > 0.4);
    double s8 = s.all.s_agg[7];
    lf_stats_free(&s);
    lf_trace_free(&t);
    p.persistence = 0.9;
    gen("custom:2,64,8192", 500, &p, &t);
    stats_of(&t, 8, &s);
    assert_true(s.all.s_agg[7] < s8);
    lf_stats_free(&s);
    lf_trace_free(&t);
}

/* Strength 1 and equal probabilities: a group's members are driven by the group alone,
 * so each member's closest friend fires in every token it fires (share 1), and the
 * marginal sparsity is still the target. */
static void test_groups(void **st)
{
    (void)st;
    lf_synth_params p;
    lf_synth_defaults(&p);
    p.skew = 0;
    p.sparsity = 0.9;
    p.groups = 256;
    p.group_size = 4;
    p.group_strength = 1;
    lf_trace t;
    gen("custom:1,64,1024", 300, &p, &t);
    uint32_t *f = malloc(1024 * sizeof *f), *c = malloc(1024 * sizeof *c);
    lf_err err;
    assert_int_equal(lf_stats_closest_friends(&t, 0, f, c, &err), LF_OK);
    uint32_t *act = calloc(1024, sizeof *act);
    for (uint64_t i = 0; i < t.layers[0].nnz; i++)
        act[t.layers[0].index[i]]++;
    for (uint32_t i = 0; i < 1024; i++) {
        if (act[i] == 0)
            continue;
        assert_int_not_equal(f[i], LF_STATS_NO_FRIEND);
        assert_int_equal(c[i], act[i]); /* the friend fires whenever i fires */
        assert_int_equal(act[f[i]], act[i]); /* and vice versa: a group-mate */
    }
    free(act);
    lf_stats s;
    stats_of(&t, 2, &s);
    /* 256 independent group chains: sd of the mean sparsity ~ sqrt(0.09*4/300/256) = 0.002 */
    assert_true(fabs(s.all.sparsity - 0.9) < 0.01);
    assert_true(s.all.friend_share_mean > 0.999);
    lf_stats_free(&s);
    lf_trace_free(&t);
    /* Without groups, independent neurons rarely share more than half their tokens. */
    p.groups = 0;
    gen("custom:1,64,1024", 300, &p, &t);
    stats_of(&t, 2, &s);
    assert_true(s.all.friend_share_mean < 0.6);
    lf_stats_free(&s);
    lf_trace_free(&t);
    free(f);
    free(c);
}

static void test_experts(void **st)
{
    (void)st;
    lf_synth_params p;
    lf_synth_defaults(&p);
    lf_trace t;
    gen("olmoe-1b-7b", 200, &p, &t);
    assert_int_equal(t.kind, LF_UNITS_EXPERTS);
    assert_int_equal(t.units_per_layer, 64);
    assert_int_equal(t.top_k, 8);
    for (uint32_t l = 0; l < t.n_layers; l++)
        for (uint32_t tok = 0; tok < t.n_tokens; tok++) {
            uint32_t n;
            lf_trace_ids(&t, l, tok, &n);
            assert_int_equal(n, 8); /* distinct and sorted: lf_trace_check in gen() */
        }
    lf_trace_free(&t);
    /* reuse 1: the first token's set is kept forever. top_k override. */
    p.experts.reuse = 1;
    p.experts.top_k = 3;
    gen("mixtral-8x7b", 50, &p, &t);
    assert_int_equal(t.top_k, 3);
    for (uint32_t tok = 1; tok < 50; tok++) {
        uint32_t n0, n;
        const uint32_t *a = lf_trace_ids(&t, 5, 0, &n0), *b = lf_trace_ids(&t, 5, tok, &n);
        assert_int_equal(n, 3);
        assert_memory_equal(a, b, 3 * sizeof *a);
    }
    lf_trace_free(&t);
    /* Given popularity with exactly top_k positive weights: always those experts. */
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("mixtral-8x7b", &m, &err), LF_OK);
    double *w = calloc(32 * 8, sizeof *w);
    for (uint32_t l = 0; l < 32; l++)
        w[l * 8 + 2] = w[l * 8 + 6] = 1;
    lf_synth_defaults(&p);
    p.experts.popularity = w;
    p.experts.reuse = 0;
    gen("mixtral-8x7b", 20, &p, &t);
    for (uint32_t tok = 0; tok < 20; tok++) {
        uint32_t n;
        const uint32_t *ids = lf_trace_ids(&t, 31, tok, &n);
        assert_int_equal(n, 2);
        assert_int_equal(ids[0], 2);
        assert_int_equal(ids[1], 6);
    }
    assert_non_null(strstr(t.generator, "popularity=given"));
    lf_trace_free(&t);
    w[3 * 8 + 6] = 0; /* layer 3 has one positive weight, fewer than top_k 2 */
    assert_int_equal(lf_synth_generate(&m, 5, &p, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "layer 3"));
    lf_trace_free(&t);
    free(w);
    /* Zipf 0 and no reuse: uniform popularity, each of 8 experts ~ 1/8 of activations. */
    lf_synth_defaults(&p);
    p.experts.zipf = 0;
    p.experts.reuse = 0;
    gen("mixtral-8x7b", 2000, &p, &t);
    lf_stats s;
    stats_of(&t, 2, &s);
    assert_true(fabs(s.all.expert_share[0] - 0.125) < 0.02);
    assert_true(fabs(s.all.expert_share[7] - 0.125) < 0.02);
    lf_stats_free(&s);
    lf_trace_free(&t);
}

/* lf_mt19937 gives gsl_rng_mt19937's numbers (seeding included: 0 means 4357, only
 * the low 32 bits count) through every GSL call the generator makes, and its inline
 * draws are the same as GSL's calls, across several refills of the state. */
static void test_mt_is_gsl(void **st)
{
    (void)st;
    const unsigned long seeds[] = {0, 1, 4357, 0x100000000ul, 0xdeadbeefcafeul};
    for (size_t k = 0; k < sizeof seeds / sizeof *seeds; k++) {
        gsl_rng *a = gsl_rng_alloc(gsl_rng_mt19937), *b = gsl_rng_alloc(lf_mt19937);
        assert_non_null(a);
        assert_non_null(b);
        gsl_rng_set(a, seeds[k]);
        gsl_rng_set(b, seeds[k]);
        for (int i = 0; i < 3000; i++) {
            switch (i % 5) {
            case 0:
                assert_true(gsl_rng_get(a) == gsl_rng_get(b));
                break;
            case 1:
                assert_true(gsl_rng_uniform(a) == gsl_rng_uniform(b));
                break;
            case 2:
                assert_true(gsl_rng_uniform_pos(a) == lf_mt_uniform_pos(b));
                break;
            case 3:
                assert_true(gsl_ran_gaussian_ziggurat(a, 1.0) == gsl_ran_gaussian_ziggurat(b, 1.0));
                break;
            default:
                assert_true(gsl_rng_uniform_int(a, 1000) == gsl_rng_uniform_int(b, 1000));
            }
        }
        unsigned long x = gsl_rng_get(a), y = lf_mt_get(b);
        assert_true(x == y);
        gsl_rng_free(a);
        gsl_rng_free(b);
    }
}

/* lf_mt_floor_log_ratio gives floor(log(u) / lq) exactly as libm does for the same u
 * (gsl_rng_uniform_pos), over rates from 1e-9 to 1 (lq down to -inf), including the
 * u next to 1 (k near 2^32, where log(u) is tiny) and near powers of two. */
static void test_mt_floor_log(void **st)
{
    (void)st;
    lf_mt_logtab T;
    lf_mt_logtab_init(&T);
    gsl_rng *a = gsl_rng_alloc(gsl_rng_mt19937), *b = gsl_rng_alloc(lf_mt19937);
    assert_true(a && b);
    gsl_rng_set(a, 99);
    gsl_rng_set(b, 99);
    const double rates[] = {1e-9, 3e-7, 1e-4, 0.0123, 0.3, 0.6, 0.97, 1 - 1e-12, 1};
    for (int i = 0; i < 900000; i++) {
        double lq = log1p(-rates[i % 9]);
        double want = floor(log(gsl_rng_uniform_pos(a)) / lq);
        double got = lf_mt_floor_log_ratio(b, &T, lq);
        if (want != got)
            fail_msg("draw %d, lq %.17g: %.17g, libm %.17g", i, lq, got, want);
    }
    /* quotients at or next to an integer, where the quick log cannot decide alone:
     * lq = log(u) / n for the u the next draw will give */
    gsl_rng *peek = gsl_rng_clone(b);
    assert_non_null(peek);
    for (int i = 0; i < 20000; i++) {
        gsl_rng_memcpy(peek, b);
        double u = gsl_rng_uniform_pos(peek);
        double lq = log(u) / (double)(1 + i % 50);
        lq = i % 3 == 0 ? lq : i % 3 == 1 ? nextafter(lq, 0) : nextafter(lq, -1);
        double want = floor(log(u) / lq);
        double got = lf_mt_floor_log_ratio(b, &T, lq);
        if (want != got)
            fail_msg("near-integer draw %d, lq %.17g: %.17g, libm %.17g", i, lq, got, want);
    }
    gsl_rng_free(peek);
    /* the log itself, on the k that matter most: near 1 and near powers of two */
    const uint32_t ks[] = {1, 2, 3, 0x7fffffffu, 0x80000000u, 0x80000001u, 0xfffffffeu,
                           0xffffffffu, 0xfffff000u, 0x10000u, 0xffffu};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        double ref = log(ks[i] / 4294967296.0);
        assert_true(fabs(lf_mt_log_u32(&T, ks[i]) - ref) < LF_MT_LOG_ERR);
    }
    for (uint64_t k = 1; k < 0x100000000ull; k += 0x10001ull * 977) {
        double ref = log((uint32_t)k / 4294967296.0);
        if (!(fabs(lf_mt_log_u32(&T, (uint32_t)k) - ref) < LF_MT_LOG_ERR / 4))
            fail_msg("k %llu: log %.17g, libm %.17g", (unsigned long long)k,
                     lf_mt_log_u32(&T, (uint32_t)k), ref);
    }
    gsl_rng_free(a);
    gsl_rng_free(b);
}

static void test_bad_params(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    lf_trace t;
    lf_synth_params p;
    assert_int_equal(lf_model_lookup("opt-1.3b", &m, &err), LF_OK);
    lf_synth_defaults(&p);
    assert_int_equal(lf_synth_generate(&m, 0, &p, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "tokens"));
    p.sparsity = 1;
    assert_int_equal(lf_synth_generate(&m, 5, &p, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "sparsity"));
    p.sparsity = 0.01; /* needs p_max >= 0.99 */
    assert_int_equal(lf_synth_generate(&m, 5, &p, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "p_max"));
    lf_synth_defaults(&p);
    p.persistence = 1.5;
    assert_int_equal(lf_synth_generate(&m, 5, &p, &t, &err), LF_EINVAL);
    lf_synth_defaults(&p);
    p.groups = 2000;
    p.group_size = 8; /* 16000 > 8192 neurons */
    assert_int_equal(lf_synth_generate(&m, 5, &p, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "groups"));
    assert_int_equal(lf_model_lookup("mixtral-8x7b", &m, &err), LF_OK);
    lf_synth_defaults(&p);
    p.experts.top_k = 9;
    assert_int_equal(lf_synth_generate(&m, 5, &p, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "top_k"));
    /* persistence 1 and p_max 1 are legal edge cases: nothing ever changes. */
    assert_int_equal(lf_model_lookup("custom:1,8,64", &m, &err), LF_OK);
    lf_synth_defaults(&p);
    p.persistence = 1;
    p.p_max = 1;
    gen("custom:1,8,64", 30, &p, &t);
    uint32_t n0, n;
    const uint32_t *a = lf_trace_ids(&t, 0, 0, &n0);
    const uint32_t *b = lf_trace_ids(&t, 0, 29, &n);
    assert_int_equal(n, n0);
    assert_memory_equal(a, b, n * sizeof *a);
    lf_trace_free(&t);
}

/* Runs `llmflash trace synth ARGS -o FILE`; checks that stderr holds `want` (if any). */
static int synth_cli(const char *args, const char *file, const char *want)
{
    char *out, *err;
    int rc = lf_test_run(&out, &err, "trace synth %s%s%s", args, file ? " -o " : "",
                         file ? file : "");
    if (want && !strstr(err, want))
        fail_msg("stderr of 'trace synth %s' lacks '%s': %s", args, want, err);
    free(out);
    free(err);
    return rc;
}

static void test_cli(void **st)
{
    (void)st;
    char *out, *err;
    const char *f = lf_test_path("s.h5");
    assert_int_equal(synth_cli("--model gpt-9 --tokens 5", f, "unknown model 'gpt-9'"), 1);
    assert_int_equal(synth_cli("--model gpt-9 --tokens 5", f, "opt-6.7b"), 1); /* lists them */
    assert_int_equal(synth_cli("--model opt-1.3b --frobnicate", f, "--frobnicate"), 2);
    assert_int_equal(synth_cli("--model opt-1.3b --tokens 0", f, "--tokens '0'"), 2);
    assert_int_equal(synth_cli("--model opt-1.3b --tokens -5", f, "--tokens '-5'"), 2);
    assert_int_equal(synth_cli("--model opt-1.3b --tokens 5x", f, "--tokens '5x'"), 2);
    assert_int_equal(synth_cli("--model opt-1.3b --tokens 5", NULL, "-o"), 2);
    assert_int_equal(synth_cli("--model mixtral-8x7b --tokens 5 --skew 2", f,
                               "--skew applies to neuron models"),
                     2);
    assert_int_equal(synth_cli("--model custom:3,8,64 --tokens 5 --sparsity 0.9,0.8", f,
                               "one per layer"),
                     2);
    assert_int_equal(synth_cli("--model opt-1.3b --tokens 5 --persistence 1.2", f, "[0, 1]"), 2);
    assert_false(lf_file_exists(f)); /* nothing written by any failure */
    assert_int_equal(lf_test_run(&out, &err, "trace synth --help"), 0);
    assert_non_null(strstr(out, "example"));
    free(out);
    free(err);

    /* A good run writes a file equal to the library's output for the same inputs. */
    assert_int_equal(synth_cli("--model custom:2,8,256 --tokens 40 --seed 9 --sparsity 0.8,0.9 "
                               "--groups 4", f, NULL),
                     0);
    lf_trace r, g;
    lf_err e;
    assert_int_equal(lf_trace_read(f, &r, &e), LF_OK);
    lf_synth_params p;
    lf_synth_defaults(&p);
    double sp[2] = {0.8, 0.9};
    p.layer_sparsity = sp;
    p.groups = 4;
    p.seed = 9;
    gen("custom:2,8,256", 40, &p, &g);
    assert_true(same_data(&r, &g));
    assert_int_equal(r.seed, 9);
    assert_string_equal(r.generator, g.generator);
    lf_trace_free(&r);
    lf_trace_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_determinism), cmocka_unit_test(test_sparsity_target),
        cmocka_unit_test(test_chain_closed_forms), cmocka_unit_test(test_sagg_concave),
        cmocka_unit_test(test_groups),           cmocka_unit_test(test_experts),
        cmocka_unit_test(test_mt_is_gsl),        cmocka_unit_test(test_mt_floor_log),        cmocka_unit_test(test_bad_params),       cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
