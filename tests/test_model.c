/* Tests of model shapes: names, custom shapes, derived sizes worked out by hand. */
#include <math.h>
#include <string.h>

#include "lf_model.h"
#include "lf_test.h"

static void test_known_shapes_and_sizes(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("opt-6.7b", &m, &err), LF_OK);
    assert_int_equal(m.n_layers, 32);
    assert_int_equal(lf_model_units(&m), 16384);
    /* a bundled OPT-6.7B neuron in fp32: 2 * 4096 * 4 = 32 KiB (DESIGN.md) */
    assert_int_equal(lf_model_unit_bytes(&m, 4), 32768);
    /* FFN in fp16: 32 layers * 16384 * 2 * 4096 * 2 bytes */
    assert_int_equal(lf_model_ffn_bytes(&m, 2), 32ull * 16384 * 2 * 4096 * 2);
    /* attention is about a third of the model (DESIGN.md: 32.3%) */
    double share = (double)lf_model_attention_bytes(&m, 2) / (double)lf_model_total_bytes(&m, 2);
    assert_true(share > 0.30 && share < 0.34);

    assert_int_equal(lf_model_lookup("LLAMA2-7B", &m, &err), LF_OK);
    assert_int_equal(lf_model_vectors_per_neuron(&m), 3);
    assert_int_equal(lf_model_lookup("mixtral-8x7b", &m, &err), LF_OK);
    assert_int_equal(m.kind, LF_UNITS_EXPERTS);
    assert_int_equal(lf_model_units(&m), 8);
    assert_int_equal(lf_model_unit_bytes(&m, 2), 3ull * 4096 * 14336 * 2);
}

static void test_custom_and_unknown(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    assert_int_equal(lf_model_lookup("custom:2,64,256", &m, &err), LF_OK);
    assert_int_equal(m.n_layers, 2);
    assert_int_equal(m.d_model, 64);
    assert_int_equal(m.d_ff, 256);
    assert_int_equal(m.act, LF_ACT_RELU);
    assert_int_equal(lf_model_lookup("custom:5,64,172,swiglu", &m, &err), LF_OK);
    assert_int_equal(m.act, LF_ACT_SWIGLU);
    assert_int_equal(lf_model_lookup("custom:2,64", &m, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "custom:LAYERS,DMODEL,DFF"));
    assert_int_equal(lf_model_lookup("custom:0,64,256", &m, &err), LF_EINVAL);
    assert_int_equal(lf_model_lookup("custom:2,64,256x", &m, &err), LF_EINVAL);
    /* a shape beyond the limits says which limits */
    assert_int_equal(lf_model_lookup("custom:5000,64,256", &m, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "1..4096"));
    assert_int_equal(lf_model_lookup("gpt-5", &m, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown model 'gpt-5'"));
    assert_non_null(strstr(err.msg, "opt-6.7b"));
}

/* Every known shape's parameters (FFN + attention from its head layout + embeddings)
 * within 2% of the published count: a wrong head layout (Falcon's multi-query attention
 * priced as four d x d matrices is +4%) or a missing untied output head fails this. */
static void test_published_parameter_counts(void **st)
{
    (void)st;
    assert_true(lf_model_count() >= 12);
    for (uint32_t i = 0; i < lf_model_count(); i++) {
        const lf_model *m = lf_model_at(i);
        assert_true(m->published_params > 0);
        double rel = lf_model_params(m) / m->published_params - 1.0;
        if (fabs(rel) > 0.02)
            fail_msg("%s: %.4g parameters, published %.4g (%+.2f%%)", m->name,
                     lf_model_params(m), m->published_params, 100 * rel);
        /* the heads tile the query width, and the key/value heads group the query heads */
        assert_true(m->n_heads > 0 && m->n_kv_heads > 0 && m->n_heads % m->n_kv_heads == 0);
    }
    assert_null(lf_model_at(lf_model_count()));
}

static void test_head_layouts(void **st)
{
    (void)st;
    lf_model m;
    lf_err err;
    /* Falcon-7B: multi-query; K and V are one head of 64 wide */
    assert_int_equal(lf_model_lookup("falcon-7b", &m, &err), LF_OK);
    assert_int_equal(lf_model_kv_dim(&m), 64);
    assert_int_equal(lf_model_q_dim(&m), 4544);
    assert_int_equal(lf_model_attention_layer_bytes(&m, 2), (2ull * 4544 * 4544 + 2ull * 4544 * 64) * 2);
    /* fp16 Falcon-7B is about 13.8 GB, not the 17.6 GB of four d x d matrices per layer */
    assert_true(lf_model_total_bytes(&m, 2) > 13.7e9 && lf_model_total_bytes(&m, 2) < 14.0e9);
    /* Llama-3-8B: grouped-query, 8 key/value heads of 128, untied output head */
    assert_int_equal(lf_model_lookup("llama3-8b", &m, &err), LF_OK);
    assert_int_equal(lf_model_kv_dim(&m), 1024);
    assert_int_equal(lf_model_embedding_bytes(&m, 2), 2ull * 128256 * 4096 * 2);
    assert_int_equal(lf_model_head_bytes(&m, 2), 128256ull * 4096 * 2);
    /* custom shapes: head options, canonical names that look up to the same shape */
    assert_int_equal(lf_model_lookup("custom:6,4544,18176,heads=71,kv=1", &m, &err), LF_OK);
    assert_int_equal(m.head_dim, 64);
    assert_int_equal(lf_model_kv_dim(&m), 64);
    lf_model again;
    assert_int_equal(lf_model_lookup(m.name, &again, &err), LF_OK);
    assert_int_equal(again.n_kv_heads, 1);
    assert_int_equal(again.n_heads, 71);
    assert_int_equal(lf_model_lookup("custom:2,64,256", &m, &err), LF_OK);
    assert_string_equal(m.name, "custom:2,64,256");
    assert_int_equal(m.n_heads, 1);
    assert_int_equal(m.head_dim, 64);
    assert_int_equal(lf_model_lookup("custom:2,64,256,swiglu,heads=8,kv=2,vocab=100", &m, &err),
                     LF_OK);
    assert_string_equal(m.name, "custom:2,64,256,swiglu,heads=8,kv=2,vocab=100");
    assert_int_equal(m.vocab, 100);
    assert_int_equal(lf_model_kv_dim(&m), 16);
    /* heads that do not divide, kv that does not group */
    assert_int_equal(lf_model_lookup("custom:2,64,256,heads=7", &m, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "kv=1"));
    assert_int_equal(lf_model_lookup("custom:2,64,256,heads=8,kv=3", &m, &err), LF_EINVAL);
    assert_int_equal(lf_model_lookup("custom:2,64,256,heads=", &m, &err), LF_EINVAL);
    assert_int_equal(lf_model_lookup("custom:2,64,256,bogus=1", &m, &err), LF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_shapes_and_sizes),
        cmocka_unit_test(test_custom_and_unknown),
        cmocka_unit_test(test_published_parameter_counts),
        cmocka_unit_test(test_head_layouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
