/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.h - pool specs and their size rules. See pool.c. */
#pragma once

#include <stdint.h>

#include "macro.h"
#include "name.h"
#include "placement.h"
#include "strv.h"

enum pool_mode {
    POOL_MODE_FLOATING,
    POOL_MODE_DEDICATED,
    _POOL_MODE_MAX,
    _POOL_MODE_INVALID = -EINVAL,
};

/* How a pool makes its desktops. */
enum pool_clone {
    POOL_CLONE_BOOT,     /* an overlay on the golden image, booted; a floating desktop
                          * keeps a memory snapshot to revert to at logout */
    POOL_CLONE_INSTANT,  /* an overlay on a parent's frozen disk and a restore of the
                          * parent's saved memory state: no boot, no per-desktop image */
    _POOL_CLONE_MAX,
    _POOL_CLONE_INVALID = -EINVAL,
};

/* A pool's desired state, as stored. */
struct pool {
    char *name;
    char *image;            /* image name */
    unsigned image_version; /* 0 = follow the latest version */
    unsigned current_version; /* the version its desktops run (rebases move it) */
    char *template;         /* template name (templates/NAME.xml) */
    enum pool_mode mode;
    unsigned min, spare, max;
    bool deleting;          /* delete requested: reconciler drains it */
    bool force_delete;      /* ... even desktops in use */
    unsigned next_seq;      /* next desktop number */
    int64_t created_at;
    /* sessions */
    char **groups;          /* NULL-terminated; entitled groups, empty = everyone */
    unsigned idle_timeout;  /* seconds without heartbeat before automatic logout */
    unsigned max_session;   /* seconds a session may last */
    bool allow_redirection; /* template may enable clipboard/file transfer/USB */
    /* cloning */
    enum pool_clone clone;  /* as the operator chose (or the default resolved) */
    char *clone_fallback;   /* why instant clones stopped (a parent failed): the pool
                             * boots its desktops until the operator sets clone again;
                             * NULL when it does not fall back */
    /* hosts */
    enum placement_policy placement; /* spread (default) or pack */
    char **host_labels;     /* NULL-terminated "k=v" every host of it must have */
};

#define POOL_DEFAULT_IDLE_TIMEOUT 900
#define POOL_DEFAULT_MAX_SESSION 43200

struct pool *pool_free(struct pool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pool *, pool_free);
void pool_list_free(struct pool **pools, size_t n);

const char *pool_mode_to_string(enum pool_mode m);
enum pool_mode pool_mode_from_string(const char *s);
const char *pool_clone_to_string(enum pool_clone c);
enum pool_clone pool_clone_from_string(const char *s);

/* The method P's new desktops get now: instant unless it fell back. */
enum pool_clone pool_clone_effective(const struct pool *p);

/* What instant clones need, checked where a pool asks for them:
 * a floating pool (a dedicated desktop keeps its user's disk, which a
 * restore would not match), a template without a data disk and with a
 * guest agent channel (readiness and identity go through the agent), and
 * a local QEMU driver (libvirtd reads the restore from a FIFO on this
 * host). Returns 0, or -EINVAL with a whole sentence. Pure. */
int pool_clone_check(enum pool_mode mode, bool data_disk, bool agent, bool local_qemu,
                     char **reterr_msg);

/* Checks min <= max, spare <= max, max <= POOL_MAX_DESKTOPS.
 * Returns 0, or -EINVAL with a whole sentence in *reterr_msg. */
int pool_validate_sizes(unsigned min, unsigned spare, unsigned max, char **reterr_msg);

/* The number of desktops the pool should have right now, given how many
 * are reserved (floating: in use; dedicated: owned by a user), how many
 * acquires are waiting for one, and how many are quarantined (failed
 * count against max). */
unsigned pool_target_size(const struct pool *p, unsigned reserved, unsigned waiting,
                          unsigned failed);

/* Whether a user in GROUPS (N of them) may use pool P: P lists no group,
 * or one of GROUPS is listed. Pure. */
bool pool_entitled(const struct pool *p, const char *const *groups, size_t n);

/* Groups as stored: "a,b,c" <-> NULL-terminated vector (names have no
 * commas). Both return new memory. */
char *pool_groups_join(char *const *groups);
char **pool_groups_split(const char *csv);
