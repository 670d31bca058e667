/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-priv.h - what hv.c, hv-storage.c and hv-probe.c share. See hv.c.
 *
 * Not for other modules: they use hv.h and never see a libvirt type.
 */
#pragma once

#include <pthread.h>

#include <libvirt/libvirt.h>

#include "hv.h"

struct hv_event_ctx;

struct hv {
    unsigned n_ref;                 /* atomic */
    virConnectPtr conn;
    char *uri;
    pthread_mutex_t lock;           /* guards event_id and event_ctx */
    int event_id;                   /* -1: no callback registered */
    struct hv_event_ctx *event_ctx; /* owned by libvirt's free callback */
    int agent_id;                   /* -1: no agent lifecycle subscription */
    struct hv_agent_ctx *agent_ctx; /* owned by libvirt's free callback */
};

/* The libvirt destructors, wrapped once. */
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virDomainPtr, virDomainFree, hv_domain_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virStoragePoolPtr, virStoragePoolFree, hv_pool_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virStorageVolPtr, virStorageVolFree, hv_vol_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virDomainSnapshotPtr, virDomainSnapshotFree, hv_snapshot_freep)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virStreamPtr, virStreamFree, hv_stream_freep)

/* The negative errno for a libvirt error (the one table, in hv.c). */
int hv_errno_from_error(const virError *e);

/* Takes this thread's last libvirt error: returns its negative errno (-EIO
 * when there is none) and, when RETERR_MSG is not NULL, stores a copy of
 * its message there (replacing nothing if one is already set: the first
 * error is the interesting one). Resets the thread's error. */
int hv_last_error(char **reterr_msg);

/* Stores a new formatted message in *RETERR_MSG (if not NULL) and returns
 * ERR (a negative errno). */
int hv_fail(int err, char **reterr_msg, const char *fmt, ...) _printf_(3, 4);

/* True when S can go into XML text or a quoted attribute as is (none of
 * < > & ' "). deskpool names never need escaping; paths are checked. */
bool hv_xml_safe(const char *s);

/* Looks up domain NAME: 0, -ENOENT or another negative errno. */
int hv_domain_lookup(struct hv *h, const char *name, virDomainPtr *ret, char **reterr_msg);
