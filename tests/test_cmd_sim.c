/* Tests of `llmflash sim`: a hand-made trace and device through the binary (run folder,
 * hand-computed rows, budget refusals, usage errors, the ablation, --repeat-configs,
 * determinism). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_fs.h"
#include "lf_policy.h"
#include "lf_runopt.h"
#include "lf_test.h"
#include "lf_trace.h"

static const char *trace_path, *dev_path;

/* One layer, 8 units, d_model 4 (custom:1,4,8), tokens {1,2,5} {2,3} {5,6,7} {1}. */
/* 1 ms per read + 16 B/us per stream; DRAM 1 us per op + 16 B/us; a page-cache hit
 * 1 us + 16 B/us (a profile may leave that tier out: HAND_CONF alone). */
#define HAND_CONF                                                                          \
    "name = hand\nflash_latency_s = 1e-3\nflash_stream_bw = 16e6\n"                         \
    "flash_max_bw = 1e18\nflash_max_iops = 1e18\nflash_alignment = 16\n"                    \
    "dram_copy_bw = 16e6\ndram_op_s = 1e-6\ndram_alloc_s = 1e-4\n"                          \
    "compute_flops = 1e9\nmem_bw = 1e18\n"
#define HAND_PAGECACHE "pagecache_bw = 16e6\npagecache_latency_s = 1e-6\n"

static int setup(void **st)
{
    (void)st;
    lf_err err;
    lf_trace t;
    if (lf_trace_init_shape(&t, LF_UNITS_NEURONS, "custom:1,4,8", 1, 4, 8, 0, 2, 0, 0, &err))
        return -1;
    const uint32_t a[] = {1, 2, 5}, b[] = {2, 3}, c[] = {5, 6, 7}, d[] = {1};
    const uint32_t *sets[] = {a, b, c, d};
    const uint32_t ns[] = {3, 2, 3, 1};
    for (int i = 0; i < 4; i++)
        if (lf_trace_append_layer(&t, 0, sets[i], ns[i], NULL, &err) ||
            lf_trace_end_token(&t, i, &err))
            return -1;
    static char tp[1200], dp[1200];
    snprintf(tp, sizeof tp, "%s", lf_test_path("tiny.h5"));
    snprintf(dp, sizeof dp, "%s", lf_test_path("hand.conf"));
    int rc = lf_trace_write(&t, tp, &err);
    lf_trace_free(&t);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    char conf[1024];
    snprintf(conf, sizeof conf, "%s%s", HAND_CONF, HAND_PAGECACHE);
    lf_test_write(dp, conf, strlen(conf));
    trace_path = tp;
    dev_path = dp;
    return 0;
}

static char *slurp(const char *dir, const char *name)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lf_test_slurp(p);
}

#define BASE "sim --trace %s --device %s --predictor-rank 0 --dram-fraction 1 --max-read 0 --threads 1 "

/* window k=2, bundled 16-byte records: loads 3,1,2,1 -> reads = loads, bytes 16 each;
 * evictions 0,0,1,2; prealloc copies 0,0,1,2. */
static void test_run_folder(void **st)
{
    (void)st;
    const char *out = lf_test_path("r1");
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--policy window:k=2 --layout bundled --out %s", trace_path,
                         dev_path, out);
    if (rc)
        fprintf(stderr, "%s%s", o, e);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "cold start"));
    assert_non_null(strstr(o, "steady state"));
    assert_non_null(strstr(o, "(3 tokens)"));
    free(o);
    free(e);
    char *tok = slurp(out, "tokens.csv");
    assert_non_null(tok);
    /* token,io_ms,mem_ms,compute_ms,total_ms,bytes_read,reads,mean_read_bytes,loads,
     * evictions,hits,misses,... ; t2: io 2 reads -> 2.002 ms, one move -> 0.002 ms */
    assert_non_null(strstr(tok, "\n0,3.003,0,"));
    assert_non_null(strstr(tok, ",48,3,16,3,0,0,3,"));
    assert_non_null(strstr(tok, "\n2,2.002,0.002,"));
    assert_non_null(strstr(tok, ",32,2,16,2,1,1,2,"));
    assert_non_null(strstr(tok, ",16,1,16,1,2,0,1,"));
    free(tok);
    char *cfg = slurp(out, "config.conf");
    assert_non_null(strstr(cfg, "policy = window:k=2\n"));
    assert_non_null(strstr(cfg, "layout = bundled\n"));
    assert_non_null(strstr(cfg, "capacity = 8\n")); /* (256 - 128) / 16 */
    assert_non_null(strstr(cfg, "record_bytes = 16\n"));
    free(cfg);
    char *done = slurp(out, "done");
    assert_non_null(done);
    free(done);
    char *meta = slurp(out, "meta.json");
    assert_non_null(strstr(meta, "\"trace_sha256\""));
    /* the process's peak memory: more than a few MB (the binary and its libraries) */
    const char *rss = strstr(meta, "\"max_rss_bytes\":\"");
    assert_non_null(rss);
    assert_true(strtoull(rss + strlen("\"max_rss_bytes\":\""), NULL, 10) > (1u << 20));
    free(meta);
}

/* Policy counters are columns and a JSON object, and a window that had to shrink says
 * so on stderr. Cache 3 with k=4 over {1,2,5} {2,3} {5,6,7} {1}: the union of two
 * tokens never fits, so tokens 1..3 each shrink to k'=1 (shrinks 3, min_k 1). */
static void test_counters_are_columns(void **st)
{
    (void)st;
    const char *out = lf_test_path("counters");
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--policy window:k=4,capacity=3 --quiet --out %s",
                         trace_path, dev_path, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(e, "note: policy 'window:k=4,capacity=3' did not run as written: "
                              "shrinks = 3"));
    assert_non_null(strstr(e, "min_k = 1"));
    free(o);
    free(e);
    char *sum = slurp(out, "summary.csv");
    char *row = strchr(sum, '\n') + 1;
    assert_non_null(strstr(sum, ",total_copy_ops,policy_shrinks,policy_min_k,"));
    /* the same position in the row: count the commas before the column */
    size_t col = 0;
    for (const char *c = sum; c < strstr(sum, ",policy_shrinks,"); c++)
        col += *c == ',';
    const char *v = row;
    for (size_t i = 0; i <= col; i++)
        v = strchr(v, ',') + 1;
    assert_int_equal(strncmp(v, "3,1,", 4), 0);
    free(sum);
    char *tok = slurp(out, "tokens.csv");
    assert_non_null(strstr(tok, ",copy_ops,policy_shrinks\n")); /* totals only, not min_k */
    const char *line = strchr(tok, '\n') + 1;
    const char want[] = {'0', '1', '1', '1'};
    for (int t = 0; t < 4; t++) {
        const char *nl = strchr(line, '\n');
        assert_int_equal(nl[-1], want[t]);
        assert_int_equal(nl[-2], ',');
        line = nl + 1;
    }
    free(tok);
    char *meta = slurp(out, "meta.json");
    assert_non_null(strstr(meta, "\"policy_counters\":{"));
    assert_non_null(strstr(meta, "\"shrinks\":3,"));
    assert_non_null(strstr(meta, "\"min_k\":1\n"));
    free(meta);

    /* a policy without counters: no columns, an empty object, no note */
    rc = lf_test_run(&o, &e, BASE "--policy lru --quiet --out %s", trace_path, dev_path, out);
    assert_int_equal(rc, 0);
    assert_null(strstr(e, "note:"));
    free(o);
    free(e);
    sum = slurp(out, "summary.csv");
    assert_null(strstr(sum, "policy_"));
    free(sum);
    meta = slurp(out, "meta.json");
    assert_non_null(strstr(meta, "\"policy_counters\":{"));
    assert_null(strstr(meta, "shrinks"));
    free(meta);
}

/* The message of the first line of e that is not a note (": MSG"), or NULL. */
static const char *first_error(const char *e)
{
    for (const char *line = e; line && *line;) {
        const char *m = strstr(line, ": "), *end = strchr(line, '\n');
        if (m && (!end || m < end) && strncmp(m, ": note: ", 8) != 0)
            return m;
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* One option table: a value is refused by sim and run alike, with the same message,
 * and every shared option is in each command's help. (BASE gives some of the options
 * already: the value given last is used, with a note.) */
static void test_one_option_table(void **st)
{
    (void)st;
    const char *bad[] = {"--fn-rate 2",          "--fp-rate -0.1",   "--threads 0",
                         "--threads 5000",       "--dram-bytes 0",   "--dram-fraction 0",
                         "--dram-fraction 1.5",  "--tokens 0",       "--seed 1q",
                         "--predictor-rank 2000000", "--cold-tokens x", "--max-read 1q",
                         "--dram-strategy fast", "--layout rows"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *o1, *e1, *o2, *e2;
        assert_int_equal(lf_test_run(&o1, &e1, BASE "%s", trace_path, dev_path, bad[i]), 2);
        assert_int_equal(lf_test_run(&o2, &e2, "run --trace %s --weights none.w --out none %s",
                                     trace_path, bad[i]),
                         2);
        /* "llmflash sim: MSG\ntry ..." vs "llmflash run: MSG\ntry ..." */
        const char *m1 = first_error(e1), *m2 = first_error(e2);
        assert_non_null(m1);
        assert_non_null(m2);
        size_t n1 = strcspn(m1, "\n"), n2 = strcspn(m2, "\n");
        if (n1 != n2 || strncmp(m1, m2, n1))
            fail_msg("%s: sim says '%.*s', run says '%.*s'", bad[i], (int)n1, m1, (int)n2, m2);
        char name[32];
        sscanf(bad[i], "%31s", name);
        assert_non_null(strstr(m1, name));
        free(o1), free(e1), free(o2), free(e2);
    }
    /* each command's help lists every shared option it takes, from the table */
    char *sim_help, *run_help, *e;
    assert_int_equal(lf_test_run(&sim_help, &e, "sim --help"), 0);
    free(e);
    assert_int_equal(lf_test_run(&run_help, &e, "run --help"), 0);
    free(e);
    size_t n;
    const lf_runopt *t = lf_runopt_table(&n);
    for (size_t i = 0; i < n; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s", t[i].name, t[i].metavar ? " " : "");
        if (t[i].cmds & LF_RUNOPT_SIM)
            assert_non_null(strstr(sim_help, flag));
        if (t[i].cmds & LF_RUNOPT_RUN)
            assert_non_null(strstr(run_help, flag));
        else
            assert_null(strstr(run_help, flag));
    }
    assert_non_null(strstr(sim_help, lf_policy_names()));
    free(sim_help);
    free(run_help);
}

static void test_budget_refusals(void **st)
{
    (void)st;
    char *o, *e;
    /* The default predictor (rank 128: 3072 B) does not fit a 256-byte model's budget. */
    int rc = lf_test_run(&o, &e, "sim --trace %s --device %s", trace_path, dev_path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(e, "resident part"));
    free(o);
    free(e);
    /* Budget 0.6 * 256 = 153 B: 25 B for the FFN cache, 1 unit; sparse wants 3. */
    rc = lf_test_run(&o, &e, "sim --trace %s --device %s --predictor-rank 0 --dram-fraction 0.6 "
                     "--policy sparse",
                     trace_path, dev_path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(e, "sparse"));
    free(o);
    free(e);
}

/* pagecache with the error-model predictor: a false positive rate of 1 doubles every
 * wanted set (3 needed + 3 guessed here), which must fit the DRAM manager's rows (they
 * were sized from the trace's largest set alone: "3 new units exceed 3 rows"). */
static void test_pagecache_with_false_positives(void **st)
{
    (void)st;
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--policy pagecache --fp-rate 1 --quiet", trace_path,
                         dev_path);
    assert_int_equal(rc, 0);
    assert_null(strstr(e, "exceed"));
    free(o);
    free(e);
    /* hot's default n leaves room for the largest wanted set, false positives included:
     * a cache of 6 = the 3 needed + 3 guessed units of the largest token must suffice. */
    rc = lf_test_run(&o, &e, BASE "--policy hot:capacity=6 --fp-rate 1 --quiet", trace_path, dev_path);
    if (rc != 0)
        fail_msg("hot with --fp-rate 1 failed: %s", e);
    free(o);
    free(e);
}

/* Page-cache hits on a profile without that tier (pagecache_bw 0) would be priced as
 * free: refused, naming the device and the fix, and no run folder is left. */
static void test_pagecache_needs_the_tier(void **st)
{
    (void)st;
    const char *nopc = lf_test_path("nopc.conf"), *out = lf_test_path("nopc-run");
    lf_test_write(nopc, HAND_CONF, strlen(HAND_CONF));
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--policy pagecache:dram=1,pc=2 --quiet --out %s",
                         trace_path, nopc, out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(e, "device 'hand' does not model the OS page cache"));
    assert_non_null(strstr(e, "set pagecache_bw"));
    assert_int_equal(access(out, F_OK), -1);
    free(o);
    free(e);
    /* the same plan on a profile that models it runs */
    rc = lf_test_run(&o, &e, BASE "--policy pagecache:dram=1,pc=2 --quiet --out %s", trace_path,
                     dev_path, out);
    if (rc != 0)
        fail_msg("pagecache on a profile with the tier: %s", e);
    free(o);
    free(e);
}

static void test_usage_errors(void **st)
{
    (void)st;
    char *o, *e;
    assert_int_equal(lf_test_run(&o, &e, "sim --bogus"), 2);
    assert_non_null(strstr(e, "--bogus"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "sim --device %s", dev_path), 2);
    assert_non_null(strstr(e, "--trace"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, BASE "--layout rows", trace_path, dev_path), 2);
    assert_non_null(strstr(e, "split, bundled, coact"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, BASE "--fn-rate 2", trace_path, dev_path), 2);
    free(o);
    free(e);
    /* --dram-bytes 0 silently fell back to --dram-fraction. */
    assert_int_equal(lf_test_run(&o, &e, BASE "--dram-bytes 0", trace_path, dev_path), 2);
    assert_non_null(strstr(e, "--dram-bytes"));
    free(o);
    free(e);
    /* Records padded to 3000 bytes could never be read with direct I/O. */
    assert_int_equal(lf_test_run(&o, &e, BASE "--alignment 3000", trace_path, dev_path), 2);
    assert_non_null(strstr(e, "power of two"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, BASE "--policy nosuch", trace_path, dev_path), 1);
    assert_non_null(strstr(e, "window"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "sim --trace %s/none.h5 --device %s",
                                 lf_test_dir(), dev_path), 1);
    assert_non_null(strstr(e, "none.h5"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "sim --help"), 0);
    assert_non_null(strstr(o, "example"));
    free(o);
    free(e);
}

/* Naive reads the whole model per token: the FFN, whose 8-byte split vectors are padded
 * to 16 (256 B), + attention 128 B (streamed) = 384 B. Hybrid at a 0.75 budget: 192 B
 * - 128 B of attention = 64 B of FFN pinned (fraction 0.5); units 4..7 are read every
 * token: 4 * 2 * 16 = 128 B. */
static void test_ablation(void **st)
{
    (void)st;
    const char *out = lf_test_path("abl");
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--ablation --dram-fraction 0.75 --out %s", trace_path, dev_path, out);
    if (rc)
        fprintf(stderr, "%s", e);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "+ bundling"));
    free(o);
    free(e);
    char *csv = slurp(out, "ablation.csv");
    assert_non_null(csv);
    int lines = 0;
    for (char *c = csv; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 6);
    /* sizes in GiB: 384 bytes of flash per token, 192 bytes kept in DRAM, 128 read */
    assert_non_null(strstr(csv, "\"naive\",\"naive\",split,0,3.57627869e-07,"));
    assert_non_null(strstr(csv, "\"hybrid\",\"hybrid:fraction=0.500000\",split,1.78813934e-07,1.1920929e-07,"));
    free(csv);
    char *md = slurp(out, "ablation.md");
    assert_non_null(strstr(md, "| + windowing |"));
    free(md);
}

/* A --repeat-configs line with a command-line-only option names the option (it named
 * the option's argument: "option 'x.h5' belongs on the command line"). */
static void test_repeat_line_names_option(void **st)
{
    (void)st;
    const char *grid = lf_test_path("badgrid.txt");
    const char *g = "--policy lru\n--trace other.h5 --policy lru\n";
    lf_test_write(grid, g, strlen(g));
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--repeat-configs %s", trace_path, dev_path, grid);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(e, "'--trace'"));
    assert_non_null(strstr(e, "line 2"));
    free(o);
    free(e);
}

static void test_repeat_and_determinism(void **st)
{
    (void)st;
    const char *grid = lf_test_path("grid.txt");
    const char *g = "# two configurations\n--policy window:k=2 --layout split\n\n"
                    "--policy sparse --fn-rate 0.3 --fp-rate 0.3 --seed 5\n";
    lf_test_write(grid, g, strlen(g));
    const char *out = lf_test_path("rep");
    char *o, *e;
    int rc = lf_test_run(&o, &e, BASE "--repeat-configs %s --jobs 2 --out %s", trace_path,
                         dev_path, grid, out);
    assert_int_equal(rc, 0);
    int lines = 0;
    for (char *c = o; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 3); /* header + 2 rows */
    assert_non_null(strstr(e, "2 configurations"));
    free(o);
    free(e);
    char p[1400];
    snprintf(p, sizeof p, "%s/cfg-002", out);
    char *a = slurp(p, "tokens.csv");
    assert_non_null(a);
    /* The same configuration on its own gives the same rows. */
    const char *solo = lf_test_path("solo");
    rc = lf_test_run(&o, &e, BASE "--policy sparse --fn-rate 0.3 --fp-rate 0.3 --seed 5 --out %s",
                     trace_path, dev_path, solo);
    assert_int_equal(rc, 0);
    free(o);
    free(e);
    char *b = slurp(solo, "tokens.csv");
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* A bad line names the file and line. */
    const char *bad = "--policy lru\n--trace x.h5\n";
    lf_test_write(grid, bad, strlen(bad));
    rc = lf_test_run(&o, &e, BASE "--repeat-configs %s", trace_path, dev_path, grid);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(e, "line 2"));
    free(o);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_folder),
        cmocka_unit_test(test_counters_are_columns),
        cmocka_unit_test(test_one_option_table),
        cmocka_unit_test(test_budget_refusals),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_pagecache_with_false_positives),
        cmocka_unit_test(test_pagecache_needs_the_tier),
        cmocka_unit_test(test_ablation),
        cmocka_unit_test(test_repeat_and_determinism),
        cmocka_unit_test(test_repeat_line_names_option),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
