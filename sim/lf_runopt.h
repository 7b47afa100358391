/* lf_runopt: the options of a run configuration (lf_run_config) that `sim`, `run` and
 * `validate` share: one definition each (name, argument, range, help), one parser. The
 * CLI builds its getopt table and help lines from it (cli/cli_runopt.c); validate's grid
 * keys go through lf_runopt_set by key ("dram_fraction" for --dram-fraction). Adding an
 * option: a field in lf_run_config and one row in lf_runopt.c's table. Static data;
 * nothing to free. */
#ifndef LF_RUNOPT_H
#define LF_RUNOPT_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_run.h"

/* Which commands take an option (lf_runopt.cmds). */
enum {
    LF_RUNOPT_SIM = 1,  /* llmflash sim */
    LF_RUNOPT_RUN = 2,  /* llmflash run */
    LF_RUNOPT_GRID = 4, /* a key of validate's grid */
    LF_RUNOPT_INPUT = 8 /* names an input loaded once (not in a --repeat-configs line) */
};

typedef enum {
    LF_RUNOPT_STR,      /* const char * (the caller's string) */
    LF_RUNOPT_FLAG,     /* int set to 1; takes no value */
    LF_RUNOPT_U32,      /* uint32_t integer in [min, max] */
    LF_RUNOPT_U64,      /* uint64_t integer in [min, max] */
    LF_RUNOPT_SIZE,     /* uint64_t bytes: 4096, 32k, 1m, 2g (binary), in [min, max] */
    LF_RUNOPT_POW2,     /* uint32_t integer in [min, max], a power of two */
    LF_RUNOPT_FRACTION, /* double in (0, 1] */
    LF_RUNOPT_RATE,     /* double in [0, 1] */
    LF_RUNOPT_LAYOUT,   /* lf_layout_kind by name */
    LF_RUNOPT_STRATEGY, /* lf_dram_strategy: prealloc | realloc */
    LF_RUNOPT_SCOPE     /* lf_scope: token | ffn */
} lf_runopt_kind;

typedef struct {
    const char *name;           /* long option "dram-fraction"; grid key "dram_fraction" */
    char short_name;            /* 0 = none */
    const char *metavar;        /* "F"; NULL for a flag */
    lf_runopt_kind kind;
    size_t offset;              /* of the field in lf_run_config */
    uint64_t min, max;          /* integer kinds */
    unsigned cmds;              /* LF_RUNOPT_* bits */
    const char *help;           /* one or more lines, without the known names */
    const char *(*known)(void); /* NULL, or the known values, appended as "(known: ...)" */
} lf_runopt;

/* The table, in help order (*n rows). */
const lf_runopt *lf_runopt_table(size_t *n);
/* The option named `name` ("dram-fraction" or its key "dram_fraction"), or NULL. */
const lf_runopt *lf_runopt_find(const char *name);
/* Parses value for option o into c, checking its range; errors read
 * "--NAME 'VALUE': expected ..." (LF_EINVAL). value may be NULL for a flag. */
int lf_runopt_set(const lf_runopt *o, lf_run_config *c, const char *value, lf_err *err);
/* The keys ("dram_fraction") of the options that take any bit of `cmds`, into out
 * (static strings), NULL-terminated; returns how many (at most cap - 1). */
size_t lf_runopt_keys(unsigned cmds, const char **out, size_t cap);
/* The key of o ("dram_fraction"): a static string. */
const char *lf_runopt_key(const lf_runopt *o);

#endif
