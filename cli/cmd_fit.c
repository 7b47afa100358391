/* llmflash fit: fit the flash model to a probe CSV and write a device profile. */
#include <getopt.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_cli_num.h"
#include "lf_device.h"
#include "lf_fit.h"
#include "lf_fs.h"

static void help(void)
{
    printf(
        "usage: llmflash fit PROBE.csv [-o NAME.conf] [options]\n"
        "\n"
        "Fits the flash model (latency L, per-stream bandwidth b, device bandwidth B, IOPS\n"
        "cap, the p-norm exponent p and, with three thread counts or more, the depth loss\n"
        "q: m reads in flight serve as m^(1-q) streams; costmodel/README.md) to the\n"
        "throughput a probe measured, with GSL nonlinear least squares on\n"
        "log(predicted/measured). Prints measured vs predicted MB/s per point and the\n"
        "median absolute percentage error (MdAPE), and writes a complete device profile to\n"
        "-o. With batch rows (probe --batch, calibrate) besides steady ones, the bounds\n"
        "come from the steady rows and the batch terms from what the batches took beyond\n"
        "them, each >= 0: flash_batch_s per batch, flash_slot_s per read slot, and\n"
        "flash_batch_loss, the batch's reads slower than the stream's by a factor (told\n"
        "apart from the others by batches of two sizes, or of two chunk sizes); batch\n"
        "rows alone fit the bounds, with no batch terms when they are all of one size,\n"
        "with flash_batch_s (a cost per batch) beside them when the sizes differ.\n"
        "Batch rows after two gaps (their batch_gap_ms column, probe --batch-gap A,B)\n"
        "give two conditions, the first row's gap the first (flash_batch_*; batch rows\n"
        "alone: the quicker gap, whose batches set the bounds) and the other\n"
        "flash_batch2_*: a run's batch is priced between them by its layer's compute.\n"
        "\n"
        "options:\n"
        "  -o, --output FILE  profile to write (atomically); without it, only print\n"
        "  --engine NAME      use the CSV's rows of this engine (needed if it has several)\n"
        "  --base PROFILE     take the DRAM, page-cache and compute keys from PROFILE (and\n"
        "                     its batch keys when the CSV has no batch rows);\n"
        "                     without it they are placeholders marked NOT MEASURED\n"
        "  --name NAME        profile name (default: the output's base name)\n"
        "  --p P              fix the exponent: 0 = hard max, or >= 1 (default: fitted)\n"
        "  --depth-loss Q     fix the depth loss, 0..1 (0: m reads in flight serve as m\n"
        "                     streams, the model before it; default: fitted)\n"
        "  --profile P.conf   no fitting: compare the probe with profile P's flash model\n"
        "  --holdout          fit on half of the probe grid (a checkerboard over chunk x\n"
        "                     threads), report the error on the other half (target <= 8%%\n"
        "                     MdAPE, MISSED when missed); no profile is written\n"
        "  --curves OUT.csv   write the model's throughput (chunk,threads,mb_s) from 4 KiB\n"
        "                     to 1 MiB at the probe's thread counts (for figure 2b)\n"
        "  --max-error PCT    refuse a fit whose median APE is over PCT (default 25): such a\n"
        "                     fit does not describe the device; probe again\n"
        "\n"
        "example:\n"
        "  llmflash probe --file /var/tmp/probe.bin -o probe.csv\n"
        "  llmflash fit probe.csv --base costmodel/devices/m1max.conf -o costmodel/devices/here.conf\n");
}

/* Median and max APE of a given profile over the points (what the fit reports). */
static void summarise_errors(lf_fit_result *res, const lf_fit_point *pts, size_t n)
{
    double *ape = malloc((n ? n : 1) * sizeof *ape);
    if (!ape)
        return;
    for (size_t i = 0; i < n; i++) {
        ape[i] = lf_fit_ape(&res->dev, &pts[i]);
        if (ape[i] > res->max_ape)
            res->max_ape = ape[i];
    }
    gsl_sort(ape, 1, n);
    res->mdape = n ? gsl_stats_median_from_sorted_data(ape, 1, n) : 0;
    free(ape);
}

/* The model's throughput at quarter-octave chunk sizes from 4 KiB to 1 MiB, for every
 * thread count of the probe: the curves of figure 2b. */
static int write_curves(const lf_device *d, const lf_fit_point *pts, size_t n, const char *path,
                        lf_err *err)
{
    lf_atomic a;
    int rc = lf_atomic_open(&a, path, err);
    if (rc)
        return rc;
    fprintf(a.f, "chunk,threads,mb_s\n");
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= pts[j].threads == pts[i].threads;
        if (seen)
            continue;
        for (int q = 0; q <= 32; q++) {
            uint64_t chunk = (uint64_t)llround(4096.0 * pow(2.0, q / 4.0));
            fprintf(a.f, "%llu,%u,%.3f\n", (unsigned long long)chunk, pts[i].threads,
                    lf_flash_throughput(d, chunk, pts[i].threads) / 1e6);
        }
    }
    return lf_atomic_commit(&a, err);
}

int cmd_fit(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"engine", required_argument, 0, 'e'},
                                         {"base", required_argument, 0, 'b'},
                                         {"name", required_argument, 0, 'n'},
                                         {"p", required_argument, 0, 'p'},
                                         {"depth-loss", required_argument, 0, 'q'},
                                         {"profile", required_argument, 0, 'P'},
                                         {"curves", required_argument, 0, 'C'},
                                         {"holdout", no_argument, 0, 'H'},
                                         {"max-error", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *engine = NULL, *base_path = NULL, *name = NULL;
    const char *profile = NULL, *curves = NULL;
    double fixed_p = -1, fixed_loss = -1, max_error = LF_FIT_MAX_MDAPE;
    int c, holdout = 0;
    lf_cli_reset_getopt();
    while ((c = lf_cli_getopt("fit", argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'e': engine = optarg; break;
        case 'b': base_path = optarg; break;
        case 'n': name = optarg; break;
        case 'p':
            /* lf_cli_double refuses '', 'inf' and 'nan', which strtod took */
            if (lf_cli_double("fit", "--p", optarg, 0, 1e6, &fixed_p))
                return LF_EXIT_USAGE;
            if (fixed_p != 0 && fixed_p < 1)
                return lf_cli_usage("fit", "--p '%s' must be 0 (hard max) or a number >= 1",
                                    optarg);
            break;
        case 'q':
            if (lf_cli_double("fit", "--depth-loss", optarg, 0, 1, &fixed_loss))
                return LF_EXIT_USAGE;
            break;
        case 'P': profile = optarg; break;
        case 'C': curves = optarg; break;
        case 'H': holdout = 1; break;
        case 'M':
            if (lf_cli_double("fit", "--max-error", optarg, 0, 1e9, &max_error))
                return LF_EXIT_USAGE;
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option("fit", argc, argv);
        }
    }
    if (optind + 1 != argc)
        return lf_cli_usage("fit", "expected exactly one probe CSV, got %d arguments",
                            argc - optind);
    const char *csv = argv[optind];
    lf_err err;
    const char *inputs[] = {csv, base_path, profile, NULL};
    if (!base_path) /* the list ends at the first NULL */
        inputs[1] = profile, inputs[2] = NULL;
    if (lf_fs_refuse_same(out, inputs, &err) || lf_fs_refuse_same(curves, inputs, &err) ||
        (out && curves && lf_fs_same_file(out, curves) &&
         lf_fail(&err, LF_EINVAL, "-o and --curves name the same file %s", out)))
        return lf_cli_error("fit", &err);
    lf_device base;
    char base_found[4096], prof_found[4096];
    if (base_path && lf_cli_device_resolve("fit", base_path, base_found, sizeof base_found))
        return LF_EXIT_FAIL;
    if (profile && lf_cli_device_resolve("fit", profile, prof_found, sizeof prof_found))
        return LF_EXIT_FAIL;
    if (base_path)
        base_path = base_found;
    if (profile)
        profile = prof_found;
    if (base_path) {
        if (lf_device_load(base_path, &base, &err) != LF_OK)
            return lf_cli_error("fit", &err);
    } else {
        lf_fit_unmeasured_defaults(&base);
    }
    lf_fit_point *pts;
    size_t n;
    if (lf_fit_read_probe(csv, engine, &pts, &n, &err) != LF_OK)
        return lf_cli_error("fit", &err);
    if (profile && (out || base_path))
        return free(pts), lf_cli_usage("fit", "--profile compares a given profile: no -o or --base");
    lf_fit_result res;
    if (holdout) {
        if (profile || out)
            return free(pts), lf_cli_usage("fit", "--holdout checks the model: no -o or --profile");
        double md[2], mx[2];
        size_t nf = 0, nh = 0;
        for (int half = 0; half < 2; half++) {
            if (lf_fit_holdout(pts, n, &base, fixed_p, fixed_loss, half, &res, &md[half],
                               &mx[half], &nf, &nh, &err) != LF_OK) {
                free(pts);
                return lf_cli_error("fit", &err);
            }
            printf("hold-out %d: fitted on %zu points (MdAPE %.2f%%), predicted the other %zu: "
                   "MdAPE %.2f%% (target <= 8%%)%s, max %.1f%%\n", half + 1, nf, res.mdape, nh,
                   md[half], md[half] > 8.0 ? " MISSED" : "", mx[half]);
        }
        free(pts);
        return LF_EXIT_OK;
    }
    if (profile) {
        memset(&res, 0, sizeof res);
        if (lf_device_load(profile, &res.dev, &err) != LF_OK) {
            free(pts);
            return lf_cli_error("fit", &err);
        }
        summarise_errors(&res, pts, n);
    } else if (lf_fit_flash(pts, n, &base, fixed_p, fixed_loss, &res, &err) != LF_OK) {
        free(pts);
        return lf_cli_error("fit", &err);
    }
    printf("%10s %8s %6s %7s %12s %12s %8s\n", "chunk", "threads", "batch", "gap_ms", "measured",
           "predicted", "APE%");
    for (size_t i = 0; i < n; i++)
        printf("%10llu %8u %6u %7.3g %12.1f %12.1f %8.1f\n", (unsigned long long)pts[i].chunk,
               pts[i].threads, pts[i].batch, pts[i].gap_s * 1e3, pts[i].bw / 1e6,
               lf_fit_predict(&res.dev, &pts[i]) / 1e6, lf_fit_ape(&res.dev, &pts[i]));
    const lf_device *d = &res.dev;
    const char *label = profile ? "profile" : "fit";
    printf("%s: L = %.1f us, b = %.1f MB/s, B = %.1f MB/s, IOPS = %.0f, p = %.3g, depth loss "
           "%.3f; a batch +%.1f us + %.1f us per slot, its reads x%.3f (after %g ms of "
           "compute)\n",
           label, d->flash_latency_s * 1e6, d->flash_stream_bw / 1e6, d->flash_max_bw / 1e6,
           d->flash_max_iops, d->flash_smooth_p, d->flash_depth_loss, d->flash_batch_s * 1e6,
           d->flash_slot_s * 1e6, 1 + d->flash_batch_loss, d->flash_batch_gap_s * 1e3);
    if (d->flash_batch2_gap_s > 0)
        printf("%s: after %g ms of compute a batch +%.1f us + %.1f us per slot, its reads x%.3f "
               "(a batch between the two gaps: interpolated in log(gap))\n", label,
               d->flash_batch2_gap_s * 1e3, d->flash_batch2_s * 1e6, d->flash_slot2_s * 1e6,
               1 + d->flash_batch2_loss);
    if (profile)
        printf("profile: %zu points, median APE %.2f%%, max APE %.1f%%\n", n, res.mdape,
               res.max_ape);
    else
        printf("fit: %zu points, median APE %.2f%%, max APE %.1f%%, rms log error %.3f%s\n", n,
               res.mdape, res.max_ape, res.rms_log,
               res.status ? " (solver stopped before converging; best start kept)" : "");
    if (!profile && lf_fit_check_quality(&res, max_error, csv, &err) != LF_OK) {
        free(pts);
        return lf_cli_error("fit", &err);
    }
    if (curves && write_curves(&res.dev, pts, n, curves, &err) != LF_OK) {
        free(pts);
        return lf_cli_error("fit", &err);
    }
    free(pts);
    if (!out)
        return LF_EXIT_OK;
    if (name)
        snprintf(res.dev.name, sizeof res.dev.name, "%s", name);
    else
        lf_device_name_from_path(out, res.dev.name, sizeof res.dev.name);
    char sha[65] = "?", prov[2048], flash_src[1200], other_src[1200];
    lf_sha256_file(csv, sha, NULL);
    snprintf(prov, sizeof prov,
             "Device profile written by llmflash fit (costmodel/README.md).\n"
             "Flash keys fitted to %s (sha256 %.16s..., %zu points%s%s):\n"
             "median APE %.2f%%, max APE %.1f%%.\n"
             "Other keys: %s.",
             csv, sha, n, engine ? ", engine " : "", engine ? engine : "", res.mdape, res.max_ape,
             base_path ? "copied from the base profile" : "NOT MEASURED placeholders");
    snprintf(flash_src, sizeof flash_src, "fitted by llmflash fit to %s", csv);
    if (base_path)
        snprintf(other_src, sizeof other_src, "from base profile %s", base_path);
    else
        snprintf(other_src, sizeof other_src,
                 "NOT MEASURED: placeholder; run llmflash calibrate or give --base");
    lf_device_sources src = {flash_src, other_src, other_src, other_src};
    if (lf_device_save_sourced(&res.dev, out, prov, &src, &err) != LF_OK)
        return lf_cli_error("fit", &err);
    fprintf(stderr, "fit: wrote %s\n", out);
    return LF_EXIT_OK;
}
