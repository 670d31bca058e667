/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-desk.c - desktop rows: creation, conditional state changes, removal
 *
 * Part of the store (see store.c for the DESIGN: one connection, one
 * mutex, one transaction per public call, conditional UPDATEs). Nothing
 * here logs above debug.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "array.h"
#include "log.h"
#include "name.h"
#include "host.h"
#include "store-priv.h"
#include "util.h"

static int
desk_from_row(sqlite3_stmt *st, struct desk **ret)
{
    _cleanup_(desk_freep) struct desk *d = xmalloc0(sizeof(*d));

    d->name = store_column_strdup(st, 0);
    d->pool = store_column_strdup(st, 1);
    d->state = desk_state_from_string((const char *) sqlite3_column_text(st, 2));
    if (d->state < 0) {
        log_debug("Desktop '%s' has an unknown state in the store.", strempty(d->name));
        return -EBADMSG;
    }
    d->uuid = store_column_strdup(st, 3);
    d->domain = store_column_strdup(st, 4);
    d->volume = store_column_strdup(st, 5);
    d->image = store_column_strdup(st, 6);
    d->image_version = store_column_unsigned(st, 7);
    d->owner = store_column_strdup(st, 8);
    d->boot_failures = store_column_unsigned(st, 9);
    d->last_error = store_column_strdup(st, 10);
    d->created_at = sqlite3_column_int64(st, 11);
    d->state_since = sqlite3_column_int64(st, 12);
    d->data_volume = store_column_strdup(st, 13);
    d->seq = store_column_unsigned(st, 14);
    d->host_failure = sqlite3_column_int(st, 15) != 0;
    d->parent = store_column_strdup(st, 16);
    d->mac = store_column_strdup(st, 17);
    d->old_domain = store_column_strdup(st, 18);
    d->host = store_column_strdup(st, 19);
    *ret = TAKE_PTR(d);
    return 0;
}

DEFINE_STORE_COLLECT(collect_desks, struct desk, desk_from_row, desk_list_free)

DEFINE_STORE_FETCH(fetch_desk, struct desk, desk_from_row)

DEFINE_STORE_LIST(list_desks, struct desk, collect_desks)

int
store_desk_get_locked(struct store *s, const char *name, struct desk **ret)
{
    return fetch_desk(s, ret, "SELECT " DESK_COLUMNS " FROM desktops WHERE name = ?", "s",
                      name);
}

/* The image version a new desktop of P gets: WANT when not 0, else the
 * pool's current version, else (an old row) the pinned one or the newest. */
static int
pool_resolve_image_locked(struct store *s, const struct pool *p, unsigned want, unsigned *ret)
{
    int64_t v = 0;
    int r;

    if (want == 0)
        want = p->current_version;
    if (want == 0)
        want = p->image_version;
    r = store_query_int(s, &v,
                        "SELECT MAX(version) FROM images WHERE name = ?1 AND retired = 0 "
                        "AND (?2 = 0 OR version = ?2)",
                        "su", p->image, want);
    if (r < 0)
        return r;
    /* MAX() of no rows is one NULL row, read as 0. */
    if (r == 0 || v <= 0 || v > UINT32_MAX)
        return -ENOENT;
    *ret = (unsigned) v;
    return 0;
}

int
store_desk_create(struct store *s, const char *pool, const char *instance, struct desk **ret)
{
    return store_desk_create_at(s, pool, instance, 0, ret);
}

int
store_desk_create_at(struct store *s, const char *pool, const char *instance, unsigned version,
                     struct desk **ret)
{
    return store_desk_create_on(s, pool, instance, version, NULL, ret);
}

int
store_desk_create_on(struct store *s, const char *pool, const char *instance, unsigned version,
                     const char *host, struct desk **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_free_ char *name = NULL, *domain = NULL;
    int64_t now, active = 0;
    char uuid_str[UUID_STR_LEN];
    uuid_t uuid;
    int r;

    if (!pool || !instance)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_pool_get_live_locked(locked, pool, &p);
    if (r < 0)
        return r;
    if (!host)
        host = HOST_LOCAL;
    r = store_query_int(locked, &active, "SELECT admin = ? FROM hosts WHERE name = ?", "ss",
                        host_admin_to_string(HOST_ADMIN_ACTIVE), host);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENODEV;
    if (!active)
        return -EBUSY;
    r = pool_resolve_image_locked(locked, p, version, &version);
    if (r < 0)
        return r;
    r = store_run(locked, "UPDATE pools SET next_seq = next_seq + 1 WHERE name = ?", "s", pool);
    if (r < 0)
        return r;

    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, uuid_str);
    name = xasprintf("%s-%u", pool, p->next_seq);
    domain = desk_domain_name(instance, name);
    now = store_now_sec();
    r = store_run(locked,
                  "INSERT INTO desktops (name, pool, seq, state, uuid, domain, image, "
                  "image_version, boot_failures, created_at, state_since, host) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                  "ssussssulls", name, pool, p->next_seq,
                  desk_state_to_string(DESK_STATE_PROVISIONING), uuid_str, domain, p->image,
                  version, now, now, host);
    if (r < 0)
        return r;
    r = store_desk_get_locked(locked, name, &d);
    if (r < 0)
        return r;
    r = store_tx_commit(&tx);
    if (r < 0)
        return r;
    log_debug("Created desktop '%s' (image %s version %u).", name, p->image, version);
    if (ret)
        *ret = TAKE_PTR(d);
    return 0;
}

DEFINE_STORE_GET(store_desk_get, struct desk, store_desk_get_locked)

int
store_desk_list(struct store *s, const char *pool, struct desk ***ret, size_t *ret_n)
{
    return list_desks(s, ret, ret_n,
                      "SELECT " DESK_COLUMNS " FROM desktops "
                      "WHERE ?1 IS NULL OR pool = ?1 ORDER BY pool, seq",
                      "s", pool);
}

/* -ESTALE when NAME exists (so a conditional update missed because of its
 * state), -ENOENT when it does not. */
int
store_desk_missed_locked(struct store *s, const char *name)
{
    int64_t found;
    int r;

    r = store_query_int(s, &found, "SELECT 1 FROM desktops WHERE name = ?", "s", name);
    if (r < 0)
        return r;
    return r > 0 ? -ESTALE : -ENOENT;
}

int
store_desk_set_state(struct store *s, const char *name, enum desk_state from,
                     enum desk_state to)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    const char *sql;
    int r;

    if (!name || !desk_state_can_transition(from, to))
        return -EINVAL;
    if (to == DESK_STATE_READY)
        sql = "UPDATE desktops SET state = ?, state_since = ?, boot_failures = 0, "
              "last_error = NULL, host_failure = 0 WHERE name = ? AND state = ?";
    else
        sql = "UPDATE desktops SET state = ?, state_since = ? WHERE name = ? AND state = ?";

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, sql, "slss", desk_state_to_string(to), store_now_sec(), name,
                  desk_state_to_string(from));
    if (r < 0)
        return r;
    if (r == 0)
        return store_desk_missed_locked(locked, name);
    return store_tx_commit(&tx);
}

int
store_desk_set_volume(struct store *s, const char *name, const char *volume)
{
    if (!name)
        return -EINVAL;
    return store_update_one(s, "UPDATE desktops SET volume = ? WHERE name = ?", "ss", volume,
                            name);
}

int
store_desk_record_failure(struct store *s, const char *name, const char *error, bool host)
{
    if (!name)
        return -EINVAL;
    return store_update_one(s,
                            "UPDATE desktops SET boot_failures = boot_failures + 1, "
                            "last_error = ?, host_failure = ? WHERE name = ?",
                            "sbs", error, host, name);
}

int
store_desk_retry(struct store *s, const char *name)
{
    if (!name)
        return -EINVAL;
    /* failed -> provisioning is in desk-state.c's table */
    return store_update_one(s,
                            "UPDATE desktops SET state = 'provisioning', state_since = ?, "
                            "boot_failures = 0 WHERE name = ? AND state = 'failed' "
                            "AND host_failure = 1",
                            "ls", store_now_sec(), name);
}

int
store_desk_remove(struct store *s, const char *name)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, "DELETE FROM desktops WHERE name = ? AND state = ?", "ss", name,
                  desk_state_to_string(DESK_STATE_DELETING));
    if (r < 0)
        return r;
    if (r == 0) {
        r = store_desk_missed_locked(locked, name);
        return r == -ESTALE ? -EINVAL : r;
    }
    return store_tx_commit(&tx);
}

int
store_desk_set_data_volume(struct store *s, const char *name, const char *volume)
{
    if (!name)
        return -EINVAL;
    return store_update_one(s, "UPDATE desktops SET data_volume = ? WHERE name = ?", "ss",
                            volume, name);
}

int
store_desk_set_image_version(struct store *s, const char *name, unsigned version)
{
    if (!name)
        return -EINVAL;
    return store_update_one(s, "UPDATE desktops SET image_version = ? WHERE name = ?", "us",
                            version, name);
}

int
store_desk_mark_deleting(struct store *s, const char *name, enum desk_state from,
                         enum session_end reason)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name || from < 0 || from >= _DESK_STATE_MAX)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE desktops SET state = 'deleting', state_since = ? "
                  "WHERE name = ? AND state = ?",
                  "lss", store_now_sec(), name, desk_state_to_string(from));
    if (r < 0)
        return r;
    if (r == 0)
        return store_desk_missed_locked(locked, name);
    /* nobody keeps a session on a desktop that is going away */
    r = store_session_end_on_desk_locked(locked, name, reason, "reconciler");
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}
