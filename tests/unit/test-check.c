/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-check.c - check.c: the invariants between the store and libvirt
 *
 * Pure: hand-built rows, sessions, domains and volumes; each case breaks one
 * invariant and expects exactly the sentence that names it.
 */
#include "config.h"

#include <stdio.h>

#include "check.h"
#include "strv.h"
#include "tests.h"
#include "util.h"

static struct desk
desk(const char *name, enum desk_state state)
{
    return (struct desk) { .name = (char *) name, .pool = (char *) "p", .state = state,
                           .domain = xasprintf("dp.%s", name) };
}

static bool
has(char **problems, const char *needle)
{
    for (size_t i = 0; problems[i]; i++)
        if (strstr(problems[i], needle))
            return true;
    return false;
}

TEST(consistent)
{
    struct desk d[2] = { desk("p-1", DESK_STATE_READY), desk("p-2", DESK_STATE_IN_USE) };
    struct desk *dp[2] = { &d[0], &d[1] };
    struct session x = { .id = (char *) "s1", .desktop = (char *) "p-2",
                         .state = SESSION_STATE_ACTIVE };
    struct session *xp[1] = { &x };
    struct check_domain doms[2] = { { "dp.p-1", true }, { "dp.p-2", true } };
    char *vols[3] = { (char *) "dp.p-1.qcow2", (char *) "dp.p-2.qcow2",
                      (char *) "dp.p-2.data.qcow2" };
    struct check_input in = { .desks = dp, .n_desks = 2, .sessions = xp, .n_sessions = 1,
                              .domains = doms, .n_domains = 2, .volumes = vols,
                              .n_volumes = 3 };
    _cleanup_(strv_freep) char **p = check_consistency(&in);

    ASSERT_NULL(p[0]);
    free(d[0].domain);
    free(d[1].domain);
}

TEST(every_invariant)
{
    struct desk d[5] = {
        desk("p-1", DESK_STATE_READY),        /* its domain is not running */
        desk("p-2", DESK_STATE_ASSIGNED),     /* no session, no volume */
        desk("p-3", DESK_STATE_BOOTING),      /* no domain */
        desk("p-4", DESK_STATE_PROVISIONING), /* nothing yet: fine */
        desk("p-5", DESK_STATE_READY),        /* busy: skipped though broken */
    };
    struct desk *dp[5] = { &d[0], &d[1], &d[2], &d[3], &d[4] };
    struct session x = { .id = (char *) "s1", .desktop = (char *) "p-1",
                         .state = SESSION_STATE_ACTIVE };
    struct session y = { .id = (char *) "s2", .desktop = (char *) "gone",
                         .state = SESSION_STATE_ACTIVE };
    struct session *xp[2] = { &x, &y };
    struct check_domain doms[3] = { { "dp.p-1", false }, { "dp.p-2", true },
                                    { "dp.p-9", true } };
    char *vols[4] = { (char *) "dp.p-1.qcow2", (char *) "dp.p-3.qcow2",
                      (char *) "dp.p-9.qcow2", (char *) "dp.p-8.data.qcow2" };
    char *busy[1] = { (char *) "p-5" };
    struct check_input in = { .desks = dp, .n_desks = 5, .sessions = xp, .n_sessions = 2,
                              .domains = doms, .n_domains = 3, .volumes = vols,
                              .n_volumes = 4, .busy = busy, .n_busy = 1 };
    _cleanup_(strv_freep) char **p = check_consistency(&in);

    ASSERT_TRUE(has(p, "Desktop 'p-1' is ready but its domain 'dp.p-1' is not running."));
    ASSERT_TRUE(has(p, "Desktop 'p-2' (assigned) has no overlay volume 'dp.p-2.qcow2'."));
    ASSERT_TRUE(has(p, "Desktop 'p-2' is assigned with 0 active sessions"));
    ASSERT_TRUE(has(p, "Desktop 'p-3' (booting) has no domain 'dp.p-3'."));
    ASSERT_TRUE(has(p, "Session s1 is active on desktop 'p-1', which is ready."));
    ASSERT_TRUE(has(p, "Session s2 is active on desktop 'gone', which does not exist."));
    ASSERT_TRUE(has(p, "Domain 'dp.p-9' is named by no desktop"));
    ASSERT_TRUE(has(p, "Volume 'dp.p-9.qcow2' is named by no desktop"));
    ASSERT_TRUE(has(p, "Volume 'dp.p-8.data.qcow2' is named by no desktop"));
    ASSERT_FALSE(has(p, "'p-4'"));
    ASSERT_FALSE(has(p, "'p-5'"));
    ASSERT_EQ(strv_length(p), 9);
    for (size_t i = 0; i < 5; i++)
        free(d[i].domain);
}

TEST(clones_and_parents)
{
    struct desk d[3] = { desk("p-1", DESK_STATE_READY), desk("p-2", DESK_STATE_READY),
                         desk("p-3", DESK_STATE_READY) };
    struct desk *dp[3] = { &d[0], &d[1], &d[2] };
    struct parent par = { .name = (char *) "img.v1.t.1", .domain = (char *) "dp.parent.img.v1.t.1",
                          .state = PARENT_STATE_READY };
    struct parent *pp[1] = { &par };
    /* p-1 is a clone in its second incarnation with the first one being
     * torn down; the parent's domain is defined (a build) */
    struct check_domain doms[5] = { { "dp.p-1.b", true }, { "dp.p-1", false },
                                    { "dp.p-2", true }, { "dp.p-3", true },
                                    { "dp.parent.img.v1.t.1", true } };
    char *vols[5] = { (char *) "dp.p-1.b.qcow2", (char *) "dp.p-1.qcow2",
                      (char *) "dp.p-2.qcow2", (char *) "dp.p-3.qcow2",
                      (char *) "dp.parent.img.v1.t.1.qcow2" };
    struct check_input in = { .desks = dp, .n_desks = 3, .domains = doms, .n_domains = 5,
                              .volumes = vols, .n_volumes = 5, .parents = pp,
                              .n_parents = 1 };
    char **p;

    free(d[0].domain);
    d[0].domain = xstrdup("dp.p-1.b");
    d[0].old_domain = (char *) "dp.p-1";
    d[0].parent = (char *) "img.v1.t.1";
    d[1].parent = (char *) "img.v1.t.1";
    p = check_consistency(&in);
    ASSERT_NULL(p[0]);
    strv_free(p);

    /* a clone whose parent is gone or going */
    d[2].parent = (char *) "img.v1.t.0";
    par.state = PARENT_STATE_DELETING;
    p = check_consistency(&in);
    ASSERT_TRUE(has(p, "Desktop 'p-3' is a clone of parent 'img.v1.t.0', which does not exist."));
    ASSERT_TRUE(has(p, "Desktop 'p-1' is a clone of parent 'img.v1.t.1', which is being deleted."));
    ASSERT_EQ(strv_length(p), 3);
    strv_free(p);
    /* without its parent row, the parent's domain and volume are orphans */
    in.n_parents = 0;
    p = check_consistency(&in);
    ASSERT_TRUE(has(p, "Domain 'dp.parent.img.v1.t.1' is named by no desktop or parent"));
    ASSERT_TRUE(has(p, "Volume 'dp.parent.img.v1.t.1.qcow2' is named by no desktop or parent"));
    strv_free(p);
    for (size_t i = 0; i < 3; i++)
        free(d[i].domain);
}

int
main(void)
{
    RUN(consistent);
    RUN(every_invariant);
    RUN(clones_and_parents);
    return TESTS_DONE();
}
