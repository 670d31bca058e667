/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placement.h - which host a new desktop goes to. See placement.c. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

enum placement_policy {
    PLACEMENT_SPREAD,   /* the host with the most memory left: load evenly */
    PLACEMENT_PACK,     /* the fullest host that still fits: fill hosts one by one */
    _PLACEMENT_POLICY_MAX,
    _PLACEMENT_POLICY_INVALID = -EINVAL,
};

const char *placement_policy_to_string(enum placement_policy p);
enum placement_policy placement_policy_from_string(const char *s);

/* What stops one more desktop from going to a host. */
enum placement_limit {
    PLACEMENT_LIMIT_NONE,         /* it fits */
    PLACEMENT_LIMIT_MEMORY,       /* memory less its reserve is committed */
    PLACEMENT_LIMIT_MAX_DESKTOPS, /* the host's max_desktops */
    PLACEMENT_LIMIT_CPU,          /* vCPUs per core would pass the overcommit ratio */
    PLACEMENT_LIMIT_DRAINING,     /* the operator drains it */
    PLACEMENT_LIMIT_UNREACHABLE,  /* not connected, or not answering */
    PLACEMENT_LIMIT_LABELS,       /* it lacks a label the pool requires */
    PLACEMENT_LIMIT_DRIVER,       /* instant clones need the local QEMU driver */
    _PLACEMENT_LIMIT_MAX,
    _PLACEMENT_LIMIT_INVALID = -EINVAL,
};

const char *placement_limit_to_string(enum placement_limit l);

/* One host as placement sees it (the reconciler fills it in). */
struct placement_host {
    const char *name;
    bool reachable;           /* its connection is up and it was listed this pass */
    bool draining;
    bool local_qemu;          /* can take instant clones */
    char *const *labels;      /* NULL-terminated "k=v", may be NULL */
    uint64_t memory;          /* the memory its desktops may commit, bytes: physical
                               * times the overcommit ratio (0: unknown, not counted) */
    uint64_t reserve;         /* bytes kept free for the host itself */
    uint64_t committed;       /* bytes its desktops take (their footprints) */
    unsigned desktops;        /* desktops placed on it */
    unsigned max_desktops;    /* 0: no limit */
    unsigned cpus;            /* its logical CPUs */
    unsigned vcpus;           /* vCPUs of its desktops */
    uint64_t footprint;       /* what one desktop of the request takes here, measured
                               * (0: the request's footprint) */
};

/* What one new desktop needs. */
struct placement_request {
    enum placement_policy policy;
    char *const *labels;      /* every one required, may be NULL */
    uint64_t footprint;       /* bytes it takes on a host (0: not counted) */
    unsigned vcpus;
    double cpu_ratio;         /* most vCPUs per logical CPU (0: no limit) */
    bool needs_local_qemu;    /* instant clones */
};

/* How many more desktops like R fit on H (UINT_MAX: no limit applies), and
 * in *RET_LIMIT (may be NULL) what stops the one after them. Pure. */
unsigned placement_room(const struct placement_host *h, const struct placement_request *r,
                        enum placement_limit *ret_limit);

/* Places COUNT desktops like R on HOSTS as placement_choose() does and
 * counts them against the hosts chosen (HOSTS is changed; RET may be
 * NULL). Returns how many were placed. Pure. */
size_t placement_apply(struct placement_host *hosts, size_t n_hosts,
                       const struct placement_request *r, size_t count, size_t *ret);

/* Chooses a host for each of COUNT new desktops, in turn, each choice
 * counted against the host for the next one (HOSTS is not changed):
 * RET[i] is the index in HOSTS of desktop i's host. Ties go to the host
 * with fewer desktops, then to the first in HOSTS. Returns how many were
 * placed: fewer than COUNT when no host has room for the rest. Pure. */
size_t placement_choose(const struct placement_host *hosts, size_t n_hosts,
                        const struct placement_request *r, size_t count, size_t *ret);
