/* A llama2.c model with its FFN streamed from flash: the dense run records the sets, the
 * streamed run replays them through lf_run with a backend that wraps the executor's
 * and feeds it the model's real FFN inputs. */
#include "lf_llama_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_exec.h"
#include "lf_half.h"
#include "lf_llama_rec.h"
#include "lf_llama_weights.h"
#include "lf_lowrank.h"
#include "lf_run.h"
#include "lf_weights.h"

typedef struct {
    lf_trace *t;
    float *logits; /* positions x vocab */
    uint32_t vocab;
} dense_ctx;

static int dense_step(void *ctx, uint32_t pos, int32_t token, const float *logits, lf_err *err)
{
    dense_ctx *d = ctx;
    memcpy(d->logits + (size_t)pos * d->vocab, logits, d->vocab * sizeof(float));
    return lf_trace_end_token(d->t, token, err);
}

typedef struct {
    lf_llama *m; /* the streamed instance */
    lf_exec *e;
    lf_backend eb; /* the executor's own backend */
    const lf_trace *t;
    const float *dense;
    uint32_t n_prompt;
    lf_llama_stream_result *r;
    double abs_sum;
} stream_ctx;

static void compare(stream_ctx *c, uint32_t pos, const float *logits)
{
    lf_llama_stream_result *r = c->r;
    uint32_t V = c->m->cfg.vocab_size;
    const float *d = c->dense + (size_t)pos * V;
    for (uint32_t i = 0; i < V; i++) {
        double a = fabs((double)logits[i] - (double)d[i]);
        c->abs_sum += a;
        if (a > r->max_abs_logit_diff)
            r->max_abs_logit_diff = a;
    }
    uint32_t s = lf_llama_argmax(logits, V), g = lf_llama_argmax(d, V);
    if (s == g)
        r->same++;
    else if (r->first_diff == UINT32_MAX)
        r->first_diff = pos;
    r->stream_ids[pos + 1] = pos + 1 < c->n_prompt ? r->dense_ids[pos + 1] : (int32_t)s;
    r->positions = pos + 1;
}

static int stream_layer(lf_backend *b, const lf_step *s, lf_times *out, lf_err *err)
{
    stream_ctx *c = b->state;
    lf_llama *m = c->m;
    int rc = s->layer == 0 ? lf_llama_begin(m, c->t->tokens[s->token], s->token, err) : LF_OK;
    if (rc)
        return rc;
    lf_exec_set_input(c->e, lf_llama_attend(m, s->layer));
    if ((rc = c->eb.layer(&c->eb, s, out, err)))
        return rc;
    lf_llama_add(m, lf_exec_last_output(c->e));
    if (s->layer + 1 == m->cfg.n_layers)
        compare(c, s->token, lf_llama_finish(m));
    return LF_OK;
}

/* The dense greedy run, recording the sets and the logits. */
static int dense_run(lf_llama *m, const char *model, const int32_t *prompt, uint32_t n_prompt,
                     const lf_llama_stream_opts *o, lf_trace *t, float *logits,
                     lf_llama_stream_result *r, lf_err *err)
{
    lf_llama_rec_opts ro = {o->threshold, o->relative, o->steps, 0.0f, 0};
    lf_llama_recorder rec;
    int rc = lf_llama_recorder_start(&rec, m, model, &ro, n_prompt, t, err);
    if (rc)
        return rc;
    dense_ctx d = {t, logits, m->cfg.vocab_size};
    rc = lf_llama_generate(m, prompt, n_prompt, o->steps, 0.0f, NULL, dense_step, &d,
                           &r->dense_ids, &r->n_dense, err);
    lf_llama_recorder_stop(&rec, m);
    return rc;
}

typedef struct {
    float *x; /* [layer][token][dim] */
    uint32_t n_tokens, dim;
} xs_ctx;

static int keep_x(void *ctx, uint32_t layer, uint32_t tok, const float *x, const float *h,
                  lf_err *err)
{
    (void)h;
    (void)err;
    xs_ctx *c = ctx;
    memcpy(c->x + ((size_t)layer * c->n_tokens + tok) * c->dim, x, c->dim * sizeof(float));
    return LF_OK;
}

/* The rank-r SVD predictor's sets for every layer, stored as the trace's predicted sets
 * (so the replay loads them), scored against the rule's sets. */
static int predict_sets(lf_llama *m, lf_trace *t, const lf_llama_stream_opts *o,
                        lf_llama_stream_result *r, lf_err *err)
{
    xs_ctx c = {malloc((size_t)t->n_layers * t->n_tokens * m->cfg.dim * sizeof(float)),
                t->n_tokens, m->cfg.dim};
    if (!c.x)
        return lf_fail(err, LF_ENOMEM, "stream: out of memory for the FFN inputs");
    int rc = lf_llama_replay(m, t->tokens, t->n_tokens, keep_x, &c, err);
    lf_lowrank_select sel = {o->threshold, o->relative,
                             o->predictor_scale > 0 ? o->predictor_scale : 1.0, 0};
    lf_lowrank_stats st = {0};
    for (uint32_t l = 0; l < t->n_layers && !rc; l++) {
        lf_llama_ffn f;
        lf_llama_ffn_weights(m, l, &f);
        lf_lowrank p;
        lf_lowrank_sets sets = {0};
        rc = lf_lowrank_from_weights(&p, f.w1, f.w3, m->cfg.dim, m->cfg.hidden_dim,
                                     o->predictor_rank, err);
        if (rc)
            break;
        rc = lf_lowrank_eval(&p, t, l, c.x + (size_t)l * t->n_tokens * c.dim, 0, t->n_tokens,
                             &sel, &st, &sets, err);
        lf_lowrank_free(&p);
        if (!rc && !(rc = lf_trace_set_pred(t, l, sets.indptr, sets.index, sets.nnz, err)))
            memset(&sets, 0, sizeof sets); /* the trace owns them */
        lf_lowrank_sets_free(&sets);
    }
    free(c.x);
    r->pred_recall = st.n_true ? (double)st.tp / st.n_true : 1.0;
    r->pred_precision = st.n_pred ? (double)st.tp / st.n_pred : 1.0;
    return rc;
}

/* The file must hold this checkpoint's values: the last layer's neuron 0 is read back and
 * compared (rounded to the file's dtype). */
static int check_values(const lf_llama *m, const lf_weights *w, lf_err *err)
{
    uint32_t layer = w->h.n_layers - 1, unit = 0, d = m->cfg.dim;
    lf_extent_vec ev = {0};
    int rc = lf_layout_extents(&w->layout, layer, &unit, 1, &ev, err);
    uint32_t bytes = lf_dtype_bytes(w->h.dtype);
    unsigned char *buf = malloc((size_t)d * 4);
    float *want = malloc((size_t)d * sizeof *want);
    int fd = rc ? -1 : open(w->path, O_RDONLY);
    if (!rc && (!buf || !want))
        rc = lf_fail(err, LF_ENOMEM, "stream: out of memory");
    else if (!rc && fd < 0)
        rc = lf_fail_errno(err, LF_EIO, errno, "stream: cannot open %s", w->path);
    for (size_t k = 0; k < ev.n && !rc; k++) {
        /* a part's vectors follow each other inside a bundled record */
        uint32_t first = ev.v[k].part == LF_PART_ALL ? 0 : ev.v[k].part;
        uint32_t last = ev.v[k].part == LF_PART_ALL ? w->h.vectors : first + 1u;
        for (uint32_t p = first; p < last && !rc; p++) {
            uint64_t off = ev.v[k].offset + (uint64_t)(p - first) * w->h.vector_bytes;
            if (pread(fd, buf, (size_t)d * bytes, (off_t)off) != (ssize_t)((size_t)d * bytes)) {
                rc = lf_fail(err, LF_EIO, "stream: %s: cannot read neuron %u of layer %u",
                             w->path, unit, layer);
                break;
            }
            lf_llama_weights_values((void *)m, layer, unit, p, want);
            for (uint32_t i = 0; i < d && !rc; i++) {
                float have;
                if (bytes == 2) {
                    uint16_t h;
                    memcpy(&h, buf + 2 * i, 2);
                    have = lf_half_to_float(h);
                    want[i] = lf_half_to_float(lf_float_to_half(want[i]));
                } else {
                    memcpy(&have, buf + 4 * i, 4);
                }
                if (have != want[i])
                    rc = lf_fail(err, LF_EINVAL, "stream: %s does not hold %s's FFN (layer %u "
                                 "neuron %u vector %u element %u: %g, the checkpoint has %g); "
                                 "make it with 'llmflash weights make --checkpoint %s'", w->path,
                                 m->path, layer, unit, p, i, (double)have, (double)want[i],
                                 m->path);
            }
        }
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    free(want);
    lf_extent_vec_free(&ev);
    return rc;
}

static void totals(const lf_run_result *res, const lf_trace *t, const lf_weights *w,
                   lf_llama_stream_result *r)
{
    uint64_t resident = 0, nnz = 0;
    for (uint32_t i = 0; i < res->n_rows; i++) {
        const lf_token_row *row = &res->rows[i];
        r->bytes_read += row->bytes_read;
        r->reads += row->reads;
        r->io_ms += row->io_ms;
        r->mem_ms += row->mem_ms;
        r->compute_ms += row->compute_ms;
        resident += row->resident_units;
    }
    for (uint32_t l = 0; l < t->n_layers; l++)
        nnz += t->layers[l].nnz;
    double steps = (double)t->n_tokens * t->n_layers;
    r->mean_resident = steps > 0 ? resident / steps : 0;
    r->sparsity = steps > 0 ? 1.0 - nnz / (steps * t->units_per_layer) : 0;
    r->dense_bytes = (uint64_t)t->n_tokens * t->n_layers * w->h.layer_bytes;
}

int lf_llama_stream(lf_llama *m, const int32_t *prompt, uint32_t n_prompt,
                    const lf_llama_stream_opts *o, lf_llama_stream_result *r, lf_err *err)
{
    memset(r, 0, sizeof *r);
    r->first_diff = UINT32_MAX;
    if (!o->weights)
        return lf_fail(err, LF_EINVAL, "stream: no weights file (make one with 'llmflash weights "
                       "make --checkpoint %s --file W')", m->path);
    lf_model model;
    int rc = lf_llama_model(m, &model, err);
    if (rc)
        return rc;
    uint32_t steps = o->steps < m->cfg.seq_len ? o->steps : m->cfg.seq_len;
    lf_trace t;
    lf_weights w;
    lf_llama m2;
    lf_exec *e = NULL;
    memset(&t, 0, sizeof t);
    memset(&w, 0, sizeof w);
    memset(&m2, 0, sizeof m2);
    float *logits = malloc((size_t)steps * m->cfg.vocab_size * sizeof *logits);
    r->stream_ids = calloc((size_t)steps + 1, sizeof *r->stream_ids);
    if (!logits || !r->stream_ids) {
        rc = lf_fail(err, LF_ENOMEM, "stream: out of memory for %u positions of logits", steps);
        goto done;
    }
    lf_llama_stream_opts so = *o;
    so.steps = steps;
    r->pred_recall = r->pred_precision = 1.0;
    if ((rc = dense_run(m, model.name, prompt, n_prompt, &so, &t, logits, r, err)))
        goto done;
    if (o->predictor_rank && (rc = predict_sets(m, &t, o, r, err)))
        goto done;
    if ((rc = lf_weights_open(o->weights, &w, err)) || (rc = lf_weights_check_trace(&w, &t, err)))
        goto done;
    if (w.h.act != LF_ACT_SWIGLU || w.h.seed != 0) {
        rc = lf_fail(err, LF_EINVAL, "stream: %s holds %s weights (seed %llu), not a checkpoint's "
                     "SwiGLU FFN: make it with 'llmflash weights make --checkpoint %s'", o->weights,
                     w.h.act == LF_ACT_SWIGLU ? "pseudo-random" : "ReLU",
                     (unsigned long long)w.h.seed, m->path);
        goto done;
    }
    if ((rc = check_values(m, &w, err)))
        goto done;
    if ((rc = lf_llama_open(&m2, m->path, err)))
        goto done;
    lf_exec_cfg ec = {.weights = &w,
                      .engine = o->engine ? o->engine : "psync",
                      .inflight = o->inflight ? o->inflight : 4,
                      .dram = LF_DRAM_PREALLOC,
                      .n_layers = t.n_layers,
                      .seed = 0,
                      .scope = LF_SCOPE_FFN};
    if ((rc = lf_exec_create(&ec, &e, err)))
        goto done;
    stream_ctx c = {&m2, e, {0}, &t, logits, n_prompt, r, 0.0};
    lf_exec_backend(&c.eb, e);
    lf_backend b = {&c, stream_layer, NULL, 0, 0};
    r->stream_ids[0] = prompt[0];
    lf_run_config cfg;
    lf_run_config_defaults(&cfg);
    cfg.model = model.name;
    cfg.policy = o->policy ? o->policy : "window:k=4";
    cfg.dram_fraction = o->dram_fraction > 0 ? o->dram_fraction : 1.0;
    cfg.dram_bytes = o->dram_bytes;
    cfg.predictor_rank = o->predictor_rank; /* 0: the rule's own sets (a perfect predictor) */
    cfg.recorded_predictor = o->predictor_rank > 0;
    cfg.threads = ec.inflight;
    cfg.layout = w.h.layout;
    cfg.dtype_bytes = lf_dtype_bytes(w.h.dtype);
    cfg.layout_from = &w.layout;
    cfg.backend = &b;
    cfg.quiet = 1;
    lf_device none;
    memset(&none, 0, sizeof none);
    snprintf(none.name, sizeof none.name, "measured");
    lf_run_result res;
    rc = lf_run(&cfg, &t, NULL, &none, &res, err);
    if (!rc) {
        totals(&res, &t, &w, r);
        r->n_stream = r->positions + 1;
        r->mean_abs_logit_diff =
            r->positions ? c.abs_sum / ((double)r->positions * m->cfg.vocab_size) : 0;
        if (r->first_diff == UINT32_MAX)
            r->first_diff = r->positions;
    }
    lf_run_result_free(&res);
done:
    lf_exec_free(e);
    lf_llama_close(&m2);
    lf_weights_close(&w);
    lf_trace_free(&t);
    free(logits);
    if (rc)
        lf_llama_stream_result_free(r);
    return rc;
}

void lf_llama_stream_result_free(lf_llama_stream_result *r)
{
    free(r->dense_ids);
    free(r->stream_ids);
    r->dense_ids = r->stream_ids = NULL;
}
