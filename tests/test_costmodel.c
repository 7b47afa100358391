/* Tests of costmodel/: the flash, DRAM, compute and page-cache models (hand-computed
 * values, monotonicity, caps), profile parsing and saving, the shipped profiles, the
 * fit on synthetic noisy points, and the probe CSV reader. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lf_device.h"
#include "lf_fit.h"
#include "lf_membench.h"
#include "lf_stall.h"
#include "lf_fs.h"
#include "lf_test.h"

/* lf_test_toy_device with this file's hand values: no page cache, a slower device
 * bound, costlier DRAM operations, faster compute; p the flash join's exponent. */
static lf_device toy(double p)
{
    lf_device d = lf_test_toy_device();
    d.flash_max_bw = 2e9;
    d.flash_smooth_p = p;
    d.dram_op_s = 1e-6;
    d.dram_alloc_s = 5e-6;
    d.compute_flops = 1e11;
    d.mem_bw = 2e10;
    d.pagecache_bw = 0;
    d.pagecache_latency_s = 0;
    return d;
}

/* The roofline at the resident part's rate for `cols` columns, and at the FFN's rate for
 * its shape: what sim's backend prices with the rates it takes once. */
static double dense_time(const lf_device *d, uint32_t cols, double flops, double bytes)
{
    return lf_roofline_time(d, flops, bytes, lf_device_dense_bw_at(d, cols));
}

static double ffn_time(const lf_device *d, int swiglu, uint32_t d_model, double flops,
                       double bytes)
{
    return lf_roofline_time(d, flops, bytes, lf_device_ffn_bw(d, swiglu, d_model));
}

static void test_flash_hand_values(void **st)
{
    (void)st;
    lf_device d = toy(0);
    /* as a stream: t_lat = (10 * 100us + 40960 B / 1 GB/s) / 4 = 260.24 us; t_bw = 20.48 us;
     * t_iops = 100 us */
    assert_float_equal(lf_flash_stream_time(&d, 10, 40960, 4), 260.24e-6, 1e-12);
    /* as a batch, in rounds: 8 reads = 2 rounds of 4 (208.192 us), then 2 alone: their
     * latency term (2 * 104.096 us) / 2 slots = 104.096 us */
    assert_float_equal(lf_flash_time(&d, 10, 40960, 4), 312.288e-6, 1e-12);
    assert_float_equal(lf_flash_rounds_time(&d, 12, 49152, 4), lf_flash_stream_time(&d, 12, 49152, 4),
                       1e-15);
    d.flash_smooth_p = 2; /* sqrt(260.24^2 + 20.48^2 + 100^2) us */
    assert_float_equal(lf_flash_stream_time(&d, 10, 40960, 4), 279.5429984814501e-6, 1e-12);
    /* fewer reads than in flight: parallelism is the number of reads */
    d.flash_smooth_p = 0;
    assert_float_equal(lf_flash_time(&d, 1, 4096, 32), 100e-6 + 4.096e-6, 1e-12);
    /* inflight 0 is treated as 1 */
    assert_float_equal(lf_flash_time(&d, 2, 8192, 0), 2 * (100e-6 + 4.096e-6), 1e-12);
    /* throughput of 1 MiB x 32: capped by the 2 GB/s device bandwidth */
    assert_float_equal(lf_flash_throughput(&d, 1 << 20, 32), 2e9, 1);
    /* 4 KiB x 32: the IOPS cap, 1e5 * 4096 */
    assert_float_equal(lf_flash_throughput(&d, 4096, 32), 4.096e8, 1);
    /* depth loss 0.5: 4 reads in flight serve as 4^0.5 = 2 streams, so the stream's
     * latency term doubles (260.24 -> 520.48 us); one read alone is one stream either way */
    d.flash_depth_loss = 0.5;
    assert_float_equal(lf_flash_stream_time(&d, 10, 40960, 4), 520.48e-6, 1e-12);
    assert_float_equal(lf_flash_time(&d, 1, 4096, 32), 100e-6 + 4.096e-6, 1e-12);
    /* loss 1: depth buys nothing, 10 reads take 10 reads' latency */
    d.flash_depth_loss = 1;
    assert_float_equal(lf_flash_stream_time(&d, 10, 40960, 4), 1040.96e-6, 1e-12);
    /* a batch's reads 25% slower than the stream's, plus 50 us a batch: 1.25 x the rounds
     * (10 reads of 4 KiB, 4 in flight, loss 0 again: 312.288 us) + 50 us; the steady
     * stream and throughput do not pay it */
    d.flash_depth_loss = 0;
    d.flash_batch_loss = 0.25;
    d.flash_batch_s = 50e-6;
    assert_float_equal(lf_flash_time(&d, 10, 40960, 4), 1.25 * 312.288e-6 + 50e-6, 1e-12);
    assert_float_equal(lf_flash_stream_time(&d, 10, 40960, 4), 260.24e-6, 1e-12);
    assert_float_equal(lf_flash_throughput(&d, 4096, 32), 4.096e8, 1);
    assert_true(lf_flash_time(&d, 0, 0, 4) == 0);
}

static void test_flash_zero_monotone_caps(void **st)
{
    (void)st;
    const double ps[] = {0, 1, 2, 4, 30, 1, 4};
    const double losses[] = {0, 0, 0, 0, 0, 0.5, 0.9}; /* the depth loss of each case */
    const uint64_t chunks[] = {512, 4096, 16384, 32768, 65536, 262144, 1 << 20, 8 << 20};
    const uint32_t threads[] = {1, 2, 4, 8, 16, 32, 64, 256};
    for (size_t k = 0; k < 7; k++) {
        lf_device d = toy(ps[k]);
        d.flash_depth_loss = losses[k];
        assert_true(lf_flash_time(&d, 0, 0, 8) == 0);
        assert_true(lf_flash_time(&d, 0, 12345, 8) == 0);
        for (size_t i = 0; i < 8; i++) {
            for (size_t j = 0; j < 8; j++) {
                double thr = lf_flash_throughput(&d, chunks[i], threads[j]);
                assert_true(thr > 0);
                assert_true(thr <= d.flash_max_bw * (1 + 1e-12));
                assert_true(thr / (double)chunks[i] <= d.flash_max_iops * (1 + 1e-12));
                if (i > 0)
                    assert_true(thr >= lf_flash_throughput(&d, chunks[i - 1], threads[j]));
                if (j > 0)
                    assert_true(thr >= lf_flash_throughput(&d, chunks[i], threads[j - 1]));
                /* time: more bytes, more reads of the same size cost more; more in flight less */
                uint64_t n = 1 + i * 7;
                double t = lf_flash_time(&d, n, n * chunks[i], threads[j]);
                assert_true(lf_flash_time(&d, n, n * chunks[i] + 4096, threads[j]) >= t);
                /* (a rounding's worth of slack: bandwidth-bound rounds split differently
                 * cost the same) */
                assert_true(lf_flash_time(&d, n + 1, (n + 1) * chunks[i], threads[j]) >=
                            t * (1 - 1e-12));
                /* over whole rounds (both in-flight counts divide n or reach it) */
                uint32_t a = threads[j - (j > 0)], b = threads[j];
                if (j > 0 && (n <= a || (n % a == 0 && (n <= b || n % b == 0))))
                    assert_true(lf_flash_time(&d, n, n * chunks[i], a) >= t * (1 - 1e-12));
            }
        }
        /* smoothing only adds: never faster than the hard max */
        lf_device h = toy(0);
        assert_true(lf_flash_time(&d, 100, 100 * 32768, 8) >= lf_flash_time(&h, 100, 100 * 32768, 8));
    }
}

static void test_dram_compute_pagecache(void **st)
{
    (void)st;
    lf_device d = toy(0);
    /* 3 ops of 1 us + 1e6 B / 10 GB/s = 3 us + 100 us */
    assert_float_equal(lf_dram_time(&d, 3, 1000000), 103e-6, 1e-15);
    assert_true(lf_dram_time(&d, 0, 0) == 0);
    assert_float_equal(lf_dram_alloc_time(&d, 4, 0), 20e-6, 1e-15);
    /* a fresh matrix's pages are faulted in as it is filled: 8193 bytes = 3 pages */
    d.dram_fault_s = 1e-6;
    assert_float_equal(lf_dram_alloc_time(&d, 1, 8193), 8e-6, 1e-15);
    d.dram_fault_s = 0;
    /* roofline: 1e9 flops / 1e11 = 10 ms; 1e8 B / 2e10 = 5 ms -> 10 ms (compute bound) */
    assert_float_equal(lf_compute_time(&d, 1e9, 1e8), 10e-3, 1e-15);
    /* 1e6 flops = 10 us; 1e8 B = 5 ms -> memory bound */
    assert_float_equal(lf_compute_time(&d, 1e6, 1e8), 5e-3, 1e-15);
    assert_true(lf_compute_time(&d, 0, 0) == 0);
    /* the resident part's dense products: mem_bw until the profile has dense_bw, then
     * 1e8 B / 4e10 = 2.5 ms (and still compute bound at 1e9 flops) */
    assert_float_equal(dense_time(&d, 4096, 1e6, 1e8), 5e-3, 1e-15);
    d.dense_bw = 4e10;
    assert_float_equal(dense_time(&d, 4096, 1e6, 1e8), 2.5e-3, 1e-15);
    assert_float_equal(dense_time(&d, 4096, 1e9, 1e8), 10e-3, 1e-15);
    assert_float_equal(lf_compute_time(&d, 1e6, 1e8), 5e-3, 1e-15); /* the FFN's: unchanged */
    /* by columns: a measured width's rate, dense_bw at widths none was measured near */
    d.dense_bw_cols[5] = 2e10; /* 8192 */
    assert_float_equal(dense_time(&d, 8192, 1e6, 1e8), 5e-3, 1e-15);
    assert_float_equal(dense_time(&d, 4096, 1e6, 1e8), 5e-3, 1e-15); /* nearest: 8192's */
    d.dense_bw_cols[3] = 4e10; /* 4096 */
    assert_float_equal(dense_time(&d, 4096, 1e6, 1e8), 2.5e-3, 1e-15);
    assert_float_equal(dense_time(&d, 2048, 1e6, 1e8), 2.5e-3, 1e-15);
    double mid = lf_device_dense_bw_at(&d, 5793); /* halfway in log2: the mean time per byte */
    assert_float_equal(mid, 1.0 / (0.5 / 4e10 + 0.5 / 2e10), 1e7);
    memset(d.dense_bw_cols, 0, sizeof d.dense_bw_cols);
    d.dense_bw = 0;
    /* page cache: 0 when not modelled, and a plan that has hits there is refused */
    assert_true(lf_pagecache_time(&d, 10, 1 << 20) == 0);
    lf_err err;
    assert_int_equal(lf_pagecache_check(&d, 0, &err), LF_OK);
    assert_int_equal(lf_pagecache_check(&d, 1, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "does not model the OS page cache"));
    d.pagecache_bw = 1e10;
    assert_int_equal(lf_pagecache_check(&d, 1, &err), LF_OK);
    d.pagecache_latency_s = 2e-6;
    assert_float_equal(lf_pagecache_time(&d, 10, 1000000), 20e-6 + 100e-6, 1e-15);
    assert_true(lf_pagecache_time(&d, 0, 0) == 0);
}

static const char *good_profile =
    "# a test profile\n"
    "name = t1\n"
    "flash_latency_s = 1e-4   # s\n"
    "flash_stream_bw = 1e9\n"
    "flash_max_bw = 2e9\n"
    "flash_max_iops = 100000\n"
    "dram_copy_bw = 1e10\n"
    "dram_op_s = 1e-7\n"
    "compute_flops = 1e11\n"
    "mem_bw = 2e10\n";

static int load_text(const char *text, lf_device *d, lf_err *err)
{
    const char *p = lf_test_path("dev.conf");
    lf_test_write(p, text, strlen(text));
    return lf_device_load(p, d, err);
}

static void test_profile_parse(void **st)
{
    (void)st;
    lf_device d;
    lf_err err;
    assert_int_equal(load_text(good_profile, &d, &err), LF_OK);
    assert_string_equal(d.name, "t1");
    assert_true(d.flash_latency_s == 1e-4);
    assert_true(d.flash_max_iops == 1e5);
    assert_int_equal(d.flash_alignment, 4096); /* default */
    assert_true(d.flash_smooth_p == 0 && d.pagecache_bw == 0 && d.dram_alloc_s == 0);

    char buf[2048];
    /* unknown key, on line 11 */
    snprintf(buf, sizeof buf, "%sflash_latncy = 3\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "dev.conf:11: unknown key 'flash_latncy'"));
    assert_non_null(strstr(err.msg, "flash_latency_s"));
    /* missing key: drop mem_bw (the last line) */
    snprintf(buf, sizeof buf, "%s", good_profile);
    *strstr(buf, "mem_bw") = '\0';
    assert_int_equal(load_text(buf, &d, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "missing key 'mem_bw'"));
    assert_non_null(strstr(err.msg, "dev.conf"));
    /* a non-number, on line 5 */
    snprintf(buf, sizeof buf, "%s", good_profile);
    memcpy(strstr(buf, "2e9"), "2GB", 3);
    assert_int_equal(load_text(buf, &d, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "dev.conf:5: flash_max_bw = '2GB' is not a number"));
    /* a negative latency, on line 3 */
    snprintf(buf, sizeof buf, "%s", good_profile);
    memcpy(strstr(buf, "1e-4"), "-1.0", 4);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "dev.conf:3: flash_latency_s"));
    /* p between 0 and 1, and a non-power-of-two alignment */
    snprintf(buf, sizeof buf, "%sflash_smooth_p = 0.5\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_smooth_p"));
    snprintf(buf, sizeof buf, "%sflash_depth_loss = 1.5\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_depth_loss = 1.5 must be in [0, 1]"));
    snprintf(buf, sizeof buf, "%sflash_depth_loss = 0.25\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_OK);
    assert_true(d.flash_depth_loss == 0.25);
    snprintf(buf, sizeof buf, "%sflash_batch_loss = 5\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_batch_loss = 5 must be in [0, 4]"));
    snprintf(buf, sizeof buf, "%sflash_batch_loss = -0.1\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    snprintf(buf, sizeof buf, "%sflash_alignment = 3000\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_alignment"));
    /* a batch of reads is a whole number of them */
    snprintf(buf, sizeof buf, "%sflash_fit_batch = 2.5\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_fit_batch"));
    snprintf(buf, sizeof buf, "%sflash_footprint = 4096.5\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_footprint"));
    snprintf(buf, sizeof buf, "%sflash_footprint = 17179869184\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_OK); /* 16 GiB: the probe's most */
    snprintf(buf, sizeof buf, "%sflash_footprint = 17179873280\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    /* a buffered profile's mechanism: 2 (cgroup) or 3 (fadvise); 1, an older calibrate's
     * probe that let reads hit, is refused with the fix */
    snprintf(buf, sizeof buf, "%sflash_buffered = 2\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_OK);
    assert_true(d.flash_buffered == LF_BUFFERED_CGROUP);
    snprintf(buf, sizeof buf, "%sflash_buffered = 1\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_buffered = 1: measured by an older calibrate"));
    assert_non_null(strstr(err.msg, "calibrate --engine buffered"));
    snprintf(buf, sizeof buf, "%sflash_buffered = 4\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: flash_buffered = 4 must be 0 (O_DIRECT), 2"));
    /* the cost of a gapped FFN row: optional (0), a time, so never negative */
    assert_true(d.ffn_row_gap_s == 0);
    snprintf(buf, sizeof buf, "%sffn_row_gap_s = 2.5e-7\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_OK);
    assert_true(d.ffn_row_gap_s == 2.5e-7);
    snprintf(buf, sizeof buf, "%sffn_row_gap_s = -1e-7\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: ffn_row_gap_s"));
    /* no name: the file's base name */
    assert_int_equal(load_text(good_profile + strlen("# a test profile\nname = t1\n"), &d, &err),
                     LF_OK);
    assert_string_equal(d.name, "dev");
}

/* The FFN kernel's rate by shape: the measured width's rate, time per byte interpolated
 * in log2(d_model) between two measured widths, the nearest outside them, mem_bw without
 * any; each activation its own table; the keys parse, refuse negatives, and save. */
static void test_ffn_bw_by_shape(void **st)
{
    (void)st;
    lf_device d = toy(0);
    d.mem_bw = 5e9;
    assert_true(lf_device_ffn_bw(&d, 0, 2048) == 5e9); /* nothing measured: mem_bw */
    assert_true(lf_device_ffn_bw(&d, 1, 2048) == 5e9);
    d.ffn_bw_relu[1] = 16e9; /* 2048 */
    d.ffn_bw_relu[3] = 8e9;  /* 4096 */
    assert_true(lf_device_ffn_bw(&d, 0, 2048) == 16e9);
    assert_true(lf_device_ffn_bw(&d, 0, 4096) == 8e9);
    /* halfway in log2 between 2048 and 4096: the mean time per byte */
    double mid = 1.0 / (0.5 / 16e9 + 0.5 / 8e9);
    assert_float_equal(lf_device_ffn_bw(&d, 0, 2896), mid, mid * 1e-3);
    double at3072 = lf_device_ffn_bw(&d, 0, 3072);
    assert_true(at3072 < 16e9 && at3072 > 8e9 && at3072 < mid);
    /* outside the measured widths: the nearest (1024 and 8192 are not measured) */
    assert_true(lf_device_ffn_bw(&d, 0, 512) == 16e9);
    assert_true(lf_device_ffn_bw(&d, 0, 1024) == 16e9);
    assert_true(lf_device_ffn_bw(&d, 0, 16384) == 8e9);
    /* SwiGLU has a table of its own: still mem_bw */
    assert_true(lf_device_ffn_bw(&d, 1, 2048) == 5e9);
    /* the roofline takes it: bandwidth-bound at 4096, flop-bound when flops dominate */
    d.compute_flops = 1e15;
    assert_float_equal(ffn_time(&d, 0, 4096, 1e6, 8e6), 1e-3, 1e-12);
    d.compute_flops = 1e9;
    assert_float_equal(ffn_time(&d, 0, 4096, 1e6, 8e6), 1e-3, 1e-12);
    assert_float_equal(ffn_time(&d, 0, 4096, 2e6, 8e6), 2e-3, 1e-12);

    lf_err err;
    char buf[2048];
    snprintf(buf, sizeof buf, "%sffn_bw_swiglu_5120 = 1.5e10\nffn_bw_relu_1024 = 2e10\n",
             good_profile);
    lf_device e;
    assert_int_equal(load_text(buf, &e, &err), LF_OK);
    assert_true(e.ffn_bw_swiglu[4] == 1.5e10 && e.ffn_bw_relu[0] == 2e10);
    assert_true(e.ffn_bw_relu[1] == 0 && e.ffn_bw_swiglu[0] == 0);
    assert_true(lf_device_ffn_bw(&e, 1, 4096) == 1.5e10);
    snprintf(buf, sizeof buf, "%sffn_bw_relu_2048 = -1\n", good_profile);
    assert_int_equal(load_text(buf, &e, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, ":11: ffn_bw_relu_2048"));
    snprintf(buf, sizeof buf, "%sdense_bw_8192 = 1.9e10\n", good_profile);
    assert_int_equal(load_text(buf, &e, &err), LF_OK);
    assert_true(e.dense_bw_cols[5] == 1.9e10 && e.dense_bw_cols[4] == 0 && e.dense_bw == 0);
    snprintf(buf, sizeof buf, "%sffn_bw_relu_2000 = 1e10\n", good_profile); /* not a width */
    assert_int_equal(load_text(buf, &e, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, ":11: unknown key 'ffn_bw_relu_2000'"));
    const char *p = lf_test_path("ffnbw.conf");
    assert_int_equal(lf_device_save(&d, p, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(p, &e, &err), LF_OK);
    assert_true(e.ffn_bw_relu[1] == 16e9 && e.ffn_bw_relu[3] == 8e9 && e.ffn_bw_relu[0] == 0);
}

/* Values of an absurd order are refused, naming the key: a rate below 1 per second
 * (mem_bw = 1e-300 priced a token at inf ms with exit 0), a time of hours; an optional
 * rate may still be 0 (not measured). */
static void test_profile_absurd_values(void **st)
{
    (void)st;
    const char *bad[] = {"pagecache_bw = 1e-300\n", "expert_wps_8 = 0.5\n", "dense_bw = 1e-9\n",
                         "dram_alloc_s = 7200\n", "ffn_row_gap_s = 1e30\n"};
    char buf[4096];
    lf_device d;
    lf_err err;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(buf, sizeof buf, "%s%s", good_profile, bad[i]);
        assert_int_equal(load_text(buf, &d, &err), LF_ERANGE);
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)strcspn(bad[i], " "), bad[i]);
        if (!strstr(err.msg, key) || !strstr(err.msg, "out of range"))
            fail_msg("%s: %s", bad[i], err.msg);
    }
    snprintf(buf, sizeof buf, "%sdense_bw = 0\nexpert_wps_4 = 2\ndram_alloc_s = 3600\n", good_profile);
    assert_int_equal(load_text(buf, &d, &err), LF_OK);
}

static void test_profile_save_roundtrip(void **st)
{
    (void)st;
    lf_device d = toy(3.5), e;
    d.pagecache_bw = 5e10;
    d.flash_depth_loss = 0.4375;
    d.flash_batch_loss = 0.1875;
    lf_err err;
    const char *p = lf_test_path("saved.conf");
    lf_device_sources src = {"fitted", NULL, "NOT MEASURED", "measured"};
    assert_int_equal(lf_device_save_sourced(&d, p, "line one\nline two", &src, &err), LF_OK);
    assert_int_equal(lf_device_load(p, &e, &err), LF_OK);
    assert_string_equal(e.name, "toy");
    assert_true(fabs(e.flash_latency_s - d.flash_latency_s) < 1e-12);
    assert_true(e.flash_smooth_p == 3.5 && e.pagecache_bw == 5e10 && e.dram_alloc_s == 5e-6);
    assert_true(e.flash_depth_loss == 0.4375 && e.flash_batch_loss == 0.1875);
    assert_int_equal(e.flash_alignment, 4096);
    char *text;
    size_t len;
    assert_int_equal(lf_read_file(p, &text, &len, &err), LF_OK);
    assert_non_null(strstr(text, "# line one\n# line two\n"));
    assert_non_null(strstr(text, "NOT MEASURED"));
    assert_non_null(strstr(text, "fitted"));
    free(text);
    /* no compute_stall: a profile of before it, compared as 1 */
    assert_true(e.compute_stall == 0 && lf_device_compute_stall(&e) == 1.0);
    d.compute_stall = 1.0625;
    assert_int_equal(lf_device_save_sourced(&d, p, NULL, &src, &err), LF_OK);
    assert_int_equal(lf_device_load(p, &e, &err), LF_OK);
    assert_true(e.compute_stall == 1.0625 && lf_device_compute_stall(&e) == 1.0625);
    /* an invalid profile is refused and nothing is written */
    d.flash_max_bw = 0;
    assert_int_equal(lf_device_save(&d, lf_test_path("bad.conf"), NULL, NULL, &err), LF_ERANGE);
    assert_false(lf_file_exists(lf_test_path("bad.conf")));
}

/* The slow-spell factor: each round's time over its kernel's median round's, averaged
 * over every kernel's rounds; rates and times alike; unusable rounds left out. */
static void test_stall_factor(void **st)
{
    (void)st;
    lf_stall s = {0};
    assert_true(lf_stall_factor(&s) == 1.0); /* nothing measured */
    /* one round of five at half the rate: ratios 1, 1, 1, 1, 2 */
    lf_stall_add_rates(&s, (const double[]){10, 10, 5, 10, 10}, 5);
    assert_true(fabs(lf_stall_factor(&s) - 1.2) < 1e-12);
    assert_true(s.n == 5 && s.max == 2.0);
    /* a kernel given as times (ms): median 2, ratios 0.5, 1, 1.5 */
    lf_stall_add_times(&s, (const double[]){1, 2, 3}, 3);
    assert_true(fabs(lf_stall_factor(&s) - (6.0 + 3.0) / 8) < 1e-12);
    /* an even count's median is the middle pair's mean (of the times: 0.05 and 0.1 s per
     * unit, median 0.075); 0, negative and NaN rounds go */
    lf_stall e = {0};
    lf_stall_add_rates(&e, (const double[]){20, 0, 10, -1, NAN}, 5);
    assert_int_equal(e.n, 2);
    assert_true(fabs(lf_stall_factor(&e) - 1.0) < 1e-12 && fabs(e.max - 0.1 / 0.075) < 1e-12);
    /* rounds beyond LF_STALL_MAX_ROUNDS are ignored, not read past */
    double many[LF_STALL_MAX_ROUNDS + 8];
    for (int i = 0; i < LF_STALL_MAX_ROUNDS + 8; i++)
        many[i] = i < LF_STALL_MAX_ROUNDS ? 4.0 : 1.0;
    lf_stall m = {0};
    lf_stall_add_rates(&m, many, LF_STALL_MAX_ROUNDS + 8);
    assert_true(m.n == LF_STALL_MAX_ROUNDS && lf_stall_factor(&m) == 1.0);
}

/* Every compute key of a profile (calibrate's kernels), as pointers into d. */
static size_t compute_fields(lf_device *d, double **out)
{
    size_t n = 0;
    double *one[] = {&d->compute_flops, &d->mem_bw, &d->dense_bw, &d->ffn_row_gap_s,
                     &d->expert_wps_16, &d->expert_wps_8, &d->expert_wps_4, &d->expert_wps_2,
                     &d->compute_stall};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        out[n++] = one[i];
    for (int i = 0; i < LF_FFN_BW_WIDTHS; i++) {
        out[n++] = &d->ffn_bw_relu[i];
        out[n++] = &d->ffn_bw_swiglu[i];
        out[n++] = &d->dense_bw_cols[i];
    }
    return n;
}

/* The benches' compute_keys (bench/benchlib.sh) moves every compute key between two
 * profiles, compute_stall with its rates, and nothing else: copy, and mean (geometric). */
static void test_bench_compute_keys(void **st)
{
    (void)st;
    lf_device a = toy(2), b = toy(2);
    b.flash_latency_s = 2 * a.flash_latency_s;
    double *fa[64], *fb[64];
    size_t n = compute_fields(&a, fa);
    assert_int_equal(compute_fields(&b, fb), n);
    for (size_t i = 0; i < n; i++) {
        *fa[i] = 1e9 * (double)(i + 1) / 64; /* exact in %g's six digits */
        *fb[i] = 4 * *fa[i];
    }
    a.compute_stall = 1.25, b.compute_stall = 1.0;
    a.ffn_row_gap_s = 2.5e-7, b.ffn_row_gap_s = 1e-6; /* seconds: in range */
    const char *pa = lf_test_path("keys_a.conf"), *pb = lf_test_path("keys_b.conf");
    lf_err err;
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(lf_device_save(&a, pa, NULL, NULL, &err), LF_OK);
        assert_int_equal(lf_device_save(&b, pb, NULL, NULL, &err), LF_OK);
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "sh -c '. bench/benchlib.sh && compute_keys %s \"%s\" \"%s\"'",
                 mode ? "mean" : "copy", pa, pb);
        assert_int_equal(system(cmd), 0);
        lf_device got;
        assert_int_equal(lf_device_load(pb, &got, &err), LF_OK);
        double *fg[64];
        compute_fields(&got, fg);
        for (size_t i = 0; i < n; i++) {
            double want = mode ? sqrt(*fa[i] * *fb[i]) : *fa[i];
            if (fabs(*fg[i] / want - 1) > 1e-5)
                fail_msg("%s: compute field %zu: %g, want %g", mode ? "mean" : "copy", i, *fg[i],
                         want);
        }
        assert_true(got.flash_latency_s == b.flash_latency_s); /* not a compute key */
    }
    unlink(pa);
    unlink(pb);
}

/* The shipped profiles load, and m1max passes through the paper's points. */
static void test_shipped_profiles(void **st)
{
    (void)st;
    const char *names[] = {"m1max", "m3max", "iphone17pro"};
    lf_device d;
    lf_err err;
    for (int i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "costmodel/devices/%s.conf", names[i]);
        if (lf_device_load(path, &d, &err) != LF_OK)
            fail_msg("%s", err.msg);
        assert_string_equal(d.name, names[i]);
    }
    assert_int_equal(lf_device_load("costmodel/devices/m1max.conf", &d, &err), LF_OK);
    assert_float_equal(lf_flash_throughput(&d, 16384, 32), 1.25e9, 1.25e9 * 1e-4);
    assert_float_equal(lf_flash_throughput(&d, 32768, 32), 2.25e9, 2.25e9 * 1e-4);
    assert_float_equal(lf_flash_throughput(&d, 8 << 20, 32), 6.1e9, 6.1e9 * 1e-4);
    assert_int_equal(lf_device_load("costmodel/devices/m3max.conf", &d, &err), LF_OK);
    /* Flash-MoE: 4 threads of 6.8 MB experts, 5.5 GB/s */
    assert_float_equal(lf_flash_throughput(&d, 6800000, 4), 5.5e9, 5.5e9 * 0.01);
}

/* Synthetic points from known parameters with 3% log-normal noise (seeded); the fit
 * must recover the parameters and predict the points well. */
/* The device the fit tests generate their points from. */
static lf_device fit_truth(void)
{
    lf_device truth = toy(4);
    truth.flash_latency_s = 80e-6;
    truth.flash_stream_bw = 800e6;
    truth.flash_max_bw = 3e9;
    truth.flash_max_iops = 150e3;
    return truth;
}

/* The points of a chunks x threads grid (batch 0: steady state) as `truth` predicts
 * them, each times exp(N(0, 0.03)) drawn from r in grid order; appended at out, the
 * number written returned. */
static size_t noisy_grid(const lf_device *truth, const uint64_t *chunks, size_t nc,
                         const uint32_t *threads, size_t nt, uint32_t batch, gsl_rng *r,
                         lf_fit_point *out)
{
    size_t n = 0;
    for (size_t i = 0; i < nc; i++)
        for (size_t j = 0; j < nt; j++, n++) {
            out[n] = (lf_fit_point){chunks[i], threads[j], 0, batch, 0, 0};
            out[n].bw = lf_fit_predict(truth, &out[n]) * exp(gsl_ran_gaussian(r, 0.03));
        }
    return n;
}

/* calibrate's probe of a device: steady reads of 4 KiB-1 MiB at 1-64 in flight, then
 * batches of each of `sizes` reads of 16 and 64 KiB at the same depths (3% noise, rng
 * seeded with `seed`); out holds 30 + 12 x n_sizes points. */
static size_t calibrate_grid(const lf_device *truth, unsigned long seed, const uint32_t *sizes,
                             size_t n_sizes, lf_fit_point *out)
{
    static const uint64_t chunks[] = {4096, 16384, 65536, 262144, 1 << 20};
    static const uint32_t threads[] = {1, 4, 8, 16, 32, 64};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    size_t n = noisy_grid(truth, chunks, 5, threads, 6, 0, r, out);
    for (size_t k = 0; k < n_sizes; k++)
        n += noisy_grid(truth, chunks + 1, 2, threads, 6, sizes[k], r, out + n);
    gsl_rng_free(r);
    return n;
}

static void test_fit_recovers(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    const uint64_t chunks[] = {4096, 16384, 32768, 65536, 262144, 1 << 20};
    const uint32_t threads[] = {1, 4, 8, 16, 32};
    lf_fit_point pts[30];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 42);
    size_t n = noisy_grid(&truth, chunks, 6, threads, 5, 0, r, pts);
    gsl_rng_free(r);
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    const lf_device *f = &res.dev;
    print_message("fit: L %.3g b %.3g B %.3g iops %.3g p %.3g mdape %.2f%% iters %zu\n", f->flash_latency_s, f->flash_stream_bw, f->flash_max_bw, f->flash_max_iops, f->flash_smooth_p, res.mdape, res.iterations);
    assert_true(fabs(f->flash_latency_s / truth.flash_latency_s - 1) < 0.10);
    assert_true(fabs(f->flash_stream_bw / truth.flash_stream_bw - 1) < 0.10);
    assert_true(fabs(f->flash_max_bw / truth.flash_max_bw - 1) < 0.10);
    assert_true(fabs(f->flash_max_iops / truth.flash_max_iops - 1) < 0.10);
    assert_true(f->flash_smooth_p > 2 && f->flash_smooth_p < 8);
    assert_true(res.mdape < 4.0);
    /* the non-flash fields are the placeholders */
    assert_true(f->dram_copy_bw == 10e9);
    /* fixed p: hard max also fits, less well; too few points is an error */
    assert_int_equal(lf_fit_flash(pts, n, &truth, 0, -1, &res, &err), LF_OK);
    assert_true(res.dev.flash_smooth_p == 0);
    assert_true(res.dev.mem_bw == truth.mem_bw);
    assert_int_equal(lf_fit_flash(pts, 4, NULL, -1, -1, &res, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "4 points for 5 parameters"));
    /* five measurements of one pair are one point: the parameters stay undetermined */
    lf_fit_point same[5];
    for (int i = 0; i < 5; i++)
        same[i] = pts[0];
    assert_int_equal(lf_fit_flash(same, 5, NULL, -1, -1, &res, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "1 points for 5 parameters"));
}

/* The fit records the reads it saw (chunks 16 KiB-256 KiB, 4-32 in flight); a run of 4
 * or 8 KiB reads, or of 64 in flight, is outside it, one inside is not; a profile without
 * the keys never says so; the keys survive a save and load, and a minimum above its
 * maximum or a fraction is refused. */
static void test_fit_range(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    const uint64_t chunks[] = {16384, 65536, 262144};
    const uint32_t threads[] = {4, 8, 32};
    lf_fit_point pts[9];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    size_t n = noisy_grid(&truth, chunks, 3, threads, 3, 0, r, pts);
    gsl_rng_free(r);
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    const lf_device *f = &res.dev;
    assert_true(f->flash_fit_min_chunk == 16384 && f->flash_fit_max_chunk == 262144);
    assert_true(f->flash_fit_min_depth == 4 && f->flash_fit_max_depth == 32);
    char msg[512];
    assert_int_equal(lf_device_flash_outside(f, 8192, 8, -1, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "reads of 8.0 KiB on average, outside the reads of 16.0-256.0 KiB"));
    assert_null(strstr(msg, "in flight"));
    assert_int_equal(lf_device_flash_outside(f, 15000, 8, -1, msg, sizeof msg), 0); /* > 0.9 x */
    assert_int_equal(lf_device_flash_outside(f, 300000, 8, -1, msg, sizeof msg), 1);
    assert_int_equal(lf_device_flash_outside(f, 65536, 64, -1, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "64 reads in flight, outside the 4-32 in flight"));
    assert_int_equal(lf_device_flash_outside(f, 65536, 2, -1, msg, sizeof msg), 1);
    assert_int_equal(lf_device_flash_outside(f, 65536, 32, -1, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 4096, 64, -1, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "--chunks and --threads"));
    lf_device old = toy(2); /* a hand-written profile: no range, no warning */
    assert_int_equal(lf_device_flash_outside(&old, 512, 1000, -1, msg, sizeof msg), 0);
    const char *p = lf_test_path("range.conf");
    lf_device e;
    assert_int_equal(lf_device_save(f, p, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(p, &e, &err), LF_OK);
    assert_true(e.flash_fit_min_chunk == 16384 && e.flash_fit_max_depth == 32);
    e.flash_fit_min_depth = 64;
    assert_int_equal(lf_device_save(&e, lf_test_path("bad.conf"), NULL, NULL, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "each minimum must not exceed its maximum"));
    e.flash_fit_min_depth = 4.5;
    assert_int_equal(lf_device_save(&e, lf_test_path("bad.conf"), NULL, NULL, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "flash_fit_min_depth = 4.5 must be a whole number"));
}

/* Hold-out: points from the model itself (3% noise) are predicted on the held-out half
 * nearly as well as fitted; a device the model cannot describe (throughput that falls
 * past 8 in flight) is not, and the halves partition the grid, each spanning every
 * chunk and depth. */
static void test_fit_holdout(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    const uint64_t chunks[] = {4096, 16384, 65536, 262144, 1 << 20};
    const uint32_t threads[] = {1, 2, 4, 16, 64};
    lf_fit_point pts[25], bent[25];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    size_t n = noisy_grid(&truth, chunks, 5, threads, 5, 0, r, pts);
    gsl_rng_free(r);
    for (size_t i = 0; i < n; i++) {
        bent[i] = pts[i];
        if (pts[i].threads > 8)
            bent[i].bw *= 8.0 / pts[i].threads; /* collapses past 8 in flight */
    }
    lf_fit_result res;
    lf_err err;
    double md, mx;
    size_t nf, nh;
    assert_int_equal(lf_fit_holdout(pts, n, NULL, -1, -1, 0, &res, &md, &mx, &nf, &nh, &err), LF_OK);
    assert_int_equal(nf + nh, n);
    assert_true(nf == 13 && nh == 12);
    assert_true(md < 5.0);
    assert_int_equal(lf_fit_holdout(bent, n, NULL, -1, -1, 0, &res, &md, &mx, &nf, &nh, &err), LF_OK);
    assert_true(md > 8.0 || mx > 30.0);
    /* one chunk only: no checkerboard */
    assert_int_equal(lf_fit_holdout(pts, 5, NULL, -1, -1, 0, &res, &md, &mx, &nf, &nh, &err),
                     LF_EINVAL);
}

/* The depth loss: points of a device whose reads in flight serve as m^0.5 streams give
 * back 0.5, and the model without it (fixed at 0) misses them by far more; a device
 * without a loss gives back about 0; a fixed loss is kept; two thread counts cannot tell
 * the loss from L and the caps, so it is not fitted. */
static void test_fit_depth_loss(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    truth.flash_depth_loss = 0.5;
    const uint64_t chunks[] = {4096, 16384, 65536, 262144, 1 << 20};
    const uint32_t threads[] = {1, 2, 4, 8, 16, 32, 64};
    lf_fit_point pts[35], flat[35];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    size_t n = noisy_grid(&truth, chunks, 5, threads, 7, 0, r, pts);
    truth.flash_depth_loss = 0;
    noisy_grid(&truth, chunks, 5, threads, 7, 0, r, flat);
    gsl_rng_free(r);
    lf_fit_result res, without;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    print_message("depth loss: fitted %.3f, MdAPE %.2f%%\n", res.dev.flash_depth_loss, res.mdape);
    assert_true(fabs(res.dev.flash_depth_loss - 0.5) < 0.08);
    assert_true(res.mdape < 4.0);
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, 0, &without, &err), LF_OK);
    assert_true(without.dev.flash_depth_loss == 0);
    print_message("depth loss: fixed at 0, MdAPE %.2f%%\n", without.mdape);
    assert_true(without.mdape > res.mdape + 2.0);
    assert_int_equal(lf_fit_flash(flat, n, NULL, -1, -1, &res, &err), LF_OK);
    assert_true(res.dev.flash_depth_loss < 0.08);
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, 0.3, &res, &err), LF_OK);
    assert_true(res.dev.flash_depth_loss == 0.3);
    lf_fit_point two[10]; /* 1 and 64 in flight */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (pts[i].threads == 1 || pts[i].threads == 64)
            two[k++] = pts[i];
    assert_int_equal(lf_fit_flash(two, k, NULL, -1, -1, &res, &err), LF_OK);
    assert_true(res.dev.flash_depth_loss == 0);
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, 1.5, &res, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "depth loss = 1.5"));
}

/* The DRAM copy line through row moves: recovers op and bandwidth; refuses times that do
 * not grow with the row (a busy machine); a negative intercept goes through the origin. */
/* fit_truth with a known cost per batch and per read slot. */
static lf_device batch_truth(void)
{
    lf_device d = fit_truth();
    d.flash_batch_s = 150e-6;
    d.flash_slot_s = 12e-6;
    return d;
}

/* Writes csv to path and reads it back as probe points (lf_fit_read_probe). */
static int read_probe_text(const char *path, const char *csv, const char *engine,
                           lf_fit_point **pts, size_t *n, lf_err *err)
{
    lf_test_write(path, csv, strlen(csv));
    return lf_fit_read_probe(path, engine, pts, n, err);
}

/* A batch point is modelled as batch reads with threads in flight: a batch of one read
 * runs alone, a batch of `threads` reads is the steady state's figure. */
static void test_fit_batch_points(void **st)
{
    (void)st;
    lf_device d = toy(4);
    lf_fit_point one = {65536, 16, 1e8, 1, 0, 0}, full = {65536, 16, 1e8, 16, 0, 0},
                 steady = {65536, 16, 1e8, 0, 0, 0};
    assert_float_equal(lf_fit_predict(&d, &one), lf_flash_throughput(&d, 65536, 1), 1e-6);
    assert_float_equal(lf_fit_predict(&d, &full), lf_flash_throughput(&d, 65536, 16), 1e-6);
    assert_float_equal(lf_fit_predict(&d, &steady), lf_flash_throughput(&d, 65536, 16), 1e-6);
    /* the probe CSV's batch column is read */
    const char *p = lf_test_path("batch.csv");
    const char *csv = "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us,batch\n"
                      "psync,4096,2,10,1,50.5,1,1,1,40\npsync,4096,4,10,1,60.5,1,1,1,0\n";
    lf_fit_point *pts;
    size_t n;
    lf_err err;
    assert_int_equal(read_probe_text(p, csv, NULL, &pts, &n, &err), LF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(pts[0].batch, 40);
    assert_int_equal(pts[1].batch, 0);
    free(pts);
    /* and its batch_gap_ms, the compute before each batch (a steady row's is not a gap) */
    csv = "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us,batch,batch_gap_ms\n"
          "psync,4096,2,10,1,50.5,1,1,1,40,0.3\npsync,4096,4,10,1,60.5,1,1,1,0,7\n";
    assert_int_equal(read_probe_text(p, csv, NULL, &pts, &n, &err), LF_OK);
    assert_float_equal(pts[0].gap_s, 0.3e-3, 1e-12);
    assert_true(pts[1].gap_s == 0);
    free(pts);
    csv = "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us,batch,batch_gap_ms\n"
          "psync,4096,2,10,1,50.5,1,1,1,40,-1\n";
    assert_int_equal(read_probe_text(p, csv, NULL, &pts, &n, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "batch.csv:2: batch_gap_ms '-1'"));
}

/* The fit records the compute its batches were probed after (flash_batch_gap_s) and
 * refuses batches after two; a run whose layers compute more than 4x longer or shorter
 * between their batches is told so, with the calibrate option that fits it. */
static void test_fit_batch_gap(void **st)
{
    (void)st;
    lf_device truth = batch_truth();
    static const uint32_t sizes[] = {32, 512};
    lf_fit_point pts[30 + 12 * 2 + 12];
    size_t n = calibrate_grid(&truth, 5, sizes, 2, pts);
    for (size_t i = 0; i < n; i++)
        pts[i].gap_s = pts[i].batch ? 2e-3 : 0;
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    const lf_device *f = &res.dev;
    assert_float_equal(f->flash_batch_gap_s, 2e-3, 1e-12);
    assert_true(f->flash_batch_s > 0);
    char msg[768];
    /* within 4x either way, or not asked: nothing to say */
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 0.6e-3, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 7e-3, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, -1, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 0.3e-3, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "layers computing 0.30 ms between their reads, against the "
                                "2.00 ms"));
    assert_non_null(strstr(msg, "calibrate --batch-gap 0.30"));
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 20e-3, msg, sizeof msg), 1);
    /* with reads outside the fitted range too: both said, in one sentence */
    assert_int_equal(lf_device_flash_outside(f, 65536, 128, 20e-3, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "128 reads in flight, outside"));
    assert_non_null(strstr(msg, "; layers computing 20.00 ms"));
    /* a profile without batch terms, or that does not record the gap: no gap warning */
    lf_device plain = *f;
    plain.flash_batch_s = plain.flash_slot_s = plain.flash_batch_loss = 0;
    assert_int_equal(lf_device_flash_outside(&plain, 65536, 8, 0.3e-3, msg, sizeof msg), 0);
    plain = *f;
    plain.flash_batch_gap_s = 0;
    assert_int_equal(lf_device_flash_outside(&plain, 65536, 8, 0.3e-3, msg, sizeof msg), 0);
    /* the key survives a save and load, and a gap beyond 10 s is refused */
    const char *p = lf_test_path("gap.conf");
    lf_device e;
    assert_int_equal(lf_device_save(f, p, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(p, &e, &err), LF_OK);
    assert_float_equal(e.flash_batch_gap_s, 2e-3, 1e-15);
    e.flash_batch_gap_s = 11;
    assert_int_equal(lf_device_save(&e, lf_test_path("bad.conf"), NULL, NULL, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "flash_batch_gap_s = 11"));
    /* steady points fitted on that profile keep its batch terms and their gap */
    lf_fit_result steady;
    assert_int_equal(lf_fit_flash(pts, 30, f, -1, -1, &steady, &err), LF_OK);
    assert_true(steady.dev.flash_batch_s == f->flash_batch_s);
    assert_float_equal(steady.dev.flash_batch_gap_s, 2e-3, 1e-15);
    /* a profile holds batches after two amounts of compute, not three */
    pts[n - 1].gap_s = 5e-3;
    pts[n - 2].gap_s = 9e-3;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "batches probed after 2, 9 and 5 ms of compute"));
}

/* Batches after two amounts of compute (calibrate's default batch pass: 5 and 0.25 ms)
 * give two conditions' batch terms, each recovered from its own batches (3% noise); a
 * batch after a gap between them costs what log(gap) interpolates, outside them the
 * nearer one's; the warning speaks of the range; the keys survive a save and load and
 * are refused half given; batches alone after two gaps fit too; a gap of 0 beside
 * another is refused. */
static void test_fit_two_gaps(void **st)
{
    (void)st;
    lf_device slow = batch_truth(), quick = fit_truth(); /* after 5 ms, after 0.25 ms */
    slow.flash_batch_loss = 0.3;
    quick.flash_batch_s = 20e-6;
    static const uint32_t sizes[] = {32, 512};
    lf_fit_point pts[30 + 12 * 2 + 12 * 2], more[30 + 12 * 2];
    size_t n = calibrate_grid(&slow, 5, sizes, 2, pts);
    size_t m = calibrate_grid(&quick, 6, sizes, 2, more);
    for (size_t i = 0; i < n; i++)
        pts[i].gap_s = pts[i].batch ? 5e-3 : 0;
    for (size_t i = 30; i < m; i++) {
        pts[n] = more[i];
        pts[n++].gap_s = 0.25e-3;
    }
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    const lf_device *f = &res.dev;
    assert_float_equal(f->flash_batch_gap_s, 5e-3, 1e-15);
    assert_float_equal(f->flash_batch2_gap_s, 0.25e-3, 1e-15);
    assert_true(res.mdape < 4.0);
    /* each condition prices its own batches as its truth does (a layer of 64 x 16 KiB
     * reads, 8 in flight), within the noise */
    double t_slow = lf_flash_time(&slow, 64, 64 * 16384, 8);
    double t_quick = lf_flash_time(&quick, 64, 64 * 16384, 8);
    assert_true(t_slow > 1.3 * t_quick);
    assert_true(fabs(lf_flash_time_gap(f, 64, 64 * 16384, 8, 5e-3) / t_slow - 1) < 0.05);
    assert_true(fabs(lf_flash_time_gap(f, 64, 64 * 16384, 8, 0.25e-3) / t_quick - 1) < 0.05);
    /* lf_flash_time is the first condition's; between the gaps, log-linear; outside, the
     * nearer gap's (0 counts as 0.1 ms) */
    double a = lf_flash_time_gap(f, 64, 64 * 16384, 8, 5e-3);
    double b = lf_flash_time_gap(f, 64, 64 * 16384, 8, 0.25e-3);
    assert_true(lf_flash_time(f, 64, 64 * 16384, 8) == a);
    assert_true(fabs(lf_flash_time_gap(f, 64, 64 * 16384, 8, sqrt(5e-3 * 0.25e-3)) - (a + b) / 2) <
                1e-12);
    assert_true(lf_flash_time_gap(f, 64, 64 * 16384, 8, 50e-3) == a);
    assert_true(lf_flash_time_gap(f, 64, 64 * 16384, 8, 0) == b);
    assert_true(lf_flash_time_gap(f, 64, 64 * 16384, 8, -1) == a);
    assert_true(lf_flash_time_gap(f, 0, 0, 8, 1e-3) == 0);
    /* the warning: inside 4x of the range, nothing; outside, the two gaps named */
    char msg[768];
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 0.07e-3, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 1e-3, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 19e-3, msg, sizeof msg), 0);
    assert_int_equal(lf_device_flash_outside(f, 65536, 8, 25e-3, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "against the 0.25 and 5.00 ms its batch terms were probed"));
    /* 0.07 ms counted as 0.1 ms above; 0.1 ms is more than 4x short of 0.5 ms */
    lf_device no_floor = *f;
    no_floor.flash_batch2_gap_s = 0.5e-3;
    assert_int_equal(lf_device_flash_outside(&no_floor, 65536, 8, 0.1e-3, msg, sizeof msg), 1);
    /* saved (6 significant digits) and loaded; half given or alike refused, naming the file */
    const char *p = lf_test_path("gap2.conf");
    lf_device e;
    assert_int_equal(lf_device_save(f, p, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(p, &e, &err), LF_OK);
    assert_float_equal(e.flash_batch2_gap_s, f->flash_batch2_gap_s, 1e-15);
    assert_true(fabs(e.flash_batch2_s - f->flash_batch2_s) <= 1e-5 * f->flash_batch2_s);
    assert_true(fabs(e.flash_slot2_s - f->flash_slot2_s) <= 1e-5 * f->flash_slot2_s);
    assert_true(fabs(e.flash_batch2_loss - f->flash_batch2_loss) <= 1e-5 * f->flash_batch2_loss);
    e.flash_batch2_gap_s = e.flash_batch_gap_s;
    assert_int_equal(lf_device_save(&e, lf_test_path("bad.conf"), NULL, NULL, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "needs flash_batch_gap_s > 0 and unlike it"));
    const char *half = lf_test_path("half.conf");
    FILE *fp = fopen(half, "w");
    assert_non_null(fp);
    fprintf(fp, "flash_latency_s = 1e-4\nflash_stream_bw = 1e9\nflash_max_bw = 2e9\n"
                "flash_max_iops = 1e5\ndram_copy_bw = 1e10\ndram_op_s = 1e-7\n"
                "compute_flops = 1e11\nmem_bw = 2e10\nflash_slot2_s = 1e-6\n");
    fclose(fp);
    assert_int_equal(lf_device_load(half, &e, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "half.conf: flash_batch2_s, flash_slot2_s or "
                                    "flash_batch2_loss set without flash_batch2_gap_s"));
    /* batches alone (a profile of the executor's pattern itself): the bounds and a cost
     * per batch from the quicker gap's, the other condition's terms beyond them */
    lf_fit_point alone[12 * 2 * 2];
    size_t k = 0;
    for (size_t i = 30; i < n; i++)
        if (pts[i].gap_s == 0.25e-3)
            alone[k++] = pts[i];
    for (size_t i = 30; i < n; i++)
        if (pts[i].gap_s == 5e-3)
            alone[k++] = pts[i];
    assert_int_equal(k, 48);
    assert_int_equal(lf_fit_flash(alone, k, NULL, -1, -1, &res, &err), LF_OK);
    assert_float_equal(f->flash_batch_gap_s, 0.25e-3, 1e-15);
    assert_float_equal(f->flash_batch2_gap_s, 5e-3, 1e-15);
    assert_true(f->flash_fit_batch == 512 && f->flash_batch2_s + f->flash_batch2_loss > 0);
    print_message("alone: after 0.25 ms %.3g (truth %.3g), after 5 ms %.3g (truth %.3g)\n",
                  lf_flash_time_gap(f, 64, 64 * 16384, 8, 0.25e-3), t_quick,
                  lf_flash_time_gap(f, 64, 64 * 16384, 8, 5e-3), t_slow);
    assert_true(fabs(lf_flash_time_gap(f, 64, 64 * 16384, 8, 0.25e-3) / t_quick - 1) < 0.10);
    assert_true(fabs(lf_flash_time_gap(f, 64, 64 * 16384, 8, 5e-3) / t_slow - 1) < 0.10);
    /* the slow batches first: the same fit (the quicker gap sets the bounds) */
    lf_device quick_first = res.dev;
    lf_fit_point swapped[12 * 2 * 2];
    for (size_t i = 0; i < k; i++)
        swapped[i] = alone[(i + k / 2) % k];
    assert_int_equal(lf_fit_flash(swapped, k, NULL, -1, -1, &res, &err), LF_OK);
    assert_float_equal(f->flash_batch_gap_s, 0.25e-3, 1e-15);
    assert_true(f->flash_batch2_s == quick_first.flash_batch2_s &&
                f->flash_stream_bw == quick_first.flash_stream_bw);
    /* refused: a gap of 0 beside another */
    for (size_t i = 0; i < n; i++)
        if (pts[i].gap_s == 0.25e-3)
            pts[i].gap_s = 0;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "neither may be 0"));
}

/* A batch costs its stream time plus flash_batch_s + min(reads, in flight) * flash_slot_s;
 * the fit takes the bounds from the steady points and recovers a known overhead from
 * batch points (3% noise); batches alone still fit as n reads with no overhead. */
static void test_fit_batch_overhead(void **st)
{
    (void)st;
    lf_device truth = batch_truth();
    double stream = lf_flash_stream_time(&truth, 32, 32 * 16384, 8);
    assert_float_equal(lf_flash_time(&truth, 32, 32 * 16384, 8), stream + 150e-6 + 8 * 12e-6,
                       1e-12);
    /* fewer reads than slots: one slot per read */
    assert_float_equal(lf_flash_batch_overhead(&truth, 3, 64), 150e-6 + 3 * 12e-6, 1e-12);
    assert_true(lf_flash_batch_overhead(&truth, 0, 8) == 0);
    /* the steady throughput has no batch in it */
    assert_float_equal(lf_flash_throughput(&truth, 16384, 8),
                       8 * 16384 / lf_flash_stream_time(&truth, 8, 8 * 16384, 8), 1e-3);
    static const uint32_t thirty_two[] = {32};
    lf_fit_point pts[60];
    size_t n = calibrate_grid(&truth, 7, thirty_two, 1, pts); /* 16, 64 KiB batches of 32 */
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    print_message("batch fit: %.1f us + %.2f us per slot, mdape %.2f%%\n",
                  res.dev.flash_batch_s * 1e6, res.dev.flash_slot_s * 1e6, res.mdape);
    assert_true(fabs(res.dev.flash_batch_s / truth.flash_batch_s - 1) < 0.35);
    assert_true(fabs(res.dev.flash_slot_s / truth.flash_slot_s - 1) < 0.35);
    assert_true(res.dev.flash_batch_loss < 0.05); /* none in the truth */
    assert_true(res.mdape < 4.0);
    /* the same batches priced without the overhead miss them by far more */
    lf_device none = res.dev;
    none.flash_batch_s = none.flash_slot_s = 0;
    assert_true(lf_fit_ape(&none, &pts[n - 1]) > 4 * lf_fit_ape(&res.dev, &pts[n - 1]) + 5);
    /* batches faster than the stream: no overhead, never a negative one */
    for (size_t i = 30; i < n; i++)
        pts[i].bw *= 10;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    assert_true(res.dev.flash_batch_s == 0 && res.dev.flash_slot_s == 0 &&
                res.dev.flash_batch_loss == 0);
    assert_true(res.dev.flash_fit_batch == 0); /* steady points: a stream's keys */
    /* batches alone: the bounds from them, no overhead, and the keys say which pattern
     * they describe (a drift reference repeats it) */
    assert_int_equal(lf_fit_flash(pts + 30, n - 30, &truth, -1, -1, &res, &err), LF_OK);
    assert_true(res.dev.flash_batch_s == 0 && res.dev.flash_slot_s == 0);
    assert_true(res.dev.flash_fit_batch == 32);
    /* the keys go through a profile file */
    lf_device e;
    const char *path = lf_test_path("batch.conf");
    assert_int_equal(lf_device_save(&truth, path, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(path, &e, &err), LF_OK);
    assert_float_equal(e.flash_batch_s, 150e-6, 1e-12);
    assert_float_equal(e.flash_slot_s, 12e-6, 1e-12);
    truth.flash_fit_batch = 8;
    assert_int_equal(lf_device_save(&truth, path, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(path, &e, &err), LF_OK);
    assert_true(e.flash_fit_batch == 8);
}

/* Batches whose reads run slower than the stream's (flash_batch_loss), beside a cost per
 * batch and per slot: steady points and batches of 32 and 512 reads of 16 and 64 KiB
 * (calibrate's batch pass) recover a known loss; without the loss the fit prices the
 * large batches fast; a device without the loss gets none. */
static void test_fit_batch_loss(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    truth.flash_batch_s = 60e-6;
    truth.flash_slot_s = 2e-6;
    truth.flash_batch_loss = 0.2;
    static const uint32_t sizes[] = {32, 512};
    lf_fit_point pts[60];
    size_t n = calibrate_grid(&truth, 5, sizes, 2, pts), first_batch = 30;
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    print_message("batch loss: %.3f (truth 0.2), %.1f us + %.2f us per slot, mdape %.2f%%\n",
                  res.dev.flash_batch_loss, res.dev.flash_batch_s * 1e6,
                  res.dev.flash_slot_s * 1e6, res.mdape);
    assert_true(fabs(res.dev.flash_batch_loss - 0.2) < 0.05);
    assert_true(res.mdape < 4.0);
    /* the 512-read batches priced without the loss: fast, by about the loss */
    lf_device no_loss = res.dev;
    no_loss.flash_batch_loss = 0;
    double fast = 0;
    for (size_t i = first_batch + 12; i < n; i++)
        fast += lf_fit_predict(&no_loss, &pts[i]) / pts[i].bw - 1;
    fast /= (double)(n - first_batch - 12);
    print_message("512-read batches priced without the loss: %+.1f%%\n", 100 * fast);
    assert_true(fast > 0.12);
    /* the same grid from a device whose batches lose nothing: no loss is fitted */
    truth.flash_batch_loss = 0;
    n = calibrate_grid(&truth, 6, sizes, 2, pts);
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    print_message("no loss in the truth: %.3f fitted\n", res.dev.flash_batch_loss);
    assert_true(res.dev.flash_batch_loss < 0.03);
}

/* Batches alone of two sizes (1 and 8 reads, the executor's layers read a few experts or
 * many): the fit takes a cost per batch beside the bounds, recovers a known one, and
 * prices batches of sizes it never saw (2, 4, 16); fitted on batches of 8 alone, the
 * cost is spread over 8 reads and a batch of one read is priced fast. */
static void test_fit_batch_sizes(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    truth.flash_batch_s = 120e-6;
    const uint64_t chunks[] = {65536, 262144, 1 << 20, 4 << 20};
    const uint32_t threads[] = {1, 4, 8};
    lf_fit_point pts[24], unseen[12];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    size_t n = noisy_grid(&truth, chunks, 4, threads, 3, 1, r, pts);
    n += noisy_grid(&truth, chunks, 4, threads, 3, 8, r, pts + n);
    gsl_rng_free(r);
    lf_fit_result res, eight;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    print_message("batch sizes 1 and 8: %.1f us per batch (truth 120), mdape %.2f%%\n",
                  res.dev.flash_batch_s * 1e6, res.mdape);
    assert_true(fabs(res.dev.flash_batch_s / truth.flash_batch_s - 1) < 0.35);
    assert_true(res.dev.flash_slot_s == 0);
    assert_true(res.mdape < 4.0);
    assert_true(res.dev.flash_fit_batch == 8); /* the largest: a drift reference's pattern */
    static const uint32_t sizes[] = {2, 4, 16};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < 4; i++) {
            lf_fit_point *u = &unseen[k * 4 + i];
            *u = (lf_fit_point){chunks[i], 4, 0, sizes[k], 0, 0};
            u->bw = lf_fit_predict(&truth, u);
            assert_true(lf_fit_ape(&res.dev, u) < 5.0);
        }
    /* batches of 8 alone: no cost per batch, and a lone 64 KiB read priced fast */
    assert_int_equal(lf_fit_flash(pts + 12, 12, NULL, -1, -1, &eight, &err), LF_OK);
    assert_true(eight.dev.flash_batch_s == 0);
    lf_fit_point lone = {65536, 4, 0, 1, 0, 0};
    lone.bw = lf_fit_predict(&truth, &lone);
    print_message("a lone 64 KiB read: %.1f%% off fitted on 1 and 8, %.1f%% on 8 alone\n",
                  lf_fit_ape(&res.dev, &lone), lf_fit_ape(&eight.dev, &lone));
    assert_true(lf_fit_predict(&eight.dev, &lone) > lone.bw);
    assert_true(lf_fit_ape(&eight.dev, &lone) > 2 * lf_fit_ape(&res.dev, &lone) + 5);
}

static void test_membench_line(void **st)
{
    (void)st;
    double x[] = {4096, 8192, 16384, 32768, 65536}, y[5], op, bw;
    lf_err err;
    for (int i = 0; i < 5; i++)
        y[i] = 2e-6 + x[i] / 1.5e9;
    assert_int_equal(lf_membench_line(x, y, 5, &op, &bw, &err), LF_OK);
    assert_float_equal(op, 2e-6, 1e-12);
    assert_float_equal(bw / 1.5e9, 1.0, 1e-9);
    for (int i = 0; i < 5; i++)
        y[i] = 1e-4 - x[i] * 1e-10;
    assert_int_equal(lf_membench_line(x, y, 5, &op, &bw, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "too busy"));
    for (int i = 0; i < 5; i++)
        y[i] = -1e-6 + x[i] / 1e9;
    assert_int_equal(lf_membench_line(x, y, 5, &op, &bw, &err), LF_OK);
    assert_true(op == 0 && bw > 0.9e9 && bw < 1.1e9);
    assert_int_equal(lf_membench_line(x, y, 1, &op, &bw, &err), LF_EINVAL);
}

static void test_probe_csv(void **st)
{
    (void)st;
    const char *p = lf_test_path("probe.csv");
    const char *ok = "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us\n"
                     "psync,4096,1,100,1.0,40.5,9900,99,150\n"
                     "psync,32768,8,100,1.0,800,24000,300,500\n"
                     "io_uring,32768,8,100,1.0,810,24500,300,500\n";
    lf_test_write(p, ok, strlen(ok));
    lf_fit_point *pts;
    size_t n;
    lf_err err;
    assert_int_equal(lf_fit_read_probe(p, "psync", &pts, &n, &err), LF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(pts[1].chunk, 32768);
    assert_int_equal(pts[1].threads, 8);
    assert_true(pts[0].bw == 40.5e6);
    free(pts);
    assert_int_equal(lf_fit_read_probe(p, NULL, &pts, &n, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "probe.csv:4: rows of two engines (psync, io_uring)"));
    const char *bad = "engine,chunk,threads,mb_s\npsync,4096,1,40\npsync,4096,x,40\n";
    assert_int_equal(read_probe_text(p, bad, NULL, &pts, &n, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "probe.csv:3:"));
    const char *twice = "engine,chunk,threads,mb_s\npsync,4096,1,40\nengine,chunk,threads,mb_s\n";
    assert_int_equal(read_probe_text(p, twice, NULL, &pts, &n, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "probe.csv:3: the header again"));
    const char *nohdr = "a,b\n1,2\n";
    assert_int_equal(read_probe_text(p, nohdr, NULL, &pts, &n, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "probe.csv:1: header lacks"));
    /* the memory the reads landed in: read per row (older CSVs without it: 0) */
    const char *foot = "engine,chunk,threads,mb_s,footprint\npsync,4096,1,40,67108864\n"
                       "psync,4096,4,90,67108864\n";
    assert_int_equal(read_probe_text(p, foot, NULL, &pts, &n, &err), LF_OK);
    assert_true(n == 2 && pts[0].footprint == 67108864 && pts[1].footprint == 67108864);
    free(pts);
    const char *badfoot = "engine,chunk,threads,mb_s,footprint\npsync,4096,1,40,64m\n";
    assert_int_equal(read_probe_text(p, badfoot, NULL, &pts, &n, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "probe.csv:2: footprint '64m'"));
}

/* A profile says how much memory its probe's reads landed in (a drift reference reads
 * into as much), and points of two footprints are not fitted together: on this
 * project's VM the same reads ran up to 1.75x faster into a cache-sized buffer. */
static void test_fit_footprint(void **st)
{
    (void)st;
    lf_device truth = fit_truth();
    const uint64_t chunks[] = {4096, 16384, 65536, 262144};
    const uint32_t threads[] = {1, 4, 16};
    lf_fit_point pts[12];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    size_t n = noisy_grid(&truth, chunks, 4, threads, 3, 0, r, pts);
    gsl_rng_free(r);
    for (size_t i = 0; i < n; i++)
        pts[i].footprint = 64u << 20;
    lf_fit_result res;
    lf_err err;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_OK);
    assert_true(res.dev.flash_footprint == 64u << 20);
    const char *path = lf_test_path("footprint.conf");
    lf_device e;
    assert_int_equal(lf_device_save(&res.dev, path, NULL, NULL, &err), LF_OK);
    assert_int_equal(lf_device_load(path, &e, &err), LF_OK);
    assert_true(e.flash_footprint == 64u << 20);
    pts[5].footprint = 0;
    assert_int_equal(lf_fit_flash(pts, n, NULL, -1, -1, &res, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "read into 67108864 and 0 bytes of memory"));
}

/* An output that cannot be written is refused before any measuring: probe used to
 * create its 1 MiB test file and measure, then fail to write the CSV. Bad --p values
 * of fit are usage errors. */
static void test_probe_refuses_unwritable_output_first(void **st)
{
    (void)st;
    char file[1200];
    snprintf(file, sizeof file, "%s", lf_test_path("never-probed.bin"));
    char *o, *e;
    int rc = lf_test_run(&o, &e, "probe --file %s --size 1m --chunks 4k --threads 1 --seconds 0.05 "
                         "--buffered -o /nonexistent-dir/p.csv",
                         file);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(e, "/nonexistent-dir"));
    assert_false(lf_file_exists(file));
    free(o);
    free(e);
    /* --batch takes a list of batch sizes, each 1..65536, checked before anything runs */
    assert_int_equal(lf_test_run(&o, &e, "probe --file %s --batch 1,x -o /dev/null", file), 2);
    assert_non_null(strstr(e, "--batch"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "probe --file %s --batch 8,0 -o /dev/null", file), 2);
    assert_non_null(strstr(e, "1..65536"));
    assert_false(lf_file_exists(file));
    free(o);
    free(e);
    /* fit --p '' and --p inf were taken (as 0 and as infinity) */
    assert_int_equal(lf_test_run(&o, &e, "fit --p '' /dev/null"), 2);
    assert_non_null(strstr(e, "--p"));
    free(o);
    free(e);
    assert_int_equal(lf_test_run(&o, &e, "fit --p inf /dev/null"), 2);
    free(o);
    free(e);
}

/* `fit --profile P --curves OUT`: the model's curves at the probe's thread counts, and
 * the paper's two M1 Max points reproduced by the m1max profile. */
static void test_fit_curves_cli(void **st)
{
    (void)st;
    const char *probe = lf_test_path("curves_probe.csv");
    const char *rows = "engine,chunk,threads,reads,seconds,mb_s,iops,p50_us,p99_us\n"
                       "psync,16384,32,1,1,1250,1,1,1\n"
                       "psync,32768,32,1,1,2250,1,1,1\n"
                       "psync,65536,4,1,1,900,1,1,1\n";
    lf_test_write(probe, rows, strlen(rows));
    const char *curves = lf_test_path("curves.csv");
    char *out, *err;
    assert_int_equal(lf_test_run(&out, &err, "fit %s --profile costmodel/devices/m1max.conf --curves %s",
                                 probe, curves),
                     0);
    free(out);
    free(err);
    char *d;
    size_t n;
    lf_err e;
    assert_int_equal(lf_read_file(curves, &d, &n, &e), LF_OK);
    assert_true(strncmp(d, "chunk,threads,mb_s\n", 19) == 0);
    assert_non_null(strstr(d, "\n16384,32,1250.000\n"));
    assert_non_null(strstr(d, "\n32768,32,2250.000\n"));
    assert_non_null(strstr(d, "\n4096,4,"));
    assert_non_null(strstr(d, "\n1048576,4,"));
    int lines = 0;
    for (char *p = d; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1 + 2 * 33); /* two thread counts x 33 chunk sizes */
    free(d);
    /* a depth loss outside [0, 1] is a usage error naming the option */
    assert_int_equal(lf_test_run(NULL, &err, "fit %s --depth-loss 2", probe), 2);
    assert_non_null(strstr(err, "--depth-loss"));
    free(err);
    /* --profile with -o is a usage error. */
    assert_int_equal(lf_test_run(NULL, NULL, "fit %s --profile costmodel/devices/m1max.conf -o %s",
                                 probe, lf_test_path("x.conf")),
                     2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_hand_values),
        cmocka_unit_test(test_flash_zero_monotone_caps),
        cmocka_unit_test(test_dram_compute_pagecache),
        cmocka_unit_test(test_profile_parse),
        cmocka_unit_test(test_ffn_bw_by_shape),
        cmocka_unit_test(test_profile_absurd_values),
        cmocka_unit_test(test_profile_save_roundtrip),
        cmocka_unit_test(test_stall_factor),
        cmocka_unit_test(test_bench_compute_keys),
        cmocka_unit_test(test_shipped_profiles),
        cmocka_unit_test(test_fit_recovers),
        cmocka_unit_test(test_fit_range),
        cmocka_unit_test(test_fit_holdout),
        cmocka_unit_test(test_fit_depth_loss),
        cmocka_unit_test(test_membench_line),
        cmocka_unit_test(test_fit_batch_points),
        cmocka_unit_test(test_fit_batch_overhead),
        cmocka_unit_test(test_fit_batch_gap),
        cmocka_unit_test(test_fit_two_gaps),
        cmocka_unit_test(test_fit_batch_loss),
        cmocka_unit_test(test_fit_batch_sizes),
        cmocka_unit_test(test_probe_csv),
        cmocka_unit_test(test_fit_footprint),
        cmocka_unit_test(test_probe_refuses_unwritable_output_first),
        cmocka_unit_test(test_fit_curves_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
