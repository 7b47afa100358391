/* Policy `lfu`: a per-layer cache of `capacity` units (default the DRAM budget's); a
 * miss evicts the unwanted resident unit used least often, ties: the one used least
 * recently, then the smaller id. history=0 (default) counts uses since the unit was
 * last loaded (classic in-cache LFU); history=1 keeps counts across evictions. */
#include "lf_pol.h"

static int lfu_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    uint64_t cap, history;
    int rc = lf_pol_capacity(ctx, kv, &cap, err);
    if (rc == LF_OK)
        rc = lf_kv_u64(kv, "history", 0, &history, err);
    if (rc)
        return rc;
    if (history > 1)
        return lf_fail(err, LF_EINVAL, "history = %llu must be 0 or 1",
                       (unsigned long long)history);
    return lf_pol_scored_init(p, ctx, cap, 1, 0, (int)history, err);
}

const lf_policy_desc lf_pol_lfu = {
    .name = "lfu",
    .help = "a cache that evicts the unwanted unit wanted least often",
    .keys = (const lf_policy_key[]){LF_POL_KEY_CAPACITY,
                                    {"history", "0: count uses since loaded (default), 1: since "
                                                "the start"},
                                    {NULL, NULL}},
    .state_size = sizeof(lf_pol_scored),
    .create = lfu_create,
    .step = lf_pol_scored_step,
    .destroy = lf_pol_scored_destroy,
};
