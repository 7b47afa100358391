/* Policy `fwlru` (frequency-weighted LRU, for expert caches): a per-layer cache of
 * `capacity` units; a miss evicts the unwanted resident unit of lowest
 * score = count * w + (token of its last use), ties: the smaller id. w (default 16) is
 * the recency, in tokens, that one use is worth: w=0 is exactly lru, a large w
 * approaches lfu. history=1 (default) counts uses since the start of the replay;
 * history=0 only since the unit was last loaded. */
#include "lf_pol.h"

static int fwlru_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    uint64_t cap, w, history;
    int rc = lf_pol_capacity(ctx, kv, &cap, err);
    if (rc == LF_OK)
        rc = lf_kv_u64(kv, "w", 16, &w, err);
    if (rc == LF_OK)
        rc = lf_kv_u64(kv, "history", 1, &history, err);
    if (rc)
        return rc;
    if (history > 1)
        return lf_fail(err, LF_EINVAL, "history = %llu must be 0 or 1",
                       (unsigned long long)history);
    if (w > (1ull << 30))
        return lf_fail(err, LF_EINVAL, "w = %llu is above 2^30", (unsigned long long)w);
    return lf_pol_scored_init(p, ctx, cap, w, (int)history, err);
}

const lf_policy_desc lf_pol_fwlru = {
    .name = "fwlru",
    .help = "frequency-weighted LRU: evicts the lowest count * w + last use",
    .keys = (const lf_policy_key[]){LF_POL_KEY_CAPACITY,
                                    {"w", "tokens of recency one use is worth (default 16)"},
                                    {"history", "1: count uses since the start (default), 0: "
                                                "since loaded"},
                                    {NULL, NULL}},
    .state_size = sizeof(lf_pol_scored),
    .create = fwlru_create,
    .step = lf_pol_scored_step,
    .destroy = lf_pol_scored_destroy,
    .layers_independent = 1,
};
