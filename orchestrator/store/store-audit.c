/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-audit.c - the audit log: append, list by page, prune
 *
 * Part of the store (see store.c for the DESIGN: one connection, one
 * mutex, one transaction per public call, conditional UPDATEs). Nothing
 * here logs above debug. Lists page by id (newest first); entries older
 * than the retention are pruned in batches (store_audit_prune()).
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "array.h"
#include "log.h"
#include "name.h"
#include "store-priv.h"
#include "util.h"

int
store_audit_locked(struct store *s, const char *actor, const char *action, const char *pool,
                   const char *desktop, const char *user, const char *detail)
{
    return store_run(s,
                     "INSERT INTO audit (at, actor, action, pool, desktop, user, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     "lssssss", store_now_sec(), actor, action, pool, desktop, user, detail);
}

int
store_audit(struct store *s, const char *actor, const char *action, const char *pool,
            const char *desktop, const char *user, const char *detail)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!action)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_audit_locked(locked, actor, action, pool, desktop, user, detail);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

void
audit_list_free(struct audit_entry *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++) {
        free(a[i].actor);
        free(a[i].action);
        free(a[i].pool);
        free(a[i].desktop);
        free(a[i].user);
        free(a[i].detail);
    }
    free(a);
}

int
store_audit_list_page(struct store *s, int64_t before_id, int64_t since, unsigned limit,
                      struct audit_entry **ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    struct audit_entry *list = NULL;
    size_t n = 0, alloc = 0;
    int r;

    r = store_prepare(locked, &st,
                      "SELECT " AUDIT_COLUMNS " FROM audit "
                      "WHERE (?1 <= 0 OR id < ?1) AND at >= ?2 ORDER BY id DESC LIMIT ?3",
                      "lll", before_id, since, (int64_t) limit);
    if (r < 0)
        return r;
    for (;;) {
        struct audit_entry *e;

        r = store_step(locked, st);
        if (r < 0) {
            audit_list_free(list, n);
            return r;
        }
        if (r == 0)
            break;
        ARRAY_GROW(list, alloc, n + 1);
        e = &list[n++];
        e->id = sqlite3_column_int64(st, 0);
        e->at = sqlite3_column_int64(st, 1);
        e->actor = store_column_strdup(st, 2);
        e->action = store_column_strdup(st, 3);
        e->pool = store_column_strdup(st, 4);
        e->desktop = store_column_strdup(st, 5);
        e->user = store_column_strdup(st, 6);
        e->detail = store_column_strdup(st, 7);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

int
store_audit_list(struct store *s, unsigned limit, struct audit_entry **ret, size_t *ret_n)
{
    return store_audit_list_page(s, 0, 0, limit, ret, ret_n);
}

int
store_audit_prune(struct store *s, int64_t before, unsigned limit)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r, n;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    /* Rows are appended in time order: delete, oldest first, those before
     * the first row young enough to keep. Both walks go along the primary
     * key from its start and stop early, so a pass costs what it removes,
     * not the size of the log (there is no index on 'at'). A row written
     * while the clock was set back waits for the rows before it. */
    n = store_run(locked,
                  "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE id < "
                  "IFNULL((SELECT id FROM audit WHERE at >= ?1 ORDER BY id LIMIT 1), "
                  "9223372036854775807) ORDER BY id LIMIT ?2)",
                  "ll", before, (int64_t) limit);
    if (n < 0)
        return n;
    r = store_tx_commit(&tx);
    if (r < 0)
        return r;
    return n;
}
