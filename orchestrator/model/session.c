/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session.c - the session record: its memory and its names
 *
 * The rules (one active session per user and pool, one per desktop,
 * ending exactly once) live in the store's constraints and conditional
 * updates; when a session must end lives in the planner. Pure.
 */
#include "config.h"

#include "session.h"

static const char *const session_state_names[_SESSION_STATE_MAX] = {
    [SESSION_STATE_ACTIVE] = "active",
    [SESSION_STATE_ENDED] = "ended",
};

static const char *const session_end_names[_SESSION_END_MAX] = {
    [SESSION_END_LOGOUT] = "logout",
    [SESSION_END_FORCED] = "forced",
    [SESSION_END_IDLE_TIMEOUT] = "idle_timeout",
    [SESSION_END_MAX_SESSION] = "max_session",
    [SESSION_END_GUEST_SHUTDOWN] = "guest_shutdown",
    [SESSION_END_POOL_DELETED] = "pool_deleted",
    [SESSION_END_ERROR] = "error",
    [SESSION_END_REBASE] = "rebase",
    [SESSION_END_DESKTOP_LOST] = "desktop_lost",
    [SESSION_END_HOST_LOST] = "host_lost",
    [SESSION_END_HOST_DRAINED] = "host_drained",
};

struct session *
session_free(struct session *s)
{
    if (!s)
        return NULL;
    free(s->id);
    free(s->pool);
    free(s->desktop);
    free(s->user);
    free(s->client);
    free(s);
    return NULL;
}

void
session_list_free(struct session **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        session_free(list[i]);
    free(list);
}

const char *
session_state_to_string(enum session_state s)
{
    if (s < 0 || s >= _SESSION_STATE_MAX)
        return NULL;
    return session_state_names[s];
}

enum session_state
session_state_from_string(const char *s)
{
    for (int i = 0; s && i < _SESSION_STATE_MAX; i++)
        if (streq(s, session_state_names[i]))
            return (enum session_state) i;
    return _SESSION_STATE_INVALID;
}

const char *
session_end_to_string(enum session_end e)
{
    if (e < 0 || e >= _SESSION_END_MAX)
        return NULL;
    return session_end_names[e];
}

enum session_end
session_end_from_string(const char *s)
{
    for (int i = 0; s && i < _SESSION_END_MAX; i++)
        if (streq(s, session_end_names[i]))
            return (enum session_end) i;
    return _SESSION_END_INVALID;
}
