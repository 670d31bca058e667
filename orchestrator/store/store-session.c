/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-session.c - broker sessions: acquire, heartbeat, end
 *
 * Part of the store (see store.c for the DESIGN: one connection, one
 * mutex, one transaction per public call, conditional UPDATEs). Nothing
 * here logs above debug. Lists page by keyset (created_at, id), never by
 * offset; ended sessions older than the retention are pruned in batches
 * (store_session_prune()) so that the table stops growing.
 */
#include "config.h"

#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "array.h"
#include "log.h"
#include "name.h"
#include "store-priv.h"
#include "util.h"

static int
session_from_row(sqlite3_stmt *st, struct session **ret)
{
    _cleanup_(session_freep) struct session *x = xmalloc0(sizeof(*x));
    const char *reason;

    x->id = store_column_strdup(st, 0);
    x->pool = store_column_strdup(st, 1);
    x->desktop = store_column_strdup(st, 2);
    x->user = store_column_strdup(st, 3);
    x->client = store_column_strdup(st, 4);
    x->state = session_state_from_string((const char *) sqlite3_column_text(st, 5));
    if (x->state < 0)
        return -EBADMSG;
    x->created_at = sqlite3_column_int64(st, 6);
    x->last_heartbeat = sqlite3_column_int64(st, 7);
    x->ended_at = sqlite3_column_int64(st, 8);
    reason = (const char *) sqlite3_column_text(st, 9);
    x->end_reason = reason ? session_end_from_string(reason) : _SESSION_END_INVALID;
    x->password_expires = sqlite3_column_int64(st, 10);
    *ret = TAKE_PTR(x);
    return 0;
}

DEFINE_STORE_COLLECT(collect_sessions, struct session, session_from_row, session_list_free)

DEFINE_STORE_FETCH(fetch_session, struct session, session_from_row)

int
store_session_get_locked(struct store *s, const char *id, struct session **ret)
{
    return fetch_session(s, ret, "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?", "s",
                         id);
}

/* The active session of USER in POOL: 1 and *ret, 0 when there is none. */
static int
session_find_active_locked(struct store *s, const char *pool, const char *user,
                           struct session **ret)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(s, &st,
                      "SELECT " SESSION_COLUMNS " FROM sessions "
                      "WHERE pool = ? AND user = ? AND state = 'active'",
                      "ss", pool, user);
    if (r < 0)
        return r;
    r = store_step(s, st);
    if (r <= 0)
        return r;
    r = session_from_row(st, ret);
    return r < 0 ? r : 1;
}

/* The desktop a new session of USER in pool P gets; its name in *ret_desk.
 * Floating: the ready desktop with the lowest sequence number. Dedicated:
 * the user's own desktop when it is ready, else (when the user owns none)
 * an unowned ready one, which becomes theirs. -EAGAIN when nothing can be
 * handed out now; -EIO when the user's own desktop is quarantined. */
static int
session_pick_desk_locked(struct store *s, const struct pool *p, const char *user,
                         const char *down, const char *draining, char **ret_desk)
{
    _cleanup_free_ char *avoid_all = xasprintf(",%s,%s,", strempty(down), strempty(draining));
    _cleanup_free_ char *avoid_down = xasprintf(",%s,", strempty(down));
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    _cleanup_free_ char *name = NULL;
    enum desk_state state;
    int r;

    if (p->mode == POOL_MODE_DEDICATED) {
        r = store_prepare(s, &st,
                          "SELECT name, state, instr(?3, ',' || host || ',') > 0 "
                          "FROM desktops WHERE pool = ?1 AND owner = ?2 ORDER BY seq LIMIT 1",
                          "sss", p->name, user, avoid_down);
        if (r < 0)
            return r;
        r = store_step(s, st);
        if (r < 0)
            return r;
        if (r > 0) {
            name = store_column_strdup(st, 0);
            state = desk_state_from_string((const char *) sqlite3_column_text(st, 1));
            if (state == DESK_STATE_FAILED)
                return -EIO;
            if (state != DESK_STATE_READY || sqlite3_column_int(st, 2))
                return -EAGAIN; /* not ready, or its host does not answer */
            *ret_desk = TAKE_PTR(name);
            return 0;
        }
        store_stmt_release(TAKE_PTR(st));
    }
    /* a drained host's desktop only when no other host has one; one on a
     * host that does not answer never (its console cannot be opened) */
    for (int pass = 0; pass < 2; pass++) {
        r = store_prepare(s, &st,
                          "SELECT name FROM desktops WHERE pool = ?1 AND state = 'ready' "
                          "AND owner IS NULL AND instr(?2, ',' || host || ',') = 0 "
                          "ORDER BY seq LIMIT 1",
                          "ss", p->name, pass == 0 ? avoid_all : avoid_down);
        if (r < 0)
            return r;
        r = store_step(s, st);
        if (r < 0)
            return r;
        if (r > 0) {
            *ret_desk = store_column_strdup(st, 0);
            return 0;
        }
        store_stmt_release(TAKE_PTR(st));
        if (!draining || !*draining)
            break;
    }
    return -EAGAIN;
}

int
store_session_acquire(struct store *s, const char *pool, const char *user, const char *client,
                      const char *actor, struct session **ret, bool *ret_existing)
{
    struct store_acquire q = { .pool = pool, .user = user, .client = client, .actor = actor };
    struct store_acquired a = { 0 };
    int r;

    r = store_session_acquire_on(s, &q, &a);
    if (r >= 0) {
        *ret = TAKE_PTR(a.session);
        *ret_existing = a.existing;
    }
    store_acquired_done(&a);
    return r;
}

void
store_acquired_done(struct store_acquired *a)
{
    session_free(a->session);
    pool_free(a->pool);
    free(a->domain);
    free(a->host);
    *a = (struct store_acquired) { 0 };
}

int
store_acquired_desk_locked(struct store *s, const char *desk, struct store_acquired *ret)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(s, &st, "SELECT domain, host FROM desktops WHERE name = ?", "s", desk);
    if (r < 0)
        return r;
    r = store_step(s, st);
    if (r <= 0)
        return r < 0 ? r : -ENOENT;
    ret->domain = store_column_strdup(st, 0);
    ret->host = store_column_strdup(st, 1);
    return 0;
}

/* One acquire inside the batch's transaction (see store_session_acquire_on()).
 * *WROTE is set once it changed a row: a failure after that is the
 * whole batch's. */
static int
acquire_one_locked(struct store *s, const struct store_acquire *q, struct store_acquired *ret,
                   bool *wrote)
{
    _cleanup_(session_freep) struct session *x = NULL;
    _cleanup_free_ char *desk = NULL;
    char id[UUID_STR_LEN];
    uuid_t uuid;
    int64_t now = store_now_sec();
    int r;

    *wrote = false;
    if (!q->pool || !q->user)
        return -EINVAL;
    r = store_pool_get_live_locked(s, q->pool, &ret->pool);
    if (r < 0)
        return r;
    if (q->check_groups && !pool_entitled(ret->pool, q->groups, q->n_groups))
        return -EPERM;
    r = session_find_active_locked(s, q->pool, q->user, &x);
    if (r < 0)
        return r;
    if (r > 0) {
        r = store_acquired_desk_locked(s, x->desktop, ret);
        if (r < 0)
            return r;
        if (q->ticket_hash) {
            *wrote = true;
            r = store_ticket_add_locked(s, q->ticket_hash, x->id, q->ticket_expires);
            if (r < 0)
                return r;
        }
        ret->session = TAKE_PTR(x);
        ret->existing = true;
        return 0;
    }

    r = session_pick_desk_locked(s, ret->pool, q->user, q->down, q->draining, &desk);
    if (r < 0)
        return r;
    /* the conditional UPDATE: only a ready desktop becomes assigned */
    r = store_run(s,
                  "UPDATE desktops SET state = 'assigned', state_since = ?, "
                  "owner = CASE WHEN ? THEN ? ELSE owner END "
                  "WHERE name = ? AND state = 'ready'",
                  "lbss", now, ret->pool->mode == POOL_MODE_DEDICATED, q->user, desk);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN;
    *wrote = true;
    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, id);
    r = store_run(s,
                  "INSERT INTO sessions (id, pool, desktop, user, client, state, created_at, "
                  "last_heartbeat) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
                  "sssssll", id, q->pool, desk, q->user, q->client, now, now);
    if (r < 0)
        return r;
    r = store_audit_locked(s, q->actor, "session.acquire", q->pool, desk, q->user, id);
    if (r < 0)
        return r;
    if (q->ticket_hash) {
        r = store_ticket_add_locked(s, q->ticket_hash, id, q->ticket_expires);
        if (r < 0)
            return r;
    }
    r = store_session_get_locked(s, id, &x);
    if (r < 0)
        return r;
    r = store_acquired_desk_locked(s, desk, ret);
    if (r < 0)
        return r;
    ret->session = TAKE_PTR(x);
    ret->existing = false;
    return 0;
}

/* Runs BATCH (linked through next) in one transaction. */
static void
acquire_batch(struct store *s, struct store_acquire_job *batch)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int fatal = 0, r;

    r = store_tx_begin(locked, &tx);
    for (struct store_acquire_job *j = batch; j; j = j->next) {
        bool wrote = false;

        if (r < 0 || fatal < 0) {
            j->result = fatal < 0 ? fatal : r;
            continue;
        }
        j->result = acquire_one_locked(locked, j->q, j->ret, &wrote);
        if (j->result < 0 && wrote)
            fatal = j->result; /* half an acquire: none of the batch may stay */
        else if (sqlite3_get_autocommit(locked->db))
            /* SQLite rolled the transaction back by itself (an I/O error,
             * a full disk): what follows must not run outside it */
            fatal = j->result < 0 ? j->result : -EIO;
    }
    if (r >= 0 && fatal == 0)
        fatal = store_tx_commit(&tx);
    if (fatal == 0)
        return;
    /* rolled back (at cleanup): no acquire of the batch happened */
    for (struct store_acquire_job *j = batch; j; j = j->next)
        if (j->result >= 0 || j->result == fatal) {
            store_acquired_done(j->ret);
            j->result = fatal;
        }
}

int
store_session_acquire_on(struct store *s, const struct store_acquire *q,
                         struct store_acquired *ret)
{
    struct store_acquire_job job = { .q = q, .ret = ret };
    struct store_acquire_job *batch;

    *ret = (struct store_acquired) { 0 };
    pthread_mutex_lock(&s->acq_lock);
    *s->acq_tail = &job;
    s->acq_tail = &job.next;
    while (!job.done && s->acq_leader)
        pthread_cond_wait(&s->acq_cond, &s->acq_lock);
    if (job.done) {
        pthread_mutex_unlock(&s->acq_lock);
        return job.result;
    }
    /* the leader: every acquire queued so far (this one too) in one
     * transaction, then the next waiter leads */
    s->acq_leader = true;
    batch = s->acq_head;
    s->acq_head = NULL;
    s->acq_tail = &s->acq_head;
    pthread_mutex_unlock(&s->acq_lock);

    acquire_batch(s, batch);

    pthread_mutex_lock(&s->acq_lock);
    for (struct store_acquire_job *j = batch, *next; j; j = next) {
        next = j->next; /* J lives on its waiter's stack: gone once done is seen */
        j->done = true;
    }
    s->acq_batches++;
    s->acq_leader = false;
    pthread_cond_broadcast(&s->acq_cond);
    pthread_mutex_unlock(&s->acq_lock);
    return job.result;
}

int
store_session_get(struct store *s, const char *id, struct session **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!id)
        return -EINVAL;
    return store_session_get_locked(locked, id, ret);
}

int
store_session_list_page(struct store *s, const char *pool, const char *user, int state,
                        int64_t after_created, const char *after_id, unsigned limit,
                        struct session ***ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    const char *state_s = state >= 0 ? session_state_to_string((enum session_state) state) : NULL;
    int r;

    /* keyset paging: the order is (created_at, id), a page starts after
     * the last row of the previous one, whatever was added or pruned since */
    r = store_prepare(locked, &st,
                      "SELECT " SESSION_COLUMNS " FROM sessions "
                      "WHERE (?1 IS NULL OR pool = ?1) AND (?2 IS NULL OR user = ?2) "
                      "AND (?3 IS NULL OR state = ?3) "
                      "AND (?4 IS NULL OR created_at > ?5 OR (created_at = ?5 AND id > ?4)) "
                      "ORDER BY created_at, id LIMIT ?6",
                      "ssssll", pool, user, state_s, after_id, after_created, (int64_t) limit);
    if (r < 0)
        return r;
    return collect_sessions(locked, st, ret, ret_n);
}

int
store_session_list(struct store *s, const char *pool, const char *user, int state,
                   struct session ***ret, size_t *ret_n)
{
    return store_session_list_page(s, pool, user, state, 0, NULL, UINT_MAX, ret, ret_n);
}

int
store_session_prune(struct store *s, int64_t before, unsigned limit)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r, n;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    /* only ended sessions: an active one is never older than its user */
    n = store_run(locked,
                  "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions "
                  "WHERE state = 'ended' AND ended_at < ? ORDER BY ended_at LIMIT ?)",
                  "ll", before, (int64_t) limit);
    if (n < 0)
        return n;
    r = store_tx_commit(&tx);
    if (r < 0)
        return r;
    return n;
}

int
store_session_heartbeat(struct store *s, const char *id, struct session **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    int64_t now = store_now_sec();
    int r;

    if (!id)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE sessions SET last_heartbeat = ? WHERE id = ? AND state = 'active'",
                  "ls", now, id);
    if (r < 0)
        return r;
    r = store_session_get_locked(locked, id, &x);
    if (r < 0)
        return r;
    if (x->state != SESSION_STATE_ACTIVE) {
        *ret = TAKE_PTR(x);
        return -ESTALE;
    }
    /* the first heartbeat says the user is there */
    r = store_run(locked,
                  "UPDATE desktops SET state = 'in_use', state_since = ? "
                  "WHERE name = ? AND state = 'assigned'",
                  "ls", now, x->desktop);
    if (r < 0)
        return r;
    r = store_tx_commit(&tx);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(x);
    return 0;
}

/* Ends active session ID for REASON and moves its desktop to releasing,
 * with the audit entry; lock and transaction held. HEARTBEAT >= 0: only
 * while its last heartbeat is still that one. -ESTALE (and *ret, if asked)
 * when it was no longer active (or had a newer heartbeat). */
static int
session_end_locked(struct store *s, const char *id, enum session_end reason,
                   const char *actor, int64_t heartbeat, struct session **ret)
{
    _cleanup_(session_freep) struct session *x = NULL;
    const char *reason_s = session_end_to_string(reason);
    _cleanup_free_ char *action = NULL;
    int64_t now = store_now_sec();
    int r;

    if (!id || !reason_s)
        return -EINVAL;
    /* the conditional UPDATE: of a release racing an automatic logout,
     * exactly one ends the session */
    r = store_run(s,
                  "UPDATE sessions SET state = 'ended', ended_at = ?, end_reason = ? "
                  "WHERE id = ? AND state = 'active' AND (?4 < 0 OR last_heartbeat = ?4)",
                  "lssl", now, reason_s, id, heartbeat);
    if (r < 0)
        return r;
    if (r == 0) {
        r = store_session_get_locked(s, id, &x);
        if (r < 0)
            return r;
        if (ret)
            *ret = TAKE_PTR(x);
        return -ESTALE;
    }
    r = store_session_get_locked(s, id, &x);
    if (r < 0)
        return r;
    r = store_run(s,
                  "UPDATE desktops SET state = 'releasing', state_since = ? "
                  "WHERE name = ? AND state IN ('assigned', 'in_use')",
                  "ls", now, x->desktop);
    if (r < 0)
        return r;
    action = xasprintf("session.%s", reason_s);
    r = store_audit_locked(s, actor, action, x->pool, x->desktop, x->user, id);
    if (r < 0)
        return r;
    if (ret)
        *ret = TAKE_PTR(x);
    return 0;
}

static int
session_end(struct store *s, const char *id, enum session_end reason, const char *actor,
            int64_t heartbeat, struct session **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    int r;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = session_end_locked(locked, id, reason, actor, heartbeat, &x);
    if (r == -ESTALE && ret)
        *ret = TAKE_PTR(x);
    if (r < 0)
        return r;
    r = store_tx_commit(&tx);
    if (r < 0)
        return r;
    if (ret)
        *ret = TAKE_PTR(x);
    return 0;
}

int
store_session_end(struct store *s, const char *id, enum session_end reason, const char *actor,
                  struct session **ret)
{
    return session_end(s, id, reason, actor, -1, ret);
}

int
store_session_expire(struct store *s, const char *id, enum session_end reason,
                     int64_t heartbeat, const char *actor)
{
    return session_end(s, id, reason, actor, heartbeat, NULL);
}

int
store_session_end_on_desk_locked(struct store *s, const char *desk, enum session_end reason,
                                 const char *actor)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    _cleanup_free_ char *id = NULL;
    int r;

    /* at most one: a desktop has one user at a time */
    r = store_prepare(s, &st, "SELECT id FROM sessions WHERE desktop = ? AND state = 'active'",
                      "s", desk);
    if (r < 0)
        return r;
    r = store_step(s, st);
    if (r <= 0)
        return r;
    id = store_column_strdup(st, 0);
    store_stmt_release(TAKE_PTR(st));
    r = session_end_locked(s, id, reason, actor, -1, NULL);
    return r < 0 ? r : 1;
}

int
store_session_set_password_expiry(struct store *s, const char *id, int64_t expires)
{
    if (!id)
        return -EINVAL;
    return store_update_one(s, "UPDATE sessions SET password_expires = ? WHERE id = ?", "ls",
                            expires, id);
}
