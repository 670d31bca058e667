/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-pool.c - pools in the store: specs, sizes, deletion
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
#include "strv.h"
#include "util.h"

static int
pool_from_row(sqlite3_stmt *st, struct pool **ret)
{
    _cleanup_(pool_freep) struct pool *p = xmalloc0(sizeof(*p));

    p->name = store_column_strdup(st, 0);
    p->image = store_column_strdup(st, 1);
    p->image_version = store_column_unsigned(st, 2);
    p->template = store_column_strdup(st, 3);
    p->mode = pool_mode_from_string((const char *) sqlite3_column_text(st, 4));
    if (p->mode < 0) {
        log_debug("Pool '%s' has an unknown mode in the store.", strempty(p->name));
        return -EBADMSG;
    }
    p->min = store_column_unsigned(st, 5);
    p->spare = store_column_unsigned(st, 6);
    p->max = store_column_unsigned(st, 7);
    p->deleting = sqlite3_column_int(st, 8) != 0;
    p->force_delete = sqlite3_column_int(st, 9) != 0;
    p->next_seq = store_column_unsigned(st, 10);
    p->created_at = sqlite3_column_int64(st, 11);
    p->groups = pool_groups_split((const char *) sqlite3_column_text(st, 12));
    p->idle_timeout = store_column_unsigned(st, 13);
    p->max_session = store_column_unsigned(st, 14);
    p->allow_redirection = sqlite3_column_int(st, 15) != 0;
    p->current_version = store_column_unsigned(st, 16);
    p->clone = pool_clone_from_string((const char *) sqlite3_column_text(st, 17));
    if (p->clone < 0) {
        log_debug("Pool '%s' has an unknown clone method in the store.", strempty(p->name));
        return -EBADMSG;
    }
    p->clone_fallback = store_column_strdup(st, 18);
    p->placement = placement_policy_from_string((const char *) sqlite3_column_text(st, 19));
    if (p->placement < 0) {
        log_debug("Pool '%s' has an unknown placement in the store.", strempty(p->name));
        return -EBADMSG;
    }
    p->host_labels = strv_split((const char *) sqlite3_column_text(st, 20), ',');
    *ret = TAKE_PTR(p);
    return 0;
}

DEFINE_STORE_COLLECT(collect_pools, struct pool, pool_from_row, pool_list_free)

DEFINE_STORE_FETCH(fetch_pool, struct pool, pool_from_row)

DEFINE_STORE_LIST(list_pools, struct pool, collect_pools)

int
store_pool_get_locked(struct store *s, const char *name, struct pool **ret)
{
    return fetch_pool(s, ret, "SELECT " POOL_COLUMNS " FROM pools WHERE name = ?", "s", name);
}

int
store_pool_get_live_locked(struct store *s, const char *name, struct pool **ret)
{
    _cleanup_(pool_freep) struct pool *p = NULL;
    int r;

    r = store_pool_get_locked(s, name, &p);
    if (r < 0)
        return r;
    if (p->deleting)
        return -ESHUTDOWN;
    *ret = TAKE_PTR(p);
    return 0;
}

static int
sizes_check(unsigned min, unsigned spare, unsigned max)
{
    _cleanup_free_ char *msg = NULL;
    int r;

    r = pool_validate_sizes(min, spare, max, &msg);
    if (r < 0)
        log_debug("Refusing pool sizes: %s", strempty(msg));
    return r;
}

int
store_pool_add(struct store *s, const struct pool *p)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_free_ char *groups = NULL;
    _cleanup_free_ char *labels = NULL;
    const char *mode, *clone, *placement;
    int64_t found;
    int r;

    if (!p || !name_is_valid(p->name) || !p->image || !p->template)
        return -EINVAL;
    mode = pool_mode_to_string(p->mode);
    clone = pool_clone_to_string(p->clone);
    placement = placement_policy_to_string(p->placement);
    if (!mode || !clone || !placement)
        return -EINVAL;
    r = sizes_check(p->min, p->spare, p->max);
    if (r < 0)
        return r;

    labels = host_labels_format(p->host_labels);
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_query_int(locked, &found, "SELECT 1 FROM pools WHERE name = ?", "s", p->name);
    if (r < 0)
        return r;
    if (r > 0)
        return -EEXIST;
    r = store_query_int(locked, &found,
                        "SELECT MAX(version) FROM images WHERE name = ?1 AND retired = 0 "
                        "AND (?2 = 0 OR version = ?2)",
                        "su", p->image, p->image_version);
    if (r < 0)
        return r;
    if (r == 0 || found <= 0)
        return -ENOENT;
    groups = pool_groups_join(p->groups);
    r = store_run(locked,
                  "INSERT INTO pools (" POOL_COLUMNS ") "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  "ssussuuubbulsuubussss", p->name, p->image, p->image_version, p->template, mode,
                  p->min, p->spare, p->max, p->deleting, p->force_delete,
                  p->next_seq > 0 ? p->next_seq : 1u,
                  p->created_at > 0 ? p->created_at : store_now_sec(), groups,
                  p->idle_timeout > 0 ? p->idle_timeout : POOL_DEFAULT_IDLE_TIMEOUT,
                  p->max_session > 0 ? p->max_session : POOL_DEFAULT_MAX_SESSION,
                  p->allow_redirection, (unsigned) found, clone, p->clone_fallback,
                  placement, labels);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

DEFINE_STORE_GET(store_pool_get, struct pool, store_pool_get_locked)

int
store_pool_list(struct store *s, struct pool ***ret, size_t *ret_n)
{
    return list_pools(s, ret, ret_n, "SELECT " POOL_COLUMNS " FROM pools ORDER BY name", "");
}

int
store_pool_set_sizes(struct store *s, const char *name, unsigned min, unsigned spare,
                     unsigned max)
{
    int r;

    if (!name)
        return -EINVAL;
    r = sizes_check(min, spare, max);
    if (r < 0)
        return r;
    return store_update_one(s, "UPDATE pools SET min = ?, spare = ?, max = ? WHERE name = ?",
                            "uuus", min, spare, max, name);
}

int
store_pool_update(struct store *s, const struct pool *p)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_free_ char *groups = NULL, *labels = NULL;
    const char *placement = placement_policy_to_string(p ? p->placement : -1);
    int r;

    if (!p || !p->name || p->idle_timeout == 0 || p->max_session == 0 || !placement)
        return -EINVAL;
    r = sizes_check(p->min, p->spare, p->max);
    if (r < 0)
        return r;
    groups = pool_groups_join(p->groups);
    labels = host_labels_format(p->host_labels);
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE pools SET min = ?, spare = ?, max = ?, groups = ?, idle_timeout = ?, "
                  "max_session = ?, allow_redirection = ?, placement = ?, host_labels = ? "
                  "WHERE name = ? AND deleting = 0",
                  "uuusuubsss", p->min, p->spare, p->max, groups, p->idle_timeout,
                  p->max_session, p->allow_redirection, placement, labels, p->name);
    if (r < 0)
        return r;
    if (r == 0) {
        int64_t found;

        r = store_query_int(locked, &found, "SELECT 1 FROM pools WHERE name = ?", "s",
                            p->name);
        if (r < 0)
            return r;
        return r > 0 ? -ESHUTDOWN : -ENOENT;
    }
    return store_tx_commit(&tx);
}

/* Counts POOL's desktops by state into COUNTS (_DESK_STATE_MAX of them;
 * the index on (pool, state) answers without reading the rows). */
static int
pool_count_states_locked(struct store *s, const char *pool, unsigned *counts)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    for (int i = 0; i < _DESK_STATE_MAX; i++)
        counts[i] = 0;
    r = store_prepare(s, &st,
                      "SELECT state, COUNT(*) FROM desktops WHERE pool = ? GROUP BY state",
                      "s", pool);
    if (r < 0)
        return r;
    for (;;) {
        enum desk_state state;

        r = store_step(s, st);
        if (r < 0)
            return r;
        if (r == 0)
            return 0;
        state = desk_state_from_string((const char *) sqlite3_column_text(st, 0));
        if (state < 0)
            return -EBADMSG;
        counts[state] = store_column_unsigned(st, 1);
    }
}

int
store_pool_count_states(struct store *s, const char *pool, unsigned *counts)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!pool)
        return -EINVAL;
    return pool_count_states_locked(locked, pool, counts);
}

/* Counts POOL's desktops that a user holds (desk_state_is_in_use()). */
static int
pool_count_in_use_locked(struct store *s, const char *pool, unsigned *ret)
{
    unsigned counts[_DESK_STATE_MAX];
    unsigned n = 0;
    int r;

    r = pool_count_states_locked(s, pool, counts);
    if (r < 0)
        return r;
    for (int i = 0; i < _DESK_STATE_MAX; i++)
        if (desk_state_is_in_use((enum desk_state) i))
            n += counts[i];
    *ret = n;
    return 0;
}

int
store_pool_mark_deleting(struct store *s, const char *name, bool force)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    unsigned in_use = 0;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    if (!force) {
        r = pool_count_in_use_locked(locked, name, &in_use);
        if (r < 0)
            return r;
        if (in_use > 0) {
            log_debug("Pool '%s' has %u desktops in use; not deleting it.", name, in_use);
            return -EBUSY;
        }
    }
    /* A forced request stays forced if repeated without force. */
    r = store_run(locked,
                  "UPDATE pools SET deleting = 1, force_delete = (force_delete OR ?) "
                  "WHERE name = ?",
                  "bs", force, name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return store_tx_commit(&tx);
}

int
store_pool_remove(struct store *s, const char *name)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int64_t n = 0;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_query_int(locked, &n, "SELECT COUNT(*) FROM desktops WHERE pool = ?", "s", name);
    if (r < 0)
        return r;
    if (n > 0)
        return -EBUSY;
    r = store_run(locked, "DELETE FROM pools WHERE name = ?", "s", name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return store_tx_commit(&tx);
}

int
store_pool_set_image_version(struct store *s, const char *name, unsigned version)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    int64_t found = 0;
    int r;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_pool_get_locked(locked, name, &p);
    if (r < 0)
        return r;
    if (version > 0) {
        r = store_query_int(locked, &found,
                            "SELECT 1 FROM images WHERE name = ? AND version = ? AND retired = 0",
                            "su", p->image, version);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
    }
    r = store_run(locked, "UPDATE pools SET image_version = ? WHERE name = ?", "us", version,
                  name);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_pool_set_clone(struct store *s, const char *name, enum pool_clone clone)
{
    const char *c = pool_clone_to_string(clone);

    if (!name || !c)
        return -EINVAL;
    /* setting it again is how an operator re-arms instant clones after a
     * fallback: the reason goes with it */
    return store_update_one(s,
                            "UPDATE pools SET clone = ?, clone_fallback = NULL "
                            "WHERE name = ? AND deleting = 0",
                            "ss", c, name);
}
