/* Recording real FFN activations of a llama2.c model into a neuron trace. */
#include "lf_llama_rec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_time.h"

uint32_t lf_llama_select(const float *h, uint32_t n, double threshold, int relative,
                         uint32_t *ids, float *vals)
{
    double cut = threshold;
    if (relative) {
        float mx = 0.0f;
        for (uint32_t i = 0; i < n; i++)
            if (fabsf(h[i]) > mx)
                mx = fabsf(h[i]);
        cut = threshold * (double)mx;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        float a = fabsf(h[i]);
        if (threshold <= 0.0 || (double)a >= cut) {
            ids[k] = i;
            if (vals)
                vals[k] = a;
            k++;
        }
    }
    return k;
}

static int rec_observe(void *ctx, uint32_t layer, uint32_t pos, const float *x, const float *h,
                       lf_err *err)
{
    (void)pos;
    (void)x;
    lf_llama_recorder *r = ctx;
    uint32_t n = lf_llama_select(h, r->t->units_per_layer, r->threshold, r->relative, r->ids,
                                 r->vals);
    return lf_trace_append_layer(r->t, layer, r->ids, n, r->vals, err);
}

int lf_llama_recorder_start(lf_llama_recorder *r, lf_llama *m, const char *model,
                            const lf_llama_rec_opts *o, uint32_t n_prompt, lf_trace *t,
                            lf_err *err)
{
    const lf_llama_config *c = &m->cfg;
    memset(r, 0, sizeof *r);
    if (!(o->threshold >= 0.0) || (o->relative && o->threshold > 1.0))
        return lf_fail(err, LF_EINVAL, "record: threshold %g must be >= 0 (and <= 1 when "
                       "relative to the token's largest |h|)", o->threshold);
    int rc = lf_trace_init_shape(t, LF_UNITS_NEURONS, model, c->n_layers, c->dim, c->hidden_dim,
                                 0, 4, 1, 1, err);
    if (rc)
        return rc;
    snprintf(t->source, sizeof t->source, "recorded");
    t->seed = o->seed;
    const char *base = strrchr(m->path, '/');
    snprintf(t->generator, sizeof t->generator,
             "threshold=%.9g relative=%d steps=%u temperature=%g seed=%llu prompt_tokens=%u "
             "checkpoint=%s",
             o->threshold, o->relative, o->steps, (double)o->temperature,
             (unsigned long long)o->seed, n_prompt, base ? base + 1 : m->path);
    r->t = t;
    r->threshold = o->threshold;
    r->relative = o->relative;
    r->ids = malloc(c->hidden_dim * sizeof *r->ids);
    r->vals = malloc(c->hidden_dim * sizeof *r->vals);
    if (!r->ids || !r->vals) {
        free(r->ids);
        free(r->vals);
        lf_trace_free(t);
        return lf_fail(err, LF_ENOMEM, "record: out of memory");
    }
    r->saved = m->hooks;
    m->hooks.observe = rec_observe;
    m->hooks.observe_ctx = r;
    m->hooks.ffn = NULL;
    return LF_OK;
}

void lf_llama_recorder_stop(lf_llama_recorder *r, lf_llama *m)
{
    m->hooks = r->saved;
    free(r->ids);
    free(r->vals);
    r->ids = NULL;
    r->vals = NULL;
}

int lf_llama_record(lf_llama *m, const char *model, const int32_t *prompt, uint32_t n_prompt,
                    const lf_llama_rec_opts *o, lf_trace *t, lf_err *err)
{
    const lf_llama_config *c = &m->cfg;
    if (n_prompt == 0 || prompt[0] != LF_LLAMA_BOS)
        return lf_fail(err, LF_EINVAL, "record: the prompt must start with BOS (%d)", LF_LLAMA_BOS);
    if (o->steps == 0)
        return lf_fail(err, LF_EINVAL, "record: steps must be positive");
    if (!(o->temperature == 0.0f || o->temperature >= LF_LLAMA_MIN_TEMPERATURE))
        return lf_fail(err, LF_EINVAL, "record: temperature %g must be 0 (greedy) or at least %g "
                       "(below it, sampling overflows)", (double)o->temperature,
                       (double)LF_LLAMA_MIN_TEMPERATURE);
    lf_llama_recorder r;
    int rc = lf_llama_recorder_start(&r, m, model, o, n_prompt, t, err);
    if (rc)
        return rc;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng)
        rc = lf_fail(err, LF_ENOMEM, "record: out of memory");
    else
        gsl_rng_set(rng, (unsigned long)o->seed);
    lf_progress prog;
    lf_progress_start(&prog, "record", o->steps);
    int32_t token = prompt[0];
    uint32_t pos = 0;
    int first = 1; /* the prompt is forced in the first sequence only */
    for (uint32_t s = 0; s < o->steps && !rc; s++) {
        float *logits;
        rc = lf_llama_forward(m, token, pos, &logits, err);
        if (!rc)
            rc = lf_trace_end_token(t, token, err);
        if (rc)
            break;
        int32_t next;
        if (first && pos + 1 < n_prompt)
            next = prompt[pos + 1];
        else if (o->temperature == 0.0f)
            next = (int32_t)lf_llama_argmax(logits, c->vocab_size);
        else
            next = (int32_t)lf_llama_sample(logits, c->vocab_size, o->temperature, rng);
        pos++;
        if (next == LF_LLAMA_BOS || pos == c->seq_len) {
            token = LF_LLAMA_BOS;
            pos = 0;
            first = 0;
        } else {
            token = next;
        }
        lf_progress_update(&prog, s + 1);
    }
    lf_progress_end(&prog);
    lf_llama_recorder_stop(&r, m);
    gsl_rng_free(rng);
    if (rc)
        lf_trace_free(t);
    return rc;
}

typedef struct {
    lf_llama_observe_fn fn;
    void *ctx;
    uint32_t index;
} replay_ctx;

static int replay_observe(void *ctx, uint32_t layer, uint32_t pos, const float *x, const float *h,
                          lf_err *err)
{
    (void)pos;
    replay_ctx *r = ctx;
    return r->fn(r->ctx, layer, r->index, x, h, err);
}

int lf_llama_replay(lf_llama *m, const int32_t *tokens, uint32_t n, lf_llama_observe_fn observe,
                    void *ctx, lf_err *err)
{
    replay_ctx r = {observe, ctx, 0};
    lf_llama_hooks saved = m->hooks;
    m->hooks.observe = replay_observe;
    m->hooks.observe_ctx = &r;
    m->hooks.ffn = NULL;
    uint32_t pos = 0;
    int rc = LF_OK;
    for (uint32_t i = 0; i < n && !rc; i++) {
        if (i > 0 && tokens[i] == LF_LLAMA_BOS)
            pos = 0;
        if (pos >= m->cfg.seq_len) {
            rc = lf_fail(err, LF_EFORMAT, "replay: token %u is at position %u, past seq_len %u "
                         "without a BOS: the tokens were not recorded from this model", i, pos,
                         m->cfg.seq_len);
            break;
        }
        r.index = i;
        float *logits;
        rc = lf_llama_forward(m, tokens[i], pos, &logits, err);
        pos++;
    }
    m->hooks = saved;
    return rc;
}

int lf_llama_rec_rule(const lf_trace *t, const char *what, double *threshold, int *relative,
                      lf_err *err)
{
    const char *g = t->generator;
    const char *a = strstr(g, "threshold="), *b = strstr(g, "relative=");
    char *end;
    if (strcmp(t->source, "recorded") != 0 || !a || !b)
        return lf_fail(err, LF_EFORMAT, "%s: not a trace recorded by 'llmflash trace record' "
                       "(source '%s', generator '%.80s'); give --threshold (and --relative)",
                       what, t->source, g);
    *threshold = strtod(a + 10, &end);
    long rel = strtol(b + 9, NULL, 10);
    *relative = rel != 0;
    if (end == a + 10 || !(*threshold >= 0.0))
        return lf_fail(err, LF_EFORMAT, "%s: generator attribute has a bad threshold: '%.80s'",
                       what, g);
    return LF_OK;
}
