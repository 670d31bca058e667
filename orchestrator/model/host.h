/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* host.h - a hypervisor host, as the store keeps it. See host.c.
 *
 * A host is one libvirt URI. The "local" host is the daemon's own `uri`
 * (deskpoold --uri): it always exists, so a deskpool with no hosts added
 * runs as it always did. Operators add more with `deskpoolctl host add`.
 */
#pragma once

#include <stdint.h>

#include "macro.h"

#define HOST_LOCAL "local"

/* What the operator decided (stored); what the connection shows is the
 * daemon's (hosts.c). */
enum host_admin {
    HOST_ADMIN_ACTIVE,    /* takes new desktops */
    HOST_ADMIN_DRAINING,  /* takes none; its idle desktops move elsewhere */
    _HOST_ADMIN_MAX,
    _HOST_ADMIN_INVALID = -EINVAL,
};

struct host {
    char *name;
    char *uri;
    enum host_admin admin;
    unsigned max_desktops;    /* 0: no limit */
    uint64_t reserve_memory;  /* bytes kept free for the host itself */
    char **labels;            /* NULL-terminated "key=value", sorted */
    char *storage_dir;        /* its overlay directory; NULL: the daemon's storage_dir */
    char *console_address;    /* the address its desktops' consoles listen on, which
                               * clients (the gateway) connect to; NULL: the local host's
                               * console_listen, another host's name in its URI */
    unsigned drain_warn;      /* draining: seconds in-use desktops get before a forced
                               * logoff (0: they stay until their users log off) */
    int64_t drain_since;      /* unix seconds the drain began (0: not draining) */
    int64_t created_at;
};

struct host *host_free(struct host *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct host *, host_free);
void host_list_free(struct host **hosts, size_t n);

const char *host_admin_to_string(enum host_admin a);
enum host_admin host_admin_from_string(const char *s);

/* Parses "k=v,k2=v2" (may be empty) into a sorted NULL-terminated list
 * with no duplicate key. Keys and values: [A-Za-z0-9_.-], 1-63 chars.
 * -EINVAL with a sentence. */
int host_labels_parse(const char *text, char ***ret, char **reterr_msg);
/* "k=v,k2=v2" (a new string, "" for none). */
char *host_labels_format(char *const *labels);
/* True when every label of REQUIRED is in HAVE (both NULL-terminated;
 * NULL = none). */
bool host_labels_match(char *const *have, char *const *required);

/* Checks a host name (the rules of desktop names) and a URI (a libvirt
 * URI: "driver[+transport]://[user@][host][:port]/path[?query]", no
 * spaces). -EINVAL with a sentence. */
int host_validate(const char *name, const char *uri, char **reterr_msg);

/* The host part of a libvirt URI ("kvm2" of "qemu+ssh://root@kvm2:22/system"),
 * a new string; NULL when it has none (qemu:///system). */
char *host_uri_hostname(const char *uri);

/* "1024", "512M", "4G", "1T" (binary units; none = bytes) -> bytes. */
int host_parse_size(const char *text, uint64_t *ret);
