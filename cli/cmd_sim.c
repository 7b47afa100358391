/* llmflash sim: replay a trace against a device profile and price every step with the
 * cost model; or the paper's ablation; or (for benchmarks) many configurations over one
 * loaded trace. A thin layer over sim/lf_run and experiments/lf_ablation. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lf_ablation.h"
#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_trace.h"
#include "lf_cli_num.h"
#include "lf_fs.h"
#include "lf_policy.h"
#include "lf_run.h"
#include "lf_time.h"

#define CMD "sim"

static void usage(FILE *f)
{
    fprintf(f,
"usage: llmflash sim --trace T.h5 --device D.conf [options] [--out DIR]\n"
"       llmflash sim --ablation --trace T.h5 --device D.conf [options] [--out DIR]\n"
"\n"
"Replays the trace token by token: per layer the needed units, the predictor's set,\n"
"the policy's evictions and loads, the DRAM manager's copies, the layout's records and\n"
"the reader's flash reads, priced by the device's flash, DRAM and compute models.\n"
"Prints cold start (first tokens) and steady state apart; --out writes the run folder\n"
"(config.conf, meta.json, tokens.csv, summary.csv, done; see sim/README.md).\n"
"\n"
"options:\n");
    lf_cli_runopt_help(f, LF_RUNOPT_SIM);
    fprintf(f,
"      --ablation              the paper's Table 2: naive; hybrid; + sparsity\n"
"                              (predictor); + windowing; + bundling (ablation.csv,\n"
"                              ablation.md in --out)\n"
"      --out DIR               write the run folder (or the ablation tables) here\n"
"      --quiet                 no summary on stdout\n"
"      --help                  this text\n"
"for benchmarks:\n"
"      --repeat-configs FILE   one configuration per line (options as above, e.g.\n"
"                              '--policy lru --layout split --dram-fraction 0.4'), all\n"
"                              over the one loaded trace; prints summary.csv rows (one\n"
"                              per line) and writes DIR/cfg-NNN run folders with --out\n"
"      --jobs N                configurations run at once with --repeat-configs\n"
"                              (default 1)\n"
"\n"
"example:\n"
"  llmflash trace synth --model opt-6.7b --tokens 1000 -o opt.h5\n"
"  llmflash sim --trace opt.h5 --device m1max \\\n"
"      --policy window:k=4 --layout bundled --dram-fraction 0.5 --out results/sim/w4\n\n");
    lf_cli_device_help(f);
}

typedef struct {
    lf_run_config c;
    const char *out;
    const char *repeat;
    unsigned jobs;
    int ablation, quiet, help;
} options;

enum { O_ABL = 256, O_OUT, O_QUIET, O_HELP, O_REPEAT, O_JOBS };

/* sim's own options; the shared run options (sim/lf_runopt.h) are appended */
static const struct option own_opts[] = {
    {"ablation", no_argument, 0, O_ABL},
    {"out", required_argument, 0, O_OUT},
    {"quiet", no_argument, 0, O_QUIET},
    {"help", no_argument, 0, O_HELP},
    {"repeat-configs", required_argument, 0, O_REPEAT},
    {"jobs", required_argument, 0, O_JOBS},
};
#define N_OWN (sizeof own_opts / sizeof own_opts[0])

static struct option long_opts[N_OWN + 64];
static char shorts[64] = ":";

static void build_opts(void)
{
    if (long_opts[0].name)
        return;
    memcpy(long_opts, own_opts, sizeof own_opts);
    lf_cli_runopts(LF_RUNOPT_SIM, long_opts, N_OWN, sizeof long_opts / sizeof long_opts[0],
                   shorts, sizeof shorts);
}

/* The long name of option value ch. */
static const char *opt_name(int ch)
{
    for (const struct option *p = long_opts; p->name; p++)
        if (p->val == ch)
            return p->name;
    return "?";
}

/* Parses argv into o (on top of what o holds). in_line: a --repeat-configs line, where
 * the input, output and mode options are not allowed. */
static int parse(int argc, char **argv, options *o, int in_line)
{
    build_opts();
    lf_cli_reset_getopt();
    int ch, rc = 0;
    uint64_t v;
    size_t n_tab;
    const lf_runopt *tab = lf_runopt_table(&n_tab);
    while (rc == 0 && (ch = lf_cli_getopt(CMD, argc, argv, shorts, long_opts, NULL)) != -1) {
        int shared_input = ch >= LF_CLI_RUNOPT && (size_t)(ch - LF_CLI_RUNOPT) < n_tab &&
                           (tab[ch - LF_CLI_RUNOPT].cmds & LF_RUNOPT_INPUT);
        if (in_line && (shared_input || ch == O_OUT || ch == O_ABL || ch == O_REPEAT ||
                        ch == O_JOBS || ch == O_HELP))
            return lf_cli_usage(CMD, "--repeat-configs line: option '--%s' belongs on the command line",
                                opt_name(ch));
        if (lf_cli_runopt(CMD, LF_RUNOPT_SIM, ch, optarg, &o->c, &rc) != NULL)
            continue;
        switch (ch) {
        case O_ABL: o->ablation = 1; break;
        case O_OUT: o->out = optarg; break;
        case O_QUIET: o->quiet = 1; break;
        case O_HELP: o->help = 1; break;
        case O_REPEAT: o->repeat = optarg; break;
        case O_JOBS:
            rc = lf_cli_u64(CMD, "--jobs", optarg, 1, 64, &v);
            o->jobs = (unsigned)v;
            break;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (rc == 0 && optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    return rc;
}

static void print_summary(const lf_run_config *c, const lf_run_result *r, const char *out)
{
    const lf_summary *s = &r->summary;
    const lf_budget *b = &r->budget;
    const lf_model *m = &r->model;
    printf("llmflash sim: %s (%u layers x %u %s, %u-byte weights), %u tokens, device %s\n",
           m->name, m->n_layers, lf_model_units(m),
           m->kind == LF_UNITS_EXPERTS ? "experts" : "neurons", r->dtype_bytes, s->n_tokens,
           lf_kv_get(&r->config, "device_name"));
    printf("policy %s, layout %s (record %llu B, alignment %u), reads: max gap %llu B, max %llu B, "
           "%u in flight, DRAM %s\n",
           c->policy, lf_layout_kind_name(r->layout.kind),
           (unsigned long long)r->layout.record_bytes, r->layout.alignment,
           (unsigned long long)c->max_gap, (unsigned long long)c->max_read, c->threads,
           c->dram == LF_DRAM_REALLOC ? "realloc" : "prealloc");
    const double gib = 1073741824.0; /* --dram-bytes 6g is 6 GiB: sizes print in GiB */
    printf("DRAM budget %.3f GiB (%.3f of %.3f GiB): resident %.3f GiB (embeddings %.3f, "
           "attention %.3f, predictor %.3f), FFN cache %llu units/layer\n",
           b->budget_bytes / gib, (double)b->budget_bytes / b->model_bytes, b->model_bytes / gib,
           b->resident_bytes / gib, b->embedding_bytes / gib, b->attention_bytes / gib,
           b->predictor_bytes / gib, (unsigned long long)b->capacity);
    printf("predictor: %s", lf_kv_get(&r->config, "predictor"));
    if (c->fn_rate > 0 || c->fp_rate > 0)
        printf(" (false negatives %g, false positives %g)", c->fn_rate, c->fp_rate);
    printf("\n\n%-26s %16s   %-30s\n", "", "cold start", "steady state");
    char cold[32], steady[32];
    snprintf(cold, sizeof cold, "(%u token%s)", s->cold_tokens, s->cold_tokens == 1 ? "" : "s");
    snprintf(steady, sizeof steady, "(%u tokens)", s->steady_tokens);
    printf("%-26s %16s   %10s %10s %10s  %s\n", "", cold, "mean", "median", "p99", steady);
    printf("%-26s %16.3f   %10.3f %10.3f %10.3f\n", "total ms/token", s->cold_total_ms,
           s->mean_total_ms, s->median_total_ms, s->p99_total_ms);
    printf("%-26s %16.3f   %10.3f %10.3f %10.3f\n", "  I/O ms", s->cold_io_ms, s->mean_io_ms,
           s->median_io_ms, s->p99_io_ms);
    printf("%-26s %16.3f   %10.3f\n", "  memory ms", s->cold_mem_ms, s->mean_mem_ms);
    printf("%-26s %16.3f   %10.3f\n", "  compute ms", s->cold_compute_ms, s->mean_compute_ms);
    printf("%-26s %16.3f   %10.3f\n", "flash->DRAM MiB/token", s->cold_bytes_read / 1048576.0,
           s->mean_bytes_read / 1048576.0);
    printf("%-26s %16s   %10.1f   (mean read %.1f KiB, %.2f GB/s effective)\n", "reads/token", "",
           s->mean_reads, s->mean_read_bytes / 1024, s->flash_gb_per_s);
    printf("%-26s %16s   %10.1f / %.1f   (hit rate %.3f)\n", "loads / evictions per token", "",
           s->mean_loads, s->mean_evictions, s->hit_rate);
    printf("%-26s %16s   %10.3f   (%.1f copy ops)\n", "DRAM copies MiB/token", "",
           s->mean_bytes_copied / 1048576.0, s->mean_copy_ops);
    printf("%-26s %16s   %10.3f   (max %.3f)\n", "FFN cache GiB", "",
           s->mean_resident_bytes / gib, s->max_resident_bytes / gib);
    if (c->fn_rate > 0 || c->fp_rate > 0 || c->recorded_predictor)
        printf("%-26s %16s   %10.1f / %.1f\n", "false pos / neg per token", "", s->mean_false_pos,
               s->mean_false_neg);
    printf("%-26s %16s   %10.2f\n", "tokens/s", "", s->tokens_per_s);
    lf_cli_policy_counts(stdout, &r->counts);
    if (out)
        printf("\nresults: %s\n", out);
}

static int load_inputs(options *o, lf_trace *trace, lf_trace *profile, int *has_profile,
                       lf_device *dev)
{
    lf_err err;
    *has_profile = 0;
    if (!o->c.trace_path)
        return lf_cli_usage(CMD, "--trace is required");
    if (!o->c.device_path)
        return lf_cli_usage(CMD, "--device is required (e.g. costmodel/devices/m1max.conf)");
    static char dev_path[4096];
    if (lf_cli_device_resolve(CMD, o->c.device_path, dev_path, sizeof dev_path))
        return LF_EXIT_FAIL;
    o->c.device_path = dev_path; /* config.conf records where it was found */
    if (lf_device_load(o->c.device_path, dev, &err))
        return lf_cli_error(CMD, &err);
    /* Read only the tokens replayed and, without --profile, those the coact layout
     * takes its friends from (policies see only the tokens replayed: lf_run). Every
     * token for --repeat-configs, whose lines may ask for more. */
    int profiled = !o->c.profile_path && o->c.layout == LF_LAYOUT_COACT;
    uint32_t need = o->c.n_tokens, prof = o->c.coact_profile_tokens;
    if (o->repeat || (profiled && prof == 0)) /* coact_profile_tokens 0: all of them */
        need = 0;
    else if (profiled && need && need < prof)
        need = prof;
    /* ids 16-bit in memory where the file has them so: every part of a simulation reads
     * them through lf_trace_ids_to or lf_trace_id_at. One run whose policy replays layer
     * by layer and reads only each step's ids leaves them in the file, a few tokens of a
     * layer at a time in memory (lf_trace_deferred says why); the ablation, the repeats,
     * belady's look-ahead, hot's and the coact layout's profiles read the whole trace. */
    const lf_policy_desc *pd = o->c.policy ? lf_policy_find(o->c.policy) : NULL;
    int defer = !o->ablation && !o->repeat && !profiled && pd && pd->layers_independent &&
                !pd->reads_trace;
    lf_trace_read_opts ro = {.max_tokens = need, .narrow_ids = 1, .defer_ids = defer};
    if (lf_cli_trace_read(o->c.trace_path, &ro, trace, &err))
        return lf_cli_error(CMD, &err);
    if (o->c.profile_path) {
        lf_trace_read_opts po = {.narrow_ids = 1};
        if (lf_cli_trace_read(o->c.profile_path, &po, profile, &err)) {
            lf_cli_trace_release(trace);
            return lf_cli_error(CMD, &err);
        }
        *has_profile = 1;
    }
    return 0;
}

static int run_ablation(const options *o, const lf_trace *t, const lf_device *dev)
{
    lf_err err;
    lf_ablation_row rows[LF_ABLATION_ROWS];
    if (lf_ablation_run(&o->c, t, dev, rows, &err))
        return lf_cli_error(CMD, &err);
    if (!o->quiet) {
        printf("Ablation (steady-state means per token; trace %s, device %s)\n\n", o->c.trace_path,
               dev->name);
        lf_ablation_format_md(stdout, rows, LF_ABLATION_ROWS);
    }
    if (o->out) {
        char csv[4200], md[4200];
        snprintf(csv, sizeof csv, "%s/ablation.csv", o->out);
        snprintf(md, sizeof md, "%s/ablation.md", o->out);
        if (lf_mkdirs(o->out, &err) || lf_ablation_write(csv, md, rows, LF_ABLATION_ROWS, &err))
            return lf_cli_error(CMD, &err);
        if (!o->quiet)
            printf("\nwritten: %s, %s\n", csv, md);
    }
    return LF_EXIT_OK;
}

/* CPU seconds of this process (all threads): the replays' own cost on a busy machine. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Splits a line on blanks into argv (argv[0] = "sim"); the line is modified in place. */
static int split_line(char *line, char **argv, int cap)
{
    int n = 0;
    argv[n++] = (char *)CMD;
    for (char *tok = strtok(line, " \t\r\n"); tok && n < cap - 1; tok = strtok(NULL, " \t\r\n"))
        argv[n++] = tok;
    argv[n] = NULL;
    return n;
}

static int run_repeat(const options *o, const lf_trace *t, const lf_trace *prof,
                      const lf_device *dev)
{
    lf_err err;
    char *text = NULL;
    size_t len;
    if (lf_read_file(o->repeat, &text, &len, &err))
        return lf_cli_error(CMD, &err);
    /* a text file of options: a NUL or another control byte means a binary file (a trace
     * given by mistake), whose bytes would be echoed back as "options" */
    for (size_t i = 0, line = 1; i < len; line += text[i++] == '\n') {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
            lf_fail(&err, LF_EFORMAT, "%s:%zu: byte 0x%02x: --repeat-configs wants a text file, "
                    "one line of options per configuration (is it a binary file, such as a "
                    "trace?)", o->repeat, line, c);
            free(text);
            return lf_cli_error(CMD, &err);
        }
    }
    size_t n = 0, cap = 16;
    lf_run_config *cfg = malloc(cap * sizeof *cfg);
    int rc = cfg ? 0 : LF_EXIT_FAIL, lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (*p == '\0' || *p == '#')
            continue;
        char *argv[64];
        int argc = split_line(p, argv, 64);
        options lo = *o;
        if ((rc = parse(argc, argv, &lo, 1)) != 0) {
            fprintf(stderr, "llmflash sim: in %s line %d\n", o->repeat, lineno);
            break;
        }
        if (n == cap) {
            lf_run_config *q = realloc(cfg, 2 * cap * sizeof *cfg);
            if (!q) {
                rc = LF_EXIT_FAIL;
                break;
            }
            cfg = q;
            cap *= 2;
        }
        cfg[n++] = lo.c;
    }
    if (rc == 0 && n == 0)
        rc = lf_cli_usage(CMD, "%s holds no configuration (only blank lines and comments): "
                          "write one line of options per configuration", o->repeat);
    lf_run_result *res = rc ? NULL : calloc(n ? n : 1, sizeof *res);
    int *rcs = rc ? NULL : calloc(n ? n : 1, sizeof *rcs);
    lf_err *errs = rc ? NULL : calloc(n ? n : 1, sizeof *errs);
    if (rc == 0 && (!res || !rcs || !errs))
        rc = LF_EXIT_FAIL;
    if (rc == 0) {
        double t0 = lf_now(), c0 = cpu_seconds();
        lf_run_many(cfg, n, o->jobs ? o->jobs : 1, t, prof, dev, res, rcs, errs);
        double wall = lf_now() - t0, cpu = cpu_seconds() - c0;
        int header_done = 0;
        for (size_t i = 0; i < n; i++) {
            if (rcs[i]) {
                fprintf(stderr, "llmflash sim: configuration %zu (%s): error: %s\n", i + 1,
                        cfg[i].policy, errs[i].msg);
                rc = LF_EXIT_FAIL;
                continue;
            }
            lf_cli_policy_notes(CMD, cfg[i].policy, &res[i].counts);
            if (!o->quiet) {
                if (!header_done)
                    lf_results_summary_row(stdout, "sim", &res[i].summary, NULL, &res[i].config,
                                           1);
                header_done = 1;
                lf_results_summary_row(stdout, "sim", &res[i].summary, NULL, &res[i].config, 0);
            }
            if (o->out) {
                char dir[4200];
                snprintf(dir, sizeof dir, "%s/cfg-%03zu", o->out, i + 1);
                if (lf_run_write(dir, &cfg[i], &res[i], &err)) {
                    rc = lf_cli_error(CMD, &err);
                }
            }
        }
        fprintf(stderr, "llmflash sim: %zu configurations in %.3f s (cpu %.3f s) on %u job(s)\n",
                n, wall, cpu, o->jobs ? o->jobs : 1);
    }
    for (size_t i = 0; res && i < n; i++)
        lf_run_result_free(&res[i]);
    free(res);
    free(rcs);
    free(errs);
    free(cfg);
    free(text);
    return rc;
}

int cmd_sim(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    lf_run_config_defaults(&o.c);
    int rc = parse(argc, argv, &o, 0);
    if (rc)
        return rc;
    if (o.help) {
        usage(stdout);
        return LF_EXIT_OK;
    }
    if (o.ablation && o.repeat)
        return lf_cli_usage(CMD, "--ablation and --repeat-configs do not go together");
    if (o.c.recorded_predictor && (o.c.fn_rate > 0 || o.c.fp_rate > 0))
        return lf_cli_usage(CMD, "--recorded-predictor and --fn-rate/--fp-rate do not go together");
    lf_trace trace, profile;
    lf_device dev;
    int has_profile = 0;
    if ((rc = load_inputs(&o, &trace, &profile, &has_profile, &dev)))
        return rc;
    const lf_trace *prof = has_profile ? &profile : NULL;
    lf_err err;
    if (o.ablation) {
        rc = run_ablation(&o, &trace, &dev);
    } else if (o.repeat) {
        rc = run_repeat(&o, &trace, prof, &dev);
    } else {
        lf_run_result r;
        o.c.plans_cache = lf_cli_trace_plans(&trace); /* a sweep worker's: NULL otherwise */
        if (lf_run(&o.c, &trace, prof, &dev, &r, &err)) {
            rc = lf_cli_error(CMD, &err);
        } else {
            lf_cli_policy_notes(CMD, o.c.policy, &r.counts);
            lf_cli_device_range_note(CMD, &dev, o.c.device_path, r.summary.mean_read_bytes,
                                     o.c.threads, lf_summary_batch_gap_s(&r.summary, r.model.n_layers));
            /* the process's peak memory so far (a sweep worker's: over all its runs) */
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            lf_kv_setf(&r.extra, NULL, "max_rss_bytes", "%" PRIu64,
                       (uint64_t)ru.ru_maxrss * 1024);
            if (o.out && lf_run_write(o.out, &o.c, &r, &err))
                rc = lf_cli_error(CMD, &err);
            if (rc == 0 && !o.quiet)
                print_summary(&o.c, &r, o.out);
            lf_run_result_free(&r);
        }
    }
    lf_cli_trace_release(&trace);
    if (has_profile)
        lf_cli_trace_release(&profile);
    return rc;
}
