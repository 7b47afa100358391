/* Policy `lfu`: a per-layer cache of `capacity` units (default the DRAM budget's); a
 * miss evicts the unwanted resident unit used least often, ties: the one used least
 * recently, then the smaller id. history=0 (default) counts uses since the unit was
 * last loaded (classic in-cache LFU); history=1 keeps counts across evictions. */
#include "lf_pol.h"

int lf_pol_lfu_create(const lf_policy_ctx *ctx, const lf_kv *kv, lf_policy *p, lf_err *err)
{
    uint64_t cap, history;
    int rc = lf_pol_capacity(ctx, kv, &cap, err);
    if (rc == LF_OK)
        rc = lf_kv_u64(kv, "history", 0, &history, err);
    if (rc)
        return rc;
    if (history > 1)
        return lf_fail(err, LF_EINVAL, "policy 'lfu': history = %llu must be 0 or 1",
                       (unsigned long long)history);
    return lf_pol_scored_create("lfu", ctx, cap, 1, 0, (int)history, p, err);
}
