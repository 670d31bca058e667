/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-hosts.c - /v1/hosts: the hypervisor hosts desktops are placed on
 *
 * Handlers validate input completely before they touch the store, write
 * the desired state in one store call, and wake the reconciler; they
 * never connect to a host themselves (hosts.c does, on its own thread).
 * A refused request changes nothing.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>

#include "api-priv.h"
#include "hosts.h"
#include "log.h"
#include "name.h"
#include "strv.h"
#include "util.h"

#define HOST_MAX_DESKTOPS_LIMIT 100000
#define HOST_DRAIN_WARN_MAX (7 * 86400)

/* The state an operator reads: what was decided, and what is seen. */
static const char *
host_state(const struct host *h, const struct host_view *v, unsigned grace, int64_t now)
{
    if (v->conn == HOST_CONN_DOWN)
        return now - v->since >= (int64_t) grace ? "lost" : "unknown";
    if (v->conn == HOST_CONN_CONNECTING)
        return "connecting";
    return h->admin == HOST_ADMIN_DRAINING ? "draining" : "up";
}

static json_object *
host_to_json(const struct host *h, const struct host_view *v, struct desk **desks,
             size_t n_desks, unsigned grace, const char *local_uri)
{
    json_object *o = json_object_new_object(), *counts = json_object_new_object();
    json_object *labels = json_object_new_array();
    unsigned by_state[_DESK_STATE_MAX] = { 0 }, total = 0;
    int64_t now = (int64_t) (now_realtime_usec() / 1000000ULL);

    json_add_string(o, "name", h->name);
    json_add_string(o, "uri", streq(h->name, HOST_LOCAL) ? local_uri : h->uri);
    json_add_string(o, "state", host_state(h, v, grace, now));
    json_add_string(o, "admin", host_admin_to_string(h->admin));
    json_add_string(o, "connection", host_conn_to_string(v->conn));
    json_add_time(o, "connection_since", v->since);
    json_add_string(o, "last_error", v->last_error);
    json_add_string(o, "virt_type", v->virt_type);
    json_add_string(o, "libvirt_version", v->node.libvirt_version);
    json_add_string(o, "hypervisor", v->node.hypervisor);
    json_add_string(o, "hostname", v->node.hostname);
    json_add_int(o, "memory", (int64_t) v->node.memory);
    json_add_int(o, "free_memory", (int64_t) v->node.free_memory);
    json_add_int(o, "cpus", v->node.cpus);
    json_add_int(o, "reconnects", v->reconnects);
    {
        json_object *w = json_object_new_object();

        json_add_int(w, "events", (int64_t) v->watch.events);
        json_add_int(w, "full_listings", (int64_t) v->watch.full);
        json_add_int(w, "watched_listings", (int64_t) v->watch.cached);
        json_add_int(w, "rereads", (int64_t) v->watch.rereads);
        json_object_object_add(o, "observation", w);
    }
    json_add_int(o, "max_desktops", h->max_desktops);
    json_add_int(o, "reserve_memory", (int64_t) h->reserve_memory);
    for (size_t i = 0; h->labels && h->labels[i]; i++)
        json_object_array_add(labels, json_object_new_string(h->labels[i]));
    json_object_object_add(o, "labels", labels);
    json_add_string(o, "storage_dir", h->storage_dir);
    json_add_string(o, "console_address", h->console_address);
    json_add_int(o, "drain_warn", h->drain_warn);
    json_add_time(o, "drain_since", h->drain_since);
    json_add_time(o, "created_at", h->created_at);
    for (size_t i = 0; i < n_desks; i++) {
        if (!streq(desks[i]->host, h->name))
            continue;
        total++;
        if (desks[i]->state >= 0 && desks[i]->state < _DESK_STATE_MAX)
            by_state[desks[i]->state]++;
    }
    json_add_int(counts, "total", total);
    for (int s = 0; s < _DESK_STATE_MAX; s++)
        json_add_int(counts, desk_state_to_string((enum desk_state) s), by_state[s]);
    json_object_object_add(o, "counts", counts);
    return o;
}

static void
view_of(struct api_request *req, const char *name, struct host_view *ret)
{
    struct hosts *hs = reconciler_get_hosts(req->api->deps.reconciler);

    if (hosts_get_view(hs, name, ret) < 0)
        /* added a moment ago: the reconciler has not started its connection */
        *ret = (struct host_view) { .name = xstrdup(name), .conn = HOST_CONN_CONNECTING,
                                    .since = (int64_t) (now_realtime_usec() / 1000000ULL) };
}

static int
reply_host(struct api_request *req, struct api_reply *reply, const char *name, unsigned status)
{
    struct store *s = req->api->deps.store;
    _cleanup_(host_freep) struct host *h = NULL;
    _cleanup_(host_view_done) struct host_view v = { 0 };
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    struct desk **desks = NULL;
    size_t n = 0;
    json_object *o;
    int r;

    r = store_host_get(s, name, &h);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No host '%s'.", name);
    if (r >= 0)
        r = store_desk_list(s, NULL, &desks, &n);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read the host from the store.");
    api_settings_get(req->api, &set);
    view_of(req, name, &v);
    o = host_to_json(h, &v, desks, n, set.host_lost_grace, req->api->deps.uri);
    desk_list_free(desks, n);
    return api_reply_json(reply, status, o);
}

int
api_hosts_list(struct api_request *req, struct api_reply *reply)
{
    struct store *s = req->api->deps.store;
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    struct host **hosts = NULL;
    struct desk **desks = NULL;
    size_t n_hosts = 0, n_desks = 0;
    json_object *o, *arr;
    int r;

    r = store_host_list(s, &hosts, &n_hosts);
    if (r >= 0)
        r = store_desk_list(s, NULL, &desks, &n_desks);
    if (r < 0) {
        host_list_free(hosts, n_hosts);
        return api_reply_error(reply, r, "Cannot read hosts from the store.");
    }
    api_settings_get(req->api, &set);
    arr = json_object_new_array();
    for (size_t i = 0; i < n_hosts; i++) {
        _cleanup_(host_view_done) struct host_view v = { 0 };

        view_of(req, hosts[i]->name, &v);
        json_object_array_add(arr, host_to_json(hosts[i], &v, desks, n_desks,
                                                set.host_lost_grace, req->api->deps.uri));
    }
    o = json_object_new_object();
    json_object_object_add(o, "hosts", arr);
    host_list_free(hosts, n_hosts);
    desk_list_free(desks, n_desks);
    return api_reply_json(reply, 200, o);
}

int
api_hosts_get(struct api_request *req, struct api_reply *reply)
{
    if (!name_is_valid(req->params[0]))
        return api_reply_errorf(reply, -ENOENT, "No host '%.64s'.", req->params[0]);
    return reply_host(req, reply, req->params[0], 200);
}

/* Fills REPLY with the error and returns ERR: for helpers that report. */
static int
reply_fail(struct api_reply *reply, int err, const char *msg)
{
    api_reply_error(reply, err, msg);
    return err;
}

/* Reads the optional limits of the body (max_desktops, reserve_memory,
 * labels) into H. Returns 0, or a negative errno with the reply filled. */
static int
get_limits(struct api_request *req, struct api_reply *reply, struct host *h)
{
    _cleanup_free_ char *err = NULL;
    json_object *v;
    int r;

    r = json_get_uint(req->body, "max_desktops", HOST_MAX_DESKTOPS_LIMIT, &h->max_desktops,
                      &err);
    if (r < 0 && r != -ENOENT)
        return reply_fail(reply, r, err);
    if (json_object_object_get_ex(req->body, "reserve_memory", &v)) {
        /* bytes, or a size with a unit: "4G" */
        const char *text = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                    : NULL;
        int64_t n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;

        if (text ? host_parse_size(text, &h->reserve_memory) < 0 : n < 0)
            return reply_fail(reply, -EINVAL, "Field 'reserve_memory' must be a number of "
                              "bytes or a size such as \"4G\" or \"512M\".");
        if (!text)
            h->reserve_memory = (uint64_t) n;
    }
    if (json_object_object_get_ex(req->body, "labels", &v)) {
        _cleanup_free_ char *joined = NULL;
        char **labels = NULL;

        if (json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            _cleanup_(strv_freep) char **parts = xmalloc0(sizeof(char *) * (n + 1));

            for (size_t i = 0; i < n && i < 64; i++) {
                json_object *e = json_object_array_get_idx(v, i);

                if (!json_object_is_type(e, json_type_string))
                    return reply_fail(reply, -EINVAL, "Field 'labels' must be an array of "
                                      "\"key=value\" strings.");
                parts[i] = xstrdup(json_object_get_string(e));
                if (strchr(parts[i], ','))
                    return reply_fail(reply, -EINVAL, "A label may not hold ','.");
            }
            joined = strv_join(parts, ',');
        } else if (json_object_is_type(v, json_type_string)) {
            joined = xstrdup(json_object_get_string(v));
        } else {
            return reply_fail(reply, -EINVAL, "Field 'labels' must be an array of "
                              "\"key=value\" strings.");
        }
        r = host_labels_parse(joined, &labels, &err);
        if (r < 0)
            return reply_fail(reply, r, err);
        strv_free(h->labels);
        h->labels = labels;
    }
    return 0;
}

int
api_hosts_add(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "name", "uri", "max_desktops", "reserve_memory",
                                          "labels", "storage_dir", "console_address", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_free_ char *err = NULL;
    const char *name = NULL, *uri = NULL, *dir = NULL, *console = NULL;
    struct host h = { 0 };
    int r;

    r = api_require_body(req, reply, fields);
    if (r < 0)
        return 0;
    r = json_get_string(req->body, "name", DP_NAME_MAX + 1, &name, &err);
    if (r >= 0)
        r = json_get_string(req->body, "uri", 1024, &uri, &err);
    if (r == -ENOENT)
        return api_reply_error(reply, -EINVAL, "Fields 'name' and 'uri' are required.");
    if (r < 0)
        return api_reply_error(reply, r, err);
    r = host_validate(name, uri, &err);
    if (r < 0)
        return api_reply_error(reply, r, err);
    r = json_get_string(req->body, "storage_dir", 4096, &dir, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    if (dir && (dir[0] != '/' || !text_is_safe(dir, 4096) || strpbrk(dir, "<>&'\"")))
        return api_reply_error(reply, -EINVAL, "Field 'storage_dir' must be an absolute path "
                               "without < > & ' \".");
    r = json_get_string(req->body, "console_address", 255, &console, &err);
    if (r < 0 && r != -ENOENT)
        return api_reply_error(reply, r, err);
    if (console && (!*console || strspn(console, "abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-") !=
                                     strlen(console)))
        return api_reply_error(reply, -EINVAL, "Field 'console_address' must be a host name or "
                               "an IP address.");
    if (streq(uri, req->api->deps.uri))
        return api_reply_errorf(reply, -EEXIST, "'%s' is deskpoold's own URI: it is host "
                                "'%s' already.", uri, HOST_LOCAL);
    if (get_limits(req, reply, &h) < 0) {
        strv_free(h.labels);
        return 0;
    }
    h.name = (char *) name;
    h.uri = (char *) uri;
    h.storage_dir = (char *) dir;
    h.console_address = (char *) console;
    r = store_host_add(s, &h);
    strv_free(h.labels);
    if (r == -EEXIST)
        return api_reply_errorf(reply, r, "A host named '%s' or with URI '%s' exists already.",
                                name, uri);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot store the host.");
    log_notice("Host '%s' added: %s", name, uri);
    (void) store_audit(s, api_actor(req), "host.added", NULL, NULL, NULL, name);
    reconciler_wake(req->api->deps.reconciler);
    return reply_host(req, reply, name, 201);
}

int
api_hosts_update(struct api_request *req, struct api_reply *reply)
{
    static const char *const fields[] = { "max_desktops", "reserve_memory", "labels", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_(host_freep) struct host *h = NULL;
    const char *name = req->params[0];
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No host '%.64s'.", name);
    r = api_require_body(req, reply, fields);
    if (r < 0)
        return 0;
    r = store_host_get(s, name, &h);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No host '%s'.", name);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read the host from the store.");
    if (get_limits(req, reply, h) < 0)
        return 0;
    r = store_host_update(s, h);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot change host '%s'.", name);
    log_notice("Host '%s' changed: max_desktops %u, reserve_memory %" PRIu64 " bytes", name,
               h->max_desktops, h->reserve_memory);
    (void) store_audit(s, api_actor(req), "host.changed", NULL, NULL, NULL, name);
    reconciler_wake(req->api->deps.reconciler);
    return reply_host(req, reply, name, 200);
}

static int
set_admin(struct api_request *req, struct api_reply *reply, enum host_admin admin)
{
    static const char *const fields[] = { "warn", NULL };
    struct store *s = req->api->deps.store;
    _cleanup_free_ char *err = NULL;
    const char *name = req->params[0];
    unsigned warn = 0;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No host '%.64s'.", name);
    if (req->body) {
        r = api_require_body(req, reply, admin == HOST_ADMIN_DRAINING ? fields : fields + 1);
        if (r < 0)
            return 0;
        r = json_get_uint(req->body, "warn", HOST_DRAIN_WARN_MAX, &warn, &err);
        if (r < 0 && r != -ENOENT)
            return api_reply_error(reply, r, err);
    }
    r = store_host_set_admin(s, name, admin, warn);
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No host '%s'.", name);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot change host '%s'.", name);
    if (admin == HOST_ADMIN_DRAINING)
        log_notice("Host '%s' drains: no new desktops, its spares are made elsewhere, in-use "
                   "desktops %s", name, warn ? "are logged off after the warning" :
                   "stay until their users log off");
    else
        log_notice("Host '%s' takes desktops again", name);
    (void) store_audit(s, api_actor(req), admin == HOST_ADMIN_DRAINING ? "host.drain"
                                                                         : "host.undrain",
                       NULL, NULL, NULL, name);
    reconciler_wake(req->api->deps.reconciler);
    return reply_host(req, reply, name, 200);
}

int
api_hosts_drain(struct api_request *req, struct api_reply *reply)
{
    return set_admin(req, reply, HOST_ADMIN_DRAINING);
}

int
api_hosts_undrain(struct api_request *req, struct api_reply *reply)
{
    return set_admin(req, reply, HOST_ADMIN_ACTIVE);
}

int
api_hosts_remove(struct api_request *req, struct api_reply *reply)
{
    struct store *s = req->api->deps.store;
    const char *name = req->params[0];
    unsigned n = 0;
    int r;

    if (!name_is_valid(name))
        return api_reply_errorf(reply, -ENOENT, "No host '%.64s'.", name);
    r = store_host_remove(s, name);
    if (r == -EPERM)
        return api_reply_errorf(reply, -EBUSY, "Host '%s' is deskpoold's own URI and cannot "
                                "be removed; drain it to keep desktops off it.", name);
    if (r == -EBUSY) {
        (void) store_host_count_desks(s, name, &n);
        return api_reply_errorf(reply, r, "Host '%s' still has %u desktop(s); drain it and "
                                "wait until they are gone.", name, n);
    }
    if (r == -ENOENT)
        return api_reply_errorf(reply, r, "No host '%s'.", name);
    if (r < 0)
        return api_reply_errorf(reply, r, "Cannot remove host '%s'.", name);
    log_notice("Host '%s' removed", name);
    (void) store_audit(s, api_actor(req), "host.removed", NULL, NULL, NULL, name);
    reconciler_wake(req->api->deps.reconciler);
    {
        json_object *o = json_object_new_object();

        json_add_string(o, "name", name);
        json_add_string(o, "state", "removed");
        return api_reply_json(reply, 200, o);
    }
}

/* --- capacity: how many more desktops fit, and admission control --- */

int
api_capacity_load(struct api_request *req, struct api_capacity *ret)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_(api_settings_done) struct api_settings set = { 0 };
    unsigned overcommit, grace;
    int r;

    *ret = (struct api_capacity) { 0 };
    reconciler_get_placement_settings(d->reconciler, &overcommit, &ret->vcpus_per_cpu, &grace);
    api_settings_get(req->api, &set);
    ret->templates_dir = xstrdup(set.templates_dir);
    r = cluster_view(&ret->cl, reconciler_get_hosts(d->reconciler), d->store, d->hv, grace);
    if (r >= 0)
        r = store_pool_list(d->store, &ret->pools, &ret->n_pools);
    if (r >= 0)
        r = store_desk_list(d->store, NULL, &ret->desks, &ret->n_desks);
    if (r < 0) {
        api_capacity_done(ret);
        return r;
    }
    capacity_compute(&ret->cap, &ret->cl, ret->desks, ret->n_desks, ret->pools, ret->n_pools,
                     ret->templates_dir, reconciler_get_footprints(d->reconciler), overcommit,
                     ret->vcpus_per_cpu);
    return 0;
}

void
api_capacity_done(struct api_capacity *c)
{
    capacity_done(&c->cap);
    cluster_done(&c->cl);
    pool_list_free(c->pools, c->n_pools);
    desk_list_free(c->desks, c->n_desks);
    free(c->templates_dir);
    *c = (struct api_capacity) { 0 };
}

static void
add_fits(json_object *o, unsigned fits)
{
    if (fits == UINT_MAX)
        json_object_object_add(o, "fits", NULL);
    else
        json_add_int(o, "fits", fits);
}

int
api_capacity(struct api_request *req, struct api_reply *reply)
{
    _cleanup_(api_capacity_done) struct api_capacity c = { 0 };
    const char *only = api_query(req, "pool");
    json_object *o, *hosts, *pools;
    bool found = !only;
    int r;

    if (only && !name_is_valid(only))
        return api_reply_errorf(reply, -ENOENT, "No pool '%.64s'.", only);
    r = api_capacity_load(req, &c);
    if (r < 0)
        return api_reply_error(reply, r, "Cannot read hosts, pools and desktops.");
    hosts = json_object_new_array();
    for (size_t i = 0; i < c.cap.n_hosts; i++) {
        const struct placement_host *ph = &c.cap.ph[i];
        const struct cluster_host *h = &c.cl.h[i];
        json_object *e = json_object_new_object(), *per = json_object_new_array();

        json_add_string(e, "name", ph->name);
        json_add_string(e, "state", !ph->reachable ? "unreachable"
                                    : ph->draining ? "draining" : "up");
        json_add_int(e, "memory", (int64_t) h->view.node.memory);
        json_add_int(e, "reserve_memory", (int64_t) ph->reserve);
        json_add_int(e, "usable_memory", (int64_t) (ph->memory > ph->reserve
                                                        ? ph->memory - ph->reserve : 0));
        json_add_int(e, "committed_memory", (int64_t) ph->committed);
        json_add_int(e, "desktops", ph->desktops);
        json_add_int(e, "max_desktops", ph->max_desktops);
        json_add_int(e, "cpus", ph->cpus);
        json_add_int(e, "vcpus", ph->vcpus);
        json_add_int(e, "ksm_saved", (int64_t) c.cap.ksm_saved[i]);
        for (size_t p = 0; p < c.cap.n_pools; p++) {
            json_object *x;
            struct placement_host one = *ph;
            enum placement_limit l;
            unsigned fits;

            if (only && !streq(only, c.pools[p]->name))
                continue;
            x = json_object_new_object();
            one.footprint = c.cap.fp[p * c.cap.n_hosts + i];
            fits = placement_room(&one, &c.cap.req[p], &l);
            json_add_string(x, "pool", c.pools[p]->name);
            json_add_string(x, "template", c.pools[p]->template);
            json_add_int(x, "footprint", (int64_t) one.footprint);
            json_add_string(x, "footprint_source",
                            c.cap.measured[p * c.cap.n_hosts + i] ? "measured" : "template");
            add_fits(x, fits);
            json_add_string(x, "limit", placement_limit_to_string(l));
            json_object_array_add(per, x);
        }
        json_object_object_add(e, "pools", per);
        json_object_array_add(hosts, e);
    }
    pools = json_object_new_array();
    for (size_t p = 0; p < c.cap.n_pools; p++) {
        json_object *x;
        unsigned n = 0;

        if (only && !streq(only, c.pools[p]->name))
            continue;
        found = true;
        x = json_object_new_object();
        for (size_t k = 0; k < c.n_desks; k++)
            n += streq(c.desks[k]->pool, c.pools[p]->name);
        json_add_string(x, "pool", c.pools[p]->name);
        add_fits(x, capacity_room(&c.cap, p, NULL, NULL));
        json_add_int(x, "desktops", n);
        json_add_int(x, "min", c.pools[p]->min);
        json_add_int(x, "max", c.pools[p]->max);
        json_object_array_add(pools, x);
    }
    if (!found) {
        json_object_put(hosts);
        json_object_put(pools);
        return api_reply_errorf(reply, -ENOENT, "No pool '%s'.", only);
    }
    o = json_object_new_object();
    json_object_object_add(o, "hosts", hosts);
    json_object_object_add(o, "pools", pools);
    return api_reply_json(reply, 200, o);
}

int
api_admit(struct api_request *req, struct api_reply *reply, const struct pool *p, bool is_new)
{
    _cleanup_(api_capacity_done) struct api_capacity c = { 0 };
    _cleanup_free_ char *detail = NULL;
    struct placement_request want;
    size_t pi = SIZE_MAX;
    unsigned have = 0, need, room;
    int r;

    r = api_capacity_load(req, &c);
    if (r < 0)
        return reply_fail(reply, r, "Cannot read hosts, pools and desktops to check capacity.");
    for (size_t i = 0; i < c.n_pools && !is_new; i++)
        if (streq(c.pools[i]->name, p->name))
            pi = i;
    if (pi == SIZE_MAX) {
        pi = c.cap.n_pools; /* not created yet */
        capacity_request(c.templates_dir, p, c.vcpus_per_cpu, &want);
    }
    for (size_t k = 0; k < c.n_desks; k++)
        if (streq(c.desks[k]->pool, p->name) && c.desks[k]->state != DESK_STATE_FAILED &&
            c.desks[k]->state != DESK_STATE_DELETING)
            have++;
    need = p->min > have ? p->min - have : 0;
    if (need == 0)
        return 0;
    room = capacity_room(&c.cap, pi, &want, &detail);
    if (room >= need)
        return 0;
    {
        _cleanup_free_ char *msg = xasprintf(
            "Pool '%s' needs %u more desktop(s) for its min of %u, but the hosts have room "
            "for %u once the other pools have theirs (%s). Add or free a host, or ask again "
            "with overcommit.", p->name, need, p->min, room, strempty(detail));

        api_reply_error_code(reply, -EEXIST, "insufficient_capacity", msg);
    }
    return -ENOSPC;
}
