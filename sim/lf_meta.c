/* Provenance (meta.json). Host facts come from uname, /proc and /sys; all best effort:
 * a fact that cannot be read is written as "unknown", never an error. */
#include "lf_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <json-c/json.h>

#include "lf_fs.h"
#include "lf_shacache.h"

#ifndef LF_VERSION
#define LF_VERSION "unknown"
#endif
#ifndef LF_GITREV
#define LF_GITREV "unknown"
#endif
#ifndef LF_CFLAGS
#define LF_CFLAGS "unknown"
#endif

/* First line of a small file, trimmed; 0 when absent. */
static int read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        return 0;
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return n > 0;
}

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = '\0';
                snprintf(out, cap, "%s", c);
                break;
            }
        }
    }
    fclose(f);
}

void lf_meta_storage(const char *path, char *out, size_t cap)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        snprintf(out, cap, "unknown");
        return;
    }
    unsigned maj = major(st.st_dev), min = minor(st.st_dev);
    if (maj == 0) {
        snprintf(out, cap, "virtual file system (device 0:%u: overlay, tmpfs or similar)", min);
        return;
    }
    char sys[128], link[512], model[256] = "", rot[16] = "";
    snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u", maj, min);
    ssize_t n = readlink(sys, link, sizeof link - 1);
    if (n <= 0) {
        snprintf(out, cap, "block device %u:%u", maj, min);
        return;
    }
    link[n] = '\0';
    const char *name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
    char p[700];
    snprintf(p, sizeof p, "%s/device/model", sys);
    if (!read_line(p, model, sizeof model)) {
        snprintf(p, sizeof p, "%s/../device/model", sys); /* a partition: its disk */
        read_line(p, model, sizeof model);
    }
    snprintf(p, sizeof p, "%s/queue/rotational", sys);
    if (!read_line(p, rot, sizeof rot)) {
        snprintf(p, sizeof p, "%s/../queue/rotational", sys);
        read_line(p, rot, sizeof rot);
    }
    snprintf(out, cap, "%s (%s%s%s)", name, model[0] ? model : "model unknown",
             rot[0] ? ", " : "", rot[0] ? (rot[0] == '0' ? "non-rotational" : "rotational") : "");
}

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

const char *lf_meta_git_rev(void)
{
    return LF_GITREV;
}

const char *lf_meta_cflags(void)
{
    return LF_CFLAGS;
}

int lf_meta_build(const char *mode, uint64_t seed, const char *trace_path, const char *data_path,
                  const lf_kv *extra, const lf_meta_counts *counts, char **json, lf_err *err)
{
    *json = NULL;
    char sha[65] = "";
    if (trace_path) {
        int rc = lf_shacache_file(trace_path, sha, err);
        if (rc)
            return rc;
    }
    json_object *o = json_object_new_object();
    if (!o)
        return lf_fail(err, LF_ENOMEM, "meta: out of memory");
    add_str(o, "mode", mode);
    add_str(o, "llmflash_version", LF_VERSION);
    add_str(o, "git_rev", LF_GITREV);
    add_str(o, "cflags", LF_CFLAGS);
#if defined(__clang__)
    add_str(o, "compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
    add_str(o, "compiler", "gcc " __VERSION__);
#else
    add_str(o, "compiler", "unknown");
#endif
    add_str(o, "gsl_version", gsl_version);
    /* the headers' version: the library's too (linked from its archive, or checked
     * against them by H5check when shared); asking the library (H5get_libversion)
     * initialised it, 1.3 ms of every sim that reads its trace without it */
    char buf[1024];
    snprintf(buf, sizeof buf, "%d.%d.%d", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
    add_str(o, "hdf5_version", buf);
    add_str(o, "json_c_version", json_c_version());
    struct utsname u;
    if (uname(&u) == 0) {
        add_str(o, "host", u.nodename);
        snprintf(buf, sizeof buf, "%s %s %s", u.sysname, u.release, u.version);
        add_str(o, "kernel", buf);
        add_str(o, "machine", u.machine);
    }
    cpu_model(buf, sizeof buf);
    add_str(o, "cpu_model", buf);
    json_object_object_add(o, "online_cpus", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_object_add(o, "seed", json_object_new_uint64(seed));
    add_str(o, "trace_path", trace_path ? trace_path : "");
    add_str(o, "trace_sha256", sha);
    lf_meta_storage(trace_path, buf, sizeof buf);
    add_str(o, "trace_storage", trace_path ? buf : "");
    add_str(o, "data_path", data_path ? data_path : "");
    lf_meta_storage(data_path, buf, sizeof buf);
    add_str(o, "data_storage", data_path ? buf : "");
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    add_str(o, "created_utc", buf);
    if (counts) {
        json_object *x = json_object_new_object();
        for (size_t i = 0; i < counts->n; i++)
            json_object_object_add(x, counts->names[i],
                                   json_object_new_int64((int64_t)counts->values[i]));
        json_object_object_add(o, "policy_counters", x);
    }
    if (extra) {
        json_object *x = json_object_new_object();
        for (size_t i = 0; i < extra->n; i++)
            add_str(x, extra->items[i].key, extra->items[i].value);
        json_object_object_add(o, "extra", x);
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = strlen(s);
    *json = malloc(len + 2);
    if (*json) {
        memcpy(*json, s, len);
        (*json)[len] = '\n';
        (*json)[len + 1] = '\0';
    }
    json_object_put(o);
    return *json ? LF_OK : lf_fail(err, LF_ENOMEM, "meta: out of memory");
}
