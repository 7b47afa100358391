/* A llama2.c checkpoint's FFN weights as a weights file's values. */
#include "lf_llama_weights.h"

#include <stdio.h>
#include <string.h>

int lf_llama_model(const lf_llama *m, lf_model *out, lf_err *err)
{
    const lf_llama_config *c = &m->cfg;
    char name[64];
    const char *base = strrchr(m->path, '/');
    snprintf(name, sizeof name, "%s", base ? base + 1 : m->path);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    lf_err ignored;
    if (lf_model_lookup(name, out, &ignored) == LF_OK && out->kind == LF_UNITS_NEURONS &&
        out->act == LF_ACT_SWIGLU && out->n_layers == c->n_layers && out->d_model == c->dim &&
        out->d_ff == c->hidden_dim)
        return LF_OK;
    snprintf(name, sizeof name, "custom:%u,%u,%u,swiglu", c->n_layers, c->dim, c->hidden_dim);
    return lf_model_lookup(name, out, err);
}

void lf_llama_weights_values(void *ctx, uint32_t layer, uint32_t unit, uint32_t part, float *out)
{
    const lf_llama *m = ctx;
    uint32_t d = m->cfg.dim, hd = m->cfg.hidden_dim;
    lf_llama_ffn f;
    lf_llama_ffn_weights(m, layer, &f);
    if (part == 0)
        memcpy(out, f.w1 + (size_t)unit * d, d * sizeof *out);
    else if (part == 1)
        memcpy(out, f.w3 + (size_t)unit * d, d * sizeof *out);
    else
        for (uint32_t i = 0; i < d; i++)
            out[i] = f.w2[(size_t)i * hd + unit];
}

int lf_llama_weights_spec(const lf_llama *m, lf_model *model, lf_weights_spec *spec, lf_err *err)
{
    int rc = lf_llama_model(m, model, err);
    if (rc)
        return rc;
    spec->model = model;
    spec->seed = 0; /* the values are the checkpoint's, not the seed's */
    return LF_OK;
}
