/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* capacity.c - how many more desktops fit on each host
 *
 * DESIGN
 *   One place turns what runs (desktop rows on each host) and what was
 *   measured (footprint.c) into placement's inputs: per host its memory
 *   (less reserve, times the overcommit ratio), the memory and vCPUs its
 *   desktops commit, their count and its limits; per pool what one more
 *   desktop takes on each host. The reconciler places new desktops with
 *   it, the API answers `host capacity` and admission control from it,
 *   so the three can never disagree.
 *
 *   Committed, not free, memory: a desktop that is still booting takes
 *   its footprint at once, so a burst of creates cannot overfill a host
 *   between two measurements, and the same inputs give the same answer.
 *
 *   Admission counts what other pools still lack: each other pool's
 *   shortfall is placed first (name order, the planner's), then the
 *   pool asked about. A pool create or resize whose min does not fit is
 *   refused with the numbers, unless the operator overcommits on
 *   purpose.
 */
#include "config.h"

#include <limits.h>

#include "capacity.h"
#include "log.h"
#include "pool.h"
#include "strv.h"
#include "tmpl.h"
#include "util.h"

/* The template's <memory> and <vcpu>: what a desktop may grow to. */
static void
template_size(const char *templates_dir, const char *template, uint64_t *ret_memory,
              unsigned *ret_vcpus)
{
    _cleanup_free_ char *path = xasprintf("%s/%s.xml", templates_dir, template);
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;

    *ret_memory = 0;
    *ret_vcpus = 1;
    if (tmpl_load_file(path, &t, NULL) >= 0)
        tmpl_get_size(t, ret_memory, ret_vcpus);
}

void
capacity_request(const char *templates_dir, const struct pool *p, unsigned vcpus_per_cpu,
                 struct placement_request *ret)
{
    uint64_t tmem;
    unsigned vcpus;

    template_size(templates_dir, p->template, &tmem, &vcpus);
    *ret = (struct placement_request) {
        .policy = p->placement,
        .labels = p->host_labels,
        .footprint = tmem,
        .vcpus = vcpus,
        .cpu_ratio = vcpus_per_cpu,
        .needs_local_qemu = pool_clone_effective(p) == POOL_CLONE_INSTANT,
    };
}

static ssize_t
pool_index(const struct capacity *cap, const char *name)
{
    for (size_t i = 0; i < cap->n_pools; i++)
        if (streq(cap->pools[i]->name, name))
            return (ssize_t) i;
    return -1;
}

void
capacity_compute(struct capacity *cap, const struct cluster *cl, struct desk *const *desks,
                 size_t n_desks, struct pool *const *pools, size_t n_pools,
                 const char *templates_dir, struct footprints *f, unsigned overcommit,
                 unsigned vcpus_per_cpu)
{
    size_t nh = cl->n, np = n_pools;
    unsigned *counted = xmalloc0(sizeof(*counted) * (np + 1));
    ssize_t last = -1;

    *cap = (struct capacity) {
        .n_hosts = nh, .n_pools = np, .cl = cl, .pools = pools,
        .ph = xmalloc0(sizeof(*cap->ph) * (nh + 1)),
        .req = xmalloc0(sizeof(*cap->req) * (np + 1)),
        .fp = xmalloc0(sizeof(*cap->fp) * (nh * np + 1)),
        .measured = xmalloc0(sizeof(*cap->measured) * (nh * np + 1)),
        .ksm_saved = xmalloc0(sizeof(*cap->ksm_saved) * (nh + 1)),
        .shortfall = xmalloc0(sizeof(*cap->shortfall) * (np + 1)),
    };
    for (size_t i = 0; i < nh; i++) {
        const struct cluster_host *h = &cl->h[i];
        uint64_t mem = h->view.node.memory, reserve = h->row->reserve_memory;
        uint64_t left = mem > reserve ? mem - reserve : 0;
        /* what is left after the reserve, scaled by the overcommit ratio */
        uint64_t usable = left / 100 * overcommit + left % 100 * overcommit / 100;

        cap->ph[i] = (struct placement_host) {
            .name = h->row->name,
            /* answering is enough: while its domain type is probed, desktops
             * placed there wait for the probe (the reconciler) */
            .reachable = h->observed,
            .draining = h->row->admin == HOST_ADMIN_DRAINING,
            .local_qemu = h->view.local_qemu,
            .labels = h->row->labels,
            .memory = mem > 0 ? reserve + usable : 0,
            .reserve = reserve,
            .max_desktops = h->row->max_desktops,
            .cpus = h->view.node.cpus,
        };
    }
    for (size_t p = 0; p < np; p++) {
        uint64_t tmem;

        capacity_request(templates_dir, pools[p], vcpus_per_cpu, &cap->req[p]);
        tmem = cap->req[p].footprint;
        for (size_t i = 0; i < nh; i++) {
            uint64_t m = f ? footprints_get(f, cl->h[i].row->name, pools[p]->template,
                                            &cap->ksm_saved[i]) : 0;

            cap->fp[p * nh + i] = m > 0 ? m : tmem;
            cap->measured[p * nh + i] = m > 0;
        }
    }
    for (size_t k = 0; k < n_desks; k++) {
        const struct desk *d = desks[k];
        const struct cluster_host *h = cluster_find(cl, d->host);
        size_t i;

        if (d->state == DESK_STATE_DELETING)
            continue;
        /* desktops come ordered by pool: remember the last one found */
        if (last < 0 || !streq(pools[last]->name, d->pool))
            last = pool_index(cap, d->pool);
        if (last >= 0 && d->state != DESK_STATE_FAILED)
            counted[last]++;
        if (!h || last < 0)
            continue;
        i = (size_t) (h - cl->h);
        cap->ph[i].desktops++;
        cap->ph[i].committed += cap->fp[(size_t) last * nh + i];
        cap->ph[i].vcpus += cap->req[last].vcpus;
    }
    for (size_t p = 0; p < np; p++) {
        unsigned target = pools[p]->deleting ? 0 : MAX(pools[p]->min, pools[p]->spare);

        cap->shortfall[p] = target > counted[p] ? target - counted[p] : 0;
    }
    free(counted);
}

void
capacity_done(struct capacity *cap)
{
    free(cap->ph);
    free(cap->req);
    free(cap->fp);
    free(cap->measured);
    free(cap->ksm_saved);
    free(cap->shortfall);
    *cap = (struct capacity) { 0 };
}

struct placement_host *
capacity_hosts_for(const struct capacity *cap, size_t p)
{
    struct placement_host *h = xmalloc0(sizeof(*h) * (cap->n_hosts + 1));

    for (size_t i = 0; i < cap->n_hosts; i++) {
        h[i] = cap->ph[i];
        h[i].footprint = p < cap->n_pools ? cap->fp[p * cap->n_hosts + i] : 0;
    }
    return h;
}

char *
capacity_describe(const struct placement_host *h, size_t n, const struct placement_request *req)
{
    _cleanup_(strv_freep) char **parts = xmalloc0(sizeof(char *) * (n + 1));

    for (size_t i = 0; i < n; i++) {
        enum placement_limit l;
        unsigned room = placement_room(&h[i], req, &l);

        parts[i] = room == UINT_MAX ? xasprintf("%s: no limit", h[i].name)
                                    : xasprintf("%s: %u (%s)", h[i].name, room,
                                                placement_limit_to_string(l));
    }
    return strv_join(parts, ',');
}

unsigned
capacity_room(const struct capacity *cap, size_t p, const struct placement_request *req,
              char **ret_detail)
{
    _cleanup_free_ struct placement_host *h = xmalloc0(sizeof(*h) * (cap->n_hosts + 1));
    size_t total = 0;
    bool unlimited = false;

    for (size_t i = 0; i < cap->n_hosts; i++)
        h[i] = cap->ph[i];
    /* every other pool gets what it lacks first */
    for (size_t q = 0; q < cap->n_pools; q++) {
        if (q == p || cap->shortfall[q] == 0)
            continue;
        for (size_t i = 0; i < cap->n_hosts; i++)
            h[i].footprint = cap->fp[q * cap->n_hosts + i];
        (void) placement_apply(h, cap->n_hosts, &cap->req[q], cap->shortfall[q], NULL);
    }
    if (p < cap->n_pools)
        req = &cap->req[p];
    for (size_t i = 0; i < cap->n_hosts; i++) {
        unsigned room;

        h[i].footprint = p < cap->n_pools ? cap->fp[p * cap->n_hosts + i] : 0;
        room = placement_room(&h[i], req, NULL);
        if (room == UINT_MAX)
            unlimited = true;
        else
            total += room;
    }
    if (ret_detail)
        *ret_detail = capacity_describe(h, cap->n_hosts, req);
    return unlimited ? UINT_MAX : (unsigned) MIN(total, (size_t) UINT_MAX - 1);
}
