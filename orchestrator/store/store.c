/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.c - the SQLite state store: the connection, transactions, statements
 *
 * The entities live beside it: store-image.c, store-pool.c, store-desk.c,
 * store-session.c, store-op.c, store-audit.c; store-schema.c owns the tables.
 *
 * The only user of SQLite (with store-schema.c, which owns the tables).
 * Everything deskpool knows survives here; libvirt is only observed.
 *
 * DESIGN
 *   One connection (SQLITE_OPEN_FULLMUTEX, WAL, synchronous=NORMAL,
 *   foreign_keys=ON, busy_timeout 5 s) and a pthread mutex in struct store
 *   held for the whole of each public call, so a call sees no interleaving
 *   from other threads of this process. Each public call that writes is one
 *   BEGIN IMMEDIATE ... COMMIT transaction: the write lock is taken up front,
 *   so checks and updates inside it cannot be raced by another process
 *   either. Every early return inside a transaction rolls back (the
 *   store_tx_rollbackp cleanup); success is an explicit store_tx_commit().
 *   State changes are conditional UPDATEs (WHERE state = FROM) and
 *   sqlite3_changes() tells the winner: two callers never both win.
 *   SQL text is constant; every value is a bound parameter.
 *   Returned records are fully owned copies. Nothing here logs above debug:
 *   SQLite's message goes to log_debug() and the caller gets an errno.
 *
 *   Errno map: SQLITE_BUSY/LOCKED (after the 5 s busy timeout) -EAGAIN;
 *   unique/primary key -EEXIST; NOT NULL/CHECK -EINVAL; foreign key -EBUSY;
 *   corrupt/not a database -EBADMSG (also for a row this code cannot parse);
 *   full disk -ENOSPC; read-only -EROFS; anything else -EIO.
 *   store_open() refuses a file that PRAGMA quick_check finds damaged;
 *   corruption or a full disk met later is kept for store_health().
 */
#include "config.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "array.h"
#include "log.h"
#include "store-priv.h"
#include "name.h"
#include "util.h"

int
store_errno(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -EBUSY;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return -EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EAGAIN;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    case SQLITE_INTERRUPT:
        return -EINTR;
    default:
        return -EIO;
    }
}

int64_t
store_now_sec(void)
{
    return (int64_t) (now_realtime_usec() / 1000000ULL);
}

/* Locking: `_cleanup_(store_unlockp) struct store *locked = store_lock(s);`
 * at the top of every public function. */
struct store *
store_lock(struct store *s)
{
    assert(s);
    pthread_mutex_lock(&s->lock);
    return s;
}

void
store_unlockp(struct store **s)
{
    if (*s)
        pthread_mutex_unlock(&(*s)->lock);
}

int
store_fail(struct store *s, int rc, const char *what)
{
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        atomic_store(&s->corrupt, true);
    else if ((rc & 0xff) == SQLITE_FULL)
        atomic_store(&s->full, true);
    log_debug("SQLite failed on '%s': %s", what, sqlite3_errmsg(s->db));
    return store_errno(rc);
}

/* Transactions: `_cleanup_(store_tx_rollbackp) struct store *tx = NULL;`
 * declared before any statement (so statements are finalized first), then
 * store_tx_begin(s, &tx) ... return store_tx_commit(&tx). */
int
store_tx_begin(struct store *s, struct store **ret_tx)
{
    int rc;

    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "BEGIN IMMEDIATE");
    *ret_tx = s;
    return 0;
}

void
store_tx_rollbackp(struct store **tx)
{
    int rc;

    if (!*tx)
        return;
    rc = sqlite3_exec((*tx)->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        log_debug("SQLite failed to roll back: %s, ignoring", sqlite3_errmsg((*tx)->db));
    *tx = NULL;
}

int
store_tx_commit(struct store **tx)
{
    int rc;

    assert(*tx); /* store_tx_begin() succeeded */
    rc = sqlite3_exec((*tx)->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(*tx, rc, "COMMIT"); /* the cleanup rolls back */
    atomic_store(&(*tx)->full, false); /* a write went through: there is room again */
    *tx = NULL;
    return 0;
}

/* Prepares SQL and binds one parameter per character of TYPES, in order:
 * 's' const char * (NULL binds NULL), 'u' unsigned, 'U' uint64_t,
 * 'l' int64_t, 'b' bool. Callers must pass exactly those C types. */
/* The statement cache. Parsing SQL was a fifth of an acquire's CPU time
 * (perf), and every statement of this file is a string literal, so its
 * address names it: prepared once per connection, reset and rebound on
 * every use. One entry is used by one caller at a time (in_use); a
 * statement asked for while its entry is busy is prepared afresh and
 * finalized after use. The cache is process-wide (tests open several
 * stores) and keyed by connection; store_close() empties its share. */
#define STMT_CACHE_MAX 256

static struct {
    sqlite3 *db;
    const char *sql;
    sqlite3_stmt *st;
    bool in_use;
} stmt_cache[STMT_CACHE_MAX];
static pthread_mutex_t stmt_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* A cached statement for SQL on DB (reset, unbound), or NULL. */
static sqlite3_stmt *
stmt_cache_take(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    pthread_mutex_lock(&stmt_cache_lock);
    /* the address finds it, the text proves it: a buffer may be reused */
    for (size_t i = 0; i < STMT_CACHE_MAX && !st; i++)
        if (stmt_cache[i].db == db && stmt_cache[i].sql == sql && !stmt_cache[i].in_use &&
            streq(sqlite3_sql(stmt_cache[i].st), sql)) {
            stmt_cache[i].in_use = true;
            st = stmt_cache[i].st;
        }
    pthread_mutex_unlock(&stmt_cache_lock);
    return st;
}

/* Keeps ST (in use now) for later, when there is room and SQL has none. */
static void
stmt_cache_put(sqlite3 *db, const char *sql, sqlite3_stmt *st)
{
    pthread_mutex_lock(&stmt_cache_lock);
    for (size_t i = 0; i < STMT_CACHE_MAX; i++)
        if (stmt_cache[i].db == db && stmt_cache[i].sql == sql &&
            streq(sqlite3_sql(stmt_cache[i].st), sql))
            goto unlock; /* one per SQL: this one stays transient */
    for (size_t i = 0; i < STMT_CACHE_MAX; i++)
        if (!stmt_cache[i].db) {
            stmt_cache[i].db = db;
            stmt_cache[i].sql = sql;
            stmt_cache[i].st = st;
            stmt_cache[i].in_use = true;
            break;
        }
unlock:
    pthread_mutex_unlock(&stmt_cache_lock);
}

void
store_stmt_release(sqlite3_stmt *st)
{
    bool cached = false;

    pthread_mutex_lock(&stmt_cache_lock);
    for (size_t i = 0; i < STMT_CACHE_MAX && !cached; i++)
        if (stmt_cache[i].st == st && stmt_cache[i].db) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            stmt_cache[i].in_use = false;
            cached = true;
        }
    pthread_mutex_unlock(&stmt_cache_lock);
    if (!cached)
        sqlite3_finalize(st);
}

static void
stmt_cache_drop(sqlite3 *db)
{
    pthread_mutex_lock(&stmt_cache_lock);
    for (size_t i = 0; i < STMT_CACHE_MAX; i++)
        if (stmt_cache[i].db == db) {
            sqlite3_finalize(stmt_cache[i].st);
            stmt_cache[i].db = NULL;
            stmt_cache[i].sql = NULL;
            stmt_cache[i].st = NULL;
            stmt_cache[i].in_use = false;
        }
    pthread_mutex_unlock(&stmt_cache_lock);
}

int
store_prepare_va(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types,
                 va_list ap)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int i = 0;
    int rc = SQLITE_OK; /* a cached statement skips the prepare */

    st = stmt_cache_take(s->db, sql);
    if (!st) {
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc, sql);
        stmt_cache_put(s->db, sql, st);
    }
    /* A mismatch is a bug in this file; catch it before va_arg() reads junk. */
    assert(strlen(types) == (size_t) sqlite3_bind_parameter_count(st));
    for (const char *t = types; *t != '\0' && rc == SQLITE_OK; t++) {
        i++;
        switch (*t) {
        case 's':
            rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'u':
            rc = sqlite3_bind_int64(st, i, (sqlite3_int64) va_arg(ap, unsigned));
            break;
        case 'U':
            rc = sqlite3_bind_int64(st, i, (sqlite3_int64) va_arg(ap, uint64_t));
            break;
        case 'l':
            rc = sqlite3_bind_int64(st, i, (sqlite3_int64) va_arg(ap, int64_t));
            break;
        case 'b':
            rc = sqlite3_bind_int(st, i, va_arg(ap, int) != 0);
            break;
        default:
            assert(!"unknown bind type");
            abort();
        }
    }
    if (rc != SQLITE_OK)
        return store_fail(s, rc, sql);
    *ret = TAKE_PTR(st);
    return 0;
}

int
store_prepare(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = store_prepare_va(s, ret, sql, types, ap);
    va_end(ap);
    return r;
}

/* 1 for a row, 0 when done, else a negative errno. */
int
store_step(struct store *s, sqlite3_stmt *st)
{
    int rc;

    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_fail(s, rc, sqlite3_sql(st));
}

int
store_exec_va(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types,
              va_list ap)
{
    int r;

    r = store_prepare_va(s, ret, sql, types, ap);
    if (r < 0)
        return r;
    return store_step(s, *ret);
}

/* Runs a statement that returns no rows. Returns the number of rows it
 * changed, or a negative errno. */
int
store_run(struct store *s, const char *sql, const char *types, ...)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    va_list ap;
    int r;

    va_start(ap, types);
    r = store_exec_va(s, &st, sql, types, ap);
    va_end(ap);
    return r < 0 ? r : sqlite3_changes(s->db);
}

/* Runs a query for one integer. Returns 1 and *ret when there is a row,
 * 0 when there is none, or a negative errno. */
int
store_query_int(struct store *s, int64_t *ret, const char *sql, const char *types, ...)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    va_list ap;
    int r;

    va_start(ap, types);
    r = store_exec_va(s, &st, sql, types, ap);
    va_end(ap);
    if (r <= 0)
        return r;
    *ret = sqlite3_column_int64(st, 0);
    return 1;
}

int
store_query_str(struct store *s, char **ret, const char *sql, const char *types, ...)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    va_list ap;
    int r;

    va_start(ap, types);
    r = store_exec_va(s, &st, sql, types, ap);
    va_end(ap);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    *ret = store_column_strdup(st, 0);
    return 0;
}

int
store_update_one(struct store *s, const char *sql, const char *types, ...)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    va_list ap;
    int r;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    va_start(ap, types);
    r = store_exec_va(locked, &st, sql, types, ap);
    va_end(ap);
    if (r < 0)
        return r;
    if (sqlite3_changes(locked->db) == 0)
        return -ENOENT;
    store_stmt_release(TAKE_PTR(st));
    return store_tx_commit(&tx);
}

char *
store_column_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? xstrdup((const char *) t) : NULL;
}

unsigned
store_column_unsigned(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);

    return v < 0 || v > UINT32_MAX ? 0 : (unsigned) v;
}

/* ---- open, close, meta ---- */

static int
open_fail(sqlite3 *db, int rc, const char *path, char **reterr_msg)
{
    int r = store_errno(rc);

    if (db && (rc & 0xff) == SQLITE_CANTOPEN && sqlite3_system_errno(db) > 0)
        r = -sqlite3_system_errno(db);
    if (reterr_msg && r == -EBADMSG)
        *reterr_msg = xasprintf("The state database '%s' is corrupt (%s). deskpoold will not "
                                "run on it and touched nothing: restore deskpool.db from a "
                                "backup, or move it away to start afresh.", path,
                                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    else if (reterr_msg)
        *reterr_msg = xasprintf("Cannot open the state database '%s': %s.", path,
                                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return r;
}

static int
open_pragma(sqlite3 *db, const char *sql, const char *path, char **ret_value,
            char **reterr_msg)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return open_fail(db, rc, path, reterr_msg);
    if (ret_value)
        *ret_value = rc == SQLITE_ROW ? store_column_strdup(st, 0) : NULL;
    return 0;
}

int
store_open(const char *path, struct store **ret, char **reterr_msg)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    _cleanup_free_ char *mode = NULL, *check = NULL;
    struct store *s;
    int version = 0;
    int rc, r;

    assert(path);
    assert(ret);

    rc = sqlite3_open_v2(path, &db,
                         SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE,
                         NULL);
    if (rc != SQLITE_OK)
        return open_fail(db, rc, path, reterr_msg);
    sqlite3_extended_result_codes(db, 1);
    rc = sqlite3_busy_timeout(db, 5000);
    if (rc != SQLITE_OK)
        return open_fail(db, rc, path, reterr_msg);

    r = open_pragma(db, "PRAGMA journal_mode = WAL", path, &mode, reterr_msg);
    if (r < 0)
        return r;
    if (!mode || (!streq(mode, "wal") && !streq(mode, "memory"))) {
        if (reterr_msg)
            *reterr_msg = xasprintf("Cannot switch the state database '%s' to WAL mode "
                                    "(journal mode is '%s').", path, strempty(mode));
        return -EIO;
    }
    r = open_pragma(db, "PRAGMA synchronous = NORMAL", path, NULL, reterr_msg);
    if (r < 0)
        return r;
    r = open_pragma(db, "PRAGMA foreign_keys = ON", path, NULL, reterr_msg);
    if (r < 0)
        return r;

    /* A damaged file is found here, not by the first pass that trips over
     * it: quick_check reads every page (a few ms for a typical store). */
    r = open_pragma(db, "PRAGMA quick_check", path, &check, reterr_msg);
    if (r < 0)
        return r;
    if (!streq_ptr(check, "ok")) {
        if (reterr_msg)
            *reterr_msg = xasprintf("The state database '%s' is corrupt (%s). deskpoold will "
                                    "not run on it and touched nothing: restore deskpool.db "
                                    "from a backup, or move it away to start afresh.", path,
                                    strempty(check));
        return -EBADMSG;
    }

    r = store_schema_migrate(db, &version, reterr_msg);
    if (r < 0)
        return r;

    s = xmalloc0(sizeof(*s));
    r = -pthread_mutex_init(&s->lock, NULL);
    if (r < 0) {
        free(s);
        return r;
    }
    pthread_mutex_init(&s->acq_lock, NULL);
    pthread_cond_init(&s->acq_cond, NULL);
    s->acq_tail = &s->acq_head;
    s->db = TAKE_PTR(db);
    s->version = version;
    log_debug("Opened state database '%s' (schema version %d).", path, version);
    *ret = s;
    return 0;
}

struct store *
store_close(struct store *s)
{
    if (!s)
        return NULL;
    stmt_cache_drop(s->db);
    sqlite3_close_v2(s->db);
    pthread_cond_destroy(&s->acq_cond);
    pthread_mutex_destroy(&s->acq_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

const char *
store_health(struct store *s)
{
    if (atomic_load(&s->corrupt))
        return "corrupt";
    if (atomic_load(&s->full))
        return "full";
    return "ok";
}

int
store_schema_version(struct store *s)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    return locked->version;
}

int
store_meta_get(struct store *s, const char *key, char **ret_value)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    return store_query_str(locked, ret_value, "SELECT value FROM meta WHERE key = ?", "s", key);
}

int
store_meta_set(struct store *s, const char *key, const char *value)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!key || !value)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "INSERT INTO meta (key, value) VALUES (?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  "ss", key, value);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

/* ---- test helpers (store-priv.h) ---- */

int
store_exec_raw(struct store *s, const char *sql)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    int rc;

    rc = sqlite3_exec(locked->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(locked, rc, sql);
    return 0;
}

int
store_query_text(struct store *s, const char *sql, char **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(locked, &st, sql, "");
    if (r < 0)
        return r;
    r = store_step(locked, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    *ret = store_column_strdup(st, 0);
    return 0;
}
