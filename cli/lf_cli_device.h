/* lf_cli_device: device profiles by name for every subcommand: the folders searched
 * ($LLMFLASH_DEVICES, the install's share folder, the source tree) and the help line
 * listing the known profiles. Paths are written into caller buffers; nothing to free. */
#ifndef LF_CLI_DEVICE_H
#define LF_CLI_DEVICE_H

#include <stddef.h>
#include <stdio.h>

#include "lf_device.h"
#include "lf_err.h"

/* Resolves --device SPEC (a path, a name such as m1max, or m1max.conf) into `path`
 * (cap bytes, made absolute). On error prints it for `llmflash <cmd>` and returns
 * LF_EXIT_FAIL; else 0. */
int lf_cli_device_resolve(const char *cmd, const char *spec, char *path, size_t cap);
/* The same, returning an lf_err code instead of printing. */
int lf_cli_device_find(const char *spec, char *path, size_t cap, lf_err *err);
/* Prints "  known profiles: a, b (DIR); ..." for a --help text. */
void lf_cli_device_help(FILE *f);
/* Warns on stderr, for `llmflash <cmd>`, when a run's reads (mean bytes per read, reads
 * in flight) or the compute between its layers' batches (gap_s) fall outside what the
 * profile at `path` was fitted on (lf_device_flash_outside); nothing when inside or when
 * the profile does not say. */
void lf_cli_device_range_note(const char *cmd, const lf_device *d, const char *path,
                              double mean_read_bytes, uint32_t inflight, double gap_s);

/* Warns on stderr once per profile that priced configurations of a validation outside
 * what it was fitted on, naming them and the first one's reason: their errors test an
 * extrapolation. The n rows are `stride` bytes apart (any row type, as qsort takes
 * them); id, device and outside point into the first row: its id, the profile's name
 * and lf_device_flash_outside's sentence ("" when inside). */
void lf_cli_device_range_notes(const char *cmd, size_t n, size_t stride, const char *id,
                               const char *device, const char *outside);

#endif
