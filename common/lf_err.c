#include "lf_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int lf_fail(lf_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int lf_fail_errno(lf_err *err, int code, int errnum, const char *fmt, ...)
{
#ifdef EDQUOT
    if (errnum == ENOSPC || errnum == EDQUOT)
#else
    if (errnum == ENOSPC)
#endif
        code = LF_ENOSPC;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
        err->code = code;
    }
    return code;
}

int lf_err_suffix(lf_err *err, const char *fmt, ...)
{
    if (!err)
        return LF_EINVAL;
    size_t n = strlen(err->msg);
    if (n + 2 < sizeof err->msg) {
        snprintf(err->msg + n, sizeof err->msg - n, "; ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg + n + 2, sizeof err->msg - n - 2, fmt, ap);
        va_end(ap);
    }
    return err->code;
}

int lf_err_prefix(lf_err *err, const char *fmt, ...)
{
    if (!err)
        return LF_EINVAL;
    char prefix[LF_ERR_MSG], old[LF_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

void lf_err_clear(lf_err *err)
{
    if (err) {
        err->code = LF_OK;
        err->msg[0] = '\0';
    }
}
