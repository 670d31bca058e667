/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-host.c - hosts in the store: added, changed, drained, removed
 *
 * Part of the store (see store.c for the DESIGN: one connection, one
 * mutex, one transaction per public call, conditional UPDATEs). Nothing
 * here logs above debug.
 *
 * The rules live here as conditions of one transaction each: a host is
 * removed only while no desktop is on it, and no new desktop is put on a
 * host that is draining (store_desk_create_on()). The local host (the
 * daemon's own `uri`) is made by migration 6 and can be drained but not
 * removed.
 */
#include "config.h"

#include <stdint.h>

#include "array.h"
#include "host.h"
#include "log.h"
#include "store-priv.h"
#include "strv.h"
#include "util.h"

static int
host_from_row(sqlite3_stmt *st, struct host **ret)
{
    _cleanup_(host_freep) struct host *h = xmalloc0(sizeof(*h));

    h->name = store_column_strdup(st, 0);
    h->uri = store_column_strdup(st, 1);
    h->admin = host_admin_from_string((const char *) sqlite3_column_text(st, 2));
    if (h->admin < 0) {
        log_debug("Host '%s' has an unknown admin state in the store.", strempty(h->name));
        return -EBADMSG;
    }
    h->max_desktops = store_column_unsigned(st, 3);
    h->reserve_memory = (uint64_t) sqlite3_column_int64(st, 4);
    h->labels = strv_split((const char *) sqlite3_column_text(st, 5), ',');
    h->storage_dir = store_column_strdup(st, 6);
    h->drain_warn = store_column_unsigned(st, 7);
    h->drain_since = sqlite3_column_int64(st, 8);
    h->created_at = sqlite3_column_int64(st, 9);
    h->console_address = store_column_strdup(st, 10);
    *ret = TAKE_PTR(h);
    return 0;
}

DEFINE_STORE_COLLECT(collect_hosts, struct host, host_from_row, host_list_free)

DEFINE_STORE_FETCH(fetch_host, struct host, host_from_row)

DEFINE_STORE_LIST(list_hosts, struct host, collect_hosts)

static int
store_host_get_locked(struct store *s, const char *name, struct host **ret)
{
    return fetch_host(s, ret, "SELECT " HOST_COLUMNS " FROM hosts WHERE name = ?", "s", name);
}

DEFINE_STORE_GET(store_host_get, struct host, store_host_get_locked)

int
store_host_list(struct store *s, struct host ***ret, size_t *ret_n)
{
    return list_hosts(s, ret, ret_n, "SELECT " HOST_COLUMNS " FROM hosts ORDER BY name", "");
}

int
store_host_add(struct store *s, const struct host *h)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_free_ char *labels = NULL;
    int64_t found;
    int r;

    if (!h || !name_is_valid(h->name) || !h->uri || !*h->uri)
        return -EINVAL;
    labels = host_labels_format(h->labels);
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_query_int(locked, &found, "SELECT 1 FROM hosts WHERE name = ?1 OR uri = ?2",
                        "ss", h->name, h->uri);
    if (r < 0)
        return r;
    if (r > 0)
        return -EEXIST;
    r = store_run(locked,
                  "INSERT INTO hosts (name, uri, admin, max_desktops, reserve_memory, labels, "
                  "storage_dir, created_at, console_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  "sssuUssls", h->name, h->uri, host_admin_to_string(HOST_ADMIN_ACTIVE),
                  h->max_desktops, h->reserve_memory, labels, h->storage_dir,
                  h->created_at > 0 ? h->created_at : store_now_sec(), h->console_address);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_host_update(struct store *s, const struct host *h)
{
    _cleanup_free_ char *labels = NULL;

    if (!h || !h->name)
        return -EINVAL;
    labels = host_labels_format(h->labels);
    return store_update_one(s,
                            "UPDATE hosts SET max_desktops = ?, reserve_memory = ?, labels = ? "
                            "WHERE name = ?",
                            "uUss", h->max_desktops, h->reserve_memory, labels, h->name);
}

int
store_host_set_admin(struct store *s, const char *name, enum host_admin admin, unsigned warn)
{
    if (!name || !host_admin_to_string(admin))
        return -EINVAL;
    /* a second drain keeps the first one's start: its warning runs on */
    return store_update_one(s,
                            "UPDATE hosts SET admin = ?1, drain_warn = ?2, "
                            "drain_since = CASE WHEN ?1 = 'active' THEN 0 "
                            "WHEN drain_since > 0 THEN drain_since ELSE ?3 END "
                            "WHERE name = ?4",
                            "suls", host_admin_to_string(admin), warn, store_now_sec(), name);
}

int
store_host_remove(struct store *s, const char *name)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int64_t n = 0;
    int r;

    if (!name)
        return -EINVAL;
    if (streq(name, HOST_LOCAL))
        return -EPERM;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_query_int(locked, &n, "SELECT COUNT(*) FROM desktops WHERE host = ?", "s", name);
    if (r < 0)
        return r;
    if (n > 0)
        return -EBUSY;
    r = store_run(locked, "DELETE FROM hosts WHERE name = ?", "s", name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    r = store_run(locked, "DELETE FROM host_images WHERE host = ?", "s", name);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_host_count_desks(struct store *s, const char *name, unsigned *ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    int64_t n = 0;
    int r;

    r = store_query_int(locked, &n, "SELECT COUNT(*) FROM desktops WHERE host = ?", "s", name);
    if (r < 0)
        return r;
    *ret = (unsigned) n;
    return 0;
}

/* --- fences: desktops given up with their host --- */

int
store_desk_forget(struct store *s, const char *name, enum desk_state from)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;
    int64_t now = store_now_sec();
    int r;

    if (!name || from < 0 || from >= _DESK_STATE_MAX)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_desk_get_locked(locked, name, &d);
    if (r < 0)
        return r;
    if (d->state != from)
        return -ESTALE;
    r = store_session_end_on_desk_locked(locked, name, SESSION_END_HOST_LOST, "reconciler");
    if (r < 0)
        return r;
    /* both incarnations (an instant clone's wipe may have been cut off) */
    for (int i = 0; i < 2; i++) {
        const char *dom = i == 0 ? d->domain : d->old_domain;

        if (!dom)
            continue;
        r = store_run(locked,
                      "INSERT INTO fences (host, desktop, domain, volume, created_at) "
                      "VALUES (?, ?, ?, ?, ?)",
                      "ssssl", d->host, d->name, dom, i == 0 ? d->volume : NULL, now);
        if (r < 0)
            return r;
    }
    r = store_run(locked, "DELETE FROM desktops WHERE name = ?", "s", name);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

static int
fence_from_row(sqlite3_stmt *st, struct fence **ret)
{
    struct fence *f = xmalloc0(sizeof(*f));

    f->id = sqlite3_column_int64(st, 0);
    f->host = store_column_strdup(st, 1);
    f->desktop = store_column_strdup(st, 2);
    f->domain = store_column_strdup(st, 3);
    f->volume = store_column_strdup(st, 4);
    f->created_at = sqlite3_column_int64(st, 5);
    *ret = f;
    return 0;
}

void
fence_list_free(struct fence **f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        free(f[i]->host);
        free(f[i]->desktop);
        free(f[i]->domain);
        free(f[i]->volume);
        free(f[i]);
    }
    free(f);
}

DEFINE_STORE_COLLECT(collect_fences, struct fence, fence_from_row, fence_list_free)

DEFINE_STORE_LIST(list_fences, struct fence, collect_fences)

int
store_fence_list(struct store *s, const char *host, struct fence ***ret, size_t *ret_n)
{
    return list_fences(s, ret, ret_n,
                       "SELECT id, host, desktop, domain, volume, created_at FROM fences "
                       "WHERE ?1 IS NULL OR host = ?1 ORDER BY id",
                       "s", host);
}

int
store_fence_done(struct store *s, int64_t id)
{
    return store_update_one(s, "DELETE FROM fences WHERE id = ?", "l", id);
}

/* --- image versions on hosts --- */

int
store_host_image_get(struct store *s, const char *host, const char *image, unsigned version,
                     char **ret_path)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    return store_query_str(locked, ret_path,
                           "SELECT path FROM host_images WHERE host = ? AND image = ? "
                           "AND version = ?",
                           "ssu", host, image, version);
}

int
store_host_image_add(struct store *s, const char *host, const char *image, unsigned version,
                     const char *path, bool copied, uint64_t bytes, uint64_t ms)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    int r;

    r = store_run(locked,
                  "INSERT OR REPLACE INTO host_images (host, image, version, path, copied, "
                  "bytes, ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  "ssusbUUl", host, image, version, path, copied, bytes, ms,
                  store_now_sec());
    return r < 0 ? r : 0;
}
