/* llmflash run on an expert file: the expert executor (bench/lf_exec_moe.h) replays the
 * expert trace (application cache, OS page cache held to its budget, O_DIRECT flash)
 * and writes the run folder of `sim`, with the page cache's measured and predicted hits
 * in meta.json. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_moe.h"
#include "lf_exec_moe.h"
#include "lf_results.h"

static const char *CMD = "run";

static int add(lf_kv *kv, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add(lf_kv *kv, const char *k, const char *fmt, ...)
{
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return lf_kv_set(kv, k, v, 0, NULL);
}

int cmd_run_moe(const lf_run_config *c, int policy_given, const lf_trace *t, const lf_weights *w,
                const char *out)
{
    uint32_t layers = lf_moe_layers(t, w);
    uint64_t file_experts = (uint64_t)layers * w->h.units;
    uint64_t cap = c->dram_bytes ? c->dram_bytes / (w->h.record_bytes * layers)
                                 : (uint64_t)(c->dram_fraction * w->h.units + 0.5);
    if (cap > w->h.units)
        cap = w->h.units;
    const char *policy = policy_given ? c->policy : "pagecache:dram=0";
    uint32_t n_tok = c->n_tokens ? c->n_tokens : t->n_tokens;
    if (n_tok > t->n_tokens)
        return lf_cli_usage(CMD, "--tokens %u but the trace holds %u", n_tok, t->n_tokens);
    lf_token_row *rows = calloc(n_tok, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "llmflash run: out of memory\n");
        return LF_EXIT_FAIL;
    }
    lf_moe_replay_cfg rc = {t, w, policy, cap, n_tok, c->threads, c->seed, c->quiet};
    lf_moe_measured m;
    lf_err err;
    lf_summary S;
    int r = lf_moe_measure(&rc, rows, &m, &err);
    if (!r)
        r = lf_summary_compute(rows, n_tok, c->cold_tokens, &S, &err);
    lf_kv cfg, extra;
    lf_kv_init(&cfg, "run");
    lf_kv_init(&extra, "run");
    if (!r) {
        const lf_exec_moe_stats *s = &m.stats;
        add(&cfg, "model", "%s", w->h.model);
        add(&cfg, "policy", "%s", policy);
        add(&cfg, "capacity", "%" PRIu64, cap);
        add(&cfg, "threads", "%u", c->threads);
        add(&cfg, "tokens", "%u", n_tok);
        add(&cfg, "seed", "%" PRIu64, c->seed);
        add(&cfg, "dtype", "%s", lf_dtype_name(w->h.dtype));
        add(&cfg, "record_bytes", "%" PRIu64, w->h.record_bytes);
        add(&cfg, "layers", "%u", layers);
        add(&extra, "executor", "experts");
        add(&extra, "page_cache_mechanism", "%s", m.mechanism);
        add(&extra, "page_cache_budget_bytes", "%" PRIu64, m.pc_budget_bytes);
        add(&extra, "page_cache_hits_predicted", "%" PRIu64, s->pc_predicted);
        add(&extra, "page_cache_hits_measured", "%" PRIu64, s->pc_measured);
        add(&extra, "page_cache_hit_rate_predicted", "%.6f",
            s->loads ? (double)s->pc_predicted / s->loads : 0);
        add(&extra, "page_cache_hit_rate_measured", "%.6f",
            s->loads ? (double)s->pc_measured / s->loads : 0);
        add(&extra, "page_cache_agree", "%" PRIu64, s->pc_agree);
        add(&extra, "loads", "%" PRIu64, s->loads);
        add(&extra, "experts_computed", "%" PRIu64, s->experts_computed);
        add(&extra, "instrument_s", "%.6f", s->pcache_s);
        add(&extra, "read_gbps", "%.6g", s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0);
        add(&extra, "output_checksum", "%.9g", s->checksum);
        lf_results res = {"run", &cfg, rows, n_tok, c->cold_tokens, c->seed, c->trace_path,
                          w->path, &extra, &m.counts};
        r = lf_results_write(out, &res, &err);
        if (!r && !c->quiet) {
            printf("run (experts): %u tokens x %u layers, %s, %s experts of %" PRIu64
                   " bytes (%" PRIu64 " in the file), %u reads in flight -> %s\n",
                   n_tok, layers, policy, lf_dtype_name(w->h.dtype), w->h.record_bytes,
                   file_experts, c->threads, out);
            printf("steady state per token: %.3f ms (io %.3f, mem %.3f, compute %.3f); hit rate "
                   "(application cache) %.3f\n", S.mean_total_ms, S.mean_io_ms, S.mean_mem_ms,
                   S.mean_compute_ms, S.hit_rate);
            printf("reads: %" PRIu64 " records, %.1f MB, %.3f GB/s while reading; path %s",
                   s->reads, s->bytes_read / 1e6,
                   s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0, m.mechanism);
            if (strcmp(m.mechanism, "direct"))
                printf(", page cache held to %.1f MB: hits measured %.3f, predicted %.3f of the "
                       "reads (%" PRIu64 " of %" PRIu64 " agree)", m.pc_budget_bytes / 1e6,
                       s->loads ? (double)s->pc_measured / s->loads : 0,
                       s->loads ? (double)s->pc_predicted / s->loads : 0, s->pc_agree, s->loads);
            printf("\noutput checksum %.9g\n", s->checksum);
        }
    }
    lf_kv_free(&cfg);
    lf_kv_free(&extra);
    free(rows);
    return r ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
