/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-metrics.c - /healthz, /metrics (Prometheus text format 0.0.4),
 * /v1/history and /v1/whoami
 *
 * Health answers 200 while libvirt can be observed, 503 otherwise, so a
 * load balancer or monitoring can tell. Metrics are computed at scrape
 * time from the store and the reconciler's counters; nothing is cached.
 * The history is the reconciler's in-memory ring (history.c): per minute
 * for the last six hours, what the dashboard draws. Whoami tells a
 * client (the dashboard) the role of its token.
 */
#include "config.h"

#include <stdio.h>

#include "api-priv.h"
#include "history.h"
#include "strv.h"
#include "util.h"

/* ok: desktops can be made and handed out. probing: the domain type is
 * still being probed (desktops wait; ready ones are handed out). degraded
 * (503): libvirt is disconnected, no domain type runs guests, or the store
 * is corrupt or full. */
int
api_healthz(struct api_request *req, struct api_reply *reply)
{
    struct api_deps *d = &req->api->deps;
    _cleanup_free_ char *virt_type = reconciler_get_virt_type(d->reconciler);
    _cleanup_(strv_freep) char **warnings = reconciler_get_warnings(d->reconciler);
    struct reconcile_stats st;
    json_object *o = json_object_new_object(), *w = json_object_new_array();
    bool connected, probe_failed;
    const char *status, *store;

    reconciler_get_stats(d->reconciler, &st);
    connected = st.libvirt_ok && hv_is_alive(d->hv);
    probe_failed = !virt_type && reconciler_probe_failed(d->reconciler);
    store = store_health(d->store);
    if (!connected || probe_failed || !streq(store, "ok"))
        status = "degraded";
    else if (!virt_type)
        status = "probing";
    else
        status = "ok";
    json_add_string(o, "status", status);
    json_add_string(o, "libvirt", connected ? "connected" : "disconnected");
    json_add_string(o, "store", store);
    json_add_string(o, "uri", d->uri);
    json_add_string(o, "virt_type", virt_type ? virt_type :
                                    probe_failed ? "unavailable" : "probing");
    json_add_string(o, "instance", d->instance);
    json_add_string(o, "version", PACKAGE_VERSION);
    json_add_int(o, "orphans", st.orphans);
    json_add_int(o, "reconnects", hv_reconnects(d->hv));
    for (size_t i = 0; warnings[i]; i++)
        json_object_array_add(w, json_object_new_string(warnings[i]));
    json_object_object_add(o, "warnings", w);
    if (!streq(status, "degraded"))
        return api_reply_json(reply, 200, o);
    reply->retry_after = 5;
    return api_reply_json(reply, 503, o);
}

int
api_metrics(struct api_request *req, struct api_reply *reply)
{
    struct api_deps *d = &req->api->deps;
    struct reconcile_stats st;
    struct pool **pools = NULL;
    struct desk **desks = NULL;
    size_t n_pools = 0, n_desks = 0, len = 0;
    char *buf = NULL;
    FILE *f;
    int r;

    r = store_pool_list(d->store, &pools, &n_pools);
    if (r >= 0)
        r = store_desk_list(d->store, NULL, &desks, &n_desks);
    if (r < 0) {
        pool_list_free(pools, n_pools);
        return api_reply_error(reply, r, "Cannot read the store.");
    }
    reconciler_get_stats(d->reconciler, &st);

    f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fputs("# HELP deskpool_desktops Desktops by pool and state.\n"
          "# TYPE deskpool_desktops gauge\n", f);
    for (size_t i = 0; i < n_pools; i++) {
        unsigned by_state[_DESK_STATE_MAX] = { 0 };

        for (size_t k = 0; k < n_desks; k++)
            if (streq(desks[k]->pool, pools[i]->name) && desks[k]->state >= 0)
                by_state[desks[k]->state]++;
        for (int s = 0; s < _DESK_STATE_MAX; s++)
            fprintf(f, "deskpool_desktops{pool=\"%s\",state=\"%s\"} %u\n", pools[i]->name,
                    desk_state_to_string((enum desk_state) s), by_state[s]);
    }
    {
        struct session **sess = NULL;
        size_t n_sess = 0;

        if (store_session_list(d->store, NULL, NULL, SESSION_STATE_ACTIVE, &sess, &n_sess) >= 0) {
            fputs("# HELP deskpool_sessions_active Active sessions by pool.\n"
                  "# TYPE deskpool_sessions_active gauge\n", f);
            for (size_t i = 0; i < n_pools; i++) {
                unsigned k = 0;

                for (size_t j = 0; j < n_sess; j++)
                    k += streq(sess[j]->pool, pools[i]->name);
                fprintf(f, "deskpool_sessions_active{pool=\"%s\"} %u\n", pools[i]->name, k);
            }
            session_list_free(sess, n_sess);
        }
    }
    {
        struct op **ops = NULL;
        size_t n_ops = 0;

        if (store_op_list(d->store, NULL, true, &ops, &n_ops) >= 0) {
            fputs("# HELP deskpool_operation_progress Running operations: desktops done "
                  "of total.\n# TYPE deskpool_operation_progress gauge\n", f);
            for (size_t i = 0; i < n_ops; i++)
                fprintf(f, "deskpool_operation_progress{pool=\"%s\",kind=\"%s\",to=\"%u\"} "
                           "%.3f\n", ops[i]->pool, op_kind_to_string(ops[i]->kind),
                        ops[i]->to_version,
                        ops[i]->total ? (double) ops[i]->done / ops[i]->total : 0.0);
            op_list_free(ops, n_ops);
        }
    }
    {
        struct parent **parents = NULL;
        size_t n_par = 0;

        if (store_parent_list(d->store, &parents, &n_par) >= 0) {
            fputs("# HELP deskpool_parents Parents of instant clones by state.\n"
                  "# TYPE deskpool_parents gauge\n", f);
            for (int s = 0; s < _PARENT_STATE_MAX; s++) {
                unsigned k = 0;

                for (size_t j = 0; j < n_par; j++)
                    k += parents[j]->state == (enum parent_state) s;
                fprintf(f, "deskpool_parents{state=\"%s\"} %u\n",
                        parent_state_to_string((enum parent_state) s), k);
            }
            fputs("# HELP deskpool_parent_saved_bytes Size of each parent's saved memory "
                  "state.\n# TYPE deskpool_parent_saved_bytes gauge\n", f);
            for (size_t j = 0; j < n_par; j++)
                fprintf(f, "deskpool_parent_saved_bytes{parent=\"%s\"} %" PRIu64 "\n",
                        parents[j]->name, parents[j]->saved_bytes);
            parent_list_free(parents, n_par);
        }
    }
    fputs("# HELP deskpool_pool_current_version The image version a pool's desktops run.\n"
          "# TYPE deskpool_pool_current_version gauge\n", f);
    for (size_t i = 0; i < n_pools; i++)
        fprintf(f, "deskpool_pool_current_version{pool=\"%s\"} %u\n", pools[i]->name,
                pools[i]->current_version);
    fputs("# HELP deskpool_pool_size Pool size bounds as configured.\n"
          "# TYPE deskpool_pool_size gauge\n", f);
    for (size_t i = 0; i < n_pools; i++)
        fprintf(f, "deskpool_pool_size{pool=\"%s\",bound=\"min\"} %u\n"
                   "deskpool_pool_size{pool=\"%s\",bound=\"spare\"} %u\n"
                   "deskpool_pool_size{pool=\"%s\",bound=\"max\"} %u\n",
                pools[i]->name, pools[i]->min, pools[i]->name, pools[i]->spare,
                pools[i]->name, pools[i]->max);
    fprintf(f, "# HELP deskpool_reconcile_passes_total Reconcile passes run.\n"
               "# TYPE deskpool_reconcile_passes_total counter\n"
               "deskpool_reconcile_passes_total %llu\n"
               "# HELP deskpool_reconcile_last_pass_seconds Duration of the last pass.\n"
               "# TYPE deskpool_reconcile_last_pass_seconds gauge\n"
               "deskpool_reconcile_last_pass_seconds %.6f\n"
               "# HELP deskpool_reconcile_max_pass_seconds Longest pass since start.\n"
               "# TYPE deskpool_reconcile_max_pass_seconds gauge\n"
               "deskpool_reconcile_max_pass_seconds %.6f\n",
            (unsigned long long) st.passes, st.last_pass_seconds, st.max_pass_seconds);
    fputs("# HELP deskpool_actions_total Actions started, by kind.\n"
          "# TYPE deskpool_actions_total counter\n", f);
    for (int k = 0; k < _ACTION_KIND_MAX; k++)
        fprintf(f, "deskpool_actions_total{action=\"%s\"} %llu\n",
                action_kind_to_string((enum action_kind) k), (unsigned long long) st.actions[k]);
    fputs("# HELP deskpool_action_failures_total Actions that failed, by kind.\n"
          "# TYPE deskpool_action_failures_total counter\n", f);
    for (int k = 0; k < _ACTION_KIND_MAX; k++)
        fprintf(f, "deskpool_action_failures_total{action=\"%s\"} %llu\n",
                action_kind_to_string((enum action_kind) k),
                (unsigned long long) st.failures[k]);
    fprintf(f, "# HELP deskpool_worker_jobs Worker jobs running and queued.\n"
               "# TYPE deskpool_worker_jobs gauge\n"
               "deskpool_worker_jobs{state=\"running\"} %u\n"
               "deskpool_worker_jobs{state=\"queued\"} %u\n"
               "# HELP deskpool_orphans Domains and volumes of this instance no desktop names.\n"
               "# TYPE deskpool_orphans gauge\n"
               "deskpool_orphans %u\n"
               "# HELP deskpool_orphans_removed_total Orphans removed by --purge-orphans.\n"
               "# TYPE deskpool_orphans_removed_total counter\n"
               "deskpool_orphans_removed_total %llu\n"
               "# HELP deskpool_libvirt_up Whether the last pass could observe libvirt.\n"
               "# TYPE deskpool_libvirt_up gauge\n"
               "deskpool_libvirt_up %d\n",
            st.running, st.queued, st.orphans, (unsigned long long) st.orphans_removed,
            st.libvirt_ok ? 1 : 0);
    {
        size_t n_views = 0;
        struct host_view *views = hosts_list(reconciler_get_hosts(d->reconciler), &n_views);

        fprintf(f, "# HELP deskpool_libvirt_events_total Lifecycle events received, by host.\n"
                   "# TYPE deskpool_libvirt_events_total counter\n");
        for (size_t i = 0; i < n_views; i++)
            fprintf(f, "deskpool_libvirt_events_total{host=\"%s\"} %llu\n", views[i].name,
                    (unsigned long long) views[i].watch.events);
        fprintf(f, "# HELP deskpool_libvirt_listings_total Domain listings of a host: full, "
                   "or answered from its events (watched).\n"
                   "# TYPE deskpool_libvirt_listings_total counter\n");
        for (size_t i = 0; i < n_views; i++)
            fprintf(f, "deskpool_libvirt_listings_total{host=\"%s\",kind=\"full\"} %llu\n"
                       "deskpool_libvirt_listings_total{host=\"%s\",kind=\"watched\"} %llu\n",
                    views[i].name, (unsigned long long) views[i].watch.full, views[i].name,
                    (unsigned long long) views[i].watch.cached);
        fprintf(f, "# HELP deskpool_libvirt_rereads_total Domains read again after an event "
                   "or a change of deskpool's.\n"
                   "# TYPE deskpool_libvirt_rereads_total counter\n");
        for (size_t i = 0; i < n_views; i++)
            fprintf(f, "deskpool_libvirt_rereads_total{host=\"%s\"} %llu\n", views[i].name,
                    (unsigned long long) views[i].watch.rereads);
        host_view_list_free(views, n_views);
    }
    fclose(f);
    pool_list_free(pools, n_pools);
    desk_list_free(desks, n_desks);
    reply->status = 200;
    reply->body = buf;
    reply->content_type = "text/plain; version=0.0.4";
    return 0;
}

/* A latency in ms with 0.1 ms shown: json-c would print 17 digits. */
static json_object *
history_ms(double ms)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%.1f", ms);
    return json_object_new_double_s(ms, buf);
}

int
api_history(struct api_request *req, struct api_reply *reply)
{
    struct history *h = reconciler_get_history(req->api->deps.reconciler);
    _cleanup_(history_snapshot_done) struct history_snapshot s = { 0 };
    json_object *o = json_object_new_object(), *arr = json_object_new_array();

    history_snapshot(h, (int64_t) (now_realtime_usec() / 1000000ULL), &s);
    json_add_int(o, "interval", HISTORY_INTERVAL_SEC);
    json_add_int(o, "max_samples", HISTORY_SLOTS);
    json_add_int(o, "max_pools", HISTORY_MAX_POOLS);
    json_add_int(o, "pools_left_out", history_dropped_pools(h));
    for (size_t i = 0; i < s.n; i++) {
        const struct history_sample *x = &s.samples[i];
        json_object *j = json_object_new_object(), *pools = json_object_new_object();

        json_add_time(j, "at", x->at);
        json_add_int(j, "acquires", x->acquires);
        json_add_int(j, "acquire_failures", x->acquire_failures);
        if (x->has_latency) {
            json_object *l = json_object_new_object();

            json_object_object_add(l, "p50", history_ms(x->p50_ms));
            json_object_object_add(l, "p99", history_ms(x->p99_ms));
            json_object_object_add(l, "max", history_ms(x->max_ms));
            json_object_object_add(j, "latency_ms", l);
        } else {
            json_object_object_add(j, "latency_ms", NULL);
        }
        for (size_t k = 0; k < HISTORY_MAX_POOLS; k++) {
            json_object *p;

            if (!(x->pools_present & (UINT64_C(1) << k)))
                continue;
            p = json_object_new_object();
            json_add_int(p, "ready", x->ready[k]);
            json_add_int(p, "in_use", x->in_use[k]);
            json_object_object_add(pools, s.names[k], p);
        }
        json_object_object_add(j, "pools", pools);
        json_object_array_add(arr, j);
    }
    json_object_object_add(o, "samples", arr);
    return api_reply_json(reply, 200, o);
}

int
api_whoami(struct api_request *req, struct api_reply *reply)
{
    json_object *o = json_object_new_object();

    json_add_string(o, "role", api_actor(req));
    return api_reply_json(reply, 200, o);
}
