/* Predictor: recorded predicted sets, or a seeded error model. The error model's random
 * stream is re-seeded for every (layer, token) from (seed, layer, token), so a set does
 * not depend on which other sets were asked for before it. */
#include "lf_predictor.h"

#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort_uint.h>

#include "lf_mix.h"

struct lf_predictor {
    const lf_trace *t;
    double fn_rate, fp_rate;
    int recorded;
    uint64_t seed;
    gsl_rng *rng;
    uint32_t *out;    /* units */
    uint32_t *need, *pred; /* units: a token's sets when the trace holds 16-bit ids */
    uint32_t *extra;  /* units: false positives drawn */
    uint8_t *mark;    /* units: 1 = needed or already drawn */
};

int lf_predictor_create(const lf_trace *t, double fn_rate, double fp_rate, int use_recorded,
                        uint64_t seed, lf_predictor **out, lf_err *err)
{
    *out = NULL;
    if (!(fn_rate >= 0 && fn_rate <= 1) || !(fp_rate >= 0 && fp_rate <= 1))
        return lf_fail(err, LF_EINVAL,
                       "predictor: rates must be in [0,1] (false-negative %g, false-positive %g)",
                       fn_rate, fp_rate);
    if (use_recorded) {
        for (uint32_t l = 0; l < t->n_layers; l++)
            if (!t->layers[l].pred_indptr)
                return lf_fail(err, LF_EINVAL,
                               "predictor: the trace has no recorded predicted sets (layer %u "
                               "lacks pred_index); add them with 'llmflash trace predict' or use "
                               "--fn-rate/--fp-rate",
                               l);
        if (fn_rate > 0 || fp_rate > 0)
            return lf_fail(err, LF_EINVAL,
                           "predictor: choose either the recorded predicted sets or error rates, "
                           "not both");
    }
    lf_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return lf_fail(err, LF_ENOMEM, "predictor: out of memory");
    p->t = t;
    p->fn_rate = fn_rate;
    p->fp_rate = fp_rate;
    p->recorded = use_recorded;
    p->seed = seed;
    uint32_t u = t->units_per_layer;
    p->rng = gsl_rng_alloc(gsl_rng_taus2);
    p->out = malloc((size_t)u * sizeof *p->out);
    p->need = malloc((size_t)u * sizeof *p->need);
    p->pred = malloc((size_t)u * sizeof *p->pred);
    p->extra = malloc((size_t)u * sizeof *p->extra);
    p->mark = calloc(u, 1);
    if (!p->rng || !p->out || !p->need || !p->pred || !p->extra || !p->mark) {
        lf_predictor_free(p);
        return lf_fail(err, LF_ENOMEM, "predictor: out of memory for %u units", u);
    }
    *out = p;
    return LF_OK;
}

void lf_predictor_free(lf_predictor *p)
{
    if (!p)
        return;
    if (p->rng)
        gsl_rng_free(p->rng);
    free(p->out);
    free(p->need);
    free(p->pred);
    free(p->extra);
    free(p->mark);
    free(p);
}

/* Decorrelates the per-(layer, token) seeds: one splitmix64 step. */
static uint64_t mix64(uint64_t x)
{
    return lf_mix64(x + LF_MIX_GOLDEN);
}

/* |a \ b| and |b \ a| for sorted sets. */
static void set_diff(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb,
                     uint32_t *a_only, uint32_t *b_only)
{
    uint32_t i = 0, j = 0, common = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            common++;
            i++;
            j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    *a_only = na - common;
    *b_only = nb - common;
}

int lf_predictor_predict(lf_predictor *p, uint32_t layer, uint32_t token, const uint32_t **want,
                         uint32_t *n_want, uint32_t *fp, uint32_t *fn, lf_err *err)
{
    const lf_trace *t = p->t;
    if (layer >= t->n_layers || token >= t->n_tokens)
        return lf_fail(err, LF_ERANGE, "predictor: layer %u token %u outside the trace (%u x %u)",
                       layer, token, t->n_layers, t->n_tokens);
    uint32_t n_need;
    const uint32_t *need = lf_trace_ids_to(t, layer, token, 0, p->need, &n_need);
    if (p->recorded) {
        *want = lf_trace_ids_to(t, layer, token, 1, p->pred, n_want);
        set_diff(*want, *n_want, need, n_need, fp, fn);
        return LF_OK;
    }
    if (p->fn_rate == 0 && p->fp_rate == 0) {
        *want = need;
        *n_want = n_need;
        *fp = *fn = 0;
        return LF_OK;
    }
    gsl_rng_set(p->rng, (unsigned long)mix64(p->seed ^ mix64(((uint64_t)layer << 32) | token)));
    uint32_t units = t->units_per_layer, kept = 0, dropped = 0;
    uint32_t *out = p->out;
    for (uint32_t i = 0; i < n_need; i++) {
        p->mark[need[i]] = 1;
        if (p->fn_rate > 0 && gsl_rng_uniform(p->rng) < p->fn_rate)
            dropped++;
        else
            out[kept++] = need[i];
    }
    uint32_t free_units = units - n_need, n_extra = 0;
    if (p->fp_rate > 0 && free_units > 0) {
        n_extra = (uint32_t)gsl_ran_binomial(p->rng, p->fp_rate, n_need);
        if (n_extra > free_units)
            n_extra = free_units;
    }
    if (n_extra * 2u <= free_units) {
        /* Few: rejection sampling against the marks. */
        for (uint32_t k = 0; k < n_extra;) {
            uint32_t id = (uint32_t)gsl_rng_uniform_int(p->rng, units);
            if (p->mark[id])
                continue;
            p->mark[id] = 1;
            p->extra[k++] = id;
        }
        gsl_sort_uint(p->extra, 1, n_extra);
    } else {
        /* Many: a selection scan over the non-needed units (Knuth's algorithm S). */
        uint32_t left = n_extra, seen = 0, k = 0;
        for (uint32_t id = 0; id < units && k < n_extra; id++) {
            if (p->mark[id])
                continue;
            if (gsl_rng_uniform(p->rng) * (free_units - seen) < left) {
                p->extra[k++] = id;
                left--;
            }
            seen++;
        }
    }
    for (uint32_t i = 0; i < n_need; i++)
        p->mark[need[i]] = 0;
    for (uint32_t k = 0; k < n_extra; k++)
        p->mark[p->extra[k]] = 0;
    /* Merge the kept needed units and the extras (both sorted, disjoint) from the back. */
    uint32_t i = kept, j = n_extra, w = kept + n_extra;
    while (j > 0) {
        if (i > 0 && out[i - 1] > p->extra[j - 1])
            out[--w] = out[--i];
        else
            out[--w] = p->extra[--j];
    }
    *want = out;
    *n_want = kept + n_extra;
    *fp = n_extra;
    *fn = dropped;
    return LF_OK;
}

uint32_t lf_predictor_max_want(const lf_predictor *p)
{
    if (p->recorded)
        return lf_trace_max_set(p->t, 1);
    uint64_t need = lf_trace_max_set(p->t, 0);
    uint64_t most = p->fp_rate > 0 ? 2 * need : need;
    return (uint32_t)(most < p->t->units_per_layer ? most : p->t->units_per_layer);
}
