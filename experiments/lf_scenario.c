/* The Flash-MoE scenario: its published constants and configurations, and their pricing. */
#include "lf_scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_kv.h"
#include "lf_moefit.h"
#include "lf_synth.h"
#include "lf_trace.h"
#include "lf_weights.h"

#define GIB 1073741824.0
#define METAL_LRU_ENTRIES 500 /* Flash-MoE's Metal LRU cache (then F_NOCACHE) */

/* Sources: the Flash-MoE paper (paper/flash_moe.tex of danveloper/flash-moe and its forks). */
const lf_scenario_published lf_scenario_pub = {
    .resident_bytes = 5.5e9,            /* its 5.5 GB of non-expert weights */
    .resident_flops = 2.0 * 9.45e9,     /* 17B active at top-10 minus 10x60 experts x 12.58M */
    .engine_gib = 6.5,                  /* its DRAM budget table */
    .measured_compute_s = 1.53e-3,      /* 2.9 ms/layer - 1.37 ms expert I/O (2-bit, OS cache) */
    .metal_lru_entries = METAL_LRU_ENTRIES,
    .lru_sizes = {16, 32, 64, 128},     /* its per-layer LRU hit rates */
    .lru_hit = {0.49, 0.59, 0.68, 0.71},
};

#define M3 "m3max"
#define IP "iphone17pro"
/* tok/s: 4.36 and 5.74 its cache-strategy table's final design, 4.11 the Metal LRU row;
 * 38% slower its speculative-routing result; about 0.6 the iOS port. DRAM: 48 GiB M3 Max
 * and 12 GiB iPhone 17 Pro; what the OS keeps (6 and 4 GiB) is ASSUMED. */
const lf_scenario_def lf_scenario_defs[] = {
    {"M3 Max 4-bit trust-OS", M3, 48, 6, 4, -1, 1, 0, 0, 4.36, "Flash-MoE 4-bit", 1},
    {"M3 Max 2-bit trust-OS", M3, 48, 6, 2, -1, 1, 0, 0, 5.74, "Flash-MoE 2-bit", 1},
    {"M3 Max 2-bit app-LRU", M3, 48, 6, 2, METAL_LRU_ENTRIES, 0, 0, 0, 4.11,
     "Metal LRU + F_NOCACHE", 1},
    {"M3 Max 2-bit prefetch", M3, 48, 6, 2, -1, 1, 4, 0.53, 0, "published: 38% slower", 1},
    {"iPhone 17 Pro 2-bit", IP, 12, 4, 2, -1, 1, 0, 0, 0.6, "iOS port, about", 0},
};
const size_t lf_scenario_n_defs = sizeof lf_scenario_defs / sizeof lf_scenario_defs[0];

const char *const lf_scenario_curve_policies[] = {"lru",  "lfu",    "fwlru",
                                                  "hot",  "belady", "pagecache:dram=0",
                                                  NULL};

/* Expert records as the weights files store them (bench/lf_quant: a 16-bit scale and bias
 * per 64 weights, as Flash-MoE packs them): 7,077,888 bytes at 4-bit, 3,932,160 at 2-bit. */
double lf_scenario_expert_bytes(const lf_model *m, int bits)
{
    return 3.0 * (double)lf_weights_vector_bytes(m, bits == 2 ? LF_DTYPE_Q2 : LF_DTYPE_Q4);
}

static int routing_params(const lf_scenario_opts *o, lf_scenario *s, lf_err *err)
{
    if (o->params) {
        lf_kv kv;
        static const char *const keys[] = {"zipf", "reuse", NULL};
        int rc = lf_kv_parse_file(o->params, &kv, err);
        if (rc)
            return rc;
        rc = lf_kv_check_known(&kv, keys, err);
        if (!rc)
            rc = lf_kv_need_double(&kv, "zipf", &s->zipf, err);
        if (!rc)
            rc = lf_kv_need_double(&kv, "reuse", &s->reuse, err);
        lf_kv_free(&kv);
        snprintf(s->how, sizeof s->how, "from %s (trace fit of a real routing log)", o->params);
        return rc;
    }
    double got[LF_SCENARIO_N_LRU];
    int rc = lf_moefit_lru(&s->model, lf_scenario_pub.lru_sizes, lf_scenario_pub.lru_hit,
                           LF_SCENARIO_N_LRU, 8192, o->seed, &s->zipf, &s->reuse, got, err);
    snprintf(s->how, sizeof s->how,
             "fitted to the published LRU hit rates 49/59/68/71%% (trace fit --lru)");
    return rc;
}

static int load_row(lf_scenario_row *r, const lf_scenario_opts *o, const lf_model *m,
                    const lf_trace *t, lf_err *err)
{
    char path[4096];
    int rc = LF_OK;
    if (o->find_device)
        rc = o->find_device(r->d.device, path, sizeof path, err);
    else
        snprintf(path, sizeof path, "%s", r->d.device);
    if (!rc)
        rc = lf_device_load(path, &r->dev, err);
    if (rc)
        return rc;
    r->expert_bytes = lf_scenario_expert_bytes(m, r->d.bits);
    double free_b = (r->d.ram_gib - lf_scenario_pub.engine_gib - r->d.os_gib) * GIB;
    if (free_b < 0)
        return lf_fail(err, LF_EINVAL, "%.3g GiB of DRAM less the OS's %.3g GiB does not hold the "
                       "engine's own %.3g GiB (Flash-MoE's DRAM budget table): give "
                       "--ram-gib %.3g or more, or a smaller --os-gib", r->d.ram_gib, r->d.os_gib,
                       lf_scenario_pub.engine_gib, lf_scenario_pub.engine_gib + r->d.os_gib);
    r->app = r->d.app_entries > 0 ? (uint32_t)(r->d.app_entries / m->n_layers) : 0;
    if (o->app >= 0 && o->single)
        r->app = (uint32_t)o->app;
    r->pc = 0;
    if (r->d.trust_os && free_b > 0) {
        double pc = free_b / (m->n_layers * r->expert_bytes) - r->app;
        r->pc = pc > 0 ? (uint32_t)pc : 0;
    }
    if (o->cache >= 0 && o->single)
        r->pc = (uint32_t)o->cache;
    if (r->pc > m->n_experts)
        r->pc = m->n_experts;
    lf_moesim_cfg c = {.dev = &r->dev,
                       .model = m,
                       .expert_bytes = r->expert_bytes,
                       .app_per_layer = r->app,
                       .pc_per_layer = r->pc,
                       .prefetch = r->d.prefetch,
                       .acc = r->d.acc,
                       .threads = o->threads,
                       .split = o->split,
                       .resident_bytes = lf_scenario_pub.resident_bytes,
                       .resident_flops = lf_scenario_pub.resident_flops,
                       .compute_s_per_layer = o->compute_ms > 0 ? o->compute_ms * 1e-3 : 0,
                       .warmup = o->warmup,
                       .seed = o->seed};
    rc = lf_moesim_run(&c, t, &r->r, err);
    if (!rc && r->d.measured_compute) {
        c.compute_s_per_layer = lf_scenario_pub.measured_compute_s;
        rc = lf_moesim_run(&c, t, &r->rm, err);
    }
    if (rc)
        lf_err_prefix(err, "scenario '%s'", r->d.name);
    return rc;
}

/* The one configuration o asks for: its device's DRAM defaults, and the published figure
 * when it is one of the published plans: the same device, bit width, RAM and OS share,
 * the page cache given all free DRAM (no --cache), no application cache, no prefetch. */
static lf_scenario_def custom_def(const lf_scenario_opts *o)
{
    lf_scenario_def one = {"custom", o->device ? o->device : M3, 0, 0, o->bits ? o->bits : 4,
                           -1, 1, o->prefetch, o->acc, 0, "", 1};
    int phone = strstr(one.device, "iphone") != NULL;
    one.ram_gib = o->ram_gib > 0 ? o->ram_gib : phone ? 12 : 48;
    one.os_gib = o->os_gib >= 0 ? o->os_gib : phone ? 4 : 6;
    one.measured_compute = !phone;
    for (size_t i = 0; i < 2 && !phone && !o->prefetch && o->app <= 0 && o->cache < 0; i++)
        if (lf_scenario_defs[i].bits == one.bits &&
            !strcmp(lf_scenario_defs[i].device, one.device) &&
            lf_scenario_defs[i].ram_gib == one.ram_gib && lf_scenario_defs[i].os_gib == one.os_gib) {
            one.published = lf_scenario_defs[i].published;
            one.pub_note = lf_scenario_defs[i].pub_note;
        }
    return one;
}

int lf_scenario_run(const lf_scenario_opts *o, lf_scenario *s, lf_err *err)
{
    memset(s, 0, sizeof *s);
    int rc = lf_model_lookup("qwen3.5-397b-a17b", &s->model, err);
    if (!rc)
        rc = routing_params(o, s, err);
    if (rc)
        return rc;
    lf_synth_params sp;
    lf_synth_defaults(&sp);
    sp.seed = o->seed;
    sp.experts.zipf = s->zipf;
    sp.experts.reuse = s->reuse;
    lf_trace t;
    if ((rc = lf_synth_generate(&s->model, o->tokens, &sp, &t, err)))
        return rc;
    rc = lf_moefit_lru_rates(&t, 0, lf_scenario_pub.lru_sizes, LF_SCENARIO_N_LRU, s->lru, err);
    size_t n = o->single ? 1 : lf_scenario_n_defs;
    if (!rc && !(s->rows = calloc(n, sizeof *s->rows)))
        rc = lf_fail(err, LF_ENOMEM, "moe scenario: out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        s->rows[i].d = o->single ? custom_def(o) : lf_scenario_defs[i];
        rc = load_row(&s->rows[i], o, &s->model, &t, err);
    }
    lf_trace_free(&t);
    if (rc) {
        lf_scenario_free(s);
        return rc;
    }
    s->n = n;
    return LF_OK;
}

void lf_scenario_free(lf_scenario *s)
{
    free(s->rows);
    s->rows = NULL;
    s->n = 0;
}
