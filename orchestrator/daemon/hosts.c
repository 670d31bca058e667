/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hosts.c - the daemon's hosts: one libvirt connection each
 *
 * DESIGN
 *   The store says which hosts exist (store-host.c); this file holds what
 *   the daemon sees of them. The local host is the daemon's own `uri`
 *   connection: opened at startup, reconnected by the reconciler, its
 *   domain type probed by deskpoold.c, as before there were hosts.
 *
 *   Every other host gets a thread of its own, because connecting to a
 *   remote libvirtd (qemu+ssh://, qemu+tls://) can block for as long as
 *   TCP and ssh take to give up, and one unreachable host must never hold
 *   up the others or a reconcile pass. The thread connects (libvirt's
 *   keepalive: hv_open()), makes sure the storage pool exists at the
 *   host's storage directory, reads the host's facts (memory, CPUs,
 *   versions), finds its domain type (remembered in the store per URI,
 *   else probed there by booting the probe guest, hv-probe.c), and only
 *   then calls it up. Then it watches the connection once a second and
 *   reconnects when it drops, backing off from 1 s to 10 s. Every change
 *   of state, and every libvirt event on the host, wakes the reconciler.
 *
 *   Entries are reference-counted: a removed host's thread may be stuck
 *   in a connect; it finds the stop flag when that returns and drops the
 *   last reference itself. Threads are detached; hosts_free() waits a
 *   bounded time for them.
 *
 *   Never: call libvirt with hs->lock held.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "hosts.h"
#include "log.h"
#include "strv.h"
#include "util.h"

#define HOST_BACKOFF_MIN_SEC 1
#define HOST_BACKOFF_MAX_SEC 10
#define HOST_REFRESH_SEC 30     /* node facts re-read while up */
#define HOSTS_FREE_WAIT_SEC 10  /* how long shutdown waits for connecting threads */

static const char *const host_conn_names[_HOST_CONN_MAX] = {
    [HOST_CONN_CONNECTING] = "connecting",
    [HOST_CONN_UP] = "up",
    [HOST_CONN_DOWN] = "down",
};

const char *
host_conn_to_string(enum host_conn c)
{
    if (c < 0 || c >= _HOST_CONN_MAX)
        return NULL;
    return host_conn_names[c];
}

struct host_entry {
    struct hosts *hs;
    unsigned n_ref;          /* under hs->lock: the list's and the thread's */
    char *name, *uri, *storage_dir;
    bool local;
    bool draining;           /* as the store said at the last hosts_sync() */
    atomic_bool stop;        /* removed, or shutting down */
    /* under hs->lock */
    struct hv *hv;
    enum host_conn conn;
    int64_t since;
    char *last_error;
    char *virt_type;
    struct hv_node_info node;
    int64_t refreshed;       /* unix seconds node was read */
};

struct hosts {
    pthread_mutex_t lock;    /* guards everything, entries included */
    pthread_cond_t cond;     /* threads: stop; free: threads gone */
    struct host_entry **e;
    size_t n, cap;
    unsigned threads;        /* running */
    void (*wake)(void *userdata);
    void *wake_userdata;
    struct store *store;
    char *instance, *storage_pool, *storage_dir;
    unsigned probe_timeout;
};

static int64_t
now_sec(void)
{
    return (int64_t) (now_realtime_usec() / 1000000ULL);
}

/* Drops a reference; lock held. The last one frees. */
static void
entry_unref_locked(struct host_entry *e)
{
    if (--e->n_ref > 0)
        return;
    hv_unref(e->hv);
    free(e->name);
    free(e->uri);
    free(e->storage_dir);
    free(e->last_error);
    free(e->virt_type);
    hv_node_info_done(&e->node);
    free(e);
}

static void
wake(struct hosts *hs)
{
    void (*fn)(void *);
    void *userdata;

    pthread_mutex_lock(&hs->lock);
    fn = hs->wake;
    userdata = hs->wake_userdata;
    pthread_mutex_unlock(&hs->lock);
    if (fn)
        fn(userdata);
}

static void
on_event(void *userdata)
{
    wake(userdata);
}

/* Sets E's connection state (and error: NULL keeps the last one when going
 * up is not the change). Logs and wakes on a change. */
static void
entry_set_state(struct host_entry *e, enum host_conn conn, const char *err)
{
    struct hosts *hs = e->hs;
    bool changed;

    pthread_mutex_lock(&hs->lock);
    changed = e->conn != conn;
    if (changed) {
        e->conn = conn;
        e->since = now_sec();
    }
    if (err || conn == HOST_CONN_UP) {
        free(e->last_error);
        e->last_error = xstrdup(err);
    }
    pthread_mutex_unlock(&hs->lock);
    if (!changed)
        return;
    if (conn == HOST_CONN_UP)
        log_notice("Host '%s' (%s) is up", e->name, e->uri);
    else if (conn == HOST_CONN_DOWN)
        log_warning("Host '%s' (%s) is down: %s", e->name, e->uri,
                    err ? err : "the connection was lost");
    wake(hs);
}

/* Sleeps SEC seconds or until E is stopped. */
static void
entry_wait(struct host_entry *e, unsigned sec)
{
    struct hosts *hs = e->hs;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += sec;
    pthread_mutex_lock(&hs->lock);
    while (!atomic_load(&e->stop))
        if (pthread_cond_timedwait(&hs->cond, &hs->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&hs->lock);
}

static void
entry_read_node(struct host_entry *e, struct hv *h)
{
    struct hv_node_info node = { 0 };

    if (hv_node_get_info(h, &node, NULL) < 0)
        return;
    pthread_mutex_lock(&e->hs->lock);
    hv_node_info_done(&e->node);
    e->node = node;
    e->refreshed = now_sec();
    pthread_mutex_unlock(&e->hs->lock);
}

/* Storage pool, facts, domain type: 0 when the host can take desktops. */
static int
entry_prepare(struct host_entry *e, struct hv *h, char **reterr_msg)
{
    struct hosts *hs = e->hs;
    _cleanup_free_ char *key = xasprintf("virt_type:%s", e->uri), *type = NULL, *err = NULL;
    const char *dir = e->storage_dir ? e->storage_dir : hs->storage_dir;
    uint64_t start;
    int r;

    r = hv_storage_pool_ensure(h, hs->storage_pool, dir, &err);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot set up storage pool '%s' at '%s' there: %s",
                                hs->storage_pool, dir, strempty(err));
        return r;
    }
    entry_read_node(e, h);
    if (store_meta_get(hs->store, key, &type) < 0) {
        log_notice("Probing which domain type runs guests on host '%s'", e->name);
        start = now_usec();
        free(err);
        err = NULL;
        r = hv_detect_virt_type(h, hs->storage_pool, hs->instance, hs->probe_timeout, &e->stop,
                                &type, &err);
        if (r < 0) {
            *reterr_msg = xasprintf("No domain type runs guests there: %s", strempty(err));
            return r;
        }
        log_notice("Host '%s': domain type '%s' probed in %.1f s", e->name, type,
                   (double) (now_usec() - start) / 1e6);
        (void) store_meta_set(hs->store, key, type);
    }
    pthread_mutex_lock(&hs->lock);
    free(e->virt_type);
    e->virt_type = TAKE_PTR(type);
    pthread_mutex_unlock(&hs->lock);
    return 0;
}

static void *
entry_thread(void *userdata)
{
    struct host_entry *e = userdata;
    struct hosts *hs = e->hs;
    unsigned backoff = HOST_BACKOFF_MIN_SEC;
    struct hv *h = NULL;

    while (!atomic_load(&e->stop)) {
        _cleanup_free_ char *err = NULL;
        enum host_conn conn;
        int r = 0;

        if (!h) {
            r = hv_open(e->uri, &h, &err);
            if (r >= 0) {
                (void) hv_set_event_callback(h, on_event, hs);
                pthread_mutex_lock(&hs->lock);
                e->hv = hv_ref(h);
                pthread_mutex_unlock(&hs->lock);
            }
        } else if (!hv_is_alive(h)) {
            entry_set_state(e, HOST_CONN_DOWN, "the connection was lost");
            r = hv_reconnect(h, &err);
        }
        pthread_mutex_lock(&hs->lock);
        conn = e->conn;
        pthread_mutex_unlock(&hs->lock);
        if (r >= 0 && conn != HOST_CONN_UP) {
            free(err);
            err = NULL;
            r = entry_prepare(e, h, &err);
            if (r >= 0) {
                entry_set_state(e, HOST_CONN_UP, NULL);
                backoff = HOST_BACKOFF_MIN_SEC;
            }
        }
        if (r < 0) {
            if (r != -ECANCELED)
                entry_set_state(e, HOST_CONN_DOWN, err ? err : "cannot connect");
            entry_wait(e, backoff);
            backoff = MIN(backoff * 2, HOST_BACKOFF_MAX_SEC);
            continue;
        }
        pthread_mutex_lock(&hs->lock);
        conn = now_sec() >= e->refreshed + HOST_REFRESH_SEC ? HOST_CONN_CONNECTING : conn;
        pthread_mutex_unlock(&hs->lock);
        if (conn == HOST_CONN_CONNECTING) /* stale: read again */
            entry_read_node(e, h);
        entry_wait(e, 1);
    }
    if (h)
        (void) hv_set_event_callback(h, NULL, NULL);
    hv_unref(h);
    pthread_mutex_lock(&hs->lock);
    entry_unref_locked(e);
    hs->threads--;
    pthread_cond_broadcast(&hs->cond);
    pthread_mutex_unlock(&hs->lock);
    return NULL;
}

static struct host_entry *
entry_new(struct hosts *hs, const char *name, const char *uri, const char *storage_dir)
{
    struct host_entry *e = xmalloc0(sizeof(*e));

    e->hs = hs;
    e->n_ref = 1;
    e->name = xstrdup(name);
    e->uri = xstrdup(uri);
    e->storage_dir = xstrdup(storage_dir);
    e->conn = HOST_CONN_CONNECTING;
    e->since = now_sec();
    atomic_init(&e->stop, false);
    return e;
}

int
hosts_new(const struct conf *c, struct store *s, struct hv *local, struct hosts **ret)
{
    struct hosts *hs = xmalloc0(sizeof(*hs));
    struct host_entry *e;

    pthread_mutex_init(&hs->lock, NULL);
    pthread_cond_init(&hs->cond, NULL);
    hs->store = s;
    hs->instance = xstrdup(c->instance);
    hs->storage_pool = xstrdup(c->storage_pool);
    hs->storage_dir = xstrdup(c->storage_dir);
    hs->probe_timeout = c->virt_probe_timeout;
    e = entry_new(hs, HOST_LOCAL, c->uri, NULL);
    e->local = true;
    e->hv = hv_ref(local);
    e->conn = HOST_CONN_UP;
    /* its facts come with the reconciler's first pass: no libvirt call
     * here, where a slow libvirt would hold up the daemon's start */
    ARRAY_GROW(hs->e, hs->cap, 1);
    hs->e[hs->n++] = e;
    *ret = hs;
    return 0;
}

void
hosts_set_wake(struct hosts *hs, void (*fn)(void *userdata), void *userdata)
{
    pthread_mutex_lock(&hs->lock);
    hs->wake = fn;
    hs->wake_userdata = userdata;
    pthread_mutex_unlock(&hs->lock);
}

static ssize_t
find_locked(struct hosts *hs, const char *name)
{
    for (size_t i = 0; i < hs->n; i++)
        if (streq(hs->e[i]->name, name))
            return (ssize_t) i;
    return -1;
}

void
hosts_sync(struct hosts *hs, struct host *const *rows, size_t n)
{
    pthread_mutex_lock(&hs->lock);
    /* gone from the store (removed): stop */
    for (size_t i = 0; i < hs->n;) {
        struct host_entry *e = hs->e[i];
        bool keep = e->local;

        for (size_t k = 0; k < n && !keep; k++)
            keep = streq(rows[k]->name, e->name) && streq(rows[k]->uri, e->uri);
        if (keep) {
            i++;
            continue;
        }
        log_notice("Host '%s' removed: closing its connection", e->name);
        atomic_store(&e->stop, true);
        pthread_cond_broadcast(&hs->cond);
        hs->e[i] = hs->e[--hs->n];
        entry_unref_locked(e);
    }
    for (size_t k = 0; k < n; k++) {
        struct host_entry *e;
        pthread_attr_t attr;
        pthread_t t;
        ssize_t i = find_locked(hs, rows[k]->name);

        if (i >= 0)
            hs->e[i]->draining = rows[k]->admin == HOST_ADMIN_DRAINING;
        if (streq(rows[k]->name, HOST_LOCAL) || i >= 0)
            continue;
        e = entry_new(hs, rows[k]->name, rows[k]->uri, rows[k]->storage_dir);
        e->n_ref = 2; /* the list's and the thread's */
        e->draining = rows[k]->admin == HOST_ADMIN_DRAINING;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, entry_thread, e) != 0) {
            log_error("Cannot start the connection thread of host '%s'", e->name);
            e->n_ref = 1;
            entry_unref_locked(e);
            pthread_attr_destroy(&attr);
            continue;
        }
        pthread_attr_destroy(&attr);
        hs->threads++;
        ARRAY_GROW(hs->e, hs->cap, hs->n + 1);
        hs->e[hs->n++] = e;
        log_notice("Host '%s' (%s) added: connecting", e->name, e->uri);
    }
    pthread_mutex_unlock(&hs->lock);
}

struct hv *
hosts_get_hv(struct hosts *hs, const char *name)
{
    struct hv *h = NULL;
    ssize_t i;

    pthread_mutex_lock(&hs->lock);
    i = find_locked(hs, name);
    if (i >= 0)
        h = hv_ref(hs->e[i]->hv);
    pthread_mutex_unlock(&hs->lock);
    return h;
}

void
host_view_done(struct host_view *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->uri);
    free(v->last_error);
    free(v->virt_type);
    hv_node_info_done(&v->node);
    *v = (struct host_view) { 0 };
}

void
host_view_list_free(struct host_view *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        host_view_done(&v[i]);
    free(v);
}

static void
view_copy_locked(const struct host_entry *e, struct host_view *v)
{
    *v = (struct host_view) {
        .name = xstrdup(e->name),
        .uri = xstrdup(e->hv ? hv_uri(e->hv) : e->uri),
        .conn = e->conn,
        .since = e->since,
        .last_error = xstrdup(e->last_error),
        .virt_type = xstrdup(e->virt_type),
        .local_qemu = e->hv && hv_is_local_qemu(e->hv),
        .node = {
            .memory = e->node.memory,
            .free_memory = e->node.free_memory,
            .cpus = e->node.cpus,
            .hostname = xstrdup(e->node.hostname),
            .libvirt_version = xstrdup(e->node.libvirt_version),
            .hypervisor = xstrdup(e->node.hypervisor),
        },
        .reconnects = e->hv ? hv_reconnects(e->hv) : 0,
    };
    if (e->hv)
        hv_watch_get_stats(e->hv, &v->watch);
}

int
hosts_get_view(struct hosts *hs, const char *name, struct host_view *ret)
{
    ssize_t i;

    pthread_mutex_lock(&hs->lock);
    i = find_locked(hs, name);
    if (i >= 0)
        view_copy_locked(hs->e[i], ret);
    pthread_mutex_unlock(&hs->lock);
    return i >= 0 ? 0 : -ENOENT;
}

static int
view_cmp(const void *a, const void *b)
{
    return strcmp(((const struct host_view *) a)->name, ((const struct host_view *) b)->name);
}

struct host_view *
hosts_list(struct hosts *hs, size_t *ret_n)
{
    struct host_view *v;
    size_t n;

    pthread_mutex_lock(&hs->lock);
    n = hs->n;
    v = xmalloc0(sizeof(*v) * (n + 1));
    for (size_t i = 0; i < n; i++)
        view_copy_locked(hs->e[i], &v[i]);
    pthread_mutex_unlock(&hs->lock);
    qsort(v, n, sizeof(*v), view_cmp);
    *ret_n = n;
    return v;
}

unsigned
hosts_avoid(struct hosts *hs, char **ret_down, char **ret_draining)
{
    _cleanup_(strv_freep) char **down = NULL, **draining = NULL;
    size_t n_down = 0, n_draining = 0;
    unsigned up = 0;

    pthread_mutex_lock(&hs->lock);
    down = xmalloc0(sizeof(char *) * (hs->n + 1));
    draining = xmalloc0(sizeof(char *) * (hs->n + 1));
    for (size_t i = 0; i < hs->n; i++) {
        if (hs->e[i]->conn == HOST_CONN_UP)
            up++;
        else
            down[n_down++] = xstrdup(hs->e[i]->name);
        if (hs->e[i]->draining)
            draining[n_draining++] = xstrdup(hs->e[i]->name);
    }
    pthread_mutex_unlock(&hs->lock);
    *ret_down = strv_join(down, ',');
    *ret_draining = strv_join(draining, ',');
    return up;
}

bool
hosts_any_up(struct hosts *hs)
{
    struct hv *local = NULL;
    bool up = false;

    pthread_mutex_lock(&hs->lock);
    for (size_t i = 0; i < hs->n && !up; i++) {
        if (hs->e[i]->local)
            local = hv_ref(hs->e[i]->hv);
        else
            up = hs->e[i]->conn == HOST_CONN_UP;
    }
    pthread_mutex_unlock(&hs->lock);
    /* the local connection is watched by the reconciler: ask it directly */
    if (!up && local)
        up = hv_is_alive(local);
    hv_unref(local);
    return up;
}

void
hosts_set_local_virt_type(struct hosts *hs, const char *virt_type)
{
    pthread_mutex_lock(&hs->lock);
    for (size_t i = 0; i < hs->n; i++)
        if (hs->e[i]->local) {
            free(hs->e[i]->virt_type);
            hs->e[i]->virt_type = xstrdup(virt_type);
        }
    pthread_mutex_unlock(&hs->lock);
}

void
hosts_set_local_state(struct hosts *hs, bool up, const char *err)
{
    struct host_entry *e = NULL;
    bool refresh = false;

    pthread_mutex_lock(&hs->lock);
    for (size_t i = 0; i < hs->n && !e; i++)
        if (hs->e[i]->local)
            e = hs->e[i];
    if (e) {
        enum host_conn conn = up ? HOST_CONN_UP : HOST_CONN_DOWN;

        if (e->conn != conn) {
            e->conn = conn;
            e->since = now_sec();
        }
        refresh = up && now_sec() >= e->refreshed + HOST_REFRESH_SEC;
        if (!up) {
            free(e->last_error);
            e->last_error = xstrdup(err);
        }
        e->n_ref++;
    }
    pthread_mutex_unlock(&hs->lock);
    if (!e)
        return;
    if (refresh) {
        struct hv *h = hosts_get_hv(hs, HOST_LOCAL);

        if (h)
            entry_read_node(e, h);
        hv_unref(h);
    }
    pthread_mutex_lock(&hs->lock);
    entry_unref_locked(e);
    pthread_mutex_unlock(&hs->lock);
}

struct hosts *
hosts_free(struct hosts *hs)
{
    struct timespec ts;

    if (!hs)
        return NULL;
    pthread_mutex_lock(&hs->lock);
    for (size_t i = 0; i < hs->n; i++)
        atomic_store(&hs->e[i]->stop, true);
    pthread_cond_broadcast(&hs->cond);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += HOSTS_FREE_WAIT_SEC;
    while (hs->threads > 0)
        if (pthread_cond_timedwait(&hs->cond, &hs->lock, &ts) == ETIMEDOUT)
            break;
    if (hs->threads > 0) {
        /* a connect still blocked: its thread keeps its entry and exits
         * with the process; the shared state must stay, so leak it */
        log_warning("%u host connection(s) still connecting at shutdown", hs->threads);
        pthread_mutex_unlock(&hs->lock);
        return NULL;
    }
    for (size_t i = 0; i < hs->n; i++)
        entry_unref_locked(hs->e[i]);
    pthread_mutex_unlock(&hs->lock);
    free(hs->e);
    free(hs->instance);
    free(hs->storage_pool);
    free(hs->storage_dir);
    pthread_cond_destroy(&hs->cond);
    pthread_mutex_destroy(&hs->lock);
    free(hs);
    return NULL;
}
