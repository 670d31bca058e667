/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orphans.h - libvirt objects of this instance that no desktop row names.
 * See orphans.c. */
#pragma once

#include "desk.h"
#include "hv.h"
#include "parent.h"

struct orphans {
    char **domains;  /* domains whose deskpool metadata names this instance */
    size_t n_domains;
    char **volumes;  /* overlay and data volumes with this instance's prefix */
    size_t n_volumes;
    char **files;    /* saved parent images (paths) in the parents directory */
    size_t n_files;
};

void orphans_done(struct orphans *o);

/* Which of DOMS (sorted by name or not) and VOLS are this instance's and
 * named by none of DESKS (their domain and previous incarnation) and
 * PARENTS, and which saved images ("*.save") in PARENTS_DIR (NULL: none
 * looked at) no parent names. Domains count only when their deskpool
 * metadata names INSTANCE (a lookup each); volumes by name (PREFIX,
 * ".qcow2"). Returns 0 and fills *ret (orphans_done() it), or a negative
 * errno. Does not log above debug. */
int orphans_find(struct hv *h, const char *instance, const struct hv_domain *doms,
                 size_t n_doms, char **vols, size_t n_vols, struct desk **desks,
                 size_t n_desks, struct parent **parents, size_t n_parents,
                 const char *parents_dir, struct orphans *ret);

/* Lists this instance's domains and volumes (storage pool STORAGE_POOL) and
 * finds the orphans among them for a store that holds DESKS. Startup uses it
 * to see what libvirt holds before the reconciler runs. */
int orphans_scan(struct hv *h, const char *instance, const char *storage_pool,
                 struct desk **desks, size_t n_desks, struct orphans *ret);

/* Removes every orphan: domains are destroyed and undefined, volumes
 * deleted, data volumes included, saved images unlinked. Only ever on an operator's word
 * (deskpoold --purge-orphans). Logs each removal at warning. Returns the
 * number removed. */
unsigned orphans_remove(struct hv *h, const char *storage_pool, const struct orphans *o);
