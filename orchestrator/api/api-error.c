/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-error.c - the one errno -> HTTP status table
 *
 * Every layer below the API returns a negative errno; this table alone
 * turns it into an HTTP status and a stable error code (docs/api.md
 * lists the same table). The CLI maps the same codes back to its exit
 * status.
 */
#include "config.h"

#include <json-c/json.h>

#include "api-error.h"
#include "json-util.h"

static const struct {
    int err;
    struct api_error_map map;
} api_errors[] = {
    { EINVAL, { 400, "invalid_argument" } },
    { ERANGE, { 400, "invalid_argument" } },
    { EBADMSG, { 503, "store_corrupt" } },   /* only the store says EBADMSG */
    { EACCES, { 401, "unauthenticated" } },
    { EPERM, { 403, "permission_denied" } },
    { ENOENT, { 404, "not_found" } },
    { EOPNOTSUPP, { 405, "method_not_allowed" } },
    { EEXIST, { 409, "conflict" } },
    { EBUSY, { 409, "conflict" } },
    { ESHUTDOWN, { 409, "conflict" } },
    { ESTALE, { 409, "conflict" } },
    { EFBIG, { 413, "payload_too_large" } },
    { EMEDIUMTYPE, { 415, "unsupported_media_type" } },
    { ENOSPC, { 507, "insufficient_storage" } },
    { EROFS, { 503, "unavailable" } },
    { EAGAIN, { 503, "unavailable" } },
    { ENOTCONN, { 503, "unavailable" } },
};

struct api_error_map
api_error_from_errno(int err)
{
    if (err < 0)
        err = -err;
    for (size_t i = 0; i < ELEMENTSOF(api_errors); i++)
        if (api_errors[i].err == err)
            return api_errors[i].map;
    return (struct api_error_map) { 500, "internal" };
}

char *
api_error_body(const char *code, const char *message)
{
    _cleanup_json_ json_object *root = json_object_new_object();
    json_object *e = json_object_new_object();

    json_add_string(e, "code", code);
    json_add_string(e, "message", message);
    json_object_object_add(root, "error", e);
    return json_to_string_dup(root);
}
