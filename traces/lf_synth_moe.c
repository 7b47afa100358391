/* Synthetic expert (MoE) routing traces (traces/README.md, "Experts"): exactly top_k
 * distinct experts per token and layer; each expert of the previous token is kept with
 * probability `reuse`, the free slots are drawn from a Zipf-like popularity (or given
 * weights) without repetition. GSL's Walker alias tables (gsl_ran_discrete) do the draws. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_sort_uint.h>

#include "lf_synth_moe.h"
#include "lf_mix.h"

typedef struct {
    gsl_rng *rng;
    gsl_ran_discrete_t *table;
    double *w;        /* popularity weight per expert */
    double reuse;
    uint8_t *chosen;  /* per expert: in the current token's set */
    uint32_t *prev, *cur;
    uint32_t n_prev;
} moe_gen;

static void moe_free(moe_gen *g)
{
    if (g->rng)
        gsl_rng_free(g->rng);
    if (g->table)
        gsl_ran_discrete_free(g->table);
    free(g->w);
    free(g->chosen);
    free(g->prev);
    free(g->cur);
    memset(g, 0, sizeof *g);
}

static int moe_init(moe_gen *g, const lf_model *m, const lf_synth_expert_params *X,
                    uint64_t seed, uint32_t l, uint32_t k, lf_err *err)
{
    uint32_t E = m->n_experts;
    memset(g, 0, sizeof *g);
    g->rng = gsl_rng_alloc(gsl_rng_mt19937);
    g->w = malloc((size_t)E * sizeof *g->w);
    g->chosen = calloc(E, 1);
    g->prev = malloc((size_t)k * sizeof *g->prev);
    g->cur = malloc((size_t)k * sizeof *g->cur);
    uint32_t *perm = malloc((size_t)E * sizeof *perm);
    if (!g->rng || !g->w || !g->chosen || !g->prev || !g->cur || !perm) {
        free(perm);
        return lf_fail(err, LF_ENOMEM, "synth: out of memory for layer %u", l);
    }
    gsl_rng_set(g->rng, lf_mix_stream_seed(seed, l));
    g->reuse = X->layer_reuse ? X->layer_reuse[l] : X->reuse;
    if (X->popularity) {
        memcpy(g->w, X->popularity + (size_t)l * E, (size_t)E * sizeof *g->w);
    } else {
        /* Rank r (0 = hottest) has weight (r+1)^-zipf; which expert holds which rank is
         * a random permutation per layer. */
        for (uint32_t i = 0; i < E; i++)
            perm[i] = i;
        gsl_ran_shuffle(g->rng, perm, E, sizeof *perm);
        for (uint32_t r = 0; r < E; r++)
            g->w[perm[r]] = pow((double)r + 1, -X->zipf);
    }
    free(perm);
    g->table = gsl_ran_discrete_preproc(E, g->w);
    if (!g->table)
        return lf_fail(err, LF_ENOMEM, "synth: cannot build the popularity table of layer %u", l);
    return LF_OK;
}

/* Draws one expert not yet chosen: alias-table draws with rejection, then (after a few
 * rejections, when the chosen experts hold most of the weight) an exact draw over the
 * remaining ones. */
static uint32_t draw_free(moe_gen *g, uint32_t E)
{
    for (int tries = 0; tries < 16; tries++) {
        uint32_t e = (uint32_t)gsl_ran_discrete(g->rng, g->table);
        if (!g->chosen[e])
            return e;
    }
    double total = 0;
    for (uint32_t e = 0; e < E; e++)
        total += g->chosen[e] ? 0 : g->w[e];
    double u = gsl_rng_uniform(g->rng) * total;
    uint32_t last = E;
    for (uint32_t e = 0; e < E; e++) {
        if (g->chosen[e] || g->w[e] <= 0)
            continue;
        last = e;
        if (u < g->w[e])
            return e;
        u -= g->w[e];
    }
    return last; /* rounding: the last free expert with weight */
}

/* One token's set into g->cur (sorted); returns k. */
static uint32_t moe_step(moe_gen *g, uint32_t E, uint32_t k)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n_prev; i++) {
        if (gsl_rng_uniform(g->rng) < g->reuse) {
            g->cur[n++] = g->prev[i];
            g->chosen[g->prev[i]] = 1;
        }
    }
    while (n < k) {
        uint32_t e = draw_free(g, E);
        g->cur[n++] = e;
        g->chosen[e] = 1;
    }
    gsl_sort_uint(g->cur, 1, n);
    for (uint32_t i = 0; i < n; i++)
        g->chosen[g->cur[i]] = 0;
    memcpy(g->prev, g->cur, (size_t)n * sizeof *g->cur);
    g->n_prev = n;
    return n;
}

int lf_synth_moe_generate(const lf_model *m, uint32_t n_tokens, const lf_synth_expert_params *X,
                          uint64_t seed, lf_synth_progress_fn progress, void *progress_arg,
                          lf_trace *out, lf_err *err)
{
    uint32_t L = m->n_layers, E = m->n_experts;
    uint32_t k = X->top_k ? X->top_k : m->top_k;
    moe_gen *gens = calloc(L, sizeof *gens);
    int rc = gens ? LF_OK : lf_fail(err, LF_ENOMEM, "synth: out of memory");
    for (uint32_t l = 0; l < L && rc == LF_OK; l++)
        rc = moe_init(&gens[l], m, X, seed, l, k, err);
    for (uint32_t t = 0; t < n_tokens && rc == LF_OK; t++) {
        for (uint32_t l = 0; l < L && rc == LF_OK; l++) {
            uint32_t n = moe_step(&gens[l], E, k);
            rc = lf_trace_append_layer(out, l, gens[l].cur, n, NULL, err);
        }
        if (rc == LF_OK)
            rc = lf_trace_end_token(out, -1, err);
        if (progress)
            progress(t + 1, n_tokens, progress_arg);
    }
    for (uint32_t l = 0; gens && l < L; l++)
        moe_free(&gens[l]);
    free(gens);
    return rc;
}
