/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-priv.h - internals shared by store.c, store-schema.c and the store
 * tests. Nothing outside those files includes this. See store.c. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "store.h"

/* An acquire waiting for its batch (store-session.c). */
struct store_acquire_job {
    const struct store_acquire *q;
    struct store_acquired *ret;
    int result;
    bool done;
    struct store_acquire_job *next;
};

struct store {
    sqlite3 *db;          /* one connection, SQLITE_OPEN_FULLMUTEX */
    pthread_mutex_t lock; /* held for the whole of every public call; guards db and
                           * version; only stmt_cache_lock is taken under it */
    int version;          /* schema version after migrations */
    atomic_bool corrupt;  /* SQLite said the file is damaged; stays set */
    atomic_bool full;     /* the last write failed for want of space */
    /* group commit of acquires (store_session_acquire_on()) */
    pthread_mutex_t acq_lock; /* guards the queue and the leader flag; taken
                               * before s->lock, never under it */
    pthread_cond_t acq_cond;  /* broadcast when a batch is done */
    struct store_acquire_job *acq_head, **acq_tail;
    bool acq_leader;          /* a thread is running a batch */
    uint64_t acq_batches;     /* batches run (tests) */
};

/* The one wrapper of each SQLite destructor. A statement from
 * store_prepare() goes back to the statement cache (store.c), any other is
 * finalized: sqlite3_finalizep suits both. */
void store_stmt_release(sqlite3_stmt *st);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(sqlite3_stmt *, store_stmt_release, sqlite3_finalizep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(char *, sqlite3_free, sqlite3_freep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(sqlite3 *, sqlite3_close_v2, sqlite3_closep);

/* Maps an SQLite (extended) result code to a negative errno. */
int store_errno(int rc);

/* store-schema.c: the schema version this code writes (the number of
 * migrations it knows). */
int store_schema_latest(void);

/* Brings DB up to store_schema_latest() in one transaction and returns the
 * resulting version in *ret_version. A database newer than this code gives
 * -EPROTO; any other failure a negative errno. *reterr_msg (when not NULL)
 * gets a whole sentence on failure. Does not log above debug. */
int store_schema_migrate(sqlite3 *db, int *ret_version, char **reterr_msg);

/* Tests only: run constant SQL (no parameters) on the store's connection,
 * outside any transaction. Returns 0 or a negative errno. */
int store_exec_raw(struct store *s, const char *sql);
/* Tests only: the first column of the first row of constant SQL, as a new
 * string (NULL for an SQL NULL). -ENOENT when there is no row. */
int store_query_text(struct store *s, const char *sql, char **ret);

/* ---- shared by the store-*.c files: see store.c ---- */

#include <stdarg.h>

#define DESK_COLUMNS                                                            \
    "name, pool, state, uuid, domain, volume, image, image_version, owner, "  \
    "boot_failures, last_error, created_at, state_since, data_volume, seq, host_failure, " \
    "parent, mac, old_domain, host"
#define POOL_COLUMNS                                                            \
    "name, image, image_version, template, mode, min, spare, max, deleting, "   \
    "force_delete, next_seq, created_at, groups, idle_timeout, max_session, "   \
    "allow_redirection, current_version, clone, clone_fallback, placement, host_labels"
#define SESSION_COLUMNS                                                         \
    "id, pool, desktop, user, client, state, created_at, last_heartbeat, "     \
    "ended_at, end_reason, password_expires"
#define IMAGE_COLUMNS                                                           \
    "name, version, path, sha256, size, virtual_size, note, created_by, created_at, retired"
#define OP_COLUMNS                                                              \
    "id, kind, pool, from_version, to_version, policy, warn, batch, state, total, " \
    "done, failed, step, error, created_by, created_at, updated_at, finished_at, first_seq"
#define PARENT_COLUMNS                                                          \
    "name, image, image_version, template, template_digest, state, uuid, domain, " \
    "volume, saved, saved_bytes, failures, error, boot_ms, save_ms, created_at, "  \
    "state_since"
#define HOST_COLUMNS                                                            \
    "name, uri, admin, max_desktops, reserve_memory, labels, storage_dir, drain_warn, " \
    "drain_since, created_at, console_address"
#define AUDIT_COLUMNS "id, at, actor, action, pool, desktop, user, detail"

int64_t store_now_sec(void);
/* Locking: `_cleanup_(store_unlockp) struct store *locked = store_lock(s);`
 * at the top of every public function; the helpers below expect it held. */
struct store *store_lock(struct store *s);
void store_unlockp(struct store **s);
/* Logs SQLite's message at debug and returns store_errno(RC). */
int store_fail(struct store *s, int rc, const char *what);
/* Transactions: `_cleanup_(store_tx_rollbackp) struct store *tx = NULL;`
 * declared before any statement, then store_tx_begin(s, &tx) ...
 * return store_tx_commit(&tx). An early return rolls back. */
int store_tx_begin(struct store *s, struct store **ret_tx);
void store_tx_rollbackp(struct store **tx);
int store_tx_commit(struct store **tx);
/* Prepares constant SQL (cached per connection) and binds one value per
 * character of TYPES: 's' const char * (NULL binds NULL), 'u' unsigned,
 * 'U' uint64_t, 'l' int64_t, 'b' bool. */
int store_prepare_va(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types,
                     va_list ap);
int store_prepare(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types, ...);
/* 1 for a row, 0 when done, else a negative errno. */
int store_step(struct store *s, sqlite3_stmt *st);
/* store_prepare_va() and the first store_step(): 1 with the statement on
 * its first row, 0 when it has none, else a negative errno. *ret is the
 * caller's either way (finalize it with the cleanup). */
int store_exec_va(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types,
                  va_list ap);
/* A statement without rows: the number of rows changed, or a negative errno. */
int store_run(struct store *s, const char *sql, const char *types, ...);
/* One integer: 1 and *ret for a row, 0 for none, or a negative errno. */
int store_query_int(struct store *s, int64_t *ret, const char *sql, const char *types, ...);
/* One text value (a new string, NULL for SQL NULL): 0, -ENOENT without a
 * row, or a negative errno. */
int store_query_str(struct store *s, char **ret, const char *sql, const char *types, ...);
/* The one shape of a single-row update: takes the lock, runs SQL (an
 * UPDATE of one row, whose WHERE names it) in its own transaction.
 * Returns 0, -ENOENT when no row matched, or a negative errno. */
int store_update_one(struct store *s, const char *sql, const char *types, ...);
char *store_column_strdup(sqlite3_stmt *st, int i);
unsigned store_column_unsigned(sqlite3_stmt *st, int i);

/* Defines NAME(s, st, ret, ret_n): steps ST to the end, turning each row
 * into a TYPE * with FROM_ROW; on error frees what it made with
 * LIST_FREE. One loop for every *_list() of this file. */
#define DEFINE_STORE_COLLECT(name, type, from_row, list_free)                     \
    static int name(struct store *s, sqlite3_stmt *st, type ***ret, size_t *ret_n) \
    {                                                                             \
        type **list = NULL;                                                       \
        size_t n = 0, alloc = 0;                                                  \
        int r;                                                                    \
                                                                                  \
        for (;;) {                                                                \
            r = store_step(s, st);                                                \
            if (r <= 0)                                                           \
                break;                                                            \
            ARRAY_GROW(list, alloc, n + 1);                  \
            r = from_row(st, &list[n]);                                           \
            if (r < 0)                                                            \
                break;                                                            \
            n++;                                                                  \
        }                                                                         \
        if (r < 0) {                                                              \
            list_free(list, n);                                                   \
            return r;                                                             \
        }                                                                         \
        *ret = list;                                                              \
        *ret_n = n;                                                               \
        return 0;                                                                 \
    }

/* Defines NAME(s, ret, sql, types, ...): runs SQL with the bound values and
 * turns its first row into a TYPE * with FROM_ROW; -ENOENT without a row.
 * One shape for every lookup of a single row. */
#define DEFINE_STORE_FETCH(name, type, from_row)                                  \
    static int name(struct store *s, type **ret, const char *sql, const char *types, ...) \
    {                                                                             \
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;                     \
        va_list ap;                                                               \
        int r;                                                                    \
                                                                                  \
        va_start(ap, types);                                                      \
        r = store_exec_va(s, &st, sql, types, ap);                                \
        va_end(ap);                                                               \
        if (r < 0)                                                                \
            return r;                                                             \
        if (r == 0)                                                               \
            return -ENOENT;                                                       \
        return from_row(st, ret);                                                 \
    }

/* Defines NAME(s, ret, ret_n, sql, types, ...): a whole public listing:
 * takes the lock, runs SQL with the bound values and turns every row into
 * a TYPE * with COLLECT (a DEFINE_STORE_COLLECT function). */
#define DEFINE_STORE_LIST(name, type, collect)                                    \
    static int name(struct store *s, type ***ret, size_t *ret_n, const char *sql, \
                    const char *types, ...)                                       \
    {                                                                             \
        _cleanup_(store_unlockp) struct store *locked = store_lock(s);            \
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;                     \
        va_list ap;                                                               \
        int r;                                                                    \
                                                                                  \
        va_start(ap, types);                                                      \
        r = store_prepare_va(locked, &st, sql, types, ap);                        \
        va_end(ap);                                                               \
        if (r < 0)                                                                \
            return r;                                                             \
        return collect(locked, st, ret, ret_n);                                   \
    }

/* Defines NAME(s, key, ret): a whole public lookup of one row by KEY:
 * takes the lock, refuses a NULL key, calls GET_LOCKED. */
#define DEFINE_STORE_GET(name, type, get_locked)                                  \
    int name(struct store *s, const char *key, type **ret)                        \
    {                                                                             \
        _cleanup_(store_unlockp) struct store *locked = store_lock(s);            \
                                                                                  \
        if (!key)                                                                 \
            return -EINVAL;                                                       \
        return get_locked(locked, key, ret);                                      \
    }

/* Lookups other entities' files need inside their transactions (lock held). */
int store_pool_get_locked(struct store *s, const char *name, struct pool **ret);
/* The same, -ESHUTDOWN for a pool being deleted (nothing new may start in it). */
int store_pool_get_live_locked(struct store *s, const char *name, struct pool **ret);
int store_desk_get_locked(struct store *s, const char *name, struct desk **ret);
/* -ESTALE when desktop NAME exists (a conditional update missed it because
 * of its state), -ENOENT when it does not. */
int store_desk_missed_locked(struct store *s, const char *name);
/* Ends the active session on desktop DESK (if any) for REASON inside the
 * caller's transaction: 1 when one ended, 0 when there was none. */
int store_session_end_on_desk_locked(struct store *s, const char *desk,
                                     enum session_end reason, const char *actor);
/* Session ID inside the caller's lock. */
int store_session_get_locked(struct store *s, const char *id, struct session **ret);
/* The current domain and host of desktop DESK into RET (store-session.c). */
int store_acquired_desk_locked(struct store *s, const char *desk, struct store_acquired *ret);
/* Records a console ticket's SHA-256 HASH (hex) for SESSION, valid until
 * EXPIRES (unix seconds), inside the caller's transaction (store-ticket.c). */
int store_ticket_add_locked(struct store *s, const char *hash, const char *session,
                            int64_t expires);
/* Appends to the audit log inside the caller's transaction. */
int store_audit_locked(struct store *s, const char *actor, const char *action,
                       const char *pool, const char *desktop, const char *user,
                       const char *detail);
