/* llmflash fit: fit the flash model to a probe CSV and write a device profile. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_device.h"
#include "lf_fit.h"
#include "lf_fs.h"

static void help(void)
{
    printf(
        "usage: llmflash fit PROBE.csv [-o NAME.conf] [options]\n"
        "\n"
        "Fits the flash model (latency L, per-stream bandwidth b, device bandwidth B, IOPS\n"
        "cap and the p-norm exponent p; costmodel/README.md) to the throughput a probe\n"
        "measured, with GSL nonlinear least squares on log(predicted/measured). Prints\n"
        "measured vs predicted MB/s per point and the median absolute percentage error\n"
        "(MdAPE), and writes a complete device profile to -o.\n"
        "\n"
        "options:\n"
        "  -o, --output FILE  profile to write (atomically); without it, only print\n"
        "  --engine NAME      use the CSV's rows of this engine (needed if it has several)\n"
        "  --base PROFILE     take the DRAM, page-cache and compute keys from PROFILE;\n"
        "                     without it they are placeholders marked NOT MEASURED\n"
        "  --name NAME        profile name (default: the output's base name)\n"
        "  --p P              fix the exponent: 0 = hard max, or >= 1 (default: fitted)\n"
        "\n"
        "example:\n"
        "  llmflash probe --file /var/tmp/probe.bin -o probe.csv\n"
        "  llmflash fit probe.csv --base costmodel/devices/m1max.conf -o costmodel/devices/here.conf\n");
}

static void name_from(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    snprintf(out, cap, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

int cmd_fit(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"engine", required_argument, 0, 'e'},
                                         {"base", required_argument, 0, 'b'},
                                         {"name", required_argument, 0, 'n'},
                                         {"p", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *engine = NULL, *base_path = NULL, *name = NULL;
    double fixed_p = -1;
    int c;
    lf_cli_reset_getopt();
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': out = optarg; break;
        case 'e': engine = optarg; break;
        case 'b': base_path = optarg; break;
        case 'n': name = optarg; break;
        case 'p':
            fixed_p = strtod(optarg, &end);
            if (*end || (fixed_p != 0 && !(fixed_p >= 1)))
                return lf_cli_usage("fit", "--p '%s' must be 0 (hard max) or a number >= 1",
                                    optarg);
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
    lf_device base;
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
    lf_fit_result res;
    if (lf_fit_flash(pts, n, &base, fixed_p, &res, &err) != LF_OK) {
        free(pts);
        return lf_cli_error("fit", &err);
    }
    printf("%10s %8s %12s %12s %8s\n", "chunk", "threads", "measured", "predicted", "APE%");
    for (size_t i = 0; i < n; i++)
        printf("%10llu %8u %12.1f %12.1f %8.1f\n", (unsigned long long)pts[i].chunk,
               pts[i].threads, pts[i].bw / 1e6,
               lf_flash_throughput(&res.dev, pts[i].chunk, pts[i].threads) / 1e6,
               lf_fit_ape(&res.dev, &pts[i]));
    const lf_device *d = &res.dev;
    printf("fit: L = %.1f us, b = %.1f MB/s, B = %.1f MB/s, IOPS = %.0f, p = %.3g\n",
           d->flash_latency_s * 1e6, d->flash_stream_bw / 1e6, d->flash_max_bw / 1e6,
           d->flash_max_iops, d->flash_smooth_p);
    printf("fit: %zu points, median APE %.2f%%, max APE %.1f%%, rms log error %.3f%s\n", n,
           res.mdape, res.max_ape, res.rms_log,
           res.status ? " (solver stopped before converging; best start kept)" : "");
    free(pts);
    if (!out)
        return LF_EXIT_OK;
    if (name)
        snprintf(res.dev.name, sizeof res.dev.name, "%s", name);
    else
        name_from(out, res.dev.name, sizeof res.dev.name);
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
