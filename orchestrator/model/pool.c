/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.c - pool specs and their size rules
 *
 * The size rules in one place: what sizes are valid, and how many
 * desktops a pool should have given its use. Pure: no I/O, no logging.
 */
#include "config.h"

#include "pool.h"
#include "util.h"

static const char *const pool_mode_names[_POOL_MODE_MAX] = {
    [POOL_MODE_FLOATING] = "floating",
    [POOL_MODE_DEDICATED] = "dedicated",
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
