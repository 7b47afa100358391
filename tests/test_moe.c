/* Tests of the MoE slice: the routing-log importer (on small hand-written logs and on
 * the real logs in ../shared/data), and bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_import.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_sorts_ids_and_keeps_weights_aligned),
        cmocka_unit_test(test_import_two_layers),
        cmocka_unit_test(test_import_bad_input),
        cmocka_unit_test(test_import_real_qwen),
        cmocka_unit_test(test_import_real_olmoe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
