#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_cli.h"
#include "lf_cli_device.h"
#include "lf_device.h"
#include "lf_fs.h"

#define MAX_DIRS 16

/* The folders searched, in order: each of $LLMFLASH_DEVICES (':'-separated), then
 * <bindir>/../share/llmflash/devices (an installed binary), then costmodel/devices of
 * the source tree the binary was built in (found by walking up from <bindir>), then
 * ./costmodel/devices. */
static size_t search_dirs(char bufs[MAX_DIRS][PATH_MAX], const char *dirs[MAX_DIRS + 1])
{
    size_t n = 0;
    const char *env = getenv("LLMFLASH_DEVICES");
    for (const char *p = env; p && *p && n < MAX_DIRS - 4;) {
        const char *c = strchr(p, ':');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len && len < PATH_MAX)
            snprintf(bufs[n++], PATH_MAX, "%.*s", (int)len, p);
        p = c ? c + 1 : p + len;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(bufs[n++], PATH_MAX, "%.*s/../share/llmflash/devices", PATH_MAX - 40, exe);
        for (int up = 0; up < 3; up++) {
            char cand[PATH_MAX];
            snprintf(cand, sizeof cand, "%.*s/costmodel/devices", PATH_MAX - 40, exe);
            char *s = strrchr(exe, '/');
            if (lf_file_exists(cand)) {
                snprintf(bufs[n++], PATH_MAX, "%s", cand);
                break;
            }
            if (!s)
                break;
            *s = '\0';
        }
    }
    snprintf(bufs[n++], PATH_MAX, "costmodel/devices");
    for (size_t i = 0; i < n; i++) {
        char real[PATH_MAX];
        if (realpath(bufs[i], real))
            snprintf(bufs[i], PATH_MAX, "%s", real);
        dirs[i] = bufs[i];
        for (size_t j = 0; j < i; j++)
            if (dirs[j] && !strcmp(dirs[j], bufs[i]))
                dirs[i] = ""; /* the same folder twice: search it once */
    }
    dirs[n] = NULL;
    return n;
}

int lf_cli_device_find(const char *spec, char *path, size_t cap, lf_err *err)
{
    static char bufs[MAX_DIRS][PATH_MAX];
    const char *dirs[MAX_DIRS + 1];
    search_dirs(bufs, dirs);
    char found[PATH_MAX];
    int rc = lf_device_find(spec, dirs, found, sizeof found, err);
    if (rc != LF_OK)
        return rc;
    char real[PATH_MAX];
    snprintf(path, cap, "%s", realpath(found, real) ? real : found);
    return LF_OK;
}

int lf_cli_device_resolve(const char *cmd, const char *spec, char *path, size_t cap)
{
    lf_err err;
    return lf_cli_device_find(spec, path, cap, &err) == LF_OK ? 0 : lf_cli_error(cmd, &err);
}

void lf_cli_device_help(FILE *f)
{
    static char bufs[MAX_DIRS][PATH_MAX];
    const char *dirs[MAX_DIRS + 1];
    size_t n = search_dirs(bufs, dirs);
    fprintf(f, "device profiles by name (--device m1max), searched in $LLMFLASH_DEVICES\n"
               "(':'-separated folders), the install's share/llmflash/devices, then the source\n"
               "tree's costmodel/devices; known here:\n");
    for (size_t i = 0; i < n; i++) {
        if (!dirs[i][0] || !lf_file_exists(dirs[i]))
            continue;
        char names[1024];
        lf_device_list_dir(dirs[i], names, sizeof names);
        fprintf(f, "  %s: %s\n", dirs[i], names[0] ? names : "(none)");
    }
}

void lf_cli_device_range_note(const char *cmd, const lf_device *d, const char *path,
                              double mean_read_bytes, uint32_t inflight, double gap_s)
{
    char msg[768];
    if (lf_device_flash_outside(d, mean_read_bytes, inflight, gap_s, msg, sizeof msg))
        fprintf(stderr, "llmflash %s: warning: device profile %s: %s\n", cmd, path, msg);
}

void lf_cli_device_range_notes(const char *cmd, size_t n, size_t stride, const char *id,
                               const char *device, const char *outside)
{
#define AT(field, i) ((field) + (i) * stride)
    /* row i counts for row r's profile when it is outside its range */
#define SAME(i, r) (AT(outside, i)[0] && !strcmp(AT(device, i), AT(device, r)))
    for (size_t i = 0; i < n; i++) {
        size_t j = 0; /* the first row of this profile outside its range */
        while (j < i && !SAME(j, i))
            j++;
        if (!AT(outside, i)[0] || j < i)
            continue;
        char ids[256] = "";
        size_t hits = 0, len = 0;
        for (size_t k = i; k < n; k++) {
            if (!SAME(k, i))
                continue;
            hits++;
            if (len < sizeof ids - 8)
                len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%s", len ? ", " : "",
                                        AT(id, k));
        }
        fprintf(stderr, "llmflash %s: warning: device profile %s priced %zu of %zu "
                "configurations (%s) outside what it was fitted on; %s: %s\n", cmd,
                AT(device, i), hits, n, ids, hits > 1 ? "the first" : "it", AT(outside, i));
    }
#undef SAME
#undef AT
}
