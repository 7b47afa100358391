/* The expert executor: the plan's loads read for real (page cache or O_DIRECT), the
 * routed experts computed from the DRAM rows; and the replay driver for expert files. */
#include "lf_exec_moe.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lf_attn.h"
#include "lf_bigmem.h"
#include "lf_dram.h"
#include "lf_half.h"
#include "lf_io.h"
#include "lf_kv.h"
#include "lf_mix.h"
#include "lf_policy.h"
#include "lf_quant.h"
#include "lf_time.h"

struct lf_exec_moe {
    lf_exec_moe_cfg cfg;
    const lf_weights *w;
    lf_quant_expert q;
    lf_io *io;               /* the reads: psync (O_DIRECT) or buffered (page cache) */
    lf_pcache *pc;           /* buffered: the bounded page cache (mincore, evictions) */
    lf_dram *dram;           /* n_layers */
    float *x, *y, *scratch;
    lf_io_req *reqs, *sync, *async; /* every load; those computed with; the others */
    uint32_t reqs_cap;
    uint8_t *pred;           /* per load: the policy said page cache */
    gsl_rng *rng;
    uint64_t *log;
    uint64_t n_log, log_cap;
    uint32_t check_every, steps;
    lf_attn *attn;           /* scope token: the resident part; NULL at scope ffn */
    float *res;              /* scope token: the residual stream (d_model) */
    uint16_t *router;        /* scope token: n_layers x n_experts x d_model, fp16 */
    float *logits;           /* the router's output (n_experts) */
    lf_quant_expert shq;     /* the model's shared expert (shared_ff > 0), fp16 */
    uint16_t *shared;        /* n_layers records of shq, NULL without one */
    float *shared_y;         /* its output (d_model) */
    lf_exec_moe_stats st;
};

/* n fp16 values uniform in [-a, a] from the stream s. */
static void fill_half(uint16_t *dst, size_t n, float a, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = lf_float_to_half(
            (float)((double)(lf_mix_next(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * a);
}

/* Scope token: the resident part (lf_attn, fp16 as the simulator prices it), the router's
 * weights and the shared expert's (uniform, scaled for unit-scale outputs, from the
 * seed's own stream). */
static int resident_create(lf_exec_moe *e, lf_err *err)
{
    const lf_weights *w = e->w;
    lf_model m = w->model;
    m.n_layers = e->cfg.n_layers;
    uint32_t toks = e->cfg.n_tokens ? e->cfg.n_tokens : e->cfg.trace->n_tokens;
    lf_attn_cfg ac = {&m, LF_DTYPE_FP16, e->cfg.n_layers, toks ? toks : 1, e->cfg.seed};
    int rc = lf_attn_create(&ac, &e->attn, err);
    if (rc)
        return lf_err_prefix(err, "expert executor (scope token)");
    uint32_t d = w->h.d_model, n = w->h.units;
    size_t nw = (size_t)e->cfg.n_layers * n * d;
    e->res = calloc(d, sizeof(float));
    e->router = malloc(nw * sizeof *e->router);
    e->logits = malloc(sizeof(float) * n);
    if (!e->res || !e->router || !e->logits)
        return lf_fail(err, LF_ENOMEM, "expert executor: out of memory for the router");
    uint64_t st = lf_mix64(e->cfg.seed ^ 0x726f75746572ull); /* "router" */
    fill_half(e->router, nw, sqrtf(3.0f / (float)d), &st);
    e->st.resident_bytes = lf_attn_weight_bytes(e->attn) + lf_attn_cache_bytes(e->attn) +
                           nw * sizeof *e->router;
    uint32_t sf = w->model.shared_ff;
    if (sf == 0)
        return LF_OK;
    lf_quant_expert_init(&e->shq, LF_DTYPE_FP16, d, sf);
    size_t part = (size_t)d * sf, rec = 3 * part; /* gate, up, down: fp16 values */
    /* in the pages the expert kernel is calibrated on (lf_bigmem), as every other weight
     * the executor computes with: Qwen1.5's 69 MB shared expert in 4 KiB pages (malloc)
     * gave a mean compute of 33.0-33.5 ms a token, in huge pages 28.2-32.9 (5 interleaved
     * pairs of `run`, 300 tokens; the medians alike, 30.6-31.0) */
    e->shared = lf_bigmem_alloc(rec * e->cfg.n_layers * sizeof *e->shared);
    e->shared_y = malloc(sizeof(float) * d);
    float *scr = realloc(e->scratch, sizeof(float) * (lf_quant_expert_scratch(&e->shq) >
                                                      lf_quant_expert_scratch(&e->q)
                                                      ? lf_quant_expert_scratch(&e->shq)
                                                      : lf_quant_expert_scratch(&e->q)));
    if (scr)
        e->scratch = scr;
    if (!e->shared || !e->shared_y || !scr)
        return lf_fail(err, LF_ENOMEM, "expert executor: out of memory for the shared expert "
                       "(%.1f MiB)", rec * e->cfg.n_layers * 2 / 1048576.0);
    for (uint32_t l = 0; l < e->cfg.n_layers; l++) {
        uint16_t *r = e->shared + rec * l;
        fill_half(r, 2 * part, sqrtf(3.0f / (float)d), &st);
        fill_half(r + 2 * part, part, 0.5f * sqrtf(3.0f / (float)sf), &st);
    }
    e->st.resident_bytes += rec * e->cfg.n_layers * sizeof *e->shared;
    return LF_OK;
}

/* Scope token, after the attention block: the router's logits (n_experts x d_model
 * matvec) and the shared expert's output, both from DRAM, on the normed x. */
static void router_and_shared(lf_exec_moe *e, uint32_t layer, const float *x)
{
    uint32_t d = e->w->h.d_model, n = e->w->h.units;
    lf_quant_matvec(LF_DTYPE_FP16, e->router + (size_t)layer * n * d, n, d, x, e->logits);
    if (e->shared) {
        memset(e->shared_y, 0, sizeof(float) * d);
        lf_quant_expert_swiglu(&e->shq, e->shared + (size_t)layer * 3 * d * e->shq.d_ff, x,
                               1.0f, e->shared_y, e->scratch);
    }
}

int lf_exec_moe_create(const lf_exec_moe_cfg *cfg, lf_exec_moe **out, lf_err *err)
{
    *out = NULL;
    const lf_weights *w = cfg->weights;
    if (w->h.kind != LF_UNITS_EXPERTS || w->h.layout != LF_LAYOUT_BUNDLED)
        return lf_fail(err, LF_EUNSUP, "expert executor: %s holds %s in the %s layout; it runs "
                       "expert files in the bundled layout (one record per expert): make one with "
                       "`llmflash weights make --model MOE --layout bundled --dtype q4`",
                       w->path, w->h.kind ? "experts" : "neurons", lf_layout_kind_name(w->h.layout));
    if (cfg->n_layers == 0 || cfg->n_layers > w->h.n_layers)
        return lf_fail(err, LF_EINVAL, "expert executor: %u layers asked, %s holds %u",
                       cfg->n_layers, w->path, w->h.n_layers);
    if (!cfg->buffered) {
        int rc = lf_weights_check_alignment(w, LF_IO_ALIGN, err);
        if (rc)
            return rc;
    }
    lf_exec_moe *e = calloc(1, sizeof *e);
    if (!e)
        return lf_fail(err, LF_ENOMEM, "expert executor: out of memory");
    e->cfg = *cfg;
    e->w = w;
    lf_quant_expert_init(&e->q, w->h.dtype, w->h.d_model, w->h.d_ff);
    uint32_t d = w->h.d_model;
    e->dram = calloc(cfg->n_layers, sizeof *e->dram);
    e->x = malloc(sizeof(float) * d);
    e->y = calloc(d, sizeof(float));
    e->scratch = malloc(sizeof(float) * lf_quant_expert_scratch(&e->q));
    e->rng = gsl_rng_alloc(gsl_rng_taus2);
    int rc = LF_OK;
    if (!e->dram || !e->x || !e->y || !e->scratch || !e->rng) {
        rc = lf_fail(err, LF_ENOMEM, "expert executor: out of memory");
    } else if (cfg->scope == LF_SCOPE_TOKEN && (rc = resident_create(e, err))) {
        /* reported */
    }
    uint32_t depth = cfg->inflight == 0 ? 1 : cfg->inflight;
    if (depth > LF_MOE_MAX_INFLIGHT)
        depth = LF_MOE_MAX_INFLIGHT;
    if (rc == LF_OK && cfg->buffered) {
        lf_pcache_cfg pcc = {w->h.data_offset, w->h.record_bytes,
                             cfg->pc_per_layer ? w->h.records_per_layer : 0, cfg->pc_budget,
                             cfg->n_layers, cfg->pc_mech, (uint64_t)depth * w->h.record_bytes};
        rc = lf_pcache_open(w->path, &pcc, &e->pc, err);
    }
    /* the reads go through their own descriptor, opened after lf_pcache_open dropped
     * the file's pages and (cgroup) moved the process: the page cache is the file's,
     * whichever descriptor reads it, and the buffered engine's has readahead off too */
    if (rc == LF_OK)
        rc = lf_io_open(cfg->buffered ? "buffered" : "psync", w->path, depth, &e->io, err);
    if (rc) {
        lf_exec_moe_free(e);
        return rc;
    }
    *out = e;
    return LF_OK;
}

void lf_exec_moe_free(lf_exec_moe *e)
{
    if (!e)
        return;
    lf_io_close(e->io);
    if (e->pc)
        lf_pcache_close(e->pc);
    if (e->dram)
        for (uint32_t l = 0; l < e->cfg.n_layers; l++)
            lf_dram_free(&e->dram[l]);
    free(e->dram);
    free(e->x);
    free(e->y);
    free(e->scratch);
    free(e->reqs);
    free(e->sync);
    free(e->async);
    free(e->pred);
    free(e->log);
    lf_attn_free(e->attn);
    free(e->res);
    free(e->router);
    free(e->logits);
    free(e->shared);
    free(e->shared_y);
    if (e->rng)
        gsl_rng_free(e->rng);
    free(e);
}

static int reserve(lf_exec_moe *e, const lf_step *s, lf_err *err)
{
    lf_dram *d = &e->dram[s->layer];
    if (d->row_bytes == 0) {
        int rc = lf_dram_init(d, LF_DRAM_PREALLOC, e->w->h.units, s->slots->cap_rows,
                              e->w->h.record_bytes, err);
        if (rc)
            return lf_err_prefix(err, "layer %u", s->layer);
    }
    uint32_t n = s->plan->n_load;
    if (n > e->reqs_cap) {
        free(e->reqs);
        free(e->sync);
        free(e->async);
        free(e->pred);
        e->reqs = malloc(sizeof *e->reqs * n);
        e->sync = malloc(sizeof *e->sync * n);
        e->async = malloc(sizeof *e->async * n);
        e->pred = malloc(n);
        e->reqs_cap = e->reqs && e->sync && e->async && e->pred ? n : 0;
        if (!e->reqs_cap)
            return lf_fail(err, LF_ENOMEM, "expert executor: out of memory");
    }
    if (e->cfg.log_reads && e->n_log + n > e->log_cap) {
        uint64_t cap = (e->n_log + n) * 2 + 64;
        uint64_t *p = realloc(e->log, cap * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "expert executor: out of memory for the read log");
        e->log = p;
        e->log_cap = cap;
    }
    return LF_OK;
}

static void next_input(lf_exec_moe *e, const lf_step *s)
{
    lf_attn_layer_input(e->attn ? e->res : NULL, e->y, e->w->h.d_model, s->layer, s->token,
                        e->cfg.seed, e->rng, e->x);
}

static int moe_layer(lf_backend *b, const lf_step *s, lf_times *out, lf_err *err)
{
    lf_exec_moe *e = b->state;
    memset(out, 0, sizeof *out);
    if (s->layer >= e->cfg.n_layers)
        return lf_fail(err, LF_ERANGE, "expert executor: layer %u beyond the %u prepared",
                       s->layer, e->cfg.n_layers);
    lf_dram *d = &e->dram[s->layer];
    double pc_s = 0, t_fit = lf_now();
    /* cgroup: the limit fitted to what the process holds, this layer's rows (allocated
     * by reserve at its first step) announced, then fitted again to what they took (some
     * of it may be memory charged before the run, elsewhere) */
    uint64_t rows = d->row_bytes ? 0 : (uint64_t)s->slots->cap_rows * e->w->h.record_bytes;
    int rc = e->pc ? lf_pcache_fit(e->pc, rows, err) : LF_OK;
    if (rc)
        return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
    if ((rc = reserve(e, s, err)))
        return rc;
    if (e->pc && rows && (rc = lf_pcache_fit(e->pc, 0, err)))
        return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
    if (e->pc)
        pc_s += lf_now() - t_fit;
    const lf_plan *pl = s->plan;
    const lf_layout *L = &e->w->layout;
    double t0 = lf_now();
    rc = lf_dram_step(d, s->moves, s->n_moves, s->slots, s->first_new_row, err);
    if (rc)
        return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
    double t1 = lf_now();
    /* every load is one record read into its row; the page cache model's loads too:
     * what the OS really serves is measured, not assumed */
    uint32_t j = 0;
    for (uint32_t k = 0; k < pl->n_load; k++) {
        uint32_t u = pl->load[k], row = lf_slots_row(s->slots, u);
        if (row == LF_SLOT_NONE || row < s->first_new_row || row >= d->num_used)
            return lf_fail(err, LF_ERANGE, "expert executor: token %u layer %u: loaded expert %u "
                           "is not in a new row", s->token, s->layer, u);
        while (j < pl->n_pagecache && pl->pagecache[j] < u)
            j++;
        e->pred[k] = j < pl->n_pagecache && pl->pagecache[j] == u;
        uint64_t off = L->data_offset + (uint64_t)s->layer * L->layer_bytes + (uint64_t)u * L->record_bytes;
        e->reqs[k] = (lf_io_req){off, L->record_bytes, lf_dram_row(d, row), k};
        if (e->cfg.log_reads)
            e->log[e->n_log++] = off;
    }
    /* The page cache, read by read in the order the policy's model passed them through
     * it (prefetch guesses first), else the plan's: was the record cached before its
     * read? Then it becomes the most recent and the least recent records beyond the
     * budget are dropped (a record read later in this step may have been dropped by an
     * earlier one, as in the policy's model). */
    if (e->pc) {
        double a = lf_now();
        for (uint32_t i = 0; i < pl->n_load; i++) {
            uint32_t u = pl->pagecache_order ? pl->pagecache_order[i] : pl->load[i];
            uint32_t k = pl->pagecache_order ? lf_ids_lower_bound(pl->load, pl->n_load, u) : i;
            if (k >= pl->n_load || pl->load[k] != u)
                return lf_fail(err, LF_EINVAL, "expert executor: the page-cache order names a "
                               "unit the plan does not load (policy bug)");
            int all = 0;
            uint64_t cached = 0;
            if ((rc = lf_pcache_resident(e->pc, e->reqs[k].offset, e->reqs[k].length, &all,
                                         &cached, err)) ||
                (rc = lf_pcache_touch(e->pc, e->reqs[k].offset, err)))
                return rc;
            e->st.pc_measured += (uint64_t)all;
            e->st.pc_partial += (uint64_t)(!all && cached > 0);
            e->st.pc_bytes_loaded += e->reqs[k].length;
            e->st.pc_bytes_cached += cached;
            e->st.pc_agree += (uint64_t)(all == e->pred[k]);
        }
        pc_s += lf_now() - a;
    }
    e->st.pc_predicted += pl->n_pagecache;
    /* loads the layer does not compute with (wrong prefetch guesses) are read while it
     * computes; the others first */
    uint32_t n_sync = 0, n_async = 0;
    for (uint32_t k = 0, q = 0; k < pl->n_load; k++) {
        while (q < s->n_need && s->need[q] < pl->load[k])
            q++;
        if (q < s->n_need && s->need[q] == pl->load[k])
            e->sync[n_sync++] = e->reqs[k];
        else
            e->async[n_async++] = e->reqs[k];
    }
    /* scope token: the embedding row (layer 0), the attention block and the router, which
     * the routed reads wait for (the routing itself is the trace's) */
    double attn_s = 0;
    if (e->attn) {
        double a = lf_now();
        if (s->layer == 0 && (rc = lf_attn_begin(e->attn, s->token, e->res, err)))
            return rc;
        if ((rc = lf_attn_layer(e->attn, s->layer, s->token, e->res, err)))
            return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
        lf_attn_norm(e->res, e->w->h.d_model, e->x);
        router_and_shared(e, s->layer, e->x);
        attn_s = lf_now() - a;
    }
    double t2 = lf_now();
    if ((rc = lf_io_read_all(e->io, e->sync, n_sync, 0, err)))
        return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
    double t3 = lf_now();
    /* the plan must have made every routed expert resident: checked before any read
     * runs in the background, so that this error has nothing to wait for */
    for (uint32_t k = 0; k < s->n_need; k++)
        if (lf_slots_row(s->slots, s->need[k]) == LF_SLOT_NONE)
            return lf_fail(err, LF_EINVAL, "expert executor: token %u layer %u: routed expert %u "
                           "is not resident", s->token, s->layer, s->need[k]);
    /* the wrong guesses' reads run while the layer computes; waited for below (every
     * return from here on waits first: the reads fill this step's rows) */
    if ((rc = lf_io_read_start(e->io, e->async, n_async, 0, err)))
        return lf_err_prefix(err, "token %u layer %u (prefetch)", s->token, s->layer);
    /* the routed experts, weighted by the router */
    next_input(e, s);
    double t4 = lf_now();
    memset(e->y, 0, sizeof(float) * e->w->h.d_model);
    const lf_trace_layer *TL = &e->cfg.trace->layers[s->layer];
    const float *wt = TL->value ? TL->value + TL->indptr[s->token] : NULL;
    for (uint32_t k = 0; k < s->n_need; k++) {
        uint32_t row = lf_slots_row(s->slots, s->need[k]);
        float g = wt ? wt[k] : 1.0f / (float)s->n_need;
        lf_quant_expert_swiglu(&e->q, lf_dram_row(d, row), e->x, g, e->y, e->scratch);
    }
    double t5 = lf_now(), t6 = t5;
    if (n_async) {
        rc = lf_io_read_wait(e->io, err);
        t6 = lf_now();
        if (rc)
            return lf_err_prefix(err, "token %u layer %u (prefetch)", s->token, s->layer);
    }
    /* every read of the step has landed: what it evicted of its own records goes now,
     * then the budget is checked (mincore) as the step leaves the page cache */
    if (e->pc) {
        if ((rc = lf_pcache_settle(e->pc, err)))
            return rc;
        if (e->check_every && ++e->steps % e->check_every == 0) {
            uint64_t cached;
            if ((rc = lf_pcache_cached_bytes(e->pc, &cached, err)))
                return rc;
            e->st.pc_checks++;
            if (cached > e->st.max_cached_bytes)
                e->st.max_cached_bytes = cached;
        }
        pc_s += lf_now() - t6;
    }
    out->mem_s = t1 - t0;
    out->io_s = (t3 - t2) + (t6 - t5);
    if (e->attn)
        for (uint32_t i = 0; i < e->w->h.d_model; i++)
            e->res[i] += e->y[i] + (e->shared ? e->shared_y[i] : 0.0f);
    out->compute_s = (t5 - t4) + attn_s;
    e->st.attn_s += attn_s;
    e->st.mem_s += out->mem_s;
    e->st.io_s += out->io_s;
    e->st.compute_s += out->compute_s;
    e->st.pcache_s += pc_s;
    e->st.reads += n_sync + n_async;
    e->st.loads += pl->n_load;
    e->st.bytes_read += (uint64_t)pl->n_load * L->record_bytes;
    e->st.moves += s->n_moves;
    e->st.experts_computed += s->n_need;
    if (s->layer + 1 == e->cfg.n_layers)
        for (uint32_t i = 0; i < e->w->h.d_model; i++)
            e->st.checksum += e->y[i];
    return LF_OK;
}

/* Scope token: the final norm and the output head. */
static int moe_token_end(lf_backend *b, uint32_t token, lf_times *out, lf_err *err)
{
    (void)token;
    (void)err;
    lf_exec_moe *e = b->state;
    memset(out, 0, sizeof *out);
    if (!e->attn)
        return LF_OK;
    double t0 = lf_now();
    lf_attn_end(e->attn, e->res);
    out->compute_s = lf_now() - t0;
    e->st.compute_s += out->compute_s;
    e->st.attn_s += out->compute_s;
    return LF_OK;
}

void lf_exec_moe_backend(lf_backend *b, lf_exec_moe *e)
{
    memset(b, 0, sizeof *b);
    b->state = e;
    b->layer = moe_layer;
    b->token_end = moe_token_end;
}

void lf_exec_moe_stats_get(const lf_exec_moe *e, lf_exec_moe_stats *s)
{
    *s = e->st;
}

const char *lf_exec_moe_mechanism(const lf_exec_moe *e)
{
    return e->pc ? lf_pcache_mechanism(e->pc) : "direct";
}

const char *lf_exec_moe_mechanism_note(const lf_exec_moe *e)
{
    return e->pc ? lf_pcache_note(e->pc) : "";
}

void lf_exec_moe_check_every(lf_exec_moe *e, uint32_t every)
{
    e->check_every = every;
}

const uint64_t *lf_exec_moe_log(const lf_exec_moe *e, uint64_t *n)
{
    *n = e->n_log;
    return e->log;
}

const float *lf_exec_moe_last_output(const lf_exec_moe *e)
{
    return e->y;
}

/* ---- the replay driver ---- */

uint32_t lf_moe_layers(const lf_trace *t, const lf_weights *w)
{
    return t->n_layers < w->h.n_layers ? t->n_layers : w->h.n_layers;
}

int lf_moe_replay(const lf_moe_replay_cfg *c, lf_backend *b, lf_token_row *rows,
                  lf_policy_counts *counts, lf_err *err)
{
    const lf_weights *w = c->weights;
    lf_trace tv = *c->trace; /* read-only view: the file's layers of a deeper trace */
    if (tv.n_layers > w->h.n_layers)
        tv.n_layers = w->h.n_layers;
    const lf_trace *t = &tv;
    int rc = lf_weights_check_trace(w, t, err);
    if (rc)
        return rc;
    lf_model m = w->model;
    m.n_layers = t->n_layers;
    lf_layout L = w->layout;
    L.n_layers = t->n_layers;
    L.friend_of = NULL;
    uint64_t cap = c->capacity ? c->capacity : t->units_per_layer;
    lf_policy_ctx ctx = {t->n_layers, t->units_per_layer, cap, t, NULL, c->seed,
                         lf_trace_max_set(t, 0)};
    lf_policy *pol;
    if ((rc = lf_policy_create(c->policy, &ctx, &pol, err)))
        return rc;
    lf_replay_cfg rcfg;
    memset(&rcfg, 0, sizeof rcfg);
    rcfg.trace = t;
    rcfg.model = &m;
    rcfg.dtype_bytes = lf_dtype_bytes(w->h.dtype);
    rcfg.policy = pol;
    rcfg.layout = &L;
    rcfg.reader = (lf_reader_cfg){0, 0, c->threads ? c->threads : 1};
    rcfg.n_tokens = c->n_tokens;
    rcfg.capacity = cap;
    rcfg.quiet = c->quiet;
    rc = lf_replay(&rcfg, b, rows, err);
    if (counts)
        lf_policy_counts_get(pol, counts);
    lf_policy_free(pol);
    return rc;
}

static int contains(const uint32_t *ids, uint32_t n, uint32_t id)
{
    uint32_t lo = lf_ids_lower_bound(ids, n, id);
    return lo < n && ids[lo] == id;
}

static int moe_sim_layer(lf_backend *b, const lf_step *st, lf_times *out, lf_err *err)
{
    lf_moe_sim *m = b->state;
    const lf_device *dev = m->sim.dev;
    int rc = lf_pagecache_check(dev, st->n_pagecache, err);
    if (rc)
        return rc;
    lf_price_layer_work(&m->sim, st, out); /* mem and compute as the simulator; io below */
    uint64_t rec = m->record_bytes;
    uint64_t n[2] = {0, 0}, bytes[2] = {0, 0}, npc[2] = {0, 0}; /* [0] computed with, [1] not */
    for (uint32_t i = 0; i < st->n_reads; i++) {
        const lf_read *r = &st->reads[i];
        int idle = 1; /* a read serves only units the layer does not compute with */
        for (uint32_t j = 0; j < r->n_extents; j++)
            idle &= !contains(st->need, st->n_need, st->extents[r->first_extent + j].unit);
        n[idle]++;
        bytes[idle] += r->length;
    }
    for (uint32_t i = 0; i < st->plan->n_pagecache; i++)
        npc[!contains(st->need, st->n_need, st->plan->pagecache[i])]++;
    double io[2], gap = dev->flash_batch2_gap_s > 0 ? lf_price_batch_gap_s(&m->sim, st, out) : -1;
    for (int k = 0; k < 2; k++) {
        io[k] = lf_flash_time_gap(dev, n[k], bytes[k], m->sim.inflight, gap) +
                lf_pagecache_time(dev, npc[k], npc[k] * rec);
        /* a miss lands in the page cache, then is copied out (a profile measured through
         * the page cache has the copy in its flash keys already) */
        if (m->buffered && !dev->flash_buffered)
            io[k] += lf_pagecache_time(dev, n[k], bytes[k]);
    }
    out->io_s = io[0] + (io[1] > out->compute_s ? io[1] - out->compute_s : 0);
    return LF_OK;
}

static int moe_sim_token_end(lf_backend *b, uint32_t token, lf_times *out, lf_err *err)
{
    lf_moe_sim *m = b->state;
    return m->inner.token_end(&m->inner, token, out, err);
}

void lf_moe_sim_backend(lf_backend *b, lf_moe_sim *s, const lf_device *dev, const lf_weights *w,
                        uint32_t threads, int buffered, lf_scope scope, uint32_t n_layers)
{
    memset(s, 0, sizeof *s);
    s->model = w->model;
    if (n_layers && n_layers < s->model.n_layers)
        s->model.n_layers = n_layers;
    /* the executor's resident part is fp16 whatever the experts' dtype */
    lf_price_backend(&s->inner, &s->sim, dev, &s->model, 2, threads);
    s->sim.unit_bytes = (uint64_t)w->h.vectors * w->h.vector_bytes;
    s->sim.expert_wps = lf_device_expert_wps(dev, lf_quant_bits(w->h.dtype));
    s->sim.scope = scope;
    s->buffered = buffered;
    s->record_bytes = w->h.record_bytes;
    memset(b, 0, sizeof *b);
    b->state = s;
    b->layer = moe_sim_layer;
    b->token_end = moe_sim_token_end;
}

int lf_moe_tiers(const char *policy, uint64_t capacity, uint32_t n_layers, uint64_t record_bytes,
                 lf_exec_moe_cfg *ec, lf_err *err)
{
    ec->buffered = 0;
    ec->pc_budget = 0;
    ec->pc_per_layer = 0;
    char name[64];
    lf_kv kv;
    lf_kv_init(&kv, "policy");
    int rc = lf_kv_parse_spec(policy, &kv, name, sizeof name, err);
    if (rc == LF_OK && !strcmp(name, "pagecache")) {
        uint64_t dram = 0, pc = 0;
        rc = lf_kv_u64(&kv, "dram", 0, &dram, err);
        if (rc == LF_OK)
            rc = lf_kv_u64(&kv, "pc", capacity > dram ? capacity - dram : 0, &pc, err);
        const char *scope = lf_kv_get(&kv, "scope");
        if (rc == LF_OK && pc > 0) {
            ec->buffered = 1;
            ec->pc_per_layer = !scope || strcmp(scope, "global") != 0;
            ec->pc_budget = pc * record_bytes * (ec->pc_per_layer ? 1 : n_layers);
        }
    }
    lf_kv_free(&kv);
    return rc;
}

int lf_moe_measure(const lf_moe_replay_cfg *c, lf_token_row *rows, lf_moe_measured *out,
                   lf_err *err)
{
    memset(out, 0, sizeof *out);
    const lf_weights *w = c->weights;
    uint64_t cap = c->capacity ? c->capacity : c->trace->units_per_layer;
    uint32_t layers = lf_moe_layers(c->trace, w);
    lf_exec_moe_cfg ec = {.weights = w, .trace = c->trace, .inflight = c->threads,
                          .n_layers = layers, .seed = c->seed, .scope = c->scope,
                          .n_tokens = c->n_tokens, .pc_mech = c->pc_mech};
    int rc = lf_moe_tiers(c->policy, cap, layers, w->h.record_bytes, &ec, err);
    if (rc)
        return rc;
    lf_exec_moe *e;
    if ((rc = lf_exec_moe_create(&ec, &e, err)))
        return rc;
    lf_backend b;
    lf_exec_moe_backend(&b, e);
    uint64_t paged0 = 0, paged1 = 0;
    int paged_known = ec.buffered && lf_pcache_outside_paged(&paged0) == 0;
    rc = lf_moe_replay(c, &b, rows, &out->counts, err);
    paged_known = paged_known && lf_pcache_outside_paged(&paged1) == 0 && paged1 >= paged0;
    out->outside_paged = paged_known ? (int64_t)(paged1 - paged0) : -1;
    lf_exec_moe_stats_get(e, &out->stats);
    snprintf(out->mechanism, sizeof out->mechanism, "%s", lf_exec_moe_mechanism(e));
    snprintf(out->mechanism_note, sizeof out->mechanism_note, "%s",
             lf_exec_moe_mechanism_note(e));
    out->pc_budget_bytes = ec.pc_budget * (ec.pc_per_layer ? layers : 1);
    out->huge_bytes = lf_bigmem_huge_bytes();
    if (ec.buffered)
        lf_pcache_outside_reclaim(out->outside_reclaim, sizeof out->outside_reclaim);
    lf_exec_moe_free(e);
    return rc;
}
