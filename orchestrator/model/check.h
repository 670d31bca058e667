/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check.h - the invariants between the store and libvirt. See check.c. */
#pragma once

#include <stddef.h>

#include "desk.h"
#include "parent.h"
#include "session.h"

/* A domain as libvirt shows it, for the check. */
struct check_domain {
    const char *name;
    bool active;
};

struct check_input {
    struct desk *const *desks;          /* every desktop row */
    size_t n_desks;
    struct session *const *sessions;    /* the active sessions */
    size_t n_sessions;
    const struct check_domain *domains; /* this instance's domains (name prefix) */
    size_t n_domains;
    char *const *volumes;               /* this instance's volumes (name prefix) */
    size_t n_volumes;
    char *const *busy;                  /* desktops an action holds now: skipped */
    size_t n_busy;
    struct parent *const *parents;      /* every parent row (instant clones) */
    size_t n_parents;
};

/* Pure: the broken invariants, one whole sentence each (a new strv, empty
 * when all hold). Does not log. */
char **check_consistency(const struct check_input *in);
