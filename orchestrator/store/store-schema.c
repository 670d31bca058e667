/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-schema.c - the state store's schema, as numbered migrations
 *
 * Owns the SQL that creates and evolves the tables, and nothing else.
 *
 * DESIGN
 *   store_migrations[i] takes a database from version i to version i + 1;
 *   the version lives in `PRAGMA user_version` (0 for a new file). All
 *   pending migrations and the version bump run in one BEGIN IMMEDIATE
 *   transaction, so a crash or a second daemon never sees half a schema.
 *   A database whose version is newer than ELEMENTSOF(store_migrations)
 *   was written by newer code and is refused (-EPROTO): we cannot know
 *   what its extra columns mean.
 *   Adding a migration is appending one string to the array. Never edit or
 *   reorder a migration that has shipped; write a new one.
 *   The SQL here is constant text run with sqlite3_exec(); nothing is ever
 *   built from user input (store.c binds every value).
 */
#include "config.h"

#include <stdio.h>

#include "log.h"
#include "store-priv.h"

static const char *const store_migrations[] = {
    /* 1: settings, images, pools, desktops, audit log */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE images ("
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL CHECK (version > 0),"
    "  path TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  virtual_size INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT,"
    "  created_by TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (name, version)"
    ");"
    "CREATE TABLE pools ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  image TEXT NOT NULL,"
    "  image_version INTEGER NOT NULL DEFAULT 0,"
    "  template TEXT NOT NULL,"
    "  mode TEXT NOT NULL,"
    "  min INTEGER NOT NULL,"
    "  spare INTEGER NOT NULL,"
    "  max INTEGER NOT NULL,"
    "  deleting INTEGER NOT NULL DEFAULT 0,"
    "  force_delete INTEGER NOT NULL DEFAULT 0,"
    "  next_seq INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE desktops ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  pool TEXT NOT NULL REFERENCES pools(name),"
    "  seq INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  domain TEXT NOT NULL UNIQUE,"
    "  volume TEXT,"
    "  image TEXT NOT NULL,"
    "  image_version INTEGER NOT NULL,"
    "  owner TEXT,"
    "  boot_failures INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  state_since INTEGER NOT NULL"
    ");"
    "CREATE INDEX desktops_pool ON desktops(pool, seq);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT,"
    "  action TEXT NOT NULL,"
    "  pool TEXT,"
    "  desktop TEXT,"
    "  user TEXT,"
    "  detail TEXT"
    ");",
    /* 2: broker sessions and the pools' session policy */
    "ALTER TABLE pools ADD COLUMN groups TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE pools ADD COLUMN idle_timeout INTEGER NOT NULL DEFAULT 900;"
    "ALTER TABLE pools ADD COLUMN max_session INTEGER NOT NULL DEFAULT 43200;"
    "ALTER TABLE pools ADD COLUMN allow_redirection INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  pool TEXT NOT NULL,"
    "  desktop TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  client TEXT,"
    "  state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_heartbeat INTEGER NOT NULL,"
    "  ended_at INTEGER NOT NULL DEFAULT 0,"
    "  end_reason TEXT,"
    "  password_expires INTEGER NOT NULL DEFAULT 0"
    ");"
    /* the rules, as constraints: one active session per user and pool,
     * one per desktop */
    "CREATE UNIQUE INDEX sessions_active_user ON sessions(pool, user) "
    "  WHERE state = 'active';"
    "CREATE UNIQUE INDEX sessions_active_desktop ON sessions(desktop) "
    "  WHERE state = 'active';"
    "CREATE INDEX sessions_by_state ON sessions(state, pool);",
    /* 3: image updates: versions pools run, retired images, data disks,
     * operations (rebase, refresh) */
    "ALTER TABLE pools ADD COLUMN current_version INTEGER NOT NULL DEFAULT 0;"
    "UPDATE pools SET current_version = (SELECT IFNULL(MAX(version), 0) FROM images "
    "  WHERE images.name = pools.image "
    "  AND (pools.image_version = 0 OR images.version = pools.image_version));"
    "ALTER TABLE images ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE desktops ADD COLUMN data_volume TEXT;"
    "CREATE TABLE operations ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  pool TEXT NOT NULL,"
    "  from_version INTEGER NOT NULL,"
    "  to_version INTEGER NOT NULL,"
    "  policy TEXT NOT NULL,"
    "  warn INTEGER NOT NULL DEFAULT 0,"
    "  batch INTEGER NOT NULL DEFAULT 1,"
    "  first_seq INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL,"
    "  total INTEGER NOT NULL DEFAULT 0,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  failed INTEGER NOT NULL DEFAULT 0,"
    "  step TEXT,"
    "  error TEXT,"
    "  created_by TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL DEFAULT 0"
    ");"
    /* one running operation per pool: two refreshes never overlap */
    "CREATE UNIQUE INDEX operations_running ON operations(pool) WHERE state = 'running';"
    /* acquire picks the lowest ready desktop of a pool: without this index
     * it walked every assigned one first (O(pool size) per acquire) */
    "CREATE INDEX desktops_pool_state ON desktops(pool, state, seq);",
    /* 4: a failure that was the host's (no space), not the guest's: such a
     * quarantined desktop is retried once the host may have recovered */
    "ALTER TABLE desktops ADD COLUMN host_failure INTEGER NOT NULL DEFAULT 0;",
    /* 5: instant clones: a pool's clone method and why it fell back to
     * booting, the parents, and per desktop its parent, MAC and previous
     * incarnation. Existing pools keep booting (the operator opts in). */
    "ALTER TABLE pools ADD COLUMN clone TEXT NOT NULL DEFAULT 'boot';"
    "ALTER TABLE pools ADD COLUMN clone_fallback TEXT;"
    "ALTER TABLE desktops ADD COLUMN parent TEXT;"
    "ALTER TABLE desktops ADD COLUMN mac TEXT;"
    "ALTER TABLE desktops ADD COLUMN old_domain TEXT;"
    /* no two desktops on one MAC: the store checks what libvirt does not */
    "CREATE UNIQUE INDEX desktops_mac ON desktops(mac) WHERE mac IS NOT NULL;"
    "CREATE INDEX desktops_parent ON desktops(parent) WHERE parent IS NOT NULL;"
    "CREATE TABLE parents ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  image TEXT NOT NULL,"
    "  image_version INTEGER NOT NULL,"
    "  template TEXT NOT NULL,"
    "  template_digest TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  domain TEXT NOT NULL UNIQUE,"
    "  volume TEXT,"
    "  saved TEXT,"
    "  saved_bytes INTEGER NOT NULL DEFAULT 0,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  boot_ms INTEGER NOT NULL DEFAULT 0,"
    "  save_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  state_since INTEGER NOT NULL"
    ");",
    /* 6: many hosts: the hosts (the daemon's own `uri` is "local", which
     * every existing desktop is on), each desktop's host, and a pool's
     * placement policy and the labels its hosts must have */
    "CREATE TABLE hosts ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  uri TEXT NOT NULL UNIQUE,"
    "  admin TEXT NOT NULL DEFAULT 'active',"
    "  max_desktops INTEGER NOT NULL DEFAULT 0,"
    "  reserve_memory INTEGER NOT NULL DEFAULT 0,"
    "  labels TEXT NOT NULL DEFAULT '',"
    "  storage_dir TEXT,"
    "  console_address TEXT,"
    "  drain_warn INTEGER NOT NULL DEFAULT 0,"
    "  drain_since INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");"
    "ALTER TABLE desktops ADD COLUMN host TEXT NOT NULL DEFAULT 'local';"
    "CREATE INDEX desktops_host ON desktops(host);"
    "ALTER TABLE pools ADD COLUMN placement TEXT NOT NULL DEFAULT 'spread';"
    "ALTER TABLE pools ADD COLUMN host_labels TEXT NOT NULL DEFAULT '';"
    /* domains of desktops replaced while their host was lost: destroyed
     * there before anything else runs on it when it comes back */
    "CREATE TABLE fences ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  host TEXT NOT NULL,"
    "  desktop TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  volume TEXT,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX fences_host ON fences(host);"
    /* image versions copied to a host (or found there, checked) */
    "CREATE TABLE host_images ("
    "  host TEXT NOT NULL,"
    "  image TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  path TEXT NOT NULL,"
    "  copied INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  ms INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (host, image, version)"
    ");"
    /* its URI is deskpoold's `uri` setting, whatever that is now */
    "INSERT INTO hosts (name, uri, created_at) VALUES ('local', '', strftime('%s', 'now'));",
    /* 7: console tickets for the browser gateway: only a ticket's SHA-256 is
     * kept (store-ticket.c) */
    "CREATE TABLE console_tickets ("
    "  hash TEXT PRIMARY KEY NOT NULL,"
    "  session TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX console_tickets_expires ON console_tickets(expires_at);",
    /* 8: append here. */
};

int
store_schema_latest(void)
{
    return (int) ELEMENTSOF(store_migrations);
}

static int
schema_exec(sqlite3 *db, const char *sql, char **reterr_msg)
{
    _cleanup_(sqlite3_freep) char *err = NULL;
    int rc;

    rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_debug("SQLite failed on schema statement: %s", err ? err : sqlite3_errstr(rc));
        if (reterr_msg)
            *reterr_msg = xasprintf("Cannot update the state database schema: %s.",
                                    err ? err : sqlite3_errstr(rc));
        return store_errno(rc);
    }
    return 0;
}

static int
schema_read_version(sqlite3 *db, int *ret, char **reterr_msg)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (reterr_msg)
            *reterr_msg = xasprintf("Cannot read the state database version: %s.",
                                    sqlite3_errmsg(db));
        return store_errno(rc);
    }
    *ret = sqlite3_column_int(st, 0);
    return 0;
}

static int
schema_migrate_locked(sqlite3 *db, int *ret_version, char **reterr_msg)
{
    int version = 0, latest = store_schema_latest();
    int r;

    r = schema_read_version(db, &version, reterr_msg);
    if (r < 0)
        return r;
    if (version < 0 || version > latest) {
        if (reterr_msg)
            *reterr_msg = xasprintf("The state database has schema version %d, but this "
                                    "deskpool only knows versions up to %d; refusing to "
                                    "use it (was it written by a newer deskpool?).",
                                    version, latest);
        return -EPROTO;
    }
    for (int v = version; v < latest; v++) {
        _cleanup_free_ char *bump = NULL;

        log_debug("Migrating the state database from version %d to %d.", v, v + 1);
        r = schema_exec(db, store_migrations[v], reterr_msg);
        if (r < 0)
            return r;
        /* PRAGMA takes no bound parameters; this is an integer we own. */
        bump = xasprintf("PRAGMA user_version = %d", v + 1);
        r = schema_exec(db, bump, reterr_msg);
        if (r < 0)
            return r;
    }
    *ret_version = latest;
    return 0;
}

int
store_schema_migrate(sqlite3 *db, int *ret_version, char **reterr_msg)
{
    int version = 0;
    int r;

    /* IMMEDIATE: two processes opening the same new file migrate in turn. */
    r = schema_exec(db, "BEGIN IMMEDIATE", reterr_msg);
    if (r < 0)
        return r;
    r = schema_migrate_locked(db, &version, reterr_msg);
    if (r >= 0)
        r = schema_exec(db, "COMMIT", reterr_msg);
    if (r < 0) {
        /* Nothing sensible to do if the rollback fails: the connection is closed next. */
        (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    *ret_version = version;
    return 0;
}
