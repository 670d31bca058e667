/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-pools.c - /v1/pools and /v1/desktops
 *
 * Handlers validate input completely before they touch the store, write
 * the desired state in one store call, and wake the reconciler; they never
 * create or destroy desktops themselves. A refused request changes nothing.
 */
#include "config.h"

#include "api-priv.h"
#include "log.h"
#include "tmpl.h"
#include "name.h"
#include "util.h"

json_object *api_desk_to_json(const struct desk *d);

json_object *
api_desk_to_json(const struct desk *d)
{
    json_object *o = json_object_new_object();

    json_add_string(o, "name", d->name);
    json_add_string(o, "pool", d->pool);
    json_add_string(o, "state", desk_state_to_string(d->state));
    json_add_string(o, "host", d->host);
    json_add_string(o, "domain", d->domain);
    json_add_string(o, "uuid", d->uuid);
    json_add_string(o, "volume", d->volume);
    json_add_string(o, "image", d->image);
    json_add_int(o, "image_version", d->image_version);
    json_add_string(o, "data_volume", d->data_volume);
    json_add_string(o, "parent", d->parent);
    json_add_string(o, "mac", d->mac);
    json_add_string(o, "owner", d->owner);
    json_add_int(o, "boot_failures", d->boot_failures);
    json_add_string(o, "last_error", d->last_error);
    json_add_time(o, "created_at", d->created_at);
    json_add_time(o, "state_since", d->state_since);
    return o;
}

/* Pool as JSON with its desktop counts; with desktops when WITH_DESKS. */
static json_object *
pool_to_json(const struct pool *p, struct desk **desks, size_t n_desks, bool with_desks)
{
    json_object *o = json_object_new_object(), *counts = json_object_new_object();
    json_object *arr = with_desks ? json_object_new_array() : NULL;
    unsigned by_state[_DESK_STATE_MAX] = { 0 }, total = 0;

    json_add_string(o, "name", p->name);
    json_add_string(o, "image", p->image);
    if (p->image_version == 0)
        json_add_string(o, "image_version", "latest");
    else
        json_add_int(o, "image_version", p->image_version);
    json_add_int(o, "current_version", p->current_version);
    json_add_string(o, "template", p->template);
    json_add_string(o, "mode", pool_mode_to_string(p->mode));
    json_add_int(o, "min", p->min);
    json_add_int(o, "spare", p->spare);
    json_add_int(o, "max", p->max);
    json_add_string(o, "state", p->deleting ? "deleting" : "active");
    json_add_time(o, "created_at", p->created_at);
    {
        json_object *g = json_object_new_array();

        for (size_t i = 0; p->groups && p->groups[i]; i++)
            json_object_array_add(g, json_object_new_string(p->groups[i]));
        json_object_object_add(o, "groups", g);
    }
    json_add_int(o, "idle_timeout", p->idle_timeout);
    json_add_int(o, "max_session", p->max_session);
    json_object_object_add(o, "allow_device_redirection",
                           json_object_new_boolean(p->allow_redirection));
    json_add_string(o, "clone", pool_clone_to_string(p->clone));
    json_add_string(o, "clone_effective", pool_clone_to_string(pool_clone_effective(p)));
    json_add_string(o, "clone_fallback", p->clone_fallback);
    json_add_string(o, "placement", placement_policy_to_string(p->placement));
    {
        json_object *l = json_object_new_array();

        for (size_t i = 0; p->host_labels && p->host_labels[i]; i++)
            json_object_array_add(l, json_object_new_string(p->host_labels[i]));
        json_object_object_add(o, "host_labels", l);
    }
    for (size_t i = 0; i < n_desks; i++) {
        if (!streq(desks[i]->pool, p->name))
            continue;
        total++;
        if (desks[i]->state >= 0 && desks[i]->state < _DESK_STATE_MAX)
            by_state[desks[i]->state]++;
        if (arr)
            json_object_array_add(arr, api_desk_to_json(desks[i]));
    }
    json_add_int(counts, "total", total);
    for (int s = 0; s < _DESK_STATE_MAX; s++)
        json_add_int(counts, desk_state_to_string((enum desk_state) s), by_state[s]);
    json_object_object_add(o, "counts", counts);
    if (arr)
        json_object_object_add(o, "desktops", arr);
    return o;
}

static int
reply_pool(struct api_request *req, struct api_reply *reply, const char *name, unsigned status)
{
    struct store *s = req->api->deps.store;
    _cleanup_(pool_freep) struct pool *p = NULL;
    struct desk **desks = NULL;
    size_t n = 0;
    json_object *o;
    int r;

    r = store_pool_get(s, name, &p);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No pool '%s'.", name);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read the pool from the store.");
    r = store_desk_list(s, name, &desks, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read desktops from the store.");
    o = pool_to_json(p, desks, n, true);
    desk_list_free(desks, n);
    {
        json_object *parents = NULL;

        r = api_parents_json(s, p->image, p->template, &parents);
        if (r < 0) {
            json_object_put(o);
            return api_reply_error(reply, r, "Cannot read parents from the store.");
        }
        json_object_object_add(o, "parents", parents);
    }
    return api_reply_json(reply, status, o);
}

int
api_pools_list(struct api_request *req, struct api_reply *reply)
{
    struct store *s = req->api->deps.store;
    struct pool **pools = NULL;
    struct desk **desks = NULL;
    size_t n_pools = 0, n_desks = 0;
    json_object *o, *arr;
    int r;

    r = store_pool_list(s, &pools, &n_pools);
    if (r >= 0)
        r = store_desk_list(s, NULL, &desks, &n_desks);
    if (r < 0) {
        pool_list_free(pools, n_pools);
        return api_reply_error(reply, r, "Cannot read pools from the store.");
    }
    arr = json_object_new_array();
    for (size_t i = 0; i < n_pools; i++)
        json_object_array_add(arr, pool_to_json(pools[i], desks, n_desks, false));
    o = json_object_new_object();
    json_object_object_add(o, "pools", arr);
    pool_list_free(pools, n_pools);
    desk_list_free(desks, n_desks);
    return api_reply_json(reply, 200, o);
}

int
api_pools_get(struct api_request *req, struct api_reply *reply)
{
    if (!name_is_valid(req->params[0]))
        return api_reply_errorf(reply, -ENOENT, "No pool '%.64s'.", req->params[0]);
    return reply_pool(req, reply, req->params[0], 200);
}

/* Reads an optional size field into *v: 1 when present, 0 when absent
 * (*v untouched), negative errno with the reply filled when invalid. */
static int
get_size(struct api_request *req, struct api_reply *reply, const char *field, unsigned *v)
{
    _cleanup_free_ char *err = NULL;
    int r = json_get_uint(req->body, field, POOL_MAX_DESKTOPS, v, &err);

    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        api_reply_error(reply, r, err);
        return r;
    }
    return 1;
}

/* Fills REPLY with the error and returns ERR: for helpers that report. */
static int
reply_fail(struct api_reply *reply, int err, const char *msg)
{
    api_reply_error(reply, err, msg);
    return err;
}

/* Reads the optional session policy fields of the body into P (fields
 * absent keep P's values). Returns 0, or negative errno with the reply
 * filled. */
static int
get_policy(struct api_request *req, struct api_reply *reply, struct pool *p)
{
    _cleanup_free_ char *err = NULL;
    json_object *g;
    unsigned v;
    bool b;
    int r;

    if (json_object_object_get_ex(req->body, "groups", &g)) {
        size_t n;
        char **groups;

        if (!json_object_is_type(g, json_type_array))
            return reply_fail(reply, -EINVAL, "Field 'groups' must be an array of group names.");
        n = json_object_array_length(g);
        if (n > POOL_MAX_GROUPS)
            return reply_fail(reply, -EINVAL, "Field 'groups' has too many names (at most 64).");
        groups = xmalloc0(sizeof(char *) * (n + 1));
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(g, i);
            const char *name = json_object_is_type(e, json_type_string)
                                   ? json_object_get_string(e) : NULL;

            if (name && strlen(name) != (size_t) json_object_get_string_len(e))
                name = NULL; /* an embedded NUL */
            if (!principal_name_is_valid(name)) {
                strv_free(groups);
                return reply_fail(reply, -EINVAL, "Field 'groups' holds a name that is not "
                                  "valid: use 1-64 of [A-Za-z0-9._@-].");
            }
            groups[i] = xstrdup(name);
        }
        strv_free(p->groups);
        p->groups = groups;
    }
    r = json_get_uint(req->body, "idle_timeout", 7 * 86400, &v, &err);
    if (r < 0 && r != -ENOENT)
        return reply_fail(reply, r, err);
    if (r >= 0 && v < 30)
        return reply_fail(reply, -EINVAL, "Field 'idle_timeout' must be at least 30 seconds.");
    if (r >= 0)
        p->idle_timeout = v;
    r = json_get_uint(req->body, "max_session", 30 * 86400, &v, &err);
    if (r < 0 && r != -ENOENT)
        return reply_fail(reply, r, err);
    if (r >= 0 && v < 60)
        return reply_fail(reply, -EINVAL, "Field 'max_session' must be at least 60 seconds.");
    if (r >= 0)
        p->max_session = v;
    r = json_get_bool(req->body, "allow_device_redirection", &b, &err);
    if (r < 0 && r != -ENOENT)
        return reply_fail(reply, r, err);
    if (r >= 0)
        p->allow_redirection = b;
    return 0;
}

/* Reads the optional placement fields of the body into P: "placement"
 * (spread, pack) and "host_labels" (["k=v", ...]: every host of the pool
 * must have them). Returns 0, or negative errno with the reply filled. */
static int
get_placement(struct api_request *req, struct api_reply *reply, struct pool *p)
{
    _cleanup_free_ char *err = NULL, *joined = NULL;
    const char *s = NULL;
    json_object *v;
    int r;

    r = json_get_string(req->body, "placement", 16, &s, &err);
    if (r < 0 && r != -ENOENT)
        return reply_fail(reply, r, err);
    if (r >= 0) {
        p->placement = placement_policy_from_string(s);
        if (p->placement < 0)
            return reply_fail(reply, -EINVAL, "Field 'placement' must be \"spread\" or "
                              "\"pack\".");
    }
    if (json_object_object_get_ex(req->body, "host_labels", &v)) {
        size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
        _cleanup_(strv_freep) char **parts = xmalloc0(sizeof(char *) * (n + 1));
        char **labels = NULL;

        if (!json_object_is_type(v, json_type_array))
            return reply_fail(reply, -EINVAL, "Field 'host_labels' must be an array of "
                              "\"key=value\" strings.");
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(v, i);

            if (!json_object_is_type(e, json_type_string) ||
                strchr(json_object_get_string(e), ','))
                return reply_fail(reply, -EINVAL, "Field 'host_labels' must be an array of "
                                  "\"key=value\" strings.");
            parts[i] = xstrdup(json_object_get_string(e));
        }
        joined = strv_join(parts, ',');
        r = host_labels_parse(joined, &labels, &err);
        if (r < 0)
            return reply_fail(reply, r, err);
        strv_free(p->host_labels);
        p->host_labels = labels;
    }
    return 0;
}

/* Whether the body asks to skip admission control ("overcommit": true):
 * 1 or 0, or a negative errno with the reply filled. */
static int
get_overcommit(struct api_request *req, struct api_reply *reply)
{
    _cleanup_free_ char *err = NULL;
    bool b = false;
    int r = json_get_bool(req->body, "overcommit", &b, &err);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return reply_fail(reply, r, err);
    return b;
}

/* The clone method the body asks for: 1 and *RET, 0 when absent, or a
 * negative errno with the reply filled. */
static int
get_clone(struct api_request *req, struct api_reply *reply, enum pool_clone *ret)
{
    _cleanup_free_ char *err = NULL;
    const char *s = NULL;
    int r;

    r = json_get_string(req->body, "clone", 16, &s, &err);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return reply_fail(reply, r, err);
    *ret = pool_clone_from_string(s);
    if (*ret < 0)
        return reply_fail(reply, -EINVAL, "Field 'clone' must be \"instant\" or \"boot\".");
    return 1;
}

/* Whether a pool of MODE on template T can make instant clones here: 0,
 * or -EINVAL with the reason. */
static int
clone_check(struct api_request *req, enum pool_mode mode, const struct tmpl *t,
            char **reterr_msg)
{
    return pool_clone_check(mode, tmpl_has_data_disk(t), tmpl_has_agent(t),
                            hv_is_local_qemu(req->api->deps.hv), reterr_msg);
}

int
api_pools_create(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "name", "image", "image_version", "template", "mode",
                                          "min", "spare", "max", "groups", "idle_timeout",
                                          "max_session", "allow_device_redirection", "clone",
                                          "placement", "host_labels", "overcommit", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_free_ char *err = NULL, *tdir = NULL, *tpath = NULL;
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    const char *name = NULL, *image = NULL, *tname = "desktop", *mode = "floating";
    struct pool p = { .idle_timeout = POOL_DEFAULT_IDLE_TIMEOUT,
                      .max_session = POOL_DEFAULT_MAX_SESSION };
    enum pool_clone clone = POOL_CLONE_BOOT;
    int clone_given, overcommit = 0;
    json_object *v;
    int r;

    r = api_require_body(req, reply, fields);
    if (r < 0)
        return 0;
    if (api_get_name(req, reply, "name", "Pool", &name) < 0 ||
        api_get_name(req, reply, "image", "Image", &image) < 0)
        return 0;
    r = json_get_string(req->body, "template", DP_NAME_MAX + 1, &tname, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    if (!name_is_valid(tname))
        return api_reply_errorf(reply, -EINVAL, "Template name '%s' is not valid.", tname);
    r = json_get_string(req->body, "mode", 16, &mode, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    p.mode = pool_mode_from_string(mode);
    if (p.mode < 0)
        return api_reply_errorf(reply, -EINVAL, "Mode '%s' is not valid: use floating or "
                                "dedicated.", mode);
    if (json_object_object_get_ex(req->body, "image_version", &v)) {
        if (json_object_is_type(v, json_type_string) &&
            streq(json_object_get_string(v), "latest"))
            p.image_version = 0;
        else if (json_get_uint(req->body, "image_version", UINT32_MAX, &p.image_version,
                               &err) < 0 || p.image_version == 0)
            return api_reply_error(reply, -EINVAL, "Field 'image_version' must be \"latest\" "
                                   "or a version number from 1.");
    }
    if (get_size(req, reply, "min", &p.min) < 0 || get_size(req, reply, "spare", &p.spare) < 0)
        return 0;
    r = get_size(req, reply, "max", &p.max);
    if (r < 0)
        return 0;
    if (r == 0)
        return api_reply_error(reply, -EINVAL, "Field 'max' is required.");
    r = pool_validate_sizes(p.min, p.spare, p.max, &err);
    if (r < 0)
        return api_reply_error(reply, r, err);
    clone_given = get_clone(req, reply, &clone);
    if (clone_given < 0)
        return 0;
    r = get_policy(req, reply, &p);
    if (r >= 0)
        r = get_placement(req, reply, &p);
    if (r >= 0)
        r = overcommit = get_overcommit(req, reply);
    if (r < 0) {
        strv_free(p.groups);
        strv_free(p.host_labels);
        return 0;
    }

    api_settings_get(req->api, &set);
    tdir = xstrdup(set.templates_dir);
    tpath = xasprintf("%s/%s.xml", tdir, tname);
    r = tmpl_load_file(tpath, &t, &err);
    if (r == -ENOENT) {
        strv_free(p.groups);
        strv_free(p.host_labels);
        return api_reply_errorf(reply, -EINVAL, "Template '%s' does not exist in '%s'.", tname,
                                tdir);
    }
    if (r >= 0 && !p.allow_redirection) {
        /* the hospital's rule: no copy between the physician's machine and
         * the desktop, unless the pool says so explicitly */
        r = tmpl_check_lockdown(t, &err);
        if (r < 0) {
            strv_free(p.groups);
            strv_free(p.host_labels);
            return api_reply_errorf(reply, -EINVAL, "%s Set allow_device_redirection to "
                                    "use this template anyway.", err);
        }
    }
    if (r < 0) {
        strv_free(p.groups);
        strv_free(p.host_labels);
        return api_reply_error(reply, -EINVAL, err);
    }
    /* instant where it works, unless the operator says otherwise */
    r = clone_check(req, p.mode, t, &err);
    if (r < 0 && clone_given && clone == POOL_CLONE_INSTANT) {
        strv_free(p.groups);
        strv_free(p.host_labels);
        return api_reply_error(reply, r, err);
    }
    p.clone = clone_given ? clone : r >= 0 ? POOL_CLONE_INSTANT : POOL_CLONE_BOOT;

    p.name = (char *) name;
    p.image = (char *) image;
    p.template = (char *) tname;
    p.created_at = (int64_t) (now_realtime_usec() / 1000000ULL);
    /* admission control: its min must fit, unless the operator says so */
    if (!overcommit && api_admit(req, reply, &p, true) < 0) {
        strv_free(p.groups);
        strv_free(p.host_labels);
        return 0;
    }
    r = store_pool_add(s, &p);
    strv_free(p.groups);
    strv_free(p.host_labels);
    if (r == -EEXIST)
        return api_reply_errorf(reply, r, "Pool '%s' already exists.", name);
    if (r == -ENOENT)
        return p.image_version
                   ? api_reply_errorf(reply, -EINVAL, "Image '%s' has no version %u.", image,
                                      p.image_version)
                   : api_reply_errorf(reply, -EINVAL, "Image '%s' is not registered.", image);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot store the pool.");
    log_notice("Pool '%s' created: %s, %s clones, image '%s', template '%s', min %u spare %u "
               "max %u", name, mode, pool_clone_to_string(p.clone), image, tname, p.min,
               p.spare, p.max);
    (void) store_audit(s, api_actor(req), "pool.created", name, NULL, NULL, NULL);
    reconciler_wake(req->api->deps.reconciler);
    return reply_pool(req, reply, name, 201);
}

int
api_pools_update(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "min", "spare", "max", "groups", "idle_timeout",
                                          "max_session", "allow_device_redirection",
                                          "image_version", "clone", "placement", "host_labels",
                                          "overcommit", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_free_ char *err = NULL;
    const char *name = req->params[0];
    unsigned min, spare, max;
    enum pool_clone clone = POOL_CLONE_BOOT;
    int clone_given, overcommit;
    json_object *v;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No pool '%.64s'.", name);
    r = api_require_body(req, reply, fields);
    if (r < 0)
        return 0;
    clone_given = get_clone(req, reply, &clone);
    if (clone_given < 0)
        return 0;
    r = store_pool_get(s, name, &p);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No pool '%s'.", name);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read the pool from the store.");
    if (p->deleting)
        return api_reply_errorf(reply, -EBUSY, "Pool '%s' is being deleted.", name);
    min = p->min;
    spare = p->spare;
    max = p->max;
    if (get_size(req, reply, "min", &min) < 0 || get_size(req, reply, "spare", &spare) < 0 ||
        get_size(req, reply, "max", &max) < 0)
        return 0;
    r = pool_validate_sizes(min, spare, max, &err);
    if (r < 0)
        return api_reply_error(reply, r, err);
    if (get_policy(req, reply, p) < 0 || get_placement(req, reply, p) < 0)
        return 0;
    if (clone_given && clone == POOL_CLONE_INSTANT) {
        _cleanup_(api_settings_done) struct api_settings set = { 0 };
        _cleanup_(tmpl_freep) struct tmpl *t = NULL;
        _cleanup_free_ char *tpath = NULL;

        api_settings_get(req->api, &set);
        tpath = xasprintf("%s/%s.xml", set.templates_dir, p->template);
        r = tmpl_load_file(tpath, &t, &err);
        if (r < 0)
            return api_reply_errorf(reply, -EINVAL, "Template '%s' cannot be read: %s",
                                    p->template, strempty(err));
        r = clone_check(req, p->mode, t, &err);
        if (r < 0)
            return api_reply_error(reply, r, err);
    }
    overcommit = get_overcommit(req, reply);
    if (overcommit < 0)
        return 0;
    if (min > p->min && !overcommit) {
        unsigned old_min = p->min;
        int q;

        p->min = min;
        q = api_admit(req, reply, p, false);
        p->min = old_min;
        if (q < 0)
            return 0;
    }
    p->min = min;
    p->spare = spare;
    p->max = max;
    if (json_object_object_get_ex(req->body, "image_version", &v)) {
        unsigned ver = 0;

        if (!(json_object_is_type(v, json_type_string) &&
              streq(json_object_get_string(v), "latest")) &&
            (json_get_uint(req->body, "image_version", UINT32_MAX, &ver, &err) < 0 || ver == 0))
            return api_reply_error(reply, -EINVAL, "Field 'image_version' must be \"latest\" "
                                   "or a version number from 1.");
        /* a new pin (or latest) starts a rebase in the reconciler */
        r = store_pool_set_image_version(s, name, ver);
        if (r == -ENOENT)
            return api_reply_errorf(reply, -EINVAL, "Image '%s' has no usable version %u.",
                                    p->image, ver);
        if (r < 0)
            return api_reply_errorf(reply, r, "Cannot change pool '%s'.", name);
    }
    r = store_pool_update(s, p);
    if (r == -ESHUTDOWN)
        return api_reply_errorf(reply, -EBUSY, "Pool '%s' is being deleted.", name);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot change pool '%s'.", name);
    if (clone_given) {
        /* again after a fallback: the operator re-arms instant clones */
        r = store_pool_set_clone(s, name, clone);
        if (r < 0)
            return api_reply_errorf(reply, r, "Cannot change pool '%s'.", name);
        if (p->clone_fallback && clone == POOL_CLONE_INSTANT)
            log_notice("Pool '%s' makes instant clones again (it had fallen back: %s)", name,
                       p->clone_fallback);
    }
    log_notice("Pool '%s' changed: min %u spare %u max %u", name, min, spare, max);
    (void) store_audit(s, api_actor(req), "pool.changed", name, NULL, NULL, NULL);
    reconciler_wake(req->api->deps.reconciler);
    return reply_pool(req, reply, name, 200);
}

int
api_pools_delete(struct api_request *req, struct api_reply *reply)
{
    struct store *s = req->api->deps.store;
    const char *name = req->params[0], *force_s = api_query(req, "force");
    bool force = false;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No pool '%.64s'.", name);
    if (force_s) {
        if (streq(force_s, "true") || streq(force_s, "1"))
            force = true;
        else if (!streq(force_s, "false") && !streq(force_s, "0"))
            return api_reply_error(reply, -EINVAL, "Query 'force' must be true or false.");
    }
    r = store_pool_mark_deleting(s, name, force);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No pool '%s'.", name);
    if (r == -EBUSY)
        return api_reply_errorf(reply, r, "Pool '%s' has desktops in use; end their sessions "
                                "or delete with force.", name);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot delete pool '%s'.", name);
    log_notice("Pool '%s' marked for deletion%s", name, force ? " (forced)" : "");
    (void) store_audit(s, api_actor(req), force ? "pool.delete-forced" : "pool.delete", name,
                       NULL, NULL, NULL);
    /* the answer is read before the reconciler is woken: a pool without
     * desktops is removed by its next pass, and a pass may have run
     * already; gone, the pool is answered as deleted, not as never there
     * (cli/run.sh met that race once) */
    r = reply_pool(req, reply, name, 202);
    if (reply->status == 404) {
        json_object *o = json_object_new_object();

        free(reply->body);
        reply->body = NULL;
        json_add_string(o, "name", name);
        json_add_string(o, "state", "deleted");
        r = api_reply_json(reply, 202, o);
    }
    reconciler_wake(req->api->deps.reconciler);
    return r;
}

/* Whether desktop D comes after position (POOL, SEQ) in the list's order
 * (pool, then sequence number). */
static bool
desk_after(const struct desk *d, const char *pool, unsigned seq)
{
    int c = strcmp(d->pool, pool);

    return c > 0 || (c == 0 && d->seq > seq);
}

int
api_desktops_list(struct api_request *req, struct api_reply *reply)
{
    const char *pool = api_query(req, "pool"), *after_pool = NULL;
    struct desk **desks = NULL;
    struct api_page pg;
    int64_t after_seq = -1;
    size_t n = 0, shown = 0, last = 0;
    bool more = false;
    json_object *o, *arr;
    int r;

    if (pool && !name_is_valid(pool))
        return api_reply_errorf(reply, -EINVAL, "Pool name '%.64s' is not valid.", pool);
    if (api_get_page(req, reply, &pg) < 0)
        return 0;
    /* the cursor: seq.pool of the last desktop shown */
    if (pg.after && (api_cursor_parse(pg.after, &after_seq, &after_pool) < 0 ||
                     !name_is_valid(after_pool) || after_seq > UINT32_MAX))
        return api_reply_bad_cursor(reply);
    /* desktops are bounded (POOL_MAX_DESKTOPS a pool): the page is cut
     * from the whole list, which bounds the answer */
    r = store_desk_list(req->api->deps.store, pool, &desks, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read desktops from the store.");
    arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        if (after_pool && !desk_after(desks[i], after_pool, (unsigned) after_seq))
            continue;
        if (shown == pg.limit) {
            more = true;
            break;
        }
        json_object_array_add(arr, api_desk_to_json(desks[i]));
        last = i;
        shown++;
    }
    o = json_object_new_object();
    json_object_object_add(o, "desktops", arr);
    api_add_next(o, more ? api_cursor_format(desks[last]->seq, desks[last]->pool) : NULL);
    desk_list_free(desks, n);
    return api_reply_json(reply, 200, o);
}
