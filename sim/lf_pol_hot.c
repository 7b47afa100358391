/* Policy `hot`: pin, per layer, the n units wanted most often in a profile (ties: the
 * smaller id), loaded with the first token and never evicted; the other wanted units
 * are loaded when wanted and dropped when a later token no longer wants them (as in
 * `sparse`). Profile: the first `prefix` tokens of the profile trace when the caller
 * gives one (default all of it), else of the replayed trace (default 10% of it, at
 * least 1 token). n defaults to capacity minus the trace's largest set, so that pinned
 * plus transient units fit the cache; a step that does not fit is an error (lower n).
 * O(n_want + n_previous) per step after the first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_pol.h"

typedef struct {
    uint64_t cap;
    uint32_t n;           /* pinned per layer */
    uint32_t *pinned;     /* n_layers * n, sorted ascending */
    uint8_t *res;         /* n_layers * units: 0 absent, 1 pinned, else transient of
                           * token t, marked 2 + (t & 1) */
    uint32_t *trans;      /* 2 * n_layers * cap: token t's transient units in half t & 1 */
    uint32_t *n_trans;    /* 2 * n_layers, the same halves */
    uint8_t *started;
} hot_state;

/* The no-fit error, with hot's own remedy. */
static int hot_no_fit(hot_state *s, uint64_t need, lf_err *err)
{
    int rc = lf_pol_no_fit(need, s->cap, err);
    if (err) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, ", or lower n (now %u pinned)", s->n);
    }
    return rc;
}

static int hot_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                    uint32_t n_want, lf_plan *plan, lf_err *err)
{
    hot_state *s = p->state;
    uint8_t *res = s->res + (size_t)layer * p->units;
    uint32_t *trans = s->trans + (size_t)layer * s->cap; /* half 0; half 1 is n_layers * cap on */
    const uint32_t *pin = s->pinned + (size_t)layer * s->n;
    if (!s->started[layer]) {
        /* first token: load the pinned set and the wanted units, merged in order */
        uint32_t i = 0, j = 0, extra = 0;
        while (i < s->n || j < n_want) {
            if (j == n_want || (i < s->n && pin[i] < want[j])) {
                plan->load[plan->n_load++] = pin[i++];
            } else {
                if (i < s->n && pin[i] == want[j])
                    i++;
                else
                    extra++;
                plan->load[plan->n_load++] = want[j++];
            }
        }
        if (s->n + (uint64_t)extra > s->cap)
            return hot_no_fit(s, s->n + (uint64_t)extra, err);
        for (i = 0; i < s->n; i++)
            res[pin[i]] = 1;
        uint32_t *nt = &s->n_trans[2 * layer + (token & 1)];
        uint32_t *tr = trans + (size_t)(token & 1) * p->n_layers * s->cap;
        *nt = 0;
        for (j = 0; j < n_want; j++)
            if (!res[want[j]]) {
                res[want[j]] = (uint8_t)(2 + (token & 1));
                tr[(*nt)++] = want[j];
            }
        s->started[layer] = 1;
        plan->n_resident = s->n + *nt;
        return LF_OK;
    }
    /* Token t's transient units carry the mark 2 + (t & 1), the previous token's the
     * other one, so one pass over the wanted set finds the hits, lists the loads and
     * marks (and lists) this token's transient set, and one pass over the previous set
     * evicts those still carrying the old mark. Branch-free (hit or miss is a coin
     * toss); a store lands at most at the loop's own index, never past an array. */
    const uint8_t mark = (uint8_t)(2 + (token & 1)), old = (uint8_t)(2 + !(token & 1));
    size_t half = (size_t)p->n_layers * s->cap;
    uint32_t *tr_new = trans + (token & 1) * half, *tr_old = trans + !(token & 1) * half;
    uint32_t *n_new = &s->n_trans[2 * layer + (token & 1)];
    uint32_t n_old = s->n_trans[2 * layer + !(token & 1)];
    uint32_t *ld = plan->load, *tr = tr_new, pinned = 0;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t u = want[i], v = res[u], pin_u = v == 1;
        *ld = u;
        ld += v == 0;
        *tr = u;
        tr += pin_u ^ 1;
        pinned += pin_u;
        res[u] = pin_u ? 1 : mark;
    }
    uint64_t need = s->n + (uint64_t)(n_want - pinned);
    if (need > s->cap) {
        /* undo: the previous token's transient units back to its mark, the loads out */
        for (uint32_t *u = tr_new; u < tr; u++)
            res[*u] = old;
        for (uint32_t *u = plan->load; u < ld; u++)
            res[*u] = 0;
        return hot_no_fit(s, need, err);
    }
    uint32_t *ev = plan->evict;
    for (uint32_t i = 0; i < n_old; i++) {
        uint32_t u = tr_old[i], v = res[u], gone = v == old;
        *ev = u;
        ev += gone;
        res[u] = (uint8_t)(gone ? 0 : v);
    }
    plan->n_load = (uint32_t)(ld - plan->load);
    plan->n_evict = (uint32_t)(ev - plan->evict);
    plan->n_hit = n_want - plan->n_load;
    *n_new = (uint32_t)(tr - tr_new);
    plan->n_resident = s->n + *n_new;
    return LF_OK;
}

static void hot_destroy(lf_policy *p)
{
    hot_state *s = p->state;
    free(s->pinned);
    free(s->res);
    free(s->trans);
    free(s->n_trans);
    free(s->started);
}

/* Picks the n most wanted units of every layer over tokens [0, prefix) of prof. */
static int pick_pinned(hot_state *s, const lf_policy *p, const lf_trace *prof, uint32_t prefix, lf_err *err)
{
    uint32_t units = p->units;
    uint32_t *counts = malloc((size_t)units * sizeof *counts);
    uint64_t *hist = malloc(((size_t)prefix + 1) * sizeof *hist);
    if (!counts || !hist) {
        free(counts);
        free(hist);
        return lf_fail(err, LF_ENOMEM, "out of memory");
    }
    for (uint32_t l = 0; l < p->n_layers; l++) {
        memset(counts, 0, (size_t)units * sizeof *counts);
        const lf_trace_layer *L = &prof->layers[l];
        for (uint64_t i = 0; i < L->indptr[prefix]; i++)
            counts[lf_trace_id_at(L, 0, i)]++;
        /* The n first in (most wanted, smaller id) order without a sort: the count c
         * of the n-th, from a histogram of counts (a count is at most prefix); then
         * every unit above c and the smallest ids at c, in ascending id order. */
        memset(hist, 0, ((size_t)prefix + 1) * sizeof *hist);
        for (uint32_t u = 0; u < units; u++)
            hist[counts[u]]++;
        uint64_t above = 0;
        uint32_t c = prefix;
        while (above + hist[c] < s->n) /* n <= units, so c stops at 0 at the latest */
            above += hist[c--];
        uint64_t ties = s->n - above;
        uint32_t *pin = s->pinned + (size_t)l * s->n, k = 0;
        for (uint32_t u = 0; u < units && k < s->n; u++)
            if (counts[u] > c || (counts[u] == c && ties && ties--))
                pin[k++] = u;
    }
    free(counts);
    free(hist);
    return LF_OK;
}

static int hot_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    hot_state *s = p->state;
    uint64_t cap, n, prefix;
    const lf_trace *prof = ctx->profile ? ctx->profile : ctx->trace;
    if (!prof)
        return lf_fail(err, LF_EINVAL, "a profile is needed: give the replayed trace "
                                       "or a profile trace");
    if (prof->n_layers != ctx->n_layers || prof->units_per_layer != ctx->units)
        return lf_fail(err, LF_EINVAL,
                       "the %s trace has %u layers x %u units, the replay "
                       "%u x %u; profile on a trace of the same model",
                       ctx->profile ? "profile" : "replayed", prof->n_layers,
                       prof->units_per_layer, ctx->n_layers, ctx->units);
    uint64_t def_prefix = prof->n_tokens;
    if (!ctx->profile) {
        def_prefix = prof->n_tokens / 10;
        if (def_prefix == 0)
            def_prefix = prof->n_tokens ? 1 : 0;
    }
    int rc = lf_pol_capacity(ctx, kv, &cap, err);
    if (rc == LF_OK)
        rc = lf_kv_u64(kv, "prefix", def_prefix, &prefix, err);
    if (rc)
        return rc;
    uint32_t biggest = lf_pol_max_want(ctx);
    uint64_t def_n = cap > biggest ? cap - biggest : 0;
    if ((rc = lf_kv_u64(kv, "n", def_n, &n, err)) != LF_OK)
        return rc;
    if (prefix > prof->n_tokens)
        return lf_fail(err, LF_EINVAL, "prefix = %llu but the %s trace has %u tokens",
                       (unsigned long long)prefix, ctx->profile ? "profile" : "replayed",
                       prof->n_tokens);
    if (n > cap)
        return lf_fail(err, LF_EINVAL,
                       "n = %llu pinned units exceed the cache of %llu units per "
                       "layer; lower n or raise the DRAM budget",
                       (unsigned long long)n, (unsigned long long)cap);
    s->cap = cap;
    s->n = (uint32_t)n;
    s->pinned = malloc(((size_t)ctx->n_layers * n + 1) * sizeof *s->pinned);
    s->res = calloc((size_t)ctx->n_layers * ctx->units, 1);
    s->trans = malloc((2 * (size_t)ctx->n_layers * cap + 1) * sizeof *s->trans);
    s->n_trans = calloc(2 * (size_t)ctx->n_layers, sizeof *s->n_trans);
    s->started = calloc(ctx->n_layers, 1);
    if (!s->pinned || !s->res || !s->trans || !s->n_trans || !s->started)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    if ((rc = pick_pinned(s, p, prof, (uint32_t)prefix, err)))
        return rc;
    p->fit = cap;
    p->max_resident = cap;
    return LF_OK;
}

const lf_policy_desc lf_pol_hot = {
    .name = "hot",
    .help = "pins the n units a profile wanted most; other wanted units are transient",
    .keys = (const lf_policy_key[]){{"n", "units pinned per layer (default: capacity minus "
                                          "the largest wanted set)"},
                                    {"prefix", "profile tokens counted (default: all of a "
                                               "profile trace, 10% of the replayed one)"},
                                    LF_POL_KEY_CAPACITY,
                                    {NULL, NULL}},
    .state_size = sizeof(hot_state),
    .create = hot_create,
    .step = hot_step,
    .destroy = hot_destroy,
    .layers_independent = 1,
    .reads_trace = 1,
};
