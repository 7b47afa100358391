/* lf_err: the one error type of llmflash.
 * Library functions return an lf_status (0 = ok, negative = error) and fill the
 * caller-owned lf_err with a message naming the file, the place and the fix;
 * only the CLI prints it and exits. */
#ifndef LF_ERR_H
#define LF_ERR_H

#include <stdarg.h>

typedef enum {
    LF_OK = 0,
    LF_EINVAL = -1,   /* bad argument or option value */
    LF_EFORMAT = -2,  /* a file's content is malformed */
    LF_EIO = -3,      /* the OS refused a read/write/open */
    LF_ENOMEM = -4,   /* allocation failed */
    LF_EUNSUP = -5,   /* the platform cannot do it (e.g. no O_DIRECT) */
    LF_ENOSPC = -6,   /* disk full */
    LF_ERANGE = -7    /* a value out of its range (id >= units, ...) */
} lf_status;

#define LF_ERR_MSG 1024

typedef struct {
    int code;              /* an lf_status */
    char msg[LF_ERR_MSG];  /* human-readable, no trailing newline */
} lf_err;

/* Fills err (if non-NULL) with code and a printf-style message; returns code. */
int lf_fail(lf_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like lf_fail but appends ": strerror(errnum)" and maps ENOSPC/EDQUOT to LF_ENOSPC. */
int lf_fail_errno(lf_err *err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "prefix: " to an existing message (to add context while unwinding). */
int lf_err_prefix(lf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "; suffix" to an existing message (the fix a caller knows and the check that
 * failed did not say). */
int lf_err_suffix(lf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void lf_err_clear(lf_err *err);

#endif
