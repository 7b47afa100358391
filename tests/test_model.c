/* Tests of model shapes: names, custom shapes, derived sizes worked out by hand. */
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
    /* a bundled OPT-6.7B neuron in fp32: 2 * 4096 * 4 = 32 KiB (docs/DESIGN.md) */
    assert_int_equal(lf_model_unit_bytes(&m, 4), 32768);
    /* FFN in fp16: 32 layers * 16384 * 2 * 4096 * 2 bytes */
    assert_int_equal(lf_model_ffn_bytes(&m, 2), 32ull * 16384 * 2 * 4096 * 2);
    /* attention is about a third of the model (docs/DESIGN.md: 32.3%) */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_shapes_and_sizes),
        cmocka_unit_test(test_custom_and_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
