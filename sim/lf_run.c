/* The run driver: resolve, replay with a backend, summarise, write the run folder. */
#include "lf_run.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_policy.h"
#include "lf_predictor.h"
#include "lf_price.h"

void lf_run_config_defaults(lf_run_config *c)
{
    *c = (lf_run_config){
        .policy = "window:k=4",
        .layout = LF_LAYOUT_BUNDLED,
        .dram_fraction = 0.5,
        .predictor_rank = 128,
        .threads = 32,
        .max_gap = 0,
        .max_read = 1u << 20,
        .dram = LF_DRAM_PREALLOC,
        .seed = 1,
        .cold_tokens = 1,
        .coact_profile_tokens = LF_LAYOUT_PROFILE_TOKENS,
    };
}

int lf_run_resolve_model(const lf_trace *t, const char *model, lf_model *out, lf_err *err)
{
    int rc;
    if (model && *model) {
        rc = lf_model_lookup(model, out, err);
        if (rc)
            return rc;
    } else if (lf_model_lookup(t->model, out, NULL) != LF_OK) {
        if (t->kind != LF_UNITS_NEURONS || t->d_model == 0)
            return lf_fail(err, LF_EINVAL,
                           "the trace's model '%s' is not one llmflash knows; name its shape "
                           "with --model (known: %s)",
                           t->model, lf_model_names());
        char spec[96];
        snprintf(spec, sizeof spec, "custom:%u,%u,%u", t->n_layers, t->d_model,
                 t->units_per_layer);
        if ((rc = lf_model_lookup(spec, out, err)))
            return rc;
    }
    /* A trace of part of the model (one layer of a routing log) replays as a model of
     * just those layers. */
    if (t->first_layer >= 0 && t->n_layers < out->n_layers &&
        (uint64_t)t->first_layer + t->n_layers <= out->n_layers)
        out->n_layers = t->n_layers;
    if (out->n_layers != t->n_layers || lf_model_units(out) != t->units_per_layer ||
        (t->d_model && t->d_model != out->d_model) || out->kind != t->kind)
        return lf_fail(err, LF_EINVAL,
                       "model '%s' (%u layers, d_model %u, %u %s) does not match the trace (%u "
                       "layers, d_model %u, %u %s); pass the trace's model with --model",
                       out->name, out->n_layers, out->d_model, lf_model_units(out),
                       out->kind == LF_UNITS_EXPERTS ? "experts" : "neurons", t->n_layers,
                       t->d_model, t->units_per_layer,
                       t->kind == LF_UNITS_EXPERTS ? "experts" : "neurons");
    return LF_OK;
}

/* r->unit_bytes of experts stored at c->expert_bits (0 when not given). */
static int expert_unit_bytes(const lf_run_config *c, lf_run_result *r, lf_err *err)
{
    const lf_model *m = &r->model;
    r->unit_bytes = 0;
    if (!c->expert_bits)
        return LF_OK;
    if (m->kind != LF_UNITS_EXPERTS)
        return lf_fail(err, LF_EINVAL, "%s: --expert-bits is for expert traces; '%s' is a dense "
                       "model (its weights: --dtype-bytes)", r->mode, m->name);
    uint64_t part = lf_model_weights_bytes((uint64_t)m->d_model * m->d_ff, c->expert_bits);
    if (!part)
        return lf_fail(err, LF_EINVAL, "%s: --expert-bits %u: expected 16, 8, 4 or 2 (8, 4 and 2 "
                       "quantise groups of %d weights: %s's experts have %u x %u)", r->mode,
                       c->expert_bits, LF_MODEL_GROUP, m->name, m->d_model, m->d_ff);
    r->unit_bytes = lf_model_vectors_per_neuron(m) * part;
    return LF_OK;
}

/* Baselines read everything (no sparsity) and so keep no predictor in DRAM. */
static int policy_is_baseline(const char *spec)
{
    size_t n = strcspn(spec, ":");
    return (n == 5 && !strncmp(spec, "naive", 5)) || (n == 6 && !strncmp(spec, "hybrid", 6));
}

static int fill_config(const lf_run_config *c, const lf_device *dev, const lf_run_result *r,
                       uint32_t n_tok, lf_err *err)
{
    lf_kv *kv = (lf_kv *)&r->config;
    const lf_model *m = &r->model;
    const lf_budget *b = &r->budget;
    const char *pred = c->recorded_predictor ? "recorded"
                       : (c->fn_rate > 0 || c->fp_rate > 0) ? "error-model"
                                                            : "perfect";
    int rc = 0;
    rc |= lf_kv_setf(kv, err, "trace", "%s", c->trace_path ? c->trace_path : "");
    rc |= lf_kv_setf(kv, err, "model", "%s", m->name);
    rc |= lf_kv_setf(kv, err, "unit_kind", "%s", m->kind == LF_UNITS_EXPERTS ? "experts" : "neurons");
    rc |= lf_kv_setf(kv, err, "n_layers", "%u", m->n_layers);
    rc |= lf_kv_setf(kv, err, "units", "%u", lf_model_units(m));
    rc |= lf_kv_setf(kv, err, "d_model", "%u", m->d_model);
    rc |= lf_kv_setf(kv, err, "activation", "%s", m->act == LF_ACT_SWIGLU ? "swiglu" : "relu");
    rc |= lf_kv_setf(kv, err, "dtype_bytes", "%u", r->dtype_bytes);
    if (c->expert_bits) /* only when given: other folders keep their keys */
        rc |= lf_kv_setf(kv, err, "expert_bits", "%u", c->expert_bits);
    rc |= lf_kv_setf(kv, err, "device", "%s", c->device_path ? c->device_path : "");
    rc |= lf_kv_setf(kv, err, "device_name", "%s", dev->name);
    rc |= lf_kv_setf(kv, err, "scope", "%s", lf_scope_name(c->scope));
    rc |= lf_kv_setf(kv, err, "policy", "%s", c->policy);
    rc |= lf_kv_setf(kv, err, "layout", "%s", lf_layout_kind_name(r->layout.kind));
    rc |= lf_kv_setf(kv, err, "alignment_bytes", "%u", r->layout.alignment);
    rc |= lf_kv_setf(kv, err, "record_bytes", "%llu", (unsigned long long)r->layout.record_bytes);
    rc |= lf_kv_setf(kv, err, "row_bytes", "%llu", (unsigned long long)b->row_bytes);
    rc |= lf_kv_setf(kv, err, "model_bytes", "%llu", (unsigned long long)b->model_bytes);
    rc |= lf_kv_setf(kv, err, "dram_fraction", "%.9g", (double)b->budget_bytes / (double)b->model_bytes);
    rc |= lf_kv_setf(kv, err, "dram_bytes", "%llu", (unsigned long long)b->budget_bytes);
    rc |= lf_kv_setf(kv, err, "predictor_rank", "%u", b->predictor_rank);
    rc |= lf_kv_setf(kv, err, "resident_bytes", "%llu", (unsigned long long)b->resident_bytes);
    rc |= lf_kv_setf(kv, err, "capacity", "%llu", (unsigned long long)b->capacity);
    rc |= lf_kv_setf(kv, err, "cap_rows", "%llu", (unsigned long long)r->cap_rows);
    rc |= lf_kv_setf(kv, err, "threads", "%u", c->threads);
    rc |= lf_kv_setf(kv, err, "predictor", "%s", pred);
    rc |= lf_kv_setf(kv, err, "fn_rate", "%.9g", c->fn_rate);
    rc |= lf_kv_setf(kv, err, "fp_rate", "%.9g", c->fp_rate);
    rc |= lf_kv_setf(kv, err, "max_gap_bytes", "%llu", (unsigned long long)c->max_gap);
    rc |= lf_kv_setf(kv, err, "max_read_bytes", "%llu", (unsigned long long)c->max_read);
    rc |= lf_kv_setf(kv, err, "dram_strategy", "%s", c->dram == LF_DRAM_REALLOC ? "realloc" : "prealloc");
    rc |= lf_kv_setf(kv, err, "tokens", "%u", n_tok);
    rc |= lf_kv_setf(kv, err, "seed", "%llu", (unsigned long long)c->seed);
    rc |= lf_kv_setf(kv, err, "cold_tokens", "%u", r->summary.cold_tokens);
    rc |= lf_kv_setf(kv, err, "profile", "%s", c->profile_path ? c->profile_path : "(the trace)");
    rc |= lf_kv_setf(kv, err, "coact_profile_tokens", "%u", c->coact_profile_tokens);
    rc |= lf_kv_setf(kv, err, "stream_bytes", "%llu", (unsigned long long)c->stream_bytes);
    return rc ? lf_fail(err, LF_ENOMEM, "sim: out of memory for the configuration") : LF_OK;
}

static int setup_layout(const lf_run_config *c, const lf_trace *profile, const lf_device *dev,
                        lf_run_result *r, lf_err *err)
{
    if (c->layout_from) {
        const lf_layout *f = c->layout_from;
        if (f->units != lf_model_units(&r->model) || f->n_layers < r->model.n_layers ||
            f->dtype_bytes != r->dtype_bytes)
            return lf_fail(err, LF_EINVAL,
                           "sim: the given layout (%u layers x %u units, %u-byte values) does not "
                           "fit the model (%u x %u, %u-byte values)",
                           f->n_layers, f->units, f->dtype_bytes, r->model.n_layers,
                           lf_model_units(&r->model), r->dtype_bytes);
        r->layout = *f;
        r->layout.n_layers = r->model.n_layers;
        r->layout.friend_of = NULL;
        if (f->friend_of) {
            size_t n = (size_t)r->layout.n_layers * r->layout.units;
            if (!(r->layout.friend_of = malloc(n * sizeof *f->friend_of)))
                return lf_fail(err, LF_ENOMEM, "sim: out of memory for the friend table");
            memcpy(r->layout.friend_of, f->friend_of, n * sizeof *f->friend_of);
        }
        return LF_OK;
    }
    uint32_t align = c->alignment ? c->alignment
                                  : (dev->flash_alignment ? dev->flash_alignment : 4096);
    int rc = r->unit_bytes
                 ? lf_layout_init_bytes(&r->layout, c->layout, &r->model,
                                        r->unit_bytes / lf_model_vectors_per_neuron(&r->model),
                                        align, 0, err)
                 : lf_layout_init(&r->layout, c->layout, &r->model, r->dtype_bytes, align, 0, err);
    if (rc == LF_OK && c->layout == LF_LAYOUT_COACT && profile->deferred)
        rc = lf_fail(err, LF_EINVAL, "sim: the coact layout's profile was read with its ids "
                     "left in the file (defer_ids): read it whole");
    if (rc == LF_OK && c->layout == LF_LAYOUT_COACT)
        rc = lf_layout_set_friends_n(&r->layout, profile, c->coact_profile_tokens, err);
    return rc;
}

/* The key of the decisions a run makes: everything the predictor and the policy see
 * (the trace's identity, its shape and the tokens replayed, the policy spec, the
 * capacity, the seed, the predictor and its bound). 0 when it does not fit: no caching. */
static int plans_key(const lf_run_config *c, const lf_trace *trace, const lf_run_result *r,
                     uint32_t n_tok, char *key, size_t cap)
{
    int n = snprintf(key, cap,
                     "trace=%p/%u layers=%u units=%u tokens=%u policy=%s capacity=%llu "
                     "seed=%llu predictor=%d,%a,%a",
                     (const void *)trace->layers, trace->n_tokens, r->model.n_layers,
                     lf_model_units(&r->model), n_tok, c->policy,
                     (unsigned long long)r->budget.capacity, (unsigned long long)c->seed,
                     c->recorded_predictor, c->fn_rate, c->fp_rate);
    return n > 0 && (size_t)n < cap;
}

int lf_run(const lf_run_config *c, const lf_trace *trace, const lf_trace *profile,
               const lf_device *dev, lf_run_result *r, lf_err *err)
{
    memset(r, 0, sizeof *r);
    lf_kv_init(&r->config, "resolved configuration");
    lf_kv_init(&r->extra, "meta extra");
    r->mode = c->mode ? c->mode : "sim";
    r->data_path = c->data_path;
    if (!c->policy || !*c->policy)
        return lf_fail(err, LF_EINVAL, "sim: no policy given (known: %s)", lf_policy_names());
    if (!profile)
        profile = trace;
    int rc = lf_run_resolve_model(trace, c->model, &r->model, err);
    if (rc)
        return rc;
    r->dtype_bytes = c->dtype_bytes ? c->dtype_bytes : (trace->dtype_bytes ? trace->dtype_bytes : 2);
    /* No predictor for baselines (no sparsity) nor MoE (the router is in the model). */
    uint32_t rank = policy_is_baseline(c->policy) || r->model.kind == LF_UNITS_EXPERTS
                        ? 0
                        : c->predictor_rank;
    if ((rc = expert_unit_bytes(c, r, err)) ||
        (rc = lf_budget_compute(&r->model, r->dtype_bytes, r->unit_bytes, c->dram_fraction,
                                c->dram_bytes, rank, &r->budget, err)))
        return rc;
    uint32_t n_tok = c->n_tokens ? c->n_tokens : trace->n_tokens;
    if (n_tok > trace->n_tokens || n_tok == 0)
        return lf_fail(err, LF_EINVAL, "%s: --tokens %u but the trace holds %u tokens", r->mode,
                       n_tok, trace->n_tokens);
    /* before the replay, not after it (a measured run is minutes) */
    if (c->cold_tokens > n_tok - 1)
        return lf_summary_compute(NULL, n_tok, c->cold_tokens, &r->summary, err);
    /* The policy, the predictor and the replay see the tokens replayed, not what was
     * loaded: sim loads only those (plus a coact profile's), run and validate the whole
     * trace, and belady's look-ahead and hot's default profile would differ. The coact
     * layout's friends come from the loaded profile (as `weights make --profile` does). */
    lf_trace replayed;
    if ((rc = lf_trace_view(trace, n_tok, &replayed, err)))
        return rc;
    if ((rc = setup_layout(c, profile, dev, r, err))) {
        lf_layout_free(&r->layout);
        lf_trace_view_free(&replayed);
        return rc;
    }
    lf_predictor *pred = NULL;
    lf_policy *pol = NULL;
    lf_plans *rec = NULL;
    const lf_plans *play = NULL;
    char key[sizeof c->plans_cache->key];
    int cacheable = c->plans_cache && !c->backend && profile == trace &&
                    plans_key(c, trace, r, n_tok, key, sizeof key);
    if (cacheable)
        play = lf_plans_cache_find(c->plans_cache, key);
    if (!play && (c->recorded_predictor || c->fn_rate > 0 || c->fp_rate > 0))
        rc = lf_predictor_create(&replayed, c->fn_rate, c->fp_rate, c->recorded_predictor,
                                 c->seed, &pred, err);
    if (rc == LF_OK && !play) {
        lf_policy_ctx ctx = {
            .n_layers = r->model.n_layers,
            .units = lf_model_units(&r->model),
            .capacity = r->budget.capacity,
            .trace = &replayed,
            .profile = profile == trace ? NULL : profile,
            .seed = c->seed,
            .max_want = pred ? lf_predictor_max_want(pred) : lf_trace_max_set(&replayed, 0),
        };
        rc = lf_policy_create(c->policy, &ctx, &pol, err);
    }
    if (rc == LF_OK && cacheable && !play) {
        size_t n_counters = lf_policy_counters(pol, NULL, (uint64_t[LF_POLICY_MAX_COUNTERS]){0});
        lf_err ignored;
        if (lf_plans_new(r->model.n_layers, n_tok, (uint32_t)n_counters, LF_PLANS_MAX_BYTES,
                         &rec, &ignored))
            rec = NULL; /* no room to keep them: run without */
    }
    if (rc == LF_OK && !(r->rows = calloc(n_tok, sizeof *r->rows)))
        rc = lf_fail(err, LF_ENOMEM, "sim: out of memory for %u token rows", n_tok);
    if (rc == LF_OK) {
        const lf_plans_policy *played = play ? lf_plans_policy_of(play) : NULL;
        uint64_t max_resident = played ? played->max_resident : pol->max_resident;
        r->n_rows = n_tok;
        r->cap_rows = max_resident ? max_resident : r->budget.capacity;
        if (r->cap_rows > lf_model_units(&r->model))
            r->cap_rows = lf_model_units(&r->model);
        lf_replay_cfg rc_cfg = {
            .trace = &replayed,
            .model = &r->model,
            .dtype_bytes = r->dtype_bytes,
            .policy = pol,
            .layout = &r->layout,
            .reader = {.max_gap = c->max_gap, .max_read = c->max_read, .inflight = c->threads},
            .predictor = pred,
            .dram = c->dram,
            .dram_row_bytes = c->dram_row_bytes,
            .n_tokens = n_tok,
            .capacity = r->budget.capacity,
            .quiet = c->quiet,
            .record = rec,
            .play = play,
        };
        lf_backend be;
        lf_price sb;
        lf_price_backend(&be, &sb, dev, &r->model, r->dtype_bytes, c->threads);
        sb.stream_bytes = c->stream_bytes;
        sb.scope = c->scope;
        /* experts cost what the profile's measured kernel at their bits says (calibrate's
         * expert_wps_16 / _8), as the executor's prediction prices them; a profile without
         * one keeps the roofline */
        if (r->model.kind == LF_UNITS_EXPERTS)
            sb.expert_wps =
                lf_device_expert_wps(dev, c->expert_bits ? c->expert_bits : 8 * r->dtype_bytes);
        sb.unit_bytes = r->unit_bytes;
        sb.rows_gapped = r->model.kind != LF_UNITS_EXPERTS &&
                         lf_replay_dram_row_gapped(&r->layout, c->dram_row_bytes);
        rc = lf_replay(&rc_cfg, c->backend ? c->backend : &be, r->rows, err);
        if (rc == LF_OK && played)
            r->counts = played->counts;
        else if (rc == LF_OK)
            lf_policy_counts_get(pol, &r->counts);
        if (rc == LF_OK && rec && lf_plans_complete(rec)) {
            lf_plans_policy kept = {pol->max_resident, pol->desc->layers_independent,
                                    pol->desc->name, r->counts};
            lf_plans_set_policy(rec, &kept);
            lf_plans_cache_store(c->plans_cache, key, rec);
            rec = NULL;
        }
    }
    lf_plans_free(rec);
    if (rc == LF_OK)
        rc = lf_summary_compute(r->rows, r->n_rows, c->cold_tokens, &r->summary, err);
    if (rc == LF_OK)
        rc = fill_config(c, dev, r, n_tok, err);
    lf_policy_free(pol);
    lf_predictor_free(pred);
    lf_trace_view_free(&replayed);
    if (rc)
        lf_run_result_free(r);
    return rc;
}

void lf_run_result_free(lf_run_result *r)
{
    if (!r)
        return;
    free(r->rows);
    r->rows = NULL;
    r->n_rows = 0;
    lf_layout_free(&r->layout);
    lf_kv_free(&r->config);
    lf_kv_free(&r->extra);
}

int lf_run_write(const char *dir, const lf_run_config *c, const lf_run_result *r, lf_err *err)
{
    lf_results res = {.mode = r->mode,
                      .config = &r->config,
                      .rows = r->rows,
                      .n_rows = r->n_rows,
                      .cold_tokens = c->cold_tokens,
                      .seed = c->seed,
                      .trace_path = c->trace_path,
                      .data_path = r->data_path,
                      .meta_extra = r->extra.n ? &r->extra : NULL,
                      .counts = &r->counts};
    return lf_results_write(dir, &res, err);
}

typedef struct {
    const lf_run_config *configs;
    size_t n;
    const lf_trace *trace, *profile;
    const lf_device *dev;
    lf_run_result *results;
    int *rcs;
    lf_err *errs;
    pthread_mutex_t lock;
    size_t next;
} many_job;

static void *many_worker(void *arg)
{
    many_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n)
            return NULL;
        lf_run_config c = j->configs[i];
        c.quiet = 1;
        lf_err_clear(&j->errs[i]);
        j->rcs[i] = lf_run(&c, j->trace, j->profile, j->dev, &j->results[i], &j->errs[i]);
    }
}

int lf_run_many(const lf_run_config *configs, size_t n, unsigned jobs, const lf_trace *trace,
                    const lf_trace *profile, const lf_device *dev, lf_run_result *results,
                    int *rcs, lf_err *errs)
{
    many_job j = {configs, n, trace, profile, dev, results, rcs, errs,
                  PTHREAD_MUTEX_INITIALIZER, 0};
    if (jobs == 0)
        jobs = 1;
    if (jobs > n)
        jobs = n ? (unsigned)n : 1;
    pthread_t th[64];
    if (jobs > 64)
        jobs = 64;
    unsigned started = 0;
    for (unsigned k = 1; k < jobs; k++)
        if (pthread_create(&th[started], NULL, many_worker, &j) == 0)
            started++;
    many_worker(&j);
    for (unsigned k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    for (size_t i = 0; i < n; i++)
        if (rcs[i])
            return rcs[i];
    return LF_OK;
}
