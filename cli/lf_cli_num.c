#include "lf_cli_num.h"

#include <errno.h>
#include <stdlib.h>

#include "lf_cli.h"

int lf_cli_num_double(const char *cmd, const char *opt, const char *arg, double min, double max,
                      double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !(v >= min && v <= max))
        return lf_cli_usage(cmd, "%s '%s': expected a number in [%g, %g]", opt, arg, min, max);
    *out = v;
    return LF_EXIT_OK;
}

int lf_cli_num_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (end == arg || *end || errno || arg[0] == '-' || v < min || v > max)
        return lf_cli_usage(cmd, "%s '%s': expected an integer in [%llu, %llu]", opt, arg,
                            (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return LF_EXIT_OK;
}
