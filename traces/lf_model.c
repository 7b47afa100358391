#include "lf_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Shapes from docs/DESIGN.md section 1 and the models' published configs. */
static const lf_model known[] = {
    {"opt-6.7b", LF_UNITS_NEURONS, LF_ACT_RELU, 32, 4096, 16384, 0, 0, 50272, 4096, 0.97},
    {"opt-1.3b", LF_UNITS_NEURONS, LF_ACT_RELU, 24, 2048, 8192, 0, 0, 50272, 2048, 0.97},
    {"falcon-7b", LF_UNITS_NEURONS, LF_ACT_RELU, 32, 4544, 18176, 0, 0, 65024, 64, 0.95},
    {"persimmon-8b", LF_UNITS_NEURONS, LF_ACT_RELU, 36, 4096, 16384, 0, 0, 262144, 4096, 0.90},
    {"phi-2", LF_UNITS_NEURONS, LF_ACT_RELU, 32, 2560, 10240, 0, 0, 51200, 2560, 0.90},
    {"llama2-7b", LF_UNITS_NEURONS, LF_ACT_SWIGLU, 32, 4096, 11008, 0, 0, 32000, 4096, 0.90},
    /* llama2.c's stories260K (../shared/data): a real checkpoint llmflash runs and records;
     * sparsity 0.70 = measured by `trace record` at relative threshold 0.1 (llama/README.md) */
    {"stories260k", LF_UNITS_NEURONS, LF_ACT_SWIGLU, 5, 64, 172, 0, 0, 512, 32, 0.70},
    /* MoE shapes: expert d_ff is the width of one expert. */
    {"qwen3.5-397b-a17b", LF_UNITS_EXPERTS, LF_ACT_SWIGLU, 60, 4096, 1024, 512, 4, 248320, 512, 0},
    {"mixtral-8x7b", LF_UNITS_EXPERTS, LF_ACT_SWIGLU, 32, 4096, 14336, 8, 2, 32000, 1024, 0},
    {"qwen1.5-moe-a2.7b", LF_UNITS_EXPERTS, LF_ACT_SWIGLU, 24, 2048, 1408, 60, 4, 151936, 2048, 0},
    {"olmoe-1b-7b", LF_UNITS_EXPERTS, LF_ACT_SWIGLU, 16, 2048, 1024, 64, 8, 50304, 2048, 0},
};

const char *lf_model_names(void)
{
    return "opt-6.7b, opt-1.3b, falcon-7b, persimmon-8b, phi-2, llama2-7b, stories260k, "
           "qwen3.5-397b-a17b, "
           "mixtral-8x7b, qwen1.5-moe-a2.7b, olmoe-1b-7b, custom:LAYERS,DMODEL,DFF[,relu|swiglu]";
}

static int parse_custom(const char *spec, lf_model *out, lf_err *err)
{
    unsigned long layers, dmodel, dff;
    char act[16] = "relu";
    int used = 0;
    int n = sscanf(spec, "%lu,%lu,%lu%n", &layers, &dmodel, &dff, &used);
    if (n == 3 && spec[used] == ',') {
        if (sscanf(spec + used + 1, "%15s", act) != 1)
            n = 0;
    } else if (n == 3 && spec[used] != '\0') {
        n = 0;
    }
    int act_ok = strcasecmp(act, "relu") == 0 || strcasecmp(act, "swiglu") == 0;
    if (n != 3 || !act_ok || layers == 0 || dmodel == 0 || dff == 0 || layers > 4096 ||
        dmodel > (1u << 20) || dff > (1u << 24))
        return lf_fail(err, LF_EINVAL,
                       "model 'custom:%s': expected custom:LAYERS,DMODEL,DFF[,relu|swiglu] with "
                       "LAYERS in 1..4096, DMODEL in 1..1048576, DFF in 1..16777216 (example: "
                       "custom:2,64,256)",
                       spec);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "custom:%lu,%lu,%lu%s", layers, dmodel, dff,
             strcasecmp(act, "swiglu") == 0 ? ",swiglu" : "");
    out->kind = LF_UNITS_NEURONS;
    out->act = strcasecmp(act, "swiglu") == 0 ? LF_ACT_SWIGLU : LF_ACT_RELU;
    out->n_layers = (uint32_t)layers;
    out->d_model = (uint32_t)dmodel;
    out->d_ff = (uint32_t)dff;
    out->vocab = 0;
    out->kv_dim = (uint32_t)dmodel;
    out->default_sparsity = 0.90;
    return LF_OK;
}

int lf_model_lookup(const char *name, lf_model *out, lf_err *err)
{
    if (!name)
        return lf_fail(err, LF_EINVAL, "no model name given (known: %s)", lf_model_names());
    if (strncasecmp(name, "custom:", 7) == 0)
        return parse_custom(name + 7, out, err);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcasecmp(known[i].name, name) == 0) {
            *out = known[i];
            return LF_OK;
        }
    }
    return lf_fail(err, LF_EINVAL, "unknown model '%s' (known: %s)", name, lf_model_names());
}

uint32_t lf_model_units(const lf_model *m)
{
    return m->kind == LF_UNITS_EXPERTS ? m->n_experts : m->d_ff;
}

uint32_t lf_model_vectors_per_neuron(const lf_model *m)
{
    return m->act == LF_ACT_SWIGLU ? 3 : 2;
}

uint64_t lf_model_unit_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    uint64_t vec = (uint64_t)m->d_model * dtype_bytes * lf_model_vectors_per_neuron(m);
    return m->kind == LF_UNITS_EXPERTS ? vec * m->d_ff : vec;
}

uint64_t lf_model_ffn_layer_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_unit_bytes(m, dtype_bytes) * lf_model_units(m);
}

uint64_t lf_model_ffn_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_ffn_layer_bytes(m, dtype_bytes) * m->n_layers;
}

uint64_t lf_model_attention_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    /* Q and O are d_model x d_model; K and V are d_model x kv_dim. */
    uint64_t per_layer = 2ull * m->d_model * m->d_model + 2ull * m->d_model * m->kv_dim;
    return per_layer * m->n_layers * dtype_bytes;
}

uint64_t lf_model_embedding_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return (uint64_t)m->vocab * m->d_model * dtype_bytes;
}

uint64_t lf_model_predictor_bytes(const lf_model *m, uint32_t dtype_bytes, uint32_t rank)
{
    uint64_t per_layer = (uint64_t)rank * (m->d_model + lf_model_units(m));
    return per_layer * m->n_layers * dtype_bytes;
}

uint64_t lf_model_total_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_ffn_bytes(m, dtype_bytes) + lf_model_attention_bytes(m, dtype_bytes) +
           lf_model_embedding_bytes(m, dtype_bytes);
}
