/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hosts.h - the daemon's hosts: one libvirt connection each, what each
 * shows (connection, versions, memory, CPUs, domain type). See hosts.c. */
#pragma once

#include <stdint.h>

#include "conf.h"
#include "host.h"
#include "hv.h"
#include "store.h"

struct hosts;

enum host_conn {
    HOST_CONN_CONNECTING, /* never connected yet (or its domain type being probed) */
    HOST_CONN_UP,
    HOST_CONN_DOWN,       /* the connection was lost or cannot be made */
    _HOST_CONN_MAX,
    _HOST_CONN_INVALID = -EINVAL,
};

const char *host_conn_to_string(enum host_conn c);

/* What the daemon sees of one host, copied out (host_view_done()). */
struct host_view {
    char *name;
    char *uri;                /* the real one (the local host: deskpoold's `uri`) */
    enum host_conn conn;
    int64_t since;            /* unix seconds the connection state began */
    char *last_error;         /* the last connection or probe failure; NULL: none */
    char *virt_type;          /* the domain type desktops get there; NULL: not known */
    bool local_qemu;          /* instant clones can run there */
    struct hv_node_info node; /* as last read while up */
    unsigned reconnects;
    struct hv_watch_stats watch; /* how its domains were observed (hv-watch.c) */
};
void host_view_done(struct host_view *v);
void host_view_list_free(struct host_view *v, size_t n);

/* LOCAL is the daemon's connection to its `uri` (hosts takes a
 * reference); the reconciler reconnects it. Other hosts get a thread
 * each that connects, sets up the storage pool, probes the domain type
 * (remembered in S per URI) and reconnects. WAKE(USERDATA) is called on
 * every change of a host's state and every libvirt event (may be NULL). */
int hosts_new(const struct conf *c, struct store *s, struct hv *local, struct hosts **ret);
void hosts_set_wake(struct hosts *hs, void (*wake)(void *userdata), void *userdata);
/* Makes the connections follow ROWS (the store's hosts): a thread for each
 * new host, none for a removed one. The local host is always there. */
void hosts_sync(struct hosts *hs, struct host *const *rows, size_t n);
/* A reference to host NAME's connection (hv_unref() it), NULL when the
 * host is unknown or was never connected. It may be down. */
struct hv *hosts_get_hv(struct hosts *hs, const char *name);
/* 0 and a copy of what is seen of NAME, -ENOENT for an unknown host. */
int hosts_get_view(struct hosts *hs, const char *name, struct host_view *ret);
/* Every host, by name. */
struct host_view *hosts_list(struct hosts *hs, size_t *ret_n);
/* The hosts an acquire avoids, as comma-separated names: *RET_DOWN those
 * whose connection is not up (never), *RET_DRAINING those being drained
 * (only when no other host has a desktop); from memory, no store read.
 * Returns how many hosts are up. */
unsigned hosts_avoid(struct hosts *hs, char **ret_down, char **ret_draining);
/* True when at least one host's connection is up. */
bool hosts_any_up(struct hosts *hs);
/* The local host's domain type (the daemon's probe), and its connection
 * state as the reconciler last saw it (ERR: why not, NULL when up). */
void hosts_set_local_virt_type(struct hosts *hs, const char *virt_type);
void hosts_set_local_state(struct hosts *hs, bool up, const char *err);
/* Stops every thread, closes the connections. */
struct hosts *hosts_free(struct hosts *hs);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct hosts *, hosts_free);
