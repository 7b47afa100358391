/* lf_cli: the subcommands of the llmflash binary and the little they share (error
 * printing, exit codes). Each subcommand lives in its own cli/cmd_*.c and is a thin
 * layer over the libraries: it parses options with getopt_long, calls the library,
 * prints, and returns an exit status. Only this folder prints and exits. */
#ifndef LF_CLI_H
#define LF_CLI_H

#include <stdio.h>

#include "lf_err.h"
#include "lf_policy.h"
#include "lf_runopt.h"

enum { LF_EXIT_OK = 0, LF_EXIT_FAIL = 1, LF_EXIT_USAGE = 2 };

typedef int (*lf_cmd_fn)(int argc, char **argv);

/* Subcommands; argv[0] is the subcommand's own name (e.g. "synth").
 * Each is weak in main.c so a tree without one still links; main says so. */
int cmd_trace_synth(int argc, char **argv);
int cmd_trace_stats(int argc, char **argv);
int cmd_trace_record(int argc, char **argv);
int cmd_trace_import(int argc, char **argv);
int cmd_trace_fit(int argc, char **argv);
int cmd_trace_predict(int argc, char **argv);
int cmd_trace_convert(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_weights_make(int argc, char **argv);
int cmd_weights_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_moe_scenario(int argc, char **argv);

/* "llmflash <cmd>: <message>" on stderr; returns LF_EXIT_FAIL. */
int lf_cli_error(const char *cmd, const lf_err *err);
/* Usage error: prints the message and "try 'llmflash <cmd> --help'"; returns 2. */
int lf_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long for a command's parse. An option given twice (under its short and long
 * names included) takes its last value, as getopt's do, with a note on stderr naming it
 * (`trace record --steps 8 ... --steps 100000` silently made a 253 MB trace); options
 * whose short letters are in `repeatable` (NULL: none) add up and get no note. */
struct option;
int lf_cli_getopt(const char *cmd, int argc, char **argv, const char *shorts,
                  const struct option *opts, const char *repeatable);
/* The message getopt_long should print for an unknown option is ours: call this in
 * the '?' case. */
int lf_cli_bad_option(const char *cmd, int argc, char **argv);

/* Refuses (prints the error, returns LF_EXIT_FAIL) an output that is the same file
 * as one of the inputs, by device and inode: `weights make --checkpoint X --file X`
 * would destroy X. The inputs end with LF_CLI_END; NULL ones (options not given) are
 * skipped; out NULL is fine. Returns LF_EXIT_OK when all differ. */
#define LF_CLI_END ((const char *)1)
int lf_cli_refuse_same(const char *cmd, const char *out, ...);
/* The same for n inputs from argv. */
int lf_cli_refuse_same_list(const char *cmd, const char *out, char *const *inputs, int n);

/* "policy counters: name=value ..." on f (nothing when the policy has none). */
void lf_cli_policy_counts(FILE *f, const lf_policy_counts *c);
/* On stderr, "llmflash <cmd>: note: policy 'SPEC' did not run as written: ..." when a
 * counter marked `warn` is non-zero (window's shrinks), with every counter's value. */
void lf_cli_policy_notes(const char *cmd, const char *spec, const lf_policy_counts *c);

/* The shared run options (sim/lf_runopt.h) in a command's getopt parse. getopt returns
 * LF_CLI_RUNOPT + the table index for a shared option (or its short letter). */
#define LF_CLI_RUNOPT 0x1000
struct option;
/* Appends the shared options that command bit `cmd` (LF_RUNOPT_SIM, ...) takes to opts
 * (n rows so far, cap in all) and a zero row; their short letters to the getopt string
 * shorts. Returns the rows now in opts (zero row excluded), 0 when cap is too small. */
size_t lf_cli_runopts(unsigned cmd, struct option *opts, size_t n, size_t cap, char *shorts,
                      size_t shorts_cap);
/* When getopt's ch is a shared option of cmd: parses arg into c and returns the option,
 * *rc = 0 or the usage error's exit status; else returns NULL. */
const lf_runopt *lf_cli_runopt(const char *cmd_name, unsigned cmd, int ch, const char *arg,
                              lf_run_config *c, int *rc);
/* The help lines ("  -t, --trace PATH   ...") of the shared options cmd takes. */
void lf_cli_runopt_help(FILE *f, unsigned cmd);

/* Resets getopt for a subcommand's own parse. */
void lf_cli_reset_getopt(void);

#endif
