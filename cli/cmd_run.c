/* llmflash run: replays a trace for real with the executor (bench/lf_measure.h): the
 * same plan as `llmflash sim`, performed on this machine's SSD and DRAM, written in the
 * simulator's run-folder layout (sim/lf_results.h) so the two line up row by row. */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lf_cli.h"
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
        "O_DIRECT into their rows, and computes the sparse FFN on the resident rows for a\n"
        "real input vector. I/O, memory-management and compute time are measured per token\n"
        "and written as DIR/{config.conf,meta.json,tokens.csv,summary.csv,done}, the layout\n"
        "of `llmflash sim` (columns: sim/README.md). Prints the max RSS against the DRAM\n"
        "managers' size plus the stated fixed overhead. FFN only: the resident part\n"
        "(attention, embeddings) is neither held nor computed.\n\n"
        "options:\n"
        "  -t, --trace T.h5          the trace to replay\n"
        "  -w, --weights W           weights file (llmflash weights make) of the trace's model\n"
        "  -o, --out DIR             the run folder to write\n"
        "  -p, --policy SPEC         loading policy (default window:k=4; known: %s)\n"
        "  -l, --layout KIND         checked against the weights file's layout\n"
        "  -e, --engine NAME         psync (default), io_uring, buffered (page cache), null\n"
        "  -j, --threads T           reads in flight (default 32)\n"
        "  -f, --dram-fraction F     DRAM budget as a fraction of the model (default 0.5)\n"
        "  -b, --dram-bytes B        DRAM budget in bytes (4g, 512m, ...)\n"
        "  -n, --tokens N            replay the first N tokens (default all)\n"
        "      --max-gap B           reader: bytes read through to join records (default 0)\n"
        "      --max-read B          reader: largest read (default 1m; 0 = no coalescing)\n"
        "      --dram-strategy S     prealloc (default) or realloc\n"
        "      --predictor-rank R    predictor rank in the budget (default 128)\n"
        "      --fn-rate X --fp-rate Y  error-model predictor (default perfect)\n"
        "      --recorded-predictor  use the trace's predicted sets\n"
        "      --profile P.h5        profile trace for the `hot` policy\n"
        "      --device D.conf       recorded in config.conf only\n"
        "      --seed S              predictor and input-vector seed (default 1)\n"
        "      --cold-tokens N       tokens counted as the cold start (default 1)\n"
        "      --model NAME          the trace's model shape when its name is unknown\n"
        "      --quiet               no summary on stdout\n"
        "  -h, --help                this text\n\n"
        "example:\n"
        "  llmflash weights make --model opt-1.3b --file /var/tmp/w/opt13.w\n"
        "  llmflash run --trace opt13.h5 --weights /var/tmp/w/opt13.w --policy window:k=4 \\\n"
        "      --threads 16 --dram-fraction 0.5 --tokens 64 --out results/run1\n",
        lf_policy_names());
}

enum { O_GAP = 256, O_READ, O_DRAM, O_RANK, O_FN, O_FP, O_REC, O_PROF, O_DEV, O_SEED, O_COLD,
       O_QUIET, O_MODEL };

static int num(const char *opt, const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end ? 0 : lf_cli_usage(CMD, "%s '%s': expected a number", opt, s);
}

static int size(const char *opt, const char *s, uint64_t *out)
{
    return lf_parse_size(s, out) == 0 ? 0 : lf_cli_usage(CMD, "%s '%s': expected a size", opt, s);
}

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

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trace", required_argument, 0, 't'},   {"weights", required_argument, 0, 'w'},
        {"out", required_argument, 0, 'o'},     {"policy", required_argument, 0, 'p'},
        {"layout", required_argument, 0, 'l'},  {"engine", required_argument, 0, 'e'},
        {"threads", required_argument, 0, 'j'}, {"dram-fraction", required_argument, 0, 'f'},
        {"dram-bytes", required_argument, 0, 'b'}, {"tokens", required_argument, 0, 'n'},
        {"max-gap", required_argument, 0, O_GAP}, {"max-read", required_argument, 0, O_READ},
        {"dram-strategy", required_argument, 0, O_DRAM}, {"predictor-rank", required_argument, 0, O_RANK},
        {"fn-rate", required_argument, 0, O_FN}, {"fp-rate", required_argument, 0, O_FP},
        {"recorded-predictor", no_argument, 0, O_REC}, {"profile", required_argument, 0, O_PROF},
        {"device", required_argument, 0, O_DEV}, {"seed", required_argument, 0, O_SEED},
        {"cold-tokens", required_argument, 0, O_COLD}, {"quiet", no_argument, 0, O_QUIET},
        {"model", required_argument, 0, O_MODEL}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    lf_sim_config c;
    lf_sim_config_defaults(&c);
    const char *trace_path = NULL, *weights = NULL, *out = NULL, *layout = NULL, *dev_path = NULL;
    int quiet = 0;
    lf_measure m;
    memset(&m, 0, sizeof m);
    m.engine = "psync";
    uint64_t u;
    double d;
    int o;
    while ((o = getopt_long(argc, argv, ":t:w:o:p:l:e:j:f:b:n:h", opts, NULL)) != -1) {
        switch (o) {
        case 't': trace_path = optarg; break;
        case 'w': weights = optarg; break;
        case 'o': out = optarg; break;
        case 'p': c.policy = optarg; break;
        case 'l': layout = optarg; break;
        case 'e': m.engine = optarg; break;
        case O_PROF: c.profile_path = optarg; break;
        case O_DEV: dev_path = optarg; break;
        case O_REC: c.recorded_predictor = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_MODEL: c.model = optarg; break;
        case 'j':
            if (size("--threads", optarg, &u)) return LF_EXIT_USAGE;
            if (u == 0 || u > 4096) return lf_cli_usage(CMD, "--threads must be in 1..4096");
            c.threads = (uint32_t)u;
            break;
        case 'f':
            if (num("--dram-fraction", optarg, &d)) return LF_EXIT_USAGE;
            if (!(d > 0 && d <= 1)) return lf_cli_usage(CMD, "--dram-fraction must be in (0, 1]");
            c.dram_fraction = d;
            break;
        case 'b': if (size("--dram-bytes", optarg, &c.dram_bytes)) return LF_EXIT_USAGE; break;
        case 'n':
            if (size("--tokens", optarg, &u)) return LF_EXIT_USAGE;
            c.n_tokens = (uint32_t)u;
            break;
        case O_GAP: if (size("--max-gap", optarg, &c.max_gap)) return LF_EXIT_USAGE; break;
        case O_READ: if (size("--max-read", optarg, &c.max_read)) return LF_EXIT_USAGE; break;
        case O_DRAM:
            if (!strcmp(optarg, "prealloc")) c.dram = LF_DRAM_PREALLOC;
            else if (!strcmp(optarg, "realloc")) c.dram = LF_DRAM_REALLOC;
            else return lf_cli_usage(CMD, "--dram-strategy '%s': expected prealloc or realloc", optarg);
            break;
        case O_RANK:
            if (size("--predictor-rank", optarg, &u)) return LF_EXIT_USAGE;
            c.predictor_rank = (uint32_t)u;
            break;
        case O_FN: if (num("--fn-rate", optarg, &c.fn_rate)) return LF_EXIT_USAGE; break;
        case O_FP: if (num("--fp-rate", optarg, &c.fp_rate)) return LF_EXIT_USAGE; break;
        case O_SEED: if (size("--seed", optarg, &c.seed)) return LF_EXIT_USAGE; break;
        case O_COLD:
            if (size("--cold-tokens", optarg, &u)) return LF_EXIT_USAGE;
            c.cold_tokens = (uint32_t)u;
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!trace_path || !weights || !out)
        return lf_cli_usage(CMD, "--trace, --weights and --out are required");
    c.trace_path = trace_path;
    c.device_path = dev_path;
    lf_err err;
    lf_weights w;
    lf_trace t, prof;
    lf_device dev;
    int have_prof = 0;
    if (lf_weights_open(weights, &w, &err))
        return lf_cli_error(CMD, &err);
    int rc = lf_measure_check_layout(&w, layout, &err);
    if (!rc)
        rc = lf_trace_read(trace_path, &t, &err);
    if (rc) {
        lf_weights_close(&w);
        return lf_cli_error(CMD, &err);
    }
    c.quiet = quiet;
    if (!rc && c.profile_path && !(rc = lf_trace_read(c.profile_path, &prof, &err)))
        have_prof = 1;
    if (!rc && dev_path)
        rc = lf_device_load(dev_path, &dev, &err);
    uint64_t base_rss = rss_now();
    lf_sim_result res;
    memset(&res, 0, sizeof res);
    if (!rc)
        rc = lf_measure_run(&c, &t, have_prof ? &prof : NULL, &w, dev_path ? &dev : NULL, &m,
                            &res, &err);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t max_rss = (uint64_t)ru.ru_maxrss * 1024;
    lf_kv extra;
    lf_kv_init(&extra, "run");
    if (!rc) {
        const lf_exec_stats *s = &m.stats;
        uint64_t ffn_budget = res.budget.capacity * (uint64_t)res.model.n_layers * res.budget.row_bytes;
        uint64_t overhead = base_rss + s->fixed_bytes;
        add(&extra, "engine", "%s", m.engine);
        add(&extra, "weights", "%s", weights);
        add(&extra, "weights_seed", "%" PRIu64, w.h.seed);
        add(&extra, "ffn_kernel", "%s", lf_ffn_path());
        add(&extra, "max_rss_bytes", "%" PRIu64, max_rss);
        add(&extra, "dram_manager_bytes", "%" PRIu64, m.cap_bytes);
        add(&extra, "ffn_budget_bytes", "%" PRIu64, ffn_budget);
        add(&extra, "fixed_overhead_bytes", "%" PRIu64, overhead);
        add(&extra, "direct_reads", "%" PRIu64, s->direct_reads);
        add(&extra, "staged_reads", "%" PRIu64, s->staged_reads);
        add(&extra, "read_gbps", "%.6g", s->io_s > 0 ? s->bytes_read / s->io_s / 1e9 : 0);
        add(&extra, "output_checksum", "%.9g", s->checksum);
        lf_results r = {"run", &res.config, res.rows, res.n_rows, c.cold_tokens, c.seed,
                        trace_path, weights, &extra, &res.counts};
        lf_cli_policy_notes(CMD, c.policy, &res.counts);
        rc = lf_results_write(out, &r, &err);
        if (!rc && !quiet) {
            const lf_summary *S = &res.summary;
            printf("run: %u tokens, %s, %s, engine %s, %u threads, DRAM fraction %.3g -> %s\n",
                   res.n_rows, c.policy, lf_layout_kind_name(w.h.layout), m.engine, c.threads,
                   (double)res.budget.budget_bytes / res.budget.model_bytes, out);
            printf("steady state per token: %.3f ms (io %.3f, mem %.3f, compute %.3f); cold "
                   "start %.3f ms\n", S->mean_total_ms, S->mean_io_ms, S->mean_mem_ms,
                   S->mean_compute_ms, S->cold_total_ms);
            printf("flash: %" PRIu64 " reads, %.1f MB, %.3f GB/s while reading (%" PRIu64
                   " direct into rows, %" PRIu64 " staged)\n", s->reads, s->bytes_read / 1e6,
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
    lf_kv_free(&extra);
    lf_sim_result_free(&res);
    if (have_prof)
        lf_trace_free(&prof);
    lf_trace_free(&t);
    lf_weights_close(&w);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
