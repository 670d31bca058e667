/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-reconcile.c - the reconciler against libvirt's test:///default driver
 *
 * Real libvirt API, real SQLite, in one process (the test driver's state
 * lives as long as the connection): pools of 500 desktops created, shrunk,
 * grown and deleted; a crash simulated by dropping a running reconciler and
 * starting a new one on the same store and connection, with the debris a
 * crash can leave (a volume and a domain nobody names, a row in
 * provisioning with nothing behind it, a ready desktop whose domain
 * stopped or vanished) plus a domain of another instance that must be left
 * alone. Each case asserts the exact end state in both the store and
 * libvirt. Prints timings for the record; asserts no timing.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "hv.h"
#include "log.h"
#include "reconcile.h"
#include "store.h"
#include "tests.h"
#include "tmpl.h"
#include "util.h"

#define INSTANCE "it"
#define SPOOL "it-pool"

static struct hv *hv;
static char tmpdir[] = "/tmp/deskpool-it.XXXXXX";

static void
test_conf(struct conf *c)
{
    _cleanup_free_ char *err = NULL;

    conf_init(c);
    (void) conf_set(c, "uri", "test:///default", &err);
    (void) conf_set(c, "instance", INSTANCE, &err);
    (void) conf_set(c, "state_dir", tmpdir, &err);
    (void) conf_set(c, "storage_pool", SPOOL, &err);
    (void) conf_set(c, "templates_dir", TEST_TEMPLATES_DIR, &err);
    (void) conf_set(c, "boot_delay", "0", &err);
    (void) conf_set(c, "max_concurrent", "8", &err);
    /* the test driver cannot change a running domain's console */
    (void) conf_set(c, "console_password", "none", &err);
    /* the test driver's host has 3 GiB: 5,000 desktops of 128 MiB overcommit it */
    (void) conf_set(c, "memory_overcommit", "100000", &err);
    /* the test driver "boots" at once: no boot storm to hold back */
    (void) conf_set(c, "host_max_starts", "64", &err);
    conf_finalize(c);
}

static int
open_store(const char *name, struct store **ret)
{
    _cleanup_free_ char *path = xasprintf("%s/%s.db", tmpdir, name), *err = NULL;

    (void) unlink(path);
    return store_open(path, ret, &err);
}

static int
add_image(struct store *s)
{
    struct image img = {
        .name = (char *) "img", .version = 1, .path = (char *) "/golden/img-v1.qcow2",
        .sha256 = (char *) "00", .size = 1, .virtual_size = 64ULL << 20, .created_at = 1,
    };

    return store_image_add(s, &img);
}

static int
add_pool(struct store *s, const char *name, unsigned min, unsigned spare, unsigned max)
{
    struct pool p = {
        .name = (char *) name, .image = (char *) "img", .template = (char *) "test",
        .mode = POOL_MODE_FLOATING, .min = min, .spare = spare, .max = max,
    };

    return store_pool_add(s, &p);
}

/* Counts, in libvirt, our domains (running ones in *active) and volumes. */
static void
count_libvirt(size_t *ret_doms, size_t *ret_active, size_t *ret_vols)
{
    struct hv_domain *doms = NULL;
    char **vols = NULL;
    size_t nd = 0, nv = 0, active = 0;

    if (hv_domain_list(hv, INSTANCE ".", &doms, &nd) < 0)
        nd = (size_t) -1;
    for (size_t i = 0; i < nd && nd != (size_t) -1; i++)
        active += doms[i].active;
    if (hv_volume_list(hv, SPOOL, INSTANCE ".", &vols, &nv) < 0)
        nv = (size_t) -1;
    hv_domain_list_free(doms, nd == (size_t) -1 ? 0 : nd);
    for (size_t i = 0; i < nv && nv != (size_t) -1; i++)
        free(vols[i]);
    free(vols);
    *ret_doms = nd;
    *ret_active = active;
    *ret_vols = nv;
}

/* Desktops of POOL in STATE (or all, when STATE < 0). */
static size_t
count_desks(struct store *s, const char *pool, int state)
{
    struct desk **d = NULL;
    size_t n = 0, k = 0;

    if (store_desk_list(s, pool, &d, &n) < 0)
        return (size_t) -1;
    for (size_t i = 0; i < n; i++)
        if (state < 0 || d[i]->state == (enum desk_state) state)
            k++;
    desk_list_free(d, n);
    return k;
}

static double
seconds_since(uint64_t t0)
{
    return (double) (now_usec() - t0) / 1e6;
}

TEST(pool_of_500_create_resize_delete)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    struct conf c;
    size_t nd, na, nv;
    uint64_t t0;
    int passes;

    test_conf(&c);
    ASSERT_OK(open_store("scale", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);

    ASSERT_OK(add_pool(s, "big", 500, 0, 500));
    t0 = now_usec();
    passes = reconciler_settle(r, 20);
    ASSERT_OK(passes);
    printf("# 0 -> 500 ready desktops: %.2f s in %d passes\n", seconds_since(t0), passes);
    ASSERT_EQ(count_desks(s, "big", DESK_STATE_READY), 500);
    ASSERT_EQ(count_desks(s, "big", -1), 500);
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 500);
    ASSERT_EQ(na, 500);
    ASSERT_EQ(nv, 500);

    /* a pass with nothing to do, at 500 desktops */
    t0 = now_usec();
    ASSERT_EQ(reconciler_pass(r), 0);
    printf("# idle reconcile pass at 500 desktops: %.1f ms\n", seconds_since(t0) * 1e3);

    ASSERT_OK(store_pool_set_sizes(s, "big", 10, 0, 500));
    t0 = now_usec();
    ASSERT_OK(reconciler_settle(r, 20));
    printf("# 500 -> 10: %.2f s\n", seconds_since(t0));
    ASSERT_EQ(count_desks(s, "big", -1), 10);
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 10);
    ASSERT_EQ(nv, 10);

    /* spare above min grows the pool */
    ASSERT_OK(store_pool_set_sizes(s, "big", 10, 30, 40));
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_desks(s, "big", DESK_STATE_READY), 30);
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 30);
    ASSERT_EQ(nv, 30);

    ASSERT_OK(store_pool_mark_deleting(s, "big", false));
    t0 = now_usec();
    ASSERT_OK(reconciler_settle(r, 20));
    printf("# delete pool of 30: %.2f s\n", seconds_since(t0));
    {
        _cleanup_(pool_freep) struct pool *gone = NULL;

        ASSERT_ERROR(store_pool_get(s, "big", &gone), ENOENT);
    }
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 0);
    ASSERT_EQ(nv, 0);
}

/* A domain defined behind deskpool's back, with deskpool metadata. */
static int
define_foreign(const char *name, const char *instance)
{
    _cleanup_free_ char *xml = NULL;
    struct desk_meta m = {
        .instance = (char *) instance, .pool = (char *) "rec", .desktop = (char *) "x",
        .image = (char *) "img", .image_version = 1,
    };
    _cleanup_free_ char *meta = desk_meta_format(&m);

    xml = xasprintf("<domain type='test'><name>%s</name><memory unit='MiB'>64</memory>"
                    "<os><type arch='x86_64'>hvm</type></os><metadata>%s</metadata></domain>",
                    name, meta);
    return hv_domain_define(hv, xml, HV_DEFINE_VALIDATE, NULL);
}

TEST(crash_recovery_with_debris)
{
    _cleanup_(store_closep) struct store *s = NULL;
    struct reconciler *r = NULL;
    _cleanup_(desk_freep) struct desk *half = NULL;
    struct desk **desks = NULL;
    struct conf c;
    size_t nd, na, nv, n = 0;
    bool active = true;
    char *path = NULL;

    test_conf(&c);
    ASSERT_OK(open_store("crash", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(add_pool(s, "rec", 5, 0, 5));

    /* first life: runs in its own thread and dies while provisioning */
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    ASSERT_OK(reconciler_start(r));
    usleep(20 * 1000);
    r = reconciler_free(r);

    /* debris */
    ASSERT_OK(hv_volume_create_overlay(hv, SPOOL, INSTANCE ".rec-99.qcow2",
                                       "/golden/img-v1.qcow2", 64ULL << 20, &path, NULL));
    free(path);
    ASSERT_OK(define_foreign(INSTANCE ".rec-98", INSTANCE));     /* ours, nobody names it */
    ASSERT_OK(define_foreign(INSTANCE ".rec-97", "someoneelse")); /* not ours */

    /* second life brings it to 5 ready; what nobody names is reported and
     * left alone (it may hold a user's data: issue 11 #2) ... */
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_desks(s, "rec", DESK_STATE_READY), 5);
    ASSERT_EQ(count_desks(s, "rec", -1), 5);
    {
        struct reconcile_stats st;
        bool active98 = false;

        reconciler_get_stats(r, &st);
        ASSERT_EQ(st.orphans, 2);
        ASSERT_EQ(st.orphans_removed, 0);
        ASSERT_OK(hv_domain_is_active(hv, INSTANCE ".rec-98", &active98));
        /* ... until the operator says --purge-orphans; not someone else's */
        reconciler_purge_orphans(r);
        ASSERT_OK(reconciler_settle(r, 20));
        reconciler_get_stats(r, &st);
        ASSERT_EQ(st.orphans_removed, 2);
        ASSERT_EQ(st.orphans, 0);
        ASSERT_ERROR(hv_domain_is_active(hv, INSTANCE ".rec-98", &active98), ENOENT);
        ASSERT_OK(hv_domain_is_active(hv, INSTANCE ".rec-97", &active98));
    }

    /* more debris: a ready desktop stopped, one undefined, a row with
     * nothing behind it (a crash right after store_desk_create) */
    ASSERT_OK(store_desk_list(s, "rec", &desks, &n));
    ASSERT_EQ(n, 5);
    ASSERT_OK(hv_domain_destroy(hv, desks[0]->domain));
    ASSERT_OK(hv_domain_destroy(hv, desks[1]->domain));
    ASSERT_OK(hv_domain_undefine(hv, desks[1]->domain));
    ASSERT_OK(store_pool_set_sizes(s, "rec", 6, 0, 6));
    ASSERT_OK(store_desk_create(s, "rec", INSTANCE, &half));
    r = reconciler_free(r);

    /* third life */
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_desks(s, "rec", DESK_STATE_READY), 6);
    ASSERT_EQ(count_desks(s, "rec", -1), 6);
    ASSERT_OK(hv_domain_is_active(hv, desks[0]->domain, &active));
    ASSERT_TRUE(active);
    ASSERT_OK(hv_domain_is_active(hv, desks[1]->domain, &active));
    ASSERT_TRUE(active);
    ASSERT_OK(hv_domain_is_active(hv, half->domain, &active));
    ASSERT_TRUE(active);
    /* the orphans are gone, the foreign domain is untouched */
    ASSERT_ERROR(hv_domain_is_active(hv, INSTANCE ".rec-98", &active), ENOENT);
    ASSERT_OK(hv_domain_is_active(hv, INSTANCE ".rec-97", &active));
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 7); /* 6 desktops + the foreign one */
    ASSERT_EQ(na, 6);
    ASSERT_EQ(nv, 6);
    desk_list_free(desks, n);
    ASSERT_OK(hv_domain_undefine(hv, INSTANCE ".rec-97"));
    ASSERT_OK(store_pool_mark_deleting(s, "rec", true));
    ASSERT_OK(reconciler_settle(r, 20));
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 0);
    ASSERT_EQ(nv, 0);
    r = reconciler_free(r);
}

TEST(busy_store_rows_are_never_duplicated)
{
    _cleanup_(store_closep) struct store *s = NULL;
    struct reconciler *r = NULL;
    struct conf c;
    size_t nd, na, nv;

    /* many short lives while 100 desktops are being built: the end state
     * has exactly 100, no duplicate domain, no orphan volume */
    test_conf(&c);
    ASSERT_OK(open_store("lives", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(add_pool(s, "many", 100, 0, 100));
    for (int life = 0; life < 5; life++) {
        ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
        ASSERT_OK(reconciler_start(r));
        usleep(5 * 1000);
        r = reconciler_free(r);
    }
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_desks(s, "many", DESK_STATE_READY), 100);
    ASSERT_EQ(count_desks(s, "many", -1), 100);
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 100);
    ASSERT_EQ(nv, 100);
    ASSERT_OK(store_pool_mark_deleting(s, "many", true));
    ASSERT_OK(reconciler_settle(r, 20));
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 0);
    ASSERT_EQ(nv, 0);
    r = reconciler_free(r);
}

/* Runs passes until pool POOL has no running operation, checking after
 * every pass that at least MIN_READY desktops of the pool are ready or
 * in use. Returns the passes run, -ETIMEDOUT, or -EPROTO when the ready
 * count dropped. */
static int
run_op_checking_ready(struct reconciler *r, struct store *s, const char *pool,
                      unsigned min_ready)
{
    for (int i = 1; i <= 60; i++) {
        struct op **ops = NULL;
        size_t n = 0;
        size_t ready;

        if (reconciler_pass(r) < 0)
            return -EIO;
        reconciler_wait_idle(r);
        ready = count_desks(s, pool, DESK_STATE_READY) + count_desks(s, pool, DESK_STATE_IN_USE);
        if (ready < min_ready) {
            fprintf(stderr, "pass %d: only %zu ready\n", i, ready);
            return -EPROTO;
        }
        if (store_op_list(s, pool, true, &ops, &n) < 0)
            return -EIO;
        op_list_free(ops, n);
        if (n == 0)
            return i;
    }
    return -ETIMEDOUT;
}

static int
add_image_v(struct store *s, unsigned v)
{
    _cleanup_free_ char *path = xasprintf("/golden/img-v%u.qcow2", v);
    struct image img = {
        .name = (char *) "img", .version = v, .path = path, .sha256 = (char *) "00",
        .size = 1, .virtual_size = 64ULL << 20, .created_at = 1,
    };

    return store_image_add(s, &img);
}

static unsigned
count_version(struct store *s, const char *pool, unsigned v)
{
    struct desk **d = NULL;
    size_t n = 0;
    unsigned k = 0;

    if (store_desk_list(s, pool, &d, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        k += d[i]->image_version == v && d[i]->state == DESK_STATE_READY;
    desk_list_free(d, n);
    return k;
}

TEST(rebase_on_new_version_keeps_ready_count)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    struct op **ops = NULL;
    size_t n = 0, nd, na, nv;
    struct conf c;
    int passes;

    test_conf(&c);
    ASSERT_OK(open_store("rebase", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(add_pool(s, "rb", 3, 0, 3));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_version(s, "rb", 1), 3);

    /* IT publishes v2: the pool follows latest, so a rebase starts */
    ASSERT_OK(add_image_v(s, 2));
    passes = run_op_checking_ready(r, s, "rb", 3);
    ASSERT_OK(passes);
    printf("# rebase of 3 desktops (batch 1) in %d passes, never below 3 ready\n", passes);
    ASSERT_EQ(count_version(s, "rb", 2), 3);
    ASSERT_EQ(count_desks(s, "rb", -1), 3);
    ASSERT_OK(store_pool_get(s, "rb", &p));
    ASSERT_EQ(p->current_version, 2);
    ASSERT_OK(store_op_list(s, "rb", false, &ops, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ops[0]->state, OP_STATE_SUCCEEDED);
    ASSERT_EQ(ops[0]->from_version, 1);
    ASSERT_EQ(ops[0]->to_version, 2);
    op_list_free(ops, n);
    count_libvirt(&nd, &na, &nv);
    ASSERT_EQ(nd, 3); /* the old domains and overlays are gone */
    ASSERT_EQ(nv, 3);
    ASSERT_OK(store_pool_mark_deleting(s, "rb", true));
    ASSERT_OK(reconciler_settle(r, 20));
}

TEST(rebase_stops_at_a_failed_canary)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_free_ char *hooks = xasprintf("%s/hooks", tmpdir);
    _cleanup_free_ char *hook = xasprintf("%s/pre-provision", hooks);
    static const char script[] = "#!/bin/sh\n[ \"$DESKPOOL_DETAIL\" = v3 ] || exit 0\n"
                                 "echo 'v3 does not boot'; exit 1\n";
    struct desk **before = NULL, **after = NULL;
    struct op **ops = NULL;
    size_t nb = 0, na = 0, n = 0;
    struct conf c;
    _cleanup_free_ char *err = NULL;

    ASSERT_OK(mkdir_p(hooks, 0755));
    ASSERT_OK(write_file_atomic(hook, script, strlen(script), 0755));
    test_conf(&c);
    (void) conf_set(&c, "hooks_dir", hooks, &err);
    ASSERT_OK(open_store("canary", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(add_image_v(s, 2));
    ASSERT_OK(add_pool(s, "cn", 2, 0, 2));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_version(s, "cn", 2), 2);
    ASSERT_OK(store_desk_list(s, "cn", &before, &nb));

    ASSERT_OK(add_image_v(s, 3)); /* broken: the hook stands for a guest that never boots */
    ASSERT_OK(run_op_checking_ready(r, s, "cn", 2));
    ASSERT_OK(store_op_list(s, "cn", false, &ops, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ops[0]->state, OP_STATE_FAILED);
    ASSERT_NOT_NULL(ops[0]->error);
    ASSERT_NOT_NULL(strstr(ops[0]->error, "v3 does not boot"));
    op_list_free(ops, n);
    /* the pool stays on v2, pinned, with its desktops untouched */
    ASSERT_OK(store_pool_get(s, "cn", &p));
    ASSERT_EQ(p->current_version, 2);
    ASSERT_EQ(p->image_version, 2);
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_OK(store_desk_list(s, "cn", &after, &na));
    ASSERT_EQ(na, nb);
    for (size_t i = 0; i < na; i++) {
        ASSERT_STREQ(after[i]->name, before[i]->name);
        ASSERT_EQ(after[i]->image_version, 2);
        ASSERT_EQ(after[i]->state, DESK_STATE_READY);
    }
    desk_list_free(before, nb);
    desk_list_free(after, na);
    (void) unlink(hook);
    (void) rmdir(hooks);
    ASSERT_OK(store_pool_mark_deleting(s, "cn", true));
    ASSERT_OK(reconciler_settle(r, 20));
}

TEST(refresh_recreates_idle_desktops)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    _cleanup_(op_freep) struct op *o = NULL, *second = NULL;
    struct op in = { .kind = OP_KIND_REFRESH, .pool = (char *) "rf", .to_version = 1,
                            .policy = OP_POLICY_WAIT_FOR_LOGOFF, .batch = 2 };
    struct desk **d = NULL;
    size_t n = 0;
    struct conf c;

    test_conf(&c);
    ASSERT_OK(open_store("refresh", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(add_pool(s, "rf", 4, 0, 4));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_OK(store_op_start(s, &in, &o));
    /* a second refresh finds the first: cron twice at once does it once */
    ASSERT_ERROR(store_op_start(s, &in, &second), EBUSY);
    ASSERT_STREQ(second->id, o->id);
    ASSERT_OK(run_op_checking_ready(r, s, "rf", 4));
    ASSERT_OK(store_desk_list(s, "rf", &d, &n));
    ASSERT_EQ(n, 4);
    for (size_t i = 0; i < n; i++)
        ASSERT_TRUE(d[i]->seq >= o->first_seq); /* all new */
    desk_list_free(d, n);
    ASSERT_OK(store_pool_mark_deleting(s, "rf", true));
    ASSERT_OK(reconciler_settle(r, 20));
}

TEST(dedicated_rebase_keeps_the_data_disk)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    struct pool p = {
        .name = (char *) "dd", .image = (char *) "img", .template = (char *) "test-dedicated",
        .mode = POOL_MODE_DEDICATED, .min = 2, .spare = 0, .max = 3,
    };
    struct desk **before = NULL, **after = NULL;
    size_t nb = 0, na = 0;
    struct conf c;

    test_conf(&c);
    ASSERT_OK(open_store("dedicated", &s));
    ASSERT_OK(add_image(s));
    ASSERT_OK(store_pool_add(s, &p));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(reconciler_settle(r, 20));
    /* two users take their desktops and log off: the desktops are theirs */
    for (int i = 0; i < 2; i++) {
        _cleanup_(session_freep) struct session *x = NULL;
        char user[16];
        bool existing;

        snprintf(user, sizeof(user), "user%d", i);
        ASSERT_OK(store_session_acquire(s, "dd", user, NULL, "t", &x, &existing));
        ASSERT_OK(store_session_end(s, x->id, SESSION_END_LOGOUT, "t", NULL));
    }
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_OK(store_desk_list(s, "dd", &before, &nb));
    ASSERT_EQ(nb, 2);
    for (size_t i = 0; i < nb; i++) {
        ASSERT_NOT_NULL(before[i]->owner);
        ASSERT_NOT_NULL(before[i]->data_volume);
    }
    ASSERT_OK(add_image_v(s, 2));
    ASSERT_OK(run_op_checking_ready(r, s, "dd", 0));
    ASSERT_OK(reconciler_settle(r, 20)); /* the canary was a spare too many */
    ASSERT_OK(store_desk_list(s, "dd", &after, &na));
    ASSERT_EQ(na, 2);
    for (size_t i = 0; i < na; i++) {
        /* the same desktop, same owner, same data disk, on v2 */
        ASSERT_STREQ(after[i]->name, before[i]->name);
        ASSERT_STREQ(after[i]->owner, before[i]->owner);
        ASSERT_STREQ(after[i]->data_volume, before[i]->data_volume);
        ASSERT_EQ(after[i]->image_version, 2);
        ASSERT_EQ(after[i]->state, DESK_STATE_READY);
    }
    desk_list_free(before, nb);
    desk_list_free(after, na);
    ASSERT_OK(store_pool_mark_deleting(s, "dd", true));
    ASSERT_OK(reconciler_settle(r, 20));
}

int
main(void)
{
    _cleanup_free_ char *err = NULL, *pooldir = NULL;
    int r;

    log_set_level(getenv("DP_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    pooldir = xasprintf("%s/pool", tmpdir);
    if (hv_event_loop_start() < 0 || hv_open("test:///default", &hv, &err) < 0 ||
        hv_storage_pool_ensure(hv, SPOOL, pooldir, &err) < 0) {
        fprintf(stderr, "cannot set up libvirt's test driver: %s\n", err ? err : "?");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(pool_of_500_create_resize_delete);
    RUN(crash_recovery_with_debris);
    RUN(busy_store_rows_are_never_duplicated);
    RUN(rebase_on_new_version_keeps_ready_count);
    RUN(rebase_stops_at_a_failed_canary);
    RUN(refresh_recreates_idle_desktops);
    RUN(dedicated_rebase_keeps_the_data_disk);
    hv = hv_unref(hv);
    r = TESTS_DONE();
    {
        _cleanup_free_ char *cmd = NULL;
        /* the test driver made no files; remove the dbs */
        for (const char *n = "scale\0crash\0lives\0rebase\0canary\0refresh\0dedicated\0"; *n;
             n += strlen(n) + 1) {
            _cleanup_free_ char *p = xasprintf("%s/%s.db", tmpdir, n);
            _cleanup_free_ char *w = xasprintf("%s-wal", p), *sh = xasprintf("%s-shm", p);

            (void) unlink(p);
            (void) unlink(w);
            (void) unlink(sh);
        }
        (void) rmdir(pooldir);
        (void) rmdir(tmpdir);
    }
    return r;
}
