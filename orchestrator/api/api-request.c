/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-request.c - checking request bodies that come from the broker
 *
 * Pure parsing of untrusted input into checked structs, apart from the
 * handlers so that a fuzzer (tests/fuzz/) can drive it without a store,
 * libvirt or HTTP: JSON through json-util.c, names through pool.c's rules.
 * No logging, no I/O.
 */
#include "config.h"

#include "api-request.h"
#include "json-util.h"
#include "pool.h"
#include "name.h"
#include "util.h"

void
api_acquire_req_done(struct api_acquire_req *q)
{
    free(q->user);
    free(q->client);
    strv_free(q->groups);
    *q = (struct api_acquire_req) { 0 };
}

int
api_acquire_req_parse(const char *body, size_t len, struct api_acquire_req *ret,
                      char **reterr_msg)
{
    static const char *const fields[] = { "user", "groups", "client", NULL };
    _cleanup_json_ json_object *o = NULL;
    struct api_acquire_req q = { 0 };
    const char *user = NULL, *client = NULL;
    json_object *g;
    int r;

    r = json_parse_object(body, len, &o, reterr_msg);
    if (r < 0)
        return r;
    r = json_check_fields(o, fields, reterr_msg);
    if (r < 0)
        return r;
    r = json_get_string(o, "user", PRINCIPAL_NAME_MAX + 1, &user, reterr_msg);
    if (r == -ENOENT) {
        *reterr_msg = xstrdup("Field 'user' is required.");
        return -EINVAL;
    }
    if (r < 0)
        return r;
    if (!principal_name_is_valid(user)) {
        *reterr_msg = xasprintf("User name '%s' is not valid: use 1-64 of [A-Za-z0-9._@-], "
                                "starting with a letter or digit.", user);
        return -EINVAL;
    }
    r = json_get_string(o, "client", 256, &client, reterr_msg);
    if (r < 0 && r != -ENOENT)
        return r;
    if (json_object_object_get_ex(o, "groups", &g)) {
        size_t n;

        if (!json_object_is_type(g, json_type_array)) {
            *reterr_msg = xstrdup("Field 'groups' must be an array of group names.");
            return -EINVAL;
        }
        n = json_object_array_length(g);
        if (n > POOL_MAX_GROUPS) {
            *reterr_msg = xasprintf("Field 'groups' has more than %d names.", POOL_MAX_GROUPS);
            return -EINVAL;
        }
        q.groups = xmalloc0(sizeof(char *) * (n + 1));
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(g, i);
            const char *name = json_object_is_type(e, json_type_string)
                                   ? json_object_get_string(e) : NULL;

            /* a "\u0000" inside would make the C string shorter than the JSON one */
            if (name && strlen(name) != (size_t) json_object_get_string_len(e))
                name = NULL;
            if (!principal_name_is_valid(name)) {
                api_acquire_req_done(&q);
                *reterr_msg = xstrdup("Field 'groups' holds a name that is not valid: use "
                                      "1-64 of [A-Za-z0-9._@-].");
                return -EINVAL;
            }
            q.groups[q.n_groups++] = xstrdup(name);
        }
    } else {
        q.groups = xmalloc0(sizeof(char *));
    }
    q.user = xstrdup(user);
    q.client = xstrdup(client);
    *ret = q;
    return 0;
}

