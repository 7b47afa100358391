/* The weights file's format: value generator, header bytes and checksum, opening with
 * every check (the writer is lf_weights_make.c). */
#include "lf_weights.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lf_half.h"
#include "lf_mix.h"
#include "lf_quant.h"
#include "lf_weights_impl.h"

/* ---------------------------------------------------------------- generator */

/* splitmix64 stream of one vector: a function of (seed, layer, unit, part) alone */
static uint64_t vec_state(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part)
{
    return lf_mix64(h->seed ^ lf_mix64(((uint64_t)layer << 40) ^ ((uint64_t)part << 32) ^ unit));
}

/* Uniform in [-a, a), a = sqrt(3/d_model): unit variance times 1/d_model, so a dot
 * product with a unit-RMS input has variance about 1. */
static void gen_values(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part,
                       float *out, uint64_t n)
{
    uint64_t s = vec_state(h, layer, unit, part);
    float scale = sqrtf(3.0f / (float)h->d_model) / 2147483648.0f;
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t z = lf_mix_next(&s);
        out[i] = (float)(int32_t)(uint32_t)(z >> 32) * scale;
        if (i + 1 < n)
            out[i + 1] = (float)(int32_t)(uint32_t)z * scale;
    }
}

uint64_t lf_weights_elems(const lf_weights_header *h)
{
    return (uint64_t)h->d_model * (h->kind == LF_UNITS_EXPERTS ? h->d_ff : 1);
}

uint64_t lf_weights_vector_bytes(const lf_model *m, lf_dtype dt)
{
    return lf_quant_bytes(dt, (uint64_t)m->d_model * (m->kind == LF_UNITS_EXPERTS ? m->d_ff : 1));
}

int lf_weights_layout(lf_layout *L, lf_layout_kind kind, const lf_model *m, lf_dtype dt,
                      uint32_t alignment, uint64_t data_offset, lf_err *err)
{
    if (lf_quant_grouped(dt) && m->kind != LF_UNITS_EXPERTS)
        return lf_fail(err, LF_EINVAL, "weights: dtype %s is for expert models (group-quantised "
                       "experts); %s is a dense-FFN model: use fp16 or fp32", lf_dtype_name(dt),
                       m->name);
    uint64_t vb = lf_weights_vector_bytes(m, dt);
    if (!vb || (lf_quant_grouped(dt) && (m->d_model % LF_QUANT_GROUP || m->d_ff % LF_QUANT_GROUP)))
        return lf_fail(err, LF_EINVAL, "weights: dtype %s quantises groups of %d weights along "
                       "each row, but %s has d_model %u and expert d_ff %u (both must be "
                       "multiples of %d): use fp16", lf_dtype_name(dt), LF_QUANT_GROUP, m->name,
                       m->d_model, m->d_ff, LF_QUANT_GROUP);
    if (!lf_quant_grouped(dt)) /* whole bytes per weight: the layout knows them */
        return lf_layout_init(L, kind, m, lf_dtype_bytes(dt), alignment, data_offset, err);
    return lf_layout_init_bytes(L, kind, m, vb, alignment, data_offset, err);
}

void lf_weights_values(const lf_weights_header *h, uint32_t layer, uint32_t unit, uint32_t part,
                       float *out)
{
    uint64_t n = lf_weights_elems(h);
    gen_values(h, layer, unit, part, out, n);
    if (h->dtype == LF_DTYPE_FP16) {
        for (uint64_t i = 0; i < n; i++)
            out[i] = lf_half_to_float(lf_float_to_half(out[i]));
    } else if (lf_quant_grouped(h->dtype)) {
        void *packed = malloc(lf_quant_bytes(h->dtype, n));
        if (packed) { /* else the unrounded values: the caller's check will say so */
            lf_quant_pack(h->dtype, out, n, packed);
            lf_quant_unpack(h->dtype, packed, n, out);
            free(packed);
        }
    }
}

void lf_weights_values_float(const lf_weights_header *h, uint32_t layer, uint32_t unit,
                             uint32_t part, float *out)
{
    gen_values(h, layer, unit, part, out, lf_weights_elems(h));
}

float lf_weights_bias(const lf_weights_header *h, uint32_t layer, uint32_t unit)
{
    uint64_t s = vec_state(h, layer, unit, 0xffffu);
    return (float)(int32_t)(uint32_t)(lf_mix_next(&s) >> 32) * (0.25f / 2147483648.0f);
}

/* Stores vector `part` of `unit` at dst in the file's dtype; tmp holds n floats. The values
 * are the seed's, or fn's (a real model's weights, lf_weights_make_from). */
void lf_weights_store_vector(const lf_weights_header *h, lf_weights_values_fn fn, void *ctx,
                             uint32_t layer, uint32_t unit, uint32_t part, unsigned char *dst,
                             float *tmp)
{
    uint64_t n = lf_weights_elems(h);
    if (fn)
        fn(ctx, layer, unit, part, tmp);
    else
        gen_values(h, layer, unit, part, tmp, n);
    lf_quant_pack(h->dtype, tmp, n, dst);
}

/* ---------------------------------------------------------------- header bytes */

typedef struct {
    unsigned char *b;
    size_t at;
} cursor;

static void put(cursor *c, const void *v, size_t n)
{
    memcpy(c->b + c->at, v, n);
    c->at += n;
}
static void put32(cursor *c, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(c, x, 4);
}
static void put64(cursor *c, uint64_t v)
{
    put32(c, (uint32_t)v);
    put32(c, (uint32_t)(v >> 32));
}
static void get(cursor *c, void *v, size_t n)
{
    memcpy(v, c->b + c->at, n);
    c->at += n;
}
static uint32_t get32(cursor *c)
{
    const unsigned char *x = c->b + c->at;
    c->at += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}
static uint64_t get64(cursor *c)
{
    uint64_t lo = get32(c);
    return lo | (uint64_t)get32(c) << 32;
}

/* Field order of the 512-byte header (all integers little-endian); bench/README.md. */
void lf_weights_encode(const lf_weights_header *h, unsigned char *b)
{
    memset(b, 0, LF_WEIGHTS_HEADER_BYTES);
    cursor c = {b, 0};
    char magic[16] = {0};
    memcpy(magic, LF_WEIGHTS_MAGIC, sizeof LF_WEIGHTS_MAGIC - 1);
    put(&c, magic, 16);
    put32(&c, h->version);
    put32(&c, LF_WEIGHTS_HEADER_BYTES);
    put(&c, h->model, 64);
    put32(&c, (uint32_t)h->kind);
    put32(&c, (uint32_t)h->act);
    put32(&c, h->n_layers);
    put32(&c, h->model_layers);
    put32(&c, h->d_model);
    put32(&c, h->d_ff);
    put32(&c, h->n_experts);
    put32(&c, h->top_k);
    put32(&c, h->units);
    put32(&c, h->vectors);
    put32(&c, (uint32_t)h->layout);
    put32(&c, (uint32_t)h->dtype);
    put32(&c, lf_dtype_bytes(h->dtype));
    put32(&c, h->alignment);
    put64(&c, h->vector_bytes);
    put64(&c, h->record_bytes);
    put64(&c, h->records_per_layer);
    put64(&c, h->layer_bytes);
    put64(&c, h->data_offset);
    put64(&c, h->file_bytes);
    put64(&c, h->friends_offset);
    put64(&c, h->seed);
    put(&c, h->created_by, 32);
    put32(&c, h->profile_tokens);
}

/* Returns 0, or the name of the first field that is out of its domain. */
static const char *decode(const unsigned char *b, lf_weights_header *h)
{
    memset(h, 0, sizeof *h);
    cursor c = {(unsigned char *)(uintptr_t)b, 16};
    h->version = get32(&c);
    uint32_t hb = get32(&c);
    get(&c, h->model, 64);
    h->model[63] = 0;
    uint32_t kind = get32(&c), act = get32(&c);
    h->n_layers = get32(&c);
    h->model_layers = get32(&c);
    h->d_model = get32(&c);
    h->d_ff = get32(&c);
    h->n_experts = get32(&c);
    h->top_k = get32(&c);
    h->units = get32(&c);
    h->vectors = get32(&c);
    uint32_t layout = get32(&c), dtype = get32(&c), dtype_bytes = get32(&c);
    h->alignment = get32(&c);
    h->vector_bytes = get64(&c);
    h->record_bytes = get64(&c);
    h->records_per_layer = get64(&c);
    h->layer_bytes = get64(&c);
    h->data_offset = get64(&c);
    h->file_bytes = get64(&c);
    h->friends_offset = get64(&c);
    h->seed = get64(&c);
    get(&c, h->created_by, 32);
    h->created_by[31] = 0;
    h->profile_tokens = get32(&c);
    if (hb != LF_WEIGHTS_HEADER_BYTES)
        return "header_bytes";
    if (kind > LF_UNITS_EXPERTS)
        return "unit kind";
    if (act > LF_ACT_SWIGLU)
        return "activation";
    if (layout > LF_LAYOUT_COACT)
        return "layout";
    if (dtype > LF_DTYPE_Q2 || dtype_bytes != lf_dtype_bytes((lf_dtype)dtype))
        return "dtype (the bit width: fp32, fp16, int8, q4 or q2)";
    h->kind = (lf_unit_kind)kind;
    h->act = (lf_activation)act;
    h->layout = (lf_layout_kind)layout;
    h->dtype = (lf_dtype)dtype;
    return NULL;
}

int lf_weights_sha256(const unsigned char *hdr, const void *friends, size_t friends_bytes,
                  unsigned char out[32], lf_err *err)
{
    unsigned char zeroed[LF_WEIGHTS_HEADER_BYTES];
    memcpy(zeroed, hdr, sizeof zeroed);
    memset(zeroed + LF_WEIGHTS_CHECKSUM_AT, 0, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, zeroed, sizeof zeroed) &&
             (!friends_bytes || EVP_DigestUpdate(ctx, friends, friends_bytes)) &&
             EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    return ok ? LF_OK : lf_fail(err, LF_EIO, "weights header: SHA-256 failed (libcrypto)");
}

uint64_t lf_weights_friends_bytes(const lf_weights_header *h)
{
    return h->layout == LF_LAYOUT_COACT ? (uint64_t)h->n_layers * h->units * sizeof(uint32_t) : 0;
}

/* The model shape a header describes (n_layers = the file's layers). */
void lf_weights_header_model(const lf_weights_header *h, lf_model *m)
{
    /* the head layout and vocabulary come from the shape of that name (when known and of
     * the same FFN shape); else one head of d_model, no vocabulary */
    if (lf_model_lookup(h->model, m, NULL) == LF_OK && m->d_model == h->d_model &&
        m->d_ff == h->d_ff && m->kind == h->kind) {
        m->n_layers = h->n_layers;
        return;
    }
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", h->model);
    m->kind = h->kind;
    m->act = h->act;
    m->n_layers = h->n_layers;
    m->d_model = h->d_model;
    m->d_ff = h->d_ff;
    m->n_experts = h->n_experts;
    m->top_k = h->top_k;
}

/* ---------------------------------------------------------------- reading */

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

#define CHECK_EQ(field, val)                                                                   \
    do {                                                                                       \
        if ((uint64_t)(field) != (uint64_t)(val))                                              \
            return lf_fail(err, LF_EFORMAT, "%s: header field %s is %" PRIu64 " but the layout " \
                           "of its shape gives %" PRIu64 "; the file was made by an "             \
                           "incompatible llmflash: remake it with `llmflash weights make`",      \
                           path, #field, (uint64_t)(field), (uint64_t)(val));                  \
    } while (0)

/* Everything after the checksum: the fields must agree with each other. */
static int check_fields(const char *path, const lf_weights_header *h, uint64_t size, lf_layout *L,
                        lf_err *err)
{
    uint32_t a = h->alignment;
    if (a == 0 || (a & (a - 1)) || h->data_offset % a || h->record_bytes % a)
        return lf_fail(err, LF_EFORMAT, "%s: wrong alignment: the header says records are "
                       "aligned to %u bytes but the data starts at %" PRIu64 " and records are "
                       "%" PRIu64 " bytes; remake the file with --alignment 4096", path, a,
                       h->data_offset, h->record_bytes);
    if (h->n_layers == 0 || h->n_layers > h->model_layers || h->d_model == 0 || h->units == 0)
        return lf_fail(err, LF_EFORMAT, "%s: header shape is impossible (%u of %u layers, d_model "
                       "%u, %u units)", path, h->n_layers, h->model_layers, h->d_model, h->units);
    /* before the layout allocates per unit: every unit of every layer takes d_model values
     * of at least 2 bytes, so a shape the file cannot hold is refused without allocating */
    if ((uint64_t)h->n_layers * h->units > size / 2 / h->d_model || h->top_k > h->units ||
        (h->kind == LF_UNITS_EXPERTS && h->n_experts == 0))
        return lf_fail(err, LF_EFORMAT, "%s: header shape (%u layers of %u units, d_model %u) "
                       "does not fit in the file's %" PRIu64 " bytes", path,
                       h->n_layers, h->units, h->d_model, size);
    lf_model m;
    lf_weights_header_model(h, &m);
    if (lf_model_units(&m) != h->units)
        return lf_fail(err, LF_EFORMAT, "%s: header says %u units per layer but d_ff %u / %u "
                       "experts", path, h->units, h->d_ff, h->n_experts);
    lf_err e2;
    if (lf_weights_layout(L, h->layout, &m, h->dtype, a,
                          LF_WEIGHTS_HEADER_BYTES + lf_weights_friends_bytes(h), &e2) != LF_OK)
        return lf_fail(err, LF_EFORMAT, "%s: the header's shape has no layout: %s", path, e2.msg);
    if (h->vector_bytes != L->vector_bytes)
        return lf_fail(err, LF_EFORMAT, "%s: wrong bit width: the header says dtype %s (%" PRIu64
                       " bytes per %u x %u vector) but its records hold %" PRIu64 " bytes per "
                       "vector; the file is damaged or was patched: remake it with `llmflash "
                       "weights make --dtype ...`", path, lf_dtype_name(h->dtype),
                       L->vector_bytes, h->kind == LF_UNITS_EXPERTS ? h->d_ff : 1, h->d_model,
                       h->vector_bytes);
    CHECK_EQ(h->vectors, L->vectors);
    CHECK_EQ(h->vector_bytes, L->vector_bytes);
    CHECK_EQ(h->record_bytes, L->record_bytes);
    CHECK_EQ(h->records_per_layer, L->records_per_layer);
    CHECK_EQ(h->layer_bytes, L->layer_bytes);
    CHECK_EQ(h->data_offset, L->data_offset);
    CHECK_EQ(h->file_bytes, L->data_offset + (uint64_t)h->n_layers * L->layer_bytes);
    return LF_OK;
}

static int open_checked(const char *path, int fd, lf_weights *w, lf_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot stat", path);
    if (!S_ISREG(st.st_mode))
        return lf_fail(err, LF_EINVAL, "%s: not a regular file (a pipe, character device or "
                       "folder): give a weights file", path);
    unsigned char hdr[LF_WEIGHTS_HEADER_BYTES];
    if ((uint64_t)st.st_size < sizeof hdr || read_at(fd, hdr, sizeof hdr, 0) != 0)
        return lf_fail(err, LF_EFORMAT, "%s: %lld bytes, too short to be an llmflash weights file "
                       "(truncated? remake it with `llmflash weights make`)", path,
                       (long long)st.st_size);
    if (memcmp(hdr, LF_WEIGHTS_MAGIC, sizeof LF_WEIGHTS_MAGIC) != 0)
        return lf_fail(err, LF_EFORMAT, "%s: not an llmflash weights file (no \"%s\" magic; an "
                       "interrupted `weights make` leaves its header empty)", path,
                       LF_WEIGHTS_MAGIC);
    lf_weights_header *h = &w->h;
    const char *bad = decode(hdr, h);
    if (h->version != LF_WEIGHTS_VERSION)
        return lf_fail(err, LF_EFORMAT, "%s: weights format version %u, this llmflash reads "
                       "version %d; remake the file", path, h->version, LF_WEIGHTS_VERSION);
    uint64_t fb = lf_weights_friends_bytes(h);
    if (bad || fb > (uint64_t)st.st_size || (fb && h->friends_offset != LF_WEIGHTS_HEADER_BYTES))
        return lf_fail(err, LF_EFORMAT, "%s: corrupt header (field %s out of range)", path,
                       bad ? bad : "friends_offset");
    uint32_t *friends = NULL;
    if (fb) {
        friends = malloc(fb);
        if (!friends)
            return lf_fail(err, LF_ENOMEM, "%s: cannot allocate the friend table", path);
        if (read_at(fd, friends, fb, h->friends_offset) != 0) {
            free(friends);
            return lf_fail(err, LF_EFORMAT, "%s: friend table cut short (truncated)", path);
        }
    }
    unsigned char sum[32];
    int rc = lf_weights_sha256(hdr, friends, fb, sum, err);
    if (!rc && memcmp(sum, hdr + LF_WEIGHTS_CHECKSUM_AT, 32) != 0)
        rc = lf_fail(err, LF_EFORMAT, "%s: header checksum mismatch: the header or friend table "
                     "was modified or damaged; remake the file", path);
    if (!rc)
        rc = check_fields(path, h, (uint64_t)st.st_size, &w->layout, err);
    if (rc) {
        free(friends);
        return rc;
    }
    lf_weights_header_model(h, &w->model);
    if (fb) {
        for (uint64_t i = 0; i < fb / 4; i++)
            if (friends[i] >= h->units) {
                uint32_t bad_id = friends[i];
                free(friends);
                return lf_fail(err, LF_EFORMAT, "%s: friend table entry %" PRIu64 " is %u, not a "
                               "unit id (< %u)", path, i, bad_id, h->units);
            }
        free(w->layout.friend_of);
        w->layout.friend_of = friends;
    }
    if ((uint64_t)st.st_size != h->file_bytes)
        return lf_fail(err, LF_EFORMAT, "%s: %s: the file has %lld bytes but its header says "
                       "%" PRIu64 "%s; remake it with `llmflash weights make`", path,
                       (uint64_t)st.st_size < h->file_bytes ? "truncated" : "too long",
                       (long long)st.st_size, h->file_bytes,
                       (uint64_t)st.st_size < h->file_bytes ? " (an interrupted copy?)" : "");
    return LF_OK;
}

int lf_weights_open(const char *path, lf_weights *w, lf_err *err)
{
    memset(w, 0, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open the weights file", path);
    int rc = open_checked(path, fd, w, err);
    close(fd);
    if (rc)
        lf_weights_close(w);
    /* every refusal of a damaged file ends with its fix, whichever check made it */
    if (rc == LF_EFORMAT && !strstr(err->msg, "remake"))
        lf_err_suffix(err, "the file is damaged or truncated: remake it with `llmflash weights "
                      "make`");
    return rc;
}

void lf_weights_close(lf_weights *w)
{
    lf_layout_free(&w->layout);
    memset(&w->layout, 0, sizeof w->layout);
}

int lf_weights_check_trace(const lf_weights *w, const lf_trace *t, lf_err *err)
{
    const lf_weights_header *h = &w->h;
    char diff[700] = "";
    size_t n = 0;
#define DIFF(...) n += (size_t)snprintf(diff + n, n < sizeof diff ? sizeof diff - n : 0, __VA_ARGS__)
    if ((uint32_t)t->kind != (uint32_t)h->kind)
        DIFF("; unit kind %s (file) vs %s (trace)", h->kind ? "experts" : "neurons",
             t->kind ? "experts" : "neurons");
    if (t->d_model != h->d_model)
        DIFF("; d_model %u (file) vs %u (trace)", h->d_model, t->d_model);
    if (t->units_per_layer != h->units)
        DIFF("; units per layer %u (file) vs %u (trace)", h->units, t->units_per_layer);
    if (t->n_layers > h->n_layers)
        DIFF("; layers %u (file) vs %u (trace): the file must hold every traced layer",
             h->n_layers, t->n_layers);
    if (h->kind == LF_UNITS_EXPERTS && t->top_k != h->top_k)
        DIFF("; top_k %u (file) vs %u (trace)", h->top_k, t->top_k);
    lf_model tm;
    lf_err e2;
    if (lf_model_lookup(t->model, &tm, &e2) == LF_OK && tm.act != h->act)
        DIFF("; activation %s (file) vs %s (trace's model %s)", h->act ? "swiglu" : "relu",
             tm.act ? "swiglu" : "relu", t->model);
#undef DIFF
    if (n == 0)
        return LF_OK;
    return lf_fail(err, LF_EINVAL, "weights %s (model %s) does not fit the trace (model %s)%s; make "
                   "the weights for the trace's model: llmflash weights make --model %s ...",
                   w->path, h->model, t->model, diff, t->model);
}

int lf_weights_check_alignment(const lf_weights *w, uint32_t need, lf_err *err)
{
    if (need && (w->h.alignment % need != 0))
        return lf_fail(err, LF_EINVAL, "%s: wrong alignment: records are aligned to %u bytes but "
                       "direct I/O needs multiples of %u; remake the file with --alignment %u "
                       "(or use --engine buffered)", w->path, w->h.alignment, need, need);
    return LF_OK;
}

void lf_weights_describe(const lf_weights *w, char *out, size_t cap)
{
    const lf_weights_header *h = &w->h;
    snprintf(out, cap,
             "file          %s\n"
             "format        %s version %u (%s)\n"
             "model         %s: %s, %s, %u of %u layers, d_model %u, %u units per layer\n"
             "layout        %s, dtype %s, alignment %u\n"
             "records       %" PRIu64 " per layer, %" PRIu64 " bytes each (vector %" PRIu64
             " bytes)\n"
             "data          from offset %" PRIu64 ", %" PRIu64 " bytes per layer\n"
             "size          %" PRIu64 " bytes (%.3f GB)\n"
             "seed          %" PRIu64 "\n",
             w->path, LF_WEIGHTS_MAGIC, h->version, h->created_by, h->model,
             h->kind ? "experts" : "neurons", h->act ? "swiglu" : "relu", h->n_layers,
             h->model_layers, h->d_model, h->units, lf_layout_kind_name(h->layout),
             lf_dtype_name(h->dtype), h->alignment, h->records_per_layer, h->record_bytes,
             h->vector_bytes, h->data_offset, h->layer_bytes, h->file_bytes, h->file_bytes / 1e9,
             h->seed);
    size_t n = strlen(out);
    if (h->layout == LF_LAYOUT_COACT && n < cap) {
        if (h->profile_tokens)
            snprintf(out + n, cap - n, "friends       from the profile's first %u tokens\n",
                     h->profile_tokens);
        else
            snprintf(out + n, cap - n, "friends       from the whole profile\n");
    }
}
