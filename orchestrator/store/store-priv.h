/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-priv.h - internals shared by store.c, store-schema.c and the store
 * tests. Nothing outside those files includes this. See store.c. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

struct store {
    sqlite3 *db;          /* one connection, SQLITE_OPEN_FULLMUTEX */
    pthread_mutex_t lock; /* held for the whole of every public call */
    int version;          /* schema version after migrations */
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
