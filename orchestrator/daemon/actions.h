/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* actions.h - how each planned action is carried out. See actions.c. */
#pragma once

#include <stdatomic.h>

#include "hv.h"
#include "store.h"

/* What an action needs; a copy of the settings taken when it was queued. */
struct action_ctx {
    struct store *store;
    struct hv *hv;
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
    const atomic_bool *stopping; /* daemon shutting down: give up waiting */
};

#define DESK_CLEAN_SNAPSHOT "deskpool-clean"

/* Each returns 0 on success, -ESTALE when the desktop left the state the
 * action was planned from (nothing was done: not a failure), or another
 * negative errno; on failure *reterr_msg
 * holds a sentence for the log and the desktop's last_error. They leave
 * the store consistent at every step, so a crash between two steps is
 * finished by the next pass (the steps are idempotent). They do not log
 * above info; the reconciler logs the outcome once. */

/* provisioning/booting -> ready: overlay, domain, start, wait, snapshot. */
int action_build(const struct action_ctx *c, const char *name, char **reterr_msg);
/* ready but not running -> booting (or provisioning if the domain is gone) -> build. */
int action_repair(const struct action_ctx *c, const char *name, char **reterr_msg);
/* FROM (provisioning/booting, as planned) -> failed; domain and overlay are
 * kept for inspection. A desktop no longer in FROM is left alone (-ESTALE). */
int action_quarantine(const struct action_ctx *c, const char *name, enum desk_state from,
                      char **reterr_msg);
/* releasing -> ready. The console password is revoked first. Floating:
 * revert to the clean snapshot (memory included: running, no boot), clock
 * resynced through the agent; if the revert fails the desktop goes back to
 * provisioning and is re-cloned: it is never handed out unwiped.
 * Dedicated: only locked (password revoked); the user's data stays. */
int action_wipe(const struct action_ctx *c, const char *name, char **reterr_msg);
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
