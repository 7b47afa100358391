/* The run folder: config.conf, meta.json, tokens.csv, summary.csv, done (docs/DESIGN.md 6). */
#include "lf_results.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "lf_fs.h"
#include "lf_meta.h"

double lf_summary_batch_gap_s(const lf_summary *s, uint32_t n_layers)
{
    return (s->mean_compute_ms + s->mean_mem_ms) / 1e3 / (n_layers ? n_layers : 1);
}

int lf_summary_compute(const lf_token_row *rows, uint32_t n, uint32_t cold, lf_summary *s,
                       lf_err *err)
{
    memset(s, 0, sizeof *s);
    if (n == 0)
        return lf_fail(err, LF_EINVAL, "results: no token rows to summarise");
    if (cold > n - 1) /* never cut it down silently: the cold/steady split would lie */
        return lf_fail(err, LF_EINVAL, "results: %u cold tokens but the run has %u tokens (at least "
                       "one must be left for the steady state): lower --cold-tokens below %u or "
                       "replay more tokens", cold, n, n);
    s->n_tokens = n;
    s->cold_tokens = cold;
    s->steady_tokens = n - cold;
    double *tot = malloc((size_t)n * sizeof *tot), *io = malloc((size_t)n * sizeof *io);
    if (!tot || !io) {
        free(tot);
        free(io);
        return lf_fail(err, LF_ENOMEM, "results: out of memory");
    }
    for (uint32_t i = 0; i < cold; i++) {
        s->cold_total_ms += rows[i].total_ms;
        s->cold_io_ms += rows[i].io_ms;
        s->cold_mem_ms += rows[i].mem_ms;
        s->cold_compute_ms += rows[i].compute_ms;
        s->cold_bytes_read += (double)rows[i].bytes_read;
    }
    double c = cold ? (double)cold : NAN;
    s->cold_total_ms /= c;
    s->cold_io_ms /= c;
    s->cold_mem_ms /= c;
    s->cold_compute_ms /= c;
    s->cold_bytes_read /= c;
    double hits = 0, misses = 0;
    uint32_t m = 0;
    for (uint32_t i = cold; i < n; i++, m++) {
        const lf_token_row *r = &rows[i];
        tot[m] = r->total_ms;
        io[m] = r->io_ms;
        s->mean_total_ms += r->total_ms;
        s->mean_io_ms += r->io_ms;
        s->mean_mem_ms += r->mem_ms;
        s->mean_compute_ms += r->compute_ms;
        s->mean_bytes_read += (double)r->bytes_read;
        s->mean_reads += (double)r->reads;
        s->mean_loads += (double)r->loads;
        s->mean_evictions += (double)r->evictions;
        hits += (double)r->hits;
        misses += (double)r->misses;
        s->mean_false_pos += (double)r->false_pos;
        s->mean_false_neg += (double)r->false_neg;
        s->mean_resident_bytes += (double)r->resident_bytes;
        if ((double)r->resident_bytes > s->max_resident_bytes)
            s->max_resident_bytes = (double)r->resident_bytes;
        s->mean_bytes_copied += (double)r->bytes_copied;
        s->mean_copy_ops += (double)r->copy_ops;
    }
    s->mean_read_bytes = s->mean_reads > 0 ? s->mean_bytes_read / s->mean_reads : 0;
    s->flash_gb_per_s = s->mean_io_ms > 0 ? s->mean_bytes_read / (s->mean_io_ms * 1e6) : 0;
    double *means[] = {&s->mean_total_ms, &s->mean_io_ms, &s->mean_mem_ms, &s->mean_compute_ms,
                       &s->mean_bytes_read, &s->mean_reads, &s->mean_loads, &s->mean_evictions,
                       &s->mean_false_pos, &s->mean_false_neg, &s->mean_resident_bytes,
                       &s->mean_bytes_copied, &s->mean_copy_ops};
    for (size_t i = 0; i < sizeof means / sizeof means[0]; i++)
        *means[i] /= (double)m;
    s->hit_rate = hits + misses > 0 ? hits / (hits + misses) : 0;
    s->tokens_per_s = s->mean_total_ms > 0 ? 1000.0 / s->mean_total_ms : 0;
    gsl_sort(tot, 1, m);
    gsl_sort(io, 1, m);
    s->median_total_ms = gsl_stats_median_from_sorted_data(tot, 1, m);
    s->p99_total_ms = gsl_stats_quantile_from_sorted_data(tot, 1, m, 0.99);
    s->median_io_ms = gsl_stats_median_from_sorted_data(io, 1, m);
    s->p99_io_ms = gsl_stats_quantile_from_sorted_data(io, 1, m, 0.99);
    free(tot);
    free(io);
    for (uint32_t i = 0; i < n; i++) {
        const lf_token_row *r = &rows[i];
        s->total_ms += r->total_ms;
        s->bytes_read += r->bytes_read;
        s->reads += r->reads;
        s->loads += r->loads;
        s->evictions += r->evictions;
        s->hits += r->hits;
        s->misses += r->misses;
        s->false_pos += r->false_pos;
        s->false_neg += r->false_neg;
        s->bytes_copied += r->bytes_copied;
        s->copy_ops += r->copy_ops;
    }
    return LF_OK;
}

static const char *const TOKEN_HEADER =
    "token,io_ms,mem_ms,compute_ms,total_ms,bytes_read,reads,mean_read_bytes,loads,evictions,"
    "hits,misses,false_pos,false_neg,resident_units,resident_bytes,bytes_copied,copy_ops";

static void token_line(FILE *f, const lf_token_row *r, const lf_policy_counts *c)
{
    double mrb = r->reads ? (double)r->bytes_read / (double)r->reads : 0;
    fprintf(f,
            "%u,%.9g,%.9g,%.9g,%.9g,%llu,%llu,%.9g,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,"
            "%llu",
            r->token, r->io_ms, r->mem_ms, r->compute_ms, r->total_ms,
            (unsigned long long)r->bytes_read, (unsigned long long)r->reads, mrb,
            (unsigned long long)r->loads, (unsigned long long)r->evictions,
            (unsigned long long)r->hits, (unsigned long long)r->misses,
            (unsigned long long)r->false_pos, (unsigned long long)r->false_neg,
            (unsigned long long)r->resident_units, (unsigned long long)r->resident_bytes,
            (unsigned long long)r->bytes_copied, (unsigned long long)r->copy_ops);
    if (c) {
        for (size_t i = 0; i < c->n; i++)
            if (c->names[i].kind == LF_COUNT_SUM)
                fprintf(f, ",%llu", (unsigned long long)r->policy[i]);
    }
    fputc('\n', f);
}

static void tokens_to(FILE *f, const lf_results *r)
{
    fputs(TOKEN_HEADER, f);
    for (size_t i = 0; r->counts && i < r->counts->n; i++)
        if (r->counts->names[i].kind == LF_COUNT_SUM)
            fprintf(f, ",policy_%s", r->counts->names[i].name);
    fputc('\n', f);
    for (uint32_t i = 0; i < r->n_rows; i++)
        token_line(f, &r->rows[i], r->counts);
}


/* A CSV cell: quoted (RFC 4180) when it holds a comma, quote or newline. */
static void csv_cell(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A number: an integral value (byte counts, token counts) as an integer, however
 * large (6039797760, not 6.03979776e+09); anything else with 9 significant digits. */
static void num_cell(FILE *f, double x)
{
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        fprintf(f, ",%.0f", x);
    else
        fprintf(f, ",%.9g", x);
}

#define SUMMARY_FIELDS(X)                                                                     \
    X(cold_total_ms) X(cold_io_ms) X(cold_mem_ms) X(cold_compute_ms) X(cold_bytes_read)       \
    X(mean_total_ms) X(median_total_ms) X(p99_total_ms) X(mean_io_ms) X(median_io_ms)         \
    X(p99_io_ms) X(mean_mem_ms) X(mean_compute_ms) X(mean_bytes_read) X(mean_reads)           \
    X(mean_read_bytes) X(mean_loads) X(mean_evictions) X(hit_rate) X(mean_false_pos)          \
    X(mean_false_neg) X(mean_resident_bytes) X(max_resident_bytes) X(mean_bytes_copied)       \
    X(mean_copy_ops) X(tokens_per_s) X(flash_gb_per_s) X(total_ms)
#define TOTAL_FIELDS(X)                                                                       \
    X(bytes_read) X(reads) X(loads) X(evictions) X(hits) X(misses) X(false_pos) X(false_neg) \
    X(bytes_copied) X(copy_ops)

void lf_results_summary_row(FILE *f, const char *mode, const lf_summary *s,
                            const lf_policy_counts *counts, const lf_kv *config, int with_header)
{
    size_t n_counts = counts ? counts->n : 0;
    if (with_header) {
        fputs("mode,n_tokens,cold_tokens,steady_tokens", f);
#define H(x) fputs("," #x, f);
#define HT(x) fputs(",total_" #x, f);
        SUMMARY_FIELDS(H)
        TOTAL_FIELDS(HT)
#undef H
#undef HT
        for (size_t i = 0; i < n_counts; i++)
            fprintf(f, ",policy_%s", counts->names[i].name);
        for (size_t i = 0; config && i < config->n; i++) {
            fputc(',', f);
            csv_cell(f, config->items[i].key);
        }
        fputc('\n', f);
        return;
    }
    fprintf(f, "%s,%u,%u,%u", mode, s->n_tokens, s->cold_tokens, s->steady_tokens);
#define V(x) num_cell(f, s->x);
#define VT(x) fprintf(f, ",%llu", (unsigned long long)s->x);
    SUMMARY_FIELDS(V)
    TOTAL_FIELDS(VT)
#undef V
#undef VT
    for (size_t i = 0; i < n_counts; i++)
        fprintf(f, ",%llu", (unsigned long long)counts->values[i]);
    for (size_t i = 0; config && i < config->n; i++) {
        fputc(',', f);
        csv_cell(f, config->items[i].value);
    }
    fputc('\n', f);
}

/* One line a key: a newline in a value (a file name) would add a key of its own. */
static int config_ok(const char *path, const lf_results *r, lf_err *err)
{
    for (size_t i = 0; r->config && i < r->config->n; i++) {
        const lf_kv_entry *e = &r->config->items[i];
        if (strpbrk(e->key, "\n\r=#") || strpbrk(e->value, "\n\r#"))
            return lf_fail(err, LF_EINVAL, "%s: config %s = '%.200s' holds a newline, '#' or '=' "
                           "that config.conf cannot keep: rename the file (or choose a name without "
                           "them)", path, e->key, e->value);
    }
    return LF_OK;
}

static void config_to(FILE *f, const lf_results *r)
{
    fprintf(f, "# llmflash %s: the fully resolved configuration of this run\n", r->mode);
    for (size_t i = 0; r->config && i < r->config->n; i++)
        fprintf(f, "%s = %s\n", r->config->items[i].key, r->config->items[i].value);
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* The files a run folder holds (its marker `done` last), and what other llmflash commands
 * leave in one (sweep's log, an ablation's tables): a folder holding none of them is
 * someone else's. */
static const char *const RUN_FILES[] = {"config.conf", "meta.json", "tokens.csv", "summary.csv",
                                        "done"};
enum { N_RUN_FILES = 4 }; /* written together; then the marker */
static const char *const OTHERS[] = {"ablation.csv", "ablation.md", "sweep.log", "sweep.cmd"};

static int ours(const char *name)
{
    if (strstr(name, ".tmp.")) /* a killed writer's temporary */
        return 1;
    for (size_t i = 0; i < sizeof RUN_FILES / sizeof RUN_FILES[0]; i++)
        if (!strcmp(name, RUN_FILES[i]))
            return 1;
    for (size_t i = 0; i < sizeof OTHERS / sizeof OTHERS[0]; i++)
        if (!strcmp(name, OTHERS[i]))
            return 1;
    return 0;
}

/* An existing `dir` must be a folder, empty or holding an llmflash run (whose files the
 * new run replaces): writing a run into someone else's folder (`--out /`, a folder of
 * notes) would mix it with what is there. */
static int check_run_folder(const char *dir, lf_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return LF_OK;
    if (!S_ISDIR(st.st_mode))
        return lf_fail(err, LF_EINVAL, "%s exists and is not a folder: give a new folder for "
                       "the run", dir);
    DIR *d = opendir(dir);
    if (!d)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot read the folder", dir);
    char other[256] = "";
    int any_ours = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int known = ours(e->d_name);
        any_ours |= known;
        if (!known && !other[0])
            snprintf(other, sizeof other, "%s", e->d_name);
    }
    closedir(d);
    if (other[0] && !any_ours)
        return lf_fail(err, LF_EINVAL, "%s holds files that are not an llmflash run's (such as "
                       "'%s'): writing the run there would mix it with them; give a new or "
                       "empty folder", dir, other);
    return LF_OK;
}

void lf_results_remove(const char *dir)
{
    char p[4200];
    join(p, sizeof p, dir, "config.conf");
    if (!lf_file_exists(p))
        return;
    join(p, sizeof p, dir, "done"); /* first: the folder is then unfinished */
    unlink(p);
    for (size_t i = 0; i < N_RUN_FILES; i++) {
        join(p, sizeof p, dir, RUN_FILES[i]);
        unlink(p);
    }
    rmdir(dir);
}

int lf_results_done(const char *dir)
{
    char p[4200];
    join(p, sizeof p, dir, "done");
    return lf_file_exists(p);
}

int lf_results_write(const char *dir, const lf_results *r, lf_err *err)
{
    if (!r->mode || (strcmp(r->mode, "sim") && strcmp(r->mode, "run")))
        return lf_fail(err, LF_EINVAL, "results: mode must be 'sim' or 'run'");
    if (!r->rows || r->n_rows == 0)
        return lf_fail(err, LF_EINVAL, "results: no token rows for %s", dir);
    if (strlen(dir) > 4000)
        return lf_fail(err, LF_EINVAL, "results: folder name too long: %s", dir);
    char p[4200];
    join(p, sizeof p, dir, "config.conf");
    struct stat st;
    int existed = stat(dir, &st) == 0; /* else made here, and taken away if nothing lands */
    int rc = check_run_folder(dir, err);
    lf_summary s;
    char *json = NULL;
    if (rc == LF_OK)
        rc = config_ok(p, r, err);
    if (rc == LF_OK)
        rc = lf_summary_compute(r->rows, r->n_rows, r->cold_tokens, &s, err);
    if (rc == LF_OK)
        rc = lf_results_meta_json(r, &json, err);
    if (rc == LF_OK)
        rc = lf_mkdirs(dir, err);
    /* All four files are written whole to their temporaries before any replaces an
     * earlier run's: a run that fails (a full disk) leaves the earlier one as it was. */
    lf_atomic f[N_RUN_FILES];
    int open = 0;
    for (; rc == LF_OK && open < N_RUN_FILES; open++) {
        join(p, sizeof p, dir, RUN_FILES[open]);
        if ((rc = lf_atomic_open(&f[open], p, err)))
            break;
    }
    if (rc == LF_OK) {
        config_to(f[0].f, r);
        fputs(json, f[1].f);
        tokens_to(f[2].f, r);
        lf_results_summary_row(f[3].f, r->mode, &s, r->counts, r->config, 1);
        lf_results_summary_row(f[3].f, r->mode, &s, r->counts, r->config, 0);
        for (int i = 0; i < N_RUN_FILES && rc == LF_OK; i++)
            rc = lf_atomic_flush(&f[i], err);
    }
    free(json);
    join(p, sizeof p, dir, "done");
    if (rc == LF_OK && lf_file_exists(p) && unlink(p) != 0)
        rc = lf_fail_errno(err, LF_EIO, errno, "%s: cannot remove the old marker", p);
    if (rc) {
        for (int i = 0; i < open; i++)
            lf_atomic_abort(&f[i]);
        if (!existed)
            rmdir(dir); /* empty again: no folder that looks like a run */
        return rc;
    }
    /* renames now; without the marker, a failure here leaves a folder seen as unfinished */
    for (int i = 0; i < N_RUN_FILES; i++)
        if (rc == LF_OK)
            rc = lf_atomic_commit_nosync(&f[i], err);
        else
            lf_atomic_abort(&f[i]);
    for (size_t i = 0; rc == LF_OK && i < 2; i++) { /* an earlier ablation's tables */
        join(p, sizeof p, dir, i ? "ablation.md" : "ablation.csv");
        if (lf_file_exists(p) && unlink(p) != 0)
            rc = lf_fail_errno(err, LF_EIO, errno, "%s: cannot remove an earlier run's file", p);
    }
    /* One flush for the four files (not one each), before the marker: a `done` seen
     * after a crash of the machine means whole files. The marker needs none: lost, the
     * run is only done again. */
    if (rc == LF_OK)
        rc = lf_sync_fs(dir, err);
    join(p, sizeof p, dir, "done");
    return rc ? rc : lf_write_file_atomic_ex(p, "done\n", 5, 0, err);
}

int lf_results_meta_json(const lf_results *r, char **json, lf_err *err)
{
    const char *names[LF_POLICY_MAX_COUNTERS];
    size_t n = r->counts ? r->counts->n : 0;
    for (size_t i = 0; i < n; i++)
        names[i] = r->counts->names[i].name;
    lf_meta_counts mc = {names, n ? r->counts->values : NULL, n};
    return lf_meta_build(r->mode, r->seed, r->trace_path, r->data_path, r->meta_extra,
                         r->counts ? &mc : NULL, json, err);
}
