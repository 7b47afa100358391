/* lf_validate_twins: the cold start's twins (lf_validate_twins.h). */
#include "lf_validate_twins.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_median.h"

/* The same first token: the options that shape it and every term the simulator priced
 * it at (exact: the same inputs give bit-identical predictions). The policy is left out
 * on purpose: with nothing in DRAM yet, every policy loads the token's units alike, and
 * where one does not (a pinned set), its predicted bytes differ. */
static int twins(const lf_validate_row *a, const lf_twin_input *ia, const lf_validate_row *b,
                 const lf_twin_input *ib)
{
    return ia->set == ib->set && strcmp(a->engine, b->engine) == 0 &&
           strcmp(a->layout, b->layout) == 0 && strcmp(a->dram, b->dram) == 0 &&
           strcmp(a->scope, b->scope) == 0 && a->threads == b->threads &&
           a->max_read == b->max_read && a->max_gap == b->max_gap &&
           a->dram_fraction == b->dram_fraction && a->predicted_cold_ms == b->predicted_cold_ms &&
           ia->pred_io_ms == ib->pred_io_ms && ia->pred_mem_ms == ib->pred_mem_ms &&
           ia->pred_compute_ms == ib->pred_compute_ms && ia->pred_bytes == ib->pred_bytes;
}

static double error_pct(double predicted, double measured)
{
    return measured > 0 ? 100.0 * (predicted - measured) / measured : NAN;
}

int lf_validate_pool_twins(lf_validate_row *rows, const lf_twin_input *in, size_t n,
                           lf_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += in[i].n_samples;
    double *pool = malloc((total ? total : 1) * sizeof *pool);
    size_t *lead = malloc((n ? n : 1) * sizeof *lead); /* each row's group: its first row */
    if (!pool || !lead) {
        free(pool);
        free(lead);
        return lf_fail(err, LF_ENOMEM, "validate: out of memory for the cold start's twins");
    }
    for (size_t i = 0; i < n; i++) {
        lead[i] = i;
        for (size_t j = 0; j < i; j++)
            if (lead[j] == j && twins(&rows[i], &in[i], &rows[j], &in[j])) {
                lead[i] = j;
                break;
            }
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0, members = 0;
        for (size_t j = 0; j < n; j++)
            if (lead[j] == lead[i]) {
                memcpy(pool + k, in[j].samples, in[j].n_samples * sizeof *pool);
                k += in[j].n_samples;
                members++;
            }
        lf_validate_row *r = &rows[i];
        snprintf(r->cold_twin, sizeof r->cold_twin, "%s", members > 1 ? rows[lead[i]].id : "");
        r->cold_pooled_samples = (uint32_t)k;
        r->measured_cold_pooled_ms = k ? lf_median(pool, k) : NAN;
        r->cold_pooled_error_pct = error_pct(r->predicted_cold_ms, r->measured_cold_pooled_ms);
    }
    free(pool);
    free(lead);
    return LF_OK;
}

void lf_validate_twin_stats(const lf_validate_row *rows, size_t n, lf_twin_stats *st)
{
    memset(st, 0, sizeof *st);
    st->apart_min_pct = st->apart_median_pct = st->apart_max_pct = NAN;
    st->pooled_mdape = st->pooled_max_ape = NAN;
    double *apart = malloc((n ? n : 1) * sizeof *apart), *ape = malloc((n ? n : 1) * sizeof *ape);
    double *meds = malloc((n ? n : 1) * sizeof *meds);
    size_t n_ape = 0;
    for (size_t i = 0; apart && ape && meds && i < n; i++) {
        const lf_validate_row *r = &rows[i];
        if (r->cold_twin[0] && strcmp(r->cold_twin, r->id) != 0)
            continue; /* its group counts once, at its first row */
        ape[n_ape++] = fabs(r->cold_pooled_error_pct);
        if (!r->cold_twin[0])
            continue;
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (strcmp(rows[j].cold_twin, r->id) == 0)
                meds[m++] = rows[j].measured_cold_ms;
        double mid = lf_median(meds, m); /* sorts meds */
        apart[st->groups++] = mid > 0 ? 100.0 * (meds[m - 1] - meds[0]) / mid : NAN;
        st->rows += m;
    }
    if (st->groups) {
        st->apart_median_pct = lf_median(apart, st->groups);
        st->apart_min_pct = apart[0];
        st->apart_max_pct = apart[st->groups - 1];
    }
    if (n_ape) {
        st->pooled_mdape = lf_median(ape, n_ape);
        st->pooled_max_ape = ape[n_ape - 1];
    }
    free(apart);
    free(ape);
    free(meds);
}
