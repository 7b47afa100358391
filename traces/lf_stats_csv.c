/* The CSV form of lf_stats (long format: one value a row), written atomically. */
#include <math.h>
#include <stdio.h>

#include "lf_fs.h"
#include "lf_stats.h"

static void row(FILE *f, long layer, const char *metric, uint32_t k, double v)
{
    if (!isnan(v))
        fprintf(f, "%ld,%s,%u,%.10g\n", layer, metric, k, v);
}

static void layer_rows(FILE *f, const lf_stats *s, const lf_stats_layer *L)
{
    long id = L->layer == LF_STATS_ALL_LAYERS ? -1 : (long)L->layer;
    row(f, id, "sparsity", 0, L->sparsity);
    for (uint32_t k = 1; k <= s->max_window; k++)
        row(f, id, "s_agg", k, L->s_agg[k - 1]);
    for (uint32_t k = 1; k <= s->max_window; k++)
        row(f, id, "delta", k, L->delta[k - 1]);
    row(f, id, "reuse", 0, L->reuse);
    row(f, id, "top10_share", 0, L->top10);
    row(f, id, "top20_share", 0, L->top20);
    row(f, id, "friend_units", 0, L->friend_units);
    row(f, id, "friend_share_mean", 0, L->friend_share_mean);
    row(f, id, "friend_share_median", 0, L->friend_share_median);
    row(f, id, "friend_in_top1pct", 0, L->friend_in_top1);
    row(f, id, "friend_distinct_frac", 0, L->friend_distinct);
    for (uint32_t r = 0; L->expert_share && r < s->units; r++)
        row(f, id, "expert_share", r + 1, L->expert_share[r]);
    for (uint32_t c = 0; L->lru_hit && c < s->n_cache; c++)
        row(f, id, "lru_hit_rate", s->cache_sizes[c], L->lru_hit[c]);
}

int lf_stats_write_csv(const lf_stats *s, const char *path, lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f, "layer,metric,k,value\n");
    row(a.f, -1, "tokens", 0, s->n_tokens);
    row(a.f, -1, "units", 0, s->units);
    layer_rows(a.f, s, &s->all);
    for (uint32_t i = 0; i < s->n_layers; i++)
        layer_rows(a.f, s, &s->layers[i]);
    rc = lf_atomic_commit(&a, err);
    if (rc)
        lf_atomic_abort(&a);
    return rc;
}
