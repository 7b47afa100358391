/* lf_sweep_combine: gathers the CSV results of a sweep's finished runs into one table:
 * results/NAME/combined.csv = run_id, the configuration (one column per sweep key),
 * then the columns of each run's summary.csv (more generally: the sweep's collect files).
 * Everything is written atomically; nothing returned needs freeing. */
#ifndef LF_SWEEP_COMBINE_H
#define LF_SWEEP_COMBINE_H

#include <stddef.h>

#include "lf_err.h"
#include "lf_sweep.h"

typedef struct {
    size_t runs;     /* configurations in the grid */
    size_t done;     /* with a done marker: their rows are in the tables */
    size_t missing;  /* without one: left out */
    size_t rows;     /* rows written to combined.csv */
    char first_missing[LF_SWEEP_ID_MAX];
} lf_sweep_combine_report;

/* Writes out_dir/combined.csv from collect[0] of every done run, and
 * out_dir/combined-<stem>.csv from each further collect file <stem>.csv, rows in grid
 * order. Columns: run_id, one per sweep key ('-' written '_': dram-fraction is the
 * column dram_fraction; a bare flag (`ablation =`) has none;
 * values with ',' or '"' CSV-quoted), then the union of the runs' CSV headers in
 * first-seen order (empty cells where a run lacks a column). When the runs have a
 * column named like a sweep key's, that column (what the run used) is the key's only
 * column and the key's own is left out. Whole
 * numbers the runs wrote in exponent form are written as integers. A done run whose CSV is missing or ragged is an error naming
 * the file and line; nothing is written then. */
int lf_sweep_combine(const lf_sweep *s, const char *out_dir, lf_sweep_combine_report *rep,
                     lf_err *err);

#endif
