/* Fuzzes the llama2.c tokenizer reader (lf_tok_load) and, when it loads, encoding and
 * decoding. The first two bytes give the vocabulary size the checkpoint would ask for. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "lf_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t vocab = (uint32_t)data[0] | (uint32_t)data[1] << 8;
    const char *path = fuzz_file(data + 2, size - 2);
    lf_tok t;
    lf_err err;
    if (lf_tok_load(&t, path, vocab, &err) != LF_OK)
        return 0;
    int32_t *ids = NULL;
    uint32_t n = 0;
    if (lf_tok_encode(&t, "Once upon a time \xe2\x82\xac", 1, 0, &ids, &n, &err) == LF_OK) {
        for (uint32_t i = 1; i < n; i++)
            lf_tok_decode(&t, ids[i - 1], ids[i]);
        free(ids);
    }
    lf_tok_free(&t);
    return 0;
}
