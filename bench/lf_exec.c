#include "lf_exec.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lf_attn.h"
#include "lf_time.h"

struct lf_exec {
    lf_exec_cfg cfg;
    const lf_weights *w;
    const lf_io_ops *ops;
    lf_io *io;
    lf_ffn_shape shape;
    size_t row_bytes;
    lf_dram *dram;           /* n_layers; a layer's matrix is made at its first step */
    float *bias;             /* n_layers * units: every unit's bias (resident, from the seed) */
    float *x, *y;            /* d_model */
    lf_attn *attn;           /* scope token: the resident part; NULL at scope ffn */
    float *res;              /* scope token: the residual stream (d_model) */
    const float *input;      /* NULL, or the caller's input vector (lf_exec_set_input) */
    uint32_t *filled;        /* per row of the current layer: step stamp when written */
    uint32_t filled_cap, stamp;
    unsigned char *staging;  /* reads that do not land in one row range */
    size_t staging_cap;
    lf_io_req *reqs;
    uint32_t *staged_at;     /* per read: index into staged list or UINT32_MAX */
    uint32_t reqs_cap;
    gsl_rng *rng;            /* layer-0 inputs, reseeded per token from cfg.seed */
    lf_exec_stats st;
};

/* Row layout in DRAM (bench/README.md): a unit's vectors in part order; split rows keep
 * each vector's padded record so a record read lands whole. Rows are 4096-aligned: the
 * row size the simulator prices moves with (lf_replay_dram_row_bytes). */
static void row_shape(const lf_weights *w, lf_ffn_shape *s, size_t *row_bytes)
{
    const lf_weights_header *h = &w->h;
    lf_ffn_shape_packed(s, &w->model, h->dtype);
    s->part_stride = h->layout == LF_LAYOUT_SPLIT ? h->record_bytes : h->vector_bytes;
    *row_bytes = (size_t)lf_exec_row_bytes(w);
    s->row_stride = *row_bytes;
}

uint64_t lf_exec_row_bytes(const lf_weights *w)
{
    /* the layout's row (the file's alignment), in whole pages: direct reads land in rows,
     * and a file made with a smaller --alignment (read buffered) gets them too */
    uint64_t bytes = lf_replay_dram_row_bytes(&w->layout);
    return (bytes + LF_IO_ALIGN - 1) / LF_IO_ALIGN * LF_IO_ALIGN;
}

int lf_exec_create(const lf_exec_cfg *cfg, lf_exec **out, lf_err *err)
{
    *out = NULL;
    const lf_weights *w = cfg->weights;
    if (w->h.kind != LF_UNITS_NEURONS)
        return lf_fail(err, LF_EUNSUP, "executor: %s holds experts; the executor runs neuron "
                       "(dense-FFN) models only", w->path);
    if (cfg->n_layers == 0 || cfg->n_layers > w->h.n_layers)
        return lf_fail(err, LF_EINVAL, "executor: %u layers asked, %s holds %u", cfg->n_layers,
                       w->path, w->h.n_layers);
    const lf_io_ops *ops;
    int rc = lf_io_engine(cfg->engine, &ops, err);
    if (rc)
        return rc;
    if ((ops->caps & LF_IO_CAP_ALIGNED) && (rc = lf_weights_check_alignment(w, LF_IO_ALIGN, err)))
        return rc;
    lf_exec *e = calloc(1, sizeof *e);
    if (!e)
        return lf_fail(err, LF_ENOMEM, "executor: out of memory");
    e->cfg = *cfg;
    e->w = w;
    e->ops = ops;
    row_shape(w, &e->shape, &e->row_bytes);
    uint32_t d = w->h.d_model, units = w->h.units;
    e->dram = calloc(cfg->n_layers, sizeof *e->dram);
    e->bias = malloc(sizeof(float) * (size_t)cfg->n_layers * units);
    e->x = malloc(sizeof(float) * d);
    e->y = calloc(d, sizeof(float));
    e->rng = gsl_rng_alloc(gsl_rng_taus2);
    if (!e->dram || !e->bias || !e->x || !e->y || !e->rng) {
        lf_exec_free(e);
        return lf_fail(err, LF_ENOMEM, "executor: out of memory");
    }
    for (uint32_t l = 0; l < cfg->n_layers; l++)
        for (uint32_t u = 0; u < units; u++)
            e->bias[(size_t)l * units + u] = lf_weights_bias(&w->h, l, u);
    uint32_t depth = cfg->inflight ? cfg->inflight : 1;
    if ((rc = ops->open(&e->io, ops->caps & LF_IO_CAP_NODEVICE ? NULL : w->path, depth, err))) {
        e->io = NULL;
        lf_exec_free(e);
        return rc;
    }
    e->st.fixed_bytes = sizeof(float) * ((size_t)cfg->n_layers * units + 2u * d);
    if (cfg->scope == LF_SCOPE_TOKEN) {
        lf_attn_cfg ac = {&w->model, w->h.dtype, cfg->n_layers,
                          cfg->n_tokens ? cfg->n_tokens : 1, cfg->seed};
        if ((rc = lf_attn_create(&ac, &e->attn, err)) ||
            !(e->res = calloc(d, sizeof(float)))) {
            lf_exec_free(e);
            return rc ? lf_err_prefix(err, "executor (scope token)")
                      : lf_fail(err, LF_ENOMEM, "executor: out of memory");
        }
        e->st.resident_bytes = lf_attn_weight_bytes(e->attn) + lf_attn_cache_bytes(e->attn);
    }
    *out = e;
    return LF_OK;
}

void lf_exec_free(lf_exec *e)
{
    if (!e)
        return;
    if (e->io)
        e->ops->close(e->io);
    if (e->dram)
        for (uint32_t l = 0; l < e->cfg.n_layers; l++)
            lf_dram_free(&e->dram[l]);
    free(e->dram);
    free(e->bias);
    free(e->x);
    free(e->y);
    lf_attn_free(e->attn);
    free(e->res);
    free(e->filled);
    free(e->staging);
    free(e->reqs);
    free(e->staged_at);
    if (e->rng)
        gsl_rng_free(e->rng);
    free(e);
}

/* Buffers sized for this step, allocated outside the timed regions. */
static int reserve(lf_exec *e, const lf_step *s, lf_err *err)
{
    lf_dram *d = &e->dram[s->layer];
    if (d->row_bytes == 0) {
        int rc = lf_dram_init(d, e->cfg.dram, e->w->h.units, s->slots->cap_rows, e->row_bytes, err);
        if (rc)
            return lf_err_prefix(err, "layer %u", s->layer);
    }
    if (s->n_reads > e->reqs_cap) {
        free(e->reqs);
        free(e->staged_at);
        e->reqs = malloc(sizeof *e->reqs * s->n_reads);
        e->staged_at = malloc(sizeof *e->staged_at * s->n_reads);
        e->reqs_cap = e->reqs && e->staged_at ? s->n_reads : 0;
        if (!e->reqs_cap)
            return lf_fail(err, LF_ENOMEM, "executor: cannot allocate %u requests", s->n_reads);
    }
    uint32_t rows = s->slots->num_used > d->cap_rows ? s->slots->num_used : d->cap_rows;
    if (rows > e->filled_cap) {
        free(e->filled);
        e->filled = calloc(rows, sizeof *e->filled);
        e->filled_cap = e->filled ? rows : 0;
        if (!e->filled)
            return lf_fail(err, LF_ENOMEM, "executor: out of memory");
    }
    return LF_OK;
}

static unsigned char *part_dest(const lf_exec *e, const lf_dram *d, const lf_step *s,
                                uint32_t unit, uint32_t part)
{
    uint32_t row = lf_slots_row(s->slots, unit);
    if (row == LF_SLOT_NONE || row < s->first_new_row || row >= d->num_used)
        return NULL; /* not loaded by this step */
    return lf_dram_row(d, row) + (part == LF_PART_ALL ? 0 : part * e->shape.part_stride);
}

/* A read lands in place when its extents are one-unit records whose destinations are
 * contiguous in the matrix, with no gap read through. */
static unsigned char *direct_dest(const lf_exec *e, const lf_dram *d, const lf_step *s,
                                  const lf_read *r)
{
    unsigned char *first = NULL, *next = NULL;
    uint64_t off = r->offset;
    for (uint32_t j = 0; j < r->n_extents; j++) {
        const lf_extent *x = &s->extents[r->first_extent + j];
        size_t room = x->part == LF_PART_ALL ? e->row_bytes : e->shape.part_stride;
        if (x->n_units != 1 || x->offset != off || x->length > room)
            return NULL;
        unsigned char *p = part_dest(e, d, s, x->unit, x->part);
        if (!p || (next && p != next))
            return NULL;
        if (!first)
            first = p;
        next = p + x->length;
        off += x->length;
    }
    return off == r->offset + r->length ? first : NULL;
}

static void mark(lf_exec *e, const lf_step *s, uint32_t unit, uint32_t part, uint32_t *pieces)
{
    uint32_t row = lf_slots_row(s->slots, unit);
    /* one stamp per piece: part p sets bit p of (stamp<<3) */
    uint32_t bit = part == LF_PART_ALL ? 7u : (1u << part);
    uint32_t have = (e->filled[row] >> 3) == e->stamp ? (e->filled[row] & 7u) : 0;
    if ((have & bit) != bit) {
        e->filled[row] = (e->stamp << 3) | have | bit;
        (*pieces)++;
    }
}

/* Copies a staged read's extents to their rows. */
static void scatter(lf_exec *e, const lf_dram *d, const lf_step *s, const lf_read *r,
                    const unsigned char *buf, uint32_t *pieces)
{
    const lf_weights_header *h = &e->w->h;
    uint64_t unit_bytes = (uint64_t)h->vectors * h->vector_bytes;
    for (uint32_t j = 0; j < r->n_extents; j++) {
        const lf_extent *x = &s->extents[r->first_extent + j];
        const unsigned char *src = buf + (x->offset - r->offset);
        for (uint32_t k = 0; k < x->n_units; k++) {
            uint32_t u = k == 0 ? x->unit
                                : e->w->layout.friend_of[(uint64_t)s->layer * h->units + x->unit];
            unsigned char *dst = part_dest(e, d, s, u, x->part);
            if (!dst)
                continue; /* a friend that was not asked for: read, not kept */
            if (x->part == LF_PART_ALL) {
                for (uint32_t p = 0; p < h->vectors; p++)
                    memcpy(dst + p * e->shape.part_stride, src + k * unit_bytes + p * h->vector_bytes,
                           h->vector_bytes);
            } else {
                memcpy(dst, src, h->vector_bytes);
            }
            mark(e, s, u, x->part, pieces);
        }
    }
}

static int do_reads(lf_exec *e, const lf_dram *d, const lf_step *s, uint32_t *pieces,
                    double *io_s, double *scatter_s, lf_err *err)
{
    size_t staged = 0;
    for (uint32_t i = 0; i < s->n_reads; i++) {
        const lf_read *r = &s->reads[i];
        unsigned char *p = direct_dest(e, d, s, r);
        e->reqs[i] = (lf_io_req){r->offset, r->length, p, i};
        e->staged_at[i] = UINT32_MAX;
        if (!p) {
            e->staged_at[i] = (uint32_t)staged; /* in units of LF_IO_ALIGN */
            staged += (r->length + LF_IO_ALIGN - 1) / LF_IO_ALIGN;
        }
    }
    if (staged * LF_IO_ALIGN > e->staging_cap) {
        free(e->staging);
        e->staging_cap = staged * LF_IO_ALIGN * 2;
        e->staging = lf_io_alloc(e->staging_cap);
        if (!e->staging) {
            e->staging_cap = 0;
            return lf_fail(err, LF_ENOMEM, "executor: cannot allocate %zu bytes of staging",
                           staged * LF_IO_ALIGN);
        }
        memset(e->staging, 0, e->staging_cap); /* its page faults before the clock starts */
    }
    for (uint32_t i = 0; i < s->n_reads; i++)
        if (e->staged_at[i] != UINT32_MAX)
            e->reqs[i].buf = e->staging + (size_t)e->staged_at[i] * LF_IO_ALIGN;
    double t0 = lf_now();
    int rc = s->n_reads ? lf_io_read_all(e->io, e->reqs, s->n_reads, e->cfg.inflight, err)
                        : LF_OK;
    double t1 = lf_now();
    *io_s = t1 - t0;
    if (rc)
        return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
    for (uint32_t i = 0; i < s->n_reads; i++) {
        const lf_read *r = &s->reads[i];
        if (e->staged_at[i] != UINT32_MAX) {
            scatter(e, d, s, r, e->reqs[i].buf, pieces);
            e->st.staged_reads++;
        } else {
            for (uint32_t j = 0; j < r->n_extents; j++)
                mark(e, s, s->extents[r->first_extent + j].unit, s->extents[r->first_extent + j].part,
                     pieces);
            e->st.direct_reads++;
        }
    }
    *scatter_s = lf_now() - t1;
    return LF_OK;
}

/* A given input vector (tests), else lf_attn_layer_input's. */
static void next_input(lf_exec *e, const lf_step *s)
{
    uint32_t d = e->w->h.d_model;
    if (e->input)
        memcpy(e->x, e->input, d * sizeof *e->x);
    else
        lf_attn_layer_input(e->attn ? e->res : NULL, e->y, d, s->layer, s->token, e->cfg.seed,
                            e->rng, e->x);
}

static int exec_layer(lf_backend *b, const lf_step *s, lf_times *out, lf_err *err)
{
    lf_exec *e = b->state;
    memset(out, 0, sizeof *out);
    if (s->layer >= e->cfg.n_layers)
        return lf_fail(err, LF_ERANGE, "executor: layer %u beyond the %u prepared", s->layer,
                       e->cfg.n_layers);
    if (s->n_pagecache)
        return lf_fail(err, LF_EUNSUP, "executor: token %u layer %u: the policy serves %u loads "
                       "from the OS page cache, a tier the executor (direct I/O) does not have; "
                       "use a policy without the page-cache model", s->token, s->layer,
                       s->n_pagecache);
    int rc = reserve(e, s, err);
    if (rc)
        return rc;
    lf_dram *d = &e->dram[s->layer];
    const lf_plan *pl = s->plan;
    /* memory management: the manager's moves, room for the loads, their biases */
    double t0 = lf_now();
    if (s->slots->num_used - s->first_new_row != pl->n_load)
        return lf_fail(err, LF_EFORMAT, "executor: token %u layer %u: %u loads but %u new rows",
                       s->token, s->layer, pl->n_load, s->slots->num_used - s->first_new_row);
    rc = lf_dram_step(d, s->moves, s->n_moves, s->slots, s->first_new_row, err);
    if (rc)
        return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
    const float *bias = e->bias + (size_t)s->layer * e->w->h.units;
    for (uint32_t k = 0; k < pl->n_load; k++) {
        uint32_t row = lf_slots_row(s->slots, pl->load[k]);
        if (row < s->first_new_row || row >= d->num_used)
            return lf_fail(err, LF_ERANGE, "executor: token %u layer %u: loaded unit %u sits in row "
                           "%u, outside the new rows [%u, %u)", s->token, s->layer, pl->load[k],
                           row, s->first_new_row, d->num_used);
        d->bias[row] = bias[pl->load[k]];
    }
    double mem_s = lf_now() - t0;
    /* flash reads */
    uint32_t pieces = 0;
    double io_s = 0, scatter_s = 0;
    e->stamp++;
    if ((rc = do_reads(e, d, s, &pieces, &io_s, &scatter_s, err)))
        return rc;
    uint32_t per_unit = e->w->h.layout == LF_LAYOUT_SPLIT ? e->w->h.vectors : 1;
    if (pieces != pl->n_load * per_unit)
        return lf_fail(err, LF_EFORMAT, "executor: token %u layer %u: the reads filled %u of the "
                       "%u pieces the %u loads need (layout and reads disagree)", s->token,
                       s->layer, pieces, pl->n_load * per_unit, pl->n_load);
    /* scope token: the embedding row (layer 0) and the attention block before the FFN */
    double t1 = lf_now(), attn_s = 0;
    if (e->attn && !e->input) {
        if (s->layer == 0 && (rc = lf_attn_begin(e->attn, s->token, e->res, err)))
            return rc;
        if ((rc = lf_attn_layer(e->attn, s->layer, s->token, e->res, err)))
            return lf_err_prefix(err, "token %u layer %u", s->token, s->layer);
        attn_s = lf_now() - t1;
    }
    /* compute over the resident rows */
    next_input(e, s);
    lf_ffn_sparse(&e->shape, d->rows, d->bias, d->num_used, e->x, e->y);
    if (e->attn && !e->input)
        for (uint32_t i = 0; i < e->w->h.d_model; i++)
            e->res[i] += e->y[i];
    out->compute_s = lf_now() - t1;
    e->st.attn_s += attn_s;
    out->io_s = io_s;
    out->mem_s = mem_s + scatter_s;
    e->st.io_s += io_s;
    e->st.mem_s += out->mem_s;
    e->st.scatter_s += scatter_s;
    e->st.compute_s += out->compute_s;
    e->st.reads += s->n_reads;
    e->st.bytes_read += s->bytes_read;
    e->st.moves += s->n_moves;
    e->st.rows_loaded += pl->n_load;
    if (s->layer + 1 == e->cfg.n_layers)
        for (uint32_t i = 0; i < e->w->h.d_model; i++)
            e->st.checksum += e->y[i];
    return LF_OK;
}

/* Scope token: the final norm and the output head. */
static int exec_token_end(lf_backend *b, uint32_t token, lf_times *out, lf_err *err)
{
    (void)token;
    (void)err;
    lf_exec *e = b->state;
    memset(out, 0, sizeof *out);
    if (!e->attn || e->input)
        return LF_OK;
    double t0 = lf_now();
    lf_attn_end(e->attn, e->res);
    out->compute_s = lf_now() - t0;
    e->st.compute_s += out->compute_s;
    e->st.attn_s += out->compute_s;
    return LF_OK;
}

void lf_exec_backend(lf_backend *b, lf_exec *e)
{
    memset(b, 0, sizeof *b);
    b->state = e;
    b->layer = exec_layer;
    b->token_end = exec_token_end;
}

const lf_attn *lf_exec_attn(const lf_exec *e)
{
    return e->attn;
}

void lf_exec_stats_get(const lf_exec *e, lf_exec_stats *s)
{
    *s = e->st;
    s->dram_bytes = 0;
    for (uint32_t l = 0; l < e->cfg.n_layers; l++)
        s->dram_bytes += lf_dram_bytes(&e->dram[l]);
    s->fixed_bytes += e->staging_cap + (size_t)e->filled_cap * sizeof(uint32_t) +
                      (size_t)e->reqs_cap * (sizeof *e->reqs + sizeof *e->staged_at);
}

void lf_exec_set_input(lf_exec *e, const float *x)
{
    e->input = x;
}

const float *lf_exec_last_input(const lf_exec *e)
{
    return e->x;
}

const float *lf_exec_last_output(const lf_exec *e)
{
    return e->y;
}
