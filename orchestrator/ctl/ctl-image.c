/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-image.c - deskpoolctl image commands: add, publish, list, show, versions,
 * retire. See ctl.h. */
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

/* ---- images ------------------------------------------------------------- */

/* FILE as an absolute path: realpath() when it exists, else made absolute
 * against the working directory so the server names the missing file. */
static char *
absolute_path(const char *file)
{
    _cleanup_free_ char *cwd = NULL;
    char *p;

    p = realpath(file, NULL);
    if (p)
        return p;
    if (file[0] == '/')
        return xstrdup(file);
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return xstrdup(file);
    return xasprintf("%s/%s", cwd, file);
}

/* POST /v1/images for image add and image publish; "Image 'NAME' version
 * N WHAT: ..." on success. Returns 0 or a negative errno (reported). */
static int
image_add(char **args, const char *what)
{
    _cleanup_(ctl_json_putp) struct json_object *body = NULL;
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *size = NULL;
    int r;

    r = check_name("image", args[0]);
    if (r < 0)
        return r;
    path = absolute_path(args[1]);

    body = json_object_new_object();
    json_object_object_add(body, "name", json_object_new_string(args[0]));
    json_object_object_add(body, "path", json_object_new_string(path));
    if (arg_note)
        json_object_object_add(body, "note", json_object_new_string(arg_note));

    r = call_show("POST", "/v1/images", body, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    size = ctl_format_bytes((uint64_t) jint(doc, "size"));
    printf("Image '%s' version %" PRId64 " %s: %s, sha256 %s.\n", strempty(jstr(doc, "name")),
           jint(doc, "version"), what, size, strempty(jstr(doc, "sha256")));
    return 0;
}

int
verb_image_add(char **args, _unused_ size_t n_args)
{
    return image_add(args, "added");
}

int
verb_image_publish(char **args, _unused_ size_t n_args)
{
    return image_add(args, "published");
}

static void
image_row(struct ctl_table *t, struct json_object *v, bool with_name)
{
    _cleanup_free_ char *size = ctl_format_bytes((uint64_t) jint(v, "size"));
    const char *sha = jstr(v, "sha256");

    if (with_name)
        ctl_table_add(t, jstr(v, "name"));
    ctl_table_addf(t, "%" PRId64, jint(v, "version"));
    ctl_table_add(t, size);
    ctl_table_addf(t, "%.12s", strempty(sha));
    ctl_table_add(t, jstr(v, "created_at"));
}

int
verb_image_list(_unused_ char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    struct json_object *images;
    int r;

    r = call_show("GET", "/v1/images", NULL, &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    images = jget(doc, "images");
    t = ctl_table_new("NAME", "VERSION", "SIZE", "SHA256", "CREATED", NULL);
    for (size_t i = 0; i < jarray_len(images); i++)
        image_row(t, json_object_array_get_idx(images, i), true);
    return ctl_table_print(t, stdout);
}

/* GET /v1/images/NAME for a command that shows it: as call_show(). */
static int
image_show_get(const char *name, struct json_object **ret_doc)
{
    _cleanup_free_ char *path = NULL;
    int r;

    r = check_name("image", name);
    if (r < 0)
        return r;
    path = image_path(name);
    return call_show("GET", path, NULL, ret_doc);
}

int
verb_image_show(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    struct json_object *versions;
    int r;

    r = image_show_get(args[0], &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    versions = jget(doc, "versions");
    printf("Image:    %s\n", strempty(jstr(doc, "name")));
    printf("Versions: %zu\n\n", jarray_len(versions));
    t = ctl_table_new("VERSION", "SIZE", "SHA256", "CREATED", "VIRTUAL-SIZE", "NOTE", "PATH",
                      NULL);
    for (size_t i = 0; i < jarray_len(versions); i++) {
        struct json_object *v = json_object_array_get_idx(versions, i);
        _cleanup_free_ char *vsize = ctl_format_bytes((uint64_t) jint(v, "virtual_size"));

        image_row(t, v, false);
        ctl_table_add(t, vsize);
        ctl_table_add(t, jstr(v, "note"));
        ctl_table_add(t, jstr(v, "path"));
    }
    r = ctl_table_print(t, stdout);
    print_parents(jget(doc, "parents"));
    return r;
}

int
verb_image_versions(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_(ctl_table_freep) struct ctl_table *t = NULL;
    struct json_object *versions;
    int r;

    r = image_show_get(args[0], &doc);
    if (r != 0)
        return r < 0 ? r : 0;
    versions = jget(doc, "versions");
    t = ctl_table_new("VERSION", "SIZE", "SHA256", "CREATED", "CREATED-BY", "RETIRED", "NOTE",
                      NULL);
    for (size_t i = 0; i < jarray_len(versions); i++) {
        struct json_object *v = json_object_array_get_idx(versions, i);

        image_row(t, v, false);
        ctl_table_add(t, jstr(v, "created_by"));
        ctl_table_add(t, jbool(v, "retired") ? "yes" : "no");
        ctl_table_add(t, jstr(v, "note"));
    }
    return ctl_table_print(t, stdout);
}

int
verb_image_retire(char **args, _unused_ size_t n_args)
{
    _cleanup_(ctl_json_putp) struct json_object *doc = NULL;
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *url = NULL;
    unsigned version;
    int r;

    r = check_name("image", args[0]);
    if (r < 0)
        return r;
    r = parse_version("image retire", args[1], false, &version);
    if (r < 0)
        return r;
    path = image_path(args[0]);
    url = xasprintf("%s/versions/v%u", path, version);
    r = call("DELETE", url, NULL, 0, NULL, &doc, &raw);
    if (r < 0)
        return r;
    if (arg_json)
        print_json_text(raw);
    else
        printf("Image '%s' version %u retired; its file is removed.\n", args[0], version);
    return 0;
}
