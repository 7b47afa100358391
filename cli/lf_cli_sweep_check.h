/* lf_cli_sweep_check: before a sweep runs anything, every key of its file is checked
 * against the options of the subcommand it runs (read from `llmflash <mode> --help`),
 * and each list item that is not a valid value for its key is refused. Prints the
 * errors and warnings itself; nothing to free. */
#ifndef LF_CLI_SWEEP_CHECK_H
#define LF_CLI_SWEEP_CHECK_H

#include "lf_sweep.h"

/* Returns 0 when every key is an option of `exe <mode>` (flags given bare, options
 * given a value) and every item a value it takes; else prints one error per bad key or
 * item (a policy that names no policy, a word where a number is wanted, an unknown
 * layout: each run of it would fail), or per option the mode's usage line requires
 * (outside its brackets; --out is the sweep's) that no key gives, and returns
 * LF_EXIT_USAGE. A device profile not
 * found is a warning (it may be made before the runs start). strict_items 0 (the runs
 * execute another command than exe, LLMFLASH_SWEEP_CMD): every bad item is a warning,
 * as that command may take it. */
int lf_cli_sweep_check(const lf_sweep *s, const char *exe, int strict_items);

#endif
