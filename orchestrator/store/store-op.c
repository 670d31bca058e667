/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-op.c - rebase and refresh operations in the store
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
#include "store-priv.h"
#include "util.h"

static int
op_from_row(sqlite3_stmt *st, struct op **ret)
{
    _cleanup_(op_freep) struct op *o = xmalloc0(sizeof(*o));

    o->id = store_column_strdup(st, 0);
    o->kind = op_kind_from_string((const char *) sqlite3_column_text(st, 1));
    o->pool = store_column_strdup(st, 2);
    o->from_version = store_column_unsigned(st, 3);
    o->to_version = store_column_unsigned(st, 4);
    o->policy = op_policy_from_string((const char *) sqlite3_column_text(st, 5));
    o->warn = store_column_unsigned(st, 6);
    o->batch = store_column_unsigned(st, 7);
    o->state = op_state_from_string((const char *) sqlite3_column_text(st, 8));
    if (o->kind < 0 || o->policy < 0 || o->state < 0)
        return -EBADMSG;
    o->total = store_column_unsigned(st, 9);
    o->done = store_column_unsigned(st, 10);
    o->failed = store_column_unsigned(st, 11);
    o->step = store_column_strdup(st, 12);
    o->error = store_column_strdup(st, 13);
    o->created_by = store_column_strdup(st, 14);
    o->created_at = sqlite3_column_int64(st, 15);
    o->updated_at = sqlite3_column_int64(st, 16);
    o->finished_at = sqlite3_column_int64(st, 17);
    o->first_seq = store_column_unsigned(st, 18);
    *ret = TAKE_PTR(o);
    return 0;
}

DEFINE_STORE_COLLECT(collect_ops, struct op, op_from_row, op_list_free)

DEFINE_STORE_FETCH(fetch_op, struct op, op_from_row)

DEFINE_STORE_LIST(list_ops, struct op, collect_ops)

static int
op_get_locked(struct store *s, const char *sql, const char *arg, struct op **ret)
{
    return fetch_op(s, ret, sql, "s", arg);
}

int
store_op_start(struct store *s, const struct op *in, struct op **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(pool_freep) struct pool *p = NULL;
    char id[UUID_STR_LEN];
    uuid_t uuid;
    int64_t now = store_now_sec();
    int r;

    if (!in || !in->pool || !op_kind_to_string(in->kind) || !op_policy_to_string(in->policy))
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_pool_get_live_locked(locked, in->pool, &p);
    if (r < 0)
        return r;
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
    r = store_audit_locked(locked, in->created_by, in->kind == OP_KIND_REBASE ? "pool.rebase" :
                           "pool.refresh", in->pool, NULL, NULL, id);
    if (r < 0)
        return r;
    r = op_get_locked(locked, "SELECT " OP_COLUMNS " FROM operations WHERE id = ?", id, ret);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

int
store_op_get(struct store *s, const char *id, struct op **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    return op_get_locked(locked, "SELECT " OP_COLUMNS " FROM operations WHERE id = ?", id, ret);
}

int
store_op_list(struct store *s, const char *pool, bool running_only, struct op ***ret,
              size_t *ret_n)
{
    return list_ops(s, ret, ret_n,
                    "SELECT " OP_COLUMNS " FROM operations WHERE (?1 IS NULL OR pool = ?1) "
                    "AND (?2 = 0 OR state = 'running') ORDER BY created_at DESC, id",
                    "sb", pool, running_only);
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
                  "uuusls", total, done, failed, step, store_now_sec(), id);
    return r < 0 ? r : 0;
}

int
store_op_finish(struct store *s, const char *id, enum op_state state, const char *error,
                bool pin_back)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(op_freep) struct op *o = NULL;
    int64_t now = store_now_sec();
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
    r = store_audit_locked(locked, "reconciler", state == OP_STATE_SUCCEEDED ? "operation.succeeded"
                           : "operation.failed", o->pool, NULL, NULL, error ? error : id);
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}
