/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* desk.c - the desktop record: allocation rules live in the store, states
 * in desk-state.c; this file only owns the record's memory. */
#include "config.h"

#include <stdio.h>

#include "desk.h"

char *
desk_domain_name(const char *instance, const char *desk_name)
{
    return xasprintf("%s.%s", instance, desk_name);
}

#define DESK_ALTERNATE_SUFFIX ".b"

char *
desk_domain_alternate(const char *domain)
{
    size_t n = strlen(domain), k = strlen(DESK_ALTERNATE_SUFFIX);

    if (n > k && streq(domain + n - k, DESK_ALTERNATE_SUFFIX))
        return xasprintf("%.*s", (int) (n - k), domain);
    return xasprintf("%s" DESK_ALTERNATE_SUFFIX, domain);
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

char *
desk_hostname(const char *name)
{
    char *h = xasprintf("%.63s", name);
    size_t n;

    for (char *p = h; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char) (*p - 'A' + 'a');
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '-';
    }
    n = strlen(h);
    while (n > 1 && h[n - 1] == '-')
        h[--n] = '\0';
    if (h[0] == '-')
        h[0] = 'd';
    return h;
}

char *
desk_mac_nth(const char *base, unsigned n)
{
    unsigned o[6];
    char tail;

    if (!base || n >= 8 ||
        sscanf(base, "%2x:%2x:%2x:%2x:%2x:%2x%c", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
               &tail) != 6 || strlen(base) != 17 || (o[5] & 7) != 0)
        return NULL;
    return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], o[3], o[4], o[5] + n);
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
    free(d->old_domain);
    free(d->host);
    free(d->parent);
    free(d->mac);
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
