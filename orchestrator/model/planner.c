/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* planner.c - decides what each pool needs next
 *
 * DESIGN
 *   The planner is the reconciler's brain and a pure function: desired
 *   state (pool specs) + observed state (desktop rows, what libvirt shows,
 *   which desktops a worker is busy with) in, a list of actions out. It
 *   never does I/O, never reads a clock and never logs, so every decision
 *   can be unit-tested without libvirt (tests/unit/test-planner.c).
 *
 *   Per pool:
 *   - desktops a worker is busy with are left alone this pass;
 *   - provisioning/booting desktops get BUILD, or QUARANTINE once they
 *     failed max_boot_failures times (failed desktops stay for inspection,
 *     count against max and never as spares); one quarantined for the
 *     host's failure (no space) gets RETRY every host_failure_retry
 *     seconds, so a pool recovers by itself once there is room again;
 *   - a ready desktop whose domain is gone or stopped gets REPAIR;
 *   - the pool is grown (CREATE) or shrunk (DELETE) towards
 *     pool_target_size(); shrinking takes idle desktops only, the
 *     not-yet-ready ones first, newest first;
 *   - a pool being deleted loses every desktop (in-use ones only when
 *     forced) and, when none is left, its row (REMOVE_POOL).
 *   Desktops whose pool does not exist are deleted.
 *
 *   Sessions (the hospital's automatic logout): an active session ends
 *   (END_SESSION) when it had no heartbeat for the pool's idle_timeout, is
 *   older than max_session, its desktop stopped under the user, or its
 *   pool is being deleted with force. A released desktop gets WIPE.
 *   "Reserved" desktops are the ones the spare count comes on top of:
 *   in use (floating pools) or owned by a user (dedicated pools); an owned
 *   desktop is never shrunk away. Acquires waiting for a desktop count as
 *   extra demand, so the pool grows for them up to max.
 *
 *   Image updates (an operation runs for the pool: rebase or refresh). A
 *   desktop is "stale" when it runs another version than the operation's
 *   target (refresh: when it is older than the operation). First the
 *   canary: one desktop on the target is built, and nothing stale is
 *   touched until it is ready; if it fails once, the operation fails, the
 *   pool is pinned back to the version it runs and the canary is deleted.
 *   Then the rollout: up to `batch` new desktops are built at once (above
 *   max if need be), and a stale idle desktop is deleted only when ready
 *   and reserved desktops that no action holds exceed the target, so the
 *   pool never has fewer ready desktops because of an update. Released stale floating desktops
 *   are deleted instead of wiped; idle stale dedicated ones are rebased in
 *   place (REBASE keeps their data disk); in-use ones wait for logoff, or
 *   are logged off after the warning period (force-logoff). When nothing
 *   stale is left, the operation succeeded. A pool that follows latest (or
 *   was pinned to another version) gets its rebase started here.
 *
 *   Instant clones (pools whose method is instant and did not fall back).
 *   A pool wants one parent per image version it needs: the version it
 *   runs (so a resize or a logout never waits for a boot) and the version
 *   of each desktop being provisioned (a rebase's canary and rollout). The
 *   parent it wants for a version is the newest one of its image, version,
 *   template and template digest that is building or ready; during a
 *   refresh only one made after the refresh began. None: PARENT_CREATE;
 *   building: PARENT_BUILD, and the pool's new desktops wait for it;
 *   ready: a new desktop gets BUILD from it, and a released desktop is
 *   re-cloned from it (WIPE), so desktops move to a new parent at logout.
 *   A released instant desktop whose pool has no ready parent is
 *   re-provisioned (never handed out unwiped); a released booted desktop
 *   of an instant pool is re-cloned when a parent is ready, else
 *   reverted. A parent that no desktop names and no pool wants is deleted
 *   (PARENT_DELETE): old ones after a rebase, refresh or template change,
 *   failed ones. A desktop with a previous incarnation left by an
 *   interrupted wipe gets RETIRE.
 *
 *   Hosts (cluster.c fills in what each desktop's host is). A desktop on
 *   a host that does not answer is unknown, not dead: nothing is planned
 *   for it, its session goes on. Once the host is lost (unreachable past
 *   host_lost_grace) its sessions end (host_lost) and each desktop nobody
 *   owns gets FORGET (fenced there, its row dropped) and is not counted,
 *   so CREATE makes it again elsewhere; a user's own desktop waits for its
 *   host. On a drained host, idle desktops nobody owns are not counted
 *   either: CREATE makes their replacements on other hosts; pending ones
 *   are deleted at once and ready ones only while the pool's other ready
 *   desktops cover its spares; released ones are deleted instead of
 *   wiped; in-use ones stay until logoff or, when the drain gave a
 *   warning, are logged off after it (host_drained). Which host a new
 *   desktop goes to is placement's (placement.c), not the planner's.
 *
 *   It must never: call libvirt, the store, or anything that blocks.
 */
#include "config.h"

#include <stdio.h>

#include "array.h"
#include "planner.h"

static const char *const action_kind_names[_ACTION_KIND_MAX] = {
    [ACTION_CREATE] = "create",
    [ACTION_BUILD] = "build",
    [ACTION_REPAIR] = "repair",
    [ACTION_QUARANTINE] = "quarantine",
    [ACTION_DELETE] = "delete",
    [ACTION_REMOVE_POOL] = "remove-pool",
    [ACTION_END_SESSION] = "end-session",
    [ACTION_WIPE] = "wipe",
    [ACTION_REBASE] = "rebase",
    [ACTION_OP_START] = "op-start",
    [ACTION_OP_PROGRESS] = "op-progress",
    [ACTION_OP_FINISH] = "op-finish",
    [ACTION_RETRY] = "retry",
    [ACTION_PARENT_CREATE] = "parent-create",
    [ACTION_PARENT_BUILD] = "parent-build",
    [ACTION_PARENT_DELETE] = "parent-delete",
    [ACTION_RETIRE] = "retire",
    [ACTION_FORGET] = "forget",
};

/* Marks on desktops, decided per pool before the per-desktop pass. */
enum {
    MARK_NONE,
    MARK_DELETE,
    MARK_REBASE,
};

const char *
action_kind_to_string(enum action_kind k)
{
    if (k < 0 || k >= _ACTION_KIND_MAX)
        return NULL;
    return action_kind_names[k];
}

struct plan {
    struct action *a;
    size_t n, cap;
};

/* The parent a pool wants for an image version (see the DESIGN comment). */
struct want {
    size_t pool;                        /* index in the input's pools */
    unsigned version;
    const struct planner_parent *best;  /* building or ready; NULL: none yet */
};

struct wants {
    struct want *w;
    size_t n, cap;
};

static struct action *
plan_add(struct plan *p, enum action_kind kind, const char *pool, const char *desk,
         unsigned count)
{
    ARRAY_GROW(p->a, p->cap, p->n + 1);
    p->a[p->n] = (struct action) { .kind = kind, .pool = pool, .desktop = desk, .count = count };
    return &p->a[p->n++];
}

static bool
desk_is_pending(const struct desk *d)
{
    return d->state == DESK_STATE_PROVISIONING || d->state == DESK_STATE_BOOTING;
}

/* Marks up to N victims for shrinking in VICTIM[]: idle desktops only,
 * not-yet-ready before ready, newest (last in input order) first. */
static void
plan_pick_victims(const struct planner_input *in, const char *pool, unsigned n,
                  unsigned char *victim)
{
    for (int pass = 0; pass < 2 && n > 0; pass++) {
        for (size_t i = in->n_desks; i-- > 0 && n > 0;) {
            const struct planner_desk *pd = &in->desks[i];
            const struct desk *d = pd->desk;
            bool eligible;

            if (pd->busy || victim[i] || !streq(d->pool, pool) || d->owner || pd->host_down)
                continue;
            eligible = pass == 0 ? desk_is_pending(d) : d->state == DESK_STATE_READY;
            if (!eligible)
                continue;
            victim[i] = MARK_DELETE;
            n--;
        }
    }
}

/* D is idle on a host it must leave: a drained one (not its user's own,
 * and not in use), or a lost one (not a dedicated desktop: its data is
 * there, it waits for its host). */
static bool
desk_is_leaving(const struct planner_desk *pd)
{
    const struct desk *d = pd->desk;

    if (d->owner || d->state == DESK_STATE_DELETING)
        return false;
    if (pd->host_lost)
        return true;
    return pd->host_draining && !desk_state_is_in_use(d->state);
}

/* Marks the idle desktops of POOL on drained hosts for deletion but KEEP
 * of the ready ones (the oldest stay); lost hosts' ones are forgotten by
 * the per-desktop pass. */
static void
plan_drain_victims(const struct planner_input *in, const char *pool, unsigned keep,
                   unsigned char *victim)
{
    for (size_t i = 0; i < in->n_desks; i++) {
        const struct planner_desk *pd = &in->desks[i];
        const struct desk *d = pd->desk;

        if (pd->busy || !streq(d->pool, pool) || !desk_is_leaving(pd) || pd->host_lost ||
            pd->host_down)
            continue;
        if (d->state == DESK_STATE_READY && keep > 0) {
            keep--;
            continue;
        }
        victim[i] = MARK_DELETE;
    }
}

static bool
desk_is_live(const struct desk *d)
{
    return d->state != DESK_STATE_FAILED && d->state != DESK_STATE_DELETING;
}

/* Whether D must move for operation O. */
static bool
desk_is_stale(const struct desk *d, const struct op *o)
{
    if (d->image_version != o->to_version)
        return true;
    /* refresh: the idle desktops older than the operation, but a user's
     * own (its data lives on it); one in use is wiped at logoff anyway,
     * so the nightly run does not wait for a user */
    return o->kind == OP_KIND_REFRESH && d->seq < o->first_seq && !d->owner &&
           !desk_state_is_in_use(d->state);
}

static const struct op *
find_op(const struct planner_input *in, const char *pool)
{
    for (size_t i = 0; i < in->n_ops; i++)
        if (streq(in->ops[i]->pool, pool) && in->ops[i]->state == OP_STATE_RUNNING)
            return in->ops[i];
    return NULL;
}

static void
plan_op_finish(struct plan *out, const struct op *o, enum op_state st, const char *err)
{
    struct action *a = plan_add(out, ACTION_OP_FINISH, o->pool, NULL, 0);

    a->operation = o->id;
    a->op_state = st;
    a->error = err;
}

/* The rollout of operation O over pool P (see the DESIGN comment). */
static void
plan_rollout(const struct planner_input *in, const struct pool *p, const struct op *o,
             unsigned target, unsigned char *victim, struct plan *out)
{
    unsigned stale = 0, stale_in_use = 0, fresh_ready = 0, fresh_pending = 0, countable = 0;
    unsigned fresh_failed = 0, rebasing = 0, stale_owned = 0, allowed, n, live, missing;
    const char *canary_error = NULL;
    struct action *a;
    bool force_now = o->policy == OP_POLICY_FORCE_LOGOFF &&
                     in->now >= o->created_at + (int64_t) o->warn;

    for (size_t i = 0; i < in->n_desks; i++) {
        const struct planner_desk *pd = &in->desks[i];
        const struct desk *d = pd->desk;

        if (!streq(d->pool, p->name))
            continue;
        if (!desk_is_stale(d, o)) {
            if (d->state == DESK_STATE_FAILED || (desk_is_pending(d) && d->boot_failures > 0)) {
                fresh_failed++;
                canary_error = d->last_error ? d->last_error : "the new desktop did not boot";
            } else if (desk_is_pending(d) || d->state == DESK_STATE_REBASING) {
                fresh_pending++;
                rebasing += pd->busy && d->state == DESK_STATE_READY;
            } else if (desk_is_live(d)) {
                fresh_ready++;
            }
        } else if (desk_is_live(d)) {
            stale++;
            stale_in_use += desk_state_is_in_use(d->state);
            stale_owned += d->owner != NULL;
            rebasing += pd->busy && d->owner != NULL;
        }
        /* a busy one may be on its way out: a stale spare whose DELETE is
         * queued reads ready until the action runs, and counted, it would
         * let the next pass delete another spare too */
        if (desk_is_live(d) && !desk_is_pending(d) && !pd->busy)
            countable++;
    }

    /* the canary decides */
    if (fresh_ready == 0 && fresh_failed > 0) {
        for (size_t i = 0; i < in->n_desks; i++) {
            const struct desk *d = in->desks[i].desk;

            if (streq(d->pool, p->name) && !desk_is_stale(d, o) && !in->desks[i].busy &&
                (desk_is_pending(d) || d->state == DESK_STATE_FAILED))
                victim[i] = MARK_DELETE;
        }
        plan_op_finish(out, o, OP_STATE_FAILED, canary_error);
        return;
    }
    a = plan_add(out, ACTION_OP_PROGRESS, p->name, NULL, 0);
    a->operation = o->id;
    a->done = MIN(fresh_ready, MAX(target, 1u));
    a->total = a->done + stale;
    a->failed = fresh_failed;
    if (stale == 0) {
        /* the final count, then the end */
        snprintf(a->step, sizeof(a->step), "done");
        plan_op_finish(out, o, OP_STATE_SUCCEEDED, NULL);
        return;
    }
    live = fresh_ready + fresh_pending + stale;
    missing = target > live ? target - live : 0;
    if (fresh_ready == 0) {
        snprintf(a->step, sizeof(a->step), "canary: building one desktop on v%u",
                 o->to_version);
        /* capacity the pool needs meanwhile comes on the version it runs */
        if (missing > 0)
            plan_add(out, ACTION_CREATE, p->name, NULL, missing);
        if (fresh_pending == 0) {
            a = plan_add(out, ACTION_CREATE, p->name, NULL, 1);
            a->version = o->to_version;
        }
        return;
    }
    if (stale == stale_in_use)
        snprintf(a->step, sizeof(a->step), "%u desktop(s) in use: %s", stale_in_use,
                 force_now ? "logging off" : "waiting for logoff");
    else
        snprintf(a->step, sizeof(a->step), "replacing %u desktop(s), %u at a time", stale,
                 o->batch);

    /* build new ones, batch at a time, until the target runs the new version
     * (a user's own desktop is rebased in place, not replaced) */
    n = target > fresh_ready + fresh_pending + stale_owned
            ? target - fresh_ready - fresh_pending - stale_owned : 0;
    n = MIN(n, o->batch > fresh_pending ? o->batch - fresh_pending : 0);
    n = MAX(n, missing);
    if (n > 0) {
        a = plan_add(out, ACTION_CREATE, p->name, NULL, n);
        a->version = o->to_version;
    }
    /* retire stale idle ones while ready + reserved stay at the target */
    allowed = countable > target ? countable - target : 0;
    n = o->batch > rebasing ? o->batch - rebasing : 0;
    for (size_t i = in->n_desks; i-- > 0;) {
        const struct planner_desk *pd = &in->desks[i];
        const struct desk *d = pd->desk;

        if (!streq(d->pool, p->name) || pd->busy || !desk_is_live(d) || !desk_is_stale(d, o))
            continue;
        if (d->owner && d->state == DESK_STATE_READY && n > 0) {
            victim[i] = MARK_REBASE; /* a user's own desktop moves in place */
            n--;
        } else if (!d->owner && d->state == DESK_STATE_RELEASING) {
            victim[i] = MARK_DELETE; /* logged off: replaced, not wiped */
        } else if (!d->owner && d->state == DESK_STATE_READY && allowed > 0) {
            victim[i] = MARK_DELETE;
            allowed--;
        }
    }
    /* force-logoff after the warning period */
    for (size_t k = 0; force_now && k < in->n_sessions; k++) {
        const struct session *x = in->sessions[k];
        const struct planner_desk *pd;

        if (!streq(x->pool, p->name) || x->state != SESSION_STATE_ACTIVE)
            continue;
        for (size_t i = 0; i < in->n_desks; i++) {
            pd = &in->desks[i];
            if (streq(pd->desk->name, x->desktop) && desk_is_stale(pd->desk, o)) {
                a = plan_add(out, ACTION_END_SESSION, x->pool, x->desktop, 0);
                a->session = x->id;
                a->reason = SESSION_END_REBASE;
                break;
            }
        }
    }
}

/* ---- instant clones ---- */

static bool
pool_is_instant(const struct planner_input *in, size_t i)
{
    const struct pool *p = in->pools[i];

    return !p->deleting && pool_clone_effective(p) == POOL_CLONE_INSTANT && in->digests &&
           in->digests[i];
}

static ssize_t
find_pool_index(const struct planner_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_pools; i++)
        if (streq(in->pools[i]->name, name))
            return (ssize_t) i;
    return -1;
}

static const struct want *
want_find(const struct wants *ws, size_t pool, unsigned version)
{
    for (size_t i = 0; i < ws->n; i++)
        if (ws->w[i].pool == pool && ws->w[i].version == version)
            return &ws->w[i];
    return NULL;
}

/* The newest parent pool I can use for VERSION: building or ready, made
 * for its image, template and digest, and during a refresh made after the
 * refresh began. NULL when there is none. */
static const struct planner_parent *
parent_best(const struct planner_input *in, size_t i, unsigned version)
{
    const struct pool *p = in->pools[i];
    const struct op *o = NULL;
    const struct planner_parent *best = NULL;

    for (size_t k = 0; k < in->n_ops; k++)
        if (streq(in->ops[k]->pool, p->name) && in->ops[k]->state == OP_STATE_RUNNING)
            o = in->ops[k];
    for (size_t k = 0; k < in->n_parents; k++) {
        const struct parent *x = in->parents[k].parent;

        if ((x->state != PARENT_STATE_BUILDING && x->state != PARENT_STATE_READY) ||
            !parent_matches(x, p->image, version, p->template, in->digests[i]))
            continue;
        if (o && o->kind == OP_KIND_REFRESH && x->created_at < o->created_at)
            continue;
        best = &in->parents[k];  /* oldest first: the last match is the newest */
    }
    return best;
}

static void
wants_add(struct wants *ws, size_t pool, unsigned version, const struct planner_parent *best)
{
    if (version == 0 || want_find(ws, pool, version))
        return;
    ARRAY_GROW(ws->w, ws->cap, ws->n + 1);
    ws->w[ws->n++] = (struct want) { .pool = pool, .version = version, .best = best };
}

/* Which parent each instant pool wants for each version it needs, and the
 * actions that make those parents exist. */
static void
plan_parents(const struct planner_input *in, struct wants *ws, struct plan *out)
{
    for (size_t i = 0; i < in->n_pools; i++) {
        if (!pool_is_instant(in, i))
            continue;
        wants_add(ws, i, in->pools[i]->current_version,
                  parent_best(in, i, in->pools[i]->current_version));
        for (size_t k = 0; k < in->n_desks; k++) {
            const struct desk *d = in->desks[k].desk;

            if (d->state == DESK_STATE_PROVISIONING && streq(d->pool, in->pools[i]->name))
                wants_add(ws, i, d->image_version, parent_best(in, i, d->image_version));
        }
    }
    for (size_t k = 0; k < ws->n; k++) {
        const struct want *w = &ws->w[k];
        bool planned = false;
        struct action *a;

        /* one action per parent, whichever pools want it */
        for (size_t j = 0; j < k && !planned; j++)
            planned = w->best ? ws->w[j].best == w->best
                              : !ws->w[j].best && ws->w[j].version == w->version &&
                                    streq(in->pools[ws->w[j].pool]->image,
                                          in->pools[w->pool]->image) &&
                                    streq(in->pools[ws->w[j].pool]->template,
                                          in->pools[w->pool]->template);
        if (planned)
            continue;
        if (!w->best) {
            a = plan_add(out, ACTION_PARENT_CREATE, in->pools[w->pool]->name, NULL, 0);
            a->version = w->version;
        } else if (w->best->parent->state == PARENT_STATE_BUILDING && !w->best->busy) {
            a = plan_add(out, ACTION_PARENT_BUILD, NULL, NULL, 0);
            a->parent = w->best->parent->name;
        }
    }
    /* what nobody names or wants goes; not while the digests are unknown
     * (the domain type is being probed): nothing could be wanted then */
    for (size_t k = 0; in->digests && k < in->n_parents; k++) {
        const struct planner_parent *pp = &in->parents[k];
        bool used = pp->busy;
        struct action *a;

        for (size_t j = 0; j < ws->n && !used; j++)
            used = ws->w[j].best == pp;
        for (size_t j = 0; j < in->n_desks && !used; j++)
            used = streq_ptr(in->desks[j].desk->parent, pp->parent->name);
        if (used)
            continue;
        a = plan_add(out, ACTION_PARENT_DELETE, NULL, NULL, 0);
        a->parent = pp->parent->name;
    }
}

/* The ready parent desktop D of pool I would be cloned from now, or NULL. */
static const char *
desk_clone_source(const struct planner_input *in, const struct wants *ws, const struct desk *d)
{
    ssize_t i = find_pool_index(in, d->pool);
    const struct want *w;

    if (i < 0 || !pool_is_instant(in, (size_t) i))
        return NULL;
    w = want_find(ws, (size_t) i, d->image_version);
    if (w && w->best && w->best->parent->state == PARENT_STATE_READY)
        return w->best->parent->name;
    return NULL;
}

static bool
parent_is_ready(const struct planner_input *in, const char *name)
{
    for (size_t k = 0; name && k < in->n_parents; k++)
        if (streq(in->parents[k].parent->name, name))
            return in->parents[k].parent->state == PARENT_STATE_READY;
    return false;
}

static void
plan_pool(const struct planner_input *in, size_t pool_index, unsigned char *victim,
          struct plan *out)
{
    const struct pool *p = in->pools[pool_index];
    const struct op *op;
    unsigned total = 0, failed = 0, deleting = 0, reserved = 0, active, target;
    unsigned leaving = 0, drain_ready = 0, ready_staying = 0;
    unsigned waiting = in->waiting ? in->waiting[pool_index] : 0;

    for (size_t i = 0; i < in->n_desks; i++) {
        const struct planner_desk *pd = &in->desks[i];
        const struct desk *d = pd->desk;

        if (!streq(d->pool, p->name))
            continue;
        total++;
        if (desk_is_leaving(pd)) {
            /* replaced elsewhere: counts for nothing here */
            leaving++;
            if (pd->host_draining && d->state == DESK_STATE_READY)
                drain_ready++;
            continue;
        }
        if (pd->removing) {
            /* on its way out even if its row does not say so yet: counted,
             * it would make the pool look big enough to shrink another */
            deleting++;
            continue;
        }
        if (d->state == DESK_STATE_READY && !pd->host_down)
            ready_staying++;
        if (d->state == DESK_STATE_FAILED)
            failed++;
        else if (d->state == DESK_STATE_DELETING)
            deleting++;
        else if (desk_state_is_in_use(d->state) || d->owner)
            reserved++;
    }

    if (p->deleting) {
        if (total == 0) {
            plan_add(out, ACTION_REMOVE_POOL, p->name, NULL, 0);
            return;
        }
        for (size_t i = 0; i < in->n_desks; i++) {
            const struct desk *d = in->desks[i].desk;

            if (!streq(d->pool, p->name) || in->desks[i].busy)
                continue;
            if (desk_state_is_in_use(d->state) && !p->force_delete)
                continue;
            victim[i] = MARK_DELETE;
        }
        return;
    }

    active = total - failed - deleting - leaving;
    target = pool_target_size(p, reserved, waiting, failed);
    /* a drained host's spares go once their replacements are ready, so the
     * pool's ready count holds (pending ones at once: they serve nobody) */
    if (leaving > 0) {
        unsigned need = target > reserved ? target - reserved : 0;
        unsigned keep = need > ready_staying ? MIN(need - ready_staying, drain_ready) : 0;

        plan_drain_victims(in, p->name, keep, victim);
    }
    op = find_op(in, p->name);
    if (op) {
        /* an update sizes the pool itself */
        plan_rollout(in, p, op, target, victim, out);
        return;
    }
    if (in->latest && in->latest[pool_index] > 0) {
        unsigned want = p->image_version > 0 ? p->image_version : in->latest[pool_index];

        if (p->current_version > 0 && want != p->current_version) {
            struct action *a = plan_add(out, ACTION_OP_START, p->name, NULL, 0);

            a->version = want;
        }
    }
    if (active < target)
        plan_add(out, ACTION_CREATE, p->name, NULL, target - active);
    else if (active > target)
        plan_pick_victims(in, p->name, active - target, victim);
}

static const struct pool *
find_pool(const struct planner_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_pools; i++)
        if (streq(in->pools[i]->name, name))
            return in->pools[i];
    return NULL;
}

/* The desktops by name, for the sessions' lookups: a linear search per
 * session made a pass quadratic (3,000 sessions on 5,000 desktops: 7.5
 * million comparisons). */
static int
desk_by_name_cmp(const void *a, const void *b)
{
    const struct planner_desk *const *x = a, *const *y = b;

    return strcmp((*x)->desk->name, (*y)->desk->name);
}

static const struct planner_desk **
desk_index_new(const struct planner_input *in)
{
    const struct planner_desk **idx = xmalloc0(sizeof(*idx) * (in->n_desks + 1));

    for (size_t i = 0; i < in->n_desks; i++)
        idx[i] = &in->desks[i];
    qsort(idx, in->n_desks, sizeof(*idx), desk_by_name_cmp);
    return idx;
}

static const struct planner_desk *
find_desk(const struct planner_input *in, const struct planner_desk **idx, const char *name)
{
    struct desk key_desk = { .name = (char *) name };
    struct planner_desk key = { .desk = &key_desk };
    const struct planner_desk *kp = &key, **hit;

    hit = bsearch(&kp, idx, in->n_desks, sizeof(*idx), desk_by_name_cmp);
    return hit ? *hit : NULL;
}

/* Why session X must end now, or -1 when it may go on. */
static int
session_must_end(const struct planner_input *in, const struct planner_desk **idx,
                 const struct session *x)
{
    const struct pool *p = find_pool(in, x->pool);
    const struct planner_desk *pd = find_desk(in, idx, x->desktop);

    if (!p || (p->deleting && p->force_delete))
        return SESSION_END_POOL_DELETED;
    if (in->now - x->last_heartbeat >= (int64_t) p->idle_timeout)
        return SESSION_END_IDLE_TIMEOUT;
    if (in->now - x->created_at >= (int64_t) p->max_session)
        return SESSION_END_MAX_SESSION;
    if (pd && pd->host_lost)
        return SESSION_END_HOST_LOST;
    if (pd && pd->host_down)
        return -1; /* unknown, not dead: nothing is said about its domain */
    if (pd && pd->host_draining && pd->drain_deadline > 0 && in->now >= pd->drain_deadline)
        return SESSION_END_HOST_DRAINED;
    /* the desktop stopped under the user (not while an action holds it:
     * a wipe or rebuild stops domains on purpose): the user shut it down,
     * or it died (QEMU crashed or was killed, the domain went away) */
    if (pd && !pd->busy && desk_state_is_in_use(pd->desk->state) && !pd->dom_active)
        return pd->dom_guest_shutdown ? SESSION_END_GUEST_SHUTDOWN : SESSION_END_DESKTOP_LOST;
    return -1;
}

static void
plan_session(const struct planner_input *in, const struct planner_desk **idx,
             const struct session *x, struct plan *out)
{
    int reason;
    struct action *a;

    if (x->state != SESSION_STATE_ACTIVE)
        return;
    reason = session_must_end(in, idx, x);
    if (reason < 0)
        return;
    a = plan_add(out, ACTION_END_SESSION, x->pool, x->desktop, 0);
    a->session = x->id;
    a->reason = (enum session_end) reason;
    /* an idle logout stands only if no heartbeat came after the one seen */
    a->heartbeat = reason == SESSION_END_IDLE_TIMEOUT ? x->last_heartbeat : -1;
}

/* An action on desktop D, conditional on the state D is in now. */
static struct action *
plan_desk(struct plan *out, enum action_kind kind, const struct desk *d)
{
    struct action *a = plan_add(out, kind, d->pool, d->name, 0);

    a->from = d->state;
    a->host = d->host;
    return a;
}

int
planner_plan(const struct planner_input *in, struct action **ret, size_t *ret_n)
{
    _cleanup_free_ unsigned char *victim = xmalloc0(in->n_desks + 1);
    struct plan out = { 0 };
    struct wants ws = { 0 };

    /* Sessions first: automatic logout is the hospital's rule. */
    if (in->n_sessions > 0) {
        _cleanup_free_ const struct planner_desk **idx = desk_index_new(in);

        for (size_t i = 0; i < in->n_sessions; i++)
            plan_session(in, idx, in->sessions[i], &out);
    }

    /* Pool-level decisions: they choose the victims. */
    for (size_t i = 0; i < in->n_pools; i++)
        plan_pool(in, i, victim, &out);
    plan_parents(in, &ws, &out);

    /* Then each desktop gets at most one action. */
    for (size_t i = 0; i < in->n_desks; i++) {
        const struct planner_desk *pd = &in->desks[i];
        const struct desk *d = pd->desk;

        if (pd->busy)
            continue;
        if (pd->host_down) {
            /* unknown, not dead; once its host is lost a desktop nobody
             * owns is given up there (fenced) and made again elsewhere */
            if (pd->host_lost && !d->owner && d->state != DESK_STATE_DELETING)
                plan_desk(&out, ACTION_FORGET, d);
            continue;
        }
        if (victim[i] == MARK_REBASE) {
            const struct op *o = find_op(in, d->pool);
            struct action *a = plan_desk(&out, ACTION_REBASE, d);

            a->version = o ? o->to_version : 0;
            continue;
        }
        if (d->state == DESK_STATE_DELETING || victim[i] || !find_pool(in, d->pool)) {
            const struct pool *p = find_pool(in, d->pool);
            struct action *a = plan_desk(&out, ACTION_DELETE, d);

            /* only a forced pool delete takes a desktop from its user */
            a->reason = !p || p->deleting ? SESSION_END_POOL_DELETED : SESSION_END_DESKTOP_LOST;
            continue;
        }
        if (d->old_domain) {
            plan_desk(&out, ACTION_RETIRE, d);
            continue;
        }
        if (desk_is_pending(d)) {
            const char *source = NULL;

            if (d->boot_failures >= in->max_boot_failures) {
                plan_desk(&out, ACTION_QUARANTINE, d);
                continue;
            }
            if (d->state == DESK_STATE_PROVISIONING) {
                ssize_t pi = find_pool_index(in, d->pool);

                source = desk_clone_source(in, &ws, d);
                if (!source && pi >= 0 && pool_is_instant(in, (size_t) pi))
                    continue; /* its parent is being made */
            } else {
                source = d->parent; /* a clone restored before: finish it */
            }
            plan_desk(&out, ACTION_BUILD, d)->parent = source;
            continue;
        }
        if (d->state == DESK_STATE_RELEASING && pd->host_draining && !d->owner) {
            /* a released floating desktop on a drained host: not wiped */
            plan_desk(&out, ACTION_DELETE, d)->reason = SESSION_END_HOST_DRAINED;
            continue;
        }
        if (d->state == DESK_STATE_RELEASING) {
            if (d->parent && !in->digests)
                continue; /* a clone waits until parents can be told apart */
            /* the pool's parent now, else its own, else none */
            const char *source = desk_clone_source(in, &ws, d);
            ssize_t pi = find_pool_index(in, d->pool);

            if (!source && d->parent && parent_is_ready(in, d->parent) && pi >= 0 &&
                pool_is_instant(in, (size_t) pi))
                source = d->parent;
            plan_desk(&out, ACTION_WIPE, d)->parent = source;
            continue;
        }
        if (d->state == DESK_STATE_READY && !pd->dom_active) {
            plan_desk(&out, ACTION_REPAIR, d);
            continue;
        }
        /* quarantined because the host failed (no space): not the desktop's
         * fault, so it is tried again now and then instead of kept */
        if (d->state == DESK_STATE_FAILED && d->host_failure && in->host_failure_retry > 0 &&
            in->now >= d->state_since + (int64_t) in->host_failure_retry)
            plan_desk(&out, ACTION_RETRY, d);
    }

    free(ws.w);
    *ret = out.a;
    *ret_n = out.n;
    return 0;
}
