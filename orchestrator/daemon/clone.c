/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone.c - desktops as instant clones of a parent: made, finished, wiped
 *
 * DESIGN
 *   A clone is a fresh overlay on its parent's frozen disk plus a restore
 *   of the parent's saved memory state under the clone's own name, UUID,
 *   disk and console (hv_clone_restore(): nothing of the memory image is
 *   copied or written per desktop), then its identity: its NICs
 *   hot-plugged with its own MACs (the parent has none), its clock set,
 *   its host name set through the agent; libvirt gives every restore a
 *   new VM generation ID (the parent has <genid/>), which reseeds the
 *   guest's RNG. Then the site's post-clone hook (AD join and the like).
 *
 *   A clone's domain is persistent (defined from the parent's saved XML,
 *   edited by tmpl_clone_xml()) so that it is seen like any desktop's:
 *   shut off when its QEMU dies or its guest powers off, with deskpool's
 *   metadata. Its state never comes from its own disk: a clone that stops
 *   is made again, not booted.
 *
 *   Crash safety as in actions.c: the row names the parent before the
 *   overlay on it exists (store_desk_set_parent(), conditional on the
 *   parent being ready, so a parent being deleted is never used), and
 *   provisioning starts from nothing.
 *
 *   The wipe. A revert and a restore both start a QEMU and load a memory
 *   state, so destroying a clone and restoring it again under the same
 *   name cannot beat a revert: the restore must wait until the old QEMU
 *   has gone (the kill and its reaping, 0.3-1.9 s measured here). So a
 *   desktop has two domain names ("I.N" and "I.N.b"): the wipe pauses the
 *   old incarnation (the user's desktop stops at once), records the next
 *   one on the row with the old one as old_domain (one transaction), and
 *   restores the next one under the other name; the old one is destroyed,
 *   undefined and its overlay deleted once the desktop is ready (and
 *   acquires waiting for one are woken): a QEMU dying beside the restore
 *   slowed the new one's start (retire_old()). A crash in between leaves
 *   old_domain on the row: the planner retires it (action_retire()).
 *   The MAC is the desktop's, the same in every incarnation (stable DHCP
 *   leases); the paused old incarnation sends nothing while the new one
 *   takes it over.
 *
 *   Runs on worker threads, one action per desktop (reconcile.c).
 */
#include "config.h"

#include <uuid/uuid.h>

#include "clone.h"
#include "console.h"
#include "hook.h"
#include "log.h"
#include "strv.h"
#include "util.h"

#define CLONE_IDENTITY_RETRY_MS 100

/* PARENT cannot be cloned from any more (MSG says why): it fails, and its
 * pools fall back to booting. */
static void
parent_failed(const struct action_ctx *c, const struct parent *parent, const char *msg)
{
    if (store_parent_fail(c->store, parent->name, msg) >= 0)
        log_error("Parent '%s' failed: %s; its pools boot their desktops now", parent->name,
                  msg);
}

/* The XML of clone D from PARENT's saved image, for DISK. A saved image
 * that cannot be read or is damaged fails the parent. */
static int
clone_xml(const struct action_ctx *c, const struct desk *d, const struct parent *parent,
          const char *domain, const char *uuid, const char *disk, char **ret_xml,
          char **reterr_msg)
{
    struct hv_saved_image img = {};
    struct desk_meta meta = {
        .instance = c->instance, .pool = d->pool, .desktop = d->name,
        .image = d->image, .image_version = d->image_version,
    };
    struct tmpl_fill fill = {
        .name = domain, .uuid = uuid, .disk_path = disk, .disk_format = "qcow2",
        .meta = &meta, .graphics_listen = c->console_listen,
    };
    int r;

    r = hv_saved_image_read(parent->saved, &img, reterr_msg);
    if (r < 0) {
        parent_failed(c, parent, *reterr_msg);
        return r;
    }
    r = tmpl_clone_xml(img.xml, &fill, ret_xml, reterr_msg);
    hv_saved_image_done(&img);
    return r;
}

/* A restore of PARENT failed with R: was it the parent's fault? Not when
 * libvirt went away, the daemon is stopping, or the host is out of space
 * or memory: those are the host's and pass. */
static bool
restore_failure_is_parents(int r)
{
    return r != -ENOTCONN && r != -ECANCELED && r != -ENOSPC && r != -EDQUOT &&
           r != -ENOMEM && r != -ECONNREFUSED;
}

/* A fresh overlay on PARENT for DOMAIN, defined from the saved XML, and
 * the restore; the row moves FROM -> booting in between when FROM is
 * provisioning (a wipe keeps releasing until ready). */
static int
clone_make(const struct action_ctx *c, const struct desk *d, const struct parent *parent,
           const char *domain, const char *uuid, char **reterr_msg)
{
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *vol = desk_volume_name(domain), *path = NULL, *xml = NULL;
    _cleanup_free_ char *err = NULL;
    struct hv_clone_opts opts = { .fifo_dir = c->parents_dir, .cancel = c->stopping };
    struct hv_clone_stats st = {};
    uint64_t t0 = now_usec();
    int r;

    r = store_image_get(c->store, d->image, d->image_version, &img);
    if (r < 0) {
        *reterr_msg = xasprintf("Image '%s' version %u of desktop '%s' is not registered.",
                                d->image, d->image_version, d->name);
        return r;
    }
    r = action_fresh_overlay(c, domain, vol, parent->volume, img->virtual_size, &path,
                             reterr_msg);
    if (r >= 0)
        r = store_desk_set_volume(c->store, d->name, path);
    if (r >= 0)
        r = clone_xml(c, d, parent, domain, uuid, path, &xml, reterr_msg);
    if (r >= 0)
        r = hv_domain_define(c->hv, xml, 0, reterr_msg);
    if (r >= 0 && d->state == DESK_STATE_PROVISIONING)
        r = store_desk_set_state(c->store, d->name, DESK_STATE_PROVISIONING,
                                 DESK_STATE_BOOTING);
    if (r < 0)
        return r;
    r = hv_clone_restore_full(c->hv, parent->saved, xml, &opts, &st, &err);
    if (r < 0) {
        *reterr_msg = xasprintf("Restore of '%s' from parent '%s' failed: %s", domain,
                                parent->name, strempty(err));
        if (restore_failure_is_parents(r))
            parent_failed(c, parent, *reterr_msg);
        return r;
    }
    log_debug("Clone '%s' restored from '%s' in %.2f s (overlay and definition %.3f s)",
              domain, parent->name, (double) st.restore_usec / 1e6,
              (double) (now_usec() - t0 - st.restore_usec) / 1e6);
    return 0;
}

int
clone_provision(const struct action_ctx *c, const struct desk *d, const char *parent,
                char **reterr_msg)
{
    _cleanup_(parent_freep) struct parent *p = NULL;
    _cleanup_(desk_freep) struct desk *now = NULL;
    int r;

    r = store_desk_set_parent(c->store, d->name, parent);
    if (r < 0)
        return r; /* -ESTALE: the parent is not ready any more; the next pass decides */
    r = store_parent_get(c->store, parent, &p);
    if (r < 0)
        return r;
    r = clone_make(c, d, p, d->domain, d->uuid, reterr_msg);
    if (r >= 0 || r == -ECANCELED)
        return r;
    /* nothing of value yet: back to provisioning, from the start */
    (void) hv_domain_destroy(c->hv, d->domain);
    action_record_failure(c, d->name, r, *reterr_msg);
    if (store_desk_get(c->store, d->name, &now) >= 0 && now->state == DESK_STATE_BOOTING)
        (void) store_desk_set_state(c->store, d->name, DESK_STATE_BOOTING,
                                    DESK_STATE_PROVISIONING);
    return r;
}

/* Hot-plugs D's NICs, sets its clock and host name; retried while the
 * agent is not up yet, until boot_timeout. */
static int
clone_identify(const struct action_ctx *c, const struct desk *d, const char *domain,
               const struct tmpl *t, char **reterr_msg)
{
    _cleanup_free_ char *mac = NULL, *host = desk_hostname(d->name);
    unsigned n_nics = tmpl_interface_count(t);
    char **nics = xmalloc0(sizeof(char *) * (n_nics + 1));
    uint64_t deadline = now_usec() + (uint64_t) c->boot_timeout * 1000000ULL;
    int r = 0;

    if (n_nics > 8) {
        *reterr_msg = xasprintf("Template has %u network interfaces; instant clones get at "
                                "most 8.", n_nics);
        r = -EINVAL;
        goto done;
    }
    if (n_nics > 0)
        r = store_desk_ensure_mac(c->store, d->name, &mac);
    for (unsigned i = 0; r >= 0 && i < n_nics; i++) {
        _cleanup_free_ char *m = desk_mac_nth(mac, i);

        r = tmpl_interface_xml(t, i, m, &nics[i], reterr_msg);
    }
    while (r >= 0) {
        struct hv_clone_identity id = {
            .nic_xml = (const char *const *) nics, .hostname = host, .sync_time = true,
        };
        _cleanup_free_ char *err = NULL;

        r = hv_clone_identify(c->hv, domain, &id, &err);
        if (r >= 0)
            break;
        if (r != -EAGAIN || now_usec() > deadline || atomic_load(c->stopping)) {
            *reterr_msg = xasprintf("Identity of clone '%s' not set: %s", domain,
                                    strempty(err));
            break;
        }
        hv_wait_agent_event(c->hv, CLONE_IDENTITY_RETRY_MS);
        r = 0;
    }
 done:
    strv_free(nics);
    return r;
}

/* The part of clone_finish() that clone_wipe() shares: agent, identity,
 * console, post-clone hook. */
static int
clone_settle(const struct action_ctx *c, const struct desk *d, const char *domain,
             const char *parent, const struct tmpl *t, char **reterr_msg)
{
    _cleanup_free_ char *out = NULL;
    struct hook_info hi = { .pool = d->pool, .desktop = d->name, .domain = domain,
                            .detail = parent };
    uint64_t t0 = now_usec(), t1 = 0, t2 = 0;
    int r;

    r = action_wait_ready(c, domain, true, reterr_msg);
    if (r >= 0) {
        t1 = now_usec();
        r = clone_identify(c, d, domain, t, reterr_msg);
    }
    if (r >= 0) {
        t2 = now_usec();
        r = console_revoke(c->hv, domain, c->console_password_required, reterr_msg);
    }
    if (r < 0)
        return r;
    log_debug("Clone '%s': agent %.3f s, identity %.3f s, console %.3f s", domain,
              (double) (t1 - t0) / 1e6, (double) (t2 - t1) / 1e6,
              (double) (now_usec() - t2) / 1e6);
    /* the site's steps for a new machine (AD join...); a failure is the
     * clone's: counted, and it is made again */
    r = hook_run(c->hooks_dir, HOOK_POST_CLONE, &hi, c->hook_timeout, &out);
    if (r < 0)
        *reterr_msg = xasprintf("The post-clone hook %s: %s",
                                r == -ECANCELED ? "failed" :
                                r == -ETIMEDOUT ? "timed out" : "could not run",
                                out && out[0] ? out : "(no output)");
    return r;
}

int
clone_finish(const struct action_ctx *c, const struct desk *d, const struct tmpl *t,
             char **reterr_msg)
{
    bool active = false;
    int r;

    r = hv_domain_is_active(c->hv, d->domain, &active);
    if (r >= 0 && !active) {
        /* interrupted before or during its restore: it is made again */
        *reterr_msg = xasprintf("Clone '%s' is not running; it is made again.", d->domain);
        return -EIO;
    }
    if (r < 0) {
        *reterr_msg = xasprintf("Domain '%s' of clone '%s' is missing.", d->domain, d->name);
        return r;
    }
    return clone_settle(c, d, d->domain, d->parent, t, reterr_msg);
}

/* ---- the wipe ---- */

/* The end of the previous incarnation OLD, once the next one is ready:
 * destroyed, undefined, its overlay deleted and the row's old_domain
 * cleared. Failures are left to action_retire().
 *
 * After the ready, not beside the restore: on 2 cores a QEMU being killed
 * and reaped beside the restore tripled the new clone's first agent
 * commands (its clock 0.15 s -> 0.7-0.9 s; bench/wipe.sh, logout to ready
 * 1.8 s -> 1.3-1.5 s once moved). The old one is paused from the logout on,
 * so waiting costs nothing but its memory for a second. */
static void
retire_old(const struct action_ctx *c, const struct desk *d, const char *old)
{
    _cleanup_free_ char *err = NULL;
    int r;

    r = hv_clone_destroy(c->hv, old);
    if (r < 0 && r != -ENOENT)
        log_debug("Destroying '%s' failed: %s", old, strerror(-r));
    r = action_remove_domain(c, old, &err);
    if (r >= 0)
        r = store_desk_end_incarnation(c->store, d->name, old);
    if (r < 0)
        log_warning_errno(r, "The previous incarnation '%s' of '%s' is left for the next pass: "
                          "%s", old, d->name, strempty(err));
}

int
clone_wipe(const struct action_ctx *c, const struct desk *d, const struct tmpl *t,
           const char *parent, char **reterr_msg)
{
    _cleanup_(parent_freep) struct parent *p = NULL;
    _cleanup_free_ char *next = desk_domain_alternate(d->domain), *err = NULL;
    struct desk next_d = *d;
    char uuid_str[UUID_STR_LEN];
    uint64_t t0 = now_usec();
    uuid_t uuid;
    int r;

    if (d->old_domain)
        return -ESTALE; /* the last wipe's leftovers go first (action_retire()) */
    r = store_parent_get(c->store, parent, &p);
    if (r < 0)
        return r;
    /* the user's desktop stops now, whatever follows */
    r = hv_domain_suspend(c->hv, d->domain, &err);
    if (r < 0 && r != -EBUSY && r != -ENOENT)
        log_debug("Pausing '%s' failed: %s", d->domain, strempty(err));
    /* a leftover under the next name is nobody's (the row names one) */
    (void) action_remove_domain(c, next, reterr_msg);
    free(*reterr_msg);
    *reterr_msg = NULL;

    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, uuid_str);
    r = store_desk_begin_incarnation(c->store, d->name, next, uuid_str);
    if (r < 0)
        return r;
    r = store_desk_set_parent(c->store, d->name, parent);
    next_d.domain = next;
    next_d.uuid = uuid_str;
    next_d.parent = (char *) parent;
    if (r >= 0)
        r = clone_make(c, &next_d, p, next, uuid_str, reterr_msg);
    if (r >= 0)
        r = clone_settle(c, &next_d, next, parent, t, reterr_msg);
    if (r >= 0) {
        console_warm(c->hv, next);
        r = store_desk_set_state(c->store, d->name, DESK_STATE_RELEASING, DESK_STATE_READY);
    }
    if (r >= 0) {
        log_info("Desktop '%s' wiped: cloned again from '%s' as '%s', ready in %.2f s",
                 d->name, parent, next, (double) (now_usec() - t0) / 1e6);
        if (c->desk_ready)
            c->desk_ready(c->userdata);
    }
    if (r < 0 && r != -ECANCELED) {
        /* never handed out unwiped: made anew */
        (void) hv_domain_destroy(c->hv, next);
        if (r != -ESTALE)
            action_record_failure(c, d->name, r, *reterr_msg);
        (void) store_desk_set_state(c->store, d->name, DESK_STATE_RELEASING,
                                    DESK_STATE_PROVISIONING);
    }
    retire_old(c, d, d->domain);
    return r;
}
