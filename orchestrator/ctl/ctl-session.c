/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-session.c - deskpoolctl session commands (list, show, end) and the audit log.
 * See ctl.h. Lists come a page at a time from deskpoold: these commands
 * follow "next" (call_list()) until the end, or the entries asked for. */
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
#include "json-util.h"
#include "name.h"
#include "util.h"

/* ---- sessions and audit ------------------------------------------------- */

static char *
session_path(const char *id)
{
    _cleanup_free_ char *e = path_escape(id);

    return xasprintf("/v1/sessions/%s", e);
}

int
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

    r = call_list(url, "sessions", 0, &doc, &raw);
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

int
verb_session_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = session_path(args[0]);
    int r;

    r = call_show("GET", path, NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
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

int
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

/* --since DUR|TIME as an RFC 3339 time for the query. Returns 0 or
 * -EINVAL (reported). */
static int
since_to_time(const char *s, char **ret)
{
    unsigned dur;
    int64_t t;

    if (parse_duration(s, &dur) >= 0) {
        t = (int64_t) time(NULL) - (int64_t) dur;
    } else if (json_time_parse(s, &t) < 0) {
        return usage_error("--since: '%s' is neither a duration (90m, 12h, 7d) nor a time "
                           "(2026-11-27T21:30:00Z, 2026-11-27).", s);
    }
    *ret = format_timestamp(t > 0 ? t : 0);
    return 0;
}

int
verb_audit(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *raw = NULL, *since = NULL;
    _cleanup_free_ char *url = xstrdup("/v1/audit");
    struct json_object *entries;
    size_t max = 100;
    int r;

    if (arg_limit == 0)
        return usage_error("audit: --limit must be at least 1.");
    if (arg_since) {
        r = since_to_time(arg_since, &since);
        if (r < 0)
            return r;
        url_add_query(&url, "since", since);
        max = 0; /* everything since then, unless --limit says otherwise */
    }
    if (arg_limit > 0)
        max = (size_t) arg_limit;
    r = call_list(url, "entries", max, &doc, &raw);
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
