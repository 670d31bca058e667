/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* actions.h - how each planned action is carried out. See actions.c. */
#pragma once

#include <stdatomic.h>

#include "hv.h"
#include "store.h"
#include "tmpl.h"

/* What an action needs; a copy of the settings taken when it was queued. */
struct action_ctx {
    struct store *store;
    struct hv *hv;          /* the desktop's host (a reference of the job's) */
    char *instance;
    char *storage_pool;
    char *templates_dir;
    char *virt_type;
    unsigned boot_timeout;  /* seconds */
    unsigned boot_delay;    /* seconds */
    bool console_password_required; /* refuse drivers that cannot set one */
    char *console_listen;   /* the only address consoles listen on */
    char *hooks_dir;
    unsigned hook_timeout;
    uint64_t data_disk_bytes; /* size of a new data disk */
    char *parents_dir;      /* parents' saved images and restore FIFOs (root, 0700) */
    unsigned max_boot_failures; /* a parent whose build failed this often fails */
    const atomic_bool *stopping; /* daemon shutting down: give up waiting */
    /* called when an action made a desktop ready before it ended (a wipe
     * that still tears down the previous incarnation): acquires waiting
     * for a desktop need not wait for the rest */
    void (*desk_ready)(void *userdata);
    void *userdata;
};

#define DESK_CLEAN_SNAPSHOT "deskpool-clean"

/* Each returns 0 on success, -ESTALE when the desktop left the state the
 * action was planned from (nothing was done: not a failure), or another
 * negative errno; on failure *reterr_msg
 * holds a sentence for the log and the desktop's last_error. They leave
 * the store consistent at every step, so a crash between two steps is
 * finished by the next pass (the steps are idempotent). They do not log
 * above info; the reconciler logs the outcome once. */

/* provisioning/booting -> ready. From PARENT (ready; NULL: boot): an
 * instant clone (clone.c). Else overlay, domain, start, wait, snapshot. */
int action_build(const struct action_ctx *c, const char *name, const char *parent,
                 char **reterr_msg);
/* ready but not running -> booting (or provisioning if the domain is gone) -> build. */
int action_repair(const struct action_ctx *c, const char *name, char **reterr_msg);
/* FROM (provisioning/booting, as planned) -> failed; domain and overlay are
 * kept for inspection. A desktop no longer in FROM is left alone (-ESTALE). */
int action_quarantine(const struct action_ctx *c, const char *name, enum desk_state from,
                      char **reterr_msg);
/* releasing -> ready. The console password is revoked first. Floating:
 * with PARENT (ready), re-cloned from it (clone_wipe()); else a booted
 * desktop is reverted to its clean snapshot (memory included: running,
 * no boot) with its clock resynced, and a clone whose parent cannot be
 * used is re-provisioned. A failed wipe sends the desktop back to
 * provisioning: it is never handed out unwiped. Dedicated: only locked
 * (password revoked); the user's data stays. */
int action_wipe(const struct action_ctx *c, const char *name, const char *parent,
                char **reterr_msg);
/* The previous incarnation of an instant clone (left by an interrupted
 * wipe) is destroyed, undefined and its overlay deleted. */
int action_retire(const struct action_ctx *c, const char *name, char **reterr_msg);
/* ready (dedicated, idle) -> rebasing -> booting -> ready on image VERSION:
 * the domain is powered off, its system overlay replaced by a new one on
 * VERSION, the domain redefined with the same data disk, and booted. The
 * user's data disk is never touched. pre-rebase may veto (-EPERM). */
int action_rebase(const struct action_ctx *c, const char *name, unsigned version,
                  char **reterr_msg);
/* FROM (the state the delete was planned from) -> deleting -> gone: domain,
 * snapshots, overlay, data disk, row. The first step is conditional on
 * FROM in the store: a desktop that left FROM meanwhile (an acquire gave
 * it to a user) is not touched and -ESTALE is returned. An active session on it
 * ends for REASON in the same transaction. */
int action_delete(const struct action_ctx *c, const char *name, enum desk_state from,
                  enum session_end reason, char **reterr_msg);

/* ---- shared by actions.c, clone.c and parent.c ---- */

/* Waits until DOMAIN is ready: its agent answers guest-ping (HAS_AGENT),
 * else it has run for boot_delay seconds; -ETIMEDOUT after boot_timeout,
 * -ECANCELED at shutdown, -EIO when it stopped. */
int action_wait_ready(const struct action_ctx *c, const char *domain, bool has_agent,
                      char **reterr_msg);
/* Makes volume VOL in the storage pool a fresh overlay on BACKING (its
 * virtual size CAPACITY), removing what an interrupted attempt left:
 * domain DOMAIN (with its snapshot metadata) and the volume. Returns 0
 * and the overlay's path. */
int action_fresh_overlay(const struct action_ctx *c, const char *domain, const char *vol,
                         const char *backing, uint64_t capacity, char **ret_path,
                         char **reterr_msg);
/* Destroys, undefines DOMAIN and deletes its overlay volume: 0 also when
 * they were gone. */
int action_remove_domain(const struct action_ctx *c, const char *domain, char **reterr_msg);
/* Counts failed attempt R at desktop NAME unless it was libvirt's
 * connection going away; a want of space is the host's failure. */
void action_record_failure(const struct action_ctx *c, const char *name, int r,
                           const char *msg);
