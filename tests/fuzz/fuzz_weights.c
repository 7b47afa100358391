/* Fuzzes the weights file reader (lf_weights_open: header, checksum, friend table,
 * shape checks). The header's SHA-256 would stop almost every mutation at the checksum,
 * so when the first byte is odd the harness writes the right checksum into the input
 * first: the checks behind it get fuzzed too (a forger can compute it as well). */
#include <stdint.h>
#include <string.h>

#include "fuzz_io.h"
#include "lf_weights.h"
#include "lf_weights_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int fix = data[0] & 1;
    data++;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (fix && size >= LF_WEIGHTS_HEADER_BYTES) {
        /* the friend table is hashed too: n_layers * units uint32 for the coact layout
         * (offsets of n_layers, units and layout in the header: bench/README.md) */
        uint32_t layers, units, layout;
        memcpy(&layers, buf + 96, 4);
        memcpy(&units, buf + 120, 4);
        memcpy(&layout, buf + 128, 4);
        uint64_t fb = layout == LF_LAYOUT_COACT ? (uint64_t)layers * units * 4 : 0;
        if (fb > size - LF_WEIGHTS_HEADER_BYTES)
            fb = 0;
        unsigned char sum[32];
        if (lf_weights_sha256(buf, buf + LF_WEIGHTS_HEADER_BYTES, (size_t)fb, sum, NULL) == LF_OK)
            memcpy(buf + LF_WEIGHTS_CHECKSUM_AT, sum, 32);
    }
    const char *path = fuzz_file(buf, size);
    free(buf);
    lf_weights w;
    lf_err err;
    if (lf_weights_open(path, &w, &err) == LF_OK) {
        char d[512];
        lf_weights_describe(&w, d, sizeof d);
        lf_weights_close(&w);
    }
    return 0;
}
