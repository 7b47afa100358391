/* libFuzzer harness of the trace reader: arbitrary bytes through lf_trace_read_ex, the
 * entry point every command uses (lf_h5lite for checksummed files, libhdf5 in a child
 * process for superblock v0/v1). Seeds: tests/fuzz/corpus/trace_h5/. The last byte
 * picks a token limit (partial reads) and whether the checksums of the superblock and
 * of every object header's first chunk are recomputed first: random mutations never
 * pass a checksum, and the parser behind them must be fuzzed too; bit 3 reads with
 * narrow_ids (16-bit ids kept 16-bit), whose sets are then walked; bit 4 with it,
 * defer_ids (the needed ids left in the file, staged a layer at a time before the walk;
 * a layer whose staging is refused is skipped).
 * Inputs with a v0/v1 superblock go to the libhdf5 child only when the last byte's top
 * four bits are zero (one in sixteen): the child costs a fork and ~3 ms, its coverage
 * never reaches the fuzzer, and at full rate it would cap the campaign at ~300 exec/s;
 * the child's own handling of crashes and hangs is tested in tests/test_trace.c (the repro files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_io.h"
#include "lf_h5lite.h"
#include "lf_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the superblock (v2/v3) checksum and those of every "OHDR" chunk 0. */
static void fix_checksums(uint8_t *b, size_t n)
{
    if (n >= 48 && b[8] >= 2)
        put32(b + 44, lf_h5l_checksum(b, 44));
    for (size_t i = 0; i + 8 <= n; i++) {
        /* bytes, not memcmp: libFuzzer hooks every memcmp, a scan per byte costs 7% */
        if (b[i] != 'O' || b[i + 1] != 'H' || b[i + 2] != 'D' || b[i + 3] != 'R')
            continue;
        uint8_t flags = b[i + 5];
        size_t off = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
        unsigned szlen = 1u << (flags & 3);
        if (i + off + szlen > n)
            continue;
        uint64_t len = 0;
        for (unsigned k = 0; k < szlen; k++)
            len |= (uint64_t)b[i + off + k] << (8 * k);
        if (len > n || i + off + szlen + len + 4 > n)
            continue;
        size_t body = off + szlen + (size_t)len;
        put32(b + i + body, lf_h5l_checksum(b + i, body));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t last = size ? data[size - 1] : 0;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (last & 1)
        fix_checksums(copy, size);
    const char *path = fuzz_file(copy, size);
    free(copy);
    lf_h5l_file f;
    lf_err open_err;
    int kind = lf_h5l_open(path, &f, &open_err);
    if (kind >= 0)
        lf_h5l_close(&f);
    if (kind == LF_H5L_UNSUP && (last & 0xF0) != 0)
        return 0;
    /* The libhdf5 child's limit well under the fuzzer's 10 s hang limit. */
    lf_trace_read_opts o = {.max_tokens = (last & 6) == 0 ? 2 : 0, .timeout_s = 2.0,
                            .narrow_ids = (last & 8) != 0,
                            .defer_ids = (last & 0x18) == 0x18};
    lf_trace t;
    lf_err err;
    if (lf_trace_read_ex(path, &o, &t, &err) != LF_OK)
        return 0;
    /* every set, whichever width it is held in, is inside the trace's bounds */
    uint32_t most = lf_trace_max_set(&t, 0), pmost = lf_trace_max_set(&t, 1);
    uint32_t *buf = malloc(((size_t)(most > pmost ? most : pmost) + 1) * sizeof *buf);
    for (uint32_t l = 0; buf && l < t.n_layers; l++) {
        if (lf_trace_stage(&t, l, 0, t.n_tokens, &err) != LF_OK)
            continue;
        for (uint32_t tok = 0; tok < t.n_tokens; tok++)
            for (int pred = 0; pred < 1 + (t.layers[l].pred_indptr != NULL); pred++) {
                uint32_t n;
                const uint32_t *ids = lf_trace_ids_to(&t, l, tok, pred, buf, &n);
                if (n && ids[n - 1] >= t.units_per_layer)
                    abort();
            }
    }
    free(buf);
    lf_trace_free(&t);
    return 0;
}
