/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.h - leveled logging. See log.c.
 *
 * Level policy (who may log what):
 *   error    something failed and an operator must act (a desktop failed,
 *            the store cannot be written, libvirt is gone);
 *   warning  something failed and deskpool recovered (a boot retried, an
 *            orphan removed, a reload key that needs a restart);
 *   notice   a state change an operator wants in the log by default
 *            (pool created, desktop ready, daemon started);
 *   info     routine progress (a reconcile pass that did work);
 *   debug    everything else.
 * Library-like modules (tmpl, store, hv, planner, util, image) never log
 * above debug: they return an error and the caller logs it once.
 */
#pragma once

#include <stdio.h>

#include "macro.h"

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_NOTICE,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    _LOG_LEVEL_MAX,
    _LOG_LEVEL_INVALID = -EINVAL,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_from_string(const char *s);
const char *log_level_to_string(enum log_level level);

/* Send log lines to FILE (NULL: stderr). The file is opened O_APPEND. */
int log_open_file(const char *path);

/* Log a line; returns -abs(err) so callers can `return log_..._errno(r, ...)`.
 * Control characters and invalid UTF-8 in the message are escaped (see log.c). */
int log_internal(enum log_level level, int err, const char *func, const char *fmt, ...)
    _printf_(4, 5);

#define log_full_errno(level, err, ...) log_internal((level), (err), __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_internal((level), 0, __func__, __VA_ARGS__)

#define log_debug(...) log_full(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_LEVEL_ERROR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_LEVEL_INFO, (e), __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_LEVEL_NOTICE, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_LEVEL_ERROR, (e), __VA_ARGS__)
