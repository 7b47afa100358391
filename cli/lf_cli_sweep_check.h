/* lf_cli_sweep_check: before a sweep runs anything, every key of its file is checked
 * against the options of the subcommand it runs (read from `llmflash <mode> --help`),
 * and each list item that is not a valid value for its key is warned about. Prints
 * the errors and warnings itself; nothing to free. */
#ifndef LF_CLI_SWEEP_CHECK_H
#define LF_CLI_SWEEP_CHECK_H

#include "lf_sweep.h"

/* Returns 0 when every key is an option of `exe <mode>` (flags given bare, options
 * given a value); else prints one error per bad key and returns LF_EXIT_USAGE.
 * Suspicious items (a policy that names no policy, a word where a number is wanted,
 * an unknown device profile or layout) print a warning and do not fail. */
int lf_cli_sweep_check(const lf_sweep *s, const char *exe);

#endif
