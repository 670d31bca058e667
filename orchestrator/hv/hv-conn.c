/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-conn.c - the libvirt connection: open, keepalive, loss, reconnection,
 * events, and how slow libvirt answers
 *
 * DESIGN
 *   A struct hv is one libvirt URI. Its connection comes and goes: libvirtd
 *   may be restarted, a remote host may drop off the network. Each
 *   connection gets a struct hv_link that its libvirt registrations point
 *   to (lifecycle events, guest agent events, the close callback); libvirt
 *   owns a reference of the link per registration and drops it when the
 *   registration is gone, so a callback running late never touches freed
 *   memory. struct hv holds the current link and the connection's own
 *   reference. The close callback holds no reference: unregistering it
 *   is synchronous (see hv_link_open()).
 *
 *   Loss is seen two ways: libvirt's close callback (the socket reached
 *   EOF, or the keepalive of 5 s x 3 missed answers expired) marks the
 *   link closed and wakes the owner through the lifecycle callback, and
 *   virConnectIsAlive() says the same when asked. From then on every hv_*
 *   call fails at once with -ENOTCONN instead of waiting on a dead socket.
 *   hv_reconnect() (the reconciler calls it, at most every
 *   HV_RECONNECT_GAP_USEC) opens a new connection, registers on it, and
 *   only then swaps it in: a caller always sees either the old link or a
 *   complete new one. Objects looked up through the old connection keep it
 *   alive until they are freed (libvirt's own reference counting).
 *
 *   Threads: any thread may call any hv_* function. h->lock guards the
 *   current link, the callback and the slow-call record, and is never held
 *   while calling libvirt (the close callback takes it from the event loop
 *   thread). A link's own lock guards its callback and agent counter.
 *
 *   Slow libvirt: calls that should take milliseconds (define, capability
 *   queries, open) are timed; one over HV_SLOW_USEC is recorded for the
 *   daemon to warn about once (hv_get_slow()). On libvirt 9.0 a /dev/kvm
 *   QEMU may not open makes every such call re-probe QEMU (~4 s each).
 *
 *   Never: log above debug, hold h->lock across a libvirt call.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <time.h>

#include <libvirt/virterror.h>

#include "hv-priv.h"
#include "log.h"
#include "util.h"

#define HV_KEEPALIVE_INTERVAL 5  /* seconds between keepalive probes */
#define HV_KEEPALIVE_COUNT 3     /* unanswered probes before the link is dead */
#define HV_RECONNECT_GAP_USEC (1000 * 1000ULL)
#define HV_SLOW_USEC (2 * 1000 * 1000ULL)
#define HV_LINK_RELEASE_POLLS 200 /* x 10 ms: how long a closing link waits for libvirt */

struct hv_link {
    unsigned n_ref;            /* atomic: hv's and one per libvirt registration */
    virConnectPtr conn;        /* borrowed: struct hv owns the reference */
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t agent_cond; /* broadcast on every guest agent event */
    uint64_t agent_events;
    hv_event_cb cb;            /* lifecycle callback; NULL once torn down */
    void *userdata;
    bool closed;               /* libvirt said the connection is gone */
    int lifecycle_id, agent_id; /* -1: not registered */
    bool close_registered;
    struct hv_watch *watch;    /* what the lifecycle events say (hv-watch.c); set
                                * once at open, freed with the link */
};

static struct hv_link *
hv_link_ref(struct hv_link *l)
{
    __atomic_add_fetch(&l->n_ref, 1, __ATOMIC_RELAXED);
    return l;
}

/* Gives back a reference that cannot be the last (one made for libvirt
 * that a failed registration did not take). */
static void
hv_link_drop(struct hv_link *l)
{
    unsigned left = __atomic_sub_fetch(&l->n_ref, 1, __ATOMIC_ACQ_REL);

    assert(left > 0);
    (void) left;
}

static void
hv_link_unref(void *opaque)
{
    struct hv_link *l = opaque;

    if (!l || __atomic_sub_fetch(&l->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    hv_watch_unref(l->watch);
    pthread_cond_destroy(&l->agent_cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* ---- libvirt's callbacks (event loop thread) ---- */

static int
hv_link_lifecycle(virConnectPtr conn _unused_, virDomainPtr dom, int event _unused_,
                  int detail _unused_, void *opaque)
{
    struct hv_link *l = opaque;

    /* the name came with the event: no round trip */
    hv_watch_mark(l->watch, virDomainGetName(dom), true);
    pthread_mutex_lock(&l->lock);
    if (l->cb)
        l->cb(l->userdata);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static int
hv_link_agent(virConnectPtr conn _unused_, virDomainPtr dom _unused_, int state _unused_,
              int reason _unused_, void *opaque)
{
    struct hv_link *l = opaque;

    pthread_mutex_lock(&l->lock);
    l->agent_events++;
    pthread_cond_broadcast(&l->agent_cond);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static void
hv_link_closed(virConnectPtr conn _unused_, int reason, void *opaque)
{
    struct hv_link *l = opaque;

    log_debug("libvirt connection closed (reason %d)", reason);
    pthread_mutex_lock(&l->lock);
    l->closed = true;
    /* wake the owner so that it notices and reconnects */
    if (l->cb)
        l->cb(l->userdata);
    pthread_cond_broadcast(&l->agent_cond);
    pthread_mutex_unlock(&l->lock);
}

/* ---- links ---- */

/* Opens URI and registers the link's callbacks on it. Returns 0 and a link
 * with one reference (the caller's), or the table's errno with libvirt's
 * message; an unreachable daemon is -ECONNREFUSED (libvirt says ENOENT
 * when the socket is missing, which would read as "no such object"). */
static int
hv_link_open(struct hv *h, const char *uri, struct hv_link **ret, char **reterr_msg)
{
    struct hv_link *l;
    virConnectPtr conn;
    uint64_t t0 = now_usec();
    int r;

    virSetErrorFunc(NULL, hv_error_silence);
    conn = virConnectOpen(uri);
    if (h)
        hv_note_duration(h, "virConnectOpen", t0);
    if (!conn) {
        r = hv_last_error(reterr_msg);
        assert(r < 0); /* always a negative errno */
        return r == -ENOENT || r == -ENOTCONN ? -ECONNREFUSED : r;
    }
    /* Only remote-capable drivers support keepalive; test:// says no. */
    if (virConnectSetKeepAlive(conn, HV_KEEPALIVE_INTERVAL, HV_KEEPALIVE_COUNT) < 0)
        virResetLastError();

    l = xmalloc0(sizeof(*l));
    l->n_ref = 1;
    l->conn = conn;
    l->lifecycle_id = l->agent_id = -1;
    l->watch = hv_watch_new();
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->agent_cond, NULL);

    /* Best effort each: drivers without an event (test:// has no agent
     * lifecycle) or without an event loop leave boot waits to polling. */
    r = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(hv_link_lifecycle),
                                         hv_link_ref(l), hv_link_unref);
    if (r < 0) {
        virResetLastError();
        hv_link_drop(l);
    } else {
        l->lifecycle_id = r;
    }
    r = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(hv_link_agent),
                                         hv_link_ref(l), hv_link_unref);
    if (r < 0) {
        virResetLastError();
        hv_link_drop(l);
    } else {
        l->agent_id = r;
    }
    /* No reference for libvirt here: drivers without close callbacks (the
     * test driver) accept the registration but keep nothing, so no free
     * callback would ever come; unregistering is synchronous instead (it
     * takes the lock the callback runs under), and comes first in
     * hv_link_close(). */
    if (virConnectRegisterCloseCallback(conn, hv_link_closed, l, NULL) < 0)
        virResetLastError();
    else
        l->close_registered = true;
    *ret = l;
    return 0;
}

/* Stops L's callbacks, unregisters them and closes its connection. L's
 * memory goes when libvirt drops its last registration. */
static void
hv_link_close(struct hv_link *l)
{
    virConnectPtr conn;

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->cb = NULL;
    l->userdata = NULL;
    l->closed = true;
    pthread_cond_broadcast(&l->agent_cond);
    pthread_mutex_unlock(&l->lock);
    conn = l->conn;
    if (l->close_registered && virConnectUnregisterCloseCallback(conn, hv_link_closed) < 0)
        virResetLastError();
    if (l->lifecycle_id >= 0 && virConnectDomainEventDeregisterAny(conn, l->lifecycle_id) < 0)
        virResetLastError();
    if (l->agent_id >= 0 && virConnectDomainEventDeregisterAny(conn, l->agent_id) < 0)
        virResetLastError();
    virConnectClose(conn);
    /* libvirt drops its references from its event loop once nothing is
     * dispatching: wait a moment for that, so the link is freed here and
     * not left to the process's exit */
    for (int i = 0; i < HV_LINK_RELEASE_POLLS &&
                    __atomic_load_n(&l->n_ref, __ATOMIC_ACQUIRE) > 1; i++) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };

        nanosleep(&ts, NULL);
    }
    hv_link_unref(l);
}

/* ---- struct hv ---- */

int
hv_open(const char *uri, struct hv **ret, char **reterr_msg)
{
    struct hv *h = xmalloc0(sizeof(*h));
    struct hv_link *l = NULL;
    char *real_uri;
    int r;

    h->n_ref = 1;
    pthread_mutex_init(&h->lock, NULL);
    r = hv_link_open(h, uri, &l, reterr_msg);
    if (r < 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return r;
    }
    real_uri = virConnectGetURI(l->conn);
    h->uri = xstrdup(real_uri ? real_uri : strempty(uri));
    free(real_uri);
    virResetLastError();
    h->link = l;
    *ret = h;
    return 0;
}

struct hv *
hv_ref(struct hv *h)
{
    if (h)
        __atomic_add_fetch(&h->n_ref, 1, __ATOMIC_RELAXED);
    return h;
}

/* Drops a reference; the last one stops the callback and closes the
 * connection. Cannot fail. Returns NULL. */
struct hv *
hv_unref(struct hv *h)
{
    if (!h)
        return NULL;
    if (__atomic_sub_fetch(&h->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
        return NULL;
    hv_link_close(h->link);
    pthread_mutex_destroy(&h->lock);
    free(h->slow_what);
    free(h->uri);
    free(h);
    return NULL;
}

const char *
hv_uri(const struct hv *h)
{
    return h->uri;
}

bool
hv_is_local_qemu(const struct hv *h)
{
    const char *u = hv_uri(h);

    return u && (streq(u, "qemu:///system") || streq(u, "qemu:///session"));
}

/* The current link with a reference of the caller's, or NULL. */
static struct hv_link *
hv_link_get(struct hv *h)
{
    struct hv_link *l;

    pthread_mutex_lock(&h->lock);
    l = h->link ? hv_link_ref(h->link) : NULL;
    pthread_mutex_unlock(&h->lock);
    return l;
}

int
hv_conn_get(struct hv *h, virConnectPtr *ret, char **reterr_msg)
{
    virConnectPtr conn = NULL;

    pthread_mutex_lock(&h->lock);
    if (h->link) {
        pthread_mutex_lock(&h->link->lock);
        if (!h->link->closed)
            conn = h->link->conn;
        pthread_mutex_unlock(&h->link->lock);
    }
    if (conn && virConnectRef(conn) < 0)
        conn = NULL;
    pthread_mutex_unlock(&h->lock);
    if (!conn)
        return hv_fail(-ENOTCONN, reterr_msg, "The connection to libvirt at '%s' is down.",
                       h->uri);
    *ret = conn;
    return 0;
}

int
hv_conn_get_watch(struct hv *h, virConnectPtr *ret_conn, struct hv_watch **ret_watch)
{
    int r = hv_conn_get(h, ret_conn, NULL);

    if (r < 0)
        return r;
    *ret_watch = hv_watch_get(h);
    if (!*ret_watch) {
        virConnectClose(*ret_conn);
        *ret_conn = NULL;
        return -ENOTCONN;
    }
    return 0;
}

struct hv_watch *
hv_watch_get(struct hv *h)
{
    struct hv_watch *w;

    pthread_mutex_lock(&h->lock);
    w = h->link ? hv_watch_ref(h->link->watch) : NULL;
    pthread_mutex_unlock(&h->lock);
    return w;
}

void
hv_touch(struct hv *h, const char *name)
{
    struct hv_watch *w = hv_watch_get(h);

    hv_watch_mark(w, name, false);
    hv_watch_unref(w);
}

/* False when the connection is gone: libvirt's close callback fired, or
 * (remote URIs) the keepalive expired. */
bool
hv_is_alive(struct hv *h)
{
    virConnectPtr conn = NULL;
    int r;

    if (hv_conn_get(h, &conn, NULL) < 0)
        return false;
    r = virConnectIsAlive(conn);
    if (r < 0)
        virResetLastError();
    virConnectClose(conn);
    return r == 1;
}

int
hv_reconnect(struct hv *h, char **reterr_msg)
{
    struct hv_link *l = NULL, *old;
    uint64_t now = now_usec();
    int r;

    if (hv_is_alive(h))
        return 0;
    pthread_mutex_lock(&h->lock);
    if (now < h->last_reconnect_try + HV_RECONNECT_GAP_USEC) {
        pthread_mutex_unlock(&h->lock);
        return hv_fail(-EAGAIN, reterr_msg, "Reconnected to '%s' a moment ago; waiting.",
                       h->uri);
    }
    h->last_reconnect_try = now;
    pthread_mutex_unlock(&h->lock);

    r = hv_link_open(h, h->uri, &l, reterr_msg);
    if (r < 0)
        return r;
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&l->lock);
    l->cb = h->cb;
    l->userdata = h->userdata;
    pthread_mutex_unlock(&l->lock);
    old = h->link;
    /* the new link's watch starts empty (invalid): what happened while
     * the connection was down is unknown, so the next listing is full */
    if (old)
        hv_watch_carry_stats(l->watch, old->watch);
    h->link = l;
    h->reconnects++;
    pthread_mutex_unlock(&h->lock);
    hv_link_close(old);
    return 0;
}

unsigned
hv_reconnects(struct hv *h)
{
    unsigned n;

    pthread_mutex_lock(&h->lock);
    n = h->reconnects;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* ---- events ---- */

/* Replaces the lifecycle callback (NULL: none), on this connection and on
 * every later one. Once it returns with NULL, the old callback is not
 * running and never runs again. Returns 0. */
int
hv_set_event_callback(struct hv *h, hv_event_cb cb, void *userdata)
{
    pthread_mutex_lock(&h->lock);
    h->cb = cb;
    h->userdata = userdata;
    if (h->link) {
        pthread_mutex_lock(&h->link->lock);
        h->link->cb = cb;
        h->link->userdata = userdata;
        pthread_mutex_unlock(&h->link->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/* Blocks until a guest agent of any domain connects or disconnects, or the
 * connection closes, or TIMEOUT_MS pass. Cannot fail. */
void
hv_wait_agent_event(struct hv *h, unsigned timeout_ms)
{
    struct hv_link *l = hv_link_get(h);
    struct timespec ts;
    uint64_t seen;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (!l || l->agent_id < 0) {
        /* no agent events on this driver: a plain sleep */
        ts = (struct timespec) { .tv_sec = timeout_ms / 1000,
                                 .tv_nsec = (long) (timeout_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        if (l)
            hv_link_unref(l);
        return;
    }
    pthread_mutex_lock(&l->lock);
    seen = l->agent_events;
    while (l->agent_events == seen && !l->closed)
        if (pthread_cond_timedwait(&l->agent_cond, &l->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&l->lock);
    hv_link_unref(l);
}

/* ---- slow calls ---- */

void
hv_note_duration(struct hv *h, const char *what, uint64_t start_usec)
{
    uint64_t took = now_usec() - start_usec;

    if (took < HV_SLOW_USEC)
        return;
    log_debug("libvirt call %s took %.1f s", what, (double) took / 1e6);
    pthread_mutex_lock(&h->lock);
    free(h->slow_what);
    h->slow_what = xstrdup(what);
    h->slow_usec = took;
    h->slow_count++;
    pthread_mutex_unlock(&h->lock);
}

int
hv_get_slow(struct hv *h, char **ret_what, double *ret_seconds, unsigned *ret_count)
{
    int r = 0;

    pthread_mutex_lock(&h->lock);
    if (h->slow_count > 0) {
        *ret_what = xstrdup(h->slow_what);
        *ret_seconds = (double) h->slow_usec / 1e6;
        *ret_count = h->slow_count;
        r = 1;
    }
    pthread_mutex_unlock(&h->lock);
    return r;
}
