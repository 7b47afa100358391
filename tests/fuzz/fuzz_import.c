/* Fuzzes the JSONL routing-log importer (lf_import_vllm_moe): the input is one file;
 * the first byte chooses the options (experts given or not, warm-up dropping). */
#include <stdint.h>
#include <string.h>

#include "fuzz_io.h"
#include "lf_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t o = data[0];
    const char *path = fuzz_file(data + 1, size - 1);
    lf_import_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.drop_warmup = o & 1;
    opts.n_experts = (o & 2) ? 64 : 0;
    opts.max_tokens = (o & 4) ? 3 : 0;
    const char *files[1] = {path};
    lf_import_info info;
    lf_trace t;
    lf_err err;
    char model_id[128];
    if (lf_import_vllm_moe(files, 1, &opts, &t, &info, model_id, sizeof model_id, &err) == LF_OK)
        lf_trace_free(&t);
    return 0;
}
