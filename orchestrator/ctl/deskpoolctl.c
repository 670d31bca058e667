/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* deskpoolctl.c - the operator's command line: a client of deskpoold's REST API
 *
 * Owns the command table, option parsing, the request bodies sent for each
 * command and the human rendering of the answers. Talks to deskpoold only
 * through ctl-http.c (libcurl) and prints only through ctl-output.c (tables,
 * progress) or, with --json, the server's own documents verbatim.
 *
 * DESIGN: `deskpoolctl [GLOBAL OPTIONS] [GROUP] VERB [ARGS] [OPTIONS]`.
 * Every command is one row of verbs[]: its words, its positional
 * arguments, the options it accepts (a bit mask over one shared option
 * table) and its function, so a new command is one row plus one function.
 * Input is checked before anything is sent (numbers with safe_atou,
 * durations with parse_duration, pool and image names with name_is_valid,
 * user and group names with principal_name_is_valid); the server checks
 * everything again. Each function
 * returns 0 or a negative errno and reports its error exactly once, at the
 * point it is detected (report_error()); main() maps -EINVAL (bad usage, or
 * a 4xx answer other than 401/403: the input was wrong) to exit status 2
 * and every other failure to 1.
 * Image updates (rebase, refresh) run in deskpoold as operations; the
 * commands that wait poll GET /v1/operations/ID every 0.5 s and never
 * decide anything themselves: a second refresh answered 200 is waited on.
 * With --json a command prints exactly one JSON document on stdout: the
 * server's answer, or on failure an error document
 * {"error":{"code","message"}} (the server's own when it sent one), while
 * the human sentence still goes to stderr. Nothing here ends the process
 * early: every path returns up to main(), which picks the exit status.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "ctl-http.h"
#include "ctl-output.h"
#include "name.h"
#include "util.h"

#define USEC_PER_SEC 1000000ULL
#define WAIT_POLL_USEC 500000ULL
#define WAIT_FAILED_GRACE_USEC (2 * USEC_PER_SEC)
#define DEFAULT_REQUEST_TIMEOUT_SEC 30U
#define DEFAULT_WAIT_TIMEOUT_SEC 600U

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
    _OPT_MAX,
    /* global-only */
    OPT_SOCKET = 0x100,
    OPT_URL,
    OPT_TOKEN,
    OPT_VERSION,
};
#define F(o) (1U << (o))

static const struct option verb_options[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, OPT_HELP },
    { "note", required_argument, NULL, OPT_NOTE },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "image-version", required_argument, NULL, OPT_IMAGE_VERSION },
    { "template", required_argument, NULL, OPT_TEMPLATE },
    { "mode", required_argument, NULL, OPT_MODE },
    { "min", required_argument, NULL, OPT_MIN },
    { "spare", required_argument, NULL, OPT_SPARE },
    { "max", required_argument, NULL, OPT_MAX },
    { "wait", no_argument, NULL, OPT_WAIT },
    { "force", no_argument, NULL, OPT_FORCE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "pool", required_argument, NULL, OPT_POOL },
    { "user", required_argument, NULL, OPT_USER },
    { "all", no_argument, NULL, OPT_ALL },
    { "ended", no_argument, NULL, OPT_ENDED },
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "groups", required_argument, NULL, OPT_GROUPS },
    { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "max-session", required_argument, NULL, OPT_MAX_SESSION },
    /* a bare flag, "=yes|no", or (pool set) the next word yes|no */
    { "allow-device-redirection", optional_argument, NULL, OPT_ALLOW_REDIRECTION },
    { "to", required_argument, NULL, OPT_TO },
    { "policy", required_argument, NULL, OPT_POLICY },
    { "warn", required_argument, NULL, OPT_WARN },
    { "batch", required_argument, NULL, OPT_BATCH },
    { "no-wait", no_argument, NULL, OPT_NO_WAIT },
    {}
};

static const struct option global_options[] = {
    { "socket", required_argument, NULL, OPT_SOCKET },
    { "url", required_argument, NULL, OPT_URL },
    { "token", required_argument, NULL, OPT_TOKEN },
    { "json", no_argument, NULL, OPT_JSON },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    {}
};

static const char *arg_socket;
static const char *arg_url;
static const char *arg_token;
static bool arg_json;
static unsigned arg_timeout = DEFAULT_REQUEST_TIMEOUT_SEC;
static const char *arg_note;
static const char *arg_image;
static const char *arg_image_version;
static const char *arg_template;
static const char *arg_mode;
static const char *arg_pool;
static const char *arg_user;
static bool arg_all;
static bool arg_ended;
static int64_t arg_limit = -1;
static const char *arg_groups;          /* "a,b,c"; "" = everyone; NULL = not given */
static int64_t arg_idle_timeout = -1;   /* seconds */
static int64_t arg_max_session = -1;    /* seconds */
static int arg_allow_redirection = -1;  /* -1 not given, 0 no, 1 yes */
static int64_t arg_min = -1;
static int64_t arg_spare = -1;
static int64_t arg_max = -1;
static bool arg_wait;
static bool arg_force;
static unsigned arg_wait_timeout = DEFAULT_WAIT_TIMEOUT_SEC;
static const char *arg_to;              /* "vN", "N" or "latest"; NULL = not given */
static const char *arg_policy;
static int64_t arg_warn = -1;           /* seconds */
static int64_t arg_batch = -1;
static bool arg_no_wait;

static struct ctl_http_target target;
static struct ctl_progress *active_progress;

struct ctl_verb {
    const char *group;      /* "pool", or NULL for a top-level command */
    const char *name;
    const char *synopsis;   /* what follows the command words in usage */
    unsigned min_args;
    unsigned max_args;
    unsigned options;       /* F(OPT_*) accepted besides --json and --help */
    int (*run)(char **args, size_t n_args);
    const char *help;
};

static int verb_health(char **args, size_t n_args);
static int verb_image_add(char **args, size_t n_args);
static int verb_image_list(char **args, size_t n_args);
static int verb_image_show(char **args, size_t n_args);
static int verb_image_publish(char **args, size_t n_args);
static int verb_image_versions(char **args, size_t n_args);
static int verb_image_retire(char **args, size_t n_args);
static int verb_image_refresh(char **args, size_t n_args);
static int verb_pool_create(char **args, size_t n_args);
static int verb_pool_resize(char **args, size_t n_args);
static int verb_pool_set(char **args, size_t n_args);
static int verb_pool_rebase(char **args, size_t n_args);
static int verb_pool_list(char **args, size_t n_args);
static int verb_pool_show(char **args, size_t n_args);
static int verb_pool_delete(char **args, size_t n_args);
static int verb_pool_wait(char **args, size_t n_args);
static int verb_desktop_list(char **args, size_t n_args);
static int verb_operation_list(char **args, size_t n_args);
static int verb_operation_show(char **args, size_t n_args);
static int verb_session_list(char **args, size_t n_args);
static int verb_session_show(char **args, size_t n_args);
static int verb_session_end(char **args, size_t n_args);
static int verb_audit(char **args, size_t n_args);

#define SIZE_OPTS (F(OPT_MIN) | F(OPT_SPARE) | F(OPT_MAX))
#define POLICY_OPTS (F(OPT_GROUPS) | F(OPT_IDLE_TIMEOUT) | F(OPT_MAX_SESSION) | \
                     F(OPT_ALLOW_REDIRECTION))

static const struct ctl_verb verbs[] = {
    { NULL, "health", "", 0, 0, 0, verb_health,
      "Show whether deskpoold and its libvirt connection are up." },
    { "image", "add", "NAME FILE [--note TEXT]", 2, 2, F(OPT_NOTE), verb_image_add,
      "Register the qcow2 FILE as the next version of image NAME." },
    { "image", "list", "", 0, 0, 0, verb_image_list,
      "List every version of every image." },
    { "image", "show", "NAME", 1, 1, 0, verb_image_show,
      "Show the versions of image NAME." },
    { "image", "publish", "NAME FILE [--note TEXT]", 2, 2, F(OPT_NOTE), verb_image_publish,
      "Publish the qcow2 FILE as the next version of image NAME; pools that\n"
      "      follow latest are rebased to it." },
    { "image", "versions", "NAME", 1, 1, 0, verb_image_versions,
      "List the versions of image NAME, with who published them and which are\n"
      "      retired." },
    { "image", "retire", "NAME vN", 2, 2, 0, verb_image_retire,
      "Retire version N of image NAME and remove its file (refused while a\n"
      "      pool or desktop uses it)." },
    { "image", "refresh", "--pool P | --all [--no-wait] [--timeout SEC]", 0, 0,
      F(OPT_POOL) | F(OPT_ALL) | F(OPT_NO_WAIT) | F(OPT_TIMEOUT), verb_image_refresh,
      "Recreate the idle desktops of pool P (or of every pool) from their image\n"
      "      and wait until done (default timeout 600 s); exit 1 when one failed." },
    { "pool", "create",
      "NAME --image I [--image-version N|latest] [--template T]\n"
      "      [--mode floating|dedicated] --min N --spare N --max N [--groups G1,G2,...]\n"
      "      [--idle-timeout DUR] [--max-session DUR] [--allow-device-redirection]\n"
      "      [--wait [--timeout SEC]]",
      1, 1,
      F(OPT_IMAGE) | F(OPT_IMAGE_VERSION) | F(OPT_TEMPLATE) | F(OPT_MODE) | SIZE_OPTS |
      POLICY_OPTS | F(OPT_WAIT) | F(OPT_TIMEOUT), verb_pool_create,
      "Create a pool; --wait waits until it is settled (see pool wait). Without\n"
      "      --groups everyone is entitled. DUR: 90, 90s, 15m, 12h, 1d." },
    { "pool", "resize", "NAME [--min N] [--spare N] [--max N] [--wait [--timeout SEC]]", 1, 1,
      SIZE_OPTS | F(OPT_WAIT) | F(OPT_TIMEOUT), verb_pool_resize,
      "Change a pool's sizes; --wait waits until it is settled." },
    { "pool", "set",
      "NAME [--image-version vN|latest] [--groups G1,G2,...] [--idle-timeout DUR]\n"
      "      [--max-session DUR] [--allow-device-redirection yes|no]", 1, 1,
      POLICY_OPTS | F(OPT_IMAGE_VERSION), verb_pool_set,
      "Change a pool's image version (a rebase follows) or session policy;\n"
      "      --groups '' entitles everyone." },
    { "pool", "rebase",
      "NAME [--to vN|latest] [--policy wait-for-logoff|force-logoff] [--warn DUR]\n"
      "      [--batch N] [--wait [--timeout SEC]]", 1, 1,
      F(OPT_TO) | F(OPT_POLICY) | F(OPT_WARN) | F(OPT_BATCH) | F(OPT_WAIT) | F(OPT_TIMEOUT),
      verb_pool_rebase,
      "Move a pool's desktops to another image version (default latest), BATCH\n"
      "      at a time after a canary; --wait follows it to the end." },
    { "pool", "list", "", 0, 0, 0, verb_pool_list,
      "List pools with their desktop counts." },
    { "pool", "show", "NAME", 1, 1, 0, verb_pool_show,
      "Show a pool and its desktops." },
    { "pool", "delete", "NAME [--force] [--wait [--timeout SEC]]", 1, 1,
      F(OPT_FORCE) | F(OPT_WAIT) | F(OPT_TIMEOUT), verb_pool_delete,
      "Delete a pool and its desktops; --force even while desktops are in use." },
    { "pool", "wait", "NAME [--timeout SEC]", 1, 1, F(OPT_TIMEOUT), verb_pool_wait,
      "Wait until a pool is settled (default timeout 600 s)." },
    { "desktop", "list", "[--pool P]", 0, 0, F(OPT_POOL), verb_desktop_list,
      "List desktops, of every pool or of pool P." },
    { "operation", "list", "[--pool P] [--all]", 0, 0, F(OPT_POOL) | F(OPT_ALL),
      verb_operation_list,
      "List running rebase and refresh operations (--all: finished ones too)." },
    { "operation", "show", "ID [--wait [--timeout SEC]]", 1, 1, F(OPT_WAIT) | F(OPT_TIMEOUT),
      verb_operation_show,
      "Show one operation; --wait follows it until it ends (exit 1 if it failed)." },
    { "session", "list", "[--pool P] [--user U] [--all | --ended]", 0, 0,
      F(OPT_POOL) | F(OPT_USER) | F(OPT_ALL) | F(OPT_ENDED), verb_session_list,
      "List active sessions (--ended: ended ones, --all: both)." },
    { "session", "show", "ID", 1, 1, 0, verb_session_show,
      "Show one session." },
    { "session", "end", "ID", 1, 1, 0, verb_session_end,
      "End a session now (forced logout); its desktop is wiped or locked." },
    { NULL, "audit", "[--limit N]", 0, 0, F(OPT_LIMIT), verb_audit,
      "Show the audit log, newest first (default 100 entries)." },
};

/* ---- reporting ---------------------------------------------------------- */

static void
print_json_text(const char *text)
{
    size_t n = strlen(text);

    if (n == 0) {
        fputs("{}\n", stdout);
        return;
    }
    fputs(text, stdout);
    if (text[n - 1] != '\n')
        fputc('\n', stdout);
    fflush(stdout);
}

/* Report a failure once: "deskpoolctl: MESSAGE" on stderr and, with --json,
 * an error document on stdout (server_json verbatim when the server sent
 * one, else {"error":{"code":code,"message":MESSAGE}}). Returns r. */
static int _printf_(4, 5)
report_error(int r, const char *code, const char *server_json, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (k < 0)
        abort();

    if (active_progress)
        ctl_progress_done(active_progress);
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);

    if (arg_json) {
        if (server_json) {
            print_json_text(server_json);
        } else {
            _cleanup_(ctl_json_putp) struct json_object *doc = json_object_new_object();
            struct json_object *err = json_object_new_object();

            json_object_object_add(err, "code", json_object_new_string(code));
            json_object_object_add(err, "message", json_object_new_string(msg));
            json_object_object_add(doc, "error", err);
            print_json_text(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
        }
    }
    return r;
}

#define usage_error(...) report_error(-EINVAL, "invalid_argument", NULL, __VA_ARGS__)

/* ---- JSON access -------------------------------------------------------- */

static struct json_object *
jget(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* A field as text (strings as is, numbers formatted); NULL when absent or null. */
static const char *
jstr(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);

    if (!v || json_object_is_type(v, json_type_null))
        return NULL;
    return json_object_get_string(v);
}

static int64_t
jint(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);

    if (!v)
        return 0;
    return json_object_get_int64(v);
}

static size_t
jarray_len(struct json_object *a)
{
    if (!a || !json_object_is_type(a, json_type_array))
        return 0;
    return json_object_array_length(a);
}

/* ---- requests ----------------------------------------------------------- */

#define CALL_ALLOW_NOT_FOUND (1U << 0)  /* 404 is an answer, not an error */
#define CALL_ALLOW_DEGRADED  (1U << 1)  /* 503 without an error document is an answer */

static char *
path_escape(const char *s)
{
    char *e = ctl_http_escape(s);

    if (!e)
        abort();
    return e;
}

static char *
pool_path(const char *name)
{
    _cleanup_free_ char *e = path_escape(name);

    return xasprintf("/v1/pools/%s", e);
}

static char *
image_path(const char *name)
{
    _cleanup_free_ char *e = path_escape(name);

    return xasprintf("/v1/images/%s", e);
}

static char *
operation_path(const char *id)
{
    _cleanup_free_ char *e = path_escape(id);

    return xasprintf("/v1/operations/%s", e);
}

static int
status_to_errno(long status)
{
    if (status == 401 || status == 403)
        return -EACCES;
    if (status >= 400 && status < 500)
        return -EINVAL;
    return -EIO;
}

/* Send one request. On a 2xx answer (and on the answers flags allow)
 * returns 0 with the parsed document, the raw body and the status. On
 * anything else reports the error (the server's error.message when there
 * is one) and returns -EINVAL for an input error, another negative errno
 * otherwise. */
static int
call(const char *method, const char *path, struct json_object *body, unsigned flags,
     long *ret_status, struct json_object **ret_doc, char **ret_raw)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *errmsg = NULL;
    const char *body_text = NULL;
    const char *message;
    long status = 0;
    bool ok;
    int r;

    if (body)
        body_text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
    r = ctl_http_request(&target, method, path, body_text, &status, &raw, &errmsg);
    if (r < 0)
        return report_error(r == -EINVAL ? -EINVAL : -EIO, "unavailable", NULL, "%s",
                            errmsg ? errmsg : "request failed.");

    doc = json_tokener_parse(raw);
    ok = (status >= 200 && status < 300) ||
        (status == 404 && (flags & CALL_ALLOW_NOT_FOUND)) ||
        (status == 503 && (flags & CALL_ALLOW_DEGRADED) && !jget(doc, "error"));
    if (!ok) {
        message = jstr(jget(doc, "error"), "message");
        if (message)
            return report_error(status_to_errno(status), "", raw, "%s", message);
        return report_error(status_to_errno(status), status >= 500 ? "internal" : "unknown",
                            NULL, "deskpoold answered %s %s with HTTP status %ld.", method,
                            path, status);
    }
    if (!doc || !json_object_is_type(doc, json_type_object))
        return report_error(-EBADMSG, "internal", NULL,
                            "deskpoold's answer to %s %s is not a JSON object.", method, path);

    if (ret_status)
        *ret_status = status;
    if (ret_doc)
        *ret_doc = TAKE_PTR(doc);
    if (ret_raw)
        *ret_raw = TAKE_PTR(raw);
    return 0;
}

/* ---- option values ------------------------------------------------------ */

static int
parse_size_option(const char *opt, const char *s, int64_t *ret)
{
    unsigned v;
    int r;

    r = safe_atou(s, &v);
    if (r == -ERANGE)
        return usage_error("%s: '%s' is out of range.", opt, s);
    if (r < 0)
        return usage_error("%s: '%s' is not a number.", opt, s);
    *ret = v;
    return 0;
}

static int
parse_timeout_option(const char *s, unsigned *ret)
{
    int r;

    r = parse_duration(s, ret);
    if (r == -ERANGE)
        return usage_error("--timeout: '%s' is out of range.", s);
    if (r < 0)
        return usage_error("--timeout: '%s' is not a number.", s);
    return 0;
}

static int
parse_duration_option(const char *opt, const char *s, int64_t *ret)
{
    unsigned v;
    int r;

    r = parse_duration(s, &v);
    if (r == -ERANGE)
        return usage_error("%s: '%s' is out of range.", opt, s);
    if (r < 0)
        return usage_error("%s: '%s' is not a duration (e.g. 90, 90s, 15m, 12h, 1d).", opt, s);
    *ret = v;
    return 0;
}

/* NULL (a bare flag) is yes. */
static int
parse_yes_no_option(const char *opt, const char *s, int *ret)
{
    if (!s || streq(s, "yes") || streq(s, "true") || streq(s, "1")) {
        *ret = 1;
        return 0;
    }
    if (streq(s, "no") || streq(s, "false") || streq(s, "0")) {
        *ret = 0;
        return 0;
    }
    return usage_error("%s: '%s' is not yes or no.", opt, s);
}

static int
check_principal(const char *what, const char *name)
{
    if (!principal_name_is_valid(name))
        return usage_error("'%s' is not a valid %s name (1-%d letters, digits, '.', '_', '@' "
                           "and '-', starting with a letter or digit).", name, what,
                           PRINCIPAL_NAME_MAX);
    return 0;
}

/* "a,b,c" as a JSON array of checked group names; "" is the empty array
 * (everyone). Returns 0, or -EINVAL (reported) for a bad name. */
static int
groups_to_json(const char *csv, struct json_object **ret)
{
    _cleanup_(ctl_json_putp) struct json_object *a = json_object_new_array();
    const char *p = csv;
    size_t n = 0;
    int r;

    /* "": nobody listed, everyone entitled */
    while (csv[0] != '\0') {
        _cleanup_free_ char *name = NULL;
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);

        name = strndup(p, len);
        if (!name)
            abort();
        r = check_principal("group", name);
        if (r < 0)
            return r;
        if (++n > POOL_MAX_GROUPS)
            return usage_error("--groups: at most %d groups.", POOL_MAX_GROUPS);
        json_object_array_add(a, json_object_new_string(name));
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret = TAKE_PTR(a);
    return 0;
}

/* Add the session policy options that were given to a pool body. Returns
 * 0 or -EINVAL (reported). */
static int
policy_to_json(struct json_object *body)
{
    struct json_object *groups = NULL;
    int r;

    if (arg_groups) {
        r = groups_to_json(arg_groups, &groups);
        if (r < 0)
            return r;
        json_object_object_add(body, "groups", groups);
    }
    if (arg_idle_timeout >= 0)
        json_object_object_add(body, "idle_timeout", json_object_new_int64(arg_idle_timeout));
    if (arg_max_session >= 0)
        json_object_object_add(body, "max_session", json_object_new_int64(arg_max_session));
    if (arg_allow_redirection >= 0)
        json_object_object_add(body, "allow_device_redirection",
                               json_object_new_boolean(arg_allow_redirection));
    return 0;
}

static int
check_name(const char *what, const char *name)
{
    if (!name_is_valid(name))
        return usage_error("'%s' is not a valid %s name (lowercase letters, digits, '-' and "
                           "'_', starting with a letter or digit, at most %d characters).",
                           name, what, DP_NAME_MAX);
    return 0;
}

/* An image version as typed: "vN" or "N" (N from 1), or "latest" (0) when
 * latest_ok. Returns 0 with *ret set, or -EINVAL (reported). */
static int
parse_version(const char *what, const char *s, bool latest_ok, unsigned *ret)
{
    unsigned v;
    int r;

    if (latest_ok && streq(s, "latest")) {
        *ret = 0;
        return 0;
    }
    r = safe_atou(s[0] == 'v' ? s + 1 : s, &v);
    if (r < 0 || v == 0)
        return usage_error("%s: '%s' is not a version (%s).", what, s,
                           latest_ok ? "vN, N or latest" : "vN or N");
    *ret = v;
    return 0;
}

/* 0 as "latest", else the number. */
static struct json_object *
version_to_json(unsigned version)
{
    if (version == 0)
        return json_object_new_string("latest");
    return json_object_new_int64(version);
}

/* ---- health ------------------------------------------------------------- */

static int
verb_health(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    const char *status_text;
    long status = 0;
    int r;

    r = call("GET", "/healthz", NULL, CALL_ALLOW_DEGRADED, &status, &doc, &raw);
    if (r < 0)
        return r;
    status_text = jstr(doc, "status");
    if (!arg_json) {
        printf("status:    %s\n", strempty(status_text));
        printf("libvirt:   %s\n", strempty(jstr(doc, "libvirt")));
        printf("uri:       %s\n", strempty(jstr(doc, "uri")));
        printf("virt_type: %s\n", strempty(jstr(doc, "virt_type")));
        printf("instance:  %s\n", strempty(jstr(doc, "instance")));
    }
    if (status != 200)
        return report_error(-EIO, "unavailable", raw, "deskpoold is %s (HTTP %ld): libvirt "
                            "is %s.", status_text ? status_text : "not healthy", status,
                            jstr(doc, "libvirt") ? jstr(doc, "libvirt") : "unknown");
    if (arg_json)
        print_json_text(raw);
    return 0;
}

/* ---- images ------------------------------------------------------------- */

/* FILE as an absolute path: realpath() when it exists, else made absolute
 * against the working directory so the server names the missing file. */
static char *
absolute_path(const char *file)
{
    _cleanup_free_ char *cwd = NULL;
    char *p;

    p = realpath(file, NULL);
    if (p)
        return p;
    if (file[0] == '/')
        return xstrdup(file);
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return xstrdup(file);
    return xasprintf("%s/%s", cwd, file);
}

/* POST /v1/images for image add and image publish; "Image 'NAME' version
 * N WHAT: ..." on success. Returns 0 or a negative errno (reported). */
static int
image_add(char **args, const char *what)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *size = NULL;
    int r;

    r = check_name("image", args[0]);
    if (r < 0)
        return r;
    path = absolute_path(args[1]);

    body = json_object_new_object();
    json_object_object_add(body, "name", json_object_new_string(args[0]));
    json_object_object_add(body, "path", json_object_new_string(path));
    if (arg_note)
        json_object_object_add(body, "note", json_object_new_string(arg_note));

    r = call("POST", "/v1/images", body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    size = ctl_format_bytes((uint64_t) jint(doc, "size"));
    printf("Image '%s' version %" PRId64 " %s: %s, sha256 %s.\n", strempty(jstr(doc, "name")),
           jint(doc, "version"), what, size, strempty(jstr(doc, "sha256")));
    return 0;
}

static int
verb_image_add(char **args, _unused_ size_t n_args)
{
    return image_add(args, "added");
}

static int
verb_image_publish(char **args, _unused_ size_t n_args)
{
    return image_add(args, "published");
}

static void
image_row(struct ctl_table *t, struct json_object *v, bool with_name)
{
    _cleanup_free_ char *size = ctl_format_bytes((uint64_t) jint(v, "size"));
    const char *sha = jstr(v, "sha256");

    if (with_name)
        ctl_table_add(t, jstr(v, "name"));
    ctl_table_addf(t, "%" PRId64, jint(v, "version"));
    ctl_table_add(t, size);
    ctl_table_addf(t, "%.12s", strempty(sha));
    ctl_table_add(t, jstr(v, "created_at"));
}

static int
verb_image_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    struct json_object *images;
    int r;

    r = call("GET", "/v1/images", NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    images = jget(doc, "images");
    t = ctl_table_new("NAME", "VERSION", "SIZE", "SHA256", "CREATED", NULL);
    for (size_t i = 0; i < jarray_len(images); i++)
        image_row(t, json_object_array_get_idx(images, i), true);
    return ctl_table_print(t, stdout);
}

static int
verb_image_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    struct json_object *versions;
    int r;

    r = check_name("image", args[0]);
    if (r < 0)
        return r;
    path = image_path(args[0]);
    r = call("GET", path, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    versions = jget(doc, "versions");
    printf("Image:    %s\n", strempty(jstr(doc, "name")));
    printf("Versions: %zu\n\n", jarray_len(versions));
    t = ctl_table_new("VERSION", "SIZE", "SHA256", "CREATED", "VIRTUAL-SIZE", "NOTE", "PATH",
                      NULL);
    for (size_t i = 0; i < jarray_len(versions); i++) {
        struct json_object *v = json_object_array_get_idx(versions, i);
        _cleanup_free_ char *vsize = ctl_format_bytes((uint64_t) jint(v, "virtual_size"));

        image_row(t, v, false);
        ctl_table_add(t, vsize);
        ctl_table_add(t, jstr(v, "note"));
        ctl_table_add(t, jstr(v, "path"));
    }
    return ctl_table_print(t, stdout);
}

static bool
jbool(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);

    return v && json_object_get_boolean(v);
}

static int
verb_image_versions(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    struct json_object *versions;
    int r;

    r = check_name("image", args[0]);
    if (r < 0)
        return r;
    path = image_path(args[0]);
    r = call("GET", path, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    versions = jget(doc, "versions");
    t = ctl_table_new("VERSION", "SIZE", "SHA256", "CREATED", "CREATED-BY", "RETIRED", "NOTE",
                      NULL);
    for (size_t i = 0; i < jarray_len(versions); i++) {
        struct json_object *v = json_object_array_get_idx(versions, i);

        image_row(t, v, false);
        ctl_table_add(t, jstr(v, "created_by"));
        ctl_table_add(t, jbool(v, "retired") ? "yes" : "no");
        ctl_table_add(t, jstr(v, "note"));
    }
    return ctl_table_print(t, stdout);
}

static int
verb_image_retire(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *url = NULL;
    unsigned version;
    int r;

    r = check_name("image", args[0]);
    if (r < 0)
        return r;
    r = parse_version("image retire", args[1], false, &version);
    if (r < 0)
        return r;
    path = image_path(args[0]);
    url = xasprintf("%s/versions/v%u", path, version);
    r = call("DELETE", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json)
        print_json_text(raw);
    else
        printf("Image '%s' version %u retired; its file is removed.\n", args[0], version);
    return 0;
}

/* ---- pools -------------------------------------------------------------- */

struct pool_counts {
    int64_t total, provisioning, booting, ready, assigned, in_use, releasing, rebasing, failed,
        deleting;
    int64_t min, spare, max;
    int64_t busy;       /* assigned + in_use + releasing */
    int64_t pending;    /* provisioning + booting + rebasing */
};

static struct pool_counts
pool_counts_from_json(struct json_object *pool)
{
    struct json_object *c = jget(pool, "counts");
    struct pool_counts n = {
        .total = jint(c, "total"),
        .provisioning = jint(c, "provisioning"),
        .booting = jint(c, "booting"),
        .ready = jint(c, "ready"),
        .assigned = jint(c, "assigned"),
        .in_use = jint(c, "in_use"),
        .releasing = jint(c, "releasing"),
        .rebasing = jint(c, "rebasing"),
        .failed = jint(c, "failed"),
        .deleting = jint(c, "deleting"),
        .min = jint(pool, "min"),
        .spare = jint(pool, "spare"),
        .max = jint(pool, "max"),
    };

    n.busy = n.assigned + n.in_use + n.releasing;
    n.pending = n.provisioning + n.booting + n.rebasing;
    return n;
}

/* "demo@latest" or "demo@v2". */
static char *
pool_image_label(struct json_object *pool)
{
    struct json_object *v = jget(pool, "image_version");

    if (v && json_object_is_type(v, json_type_int))
        return xasprintf("%s@v%" PRId64, strempty(jstr(pool, "image")), json_object_get_int64(v));
    return xasprintf("%s@%s", strempty(jstr(pool, "image")),
                     jstr(pool, "image_version") ? jstr(pool, "image_version") : "latest");
}

/* "v2 (follows latest)" or "v1 (pinned to v3)": what the desktops run and
 * what the pool should run. New string. */
static char *
pool_runs_label(struct json_object *pool)
{
    struct json_object *v = jget(pool, "image_version");
    int64_t current = jint(pool, "current_version");
    _cleanup_free_ char *cur = NULL;

    cur = current > 0 ? xasprintf("v%" PRId64, current) : xstrdup("no version yet");
    if (v && json_object_is_type(v, json_type_int))
        return xasprintf("%s (pinned to v%" PRId64 ")", cur, json_object_get_int64(v));
    return xasprintf("%s (follows latest)", cur);
}

/* The ready count a settled pool reaches: spare desktops (as far as max
 * allows next to the busy and failed ones), and at least enough to make min. */
static int64_t
pool_ready_goal(const struct pool_counts *c)
{
    int64_t room = MAX(c->max - c->busy - c->failed, 0);
    int64_t spare_goal = MIN(c->spare, room);

    return MAX(spare_goal, MAX(c->min - c->busy - c->failed, 0));
}

/* Settled: nothing provisioning, booting or deleting, at least min desktops,
 * and ready >= min(spare, max - busy - failed). */
static bool
pool_is_settled(const struct pool_counts *c)
{
    int64_t room = MAX(c->max - c->busy - c->failed, 0);

    return c->provisioning + c->booting + c->deleting == 0 && c->total >= c->min &&
        c->ready >= MIN(c->spare, room);
}

/* "demo: 2/3 ready, 1 booting, 0 failed" (with ", N deleting" when some are). */
static char *
pool_progress_summary(const char *name, const struct pool_counts *c)
{
    int64_t goal = pool_ready_goal(c);

    if (c->deleting > 0)
        return xasprintf("%s: %" PRId64 "/%" PRId64 " ready, %" PRId64 " booting, %" PRId64
                         " deleting, %" PRId64 " failed", name, c->ready, goal, c->pending,
                         c->deleting, c->failed);
    return xasprintf("%s: %" PRId64 "/%" PRId64 " ready, %" PRId64 " booting, %" PRId64
                     " failed", name, c->ready, goal, c->pending, c->failed);
}

static void
sleep_usec(uint64_t usec)
{
    struct timespec ts = {
        .tv_sec = (time_t) (usec / USEC_PER_SEC),
        .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000L,
    };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

/* Tell which desktops failed and why (stderr, before the error line). */
static void
report_failed_desktops(struct json_object *pool)
{
    struct json_object *desktops = jget(pool, "desktops");

    for (size_t i = 0; i < jarray_len(desktops); i++) {
        struct json_object *d = json_object_array_get_idx(desktops, i);

        if (!streq_ptr(jstr(d, "state"), "failed"))
            continue;
        fprintf(stderr, "%s: desktop '%s' failed: %s\n", program_invocation_short_name,
                strempty(jstr(d, "name")),
                jstr(d, "last_error") ? jstr(d, "last_error") : "no error recorded");
    }
}

/* Poll GET /v1/pools/NAME every 0.5 s until the pool is settled. Shows
 * progress unless --json. Returns 0 with the last answer in *ret_raw;
 * -ETIMEDOUT after arg_wait_timeout; -EIO when desktops failed and nothing
 * is pending any more (for 2 s, so the reconciler can react) or the pool
 * is being deleted; the call()'s error otherwise. Reports its errors. */
static int
pool_wait(const char *name, char **ret_raw)
{
    _cleanup_free_ char *path = pool_path(name);
    struct ctl_progress progress;
    uint64_t deadline = now_usec() + (uint64_t) arg_wait_timeout * USEC_PER_SEC;
    uint64_t failed_since = 0;
    int r;

    ctl_progress_init(&progress, stdout);
    active_progress = &progress;
    for (;;) {
        _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
        _cleanup_free_ char *raw = NULL;
        _cleanup_free_ char *summary = NULL;
        _cleanup_free_ char *bar = NULL;
        _cleanup_free_ char *line = NULL;
        struct pool_counts c;
        int64_t goal;
        uint64_t now;

        r = call("GET", path, NULL, 0, NULL, &doc, &raw);
        if (r < 0)
            break;
        c = pool_counts_from_json(doc);
        goal = pool_ready_goal(&c);
        summary = pool_progress_summary(name, &c);
        bar = ctl_format_bar((unsigned) MIN(c.ready, goal), (unsigned) goal, 10);
        line = xasprintf("%s %s", summary, bar);
        if (!arg_json)
            ctl_progress_update(&progress, line);
        now = now_usec();

        if (streq_ptr(jstr(doc, "state"), "deleting")) {
            r = report_error(-EIO, "conflict", NULL, "pool '%s' is being deleted.", name);
            break;
        }
        if (c.failed > 0 && c.pending + c.deleting == 0) {
            if (failed_since == 0)
                failed_since = now;
            if (now - failed_since >= WAIT_FAILED_GRACE_USEC) {
                ctl_progress_done(&progress);
                report_failed_desktops(doc);
                r = report_error(-EIO, "failed", NULL, "pool '%s' has %" PRId64 " failed "
                                 "desktop(s) and nothing pending; see 'deskpoolctl pool show "
                                 "%s'.", name, c.failed, name);
                break;
            }
        } else {
            failed_since = 0;
            if (pool_is_settled(&c)) {
                *ret_raw = TAKE_PTR(raw);
                r = 0;
                break;
            }
        }
        if (now >= deadline) {
            r = report_error(-ETIMEDOUT, "timeout", NULL, "pool '%s' did not settle within %u s "
                             "(%s).", name, arg_wait_timeout, summary + strlen(name) + 2);
            break;
        }
        sleep_usec(WAIT_POLL_USEC);
    }
    ctl_progress_done(&progress);
    active_progress = NULL;
    return r;
}

/* Poll until GET /v1/pools/NAME answers 404. Same conventions as pool_wait(). */
static int
pool_wait_gone(const char *name)
{
    _cleanup_free_ char *path = pool_path(name);
    struct ctl_progress progress;
    uint64_t deadline = now_usec() + (uint64_t) arg_wait_timeout * USEC_PER_SEC;
    int r;

    ctl_progress_init(&progress, stdout);
    active_progress = &progress;
    for (;;) {
        _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
        _cleanup_free_ char *line = NULL;
        long status = 0;

        r = call("GET", path, NULL, CALL_ALLOW_NOT_FOUND, &status, &doc, NULL);
        if (r < 0)
            break;
        if (status == 404) {
            r = 0;
            break;
        }
        line = xasprintf("%s: deleting, %" PRId64 " desktop(s) left", name,
                         jint(jget(doc, "counts"), "total"));
        if (!arg_json)
            ctl_progress_update(&progress, line);
        if (now_usec() >= deadline) {
            r = report_error(-ETIMEDOUT, "timeout", NULL, "pool '%s' was not deleted within "
                             "%u s.", name, arg_wait_timeout);
            break;
        }
        sleep_usec(WAIT_POLL_USEC);
    }
    ctl_progress_done(&progress);
    active_progress = NULL;
    return r;
}

static void
pool_print_sizes(const char *verb, struct json_object *pool)
{
    printf("Pool '%s' %s: min %" PRId64 ", spare %" PRId64 ", max %" PRId64 ".\n",
           strempty(jstr(pool, "name")), verb, jint(pool, "min"), jint(pool, "spare"),
           jint(pool, "max"));
}

/* After create/resize: print the answer, or with --wait wait and print the
 * settled pool (--json: only that one document). */
static int
pool_finish(const char *name, const char *verb, struct json_object *doc, const char *raw)
{
    _cleanup_free_ char *final = NULL;
    int r;

    if (!arg_wait) {
        if (arg_json)
            print_json_text(raw);
        else
            pool_print_sizes(verb, doc);
        return 0;
    }
    if (!arg_json) {
        pool_print_sizes(verb, doc);
        fflush(stdout);
    }
    r = pool_wait(name, &final);
    if (r < 0)
        return r;
    if (arg_json)
        print_json_text(final);
    return 0;
}

static int
verb_pool_create(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    unsigned version;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    if (!arg_image)
        return usage_error("pool create: --image is required.");
    if (arg_min < 0 || arg_spare < 0 || arg_max < 0)
        return usage_error("pool create: --min, --spare and --max are required.");
    r = check_name("image", arg_image);
    if (r < 0)
        return r;

    body = json_object_new_object();
    json_object_object_add(body, "name", json_object_new_string(args[0]));
    json_object_object_add(body, "image", json_object_new_string(arg_image));
    if (arg_image_version) {
        r = parse_version("--image-version", arg_image_version, true, &version);
        if (r < 0)
            return r;
        json_object_object_add(body, "image_version", version_to_json(version));
    }
    if (arg_template)
        json_object_object_add(body, "template", json_object_new_string(arg_template));
    if (arg_mode)
        json_object_object_add(body, "mode", json_object_new_string(arg_mode));
    json_object_object_add(body, "min", json_object_new_int64(arg_min));
    json_object_object_add(body, "spare", json_object_new_int64(arg_spare));
    json_object_object_add(body, "max", json_object_new_int64(arg_max));
    r = policy_to_json(body);
    if (r < 0)
        return r;

    r = call("POST", "/v1/pools", body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    return pool_finish(args[0], "created", doc, raw);
}

static int
verb_pool_resize(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    if (arg_min < 0 && arg_spare < 0 && arg_max < 0)
        return usage_error("pool resize: nothing to change; give --min, --spare or --max.");

    body = json_object_new_object();
    if (arg_min >= 0)
        json_object_object_add(body, "min", json_object_new_int64(arg_min));
    if (arg_spare >= 0)
        json_object_object_add(body, "spare", json_object_new_int64(arg_spare));
    if (arg_max >= 0)
        json_object_object_add(body, "max", json_object_new_int64(arg_max));

    path = pool_path(args[0]);
    r = call("PATCH", path, body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    return pool_finish(args[0], "resized", doc, raw);
}

/* "radiology, er", or "everyone" when the pool lists no group. New string. */
static char *
pool_groups_label(struct json_object *pool)
{
    struct json_object *groups = jget(pool, "groups");
    char *s = NULL;

    for (size_t i = 0; i < jarray_len(groups); i++) {
        const char *g = json_object_get_string(json_object_array_get_idx(groups, i));
        char *t = s ? xasprintf("%s, %s", s, g) : xstrdup(g);

        free(s);
        s = t;
    }
    return s ? s : xstrdup("everyone");
}

/* "15m (900 s)". New string. */
static char *
seconds_label(int64_t sec)
{
    _cleanup_free_ char *d = ctl_format_duration((uint64_t) MAX(sec, 0));

    return xasprintf("%s (%" PRId64 " s)", d, sec);
}

static const char *
yes_no(bool b)
{
    return b ? "yes" : "no";
}

static int
verb_pool_set(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *groups = NULL;
    _cleanup_free_ char *idle = NULL;
    _cleanup_free_ char *max_session = NULL;
    _cleanup_free_ char *image = NULL;
    _cleanup_free_ char *runs = NULL;
    unsigned version;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    if (!arg_groups && arg_idle_timeout < 0 && arg_max_session < 0 &&
        arg_allow_redirection < 0 && !arg_image_version)
        return usage_error("pool set: nothing to change; give --image-version, --groups, "
                           "--idle-timeout, --max-session or --allow-device-redirection.");
    body = json_object_new_object();
    if (arg_image_version) {
        r = parse_version("--image-version", arg_image_version, true, &version);
        if (r < 0)
            return r;
        json_object_object_add(body, "image_version", version_to_json(version));
    }
    r = policy_to_json(body);
    if (r < 0)
        return r;

    path = pool_path(args[0]);
    r = call("PATCH", path, body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    image = pool_image_label(doc);
    runs = pool_runs_label(doc);
    groups = pool_groups_label(doc);
    idle = ctl_format_duration((uint64_t) MAX(jint(doc, "idle_timeout"), 0));
    max_session = ctl_format_duration((uint64_t) MAX(jint(doc, "max_session"), 0));
    printf("Pool '%s' changed: image %s, runs %s; groups %s; idle timeout %s; max session %s; "
           "device redirection %s.\n", strempty(jstr(doc, "name")), image, runs, groups, idle,
           max_session, jbool(doc, "allow_device_redirection") ? "allowed" : "not allowed");
    return 0;
}

static int
verb_pool_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    struct json_object *pools;
    int r;

    r = call("GET", "/v1/pools", NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    pools = jget(doc, "pools");
    t = ctl_table_new("NAME", "MODE", "IMAGE", "MIN", "SPARE", "MAX", "READY", "BUSY",
                      "PENDING", "FAILED", "STATE", NULL);
    for (size_t i = 0; i < jarray_len(pools); i++) {
        struct json_object *p = json_object_array_get_idx(pools, i);
        struct pool_counts c = pool_counts_from_json(p);
        _cleanup_free_ char *image = pool_image_label(p);

        ctl_table_add(t, jstr(p, "name"));
        ctl_table_add(t, jstr(p, "mode"));
        ctl_table_add(t, image);
        ctl_table_addf(t, "%" PRId64, c.min);
        ctl_table_addf(t, "%" PRId64, c.spare);
        ctl_table_addf(t, "%" PRId64, c.max);
        ctl_table_addf(t, "%" PRId64, c.ready);
        ctl_table_addf(t, "%" PRId64, c.busy);
        ctl_table_addf(t, "%" PRId64, c.pending);
        ctl_table_addf(t, "%" PRId64, c.failed);
        ctl_table_add(t, jstr(p, "state"));
    }
    return ctl_table_print(t, stdout);
}

static int
verb_pool_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *image = NULL;
    _cleanup_free_ char *runs = NULL;
    _cleanup_free_ char *groups = NULL;
    _cleanup_free_ char *idle = NULL;
    _cleanup_free_ char *max_session = NULL;
    struct json_object *desktops;
    struct pool_counts c;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    path = pool_path(args[0]);
    r = call("GET", path, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    c = pool_counts_from_json(doc);
    image = pool_image_label(doc);
    runs = pool_runs_label(doc);
    groups = pool_groups_label(doc);
    idle = seconds_label(jint(doc, "idle_timeout"));
    max_session = seconds_label(jint(doc, "max_session"));
    printf("Name:               %s\n", strempty(jstr(doc, "name")));
    printf("State:              %s\n", strempty(jstr(doc, "state")));
    printf("Mode:               %s\n", strempty(jstr(doc, "mode")));
    printf("Image:              %s\n", image);
    printf("Runs:               %s\n", runs);
    printf("Template:           %s\n", strempty(jstr(doc, "template")));
    printf("Sizes:              min %" PRId64 ", spare %" PRId64 ", max %" PRId64 "\n", c.min,
           c.spare, c.max);
    printf("Groups:             %s\n", groups);
    printf("Idle timeout:       %s\n", idle);
    printf("Max session:        %s\n", max_session);
    printf("Device redirection: %s\n", yes_no(jbool(doc, "allow_device_redirection")));
    printf("Desktops:           %" PRId64 " total, %" PRId64 " ready, %" PRId64 " busy, %"
           PRId64 " pending, %" PRId64 " failed, %" PRId64 " deleting\n", c.total, c.ready,
           c.busy, c.pending, c.failed, c.deleting);
    printf("Created:            %s\n\n", strempty(jstr(doc, "created_at")));

    desktops = jget(doc, "desktops");
    t = ctl_table_new("NAME", "STATE", "DOMAIN", "IMAGE", "BOOT-FAILURES", "LAST-ERROR", NULL);
    for (size_t i = 0; i < jarray_len(desktops); i++) {
        struct json_object *d = json_object_array_get_idx(desktops, i);

        ctl_table_add(t, jstr(d, "name"));
        ctl_table_add(t, jstr(d, "state"));
        ctl_table_add(t, jstr(d, "domain"));
        ctl_table_addf(t, "%s@v%s", strempty(jstr(d, "image")),
                       jstr(d, "image_version") ? jstr(d, "image_version") : "?");
        ctl_table_addf(t, "%" PRId64, jint(d, "boot_failures"));
        ctl_table_add(t, jstr(d, "last_error"));
    }
    return ctl_table_print(t, stdout);
}

static int
verb_pool_delete(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *url = NULL;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    path = pool_path(args[0]);
    url = xasprintf("%s%s", path, arg_force ? "?force=true" : "");
    r = call("DELETE", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (!arg_json) {
        printf("Pool '%s' is being deleted.\n", args[0]);
        fflush(stdout);
    }
    if (arg_wait) {
        r = pool_wait_gone(args[0]);
        if (r < 0)
            return r;
        if (!arg_json)
            printf("Pool '%s' deleted.\n", args[0]);
    }
    if (arg_json)
        print_json_text(raw);
    return 0;
}

static int
verb_pool_wait(char **args, _unused_ size_t n_args)
{
    _cleanup_free_ char *raw = NULL;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    r = pool_wait(args[0], &raw);
    if (r < 0)
        return r;
    if (arg_json)
        print_json_text(raw);
    else
        printf("Pool '%s' is settled.\n", args[0]);
    return 0;
}

/* ---- desktops ----------------------------------------------------------- */

static int
verb_desktop_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    struct json_object *desktops;
    int r;

    if (arg_pool) {
        _cleanup_free_ char *e = NULL;

        r = check_name("pool", arg_pool);
        if (r < 0)
            return r;
        e = path_escape(arg_pool);
        path = xasprintf("/v1/desktops?pool=%s", e);
    } else {
        path = xstrdup("/v1/desktops");
    }
    r = call("GET", path, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    desktops = jget(doc, "desktops");
    t = ctl_table_new("NAME", "POOL", "STATE", "DOMAIN", "IMAGE", "OWNER", NULL);
    for (size_t i = 0; i < jarray_len(desktops); i++) {
        struct json_object *d = json_object_array_get_idx(desktops, i);

        ctl_table_add(t, jstr(d, "name"));
        ctl_table_add(t, jstr(d, "pool"));
        ctl_table_add(t, jstr(d, "state"));
        ctl_table_add(t, jstr(d, "domain"));
        ctl_table_addf(t, "%s@v%s", strempty(jstr(d, "image")),
                       jstr(d, "image_version") ? jstr(d, "image_version") : "?");
        ctl_table_add(t, jstr(d, "owner"));
    }
    return ctl_table_print(t, stdout);
}

/* ---- sessions and audit ------------------------------------------------- */

static char *
session_path(const char *id)
{
    _cleanup_free_ char *e = path_escape(id);

    return xasprintf("/v1/sessions/%s", e);
}

/* Append "&key=escaped(value)" (or "?..." as the first) to *url. */
static void
url_add_query(char **url, const char *key, const char *value)
{
    _cleanup_free_ char *e = path_escape(value);
    char *u = xasprintf("%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', key, e);

    free(*url);
    *url = u;
}

static int
verb_session_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *url = xstrdup("/v1/sessions");
    struct json_object *sessions;
    int r;

    if (arg_all && arg_ended)
        return usage_error("session list: --all and --ended cannot be used together.");
    if (arg_pool) {
        r = check_name("pool", arg_pool);
        if (r < 0)
            return r;
        url_add_query(&url, "pool", arg_pool);
    }
    if (arg_user) {
        r = check_principal("user", arg_user);
        if (r < 0)
            return r;
        url_add_query(&url, "user", arg_user);
    }
    if (arg_all)
        url_add_query(&url, "state", "all");
    else if (arg_ended)
        url_add_query(&url, "state", "ended");

    r = call("GET", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    sessions = jget(doc, "sessions");
    t = ctl_table_new("ID", "DESKTOP", "POOL", "USER", "CLIENT", "STATE", "CREATED",
                      "LAST-HEARTBEAT", "END-REASON", NULL);
    for (size_t i = 0; i < jarray_len(sessions); i++) {
        struct json_object *x = json_object_array_get_idx(sessions, i);

        ctl_table_add(t, jstr(x, "id"));
        ctl_table_add(t, jstr(x, "desktop"));
        ctl_table_add(t, jstr(x, "pool"));
        ctl_table_add(t, jstr(x, "user"));
        ctl_table_add(t, jstr(x, "client"));
        ctl_table_add(t, jstr(x, "state"));
        ctl_table_add(t, jstr(x, "created_at"));
        ctl_table_add(t, jstr(x, "last_heartbeat"));
        ctl_table_add(t, jstr(x, "end_reason"));
    }
    return ctl_table_print(t, stdout);
}

static const char *
dash(const char *s)
{
    return s && s[0] != '\0' ? s : "-";
}

static int
verb_session_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = session_path(args[0]);
    int r;

    r = call("GET", path, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    printf("ID:             %s\n", dash(jstr(doc, "id")));
    printf("Pool:           %s\n", dash(jstr(doc, "pool")));
    printf("Desktop:        %s\n", dash(jstr(doc, "desktop")));
    printf("User:           %s\n", dash(jstr(doc, "user")));
    printf("Client:         %s\n", dash(jstr(doc, "client")));
    printf("State:          %s\n", dash(jstr(doc, "state")));
    printf("Created:        %s\n", dash(jstr(doc, "created_at")));
    printf("Last heartbeat: %s\n", dash(jstr(doc, "last_heartbeat")));
    printf("Ended:          %s\n", dash(jstr(doc, "ended_at")));
    printf("End reason:     %s\n", dash(jstr(doc, "end_reason")));
    return 0;
}

static int
verb_session_end(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = session_path(args[0]);
    _cleanup_free_ char *url = NULL;
    int r;

    url = xasprintf("%s?reason=forced", path);
    r = call("DELETE", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json)
        print_json_text(raw);
    else
        printf("Session %s ended (%s).\n", args[0],
               jstr(doc, "end_reason") ? jstr(doc, "end_reason") : "forced");
    return 0;
}

static int
verb_audit(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *url = NULL;
    struct json_object *entries;
    int r;

    if (arg_limit == 0)
        return usage_error("audit: --limit must be at least 1.");
    if (arg_limit > 0)
        url = xasprintf("/v1/audit?limit=%" PRId64, arg_limit);
    else
        url = xstrdup("/v1/audit");
    r = call("GET", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    entries = jget(doc, "entries");
    t = ctl_table_new("AT", "ACTOR", "ACTION", "POOL", "DESKTOP", "USER", "DETAIL", NULL);
    for (size_t i = 0; i < jarray_len(entries); i++) {
        struct json_object *e = json_object_array_get_idx(entries, i);

        ctl_table_add(t, jstr(e, "at"));
        ctl_table_add(t, jstr(e, "actor"));
        ctl_table_add(t, jstr(e, "action"));
        ctl_table_add(t, jstr(e, "pool"));
        ctl_table_add(t, jstr(e, "desktop"));
        ctl_table_add(t, jstr(e, "user"));
        ctl_table_add(t, jstr(e, "detail"));
    }
    return ctl_table_print(t, stdout);
}

/* ---- image updates: rebase, refresh, operations ------------------------- */

/* 8-4-4-4-12 hex digits, as deskpoold makes them. */
static bool
operation_id_is_valid(const char *id)
{
    size_t n = strlen(id);

    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char) id[i])) {
            return false;
        }
    }
    return true;
}

static int
check_operation_id(const char *id)
{
    if (!operation_id_is_valid(id))
        return usage_error("'%s' is not an operation ID (a UUID, see 'deskpoolctl operation "
                           "list').", id);
    return 0;
}

/* "v2", or "-" for 0. New string. */
static char *
version_label(int64_t version)
{
    if (version <= 0)
        return xstrdup("-");
    return xasprintf("v%" PRId64, version);
}

/* "demo: rebase to v2 [#####-----] 2/4, step: replacing ...", or once it
 * has ended "demo: rebase to v2 succeeded" (deskpoold leaves the counters
 * of a finished operation at its last progress). New string. */
static char *
operation_progress_line(struct json_object *op)
{
    int64_t done = MAX(jint(op, "done"), 0);
    int64_t total = MAX(jint(op, "total"), 0);
    const char *step = jstr(op, "step");
    _cleanup_free_ char *bar = NULL;

    if (!streq_ptr(jstr(op, "state"), "running"))
        return xasprintf("%s: %s to v%" PRId64 " %s", strempty(jstr(op, "pool")),
                         strempty(jstr(op, "kind")), jint(op, "to_version"),
                         strempty(jstr(op, "state")));
    /* total is 0 until the planner has counted: an empty bar, not a full one */
    if (total == 0)
        bar = ctl_format_bar(0, 1, 10);
    else
        bar = ctl_format_bar((unsigned) MIN(done, total), (unsigned) total, 10);
    return xasprintf("%s: %s to v%" PRId64 " %s %" PRId64 "/%" PRId64 "%s%s",
                     strempty(jstr(op, "pool")), strempty(jstr(op, "kind")),
                     jint(op, "to_version"), bar, done, total, step ? ", step: " : "",
                     strempty(step));
}

/* Poll GET /v1/operations/ID every 0.5 s until the operation is no longer
 * running; shows progress unless --json. Returns 0 with the last answer
 * (succeeded or failed) in *ret_doc and *ret_raw; -ETIMEDOUT at deadline
 * (the operation goes on in deskpoold); the call()'s error otherwise.
 * Reports its errors. */
static int
operation_follow(const char *id, uint64_t deadline, struct json_object **ret_doc,
                 char **ret_raw)
{
    _cleanup_free_ char *path = operation_path(id);
    struct ctl_progress progress;
    int r;

    ctl_progress_init(&progress, stdout);
    active_progress = &progress;
    for (;;) {
        _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
        _cleanup_free_ char *raw = NULL;
        _cleanup_free_ char *line = NULL;

        r = call("GET", path, NULL, 0, NULL, &doc, &raw);
        if (r < 0)
            break;
        line = operation_progress_line(doc);
        if (!arg_json)
            ctl_progress_update(&progress, line);
        if (!streq_ptr(jstr(doc, "state"), "running")) {
            *ret_doc = TAKE_PTR(doc);
            *ret_raw = TAKE_PTR(raw);
            r = 0;
            break;
        }
        if (now_usec() >= deadline) {
            r = report_error(-ETIMEDOUT, "timeout", NULL, "%s %s of pool '%s' did not finish "
                             "within %u s; it goes on in deskpoold (see 'deskpoolctl "
                             "operation show %s').", strempty(jstr(doc, "kind")), id,
                             strempty(jstr(doc, "pool")), arg_wait_timeout, id);
            break;
        }
        sleep_usec(WAIT_POLL_USEC);
    }
    ctl_progress_done(&progress);
    active_progress = NULL;
    return r;
}

static uint64_t
wait_deadline(void)
{
    return now_usec() + (uint64_t) arg_wait_timeout * USEC_PER_SEC;
}

/* "rebase ID failed: ERROR" on stderr; with --json the document
 * {"error":{"code":"failed","message"},"operation":op}. Returns -EIO. */
static int
operation_report_failed(struct json_object *op)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = json_object_new_object();
    _cleanup_free_ char *msg = NULL;
    struct json_object *err = json_object_new_object();

    msg = xasprintf("%s %s failed: %s", strempty(jstr(op, "kind")), strempty(jstr(op, "id")),
                    jstr(op, "error") ? jstr(op, "error") : "no error recorded.");
    json_object_object_add(err, "code", json_object_new_string("failed"));
    json_object_object_add(err, "message", json_object_new_string(msg));
    json_object_object_add(doc, "error", err);
    json_object_object_add(doc, "operation", json_object_get(op));
    return report_error(-EIO, "failed", json_object_to_json_string_ext(doc,
                        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), "%s", msg);
}

static void
operation_print(struct json_object *op)
{
    _cleanup_free_ char *from = version_label(jint(op, "from_version"));
    _cleanup_free_ char *to = version_label(jint(op, "to_version"));
    _cleanup_free_ char *warn = ctl_format_duration((uint64_t) MAX(jint(op, "warn"), 0));

    printf("ID:         %s\n", dash(jstr(op, "id")));
    printf("Kind:       %s\n", dash(jstr(op, "kind")));
    printf("Pool:       %s\n", dash(jstr(op, "pool")));
    printf("From:       %s\n", from);
    printf("To:         %s\n", to);
    printf("Policy:     %s (warn %s, batch %" PRId64 ")\n", dash(jstr(op, "policy")), warn,
           jint(op, "batch"));
    printf("State:      %s\n", dash(jstr(op, "state")));
    printf("Progress:   %" PRId64 "/%" PRId64 " done, %" PRId64 " failed\n", jint(op, "done"),
           jint(op, "total"), jint(op, "failed"));
    printf("Step:       %s\n", dash(jstr(op, "step")));
    printf("Error:      %s\n", dash(jstr(op, "error")));
    printf("Created by: %s\n", dash(jstr(op, "created_by")));
    printf("Created:    %s\n", dash(jstr(op, "created_at")));
    printf("Updated:    %s\n", dash(jstr(op, "updated_at")));
    printf("Finished:   %s\n", dash(jstr(op, "finished_at")));
}

static int
verb_pool_rebase(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_json_putp) struct json_object *final = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *final_raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *url = NULL;
    const char *id;
    unsigned version;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    body = json_object_new_object();
    if (arg_to) {
        r = parse_version("--to", arg_to, true, &version);
        if (r < 0)
            return r;
        json_object_object_add(body, "to", version_to_json(version));
    }
    if (arg_policy) {
        if (!streq(arg_policy, "wait-for-logoff") && !streq(arg_policy, "force-logoff"))
            return usage_error("--policy: '%s' is not wait-for-logoff or force-logoff.",
                               arg_policy);
        json_object_object_add(body, "policy", json_object_new_string(arg_policy));
    }
    if (arg_warn >= 0)
        json_object_object_add(body, "warn", json_object_new_int64(arg_warn));
    if (arg_batch == 0)
        return usage_error("--batch: must be at least 1.");
    if (arg_batch > 0)
        json_object_object_add(body, "batch", json_object_new_int64(arg_batch));

    path = pool_path(args[0]);
    url = xasprintf("%s/rebase", path);
    r = call("POST", url, body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    id = jstr(doc, "id");
    if (!id || !operation_id_is_valid(id))
        return report_error(-EBADMSG, "internal", NULL, "deskpoold's answer to POST %s has no "
                            "operation ID.", url);
    if (!arg_json) {
        printf("Rebase %s of pool '%s' to v%" PRId64 " started.\n", id, args[0],
               jint(doc, "to_version"));
        fflush(stdout);
    }
    if (!arg_wait) {
        if (arg_json)
            print_json_text(raw);
        return 0;
    }
    r = operation_follow(id, wait_deadline(), &final, &final_raw);
    if (r < 0)
        return r;
    if (!streq_ptr(jstr(final, "state"), "succeeded"))
        return operation_report_failed(final);
    if (arg_json)
        print_json_text(final_raw);
    else
        printf("Rebase %s succeeded: pool '%s' runs v%" PRId64 ".\n", id, args[0],
               jint(final, "to_version"));
    return 0;
}

/* "demo: refreshed 3 desktop(s)" or "demo: FAILED: error" (stdout). */
static void
refresh_print_summary(struct json_object *op)
{
    const char *pool = strempty(jstr(op, "pool"));

    if (!streq_ptr(jstr(op, "state"), "succeeded"))
        printf("%s: FAILED: %s\n", pool, jstr(op, "error") ? jstr(op, "error") :
               "no error recorded.");
    else if (streq_ptr(jstr(op, "kind"), "refresh"))
        printf("%s: refreshed %" PRId64 " desktop(s)\n", pool, jint(op, "done"));
    else
        printf("%s: %s to v%" PRId64 " done, %" PRId64 " desktop(s)\n", pool,
               strempty(jstr(op, "kind")), jint(op, "to_version"), jint(op, "done"));
}

static int
verb_image_refresh(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_json_putp) struct json_object *result = NULL;
    _cleanup_free_ char *raw = NULL;
    struct json_object *ops, *finals;
    uint64_t deadline;
    size_t n, n_failed = 0;
    long status = 0;
    int r;

    if (!arg_pool == !arg_all)
        return usage_error("image refresh: give either --pool P or --all.");
    if (arg_pool) {
        r = check_name("pool", arg_pool);
        if (r < 0)
            return r;
    }
    body = json_object_new_object();
    if (arg_pool)
        json_object_object_add(body, "pool", json_object_new_string(arg_pool));
    else
        json_object_object_add(body, "all", json_object_new_boolean(true));
    r = call("POST", "/v1/refresh", body, 0, &status, &doc, &raw);
    if (r < 0)
        return r;
    ops = jget(doc, "operations");
    n = jarray_len(ops);
    for (size_t i = 0; i < n && !arg_json; i++) {
        struct json_object *op = json_object_array_get_idx(ops, i);
        const char *kind = strempty(jstr(op, "kind"));

        /* 200: every one was running already; 202: at least one started */
        if (status == 202 && streq(kind, "refresh"))
            printf("%s: refresh %s to v%" PRId64 " started.\n", strempty(jstr(op, "pool")),
                   strempty(jstr(op, "id")), jint(op, "to_version"));
        else
            printf("%s: waiting for the %s already running (%s).\n",
                   strempty(jstr(op, "pool")), kind, strempty(jstr(op, "id")));
    }
    if (!arg_json && n == 0)
        printf("No pool to refresh.\n");
    fflush(stdout);
    if (arg_no_wait) {
        if (arg_json)
            print_json_text(raw);
        return 0;
    }

    /* they run side by side in deskpoold; following them in turn is enough */
    deadline = wait_deadline();
    result = json_object_new_object();
    finals = json_object_new_array();
    json_object_object_add(result, "operations", finals);
    for (size_t i = 0; i < n; i++) {
        _cleanup_(ctl_json_putp) struct json_object *final = NULL;
        _cleanup_free_ char *final_raw = NULL;
        const char *id = jstr(json_object_array_get_idx(ops, i), "id");

        if (!id || !operation_id_is_valid(id))
            return report_error(-EBADMSG, "internal", NULL, "deskpoold's answer to POST "
                                "/v1/refresh has an operation without an ID.");
        r = operation_follow(id, deadline, &final, &final_raw);
        if (r < 0)
            return r;
        if (!streq_ptr(jstr(final, "state"), "succeeded"))
            n_failed++;
        json_object_array_add(finals, TAKE_PTR(final));
    }
    for (size_t i = 0; i < n && !arg_json; i++)
        refresh_print_summary(json_object_array_get_idx(finals, i));
    if (n_failed > 0) {
        _cleanup_free_ char *msg = xasprintf("refresh failed in %zu of %zu pool(s).", n_failed,
                                             n);
        struct json_object *err = json_object_new_object();

        json_object_object_add(err, "code", json_object_new_string("failed"));
        json_object_object_add(err, "message", json_object_new_string(msg));
        json_object_object_add(result, "error", err);
        return report_error(-EIO, "failed", json_object_to_json_string_ext(result,
                            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), "%s",
                            msg);
    }
    if (arg_json)
        print_json_text(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
    return 0;
}

static int
verb_operation_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *url = xstrdup("/v1/operations");
    struct json_object *ops;
    int r;

    if (arg_pool) {
        r = check_name("pool", arg_pool);
        if (r < 0)
            return r;
        url_add_query(&url, "pool", arg_pool);
    }
    /* deskpoold lists all without state=; this command's default is running */
    url_add_query(&url, "state", arg_all ? "all" : "running");
    r = call("GET", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 0;
    }
    ops = jget(doc, "operations");
    t = ctl_table_new("ID", "KIND", "POOL", "FROM", "TO", "STATE", "DONE/TOTAL", "FAILED",
                      "STEP", NULL);
    for (size_t i = 0; i < jarray_len(ops); i++) {
        struct json_object *op = json_object_array_get_idx(ops, i);
        _cleanup_free_ char *from = version_label(jint(op, "from_version"));
        _cleanup_free_ char *to = version_label(jint(op, "to_version"));

        ctl_table_add(t, jstr(op, "id"));
        ctl_table_add(t, jstr(op, "kind"));
        ctl_table_add(t, jstr(op, "pool"));
        ctl_table_add(t, from);
        ctl_table_add(t, to);
        ctl_table_add(t, jstr(op, "state"));
        ctl_table_addf(t, "%" PRId64 "/%" PRId64, jint(op, "done"), jint(op, "total"));
        ctl_table_addf(t, "%" PRId64, jint(op, "failed"));
        ctl_table_add(t, jstr(op, "step"));
    }
    return ctl_table_print(t, stdout);
}

static int
verb_operation_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    int r;

    r = check_operation_id(args[0]);
    if (r < 0)
        return r;
    if (arg_wait) {
        r = operation_follow(args[0], wait_deadline(), &doc, &raw);
        if (r < 0)
            return r;
        if (!streq_ptr(jstr(doc, "state"), "succeeded")) {
            if (!arg_json)
                operation_print(doc);
            return operation_report_failed(doc);
        }
    } else {
        path = operation_path(args[0]);
        r = call("GET", path, NULL, 0, NULL, &doc, &raw);
        if (r < 0)
            return r;
    }
    if (arg_json)
        print_json_text(raw);
    else
        operation_print(doc);
    return 0;
}

/* ---- usage and dispatch ------------------------------------------------- */

static void
print_command(FILE *f, const struct ctl_verb *v)
{
    fprintf(f, "  %s%s%s%s%s\n      %s\n", v->group ? v->group : "", v->group ? " " : "",
            v->name, v->synopsis[0] != '\0' ? " " : "", v->synopsis, v->help);
}

static void
print_usage(FILE *f, const char *group)
{
    fprintf(f, "Usage: %s [--socket PATH | --url URL [--token T]] [--json] [--timeout SEC]\n"
            "                   COMMAND ...\n\n", program_invocation_short_name);
    if (!group)
        fputs("Operate deskpoold, the desktop-pool daemon, through its REST API.\n\n", f);
    fputs("Commands:\n", f);
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
        if (!group || streq_ptr(verbs[i].group, group))
            print_command(f, &verbs[i]);
    if (group)
        return;
    fprintf(f, "\nOptions:\n"
            "  --socket PATH   deskpoold's unix socket (default: $DESKPOOL_SOCKET, else\n"
            "                  %s/deskpoold.sock)\n"
            "  --url URL       talk to http(s)://host:port instead (TCP needs a token)\n"
            "  --token T       bearer token for --url (default: $DESKPOOL_TOKEN)\n"
            "  --json          print exactly one JSON document per command\n"
            "  --timeout SEC   limit for each request (default %u s; 0: none)\n"
            "  --help          show this help; 'COMMAND --help' shows a command's\n"
            "  --version       show the version\n\n"
            "Exit status: 0 success; 2 bad usage or input refused by the server (HTTP 4xx\n"
            "other than 401/403); 1 anything else (cannot connect, 401/403, 5xx, timeout).\n",
            DP_RUNSTATE_DIR, DEFAULT_REQUEST_TIMEOUT_SEC);
}

static const struct option *
option_by_val(int val)
{
    for (const struct option *o = verb_options; o->name; o++)
        if (o->val == val)
            return o;
    return NULL;
}

/* Parse a command's options and arguments (argv[0] is the last command
 * word). Returns 1 after --help, 0 with *ret_args set, or -EINVAL. */
static int
parse_verb_argv(const struct ctl_verb *v, int argc, char *argv[], char ***ret_args,
                size_t *ret_n_args)
{
    const char *value;
    size_t n;
    int c, r;

    optind = 0;     /* make GNU getopt start over on a new argv */
    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, ":h", verb_options, NULL);
        if (c < 0)
            break;
        if (c == 'h')
            c = OPT_HELP;
        if (c == '?' || c == ':') {
            const char *what = argv[optind - 1];

            if (c == ':')
                r = usage_error("%s%s%s: option '%s' needs a value.", v->group ? v->group : "",
                                v->group ? " " : "", v->name, what);
            else
                r = usage_error("%s%s%s: unknown option '%s'.", v->group ? v->group : "",
                                v->group ? " " : "", v->name, what);
            fprintf(stderr, "Usage:\n");
            print_command(stderr, v);
            return r;
        }
        if (c != OPT_JSON && c != OPT_HELP && !(v->options & F(c))) {
            const struct option *o = option_by_val(c);

            r = usage_error("%s%s%s: unknown option '--%s'.", v->group ? v->group : "",
                            v->group ? " " : "", v->name, o ? o->name : "?");
            fprintf(stderr, "Usage:\n");
            print_command(stderr, v);
            return r;
        }
        r = 0;
        switch (c) {
        case OPT_HELP:
            printf("Usage:\n");
            print_command(stdout, v);
            return 1;
        case OPT_JSON:
            arg_json = true;
            break;
        case OPT_NOTE:
            arg_note = optarg;
            break;
        case OPT_IMAGE:
            arg_image = optarg;
            break;
        case OPT_IMAGE_VERSION:
            arg_image_version = optarg;
            break;
        case OPT_TEMPLATE:
            arg_template = optarg;
            break;
        case OPT_MODE:
            arg_mode = optarg;
            break;
        case OPT_POOL:
            arg_pool = optarg;
            break;
        case OPT_USER:
            arg_user = optarg;
            break;
        case OPT_ALL:
            arg_all = true;
            break;
        case OPT_ENDED:
            arg_ended = true;
            break;
        case OPT_LIMIT:
            r = parse_size_option("--limit", optarg, &arg_limit);
            break;
        case OPT_GROUPS:
            arg_groups = optarg;
            break;
        case OPT_IDLE_TIMEOUT:
            r = parse_duration_option("--idle-timeout", optarg, &arg_idle_timeout);
            break;
        case OPT_MAX_SESSION:
            r = parse_duration_option("--max-session", optarg, &arg_max_session);
            break;
        case OPT_ALLOW_REDIRECTION:
            value = optarg;
            /* pool set needs the value and takes it as the next word, too */
            if (!value && v->run == verb_pool_set) {
                if (optind >= argc) {
                    r = usage_error("pool set: option '--allow-device-redirection' needs "
                                    "yes or no.");
                    break;
                }
                value = argv[optind++];
            }
            r = parse_yes_no_option("--allow-device-redirection", value,
                                    &arg_allow_redirection);
            break;
        case OPT_MIN:
            r = parse_size_option("--min", optarg, &arg_min);
            break;
        case OPT_SPARE:
            r = parse_size_option("--spare", optarg, &arg_spare);
            break;
        case OPT_MAX:
            r = parse_size_option("--max", optarg, &arg_max);
            break;
        case OPT_WAIT:
            arg_wait = true;
            break;
        case OPT_FORCE:
            arg_force = true;
            break;
        case OPT_TIMEOUT:
            r = parse_timeout_option(optarg, &arg_wait_timeout);
            break;
        case OPT_TO:
            arg_to = optarg;
            break;
        case OPT_POLICY:
            arg_policy = optarg;
            break;
        case OPT_WARN:
            r = parse_duration_option("--warn", optarg, &arg_warn);
            break;
        case OPT_BATCH:
            r = parse_size_option("--batch", optarg, &arg_batch);
            break;
        case OPT_NO_WAIT:
            arg_no_wait = true;
            break;
        default:
            assert(false);
        }
        if (r < 0)
            return r;
    }

    n = (size_t) (argc - optind);
    if (n < v->min_args || n > v->max_args) {
        r = usage_error("%s%s%s: expected %u argument(s), got %zu.", v->group ? v->group : "",
                        v->group ? " " : "", v->name, v->min_args, n);
        fprintf(stderr, "Usage:\n");
        print_command(stderr, v);
        return r;
    }
    *ret_args = argv + optind;
    *ret_n_args = n;
    return 0;
}

/* Parse the options before COMMAND. Returns 1 after --help/--version, 0
 * with *ret_first set to COMMAND's index, or -EINVAL. */
static int
parse_global_argv(int argc, char *argv[], int *ret_first)
{
    const char *env;
    int c, r;

    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, "+:h", global_options, NULL);
        if (c < 0)
            break;
        switch (c) {
        case 'h':
        case OPT_HELP:
            print_usage(stdout, NULL);
            return 1;
        case OPT_VERSION:
            printf("%s %s\n", program_invocation_short_name, PACKAGE_VERSION);
            return 1;
        case OPT_SOCKET:
            arg_socket = optarg;
            break;
        case OPT_URL:
            arg_url = optarg;
            break;
        case OPT_TOKEN:
            arg_token = optarg;
            break;
        case OPT_JSON:
            arg_json = true;
            break;
        case OPT_TIMEOUT:
            r = parse_duration(optarg, &arg_timeout);
            if (r < 0)
                return usage_error("--timeout: '%s' is not a number.", optarg);
            break;
        case ':':
            r = usage_error("option '%s' needs a value.", argv[optind - 1]);
            print_usage(stderr, NULL);
            return r;
        default:
            r = usage_error("unknown option '%s'.", argv[optind - 1]);
            print_usage(stderr, NULL);
            return r;
        }
    }

    if (arg_socket && arg_url)
        return usage_error("--socket and --url cannot be used together.");
    if (arg_token && !arg_url)
        return usage_error("--token needs --url (the unix socket needs no token).");
    if (arg_url && strncmp(arg_url, "http://", 7) != 0 && strncmp(arg_url, "https://", 8) != 0)
        return usage_error("--url: '%s' does not start with http:// or https://.", arg_url);
    if (!arg_socket) {
        env = getenv("DESKPOOL_SOCKET");
        arg_socket = env && env[0] != '\0' ? env : DP_RUNSTATE_DIR "/deskpoold.sock";
    }
    if (arg_url && !arg_token) {
        env = getenv("DESKPOOL_TOKEN");
        if (env && env[0] != '\0')
            arg_token = env;
    }
    *ret_first = optind;
    return 0;
}

/* Find the command named by argv[first..]; *ret_words says how many words
 * it used. Returns 1 when a group's help was printed, 0, or -EINVAL. */
static int
find_verb(int argc, char *argv[], int first, const struct ctl_verb **ret_verb, int *ret_words)
{
    const char *word = argv[first];
    const char *second = first + 1 < argc ? argv[first + 1] : NULL;
    bool is_group = false;
    int r;

    for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
        if (!verbs[i].group && streq(verbs[i].name, word)) {
            *ret_verb = &verbs[i];
            *ret_words = 1;
            return 0;
        }
        if (verbs[i].group && streq(verbs[i].group, word))
            is_group = true;
    }
    if (!is_group) {
        r = usage_error("unknown command '%s'.", word);
        print_usage(stderr, NULL);
        return r;
    }
    if (second && (streq(second, "--help") || streq(second, "-h"))) {
        print_usage(stdout, word);
        return 1;
    }
    for (size_t i = 0; second && i < ELEMENTSOF(verbs); i++)
        if (streq_ptr(verbs[i].group, word) && streq(verbs[i].name, second)) {
            *ret_verb = &verbs[i];
            *ret_words = 2;
            return 0;
        }
    if (second)
        r = usage_error("unknown command '%s %s'.", word, second);
    else
        r = usage_error("'%s' needs a command.", word);
    print_usage(stderr, word);
    return r;
}

static int
errno_to_exit_status(int r)
{
    if (r >= 0)
        return EXIT_SUCCESS;
    if (r == -EINVAL)
        return 2;
    return EXIT_FAILURE;
}

int
main(int argc, char *argv[])
{
    const struct ctl_verb *verb = NULL;
    char **args = NULL;
    size_t n_args = 0;
    int first = 0, words = 0;
    int r;

    r = parse_global_argv(argc, argv, &first);
    if (r != 0)
        return errno_to_exit_status(r);
    if (first >= argc) {
        r = usage_error("no command given.");
        print_usage(stderr, NULL);
        return errno_to_exit_status(r);
    }
    r = find_verb(argc, argv, first, &verb, &words);
    if (r != 0)
        return errno_to_exit_status(r);
    r = parse_verb_argv(verb, argc - first - words + 1, argv + first + words - 1, &args,
                        &n_args);
    if (r != 0)
        return errno_to_exit_status(r);

    target = (struct ctl_http_target) {
        .socket_path = arg_url ? NULL : arg_socket,
        .url = arg_url,
        .token = arg_token,
        .timeout_sec = arg_timeout,
    };
    r = ctl_http_global_init();
    if (r < 0)
        return errno_to_exit_status(report_error(-EIO, "internal", NULL,
                                                 "cannot initialise libcurl."));
    r = verb->run(args, n_args);
    ctl_http_global_done();
    return errno_to_exit_status(r);
}
