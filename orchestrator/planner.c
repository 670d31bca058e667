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
 *     count against max and never as spares);
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
 *   It must never: call libvirt, the store, or anything that blocks.
 */
#include "config.h"

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

static struct action *
plan_add(struct plan *p, enum action_kind kind, const char *pool, const char *desk,
         unsigned count)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->a = realloc(p->a, p->cap * sizeof(*p->a));
        if (!p->a)
            abort();
    }
    p->a[p->n] = (struct action) { .kind = kind, .pool = pool, .desk = desk, .count = count };
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
plan_pick_victims(const struct planner_input *in, const char *pool, unsigned n, bool *victim)
{
    for (int pass = 0; pass < 2 && n > 0; pass++) {
        for (size_t i = in->n_desks; i-- > 0 && n > 0;) {
            const struct planner_desk *pd = &in->desks[i];
            const struct desk *d = pd->desk;
            bool eligible;

            if (pd->busy || victim[i] || !streq(d->pool, pool) || d->owner)
                continue;
            eligible = pass == 0 ? desk_is_pending(d) : d->state == DESK_STATE_READY;
            if (!eligible)
                continue;
            victim[i] = true;
            n--;
        }
    }
}

static void
plan_pool(const struct planner_input *in, size_t pool_index, bool *victim, struct plan *out)
{
    const struct pool *p = in->pools[pool_index];
    unsigned total = 0, failed = 0, deleting = 0, reserved = 0, active, target;
    unsigned waiting = in->waiting ? in->waiting[pool_index] : 0;

    for (size_t i = 0; i < in->n_desks; i++) {
        const struct desk *d = in->desks[i].desk;

        if (!streq(d->pool, p->name))
            continue;
        total++;
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
            victim[i] = true;
        }
        return;
    }

    active = total - failed - deleting;
    target = pool_target_size(p, reserved, waiting, failed);
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

static const struct planner_desk *
find_desk(const struct planner_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_desks; i++)
        if (streq(in->desks[i].desk->name, name))
            return &in->desks[i];
    return NULL;
}

/* Why session X must end now, or -1 when it may go on. */
static int
session_must_end(const struct planner_input *in, const struct session *x)
{
    const struct pool *p = find_pool(in, x->pool);
    const struct planner_desk *pd = find_desk(in, x->desktop);

    if (!p || (p->deleting && p->force_delete))
        return SESSION_END_POOL_DELETED;
    if (in->now - x->last_heartbeat >= (int64_t) p->idle_timeout)
        return SESSION_END_IDLE_TIMEOUT;
    if (in->now - x->created_at >= (int64_t) p->max_session)
        return SESSION_END_MAX_SESSION;
    /* the desktop stopped under the user (not while an action holds it:
     * a wipe or rebuild stops domains on purpose) */
    if (pd && !pd->busy && desk_state_is_in_use(pd->desk->state) && !pd->dom_active)
        return SESSION_END_GUEST_SHUTDOWN;
    return -1;
}

static void
plan_session(const struct planner_input *in, const struct session *x, struct plan *out)
{
    int reason;
    struct action *a;

    if (x->state != SESSION_STATE_ACTIVE)
        return;
    reason = session_must_end(in, x);
    if (reason < 0)
        return;
    a = plan_add(out, ACTION_END_SESSION, x->pool, x->desktop, 0);
    a->session = x->id;
    a->reason = (enum session_end) reason;
}

int
planner_plan(const struct planner_input *in, struct action **ret, size_t *ret_n)
{
    _cleanup_free_ bool *victim = xmalloc0(sizeof(bool) * (in->n_desks + 1));
    struct plan out = { 0 };

    /* Sessions first: automatic logout is the hospital's rule. */
    for (size_t i = 0; i < in->n_sessions; i++)
        plan_session(in, in->sessions[i], &out);

    /* Pool-level decisions: they choose the victims. */
    for (size_t i = 0; i < in->n_pools; i++)
        plan_pool(in, i, victim, &out);

    /* Then each desktop gets at most one action. */
    for (size_t i = 0; i < in->n_desks; i++) {
        const struct planner_desk *pd = &in->desks[i];
        const struct desk *d = pd->desk;

        if (pd->busy)
            continue;
        if (d->state == DESK_STATE_DELETING || victim[i] || !find_pool(in, d->pool)) {
            plan_add(&out, ACTION_DELETE, d->pool, d->name, 0);
            continue;
        }
        if (desk_is_pending(d)) {
            if (d->boot_failures >= in->max_boot_failures)
                plan_add(&out, ACTION_QUARANTINE, d->pool, d->name, 0);
            else
                plan_add(&out, ACTION_BUILD, d->pool, d->name, 0);
            continue;
        }
        if (d->state == DESK_STATE_RELEASING) {
            plan_add(&out, ACTION_WIPE, d->pool, d->name, 0);
            continue;
        }
        if (d->state == DESK_STATE_READY && !pd->dom_active)
            plan_add(&out, ACTION_REPAIR, d->pool, d->name, 0);
    }

    *ret = out.a;
    *ret_n = out.n;
    return 0;
}
