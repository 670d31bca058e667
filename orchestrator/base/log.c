/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c - leveled logging to stderr or a log file
 *
 * One line per message: "2026-11-27T21:30:00.123Z deskpoold[123]: <level> msg".
 * "%m" is not special here; pass an errno to the *_errno() variants and
 * it is appended as ": strerror". Thread-safe: each line is one write(2).
 *
 * DESIGN
 *   Messages quote untrusted text (a session's client from an old row, a
 *   hook's output, a libvirt error). The formatted message goes through
 *   text_escape_to() (name.c) before it is written, so every line is one
 *   line: a newline becomes "\n", ESC "\x1b", and likewise every C0
 *   control, DEL, C1 control and byte of invalid UTF-8. The format itself
 *   and the prefix stay as they are; text escaped before (a hook's output)
 *   is not escaped twice. A line is at most LOG_LINE_MAX bytes; a longer
 *   message is cut, never in the middle of an escape or a character.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "name.h"

#define LOG_LINE_MAX 2048

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
    char line[LOG_LINE_MAX], msg[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n, m;
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
    n = r > 0 ? MIN((size_t) r, sizeof(line) - 2) : 0;

    /* the message, the errno and the function, then escaped as one */
    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m = r > 0 ? MIN((size_t) r, sizeof(msg) - 1) : 0;
    if (err != 0 && m < sizeof(msg) - 1) {
        r = snprintf(msg + m, sizeof(msg) - m, ": %s", strerror(err));
        if (r > 0)
            m = MIN(m + (size_t) r, sizeof(msg) - 1);
    }
    if (level == LOG_LEVEL_DEBUG && func && m < sizeof(msg) - 1) {
        r = snprintf(msg + m, sizeof(msg) - m, " (%s)", func);
        if (r > 0)
            m = MIN(m + (size_t) r, sizeof(msg) - 1);
    }
    /* one byte is kept for the newline */
    n += text_escape_to(line + n, sizeof(line) - n - 1, msg, m);
    line[n++] = '\n';
    (void) !write(log_fd, line, n);
out:
    errno = saved_errno;
    return -err;
}
