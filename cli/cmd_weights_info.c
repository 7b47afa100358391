/* llmflash weights info: prints a weights file's header after checking it (magic,
 * checksum, sizes), and optionally that it fits a trace and has the values it should. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_quant.h"
#include "lf_weights.h"

static const char *CMD = "weights info";

static void help(void)
{
    printf("usage: llmflash weights info PATH [--trace T.h5] [--verify N]\n\n"
           "Checks a weights file (magic, version, header checksum, field consistency, size)\n"
           "and prints its header. With --trace, also checks that it fits the trace's shape\n"
           "and lists every difference. With --verify N, re-reads N records spread over the\n"
           "file and compares them with the values the seed generates.\n\n"
           "options:\n"
           "  -t, --trace T.h5   check the file against this trace\n"
           "  -v, --verify N     compare N records with the generator (default 0)\n"
           "  -h, --help         this text\n\n"
           "example:\n"
           "  llmflash weights info /var/tmp/opt-1.3b.w --trace opt-1.3b.h5 --verify 16\n");
}

/* Re-reads n records (first unit of evenly spaced layers/units) and compares. */
static int verify(const lf_weights *w, uint32_t n, lf_err *err)
{
    const lf_weights_header *h = &w->h;
    FILE *f = fopen(w->path, "rb");
    if (!f)
        return lf_fail(err, LF_EIO, "%s: cannot open", w->path);
    uint64_t elems = lf_weights_elems(h);
    float *want = malloc(sizeof(float) * elems), *have = malloc(sizeof(float) * elems);
    unsigned char *rec = malloc(h->record_bytes);
    lf_extent_vec ev = {0};
    int rc = want && have && rec ? LF_OK : lf_fail(err, LF_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n && !rc; i++) {
        uint32_t layer = (uint32_t)((uint64_t)i * h->n_layers / n);
        uint32_t unit = (uint32_t)(((uint64_t)i * 7919u) % h->units);
        ev.n = 0;
        if ((rc = lf_layout_extents(&w->layout, layer, &unit, 1, &ev, err)))
            break;
        const lf_extent *e = &ev.v[0];
        if (fseeko(f, (off_t)e->offset, SEEK_SET) || fread(rec, 1, e->length, f) != e->length) {
            rc = lf_fail(err, LF_EIO, "%s: cannot read the record at %llu", w->path,
                         (unsigned long long)e->offset);
            break;
        }
        uint32_t part = e->part == LF_PART_ALL ? 0 : e->part;
        lf_weights_values(h, layer, unit, part, want);
        lf_quant_unpack(h->dtype, rec, elems, have);
        for (uint64_t k = 0; k < elems; k++) {
            float got = have[k];
            if (got != want[k]) {
                /* seed 0 is what `weights make --checkpoint` records: values that are a
                 * real model's, which the generator does not reproduce */
                rc = lf_fail(err, LF_EFORMAT, "%s: layer %u unit %u element %llu is %g, the seed "
                             "gives %g: the data is damaged; remake the file%s", w->path, layer,
                             unit, (unsigned long long)k, got, want[k],
                             h->seed ? "" : " (or, if it was made with --checkpoint, its values "
                             "are the checkpoint's: --verify checks only seeded files)");
                break;
            }
        }
    }
    lf_extent_vec_free(&ev);
    free(want);
    free(have);
    free(rec);
    fclose(f);
    return rc;
}

int cmd_weights_info(int argc, char **argv)
{
    static const struct option opts[] = {{"trace", required_argument, 0, 't'},
                                         {"verify", required_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *trace = NULL;
    uint64_t n_verify = 0;
    int c;
    while ((c = lf_cli_getopt(CMD, argc, argv, ":t:v:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trace = optarg; break;
        case 'v':
            if (lf_cli_u64(CMD, "--verify", optarg, 0, 1000000, &n_verify))
                return LF_EXIT_USAGE;
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
    }
    if (optind + 1 != argc)
        return lf_cli_usage(CMD, "expected one weights file");
    lf_err err;
    lf_weights w;
    if (lf_weights_open(argv[optind], &w, &err))
        return lf_cli_error(CMD, &err);
    char text[2048];
    lf_weights_describe(&w, text, sizeof text);
    fputs(text, stdout);
    int rc = LF_OK;
    if (trace) {
        lf_trace t;
        if ((rc = lf_trace_read(trace, &t, &err)) == LF_OK) {
            rc = lf_weights_check_trace(&w, &t, &err);
            lf_trace_free(&t);
            if (!rc)
                printf("trace         %s fits\n", trace);
        }
    }
    if (!rc && n_verify) {
        rc = verify(&w, (uint32_t)n_verify, &err);
        if (!rc)
            printf("verified      %lu records match the seed\n", (unsigned long)n_verify);
    }
    lf_weights_close(&w);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
