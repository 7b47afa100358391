/* Flash-MoE scenario pricing. Per token and layer the pagecache policy says how many
 * routed experts the application cache held, how many the OS page cache served and how
 * many were read from flash (and the same for the prefetch guesses); a layer then costs
 *   flash(n_flash reads) + pagecache(n_pc hits) + max(0, prefetch_io - compute) + compute
 * with the device's cost functions. Compute is the roofline of the layer's share of
 * the non-expert weights plus its routed experts, or a given time per layer. */
#include "lf_moesim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_policy.h"

/* The last step's share of the pagecache policy's counters (all 0 for a policy
 * without them); prev holds the totals before the step and is advanced. */
typedef struct {
    uint64_t app_hits, pc_hits, flash_reads, pf_guesses, pf_right, pf_pc, pf_flash;
} step_counts;

static void last_step(const lf_policy *p, uint64_t prev[7], step_counts *x)
{
    static const char *const names[7] = {"app_hits",         "pagecache_hits", "flash_reads",
                                         "prefetch_guesses", "prefetch_right",
                                         "prefetch_pagecache", "prefetch_flash"};
    uint64_t v[LF_POLICY_MAX_COUNTERS], d[7];
    lf_policy_counters(p, NULL, v);
    for (int i = 0; i < 7; i++) {
        int k = lf_policy_counter_index(p, names[i]);
        uint64_t cur = k >= 0 ? v[k] : 0;
        d[i] = cur - prev[i];
        prev[i] = cur;
    }
    *x = (step_counts){d[0], d[1], d[2], d[3], d[4], d[5], d[6]};
}

static int check_trace(const lf_trace *t, lf_err *err)
{
    if (t->kind != LF_UNITS_EXPERTS || t->top_k == 0 || t->n_tokens == 0)
        return lf_fail(err, LF_EINVAL,
                       "moe: the trace must be a non-empty expert trace (kind experts, top_k > 0)");
    return LF_OK;
}

/* One policy step for (layer, token) of t into plan (arrays ev, ld); *n = routed. */
static int step(lf_policy *p, const lf_trace *t, uint32_t l, uint32_t tok, uint32_t *ev,
                uint32_t *ld, lf_plan *plan, uint32_t *n, lf_err *err)
{
    const uint32_t *want = lf_trace_ids(t, l, tok, n);
    memset(plan, 0, sizeof *plan);
    plan->evict = ev;
    plan->load = ld;
    return lf_policy_step(p, l, tok, want, *n, plan, err);
}

static double bytes_of(uint64_t n, double each)
{
    return llround((double)n * each);
}

int lf_moesim_run(const lf_moesim_cfg *c, const lf_trace *t, lf_moesim_result *out, lf_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_trace(t, err);
    if (rc)
        return rc;
    if (!(c->expert_bytes > 0) || c->threads == 0 || c->split == 0 || c->warmup >= t->n_tokens)
        return lf_fail(err, LF_EINVAL,
                       "moe: expert bytes (%g) must be > 0, threads (%u) and split (%u) >= 1, "
                       "warm-up tokens (%u) fewer than the trace's %u",
                       c->expert_bytes, c->threads, c->split, c->warmup, t->n_tokens);
    char spec[256];
    snprintf(spec, sizeof spec, "pagecache:dram=%u,pc=%u,scope=%s,prefetch=%u,acc=%.17g,seed=%llu",
             c->app_per_layer, c->pc_per_layer, c->pc_global ? "global" : "layer", c->prefetch,
             c->acc, (unsigned long long)c->seed);
    lf_policy_ctx ctx = {t->n_layers, t->units_per_layer,
                         (uint64_t)c->app_per_layer + c->pc_per_layer, t, NULL, c->seed,
                         lf_trace_max_set(t, 0)};
    lf_policy *p;
    if ((rc = lf_policy_create(spec, &ctx, &p, err)))
        return rc;
    uint32_t *ev = malloc(t->units_per_layer * sizeof *ev);
    uint32_t *ld = malloc(t->units_per_layer * sizeof *ld);
    if (!ev || !ld) {
        rc = lf_fail(err, LF_ENOMEM, "moe: out of memory");
        goto done;
    }
    const lf_model *m = c->model;
    double L = t->n_layers, k = t->top_k;
    double t_c = c->compute_s_per_layer;
    if (!(t_c > 0)) {
        double flops = c->resident_flops / L + 2.0 * k * 3.0 * m->d_model * (double)m->d_ff;
        double bytes = c->resident_bytes / L + k * c->expert_bytes;
        t_c = lf_compute_time(c->dev, flops, bytes);
    }
    double sum_flash = 0, sum_pc = 0, sum_pf = 0, sum_c = 0, flash_bytes = 0;
    uint64_t app = 0, pch = 0, fl = 0, guesses = 0, right = 0, prev[7] = {0};
    for (uint32_t tok = 0; tok < t->n_tokens && rc == LF_OK; tok++) {
        int counted = tok >= c->warmup;
        for (uint32_t l = 0; l < t->n_layers && rc == LF_OK; l++) {
            uint32_t n;
            lf_plan plan;
            step_counts x;
            rc = step(p, t, l, tok, ev, ld, &plan, &n, err);
            if (rc == LF_OK)
                last_step(p, prev, &x);
            if (rc || !counted)
                continue;
            double eb = c->expert_bytes;
            double t_flash = lf_flash_time(c->dev, x.flash_reads * c->split,
                                           bytes_of(x.flash_reads, eb), c->threads);
            double t_pc = lf_pagecache_time(c->dev, x.pc_hits, bytes_of(x.pc_hits, eb));
            double t_pf = lf_flash_time(c->dev, x.pf_flash * c->split, bytes_of(x.pf_flash, eb),
                                        c->threads) +
                          lf_pagecache_time(c->dev, x.pf_pc, bytes_of(x.pf_pc, eb));
            sum_flash += t_flash;
            sum_pc += t_pc;
            sum_pf += t_pf > t_c ? t_pf - t_c : 0;
            sum_c += t_c;
            flash_bytes += bytes_of(x.flash_reads + x.pf_flash, eb);
            app += x.app_hits;
            pch += x.pc_hits;
            fl += x.flash_reads;
            guesses += x.pf_guesses;
            right += x.pf_right;
        }
    }
    if (rc == LF_OK) {
        double T = t->n_tokens - c->warmup, total = sum_flash + sum_pc + sum_pf + sum_c;
        double routed = (double)(app + pch + fl);
        out->tokens = (uint32_t)T;
        out->ms_token = 1e3 * total / T;
        out->tok_s = total > 0 ? T / total : INFINITY;
        out->flash_ms = 1e3 * sum_flash / T;
        out->pc_ms = 1e3 * sum_pc / T;
        out->prefetch_ms = 1e3 * sum_pf / T;
        out->compute_ms = 1e3 * sum_c / T;
        out->app_hit = routed > 0 ? app / routed : 0;
        out->pc_hit = routed > 0 ? pch / routed : 0;
        out->flash_share = routed > 0 ? fl / routed : 0;
        out->flash_mb = flash_bytes / T / 1e6;
        out->pf_right = guesses ? (double)right / (double)guesses : NAN;
    }
done:
    free(ev);
    free(ld);
    lf_policy_free(p);
    return rc;
}

int lf_moesim_hit_rate(const lf_trace *t, const char *spec, uint64_t cap, uint64_t seed,
                       double *rate, lf_err *err)
{
    int rc = check_trace(t, err);
    if (rc)
        return rc;
    lf_policy_ctx ctx = {t->n_layers, t->units_per_layer, cap, t, NULL, seed,
                         lf_trace_max_set(t, 0)};
    lf_policy *p;
    if ((rc = lf_policy_create(spec, &ctx, &p, err)))
        return rc;
    uint32_t *ev = malloc(t->units_per_layer * sizeof *ev);
    uint32_t *ld = malloc(t->units_per_layer * sizeof *ld);
    uint64_t hits = 0, routed = 0, prev[7] = {0};
    step_counts x;
    int two_level = lf_policy_counter_index(p, "pagecache_hits") >= 0;
    if (!ev || !ld)
        rc = lf_fail(err, LF_ENOMEM, "moe: out of memory");
    for (uint32_t tok = 0; tok < t->n_tokens && rc == LF_OK; tok++) {
        for (uint32_t l = 0; l < t->n_layers && rc == LF_OK; l++) {
            uint32_t n;
            lf_plan plan;
            rc = step(p, t, l, tok, ev, ld, &plan, &n, err);
            if (rc == LF_OK && two_level) {
                last_step(p, prev, &x);
                hits += x.app_hits + x.pc_hits;
            } else {
                hits += plan.n_hit;
            }
            routed += n;
        }
    }
    if (rc)
        lf_err_prefix(err, "policy %s, capacity %llu", spec, (unsigned long long)cap);
    else
        *rate = routed ? (double)hits / (double)routed : NAN;
    free(ev);
    free(ld);
    lf_policy_free(p);
    return rc;
}
