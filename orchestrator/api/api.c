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
 *   One thread per connection (libmicrohttpd's), so a handler may block
 *   on the store. Bodies are collected up to API_MAX_BODY, parsed as a
 *   strict JSON object, then one route table dispatches by method and path
 *   pattern ("{}" segments become req->params) and checks the role.
 *   Handlers (api-*.c) turn negative errnos into replies through
 *   api-error.c; nothing below the API knows about HTTP.
 *   Handlers never change desktops: they write desired state to the store
 *   and wake the reconciler.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api-error.h"
#include "array.h"
#include "api-priv.h"
#include "digest.h"
#include "log.h"
#include "name.h"
#include "util.h"

#define ROLES(...) ((const enum api_role[]) { __VA_ARGS__, API_ROLE_NONE })

struct api_route {
    const char *method;
    const char *pattern;
    api_handler fn;
    const enum api_role *roles; /* who may call it, API_ROLE_NONE-terminated */
};

static const struct api_route api_routes[] = {
    { "GET", "/healthz", api_healthz, NULL },
    { "GET", "/metrics", api_metrics, NULL },
    { "GET", "/v1/check", api_check, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/images", api_images_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/images", api_images_add, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/images/{}", api_images_get, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/pools", api_pools_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/pools", api_pools_create, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/pools/{}", api_pools_get, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "PATCH", "/v1/pools/{}", api_pools_update, ROLES(API_ROLE_OPERATOR) },
    { "DELETE", "/v1/pools/{}", api_pools_delete, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/desktops", api_desktops_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/pools/{}/sessions", api_sessions_acquire,
      ROLES(API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "GET", "/v1/sessions", api_sessions_list,
      ROLES(API_ROLE_READER, API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "GET", "/v1/sessions/{}", api_sessions_get,
      ROLES(API_ROLE_READER, API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "DELETE", "/v1/sessions/{}", api_sessions_release,
      ROLES(API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "POST", "/v1/sessions/{}/heartbeat", api_sessions_heartbeat,
      ROLES(API_ROLE_BROKER, API_ROLE_OPERATOR) },
    { "GET", "/v1/audit", api_audit_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "POST", "/v1/pools/{}/rebase", api_pools_rebase, ROLES(API_ROLE_OPERATOR) },
    { "POST", "/v1/refresh", api_refresh, ROLES(API_ROLE_OPERATOR) },
    { "GET", "/v1/operations", api_operations_list, ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "GET", "/v1/operations/{}", api_operations_get,
      ROLES(API_ROLE_READER, API_ROLE_OPERATOR) },
    { "DELETE", "/v1/images/{}/versions/{}", api_images_retire, ROLES(API_ROLE_OPERATOR) },
};

static const char *const api_role_names[_API_ROLE_MAX] = {
    [API_ROLE_NONE] = "none",
    [API_ROLE_READER] = "reader",
    [API_ROLE_BROKER] = "broker",
    [API_ROLE_OPERATOR] = "operator",
};

/* Per-connection upload state. */
struct api_upload {
    char *buf;
    size_t len, alloc;
    bool too_big;
    uint64_t start;
};

/* --- replies --- */

int
api_reply_json(struct api_reply *reply, unsigned status, json_object *obj)
{
    reply->status = status;
    reply->body = json_to_string_dup(obj);
    reply->content_type = "application/json";
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
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

void
api_settings_done(struct api_settings *s)
{
    free(s->templates_dir);
    free(s->console_host);
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
        .acquire_timeout = c->acquire_timeout,
        .console_password_required = streq(c->console_password, "required"),
        .hooks_dir = xstrdup(c->hooks_dir),
        .hook_timeout = c->hook_timeout,
    };
}

void
api_settings_get(struct api *a, struct api_settings *ret)
{
    pthread_mutex_lock(&a->lock);
    *ret = a->settings;
    ret->templates_dir = xstrdup(a->settings.templates_dir);
    ret->console_host = xstrdup(a->settings.console_host);
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
            *reterr_msg = xasprintf("%s:%u: unknown role '%s' (reader, broker, operator).",
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

/* Matches URL against PATTERN; "{}" takes one non-empty segment. */
static bool
api_route_match(const char *pattern, const char *url, char **params, size_t *n_params)
{
    const char *p = pattern, *u = url;

    *n_params = 0;
    while (*p && *u) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(u, '/');
            size_t len = end ? (size_t) (end - u) : strlen(u);

            if (len == 0 || *n_params >= API_MAX_PATH_PARAMS)
                return false;
            params[(*n_params)++] = strndup(u, len);
            p += 2;
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

static void
api_dispatch(struct api_request *req, struct api_upload *up, bool trusted, struct api_reply *reply)
{
    char *params[API_MAX_PATH_PARAMS] = { NULL };
    const struct api_route *found = NULL;
    bool path_known = false;
    size_t n_params = 0;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(api_routes) && !found; i++) {
        size_t n = 0;
        char *p[API_MAX_PATH_PARAMS] = { NULL };

        if (!api_route_match(api_routes[i].pattern, req->url, p, &n)) {
            for (size_t k = 0; k < n; k++)
                free(p[k]);
            continue;
        }
        path_known = true;
        if (streq(api_routes[i].method, req->method)) {
            found = &api_routes[i];
            memcpy(params, p, sizeof(p));
            n_params = n;
        } else {
            for (size_t k = 0; k < n; k++)
                free(p[k]);
        }
    }
    if (!found) {
        if (path_known)
            api_reply_errorf(reply, -EOPNOTSUPP, "Method %s is not allowed on '%s'.",
                             req->method, req->url);
        else
            api_reply_errorf(reply, -ENOENT, "No such route '%s'.", req->url);
        goto cleanup;
    }
    for (size_t i = 0; i < n_params; i++) {
        MHD_http_unescape(params[i]);
        req->params[i] = params[i];
    }

    req->role = trusted ? API_ROLE_OPERATOR : api_authenticate(req->api, req->conn);
    if (found->roles && req->role == API_ROLE_NONE) {
        api_reply_error(reply, -EACCES, "A valid bearer token is required.");
        goto cleanup;
    }
    if (!api_role_allowed(found, req->role)) {
        api_reply_errorf(reply, -EPERM, "Role '%s' may not call %s %s.",
                         api_role_names[req->role], req->method, found->pattern);
        goto cleanup;
    }

    if (up->too_big) {
        api_reply_errorf(reply, -EFBIG, "Request body is larger than %d bytes.", API_MAX_BODY);
        goto cleanup;
    }
    if (up->len > 0) {
        const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        _cleanup_free_ char *err = NULL;

        if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
            api_reply_error(reply, -EMEDIUMTYPE, "Request bodies must be application/json.");
            goto cleanup;
        }
        r = json_parse_object(up->buf, up->len, &req->body, &err);
        if (r < 0) {
            api_reply_error(reply, r, err);
            goto cleanup;
        }
    }
    r = found->fn(req, reply);
    if (r < 0 && reply->status == 0)
        api_reply_error(reply, r, NULL);

cleanup:
    for (size_t i = 0; i < API_MAX_PATH_PARAMS; i++)
        free(params[i]);
    json_object_put(req->body);
    req->body = NULL;
}

static enum MHD_Result
api_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
    struct api *a = cls;
    struct api_upload *up = *con_cls;
    struct api_reply reply = { 0 };
    struct api_request req = { .api = a, .conn = conn, .method = method, .url = url };
    const union MHD_ConnectionInfo *ci;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    bool trusted;

    if (!up) {
        up = xmalloc0(sizeof(*up));
        up->start = now_usec();
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!up->too_big && up->len + *upload_data_size <= API_MAX_BODY) {
            ARRAY_GROW(up->buf, up->alloc, up->len + *upload_data_size + 1);
            memcpy(up->buf + up->len, upload_data, *upload_data_size);
            up->len += *upload_data_size;
            up->buf[up->len] = '\0';
        } else {
            up->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    trusted = ci && ci->daemon == a->unix_daemon;
    api_dispatch(&req, up, trusted, &reply);
    if (reply.status == 0)
        api_reply_error(&reply, -EIO, "The handler produced no answer.");

    resp = MHD_create_response_from_buffer(strlen(reply.body), reply.body,
                                           MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply.content_type);
    if (reply.status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (reply.retry_after > 0) {
        char ra[16];

        snprintf(ra, sizeof(ra), "%u", reply.retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    ret = MHD_queue_response(conn, reply.status, resp);
    MHD_destroy_response(resp);
    log_debug("%s %s -> %u (%.1f ms)", method, url, reply.status,
              (double) (now_usec() - up->start) / 1000.0);
    return ret;
}

static void
api_request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    struct api_upload *up = *con_cls;

    if (!up)
        return;
    free(up->buf);
    free(up);
    *con_cls = NULL;
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
        listen(fd, 128) < 0) {
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

static struct MHD_Daemon *
api_start_daemon(struct api *a, int fd, const struct sockaddr_in *sa)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;

    if (fd >= 0)
        return MHD_start_daemon(flags, 0, NULL, NULL, api_handle, a,
                                MHD_OPTION_LISTEN_SOCKET, fd,
                                MHD_OPTION_NOTIFY_COMPLETED, api_request_done, a,
                                MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                MHD_OPTION_CONNECTION_LIMIT, 1024u,
                                MHD_OPTION_END);
    assert(sa); /* TCP: the caller parsed the address */
    return MHD_start_daemon(flags, ntohs(sa->sin_port), NULL, NULL, api_handle, a,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_NOTIFY_COMPLETED, api_request_done, a,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_CONNECTION_LIMIT, 1024u,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, 256u,
                            MHD_OPTION_END);
}

int
api_start(const struct api_deps *deps, const struct conf *c, struct api **ret,
          char **reterr_msg)
{
    struct api *a = xmalloc0(sizeof(*a));
    int r;

    a->deps = *deps;
    pthread_mutex_init(&a->lock, NULL);
    api_settings_from_conf(&a->settings, c);
    r = api_tokens_load(c->tokens_file, &a->tokens, &a->n_tokens, reterr_msg);
    if (r < 0)
        goto fail;

    if (c->socket && !streq(c->socket, "")) {
        int fd = -1;

        r = api_bind_unix(c->socket, &fd, reterr_msg);
        if (r < 0)
            goto fail;
        a->socket_path = xstrdup(c->socket);
        a->unix_daemon = api_start_daemon(a, fd, NULL);
        if (!a->unix_daemon) {
            close(fd);
            *reterr_msg = xasprintf("Cannot serve the unix socket '%s'.", c->socket);
            r = -EIO;
            goto fail;
        }
    }
    if (c->listen && !streq(c->listen, "")) {
        struct sockaddr_in sa;

        r = api_parse_listen(c->listen, &sa, reterr_msg);
        if (r < 0)
            goto fail;
        if (a->n_tokens == 0)
            log_warning("TCP listener on %s has no tokens (tokens_file '%s'): every request "
                        "but /healthz and /metrics will get 401", c->listen, c->tokens_file);
        a->tcp_daemon = api_start_daemon(a, -1, &sa);
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
    if (a->unix_daemon)
        MHD_stop_daemon(a->unix_daemon);
    if (a->tcp_daemon)
        MHD_stop_daemon(a->tcp_daemon);
    if (a->socket_path)
        (void) unlink(a->socket_path);
    free(a->socket_path);
    free(a->tokens);
    api_settings_done(&a->settings);
    pthread_mutex_destroy(&a->lock);
    free(a);
    return NULL;
}
