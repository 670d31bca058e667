/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* parent-build.c - building and removing the parents of instant clones
 *
 * DESIGN
 *   A parent is built like a desktop that is never handed out: its row
 *   first (store_parent_create(), by the reconciler), then an overlay on
 *   the golden image, a domain filled from the pool's template as a
 *   parent (tmpl_fill() .parent: no NIC, whose MAC every clone would
 *   restore; <genid/>, so that libvirt gives every clone a new VM
 *   generation ID), its boot until the guest agent answers, the
 *   pre-freeze hook (site steps before the state is frozen: updates,
 *   cache warm-up, a zeroed free memory), and hv_parent_save(). Then the
 *   domain is undefined (it must never run again: its disk is now every
 *   clone's backing file) and the overlay made read-only (0444).
 *
 *   Files: the overlay is a volume of the storage pool, named after the
 *   domain ("INSTANCE.parent.NAME.qcow2": the orphan scan knows it); the
 *   saved image holds the guest's memory, secrets included, so it lives
 *   in STATE_DIR/parents (root, 0700, outside any storage pool), 0400,
 *   with the restore FIFOs. The row names both before they exist, so an
 *   interrupted build leaves nothing unnamed: the next attempt removes
 *   what the last one left, and a delete removes everything the row
 *   names before the row.
 *
 *   Runs on worker threads, one action per parent (reconcile.c).
 */
#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "hook.h"
#include "log.h"
#include "parent-build.h"
#include "tmpl.h"
#include "util.h"

char *
parent_template_digest(const char *template_text, size_t len, const char *virt_type)
{
    _cleanup_(digest_freep) struct digest *d = digest_new();
    char hex[DIGEST_SHA256_HEX_LEN + 1];

    if (!d)
        abort();
    digest_update(d, template_text, len);
    digest_update(d, "\0", 1);
    digest_update(d, strempty(virt_type), strlen(strempty(virt_type)));
    digest_finish(TAKE_PTR(d), hex);
    hex[16] = '\0'; /* 64 bits tell templates apart */
    return xstrdup(hex);
}

/* Removes what an earlier attempt left: domain, saved image, overlay. */
static int
parent_remove_files(const struct action_ctx *c, const struct parent *p, char **reterr_msg)
{
    _cleanup_free_ char *saved = parent_saved_path(c->parents_dir, p->name);
    int r;

    r = action_remove_domain(c, p->domain, reterr_msg);
    if (r < 0)
        return r;
    if (unlink(saved) < 0 && errno != ENOENT) {
        *reterr_msg = xasprintf("Cannot remove the saved image '%s': %m.", saved);
        return -errno;
    }
    return 0;
}

/* The attempt at P failed with R: power it off and count it. */
static void
parent_build_failed(const struct action_ctx *c, const struct parent *p, int r,
                    const char *msg)
{
    bool failed = false;

    (void) hv_domain_destroy(c->hv, p->domain);
    if (r == -ENOTCONN || r == -ECANCELED)
        return; /* nobody's fault: tried again */
    if (store_parent_record_failure(c->store, p->name, msg, c->max_boot_failures,
                                    &failed) >= 0 && failed)
        log_error("Parent '%s' failed %u times and is given up: %s; its pools boot their "
                  "desktops until 'deskpoolctl pool set POOL --clone instant'",
                  p->name, c->max_boot_failures, strempty(msg));
}

int
parent_build(const struct action_ctx *c, const char *name, char **reterr_msg)
{
    _cleanup_(parent_freep) struct parent *p = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *tpath = NULL, *vol = NULL, *path = NULL, *saved = NULL;
    _cleanup_free_ char *xml = NULL, *out = NULL;
    struct desk_meta meta = { 0 };
    struct tmpl_fill fill = { 0 };
    struct hook_info hi = { 0 };
    struct stat st;
    uint64_t t0, t1, t2;
    int r;

    r = store_parent_get(c->store, name, &p);
    if (r < 0)
        return r;
    if (p->state != PARENT_STATE_BUILDING)
        return -ESTALE;
    tpath = xasprintf("%s/%s.xml", c->templates_dir, p->template);
    r = tmpl_load_file(tpath, &t, reterr_msg);
    if (r >= 0 && !tmpl_has_agent(t)) {
        *reterr_msg = xasprintf("Template '%s' has no guest agent channel; a parent is ready "
                                "when its agent answers.", p->template);
        r = -EINVAL;
    }
    if (r >= 0) {
        r = store_image_get(c->store, p->image, p->image_version, &img);
        if (r < 0)
            *reterr_msg = xasprintf("Image '%s' version %u is not registered.", p->image,
                                    p->image_version);
    }
    if (r >= 0)
        r = parent_remove_files(c, p, reterr_msg);
    if (r < 0)
        goto fail;

    t0 = now_usec();
    vol = parent_volume_name(p->domain);
    saved = parent_saved_path(c->parents_dir, p->name);
    r = hv_volume_create_overlay(c->hv, c->storage_pool, vol, img->path, img->virtual_size,
                                 &path, reterr_msg);
    if (r >= 0)
        r = store_parent_set_files(c->store, name, path, saved);
    if (r < 0)
        goto fail;
    meta = (struct desk_meta) { .instance = c->instance, .image = p->image,
                                .image_version = p->image_version, .parent = p->name };
    fill = (struct tmpl_fill) {
        .virt_type = c->virt_type, .name = p->domain, .uuid = p->uuid, .disk_path = path,
        .disk_format = "qcow2", .meta = &meta, .graphics_listen = c->console_listen,
        .parent = true,
    };
    r = tmpl_fill(t, &fill, &xml, reterr_msg);
    if (r >= 0)
        r = hv_domain_define(c->hv, xml, HV_DEFINE_VALIDATE, reterr_msg);
    if (r >= 0)
        r = hv_domain_start(c->hv, p->domain, reterr_msg);
    if (r >= 0)
        r = action_wait_ready(c, p->domain, true, reterr_msg);
    if (r < 0)
        goto fail;
    t1 = now_usec();
    log_info("Parent '%s' booted in %.1f s; saving it", name, (double) (t1 - t0) / 1e6);

    /* the site's last word before the state is frozen for every clone */
    hi = (struct hook_info) { .domain = p->domain, .detail = p->name };
    r = hook_run(c->hooks_dir, HOOK_PRE_FREEZE, &hi, c->hook_timeout, &out);
    if (r < 0) {
        *reterr_msg = xasprintf("The pre-freeze hook %s: %s",
                                r == -ECANCELED ? "vetoed it" :
                                r == -ETIMEDOUT ? "timed out" : "could not run",
                                out && out[0] ? out : "(no output)");
        r = r == -ECANCELED ? -EPERM : r;
        goto fail;
    }
    r = hv_parent_save(c->hv, p->domain, saved, reterr_msg);
    if (r < 0)
        goto fail;
    t2 = now_usec();
    /* it must never run again: its disk is every clone's backing file */
    r = hv_domain_undefine(c->hv, p->domain);
    if (r < 0 && r != -ENOENT) {
        *reterr_msg = xasprintf("Cannot undefine the saved parent '%s'.", p->domain);
        goto fail;
    }
    if (chmod(path, 0444) < 0) {
        r = -errno;
        *reterr_msg = xasprintf("Cannot make the parent's overlay '%s' read-only: %m.", path);
        goto fail;
    }
    r = stat(saved, &st) < 0 ? -errno : 0;
    if (r >= 0)
        r = store_parent_set_ready(c->store, name, (uint64_t) st.st_size,
                                   (unsigned) ((t1 - t0) / 1000), (unsigned) ((t2 - t1) / 1000));
    if (r < 0)
        goto fail;
    log_notice("Parent '%s' is ready: booted in %.1f s, saved in %.1f s (%.1f MiB)", name,
               (double) (t1 - t0) / 1e6, (double) (t2 - t1) / 1e6,
               (double) st.st_size / 1048576.0);
    return 0;

 fail:
    if (!*reterr_msg)
        *reterr_msg = xasprintf("Building parent '%s' failed: %s.", name, strerror(-r));
    parent_build_failed(c, p, r, *reterr_msg);
    return r;
}

int
parent_delete(const struct action_ctx *c, const char *name, char **reterr_msg)
{
    _cleanup_(parent_freep) struct parent *p = NULL;
    int r;

    r = store_parent_mark_deleting(c->store, name);
    if (r == -ENOENT)
        return 0;
    if (r == -EBUSY)
        return -ESTALE; /* a desktop names it again: it stays */
    if (r < 0)
        return r;
    r = store_parent_get(c->store, name, &p);
    if (r < 0)
        return r;
    r = parent_remove_files(c, p, reterr_msg);
    if (r < 0)
        return r;
    return store_parent_remove(c->store, name);
}
