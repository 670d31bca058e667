/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placement.c - which host a new desktop goes to
 *
 * DESIGN
 *   A pure function beside the planner: the planner says how many desktops
 *   a pool needs, placement says where each goes. No I/O, no clock, no
 *   logging (tests/unit/test-placement.c).
 *
 *   A host has room for a desktop when it is reachable, not draining, has
 *   every label the pool requires, can run the pool's clone method, and
 *   none of its limits is passed: memory (its physical memory less its
 *   reserve, against the footprints of the desktops on it: committed
 *   memory, as oVirt's scheduler counts it, so a desktop that boots
 *   slowly is counted before its QEMU grows), max_desktops and the vCPU
 *   overcommit ratio. Committed memory rather than the host's free memory
 *   keeps the answer exact and the same from one pass to the next; the
 *   footprints are measured (capacity), so sharing (KSM) is counted.
 *
 *   spread: the host with the most memory left after the desktop;
 *   pack: the host with the least that still fits. Ties: fewer desktops,
 *   then the order given (the reconciler gives hosts by name).
 */
#include "config.h"

#include <limits.h>

#include "host.h"
#include "placement.h"
#include "util.h"

static const char *const placement_policy_names[_PLACEMENT_POLICY_MAX] = {
    [PLACEMENT_SPREAD] = "spread",
    [PLACEMENT_PACK] = "pack",
};

static const char *const placement_limit_names[_PLACEMENT_LIMIT_MAX] = {
    [PLACEMENT_LIMIT_NONE] = "none",
    [PLACEMENT_LIMIT_MEMORY] = "memory",
    [PLACEMENT_LIMIT_MAX_DESKTOPS] = "max_desktops",
    [PLACEMENT_LIMIT_CPU] = "cpu",
    [PLACEMENT_LIMIT_DRAINING] = "draining",
    [PLACEMENT_LIMIT_UNREACHABLE] = "unreachable",
    [PLACEMENT_LIMIT_LABELS] = "labels",
    [PLACEMENT_LIMIT_DRIVER] = "driver",
};

const char *
placement_policy_to_string(enum placement_policy p)
{
    if (p < 0 || p >= _PLACEMENT_POLICY_MAX)
        return NULL;
    return placement_policy_names[p];
}

enum placement_policy
placement_policy_from_string(const char *s)
{
    for (int i = 0; s && i < _PLACEMENT_POLICY_MAX; i++)
        if (streq(placement_policy_names[i], s))
            return (enum placement_policy) i;
    return _PLACEMENT_POLICY_INVALID;
}

const char *
placement_limit_to_string(enum placement_limit l)
{
    if (l < 0 || l >= _PLACEMENT_LIMIT_MAX)
        return NULL;
    return placement_limit_names[l];
}

static uint64_t
footprint_of(const struct placement_host *h, const struct placement_request *r)
{
    return h->footprint > 0 ? h->footprint : r->footprint;
}

unsigned
placement_room(const struct placement_host *h, const struct placement_request *r,
               enum placement_limit *ret_limit)
{
    enum placement_limit limit = PLACEMENT_LIMIT_NONE;
    unsigned room = UINT_MAX;

    if (!h->reachable)
        limit = PLACEMENT_LIMIT_UNREACHABLE;
    else if (h->draining)
        limit = PLACEMENT_LIMIT_DRAINING;
    else if (!host_labels_match(h->labels, r->labels))
        limit = PLACEMENT_LIMIT_LABELS;
    else if (r->needs_local_qemu && !h->local_qemu)
        limit = PLACEMENT_LIMIT_DRIVER;
    if (limit != PLACEMENT_LIMIT_NONE) {
        if (ret_limit)
            *ret_limit = limit;
        return 0;
    }
    if (footprint_of(h, r) > 0 && h->memory > 0) {
        uint64_t used = h->reserve + h->committed;
        uint64_t fit = h->memory > used ? (h->memory - used) / footprint_of(h, r) : 0;

        room = (unsigned) MIN(fit, (uint64_t) UINT_MAX - 1);
        limit = PLACEMENT_LIMIT_MEMORY;
    }
    if (h->max_desktops > 0) {
        unsigned fit = h->max_desktops > h->desktops ? h->max_desktops - h->desktops : 0;

        if (fit < room) {
            room = fit;
            limit = PLACEMENT_LIMIT_MAX_DESKTOPS;
        }
    }
    if (r->cpu_ratio > 0 && r->vcpus > 0) {
        double cap = (double) h->cpus * r->cpu_ratio - (double) h->vcpus;
        unsigned fit = cap > 0 ? (unsigned) MIN(cap / r->vcpus, (double) UINT_MAX - 1) : 0;

        if (fit < room) {
            room = fit;
            limit = PLACEMENT_LIMIT_CPU;
        }
    }
    if (ret_limit)
        *ret_limit = limit;
    return room;
}

/* Memory left on H after one more desktop of R (it fits). */
static uint64_t
memory_left(const struct placement_host *h, const struct placement_request *r)
{
    uint64_t used = h->reserve + h->committed + footprint_of(h, r);

    return h->memory > used ? h->memory - used : 0;
}

size_t
placement_apply(struct placement_host *h, size_t n_hosts, const struct placement_request *r,
                size_t count, size_t *ret)
{
    size_t placed = 0;

    for (; placed < count; placed++) {
        ssize_t best = -1;

        for (size_t i = 0; i < n_hosts; i++) {
            uint64_t left, best_left;

            if (placement_room(&h[i], r, NULL) == 0)
                continue;
            if (best < 0) {
                best = (ssize_t) i;
                continue;
            }
            left = memory_left(&h[i], r);
            best_left = memory_left(&h[best], r);
            if (left != best_left) {
                if (r->policy == PLACEMENT_PACK ? left < best_left : left > best_left)
                    best = (ssize_t) i;
            } else if (h[i].desktops != h[best].desktops) {
                if (r->policy == PLACEMENT_PACK ? h[i].desktops > h[best].desktops
                                                : h[i].desktops < h[best].desktops)
                    best = (ssize_t) i;
            }
        }
        if (best < 0)
            break;
        if (ret)
            ret[placed] = (size_t) best;
        h[best].committed += footprint_of(&h[best], r);
        h[best].desktops++;
        h[best].vcpus += r->vcpus;
    }
    return placed;
}

size_t
placement_choose(const struct placement_host *hosts, size_t n_hosts,
                 const struct placement_request *r, size_t count, size_t *ret)
{
    _cleanup_free_ struct placement_host *h = xmalloc0(sizeof(*h) * (n_hosts + 1));

    for (size_t i = 0; i < n_hosts; i++)
        h[i] = hosts[i];
    return placement_apply(h, n_hosts, r, count, ret);
}
