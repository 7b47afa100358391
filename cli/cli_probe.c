/* The probe options shared by `llmflash probe` and `llmflash calibrate`. */
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_num.h"
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
    uint64_t v;
    switch (c) {
    case 'f': p->o.path = arg; return 1;
    case 'c': p->chunks_s = arg; return 1;
    case 't': p->threads_s = arg; return 1;
    case 'e': p->o.engine = arg; return 1;
    case 's':
        return lf_cli_size(cmd, "--size", arg, 1, UINT64_MAX, &p->o.size) ? -1 : 1;
    case 'S':
        return lf_cli_double(cmd, "--seconds", arg, 1e-3, 3600, &p->o.seconds) ? -1 : 1;
    case 'R':
        if (lf_cli_u64(cmd, "--repeats", arg, 1, 100, &v))
            return -1;
        p->o.repeats = (uint32_t)v;
        return 1;
    case 'N':
        if (lf_cli_u64(cmd, "--batch", arg, 1, 65536, &v))
            return -1;
        p->o.batch = (uint32_t)v;
        return 1;
    case 'r':
        return lf_cli_u64(cmd, "--seed", arg, 0, UINT64_MAX, &p->o.seed) ? -1 : 1;
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
