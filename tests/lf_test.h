/* lf_test: helpers shared by the CMocka tests: a scratch folder per test binary,
 * running the llmflash binary and capturing its output, finding ../shared/data.
 * Everything returned is malloc'ed or static as stated; tests free what they get. */
#ifndef LF_TEST_H
#define LF_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lf_device.h"
#include "lf_model.h"

/* A fresh scratch folder for this process (under $LLMFLASH_TMP or build/testtmp). */
const char *lf_test_dir(void);
/* Joins lf_test_dir() and name into a static rotating buffer (8 slots). */
const char *lf_test_path(const char *name);

/* Runs `$LLMFLASH_BIN args...` (a shell command line after the binary), captures stdout
 * and stderr into malloc'ed strings (may be NULL args), returns the exit status
 * (or -1 when it could not run; 128+signal when killed). */
int lf_test_run(char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* lf_test_run, failing the test unless it exits with `status` and (needle not NULL) its
 * stderr holds needle. */
void lf_test_expect(int status, const char *needle, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Path of ../shared/data/NAME if present, else NULL after printing one
 * "SKIP: ... absent" line; use with skip(). */
const char *lf_test_shared(const char *name);

/* A whole file as a malloc'ed NUL-terminated string, or NULL when it cannot be read. */
char *lf_test_slurp(const char *path);

/* Column `col` of every data row of a CSV file (split at every comma: no quoted
 * commas), joined by ';' (malloc'ed), or NULL when the file or the column is missing. */
char *lf_test_csv_column(const char *path, const char *col);
/* Column col of path's row `row` (from 0, after the header) as a number; fails the test
 * when the column or the row is missing. */
double lf_test_csv_value(const char *path, const char *col, int row);
/* Writes bytes to a file (asserts on failure). */
void lf_test_write(const char *path, const void *data, size_t len);

/* A hand-made device "toy" for the executors' tests: 100 us latency, 1 GB/s per stream,
 * 4 GB/s and 100k IOPS in all, 4 KiB alignment, DRAM 10 GB/s + 0.1 us per copy,
 * 10 GFLOP/s and 10 GB/s of compute, a page cache of 5 GB/s + 2 us per hit. */
lf_device lf_test_toy_device(void);

/* A small expert model "test-moe" (SwiGLU, vocab 256) of the given shape. */
void lf_test_moe_model(lf_model *m, uint32_t layers, uint32_t d_model, uint32_t d_ff,
                       uint32_t experts, uint32_t top_k);

#endif
