/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* footprint.c - what one desktop really takes on a host, measured
 *
 * DESIGN
 *   Capacity is answered from measurement, not from a sizing guide: a
 *   desktop's footprint on a host is the resident memory of its QEMU
 *   (virDomainMemoryStats' rss: guest pages it touched plus QEMU's own),
 *   averaged over up to FOOTPRINT_SAMPLES running desktops of the same
 *   template there. Clones of one image share most of their pages when
 *   the host runs KSM, which RSS does not show, so the host's KSM savings
 *   (libvirt's node memory parameter shm_pages_sharing) are shared out
 *   over its running desktops and taken off. bench/density.sh measured
 *   what this approximates: PSS per instant clone 165 MiB without KSM,
 *   48.7 MiB with it (tiny guest, 128 MiB of guest memory).
 *
 *   A host and template with nothing running (or a driver that cannot
 *   say: the test driver) has no measurement; placement then counts the
 *   template's <memory>, which is what a guest can grow to.
 *
 *   Sampling runs in the reconcile loop, at most once per
 *   FOOTPRINT_INTERVAL_SEC per host, so its libvirt calls stay few: at
 *   10 hosts and 3 templates, 240 calls a minute.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>

#include "array.h"
#include "footprint.h"
#include "log.h"
#include "util.h"

#define FOOTPRINT_SAMPLES 8
#define FOOTPRINT_INTERVAL_SEC 60

struct fp_entry {
    char *host, *template;
    uint64_t mean;         /* bytes; 0: not measured */
};

struct fp_host {
    char *host;
    int64_t sampled_at;    /* unix seconds */
    uint64_t ksm_saved;
};

struct footprints {
    pthread_mutex_t lock;
    struct fp_entry *e;
    size_t n, cap;
    struct fp_host *h;
    size_t n_h, cap_h;
};

struct footprints *
footprints_new(void)
{
    struct footprints *f = xmalloc0(sizeof(*f));

    pthread_mutex_init(&f->lock, NULL);
    return f;
}

struct footprints *
footprints_free(struct footprints *f)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n; i++) {
        free(f->e[i].host);
        free(f->e[i].template);
    }
    for (size_t i = 0; i < f->n_h; i++)
        free(f->h[i].host);
    free(f->e);
    free(f->h);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return NULL;
}

/* Lock held. */
static struct fp_entry *
entry_get_locked(struct footprints *f, const char *host, const char *template, bool create)
{
    for (size_t i = 0; i < f->n; i++)
        if (streq(f->e[i].host, host) && streq(f->e[i].template, template))
            return &f->e[i];
    if (!create)
        return NULL;
    ARRAY_GROW(f->e, f->cap, f->n + 1);
    f->e[f->n] = (struct fp_entry) { .host = xstrdup(host), .template = xstrdup(template) };
    return &f->e[f->n++];
}

static struct fp_host *
host_get_locked(struct footprints *f, const char *host)
{
    for (size_t i = 0; i < f->n_h; i++)
        if (streq(f->h[i].host, host))
            return &f->h[i];
    ARRAY_GROW(f->h, f->cap_h, f->n_h + 1);
    f->h[f->n_h] = (struct fp_host) { .host = xstrdup(host) };
    return &f->h[f->n_h++];
}

static const char *
template_of(const char *pool, struct pool *const *pools, size_t n_pools)
{
    for (size_t i = 0; i < n_pools; i++)
        if (streq(pools[i]->name, pool))
            return pools[i]->template;
    return NULL;
}

/* Samples host H: its templates' mean RSS and its KSM savings. */
static void
sample_host(struct footprints *f, const struct cluster_host *h, struct desk *const *desks,
            size_t n_desks, struct pool *const *pools, size_t n_pools)
{
    const char *name = h->row->name;
    uint64_t saved = 0;
    unsigned running = 0;
    /* per template seen: the sum and count of samples */
    struct { const char *t; uint64_t sum; unsigned n; } acc[16];
    size_t n_acc = 0;
    unsigned failures = 0;

    for (size_t i = 0; i < n_desks; i++) {
        const struct desk *d = desks[i];
        const char *t;
        uint64_t rss = 0;
        size_t k;

        if (!streq(d->host, name) ||
            (!desk_state_is_in_use(d->state) && d->state != DESK_STATE_READY))
            continue;
        running++;
        t = template_of(d->pool, pools, n_pools);
        if (!t)
            continue;
        for (k = 0; k < n_acc && !streq(acc[k].t, t); k++)
            ;
        if (k == n_acc) {
            if (n_acc == ELEMENTSOF(acc))
                continue;
            acc[n_acc++] = (typeof(acc[0])) { .t = t };
        }
        /* a driver that cannot say (test://) is not asked 5,000 times */
        if (acc[k].n >= FOOTPRINT_SAMPLES || failures >= FOOTPRINT_SAMPLES)
            continue;
        if (hv_domain_get_rss(h->hv, d->domain, &rss) < 0 || rss == 0) {
            failures++;
            continue;
        }
        acc[k].sum += rss;
        acc[k].n++;
    }
    if (hv_node_get_ksm(h->hv, &saved) < 0)
        saved = 0;
    pthread_mutex_lock(&f->lock);
    host_get_locked(f, name)->ksm_saved = saved;
    for (size_t k = 0; k < n_acc; k++) {
        struct fp_entry *e;
        uint64_t mean, share;

        if (acc[k].n == 0)
            continue;
        mean = acc[k].sum / acc[k].n;
        share = running > 0 ? saved / running : 0;
        e = entry_get_locked(f, name, acc[k].t, true);
        /* KSM cannot save more than a desktop has: keep an eighth */
        e->mean = share < mean - mean / 8 ? mean - share : mean / 8;
        log_debug("Footprint of template '%s' on host '%s': %" PRIu64 " MiB (%u samples, KSM "
                  "saves %" PRIu64 " MiB over %u desktops)", acc[k].t, name, e->mean >> 20,
                  acc[k].n, saved >> 20, running);
    }
    pthread_mutex_unlock(&f->lock);
}

void
footprints_sample(struct footprints *f, const struct cluster *c, struct desk *const *desks,
                  size_t n_desks, struct pool *const *pools, size_t n_pools)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct cluster_host *h = &c->h[i];
        bool due;

        if (!h->observed || !h->hv)
            continue;
        pthread_mutex_lock(&f->lock);
        {
            struct fp_host *fh = host_get_locked(f, h->row->name);

            due = c->now >= fh->sampled_at + FOOTPRINT_INTERVAL_SEC;
            if (due)
                fh->sampled_at = c->now;
        }
        pthread_mutex_unlock(&f->lock);
        if (due)
            sample_host(f, h, desks, n_desks, pools, n_pools);
    }
}

uint64_t
footprints_get(struct footprints *f, const char *host, const char *template,
               uint64_t *ret_ksm_saved)
{
    const struct fp_entry *e;
    uint64_t v;

    pthread_mutex_lock(&f->lock);
    e = entry_get_locked(f, host, template, false);
    v = e ? e->mean : 0;
    if (ret_ksm_saved) {
        *ret_ksm_saved = 0;
        for (size_t i = 0; i < f->n_h; i++)
            if (streq(f->h[i].host, host))
                *ret_ksm_saved = f->h[i].ksm_saved;
    }
    pthread_mutex_unlock(&f->lock);
    return v;
}
