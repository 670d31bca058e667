/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-store.c - the SQLite state store against real database files
 *
 * DESIGN
 *   Every test opens its own database file in one temporary directory
 *   under /tmp, removed at the end. No mocks: the real SQLite, real WAL,
 *   real threads racing on the same rows.
 */
#include "config.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "store-priv.h"
#include "ticket.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-store-XXXXXX";
static unsigned db_counter;

static char *
new_db_path(void)
{
    return xasprintf("%s/state-%u.db", tmpdir, ++db_counter);
}

static int
open_fresh(struct store **ret)
{
    _cleanup_free_ char *path = new_db_path();
    _cleanup_free_ char *msg = NULL;
    int r;

    r = store_open(path, ret, &msg);
    if (r < 0)
        fprintf(stderr, "store_open: %s\n", strempty(msg));
    return r;
}

static int
add_image(struct store *s, const char *name, unsigned version)
{
    _cleanup_free_ char *path = xasprintf("/images/%s-%u.qcow2", name, version);
    struct image img = {
        .name = (char *) name,
        .version = version,
        .path = path,
        .sha256 = (char *) "00ff",
        .size = 1000u * version,
        .virtual_size = 1ULL << 33,
        .note = (char *) "a note",
    };

    return store_image_add(s, &img);
}

static int
add_pool(struct store *s, const char *name, const char *image, unsigned image_version,
         unsigned max)
{
    struct pool p = {
        .name = (char *) name,
        .image = (char *) image,
        .image_version = image_version,
        .template = (char *) "default",
        .mode = POOL_MODE_FLOATING,
        .min = 0,
        .spare = 1,
        .max = max,
    };

    return store_pool_add(s, &p);
}

static int
query_str(struct store *s, const char *sql, const char *expect)
{
    _cleanup_free_ char *v = NULL;
    int r;

    r = store_query_text(s, sql, &v);
    if (r < 0)
        return r;
    if (!v || !streq(v, expect)) {
        fprintf(stderr, "%s: got '%s', expected '%s'\n", sql, strempty(v), expect);
        return -EBADMSG;
    }
    return 0;
}

TEST(migrations_fresh)
{
    _cleanup_(store_closep) struct store *s = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_EQ(store_schema_version(s), 7);
    ASSERT_EQ(store_schema_latest(), 7);
    ASSERT_OK(query_str(s, "PRAGMA user_version", "7"));
    ASSERT_OK(query_str(s, "PRAGMA journal_mode", "wal"));
    ASSERT_OK(query_str(s, "PRAGMA foreign_keys", "1"));
    ASSERT_OK(query_str(s, "PRAGMA synchronous", "1")); /* NORMAL */
    ASSERT_OK(query_str(s, "PRAGMA busy_timeout", "5000"));
    ASSERT_OK(query_str(s,
                        "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                        "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)",
                        "audit,console_tickets,desktops,fences,host_images,hosts,images,meta,"
                        "operations,parents,pools,sessions"));
    ASSERT_OK(query_str(s,
                        "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                        "AND name = 'desktops_pool'",
                        "1"));
}

TEST(migrations_reopen)
{
    _cleanup_free_ char *path = new_db_path();
    _cleanup_free_ char *value = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    struct store *s = NULL;

    ASSERT_OK(store_open(path, &s, NULL));
    ASSERT_OK(store_meta_set(s, "host", "alpha"));
    ASSERT_OK(store_meta_set(s, "host", "beta"));
    ASSERT_OK(add_image(s, "base", 1));
    s = store_close(s);

    ASSERT_OK(store_open(path, &s, NULL));
    ASSERT_EQ(store_schema_version(s), 7);
    ASSERT_OK(query_str(s, "PRAGMA user_version", "7"));
    ASSERT_OK(store_meta_get(s, "host", &value));
    ASSERT_STREQ(value, "beta");
    ASSERT_OK(store_image_get(s, "base", 0, &img));
    ASSERT_EQ(img->version, 1);
    s = store_close(s);
    ASSERT_NULL(s);
}

TEST(meta_missing)
{
    _cleanup_(store_closep) struct store *s = NULL;
    char *value = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_ERROR(store_meta_get(s, "nothing", &value), ENOENT);
    ASSERT_NULL(value);
}

TEST(refuse_newer_schema)
{
    _cleanup_free_ char *path = new_db_path();
    _cleanup_free_ char *msg = NULL;
    struct store *s = NULL;

    ASSERT_OK(store_open(path, &s, NULL));
    ASSERT_OK(store_exec_raw(s, "PRAGMA user_version = 99"));
    s = store_close(s);

    ASSERT_ERROR(store_open(path, &s, &msg), EPROTO);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "99"));
}

TEST(open_failure)
{
    _cleanup_free_ char *path = xasprintf("%s/no/such/dir/state.db", tmpdir);
    _cleanup_free_ char *msg = NULL;
    struct store *s = NULL;

    ASSERT_TRUE(store_open(path, &s, &msg) < 0);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, path));
}

TEST(images)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(image_freep) struct image *latest = NULL, *first = NULL;
    struct image **list = NULL;
    struct image dup = { .name = (char *) "base", .version = 0, .path = (char *) "/x",
                         .sha256 = (char *) "00" };
    size_t n = 0;
    unsigned v;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(store_image_next_version(s, "base", &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_ERROR(add_image(s, "base", 1), EEXIST);
    ASSERT_ERROR(add_image(s, "base", 3), EEXIST);
    ASSERT_ERROR(store_image_add(s, &dup), EINVAL);
    ASSERT_OK(add_image(s, "base", 2));
    ASSERT_OK(add_image(s, "alpha", 1));
    ASSERT_OK(store_image_next_version(s, "base", &v));
    ASSERT_EQ(v, 3);

    ASSERT_OK(store_image_get(s, "base", 0, &latest));
    ASSERT_EQ(latest->version, 2);
    ASSERT_STREQ(latest->path, "/images/base-2.qcow2");
    ASSERT_STREQ(latest->sha256, "00ff");
    ASSERT_EQ(latest->size, 2000);
    ASSERT_EQ(latest->virtual_size, 1ULL << 33);
    ASSERT_STREQ(latest->note, "a note");
    ASSERT_NULL(latest->created_by);
    ASSERT_TRUE(latest->created_at > 1700000000);
    ASSERT_OK(store_image_get(s, "base", 1, &first));
    ASSERT_EQ(first->version, 1);
    ASSERT_STREQ(first->path, "/images/base-1.qcow2");
    ASSERT_ERROR(store_image_get(s, "base", 5, &first), ENOENT);
    ASSERT_ERROR(store_image_get(s, "nope", 0, &first), ENOENT);
    ASSERT_EQ(first->version, 1); /* untouched on failure */

    ASSERT_OK(store_image_list(s, "base", &list, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(list[0]->version, 1);
    ASSERT_EQ(list[1]->version, 2);
    image_list_free(list, n);

    ASSERT_OK(store_image_list(s, NULL, &list, &n));
    ASSERT_EQ(n, 3);
    ASSERT_STREQ(list[0]->name, "alpha");
    ASSERT_STREQ(list[1]->name, "base");
    ASSERT_EQ(list[2]->version, 2);
    image_list_free(list, n);

    ASSERT_OK(store_image_list(s, "nope", &list, &n));
    ASSERT_EQ(n, 0);
    image_list_free(list, n);
}

TEST(pools)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    struct pool **list = NULL;
    size_t n = 0;

    ASSERT_OK(open_fresh(&s));
    ASSERT_ERROR(add_pool(s, "demo", "base", 0, 10), ENOENT);
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_ERROR(add_pool(s, "demo", "base", 2, 10), ENOENT);
    ASSERT_ERROR(add_pool(s, "demo", "base", 0, POOL_MAX_DESKTOPS + 1), EINVAL);
    ASSERT_ERROR(add_pool(s, "Bad Name", "base", 0, 10), EINVAL);
    ASSERT_ERROR(store_pool_get(s, "demo", &p), ENOENT);
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_ERROR(add_pool(s, "demo", "base", 1, 10), EEXIST);
    ASSERT_OK(add_pool(s, "alpha", "base", 1, 5));

    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_STREQ(p->name, "demo");
    ASSERT_STREQ(p->image, "base");
    ASSERT_EQ(p->image_version, 0);
    ASSERT_STREQ(p->template, "default");
    ASSERT_EQ(p->mode, POOL_MODE_FLOATING);
    ASSERT_EQ(p->min, 0);
    ASSERT_EQ(p->spare, 1);
    ASSERT_EQ(p->max, 10);
    ASSERT_FALSE(p->deleting);
    ASSERT_FALSE(p->force_delete);
    ASSERT_EQ(p->next_seq, 1);
    ASSERT_TRUE(p->created_at > 1700000000);
    p = pool_free(p);

    ASSERT_OK(store_pool_set_sizes(s, "demo", 2, 3, 20));
    ASSERT_ERROR(store_pool_set_sizes(s, "demo", 30, 3, 20), EINVAL);
    ASSERT_ERROR(store_pool_set_sizes(s, "nope", 1, 1, 2), ENOENT);
    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_EQ(p->min, 2);
    ASSERT_EQ(p->spare, 3);
    ASSERT_EQ(p->max, 20);

    ASSERT_OK(store_pool_list(s, &list, &n));
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(list[0]->name, "alpha");
    ASSERT_EQ(list[0]->image_version, 1);
    ASSERT_STREQ(list[1]->name, "demo");
    pool_list_free(list, n);
}

TEST(desk_create)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(desk_freep) struct desk *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_image(s, "base", 2));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(add_pool(s, "pinned", "base", 1, 10));

    ASSERT_OK(store_desk_create(s, "demo", "dp", &a));
    ASSERT_STREQ(a->name, "demo-1");
    ASSERT_STREQ(a->pool, "demo");
    ASSERT_STREQ(a->domain, "dp.demo-1");
    ASSERT_EQ(a->state, DESK_STATE_PROVISIONING);
    ASSERT_EQ(strlen(a->uuid), 36);
    ASSERT_STREQ(a->image, "base");
    ASSERT_EQ(a->image_version, 2);
    ASSERT_NULL(a->volume);
    ASSERT_NULL(a->owner);
    ASSERT_NULL(a->last_error);
    ASSERT_EQ(a->boot_failures, 0);
    ASSERT_TRUE(a->created_at > 1700000000);
    ASSERT_EQ(a->state_since, a->created_at);

    ASSERT_OK(store_desk_create(s, "demo", "dp", &b));
    ASSERT_STREQ(b->name, "demo-2");
    ASSERT_STREQ(b->domain, "dp.demo-2");
    ASSERT_FALSE(streq(a->uuid, b->uuid));

    ASSERT_OK(store_desk_create(s, "pinned", "dp", &c));
    ASSERT_STREQ(c->name, "pinned-1");
    ASSERT_EQ(c->image_version, 1);

    /* A new version: desktops keep coming on the version the pool runs
     * until a rebase (canary first) moves it; asked for, v3 is there. */
    ASSERT_OK(add_image(s, "base", 3));
    c = desk_free(c);
    ASSERT_OK(store_desk_create(s, "demo", "dp", &c));
    ASSERT_EQ(c->image_version, 2);
    c = desk_free(c);
    ASSERT_OK(store_desk_create_at(s, "demo", "dp", 3, &c));
    ASSERT_EQ(c->image_version, 3);
    ASSERT_OK(store_desk_create(s, "pinned", "dp", &d));
    ASSERT_STREQ(d->name, "pinned-2");
    ASSERT_EQ(d->image_version, 1);

    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_EQ(p->next_seq, 5);
    ASSERT_EQ(p->current_version, 2);
    ASSERT_ERROR(store_desk_create(s, "nope", "dp", &d), ENOENT);
    ASSERT_STREQ(d->name, "pinned-2"); /* untouched on failure */

    d = desk_free(d);
    ASSERT_OK(store_desk_get(s, "demo-1", &d));
    ASSERT_STREQ(d->uuid, a->uuid);
    ASSERT_STREQ(d->domain, a->domain);
    ASSERT_EQ(d->image_version, 2);
    ASSERT_ERROR(store_desk_get(s, "demo-99", &d), ENOENT);
}

TEST(set_state)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "demo", "dp", NULL));

    /* not in the table */
    ASSERT_ERROR(store_desk_set_state(s, "demo-1", DESK_STATE_PROVISIONING,
                                      DESK_STATE_READY), EINVAL);
    ASSERT_ERROR(store_desk_set_state(s, "demo-1", DESK_STATE_PROVISIONING,
                                      DESK_STATE_PROVISIONING), EINVAL);
    ASSERT_ERROR(store_desk_set_state(s, "demo-1", DESK_STATE_DELETING,
                                      DESK_STATE_READY), EINVAL);
    ASSERT_ERROR(store_desk_set_state(s, "demo-1", _DESK_STATE_MAX, DESK_STATE_READY),
                 EINVAL);
    /* allowed, then stale for the second caller */
    ASSERT_OK(store_desk_set_state(s, "demo-1", DESK_STATE_PROVISIONING,
                                   DESK_STATE_BOOTING));
    ASSERT_ERROR(store_desk_set_state(s, "demo-1", DESK_STATE_PROVISIONING,
                                      DESK_STATE_BOOTING), ESTALE);
    ASSERT_ERROR(store_desk_set_state(s, "demo-1", DESK_STATE_READY,
                                      DESK_STATE_ASSIGNED), ESTALE);
    ASSERT_ERROR(store_desk_set_state(s, "demo-9", DESK_STATE_PROVISIONING,
                                      DESK_STATE_BOOTING), ENOENT);
    ASSERT_OK(store_desk_get(s, "demo-1", &d));
    ASSERT_EQ(d->state, DESK_STATE_BOOTING);
}

TEST(failures_and_ready)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "demo", "dp", NULL));
    ASSERT_OK(store_desk_set_state(s, "demo-1", DESK_STATE_PROVISIONING,
                                   DESK_STATE_BOOTING));
    ASSERT_OK(store_desk_record_failure(s, "demo-1", "The guest did not boot.", false));
    ASSERT_OK(store_desk_record_failure(s, "demo-1", "The guest agent never answered.", false));
    ASSERT_ERROR(store_desk_record_failure(s, "demo-9", "x", false), ENOENT);
    ASSERT_OK(store_desk_set_volume(s, "demo-1", "/var/lib/deskpool/demo-1.qcow2"));
    ASSERT_ERROR(store_desk_set_volume(s, "demo-9", "/x"), ENOENT);
    ASSERT_OK(store_desk_get(s, "demo-1", &d));
    ASSERT_EQ(d->boot_failures, 2);
    ASSERT_STREQ(d->last_error, "The guest agent never answered.");
    ASSERT_STREQ(d->volume, "/var/lib/deskpool/demo-1.qcow2");
    d = desk_free(d);

    ASSERT_OK(store_desk_set_state(s, "demo-1", DESK_STATE_BOOTING, DESK_STATE_READY));
    ASSERT_OK(store_desk_get(s, "demo-1", &d));
    ASSERT_EQ(d->state, DESK_STATE_READY);
    ASSERT_EQ(d->boot_failures, 0);
    ASSERT_NULL(d->last_error);
    ASSERT_STREQ(d->volume, "/var/lib/deskpool/demo-1.qcow2");
}

/* Moves NAME along the provisioning -> ... -> TO path. */
static int
walk_to(struct store *s, const char *name, enum desk_state to)
{
    static const enum desk_state path[] = {
        DESK_STATE_PROVISIONING, DESK_STATE_BOOTING, DESK_STATE_READY,
        DESK_STATE_ASSIGNED, DESK_STATE_IN_USE,
    };
    int r;

    for (size_t i = 1; i < ELEMENTSOF(path) && path[i - 1] != to; i++) {
        r = store_desk_set_state(s, name, path[i - 1], path[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

TEST(mark_deleting)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(add_pool(s, "idle", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "demo", "dp", NULL));
    ASSERT_OK(store_desk_create(s, "demo", "dp", NULL));
    ASSERT_OK(store_desk_create(s, "idle", "dp", NULL));
    ASSERT_OK(walk_to(s, "demo-1", DESK_STATE_ASSIGNED));
    ASSERT_OK(walk_to(s, "idle-1", DESK_STATE_READY));

    ASSERT_ERROR(store_pool_mark_deleting(s, "demo", false), EBUSY);
    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_FALSE(p->deleting);
    ASSERT_FALSE(p->force_delete);
    p = pool_free(p);

    ASSERT_OK(store_pool_mark_deleting(s, "demo", true));
    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_TRUE(p->deleting);
    ASSERT_TRUE(p->force_delete);
    p = pool_free(p);
    /* still refused without force: desktops are still in use */
    ASSERT_ERROR(store_pool_mark_deleting(s, "demo", false), EBUSY);

    ASSERT_OK(store_pool_mark_deleting(s, "idle", false));
    ASSERT_OK(store_pool_get(s, "idle", &p));
    ASSERT_TRUE(p->deleting);
    ASSERT_FALSE(p->force_delete);
    p = pool_free(p);
    /* once forced, a repeat without force keeps it forced */
    ASSERT_OK(store_pool_mark_deleting(s, "idle", true));
    ASSERT_OK(store_pool_mark_deleting(s, "idle", false));
    ASSERT_OK(store_pool_get(s, "idle", &p));
    ASSERT_TRUE(p->deleting);
    ASSERT_TRUE(p->force_delete);

    ASSERT_ERROR(store_pool_mark_deleting(s, "nope", false), ENOENT);
    ASSERT_ERROR(store_pool_mark_deleting(s, "nope", true), ENOENT);
    ASSERT_ERROR(store_desk_create(s, "idle", "dp", NULL), ESHUTDOWN);
    ASSERT_ERROR(store_desk_create(s, "demo", "dp", NULL), ESHUTDOWN);
}

TEST(remove)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    struct desk **list = NULL;
    size_t n = 0;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "demo", "dp", NULL));
    ASSERT_OK(store_desk_create(s, "demo", "dp", NULL));
    ASSERT_OK(walk_to(s, "demo-2", DESK_STATE_READY));
    ASSERT_OK(store_pool_mark_deleting(s, "demo", false));

    ASSERT_ERROR(store_pool_remove(s, "demo"), EBUSY);
    ASSERT_ERROR(store_desk_remove(s, "demo-1"), EINVAL);
    ASSERT_ERROR(store_desk_remove(s, "demo-9"), ENOENT);
    ASSERT_OK(store_desk_set_state(s, "demo-1", DESK_STATE_PROVISIONING,
                                   DESK_STATE_DELETING));
    ASSERT_OK(store_desk_set_state(s, "demo-2", DESK_STATE_READY, DESK_STATE_DELETING));
    ASSERT_OK(store_desk_remove(s, "demo-1"));
    ASSERT_ERROR(store_desk_remove(s, "demo-1"), ENOENT);
    ASSERT_ERROR(store_pool_remove(s, "demo"), EBUSY);
    ASSERT_OK(store_desk_remove(s, "demo-2"));
    ASSERT_OK(store_desk_list(s, "demo", &list, &n));
    ASSERT_EQ(n, 0);
    desk_list_free(list, n);

    ASSERT_OK(store_pool_remove(s, "demo"));
    ASSERT_ERROR(store_pool_get(s, "demo", &p), ENOENT);
    ASSERT_ERROR(store_pool_remove(s, "demo"), ENOENT);
}

TEST(audit)
{
    _cleanup_(store_closep) struct store *s = NULL;
    struct audit_entry *a = NULL;
    size_t n = 0;
    int64_t now = (int64_t) (now_realtime_usec() / 1000000);

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(store_audit_list(s, 10, &a, &n));
    ASSERT_EQ(n, 0);
    audit_list_free(a, n);

    ASSERT_OK(store_audit(s, "admin", "pool.create", "demo", NULL, NULL, "max=10"));
    ASSERT_OK(store_audit(s, "broker", "desktop.assign", "demo", "demo-1", "dr.house",
                          NULL));
    ASSERT_OK(store_audit(s, NULL, "desktop.release", "demo", "demo-1", "dr.house", NULL));
    ASSERT_ERROR(store_audit(s, "admin", NULL, NULL, NULL, NULL, NULL), EINVAL);

    ASSERT_OK(store_audit_list(s, 10, &a, &n));
    ASSERT_EQ(n, 3);
    ASSERT_STREQ(a[0].action, "desktop.release");
    ASSERT_NULL(a[0].actor);
    ASSERT_STREQ(a[1].action, "desktop.assign");
    ASSERT_STREQ(a[1].actor, "broker");
    ASSERT_STREQ(a[1].desktop, "demo-1");
    ASSERT_STREQ(a[1].user, "dr.house");
    ASSERT_NULL(a[1].detail);
    ASSERT_STREQ(a[2].action, "pool.create");
    ASSERT_STREQ(a[2].pool, "demo");
    ASSERT_STREQ(a[2].detail, "max=10");
    ASSERT_TRUE(a[0].id > a[1].id && a[1].id > a[2].id);
    ASSERT_TRUE(a[2].at >= now && a[0].at <= now + 5);
    audit_list_free(a, n);

    ASSERT_OK(store_audit_list(s, 2, &a, &n));
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(a[0].action, "desktop.release");
    ASSERT_STREQ(a[1].action, "desktop.assign");
    audit_list_free(a, n);
}

/* ---- paging and retention ---- */

/* Inserts session ID of user USER in pool "p": created at CREATED, ended
 * at ENDED (0: active). */
static int
insert_session(struct store *s, const char *id, const char *user, int64_t created, int64_t ended)
{
    _cleanup_free_ char *sql = xasprintf(
        "INSERT INTO sessions (id, pool, desktop, user, client, state, created_at, "
        "last_heartbeat, ended_at, end_reason) VALUES ('%s', 'p', 'p-%s', '%s', NULL, '%s', "
        "%lld, %lld, %lld, %s)", id, id, user, ended ? "ended" : "active", (long long) created,
        (long long) created, (long long) ended, ended ? "'logout'" : "NULL");

    return store_exec_raw(s, sql);
}

TEST(session_pages)
{
    _cleanup_(store_closep) struct store *s = NULL;
    char seen[16] = "";
    struct session **list = NULL;
    size_t n = 0, len = 0;
    int64_t after_created = 0;
    char *after_id = NULL;

    ASSERT_OK(open_fresh(&s));
    /* s2 and s3 share a second: the id breaks the tie */
    ASSERT_OK(insert_session(s, "s3", "u", 1000, 0));
    ASSERT_OK(insert_session(s, "s1", "u", 900, 950));
    ASSERT_OK(insert_session(s, "s2", "u", 1000, 1100));
    ASSERT_OK(insert_session(s, "s5", "v", 1200, 0));
    ASSERT_OK(insert_session(s, "s4", "u", 1100, 1150));
    /* pages of 2 visit every session once, in order */
    for (int page = 0; page < 4; page++) {
        ASSERT_OK(store_session_list_page(s, NULL, NULL, -1, after_created, after_id, 2, &list,
                                          &n));
        free(after_id);
        after_id = NULL;
        for (size_t i = 0; i < n && len < sizeof(seen); i++)
            len += (size_t) snprintf(seen + len, sizeof(seen) - len, "%s", list[i]->id);
        if (n > 0) {
            after_created = list[n - 1]->created_at;
            after_id = xstrdup(list[n - 1]->id);
        }
        session_list_free(list, n);
        if (n < 2)
            break;
    }
    free(after_id);
    ASSERT_STREQ(seen, "s1s2s3s4s5");
    /* filters hold across pages */
    ASSERT_OK(store_session_list_page(s, NULL, "u", SESSION_STATE_ENDED, 1000, "s2", 10, &list,
                                      &n));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(list[0]->id, "s4");
    session_list_free(list, n);
    ASSERT_OK(store_session_list_page(s, NULL, NULL, SESSION_STATE_ACTIVE, 0, NULL, 1, &list,
                                      &n));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(list[0]->id, "s3");
    session_list_free(list, n);
    /* the unpaged list is the same order */
    ASSERT_OK(store_session_list(s, NULL, NULL, -1, &list, &n));
    ASSERT_EQ(n, 5);
    ASSERT_STREQ(list[0]->id, "s1");
    ASSERT_STREQ(list[4]->id, "s5");
    session_list_free(list, n);
}

TEST(session_prune)
{
    _cleanup_(store_closep) struct store *s = NULL;
    char id[16];

    ASSERT_OK(open_fresh(&s));
    /* 25 sessions ended long ago, 2 ended recently, 1 active since long ago */
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "old%d", i);
        ASSERT_OK(insert_session(s, id, "u", 100 + i, 200 + i));
    }
    ASSERT_OK(insert_session(s, "new1", "u", 100, 5000));
    ASSERT_OK(insert_session(s, "new2", "u", 4000, 6000));
    ASSERT_OK(insert_session(s, "live", "u", 50, 0));
    /* in batches: 10, 10, 5, then nothing */
    ASSERT_EQ(store_session_prune(s, 1000, 10), 10);
    ASSERT_OK(query_str(s, "SELECT min(ended_at) FROM sessions WHERE state = 'ended'", "210"));
    ASSERT_EQ(store_session_prune(s, 1000, 10), 10);
    ASSERT_EQ(store_session_prune(s, 1000, 10), 5);
    ASSERT_EQ(store_session_prune(s, 1000, 10), 0);
    ASSERT_OK(query_str(s, "SELECT group_concat(id, ',') FROM (SELECT id FROM sessions "
                        "ORDER BY id)", "live,new1,new2"));
    /* the boundary is exclusive: ended at 5000 stays for 5000, goes for 5001 */
    ASSERT_EQ(store_session_prune(s, 5000, 100), 0);
    ASSERT_EQ(store_session_prune(s, 5001, 100), 1);
    /* an active session is never pruned, however old */
    ASSERT_EQ(store_session_prune(s, INT64_MAX, 100), 1);
    ASSERT_OK(query_str(s, "SELECT group_concat(id) FROM sessions", "live"));
}

TEST(audit_pages_and_prune)
{
    _cleanup_(store_closep) struct store *s = NULL;
    struct audit_entry *a = NULL;
    size_t n = 0;
    int64_t before = 0, total = 0;

    ASSERT_OK(open_fresh(&s));
    for (int i = 0; i < 30; i++) {
        _cleanup_free_ char *d = xasprintf("%d", i);

        ASSERT_OK(store_audit(s, "t", "pool.changed", "p", NULL, NULL, d));
    }
    /* entry i was written at 1000 + 10 i */
    ASSERT_OK(store_exec_raw(s, "UPDATE audit SET at = 1000 + 10 * CAST(detail AS INTEGER)"));
    /* newest first, pages of 7 by id */
    for (;;) {
        ASSERT_OK(store_audit_list_page(s, before, 0, 7, &a, &n));
        if (n == 0)
            break;
        ASSERT_EQ(a[0].at, 1000 + 10 * (29 - total));
        total += (int64_t) n;
        before = a[n - 1].id;
        audit_list_free(a, n);
    }
    ASSERT_EQ(total, 30);
    /* since: 1250 and later are entries 25..29 */
    ASSERT_OK(store_audit_list_page(s, 0, 1250, 100, &a, &n));
    ASSERT_EQ(n, 5);
    ASSERT_STREQ(a[4].detail, "25");
    audit_list_free(a, n);
    ASSERT_OK(store_audit_list_page(s, 0, 1250, 2, &a, &n));
    ASSERT_EQ(n, 2);
    before = a[1].id;
    audit_list_free(a, n);
    ASSERT_OK(store_audit_list_page(s, before, 1250, 100, &a, &n));
    ASSERT_EQ(n, 3);
    ASSERT_STREQ(a[0].detail, "27");
    audit_list_free(a, n);

    /* prune what was written before 1100 (entries 0..9), in batches of 4 */
    ASSERT_EQ(store_audit_prune(s, 1100, 4), 4);
    ASSERT_EQ(store_audit_prune(s, 1100, 4), 4);
    ASSERT_EQ(store_audit_prune(s, 1100, 4), 2);
    ASSERT_EQ(store_audit_prune(s, 1100, 4), 0);
    ASSERT_OK(query_str(s, "SELECT count(*) || ' ' || min(at) FROM audit", "20 1100"));
    /* a row written while the clock was set back stays until the rows
     * before it go */
    ASSERT_OK(store_exec_raw(s, "UPDATE audit SET at = 10 WHERE detail = '15'"));
    ASSERT_EQ(store_audit_prune(s, 1120, 100), 2);
    ASSERT_OK(query_str(s, "SELECT min(at) FROM audit", "10"));
    ASSERT_EQ(store_audit_prune(s, 1200, 100), 8);
    ASSERT_OK(query_str(s, "SELECT count(*) || ' ' || min(at) FROM audit", "10 1200"));
    /* everything */
    ASSERT_EQ(store_audit_prune(s, INT64_MAX, 1000), 10);
    ASSERT_OK(query_str(s, "SELECT count(*) FROM audit", "0"));
    ASSERT_EQ(store_audit_prune(s, INT64_MAX, 1000), 0);
}

/* ---- concurrency ---- */

#define RACE_THREADS 8
#define RACE_DESKS 50
#define RACE_STEPS 4 /* per desktop: 50 x 4 = 200 transitions per thread */

static const enum desk_state race_path[RACE_STEPS + 1] = {
    DESK_STATE_PROVISIONING, DESK_STATE_BOOTING, DESK_STATE_READY, DESK_STATE_ASSIGNED,
    DESK_STATE_IN_USE,
};

struct race {
    struct store *store;
    pthread_barrier_t barrier;
    unsigned wins[RACE_DESKS][RACE_STEPS];
    unsigned stale, errors;
    unsigned created[RACE_THREADS * 25];
};

static void *
race_transitions(void *userdata)
{
    struct race *race = userdata;

    pthread_barrier_wait(&race->barrier);
    for (unsigned d = 0; d < RACE_DESKS; d++) {
        _cleanup_free_ char *name = xasprintf("race-%u", d + 1);

        for (unsigned k = 0; k < RACE_STEPS; k++) {
            int r = store_desk_set_state(race->store, name, race_path[k], race_path[k + 1]);

            if (r == 0)
                __atomic_add_fetch(&race->wins[d][k], 1, __ATOMIC_SEQ_CST);
            else if (r == -ESTALE)
                __atomic_add_fetch(&race->stale, 1, __ATOMIC_SEQ_CST);
            else
                __atomic_add_fetch(&race->errors, 1, __ATOMIC_SEQ_CST);
        }
    }
    return NULL;
}

static void *
race_create(void *userdata)
{
    struct race *race = userdata;

    pthread_barrier_wait(&race->barrier);
    for (unsigned i = 0; i < 25; i++) {
        _cleanup_(desk_freep) struct desk *d = NULL;
        unsigned seq;

        if (store_desk_create(race->store, "burst", "dp", &d) < 0 ||
            safe_atou(d->name + strlen("burst-"), &seq) < 0 || seq == 0 ||
            seq > ELEMENTSOF(race->created)) {
            __atomic_add_fetch(&race->errors, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        __atomic_add_fetch(&race->created[seq - 1], 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static int
run_threads(struct race *race, void *(*fn)(void *))
{
    pthread_t t[RACE_THREADS];
    int r;

    r = -pthread_barrier_init(&race->barrier, NULL, RACE_THREADS);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < RACE_THREADS; i++) {
        r = -pthread_create(&t[i], NULL, fn, race);
        if (r < 0)
            abort(); /* the barrier would never open */
    }
    for (unsigned i = 0; i < RACE_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&race->barrier);
    return 0;
}

TEST(race_transitions)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_free_ struct race *race = xmalloc0(sizeof(*race));
    struct desk **list = NULL;
    unsigned total = 0;
    size_t n = 0;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "race", "base", 0, 100));
    for (unsigned i = 0; i < RACE_DESKS; i++)
        ASSERT_OK(store_desk_create(s, "race", "dp", NULL));

    race->store = s;
    ASSERT_OK(run_threads(race, race_transitions));
    ASSERT_EQ(race->errors, 0);
    for (unsigned d = 0; d < RACE_DESKS; d++)
        for (unsigned k = 0; k < RACE_STEPS; k++) {
            ASSERT_EQ(race->wins[d][k], 1);
            total += race->wins[d][k];
        }
    ASSERT_EQ(total, RACE_DESKS * RACE_STEPS);
    ASSERT_EQ(race->stale, RACE_DESKS * RACE_STEPS * (RACE_THREADS - 1));

    ASSERT_OK(store_desk_list(s, "race", &list, &n));
    ASSERT_EQ(n, RACE_DESKS);
    for (size_t i = 0; i < n; i++)
        if (list[i]->state != DESK_STATE_IN_USE)
            total = 0;
    desk_list_free(list, n);
    ASSERT_EQ(total, RACE_DESKS * RACE_STEPS);
}

TEST(race_create)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_free_ struct race *race = xmalloc0(sizeof(*race));
    _cleanup_(pool_freep) struct pool *p = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "burst", "base", 0, 1000));
    race->store = s;
    ASSERT_OK(run_threads(race, race_create));
    ASSERT_EQ(race->errors, 0);
    /* every sequence number handed out exactly once */
    for (unsigned i = 0; i < ELEMENTSOF(race->created); i++)
        ASSERT_EQ(race->created[i], 1);
    ASSERT_OK(store_pool_get(s, "burst", &p));
    ASSERT_EQ(p->next_seq, ELEMENTSOF(race->created) + 1);
}

/* ---- scale ---- */

static int
cmp_uuid(const void *a, const void *b)
{
    const struct desk *const *x = a, *const *y = b;

    return strcmp((*x)->uuid, (*y)->uuid);
}

TEST(many_desktops)
{
    _cleanup_(store_closep) struct store *s = NULL;
    struct desk **list = NULL;
    uint64_t t0, t1, t2;
    size_t n = 0;
    unsigned bad = 0;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "big", "base", 0, 1000));
    ASSERT_OK(add_pool(s, "aaa", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "aaa", "dp", NULL));

    t0 = now_usec();
    for (unsigned i = 0; i < 500; i++)
        ASSERT_OK(store_desk_create(s, "big", "dp", NULL));
    t1 = now_usec();
    ASSERT_OK(store_desk_list(s, "big", &list, &n));
    t2 = now_usec();
    printf("  500 desktops: created in %.1f ms (%.3f ms each), listed in %.1f ms\n",
           (double) (t1 - t0) / 1000.0, (double) (t1 - t0) / 500000.0,
           (double) (t2 - t1) / 1000.0);

    ASSERT_EQ(n, 500);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *want = xasprintf("big-%zu", i + 1);

        if (!streq(list[i]->name, want) || !streq(list[i]->pool, "big"))
            bad++;
    }
    ASSERT_EQ(bad, 0);
    qsort(list, n, sizeof(*list), cmp_uuid);
    for (size_t i = 1; i < n; i++)
        if (streq(list[i - 1]->uuid, list[i]->uuid))
            bad++;
    desk_list_free(list, n);
    ASSERT_EQ(bad, 0);

    ASSERT_OK(store_desk_list(s, NULL, &list, &n));
    ASSERT_EQ(n, 501);
    ASSERT_STREQ(list[0]->name, "aaa-1");
    ASSERT_STREQ(list[1]->name, "big-1");
    ASSERT_STREQ(list[500]->name, "big-500");
    desk_list_free(list, n);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Makes desktop NAME ready the way the reconciler would. */
static int
make_ready(struct store *s, const char *name)
{
    int r = store_desk_set_state(s, name, DESK_STATE_PROVISIONING, DESK_STATE_BOOTING);

    if (r < 0)
        return r;
    return store_desk_set_state(s, name, DESK_STATE_BOOTING, DESK_STATE_READY);
}

TEST(sessions_floating)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(session_freep) struct session *a = NULL, *again = NULL, *b = NULL, *hb = NULL;
    _cleanup_(session_freep) struct session *ended = NULL, *stale = NULL;
    _cleanup_(desk_freep) struct desk *d1 = NULL, *d2 = NULL, *dd = NULL;
    struct session **list = NULL;
    size_t n = 0;
    bool existing = true;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "f", "base", 0, 10));
    /* nothing ready yet */
    ASSERT_ERROR(store_session_acquire(s, "f", "alice", NULL, "t", &a, &existing), EAGAIN);
    ASSERT_OK(store_desk_create(s, "f", "dp", &d1));
    ASSERT_OK(store_desk_create(s, "f", "dp", &d2));
    ASSERT_OK(make_ready(s, d1->name));
    ASSERT_OK(make_ready(s, d2->name));

    ASSERT_OK(store_session_acquire(s, "f", "alice", "site-1", "t", &a, &existing));
    ASSERT_FALSE(existing);
    ASSERT_STREQ(a->desktop, d1->name); /* lowest sequence first */
    ASSERT_EQ(a->state, SESSION_STATE_ACTIVE);
    ASSERT_STREQ(a->client, "site-1");
    ASSERT_OK(store_desk_get(s, d1->name, &dd));
    ASSERT_EQ(dd->state, DESK_STATE_ASSIGNED);
    ASSERT_NULL(dd->owner); /* floating desktops have no owner */
    desk_free(dd);
    dd = NULL;
    /* idempotent: the same user gets the same session */
    ASSERT_OK(store_session_acquire(s, "f", "alice", NULL, "t", &again, &existing));
    ASSERT_TRUE(existing);
    ASSERT_STREQ(again->id, a->id);
    ASSERT_OK(store_session_acquire(s, "f", "bob", NULL, "t", &b, &existing));
    ASSERT_STREQ(b->desktop, d2->name);
    /* heartbeat: assigned -> in_use */
    ASSERT_OK(store_session_heartbeat(s, a->id, &hb));
    ASSERT_OK(store_desk_get(s, d1->name, &dd));
    ASSERT_EQ(dd->state, DESK_STATE_IN_USE);
    desk_free(dd);
    dd = NULL;
    /* end: once; the desktop goes to releasing */
    ASSERT_OK(store_session_end(s, a->id, SESSION_END_LOGOUT, "t", &ended));
    ASSERT_EQ(ended->state, SESSION_STATE_ENDED);
    ASSERT_EQ(ended->end_reason, SESSION_END_LOGOUT);
    ASSERT_ERROR(store_session_end(s, a->id, SESSION_END_IDLE_TIMEOUT, "t", &stale), ESTALE);
    ASSERT_EQ(stale->end_reason, SESSION_END_LOGOUT);
    session_free(hb);
    hb = NULL;
    ASSERT_ERROR(store_session_heartbeat(s, a->id, &hb), ESTALE);
    ASSERT_OK(store_desk_get(s, d1->name, &dd));
    ASSERT_EQ(dd->state, DESK_STATE_RELEASING);
    ASSERT_ERROR(store_session_end(s, "nope", SESSION_END_LOGOUT, "t", NULL), ENOENT);
    /* lists */
    ASSERT_OK(store_session_list(s, "f", NULL, SESSION_STATE_ACTIVE, &list, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(list[0]->user, "bob");
    session_list_free(list, n);
    ASSERT_OK(store_session_list(s, NULL, "alice", -1, &list, &n));
    ASSERT_EQ(n, 1);
    session_list_free(list, n);
    /* audited: acquire x2 and the logout */
    ASSERT_OK(query_str(s, "SELECT count(*) FROM audit WHERE action LIKE 'session.%'", "3"));
    /* no pool, pool being deleted */
    session_free(b);
    b = NULL;
    ASSERT_ERROR(store_session_acquire(s, "nope", "x", NULL, "t", &b, &existing), ENOENT);
}

TEST(sessions_dedicated)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(session_freep) struct session *a = NULL, *b = NULL, *c = NULL;
    _cleanup_(desk_freep) struct desk *d1 = NULL, *d2 = NULL, *dd = NULL;
    struct pool p = {
        .name = (char *) "ded", .image = (char *) "base", .template = (char *) "t",
        .mode = POOL_MODE_DEDICATED, .max = 5,
    };
    bool existing;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(store_pool_add(s, &p));
    ASSERT_OK(store_desk_create(s, "ded", "dp", &d1));
    ASSERT_OK(store_desk_create(s, "ded", "dp", &d2));
    ASSERT_OK(make_ready(s, d1->name));
    ASSERT_OK(make_ready(s, d2->name));
    ASSERT_OK(store_session_acquire(s, "ded", "alice", NULL, "t", &a, &existing));
    ASSERT_OK(store_desk_get(s, a->desktop, &dd));
    ASSERT_STREQ(dd->owner, "alice");
    desk_free(dd);
    dd = NULL;
    ASSERT_OK(store_session_end(s, a->id, SESSION_END_LOGOUT, "t", NULL));
    /* her desktop is releasing: she waits rather than getting another */
    ASSERT_ERROR(store_session_acquire(s, "ded", "alice", NULL, "t", &b, &existing), EAGAIN);
    ASSERT_OK(store_desk_set_state(s, a->desktop, DESK_STATE_RELEASING, DESK_STATE_READY));
    ASSERT_OK(store_session_acquire(s, "ded", "alice", NULL, "t", &b, &existing));
    ASSERT_STREQ(b->desktop, a->desktop); /* the same desktop every time */
    /* bob gets the other one; nobody else fits */
    ASSERT_OK(store_session_acquire(s, "ded", "bob", NULL, "t", &c, &existing));
    ASSERT_STREQ(c->desktop, d2->name);
    session_free(c);
    c = NULL;
    ASSERT_ERROR(store_session_acquire(s, "ded", "carol", NULL, "t", &c, &existing), EAGAIN);
    /* a quarantined own desktop is reported as such */
    ASSERT_OK(store_session_end(s, b->id, SESSION_END_LOGOUT, "t", NULL));
    ASSERT_OK(store_desk_set_state(s, b->desktop, DESK_STATE_RELEASING, DESK_STATE_FAILED));
    session_free(c);
    c = NULL;
    ASSERT_ERROR(store_session_acquire(s, "ded", "alice", NULL, "t", &c, &existing), EIO);
}

#define ACQ_THREADS 16
#define ACQ_PER_THREAD 12
#define ACQ_READY 10

struct acq_race {
    struct store *store;
    pthread_barrier_t barrier;
    unsigned next;
    unsigned won, again, other;
    char *desks[ACQ_THREADS * ACQ_PER_THREAD];
    pthread_mutex_t lock;
};

static void *
acq_thread(void *userdata)
{
    struct acq_race *a = userdata;

    pthread_barrier_wait(&a->barrier);
    for (unsigned k = 0; k < ACQ_PER_THREAD; k++) {
        struct session *x = NULL;
        char user[32];
        bool existing = false;
        unsigned me;
        int r;

        pthread_mutex_lock(&a->lock);
        me = a->next++;
        pthread_mutex_unlock(&a->lock);
        snprintf(user, sizeof(user), "user%u", me);
        r = store_session_acquire(a->store, "race", user, NULL, "t", &x, &existing);
        pthread_mutex_lock(&a->lock);
        if (r >= 0 && !existing)
            a->desks[a->won++] = xstrdup(x->desktop);
        else if (r == -EAGAIN)
            a->again++;
        else
            a->other++;
        pthread_mutex_unlock(&a->lock);
        session_free(x);
    }
    return NULL;
}

struct batch_acq {
    struct store *store;
    const char *user;
    struct session *x;
    bool existing;
    int r;
};

static void *
batch_acq_thread(void *userdata)
{
    struct batch_acq *b = userdata;

    b->r = store_session_acquire(b->store, "gc", b->user, NULL, "t", &b->x, &b->existing);
    return NULL;
}

static size_t
queued(struct store *s)
{
    size_t n = 0;

    pthread_mutex_lock(&s->acq_lock);
    for (struct store_acquire_job *j = s->acq_head; j; j = j->next)
        n++;
    pthread_mutex_unlock(&s->acq_lock);
    return n;
}

static bool
leading(struct store *s)
{
    bool l;

    pthread_mutex_lock(&s->acq_lock);
    l = s->acq_leader;
    pthread_mutex_unlock(&s->acq_lock);
    return l;
}

/* Group commit: acquires that queue while a batch runs go in the next
 * batch together; two of one user get one session, others their own. */
TEST(sessions_acquire_group_commit)
{
    _cleanup_(store_closep) struct store *s = NULL;
    struct batch_acq b[4];
    pthread_t t[4];
    uint64_t batches0;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "gc", "base", 0, 100));
    for (unsigned i = 0; i < 4; i++) {
        _cleanup_(desk_freep) struct desk *d = NULL;

        ASSERT_OK(store_desk_create(s, "gc", "dp", &d));
        ASSERT_OK(make_ready(s, d->name));
    }
    batches0 = s->acq_batches;
    /* hold the store: the first acquire leads and waits for it, the other
     * three queue behind it */
    pthread_mutex_lock(&s->lock);
    b[0] = (struct batch_acq) { .store = s, .user = "first" };
    ASSERT_EQ(pthread_create(&t[0], NULL, batch_acq_thread, &b[0]), 0);
    for (int i = 0; i < 500 && !leading(s); i++)
        usleep(2000);
    ASSERT_TRUE(leading(s));
    b[1] = (struct batch_acq) { .store = s, .user = "dup" };
    b[2] = (struct batch_acq) { .store = s, .user = "dup" };
    b[3] = (struct batch_acq) { .store = s, .user = "other" };
    for (unsigned i = 1; i < 4; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, batch_acq_thread, &b[i]), 0);
    for (int i = 0; i < 500 && queued(s) < 3; i++)
        usleep(2000);
    ASSERT_EQ(queued(s), 3);
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);

    ASSERT_EQ(s->acq_batches - batches0, 2); /* {first}, then the three together */
    for (unsigned i = 0; i < 4; i++)
        ASSERT_OK(b[i].r);
    ASSERT_STREQ(b[1].x->id, b[2].x->id);
    ASSERT_TRUE(b[1].existing != b[2].existing);
    ASSERT_FALSE(streq(b[0].x->desktop, b[1].x->desktop));
    ASSERT_FALSE(streq(b[3].x->desktop, b[1].x->desktop));
    ASSERT_FALSE(streq(b[3].x->desktop, b[0].x->desktop));
    ASSERT_OK(query_str(s, "SELECT count(*) FROM sessions WHERE state = 'active'", "3"));
    ASSERT_OK(query_str(s, "SELECT count(*) FROM desktops WHERE state = 'assigned'", "3"));
    for (unsigned i = 0; i < 4; i++)
        session_free(b[i].x);
}

TEST(sessions_acquire_race)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_free_ struct acq_race *a = xmalloc0(sizeof(*a));
    pthread_t t[ACQ_THREADS];

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "race", "base", 0, 100));
    for (unsigned i = 0; i < ACQ_READY; i++) {
        _cleanup_(desk_freep) struct desk *d = NULL;

        ASSERT_OK(store_desk_create(s, "race", "dp", &d));
        ASSERT_OK(make_ready(s, d->name));
    }
    a->store = s;
    pthread_mutex_init(&a->lock, NULL);
    pthread_barrier_init(&a->barrier, NULL, ACQ_THREADS);
    for (unsigned i = 0; i < ACQ_THREADS; i++)
        if (pthread_create(&t[i], NULL, acq_thread, a) != 0)
            abort();
    for (unsigned i = 0; i < ACQ_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&a->barrier);
    pthread_mutex_destroy(&a->lock);
    /* exactly one winner per ready desktop, on ten different desktops */
    ASSERT_EQ(a->won, ACQ_READY);
    ASSERT_EQ(a->again, ACQ_THREADS * ACQ_PER_THREAD - ACQ_READY);
    ASSERT_EQ(a->other, 0);
    for (unsigned i = 0; i < a->won; i++)
        for (unsigned k = i + 1; k < a->won; k++)
            ASSERT_FALSE(streq(a->desks[i], a->desks[k]));
    for (unsigned i = 0; i < a->won; i++)
        free(a->desks[i]);
    ASSERT_OK(query_str(s, "SELECT count(*) FROM sessions WHERE state = 'active'", "10"));
}

struct end_race {
    struct store *store;
    const char *id;
    pthread_barrier_t barrier;
    atomic_uint won, stale;
};

static void *
end_thread(void *userdata)
{
    struct end_race *e = userdata;
    int r;

    pthread_barrier_wait(&e->barrier);
    r = store_session_end(e->store, e->id, SESSION_END_IDLE_TIMEOUT, "t", NULL);
    if (r >= 0)
        atomic_fetch_add(&e->won, 1);
    else if (r == -ESTALE)
        atomic_fetch_add(&e->stale, 1);
    return NULL;
}

TEST(sessions_end_race)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;
    struct end_race e = { 0 };
    pthread_t t[8];
    bool existing;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "r", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "r", "dp", &d));
    ASSERT_OK(make_ready(s, d->name));
    ASSERT_OK(store_session_acquire(s, "r", "u", NULL, "t", &x, &existing));
    e.store = s;
    e.id = x->id;
    pthread_barrier_init(&e.barrier, NULL, 8);
    for (int i = 0; i < 8; i++)
        if (pthread_create(&t[i], NULL, end_thread, &e) != 0)
            abort();
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&e.barrier);
    ASSERT_EQ(atomic_load(&e.won), 1);
    ASSERT_EQ(atomic_load(&e.stale), 7);
    /* one end in the audit log */
    ASSERT_OK(query_str(s, "SELECT count(*) FROM audit WHERE action = 'session.idle_timeout'",
                        "1"));
}

/* issue 11 #1: a delete planned while a desktop was ready must not run once
 * an acquire took it; a delete that goes ahead ends a session on it */
TEST(delete_conditional)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(session_freep) struct session *a = NULL, *x = NULL;
    _cleanup_(desk_freep) struct desk *d1 = NULL, *d2 = NULL, *dd = NULL;
    bool existing = true;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "f", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "f", "dp", &d1));
    ASSERT_OK(store_desk_create(s, "f", "dp", &d2));
    ASSERT_OK(make_ready(s, d1->name));
    ASSERT_OK(make_ready(s, d2->name));
    /* planned from ready; the acquire came first */
    ASSERT_OK(store_session_acquire(s, "f", "alice", NULL, "t", &a, &existing));
    ASSERT_STREQ(a->desktop, d1->name);
    ASSERT_ERROR(store_desk_mark_deleting(s, d1->name, DESK_STATE_READY,
                                          SESSION_END_DESKTOP_LOST), ESTALE);
    ASSERT_OK(store_desk_get(s, d1->name, &dd));
    ASSERT_EQ(dd->state, DESK_STATE_ASSIGNED);
    ASSERT_OK(store_session_get(s, a->id, &x));
    ASSERT_EQ(x->state, SESSION_STATE_ACTIVE);
    session_free(x);
    x = NULL;
    /* the idle one goes */
    ASSERT_OK(store_desk_mark_deleting(s, d2->name, DESK_STATE_READY,
                                       SESSION_END_DESKTOP_LOST));
    desk_free(dd);
    dd = NULL;
    ASSERT_OK(store_desk_get(s, d2->name, &dd));
    ASSERT_EQ(dd->state, DESK_STATE_DELETING);
    /* resuming a delete is allowed */
    ASSERT_OK(store_desk_mark_deleting(s, d2->name, DESK_STATE_DELETING,
                                       SESSION_END_DESKTOP_LOST));
    /* a delete planned from assigned (a forced pool delete) ends the session
     * in the same transaction */
    ASSERT_OK(store_desk_mark_deleting(s, d1->name, DESK_STATE_ASSIGNED,
                                       SESSION_END_POOL_DELETED));
    ASSERT_OK(store_session_get(s, a->id, &x));
    ASSERT_EQ(x->state, SESSION_STATE_ENDED);
    ASSERT_EQ(x->end_reason, SESSION_END_POOL_DELETED);
    ASSERT_ERROR(store_desk_mark_deleting(s, "nope", DESK_STATE_READY,
                                          SESSION_END_DESKTOP_LOST), ENOENT);
}

/* issue 11 #1 (same shape): an idle logout planned on an old heartbeat
 * does not stand once a newer heartbeat arrived */
TEST(sessions_expire_heartbeat)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(session_freep) struct session *a = NULL, *hb = NULL, *x = NULL;
    _cleanup_(desk_freep) struct desk *d1 = NULL;
    bool existing = true;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "f", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "f", "dp", &d1));
    ASSERT_OK(make_ready(s, d1->name));
    ASSERT_OK(store_session_acquire(s, "f", "alice", NULL, "t", &a, &existing));
    /* the planner saw last_heartbeat - 100; a heartbeat came since */
    ASSERT_OK(store_exec_raw(s, "UPDATE sessions SET last_heartbeat = last_heartbeat - 100"));
    ASSERT_OK(store_session_heartbeat(s, a->id, &hb));
    ASSERT_ERROR(store_session_expire(s, a->id, SESSION_END_IDLE_TIMEOUT,
                                      a->last_heartbeat - 100, "reconciler"), ESTALE);
    ASSERT_OK(store_session_get(s, a->id, &x));
    ASSERT_EQ(x->state, SESSION_STATE_ACTIVE);
    /* planned on the heartbeat it still has: it stands */
    ASSERT_OK(store_session_expire(s, a->id, SESSION_END_IDLE_TIMEOUT, x->last_heartbeat,
                                   "reconciler"));
    session_free(x);
    x = NULL;
    ASSERT_OK(store_session_get(s, a->id, &x));
    ASSERT_EQ(x->state, SESSION_STATE_ENDED);
    ASSERT_EQ(x->end_reason, SESSION_END_IDLE_TIMEOUT);
}

/* Console tickets (issue 10): written with the acquire, redeemed once,
 * refused when used, expired, unknown or its session ended; only the hash
 * is stored. */
TEST(console_tickets)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(desk_freep) struct desk *d1 = NULL, *d2 = NULL;
    struct store_acquired a = { 0 }, b = { 0 }, r = { 0 };
    struct ticket t1, t2, t3, t4;
    const char *why = NULL;
    char *sess = NULL, **ended = NULL, *ids = NULL;
    size_t n_ended = 0;
    int64_t now = (int64_t) time(NULL), count = -1;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "f", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "f", "dp", &d1));
    ASSERT_OK(make_ready(s, d1->name));
    ASSERT_OK(store_desk_create(s, "f", "dp", &d2));
    ASSERT_OK(make_ready(s, d2->name));
    ASSERT_OK(ticket_new(&t1));
    ASSERT_OK(ticket_new(&t2));
    ASSERT_OK(ticket_new(&t3));
    ASSERT_OK(ticket_new(&t4));
    ASSERT_TRUE(ticket_is_valid(t1.text));
    ASSERT_FALSE(streq(t1.text, t2.text));

    ASSERT_OK(store_session_acquire_on(s, &(struct store_acquire) {
                                           .pool = "f", .user = "alice", .actor = "t",
                                           .ticket_hash = t1.hash,
                                           .ticket_expires = now + 60 }, &a));
    ASSERT_FALSE(a.existing);
    /* the same user again: the same session, a second ticket */
    ASSERT_OK(store_session_acquire_on(s, &(struct store_acquire) {
                                           .pool = "f", .user = "alice", .actor = "t",
                                           .ticket_hash = t2.hash,
                                           .ticket_expires = now - 1 }, &b));
    ASSERT_TRUE(b.existing);
    ASSERT_STREQ(a.session->id, b.session->id);
    /* only hashes are stored */
    ASSERT_EQ(store_query_int(s, &count, "SELECT COUNT(*) FROM console_tickets WHERE "
                              "session = ? AND hash IN (?, ?)", "sss", a.session->id,
                              t1.hash, t2.hash), 1);
    ASSERT_EQ(count, 2);
    ASSERT_EQ(store_query_int(s, &count, "SELECT COUNT(*) FROM console_tickets WHERE "
                              "hash = ? OR hash = ?", "ss", t1.text, t2.text), 1);
    ASSERT_EQ(count, 0);

    /* redeemed once: the session, its desktop's domain and host */
    ASSERT_OK(store_ticket_redeem(s, t1.hash, "gateway", &r, &why, &sess));
    ASSERT_STREQ(r.session->id, a.session->id);
    ASSERT_STREQ(r.session->desktop, d1->name);
    ASSERT_STREQ(r.domain, a.domain);
    ASSERT_STREQ(r.host, "local");
    ASSERT_NULL(why);
    store_acquired_done(&r);
    /* twice: refused */
    ASSERT_ERROR(store_ticket_redeem(s, t1.hash, "gateway", &r, &why, &sess), EACCES);
    ASSERT_STREQ(why, "already used");
    ASSERT_STREQ(sess, a.session->id);
    free(sess);
    ASSERT_NULL(r.session);
    /* expired */
    ASSERT_ERROR(store_ticket_redeem(s, t2.hash, "gateway", &r, &why, &sess), EACCES);
    ASSERT_STREQ(why, "expired");
    free(sess);
    /* never made */
    ASSERT_ERROR(store_ticket_redeem(s, t3.hash, "gateway", &r, &why, &sess), EACCES);
    ASSERT_STREQ(why, "unknown");
    ASSERT_NULL(sess);
    ASSERT_ERROR(store_ticket_redeem(s, "short", "gateway", &r, &why, &sess), EINVAL);

    /* the watch: an active session is not listed, unknown ids are */
    ids = xasprintf("[\"%s\",\"%s\"]", a.session->id,
                    "00000000-0000-4000-8000-000000000000");
    ASSERT_OK(store_sessions_inactive(s, ids, &ended, &n_ended));
    ASSERT_EQ(n_ended, 1u);
    ASSERT_STREQ(ended[0], "00000000-0000-4000-8000-000000000000");
    strv_free_n(ended, n_ended);

    /* a valid ticket of a session that ends is dead */
    store_acquired_done(&b);
    ASSERT_OK(store_session_acquire_on(s, &(struct store_acquire) {
                                           .pool = "f", .user = "alice", .actor = "t",
                                           .ticket_hash = t4.hash,
                                           .ticket_expires = now + 60 }, &b));
    ASSERT_OK(store_session_end(s, a.session->id, SESSION_END_LOGOUT, "t", NULL));
    ASSERT_ERROR(store_ticket_redeem(s, t4.hash, "gateway", &r, &why, &sess), EACCES);
    ASSERT_STREQ(why, "session ended");
    free(sess);
    ASSERT_OK(store_sessions_inactive(s, ids, &ended, &n_ended));
    ASSERT_EQ(n_ended, 2u);
    strv_free_n(ended, n_ended);
    free(ids);
    /* the redeem was audited */
    ASSERT_EQ(store_query_int(s, &count, "SELECT COUNT(*) FROM audit WHERE action = "
                              "'console.open'", ""), 1);
    ASSERT_EQ(count, 1);
    /* pruned after expiry */
    ASSERT_EQ(store_ticket_prune(s, now + 61), 3);
    ASSERT_EQ(store_ticket_prune(s, now + 61), 0);
    store_acquired_done(&a);
    store_acquired_done(&b);
}

/* issue 11 #8: a damaged store is refused at open with a sentence that
 * says so (not "Bad message" at the first write), and met later it shows
 * in store_health() and as -EBADMSG */
TEST(parents)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(parent_freep) struct parent *x = NULL, *y = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_free_ char *path = NULL;
    struct parent **list = NULL;
    struct pool instant = { .name = (char *) "fast", .image = (char *) "base",
                            .template = (char *) "default", .mode = POOL_MODE_FLOATING,
                            .max = 4, .clone = POOL_CLONE_INSTANT };
    size_t n = 0;
    bool failed = true;

    ASSERT_OK(open_fresh(&s));
    ASSERT_ERROR(store_parent_create(s, "base", 1, "default", "d1", "dp", &x), ENOENT);
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_image(s, "base", 2));
    ASSERT_OK(add_pool(s, "slow", "base", 0, 4)); /* boots */
    ASSERT_OK(store_pool_add(s, &instant));
    ASSERT_OK(store_parent_create(s, "base", 2, "default", "d1", "dp", &x));
    ASSERT_STREQ(x->name, "base.v2.default.1");
    ASSERT_STREQ(x->domain, "dp.parent.base.v2.default.1");
    ASSERT_EQ(x->state, PARENT_STATE_BUILDING);
    ASSERT_STREQ(x->template_digest, "d1");
    ASSERT_EQ(strlen(x->uuid), 36);
    ASSERT_NULL(x->volume);
    ASSERT_OK(store_parent_create(s, "base", 2, "default", "d1", "dp", &y));
    ASSERT_STREQ(y->name, "base.v2.default.2");
    ASSERT_FALSE(streq(x->uuid, y->uuid));

    /* a desktop names a parent only while it is ready */
    ASSERT_OK(store_desk_create(s, "fast", "dp", &d));
    ASSERT_ERROR(store_desk_set_parent(s, d->name, x->name), ESTALE);
    ASSERT_ERROR(store_desk_set_parent(s, "nope-1", x->name), ENOENT);
    ASSERT_OK(store_parent_set_files(s, x->name, "/o/x.qcow2", "/p/x.save"));
    ASSERT_OK(store_parent_set_ready(s, x->name, 12345, 4500, 1500));
    ASSERT_ERROR(store_parent_set_ready(s, x->name, 1, 1, 1), ESTALE);
    ASSERT_OK(store_desk_set_parent(s, d->name, x->name));
    x = parent_free(x);
    ASSERT_OK(store_parent_get(s, "base.v2.default.1", &x));
    ASSERT_EQ(x->state, PARENT_STATE_READY);
    ASSERT_EQ(x->saved_bytes, 12345);
    ASSERT_EQ(x->boot_ms, 4500);
    ASSERT_EQ(x->save_ms, 1500);
    ASSERT_STREQ(x->volume, "/o/x.qcow2");
    ASSERT_STREQ(x->saved, "/p/x.save");

    /* nothing is deleted from under a clone; its image version stays */
    ASSERT_ERROR(store_parent_mark_deleting(s, x->name), EBUSY);
    ASSERT_ERROR(store_parent_remove(s, x->name), EINVAL);
    ASSERT_OK(store_desk_set_parent(s, d->name, NULL));
    ASSERT_OK(store_parent_mark_deleting(s, x->name));
    ASSERT_OK(store_parent_mark_deleting(s, x->name)); /* resumed */
    ASSERT_ERROR(store_desk_set_parent(s, d->name, x->name), ESTALE);
    ASSERT_OK(store_parent_remove(s, x->name));
    ASSERT_ERROR(store_parent_get(s, x->name, &y), ENOENT);

    /* failed builds count; at the limit the parent fails and the instant
     * pool on its image and template falls back, with the reason */
    y = parent_free(y);
    ASSERT_OK(store_pool_set_image_version(s, "fast", 2));
    ASSERT_OK(store_exec_raw(s, "UPDATE pools SET current_version = 2"));
    ASSERT_OK(store_parent_record_failure(s, "base.v2.default.2", "no agent", 2, &failed));
    ASSERT_FALSE(failed);
    ASSERT_OK(store_pool_get(s, "fast", &p));
    ASSERT_NULL(p->clone_fallback);
    p = pool_free(p);
    ASSERT_OK(store_parent_record_failure(s, "base.v2.default.2", "no agent again", 2,
                                          &failed));
    ASSERT_TRUE(failed);
    ASSERT_OK(store_parent_get(s, "base.v2.default.2", &y));
    ASSERT_EQ(y->state, PARENT_STATE_FAILED);
    ASSERT_EQ(y->failures, 2);
    ASSERT_NOT_NULL(strstr(y->error, "no agent again"));
    ASSERT_OK(store_pool_get(s, "fast", &p));
    ASSERT_EQ(p->clone, POOL_CLONE_INSTANT);
    ASSERT_EQ(pool_clone_effective(p), POOL_CLONE_BOOT);
    ASSERT_NOT_NULL(strstr(p->clone_fallback, "base.v2.default.2"));
    p = pool_free(p);
    ASSERT_OK(store_pool_get(s, "slow", &p));
    ASSERT_NULL(p->clone_fallback); /* it boots anyway */
    p = pool_free(p);
    ASSERT_OK(query_str(s, "SELECT COUNT(*) FROM audit WHERE action = 'pool.clone-fallback'",
                        "1"));
    ASSERT_ERROR(store_parent_fail(s, "base.v2.default.2", "again"), ESTALE);
    /* the operator re-arms it */
    ASSERT_OK(store_pool_set_clone(s, "fast", POOL_CLONE_INSTANT));
    ASSERT_OK(store_pool_get(s, "fast", &p));
    ASSERT_NULL(p->clone_fallback);
    ASSERT_ERROR(store_pool_set_clone(s, "nope", POOL_CLONE_BOOT), ENOENT);

    /* an image version a parent was made of stays until the parent goes */
    x = parent_free(x);
    ASSERT_OK(store_parent_create(s, "base", 1, "default", "d1", "dp", &x));
    ASSERT_ERROR(store_image_retire(s, "base", 1, &path), EBUSY);

    ASSERT_OK(store_parent_list(s, &list, &n));
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(list[0]->name, "base.v2.default.2");
    ASSERT_STREQ(list[1]->name, "base.v1.default.3");
    parent_list_free(list, n);
    ASSERT_OK(store_parent_mark_deleting(s, x->name));
    ASSERT_OK(store_parent_remove(s, x->name));
    ASSERT_OK(store_image_retire(s, "base", 1, &path));
}

TEST(incarnations_and_macs)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(desk_freep) struct desk *a = NULL, *b = NULL, *d = NULL;
    _cleanup_free_ char *mac_a = NULL, *again = NULL, *mac_b = NULL, *nth = NULL;

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(store_desk_create(s, "demo", "dp", &a));
    ASSERT_OK(store_desk_create(s, "demo", "dp", &b));
    ASSERT_NULL(a->mac);
    ASSERT_OK(store_desk_ensure_mac(s, a->name, &mac_a));
    ASSERT_OK(store_desk_ensure_mac(s, a->name, &again));
    ASSERT_STREQ(mac_a, again);
    ASSERT_OK(store_desk_ensure_mac(s, b->name, &mac_b));
    ASSERT_FALSE(streq(mac_a, mac_b));
    ASSERT_EQ(strlen(mac_a), 17);
    ASSERT_TRUE(strncmp(mac_a, "52:54:00:", 9) == 0);
    nth = desk_mac_nth(mac_a, 7);
    ASSERT_NOT_NULL(nth);
    ASSERT_EQ(strncmp(nth, mac_a, 15), 0);
    /* the store refuses a second desktop on an address */
    ASSERT_ERROR(store_exec_raw(s, "UPDATE desktops SET mac = (SELECT mac FROM desktops "
                                   "WHERE name = 'demo-1') WHERE name = 'demo-2'"), EEXIST);

    /* a wipe's next incarnation: only from releasing, one at a time */
    ASSERT_ERROR(store_desk_begin_incarnation(s, a->name, "dp.demo-1.b", "u2"), ESTALE);
    ASSERT_OK(store_desk_set_state(s, a->name, DESK_STATE_PROVISIONING, DESK_STATE_BOOTING));
    ASSERT_OK(store_desk_set_state(s, a->name, DESK_STATE_BOOTING, DESK_STATE_READY));
    ASSERT_OK(store_exec_raw(s, "UPDATE desktops SET state = 'releasing', volume = '/v/x' "
                                "WHERE name = 'demo-1'"));
    ASSERT_OK(store_desk_begin_incarnation(s, a->name, "dp.demo-1.b",
                                           "00000000-0000-0000-0000-000000000002"));
    ASSERT_ERROR(store_desk_begin_incarnation(s, a->name, "dp.demo-1",
                                              "00000000-0000-0000-0000-000000000003"), ESTALE);
    ASSERT_OK(store_desk_get(s, a->name, &d));
    ASSERT_STREQ(d->domain, "dp.demo-1.b");
    ASSERT_STREQ(d->old_domain, "dp.demo-1");
    ASSERT_STREQ(d->uuid, "00000000-0000-0000-0000-000000000002");
    ASSERT_NULL(d->volume);
    ASSERT_STREQ(d->mac, mac_a); /* the same in every incarnation */
    ASSERT_ERROR(store_desk_end_incarnation(s, a->name, "dp.other"), ENOENT);
    ASSERT_OK(store_desk_end_incarnation(s, a->name, "dp.demo-1"));
    d = desk_free(d);
    ASSERT_OK(store_desk_get(s, a->name, &d));
    ASSERT_NULL(d->old_domain);
}

TEST(corrupt_store)
{
    _cleanup_free_ char *path = new_db_path(), *msg = NULL;
    struct store *s = NULL;
    FILE *f;
    long size;

    ASSERT_OK(store_open(path, &s, NULL));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "f", "base", 0, 10));
    ASSERT_OK(store_exec_raw(s, "PRAGMA wal_checkpoint(TRUNCATE)"));
    ASSERT_STREQ(store_health(s), "ok");
    s = store_close(s);

    /* garbage over the second half of the file: pages of the tables */
    f = fopen(path, "r+");
    ASSERT_NOT_NULL(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    ASSERT_TRUE(size >= 4096 * 3);
    fseek(f, 4096 * 2, SEEK_SET);
    for (long i = 4096 * 2; i < size; i++)
        fputc((int) (i * 7919 % 251), f);
    fclose(f);
    ASSERT_ERROR(store_open(path, &s, &msg), EBADMSG);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(strstr(msg, "is corrupt"));
    free(msg);
    msg = NULL;

    /* truncated to its first page: the header says more pages */
    ASSERT_EQ(truncate(path, 4096), 0);
    ASSERT_ERROR(store_open(path, &s, &msg), EBADMSG);
    ASSERT_NOT_NULL(strstr(msg, "is corrupt"));
    free(msg);
    msg = NULL;

    /* not a database at all */
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs("this is not an SQLite file, but it is long enough to have a header.........", f);
    fclose(f);
    ASSERT_ERROR(store_open(path, &s, &msg), EBADMSG);
    ASSERT_NOT_NULL(strstr(msg, "is corrupt"));
}

/* ... and one damaged under a running store (its schema, through a second
 * connection, as a stray write would) */
TEST(corrupt_while_open)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_free_ char *path = new_db_path();
    struct pool **pools = NULL;
    size_t n = 0;
    sqlite3 *db = NULL;

    ASSERT_OK(store_open(path, &s, NULL));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "f", "base", 0, 10));
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA writable_schema = ON; "
                               "UPDATE sqlite_master SET sql = 'CREATE TABLE pools (' "
                               "WHERE name = 'pools'; PRAGMA writable_schema = OFF;",
                           NULL, NULL, NULL), SQLITE_OK);
    /* a new schema cookie, so the open connection reads the schema again */
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA schema_version = 4242", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ASSERT_ERROR(store_pool_list(s, &pools, &n), EBADMSG);
    ASSERT_STREQ(store_health(s), "corrupt");
}

TEST(hosts)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(desk_freep) struct desk *d1 = NULL, *d2 = NULL;
    _cleanup_(host_freep) struct host *got = NULL;
    struct host **list = NULL;
    char *labels[] = { (char *) "gpu=yes", (char *) "site=a", NULL };
    struct host h = {
        .name = (char *) "kvm2", .uri = (char *) "qemu+ssh://root@kvm2/system",
        .max_desktops = 30, .reserve_memory = 4ULL << 30, .labels = labels,
    };
    struct desk *tmp = NULL;
    unsigned n_desks = 0;
    size_t n = 0;

    ASSERT_OK(open_fresh(&s));
    /* the local host is there from the start, with the daemon's URI ("") */
    ASSERT_OK(store_host_list(s, &list, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(list[0]->name, HOST_LOCAL);
    ASSERT_STREQ(list[0]->uri, "");
    ASSERT_EQ(list[0]->admin, HOST_ADMIN_ACTIVE);
    host_list_free(list, n);

    ASSERT_OK(store_host_add(s, &h));
    ASSERT_ERROR(store_host_add(s, &h), EEXIST);
    h.name = (char *) "kvm3"; /* same URI */
    ASSERT_ERROR(store_host_add(s, &h), EEXIST);
    h.name = (char *) "kvm2";
    ASSERT_OK(store_host_get(s, "kvm2", &got));
    ASSERT_EQ(got->max_desktops, 30);
    ASSERT_EQ(got->reserve_memory, 4ULL << 30);
    ASSERT_STREQ(got->labels[0], "gpu=yes");
    ASSERT_STREQ(got->labels[1], "site=a");
    ASSERT_NULL(got->labels[2]);
    got = host_free(got);

    /* desktops go on a host; not on an unknown or draining one */
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(store_desk_create_on(s, "demo", "inst", 0, "kvm2", &d1));
    ASSERT_STREQ(d1->host, "kvm2");
    ASSERT_OK(store_desk_create(s, "demo", "inst", &d2));
    ASSERT_STREQ(d2->host, HOST_LOCAL);
    ASSERT_ERROR(store_desk_create_on(s, "demo", "inst", 0, "nohost", &tmp), ENODEV);
    ASSERT_OK(store_host_set_admin(s, "kvm2", HOST_ADMIN_DRAINING, 300));
    ASSERT_ERROR(store_desk_create_on(s, "demo", "inst", 0, "kvm2", &tmp), EBUSY);
    ASSERT_NULL(tmp);
    ASSERT_OK(store_host_get(s, "kvm2", &got));
    ASSERT_EQ(got->admin, HOST_ADMIN_DRAINING);
    ASSERT_EQ(got->drain_warn, 300);
    ASSERT_TRUE(got->drain_since > 0);
    got = host_free(got);
    ASSERT_ERROR(store_host_set_admin(s, "nohost", HOST_ADMIN_DRAINING, 0), ENOENT);

    /* removal: refused while a desktop is there, never for the local host */
    ASSERT_OK(store_host_count_desks(s, "kvm2", &n_desks));
    ASSERT_EQ(n_desks, 1);
    ASSERT_ERROR(store_host_remove(s, "kvm2"), EBUSY);
    ASSERT_ERROR(store_host_remove(s, HOST_LOCAL), EPERM);
    ASSERT_ERROR(store_host_remove(s, "nohost"), ENOENT);
    ASSERT_OK(store_desk_mark_deleting(s, d1->name, DESK_STATE_PROVISIONING,
                                       SESSION_END_DESKTOP_LOST));
    ASSERT_OK(store_desk_remove(s, d1->name));
    ASSERT_OK(store_host_set_admin(s, "kvm2", HOST_ADMIN_ACTIVE, 0));
    ASSERT_OK(store_host_get(s, "kvm2", &got));
    ASSERT_EQ(got->drain_since, 0);
    got = host_free(got);
    h.max_desktops = 5;
    h.labels = NULL;
    ASSERT_OK(store_host_update(s, &h));
    ASSERT_OK(store_host_get(s, "kvm2", &got));
    ASSERT_EQ(got->max_desktops, 5);
    ASSERT_NULL(got->labels[0]);
    got = host_free(got);
    ASSERT_OK(store_host_remove(s, "kvm2"));
    ASSERT_ERROR(store_host_get(s, "kvm2", &got), ENOENT);
}

TEST(pool_placement)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    char *labels[] = { (char *) "site=ambulance", NULL };

    ASSERT_OK(open_fresh(&s));
    ASSERT_OK(add_image(s, "base", 1));
    ASSERT_OK(add_pool(s, "demo", "base", 0, 10));
    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_EQ(p->placement, PLACEMENT_SPREAD);
    ASSERT_NULL(p->host_labels[0]);
    p->placement = PLACEMENT_PACK;
    strv_free(p->host_labels);
    p->host_labels = NULL;
    p->host_labels = strv_split(labels[0], ',');
    ASSERT_OK(store_pool_update(s, p));
    p = pool_free(p);
    ASSERT_OK(store_pool_get(s, "demo", &p));
    ASSERT_EQ(p->placement, PLACEMENT_PACK);
    ASSERT_STREQ(p->host_labels[0], "site=ambulance");
}

int
main(void)
{
    int r;

    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(migrations_fresh);
    RUN(hosts);
    RUN(pool_placement);
    RUN(migrations_reopen);
    RUN(meta_missing);
    RUN(refuse_newer_schema);
    RUN(open_failure);
    RUN(corrupt_store);
    RUN(corrupt_while_open);
    RUN(images);
    RUN(pools);
    RUN(parents);
    RUN(incarnations_and_macs);
    RUN(desk_create);
    RUN(set_state);
    RUN(failures_and_ready);
    RUN(mark_deleting);
    RUN(remove);
    RUN(audit);
    RUN(session_pages);
    RUN(session_prune);
    RUN(audit_pages_and_prune);
    RUN(race_transitions);
    RUN(race_create);
    RUN(many_desktops);
    RUN(sessions_floating);
    RUN(sessions_dedicated);
    RUN(sessions_acquire_race);
    RUN(sessions_acquire_group_commit);
    RUN(sessions_end_race);
    RUN(delete_conditional);
    RUN(sessions_expire_heartbeat);
    RUN(console_tickets);
    r = TESTS_DONE();
    if (nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
        perror("removing the temporary directory");
    return r;
}
