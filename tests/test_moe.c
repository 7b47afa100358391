/* Tests of the MoE slice, part 1: the routing-log importer (on small hand-written logs
 * and on the real logs in ../shared/data) and bad input; expert-cache hit counts of the
 * simulator's policies against independent computations written here; the two-level
 * page-cache policy and its prefetch. Part 2 (fit, scenario): test_moe_scenario.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_import.h"
#include "lf_moefit.h"
#include "lf_policy.h"
#include "lf_test.h"
#include "lf_trace.h"

#define META_Q "{\"type\": \"meta\", \"model_id\": \"test/tiny\", \"top_k\": 2, \"num_experts\": 8}\n"

static char *route(char *buf, size_t cap, int layer, const char *ids, const char *w)
{
    snprintf(buf, cap,
             "{\"type\": \"route\", \"req_id\": \"r\", \"token_idx\": 0, \"layer\": %d, "
             "\"topk_ids\": [%s], \"topk_weights\": [%s]}\n",
             layer, ids, w);
    return buf;
}

/* Writes META_Q then the given route lines for layer `layer`. */
static void write_log(const char *path, int layer, const char *const *ids, const char *const *w,
                      int n)
{
    size_t cap = 4096 + (size_t)n * 256;
    char *txt = malloc(cap), line[256];
    assert_non_null(txt);
    snprintf(txt, cap, "%s", META_Q);
    for (int i = 0; i < n; i++)
        strcat(txt, route(line, sizeof line, layer, ids[i], w[i]));
    lf_test_write(path, txt, strlen(txt));
    free(txt);
}

static int import1(const char *path, const lf_import_opts *o, lf_trace *t, lf_import_info *info,
                   lf_err *err)
{
    const char *files[] = {path};
    return lf_import_vllm_moe(files, 1, o, t, info, NULL, 0, err);
}

static void test_import_sorts_ids_and_keeps_weights_aligned(void **st)
{
    (void)st;
    const char *ids[] = {"5, 1", "5, 1", "5, 1", "7, 2", "0, 6"};
    const char *w[] = {"0.9, 0.1", "0.9, 0.1", "0.9, 0.1", "0.25, 0.75", "0.5, 0.5"};
    const char *p = lf_test_path("tiny.jsonl");
    write_log(p, 0, ids, w, 5);
    lf_import_opts o = {0};
    o.drop_warmup = 1;
    lf_trace t;
    lf_import_info info;
    lf_err err;
    assert_int_equal(import1(p, &o, &t, &info, &err), LF_OK);
    /* The leading run of identical records is 3 long; 2 records remain. */
    assert_int_equal(info.records, 5);
    assert_int_equal(info.warmup, 3);
    assert_int_equal(info.dropped, 3);
    assert_int_equal(t.n_tokens, 2);
    assert_int_equal(t.units_per_layer, 8);
    assert_int_equal(t.top_k, 2);
    assert_int_equal(t.kind, LF_UNITS_EXPERTS);
    assert_string_equal(t.source, "imported");
    uint32_t n;
    const uint32_t *x = lf_trace_ids(&t, 0, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(x[0], 2);
    assert_int_equal(x[1], 7);
    /* Weights follow their ids: expert 2 had 0.75, expert 7 had 0.25. */
    assert_true(t.layers[0].value[0] == 0.75f);
    assert_true(t.layers[0].value[1] == 0.25f);
    lf_trace_free(&t);

    /* --drop-prefix 1 keeps 4 tokens; --tokens 2 cuts them to 2. */
    memset(&o, 0, sizeof o);
    o.drop_prefix = 1;
    assert_int_equal(import1(p, &o, &t, &info, &err), LF_OK);
    assert_int_equal(info.dropped, 1);
    assert_int_equal(t.n_tokens, 4);
    lf_trace_free(&t);
    o.max_tokens = 2;
    assert_int_equal(import1(p, &o, &t, &info, &err), LF_OK);
    assert_int_equal(t.n_tokens, 2);
    x = lf_trace_ids(&t, 0, 1, &n);
    assert_int_equal(x[0], 1);
    assert_int_equal(x[1], 5);
    lf_trace_free(&t);
}

static void test_import_two_layers(void **st)
{
    (void)st;
    const char *ids0[] = {"1, 2", "3, 4"}, *ids1[] = {"5, 6", "7, 0"};
    const char *w[] = {"0.5, 0.5", "0.5, 0.5"};
    const char *a = lf_test_path("l0.jsonl"), *b = lf_test_path("l1.jsonl");
    write_log(a, 0, ids0, w, 2);
    write_log(b, 1, ids1, w, 2);
    const char *files[] = {a, b};
    lf_import_opts o = {0};
    lf_trace t;
    lf_err err;
    assert_int_equal(lf_import_vllm_moe(files, 2, &o, &t, NULL, NULL, 0, &err), LF_OK);
    assert_int_equal(t.n_layers, 2);
    assert_int_equal(t.n_tokens, 2);
    uint32_t n;
    const uint32_t *x = lf_trace_ids(&t, 1, 1, &n);
    assert_int_equal(x[0], 0);
    assert_int_equal(x[1], 7);
    lf_trace_free(&t);
    /* Swapped files: layer 1 before layer 0 is refused. */
    const char *swapped[] = {b, a};
    assert_int_not_equal(lf_import_vllm_moe(swapped, 2, &o, &t, NULL, NULL, 0, &err), LF_OK);
    assert_non_null(strstr(err.msg, "layer order"));
}

/* Each bad log gives an error naming the file and the line. */
static void expect_cli_error(const char *name, const char *content, const char *args,
                             const char *what)
{
    const char *p = lf_test_path(name);
    lf_test_write(p, content, strlen(content));
    char *out, *errs;
    int rc = lf_test_run(&out, &errs, "trace import --format vllm-moe-jsonl %s %s -o %s", p,
                         args, lf_test_path("bad.h5"));
    assert_int_equal(rc, 1);
    if (!strstr(errs, what) || !strstr(errs, name))
        fail_msg("%s: expected '%s' naming the file, got: %s", name, what, errs);
    free(out);
    free(errs);
}

static void test_import_bad_input(void **st)
{
    (void)st;
    char l1[256], l2[256];
    char txt[2048];
    /* A malformed JSON object on line 3. */
    snprintf(txt, sizeof txt, "%s%s{\"type\": \"route\", \"topk_ids\": [1, 2\n", META_Q,
             route(l1, sizeof l1, 0, "1, 2", "0.5, 0.5"));
    expect_cli_error("malformed.jsonl", txt, "", ":3: not a JSON object");
    /* An id >= num_experts (8) on line 2. */
    snprintf(txt, sizeof txt, "%s%s", META_Q, route(l1, sizeof l1, 0, "1, 8", "0.5, 0.5"));
    expect_cli_error("range.jsonl", txt, "", ":2: expert id 8 is out of range 0..7");
    /* one beyond 64 bits: json-c reads it as 2^63 - 1, which is not the file's number */
    snprintf(txt, sizeof txt, "%s%s", META_Q,
             route(l1, sizeof l1, 0, "1, 99999999999999999999", "0.5, 0.5"));
    expect_cli_error("huge.jsonl", txt, "", ":2: expert id (2^63 - 1 or more) is out of range");
    /* Three ids where the meta line says top-2, on line 3. */
    snprintf(txt, sizeof txt, "%s%s%s", META_Q, route(l1, sizeof l1, 0, "1, 2", "0.5, 0.5"),
             route(l2, sizeof l2, 0, "1, 2, 3", "0.3, 0.3, 0.4"));
    expect_cli_error("topk.jsonl", txt, "", ":3: topk_ids has 3 ids but the model routes top-2");
    /* A repeated expert. */
    snprintf(txt, sizeof txt, "%s%s", META_Q, route(l1, sizeof l1, 0, "4, 4", "0.5, 0.5"));
    expect_cli_error("dup.jsonl", txt, "", ":2: expert 4 appears twice");
    /* A second layer inside one file. */
    snprintf(txt, sizeof txt, "%s%s%s", META_Q, route(l1, sizeof l1, 0, "1, 2", "0.5, 0.5"),
             route(l2, sizeof l2, 1, "1, 2", "0.5, 0.5"));
    expect_cli_error("twolayers.jsonl", txt, "", ":3: layer 1");
    /* Text after the object. */
    snprintf(txt, sizeof txt, "%s{\"type\": \"route\", \"topk_ids\": [1, 2]} x\n", META_Q);
    expect_cli_error("trailing.jsonl", txt, "", ":2: text after the JSON object");
    /* Dropping everything. */
    snprintf(txt, sizeof txt, "%s%s", META_Q, route(l1, sizeof l1, 0, "1, 2", "0.5, 0.5"));
    expect_cli_error("short.jsonl", txt, "--drop-prefix 5", "leaves nothing");
    /* No expert count anywhere. */
    expect_cli_error("nocount.jsonl",
                     "{\"type\": \"meta\", \"model_id\": \"x/unknown\", \"top_k\": 2}\n"
                     "{\"type\": \"route\", \"layer\": 0, \"topk_ids\": [1, 2]}\n",
                     "", ":2: the number of experts is unknown");

    /* Two layers of different lengths. */
    const char *ids[] = {"1, 2", "3, 4", "5, 6"};
    const char *w[] = {"0.5, 0.5", "0.5, 0.5", "0.5, 0.5"};
    const char *a = lf_test_path("len0.jsonl"), *b = lf_test_path("len1.jsonl");
    write_log(a, 0, ids, w, 3);
    write_log(b, 1, ids, w, 2);
    char *out, *errs;
    int rc = lf_test_run(&out, &errs, "trace import %s %s -o %s", a, b, lf_test_path("x.h5"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(errs, "different lengths"));
    assert_non_null(strstr(errs, "len1.jsonl"));
    free(out);
    free(errs);
    /* ... which --tokens 2 accepts. */
    rc = lf_test_run(&out, &errs, "trace import %s %s --tokens 2 -o %s", a, b,
                     lf_test_path("x.h5"));
    assert_int_equal(rc, 0);
    free(out);
    free(errs);
    /* Usage errors. */
    assert_int_equal(lf_test_run(NULL, NULL, "trace import %s --bogus -o x.h5", a), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "trace import %s", a), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "trace import --format csv %s -o x.h5", a), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "trace import %s --drop-warmup --drop-prefix 3 -o x.h5", a), 2);
    assert_int_equal(lf_test_run(NULL, NULL, "trace import --help"), 0);
}

/* The leading run of identical topk_ids lists, counted without the importer: the text
 * between "topk_ids": [ and ] of each route line compared as a string. */
static uint64_t count_warmup(const char *path, uint64_t *records)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL, first[256] = "";
    size_t cap = 0;
    uint64_t run = 0;
    int open = 1;
    *records = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *a = strstr(line, "\"topk_ids\": [");
        if (!a)
            continue;
        a += strlen("\"topk_ids\": [");
        const char *b = strchr(a, ']');
        assert_non_null(b);
        char ids[256];
        snprintf(ids, sizeof ids, "%.*s", (int)(b - a), a);
        if (!first[0])
            snprintf(first, sizeof first, "%s", ids);
        if (open && !strcmp(ids, first))
            run++;
        else
            open = 0;
        (*records)++;
    }
    free(line);
    fclose(f);
    return run;
}

static void check_real_log(const char *name, uint32_t experts, uint32_t k)
{
    const char *p = lf_test_shared(name);
    if (!p)
        skip();
    uint64_t records, run = count_warmup(p, &records);
    assert_true(run > 1 && run < records);
    char *out, *errs;
    const char *h5 = lf_test_path("real.h5");
    int rc = lf_test_run(&out, &errs, "trace import --format vllm-moe-jsonl %s --drop-warmup -o %s",
                         p, h5);
    if (rc != 0)
        fail_msg("import failed: %s", errs);
    char want[128];
    snprintf(want, sizeof want, "%llu route records, dropped %llu", (unsigned long long)records,
             (unsigned long long)run);
    if (!strstr(out, want))
        fail_msg("expected '%s' in: %s", want, out);
    lf_trace t;
    lf_err err;
    assert_int_equal(lf_trace_read(h5, &t, &err), LF_OK);
    assert_int_equal(t.n_tokens, records - run);
    assert_int_equal(t.units_per_layer, experts);
    assert_int_equal(t.top_k, k);
    assert_int_equal(t.layers[0].nnz, (uint64_t)k * t.n_tokens);
    assert_string_equal(t.source, "imported");
    lf_trace_free(&t);
    free(out);
    free(errs);
}

static void test_import_real_qwen(void **st)
{
    (void)st;
    check_real_log("qwen_moe_layer0.jsonl", 60, 4);
}

static void test_import_real_olmoe(void **st)
{
    (void)st;
    check_real_log("olmoe_l0.jsonl", 64, 8);
}


/* ---- expert caches on the real logs ---------------------------------------------- */

/* The real log imported in memory (warm-up dropped), at most max_tokens tokens. */
static int load_real(const char *name, uint32_t max_tokens, lf_trace *t)
{
    const char *p = lf_test_shared(name);
    if (!p)
        return 0;
    lf_import_opts o = {0};
    o.drop_warmup = 1;
    o.max_tokens = max_tokens;
    lf_err err;
    if (import1(p, &o, t, NULL, &err) != LF_OK)
        fail_msg("%s", err.msg);
    return 1;
}

typedef struct {
    uint64_t hits, loads, pc;
} replay_sum;

/* Replays layer 0 of t through policy p, checking every plan against a residency map
 * kept here: evicted units were resident, loads were not, loads sorted, page-cache
 * loads a subset of the loads, every wanted unit resident after the step. */
static replay_sum replay(lf_policy *p, const lf_trace *t)
{
    uint32_t U = t->units_per_layer;
    uint8_t *res = calloc(U, 1);
    uint32_t *ev = malloc(U * sizeof *ev), *ld = malloc(U * sizeof *ld);
    assert_true(res && ev && ld);
    replay_sum s = {0, 0, 0};
    lf_err err;
    for (uint32_t tok = 0; tok < t->n_tokens; tok++) {
        uint32_t n;
        const uint32_t *want = lf_trace_ids(t, 0, tok, &n);
        lf_plan plan;
        memset(&plan, 0, sizeof plan);
        plan.evict = ev;
        plan.load = ld;
        if (lf_policy_step(p, 0, tok, want, n, &plan, &err) != LF_OK)
            fail_msg("%s at token %u: %s", p->name, tok, err.msg);
        for (uint32_t i = 0; i < plan.n_evict; i++) {
            assert_true(res[ev[i]]);
            res[ev[i]] = 0;
        }
        for (uint32_t i = 0; i < plan.n_load; i++) {
            assert_false(res[ld[i]]);
            assert_true(i == 0 || ld[i] > ld[i - 1]);
            res[ld[i]] = 1;
        }
        for (uint32_t i = 0, j = 0; i < plan.n_pagecache; i++) {
            while (j < plan.n_load && ld[j] != plan.pagecache[i])
                j++;
            assert_true(j < plan.n_load);
        }
        for (uint32_t i = 0; i < n; i++)
            assert_true(res[want[i]]);
        s.hits += plan.n_hit;
        s.loads += plan.n_load;
        s.pc += plan.n_pagecache;
    }
    free(res);
    free(ev);
    free(ld);
    return s;
}

static replay_sum run_spec(const char *spec, const lf_trace *t, uint64_t cap)
{
    lf_policy_ctx ctx = {1, t->units_per_layer, cap, t, NULL, 1, lf_trace_max_set(t, 0)};
    lf_policy *p;
    lf_err err;
    if (lf_policy_create(spec, &ctx, &p, &err) != LF_OK)
        fail_msg("%s: %s", spec, err.msg);
    replay_sum s = replay(p, t);
    lf_policy_free(p);
    return s;
}

/* Independent LRU, O(n*cap): a token's set is wanted at once; the victims are the
 * resident units not wanted now with the oldest last use; units of one token are
 * ordered by id (the smaller is older). Returns hits. */
static uint64_t lru_hits(const lf_trace *t, uint32_t cap)
{
    uint32_t U = t->units_per_layer, n_res = 0;
    uint32_t *cache = malloc(cap * sizeof *cache);
    uint64_t *stamp = calloc(U, sizeof *stamp), hits = 0;
    uint8_t *wanted = calloc(U, 1);
    for (uint32_t tok = 0; tok < t->n_tokens; tok++) {
        uint32_t n;
        const uint32_t *w = lf_trace_ids(t, 0, tok, &n);
        for (uint32_t i = 0; i < n; i++)
            wanted[w[i]] = 1;
        for (uint32_t i = 0; i < n; i++) {
            int in = 0;
            for (uint32_t j = 0; j < n_res; j++)
                in |= cache[j] == w[i];
            if (in) {
                hits++;
                continue;
            }
            if (n_res == cap) { /* evict the oldest unwanted */
                uint32_t v = UINT32_MAX;
                for (uint32_t j = 0; j < n_res; j++)
                    if (!wanted[cache[j]] && (v == UINT32_MAX || stamp[cache[j]] < stamp[cache[v]]))
                        v = j;
                cache[v] = cache[--n_res];
            }
            cache[n_res++] = w[i];
        }
        for (uint32_t i = 0; i < n; i++) {
            stamp[w[i]] = (uint64_t)(tok + 1) * (U + 1) + w[i];
            wanted[w[i]] = 0;
        }
    }
    free(cache);
    free(stamp);
    free(wanted);
    return hits;
}

/* Independent per-access LRU (the OS sees one read at a time, ids ascending within a
 * token): O(n*cap). Returns hits. */
static uint64_t lru_access_hits(const lf_trace *t, uint32_t cap)
{
    uint32_t n_res = 0;
    uint32_t *cache = malloc(cap * sizeof *cache);
    uint64_t *stamp = malloc(cap * sizeof *stamp), clock = 0, hits = 0;
    for (uint32_t tok = 0; tok < t->n_tokens; tok++) {
        uint32_t n;
        const uint32_t *w = lf_trace_ids(t, 0, tok, &n);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = 0;
            while (j < n_res && cache[j] != w[i])
                j++;
            if (j < n_res) {
                hits++;
            } else if (n_res < cap) {
                j = n_res++;
            } else {
                j = 0;
                for (uint32_t x = 1; x < n_res; x++)
                    if (stamp[x] < stamp[j])
                        j = x;
            }
            cache[j] = w[i];
            stamp[j] = ++clock;
        }
    }
    free(cache);
    free(stamp);
    return hits;
}

/* Independent Belady (MIN) for whole-set requests: evict the resident units not wanted
 * now whose next use is farthest. next[p] = next token using the id at CSR position p. */
static uint64_t belady_misses(const lf_trace *t, uint32_t cap)
{
    const lf_trace_layer *L = &t->layers[0];
    uint32_t U = t->units_per_layer, T = t->n_tokens, n_res = 0;
    uint32_t *next = malloc(L->nnz * sizeof *next), *later = malloc(U * sizeof *later);
    uint32_t *cache = malloc(cap * sizeof *cache), *nu = calloc(U, sizeof *nu);
    uint8_t *wanted = calloc(U, 1);
    for (uint32_t u = 0; u < U; u++)
        later[u] = UINT32_MAX;
    for (uint32_t tok = T; tok-- > 0;)
        for (uint64_t p = L->indptr[tok]; p < L->indptr[tok + 1]; p++) {
            next[p] = later[L->index[p]];
            later[L->index[p]] = tok;
        }
    uint64_t misses = 0;
    for (uint32_t tok = 0; tok < T; tok++) {
        uint64_t p0 = L->indptr[tok], p1 = L->indptr[tok + 1];
        for (uint64_t p = p0; p < p1; p++)
            wanted[L->index[p]] = 1;
        for (uint64_t p = p0; p < p1; p++) {
            uint32_t u = L->index[p], j = 0;
            while (j < n_res && cache[j] != u)
                j++;
            if (j == n_res) {
                misses++;
                if (n_res == cap) {
                    uint32_t v = UINT32_MAX;
                    for (uint32_t x = 0; x < n_res; x++)
                        if (!wanted[cache[x]] && (v == UINT32_MAX || nu[cache[x]] > nu[cache[v]]))
                            v = x;
                    cache[v] = cache[--n_res];
                }
                cache[n_res++] = u;
            }
        }
        for (uint64_t p = p0; p < p1; p++) {
            nu[L->index[p]] = next[p];
            wanted[L->index[p]] = 0;
        }
    }
    free(next);
    free(later);
    free(cache);
    free(nu);
    free(wanted);
    return misses;
}

static void check_caches(const char *name, const uint32_t *caps, int n_caps)
{
    lf_trace t;
    if (!load_real(name, 3000, &t))
        skip();
    uint64_t accesses = t.layers[0].nnz;
    for (int c = 0; c < n_caps; c++) {
        uint32_t cap = caps[c];
        char spec[128];
        uint64_t want_lru = lru_hits(&t, cap), want_min = belady_misses(&t, cap);
        snprintf(spec, sizeof spec, "lru:capacity=%u", cap);
        replay_sum lru = run_spec(spec, &t, cap);
        assert_int_equal(lru.hits, want_lru);
        assert_int_equal(lru.loads, accesses - want_lru);
        snprintf(spec, sizeof spec, "belady:capacity=%u", cap);
        replay_sum min = run_spec(spec, &t, cap);
        assert_int_equal(min.loads, want_min);
        assert_int_equal(min.hits, accesses - want_min);
        /* The two-level policy without a page cache is lru. */
        snprintf(spec, sizeof spec, "pagecache:dram=%u,pc=0", cap);
        replay_sum two = run_spec(spec, &t, cap);
        assert_int_equal(two.hits, want_lru);
        assert_int_equal(two.pc, 0);
        /* Belady loads no more than any other policy at the same capacity (prefetch
         * included: its guesses are loads too). */
        const char *others[] = {"lru", "lfu", "fwlru:w=4", "hot:prefix=500", "pagecache:pc=0",
                                "pagecache:pc=0,prefetch=2,acc=0.6"};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            if (!strncmp(others[i], "pagecache", 9))
                snprintf(spec, sizeof spec, "%s,dram=%u", others[i], cap);
            else
                snprintf(spec, sizeof spec, "%s%scapacity=%u", others[i],
                         strchr(others[i], ':') ? "," : ":", cap);
            replay_sum o = run_spec(spec, &t, cap);
            if (o.loads < min.loads)
                fail_msg("%s loads %llu < belady's %llu at capacity %u", spec,
                         (unsigned long long)o.loads, (unsigned long long)min.loads, cap);
        }
        /* No application cache, an OS page cache of `cap` units: every routed unit is
         * read, and the page cache hits as a per-access LRU. */
        snprintf(spec, sizeof spec, "pagecache:dram=0,pc=%u", cap);
        replay_sum os = run_spec(spec, &t, cap);
        assert_int_equal(os.hits, 0);
        assert_int_equal(os.loads, accesses);
        assert_int_equal(os.pc, lru_access_hits(&t, cap));
        /* ... which is what trace stats' LRU curve measures (powers of two). */
        if ((cap & (cap - 1)) == 0) {
            double rate;
            lf_err err;
            assert_int_equal(lf_moefit_lru_rates(&t, 0, &cap, 1, &rate, &err), LF_OK);
            assert_int_equal((uint64_t)llround(rate * (double)accesses), os.pc);
        }
        printf("%s cap %u: lru hits %llu, belady misses %llu, page-cache hits %llu of %llu\n",
               name, cap, (unsigned long long)want_lru, (unsigned long long)want_min,
               (unsigned long long)os.pc, (unsigned long long)accesses);
    }
    lf_trace_free(&t);
}

static void test_caches_real_qwen(void **st)
{
    (void)st;
    const uint32_t caps[] = {4, 8, 16, 32, 48};
    check_caches("qwen_moe_layer0.jsonl", caps, 5);
}

static void test_caches_real_olmoe(void **st)
{
    (void)st;
    const uint32_t caps[] = {8, 16, 32};
    check_caches("olmoe_l0.jsonl", caps, 3);
}

/* ---- the two-level policy's prefetch, on a hand-made trace ---------------------------- */

/* Tokens alternate {0,1} and {2,3} in every layer; top-2. */
static void alternating(lf_trace *t, uint32_t layers, uint32_t experts, uint32_t tokens)
{
    lf_err err;
    assert_int_equal(
        lf_trace_init_shape(t, LF_UNITS_EXPERTS, "test", layers, 8, experts, 2, 2, 0, 0, &err),
        LF_OK);
    for (uint32_t tok = 0; tok < tokens; tok++) {
        uint32_t ids[2] = {tok % 2 ? 2u : 0u, tok % 2 ? 3u : 1u};
        for (uint32_t l = 0; l < layers; l++)
            assert_int_equal(lf_trace_append_layer(t, l, ids, 2, NULL, &err), LF_OK);
        assert_int_equal(lf_trace_end_token(t, -1, &err), LF_OK);
    }
}

/* The pagecache policy's counters, by name. */
typedef struct {
    uint64_t app_hits, pc_hits, flash_reads, pf_guesses, pf_right, pf_pc, pf_flash;
} pc_totals;

static uint64_t counter(const lf_policy *p, const char *name)
{
    uint64_t v[LF_POLICY_MAX_COUNTERS];
    size_t n = lf_policy_counters(p, NULL, v);
    int i = lf_policy_counter_index(p, name);
    assert_true(i >= 0 && (size_t)i < n);
    return v[i];
}

static pc_totals totals_of(const char *params, const lf_trace *t, replay_sum *sum)
{
    lf_policy_ctx ctx = {1, t->units_per_layer, 4, t, NULL, 7, lf_trace_max_set(t, 0)};
    lf_policy *p;
    lf_err err;
    char spec[128];
    snprintf(spec, sizeof spec, "pagecache:%s", params);
    if (lf_policy_create(spec, &ctx, &p, &err) != LF_OK)
        fail_msg("%s: %s", params, err.msg);
    *sum = replay(p, t);
    pc_totals tot = {counter(p, "app_hits"),         counter(p, "pagecache_hits"),
                     counter(p, "flash_reads"),      counter(p, "prefetch_guesses"),
                     counter(p, "prefetch_right"),   counter(p, "prefetch_pagecache"),
                     counter(p, "prefetch_flash")};
    lf_policy_free(p);
    return tot;
}

static void test_prefetch(void **st)
{
    (void)st;
    lf_trace t;
    alternating(&t, 1, 16, 200);
    replay_sum s;
    /* Perfect guesses, no caches: every routed expert is read by the prefetch. */
    pc_totals a = totals_of("dram=0,pc=0,prefetch=2,acc=1", &t, &s);
    assert_int_equal(a.pf_guesses, 400);
    assert_int_equal(a.pf_right, 400);
    assert_int_equal(a.pf_flash, 400);
    assert_int_equal(a.flash_reads, 0);
    assert_int_equal(a.app_hits, 0);
    assert_int_equal(s.loads, 400);
    /* Always wrong: the guesses are read on top of the routed experts. */
    pc_totals b = totals_of("dram=0,pc=0,prefetch=2,acc=0", &t, &s);
    assert_int_equal(b.pf_right, 0);
    assert_int_equal(b.pf_flash, 400);
    assert_int_equal(b.flash_reads, 400);
    assert_int_equal(s.loads, 800);
    /* An application cache of 4 holds both sets: 4 cold misses, then all hits ... */
    pc_totals c = totals_of("dram=4,pc=0", &t, &s);
    assert_int_equal(c.app_hits, 396);
    assert_int_equal(c.flash_reads, 4);
    /* ... until wrong guesses take its slots (cache pollution). */
    pc_totals d = totals_of("dram=4,pc=0,prefetch=2,acc=0", &t, &s);
    assert_true(d.app_hits < 396);
    assert_true(d.flash_reads > 4);
    /* A page cache behind it (the same guesses: same seed) serves what the pollution
     * evicted; at most the 4 first uses still go to flash. */
    pc_totals e = totals_of("dram=4,pc=16,prefetch=2,acc=0", &t, &s);
    assert_int_equal(e.app_hits, d.app_hits);
    assert_true(e.flash_reads <= 4);
    assert_int_equal(e.pc_hits + e.flash_reads, d.flash_reads);
    /* Seeded: the same seed gives the same run, another seed another. */
    pc_totals f1 = totals_of("dram=4,pc=0,prefetch=2,acc=0.5,seed=3", &t, &s);
    pc_totals f2 = totals_of("dram=4,pc=0,prefetch=2,acc=0.5,seed=3", &t, &s);
    pc_totals f3 = totals_of("dram=4,pc=0,prefetch=2,acc=0.5,seed=4", &t, &s);
    assert_memory_equal(&f1, &f2, sizeof f1);
    assert_true(f1.pf_right != f3.pf_right || f1.app_hits != f3.app_hits);
    assert_true(f1.pf_right > 100 && f1.pf_right < 300);
    /* Bad parameters. */
    lf_policy_ctx ctx = {1, 16, 4, &t, NULL, 7, lf_trace_max_set(&t, 0)};
    lf_policy *p;
    lf_err err;
    assert_int_equal(lf_policy_create("pagecache:acc=2", &ctx, &p, &err), LF_EINVAL);
    assert_int_equal(lf_policy_create("pagecache:scope=disk", &ctx, &p, &err), LF_EINVAL);
    assert_int_equal(lf_policy_create("pagecache:dram=4,size=3", &ctx, &p, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "prefetch"));
    lf_trace_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_sorts_ids_and_keeps_weights_aligned),
        cmocka_unit_test(test_import_two_layers),
        cmocka_unit_test(test_import_bad_input),
        cmocka_unit_test(test_import_real_qwen),
        cmocka_unit_test(test_import_real_olmoe),
        cmocka_unit_test(test_caches_real_qwen),
        cmocka_unit_test(test_caches_real_olmoe),
        cmocka_unit_test(test_prefetch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
