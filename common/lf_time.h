/* lf_time: monotonic clock and a progress line on stderr for long jobs.
 * The progress line appears only after 2 s and is redrawn at most 4 times a second;
 * it is silent when stderr is not a terminal unless LLMFLASH_PROGRESS=1. */
#ifndef LF_TIME_H
#define LF_TIME_H

#include <stdint.h>

double lf_now(void); /* seconds, CLOCK_MONOTONIC */

typedef struct {
    const char *what;
    uint64_t total;
    double start, last_draw;
    int drawn;
    int enabled;
} lf_progress;

void lf_progress_start(lf_progress *p, const char *what, uint64_t total);
void lf_progress_update(lf_progress *p, uint64_t done);
void lf_progress_end(lf_progress *p);

#endif
