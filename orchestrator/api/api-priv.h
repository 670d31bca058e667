/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-priv.h - what api.c shares with the route handlers (api-*.c). */
#pragma once

#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>

#include "api.h"
#include "capacity.h"
#include "api-request.h"
#include "json-util.h"

#define API_MAX_BODY (64 * 1024)
#define API_MAX_PATH_PARAMS 4
#define API_MAX_QUERY_ARGS 16
/* List routes: a page has API_LIST_DEFAULT entries unless ?limit= asks for
 * 1..API_LIST_MAX. */
#define API_LIST_DEFAULT 100
#define API_LIST_MAX 1000
/* What a handler returns to be run again later (see api_retry()). */
#define API_RETRY 1

enum api_role {
    API_ROLE_NONE,
    API_ROLE_READER,   /* GET only */
    API_ROLE_BROKER,   /* sessions */
    API_ROLE_OPERATOR, /* everything */
    API_ROLE_GATEWAY,  /* the browser console gateway: redeems tickets, watches sessions */
    _API_ROLE_MAX,
};

struct api_token {
    enum api_role role;
    char sha256[65];
};

/* The reloadable settings the handlers use; a copy is theirs to keep. */
struct api_settings {
    char *templates_dir;
    char *console_host;
    unsigned console_ttl;
    char *console_gateway_url;   /* "" = no browser URLs */
    unsigned console_ticket_ttl;
    unsigned acquire_timeout;
    bool console_password_required;
    char *hooks_dir;
    unsigned hook_timeout;
    unsigned host_lost_grace;
};
void api_settings_done(struct api_settings *s);
/* A copy of the current settings (free with api_settings_done()). */
void api_settings_get(struct api *a, struct api_settings *ret);

/* Counts events and says when a log line may report them: at most one line
 * per interval. The caller holds whatever lock guards it. */
struct api_ratelimit {
    uint64_t last;      /* monotonic usec of the last line; 0: none yet */
    unsigned pending;   /* events not reported yet */
};
/* Records one event at NOW. Returns the number of events the caller logs
 * now (this one and those held back), or 0 to stay quiet. */
unsigned api_ratelimit_hit(struct api_ratelimit *rl, uint64_t now, uint64_t interval);
/* The number of held-back events to log now that INTERVAL has passed
 * since the last line (0: none, or not yet). For periodic flushes. */
unsigned api_ratelimit_flush(struct api_ratelimit *rl, uint64_t now, uint64_t interval);

struct api_workers;
struct api_guard;
struct api_failure_log;

struct api {
    struct api_deps deps;
    struct MHD_Daemon *unix_daemon, *tcp_daemon;
    struct api_guard *unix_guard, *tcp_guard;
    struct api_workers *workers;
    char *socket_path;
    pthread_mutex_t lock; /* guards the settings below, stopping, and submitting to workers */
    struct api_token *tokens;
    size_t n_tokens;
    struct api_settings settings;
    bool stopping;        /* no request is queued for a handler any more */
    unsigned in_flight;   /* requests handed to a handler and not yet answered in full */
    pthread_cond_t drained; /* in_flight reached 0 */
    struct api_ratelimit queue_full_rl;
    struct api_failure_log *failures; /* 5xx causes logged, rate-limited (api.c) */
};

struct api_request {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;                         /* as sent: still percent-encoded */
    const char *params[API_MAX_PATH_PARAMS]; /* {name} segments, decoded once */
    char **query;                            /* key, value, ...: decoded once (api_query()) */
    json_object *body;                       /* NULL without a body */
    enum api_role role;
    /* A handler that returns API_RETRY runs again with the same request;
     * these carry what it needs across its runs. */
    unsigned runs;                           /* earlier runs of the handler */
    bool cancelled;                          /* deskpoold is stopping: answer now */
    uint64_t wait_deadline;                  /* the handler's own (monotonic usec), 0: unset */
    char *wait_pool;                         /* acquire: the pool it counts as waiting for */
    uint64_t first_run;                      /* acquire: monotonic usec of its first run */
};

struct api_reply {
    unsigned status;
    char *body;
    const char *content_type;
    unsigned retry_after;   /* seconds, for a Retry-After header; 0 = none */
    int err;                /* the negative errno of an error answer, for the log */
    bool ui_file;           /* a dashboard file: no-store and the browser's security headers */
};

typedef int (*api_handler)(struct api_request *req, struct api_reply *reply);

/* Fills REPLY with OBJ as JSON (takes the reference). Returns 0. */
int api_reply_json(struct api_reply *reply, unsigned status, json_object *obj);
/* Fills REPLY with the error for ERR and MESSAGE. Returns 0. */
int api_reply_error(struct api_reply *reply, int err, const char *message);
/* The same with a more precise error code than the errno's (same status). */
int api_reply_error_code(struct api_reply *reply, int err, const char *code,
                         const char *message);
/* The same, the message built from a format. */
int api_reply_errorf(struct api_reply *reply, int err, const char *fmt, ...) _printf_(3, 4);
/* Who is calling, for the audit log and created_by: the token's role
 * ("operator" on the unix socket). */
const char *api_actor(const struct api_request *req);
/* A query argument (decoded, no control character), or NULL. */
const char *api_query(struct api_request *req, const char *key);
/* For a handler that must wait for something (a desktop to become ready):
 * its return value. The handler runs again with the same request when the
 * reconciler reports a ready desktop, or after at most 250 ms; meanwhile
 * no thread is held. On the run with req->cancelled set it must answer. */
int api_retry(struct api_request *req);

/* Paging of list routes: ?limit=N (1..API_LIST_MAX, default
 * API_LIST_DEFAULT) and ?after=CURSOR (the "next" of the previous page:
 * opaque to clients). */
struct api_page {
    unsigned limit;
    const char *after;  /* NULL: the first page */
};
/* Reads the paging arguments. Returns 0, or -EINVAL with the reply filled. */
int api_get_page(struct api_request *req, struct api_reply *reply, struct api_page *ret);
/* Adds "next": CURSOR (a string, taken) or null to a list answer O. */
void api_add_next(json_object *o, char *cursor);
/* The reply for an "after" that this server did not give. Returns 0. */
int api_reply_bad_cursor(struct api_reply *reply);
/* Cursors are "NUMBER" or "NUMBER.TEXT": the sort key of the last entry
 * of a page. Parses CURSOR: 0 with *ret_text pointing into it (NULL when
 * there is no ".TEXT"), or -EINVAL. */
int api_cursor_parse(const char *cursor, int64_t *ret_num, const char **ret_text);
/* "NUM" or "NUM.TEXT" (TEXT may be NULL). A new string. */
char *api_cursor_format(int64_t num, const char *text);

/* Reads the required name field FIELD (a pool, image... name: KIND for the
 * message) into *ret. Returns 0, or -EINVAL with the reply filled. */
int api_get_name(struct api_request *req, struct api_reply *reply, const char *field,
                 const char *kind, const char **ret);

/* Body checks shared by the handlers: a body must be there and carry only
 * ALLOWED fields. On failure the reply is filled and a negative errno returned. */
int api_require_body(struct api_request *req, struct api_reply *reply,
                     const char *const *allowed);

/* api-images.c */
int api_images_list(struct api_request *req, struct api_reply *reply);
int api_images_add(struct api_request *req, struct api_reply *reply);
int api_images_get(struct api_request *req, struct api_reply *reply);
json_object *api_image_to_json(const struct image *img);

/* api-pools.c */
int api_pools_list(struct api_request *req, struct api_reply *reply);
int api_pools_create(struct api_request *req, struct api_reply *reply);
int api_pools_get(struct api_request *req, struct api_reply *reply);
int api_pools_update(struct api_request *req, struct api_reply *reply);
int api_pools_delete(struct api_request *req, struct api_reply *reply);
int api_desktops_list(struct api_request *req, struct api_reply *reply);

/* api-hosts.c */
/* Hosts as seen, pools, desktops and their capacity (capacity.c). */
struct api_capacity {
    struct cluster cl;
    struct pool **pools;
    size_t n_pools;
    struct desk **desks;
    size_t n_desks;
    struct capacity cap;
    char *templates_dir;
    unsigned vcpus_per_cpu;
};
int api_capacity_load(struct api_request *req, struct api_capacity *ret);
void api_capacity_done(struct api_capacity *c);
int api_capacity(struct api_request *req, struct api_reply *reply);
/* Admission control: 0 when pool P's min fits on its eligible hosts once
 * the other pools have what they lack (IS_NEW: P is not in the store
 * yet), else a negative errno with a 409 reply giving the numbers. */
int api_admit(struct api_request *req, struct api_reply *reply, const struct pool *p,
              bool is_new);
int api_hosts_list(struct api_request *req, struct api_reply *reply);
int api_hosts_add(struct api_request *req, struct api_reply *reply);
int api_hosts_get(struct api_request *req, struct api_reply *reply);
int api_hosts_update(struct api_request *req, struct api_reply *reply);
int api_hosts_drain(struct api_request *req, struct api_reply *reply);
int api_hosts_undrain(struct api_request *req, struct api_reply *reply);
int api_hosts_remove(struct api_request *req, struct api_reply *reply);

/* api-parents.c */
/* Parent P with its disk use and how many of DESKS are its clones. */
json_object *api_parent_to_json(const struct parent *p, struct desk **desks, size_t n_desks);
/* The parents of IMAGE (and TEMPLATE, unless NULL) as a new array. */
int api_parents_json(struct store *s, const char *image, const char *template,
                     json_object **ret);

/* api-sessions.c */
int api_sessions_acquire(struct api_request *req, struct api_reply *reply);
/* Session ids are UUIDs; anything else cannot name one (api-sessions.c). */
bool api_session_id_is_valid(const char *id);
/* api-console.c: a one-time password on the console of DOMAIN on host
 * DESK_HOST (NULL: local), valid TTL seconds. -ENOTCONN when the host has
 * no connection. */
struct console_grant;
int api_console_grant(struct api_request *req, const struct api_settings *set,
                      const char *domain, const char *desk_host, unsigned ttl,
                      struct console_grant *ret, char **reterr_msg);
/* Adds browser_url, websocket_url and ticket_expires to CONNECTION. */
void api_console_add_links(json_object *connection, const char *gateway_url,
                           const char *ticket, int64_t expires);
int api_console_redeem(struct api_request *req, struct api_reply *reply);
int api_console_watch(struct api_request *req, struct api_reply *reply);
int api_sessions_list(struct api_request *req, struct api_reply *reply);
int api_sessions_get(struct api_request *req, struct api_reply *reply);
int api_sessions_release(struct api_request *req, struct api_reply *reply);
int api_sessions_heartbeat(struct api_request *req, struct api_reply *reply);
int api_audit_list(struct api_request *req, struct api_reply *reply);

/* api-operations.c */
int api_pools_rebase(struct api_request *req, struct api_reply *reply);
int api_refresh(struct api_request *req, struct api_reply *reply);
int api_operations_list(struct api_request *req, struct api_reply *reply);
int api_operations_get(struct api_request *req, struct api_reply *reply);
int api_images_retire(struct api_request *req, struct api_reply *reply);
json_object *api_op_to_json(const struct op *o);

/* api-check.c */
int api_check(struct api_request *req, struct api_reply *reply);

/* api-metrics.c */
int api_healthz(struct api_request *req, struct api_reply *reply);
int api_metrics(struct api_request *req, struct api_reply *reply);
int api_history(struct api_request *req, struct api_reply *reply);
int api_whoami(struct api_request *req, struct api_reply *reply);

/* api-ui.c */
int api_ui_file(struct api_request *req, struct api_reply *reply);
