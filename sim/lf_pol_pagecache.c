/* Policy `pagecache`: the two-level expert cache of the MoE model: an application
 * cache of `dram` units per layer (LRU) in front of the OS page cache of `pc` units per
 * layer (LRU, or one list for all layers with scope=global). A unit the application
 * misses is read through the page cache: a page-cache hit costs a copy
 * (lf_pagecache_time; the plan's `pagecache` list), a miss a flash read that the page
 * cache then keeps. dram=0 is Flash-MoE's "trust the OS": no application cache, every
 * routed expert re-read. Optional speculative prefetch: `prefetch` guessed units per
 * step, each right with probability `acc` (seeded); guesses are read before the routed
 * set is known, and a wrong one costs its read and takes a cache slot.
 * Keys: dram (default 0), pc (default: ctx->capacity minus dram), scope (layer|global),
 * prefetch (default 0), acc (default 0.5), seed (default ctx->seed). Counters: where
 * the routed units and the guesses came from.
 * Both caches are intrusive doubly linked lists over the index space layer*units+id,
 * so every operation is O(1) and a step costs O(n_want + evictions). The OS page cache
 * is modelled as plain LRU (Linux and macOS use active/inactive lists; LRU is the usual
 * first approximation). */
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_sort_uint.h>

#include "lf_pol.h"

#define NIL UINT32_MAX

typedef struct {
    uint32_t head, tail; /* most / least recently used */
    uint64_t n;
} lst;

typedef struct {
    uint32_t *prev, *next; /* over layer*units+id */
    uint8_t *in;
} links;

typedef struct {
    uint64_t app_hits, pc_hits, flash_reads; /* routed units, by where they came from */
    uint64_t pf_guesses, pf_right;           /* prefetch guesses, of which routed */
    uint64_t pf_pc, pf_flash;                /* guesses read from the page cache / flash */
} pc_totals;

typedef struct {
    uint32_t n_layers, units;
    uint64_t dram, pc; /* per layer */
    int global;
    uint32_t prefetch; /* guesses per step */
    double acc;
    gsl_rng *rng;
    links app, os;
    lst *app_l;        /* n_layers */
    lst *os_l;         /* n_layers, or 1 when global */
    uint8_t *flag;     /* units: F_WANT | F_GUESS | F_NEW during a step, else 0 */
    uint32_t *pcbuf;   /* units: this step's loads served by the page cache */
    uint32_t *guess;   /* units */
    uint32_t *order;   /* units: the step's loads in the order they passed the page cache */
    uint32_t *pool;    /* units: scratch for drawing right guesses */
    pc_totals tot, last;
} pc_state;

enum { F_WANT = 1, F_GUESS = 2, F_NEW = 4 };

static void lst_unlink(links *k, lst *l, uint32_t x)
{
    uint32_t p = k->prev[x], n = k->next[x];
    if (p != NIL)
        k->next[p] = n;
    else
        l->head = n;
    if (n != NIL)
        k->prev[n] = p;
    else
        l->tail = p;
    k->in[x] = 0;
    l->n--;
}

static void lst_push_front(links *k, lst *l, uint32_t x)
{
    k->prev[x] = NIL;
    k->next[x] = l->head;
    if (l->head != NIL)
        k->prev[l->head] = x;
    else
        l->tail = x;
    l->head = x;
    k->in[x] = 1;
    l->n++;
}

static void lst_touch(links *k, lst *l, uint32_t x)
{
    lst_unlink(k, l, x);
    lst_push_front(k, l, x);
}

static int links_init(links *k, size_t n)
{
    k->prev = malloc(n * sizeof *k->prev);
    k->next = malloc(n * sizeof *k->next);
    k->in = calloc(n, 1);
    return k->prev && k->next && k->in ? 0 : -1;
}

static void links_free(links *k)
{
    free(k->prev);
    free(k->next);
    free(k->in);
}

static void pc_destroy(lf_policy *p)
{
    pc_state *s = p->state;
    links_free(&s->app);
    links_free(&s->os);
    free(s->app_l);
    free(s->os_l);
    free(s->flag);
    free(s->pcbuf);
    free(s->guess);
    free(s->order);
    free(s->pool);
    if (s->rng)
        gsl_rng_free(s->rng);
}

/* The unit x (index layer*units+id) goes through the OS: a page-cache hit, or a flash
 * read the page cache keeps. Returns 1 for a page-cache hit. */
static int os_read(pc_state *s, uint32_t layer, uint32_t x)
{
    if (s->pc == 0)
        return 0;
    lst *l = &s->os_l[s->global ? 0 : layer];
    if (s->os.in[x]) {
        lst_touch(&s->os, l, x);
        return 1;
    }
    uint64_t cap = s->global ? s->pc * s->n_layers : s->pc;
    if (l->n >= cap)
        lst_unlink(&s->os, l, l->tail);
    lst_push_front(&s->os, l, x);
    return 0;
}

/* Draws this step's guesses into s->guess (distinct ids); each is one of the wanted
 * ids with probability acc (while some are left), else an id not wanted. */
static uint32_t draw_guesses(pc_state *s, const uint32_t *want, uint32_t n_want)
{
    uint32_t units = s->units, n = 0, left = n_want, wrong_left = units - n_want;
    memcpy(s->pool, want, n_want * sizeof *want);
    for (uint32_t i = 0; i < s->prefetch; i++) {
        uint32_t g;
        if (left && gsl_rng_uniform(s->rng) < s->acc) {
            uint32_t j = (uint32_t)gsl_rng_uniform_int(s->rng, left);
            g = s->pool[j];
            s->pool[j] = s->pool[--left];
        } else if (wrong_left) {
            do
                g = (uint32_t)gsl_rng_uniform_int(s->rng, units);
            while (s->flag[g] & (F_WANT | F_GUESS));
            wrong_left--;
        } else {
            break;
        }
        s->flag[g] |= F_GUESS;
        s->guess[n++] = g;
    }
    return n;
}

/* Evicts the application cache's coldest unit that was resident before this step;
 * returns 0 when there is none (everything resident is this step's). */
static int evict_cold(pc_state *s, lst *al, uint32_t base, lf_plan *plan)
{
    uint32_t x = al->tail;
    if (x == NIL || (s->flag[x - base] & F_NEW) || (s->flag[x - base] & F_WANT))
        return 0;
    plan->evict[plan->n_evict++] = x - base;
    lst_unlink(&s->app, al, x);
    return 1;
}

/* Reads unit id into the application cache (a load), through the page cache. */
static void load_unit(pc_state *s, uint32_t layer, uint32_t base, uint32_t id, lst *al,
                      lf_plan *plan, uint32_t *n_pc, uint64_t *pc_count, uint64_t *flash_count)
{
    plan->load[plan->n_load++] = id;
    s->flag[id] |= F_NEW;
    lst_push_front(&s->app, al, base + id);
    if (os_read(s, layer, base + id)) {
        s->pcbuf[(*n_pc)++] = id;
        (*pc_count)++;
    } else {
        (*flash_count)++;
    }
}

static int pc_step(lf_policy *p, uint32_t layer, uint32_t token, const uint32_t *want,
                   uint32_t n_want, lf_plan *plan, lf_err *err)
{
    (void)token, (void)err;
    pc_state *s = p->state;
    uint32_t base = layer * s->units, n_pc = 0;
    lst *al = &s->app_l[layer];
    pc_totals *c = &s->last;
    memset(c, 0, sizeof *c);
    if (s->dram == 0) /* no application cache: last step's staging rows are dropped */
        while (al->n && evict_cold(s, al, base, plan))
            ;
    for (uint32_t i = 0; i < n_want; i++)
        s->flag[want[i]] |= F_WANT;
    /* Prefetch: the guesses are read before the routed set is known. A guess takes a
     * slot from the coldest unit resident before this step (which may be routed now). */
    uint32_t n_guess = s->prefetch ? draw_guesses(s, want, n_want) : 0, wrong_loaded = 0;
    for (uint32_t i = 0; i < n_guess; i++) {
        uint32_t g = s->guess[i];
        c->pf_guesses++;
        c->pf_right += (s->flag[g] & F_WANT) != 0;
        if (s->app.in[base + g])
            continue;
        if (s->dram && al->n >= s->dram) {
            uint32_t x = al->tail; /* pollution: the victim may be routed this step */
            if (x != NIL && !(s->flag[x - base] & F_NEW)) {
                plan->evict[plan->n_evict++] = x - base;
                lst_unlink(&s->app, al, x);
            }
        }
        load_unit(s, layer, base, g, al, plan, &n_pc, &c->pf_pc, &c->pf_flash);
        wrong_loaded += !(s->flag[g] & F_WANT);
    }
    /* The routed set: hits move to the hot end; room for the misses comes from the cold
     * end, never from this step's units; a step wanting more than dram keeps them all. */
    uint32_t misses = 0;
    for (uint32_t i = 0; i < n_want; i++) {
        uint32_t x = base + want[i];
        if (!s->app.in[x]) {
            misses++;
            continue;
        }
        lst_touch(&s->app, al, x);
        if (!(s->flag[want[i]] & F_NEW))
            c->app_hits++;
    }
    uint64_t cap = (uint64_t)n_want + wrong_loaded;
    if (s->dram > cap)
        cap = s->dram;
    while (al->n + misses > cap && evict_cold(s, al, base, plan))
        ;
    for (uint32_t i = 0; i < n_want; i++)
        if (!s->app.in[base + want[i]])
            load_unit(s, layer, base, want[i], al, plan, &n_pc, &c->pc_hits, &c->flash_reads);
    /* The routed units end up the most recent, the largest id hottest (as policy lru:
     * with dram=N, pc=0 and no prefetch this policy is lru:capacity=N). */
    for (uint32_t i = 0; i < n_want; i++)
        lst_touch(&s->app, al, base + want[i]);
    for (uint32_t i = 0; i < n_want; i++)
        s->flag[want[i]] = 0;
    for (uint32_t i = 0; i < n_guess; i++)
        s->flag[s->guess[i]] = 0;
    if (n_guess) { /* the loads went through the page cache guesses first: say so */
        memcpy(s->order, plan->load, plan->n_load * sizeof *plan->load);
        plan->pagecache_order = s->order;
        gsl_sort_uint(plan->load, 1, plan->n_load);
        gsl_sort_uint(s->pcbuf, 1, n_pc);
    }
    plan->n_hit = (uint32_t)c->app_hits;
    plan->pagecache = s->pcbuf;
    plan->n_pagecache = n_pc;
    plan->n_resident = (uint32_t)al->n;
    s->tot.app_hits += c->app_hits;
    s->tot.pc_hits += c->pc_hits;
    s->tot.flash_reads += c->flash_reads;
    s->tot.pf_guesses += c->pf_guesses;
    s->tot.pf_right += c->pf_right;
    s->tot.pf_pc += c->pf_pc;
    s->tot.pf_flash += c->pf_flash;
    return LF_OK;
}

static void pc_count(const lf_policy *p, uint64_t *v)
{
    const pc_totals *t = &((const pc_state *)p->state)->tot;
    v[0] = t->app_hits;
    v[1] = t->pc_hits;
    v[2] = t->flash_reads;
    v[3] = t->pf_guesses;
    v[4] = t->pf_right;
    v[5] = t->pf_pc;
    v[6] = t->pf_flash;
}

static int pc_create(lf_policy *p, const lf_policy_ctx *ctx, const lf_kv *kv, lf_err *err)
{
    pc_state *s = p->state;
    s->n_layers = ctx->n_layers;
    s->units = ctx->units;
    uint64_t prefetch = 0, seed = 0;
    int rc = lf_kv_u64(kv, "dram", 0, &s->dram, err);
    if (!rc)
        rc = lf_kv_u64(kv, "pc", ctx->capacity > s->dram ? ctx->capacity - s->dram : 0, &s->pc,
                       err);
    if (!rc)
        rc = lf_kv_u64(kv, "prefetch", 0, &prefetch, err);
    if (!rc)
        rc = lf_kv_double(kv, "acc", 0.5, &s->acc, err);
    if (!rc)
        rc = lf_kv_u64(kv, "seed", ctx->seed, &seed, err);
    if (rc)
        return rc;
    const char *scope = lf_kv_get(kv, "scope");
    if (scope && strcmp(scope, "layer") != 0 && strcmp(scope, "global") != 0)
        return lf_fail(err, LF_EINVAL, "scope=%s; expected layer or global", scope);
    if (!(s->acc >= 0 && s->acc <= 1) || prefetch > ctx->units)
        return lf_fail(err, LF_EINVAL,
                       "acc=%g must be in [0,1] and prefetch=%llu at most the %u units of a layer",
                       s->acc, (unsigned long long)prefetch, ctx->units);
    s->global = scope && !strcmp(scope, "global");
    s->prefetch = (uint32_t)prefetch;
    if (s->dram > ctx->units)
        s->dram = ctx->units;
    size_t n = (size_t)ctx->n_layers * ctx->units;
    s->app_l = malloc(ctx->n_layers * sizeof *s->app_l);
    s->os_l = malloc(ctx->n_layers * sizeof *s->os_l);
    s->flag = calloc(ctx->units, 1);
    s->pcbuf = malloc(ctx->units * sizeof *s->pcbuf);
    s->guess = malloc(ctx->units * sizeof *s->guess);
    s->order = malloc(ctx->units * sizeof *s->order);
    s->pool = malloc(ctx->units * sizeof *s->pool);
    s->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (links_init(&s->app, n) || links_init(&s->os, n) || !s->app_l || !s->os_l || !s->flag ||
        !s->pcbuf || !s->guess || !s->order || !s->pool || !s->rng)
        return lf_fail(err, LF_ENOMEM, "out of memory");
    gsl_rng_set(s->rng, (unsigned long)seed);
    for (uint32_t l = 0; l < ctx->n_layers; l++) {
        s->app_l[l] = (lst){NIL, NIL, 0};
        s->os_l[l] = (lst){NIL, NIL, 0};
    }
    /* A step keeps its routed set (the engine's bound on it: ctx->max_want) plus its
     * wrong guesses. */
    uint64_t most = (uint64_t)lf_pol_max_want(ctx) + s->prefetch;
    p->max_resident = s->dram > most ? s->dram : most;
    if (p->max_resident > ctx->units)
        p->max_resident = ctx->units;
    return LF_OK;
}

const lf_policy_desc lf_pol_pagecache = {
    .name = "pagecache",
    .help = "MoE two-level cache: an application LRU in front of the OS page cache",
    .keys = (const lf_policy_key[]){{"dram", "application cache, units per layer (default 0)"},
                                    {"pc", "page cache, units per layer (default: the budget's "
                                           "capacity minus dram)"},
                                    {"scope", "layer (default) or global: one page cache for "
                                              "all layers"},
                                    {"prefetch", "guessed units read per step (default 0)"},
                                    {"acc", "probability a guess is routed, in [0,1] (default "
                                            "0.5)"},
                                    {"seed", "seed of the guesses (default: the run's)"},
                                    {NULL, NULL}},
    .counters = (const lf_policy_counter[]){{"app_hits", "routed units the application cache "
                                                         "held", LF_COUNT_SUM, 0},
                                            {"pagecache_hits", "routed units the page cache "
                                                               "served", LF_COUNT_SUM, 0},
                                            {"flash_reads", "routed units read from flash",
                                             LF_COUNT_SUM, 0},
                                            {"prefetch_guesses", "prefetch guesses",
                                             LF_COUNT_SUM, 0},
                                            {"prefetch_right", "guesses that were routed",
                                             LF_COUNT_SUM, 0},
                                            {"prefetch_pagecache", "guesses the page cache "
                                                                   "served", LF_COUNT_SUM, 0},
                                            {"prefetch_flash", "guesses read from flash",
                                             LF_COUNT_SUM, 0},
                                            {NULL, NULL, LF_COUNT_SUM, 0}},
    .state_size = sizeof(pc_state),
    .create = pc_create,
    .step = pc_step,
    .destroy = pc_destroy,
    .count = pc_count,
};
