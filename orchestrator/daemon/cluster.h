/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cluster.h - what one reconcile pass sees of every host: its listing,
 * whether it is up, lost or drained, its fences, and the inputs of
 * placement. See cluster.c. */
#pragma once

#include "hosts.h"
#include "placement.h"
#include "planner.h"
#include "store.h"

struct cluster_host {
    struct host *row;          /* the store's record (owned) */
    struct host_view view;     /* what the daemon sees of it */
    struct hv *hv;             /* a reference; NULL when not connected */
    bool observed;             /* listed this pass and its fences done: its domains
                                * are known and actions may run there */
    bool lost;                 /* unreachable for longer than host_lost_grace */
    struct hv_domain *doms;    /* this instance's domains there, sorted by name */
    size_t n_doms;
    char **vols;               /* this instance's volumes in its storage pool */
    size_t n_vols;
    char *console_address;     /* what its consoles listen on; NULL: console_listen */
};

struct cluster {
    struct cluster_host *h;    /* by name */
    size_t n;
    int64_t now;
};

/* Fills C from the store's hosts: the local host's listing (LOCAL_DOMS,
 * LOCAL_VOLS, taken over: C frees them) when LOCAL_OK, every other host's
 * listed here through HS (NULL: the local host only). Then carries out
 * the fences of every host that answers, before anything else happens
 * there: a host with a fence that failed is not observed this pass.
 * GRACE: seconds before an unreachable host counts as lost. Returns 0, or
 * a negative errno when the store cannot be read. */
int cluster_observe(struct cluster *c, struct hosts *hs, struct store *s, struct hv *local,
                    bool local_ok, struct hv_domain *local_doms, size_t n_local_doms,
                    char **local_vols, size_t n_local_vols, const char *prefix,
                    const char *storage_pool, unsigned grace);
void cluster_done(struct cluster *c);

/* Host NAME, NULL when the store has no such host. */
const struct cluster_host *cluster_find(const struct cluster *c, const char *name);

/* Fills PD's host_* and dom_* fields for desktop D from C. */
void cluster_observe_desk(const struct cluster *c, const struct desk *d,
                          struct planner_desk *pd);

/* The same from what the daemon sees of each host, without listing or
 * fencing anything: a host counts as observed when its connection is up
 * (the API's capacity answers). */
int cluster_view(struct cluster *c, struct hosts *hs, struct store *s, struct hv *local,
                 unsigned grace);
