/* The simulator's backend: every step priced with the device's cost models. */
#include "lf_price.h"

#include <string.h>

/* The resident part of token `token` at scope token (price_token_end's compute), s. */
static double resident_s(const lf_price *s, uint32_t token)
{
    const lf_model *m = s->model;
    double eb = s->dtype_bytes, L = m->n_layers, d = m->d_model, pos = (double)token + 1;
    double att = (double)lf_model_attention_bytes(m, s->dtype_bytes);
    double head = (double)lf_model_head_bytes(m, s->dtype_bytes);
    double shared = (double)lf_model_shared_bytes(m, s->dtype_bytes);
    /* the shared experts run the expert kernel (a SwiGLU of three products), which
     * streams its weights slower than a dense product (Qwen1.5's 69 MB: 23 against
     * 28 GB/s here): priced by that kernel when the profile measured it */
    double shared_s = 0;
    if (s->shared_wps > 0 && shared > 0) {
        shared_s = shared / eb / s->shared_wps;
        shared = 0;
    }
    /* an MoE model's router: d_model x n_experts per layer */
    double router = m->kind == LF_UNITS_EXPERTS ? L * d * m->n_experts * eb : 0;
    double kv = L * pos * 2.0 * lf_model_kv_dim(m) * sizeof(float);
    double norms = (2.0 * L + 1) * d;
    /* O's rows are q_dim wide: a roofline of their own at that width's rate when
     * it differs from d_model (Qwen3.5's 8192 against 4096) */
    double o_proj = s->dense_bw_o != s->dense_bw ? L * d * lf_model_q_dim(m) * eb : 0;
    double flops = 2.0 * (att - o_proj + head + shared + router) / eb +
                   L * pos * 4.0 * lf_model_q_dim(m) +
                   4.0 * norms;
    double bytes = att - o_proj + head + shared + router + kv + norms * sizeof(float) + d * eb;
    double t = lf_roofline_time(s->dev, flops, bytes, s->dense_bw) + shared_s;
    if (o_proj > 0)
        t += lf_roofline_time(s->dev, 2.0 * o_proj / eb, o_proj, s->dense_bw_o);
    return t;
}

/* The output head's share of resident_s: its product alone, streamed at dense_bw. */
static double head_s(const lf_price *s)
{
    double head = (double)lf_model_head_bytes(s->model, s->dtype_bytes);
    return lf_roofline_time(s->dev, 2.0 * head / s->dtype_bytes, head, s->dense_bw);
}

double lf_price_batch_gap_s(const lf_price *s, const lf_step *st, const lf_times *t)
{
    double gap = t->compute_s + t->mem_s;
    if (s->scope == LF_SCOPE_TOKEN) {
        /* the executor computes the head at the token's end: it lies before layer 0's
         * batch only, the rest of the resident part a layer's share before each (the
         * head's roofline is at most resident_s's, whose flops and bytes include it) */
        double resident = resident_s(s, st->token), head = head_s(s);
        gap += (resident - head) / (s->model->n_layers ? s->model->n_layers : 1);
        if (st->layer == 0)
            gap += head;
    }
    return gap;
}

void lf_price_layer_work(const lf_price *s, const lf_step *st, lf_times *out)
{
    const lf_model *m = s->model;
    out->mem_s = lf_dram_time(s->dev, st->copy_ops, st->bytes_copied) +
                 lf_dram_alloc_time(s->dev, st->allocs, st->alloc_bytes);
    double rows = st->n_compute_rows;
    double per_row = 2.0 * lf_model_vectors_per_neuron(m) * m->d_model;
    if (m->kind == LF_UNITS_EXPERTS)
        per_row *= m->d_ff;
    double bytes = rows * (double)(s->unit_bytes ? s->unit_bytes
                                                 : lf_model_unit_bytes(m, s->dtype_bytes));
    out->compute_s = rows > 0 ? lf_roofline_time(s->dev, rows * per_row, bytes, s->ffn_bw) : 0;
    if (s->rows_gapped)
        out->compute_s += rows * s->dev->ffn_row_gap_s;
    if (m->kind == LF_UNITS_EXPERTS && s->expert_wps > 0)
        out->compute_s = rows * per_row / 2.0 / s->expert_wps;
}

static int price_layer(lf_backend *b, const lf_step *st, lf_times *out, lf_err *err)
{
    const lf_price *s = b->state;
    int rc = lf_pagecache_check(s->dev, st->n_pagecache, err);
    if (rc)
        return rc;
    lf_price_layer_work(s, st, out);
    /* the batch after this layer's work: a profile of one condition ignores the gap
     * (no resident part priced twice per step then) */
    double gap = s->dev->flash_batch2_gap_s > 0 ? lf_price_batch_gap_s(s, st, out) : -1;
    out->io_s = lf_flash_time_gap(s->dev, st->n_reads, st->bytes_read, s->inflight, gap) +
                lf_pagecache_time(s->dev, st->n_pagecache, st->pagecache_bytes);
    return LF_OK;
}

static int price_token_end(lf_backend *b, uint32_t token, lf_times *out, lf_err *err)
{
    (void)err;
    const lf_price *s = b->state;
    memset(out, 0, sizeof *out);
    if (s->scope == LF_SCOPE_TOKEN)
        out->compute_s = resident_s(s, token);
    if (s->stream_bytes) {
        uint64_t chunk = s->stream_chunk ? s->stream_chunk : (1u << 20);
        uint64_t n = (s->stream_bytes + chunk - 1) / chunk;
        out->io_s = lf_flash_time(s->dev, n, s->stream_bytes, s->inflight);
    }
    return LF_OK;
}

void lf_price_backend(lf_backend *b, lf_price *state, const lf_device *dev,
                      const lf_model *model, uint32_t dtype_bytes, uint32_t inflight)
{
    memset(state, 0, sizeof *state);
    state->dev = dev;
    state->model = model;
    state->dtype_bytes = dtype_bytes;
    state->inflight = inflight ? inflight : 1;
    state->stream_chunk = 1u << 20;
    state->shared_wps = lf_device_expert_wps(dev, 8 * dtype_bytes);
    /* the FFN kernel's rate for this shape (experts: the roofline's, or expert_wps) */
    state->ffn_bw = model->kind == LF_UNITS_EXPERTS
                        ? dev->mem_bw
                        : lf_device_ffn_bw(dev, model->act == LF_ACT_SWIGLU, model->d_model);
    /* the resident matrices' rows are d_model wide (Q, K, V, the head, the router), O's
     * q_dim wide (the two are equal in most shapes) */
    state->dense_bw = lf_device_dense_bw_at(dev, model->d_model);
    state->dense_bw_o = lf_device_dense_bw_at(dev, lf_model_q_dim(model));
    b->state = state;
    b->layer = price_layer;
    b->token_end = price_token_end;
    b->any_order = 1;
    b->counts_only = 1;
}
