/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-watch.c - what libvirt's lifecycle events say about our domains: a
 * cache of their states, so that a reconcile pass need not list them all
 *
 * DESIGN
 *   Each connection (struct hv_link, hv-conn.c) has one watch. The first
 *   hv_domain_list_watched() lists the domains named PREFIX... in full and
 *   keeps the result; from then on a domain counts as unchanged until
 *   something says otherwise:
 *     - a lifecycle event names it (defined, started, stopped, undefined,
 *       suspended, ... anything, including what an administrator or a
 *       guest did);
 *     - one of our own hv_* calls changed it (hv_touch(), made before that
 *       call returns, so its caller's next step cannot race the event).
 *   Such a domain is marked dirty, and the next listing reads it again
 *   (one lookup, plus one state query when it is shut off). The event's
 *   own words are not trusted: events and replies travel separately and
 *   can arrive in either order, and reading the domain gives the truth
 *   whatever the order. So a listing answered from the watch is what a
 *   full listing at that moment would say, at the cost of the domains
 *   that changed.
 *
 *   A mark records the watch's sequence number; reading a domain clears
 *   its mark only when no newer mark came while it was read. A full
 *   listing clears only the marks made before it started.
 *
 *   The safety net: a new connection starts with an empty, invalid watch
 *   (events missed while it was down are unknowable), a prefix change
 *   invalidates it, and the caller asks for a full listing whenever the
 *   last one is older than its resync interval (an event libvirt lost,
 *   a bug). hv_watch_invalidate() forces one (after a storage pool went
 *   away, or for --purge-orphans).
 *
 *   Threads: the lifecycle callback marks from libvirt's event loop
 *   thread; listings and touches come from any thread. w->lock guards
 *   everything and is never held across a libvirt call.
 */
#include "config.h"

#include <stdio.h>

#include <libvirt/virterror.h>

#include "array.h"
#include "hv-priv.h"
#include "log.h"
#include "util.h"

struct hv_watch_mark {
    char *name;
    uint64_t seq;              /* w->seq when it was (last) marked */
};

struct hv_watch {
    unsigned n_ref;            /* atomic */
    pthread_mutex_t lock;      /* guards everything below */
    char *prefix;              /* what the cached listing covers; NULL: none yet */
    bool valid;                /* doms is a full listing kept current since */
    uint64_t last_full;        /* monotonic usec of the last full listing */
    uint64_t seq;              /* bumped by every mark */
    struct hv_domain *doms;    /* sorted by name */
    size_t n_doms, cap_doms;
    struct hv_watch_mark *marks; /* sorted by name */
    size_t n_marks, cap_marks;
    struct hv_watch_stats stats;
};

struct hv_watch *
hv_watch_new(void)
{
    struct hv_watch *w = xmalloc0(sizeof(*w));

    w->n_ref = 1;
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

struct hv_watch *
hv_watch_ref(struct hv_watch *w)
{
    if (w)
        __atomic_add_fetch(&w->n_ref, 1, __ATOMIC_RELAXED);
    return w;
}

static void
marks_clear(struct hv_watch *w)
{
    for (size_t i = 0; i < w->n_marks; i++)
        free(w->marks[i].name);
    w->n_marks = 0;
}

void
hv_watch_unref(struct hv_watch *w)
{
    if (!w || __atomic_sub_fetch(&w->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    hv_domain_list_free(w->doms, w->n_doms);
    marks_clear(w);
    free(w->marks);
    free(w->prefix);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void
mark_locked(struct hv_watch *w, const char *name)
{
    bool found;
    size_t i;

    if (!w->prefix || strncmp(name, w->prefix, strlen(w->prefix)) != 0)
        return;
    w->seq++;
    i = array_find_name(w->marks, w->n_marks, sizeof(*w->marks), name, &found);
    if (found) {
        w->marks[i].seq = w->seq;
        return;
    }
    ARRAY_GROW(w->marks, w->cap_marks, w->n_marks + 1);
    memmove(&w->marks[i + 1], &w->marks[i], (w->n_marks - i) * sizeof(*w->marks));
    w->marks[i] = (struct hv_watch_mark) { .name = xstrdup(name), .seq = w->seq };
    w->n_marks++;
}

void
hv_watch_mark(struct hv_watch *w, const char *name, bool event)
{
    if (!w || !name)
        return;
    pthread_mutex_lock(&w->lock);
    if (event)
        w->stats.events++;
    mark_locked(w, name);
    pthread_mutex_unlock(&w->lock);
}

void
hv_watch_carry_stats(struct hv_watch *to, struct hv_watch *from)
{
    struct hv_watch_stats st;

    if (!to || !from)
        return;
    pthread_mutex_lock(&from->lock);
    st = from->stats;
    pthread_mutex_unlock(&from->lock);
    pthread_mutex_lock(&to->lock);
    to->stats.events += st.events;
    to->stats.full += st.full;
    to->stats.cached += st.cached;
    to->stats.rereads += st.rereads;
    pthread_mutex_unlock(&to->lock);
}

/* Replaces the cache with FRESH (taken over), sorted; drops the marks made
 * up to SEQ, which FRESH covers. */
static void
install_full(struct hv_watch *w, const char *prefix, struct hv_domain *fresh, size_t n,
             uint64_t seq)
{
    size_t k = 0;

    qsort(fresh, n, sizeof(*fresh), hv_domain_cmp);
    hv_domain_list_free(w->doms, w->n_doms);
    w->doms = fresh;
    w->n_doms = w->cap_doms = n;
    for (size_t i = 0; i < w->n_marks; i++) {
        if (w->marks[i].seq <= seq)
            free(w->marks[i].name);
        else
            w->marks[k++] = w->marks[i];
    }
    w->n_marks = k;
    if (!w->prefix || !streq(w->prefix, prefix)) {
        free(w->prefix);
        w->prefix = xstrdup(prefix);
    }
    w->valid = true;
    w->last_full = now_usec();
    w->stats.full++;
}

/* Sets or removes domain D (taken over; NULL name fields mean "gone" for
 * NAME) in the cache. */
static void
cache_put(struct hv_watch *w, const char *name, struct hv_domain *d)
{
    bool found;
    size_t i = array_find_name(w->doms, w->n_doms, sizeof(*w->doms), name, &found);

    if (found) {
        free(w->doms[i].name);
        free(w->doms[i].uuid);
        if (d) {
            w->doms[i] = *d;
            return;
        }
        memmove(&w->doms[i], &w->doms[i + 1], (w->n_doms - i - 1) * sizeof(*w->doms));
        w->n_doms--;
        return;
    }
    if (!d)
        return;
    ARRAY_GROW(w->doms, w->cap_doms, w->n_doms + 1);
    memmove(&w->doms[i + 1], &w->doms[i], (w->n_doms - i) * sizeof(*w->doms));
    w->doms[i] = *d;
    w->n_doms++;
}

/* Reads domain NAME on CONN: 1 and *RET, 0 when there is no such domain,
 * or a negative errno. */
static int
read_one(virConnectPtr conn, const char *name, struct hv_domain *ret)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN];
    int state, reason, r;

    dom = virDomainLookupByName(conn, name);
    if (!dom) {
        r = hv_last_error(NULL);
        return r == -ENOENT ? 0 : r;
    }
    if (virDomainGetUUIDString(dom, uuid) < 0)
        return hv_last_error(NULL);
    /* libvirt's own test of "active": a running domain has an id. The id
     * came with the lookup: no round trip for a running domain. */
    *ret = (struct hv_domain) { .active = virDomainGetID(dom) != (unsigned) -1 };
    virResetLastError();
    if (!ret->active) {
        if (virDomainGetState(dom, &state, &reason, 0) < 0) {
            r = hv_last_error(NULL);
            /* undefined between the lookup and now */
            return r == -ENOENT ? 0 : r;
        }
        ret->guest_shutdown = state == VIR_DOMAIN_SHUTOFF &&
                              reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        if (state != VIR_DOMAIN_SHUTOFF)
            ret->active = true; /* started between the lookup and now */
    }
    ret->name = xstrdup(name);
    ret->uuid = xstrdup(uuid);
    return 1;
}

/* Reads every marked domain again and updates the cache. */
static int
reread_marked(struct hv_watch *w, virConnectPtr conn)
{
    struct hv_watch_mark *pending;
    size_t n;
    int r = 0;

    pthread_mutex_lock(&w->lock);
    n = w->n_marks;
    pending = xmalloc0(sizeof(*pending) * (n + 1));
    for (size_t i = 0; i < n; i++)
        pending[i] = (struct hv_watch_mark) { xstrdup(w->marks[i].name), w->marks[i].seq };
    pthread_mutex_unlock(&w->lock);

    for (size_t i = 0; i < n; i++) {
        struct hv_domain d = { 0 };
        int k = r < 0 ? r : read_one(conn, pending[i].name, &d);
        bool found;
        size_t j;

        if (k < 0) {
            r = k;
            free(pending[i].name);
            continue;
        }
        pthread_mutex_lock(&w->lock);
        w->stats.rereads++;
        cache_put(w, pending[i].name, k > 0 ? &d : NULL);
        j = array_find_name(w->marks, w->n_marks, sizeof(*w->marks), pending[i].name, &found);
        if (found && w->marks[j].seq == pending[i].seq) {
            free(w->marks[j].name);
            memmove(&w->marks[j], &w->marks[j + 1],
                    (w->n_marks - j - 1) * sizeof(*w->marks));
            w->n_marks--;
        }
        pthread_mutex_unlock(&w->lock);
        free(pending[i].name);
    }
    free(pending);
    return r;
}

static struct hv_domain *
cache_copy(const struct hv_watch *w, size_t *ret_n)
{
    struct hv_domain *out = xmalloc0(sizeof(*out) * (w->n_doms + 1));

    for (size_t i = 0; i < w->n_doms; i++)
        out[i] = (struct hv_domain) {
            .name = xstrdup(w->doms[i].name), .uuid = xstrdup(w->doms[i].uuid),
            .active = w->doms[i].active, .guest_shutdown = w->doms[i].guest_shutdown,
        };
    *ret_n = w->n_doms;
    return out;
}

int
hv_domain_list_watched(struct hv *h, const char *prefix, uint64_t max_age_usec,
                       struct hv_domain **ret, size_t *ret_n, bool *ret_full)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    struct hv_watch *w = NULL;
    struct hv_domain *fresh = NULL;
    size_t n_fresh = 0;
    uint64_t seq;
    bool full;
    int r;

    r = hv_conn_get_watch(h, &conn, &w);
    if (r < 0)
        return r;
    pthread_mutex_lock(&w->lock);
    full = !w->valid || !w->prefix || !streq(w->prefix, prefix) ||
           now_usec() - w->last_full >= max_age_usec;
    if (full && (!w->prefix || !streq(w->prefix, prefix))) {
        /* marks are taken only for the prefix in use: start taking them
         * now, so none made during the listing below is lost */
        free(w->prefix);
        w->prefix = xstrdup(prefix);
        marks_clear(w);
    }
    seq = w->seq;
    pthread_mutex_unlock(&w->lock);

    if (full) {
        r = hv_domain_list(h, prefix, &fresh, &n_fresh);
        if (r < 0)
            goto out;
        pthread_mutex_lock(&w->lock);
        install_full(w, prefix, fresh, n_fresh, seq);
        pthread_mutex_unlock(&w->lock);
    }
    /* what changed during the full listing, or since the last listing */
    r = reread_marked(w, conn);
    if (r < 0) {
        pthread_mutex_lock(&w->lock);
        w->valid = false;
        pthread_mutex_unlock(&w->lock);
        goto out;
    }
    pthread_mutex_lock(&w->lock);
    if (!full)
        w->stats.cached++;
    *ret = cache_copy(w, ret_n);
    pthread_mutex_unlock(&w->lock);
    if (ret_full)
        *ret_full = full;
 out:
    hv_watch_unref(w);
    return r;
}

void
hv_watch_invalidate(struct hv *h)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    struct hv_watch *w = NULL;

    if (hv_conn_get_watch(h, &conn, &w) < 0)
        return;
    pthread_mutex_lock(&w->lock);
    w->valid = false;
    pthread_mutex_unlock(&w->lock);
    hv_watch_unref(w);
}

void
hv_watch_get_stats(struct hv *h, struct hv_watch_stats *ret)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    struct hv_watch *w = NULL;

    *ret = (struct hv_watch_stats) { 0 };
    if (hv_conn_get_watch(h, &conn, &w) < 0)
        return;
    pthread_mutex_lock(&w->lock);
    *ret = w->stats;
    ret->pending = w->n_marks;
    pthread_mutex_unlock(&w->lock);
    hv_watch_unref(w);
}
