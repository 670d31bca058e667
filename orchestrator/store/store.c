/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.c - the SQLite state store: images, pools, desktops, audit log
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

#define DESK_COLUMNS                                                            \
    "name, pool, state, uuid, domain, volume, image, image_version, owner, "  \
    "boot_failures, last_error, created_at, state_since, data_volume, seq"
#define POOL_COLUMNS                                                            \
    "name, image, image_version, template, mode, min, spare, max, deleting, "   \
    "force_delete, next_seq, created_at, groups, idle_timeout, max_session, "   \
    "allow_redirection, current_version"
#define SESSION_COLUMNS                                                         \
    "id, pool, desktop, user, client, state, created_at, last_heartbeat, "     \
    "ended_at, end_reason, password_expires"
#define IMAGE_COLUMNS                                                           \
    "name, version, path, sha256, size, virtual_size, note, created_by, created_at, retired"
#define OP_COLUMNS                                                              \
    "id, kind, pool, from_version, to_version, policy, warn, batch, state, total, " \
    "done, failed, step, error, created_by, created_at, updated_at, finished_at, first_seq"
#define AUDIT_COLUMNS "id, at, actor, action, pool, desktop, user, detail"

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

static int64_t
now_sec(void)
{
    return (int64_t) (now_realtime_usec() / 1000000ULL);
}

/* Locking: `_cleanup_(store_unlockp) struct store *locked = store_lock(s);`
 * at the top of every public function. */
static struct store *
store_lock(struct store *s)
{
    assert(s);
    pthread_mutex_lock(&s->lock);
    return s;
}

static void
store_unlockp(struct store **s)
{
    if (*s)
        pthread_mutex_unlock(&(*s)->lock);
}

static int
store_fail(struct store *s, int rc, const char *what)
{
    log_debug("SQLite failed on '%s': %s", what, sqlite3_errmsg(s->db));
    return store_errno(rc);
}

/* Transactions: `_cleanup_(store_tx_rollbackp) struct store *tx = NULL;`
 * declared before any statement (so statements are finalized first), then
 * store_tx_begin(s, &tx) ... return store_tx_commit(&tx). */
static int
store_tx_begin(struct store *s, struct store **ret_tx)
{
    int rc;

    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "BEGIN IMMEDIATE");
    *ret_tx = s;
    return 0;
}

static void
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

static int
store_tx_commit(struct store **tx)
{
    int rc;

    rc = sqlite3_exec((*tx)->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(*tx, rc, "COMMIT"); /* the cleanup rolls back */
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

static int
store_prepare_va(struct store *s, sqlite3_stmt **ret, const char *sql, const char *types,
                 va_list ap)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int i = 0;
    int rc;

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

static int
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
static int
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

/* Runs a statement that returns no rows. Returns the number of rows it
 * changed, or a negative errno. */
static int
store_run(struct store *s, const char *sql, const char *types, ...)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    va_list ap;
    int r;

    va_start(ap, types);
    r = store_prepare_va(s, &st, sql, types, ap);
    va_end(ap);
    if (r < 0)
        return r;
    r = store_step(s, st);
    if (r < 0)
        return r;
    return sqlite3_changes(s->db);
}

/* Runs a query for one integer. Returns 1 and *ret when there is a row,
 * 0 when there is none, or a negative errno. */
static int
store_query_int(struct store *s, int64_t *ret, const char *sql, const char *types, ...)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    va_list ap;
    int r;

    va_start(ap, types);
    r = store_prepare_va(s, &st, sql, types, ap);
    va_end(ap);
    if (r < 0)
        return r;
    r = store_step(s, st);
    if (r <= 0)
        return r;
    *ret = sqlite3_column_int64(st, 0);
    return 1;
}

static char *
column_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? xstrdup((const char *) t) : NULL;
}

static unsigned
column_unsigned(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);

    return v < 0 || v > UINT32_MAX ? 0 : (unsigned) v;
}

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
        r = store_prepare_va(s, &st, sql, types, ap);                             \
        va_end(ap);                                                               \
        if (r < 0)                                                                \
            return r;                                                             \
        r = store_step(s, st);                                                    \
        if (r < 0)                                                                \
            return r;                                                             \
        if (r == 0)                                                               \
            return -ENOENT;                                                       \
        return from_row(st, ret);                                                 \
    }

/* ---- open, close, meta ---- */

static int
open_fail(sqlite3 *db, int rc, const char *path, char **reterr_msg)
{
    int r = store_errno(rc);

    if (db && (rc & 0xff) == SQLITE_CANTOPEN && sqlite3_system_errno(db) > 0)
        r = -sqlite3_system_errno(db);
    if (reterr_msg)
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
        *ret_value = rc == SQLITE_ROW ? column_strdup(st, 0) : NULL;
    return 0;
}

int
store_open(const char *path, struct store **ret, char **reterr_msg)
{
    _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
    _cleanup_free_ char *mode = NULL;
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

    r = store_schema_migrate(db, &version, reterr_msg);
    if (r < 0)
        return r;

    s = xmalloc0(sizeof(*s));
    r = -pthread_mutex_init(&s->lock, NULL);
    if (r < 0) {
        free(s);
        return r;
    }
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
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
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
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(locked, &st, "SELECT value FROM meta WHERE key = ?", "s", key);
    if (r < 0)
        return r;
    r = store_step(locked, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    *ret_value = column_strdup(st, 0);
    return 0;
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

/* ---- images ---- */

static int
image_from_row(sqlite3_stmt *st, struct image **ret)
{
    struct image *img = xmalloc0(sizeof(*img));

    img->name = column_strdup(st, 0);
    img->version = column_unsigned(st, 1);
    img->path = column_strdup(st, 2);
    img->sha256 = column_strdup(st, 3);
    img->size = (uint64_t) sqlite3_column_int64(st, 4);
    img->virtual_size = (uint64_t) sqlite3_column_int64(st, 5);
    img->note = column_strdup(st, 6);
    img->created_by = column_strdup(st, 7);
    img->created_at = sqlite3_column_int64(st, 8);
    img->retired = sqlite3_column_int(st, 9) != 0;
    *ret = img;
    return 0;
}

DEFINE_STORE_COLLECT(collect_images, struct image, image_from_row, image_list_free)

static int
image_next_version_locked(struct store *s, const char *name, unsigned *ret)
{
    int64_t v = 0;
    int r;

    r = store_query_int(s, &v, "SELECT COALESCE(MAX(version), 0) + 1 FROM images WHERE name = ?",
                        "s", name);
    if (r < 0)
        return r;
    if (v <= 0 || v > UINT32_MAX)
        return -ERANGE;
    *ret = (unsigned) v;
    return 0;
}

int
store_image_next_version(struct store *s, const char *name, unsigned *ret_version)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!name)
        return -EINVAL;
    return image_next_version_locked(locked, name, ret_version);
}

int
store_image_add(struct store *s, const struct image *img)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    unsigned next;
    int r;

    if (!img || !name_is_valid(img->name) || img->version == 0 || !img->path || !img->sha256)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = image_next_version_locked(locked, img->name, &next);
    if (r < 0)
        return r;
    if (img->version != next)
        return -EEXIST;
    r = store_run(locked,
                  "INSERT INTO images (" IMAGE_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                  "sussUUssl", img->name, img->version, img->path, img->sha256, img->size,
                  img->virtual_size, img->note, img->created_by,
                  img->created_at > 0 ? img->created_at : now_sec());
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

static int
image_get(struct store *s, const char *name, unsigned version, bool usable_only,
          struct image **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_prepare(locked, &st,
                      "SELECT " IMAGE_COLUMNS " FROM images "
                      "WHERE name = ?1 AND (?2 = 0 OR version = ?2) AND (?3 = 0 OR retired = 0) "
                      "ORDER BY version DESC LIMIT 1",
                      "sub", name, version, usable_only);
    if (r < 0)
        return r;
    r = store_step(locked, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return image_from_row(st, ret);
}

int
store_image_get(struct store *s, const char *name, unsigned version, struct image **ret)
{
    return image_get(s, name, version, false, ret);
}

int
store_image_get_usable(struct store *s, const char *name, unsigned version, struct image **ret)
{
    return image_get(s, name, version, true, ret);
}

int
store_image_list(struct store *s, const char *name, struct image ***ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(locked, &st,
                      "SELECT " IMAGE_COLUMNS " FROM images "
                      "WHERE ?1 IS NULL OR name = ?1 ORDER BY name, version",
                      "s", name);
    if (r < 0)
        return r;
    return collect_images(locked, st, ret, ret_n);
}

/* ---- pools ---- */

static int
pool_from_row(sqlite3_stmt *st, struct pool **ret)
{
    _cleanup_(pool_freep) struct pool *p = xmalloc0(sizeof(*p));

    p->name = column_strdup(st, 0);
    p->image = column_strdup(st, 1);
    p->image_version = column_unsigned(st, 2);
    p->template = column_strdup(st, 3);
    p->mode = pool_mode_from_string((const char *) sqlite3_column_text(st, 4));
    if (p->mode < 0) {
        log_debug("Pool '%s' has an unknown mode in the store.", strempty(p->name));
        return -EBADMSG;
    }
    p->min = column_unsigned(st, 5);
    p->spare = column_unsigned(st, 6);
    p->max = column_unsigned(st, 7);
    p->deleting = sqlite3_column_int(st, 8) != 0;
    p->force_delete = sqlite3_column_int(st, 9) != 0;
    p->next_seq = column_unsigned(st, 10);
    p->created_at = sqlite3_column_int64(st, 11);
    p->groups = pool_groups_split((const char *) sqlite3_column_text(st, 12));
    p->idle_timeout = column_unsigned(st, 13);
    p->max_session = column_unsigned(st, 14);
    p->allow_redirection = sqlite3_column_int(st, 15) != 0;
    p->current_version = column_unsigned(st, 16);
    *ret = TAKE_PTR(p);
    return 0;
}

DEFINE_STORE_COLLECT(collect_pools, struct pool, pool_from_row, pool_list_free)

DEFINE_STORE_FETCH(fetch_pool, struct pool, pool_from_row)

static int
pool_get_locked(struct store *s, const char *name, struct pool **ret)
{
    return fetch_pool(s, ret, "SELECT " POOL_COLUMNS " FROM pools WHERE name = ?", "s", name);
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
    const char *mode;
    int64_t found;
    int r;

    if (!p || !name_is_valid(p->name) || !p->image || !p->template)
        return -EINVAL;
    mode = pool_mode_to_string(p->mode);
    if (!mode)
        return -EINVAL;
    r = sizes_check(p->min, p->spare, p->max);
    if (r < 0)
        return r;

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
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  "ssussuuubbulsuubu", p->name, p->image, p->image_version, p->template, mode,
                  p->min, p->spare, p->max, p->deleting, p->force_delete,
                  p->next_seq > 0 ? p->next_seq : 1u,
                  p->created_at > 0 ? p->created_at : now_sec(), groups,
                  p->idle_timeout > 0 ? p->idle_timeout : POOL_DEFAULT_IDLE_TIMEOUT,
                  p->max_session > 0 ? p->max_session : POOL_DEFAULT_MAX_SESSION,
                  p->allow_redirection, (unsigned) found);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_pool_get(struct store *s, const char *name, struct pool **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!name)
        return -EINVAL;
    return pool_get_locked(locked, name, ret);
}

int
store_pool_list(struct store *s, struct pool ***ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(locked, &st, "SELECT " POOL_COLUMNS " FROM pools ORDER BY name", "");
    if (r < 0)
        return r;
    return collect_pools(locked, st, ret, ret_n);
}

int
store_pool_set_sizes(struct store *s, const char *name, unsigned min, unsigned spare,
                     unsigned max)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = sizes_check(min, spare, max);
    if (r < 0)
        return r;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, "UPDATE pools SET min = ?, spare = ?, max = ? WHERE name = ?",
                  "uuus", min, spare, max, name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return store_tx_commit(&tx);
}

/* Counts POOL's desktops that a user holds (desk_state_is_in_use()). */
int
store_pool_update(struct store *s, const struct pool *p)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_free_ char *groups = NULL;
    int r;

    if (!p || !p->name || p->idle_timeout == 0 || p->max_session == 0)
        return -EINVAL;
    r = sizes_check(p->min, p->spare, p->max);
    if (r < 0)
        return r;
    groups = pool_groups_join(p->groups);
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE pools SET min = ?, spare = ?, max = ?, groups = ?, idle_timeout = ?, "
                  "max_session = ?, allow_redirection = ? WHERE name = ? AND deleting = 0",
                  "uuusuubs", p->min, p->spare, p->max, groups, p->idle_timeout,
                  p->max_session, p->allow_redirection, p->name);
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

static int
pool_count_in_use_locked(struct store *s, const char *pool, unsigned *ret)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    unsigned n = 0;
    int r;

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
            break;
        state = desk_state_from_string((const char *) sqlite3_column_text(st, 0));
        if (state < 0)
            return -EBADMSG;
        if (desk_state_is_in_use(state))
            n += column_unsigned(st, 1);
    }
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

/* ---- desktops ---- */

static int
desk_from_row(sqlite3_stmt *st, struct desk **ret)
{
    _cleanup_(desk_freep) struct desk *d = xmalloc0(sizeof(*d));

    d->name = column_strdup(st, 0);
    d->pool = column_strdup(st, 1);
    d->state = desk_state_from_string((const char *) sqlite3_column_text(st, 2));
    if (d->state < 0) {
        log_debug("Desktop '%s' has an unknown state in the store.", strempty(d->name));
        return -EBADMSG;
    }
    d->uuid = column_strdup(st, 3);
    d->domain = column_strdup(st, 4);
    d->volume = column_strdup(st, 5);
    d->image = column_strdup(st, 6);
    d->image_version = column_unsigned(st, 7);
    d->owner = column_strdup(st, 8);
    d->boot_failures = column_unsigned(st, 9);
    d->last_error = column_strdup(st, 10);
    d->created_at = sqlite3_column_int64(st, 11);
    d->state_since = sqlite3_column_int64(st, 12);
    d->data_volume = column_strdup(st, 13);
    d->seq = column_unsigned(st, 14);
    *ret = TAKE_PTR(d);
    return 0;
}

DEFINE_STORE_COLLECT(collect_desks, struct desk, desk_from_row, desk_list_free)

DEFINE_STORE_FETCH(fetch_desk, struct desk, desk_from_row)

static int
desk_get_locked(struct store *s, const char *name, struct desk **ret)
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
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_(desk_freep) struct desk *d = NULL;
    _cleanup_free_ char *name = NULL, *domain = NULL;
    char uuid_str[UUID_STR_LEN];
    uuid_t uuid;
    int64_t now;
    int r;

    if (!pool || !instance)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = pool_get_locked(locked, pool, &p);
    if (r < 0)
        return r;
    if (p->deleting)
        return -ESHUTDOWN;
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
    now = now_sec();
    r = store_run(locked,
                  "INSERT INTO desktops (name, pool, seq, state, uuid, domain, image, "
                  "image_version, boot_failures, created_at, state_since) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                  "ssussssull", name, pool, p->next_seq,
                  desk_state_to_string(DESK_STATE_PROVISIONING), uuid_str, domain, p->image,
                  version, now, now);
    if (r < 0)
        return r;
    r = desk_get_locked(locked, name, &d);
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

int
store_desk_get(struct store *s, const char *name, struct desk **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!name)
        return -EINVAL;
    return desk_get_locked(locked, name, ret);
}

int
store_desk_list(struct store *s, const char *pool, struct desk ***ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(locked, &st,
                      "SELECT " DESK_COLUMNS " FROM desktops "
                      "WHERE ?1 IS NULL OR pool = ?1 ORDER BY pool, seq",
                      "s", pool);
    if (r < 0)
        return r;
    return collect_desks(locked, st, ret, ret_n);
}

/* -ESTALE when NAME exists (so a conditional update missed because of its
 * state), -ENOENT when it does not. */
static int
desk_missed_locked(struct store *s, const char *name)
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
              "last_error = NULL WHERE name = ? AND state = ?";
    else
        sql = "UPDATE desktops SET state = ?, state_since = ? WHERE name = ? AND state = ?";

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, sql, "slss", desk_state_to_string(to), now_sec(), name,
                  desk_state_to_string(from));
    if (r < 0)
        return r;
    if (r == 0)
        return desk_missed_locked(locked, name);
    return store_tx_commit(&tx);
}

int
store_desk_set_volume(struct store *s, const char *name, const char *volume)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    if (!name)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, "UPDATE desktops SET volume = ? WHERE name = ?", "ss", volume, name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return store_tx_commit(&tx);
}

int
store_desk_record_failure(struct store *s, const char *name, const char *error)
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
                  "UPDATE desktops SET boot_failures = boot_failures + 1, last_error = ? "
                  "WHERE name = ?",
                  "ss", error, name);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return store_tx_commit(&tx);
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
        r = desk_missed_locked(locked, name);
        return r == -ESTALE ? -EINVAL : r;
    }
    return store_tx_commit(&tx);
}

/* ---- audit ---- */

static int
audit_locked(struct store *s, const char *actor, const char *action, const char *pool,
             const char *desktop, const char *user, const char *detail)
{
    return store_run(s,
                     "INSERT INTO audit (at, actor, action, pool, desktop, user, detail) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     "lssssss", now_sec(), actor, action, pool, desktop, user, detail);
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
    r = audit_locked(locked, actor, action, pool, desktop, user, detail);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

/* ---- desktops: versions and data disks ---- */

int
store_desk_set_data_volume(struct store *s, const char *name, const char *volume)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    int r;

    r = store_run(locked, "UPDATE desktops SET data_volume = ? WHERE name = ?", "ss", volume,
                  name);
    if (r < 0)
        return r;
    return r == 0 ? -ENOENT : 0;
}

int
store_desk_set_image_version(struct store *s, const char *name, unsigned version)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    int r;

    r = store_run(locked, "UPDATE desktops SET image_version = ? WHERE name = ?", "us", version,
                  name);
    if (r < 0)
        return r;
    return r == 0 ? -ENOENT : 0;
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
    r = pool_get_locked(locked, name, &p);
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
store_image_retire(struct store *s, const char *name, unsigned version, char **ret_path)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int64_t busy = 0;
    int r;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_prepare(locked, &st, "SELECT " IMAGE_COLUMNS " FROM images "
                      "WHERE name = ? AND version = ?", "su", name, version);
    if (r < 0)
        return r;
    r = store_step(locked, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    if (sqlite3_column_int(st, 9) != 0)
        return -EALREADY;
    r = store_query_int(locked, &busy,
                        "SELECT (SELECT count(*) FROM desktops WHERE image = ?1 AND "
                        "image_version = ?2) + (SELECT count(*) FROM pools WHERE image = ?1 AND "
                        "(image_version = ?2 OR current_version = ?2)) + (SELECT count(*) FROM "
                        "operations o JOIN pools p ON p.name = o.pool WHERE p.image = ?1 AND "
                        "o.state = 'running' AND o.to_version = ?2)",
                        "su", name, version);
    if (r < 0)
        return r;
    if (busy > 0)
        return -EBUSY;
    r = store_run(locked, "UPDATE images SET retired = 1 WHERE name = ? AND version = ?", "su",
                  name, version);
    if (r < 0)
        return r;
    r = audit_locked(locked, NULL, "image.retired", NULL, NULL, NULL, name);
    if (r < 0)
        return r;
    *ret_path = column_strdup(st, 2);
    return store_tx_commit(&tx);
}

/* ---- operations ---- */

static int
op_from_row(sqlite3_stmt *st, struct operation **ret)
{
    _cleanup_(operation_freep) struct operation *o = xmalloc0(sizeof(*o));

    o->id = column_strdup(st, 0);
    o->kind = op_kind_from_string((const char *) sqlite3_column_text(st, 1));
    o->pool = column_strdup(st, 2);
    o->from_version = column_unsigned(st, 3);
    o->to_version = column_unsigned(st, 4);
    o->policy = op_policy_from_string((const char *) sqlite3_column_text(st, 5));
    o->warn = column_unsigned(st, 6);
    o->batch = column_unsigned(st, 7);
    o->state = op_state_from_string((const char *) sqlite3_column_text(st, 8));
    if (o->kind < 0 || o->policy < 0 || o->state < 0)
        return -EBADMSG;
    o->total = column_unsigned(st, 9);
    o->done = column_unsigned(st, 10);
    o->failed = column_unsigned(st, 11);
    o->step = column_strdup(st, 12);
    o->error = column_strdup(st, 13);
    o->created_by = column_strdup(st, 14);
    o->created_at = sqlite3_column_int64(st, 15);
    o->updated_at = sqlite3_column_int64(st, 16);
    o->finished_at = sqlite3_column_int64(st, 17);
    o->first_seq = column_unsigned(st, 18);
    *ret = TAKE_PTR(o);
    return 0;
}

DEFINE_STORE_COLLECT(collect_ops, struct operation, op_from_row, operation_list_free)

DEFINE_STORE_FETCH(fetch_op, struct operation, op_from_row)

static int
op_get_locked(struct store *s, const char *sql, const char *arg, struct operation **ret)
{
    return fetch_op(s, ret, sql, "s", arg);
}

int
store_op_start(struct store *s, const struct operation *in, struct operation **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    char id[UUID_STR_LEN];
    uuid_t uuid;
    int64_t now = now_sec();
    int r;

    if (!in || !in->pool || !op_kind_to_string(in->kind) || !op_policy_to_string(in->policy))
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = pool_get_locked(locked, in->pool, &p);
    if (r < 0)
        return r;
    if (p->deleting)
        return -ESHUTDOWN;
    r = op_get_locked(locked, "SELECT " OP_COLUMNS " FROM operations "
                      "WHERE pool = ? AND state = 'running'", in->pool, ret);
    if (r >= 0)
        return -EBUSY;
    if (r != -ENOENT)
        return r;
    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, id);
    r = store_run(locked,
                  "INSERT INTO operations (id, kind, pool, from_version, to_version, policy, "
                  "warn, batch, first_seq, state, step, created_by, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', 'starting', ?, ?, ?)",
                  "sssuusuuusll", id, op_kind_to_string(in->kind), in->pool,
                  p->current_version, in->to_version, op_policy_to_string(in->policy),
                  in->warn, in->batch > 0 ? in->batch : 1u, p->next_seq, in->created_by, now,
                  now);
    if (r < 0)
        return r;
    r = audit_locked(locked, in->created_by, in->kind == OP_KIND_REBASE ? "pool.rebase" :
                     "pool.refresh", in->pool, NULL, NULL, id);
    if (r < 0)
        return r;
    r = op_get_locked(locked, "SELECT " OP_COLUMNS " FROM operations WHERE id = ?", id, ret);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_op_get(struct store *s, const char *id, struct operation **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    return op_get_locked(locked, "SELECT " OP_COLUMNS " FROM operations WHERE id = ?", id, ret);
}

int
store_op_list(struct store *s, const char *pool, bool running_only, struct operation ***ret,
              size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(locked, &st,
                      "SELECT " OP_COLUMNS " FROM operations WHERE (?1 IS NULL OR pool = ?1) "
                      "AND (?2 = 0 OR state = 'running') ORDER BY created_at DESC, id",
                      "sb", pool, running_only);
    if (r < 0)
        return r;
    return collect_ops(locked, st, ret, ret_n);
}

int
store_op_progress(struct store *s, const char *id, unsigned total, unsigned done,
                  unsigned failed, const char *step)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    int r;

    r = store_run(locked,
                  "UPDATE operations SET total = ?, done = ?, failed = ?, step = ?, "
                  "updated_at = ? WHERE id = ? AND state = 'running' AND "
                  "(total != ?1 OR done != ?2 OR failed != ?3 OR step IS NOT ?4)",
                  "uuusls", total, done, failed, step, now_sec(), id);
    return r < 0 ? r : 0;
}

int
store_op_finish(struct store *s, const char *id, enum op_state state, const char *error,
                bool pin_back)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(operation_freep) struct operation *o = NULL;
    int64_t now = now_sec();
    int r;

    if (state == OP_STATE_RUNNING || !op_state_to_string(state))
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = op_get_locked(locked, "SELECT " OP_COLUMNS " FROM operations WHERE id = ?", id, &o);
    if (r < 0)
        return r;
    if (o->state != OP_STATE_RUNNING)
        return -ESTALE;
    r = store_run(locked,
                  "UPDATE operations SET state = ?, error = ?, updated_at = ?, finished_at = ?, "
                  "step = ? WHERE id = ?",
                  "ssllss", op_state_to_string(state), error, now, now,
                  state == OP_STATE_SUCCEEDED ? "done" : "stopped", id);
    if (r < 0)
        return r;
    if (state == OP_STATE_SUCCEEDED)
        r = store_run(locked, "UPDATE pools SET current_version = ? WHERE name = ?", "us",
                      o->to_version, o->pool);
    else if (pin_back)
        r = store_run(locked,
                      "UPDATE pools SET image_version = current_version "
                      "WHERE name = ? AND image_version = 0", "s", o->pool);
    if (r < 0)
        return r;
    r = audit_locked(locked, "reconciler", state == OP_STATE_SUCCEEDED ? "operation.succeeded"
                     : "operation.failed", o->pool, NULL, NULL, error ? error : id);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

/* ---- sessions ---- */

static int
session_from_row(sqlite3_stmt *st, struct session **ret)
{
    _cleanup_(session_freep) struct session *x = xmalloc0(sizeof(*x));
    const char *reason;

    x->id = column_strdup(st, 0);
    x->pool = column_strdup(st, 1);
    x->desktop = column_strdup(st, 2);
    x->user = column_strdup(st, 3);
    x->client = column_strdup(st, 4);
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

static int
session_get_locked(struct store *s, const char *id, struct session **ret)
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
                         char **ret_desk)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    _cleanup_free_ char *name = NULL;
    enum desk_state state;
    int r;

    if (p->mode == POOL_MODE_DEDICATED) {
        r = store_prepare(s, &st,
                          "SELECT name, state FROM desktops WHERE pool = ? AND owner = ? "
                          "ORDER BY seq LIMIT 1",
                          "ss", p->name, user);
        if (r < 0)
            return r;
        r = store_step(s, st);
        if (r < 0)
            return r;
        if (r > 0) {
            name = column_strdup(st, 0);
            state = desk_state_from_string((const char *) sqlite3_column_text(st, 1));
            if (state == DESK_STATE_FAILED)
                return -EIO;
            if (state != DESK_STATE_READY)
                return -EAGAIN;
            *ret_desk = TAKE_PTR(name);
            return 0;
        }
        store_stmt_release(TAKE_PTR(st));
    }
    r = store_prepare(s, &st,
                      "SELECT name FROM desktops WHERE pool = ? AND state = 'ready' "
                      "AND owner IS NULL ORDER BY seq LIMIT 1",
                      "s", p->name);
    if (r < 0)
        return r;
    r = store_step(s, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN;
    *ret_desk = column_strdup(st, 0);
    return 0;
}

int
store_session_acquire(struct store *s, const char *pool, const char *user, const char *client,
                      const char *actor, struct session **ret, bool *ret_existing)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    _cleanup_free_ char *desk = NULL;
    char id[UUID_STR_LEN];
    uuid_t uuid;
    int64_t now = now_sec();
    int r;

    if (!pool || !user)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = pool_get_locked(locked, pool, &p);
    if (r < 0)
        return r;
    if (p->deleting)
        return -ESHUTDOWN;
    r = session_find_active_locked(locked, pool, user, &x);
    if (r < 0)
        return r;
    if (r > 0) {
        *ret = TAKE_PTR(x);
        *ret_existing = true;
        return 0; /* read only: the rollback at cleanup is harmless */
    }

    r = session_pick_desk_locked(locked, p, user, &desk);
    if (r < 0)
        return r;
    /* the conditional UPDATE: only a ready desktop becomes assigned */
    r = store_run(locked,
                  "UPDATE desktops SET state = 'assigned', state_since = ?, "
                  "owner = CASE WHEN ? THEN ? ELSE owner END "
                  "WHERE name = ? AND state = 'ready'",
                  "lbss", now, p->mode == POOL_MODE_DEDICATED, user, desk);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN;
    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, id);
    r = store_run(locked,
                  "INSERT INTO sessions (id, pool, desktop, user, client, state, created_at, "
                  "last_heartbeat) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
                  "sssssll", id, pool, desk, user, client, now, now);
    if (r < 0)
        return r;
    r = audit_locked(locked, actor, "session.acquire", pool, desk, user, id);
    if (r < 0)
        return r;
    r = session_get_locked(locked, id, &x);
    if (r < 0)
        return r;
    r = store_tx_commit(&tx);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(x);
    *ret_existing = false;
    return 0;
}

int
store_session_get(struct store *s, const char *id, struct session **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!id)
        return -EINVAL;
    return session_get_locked(locked, id, ret);
}

int
store_session_list(struct store *s, const char *pool, const char *user, int state,
                   struct session ***ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    const char *state_s = state >= 0 ? session_state_to_string((enum session_state) state) : NULL;
    int r;

    r = store_prepare(locked, &st,
                      "SELECT " SESSION_COLUMNS " FROM sessions "
                      "WHERE (?1 IS NULL OR pool = ?1) AND (?2 IS NULL OR user = ?2) "
                      "AND (?3 IS NULL OR state = ?3) ORDER BY created_at, id",
                      "sss", pool, user, state_s);
    if (r < 0)
        return r;
    return collect_sessions(locked, st, ret, ret_n);
}

int
store_session_heartbeat(struct store *s, const char *id, struct session **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    int64_t now = now_sec();
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
    r = session_get_locked(locked, id, &x);
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

int
store_session_end(struct store *s, const char *id, enum session_end reason, const char *actor,
                  struct session **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(session_freep) struct session *x = NULL;
    const char *reason_s = session_end_to_string(reason);
    _cleanup_free_ char *action = NULL;
    int64_t now = now_sec();
    int r;

    if (!id || !reason_s)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    /* the conditional UPDATE: of a release racing an automatic logout,
     * exactly one ends the session */
    r = store_run(locked,
                  "UPDATE sessions SET state = 'ended', ended_at = ?, end_reason = ? "
                  "WHERE id = ? AND state = 'active'",
                  "lss", now, reason_s, id);
    if (r < 0)
        return r;
    if (r == 0) {
        r = session_get_locked(locked, id, &x);
        if (r < 0)
            return r;
        if (ret)
            *ret = TAKE_PTR(x);
        return -ESTALE;
    }
    r = session_get_locked(locked, id, &x);
    if (r < 0)
        return r;
    r = store_run(locked,
                  "UPDATE desktops SET state = 'releasing', state_since = ? "
                  "WHERE name = ? AND state IN ('assigned', 'in_use')",
                  "ls", now, x->desktop);
    if (r < 0)
        return r;
    action = xasprintf("session.%s", reason_s);
    r = audit_locked(locked, actor, action, x->pool, x->desktop, x->user, id);
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
store_session_set_password_expiry(struct store *s, const char *id, int64_t expires)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    int r;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_run(locked, "UPDATE sessions SET password_expires = ? WHERE id = ?", "ls", expires,
                  id);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
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
store_audit_list(struct store *s, unsigned limit, struct audit_entry **ret, size_t *ret_n)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    struct audit_entry *list = NULL;
    size_t n = 0, alloc = 0;
    int r;

    r = store_prepare(locked, &st,
                      "SELECT " AUDIT_COLUMNS " FROM audit ORDER BY id DESC LIMIT ?", "u",
                      limit);
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
        e->actor = column_strdup(st, 2);
        e->action = column_strdup(st, 3);
        e->pool = column_strdup(st, 4);
        e->desktop = column_strdup(st, 5);
        e->user = column_strdup(st, 6);
        e->detail = column_strdup(st, 7);
    }
    *ret = list;
    *ret_n = n;
    return 0;
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
    *ret = column_strdup(st, 0);
    return 0;
}
