/* lf_h5lite: a bounded reader, without libhdf5, of the small HDF5 subset lf_trace_write
 * produces (superblock v2/v3, v2 object headers, compact links and attributes, contiguous
 * datasets, fixed-size types); every metadata block is checksummed (Jenkins lookup3, as
 * HDF5 does) and every offset checked against the file's size before it is used, so a
 * damaged file gives an error, never a crash or an allocation it cannot back.
 * The caller owns lf_h5l_file and lf_h5l_obj and releases them with _close / _obj_free;
 * attribute and dataset descriptions point into the lf_h5l_obj they came from. */
#ifndef LF_H5LITE_H
#define LF_H5LITE_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

/* Returned (positive, not an error) by lf_h5l_open for a file with superblock v0/v1
 * (no checksums), which this reader leaves to the caller. Other features outside the
 * subset (chunked or filtered data, dense storage, variable-length types, shared
 * messages ...) are LF_EFORMAT errors that say which. */
#define LF_H5L_UNSUP 1

typedef struct {
    int fd;
    uint64_t size; /* the file's real size; nothing is read past it */
    uint64_t root; /* address of the root group's object header */
    const char *path;
} lf_h5l_file;

/* One object header: its messages, copied out of every chunk after the checksums. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    struct lf_h5l_msg {
        uint8_t type;
        uint32_t off, n;
    } *msg;
    size_t n_msg, cap_msg;
} lf_h5l_obj;

typedef enum { LF_H5L_OTHER, LF_H5L_UINT, LF_H5L_SINT, LF_H5L_F32, LF_H5L_STR } lf_h5l_class;

typedef struct {
    int found;        /* attributes: 0 when the object has no attribute of that name */
    lf_h5l_class cls;
    uint32_t size;    /* bytes per element */
    int rank;         /* 0 for a scalar */
    uint64_t npoints; /* elements (1 for a scalar) */
    const uint8_t *data; /* attributes: npoints * size bytes inside the lf_h5l_obj */
    uint64_t addr;       /* datasets: file offset of the contiguous data (npoints * size bytes) */
} lf_h5l_value;

/* The CRC HDF5 puts on metadata (Bob Jenkins' lookup3 hashlittle, initval 0). */
uint32_t lf_h5l_checksum(const void *data, size_t len);

/* Opens path and checks its superblock. LF_OK: superblock v2/v3 with a valid checksum;
 * LF_H5L_UNSUP: an HDF5 file of another version (f is still open: close it); an error
 * for a missing, short, foreign or corrupt file (f closed). */
int lf_h5l_open(const char *path, lf_h5l_file *f, lf_err *err);
void lf_h5l_close(lf_h5l_file *f);

/* Reads and checks the object header at addr; `where` names it in messages. */
int lf_h5l_obj_read(const lf_h5l_file *f, uint64_t addr, const char *where, lf_h5l_obj *o,
                    lf_err *err);
void lf_h5l_obj_free(lf_h5l_obj *o);

/* The address the hard link `name` in group o points to, or 0 when o has no such link
 * (HDF5 never puts an object at address 0: the superblock is there). */
int lf_h5l_link(const lf_h5l_file *f, const lf_h5l_obj *o, const char *where, const char *name,
                uint64_t *addr, lf_err *err);
/* Attribute `name` of o into v (v->found = 0 when o has none); an error for a type
 * outside the subset. */
int lf_h5l_attr(const lf_h5l_file *f, const lf_h5l_obj *o, const char *where, const char *name,
                lf_h5l_value *v, lf_err *err);
/* The dataset o is (1-D or scalar, contiguous, no filters): type, elements, data address. */
int lf_h5l_dataset(const lf_h5l_file *f, const lf_h5l_obj *o, const char *where,
                   lf_h5l_value *v, lf_err *err);

/* Reads len bytes at off (checked against the file's size) into dst. */
int lf_h5l_pread(const lf_h5l_file *f, uint64_t off, void *dst, size_t len, const char *where,
                 lf_err *err);

#endif
