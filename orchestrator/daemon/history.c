/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* history.c - the last six hours of acquires and pool counts, in memory
 *
 * Owns the figures the dashboard draws (GET /v1/history): per minute, how
 * many acquires were answered with a session and how many with an error,
 * the acquire latency (p50, p99, max), and each pool's ready and in-use
 * desktop counts.
 *
 * DESIGN
 *   A fixed ring of HISTORY_SLOTS one-minute slots: minute M (unix time /
 *   60) lives in slot M % HISTORY_SLOTS and carries M, so a slot left
 *   from an earlier lap (or a minute nobody wrote) is told apart and
 *   reads as empty. Memory is fixed at creation, whatever the load: the
 *   latency of a minute is a histogram of HISTORY_LATENCY_BUCKETS
 *   quarter-octave buckets from 0.5 ms (the last one takes everything from
 *   ~131 s), so a percentile is the upper bound of its bucket (at most 19%
 *   high), capped by the exact maximum. Pool counts are kept for at most
 *   HISTORY_MAX_POOLS pools, by column: a column goes to a new pool when
 *   its pool was not counted for longest, and its old figures are cleared
 *   in every slot. About 300 KiB in all (docs/internals/history.md).
 *
 *   Threads: acquires are counted from REST handler threads, pools from
 *   the reconcile loop, snapshots taken by GET /v1/history; `h->lock`
 *   guards everything, is held only for copying and counting, and takes
 *   no other lock (a leaf). Time comes in as an argument: no clock is
 *   read here, so tests drive the minutes.
 *
 *   Never does I/O, never logs: figures that do not fit are counted
 *   (history_dropped_pools()), not reported.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "util.h"

#define HISTORY_BUCKET0_USEC 500.0
#define HISTORY_BUCKET_STEP 1.189207115002721 /* 2^(1/4) */

struct history_slot {
    int64_t minute;               /* unix seconds / 60; -1: never written */
    unsigned acquires, failures;
    uint64_t max_usec;
    uint32_t buckets[HISTORY_LATENCY_BUCKETS];
    uint64_t present;             /* bit i: column i was counted in this minute */
    uint32_t ready[HISTORY_MAX_POOLS];
    uint32_t in_use[HISTORY_MAX_POOLS];
};

struct history {
    pthread_mutex_t lock;
    int64_t first_minute;         /* the first minute written; -1: none yet */
    uint64_t bound[HISTORY_LATENCY_BUCKETS]; /* upper bound of each bucket, usec */
    struct history_slot slots[HISTORY_SLOTS];
    char names[HISTORY_MAX_POOLS][DP_NAME_MAX + 1];
    int64_t last_seen[HISTORY_MAX_POOLS]; /* minute the column's pool was last counted */
    unsigned dropped;
};

struct history *
history_new(void)
{
    struct history *h = xmalloc0(sizeof(*h));
    double b = HISTORY_BUCKET0_USEC;

    pthread_mutex_init(&h->lock, NULL);
    h->first_minute = -1;
    for (size_t i = 0; i < HISTORY_SLOTS; i++)
        h->slots[i].minute = -1;
    for (size_t i = 0; i < HISTORY_LATENCY_BUCKETS; i++) {
        b *= HISTORY_BUCKET_STEP;
        h->bound[i] = (uint64_t) b;
    }
    h->bound[HISTORY_LATENCY_BUCKETS - 1] = UINT64_MAX;
    return h;
}

struct history *
history_free(struct history *h)
{
    if (!h)
        return NULL;
    pthread_mutex_destroy(&h->lock);
    free(h);
    return NULL;
}

void
history_snapshot_done(struct history_snapshot *s)
{
    free(s->samples);
    s->samples = NULL;
    s->n = 0;
}

static int64_t
history_minute(int64_t now)
{
    return now < 0 ? 0 : now / HISTORY_INTERVAL_SEC;
}

/* The slot of minute M, emptied first if it holds another minute (lock held). */
static struct history_slot *
history_slot_for(struct history *h, int64_t m)
{
    struct history_slot *s = &h->slots[m % HISTORY_SLOTS];

    if (s->minute != m) {
        memset(s, 0, sizeof(*s));
        s->minute = m;
    }
    if (h->first_minute < 0 || m < h->first_minute)
        h->first_minute = m;
    return s;
}

static size_t
history_bucket(const struct history *h, uint64_t usec)
{
    size_t lo = 0, hi = HISTORY_LATENCY_BUCKETS - 1;

    /* the first bucket whose bound is >= usec (the last one's is UINT64_MAX) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (h->bound[mid] >= usec)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void
history_record_acquire(struct history *h, int64_t now, uint64_t latency_usec, bool ok)
{
    struct history_slot *s;

    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    s = history_slot_for(h, history_minute(now));
    if (ok) {
        s->acquires++;
        s->buckets[history_bucket(h, latency_usec)]++;
        s->max_usec = MAX(s->max_usec, latency_usec);
    } else {
        s->failures++;
    }
    pthread_mutex_unlock(&h->lock);
}

/* The column of pool NAME for minute M, taken over if need be; -1 when
 * every column was counted in M (lock held). */
static int
history_column(struct history *h, const char *name, int64_t m)
{
    int oldest = -1;

    for (int i = 0; i < HISTORY_MAX_POOLS; i++)
        if (streq(h->names[i], name))
            return i;
    for (int i = 0; i < HISTORY_MAX_POOLS; i++) {
        if (h->names[i][0] == '\0') {
            oldest = i;
            break;
        }
        if (h->last_seen[i] < m && (oldest < 0 || h->last_seen[i] < h->last_seen[oldest]))
            oldest = i;
    }
    if (oldest < 0)
        return -1;
    /* the column's figures were another pool's */
    for (size_t k = 0; k < HISTORY_SLOTS; k++) {
        h->slots[k].present &= ~(UINT64_C(1) << oldest);
        h->slots[k].ready[oldest] = 0;
        h->slots[k].in_use[oldest] = 0;
    }
    snprintf(h->names[oldest], sizeof(h->names[oldest]), "%s", name);
    return oldest;
}

void
history_sample_pools(struct history *h, int64_t now, const struct history_pool_count *c,
                     size_t n)
{
    int64_t m = history_minute(now);
    struct history_slot *s;

    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    s = history_slot_for(h, m);
    /* what was counted earlier in this minute is replaced */
    s->present = 0;
    for (size_t i = 0; i < n; i++) {
        int col;

        if (!c[i].name || strlen(c[i].name) > DP_NAME_MAX)
            continue;
        col = history_column(h, c[i].name, m);
        if (col < 0) {
            h->dropped++;
            continue;
        }
        h->last_seen[col] = m;
        s->present |= UINT64_C(1) << col;
        s->ready[col] = c[i].ready;
        s->in_use[col] = c[i].in_use;
    }
    pthread_mutex_unlock(&h->lock);
}

unsigned
history_dropped_pools(struct history *h)
{
    unsigned n;

    pthread_mutex_lock(&h->lock);
    n = h->dropped;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* The latency below which a share Q of slot S's acquires were answered:
 * the upper bound of its bucket, capped by the maximum (lock held). */
static double
history_quantile_ms(const struct history *h, const struct history_slot *s, double q)
{
    uint64_t rank = (uint64_t) (q * s->acquires + 0.999999), seen = 0;

    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < HISTORY_LATENCY_BUCKETS; i++) {
        seen += s->buckets[i];
        if (seen >= rank)
            return (double) MIN(h->bound[i], s->max_usec) / 1000.0;
    }
    return (double) s->max_usec / 1000.0;
}

void
history_snapshot(struct history *h, int64_t now, struct history_snapshot *ret)
{
    int64_t m = history_minute(now), from;

    *ret = (struct history_snapshot) { 0 };
    pthread_mutex_lock(&h->lock);
    from = h->first_minute < 0 || h->first_minute > m ? m : h->first_minute;
    from = MAX(from, m - (HISTORY_SLOTS - 1));
    ret->n = (size_t) (m - from + 1);
    ret->samples = xmalloc0(sizeof(*ret->samples) * ret->n);
    memcpy(ret->names, h->names, sizeof(ret->names));
    for (size_t i = 0; i < ret->n; i++) {
        const struct history_slot *s = &h->slots[(from + (int64_t) i) % HISTORY_SLOTS];
        struct history_sample *x = &ret->samples[i];

        x->at = (from + (int64_t) i) * HISTORY_INTERVAL_SEC;
        if (s->minute != from + (int64_t) i)
            continue; /* nothing was written in that minute */
        x->acquires = s->acquires;
        x->acquire_failures = s->failures;
        x->has_latency = s->acquires > 0;
        if (x->has_latency) {
            x->p50_ms = history_quantile_ms(h, s, 0.50);
            x->p99_ms = history_quantile_ms(h, s, 0.99);
            x->max_ms = (double) s->max_usec / 1000.0;
        }
        x->pools_present = s->present;
        for (size_t k = 0; k < HISTORY_MAX_POOLS; k++) {
            x->ready[k] = s->ready[k];
            x->in_use[k] = s->in_use[k];
        }
    }
    pthread_mutex_unlock(&h->lock);
}
