/* lf_cli_num: strict number parsing for option values ("--tokens 12x" or "--tokens -5"
 * is a usage error naming the option and the accepted range). Nothing to free. */
#ifndef LF_CLI_NUM_H
#define LF_CLI_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses an unsigned integer in [min, max]; "10k" is 10000 (lf_parse_count). On error prints a usage message for
 * `llmflash <cmd>` naming option `opt` and returns LF_EXIT_USAGE; else 0. */
int lf_cli_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
               uint64_t *out);
/* Parses a size in bytes ("4096", "32k", "1m", "2g": binary units) in [min, max]; same
 * error convention. */
int lf_cli_size(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
                uint64_t *out);
/* Parses a finite double in [min, max]; same error convention. */
int lf_cli_double(const char *cmd, const char *opt, const char *arg, double min, double max,
                  double *out);
/* Parses "x" or "x,y,..." (each in [min, max]) into a malloc'ed array the caller frees. */
int lf_cli_double_list(const char *cmd, const char *opt, const char *arg, double min,
                       double max, double **out, size_t *n);

/* A percentage held to a target, for a verdict line: one decimal, or as many more (up to
 * three) as it takes for the printed figure to fall on the target's side the figure
 * itself falls on (5.046 against <= 5 prints "5.05", never "5.0 ... MISSED"). Returns
 * buf. */
const char *lf_cli_pct(char *buf, size_t size, double v, double target);

#endif
