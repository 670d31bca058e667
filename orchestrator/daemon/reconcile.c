/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* reconcile.c - the level-triggered loop: observe, plan, act
 *
 * DESIGN
 *   Like a Kubernetes controller: each pass reads the desired state (pools
 *   in the store) and the observed state (desktop rows, libvirt's domains
 *   and volumes, which desktops a worker holds), asks the pure planner
 *   what to do, and queues the actions on the bounded worker. Passes run
 *   every reconcile_interval seconds and whenever something wakes the loop
 *   (an API call, a libvirt lifecycle event, a finished action). Nothing
 *   else changes desktops: events and API calls only wake the loop.
 *
 *   Adoption after a crash needs no special code path: the first pass sees
 *   rows in provisioning/booting with no worker on them and rebuilds them;
 *   it sees domains and volumes named with this instance's prefix that no
 *   row names and removes them (domains only when their deskpool metadata
 *   says this instance owns them). Because rows are written before any
 *   libvirt object (actions.c), nothing that matters can be unnamed.
 *
 *   Threads: one loop thread; worker threads run actions; at most one
 *   action per desktop at a time (the in-flight set, under `lock`).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <sys/stat.h>

#include "actions.h"
#include "array.h"
#include "capacity.h"
#include "cluster.h"
#include "history.h"
#include "log.h"
#include "orphans.h"
#include "parent-build.h"
#include "strv.h"
#include "reconcile.h"
#include "tmpl.h"
#include "util.h"
#include "worker.h"

/* Shortest time between two passes: bursts of wake-ups (every acquire and
 * finished action wakes the loop) become one pass. 200 ms: an acquire
 * burst on 3000 desktops kept the loop busy a fifth of the CPU at 50 ms,
 * and a spare made 150 ms later does not matter next to a boot. */
#define RECONCILE_MIN_GAP_MS 200
/* ... and at least this many times the last pass took: at 5,000 desktops
 * a pass takes 40-70 ms, and passes back to back under an acquire burst
 * took a third of the 2 cores the acquires needed. 4: passes use at most
 * a fifth of one core, whatever the size. */
#define RECONCILE_GAP_PASSES 4

/* A small set of names (a handful of actions at a time: a linear search). */
struct names {
    char **v;
    size_t n, cap;
};

struct reconciler {
    struct store *store;
    struct hv *hv;             /* the local host's connection */
    struct hosts *hosts;       /* every host's connection (the local one included) */
    struct footprints *footprints; /* measured desktop footprints per host and template */
    struct history *history;   /* the dashboard's last hours (its own lock) */
    struct worker *worker;

    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t cond;
    pthread_cond_t desk_ready; /* broadcast when an action made a desktop ready */
    uint64_t desk_ready_gen;
    bool waiters_cancelled;    /* shutting down: waiting acquires give up */
    char **waiting_pools;      /* acquires waiting, by pool */
    unsigned *waiting_counts;
    size_t n_waiting, cap_waiting_pools, cap_waiting_counts;
    struct names inflight;     /* desktop and parent names with an action queued or running */
    /* names whose action ended since the running pass began to observe
     * libvirt: busy for that pass too. The pass listed their domains
     * mid-action (a boot clone paused for its snapshot, say) but reads
     * their rows as the action left them: planned on both, a desktop that
     * just became ready would look broken and be "repaired" (the ready
     * count then dips; tests/e2e/rebase.sh caught it). Emptied when a pass
     * begins to observe. */
    struct names settling;
    struct names removing;     /* in flight with a DELETE (planner_desk.removing) */
    struct host_starts { char *host; unsigned n; } *starts; /* boots/restores in flight */
    size_t n_starts, cap_starts;
    bool wake;
    bool purge_orphans;        /* one pass removes every orphan (--purge-orphans) */
    bool listed_full;          /* a pass listed every host in full (the first must) */
    bool slow_warned;          /* the slow-libvirt warning was logged */
    bool store_failing;        /* the last pass could not read the store (logged once) */
    char *slow_warning;        /* its text, for health; NULL when libvirt is quick */
    char **orphans_reported;   /* NULL-terminated: orphans logged once already */
    size_t n_orphans_reported, cap_orphans_reported;
    struct host_orphans {      /* orphans left alone per host, as last seen */
        char *host;
        unsigned volumes;      /* at its last full listing (volumes need one) */
        unsigned others;       /* domains and saved images, at its last pass */
    } *orphan_counts;
    size_t n_orphan_counts, cap_orphan_counts;
    bool replan;               /* the last pass added rows: plan again at once */
    struct reconcile_stats stats;
    struct digest_cache *digests; /* template digests by file (parents) */
    size_t n_digests, cap_digests;
    /* settings, copied from conf */
    char *instance, *prefix, *storage_pool, *storage_dir, *templates_dir, *console_listen;
    char *parents_dir;         /* STATE_DIR/parents */
    char *virt_type;           /* NULL while the domain type is being probed */
    char *virt_type_error;     /* why the probe found none; NULL: none failed */
    char *hooks_dir;
    unsigned hook_timeout, data_disk_size;
    unsigned boot_timeout, boot_delay, max_boot_failures, interval, host_failure_retry;
    unsigned session_retention, audit_retention; /* seconds; 0: keep forever */
    unsigned host_lost_grace, vcpus_per_cpu, memory_overcommit, host_max_starts;
    unsigned resync_interval;          /* libvirt_resync_interval */
    char **unplaced;           /* NULL-terminated: pools whose "no host has room" was
                                * logged (again once they could be placed) */
    size_t n_unplaced, cap_unplaced;
    int64_t last_prune;        /* unix seconds of the last housekeeping */
    bool console_password_required;

    pthread_mutex_t pass_lock; /* one pass at a time */
    pthread_t thread;
    bool thread_started;
    atomic_bool stopping;
};

/* A template file's digest as a parent records it (parent_template_digest()),
 * kept while the file's size and mtime and the domain type are the same. */
struct digest_cache {
    char *path;
    char *virt_type;
    off_t size;
    struct timespec mtime;
    char *digest;
};

struct action_job {
    struct reconciler *r;
    char *start_host;           /* a start (boot, restore) counted against this host */
    enum action_kind kind;
    enum desk_state from;       /* the state it was planned from */
    enum session_end reason;    /* DELETE: why a session on it ends */
    unsigned version;
    char *desktop;              /* or the parent's name, for PARENT_* */
    char *pool;
    char *parent;               /* BUILD, WIPE: the parent to clone from */
    struct action_ctx ctx;
};

static void
action_job_free(void *userdata)
{
    struct action_job *j = userdata;

    free(j->desktop);
    free(j->pool);
    free(j->parent);
    free(j->ctx.parents_dir);
    free(j->ctx.instance);
    free(j->ctx.storage_pool);
    free(j->ctx.templates_dir);
    free(j->ctx.virt_type);
    free(j->ctx.console_listen);
    free(j->ctx.hooks_dir);
    free(j->start_host);
    hv_unref(j->ctx.hv);
    free(j);
}

/* --- starts in flight per host (lock held): the boot-storm limit --- */

static bool
action_starts_guests(enum action_kind k)
{
    return k == ACTION_BUILD || k == ACTION_REPAIR || k == ACTION_WIPE || k == ACTION_REBASE ||
           k == ACTION_PARENT_BUILD;
}

static struct host_starts *
starts_of(struct reconciler *r, const char *host)
{
    for (size_t i = 0; i < r->n_starts; i++)
        if (streq(r->starts[i].host, host))
            return &r->starts[i];
    ARRAY_GROW(r->starts, r->cap_starts, r->n_starts + 1);
    r->starts[r->n_starts] = (struct host_starts) { .host = xstrdup(host) };
    return &r->starts[r->n_starts++];
}

/* --- sets of names: the in-flight and the settling ones (lock held) --- */

static ssize_t
names_find(const struct names *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (streq(l->v[i], name))
            return (ssize_t) i;
    return -1;
}

static void
names_add(struct names *l, const char *name)
{
    ARRAY_GROW(l->v, l->cap, l->n + 1);
    l->v[l->n++] = xstrdup(name);
}

static void
names_remove(struct names *l, const char *name)
{
    ssize_t i = names_find(l, name);

    if (i < 0)
        return;
    free(l->v[i]);
    l->v[i] = l->v[--l->n];
}

static void
names_clear(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static void
names_done(struct names *l)
{
    names_clear(l);
    free(l->v);
    *l = (struct names) { 0 };
}

/* Whether NAME's action runs, or ended since this pass began to observe. */
static bool
busy_in_pass(struct reconciler *r, const char *name)
{
    return names_find(&r->inflight, name) >= 0 || names_find(&r->settling, name) >= 0;
}

static void
inflight_add(struct reconciler *r, const char *name)
{
    names_add(&r->inflight, name);
}

/* NAME's action ended: no longer in flight, settling until the next pass. */
static void
inflight_remove(struct reconciler *r, const char *name)
{
    if (names_find(&r->inflight, name) < 0)
        return;
    names_remove(&r->inflight, name);
    names_remove(&r->removing, name);
    if (names_find(&r->settling, name) < 0)
        names_add(&r->settling, name);
}

/* --- running one action on a worker thread --- */

static void
action_job_run(void *userdata)
{
    struct action_job *j = userdata;
    struct reconciler *r = j->r;
    _cleanup_free_ char *err = NULL;
    uint64_t start = now_usec();
    int res = 0;

    switch (j->kind) {
    case ACTION_BUILD:
        res = action_build(&j->ctx, j->desktop, j->parent, &err);
        break;
    case ACTION_REPAIR:
        res = action_repair(&j->ctx, j->desktop, &err);
        break;
    case ACTION_QUARANTINE:
        res = action_quarantine(&j->ctx, j->desktop, j->from, &err);
        break;
    case ACTION_DELETE:
        res = action_delete(&j->ctx, j->desktop, j->from, j->reason, &err);
        break;
    case ACTION_WIPE:
        res = action_wipe(&j->ctx, j->desktop, j->parent, &err);
        break;
    case ACTION_RETIRE:
        res = action_retire(&j->ctx, j->desktop, &err);
        break;
    case ACTION_PARENT_BUILD:
        res = parent_build(&j->ctx, j->desktop, &err);
        break;
    case ACTION_PARENT_DELETE:
        res = parent_delete(&j->ctx, j->desktop, &err);
        break;
    case ACTION_REBASE:
        res = action_rebase(&j->ctx, j->desktop, j->version, &err);
        break;
    default:
        res = -EINVAL;
        break;
    }

    if (res == -ESTALE) {
        log_debug("Action %s on '%s' skipped: it left state %s since the plan",
                  action_kind_to_string(j->kind), j->desktop, desk_state_to_string(j->from));
    } else if (res == -ECANCELED) {
        log_info("Action %s on '%s' interrupted by shutdown", action_kind_to_string(j->kind),
                 j->desktop);
    } else if (res < 0) {
        log_warning_errno(res, "Action %s on %s '%s' failed: %s",
                          action_kind_to_string(j->kind),
                          j->kind == ACTION_PARENT_BUILD || j->kind == ACTION_PARENT_DELETE
                              ? "parent" : "desktop",
                          j->desktop, err ? err : "(no detail)");
    } else if (j->kind == ACTION_QUARANTINE) {
        log_error("%s", err ? err : "desktop quarantined");
        (void) store_audit(r->store, "reconciler", "desktop.failed", j->pool, j->desktop, NULL,
                           err);
    } else if (j->kind == ACTION_BUILD || j->kind == ACTION_REPAIR) {
        log_info("Desktop '%s' is ready (%.1f s)", j->desktop,
                 (double) (now_usec() - start) / 1e6);
    } else if (j->kind == ACTION_DELETE) {
        log_info("Desktop '%s' deleted", j->desktop);
    } else if (j->kind == ACTION_WIPE) {
        log_info("Desktop '%s' wiped and ready again (%.1f s%s)", j->desktop,
                 (double) (now_usec() - start) / 1e6, j->parent ? ", re-cloned" : "");
    } else if (j->kind == ACTION_PARENT_DELETE) {
        log_info("Parent '%s' deleted: nothing uses it", j->desktop);
    }

    pthread_mutex_lock(&r->lock);
    if (res >= 0 && (j->kind == ACTION_BUILD || j->kind == ACTION_REPAIR ||
                     j->kind == ACTION_WIPE || j->kind == ACTION_REBASE)) {
        r->desk_ready_gen++;
        pthread_cond_broadcast(&r->desk_ready);
    }
    inflight_remove(r, j->desktop);
    if (j->start_host)
        starts_of(r, j->start_host)->n--;
    if (res < 0 && res != -ECANCELED && res != -ESTALE)
        r->stats.failures[j->kind]++;
    r->wake = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* An action made a desktop ready (from a worker thread). */
static void
notify_desk_ready(void *userdata)
{
    struct reconciler *r = userdata;

    pthread_mutex_lock(&r->lock);
    r->desk_ready_gen++;
    pthread_cond_broadcast(&r->desk_ready);
    pthread_mutex_unlock(&r->lock);
}

/* Queues action A on host H (its connection and domain type; NULL: the
 * local host); lock held. Returns 0 or -ESHUTDOWN. */
static int
submit_locked(struct reconciler *r, const struct action *a, const struct cluster_host *h)
{
    struct action_job *j = xmalloc0(sizeof(*j));
    bool on_parent = a->kind == ACTION_PARENT_BUILD || a->kind == ACTION_PARENT_DELETE;
    const char *key = on_parent ? a->parent : a->desktop; /* parent names have dots */

    j->r = r;
    j->kind = a->kind;
    j->from = a->from;
    j->reason = a->reason;
    j->version = a->version;
    j->desktop = xstrdup(key);
    j->pool = xstrdup(a->pool);
    j->parent = on_parent ? NULL : xstrdup(a->parent);
    j->ctx = (struct action_ctx) {
        .store = r->store,
        .hv = hv_ref(h && h->hv ? h->hv : r->hv),
        .instance = xstrdup(r->instance),
        .storage_pool = xstrdup(r->storage_pool),
        .templates_dir = xstrdup(r->templates_dir),
        .virt_type = xstrdup(h && !streq(h->row->name, HOST_LOCAL) ? h->view.virt_type
                                                                    : r->virt_type),
        .boot_timeout = r->boot_timeout,
        .boot_delay = r->boot_delay,
        .console_password_required = r->console_password_required,
        .console_listen = xstrdup(h && h->console_address ? h->console_address
                                                          : r->console_listen),
        .hooks_dir = xstrdup(r->hooks_dir),
        .hook_timeout = r->hook_timeout,
        .data_disk_bytes = (uint64_t) r->data_disk_size << 20,
        .parents_dir = xstrdup(r->parents_dir),
        .max_boot_failures = r->max_boot_failures,
        .stopping = &r->stopping,
        .desk_ready = notify_desk_ready,
        .userdata = r,
    };
    if (action_starts_guests(a->kind)) {
        struct host_starts *st;

        j->start_host = xstrdup(h ? h->row->name : HOST_LOCAL);
        st = starts_of(r, j->start_host);
        st->n++;
        r->stats.max_starts = MAX(r->stats.max_starts, st->n);
    }
    inflight_add(r, key);
    if (a->kind == ACTION_DELETE)
        names_add(&r->removing, key);
    r->stats.actions[a->kind]++;
    if (worker_submit(r->worker, action_job_run, j, action_job_free) < 0) {
        inflight_remove(r, key);
        return -ESHUTDOWN;
    }
    return 0;
}

/* --- observing libvirt --- */

/* The orphan counts last found on HOST (0 before it was seen). Only the
 * reconcile thread uses them. */
static struct host_orphans *
orphan_count_of(struct reconciler *r, const char *host)
{
    for (size_t i = 0; i < r->n_orphan_counts; i++)
        if (streq(r->orphan_counts[i].host, host))
            return &r->orphan_counts[i];
    ARRAY_GROW(r->orphan_counts, r->cap_orphan_counts, r->n_orphan_counts + 1);
    r->orphan_counts[r->n_orphan_counts] = (struct host_orphans) { .host = xstrdup(host) };
    return &r->orphan_counts[r->n_orphan_counts++];
}

/* Orphans (orphans.c) on host H, among DESKS (all hosts': the ones on H
 * are picked here) and PARENTS (local host only): reported once each and
 * left alone, unless PURGE (the operator's --purge-orphans, one pass).
 * Volumes only when H was listed in full this pass. Returns how many were
 * left alone, *RET_VOLUMES of them volumes. */
static unsigned
handle_orphans(struct reconciler *r, const struct cluster_host *h, struct desk **desks,
               size_t n_desks, struct parent **parents, size_t n_parents, bool purge,
               unsigned *ret_volumes)
{
    _cleanup_free_ struct desk **mine = xmalloc0(sizeof(*mine) * (n_desks + 1));
    bool local = streq(h->row->name, HOST_LOCAL);
    struct orphans o = { 0 };
    unsigned removed = 0, left;
    size_t n_mine = 0;

    for (size_t i = 0; i < n_desks; i++)
        if (streq(desks[i]->host, h->row->name))
            mine[n_mine++] = desks[i];
    if (orphans_find(h->hv, r->instance, h->doms, h->n_doms, h->vols, h->n_vols, mine, n_mine,
                     local ? parents : NULL, local ? n_parents : 0,
                     local ? r->parents_dir : NULL, &o) < 0)
        return 0;
    if (purge)
        removed = orphans_remove(h->hv, r->storage_pool, &o);
    left = purge ? 0 : (unsigned) (o.n_domains + o.n_volumes + o.n_files);
    *ret_volumes = purge ? 0 : (unsigned) o.n_volumes;
    pthread_mutex_lock(&r->lock);
    r->stats.orphans_removed += removed;
    for (size_t i = 0; !purge && i < o.n_domains + o.n_volumes + o.n_files; i++) {
        size_t v = i - o.n_domains, f = v - o.n_volumes;
        const char *name = i < o.n_domains ? o.domains[i] :
                           v < o.n_volumes ? o.volumes[v] : o.files[f];
        _cleanup_free_ char *where = local ? xstrdup("") :
                                     xasprintf(" on host '%s'", h->row->name);

        if (strv_contains(r->orphans_reported, name))
            continue;
        if (i >= o.n_domains + o.n_volumes)
            log_warning("Orphan saved image '%s': no parent row names it, so it is left "
                        "alone; 'deskpoold --purge-orphans' removes it", name);
        else
            log_warning("Orphan %s '%s'%s: no desktop row names it, so it is left alone (it "
                        "may hold a user's data); 'deskpoold --purge-orphans' removes it",
                        i < o.n_domains ? "domain" : "volume", name, where);
        ARRAY_GROW(r->orphans_reported, r->cap_orphans_reported, r->n_orphans_reported + 2);
        r->orphans_reported[r->n_orphans_reported++] = xstrdup(name);
    }
    pthread_mutex_unlock(&r->lock);
    orphans_done(&o);
    return left;
}

/* Records that libvirt could not be observed (logged once per outage). */
static void
libvirt_lost(struct reconciler *r, int err, const char *why)
{
    pthread_mutex_lock(&r->lock);
    if (r->stats.libvirt_ok)
        log_error_errno(err, "Cannot observe libvirt at '%s' (%s); desktops are left as "
                        "they are and deskpoold reconnects", hv_uri(r->hv), why);
    r->stats.libvirt_ok = false;
    pthread_mutex_unlock(&r->lock);
}

/* The local host's domains and (on a full listing) overlay volumes of this
 * instance: cluster_list_host(), in full when the last full listing is
 * MAX_AGE_USEC old (0: now). Reconnects first when the connection
 * is gone, and recreates the storage pool when it (or its directory) went
 * away, logging both. Returns 0 or a negative errno (logged once per
 * outage). */
static int
observe_libvirt(struct reconciler *r, uint64_t max_age_usec, struct cluster_listing *ret)
{
    _cleanup_free_ char *err = NULL;
    int res;

    if (!hv_is_alive(r->hv)) {
        res = hv_reconnect(r->hv, &err);
        if (res < 0) {
            libvirt_lost(r, res, err ? err : "disconnected");
            return res;
        }
        log_notice("Reconnected to libvirt at '%s'", hv_uri(r->hv));
    }
    res = cluster_list_host(r->hv, r->prefix, r->storage_pool, max_age_usec, ret);
    if (res < 0 && res != -ENOTCONN && hv_is_alive(r->hv)) {
        /* the pool was removed, or its directory (libvirt stops a pool whose
         * refresh fails): make it again, empty volumes are rebuilt anyway */
        int q = hv_storage_pool_ensure(r->hv, r->storage_pool, r->storage_dir, &err);

        if (q >= 0) {
            log_warning_errno(res, "Storage pool '%s' was gone or unusable; recreated at '%s'",
                              r->storage_pool, r->storage_dir);
            res = cluster_list_host(r->hv, r->prefix, r->storage_pool, 0, ret);
        } else {
            log_error_errno(q, "Cannot recreate storage pool '%s' at '%s': %s",
                            r->storage_pool, r->storage_dir, strempty(err));
        }
    }
    if (res < 0) {
        libvirt_lost(r, res, "listing domains or volumes failed");
        return res;
    }
    pthread_mutex_lock(&r->lock);
    if (!r->stats.libvirt_ok && r->stats.passes > 0)
        log_notice("libvirt at '%s' answers again", hv_uri(r->hv));
    r->stats.libvirt_ok = true;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* Warns once when libvirt answers in seconds what takes milliseconds,
 * naming the known cause when it applies (hv_kvm_advice()). */
static void
check_slow_libvirt(struct reconciler *r)
{
    _cleanup_free_ char *what = NULL, *advice = NULL;
    unsigned count = 0;
    double secs = 0;
    char *warning;

    if (hv_get_slow(r->hv, &what, &secs, &count) <= 0)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->slow_warned) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->slow_warned = true;
    pthread_mutex_unlock(&r->lock);
    advice = hv_kvm_advice(r->hv);
    warning = xasprintf("libvirt at '%s' is slow: %s took %.1f s (normally well under a "
                        "second). %s", hv_uri(r->hv), what, secs,
                        advice ? advice : "Check libvirtd's load and its log.");
    log_warning("%s", warning);
    pthread_mutex_lock(&r->lock);
    free(r->slow_warning);
    free(r->virt_type_error);
    r->slow_warning = warning;
    pthread_mutex_unlock(&r->lock);
}

/* Housekeeping, at most once per PRUNE_INTERVAL_SEC: ended sessions and
 * audit entries older than their retention go, PRUNE_BATCH rows per
 * transaction so that acquires never wait long on the store. */
#define PRUNE_INTERVAL_SEC 3600
#define PRUNE_BATCH 1000
#define PRUNE_MAX_BATCHES 100

static void
prune_history(struct reconciler *r)
{
    int64_t now = (int64_t) (now_realtime_usec() / 1000000ULL);
    unsigned session_keep, audit_keep, sessions = 0, audits = 0;
    int k;

    pthread_mutex_lock(&r->lock);
    if (now < r->last_prune + PRUNE_INTERVAL_SEC) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->last_prune = now;
    session_keep = r->session_retention;
    audit_keep = r->audit_retention;
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; session_keep > 0 && i < PRUNE_MAX_BATCHES; i++) {
        k = store_session_prune(r->store, now - (int64_t) session_keep, PRUNE_BATCH);
        if (k < 0) {
            log_warning_errno(k, "Cannot remove old sessions from the store, ignoring");
            break;
        }
        sessions += (unsigned) k;
        if (k < PRUNE_BATCH)
            break;
    }
    for (int i = 0; audit_keep > 0 && i < PRUNE_MAX_BATCHES; i++) {
        k = store_audit_prune(r->store, now - (int64_t) audit_keep, PRUNE_BATCH);
        if (k < 0) {
            log_warning_errno(k, "Cannot remove old audit entries from the store, ignoring");
            break;
        }
        audits += (unsigned) k;
        if (k < PRUNE_BATCH)
            break;
    }
    /* console tickets are kept an hour past their expiry, for the record */
    k = store_ticket_prune(r->store, now - PRUNE_INTERVAL_SEC);
    if (k < 0)
        log_warning_errno(k, "Cannot remove expired console tickets from the store, ignoring");
    if (sessions + audits > 0)
        log_info("Removed %u ended sessions and %u audit entries past their retention",
                 sessions, audits);
}

/* The digest a parent of template TNAME records (parent_template_digest()),
 * from the cache while the file is unchanged; NULL when the file cannot
 * be read or VIRT_TYPE is not known yet (probing). Loop thread only. */
static const char *
template_digest(struct reconciler *r, const char *templates_dir, const char *tname,
                const char *virt_type)
{
    _cleanup_free_ char *path = NULL, *text = NULL;
    struct digest_cache *e = NULL;
    struct stat st;
    size_t len;

    if (!virt_type)
        return NULL;
    path = xasprintf("%s/%s.xml", templates_dir, tname);
    if (stat(path, &st) < 0)
        return NULL;
    for (size_t i = 0; i < r->n_digests && !e; i++)
        if (streq(r->digests[i].path, path))
            e = &r->digests[i];
    if (e && e->size == st.st_size && e->mtime.tv_sec == st.st_mtim.tv_sec &&
        e->mtime.tv_nsec == st.st_mtim.tv_nsec && streq(e->virt_type, virt_type))
        return e->digest;
    if (read_full_file(path, 1 << 20, &text, &len) < 0)
        return NULL;
    if (!e) {
        ARRAY_GROW(r->digests, r->cap_digests, r->n_digests + 1);
        e = &r->digests[r->n_digests++];
        *e = (struct digest_cache) { .path = TAKE_PTR(path) };
    }
    free(e->virt_type);
    free(e->digest);
    e->virt_type = xstrdup(virt_type);
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->digest = parent_template_digest(text, len, virt_type);
    return e->digest;
}

/* The store could not be read this pass: logged once until it can again. */
static void
store_unreadable(struct reconciler *r, int err)
{
    pthread_mutex_lock(&r->lock);
    if (!r->store_failing)
        log_error_errno(err, "Cannot read the state store (%s); desktops are left as they are",
                        store_health(r->store));
    r->store_failing = true;
    pthread_mutex_unlock(&r->lock);
}

/* The pass changed the store in a way that needs another plan at once. */
static void
replan(struct reconciler *r)
{
    pthread_mutex_lock(&r->lock);
    r->replan = true;
    pthread_mutex_unlock(&r->lock);
}

/* ACTION_CREATE: A->count new desktops of A->pool, each on the host
 * placement chooses, counted in CAP (capacity.c) so the next CREATE of
 * this pass sees them. Returns how many were made. */
static int
create_placed(struct reconciler *r, struct capacity *cap, const struct action *a)
{
    _cleanup_free_ size_t *where = xmalloc0(sizeof(*where) * (a->count + 1));
    const struct pool *p = NULL;
    size_t placed, pi = 0;
    int made = 0;

    for (size_t i = 0; i < cap->n_pools && !p; i++)
        if (streq(cap->pools[i]->name, a->pool)) {
            p = cap->pools[i];
            pi = i;
        }
    if (!p)
        return 0;
    for (size_t i = 0; i < cap->n_hosts; i++)
        cap->ph[i].footprint = cap->fp[pi * cap->n_hosts + i];
    placed = placement_apply(cap->ph, cap->n_hosts, &cap->req[pi], a->count, where);
    pthread_mutex_lock(&r->lock);
    if (placed < a->count && !strv_contains(r->unplaced, p->name)) {
        _cleanup_free_ char *why = capacity_describe(cap->ph, cap->n_hosts, &cap->req[pi]);

        log_warning("No host has room for %zu more desktop(s) of pool '%s' (%s); it stays "
                    "short until one has", a->count - placed, p->name, why);
        ARRAY_GROW(r->unplaced, r->cap_unplaced, r->n_unplaced + 2);
        r->unplaced[r->n_unplaced++] = xstrdup(p->name);
        r->unplaced[r->n_unplaced] = NULL;
    } else if (placed == a->count && strv_contains(r->unplaced, p->name)) {
        log_notice("Pool '%s' can be placed again", p->name);
        r->n_unplaced -= strv_remove(r->unplaced, p->name);
    }
    pthread_mutex_unlock(&r->lock);
    for (size_t k = 0; k < placed; k++) {
        _cleanup_(desk_freep) struct desk *d = NULL;
        const char *host = cap->ph[where[k]].name;
        int q = store_desk_create_on(r->store, a->pool, r->instance, a->version, host, &d);

        if (q < 0) {
            log_error_errno(q, "Cannot add a desktop to pool '%s' on host '%s'", a->pool,
                            host);
            break;
        }
        log_debug("Desktop '%s' created in pool '%s' on host '%s'", d->name, a->pool, host);
        made++;
    }
    return made;
}

/* Each pool's ready and in-use (assigned, in_use) desktops, for the
 * dashboard's history of this minute. */
static void
history_sample(struct reconciler *r, struct pool *const *pools, size_t n_pools,
               struct desk *const *desks, size_t n_desks)
{
    _cleanup_free_ struct history_pool_count *c = xmalloc0(sizeof(*c) * (n_pools + 1));

    for (size_t i = 0; i < n_pools; i++)
        c[i].name = pools[i]->name;
    for (size_t k = 0; k < n_desks; k++)
        for (size_t i = 0; i < n_pools; i++) {
            if (!streq(desks[k]->pool, pools[i]->name))
                continue;
            c[i].ready += desks[k]->state == DESK_STATE_READY;
            c[i].in_use += desks[k]->state == DESK_STATE_ASSIGNED ||
                           desks[k]->state == DESK_STATE_IN_USE;
            break;
        }
    history_sample_pools(r->history, (int64_t) (now_realtime_usec() / 1000000ULL), c, n_pools);
}

static int
pass_run(struct reconciler *r)
{
    struct cluster_listing local = { 0 };
    struct pool **pools = NULL;
    struct desk **desks = NULL;
    struct session **sessions = NULL;
    struct op **ops = NULL;
    struct parent **parents = NULL;
    unsigned *waiting = NULL, *latest = NULL;
    struct planner_desk *pd = NULL;
    struct planner_parent *pp = NULL;
    const char **digests = NULL;
    struct action *actions = NULL;
    size_t n_pools = 0, n_desks = 0, n_actions = 0, n_sessions = 0;
    size_t n_ops = 0, n_parents = 0;
    _cleanup_free_ char *templates_dir = NULL, *virt_type = NULL;
    uint64_t start = now_usec();
    struct cluster cl = { 0 };
    struct capacity cap = { 0 };
    bool cap_ready = false;
    unsigned host_lost_grace, memory_overcommit, vcpus_per_cpu;
    uint64_t max_age_usec;
    bool purge;
    int done = 0, res, local_res;

    pthread_mutex_lock(&r->lock);
    templates_dir = xstrdup(r->templates_dir);
    virt_type = xstrdup(r->virt_type);
    host_lost_grace = r->host_lost_grace;
    memory_overcommit = r->memory_overcommit;
    vcpus_per_cpu = r->vcpus_per_cpu;
    /* --purge-orphans needs every volume: a full listing of every host */
    purge = r->purge_orphans;
    r->purge_orphans = false;
    max_age_usec = purge || !r->listed_full ? 0 : (uint64_t) r->resync_interval * 1000000ULL;
    names_clear(&r->settling); /* what ends from here on settles in this pass */
    pthread_mutex_unlock(&r->lock);

    check_slow_libvirt(r);
    /* Observe libvirt before the store: anything created after the listing
     * has its row already, anything removed after it is gone for good. */
    local_res = observe_libvirt(r, max_age_usec, &local);
    hosts_set_local_state(r->hosts, local_res >= 0, local_res >= 0 ? NULL :
                          "the connection to libvirt is down");
    res = cluster_observe(&cl, r->hosts, r->store, r->hv, local_res >= 0, &local, r->prefix,
                          r->storage_pool, max_age_usec, host_lost_grace);
    if (res < 0) {
        /* the hosts could not be read: the store's failure, not libvirt's */
        store_unreadable(r, res);
        goto cleanup;
    }
    if (local_res < 0 && cl.n <= 1) {
        res = local_res; /* the only host is away: as before there were hosts */
        goto cleanup;
    }
    for (size_t i = 0; i < cl.n; i++)
        if (streq(cl.h[i].row->name, HOST_LOCAL)) {
            free(cl.h[i].view.virt_type);
            cl.h[i].view.virt_type = xstrdup(virt_type);
        }

    /* parents before pools: a parent seen failed comes with its pools'
     * fallback (one transaction), so no pool is seen still wanting it */
    res = store_parent_list(r->store, &parents, &n_parents);
    if (res >= 0)
        res = store_pool_list(r->store, &pools, &n_pools);
    if (res >= 0)
        res = store_desk_list(r->store, NULL, &desks, &n_desks);
    if (res >= 0)
        res = store_session_list(r->store, NULL, NULL, SESSION_STATE_ACTIVE, &sessions,
                                 &n_sessions);
    if (res >= 0)
        res = store_op_list(r->store, NULL, true, &ops, &n_ops);
    if (res < 0) {
        store_unreadable(r, res);
        goto cleanup;
    }
    pthread_mutex_lock(&r->lock);
    if (r->store_failing)
        log_notice("The state store can be read again");
    r->store_failing = false;
    pthread_mutex_unlock(&r->lock);

    {
        /* orphan domains and saved images every pass; orphan volumes need
         * the volumes, listed only in full listings (every
         * libvirt_resync_interval): in between they count as last seen */
        unsigned orphans = 0;

        for (size_t i = 0; i < cl.n; i++) {
            struct host_orphans *n = orphan_count_of(r, cl.h[i].row->name);

            if (cl.h[i].observed) {
                unsigned volumes = 0,
                         left = handle_orphans(r, &cl.h[i], desks, n_desks, parents,
                                               n_parents, purge, &volumes);

                n->others = left - volumes;
                if (cl.h[i].full)
                    n->volumes = volumes;
            }
            orphans += n->others + n->volumes;
        }
        purge = false; /* done: every host that answers was listed in full */
        pthread_mutex_lock(&r->lock);
        if (max_age_usec == 0)
            r->listed_full = true;
        r->stats.orphans = orphans;
        pthread_mutex_unlock(&r->lock);
    }
    footprints_sample(r->footprints, &cl, desks, n_desks, pools, n_pools);
    history_sample(r, pools, n_pools, desks, n_desks);

    pd = xmalloc0(sizeof(*pd) * (n_desks + 1));
    pp = xmalloc0(sizeof(*pp) * (n_parents + 1));
    waiting = xmalloc0(sizeof(*waiting) * (n_pools + 1));
    latest = xmalloc0(sizeof(*latest) * (n_pools + 1));
    digests = xmalloc0(sizeof(*digests) * (n_pools + 1));
    for (size_t i = 0; i < n_pools; i++) {
        _cleanup_(image_freep) struct image *img = NULL;

        if (store_image_get_usable(r->store, pools[i]->image, 0, &img) >= 0)
            latest[i] = img->version;
        if (pool_clone_effective(pools[i]) == POOL_CLONE_INSTANT)
            digests[i] = template_digest(r, templates_dir, pools[i]->template, virt_type);
    }
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < n_pools; i++)
        for (size_t k = 0; k < r->n_waiting; k++)
            if (streq(r->waiting_pools[k], pools[i]->name))
                waiting[i] = r->waiting_counts[k];
    for (size_t i = 0; i < n_desks; i++) {
        pd[i] = (struct planner_desk) {
            .desk = desks[i],
            .busy = busy_in_pass(r, desks[i]->name),
            .removing = names_find(&r->removing, desks[i]->name) >= 0,
        };
        cluster_observe_desk(&cl, desks[i], &pd[i]);
    }
    for (size_t i = 0; i < n_parents; i++)
        pp[i] = (struct planner_parent) {
            .parent = parents[i],
            .busy = busy_in_pass(r, parents[i]->name),
        };
    {
        struct planner_input in = {
            .pools = pools, .n_pools = n_pools, .desks = pd, .n_desks = n_desks,
            .sessions = sessions, .n_sessions = n_sessions, .waiting = waiting,
            .latest = latest, .ops = ops, .n_ops = n_ops,
            .parents = pp, .n_parents = n_parents,
            /* while the domain type is probed no parent can be told apart */
            .digests = virt_type ? digests : NULL,
            .now = (int64_t) (now_realtime_usec() / 1000000ULL),
            .max_boot_failures = r->max_boot_failures,
            .host_failure_retry = r->host_failure_retry,
        };

        res = planner_plan(&in, &actions, &n_actions);
    }
    for (size_t i = 0; res >= 0 && i < n_actions; i++) {
        const struct action *a = &actions[i];

        const struct cluster_host *h = cluster_find(&cl, a->host ? a->host : HOST_LOCAL);

        if (a->kind == ACTION_CREATE || a->kind == ACTION_REMOVE_POOL ||
            a->kind == ACTION_END_SESSION || a->kind == ACTION_OP_START ||
            a->kind == ACTION_OP_PROGRESS || a->kind == ACTION_OP_FINISH ||
            a->kind == ACTION_RETRY || a->kind == ACTION_PARENT_CREATE ||
            a->kind == ACTION_FORGET)
            continue; /* store-only: done below, outside the lock */
        if (!h || !h->observed)
            continue; /* its host went away since it was listed */
        if (!h->view.virt_type && (a->kind == ACTION_BUILD || a->kind == ACTION_REPAIR ||
                                   a->kind == ACTION_REBASE || a->kind == ACTION_PARENT_BUILD))
            continue; /* they make domains: wait for the probe to say which type */
        /* boot storms: at most host_max_starts guests started at once on
         * one host; the rest wait for a later pass */
        if (action_starts_guests(a->kind) &&
            starts_of(r, h->row->name)->n >= r->host_max_starts)
            continue;
        if (submit_locked(r, a, h) >= 0)
            done++;
    }
    pthread_mutex_unlock(&r->lock);

    for (size_t i = 0; res >= 0 && i < n_actions; i++) {
        const struct action *a = &actions[i];

        if (a->kind == ACTION_CREATE) {
            if (!cap_ready) {
                capacity_compute(&cap, &cl, desks, n_desks, pools, n_pools, templates_dir,
                                 r->footprints, memory_overcommit, vcpus_per_cpu);
                cap_ready = true;
            }
            done += create_placed(r, &cap, a);
            pthread_mutex_lock(&r->lock);
            r->stats.actions[ACTION_CREATE] += a->count;
            pthread_mutex_unlock(&r->lock);
            replan(r); /* the new rows need BUILD */
        } else if (a->kind == ACTION_END_SESSION) {
            int q = store_session_expire(r->store, a->session, a->reason, a->heartbeat,
                                         "reconciler");

            if (q >= 0) {
                log_notice("Session %s on desktop '%s' ended: %s", a->session, a->desktop,
                           session_end_to_string(a->reason));
                pthread_mutex_lock(&r->lock);
                r->stats.actions[ACTION_END_SESSION]++;
                pthread_mutex_unlock(&r->lock);
                replan(r); /* wipe it at once */
                done++;
            } else if (q != -ESTALE) {
                log_error_errno(q, "Cannot end session %s", a->session);
            }
        } else if (a->kind == ACTION_OP_START) {
            struct op in = {
                .kind = OP_KIND_REBASE, .pool = (char *) a->pool, .to_version = a->version,
                .policy = OP_POLICY_WAIT_FOR_LOGOFF, .batch = 1,
                .created_by = (char *) "reconciler",
            };
            _cleanup_(op_freep) struct op *o = NULL;
            int q = store_op_start(r->store, &in, &o);

            if (q >= 0) {
                log_notice("Pool '%s' follows a new image version: rebase %s to v%u started",
                           a->pool, o->id, a->version);
                replan(r);
                done++;
            } else if (q != -EBUSY) {
                log_error_errno(q, "Cannot start the rebase of pool '%s'", a->pool);
            }
        } else if (a->kind == ACTION_PARENT_CREATE) {
            _cleanup_(parent_freep) struct parent *x = NULL;
            ssize_t k = -1;
            int q;

            for (size_t m = 0; m < n_pools && k < 0; m++)
                if (streq(pools[m]->name, a->pool))
                    k = (ssize_t) m;
            if (k < 0 || !digests[k])
                continue;
            q = store_parent_create(r->store, pools[k]->image, a->version, pools[k]->template,
                                    digests[k], r->instance, &x);
            if (q >= 0) {
                log_notice("Building parent '%s' for instant clones of pool '%s'", x->name,
                           a->pool);
                pthread_mutex_lock(&r->lock);
                r->stats.actions[ACTION_PARENT_CREATE]++;
                pthread_mutex_unlock(&r->lock);
                replan(r);
                done++;
            } else {
                log_error_errno(q, "Cannot add a parent for pool '%s'", a->pool);
            }
        } else if (a->kind == ACTION_FORGET) {
            int q = store_desk_forget(r->store, a->desktop, a->from);

            if (q >= 0) {
                log_warning("Desktop '%s' given up: host '%s' has been unreachable for more "
                            "than %u s; it is made again elsewhere, and its domain there is "
                            "destroyed when the host is back", a->desktop, a->host,
                            host_lost_grace);
                (void) store_audit(r->store, "reconciler", "host.lost", a->pool, a->desktop,
                                   NULL, a->host);
                pthread_mutex_lock(&r->lock);
                r->stats.actions[ACTION_FORGET]++;
                pthread_mutex_unlock(&r->lock);
                replan(r);
                done++;
            } else if (q != -ESTALE) {
                log_error_errno(q, "Cannot give up desktop '%s' of lost host '%s'",
                                a->desktop, a->host);
            }
        } else if (a->kind == ACTION_RETRY) {
            if (store_desk_retry(r->store, a->desktop) >= 0) {
                log_notice("Desktop '%s' was quarantined for the host's failure; trying it "
                           "again", a->desktop);
                replan(r);
                done++;
            }
        } else if (a->kind == ACTION_OP_PROGRESS) {
            (void) store_op_progress(r->store, a->operation, a->total, a->done, a->failed, a->step);
        } else if (a->kind == ACTION_OP_FINISH) {
            int q = store_op_finish(r->store, a->operation, a->op_state, a->error,
                                    a->op_state == OP_STATE_FAILED);

            if (q >= 0 && a->op_state == OP_STATE_SUCCEEDED) {
                log_notice("Operation %s on pool '%s' succeeded", a->operation, a->pool);
            } else if (q >= 0) {
                log_error("Operation %s on pool '%s' failed, the pool stays on the version it "
                          "runs: %s", a->operation, a->pool, strempty(a->error));
            }
            if (q >= 0) {
                replan(r);
                done++;
            }
        } else if (a->kind == ACTION_REMOVE_POOL) {
            int q = store_pool_remove(r->store, a->pool);

            if (q >= 0) {
                log_notice("Pool '%s' deleted", a->pool);
                (void) store_audit(r->store, "reconciler", "pool.removed", a->pool, NULL, NULL,
                                   NULL);
                done++;
            }
        }
    }

    if (res >= 0)
        prune_history(r);

cleanup:
    pthread_mutex_lock(&r->lock);
    if (purge)
        r->purge_orphans = true; /* not done this pass: the next one */
    r->stats.passes++;
    r->stats.last_pass_seconds = (double) (now_usec() - start) / 1e6;
    r->stats.max_pass_seconds = MAX(r->stats.max_pass_seconds, r->stats.last_pass_seconds);
    pthread_mutex_unlock(&r->lock);
    if (done > 0)
        log_debug("Reconcile pass: %d actions in %.3f s", done,
                  (double) (now_usec() - start) / 1e6);
    free(actions);
    free(pd);
    free(pp);
    free(digests);
    parent_list_free(parents, n_parents);
    free(waiting);
    free(latest);
    op_list_free(ops, n_ops);
    session_list_free(sessions, n_sessions);
    desk_list_free(desks, n_desks);
    pool_list_free(pools, n_pools);
    capacity_done(&cap);
    cluster_done(&cl);
    return res < 0 ? res : done;
}

int
reconciler_pass(struct reconciler *r)
{
    int res;

    pthread_mutex_lock(&r->pass_lock);
    res = pass_run(r);
    pthread_mutex_unlock(&r->pass_lock);
    return res;
}

static void
timespec_add_ms(struct timespec *ts, unsigned ms)
{
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *
reconciler_thread(void *userdata)
{
    struct reconciler *r = userdata;

    while (!atomic_load(&r->stopping)) {
        struct timespec deadline, gap;

        (void) reconciler_pass(r);

        pthread_mutex_lock(&r->lock);
        if (r->replan) {
            r->replan = false;
            pthread_mutex_unlock(&r->lock);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &deadline);
        gap = deadline;
        deadline.tv_sec += r->interval;
        timespec_add_ms(&gap, MAX(RECONCILE_MIN_GAP_MS,
                                  (unsigned) (r->stats.last_pass_seconds * 1000 *
                                              RECONCILE_GAP_PASSES)));
        while (!r->wake && !atomic_load(&r->stopping))
            if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT)
                break;
        /* Coalesce a burst of wake-ups (every finished action wakes the
         * loop) into one pass: level-triggered, so nothing is lost. */
        while (!atomic_load(&r->stopping))
            if (pthread_cond_timedwait(&r->cond, &r->lock, &gap) == ETIMEDOUT)
                break;
        r->wake = false;
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

static void
reconciler_apply(struct reconciler *r, const struct conf *c)
{
    free(r->templates_dir);
    r->templates_dir = xstrdup(c->templates_dir);
    free(r->hooks_dir);
    r->hooks_dir = xstrdup(c->hooks_dir);
    r->hook_timeout = c->hook_timeout;
    r->data_disk_size = c->data_disk_size;
    r->boot_timeout = c->boot_timeout;
    r->boot_delay = c->boot_delay;
    r->max_boot_failures = c->max_boot_failures;
    r->host_failure_retry = c->host_failure_retry;
    r->session_retention = c->session_retention;
    r->audit_retention = c->audit_retention;
    r->interval = c->reconcile_interval;
    r->host_lost_grace = c->host_lost_grace;
    r->vcpus_per_cpu = c->vcpus_per_cpu;
    r->memory_overcommit = c->memory_overcommit;
    r->host_max_starts = c->host_max_starts;
    r->resync_interval = c->libvirt_resync_interval;
    r->console_password_required = streq(c->console_password, "required");
}

static void
hosts_wake(void *userdata)
{
    reconciler_wake(userdata);
}

int
reconciler_new(const struct conf *c, struct store *s, struct hv *h, const char *virt_type,
               struct reconciler **ret)
{
    struct reconciler *r = xmalloc0(sizeof(*r));

    r->store = s;
    r->hv = hv_ref(h);
    r->instance = xstrdup(c->instance);
    r->prefix = desk_name_prefix(c->instance);
    r->storage_pool = xstrdup(c->storage_pool);
    r->storage_dir = xstrdup(c->storage_dir);
    r->parents_dir = xasprintf("%s/parents", c->state_dir);
    r->virt_type = xstrdup(virt_type);
    r->console_listen = xstrdup(c->console_listen);
    reconciler_apply(r, c);
    r->stats.libvirt_ok = true;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->pass_lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    pthread_cond_init(&r->desk_ready, NULL);
    atomic_init(&r->stopping, false);
    (void) hosts_new(c, s, h, &r->hosts);
    /* from the configuration or the store (probed before): no probe comes */
    if (virt_type)
        hosts_set_local_virt_type(r->hosts, virt_type);
    r->footprints = footprints_new();
    r->history = history_new();
    hosts_set_wake(r->hosts, hosts_wake, r);
    r->worker = worker_new(c->max_concurrent);
    if (!r->worker) {
        int e = -errno;

        reconciler_free(r);
        return e;
    }
    *ret = r;
    return 0;
}

int
reconciler_start(struct reconciler *r)
{
    int e = pthread_create(&r->thread, NULL, reconciler_thread, r);

    if (e != 0)
        return -e;
    r->thread_started = true;
    return 0;
}

void
reconciler_set_virt_type_failed(struct reconciler *r, const char *why)
{
    pthread_mutex_lock(&r->lock);
    free(r->virt_type_error);
    r->virt_type_error = xstrdup(why);
    pthread_mutex_unlock(&r->lock);
}

struct hosts *
reconciler_get_hosts(struct reconciler *r)
{
    return r->hosts;
}

struct history *
reconciler_get_history(struct reconciler *r)
{
    return r->history;
}

struct footprints *
reconciler_get_footprints(struct reconciler *r)
{
    return r->footprints;
}

void
reconciler_get_placement_settings(struct reconciler *r, unsigned *ret_overcommit,
                                  unsigned *ret_vcpus_per_cpu, unsigned *ret_grace)
{
    pthread_mutex_lock(&r->lock);
    *ret_overcommit = r->memory_overcommit;
    *ret_vcpus_per_cpu = r->vcpus_per_cpu;
    *ret_grace = r->host_lost_grace;
    pthread_mutex_unlock(&r->lock);
}

void
reconciler_set_virt_type(struct reconciler *r, const char *virt_type)
{
    hosts_set_local_virt_type(r->hosts, virt_type);
    pthread_mutex_lock(&r->lock);
    free(r->virt_type);
    r->virt_type = xstrdup(virt_type);
    free(r->virt_type_error);
    r->virt_type_error = NULL; /* a probe that failed before succeeded now */
    pthread_mutex_unlock(&r->lock);
    reconciler_wake(r);
}

char *
reconciler_get_virt_type(struct reconciler *r)
{
    char *t;

    pthread_mutex_lock(&r->lock);
    t = xstrdup(r->virt_type);
    pthread_mutex_unlock(&r->lock);
    return t;
}

char **
reconciler_get_busy(struct reconciler *r, size_t *ret_n)
{
    char **v;

    pthread_mutex_lock(&r->lock);
    v = xmalloc0(sizeof(char *) * (r->inflight.n + 1));
    for (size_t i = 0; i < r->inflight.n; i++)
        v[i] = xstrdup(r->inflight.v[i]);
    *ret_n = r->inflight.n;
    pthread_mutex_unlock(&r->lock);
    return v;
}

bool
reconciler_probe_failed(struct reconciler *r)
{
    bool failed;

    pthread_mutex_lock(&r->lock);
    failed = r->virt_type_error != NULL;
    pthread_mutex_unlock(&r->lock);
    return failed;
}

char **
reconciler_get_warnings(struct reconciler *r)
{
    char **w = xmalloc0(3 * sizeof(char *));
    size_t n = 0;

    pthread_mutex_lock(&r->lock);
    if (r->virt_type_error)
        w[n++] = xstrdup(r->virt_type_error);
    if (r->slow_warning)
        w[n++] = xstrdup(r->slow_warning);
    pthread_mutex_unlock(&r->lock);
    return w;
}

void
reconciler_purge_orphans(struct reconciler *r)
{
    pthread_mutex_lock(&r->lock);
    r->purge_orphans = true;
    pthread_mutex_unlock(&r->lock);
}

void
reconciler_wake(struct reconciler *r)
{
    pthread_mutex_lock(&r->lock);
    r->wake = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void
reconciler_wait_idle(struct reconciler *r)
{
    worker_wait_idle(r->worker);
}

int
reconciler_settle(struct reconciler *r, unsigned max_passes)
{
    for (unsigned i = 1; i <= max_passes; i++) {
        int n = reconciler_pass(r);

        if (n < 0)
            return n;
        reconciler_wait_idle(r);
        if (n == 0)
            return (int) i;
    }
    return -ETIMEDOUT;
}

void
reconciler_add_waiting(struct reconciler *r, const char *pool, int delta)
{
    size_t i;

    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->n_waiting; i++)
        if (streq(r->waiting_pools[i], pool))
            break;
    if (i == r->n_waiting) {
        ARRAY_GROW(r->waiting_pools, r->cap_waiting_pools, i + 1);
        ARRAY_GROW(r->waiting_counts, r->cap_waiting_counts, i + 1);
        r->waiting_pools[i] = xstrdup(pool);
        r->waiting_counts[i] = 0;
        r->n_waiting++;
    }
    if (delta < 0 && r->waiting_counts[i] < (unsigned) -delta)
        r->waiting_counts[i] = 0;
    else
        r->waiting_counts[i] = (unsigned) ((int) r->waiting_counts[i] + delta);
    r->wake = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

bool
reconciler_wait_desk_ready(struct reconciler *r, unsigned timeout_ms)
{
    struct timespec ts;
    uint64_t gen;
    bool go_on;

    clock_gettime(CLOCK_REALTIME, &ts);
    timespec_add_ms(&ts, timeout_ms);
    pthread_mutex_lock(&r->lock);
    gen = r->desk_ready_gen;
    while (gen == r->desk_ready_gen && !r->waiters_cancelled)
        if (pthread_cond_timedwait(&r->desk_ready, &r->lock, &ts) != 0)
            break;
    go_on = !r->waiters_cancelled;
    pthread_mutex_unlock(&r->lock);
    return go_on;
}

void
reconciler_cancel_waiters(struct reconciler *r)
{
    pthread_mutex_lock(&r->lock);
    r->waiters_cancelled = true;
    pthread_cond_broadcast(&r->desk_ready);
    pthread_mutex_unlock(&r->lock);
}

void
reconciler_reload(struct reconciler *r, const struct conf *c)
{
    pthread_mutex_lock(&r->lock);
    reconciler_apply(r, c);
    pthread_mutex_unlock(&r->lock);
    worker_set_limit(r->worker, c->max_concurrent);
    reconciler_wake(r);
}

void
reconciler_get_stats(struct reconciler *r, struct reconcile_stats *ret)
{
    pthread_mutex_lock(&r->lock);
    *ret = r->stats;
    pthread_mutex_unlock(&r->lock);
    worker_get_counts(r->worker, &ret->running, &ret->queued);
}

struct reconciler *
reconciler_free(struct reconciler *r)
{
    if (!r)
        return NULL;
    atomic_store(&r->stopping, true);
    reconciler_wake(r);
    reconciler_cancel_waiters(r);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    r->worker = worker_free(r->worker);
    r->hosts = hosts_free(r->hosts);
    r->footprints = footprints_free(r->footprints);
    r->history = history_free(r->history);
    strv_free(r->unplaced);
    names_done(&r->inflight);
    names_done(&r->settling);
    names_done(&r->removing);
    for (size_t i = 0; i < r->n_starts; i++)
        free(r->starts[i].host);
    free(r->starts);
    strv_free(r->orphans_reported);
    for (size_t i = 0; i < r->n_orphan_counts; i++)
        free(r->orphan_counts[i].host);
    free(r->orphan_counts);
    free(r->instance);
    free(r->prefix);
    free(r->storage_pool);
    free(r->storage_dir);
    free(r->parents_dir);
    for (size_t i = 0; i < r->n_digests; i++) {
        free(r->digests[i].path);
        free(r->digests[i].virt_type);
        free(r->digests[i].digest);
    }
    free(r->digests);
    free(r->slow_warning);
    free(r->templates_dir);
    free(r->virt_type);
    free(r->console_listen);
    free(r->hooks_dir);
    hv_unref(r->hv);
    for (size_t i = 0; i < r->n_waiting; i++)
        free(r->waiting_pools[i]);
    free(r->waiting_pools);
    free(r->waiting_counts);
    pthread_cond_destroy(&r->desk_ready);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->pass_lock);
    free(r);
    return NULL;
}
