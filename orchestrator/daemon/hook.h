/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hook.h - site scripts run on desktop events. See hook.c and docs/hooks.md. */
#pragma once

#include "macro.h"

enum hook_event {
    HOOK_PRE_PROVISION,
    HOOK_POST_PROVISION,
    HOOK_POST_ASSIGN,
    HOOK_POST_RELEASE,
    HOOK_PRE_REBASE,
    HOOK_POST_REBASE,
    HOOK_DESKTOP_FAILED,
    HOOK_PRE_FREEZE,     /* a parent of instant clones is about to be saved */
    HOOK_POST_CLONE,     /* an instant clone was made: site steps (AD join...) */
    _HOOK_EVENT_MAX,
    _HOOK_EVENT_INVALID = -EINVAL,
};

const char *hook_event_to_string(enum hook_event e);
bool hook_event_is_pre(enum hook_event e);

/* What a hook is told; any field may be NULL. */
struct hook_info {
    const char *pool;
    const char *desktop;
    const char *domain;
    const char *user;
    const char *session;
    const char *detail;   /* free text: image version, failure reason... */
};

#define HOOK_OUTPUT_MAX (16 * 1024)

/* Runs DIR/<event> if it exists and is executable, with the event as JSON
 * on stdin and DESKPOOL_EVENT, DESKPOOL_POOL, DESKPOOL_DESKTOP,
 * DESKPOOL_DOMAIN, DESKPOOL_USER, DESKPOOL_SESSION, DESKPOOL_DETAIL in its
 * environment (an empty one but for PATH; every value escaped with
 * text_escape()), in a session of its own with default signals and only
 * descriptors 0-2. Its exit decides; then, or after TIMEOUT_SEC, it and
 * everything it started (setsid() or not) are killed. See hook.c.
 * Returns 0 when there is no hook or it exited 0; -ECANCELED when it
 * exited non-zero or died of a signal (a pre-* hook's veto), -ETIMEDOUT
 * when it was killed at the timeout, another negative errno when it
 * could not run (fork, exec: -ENOENT for a missing interpreter...).
 * *ret_output (when not NULL, and the hook ran) gets the first
 * HOOK_OUTPUT_MAX bytes of its stdout and stderr, escaped with
 * text_escape() and then at most HOOK_OUTPUT_MAX bytes again; the
 * caller frees it. Does not log. */
int hook_run(const char *dir, enum hook_event e, const struct hook_info *info,
             unsigned timeout_sec, char **ret_output);

/* Runs the hook on a detached thread (post-* events that must not delay
 * an answer, such as post-assign) and logs its outcome. INFO's strings
 * are copied. Cannot fail; logs when the thread cannot start. */
void hook_run_detached(const char *dir, enum hook_event e, const struct hook_info *info,
                       unsigned timeout_sec);

/* Runs the hook and logs a failure, veto or timeout with the hook's output,
 * once. Returns what hook_run() returns. */
int hook_run_logged(const char *dir, enum hook_event e, const struct hook_info *info,
                    unsigned timeout_sec);
