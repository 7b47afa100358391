#include "lf_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DENSE(nm, act_, L, D, F, V, H, KV, HD, TIED, SP, PUB)                                     \
    {.name = nm, .kind = LF_UNITS_NEURONS, .act = act_, .n_layers = L, .d_model = D, .d_ff = F,   \
     .vocab = V, .n_heads = H, .n_kv_heads = KV, .head_dim = HD, .tied_embeddings = TIED,         \
     .default_sparsity = SP, .published_params = PUB}
#define MOE(nm, L, D, F, E, K, V, H, KV, HD, SH, PUB)                                             \
    {.name = nm, .kind = LF_UNITS_EXPERTS, .act = LF_ACT_SWIGLU, .n_layers = L, .d_model = D,     \
     .d_ff = F, .n_experts = E, .top_k = K, .vocab = V, .n_heads = H, .n_kv_heads = KV,           \
     .head_dim = HD, .shared_ff = SH, .published_params = PUB}

/* Shapes from DESIGN.md section 1 and the models' published configs (Hugging Face
 * config.json: hidden_size, intermediate_size, num_attention_heads, num_key_value_heads,
 * head_dim, vocab_size, tie_word_embeddings); published_params = the model card's or the
 * checkpoint's parameter count. tests/test_model.c checks every shape within 2% of it. */
static const lf_model known[] = {
    DENSE("opt-6.7b", LF_ACT_RELU, 32, 4096, 16384, 50272, 32, 32, 128, 1, 0.97, 6.658e9),
    DENSE("opt-1.3b", LF_ACT_RELU, 24, 2048, 8192, 50272, 32, 32, 64, 1, 0.97, 1.316e9),
    /* multi-query attention: 71 query heads share one key/value head */
    DENSE("falcon-7b", LF_ACT_RELU, 32, 4544, 18176, 65024, 71, 1, 64, 1, 0.95, 6.922e9),
    DENSE("persimmon-8b", LF_ACT_RELU, 36, 4096, 16384, 262144, 64, 64, 64, 0, 0.90, 9.3e9),
    DENSE("phi-2", LF_ACT_RELU, 32, 2560, 10240, 51200, 32, 32, 80, 0, 0.90, 2.780e9),
    DENSE("llama2-7b", LF_ACT_SWIGLU, 32, 4096, 11008, 32000, 32, 32, 128, 0, 0.90, 6.738e9),
    /* grouped-query attention: 32 query heads in 8 groups; sparsity 0.90 assumed as for
     * llama2-7b (a ReLU-fied or predictor-gated variant; the dense model has none) */
    DENSE("llama3-8b", LF_ACT_SWIGLU, 32, 4096, 14336, 128256, 32, 8, 128, 0, 0.90, 8.030e9),
    DENSE("mistral-7b", LF_ACT_SWIGLU, 32, 4096, 14336, 32000, 32, 8, 128, 0, 0.90, 7.242e9),
    /* llama2.c's stories260K (../shared/data): a real checkpoint llmflash runs and records;
     * sparsity 0.70 = measured by `trace record` at relative threshold 0.1 (llama/README.md) */
    DENSE("stories260k", LF_ACT_SWIGLU, 5, 64, 172, 512, 8, 4, 8, 1, 0.70, 260e3),
    /* MoE shapes: expert d_ff is the width of one expert. Qwen3.5-397B-A17B mixes gated
     * attention and Gated DeltaNet (linear attention) layers; every layer is priced here
     * as its gated-attention head layout (32 query heads of 256, 2 key/value heads), which
     * puts the total 0.6% under the published 397B. */
    MOE("qwen3.5-397b-a17b", 60, 4096, 1024, 512, 4, 248320, 32, 2, 256, 1024, 397e9),
    MOE("mixtral-8x7b", 32, 4096, 14336, 8, 2, 32000, 32, 8, 128, 0, 46.70e9),
    MOE("qwen1.5-moe-a2.7b", 24, 2048, 1408, 60, 4, 151936, 16, 16, 128, 5632, 14.32e9),
    MOE("olmoe-1b-7b", 16, 2048, 1024, 64, 8, 50304, 16, 16, 128, 0, 6.919e9),
};

uint32_t lf_model_count(void)
{
    return (uint32_t)(sizeof known / sizeof known[0]);
}

const lf_model *lf_model_at(uint32_t i)
{
    return i < lf_model_count() ? &known[i] : NULL;
}

const char *lf_model_names(void)
{
    return "opt-6.7b, opt-1.3b, falcon-7b, persimmon-8b, phi-2, llama2-7b, llama3-8b, "
           "mistral-7b, stories260k, qwen3.5-397b-a17b, mixtral-8x7b, qwen1.5-moe-a2.7b, "
           "olmoe-1b-7b, custom:LAYERS,DMODEL,DFF[,relu|swiglu][,heads=H][,kv=K][,vocab=V]";
}

/* One option after DFF: relu | swiglu | heads=H | kv=K | vocab=V. */
static int custom_opt(const char *tok, size_t n, int *swiglu, unsigned long *heads,
                      unsigned long *kv, unsigned long *vocab)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, tok, n);
    buf[n] = '\0';
    if (!strcasecmp(buf, "relu") || !strcasecmp(buf, "swiglu")) {
        *swiglu = !strcasecmp(buf, "swiglu");
        return 0;
    }
    unsigned long *dst = !strncasecmp(buf, "heads=", 6) ? heads
                         : !strncasecmp(buf, "kv=", 3)  ? kv
                         : !strncasecmp(buf, "vocab=", 6) ? vocab
                                                          : NULL;
    if (!dst)
        return -1;
    const char *v = strchr(buf, '=') + 1;
    char *end;
    if (*v < '0' || *v > '9')
        return -1;
    *dst = strtoul(v, &end, 10);
    return *end ? -1 : 0;
}

static int parse_custom(const char *spec, lf_model *out, lf_err *err)
{
    unsigned long layers, dmodel, dff, heads = 0, kv = 0, vocab = 0;
    int swiglu = 0, used = 0, bad = 0;
    int n = sscanf(spec, "%lu,%lu,%lu%n", &layers, &dmodel, &dff, &used);
    const char *p = spec + used;
    if (n != 3)
        bad = 1;
    while (!bad && *p) {
        if (*p != ',') {
            bad = 1;
            break;
        }
        p++;
        size_t len = strcspn(p, ",");
        if (custom_opt(p, len, &swiglu, &heads, &kv, &vocab))
            bad = 1;
        p += len;
    }
    if (bad || layers == 0 || dmodel == 0 || dff == 0 || layers > 4096 || dmodel > (1u << 20) ||
        dff > (1u << 24) || vocab > (1u << 24))
        return lf_fail(err, LF_EINVAL,
                       "model 'custom:%s': expected custom:LAYERS,DMODEL,DFF[,relu|swiglu]"
                       "[,heads=H][,kv=K][,vocab=V] with LAYERS in 1..4096, DMODEL in "
                       "1..1048576, DFF in 1..16777216, V in 0..16777216 (example: "
                       "custom:2,64,256 or custom:6,4544,18176,heads=71,kv=1)",
                       spec);
    if (heads == 0)
        heads = dmodel % 64 == 0 ? dmodel / 64 : 1;
    if (kv == 0)
        kv = heads;
    if (heads > dmodel || dmodel % heads || heads % kv || kv > heads)
        return lf_fail(err, LF_EINVAL,
                       "model 'custom:%s': %lu heads must divide DMODEL %lu and kv=%lu must "
                       "divide the heads (multi-query: kv=1)",
                       spec, heads, dmodel, kv);
    memset(out, 0, sizeof *out);
    out->kind = LF_UNITS_NEURONS;
    out->act = swiglu ? LF_ACT_SWIGLU : LF_ACT_RELU;
    out->n_layers = (uint32_t)layers;
    out->d_model = (uint32_t)dmodel;
    out->d_ff = (uint32_t)dff;
    out->vocab = (uint32_t)vocab;
    out->n_heads = (uint32_t)heads;
    out->n_kv_heads = (uint32_t)kv;
    out->head_dim = (uint32_t)(dmodel / heads);
    out->tied_embeddings = 1;
    out->default_sparsity = 0.90;
    /* the canonical name: defaults left out, so that it looks up to the same shape */
    int def_heads = heads == (dmodel % 64 == 0 ? dmodel / 64 : 1);
    char extra[64] = "";
    size_t k = 0;
    if (!def_heads)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ",heads=%lu", heads);
    if (kv != heads)
        k += (size_t)snprintf(extra + k, sizeof extra - k, ",kv=%lu", kv);
    if (vocab)
        snprintf(extra + k, sizeof extra - k, ",vocab=%lu", vocab);
    snprintf(out->name, sizeof out->name, "custom:%lu,%lu,%lu%s%s", layers, dmodel, dff,
             swiglu ? ",swiglu" : "", extra);
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

uint64_t lf_model_weights_bytes(uint64_t n, uint32_t bits)
{
    if (bits == 32 || bits == 16)
        return n * (bits / 8);
    if ((bits != 8 && bits != 4 && bits != 2) || n % LF_MODEL_GROUP)
        return 0;
    return n * bits / 8 + n / LF_MODEL_GROUP * 4; /* fp16 scale + fp16 bias per group */
}

uint64_t lf_model_ffn_layer_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_unit_bytes(m, dtype_bytes) * lf_model_units(m);
}

uint64_t lf_model_ffn_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_ffn_layer_bytes(m, dtype_bytes) * m->n_layers;
}

/* Shapes made before head layouts existed (zeroed fields): one head of d_model. */
uint32_t lf_model_q_dim(const lf_model *m)
{
    return m->n_heads && m->head_dim ? m->n_heads * m->head_dim : m->d_model;
}

uint32_t lf_model_kv_dim(const lf_model *m)
{
    return m->n_kv_heads && m->head_dim ? m->n_kv_heads * m->head_dim : m->d_model;
}

uint64_t lf_model_attention_layer_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    /* Q and O: d_model x q_dim each; K and V: d_model x kv_dim each. */
    uint64_t params = 2ull * m->d_model * lf_model_q_dim(m) + 2ull * m->d_model * lf_model_kv_dim(m);
    return params * dtype_bytes;
}

uint64_t lf_model_attention_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_attention_layer_bytes(m, dtype_bytes) * m->n_layers;
}

uint64_t lf_model_head_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return (uint64_t)m->vocab * m->d_model * dtype_bytes;
}

uint64_t lf_model_embedding_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_head_bytes(m, dtype_bytes) * (m->tied_embeddings ? 1 : 2);
}

uint64_t lf_model_shared_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return 3ull * m->d_model * m->shared_ff * dtype_bytes * m->n_layers;
}

uint64_t lf_model_predictor_bytes(const lf_model *m, uint32_t dtype_bytes, uint32_t rank)
{
    uint64_t per_layer = (uint64_t)rank * (m->d_model + lf_model_units(m));
    return per_layer * m->n_layers * dtype_bytes;
}

uint64_t lf_model_total_bytes(const lf_model *m, uint32_t dtype_bytes)
{
    return lf_model_ffn_bytes(m, dtype_bytes) + lf_model_attention_bytes(m, dtype_bytes) +
           lf_model_embedding_bytes(m, dtype_bytes) + lf_model_shared_bytes(m, dtype_bytes);
}

double lf_model_params(const lf_model *m)
{
    return (double)lf_model_total_bytes(m, 1);
}
