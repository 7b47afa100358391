/* fuzz_io: the fuzz harnesses' one helper: the input bytes as a file, for parsers that
 * take a path. A memfd (a regular file in memory, no disk I/O) reused by every run;
 * the path "/proc/self/fd/N" opens it afresh. */
#ifndef FUZZ_IO_H
#define FUZZ_IO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz file");
        abort();
    }
    return path;
}

#endif
