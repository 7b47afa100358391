#include "lf_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double lf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lf_progress_start(lf_progress *p, const char *what, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total = total;
    p->start = p->last_draw = lf_now();
    const char *env = getenv("LLMFLASH_PROGRESS");
    p->enabled = env ? atoi(env) != 0 : 1;
    p->lines = !env && !isatty(2);
    const char *every = getenv("LLMFLASH_PROGRESS_EVERY");
    p->every = every && atof(every) > 0 ? atof(every) : 20.0;
}

void lf_progress_update(lf_progress *p, uint64_t done)
{
    if (!p->enabled)
        return;
    double now = lf_now();
    double el = now - p->start;
    if (p->lines) {
        if (now - p->last_draw < p->every)
            return;
        p->last_draw = now;
        if (p->total)
            fprintf(stderr, "%s: %llu/%llu (%.0f%%) after %.0f s\n", p->what,
                    (unsigned long long)done, (unsigned long long)p->total,
                    100.0 * (double)done / (double)p->total, el);
        else
            fprintf(stderr, "%s: %llu after %.0f s\n", p->what, (unsigned long long)done, el);
        p->drawn = 2;
        return;
    }
    if (now - p->start < 2.0 || now - p->last_draw < 0.25)
        return;
    p->last_draw = now;
    if (p->total) {
        double frac = (double)done / (double)p->total;
        double eta = frac > 0 ? el / frac - el : 0;
        fprintf(stderr, "\r%s: %llu/%llu (%.0f%%) %.0fs elapsed, ~%.0fs left   ", p->what,
                (unsigned long long)done, (unsigned long long)p->total, 100 * frac, el, eta);
    } else {
        fprintf(stderr, "\r%s: %llu %.0fs elapsed   ", p->what, (unsigned long long)done, el);
    }
    p->drawn = 1;
}

void lf_progress_end(lf_progress *p)
{
    if (p->drawn == 2)
        fprintf(stderr, "%s: done in %.1f s\n", p->what, lf_now() - p->start);
    else if (p->drawn)
        fprintf(stderr, "\r%s: done in %.1fs%40s\n", p->what, lf_now() - p->start, "");
    p->drawn = 0;
}
