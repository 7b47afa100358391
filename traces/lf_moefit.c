/* Simulated-moments fit of the expert generator (lf_synth_moe.c). Every evaluation
 * generates `replicates` synthetic layers of the target's shape with fixed seeds
 * (common random numbers: the objective is a deterministic function of the parameters)
 * and measures them with lf_stats, the same code that measures the target.
 * zipf: coarse grid then GSL Brent minimisation of the squared gap between sorted
 * popularity curves; reuse: GSL Brent root of (synthetic reuse - target reuse); two
 * rounds. The LRU-curve fit uses GSL's Nelder-Mead simplex. */
#include "lf_moefit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_roots.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_stats.h"
#include "lf_synth.h"

const uint32_t lf_moefit_lru_sizes[LF_MOEFIT_NLRU] = {16, 32, 64, 128};

#define ZIPF_MAX 4.0
#define REUSE_MAX 0.99
#define GRID_STEP 0.2

/* Statistics of one layer, averaged over replicates for synthetic ones. */
typedef struct {
    uint32_t units;
    double *share; /* sorted, hottest first */
    double reuse, top20;
    double lru[LF_MOEFIT_NLRU];
} lstats;

/* One evaluation context: the shape, the seed, the target, scratch. */
typedef struct {
    lf_model m;
    uint32_t n_tokens, replicates;
    uint64_t seed;
    const lstats *target;
    const uint32_t *lsize; /* LRU fit: sizes and targets */
    const double *lhit;
    uint32_t nl;
    double fixed;          /* the parameter held fixed by 1-D searches */
    lstats cur;
    int rc;
    lf_err *err;
} evalctx;

/* lf_stats of one layer, the cheap parts only (window 1, one friend sampled). */
static int layer_stats(const lf_trace *t, uint32_t layer, lf_stats *st, lf_err *err)
{
    lf_stats_opts o;
    lf_stats_opts_default(&o);
    o.max_window = 1;
    o.friend_sample = 1;
    o.layer = (int)layer;
    return lf_stats_compute(t, &o, st, err);
}

/* The LRU hit rate of st at `size` units; NaN when the size is not measured (not a
 * power of two, or not below the units). */
static double lru_at(const lf_stats *st, uint32_t size)
{
    for (uint32_t c = 0; c < st->n_cache; c++)
        if (st->cache_sizes[c] == size && size < st->units)
            return st->layers[0].lru_hit[c];
    return NAN;
}

static int measure(const lf_trace *t, uint32_t layer, lstats *s, lf_err *err)
{
    lf_stats st;
    int rc = layer_stats(t, layer, &st, err);
    if (rc)
        return rc;
    const lf_stats_layer *S = &st.layers[0];
    s->units = t->units_per_layer;
    memcpy(s->share, S->expert_share, s->units * sizeof *s->share);
    s->reuse = S->reuse;
    s->top20 = S->top20;
    for (uint32_t i = 0; i < LF_MOEFIT_NLRU; i++)
        s->lru[i] = lru_at(&st, lf_moefit_lru_sizes[i]);
    lf_stats_free(&st);
    return LF_OK;
}

int lf_moefit_lru_rates(const lf_trace *t, uint32_t layer, const uint32_t *size, uint32_t n,
                        double *rate, lf_err *err)
{
    lf_stats st;
    int rc = layer_stats(t, layer, &st, err);
    for (uint32_t i = 0; i < n && rc == LF_OK; i++) {
        rate[i] = lru_at(&st, size[i]);
        if (isnan(rate[i]) && size[i] < t->units_per_layer)
            rc = lf_fail(err, LF_EINVAL, "LRU rate at %u units: only powers of two are measured",
                         size[i]);
    }
    if (st.layers)
        lf_stats_free(&st);
    return rc;
}

/* Statistics of synthetic layers with these parameters, averaged over replicates. */
static int simulate(evalctx *c, double zipf, double reuse, lstats *out)
{
    uint32_t U = c->m.n_experts;
    memset(out->share, 0, U * sizeof *out->share);
    out->units = U;
    out->reuse = out->top20 = 0;
    for (uint32_t i = 0; i < LF_MOEFIT_NLRU; i++)
        out->lru[i] = 0;
    lstats one = {U, malloc(U * sizeof *one.share), 0, 0, {0}};
    if (!one.share)
        return lf_fail(c->err, LF_ENOMEM, "fit: out of memory");
    int rc = LF_OK;
    for (uint32_t r = 0; r < c->replicates && rc == LF_OK; r++) {
        lf_synth_params p;
        lf_synth_defaults(&p);
        p.seed = c->seed + r;
        p.experts.top_k = c->m.top_k;
        p.experts.zipf = zipf;
        p.experts.reuse = reuse;
        lf_trace t;
        rc = lf_synth_generate(&c->m, c->n_tokens, &p, &t, c->err);
        if (rc == LF_OK)
            rc = measure(&t, 0, &one, c->err);
        lf_trace_free(&t);
        for (uint32_t i = 0; rc == LF_OK && i < U; i++)
            out->share[i] += one.share[i] / c->replicates;
        out->reuse += one.reuse / c->replicates;
        out->top20 += one.top20 / c->replicates;
        for (uint32_t i = 0; i < LF_MOEFIT_NLRU; i++)
            out->lru[i] += one.lru[i] / c->replicates;
    }
    free(one.share);
    return rc;
}

static double share_gap(const lstats *a, const lstats *b)
{
    double s = 0;
    for (uint32_t i = 0; i < a->units; i++)
        s += (a->share[i] - b->share[i]) * (a->share[i] - b->share[i]);
    return s;
}

/* Objective of zipf (reuse fixed): squared popularity-curve gap. Errors stop the
 * search through c->rc and a large value. */
static double f_zipf(double z, void *arg)
{
    evalctx *c = arg;
    if (c->rc)
        return HUGE_VAL;
    c->rc = simulate(c, z, c->fixed, &c->cur);
    return c->rc ? HUGE_VAL : share_gap(&c->cur, c->target);
}

static double f_reuse(double r, void *arg)
{
    evalctx *c = arg;
    if (c->rc)
        return 0;
    c->rc = simulate(c, c->fixed, r, &c->cur);
    return c->rc ? 0 : c->cur.reuse - c->target->reuse;
}

/* Brent refinement of zipf in [best - GRID_STEP, best + GRID_STEP]; returns best when
 * that interval does not bracket a minimum. */
static double refine_zipf(evalctx *c, double best, double fbest)
{
    double lo = best - GRID_STEP, hi = best + GRID_STEP;
    if (c->rc || lo < 0 || hi > ZIPF_MAX)
        return best;
    double flo = f_zipf(lo, c), fhi = f_zipf(hi, c);
    if (!(fbest < flo && fbest < fhi))
        return best;
    gsl_function F = {f_zipf, c};
    gsl_min_fminimizer *s = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!s)
        return best;
    if (gsl_min_fminimizer_set_with_values(s, &F, best, fbest, lo, flo, hi, fhi) == GSL_SUCCESS) {
        for (int it = 0; it < 30 && !c->rc; it++) {
            if (gsl_min_fminimizer_iterate(s) != GSL_SUCCESS)
                break;
            if (gsl_min_test_interval(gsl_min_fminimizer_x_lower(s),
                                      gsl_min_fminimizer_x_upper(s), 1e-3, 0) == GSL_SUCCESS)
                break;
        }
        best = gsl_min_fminimizer_x_minimum(s);
    }
    gsl_min_fminimizer_free(s);
    return best;
}

/* zipf with reuse fixed: a coarse grid over [0, ZIPF_MAX] (or, given a previous
 * estimate, just around it), then Brent. */
static double fit_zipf(evalctx *c, double prev)
{
    if (prev >= 0) {
        double f = f_zipf(prev, c);
        double z = refine_zipf(c, prev, f);
        if (z != prev || c->rc)
            return z;
    }
    double best = 0, fbest = HUGE_VAL;
    for (double z = 0; z <= ZIPF_MAX + 1e-9; z += GRID_STEP) {
        double f = f_zipf(z, c);
        if (f < fbest) {
            fbest = f;
            best = z;
        }
    }
    return refine_zipf(c, best, fbest);
}

static double fit_reuse(evalctx *c)
{
    double f0 = f_reuse(0, c);
    if (c->rc || f0 >= 0)
        return 0; /* chance overlap alone reaches the target */
    double f1 = f_reuse(REUSE_MAX, c);
    if (c->rc || f1 <= 0)
        return REUSE_MAX;
    gsl_function F = {f_reuse, c};
    gsl_root_fsolver *s = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
    double r = 0.5 * REUSE_MAX;
    if (!s)
        return r;
    if (gsl_root_fsolver_set(s, &F, 0, REUSE_MAX) == GSL_SUCCESS) {
        for (int it = 0; it < 40 && !c->rc; it++) {
            if (gsl_root_fsolver_iterate(s) != GSL_SUCCESS)
                break;
            r = gsl_root_fsolver_root(s);
            if (gsl_root_test_interval(gsl_root_fsolver_x_lower(s), gsl_root_fsolver_x_upper(s),
                                       1e-4, 0) == GSL_SUCCESS)
                break;
        }
    }
    gsl_root_fsolver_free(s);
    return r;
}

static void shape_model(lf_model *m, uint32_t units, uint32_t k, uint32_t d_model)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "fit");
    m->kind = LF_UNITS_EXPERTS;
    m->act = LF_ACT_SWIGLU;
    m->n_layers = 1;
    m->d_model = d_model ? d_model : 1;
    m->d_ff = 1;
    m->n_experts = units;
    m->top_k = k;
}

static int fit_layer(const lf_trace *t, uint32_t l, evalctx *c, lstats *target,
                     lf_moefit_layer *out)
{
    int rc = measure(t, l, target, c->err);
    if (rc)
        return rc;
    c->target = target;
    double zipf = -1, reuse = target->reuse;
    for (int round = 0; round < 2 && !c->rc; round++) {
        c->fixed = reuse;
        zipf = fit_zipf(c, zipf);
        c->fixed = zipf;
        reuse = fit_reuse(c);
    }
    if (!c->rc)
        c->rc = simulate(c, zipf, reuse, &c->cur);
    if (c->rc)
        return c->rc;
    out->zipf = zipf;
    out->reuse = reuse;
    out->obs_reuse = target->reuse;
    out->fit_reuse = c->cur.reuse;
    out->obs_top20 = target->top20;
    out->fit_top20 = c->cur.top20;
    out->share_rms = sqrt(share_gap(&c->cur, target) / target->units);
    memcpy(out->obs_lru, target->lru, sizeof out->obs_lru);
    memcpy(out->fit_lru, c->cur.lru, sizeof out->fit_lru);
    return LF_OK;
}

int lf_moefit_trace(const lf_trace *t, uint64_t seed, lf_moefit *out, lf_err *err)
{
    memset(out, 0, sizeof *out);
    if (t->kind != LF_UNITS_EXPERTS)
        return lf_fail(err, LF_EINVAL,
                       "fit: the trace holds neurons; trace fit estimates expert routing "
                       "parameters (import a routing log with trace import)");
    if (t->n_tokens < 2)
        return lf_fail(err, LF_EINVAL, "fit: %u tokens; the fit needs at least 2", t->n_tokens);
    uint32_t U = t->units_per_layer;
    out->n_layers = t->n_layers;
    out->n_experts = U;
    out->top_k = t->top_k;
    out->n_tokens = t->n_tokens;
    out->replicates = 4;
    out->seed = seed;
    out->layers = calloc(t->n_layers, sizeof *out->layers);
    evalctx c;
    memset(&c, 0, sizeof c);
    shape_model(&c.m, U, t->top_k, t->d_model);
    c.n_tokens = t->n_tokens;
    c.replicates = out->replicates;
    c.seed = seed;
    c.err = err;
    lstats target = {U, malloc(U * sizeof(double)), 0, 0, {0}};
    c.cur.share = malloc(U * sizeof(double));
    int rc = out->layers && target.share && c.cur.share
                 ? LF_OK
                 : lf_fail(err, LF_ENOMEM, "fit: out of memory");
    for (uint32_t l = 0; l < t->n_layers && rc == LF_OK; l++) {
        rc = fit_layer(t, l, &c, &target, &out->layers[l]);
        if (rc)
            lf_err_prefix(err, "fit of layer %u", l);
        out->zipf += out->layers[l].zipf / t->n_layers;
        out->reuse += out->layers[l].reuse / t->n_layers;
    }
    free(target.share);
    free(c.cur.share);
    if (rc)
        lf_moefit_free(out);
    return rc;
}

void lf_moefit_free(lf_moefit *f)
{
    free(f->layers);
    f->layers = NULL;
}

/* Nelder-Mead objective: squared gap of the LRU rates; outside the box, a penalty that
 * grows with the distance (the simplex walks back in). */
static double f_lru(const gsl_vector *v, void *arg)
{
    evalctx *c = arg;
    double z = gsl_vector_get(v, 0), r = gsl_vector_get(v, 1);
    double zc = fmin(fmax(z, 0), ZIPF_MAX), rc = fmin(fmax(r, 0), REUSE_MAX);
    double pen = fabs(z - zc) + fabs(r - rc);
    if (c->rc)
        return HUGE_VAL;
    c->rc = simulate(c, zc, rc, &c->cur);
    if (c->rc)
        return HUGE_VAL;
    double s = 0;
    for (uint32_t i = 0; i < c->nl; i++) {
        double got = NAN;
        for (uint32_t j = 0; j < LF_MOEFIT_NLRU; j++)
            if (lf_moefit_lru_sizes[j] == c->lsize[i])
                got = c->cur.lru[j];
        s += (got - c->lhit[i]) * (got - c->lhit[i]);
    }
    return s + pen * (1 + pen);
}

int lf_moefit_lru(const lf_model *m, const uint32_t *size, const double *hit, uint32_t n,
                  uint32_t n_tokens, uint64_t seed, double *zipf, double *reuse, double *fitted,
                  lf_err *err)
{
    if (m->kind != LF_UNITS_EXPERTS)
        return lf_fail(err, LF_EINVAL, "fit: model %s is not a mixture of experts", m->name);
    for (uint32_t i = 0; i < n; i++) {
        int ok = 0;
        for (uint32_t j = 0; j < LF_MOEFIT_NLRU; j++)
            ok |= lf_moefit_lru_sizes[j] == size[i] && size[i] < m->n_experts;
        if (!ok || !(hit[i] >= 0 && hit[i] <= 1))
            return lf_fail(err, LF_EINVAL,
                           "fit: LRU target %g at %u experts: sizes must be 16, 32, 64 or 128 "
                           "(below the %u experts) and rates in [0,1]",
                           hit[i], size[i], m->n_experts);
    }
    evalctx c;
    memset(&c, 0, sizeof c);
    shape_model(&c.m, m->n_experts, m->top_k, m->d_model);
    c.n_tokens = n_tokens;
    c.replicates = 2;
    c.seed = seed;
    c.err = err;
    c.lsize = size;
    c.lhit = hit;
    c.nl = n;
    c.cur.share = malloc(m->n_experts * sizeof(double));
    gsl_multimin_fminimizer *s =
        gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, 2);
    gsl_vector *x = gsl_vector_alloc(2), *step = gsl_vector_alloc(2);
    int rc = c.cur.share && s && x && step ? LF_OK : lf_fail(err, LF_ENOMEM, "fit: out of memory");
    if (rc == LF_OK) {
        gsl_vector_set(x, 0, 0.9);
        gsl_vector_set(x, 1, 0.35);
        gsl_vector_set(step, 0, 0.3);
        gsl_vector_set(step, 1, 0.15);
        gsl_multimin_function F = {f_lru, 2, &c};
        gsl_multimin_fminimizer_set(s, &F, x, step);
        for (int it = 0; it < 150 && !c.rc; it++) {
            if (gsl_multimin_fminimizer_iterate(s) != GSL_SUCCESS)
                break;
            if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(s), 2e-3) == GSL_SUCCESS)
                break;
        }
        rc = c.rc;
    }
    if (rc == LF_OK) {
        *zipf = fmin(fmax(gsl_vector_get(s->x, 0), 0), ZIPF_MAX);
        *reuse = fmin(fmax(gsl_vector_get(s->x, 1), 0), REUSE_MAX);
        rc = simulate(&c, *zipf, *reuse, &c.cur);
        for (uint32_t i = 0; rc == LF_OK && i < n; i++)
            for (uint32_t j = 0; j < LF_MOEFIT_NLRU; j++)
                if (lf_moefit_lru_sizes[j] == size[i])
                    fitted[i] = c.cur.lru[j];
    }
    if (s)
        gsl_multimin_fminimizer_free(s);
    gsl_vector_free(x);
    gsl_vector_free(step);
    free(c.cur.share);
    return rc;
}

int lf_moefit_write_conf(const lf_moefit *f, const char *trace_path, const char *path,
                         lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f,
            "# Expert routing parameters estimated by `llmflash trace fit` from %s\n"
            "# (%u layers, %u experts, top-%u, %u tokens; simulated moments with %u synthetic\n"
            "# replicates per evaluation, seed %llu). Read by `llmflash moe-scenario --params`;\n"
            "# for trace synth: --zipf ZIPF --reuse REUSE.\n"
            "# zipf: popularity skew (weight of the r-th hottest expert ~ r^-zipf);\n"
            "# reuse: probability that each expert of the previous token is routed again.\n",
            trace_path, f->n_layers, f->n_experts, f->top_k, f->n_tokens, f->replicates,
            (unsigned long long)f->seed);
    for (uint32_t l = 0; l < f->n_layers; l++) {
        const lf_moefit_layer *L = &f->layers[l];
        fprintf(a.f,
                "# layer %u: zipf %.4f reuse %.4f | reuse trace %.4f synthetic %.4f | top-20%% "
                "share trace %.4f synthetic %.4f | popularity rms %.5f | LRU@16 trace %.3f "
                "synthetic %.3f\n",
                l, L->zipf, L->reuse, L->obs_reuse, L->fit_reuse, L->obs_top20, L->fit_top20,
                L->share_rms, L->obs_lru[0], L->fit_lru[0]);
    }
    fprintf(a.f, "zipf = %.4f\nreuse = %.4f\n", f->zipf, f->reuse);
    return lf_atomic_commit(&a, err);
}
