/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.c - pool specs, their size rules and their clone method
 *
 * The size rules in one place: what sizes are valid, and how many
 * desktops a pool should have given its use; and what a pool needs for
 * instant clones. Pure: no I/O, no logging.
 */
#include "config.h"

#include "pool.h"
#include "util.h"

static const char *const pool_mode_names[_POOL_MODE_MAX] = {
    [POOL_MODE_FLOATING] = "floating",
    [POOL_MODE_DEDICATED] = "dedicated",
};

static const char *const pool_clone_names[_POOL_CLONE_MAX] = {
    [POOL_CLONE_BOOT] = "boot",
    [POOL_CLONE_INSTANT] = "instant",
};

struct pool *
pool_free(struct pool *p)
{
    if (!p)
        return NULL;
    free(p->name);
    free(p->image);
    free(p->template);
    strv_free(p->groups);
    free(p->clone_fallback);
    strv_free(p->host_labels);
    free(p);
    return NULL;
}

void
pool_list_free(struct pool **pools, size_t n)
{
    if (!pools)
        return;
    for (size_t i = 0; i < n; i++)
        pool_free(pools[i]);
    free(pools);
}

const char *
pool_mode_to_string(enum pool_mode m)
{
    if (m < 0 || m >= _POOL_MODE_MAX)
        return NULL;
    return pool_mode_names[m];
}

enum pool_mode
pool_mode_from_string(const char *s)
{
    if (!s)
        return _POOL_MODE_INVALID;
    for (int i = 0; i < _POOL_MODE_MAX; i++)
        if (streq(s, pool_mode_names[i]))
            return (enum pool_mode) i;
    return _POOL_MODE_INVALID;
}

const char *
pool_clone_to_string(enum pool_clone c)
{
    if (c < 0 || c >= _POOL_CLONE_MAX)
        return NULL;
    return pool_clone_names[c];
}

enum pool_clone
pool_clone_from_string(const char *s)
{
    if (!s)
        return _POOL_CLONE_INVALID;
    for (int i = 0; i < _POOL_CLONE_MAX; i++)
        if (streq(s, pool_clone_names[i]))
            return (enum pool_clone) i;
    return _POOL_CLONE_INVALID;
}

enum pool_clone
pool_clone_effective(const struct pool *p)
{
    return p->clone == POOL_CLONE_INSTANT && !p->clone_fallback ? POOL_CLONE_INSTANT
                                                                : POOL_CLONE_BOOT;
}

int
pool_clone_check(enum pool_mode mode, bool data_disk, bool agent, bool local_qemu,
                 char **reterr_msg)
{
    const char *why = NULL;

    if (mode != POOL_MODE_FLOATING)
        why = "Instant clones are for floating pools: a dedicated desktop keeps its user's "
              "disk, which no parent's memory state matches.";
    else if (data_disk)
        why = "Instant clones need a template without a data disk (alias ua-data).";
    else if (!agent)
        why = "Instant clones need a template with a guest agent channel "
              "(org.qemu.guest_agent.0): readiness, host name and clock go through it.";
    else if (!local_qemu)
        why = "Instant clones need the local QEMU driver (qemu:///system): libvirtd "
              "restores them from a FIFO on this host.";
    if (!why)
        return 0;
    if (reterr_msg)
        *reterr_msg = xstrdup(why);
    return -EINVAL;
}

int
pool_validate_sizes(unsigned min, unsigned spare, unsigned max, char **reterr_msg)
{
    if (max > POOL_MAX_DESKTOPS) {
        *reterr_msg = xasprintf("max (%u) is larger than the limit of %u desktops per pool.",
                                max, POOL_MAX_DESKTOPS);
        return -EINVAL;
    }
    if (min > max) {
        *reterr_msg = xasprintf("min (%u) is larger than max (%u).", min, max);
        return -EINVAL;
    }
    if (spare > max) {
        *reterr_msg = xasprintf("spare (%u) is larger than max (%u).", spare, max);
        return -EINVAL;
    }
    return 0;
}

unsigned
pool_target_size(const struct pool *p, unsigned reserved, unsigned waiting, unsigned failed)
{
    unsigned want, cap;

    if (p->deleting)
        return 0;
    /* Reserved desktops plus the spares plus one for each acquire that
     * waits, never below min... */
    want = MAX(p->min, reserved + p->spare + waiting);
    /* ...and never above max, where quarantined desktops take their room. */
    cap = p->max > failed ? p->max - failed : 0;
    return MIN(want, cap);
}

bool
pool_entitled(const struct pool *p, const char *const *groups, size_t n)
{
    if (!p->groups || !p->groups[0])
        return true;
    for (size_t i = 0; p->groups[i]; i++)
        for (size_t k = 0; k < n; k++)
            if (streq(p->groups[i], groups[k]))
                return true;
    return false;
}

char *
pool_groups_join(char *const *groups)
{
    return strv_join(groups, ',');
}

char **
pool_groups_split(const char *csv)
{
    return strv_split(csv, ',');
}
