/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-operations.c - image updates: rebase, refresh, operations, retire
 *
 * Starting an update only writes an operation to the store and wakes the
 * reconciler; the planner drives it (canary, batches, logoffs) and the
 * store keeps it across restarts. A second refresh of a pool finds the
 * running one and answers with it (200 instead of 202), so two cron jobs
 * at once cannot double the work.
 */
#include "config.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api-priv.h"
#include "log.h"
#include "name.h"
#include "util.h"

#define OP_BATCH_MAX 100
#define OP_WARN_MAX (7 * 86400)

json_object *
api_op_to_json(const struct op *o)
{
    json_object *j = json_object_new_object();

    json_add_string(j, "id", o->id);
    json_add_string(j, "kind", op_kind_to_string(o->kind));
    json_add_string(j, "pool", o->pool);
    json_add_int(j, "from_version", o->from_version);
    json_add_int(j, "to_version", o->to_version);
    json_add_string(j, "policy", op_policy_to_string(o->policy));
    json_add_int(j, "warn", o->warn);
    json_add_int(j, "batch", o->batch);
    json_add_string(j, "state", op_state_to_string(o->state));
    json_add_int(j, "total", o->total);
    json_add_int(j, "done", o->done);
    json_add_int(j, "failed", o->failed);
    json_add_string(j, "step", o->step);
    json_add_string(j, "error", o->error);
    json_add_string(j, "created_by", o->created_by);
    json_add_time(j, "created_at", o->created_at);
    json_add_time(j, "updated_at", o->updated_at);
    json_add_time(j, "finished_at", o->finished_at);
    return j;
}

/* Reads "latest" or a version number from FIELD into *ret (0 = latest).
 * 0 when absent (*ret untouched), 1 when read, <0 with the reply filled. */
static int
get_version(struct api_request *req, struct api_reply *reply, const char *field, unsigned *ret)
{
    _cleanup_free_ char *err = NULL;
    json_object *v;

    if (!json_object_object_get_ex(req->body, field, &v))
        return 0;
    if (json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), "latest")) {
        *ret = 0;
        return 1;
    }
    if (json_get_uint(req->body, field, UINT32_MAX, ret, &err) < 0 || *ret == 0) {
        api_reply_errorf(reply, -EINVAL, "Field '%s' must be \"latest\" or a version number "
                         "from 1.", field);
        return -EINVAL;
    }
    return 1;
}

int
api_pools_rebase(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "to", "policy", "warn", "batch", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_(pool_freep) struct pool *p = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_(op_freep) struct op *o = NULL;
    _cleanup_free_ char *err = NULL;
    const char *name = req->params[0], *policy = "wait-for-logoff";
    struct op in = { .kind = OP_KIND_REBASE, .batch = 1 };
    unsigned to = 0;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No pool '%.64s'.", name);
    if (!req->body)
        req->body = json_object_new_object();
    if (api_require_body(req, reply, fields) < 0 || get_version(req, reply, "to", &to) < 0)
        return 0;
    r = json_get_string(req->body, "policy", 32, &policy, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    in.policy = op_policy_from_string(policy);
    if (in.policy < 0)
        return api_reply_errorf(reply, -EINVAL, "Policy '%s' is not valid: use wait-for-logoff "
                                "or force-logoff.", policy);
    r = json_get_uint(req->body, "warn", OP_WARN_MAX, &in.warn, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    r = json_get_uint(req->body, "batch", OP_BATCH_MAX, &in.batch, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    if (in.batch == 0)
        return api_reply_errorf(reply, -EINVAL, "Field 'batch' must be between 1 and %d.",
                                OP_BATCH_MAX);

    r = store_pool_get(s, name, &p);
    if (r < 0)
        return api_reply_errorf(reply, r, "No pool '%s'.", name);
    r = store_image_get_usable(s, p->image, to, &img);
    if (r < 0)
        return api_reply_errorf(reply, -EINVAL, to ? "Image '%s' has no usable version %u." :
                                "Image '%s' has no usable version.", p->image, to);
    if (img->version == p->current_version)
        return api_reply_errorf(reply, -EINVAL, "Pool '%s' runs version %u already.", name,
                                img->version);
    /* an explicit rebase pins the pool, so it stays where it was moved */
    r = store_pool_set_image_version(s, name, to == 0 ? 0 : img->version);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot pin pool '%s'.", name);
    in.pool = (char *) name;
    in.to_version = img->version;
    in.created_by = (char *) api_actor(req);
    r = store_op_start(s, &in, &o);
    if (r == -EBUSY)
        return api_reply_errorf(reply, -EBUSY, "Pool '%s' has an operation running (%s); wait "
                                "for it.", name, o ? o->id : "?");
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot start the rebase of pool '%s'.", name);
    log_notice("Rebase %s of pool '%s' to v%u started (%s, batch %u)", o->id, name,
               o->to_version, policy, o->batch);
    reconciler_wake(req->api->deps.reconciler);
    return api_reply_json(reply, 202, api_op_to_json(o));
}

/* Starts (or finds) the refresh of one pool; appends it to ARR. */
static int
refresh_pool(struct api_request *req, const struct pool *p, json_object *arr, bool *started)
{
    struct store *s = req->api->deps.store;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_(op_freep) struct op *o = NULL;
    struct op in = {
        .kind = OP_KIND_REFRESH, .pool = p->name, .policy = OP_POLICY_WAIT_FOR_LOGOFF,
        .batch = 1, .created_by = (char *) api_actor(req),
    };
    int r;

    /* picks up the newest version where the pool follows latest */
    r = store_image_get_usable(s, p->image, p->image_version, &img);
    if (r < 0)
        return r;
    in.to_version = img->version;
    r = store_op_start(s, &in, &o);
    if (r < 0 && r != -EBUSY)
        return r;
    *started = *started || r >= 0;
    if (r >= 0)
        log_notice("Refresh %s of pool '%s' started (v%u)", o->id, p->name, o->to_version);
    json_object_array_add(arr, api_op_to_json(o));
    return 0;
}

/* Tidies the images directory at a refresh: a file of a retired version
 * (its removal at retire time failed) goes; a file no version names is
 * only reported: it may be the golden image of a store restored from an
 * older backup (issue 11 #2), and imports that died leave temporaries,
 * which startup removes (image_import_cleanup()). Returns the number of
 * files removed; *RET_UNNAMED gets the number reported. */
static unsigned
sweep_images_dir(struct api_request *req, unsigned *ret_unnamed)
{
    struct store *s = req->api->deps.store;
    const char *dir = req->api->deps.images_dir;
    struct image **imgs = NULL;
    size_t n = 0;
    unsigned removed = 0, unnamed = 0;
    struct dirent *e;
    DIR *d;

    *ret_unnamed = 0;
    if (store_image_list(s, NULL, &imgs, &n) < 0)
        return 0;
    d = opendir(dir);
    while (d && (e = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        size_t len = strlen(e->d_name);
        const struct image *img = NULL;
        struct stat st;

        if (e->d_name[0] == '.' || len < 7 || !streq(e->d_name + len - 6, ".qcow2"))
            continue;
        path = xasprintf("%s/%s", dir, e->d_name);
        for (size_t i = 0; i < n && !img; i++)
            if (streq(imgs[i]->path, path))
                img = imgs[i];
        if ((img && !img->retired) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!img) {
            log_warning("Image file '%s' is named by no image version: left alone (a store "
                        "restored from a backup?); remove it by hand if it is not needed", path);
            unnamed++;
            continue;
        }
        if (unlink(path) >= 0) {
            log_notice("Removed '%s' of retired version %u of image '%s'", path, img->version,
                       img->name);
            removed++;
        }
    }
    if (d)
        closedir(d);
    image_list_free(imgs, n);
    *ret_unnamed = unnamed;
    return removed;
}

int
api_refresh(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "pool", "all", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_free_ char *err = NULL;
    struct pool **pools = NULL;
    size_t n = 0;
    const char *pool = NULL;
    bool all = false, started = false;
    json_object *arr, *o;
    int r;

    if (api_require_body(req, reply, fields) < 0)
        return 0;
    r = json_get_string(req->body, "pool", DP_NAME_MAX + 1, &pool, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    r = json_get_bool(req->body, "all", &all, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    if (!pool == !all)
        return api_reply_error(reply, -EINVAL, "Give either 'pool' or 'all': true.");
    if (pool && !name_is_valid(pool))
        return api_reply_errorf(reply, -EINVAL, "Pool name '%.64s' is not valid.", pool);

    r = store_pool_list(s, &pools, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read pools from the store.");
    arr = json_object_new_array();
    for (size_t i = 0; i < n && r >= 0; i++) {
        if (pools[i]->deleting || (pool && !streq(pools[i]->name, pool)))
            continue;
        r = refresh_pool(req, pools[i], arr, &started);
    }
    if (pool && json_object_array_length(arr) == 0 && r >= 0)
        r = -ENOENT;
    pool_list_free(pools, n);
    if (r < 0) {
        json_object_put(arr);
        return api_reply_errorf(reply, r, r == -ENOENT ? "No pool '%s'." :
                                "Cannot start the refresh of pool '%s'.", strempty(pool));
    }
    reconciler_wake(req->api->deps.reconciler);
    o = json_object_new_object();
    json_object_object_add(o, "operations", arr);
    {
        unsigned unnamed = 0, removed = sweep_images_dir(req, &unnamed);

        json_add_int(o, "image_files_removed", removed);
        json_add_int(o, "image_files_unnamed", unnamed);
    }
    return api_reply_json(reply, started ? 202 : 200, o);
}

/* Whether operation O comes after position (CREATED_AT, ID) in the list's
 * order (newest first, then by id). */
static bool
op_after(const struct op *o, int64_t created_at, const char *id)
{
    return o->created_at < created_at || (o->created_at == created_at && strcmp(o->id, id) > 0);
}

int
api_operations_list(struct api_request *req, struct api_reply *reply)
{
    const char *pool = api_query(req, "pool"), *state = api_query(req, "state");
    const char *after_id = NULL;
    struct op **ops = NULL;
    struct api_page pg;
    int64_t after_created = 0;
    size_t n = 0, shown = 0, last = 0;
    bool more = false;
    json_object *arr, *o;
    int r;

    if (pool && !name_is_valid(pool))
        return api_reply_error(reply, -EINVAL, "Query 'pool' is not a valid pool name.");
    if (state && !streq(state, "running") && !streq(state, "all"))
        return api_reply_error(reply, -EINVAL, "Query 'state' must be running or all.");
    if (api_get_page(req, reply, &pg) < 0)
        return 0;
    /* the cursor: created_at.id of the last operation shown */
    if (pg.after && (api_cursor_parse(pg.after, &after_created, &after_id) < 0 || !after_id ||
                     strlen(after_id) != 36))
        return api_reply_bad_cursor(reply);
    r = store_op_list(req->api->deps.store, pool, state && streq(state, "running"), &ops, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read operations from the store.");
    arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        if (after_id && !op_after(ops[i], after_created, after_id))
            continue;
        if (shown == pg.limit) {
            more = true;
            break;
        }
        json_object_array_add(arr, api_op_to_json(ops[i]));
        last = i;
        shown++;
    }
    o = json_object_new_object();
    json_object_object_add(o, "operations", arr);
    api_add_next(o, more ? api_cursor_format(ops[last]->created_at, ops[last]->id) : NULL);
    op_list_free(ops, n);
    return api_reply_json(reply, 200, o);
}

int
api_operations_get(struct api_request *req, struct api_reply *reply)
{
    _cleanup_(op_freep) struct op *o = NULL;
    const char *id = req->params[0];
    int r;

    if (strlen(id) != 36)
        return api_reply_errorf(reply, -ENOENT, "No operation '%.40s'.", id);
    r = store_op_get(req->api->deps.store, id, &o);
    if (r < 0)
        return api_reply_errorf(reply, r, r == -ENOENT ? "No operation '%s'." :
                                "Cannot read operation '%s'.", id);
    return api_reply_json(reply, 200, api_op_to_json(o));
}

int
api_images_retire(struct api_request *req, struct api_reply *reply)
{
    const char *name = req->params[0], *ver = req->params[1];
    _cleanup_free_ char *path = NULL;
    unsigned version;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No image '%.64s'.", name);
    if (ver[0] == 'v')
        ver++;
    if (safe_atou(ver, &version) < 0 || version == 0)
        return api_reply_errorf(reply, -EINVAL, "Version '%.32s' is not valid: use vN or N.",
                                req->params[1]);
    r = store_image_retire(req->api->deps.store, name, version, &path);
    if (r == -EBUSY)
        return api_reply_errorf(reply, r, "Version %u of image '%s' is still used by a desktop "
                                "or a pool; rebase them first.", version, name);
    if (r == -EALREADY)
        return api_reply_errorf(reply, -EEXIST, "Version %u of image '%s' is retired already.",
                                version, name);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "Image '%s' has no version %u.", name, version);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot retire version %u of image '%s'.", version,
                                name);
    if (path && (chmod(path, 0644) < 0 || unlink(path) < 0) && errno != ENOENT)
        log_warning_errno(errno, "Cannot remove retired image file '%s'", path);
    log_notice("Image '%s' version %u retired", name, version);
    return api_images_get(req, reply);
}
