/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-parent.c - parents of instant clones in the store, and the
 * desktop columns that tie a desktop to one (parent, MAC, incarnations)
 *
 * Part of the store (see store.c for the DESIGN: one connection, one
 * mutex, one transaction per public call, conditional UPDATEs). Nothing
 * here logs above debug.
 *
 * The rules that make a parent safe to delete live here, as conditions
 * of one transaction each: a desktop names its parent only while that
 * parent is ready (store_desk_set_parent()), and a parent is marked for
 * deletion only while no desktop names it (store_parent_mark_deleting()).
 * So a parent's files can never go from under a clone's overlay.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "array.h"
#include "log.h"
#include "store-priv.h"
#include "strv.h"
#include "util.h"

static int
parent_from_row(sqlite3_stmt *st, struct parent **ret)
{
    _cleanup_(parent_freep) struct parent *p = xmalloc0(sizeof(*p));

    p->name = store_column_strdup(st, 0);
    p->image = store_column_strdup(st, 1);
    p->image_version = store_column_unsigned(st, 2);
    p->template = store_column_strdup(st, 3);
    p->template_digest = store_column_strdup(st, 4);
    p->state = parent_state_from_string((const char *) sqlite3_column_text(st, 5));
    if (p->state < 0) {
        log_debug("Parent '%s' has an unknown state in the store.", strempty(p->name));
        return -EBADMSG;
    }
    p->uuid = store_column_strdup(st, 6);
    p->domain = store_column_strdup(st, 7);
    p->volume = store_column_strdup(st, 8);
    p->saved = store_column_strdup(st, 9);
    p->saved_bytes = (uint64_t) sqlite3_column_int64(st, 10);
    p->failures = store_column_unsigned(st, 11);
    p->error = store_column_strdup(st, 12);
    p->boot_ms = store_column_unsigned(st, 13);
    p->save_ms = store_column_unsigned(st, 14);
    p->created_at = sqlite3_column_int64(st, 15);
    p->state_since = sqlite3_column_int64(st, 16);
    *ret = TAKE_PTR(p);
    return 0;
}

DEFINE_STORE_COLLECT(collect_parents, struct parent, parent_from_row, parent_list_free)

DEFINE_STORE_FETCH(fetch_parent, struct parent, parent_from_row)

DEFINE_STORE_LIST(list_parents, struct parent, collect_parents)

static int
store_parent_get_locked(struct store *s, const char *name, struct parent **ret)
{
    return fetch_parent(s, ret, "SELECT " PARENT_COLUMNS " FROM parents WHERE name = ?", "s",
                        name);
}

DEFINE_STORE_GET(store_parent_get, struct parent, store_parent_get_locked)

int
store_parent_list(struct store *s, struct parent ***ret, size_t *ret_n)
{
    return list_parents(s, ret, ret_n, "SELECT " PARENT_COLUMNS " FROM parents ORDER BY id",
                        "");
}

int
store_parent_create(struct store *s, const char *image, unsigned version, const char *template,
                    const char *digest, const char *instance, struct parent **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_free_ char *name = NULL, *domain = NULL;
    char uuid_str[UUID_STR_LEN];
    uuid_t uuid;
    int64_t found, now, id;
    int r;

    if (!image || version == 0 || !template || !digest || !instance)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_query_int(locked, &found,
                        "SELECT 1 FROM images WHERE name = ? AND version = ? AND retired = 0",
                        "su", image, version);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, uuid_str);
    now = store_now_sec();
    /* the name carries the row id: insert under the UUID, then rename */
    r = store_run(locked,
                  "INSERT INTO parents (name, image, image_version, template, template_digest, "
                  "state, uuid, domain, created_at, state_since) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, 'building', ?1, ?1, ?6, ?6)",
                  "ssussl", uuid_str, image, version, template, digest, now);
    if (r < 0)
        return r;
    id = sqlite3_last_insert_rowid(locked->db);
    name = xasprintf("%s.v%u.%s.%" PRIi64, image, version, template, id);
    domain = parent_domain_name(instance, name);
    r = store_run(locked, "UPDATE parents SET name = ?, domain = ? WHERE id = ?", "ssl", name,
                  domain, id);
    if (r < 0)
        return r;
    if (ret) {
        r = store_parent_get_locked(locked, name, ret);
        if (r < 0)
            return r;
    }
    log_debug("Created parent '%s'.", name);
    return store_tx_commit(&tx);
}

int
store_parent_set_files(struct store *s, const char *name, const char *volume,
                       const char *saved)
{
    if (!name)
        return -EINVAL;
    return store_update_one(s, "UPDATE parents SET volume = ?, saved = ? WHERE name = ?",
                            "sss", volume, saved, name);
}

/* -ESTALE when parent NAME exists (a conditional update missed it), else
 * -ENOENT. */
static int
parent_missed_locked(struct store *s, const char *name)
{
    int64_t found;
    int r;

    r = store_query_int(s, &found, "SELECT 1 FROM parents WHERE name = ?", "s", name);
    if (r < 0)
        return r;
    return r > 0 ? -ESTALE : -ENOENT;
}

int
store_parent_set_ready(struct store *s, const char *name, uint64_t saved_bytes,
                       unsigned boot_ms, unsigned save_ms)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE parents SET state = 'ready', state_since = ?, saved_bytes = ?, "
                  "boot_ms = ?, save_ms = ?, error = NULL WHERE name = ? AND state = 'building'",
                  "lUuus", store_now_sec(), saved_bytes, boot_ms, save_ms, name);
    if (r < 0)
        return r;
    if (r == 0)
        return parent_missed_locked(locked, name);
    return store_tx_commit(&tx);
}

/* The failure of parent P inside the caller's transaction (see
 * store_parent_fail()). */
static int
parent_fail_locked(struct store *s, const struct parent *p, const char *error)
{
    _cleanup_free_ char *reason = NULL;
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    char **pools = NULL;
    size_t n = 0, cap = 0;
    int r;

    r = store_run(s,
                  "UPDATE parents SET state = 'failed', state_since = ?, error = ? "
                  "WHERE name = ? AND state IN ('building', 'ready')",
                  "lss", store_now_sec(), error, p->name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ESTALE;
    reason = xasprintf("Parent '%s' failed: %s", p->name, strempty(error));
    /* the pools that make clones of it now: same image and template,
     * running or moving to its version */
    r = store_prepare(s, &st,
                      "SELECT name FROM pools WHERE image = ?1 AND template = ?2 "
                      "AND clone = 'instant' AND clone_fallback IS NULL AND deleting = 0 "
                      "AND (current_version = ?3 OR EXISTS (SELECT 1 FROM desktops d "
                      "WHERE d.pool = pools.name AND d.image_version = ?3)) ORDER BY name",
                      "ssu", p->image, p->template, p->image_version);
    if (r < 0)
        return r;
    while ((r = store_step(s, st)) > 0) {
        ARRAY_GROW(pools, cap, n + 1);
        pools[n++] = store_column_strdup(st, 0);
    }
    for (size_t i = 0; r >= 0 && i < n; i++) {
        r = store_run(s, "UPDATE pools SET clone_fallback = ? WHERE name = ?", "ss", reason,
                      pools[i]);
        if (r >= 0)
            r = store_audit_locked(s, "reconciler", "pool.clone-fallback", pools[i], NULL,
                                   NULL, reason);
    }
    strv_free_n(pools, n);
    if (r < 0)
        return r;
    return store_audit_locked(s, "reconciler", "parent.failed", NULL, NULL, NULL, reason);
}

int
store_parent_fail(struct store *s, const char *name, const char *error)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(parent_freep) struct parent *p = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_parent_get_locked(locked, name, &p);
    if (r < 0)
        return r;
    r = parent_fail_locked(locked, p, error);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_parent_record_failure(struct store *s, const char *name, const char *error,
                            unsigned max_failures, bool *ret_failed)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(parent_freep) struct parent *p = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE parents SET failures = failures + 1, error = ? "
                  "WHERE name = ? AND state = 'building'",
                  "ss", error, name);
    if (r < 0)
        return r;
    if (r == 0)
        return parent_missed_locked(locked, name);
    r = store_parent_get_locked(locked, name, &p);
    if (r < 0)
        return r;
    if (ret_failed)
        *ret_failed = p->failures >= max_failures;
    if (p->failures >= max_failures) {
        _cleanup_free_ char *why = xasprintf("its build failed %u times; the last: %s",
                                             p->failures, strempty(error));

        r = parent_fail_locked(locked, p, why);
        if (r < 0)
            return r;
    }
    return store_tx_commit(&tx);
}

int
store_parent_mark_deleting(struct store *s, const char *name)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int64_t used = 0;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_query_int(locked, &used, "SELECT COUNT(*) FROM desktops WHERE parent = ?", "s",
                        name);
    if (r < 0)
        return r;
    if (used > 0)
        return -EBUSY;
    r = store_run(locked,
                  "UPDATE parents SET state = 'deleting', state_since = ? WHERE name = ?",
                  "ls", store_now_sec(), name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return store_tx_commit(&tx);
}

int
store_parent_remove(struct store *s, const char *name)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, "DELETE FROM parents WHERE name = ? AND state = 'deleting'", "s",
                  name);
    if (r < 0)
        return r;
    if (r == 0) {
        r = parent_missed_locked(locked, name);
        return r == -ESTALE ? -EINVAL : r;
    }
    return store_tx_commit(&tx);
}

/* ---- the desktop side ---- */

int
store_desk_set_parent(struct store *s, const char *name, const char *parent)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    if (parent)
        r = store_run(locked,
                      "UPDATE desktops SET parent = ?1 WHERE name = ?2 AND EXISTS "
                      "(SELECT 1 FROM parents WHERE name = ?1 AND state = 'ready')",
                      "ss", parent, name);
    else
        r = store_run(locked, "UPDATE desktops SET parent = NULL WHERE name = ?", "s", name);
    if (r < 0)
        return r;
    if (r == 0)
        return store_desk_missed_locked(locked, name);
    return store_tx_commit(&tx);
}

int
store_desk_ensure_mac(struct store *s, const char *name, char **ret_mac)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_desk_get_locked(locked, name, &d);
    if (r < 0)
        return r;
    if (d->mac) {
        *ret_mac = xstrdup(d->mac);
        return 0;
    }
    /* 21 random bits, a block of 8 addresses each: the unique index
     * turns a collision into another try */
    for (int i = 0; i < 64; i++) {
        _cleanup_free_ char *hex = random_hex(3), *mac = NULL;
        unsigned v = (unsigned) strtoul(hex, NULL, 16) & ~7u;

        mac = xasprintf("52:54:00:%02x:%02x:%02x", (v >> 16) & 0xff, (v >> 8) & 0xff,
                        v & 0xff);
        r = store_run(locked, "UPDATE desktops SET mac = ? WHERE name = ? AND mac IS NULL",
                      "ss", mac, name);
        if (r == -EEXIST)
            continue;
        if (r < 0)
            return r;
        r = store_tx_commit(&tx);
        if (r < 0)
            return r;
        *ret_mac = TAKE_PTR(mac);
        return 0;
    }
    return -EEXIST;
}

int
store_desk_begin_incarnation(struct store *s, const char *name, const char *domain,
                             const char *uuid)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name || !domain || !uuid)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE desktops SET old_domain = domain, domain = ?, uuid = ?, volume = NULL "
                  "WHERE name = ? AND state = 'releasing' AND old_domain IS NULL",
                  "sss", domain, uuid, name);
    if (r < 0)
        return r;
    if (r == 0)
        return store_desk_missed_locked(locked, name);
    return store_tx_commit(&tx);
}

int
store_desk_end_incarnation(struct store *s, const char *name, const char *old_domain)
{
    if (!name || !old_domain)
        return -EINVAL;
    return store_update_one(s,
                            "UPDATE desktops SET old_domain = NULL "
                            "WHERE name = ? AND old_domain = ?",
                            "ss", name, old_domain);
}
