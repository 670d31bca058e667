/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.c - small helpers with no dependencies
 *
 * Parsing of untrusted numbers and names, clocks, file helpers. Nothing
 * here logs; every fallible function returns a negative errno.
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "array.h"
#include "util.h"

void *
xmalloc0(size_t n)
{
    void *p = calloc(1, n ? n : 1);

    if (!p)
        abort();
    return p;
}

char *
xstrdup(const char *s)
{
    char *p;

    if (!s)
        return NULL;
    p = strdup(s);
    if (!p)
        abort();
    return p;
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);

    if (!p)
        abort();
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        abort();
    return s;
}

int
safe_atou(const char *s, unsigned *ret)
{
    unsigned long v;
    char *end = NULL;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno == ERANGE || v > UINT_MAX)
        return -ERANGE;
    if (*end != '\0')
        return -EINVAL;
    *ret = (unsigned) v;
    return 0;
}

int
safe_atoi(const char *s, int *ret)
{
    long v;
    char *end = NULL;

    /* strtol() would skip leading white space: refuse it */
    if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno == ERANGE || v > INT_MAX || v < INT_MIN)
        return -ERANGE;
    if (*end != '\0')
        return -EINVAL;
    *ret = (int) v;
    return 0;
}

int
parse_duration(const char *s, unsigned *ret_sec)
{
    unsigned long v, mult = 1;
    char *end = NULL;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (streq(end, "") || streq(end, "s"))
        mult = 1;
    else if (streq(end, "m"))
        mult = 60;
    else if (streq(end, "h"))
        mult = 3600;
    else if (streq(end, "d"))
        mult = 86400;
    else
        return -EINVAL;
    if (v > UINT_MAX / mult)
        return -ERANGE;
    *ret_sec = (unsigned) (v * mult);
    return 0;
}

uint64_t
now_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

uint64_t
now_realtime_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

char *
format_timestamp(int64_t unix_sec)
{
    time_t t = (time_t) unix_sec;
    struct tm tm;

    gmtime_r(&t, &tm);
    return xasprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int
write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int) getpid());
    _cleanup_close_ int fd = -1;
    size_t done = 0;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    while (done < len) {
        ssize_t k = write(fd, data + done, len - done);

        if (k < 0) {
            int r = -errno;

            unlink(tmp);
            return r;
        }
        done += (size_t) k;
    }
    if (fsync(fd) < 0 || rename(tmp, path) < 0) {
        int r = -errno;

        unlink(tmp);
        return r;
    }
    return 0;
}

int
read_full_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, alloc = 0;
    char probe;
    ssize_t k;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ARRAY_GROW(buf, alloc, 1);
    while (len < max) {
        /* room for twice what we have (at most max) and the NUL */
        ARRAY_GROW(buf, alloc, MIN(MAX(len * 2, (size_t) 4096), max) + 1);
        k = read(fd, buf + len, MIN(alloc - 1, max) - len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            goto done;
        len += (size_t) k;
    }
    /* exactly max bytes read: one more byte tells "ends here" from "too big" */
    do
        k = read(fd, &probe, 1);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return -errno;
    if (k > 0)
        return -EFBIG;
done:
    buf[len] = '\0';
    *ret_data = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int
mkdir_p(const char *path, mode_t mode)
{
    size_t len = strlen(path);

    /* each parent, then PATH itself, on a copy cut at each '/' */
    for (size_t i = 1; i <= len; i++) {
        char *p;
        int r = 0;

        if (path[i] != '/' && path[i] != '\0')
            continue;
        p = strndup(path, i);
        if (!p)
            abort();
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            r = -errno;
        free(p);
        if (r < 0)
            return r;
    }
    return 0;
}

char *
random_hex(size_t nbytes)
{
    _cleanup_free_ unsigned char *raw = xmalloc0(nbytes);
    char *out = xmalloc0(nbytes * 2 + 1);
    static const char hex[] = "0123456789abcdef";

    if (getrandom(raw, nbytes, 0) != (ssize_t) nbytes)
        abort();
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    return out;
}
