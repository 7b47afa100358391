/* Tests of `llmflash run` and `llmflash validate` on expert files (cli/cmd_run_moe.c,
 * cli/cmd_validate_moe.c, experiments/lf_validate_moe): the run folder says which
 * page-cache mechanism held the budget (--pagecache-mechanism: fadvise forced, cgroup
 * where one can be made, auto falling back with its reason) and gives predicted and
 * measured hit rates that agree; validate prints every configuration, the targets and the trust-the-OS ratio;
 * the real OLMoE routing log (../shared/data, skipped when absent) runs end to end. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_mix.h"
#include "lf_test.h"
#include "lf_time.h"
#include "lf_validate_moe.h"
#include "lf_weights.h"

/* A routing trace of the small model (d_model x d_ff experts) written to path. */
static void write_trace_of(const char *path, uint32_t n_tok, uint32_t d_model, uint32_t d_ff)
{
    lf_model m;
    lf_test_moe_model(&m, 2, d_model, d_ff, 16, 2);
    lf_trace t;
    lf_err err;
    assert_int_equal(lf_trace_init(&t, &m, 2, 1, 0, &err), LF_OK);
    uint64_t s = 5;
    for (uint32_t tok = 0; tok < n_tok; tok++) {
        for (uint32_t l = 0; l < m.n_layers; l++) {
            uint64_t z = lf_mix_next(&s);
            uint32_t a = (uint32_t)(z % 16) * (uint32_t)((z >> 8) % 16) / 16, b = (a + 1 + (z >> 16) % 5) % 16;
            uint32_t ids[2] = {a < b ? a : b, a < b ? b : a};
            float v[2] = {0.6f, 0.4f};
            assert_int_equal(lf_trace_append_layer(&t, l, ids, 2, v, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(&t, (int32_t)tok, &err), LF_OK);
    }
    assert_int_equal(lf_trace_write(&t, path, &err), LF_OK);
    lf_trace_free(&t);
}

static void write_trace(const char *path, uint32_t n_tok)
{
    write_trace_of(path, n_tok, 128, 64);
}

static void write_weights_of(const char *path, lf_dtype dt, uint32_t d_model, uint32_t d_ff)
{
    lf_model m;
    lf_test_moe_model(&m, 2, d_model, d_ff, 16, 2);
    lf_weights_spec s;
    memset(&s, 0, sizeof s);
    s.model = &m;
    s.layout = LF_LAYOUT_BUNDLED;
    s.dtype = dt;
    s.seed = 2;
    lf_err err;
    assert_int_equal(lf_weights_make(path, &s, &err), LF_OK);
}

static void write_weights(const char *path, lf_dtype dt)
{
    write_weights_of(path, dt, 128, 64);
}

static const char *DEVICE =
    "flash_latency_s = 0.0001\nflash_stream_bw = 1e9\nflash_max_bw = 2e9\nflash_max_iops = 1e5\n"
    "pagecache_bw = 5e9\npagecache_latency_s = 2e-6\ndram_copy_bw = 5e9\ndram_op_s = 1e-7\n"
    "compute_flops = 1e10\nmem_bw = 1e10\nexpert_wps_4 = 1e9\nexpert_wps_2 = 1e9\n";

/* Field k (from 0) of the CSV line at p, as a number; quoted fields may hold commas. */
static double csv_field(const char *p, int k)
{
    for (int f = 0; f < k; f++) {
        int quoted = 0;
        while (*p && *p != '\n' && (quoted || *p != ','))
            quoted ^= *p++ == '"';
        assert_true(*p == ',');
        p++;
    }
    return atof(p);
}

/* Extracts the number after "key":" in a meta.json text. */
static double meta_num(const char *meta, const char *key)
{
    char k[128];
    snprintf(k, sizeof k, "\"%s\":\"", key);
    const char *p = strstr(meta, k);
    assert_non_null(p);
    return atof(p + strlen(k));
}

/* Asserts that the file at path holds each of the n texts. */
static void assert_file_has(const char *path, int n, ...)
{
    char *text = lf_test_slurp(path);
    assert_non_null(text);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (!strstr(text, want))
            print_message("%s lacks '%s'\n", path, want);
        assert_non_null(strstr(text, want));
    }
    va_end(ap);
    free(text);
}

static void test_run_expert_file(void **st)
{
    (void)st;
    const char *tr = lf_test_path("r.h5"), *w = lf_test_path("r4.w");
    write_trace(tr, 30);
    write_weights(w, LF_DTYPE_Q4);
    char *o = NULL, *e = NULL;
    const char *out = lf_test_path("run1");
    int rc = lf_test_run(&o, &e, "run --trace %s --weights %s --policy "
                         "pagecache:dram=0,pc=4,scope=global --threads 2 --out %s "
                         "--pagecache-mechanism fadvise", tr, w, out);
    if (rc)
        print_message("%s\n%s\n", o, e);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "run (experts)"));
    assert_non_null(strstr(o, "path fadvise"));
    char mp[4200];
    snprintf(mp, sizeof mp, "%s/meta.json", out);
    char *meta = lf_test_slurp(mp);
    assert_non_null(meta);
    assert_non_null(strstr(meta, "\"page_cache_mechanism\":\"fadvise\""));
    assert_non_null(strstr(meta, "\"page_cache_mechanism_note\":\"\""));
    double pred = meta_num(meta, "page_cache_hit_rate_predicted");
    double meas = meta_num(meta, "page_cache_hit_rate_measured");
    assert_true(pred > 0.05);
    assert_true(fabs(pred - meas) <= 0.03);
    assert_true(meta_num(meta, "page_cache_budget_bytes") > 0);
    free(meta);
    char cp[4200];
    snprintf(cp, sizeof cp, "%s/config.conf", out);
    assert_file_has(cp, 1, "pagecache_mechanism = fadvise");
    free(o);
    free(e);
    /* an application LRU: O_DIRECT, no page cache */
    rc = lf_test_run(&o, &e, "run --trace %s --weights %s --policy lru:capacity=4 --out %s --quiet",
                     tr, w, out);
    assert_int_equal(rc, 0);
    meta = lf_test_slurp(mp);
    assert_non_null(strstr(meta, "\"page_cache_mechanism\":\"direct\""));
    free(meta);
    free(o);
    free(e);
    /* no --policy: trust the OS (no application cache, the page cache the budget); the
     * default mechanism, auto, falls back to fadvise when no cgroup can be made (here a
     * cgroup root that is a plain folder), and says why */
    setenv("LLMFLASH_CGROUP_ROOT", lf_test_dir(), 1);
    rc = lf_test_run(&o, &e, "run --trace %s --weights %s --out %s", tr, w, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "pagecache:dram=0"));
    assert_non_null(strstr(o, "path fadvise"));
    assert_non_null(strstr(o, "page cache: auto: fadvise; memory cgroup: LLMFLASH_CGROUP_ROOT="));
    assert_file_has(mp, 2, "\"page_cache_mechanism\":\"fadvise\"",
                    "is not a folder of a memory cgroup hierarchy");
    assert_file_has(cp, 1, "pagecache_mechanism = auto");
    free(o);
    free(e);
    /* cgroup asked and impossible: an error naming why, no fallback */
    rc = lf_test_run(&o, &e, "run --trace %s --weights %s --out %s --pagecache-mechanism cgroup "
                     "--quiet", tr, w, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e, "memory cgroup: LLMFLASH_CGROUP_ROOT="));
    free(o);
    free(e);
    unsetenv("LLMFLASH_CGROUP_ROOT");
    /* cgroup where one can be made (root, a writable memory hierarchy) */
    rc = lf_test_run(&o, &e, "run --trace %s --weights %s --out %s --pagecache-mechanism cgroup "
                     "--policy pagecache:dram=0,pc=4,scope=global", tr, w, out);
    if (rc) {
        assert_non_null(strstr(e, "memory cgroup:"));
        print_message("SKIP (cgroup run): %s", e);
    } else {
        assert_non_null(strstr(o, "path cgroup"));
        assert_file_has(mp, 2, "\"page_cache_mechanism\":\"cgroup\"",
                        "\"page_cache_mechanism_note\":\"cgroup v");
    }
    free(o);
    free(e);
    /* refused: an unknown mechanism; a budget below one expert per layer (it read as "no
     * capacity given" and cached every expert); an option the expert executor has no use
     * for (it was ignored) */
    const char *refused[][2] = {{"--pagecache-mechanism lru", "expected auto"},
                                {"--policy lru --dram-bytes 1k", "holds no expert"},
                                {"--fn-rate 0.1", "takes no --fn-rate"}};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        rc = lf_test_run(&o, &e, "run --trace %s --weights %s %s --out %s", tr, w, refused[i][0],
                         out);
        assert_int_equal(rc, 2); /* usage errors */
        assert_non_null(strstr(e, refused[i][1]));
        free(o);
        free(e);
    }
}

/* A row's page-cache figures come from the run with the median hit rate, its latency from
 * the run with the median latency: each the run nearest its median. */
static void test_median_run(void **st)
{
    (void)st;
    double sorted[4];
    const double three[] = {0.58, 0.65, 0.62};
    assert_int_equal(lf_vmoe_median_run(three, 3, sorted), 2);
    assert_true(sorted[0] == 0.58 && sorted[2] == 0.65);
    const double four[] = {0.75, 0.5, 0.25, 1.0}; /* median 0.625: 0.5 and 0.75 tie */
    assert_int_equal(lf_vmoe_median_run(four, 4, sorted), 0);
    const double one[] = {7};
    assert_int_equal(lf_vmoe_median_run(one, 1, sorted), 0);
    /* the hit rate: among the repeats the outside reclaimer left alone (paged 0), all
     * when it struck each or was not counted (-1) */
    double work[4];
    uint32_t count;
    const double hit[] = {0.600, 0.650, 0.595};
    const int64_t struck_two[] = {7000000, 0, 2000000}, struck_all[] = {1, -1, 5},
                  none[] = {0, 0, 0};
    assert_int_equal(lf_vmoe_median_hit_run(hit, struck_two, 3, 1, work, sorted, &count), 1);
    assert_int_equal(count, 1);
    assert_int_equal(lf_vmoe_median_hit_run(hit, struck_two, 3, 0, work, sorted, &count), 0);
    assert_int_equal(count, 3);
    assert_true(sorted[0] == 0.595 && sorted[2] == 0.650);
    assert_int_equal(lf_vmoe_median_hit_run(hit, struck_all, 3, 1, work, sorted, &count),
                     UINT32_MAX);
    assert_int_equal(count, 0);
    assert_int_equal(lf_vmoe_median_hit_run(hit, none, 3, 1, work, sorted, &count), 0);
    const int64_t last_clean[] = {3, 4, 0}; /* the one clean repeat is the last */
    assert_int_equal(lf_vmoe_median_hit_run(hit, last_clean, 3, 1, work, sorted, &count), 2);
}

/* validate_moe.csv is as wide as its numbers print: a row of absurd values (a policy
 * string at its longest, 1e300 ms) is written whole, not cut or run past a buffer. */
static void test_csv_wide_rows(void **st)
{
    (void)st;
    lf_vmoe_row rows[2];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 2; i++) {
        snprintf(rows[i].id, sizeof rows[i].id, "m%02d", i + 1);
        memset(rows[i].policy, 'p', sizeof rows[i].policy - 1);
        snprintf(rows[i].dtype, sizeof rows[i].dtype, "q4");
        snprintf(rows[i].scope, sizeof rows[i].scope, "token");
        snprintf(rows[i].mechanism, sizeof rows[i].mechanism, "cgroup");
        rows[i].predicted_ms = rows[i].measured_ms = rows[i].predicted_norm_ms = 1e300;
        rows[i].pc_hit_max = -1e300;
    }
    const char *path = lf_test_path("wide.csv");
    lf_err err;
    assert_int_equal(lf_vmoe_write_csv(path, rows, 2, &err), LF_OK);
    char *c = lf_test_slurp(path);
    assert_non_null(c);
    int lines = 0;
    for (const char *p = c; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 3);
    const char *m02 = strstr(c, "\nm02,\"ppp");
    assert_non_null(m02);
    assert_true(csv_field(m02 + 1, 7) == 1e300);
    assert_true(csv_field(m02 + 1, 33) == -1e300);
    free(c);
}

static void test_validate_expert_grid(void **st)
{
    (void)st;
    const char *tr = lf_test_path("v.h5"), *w4 = lf_test_path("v4.w"), *w2 = lf_test_path("v2.w");
    const char *dev = lf_test_path("dev.conf"), *grid = lf_test_path("g.conf");
    write_trace(tr, 20);
    write_weights(w4, LF_DTYPE_Q4);
    write_weights(w2, LF_DTYPE_Q2);
    lf_test_write(dev, DEVICE, strlen(DEVICE));
    const char *g = "policy = pagecache:dram=0,pc=4,scope=global | lru:capacity=4\n"
                    "dtype = q4 | q2\nthreads = 2\nscope = token | ffn\n";
    lf_test_write(grid, g, strlen(g));
    char *o = NULL, *e = NULL;
    const char *out = lf_test_path("val");
    int rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --weights %s --device %s "
                         "--grid %s --out %s --repeat 1 --pagecache-mechanism fadvise", tr, w4,
                         w2, dev, grid, out);
    if (rc)
        print_message("%s\n%s\n", o, e);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "validate (experts): 8 configurations"));
    assert_non_null(strstr(o, "m04"));
    assert_non_null(strstr(o, "MdAPE"));
    assert_non_null(strstr(o, "MISSED")); /* 8 configurations are fewer than the 12 asked */
    /* one ratio per bit width and scope: a pair shares everything but the cache (they
     * were paired across scopes too: 8 lines for 4 pairs) */
    assert_non_null(strstr(o, "trust-the-OS vs application LRU, 4 experts per layer, q4, scope token"));
    assert_non_null(strstr(o, "trust-the-OS vs application LRU, 4 experts per layer, q2, scope ffn"));
    int ratios = 0;
    for (const char *p = o; (p = strstr(p, "trust-the-OS vs application LRU")); p++)
        ratios++;
    assert_int_equal(ratios, 4);
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/validate_moe.csv", out);
    char *c = lf_test_slurp(csv);
    assert_non_null(c);
    assert_non_null(strstr(c, "id,policy,dtype,threads,tokens,scope,mechanism,"));
    assert_non_null(strstr(c, "m01,\"pagecache:dram=0,pc=4,scope=global\",q4,2,20,token,fadvise,"));
    assert_non_null(strstr(c, "m08,\"lru:capacity=4\",q2,2,20,ffn,direct,"));
    /* the hit rate's spread over the repeats (one here): the page-cache rows' around the
     * measured rate (columns 20, 32, 33), the direct rows' none */
    assert_non_null(strstr(c, ",predicted_resident_ms,pc_hit_min,pc_hit_max,pc_hit_all,"
                              "pc_clean_runs,pc_struck_runs\n"));
    const char *m01 = strstr(c, "m01,"), *m05 = strstr(c, "m05,");
    assert_true(m01 && m05);
    assert_true(csv_field(m01, 20) > 0);
    assert_true(csv_field(m01, 32) == csv_field(m01, 20));
    assert_true(csv_field(m01, 33) == csv_field(m01, 20));
    assert_true(csv_field(m01, 34) == csv_field(m01, 20)); /* pc_hit_all */
    assert_true(csv_field(m01, 35) + csv_field(m01, 36) <= 1); /* clean + struck repeats */
    assert_true(isnan(csv_field(m05, 32)) && isnan(csv_field(m05, 33)));
    assert_null(strstr(e, "outside what it was fitted on")); /* DEVICE records no range */
    free(o);
    free(e);
    /* a profile fitted on reads of 1-4 MiB, 8-32 in flight, prices the tiny records at 2
     * in flight outside that: validate says so once, naming every configuration */
    char devr[1200], outr[1200]; /* lf_test_path's 8 buffers hold the paths above */
    snprintf(devr, sizeof devr, "%s/devr.conf", lf_test_dir());
    snprintf(outr, sizeof outr, "%s/valr", lf_test_dir());
    char rprof[1024];
    snprintf(rprof, sizeof rprof, "%sflash_fit_min_chunk = 1048576\nflash_fit_max_chunk = "
             "4194304\nflash_fit_min_depth = 8\nflash_fit_max_depth = 32\n", DEVICE);
    lf_test_write(devr, rprof, strlen(rprof));
    rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --weights %s --device %s "
                     "--grid %s --out %s --repeat 1 --pagecache-mechanism fadvise", tr, w4, w2,
                     devr, grid, outr);
    assert_int_equal(rc, 0);
    const char *range = strstr(e, "priced 8 of 8 configurations (m01, m02, m03, m04, m05, m06, "
                                  "m07, m08) outside what it was fitted on");
    assert_non_null(range);
    assert_non_null(strstr(range, "2 reads in flight"));
    const char *warning = strstr(e, "warning: device profile");
    assert_non_null(warning);
    assert_null(strstr(warning + 1, "warning: device profile"));
    free(o);
    free(e);
    /* a profile measured through the page cache prices the page-cache configurations
     * only (here: 4-5x slower flash, its copy included), the O_DIRECT one the others */
    const char *devb = lf_test_path("devb.conf"), *out2 = lf_test_path("valb");
    char bprof[1024];
    snprintf(bprof, sizeof bprof, "%s", DEVICE);
    char *sbw = strstr(bprof, "flash_stream_bw = 1e9"), *mbw = strstr(bprof, "flash_max_bw = 2e9");
    assert_true(sbw && mbw);
    memcpy(sbw, "flash_stream_bw = 2e8", 21);
    memcpy(mbw, "flash_max_bw = 5e8", 18);
    strcat(bprof, "flash_buffered = 2\n"); /* measured under a cgroup: the runs use fadvise */
    lf_test_write(devb, bprof, strlen(bprof));
    rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --weights %s --device %s "
                     "--device buffered=%s --grid %s --out %s --repeat 1 --pagecache-mechanism "
                     "fadvise", tr, w4, w2, dev, devb, grid, out2);
    if (rc)
        print_message("%s\n%s\n", o, e);
    assert_int_equal(rc, 0);
    /* said once: the profile held its misses by another mechanism than the runs */
    const char *mismatch = strstr(o, "whose misses were held by cgroup, but this run's page "
                                     "cache was held by fadvise");
    assert_non_null(mismatch);
    assert_null(strstr(mismatch + 1, "whose misses were held by"));
    char csv2[4200];
    snprintf(csv2, sizeof csv2, "%s/validate_moe.csv", out2);
    char *c2 = lf_test_slurp(csv2);
    assert_non_null(c2);
    for (int id = 1; id <= 8; id++) { /* m01-m04 page cache; m05-m08 direct */
        char key[8];
        snprintf(key, sizeof key, "m%02d,", id);
        const char *a = strstr(c, key), *b = strstr(c2, key);
        assert_non_null(a);
        assert_non_null(b);
        double pa = csv_field(a, 7), pb = csv_field(b, 7); /* predicted_ms */
        if (id <= 4)
            assert_true(pb > 1.1 * pa);
        else
            assert_true(pb == pa);
    }
    free(c);
    free(c2);
    free(o);
    free(e);
    /* the O_DIRECT profile is not taken for the page-cache one, nor other engines' */
    const char *refused[][2] = {{"buffered", "not measured through the page cache"},
                                {"psync", "no other ENGINE= profile"}};
    for (int k = 0; k < 2; k++) {
        rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --device %s --device %s=%s "
                         "--grid %s --out %s --repeat 1", tr, w4, dev, refused[k][0], dev, grid,
                         out2);
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(e, refused[k][1]));
        free(o);
        free(e);
    }
    /* expert grids take one cold-start sample per repeat: asking for more is refused,
     * not ignored */
    rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --device %s --grid %s --out %s "
                     "--repeat 1 --cold-samples 2", tr, w4, dev, grid, out2);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e, "--cold-samples"));
    assert_non_null(strstr(e, "holds experts"));
    free(o);
    free(e);
    /* the grid's scope and mechanism; auto falls back (no cgroup root) and says why once */
    const char *g3 = "policy = pagecache:dram=0,pc=4,scope=global | pagecache:dram=0,pc=3\n"
                     "scope = ffn\npagecache_mechanism = auto\nthreads = 2\n";
    lf_test_write(grid, g3, strlen(g3));
    setenv("LLMFLASH_CGROUP_ROOT", lf_test_dir(), 1);
    rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --device %s --grid %s --out %s "
                     "--repeat 1", tr, w4, dev, grid, out);
    unsetenv("LLMFLASH_CGROUP_ROOT");
    assert_int_equal(rc, 0);
    const char *note = strstr(o, "page cache: auto: fadvise; memory cgroup:");
    assert_non_null(note);
    assert_null(strstr(note + 1, "page cache: auto: fadvise; memory cgroup:")); /* once */
    assert_file_has(csv, 1, "m01,\"pagecache:dram=0,pc=4,scope=global\",q4,2,20,ffn,fadvise,");
    free(o);
    free(e);
    /* a grid naming a bit width no file holds */
    const char *g2 = "policy = lru:capacity=4\ndtype = int8\n";
    lf_test_write(grid, g2, strlen(g2));
    rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --device %s --grid %s --out %s "
                     "--repeat 1", tr, w4, dev, grid, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e, "no --weights file holds it"));
    free(o);
    free(e);
}

/* A column of the one-line-per-row CSV at path, row `row` (from 0), as a number. */
static double csv_cell(const char *path, const char *name, int row)
{
    char *c = lf_test_slurp(path);
    assert_non_null(c);
    int col = -1, k = 0;
    for (const char *p = c; *p && *p != '\n'; k++) {
        size_t len = strcspn(p, ",\n");
        if (len == strlen(name) && !strncmp(p, name, len))
            col = k;
        p += len + (p[len] == ',');
    }
    assert_true(col >= 0);
    const char *line = strchr(c, '\n');
    for (int r = 0; r < row && line; r++)
        line = strchr(line + 1, '\n');
    assert_non_null(line);
    double v = csv_field(line + 1, col);
    free(c);
    return v;
}

/* --drift-refs on an expert grid: the references are measured before every run (an
 * O_DIRECT probe of the file and the expert kernel), the normalised prediction prices
 * the flash and compute terms at those speeds; without the option both factors are 1;
 * a file too small for the reference reads is refused by name. Repeats are taken
 * round-robin and their spread kept. Each of the 6 runs waits --drift-settle seconds
 * after its references: the command takes at least 6 x that longer than without the
 * references (which add about 2.4 s of their own). */
static void test_validate_drift_refs(void **st)
{
    (void)st;
    const char *tr = lf_test_path("d.h5"), *small = lf_test_path("d4s.w");
    const char *trs = lf_test_path("ds.h5");
    const char *big = lf_test_path("d4.w"), *dev = lf_test_path("ddev.conf");
    const char *grid = lf_test_path("dg.conf"), *out = lf_test_path("dval");
    write_trace_of(tr, 12, 512, 512);
    write_trace(trs, 12);
    write_weights(small, LF_DTYPE_Q4);
    write_weights_of(big, LF_DTYPE_Q4, 512, 512); /* 2 layers x 16 experts of ~0.4 MB */
    lf_test_write(dev, DEVICE, strlen(DEVICE));
    const char *g = "policy = pagecache:dram=0,pc=4,scope=global | lru:capacity=4\nthreads = 2\n";
    lf_test_write(grid, g, strlen(g));
    char *o = NULL, *e = NULL;
    int rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --device %s --grid %s --out %s "
                         "--repeat 1 --pagecache-mechanism fadvise --drift-refs", trs, small, dev,
                         grid, out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e, "too small for the flash drift reference"));
    assert_non_null(strstr(e, small));
    free(o);
    free(e);
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/validate_moe.csv", out);
    double t_plain = 0;
    for (int drift = 0; drift < 2; drift++) {
        double t0 = lf_now();
        rc = lf_test_run(&o, &e, "validate --trace %s --weights %s --device %s --grid %s --out %s "
                         "--repeat 3 --pagecache-mechanism fadvise%s", tr, big, dev, grid, out,
                         drift ? " --drift-refs --drift-settle 1" : "");
        if (rc)
            print_message("%s\n%s\n", o, e);
        assert_int_equal(rc, 0);
        if (drift)
            assert_true(lf_now() - t0 >= t_plain + 6 * 1.0);
        else
            t_plain = lf_now() - t0;
        assert_true((strstr(o, "drift-normalised") != NULL) == drift);
        free(o);
        free(e);
        for (int row = 0; row < 2; row++) {
            double io = csv_cell(csv, "io_drift", row), cpu = csv_cell(csv, "cpu_drift", row);
            double dense = csv_cell(csv, "dense_drift", row);
            double pres = csv_cell(csv, "predicted_resident_ms", row);
            double pred = csv_cell(csv, "predicted_ms", row);
            double pio = csv_cell(csv, "predicted_io_ms", row);
            double pcpu = csv_cell(csv, "predicted_compute_ms", row);
            double norm = csv_cell(csv, "predicted_norm_ms", row);
            double meas = csv_cell(csv, "measured_ms", row);
            assert_true(csv_cell(csv, "drift_measured", row) == drift);
            assert_true(io > 0 && cpu > 0 && dense > 0);
            /* the resident part (attention, router, head) is part of the compute priced */
            assert_true(pres > 0 && pres < pcpu);
            if (drift)
                assert_true(io != 1 && cpu != 1 && dense != 1); /* measured (a toy profile) */
            else
                assert_true(io == 1 && cpu == 1 && dense == 1 && fabs(norm - pred) < 1e-5);
            /* the experts' compute at the expert kernel's drift, the resident part's at the
             * dense product's */
            double want = pred - pio - pcpu + pio / io + (pcpu - pres) / cpu + pres / dense;
            assert_true(fabs(norm - want) < 1e-4 * (1 + want));
            assert_true(fabs(csv_cell(csv, "norm_error_pct", row) -
                             100 * (norm - meas) / meas) < 1e-2);
            assert_true(csv_cell(csv, "measured_min_ms", row) <= meas);
            assert_true(meas <= csv_cell(csv, "measured_max_ms", row));
        }
    }
    unlink(big);
}

/* The real OLMoE routing log, layer 0, 2-bit experts of the real size: the executor's
 * page cache serves what the policy predicts. */
static void test_real_log_run(void **st)
{
    (void)st;
    const char *log = lf_test_shared("olmoe_l0.jsonl");
    if (!log)
        skip();
    const char *tr = lf_test_path("ol.h5"), *w = lf_test_path("ol2.w");
    const char *out = lf_test_path("olrun");
    char *o = NULL, *e = NULL;
    int rc = lf_test_run(&o, &e, "trace import --format vllm-moe-jsonl %s --drop-warmup --tokens 40 "
                         "-o %s", log, tr);
    assert_int_equal(rc, 0);
    free(o);
    free(e);
    rc = lf_test_run(&o, &e, "weights make --model olmoe-1b-7b --layers 1 --dtype q2 --file %s", w);
    assert_int_equal(rc, 0);
    free(o);
    free(e);
    rc = lf_test_run(&o, &e, "run --trace %s --weights %s --policy "
                     "pagecache:dram=0,pc=16,scope=global --threads 2 --out %s "
                     "--pagecache-mechanism fadvise", tr, w, out);
    if (rc)
        print_message("%s\n%s\n", o, e);
    assert_int_equal(rc, 0);
    char mp[4200];
    snprintf(mp, sizeof mp, "%s/meta.json", out);
    char *meta = lf_test_slurp(mp);
    assert_non_null(meta);
    double pred = meta_num(meta, "page_cache_hit_rate_predicted");
    double meas = meta_num(meta, "page_cache_hit_rate_measured");
    print_message("OLMoE layer 0, 40 tokens, page cache of 16 experts: hit rate predicted %.3f, "
                  "measured %.3f\n", pred, meas);
    assert_true(pred > 0);
    assert_true(fabs(pred - meas) <= 0.03);
    free(meta);
    free(o);
    free(e);
    unlink(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_expert_file),
        cmocka_unit_test(test_median_run),
        cmocka_unit_test(test_csv_wide_rows),
        cmocka_unit_test(test_validate_expert_grid),
        cmocka_unit_test(test_validate_drift_refs),
        cmocka_unit_test(test_real_log_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
