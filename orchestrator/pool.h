/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.h - pool specs and their size rules. See pool.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

enum pool_mode {
    POOL_MODE_FLOATING,
    POOL_MODE_DEDICATED,
    _POOL_MODE_MAX,
    _POOL_MODE_INVALID = -EINVAL,
};

/* The hard cap on one pool's size: bounds every user-sized input. */
#define POOL_MAX_DESKTOPS 5000

/* A pool's desired state, as stored. */
struct pool {
    char *name;
    char *image;            /* image name */
    unsigned image_version; /* 0 = follow the latest version */
    char *template;         /* template name (templates/NAME.xml) */
    enum pool_mode mode;
    unsigned min, spare, max;
    bool deleting;          /* delete requested: reconciler drains it */
    bool force_delete;      /* ... even desktops in use */
    unsigned next_seq;      /* next desktop number */
    int64_t created_at;
};

struct pool *pool_free(struct pool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pool *, pool_free);
void pool_list_free(struct pool **pools, size_t n);

const char *pool_mode_to_string(enum pool_mode m);
enum pool_mode pool_mode_from_string(const char *s);

/* Checks min <= max, spare <= max, max <= POOL_MAX_DESKTOPS.
 * Returns 0, or -EINVAL with a whole sentence in *reterr_msg. */
int pool_validate_sizes(unsigned min, unsigned spare, unsigned max, char **reterr_msg);

/* The number of desktops the pool should have right now, given how many
 * are in use and how many are quarantined (failed count against max). */
unsigned pool_target_size(const struct pool *p, unsigned in_use, unsigned failed);
