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

static void
plan_add(struct plan *p, enum action_kind kind, const char *pool, const char *desk,
         unsigned count)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->a = realloc(p->a, p->cap * sizeof(*p->a));
        if (!p->a)
            abort();
    }
    p->a[p->n++] = (struct action) { .kind = kind, .pool = pool, .desk = desk, .count = count };
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

            if (pd->busy || victim[i] || !streq(d->pool, pool))
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
plan_pool(const struct planner_input *in, const struct pool *p, bool *victim, struct plan *out)
{
    unsigned total = 0, failed = 0, deleting = 0, in_use = 0, active, target;

    for (size_t i = 0; i < in->n_desks; i++) {
        const struct desk *d = in->desks[i].desk;

        if (!streq(d->pool, p->name))
            continue;
        total++;
        if (d->state == DESK_STATE_FAILED)
            failed++;
        else if (d->state == DESK_STATE_DELETING)
            deleting++;
        else if (desk_state_is_in_use(d->state))
            in_use++;
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
    target = pool_target_size(p, in_use, failed);
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

int
planner_plan(const struct planner_input *in, struct action **ret, size_t *ret_n)
{
    _cleanup_free_ bool *victim = xmalloc0(sizeof(bool) * (in->n_desks + 1));
    struct plan out = { 0 };

    /* Pool-level decisions first: they choose the victims. */
    for (size_t i = 0; i < in->n_pools; i++)
        plan_pool(in, in->pools[i], victim, &out);

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
        if (d->state == DESK_STATE_READY && !pd->dom_active)
            plan_add(&out, ACTION_REPAIR, d->pool, d->name, 0);
    }

    *ret = out.a;
    *ret_n = out.n;
    return 0;
}
