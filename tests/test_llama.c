/* Tests of the llama2.c model (llama/lf_llama, lf_tok, lf_llama_rec, lf_lowrank) and of
 * generate / trace record / trace predict. The real-model tests use
 * ../shared/data/stories260K.bin and tok512.bin and skip with one line when absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_llama.h"
#include "lf_llama_rec.h"
#include "lf_llama_weights.h"
#include "lf_weights.h"
#include "lf_lowrank.h"
#include "lf_test.h"
#include "lf_tok.h"
#include "lf_trace.h"

#define CKPT_BYTES 1056540

/* ---- helpers ---- */

typedef struct {
    char prompt[256];
    uint32_t steps;
    int32_t ids[1024];
    uint32_t n;
} fixture;

/* Reads a tests/fixtures/s260k_greedy_ids*.txt file: "# prompt: ", "# steps: ", ids. */
static void read_fixture(const char *path, fixture *f)
{
    char *data;
    size_t len;
    lf_err err;
    assert_int_equal(lf_read_file(path, &data, &len, &err), LF_OK);
    memset(f, 0, sizeof *f);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "# prompt: ", 10))
            snprintf(f->prompt, sizeof f->prompt, "%s", line + 10);
        else if (!strncmp(line, "# steps: ", 9))
            f->steps = (uint32_t)atoi(line + 9);
        else if (line[0] != '#')
            for (char *p = line, *end; *p; p = end) {
                long v = strtol(p, &end, 10);
                if (end == p)
                    break;
                f->ids[f->n++] = (int32_t)v;
            }
    }
    free(data);
    assert_true(f->steps > 0 && f->n > 1);
}

static int load(lf_llama *m, lf_tok *t)
{
    const char *ck = lf_test_shared("stories260K.bin"), *tk = lf_test_shared("tok512.bin");
    if (!ck || !tk)
        return 0;
    lf_err err;
    assert_int_equal(lf_llama_open(m, ck, &err), LF_OK);
    if (t)
        assert_int_equal(lf_tok_load(t, tk, m->cfg.vocab_size, &err), LF_OK);
    return 1;
}

static void greedy(lf_llama *m, const lf_tok *t, const char *prompt, uint32_t steps,
                   int32_t **ids, uint32_t *n)
{
    lf_err err;
    int32_t *p;
    uint32_t np;
    assert_int_equal(lf_tok_encode(t, prompt, 1, 0, &p, &np, &err), LF_OK);
    assert_int_equal(lf_llama_generate(m, p, np, steps, 0.0f, NULL, NULL, NULL, ids, n, &err),
                     LF_OK);
    free(p);
}

/* ---- model ---- */

static void test_header_fields(void **st)
{
    (void)st;
    const char *ck = lf_test_shared("stories260K.bin");
    if (!ck)
        skip();
    lf_llama_config c;
    lf_err err;
    assert_int_equal(lf_llama_read_config(ck, &c, &err), LF_OK);
    assert_int_equal(c.dim, 64);
    assert_int_equal(c.hidden_dim, 172);
    assert_int_equal(c.n_layers, 5);
    assert_int_equal(c.n_heads, 8);
    assert_int_equal(c.n_kv_heads, 4);
    assert_int_equal(c.vocab_size, 512);
    assert_int_equal(c.seq_len, 512);
    assert_int_equal(c.shared_classifier, 1);
    assert_int_equal(c.version, 0);
    /* 28-byte header + 4 * (512*64 emb + 5*(2*64 + 2*64*64 + 2*64*32 + 3*64*172) + 64
     * + 512*8 freq_cis) */
    assert_int_equal(c.expected_bytes, CKPT_BYTES);
}

static void test_greedy_equals_reference(void **st)
{
    (void)st;
    lf_llama m;
    lf_tok t;
    if (!load(&m, &t))
        skip();
    const char *files[] = {"tests/fixtures/s260k_greedy_ids.txt",
                           "tests/fixtures/s260k_greedy_ids_utf8.txt"};
    for (int i = 0; i < 2; i++) {
        fixture f;
        read_fixture(files[i], &f);
        int32_t *ids;
        uint32_t n;
        lf_llama fresh;
        lf_err err;
        assert_int_equal(lf_llama_open(&fresh, m.path, &err), LF_OK);
        greedy(&fresh, &t, f.prompt, f.steps, &ids, &n);
        assert_int_equal(n, f.n);
        for (uint32_t k = 0; k < n; k++)
            if (ids[k] != f.ids[k])
                fail_msg("%s: position %u: got %d, reference %d", files[i], k, ids[k], f.ids[k]);
        free(ids);
        lf_llama_close(&fresh);
    }
    lf_tok_free(&t);
    lf_llama_close(&m);

    /* the CLI prints the same ids */
    fixture f;
    read_fixture(files[0], &f);
    char *out;
    assert_int_equal(lf_test_run(&out, NULL, "generate --checkpoint %s --tokenizer %s "
                                 "--prompt '%s' --steps %u --print-ids",
                                 lf_test_shared("stories260K.bin"), lf_test_shared("tok512.bin"),
                                 f.prompt, f.steps), 0);
    char want[8192] = "";
    for (uint32_t k = 0; k < f.n; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), k ? " %d" : "%d", f.ids[k]);
    strcat(want, "\n");
    assert_string_equal(out, want);
    free(out);
}

/* A version-1 export of the same weights gives the same tokens. */
static void test_version1_export(void **st)
{
    (void)st;
    lf_llama m;
    lf_tok t;
    if (!load(&m, &t))
        skip();
    const lf_llama_config *c = &m.cfg;
    size_t d = c->dim, L = c->n_layers, hd = c->hidden_dim, V = c->vocab_size;
    size_t kv = d / c->n_heads * c->n_kv_heads;
    unsigned char hdr[256] = {0};
    uint32_t magic = 0x616b3432;
    int32_t f[9] = {1, (int32_t)d, (int32_t)hd, (int32_t)L, (int32_t)c->n_heads,
                    (int32_t)c->n_kv_heads, (int32_t)V, (int32_t)c->seq_len};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, f, 8 * 4);
    hdr[36] = 1; /* shared classifier */
    const char *p = lf_test_path("v1.bin");
    FILE *o = fopen(p, "wb");
    assert_non_null(o);
    fwrite(hdr, 1, 256, o);
    struct {
        const float *w;
        size_t n;
    } parts[] = {{m.rms_att, L * d}, {m.rms_ffn, L * d},    {m.rms_final, d},
                 {m.tok_emb, V * d}, {m.wq, L * d * d},     {m.wk, L * d * kv},
                 {m.wv, L * d * kv}, {m.wo, L * d * d},     {m.w1, L * d * hd},
                 {m.w2, L * d * hd}, {m.w3, L * d * hd}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        assert_int_equal(fwrite(parts[i].w, sizeof(float), parts[i].n, o), parts[i].n);
    assert_int_equal(fclose(o), 0);
    lf_llama v1;
    lf_err err;
    assert_int_equal(lf_llama_open(&v1, p, &err), LF_OK);
    assert_int_equal(v1.cfg.version, 1);
    fixture fx;
    read_fixture("tests/fixtures/s260k_greedy_ids.txt", &fx);
    int32_t *ids;
    uint32_t n;
    greedy(&v1, &t, fx.prompt, 100, &ids, &n);
    assert_int_equal(n, 101);
    assert_memory_equal(ids, fx.ids, n * sizeof *ids);
    free(ids);
    lf_llama_close(&v1);
    lf_tok_free(&t);
    lf_llama_close(&m);
}

static void copy_prefix(const char *from, const char *to, size_t len, size_t extra)
{
    char *data;
    size_t have;
    lf_err err;
    assert_int_equal(lf_read_file(from, &data, &have, &err), LF_OK);
    assert_true(len <= have);
    data = realloc(data, len + extra);
    memset(data + len, 0, extra);
    lf_test_write(to, data, len + extra);
    free(data);
}

static void test_size_mismatch_refused(void **st)
{
    (void)st;
    const char *ck = lf_test_shared("stories260K.bin");
    if (!ck)
        skip();
    const char *tr = lf_test_path("truncated.bin"), *lg = lf_test_path("long.bin");
    copy_prefix(ck, tr, CKPT_BYTES - 100, 0);
    copy_prefix(ck, lg, CKPT_BYTES, 8);
    lf_llama m;
    lf_err err;
    assert_int_equal(lf_llama_open(&m, tr, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated by 100 bytes"));
    assert_non_null(strstr(err.msg, "implies 1056540 bytes"));
    assert_int_equal(lf_llama_open(&m, lg, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "too long by 8 bytes"));
    copy_prefix(ck, tr, 20, 0);
    assert_int_equal(lf_llama_open(&m, tr, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "shorter than the 28-byte"));
    char *e;
    copy_prefix(ck, tr, CKPT_BYTES - 100, 0);
    assert_int_equal(lf_test_run(NULL, &e, "generate --checkpoint %s --tokenizer %s --steps 4",
                                 tr, lf_test_shared("tok512.bin")), 1);
    assert_non_null(strstr(e, "truncated by 100 bytes"));
    free(e);
}

/* ---- tokenizer ---- */

static void test_tokenizer(void **st)
{
    (void)st;
    lf_llama m;
    lf_tok t;
    if (!load(&m, &t))
        skip();
    lf_err err;
    int32_t *ids;
    uint32_t n;
    /* BOS, " Once", " upon", " a", " time": the reference's first tokens */
    assert_int_equal(lf_tok_encode(&t, "Once upon a time", 1, 0, &ids, &n, &err), LF_OK);
    int32_t want[] = {1, 403, 407, 261, 378};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    assert_string_equal(t.vocab[403], " Once");
    free(ids);
    /* round trip, multi-byte code points and byte fallback included */
    const char *texts[] = {"Once upon a time", "Tom and Lily found a big box.\nThe end!",
                           "Zürich café 😀 naïve", "a", "  two  spaces"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(lf_tok_encode(&t, texts[i], 1, 1, &ids, &n, &err), LF_OK);
        assert_int_equal(ids[0], LF_TOK_BOS_ID);
        assert_int_equal(ids[n - 1], LF_TOK_EOS_ID);
        char back[256] = "";
        for (uint32_t k = 1; k + 1 < n; k++)
            strcat(back, lf_tok_decode(&t, ids[k - 1], ids[k]));
        assert_string_equal(back, texts[i]);
        free(ids);
    }
    /* empty text: BOS only, no dummy prefix */
    assert_int_equal(lf_tok_encode(&t, "", 1, 0, &ids, &n, &err), LF_OK);
    assert_int_equal(n, 1);
    free(ids);
    lf_tok_free(&t);
    /* a vocabulary size that does not match the file is refused */
    const char *tk = lf_test_shared("tok512.bin");
    assert_int_equal(lf_tok_load(&t, tk, 511, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "left after the 511 tokens"));
    assert_int_equal(lf_tok_load(&t, tk, 513, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "inside token 512 of 513"));
    lf_llama_close(&m);
}

/* ---- recording ---- */

static void test_select_rule(void **st)
{
    (void)st;
    const float h[5] = {0.5f, -2.0f, 1.0f, 0.0f, -0.25f};
    uint32_t ids[5];
    float v[5];
    assert_int_equal(lf_llama_select(h, 5, 0.0, 0, ids, v), 5); /* 0: every neuron */
    assert_int_equal(lf_llama_select(h, 5, 0.0, 1, ids, v), 5);
    assert_int_equal(lf_llama_select(h, 5, 0.75, 0, ids, v), 2); /* |h| >= 0.75 */
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_true(v[0] == 2.0f && v[1] == 1.0f);
    assert_int_equal(lf_llama_select(h, 5, 0.5, 1, ids, v), 2); /* >= 0.5 * 2 */
    assert_int_equal(lf_llama_select(h, 5, 0.2, 1, ids, v), 3); /* >= 0.4: 0.5, 2, 1 */
    assert_int_equal(ids[0], 0);
    assert_int_equal(lf_llama_select(h, 5, 1.0, 1, ids, v), 1); /* only the largest */
    assert_int_equal(ids[0], 1);
}

static double sparsity(const lf_trace *t)
{
    uint64_t nnz = 0;
    for (uint32_t l = 0; l < t->n_layers; l++)
        nnz += t->layers[l].nnz;
    return 1.0 - (double)nnz / ((double)t->n_tokens * t->n_layers * t->units_per_layer);
}

static void test_record_sparsity(void **st)
{
    (void)st;
    lf_llama m;
    lf_tok tk;
    if (!load(&m, &tk))
        skip();
    lf_err err;
    int32_t *p;
    uint32_t np;
    assert_int_equal(lf_tok_encode(&tk, "Once upon a time", 1, 0, &p, &np, &err), LF_OK);
    const double rel[] = {0.0, 0.05, 0.1, 0.2, 0.5, 1.0};
    double prev = -1.0;
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        lf_trace t;
        lf_llama_rec_opts o = {rel[i], 1, 120, 0.0f, 1};
        assert_int_equal(lf_llama_record(&m, "stories260K", p, np, &o, &t, &err), LF_OK);
        assert_int_equal(t.n_tokens, 120);
        double s = sparsity(&t);
        if (rel[i] == 0.0)
            assert_true(s == 0.0); /* every neuron of every token */
        else
            assert_true(s > prev); /* rises with the threshold */
        if (rel[i] == 1.0) /* one neuron (the largest) per token and layer */
            for (uint32_t l = 0; l < t.n_layers; l++)
                assert_int_equal(t.layers[l].nnz, t.n_tokens);
        prev = s;
        lf_trace_free(&t);
    }
    free(p);
    lf_tok_free(&tk);
    lf_llama_close(&m);
}

/* The CLI writes a trace that reads back with the recorded attributes, tokens and |h|,
 * and a recording longer than seq_len restarts from BOS. */
static void test_record_cli(void **st)
{
    (void)st;
    const char *ck = lf_test_shared("stories260K.bin"), *tk = lf_test_shared("tok512.bin");
    if (!ck || !tk)
        skip();
    const char *out = lf_test_path("rec.h5");
    char *so;
    assert_int_equal(lf_test_run(&so, NULL, "trace record --checkpoint %s --tokenizer %s "
                                 "--prompt 'Once upon a time' --steps 600 --threshold 0.1 "
                                 "--relative -o %s", ck, tk, out), 0);
    assert_non_null(strstr(so, "recorded 600 tokens of stories260K"));
    free(so);
    lf_trace t;
    lf_err err;
    assert_int_equal(lf_trace_read(out, &t, &err), LF_OK);
    assert_string_equal(t.source, "recorded");
    assert_string_equal(t.model, "stories260K");
    assert_int_equal(t.kind, LF_UNITS_NEURONS);
    assert_int_equal(t.n_layers, 5);
    assert_int_equal(t.d_model, 64);
    assert_int_equal(t.units_per_layer, 172);
    assert_int_equal(t.n_tokens, 600);
    fixture f;
    read_fixture("tests/fixtures/s260k_greedy_ids.txt", &f);
    assert_memory_equal(t.tokens, f.ids, 256 * sizeof(int32_t)); /* greedy from the prompt */
    uint32_t bos = 0;
    for (uint32_t i = 1; i < t.n_tokens; i++)
        bos += t.tokens[i] == LF_TOK_BOS_ID;
    assert_true(bos >= 1); /* 600 > seq_len 512: at least one restart */
    double thr;
    int relflag;
    assert_int_equal(lf_llama_rec_rule(&t, out, &thr, &relflag, &err), LF_OK);
    assert_true(thr == 0.1 && relflag == 1);
    /* per token and layer, the largest recorded |h| is over 0.1 of itself: every value is
     * >= 0.1 * the token's max */
    for (uint32_t tok = 0; tok < t.n_tokens; tok++) {
        uint32_t n;
        lf_trace_ids(&t, 2, tok, &n);
        const float *v = t.layers[2].value + t.layers[2].indptr[tok];
        float mx = 0;
        for (uint32_t k = 0; k < n; k++)
            mx = v[k] > mx ? v[k] : mx;
        for (uint32_t k = 0; k < n; k++)
            assert_true(v[k] >= 0.1f * mx * 0.9999f);
    }
    lf_trace_free(&t);
    char *e;
    assert_int_equal(lf_test_run(NULL, &e, "trace record --checkpoint %s --tokenizer %s "
                                 "--steps 4 --threshold 2 --relative -o %s", ck, tk, out), 2);
    free(e);
    /* --model: a known name of another shape, or an empty one, is refused before recording */
    remove(out);
    lf_test_expect(1, "--model opt-1.3b is 24 layers", "trace record --checkpoint %s "
                   "--tokenizer %s --steps 2 --threshold 0.1 --model opt-1.3b -o %s", ck, tk, out);
    lf_test_expect(1, "--model is empty", "trace record --checkpoint %s --tokenizer %s --steps 2 "
                   "--threshold 0.1 --model '' -o %s", ck, tk, out);
    assert_false(lf_file_exists(out));
}

/* ---- predictor ---- */

static void test_lowrank_by_hand(void **st)
{
    (void)st;
    /* W1 = [1 2; 2 4; 3 6] has rank 1; W3 = [1 0; 0 1; 1 1]. At x = (1, 1):
     * g = (3, 6, 9), u = (1, 1, 2), h = silu(g) * u. */
    const float w1[6] = {1, 2, 2, 4, 3, 6}, w3[6] = {1, 0, 0, 1, 1, 1}, x[2] = {1, 1};
    lf_lowrank p;
    lf_err err;
    float s[3];
    assert_int_equal(lf_lowrank_from_weights(&p, w1, w3, 2, 3, 2, &err), LF_OK);
    lf_lowrank_score(&p, x, s);
    double g[3] = {3, 6, 9}, u[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++)
        assert_true(fabs(s[i] - g[i] / (1 + exp(-g[i])) * u[i]) < 1e-5);
    assert_int_equal(lf_lowrank_params(&p), 2 * 2 * (3 + 2));
    lf_lowrank_free(&p);
    assert_int_equal(lf_lowrank_from_weights(&p, w1, w3, 2, 3, 3, &err), LF_EINVAL);
    /* lsq: |h| = (1 + x0, 2 + 3 x1) exactly on a grid; the fit recovers it */
    float xs[18], hs[18];
    for (int i = 0; i < 9; i++) {
        xs[2 * i] = (float)(i % 3);
        xs[2 * i + 1] = (float)(i / 3);
        hs[2 * i] = 1 + xs[2 * i];
        hs[2 * i + 1] = -(2 + 3 * xs[2 * i + 1]); /* the fit targets |h| */
    }
    assert_int_equal(lf_lowrank_fit(&p, xs, hs, 9, 2, 2, 2, 0.0, &err), LF_OK);
    const float xq[2] = {5, 7};
    lf_lowrank_score(&p, xq, s);
    assert_true(fabs(s[0] - 6.0) < 1e-4 && fabs(s[1] - 23.0) < 1e-4);
    lf_lowrank_free(&p);
}

static void test_predict_cli(void **st)
{
    (void)st;
    const char *ck = lf_test_shared("stories260K.bin"), *tk = lf_test_shared("tok512.bin");
    if (!ck || !tk)
        skip();
    const char *rec = lf_test_path("prec.h5"), *out = lf_test_path("pred.h5");
    assert_int_equal(lf_test_run(NULL, NULL, "trace record --checkpoint %s --tokenizer %s "
                                 "--steps 200 --threshold 0.1 --relative -o %s", ck, tk, rec), 0);
    char *so;
    assert_int_equal(lf_test_run(&so, NULL, "trace predict --checkpoint %s --trace %s "
                                 "--rank 64,4 -o %s", ck, rec, out), 0);
    /* rank 64 = d_model: the SVD is exact, the predicted sets are the recorded ones */
    for (int l = 0; l < 5; l++) {
        char row[64];
        snprintf(row, sizeof row, "svd,64,%d,200,", l);
        char *r = strstr(so, row);
        assert_non_null(r);
        double tm, pm, rc, pr;
        assert_int_equal(sscanf(r + strlen(row), "%lf,%lf,%lf,%lf", &tm, &pm, &rc, &pr), 4);
        assert_true(rc == 1.0 && pr == 1.0);
        snprintf(row, sizeof row, "svd,4,%d,200,", l);
        r = strstr(so, row);
        assert_non_null(r);
        assert_int_equal(sscanf(r + strlen(row), "%lf,%lf,%lf,%lf", &tm, &pm, &rc, &pr), 4);
        assert_true(rc < 0.9 && pr < 0.9); /* rank 4 makes real errors */
    }
    free(so);
    lf_trace t, r0;
    lf_err err;
    assert_int_equal(lf_trace_read(out, &t, &err), LF_OK);
    assert_int_equal(lf_trace_read(rec, &r0, &err), LF_OK);
    for (uint32_t l = 0; l < t.n_layers; l++) { /* written: rank 64 (the first listed) */
        assert_non_null(t.layers[l].pred_indptr);
        assert_int_equal(t.layers[l].pred_nnz, r0.layers[l].nnz);
        assert_memory_equal(t.layers[l].pred_index, r0.layers[l].index,
                            r0.layers[l].nnz * sizeof(uint32_t));
    }
    assert_non_null(strstr(t.generator, "predictor=svd predictor_rank=64"));
    lf_trace_free(&t);
    lf_trace_free(&r0);
    /* lsq, top-n selection: recall = precision */
    assert_int_equal(lf_test_run(&so, NULL, "trace predict --checkpoint %s --trace %s "
                                 "--rank 16 --method lsq --select count", ck, rec), 0);
    char *r = strstr(so, "lsq,16,0,200,");
    assert_non_null(r);
    double tm, pm, rc, pr;
    assert_int_equal(sscanf(r + 13, "%lf,%lf,%lf,%lf", &tm, &pm, &rc, &pr), 4);
    assert_true(tm == pm && rc == pr && rc > 0.0 && rc < 1.0);
    free(so);
    /* a trace from another checkpoint (values changed) is refused */
    assert_int_equal(lf_trace_read(rec, &t, &err), LF_OK);
    t.layers[1].value[3] *= 2.0f;
    assert_int_equal(lf_trace_write(&t, rec, &err), LF_OK);
    lf_trace_free(&t);
    char *e;
    assert_int_equal(lf_test_run(NULL, &e, "trace predict --checkpoint %s --trace %s --rank 4",
                                 ck, rec), 1);
    assert_non_null(strstr(e, "was not recorded from this checkpoint"));
    free(e);
    /* a rank the model cannot have is refused before anything is printed */
    char *o;
    assert_int_equal(lf_test_run(&o, &e, "trace predict --checkpoint %s --trace %s --rank 4,99999",
                                 ck, rec), 1);
    assert_non_null(strstr(e, "--rank 99999"));
    assert_string_equal(o, "");
    free(o), free(e);
}

/* ---- streaming the FFN ---- */

/* weights make --checkpoint stores each neuron's gate, up and down vectors in fp32. */
static void test_weights_from_checkpoint(void **st)
{
    (void)st;
    lf_llama m;
    if (!load(&m, NULL))
        skip();
    const char *wp = lf_test_path("s260k.w");
    char *e;
    assert_int_equal(lf_test_run(NULL, &e, "weights make --checkpoint %s --file %s --layout split",
                                 m.path, wp), 0);
    free(e);
    lf_weights w;
    lf_err err;
    assert_int_equal(lf_weights_open(wp, &w, &err), LF_OK);
    assert_string_equal(w.h.model, "stories260k");
    assert_int_equal(w.h.act, LF_ACT_SWIGLU);
    assert_int_equal(w.h.dtype, LF_DTYPE_FP32);
    assert_int_equal(w.h.vectors, 3);
    assert_int_equal(w.h.units, 172);
    FILE *f = fopen(wp, "rb");
    assert_non_null(f);
    const uint32_t layer = 3, unit = 101;
    lf_extent_vec ev = {0};
    assert_int_equal(lf_layout_extents(&w.layout, layer, &unit, 1, &ev, &err), LF_OK);
    assert_int_equal(ev.n, 3); /* split: gate, up, down records */
    lf_llama_ffn ffn;
    lf_llama_ffn_weights(&m, layer, &ffn);
    for (size_t k = 0; k < ev.n; k++) {
        float v[64];
        assert_int_equal(fseek(f, (long)ev.v[k].offset, SEEK_SET), 0);
        assert_int_equal(fread(v, sizeof(float), 64, f), 64);
        for (uint32_t i = 0; i < 64; i++) {
            float want = ev.v[k].part == 0   ? ffn.w1[unit * 64 + i]
                         : ev.v[k].part == 1 ? ffn.w3[unit * 64 + i]
                                             : ffn.w2[i * 172 + unit];
            assert_true(v[i] == want);
        }
    }
    fclose(f);
    lf_extent_vec_free(&ev);
    lf_weights_close(&w);
    lf_llama_close(&m);
}

static void parse_stream(const char *out, double *share, double *logit, double *sparsity,
                         double *bytes)
{
    const char *p = strstr(out, "stream: positions=");
    assert_non_null(p);
    assert_non_null(strstr(p, "share="));
    *share = atof(strstr(p, "share=") + 6);
    *logit = atof(strstr(p, "mean_abs_logit_diff=") + 20);
    *sparsity = atof(strstr(p, "sparsity=") + 9);
    *bytes = atof(strstr(p, "bytes_read=") + 11);
}

/* Threshold 0 streams every neuron: the tokens are the dense (reference) ones. */
static void test_streamed_generation(void **st)
{
    (void)st;
    const char *ck = lf_test_shared("stories260K.bin"), *tk = lf_test_shared("tok512.bin");
    if (!ck || !tk)
        skip();
    const char *wp = lf_test_path("s260k_b.w");
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --checkpoint %s --file %s", ck, wp), 0);
    fixture f;
    read_fixture("tests/fixtures/s260k_greedy_ids.txt", &f);
    char *out;
    assert_int_equal(lf_test_run(&out, NULL, "generate --checkpoint %s --tokenizer %s --prompt "
                                 "'%s' --steps %u --print-ids --weights %s --engine buffered",
                                 ck, tk, f.prompt, f.steps, wp), 0);
    char want[8192] = "";
    for (uint32_t k = 0; k < f.n; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), k ? " %d" : "%d", f.ids[k]);
    strcat(want, "\n");
    assert_memory_equal(out, want, strlen(want));
    assert_non_null(strstr(out, "identical=256 share=1.0000 first_diff=256"));
    double share, logit, sparsity, bytes0, bytes;
    parse_stream(out, &share, &logit, &sparsity, &bytes0);
    assert_true(sparsity == 0.0 && logit < 1e-3);
    free(out);
    /* the budget in bytes: too small, the error asks for bytes; enough, the same tokens */
    lf_test_expect(1, "give --dram-bytes 376832 or more", "generate --checkpoint %s --tokenizer "
                   "%s --steps 8 --weights %s --engine buffered --dram-bytes 64k", ck, tk, wp);
    assert_int_equal(lf_test_run(&out, NULL, "generate --checkpoint %s --tokenizer %s --prompt "
                                 "'%s' --steps %u --print-ids --weights %s --engine buffered "
                                 "--dram-bytes 8m", ck, tk, f.prompt, f.steps, wp), 0);
    assert_memory_equal(out, want, strlen(want));
    free(out);
    /* a relative threshold of 0.1: about 70% of the neurons are skipped; the streamed
     * model then departs from the dense one somewhat */
    assert_int_equal(lf_test_run(&out, NULL, "generate --checkpoint %s --tokenizer %s --prompt "
                                 "'%s' --steps 128 --weights %s --engine buffered --threshold 0.1 "
                                 "--relative --policy window:k=2",
                                 ck, tk, f.prompt, wp), 0);
    parse_stream(out, &share, &logit, &sparsity, &bytes);
    assert_true(sparsity > 0.6 && sparsity < 0.8);
    assert_true(share > 0.5 && share < 1.0);
    assert_true(logit > 1e-3);
    free(out);
    /* the exact (rank 64 = d_model) SVD predictor loads the rule's own sets: the same run */
    char *o2;
    assert_int_equal(lf_test_run(&o2, NULL, "generate --checkpoint %s --tokenizer %s --prompt "
                                 "'%s' --steps 128 --weights %s --engine buffered --threshold 0.1 "
                                 "--relative --policy window:k=2,capacity=172 --predictor-rank 64",
                                 ck, tk, f.prompt, wp), 0);
    assert_non_null(strstr(o2, "predictor_recall=1.0000 predictor_precision=1.0000"));
    out = NULL;
    assert_int_equal(lf_test_run(&out, NULL, "generate --checkpoint %s --tokenizer %s --prompt "
                                 "'%s' --steps 128 --weights %s --engine buffered --threshold 0.1 "
                                 "--relative --policy window:k=2,capacity=172", ck, tk, f.prompt,
                                 wp), 0);
    const char *a = strstr(out, "stream: positions="), *b = strstr(o2, "stream: positions=");
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a, b, strcspn(a, "\n"));
    free(out);
    free(o2);
    /* rank 8 makes real errors */
    assert_int_equal(lf_test_run(&out, NULL, "generate --checkpoint %s --tokenizer %s --prompt "
                                 "'%s' --steps 64 --weights %s --engine buffered --threshold 0.1 "
                                 "--relative --policy window:k=2,capacity=172 --predictor-rank 8",
                                 ck, tk, f.prompt, wp), 0);
    double rec = atof(strstr(out, "predictor_recall=") + 17);
    assert_true(rec > 0.2 && rec < 0.9);
    free(out);
    /* a weights file made from another checkpoint of the same shape is refused */
    lf_llama m;
    lf_err err;
    assert_int_equal(lf_llama_open(&m, ck, &err), LF_OK);
    lf_llama_ffn ffn;
    lf_llama_ffn_weights(&m, 4, &ffn);
    size_t at = (size_t)((const char *)ffn.w1 - (const char *)m.map); /* layer 4, neuron 0 */
    const char *other = lf_test_path("other.bin"), *ow = lf_test_path("other.w");
    copy_prefix(ck, other, CKPT_BYTES, 0);
    FILE *fo = fopen(other, "r+b");
    assert_non_null(fo);
    float v = ffn.w1[3] + 0.5f;
    assert_int_equal(fseek(fo, (long)(at + 3 * sizeof(float)), SEEK_SET), 0);
    assert_int_equal(fwrite(&v, sizeof v, 1, fo), 1);
    assert_int_equal(fclose(fo), 0);
    lf_llama_close(&m);
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --checkpoint %s --file %s", other, ow), 0);
    char *e;
    assert_int_equal(lf_test_run(NULL, &e, "generate --checkpoint %s --tokenizer %s --steps 8 "
                                 "--weights %s --engine buffered", ck, tk, ow), 1);
    assert_non_null(strstr(e, "vector 0 element 3"));
    free(e);
    /* a weights file of pseudo-random values is refused */
    const char *rp = lf_test_path("random.w");
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model stories260k --dtype fp32 "
                                 "--file %s", rp), 0);
    assert_int_equal(lf_test_run(NULL, &e, "generate --checkpoint %s --tokenizer %s --steps 8 "
                                 "--weights %s --engine buffered", ck, tk, rp), 1);
    assert_non_null(strstr(e, "pseudo-random"));
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_greedy_equals_reference),
        cmocka_unit_test(test_version1_export),
        cmocka_unit_test(test_size_mismatch_refused),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_select_rule),
        cmocka_unit_test(test_record_sparsity),
        cmocka_unit_test(test_record_cli),
        cmocka_unit_test(test_lowrank_by_hand),
        cmocka_unit_test(test_predict_cli),
        cmocka_unit_test(test_weights_from_checkpoint),
        cmocka_unit_test(test_streamed_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
