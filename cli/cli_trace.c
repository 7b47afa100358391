/* Trace reads for subcommands, with the sweep worker's cache (lf_cli_trace.h). */
#include "lf_cli_trace.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lf_plans.h"

typedef struct {
    char path[4096];
    struct stat st;
    uint32_t max_tokens; /* lf_trace_read_opts.max_tokens it was read with */
    int narrow_ids;      /* and its narrow_ids */
    lf_trace trace;
    unsigned long long used; /* the read that last returned it */
    int full;
    lf_plans_cache plans;    /* the last simulated decisions on this trace */
} kept;

static kept cache[LF_CLI_TRACE_KEEP];
static int keeping;
static unsigned long long clock_now;

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int lf_cli_trace_read(const char *path, const lf_trace_read_opts *o, lf_trace *t, lf_err *err)
{
    struct stat st;
    uint32_t max_tokens = o ? o->max_tokens : 0;
    int narrow_ids = o ? o->narrow_ids : 0;
    if (!keeping || strlen(path) >= sizeof cache[0].path || stat(path, &st) != 0)
        return lf_trace_read_ex(path, o, t, err);
    /* a worker keeps a trace for many runs: its ids in memory, read once */
    lf_trace_read_opts whole = o ? *o : (lf_trace_read_opts){0};
    whole.defer_ids = 0;
    o = &whole;
    kept *slot = &cache[0];
    for (int i = 0; i < LF_CLI_TRACE_KEEP; i++) {
        kept *k = &cache[i];
        if (k->full && k->max_tokens == max_tokens && k->narrow_ids == narrow_ids &&
            strcmp(k->path, path) == 0 && same_file(&k->st, &st)) {
            k->used = ++clock_now;
            *t = k->trace;
            return LF_OK;
        }
        if (!k->full || (slot->full && k->used < slot->used))
            slot = k;
    }
    int rc = lf_trace_read_ex(path, o, t, err);
    if (rc != LF_OK)
        return rc;
    if (slot->full) {
        lf_trace_free(&slot->trace);
        lf_plans_cache_clear(&slot->plans);
    }
    snprintf(slot->path, sizeof slot->path, "%s", path);
    slot->st = st;
    slot->max_tokens = max_tokens;
    slot->narrow_ids = narrow_ids;
    slot->trace = *t;
    slot->used = ++clock_now;
    slot->full = 1;
    return LF_OK;
}

void lf_cli_trace_release(lf_trace *t)
{
    for (int i = 0; i < LF_CLI_TRACE_KEEP; i++)
        if (cache[i].full && cache[i].trace.layers == t->layers)
            return;
    lf_trace_free(t);
}

void lf_cli_trace_keep(int on)
{
    keeping = on;
    if (on)
        return;
    for (int i = 0; i < LF_CLI_TRACE_KEEP; i++)
        if (cache[i].full) {
            lf_trace_free(&cache[i].trace);
            lf_plans_cache_clear(&cache[i].plans);
            cache[i].full = 0;
        }
}

lf_plans_cache *lf_cli_trace_plans(const lf_trace *t)
{
    for (int i = 0; keeping && i < LF_CLI_TRACE_KEEP; i++)
        if (cache[i].full && cache[i].trace.layers == t->layers)
            return &cache[i].plans;
    return NULL;
}
