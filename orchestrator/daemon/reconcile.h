/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* reconcile.h - the level-triggered loop: observe, plan, act. See reconcile.c. */
#pragma once

#include <stdint.h>

#include "conf.h"
#include "footprint.h"
#include "hosts.h"
#include "hv.h"
#include "planner.h"
#include "store.h"

struct reconciler;

struct reconcile_stats {
    uint64_t passes;
    double last_pass_seconds;     /* observe + plan + queue, not the actions */
    double max_pass_seconds;
    uint64_t actions[_ACTION_KIND_MAX];
    uint64_t failures[_ACTION_KIND_MAX];
    uint64_t orphans_removed;     /* by --purge-orphans */
    unsigned orphans;             /* orphans seen by the last pass and left alone */
    unsigned running, queued;     /* worker */
    unsigned max_starts;          /* most guest starts in flight on one host at once */
    bool libvirt_ok;              /* the last pass could talk to libvirt */
};

/* Takes references to S and H (they must outlive it); copies what it
 * needs from C. VIRT_TYPE is the domain type desktops get; NULL while it
 * is being probed (nothing that defines a domain runs until
 * reconciler_set_virt_type()). Does not start anything. Returns 0 or
 * negative errno. */
int reconciler_new(const struct conf *c, struct store *s, struct hv *h, const char *virt_type,
                   struct reconciler **ret);
/* The hosts it places desktops on (owned by it; the API shows them). */
struct hosts *reconciler_get_hosts(struct reconciler *r);
/* The footprints it measures (owned by it), and the settings placement
 * uses now (memory_overcommit, vcpus_per_cpu, host_lost_grace): what the
 * API's capacity answers and admission control need. */
struct footprints *reconciler_get_footprints(struct reconciler *r);
/* The dashboard's history (history.c): lives as long as R. */
struct history *reconciler_get_history(struct reconciler *r);
void reconciler_get_placement_settings(struct reconciler *r, unsigned *ret_overcommit,
                                       unsigned *ret_vcpus_per_cpu, unsigned *ret_grace);
/* Starts the loop thread (a pass every reconcile_interval, or on wake). */
int reconciler_start(struct reconciler *r);
/* The domain type desktops get from now on (the probe finished). */
void reconciler_set_virt_type(struct reconciler *r, const char *virt_type);
/* A copy of it, NULL while probing. */
char *reconciler_get_virt_type(struct reconciler *r);
/* The probe found no domain type that runs guests: WHY, for health. */
void reconciler_set_virt_type_failed(struct reconciler *r, const char *why);
bool reconciler_probe_failed(struct reconciler *r);
/* The desktops an action is queued or running for (a NULL-terminated copy,
 * *ret_n of them): between two states on purpose. */
char **reconciler_get_busy(struct reconciler *r, size_t *ret_n);
/* Copies of the warnings about this host for health (a failed probe,
 * libvirt answering slowly and the likely cause), NULL-terminated. */
char **reconciler_get_warnings(struct reconciler *r);
/* The next pass removes every orphan (orphans.c) instead of reporting
 * it: deskpoold --purge-orphans. */
void reconciler_purge_orphans(struct reconciler *r);
/* Asks for a pass as soon as possible. Async-signal-unsafe; thread-safe. */
void reconciler_wake(struct reconciler *r);
/* Runs one pass in the caller's thread (tests, benchmarks). Returns the
 * number of actions queued or done, or negative errno (libvirt down). */
int reconciler_pass(struct reconciler *r);
/* Blocks until no action is queued or running. */
void reconciler_wait_idle(struct reconciler *r);
/* Passes until a pass plans nothing and nothing runs, at most MAX_PASSES.
 * Returns the number of passes, or -ETIMEDOUT. Tests and bench only. */
int reconciler_settle(struct reconciler *r, unsigned max_passes);
/* Acquires waiting for a desktop of POOL: DELTA +1 when one starts
 * waiting, -1 when it stops. The planner grows the pool for them. */
void reconciler_add_waiting(struct reconciler *r, const char *pool, int delta);
/* Blocks until some desktop became ready (a build, repair or wipe
 * finished) or TIMEOUT_MS pass. For acquires waiting on a desktop.
 * Returns false once the daemon is shutting down (stop waiting). */
bool reconciler_wait_desk_ready(struct reconciler *r, unsigned timeout_ms);
/* Makes every waiting and future reconciler_wait_desk_ready() return
 * false at once (shutdown, before the REST server stops). */
void reconciler_cancel_waiters(struct reconciler *r);

/* Applies the reloadable keys of C (SIGHUP). */
void reconciler_reload(struct reconciler *r, const struct conf *c);
void reconciler_get_stats(struct reconciler *r, struct reconcile_stats *ret);
/* Stops the loop, lets running actions stop at their next safe point. */
struct reconciler *reconciler_free(struct reconciler *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct reconciler *, reconciler_free);
