/* lf_sweep: a sweep file (plain `key = value` lines, `a | b | c` lists) expanded into
 * the grid of its configurations, each with a stable readable run id and the argv of
 * the llmflash command that runs it; the one parser of such lists (validate's grid files
 * too: lf_sweep_load_grid). The lf_sweep owns every string it holds;
 * lf_sweep_argv returns a malloc'ed array the caller frees with lf_sweep_argv_free. */
#ifndef LF_SWEEP_H
#define LF_SWEEP_H

#include <stddef.h>

#include "lf_err.h"

#define LF_SWEEP_ID_MAX 160   /* run ids are shorter than this (NUL included) */
#define LF_SWEEP_NONE "(none)" /* a list item that leaves the option out */

/* One option of the command: `key = v1 | v2 | ...` (one value: a constant), or a
 * variable `@name = v1 | v2`: a grid axis and a column that is not passed to the
 * command but substituted for `{name}` in the other values. */
typedef struct {
    char *key;      /* option without the leading "--", or variable name without '@' */
    char **values;  /* n_values >= 1; "" = bare flag; LF_SWEEP_NONE = option left out */
    size_t n_values;
    int line;       /* line in the sweep file */
    int is_var;     /* 1 for an @variable */
} lf_sweep_axis;

typedef struct {
    char path[1024];        /* the sweep file */
    char mode[32];          /* the subcommand run for each configuration: sim | run | validate */
    char **collect;         /* CSV files gathered from each run folder; [0] -> combined.csv */
    size_t n_collect;
    lf_sweep_axis *axes;    /* every option, in file order (reserved keys excluded) */
    size_t n_axes;
    size_t n_runs;          /* product of the list lengths */
} lf_sweep;

/* Parses a sweep file. Errors name the file, the line and the fix (unknown mode, a key
 * that is not an option name, an empty list item, a grid over 1,000,000 runs ...). */
int lf_sweep_load(const char *path, lf_sweep *out, lf_err *err);
void lf_sweep_free(lf_sweep *s);

/* A grid file: the same `key = a | b | c` lists (the same parser) without a mode, out,
 * collect or variables, for validate: every key must be in `valid` (NULL-terminated;
 * an unknown key is an error listing them); keys are kept as written. */
int lf_sweep_load_grid(const char *path, const char *const *valid, lf_sweep *out, lf_err *err);
/* The value of key in run `index`, or NULL when the file does not set it. */
const char *lf_sweep_get(const lf_sweep *s, size_t index, const char *key);

/* The values of run `index` (0 <= index < n_runs): vals[a] is the value of axis a,
 * pointing into s. The first axis varies slowest, the last fastest (nested loops in
 * file order). */
void lf_sweep_values(const lf_sweep *s, size_t index, const char **vals);

/* The value of axis `axis` in run `index` with every `{name}` replaced by that
 * variable's value, into buf (cap bytes); LF_EINVAL when it does not fit. */
int lf_sweep_value(const lf_sweep *s, size_t index, size_t axis, char *buf, size_t cap,
                   lf_err *err);

/* The run id: "key=value" of every varying axis (sanitised to [A-Za-z0-9._=+-], a path
 * reduced to its last component, the readable part cut at 100 characters), joined
 * by '_', then '_' and 8 hex digits of the sha256 of the whole configuration (mode and
 * every key, constants included). A grid without lists gives "run_<hash>". */
void lf_sweep_run_id(const lf_sweep *s, size_t index, char id[LF_SWEEP_ID_MAX]);

/* Index of the run whose id is `id`, or LF_EINVAL naming the sweep file. */
int lf_sweep_find(const lf_sweep *s, const char *id, size_t *index, lf_err *err);

/* argv (NULL-terminated) for run `index` writing into run_dir:
 * prefix..., mode, --key value ... (variables substituted, variables themselves left
 * out), --out run_dir. prefix is NULL-terminated
 * (e.g. {"/proc/self/exe", NULL}). */
char **lf_sweep_argv(const lf_sweep *s, size_t index, const char *const *prefix,
                     const char *run_dir, lf_err *err);
void lf_sweep_argv_free(char **argv);

/* Appends `arg` shell-quoted (single quotes) to buf (cap bytes); returns 0, or -1
 * when it does not fit. */
int lf_sweep_shell_quote(char *buf, size_t cap, const char *arg);

#endif
