/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-parents.c - parents of instant clones as the API shows them: in
 * GET /v1/pools/NAME and GET /v1/images/NAME, with the disk they use */
#include "config.h"

#include <sys/stat.h>

#include "api-priv.h"
#include "util.h"

/* Bytes FILE takes on disk (allocated blocks), 0 when it cannot be read. */
static uint64_t
file_disk_bytes(const char *path)
{
    struct stat st;

    if (!path || stat(path, &st) < 0)
        return 0;
    return (uint64_t) st.st_blocks * 512;
}

json_object *
api_parent_to_json(const struct parent *p, struct desk **desks, size_t n_desks)
{
    json_object *o = json_object_new_object();
    unsigned clones = 0;

    for (size_t i = 0; i < n_desks; i++)
        clones += streq_ptr(desks[i]->parent, p->name);
    json_add_string(o, "name", p->name);
    json_add_string(o, "state", parent_state_to_string(p->state));
    json_add_string(o, "image", p->image);
    json_add_int(o, "image_version", p->image_version);
    json_add_string(o, "template", p->template);
    json_add_string(o, "domain", p->domain);
    json_add_int(o, "clones", clones);
    json_object_object_add(o, "saved_bytes", json_object_new_int64((int64_t) p->saved_bytes));
    json_object_object_add(o, "disk_bytes",
                           json_object_new_int64((int64_t) (file_disk_bytes(p->saved) +
                                                            file_disk_bytes(p->volume))));
    json_object_object_add(o, "boot_seconds", json_object_new_double(p->boot_ms / 1000.0));
    json_object_object_add(o, "save_seconds", json_object_new_double(p->save_ms / 1000.0));
    json_add_int(o, "failures", p->failures);
    json_add_string(o, "error", p->error);
    json_add_time(o, "created_at", p->created_at);
    json_add_time(o, "state_since", p->state_since);
    return o;
}

int
api_parents_json(struct store *s, const char *image, const char *template,
                 json_object **ret)
{
    struct parent **parents = NULL;
    struct desk **desks = NULL;
    size_t n = 0, n_desks = 0;
    json_object *arr;
    int r;

    r = store_parent_list(s, &parents, &n);
    if (r >= 0 && n > 0)
        r = store_desk_list(s, NULL, &desks, &n_desks);
    if (r < 0) {
        parent_list_free(parents, n);
        return r;
    }
    arr = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        if (streq(parents[i]->image, image) && (!template || streq(parents[i]->template, template)))
            json_object_array_add(arr, api_parent_to_json(parents[i], desks, n_desks));
    parent_list_free(parents, n);
    desk_list_free(desks, n_desks);
    *ret = arr;
    return 0;
}
