/* llmflash trace predict: low-rank predictors of a recorded trace's active neurons,
 * their recall/precision per layer and rank, and the predicted sets written into the
 * trace (pred_indptr/pred_index) for the simulator to replay. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_cli.h"
#include "lf_cli_llama.h"
#include "lf_cli_num.h"
#include "lf_kv.h"
#include "lf_llama.h"
#include "lf_llama_rec.h"
#include "lf_lowrank.h"

static const char *CMD = "trace predict";

static void help(void)
{
    printf("usage: llmflash trace predict --checkpoint M.bin --trace T.h5 --rank R[,R2,...]\n"
           "           [--method svd|lsq] [--select rule|count] [--scale S]\n"
           "           [--threshold X [--relative]] [--ridge L] [--write-rank R] [-o T2.h5]\n\n"
           "Builds, per layer, a rank-R predictor of the FFN neurons a token needs from the\n"
           "layer's FFN input x, and scores it against the sets recorded in T.h5 (made by\n"
           "'llmflash trace record' from the same checkpoint; the tokens are run through the\n"
           "model again to get x, and the recorded |h| are checked against the rerun).\n\n"
           "methods:\n"
           "  svd  rank-R truncated SVD of the gate (W1) and up (W3) projections; the score\n"
           "       silu(W1_R x) * (W3_R x) approximates h. Needs no training data.\n"
           "  lsq  ridge least squares |h| ~ B [x; 1] on the recorded tokens, B truncated to\n"
           "       rank R; 2-fold cross-fitted (the first half of the tokens is predicted by\n"
           "       the fit on the second half and vice versa), so no token is predicted by a\n"
           "       fit that saw it.\n"
           "selection:\n"
           "  rule   the recording rule (the trace's threshold, absolute or relative) applied\n"
           "         to the score, with the threshold multiplied by --scale (default 1;\n"
           "         < 1 raises recall at the cost of precision)\n"
           "  count  the top-n neurons by |score|, n = the recorded set's size (an oracle on\n"
           "         the size, to compare ranks; recall = precision)\n\n"
           "output: CSV on stdout, one row per rank and layer:\n"
           "  method,rank,layer,tokens,true_mean,pred_mean,recall,precision,fn_rate,fp_rate,\n"
           "  params\n"
           "  recall = |pred & true| / |true| and precision = |pred & true| / |pred|, summed\n"
           "  over tokens; fn_rate = 1 - recall; fp_rate = (|pred| - |pred & true|) / |true|\n"
           "  (the simulator's predictor error model); params = predictor parameters of the\n"
           "  layer. A ratio over an empty set is nan (a layer no token activated, or one the\n"
           "  predictor left empty), which Python and gnuplot read as missing. With -o, the\n"
           "  sets of --write-rank (default: the first rank) are written into a copy of the\n"
           "  trace.\n\n"
           "options shared with trace record and generate:\n");
    lf_cli_llama_help(stdout, LF_LLAMA_CHECKPOINT | LF_LLAMA_THRESHOLD | LF_LLAMA_RELATIVE);
    printf("                      (default: the trace's recording rule)\n\n"
           "example:\n"
           "  llmflash trace predict --checkpoint ../shared/data/stories260K.bin \\\n"
           "      --trace rec.h5 --rank 4,8,16,32,64 --method svd -o rec_pred.h5\n");
}

typedef struct {
    uint32_t n_tokens, dim, hidden;
    float *x, *h; /* [layer][token][dim], [layer][token][hidden] */
} collect_ctx;

static int collect(void *ctx, uint32_t layer, uint32_t tok, const float *x, const float *h,
                   lf_err *err)
{
    (void)err;
    collect_ctx *c = ctx;
    size_t row = (size_t)layer * c->n_tokens + tok;
    memcpy(c->x + row * c->dim, x, c->dim * sizeof(float));
    memcpy(c->h + row * c->hidden, h, c->hidden * sizeof(float));
    return LF_OK;
}

/* The recorded magnitudes must be the rerun's |h|: otherwise the trace is from another
 * model or was not recorded from these tokens. */
static int check_values(const lf_trace *t, const collect_ctx *c, const char *what, lf_err *err)
{
    for (uint32_t l = 0; l < t->n_layers; l++) {
        if (!t->layers[l].value)
            continue;
        for (uint32_t tok = 0; tok < t->n_tokens; tok++) {
            uint32_t n;
            const uint32_t *ids = lf_trace_ids(t, l, tok, &n);
            const float *v = t->layers[l].value + t->layers[l].indptr[tok];
            const float *h = c->h + ((size_t)l * c->n_tokens + tok) * c->hidden;
            for (uint32_t k = 0; k < n; k++) {
                double want = fabs((double)h[ids[k]]);
                if (fabs((double)v[k] - want) > 1e-6 + 1e-4 * want)
                    return lf_fail(err, LF_EFORMAT,
                                   "%s: layer %u token %u neuron %u: recorded |h| = %g but the "
                                   "checkpoint gives %g: the trace was not recorded from this "
                                   "checkpoint", what, l, tok, ids[k], (double)v[k], want);
            }
        }
    }
    return LF_OK;
}

typedef struct {
    const lf_llama *m;
    const lf_trace *t;
    const collect_ctx *c;
    lf_lowrank_method method;
    double ridge;
    lf_lowrank_select sel;
} run_ctx;

/* One rank, one layer: stats, and the sets when `out` is non-NULL. */
static int predict_layer(const run_ctx *r, uint32_t rank, uint32_t l, lf_lowrank_stats *st,
                         uint64_t *params, lf_lowrank_sets *out, lf_err *err)
{
    const collect_ctx *c = r->c;
    uint32_t n = c->n_tokens;
    const float *x = c->x + (size_t)l * n * c->dim, *h = c->h + (size_t)l * n * c->hidden;
    lf_lowrank p;
    int rc;
    if (r->method == LF_LOWRANK_SVD) {
        lf_llama_ffn f;
        lf_llama_ffn_weights(r->m, l, &f);
        rc = lf_lowrank_from_weights(&p, f.w1, f.w3, c->dim, c->hidden, rank, err);
        if (!rc) {
            *params = lf_lowrank_params(&p);
            rc = lf_lowrank_eval(&p, r->t, l, x, 0, n, &r->sel, st, out, err);
            lf_lowrank_free(&p);
        }
        return rc;
    }
    uint32_t half = n / 2;
    /* fold A: fit on [half, n), predict [0, half); fold B: the other way round */
    uint32_t fit0[2] = {half, 0}, fit1[2] = {n, half}, ev0[2] = {0, half}, ev1[2] = {half, n};
    for (int f = 0; f < 2; f++) {
        rc = lf_lowrank_fit(&p, x + (size_t)fit0[f] * c->dim, h + (size_t)fit0[f] * c->hidden,
                            fit1[f] - fit0[f], c->dim, c->hidden, rank, r->ridge, err);
        if (rc)
            return rc;
        *params = lf_lowrank_params(&p);
        rc = lf_lowrank_eval(&p, r->t, l, x + (size_t)ev0[f] * c->dim, ev0[f], ev1[f], &r->sel,
                             st, out, err);
        lf_lowrank_free(&p);
        if (rc)
            return rc;
    }
    return LF_OK;
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : NAN;
}

int cmd_trace_predict(int argc, char **argv)
{
    const char *ckpt = NULL, *trace_path = NULL, *out = NULL, *ranks_s = NULL;
    const char *method_s = "svd", *select_s = "rule";
    double scale = 1.0, ridge = 1e-3, threshold = -1.0;
    int relative = 0;
    uint64_t write_rank = 0;
    static const struct option own[] = {
        {"trace", required_argument, 0, 't'},      {"rank", required_argument, 0, 'r'},
        {"method", required_argument, 0, 'm'},     {"select", required_argument, 0, 'S'},
        {"scale", required_argument, 0, 'a'},      {"ridge", required_argument, 0, 'g'},
        {"write-rank", required_argument, 0, 'w'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}};
    struct option opts[sizeof own / sizeof own[0] + 16];
    memcpy(opts, own, sizeof own);
    lf_cli_llama_opts(LF_LLAMA_CHECKPOINT | LF_LLAMA_THRESHOLD | LF_LLAMA_RELATIVE, opts,
                      sizeof own / sizeof own[0], sizeof opts / sizeof opts[0]);
    lf_cli_llama lo;
    lf_cli_llama_init(&lo);
    lf_cli_reset_getopt();
    int c, u = LF_EXIT_OK;
    while ((c = lf_cli_getopt(CMD, argc, argv, "ho:", opts, NULL)) != -1) {
        if (lf_cli_llama_option(CMD, c, optarg, &lo, &u)) {
            if (u)
                return u;
            ckpt = lo.checkpoint;
            threshold = lo.threshold;
            relative = lo.relative;
            continue;
        }
        switch (c) {
        case 't': trace_path = optarg; break;
        case 'r': ranks_s = optarg; break;
        case 'm': method_s = optarg; break;
        case 'S': select_s = optarg; break;
        case 'o': out = optarg; break;
        case 'a': u = lf_cli_double(CMD, "--scale", optarg, 0, 1e6, &scale); break;
        case 'g': u = lf_cli_double(CMD, "--ridge", optarg, 0, 1e6, &ridge); break;
        case 'w': u = lf_cli_u64(CMD, "--write-rank", optarg, 1, 1000000, &write_rank); break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
        if (u)
            return u;
    }
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !trace_path || !ranks_s)
        return lf_cli_usage(CMD, "--checkpoint, --trace and --rank are required");
    run_ctx r = {0};
    if (!strcmp(method_s, "svd"))
        r.method = LF_LOWRANK_SVD;
    else if (!strcmp(method_s, "lsq"))
        r.method = LF_LOWRANK_LSQ;
    else
        return lf_cli_usage(CMD, "--method '%s': expected svd or lsq", method_s);
    if (strcmp(select_s, "rule") && strcmp(select_s, "count"))
        return lf_cli_usage(CMD, "--select '%s': expected rule or count", select_s);
    if (lf_cli_refuse_same(CMD, out, ckpt, trace_path, LF_CLI_END))
        return LF_EXIT_FAIL;
    lf_err err = {0};
    uint64_t *ranks = NULL;
    size_t n_ranks = 0;
    if (lf_parse_size_list(ranks_s, &ranks, &n_ranks, &err) || n_ranks == 0)
        return lf_cli_usage(CMD, "--rank '%s': expected a comma list of positive integers",
                            ranks_s);
    int found = write_rank == 0;
    for (size_t i = 0; i < n_ranks; i++) {
        if (ranks[i] == 0 || ranks[i] > 1000000) {
            free(ranks);
            return lf_cli_usage(CMD, "--rank '%s': ranks must be positive", ranks_s);
        }
        found |= ranks[i] == write_rank;
    }
    if (!found) {
        free(ranks);
        return lf_cli_usage(CMD, "--write-rank %llu is not one of --rank %s",
                            (unsigned long long)write_rank, ranks_s);
    }
    if (!write_rank)
        write_rank = ranks[0];

    lf_trace t;
    lf_llama m;
    collect_ctx col = {0};
    lf_lowrank_sets *sets = NULL;
    memset(&t, 0, sizeof t);
    int rc = lf_trace_read(trace_path, &t, &err);
    if (rc) {
        free(ranks);
        return lf_cli_error(CMD, &err);
    }
    rc = lf_llama_open(&m, ckpt, &err);
    if (rc) {
        lf_trace_free(&t);
        free(ranks);
        return lf_cli_error(CMD, &err);
    }
    if (t.kind != LF_UNITS_NEURONS || t.n_layers != m.cfg.n_layers ||
        t.units_per_layer != m.cfg.hidden_dim || t.d_model != m.cfg.dim || !t.tokens ||
        t.n_tokens < 2)
        rc = lf_fail(&err, LF_EINVAL, "%s: a neuron trace of %u layers x %u neurons (d_model %u) "
                     "with token ids and >= 2 tokens is needed for %s (%u layers x %u, d_model "
                     "%u); record it with 'llmflash trace record'", trace_path, t.n_layers,
                     t.units_per_layer, t.d_model, ckpt, m.cfg.n_layers, m.cfg.hidden_dim,
                     m.cfg.dim);
    /* every rank fits the model before anything is computed or printed (the CSV header
     * went to stdout ahead of the refusal) */
    uint32_t max_rank = m.cfg.dim + (r.method == LF_LOWRANK_LSQ ? 1 : 0);
    max_rank = max_rank < m.cfg.hidden_dim ? max_rank : m.cfg.hidden_dim;
    for (size_t i = 0; i < n_ranks && !rc; i++)
        if (ranks[i] > max_rank)
            rc = lf_fail(&err, LF_EINVAL, "--rank %llu: %s's predictors have rank 1..%u (the "
                         "smaller of its input width and d_ff %u); give smaller ranks",
                         (unsigned long long)ranks[i], ckpt, max_rank, m.cfg.hidden_dim);
    if (!rc) {
        if (threshold >= 0.0) {
            r.sel.threshold = threshold;
            r.sel.relative = relative;
        } else {
            rc = lf_llama_rec_rule(&t, trace_path, &r.sel.threshold, &r.sel.relative, &err);
        }
    }
    r.sel.scale = scale;
    r.sel.by_count = !strcmp(select_s, "count");
    r.ridge = ridge;
    col.n_tokens = t.n_tokens;
    col.dim = m.cfg.dim;
    col.hidden = m.cfg.hidden_dim;
    if (!rc) {
        size_t rows = (size_t)t.n_layers * t.n_tokens;
        col.x = malloc(rows * col.dim * sizeof(float));
        col.h = malloc(rows * col.hidden * sizeof(float));
        sets = calloc(t.n_layers, sizeof *sets);
        if (!col.x || !col.h || !sets)
            rc = lf_fail(&err, LF_ENOMEM, "out of memory for the FFN inputs of %u tokens",
                         t.n_tokens);
    }
    if (!rc)
        rc = lf_llama_replay(&m, t.tokens, t.n_tokens, collect, &col, &err);
    if (!rc)
        rc = check_values(&t, &col, trace_path, &err);
    r.m = &m;
    r.t = &t;
    r.c = &col;
    if (!rc)
        printf("method,rank,layer,tokens,true_mean,pred_mean,recall,precision,fn_rate,fp_rate,"
               "params\n");
    for (size_t ri = 0; ri < n_ranks && !rc; ri++) {
        uint32_t rank = (uint32_t)ranks[ri];
        int keep = rank == (uint32_t)write_rank && out;
        lf_lowrank_stats all = {0};
        for (uint32_t l = 0; l < t.n_layers && !rc; l++) {
            lf_lowrank_stats st = {0};
            uint64_t params = 0;
            if (keep)
                lf_lowrank_sets_free(&sets[l]);
            rc = predict_layer(&r, rank, l, &st, &params, keep ? &sets[l] : NULL, &err);
            if (rc)
                break;
            printf("%s,%u,%u,%llu,%.3f,%.3f,%.4f,%.4f,%.4f,%.4f,%llu\n", method_s, rank, l,
                   (unsigned long long)st.tokens, ratio(st.n_true, st.tokens),
                   ratio(st.n_pred, st.tokens), ratio(st.tp, st.n_true), ratio(st.tp, st.n_pred),
                   1.0 - ratio(st.tp, st.n_true), ratio(st.n_pred - st.tp, st.n_true),
                   (unsigned long long)params);
            all.n_true += st.n_true;
            all.n_pred += st.n_pred;
            all.tp += st.tp;
        }
        if (!rc)
            fprintf(stderr, "%s rank %u, all layers: recall %.4f precision %.4f\n", method_s, rank,
                    ratio(all.tp, all.n_true), ratio(all.tp, all.n_pred));
    }
    if (!rc && out) {
        for (uint32_t l = 0; l < t.n_layers && !rc; l++) {
            rc = lf_trace_set_pred(&t, l, sets[l].indptr, sets[l].index, sets[l].nnz, &err);
            if (!rc)
                memset(&sets[l], 0, sizeof sets[l]); /* the trace owns them now */
        }
        size_t len = strlen(t.generator);
        snprintf(t.generator + len, sizeof t.generator - len,
                 " predictor=%s predictor_rank=%llu predictor_select=%s predictor_scale=%g",
                 method_s, (unsigned long long)write_rank, select_s, scale);
        if (!rc)
            rc = lf_trace_write(&t, out, &err);
        if (!rc)
            fprintf(stderr, "wrote the rank-%llu %s predictor's sets into %s\n",
                    (unsigned long long)write_rank, method_s, out);
    }
    if (sets)
        for (uint32_t l = 0; l < t.n_layers; l++)
            lf_lowrank_sets_free(&sets[l]);
    free(sets);
    free(col.x);
    free(col.h);
    free(ranks);
    lf_llama_close(&m);
    lf_trace_free(&t);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
