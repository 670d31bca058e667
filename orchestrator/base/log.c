/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c - leveled logging to stderr or a log file
 *
 * One line per message: "2026-11-27T21:30:00.123Z deskpoold[123]: <level> msg".
 * "%m" is not special here; pass an errno to the *_errno() variants and
 * it is appended as ": strerror". Thread-safe: each line is one write(2).
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level log_max_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;

static const char *const log_level_names[_LOG_LEVEL_MAX] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

void
log_set_level(enum log_level level)
{
    log_max_level = level;
}

enum log_level
log_get_level(void)
{
    return log_max_level;
}

int
log_level_from_string(const char *s)
{
    for (int i = 0; i < _LOG_LEVEL_MAX; i++)
        if (streq(s, log_level_names[i]))
            return i;
    return -EINVAL;
}

const char *
log_level_to_string(enum log_level level)
{
    if (level < 0 || level >= _LOG_LEVEL_MAX)
        return NULL;
    return log_level_names[level];
}

int
log_open_file(const char *path)
{
    int fd;

    if (!path) {
        if (log_fd != STDERR_FILENO)
            close(log_fd);
        log_fd = STDERR_FILENO;
        return 0;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    return 0;
}

int
log_internal(enum log_level level, int err, const char *func, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n;
    int saved_errno = errno;
    int r;

    if (err < 0)
        err = -err;
    if (level > log_max_level)
        goto out;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d]: %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000, program_invocation_short_name,
                 (int) getpid(), log_level_names[level]);
    n = r > 0 ? (size_t) r : 0;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (r > 0)
        n = MIN(n + (size_t) r, sizeof(line) - 1);
    if (err != 0 && n < sizeof(line) - 1) {
        r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err));
        if (r > 0)
            n = MIN(n + (size_t) r, sizeof(line) - 1);
    }
    if (level == LOG_LEVEL_DEBUG && func && n < sizeof(line) - 1) {
        r = snprintf(line + n, sizeof(line) - n, " (%s)", func);
        if (r > 0)
            n = MIN(n + (size_t) r, sizeof(line) - 1);
    }
    line[n++] = '\n';
    (void) !write(log_fd, line, n);
out:
    errno = saved_errno;
    return -err;
}
