/* lf_import: builds an expert trace (kind experts, source imported) from MoE routing
 * logs in the vllm-moe-jsonl format (one JSON object a line: a "meta" line, then
 * "route" records), one file per layer. The caller owns the lf_trace it passes in
 * (initialised here, freed with lf_trace_free) and the info array it sizes. */
#ifndef LF_IMPORT_H
#define LF_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"
#include "lf_trace.h"

typedef struct {
    uint64_t drop_prefix; /* route records dropped at the start of every file */
    int drop_warmup;      /* drop each file's leading run of identical records instead */
    const char *model;    /* NULL, or a name lf_model_lookup knows (gives experts, top-k, d_model) */
    uint32_t n_experts;   /* 0: from the meta line, --model, or the meta's model_id */
    uint32_t max_tokens;  /* 0: every record left after dropping */
} lf_import_opts;

/* What the importer found in one file. */
typedef struct {
    uint64_t records;  /* route records in the file */
    uint64_t dropped;  /* of which dropped (prefix or warm-up) */
    uint32_t layer;    /* the records' layer field */
    uint64_t warmup;   /* length of the leading run of identical records (always measured) */
} lf_import_info;

/* Longest line accepted (a route record of top-1024 with weights is ~30 KB). */
#define LF_IMPORT_LINE_MAX (1 << 20)

/* Imports files[0..n_files) as layers 0..n_files-1 (file order = layer order; the
 * records' layer fields must be constant within a file and increasing across files).
 * info: NULL or n_files entries. model_id (cap bytes, may be NULL) receives the log's
 * model_id. Errors name the file and line. Files must be regular; lines are bounded;
 * repeated keys, NUL bytes and router weights that are NaN, infinite or negative are errors. */
int lf_import_vllm_moe(const char *const *files, size_t n_files, const lf_import_opts *opts,
                       lf_trace *out, lf_import_info *info, char *model_id, size_t model_id_cap,
                       lf_err *err);

/* Formats accepted by the importer (for --help). */
const char *lf_import_formats(void);

#endif
