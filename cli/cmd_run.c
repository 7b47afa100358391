/* llmflash run: replays a trace for real with the executor (bench/lf_measure.h): the
 * same plan as `llmflash sim`, performed on this machine's SSD and DRAM, written in the
 * simulator's run-folder layout (sim/lf_results.h) so the two line up row by row. */
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_moe.h"
#include "lf_ffn.h"
#include "lf_kv.h"
#include "lf_measure.h"
#include "lf_policy.h"

static const char *CMD = "run";

static void help(void)
{
    printf(
        "usage: llmflash run --trace T.h5 --weights W --out DIR [--policy SPEC]\n"
        "                    [--engine psync|io_uring|buffered|null] [--threads T]\n"
        "                    [--dram-fraction F | --dram-bytes B] [--tokens N] [options]\n\n"
        "Replays the trace for real: for each token and layer the shared policy, layout and\n"
        "reader code (the simulator's) give the plan; the executor performs the evictions\n"
        "in the preallocated DRAM manager, reads the new records from the weights file with\n"
        "O_DIRECT into their rows (in transparent huge pages, as the probe's buffers;\n"
        "LLMFLASH_THP=0: 4 KiB pages), and computes the sparse FFN on the resident rows\n"
        "for a real input vector. I/O, memory-management and compute time are measured per\n"
        "token and written as DIR/{config.conf,meta.json,tokens.csv,summary.csv,done}, the\n"
        "layout of `llmflash sim` (columns: sim/README.md). Prints the max RSS against the\n"
        "DRAM managers' size plus the stated fixed overhead. At scope token (default) the\n"
        "resident part is held and computed too: per layer the attention block from\n"
        "DRAM-resident weights of the model's head layout over a KV cache of the tokens so\n"
        "far, the norms, then the embedding row and the output head (the weights are\n"
        "generated in memory from the seed: bench/README.md, \"Whole token\").\n\n"
        "Expert files (weights make --model MOE --dtype fp16|int8|q4|q2) run the expert\n"
        "executor: per token and layer the routed experts come from the application cache\n"
        "(DRAM manager), the OS page cache or flash, as the policy says (default\n"
        "pagecache:dram=0, trust the OS; pagecache:dram=N,pc=M[,scope=global][,prefetch=K]:\n"
        "reads go through the page cache, held to M experts per layer by a memory cgroup or\n"
        "posix_fadvise (--pagecache-mechanism) and measured with mincore; other policies and\n"
        "pc=0: O_DIRECT); the routed experts' SwiGLU is computed from DRAM, dequantised\n"
        "on the fly, weighted by the router.\n"
        "At scope token the resident part runs as above (fp16), with the router (a\n"
        "d_model x n_experts matvec; the routing itself is the trace's).\n"
        "For expert files --dram-fraction F is the application cache's share of each\n"
        "layer's experts (F x n_experts) and --dram-bytes B its bytes of records over the\n"
        "layers, not sim's budget of the whole model: to compare with sim, give the\n"
        "policy's capacity (lru:capacity=N, pagecache:dram=N) to both.\n"
        "meta.json gives the page-cache mechanism and predicted/measured hit rates.\n\n"
        "options:\n"
        "  -w, --weights W             weights file (llmflash weights make) of the trace's\n"
        "                              model\n"
        "  -o, --out DIR               the run folder to write\n"
        "  -e, --engine NAME           I/O engine (default psync)\n"
        "                              (known: %s)\n"
        "      --pagecache-mechanism M expert files, page-cache policies: what holds the\n"
        "                              page cache to its budget: auto (default: a memory\n"
        "                              cgroup when one can be made, else fadvise, the\n"
        "                              reason in meta.json), cgroup (the kernel evicts),\n"
        "                              fadvise (the policy's exact LRU); in config.conf\n",
        lf_io_engine_names());
    lf_cli_runopt_help(stdout, LF_RUNOPT_RUN);
    printf(
        "      --quiet                 no summary on stdout\n"
        "  -h, --help                  this text\n\n"
        "example:\n"
        "  llmflash weights make --model opt-1.3b --file /var/tmp/w/opt13.w\n"
        "  llmflash run --trace opt13.h5 --weights /var/tmp/w/opt13.w --policy window:k=4 \\\n"
        "      --threads 16 --dram-fraction 0.5 --tokens 64 --out results/run1\n");
}

enum { O_QUIET = 256, O_PCMECH };

static uint64_t rss_now(void)
{
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

int cmd_run(int argc, char **argv)
{
    static const struct option own[] = {
        {"weights", required_argument, 0, 'w'}, {"out", required_argument, 0, 'o'},
        {"engine", required_argument, 0, 'e'},  {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'},          {"pagecache-mechanism", required_argument, 0, O_PCMECH}};
    struct option opts[sizeof own / sizeof own[0] + 64];
    char shorts[64] = ":w:o:e:h";
    memcpy(opts, own, sizeof own);
    lf_cli_runopts(LF_RUNOPT_RUN, opts, sizeof own / sizeof own[0], sizeof opts / sizeof opts[0],
                   shorts, sizeof shorts);
    lf_run_config c;
    lf_run_config_defaults(&c);
    const char *default_policy = c.policy;
    const char *weights = NULL, *out = NULL;
    int quiet = 0, layout_given = 0;
    const char *pc_mech = NULL;
    lf_measure m;
    memset(&m, 0, sizeof m);
    m.engine = "psync";
    int o, rc = 0;
    while (rc == 0 && (o = lf_cli_getopt(CMD, argc, argv, shorts, opts, NULL)) != -1) {
        const lf_runopt *ro = lf_cli_runopt(CMD, LF_RUNOPT_RUN, o, optarg, &c, &rc);
        if (ro) {
            layout_given |= ro->offset == offsetof(lf_run_config, layout);
            continue;
        }
        switch (o) {
        case 'w': weights = optarg; break;
        case 'o': out = optarg; break;
        case 'e': m.engine = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_PCMECH: pc_mech = optarg; break;
        case 'h': help(); printf("\n"); lf_cli_device_help(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!c.trace_path || !weights || !out)
        return lf_cli_usage(CMD, "--trace, --weights and --out are required");
    const char *trace_path = c.trace_path, *dev_path = c.device_path;
    char dev_found[4096];
    if (dev_path) {
        if (lf_cli_device_resolve(CMD, dev_path, dev_found, sizeof dev_found))
            return LF_EXIT_FAIL;
        dev_path = dev_found;
        c.device_path = dev_found; /* config.conf records where it was found */
    }
    lf_err err;
    lf_weights w;
    lf_trace t, prof;
    lf_device dev;
    int have_prof = 0;
    if (lf_weights_open(weights, &w, &err))
        return lf_cli_error(CMD, &err);
    rc = layout_given ? lf_measure_check_layout(&w, lf_layout_kind_name(c.layout), &err) : 0;
    if (!rc)
        rc = lf_trace_read(trace_path, &t, &err);
    if (rc) {
        lf_weights_close(&w);
        return lf_cli_error(CMD, &err);
    }
    c.quiet = quiet;
    if (w.h.kind == LF_UNITS_EXPERTS) { /* the expert executor */
        /* what it has no use for is refused, not ignored (a helper found them ignored) */
        lf_run_config d;
        lf_run_config_defaults(&d);
        const char *unused = c.fn_rate > 0 || c.fp_rate > 0 || c.recorded_predictor
                                 ? "--fn-rate, --fp-rate and --recorded-predictor (the router "
                                   "is in the trace)"
                             : c.dram != d.dram ? "--dram-strategy (one preallocated manager)"
                             : c.max_gap != d.max_gap || c.max_read != d.max_read
                                 ? "--max-gap and --max-read (one read a record)"
                             : strcmp(m.engine, "psync")
                                 ? "--engine (the policy picks O_DIRECT or the page cache)"
                                 : NULL;
        if (unused) {
            lf_trace_free(&t);
            lf_weights_close(&w);
            return lf_cli_usage(CMD, "%s holds experts: the expert executor takes no %s", weights,
                                unused);
        }
        int x = cmd_run_moe(&c, c.policy != default_policy, pc_mech, &t, &w, out);
        lf_trace_free(&t);
        lf_weights_close(&w);
        return x;
    }
    if (pc_mech) {
        lf_trace_free(&t);
        lf_weights_close(&w);
        return lf_cli_usage(CMD, "--pagecache-mechanism: %s holds neurons; only the expert "
                            "executor has a page-cache tier", weights);
    }
    if (!rc && c.profile_path && !(rc = lf_trace_read(c.profile_path, &prof, &err)))
        have_prof = 1;
    if (!rc && dev_path)
        rc = lf_device_load(dev_path, &dev, &err);
    uint64_t base_rss = rss_now();
    lf_run_result res;
    memset(&res, 0, sizeof res);
    if (!rc)
        rc = lf_measure_run(&c, &t, have_prof ? &prof : NULL, &w, dev_path ? &dev : NULL, &m,
                            &res, &err);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t max_rss = (uint64_t)ru.ru_maxrss * 1024;
    if (!rc) {
        const lf_exec_stats *s = &m.stats;
        uint64_t ffn_budget = res.budget.capacity * (uint64_t)res.model.n_layers * res.budget.row_bytes;
        uint64_t overhead = base_rss + s->fixed_bytes + s->resident_bytes;
        /* this process's memory, beside what every measured run says (lf_measure_run) */
        lf_kv_setf(&res.extra, NULL, "max_rss_bytes", "%" PRIu64, max_rss);
        lf_kv_setf(&res.extra, NULL, "fixed_overhead_bytes", "%" PRIu64, overhead);
        lf_cli_policy_notes(CMD, c.policy, &res.counts);
        rc = lf_run_write(out, &c, &res, &err);
        if (!rc && !quiet) {
            const lf_summary *S = &res.summary;
            printf("run: %u tokens, %s, %s, engine %s, %u threads, DRAM fraction %.3g -> %s\n",
                   res.n_rows, c.policy, lf_layout_kind_name(w.h.layout), m.engine, c.threads,
                   (double)res.budget.budget_bytes / res.budget.model_bytes, out);
            printf("steady state per token: %.3f ms (io %.3f, mem %.3f, compute %.3f); cold "
                   "start %.3f ms\n", S->mean_total_ms, S->mean_io_ms, S->mean_mem_ms,
                   S->mean_compute_ms, S->cold_total_ms);
            printf("flash: %" PRIu64 " reads, %.1f MiB, %.3f GB/s while reading (%" PRIu64
                   " direct into rows, %" PRIu64 " staged)\n", s->reads, s->bytes_read / 1048576.0,
                   s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0, s->direct_reads,
                   s->staged_reads);
            int within = max_rss <= m.cap_bytes + overhead + (32u << 20);
            printf("memory: max RSS %.1f MiB = DRAM managers %.1f MiB (FFN budget %.1f MiB) + "
                   "fixed overhead %.1f MiB (process, trace, weights header, biases, staging: "
                   "%.1f MiB measured before the run + %.1f MiB) %s\n",
                   max_rss / 1048576.0, m.cap_bytes / 1048576.0, ffn_budget / 1048576.0,
                   overhead / 1048576.0, base_rss / 1048576.0, s->fixed_bytes / 1048576.0,
                   within ? "(within, 32 MiB slack)" : "(OVER the budget plus overhead)");
            printf("output checksum %.9g (kernel %s)\n", s->checksum, lf_ffn_path());
        }
    }
    lf_run_result_free(&res);
    if (have_prof)
        lf_trace_free(&prof);
    lf_trace_free(&t);
    lf_weights_close(&w);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
