/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* desk.h - the desktop record as the store keeps it. See desk.c. */
#pragma once

#include <stdint.h>

#include "desk-state.h"

struct desk {
    char *name;             /* "demo-7": pool name + sequence number */
    char *pool;
    unsigned seq;           /* its number in the pool: newer desktops have higher ones */
    enum desk_state state;
    char *uuid;             /* libvirt domain UUID, from libuuid */
    char *domain;           /* libvirt domain name: "INSTANCE.NAME" (desk_domain_name()),
                             * or its alternate "INSTANCE.NAME.b": an instant clone's wipe
                             * restores the next incarnation under the other name while the
                             * last one is destroyed */
    char *old_domain;       /* the previous incarnation while it is torn down, else NULL */
    char *parent;           /* instant clones: the parent its overlay is backed by; NULL
                             * for a booted desktop */
    char *mac;              /* instant clones: the MAC of its first NIC (the n-th NIC gets
                             * the n-th address after it), the same in every incarnation;
                             * unique in the store; NULL until its first clone */
    char *volume;           /* overlay volume path (NULL until created) */
    char *data_volume;      /* dedicated pools: the user's data disk path, kept across rebases */
    char *host;             /* the host it runs on (hosts table); desktops never move:
                             * a desktop for elsewhere is a new one */
    char *image;            /* image name the overlay is backed by */
    unsigned image_version;
    char *owner;            /* dedicated pools: the user it belongs to */
    unsigned boot_failures; /* consecutive failed boots */
    bool host_failure;      /* the last failure was the host's (no space), not the
                             * desktop's: quarantine is retried, not kept */
    char *last_error;       /* last failure, a whole sentence, may be NULL */
    int64_t created_at;     /* unix seconds */
    int64_t state_since;    /* unix seconds of the last state change */
};

/* Naming rules, in one place. A domain is "INSTANCE.DESKTOP" ("." cannot
 * appear in names, so the prefix "INSTANCE." is unambiguous between
 * instances sharing a libvirt host) or "INSTANCE.DESKTOP.b"; its overlay
 * volume "DOMAIN.qcow2". */
char *desk_domain_name(const char *instance, const char *desk_name);
/* The other of a desktop's two domain names: "I.N" <-> "I.N.b". */
char *desk_domain_alternate(const char *domain);
char *desk_name_prefix(const char *instance);
char *desk_volume_name(const char *domain);
char *desk_data_volume_name(const char *domain);
/* The host name an instant clone gets: NAME as one RFC 1123 label (lower
 * case, any other character '-', at most 63, no '-' at either end). */
char *desk_hostname(const char *name);
/* The N-th address of a desktop's block of 8 MACs from BASE ("52:54:00:
 * xx:xx:x0" or "...:x8", store_desk_ensure_mac()), N < 8. A new string;
 * NULL when BASE is not such an address. */
char *desk_mac_nth(const char *base, unsigned n);

struct desk *desk_free(struct desk *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct desk *, desk_free);
void desk_list_free(struct desk **desks, size_t n);
