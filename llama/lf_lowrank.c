/* Low-rank active-neuron predictors: truncated SVD and ridge least squares with GSL. */
#include "lf_lowrank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>

#include "lf_llama_rec.h"

/* W (rows x cols) ~ A (rows x r) B (r x cols), the rank-r truncated SVD: A = U_r S_r,
 * B = V_r^T. gsl_linalg_SV_decomp wants rows >= cols, so a wide W is decomposed as W^T. */
static int trunc_svd(const double *w, uint32_t rows, uint32_t cols, uint32_t r, double *A,
                     double *B, lf_err *err)
{
    int wide = rows < cols;
    uint32_t M = wide ? cols : rows, N = wide ? rows : cols;
    gsl_matrix *a = gsl_matrix_alloc(M, N);
    gsl_matrix *v = gsl_matrix_alloc(N, N);
    gsl_vector *s = gsl_vector_alloc(N), *work = gsl_vector_alloc(N);
    int rc = LF_OK;
    if (!a || !v || !s || !work) {
        rc = lf_fail(err, LF_ENOMEM, "low-rank: out of memory for a %ux%u SVD", rows, cols);
        goto done;
    }
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t j = 0; j < cols; j++)
            gsl_matrix_set(a, wide ? j : i, wide ? i : j, w[(size_t)i * cols + j]);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int g = gsl_linalg_SV_decomp(a, v, s, work);
    gsl_set_error_handler(old);
    if (g) {
        rc = lf_fail(err, LF_EINVAL, "low-rank: SVD of a %ux%u matrix failed: %s", rows, cols,
                     gsl_strerror(g));
        goto done;
    }
    /* not wide: W = U S V^T with U = a (M x N), V = v.  wide: W^T = a S v^T, W = v S a^T. */
    for (uint32_t k = 0; k < r; k++) {
        double sk = gsl_vector_get(s, k);
        for (uint32_t i = 0; i < rows; i++)
            A[(size_t)i * r + k] = sk * (wide ? gsl_matrix_get(v, i, k) : gsl_matrix_get(a, i, k));
        for (uint32_t j = 0; j < cols; j++)
            B[(size_t)k * cols + j] = wide ? gsl_matrix_get(a, j, k) : gsl_matrix_get(v, j, k);
    }
done:
    gsl_matrix_free(a);
    gsl_matrix_free(v);
    gsl_vector_free(s);
    gsl_vector_free(work);
    return rc;
}

static int alloc_factors(lf_lowrank *p, lf_lowrank_method method, uint32_t dim, uint32_t hidden,
                         uint32_t rank, lf_err *err)
{
    memset(p, 0, sizeof *p);
    p->method = method;
    p->dim = dim;
    p->hidden = hidden;
    p->in = method == LF_LOWRANK_LSQ ? dim + 1 : dim;
    uint32_t maxr = p->in < hidden ? p->in : hidden;
    if (rank == 0 || rank > maxr)
        return lf_fail(err, LF_EINVAL, "low-rank: rank %u is outside 1..%u (min of the %s "
                       "input width %u and d_ff %u)", rank, maxr,
                       method == LF_LOWRANK_LSQ ? "lsq" : "svd", p->in, hidden);
    p->rank = rank;
    p->ag = malloc((size_t)hidden * rank * sizeof(double));
    p->bg = malloc((size_t)rank * p->in * sizeof(double));
    p->tmp = malloc(((size_t)rank + 2 * (size_t)hidden) * sizeof(double));
    if (method == LF_LOWRANK_SVD) {
        p->au = malloc((size_t)hidden * rank * sizeof(double));
        p->bu = malloc((size_t)rank * p->in * sizeof(double));
    }
    if (!p->ag || !p->bg || !p->tmp || (method == LF_LOWRANK_SVD && (!p->au || !p->bu))) {
        lf_lowrank_free(p);
        return lf_fail(err, LF_ENOMEM, "low-rank: out of memory");
    }
    return LF_OK;
}

int lf_lowrank_from_weights(lf_lowrank *p, const float *w1, const float *w3, uint32_t dim,
                            uint32_t hidden, uint32_t rank, lf_err *err)
{
    int rc = alloc_factors(p, LF_LOWRANK_SVD, dim, hidden, rank, err);
    if (rc)
        return rc;
    double *w = calloc((size_t)hidden * dim, sizeof(double));
    if (!w) {
        lf_lowrank_free(p);
        return lf_fail(err, LF_ENOMEM, "low-rank: out of memory");
    }
    for (size_t i = 0; i < (size_t)hidden * dim; i++)
        w[i] = w1[i];
    rc = trunc_svd(w, hidden, dim, rank, p->ag, p->bg, err);
    if (!rc) {
        for (size_t i = 0; i < (size_t)hidden * dim; i++)
            w[i] = w3[i];
        rc = trunc_svd(w, hidden, dim, rank, p->au, p->bu, err);
    }
    free(w);
    if (rc)
        lf_lowrank_free(p);
    return rc;
}

int lf_lowrank_fit(lf_lowrank *p, const float *x, const float *h, uint32_t n, uint32_t dim,
                   uint32_t hidden, uint32_t rank, double ridge, lf_err *err)
{
    if (n == 0)
        return lf_fail(err, LF_EINVAL, "low-rank lsq: no samples to fit");
    int rc = alloc_factors(p, LF_LOWRANK_LSQ, dim, hidden, rank, err);
    if (rc)
        return rc;
    uint32_t in = dim + 1;
    gsl_matrix *X = gsl_matrix_alloc(n, in), *Y = gsl_matrix_alloc(n, hidden);
    gsl_matrix *G = gsl_matrix_alloc(in, in), *R = gsl_matrix_alloc(in, hidden);
    gsl_matrix *B = gsl_matrix_alloc(in, hidden);
    double *w = malloc((size_t)hidden * in * sizeof(double));
    if (!X || !Y || !G || !R || !B || !w) {
        rc = lf_fail(err, LF_ENOMEM, "low-rank lsq: out of memory for %u samples", n);
        goto done;
    }
    for (uint32_t s = 0; s < n; s++) {
        for (uint32_t j = 0; j < dim; j++)
            gsl_matrix_set(X, s, j, x[(size_t)s * dim + j]);
        gsl_matrix_set(X, s, dim, 1.0);
        for (uint32_t i = 0; i < hidden; i++)
            gsl_matrix_set(Y, s, i, fabs(h[(size_t)s * hidden + i]));
    }
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, X, X, 0.0, G);
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, X, Y, 0.0, R);
    double tr = 0.0;
    for (uint32_t j = 0; j < in; j++)
        tr += gsl_matrix_get(G, j, j);
    double lambda = ridge * tr / in;
    if (!(lambda > 0.0))
        lambda = 1e-12;
    for (uint32_t j = 0; j < in; j++)
        gsl_matrix_set(G, j, j, gsl_matrix_get(G, j, j) + lambda);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int g = gsl_linalg_cholesky_decomp1(G);
    if (!g)
        g = gsl_linalg_cholesky_solve_mat(G, R, B);
    gsl_set_error_handler(old);
    if (g) {
        rc = lf_fail(err, LF_EINVAL, "low-rank lsq: the normal equations are singular (%s); "
                     "raise --ridge", gsl_strerror(g));
        goto done;
    }
    for (uint32_t i = 0; i < hidden; i++) /* W = B^T: hidden x in */
        for (uint32_t j = 0; j < in; j++)
            w[(size_t)i * in + j] = gsl_matrix_get(B, j, i);
    rc = trunc_svd(w, hidden, in, rank, p->ag, p->bg, err);
done:
    gsl_matrix_free(X);
    gsl_matrix_free(Y);
    gsl_matrix_free(G);
    gsl_matrix_free(R);
    gsl_matrix_free(B);
    free(w);
    if (rc)
        lf_lowrank_free(p);
    return rc;
}

void lf_lowrank_free(lf_lowrank *p)
{
    if (!p)
        return;
    free(p->ag);
    free(p->bg);
    free(p->au);
    free(p->bu);
    free(p->tmp);
    memset(p, 0, sizeof *p);
}

uint64_t lf_lowrank_params(const lf_lowrank *p)
{
    uint64_t one = (uint64_t)p->rank * (p->hidden + p->in);
    return p->method == LF_LOWRANK_SVD ? 2 * one : one;
}

/* out (hidden) = A (B x'), x' = x or [x; 1] */
static void apply(const lf_lowrank *p, const double *A, const double *B, const float *x,
                  double *out)
{
    for (uint32_t k = 0; k < p->rank; k++) {
        const double *b = B + (size_t)k * p->in;
        double acc = 0.0;
        for (uint32_t j = 0; j < p->dim; j++)
            acc += b[j] * x[j];
        if (p->in > p->dim)
            acc += b[p->dim];
        p->tmp[k] = acc;
    }
    for (uint32_t i = 0; i < p->hidden; i++) {
        const double *a = A + (size_t)i * p->rank;
        double acc = 0.0;
        for (uint32_t k = 0; k < p->rank; k++)
            acc += a[k] * p->tmp[k];
        out[i] = acc;
    }
}

void lf_lowrank_score(const lf_lowrank *p, const float *x, float *score)
{
    double *g = p->tmp + p->rank, *u = g + p->hidden;
    apply(p, p->ag, p->bg, x, g);
    if (p->method == LF_LOWRANK_LSQ) {
        for (uint32_t i = 0; i < p->hidden; i++)
            score[i] = (float)g[i];
        return;
    }
    apply(p, p->au, p->bu, x, u);
    for (uint32_t i = 0; i < p->hidden; i++)
        score[i] = (float)(g[i] / (1.0 + exp(-g[i])) * u[i]);
}

void lf_lowrank_sets_free(lf_lowrank_sets *s)
{
    if (!s)
        return;
    free(s->indptr);
    free(s->index);
    memset(s, 0, sizeof *s);
}

static int sets_append(lf_lowrank_sets *s, const uint32_t *ids, uint32_t n, lf_err *err)
{
    if (s->n_tokens + 1 >= s->tokens_cap) {
        uint32_t cap = s->tokens_cap ? 2 * s->tokens_cap : 256;
        uint64_t *p = realloc(s->indptr, ((size_t)cap + 1) * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "low-rank: out of memory");
        if (!s->tokens_cap)
            p[0] = 0;
        s->indptr = p;
        s->tokens_cap = cap;
    }
    if (s->nnz + n > s->cap) {
        uint64_t cap = s->cap ? s->cap : 4096;
        while (cap < s->nnz + n)
            cap *= 2;
        uint32_t *p = realloc(s->index, cap * sizeof *p);
        if (!p)
            return lf_fail(err, LF_ENOMEM, "low-rank: out of memory");
        s->index = p;
        s->cap = cap;
    }
    memcpy(s->index + s->nnz, ids, (size_t)n * sizeof *ids);
    s->nnz += n;
    s->indptr[++s->n_tokens] = s->nnz;
    return LF_OK;
}

typedef struct {
    float mag;
    uint32_t id;
} ranked;

static int by_mag_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->mag != y->mag)
        return x->mag > y->mag ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

int lf_lowrank_eval(const lf_lowrank *p, const lf_trace *t, uint32_t layer, const float *x,
                    uint32_t tok0, uint32_t tok1, const lf_lowrank_select *sel,
                    lf_lowrank_stats *st, lf_lowrank_sets *out, lf_err *err)
{
    uint32_t H = p->hidden;
    float *score = malloc(H * sizeof *score);
    uint32_t *ids = malloc(H * sizeof *ids);
    ranked *rk = malloc(H * sizeof *rk);
    int rc = (score && ids && rk) ? LF_OK : lf_fail(err, LF_ENOMEM, "low-rank: out of memory");
    for (uint32_t tok = tok0; tok < tok1 && !rc; tok++) {
        uint32_t n_true;
        const uint32_t *truth = lf_trace_ids(t, layer, tok, &n_true);
        lf_lowrank_score(p, x + (size_t)(tok - tok0) * p->dim, score);
        uint32_t n;
        if (sel->by_count) {
            for (uint32_t i = 0; i < H; i++)
                rk[i] = (ranked){fabsf(score[i]), i};
            qsort(rk, H, sizeof *rk, by_mag_desc);
            n = n_true;
            for (uint32_t i = 0; i < n; i++)
                ids[i] = rk[i].id;
            qsort(ids, n, sizeof *ids, by_id);
        } else {
            n = lf_llama_select(score, H, sel->threshold * sel->scale, sel->relative, ids, NULL);
        }
        uint64_t tp = 0; /* both sorted: merge */
        for (uint32_t a = 0, b = 0; a < n && b < n_true;) {
            if (ids[a] == truth[b]) {
                tp++;
                a++;
                b++;
            } else if (ids[a] < truth[b]) {
                a++;
            } else {
                b++;
            }
        }
        st->tokens++;
        st->n_true += n_true;
        st->n_pred += n;
        st->tp += tp;
        if (out)
            rc = sets_append(out, ids, n, err);
    }
    free(score);
    free(ids);
    free(rk);
    return rc;
}
