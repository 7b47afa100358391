/* The resident part of a whole token: embedding, attention with a KV cache, norms,
 * output head. */
#include "lf_attn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_half.h"
#include "lf_mix.h"

struct lf_attn {
    lf_model m;
    lf_dtype dt;
    uint32_t n_layers, max_pos, q_dim, kv_dim, next_id;
    uint64_t seed;
    size_t off[5];           /* byte offsets of Q, K, V, O in a layer's block; [4] = size */
    unsigned char *w;        /* n_layers blocks */
    unsigned char *head;     /* vocab x d_model, or NULL without a vocabulary */
    float *kc, *vc;          /* [layer][max_pos][kv_dim] */
    uint32_t *filled;        /* per layer: cache positions written */
    float *h, *q, *k, *v, *att, *o, *p, *logits;
};

/* Uniform values in [-a, a] from the stream of (seed, which), stored as dtype. */
static void fill(unsigned char *dst, size_t n, lf_dtype dt, float a, uint64_t seed,
                 uint64_t which)
{
    uint64_t s = lf_mix64(seed ^ (LF_MIX_GOLDEN * (which + 1)));
    for (size_t i = 0; i < n; i++) {
        float v = (float)((double)(lf_mix_next(&s) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * a;
        if (dt == LF_DTYPE_FP16)
            ((uint16_t *)(void *)dst)[i] = lf_float_to_half(v);
        else
            ((float *)(void *)dst)[i] = v;
    }
}

void lf_attn_free(lf_attn *a)
{
    if (!a)
        return;
    free(a->w);
    free(a->head);
    free(a->kc);
    free(a->vc);
    free(a->filled);
    free(a->h);
    free(a->q);
    free(a->k);
    free(a->v);
    free(a->att);
    free(a->o);
    free(a->p);
    free(a->logits);
    free(a);
}

int lf_attn_create(const lf_attn_cfg *cfg, lf_attn **out, lf_err *err)
{
    *out = NULL;
    const lf_model *m = cfg->model;
    if (cfg->n_layers == 0 || cfg->n_layers > m->n_layers || cfg->max_pos == 0)
        return lf_fail(err, LF_EINVAL, "attention: %u layers of %u and %u positions asked "
                       "(both must be positive)", cfg->n_layers, m->n_layers, cfg->max_pos);
    lf_attn *a = calloc(1, sizeof *a);
    if (!a)
        return lf_fail(err, LF_ENOMEM, "attention: out of memory");
    a->m = *m;
    a->dt = cfg->dtype;
    a->n_layers = cfg->n_layers;
    a->max_pos = cfg->max_pos;
    a->seed = cfg->seed;
    a->q_dim = lf_model_q_dim(m);
    a->kv_dim = lf_model_kv_dim(m);
    uint32_t d = m->d_model, eb = lf_dtype_bytes(cfg->dtype);
    size_t qb = (size_t)a->q_dim * d * eb, kb = (size_t)a->kv_dim * d * eb;
    a->off[0] = 0;
    a->off[1] = qb;
    a->off[2] = qb + kb;
    a->off[3] = qb + 2 * kb;
    a->off[4] = 2 * qb + 2 * kb;
    size_t cache = (size_t)cfg->n_layers * cfg->max_pos * a->kv_dim;
    uint32_t big = a->q_dim > d ? a->q_dim : d;
    /* resident weights in the pages calibrate's dense kernel streams (lf_bigmem) */
    a->w = lf_bigmem_alloc(a->off[4] * cfg->n_layers);
    a->head = m->vocab ? lf_bigmem_alloc((size_t)m->vocab * d * eb) : NULL;
    a->kc = lf_bigmem_alloc(cache * sizeof(float));
    a->vc = lf_bigmem_alloc(cache * sizeof(float));
    a->filled = calloc(cfg->n_layers, sizeof *a->filled);
    a->h = malloc(sizeof(float) * d);
    a->q = malloc(sizeof(float) * a->q_dim);
    a->k = malloc(sizeof(float) * a->kv_dim);
    a->v = malloc(sizeof(float) * a->kv_dim);
    a->att = malloc(sizeof(float) * big);
    a->o = malloc(sizeof(float) * d);
    a->p = malloc(sizeof(float) * cfg->max_pos);
    a->logits = m->vocab ? malloc(sizeof(float) * m->vocab) : NULL;
    if (!a->w || (m->vocab && (!a->head || !a->logits)) || !a->kc || !a->vc || !a->filled ||
        !a->h || !a->q || !a->k || !a->v || !a->att || !a->o || !a->p) {
        uint64_t want = a->off[4] * cfg->n_layers + (uint64_t)m->vocab * d * eb +
                        2 * cache * sizeof(float);
        lf_attn_free(a);
        return lf_fail(err, LF_ENOMEM, "attention: cannot allocate %.1f MiB of resident "
                       "weights and KV cache (fewer layers, tokens or a smaller model)",
                       want / 1048576.0);
    }
    /* Preallocated means resident: the KV cache and the logits (the large buffers the
     * token writes) are touched now, not by the first token. Left to its first write, the
     * cache's fresh huge pages cost the first token's first layer 8 ms in about one run of
     * two on this VM (faults of memory the host had not backed yet: 1.3 -> 9.7-10 ms,
     * `run` of the mha grid's shape at 64 in flight), which the cold-start validation
     * counted against the model. The other vectors are a few KiB. */
    memset(a->kc, 0, cache * sizeof(float));
    memset(a->vc, 0, cache * sizeof(float));
    if (a->logits)
        memset(a->logits, 0, sizeof(float) * m->vocab);
    /* values scaled so that a unit-RMS input gives unit-scale outputs */
    float in_d = sqrtf(3.0f / (float)d), in_q = sqrtf(3.0f / (float)a->q_dim);
    for (uint32_t l = 0; l < cfg->n_layers; l++) {
        unsigned char *b = a->w + a->off[4] * l;
        fill(b + a->off[0], (size_t)a->q_dim * d, a->dt, in_d, cfg->seed, 4ull * l + 0);
        fill(b + a->off[1], (size_t)a->kv_dim * d, a->dt, in_d, cfg->seed, 4ull * l + 1);
        fill(b + a->off[2], (size_t)a->kv_dim * d, a->dt, in_d, cfg->seed, 4ull * l + 2);
        fill(b + a->off[3], (size_t)d * a->q_dim, a->dt, 0.5f * in_q, cfg->seed, 4ull * l + 3);
    }
    if (a->head)
        fill(a->head, (size_t)m->vocab * d, a->dt, in_d, cfg->seed, 1u << 30);
    a->next_id = m->vocab ? (uint32_t)(lf_mix64(cfg->seed ^ 0x5eedull) % m->vocab) : 0;
    *out = a;
    return LF_OK;
}

static float elem(const lf_attn *a, const unsigned char *base, size_t i)
{
    return a->dt == LF_DTYPE_FP16 ? lf_half_to_float(((const uint16_t *)(const void *)base)[i])
                                  : ((const float *)(const void *)base)[i];
}

int lf_attn_begin(lf_attn *a, uint32_t pos, float *x, lf_err *err)
{
    uint32_t d = a->m.d_model;
    if (pos >= a->max_pos)
        return lf_fail(err, LF_ERANGE, "attention: token %u beyond the %u positions prepared",
                       pos, a->max_pos);
    if (a->head) {
        /* the token's embedding row: the (tied) table's row; an untied table's row is
         * the same kind of values, so the head's row stands for it */
        const unsigned char *row = a->head + (size_t)a->next_id * d * lf_dtype_bytes(a->dt);
        for (uint32_t i = 0; i < d; i++)
            x[i] = elem(a, row, i) * sqrtf((float)d / 3.0f);
        return LF_OK;
    }
    uint64_t s = lf_mix64(a->seed * 1000003u + pos);
    for (uint32_t i = 0; i < d; i++)
        x[i] = (float)(((double)(lf_mix_next(&s) >> 11) * 0x1.0p-53 * 2.0 - 1.0) *
                       1.7320508075688772);
    return LF_OK;
}

void lf_attn_norm(const float *x, uint32_t d, float *out)
{
    double ss = 0;
    for (uint32_t i = 0; i < d; i++)
        ss += (double)x[i] * x[i];
    float k = ss > 0 ? (float)(1.0 / sqrt(ss / d + 1e-6)) : 0.0f;
    for (uint32_t i = 0; i < d; i++)
        out[i] = x[i] * k;
}

int lf_attn_layer(lf_attn *a, uint32_t layer, uint32_t pos, float *x, lf_err *err)
{
    if (layer >= a->n_layers || pos >= a->max_pos || a->filled[layer] != pos)
        return lf_fail(err, LF_ERANGE, "attention: layer %u position %u out of order (layers "
                       "%u, next position %u, %u prepared)", layer, pos, a->n_layers,
                       layer < a->n_layers ? a->filled[layer] : 0, a->max_pos);
    uint32_t d = a->m.d_model, hd = a->m.head_dim ? a->m.head_dim : a->q_dim;
    uint32_t nh = a->q_dim / hd, nkv = a->kv_dim / hd, group = nh / nkv;
    const unsigned char *b = a->w + a->off[4] * layer;
    lf_attn_norm(x, d, a->h);
    lf_ffn_matvec(a->dt, b + a->off[0], a->q_dim, d, a->h, a->q);
    size_t at = ((size_t)layer * a->max_pos + pos) * a->kv_dim;
    lf_ffn_matvec(a->dt, b + a->off[1], a->kv_dim, d, a->h, a->kc + at);
    lf_ffn_matvec(a->dt, b + a->off[2], a->kv_dim, d, a->h, a->vc + at);
    a->filled[layer] = pos + 1;
    const float *kl = a->kc + (size_t)layer * a->max_pos * a->kv_dim;
    const float *vl = a->vc + (size_t)layer * a->max_pos * a->kv_dim;
    float scale = 1.0f / sqrtf((float)hd);
    for (uint32_t h = 0; h < nh; h++) {
        const float *q = a->q + (size_t)h * hd;
        size_t g = (size_t)(h / group) * hd;
        float mx = -INFINITY;
        for (uint32_t t = 0; t <= pos; t++) {
            const float *k = kl + (size_t)t * a->kv_dim + g;
            float s = 0;
            for (uint32_t i = 0; i < hd; i++)
                s += q[i] * k[i];
            a->p[t] = s * scale;
            mx = fmaxf(mx, a->p[t]);
        }
        float sum = 0;
        for (uint32_t t = 0; t <= pos; t++)
            sum += (a->p[t] = expf(a->p[t] - mx));
        float *out = a->att + (size_t)h * hd;
        memset(out, 0, sizeof(float) * hd);
        for (uint32_t t = 0; t <= pos; t++) {
            const float *v = vl + (size_t)t * a->kv_dim + g;
            float w = a->p[t] / sum;
            for (uint32_t i = 0; i < hd; i++)
                out[i] += w * v[i];
        }
    }
    lf_ffn_matvec(a->dt, b + a->off[3], d, a->q_dim, a->att, a->o);
    for (uint32_t i = 0; i < d; i++)
        x[i] += a->o[i];
    return LF_OK;
}

void lf_attn_end(lf_attn *a, const float *x)
{
    if (!a->head)
        return;
    lf_attn_norm(x, a->m.d_model, a->h);
    lf_ffn_matvec(a->dt, a->head, a->m.vocab, a->m.d_model, a->h, a->logits);
    uint32_t best = 0;
    for (uint32_t i = 1; i < a->m.vocab; i++)
        if (a->logits[i] > a->logits[best])
            best = i;
    a->next_id = best;
}

uint32_t lf_attn_next_id(const lf_attn *a)
{
    return a->next_id;
}

float lf_attn_weight(const lf_attn *a, uint32_t layer, uint32_t matrix, uint32_t row,
                     uint32_t col)
{
    uint32_t cols = matrix == 3 ? a->q_dim : a->m.d_model;
    const unsigned char *b = a->w + a->off[4] * layer + a->off[matrix];
    return elem(a, b, (size_t)row * cols + col);
}

const float *lf_attn_cached(const lf_attn *a, uint32_t layer, int v, uint32_t pos)
{
    size_t at = ((size_t)layer * a->max_pos + pos) * a->kv_dim;
    return (v ? a->vc : a->kc) + at;
}

uint64_t lf_attn_weight_bytes(const lf_attn *a)
{
    return (uint64_t)a->off[4] * a->n_layers +
           (a->head ? (uint64_t)a->m.vocab * a->m.d_model * lf_dtype_bytes(a->dt) : 0);
}

uint64_t lf_attn_cache_bytes(const lf_attn *a)
{
    return 2ull * a->n_layers * a->max_pos * a->kv_dim * sizeof(float);
}

void lf_attn_layer_input(const float *res, const float *y, uint32_t d, uint32_t layer,
                         uint32_t token, uint64_t seed, gsl_rng *rng, float *x)
{
    if (res) {
        lf_attn_norm(res, d, x);
        return;
    }
    double ss = 0;
    for (uint32_t i = 0; i < d; i++)
        ss += (double)y[i] * y[i];
    if (layer > 0 && ss > 0) {
        float k = (float)(1.0 / sqrt(ss / d));
        for (uint32_t i = 0; i < d; i++)
            x[i] = y[i] * k;
        return;
    }
    gsl_rng_set(rng, seed * 1000003u + token);
    for (uint32_t i = 0; i < d; i++)
        x[i] = (float)((gsl_rng_uniform(rng) * 2.0 - 1.0) * 1.7320508075688772);
}
