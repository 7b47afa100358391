/* llmflash run on an expert file: the expert executor (bench/lf_exec_moe.h) replays the
 * expert trace (application cache, OS page cache held to its budget by a memory cgroup
 * or posix_fadvise, O_DIRECT flash) and writes the run folder of `sim`, with the page
 * cache's mechanism and measured and predicted hits in meta.json. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_bigmem.h"
#include "lf_cli.h"
#include "lf_cli_moe.h"
#include "lf_exec_moe.h"
#include "lf_results.h"

static const char *CMD = "run";

int cmd_run_moe(const lf_run_config *c, int policy_given, const char *pc_mech, const lf_trace *t,
                const lf_weights *w, const char *out)
{
    lf_pcache_mech mech = LF_PCACHE_AUTO;
    lf_err err;
    if (pc_mech && lf_pcache_mech_parse(pc_mech, &mech, &err))
        return lf_cli_usage(CMD, "--pagecache-mechanism: %s", err.msg);
    uint32_t layers = lf_moe_layers(t, w);
    uint64_t file_experts = (uint64_t)layers * w->h.units;
    uint64_t cap = c->dram_bytes ? c->dram_bytes / (w->h.record_bytes * layers)
                                 : (uint64_t)(c->dram_fraction * w->h.units + 0.5);
    if (cap > w->h.units)
        cap = w->h.units;
    /* 0 would read as "no capacity given" below (every expert cached) */
    if (cap == 0)
        return lf_cli_usage(CMD, "the DRAM budget (%s) holds no expert of %s per layer (%" PRIu64
                            " bytes each, %u layers): raise --dram-fraction or --dram-bytes",
                            c->dram_bytes ? "--dram-bytes" : "--dram-fraction", w->path,
                            w->h.record_bytes, layers);
    const char *policy = policy_given ? c->policy : "pagecache:dram=0";
    uint32_t n_tok = c->n_tokens ? c->n_tokens : t->n_tokens;
    if (n_tok > t->n_tokens)
        return lf_cli_usage(CMD, "--tokens %u but the trace holds %u", n_tok, t->n_tokens);
    lf_token_row *rows = calloc(n_tok, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "llmflash run: out of memory\n");
        return LF_EXIT_FAIL;
    }
    lf_moe_replay_cfg rc = {t, w, policy, cap, n_tok, c->threads, c->seed, c->quiet, c->scope,
                            mech};
    lf_moe_measured m;
    lf_summary S;
    int r = lf_moe_measure(&rc, rows, &m, &err);
    if (!r)
        r = lf_summary_compute(rows, n_tok, c->cold_tokens, &S, &err);
    lf_kv cfg, extra;
    lf_kv_init(&cfg, "run");
    lf_kv_init(&extra, "run");
    if (!r) {
        const lf_exec_moe_stats *s = &m.stats;
        lf_kv_setf(&cfg, NULL, "model", "%s", w->h.model);
        lf_kv_setf(&cfg, NULL, "policy", "%s", policy);
        lf_kv_setf(&cfg, NULL, "capacity", "%" PRIu64, cap);
        lf_kv_setf(&cfg, NULL, "threads", "%u", c->threads);
        lf_kv_setf(&cfg, NULL, "tokens", "%u", n_tok);
        lf_kv_setf(&cfg, NULL, "seed", "%" PRIu64, c->seed);
        lf_kv_setf(&cfg, NULL, "dtype", "%s", lf_dtype_name(w->h.dtype));
        lf_kv_setf(&cfg, NULL, "record_bytes", "%" PRIu64, w->h.record_bytes);
        lf_kv_setf(&cfg, NULL, "layers", "%u", layers);
        lf_kv_setf(&cfg, NULL, "scope", "%s", lf_scope_name(c->scope));
        lf_kv_setf(&cfg, NULL, "pagecache_mechanism", "%s", lf_pcache_mech_name(mech));
        lf_kv_setf(&extra, NULL, "executor", "experts");
        lf_kv_setf(&extra, NULL, "page_cache_mechanism", "%s", m.mechanism);
        lf_kv_setf(&extra, NULL, "page_cache_mechanism_note", "%s", m.mechanism_note);
        lf_kv_setf(&extra, NULL, "page_cache_budget_bytes", "%" PRIu64, m.pc_budget_bytes);
        lf_kv_setf(&extra, NULL, "page_cache_hits_predicted", "%" PRIu64, s->pc_predicted);
        lf_kv_setf(&extra, NULL, "page_cache_hits_measured", "%" PRIu64, s->pc_measured);
        lf_kv_setf(&extra, NULL, "page_cache_hit_rate_predicted", "%.6f",
            s->loads ? (double)s->pc_predicted / s->loads : 0);
        lf_kv_setf(&extra, NULL, "page_cache_hit_rate_measured", "%.6f",
            s->loads ? (double)s->pc_measured / s->loads : 0);
        lf_kv_setf(&extra, NULL, "page_cache_agree", "%" PRIu64, s->pc_agree);
        lf_kv_setf(&extra, NULL, "page_cache_partial_records", "%" PRIu64, s->pc_partial);
        lf_kv_setf(&extra, NULL, "page_cache_byte_hit_rate_measured", "%.6f",
            s->pc_bytes_loaded ? (double)s->pc_bytes_cached / s->pc_bytes_loaded : 0);
        lf_kv_setf(&extra, NULL, "page_cache_outside_reclaim", "%s", m.outside_reclaim);
        lf_kv_setf(&extra, NULL, "page_cache_outside_paged_bytes", "%" PRId64, m.outside_paged);
        lf_kv_setf(&extra, NULL, "loads", "%" PRIu64, s->loads);
        lf_kv_setf(&extra, NULL, "experts_computed", "%" PRIu64, s->experts_computed);
        lf_kv_setf(&extra, NULL, "resident_compute_s", "%.6f", s->attn_s);
        lf_kv_setf(&extra, NULL, "resident_held_bytes", "%" PRIu64, s->resident_bytes);
        lf_kv_setf(&extra, NULL, "instrument_s", "%.6f", s->pcache_s);
        lf_kv_setf(&extra, NULL, "read_gb_per_s", "%.6g", s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0);
        lf_kv_setf(&extra, NULL, "buffer_pages", "%s", lf_bigmem_huge() ? "thp" : "4k");
        lf_kv_setf(&extra, NULL, "anon_huge_bytes", "%" PRIu64, m.huge_bytes);
        lf_kv_setf(&extra, NULL, "output_checksum", "%.9g", s->checksum);
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
            printf("reads: %" PRIu64 " records in %" PRIu64 " reads, %.1f MB, %.3f GB/s while "
                   "reading; path %s", s->loads, s->reads, s->bytes_read / 1e6,
                   s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0, m.mechanism);
            if (strcmp(m.mechanism, "direct"))
                printf(", page cache held to %.1f MB: hits measured %.3f, predicted %.3f of the "
                       "reads (%" PRIu64 " of %" PRIu64 " agree)", m.pc_budget_bytes / 1e6,
                       s->loads ? (double)s->pc_measured / s->loads : 0,
                       s->loads ? (double)s->pc_predicted / s->loads : 0, s->pc_agree, s->loads);
            printf("\noutput checksum %.9g\n", s->checksum);
            if (*m.mechanism_note)
                printf("page cache: %s\n", m.mechanism_note);
            if (s->pc_partial)
                printf("page cache: %" PRIu64 " reads found their record partly cached (%.3f of "
                       "the bytes cached in all; a cgroup evicts pages, not records)%s%s\n",
                       s->pc_partial,
                       s->pc_bytes_loaded ? (double)s->pc_bytes_cached / s->pc_bytes_loaded : 0,
                       *m.outside_reclaim ? "; outside reclaimer: " : "", m.outside_reclaim);
            if (m.outside_paged > 0)
                printf("page cache: the outside reclaimer paged out %.1f MB (machine-wide) "
                       "during the run\n", m.outside_paged / 1e6);
        }
    }
    lf_kv_free(&cfg);
    lf_kv_free(&extra);
    free(rows);
    return r ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
