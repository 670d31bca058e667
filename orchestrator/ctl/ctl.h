/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl.h - what the deskpoolctl files share: the global options, the
 * command table's shape, reporting, JSON access and requests.
 *
 * deskpoolctl is split by verb group, like systemd's src/systemctl/:
 * ctl-main.c (options, the command table, dispatch, health), ctl-image.c,
 * ctl-pool.c (pools and desktops), ctl-host.c (hosts, capacity and a pool's
 * placement fields), ctl-session.c (sessions and audit), ctl-operation.c
 * (rebase, refresh, operations) and ctl-util.c (the helpers below);
 * ctl-http.c talks libcurl, ctl-output.c prints tables.
 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "ctl-http.h"
#include "ctl-output.h"
#include "macro.h"

#define USEC_PER_SEC 1000000ULL
#define WAIT_POLL_USEC 500000ULL
#define WAIT_FAILED_GRACE_USEC (2 * USEC_PER_SEC)
#define DEFAULT_REQUEST_TIMEOUT_SEC 30U
#define DEFAULT_WAIT_TIMEOUT_SEC 600U
/* Entries asked for per page of a list route (deskpoold's maximum). */
#define CTL_LIST_PAGE 1000U

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(struct json_object *, json_object_put, ctl_json_putp)

/* Options shared by all commands; each command lists the ones it takes. */
enum {
    OPT_JSON,
    OPT_HELP,
    OPT_NOTE,
    OPT_IMAGE,
    OPT_IMAGE_VERSION,
    OPT_TEMPLATE,
    OPT_MODE,
    OPT_MIN,
    OPT_SPARE,
    OPT_MAX,
    OPT_WAIT,
    OPT_FORCE,
    OPT_TIMEOUT,
    OPT_POOL,
    OPT_USER,
    OPT_ALL,
    OPT_ENDED,
    OPT_LIMIT,
    OPT_GROUPS,
    OPT_IDLE_TIMEOUT,
    OPT_MAX_SESSION,
    OPT_ALLOW_REDIRECTION,
    OPT_TO,
    OPT_POLICY,
    OPT_WARN,
    OPT_BATCH,
    OPT_NO_WAIT,
    OPT_SINCE,
    OPT_CLONE,
    OPT_MAX_DESKTOPS,
    OPT_RESERVE_MEMORY,
    OPT_LABELS,
    OPT_STORAGE_DIR,
    OPT_CONSOLE_ADDRESS,
    OPT_PLACEMENT,
    OPT_REQUIRE_LABELS,
    OPT_OVERCOMMIT,
    _OPT_MAX,
    /* global-only */
    OPT_SOCKET = 0x100,
    OPT_URL,
    OPT_TOKEN,
    OPT_VERSION,
    OPT_INSTANCE,
};
#define F(o) (UINT64_C(1) << (o))
_Static_assert(_OPT_MAX <= 64, "struct ctl_verb's options mask has 64 bits");

struct ctl_verb {
    const char *group;      /* "pool", or NULL for a top-level command */
    const char *name;
    const char *synopsis;   /* what follows the command words in usage */
    unsigned min_args;
    unsigned max_args;
    uint64_t options;       /* F(OPT_*) accepted besides --json and --help */
    int (*run)(char **args, size_t n_args);
    const char *help;
};

#define SIZE_OPTS (F(OPT_MIN) | F(OPT_SPARE) | F(OPT_MAX))
#define POLICY_OPTS (F(OPT_GROUPS) | F(OPT_IDLE_TIMEOUT) | F(OPT_MAX_SESSION) | \
                     F(OPT_ALLOW_REDIRECTION))
#define PLACEMENT_OPTS (F(OPT_PLACEMENT) | F(OPT_REQUIRE_LABELS) | F(OPT_OVERCOMMIT))
#define HOST_LIMIT_OPTS (F(OPT_MAX_DESKTOPS) | F(OPT_RESERVE_MEMORY) | F(OPT_LABELS))

/* Global and command options (ctl-main.c). */
extern const char *arg_socket;
extern const char *arg_url;
extern const char *arg_token;
extern bool arg_json;
extern unsigned arg_timeout;
extern const char *arg_note;
extern const char *arg_image;
extern const char *arg_image_version;
extern const char *arg_template;
extern const char *arg_mode;
extern const char *arg_clone;
extern const char *arg_pool;
extern const char *arg_user;
extern bool arg_all;
extern bool arg_ended;
extern int64_t arg_limit;
extern const char *arg_groups;           /* "a,b,c"; "" = everyone; NULL = not given */
extern int64_t arg_idle_timeout;         /* seconds */
extern int64_t arg_max_session;          /* seconds */
extern int arg_allow_redirection;        /* -1 not given, 0 no, 1 yes */
extern int64_t arg_min;
extern int64_t arg_spare;
extern int64_t arg_max;
extern bool arg_wait;
extern bool arg_force;
extern unsigned arg_wait_timeout;
extern const char *arg_to;               /* "vN", "N" or "latest"; NULL = not given */
extern const char *arg_policy;
extern int64_t arg_warn;                 /* seconds */
extern int64_t arg_batch;
extern bool arg_no_wait;
extern const char *arg_since;            /* "DUR" or a time; NULL = not given */
extern int64_t arg_max_desktops;         /* -1 not given, 0 no limit */
extern const char *arg_reserve_memory;   /* "4G" as typed; NULL = not given */
extern const char *arg_labels;           /* "k=v,k2=v2"; "" = none; NULL = not given */
extern const char *arg_storage_dir;
extern const char *arg_console_address;
extern const char *arg_placement;        /* "spread" or "pack"; NULL = not given */
extern const char *arg_require_labels;   /* "k=v,..."; "" = none; NULL = not given */
extern bool arg_overcommit;

extern struct ctl_http_target target;
extern struct ctl_progress *active_progress;

/* The commands. */
int verb_health(char **args, size_t n_args);
int verb_check(char **args, size_t n_args);
int verb_image_add(char **args, size_t n_args);
int verb_image_list(char **args, size_t n_args);
int verb_image_show(char **args, size_t n_args);
int verb_image_publish(char **args, size_t n_args);
int verb_image_versions(char **args, size_t n_args);
int verb_image_retire(char **args, size_t n_args);
int verb_image_refresh(char **args, size_t n_args);
int verb_pool_create(char **args, size_t n_args);
int verb_pool_resize(char **args, size_t n_args);
int verb_pool_set(char **args, size_t n_args);
int verb_pool_rebase(char **args, size_t n_args);
int verb_pool_list(char **args, size_t n_args);
int verb_pool_show(char **args, size_t n_args);
int verb_pool_delete(char **args, size_t n_args);
int verb_pool_wait(char **args, size_t n_args);
int verb_desktop_list(char **args, size_t n_args);
int verb_host_list(char **args, size_t n_args);
int verb_host_show(char **args, size_t n_args);
int verb_host_add(char **args, size_t n_args);
int verb_host_set(char **args, size_t n_args);
int verb_host_drain(char **args, size_t n_args);
int verb_host_undrain(char **args, size_t n_args);
int verb_host_remove(char **args, size_t n_args);
int verb_host_capacity(char **args, size_t n_args);
int verb_operation_list(char **args, size_t n_args);
int verb_operation_show(char **args, size_t n_args);
int verb_session_list(char **args, size_t n_args);
int verb_session_show(char **args, size_t n_args);
int verb_session_end(char **args, size_t n_args);
int verb_audit(char **args, size_t n_args);

/* Helpers (ctl-util.c). Those that fail report the error once (report_error)
 * and return a negative errno: -EINVAL for bad input. */
void print_json_text(const char *text);
/* Report a failure once: "deskpoolctl: MESSAGE" on stderr and, with --json,
 * an error document on stdout (server_json verbatim when the server sent
 * one, else {"error":{"code":code,"message":MESSAGE}}). Returns r. */
int report_error(int r, const char *code, const char *server_json, const char *fmt, ...)
    _printf_(4, 5);
struct json_object *jget(struct json_object *o, const char *key);
/* A field as text (strings as is, numbers formatted); NULL when absent or null. */
const char *jstr(struct json_object *o, const char *key);
int64_t jint(struct json_object *o, const char *key);
size_t jarray_len(struct json_object *a);
char *path_escape(const char *s);
char *pool_path(const char *name);
char *image_path(const char *name);
char *operation_path(const char *id);
/* Send one request. On a 2xx answer (and on the answers flags allow)
 * returns 0 with the parsed document, the raw body and the status. On
 * anything else reports the error (the server's error.message when there
 * is one) and returns -EINVAL for an input error, another negative errno
 * otherwise. */
int call(const char *method, const char *path, struct json_object *body, unsigned flags,
         long *ret_status, struct json_object **ret_doc, char **ret_raw);
/* GET the list route PATH (it may carry a query) page by page, following
 * "next", until the end or MAX entries (0: no limit). Returns 0 with one
 * document {KEY: [entries...]} (and its text for --json, when RET_RAW is
 * not NULL), or fails like call(). */
int call_list(const char *path, const char *key, size_t max, struct json_object **ret_doc,
              char **ret_raw);
/* call() for a command whose answer is what it shows: 1 when --json printed
 * it (done), 0 with the parsed document for a human rendering, negative
 * errno (reported). */
int call_show(const char *method, const char *path, struct json_object *body,
              struct json_object **ret_doc);
int parse_size_option(const char *opt, const char *s, int64_t *ret);
int parse_timeout_option(const char *s, unsigned *ret);
int parse_duration_option(const char *opt, const char *s, int64_t *ret);
/* NULL (a bare flag) is yes. */
int parse_yes_no_option(const char *opt, const char *s, int *ret);
int check_principal(const char *what, const char *name);
/* Add the session policy options that were given to a pool body. Returns
 * 0 or -EINVAL (reported). */
int policy_to_json(struct json_object *body);
/* Add the placement options that were given (--placement, --require-labels
 * as "host_labels", --overcommit) to a pool body (ctl-host.c). Returns 0 or
 * -EINVAL (reported) for a bad label. */
int placement_to_json(struct json_object *body);
/* True when one of those options was given. */
bool placement_given(void);
/* A pool's placement as people read it: "spread, on any host" or "pack,
 * on hosts with gpu=yes,site=a". New string. */
char *placement_label(struct json_object *pool);
/* A size as typed for the server: digits with an optional K, M, G or T
 * ("512M", "4G"). Returns 0, or -EINVAL (reported) naming OPT. */
int check_size_option(const char *opt, const char *s);
int check_name(const char *what, const char *name);
/* An image version as typed: "vN" or "N" (N from 1), or "latest" (0) when
 * latest_ok. Returns 0 with *ret set, or -EINVAL (reported). */
int parse_version(const char *what, const char *s, bool latest_ok, unsigned *ret);
/* 0 as "latest", else the number. */
struct json_object *version_to_json(unsigned version);
bool jbool(struct json_object *o, const char *key);
void sleep_usec(uint64_t usec);
/* "15m (900 s)". New string. */
char *seconds_label(int64_t sec);
const char *yes_no(bool b);
/* Append "&key=escaped(value)" (or "?..." as the first) to *url. */
void url_add_query(char **url, const char *key, const char *value);
const char *dash(const char *s);
/* "v2", or "-" for 0. New string. */
char *version_label(int64_t version);
uint64_t wait_deadline(void);
/* Prints the PARENTS array of a pool or image (instant clones) as a
 * table under a blank line and a title; nothing when it is empty. */
void print_parents(struct json_object *parents);
#define usage_error(...) report_error(-EINVAL, "invalid_argument", NULL, __VA_ARGS__)

#define CALL_ALLOW_NOT_FOUND (1U << 0)  /* 404 is an answer, not an error */
#define CALL_ALLOW_DEGRADED  (1U << 1)  /* 503 without an error document is an answer */
