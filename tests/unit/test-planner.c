/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-planner.c - every rule of the planner's DESIGN, on hand-built input
 *
 * DESIGN
 *   A fixture holds pools, desktops and what the reconciler "observed"
 *   about them (busy, domain exists/active), built by hand; fx_plan() runs
 *   planner_plan() and checks the invariants every plan must keep (at most
 *   one action per desktop, none for busy ones, CREATE counts positive).
 *   Each test then asserts the exact actions. A seeded random sweep checks
 *   the size invariants over many shapes, and two scale cases time the
 *   planner on the largest inputs. Pure: no I/O, no libvirt.
 */
#include "config.h"

#include <stdio.h>

#include "planner.h"
#include "tests.h"
#include "util.h"

#define FX_MAX_POOLS 1024

struct fx {
    struct pool pools[FX_MAX_POOLS];
    struct pool *pool_ptrs[FX_MAX_POOLS];
    size_t n_pools;
    struct desk *desks;
    struct planner_desk *pd;
    size_t n_desks, cap;
    unsigned max_boot_failures;
    unsigned host_failure_retry;
    struct session sessions[64];
    struct session *session_ptrs[64];
    size_t n_sessions;
    unsigned waiting[FX_MAX_POOLS];
    unsigned latest[FX_MAX_POOLS];
    struct op op;
    struct op *op_ptr;
    struct parent parents[16];
    struct planner_parent pp[16];
    size_t n_parents;
    const char *digests[FX_MAX_POOLS];
    bool probing;       /* digests unknown: the domain type is being probed */
    int64_t now;
    struct action *a;
    size_t n_a;
};

static struct fx *
fx_new(void)
{
    struct fx *f = xmalloc0(sizeof(*f));

    f->max_boot_failures = 3;
    return f;
}

static struct fx *
fx_free(struct fx *f)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n_pools; i++)
        free(f->pools[i].name);
    for (size_t i = 0; i < f->n_sessions; i++) {
        free(f->sessions[i].id);
        free(f->sessions[i].pool);
        free(f->sessions[i].desktop);
        free(f->sessions[i].user);
    }
    for (size_t i = 0; i < f->n_desks; i++) {
        free(f->desks[i].name);
        free(f->desks[i].pool);
    }
    free(f->op.pool);
    free(f->desks);
    free(f->pd);
    free(f->a);
    free(f);
    return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fx *, fx_free);

static struct pool *
fx_pool(struct fx *f, const char *name, unsigned min, unsigned spare, unsigned max)
{
    struct pool *p = &f->pools[f->n_pools];

    if (f->n_pools >= FX_MAX_POOLS)
        abort();
    *p = (struct pool) { .name = xstrdup(name), .min = min, .spare = spare, .max = max,
                         .idle_timeout = 900, .max_session = 43200 };
    f->pool_ptrs[f->n_pools++] = p;
    return p;
}

/* Adds a desktop "<pool>-<n>" in STATE with a running domain; returns its index. */
static size_t
fx_desk(struct fx *f, const char *pool, enum desk_state state)
{
    size_t i = f->n_desks;

    if (f->n_desks == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->desks = realloc(f->desks, f->cap * sizeof(*f->desks));
        f->pd = realloc(f->pd, f->cap * sizeof(*f->pd));
        if (!f->desks || !f->pd)
            abort();
    }
    f->desks[i] = (struct desk) {
        .name = xasprintf("%s-%zu", pool, i),
        .pool = xstrdup(pool),
        .state = state,
    };
    f->pd[i] = (struct planner_desk) { .dom_exists = true, .dom_active = true };
    f->n_desks++;
    return i;
}

/* Adds an active session on desktop I, started CREATED and last heard of at
 * HEARTBEAT (unix seconds); returns its index. */
static size_t
fx_session(struct fx *f, size_t i, int64_t created, int64_t heartbeat)
{
    size_t k = f->n_sessions++;

    if (k >= ELEMENTSOF(f->sessions))
        abort();
    f->sessions[k] = (struct session) {
        .id = xasprintf("s%zu", k), .pool = xstrdup(f->desks[i].pool),
        .desktop = xstrdup(f->desks[i].name), .user = xasprintf("user%zu", k),
        .state = SESSION_STATE_ACTIVE, .created_at = created, .last_heartbeat = heartbeat,
    };
    f->session_ptrs[k] = &f->sessions[k];
    return k;
}

/* The END_SESSION reason planned for session K, or -1. */
static int
fx_end_of(const struct fx *f, size_t k)
{
    for (size_t j = 0; j < f->n_a; j++)
        if (f->a[j].kind == ACTION_END_SESSION && streq(f->a[j].session, f->sessions[k].id))
            return (int) f->a[j].reason;
    return -1;
}

/* Runs the planner and checks the invariants of every plan.
 * Returns 0, or -1 (after printing why) when an invariant is broken. */
static int
fx_plan(struct fx *f)
{
    struct planner_input in;
    int r;

    for (size_t i = 0; i < f->n_desks; i++)
        f->pd[i].desk = &f->desks[i];
    in = (struct planner_input) {
        .pools = f->pool_ptrs,
        .n_pools = f->n_pools,
        .desks = f->pd,
        .n_desks = f->n_desks,
        .sessions = f->session_ptrs,
        .n_sessions = f->n_sessions,
        .waiting = f->waiting,
        .latest = f->latest,
        .ops = &f->op_ptr,
        .n_ops = f->op_ptr ? 1 : 0,
        .now = f->now,
        .max_boot_failures = f->max_boot_failures,
        .host_failure_retry = f->host_failure_retry,
        .parents = f->pp,
        .n_parents = f->n_parents,
        .digests = f->probing ? NULL : f->digests,
    };
    for (size_t i = 0; i < f->n_parents; i++)
        f->pp[i].parent = &f->parents[i];
    free(f->a);
    f->a = NULL;
    f->n_a = 0;
    r = planner_plan(&in, &f->a, &f->n_a);
    if (r < 0) {
        fprintf(stderr, "  planner_plan: %d\n", r);
        return -1;
    }
    if (f->n_a > 0 && !f->a) {
        fprintf(stderr, "  %zu actions but no array\n", f->n_a);
        return -1;
    }
    for (size_t k = 0; k < f->n_a; k++) {
        const struct action *a = &f->a[k];
        bool on_parent = a->kind == ACTION_PARENT_BUILD || a->kind == ACTION_PARENT_DELETE;
        bool per_desk = a->kind != ACTION_CREATE && a->kind != ACTION_REMOVE_POOL &&
                        a->kind != ACTION_OP_FINISH && a->kind != ACTION_OP_PROGRESS &&
                        a->kind != ACTION_OP_START && a->kind != ACTION_PARENT_CREATE &&
                        !on_parent;

        if (a->kind == ACTION_END_SESSION && (!a->session || a->reason < 0)) {
            fprintf(stderr, "  action %zu: END_SESSION without a session or reason\n", k);
            return -1;
        }

        if (a->kind < 0 || a->kind >= _ACTION_KIND_MAX || (!a->pool && !on_parent) ||
            (on_parent && !a->parent)) {
            fprintf(stderr, "  action %zu malformed\n", k);
            return -1;
        }
        if (per_desk != (a->desktop != NULL)) {
            fprintf(stderr, "  action %zu (%s): desk %s\n", k, action_kind_to_string(a->kind),
                    a->desktop ? a->desktop : "(null)");
            return -1;
        }
        if (a->kind == ACTION_CREATE && a->count == 0) {
            fprintf(stderr, "  CREATE of 0 desktops for '%s'\n", a->pool);
            return -1;
        }
    }
    /* each desktop at most one action; busy ones none */
    for (size_t i = 0; i < f->n_desks; i++) {
        unsigned n = 0;

        for (size_t k = 0; k < f->n_a; k++)
            if (f->a[k].desktop && f->a[k].kind != ACTION_END_SESSION &&
                streq(f->a[k].desktop, f->desks[i].name))
                n++;
        if (n > 1 || (f->pd[i].busy && n > 0)) {
            fprintf(stderr, "  desk '%s'%s has %u actions\n", f->desks[i].name,
                    f->pd[i].busy ? " (busy)" : "", n);
            return -1;
        }
    }
    /* each pool at most one CREATE and one REMOVE_POOL */
    for (size_t p = 0; p < f->n_pools; p++) {
        unsigned creates = 0, removes = 0;

        for (size_t k = 0; k < f->n_a; k++) {
            if (!f->a[k].pool || !streq(f->a[k].pool, f->pools[p].name))
                continue;
            creates += f->a[k].kind == ACTION_CREATE;
            removes += f->a[k].kind == ACTION_REMOVE_POOL;
        }
        if (creates > 1 || removes > 1) {
            fprintf(stderr, "  pool '%s': %u creates, %u removes\n", f->pools[p].name,
                    creates, removes);
            return -1;
        }
    }
    return 0;
}

/* The action planned for desktop I, or -1 for none. */
static int
fx_action_of(const struct fx *f, size_t i)
{
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].desktop && f->a[k].kind != ACTION_END_SESSION &&
            streq(f->a[k].desktop, f->desks[i].name))
            return (int) f->a[k].kind;
    return -1;
}

/* The CREATE count for POOL, 0 for none. */
static unsigned
fx_create_count(const struct fx *f, const char *pool)
{
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].kind == ACTION_CREATE && streq(f->a[k].pool, pool))
            return f->a[k].count;
    return 0;
}

static unsigned
fx_count(const struct fx *f, enum action_kind kind)
{
    unsigned n = 0;

    for (size_t k = 0; k < f->n_a; k++)
        n += f->a[k].kind == kind;
    return n;
}

TEST(action_kind_strings)
{
    static const char *const want[] = {
        "create", "build", "repair", "quarantine", "delete", "remove-pool", "end-session",
        "wipe", "rebase", "op-start", "op-progress", "op-finish", "retry",
        "parent-create", "parent-build", "parent-delete", "retire", "forget",
    };

    ASSERT_EQ(_ACTION_KIND_MAX, ELEMENTSOF(want));
    for (int k = 0; k < _ACTION_KIND_MAX; k++)
        ASSERT_STREQ(action_kind_to_string((enum action_kind) k), want[k]);
    ASSERT_NULL(action_kind_to_string(_ACTION_KIND_MAX));
    ASSERT_NULL(action_kind_to_string(_ACTION_KIND_INVALID));
}

TEST(empty_input)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);
}

TEST(empty_pool_grows_to_min)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    fx_pool(f, "demo", 3, 1, 10);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 1);
    ASSERT_EQ(f->a[0].kind, ACTION_CREATE);
    ASSERT_STREQ(f->a[0].pool, "demo");
    ASSERT_NULL(f->a[0].desktop);
    ASSERT_EQ(f->a[0].count, 3);
}

TEST(empty_pool_zero_min_spare)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    fx_pool(f, "idle", 0, 0, 10);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);

    /* spare alone makes it grow */
    f->pools[0].spare = 2;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 1);
    ASSERT_EQ(fx_create_count(f, "idle"), 2);
}

TEST(partly_built_pool_grows_by_difference)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    fx_pool(f, "p", 5, 0, 10);
    fx_desk(f, "p", DESK_STATE_READY);
    fx_desk(f, "p", DESK_STATE_BOOTING);
    ASSERT_OK(fx_plan(f));
    /* pending desktops count: 5 - 2 */
    ASSERT_EQ(fx_create_count(f, "p"), 3);
    ASSERT_EQ(fx_count(f, ACTION_BUILD), 1);
    ASSERT_EQ(f->n_a, 2);
}

TEST(spare_with_in_use)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t u[3], r;

    fx_pool(f, "p", 2, 2, 10);
    u[0] = fx_desk(f, "p", DESK_STATE_ASSIGNED);
    u[1] = fx_desk(f, "p", DESK_STATE_IN_USE);
    u[2] = fx_desk(f, "p", DESK_STATE_RELEASING);
    r = fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    /* target max(2, 3 + 2) = 5, have 4; the released one is wiped */
    ASSERT_EQ(f->n_a, 2);
    ASSERT_EQ(fx_create_count(f, "p"), 1);
    for (size_t i = 0; i < 2; i++)
        ASSERT_EQ(fx_action_of(f, u[i]), -1);
    ASSERT_EQ(fx_action_of(f, u[2]), ACTION_WIPE);
    ASSERT_EQ(fx_action_of(f, r), -1);

    /* with two spares ready, nothing to do but the wipe */
    fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 1);
    ASSERT_EQ(fx_action_of(f, u[2]), ACTION_WIPE);

    /* a third spare is one too many and goes */
    r = fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 2);
    ASSERT_EQ(fx_action_of(f, r), ACTION_DELETE);
}

TEST(never_above_max)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    fx_pool(f, "p", 0, 5, 6);
    for (int i = 0; i < 4; i++)
        fx_desk(f, "p", DESK_STATE_IN_USE);
    ASSERT_OK(fx_plan(f));
    /* in use 4 + spare 5 = 9, capped at 6 */
    ASSERT_EQ(fx_create_count(f, "p"), 2);
    ASSERT_EQ(f->n_a, 1);

    fx_desk(f, "p", DESK_STATE_IN_USE);
    fx_desk(f, "p", DESK_STATE_IN_USE);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);

    /* max lowered below what is in use: in-use desktops stay, no CREATE */
    f->pools[0].max = 3;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);

    /* a huge min on a small max still stops at max */
    f->pools[0].max = 8;
    f->pools[0].min = 8;
    f->pools[0].spare = 0;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 2);
}

TEST(failed_reduce_room_and_stay)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t bad[2], ready[5];

    fx_pool(f, "p", 5, 0, 5);
    bad[0] = fx_desk(f, "p", DESK_STATE_FAILED);
    bad[1] = fx_desk(f, "p", DESK_STATE_FAILED);
    f->desks[bad[0]].boot_failures = 10;
    f->pd[bad[0]].dom_active = false;
    f->pd[bad[1]].dom_exists = false;
    f->pd[bad[1]].dom_active = false;
    ASSERT_OK(fx_plan(f));
    /* 5 - 2 failed = 3 */
    ASSERT_EQ(f->n_a, 1);
    ASSERT_EQ(fx_create_count(f, "p"), 3);

    /* five ready plus two failed over a max of 5: two ready go, failed stay */
    for (size_t i = 0; i < 5; i++)
        ready[i] = fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 2);
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 2);
    ASSERT_EQ(fx_action_of(f, bad[0]), -1);
    ASSERT_EQ(fx_action_of(f, bad[1]), -1);
    ASSERT_EQ(fx_action_of(f, ready[4]), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, ready[3]), ACTION_DELETE);

    /* failed never count as spares */
    f->pools[0].min = 0;
    f->pools[0].spare = 1;
    f->pools[0].max = 10;
    for (size_t i = 0; i < 5; i++)
        f->desks[ready[i]].state = DESK_STATE_FAILED;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 1);
    ASSERT_EQ(fx_create_count(f, "p"), 1);

    /* a pool full of failed desktops creates nothing */
    f->pools[0].max = 7;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);
}

TEST(shrink_order)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t r1, pv1, r2, b1, u1, r3, pv2;

    fx_pool(f, "p", 4, 0, 10);
    r1 = fx_desk(f, "p", DESK_STATE_READY);
    pv1 = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    r2 = fx_desk(f, "p", DESK_STATE_READY);
    b1 = fx_desk(f, "p", DESK_STATE_BOOTING);
    u1 = fx_desk(f, "p", DESK_STATE_IN_USE);
    r3 = fx_desk(f, "p", DESK_STATE_READY);
    pv2 = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    f->pd[pv2].busy = true;
    ASSERT_OK(fx_plan(f));
    /* 7 active, target 4: the two idle pending ones first (newest first;
     * the busy one is skipped), then the newest ready one */
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 3);
    ASSERT_EQ(fx_action_of(f, b1), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, pv1), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, r3), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, r2), -1);
    ASSERT_EQ(fx_action_of(f, r1), -1);
    ASSERT_EQ(fx_action_of(f, u1), -1);
    ASSERT_EQ(fx_action_of(f, pv2), -1);
    ASSERT_EQ(f->n_a, 3);
    ASSERT_EQ(fx_create_count(f, "p"), 0);
}

TEST(shrink_newest_pending_first)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[5];

    fx_pool(f, "p", 3, 0, 10);
    d[0] = fx_desk(f, "p", DESK_STATE_BOOTING);
    d[1] = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    d[2] = fx_desk(f, "p", DESK_STATE_BOOTING);
    d[3] = fx_desk(f, "p", DESK_STATE_READY);
    d[4] = fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    /* shrink by 2: pending d[2], d[1]; d[0] is built, the ready stay */
    ASSERT_EQ(fx_action_of(f, d[2]), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, d[1]), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, d[0]), ACTION_BUILD);
    ASSERT_EQ(fx_action_of(f, d[3]), -1);
    ASSERT_EQ(fx_action_of(f, d[4]), -1);
    ASSERT_EQ(f->n_a, 3);
}

TEST(shrink_never_in_use_or_busy)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t busy_ready;

    fx_pool(f, "p", 0, 0, 10);
    fx_desk(f, "p", DESK_STATE_ASSIGNED);
    fx_desk(f, "p", DESK_STATE_IN_USE);
    fx_desk(f, "p", DESK_STATE_RELEASING);
    fx_desk(f, "p", DESK_STATE_REBASING);
    busy_ready = fx_desk(f, "p", DESK_STATE_READY);
    f->pd[busy_ready].busy = true;
    /* target 3 (in use), active 5: nothing idle and free to take (the
     * released one is wiped, not deleted) */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 0);
    ASSERT_EQ(fx_count(f, ACTION_WIPE), 1);
    ASSERT_EQ(f->n_a, 1);

    /* the pool shrinks to 0 wanted: still nobody in use goes */
    f->pools[0].max = 0;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 0);
    ASSERT_EQ(f->n_a, 1);
}

TEST(busy_get_nothing)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[6];

    fx_pool(f, "p", 6, 0, 10);
    d[0] = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    d[1] = fx_desk(f, "p", DESK_STATE_BOOTING);
    d[2] = fx_desk(f, "p", DESK_STATE_READY);
    d[3] = fx_desk(f, "p", DESK_STATE_DELETING);
    d[4] = fx_desk(f, "gone", DESK_STATE_READY);
    d[5] = fx_desk(f, "p", DESK_STATE_BOOTING);
    f->desks[d[5]].boot_failures = 99;
    f->pd[d[2]].dom_active = false;
    for (size_t i = 0; i < ELEMENTSOF(d); i++)
        f->pd[d[i]].busy = true;
    ASSERT_OK(fx_plan(f));
    for (size_t i = 0; i < ELEMENTSOF(d); i++)
        ASSERT_EQ(fx_action_of(f, d[i]), -1);
    /* 4 active (deleting and the other pool's do not count): 2 more */
    ASSERT_EQ(fx_create_count(f, "p"), 2);
    ASSERT_EQ(f->n_a, 1);
}

TEST(build_and_quarantine)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t pv0, b2, b3, pv5, rb;

    f->max_boot_failures = 3;
    fx_pool(f, "p", 5, 0, 10);
    pv0 = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    b2 = fx_desk(f, "p", DESK_STATE_BOOTING);
    f->desks[b2].boot_failures = 2;
    b3 = fx_desk(f, "p", DESK_STATE_BOOTING);
    f->desks[b3].boot_failures = 3;
    pv5 = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    f->desks[pv5].boot_failures = 5;
    rb = fx_desk(f, "p", DESK_STATE_READY);
    f->desks[rb].boot_failures = 7; /* a ready desktop is never quarantined */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, pv0), ACTION_BUILD);
    ASSERT_EQ(fx_action_of(f, b2), ACTION_BUILD);
    ASSERT_EQ(fx_action_of(f, b3), ACTION_QUARANTINE);
    ASSERT_EQ(fx_action_of(f, pv5), ACTION_QUARANTINE);
    ASSERT_EQ(fx_action_of(f, rb), -1);
    ASSERT_EQ(f->n_a, 4);

    /* a higher limit builds them again */
    f->max_boot_failures = 6;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, b3), ACTION_BUILD);
    ASSERT_EQ(fx_action_of(f, pv5), ACTION_BUILD);
    ASSERT_EQ(fx_count(f, ACTION_QUARANTINE), 0);
    ASSERT_EQ(fx_count(f, ACTION_BUILD), 4);
}

TEST(repair)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t ok, stopped, gone, used_stopped;

    fx_pool(f, "p", 3, 0, 10);
    ok = fx_desk(f, "p", DESK_STATE_READY);
    stopped = fx_desk(f, "p", DESK_STATE_READY);
    f->pd[stopped].dom_active = false;
    gone = fx_desk(f, "p", DESK_STATE_READY);
    f->pd[gone].dom_exists = false;
    f->pd[gone].dom_active = false;
    used_stopped = fx_desk(f, "p", DESK_STATE_IN_USE);
    f->pd[used_stopped].dom_active = false;
    f->pools[0].min = 4;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, ok), -1);
    ASSERT_EQ(fx_action_of(f, stopped), ACTION_REPAIR);
    ASSERT_EQ(fx_action_of(f, gone), ACTION_REPAIR);
    ASSERT_EQ(fx_action_of(f, used_stopped), -1);
    ASSERT_EQ(f->n_a, 2);
}

TEST(deleting_state_deleted)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t del, r1, r2;

    fx_pool(f, "p", 2, 0, 10);
    r1 = fx_desk(f, "p", DESK_STATE_READY);
    del = fx_desk(f, "p", DESK_STATE_DELETING);
    f->pd[del].dom_active = false;
    r2 = fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    /* the deleting one does not count towards the pool size */
    ASSERT_EQ(fx_action_of(f, del), ACTION_DELETE);
    ASSERT_STREQ(f->a[0].pool, "p");
    ASSERT_EQ(fx_action_of(f, r1), -1);
    ASSERT_EQ(fx_action_of(f, r2), -1);
    ASSERT_EQ(f->n_a, 1);

    /* and is replaced when the pool needs one more */
    f->pools[0].min = 3;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 1);
    ASSERT_EQ(fx_action_of(f, del), ACTION_DELETE);
    ASSERT_EQ(f->n_a, 2);
}

TEST(unknown_pool_deleted)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t orphan, orphan_used, orphan_failed, mine;

    fx_pool(f, "p", 1, 0, 10);
    mine = fx_desk(f, "p", DESK_STATE_READY);
    orphan = fx_desk(f, "gone", DESK_STATE_READY);
    orphan_used = fx_desk(f, "gone", DESK_STATE_IN_USE);
    orphan_failed = fx_desk(f, "gone", DESK_STATE_BOOTING);
    f->desks[orphan_failed].boot_failures = 10;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, mine), -1);
    ASSERT_EQ(fx_action_of(f, orphan), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, orphan_used), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, orphan_failed), ACTION_DELETE);
    ASSERT_EQ(f->n_a, 3);
    for (size_t k = 0; k < f->n_a; k++)
        ASSERT_STREQ(f->a[k].pool, "gone");

    /* with no pools at all, every desktop goes */
    f->n_pools = 0;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 4);
    ASSERT_EQ(f->n_a, 4);
    f->n_pools = 1;
}

TEST(pool_deleting)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[8], busy;

    fx_pool(f, "p", 3, 2, 10)->deleting = true;
    fx_pool(f, "other", 1, 0, 10);
    d[0] = fx_desk(f, "p", DESK_STATE_READY);
    d[1] = fx_desk(f, "p", DESK_STATE_PROVISIONING);
    d[2] = fx_desk(f, "p", DESK_STATE_BOOTING);
    d[3] = fx_desk(f, "p", DESK_STATE_FAILED);
    d[4] = fx_desk(f, "p", DESK_STATE_DELETING);
    d[5] = fx_desk(f, "p", DESK_STATE_ASSIGNED);
    d[6] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[7] = fx_desk(f, "p", DESK_STATE_RELEASING);
    busy = fx_desk(f, "p", DESK_STATE_READY);
    f->pd[busy].busy = true;
    f->pd[d[0]].dom_active = false;
    f->desks[d[2]].boot_failures = 9;
    fx_desk(f, "other", DESK_STATE_READY);

    ASSERT_OK(fx_plan(f));
    for (size_t i = 0; i < 5; i++)
        ASSERT_EQ(fx_action_of(f, d[i]), ACTION_DELETE);
    for (size_t i = 5; i < 7; i++)
        ASSERT_EQ(fx_action_of(f, d[i]), -1);
    /* a released desktop is wiped first, deleted in a later pass */
    ASSERT_EQ(fx_action_of(f, d[7]), ACTION_WIPE);
    ASSERT_EQ(fx_action_of(f, busy), -1);
    ASSERT_EQ(fx_create_count(f, "p"), 0);
    ASSERT_EQ(fx_count(f, ACTION_REMOVE_POOL), 0);
    ASSERT_EQ(f->n_a, 6);

    /* forced: the in-use ones go too (the busy one still waits) */
    f->pools[0].force_delete = true;
    ASSERT_OK(fx_plan(f));
    for (size_t i = 0; i < 8; i++)
        ASSERT_EQ(fx_action_of(f, d[i]), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, busy), -1);
    ASSERT_EQ(fx_count(f, ACTION_REMOVE_POOL), 0);
    ASSERT_EQ(f->n_a, 8);
}

TEST(pool_deleting_empty_removed)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t busy;

    fx_pool(f, "p", 3, 2, 10)->deleting = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 1);
    ASSERT_EQ(f->a[0].kind, ACTION_REMOVE_POOL);
    ASSERT_STREQ(f->a[0].pool, "p");
    ASSERT_NULL(f->a[0].desktop);

    /* a desktop still busy keeps the row */
    busy = fx_desk(f, "p", DESK_STATE_DELETING);
    f->pd[busy].busy = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);

    /* an in-use desktop keeps it too, unforced */
    f->pd[busy].busy = false;
    f->desks[busy].state = DESK_STATE_IN_USE;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);
}

TEST(one_action_per_desk)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t stopped, failing;

    /* a shrink victim that also needs repair or quarantine gets DELETE only */
    fx_pool(f, "p", 0, 0, 10);
    stopped = fx_desk(f, "p", DESK_STATE_READY);
    f->pd[stopped].dom_active = false;
    failing = fx_desk(f, "p", DESK_STATE_BOOTING);
    f->desks[failing].boot_failures = 5;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, stopped), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, failing), ACTION_DELETE);
    ASSERT_EQ(f->n_a, 2);
}

TEST(several_pools_independent)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t a_extra, b_used;

    fx_pool(f, "a", 1, 0, 10);
    fx_pool(f, "b", 0, 2, 3);
    fx_pool(f, "c", 4, 0, 4);
    fx_desk(f, "a", DESK_STATE_READY);
    a_extra = fx_desk(f, "a", DESK_STATE_READY);
    b_used = fx_desk(f, "b", DESK_STATE_IN_USE);
    fx_desk(f, "c", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, a_extra), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, b_used), -1);
    ASSERT_EQ(fx_create_count(f, "a"), 0);
    ASSERT_EQ(fx_create_count(f, "b"), 2);
    ASSERT_EQ(fx_create_count(f, "c"), 3);
    ASSERT_EQ(f->n_a, 3);
}

TEST(deterministic)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    _cleanup_free_ struct action *first = NULL;
    size_t n_first;

    fx_pool(f, "a", 3, 1, 6);
    fx_pool(f, "b", 0, 0, 2)->deleting = true;
    fx_pool(f, "c", 1, 0, 1);
    for (int i = 0; i < 30; i++) {
        static const enum desk_state states[] = {
            DESK_STATE_PROVISIONING, DESK_STATE_BOOTING, DESK_STATE_READY,
            DESK_STATE_IN_USE, DESK_STATE_FAILED, DESK_STATE_DELETING,
        };
        size_t d = fx_desk(f, i % 4 == 3 ? "zz" : (i % 3 == 0 ? "a" : (i % 3 == 1 ? "b" : "c")),
                           states[(size_t) i % ELEMENTSOF(states)]);

        f->pd[d].dom_active = i % 5 != 0;
        f->pd[d].busy = i % 7 == 0;
        f->desks[d].boot_failures = (unsigned) i % 5;
    }
    ASSERT_OK(fx_plan(f));
    ASSERT_TRUE(f->n_a > 5);
    n_first = f->n_a;
    first = TAKE_PTR(f->a);
    f->n_a = 0;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, n_first);
    for (size_t k = 0; k < n_first; k++) {
        ASSERT_EQ(f->a[k].kind, first[k].kind);
        ASSERT_STREQ(f->a[k].pool, first[k].pool);
        ASSERT_TRUE(streq_ptr(f->a[k].desktop, first[k].desktop));
        ASSERT_EQ(f->a[k].count, first[k].count);
    }
}

/* A seeded random sweep: many shapes of pools and desktops, checking the
 * size rules the DESIGN promises (fx_plan checks the per-desk ones). */
static uint32_t rng_state = 12345;

static unsigned
rng(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 16) % n;
}

static int
check_sizes(const struct fx *f)
{
    for (size_t p = 0; p < f->n_pools; p++) {
        const struct pool *pool = &f->pools[p];
        unsigned active = 0, failed = 0, in_use = 0, deletes = 0, create;

        for (size_t i = 0; i < f->n_desks; i++) {
            const struct desk *d = &f->desks[i];
            int act;

            if (!streq(d->pool, pool->name))
                continue;
            act = fx_action_of(f, i);
            if (d->state == DESK_STATE_FAILED)
                failed++;
            else if (d->state != DESK_STATE_DELETING)
                active++;
            if (desk_state_is_in_use(d->state))
                in_use++;
            if (act == ACTION_DELETE && d->state != DESK_STATE_DELETING)
                deletes++;
            if (pool->deleting)
                continue;
            /* outside pool deletion: no in-use or failed desktop is deleted,
             * no failed one gets any action */
            if (act == ACTION_DELETE && (desk_state_is_in_use(d->state) ||
                                         d->state == DESK_STATE_FAILED)) {
                fprintf(stderr, "  pool %s: %s (%s) deleted\n", pool->name, d->name,
                        desk_state_to_string(d->state));
                return -1;
            }
            if (d->state == DESK_STATE_FAILED && act >= 0) {
                fprintf(stderr, "  failed %s got an action\n", d->name);
                return -1;
            }
        }
        create = fx_create_count(f, pool->name);
        if (pool->deleting) {
            if (create > 0)
                return -1;
            continue;
        }
        /* CREATE never takes the pool over max (failed count against it) */
        if (create > 0 && active + create + failed > pool->max) {
            fprintf(stderr, "  pool %s: %u active + %u create + %u failed > max %u\n",
                    pool->name, active, create, failed, pool->max);
            return -1;
        }
        /* CREATE and shrinking never together */
        if (create > 0 && deletes > 0)
            return -1;
        /* growing lands exactly on the target */
        if (create > 0 && active + create != pool_target_size(pool, in_use, 0, failed))
            return -1;
        /* shrinking never goes below the target */
        if (active - deletes < MIN(active, pool_target_size(pool, in_use, 0, failed))) {
            fprintf(stderr, "  pool %s: shrunk from %u by %u below target %u\n", pool->name,
                    active, deletes, pool_target_size(pool, in_use, 0, failed));
            return -1;
        }
    }
    return 0;
}

TEST(random_sweep)
{
    for (int round = 0; round < 300; round++) {
        _cleanup_(fx_freep) struct fx *f = fx_new();
        unsigned n_pools = 1 + rng(4), n_desks = rng(40);

        f->max_boot_failures = 1 + rng(4);
        for (unsigned p = 0; p < n_pools; p++) {
            _cleanup_free_ char *name = xasprintf("p%u", p);
            unsigned max = rng(20), min = rng(max + 1), spare = rng(max + 1);
            struct pool *pool = fx_pool(f, name, min, spare, max);

            pool->deleting = rng(6) == 0;
            pool->force_delete = rng(2) == 0;
        }
        for (unsigned i = 0; i < n_desks; i++) {
            _cleanup_free_ char *pool = xasprintf("p%u", rng(n_pools + 1));
            size_t d = fx_desk(f, pool, (enum desk_state) rng(_DESK_STATE_MAX));

            f->pd[d].busy = rng(5) == 0;
            f->pd[d].dom_exists = rng(6) != 0;
            f->pd[d].dom_active = f->pd[d].dom_exists && rng(4) != 0;
            f->desks[d].boot_failures = rng(6);
        }
        if (fx_plan(f) < 0 || check_sizes(f) < 0) {
            fprintf(stderr, "  round %d\n", round);
            ASSERT_TRUE(false);
        }
    }
}

TEST(scale_many_pools)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    uint64_t t0, t;

    for (unsigned p = 0; p < 500; p++) {
        _cleanup_free_ char *name = xasprintf("pool%u", p);

        fx_pool(f, name, 1 + p % 3, 0, 10);
    }
    t0 = now_usec();
    ASSERT_OK(fx_plan(f));
    t = now_usec() - t0;
    ASSERT_EQ(f->n_a, 500);
    ASSERT_EQ(fx_count(f, ACTION_CREATE), 500);
    ASSERT_EQ(fx_create_count(f, "pool499"), 2);
    printf("  500 pools x 0 desktops: %" PRIu64 " us\n", t);
    ASSERT_TRUE(t < 1000000);

    /* 500 pools x 10 desktops: every pool at size, all idle and healthy */
    for (unsigned p = 0; p < 500; p++) {
        f->pools[p].min = 10;
        for (int i = 0; i < 10; i++)
            fx_desk(f, f->pools[p].name, DESK_STATE_READY);
    }
    t0 = now_usec();
    ASSERT_OK(fx_plan(f));
    t = now_usec() - t0;
    ASSERT_EQ(f->n_a, 0);
    printf("  500 pools x 10 desktops: %" PRIu64 " us\n", t);
    ASSERT_TRUE(t < 2000000);
}

TEST(scale_big_pool)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    struct planner_input in;
    uint64_t t0, t;
    unsigned deletes = 0;

    fx_pool(f, "big", 0, 100, POOL_MAX_DESKTOPS);
    for (unsigned i = 0; i < POOL_MAX_DESKTOPS; i++)
        fx_desk(f, "big", i < 2000 ? DESK_STATE_IN_USE : DESK_STATE_READY);
    /* target 2000 in use + 100 spare = 2100: 2900 of the 3000 ready go */
    for (size_t i = 0; i < f->n_desks; i++)
        f->pd[i].desk = &f->desks[i];
    in = (struct planner_input) {
        .pools = f->pool_ptrs, .n_pools = 1, .desks = f->pd, .n_desks = f->n_desks,
        .max_boot_failures = 3,
    };
    t0 = now_usec();
    ASSERT_OK(planner_plan(&in, &f->a, &f->n_a));
    t = now_usec() - t0;
    printf("  1 pool x 5000 desktops: %" PRIu64 " us\n", t);
    ASSERT_EQ(f->n_a, 2900);
    for (size_t k = 0; k < f->n_a; k++)
        deletes += f->a[k].kind == ACTION_DELETE;
    ASSERT_EQ(deletes, 2900);
    /* the newest 2900 ready ones, i.e. the last in input */
    ASSERT_STREQ(f->a[0].desktop, "big-2100");
    ASSERT_STREQ(f->a[f->n_a - 1].desktop, "big-4999");
    ASSERT_TRUE(t < 1000000);
}

TEST(session_idle_timeout_and_max_session)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[4], s[4];

    fx_pool(f, "p", 0, 0, 10)->idle_timeout = 600;
    f->pools[0].max_session = 3600;
    f->now = 100000;
    for (size_t i = 0; i < 4; i++)
        d[i] = fx_desk(f, "p", DESK_STATE_IN_USE);
    s[0] = fx_session(f, d[0], f->now - 100, f->now - 10);      /* fine */
    s[1] = fx_session(f, d[1], f->now - 1000, f->now - 600);    /* idle exactly 600 s */
    s[2] = fx_session(f, d[2], f->now - 3600, f->now - 5);      /* 1 h old */
    s[3] = fx_session(f, d[3], f->now - 599, f->now - 599);     /* just not idle */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), -1);
    ASSERT_EQ(fx_end_of(f, s[1]), SESSION_END_IDLE_TIMEOUT);
    ASSERT_EQ(fx_end_of(f, s[2]), SESSION_END_MAX_SESSION);
    ASSERT_EQ(fx_end_of(f, s[3]), -1);
    ASSERT_EQ(fx_count(f, ACTION_END_SESSION), 2);
}

/* issue 11 #1: destructive actions carry what they were planned on, so the
 * store can refuse them once the world moved (an acquire, a heartbeat) */
TEST(destructive_actions_carry_their_premise)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[3], s[2];
    bool seen_delete = false, seen_idle = false, seen_max = false;

    fx_pool(f, "p", 0, 0, 10)->idle_timeout = 600;
    f->pools[0].max_session = 3600;
    f->now = 100000;
    d[0] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[1] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[2] = fx_desk(f, "p", DESK_STATE_READY); /* a spare above target: deleted */
    s[0] = fx_session(f, d[0], f->now - 1000, f->now - 700);
    s[1] = fx_session(f, d[1], f->now - 4000, f->now - 5);
    ASSERT_OK(fx_plan(f));
    for (size_t j = 0; j < f->n_a; j++) {
        const struct action *a = &f->a[j];

        if (a->kind == ACTION_DELETE && streq(a->desktop, f->desks[d[2]].name)) {
            ASSERT_EQ(a->from, DESK_STATE_READY);
            ASSERT_EQ(a->reason, SESSION_END_DESKTOP_LOST);
            seen_delete = true;
        }
        if (a->kind == ACTION_END_SESSION && streq(a->session, f->sessions[s[0]].id)) {
            ASSERT_EQ(a->heartbeat, f->now - 700);
            seen_idle = true;
        }
        if (a->kind == ACTION_END_SESSION && streq(a->session, f->sessions[s[1]].id)) {
            ASSERT_EQ(a->heartbeat, -1); /* a heartbeat does not cancel max_session */
            seen_max = true;
        }
    }
    ASSERT_TRUE(seen_delete && seen_idle && seen_max);
}

/* issue 7: a desktop quarantined because the overlay directory was full is
 * retried after host_failure_retry (no loop before it), one quarantined for
 * its own failure is kept for inspection */
TEST(host_failure_is_retried_not_kept)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t host, guest;

    fx_pool(f, "p", 0, 0, 10);
    f->now = 10000;
    f->host_failure_retry = 60;
    host = fx_desk(f, "p", DESK_STATE_FAILED);
    guest = fx_desk(f, "p", DESK_STATE_FAILED);
    f->desks[host].host_failure = true;
    f->desks[host].state_since = f->now - 59;
    f->desks[guest].state_since = f->now - 100000;
    f->pd[host].dom_active = f->pd[guest].dom_active = false;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_RETRY), 0);
    f->now += 1;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_RETRY), 1);
    ASSERT_STREQ(f->a[0].desktop, f->desks[host].name);
    /* 0: never */
    f->host_failure_retry = 0;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_RETRY), 0);
}

TEST(session_guest_shutdown_ends_it_unless_busy)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[3], s[3];

    fx_pool(f, "p", 0, 0, 10);
    f->now = 5000;
    d[0] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[1] = fx_desk(f, "p", DESK_STATE_ASSIGNED);
    d[2] = fx_desk(f, "p", DESK_STATE_IN_USE);
    for (size_t i = 0; i < 3; i++)
        s[i] = fx_session(f, d[i], f->now, f->now);
    f->pd[d[0]].dom_active = false;
    f->pd[d[0]].dom_guest_shutdown = true; /* the user powered it off */
    f->pd[d[1]].dom_active = false;
    f->pd[d[1]].dom_exists = false;        /* gone */
    f->pd[d[2]].dom_active = false;
    f->pd[d[2]].busy = true; /* an action stops it on purpose */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), SESSION_END_GUEST_SHUTDOWN);
    ASSERT_EQ(fx_end_of(f, s[1]), SESSION_END_DESKTOP_LOST);
    ASSERT_EQ(fx_end_of(f, s[2]), -1);
}

/* issue 7: a desktop whose QEMU was killed (shut off, reason crashed) ends
 * its session as desktop_lost, so the broker can tell it from a logout */
TEST(session_desktop_lost_when_qemu_dies)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d, s;

    fx_pool(f, "p", 0, 0, 10);
    f->now = 5000;
    d = fx_desk(f, "p", DESK_STATE_IN_USE);
    s = fx_session(f, d, f->now, f->now);
    f->pd[d].dom_active = false; /* dom_guest_shutdown false: crashed, killed, destroyed */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s), SESSION_END_DESKTOP_LOST);
}

TEST(session_of_force_deleted_or_unknown_pool_ends)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    struct pool *p;
    size_t d[2], s[2];

    p = fx_pool(f, "p", 0, 0, 10);
    fx_pool(f, "q", 0, 0, 10);
    f->now = 100;
    d[0] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[1] = fx_desk(f, "q", DESK_STATE_IN_USE);
    s[0] = fx_session(f, d[0], f->now, f->now);
    s[1] = fx_session(f, d[1], f->now, f->now);
    p->deleting = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), -1); /* not forced: sessions go on */
    p->force_delete = true;
    free(f->sessions[1].pool);
    f->sessions[1].pool = xstrdup("gone");
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), SESSION_END_POOL_DELETED);
    ASSERT_EQ(fx_end_of(f, s[1]), SESSION_END_POOL_DELETED);
    ASSERT_EQ(fx_action_of(f, d[0]), ACTION_DELETE);
}

/* Hosts: a desktop on a host that does not answer is unknown, not dead. */
TEST(host_down_leaves_desktops_alone)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[3], s;

    fx_pool(f, "p", 3, 0, 10);
    f->now = 5000;
    d[0] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[1] = fx_desk(f, "p", DESK_STATE_READY);
    d[2] = fx_desk(f, "p", DESK_STATE_RELEASING);
    s = fx_session(f, d[0], f->now, f->now);
    for (size_t i = 0; i < 3; i++) {
        /* what libvirt shows is unknown: not listed */
        f->pd[d[i]].host_down = true;
        f->pd[d[i]].dom_exists = false;
        f->pd[d[i]].dom_active = false;
    }
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s), -1);      /* not desktop_lost */
    ASSERT_EQ(fx_action_of(f, d[1]), -1); /* not repaired */
    ASSERT_EQ(fx_action_of(f, d[2]), -1); /* not wiped: it cannot be */
    ASSERT_EQ(fx_create_count(f, "p"), 0); /* not replaced yet */
}

TEST(host_lost_forgets_floating_and_keeps_dedicated)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[4], s[2];

    fx_pool(f, "p", 2, 1, 10);
    f->now = 5000;
    d[0] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[1] = fx_desk(f, "p", DESK_STATE_READY);
    d[2] = fx_desk(f, "p", DESK_STATE_IN_USE); /* a user's own (dedicated) */
    d[3] = fx_desk(f, "p", DESK_STATE_READY);  /* on a host that answers */
    f->desks[d[2]].owner = (char *) "dr.who";
    s[0] = fx_session(f, d[0], f->now, f->now);
    s[1] = fx_session(f, d[2], f->now, f->now);
    for (size_t i = 0; i < 3; i++) {
        f->pd[d[i]].host_down = f->pd[d[i]].host_lost = true;
        f->pd[d[i]].dom_exists = f->pd[d[i]].dom_active = false;
    }
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), SESSION_END_HOST_LOST);
    ASSERT_EQ(fx_end_of(f, s[1]), SESSION_END_HOST_LOST);
    ASSERT_EQ(fx_action_of(f, d[0]), ACTION_FORGET);
    ASSERT_EQ(fx_action_of(f, d[1]), ACTION_FORGET);
    ASSERT_EQ(fx_action_of(f, d[2]), -1); /* its data is there: it waits */
    ASSERT_EQ(fx_action_of(f, d[3]), -1);
    /* counted: d2 (reserved) and d3; target = max(min 2, reserved 1 + spare 1) = 2 */
    ASSERT_EQ(fx_create_count(f, "p"), 0);
    f->pools[0].min = 4;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 2); /* the two given up are made again */
    f->pd[d[1]].busy = true; /* a worker still holds it: not now */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, d[1]), -1);
}

TEST(host_drain_replaces_spares_first)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[5], s;

    fx_pool(f, "p", 0, 3, 10);
    f->now = 5000;
    d[0] = fx_desk(f, "p", DESK_STATE_READY);
    d[1] = fx_desk(f, "p", DESK_STATE_READY);
    d[2] = fx_desk(f, "p", DESK_STATE_BOOTING);
    d[3] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[4] = fx_desk(f, "p", DESK_STATE_READY); /* elsewhere */
    s = fx_session(f, d[3], f->now, f->now);
    for (size_t i = 0; i < 4; i++)
        f->pd[d[i]].host_draining = true;
    /* reserved 1 + spare 3 = 4: d4 and the in-use d3 count; 2 more elsewhere */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 2);
    ASSERT_EQ(fx_action_of(f, d[2]), ACTION_DELETE); /* pending: serves nobody */
    ASSERT_EQ(fx_action_of(f, d[0]), -1); /* ready: kept until replaced */
    ASSERT_EQ(fx_action_of(f, d[1]), -1);
    ASSERT_EQ(fx_action_of(f, d[3]), -1); /* in use: until logoff */
    ASSERT_EQ(fx_end_of(f, s), -1);
    /* one replacement ready elsewhere: one drained spare goes */
    f->desks[d[2]].state = DESK_STATE_DELETING; /* the pending one is being deleted */
    fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 1);
    ASSERT_EQ((fx_action_of(f, d[0]) == ACTION_DELETE) + (fx_action_of(f, d[1]) == ACTION_DELETE),
              1);
    /* both ready elsewhere: both go */
    fx_desk(f, "p", DESK_STATE_READY);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 0);
    ASSERT_EQ(fx_action_of(f, d[0]), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, d[1]), ACTION_DELETE);
}

TEST(host_drain_released_deleted_warned_logged_off)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[3], s[2];

    fx_pool(f, "p", 0, 0, 10);
    f->now = 5000;
    d[0] = fx_desk(f, "p", DESK_STATE_RELEASING);
    d[1] = fx_desk(f, "p", DESK_STATE_IN_USE);
    d[2] = fx_desk(f, "p", DESK_STATE_IN_USE);
    f->desks[d[2]].owner = (char *) "dr.who";
    s[0] = fx_session(f, d[1], f->now, f->now);
    s[1] = fx_session(f, d[2], f->now, f->now);
    for (size_t i = 0; i < 3; i++) {
        f->pd[d[i]].host_draining = true;
        f->pd[d[i]].drain_deadline = 6000;
    }
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, d[0]), ACTION_DELETE); /* not wiped there */
    ASSERT_EQ(fx_end_of(f, s[0]), -1);
    f->now = 6000;
    f->sessions[s[0]].last_heartbeat = f->sessions[s[1]].last_heartbeat = f->now;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), SESSION_END_HOST_DRAINED);
    ASSERT_EQ(fx_end_of(f, s[1]), SESSION_END_HOST_DRAINED);
    f->pd[d[1]].drain_deadline = 0; /* no warning given: until logoff */
    f->now = 6500;
    f->sessions[s[0]].last_heartbeat = f->now;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_end_of(f, s[0]), -1);
}

TEST(dedicated_owned_desktops_are_reserved_and_kept)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t own[3], free_ready;

    fx_pool(f, "d", 0, 1, 10)->mode = POOL_MODE_DEDICATED;
    for (size_t i = 0; i < 3; i++) {
        own[i] = fx_desk(f, "d", DESK_STATE_READY);
        f->desks[own[i]].owner = (char *) "someone";
    }
    free_ready = fx_desk(f, "d", DESK_STATE_READY);
    /* reserved 3 + spare 1 = 4 = active: nothing to do */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(f->n_a, 0);
    /* shrink spare to 0: only the unowned one may go */
    f->pools[0].spare = 0;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 1);
    ASSERT_EQ(fx_action_of(f, free_ready), ACTION_DELETE);
    /* max below the owned count: owned desktops still stay */
    f->pools[0].max = 1;
    ASSERT_OK(fx_plan(f));
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ(fx_action_of(f, own[i]), -1);
    for (size_t i = 0; i < 3; i++)
        f->desks[own[i]].owner = NULL;
}

TEST(waiting_acquires_grow_the_pool_up_to_max)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    fx_pool(f, "p", 0, 0, 4);
    fx_desk(f, "p", DESK_STATE_IN_USE);
    f->waiting[0] = 2;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 2);
    f->waiting[0] = 10;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_count(f, "p"), 3); /* capped at max 4 */
}

/* An operation moving pool POOL from v1 to v2 (kind, batch). */
static struct op *
fx_op(struct fx *f, const char *pool, enum op_kind kind, unsigned batch)
{
    f->op = (struct op) {
        .id = (char *) "op1", .kind = kind, .pool = xstrdup(pool), .from_version = 1,
        .to_version = 2, .policy = OP_POLICY_WAIT_FOR_LOGOFF, .batch = batch,
        .state = OP_STATE_RUNNING, .created_at = 1000,
    };
    f->op_ptr = &f->op;
    return &f->op;
}

/* Adds a desktop on VERSION in STATE. */
static size_t
fx_desk_v(struct fx *f, const char *pool, enum desk_state state, unsigned version)
{
    size_t i = fx_desk(f, pool, state);

    f->desks[i].image_version = version;
    f->desks[i].seq = (unsigned) i + 1;
    return i;
}

static unsigned
fx_create_version(const struct fx *f, unsigned version)
{
    unsigned n = 0;

    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].kind == ACTION_CREATE && f->a[k].version == version)
            n += f->a[k].count;
    return n;
}

TEST(rebase_canary_first)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[3], canary;

    fx_pool(f, "p", 3, 0, 3)->current_version = 1;
    for (int i = 0; i < 3; i++)
        d[i] = fx_desk_v(f, "p", DESK_STATE_READY, 1);
    fx_op(f, "p", OP_KIND_REBASE, 2);
    ASSERT_OK(fx_plan(f));
    /* one canary on v2, nothing stale touched */
    ASSERT_EQ(fx_create_version(f, 2), 1);
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 0);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(fx_action_of(f, d[i]), -1);
    /* while the canary boots: no second canary, still nothing touched */
    canary = fx_desk_v(f, "p", DESK_STATE_BOOTING, 2);
    f->pd[canary].busy = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_create_version(f, 2), 0);
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 0);
    /* canary ready: one stale spare may go (4 ready > target 3), a batch
     * of new ones starts (2 - 0 pending, capped by what is missing: 2) */
    f->desks[canary].state = DESK_STATE_READY;
    f->pd[canary].busy = false;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_DELETE), 1);
    ASSERT_EQ(fx_create_version(f, 2), 2);
    ASSERT_EQ(fx_count(f, ACTION_OP_FINISH), 0);
}

TEST(rebase_failed_canary_stops_everything)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d[2], canary;

    fx_pool(f, "p", 2, 0, 2)->current_version = 1;
    d[0] = fx_desk_v(f, "p", DESK_STATE_READY, 1);
    d[1] = fx_desk_v(f, "p", DESK_STATE_READY, 1);
    fx_op(f, "p", OP_KIND_REBASE, 1);
    canary = fx_desk_v(f, "p", DESK_STATE_PROVISIONING, 2);
    f->desks[canary].boot_failures = 1;
    f->desks[canary].last_error = (char *) "agent never answered";
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_OP_FINISH), 1);
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].kind == ACTION_OP_FINISH) {
            ASSERT_EQ(f->a[k].op_state, OP_STATE_FAILED);
            ASSERT_STREQ(f->a[k].error, "agent never answered");
        }
    ASSERT_EQ(fx_action_of(f, canary), ACTION_DELETE);
    ASSERT_EQ(fx_action_of(f, d[0]), -1);
    ASSERT_EQ(fx_action_of(f, d[1]), -1);
    ASSERT_EQ(fx_create_version(f, 2), 0);
    f->desks[canary].last_error = NULL;
}

TEST(rebase_never_fewer_ready_and_in_use_waits)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t used, fresh[2], released;

    fx_pool(f, "p", 0, 2, 5)->current_version = 1;
    used = fx_desk_v(f, "p", DESK_STATE_IN_USE, 1);
    fresh[0] = fx_desk_v(f, "p", DESK_STATE_READY, 2);
    fresh[1] = fx_desk_v(f, "p", DESK_STATE_READY, 2);
    fx_op(f, "p", OP_KIND_REBASE, 1);
    f->now = 5000;
    fx_session(f, used, f->now, f->now);
    /* only the in-use one is stale: wait for logoff, not finished */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, used), -1);
    ASSERT_EQ(fx_count(f, ACTION_OP_FINISH), 0);
    ASSERT_EQ(fx_count(f, ACTION_END_SESSION), 0);
    (void) fresh;
    /* force-logoff: after the warning, the session ends */
    f->op.policy = OP_POLICY_FORCE_LOGOFF;
    f->op.warn = 300;
    f->now = f->op.created_at + 299;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_END_SESSION), 0);
    f->now = f->op.created_at + 300;
    f->sessions[0].last_heartbeat = f->now;
    f->sessions[0].created_at = f->now;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_END_SESSION), 1);
    /* once released it is deleted (replaced), not wiped back */
    released = used;
    f->desks[released].state = DESK_STATE_RELEASING;
    f->n_sessions = 0;
    free(f->sessions[0].id);
    free(f->sessions[0].pool);
    free(f->sessions[0].desktop);
    free(f->sessions[0].user);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, released), ACTION_DELETE);
}

/* A stale spare whose DELETE is queued still reads ready until the action
 * runs: the next pass must not count it and delete another one too (the
 * ready count dropped from 3 to 1, tests/e2e/rebase.sh). */
TEST(rebase_busy_stale_spare_is_not_counted)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t used, old[2], fresh;

    fx_pool(f, "p", 3, 2, 5)->current_version = 1;
    used = fx_desk_v(f, "p", DESK_STATE_IN_USE, 1);
    old[0] = fx_desk_v(f, "p", DESK_STATE_READY, 1);
    old[1] = fx_desk_v(f, "p", DESK_STATE_READY, 1);
    fresh = fx_desk_v(f, "p", DESK_STATE_READY, 2);
    fx_op(f, "p", OP_KIND_REBASE, 1);
    f->now = 5000;
    fx_session(f, used, f->now, f->now);
    /* ready + in use = 4 > the target 3: one stale spare may go */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ((fx_action_of(f, old[0]) == ACTION_DELETE) +
              (fx_action_of(f, old[1]) == ACTION_DELETE), 1);
    /* its DELETE is queued (busy, still ready): the other one stays */
    f->pd[fx_action_of(f, old[0]) == ACTION_DELETE ? old[0] : old[1]].busy = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, old[0]), -1);
    ASSERT_EQ(fx_action_of(f, old[1]), -1);
    (void) fresh;
}

/* A desktop whose DELETE is queued keeps its row's state until the action
 * runs: the pool must not count it and shrink a ready one in its place
 * (after a failed canary, e2e/rebase.sh saw a v2 spare deleted and
 * rebuilt). */
TEST(removing_desktop_is_not_counted)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t r[3], canary;

    fx_pool(f, "p", 3, 2, 5);
    for (int i = 0; i < 3; i++)
        r[i] = fx_desk(f, "p", DESK_STATE_READY);
    canary = fx_desk(f, "p", DESK_STATE_BOOTING);
    f->desks[canary].boot_failures = 1;
    f->pd[canary].busy = true;
    /* counted, the pool of 4 is one over its target and a ready one goes */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, r[0]) == ACTION_DELETE || fx_action_of(f, r[1]) == ACTION_DELETE ||
              fx_action_of(f, r[2]) == ACTION_DELETE, true);
    /* known to be on its way out: nothing else is touched */
    f->pd[canary].removing = true;
    ASSERT_OK(fx_plan(f));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(fx_action_of(f, r[i]), -1);
    ASSERT_EQ(fx_count(f, ACTION_CREATE), 0);
}

TEST(rebase_done_and_dedicated_in_place)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t own;

    fx_pool(f, "d", 0, 0, 5)->mode = POOL_MODE_DEDICATED;
    f->pools[0].current_version = 1;
    own = fx_desk_v(f, "d", DESK_STATE_READY, 1);
    f->desks[own].owner = (char *) "dr.b";
    fx_desk_v(f, "d", DESK_STATE_READY, 2); /* the canary, ready */
    fx_op(f, "d", OP_KIND_REBASE, 1);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, own), ACTION_REBASE);
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].kind == ACTION_REBASE)
            ASSERT_EQ(f->a[k].version, 2);
    ASSERT_EQ(fx_create_version(f, 2), 0); /* in place: nothing new built for it */
    /* on v2: the operation is over */
    f->desks[own].image_version = 2;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_OP_FINISH), 1);
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].kind == ACTION_OP_FINISH)
            ASSERT_EQ(f->a[k].op_state, OP_STATE_SUCCEEDED);
    f->desks[own].owner = NULL;
}

TEST(new_version_starts_a_rebase_once)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();

    fx_pool(f, "p", 1, 0, 2)->current_version = 1;
    fx_desk_v(f, "p", DESK_STATE_READY, 1);
    f->latest[0] = 1;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_OP_START), 0);
    f->latest[0] = 2; /* published */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_OP_START), 1);
    /* pinned to the version it runs: nothing */
    f->pools[0].image_version = 1;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_OP_START), 0);
    /* with an operation running, none is started */
    f->pools[0].image_version = 0;
    fx_op(f, "p", OP_KIND_REBASE, 1);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_OP_START), 0);
}

TEST(refresh_replaces_old_idle_not_in_use_or_owned)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t old_ready, in_use, owned;
    struct op *o;

    fx_pool(f, "p", 0, 1, 5)->current_version = 2;
    old_ready = fx_desk_v(f, "p", DESK_STATE_READY, 2);
    in_use = fx_desk_v(f, "p", DESK_STATE_IN_USE, 2);
    owned = fx_desk_v(f, "p", DESK_STATE_READY, 2);
    f->desks[owned].owner = (char *) "x";
    o = fx_op(f, "p", OP_KIND_REFRESH, 1);
    o->from_version = o->to_version = 2;
    o->first_seq = 100;
    ASSERT_OK(fx_plan(f));
    /* only the old idle unowned one is stale: a canary is built for it */
    ASSERT_EQ(fx_create_version(f, 2), 1);
    ASSERT_EQ(fx_action_of(f, in_use), -1);
    ASSERT_EQ(fx_action_of(f, owned), -1);
    ASSERT_EQ(fx_action_of(f, old_ready), -1);
    f->desks[owned].owner = NULL;
    f->desks[owned].seq = 200;
}


/* ---- instant clones ---- */

/* Pool NAME making instant clones of image "img" v1 on template "t", whose
 * digest is "d1"; returns its index. */
static size_t
fx_instant_pool(struct fx *f, const char *name, unsigned min, unsigned spare, unsigned max)
{
    struct pool *p = fx_pool(f, name, min, spare, max);

    p->image = (char *) "img";
    p->template = (char *) "t";
    p->current_version = 1;
    p->clone = POOL_CLONE_INSTANT;
    f->digests[f->n_pools - 1] = "d1";
    return f->n_pools - 1;
}

/* Adds parent NAME of img VERSION, template t, DIGEST in STATE, made at CREATED. */
static struct parent *
fx_parent(struct fx *f, const char *name, unsigned version, const char *digest,
          enum parent_state state, int64_t created)
{
    struct parent *x = &f->parents[f->n_parents];

    if (f->n_parents >= ELEMENTSOF(f->parents))
        abort();
    *x = (struct parent) { .name = (char *) name, .image = (char *) "img",
                           .image_version = version, .template = (char *) "t",
                           .template_digest = (char *) digest, .state = state,
                           .created_at = created };
    f->pp[f->n_parents] = (struct planner_parent) { .parent = x };
    f->n_parents++;
    return x;
}

/* The parent action of KIND planned for PARENT (NULL: any), or NULL. */
static const struct action *
fx_parent_action(const struct fx *f, enum action_kind kind, const char *parent)
{
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].kind == kind && (!parent || streq_ptr(f->a[k].parent, parent)))
            return &f->a[k];
    return NULL;
}

/* The action planned for desktop I (or NULL). */
static const struct action *
fx_desk_action(const struct fx *f, size_t i)
{
    for (size_t k = 0; k < f->n_a; k++)
        if (f->a[k].desktop && f->a[k].kind != ACTION_END_SESSION &&
            streq(f->a[k].desktop, f->desks[i].name))
            return &f->a[k];
    return NULL;
}

TEST(instant_pool_builds_its_parent_first)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    const struct action *a;
    size_t d;

    fx_instant_pool(f, "p", 2, 0, 4);
    d = fx_desk_v(f, "p", DESK_STATE_PROVISIONING, 1);
    ASSERT_OK(fx_plan(f));
    /* no parent yet: one is made for the version it runs; the desktop waits */
    a = fx_parent_action(f, ACTION_PARENT_CREATE, NULL);
    ASSERT_NOT_NULL(a);
    ASSERT_STREQ(a->pool, "p");
    ASSERT_EQ(a->version, 1);
    ASSERT_EQ(fx_count(f, ACTION_PARENT_CREATE), 1);
    ASSERT_EQ(fx_action_of(f, d), -1);
    ASSERT_EQ(fx_create_count(f, "p"), 1);

    /* building: built (unless a worker has it), the desktop still waits */
    fx_parent(f, "img.v1.t.1", 1, "d1", PARENT_STATE_BUILDING, 10);
    ASSERT_OK(fx_plan(f));
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_BUILD, "img.v1.t.1"));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_CREATE), 0);
    ASSERT_EQ(fx_action_of(f, d), -1);
    f->pp[0].busy = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_BUILD), 0);
    ASSERT_EQ(fx_count(f, ACTION_PARENT_DELETE), 0);

    /* ready: the desktop is cloned from it */
    f->pp[0].busy = false;
    f->parents[0].state = PARENT_STATE_READY;
    ASSERT_OK(fx_plan(f));
    a = fx_desk_action(f, d);
    ASSERT_NOT_NULL(a);
    ASSERT_EQ(a->kind, ACTION_BUILD);
    ASSERT_STREQ(a->parent, "img.v1.t.1");
    ASSERT_EQ(fx_count(f, ACTION_PARENT_BUILD) + fx_count(f, ACTION_PARENT_DELETE) +
              fx_count(f, ACTION_PARENT_CREATE), 0);

    /* a clone restored before a crash is finished from its own parent */
    f->desks[d].state = DESK_STATE_BOOTING;
    f->desks[d].parent = (char *) "img.v1.t.1";
    ASSERT_OK(fx_plan(f));
    a = fx_desk_action(f, d);
    ASSERT_EQ(a->kind, ACTION_BUILD);
    ASSERT_STREQ(a->parent, "img.v1.t.1");
}

TEST(instant_parent_matches_template_digest_and_refresh)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    struct op *o;
    size_t d;

    fx_instant_pool(f, "p", 0, 1, 4);
    fx_parent(f, "img.v1.t.1", 1, "old", PARENT_STATE_READY, 10);
    d = fx_desk_v(f, "p", DESK_STATE_PROVISIONING, 1);
    ASSERT_OK(fx_plan(f));
    /* the template changed: a new parent; the old one nobody names goes */
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_CREATE, NULL));
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, "img.v1.t.1"));
    ASSERT_EQ(fx_action_of(f, d), -1);

    /* a refresh wants a parent made after it began */
    f->parents[0].template_digest = (char *) "d1";
    o = fx_op(f, "p", OP_KIND_REFRESH, 1);
    o->from_version = o->to_version = 1;
    o->first_seq = 100;
    o->created_at = 1000;
    ASSERT_OK(fx_plan(f));
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_CREATE, NULL));
    fx_parent(f, "img.v1.t.2", 1, "d1", PARENT_STATE_READY, 1001);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_CREATE), 0);
    ASSERT_STREQ(fx_desk_action(f, d)->parent, "img.v1.t.2");
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, "img.v1.t.1"));
    /* ... but not while a desktop is still backed by it */
    f->desks[fx_desk_v(f, "p", DESK_STATE_IN_USE, 1)].parent = (char *) "img.v1.t.1";
    ASSERT_OK(fx_plan(f));
    ASSERT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, NULL));
}

TEST(instant_wipe_source)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t clone, booted;

    fx_instant_pool(f, "p", 0, 0, 4);
    fx_parent(f, "img.v1.t.1", 1, "d1", PARENT_STATE_READY, 10);
    fx_parent(f, "img.v1.t.2", 1, "d1", PARENT_STATE_READY, 20);
    clone = fx_desk_v(f, "p", DESK_STATE_RELEASING, 1);
    f->desks[clone].parent = (char *) "img.v1.t.1";
    booted = fx_desk_v(f, "p", DESK_STATE_RELEASING, 1);
    ASSERT_OK(fx_plan(f));
    /* both are re-cloned from the pool's newest parent: they move to it */
    ASSERT_EQ(fx_desk_action(f, clone)->kind, ACTION_WIPE);
    ASSERT_STREQ(fx_desk_action(f, clone)->parent, "img.v1.t.2");
    ASSERT_STREQ(fx_desk_action(f, booted)->parent, "img.v1.t.2");
    /* the newest one is building: its own parent will do */
    f->parents[1].state = PARENT_STATE_BUILDING;
    ASSERT_OK(fx_plan(f));
    ASSERT_STREQ(fx_desk_action(f, clone)->parent, "img.v1.t.1");
    ASSERT_NULL(fx_desk_action(f, booted)->parent); /* reverted */
    /* the pool fell back to booting: no parent, the clone is made anew */
    f->pools[0].clone_fallback = (char *) "Parent 'img.v1.t.1' failed: broken.";
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_desk_action(f, clone)->kind, ACTION_WIPE);
    ASSERT_NULL(fx_desk_action(f, clone)->parent);
    /* its parents nobody wants any more; the one a clone names stays */
    ASSERT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, "img.v1.t.1"));
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, "img.v1.t.2"));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_CREATE), 0);
}

TEST(instant_while_probing_nothing_moves)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t clone, booted, pending;

    fx_instant_pool(f, "p", 0, 1, 4);
    fx_parent(f, "img.v1.t.1", 1, "d1", PARENT_STATE_READY, 10);
    fx_parent(f, "img.v1.t.0", 1, "d1", PARENT_STATE_FAILED, 5);
    clone = fx_desk_v(f, "p", DESK_STATE_RELEASING, 1);
    f->desks[clone].parent = (char *) "img.v1.t.1";
    booted = fx_desk_v(f, "p", DESK_STATE_RELEASING, 1);
    pending = fx_desk_v(f, "p", DESK_STATE_PROVISIONING, 1);
    f->probing = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_CREATE) + fx_count(f, ACTION_PARENT_BUILD) +
              fx_count(f, ACTION_PARENT_DELETE), 0);
    ASSERT_EQ(fx_action_of(f, clone), -1);          /* waits for the probe */
    ASSERT_EQ(fx_action_of(f, booted), ACTION_WIPE); /* a revert needs no parent */
    ASSERT_EQ(fx_action_of(f, pending), ACTION_BUILD); /* boots (the reconciler holds
                                                         * builds while probing) */
    f->probing = false;
    ASSERT_OK(fx_plan(f));
    ASSERT_NOT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, "img.v1.t.0"));
    ASSERT_NULL(fx_parent_action(f, ACTION_PARENT_DELETE, "img.v1.t.1"));
}

TEST(instant_pools_share_parents_and_retire)
{
    _cleanup_(fx_freep) struct fx *f = fx_new();
    size_t d;

    fx_instant_pool(f, "a", 1, 0, 2);
    fx_instant_pool(f, "b", 1, 0, 2);
    fx_pool(f, "c", 1, 0, 2); /* boots: wants no parent */
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_CREATE), 1);
    fx_parent(f, "img.v1.t.1", 1, "d1", PARENT_STATE_BUILDING, 10);
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_count(f, ACTION_PARENT_BUILD), 1);
    /* an interrupted wipe's previous incarnation goes first */
    d = fx_desk_v(f, "a", DESK_STATE_RELEASING, 1);
    f->desks[d].old_domain = (char *) "i.a-1";
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, d), ACTION_RETIRE);
    f->pd[d].busy = true;
    ASSERT_OK(fx_plan(f));
    ASSERT_EQ(fx_action_of(f, d), -1);
}

int
main(void)
{
    RUN(action_kind_strings);
    RUN(instant_pool_builds_its_parent_first);
    RUN(instant_parent_matches_template_digest_and_refresh);
    RUN(instant_wipe_source);
    RUN(instant_while_probing_nothing_moves);
    RUN(instant_pools_share_parents_and_retire);
    RUN(session_idle_timeout_and_max_session);
    RUN(destructive_actions_carry_their_premise);
    RUN(session_guest_shutdown_ends_it_unless_busy);
    RUN(session_desktop_lost_when_qemu_dies);
    RUN(host_failure_is_retried_not_kept);
    RUN(session_of_force_deleted_or_unknown_pool_ends);
    RUN(host_down_leaves_desktops_alone);
    RUN(host_lost_forgets_floating_and_keeps_dedicated);
    RUN(host_drain_replaces_spares_first);
    RUN(host_drain_released_deleted_warned_logged_off);
    RUN(dedicated_owned_desktops_are_reserved_and_kept);
    RUN(waiting_acquires_grow_the_pool_up_to_max);
    RUN(rebase_canary_first);
    RUN(rebase_failed_canary_stops_everything);
    RUN(rebase_never_fewer_ready_and_in_use_waits);
    RUN(rebase_busy_stale_spare_is_not_counted);
    RUN(removing_desktop_is_not_counted);
    RUN(rebase_done_and_dedicated_in_place);
    RUN(new_version_starts_a_rebase_once);
    RUN(refresh_replaces_old_idle_not_in_use_or_owned);
    RUN(empty_input);
    RUN(empty_pool_grows_to_min);
    RUN(empty_pool_zero_min_spare);
    RUN(partly_built_pool_grows_by_difference);
    RUN(spare_with_in_use);
    RUN(never_above_max);
    RUN(failed_reduce_room_and_stay);
    RUN(shrink_order);
    RUN(shrink_newest_pending_first);
    RUN(shrink_never_in_use_or_busy);
    RUN(busy_get_nothing);
    RUN(build_and_quarantine);
    RUN(repair);
    RUN(deleting_state_deleted);
    RUN(unknown_pool_deleted);
    RUN(pool_deleting);
    RUN(pool_deleting_empty_removed);
    RUN(one_action_per_desk);
    RUN(several_pools_independent);
    RUN(deterministic);
    RUN(random_sweep);
    RUN(scale_many_pools);
    RUN(scale_big_pool);
    return TESTS_DONE();
}
