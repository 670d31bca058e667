/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* desk-state.c - the desktop state machine
 *
 * DESIGN
 *   provisioning -> booting -> ready -> assigned -> in_use -> releasing -> ready
 *   booting -> failed (quarantined), ready/assigned/in_use -> rebasing -> booting,
 *   any -> deleting -> (row removed).
 * This table is the only place that decides whether a desktop may move
 * from one state to another; the store refuses any UPDATE it does not allow
 * (store_desk_set_state() checks it inside the transaction).
 * Pure: no I/O, no logging.
 */
#include "config.h"

#include "desk-state.h"

static const char *const desk_state_names[_DESK_STATE_MAX] = {
    [DESK_STATE_PROVISIONING] = "provisioning",
    [DESK_STATE_BOOTING] = "booting",
    [DESK_STATE_READY] = "ready",
    [DESK_STATE_ASSIGNED] = "assigned",
    [DESK_STATE_IN_USE] = "in_use",
    [DESK_STATE_RELEASING] = "releasing",
    [DESK_STATE_REBASING] = "rebasing",
    [DESK_STATE_FAILED] = "failed",
    [DESK_STATE_DELETING] = "deleting",
};

#define T(s) (1u << DESK_STATE_##s)

/* allowed[from] is the set of states `from` may move to. */
static const unsigned desk_state_allowed[_DESK_STATE_MAX] = {
    /* a failed provisioning is retried from scratch (provisioning again)
     * by the planner, or quarantined */
    [DESK_STATE_PROVISIONING] = T(BOOTING) | T(FAILED) | T(DELETING),
    /* a boot that failed goes back to provisioning (rebuild) or failed */
    [DESK_STATE_BOOTING] = T(READY) | T(PROVISIONING) | T(FAILED) | T(DELETING),
    /* a ready desktop whose domain vanished or stopped is rebuilt */
    [DESK_STATE_READY] = T(ASSIGNED) | T(BOOTING) | T(PROVISIONING) | T(REBASING) |
                         T(DELETING),
    [DESK_STATE_ASSIGNED] = T(IN_USE) | T(RELEASING) | T(REBASING) | T(DELETING),
    [DESK_STATE_IN_USE] = T(RELEASING) | T(REBASING) | T(DELETING),
    /* a wipe that fails sends the desktop to be rebuilt, never to ready */
    [DESK_STATE_RELEASING] = T(READY) | T(PROVISIONING) | T(FAILED) | T(DELETING),
    [DESK_STATE_REBASING] = T(BOOTING) | T(PROVISIONING) | T(FAILED) | T(DELETING),
    /* an operator may retry a quarantined desktop or delete it */
    [DESK_STATE_FAILED] = T(PROVISIONING) | T(DELETING),
    [DESK_STATE_DELETING] = 0,
};

#undef T

const char *
desk_state_to_string(enum desk_state s)
{
    if (s < 0 || s >= _DESK_STATE_MAX)
        return NULL;
    return desk_state_names[s];
}

enum desk_state
desk_state_from_string(const char *s)
{
    if (!s)
        return _DESK_STATE_INVALID;
    for (int i = 0; i < _DESK_STATE_MAX; i++)
        if (streq(s, desk_state_names[i]))
            return (enum desk_state) i;
    return _DESK_STATE_INVALID;
}

bool
desk_state_can_transition(enum desk_state from, enum desk_state to)
{
    if (from < 0 || from >= _DESK_STATE_MAX || to < 0 || to >= _DESK_STATE_MAX)
        return false;
    return (desk_state_allowed[from] & (1u << to)) != 0;
}

bool
desk_state_is_idle(enum desk_state s)
{
    return s == DESK_STATE_READY;
}

bool
desk_state_is_in_use(enum desk_state s)
{
    return s == DESK_STATE_ASSIGNED || s == DESK_STATE_IN_USE || s == DESK_STATE_RELEASING;
}

bool
desk_state_is_pending(enum desk_state s)
{
    return s == DESK_STATE_PROVISIONING || s == DESK_STATE_BOOTING ||
           s == DESK_STATE_REBASING;
}
