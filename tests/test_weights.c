/* Tests of the weights file (bench/lf_weights, lf_half): fp16 conversion, make/open
 * round trips in every layout and dtype, each refusal (shape mismatch, truncation,
 * damaged header, wrong alignment) and failed or interrupted writes. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_exec.h"
#include "lf_fs.h"
#include "lf_half.h"
#include "lf_test.h"
#include "lf_weights.h"

/* A trace of a shape, each token needing a few units per layer (a coact profile). */
static void make_trace(lf_trace *t, const char *model, uint32_t n_tok, uint32_t seed)
{
    lf_err err;
    lf_model m;
    assert_int_equal(lf_model_lookup(model, &m, &err), LF_OK);
    assert_int_equal(lf_trace_init(t, &m, 2, 0, 0, &err), LF_OK);
    for (uint32_t tok = 0; tok < n_tok; tok++) {
        for (uint32_t l = 0; l < m.n_layers; l++) {
            uint32_t ids[8], n = 0;
            for (uint32_t k = 0; k < 8; k++)
                ids[n++] = (k * 29u + (tok * seed + l) * 7u) % (m.d_ff / 8) * 8 + k;
            for (uint32_t a = 1; a < n; a++) /* insertion sort */
                for (uint32_t b = a; b > 0 && ids[b - 1] > ids[b]; b--) {
                    uint32_t x = ids[b];
                    ids[b] = ids[b - 1];
                    ids[b - 1] = x;
                }
            assert_int_equal(lf_trace_append_layer(t, l, ids, n, NULL, &err), LF_OK);
        }
        assert_int_equal(lf_trace_end_token(t, (int32_t)tok, &err), LF_OK);
    }
}

/* ------------------------------------------------------------------ fp16 */

static void test_half(void **st)
{
    (void)st;
    /* every half survives half -> float -> half (NaNs come back quiet) */
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = lf_float_to_half(lf_half_to_float((uint16_t)h));
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan)
            assert_int_equal(back, h | 0x200);
        else
            assert_int_equal(back, h);
    }
    assert_true(lf_half_to_float(0x3c00) == 1.0f);
    assert_true(lf_half_to_float(0xc000) == -2.0f);
    assert_true(lf_half_to_float(0x7bff) == 65504.0f);
    assert_true(lf_half_to_float(0x0001) == ldexpf(1, -24));
    assert_true(lf_half_to_float(0x0400) == ldexpf(1, -14));
    /* rounding: ties go to the even neighbour */
    assert_int_equal(lf_float_to_half(1.0f + ldexpf(1, -11)), 0x3c00);
    assert_int_equal(lf_float_to_half(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    assert_int_equal(lf_float_to_half(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01);
    assert_int_equal(lf_float_to_half(65519.0f), 0x7bff);
    assert_int_equal(lf_float_to_half(65520.0f), 0x7c00);
    assert_int_equal(lf_float_to_half(-1e9f), 0xfc00);
    assert_int_equal(lf_float_to_half(ldexpf(1, -25)), 0x0000);
    assert_int_equal(lf_float_to_half(3 * ldexpf(1, -25)), 0x0002);
    assert_int_equal(lf_float_to_half(ldexpf(1, -24)), 0x0001);
    assert_int_equal(lf_float_to_half(ldexpf(1023, -24) + ldexpf(1, -25)), 0x0400);
    assert_int_equal(lf_float_to_half(-0.0f), 0x8000);
    assert_int_equal(lf_float_to_half(INFINITY), 0x7c00);
    assert_true((lf_float_to_half(NAN) & 0x7c00) == 0x7c00 && (lf_float_to_half(NAN) & 0x3ff));
#ifdef __FLT16_MAX__
    /* cross-check with the compiler's conversion on many floats */
    uint32_t s = 7;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        float f;
        uint32_t u = (s & 0x8fffffffu) | ((s & 0x0f000000u) ? 0x30000000u : 0); /* |f| ~ 2^-30..2^17 */
        memcpy(&f, &u, sizeof f);
        _Float16 g = (_Float16)f;
        uint16_t gu;
        memcpy(&gu, &g, sizeof gu);
        assert_int_equal(lf_float_to_half(f), gu);
    }
#endif
}

/* ------------------------------------------------------------------ weights file */

static const char *make_weights(const char *name, const char *model, lf_layout_kind kind,
                                lf_dtype dt, uint32_t align, const lf_trace *profile)
{
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup(model, &m, &err), LF_OK);
    lf_weights_spec spec = {&m, kind, dt, 0, align, 42, profile, 0};
    const char *p = lf_test_path(name);
    int rc = lf_weights_make(p, &spec, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, LF_OK);
    return p;
}

static void test_weights_roundtrip(void **st)
{
    (void)st;
    lf_trace prof;
    make_trace(&prof, "custom:3,64,256", 40, 5);
    const lf_layout_kind kinds[] = {LF_LAYOUT_BUNDLED, LF_LAYOUT_SPLIT, LF_LAYOUT_COACT};
    for (int k = 0; k < 3; k++) {
        for (int d = 0; d < 2; d++) {
            lf_dtype dt = d ? LF_DTYPE_FP32 : LF_DTYPE_FP16;
            const char *p = make_weights("rt.w", "custom:3,64,256", kinds[k], dt, 4096, &prof);
            lf_weights w;
            lf_err err;
            assert_int_equal(lf_weights_open(p, &w, &err), LF_OK);
            assert_int_equal(w.h.layout, kinds[k]);
            assert_int_equal(w.h.units, 256);
            /* file size: data offset + 3 layers of records, each record 4096 bytes */
            uint64_t recs = kinds[k] == LF_LAYOUT_SPLIT ? 512 : 256;
            struct stat sb;
            assert_int_equal(stat(p, &sb), 0);
            assert_int_equal((uint64_t)sb.st_size, w.h.data_offset + 3 * recs * 4096);
            /* every record of layer 1 holds what the generator says */
            FILE *f = fopen(p, "rb");
            unsigned char rec[4096];
            float want[64];
            lf_extent_vec ev = {0};
            for (uint32_t u = 0; u < 256; u += 17) {
                ev.n = 0;
                assert_int_equal(lf_layout_extents(&w.layout, 1, &u, 1, &ev, &err), LF_OK);
                for (size_t e = 0; e < ev.n; e++) {
                    assert_int_equal(fseek(f, (long)ev.v[e].offset, SEEK_SET), 0);
                    assert_int_equal(fread(rec, 1, 4096, f), 4096);
                    uint32_t nv = ev.v[e].part == LF_PART_ALL ? 2 : 1;
                    uint32_t units_in = kinds[k] == LF_LAYOUT_COACT ? 2 : 1;
                    for (uint32_t c = 0; c < units_in; c++) {
                        uint32_t unit = c ? w.layout.friend_of[256 + u] : u;
                        for (uint32_t v = 0; v < nv; v++) {
                            uint32_t part = ev.v[e].part == LF_PART_ALL ? v : ev.v[e].part;
                            lf_weights_values(&w.h, 1, unit, part, want);
                            const unsigned char *at = rec + (c * nv + v) * 64 * (d ? 4 : 2);
                            for (int i = 0; i < 64; i++) {
                                float got = d ? ((const float *)(const void *)at)[i]
                                              : lf_half_to_float(((const uint16_t *)(const void *)at)[i]);
                                assert_true(got == want[i]);
                            }
                        }
                    }
                }
            }
            lf_extent_vec_free(&ev);
            fclose(f);
            lf_weights_close(&w);
        }
    }
    lf_trace_free(&prof);
}

static void test_weights_refusals(void **st)
{
    (void)st;
    lf_err err;
    lf_weights w;
    const char *p = make_weights("ref.w", "custom:3,64,256", LF_LAYOUT_BUNDLED, LF_DTYPE_FP16,
                                 4096, NULL);
    assert_int_equal(lf_weights_open(p, &w, &err), LF_OK);
    /* header mismatch: every difference is named */
    lf_trace t;
    make_trace(&t, "custom:3,128,256", 2, 1);
    assert_int_equal(lf_weights_check_trace(&w, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "d_model 64 (file) vs 128 (trace)"));
    lf_trace_free(&t);
    make_trace(&t, "custom:4,64,200", 2, 1);
    assert_int_equal(lf_weights_check_trace(&w, &t, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "units per layer 256 (file) vs 200 (trace)"));
    assert_non_null(strstr(err.msg, "layers 3 (file) vs 4 (trace)"));
    lf_trace_free(&t);
    make_trace(&t, "custom:2,64,256", 2, 1);
    assert_int_equal(lf_weights_check_trace(&w, &t, &err), LF_OK); /* fewer layers is fine */
    lf_trace_free(&t);
    lf_weights_close(&w);

    /* truncated by one record */
    const char *q = lf_test_path("trunc.w");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp %s %s", p, q);
    assert_int_equal(system(cmd), 0);
    struct stat sb;
    assert_int_equal(stat(q, &sb), 0);
    assert_int_equal(truncate(q, sb.st_size - 4096), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(truncate(q, 100), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "too short"));

    /* a damaged header byte (the model name) */
    snprintf(cmd, sizeof cmd, "cp %s %s && printf 'X' | dd of=%s bs=1 seek=30 conv=notrunc 2>/dev/null",
             p, q, q);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "checksum"));

    /* every header byte flipped in turn, and every cut inside the header's page: each
     * refusal names the fix (a cut to 4095 bytes said only "corrupt header") */
    for (int cut = 0; cut < 2; cut++)
        for (long at = cut ? 200 : 0; at < 4096; at += cut ? 389 : 1) {
            if (cut)
                snprintf(cmd, sizeof cmd, "cp %s %s && truncate -s %ld %s", p, q, at, q);
            else
                snprintf(cmd, sizeof cmd, "cp %s %s && printf '\\377' | dd of=%s bs=1 seek=%ld "
                         "conv=notrunc 2>/dev/null", p, q, q, at);
            if (!cut && at % 97 != 0 && at > 160) /* past the header fields: a sample */
                continue;
            assert_int_equal(system(cmd), 0);
            int rc = lf_weights_open(q, &w, &err);
            if (rc == LF_OK) { /* a byte the checks do not cover (padding) */
                lf_weights_close(&w);
                continue;
            }
            if (!strstr(err.msg, "remake"))
                fail_msg("%s at byte %ld: '%s' names no fix", cut ? "cut" : "flip", at, err.msg);
        }

    /* not a weights file */
    const char *junk = "hello world, this is not a weights file";
    lf_test_write(q, junk, strlen(junk));
    assert_int_equal(truncate(q, 8192), 0);
    assert_int_equal(lf_weights_open(q, &w, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "not an llmflash weights file"));

    /* wrong alignment: records padded to 512 bytes are refused by direct engines */
    const char *a = make_weights("a512.w", "custom:3,64,256", LF_LAYOUT_BUNDLED, LF_DTYPE_FP16,
                                 512, NULL);
    assert_int_equal(lf_weights_open(a, &w, &err), LF_OK);
    assert_int_equal(w.h.record_bytes, 512);
    lf_exec_cfg cfg = {&w, "psync", 2, LF_DRAM_PREALLOC, 3, 1, LF_SCOPE_FFN, 0};
    lf_exec *e;
    assert_int_equal(lf_exec_create(&cfg, &e, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "wrong alignment"));
    assert_non_null(strstr(err.msg, "--alignment 4096"));
    cfg.engine = "buffered"; /* no alignment needed */
    assert_int_equal(lf_exec_create(&cfg, &e, &err), LF_OK);
    lf_exec_free(e);
    lf_weights_close(&w);
    /* bad alignment asked of make */
    lf_model m;
    assert_int_equal(lf_model_lookup("custom:1,64,256", &m, &err), LF_OK);
    lf_weights_spec spec = {&m, LF_LAYOUT_BUNDLED, LF_DTYPE_FP16, 0, 3000, 1, NULL, 0};
    assert_int_equal(lf_weights_make(lf_test_path("bad.w"), &spec, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "power of two"));
    spec.layout = LF_LAYOUT_COACT;
    spec.alignment = 4096;
    assert_int_equal(lf_weights_make(lf_test_path("bad.w"), &spec, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "profile"));
}

static int no_tmp_left(const char *prefix)
{
    DIR *d = opendir(lf_test_dir());
    struct dirent *de;
    int ok = 1;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)) && strstr(de->d_name, ".tmp."))
            ok = 0;
    closedir(d);
    return ok;
}

/* A write that fails (file size limit: EFBIG, as a full disk gives ENOSPC) leaves
 * nothing; a write killed half way leaves only a temporary without a valid header. */
static void test_weights_failed_write(void **st)
{
    (void)st;
    const char *p = lf_test_path("full.w");
    for (int kill_it = 0; kill_it < 2; kill_it++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (!kill_it)
                signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {256 * 1024, 256 * 1024};
            setrlimit(RLIMIT_FSIZE, &rl);
            lf_model m;
            lf_err err;
            lf_model_lookup("custom:3,64,256", &m, &err);
            lf_weights_spec spec = {&m, LF_LAYOUT_BUNDLED, LF_DTYPE_FP16, 0, 4096, 1, NULL, 0};
            int rc = lf_weights_make(p, &spec, &err);
            _exit(rc == LF_EIO && strstr(err.msg, "removed") ? 3 : 4);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!kill_it) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 3);
            assert_true(no_tmp_left("full.w"));
        } else {
            assert_true(WIFSIGNALED(status));
            /* the temporary is "full.w.tmp.<pid>.<random>" (lf_tmp_create) */
            char tmp[2048] = "", pre[64];
            snprintf(pre, sizeof pre, "full.w.tmp.%ld.", (long)pid);
            DIR *d = opendir(lf_test_dir());
            struct dirent *de;
            while (d && (de = readdir(d)))
                if (!strncmp(de->d_name, pre, strlen(pre)))
                    snprintf(tmp, sizeof tmp, "%s/%s", lf_test_dir(), de->d_name);
            if (d)
                closedir(d);
            assert_true(tmp[0] != 0);
            lf_weights w;
            lf_err err;
            assert_int_equal(lf_weights_open(tmp, &w, &err), LF_EFORMAT);
            assert_non_null(strstr(err.msg, "not an llmflash weights file"));
            unlink(tmp);
        }
        assert_false(lf_file_exists(p));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half),
        cmocka_unit_test(test_weights_failed_write), /* first: no threads yet to fork */
        cmocka_unit_test(test_weights_roundtrip),
        cmocka_unit_test(test_weights_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
