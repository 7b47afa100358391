/* A bounded, checksum-verifying reader of the HDF5 subset lf_trace_write produces.
 * Format reference: the HDF5 File Format Specification, version 3 (superblock v2/v3,
 * version 2 object headers, link / attribute / dataspace / datatype / layout messages).
 * Nothing here trusts a length or an offset before comparing it with the file's size. */
#include "lf_h5lite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNDEF UINT64_MAX
#define MAX_CHUNKS 4096          /* object header chunks per object */
#define MAX_HEADER (64u << 20)   /* bytes of one object header, all chunks */
#define MSG_CONT 0x10

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static uint64_t leN(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#define ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

uint32_t lf_h5l_checksum(const void *data, size_t len)
{
    const uint8_t *k = data;
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    while (len > 12) {
        a += le32(k);
        b += le32(k + 4);
        c += le32(k + 8);
        a -= c; a ^= ROT(c, 4);  c += b;
        b -= a; b ^= ROT(a, 6);  a += c;
        c -= b; c ^= ROT(b, 8);  b += a;
        a -= c; a ^= ROT(c, 16); c += b;
        b -= a; b ^= ROT(a, 19); a += c;
        c -= b; c ^= ROT(b, 4);  b += a;
        len -= 12;
        k += 12;
    }
    if (len == 0)
        return c;
    uint8_t tail[12] = {0};
    memcpy(tail, k, len);
    a += le32(tail);
    b += le32(tail + 4);
    c += le32(tail + 8);
    c ^= b; c -= ROT(b, 14);
    a ^= c; a -= ROT(c, 11);
    b ^= a; b -= ROT(a, 25);
    c ^= b; c -= ROT(b, 16);
    a ^= c; a -= ROT(c, 4);
    b ^= a; b -= ROT(a, 14);
    c ^= b; c -= ROT(b, 24);
    return c;
}

static int corrupt(const lf_h5l_file *f, lf_err *err, const char *where, const char *what,
                   uint64_t at)
{
    char pos[40] = "";
    if (at)
        snprintf(pos, sizeof pos, " at byte %llu", (unsigned long long)at);
    return lf_fail(err, LF_EFORMAT,
                   "%s: %s: %s%s: the file is damaged or truncated; re-create it "
                   "(llmflash trace synth|record|import) or copy it again",
                   f->path, where, what, pos);
}

/* A feature outside the subset: an error saying which and how to re-write the file
 * (only superblocks v0/v1 are left to the caller). */
static int unsup(const lf_h5l_file *f, lf_err *err, const char *where, const char *what)
{
    return lf_fail(err, LF_EFORMAT,
                   "%s: %s uses %s, outside the HDF5 subset llmflash writes and reads itself; "
                   "write the file with llmflash (lf_trace_write), or with h5py's default "
                   "libver='earliest'",
                   f->path, where, what);
}

int lf_h5l_pread(const lf_h5l_file *f, uint64_t off, void *dst, size_t len, const char *where,
                 lf_err *err)
{
    if (off > f->size || len > f->size - off)
        return corrupt(f, err, where, "data lies past the end of the file", off);
    uint8_t *p = dst;
    while (len > 0) {
        ssize_t n = pread(f->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lf_fail_errno(err, LF_EIO, errno, "%s: cannot read %s", f->path, where);
        if (n == 0)
            return corrupt(f, err, where, "the file shrank while being read", off);
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return LF_OK;
}

void lf_h5l_close(lf_h5l_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

int lf_h5l_open(const char *path, lf_h5l_file *f, lf_err *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return lf_fail_errno(err, LF_EIO, errno, "%s: cannot open trace", path);
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lf_h5l_close(f);
        return lf_fail(err, LF_EIO, "%s: not a regular file", path);
    }
    f->size = (uint64_t)st.st_size;
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    uint8_t sb[48];
    if (f->size < sizeof sb || lf_h5l_pread(f, 0, sb, sizeof sb, "superblock", err) ||
        memcmp(sb, sig, 8) != 0) {
        lf_h5l_close(f);
        return lf_fail(err, LF_EFORMAT,
                       "%s: not an HDF5 file (truncated, or not a trace: make one with "
                       "'llmflash trace synth')",
                       path);
    }
    if (sb[8] < 2)
        return LF_H5L_UNSUP; /* v0/v1: no checksums; the caller decides */
    int rc = LF_OK;
    if (sb[8] > 3)
        rc = corrupt(f, err, "superblock", "unknown superblock version", 8);
    else if (lf_h5l_checksum(sb, 44) != le32(sb + 44))
        rc = corrupt(f, err, "superblock", "checksum mismatch", 44);
    else if (sb[9] != 8 || sb[10] != 8 || le64(sb + 12) != 0 || le64(sb + 20) != UNDEF)
        rc = unsup(f, err, "the superblock",
                   "other address sizes, a base address or a superblock extension");
    else if (le64(sb + 28) > f->size)
        rc = lf_fail(err, LF_EFORMAT,
                     "%s: truncated: the superblock says the file has %llu bytes, it has %llu; "
                     "copy it again or re-create it",
                     path, (unsigned long long)le64(sb + 28), (unsigned long long)f->size);
    f->root = le64(sb + 36);
    if (rc)
        lf_h5l_close(f);
    return rc;
}

void lf_h5l_obj_free(lf_h5l_obj *o)
{
    free(o->buf);
    free(o->msg);
    memset(o, 0, sizeof *o);
}

static int add_msg(lf_h5l_obj *o, uint8_t type, const uint8_t *p, uint32_t n)
{
    if (o->n_msg == o->cap_msg) {
        size_t cap = o->cap_msg ? 2 * o->cap_msg : 32;
        void *m = realloc(o->msg, cap * sizeof *o->msg);
        if (!m)
            return -1;
        o->msg = m;
        o->cap_msg = cap;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *b = realloc(o->buf, cap);
        if (!b)
            return -1;
        o->buf = b;
        o->cap = cap;
    }
    if (n) /* an empty message may come while buf is still NULL */
        memcpy(o->buf + o->len, p, n);
    o->msg[o->n_msg++] = (struct lf_h5l_msg){type, (uint32_t)o->len, n};
    o->len += n;
    return 0;
}

/* Message types a trace's objects may hold; anything else is outside the subset. */
static int known_type(uint8_t t)
{
    switch (t) {
    case 0x00: /* NIL */
    case 0x01: /* dataspace */
    case 0x02: /* link info */
    case 0x03: /* datatype */
    case 0x05: /* fill value */
    case 0x06: /* link */
    case 0x08: /* layout */
    case 0x0A: /* group info */
    case 0x0B: /* filter pipeline (refused by lf_h5l_dataset) */
    case 0x0C: /* attribute */
    case 0x10: /* continuation */
    case 0x12: /* modification time */
    case 0x15: /* attribute info */
    case 0x16: /* reference count */
        return 1;
    default:
        return 0;
    }
}

/* Dense (fractal heap) link or attribute storage: outside the subset. Message data p, n. */
static int dense_storage(uint8_t type, const uint8_t *p, uint32_t n)
{
    if (type != 0x02 && type != 0x15)
        return 0;
    if (n < 2)
        return -1;
    uint32_t off = 2 + ((p[1] & 1) ? (type == 0x02 ? 8 : 2) : 0);
    if (off + 8 > n)
        return -1;
    return le64(p + off) != UNDEF;
}

/* Walks the messages of one chunk's message area p[0..n). */
static int walk(const lf_h5l_file *f, lf_h5l_obj *o, const uint8_t *p, size_t n, int crt_order,
                uint64_t at, const char *where, uint64_t *cont, size_t *n_cont, lf_err *err)
{
    size_t mh = crt_order ? 6 : 4, pos = 0;
    while (n - pos >= mh) {
        uint8_t type = p[pos], flags = p[pos + 3];
        uint32_t size = le16(p + pos + 1);
        pos += mh;
        if (size > n - pos)
            return corrupt(f, err, where, "a header message overruns its chunk", at + pos);
        if ((flags & 0x02) || !known_type(type))
            return unsup(f, err, where, (flags & 0x02) ? "a shared header message"
                                                       : "a header message type traces do not use");
        const uint8_t *m = p + pos;
        int dense = dense_storage(type, m, size);
        if (dense < 0)
            return corrupt(f, err, where, "short link or attribute info message", at + pos);
        if (dense)
            return unsup(f, err, where, "dense (fractal heap) link or attribute storage");
        if (type == MSG_CONT) {
            if (size < 16)
                return corrupt(f, err, where, "short continuation message", at + pos);
            if (*n_cont >= MAX_CHUNKS)
                return corrupt(f, err, where, "too many header continuation chunks", at + pos);
            cont[2 * *n_cont] = le64(m);
            cont[2 * *n_cont + 1] = le64(m + 8);
            (*n_cont)++;
        } else if (type != 0 && add_msg(o, type, m, size)) {
            return lf_fail(err, LF_ENOMEM, "%s: out of memory reading %s", f->path, where);
        }
        pos += size;
    }
    return LF_OK;
}

/* Reads the checksummed block [addr, addr+len) into a fresh buffer. */
static int read_block(const lf_h5l_file *f, uint64_t addr, uint64_t len, const char *where,
                      uint8_t **out, lf_err *err)
{
    *out = NULL;
    if (len < 8 || len > MAX_HEADER || addr > f->size || len > f->size - addr)
        return corrupt(f, err, where, "object header chunk out of the file's bounds", addr);
    uint8_t *b = malloc(len);
    if (!b)
        return lf_fail(err, LF_ENOMEM, "%s: out of memory reading %s", f->path, where);
    int rc = lf_h5l_pread(f, addr, b, len, where, err);
    if (!rc && lf_h5l_checksum(b, len - 4) != le32(b + len - 4))
        rc = corrupt(f, err, where, "object header checksum mismatch", addr);
    if (rc)
        free(b);
    else
        *out = b;
    return rc;
}

int lf_h5l_obj_read(const lf_h5l_file *f, uint64_t addr, const char *where, lf_h5l_obj *o,
                    lf_err *err)
{
    memset(o, 0, sizeof *o);
    uint8_t pre[40];
    if (addr == 0 || addr > f->size || f->size - addr < 12)
        return corrupt(f, err, where, "object header address out of the file", addr);
    size_t np = f->size - addr < sizeof pre ? (size_t)(f->size - addr) : sizeof pre;
    int rc = lf_h5l_pread(f, addr, pre, np, where, err);
    if (rc)
        return rc;
    if (memcmp(pre, "OHDR", 4) != 0)
        return pre[0] == 1 ? unsup(f, err, where, "a version 1 object header")
                           : corrupt(f, err, where, "no object header signature", addr);
    uint8_t flags = pre[5];
    if (pre[4] != 2 || (flags & 0xC0))
        return corrupt(f, err, where, "unknown object header version or flags", addr);
    size_t off = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    unsigned szlen = 1u << (flags & 3);
    if (off + szlen > np)
        return corrupt(f, err, where, "object header prefix past the end of the file", addr);
    uint64_t data = leN(pre + off, szlen);
    off += szlen;
    if (data > MAX_HEADER)
        return corrupt(f, err, where, "object header chunk too large", addr);
    uint64_t *cont = malloc(2 * MAX_CHUNKS * sizeof *cont);
    if (!cont)
        return lf_fail(err, LF_ENOMEM, "%s: out of memory reading %s", f->path, where);
    size_t n_cont = 0, done = 0;
    uint64_t total = off + data + 4;
    uint8_t *b = NULL;
    rc = read_block(f, addr, total, where, &b, err);
    if (!rc)
        rc = walk(f, o, b + off, (size_t)data, flags & 4, addr + off, where, cont, &n_cont, err);
    free(b);
    while (!rc && done < n_cont) {
        uint64_t ca = cont[2 * done], cl = cont[2 * done + 1];
        done++;
        total += cl;
        if (total > MAX_HEADER)
            rc = corrupt(f, err, where, "object header too large (continuation loop?)", ca);
        else if (!(rc = read_block(f, ca, cl, where, &b, err))) {
            if (memcmp(b, "OCHK", 4) != 0)
                rc = corrupt(f, err, where, "no continuation chunk signature", ca);
            else
                rc = walk(f, o, b + 4, (size_t)cl - 8, flags & 4, ca + 4, where, cont, &n_cont,
                          err);
            free(b);
        }
    }
    free(cont);
    if (rc)
        lf_h5l_obj_free(o);
    return rc;
}

int lf_h5l_link(const lf_h5l_file *f, const lf_h5l_obj *o, const char *where, const char *name,
                uint64_t *addr, lf_err *err)
{
    *addr = 0;
    size_t want = strlen(name);
    for (size_t i = 0; i < o->n_msg; i++) {
        if (o->msg[i].type != 0x06)
            continue;
        const uint8_t *p = o->buf + o->msg[i].off;
        uint32_t n = o->msg[i].n, off = 2;
        if (n < 3 || p[0] != 1)
            return corrupt(f, err, where, "bad link message", 0);
        uint8_t fl = p[1], ltype = 0;
        if (fl & 0x08)
            ltype = p[off++];
        off += (fl & 0x04) ? 8 : 0;
        off += (fl & 0x10) ? 1 : 0;
        unsigned ls = 1u << (fl & 3);
        if (off + ls > n)
            return corrupt(f, err, where, "bad link message", 0);
        uint64_t len = leN(p + off, ls);
        off += ls;
        if (len > n - off)
            return corrupt(f, err, where, "link name overruns its message", 0);
        if (len != want || memcmp(p + off, name, want) != 0)
            continue;
        off += (uint32_t)len;
        if (ltype != 0)
            return unsup(f, err, where, "a soft or external link");
        if (off + 8 > n)
            return corrupt(f, err, where, "bad link message", 0);
        *addr = le64(p + off);
        if (*addr == 0)
            return corrupt(f, err, where, "link to address 0", 0);
        return LF_OK;
    }
    return LF_OK;
}

/* Parses a datatype message into v->cls / v->size. */
static void parse_type(const uint8_t *p, uint32_t n, lf_h5l_value *v)
{
    v->cls = LF_H5L_OTHER;
    if (n < 8)
        return;
    unsigned cls = p[0] & 0x0f, bits = p[1] | (unsigned)p[2] << 8;
    v->size = le32(p + 4);
    if (cls == 0 && n >= 12 && !(bits & 1) && le16(p + 8) == 0 && v->size >= 1 && v->size <= 8 &&
        le16(p + 10) == v->size * 8)
        v->cls = (bits & 8) ? LF_H5L_SINT : LF_H5L_UINT;
    else if (cls == 1 && n >= 20 && v->size == 4 && (bits & 0x41) == 0 &&
             ((bits >> 4) & 3) == 2 && ((bits >> 8) & 0xff) == 31 && le16(p + 8) == 0 &&
             le16(p + 10) == 32 && p[12] == 23 && p[13] == 8 && p[14] == 0 && p[15] == 23 &&
             le32(p + 16) == 127)
        v->cls = LF_H5L_F32;
    else if (cls == 3 && v->size > 0)
        v->cls = LF_H5L_STR;
}

/* Parses a dataspace message into v->rank / v->npoints; -1 when malformed. */
static int parse_space(const uint8_t *p, uint32_t n, lf_h5l_value *v)
{
    if (n < 4 || (p[0] != 1 && p[0] != 2))
        return -1;
    uint32_t off = p[0] == 1 ? 8 : 4;
    v->rank = p[1];
    if (v->rank > 32 || off + 8u * v->rank > n)
        return -1;
    v->npoints = (p[0] == 2 && p[3] == 2) ? 0 : 1;
    for (int d = 0; d < v->rank; d++) {
        uint64_t dim = le64(p + off + 8 * d);
        if (dim && v->npoints > UINT64_MAX / dim)
            return -1;
        v->npoints *= dim;
    }
    return 0;
}

int lf_h5l_attr(const lf_h5l_file *f, const lf_h5l_obj *o, const char *where, const char *name,
                lf_h5l_value *v, lf_err *err)
{
    memset(v, 0, sizeof *v);
    size_t want = strlen(name) + 1;
    for (size_t i = 0; i < o->n_msg; i++) {
        if (o->msg[i].type != 0x0C)
            continue;
        const uint8_t *p = o->buf + o->msg[i].off;
        uint32_t n = o->msg[i].n;
        if (n < 8 || p[0] < 1 || p[0] > 3)
            return corrupt(f, err, where, "bad attribute message", 0);
        if (p[0] >= 2 && (p[1] & 3))
            return unsup(f, err, where, "a shared datatype or dataspace");
        uint32_t ns = le16(p + 2), ts = le16(p + 4), ss = le16(p + 6);
        uint32_t off = p[0] == 3 ? 9 : 8;
#define PAD(x) (p[0] == 1 ? ((x) + 7u) & ~7u : (x))
        if ((uint64_t)off + PAD(ns) + PAD(ts) + PAD(ss) > n || ns == 0)
            return corrupt(f, err, where, "attribute message overruns itself", 0);
        if (ns != want || memcmp(p + off, name, want) != 0)
            continue;
        const uint8_t *tp = p + off + PAD(ns), *sp = tp + PAD(ts), *dp = sp + PAD(ss);
#undef PAD
        parse_type(tp, ts, v);
        if (parse_space(sp, ss, v))
            return corrupt(f, err, where, "bad attribute dataspace", 0);
        if (v->cls == LF_H5L_OTHER)
            return unsup(f, err, where, "an attribute type other than a fixed-length string, "
                                        "an integer or a float32");
        if (v->size && v->npoints > (uint64_t)(p + n - dp) / v->size)
            return corrupt(f, err, where, "attribute data overruns its message", 0);
        v->found = 1;
        v->data = dp;
        return LF_OK;
    }
    return LF_OK;
}

int lf_h5l_dataset(const lf_h5l_file *f, const lf_h5l_obj *o, const char *where,
                   lf_h5l_value *v, lf_err *err)
{
    memset(v, 0, sizeof *v);
    const struct lf_h5l_msg *sp = NULL, *tp = NULL, *lp = NULL;
    for (size_t i = 0; i < o->n_msg; i++) {
        uint8_t t = o->msg[i].type;
        if (t == 0x0B)
            return unsup(f, err, where, "a filter (compression)");
        if (t == 0x01)
            sp = &o->msg[i];
        else if (t == 0x03)
            tp = &o->msg[i];
        else if (t == 0x08)
            lp = &o->msg[i];
    }
    if (!sp || !tp || !lp)
        return corrupt(f, err, where, "not a dataset (no dataspace, datatype or layout)", 0);
    parse_type(o->buf + tp->off, tp->n, v);
    if (v->cls == LF_H5L_OTHER || v->cls == LF_H5L_STR)
        return unsup(f, err, where, "an element type other than an integer or float32");
    if (parse_space(o->buf + sp->off, sp->n, v))
        return corrupt(f, err, where, "bad dataspace message", 0);
    const uint8_t *p = o->buf + lp->off;
    if (lp->n < 2 || p[0] < 3 || p[0] > 4 || p[1] != 1)
        return unsup(f, err, where, "a chunked, compact or virtual layout");
    if (lp->n < 18)
        return corrupt(f, err, where, "short layout message", 0);
    v->addr = le64(p + 2);
    uint64_t size = le64(p + 10);
    if (v->npoints > f->size / v->size)
        return lf_fail(err, LF_EFORMAT,
                       "%s: %s claims %llu elements, more than the file's %llu bytes can hold "
                       "(damaged file; re-create it)",
                       f->path, where, (unsigned long long)v->npoints,
                       (unsigned long long)f->size);
    uint64_t need = v->npoints * v->size;
    if (need == 0)
        return LF_OK;
    if (size != need)
        return corrupt(f, err, where, "storage size does not match the dataspace", lp->off);
    if (v->addr == UNDEF || v->addr > f->size || need > f->size - v->addr)
        return corrupt(f, err, where, "dataset data lies past the end of the file", v->addr);
    return LF_OK;
}
