/* The paper's ablation table, as five simulated configurations. */
#include "lf_ablation.h"

#include <stdio.h>
#include <string.h>

#include "lf_fs.h"

/* dram_kept < 0: resident part + the peak FFN cache; else the bytes a baseline keeps
 * between tokens (its streamed units pass through DRAM but are not kept). */
static int run_row(const lf_run_config *c, const lf_trace *trace, const lf_device *dev,
                   const char *name, lf_ablation_row *row, double dram_kept, lf_err *err)
{
    lf_run_result r;
    int rc = lf_run(c, trace, NULL, dev, &r, err);
    if (rc) {
        lf_err_prefix(err, "ablation row '%s'", name);
        return rc;
    }
    const lf_summary *s = &r.summary;
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->policy, sizeof row->policy, "%s", c->policy);
    snprintf(row->layout, sizeof row->layout, "%s", lf_layout_kind_name(c->layout));
    double flash = s->mean_bytes_read + (double)c->stream_bytes;
    row->flash_gb_per_token = flash / 1e9;
    row->dram_gb = (dram_kept >= 0 ? dram_kept : r.budget.resident_bytes + s->max_resident_bytes) / 1e9;
    row->io_ms = s->mean_io_ms;
    row->mem_ms = s->mean_mem_ms;
    row->compute_ms = s->mean_compute_ms;
    row->total_ms = s->mean_total_ms;
    row->throughput_gbps = row->io_ms > 0 ? flash / (row->io_ms * 1e6) : 0;
    lf_run_result_free(&r);
    return LF_OK;
}

int lf_ablation_run(const lf_run_config *base, const lf_trace *trace, const lf_device *dev,
                    lf_ablation_row rows[LF_ABLATION_ROWS], lf_err *err)
{
    lf_model m;
    int rc = lf_run_resolve_model(trace, base->model, &m, err);
    if (rc)
        return rc;
    uint32_t dt = base->dtype_bytes ? base->dtype_bytes : (trace->dtype_bytes ? trace->dtype_bytes : 2);
    double total = (double)lf_model_total_bytes(&m, dt), ffn = (double)lf_model_ffn_bytes(&m, dt);
    double nonffn = total - ffn;
    double budget = base->dram_bytes ? (double)base->dram_bytes : base->dram_fraction * total;
    double frac = ffn > 0 ? (budget - nonffn) / ffn : 0;
    if (frac < 0)
        return lf_fail(err, LF_EINVAL,
                       "ablation: the DRAM budget (%.3f GB) is below the non-FFN weights (%.3f "
                       "GB): the hybrid cannot keep them resident; raise --dram-fraction",
                       budget / 1e9, nonffn / 1e9);
    if (frac > 1)
        frac = 1;
    char hybrid[96];
    snprintf(hybrid, sizeof hybrid, "hybrid:fraction=%.6f", frac);

    lf_run_config c = *base;
    int have_pred = base->recorded_predictor || base->fn_rate > 0 || base->fp_rate > 0;
    /* 1. naive: every weight from flash for every token, nothing kept. */
    c.policy = "naive";
    c.layout = LF_LAYOUT_SPLIT;
    c.fn_rate = c.fp_rate = 0;
    c.recorded_predictor = 0;
    c.dram_fraction = 1.0;
    c.dram_bytes = 0;
    c.stream_bytes = (uint64_t)nonffn;
    if ((rc = run_row(&c, trace, dev, "naive", &rows[0], 0, err)))
        return rc;
    /* 2. hybrid: the budget's share resident, the rest read every token. */
    c.policy = hybrid;
    c.dram_fraction = base->dram_fraction;
    c.dram_bytes = base->dram_bytes;
    c.stream_bytes = 0;
    if ((rc = run_row(&c, trace, dev, "hybrid", &rows[1], nonffn + frac * ffn, err)))
        return rc;
    /* 3. + sparsity: only the predicted neurons, nothing kept between tokens. */
    c.policy = "sparse";
    if (have_pred) {
        c.fn_rate = base->fn_rate;
        c.fp_rate = base->fp_rate;
        c.recorded_predictor = base->recorded_predictor;
    } else if (trace->layers[0].pred_indptr) {
        c.recorded_predictor = 1;
    } else {
        c.fn_rate = 0.05;
        c.fp_rate = 0.07;
    }
    if ((rc = run_row(&c, trace, dev, "+ sparsity (predictor)", &rows[2], -1, err)))
        return rc;
    /* 4. + windowing (k = 4, or the base policy when it is a window). */
    c.policy = strncmp(base->policy, "window", 6) == 0 ? base->policy : "window:k=4";
    if ((rc = run_row(&c, trace, dev, "+ windowing", &rows[3], -1, err)))
        return rc;
    /* 5. + row-column bundling. */
    c.layout = LF_LAYOUT_BUNDLED;
    if ((rc = run_row(&c, trace, dev, "+ bundling", &rows[4], -1, err)))
        return rc;
    for (int i = 0; i < LF_ABLATION_ROWS; i++)
        rows[i].speedup = rows[i].total_ms > 0 ? rows[0].total_ms / rows[i].total_ms : 0;
    return LF_OK;
}

void lf_ablation_format_md(FILE *f, const lf_ablation_row *rows, int n)
{
    fprintf(f, "| configuration | policy | layout | DRAM GB | flash->DRAM GB/token | "
               "throughput GB/s | I/O ms | memory ms | compute ms | total ms | speed-up |\n");
    fprintf(f, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < n; i++) {
        const lf_ablation_row *r = &rows[i];
        fprintf(f, "| %s | %s | %s | %.2f | %.3f | %.2f | %.1f | %.2f | %.1f | %.1f | %.1fx |\n",
                r->name, r->policy, r->layout, r->dram_gb, r->flash_gb_per_token,
                r->throughput_gbps, r->io_ms, r->mem_ms, r->compute_ms, r->total_ms, r->speedup);
    }
}

int lf_ablation_write(const char *csv_path, const char *md_path, const lf_ablation_row *rows,
                      int n, lf_err *err)
{
    lf_atomic a;
    int rc;
    if (csv_path) {
        if ((rc = lf_atomic_open(&a, csv_path, err)))
            return rc;
        fputs("configuration,policy,layout,dram_gb,flash_gb_per_token,throughput_gbps,io_ms,"
              "mem_ms,compute_ms,total_ms,speedup\n",
              a.f);
        for (int i = 0; i < n; i++) {
            const lf_ablation_row *r = &rows[i];
            fprintf(a.f, "\"%s\",\"%s\",%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", r->name,
                    r->policy, r->layout, r->dram_gb, r->flash_gb_per_token, r->throughput_gbps,
                    r->io_ms, r->mem_ms, r->compute_ms, r->total_ms, r->speedup);
        }
        if ((rc = lf_atomic_commit(&a, err)))
            return rc;
    }
    if (md_path) {
        if ((rc = lf_atomic_open(&a, md_path, err)))
            return rc;
        fputs("# Ablation (steady-state means per token, simulated)\n\n", a.f);
        lf_ablation_format_md(a.f, rows, n);
        if ((rc = lf_atomic_commit(&a, err)))
            return rc;
    }
    return LF_OK;
}
