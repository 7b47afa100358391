#include "lf_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_fs.h"

const char *lf_test_dir(void)
{
    static char dir[1024];
    if (!dir[0]) {
        const char *base = getenv("LLMFLASH_TMP");
        snprintf(dir, sizeof dir, "%s/t%ld", base && *base ? base : "build/testtmp", (long)getpid());
        lf_err err;
        if (lf_mkdirs(dir, &err) != LF_OK) {
            fprintf(stderr, "%s\n", err.msg);
            abort();
        }
    }
    return dir;
}

const char *lf_test_path(const char *name)
{
    static char buf[8][1200];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", lf_test_dir(), name);
    return p;
}

char *lf_test_slurp(const char *path)
{
    char *data = NULL;
    size_t len;
    lf_err err;
    return lf_read_file(path, &data, &len, &err) == LF_OK ? data : NULL;
}

/* A run's captured output; "" when the run left none. */
static char *slurp(const char *path)
{
    char *data = lf_test_slurp(path);
    return data ? data : strdup("");
}

static int run_args(char **out, char **err, const char *args)
{
    static int seq;
    char cmd[12000];
    const char *bin = getenv("LLMFLASH_BIN");
    if (!bin)
        bin = "build/llmflash";
    char o[1200], e[1200];
    snprintf(o, sizeof o, "%s/run%d.out", lf_test_dir(), seq);
    snprintf(e, sizeof e, "%s/run%d.err", lf_test_dir(), seq);
    seq++;
    snprintf(cmd, sizeof cmd, "%s %s </dev/null >%s 2>%s", bin, args, o, e);
    int st = system(cmd);
    if (out)
        *out = slurp(o);
    if (err)
        *err = slurp(e);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

int lf_test_run(char **out, char **err, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run_args(out, err, args);
}

void lf_test_expect(int status, const char *needle, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *e = NULL;
    int rc = run_args(NULL, &e, args);
    if (rc != status || (needle && (!e || !strstr(e, needle))))
        fail_msg("llmflash %s: exit %d (expected %d), stderr: %s (expected to hold '%s')", args,
                 rc, status, e ? e : "(none)", needle ? needle : "");
    free(e);
}

const char *lf_test_shared(const char *name)
{
    static char buf[4][1200];
    static int next;
    const char *base = getenv("LLMFLASH_SHARED_DATA");
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", base && *base ? base : "../shared/data", name);
    if (access(p, R_OK) != 0) {
        printf("SKIP: %s absent (tests that use ../shared/data are skipped)\n", p);
        return NULL;
    }
    return p;
}

void lf_test_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void lf_test_moe_model(lf_model *m, uint32_t layers, uint32_t d_model, uint32_t d_ff,
                       uint32_t experts, uint32_t top_k)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "test-moe");
    m->kind = LF_UNITS_EXPERTS;
    m->act = LF_ACT_SWIGLU;
    m->n_layers = layers;
    m->d_model = d_model;
    m->d_ff = d_ff;
    m->n_experts = experts;
    m->top_k = top_k;
    m->vocab = 256;
}

lf_device lf_test_toy_device(void)
{
    lf_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "toy");
    d.flash_latency_s = 100e-6;
    d.flash_stream_bw = 1e9;
    d.flash_max_bw = 4e9;
    d.flash_max_iops = 1e5;
    d.flash_alignment = 4096;
    d.dram_copy_bw = 10e9;
    d.dram_op_s = 1e-7;
    d.compute_flops = 1e10;
    d.mem_bw = 1e10;
    d.pagecache_bw = 5e9;
    d.pagecache_latency_s = 2e-6;
    return d;
}
/* Column `col` of every data row of a CSV file, joined by ';' (malloc'ed). */
char *lf_test_csv_column(const char *path, const char *col)
{
    char *data = NULL;
    size_t len;
    lf_err err;
    if (lf_read_file(path, &data, &len, &err) != LF_OK)
        return NULL;
    char *out = calloc(len + 1, 1), *save = NULL;
    int idx = -1, line = 0;
    for (char *ln = strtok_r(data, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save), line++) {
        char *s2 = NULL;
        int k = 0;
        for (char *c = strtok_r(ln, ",", &s2); c; c = strtok_r(NULL, ",", &s2), k++) {
            if (line == 0 && !strcmp(c, col))
                idx = k;
            else if (line > 0 && k == idx) {
                strcat(out, c);
                strcat(out, ";");
            }
        }
    }
    free(data);
    if (idx < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Column col of path's row `row` (from 0, after the header) as a number; fails the test
 * when the column or the row is missing. */
double lf_test_csv_value(const char *path, const char *col, int row)
{
    char *text = lf_test_csv_column(path, col), *at = text;
    assert_non_null(text);
    for (int k = 0; k < row; k++) {
        at = strchr(at, ';');
        assert_non_null(at);
        at++;
    }
    char *end;
    double v = strtod(at, &end);
    assert_true(end != at && *end == ';');
    free(text);
    return v;
}

