/* libFuzzer harness of the trace reader: arbitrary bytes through lf_trace_read_ex, the
 * entry point every command uses (lf_h5lite for version 2 files, libhdf5 in a child
 * process for the rest). Seeds: tests/fuzz/corpus/trace_h5/. The bytes go to a memfd
 * (no disk traffic); the last byte also picks a token limit, to reach the partial reads. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lf_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_trace_h5", 0);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    lf_trace_read_opts o = {size && data[size - 1] % 4 == 0 ? 2 : 0};
    lf_trace t;
    lf_err err;
    if (lf_trace_read_ex(path, &o, &t, &err) == LF_OK)
        lf_trace_free(&t);
    return 0;
}
