/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* actions.c - how each planned action is carried out
 *
 * DESIGN
 *   The planner says what to do; this file does it, through the store and
 *   the hypervisor layer only. Every action is written so that a crash at
 *   any point leaves something the next reconcile pass can finish:
 *   - the store row comes first (store_desk_create), so every volume and
 *     domain deskpool creates has a row naming it, and anything with our
 *     name prefix and no row is an orphan (orphans.c reports those);
 *   - provisioning means "nothing of value yet": build deletes and
 *     recreates a half-made overlay instead of trusting it;
 *   - a desktop reaches ready only after its guest answered and, for
 *     floating pools, after its clean snapshot exists (booted) or its
 *     identity is set (instant clones: clone.c);
 *   - delete moves the row to deleting first and removes it last.
 *   A failed boot powers the domain off, counts the failure and sends the
 *   desktop back to provisioning; the planner quarantines it after
 *   max_boot_failures.
 *   Runs on worker threads, one action per desktop at a time (reconcile.c
 *   guarantees that), so no two threads act on the same desktop.
 */
#include "config.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "actions.h"
#include "host-image.h"
#include "array.h"
#include "clone.h"
#include "console.h"
#include "hook.h"
#include "log.h"
#include "tmpl.h"
#include "util.h"

#define AGENT_POLL_MS 250

/* Templates whose current version (path + mtime) libvirt validated
 * against its schema already: the first clone validates, the rest trust
 * it. A process-wide cache; it only ever saves work. */
static pthread_mutex_t validated_lock = PTHREAD_MUTEX_INITIALIZER;
static char **validated;
static size_t n_validated, cap_validated;

static char *
template_version_key(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return NULL;
    return xasprintf("%s@%lld.%ld", path, (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static bool
template_validated(const char *key)
{
    bool found = false;

    pthread_mutex_lock(&validated_lock);
    for (size_t i = 0; i < n_validated && !found; i++)
        found = streq(validated[i], key);
    pthread_mutex_unlock(&validated_lock);
    return found;
}

static void
template_mark_validated(const char *key)
{
    pthread_mutex_lock(&validated_lock);
    ARRAY_GROW(validated, cap_validated, n_validated + 1);
    validated[n_validated++] = xstrdup(key);
    pthread_mutex_unlock(&validated_lock);
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int
action_fresh_overlay(const struct action_ctx *c, const char *domain, const char *vol,
                     const char *backing, uint64_t capacity, char **ret_path,
                     char **reterr_msg)
{
    int r;

    /* Provisioning starts from nothing: a domain left by an interrupted
     * attempt or a failed wipe goes, with its snapshot metadata (its
     * snapshots lived in the overlay we are about to replace)... */
    (void) hv_domain_destroy(c->hv, domain);
    r = hv_domain_undefine(c->hv, domain);
    if (r < 0 && r != -ENOENT) {
        *reterr_msg = xasprintf("Cannot remove the stale domain '%s'.", domain);
        return r;
    }
    /* ...and so does the volume: it holds nothing of value. */
    r = hv_volume_delete(c->hv, c->storage_pool, vol);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot remove the stale overlay '%s'.", vol);
        return r;
    }
    return hv_volume_create_overlay(c->hv, c->storage_pool, vol, backing, capacity, ret_path,
                                    reterr_msg);
}

int
action_remove_domain(const struct action_ctx *c, const char *domain, char **reterr_msg)
{
    _cleanup_free_ char *vol = desk_volume_name(domain);
    int r;

    r = hv_domain_destroy(c->hv, domain);
    if (r < 0 && r != -ENOENT) {
        *reterr_msg = xasprintf("Cannot power off domain '%s'.", domain);
        return r;
    }
    r = hv_domain_undefine(c->hv, domain);
    if (r < 0 && r != -ENOENT) {
        *reterr_msg = xasprintf("Cannot undefine domain '%s'.", domain);
        return r;
    }
    r = hv_volume_delete(c->hv, c->storage_pool, vol);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot delete overlay volume '%s'.", vol);
        return r;
    }
    return 0;
}

static int
build_overlay(const struct action_ctx *c, const struct desk *d, char **reterr_msg)
{
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *vol = desk_volume_name(d->domain), *path = NULL, *backing = NULL;
    int r;

    r = store_image_get(c->store, d->image, d->image_version, &img);
    if (r < 0) {
        *reterr_msg = xasprintf("Image '%s' version %u of desktop '%s' is not registered.",
                                d->image, d->image_version, d->name);
        return r;
    }
    /* another host reads its own copy (host-image.c) */
    r = host_image_ensure(c->store, c->hv, d->host, c->instance, c->storage_pool, img,
                          &backing, reterr_msg);
    if (r < 0)
        return r;
    /* a booted desktop: no parent under its overlay */
    r = store_desk_set_parent(c->store, d->name, NULL);
    if (r < 0)
        return r;
    r = action_fresh_overlay(c, d->domain, vol, backing, img->virtual_size, &path,
                             reterr_msg);
    if (r < 0)
        return r;
    return store_desk_set_volume(c->store, d->name, path);
}

/* The user's data disk: made once, kept across rebases and wipes, removed
 * with the desktop. A half-made one (no row names it yet) is replaced. */
static int
build_data_disk(const struct action_ctx *c, const struct desk *d, char **reterr_msg)
{
    _cleanup_free_ char *vol = desk_data_volume_name(d->domain), *path = NULL;
    int r;

    r = hv_volume_delete(c->hv, c->storage_pool, vol);
    if (r < 0)
        return r;
    r = hv_volume_create_blank(c->hv, c->storage_pool, vol, c->data_disk_bytes, &path,
                               reterr_msg);
    if (r < 0)
        return r;
    return store_desk_set_data_volume(c->store, d->name, path);
}

static int
build_domain(const struct action_ctx *c, const struct desk *d, const struct tmpl *t,
             const char *tpath, char **reterr_msg)
{
    _cleanup_free_ char *xml = NULL, *key = template_version_key(tpath);
    bool validate = !key || !template_validated(key);
    struct desk_meta meta = {
        .instance = c->instance, .pool = d->pool, .desktop = d->name,
        .image = d->image, .image_version = d->image_version,
    };
    struct tmpl_fill fill = {
        .virt_type = c->virt_type, .name = d->domain, .uuid = d->uuid,
        .disk_path = d->volume, .disk_format = "qcow2", .meta = &meta,
        .data_disk_path = d->data_volume, .graphics_listen = c->console_listen,
    };
    int r;

    r = tmpl_fill(t, &fill, &xml, reterr_msg);
    if (r < 0)
        return r;
    r = hv_domain_define(c->hv, xml, validate ? HV_DEFINE_VALIDATE : 0, reterr_msg);
    if (r >= 0 && validate && key)
        template_mark_validated(key);
    return r;
}

int
action_wait_ready(const struct action_ctx *c, const char *domain, bool has_agent,
                  char **reterr_msg)
{
    uint64_t start = now_usec();
    uint64_t deadline = start + (uint64_t) c->boot_timeout * 1000000ULL;
    uint64_t delay_until = start + (uint64_t) c->boot_delay * 1000000ULL;

    for (;;) {
        bool active = false;
        int r;

        if (atomic_load(c->stopping)) {
            *reterr_msg = xasprintf("Boot of '%s' interrupted by shutdown.", domain);
            return -ECANCELED;
        }
        r = hv_domain_is_active(c->hv, domain, &active);
        if (r < 0 || !active) {
            *reterr_msg = xasprintf("Domain '%s' stopped while booting.", domain);
            return r < 0 ? r : -EIO;
        }
        if (has_agent) {
            r = hv_domain_agent_ping(c->hv, domain, 2);
            if (r >= 0)
                return 0;
            if (r != -EAGAIN && r != -ETIMEDOUT && r != -EBUSY)
                log_debug("guest-ping of '%s' failed: %s", domain, strerror(-r));
        } else if (now_usec() >= delay_until) {
            return 0;
        }
        if (now_usec() >= deadline) {
            *reterr_msg = xasprintf(has_agent ? "Guest agent of '%s' did not answer within %u s."
                                              : "Domain '%s' did not run for %u s.",
                                    domain, c->boot_timeout);
            return -ETIMEDOUT;
        }
        if (has_agent)
            hv_wait_agent_event(c->hv, AGENT_POLL_MS); /* an agent connecting wakes us */
        else
            sleep_ms(AGENT_POLL_MS);
    }
}

static int
build_boot(const struct action_ctx *c, const struct desk *d, const struct pool *p,
           const struct tmpl *t, char **reterr_msg)
{
    bool active = false, has_snap = false;
    int r;

    r = hv_domain_is_active(c->hv, d->domain, &active);
    if (r < 0) {
        *reterr_msg = xasprintf("Domain '%s' of desktop '%s' is missing.", d->domain, d->name);
        return r;
    }
    if (!active) {
        r = hv_domain_start(c->hv, d->domain, reterr_msg);
        if (r < 0)
            return r;
        log_debug("Domain '%s' started", d->domain);
    }
    r = action_wait_ready(c, d->domain, tmpl_has_agent(t), reterr_msg);
    if (r < 0)
        return r;
    log_debug("Domain '%s' answers", d->domain);
    /* Lock the console before the clean snapshot: a revert restores the
     * console password the snapshot holds, so a wiped desktop comes back
     * locked, and a spare never has an open console. */
    r = console_revoke(c->hv, d->domain, c->console_password_required, reterr_msg);
    if (r < 0)
        return r;
    if (p->mode == POOL_MODE_FLOATING) {
        /* the clean state every wipe reverts to */
        r = hv_snapshot_exists(c->hv, d->domain, DESK_CLEAN_SNAPSHOT, &has_snap);
        if (r >= 0 && !has_snap)
            r = hv_snapshot_create(c->hv, d->domain, DESK_CLEAN_SNAPSHOT, reterr_msg);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Counts failed attempt R at desktop NAME, unless it was libvirt's
 * connection going away (nobody's fault: the pass after the reconnection
 * tries again). A failure for want of space is the host's: the planner
 * retries such a quarantine instead of keeping it. */
void
action_record_failure(const struct action_ctx *c, const char *name, int r, const char *msg)
{
    if (r == -ENOTCONN)
        return;
    (void) store_desk_record_failure(c->store, name, msg, r == -ENOSPC || r == -EDQUOT);
}

/* A boot failed: power off, count it, and go back to provisioning so the
 * next attempt starts from a fresh overlay. */
static void
build_failed(const struct action_ctx *c, const struct desk *d, int r, const char *msg)
{
    _cleanup_(desk_freep) struct desk *now = NULL;

    (void) hv_domain_destroy(c->hv, d->domain);
    action_record_failure(c, d->name, r, msg);
    if (store_desk_get(c->store, d->name, &now) >= 0 && now->state == DESK_STATE_BOOTING)
        (void) store_desk_set_state(c->store, d->name, DESK_STATE_BOOTING,
                                    DESK_STATE_PROVISIONING);
}

int
action_build(const struct action_ctx *c, const char *name, const char *parent,
             char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *tpath = NULL;
    int r;

    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    r = store_pool_get(c->store, d->pool, &p);
    if (r < 0)
        return r;
    /* the template as it is now: read once per build */
    tpath = xasprintf("%s/%s.xml", c->templates_dir, p->template);
    r = tmpl_load_file(tpath, &t, reterr_msg);
    if (r < 0) {
        action_record_failure(c, name, r, *reterr_msg);
        return r;
    }

    if (d->state == DESK_STATE_PROVISIONING) {
        _cleanup_free_ char *out = NULL, *ver = xasprintf("v%u", d->image_version);
        struct hook_info hi = { .pool = d->pool, .desktop = d->name, .domain = d->domain,
                                .detail = ver };

        /* a site script may veto: counted as a failed attempt, so a hook
         * that keeps saying no quarantines the desktop */
        r = hook_run(c->hooks_dir, HOOK_PRE_PROVISION, &hi, c->hook_timeout, &out);
        if (r < 0) {
            *reterr_msg = xasprintf("The pre-provision hook %s: %s",
                                    r == -ECANCELED ? "vetoed it" :
                                    r == -ETIMEDOUT ? "timed out" : "could not run",
                                    out && out[0] ? out : "(no output)");
            action_record_failure(c, name, r, *reterr_msg);
            return r == -ECANCELED ? -EPERM : r;
        }
        if (parent) {
            /* an instant clone: restored, not booted */
            r = clone_provision(c, d, parent, reterr_msg);
            if (r < 0)
                return r;
            desk_free(d);
            d = NULL;
            r = store_desk_get(c->store, name, &d);
            if (r < 0)
                return r;
            goto booting;
        }
        r = build_overlay(c, d, reterr_msg);
        if (r >= 0 && tmpl_has_data_disk(t) && !d->data_volume)
            r = build_data_disk(c, d, reterr_msg);
        if (r >= 0) {
            desk_free(d);
            d = NULL;
            r = store_desk_get(c->store, name, &d);
        }
        if (r >= 0)
            r = build_domain(c, d, t, tpath, reterr_msg);
        if (r >= 0)
            r = store_desk_set_state(c->store, name, DESK_STATE_PROVISIONING,
                                     DESK_STATE_BOOTING);
        if (r < 0) {
            if (!*reterr_msg)
                *reterr_msg = xasprintf("Provisioning of '%s' failed: %s.", name,
                                        strerror(-r));
            action_record_failure(c, name, r, *reterr_msg);
            return r;
        }
        d->state = DESK_STATE_BOOTING;
    }
 booting:
    if (d->state != DESK_STATE_BOOTING)
        return 0; /* someone else moved it on: nothing to do */

    if (d->parent)
        r = clone_finish(c, d, t, reterr_msg);
    else
        r = build_boot(c, d, p, t, reterr_msg);
    if (r == -ECANCELED)
        return r; /* shutdown: the next daemon picks it up as it is */
    if (r < 0) {
        build_failed(c, d, r, *reterr_msg);
        return r;
    }
    console_warm(c->hv, d->domain);
    r = store_desk_set_state(c->store, name, DESK_STATE_BOOTING, DESK_STATE_READY);
    if (r >= 0) {
        struct hook_info hi = { .pool = d->pool, .desktop = d->name, .domain = d->domain };

        (void) hook_run_logged(c->hooks_dir, HOOK_POST_PROVISION, &hi, c->hook_timeout);
    }
    return r;
}

int
action_repair(const struct action_ctx *c, const char *name, char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    bool active = false;
    int r;

    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    if (d->state != DESK_STATE_READY)
        return 0;
    r = hv_domain_is_active(c->hv, d->domain, &active);
    if (r >= 0 && active)
        return 0; /* it came back by itself */
    /* a clone is made again (the next pass picks its parent), a booted
     * desktop is started again */
    r = store_desk_set_state(c->store, name, DESK_STATE_READY,
                             r == -ENOENT || d->parent ? DESK_STATE_PROVISIONING
                                                       : DESK_STATE_BOOTING);
    if (r < 0 || d->parent)
        return r;
    return action_build(c, name, NULL, reterr_msg);
}

int
action_quarantine(const struct action_ctx *c, const char *name, enum desk_state from,
                  char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    int r;

    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    r = store_desk_set_state(c->store, name, from, DESK_STATE_FAILED);
    if (r == -EINVAL)
        r = -ESTALE; /* no longer pending: a state quarantine does not apply to */
    if (r < 0)
        return r; /* -ESTALE: it left the state it was planned from */
    (void) hv_domain_destroy(c->hv, d->domain);
    *reterr_msg = xasprintf("Desktop '%s' failed %u times and is quarantined: %s", name,
                            d->boot_failures, d->last_error ? d->last_error : "no reason given.");
    {
        struct hook_info hi = { .pool = d->pool, .desktop = d->name, .domain = d->domain,
                                .detail = d->last_error };

        (void) hook_run_logged(c->hooks_dir, HOOK_DESKTOP_FAILED, &hi, c->hook_timeout);
    }
    return 0;
}

/* Reverts floating desktop D to its clean snapshot and resyncs its clock;
 * on a failed revert sends it back to provisioning (re-clone). */
static int
wipe_floating(const struct action_ctx *c, const struct desk *d, char **reterr_msg)
{
    _cleanup_free_ char *err = NULL;
    int r;

    r = hv_snapshot_revert(c->hv, d->domain, DESK_CLEAN_SNAPSHOT, reterr_msg);
    if (r < 0) {
        /* never hand it out unwiped: re-clone from the image */
        (void) hv_domain_destroy(c->hv, d->domain);
        action_record_failure(c, d->name, r, *reterr_msg);
        (void) store_desk_set_state(c->store, d->name, DESK_STATE_RELEASING,
                                    DESK_STATE_PROVISIONING);
        return r;
    }
    /* The clock stopped at the snapshot. The agent answers ~0.1 s after a
     * revert: a few quick tries, and a desktop whose clock could not be
     * set is still clean, so it goes on. */
    for (int i = 0; i < 20; i++) {
        free(err);
        err = NULL;
        r = hv_domain_sync_time(c->hv, d->domain, &err);
        if (r >= 0 || r == -EOPNOTSUPP)
            break;
        sleep_ms(100);
    }
    if (r < 0 && r != -EOPNOTSUPP)
        log_info("Clock of '%s' not synced after the wipe: %s", d->domain, strempty(err));
    return 0;
}

int
action_wipe(const struct action_ctx *c, const char *name, const char *parent,
            char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_free_ char *err = NULL;
    struct hook_info hi;
    int r;

    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    if (d->state != DESK_STATE_RELEASING)
        return 0;
    r = store_pool_get(c->store, d->pool, &p);
    if (r < 0)
        return r;
    /* first of all, nobody may connect any more */
    r = console_revoke(c->hv, d->domain, c->console_password_required, &err);
    if (r < 0)
        log_debug("Revoking the console password of '%s' failed: %s", d->domain, strempty(err));
    /* dedicated desktops keep their user's data: locking them is all */
    if (p->mode == POOL_MODE_FLOATING && parent) {
        _cleanup_(tmpl_freep) struct tmpl *t = NULL;
        _cleanup_free_ char *tpath = xasprintf("%s/%s.xml", c->templates_dir, p->template);

        r = tmpl_load_file(tpath, &t, reterr_msg);
        if (r >= 0)
            r = clone_wipe(c, d, t, parent, reterr_msg); /* ready when it returns 0 */
        if (r < 0)
            return r;
    } else if (p->mode == POOL_MODE_FLOATING && d->parent) {
        /* a clone whose parent cannot be used: made anew */
        (void) hv_domain_destroy(c->hv, d->domain);
        r = store_desk_set_state(c->store, name, DESK_STATE_RELEASING,
                                 DESK_STATE_PROVISIONING);
        if (r >= 0)
            log_info("Desktop '%s' is re-provisioned: its pool has no ready parent", name);
        return r;
    } else if (p->mode == POOL_MODE_FLOATING) {
        r = wipe_floating(c, d, reterr_msg);
        if (r < 0)
            return r;
    }
    if (!(p->mode == POOL_MODE_FLOATING && parent)) {
        console_warm(c->hv, d->domain);
        r = store_desk_set_state(c->store, name, DESK_STATE_RELEASING, DESK_STATE_READY);
        if (r < 0)
            return r;
    }
    hi = (struct hook_info) { .pool = d->pool, .desktop = d->name, .domain = d->domain };
    (void) hook_run_logged(c->hooks_dir, HOOK_POST_RELEASE, &hi, c->hook_timeout);
    return 0;
}

int
action_rebase(const struct action_ctx *c, const char *name, unsigned version,
              char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_free_ char *out = NULL, *detail = xasprintf("v%u", version);
    struct hook_info hi;
    int r;

    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    if (d->state != DESK_STATE_READY || d->image_version == version)
        return 0;
    hi = (struct hook_info) { .pool = d->pool, .desktop = d->name, .domain = d->domain,
                              .user = d->owner, .detail = detail };
    r = hook_run(c->hooks_dir, HOOK_PRE_REBASE, &hi, c->hook_timeout, &out);
    if (r < 0) {
        *reterr_msg = xasprintf("The pre-rebase hook %s: %s",
                                r == -ECANCELED ? "vetoed it" : "failed",
                                out && out[0] ? out : "(no output)");
        action_record_failure(c, name, r, *reterr_msg);
        return r == -ECANCELED ? -EPERM : r;
    }
    r = store_desk_set_state(c->store, name, DESK_STATE_READY, DESK_STATE_REBASING);
    if (r < 0)
        return r;
    /* The system overlay goes, the data disk stays: provisioning again
     * on the new version rebuilds everything but the data volume, which
     * the row keeps naming. */
    r = store_desk_set_image_version(c->store, name, version);
    if (r >= 0)
        r = store_desk_set_state(c->store, name, DESK_STATE_REBASING, DESK_STATE_PROVISIONING);
    if (r < 0)
        return r;
    r = action_build(c, name, NULL, reterr_msg); /* dedicated desktops boot */
    if (r >= 0)
        (void) hook_run_logged(c->hooks_dir, HOOK_POST_REBASE, &hi, c->hook_timeout);
    return r;
}

int
action_retire(const struct action_ctx *c, const char *name, char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    int r;

    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    if (!d->old_domain)
        return 0;
    r = action_remove_domain(c, d->old_domain, reterr_msg);
    if (r < 0)
        return r;
    return store_desk_end_incarnation(c->store, name, d->old_domain);
}

int
action_delete(const struct action_ctx *c, const char *name, enum desk_state from,
              enum session_end reason, char **reterr_msg)
{
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_free_ char *vol = NULL;
    int r;

    /* Conditional on the planned state, in one transaction with the end
     * of a session on it: a desktop an acquire took after the planner
     * looked is not destroyed under its new user. */
    r = store_desk_mark_deleting(c->store, name, from, reason);
    if (r == -ENOENT)
        return 0; /* gone already */
    if (r < 0)
        return r; /* -ESTALE: it left FROM, e.g. an acquire took it: untouched */
    r = store_desk_get(c->store, name, &d);
    if (r < 0)
        return r;
    if (d->old_domain) {
        r = action_remove_domain(c, d->old_domain, reterr_msg);
        if (r < 0)
            return r;
    }
    r = action_remove_domain(c, d->domain, reterr_msg);
    if (r < 0)
        return r;
    vol = desk_data_volume_name(d->domain);
    r = hv_volume_delete(c->hv, c->storage_pool, vol);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot delete data volume '%s'.", vol);
        return r;
    }
    return store_desk_remove(c->store, name);
}
