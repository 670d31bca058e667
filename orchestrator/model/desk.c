/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* desk.c - the desktop record: allocation rules live in the store, states
 * in desk-state.c; this file only owns the record's memory. */
#include "config.h"

#include "desk.h"

char *
desk_domain_name(const char *instance, const char *desk_name)
{
    return xasprintf("%s.%s", instance, desk_name);
}

char *
desk_name_prefix(const char *instance)
{
    return xasprintf("%s.", instance);
}

char *
desk_volume_name(const char *domain)
{
    return xasprintf("%s.qcow2", domain);
}

char *
desk_data_volume_name(const char *domain)
{
    return xasprintf("%s.data.qcow2", domain);
}

struct desk *
desk_free(struct desk *d)
{
    if (!d)
        return NULL;
    free(d->name);
    free(d->pool);
    free(d->uuid);
    free(d->domain);
    free(d->volume);
    free(d->data_volume);
    free(d->image);
    free(d->owner);
    free(d->last_error);
    free(d);
    return NULL;
}

void
desk_list_free(struct desk **desks, size_t n)
{
    if (!desks)
        return;
    for (size_t i = 0; i < n; i++)
        desk_free(desks[i]);
    free(desks);
}
