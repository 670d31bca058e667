/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* capacity.h - how many more desktops fit on each host, and where new
 * ones go: the inputs of placement from what runs and what is measured.
 * See capacity.c. */
#pragma once

#include "cluster.h"
#include "footprint.h"
#include "placement.h"

struct capacity {
    size_t n_hosts, n_pools;
    const struct cluster *cl;      /* borrowed: host i is cl->h[i] */
    struct pool *const *pools;     /* borrowed */
    struct placement_host *ph;     /* per host, every desktop counted */
    struct placement_request *req; /* per pool */
    uint64_t *fp;                  /* [pool * n_hosts + host]: one desktop's footprint */
    bool *measured;                /* ... measured there (else the template's memory) */
    uint64_t *ksm_saved;           /* per host */
    unsigned *shortfall;           /* per pool: desktops it still lacks to reach its target
                                    * (min, or more with spares), placed on no host yet */
};

/* Counts DESKS (of POOLS) against the hosts of CL: footprints measured
 * (F, may be NULL) where they are, else the template's <memory> (read
 * from TEMPLATES_DIR); OVERCOMMIT: percent of a host's memory less its
 * reserve its desktops may commit; VCPUS_PER_CPU: 0 for no CPU limit. */
void capacity_compute(struct capacity *cap, const struct cluster *cl,
                      struct desk *const *desks, size_t n_desks, struct pool *const *pools,
                      size_t n_pools, const char *templates_dir, struct footprints *f,
                      unsigned overcommit, unsigned vcpus_per_cpu);
void capacity_done(struct capacity *cap);

/* The hosts as placement sees them for a desktop of pool P (a new array,
 * each with P's footprint there). */
struct placement_host *capacity_hosts_for(const struct capacity *cap, size_t p);

/* How many desktops like REQ each of the N hosts H takes and what stops
 * the next: "NAME: N (LIMIT)" or "NAME: no limit", comma-separated (a
 * new string), for messages. */
char *capacity_describe(const struct placement_host *h, size_t n,
                        const struct placement_request *req);

/* What one desktop of pool P asks of placement: its template's <memory>
 * and <vcpu> (from TEMPLATES_DIR), its placement policy and labels, and
 * whether it needs the local QEMU driver (instant clones). */
void capacity_request(const char *templates_dir, const struct pool *p, unsigned vcpus_per_cpu,
                      struct placement_request *ret);

/* How many more desktops of pool P fit (UINT_MAX: no limit applies) once
 * every other pool got what it lacks, placed in name order as the
 * reconciler places. P == cap->n_pools: a pool not created yet, asking
 * REQ (capacity_request()); else REQ is ignored. */
unsigned capacity_room(const struct capacity *cap, size_t p, const struct placement_request *req,
                       char **ret_detail);
/* RET_DETAIL (may be NULL): per host "NAME: N (LIMIT)", comma-separated. */
