/* llmflash validate on expert files: predicted versus measured over an expert grid
 * (experiments/lf_validate_moe.h), with the page cache's predicted and measured hit
 * rates; writes DIR/validate_moe.csv. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_moe.h"
#include "lf_cli_num.h"
#include "lf_fs.h"
#include "lf_validate_moe.h"

static const char *CMD = "validate";

/* The page-cache notes said so far: a fallback's reason when it changes, the cgroup's
 * rule once (its folder's name changes every run), and once that the buffered profile
 * held its misses by another mechanism than a run. */
typedef struct {
    char fallback[1400];
    int cgroup_said;
    const char *profile_mech; /* the buffered profile's (flash_buffered), NULL: none */
    int mismatch_said;
} notes;

static void print_row(const lf_vmoe_row *r, size_t i, size_t n, void *arg)
{
    (void)n;
    notes *said = arg;
    if (i == 0) {
        printf("%-4s %-44s %-5s %3s %-5s %-8s %9s %9s %7s %8s %8s", "cfg", "policy", "dtype",
               "thr", "scope", "path", "pred_ms", "meas_ms", "err_%", "pc_pred", "pc_meas");
        if (r->drift_measured)
            printf(" %8s %8s %8s %9s %8s", "io_drift", "cpu_drft", "dns_drft", "norm_ms",
                   "norm_e_%");
        printf("\n");
    }
    printf("%-4s %-44.44s %-5s %3u %-5s %-8s %9.3f %9.3f %+7.1f %8.3f %8.3f", r->id, r->policy,
           r->dtype, r->threads, r->scope, r->mechanism, r->predicted_ms, r->measured_ms,
           r->error_pct, r->pc_hit_predicted, r->pc_hit_measured);
    if (r->drift_measured)
        printf(" %8.3f %8.3f %8.3f %9.3f %+8.1f", r->io_drift, r->cpu_drift, r->dense_drift,
               r->predicted_norm_ms, r->norm_error_pct);
    printf("\n");
    int fallback = !strncmp(r->mechanism_note, "auto:", 5);
    if ((fallback && strcmp(r->mechanism_note, said->fallback)) ||
        (!strcmp(r->mechanism, "cgroup") && !said->cgroup_said++))
        printf("     page cache: %s\n", r->mechanism_note);
    if (fallback)
        snprintf(said->fallback, sizeof said->fallback, "%s", r->mechanism_note);
    if (said->profile_mech && strcmp(r->mechanism, "direct") &&
        strcmp(r->mechanism, said->profile_mech) && !said->mismatch_said++)
        printf("     note: priced with a buffered profile whose misses were held by %s, but this "
               "run's page cache was held by %s (calibrate --engine buffered "
               "--pagecache-mechanism %s measures the path it takes)\n", said->profile_mech,
               r->mechanism, r->mechanism);
    fflush(stdout);
}

/* Records found partly cached (the strict hit rate above counts them as misses): a
 * cgroup's limit evicts pages, not records, so the record at the end of its LRU goes a
 * page at a time; a reclaimer outside the budget takes pages of its own choosing. The
 * gap counting cached bytes, and the outside reclaimer when one is known. */
static void partly_cached(const lf_vmoe_row *rows, size_t n)
{
    uint64_t partial = 0;
    double gap = NAN;
    const char *outside = "";
    for (size_t i = 0; i < n; i++) {
        partial += rows[i].pc_partial;
        if (!isnan(rows[i].pc_byte_hit_measured)) {
            double g = fabs(rows[i].pc_hit_predicted - rows[i].pc_byte_hit_measured);
            gap = isnan(gap) || g > gap ? g : gap;
        }
        if (*rows[i].outside_reclaim)
            outside = rows[i].outside_reclaim;
    }
    if (!partial)
        return;
    printf("  %llu reads found their record partly cached (a cgroup evicts pages, not "
           "records; an outside reclaimer takes pages too); counting cached bytes, the largest "
           "gap is %.3f (no target)\n", (unsigned long long)partial, gap);
    if (*outside)
        printf("  outside reclaimer: %s\n", outside);
}

/* How many repeats the outside reclaimer struck, and the gap over all repeats. */
static void struck_repeats(const lf_vmoe_row *rows, size_t n)
{
    uint32_t struck = 0, clean = 0;
    double gap = NAN;
    for (size_t i = 0; i < n; i++) {
        struck += rows[i].pc_struck_runs;
        clean += rows[i].pc_clean_runs;
        if (!isnan(rows[i].pc_hit_all)) {
            double g = fabs(rows[i].pc_hit_predicted - rows[i].pc_hit_all);
            gap = isnan(gap) || g > gap ? g : gap;
        }
    }
    if (struck)
        printf("  the outside reclaimer paged out memory (machine-wide) during %u of the "
               "page-cache rows' repeats, nothing during %u (pc_struck_runs, pc_clean_runs); "
               "over all repeats, struck or not, the largest gap is %.3f (pc_hit_all; no "
               "target)\n", struck, clean, gap);
}

/* Trust the OS (pagecache:dram=0,pc=N[,scope=...], no prefetch) against an application
 * LRU of the same DRAM (lru:capacity=N), same bit width: the speed-up both ways. */
static void ratios(const lf_vmoe_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned pc;
        char rest[64] = "";
        if (sscanf(rows[i].policy, "pagecache:dram=0,pc=%u%63s", &pc, rest) < 1 || pc == 0 ||
            strstr(rest, "prefetch"))
            continue;
        char lru[64];
        snprintf(lru, sizeof lru, "lru:capacity=%u", pc);
        for (size_t j = 0; j < n; j++) {
            /* the same run but for the cache (a grid may vary scope or tokens too) */
            if (strcmp(rows[j].policy, lru) || strcmp(rows[j].dtype, rows[i].dtype) ||
                rows[j].threads != rows[i].threads || strcmp(rows[j].scope, rows[i].scope) ||
                rows[j].tokens != rows[i].tokens)
                continue;
            double meas = rows[j].measured_ms / rows[i].measured_ms;
            double pred = rows[j].predicted_ms / rows[i].predicted_ms;
            double off = pred / meas - 1;
            printf("trust-the-OS vs application LRU, %u experts per layer, %s, scope %s: measured "
                   "%.3fx, predicted %.3fx, %+.1f%% (target: within 15%%) %s\n", pc,
                   rows[i].dtype, rows[i].scope, meas, pred, 100 * off,
                   fabs(off) <= 0.15 ? "met" : "MISSED");
        }
    }
}

int cmd_validate_moe(const char *trace, lf_weights *w, size_t n_w, const char *device,
                     const char *buffered_device, const char *grid, const char *out,
                     uint32_t repeat, uint32_t tokens, const char *pc_mech, const char *scope,
                     int drift_refs, double drift_settle)
{
    lf_err err;
    lf_trace t;
    lf_device dev, bdev;
    lf_sweep g;
    lf_pcache_mech mech = LF_PCACHE_AUTO;
    lf_scope sc = LF_SCOPE_TOKEN;
    int have_t = 0, have_g = 0, rc = LF_OK;
    if (pc_mech)
        rc = lf_pcache_mech_parse(pc_mech, &mech, &err);
    if (!rc && scope)
        rc = lf_scope_parse(scope, &sc, &err);
    if (!rc)
        rc = lf_device_load(device, &dev, &err);
    if (!rc && buffered_device && !(rc = lf_device_load(buffered_device, &bdev, &err)) &&
        !bdev.flash_buffered)
        rc = lf_fail(&err, LF_EINVAL, "%s: --device buffered=%s: the profile was not measured "
                     "through the page cache (flash_buffered = 0); make one with llmflash "
                     "calibrate --engine buffered", buffered_device, buffered_device);
    if (!rc && !(rc = lf_sweep_load_grid(grid, lf_vmoe_keys, &g, &err)))
        have_g = 1;
    if (!rc && !(rc = lf_trace_read(trace, &t, &err)))
        have_t = 1;
    if (!rc)
        rc = lf_mkdirs(out, &err);
    lf_vmoe_row *rows = NULL;
    size_t n = 0;
    notes said = {"", 0, NULL, 0};
    if (!rc && buffered_device)
        said.profile_mech = bdev.flash_buffered == LF_BUFFERED_CGROUP ? "cgroup" : "fadvise";
    if (!rc) {
        printf("validate (experts): %zu configurations x %u measured runs, trace %s, device %s\n",
               g.n_runs, repeat, trace, dev.name);
        lf_vmoe_cfg v = {.trace = &t, .weights = w, .n_weights = n_w, .dev = &dev,
                         .buffered_dev = buffered_device ? &bdev : NULL, .grid = &g,
                         .repeat = repeat, .tokens = tokens, .cold_tokens = 1, .pc_mech = mech,
                         .scope = sc, .drift_refs = drift_refs,
                         .drift_settle_s = drift_settle, .on_row = print_row,
                         .arg = &said};
        rc = lf_vmoe_run(&v, &rows, &n, &err);
    }
    if (!rc) {
        char csv[4200];
        snprintf(csv, sizeof csv, "%s/validate_moe.csv", out);
        rc = lf_vmoe_write_csv(csv, rows, n, &err);
        double mdape, max_ape, gap;
        lf_vmoe_errors(rows, n, 0, &mdape, &max_ape, &gap);
        if (!rc) {
            printf("wrote %s\n", csv);
            char a[16], b[16];
            printf("MdAPE %s%% over %zu configurations (target <= 10%% over >= 12) %s\n",
                   lf_cli_pct(a, sizeof a, mdape, 10), n,
                   mdape <= 10 && n >= 12 ? "met" : "MISSED");
            printf("worst %s%% (target <= 20%%) %s\n", lf_cli_pct(b, sizeof b, max_ape, 20),
                   max_ape <= 20 ? "met" : "MISSED");
            printf("page-cache hit rate, largest |predicted - measured| %.3f (measured: per "
                   "row, the median over the repeats no outside reclaimer struck, else over "
                   "all; target <= 0.03) %s\n",
                   gap, isnan(gap) ? "(no page-cache configuration)" : gap <= 0.03 ? "met" : "MISSED");
            partly_cached(rows, n);
            struck_repeats(rows, n);
            if (drift_refs) {
                double nmd, nmax, ngap;
                lf_vmoe_errors(rows, n, 1, &nmd, &nmax, &ngap);
                printf("drift-normalised (flash, expert and resident compute priced at the "
                       "speeds measured next to each run): MdAPE %s%% (target <= 10%%) %s; "
                       "worst %s%% (target <= 20%%) %s\n", lf_cli_pct(a, sizeof a, nmd, 10),
                       nmd <= 10 ? "met" : "MISSED", lf_cli_pct(b, sizeof b, nmax, 20),
                       nmax <= 20 ? "met" : "MISSED");
            }
            ratios(rows, n);
            if (n)
                lf_cli_device_range_notes(CMD, n, sizeof *rows, rows->id, rows->device,
                                          rows->flash_outside);
        }
    }
    free(rows);
    if (have_t)
        lf_trace_free(&t);
    if (have_g)
        lf_sweep_free(&g);
    for (size_t k = 0; k < n_w; k++)
        lf_weights_close(&w[k]);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
