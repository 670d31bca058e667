/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-images.c - /v1/images: golden image versions
 *
 * POST imports a qcow2 file as the next version of an image: the file is
 * opened once, checked (qcow2, no backing chain), copied into images_dir
 * while hashed, checked again as copied, named NAME-vN.qcow2, recorded in
 * the store and only then made read-only (see image-import.c for why a
 * writable file under a final name is a leftover). Two imports of one
 * name meet at image_claim(): one goes on, the other gets 409 at once.
 */
#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include "api-priv.h"
#include "image-import.h"
#include "log.h"
#include "name.h"
#include "util.h"

#define IMAGE_PATH_MAX 4096
#define IMAGE_NOTE_MAX 1024

json_object *
api_image_to_json(const struct image *img)
{
    json_object *o = json_object_new_object();

    json_add_string(o, "name", img->name);
    json_add_int(o, "version", img->version);
    json_add_string(o, "path", img->path);
    json_add_string(o, "sha256", img->sha256);
    json_add_int(o, "size", (int64_t) img->size);
    json_add_int(o, "virtual_size", (int64_t) img->virtual_size);
    json_add_string(o, "note", img->note);
    json_add_string(o, "created_by", img->created_by);
    json_object_object_add(o, "retired", json_object_new_boolean(img->retired));
    json_add_time(o, "created_at", img->created_at);
    return o;
}

static json_object *
images_to_array(struct image **imgs, size_t n)
{
    json_object *arr = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, api_image_to_json(imgs[i]));
    return arr;
}

int
api_images_list(struct api_request *req, struct api_reply *reply)
{
    struct image **imgs = NULL;
    size_t n = 0;
    json_object *o;
    int r;

    r = store_image_list(req->api->deps.store, NULL, &imgs, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read images from the store.");
    o = json_object_new_object();
    json_object_object_add(o, "images", images_to_array(imgs, n));
    image_list_free(imgs, n);
    return api_reply_json(reply, 200, o);
}

int
api_images_get(struct api_request *req, struct api_reply *reply)
{
    const char *name = req->params[0];
    struct image **imgs = NULL;
    size_t n = 0;
    json_object *o;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No image '%.64s'.", name);
    r = store_image_list(req->api->deps.store, name, &imgs, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read images from the store.");
    if (n == 0) {
        image_list_free(imgs, n);
        return api_reply_errorf(reply, -ENOENT, "No image '%s'.", name);
    }
    o = json_object_new_object();
    json_add_string(o, "name", name);
    json_object_object_add(o, "versions", images_to_array(imgs, n));
    image_list_free(imgs, n);
    {
        json_object *parents = NULL;

        r = api_parents_json(req->api->deps.store, name, NULL, &parents);
        if (r < 0) {
            json_object_put(o);
            return api_reply_error(reply, r, "Cannot read parents from the store.");
        }
        json_object_object_add(o, "parents", parents);
    }
    return api_reply_json(reply, 200, o);
}

int
api_images_add(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "name", "path", "note", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_free_ char *err = NULL, *dst = NULL;
    _cleanup_(image_freep) struct image *added = NULL;
    _cleanup_(image_claim_releasep) struct image_claim *claim = NULL;
    _cleanup_(image_import_done) struct image_import imp = {};
    const char *name = NULL, *path = NULL, *note = NULL;
    unsigned version = 0;
    struct image img;
    int r;

    r = api_require_body(req, reply, fields);
    if (r < 0)
        return 0;
    if (api_get_name(req, reply, "name", "Image", &name) < 0)
        return 0;
    r = json_get_string(req->body, "path", IMAGE_PATH_MAX, &path, &err);
    if (r == -ENOENT)
        return api_reply_error(reply, -EINVAL, "Field 'path' is required.");
    if (r < 0)
        return api_reply_error(reply, r, err);
    r = json_get_string(req->body, "note", IMAGE_NOTE_MAX, &note, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);

    /* From here until the version is recorded no other import of NAME runs
     * in this daemon: the next version and its file are ours. */
    r = image_claim(name, &claim);
    if (r == -EBUSY)
        return api_reply_errorf(reply, -EBUSY, "Image '%s' is being added by another request.",
                                name);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot add image '%s'.", name);
    r = store_image_next_version(s, name, &version);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read images from the store.");
    dst = xasprintf("%s/%s-v%u.qcow2", req->api->deps.images_dir, name, version);
    r = image_import_file(path, dst, &imp, &err);
    if (r == -ENOENT || r == -EINVAL)
        /* a file that is not there is bad input here, not a missing route */
        return api_reply_error(reply, -EINVAL, err);
    if (r == -EEXIST)
        return api_reply_error(reply, r, err);
    if (r < 0) {
        log_error_errno(r, "Cannot import '%s' as '%s': %s", path, dst, err);
        return api_reply_errorf(reply, r, "Cannot copy '%s' into the images directory: %s.",
                                path, strerror(-r));
    }
    if (imp.replaced_leftover)
        log_notice("Replaced '%s', left behind by an interrupted import", dst);
    img = (struct image) {
        .name = (char *) name, .version = version, .path = dst, .sha256 = imp.sha256,
        .size = imp.size, .virtual_size = imp.virtual_size, .note = (char *) note,
        .created_by = (char *) api_actor(req),
        .created_at = (int64_t) (now_realtime_usec() / 1000000ULL),
    };
    r = store_image_add(s, &img);
    if (r < 0) {
        (void) unlink(dst);
        return api_reply_errorf(reply, r, "Cannot record version %u of image '%s'.", version,
                                name);
    }
    r = image_import_commit(dst);
    if (r < 0)
        log_warning_errno(r, "Cannot make '%s' read-only, ignoring", dst);
    log_notice("Image '%s' version %u added (%s, sha256 %.12s)", name, version, dst,
               imp.sha256);
    (void) store_audit(s, api_actor(req), "image.added", NULL, NULL, NULL, dst);
    r = store_image_get(s, name, version, &added);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read the new image back.");
    return api_reply_json(reply, 201, api_image_to_json(added));
}
