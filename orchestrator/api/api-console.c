/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-console.c - consoles: one-time passwords, and tickets for the browser gateway
 *
 * DESIGN
 *   A session's console is reached two ways. A native client gets host,
 *   port and a one-time password in the acquire's answer
 *   (api_console_grant(), console.c). A browser gets a URL on the gateway
 *   (deskpool-gateway, docs/gateway.md) carrying a ticket (ticket.c): the
 *   acquire writes the ticket's hash in its own transaction and answers
 *   connection.browser_url and connection.websocket_url when
 *   console_gateway_url is set.
 *   The gateway, with a token of the `gateway` role and nothing else,
 *   then calls:
 *   - POST /v1/console/redeem: one conditional UPDATE consumes the ticket
 *     (store-ticket.c) and a fresh one-time password is set on the
 *     desktop's console for the gateway, which answers VNC's challenge
 *     itself: the password never reaches the browser. Every refusal is
 *     the same 403 ticket_refused; the reason goes to deskpoold's log
 *     only, never the ticket.
 *   - POST /v1/console/watch: a long poll with the sessions the gateway
 *     has streams of; answered as soon as one of them is no longer active
 *     (released, logged off, timed out, its host lost), else after `wait`
 *     seconds with none. Like the acquire's wait it holds no thread: the
 *     handler returns API_RETRY and runs again at least every 250 ms. The
 *     gateway then closes that session's streams. VNC cannot drop a
 *     connected client when its password changes (libvirt's `connected`
 *     takes only "keep" for VNC), so this is how an ended session's open
 *     browser consoles are closed.
 */
#include "config.h"

#include "api-error.h"
#include "api-priv.h"
#include "console.h"
#include "hosts.h"
#include "log.h"
#include "ticket.h"
#include "util.h"

/* How long the password a redeem sets is valid: the gateway uses it
 * within a second; QEMU checks it only when a client authenticates. */
#define GATEWAY_PASSWORD_TTL 30
#define WATCH_MAX_SESSIONS 10000
#define WATCH_MAX_WAIT 60

int
api_console_grant(struct api_request *req, const struct api_settings *set, const char *domain,
                  const char *desk_host, unsigned ttl, struct console_grant *ret,
                  char **reterr_msg)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_(hv_unrefp) struct hv *h = NULL;

    if (!desk_host)
        desk_host = HOST_LOCAL;
    h = hosts_get_hv(reconciler_get_hosts(d->reconciler), desk_host);
    if (!h)
        return -ENOTCONN;
    /* another host's consoles listen on its own address: the domain says it */
    return console_grant(h, domain ? domain : "",
                         streq(desk_host, HOST_LOCAL) ? set->console_host : NULL, ttl,
                         set->console_password_required, ret, reterr_msg);
}

void
api_console_add_links(json_object *connection, const char *gateway_url,
                      const char *ticket, int64_t expires)
{
    _cleanup_free_ char *browser = NULL, *ws = NULL;
    bool tls = strncmp(gateway_url, "https://", 8) == 0;

    browser = xasprintf("%s/desktop?ticket=%s", gateway_url, ticket);
    ws = xasprintf("%s%s/console?ticket=%s", tls ? "wss://" : "ws://",
                   gateway_url + (tls ? 8 : 7), ticket);
    json_add_string(connection, "browser_url", browser);
    json_add_string(connection, "websocket_url", ws);
    json_add_time(connection, "ticket_expires", expires);
}

static int
reply_refused(struct api_reply *reply)
{
    return api_reply_error_code(reply, -EPERM, "ticket_refused",
                                "The console ticket is not valid: it is unknown, was used "
                                "already, has expired, or its session has ended.");
}

int
api_console_redeem(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "ticket", NULL };
    struct api_deps *d = &req->api->deps;
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    _cleanup_(store_acquired_done) struct store_acquired a = { 0 };
    _cleanup_free_ char *err = NULL, *refused_session = NULL;
    struct console_grant g = { 0 };
    const char *text = NULL, *refusal = NULL;
    char hash[DIGEST_SHA256_HEX_LEN + 1];
    json_object *o, *c;
    struct session *x;
    int r;

    if (api_require_body(req, reply, fields) < 0)
        return 0;
    r = json_get_string(req->body, "ticket", TICKET_LEN + 1, &text, &err);
    if (r == -ENOENT)
        return api_reply_error(reply, -EINVAL, "Field 'ticket' is required.");
    if (r < 0 || !ticket_is_valid(text)) {
        /* not even its shape: no store lookup, and the text is not echoed */
        log_notice("Console ticket refused: malformed");
        return reply_refused(reply);
    }
    ticket_hash(text, hash);
    r = store_ticket_redeem(d->store, hash, api_actor(req), &a, &refusal, &refused_session);
    if (r == -EACCES) {
        log_notice("Console ticket refused: %s%s%s", refusal,
                   refused_session ? "; session " : "", strempty(refused_session));
        return reply_refused(reply);
    }
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot redeem the console ticket.");
    x = a.session;

    api_settings_get(req->api, &set);
    r = api_console_grant(req, &set, a.domain, a.host, GATEWAY_PASSWORD_TTL, &g, &err);
    if (r < 0) {
        log_error_errno(r, "Cannot set up the console of desktop '%s' for the gateway "
                        "(session %s): %s", x->desktop, x->id, strempty(err));
        if (r == -ENOTCONN) {
            reply->retry_after = 5;
            return api_reply_errorf(reply, r, "The host of desktop '%s' cannot be reached; "
                                    "try again shortly.", x->desktop);
        }
        return api_reply_errorf(reply, -EIO, "The console of desktop '%s' could not be set "
                                "up.", x->desktop);
    }
    log_info("Session %s: console of desktop '%s' opened through the gateway", x->id,
             x->desktop);
    o = json_object_new_object();
    json_add_string(o, "session", x->id);
    json_add_string(o, "pool", x->pool);
    json_add_string(o, "desktop", x->desktop);
    json_add_string(o, "user", x->user);
    c = json_object_new_object();
    json_add_string(c, "protocol", g.protocol);
    json_add_string(c, "host", g.host);
    json_add_int(c, "port", g.port);
    json_add_string(c, "password", g.password);
    json_add_time(c, "password_expires", g.expires);
    json_object_object_add(o, "connection", c);
    console_grant_done(&g);
    return api_reply_json(reply, 200, o);
}

/* The "sessions" field of a watch, checked, as a JSON array text. */
static int
watch_sessions(struct api_request *req, struct api_reply *reply, char **ret)
{
    json_object *v = NULL;
    size_t n;

    if (!json_object_object_get_ex(req->body, "sessions", &v) ||
        !json_object_is_type(v, json_type_array)) {
        api_reply_error(reply, -EINVAL, "Field 'sessions' must be an array of session ids.");
        return -EINVAL;
    }
    n = json_object_array_length(v);
    if (n > WATCH_MAX_SESSIONS) {
        api_reply_errorf(reply, -EINVAL, "Field 'sessions' may hold at most %d ids.",
                         WATCH_MAX_SESSIONS);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);

        if (!json_object_is_type(e, json_type_string) ||
            !api_session_id_is_valid(json_object_get_string(e))) {
            api_reply_errorf(reply, -EINVAL, "Field 'sessions' item %zu is not a session id.",
                             i);
            return -EINVAL;
        }
    }
    *ret = xstrdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    return 0;
}

int
api_console_watch(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "sessions", "wait", NULL };
    _cleanup_free_ char *err = NULL, *ids = NULL;
    char **ended = NULL;
    size_t n_ended = 0;
    unsigned wait = 0;
    json_object *o, *arr;
    int r;

    if (api_require_body(req, reply, fields) < 0)
        return 0;
    r = json_get_uint(req->body, "wait", WATCH_MAX_WAIT, &wait, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    if (watch_sessions(req, reply, &ids) < 0)
        return 0;
    if (req->wait_deadline == 0)
        req->wait_deadline = now_usec() + (uint64_t) wait * 1000000ULL;
    r = store_sessions_inactive(req->api->deps.store, ids, &ended, &n_ended);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot read the sessions.");
    if (n_ended == 0 && !req->cancelled && now_usec() < req->wait_deadline)
        return api_retry(req);
    o = json_object_new_object();
    arr = json_object_new_array();
    for (size_t i = 0; i < n_ended; i++)
        json_object_array_add(arr, json_object_new_string(ended[i]));
    json_object_object_add(o, "ended", arr);
    strv_free_n(ended, n_ended);
    return api_reply_json(reply, 200, o);
}
