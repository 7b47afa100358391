/* lf_cli_num: numeric option values for the subcommands: parse, range-check, and on a bad
 * value print the usage error naming the option. Plain values; nothing to free. */
#ifndef LF_CLI_NUM_H
#define LF_CLI_NUM_H

#include <stdint.h>

/* Each returns LF_EXIT_OK with *out set, or LF_EXIT_USAGE after printing
 * "llmflash CMD: OPT 'ARG': expected ..." (via lf_cli_usage). */
int lf_cli_num_double(const char *cmd, const char *opt, const char *arg, double min, double max,
                      double *out);
int lf_cli_num_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
                   uint64_t *out);

#endif
