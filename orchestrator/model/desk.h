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
    char *domain;           /* libvirt domain name: "INSTANCE.NAME" (desk_domain_name()) */
    char *volume;           /* overlay volume path (NULL until created) */
    char *data_volume;      /* dedicated pools: the user's data disk path, kept across rebases */
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
 * instances sharing a libvirt host); its overlay volume "DOMAIN.qcow2". */
char *desk_domain_name(const char *instance, const char *desk_name);
char *desk_name_prefix(const char *instance);
char *desk_volume_name(const char *domain);
char *desk_data_volume_name(const char *domain);

struct desk *desk_free(struct desk *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct desk *, desk_free);
void desk_list_free(struct desk **desks, size_t n);
