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
principal_name_is_valid(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    if (n == 0 || n > PRINCIPAL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '@' && c != '-')))
            return false;
    }
    return true;
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

void
strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

char *
pool_groups_join(char *const *groups)
{
    size_t len = 1;
    char *out, *o;

    for (size_t i = 0; groups && groups[i]; i++)
        len += strlen(groups[i]) + 1;
    out = o = xmalloc0(len);
    for (size_t i = 0; groups && groups[i]; i++) {
        if (i > 0)
            *o++ = ',';
        memcpy(o, groups[i], strlen(groups[i]));
        o += strlen(groups[i]);
    }
    *o = '\0';
    return out;
}

char **
pool_groups_split(const char *csv)
{
    size_t n = 1;
    char **v;
    const char *p;

    for (p = csv ? csv : ""; *p; p++)
        n += *p == ',';
    v = xmalloc0(sizeof(char *) * (n + 1));
    n = 0;
    for (p = csv ? csv : ""; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t) (e - p) : strlen(p);

        if (len > 0)
            v[n++] = strndup(p, len);
        if (n > 0 && !v[n - 1])
            abort();
        p += len + (e ? 1 : 0);
    }
    return v;
}
