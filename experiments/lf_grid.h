/* lf_grid: a validation grid file: `key = a | b | c` lines (lf_kv syntax, `#` comments),
 * each a list of values; the configurations are the product of the lists, the last key
 * varying fastest. Same list syntax as the sweep files (experiments/README.md); kept
 * tiny here because validation needs only the expansion. An lf_grid owns its strings. */
#ifndef LF_GRID_H
#define LF_GRID_H

#include <stddef.h>

#include "lf_err.h"

typedef struct {
    char *key;
    char **vals;
    size_t n;
} lf_grid_axis;

typedef struct {
    lf_grid_axis *axes;
    size_t n_axes;
    size_t n_configs;
    char source[256];
} lf_grid;

/* valid: NULL-terminated list of the keys allowed (an unknown key is an error listing
 * them). An empty list item is an error naming the line. */
int lf_grid_load(const char *path, const char *const *valid, lf_grid *g, lf_err *err);
void lf_grid_free(lf_grid *g);

/* The value of key in configuration i (0 <= i < n_configs), or NULL when the grid does
 * not set the key. */
const char *lf_grid_value(const lf_grid *g, size_t i, const char *key);

#endif
