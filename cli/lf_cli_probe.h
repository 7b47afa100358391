/* lf_cli_probe: the probe options shared by `llmflash probe` and `llmflash calibrate`
 * (--file --size --chunks --threads --engine --seconds --repeats --seed), parsed into
 * an lf_probe_opts. The chunk and thread arrays are malloc'ed: lf_cli_probe_free. */
#ifndef LF_CLI_PROBE_H
#define LF_CLI_PROBE_H

#include <getopt.h>

#include "lf_pcache.h"
#include "lf_probe.h"

/* getopt_long entries of the shared options (codes 'f', 's', 'c', 't', 'e', 'S', 'R', 'r',
 * 'N', 'G', 'M', 'F'). */
#define LF_CLI_PROBE_LONGOPTS                                                                  \
    {"file", required_argument, 0, 'f'}, {"size", required_argument, 0, 's'},                  \
        {"chunks", required_argument, 0, 'c'}, {"threads", required_argument, 0, 't'},         \
        {"engine", required_argument, 0, 'e'}, {"seconds", required_argument, 0, 'S'},         \
        {"repeats", required_argument, 0, 'R'}, {"seed", required_argument, 0, 'r'},          \
        {"batch", required_argument, 0, 'N'}, {"batch-gap", required_argument, 0, 'G'},        \
        {"pagecache-mechanism", required_argument, 0, 'M'}, {"footprint", required_argument, 0, 'F'}

/* The help lines of the shared options. */
#define LF_CLI_PROBE_HELP                                                                      \
    "  --file PATH        test file, on the disk to measure (not tmpfs); created with\n"       \
    "                     --size bytes of random data when missing (kept afterwards)\n"        \
    "  --size BYTES       size of a new test file (default 2g; sizes like 512m, 2g)\n"         \
    "  --chunks LIST      read sizes, multiples of 4k (default 4k,16k,32k,64k,256k,1m)\n"      \
    "  --threads LIST     reads in flight (default 1,4,8,16,32)\n"                             \
    "  --seconds S        time per measurement (default 0.4)\n"                                \
    "  --repeats R        measurements per point, in R passes over the grid; the row\n"        \
    "                     kept is the one with the median MB/s (default 3)\n"                  \
    "  --seed N           seed of offsets and file content (default 1)\n"                     \
    "  --batch N[,M...]   measure the executor's pattern instead of a steady state:\n"       \
    "                     batches of N reads, each waited for whole (one layer's reads;\n"   \
    "                     the queue drains at the end), at each size listed; fit\n"      \
    "                     models them as N reads, with several sizes plus a cost per\n" \
    "                     batch (flash_batch_s), and a profile of such rows alone says\n" \
    "                     flash_fit_batch = the largest N\n"                              \
    "  --batch-gap MS[,MS2]  batches: a busy wait of MS milliseconds before each, the\n"   \
    "                     layer's compute between the executor's batches, left out of\n" \
    "                     the time (probe: default 5; 0: back to back). A disk may\n"     \
    "                     serve a batch after a longer idle spell slower: two amounts\n"  \
    "                     measure batches after each, interleaved, and a profile fitted\n" \
    "                     on them prices a layer's batch by its own compute between the\n" \
    "                     two (sim and validate say when runs fall 4x outside)\n"        \
    "  --footprint BYTES  memory the reads land in, cycled through (default 64m: a run\n"   \
    "                     reads into its DRAM rows, far beyond the CPU's caches, and\n"   \
    "                     reads into a cache-sized buffer ran up to 1.75x faster here);\n" \
    "                     0: a buffer per read in flight, as fio (to compare with it)\n"  \
    "  --pagecache-mechanism M  --engine buffered: what keeps every read a miss, as in\n"  \
    "                     `run`: cgroup (a memory cgroup of this process, the kernel\n"    \
    "                     evicting at its limit: twice a point's chunk x threads), fadvise\n" \
    "                     (each read's pages dropped as it completes) or auto (default:\n" \
    "                     cgroup when one can be made, else fadvise)\n"

typedef struct {
    lf_probe_opts o;
    const char *chunks_s, *threads_s, *mechanism_s; /* mechanism_s: NULL unless given */
    const char *batches_s;                          /* --batch: NULL unless given */
    int size_given;                                 /* --size given */
    lf_pcache_mech mech;   /* --pagecache-mechanism, parsed by finish (default auto) */
    const char *mechanism; /* after lf_cli_probe_hold: "cgroup", "fadvise", or "" (O_DIRECT) */
} lf_cli_probe;

/* Defaults: 2 GiB, the grid, psync, 0.4 s x 3, seed 1. */
void lf_cli_probe_init(lf_cli_probe *p);
/* Handles getopt code c if it is a shared option: returns 1 (handled), 0 (not ours), or
 * -1 after printing a usage error (exit with LF_EXIT_USAGE). */
int lf_cli_probe_option(lf_cli_probe *p, const char *cmd, int c, const char *arg);
/* Checks --file and parses the lists into p->o: 0, or LF_EXIT_USAGE after a message. */
int lf_cli_probe_finish(lf_cli_probe *p, const char *cmd);
/* After finish, for an engine through the page cache: makes the test file, then opens
 * what keeps the reads misses (--pagecache-mechanism) into p->o and says which on stderr.
 * 0, or LF_EXIT_FAIL after a message. */
int lf_cli_probe_hold(lf_cli_probe *p, const char *cmd);
/* Drops the test file's pages and leaves the cgroup, if held (also done by free). */
void lf_cli_probe_release(lf_cli_probe *p);
void lf_cli_probe_free(lf_cli_probe *p);

#endif
