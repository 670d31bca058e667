/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* desk-state.h - desktop states and the one table of allowed transitions.
 * See desk-state.c. */
#pragma once

#include "macro.h"

enum desk_state {
    DESK_STATE_PROVISIONING, /* row exists; overlay/domain being created */
    DESK_STATE_BOOTING,      /* domain defined, starting, waiting for ready */
    DESK_STATE_READY,        /* booted, clean, unassigned (a spare) */
    DESK_STATE_ASSIGNED,     /* given to a user, console not yet used */
    DESK_STATE_IN_USE,       /* user connected */
    DESK_STATE_RELEASING,    /* user gone, being wiped or locked */
    DESK_STATE_REBASING,     /* moving onto another image version */
    DESK_STATE_FAILED,       /* quarantined: kept for inspection, not handed out */
    DESK_STATE_DELETING,     /* being destroyed; row goes when done */
    _DESK_STATE_MAX,
    _DESK_STATE_INVALID = -EINVAL,
};

const char *desk_state_to_string(enum desk_state s);
enum desk_state desk_state_from_string(const char *s);

/* True when the table allows from -> to. Staying in the same state is
 * not a transition and is refused. */
bool desk_state_can_transition(enum desk_state from, enum desk_state to);

/* Convenience predicates derived from the table's meaning. */
bool desk_state_is_idle(enum desk_state s);     /* nobody is using it */
bool desk_state_is_in_use(enum desk_state s);   /* assigned, in_use, releasing */
bool desk_state_is_pending(enum desk_state s);  /* provisioning, booting, rebasing */
