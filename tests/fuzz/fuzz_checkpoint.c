/* Fuzzes the llama2.c checkpoint reader: lf_llama_read_config, and lf_llama_open with
 * one forward step when the shape is small enough to run in a few milliseconds. */
#include <stdint.h>

#include "fuzz_io.h"
#include "lf_llama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    lf_llama_config cfg;
    lf_err err;
    if (lf_llama_read_config(path, &cfg, &err) != LF_OK)
        return 0;
    /* the KV cache (n_layers * seq_len * kv_dim floats, twice) is sized by seq_len, which
     * the version-1 format does not tie to the file's size: a huge one is a clean
     * ENOMEM from calloc, but over libFuzzer's malloc limit it would read as a crash */
    if ((uint64_t)cfg.n_layers * cfg.seq_len * cfg.dim > (1u << 26))
        return 0;
    lf_llama m;
    if (lf_llama_open(&m, path, &err) != LF_OK)
        return 0;
    if ((uint64_t)cfg.dim * cfg.hidden_dim * cfg.n_layers < (1u << 16)) {
        float *logits;
        lf_llama_forward(&m, 1 % (int32_t)cfg.vocab_size, 0, &logits, &err);
    }
    lf_llama_close(&m);
    return 0;
}
