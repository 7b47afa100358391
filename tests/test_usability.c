/* Tests of what a user meets first: device profiles by name (lf_device_find, the CLI's
 * search folders, an installed copy run from outside the repository), the sweep file's
 * checks and its Slurm script (run through a fake sbatch), count suffixes, and the
 * README's shell blocks (tests/readme_blocks.sh), build/cpu_time, the benchmarks' CPU
 * clock, and the verdict line's decimals (plots/validate_check.sh). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lf_device.h"
#include "lf_fs.h"
#include "lf_kv.h"
#include "lf_test.h"
#include "lf_trace.h"

#define TPATH(var, name)                                                                  \
    char var[1200];                                                                       \
    snprintf(var, sizeof var, "%s", lf_test_path(name))

static void test_device_find(void **st)
{
    (void)st;
    TPATH(a, "devA");
    TPATH(b, "devB");
    lf_err err;
    assert_int_equal(lf_mkdirs(a, &err), LF_OK);
    assert_int_equal(lf_mkdirs(b, &err), LF_OK);
    char pa[1300], pb[1300];
    snprintf(pa, sizeof pa, "%s/box.conf", a);
    snprintf(pb, sizeof pb, "%s/box.conf", b);
    lf_test_write(pa, "x\n", 2);
    lf_test_write(pb, "x\n", 2);
    snprintf(pb, sizeof pb, "%s/other.conf", b);
    lf_test_write(pb, "x\n", 2);
    const char *dirs[] = {"/nonexistent-llmflash", a, "", b, NULL};
    char out[2048];
    /* by name, with and without .conf: the first folder that has it wins */
    assert_int_equal(lf_device_find("box", dirs, out, sizeof out, &err), LF_OK);
    snprintf(pa, sizeof pa, "%s/box.conf", a);
    assert_string_equal(out, pa);
    assert_int_equal(lf_device_find("box.conf", dirs, out, sizeof out, &err), LF_OK);
    assert_string_equal(out, pa);
    assert_int_equal(lf_device_find("other", dirs, out, sizeof out, &err), LF_OK);
    assert_string_equal(out, pb);
    /* a path is taken as it is */
    assert_int_equal(lf_device_find(pb, dirs, out, sizeof out, &err), LF_OK);
    assert_string_equal(out, pb);
    /* unknown: the message lists the folders and the names known */
    assert_int_not_equal(lf_device_find("nope", dirs, out, sizeof out, &err), LF_OK);
    assert_non_null(strstr(err.msg, "box, other"));
    assert_non_null(strstr(err.msg, a));
    assert_int_not_equal(lf_device_find("no/such.conf", dirs, out, sizeof out, &err), LF_OK);
    char names[256];
    lf_device_list_dir(b, names, sizeof names);
    assert_string_equal(names, "box, other");
}

/* make install DESTDIR=..., then the installed binary, run from a folder outside the
 * repository, finds its profiles by name and lists them in --help. */
static void test_installed_profiles(void **st)
{
    (void)st;
    char cwd[PATH_MAX], dest[PATH_MAX], cmd[4 * PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    if (!lf_file_exists("Makefile") || !lf_file_exists("costmodel/devices/m1max.conf"))
        skip();
    snprintf(dest, sizeof dest, "%s", lf_test_path("inst"));
    if (dest[0] != '/') {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s/%s", cwd, dest);
        snprintf(dest, sizeof dest, "%s", tmp);
    }
    snprintf(cmd, sizeof cmd,
             "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory install "
             "DESTDIR='%s' PREFIX=/opt/lf >'%s/install.log' 2>&1",
             dest, dest);
    lf_err err;
    assert_int_equal(lf_mkdirs(dest, &err), LF_OK);
    assert_int_equal(system(cmd), 0);
    char bin[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/opt/lf/bin/llmflash", dest);
    assert_true(lf_file_exists(bin));
    char share[PATH_MAX + 64];
    snprintf(share, sizeof share, "%s/opt/lf/share/llmflash/experiments/fig7.conf", dest);
    assert_true(lf_file_exists(share));
    snprintf(share, sizeof share, "%s/opt/lf/share/llmflash/plots/fig7_dram.gp", dest);
    assert_true(lf_file_exists(share));
    /* outside the repository, with the source tree out of reach: a copy of the
     * installed tree in a folder without costmodel/ above it */
    snprintf(cmd, sizeof cmd,
             "set -e; w=$(mktemp -d /tmp/lf-inst.XXXXXX); cp -r '%s/opt' \"$w/\"; cd \"$w\"; "
             "opt/lf/bin/llmflash trace synth --model opt-1.3b --tokens 4 -o t.h5 >/dev/null; "
             "opt/lf/bin/llmflash sim --trace t.h5 --device m1max --quiet --out r1; "
             "opt/lf/bin/llmflash sim --trace t.h5 --device m3max.conf --quiet --out r2; "
             "grep '^device = ' r1/config.conf r2/config.conf; "
             "opt/lf/bin/llmflash sim --help | grep -A9 'device profiles by name'; "
             "opt/lf/bin/llmflash sim --trace t.h5 --device nosuch --quiet || echo refused=$?; "
             "cd /; rm -rf \"$w\"",
             dest);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    int rc = pclose(p);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(buf, "r1/config.conf:device = /tmp/lf-inst."));
    assert_non_null(strstr(buf, "/opt/lf/share/llmflash/devices/m1max.conf"));
    assert_non_null(strstr(buf, "/opt/lf/share/llmflash/devices/m3max.conf"));
    assert_non_null(strstr(buf, "iphone17pro, m1max, m3max"));
    assert_non_null(strstr(buf, "refused=1"));
    /* $LLMFLASH_DEVICES comes first */
    TPATH(mine, "mydevs");
    assert_int_equal(lf_mkdirs(mine, &err), LF_OK);
    snprintf(cmd, sizeof cmd, "cp costmodel/devices/m1max.conf '%s/m1max.conf' && "
             "sed -i 's/^name.*//' '%s/m1max.conf'", mine, mine);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "LLMFLASH_DEVICES=/nonexistent:'%s' \"${LLMFLASH_BIN:-build/llmflash}\" sim --help",
             mine);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    /* the first folder listed is the user's (the nonexistent one is left out) */
    const char *first = strstr(buf, "known here:\n  ");
    assert_non_null(first);
    char real[PATH_MAX];
    assert_non_null(realpath(mine, real));
    assert_memory_equal(first + strlen("known here:\n  "), real, strlen(real));
}

static void test_slurm_harness(void **st)
{
    (void)st;
    char cmd[4096];
    const char *bin = getenv("LLMFLASH_BIN");
    snprintf(cmd, sizeof cmd, "sh tests/sh/slurm_harness.sh '%s' '%s' > '%s' 2>&1",
             bin ? bin : "build/llmflash", lf_test_path("slurm"), lf_test_path("slurm.out"));
    int rc = system(cmd);
    char *out = lf_test_slurp(lf_test_path("slurm.out"));
    if (rc != 0)
        fail_msg("%s", out ? out : "(no output)");
    assert_non_null(strstr(out, "slurm harness ok"));
    free(out);
}

static void test_sweep_keys(void **st)
{
    (void)st;
    TPATH(conf, "keys.conf");
    const char *text = "mode = sim\ntrace = t.h5\ndevice = m1max | m9\n"
                       "policy = lru | window:k=2|4\ndram-fractoin = 0.4\n"
                       "threads = 8 | lots | 12abc | 16k\n";
    lf_test_write(conf, text, strlen(text));
    char *o = NULL, *e = NULL;
    /* the misspelt key stops everything, even a dry run; nothing is made */
    assert_int_equal(lf_test_run(&o, &e, "sweep %s --out %s -n", conf, lf_test_path("keys_out")),
                     2);
    assert_non_null(strstr(e, "keys.conf:5: 'dram-fractoin' is not an option of llmflash sim "
                              "(did you mean 'dram-fraction'?)"));
    assert_non_null(strstr(e, "nothing was run"));
    /* the items that are no valid spec are named */
    assert_non_null(strstr(e, "policy = '4' cannot run"));
    assert_non_null(strstr(e, "warning: ") && strstr(e, "device = 'm9' looks wrong"));
    assert_non_null(strstr(e, "threads = 'lots' cannot run"));
    assert_non_null(strstr(e, "threads = '12abc' cannot run")); /* a number, then junk */
    assert_null(strstr(e, "threads = '16k' cannot run"));
    assert_null(strstr(e, "threads = '8' cannot run"));
    assert_null(strstr(e, "policy = 'lru' cannot run"));
    assert_null(strstr(e, "'window:k=2' cannot run"));
    assert_false(lf_file_exists(lf_test_path("keys_out")));
    free(o);
    free(e);
    /* and a bad item alone stops everything too: each of its runs would fail */
    text = "mode = sim\ntrace = t.h5\ndevice = m1max\npolicy = lru | nope\n";
    lf_test_write(conf, text, strlen(text));
    assert_int_equal(lf_test_run(&o, &e, "sweep %s --out %s", conf, lf_test_path("keys_out")), 2);
    assert_non_null(strstr(e, "policy = 'nope' cannot run"));
    assert_non_null(strstr(e, "nothing was run"));
    assert_false(lf_file_exists(lf_test_path("keys_out")));
    free(o);
    free(e);
    /* quoted or escaped, a '|' stays in the spec */
    text = "mode = sim\ntrace = t.h5\ndevice = m1max\npolicy = lru | \"window:k=2|4\" | window:k=8\\|9\n";
    lf_test_write(conf, text, strlen(text));
    assert_int_equal(lf_test_run(&o, &e, "sweep %s --out %s -n", conf, lf_test_path("keys_out")),
                     0);
    assert_non_null(strstr(o, "--policy 'window:k=2|4'"));
    assert_non_null(strstr(o, "--policy 'window:k=8|9'"));
    assert_non_null(strstr(o, "3 runs, 0 done"));
    free(o);
    free(e);
    /* an option the command cannot run without is an error (--out is the sweep's) */
    text = "mode = sim\ndevice = m1max\npolicy = lru\n";
    lf_test_write(conf, text, strlen(text));
    assert_int_equal(lf_test_run(&o, &e, "sweep %s --out %s -n", conf, lf_test_path("keys_out")),
                     2);
    assert_non_null(strstr(e, "llmflash sim needs --trace, which the sweep file does not give"));
    assert_null(strstr(e, "--device,"));
    assert_false(lf_file_exists(lf_test_path("keys_out")));
    free(o);
    free(e);
    /* a flag option given without its value is an error */
    text = "mode = sim\ntrace = t.h5\ndevice = m1max\nthreads =\n";
    lf_test_write(conf, text, strlen(text));
    assert_int_equal(lf_test_run(&o, &e, "sweep %s --out %s -n", conf, lf_test_path("keys_out")),
                     2);
    assert_non_null(strstr(e, "'threads' needs a value (--threads N)"));
    free(o);
    free(e);
}

/* Ctrl-C: no further run starts, the running ones finish, the count and the way to
 * resume are printed; the same command then runs only what is left. */
static void test_sweep_interrupt(void **st)
{
    (void)st;
    TPATH(conf, "intr.conf");
    TPATH(out, "intr_out");
    const char *text = "mode = sim\ntrace = t.h5\nseed = 1|2|3|4|5|6\n";
    lf_test_write(conf, text, strlen(text));
    char cmd[4096];
    const char *bin = getenv("LLMFLASH_BIN");
    snprintf(cmd, sizeof cmd,
             "export LLMFLASH_SWEEP_CMD='sleep 1; eval d=\\${$#}; echo a > \"$d/summary.csv\"'; "
             "'%s' sweep '%s' --out '%s' -j 1 2>'%s' & p=$!; "
             "i=0; until ls '%s'/*/done >/dev/null 2>&1 || [ $i -gt 600 ]; do sleep 0.05; "
             "i=$((i+1)); done; kill -INT $p; wait $p; "
             "echo rc=$? >> '%s'; '%s' sweep '%s' --out '%s' -j 2 > '%s' 2>&1",
             bin ? bin : "build/llmflash", conf, out, lf_test_path("intr.err"), out,
             lf_test_path("intr.err"), bin ? bin : "build/llmflash", conf, out,
             lf_test_path("intr2.out"));
    assert_int_equal(system(cmd), 0);
    char *e = lf_test_slurp(lf_test_path("intr.err"));
    char *o = lf_test_slurp(lf_test_path("intr2.out"));
    /* the kill comes once the first run is done: 1 or 2 runs finish (the second may
     * have started), 3 when a busy machine delays the kill by more than a run (1 s):
     * never all 6 */
    const char *m = strstr(e, "interrupted (Ctrl-C): ");
    assert_non_null(m);
    unsigned fin = 0, ok = 0, skipped = 0;
    assert_int_equal(sscanf(m, "interrupted (Ctrl-C): %u of 6 runs are finished", &fin), 1);
    assert_true(fin >= 1 && fin <= 3);
    assert_non_null(strstr(e, "rerun the same command to resume"));
    assert_non_null(strstr(e, "rc=130"));
    m = strstr(o, "ran ok");
    assert_non_null(m);
    while (m > o && m[-1] != ':')
        m--;
    assert_int_equal(sscanf(m, " %u ran ok, 0 failed, %u skipped", &ok, &skipped), 2);
    assert_int_equal(skipped, fin);
    assert_int_equal(ok + skipped, 6);
    free(e);
    free(o);
}

/* A routing log of one layer (layer 3 of qwen1.5-moe-a2.7b) imports as a trace that
 * says which layer it holds, and sim replays it as it is; a file without that record
 * (old files: all layers) of 1 layer is still refused for a 24-layer model. */
static void test_one_layer_trace(void **st)
{
    (void)st;
    TPATH(log, "layer3.jsonl");
    TPATH(h5, "layer3.h5");
    FILE *f = fopen(log, "w");
    assert_non_null(f);
    fprintf(f, "{\"type\": \"meta\", \"model_id\": \"Qwen/Qwen1.5-MoE-A2.7B-Chat\", "
               "\"layers_logged\": [3], \"top_k\": 4}\n");
    for (int t = 0; t < 40; t++)
        fprintf(f, "{\"type\": \"route\", \"req_id\": \"r1\", \"token_idx\": %d, \"layer\": 3, "
                   "\"topk_ids\": [%d, %d, %d, %d]}\n",
                t, t % 15, 15 + (t * 7) % 15, 30 + (t * 11) % 15, 45 + (t * 13) % 15);
    assert_int_equal(fclose(f), 0);
    char *o = NULL, *e = NULL;
    int rc = lf_test_run(&o, &e, "trace import --format vllm-moe-jsonl -o %s %s", h5, log);
    if (rc)
        fail_msg("%s", e);
    free(o);
    free(e);
    lf_trace t;
    lf_err err;
    assert_int_equal(lf_trace_read(h5, &t, &err), LF_OK);
    assert_int_equal(t.n_layers, 1);
    assert_int_equal(t.first_layer, 3);
    assert_string_equal(t.model, "qwen1.5-moe-a2.7b");
    rc = lf_test_run(&o, &e, "sim --trace %s --device m3max --policy lru --dram-fraction 0.9 --out %s", h5,
                     lf_test_path("layer3_run"));
    if (rc)
        fail_msg("%s", e);
    assert_non_null(strstr(o, "qwen1.5-moe-a2.7b (1 layers x 60 experts"));
    free(o);
    free(e);
    /* the same trace without the record: a whole-model trace of the wrong shape */
    t.first_layer = -1;
    TPATH(old, "layer3-old.h5");
    assert_int_equal(lf_trace_write(&t, old, &err), LF_OK);
    lf_trace_free(&t);
    assert_int_equal(lf_test_run(&o, &e, "sim --trace %s --device m3max --quiet", old), 1);
    assert_non_null(strstr(e, "does not match the trace"));
    free(o);
    free(e);
}

/* sim warns (stderr, exit 0) when the run's reads fall outside the reads the profile's
 * flash keys were fitted on, and says nothing with the same profile inside them, or
 * with a profile that does not record its range. */
static void test_fit_range_warning(void **st)
{
#define SMALL "--predictor-rank 0 --dram-fraction 0.8" /* the resident part fits */
    (void)st;
    TPATH(h5, "range.h5");
    TPATH(conf, "range.conf");
    char *o = NULL, *e = NULL;
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model custom:2,64,256 --tokens 6 "
                                 "--seed 1 -o %s", h5), 0);
    char *text;
    size_t len;
    lf_err err;
    assert_int_equal(lf_read_file("costmodel/devices/m1max.conf", &text, &len, &err), LF_OK);
    char buf[8192];
    snprintf(buf, sizeof buf, "%sflash_fit_min_chunk = 65536\nflash_fit_max_chunk = 1048576\n"
             "flash_fit_min_depth = 1\nflash_fit_max_depth = 32\n", text);
    free(text);
    lf_test_write(conf, buf, strlen(buf));
    /* custom:2,64,256 in fp16: records of 256 bytes padded to 4 KiB, reads of 4 KiB up */
    assert_int_equal(lf_test_run(&o, &e, "sim --trace %s --device %s " SMALL " --quiet", h5, conf), 0);
    assert_non_null(strstr(e, "llmflash sim: warning: device profile"));
    assert_non_null(strstr(e, "outside the reads of 64.0-1024.0 KiB its flash keys were fitted on"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "sim --trace %s --device %s " SMALL " --threads 64 --quiet", h5,
                                 conf), 0);
    assert_non_null(strstr(e, "64 reads in flight"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "sim --trace %s --device m1max " SMALL " --threads 64 --quiet", h5), 0);
    assert_null(strstr(e, "warning"));
    free(o);
    free(e);
    /* validate names, per profile, the configurations it priced outside the range */
    TPATH(w, "range.w");
    TPATH(grid, "range_grid.conf");
    assert_int_equal(lf_test_run(NULL, NULL, "weights make --model custom:2,64,256 --file %s", w), 0);
    const char *g = "policy = lru\nthreads = 4 | 64\npredictor_rank = 0\ndram_fraction = 0.8\n";
    lf_test_write(grid, g, strlen(g));
    lf_test_expect(0, "priced 2 of 2 configurations (c01, c02) outside what it was fitted on",
                   "validate --trace %s --weights %s --device %s --grid %s --repeat 1 --tokens 3 "
                   "--engine null --out %s", h5, w, conf, grid, lf_test_path("range_val"));
    /* batch terms probed after 5 ms of compute, priced for layers computing microseconds:
     * said, with the gap to calibrate at (a profile without a range: nothing else is) */
    TPATH(gapped, "gapped.conf");
    assert_int_equal(lf_read_file("costmodel/devices/m1max.conf", &text, &len, &err), LF_OK);
    snprintf(buf, sizeof buf, "%sflash_batch_s = 2e-4\nflash_batch_gap_s = 0.005\n", text);
    free(text);
    lf_test_write(gapped, buf, strlen(buf));
    assert_int_equal(lf_test_run(&o, &e, "sim --trace %s --device %s " SMALL " --quiet", h5,
                                 gapped), 0);
    assert_non_null(strstr(e, "layers computing 0.00 ms between their reads, against the 5.00 ms"));
    assert_null(strstr(e, "outside the reads"));
    free(o);
    free(e);
#undef SMALL
}

/* Messages that pointed at the wrong fix: each names what was given and what to do. */
static void test_messages_name_the_fix(void **st)
{
    (void)st;
    TPATH(h5, "msg.h5");
    TPATH(conf, "msg.conf");
    TPATH(file, "msg.file");
    char *e = NULL;
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model opt-1.3b --tokens 4 -o %s", h5), 0);
    /* --dram-bytes given: the fix is more bytes, in bytes (rounded, both sizes printed alike) */
    assert_int_equal(lf_test_run(NULL, &e, "sim --trace %s --device m1max --dram-bytes 1g "
                                 "--quiet", h5), 1);
    assert_non_null(strstr(e, "give --dram-bytes 1074135040 or more (1073741824 bytes now)"));
    assert_null(strstr(e, "--dram-fraction"));
    free(e);
    lf_test_expect(2, "--model and --checkpoint exclude each other",
                   "weights make --model opt-1.3b --checkpoint x --file y");
    lf_test_expect(2, "--engine null: expected psync, io_uring or buffered",
                   "generate --checkpoint c --tokenizer t --steps 2 --weights w --engine null");
    lf_test_expect(2, "--dram-fraction, --dram-bytes and --predictor-* need --weights",
                   "generate --checkpoint c --tokenizer t --steps 2 --dram-bytes 1m");
    assert_int_equal(lf_test_run(NULL, &e, "sim --trace %s --device m1max --repeat-configs %s",
                                 h5, h5), 1);
    assert_non_null(strstr(e, "--repeat-configs wants a text file"));
    assert_null(strstr(e, "HDF"));
    free(e);
    /* a trace without active units: its undefined shares print as "-", never nan */
    TPATH(empty, "empty.h5");
    char *o = NULL;
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model custom:1,1,1 --tokens 4 -o %s",
                                 empty), 0);
    assert_int_equal(lf_test_run(&o, NULL, "trace stats %s", empty), 0);
    assert_non_null(strstr(o, "reuse -   top10% share -"));
    assert_null(strstr(o, "nan"));
    free(o);
    lf_test_expect(2, "unexpected argument '--foo'", "version --foo");
    /* trace fit: one target per cache size; targets no (zipf, reuse) reaches are said so */
    lf_test_expect(2, "one per cache size", "trace fit --model olmoe-1b-7b --lru 16:0.5,16:0.6");
    lf_test_expect(0, "warning: the fit misses the target",
                   "trace fit --model olmoe-1b-7b --lru 16:0.99,32:0.1 --tokens 500");
    lf_test_expect(2, "give at least 2", "validate --tokens 1");
    /* ENGINE=PROFILE takes a profile's name as --device PROFILE does */
    for (int k = 0; k < 2; k++)
        lf_test_expect(1, k ? "known profiles: " : "device profile 'nosuch'",
                       "validate --trace %s --weights w --device psync=nosuch --grid g --out o", h5);
    lf_test_write(file, "x", 1);
    lf_test_expect(2, "is a file, not a folder", "sweep experiments/fig7.conf --out %s", file);
    /* an unknown profile key: the valid ones listed whole, never cut mid-word */
    char *text;
    size_t len;
    lf_err err;
    assert_int_equal(lf_read_file("costmodel/devices/m1max.conf", &text, &len, &err), LF_OK);
    char buf[8192];
    snprintf(buf, sizeof buf, "%sfoo_bar = 1\n", text);
    free(text);
    lf_test_write(conf, buf, strlen(buf));
    assert_int_equal(lf_test_run(NULL, &e, "sim --trace %s --device %s --quiet", h5, conf), 1);
    const char *tail = strstr(e, " more)");
    assert_non_null(tail);
    assert_true(tail > e && tail[-1] >= '0' && tail[-1] <= '9' && strstr(e, " and "));
    free(e);
}

/* Not on a terminal, a long step prints whole progress lines (every 20 s; here every
 * 10 ms) instead of staying silent. */
static void test_progress_lines(void **st)
{
    (void)st;
    char *o = NULL, *e = NULL;
    /* the default interval (20 s) is longer than this step: no line */
    assert_int_equal(lf_test_run(&o, &e, "trace synth --model custom:4,64,2048 --tokens 3k --seed 1 -o %s",
                                 lf_test_path("p1.h5")),
                     0);
    assert_null(strstr(e, "/3000 ("));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e,
                                 "trace synth --model custom:4,64,2048 --tokens 3k --seed 1 -o %s; "
                                 "LLMFLASH_PROGRESS_EVERY=0.001 $LLMFLASH_BIN trace synth "
                                 "--model custom:4,64,2048 --tokens 3k --seed 1 -o %s",
                                 lf_test_path("p2.h5"), lf_test_path("p3.h5")),
                     0);
    assert_non_null(strstr(e, "/3000 ("));
    assert_non_null(strstr(e, "trace synth: done in"));
    assert_null(strstr(e, "\r"));
    free(o);
    free(e);
}

/* Every README block runs as written, in order (tests/sh/readme_blocks.sh: a fresh
 * folder, small sizes); the optimised binary keeps it to about half a minute. */
static void test_readme_blocks(void **st)
{
    (void)st;
    if (!lf_file_exists("README.md") || !lf_file_exists("build/llmflash"))
        skip();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "sh tests/sh/readme_blocks.sh build/llmflash '%s' > '%s' 2>&1",
             lf_test_path("readme"), lf_test_path("readme.out"));
    int rc = system(cmd);
    char *out = lf_test_slurp(lf_test_path("readme.out"));
    if (rc != 0)
        fail_msg("%s", out ? out : "(no output)");
    printf("%s", out);
    assert_non_null(strstr(out, "readme blocks ok: "));
    free(out);
}

/* Counts take decimal suffixes (--tokens 10k), sizes binary ones (--dram-bytes 6g). */
static void test_count_and_size_suffixes(void **st)
{
    (void)st;
    uint64_t v = 0;
    assert_int_equal(lf_parse_count("10k", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(lf_parse_count("2M", &v), 0);
    assert_int_equal(v, 2000000);
    assert_int_equal(lf_parse_count("7", &v), 0);
    assert_int_equal(v, 7);
    assert_int_not_equal(lf_parse_count("10kB", &v), 0);
    assert_int_not_equal(lf_parse_count("1x", &v), 0);
    assert_int_not_equal(lf_parse_count("-1", &v), 0);
    assert_int_equal(lf_parse_size("6g", &v), 0);
    assert_int_equal(v, 6ull << 30);
    assert_int_equal(lf_parse_size("4KiB", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_not_equal(lf_parse_size("99999999999t", &v), 0);
    char *o = NULL, *e = NULL;
    /* the CLI: --tokens 1k is 1000 tokens (more than this trace holds: refused as such) */
    assert_int_equal(lf_test_run(&o, &e, "trace synth --model custom:2,64,256 --tokens 1k -o %s",
                                 lf_test_path("k.h5")),
                     0);
    assert_non_null(strstr(o, "1000 tokens"));
    free(o);
    free(e);
}

/* An option given twice takes its last value, as getopt's do, and says so (under its
 * short and long names too); a repeatable one (validate's --device) says nothing. Values
 * that name nothing are refused. */
static void test_option_given_twice(void **st)
{
    (void)st;
    char *o = NULL, *e = NULL;
    assert_int_equal(lf_test_run(&o, &e, "trace synth --model custom:2,64,256 --tokens 5 "
                                 "--tokens 7 -o %s --output %s", lf_test_path("x.h5"),
                                 lf_test_path("twice.h5")), 0);
    assert_non_null(strstr(o, "7 tokens"));
    assert_non_null(strstr(o, "twice.h5"));
    assert_non_null(strstr(e, "note: '--tokens' given again; the last value ('7') is used"));
    assert_non_null(strstr(e, "note: '--output' given again"));
    assert_false(lf_file_exists(lf_test_path("x.h5")));
    free(o), free(e);
    /* two --device, then a missing grid: refused for the grid, with no note */
    assert_int_equal(lf_test_run(NULL, &e, "validate --device psync=x.conf --device "
                                 "io_uring=y.conf"), 2);
    assert_null(strstr(e, "given again"));
    free(e);
    /* an engine nobody has, and a configurations file without one, are refused */
    assert_int_equal(lf_test_run(NULL, &e, "validate --device foo=x.conf --grid g"), 2);
    assert_non_null(strstr(e, "unknown I/O engine 'foo'"));
    free(e);
    char cfgs[1200];
    snprintf(cfgs, sizeof cfgs, "%s", lf_test_path("comments.txt"));
    lf_test_write(cfgs, "# only a comment\n\n", 18);
    assert_int_equal(lf_test_run(NULL, NULL, "trace synth --model custom:2,64,256 --tokens 5 "
                                 "-o %s", lf_test_path("five.h5")), 0);
    assert_int_equal(lf_test_run(NULL, &e, "sim --trace %s --device m1max --repeat-configs %s",
                                 lf_test_path("five.h5"), cfgs), 2);
    assert_non_null(strstr(e, "holds no configuration"));
    free(e);
    assert_int_equal(lf_test_run(NULL, &e, "sim --trace %s --device m1max --predictor-rank 0 "
                                 "--dram-fraction 1 --out ''", lf_test_path("five.h5")), 1);
    assert_non_null(strstr(e, "an empty folder name"));
    free(e);
}

/* build/cpu_time (the benchmarks' CPU clock): a busy command's CPU seconds appended, a
 * sleeping one's near none (CPU, not wall time); a failing command, a missing one, an
 * unwritable file and no command at all give their statuses and append nothing. */
static int sh_status(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, arg);
    int st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_cpu_time(void **st)
{
    (void)st;
    TPATH(f, "cpu.txt");
    assert_int_equal(sh_status("build/cpu_time %s sh -c 'i=0; while [ $i -lt 200000 ]; "
                               "do i=$((i+1)); done'", f), 0);
    assert_int_equal(sh_status("build/cpu_time %s sleep 0.3", f), 0);
    assert_int_equal(sh_status("build/cpu_time %s false", f), 1);
    assert_int_equal(sh_status("build/cpu_time %s /nonexistent-llmflash 2>/dev/null", f), 127);
    assert_int_equal(sh_status("build/cpu_time %s/no/such/dir true 2>/dev/null", f), 2);
    assert_int_equal(sh_status("build/cpu_time %s 2>/dev/null", f), 2);
    char *text = lf_test_slurp(f);
    assert_non_null(text);
    double busy = -1, sleeping = -1;
    char rest[8] = "";
    assert_int_equal(sscanf(text, "%lf %lf %7s", &busy, &sleeping, rest), 2);
    assert_true(busy > 0.02 && busy < 30);
    assert_true(sleeping >= 0 && sleeping < 0.02);
    free(text);
}

/* The binary names the revision it was built from (meta.json's git_rev): a build after a
 * commit recompiles the one object that carries it. */
static void test_version_names_head(void **st)
{
    (void)st;
    char rev[64] = "";
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    int got = p && fgets(rev, sizeof rev, p) != NULL;
    if (p)
        pclose(p);
    if (!got || rev[0] == '\0') {
        printf("SKIP: not a git checkout, no revision to compare\n");
        skip();
    }
    rev[strcspn(rev, "\n")] = '\0';
    char *out = NULL;
    assert_int_equal(lf_test_run(&out, NULL, "--version"), 0);
    char want[96];
    snprintf(want, sizeof want, "(git %s", rev);
    if (!strstr(out, want))
        fail_msg("--version says '%s', HEAD is %s", out, rev);
    free(out);
}

/* plots/validate_check.sh on a CSV of the given |errors| (VALIDATE_TARGETS=targets
 * unless NULL): its exit status and its line. */
static int validate_check(const char *errors, const char *targets, char **line)
{
    TPATH(csv, "vc.csv");
    TPATH(out, "vc.out");
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "config,policy,error_pct,noisy\n");
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", errors);
    int i = 1;
    for (char *e = strtok_r(buf, " ", &save); e; e = strtok_r(NULL, " ", &save))
        fprintf(f, "c%02d,\"lru, window\",%s,0\n", i++, e); /* a comma in the policy too */
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "VALIDATE_TARGETS='%s' sh plots/validate_check.sh '%s' > '%s' 2>&1",
             targets ? targets : "", csv, out);
    int rc = system(cmd);
    *line = lf_test_slurp(out);
    assert_non_null(*line);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A verdict line never shows a missed figure rounded onto its target, nor a met one
 * rounded past it. */
static void test_verdict_decimals(void **st)
{
    (void)st;
    char *line;
    assert_int_equal(validate_check("5.046 -3 6", NULL, &line), 1); /* MdAPE 5.046 */
    assert_non_null(strstr(line, "MdAPE 5.05% over 3 configurations (target <= 5%) MISSED"));
    assert_non_null(strstr(line, "worst 6.0% (target <= 15%)\n"));
    free(line);
    assert_int_equal(validate_check("4.96 -15.004 1", NULL, &line), 1); /* worst 15.004 */
    assert_non_null(strstr(line, "MdAPE 5.0% over 3 configurations (target <= 5%),")); /* 4.96 */
    assert_non_null(strstr(line, "worst 15.004% (target <= 15%) MISSED"));
    free(line);
    assert_int_equal(validate_check("-4.96 2 15", NULL, &line), 0); /* both met */
    assert_non_null(strstr(line, "worst 15.0% (target <= 15%)"));
    assert_null(strstr(line, "MISSED"));
    free(line);
    /* other targets (bench_exec's), and none */
    assert_int_equal(validate_check("10.04 11 1", "10,25", &line), 1);
    assert_non_null(strstr(line, "MdAPE 10.04% over 3 configurations (target <= 10%) MISSED"));
    assert_non_null(strstr(line, "worst 11.0% (target <= 25%)\n"));
    free(line);
    assert_int_equal(validate_check("10.04 11 1", "none", &line), 0);
    assert_non_null(strstr(line, "MdAPE 10.0% over 3 configurations, worst 11.0% (no target)"));
    free(line);
    assert_int_equal(validate_check("1", "10", &line), 2);
    assert_non_null(strstr(line, "VALIDATE_TARGETS=10: use MDAPE,WORST"));
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_find),
        cmocka_unit_test(test_installed_profiles),
        cmocka_unit_test(test_slurm_harness),
        cmocka_unit_test(test_sweep_keys),
        cmocka_unit_test(test_sweep_interrupt),
        cmocka_unit_test(test_one_layer_trace),
        cmocka_unit_test(test_fit_range_warning),
        cmocka_unit_test(test_messages_name_the_fix),
        cmocka_unit_test(test_progress_lines),
        cmocka_unit_test(test_count_and_size_suffixes),
        cmocka_unit_test(test_option_given_twice),
        cmocka_unit_test(test_readme_blocks),
        cmocka_unit_test(test_cpu_time),
        cmocka_unit_test(test_version_names_head),
        cmocka_unit_test(test_verdict_decimals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
