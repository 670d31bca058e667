/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.h - the SQLite state store: the source of truth. See store.c.
 *
 * Every function is one transaction; a state change is a conditional
 * UPDATE so two callers can never both win. Thread-safe: one connection,
 * serialised by a mutex inside struct store. Nothing here logs above debug.
 * Returned objects are the caller's; lists come with *_list_free().
 */
#pragma once

#include <stddef.h>

#include "desk.h"
#include "host.h"
#include "image.h"
#include "pool.h"
#include "op.h"
#include "parent.h"
#include "session.h"

struct store;

/* Opens (creating if needed) the database at PATH in WAL mode and runs
 * the schema migrations (store-schema.c). Returns 0 or negative errno;
 * *reterr_msg gets SQLite's explanation on failure. */
int store_open(const char *path, struct store **ret, char **reterr_msg);
struct store *store_close(struct store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store *, store_close);

/* "ok", "corrupt" (SQLite found the file damaged: an operator must act)
 * or "full" (the last write failed for want of space; reads go on). For
 * health; lock-free. */
const char *store_health(struct store *s);

/* Schema version after migrations. */
int store_schema_version(struct store *s);

/* Key/value settings of this state directory. -ENOENT when unset. */
int store_meta_get(struct store *s, const char *key, char **ret_value);
int store_meta_set(struct store *s, const char *key, const char *value);

/* Images. store_image_add() inserts IMG (img->version must be the next
 * version of img->name, else -EEXIST). store_image_get() with version 0
 * returns the newest version. -ENOENT when there is none. */
int store_image_next_version(struct store *s, const char *name, unsigned *ret_version);
int store_image_add(struct store *s, const struct image *img);
int store_image_get(struct store *s, const char *name, unsigned version, struct image **ret);
/* The same among versions that are not retired. */
int store_image_get_usable(struct store *s, const char *name, unsigned version,
                           struct image **ret);
/* All versions of NAME, or of all images when NAME is NULL, by name then version. */
int store_image_list(struct store *s, const char *name, struct image ***ret, size_t *ret_n);

/* Pools. -EEXIST on a duplicate name, -ENOENT on an unknown one; an image
 * that does not exist gives -ENOENT from store_pool_add(). */
int store_pool_add(struct store *s, const struct pool *p);
int store_pool_get(struct store *s, const char *name, struct pool **ret);
int store_pool_list(struct store *s, struct pool ***ret, size_t *ret_n);
int store_pool_set_sizes(struct store *s, const char *name, unsigned min, unsigned spare,
                         unsigned max);
/* Writes P's sizes and session policy (min, spare, max, groups,
 * idle_timeout, max_session, allow_redirection). -ENOENT for an unknown
 * pool, -ESHUTDOWN for one being deleted, -EINVAL for bad values. */
int store_pool_update(struct store *s, const struct pool *p);
/* Pins POOL to image VERSION (0: follow the latest). -ENOENT when the
 * pool or that version does not exist (or is retired). */
int store_pool_set_image_version(struct store *s, const char *name, unsigned version);
/* Marks the pool for deletion. Unless FORCE, refuses with -EBUSY (and
 * changes nothing) while any of its desktops is assigned/in_use/releasing;
 * the check and the update are one transaction. */
int store_pool_mark_deleting(struct store *s, const char *name, bool force);
/* Removes the pool row; -EBUSY while it still has desktops. */
int store_pool_remove(struct store *s, const char *name);
/* Sets how the pool makes desktops and clears a fallback (setting instant
 * again re-arms it). -ENOENT unknown pool or one being deleted. */
int store_pool_set_clone(struct store *s, const char *name, enum pool_clone clone);

/* Hosts (store-host.c). The local host (HOST_LOCAL, URI "": deskpoold's
 * `uri`) always exists. add: -EEXIST when the name or URI is taken.
 * update: max_desktops, reserve_memory, labels. set_admin: active or
 * draining (WARN: seconds before in-use desktops are logged off, 0:
 * never); -ENOENT for no such host. remove: -EBUSY while desktops are on
 * it, -EPERM for the local host. */
int store_host_add(struct store *s, const struct host *h);
int store_host_get(struct store *s, const char *name, struct host **ret);
int store_host_list(struct store *s, struct host ***ret, size_t *ret_n);
int store_host_update(struct store *s, const struct host *h);
int store_host_set_admin(struct store *s, const char *name, enum host_admin admin,
                         unsigned warn);
int store_host_remove(struct store *s, const char *name);
int store_host_count_desks(struct store *s, const char *name, unsigned *ret);

/* A desktop given up with its lost host (floating, a spare): in one
 * transaction, conditional on FROM (-ESTALE), its session ends
 * (host_lost), its domains are recorded as fences of its host and its row
 * goes, so the planner replaces it elsewhere. */
int store_desk_forget(struct store *s, const char *name, enum desk_state from);
/* A domain to destroy on HOST (with its overlay) when the host is back,
 * before anything else runs there: never two live copies of a desktop. */
struct fence {
    int64_t id;
    char *host;
    char *desktop;
    char *domain;
    char *volume;   /* its overlay's path, or NULL */
    int64_t created_at;
};
void fence_list_free(struct fence **f, size_t n);
/* HOST's fences (all when NULL), oldest first. */
int store_fence_list(struct store *s, const char *host, struct fence ***ret, size_t *ret_n);
/* Image IMAGE version VERSION on HOST: its path there (-ENOENT: not
 * there yet), and the record of its copy (or of finding it there
 * already, COPIED false: a pool the hosts share). */
int store_host_image_get(struct store *s, const char *host, const char *image, unsigned version,
                         char **ret_path);
int store_host_image_add(struct store *s, const char *host, const char *image, unsigned version,
                         const char *path, bool copied, uint64_t bytes, uint64_t ms);
/* Fence ID was carried out. */
int store_fence_done(struct store *s, int64_t id);

/* POOL's desktops by state: COUNTS[state] (_DESK_STATE_MAX entries). */
int store_pool_count_states(struct store *s, const char *pool, unsigned *counts);

/* Desktops. store_desk_create() allocates the next sequence number of
 * POOL and inserts a desktop in state provisioning, named "POOL-SEQ",
 * domain "INSTANCE.POOL-SEQ", a fresh UUID, backed by the pool's image
 * version (the newest when the pool follows latest). All one transaction. */
int store_desk_create(struct store *s, const char *pool, const char *instance, struct desk **ret);
/* The same on image version VERSION (0: the pool's current version). */
int store_desk_create_at(struct store *s, const char *pool, const char *instance,
                         unsigned version, struct desk **ret);
/* The same on HOST (NULL: the local host); -ENODEV when no such host
 * exists, -EBUSY when it is draining (no new desktop goes there). */
int store_desk_create_on(struct store *s, const char *pool, const char *instance,
                         unsigned version, const char *host, struct desk **ret);
/* Records the data disk of a dedicated desktop. */
int store_desk_set_data_volume(struct store *s, const char *name, const char *volume);
/* After an in-place rebase: the desktop now runs VERSION. */
int store_desk_set_image_version(struct store *s, const char *name, unsigned version);
int store_desk_get(struct store *s, const char *name, struct desk **ret);
/* Desktops of POOL (all when NULL), ordered by pool then sequence number. */
int store_desk_list(struct store *s, const char *pool, struct desk ***ret, size_t *ret_n);
/* Conditional transition FROM -> TO. -EINVAL when desk-state.c does not
 * allow it, -ESTALE when the desktop is no longer in FROM, -ENOENT when it
 * is gone. Moving to ready resets boot_failures and last_error. */
int store_desk_set_state(struct store *s, const char *name, enum desk_state from,
                         enum desk_state to);
int store_desk_set_volume(struct store *s, const char *name, const char *volume);
/* Records a failed boot: boot_failures + 1, last_error = ERROR; HOST when
 * the host failed (no space), not the desktop. */
int store_desk_record_failure(struct store *s, const char *name, const char *error, bool host);
/* A desktop quarantined for the host's failure goes back to provisioning
 * (failures reset) to be tried again. -ENOENT when it is not such a one. */
int store_desk_retry(struct store *s, const char *name);
/* The first step of every delete: FROM -> deleting, conditional on FROM
 * being the state the delete was planned from (FROM deleting: a delete
 * that is resumed, nothing changes), and in the same transaction the end
 * of an active session on it for REASON. -ESTALE when the desktop left
 * FROM meanwhile (e.g. an acquire assigned it): then nothing changed and
 * nothing may be destroyed. -ENOENT when it is gone. */
int store_desk_mark_deleting(struct store *s, const char *name, enum desk_state from,
                             enum session_end reason);
/* Removes the row; only desktops in state deleting (else -EINVAL). */
int store_desk_remove(struct store *s, const char *name);
/* Records the parent the desktop's overlay is about to be backed by
 * (NULL: none, a booted desktop), conditional on that parent being ready:
 * -ESTALE when it is not (any more), -ENOENT unknown desktop. */
int store_desk_set_parent(struct store *s, const char *name, const char *parent);
/* The desktop's MAC, made (random, 52:54:00 with the last octet a
 * multiple of 8: a block of 8 addresses per desktop, unique in the store)
 * when it has none. Returns 0 and a new string. */
int store_desk_ensure_mac(struct store *s, const char *name, char **ret_mac);
/* An instant clone's wipe starts a new incarnation: conditional on the
 * desktop being releasing with no previous incarnation pending, its
 * domain becomes old_domain and DOMAIN/UUID (the alternate name, a new
 * UUID) its current ones, volume unset. -ESTALE otherwise. */
int store_desk_begin_incarnation(struct store *s, const char *name, const char *domain,
                                 const char *uuid);
/* The previous incarnation OLD_DOMAIN is gone: forgets it (conditional on
 * it still being the one recorded). */
int store_desk_end_incarnation(struct store *s, const char *name, const char *old_domain);

/* Parents of instant clones (parent.h). store_parent_create() inserts one
 * in building for IMAGE VERSION (not retired, else -ENOENT) and TEMPLATE
 * with DIGEST, named "IMAGE.vVERSION.TEMPLATE.ID" with domain
 * "INSTANCE.parent.NAME" and a fresh UUID. */
int store_parent_create(struct store *s, const char *image, unsigned version,
                        const char *template, const char *digest, const char *instance,
                        struct parent **ret);
int store_parent_get(struct store *s, const char *name, struct parent **ret);
/* All parents, oldest first. */
int store_parent_list(struct store *s, struct parent ***ret, size_t *ret_n);
/* Where its overlay and saved image are (recorded before they are made,
 * so a crash leaves nothing unnamed). */
int store_parent_set_files(struct store *s, const char *name, const char *volume,
                           const char *saved);
/* building -> ready. -ESTALE when it is not building. */
int store_parent_set_ready(struct store *s, const char *name, uint64_t saved_bytes,
                           unsigned boot_ms, unsigned save_ms);
/* A failed build: failures + 1 and ERROR; at MAX_FAILURES it fails as
 * store_parent_fail() (*ret_failed true). */
int store_parent_record_failure(struct store *s, const char *name, const char *error,
                                unsigned max_failures, bool *ret_failed);
/* building/ready -> failed with ERROR, and in the same transaction every
 * pool that makes instant clones of its image and template and runs or
 * waits for its version falls back to booting, with the reason (audited).
 * -ESTALE when it is failed or deleting already. */
int store_parent_fail(struct store *s, const char *name, const char *error);
/* -> deleting, conditional on no desktop naming it (-EBUSY); 0 also when
 * it is deleting already (a delete that is resumed). */
int store_parent_mark_deleting(struct store *s, const char *name);
/* Removes the row; only a parent in deleting (else -EINVAL). */
int store_parent_remove(struct store *s, const char *name);

/* Sessions. Each change and its audit entry are one transaction.
 *
 * store_session_acquire(): USER's active session in POOL when there is one
 * (*ret_existing true, nothing changes); else a new session on a desktop
 * that the conditional UPDATE moved from ready to assigned (floating: the
 * lowest ready one; dedicated: the user's own, or an unowned one that
 * becomes theirs). -ENOENT unknown pool, -ESHUTDOWN pool being deleted,
 * -EAGAIN nothing can be handed out now, -EIO the user's dedicated
 * desktop is quarantined. */
int store_session_acquire(struct store *s, const char *pool, const char *user,
                          const char *client, const char *actor, struct session **ret,
                          bool *ret_existing);
/* The acquire the broker's route makes: the same, never on a desktop of
 * the hosts in DOWN (comma-separated names, NULL: none: they do not
 * answer), and on one of DRAINING's only when no other host has one
 * ready. With CHECK_GROUPS, -EPERM when the pool is not entitled to any
 * of GROUPS. RET gets the pool as the transaction read it (also on a
 * failure after it was read: -EAGAIN, -EPERM), and on success the session
 * and its desktop's current domain and host; free it with
 * store_acquired_done() whatever the result. */
struct store_acquire {
    const char *pool, *user, *client, *actor;
    const char *down, *draining;
    const char *const *groups;
    size_t n_groups;
    bool check_groups;
    /* a console ticket for the session (new or existing): its SHA-256
     * (hex) and expiry (unix seconds); NULL: none */
    const char *ticket_hash;
    int64_t ticket_expires;
};
struct store_acquired {
    struct session *session;
    bool existing;           /* the user's session from before: nothing changed */
    struct pool *pool;
    char *domain, *host;
};
int store_session_acquire_on(struct store *s, const struct store_acquire *q,
                             struct store_acquired *ret);
void store_acquired_done(struct store_acquired *a);
int store_session_get(struct store *s, const char *id, struct session **ret);

/* Console tickets (store-ticket.c). Redeems the ticket whose SHA-256 is
 * HASH (hex): one conditional UPDATE marks it used when it is unused, not
 * expired and its session active; *RET gets the session and its desktop's
 * domain and host, and the audit log "console.open" by ACTOR. -EACCES when
 * refused, with *RET_REFUSAL a static reason for the log ("unknown",
 * "already used", "expired", "session ended") and *RET_REFUSED_SESSION
 * the ticket's session when it is known (free it). */
int store_ticket_redeem(struct store *s, const char *hash, const char *actor,
                        struct store_acquired *ret, const char **ret_refusal,
                        char **ret_refused_session);
/* The ids of IDS_JSON (a JSON array of session ids) that are not active
 * sessions: ended or unknown. */
int store_sessions_inactive(struct store *s, const char *ids_json, char ***ret,
                            size_t *ret_n);
/* Removes the tickets that expired before BEFORE. Returns how many. */
int store_ticket_prune(struct store *s, int64_t before);
/* Sessions filtered by POOL, USER (NULL: any) and STATE (< 0: any),
 * oldest first (by created_at, then id). */
int store_session_list(struct store *s, const char *pool, const char *user, int state,
                       struct session ***ret, size_t *ret_n);
/* One page of that list: at most LIMIT sessions, those after the session
 * created at AFTER_CREATED with id AFTER_ID in its order (AFTER_ID NULL:
 * from the first). To learn whether more follow, ask for one more than
 * you show. Returns 0 or a negative errno. */
int store_session_list_page(struct store *s, const char *pool, const char *user, int state,
                            int64_t after_created, const char *after_id, unsigned limit,
                            struct session ***ret, size_t *ret_n);
/* Retention, for the daemon's housekeeping: removes at most LIMIT sessions
 * that ended before BEFORE (unix seconds), oldest first, in one
 * transaction; an active session is never removed, whatever its age.
 * Returns the number removed (call it again while that is LIMIT, so that
 * one call never holds the store long), or a negative errno. Does not log:
 * the caller logs what it removed. BEFORE is now - session_retention
 * (docs/config.md; 0 there means keep everything: do not call it). */
int store_session_prune(struct store *s, int64_t before, unsigned limit);
/* Records a heartbeat; the first one moves the desktop assigned -> in_use.
 * -ENOENT unknown, -ESTALE ended (*ret is then set to the ended session). */
int store_session_heartbeat(struct store *s, const char *id, struct session **ret);
/* Ends an active session for REASON and moves its desktop to releasing
 * (the reconciler then wipes or locks it). Exactly one of racing callers
 * gets 0; the others -ESTALE (and the ended session in *ret, if asked). */
int store_session_end(struct store *s, const char *id, enum session_end reason,
                      const char *actor, struct session **ret);
int store_session_set_password_expiry(struct store *s, const char *id, int64_t expires);
/* The reconciler's automatic logout: store_session_end() that stands only
 * while the session's last heartbeat is still HEARTBEAT (< 0: any), so a
 * heartbeat that came after the planner looked cancels an idle logout.
 * -ESTALE when it lost that race or the session ended already. */
int store_session_expire(struct store *s, const char *id, enum session_end reason,
                         int64_t heartbeat, const char *actor);

/* Retires image version VERSION of NAME: refused with -EBUSY (nothing
 * changes) while a desktop runs it, a pool pins it, is moving to it or
 * runs it, or a parent of instant clones was made of it (it goes once no
 * pool wants it); -ENOENT unknown; -EALREADY retired. On success *ret_path is the
 * file the caller may now delete. One transaction. */
int store_image_retire(struct store *s, const char *name, unsigned version, char **ret_path);

/* Operations. store_op_start() inserts a running operation; -EBUSY when
 * the pool has one running already (then *ret is that one: a second
 * refresh can wait on the first). -ENOENT unknown pool. */
int store_op_start(struct store *s, const struct op *in, struct op **ret);
int store_op_get(struct store *s, const char *id, struct op **ret);
/* Operations of POOL (NULL: all), newest first; RUNNING_ONLY filters. */
int store_op_list(struct store *s, const char *pool, bool running_only,
                  struct op ***ret, size_t *ret_n);
int store_op_progress(struct store *s, const char *id, unsigned total, unsigned done,
                      unsigned failed, const char *step);
/* Ends a running operation. SUCCEEDED moves the pool's current version to
 * the operation's target; FAILED with PIN_BACK pins a pool that followed
 * latest to the version it runs, so the failed version is not retried. */
int store_op_finish(struct store *s, const char *id, enum op_state state, const char *error,
                    bool pin_back);

/* Appends to the audit log. Any string but ACTION may be NULL. */
int store_audit(struct store *s, const char *actor, const char *action, const char *pool,
                const char *desktop, const char *user, const char *detail);

/* Audit rows, newest first, at most LIMIT. */
struct audit_entry {
    int64_t id;
    int64_t at; /* unix seconds */
    char *actor, *action, *pool, *desktop, *user, *detail;
};
void audit_list_free(struct audit_entry *a, size_t n);
int store_audit_list(struct store *s, unsigned limit, struct audit_entry **ret, size_t *ret_n);
/* One page of the audit log, newest first: at most LIMIT rows with an id
 * below BEFORE_ID (<= 0: from the newest) written at SINCE or later (unix
 * seconds; 0: any). Returns 0 or a negative errno. */
int store_audit_list_page(struct store *s, int64_t before_id, int64_t since, unsigned limit,
                          struct audit_entry **ret, size_t *ret_n);
/* Retention, for the daemon's housekeeping: removes at most LIMIT audit
 * rows written before BEFORE (unix seconds), oldest first, in one
 * transaction. Returns the number removed (call it again while that is
 * LIMIT), or a negative errno. Does not log. BEFORE is now -
 * audit_retention (0 there: keep everything, do not call it). */
int store_audit_prune(struct store *s, int64_t before, unsigned limit);
