/* The CSV form of lf_stats (long format: one value a row), written atomically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int lf_stats_write_friends_csv(const lf_trace *t, int layer, const char *path, lf_err *err)
{
    uint32_t units = t->units_per_layer;
    uint32_t *friend = malloc((size_t)units * sizeof *friend);
    uint32_t *together = malloc((size_t)units * sizeof *together);
    uint64_t *fires = malloc((size_t)units * sizeof *fires);
    if (!friend || !together || !fires) {
        free(friend);
        free(together);
        free(fires);
        return lf_fail(err, LF_ENOMEM, "%s: out of memory", path);
    }
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc == LF_OK)
        fprintf(a.f, "layer,unit,count,friend,friend_count\n");
    uint32_t first = layer >= 0 ? (uint32_t)layer : 0;
    uint32_t last = layer >= 0 ? (uint32_t)layer + 1 : t->n_layers;
    for (uint32_t l = first; rc == LF_OK && l < last; l++) {
        rc = lf_stats_closest_friends(t, l, friend, together, err);
        if (rc)
            break;
        memset(fires, 0, (size_t)units * sizeof *fires);
        const lf_trace_layer *L = &t->layers[l];
        for (uint64_t i = 0; i < L->nnz; i++)
            fires[lf_trace_id_at(L, 0, i)]++;
        for (uint32_t u = 0; u < units; u++)
            if (fires[u])
                fprintf(a.f, "%u,%u,%llu,%lld,%u\n", l, u, (unsigned long long)fires[u],
                        friend[u] == LF_STATS_NO_FRIEND ? -1LL : (long long)friend[u],
                        together[u]);
    }
    free(friend);
    free(together);
    free(fires);
    if (rc) {
        lf_atomic_abort(&a);
        return rc;
    }
    return lf_atomic_commit(&a, err);
}
