/* cpu_time: runs a command and appends its CPU time (user + system seconds of the child,
 * from wait4's rusage, microsecond resolution) to a file; the benchmarks' measure of
 * "CPU time of one core". Why not the shell's `times`: it counts 10 ms clock ticks, an
 * eighth of an 80 ms target. Usage: cpu_time FILE COMMAND [ARGS...]. Exit status: the
 * command's (127 when it cannot be run, 128 + N when signal N ended it), or 2 for a
 * usage or file error; nothing is appended unless the command exited 0. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cpu_time FILE COMMAND [ARGS...]\n"
                        "appends the command's user + system CPU seconds to FILE\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cpu_time: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "cpu_time: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "cpu_time: wait: %s\n", strerror(errno));
            return 2;
        }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    if (WEXITSTATUS(status) != 0)
        return WEXITSTATUS(status);
    double s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
               ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    FILE *f = fopen(argv[1], "a");
    if (!f || fprintf(f, "%.6f\n", s) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cpu_time: cannot append to %s\n", argv[1]);
        return 2;
    }
    return 0;
}
