/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-ticket.c - console tickets: the browser's way to a session's console
 *
 * DESIGN
 *   A ticket (docs/internals/console.md) lets one browser open one
 *   session's console through the gateway, once, within
 *   console_ticket_ttl. Only its SHA-256 is stored: a copy of the
 *   database (a backup, a support bundle) opens no console. The ticket is
 *   written in the acquire's own transaction (store-session.c), so a
 *   session and the ticket that opens it exist together or not at all.
 *   Redeeming is one conditional UPDATE: the ticket is unused, not
 *   expired, and its session is active. Of two gateways racing with the
 *   same ticket exactly one gets the row. The refusal's reason is read
 *   afterwards for the log only: the gateway is told "refused", whatever
 *   the reason, so a guesser learns nothing. A session that ends needs no
 *   write here: its tickets are dead by the redeem's condition. Tickets
 *   past their expiry are kept TICKET_KEEP_SEC for the record and then
 *   pruned with the sessions.
 */
#include "config.h"

#include "array.h"
#include "store-priv.h"
#include "strv.h"
#include "util.h"

int
store_ticket_add_locked(struct store *s, const char *hash, const char *session,
                        int64_t expires)
{
    int r;

    if (!hash || strlen(hash) != 64 || !session)
        return -EINVAL;
    r = store_run(s,
                  "INSERT INTO console_tickets (hash, session, created_at, expires_at) "
                  "VALUES (?, ?, ?, ?)",
                  "ssll", hash, session, store_now_sec(), expires);
    return r < 0 ? r : 0;
}

/* Why HASH was refused (for the log): its row, if any, says. */
static const char *
ticket_refusal_locked(struct store *s, const char *hash, int64_t now, char **ret_session)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(s, &st,
                      "SELECT t.session, t.used_at, t.expires_at, "
                      "       COALESCE(x.state = 'active', 0) "
                      "FROM console_tickets t LEFT JOIN sessions x ON x.id = t.session "
                      "WHERE t.hash = ?", "s", hash);
    if (r < 0 || store_step(s, st) <= 0)
        return "unknown";
    *ret_session = store_column_strdup(st, 0);
    if (sqlite3_column_int64(st, 1) != 0)
        return "already used";
    if (sqlite3_column_int64(st, 2) <= now)
        return "expired";
    if (sqlite3_column_int(st, 3) == 0)
        return "session ended";
    return "unknown";
}

int
store_ticket_redeem(struct store *s, const char *hash, const char *actor,
                    struct store_acquired *ret, const char **ret_refusal,
                    char **ret_refused_session)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    _cleanup_free_ char *id = NULL;
    int64_t now = store_now_sec();
    int r;

    *ret = (struct store_acquired) { 0 };
    *ret_refusal = NULL;
    *ret_refused_session = NULL;
    if (!hash || strlen(hash) != 64)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_prepare(locked, &st,
                      "UPDATE console_tickets SET used_at = ? "
                      "WHERE hash = ? AND used_at = 0 AND expires_at > ? AND session IN "
                      "  (SELECT id FROM sessions WHERE state = 'active') "
                      "RETURNING session", "lsl", now, hash, now);
    if (r < 0)
        return r;
    r = store_step(locked, st);
    if (r < 0)
        return r;
    if (r == 0) {
        *ret_refusal = ticket_refusal_locked(locked, hash, now, ret_refused_session);
        return -EACCES;
    }
    id = store_column_strdup(st, 0);
    store_stmt_release(TAKE_PTR(st)); /* back to the statement cache */
    r = store_session_get_locked(locked, id, &x);
    if (r >= 0)
        r = store_acquired_desk_locked(locked, x->desktop, ret);
    if (r >= 0)
        r = store_audit_locked(locked, actor, "console.open", x->pool, x->desktop, x->user,
                               x->id);
    if (r >= 0)
        r = store_tx_commit(&tx);
    if (r < 0) {
        store_acquired_done(ret);
        return r;
    }
    ret->session = TAKE_PTR(x);
    return 0;
}

int
store_sessions_inactive(struct store *s, const char *ids_json, char ***ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    char **list = NULL;
    size_t n = 0, cap = 0;
    int r;

    /* ids the caller checked; json_each() keeps it one statement, one bind */
    r = store_prepare(locked, &st,
                      "SELECT DISTINCT j.value FROM json_each(?) j WHERE j.value NOT IN "
                      "  (SELECT id FROM sessions WHERE state = 'active')", "s", ids_json);
    if (r < 0)
        return r;
    while ((r = store_step(locked, st)) > 0) {
        ARRAY_GROW(list, cap, n + 1);
        list[n++] = store_column_strdup(st, 0);
    }
    if (r < 0) {
        strv_free_n(list, n);
        return r;
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

int
store_ticket_prune(struct store *s, int64_t before)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    return store_run(locked, "DELETE FROM console_tickets WHERE expires_at < ?", "l", before);
}
