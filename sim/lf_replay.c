/* The replay loop (need -> want -> plan -> DRAM manager -> extents -> reads -> backend). */
#include "lf_replay.h"

#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_time.h"

typedef struct {
    lf_bigmem_arena *arena; /* the slots' arrays, the step buffers and the times */
    lf_slots *slots;        /* n_layers */
    uint32_t *need;         /* a token's ids when the trace holds them 16-bit (units) */
    uint32_t *evict, *load, *flash;
    lf_move *moves;
    lf_times *tm; /* n_layers x the tokens the backend prices at once */
    lf_extent_vec ext;
    lf_read_vec reads;
} workspace;

/* n bytes that live as long as the replay: in its arena when it has one (huge pages:
 * the per-token times alone are 0.75 MB for 32 layers, 192 faults of 4 KiB pages),
 * else malloc'ed. */
static void *ws_alloc(workspace *w, size_t n)
{
    return w->arena ? lf_bigmem_arena_alloc(w->arena, n) : malloc(n);
}

static void ws_free(workspace *w, uint32_t n_layers)
{
    if (w->slots)
        for (uint32_t l = 0; l < n_layers; l++)
            lf_slots_free(&w->slots[l]);
    free(w->slots);
    if (!w->arena) {
        free(w->need);
        free(w->evict);
        free(w->load);
        free(w->flash);
        free(w->moves);
        free(w->tm);
    }
    lf_bigmem_arena_free(w->arena);
    lf_extent_vec_free(&w->ext);
    lf_read_vec_free(&w->reads);
}

static int check_cfg(const lf_replay_cfg *c, const lf_backend *b, lf_err *err)
{
    if (!c->trace || !c->model || (!c->policy && !c->play) || !c->layout || !b || !b->layer)
        return lf_fail(err, LF_EINVAL, "replay: trace, model, policy, layout and backend are required");
    if (c->play && (c->record || !b->any_order || !b->counts_only))
        return lf_fail(err, LF_EINVAL, "replay: recorded plans are replayed only by a backend "
                       "that keeps no state and reads only counts, without recording");
    const lf_trace *t = c->trace;
    if (t->n_layers != c->model->n_layers || t->units_per_layer != lf_model_units(c->model))
        return lf_fail(err, LF_EINVAL,
                       "replay: the trace (%u layers x %u units, model '%s') does not match the "
                       "model '%s' (%u layers x %u units); pass the trace's model",
                       t->n_layers, t->units_per_layer, t->model, c->model->name,
                       c->model->n_layers, lf_model_units(c->model));
    if (c->layout->n_layers != t->n_layers || c->layout->units != t->units_per_layer)
        return lf_fail(err, LF_EINVAL, "replay: the layout's shape (%u x %u) differs from the trace's",
                       c->layout->n_layers, c->layout->units);
    if (c->n_tokens > t->n_tokens)
        return lf_fail(err, LF_EINVAL, "replay: %u tokens asked but the trace holds %u", c->n_tokens,
                       t->n_tokens);
    if (t->n_tokens == 0)
        return lf_fail(err, LF_EINVAL, "replay: the trace holds no tokens");
    if (c->dtype_bytes == 0 && c->layout->dtype_bytes != 0)
        return lf_fail(err, LF_EINVAL, "replay: dtype_bytes must be positive");
    return LF_OK;
}

/* Every wanted unit must be resident after the policy's step, and the policy's count
 * must match the DRAM manager's (the caller adds the policy, layer and token). */
static int check_step(const lf_slots *s, const lf_plan *plan, const uint32_t *want,
                      uint32_t n_want, lf_err *err)
{
    if (plan->n_resident != s->num_used)
        return lf_fail(err, LF_EINVAL,
                       "reports %u resident units but the DRAM manager holds %u (policy bug)",
                       plan->n_resident, s->num_used);
    int all = 1; /* one pass without an exit branch; the loop below names the unit */
    for (uint32_t i = 0; i < n_want; i++)
        all &= lf_slots_has(s, want[i]);
    for (uint32_t i = 0; !all && i < n_want; i++)
        if (!lf_slots_has(s, want[i]))
            return lf_fail(err, LF_EINVAL,
                           "wanted unit %u is not resident after the step (policy bug)", want[i]);
    return LF_OK;
}

/* flash = load \ pagecache (both sorted; lf_policy_step checked pagecache is a subset). */
static uint32_t split_pagecache(const lf_plan *plan, uint32_t *flash)
{
    uint32_t j = 0, n = 0;
    for (uint32_t i = 0; i < plan->n_load; i++) {
        if (j < plan->n_pagecache && plan->pagecache[j] == plan->load[i])
            j++;
        else
            flash[n++] = plan->load[i];
    }
    return n;
}

uint64_t lf_replay_dram_row_bytes(const lf_layout *l)
{
    uint64_t bytes = l->kind == LF_LAYOUT_BUNDLED ? l->record_bytes
                     : l->kind == LF_LAYOUT_SPLIT ? (uint64_t)l->vectors * l->record_bytes
                                                  : (uint64_t)l->vectors * l->vector_bytes;
    uint64_t a = l->alignment ? l->alignment : 1;
    return (bytes + a - 1) / a * a;
}

int lf_replay_dram_row_gapped(const lf_layout *l, uint64_t row_bytes)
{
    uint64_t row = row_bytes ? row_bytes : lf_replay_dram_row_bytes(l);
    return row > (uint64_t)l->vectors * l->vector_bytes;
}

/* What every step of one replay shares. */
typedef struct {
    const lf_replay_cfg *c;
    lf_backend *b;
    workspace w;
    uint64_t row_bytes, move_bytes;
    int experts;
    size_t n_counters;             /* the policy's counters */
    const lf_policy_counter *counter;
    uint64_t before[LF_POLICY_MAX_COUNTERS];
    const char *policy_name;
    int recording;                               /* c->record, until it has no more room */
    uint64_t rec_before[LF_POLICY_MAX_COUNTERS]; /* recording: the counters before the step */
} replay;

/* Records a step's decisions with the growth of the policy's counters over the step.
 * Keeping plans is an optimisation: when they outgrow their room, recording stops (the
 * plans stay incomplete, so nobody replays them) and the run goes on. */
static void record_step(replay *R, uint32_t l, uint32_t tok, const lf_plan *plan,
                        const lf_step *st, uint32_t n_moves, uint32_t kept, uint32_t used)
{
    uint64_t now[LF_POLICY_MAX_COUNTERS], grew[LF_POLICY_MAX_COUNTERS];
    if (R->n_counters)
        lf_policy_counters(R->c->policy, NULL, now);
    for (size_t i = 0; i < R->n_counters; i++) {
        grew[i] = now[i] - R->rec_before[i];
        R->rec_before[i] = now[i];
    }
    lf_plans_outcome o = {st->n_want, st->false_pos, st->false_neg, n_moves, kept, used};
    lf_err ignored;
    if (lf_plans_put(R->c->record, l, tok, plan, &o, grew, &ignored) != LF_OK)
        R->recording = 0;
}

/* One token-layer step: need -> want -> plan -> DRAM manager -> extents -> reads ->
 * backend. Adds the step's counts to r (integers: any order gives the same sums) and
 * returns its times in tm (the caller sums them in layer order). */
static int replay_step(replay *R, uint32_t l, uint32_t tok, lf_token_row *r, lf_times *tm,
                       lf_err *err)
{
    const lf_replay_cfg *c = R->c;
    workspace *w = &R->w;
    lf_slots *s = &w->slots[l];
    lf_step st;
    memset(&st, 0, sizeof st);
    st.token = tok;
    st.layer = l;
    st.dram = c->dram;
    st.need = lf_trace_ids_to(c->trace, l, tok, 0, w->need, &st.n_need);
    int rc;
    lf_plan plan = {w->evict, 0, w->load, 0, 0, 0, NULL, 0, NULL};
    uint32_t n_moves = 0, kept = 0, used = 0; /* rows after the evictions, after the loads */
    if (c->play) {
        /* the DRAM manager's outcome was recorded too: played steps skip it (the
         * backend is any_order: it reads neither the moves nor the slots) */
        lf_plans_step ps;
        if ((rc = lf_plans_get(c->play, l, tok, &ps, err)))
            return rc;
        plan = ps.plan;
        st.n_want = ps.n_want; /* st.want stays NULL: the ids were checked when recorded */
        st.false_pos = ps.false_pos;
        st.false_neg = ps.false_neg;
        n_moves = ps.n_moves;
        kept = ps.kept;
        used = ps.used;
        for (size_t i = 0; i < R->n_counters; i++)
            if (R->counter[i].kind == LF_COUNT_SUM)
                r->policy[i] += ps.counters[i];
    } else {
        if (c->predictor) {
            rc = lf_predictor_predict(c->predictor, l, tok, &st.want, &st.n_want,
                                      &st.false_pos, &st.false_neg, err);
            if (rc)
                return rc;
        } else {
            st.want = st.need;
            st.n_want = st.n_need;
        }
        /* the trace's own sets were checked when it was read or built */
        rc = c->predictor || c->check_sets
                 ? lf_policy_step(c->policy, l, tok, st.want, st.n_want, &plan, err)
                 : lf_policy_step_valid(c->policy, l, tok, st.want, st.n_want, &plan, err);
        if (rc)
            return rc;
        rc = lf_slots_evict(s, plan.evict, plan.n_evict, w->moves, &n_moves, err);
        kept = s->num_used;
        if (rc == LF_OK)
            rc = lf_slots_append(s, plan.load, plan.n_load, &st.first_new_row, err);
        if (rc == LF_OK)
            rc = check_step(s, &plan, st.want, st.n_want, err);
        if (rc) {
            lf_err_prefix(err, "policy '%s': layer %u token %u", R->policy_name, l, tok);
            return rc;
        }
        used = s->num_used;
        st.slots = s;
        if (R->recording)
            record_step(R, l, tok, &plan, &st, n_moves, kept, used);
    }
    st.first_new_row = kept;
    if (c->dram == LF_DRAM_PREALLOC) {
        st.moves = st.slots ? w->moves : NULL;
        st.n_moves = n_moves;
        st.bytes_copied = (uint64_t)n_moves * R->move_bytes;
        st.copy_ops = n_moves;
    } else {
        /* A fresh matrix: every row kept is copied into it, then loads appended. */
        st.bytes_copied = (uint64_t)kept * R->move_bytes;
        st.copy_ops = kept;
        st.allocs = ((uint64_t)kept + plan.n_load) > 0;
        st.alloc_bytes = ((uint64_t)kept + plan.n_load) * R->move_bytes;
    }
    st.plan = &plan;
    st.flash_load = plan.load;
    st.n_flash_load = plan.n_load;
    if (plan.n_pagecache) {
        st.n_flash_load = split_pagecache(&plan, w->flash);
        st.flash_load = w->flash;
        st.n_pagecache = plan.n_pagecache;
        st.pagecache_bytes = (uint64_t)plan.n_pagecache * R->row_bytes;
    }
    if (R->b->counts_only && c->layout->kind != LF_LAYOUT_COACT) {
        /* the same count and bytes, without the extent and read lists */
        rc = lf_reader_totals(&c->reader, c->layout, l, st.flash_load, st.n_flash_load,
                              &st.n_reads, &st.bytes_read, err);
        if (rc)
            return rc;
    } else {
        w->ext.n = 0;
        rc = lf_layout_extents(c->layout, l, st.flash_load, st.n_flash_load, &w->ext, err);
        if (rc == LF_OK)
            rc = lf_reader_plan(&c->reader, w->ext.v, w->ext.n, &w->reads, err);
        if (rc)
            return rc;
        st.extents = w->ext.v;
        st.n_extents = (uint32_t)w->ext.n;
        st.reads = w->reads.v;
        st.n_reads = (uint32_t)w->reads.n;
        for (size_t i = 0; i < w->reads.n; i++)
            st.bytes_read += w->reads.v[i].length;
    }
    st.n_compute_rows = R->experts ? st.n_want : used;
    *tm = (lf_times){0, 0, 0};
    rc = R->b->layer(R->b, &st, tm, err);
    if (rc) {
        lf_err_prefix(err, "backend: layer %u token %u", l, tok);
        return rc;
    }
    r->bytes_read += st.bytes_read;
    r->reads += st.n_reads;
    r->loads += plan.n_load;
    r->evictions += plan.n_evict;
    r->hits += plan.n_hit;
    r->misses += st.n_want - (plan.n_hit < st.n_want ? plan.n_hit : st.n_want);
    r->false_pos += st.false_pos;
    r->false_neg += st.false_neg;
    r->resident_units += used;
    r->bytes_copied += st.bytes_copied;
    r->copy_ops += st.copy_ops;
    return LF_OK;
}

/* Adds the policy's counters' growth since the last call to r (minimum counters: none). */
static void take_counters(replay *R, lf_token_row *r)
{
    if (!R->n_counters || R->c->play) /* played steps add their recorded growth */
        return;
    uint64_t now[LF_POLICY_MAX_COUNTERS];
    lf_policy_counters(R->c->policy, NULL, now);
    for (size_t i = 0; i < R->n_counters; i++) {
        if (R->counter[i].kind == LF_COUNT_SUM)
            r->policy[i] += now[i] - R->before[i];
        R->before[i] = now[i];
    }
}

/* A token's end: its layers' times (tm[0..n_layers), summed in layer order so either
 * replay order gives the same bits), the backend's per-token work, the totals in ms. */
static int finish_token(replay *R, uint32_t tok, const lf_times *tm, lf_token_row *r,
                        lf_err *err)
{
    lf_times sum = {0, 0, 0};
    for (uint32_t l = 0; l < R->c->trace->n_layers; l++) {
        sum.io_s += tm[l].io_s;
        sum.mem_s += tm[l].mem_s;
        sum.compute_s += tm[l].compute_s;
    }
    double end_compute_s = 0;
    if (R->b->token_end) {
        lf_times end = {0, 0, 0};
        int rc = R->b->token_end(R->b, tok, &end, err);
        if (rc) {
            lf_err_prefix(err, "backend: token %u", tok);
            return rc;
        }
        sum.io_s += end.io_s;
        sum.mem_s += end.mem_s;
        sum.compute_s += end.compute_s;
        end_compute_s = end.compute_s;
    }
    r->resident_bytes = r->resident_units * R->row_bytes;
    r->io_ms = sum.io_s * 1e3;
    r->mem_ms = sum.mem_s * 1e3;
    r->compute_ms = sum.compute_s * 1e3;
    r->end_compute_ms = end_compute_s * 1e3;
    r->total_ms = r->io_ms + r->mem_ms + r->compute_ms;
    return LF_OK;
}

static void start_row(lf_token_row *r, uint32_t tok)
{
    memset(r, 0, sizeof *r);
    r->token = tok;
}

/* Tokens in the order a model runs them: every layer of token t before token t + 1. */
static int replay_by_token(replay *R, uint32_t n_tok, lf_token_row *rows, lf_times *tm,
                           lf_progress *prog, lf_err *err)
{
    uint32_t n_layers = R->c->trace->n_layers;
    for (uint32_t tok = 0; tok < n_tok; tok++) {
        start_row(&rows[tok], tok);
        for (uint32_t l = 0; l < n_layers; l++) {
            /* a deferred trace (lf_trace_stage) reads one step's ids at a time here */
            int rc = lf_trace_stage(R->c->trace, l, tok, tok + 1, err);
            if (!rc)
                rc = replay_step(R, l, tok, &rows[tok], &tm[l], err);
            if (rc)
                return rc;
        }
        take_counters(R, &rows[tok]);
        int rc = finish_token(R, tok, tm, &rows[tok], err);
        if (rc)
            return rc;
        if (prog)
            lf_progress_update(prog, tok + 1);
    }
    return LF_OK;
}

/* Layer by layer over blocks of LF_REPLAY_BLOCK tokens: one layer's policy and DRAM
 * manager state stays in the CPU cache for a whole block (token by token, every layer's
 * state is evicted by the 31 others before it is used again: 2-3x slower on opt-6.7b).
 * Each return to a layer fetches its state again, so the block is long: on the 1000-token
 * opt-6.7b trace, blocks of 1024 rather than 128 replayed lru, lfu and belady 15-18%
 * faster (interleaved medians of 7; 16 tokens was 1.7x slower than 128). Its cost is
 * tm's n_layers x LF_REPLAY_BLOCK times (2 MB for 80 layers).
 * Only when the policy's layers are independent and the backend keeps no state between
 * steps, so each step sees exactly what it sees token by token. */
#define LF_REPLAY_BLOCK 1024u
/* A deferred trace (lf_trace_stage) brings a layer's ids in 64 tokens at a time: about
 * 60 KiB on opt-6.7b, still in cache when the steps read them. Whole `sim` of the
 * 1000-token opt-6.7b trace, CPU medians of 9 interleaved: lru 0.095 s with the ids in
 * memory, 0.087 / 0.084 / 0.089 s staged 16 / 64 / 256 tokens at a time (window:k=4
 * 0.104, 0.100 / 0.094 / 0.098). */
#define LF_REPLAY_STAGE 64u
/* Layer l's steps of tokens [s0, s1) of the block that starts at t0, their ids staged
 * first (lf_trace_stage: a no-op unless the trace is deferred). */
static int replay_span(replay *R, uint32_t l, uint32_t t0, uint32_t s0, uint32_t s1,
                       lf_token_row *rows, lf_times *tm, lf_err *err)
{
    uint32_t n_layers = R->c->trace->n_layers;
    int rc = lf_trace_stage(R->c->trace, l, s0, s1, err);
    for (uint32_t tok = s0; tok < s1 && rc == LF_OK; tok++) {
        rc = replay_step(R, l, tok, &rows[tok], &tm[(size_t)(tok - t0) * n_layers + l], err);
        if (rc == LF_OK)
            take_counters(R, &rows[tok]);
    }
    return rc;
}

static int replay_by_layer(replay *R, uint32_t n_tok, lf_token_row *rows, lf_times *tm,
                           lf_progress *prog, lf_err *err)
{
    uint32_t n_layers = R->c->trace->n_layers;
    for (uint32_t t0 = 0; t0 < n_tok; t0 += LF_REPLAY_BLOCK) {
        uint32_t t1 = n_tok - t0 < LF_REPLAY_BLOCK ? n_tok : t0 + LF_REPLAY_BLOCK;
        for (uint32_t tok = t0; tok < t1; tok++)
            start_row(&rows[tok], tok);
        for (uint32_t l = 0; l < n_layers; l++)
            for (uint32_t s0 = t0; s0 < t1; s0 += LF_REPLAY_STAGE) {
                uint32_t s1 = t1 - s0 < LF_REPLAY_STAGE ? t1 : s0 + LF_REPLAY_STAGE;
                int rc = replay_span(R, l, t0, s0, s1, rows, tm, err);
                if (rc)
                    return rc;
            }
        for (uint32_t tok = t0; tok < t1; tok++) {
            int rc = finish_token(R, tok, &tm[(size_t)(tok - t0) * n_layers], &rows[tok], err);
            if (rc)
                return rc;
        }
        if (prog)
            lf_progress_update(prog, t1);
    }
    return LF_OK;
}

int lf_replay(const lf_replay_cfg *c, lf_backend *b, lf_token_row *rows, lf_err *err)
{
    int rc = check_cfg(c, b, err);
    if (rc)
        return rc;
    const lf_trace *t = c->trace;
    uint32_t n_layers = t->n_layers, units = t->units_per_layer;
    uint32_t n_tok = c->n_tokens ? c->n_tokens : t->n_tokens;
    const lf_plans_policy *played = c->play ? lf_plans_policy_of(c->play) : NULL;
    uint64_t max_resident = played ? played->max_resident : c->policy->max_resident;
    uint64_t cap = max_resident ? max_resident : (c->capacity ? c->capacity : units);
    if (cap > units)
        cap = units;
    replay R;
    memset(&R, 0, sizeof R);
    R.c = c;
    R.b = b;
    R.row_bytes = c->layout->dtype_bytes == 0 ? c->layout->vectors * c->layout->vector_bytes
                                              : lf_model_unit_bytes(c->model, c->dtype_bytes);
    R.move_bytes = c->dram_row_bytes ? c->dram_row_bytes : lf_replay_dram_row_bytes(c->layout);
    R.experts = c->model->kind == LF_UNITS_EXPERTS;
    if (played) {
        R.policy_name = played->name;
        R.counter = played->counts.names;
        R.n_counters = played->counts.n;
    } else {
        R.policy_name = c->policy->name;
        R.n_counters = lf_policy_counters(c->policy, &R.counter, R.before);
        memcpy(R.rec_before, R.before, sizeof R.before);
        R.recording = c->record != NULL;
    }
    /* played decisions are per (layer, token): any order replays them */
    int by_layer = !c->token_major && b->any_order &&
                   (played || c->policy->desc->layers_independent);
    size_t n_tm = (size_t)n_layers * (by_layer ? LF_REPLAY_BLOCK : 1);

    workspace *w = &R.w;
    w->slots = calloc(n_layers, sizeof *w->slots);
    /* the DRAM manager's arrays of every layer, the step buffers and the times in a few
     * huge pages, when the arrays fill one: a small run stays in 4 KiB pages (a memory
     * cgroup's limit, lf_cgroup.h, leaves a measured run 2 MiB to grow between fits) */
    int in_arena = !c->play && n_layers * lf_slots_bytes(units, (uint32_t)cap) >=
                                   LF_BIGMEM_HUGE / 2;
    w->arena = in_arena ? lf_bigmem_arena_new() : NULL;
    w->need = ws_alloc(w, (size_t)units * sizeof *w->need);
    w->evict = ws_alloc(w, (size_t)units * sizeof *w->evict);
    w->load = ws_alloc(w, (size_t)units * sizeof *w->load);
    w->flash = ws_alloc(w, (size_t)units * sizeof *w->flash);
    w->moves = ws_alloc(w, (size_t)units * sizeof *w->moves);
    w->tm = ws_alloc(w, n_tm * sizeof *w->tm);
    if (!w->slots || (in_arena && !w->arena) || !w->need || !w->evict || !w->load || !w->flash ||
        !w->moves || !w->tm) {
        ws_free(w, 0);
        return lf_fail(err, LF_ENOMEM, "replay: out of memory");
    }
    /* played steps carry the DRAM manager's outcome: no manager to keep */
    for (uint32_t l = 0; l < n_layers && rc == LF_OK && !c->play; l++)
        rc = lf_slots_init_in(&w->slots[l], units, (uint32_t)cap, w->arena, err);

    lf_progress prog;
    if (!c->quiet)
        lf_progress_start(&prog, "replay (tokens)", n_tok);
    if (rc == LF_OK)
        rc = (by_layer ? replay_by_layer : replay_by_token)(&R, n_tok, rows, w->tm,
                                                            c->quiet ? NULL : &prog, err);
    if (!c->quiet)
        lf_progress_end(&prog);
    ws_free(w, n_layers);
    return rc;
}

int lf_scope_parse(const char *s, lf_scope *out, lf_err *err)
{
    if (s && !strcmp(s, "token"))
        *out = LF_SCOPE_TOKEN;
    else if (s && !strcmp(s, "ffn"))
        *out = LF_SCOPE_FFN;
    else
        return lf_fail(err, LF_EINVAL, "scope '%s': expected token (the whole token: attention, "
                       "norms, FFN, embedding and output head) or ffn (the FFN stream only)",
                       s ? s : "");
    return LF_OK;
}

const char *lf_scope_name(lf_scope s)
{
    return s == LF_SCOPE_FFN ? "ffn" : "token";
}
