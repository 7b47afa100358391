/* The probe options shared by `llmflash probe` and `llmflash calibrate`. */
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_probe.h"
#include "lf_kv.h"

void lf_cli_probe_init(lf_cli_probe *p)
{
    memset(p, 0, sizeof *p);
    p->o.size = 2ull << 30;
    p->o.engine = "psync";
    p->o.seconds = 0.4;
    p->o.repeats = 3;
    p->o.seed = 1;
    p->chunks_s = "4k,16k,32k,64k,256k,1m";
    p->threads_s = "1,4,8,16,32";
}

int lf_cli_probe_option(lf_cli_probe *p, const char *cmd, int c, const char *arg)
{
    char *end;
    unsigned long v;
    switch (c) {
    case 'f': p->o.path = arg; return 1;
    case 'c': p->chunks_s = arg; return 1;
    case 't': p->threads_s = arg; return 1;
    case 'e': p->o.engine = arg; return 1;
    case 's':
        if (lf_parse_size(arg, &p->o.size) != 0 || p->o.size == 0) {
            lf_cli_usage(cmd, "--size '%s' is not a size (e.g. 2g)", arg);
            return -1;
        }
        return 1;
    case 'S':
        p->o.seconds = strtod(arg, &end);
        if (*end || !(p->o.seconds > 0) || p->o.seconds > 3600) {
            lf_cli_usage(cmd, "--seconds '%s' must be a number in (0, 3600]", arg);
            return -1;
        }
        return 1;
    case 'R':
        v = strtoul(arg, &end, 10);
        if (*end || v < 1 || v > 100) {
            lf_cli_usage(cmd, "--repeats '%s' must be an integer in 1..100", arg);
            return -1;
        }
        p->o.repeats = (uint32_t)v;
        return 1;
    case 'N':
        v = strtoul(arg, &end, 10);
        if (*end || v < 1 || v > 65536) {
            lf_cli_usage(cmd, "--batch '%s' must be an integer in 1..65536", arg);
            return -1;
        }
        p->o.batch = (uint32_t)v;
        return 1;
    case 'r':
        if (lf_parse_size(arg, &p->o.seed) != 0) {
            lf_cli_usage(cmd, "--seed '%s' is not a non-negative integer", arg);
            return -1;
        }
        return 1;
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
    return 0;
}

void lf_cli_probe_free(lf_cli_probe *p)
{
    free((void *)p->o.chunks);
    free((void *)p->o.threads);
    p->o.chunks = p->o.threads = NULL;
}
