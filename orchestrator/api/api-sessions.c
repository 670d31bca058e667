/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-sessions.c - the broker's routes: acquire, release, heartbeat
 *
 * DESIGN
 *   Acquire is one store transaction (store_session_acquire_on(): it reads
 *   the pool, checks the user's entitlement, and a conditional UPDATE
 *   moves a ready desktop to assigned, so two requests can never get the
 *   same desktop; it also returns the desktop's domain and host, and
 *   writes the browser's console ticket when console_gateway_url is set:
 *   api-console.c), then the console: a one-time password on the running
 *   domain (console.c). When no desktop can be handed out
 *   the request either fails at once (503 pool_exhausted: the pool is at
 *   max and nothing is on its way) or registers as waiting demand, which
 *   makes the planner grow the pool, and waits for a desktop to become
 *   ready, up to acquire_timeout (then 503 with Retry-After). The wait
 *   holds no thread: the handler returns API_RETRY and api.c runs it again
 *   when the reconciler reports a ready desktop (at least every 250 ms);
 *   req->wait_deadline and req->wait_pool carry the wait across runs, and
 *   every answer, on any path, stops counting it as waiting demand.
 *   Release ends the session in the store (exactly once, even racing the
 *   automatic logout), revokes the console password at once and wakes the
 *   reconciler, which wipes (floating) or locks (dedicated) the desktop.
 *   Entitlement is checked before anything is assigned.
 */
#include "config.h"

#include <time.h>

#include "api-error.h"
#include "api-priv.h"
#include "console.h"
#include "history.h"
#include "hook.h"
#include "log.h"
#include "name.h"
#include "ticket.h"
#include "util.h"

#define ACQUIRE_RETRY_AFTER 10

/* A browser's way to the console: the ticket and the gateway's URL. */
struct session_links {
    const char *gateway_url;
    const char *ticket;
    int64_t expires;
};

static json_object *
session_to_json(const struct session *x, const struct console_grant *g,
                const struct session_links *links)
{
    json_object *o = json_object_new_object();

    json_add_string(o, "id", x->id);
    json_add_string(o, "pool", x->pool);
    json_add_string(o, "desktop", x->desktop);
    json_add_string(o, "user", x->user);
    json_add_string(o, "client", x->client);
    json_add_string(o, "state", session_state_to_string(x->state));
    json_add_time(o, "created_at", x->created_at);
    json_add_time(o, "last_heartbeat", x->last_heartbeat);
    json_add_time(o, "ended_at", x->ended_at);
    json_add_string(o, "end_reason", x->state == SESSION_STATE_ENDED
                                         ? session_end_to_string(x->end_reason) : NULL);
    if (g) {
        json_object *c = json_object_new_object();

        json_add_string(c, "protocol", g->protocol);
        json_add_string(c, "host", g->host);
        json_add_int(c, "port", g->port);
        json_add_string(c, "password", g->password);
        json_add_time(c, "password_expires", g->expires);
        if (links && links->ticket)
            api_console_add_links(c, links->gateway_url, links->ticket, links->expires);
        json_object_object_add(o, "connection", c);
    }
    return o;
}

/* True when POOL cannot give anyone a desktop soon: nothing ready or on its
 * way, and no room to make one. */
static bool
pool_exhausted(struct store *s, const struct pool *p)
{
    unsigned c[_DESK_STATE_MAX], live = 0, coming = 0, failed;

    if (store_pool_count_states(s, p->name, c) < 0)
        return false;
    failed = c[DESK_STATE_FAILED];
    for (int i = 0; i < _DESK_STATE_MAX; i++) {
        enum desk_state st = (enum desk_state) i;

        if (st != DESK_STATE_FAILED && st != DESK_STATE_DELETING)
            live += c[i];
        if (st == DESK_STATE_READY || desk_state_is_pending(st) || st == DESK_STATE_RELEASING)
            coming += c[i];
    }
    return coming == 0 && live + failed >= p->max;
}

/* Stops counting REQ as waiting for a desktop (see acquire_session()). */
static void
acquire_stop_waiting(struct api_request *req)
{
    if (!req->wait_pool)
        return;
    reconciler_add_waiting(req->api->deps.reconciler, req->wait_pool, -1);
    free(req->wait_pool);
    req->wait_pool = NULL;
}

/* Answers 403 for USER not entitled to POOL, with the audit entry. */
static void
acquire_denied(struct api_request *req, struct api_reply *reply, const char *pool,
               const char *user)
{
    (void) store_audit(req->api->deps.store, api_actor(req), "session.denied", pool, NULL,
                       user, "no entitled group");
    log_notice("User '%s' is not entitled to pool '%s'", user, pool);
    api_reply_errorf(reply, -EPERM, "User '%s' is in no group entitled to pool '%s'.", user,
                     pool);
}

/* One try at a session: 0 with *RET filled, API_RETRY when the request
 * must wait for a desktop (the handler runs again, see api_retry()), or a
 * negative errno with a reply explaining why not. One store transaction
 * reads the pool, checks the entitlement and assigns the desktop. The
 * wait ends at req->wait_deadline, set on the first run. */
static int
acquire_session(struct api_request *req, struct api_reply *reply, const char *pool,
                const struct api_acquire_req *q, unsigned timeout, const struct ticket *t,
                int64_t ticket_expires, struct store_acquired *ret)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_free_ char *down = NULL, *draining = NULL;
    uint64_t now = now_usec();
    int r;

    if (req->wait_deadline == 0)
        req->wait_deadline = now + (uint64_t) timeout * 1000000ULL;
    (void) hosts_avoid(reconciler_get_hosts(d->reconciler), &down, &draining);
    r = store_session_acquire_on(d->store, &(struct store_acquire) {
                                     .pool = pool, .user = q->user, .client = q->client,
                                     .actor = api_actor(req), .down = down,
                                     .draining = draining,
                                     .groups = (const char *const *) q->groups,
                                     .n_groups = q->n_groups, .check_groups = true,
                                     .ticket_hash = t ? t->hash : NULL,
                                     .ticket_expires = ticket_expires,
                                 }, ret);
    if (r == -EAGAIN) {
        if (ret->pool->mode == POOL_MODE_FLOATING && pool_exhausted(d->store, ret->pool))
            r = -EBUSY;
        else if (req->cancelled)
            r = -ESHUTDOWN;
        else if (now >= req->wait_deadline)
            r = -ETIMEDOUT;
    }
    if (r == -EAGAIN) {
        /* the planner grows the pool for waiting acquires */
        if (!req->wait_pool) {
            req->wait_pool = xstrdup(pool);
            reconciler_add_waiting(d->reconciler, pool, +1);
        }
        return api_retry(req);
    }

    switch (r) {
    case 0:
        return 0;
    case -EPERM:
        acquire_denied(req, reply, pool, q->user);
        return r;
    case -EBUSY:
        api_reply_error_code(reply, -EAGAIN, "pool_exhausted", "Pool has no free desktop and "
                             "is at its maximum size.");
        return r;
    case -ETIMEDOUT:
        api_reply_errorf(reply, -EAGAIN, "No desktop of pool '%s' became ready within %u s; "
                         "try again.", pool, timeout);
        reply->retry_after = ACQUIRE_RETRY_AFTER;
        return r;
    case -ESHUTDOWN:
        api_reply_errorf(reply, -EAGAIN, "deskpoold is shutting down.");
        return r;
    case -EIO:
        api_reply_errorf(reply, -EAGAIN, "The desktop of user '%s' in pool '%s' is "
                         "quarantined; an operator must look at it.", q->user, pool);
        return r;
    default:
        if (r == -ENOENT)
            api_reply_errorf(reply, r, "No pool '%s'.", pool);
        else
            api_reply_errorf(reply, r, "Cannot acquire a desktop of pool '%s'.", pool);
        return r;
    }
}

/* libvirt is away on every host: the same answers as an acquire for an
 * unknown pool or a user not entitled, else 503 (nothing is handed out
 * that would have to be taken back: no console can be opened). */
static int
acquire_no_host(struct api_request *req, struct api_reply *reply, const char *pool,
                const struct api_acquire_req *q)
{
    _cleanup_(pool_freep) struct pool *p = NULL;
    int r;

    r = store_pool_get(req->api->deps.store, pool, &p);
    if (r < 0)
        return api_reply_errorf(reply, r, r == -ENOENT ? "No pool '%s'." :
                                "Cannot read pool '%s'.", pool);
    if (!pool_entitled(p, (const char *const *) q->groups, q->n_groups)) {
        acquire_denied(req, reply, pool, q->user);
        return 0;
    }
    api_reply_errorf(reply, -ENOTCONN, "deskpoold's connection to libvirt at '%s' is down "
                     "and being restored; try again shortly.", req->api->deps.uri);
    reply->retry_after = ACQUIRE_RETRY_AFTER;
    return 0;
}

/* The acquire: returns API_RETRY while it waits for a desktop. The pool
 * name in the path is valid (api.c checks {name} segments). */
static int
sessions_acquire(struct api_request *req, struct api_reply *reply)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    _cleanup_(store_acquired_done) struct store_acquired a = { 0 };
    _cleanup_free_ char *err = NULL, *body = NULL;
    struct api_acquire_req q = { 0 };
    struct console_grant g = { 0 };
    const char *pool = req->params[0], *domain;
    struct ticket t = { .text = { 0 } };
    int64_t ticket_expires = 0;
    struct session *x;
    int r;

    if (!req->body)
        return api_reply_error(reply, -EINVAL, "This request needs a JSON object body.");
    body = json_to_string_dup(req->body);
    r = api_acquire_req_parse(body, strlen(body), &q, &err);
    if (r < 0)
        return api_reply_error(reply, r, err);
    if (!hosts_any_up(reconciler_get_hosts(d->reconciler))) {
        r = acquire_no_host(req, reply, pool, &q);
        api_acquire_req_done(&q);
        return r;
    }
    api_settings_get(req->api, &set);
    /* a browser console ticket, written with the session (ticket.c) */
    if (set.console_gateway_url[0] != '\0') {
        r = ticket_new(&t);
        if (r < 0) {
            api_acquire_req_done(&q);
            return api_reply_errorf(reply, -EIO, "Cannot make a console ticket: no random "
                                    "numbers from the kernel.");
        }
        ticket_expires = (int64_t) time(NULL) + set.console_ticket_ttl;
    }
    r = acquire_session(req, reply, pool, &q, set.acquire_timeout,
                        ticket_expires ? &t : NULL, ticket_expires, &a);
    api_acquire_req_done(&q);
    if (r == API_RETRY)
        return r;
    if (r < 0)
        return 0;
    x = a.session;

    /* the console: a fresh one-time password, also for a repeated acquire.
     * The domain is the desktop's current one (the transaction read it):
     * an instant clone alternates between two names (desk.h). */
    domain = a.domain ? a.domain : "";
    r = api_console_grant(req, &set, domain, a.host, set.console_ttl, &g, &err);
    if (r < 0) {
        log_error_errno(r, "Cannot set up the console of desktop '%s' for session %s: %s",
                        x->desktop, x->id, strempty(err));
        if (!a.existing)
            (void) store_session_end(d->store, x->id, SESSION_END_ERROR, "deskpoold", NULL);
        reconciler_wake(d->reconciler);
        if (r == -ENOTCONN) {
            /* libvirt went away between the check and the console */
            reply->retry_after = ACQUIRE_RETRY_AFTER;
            return api_reply_errorf(reply, r, "deskpoold's connection to libvirt at '%s' is "
                                    "down and being restored; try again shortly.", d->uri);
        }
        return api_reply_errorf(reply, -EIO, "The console of desktop '%s' could not be set "
                                "up; the session was ended.", x->desktop);
    }
    if (g.expires > 0)
        (void) store_session_set_password_expiry(d->store, x->id, g.expires);
    if (!a.existing) {
        struct hook_info hi = { .pool = pool, .desktop = x->desktop, .domain = domain,
                                .user = x->user, .session = x->id, .detail = x->client };

        log_info("Session %s: user '%s' got desktop '%s' of pool '%s'", x->id, x->user,
                 x->desktop, pool);
        hook_run_detached(set.hooks_dir, HOOK_POST_ASSIGN, &hi, set.hook_timeout);
    }
    /* a pool with spares needs one made for each desktop handed out; one
     * without has nothing to do now (the periodic pass sees the rest) */
    if (!a.existing && a.pool->spare > 0)
        reconciler_wake(d->reconciler);
    r = api_reply_json(reply, a.existing ? 200 : 201,
                       session_to_json(x, &g, &(struct session_links) {
                                           .gateway_url = set.console_gateway_url,
                                           .ticket = ticket_expires ? t.text : NULL,
                                           .expires = ticket_expires }));
    console_grant_done(&g);
    explicit_bzero(&t, sizeof(t));
    return r;
}

/* Counts the answered acquire in the dashboard's history: its latency from
 * the handler's first run to the answer, or a failure. */
static void
acquire_count(struct api_request *req, const struct api_reply *reply)
{
    bool ok = reply->status == 200 || reply->status == 201;

    history_record_acquire(reconciler_get_history(req->api->deps.reconciler),
                           (int64_t) (now_realtime_usec() / 1000000ULL),
                           now_usec() - req->first_run, ok);
}

int
api_sessions_acquire(struct api_request *req, struct api_reply *reply)
{
    int r;

    if (req->runs == 0)
        req->first_run = now_usec();
    r = sessions_acquire(req, reply);
    /* every answer, whichever path gave it, ends the wait */
    if (r != API_RETRY) {
        acquire_stop_waiting(req);
        acquire_count(req, reply);
    }
    return r;
}

bool
api_session_id_is_valid(const char *id)
{
    size_t n = strlen(id);

    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

int
api_sessions_list(struct api_request *req, struct api_reply *reply)
{
    const char *pool = api_query(req, "pool"), *user = api_query(req, "user");
    const char *state_s = api_query(req, "state"), *after_id = NULL;
    struct session **list = NULL;
    struct api_page pg;
    int64_t after_created = 0;
    size_t n = 0, shown;
    json_object *arr, *o;
    int state = SESSION_STATE_ACTIVE, r;

    if (pool && !name_is_valid(pool))
        return api_reply_error(reply, -EINVAL, "Query 'pool' is not a valid pool name.");
    if (user && !principal_name_is_valid(user))
        return api_reply_error(reply, -EINVAL, "Query 'user' is not a valid user name.");
    if (state_s) {
        if (streq(state_s, "all"))
            state = -1;
        else
            state = session_state_from_string(state_s);
        if (state == _SESSION_STATE_INVALID)
            return api_reply_error(reply, -EINVAL, "Query 'state' must be active, ended or "
                                   "all.");
    }
    if (api_get_page(req, reply, &pg) < 0)
        return 0;
    /* the cursor: created_at.id of the last session shown */
    if (pg.after && (api_cursor_parse(pg.after, &after_created, &after_id) < 0 || !after_id ||
                     !api_session_id_is_valid(after_id)))
        return api_reply_bad_cursor(reply);
    /* one more than shown tells whether a next page exists */
    r = store_session_list_page(req->api->deps.store, pool, user, state, after_created,
                                after_id, pg.limit + 1, &list, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read sessions from the store.");
    shown = MIN(n, (size_t) pg.limit);
    arr = json_object_new_array();
    for (size_t i = 0; i < shown; i++)
        json_object_array_add(arr, session_to_json(list[i], NULL, NULL));
    o = json_object_new_object();
    json_object_object_add(o, "sessions", arr);
    api_add_next(o, n > shown ? api_cursor_format(list[shown - 1]->created_at,
                                                  list[shown - 1]->id) : NULL);
    session_list_free(list, n);
    return api_reply_json(reply, 200, o);
}

int
api_sessions_get(struct api_request *req, struct api_reply *reply)
{
    _cleanup_(session_freep) struct session *x = NULL;
    const char *id = req->params[0];
    int r;

    if (!api_session_id_is_valid(id))
        return api_reply_errorf(reply, -ENOENT, "No session '%.40s'.", id);
    r = store_session_get(req->api->deps.store, id, &x);
    if (r < 0)
        return api_reply_errorf(reply, r, r == -ENOENT ? "No session '%s'." :
                                "Cannot read session '%s'.", id);
    return api_reply_json(reply, 200, session_to_json(x, NULL, NULL));
}

int
api_sessions_release(struct api_request *req, struct api_reply *reply)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    _cleanup_(session_freep) struct session *x = NULL;
    _cleanup_(desk_freep) struct desk *desk = NULL;
    _cleanup_(hv_unrefp) struct hv *h = NULL;
    _cleanup_free_ char *err = NULL;
    const char *id = req->params[0], *reason_s = api_query(req, "reason");
    enum session_end reason = SESSION_END_LOGOUT;
    int r;

    if (!api_session_id_is_valid(id))
        return api_reply_errorf(reply, -ENOENT, "No session '%.40s'.", id);
    if (reason_s) {
        if (!streq(reason_s, "forced") && !streq(reason_s, "logout"))
            return api_reply_error(reply, -EINVAL, "Query 'reason' must be logout or forced.");
        if (streq(reason_s, "forced")) {
            if (req->role != API_ROLE_OPERATOR)
                return api_reply_error(reply, -EPERM, "Only an operator may force a logout.");
            reason = SESSION_END_FORCED;
        }
    }
    r = store_session_end(d->store, id, reason, api_actor(req), &x);
    if (r == -ESTALE)
        return api_reply_errorf(reply, -ESTALE, "Session '%s' ended already (%s).", id,
                                x ? strempty(session_end_to_string(x->end_reason)) : "?");
    if (r < 0)
        return api_reply_errorf(reply, r, r == -ENOENT ? "No session '%s'." :
                                "Cannot end session '%s'.", id);
    /* revoked at once, before the wipe gets to it */
    api_settings_get(req->api, &set);
    if (store_desk_get(d->store, x->desktop, &desk) >= 0 &&
        (h = hosts_get_hv(reconciler_get_hosts(d->reconciler), desk->host)) &&
        console_revoke(h, desk->domain, set.console_password_required, &err) < 0)
        log_warning("Cannot revoke the console password of '%s' at once: %s; the wipe "
                    "will", desk->domain, strempty(err));
    log_info("Session %s of user '%s' on '%s' ended: %s", id, x->user, x->desktop,
             session_end_to_string(reason));
    reconciler_wake(d->reconciler);
    return api_reply_json(reply, 200, session_to_json(x, NULL, NULL));
}

int
api_sessions_heartbeat(struct api_request *req, struct api_reply *reply)
{
    _cleanup_(session_freep) struct session *x = NULL;
    const char *id = req->params[0];
    int r;

    if (!api_session_id_is_valid(id))
        return api_reply_errorf(reply, -ENOENT, "No session '%.40s'.", id);
    r = store_session_heartbeat(req->api->deps.store, id, &x);
    if (r == -ESTALE)
        return api_reply_errorf(reply, r, "Session '%s' has ended (%s).", id,
                                strempty(session_end_to_string(x->end_reason)));
    if (r < 0)
        return api_reply_errorf(reply, r, r == -ENOENT ? "No session '%s'." :
                                "Cannot record the heartbeat of session '%s'.", id);
    return api_reply_json(reply, 200, session_to_json(x, NULL, NULL));
}

int
api_audit_list(struct api_request *req, struct api_reply *reply)
{
    const char *since_s = api_query(req, "since"), *rest = NULL;
    struct audit_entry *e = NULL;
    struct api_page pg;
    int64_t before = 0, since = 0;
    unsigned u;
    size_t n = 0, shown;
    json_object *arr, *o;
    int r;

    if (api_get_page(req, reply, &pg) < 0)
        return 0;
    /* the cursor: the id of the last entry shown */
    if (pg.after && (api_cursor_parse(pg.after, &before, &rest) < 0 || rest || before <= 0))
        return api_reply_bad_cursor(reply);
    if (since_s && json_time_parse(since_s, &since) < 0) {
        if (safe_atou(since_s, &u) < 0)
            return api_reply_error(reply, -EINVAL, "Query 'since' must be an RFC 3339 time "
                                   "(2026-11-27T21:30:00Z), a date or unix seconds.");
        since = u;
    }
    r = store_audit_list_page(req->api->deps.store, before, since, pg.limit + 1, &e, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read the audit log.");
    shown = MIN(n, (size_t) pg.limit);
    arr = json_object_new_array();
    for (size_t i = 0; i < shown; i++) {
        json_object *a = json_object_new_object();

        json_add_int(a, "id", e[i].id);
        json_add_time(a, "at", e[i].at);
        json_add_string(a, "actor", e[i].actor);
        json_add_string(a, "action", e[i].action);
        json_add_string(a, "pool", e[i].pool);
        json_add_string(a, "desktop", e[i].desktop);
        json_add_string(a, "user", e[i].user);
        json_add_string(a, "detail", e[i].detail);
        json_object_array_add(arr, a);
    }
    o = json_object_new_object();
    json_object_object_add(o, "entries", arr);
    api_add_next(o, n > shown ? api_cursor_format(e[shown - 1].id, NULL) : NULL);
    audit_list_free(e, n);
    return api_reply_json(reply, 200, o);
}
