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
    char **vols;               /* this instance's volumes in its storage pool, when full */
    size_t n_vols;
    bool full;                 /* a full listing this pass (else the domains came from
                                * the lifecycle events since): vols is current */
    char *console_address;     /* what its consoles listen on; NULL: console_listen */
};

struct cluster {
    struct cluster_host *h;    /* by name */
    size_t n;
    int64_t now;
};

/* What one host's listing found (cluster_list_host()). */
struct cluster_listing {
    struct hv_domain *doms;    /* sorted by name */
    size_t n_doms;
    char **vols;               /* only on a full listing, else NULL */
    size_t n_vols;
    bool full;
};
void cluster_listing_done(struct cluster_listing *l);

/* Lists this instance's domains on HV, from its lifecycle events where it
 * can (hv_domain_list_watched()): in full when the last full listing is
 * MAX_AGE_USEC old (0: now). A full listing lists the volumes of
 * STORAGE_POOL too. 0 or a negative errno. */
int cluster_list_host(struct hv *hv, const char *prefix, const char *storage_pool,
                      uint64_t max_age_usec, struct cluster_listing *ret);

/* Fills C from the store's hosts: the local host's LISTING (taken over: C
 * frees it) when LOCAL_OK, every other host's listed here through HS
 * (NULL: the local host only) with cluster_list_host(MAX_AGE_USEC). Then
 * carries out the fences of every host that answers, before anything else
 * happens there: a host with a fence that failed is not observed this
 * pass. GRACE: seconds before an unreachable host counts as lost. Returns
 * 0, or a negative errno when the store cannot be read. */
int cluster_observe(struct cluster *c, struct hosts *hs, struct store *s, struct hv *local,
                    bool local_ok, struct cluster_listing *local_listing, const char *prefix,
                    const char *storage_pool, uint64_t max_age_usec, unsigned grace);
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
