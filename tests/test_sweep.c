/* Tests of the sweep runner (experiments/lf_sweep*, cli/cmd_sweep.c) and of the figure
 * scripts (the plots/ scripts on tests/fixtures/plots). The runner is driven with a fake
 * command (/bin/sh -c SCRIPT) so these tests need no simulator; one test uses the real
 * `llmflash sim` when the build has it. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_fs.h"
#include "lf_sweep.h"
#include "lf_sweep_combine.h"
#include "lf_sweep_emit.h"
#include "lf_sweep_exec.h"
#include "lf_test.h"

/* lf_test_path's buffers rotate: keep paths that must live long in a local array. */
#define TPATH(var, name)                                                                  \
    char var[1200];                                                                       \
    snprintf(var, sizeof var, "%s", lf_test_path(name))

static const char *write_sweep(const char *name, const char *text)
{
    const char *p = lf_test_path(name);
    lf_test_write(p, text, strlen(text));
    return p;
}

static void load_ok(const char *name, const char *text, lf_sweep *s)
{
    lf_err err;
    int rc = lf_sweep_load(write_sweep(name, text), s, &err);
    if (rc != LF_OK)
        fail_msg("%s", err.msg);
}

static size_t count_lines(const char *path)
{
    char *d = lf_test_slurp(path);
    size_t n = 0;
    for (const char *p = d; p && *p; p++)
        n += *p == '\n';
    free(d);
    return n;
}

static const char *GRID = "# a grid\n"
                          "mode = sim\n"
                          "trace = results/traces/a.h5\n"
                          "policy = window:k=2 | window:k=4,budget=0.5 | lru   # three\n"
                          "dram-fraction = 0.25|0.5\n"
                          "ablation =\n"
                          "seed = (none) | 3\n";

static void test_grid_expansion(void **st)
{
    (void)st;
    lf_sweep s;
    load_ok("grid.conf", GRID, &s);
    assert_string_equal(s.mode, "sim");
    assert_int_equal(s.n_axes, 5);
    assert_int_equal(s.n_runs, 3 * 2 * 2);
    assert_int_equal(s.axes[1].n_values, 3);
    assert_string_equal(s.axes[1].values[1], "window:k=4,budget=0.5"); /* commas stay */
    assert_string_equal(s.axes[2].values[1], "0.5");
    assert_string_equal(s.axes[3].values[0], "");
    assert_int_equal(s.n_collect, 1);
    assert_string_equal(s.collect[0], "summary.csv");

    /* index 5 = policy 1, fraction 0, seed 1 (last key fastest) */
    const char *v[5];
    lf_sweep_values(&s, 5, v);
    assert_string_equal(v[1], "window:k=4,budget=0.5");
    assert_string_equal(v[2], "0.25");
    assert_string_equal(v[4], "3");
    lf_sweep_values(&s, 11, v);
    assert_string_equal(v[1], "lru");
    assert_string_equal(v[2], "0.5");

    const char *prefix[] = {"X", NULL};
    lf_err err;
    char **argv = lf_sweep_argv(&s, 5, prefix, "D", &err);
    const char *want5[] = {"X", "sim", "--trace", "results/traces/a.h5", "--policy",
                           "window:k=4,budget=0.5", "--dram-fraction", "0.25", "--ablation",
                           "--seed", "3", "--out", "D", NULL};
    for (size_t i = 0; want5[i]; i++)
        assert_string_equal(argv[i], want5[i]);
    assert_null(argv[13]);
    lf_sweep_argv_free(argv);
    argv = lf_sweep_argv(&s, 0, prefix, "D", &err); /* seed (none): left out */
    assert_string_equal(argv[8], "--ablation");
    assert_string_equal(argv[9], "--out");
    assert_null(argv[11]);
    lf_sweep_argv_free(argv);
    lf_sweep_free(&s);

    load_ok("one.conf", "mode = run\nthreads = 8\n", &s);
    assert_int_equal(s.n_runs, 1);
    lf_sweep_free(&s);
    load_ok("none.conf", "mode = validate\n", &s);
    assert_int_equal(s.n_runs, 1);
    assert_int_equal(s.n_axes, 0);
    lf_sweep_free(&s);
    load_ok("coll.conf", "mode = sim\ncollect = summary.csv | tokens.csv\n", &s);
    assert_int_equal(s.n_collect, 2);
    assert_string_equal(s.collect[1], "tokens.csv");
    lf_sweep_free(&s);
}

static void test_variables(void **st)
{
    (void)st;
    lf_sweep s;
    load_ok("var.conf",
            "mode = sim\n@cache_size = 16 | 32\n@policy_name = lru | belady\n"
            "policy = {policy_name}:capacity={cache_size}\ndram-fraction = 1\n",
            &s);
    assert_int_equal(s.n_runs, 4);
    assert_true(s.axes[0].is_var);
    assert_string_equal(s.axes[0].key, "cache_size");
    const char *prefix[] = {"X", NULL};
    lf_err err;
    char **argv = lf_sweep_argv(&s, 1, prefix, "D", &err);
    const char *want[] = {"X", "sim", "--policy", "belady:capacity=16", "--dram-fraction", "1",
                          "--out", "D", NULL};
    for (size_t i = 0; want[i]; i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[8]);
    lf_sweep_argv_free(argv);
    char v[64], id[LF_SWEEP_ID_MAX];
    assert_int_equal(lf_sweep_value(&s, 2, 2, v, sizeof v, &err), LF_OK);
    assert_string_equal(v, "lru:capacity=32");
    assert_int_equal(lf_sweep_value(&s, 2, 2, v, 8, &err), LF_EINVAL);
    lf_sweep_run_id(&s, 1, id);
    assert_memory_equal(id, "cache_size=16_policy_name=belady_", 33);

    setenv("COUNT", lf_test_path("count_var"), 1);
    static const char *p[5];
    memcpy(p, (const char *[]){"/bin/sh", "-c",
                               "for a; do d=$a; done; printf 'hit_rate\\n0.5\\n' > \"$d/summary.csv\"",
                               "sh", NULL},
           sizeof p);
    lf_sweep_exec ex = {.prefix = p, .jobs = 2, .only = -1};
    lf_sweep_report rep;
    TPATH(out, "res_var");
    assert_int_equal(lf_sweep_run(&s, out, &ex, &rep, &err), LF_OK);
    assert_int_equal(rep.ok, 4);
    lf_sweep_report_free(&rep);
    lf_sweep_combine_report cr;
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_OK);
    char path[4200], line[512];
    snprintf(path, sizeof path, "%s/combined.csv", out);
    FILE *f = fopen(path, "r");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "run_id,cache_size,policy_name,policy,dram_fraction,hit_rate\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, ",16,belady,belady:capacity=16,1,0.5\n"));
    fclose(f);
    lf_sweep_free(&s);
}

static int is_hex8(const char *p)
{
    if (strlen(p) != 8)
        return 0;
    for (; *p; p++)
        if (!strchr("0123456789abcdef", *p))
            return 0;
    return 1;
}

static void test_run_ids(void **st)
{
    (void)st;
    lf_sweep s, s2, s3;
    load_ok("grid.conf", GRID, &s);
    char id[LF_SWEEP_ID_MAX], id2[LF_SWEEP_ID_MAX];
    lf_sweep_run_id(&s, 5, id);
    const char *readable = "policy=window-k=4-budget=0.5_dram-fraction=0.25_seed=3_";
    assert_memory_equal(id, readable, strlen(readable));
    assert_true(is_hex8(id + strlen(readable)));
    lf_sweep_run_id(&s, 0, id);
    assert_non_null(strstr(id, "_seed=none_"));
    for (size_t i = 0; i < s.n_runs; i++) /* all distinct */
        for (size_t j = i + 1; j < s.n_runs; j++) {
            lf_sweep_run_id(&s, i, id);
            lf_sweep_run_id(&s, j, id2);
            assert_string_not_equal(id, id2);
        }
    size_t idx = 99;
    lf_err err;
    lf_sweep_run_id(&s, 7, id);
    assert_int_equal(lf_sweep_find(&s, id, &idx, &err), LF_OK);
    assert_int_equal(idx, 7);
    assert_int_equal(lf_sweep_find(&s, "nope_12345678", &idx, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "no run with id 'nope_12345678'"));

    /* Adding a list item keeps the ids of the configurations already there (resume). */
    load_ok("grid2.conf",
            "mode = sim\ntrace = results/traces/a.h5\n"
            "policy = window:k=2 | window:k=4,budget=0.5 | lru | belady\n"
            "dram-fraction = 0.25|0.5\nablation =\nseed = (none) | 3\n",
            &s2);
    assert_int_equal(s2.n_runs, 16);
    for (size_t i = 0; i < s.n_runs; i++) {
        lf_sweep_run_id(&s, i, id);
        lf_sweep_run_id(&s2, i, id2); /* the new item is last: first 12 unchanged */
        assert_string_equal(id, id2);
    }
    /* Changing a constant changes every hash but not the readable part. */
    load_ok("grid3.conf",
            "mode = sim\ntrace = results/traces/b.h5\n"
            "policy = window:k=2 | window:k=4,budget=0.5 | lru\n"
            "dram-fraction = 0.25|0.5\nablation =\nseed = (none) | 3\n",
            &s3);
    for (size_t i = 0; i < s.n_runs; i++) {
        lf_sweep_run_id(&s, i, id);
        lf_sweep_run_id(&s3, i, id2);
        assert_string_not_equal(id, id2);
        assert_memory_equal(id, id2, strlen(id) - 8);
    }
    lf_sweep_free(&s);
    lf_sweep_free(&s2);
    lf_sweep_free(&s3);

    /* no list: run_<hash>; a path reduced to its last component */
    load_ok("c.conf", "mode = sim\ntrace = x/y.h5\n", &s);
    lf_sweep_run_id(&s, 0, id);
    assert_memory_equal(id, "run_", 4);
    assert_true(is_hex8(id + 4));
    lf_sweep_free(&s);
    load_ok("p.conf", "mode = sim\ntrace = a/b/opt.h5 | a/c/falcon 7b.h5\n", &s);
    lf_sweep_run_id(&s, 1, id);
    assert_memory_equal(id, "trace=falcon-7b.h5_", 19);
    lf_sweep_free(&s);
}

static void expect_error(const char *text, const char *needle)
{
    lf_sweep s;
    lf_err err;
    int rc = lf_sweep_load(write_sweep("bad.conf", text), &s, &err);
    assert_int_not_equal(rc, LF_OK);
    if (!strstr(err.msg, needle))
        fail_msg("for '%s' expected '%s' in: %s", text, needle, err.msg);
}

static void test_syntax_errors(void **st)
{
    (void)st;
    expect_error("mode = sim\npolicy = a | | b\n", "bad.conf:2: 'policy' has an empty list item");
    expect_error("mode = sim\npolicy = a |\n", "empty list item");
    expect_error("mode = sim\npolicy = | a\n", "empty list item");
    expect_error("policy = a\n", "missing 'mode = sim'");
    expect_error("mode = sim | run\n", "bad.conf:1: mode = 'sim | run' is not one of");
    expect_error("mode = simulate\n", "is not one of sim, run, validate");
    expect_error("mode = sim\nout = x\n", "'out' is set by the runner");
    expect_error("mode = sim\n--policy = a\n", "'--policy' is not an option name");
    expect_error("mode = sim\nDRAM = 1\n", "'DRAM' is not an option name");
    expect_error("mode = sim\npolicy = a | b | a\n", "lists 'a' twice");
    expect_error("mode = sim\ncollect = ../x.csv\n", "collect item '../x.csv'");
    expect_error("mode = sim\ncollect = summary.txt\n", "collect item");
    expect_error("mode = sim\npolicy = a\npolicy = b\n", "already set on line 2");
    expect_error("mode = sim\npolicy = lru:capacity={nope}\n",
                 "bad.conf:2: '{...}' in policy = lru:capacity={nope}: braces must name a variable");
    expect_error("mode = sim\npolicy = lru:capacity={x\n@x = 1\n", "'{' in policy");
    expect_error("mode = sim\n@x = 1\n@y = {x}\n", "a variable's values cannot refer");
    expect_error("mode = sim\n@policy = a\npolicy = b\n", "would share the column 'policy'");
    expect_error("mode = sim\n@Bad = 1\n", "'@Bad' is not a variable name");
    expect_error("mode = sim\nno equals\n", "bad.conf:2: expected 'key = value'");
    expect_error("mode = sim\na = 1|2|3|4|5|6|7|8|9|10\nb = 1|2|3|4|5|6|7|8|9|10\n"
                 "c = 1|2|3|4|5|6|7|8|9|10\nd = 1|2|3|4|5|6|7|8|9|10\n"
                 "e = 1|2|3|4|5|6|7|8|9|10\nf = 1|2|3|4|5|6|7|8|9|10\nh = 1|2\n",
                 "bad.conf:8: the grid exceeds 1000000 runs");
}

/* The fake command: "$@" = sim --policy P ... --out DIR. Appends a line to COUNT per
 * start; behaves by policy name. */
static const char *FAKE =
    "while [ $# -gt 0 ]; do case $1 in --policy) p=$2; shift;; --out) d=$2; shift;; esac; "
    "shift; done; echo \"$p\" >> \"$COUNT\"; "
    "case $p in "
    "bad) echo failing >&2; exit 3;; "
    "kill) printf 'total_ms\\n9\\n' > \"$d/summary.csv\"; kill -9 $$;; "
    "liar) : > \"$d/done\"; exit 1;; "
    "empty) exit 0;; "
    "wide*) printf 'y,z,policy\\n3,4,p\\n5,6,q\\n' > \"$d/summary.csv\"; "
    "printf 'token,total_ms\\n0,7\\n' > \"$d/tokens.csv\"; exit 0;; "
    "esac; printf 'x,y\\n1,%s\\n' \"$p\" > \"$d/summary.csv\"; "
    "printf 'token,total_ms\\n0,1\\n1,2\\n' > \"$d/tokens.csv\"";

static const char *const fake_prefix[] = {"/bin/sh", "-c", NULL, "sh", NULL};

static lf_sweep_exec fake_exec(unsigned jobs)
{
    static const char *p[5];
    memcpy(p, fake_prefix, sizeof p);
    p[2] = FAKE;
    lf_sweep_exec ex = {.prefix = p, .jobs = jobs, .only = -1, .progress = 0};
    return ex;
}

/* A sweep whose fake runs count themselves in a fresh COUNT file. */
static void fresh(const char *count, const char *conf, const char *text, lf_sweep *s)
{
    setenv("COUNT", lf_test_path(count), 1);
    unlink(lf_test_path(count));
    load_ok(conf, text, s);
}

static void run_ok(const lf_sweep *s, const char *out, unsigned jobs, lf_sweep_report *rep)
{
    lf_err err;
    lf_sweep_exec ex = fake_exec(jobs);
    int rc = lf_sweep_run(s, out, &ex, rep, &err);
    if (rc != LF_OK)
        fail_msg("%s", err.msg);
}

static void test_resume(void **st)
{
    (void)st;
    lf_sweep s;
    fresh("count_resume", "r.conf", "mode = sim\npolicy = a | b\nthreads = 1 | 2\n", &s);
    TPATH(out, "res_resume");
    lf_sweep_report rep;
    run_ok(&s, out, 2, &rep);
    assert_int_equal(rep.total, 4);
    assert_int_equal(rep.ok, 4);
    assert_int_equal(rep.failed, 0);
    assert_int_equal(rep.skipped, 0);
    lf_sweep_report_free(&rep);
    assert_int_equal(count_lines(lf_test_path("count_resume")), 4);
    for (size_t i = 0; i < 4; i++)
        assert_true(lf_sweep_is_done(&s, i, out));

    run_ok(&s, out, 2, &rep); /* everything done: nothing runs */
    assert_int_equal(rep.skipped, 4);
    assert_int_equal(rep.ok, 0);
    lf_sweep_report_free(&rep);
    assert_int_equal(count_lines(lf_test_path("count_resume")), 4);

    char dir[4096], p[4200];
    lf_sweep_run_dir(&s, 2, out, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/done", dir);
    assert_int_equal(unlink(p), 0);
    run_ok(&s, out, 1, &rep); /* just the run without its marker */
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.skipped, 3);
    assert_int_equal(rep.state[2], LF_RUN_OK);
    lf_sweep_report_free(&rep);
    assert_int_equal(count_lines(lf_test_path("count_resume")), 5);
    snprintf(p, sizeof p, "%s/sweep.cmd", dir);
    char *cmd = lf_test_slurp(p);
    assert_non_null(strstr(cmd, " sim --policy b --threads 1 --out "));
    free(cmd);

    lf_sweep_exec only = fake_exec(1); /* --only: one configuration, as a cluster job */
    only.only = 3;
    lf_sweep_run_dir(&s, 3, out, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/done", dir);
    unlink(p);
    lf_err err;
    assert_int_equal(lf_sweep_run(&s, out, &only, &rep, &err), LF_OK);
    assert_int_equal(rep.total, 1);
    assert_int_equal(rep.ok, 1);
    lf_sweep_report_free(&rep);
    assert_int_equal(count_lines(lf_test_path("count_resume")), 6);
    lf_sweep_free(&s);
}

static void test_failures_leave_nothing_complete(void **st)
{
    (void)st;
    lf_sweep s;
    fresh("count_fail", "f.conf", "mode = sim\npolicy = good | bad | kill | liar | empty\n", &s);
    TPATH(out, "res_fail");
    lf_sweep_report rep;
    run_ok(&s, out, 3, &rep);
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.failed, 4);
    assert_int_equal(rep.state[0], LF_RUN_OK);
    assert_int_equal(rep.exit_code[1], 3);
    assert_int_equal(rep.exit_code[2], 128 + 9); /* killed mid-run */
    assert_int_equal(rep.exit_code[3], 1);
    assert_int_equal(rep.exit_code[4], 0);      /* exit 0 but no summary.csv */
    assert_int_equal(rep.state[4], LF_RUN_FAILED);
    lf_sweep_report_free(&rep);
    assert_true(lf_sweep_is_done(&s, 0, out));
    for (size_t i = 1; i < 5; i++) /* the killed run wrote summary.csv, but no marker */
        assert_false(lf_sweep_is_done(&s, i, out));
    char dir[4096], p[4200];
    lf_sweep_run_dir(&s, 1, out, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/sweep.log", dir);
    char *log = lf_test_slurp(p);
    assert_non_null(strstr(log, "failing"));
    assert_non_null(strstr(log, "exit status 3"));
    free(log);

    lf_sweep_combine_report cr;
    lf_err err;
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_OK);
    assert_int_equal(cr.done, 1);
    assert_int_equal(cr.missing, 4);
    assert_int_equal(cr.rows, 1);
    char id[LF_SWEEP_ID_MAX];
    lf_sweep_run_id(&s, 1, id);
    assert_string_equal(cr.first_missing, id);
    snprintf(p, sizeof p, "%s/combined.csv", out);
    char *comb = lf_test_slurp(p);
    assert_null(strstr(comb, "kill"));
    free(comb);
    lf_sweep_free(&s);

    /* Rerun once fixed: only the four unfinished runs start again. */
    load_ok("f2.conf", "mode = sim\npolicy = good | bad | kill | liar | empty\n", &s);
    unlink(lf_test_path("count_fail"));
    const char *fixed[] = {"/bin/sh", "-c",
                           "for a; do d=$a; done; echo x >> \"$COUNT\"; "
                           "printf 'x,y\\n1,2\\n' > \"$d/summary.csv\"",
                           "sh", NULL};
    lf_sweep_exec ex = {.prefix = fixed, .jobs = 2, .only = -1};
    assert_int_equal(lf_sweep_run(&s, out, &ex, &rep, &err), LF_OK);
    assert_int_equal(rep.ok, 4);
    assert_int_equal(rep.skipped, 1);
    lf_sweep_report_free(&rep);
    assert_int_equal(count_lines(lf_test_path("count_fail")), 4);
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_OK);
    assert_int_equal(cr.rows, 5);
    lf_sweep_free(&s);
}

static void test_combine_columns(void **st)
{
    (void)st;
    lf_sweep s;
    fresh("count_comb", "c.conf",
            "mode = sim\npolicy = a | wide:k=1,m=2\nlayout = bundled\n"
            "collect = summary.csv | tokens.csv\n",
            &s);
    TPATH(out, "res_comb");
    lf_sweep_report rep;
    run_ok(&s, out, 2, &rep);
    assert_int_equal(rep.ok, 2);
    lf_sweep_report_free(&rep);
    lf_sweep_combine_report cr;
    lf_err err;
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_OK);
    assert_int_equal(cr.rows, 3);
    char ida[LF_SWEEP_ID_MAX], idb[LF_SWEEP_ID_MAX], want[2048], p[4200];
    lf_sweep_run_id(&s, 0, ida);
    lf_sweep_run_id(&s, 1, idb);
    snprintf(want, sizeof want,
             "run_id,layout,x,y,z,policy\n"
             "%s,bundled,1,a,,\n"
             "%s,bundled,,3,4,p\n"
             "%s,bundled,,5,6,q\n",
             ida, idb, idb);
    snprintf(p, sizeof p, "%s/combined.csv", out);
    char *got = lf_test_slurp(p);
    assert_string_equal(got, want);
    free(got);
    snprintf(p, sizeof p, "%s/combined-tokens.csv", out);
    assert_int_equal(count_lines(p), 4);
    lf_sweep_free(&s);

    /* Now only summary.csv is collected; a ragged row is refused and the old table stays. */
    load_ok("c2.conf", "mode = sim\npolicy = a | wide:k=1,m=2\nlayout = bundled\n", &s);
    char dir[4096], sp[4200];
    lf_sweep_run_dir(&s, 1, out, dir, sizeof dir);
    snprintf(sp, sizeof sp, "%s/summary.csv", dir);
    FILE *f = fopen(sp, "a");
    fputs("7\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/combined.csv", out);
    char *before = lf_test_slurp(p);
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "summary.csv:4: 1 fields where the header has 3"));
    char *after = lf_test_slurp(p);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* A done run whose result vanished is an error that says how to fix it. */
    unlink(sp);
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_EIO);
    assert_non_null(strstr(err.msg, "delete its done marker and rerun"));
    lf_sweep_free(&s);
}

/* One column per key (the run's own dram_fraction is the key's column), no column for a
 * bare flag, a value with commas CSV-quoted, whole numbers in exponent form written as
 * integers. */
static void test_combine_keys_and_numbers(void **st)
{
    (void)st;
    lf_sweep s;
    load_ok("kn.conf",
            "mode = sim\nablation =\npolicy = lru | window:k=4,budget=0.5\n"
            "dram-fraction = 0.5\n",
            &s);
    static const char *p[5];
    memcpy(p, (const char *[]){"/bin/sh", "-c",
                               "for a; do d=$a; done; printf 'dram_fraction,bytes,ratio\\n"
                               "0.500000,6.03979776e+09,1.5e-3\\n' > \"$d/summary.csv\"",
                               "sh", NULL},
           sizeof p);
    lf_sweep_exec ex = {.prefix = p, .jobs = 2, .only = -1};
    lf_sweep_report rep;
    lf_err err;
    TPATH(out, "res_kn");
    assert_int_equal(lf_sweep_run(&s, out, &ex, &rep, &err), LF_OK);
    assert_int_equal(rep.ok, 2);
    lf_sweep_report_free(&rep);
    lf_sweep_combine_report cr;
    assert_int_equal(lf_sweep_combine(&s, out, &cr, &err), LF_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/combined.csv", out);
    char *got = lf_test_slurp(path);
    char ida[LF_SWEEP_ID_MAX], idb[LF_SWEEP_ID_MAX], want[1024];
    lf_sweep_run_id(&s, 0, ida);
    lf_sweep_run_id(&s, 1, idb);
    snprintf(want, sizeof want,
             "run_id,policy,dram_fraction,bytes,ratio\n%s,lru,0.500000,6039797760,1.5e-3\n"
             "%s,\"window:k=4,budget=0.5\",0.500000,6039797760,1.5e-3\n",
             ida, idb);
    assert_string_equal(got, want);
    free(got);
    lf_sweep_free(&s);
}

static void test_emit(void **st)
{
    (void)st;
    lf_sweep s;
    load_ok("grid.conf", GRID, &s);
    TPATH(out, "res_emit");
    char copy[4200];
    lf_err err;
    int replaced = -1;
    assert_int_equal(lf_sweep_save_copy(&s, out, copy, sizeof copy, &replaced, &err), LF_OK);
    assert_int_equal(replaced, 0); /* a new folder */
    assert_int_equal(lf_sweep_save_copy(&s, out, copy, sizeof copy, &replaced, &err), LF_OK);
    assert_int_equal(replaced, 0); /* the same file again: a resume */
    lf_sweep other;
    char edited[2048];
    snprintf(edited, sizeof edited, "%s# edited\n", GRID);
    load_ok("other.conf", edited, &other);
    assert_int_equal(lf_sweep_save_copy(&other, out, copy, sizeof copy, &replaced, &err), LF_OK);
    assert_int_equal(replaced, 1); /* another file's copy was there */
    lf_sweep_free(&other);
    assert_int_equal(lf_sweep_save_copy(&s, out, copy, sizeof copy, NULL, &err), LF_OK);
    TPATH(jobs, "jobs.txt");
    TPATH(slurm, "run.sbatch");
    assert_int_equal(lf_sweep_emit_jobs(&s, "/opt/bin/llmflash", "/home/x y", copy, out, jobs, &err),
                     LF_OK);
    assert_int_equal(count_lines(jobs), 12);
    char *text = lf_test_slurp(jobs);
    char id[LF_SWEEP_ID_MAX], want[8192];
    lf_sweep_run_id(&s, 11, id);
    snprintf(want, sizeof want, "cd '/home/x y' && /opt/bin/llmflash sweep %s --out %s --only %s\n",
             copy, out, id);
    assert_non_null(strstr(text, want));
    free(text);
    lf_sweep_slurm so = {.cwd = "/home/x y", .out_dir = out, .jobs_path = jobs,
                         .exe = "/opt/bin/llmflash", .sweep_copy = copy};
    assert_int_equal(lf_sweep_emit_slurm(&s, &so, slurm, &err), LF_OK);
    text = lf_test_slurp(slurm);
    assert_non_null(strstr(text, "#SBATCH --array=0-11\n"));
    assert_non_null(strstr(text, "SLURM_ARRAY_TASK_ID * per + 1"));
    assert_non_null(strstr(text, jobs));
    free(text);
    char *a = lf_test_slurp(copy), *b = lf_test_slurp(lf_test_path("grid.conf"));
    assert_string_equal(a, b);
    free(a);
    free(b);
    lf_sweep_free(&s);
}

static void test_cli(void **st)
{
    (void)st;
    char *o, *e;
    assert_int_equal(lf_test_run(&o, NULL, "sweep --help"), 0);
    assert_non_null(strstr(o, "usage: llmflash sweep"));
    free(o);
    assert_int_equal(lf_test_run(NULL, &e, "sweep --bogus"), 2);
    assert_non_null(strstr(e, "--bogus"));
    free(e);
    assert_int_equal(lf_test_run(NULL, &e, "sweep --out x"), 2);
    assert_non_null(strstr(e, "missing the sweep file"));
    free(e);
    assert_int_equal(lf_test_run(NULL, &e, "sweep %s/nope.conf --out x", lf_test_dir()), 1);
    assert_non_null(strstr(e, "nope.conf: cannot open"));
    free(e);

    setenv("COUNT", lf_test_path("count_cli"), 1);
    setenv("LLMFLASH_SWEEP_CMD", FAKE, 1);
    char conf[1200];
    snprintf(conf, sizeof conf, "%s", write_sweep("cli.conf", "mode = sim\npolicy = a | bad\n"));
    TPATH(out, "res_cli");
    assert_int_equal(lf_test_run(&o, NULL, "sweep %s --out %s --dry-run", conf, out), 0);
    assert_non_null(strstr(o, "todo policy=a_"));
    assert_non_null(strstr(o, "2 runs, 0 done, 2 to run"));
    free(o);
    assert_false(lf_file_exists(out)); /* a dry run writes nothing */
    assert_int_equal(lf_test_run(&o, &e, "sweep %s --out %s -j 2", conf, out), 1);
    assert_non_null(strstr(o, "1 ran ok, 1 failed, 0 skipped"));
    assert_non_null(strstr(o, "combined.csv (1 rows from 1 of 2 runs; 1 not done"));
    assert_non_null(strstr(e, "run failed (exit 3)"));
    free(o);
    free(e);
    write_sweep("cli.conf", "mode = sim\npolicy = a | b\n");
    assert_int_equal(lf_test_run(&o, NULL, "sweep %s --out %s", conf, out), 0);
    assert_non_null(strstr(o, "1 ran ok, 0 failed, 1 skipped"));
    free(o);
    char p[4200];
    snprintf(p, sizeof p, "%s/combined.csv", out);
    unlink(p);
    assert_int_equal(lf_test_run(&o, NULL, "sweep --combine %s", out), 0);
    assert_non_null(strstr(o, "2 rows from 2 of 2 runs"));
    free(o);
    assert_int_equal(count_lines(p), 3);
    assert_int_equal(lf_test_run(NULL, &e, "sweep --combine %s/nothing", lf_test_dir()), 1);
    assert_non_null(strstr(e, "nothing: no sweep.conf"));
    free(e);
    assert_int_equal(lf_test_run(&o, NULL, "sweep %s --out %s --emit-slurm %s/s.sbatch", conf, out,
                                 out),
                     0);
    assert_non_null(strstr(o, "2 jobs"));
    free(o);
    snprintf(p, sizeof p, "%s/jobs.txt", out);
    assert_int_equal(count_lines(p), 2);
    /* the script and its job list as one file; a bad #SBATCH item: refused, nothing written */
    char out2[4200];
    snprintf(out2, sizeof out2, "%s2", out);
    lf_test_expect(2, "name the same file", "sweep %s --out %s --emit-slurm %s/j --emit-jobs %s/j",
                   conf, out2, out2, out2);
    lf_test_expect(2, "name the same file", "sweep %s --out %s --emit-slurm %s/jobs.txt", conf,
                   out2, out2);
    lf_test_expect(1, "the array is computed from the grid", "sweep %s --out %s --emit-slurm "
                   "%s/s.sbatch --sbatch array=0-3", conf, out2, out2);
    assert_false(lf_file_exists(out2));
    unsetenv("LLMFLASH_SWEEP_CMD");
}

/* A real sweep through `llmflash sim`, when this build has it. */
static void test_sim_sweep(void **st)
{
    (void)st;
    char *o;
    lf_test_run(&o, NULL, "--help");
    int missing = !o || !strstr(o, "sim ") || strstr(o, "replay a trace against a device profile (predict) [not");
    int nosynth = !o || strstr(o, "synthesise a neuron or expert trace (HDF5) [not");
    free(o);
    if (missing || nosynth || !lf_file_exists("costmodel/devices/m1max.conf")) {
        printf("SKIP: llmflash sim, trace synth or costmodel/devices/m1max.conf not in this build\n");
        skip();
    }
    TPATH(trace, "tiny.h5");
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model opt-1.3b --tokens 16 --seed 1 -o %s",
                                 trace),
                     0);
    char text[2048];
    snprintf(text, sizeof text,
             "mode = sim\ntrace = %s\ndevice = costmodel/devices/m1max.conf\n"
             "policy = sparse | window:k=2\nlayout = bundled\ndram-fraction = 0.5\n",
             trace);
    char conf[1200];
    snprintf(conf, sizeof conf, "%s", write_sweep("sim.conf", text));
    TPATH(out, "res_sim");
    char *e;
    int rc = lf_test_run(&o, &e, "sweep %s --out %s --jobs 2", conf, out);
    if (rc != 0)
        fail_msg("sweep failed: %s %s", o, e);
    free(o);
    free(e);
    char p[4200];
    snprintf(p, sizeof p, "%s/combined.csv", out);
    assert_int_equal(count_lines(p), 3);
    char *c = lf_test_slurp(p);
    assert_non_null(strstr(c, "total_ms"));
    free(c);
    rc = lf_test_run(&o, NULL, "sweep %s --out %s --jobs 2", conf, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "0 ran ok, 0 failed, 2 skipped"));
    free(o);
    /* a run without its marker is run again, the other skipped */
    lf_sweep s;
    lf_err err;
    assert_int_equal(lf_sweep_load(conf, &s, &err), LF_OK);
    char dir[4096];
    lf_sweep_run_dir(&s, 1, out, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/done", dir);
    assert_int_equal(unlink(p), 0);
    lf_sweep_free(&s);
    rc = lf_test_run(&o, NULL, "sweep %s --out %s --jobs 2", conf, out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(o, "1 ran ok, 0 failed, 1 skipped"));
    free(o);
    assert_true(lf_file_exists(p));
}

/* `sweep` runs sim configurations in worker processes that keep the trace: each run
 * still gets the folder a lone `llmflash sim` writes (same summary.csv bytes), and a
 * run that fails (a cache too small) fails alone, with its error in its sweep.log. */
static void test_sim_sweep_workers(void **st)
{
    (void)st;
    if (!lf_file_exists("costmodel/devices/m1max.conf")) {
        printf("SKIP: costmodel/devices/m1max.conf not here\n");
        skip();
    }
    TPATH(trace, "tiny_w.h5");
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model opt-1.3b --tokens 12 --seed 3 -o %s",
                                 trace),
                     0);
    char text[2048];
    snprintf(text, sizeof text,
             "mode = sim\ntrace = %s\ndevice = costmodel/devices/m1max.conf\n"
             "policy = lru | lru:capacity=1 | lfu | belady | window:k=2\ndram-fraction = 0.5 | 0.6\n"
             "quiet =\n",
             trace);
    char conf[1200];
    snprintf(conf, sizeof conf, "%s", write_sweep("workers.conf", text));
    TPATH(out, "res_workers");
    char *o, *e;
    int rc = lf_test_run(&o, &e, "sweep %s --out %s --jobs 2", conf, out);
    assert_int_equal(rc, 1); /* the two capacity=1 runs fail */
    assert_non_null(strstr(o, "8 ran ok, 2 failed, 0 skipped"));
    free(o);
    free(e);
    lf_sweep s;
    lf_err err;
    assert_int_equal(lf_sweep_load(conf, &s, &err), LF_OK);
    for (size_t i = 0; i < s.n_runs; i++) {
        char dir[4096], p[4200], alone[4200];
        lf_sweep_run_dir(&s, i, out, dir, sizeof dir);
        const char *vals[8];
        lf_sweep_values(&s, i, vals);
        const char *policy = vals[2], *frac = vals[3];
        snprintf(p, sizeof p, "%s/done", dir);
        if (strstr(policy, "capacity=1")) {
            assert_false(lf_file_exists(p));
            snprintf(p, sizeof p, "%s/sweep.log", dir);
            char *log = lf_test_slurp(p);
            assert_non_null(strstr(log, "cannot fit the budget"));
            free(log);
            continue;
        }
        assert_true(lf_file_exists(p));
        snprintf(alone, sizeof alone, "%s/alone_%zu", out, i);
        assert_int_equal(lf_test_run(NULL, NULL,
                                     "sim --trace %s --device costmodel/devices/m1max.conf "
                                     "--policy %s --dram-fraction %s --quiet --out %s",
                                     trace, policy, frac, alone),
                         0);
        const char *files[] = {"summary.csv", "tokens.csv", "config.conf"};
        for (size_t f = 0; f < 3; f++) {
            snprintf(p, sizeof p, "%s/%s", dir, files[f]);
            char *a = lf_test_slurp(p);
            snprintf(p, sizeof p, "%s/%s", alone, files[f]);
            char *b = lf_test_slurp(p);
            assert_non_null(a);
            assert_non_null(b);
            assert_string_equal(a, b);
            free(a);
            free(b);
        }
    }
    lf_sweep_free(&s);
}

/* Every figure script renders its fixture (tests/fixtures/plots) to a non-empty PNG. */
static void test_plots(void **st)
{
    (void)st;
    if (system("gnuplot --version >/dev/null 2>&1") != 0) {
        printf("SKIP: gnuplot not installed (scripts/deps.sh installs gnuplot-nox)\n");
        skip();
    }
    glob_t g;
    assert_int_equal(glob("plots/*.gp", 0, NULL, &g), 0);
    int figures = 0;
    char out[1200];
    snprintf(out, sizeof out, "%s", lf_test_path("figs"));
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        const char *base = strrchr(path, '/') + 1;
        if (!strcmp(base, "lib.gp") || !strcmp(base, "need.gp"))
            continue;
        char cmd[4096], png[4200];
        snprintf(cmd, sizeof cmd,
                 "gnuplot -e \"res='tests/fixtures/plots'; out='%s'\" %s > %s/gp.log 2>&1", out,
                 path, lf_test_dir());
        int rc = system(cmd);
        char *log = lf_test_slurp(lf_test_path("gp.log"));
        if (rc != 0)
            fail_msg("%s failed: %s", path, log ? log : "");
        free(log);
        snprintf(png, sizeof png, "%s/%.*s.png", out, (int)(strlen(base) - 3), base);
        struct stat sb;
        assert_int_equal(stat(png, &sb), 0);
        assert_true(sb.st_size > 2000);
        FILE *f = fopen(png, "rb");
        unsigned char magic[4] = {0};
        assert_int_equal(fread(magic, 1, 4, f), 4);
        fclose(f);
        assert_memory_equal(magic, "\x89PNG", 4);
        figures++;
    }
    globfree(&g);
    assert_int_equal(figures, 8);
    /* A missing input stops a figure with a message that names it. */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "gnuplot -e \"res='%s/empty'; out='%s'\" plots/fig7_dram.gp > %s/gp.log 2>&1",
             lf_test_dir(), out, lf_test_dir());
    assert_int_not_equal(system(cmd), 0);
    char *log = lf_test_slurp(lf_test_path("gp.log"));
    assert_non_null(strstr(log, "empty/fig7/combined.csv is missing or empty"));
    free(log);
}

/* Validate's grid files go through the sweep's list parser: same expansion (last key
 * fastest), same list errors, keys checked against the valid list. */
static void test_grid_file(void **st)
{
    (void)st;
    static const char *const valid[] = {"policy", "dram_fraction", "threads", NULL};
    lf_sweep g;
    lf_err err;
    const char *p = write_sweep("vgrid.conf", "policy = lru | window:k=2,capacity=8\n"
                                              "dram_fraction = 0.25 | 0.5 | 1\n");
    assert_int_equal(lf_sweep_load_grid(p, valid, &g, &err), LF_OK);
    assert_int_equal(g.n_runs, 6);
    assert_string_equal(lf_sweep_get(&g, 0, "policy"), "lru");
    assert_string_equal(lf_sweep_get(&g, 4, "policy"), "window:k=2,capacity=8");
    assert_string_equal(lf_sweep_get(&g, 4, "dram_fraction"), "0.5");
    assert_null(lf_sweep_get(&g, 4, "threads"));
    lf_sweep_free(&g);
    p = write_sweep("vgrid2.conf", "polcy = lru\n");
    assert_int_equal(lf_sweep_load_grid(p, valid, &g, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown key 'polcy'"));
    assert_non_null(strstr(err.msg, "dram_fraction"));
    p = write_sweep("vgrid3.conf", "threads = 4 | | 8\n");
    assert_int_equal(lf_sweep_load_grid(p, valid, &g, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "vgrid3.conf:1"));
    assert_non_null(strstr(err.msg, "empty list item"));
    p = write_sweep("vgrid4.conf", "threads = 4 | 4\n");
    assert_int_equal(lf_sweep_load_grid(p, valid, &g, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "twice"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_expansion),
        cmocka_unit_test(test_grid_file),
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_run_ids),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_failures_leave_nothing_complete),
        cmocka_unit_test(test_combine_columns),
        cmocka_unit_test(test_combine_keys_and_numbers),
        cmocka_unit_test(test_emit),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_sim_sweep),
        cmocka_unit_test(test_sim_sweep_workers),
        cmocka_unit_test(test_plots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
