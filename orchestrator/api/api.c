/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api.c - the REST server: listening, auth, routing, replies
 *
 * DESIGN
 *   libmicrohttpd serves two listeners: a unix socket (default; whoever
 *   can open it is trusted with the operator role, so its file mode is the
 *   access control, 0660) and an optional TCP address where every request
 *   needs "Authorization: Bearer TOKEN". Tokens are kept as SHA-256 hashes
 *   with a role (tokens_file); a plain token never sits in memory longer
 *   than one request and is never logged.
 *   Threads: each listener has one libmicrohttpd event thread (epoll,
 *   MHD_USE_AUTO_INTERNAL_THREAD) that only moves bytes for all of its
 *   connections, so thousands of slow or idle clients cost memory, not
 *   threads; api-conn.c guards each listener (connections per address,
 *   the total, a deadline for every request and answer). A complete
 *   request is suspended (MHD_suspend_connection) and handed to a bounded
 *   set of handler threads (api-workers.c), never run in the event thread:
 *   a handler may block on the store or libvirt without stalling other
 *   connections. The acquire wait (up to acquire_timeout) holds no thread
 *   at all: the handler returns API_RETRY and runs again when a desktop
 *   became ready (suspend/resume rather than a sleeping thread, so a
 *   morning's login storm cannot use up the handler threads). When a
 *   handler is done the connection is resumed and its event thread sends
 *   the answer. Chosen over libmicrohttpd's thread pool
 *   (MHD_OPTION_THREAD_POOL_SIZE) because a pool thread that runs a
 *   blocking handler stalls every connection it owns.
 *   Requests: bodies are collected up to API_MAX_BODY (a larger declared
 *   Content-Length is refused before it is read), parsed as a strict JSON
 *   object with Content-Type application/json; one route table dispatches
 *   by method and path pattern and checks the role. libmicrohttpd is told
 *   not to decode URLs (api_unescape_none): each path segment and query
 *   value is decoded once here (api-request.c), and one holding NUL or
 *   another control character is refused with 400; {name} segments must be
 *   valid names (400), so a bad name never reaches a handler, a path, an
 *   XML document, a hook or a log line.
 *   Handlers (api-*.c) turn negative errnos into replies through
 *   api-error.c; nothing below the API knows about HTTP. Every 5xx answer
 *   is logged here at error with its cause, at most one line per route and
 *   errno per 10 s with the count since the last one.
 *   Handlers never change desktops: they write desired state to the store
 *   and wake the reconciler.
 *   Stopping: new requests get 503 at once; waiting handlers run once more
 *   with req->cancelled and answer; the handler threads are joined; only
 *   then are the listeners stopped (libmicrohttpd must not stop with a
 *   suspended connection).
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "api-conn.h"
#include "api-error.h"
#include "api-workers.h"
#include "array.h"
#include "api-priv.h"
#include "digest.h"
#include "log.h"
#include "name.h"
#include "strv.h"
#include "util.h"

#define ROLES(...) ((const enum api_role[]) { __VA_ARGS__, API_ROLE_NONE })

/* Handler threads, and how many complete requests may wait for one. */
#define API_WORKER_THREADS 8
#define API_QUEUE_MAX 256
/* A body over the limit is read and dropped (to answer 413) up to this. */
#define API_MAX_DISCARD (16 * 1024 * 1024)
/* File descriptors kept free besides the connections (store, libvirt, hooks). */
#define API_FD_RESERVE 256
#define API_FAILURE_SLOTS 64
#define API_LOG_INTERVAL_USEC (10 * 1000000ULL)
#define API_RETRY_AFTER_BUSY 5
/* Retry-After of any other 503 that did not set one */
#define API_RETRY_AFTER_DEFAULT 5
/* How long stopping waits for answers already made to be sent. */
#define API_DRAIN_USEC (3 * 1000000ULL)

struct api_route {
    const char *method;
    const char *pattern;   /* "{name}": a valid name; "{id}", "{version}": any segment */
    api_handler fn;
    const enum api_role *roles; /* who may call it, API_ROLE_NONE-terminated */
};

static const struct api_route api_routes[] = {
    { "GET", "/healthz", api_healthz, NULL },
    { "GET", "/metrics", api_metrics, NULL },
    { "GET", "/v1/check", api_check, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/images", api_images_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/images", api_images_add, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/images/{name}", api_images_get, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/pools", api_pools_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/pools", api_pools_create, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/pools/{name}", api_pools_get, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "PATCH", "/v1/pools/{name}", api_pools_update, ROLES(API_ROLE_OPERATOR) },
    { "DELETE", "/v1/pools/{name}", api_pools_delete, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/desktops", api_desktops_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/hosts", api_hosts_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/capacity", api_capacity, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/hosts", api_hosts_add, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/hosts/{name}", api_hosts_get, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "PATCH", "/v1/hosts/{name}", api_hosts_update, ROLES(API_ROLE_OPERATOR) },
    { "DELETE", "/v1/hosts/{name}", api_hosts_remove, ROLES(API_ROLE_OPERATOR) },
    { "POST", "/v1/hosts/{name}/drain", api_hosts_drain, ROLES(API_ROLE_OPERATOR) },
    { "POST", "/v1/hosts/{name}/undrain", api_hosts_undrain, ROLES(API_ROLE_OPERATOR) },
    { "POST", "/v1/pools/{name}/sessions", api_sessions_acquire,
      ROLES(API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "GET", "/v1/sessions", api_sessions_list,
      ROLES(API_ROLE_READER, API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "GET", "/v1/sessions/{id}", api_sessions_get,
      ROLES(API_ROLE_READER, API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "DELETE", "/v1/sessions/{id}", api_sessions_release,
      ROLES(API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "POST", "/v1/sessions/{id}/heartbeat", api_sessions_heartbeat,
      ROLES(API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "GET", "/v1/audit", api_audit_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/pools/{name}/rebase", api_pools_rebase, ROLES(API_ROLE_OPERATOR) },
    { "POST", "/v1/refresh", api_refresh, ROLES(API_ROLE_OPERATOR) },
    { "POST", "/v1/console/redeem", api_console_redeem, ROLES(API_ROLE_GATEWAY) },
    { "POST", "/v1/console/watch", api_console_watch, ROLES(API_ROLE_GATEWAY) },
    { "GET", "/v1/operations", api_operations_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/operations/{id}", api_operations_get,
      ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "DELETE", "/v1/images/{name}/versions/{version}", api_images_retire,
      ROLES(API_ROLE_OPERATOR) },
    /* the operator dashboard: its files are open (they hold no data) */
    { "GET", "/ui", api_ui_file, NULL },
    { "GET", "/ui/{id}", api_ui_file, NULL },
    { "GET", "/v1/history", api_history, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/whoami", api_whoami,
      ROLES(API_ROLE_READER, API_ROLE_BROKER, API_ROLE_OPERATOR) },
};

static const char *const api_role_names[_API_ROLE_MAX] = {
    [API_ROLE_NONE] = "none",
    [API_ROLE_READER] = "reader",
    [API_ROLE_BROKER] = "broker",
    [API_ROLE_OPERATOR] = "operator",
    [API_ROLE_GATEWAY] = "gateway",
};

enum api_call_state {
    CALL_READING, /* headers and body arriving (event thread) */
    CALL_QUEUED,  /* suspended; a handler thread has it */
    CALL_DONE,    /* the reply is ready; the event thread sends it */
};

/* One request, from its first byte to its answer. The event thread owns it
 * while READING and DONE, a handler thread while QUEUED. */
struct api_call {
    struct api_job job;           /* first: api_call_run() gets the job */
    struct api *api;
    struct MHD_Connection *conn;
    bool trusted;                 /* on the unix socket */
    enum api_call_state state;
    char *buf;                    /* the body */
    size_t len, alloc;
    size_t discarded;             /* body bytes dropped after the limit */
    bool too_big;
    bool submitted;               /* counted in api->in_flight */
    uint64_t start;               /* monotonic usec */
    bool prepared;                /* routed, authenticated, body parsed */
    const struct api_route *route;
    char *params[API_MAX_PATH_PARAMS];
    struct api_request req;
    struct api_reply reply;
};

/* One line per route and errno per API_LOG_INTERVAL_USEC. */
struct api_failure_log {
    pthread_mutex_t lock;
    struct {
        const struct api_route *route;
        int err;
        struct api_ratelimit rl;
        char *message;             /* of the latest answer held back */
    } slot[API_FAILURE_SLOTS];
    size_t n;
};

/* --- rate limits --- */

unsigned
api_ratelimit_hit(struct api_ratelimit *rl, uint64_t now, uint64_t interval)
{
    unsigned n;

    rl->pending++;
    if (rl->last != 0 && now - rl->last < interval)
        return 0;
    n = rl->pending;
    rl->pending = 0;
    rl->last = now;
    return n;
}

unsigned
api_ratelimit_flush(struct api_ratelimit *rl, uint64_t now, uint64_t interval)
{
    unsigned n;

    if (rl->pending == 0 || now - rl->last < interval)
        return 0;
    n = rl->pending;
    rl->pending = 0;
    rl->last = now;
    return n;
}

/* --- replies --- */

int
api_reply_json(struct api_reply *reply, unsigned status, json_object *obj)
{
    reply->status = status;
    reply->body = json_to_string_dup(obj);
    reply->content_type = "application/json";
    reply->err = 0;
    json_object_put(obj);
    return 0;
}

int
api_reply_error(struct api_reply *reply, int err, const char *message)
{
    struct api_error_map m = api_error_from_errno(err);

    free(reply->body);
    reply->status = m.status;
    reply->body = api_error_body(m.code, message ? message : strerror(err < 0 ? -err : err));
    reply->content_type = "application/json";
    reply->err = err < 0 ? err : -err;
    return 0;
}

int
api_reply_error_code(struct api_reply *reply, int err, const char *code, const char *message)
{
    struct api_error_map m = api_error_from_errno(err);

    free(reply->body);
    reply->status = m.status;
    reply->body = api_error_body(code, message);
    reply->content_type = "application/json";
    reply->err = err < 0 ? err : -err;
    return 0;
}

int
api_reply_errorf(struct api_reply *reply, int err, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    return api_reply_error(reply, err, msg);
}

const char *
api_actor(const struct api_request *req)
{
    return api_role_names[req->role];
}

const char *
api_query(struct api_request *req, const char *key)
{
    for (size_t i = 0; req->query && req->query[i]; i += 2)
        if (streq(req->query[i], key))
            return req->query[i + 1];
    return NULL;
}

int
api_retry(struct api_request *req)
{
    return API_RETRY;
}

int
api_get_page(struct api_request *req, struct api_reply *reply, struct api_page *ret)
{
    const char *limit_s = api_query(req, "limit"), *after = api_query(req, "after");
    unsigned limit = API_LIST_DEFAULT;

    if (limit_s && (safe_atou(limit_s, &limit) < 0 || limit == 0 || limit > API_LIST_MAX)) {
        api_reply_errorf(reply, -EINVAL, "Query 'limit' must be a number from 1 to %d.",
                         API_LIST_MAX);
        return -EINVAL;
    }
    if (after && (after[0] == '\0' || strlen(after) > 128)) {
        api_reply_bad_cursor(reply);
        return -EINVAL;
    }
    ret->limit = limit;
    ret->after = after;
    return 0;
}

void
api_add_next(json_object *o, char *cursor)
{
    json_add_string(o, "next", cursor);
    free(cursor);
}

int
api_reply_bad_cursor(struct api_reply *reply)
{
    return api_reply_error(reply, -EINVAL, "Query 'after' must be the 'next' of an earlier "
                           "page of this list.");
}

int
api_cursor_parse(const char *cursor, int64_t *ret_num, const char **ret_text)
{
    const char *dot = strchr(cursor, '.');
    size_t digits = dot ? (size_t) (dot - cursor) : strlen(cursor);
    int64_t v = 0;

    if (digits == 0 || digits > 18 || (dot && dot[1] == '\0'))
        return -EINVAL;
    for (size_t i = 0; i < digits; i++) {
        if (cursor[i] < '0' || cursor[i] > '9')
            return -EINVAL;
        v = v * 10 + (cursor[i] - '0');
    }
    *ret_num = v;
    *ret_text = dot ? dot + 1 : NULL;
    return 0;
}

char *
api_cursor_format(int64_t num, const char *text)
{
    if (text)
        return xasprintf("%lld.%s", (long long) num, text);
    return xasprintf("%lld", (long long) num);
}

void
api_settings_done(struct api_settings *s)
{
    free(s->templates_dir);
    free(s->console_host);
    free(s->console_gateway_url);
    free(s->hooks_dir);
    *s = (struct api_settings) { 0 };
}

static void
api_settings_from_conf(struct api_settings *s, const struct conf *c)
{
    *s = (struct api_settings) {
        .templates_dir = xstrdup(c->templates_dir),
        .console_host = xstrdup(c->console_host),
        .console_ttl = c->console_ttl,
        .console_gateway_url = xstrdup(c->console_gateway_url),
        .console_ticket_ttl = c->console_ticket_ttl,
        .acquire_timeout = c->acquire_timeout,
        .console_password_required = streq(c->console_password, "required"),
        .hooks_dir = xstrdup(c->hooks_dir),
        .hook_timeout = c->hook_timeout,
        .host_lost_grace = c->host_lost_grace,
    };
}

void
api_settings_get(struct api *a, struct api_settings *ret)
{
    pthread_mutex_lock(&a->lock);
    *ret = a->settings;
    ret->templates_dir = xstrdup(a->settings.templates_dir);
    ret->console_host = xstrdup(a->settings.console_host);
    ret->console_gateway_url = xstrdup(a->settings.console_gateway_url);
    ret->hooks_dir = xstrdup(a->settings.hooks_dir);
    pthread_mutex_unlock(&a->lock);
}

int
api_require_body(struct api_request *req, struct api_reply *reply, const char *const *allowed)
{
    _cleanup_free_ char *err = NULL;
    int r;

    if (!req->body) {
        api_reply_error(reply, -EINVAL, "This request needs a JSON object body.");
        return -EINVAL;
    }
    r = json_check_fields(req->body, allowed, &err);
    if (r < 0) {
        api_reply_error(reply, r, err);
        return r;
    }
    return 0;
}

int
api_get_name(struct api_request *req, struct api_reply *reply, const char *field,
             const char *kind, const char **ret)
{
    _cleanup_free_ char *err = NULL;
    const char *name = NULL;
    int r;

    r = json_get_string(req->body, field, DP_NAME_MAX + 1, &name, &err);
    if (r == -ENOENT)
        api_reply_errorf(reply, -EINVAL, "Field '%s' is required.", field);
    else if (r < 0)
        api_reply_error(reply, r, err);
    else if (!name_is_valid(name))
        api_reply_errorf(reply, -EINVAL, "%s name '%s' is not valid: use [a-z0-9][a-z0-9_-]*, "
                         "at most %d characters.", kind, name, DP_NAME_MAX);
    else {
        *ret = name;
        return 0;
    }
    return -EINVAL;
}

/* A copy of untrusted S fit for a log line or a message: at most MAX
 * bytes, every byte outside printable ASCII as '?'. */
static char *
api_printable(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = xmalloc0(n + 4);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        p[i] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    if (s[n] != '\0')
        memcpy(p + n, "...", 4);
    return p;
}

/* --- 5xx causes in the log --- */

static struct api_failure_log *
api_failure_log_new(void)
{
    struct api_failure_log *f = xmalloc0(sizeof(*f));

    pthread_mutex_init(&f->lock, NULL);
    return f;
}

static struct api_failure_log *
api_failure_log_free(struct api_failure_log *f)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n; i++)
        free(f->slot[i].message);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return NULL;
}

static void
api_failure_line(const struct api_route *route, unsigned status, int err, unsigned n,
                 const char *message)
{
    log_error_errno(err, "%s %s answered %u '%s' (%u time(s) since the last report)",
                    route->method, route->pattern, status, message, n);
}

/* Logs the cause of the 5xx answer REPLY of ROUTE, rate-limited. */
static void
api_log_failure(struct api *a, const struct api_route *route, const struct api_reply *reply)
{
    struct api_failure_log *f = a->failures;
    _cleanup_free_ char *message = NULL;
    _cleanup_json_ json_object *doc = NULL;
    json_object *e = NULL, *m = NULL;
    uint64_t now = now_usec();
    size_t i;
    unsigned n;

    doc = json_tokener_parse(reply->body);
    if (json_object_object_get_ex(doc, "error", &e) && json_object_object_get_ex(e, "message", &m))
        message = api_printable(json_object_get_string(m), 300);
    else
        message = xstrdup("?");
    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->n; i++)
        if (f->slot[i].route == route && f->slot[i].err == reply->err)
            break;
    if (i == f->n) {
        if (f->n < API_FAILURE_SLOTS) {
            f->n++;
        } else {
            /* the slot heard of least recently */
            i = 0;
            for (size_t k = 1; k < f->n; k++)
                if (f->slot[k].rl.last < f->slot[i].rl.last)
                    i = k;
            free(f->slot[i].message);
        }
        f->slot[i].route = route;
        f->slot[i].err = reply->err;
        f->slot[i].rl = (struct api_ratelimit) { 0 };
        f->slot[i].message = NULL;
    }
    n = api_ratelimit_hit(&f->slot[i].rl, now, API_LOG_INTERVAL_USEC);
    if (n == 0) {
        free(f->slot[i].message);
        f->slot[i].message = TAKE_PTR(message);
    }
    pthread_mutex_unlock(&f->lock);
    if (n > 0)
        api_failure_line(route, reply->status, reply->err, n, message);
}

/* Logs the 5xx answers held back for API_LOG_INTERVAL_USEC. */
static void
api_failure_flush(void *userdata)
{
    struct api *a = userdata;
    struct api_failure_log *f = a->failures;
    uint64_t now = now_usec();

    for (;;) {
        const struct api_route *route = NULL;
        _cleanup_free_ char *message = NULL;
        unsigned n = 0;
        int err = 0;

        pthread_mutex_lock(&f->lock);
        for (size_t i = 0; i < f->n && n == 0; i++) {
            n = api_ratelimit_flush(&f->slot[i].rl, now, API_LOG_INTERVAL_USEC);
            if (n > 0) {
                route = f->slot[i].route;
                err = f->slot[i].err;
                message = TAKE_PTR(f->slot[i].message);
            }
        }
        pthread_mutex_unlock(&f->lock);
        if (n == 0)
            return;
        api_failure_line(route, api_error_from_errno(err).status, err, n,
                         strempty(message));
    }
}

/* --- tokens --- */

static int
api_tokens_load(const char *path, struct api_token **ret, size_t *ret_n, char **reterr_msg)
{
    _cleanup_free_ char *data = NULL;
    _cleanup_free_ struct api_token *tokens = NULL;
    size_t n = 0, cap = 0;
    unsigned lineno = 0;
    char *line, *next;
    int r;

    r = read_full_file(path, 1024 * 1024, &data, NULL);
    if (r == -ENOENT) {
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot read tokens file '%s': %s.", path, strerror(-r));
        return r;
    }
    for (line = data; line; line = next) {
        char role[16], hash[80];
        int role_i = -1;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (sscanf(line, "%15s %79s", role, hash) != 2 || strlen(hash) != 64) {
            *reterr_msg = xasprintf("%s:%u: expected 'ROLE SHA256HEX'.", path, lineno);
            return -EINVAL;
        }
        for (int i = API_ROLE_READER; i < _API_ROLE_MAX; i++)
            if (streq(role, api_role_names[i]))
                role_i = i;
        if (role_i < 0) {
            *reterr_msg = xasprintf("%s:%u: unknown role '%s' (reader, broker, operator, gateway).",
                                    path, lineno, role);
            return -EINVAL;
        }
        ARRAY_GROW(tokens, cap, n + 1);
        tokens[n].role = (enum api_role) role_i;
        for (size_t k = 0; k < 65; k++)
            tokens[n].sha256[k] = (char) (k < 64 ? (hash[k] | 0x20) : '\0');
        n++;
    }
    *ret = TAKE_PTR(tokens);
    *ret_n = n;
    return 0;
}

/* Role of the bearer token in the request, API_ROLE_NONE if none matches. */
static enum api_role
api_authenticate(struct api *a, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    char hex[DIGEST_SHA256_HEX_LEN + 1];
    enum api_role role = API_ROLE_NONE;

    if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) == 0 || strlen(h + 7) > 512)
        return API_ROLE_NONE;
    digest_sha256_hex(h + 7, strlen(h + 7), hex);
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n_tokens; i++) {
        unsigned char diff = 0;

        /* constant time over the hash */
        for (size_t k = 0; k < DIGEST_SHA256_HEX_LEN; k++)
            diff |= (unsigned char) (hex[k] ^ a->tokens[i].sha256[k]);
        if (diff == 0)
            role = a->tokens[i].role;
    }
    pthread_mutex_unlock(&a->lock);
    return role;
}

/* --- routing --- */

/* Matches the raw (still encoded) URL against PATTERN; a "{...}" takes one
 * non-empty segment, copied as sent into PARAMS. */
static bool
api_route_match(const char *pattern, const char *url, char **params, size_t *n_params)
{
    const char *p = pattern, *u = url;

    *n_params = 0;
    while (*p && *u) {
        if (p[0] == '{') {
            const char *end = strchr(u, '/'), *close = strchr(p, '}');
            size_t len = end ? (size_t) (end - u) : strlen(u);

            assert(close); /* the table is constant */
            if (len == 0 || *n_params >= API_MAX_PATH_PARAMS)
                return false;
            params[(*n_params)++] = strndup(u, len);
            p = close + 1;
            u += len;
            continue;
        }
        if (*p != *u)
            return false;
        p++;
        u++;
    }
    return *p == '\0' && (*u == '\0' || streq(u, "/"));
}

/* Whether parameter I of PATTERN is a "{name}". */
static bool
api_route_param_is_name(const char *pattern, size_t i)
{
    const char *p = pattern;

    for (size_t k = 0;; k++) {
        p = strchr(p, '{');
        if (!p)
            return false;
        if (k == i)
            return strncmp(p, "{name}", 6) == 0;
        p++;
    }
}

static bool
api_role_allowed(const struct api_route *rt, enum api_role role)
{
    if (!rt->roles)
        return true; /* health and metrics are open */
    if (role == API_ROLE_OPERATOR)
        return true;
    for (size_t i = 0; rt->roles[i] != API_ROLE_NONE; i++)
        if (rt->roles[i] == role)
            return true;
    return false;
}

struct query_collect {
    char **list;
    size_t n, alloc;
    bool bad;
};

static enum MHD_Result
api_query_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query_collect *q = cls;
    char *k = NULL, *v = NULL;

    if (!value)
        return MHD_YES; /* "?flag" without a value: as if absent */
    if (q->n / 2 >= API_MAX_QUERY_ARGS || api_unescape(key, strlen(key), &k) < 0 ||
        api_unescape(value, strlen(value), &v) < 0) {
        free(k);
        q->bad = true;
        return MHD_NO;
    }
    ARRAY_GROW(q->list, q->alloc, q->n + 3);
    q->list[q->n++] = k;
    q->list[q->n++] = v;
    q->list[q->n] = NULL;
    return MHD_YES;
}

/* Fills REPLY with the error ERR and MESSAGE; returns ERR. */
static int
api_refuse(struct api_reply *reply, int err, const char *message)
{
    api_reply_error(reply, err, message);
    return err;
}

/* Decodes the path parameters of CALL's route once and checks the names.
 * Returns 0, or -EINVAL with the reply filled. */
static int
api_decode_params(struct api_call *call, size_t n_params)
{
    struct api_reply *reply = &call->reply;

    for (size_t i = 0; i < n_params; i++) {
        _cleanup_free_ char *shown = NULL;
        char *d = NULL;

        if (api_unescape(call->params[i], strlen(call->params[i]), &d) < 0)
            return api_refuse(reply, -EINVAL, "The request path holds a malformed escape, a "
                              "NUL byte or a control character.");
        free(call->params[i]);
        call->params[i] = d;
        call->req.params[i] = d;
        if (!api_route_param_is_name(call->route->pattern, i) || name_is_valid(d))
            continue;
        shown = api_printable(d, DP_NAME_MAX + 1);
        api_reply_errorf(reply, -EINVAL, "Name '%s' in the request path is not valid: use "
                         "[a-z0-9][a-z0-9_-]*, at most %d characters.", shown, DP_NAME_MAX);
        return -EINVAL;
    }
    return 0;
}

/* Routes, decodes and authenticates CALL's request and parses its body.
 * Returns 0 when the handler may run, or a negative errno with the reply
 * filled. */
static int
api_prepare(struct api_call *call)
{
    struct api_request *req = &call->req;
    struct api_reply *reply = &call->reply;
    const struct api_route *found = NULL;
    struct query_collect q = { 0 };
    bool path_known = false;
    size_t n_params = 0;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(api_routes) && !found; i++) {
        char *p[API_MAX_PATH_PARAMS] = { NULL };
        size_t n = 0;

        if (api_route_match(api_routes[i].pattern, req->url, p, &n)) {
            path_known = true;
            if (streq(api_routes[i].method, req->method)) {
                found = &api_routes[i];
                memcpy(call->params, p, sizeof(p));
                n_params = n;
                continue;
            }
        }
        for (size_t k = 0; k < n; k++)
            free(p[k]);
    }
    if (!found) {
        _cleanup_free_ char *u = api_printable(req->url, 200);

        if (path_known) {
            api_reply_errorf(reply, -EOPNOTSUPP, "Method %s is not allowed on '%s'.",
                             req->method, u);
            return -EOPNOTSUPP;
        }
        api_reply_errorf(reply, -ENOENT, "No route '%s'.", u);
        return -ENOENT;
    }
    call->route = found;

    req->role = call->trusted ? API_ROLE_OPERATOR : api_authenticate(req->api, req->conn);
    if (found->roles && req->role == API_ROLE_NONE)
        return api_refuse(reply, -EACCES, "A valid bearer token is required.");
    if (!api_role_allowed(found, req->role)) {
        api_reply_errorf(reply, -EPERM, "Role '%s' may not call %s %s.",
                         api_role_names[req->role], req->method, found->pattern);
        return -EPERM;
    }

    /* decoded once; a NUL or control character is refused, not cut at */
    r = api_decode_params(call, n_params);
    if (r < 0)
        return r;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, api_query_collect, &q);
    req->query = q.list;
    if (q.bad) {
        api_reply_errorf(reply, -EINVAL, "The query holds more than %d arguments, a malformed "
                         "escape, a NUL byte or a control character.", API_MAX_QUERY_ARGS);
        return -EINVAL;
    }

    if (call->too_big) {
        api_reply_errorf(reply, -EFBIG, "Request body is larger than %d bytes.", API_MAX_BODY);
        return -EFBIG;
    }
    if (call->len > 0) {
        const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        _cleanup_free_ char *err = NULL;

        if (!api_media_type_is_json(ct))
            return api_refuse(reply, -EMEDIUMTYPE, "Request bodies must be application/json.");
        r = json_parse_object(call->buf, call->len, &req->body, &err);
        if (r < 0)
            return api_refuse(reply, r, err);
    }
    return 0;
}

/* Runs CALL in a handler thread (api-workers.c): once, or again after it
 * asked to wait. When it is answered, resumes its connection and returns
 * true (CALL then belongs to the event thread again). */
static bool
api_call_run(struct api_job *job, void *userdata)
{
    struct api_call *call = (struct api_call *) job;
    struct api *a = userdata;
    struct MHD_Connection *conn = call->conn;
    int r = 0;

    call->req.cancelled = job->cancelled;
    if (!call->prepared) {
        call->prepared = true;
        r = api_prepare(call);
    }
    if (r >= 0 && call->reply.status == 0) {
        r = call->route->fn(&call->req, &call->reply);
        call->req.runs++;
        if (r == API_RETRY && call->reply.status == 0) {
            if (!call->req.cancelled)
                return false;
            api_reply_error(&call->reply, -EAGAIN, "deskpoold is shutting down.");
        }
        if (r < 0 && call->reply.status == 0)
            api_reply_error(&call->reply, r, NULL);
    }
    if (call->reply.status == 0)
        api_reply_error(&call->reply, -EIO, "The handler produced no answer.");
    /* a 503 while stopping is no failure */
    if (call->reply.status >= 500 && call->route && !call->req.cancelled)
        api_log_failure(a, call->route, &call->reply);
    call->state = CALL_DONE;
    MHD_resume_connection(conn); /* from here on CALL is the event thread's */
    return true;
}

/* Whether A waits for desktops: the waiter of api-workers.c. */
static bool
api_wait_desk_ready(void *userdata, unsigned timeout_ms)
{
    struct api *a = userdata;

    return reconciler_wait_desk_ready(a->deps.reconciler, timeout_ms);
}

/* --- the event thread's side --- */

static struct api_call *
api_call_new(struct api *a, struct MHD_Connection *conn, const char *url, const char *method)
{
    struct api_call *call = xmalloc0(sizeof(*call));
    const union MHD_ConnectionInfo *ci;

    call->api = a;
    call->conn = conn;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    call->trusted = ci && a->unix_daemon && ci->daemon == a->unix_daemon;
    call->start = now_usec();
    call->req = (struct api_request) { .api = a, .conn = conn, .method = method, .url = url };
    return call;
}

static struct api_call *
api_call_free(struct api_call *call)
{
    if (!call)
        return NULL;
    for (size_t i = 0; i < API_MAX_PATH_PARAMS; i++)
        free(call->params[i]);
    strv_free(call->req.query);
    json_object_put(call->req.body);
    free(call->req.wait_pool);
    free(call->reply.body);
    free(call->buf);
    free(call);
    return NULL;
}

/* Queues CALL's reply on its connection (event thread). */
static enum MHD_Result
api_answer(struct api_call *call)
{
    struct api_reply *reply = &call->reply;
    _cleanup_free_ char *u = NULL;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    call->state = CALL_DONE;
    resp = MHD_create_response_from_buffer(strlen(reply->body), reply->body,
                                           MHD_RESPMEM_MUST_FREE);
    reply->body = NULL; /* the response's now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    if (reply->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (reply->ui_file) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'self'");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    }
    /* every 503 tells the client when to come back: libvirt reconnecting,
     * a store that cannot be read, a pool being filled */
    if (reply->status == 503 && reply->retry_after == 0)
        reply->retry_after = API_RETRY_AFTER_DEFAULT;
    if (reply->retry_after > 0) {
        char ra[16];

        snprintf(ra, sizeof(ra), "%u", reply->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    ret = MHD_queue_response(call->conn, reply->status, resp);
    MHD_destroy_response(resp);
    api_guard_set_phase(call->conn, API_CONN_WRITING);
    u = api_printable(call->req.url, 200);
    log_debug("%s %s -> %u (%.1f ms)", call->req.method, u, reply->status,
              (double) (now_usec() - call->start) / 1000.0);
    return ret;
}

/* The whole request is here: hands it to a handler thread. */
static enum MHD_Result
api_submit(struct api_call *call)
{
    struct api *a = call->api;
    unsigned n = 0;
    int r = 0;

    pthread_mutex_lock(&a->lock);
    if (a->stopping) {
        r = -ESHUTDOWN;
    } else if (!api_workers_has_room(a->workers)) {
        r = -EAGAIN;
        n = api_ratelimit_hit(&a->queue_full_rl, now_usec(), API_LOG_INTERVAL_USEC);
    } else {
        api_guard_set_phase(call->conn, API_CONN_BUSY);
        call->state = CALL_QUEUED;
        call->submitted = true;
        a->in_flight++;
        /* suspended before queued: a handler thread may resume it at once */
        MHD_suspend_connection(call->conn);
        r = api_workers_submit(a->workers, &call->job);
        assert(r >= 0); /* has_room and submit under one lock, and not stopping */
    }
    pthread_mutex_unlock(&a->lock);
    if (n > 0)
        log_warning("%u request(s) refused with 503: %d requests wait for the %d handler "
                    "threads", n, API_QUEUE_MAX, API_WORKER_THREADS);
    if (r == -ESHUTDOWN) {
        api_reply_error(&call->reply, -EAGAIN, "deskpoold is shutting down.");
        return api_answer(call);
    }
    if (r == -EAGAIN) {
        api_reply_error(&call->reply, -EAGAIN, "deskpoold is busy; try again.");
        call->reply.retry_after = API_RETRY_AFTER_BUSY;
        return api_answer(call);
    }
    return MHD_YES;
}

static enum MHD_Result
api_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
    struct api *a = cls;
    struct api_call *call = *con_cls;

    if (!call) {
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared;
        char *end = NULL;

        call = api_call_new(a, conn, url, method);
        *con_cls = call;
        if (cl) {
            errno = 0;
            declared = strtoull(cl, &end, 10);
            if (errno == ERANGE || (end && *end == '\0' && declared > API_MAX_BODY)) {
                /* refused before it is read: libmicrohttpd drops the body and closes */
                api_reply_errorf(&call->reply, -EFBIG, "Request body is larger than %d "
                                 "bytes.", API_MAX_BODY);
                return api_answer(call);
            }
        }
        return MHD_YES;
    }
    switch (call->state) {
    case CALL_READING:
        if (*upload_data_size > 0) {
            size_t n = *upload_data_size;

            if (!call->too_big && call->len + n <= API_MAX_BODY) {
                ARRAY_GROW(call->buf, call->alloc, call->len + n + 1);
                memcpy(call->buf + call->len, upload_data, n);
                call->len += n;
                call->buf[call->len] = '\0';
            } else {
                call->too_big = true;
                call->discarded += n;
                if (call->discarded > API_MAX_DISCARD)
                    return MHD_NO; /* a body without end: close */
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        return api_submit(call);
    case CALL_QUEUED:
        return MHD_YES; /* cannot happen: suspended */
    case CALL_DONE:
        if (call->reply.body)
            return api_answer(call);
        return MHD_YES; /* answered already */
    }
    return MHD_NO;
}

static void
api_request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    struct api_call *call = *con_cls;
    struct api *a = cls;

    if (call && call->submitted) {
        pthread_mutex_lock(&a->lock);
        if (--a->in_flight == 0)
            pthread_cond_broadcast(&a->drained);
        pthread_mutex_unlock(&a->lock);
    }
    *con_cls = api_call_free(call);
    /* a kept-alive connection waits for its next request: a new deadline */
    api_guard_set_phase(conn, API_CONN_READING);
}

/* libmicrohttpd decodes nothing: api_prepare() decodes each segment and
 * value once. */
static size_t
api_unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
    return strlen(s);
}

/* libmicrohttpd's own messages (malformed requests, limits) at debug. */
static void
api_mhd_log(void *cls, const char *fmt, va_list ap)
{
    _cleanup_free_ char *p = NULL;
    char buf[512];
    size_t n;

    (void) vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    p = api_printable(buf, sizeof(buf));
    log_debug("libmicrohttpd: %s", p);
}

/* --- listening --- */

static int
api_bind_unix(const char *path, int *ret_fd, char **reterr_msg)
{
    _cleanup_close_ int fd = -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        *reterr_msg = xasprintf("Socket path '%s' is too long.", path);
        return -EINVAL;
    }
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        (void) mkdir_p(dir, 0755);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A socket file left by a daemon that died: take it over only if
     * nobody answers on it. */
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
        *reterr_msg = xasprintf("Another deskpoold is serving '%s'.", path);
        return -EADDRINUSE;
    }
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    (void) unlink(path);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        int r = -errno;

        *reterr_msg = xasprintf("Cannot listen on '%s': %s.", path, strerror(-r));
        return r;
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int
api_parse_listen(const char *s, struct sockaddr_in *sa, char **reterr_msg)
{
    _cleanup_free_ char *host = xstrdup(s);
    char *colon = strrchr(host, ':');
    unsigned port;

    if (!colon || safe_atou(colon + 1, &port) < 0 || port == 0 || port > 65535) {
        *reterr_msg = xasprintf("listen '%s' is not ADDR:PORT.", s);
        return -EINVAL;
    }
    *colon = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, streq(host, "") ? "0.0.0.0" : host, &sa->sin_addr) != 1) {
        *reterr_msg = xasprintf("listen address '%s' is not an IPv4 address.", host);
        return -EINVAL;
    }
    return 0;
}

/* Connections one listener may hold: max_connections, within what the
 * file descriptor limit allows for N_LISTENERS (raised to the hard limit
 * when needed). */
static unsigned
api_connection_limit(unsigned wanted, unsigned n_listeners)
{
    struct rlimit rl;
    rlim_t need = (rlim_t) wanted * n_listeners + API_FD_RESERVE;
    unsigned fit;

    if (n_listeners == 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return wanted;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        struct rlimit raised = rl;

        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : MIN(need, rl.rlim_max);
        if (setrlimit(RLIMIT_NOFILE, &raised) >= 0)
            rl = raised;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return wanted;
    fit = rl.rlim_cur > API_FD_RESERVE + n_listeners
              ? (unsigned) ((rl.rlim_cur - API_FD_RESERVE) / n_listeners) : 1;
    log_warning("max_connections %u does not fit the file descriptor limit %llu; each "
                "listener takes at most %u connections", wanted,
                (unsigned long long) rl.rlim_cur, fit);
    return fit;
}

static struct MHD_Daemon *
api_start_daemon(struct api *a, struct api_guard *g, unsigned max_connections,
                 unsigned timeout, int fd, const struct sockaddr_in *sa)
{
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[] = {
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) api_request_done, a },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) api_guard_notify, g },
        { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t) api_unescape_none, a },
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) api_mhd_log, a },
        /* an idle timeout as well: api-conn.c's deadline is the real limit */
        { MHD_OPTION_CONNECTION_TIMEOUT, timeout, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, max_connections, NULL },
        { MHD_OPTION_END, 0, NULL },
    };

    if (fd >= 0)
        return MHD_start_daemon(flags, 0, NULL, NULL, api_handle, a,
                                MHD_OPTION_LISTEN_SOCKET, fd,
                                MHD_OPTION_ARRAY, opts,
                                MHD_OPTION_END);
    assert(sa); /* TCP: the caller parsed the address */
    return MHD_start_daemon(flags, ntohs(sa->sin_port), NULL, NULL, api_handle, a,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
}

/* The guard of one listener. Returns 0 or a negative errno + message. */
static int
api_guard_start(struct api *a, const char *name, unsigned max_connections, unsigned per_address,
                const struct conf *c, struct api_guard **ret, char **reterr_msg)
{
    struct api_guard_limits l = {
        .max_connections = max_connections,
        .per_address = per_address,
        .request_timeout = c->request_timeout,
    };
    int r;

    r = api_guard_new(name, &l, api_failure_flush, a, ret);
    if (r < 0)
        *reterr_msg = xasprintf("Cannot start the connection guard of %s: %s.", name,
                                strerror(-r));
    return r;
}

int
api_start(const struct api_deps *deps, const struct conf *c, struct api **ret,
          char **reterr_msg)
{
    struct api *a = xmalloc0(sizeof(*a));
    bool has_unix = c->socket && !streq(c->socket, "");
    bool has_tcp = c->listen && !streq(c->listen, "");
    unsigned max_conn;
    int r;

    a->deps = *deps;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->drained, NULL);
    a->failures = api_failure_log_new();
    api_settings_from_conf(&a->settings, c);
    r = api_tokens_load(c->tokens_file, &a->tokens, &a->n_tokens, reterr_msg);
    if (r < 0)
        goto fail;
    r = api_workers_new(API_WORKER_THREADS, API_QUEUE_MAX, api_call_run, api_wait_desk_ready,
                        a, &a->workers);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot start the REST handler threads: %s.", strerror(-r));
        goto fail;
    }
    max_conn = api_connection_limit(c->max_connections, (has_unix ? 1 : 0) + (has_tcp ? 1 : 0));

    if (has_unix) {
        int fd = -1;

        r = api_bind_unix(c->socket, &fd, reterr_msg);
        if (r < 0)
            goto fail;
        a->socket_path = xstrdup(c->socket);
        /* every peer of the socket is local: no limit per address */
        r = api_guard_start(a, "unix socket", max_conn, 0, c, &a->unix_guard, reterr_msg);
        if (r < 0) {
            close(fd);
            goto fail;
        }
        a->unix_daemon = api_start_daemon(a, a->unix_guard, max_conn, c->request_timeout, fd,
                                          NULL);
        if (!a->unix_daemon) {
            close(fd);
            *reterr_msg = xasprintf("Cannot serve the unix socket '%s'.", c->socket);
            r = -EIO;
            goto fail;
        }
    }
    if (has_tcp) {
        _cleanup_free_ char *name = xasprintf("TCP %s", c->listen);
        struct sockaddr_in sa;

        r = api_parse_listen(c->listen, &sa, reterr_msg);
        if (r < 0)
            goto fail;
        if (a->n_tokens == 0)
            log_warning("TCP listener on %s has no tokens (tokens_file '%s'): every request "
                        "but /healthz and /metrics will get 401", c->listen, c->tokens_file);
        r = api_guard_start(a, name, max_conn, c->max_connections_per_address, c,
                            &a->tcp_guard, reterr_msg);
        if (r < 0)
            goto fail;
        a->tcp_daemon = api_start_daemon(a, a->tcp_guard, max_conn, c->request_timeout, -1,
                                         &sa);
        if (!a->tcp_daemon) {
            *reterr_msg = xasprintf("Cannot listen on %s.", c->listen);
            r = -EADDRINUSE;
            goto fail;
        }
    }
    *ret = a;
    return 0;

fail:
    api_stop(a);
    return r;
}

int
api_reload(struct api *a, const struct conf *c, char **reterr_msg)
{
    struct api_token *tokens = NULL;
    struct api_settings old;
    size_t n = 0;
    int r;

    r = api_tokens_load(c->tokens_file, &tokens, &n, reterr_msg);
    if (r < 0)
        return r;
    pthread_mutex_lock(&a->lock);
    free(a->tokens);
    a->tokens = tokens;
    a->n_tokens = n;
    old = a->settings;
    api_settings_from_conf(&a->settings, c);
    pthread_mutex_unlock(&a->lock);
    api_settings_done(&old);
    return 0;
}

struct api *
api_stop(struct api *a)
{
    if (!a)
        return NULL;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_mutex_unlock(&a->lock);
    /* answers every queued and waiting request: no connection stays suspended */
    a->workers = api_workers_free(a->workers);
    /* lets the event threads send those answers (bounded: a client may not read) */
    pthread_mutex_lock(&a->lock);
    if (a->in_flight > 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t) (API_DRAIN_USEC / 1000000ULL);
        while (a->in_flight > 0)
            if (pthread_cond_timedwait(&a->drained, &a->lock, &ts) != 0)
                break;
    }
    pthread_mutex_unlock(&a->lock);
    if (a->unix_daemon)
        MHD_stop_daemon(a->unix_daemon);
    if (a->tcp_daemon)
        MHD_stop_daemon(a->tcp_daemon);
    a->unix_guard = api_guard_free(a->unix_guard);
    a->tcp_guard = api_guard_free(a->tcp_guard);
    if (a->socket_path)
        (void) unlink(a->socket_path);
    free(a->socket_path);
    free(a->tokens);
    api_settings_done(&a->settings);
    a->failures = api_failure_log_free(a->failures);
    pthread_cond_destroy(&a->drained);
    pthread_mutex_destroy(&a->lock);
    free(a);
    return NULL;
}
