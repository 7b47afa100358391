#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
#include "lf_kv.h"

int lf_cli_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
               uint64_t *out)
{
    uint64_t v;
    if (lf_parse_count(arg, &v) || v < min || v > max)
        return lf_cli_usage(cmd, "%s '%s': expected an integer (10k = 10000) in %llu..%llu", opt,
                            arg, (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

int lf_cli_size(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
                uint64_t *out)
{
    uint64_t v;
    if (lf_parse_size(arg, &v) != 0 || v < min || v > max)
        return lf_cli_usage(cmd, "%s '%s': expected a size in bytes (4096, 32k, 1m, 2g) in %llu..%llu",
                            opt, arg, (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

static int parse_double(const char *s, const char *stop, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    if (end != stop)
        return -1;
    *out = v;
    return 0;
}

int lf_cli_double(const char *cmd, const char *opt, const char *arg, double min, double max,
                  double *out)
{
    double v;
    if (parse_double(arg, arg + strlen(arg), &v) || v < min || v > max)
        return lf_cli_usage(cmd, "%s '%s': expected a number in [%g, %g]", opt, arg, min, max);
    *out = v;
    return 0;
}

int lf_cli_double_list(const char *cmd, const char *opt, const char *arg, double min,
                       double max, double **out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = arg; *p; p++)
        cap += *p == ',';
    double *v = malloc(cap * sizeof *v);
    if (!v)
        return lf_cli_usage(cmd, "%s: out of memory", opt);
    size_t k = 0;
    for (const char *p = arg;; k++) {
        const char *c = strchr(p, ',');
        const char *stop = c ? c : p + strlen(p);
        if (parse_double(p, stop, &v[k]) || v[k] < min || v[k] > max) {
            free(v);
            return lf_cli_usage(cmd, "%s '%s': item %zu is not a number in [%g, %g]", opt, arg,
                                k + 1, min, max);
        }
        if (!c)
            break;
        p = c + 1;
    }
    *out = v;
    *n = k + 1;
    return 0;
}

const char *lf_cli_pct(char *buf, size_t size, double v, double target)
{
    for (int decimals = 1; decimals <= 3; decimals++) {
        snprintf(buf, size, "%.*f", decimals, v);
        if (!isfinite(v) || (strtod(buf, NULL) > target) == (v > target))
            break;
    }
    return buf;
}
