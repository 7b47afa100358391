/* lf_time: monotonic clock and a progress line on stderr for long jobs.
 * On a terminal the progress line appears after 2 s and is redrawn at most 4 times a
 * second. When stderr is not a terminal (a log file, make figures, a cluster job) a
 * whole line is printed every 20 s instead, so a long step is never silent for more
 * than 30 s (LLMFLASH_PROGRESS_EVERY=S changes the 20). LLMFLASH_PROGRESS=0 silences
 * both, =1 forces the terminal form. */
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
    int lines;      /* not a terminal: one full line every `every` seconds */
    double every;   /* 20, or $LLMFLASH_PROGRESS_EVERY */
} lf_progress;

void lf_progress_start(lf_progress *p, const char *what, uint64_t total);
void lf_progress_update(lf_progress *p, uint64_t done);
void lf_progress_end(lf_progress *p);

#endif
