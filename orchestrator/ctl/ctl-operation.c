/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-operation.c - deskpoolctl image updates: pool rebase, image refresh, operation
 * list and show. See ctl.h. */
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

int
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

int
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

int
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
    r = call_list(url, "operations", 0, &doc, &raw);
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

int
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
