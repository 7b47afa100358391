/* Fuzzes the probe CSV reader (lf_fit_parse_probe, the text behind lf_fit_read_probe),
 * with and without an engine filter (first byte). */
#include <stdint.h>
#include <stdlib.h>

#include "lf_fit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *engine = (data[0] & 1) ? "psync" : NULL;
    lf_fit_point *pts = NULL;
    size_t n = 0;
    lf_err err;
    if (lf_fit_parse_probe((const char *)data + 1, size - 1, "fuzz.csv", engine, &pts, &n, &err) ==
        LF_OK)
        free(pts);
    return 0;
}
