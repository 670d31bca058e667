/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cluster.c - what one reconcile pass sees of every host
 *
 * DESIGN
 *   A pass observes each host that is up: this instance's domains there
 *   (cluster_list_host(): from the connection's lifecycle events, reading
 *   only the domains that changed, with a full listing of domains and
 *   volumes every libvirt_resync_interval as the safety net; hv-watch.c).
 *   A host that does not answer is "down": what libvirt would show there
 *   is unknown, so its desktops are left alone (the planner's host_down),
 *   not taken for dead: a blip of the network must not cost a physician
 *   the session. Down for longer than host_lost_grace it is "lost": the
 *   planner ends its sessions (host_lost) and gives up its floating
 *   desktops and spares (FORGET: store_desk_forget() records each domain
 *   as a fence of that host and drops the row, and the pool makes a new
 *   desktop elsewhere). Dedicated desktops wait for their host.
 *
 *   Fencing: when a host answers again, every fence of it is carried out
 *   (domain destroyed and undefined, overlay deleted) in this pass before
 *   the host counts as observed, so no action, repair or session can use
 *   it while a replaced copy of a desktop still runs there. A fence that
 *   fails keeps the host unobserved and is tried again next pass.
 *
 *   Placement inputs: each host's committed memory and vCPUs (what its
 *   desktops take), desktop count, limits, labels and state. Placement
 *   itself is pure (model/placement.c).
 */
#include "config.h"

#include <stdio.h>

#include "array.h"
#include "cluster.h"
#include "log.h"
#include "strv.h"
#include "util.h"

static int
cluster_host_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cluster_host *) a)->row->name,
                  ((const struct cluster_host *) b)->row->name);
}

void
cluster_listing_done(struct cluster_listing *l)
{
    hv_domain_list_free(l->doms, l->n_doms);
    strv_free_n(l->vols, l->n_vols);
    *l = (struct cluster_listing) { 0 };
}

int
cluster_list_host(struct hv *hv, const char *prefix, const char *storage_pool,
                  uint64_t max_age_usec, struct cluster_listing *ret)
{
    struct cluster_listing l = { 0 };
    int r;

    r = hv_domain_list_watched(hv, prefix, max_age_usec, &l.doms, &l.n_doms, &l.full);
    if (r < 0)
        return r;
    if (l.full) {
        r = hv_volume_list(hv, storage_pool, prefix, &l.vols, &l.n_vols);
        if (r < 0) {
            /* the volumes must be listed again with the domains */
            hv_watch_invalidate(hv);
            cluster_listing_done(&l);
            return r;
        }
    }
    *ret = l;
    return 0;
}

static void
cluster_host_take(struct cluster_host *h, struct cluster_listing *l)
{
    h->doms = TAKE_PTR(l->doms);
    h->n_doms = l->n_doms;
    h->vols = TAKE_PTR(l->vols);
    h->n_vols = l->n_vols;
    h->full = l->full;
    *l = (struct cluster_listing) { 0 };
}

/* Lists host H; false when it does not answer. */
static bool
observe_one(struct cluster_host *h, const char *prefix, const char *storage_pool,
            uint64_t max_age_usec)
{
    struct cluster_listing l = { 0 };

    if (!h->hv || !hv_is_alive(h->hv) || h->view.conn != HOST_CONN_UP)
        return false;
    if (cluster_list_host(h->hv, prefix, storage_pool, max_age_usec, &l) < 0)
        return false;
    cluster_host_take(h, &l);
    return true;
}

/* Carries out H's fences; false while one is left. */
static bool
fence_host(struct cluster_host *h, struct fence *const *f, size_t n_f, struct store *s,
           const char *storage_pool)
{
    bool ok = true;

    for (size_t i = 0; i < n_f; i++) {
        _cleanup_free_ char *vol = NULL;
        int r;

        if (!streq(f[i]->host, h->row->name))
            continue;
        r = hv_domain_destroy(h->hv, f[i]->domain);
        if (r >= 0 || r == -ENOENT)
            r = hv_domain_undefine(h->hv, f[i]->domain);
        if (r == -ENOENT)
            r = 0;
        if (r >= 0) {
            vol = desk_volume_name(f[i]->domain);
            r = hv_volume_delete(h->hv, storage_pool, vol);
        }
        if (r < 0) {
            log_error_errno(r, "Cannot fence domain '%s' of desktop '%s' on host '%s' (it "
                            "was replaced while the host was lost); nothing runs there "
                            "until it is gone", f[i]->domain, f[i]->desktop, h->row->name);
            ok = false;
            continue;
        }
        log_notice("Fenced domain '%s' on host '%s': desktop '%s' was replaced while the "
                   "host was lost", f[i]->domain, h->row->name, f[i]->desktop);
        (void) store_audit(s, "reconciler", "host.fenced", NULL, f[i]->desktop, NULL,
                           f[i]->domain);
        (void) store_fence_done(s, f[i]->id);
    }
    return ok;
}

int
cluster_observe(struct cluster *c, struct hosts *hs, struct store *s, struct hv *local,
                bool local_ok, struct cluster_listing *local_listing, const char *prefix,
                const char *storage_pool, uint64_t max_age_usec, unsigned grace)
{
    struct host **rows = NULL;
    struct fence **fences = NULL;
    size_t n_rows = 0, n_fences = 0;
    int r;

    *c = (struct cluster) { .now = (int64_t) (now_realtime_usec() / 1000000ULL) };
    r = store_host_list(s, &rows, &n_rows);
    if (r >= 0)
        r = store_fence_list(s, NULL, &fences, &n_fences);
    if (r < 0) {
        host_list_free(rows, n_rows);
        cluster_listing_done(local_listing);
        return r;
    }
    if (hs)
        hosts_sync(hs, rows, n_rows);
    c->h = xmalloc0(sizeof(*c->h) * (n_rows + 1));
    for (size_t i = 0; i < n_rows; i++) {
        struct cluster_host *h = &c->h[c->n++];
        bool is_local = streq(rows[i]->name, HOST_LOCAL);

        h->row = TAKE_PTR(rows[i]);
        if (is_local) {
            if (!hs || hosts_get_view(hs, HOST_LOCAL, &h->view) < 0)
                h->view = (struct host_view) {
                    .name = xstrdup(HOST_LOCAL), .uri = xstrdup(hv_uri(local)),
                    .local_qemu = hv_is_local_qemu(local),
                };
            h->view.conn = local_ok ? HOST_CONN_UP : HOST_CONN_DOWN;
            h->hv = hv_ref(local);
            h->observed = local_ok;
            cluster_host_take(h, local_listing);
        } else if (hs && hosts_get_view(hs, h->row->name, &h->view) >= 0) {
            h->hv = hosts_get_hv(hs, h->row->name);
            h->observed = observe_one(h, prefix, storage_pool, max_age_usec);
        } else {
            h->view = (struct host_view) { .name = xstrdup(h->row->name),
                                           .conn = HOST_CONN_CONNECTING, .since = c->now };
        }
        if (h->observed && n_fences > 0)
            h->observed = fence_host(h, fences, n_fences, s, storage_pool);
        if (h->row->console_address)
            h->console_address = xstrdup(h->row->console_address);
        else if (!is_local)
            h->console_address = host_uri_hostname(h->row->uri);
        /* a host that never answered since the daemon started is as
         * unknown as one that stopped answering */
        h->lost = !h->observed && h->view.conn != HOST_CONN_UP &&
                  c->now - h->view.since >= (int64_t) grace;
    }
    free(rows);
    fence_list_free(fences, n_fences);
    /* the local host's listing, when the store had no local row (cannot
     * happen after migration 6, but nothing may leak) */
    cluster_listing_done(local_listing);
    qsort(c->h, c->n, sizeof(*c->h), cluster_host_cmp);
    return 0;
}

void
cluster_done(struct cluster *c)
{
    for (size_t i = 0; i < c->n; i++) {
        struct cluster_host *h = &c->h[i];

        host_free(h->row);
        host_view_done(&h->view);
        hv_unref(h->hv);
        hv_domain_list_free(h->doms, h->n_doms);
        strv_free_n(h->vols, h->n_vols);
        free(h->console_address);
    }
    free(c->h);
    *c = (struct cluster) { 0 };
}

const struct cluster_host *
cluster_find(const struct cluster *c, const char *name)
{
    for (size_t i = 0; name && i < c->n; i++)
        if (streq(c->h[i].row->name, name))
            return &c->h[i];
    return NULL;
}

void
cluster_observe_desk(const struct cluster *c, const struct desk *d, struct planner_desk *pd)
{
    const struct cluster_host *h = cluster_find(c, d->host);
    struct hv_domain key = { .name = d->domain };
    const struct hv_domain *dom;

    if (!h || !h->observed) {
        pd->host_down = true;
        pd->host_lost = h ? h->lost : false;
        pd->host_draining = h && h->row->admin == HOST_ADMIN_DRAINING;
        return;
    }
    dom = bsearch(&key, h->doms, h->n_doms, sizeof(*h->doms), hv_domain_cmp);
    pd->dom_exists = dom != NULL;
    pd->dom_active = dom && dom->active;
    pd->dom_guest_shutdown = dom && dom->guest_shutdown;
    if (h->row->admin == HOST_ADMIN_DRAINING) {
        pd->host_draining = true;
        if (h->row->drain_warn > 0)
            pd->drain_deadline = h->row->drain_since + (int64_t) h->row->drain_warn;
    }
}

int
cluster_view(struct cluster *c, struct hosts *hs, struct store *s, struct hv *local,
             unsigned grace)
{
    struct host **rows = NULL;
    size_t n_rows = 0;
    int r;

    *c = (struct cluster) { .now = (int64_t) (now_realtime_usec() / 1000000ULL) };
    r = store_host_list(s, &rows, &n_rows);
    if (r < 0)
        return r;
    c->h = xmalloc0(sizeof(*c->h) * (n_rows + 1));
    for (size_t i = 0; i < n_rows; i++) {
        struct cluster_host *h = &c->h[c->n++];

        h->row = TAKE_PTR(rows[i]);
        if (hosts_get_view(hs, h->row->name, &h->view) < 0)
            h->view = (struct host_view) { .name = xstrdup(h->row->name),
                                           .conn = HOST_CONN_CONNECTING, .since = c->now };
        if (streq(h->row->name, HOST_LOCAL) && local && !hv_is_alive(local))
            h->view.conn = HOST_CONN_DOWN;
        h->hv = hosts_get_hv(hs, h->row->name);
        h->observed = h->view.conn == HOST_CONN_UP;
        h->lost = !h->observed && c->now - h->view.since >= (int64_t) grace;
    }
    free(rows);
    qsort(c->h, c->n, sizeof(*c->h), cluster_host_cmp);
    return 0;
}
