/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-pool.c - deskpoolctl pool commands (create, resize, set, list, show, delete,
 * wait) and desktop list. See ctl.h. */
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

int
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
    if (arg_clone)
        json_object_object_add(body, "clone", json_object_new_string(arg_clone));
    json_object_object_add(body, "min", json_object_new_int64(arg_min));
    json_object_object_add(body, "spare", json_object_new_int64(arg_spare));
    json_object_object_add(body, "max", json_object_new_int64(arg_max));
    r = policy_to_json(body);
    if (r >= 0)
        r = placement_to_json(body);
    if (r < 0)
        return r;

    r = call("POST", "/v1/pools", body, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    return pool_finish(args[0], "created", doc, raw);
}

int
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

int
verb_pool_set(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *groups = NULL;
    _cleanup_free_ char *idle = NULL;
    _cleanup_free_ char *max_session = NULL;
    _cleanup_free_ char *image = NULL;
    _cleanup_free_ char *runs = NULL;
    _cleanup_free_ char *placement = NULL;
    unsigned version;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    if (!arg_groups && arg_idle_timeout < 0 && arg_max_session < 0 &&
        arg_allow_redirection < 0 && !arg_image_version && !arg_clone && !placement_given())
        return usage_error("pool set: nothing to change; give --image-version, --clone, "
                           "--groups, --idle-timeout, --max-session, "
                           "--allow-device-redirection, --placement or --require-labels.");
    body = json_object_new_object();
    if (arg_clone)
        json_object_object_add(body, "clone", json_object_new_string(arg_clone));
    if (arg_image_version) {
        r = parse_version("--image-version", arg_image_version, true, &version);
        if (r < 0)
            return r;
        json_object_object_add(body, "image_version", version_to_json(version));
    }
    r = policy_to_json(body);
    if (r >= 0)
        r = placement_to_json(body);
    if (r < 0)
        return r;

    path = pool_path(args[0]);
    r = call_show("PATCH", path, body, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    image = pool_image_label(doc);
    runs = pool_runs_label(doc);
    groups = pool_groups_label(doc);
    idle = ctl_format_duration((uint64_t) MAX(jint(doc, "idle_timeout"), 0));
    max_session = ctl_format_duration((uint64_t) MAX(jint(doc, "max_session"), 0));
    placement = placement_label(doc);
    printf("Pool '%s' changed: image %s, runs %s; %s clones; groups %s; idle timeout %s; max "
           "session %s; device redirection %s; placement %s.\n", strempty(jstr(doc, "name")),
           image, runs, strempty(jstr(doc, "clone_effective")), groups, idle, max_session,
           jbool(doc, "allow_device_redirection") ? "allowed" : "not allowed", placement);
    return 0;
}

int
verb_pool_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    struct json_object *pools;
    int r;

    r = call_show("GET", "/v1/pools", NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
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

int
verb_pool_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *image = NULL;
    _cleanup_free_ char *runs = NULL;
    _cleanup_free_ char *groups = NULL;
    _cleanup_free_ char *idle = NULL;
    _cleanup_free_ char *max_session = NULL;
    _cleanup_free_ char *placement = NULL;
    struct json_object *desktops;
    struct pool_counts c;
    int r;

    r = check_name("pool", args[0]);
    if (r < 0)
        return r;
    path = pool_path(args[0]);
    r = call_show("GET", path, NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    c = pool_counts_from_json(doc);
    image = pool_image_label(doc);
    runs = pool_runs_label(doc);
    groups = pool_groups_label(doc);
    idle = seconds_label(jint(doc, "idle_timeout"));
    max_session = seconds_label(jint(doc, "max_session"));
    placement = placement_label(doc);
    printf("Name:               %s\n", strempty(jstr(doc, "name")));
    printf("State:              %s\n", strempty(jstr(doc, "state")));
    printf("Mode:               %s\n", strempty(jstr(doc, "mode")));
    printf("Image:              %s\n", image);
    printf("Runs:               %s\n", runs);
    printf("Template:           %s\n", strempty(jstr(doc, "template")));
    if (jstr(doc, "clone_fallback"))
        printf("Clones:             boot (falls back from %s: %s)\n",
               strempty(jstr(doc, "clone")), jstr(doc, "clone_fallback"));
    else
        printf("Clones:             %s\n", strempty(jstr(doc, "clone")));
    printf("Sizes:              min %" PRId64 ", spare %" PRId64 ", max %" PRId64 "\n", c.min,
           c.spare, c.max);
    printf("Groups:             %s\n", groups);
    printf("Idle timeout:       %s\n", idle);
    printf("Max session:        %s\n", max_session);
    printf("Device redirection: %s\n", yes_no(jbool(doc, "allow_device_redirection")));
    printf("Placement:          %s\n", placement);
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
    r = ctl_table_print(t, stdout);
    print_parents(jget(doc, "parents"));
    return r;
}

int
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

int
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

int
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
    r = call_list(path, "desktops", 0, &doc, &raw);
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
