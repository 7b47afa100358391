/* Hostile inputs and outputs (issue 14): outputs over inputs, temporaries (planted names,
 * signals, stale ones), unbounded and non-regular files, NUL bytes and long lines,
 * bad numbers in every parser, CLI values that used to be taken silently, and the
 * fuzz harnesses' smoke. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lf_test.h"

#include "lf_device.h"
#include "lf_fit.h"
#include "lf_fs.h"
#include "lf_import.h"
#include "lf_kv.h"
#include "lf_llama.h"
#include "lf_results.h"
#include "lf_tok.h"
#include "lf_weights.h"
#include "lf_weights_impl.h"

#include <gsl/gsl_rng.h>

/* Files in dir whose name starts with prefix. */
static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A pid that is certainly not running: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

/* A tiny legacy llama2.c checkpoint (dim 8, 1 layer, vocab 8); nan_at >= 0 puts a NaN
 * weight there. */
static void write_ckpt(const char *path, long nan_at)
{
    int32_t h[7] = {8, 16, 1, 2, 2, 8, 4};
    size_t n = 8 * 8 + (2 * 8 + 2 * 64 + 2 * 64 + 3 * 8 * 16) + 8 + 4 * 4;
    float *w = malloc(n * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((int)(i * 37 % 101) - 50) / 100.0f;
    if (nan_at >= 0)
        w[nan_at] = NAN;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(h, sizeof h, 1, f), 1);
    assert_int_equal(fwrite(w, sizeof *w, n, f), n);
    fclose(f);
    free(w);
}

/* ---- outputs over inputs ---- */

static void test_same_file_by_inode(void **state)
{
    (void)state;
    char a[4200], b[4200], c[4200];
    snprintf(a, sizeof a, "%s", lf_test_path("same_a.txt"));
    snprintf(b, sizeof b, "%s", lf_test_path("same_b_link.txt"));
    snprintf(c, sizeof c, "%s", lf_test_path("same_c_sym.txt"));
    lf_test_write(a, "x\n", 2);
    unlink(b);
    unlink(c);
    assert_int_equal(link(a, b), 0);
    assert_int_equal(symlink("same_a.txt", c), 0); /* relative to its folder */
    lf_err err;
    const char *in[] = {a, NULL};
    assert_int_equal(lf_fs_refuse_same(b, in, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "same file"));
    assert_int_equal(lf_fs_refuse_same(c, in, &err), LF_EINVAL);
    /* another file, or one not made yet, is fine */
    assert_int_equal(lf_fs_refuse_same(lf_test_path("same_new.txt"), in, &err), LF_OK);
    lf_test_write(lf_test_path("same_d.txt"), "x\n", 2);
    assert_int_equal(lf_fs_refuse_same(lf_test_path("same_d.txt"), in, &err), LF_OK);
}

/* Each command refuses its output over one of its inputs, exit 1, input untouched. */
static void test_cli_output_over_input(void **state)
{
    (void)state;
    char ck[4200], js[4200], csv[4200], tok[4200];
    snprintf(ck, sizeof ck, "%s", lf_test_path("oo_ckpt.bin"));
    snprintf(js, sizeof js, "%s", lf_test_path("oo_log.jsonl"));
    snprintf(csv, sizeof csv, "%s", lf_test_path("oo_probe.csv"));
    snprintf(tok, sizeof tok, "%s", lf_test_path("oo_tok.bin"));
    write_ckpt(ck, -1);
    const char *log = "{\"type\":\"meta\",\"top_k\":2,\"num_experts\":8}\n"
                      "{\"type\":\"route\",\"topk_ids\":[1,2]}\n";
    lf_test_write(js, log, strlen(log));
    const char *probe = "engine,chunk,threads,mb_s\npsync,4096,1,10\npsync,65536,1,100\n"
                        "psync,4096,8,70\npsync,65536,8,600\npsync,1048576,8,900\n";
    lf_test_write(csv, probe, strlen(probe));
    lf_test_write(tok, "\x08\0\0\0", 4);
    char *sum_ck = lf_test_slurp(js);
    struct {
        const char *cmd;
        const char *victim;
    } cases[] = {
        {"weights make --checkpoint %s --file %s", ck},
        {"trace import %s -o %s", js},
        {"fit %s -o %s", csv},
        {"trace record --checkpoint %s --tokenizer %s --steps 2 --threshold 0 -o %s", ck},
    };
    struct stat before, after;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(stat(cases[i].victim, &before), 0);
        char *e = NULL;
        int rc;
        if (i == 3)
            rc = lf_test_run(NULL, &e, "trace record --checkpoint %s --tokenizer %s --steps 2 "
                             "--threshold 0 -o %s", ck, tok, tok);
        else
            rc = lf_test_run(NULL, &e, cases[i].cmd, cases[i].victim, cases[i].victim);
        assert_int_equal(rc, 1);
        assert_non_null(e);
        assert_non_null(strstr(e, "same file"));
        free(e);
        const char *v = i == 3 ? tok : cases[i].victim;
        assert_int_equal(stat(v, &after), 0);
        if (i != 3)
            assert_int_equal(after.st_size, before.st_size);
        assert_int_equal(after.st_ino, i == 3 ? after.st_ino : before.st_ino);
    }
    /* trace stats --csv onto the trace, through another name (a hard link) */
    char tr[4200], tr2[4200];
    snprintf(tr, sizeof tr, "%s", lf_test_path("oo_trace.h5"));
    snprintf(tr2, sizeof tr2, "%s", lf_test_path("oo_trace_link.h5"));
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model custom:1,8,16 --tokens 20 -o %s",
                                 tr), 0);
    unlink(tr2);
    assert_int_equal(link(tr, tr2), 0);
    char *e = NULL;
    assert_int_equal(lf_test_run(NULL, &e, "trace stats %s --csv %s", tr, tr2), 1);
    assert_non_null(strstr(e, "same file"));
    free(e);
    char *now = lf_test_slurp(js);
    assert_string_equal(now, sum_ck);
    free(now);
    free(sum_ck);
}

/* ---- temporaries ---- */

/* A symlink planted at the old predictable temporary name is never followed. */
static void test_tmp_planted_symlink(void **state)
{
    (void)state;
    char out[4200], victim[4200], plant[4300];
    snprintf(out, sizeof out, "%s", lf_test_path("plant_out.txt"));
    snprintf(victim, sizeof victim, "%s", lf_test_path("plant_victim.txt"));
    lf_test_write(victim, "precious\n", 9);
    /* every name an attacker can guess: the bare pid, and the pid with suffixes */
    snprintf(plant, sizeof plant, "%s.tmp.%ld", out, (long)getpid());
    unlink(plant);
    assert_int_equal(symlink("plant_victim.txt", plant), 0); /* relative to its folder */
    lf_err err;
    assert_int_equal(lf_write_file_atomic(out, "new\n", 4, &err), LF_OK);
    char *v = lf_test_slurp(victim);
    assert_string_equal(v, "precious\n");
    free(v);
    char *o = lf_test_slurp(out);
    assert_string_equal(o, "new\n");
    free(o);
    unlink(plant);
}

/* A temporary of a dead process is removed when the same output is made again; one of
 * a live process, or of another output, is left alone. */
static void test_tmp_stale_cleanup(void **state)
{
    (void)state;
    char out[4200], stale[4300], stale2[4300], live[4300], other[4300];
    snprintf(out, sizeof out, "%s", lf_test_path("stale_out.bin"));
    pid_t dead = dead_pid();
    snprintf(stale, sizeof stale, "%s.tmp.%ld", out, (long)dead);
    snprintf(stale2, sizeof stale2, "%s.tmp.%ld.Ab12Cd", out, (long)dead);
    snprintf(live, sizeof live, "%s.tmp.%ld.Zz99Yy", out, (long)getppid());
    snprintf(other, sizeof other, "%s.tmp.%ld", lf_test_path("stale_other.bin"), (long)dead);
    lf_test_write(stale, "half", 4);
    lf_test_write(stale2, "half", 4);
    lf_test_write(live, "busy", 4);
    lf_test_write(other, "half", 4);
    lf_err err;
    assert_int_equal(lf_write_file_atomic(out, "whole\n", 6, &err), LF_OK);
    assert_false(lf_file_exists(stale));
    assert_false(lf_file_exists(stale2));
    assert_true(lf_file_exists(live));
    assert_true(lf_file_exists(other));
    unlink(live);
    unlink(other);
}

/* SIGTERM and SIGINT remove a live temporary (and the process still dies of it). */
static void test_tmp_removed_on_signal(void **state)
{
    (void)state;
    const int sigs[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        char out[4200];
        snprintf(out, sizeof out, "%s", lf_test_path(k ? "sig_int.bin" : "sig_term.bin"));
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t p = fork();
        assert_true(p >= 0);
        if (p == 0) {
            close(pfd[0]);
            /* as a foreground process gets them: a background job of a non-interactive
             * shell starts with SIGINT ignored, and an ignored signal stays ignored
             * (tested below), so the child would wait forever */
            signal(sigs[k], SIG_DFL);
            lf_fs_remove_on_signals();
            char tmp[4300];
            int fd;
            lf_err err;
            if (lf_tmp_create(out, tmp, sizeof tmp, &fd, &err) != LF_OK)
                _exit(3);
            if (write(fd, "partial", 7) != 7 || write(pfd[1], "r", 1) != 1)
                _exit(4);
            for (;;)
                pause();
        }
        close(pfd[1]);
        char c;
        assert_int_equal(read(pfd[0], &c, 1), 1);
        close(pfd[0]);
        char base[256];
        snprintf(base, sizeof base, "%s.tmp.", k ? "sig_int.bin" : "sig_term.bin");
        assert_int_equal(count_prefix(lf_test_dir(), base), 1);
        kill(p, sigs[k]);
        int st;
        waitpid(p, &st, 0);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), sigs[k]);
        assert_int_equal(count_prefix(lf_test_dir(), base), 0);
    }
    /* a signal the parent ignores (nohup, a background job) stays ignored: the process
     * lives on, and dies only of what it does not ignore */
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        signal(SIGHUP, SIG_IGN);
        lf_fs_remove_on_signals();
        struct sigaction now;
        sigaction(SIGHUP, NULL, &now);
        _exit(now.sa_handler == SIG_IGN ? 0 : 5);
    }
    int st;
    waitpid(p, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- unbounded and non-regular inputs ---- */

static void test_non_regular_refused(void **state)
{
    (void)state;
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s", lf_test_path("a_fifo"));
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *paths[] = {"/dev/zero", fifo};
    for (int i = 0; i < 2; i++) {
        lf_err err;
        char *d;
        size_t n;
        assert_int_equal(lf_read_file(paths[i], &d, &n, &err), LF_EINVAL);
        assert_non_null(strstr(err.msg, "not a regular file"));
        lf_kv kv;
        assert_int_not_equal(lf_kv_parse_file(paths[i], &kv, &err), LF_OK);
        lf_device dev;
        assert_int_not_equal(lf_device_load(paths[i], &dev, &err), LF_OK);
        lf_tok t;
        assert_int_not_equal(lf_tok_load(&t, paths[i], 512, &err), LF_OK);
        lf_fit_point *pts;
        assert_int_not_equal(lf_fit_read_probe(paths[i], NULL, &pts, &n, &err), LF_OK);
        lf_import_opts o = {0};
        lf_trace t2;
        const char *files[] = {paths[i]};
        assert_int_not_equal(lf_import_vllm_moe(files, 1, &o, &t2, NULL, NULL, 0, &err), LF_OK);
        lf_weights w;
        assert_int_not_equal(lf_weights_open(paths[i], &w, &err), LF_OK);
        lf_llama_config cfg;
        assert_int_not_equal(lf_llama_read_config(paths[i], &cfg, &err), LF_OK);
    }
    /* the binary too, as a device profile and as a sweep file: an error, not a hang */
    char *e = NULL;
    assert_int_equal(lf_test_run(NULL, &e, "sweep /dev/zero --out %s", lf_test_path("sw")), 1);
    assert_non_null(strstr(e, "not a regular file"));
    free(e);
    e = NULL;
    assert_int_equal(lf_test_run(NULL, &e, "sim --trace x.h5 --device %s", fifo), 1);
    assert_non_null(strstr(e, "not a regular file"));
    free(e);
    unlink(fifo);
}

static void test_read_file_bounded(void **state)
{
    (void)state;
    const char *p = lf_test_path("big.txt");
    char buf[5000];
    memset(buf, 'a', sizeof buf);
    lf_test_write(p, buf, sizeof buf);
    lf_err err;
    char *d;
    size_t n;
    assert_int_equal(lf_read_file_max(p, 4096, &d, &n, &err), LF_EFORMAT);
    assert_int_equal(lf_read_file_max(p, 5000, &d, &n, &err), LF_OK);
    assert_int_equal(n, 5000);
    free(d);
}

/* ---- key = value ---- */

static void test_kv_nul_long_hex(void **state)
{
    (void)state;
    lf_kv kv;
    lf_err err;
    /* a NUL byte used to cut the value short */
    const char nul[] = "a = 12\0 345\nb = 1\n";
    assert_int_equal(lf_kv_parse_text(nul, sizeof nul - 1, "t", &kv, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "t:1: NUL byte"));
    const char *p = lf_test_path("nul.conf");
    lf_test_write(p, nul, sizeof nul - 1);
    assert_int_equal(lf_kv_parse_file(p, &kv, &err), LF_EFORMAT);
    /* the tail of a long line used to become a key of its own */
    size_t L = 5000;
    char *lng = malloc(L + 32);
    memset(lng, ' ', L);
    memcpy(lng, "x = 1 #", 7);
    memcpy(lng + L - 20, "\nflash_latency_s = 9", 20);
    lng[L - 20] = 'z'; /* one line of L - 1 characters, with a key = value at its end */
    memcpy(lng + L, "\n", 1);
    assert_int_equal(lf_kv_parse_text(lng, L + 1, "t", &kv, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "longer than"));
    free(lng);
    /* 0x10 is not 16; decimals and exponents still are numbers */
    const char *hex = "a = 0x10\nb = 1.5e3\nc = 0X1p4\n";
    assert_int_equal(lf_kv_parse_text(hex, strlen(hex), "t", &kv, &err), LF_OK);
    double d;
    assert_int_equal(lf_kv_double(&kv, "a", 0, &d, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "t:1"));
    assert_int_equal(lf_kv_double(&kv, "b", 0, &d, &err), LF_OK);
    assert_true(d == 1500.0);
    assert_int_equal(lf_kv_double(&kv, "c", 0, &d, &err), LF_EINVAL);
    uint64_t u;
    assert_int_equal(lf_kv_u64(&kv, "a", 0, &u, &err), LF_EINVAL);
    lf_kv_free(&kv);
}

/* ---- JSONL importer ---- */

static int import_text(const char *text, lf_err *err)
{
    const char *p = lf_test_path("imp.jsonl");
    lf_test_write(p, text, strlen(text));
    lf_import_opts o = {0};
    lf_trace t;
    const char *files[] = {p};
    int rc = lf_import_vllm_moe(files, 1, &o, &t, NULL, NULL, 0, err);
    if (rc == LF_OK)
        lf_trace_free(&t);
    return rc;
}

static void test_import_hostile(void **state)
{
    (void)state;
    lf_err err;
    const char *meta = "{\"type\":\"meta\",\"top_k\":2,\"num_experts\":8}\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%s{\"type\":\"route\",\"topk_ids\":[1,2],\"topk_weights\":[0.5,0.25]}\n",
             meta);
    assert_int_equal(import_text(buf, &err), LF_OK);
    const char *bad_w[] = {"NaN", "Infinity", "-0.5", "1e999"};
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf,
                 "%s{\"type\":\"route\",\"topk_ids\":[1,2],\"topk_weights\":[0.5,%s]}\n", meta,
                 bad_w[i]);
        int rc = import_text(buf, &err);
        assert_int_not_equal(rc, LF_OK);
        if (i != 3 || rc == LF_EFORMAT) /* json-c may refuse 1e999 itself */
            assert_non_null(strstr(err.msg, ":2:"));
    }
    /* a repeated key: json-c keeps the last silently */
    snprintf(buf, sizeof buf, "%s{\"type\":\"route\",\"topk_ids\":[1,2],\"topk_ids\":[3,4]}\n", meta);
    assert_int_equal(import_text(buf, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "twice"));
    /* the same with an escaped spelling of the key */
    snprintf(buf, sizeof buf, "%s{\"type\":\"route\",\"topk_ids\":[1,2],\"topk_\\u0069ds\":[3,4]}\n",
             meta);
    assert_int_equal(import_text(buf, &err), LF_EFORMAT);
    /* a ':' inside a string or a nested object is no key */
    snprintf(buf, sizeof buf, "{\"type\":\"meta\",\"model_id\":\"a:b{\\\"\",\"top_k\":2,"
             "\"num_experts\":8,\"x\":{\"y\":1,\"z\":[1,{\"w\":2}]}}\n"
             "{\"type\":\"route\",\"topk_ids\":[1,2]}\n");
    assert_int_equal(import_text(buf, &err), LF_OK);
    /* a NUL byte, and a line over the bound */
    const char *p = lf_test_path("imp_nul.jsonl");
    const char nul[] = "{\"type\":\"route\",\"topk_ids\":[1,2]}\0{}\n";
    lf_test_write(p, nul, sizeof nul - 1);
    lf_import_opts o = {0};
    o.n_experts = 8;
    lf_trace t;
    const char *files[] = {p};
    assert_int_equal(lf_import_vllm_moe(files, 1, &o, &t, NULL, NULL, 0, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "NUL"));
    size_t L = LF_IMPORT_LINE_MAX + 10;
    char *lng = malloc(L);
    memset(lng, ' ', L);
    lf_test_write(p, lng, L);
    free(lng);
    assert_int_equal(lf_import_vllm_moe(files, 1, &o, &t, NULL, NULL, 0, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "longer than"));
}

/* trace import: a failed import writes nothing (the old trace stays as it was) */
static void test_import_failure_writes_nothing(void **state)
{
    (void)state;
    char js[4200], out[4200];
    snprintf(js, sizeof js, "%s", lf_test_path("imp_fail.jsonl"));
    snprintf(out, sizeof out, "%s", lf_test_path("imp_fail.h5"));
    const char *t = "{\"type\":\"meta\",\"top_k\":2,\"num_experts\":8}\n"
                    "{\"type\":\"route\",\"topk_ids\":[1,2]}\n{\"type\":\"route\",\"topk_ids\":[1,2]\n";
    lf_test_write(js, t, strlen(t));
    lf_test_write(out, "old", 3);
    char *e = NULL;
    assert_int_equal(lf_test_run(NULL, &e, "trace import %s -o %s", js, out), 1);
    assert_non_null(strstr(e, ":3:"));
    free(e);
    char *o = lf_test_slurp(out);
    assert_string_equal(o, "old");
    free(o);
}

/* ---- checkpoint, tokenizer, temperature ---- */

static void test_checkpoint_nan_and_temperature(void **state)
{
    (void)state;
    char ck[4200];
    snprintf(ck, sizeof ck, "%s", lf_test_path("nan.bin"));
    write_ckpt(ck, 100);
    lf_llama m;
    lf_err err;
    assert_int_equal(lf_llama_open(&m, ck, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "NaN"));
    assert_non_null(strstr(err.msg, "weight 100"));
    write_ckpt(ck, -1);
    assert_int_equal(lf_llama_open(&m, ck, &err), LF_OK);
    int32_t prompt[1] = {1}, *ids;
    uint32_t n;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_int_equal(lf_llama_generate(&m, prompt, 1, 3, 1e-38f, r, NULL, NULL, &ids, &n, &err),
                     LF_EINVAL);
    assert_non_null(strstr(err.msg, "greedy"));
    assert_int_equal(lf_llama_generate(&m, prompt, 1, 3, NAN, r, NULL, NULL, &ids, &n, &err),
                     LF_EINVAL);
    assert_int_equal(lf_llama_generate(&m, prompt, 1, 3, 0.5f, r, NULL, NULL, &ids, &n, &err),
                     LF_OK);
    free(ids);
    gsl_rng_free(r);
    lf_llama_close(&m);
    char *e = NULL;
    assert_int_equal(lf_test_run(NULL, &e, "generate --checkpoint %s --tokenizer %s "
                                 "--temperature 1e-38", ck, ck), 2);
    assert_non_null(strstr(e, "--temperature"));
    free(e);
}

static void test_tokenizer_bounded(void **state)
{
    (void)state;
    const char *p = lf_test_path("tok_small.bin");
    /* 12 bytes claiming 4 million tokens: refused before allocating for them */
    const unsigned char t[12] = {8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    lf_test_write(p, t, sizeof t);
    lf_tok tok;
    lf_err err;
    assert_int_equal(lf_tok_load(&tok, p, 4000000, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "cannot hold"));
    /* a NaN score */
    unsigned char u[13] = {8, 0, 0, 0, 0, 0, 0xc0, 0x7f, 1, 0, 0, 0, 'a'};
    lf_test_write(p, u, sizeof u);
    assert_int_equal(lf_tok_load(&tok, p, 1, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "score"));
}

/* ---- weights header: a forged header with the right checksum ---- */

static void test_weights_forged_shape(void **state)
{
    (void)state;
    char wf[4200];
    snprintf(wf, sizeof wf, "%s", lf_test_path("forged.bin"));
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:1,8,16 --file %s "
                                 "--alignment 16", wf), 0);
    char *data;
    size_t len;
    lf_err err;
    assert_int_equal(lf_read_file(wf, &data, &len, &err), LF_OK);
    /* units (offset 120) and d_ff (108): 2^31 units, which the layout would allocate for */
    uint32_t units = 1u << 31, dff = 1u << 31;
    memcpy(data + 120, &units, 4);
    memcpy(data + 108, &dff, 4);
    unsigned char sum[32];
    assert_int_equal(lf_weights_sha256((unsigned char *)data, NULL, 0, sum, &err), LF_OK);
    memcpy(data + 512 - 32, sum, 32);
    lf_test_write(wf, data, len);
    free(data);
    lf_weights w;
    assert_int_equal(lf_weights_open(wf, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "does not fit"));
}

/* ---- probe CSV and fit ---- */

static void test_probe_csv_hostile(void **state)
{
    (void)state;
    const char *hdr = "engine,chunk,threads,mb_s\n";
    const char *rows[] = {"psync,-4096,1,10\n", "psync,4096,1,0x10\n", "psync,4096, 1,10\n",
                          "psync,4096,1,10,7\n", "psync,4096,1,inf\n"};
    lf_fit_point *pts;
    size_t n;
    lf_err err;
    char buf[256];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", hdr, rows[i]);
        assert_int_equal(lf_fit_parse_probe(buf, strlen(buf), "p.csv", NULL, &pts, &n, &err),
                         LF_EFORMAT);
        assert_non_null(strstr(err.msg, "p.csv:2"));
    }
    /* a long line is an error, not two rows */
    char lng[1200];
    memset(lng, '1', sizeof lng);
    memcpy(lng, hdr, strlen(hdr));
    memcpy(lng + 1100, "\npsync,4096,1,10\n", 17);
    assert_int_equal(lf_fit_parse_probe(lng, 1117, "p.csv", NULL, &pts, &n, &err), LF_EFORMAT);
    const char nul[] = "engine,chunk,threads,mb_s\npsync,4096,1,1\0 0\n";
    assert_int_equal(lf_fit_parse_probe(nul, sizeof nul - 1, "p.csv", NULL, &pts, &n, &err),
                     LF_EFORMAT);
    snprintf(buf, sizeof buf, "%spsync,4096,1,10\r\npsync,8192,2,30\r\n", hdr);
    assert_int_equal(lf_fit_parse_probe(buf, strlen(buf), "p.csv", NULL, &pts, &n, &err), LF_OK);
    assert_int_equal(n, 2);
    assert_true(pts[1].bw == 30e6);
    free(pts);
}

/* fit refuses (exit 1, no profile) a fit whose median error is huge */
static void test_fit_refuses_bad_fit(void **state)
{
    (void)state;
    char csv[4200], out[4200];
    snprintf(csv, sizeof csv, "%s", lf_test_path("noise.csv"));
    snprintf(out, sizeof out, "%s", lf_test_path("noise.conf"));
    /* throughput that jumps by up to 10^4 with no pattern a device shows */
    const double mbs[15] = {10, 1e4, 1e4, 10, 100, 1e4, 1e3, 1e4, 1, 1e4, 1, 1e3, 100, 1e4, 10};
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "engine,chunk,threads,mb_s\n");
    const int chunks[] = {4096, 16384, 65536, 262144, 1048576};
    const int threads[] = {1, 4, 16};
    int k = 0;
    for (int c = 0; c < 5; c++)
        for (int t = 0; t < 3; t++, k++)
            fprintf(f, "psync,%d,%d,%g\n", chunks[c], threads[t], mbs[k]);
    fclose(f);
    unlink(out);
    char *o = NULL, *e = NULL;
    assert_int_equal(lf_test_run(&o, &e, "fit %s -o %s", csv, out), 1);
    assert_non_null(strstr(e, "median"));
    assert_false(lf_file_exists(out));
    free(o);
    free(e);
    /* accepted when the user raises the limit knowingly */
    assert_int_equal(lf_test_run(NULL, NULL, "fit %s -o %s --max-error 1000", csv, out), 0);
    assert_true(lf_file_exists(out));
}

/* ---- run folder: config.conf injection and --cold-tokens ---- */

static void test_results_config_and_cold(void **state)
{
    (void)state;
    lf_token_row rows[3];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 3; i++) {
        rows[i].token = (uint32_t)i;
        rows[i].total_ms = 1.0 + i;
    }
    lf_summary s;
    lf_err err;
    assert_int_equal(lf_summary_compute(rows, 3, 2, &s, &err), LF_OK);
    assert_int_equal(lf_summary_compute(rows, 3, 3, &s, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "--cold-tokens"));
    lf_kv cfg;
    lf_kv_init(&cfg, "t");
    assert_int_equal(lf_kv_set(&cfg, "trace", "a.h5\npolicy = lru", 0, &err), LF_OK);
    lf_results r;
    memset(&r, 0, sizeof r);
    r.mode = "sim";
    r.config = &cfg;
    r.rows = rows;
    r.n_rows = 3;
    r.cold_tokens = 1;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", lf_test_path("inject_run"));
    assert_int_equal(lf_results_write(dir, &r, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "newline"));
    char conf[4300];
    snprintf(conf, sizeof conf, "%s/config.conf", dir);
    assert_false(lf_file_exists(conf));
    lf_kv_free(&cfg);
    /* the binary: a trace path with a newline in it */
    char tr[4200], odd[4200];
    snprintf(tr, sizeof tr, "%s", lf_test_path("inj.h5"));
    snprintf(odd, sizeof odd, "%s", lf_test_path("inj\npolicy = lru.h5"));
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model custom:2,256,1024 --tokens 6 "
                                 "-o %s", tr), 0);
    assert_int_equal(rename(tr, odd), 0);
    char *e = NULL;
#define SIM "sim --device costmodel/devices/m1max.conf --policy lru --predictor-rank 0 "
    int rc = lf_test_run(NULL, &e, SIM "--trace '%s' --out %s", odd, lf_test_path("inj_run"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(e, "newline"));
    free(e);
    e = NULL;
    rename(odd, tr);
    assert_int_equal(lf_test_run(NULL, &e, SIM "--trace %s --cold-tokens 9", tr), 1);
    assert_non_null(strstr(e, "cold tokens but the run has 6"));
    free(e);
    assert_int_equal(lf_test_run(NULL, NULL, SIM "--trace %s --cold-tokens 5", tr), 0);
#undef SIM
}

/* ---- interruption: SIGINT, SIGTERM, SIGKILL at random moments (bench/bench_interrupt.sh,
 * one trial per signal and command here; calibrate, slower, in `make bench`) ---- */

static void test_interrupt_leaves_old_or_new(void **state)
{
    (void)state;
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "TMPDIR='%s' bench/bench_interrupt.sh quick 1 1>&2", lf_test_dir());
    assert_int_equal(system(cmd), 0);
}

/* ---- fuzz harnesses: a short smoke of each (built by clang; skipped without) ---- */

static void test_fuzz_smoke(void **state)
{
    (void)state;
    const char *names[] = {"kv", "import", "weights", "checkpoint", "tokenizer", "probe_csv"};
    int built = 0;
    char cmd[2048] = "FUZZ_RUNS=1000 scripts/fuzz.sh smoke";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "build/fuzz/fuzz_%s", names[i]);
        if (access(p, X_OK) == 0) {
            built++;
            strcat(cmd, " ");
            strcat(cmd, names[i]);
        }
    }
    /* a harness added later (fuzz_<name>.c) is smoked too */
    DIR *d = opendir("tests/fuzz");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "fuzz_", 5) || l < 8 || strcmp(e->d_name + l - 2, ".c"))
            continue;
        char nm[128];
        snprintf(nm, sizeof nm, "%.*s", (int)(l - 7), e->d_name + 5);
        int known = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            known |= !strcmp(nm, names[i]);
        char p[256];
        snprintf(p, sizeof p, "build/fuzz/fuzz_%s", nm);
        if (!known && access(p, X_OK) == 0 && strlen(cmd) + strlen(nm) + 2 < sizeof cmd) {
            strcat(cmd, " ");
            strcat(cmd, nm);
        }
    }
    if (d)
        closedir(d);
    if (built == 0) {
        printf("SKIP: fuzz harnesses not built (clang absent)\n");
        skip();
    }
    assert_int_equal(built, 6);
    strcat(cmd, " 1>&2");
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_file_by_inode),
        cmocka_unit_test(test_cli_output_over_input),
        cmocka_unit_test(test_tmp_planted_symlink),
        cmocka_unit_test(test_tmp_stale_cleanup),
        cmocka_unit_test(test_tmp_removed_on_signal),
        cmocka_unit_test(test_non_regular_refused),
        cmocka_unit_test(test_read_file_bounded),
        cmocka_unit_test(test_kv_nul_long_hex),
        cmocka_unit_test(test_import_hostile),
        cmocka_unit_test(test_import_failure_writes_nothing),
        cmocka_unit_test(test_checkpoint_nan_and_temperature),
        cmocka_unit_test(test_tokenizer_bounded),
        cmocka_unit_test(test_weights_forged_shape),
        cmocka_unit_test(test_probe_csv_hostile),
        cmocka_unit_test(test_fit_refuses_bad_fit),
        cmocka_unit_test(test_results_config_and_cold),
        cmocka_unit_test(test_interrupt_leaves_old_or_new),
        cmocka_unit_test(test_fuzz_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
