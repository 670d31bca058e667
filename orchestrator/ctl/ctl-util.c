/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-util.c - deskpoolctl helpers: reporting errors once, JSON access, requests,
 * option values. See ctl.h. */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "ctl.h"
#include "name.h"
#include "util.h"

/* ---- reporting ---------------------------------------------------------- */

void
print_json_text(const char *text)
{
    size_t n = text ? strlen(text) : 0;

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
int _printf_(4, 5)
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
    {
        _cleanup_free_ char *shown = text_escape(msg); /* quotes the server */

        fprintf(stderr, "%s: %s\n", program_invocation_short_name, shown);
    }

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

/* ---- JSON access -------------------------------------------------------- */

struct json_object *
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
const char *
jstr(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);

    if (!v || json_object_is_type(v, json_type_null))
        return NULL;
    return json_object_get_string(v);
}

int64_t
jint(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);

    if (!v)
        return 0;
    return json_object_get_int64(v);
}

size_t
jarray_len(struct json_object *a)
{
    if (!a || !json_object_is_type(a, json_type_array))
        return 0;
    return json_object_array_length(a);
}

/* ---- requests ----------------------------------------------------------- */

char *
path_escape(const char *s)
{
    char *e = ctl_http_escape(s);

    if (!e)
        abort();
    return e;
}

char *
pool_path(const char *name)
{
    _cleanup_free_ char *e = path_escape(name);

    return xasprintf("/v1/pools/%s", e);
}

char *
image_path(const char *name)
{
    _cleanup_free_ char *e = path_escape(name);

    return xasprintf("/v1/images/%s", e);
}

char *
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
int
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
    if (!arg_json)
        ctl_escape_json_strings(doc); /* people see it: no control characters */

    if (ret_status)
        *ret_status = status;
    if (ret_doc)
        *ret_doc = TAKE_PTR(doc);
    if (ret_raw)
        *ret_raw = TAKE_PTR(raw);
    return 0;
}

/* GET every page of a list route: see ctl.h. */
int
call_list(const char *path, const char *key, size_t max, struct json_object **ret_doc,
          char **ret_raw)
{
    _cleanup_(ctl_json_putp) struct json_object *all = json_object_new_array();
    _cleanup_(ctl_json_putp) struct json_object *merged = NULL;
    _cleanup_free_ char *cursor = NULL;
    size_t n = 0;
    int r;

    for (;;) {
        _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
        _cleanup_free_ char *url = xstrdup(path), *limit = NULL;
        struct json_object *list;
        const char *next;
        size_t want = max > 0 ? MIN(max - n, (size_t) CTL_LIST_PAGE) : CTL_LIST_PAGE;

        limit = xasprintf("%zu", want);
        url_add_query(&url, "limit", limit);
        if (cursor)
            url_add_query(&url, "after", cursor);
        r = call("GET", url, NULL, 0, NULL, &doc, NULL);
        if (r < 0)
            return r;
        list = jget(doc, key);
        for (size_t i = 0; i < jarray_len(list) && (max == 0 || n < max); i++, n++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(list, i)));
        next = jstr(doc, "next");
        if (!next || (max > 0 && n >= max))
            break;
        if (cursor && streq(cursor, next))
            return report_error(-EBADMSG, "internal", NULL, "deskpoold gave the same 'next' "
                                "twice for %s.", path);
        free(cursor);
        cursor = xstrdup(next);
    }
    merged = json_object_new_object();
    json_object_object_add(merged, key, TAKE_PTR(all));
    if (ret_raw)
        *ret_raw = xstrdup(json_object_to_json_string_ext(merged, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    *ret_doc = TAKE_PTR(merged);
    return 0;
}

/* call() for a command whose answer is what it shows: with --json the
 * server's document is printed as it came and 1 returned (the command is
 * done); else 0 and the parsed document in *ret_doc for the human
 * rendering. A failure is reported (negative errno). */
int
call_show(const char *method, const char *path, struct json_object *body,
          struct json_object **ret_doc)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    int r;

    r = call(method, path, body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json) {
        print_json_text(raw);
        return 1;
    }
    *ret_doc = TAKE_PTR(doc);
    return 0;
}

/* ---- option values ------------------------------------------------------ */

int
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

int
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

int
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
int
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

int
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
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        struct json_object *name = json_object_new_string_len(p, (int) MIN(len, (size_t) 4096));

        /* the array owns it from here, whatever the checks say */
        json_object_array_add(a, name);
        r = check_principal("group", json_object_get_string(name));
        if (r < 0)
            return r;
        if (++n > POOL_MAX_GROUPS)
            return usage_error("--groups: at most %d groups.", POOL_MAX_GROUPS);
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret = TAKE_PTR(a);
    return 0;
}

/* Add the session policy options that were given to a pool body. Returns
 * 0 or -EINVAL (reported). */
int
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

int
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
int
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
struct json_object *
version_to_json(unsigned version)
{
    if (version == 0)
        return json_object_new_string("latest");
    return json_object_new_int64(version);
}

bool
jbool(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);

    return v && json_object_get_boolean(v);
}

void
sleep_usec(uint64_t usec)
{
    struct timespec ts = {
        .tv_sec = (time_t) (usec / USEC_PER_SEC),
        .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000L,
    };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

/* "15m (900 s)". New string. */
char *
seconds_label(int64_t sec)
{
    _cleanup_free_ char *d = ctl_format_duration((uint64_t) MAX(sec, 0));

    return xasprintf("%s (%" PRId64 " s)", d, sec);
}

const char *
yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* Append "&key=escaped(value)" (or "?..." as the first) to *url. */
void
url_add_query(char **url, const char *key, const char *value)
{
    _cleanup_free_ char *e = path_escape(value);
    char *u = xasprintf("%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', key, e);

    free(*url);
    *url = u;
}

const char *
dash(const char *s)
{
    return s && s[0] != '\0' ? s : "-";
}

/* "v2", or "-" for 0. New string. */
char *
version_label(int64_t version)
{
    if (version <= 0)
        return xstrdup("-");
    return xasprintf("v%" PRId64, version);
}

uint64_t
wait_deadline(void)
{
    return now_usec() + (uint64_t) arg_wait_timeout * USEC_PER_SEC;
}

void
print_parents(struct json_object *parents)
{
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;

    if (jarray_len(parents) == 0)
        return;
    printf("\nParents of instant clones:\n");
    t = ctl_table_new("NAME", "STATE", "IMAGE", "CLONES", "DISK", "BOOT", "SAVE", "ERROR",
                      NULL);
    for (size_t i = 0; i < jarray_len(parents); i++) {
        struct json_object *p = json_object_array_get_idx(parents, i);
        _cleanup_free_ char *disk = ctl_format_bytes((uint64_t) MAX(jint(p, "disk_bytes"), 0));
        struct json_object *boot = jget(p, "boot_seconds"), *save = jget(p, "save_seconds");

        ctl_table_add(t, jstr(p, "name"));
        ctl_table_add(t, jstr(p, "state"));
        ctl_table_addf(t, "%s@v%" PRId64, strempty(jstr(p, "image")), jint(p, "image_version"));
        ctl_table_addf(t, "%" PRId64, jint(p, "clones"));
        ctl_table_add(t, disk);
        ctl_table_addf(t, "%.1f s", boot ? json_object_get_double(boot) : 0.0);
        ctl_table_addf(t, "%.1f s", save ? json_object_get_double(save) : 0.0);
        ctl_table_add(t, jstr(p, "error"));
    }
    (void) ctl_table_print(t, stdout);
}
