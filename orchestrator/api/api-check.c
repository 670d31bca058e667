/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-check.c - GET /v1/check: do the store and libvirt agree?
 *
 * Collects the desktop rows, the active sessions, this instance's domains
 * and volumes and the desktops an action holds, and asks check.c (pure)
 * which invariants are broken. 200 with "ok": true and no problems, or
 * "ok": false with one sentence per problem; 503 when libvirt cannot be
 * asked. Reads only.
 */
#include "config.h"

#include "api-priv.h"
#include "check.h"
#include "strv.h"
#include "util.h"

int
api_check(struct api_request *req, struct api_reply *reply)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_free_ char *prefix = desk_name_prefix(d->instance);
    _cleanup_free_ struct check_domain *cd = NULL;
    _cleanup_(strv_freep) char **problems = NULL, **busy = NULL;
    struct hv_domain *doms = NULL;
    struct desk **desks = NULL;
    struct session **sess = NULL;
    struct parent **parents = NULL;
    char **vols = NULL;
    size_t n_doms = 0, n_desks = 0, n_sess = 0, n_vols = 0, n_busy = 0, n_parents = 0;
    json_object *o, *arr;
    int r;

    /* the desktops an action holds first: one that finishes meanwhile is
     * then looked at in its new state, never in the middle of it */
    busy = reconciler_get_busy(d->reconciler, &n_busy);
    r = hv_domain_list(d->hv, prefix, &doms, &n_doms);
    if (r >= 0)
        r = hv_volume_list(d->hv, d->storage_pool, prefix, &vols, &n_vols);
    if (r < 0) {
        hv_domain_list_free(doms, n_doms);
        return api_reply_errorf(reply, r == -ENOTCONN ? r : -EAGAIN,
                                "Cannot ask libvirt at '%s' what it holds.", d->uri);
    }
    r = store_parent_list(d->store, &parents, &n_parents);
    if (r >= 0)
        r = store_desk_list(d->store, NULL, &desks, &n_desks);
    if (r >= 0)
        r = store_session_list(d->store, NULL, NULL, SESSION_STATE_ACTIVE, &sess, &n_sess);
    if (r < 0) {
        hv_domain_list_free(doms, n_doms);
        strv_free_n(vols, n_vols);
        desk_list_free(desks, n_desks);
        parent_list_free(parents, n_parents);
        return api_reply_error(reply, r, "Cannot read the state store.");
    }
    cd = xmalloc0(sizeof(*cd) * (n_doms + 1));
    for (size_t i = 0; i < n_doms; i++)
        cd[i] = (struct check_domain) { .name = doms[i].name, .active = doms[i].active };
    {
        struct check_input in = {
            .desks = desks, .n_desks = n_desks, .sessions = sess, .n_sessions = n_sess,
            .domains = cd, .n_domains = n_doms, .volumes = vols, .n_volumes = n_vols,
            .busy = busy, .n_busy = n_busy, .parents = parents, .n_parents = n_parents,
        };

        problems = check_consistency(&in);
    }
    o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(!problems[0]));
    arr = json_object_new_array();
    for (size_t i = 0; problems[i]; i++)
        json_object_array_add(arr, json_object_new_string(problems[i]));
    json_object_object_add(o, "problems", arr);
    json_add_int(o, "desktops", (int64_t) n_desks);
    json_add_int(o, "sessions", (int64_t) n_sess);
    json_add_int(o, "domains", (int64_t) n_doms);
    json_add_int(o, "volumes", (int64_t) n_vols);
    json_add_int(o, "busy", (int64_t) n_busy);
    hv_domain_list_free(doms, n_doms);
    strv_free_n(vols, n_vols);
    desk_list_free(desks, n_desks);
    session_list_free(sess, n_sess);
    parent_list_free(parents, n_parents);
    return api_reply_json(reply, 200, o);
}
