/* lf_device: device profiles (load, check, save) and the cost models that price work
 * on them: flash (three bounds joined by a p-norm), DRAM copies, allocations, the
 * compute roofline and the page-cache tier. Formulas: costmodel/README.md. */
#include "lf_device.h"

#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_fs.h"
#include "lf_kv.h"

/* ---- profile keys ---- */

/* the widths the ffn_bw_* and dense_bw_* keys below name, in the same order */
const uint32_t lf_ffn_bw_widths[LF_FFN_BW_WIDTHS] = {1024, 2048, 3072, 4096, 5120, 8192};

typedef enum { G_FLASH, G_PAGECACHE, G_DRAM, G_COMPUTE } group;

typedef struct {
    const char *key;
    size_t off;      /* offset of the double in lf_device */
    int required;
    int positive;    /* must be > 0 (else >= 0) */
    group grp;
    const char *unit;
} key_info;

#define F(field) offsetof(lf_device, field)
static const key_info keys[] = {
    {"flash_latency_s", F(flash_latency_s), 1, 0, G_FLASH, "s, latency to first byte of one read"},
    {"flash_stream_bw", F(flash_stream_bw), 1, 1, G_FLASH, "bytes/s of one read stream"},
    {"flash_max_bw", F(flash_max_bw), 1, 1, G_FLASH, "bytes/s, whole device"},
    {"flash_max_iops", F(flash_max_iops), 1, 1, G_FLASH, "reads/s, whole device"},
    {"flash_smooth_p", F(flash_smooth_p), 0, 0, G_FLASH, "p-norm of the three bounds; 0 = max"},
    {"flash_depth_loss", F(flash_depth_loss), 0, 0, G_FLASH,
     "m reads in flight serve as m^(1 - this) streams; 0 = m"},
    {"flash_batch_s", F(flash_batch_s), 0, 0, G_FLASH, "s per batch of reads waited for whole"},
    {"flash_slot_s", F(flash_slot_s), 0, 0, G_FLASH, "s per read slot a batch wakes"},
    {"flash_batch_loss", F(flash_batch_loss), 0, 0, G_FLASH,
     "a batch's reads take the stream's time x (1 + this); 0 = the stream's"},
    {"flash_fit_batch", F(flash_fit_batch), 0, 0, G_FLASH,
     "reads per batch the flash keys were fitted on; 0 = a steady stream"},
    {"flash_footprint", F(flash_footprint), 0, 0, G_FLASH,
     "bytes of memory the probe's reads landed in; 0 = a buffer per read in flight"},
    {"flash_batch_gap_s", F(flash_batch_gap_s), 0, 0, G_FLASH,
     "s of compute before each probed batch the batch keys were fitted on; 0 = back to back "
     "or not recorded"},
    {"flash_batch2_gap_s", F(flash_batch2_gap_s), 0, 0, G_FLASH,
     "s of compute before the batches of the second condition; 0 = one condition only"},
    {"flash_batch2_s", F(flash_batch2_s), 0, 0, G_FLASH,
     "s per batch after flash_batch2_gap_s of compute"},
    {"flash_slot2_s", F(flash_slot2_s), 0, 0, G_FLASH,
     "s per read slot a batch after flash_batch2_gap_s wakes"},
    {"flash_batch2_loss", F(flash_batch2_loss), 0, 0, G_FLASH,
     "a batch's reads after flash_batch2_gap_s take the stream's time x (1 + this)"},
    {"flash_fit_min_chunk", F(flash_fit_min_chunk), 0, 0, G_FLASH,
     "bytes, the smallest read the flash keys were fitted on; 0 = not recorded"},
    {"flash_fit_max_chunk", F(flash_fit_max_chunk), 0, 0, G_FLASH,
     "bytes, the largest read the flash keys were fitted on; 0 = not recorded"},
    {"flash_fit_min_depth", F(flash_fit_min_depth), 0, 0, G_FLASH,
     "the fewest reads in flight the flash keys were fitted on; 0 = not recorded"},
    {"flash_fit_max_depth", F(flash_fit_max_depth), 0, 0, G_FLASH,
     "the most reads in flight the flash keys were fitted on; 0 = not recorded"},
    {"flash_buffered", F(flash_buffered), 0, 0, G_FLASH,
     "0: O_DIRECT; 2/3: through the page cache, misses held by a memory cgroup/fadvise"},
    {"pagecache_bw", F(pagecache_bw), 0, 0, G_PAGECACHE, "bytes/s of a page-cache hit; 0 = off"},
    {"pagecache_latency_s", F(pagecache_latency_s), 0, 0, G_PAGECACHE, "s per page-cache hit"},
    {"dram_copy_bw", F(dram_copy_bw), 1, 1, G_DRAM, "bytes/s of DRAM-manager row copies"},
    {"dram_op_s", F(dram_op_s), 1, 0, G_DRAM, "s, fixed cost of one copy/insert"},
    {"dram_alloc_s", F(dram_alloc_s), 0, 0, G_DRAM, "s, fixed cost of one allocation"},
    {"dram_fault_s", F(dram_fault_s), 0, 0, G_DRAM, "s per 4 KiB page of a fresh allocation"},
    {"compute_flops", F(compute_flops), 1, 1, G_COMPUTE, "flop/s (a multiply-add is 2)"},
    {"mem_bw", F(mem_bw), 1, 1, G_COMPUTE, "bytes/s streamed by compute"},
    {"dense_bw", F(dense_bw), 0, 0, G_COMPUTE, "bytes/s of the resident part's dense products; 0 = mem_bw"},
    {"ffn_row_gap_s", F(ffn_row_gap_s), 0, 0, G_COMPUTE,
     "s per FFN row with padding after it (the prefetcher starts over); 0 = not measured"},
#define FFN_BW(act, i, width)                                                                 \
    {"ffn_bw_" #act "_" #width, F(ffn_bw_##act[i]), 0, 0, G_COMPUTE,                          \
     "bytes/s of the FFN kernel on " #act " rows of d_model " #width "; 0 = not measured"}
    FFN_BW(relu, 0, 1024), FFN_BW(relu, 1, 2048), FFN_BW(relu, 2, 3072),
    FFN_BW(relu, 3, 4096), FFN_BW(relu, 4, 5120), FFN_BW(relu, 5, 8192),
    FFN_BW(swiglu, 0, 1024), FFN_BW(swiglu, 1, 2048), FFN_BW(swiglu, 2, 3072),
    FFN_BW(swiglu, 3, 4096), FFN_BW(swiglu, 4, 5120), FFN_BW(swiglu, 5, 8192),
#undef FFN_BW
#define DENSE_BW(i, width)                                                                    \
    {"dense_bw_" #width, F(dense_bw_cols[i]), 0, 0, G_COMPUTE,                                 \
     "bytes/s of the dense products over " #width " columns; 0 = not measured"}
    DENSE_BW(0, 1024), DENSE_BW(1, 2048), DENSE_BW(2, 3072),
    DENSE_BW(3, 4096), DENSE_BW(4, 5120), DENSE_BW(5, 8192),
#undef DENSE_BW
    {"expert_wps_16", F(expert_wps_16), 0, 0, G_COMPUTE, "expert weights/s, fp16 kernel; 0 = roofline"},
    {"expert_wps_8", F(expert_wps_8), 0, 0, G_COMPUTE, "expert weights/s, int8 kernel; 0 = roofline"},
    {"expert_wps_4", F(expert_wps_4), 0, 0, G_COMPUTE, "expert weights/s, 4-bit kernel; 0 = roofline"},
    {"expert_wps_2", F(expert_wps_2), 0, 0, G_COMPUTE, "expert weights/s, 2-bit kernel; 0 = roofline"},
    {"compute_stall", F(compute_stall), 0, 0, G_COMPUTE,
     "a kernel's mean time over its median round's, already in the rates above; 0 = not measured"},
};
#undef F
#define N_KEYS (sizeof keys / sizeof keys[0])

static double *field(lf_device *d, const key_info *k)
{
    return (double *)((char *)d + k->off);
}

static double cfield(const lf_device *d, const key_info *k)
{
    return *(const double *)((const char *)d + k->off);
}

/* A rate key (bytes, reads, flops or weights per second) or a time key (seconds). */
static int is_rate(const key_info *k)
{
    return strstr(k->key, "_bw") || strstr(k->key, "_iops") || strstr(k->key, "_flops") ||
           strstr(k->key, "_wps");
}

static int is_time(const key_info *k)
{
    size_t n = strlen(k->key);
    return n > 2 && strcmp(k->key + n - 2, "_s") == 0;
}

static int check_value(const key_info *k, double v, const char *where, lf_err *err)
{
    if (k->positive ? !(v > 0) : !(v >= 0))
        return lf_fail(err, LF_ERANGE, "%s: %s = %g must be %s (%s)", where, k->key, v,
                       k->positive ? "> 0" : ">= 0", k->unit);
    /* finite and of a plausible order: a rate below 1 per second or a time of hours
     * prices a token at years and writes inf into the results */
    if (!isfinite(v) || (is_rate(k) && v > 0 && v < 1) || (is_time(k) && v > 3600))
        return lf_fail(err, LF_ERANGE, "%s: %s = %g is out of range (%s): %s", where, k->key, v,
                       k->unit, !isfinite(v) ? "give a finite number"
                       : is_rate(k) ? "a rate is at least 1 per second (0: not measured, where "
                                      "allowed)"
                                    : "a time is at most 3600 s");
    if (strcmp(k->key, "flash_buffered") == 0 && v == 1)
        return lf_fail(err, LF_ERANGE, "%s: flash_buffered = 1: measured by an older calibrate "
                       "whose buffered probe let reads hit the page cache (too fast); remake it "
                       "with llmflash calibrate --engine buffered", where);
    if (strcmp(k->key, "flash_buffered") == 0 && v != 0 && v != LF_BUFFERED_CGROUP &&
        v != LF_BUFFERED_FADVISE)
        return lf_fail(err, LF_ERANGE, "%s: flash_buffered = %g must be 0 (O_DIRECT), %d "
                       "(through the page cache, misses held by a memory cgroup) or %d (by "
                       "fadvise)", where, v, LF_BUFFERED_CGROUP, LF_BUFFERED_FADVISE);
    if (strcmp(k->key, "flash_fit_batch") == 0 && (v != floor(v) || v > 65536))
        return lf_fail(err, LF_ERANGE, "%s: flash_fit_batch = %g must be a whole number of "
                       "reads, 0..65536 (0: the keys describe a steady stream)", where, v);
    if (strncmp(k->key, "flash_fit_m", 11) == 0 &&
        (v != floor(v) || v > (strstr(k->key, "chunk") ? 0x1p40 : 65536)))
        return lf_fail(err, LF_ERANGE, "%s: %s = %g must be a whole number, 0..%s (0: not "
                       "recorded)", where, k->key, v, strstr(k->key, "chunk") ? "2^40 bytes" : "65536");
    if (strcmp(k->key, "flash_footprint") == 0 &&
        (v != floor(v) || v > (double)LF_DEVICE_MAX_FOOTPRINT))
        return lf_fail(err, LF_ERANGE, "%s: flash_footprint = %g must be a whole number of "
                       "bytes, 0..%llu GiB (what probe --footprint takes)", where, v,
                       (unsigned long long)(LF_DEVICE_MAX_FOOTPRINT >> 30));
    if (strstr(k->key, "_gap_s") && strncmp(k->key, "flash_batch", 11) == 0 && v > 10)
        return lf_fail(err, LF_ERANGE, "%s: %s = %g must be in [0, 10] seconds (the compute "
                       "before each probed batch)", where, k->key, v);
    if (strcmp(k->key, "flash_depth_loss") == 0 && v > 1)
        return lf_fail(err, LF_ERANGE, "%s: flash_depth_loss = %g must be in [0, 1] (0: m reads "
                       "in flight serve as m streams, 1: as one)", where, v);
    if (strstr(k->key, "_loss") && strncmp(k->key, "flash_batch", 11) == 0 &&
        v > LF_DEVICE_MAX_BATCH_LOSS)
        return lf_fail(err, LF_ERANGE, "%s: %s = %g must be in [0, %g] (0: a batch's reads as "
                       "fast as a steady stream's, 1: twice as slow)", where, k->key, v,
                       (double)LF_DEVICE_MAX_BATCH_LOSS);
    if (strcmp(k->key, "flash_smooth_p") == 0 && v != 0 && v < 1)
        return lf_fail(err, LF_ERANGE,
                       "%s: flash_smooth_p = %g must be 0 (hard max) or at least 1", where, v);
    return LF_OK;
}

/* The checks between keys (each key's own: check_value). */
static int check_together(const lf_device *d, const char *where, lf_err *err)
{
    if ((d->flash_fit_min_chunk > 0 && d->flash_fit_min_chunk > d->flash_fit_max_chunk) ||
        (d->flash_fit_min_depth > 0 && d->flash_fit_min_depth > d->flash_fit_max_depth))
        return lf_fail(err, LF_ERANGE, "%s: flash_fit_min_chunk/max_chunk = %g/%g and "
                       "flash_fit_min_depth/max_depth = %g/%g: each minimum must not exceed "
                       "its maximum (or set both to 0: not recorded)", where, d->flash_fit_min_chunk,
                       d->flash_fit_max_chunk, d->flash_fit_min_depth, d->flash_fit_max_depth);
    if (d->flash_batch2_gap_s > 0 &&
        !(d->flash_batch_gap_s > 0 && d->flash_batch2_gap_s != d->flash_batch_gap_s))
        return lf_fail(err, LF_ERANGE, "%s: flash_batch2_gap_s = %g needs flash_batch_gap_s "
                       "> 0 and unlike it (now %g): the two conditions are batches after two "
                       "amounts of compute (or set flash_batch2_gap_s = 0: one condition)",
                       where, d->flash_batch2_gap_s, d->flash_batch_gap_s);
    if (d->flash_batch2_gap_s == 0 &&
        (d->flash_batch2_s > 0 || d->flash_slot2_s > 0 || d->flash_batch2_loss > 0))
        return lf_fail(err, LF_ERANGE, "%s: flash_batch2_s, flash_slot2_s or flash_batch2_loss "
                       "set without flash_batch2_gap_s: say after how much compute their "
                       "batches were probed", where);
    return LF_OK;
}

int lf_device_check(const lf_device *d, const char *where, lf_err *err)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        int rc = check_value(&keys[i], cfield(d, &keys[i]), where, err);
        if (rc != LF_OK)
            return rc;
    }
    int rc = check_together(d, where, err);
    if (rc != LF_OK)
        return rc;
    if (d->flash_alignment == 0 || (d->flash_alignment & (d->flash_alignment - 1)))
        return lf_fail(err, LF_ERANGE, "%s: flash_alignment = %u must be a power of two", where,
                       d->flash_alignment);
    return LF_OK;
}

void lf_device_name_from_path(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strstr(out, ".conf");
    if (dot && dot[5] == '\0')
        *dot = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void lf_device_list_dir(const char *dir, char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = dir && *dir ? opendir(dir) : NULL;
    if (!d)
        return;
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".conf") && e->d_name[0] != '.' &&
            (names[n] = strndup(e->d_name, len - 5)))
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + len, cap - len, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < cap - len)
            len += (size_t)w;
        free(names[i]);
    }
}

int lf_device_find(const char *spec, const char *const *dirs, char *out, size_t cap,
                   lf_err *err)
{
    if (!spec || !*spec)
        return lf_fail(err, LF_EINVAL, "empty device profile: give a name (e.g. m1max) or a "
                                       "path (e.g. costmodel/devices/m1max.conf)");
    if (strchr(spec, '/') || lf_file_exists(spec)) {
        if (!lf_file_exists(spec))
            return lf_fail(err, LF_EIO, "device profile %s: no such file (give a path to a "
                                        ".conf file or a profile name such as m1max)", spec);
        snprintf(out, cap, "%s", spec);
        return LF_OK;
    }
    size_t sl = strlen(spec);
    int has_ext = sl > 5 && !strcmp(spec + sl - 5, ".conf");
    char tried[2048] = "", known[2048] = "";
    size_t tl = 0, kl = 0;
    for (size_t i = 0; dirs && dirs[i]; i++) {
        if (!dirs[i][0])
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s%s", dirs[i], spec, has_ext ? "" : ".conf");
        if (lf_file_exists(p)) {
            snprintf(out, cap, "%s", p);
            return LF_OK;
        }
        int w = snprintf(tried + tl, sizeof tried - tl, "%s%s", tl ? ", " : "", dirs[i]);
        if (w > 0 && (size_t)w < sizeof tried - tl)
            tl += (size_t)w;
        char names[1024];
        lf_device_list_dir(dirs[i], names, sizeof names);
        if (names[0] && !strstr(known, names)) {
            w = snprintf(known + kl, sizeof known - kl, "%s%s", kl ? ", " : "", names);
            if (w > 0 && (size_t)w < sizeof known - kl)
                kl += (size_t)w;
        }
    }
    return lf_fail(err, LF_EIO,
                   "device profile '%s': no file %s%s in %s; known profiles: %s (or give a "
                   "path; $LLMFLASH_DEVICES names more folders, ':'-separated)",
                   spec, spec, has_ext ? "" : ".conf", tl ? tried : "(no folders)",
                   kl ? known : "none");
}

int lf_device_load(const char *path, lf_device *out, lf_err *err)
{
    lf_kv kv;
    int rc = lf_kv_parse_file(path, &kv, err);
    if (rc != LF_OK)
        return rc;
    const char *valid[N_KEYS + 3];
    for (size_t i = 0; i < N_KEYS; i++)
        valid[i] = keys[i].key;
    valid[N_KEYS] = "flash_alignment";
    valid[N_KEYS + 1] = "name";
    valid[N_KEYS + 2] = NULL;
    lf_device d;
    memset(&d, 0, sizeof d);
    if ((rc = lf_kv_check_known(&kv, valid, err)) != LF_OK)
        goto done;
    for (size_t i = 0; i < N_KEYS && rc == LF_OK; i++) {
        const key_info *k = &keys[i];
        rc = k->required ? lf_kv_need_double(&kv, k->key, field(&d, k), err)
                         : lf_kv_double(&kv, k->key, 0, field(&d, k), err);
        if (rc == LF_OK && lf_kv_find(&kv, k->key)) {
            char where[300];
            snprintf(where, sizeof where, "%s:%d", path, lf_kv_find(&kv, k->key)->line);
            rc = check_value(k, *field(&d, k), where, err);
        }
    }
    if (rc != LF_OK || (rc = check_together(&d, path, err)) != LF_OK)
        goto done;
    uint64_t align;
    if ((rc = lf_kv_u64(&kv, "flash_alignment", 4096, &align, err)) != LF_OK)
        goto done;
    if (align == 0 || align > (1u << 30) || (align & (align - 1))) {
        rc = lf_fail(err, LF_ERANGE, "%s:%d: flash_alignment = %llu must be a power of two",
                     path, lf_kv_find(&kv, "flash_alignment")->line, (unsigned long long)align);
        goto done;
    }
    d.flash_alignment = (uint32_t)align;
    const char *name = lf_kv_get(&kv, "name");
    if (name && strlen(name) >= sizeof d.name) {
        rc = lf_fail(err, LF_EINVAL, "%s:%d: name longer than %zu characters", path,
                     lf_kv_find(&kv, "name")->line, sizeof d.name - 1);
        goto done;
    }
    if (name)
        snprintf(d.name, sizeof d.name, "%s", name);
    else
        lf_device_name_from_path(path, d.name, sizeof d.name);
    *out = d;
done:
    lf_kv_free(&kv);
    return rc;
}

int lf_device_save_sourced(const lf_device *d, const char *path, const char *provenance,
                           const lf_device_sources *src, lf_err *err)
{
    int rc = lf_device_check(d, d->name[0] ? d->name : "profile", err);
    if (rc != LF_OK)
        return rc;
    /* one key a line: a newline in the name would write a key of its own */
    if (strpbrk(d->name, "\n\r#"))
        return lf_fail(err, LF_EINVAL, "%s: profile name '%s' holds a newline or '#': give --name "
                       "without them", path, d->name);
    lf_atomic a;
    if ((rc = lf_atomic_open(&a, path, err)) != LF_OK)
        return rc;
    FILE *f = a.f;
    if (provenance) {
        /* every line of the provenance becomes a comment */
        const char *p = provenance;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(f, "# %.*s\n", (int)len, p);
            p += len + (nl ? 1 : 0);
        }
        fputc('\n', f);
    }
    fprintf(f, "name = %s\n", d->name);
    const char *gsrc[4] = {NULL, NULL, NULL, NULL};
    if (src) {
        gsrc[G_FLASH] = src->flash;
        gsrc[G_PAGECACHE] = src->pagecache;
        gsrc[G_DRAM] = src->dram;
        gsrc[G_COMPUTE] = src->compute;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_info *k = &keys[i];
        char val[64];
        double v = cfield(d, k);
        snprintf(val, sizeof val, "%.6g", v);
        if (strtod(val, NULL) != v && v == floor(v) && fabs(v) < 0x1p53)
            snprintf(val, sizeof val, "%.0f", v); /* a count (bytes) kept whole */
        const char *s = gsrc[k->grp];
        fprintf(f, "%-20s = %-12s # %s%s", k->key, val, k->unit, s ? "; " : "");
        for (; s && *s; s++) /* a comment: a newline in a file name in it stays in it */
            fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
        fputc('\n', f);
        if (k->grp == G_FLASH && strcmp(k->key, "flash_buffered") == 0)
            fprintf(f, "%-20s = %-12u # bytes; direct I/O offsets and sizes are multiples\n",
                    "flash_alignment", d->flash_alignment);
    }
    return lf_atomic_commit(&a, err);
}

int lf_device_save(const lf_device *d, const char *path, const char *provenance,
                   const char *source, lf_err *err)
{
    lf_device_sources s = {source, source, source, source};
    return lf_device_save_sourced(d, path, provenance, &s, err);
}

/* ---- cost models ---- */

/* The three bounds joined: hard max when p == 0, else the p-norm (computed relative to
 * the largest term so that large p neither overflows nor underflows). */
static double join(double a, double b, double c, double p)
{
    double m = fmax(a, fmax(b, c));
    if (p == 0 || m <= 0)
        return m;
    double s = pow(a / m, p) + pow(b / m, p) + pow(c / m, p);
    return m * pow(s, 1.0 / p);
}

static double slots(uint64_t n_reads, uint32_t inflight)
{
    double n = (double)n_reads, par = (double)(inflight == 0 ? 1 : inflight);
    return par > n ? n : par;
}

/* The streams m reads in flight serve as: m^(1 - flash_depth_loss) (no pow at 0: the
 * simulator prices every layer of every token through here). */
static double streams(const lf_device *d, double m)
{
    return d->flash_depth_loss > 0 ? pow(m, 1.0 - d->flash_depth_loss) : m;
}

double lf_flash_stream_time(const lf_device *d, uint64_t n_reads, uint64_t bytes,
                            uint32_t inflight)
{
    if (n_reads == 0)
        return 0;
    double n = (double)n_reads, s = (double)bytes;
    double t_lat = (n * d->flash_latency_s + s / d->flash_stream_bw) /
                   streams(d, slots(n_reads, inflight));
    double t_bw = s / d->flash_max_bw;
    double t_iops = n / d->flash_max_iops;
    return join(t_lat, t_bw, t_iops, d->flash_smooth_p);
}


double lf_flash_rounds_time(const lf_device *d, uint64_t n_reads, uint64_t bytes,
                            uint32_t inflight)
{
    uint64_t k = inflight == 0 ? 1 : inflight;
    if (n_reads <= k || n_reads % k == 0)
        return lf_flash_stream_time(d, n_reads, bytes, inflight);
    /* full rounds of k reads, then the rest alone; reads of the batch's mean size (the
     * byte count split in proportion, so the parts add up to bytes) */
    uint64_t rest = n_reads % k, full_bytes = (uint64_t)((double)bytes * (double)(n_reads - rest) /
                                                         (double)n_reads);
    return lf_flash_stream_time(d, n_reads - rest, full_bytes, inflight) +
           lf_flash_stream_time(d, rest, bytes - full_bytes, inflight);
}

/* A batch whose rounds take `rounds` s, with one condition's batch terms (the overhead
 * summed first, as it always was: a one-condition profile prices bit for bit as before). */
static double batch_time(double rounds, uint64_t n_reads, uint32_t inflight, double batch_s,
                         double slot_s, double loss)
{
    return n_reads ? rounds * (1 + loss) + (batch_s + slots(n_reads, inflight) * slot_s) : 0;
}

double lf_flash_batch_overhead(const lf_device *d, uint64_t n_reads, uint32_t inflight)
{
    return batch_time(0, n_reads, inflight, d->flash_batch_s, d->flash_slot_s, 0);
}

double lf_flash_time(const lf_device *d, uint64_t n_reads, uint64_t bytes, uint32_t inflight)
{
    return batch_time(lf_flash_rounds_time(d, n_reads, bytes, inflight), n_reads, inflight,
                      d->flash_batch_s, d->flash_slot_s, d->flash_batch_loss);
}

/* Batches after an idle spell this many times longer or shorter than the probed one's
 * are another condition (16 KiB x 8 in flight, psync, on this project's VM: 0.90 ms a
 * batch after 0.25 ms of compute, 1.25 ms after 5 ms). Gaps under 0.1 ms count as 0.1. */
#define GAP_RATIO 4.0
#define GAP_FLOOR_S 1e-4

double lf_flash_time_gap(const lf_device *d, uint64_t n_reads, uint64_t bytes, uint32_t inflight,
                         double gap_s)
{
    double rounds = lf_flash_rounds_time(d, n_reads, bytes, inflight);
    double t1 = batch_time(rounds, n_reads, inflight, d->flash_batch_s, d->flash_slot_s,
                           d->flash_batch_loss);
    if (gap_s < 0 || d->flash_batch2_gap_s <= 0 || n_reads == 0)
        return t1;
    /* the time is linear in the batch terms: interpolating the two conditions' times is
     * interpolating their terms. The measured gap table (costmodel/README.md) is close to
     * linear in log(gap): 0.90, 1.07, 1.25 ms after 0.25, 1, 5 ms. */
    double g = log(fmax(gap_s, GAP_FLOOR_S)), g1 = log(fmax(d->flash_batch_gap_s, GAP_FLOOR_S)),
           g2 = log(fmax(d->flash_batch2_gap_s, GAP_FLOOR_S));
    double w = g1 == g2 ? 0 : fmin(fmax((g - g1) / (g2 - g1), 0), 1);
    if (w == 0)
        return t1;
    double t2 = batch_time(rounds, n_reads, inflight, d->flash_batch2_s, d->flash_slot2_s,
                           d->flash_batch2_loss);
    return t1 + w * (t2 - t1);
}

static int gap_outside(const lf_device *d, double gap_s)
{
    int terms = d->flash_batch_s > 0 || d->flash_slot_s > 0 || d->flash_batch_loss > 0 ||
                d->flash_batch2_s > 0 || d->flash_slot2_s > 0 || d->flash_batch2_loss > 0;
    if (gap_s < 0 || d->flash_batch_gap_s <= 0 || !terms)
        return 0;
    double a = fmax(gap_s, GAP_FLOOR_S), lo = fmax(d->flash_batch_gap_s, GAP_FLOOR_S), hi = lo;
    if (d->flash_batch2_gap_s > 0) {
        lo = fmin(lo, fmax(d->flash_batch2_gap_s, GAP_FLOOR_S));
        hi = fmax(hi, fmax(d->flash_batch2_gap_s, GAP_FLOOR_S));
    }
    return a > GAP_RATIO * hi || a * GAP_RATIO < lo;
}

int lf_device_flash_outside(const lf_device *d, double mean_read_bytes, uint32_t inflight,
                            double gap_s, char *msg, size_t size)
{
    int small = d->flash_fit_min_chunk > 0 && mean_read_bytes > 0 &&
                mean_read_bytes < 0.9 * d->flash_fit_min_chunk;
    int large = d->flash_fit_max_chunk > 0 && mean_read_bytes > 1.1 * d->flash_fit_max_chunk;
    int depth = d->flash_fit_min_depth > 0 &&
                (inflight < d->flash_fit_min_depth || inflight > d->flash_fit_max_depth);
    int gap = gap_outside(d, gap_s);
    if (!small && !large && !depth && !gap)
        return 0;
    size_t len = 0;
    msg[0] = '\0';
    if (small || large || depth) {
        char reads[160] = "", fit[160] = "";
        if (small || large)
            snprintf(reads, sizeof reads, "reads of %.1f KiB on average%s",
                     mean_read_bytes / 1024, depth ? ", " : "");
        if (depth)
            snprintf(reads + strlen(reads), sizeof reads - strlen(reads), "%u reads in flight",
                     inflight);
        if (small || large)
            snprintf(fit, sizeof fit, "reads of %.1f-%.1f KiB%s", d->flash_fit_min_chunk / 1024,
                     d->flash_fit_max_chunk / 1024, depth ? ", " : "");
        if (depth)
            snprintf(fit + strlen(fit), sizeof fit - strlen(fit), "%g-%g in flight",
                     d->flash_fit_min_depth, d->flash_fit_max_depth);
        snprintf(msg, size, "%s, outside the %s its flash keys were fitted on: its flash times "
                 "there are extrapolated (calibrate with --chunks%s covering them)", reads, fit,
                 depth ? " and --threads" : "");
        len = strlen(msg);
    }
    if (gap && len + 1 < size) {
        char probed[64];
        if (d->flash_batch2_gap_s > 0)
            snprintf(probed, sizeof probed, "%.2f and %.2f ms",
                     fmin(d->flash_batch_gap_s, d->flash_batch2_gap_s) * 1e3,
                     fmax(d->flash_batch_gap_s, d->flash_batch2_gap_s) * 1e3);
        else
            snprintf(probed, sizeof probed, "%.2f ms", d->flash_batch_gap_s * 1e3);
        snprintf(msg + len, size - len, "%slayers computing %.2f ms between their reads, against "
                 "the %s its batch terms were probed after: their batches are priced for "
                 "another idle spell (calibrate --batch-gap %.2f)", len ? "; " : "", gap_s * 1e3,
                 probed, gap_s * 1e3);
    }
    return 1;
}

double lf_flash_throughput(const lf_device *d, uint64_t chunk, uint32_t inflight)
{
    uint32_t t = inflight == 0 ? 1 : inflight;
    double time = lf_flash_stream_time(d, t, chunk * (uint64_t)t, t);
    return time > 0 ? (double)chunk * t / time : 0;
}

double lf_dram_time(const lf_device *d, uint64_t n_ops, uint64_t bytes)
{
    return (double)n_ops * d->dram_op_s + (double)bytes / d->dram_copy_bw;
}

double lf_dram_alloc_time(const lf_device *d, uint64_t n_allocs, uint64_t bytes)
{
    return (double)n_allocs * d->dram_alloc_s + (double)((bytes + 4095) / 4096) * d->dram_fault_s;
}

double lf_roofline_time(const lf_device *d, double flops, double bytes, double bw)
{
    double t = flops > 0 ? flops / d->compute_flops : 0;
    return bytes > 0 ? fmax(t, bytes / bw) : t;
}

double lf_compute_time(const lf_device *d, double flops, double bytes)
{
    return lf_roofline_time(d, flops, bytes, d->mem_bw);
}

/* A rate of a table over lf_ffn_bw_widths at `width`: the time per byte interpolated
 * linearly in log2(width) between the measured widths around it, the nearest measured
 * one outside them, `none` when nothing was measured (bw[i] = 0). */
static double at_width(const double *bw, uint32_t width, double none)
{
    int lo = -1, hi = -1; /* the measured widths nearest at or below, at or above width */
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++) {
        if (!(bw[i] > 0))
            continue;
        if (lf_ffn_bw_widths[i] <= width)
            lo = i;
        if (lf_ffn_bw_widths[i] >= width && hi < 0)
            hi = i;
    }
    if (lo < 0 && hi < 0)
        return none;
    if (lo < 0 || hi < 0 || lo == hi)
        return bw[lo < 0 ? hi : lo];
    double x = (log2(width) - log2(lf_ffn_bw_widths[lo])) /
               (log2(lf_ffn_bw_widths[hi]) - log2(lf_ffn_bw_widths[lo]));
    return 1.0 / ((1 - x) / bw[lo] + x / bw[hi]);
}

double lf_device_ffn_bw(const lf_device *d, int swiglu, uint32_t d_model)
{
    return at_width(swiglu ? d->ffn_bw_swiglu : d->ffn_bw_relu, d_model, d->mem_bw);
}

double lf_device_dense_bw_at(const lf_device *d, uint32_t cols)
{
    return at_width(d->dense_bw_cols, cols, lf_device_dense_bw(d));
}

double lf_device_dense_bw(const lf_device *d)
{
    return d->dense_bw > 0 ? d->dense_bw : d->mem_bw;
}

int lf_pagecache_check(const lf_device *d, uint64_t n_hits, lf_err *err)
{
    if (n_hits == 0 || d->pagecache_bw > 0)
        return LF_OK;
    return lf_fail(err, LF_EINVAL,
                   "device '%s' does not model the OS page cache (pagecache_bw = 0), so its "
                   "page-cache hits would cost nothing; use a profile that models it (llmflash "
                   "calibrate measures it; m3max and iphone17pro assume it) or set pagecache_bw "
                   "and pagecache_latency_s in the profile",
                   d->name);
}

double lf_pagecache_time(const lf_device *d, uint64_t n_hits, uint64_t bytes)
{
    if (d->pagecache_bw <= 0 || n_hits == 0)
        return 0;
    return (double)n_hits * d->pagecache_latency_s + (double)bytes / d->pagecache_bw;
}

double lf_device_compute_stall(const lf_device *d)
{
    return d->compute_stall > 0 ? d->compute_stall : 1.0;
}

double lf_device_expert_wps(const lf_device *d, uint32_t bits)
{
    switch (bits) {
    case 16: return d->expert_wps_16;
    case 8: return d->expert_wps_8;
    case 4: return d->expert_wps_4;
    case 2: return d->expert_wps_2;
    }
    return 0;
}
