/* llama2.c checkpoints: header, size check, mapping, dense forward pass, sampling.
 * Hand-written because no Debian library runs llama2.c checkpoints; the arithmetic
 * (float accumulation order, RoPE computed with powf/cosf/sinf) follows the llama2.c
 * reference so that greedy decoding gives the same tokens (tests/fixtures). */
#include "lf_llama.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define V1_MAGIC 0x616b3432u /* "ak42" */
#define V1_HEADER 256

static uint64_t weight_floats(const lf_llama_config *c)
{
    uint64_t head = c->dim / c->n_heads, kv_dim = head * c->n_kv_heads;
    uint64_t d = c->dim, hd = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    uint64_t per_layer = 2 * d + 2 * d * d + 2 * d * kv_dim + 3 * d * hd;
    uint64_t n = V * d + L * per_layer + d;
    if (c->version == 0)
        n += (uint64_t)c->seq_len * head; /* freq_cis real + imag, seq_len * head/2 each */
    if (!c->shared_classifier)
        n += V * d;
    return n;
}

static int check_shape(const char *path, const lf_llama_config *c, lf_err *err)
{
    int32_t v[7] = {(int32_t)c->dim, (int32_t)c->hidden_dim, (int32_t)c->n_layers,
                    (int32_t)c->n_heads, (int32_t)c->n_kv_heads, (int32_t)c->vocab_size,
                    (int32_t)c->seq_len};
    static const char *names[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                   "n_kv_heads", "vocab_size", "seq_len"};
    static const int32_t maxv[7] = {1 << 16, 1 << 20, 1 << 12, 1 << 12, 1 << 12, 1 << 22, 1 << 20};
    for (int i = 0; i < 7; i++)
        if (v[i] <= 0 || v[i] > maxv[i])
            return lf_fail(err, LF_EFORMAT,
                           "%s: header field %s = %d is out of range (1..%d): not a llama2.c "
                           "checkpoint, or a version this reader does not know",
                           path, names[i], v[i], maxv[i]);
    if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2 || c->n_heads % c->n_kv_heads)
        return lf_fail(err, LF_EFORMAT,
                       "%s: header dim=%u n_heads=%u n_kv_heads=%u: dim must be a multiple of "
                       "n_heads with an even head size, and n_heads a multiple of n_kv_heads",
                       path, c->dim, c->n_heads, c->n_kv_heads);
    return LF_OK;
}

int lf_llama_read_config(const char *path, lf_llama_config *cfg, lf_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return lf_fail_errno(err, LF_EIO, errno, "checkpoint %s: cannot open", path);
    struct stat st;
    unsigned char hdr[V1_HEADER];
    memset(hdr, 0, sizeof hdr);
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lf_fail_errno(err, LF_EIO, e, "checkpoint %s: cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lf_fail(err, LF_EINVAL, "checkpoint %s: not a regular file (a device, pipe or "
                       "folder): give the .bin file", path);
    }
    ssize_t got = pread(fd, hdr, sizeof hdr, 0);
    close(fd);
    if (got < 28)
        return lf_fail(err, LF_EFORMAT,
                       "checkpoint %s: %lld bytes, shorter than the 28-byte llama2.c header",
                       path, (long long)st.st_size);
    uint32_t magic;
    int32_t f[7];
    memcpy(&magic, hdr, 4);
    if (magic == V1_MAGIC) {
        int32_t version;
        memcpy(&version, hdr + 4, 4);
        if (version != 1)
            return lf_fail(err, LF_EUNSUP,
                           "checkpoint %s: llama2.c export version %d is not supported (only "
                           "the legacy format and version 1, fp32); re-export with --version 1",
                           path, version);
        if (got < V1_HEADER)
            return lf_fail(err, LF_EFORMAT,
                           "checkpoint %s: %lld bytes, shorter than the 256-byte version-1 "
                           "header",
                           path, (long long)st.st_size);
        memcpy(f, hdr + 8, sizeof f);
        cfg->version = 1;
        cfg->header_bytes = V1_HEADER;
        cfg->shared_classifier = hdr[36] != 0;
    } else {
        memcpy(f, hdr, sizeof f);
        cfg->version = 0;
        cfg->header_bytes = 28;
        /* legacy: a negative vocab_size means an unshared classifier */
        cfg->shared_classifier = f[5] > 0;
        if (f[5] < 0 && f[5] != INT32_MIN)
            f[5] = -f[5];
    }
    cfg->dim = (uint32_t)f[0];
    cfg->hidden_dim = (uint32_t)f[1];
    cfg->n_layers = (uint32_t)f[2];
    cfg->n_heads = (uint32_t)f[3];
    cfg->n_kv_heads = (uint32_t)f[4];
    cfg->vocab_size = (uint32_t)f[5];
    cfg->seq_len = (uint32_t)f[6];
    int rc = check_shape(path, cfg, err);
    if (rc)
        return rc;
    cfg->expected_bytes = cfg->header_bytes + 4 * weight_floats(cfg);
    uint64_t have = (uint64_t)st.st_size;
    if (have != cfg->expected_bytes) {
        int shorter = have < cfg->expected_bytes;
        uint64_t by = shorter ? cfg->expected_bytes - have : have - cfg->expected_bytes;
        return lf_fail(err, LF_EFORMAT,
                       "checkpoint %s: %llu bytes, but its header (%s format: dim=%u "
                       "hidden_dim=%u n_layers=%u n_heads=%u n_kv_heads=%u vocab_size=%u "
                       "seq_len=%u, %s classifier) implies %llu bytes: %s by %llu bytes (%s)",
                       path, (unsigned long long)have, cfg->version ? "version-1" : "legacy",
                       cfg->dim, cfg->hidden_dim, cfg->n_layers, cfg->n_heads, cfg->n_kv_heads,
                       cfg->vocab_size, cfg->seq_len, cfg->shared_classifier ? "shared" : "own",
                       (unsigned long long)cfg->expected_bytes,
                       shorter ? "truncated" : "too long", (unsigned long long)by,
                       shorter ? "copy the file again" : "not a checkpoint of this shape; "
                                                         "check the export version");
    }
    return LF_OK;
}

static void map_weights(lf_llama *m)
{
    const lf_llama_config *c = &m->cfg;
    uint64_t head = c->dim / c->n_heads, kv_dim = head * c->n_kv_heads;
    uint64_t d = c->dim, hd = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    const float *p = (const float *)((const char *)m->map + c->header_bytes);
#define TAKE(dst, count) (dst = p, p += (count))
    if (c->version == 1) {
        TAKE(m->rms_att, L * d);
        TAKE(m->rms_ffn, L * d);
        TAKE(m->rms_final, d);
        TAKE(m->tok_emb, V * d);
    } else {
        TAKE(m->tok_emb, V * d);
        TAKE(m->rms_att, L * d);
    }
    TAKE(m->wq, L * d * d);
    TAKE(m->wk, L * d * kv_dim);
    TAKE(m->wv, L * d * kv_dim);
    TAKE(m->wo, L * d * d);
    if (c->version == 0)
        TAKE(m->rms_ffn, L * d);
    TAKE(m->w1, L * d * hd);
    TAKE(m->w2, L * d * hd);
    TAKE(m->w3, L * d * hd);
    if (c->version == 0) {
        TAKE(m->rms_final, d);
        p += (uint64_t)c->seq_len * head; /* freq_cis: RoPE is computed instead */
    }
#undef TAKE
    m->wcls = c->shared_classifier ? m->tok_emb : p;
}

int lf_llama_open(lf_llama *m, const char *path, lf_err *err)
{
    memset(m, 0, sizeof *m);
    int rc = lf_llama_read_config(path, &m->cfg, err);
    if (rc)
        return rc;
    snprintf(m->path, sizeof m->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return lf_fail_errno(err, LF_EIO, errno, "checkpoint %s: cannot open", path);
    m->map_len = (size_t)m->cfg.expected_bytes;
    void *map = mmap(NULL, m->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        m->map = NULL;
        return lf_fail_errno(err, LF_EIO, e, "checkpoint %s: cannot map %zu bytes", path,
                             m->map_len);
    }
    m->map = map;
    map_weights(m);
    /* a NaN or inf weight poisons every logit without a word: check them all once */
    const float *w = (const float *)((const char *)m->map + m->cfg.header_bytes);
    uint64_t nw = weight_floats(&m->cfg);
    for (uint64_t i = 0; i < nw; i++) {
        if (!isfinite(w[i])) {
            lf_fail(err, LF_EFORMAT, "checkpoint %s: weight %llu (byte %llu) is %s: the "
                    "checkpoint is corrupt (export it again)", path, (unsigned long long)i,
                    (unsigned long long)(m->cfg.header_bytes + 4 * i), isnan(w[i]) ? "NaN" : "inf");
            lf_llama_close(m);
            return LF_EFORMAT;
        }
    }
    const lf_llama_config *c = &m->cfg;
    size_t kv_dim = (size_t)c->dim / c->n_heads * c->n_kv_heads;
    size_t cache = (size_t)c->n_layers * c->seq_len * kv_dim;
    m->x = calloc(c->dim, sizeof(float));
    m->xb = calloc(c->dim, sizeof(float));
    m->xb2 = calloc(c->dim, sizeof(float));
    m->q = calloc(c->dim, sizeof(float));
    m->hb = calloc(c->hidden_dim, sizeof(float));
    m->hb2 = calloc(c->hidden_dim, sizeof(float));
    m->att = calloc((size_t)c->n_heads * c->seq_len, sizeof(float));
    m->logits = calloc(c->vocab_size, sizeof(float));
    m->key_cache = calloc(cache, sizeof(float));
    m->value_cache = calloc(cache, sizeof(float));
    if (!m->x || !m->xb || !m->xb2 || !m->q || !m->hb || !m->hb2 || !m->att || !m->logits ||
        !m->key_cache || !m->value_cache) {
        lf_llama_close(m);
        return lf_fail(err, LF_ENOMEM, "checkpoint %s: out of memory for the run state (KV "
                       "cache of %zu floats)", path, 2 * cache);
    }
    return LF_OK;
}

void lf_llama_close(lf_llama *m)
{
    if (!m)
        return;
    if (m->map)
        munmap(m->map, m->map_len);
    free(m->x);
    free(m->xb);
    free(m->xb2);
    free(m->q);
    free(m->hb);
    free(m->hb2);
    free(m->att);
    free(m->logits);
    free(m->key_cache);
    free(m->value_cache);
    memset(m, 0, sizeof *m);
}

/* ---- the blocks; float accumulation in index order ---- */

static void rmsnorm(float *o, const float *x, const float *w, uint32_t n)
{
    float ss = 0.0f;
    for (uint32_t j = 0; j < n; j++)
        ss += x[j] * x[j];
    ss /= (float)n;
    ss += 1e-5f;
    ss = 1.0f / sqrtf(ss);
    for (uint32_t j = 0; j < n; j++)
        o[j] = w[j] * (ss * x[j]);
}

/* out[d] = W[d][n] x[n] */
static void matvec(float *out, const float *x, const float *w, uint32_t n, uint32_t d)
{
    for (uint32_t i = 0; i < d; i++) {
        const float *row = w + (size_t)i * n;
        float acc = 0.0f;
        for (uint32_t j = 0; j < n; j++)
            acc += row[j] * x[j];
        out[i] = acc;
    }
}

static void softmax(float *x, uint32_t n)
{
    float mx = x[0];
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    float sum = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (uint32_t i = 0; i < n; i++)
        x[i] /= sum;
}

void lf_llama_ffn_weights(const lf_llama *m, uint32_t layer, lf_llama_ffn *out)
{
    size_t off = (size_t)layer * m->cfg.dim * m->cfg.hidden_dim;
    out->w1 = m->w1 + off;
    out->w2 = m->w2 + off;
    out->w3 = m->w3 + off;
}

void lf_llama_ffn_dense(const lf_llama *m, uint32_t layer, const float *x, float *h, float *out)
{
    uint32_t d = m->cfg.dim, hd = m->cfg.hidden_dim;
    lf_llama_ffn f;
    lf_llama_ffn_weights(m, layer, &f);
    float *up = m->hb2;
    matvec(h, x, f.w1, d, hd);
    matvec(up, x, f.w3, d, hd);
    for (uint32_t i = 0; i < hd; i++) {
        float g = h[i];
        g *= 1.0f / (1.0f + expf(-g)); /* silu */
        g *= up[i];
        h[i] = g;
    }
    matvec(out, h, f.w2, hd, d);
}

static void rope(float *q, float *k, uint32_t dim, uint32_t kv_dim, uint32_t head, uint32_t pos)
{
    for (uint32_t i = 0; i < dim; i += 2) {
        uint32_t hd = i % head;
        float freq = 1.0f / powf(10000.0f, (float)hd / (float)head);
        float ang = (float)pos * freq;
        float c = cosf(ang), s = sinf(ang);
        float a = q[i], b = q[i + 1];
        q[i] = a * c - b * s;
        q[i + 1] = a * s + b * c;
        if (i < kv_dim) {
            a = k[i];
            b = k[i + 1];
            k[i] = a * c - b * s;
            k[i + 1] = a * s + b * c;
        }
    }
}

static void attention(lf_llama *m, uint32_t layer, uint32_t pos)
{
    const lf_llama_config *c = &m->cfg;
    uint32_t head = c->dim / c->n_heads, kv_dim = head * c->n_kv_heads;
    uint32_t group = c->n_heads / c->n_kv_heads;
    size_t loff = (size_t)layer * c->seq_len * kv_dim;
    float scale = sqrtf((float)head);
    for (uint32_t h = 0; h < c->n_heads; h++) {
        const float *qh = m->q + (size_t)h * head;
        float *att = m->att + (size_t)h * c->seq_len;
        size_t kvoff = loff + (size_t)(h / group) * head;
        for (uint32_t t = 0; t <= pos; t++) {
            const float *kt = m->key_cache + kvoff + (size_t)t * kv_dim;
            float s = 0.0f;
            for (uint32_t i = 0; i < head; i++)
                s += qh[i] * kt[i];
            att[t] = s / scale;
        }
        softmax(att, pos + 1);
        float *o = m->xb + (size_t)h * head;
        memset(o, 0, head * sizeof(float));
        for (uint32_t t = 0; t <= pos; t++) {
            const float *vt = m->value_cache + kvoff + (size_t)t * kv_dim;
            float a = att[t];
            for (uint32_t i = 0; i < head; i++)
                o[i] += a * vt[i];
        }
    }
}

int lf_llama_begin(lf_llama *m, int32_t token, uint32_t pos, lf_err *err)
{
    const lf_llama_config *c = &m->cfg;
    if (token < 0 || (uint32_t)token >= c->vocab_size)
        return lf_fail(err, LF_ERANGE, "%s: token id %d at position %u is outside the "
                       "vocabulary (0..%u)", m->path, token, pos, c->vocab_size - 1);
    if (pos >= c->seq_len)
        return lf_fail(err, LF_ERANGE, "%s: position %u is past the model's seq_len %u; "
                       "use fewer steps", m->path, pos, c->seq_len);
    m->pos = pos;
    memcpy(m->x, m->tok_emb + (size_t)token * c->dim, c->dim * sizeof(float));
    return LF_OK;
}

const float *lf_llama_attend(lf_llama *m, uint32_t l)
{
    const lf_llama_config *c = &m->cfg;
    uint32_t d = c->dim, head = d / c->n_heads, kv_dim = head * c->n_kv_heads, pos = m->pos;
    float *x = m->x;
    rmsnorm(m->xb, x, m->rms_att + (size_t)l * d, d);
    size_t loff = (size_t)l * c->seq_len * kv_dim;
    float *k = m->key_cache + loff + (size_t)pos * kv_dim;
    float *v = m->value_cache + loff + (size_t)pos * kv_dim;
    matvec(m->q, m->xb, m->wq + (size_t)l * d * d, d, d);
    matvec(k, m->xb, m->wk + (size_t)l * d * kv_dim, d, kv_dim);
    matvec(v, m->xb, m->wv + (size_t)l * d * kv_dim, d, kv_dim);
    rope(m->q, k, d, kv_dim, head, pos);
    attention(m, l, pos);
    matvec(m->xb2, m->xb, m->wo + (size_t)l * d * d, d, d);
    for (uint32_t i = 0; i < d; i++)
        x[i] += m->xb2[i];
    rmsnorm(m->xb, x, m->rms_ffn + (size_t)l * d, d);
    return m->xb;
}

void lf_llama_add(lf_llama *m, const float *out)
{
    for (uint32_t i = 0; i < m->cfg.dim; i++)
        m->x[i] += out[i];
}

float *lf_llama_finish(lf_llama *m)
{
    rmsnorm(m->x, m->x, m->rms_final, m->cfg.dim);
    matvec(m->logits, m->x, m->wcls, m->cfg.dim, m->cfg.vocab_size);
    return m->logits;
}

int lf_llama_forward(lf_llama *m, int32_t token, uint32_t pos, float **logits, lf_err *err)
{
    int rc = lf_llama_begin(m, token, pos, err);
    for (uint32_t l = 0; l < m->cfg.n_layers && !rc; l++) {
        const float *x = lf_llama_attend(m, l);
        if (m->hooks.ffn) {
            rc = m->hooks.ffn(m->hooks.ffn_ctx, l, pos, x, m->xb2, err);
        } else {
            lf_llama_ffn_dense(m, l, x, m->hb, m->xb2);
            if (m->hooks.observe)
                rc = m->hooks.observe(m->hooks.observe_ctx, l, pos, x, m->hb, err);
        }
        if (!rc)
            lf_llama_add(m, m->xb2);
    }
    if (rc)
        return rc;
    *logits = lf_llama_finish(m);
    return LF_OK;
}

uint32_t lf_llama_argmax(const float *logits, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

uint32_t lf_llama_sample(float *logits, uint32_t n, float temperature, gsl_rng *rng)
{
    for (uint32_t i = 0; i < n; i++)
        logits[i] /= temperature;
    softmax(logits, n);
    float coin = (float)gsl_rng_uniform(rng);
    float cdf = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        cdf += logits[i];
        if (coin < cdf)
            return i;
    }
    return n - 1; /* rounding */
}

int lf_llama_generate(lf_llama *m, const int32_t *prompt, uint32_t n_prompt, uint32_t steps,
                      float temperature, gsl_rng *rng, lf_llama_step_fn on_step, void *step_ctx,
                      int32_t **ids, uint32_t *n_ids, lf_err *err)
{
    *ids = NULL;
    *n_ids = 0;
    if (n_prompt == 0)
        return lf_fail(err, LF_EINVAL, "generate: empty prompt (it must hold at least BOS)");
    if (!(temperature >= 0.0f) || (temperature > 0.0f && !rng))
        return lf_fail(err, LF_EINVAL, "generate: temperature %g needs >= 0 (and a seeded rng "
                       "when > 0)", (double)temperature);
    /* logits / T overflows to inf for a tiny T and softmax then gives NaN (one fixed token) */
    if (temperature > 0.0f && temperature < LF_LLAMA_MIN_TEMPERATURE)
        return lf_fail(err, LF_EINVAL, "generate: temperature %g is below %g, where sampling "
                       "overflows; use 0 for greedy decoding", (double)temperature,
                       (double)LF_LLAMA_MIN_TEMPERATURE);
    if (steps > m->cfg.seq_len)
        steps = m->cfg.seq_len;
    int32_t *out = malloc(((size_t)steps + 1) * sizeof *out);
    if (!out)
        return lf_fail(err, LF_ENOMEM, "generate: out of memory");
    uint32_t n = 0;
    int32_t token = prompt[0];
    out[n++] = token;
    for (uint32_t pos = 0; pos < steps; pos++) {
        float *logits;
        int rc = lf_llama_forward(m, token, pos, &logits, err);
        if (!rc && on_step)
            rc = on_step(step_ctx, pos, token, logits, err);
        if (rc) {
            free(out);
            return rc;
        }
        int32_t next;
        if (pos + 1 < n_prompt)
            next = prompt[pos + 1];
        else if (temperature == 0.0f)
            next = (int32_t)lf_llama_argmax(logits, m->cfg.vocab_size);
        else
            next = (int32_t)lf_llama_sample(logits, m->cfg.vocab_size, temperature, rng);
        if (next == LF_LLAMA_BOS)
            break;
        out[n++] = next;
        token = next;
    }
    *ids = out;
    *n_ids = n;
    return LF_OK;
}
