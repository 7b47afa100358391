/* Tests of the loading policies (sim/lf_policy.c, sim/lf_pol_*.c): golden plans on tiny
 * hand-made sequences worked out by hand, invariants and reference simulations on
 * seeded random traces, and the registry's errors. */
#include <gsl/gsl_rng.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_policy.h"
#include "lf_test.h"
#include "lf_trace.h"

#define END UINT32_MAX
#define S(...) ((const uint32_t[]){__VA_ARGS__, END})
#define NONE ((const uint32_t[]){END})

static uint32_t len_of(const uint32_t *ids)
{
    uint32_t n = 0;
    while (ids[n] != END)
        n++;
    return n;
}

/* ---- a trace built in memory from per-token sets ---- */

/* sets[t * layers + l] (END-terminated) for t < n_tok. */
static void make_trace(lf_trace *tr, uint32_t layers, uint32_t units, uint32_t n_tok,
                       const uint32_t *const *sets)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(tr, LF_UNITS_NEURONS, "test", layers, 16, units, 0, 2, 0,
                                         0, &err),
                     LF_OK);
    for (uint32_t t = 0; t < n_tok; t++) {
        for (uint32_t l = 0; l < layers; l++) {
            const uint32_t *s = sets[t * layers + l];
            assert_int_equal(lf_trace_append_layer(tr, l, s, len_of(s), NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(tr, 0, &err), LF_OK);
    }
}

static lf_policy *make(const char *spec, const lf_trace *tr, uint32_t layers, uint32_t units,
                       uint64_t cap)
{
    lf_policy_ctx ctx = {.n_layers = layers, .units = units, .capacity = cap, .trace = tr};
    lf_policy *p = NULL;
    lf_err err;
    int rc = lf_policy_create(spec, &ctx, &p, &err);
    if (rc)
        fail_msg("lf_policy_create(%s): %s", spec, err.msg);
    return p;
}

/* ---- shadow residency: checks every plan against the interface's rules ---- */

typedef struct {
    uint32_t layers, units;
    uint8_t *res;      /* layers * units */
    uint32_t *n_res;   /* layers */
    uint32_t *ev, *ld; /* plan arrays (units) */
    lf_plan plan;
    uint64_t loads, evicts, hits;
    uint32_t max_res;
} shadow;

static void shadow_init(shadow *sh, uint32_t layers, uint32_t units)
{
    memset(sh, 0, sizeof *sh);
    sh->layers = layers;
    sh->units = units;
    sh->res = calloc((size_t)layers * units, 1);
    sh->n_res = calloc(layers, sizeof *sh->n_res);
    sh->ev = malloc(units * sizeof *sh->ev);
    sh->ld = malloc(units * sizeof *sh->ld);
    assert_true(sh->res && sh->n_res && sh->ev && sh->ld);
    sh->plan.evict = sh->ev;
    sh->plan.load = sh->ld;
}

static void shadow_free(shadow *sh)
{
    free(sh->res);
    free(sh->n_res);
    free(sh->ev);
    free(sh->ld);
}

/* Runs one step and checks: evictions were resident, loads sorted and absent, n_hit is
 * the wanted ids kept, n_resident the count, every wanted id resident after. */
static const lf_plan *step(shadow *sh, lf_policy *p, uint32_t l, uint32_t t, const uint32_t *want,
                           uint32_t n)
{
    lf_err err;
    lf_plan *pl = &sh->plan;
    int rc = lf_policy_step(p, l, t, want, n, pl, &err);
    if (rc)
        fail_msg("%s step layer %u token %u: %s", p->name, l, t, err.msg);
    uint8_t *res = sh->res + (size_t)l * sh->units;
    for (uint32_t i = 0; i < pl->n_evict; i++) {
        assert_true(pl->evict[i] < sh->units);
        assert_int_equal(res[pl->evict[i]], 1);
        res[pl->evict[i]] = 0;
    }
    uint32_t hits = 0;
    for (uint32_t i = 0; i < n; i++)
        hits += res[want[i]];
    assert_int_equal(pl->n_hit, hits);
    for (uint32_t i = 0; i < pl->n_load; i++) {
        assert_true(pl->load[i] < sh->units);
        if (i)
            assert_true(pl->load[i] > pl->load[i - 1]);
        assert_int_equal(res[pl->load[i]], 0);
        res[pl->load[i]] = 1;
    }
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(res[want[i]], 1);
    sh->n_res[l] = sh->n_res[l] - pl->n_evict + pl->n_load;
    assert_int_equal(pl->n_resident, sh->n_res[l]);
    if (sh->n_res[l] > sh->max_res)
        sh->max_res = sh->n_res[l];
    sh->loads += pl->n_load;
    sh->evicts += pl->n_evict;
    sh->hits += pl->n_hit;
    return pl;
}

static void sorted_copy(const uint32_t *a, uint32_t n, uint32_t *out)
{
    memcpy(out, a, n * sizeof *a);
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint32_t x = out[j];
            out[j] = out[j - 1];
            out[j - 1] = x;
        }
}

static void assert_ids(const char *what, uint32_t t, const uint32_t *got, uint32_t n,
                       const uint32_t *exp)
{
    uint32_t m = len_of(exp), tmp[256];
    assert_true(n <= 256);
    if (n != m)
        fail_msg("token %u: %s: %u ids, expected %u", t, what, n, m);
    sorted_copy(got, n, tmp);
    for (uint32_t i = 0; i < n; i++)
        if (tmp[i] != exp[i])
            fail_msg("token %u: %s[%u] = %u, expected %u", t, what, i, tmp[i], exp[i]);
}

typedef struct {
    const uint32_t *evict, *load;
    uint32_t hit, resident;
} row;

/* Runs a one-layer sequence and compares each plan with the hand-computed rows. */
static void golden(const char *spec, const lf_trace *tr, uint32_t units, uint64_t cap,
                   const uint32_t *const *seq, uint32_t n_tok, const row *rows)
{
    lf_policy *p = make(spec, tr, 1, units, cap);
    shadow sh;
    shadow_init(&sh, 1, units);
    for (uint32_t t = 0; t < n_tok; t++) {
        const lf_plan *pl = step(&sh, p, 0, t, seq[t], len_of(seq[t]));
        assert_ids("evict", t, pl->evict, pl->n_evict, rows[t].evict);
        assert_ids("load", t, pl->load, pl->n_load, rows[t].load);
        if (pl->n_hit != rows[t].hit || pl->n_resident != rows[t].resident)
            fail_msg("%s token %u: hit %u resident %u, expected %u %u", spec, t, pl->n_hit,
                     pl->n_resident, rows[t].hit, rows[t].resident);
    }
    shadow_free(&sh);
    lf_policy_free(p);
}

/* The hand-made sequence of most golden tests: 1 layer, 8 units. */
static const uint32_t *const SEQ[] = {S(0, 1), S(1, 2), S(3), S(0, 1), S(2, 3, 4), S(0)};
#define SEQ_N 6

/* Runs SEQ through a one-layer, 8-unit policy; the caller frees sh and the policy. */
static lf_policy *run_seq(const char *spec, const lf_trace *tr, uint64_t cap, shadow *sh)
{
    lf_policy *p = make(spec, tr, 1, 8, cap);
    shadow_init(sh, 1, 8);
    for (uint32_t t = 0; t < SEQ_N; t++)
        step(sh, p, 0, t, SEQ[t], len_of(SEQ[t]));
    return p;
}

/* Tokens that need nothing (a tiny or very sparse layer): every policy takes empty
 * sets between non-empty ones (window used to memcpy into its still-NULL ring). */
/* Every policy of the registry (a new one included, with no edit here) goes through
 * the contract: its descriptor is complete; empty sets; a budget that fits (every plan
 * checked against a shadow residency map); a set larger than its cache is refused with
 * the context given once and changes nothing, or is served by a policy without a
 * bound; an unknown key lists its valid keys; its counters are reported. */
static void test_every_policy(void **st)
{
    (void)st;
    const uint32_t *const seq[] = {NONE, S(1), NONE, NONE, S(2, 3), NONE,
                                   S(0, 1, 2), S(5), S(1, 6), S(1, 2, 7)};
    const uint32_t n_seq = sizeof seq / sizeof seq[0];
    lf_trace tr;
    make_trace(&tr, 1, 8, n_seq, seq);
    size_t n;
    const lf_policy_desc *const *reg = lf_policy_registry(&n);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        const lf_policy_desc *d = reg[i];
        lf_err err;
        /* a complete descriptor */
        assert_non_null(d->name);
        assert_non_null(d->help);
        assert_non_null(d->create);
        assert_non_null(d->step);
        assert_non_null(d->keys);
        assert_non_null(strstr(lf_policy_names(), d->name));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(reg[j]->name, d->name);
        for (const lf_policy_key *k = d->keys; k->name; k++)
            assert_non_null(k->help);
        size_t n_counters = 0;
        for (const lf_policy_counter *c = d->counters; c && c->name; c++, n_counters++) {
            assert_non_null(c->help);
            assert_int_equal(strspn(c->name, "abcdefghijklmnopqrstuvwxyz0123456789_"),
                             strlen(c->name));
        }
        assert_true(n_counters <= LF_POLICY_MAX_COUNTERS);
        assert_true(n_counters == 0 || d->count);

        /* empty sets and a budget that fits: every plan follows the rules */
        lf_policy *p = make(d->name, &tr, 1, 8, 4);
        assert_string_equal(p->name, d->name);
        shadow sh;
        shadow_init(&sh, 1, 8);
        for (uint32_t t = 0; t < n_seq; t++)
            step(&sh, p, 0, t, seq[t], len_of(seq[t]));
        if (p->max_resident)
            assert_true(sh.max_res <= p->max_resident);
        uint64_t v[LF_POLICY_MAX_COUNTERS];
        const lf_policy_counter *names = NULL;
        assert_int_equal(lf_policy_counters(p, &names, v), n_counters);
        if (n_counters)
            assert_ptr_equal(names, d->counters);
        /* out of order, and a layer that does not exist: refused with the place */
        assert_int_equal(lf_policy_step(p, 0, 0, S(1), 1, &sh.plan, &err), LF_EINVAL);
        assert_non_null(strstr(err.msg, "layer 0 token 0"));
        assert_int_equal(lf_policy_step(p, 1, 0, S(1), 1, &sh.plan, &err), LF_ERANGE);
        shadow_free(&sh);
        lf_policy_free(p);

        /* a budget that does not fit: 3 units wanted at once, a cache of 2 */
        p = make(d->name, &tr, 1, 8, 2);
        shadow_init(&sh, 1, 8);
        for (uint32_t t = 0; t < 6; t++)
            step(&sh, p, 0, t, seq[t], len_of(seq[t]));
        int rc = lf_policy_step(p, 0, 6, seq[6], 3, &sh.plan, &err);
        if (rc == LF_OK) {
            assert_true(p->fit > 2); /* a baseline that ignores the budget */
        } else {
            assert_int_equal(rc, LF_ERANGE);
            assert_non_null(strstr(err.msg, "cannot fit the budget"));
            char want[96];
            snprintf(want, sizeof want, "policy '%s': layer 0 token 6: ", d->name);
            assert_ptr_equal(strstr(err.msg, want), err.msg);
            assert_null(strstr(err.msg + 1, "policy '"));
            assert_null(strstr(err.msg + strlen(want), "token 6"));
            /* the refused step changed nothing: token 6 is still next */
            step(&sh, p, 0, 6, S(1), 1);
        }
        shadow_free(&sh);
        lf_policy_free(p);

        /* an unknown key lists the valid ones */
        char spec[96];
        snprintf(spec, sizeof spec, "%s:no_such_key=1", d->name);
        lf_policy_ctx ctx = {.n_layers = 1, .units = 8, .capacity = 4, .trace = &tr};
        assert_int_equal(lf_policy_create(spec, &ctx, &p, &err), LF_EINVAL);
        assert_null(p);
        assert_non_null(strstr(err.msg, "no_such_key"));
        for (const lf_policy_key *k = d->keys; k->name; k++)
            assert_non_null(strstr(err.msg, k->name));
        if (!d->keys[0].name)
            assert_non_null(strstr(err.msg, "none"));
    }
    lf_trace_free(&tr);
}

static void test_golden_sparse(void **st)
{
    (void)st;
    const row rows[] = {
        {NONE, S(0, 1), 0, 2},       {S(0), S(2), 1, 2},    {S(1, 2), S(3), 0, 1},
        {S(3), S(0, 1), 0, 2},       {S(0, 1), S(2, 3, 4), 0, 3}, {S(2, 3, 4), S(0), 0, 1},
    };
    golden("sparse", NULL, 8, 3, SEQ, SEQ_N, rows);
}

static void test_golden_window(void **st)
{
    (void)st;
    /* k=2, room for everything: resident = union of the last 2 sets */
    const row big[] = {
        {NONE, S(0, 1), 0, 2}, {NONE, S(2), 1, 3}, {S(0), S(3), 0, 3},
        {S(2), S(0), 1, 3},    {NONE, S(2, 4), 1, 5}, {S(1), NONE, 1, 4},
    };
    golden("window:k=2", NULL, 8, 8, SEQ, SEQ_N, big);
    /* capacity 3: token 4's union {0,1,2,3,4} shrinks to k'=1 ({2,3,4}); token 5's
     * {0,2,3,4} too ({0}) */
    const row small[] = {
        {NONE, S(0, 1), 0, 2}, {NONE, S(2), 1, 3},          {S(0), S(3), 0, 3},
        {S(2), S(0), 1, 3},    {S(0, 1), S(2, 4), 1, 3},    {S(2, 3, 4), S(0), 0, 1},
    };
    golden("window:k=2,capacity=3", NULL, 8, 100, SEQ, SEQ_N, small);

    shadow sh;
    lf_policy *p = run_seq("window:k=2", NULL, 3, &sh);
    const lf_policy_counter *names;
    uint64_t v[LF_POLICY_MAX_COUNTERS];
    assert_int_equal(lf_policy_counters(p, &names, v), 2);
    assert_string_equal(names[0].name, "shrinks");
    assert_string_equal(names[1].name, "min_k");
    assert_int_equal(v[0], 2);
    assert_int_equal(v[1], 1);
    shadow_free(&sh);
    lf_policy_free(p);
}

static void test_golden_lru_lfu(void **st)
{
    (void)st;
    const row lru[] = {
        {NONE, S(0, 1), 0, 2}, {NONE, S(2), 1, 3},       {S(0), S(3), 0, 3},
        {S(2), S(0), 1, 3},    {S(0, 1), S(2, 4), 1, 3}, {S(2), S(0), 0, 3},
    };
    golden("lru", NULL, 8, 3, SEQ, SEQ_N, lru);
    golden("lfu", NULL, 8, 3, SEQ, SEQ_N, lru); /* same choices on this sequence */
    golden("fwlru:w=0", NULL, 8, 3, SEQ, SEQ_N, lru);

    /* A sequence that tells them apart: 1 layer, 4 units, capacity 2. */
    const uint32_t *const seq2[] = {S(0), S(0), S(0), S(1), S(2),
                                           S(1), S(2), S(1), S(2), S(0)};
    const row lru2[] = {
        {NONE, S(0), 0, 1}, {NONE, NONE, 1, 1}, {NONE, NONE, 1, 1}, {NONE, S(1), 0, 2},
        {S(0), S(2), 0, 2}, {NONE, NONE, 1, 2}, {NONE, NONE, 1, 2}, {NONE, NONE, 1, 2},
        {NONE, NONE, 1, 2}, {S(1), S(0), 0, 2},
    };
    golden("lru", NULL, 4, 2, seq2, 10, lru2);
    /* in-cache LFU keeps 0 (count 3) and thrashes 1 and 2 */
    const row lfu2[] = {
        {NONE, S(0), 0, 1}, {NONE, NONE, 1, 1}, {NONE, NONE, 1, 1}, {NONE, S(1), 0, 2},
        {S(1), S(2), 0, 2}, {S(2), S(1), 0, 2}, {S(1), S(2), 0, 2}, {S(2), S(1), 0, 2},
        {S(1), S(2), 0, 2}, {NONE, NONE, 1, 2},
    };
    golden("lfu", NULL, 4, 2, seq2, 10, lfu2);
    /* history=1: counts survive eviction, so 1 and 2 overtake 0 at token 8 */
    const row lfuh[] = {
        {NONE, S(0), 0, 1}, {NONE, NONE, 1, 1}, {NONE, NONE, 1, 1}, {NONE, S(1), 0, 2},
        {S(1), S(2), 0, 2}, {S(2), S(1), 0, 2}, {S(1), S(2), 0, 2}, {S(2), S(1), 0, 2},
        {S(0), S(2), 0, 2}, {S(1), S(0), 0, 2},
    };
    golden("lfu:history=1", NULL, 4, 2, seq2, 10, lfuh);
    /* fwlru w=2: score = 2*count + last use */
    const row fw[] = {
        {NONE, S(0), 0, 1}, {NONE, NONE, 1, 1}, {NONE, NONE, 1, 1}, {NONE, S(1), 0, 2},
        {S(1), S(2), 0, 2}, {S(2), S(1), 0, 2}, {S(0), S(2), 0, 2}, {NONE, NONE, 1, 2},
        {NONE, NONE, 1, 2}, {S(1), S(0), 0, 2},
    };
    golden("fwlru:w=2", NULL, 4, 2, seq2, 10, fw);
}

static void test_golden_belady_hot(void **st)
{
    (void)st;
    lf_trace tr;
    make_trace(&tr, 1, 8, SEQ_N, SEQ);
    const row bel[] = {
        {NONE, S(0, 1), 0, 2}, {NONE, S(2), 1, 3},       {S(2), S(3), 0, 3},
        {NONE, NONE, 2, 3},    {S(0, 1), S(2, 4), 1, 3}, {S(2), S(0), 0, 3},
    };
    golden("belady", &tr, 8, 3, SEQ, SEQ_N, bel);
    /* hot, whole trace as profile: 0 and 1 are wanted 3 times, 0 wins the tie; n
     * defaults to capacity 4 - largest set 3 = 1 */
    const row hot[] = {
        {NONE, S(0, 1), 0, 2}, {NONE, S(2), 1, 3},    {S(1, 2), S(3), 0, 2},
        {S(3), S(1), 1, 2},    {S(1), S(2, 3, 4), 0, 4}, {S(2, 3, 4), NONE, 1, 1},
    };
    golden("hot:prefix=6", &tr, 8, 4, SEQ, SEQ_N, hot);
    golden("hot:prefix=6,n=1", &tr, 8, 4, SEQ, SEQ_N, hot);
    /* default prefix: 10% of 6 tokens -> 1 token {0,1}: pins 0 (tie with 1) */
    golden("hot", &tr, 8, 4, SEQ, SEQ_N, hot);

    /* pinned 1 + token 4's three misses exceed capacity 3 */
    lf_policy *p = make("hot:n=1,prefix=6", &tr, 1, 8, 3);
    shadow sh;
    shadow_init(&sh, 1, 8);
    lf_err err;
    for (uint32_t t = 0; t < 4; t++)
        step(&sh, p, 0, t, SEQ[t], len_of(SEQ[t]));
    assert_int_equal(lf_policy_step(p, 0, 4, SEQ[4], 3, &sh.plan, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "cannot fit"));
    assert_non_null(strstr(err.msg, "token 4"));
    assert_non_null(strstr(err.msg, "lower n (now 1 pinned)"));
    /* one that wants token 3's transient unit 1 too: refused, and the step undone */
    assert_int_equal(lf_policy_step(p, 0, 4, S(1, 2, 3), 3, &sh.plan, &err), LF_ERANGE);
    /* the refused steps changed nothing: token 4 = {2} evicts 1 as if they never came */
    const lf_plan *pl = step(&sh, p, 0, 4, S(2), 1);
    assert_ids("evict", 4, pl->evict, pl->n_evict, S(1));
    step(&sh, p, 0, 5, SEQ[5], len_of(SEQ[5]));
    shadow_free(&sh);
    lf_policy_free(p);
    lf_trace_free(&tr);
}

static void test_golden_naive_hybrid(void **st)
{
    (void)st;
    const row hyb[] = {
        {NONE, S(0, 1, 2, 3, 4, 5, 6, 7), 0, 8}, {S(4, 5, 6, 7), S(4, 5, 6, 7), 2, 8},
        {S(4, 5, 6, 7), S(4, 5, 6, 7), 1, 8},    {S(4, 5, 6, 7), S(4, 5, 6, 7), 2, 8},
        {S(4, 5, 6, 7), S(4, 5, 6, 7), 2, 8},    {S(4, 5, 6, 7), S(4, 5, 6, 7), 1, 8},
    };
    golden("hybrid", NULL, 8, 3, SEQ, SEQ_N, hyb);
    const row all = {S(0, 1, 2, 3, 4, 5, 6, 7), S(0, 1, 2, 3, 4, 5, 6, 7), 0, 8};
    const row nai[] = {{NONE, S(0, 1, 2, 3, 4, 5, 6, 7), 0, 8}, all, all, all, all, all};
    golden("naive", NULL, 8, 3, SEQ, SEQ_N, nai);
    /* fraction=0.25 of 8 -> 2 pinned */
    shadow sh;
    lf_policy *p = run_seq("hybrid:fraction=0.25", NULL, 3, &sh);
    assert_int_equal(sh.loads, 8 + 5 * 6);
    assert_int_equal(sh.hits, 1 + 0 + 2 + 0 + 1); /* ids < 2 wanted at tokens 1..5 */
    shadow_free(&sh);
    lf_policy_free(p);
}

/* ---- random traces: invariants and reference simulations ---- */

#define RL 3   /* layers */
#define RU 64  /* units */
#define RT 300 /* tokens */
#define RCAP 24

/* Skewed popularity (u^3 favours small ids) and temporal reuse (half of the previous
 * set kept). Set sizes 1..16. */
static void random_trace(lf_trace *tr, uint64_t seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    lf_err err;
    assert_int_equal(lf_trace_init_shape(tr, LF_UNITS_NEURONS, "test", RL, 16, RU, 0, 2, 0, 0, &err),
                     LF_OK);
    uint8_t prev[RL][RU];
    memset(prev, 0, sizeof prev);
    for (uint32_t t = 0; t < RT; t++) {
        for (uint32_t l = 0; l < RL; l++) {
            uint8_t cur[RU] = {0};
            uint32_t n = 0, target = 1 + (uint32_t)gsl_rng_uniform_int(r, 16);
            for (uint32_t u = 0; u < RU && n < target; u++)
                if (prev[l][u] && gsl_rng_uniform(r) < 0.5)
                    cur[u] = 1, n++;
            while (n < target) {
                double x = gsl_rng_uniform(r);
                uint32_t u = (uint32_t)(RU * x * x * x);
                if (!cur[u])
                    cur[u] = 1, n++;
            }
            uint32_t ids[RU], m = 0;
            for (uint32_t u = 0; u < RU; u++)
                if (cur[u])
                    ids[m++] = u;
            memcpy(prev[l], cur, RU);
            assert_int_equal(lf_trace_append_layer(tr, l, ids, m, NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(tr, 0, &err), LF_OK);
    }
    gsl_rng_free(r);
}

/* Replays the whole trace; returns total loads; *sh_out keeps the counters. */
static uint64_t replay(const char *spec, const lf_trace *tr, uint64_t cap, shadow *sh_out)
{
    lf_policy *p = make(spec, tr, tr->n_layers, tr->units_per_layer, cap);
    shadow sh;
    shadow_init(&sh, tr->n_layers, tr->units_per_layer);
    for (uint32_t t = 0; t < tr->n_tokens; t++)
        for (uint32_t l = 0; l < tr->n_layers; l++) {
            uint32_t n;
            const uint32_t *w = lf_trace_ids(tr, l, t, &n);
            step(&sh, p, l, t, w, n);
            if (p->max_resident)
                assert_true(sh.n_res[l] <= p->max_resident);
        }
    lf_policy_free(p);
    uint64_t loads = sh.loads;
    if (sh_out)
        *sh_out = sh;
    else
        shadow_free(&sh);
    return loads;
}

static void test_random_invariants(void **st)
{
    (void)st;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        lf_trace tr;
        random_trace(&tr, seed);
        const char *bounded[] = {"sparse", "window:k=1", "window:k=2", "window:k=4",
                                 "window:k=16", "lru", "lfu", "lfu:history=1", "fwlru",
                                 "fwlru:w=1", "hot", "hot:prefix=300", "belady"};
        uint64_t bel = replay("belady", &tr, RCAP, NULL);
        for (size_t i = 0; i < sizeof bounded / sizeof *bounded; i++) {
            shadow sh;
            uint64_t loads = replay(bounded[i], &tr, RCAP, &sh);
            if (sh.max_res > RCAP)
                fail_msg("%s: %u resident > capacity %d", bounded[i], sh.max_res, RCAP);
            if (bel > loads)
                fail_msg("seed %llu: belady loads %llu > %s loads %llu", (unsigned long long)seed,
                         (unsigned long long)bel, bounded[i], (unsigned long long)loads);
            shadow_free(&sh);
        }
        /* naive loads every unit of every layer for every token */
        assert_int_equal(replay("naive", &tr, RCAP, NULL), (uint64_t)RT * RL * RU);
        /* hybrid: all once, then the unpinned half every token */
        assert_int_equal(replay("hybrid", &tr, RCAP, NULL),
                         (uint64_t)RL * RU + (uint64_t)(RT - 1) * RL * (RU / 2));
        /* a bigger cache never makes belady load more */
        assert_true(replay("belady", &tr, RCAP * 2, NULL) <= bel);
        lf_trace_free(&tr);
    }
}

/* Policies a and b make the same plans at every step of tokens [0, n_tok) of tr (loads,
 * evictions, hits, residents: the same units in the same order) and leave the same
 * units resident. */
static void same_plans(const lf_trace *tr, lf_policy *a, lf_policy *b, uint32_t n_tok)
{
    shadow sa, sb;
    shadow_init(&sa, RL, RU);
    shadow_init(&sb, RL, RU);
    for (uint32_t t = 0; t < n_tok; t++)
        for (uint32_t l = 0; l < RL; l++) {
            uint32_t n;
            const uint32_t *w = lf_trace_ids(tr, l, t, &n);
            const lf_plan *pa = step(&sa, a, l, t, w, n);
            const lf_plan *pb = step(&sb, b, l, t, w, n);
            assert_int_equal(pa->n_load, pb->n_load);
            assert_memory_equal(pa->load, pb->load, pa->n_load * sizeof *pa->load);
            assert_int_equal(pa->n_evict, pb->n_evict);
            assert_memory_equal(pa->evict, pb->evict, pa->n_evict * sizeof *pa->evict);
            assert_int_equal(pa->n_hit, pb->n_hit);
            assert_int_equal(pa->n_resident, pb->n_resident);
        }
    assert_memory_equal(sa.res, sb.res, RL * RU);
    shadow_free(&sa);
    shadow_free(&sb);
}

/* window k=1 and sparse make the same plans step by step; fwlru w=0 and lru too. */
static void test_random_equivalences(void **st)
{
    (void)st;
    lf_trace tr;
    random_trace(&tr, 7);
    const char *pairs[][2] = {{"window:k=1", "sparse"}, {"fwlru:w=0", "lru"}};
    for (size_t k = 0; k < 2; k++) {
        lf_policy *a = make(pairs[k][0], &tr, RL, RU, RCAP), *b = make(pairs[k][1], &tr, RL, RU, RCAP);
        same_plans(&tr, a, b, RT);
        lf_policy_free(a);
        lf_policy_free(b);
    }
    lf_trace_free(&tr);
}

/* window with room for all: resident == union of the last k sets, at every step (k
 * up to 20: windows longer than a power of two round their ring up). */
static void test_window_is_union(void **st)
{
    (void)st;
    lf_trace tr;
    random_trace(&tr, 11);
    for (uint32_t k = 1; k <= 20; k += k < 5 ? 2 : 15) { /* 1, 3, 5, 20 */
        char spec[32];
        snprintf(spec, sizeof spec, "window:k=%u", k);
        lf_policy *p = make(spec, &tr, RL, RU, RU);
        shadow sh;
        shadow_init(&sh, RL, RU);
        for (uint32_t t = 0; t < RT; t++)
            for (uint32_t l = 0; l < RL; l++) {
                uint32_t n;
                const uint32_t *w = lf_trace_ids(&tr, l, t, &n);
                step(&sh, p, l, t, w, n);
                uint8_t uni[RU] = {0};
                for (uint32_t j = 0; j < k && j <= t; j++) {
                    uint32_t m;
                    const uint32_t *s = lf_trace_ids(&tr, l, t - j, &m);
                    for (uint32_t i = 0; i < m; i++)
                        uni[s[i]] = 1;
                }
                assert_memory_equal(uni, sh.res + (size_t)l * RU, RU);
            }
        shadow_free(&sh);
        lf_policy_free(p);
    }
    lf_trace_free(&tr);
}

/* A predictor's sets: each needed id dropped with probability 0.1, 2 random ids added. */
static void noisy_trace(const lf_trace *tr, lf_trace *out, uint64_t seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    lf_err err;
    assert_int_equal(lf_trace_init_shape(out, LF_UNITS_NEURONS, "noisy", RL, 16, RU, 0, 2, 0, 0, &err),
                     LF_OK);
    for (uint32_t t = 0; t < tr->n_tokens; t++) {
        for (uint32_t l = 0; l < RL; l++) {
            uint8_t cur[RU] = {0};
            uint32_t n, ids[RU], m = 0;
            const uint32_t *need = lf_trace_ids(tr, l, t, &n);
            for (uint32_t i = 0; i < n; i++)
                cur[need[i]] = gsl_rng_uniform(r) >= 0.1;
            for (int j = 0; j < 2; j++)
                cur[gsl_rng_uniform_int(r, RU)] = 1;
            for (uint32_t u = 0; u < RU; u++)
                if (cur[u])
                    ids[m++] = u;
            assert_int_equal(lf_trace_append_layer(out, l, ids, m, NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(out, 0, &err), LF_OK);
    }
    gsl_rng_free(r);
}

/* Independent reference simulations, O(units) per step: LRU with timestamps, and
 * Belady with a next-use table built backwards from the trace's needed sets. The
 * policies must make the same evictions, also when the wanted sets are a predictor's
 * (wants) and differ from the needed sets belady looks ahead on. Returns the hits. */
static uint64_t reference_check(const lf_trace *tr, const lf_trace *wants, uint32_t cap, int bel)
{
    const uint32_t L = tr->n_layers, U = tr->units_per_layer, T = tr->n_tokens;
    lf_policy *p = make(bel ? "belady" : "lru", tr, L, U, cap);
    shadow sh;
    shadow_init(&sh, L, U);
    uint8_t *res = malloc(U), *wanted = malloc(U);
    int64_t *last = malloc(U * sizeof *last);
    uint32_t *nxt = malloc(U * sizeof *nxt), *exp_ev = malloc((U + 1) * sizeof *exp_ev);
    uint32_t *next_at = malloc((size_t)T * U * sizeof *next_at); /* [t][u]: next use > t */
    assert_true(res && wanted && last && nxt && exp_ev && next_at);
    for (uint32_t l = 0; l < L; l++) {
        for (uint32_t u = 0; u < U; u++)
            nxt[u] = UINT32_MAX, last[u] = -1, res[u] = 0;
        for (uint32_t t = T; t-- > 0;) {
            memcpy(next_at + (size_t)t * U, nxt, U * sizeof *nxt);
            uint32_t m;
            const uint32_t *need = lf_trace_ids(tr, l, t, &m);
            for (uint32_t i = 0; i < m; i++)
                nxt[need[i]] = t;
        }
        uint32_t n_res = 0;
        for (uint32_t t = 0; t < T; t++) {
            uint32_t n;
            const uint32_t *w = lf_trace_ids(wants, l, t, &n);
            memset(wanted, 0, U);
            uint32_t miss = 0;
            for (uint32_t i = 0; i < n; i++)
                wanted[w[i]] = 1, miss += !res[w[i]];
            uint32_t n_ev = 0;
            while (n_res + miss > cap) {
                /* victim: unwanted resident with the oldest use (lru) or the farthest
                 * next use (belady); ties: the smaller id */
                int64_t best = -1, best_score = 0;
                for (uint32_t u = 0; u < U; u++) {
                    if (!res[u] || wanted[u])
                        continue;
                    int64_t score = bel ? (int64_t)next_at[(size_t)t * U + u] : -last[u];
                    if (best < 0 || score > best_score)
                        best = u, best_score = score;
                }
                res[best] = 0;
                n_res--;
                exp_ev[n_ev++] = (uint32_t)best;
            }
            for (uint32_t i = 0; i < n; i++) {
                n_res += !res[w[i]];
                res[w[i]] = 1;
                last[w[i]] = t;
            }
            sorted_copy(exp_ev, n_ev, exp_ev);
            exp_ev[n_ev] = END;
            /* the policy runs layer-major here: per layer, tokens in order */
            const lf_plan *pl = step(&sh, p, l, t, w, n);
            assert_ids(bel ? "belady evict" : "lru evict", t, pl->evict, pl->n_evict, exp_ev);
        }
    }
    uint64_t hits = sh.hits;
    free(res);
    free(wanted);
    free(last);
    free(nxt);
    free(exp_ev);
    free(next_at);
    shadow_free(&sh);
    lf_policy_free(p);
    return hits;
}

/* Independent LFU, O(units) per eviction: the victim is the unwanted resident unit of
 * smallest (uses, last use, id); history=0 forgets the uses of an evicted unit. The
 * policy must evict the same units in the same order, make the same loads and hits. */
static void reference_lfu(const lf_trace *wants, uint32_t cap, int history)
{
    const uint32_t L = wants->n_layers, U = wants->units_per_layer, T = wants->n_tokens;
    lf_policy *p = make(history ? "lfu:history=1" : "lfu", NULL, L, U, cap);
    shadow sh;
    shadow_init(&sh, L, U);
    uint8_t *res = calloc(U, 1), *wanted = malloc(U);
    uint64_t *count = calloc(U, sizeof *count), *last = calloc(U, sizeof *last);
    uint32_t *exp_ev = malloc((U + 1) * sizeof *exp_ev);
    assert_true(res && wanted && count && last && exp_ev);
    for (uint32_t l = 0; l < L; l++) {
        memset(res, 0, U);
        memset(count, 0, U * sizeof *count);
        memset(last, 0, U * sizeof *last);
        uint32_t n_res = 0;
        for (uint32_t t = 0; t < T; t++) {
            uint32_t n;
            const uint32_t *w = lf_trace_ids(wants, l, t, &n);
            memset(wanted, 0, U);
            uint32_t miss = 0, hit = 0;
            for (uint32_t i = 0; i < n; i++)
                wanted[w[i]] = 1, miss += !res[w[i]], hit += res[w[i]];
            uint32_t n_ev = 0;
            while (n_res + miss > cap) {
                int64_t best = -1;
                for (uint32_t u = 0; u < U; u++) {
                    if (!res[u] || wanted[u])
                        continue;
                    if (best < 0 || count[u] < count[best] ||
                        (count[u] == count[best] && last[u] < last[best]))
                        best = u;
                }
                res[best] = 0;
                if (!history)
                    count[best] = 0;
                n_res--;
                exp_ev[n_ev++] = (uint32_t)best;
            }
            exp_ev[n_ev] = END;
            for (uint32_t i = 0; i < n; i++) {
                n_res += !res[w[i]];
                res[w[i]] = 1;
                count[w[i]]++;
                last[w[i]] = t;
            }
            const lf_plan *pl = step(&sh, p, l, t, w, n);
            assert_int_equal(pl->n_evict, n_ev);
            for (uint32_t i = 0; i < n_ev; i++)
                if (pl->evict[i] != exp_ev[i])
                    fail_msg("layer %u token %u: lfu evict[%u] = %u, expected %u", l, t, i,
                             pl->evict[i], exp_ev[i]);
            assert_int_equal(pl->n_hit, hit);
            assert_int_equal(pl->n_load, miss);
        }
    }
    free(res);
    free(wanted);
    free(count);
    free(last);
    free(exp_ev);
    shadow_free(&sh);
    lf_policy_free(p);
}

/* Independent window, O(units) per step from each unit's latest use: the units whose
 * latest use is t - k leave, then while the resident units exceed the cache the window
 * shrinks to the largest k' that fits. The policy must make the same loads, hits and
 * evictions (t - k's first, then the dropped tokens newest first, each in ascending id),
 * and count the same shrinks and smallest k'. Small caches shrink at most steps, for
 * windows longer than the ring's power of two too. */
static void reference_window(const lf_trace *tr, uint32_t k, uint32_t cap)
{
    const uint32_t L = tr->n_layers, U = tr->units_per_layer, T = tr->n_tokens;
    char spec[48];
    snprintf(spec, sizeof spec, "window:k=%u,capacity=%u", k, cap);
    lf_policy *p = make(spec, tr, L, U, U);
    shadow sh;
    shadow_init(&sh, L, U);
    int64_t *latest = malloc(U * sizeof *latest);
    uint32_t *exp_ev = malloc((U + 1) * sizeof *exp_ev);
    assert_true(latest && exp_ev);
    uint64_t shrinks = 0, min_k = k;
    for (uint32_t l = 0; l < L; l++) {
        for (uint32_t u = 0; u < U; u++)
            latest[u] = -1;
        for (uint32_t t = 0; t < T; t++) {
            uint32_t n, n_ev = 0, hit = 0, n_res = 0;
            const uint32_t *w = lf_trace_ids(tr, l, t, &n);
            for (uint32_t i = 0; i < n; i++) {
                hit += latest[w[i]] >= 0;
                latest[w[i]] = t;
            }
            for (uint32_t u = 0; u < U; u++) {
                if (latest[u] >= 0 && latest[u] == (int64_t)t - k)
                    exp_ev[n_ev++] = u, latest[u] = -1;
                n_res += latest[u] >= 0;
            }
            if (n_res > cap) {
                uint32_t keep = 0, sum = 0;
                for (;; keep++) { /* resident units of the newest keep + 1 tokens */
                    uint32_t c = 0;
                    for (uint32_t u = 0; u < U; u++)
                        c += latest[u] == (int64_t)t - keep;
                    if (sum + c > cap)
                        break;
                    sum += c;
                }
                for (uint32_t j = keep; j < k && j <= t; j++)
                    for (uint32_t u = 0; u < U; u++)
                        if (latest[u] == (int64_t)t - j)
                            exp_ev[n_ev++] = u, latest[u] = -1;
                shrinks++;
                min_k = keep < min_k ? keep : min_k;
            }
            const lf_plan *pl = step(&sh, p, l, t, w, n);
            assert_int_equal(pl->n_evict, n_ev);
            for (uint32_t i = 0; i < n_ev; i++)
                if (pl->evict[i] != exp_ev[i])
                    fail_msg("%s layer %u token %u: evict[%u] = %u, expected %u", spec, l, t, i,
                             pl->evict[i], exp_ev[i]);
            assert_int_equal(pl->n_hit, hit);
            assert_int_equal(pl->n_load, n - hit);
        }
    }
    uint64_t v[LF_POLICY_MAX_COUNTERS];
    lf_policy_counters(p, NULL, v);
    assert_int_equal(v[0], shrinks);
    assert_int_equal(v[1], min_k);
    free(latest);
    free(exp_ev);
    shadow_free(&sh);
    lf_policy_free(p);
}

static void test_reference_window(void **st)
{
    (void)st;
    lf_trace tr, noisy;
    random_trace(&tr, 5);
    noisy_trace(&tr, &noisy, 6);
    /* 127 and 128: the last k with a byte of state per unit and the first with a word */
    const uint32_t ks[] = {1, 2, 3, 4, 7, 40, 127, 128, 150}, caps[] = {20, 28, 64};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        for (size_t c = 0; c < sizeof caps / sizeof *caps; c++) {
            reference_window(&tr, ks[i], caps[c]);
            reference_window(&noisy, ks[i], caps[c]);
        }
    lf_trace_free(&tr);
    lf_trace_free(&noisy);
}

static void test_reference_lfu(void **st)
{
    (void)st;
    lf_trace tr, noisy;
    random_trace(&tr, 11);
    noisy_trace(&tr, &noisy, 12);
    const uint32_t caps[] = {18, 24, 40};
    for (size_t c = 0; c < 3; c++)
        for (int h = 0; h <= 1; h++) {
            reference_lfu(&tr, caps[c], h);
            reference_lfu(&noisy, caps[c], h);
        }
    lf_trace_free(&tr);
    lf_trace_free(&noisy);
}

/* Tokens 0, 3, 6, ... of a, the others of b: wanted sets that equal the look-ahead sets
 * at some steps and differ at others (belady takes a shortcut when they are equal). */
static void interleave_trace(const lf_trace *a, const lf_trace *b, lf_trace *out)
{
    lf_err err;
    assert_int_equal(lf_trace_init_shape(out, LF_UNITS_NEURONS, "mixed", a->n_layers, 16,
                                         a->units_per_layer, 0, 2, 0, 0, &err),
                     LF_OK);
    for (uint32_t t = 0; t < a->n_tokens; t++) {
        for (uint32_t l = 0; l < a->n_layers; l++) {
            uint32_t n;
            const uint32_t *ids = lf_trace_ids(t % 3 ? b : a, l, t, &n);
            assert_int_equal(lf_trace_append_layer(out, l, ids, n, NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(out, 0, &err), LF_OK);
    }
}

static void test_reference_lru_belady(void **st)
{
    (void)st;
    lf_trace tr, noisy, mixed;
    random_trace(&tr, 5);
    noisy_trace(&tr, &noisy, 6);
    interleave_trace(&tr, &noisy, &mixed);
    const uint32_t caps[] = {18, 24, 40};
    for (size_t c = 0; c < 3; c++)
        for (int bel = 0; bel <= 1; bel++) {
            reference_check(&tr, &tr, caps[c], bel);
            reference_check(&tr, &noisy, caps[c], bel);
            reference_check(&tr, &mixed, caps[c], bel);
        }
    lf_trace_free(&mixed);
    lf_trace_free(&noisy);
    lf_trace_free(&tr);
}

/* lru keeps 16-bit state up to 16384 units and 32-bit above: the two make the same
 * plans, step by step, on the same wanted sets (ids below 2000), with evictions (cache
 * 500) and without (cache 16384: the ring only grows, so it is compacted), over enough
 * tokens for the ring's positions to wrap several times. */
static void test_lru_widths(void **st)
{
    (void)st;
    const uint32_t range = 2000, T = 600;
    const uint64_t caps[] = {500, 16384};
    uint32_t *want = malloc(range * sizeof *want), *ev[2], *ld[2];
    assert_non_null(want);
    for (int k = 0; k < 2; k++) {
        ev[k] = malloc(20000 * sizeof *ev[k]);
        ld[k] = malloc(20000 * sizeof *ld[k]);
        assert_true(ev[k] && ld[k]);
    }
    for (size_t c = 0; c < 2; c++) {
        lf_policy *p[2] = {make("lru", NULL, 1, 16384, caps[c]),
                           make("lru", NULL, 1, 20000, caps[c])};
        uint64_t x = 12345;
        for (uint32_t t = 0; t < T; t++) {
            uint32_t n = 0;
            for (uint32_t u = 0; u < range; u++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                if ((x >> 33) % 100 < (u < 300 ? 60u : 12u)) /* a hot head, a cold tail */
                    want[n++] = u;
            }
            if (n > 500)
                n = 500;
            lf_plan pl[2];
            for (int k = 0; k < 2; k++) {
                lf_err err;
                pl[k] = (lf_plan){ev[k], 0, ld[k], 0, 0, 0, NULL, 0, NULL};
                assert_int_equal(lf_policy_step(p[k], 0, t, want, n, &pl[k], &err), LF_OK);
            }
            assert_int_equal(pl[0].n_hit, pl[1].n_hit);
            assert_int_equal(pl[0].n_resident, pl[1].n_resident);
            assert_int_equal(pl[0].n_load, pl[1].n_load);
            assert_int_equal(pl[0].n_evict, pl[1].n_evict);
            assert_memory_equal(ld[0], ld[1], pl[0].n_load * sizeof *ld[0]);
            assert_memory_equal(ev[0], ev[1], pl[0].n_evict * sizeof *ev[0]);
            if (c == 0 && t > 10)
                assert_true(pl[0].n_evict > 0);
        }
        lf_policy_free(p[0]);
        lf_policy_free(p[1]);
    }
    for (int k = 0; k < 2; k++) {
        free(ev[k]);
        free(ld[k]);
    }
    free(want);
}

/* ---- real MoE routing logs (../shared/data, skipped when absent) ---- */

/* Reads a vLLM MoE routing log (one layer): drops the warm-up prefix (the leading run
 * of records identical to the first), returns its length, builds a 1-layer trace. */
static uint32_t load_routing_log(const char *path, uint32_t units, lf_trace *tr)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    lf_err err;
    assert_int_equal(lf_trace_init_shape(tr, LF_UNITS_EXPERTS, "log", 1, 16, units, 0, 2, 0, 0, &err),
                     LF_OK);
    char *line = NULL;
    size_t cap = 0;
    uint32_t first[64], n_first = 0, warm = 0;
    int warming = 1;
    while (getline(&line, &cap, f) > 0) {
        json_object *o = json_tokener_parse(line), *v, *ids;
        assert_non_null(o);
        if (!json_object_object_get_ex(o, "type", &v) ||
            strcmp(json_object_get_string(v), "route") != 0) {
            json_object_put(o);
            continue;
        }
        assert_true(json_object_object_get_ex(o, "topk_ids", &ids));
        uint32_t n = (uint32_t)json_object_array_length(ids), set[64];
        assert_true(n > 0 && n <= 64);
        for (uint32_t i = 0; i < n; i++)
            set[i] = (uint32_t)json_object_get_int(json_object_array_get_idx(ids, i));
        json_object_put(o);
        sorted_copy(set, n, set);
        if (warming && (n_first == 0 || (n == n_first && memcmp(set, first, n * 4) == 0))) {
            memcpy(first, set, n * 4);
            n_first = n;
            warm++;
            continue;
        }
        warming = 0;
        assert_int_equal(lf_trace_append_layer(tr, 0, set, n, NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(tr, 0, &err), LF_OK);
    }
    free(line);
    fclose(f);
    return warm;
}

static void test_real_moe_logs(void **st)
{
    (void)st;
    const struct {
        const char *file;
        uint32_t units, warm, caps[3];
    } logs[] = {
        {"qwen_moe_layer0.jsonl", 60, 8448, {8, 16, 32}},
        {"olmoe_l0.jsonl", 64, 2048, {12, 24, 40}},
    };
    int ran = 0;
    for (size_t i = 0; i < 2; i++) {
        const char *path = lf_test_shared(logs[i].file);
        if (!path)
            continue;
        ran = 1;
        lf_trace tr;
        assert_int_equal(load_routing_log(path, logs[i].units, &tr), logs[i].warm);
        assert_true(tr.n_tokens > 4000);
        for (size_t c = 0; c < 3; c++) {
            uint32_t cap = logs[i].caps[c];
            uint64_t lru = reference_check(&tr, &tr, cap, 0);
            uint64_t bel = reference_check(&tr, &tr, cap, 1);
            uint64_t nnz = tr.layers[0].nnz, bel_loads = nnz - bel;
            assert_true(bel >= lru);
            const char *others[] = {"lru", "lfu", "lfu:history=1", "fwlru", "fwlru:w=4",
                                    "hot", "window:k=2", "sparse"};
            printf("%s, %u tokens, cache %u: hit rate belady %.3f lru %.3f", logs[i].file,
                   tr.n_tokens, cap, (double)bel / nnz, (double)lru / nnz);
            for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
                uint64_t loads = replay(others[k], &tr, cap, NULL);
                if (loads < bel_loads)
                    fail_msg("%s cache %u: %s loads %llu < belady %llu", logs[i].file, cap,
                             others[k], (unsigned long long)loads, (unsigned long long)bel_loads);
                if (k > 0)
                    printf(" %s %.3f", others[k], 1.0 - (double)loads / nnz);
            }
            printf("\n");
        }
        lf_trace_free(&tr);
    }
    if (!ran)
        skip();
}

/* Several layers are independent: interleaving layers gives each layer's own plans. */
static void test_layers_independent(void **st)
{
    (void)st;
    /* layer 0 gets SEQ, layer 1 other sets; layer 0's plans must be a lone SEQ's */
    const uint32_t *const two[] = {S(0, 1), S(4, 5), S(1, 2), S(5, 6), S(3), S(7),
                                          S(0, 1), S(4, 5), S(2, 3, 4), S(6, 7), S(0), S(4)};
    lf_trace tr;
    make_trace(&tr, 2, 8, SEQ_N, two);
    const char *specs[] = {"lru", "window:k=2", "belady", "lfu", "sparse", "hot:prefix=6"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        lf_policy *p = make(specs[i], &tr, 2, 8, 4);
        shadow sh;
        shadow_init(&sh, 2, 8);
        uint64_t loads[2] = {0, 0};
        for (uint32_t t = 0; t < SEQ_N; t++)
            for (uint32_t l = 0; l < 2; l++) {
                const lf_plan *pl = step(&sh, p, l, t, two[t * 2 + l], len_of(two[t * 2 + l]));
                loads[l] += pl->n_load;
            }
        shadow_free(&sh);
        lf_policy_free(p);
        lf_trace one;
        make_trace(&one, 1, 8, SEQ_N, SEQ);
        p = run_seq(specs[i], &one, 4, &sh);
        assert_int_equal(loads[0], sh.loads);
        shadow_free(&sh);
        lf_policy_free(p);
        lf_trace_free(&one);
    }
    lf_trace_free(&tr);
}

static int create_err(const char *spec, const lf_trace *tr, uint64_t cap, lf_err *err)
{
    lf_policy_ctx ctx = {.n_layers = 1, .units = 8, .capacity = cap, .trace = tr};
    lf_policy *p = (lf_policy *)1;
    int rc = lf_policy_create(spec, &ctx, &p, err);
    assert_null(p);
    return rc;
}

static void test_errors(void **st)
{
    (void)st;
    lf_err err;
    assert_int_equal(create_err("nosuch:k=1", NULL, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown policy 'nosuch'"));
    assert_non_null(strstr(err.msg, "naive, hybrid, sparse, window, lru, lfu, fwlru, hot, belady"));
    assert_string_equal(lf_policy_names(), "naive, hybrid, sparse, window, lru, lfu, fwlru, hot, belady, pagecache");
    assert_int_equal(create_err("window:q=2", NULL, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown key 'q'"));
    assert_non_null(strstr(err.msg, "k, capacity"));
    assert_int_equal(create_err("naive:k=1", NULL, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "valid keys: none"));
    assert_int_equal(create_err("window:k=abc", NULL, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "k = 'abc'"));
    assert_int_equal(create_err("window:k=0", NULL, 4, &err), LF_EINVAL);
    assert_int_equal(create_err("hybrid:fraction=1.5", NULL, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "outside [0, 1]"));
    assert_int_equal(create_err("lfu:history=2", NULL, 4, &err), LF_EINVAL);
    assert_int_equal(create_err("lru:capacity=-3", NULL, 4, &err), LF_EINVAL);
    assert_int_equal(create_err("", NULL, 4, &err), LF_EINVAL);
    assert_int_equal(create_err("belady", NULL, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "needs the replayed trace"));
    assert_int_equal(create_err("hot", NULL, 4, &err), LF_EINVAL);
    lf_trace tr;
    make_trace(&tr, 1, 8, SEQ_N, SEQ);
    assert_int_equal(create_err("belady:future=maybe", &tr, 4, &err), LF_EINVAL);
    assert_int_equal(create_err("belady:future=pred", &tr, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "no recorded predicted sets"));
    assert_int_equal(create_err("hot:n=5", &tr, 4, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "exceed the cache"));
    assert_int_equal(create_err("hot:prefix=7", &tr, 4, &err), LF_EINVAL);
    lf_trace_free(&tr);

    /* step errors: no fit, tokens out of order, unsorted or out-of-range ids */
    const char *bounded[] = {"sparse", "window", "lru", "lfu", "fwlru"};
    for (size_t i = 0; i < sizeof bounded / sizeof bounded[0]; i++) {
        lf_policy *p = make(bounded[i], NULL, 1, 8, 2);
        shadow sh;
        shadow_init(&sh, 1, 8);
        assert_int_equal(lf_policy_step(p, 0, 0, S(1, 2, 3), 3, &sh.plan, &err), LF_ERANGE);
        assert_non_null(strstr(err.msg, "cannot fit the budget"));
        assert_non_null(strstr(err.msg, "layer 0 token 0: cannot fit the budget: 3 units"));
        /* the context is given once */
        assert_null(strstr(strstr(err.msg, "token 0") + 1, "token 0"));
        assert_null(strstr(strstr(err.msg, "policy '") + 1, "policy '"));
        assert_int_equal(lf_policy_step(p, 0, 5, S(1), 1, &sh.plan, &err), LF_EINVAL);
        assert_non_null(strstr(err.msg, "expected token 0"));
        assert_int_equal(lf_policy_step(p, 0, 0, S(3, 1), 2, &sh.plan, &err), LF_EINVAL);
        assert_int_equal(lf_policy_step(p, 0, 0, S(9), 1, &sh.plan, &err), LF_ERANGE);
        assert_int_equal(lf_policy_step(p, 1, 0, S(1), 1, &sh.plan, &err), LF_ERANGE);
        step(&sh, p, 0, 0, S(1, 2), 2); /* still usable after refused steps */
        shadow_free(&sh);
        lf_policy_free(p);
    }
    lf_policy_free(NULL);
}

/* belady:future=pred looks ahead on the recorded predicted sets. */
static void test_belady_future_pred(void **st)
{
    (void)st;
    lf_trace tr;
    make_trace(&tr, 1, 8, SEQ_N, SEQ);
    /* predicted sets: SEQ with token 3's {0,1} predicted as {0} */
    uint64_t *ip = malloc(7 * sizeof *ip);
    uint32_t *ix = malloc(10 * sizeof *ix);
    const uint32_t pidx[] = {0, 1, 1, 2, 3, 0, 2, 3, 4, 0};
    const uint64_t pptr[] = {0, 2, 4, 5, 6, 9, 10};
    memcpy(ip, pptr, sizeof pptr);
    memcpy(ix, pidx, sizeof pidx);
    lf_err err;
    assert_int_equal(lf_trace_set_pred(&tr, 0, ip, ix, 10, &err), LF_OK);
    const uint32_t *const pred[] = {S(0, 1), S(1, 2), S(3), S(0), S(2, 3, 4), S(0)};
    /* capacity 3; future uses on the predicted sets: 0:{0,3,5} 1:{0,1} 2:{1,4} 3:{2,4}
     * 4:{4}. t2 {3}: evict the farthest of 0 (3), 1 (never), 2 (4) -> 1 (with future=need
     * 1 is used at token 3, and 2 would go); t3 {0} hit; t4 {2,3,4}: evict 0 (next 5),
     * load 4; t5 {0}: 2, 3, 4 are never used again: evict the smallest id, 2 */
    const row rows[] = {
        {NONE, S(0, 1), 0, 2}, {NONE, S(2), 1, 3},    {S(1), S(3), 0, 3},
        {NONE, NONE, 1, 3},    {S(0), S(4), 2, 3},    {S(2), S(0), 0, 3},
    };
    golden("belady:future=pred", &tr, 8, 3, pred, SEQ_N, rows);
    lf_trace_free(&tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_sparse),
        cmocka_unit_test(test_every_policy),
        cmocka_unit_test(test_golden_window),
        cmocka_unit_test(test_golden_lru_lfu),
        cmocka_unit_test(test_golden_belady_hot),
        cmocka_unit_test(test_golden_naive_hybrid),
        cmocka_unit_test(test_random_invariants),
        cmocka_unit_test(test_random_equivalences),
        cmocka_unit_test(test_window_is_union),
        cmocka_unit_test(test_reference_window),
        cmocka_unit_test(test_reference_lru_belady),
        cmocka_unit_test(test_reference_lfu),
        cmocka_unit_test(test_layers_independent),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_belady_future_pred),
        cmocka_unit_test(test_lru_widths),
        cmocka_unit_test(test_real_moe_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
