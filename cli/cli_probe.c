/* The probe options shared by `llmflash probe` and `llmflash calibrate`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lf_cgroup.h"
#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_cli_probe.h"
#include "lf_io.h"
#include "lf_kv.h"

void lf_cli_probe_init(lf_cli_probe *p)
{
    memset(p, 0, sizeof *p);
    p->o.size = 2ull << 30;
    p->o.engine = "psync";
    p->o.seconds = 0.4;
    p->o.repeats = 3;
    p->o.seed = 1;
    p->o.footprint = LF_PROBE_FOOTPRINT;
    p->chunks_s = "4k,16k,32k,64k,256k,1m";
    p->threads_s = "1,4,8,16,32";
    p->mech = LF_PCACHE_AUTO;
    p->mechanism = "";
}

int lf_cli_probe_option(lf_cli_probe *p, const char *cmd, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case 'f': p->o.path = arg; return 1;
    case 'c': p->chunks_s = arg; return 1;
    case 't': p->threads_s = arg; return 1;
    case 'e': p->o.engine = arg; return 1;
    case 'M': p->mechanism_s = arg; return 1;
    case 's':
        p->size_given = 1;
        return lf_cli_size(cmd, "--size", arg, 1, UINT64_MAX, &p->o.size) ? -1 : 1;
    case 'F':
        return lf_cli_size(cmd, "--footprint", arg, 0, LF_DEVICE_MAX_FOOTPRINT, &p->o.footprint)
                   ? -1
                   : 1;
    case 'S':
        return lf_cli_double(cmd, "--seconds", arg, 1e-3, 3600, &p->o.seconds) ? -1 : 1;
    case 'R':
        if (lf_cli_u64(cmd, "--repeats", arg, 1, 100, &v))
            return -1;
        p->o.repeats = (uint32_t)v;
        return 1;
    case 'N': p->batches_s = arg; return 1;
    case 'r':
        return lf_cli_u64(cmd, "--seed", arg, 0, UINT64_MAX, &p->o.seed) ? -1 : 1;
    case 'G': { /* one amount or two */
        double *ms;
        size_t k;
        if (lf_cli_double_list(cmd, "--batch-gap", arg, 0, 1000, &ms, &k))
            return -1;
        int ok = k <= LF_PROBE_MAX_GAPS && (k < 2 || ms[0] != ms[1]);
        for (size_t i = 0; ok && i < k; i++)
            p->o.batch_gaps[i] = ms[i] / 1e3;
        p->o.n_batch_gaps = ok ? k : 0;
        free(ms);
        if (!ok) {
            lf_cli_usage(cmd, "--batch-gap '%s': one amount of milliseconds or two unlike ones "
                         "(e.g. 5 or 0.25,5)", arg);
            return -1;
        }
        return 1;
    }
    default: return 0;
    }
}

int lf_cli_probe_finish(lf_cli_probe *p, const char *cmd)
{
    lf_err err;
    if (!p->o.path)
        return lf_cli_usage(cmd, "--file PATH is required");
    uint64_t *v;
    size_t n;
    if (lf_parse_size_list(p->chunks_s, &v, &n, &err) != LF_OK)
        return lf_cli_usage(cmd, "--chunks: %s", err.msg);
    p->o.chunks = v;
    p->o.n_chunks = n;
    if (lf_parse_size_list(p->threads_s, &v, &n, &err) != LF_OK)
        return lf_cli_usage(cmd, "--threads: %s", err.msg);
    p->o.threads = v;
    p->o.n_threads = n;
    if (p->batches_s) {
        if (lf_parse_size_list(p->batches_s, &v, &n, &err) != LF_OK)
            return lf_cli_usage(cmd, "--batch: %s", err.msg);
        p->o.batches = v;
        p->o.n_batches = n;
    }
    /* --size makes a new test file; an existing one is read as it is, so a size that
     * differs from it would be silently ignored */
    struct stat st;
    if (p->size_given && stat(p->o.path, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size != p->o.size)
        return lf_cli_usage(cmd, "--file %s exists with %llu bytes but --size asks for %llu: "
                            "an existing test file is read as it is; remove it to make a new "
                            "one, or drop --size", p->o.path, (unsigned long long)st.st_size,
                            (unsigned long long)p->o.size);
    /* the ranges now, before a test file or a cgroup is made */
    if (lf_probe_check_grid(&p->o, &err) != LF_OK)
        return lf_cli_usage(cmd, "--%s", err.msg);
    if (p->mechanism_s && lf_pcache_mech_parse(p->mechanism_s, &p->mech, &err) != LF_OK)
        return lf_cli_usage(cmd, "--pagecache-mechanism: %s", err.msg);
    return 0;
}

int lf_cli_probe_hold(lf_cli_probe *p, const char *cmd)
{
    lf_err err;
    const lf_io_ops *ops;
    lf_pcache_mech mech = p->mech;
    if (lf_io_engine(p->o.engine, &ops, &err) != LF_OK)
        return lf_cli_error(cmd, &err);
    if (ops->caps & (LF_IO_CAP_DIRECT | LF_IO_CAP_NODEVICE)) {
        if (p->mechanism_s)
            return lf_cli_usage(cmd, "--pagecache-mechanism: the %s engine bypasses the page "
                                "cache; it applies to --engine buffered", p->o.engine);
        return 0;
    }
    /* a cgroup is tried before the test file is made (minutes for a large one) and made
     * again once it exists: the file's writing is not held */
    lf_cgroup *g = NULL;
    if (mech != LF_PCACHE_FADVISE) {
        lf_err why;
        if (lf_cgroup_open(0, &g, &why) != LF_OK) {
            if (mech == LF_PCACHE_CGROUP) {
                fprintf(stderr, "llmflash %s: %s\n  (--pagecache-mechanism fadvise needs no "
                        "cgroup)\n", cmd, why.msg);
                return LF_EXIT_FAIL;
            }
            fprintf(stderr, "%s: --pagecache-mechanism auto: fadvise; %s\n", cmd, why.msg);
            mech = LF_PCACHE_FADVISE;
        } else if (lf_cgroup_close(g, &err) != LF_OK) {
            return lf_cli_error(cmd, &err);
        }
    }
    int created;
    uint64_t size, most = 0;
    if (lf_probe_check_new_file(&p->o, &err) != LF_OK ||
        lf_probe_prepare_file(p->o.path, p->o.size, p->o.seed, &created, &size, &err) != LF_OK)
        return lf_cli_error(cmd, &err);
    if (mech == LF_PCACHE_FADVISE) {
        p->o.drop_reads = 1;
        p->mechanism = "fadvise";
        return 0;
    }
    if (lf_cgroup_open(0, &g, &err) != LF_OK)
        return lf_cli_error(cmd, &err);
    p->o.cgroup = g;
    p->mechanism = "cgroup";
    for (size_t i = 0; i < p->o.n_chunks; i++)
        for (size_t j = 0; j < p->o.n_threads; j++)
            if (p->o.chunks[i] * p->o.threads[j] > most)
                most = p->o.chunks[i] * p->o.threads[j];
    uint64_t held = lf_cgroup_floor(most) + lf_cgroup_slack();
    fprintf(stderr, "%s: page cache held by cgroup v%d %s: limit = its non-file charge + twice "
            "a point's reads in flight (chunk x threads, at least %llu MiB) + %llu MiB, fitted "
            "before every point; the kernel reclaims\n", cmd, lf_cgroup_version(g),
            lf_cgroup_path(g), (unsigned long long)(LF_CGROUP_FLOOR >> 20),
            (unsigned long long)(LF_CGROUP_ROOM >> 20));
    if (size > 0 && held * 20 > size)
        fprintf(stderr, "%s: warning: the page cache may hold %.0f MiB, %.0f%% of %s: up to "
                "that share of the reads may hit; a larger test file (a new --file with a "
                "larger --size) lowers it\n", cmd, held / 1048576.0, 100.0 * held / size,
                p->o.path);
    return 0;
}

void lf_cli_probe_release(lf_cli_probe *p)
{
    if (!p->o.cgroup)
        return;
    /* the pages read are charged to the cgroup: drop them first (lf_cgroup.h) */
    lf_probe_drop_cache(p->o.path);
    lf_err err;
    if (lf_cgroup_close(p->o.cgroup, &err) != LF_OK)
        fprintf(stderr, "warning: %s\n", err.msg);
    p->o.cgroup = NULL;
}

void lf_cli_probe_free(lf_cli_probe *p)
{
    lf_cli_probe_release(p);
    free((void *)p->o.chunks);
    free((void *)p->o.threads);
    free((void *)p->o.batches);
    p->o.chunks = p->o.threads = p->o.batches = NULL;
    p->o.n_batches = 0;
}
