/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* planner.h - decides what each pool needs next. See planner.c. */
#pragma once

#include <stddef.h>

#include "desk.h"
#include "op.h"
#include "parent.h"
#include "pool.h"
#include "session.h"

enum action_kind {
    ACTION_CREATE,      /* add COUNT new desktops to POOL */
    ACTION_BUILD,       /* take DESK from provisioning/booting to ready */
    ACTION_REPAIR,      /* DESK is ready in the store but its domain is not running */
    ACTION_QUARANTINE,  /* DESK failed too often: mark failed */
    ACTION_DELETE,      /* destroy DESK and its volume, remove its row */
    ACTION_REMOVE_POOL, /* POOL is being deleted and has no desktops left */
    ACTION_END_SESSION, /* end SESSION for REASON (automatic logout) */
    ACTION_WIPE,        /* DESK was released: floating -> revert to clean, dedicated -> lock */
    ACTION_REBASE,      /* DESK (dedicated, idle) gets a new system overlay on VERSION */
    ACTION_OP_START,    /* start a rebase of POOL to VERSION (it follows latest, or a new pin) */
    ACTION_OP_PROGRESS, /* record OP's progress (total/done/failed/step) */
    ACTION_OP_FINISH,   /* end OP: STATE, ERROR */
    ACTION_RETRY,       /* DESK was quarantined for the host's failure (no space): again */
    ACTION_PARENT_CREATE, /* a new parent of POOL's image VERSION and template (store only) */
    ACTION_PARENT_BUILD,  /* PARENT: boot it, run pre-freeze, save it */
    ACTION_PARENT_DELETE, /* PARENT: nothing uses or wants it: its files and row go */
    ACTION_RETIRE,        /* DESK: its previous incarnation goes (a wipe was interrupted) */
    ACTION_FORGET,        /* DESK is on a lost host: fence its domain there, drop its row
                           * (store only); the pool gets a new one elsewhere */
    _ACTION_KIND_MAX,
    _ACTION_KIND_INVALID = -EINVAL,
};

const char *action_kind_to_string(enum action_kind k);

/* An action points into the planner input; it is valid while that is. */
struct action {
    enum action_kind kind;
    const char *pool;
    const char *desktop; /* its name; NULL for CREATE and REMOVE_POOL */
    const char *host;    /* per-desktop actions: the desktop's host */
    unsigned count;     /* CREATE only */
    enum desk_state from;        /* per-desktop actions: the state it was planned from; the
                                  * action's first change is conditional on it */
    const char *session;         /* END_SESSION only */
    enum session_end reason;     /* END_SESSION; DELETE: why a session on it would end */
    int64_t heartbeat;           /* END_SESSION for idle_timeout: the last heartbeat seen;
                                  * a newer one cancels the logout */
    unsigned version;            /* CREATE (0: the pool's current), REBASE, OP_START,
                                  * PARENT_CREATE */
    const char *parent;          /* BUILD, WIPE: the ready parent to clone DESK from
                                  * (NULL: boot; a wipe reverts a booted desktop and
                                  * re-provisions a clone); PARENT_BUILD/DELETE: its name */
    const char *operation;       /* its id: OP_PROGRESS, OP_FINISH */
    unsigned total, done, failed;/* OP_PROGRESS */
    char step[96];               /* OP_PROGRESS */
    enum op_state op_state;      /* OP_FINISH */
    const char *error;           /* OP_FINISH: points into the input */
};

/* What the reconciler observed about one desktop. */
struct planner_desk {
    const struct desk *desk;
    bool busy;        /* a worker is acting on it right now */
    bool removing;    /* ... and that action deletes it (queued: its row still
                       * has the state it had) */
    bool dom_exists;  /* libvirt has its domain */
    bool dom_active;  /* ... and it is running */
    bool dom_guest_shutdown; /* ... it stopped because the guest powered off; else a
                              * stopped domain crashed or was killed */
    bool host_down;   /* its host is unreachable: the dom_* fields say nothing, and
                       * nothing can be done to it there */
    bool host_lost;   /* ... for longer than host_lost_grace */
    bool host_draining; /* its host is being drained */
    int64_t drain_deadline; /* draining with a warning: when its user is logged off
                             * (0: never) */
};

/* What the reconciler observed about one parent. */
struct planner_parent {
    const struct parent *parent;
    bool busy;        /* a worker is building or deleting it right now */
};

struct planner_input {
    struct pool *const *pools;
    size_t n_pools;
    const struct planner_desk *desks;
    size_t n_desks;
    struct session *const *sessions; /* the active ones */
    size_t n_sessions;
    const unsigned *waiting;  /* per pool (same order): acquires waiting, may be NULL */
    const unsigned *latest;   /* per pool: newest usable version of its image, may be NULL */
    struct op *const *ops; /* the running ones */
    size_t n_ops;
    const struct planner_parent *parents; /* oldest first */
    size_t n_parents;
    const char *const *digests; /* per pool: its template's digest (NULL: unreadable,
                                 * so no parent can be made for it); NULL while the
                                 * domain type is not known (no parent is wanted,
                                 * deleted, or cloned from) */
    int64_t now;              /* unix seconds, for session timeouts */
    unsigned max_boot_failures;
    unsigned host_failure_retry; /* seconds before a quarantine for the host's failure
                                  * is retried (0: never) */
};

/* Pure: no I/O, no clock, no logging. Same input, same output.
 * Returns 0 and a new array (free() it) of actions, possibly empty. */
int planner_plan(const struct planner_input *in, struct action **ret, size_t *ret_n);
