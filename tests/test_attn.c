/* Tests of the executor's resident part (bench/lf_attn): the attention block against a
 * dense double-precision reference for multi-head, grouped-query and multi-query head
 * layouts, the KV cache in order (and in memory before the first token), the output
 * head's argmax. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lf_attn.h"
#include "lf_test.h"

#define MAXD 256

/* One layer at position pos, in double, with its own cache (kc/vc: [pos][kv_dim]). */
static void reference(const lf_attn *a, const lf_model *m, uint32_t layer, uint32_t pos,
                      const float *x, double *kc, double *vc, double *out)
{
    uint32_t d = m->d_model, qd = lf_model_q_dim(m), kvd = lf_model_kv_dim(m), hd = m->head_dim;
    uint32_t group = m->n_heads / m->n_kv_heads;
    double ss = 0, h[MAXD], q[MAXD], att[MAXD];
    for (uint32_t i = 0; i < d; i++)
        ss += (double)x[i] * x[i];
    for (uint32_t i = 0; i < d; i++)
        h[i] = x[i] / sqrt(ss / d + 1e-6);
    for (uint32_t r = 0; r < qd; r++) {
        q[r] = 0;
        for (uint32_t c = 0; c < d; c++)
            q[r] += lf_attn_weight(a, layer, 0, r, c) * h[c];
    }
    for (uint32_t r = 0; r < kvd; r++) {
        double k = 0, v = 0;
        for (uint32_t c = 0; c < d; c++) {
            k += lf_attn_weight(a, layer, 1, r, c) * h[c];
            v += lf_attn_weight(a, layer, 2, r, c) * h[c];
        }
        kc[(size_t)pos * kvd + r] = k;
        vc[(size_t)pos * kvd + r] = v;
    }
    for (uint32_t hh = 0; hh < m->n_heads; hh++) {
        uint32_t g = (hh / group) * hd;
        double p[64], mx = -INFINITY, sum = 0;
        for (uint32_t t = 0; t <= pos; t++) {
            double s = 0;
            for (uint32_t i = 0; i < hd; i++)
                s += q[hh * hd + i] * kc[(size_t)t * kvd + g + i];
            p[t] = s / sqrt((double)hd);
            mx = fmax(mx, p[t]);
        }
        for (uint32_t t = 0; t <= pos; t++)
            sum += (p[t] = exp(p[t] - mx));
        for (uint32_t i = 0; i < hd; i++) {
            att[hh * hd + i] = 0;
            for (uint32_t t = 0; t <= pos; t++)
                att[hh * hd + i] += p[t] / sum * vc[(size_t)t * kvd + g + i];
        }
    }
    for (uint32_t r = 0; r < d; r++) {
        double o = 0;
        for (uint32_t c = 0; c < qd; c++)
            o += lf_attn_weight(a, layer, 3, r, c) * att[c];
        out[r] = x[r] + o;
    }
}

static void check_shape(const char *name, lf_dtype dt)
{
    lf_err err;
    lf_model m;
    assert_int_equal(lf_model_lookup(name, &m, &err), LF_OK);
    const uint32_t L = 2, P = 6, d = m.d_model;
    lf_attn *a;
    lf_attn_cfg cfg = {&m, dt, L, P, 7};
    assert_int_equal(lf_attn_create(&cfg, &a, &err), LF_OK);
    double *kc = calloc((size_t)L * P * MAXD, sizeof *kc), *vc = calloc((size_t)L * P * MAXD, sizeof *vc);
    float x[MAXD], before[MAXD];
    double ref[MAXD], worst = 0, moved = 0;
    for (uint32_t pos = 0; pos < P; pos++) {
        assert_int_equal(lf_attn_begin(a, pos, x, &err), LF_OK);
        for (uint32_t l = 0; l < L; l++) {
            memcpy(before, x, sizeof(float) * d);
            assert_int_equal(lf_attn_layer(a, l, pos, x, &err), LF_OK);
            reference(a, &m, l, pos, before, kc + (size_t)l * P * MAXD, vc + (size_t)l * P * MAXD, ref);
            for (uint32_t i = 0; i < d; i++) {
                worst = fmax(worst, fabs(ref[i] - x[i]) / (1.0 + fabs(ref[i])));
                moved = fmax(moved, fabs(x[i] - before[i]));
            }
            /* the cache holds this position's key and value */
            const float *k = lf_attn_cached(a, l, 0, pos);
            for (uint32_t i = 0; i < lf_model_kv_dim(&m); i++)
                assert_true(fabs(k[i] - kc[(size_t)l * P * MAXD + (size_t)pos * lf_model_kv_dim(&m) + i]) < 1e-4);
        }
        lf_attn_end(a, x);
        assert_true(lf_attn_next_id(a) < m.vocab || m.vocab == 0);
    }
    if (worst > 1e-4)
        fail_msg("%s (%s): attention differs from the dense reference by %g", name,
                 lf_dtype_name(dt), worst);
    assert_true(moved > 1e-3); /* the block did something */
    /* out of order: a position skipped */
    assert_int_equal(lf_attn_layer(a, 0, P - 1, x, &err), LF_ERANGE);
    assert_int_equal(lf_attn_begin(a, P, x, &err), LF_ERANGE);
    free(kc);
    free(vc);
    lf_attn_free(a);
}

static void test_multi_head(void **st)
{
    (void)st;
    check_shape("custom:2,64,256,heads=4,vocab=50", LF_DTYPE_FP32);
    check_shape("custom:2,64,256,heads=4", LF_DTYPE_FP16);
}

static void test_grouped_and_multi_query(void **st)
{
    (void)st;
    check_shape("custom:2,64,256,heads=8,kv=2,vocab=50", LF_DTYPE_FP16);
    check_shape("custom:2,128,256,heads=16,kv=1", LF_DTYPE_FP32); /* multi-query, as Falcon */
    check_shape("stories260k", LF_DTYPE_FP32);                     /* a known GQA shape */
}

static void test_bytes_follow_the_head_layout(void **st)
{
    (void)st;
    lf_err err;
    lf_model mha, mqa;
    assert_int_equal(lf_model_lookup("custom:2,128,256,heads=16", &mha, &err), LF_OK);
    assert_int_equal(lf_model_lookup("custom:2,128,256,heads=16,kv=1", &mqa, &err), LF_OK);
    lf_attn *a, *b;
    lf_attn_cfg ca = {&mha, LF_DTYPE_FP16, 2, 4, 1}, cb = {&mqa, LF_DTYPE_FP16, 2, 4, 1};
    assert_int_equal(lf_attn_create(&ca, &a, &err), LF_OK);
    assert_int_equal(lf_attn_create(&cb, &b, &err), LF_OK);
    /* the executor holds exactly the bytes the model prices */
    assert_int_equal(lf_attn_weight_bytes(a), lf_model_attention_bytes(&mha, 2));
    assert_int_equal(lf_attn_weight_bytes(b), lf_model_attention_bytes(&mqa, 2));
    assert_int_equal(lf_attn_cache_bytes(b) * 16, lf_attn_cache_bytes(a));
    lf_attn_free(a);
    lf_attn_free(b);
    lf_attn_cfg bad = {&mha, LF_DTYPE_FP16, 3, 4, 1};
    assert_int_equal(lf_attn_create(&bad, &a, &err), LF_EINVAL);
}

/* Pages of [p, p + bytes) not in memory (mincore). */
static size_t pages_absent(const void *p, size_t bytes)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / pg * pg, end = (uintptr_t)p + bytes;
    size_t n = (end - a + pg - 1) / pg, absent = 0;
    unsigned char *v = malloc(n);
    assert_non_null(v);
    assert_int_equal(mincore((void *)a, end - a, v), 0);
    for (size_t i = 0; i < n; i++)
        absent += !(v[i] & 1);
    free(v);
    return absent;
}

/* The KV cache is in memory once the block is made: a first token must not pay for its
 * page faults (on a VM, up to 8 ms of a cold token that the model does not price). */
static void test_cache_resident_before_the_first_token(void **st)
{
    (void)st;
    lf_err err;
    lf_model m;
    /* 4 layers x 512 positions x 1024 floats = 8 MiB per cache: huge pages (lf_bigmem) */
    assert_int_equal(lf_model_lookup("custom:4,1024,2048,heads=8", &m, &err), LF_OK);
    lf_attn *a;
    lf_attn_cfg cfg = {&m, LF_DTYPE_FP16, 4, 512, 3};
    assert_int_equal(lf_attn_create(&cfg, &a, &err), LF_OK);
    uint32_t kvd = lf_model_kv_dim(&m);
    for (int v = 0; v <= 1; v++) {
        const float *first = lf_attn_cached(a, 0, v, 0), *last = lf_attn_cached(a, 3, v, 511);
        size_t bytes = (size_t)(last - first + kvd) * sizeof(float);
        assert_int_equal(bytes * 2, lf_attn_cache_bytes(a));
        assert_int_equal(pages_absent(first, bytes), 0);
    }
    lf_attn_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_head),
        cmocka_unit_test(test_grouped_and_multi_query),
        cmocka_unit_test(test_bytes_follow_the_head_layout),
        cmocka_unit_test(test_cache_resident_before_the_first_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
