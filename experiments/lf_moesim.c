/* Flash-MoE scenario pricing through the one replay loop (sim/lf_replay): the scenario's
 * expert records are a layout of whole records of the expert's bytes, and the pricing is
 * a backend. Per token and layer the pagecache policy says how many
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

#include "lf_layout.h"
#include "lf_policy.h"
#include "lf_replay.h"

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

static double bytes_of(uint64_t n, double each)
{
    return llround((double)n * each);
}

/* The replay needs a model and a layout of the trace's shape: a record is the expert's
 * bytes (fractional bits per weight need nothing special), one record per expert. */
static int shape(const lf_trace *t, const lf_model *m, double expert_bytes, lf_model *mm,
                 lf_layout *L, lf_err *err)
{
    memset(mm, 0, sizeof *mm);
    if (m)
        *mm = *m;
    snprintf(mm->name, sizeof mm->name, "%s", t->model);
    mm->kind = LF_UNITS_EXPERTS;
    mm->act = LF_ACT_SWIGLU;
    mm->n_layers = t->n_layers;
    mm->n_experts = t->units_per_layer;
    mm->top_k = t->top_k;
    if (!mm->d_model)
        mm->d_model = t->d_model ? t->d_model : 1;
    if (!mm->d_ff)
        mm->d_ff = 1;
    uint64_t rec = (uint64_t)llround(expert_bytes);
    uint64_t vb = rec / 3 ? rec / 3 : 1; /* gate, up, down */
    int rc = lf_layout_init_bytes(L, LF_LAYOUT_BUNDLED, mm, vb, 1, 0, err);
    if (rc == LF_OK)
        L->record_bytes = rec ? rec : 3; /* the whole record, remainder included */
    return rc;
}

static int replay(const lf_trace *t, const lf_model *m, double expert_bytes, lf_policy *p,
                  uint32_t threads, lf_backend *b, lf_err *err)
{
    lf_model mm;
    lf_layout L;
    int rc = shape(t, m, expert_bytes, &mm, &L, err);
    if (rc)
        return rc;
    lf_token_row *rows = calloc(t->n_tokens, sizeof *rows);
    if (!rows)
        return lf_fail(err, LF_ENOMEM, "moe: out of memory");
    lf_replay_cfg c;
    memset(&c, 0, sizeof c);
    c.trace = t;
    c.model = &mm;
    c.policy = p;
    c.layout = &L;
    c.reader = (lf_reader_cfg){0, 0, threads ? threads : 1};
    c.dram = LF_DRAM_PREALLOC;
    c.quiet = 1;
    rc = lf_replay(&c, b, rows, err);
    free(rows);
    lf_layout_free(&L);
    return rc;
}

/* ---- scenario pricing: a backend of the replay loop ---- */

typedef struct {
    const lf_moesim_cfg *c;
    lf_policy *p;
    double t_c;
    double sum_flash, sum_pc, sum_pf, sum_c, flash_bytes;
    uint64_t app, pch, fl, guesses, right, prev[7];
} price_state;

static int price_layer(lf_backend *b, const lf_step *st, lf_times *out, lf_err *err)
{
    price_state *s = b->state;
    const lf_moesim_cfg *c = s->c;
    memset(out, 0, sizeof *out);
    step_counts x;
    last_step(s->p, s->prev, &x);
    int rc = lf_pagecache_check(c->dev, x.pc_hits + x.pf_pc, err);
    if (rc)
        return rc;
    if (st->token < c->warmup)
        return LF_OK;
    double eb = c->expert_bytes;
    double t_flash = lf_flash_time(c->dev, x.flash_reads * c->split,
                                   bytes_of(x.flash_reads, eb), c->threads);
    double t_pc = lf_pagecache_time(c->dev, x.pc_hits, bytes_of(x.pc_hits, eb));
    double t_pf = lf_flash_time(c->dev, x.pf_flash * c->split, bytes_of(x.pf_flash, eb),
                                c->threads) +
                  lf_pagecache_time(c->dev, x.pf_pc, bytes_of(x.pf_pc, eb));
    s->sum_flash += t_flash;
    s->sum_pc += t_pc;
    s->sum_pf += t_pf > s->t_c ? t_pf - s->t_c : 0;
    s->sum_c += s->t_c;
    s->flash_bytes += bytes_of(x.flash_reads + x.pf_flash, eb);
    s->app += x.app_hits;
    s->pch += x.pc_hits;
    s->fl += x.flash_reads;
    s->guesses += x.pf_guesses;
    s->right += x.pf_right;
    out->io_s = t_flash + t_pc + (t_pf > s->t_c ? t_pf - s->t_c : 0);
    out->compute_s = s->t_c;
    return LF_OK;
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
    lf_policy_ctx ctx = {.n_layers = t->n_layers,
                         .units = t->units_per_layer,
                         .capacity = (uint64_t)c->app_per_layer + c->pc_per_layer,
                         .trace = t,
                         .seed = c->seed,
                         .max_want = lf_trace_max_set(t, 0)};
    lf_policy *p;
    if ((rc = lf_policy_create(spec, &ctx, &p, err)))
        return rc;
    const lf_model *m = c->model;
    double L = t->n_layers, k = t->top_k;
    double t_c = c->compute_s_per_layer;
    if (!(t_c > 0)) {
        double flops = c->resident_flops / L + 2.0 * k * 3.0 * m->d_model * (double)m->d_ff;
        double bytes = c->resident_bytes / L + k * c->expert_bytes;
        t_c = lf_compute_time(c->dev, flops, bytes);
    }
    price_state s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.p = p;
    s.t_c = t_c;
    lf_backend b = {&s, price_layer, NULL, 0, 0};
    rc = replay(t, m, c->expert_bytes, p, c->threads, &b, err);
    if (rc == LF_OK) {
        double T = t->n_tokens - c->warmup, total = s.sum_flash + s.sum_pc + s.sum_pf + s.sum_c;
        double routed = (double)(s.app + s.pch + s.fl);
        out->tokens = (uint32_t)T;
        out->ms_token = 1e3 * total / T;
        out->tok_s = total > 0 ? T / total : INFINITY;
        out->flash_ms = 1e3 * s.sum_flash / T;
        out->pc_ms = 1e3 * s.sum_pc / T;
        out->prefetch_ms = 1e3 * s.sum_pf / T;
        out->compute_ms = 1e3 * s.sum_c / T;
        out->app_hit = routed > 0 ? s.app / routed : 0;
        out->pc_hit = routed > 0 ? s.pch / routed : 0;
        out->flash_share = routed > 0 ? s.fl / routed : 0;
        out->flash_mb = s.flash_bytes / T / 1e6;
        out->pf_right = s.guesses ? (double)s.right / (double)s.guesses : NAN;
    }
    lf_policy_free(p);
    return rc;
}

/* ---- hit rates: a counting backend ---- */

typedef struct {
    lf_policy *p;
    int two_level;
    uint64_t hits, routed, prev[7];
} count_state;

static int count_layer(lf_backend *b, const lf_step *st, lf_times *out, lf_err *err)
{
    count_state *s = b->state;
    memset(out, 0, sizeof *out);
    (void)err;
    if (s->two_level) {
        step_counts x;
        last_step(s->p, s->prev, &x);
        s->hits += x.app_hits + x.pc_hits;
    } else {
        s->hits += st->plan->n_hit;
    }
    s->routed += st->n_need;
    return LF_OK;
}

int lf_moesim_hit_rate(const lf_trace *t, const char *spec, uint64_t cap, uint64_t seed,
                       double *rate, lf_err *err)
{
    int rc = check_trace(t, err);
    if (rc)
        return rc;
    lf_policy_ctx ctx = {.n_layers = t->n_layers,
                         .units = t->units_per_layer,
                         .capacity = cap,
                         .trace = t,
                         .seed = seed,
                         .max_want = lf_trace_max_set(t, 0)};
    lf_policy *p;
    if ((rc = lf_policy_create(spec, &ctx, &p, err)))
        return rc;
    count_state s = {p, lf_policy_counter_index(p, "pagecache_hits") >= 0, 0, 0, {0}};
    lf_backend b = {&s, count_layer, NULL, 0, 0};
    rc = replay(t, NULL, 3, p, 1, &b, err);
    if (rc)
        lf_err_prefix(err, "policy %s, capacity %llu", spec, (unsigned long long)cap);
    else
        *rate = s.routed ? (double)s.hits / (double)s.routed : NAN;
    lf_policy_free(p);
    return rc;
}
