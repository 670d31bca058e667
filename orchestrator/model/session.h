/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session.h - one user's use of one desktop, as the store keeps it. See session.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

enum session_state {
    SESSION_STATE_ACTIVE,
    SESSION_STATE_ENDED,
    _SESSION_STATE_MAX,
    _SESSION_STATE_INVALID = -EINVAL,
};

/* Why a session ended. */
enum session_end {
    SESSION_END_LOGOUT,         /* the broker released it */
    SESSION_END_FORCED,         /* an operator ended it */
    SESSION_END_IDLE_TIMEOUT,   /* no heartbeat for the pool's idle_timeout */
    SESSION_END_MAX_SESSION,    /* older than the pool's max_session */
    SESSION_END_GUEST_SHUTDOWN, /* the desktop stopped under the user */
    SESSION_END_POOL_DELETED,   /* the pool was deleted with force */
    SESSION_END_ERROR,          /* the console could not be set up */
    SESSION_END_REBASE,         /* forced off after a rebase's warning period */
    SESSION_END_DESKTOP_LOST,   /* the desktop died (its QEMU was killed, crashed) or went */
    SESSION_END_HOST_LOST,      /* its host was unreachable past host_lost_grace */
    SESSION_END_HOST_DRAINED,   /* its host is drained and the drain's warning ran out */
    _SESSION_END_MAX,
    _SESSION_END_INVALID = -EINVAL,
};

struct session {
    char *id;              /* UUID */
    char *pool;
    char *desktop;
    char *user;
    char *client;          /* where the user sits, as the broker says; may be NULL */
    enum session_state state;
    int64_t created_at;    /* unix seconds */
    int64_t last_heartbeat;
    int64_t ended_at;      /* 0 while active */
    enum session_end end_reason; /* valid when ended */
    int64_t password_expires; /* 0: no console password */
};

struct session *session_free(struct session *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct session *, session_free);
void session_list_free(struct session **list, size_t n);

const char *session_state_to_string(enum session_state s);
enum session_state session_state_from_string(const char *s);
const char *session_end_to_string(enum session_end e);
enum session_end session_end_from_string(const char *s);
