/* The options a run configuration shares across sim, run and validate: one table. */
#include "lf_runopt.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_kv.h"
#include "lf_layout.h"
#include "lf_policy.h"

#define F(field) offsetof(lf_run_config, field)
#define SIM LF_RUNOPT_SIM
#define RUN LF_RUNOPT_RUN
#define GRID LF_RUNOPT_GRID
#define INPUT LF_RUNOPT_INPUT

static const lf_runopt table[] = {
    {"trace", 't', "PATH", LF_RUNOPT_STR, F(trace_path), 0, 0, SIM | RUN | INPUT,
     "activation trace (HDF5: llmflash trace synth |\nrecord | import)", NULL},
    {"device", 0, "PATH", LF_RUNOPT_STR, F(device_path), 0, 0, SIM | RUN | INPUT,
     "device profile: a name (m1max, see below) or a .conf\nfile; run: recorded in config.conf only", NULL},
    {"policy", 'p', "SPEC", LF_RUNOPT_STR, F(policy), 0, 0, SIM | RUN | GRID,
     "loading policy name[:key=value,...] (default\nwindow:k=4)", lf_policy_names},
    {"layout", 'l', "NAME", LF_RUNOPT_LAYOUT, F(layout), 0, 0, SIM | RUN | GRID,
     "weights layout (default bundled; run: checked\nagainst the weights file's)",
     lf_layout_kind_names},
    {"dram-fraction", 'f', "F", LF_RUNOPT_FRACTION, F(dram_fraction), 0, 0, SIM | RUN | GRID,
     "DRAM budget as a fraction of the model's bytes,\nin (0, 1] (default 0.5)", NULL},
    {"dram-bytes", 'b', "B", LF_RUNOPT_SIZE, F(dram_bytes), 1, UINT64_MAX, SIM | RUN | GRID,
     "DRAM budget in bytes (4g = 4 GiB, 6442450944;\noverrides the fraction); counts take 10k = 10000", NULL},
    {"predictor-rank", 0, "R", LF_RUNOPT_U32, F(predictor_rank), 0, 1u << 20, SIM | RUN | GRID,
     "low-rank predictor kept in DRAM (default 128;\n"
     "naive, hybrid and MoE traces: none)",
     NULL},
    {"threads", 'j', "N", LF_RUNOPT_U32, F(threads), 1, 4096, SIM | RUN | GRID,
     "reads in flight, 1..4096 (default 32)", NULL},
    {"dtype-bytes", 0, "N", LF_RUNOPT_U32, F(dtype_bytes), 1, 8, SIM,
     "bytes per weight (default: the trace's, else 2)", NULL},
    {"expert-bits", 0, "B", LF_RUNOPT_U32, F(expert_bits), 2, 16, SIM,
     "expert traces: experts stored in 16 bits, or 8, 4\nor 2 group-quantised (a scale and a bias per 64\n"
     "weights, as weights make --dtype int8|q4|q2);\nthe rest at --dtype-bytes (default: those)",
     NULL},
    {"fn-rate", 0, "X", LF_RUNOPT_RATE, F(fn_rate), 0, 0, SIM | RUN | GRID,
     "error-model predictor: share of needed units\ndropped, in [0, 1] (default 0: perfect)",
     NULL},
    {"fp-rate", 0, "Y", LF_RUNOPT_RATE, F(fp_rate), 0, 0, SIM | RUN | GRID,
     "error-model predictor: Y x needed random units\nadded, in [0, 1] (default 0)", NULL},
    {"recorded-predictor", 0, NULL, LF_RUNOPT_FLAG, F(recorded_predictor), 0, 0, SIM | RUN,
     "use the trace's recorded predicted sets", NULL},
    {"max-gap", 0, "B", LF_RUNOPT_SIZE, F(max_gap), 0, UINT64_MAX, SIM | RUN | GRID,
     "bytes read through to join neighbouring\nrecords (default 0)", NULL},
    {"max-read", 0, "B", LF_RUNOPT_SIZE, F(max_read), 0, UINT64_MAX, SIM | RUN | GRID,
     "largest coalesced read (default 1m; 0 = never\ncoalesce)", NULL},
    {"dram-strategy", 0, "S", LF_RUNOPT_STRATEGY, F(dram), 0, 0, SIM | RUN | GRID,
     "prealloc (the paper's manager) or realloc\n(default prealloc)", NULL},
    {"scope", 0, "S", LF_RUNOPT_SCOPE, F(scope), 0, 0, SIM | RUN | GRID,
     "what a token is: token (default: attention over a\nKV cache, norms, FFN, embedding, output head)\n"
     "or ffn (the FFN stream only); in config.conf",
     NULL},
    {"tokens", 'n', "N", LF_RUNOPT_U32, F(n_tokens), 1, UINT32_MAX, SIM | RUN | GRID,
     "replay the first N tokens (default all)", NULL},
    {"seed", 0, "S", LF_RUNOPT_U64, F(seed), 0, UINT64_MAX, SIM | RUN | GRID,
     "seed of every random stream (default 1)", NULL},
    {"model", 0, "NAME", LF_RUNOPT_STR, F(model), 0, 0, SIM | RUN,
     "the trace's model shape when its name is unknown", NULL},
    {"alignment", 0, "B", LF_RUNOPT_POW2, F(alignment), 1, 1u << 30, SIM,
     "record alignment, a power of two (default: the\ndevice's, else 4096)", NULL},
    {"cold-tokens", 0, "N", LF_RUNOPT_U32, F(cold_tokens), 0, UINT32_MAX, SIM | RUN,
     "tokens reported as the cold start (default 1)", NULL},
    {"profile", 0, "PATH", LF_RUNOPT_STR, F(profile_path), 0, 0, SIM | RUN | INPUT,
     "trace the coact layout and the hot policy learn\nfrom (default: the replayed trace)",
     NULL},
    {"coact-profile-tokens", 0, "N", LF_RUNOPT_U32, F(coact_profile_tokens), 0, UINT32_MAX, SIM,
     "profile tokens used for closest friends (default 256)", NULL},
};
#define N_OPTS (sizeof table / sizeof table[0])

const lf_runopt *lf_runopt_table(size_t *n)
{
    *n = N_OPTS;
    return table;
}

static char keys[N_OPTS][32];
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void build_keys(void)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        snprintf(keys[i], sizeof keys[i], "%s", table[i].name);
        for (char *p = keys[i]; *p; p++)
            if (*p == '-')
                *p = '_';
    }
}

const char *lf_runopt_key(const lf_runopt *o)
{
    pthread_once(&keys_once, build_keys);
    return keys[o - table];
}

size_t lf_runopt_keys(unsigned cmds, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < N_OPTS && n + 1 < cap; i++)
        if (table[i].cmds & cmds)
            out[n++] = lf_runopt_key(&table[i]);
    if (cap)
        out[n] = NULL;
    return n;
}

const lf_runopt *lf_runopt_find(const char *name)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (!strcmp(table[i].name, name) || !strcmp(lf_runopt_key(&table[i]), name))
            return &table[i];
    return NULL;
}


static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int bad(const lf_runopt *o, const char *value, lf_err *err, const char *expected)
{
    return lf_fail(err, LF_EINVAL, "--%s '%s': expected %s", o->name, value, expected);
}

int lf_runopt_set(const lf_runopt *o, lf_run_config *c, const char *value, lf_err *err)
{
    void *field = (char *)c + o->offset;
    char range[96];
    uint64_t u = 0;
    double d = 0;
    if (o->kind == LF_RUNOPT_FLAG) {
        *(int *)field = 1;
        return LF_OK;
    }
    if (!value)
        return lf_fail(err, LF_EINVAL, "--%s needs a value (%s)", o->name, o->metavar);
    switch (o->kind) {
    case LF_RUNOPT_STR:
        *(const char **)field = value;
        return LF_OK;
    case LF_RUNOPT_U32:
    case LF_RUNOPT_U64:
    case LF_RUNOPT_POW2:
        snprintf(range, sizeof range, "%s in %llu..%llu%s",
                 o->kind == LF_RUNOPT_POW2 ? "bytes" : "an integer (10k = 10000)",
                 (unsigned long long)o->min, (unsigned long long)o->max,
                 o->kind == LF_RUNOPT_POW2 ? ", a power of two" : "");
        if ((o->kind == LF_RUNOPT_POW2 ? lf_parse_size(value, &u) : lf_parse_count(value, &u)) ||
            u < o->min || u > o->max ||
            (o->kind == LF_RUNOPT_POW2 && (u & (u - 1))))
            return bad(o, value, err, range);
        if (o->kind == LF_RUNOPT_U64)
            *(uint64_t *)field = u;
        else
            *(uint32_t *)field = (uint32_t)u;
        return LF_OK;
    case LF_RUNOPT_SIZE:
        if (lf_parse_size(value, &u) || u < o->min || u > o->max)
            return bad(o, value, err,
                       o->min ? "a size in bytes above 0 (4096, 32k, 1m, 2g)"
                              : "a size in bytes (4096, 32k, 1m, 2g)");
        *(uint64_t *)field = u;
        return LF_OK;
    case LF_RUNOPT_FRACTION:
        if (parse_double(value, &d) || !(d > 0 && d <= 1))
            return bad(o, value, err, "a number in (0, 1]");
        *(double *)field = d;
        return LF_OK;
    case LF_RUNOPT_RATE:
        if (parse_double(value, &d) || !(d >= 0 && d <= 1))
            return bad(o, value, err, "a number in [0, 1]");
        *(double *)field = d;
        return LF_OK;
    case LF_RUNOPT_LAYOUT:
        if (lf_layout_parse_kind(value, (lf_layout_kind *)field, NULL))
            return lf_fail(err, LF_EINVAL, "--%s '%s': expected a layout (known: %s)", o->name,
                           value, lf_layout_kind_names());
        return LF_OK;
    case LF_RUNOPT_STRATEGY:
        if (!strcmp(value, "prealloc"))
            *(lf_dram_strategy *)field = LF_DRAM_PREALLOC;
        else if (!strcmp(value, "realloc"))
            *(lf_dram_strategy *)field = LF_DRAM_REALLOC;
        else
            return bad(o, value, err, "prealloc or realloc");
        return LF_OK;
    case LF_RUNOPT_SCOPE:
        if (lf_scope_parse(value, (lf_scope *)field, NULL))
            return bad(o, value, err, "token (the whole token) or ffn (the FFN stream only)");
        return LF_OK;
    case LF_RUNOPT_FLAG:
        break;
    }
    return lf_fail(err, LF_EINVAL, "--%s: unknown option kind (bug)", o->name);
}
