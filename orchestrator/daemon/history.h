/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* history.h - the last hours of acquires and pool counts, in memory. See
 * history.c and docs/internals/history.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "name.h"

#define HISTORY_INTERVAL_SEC 60   /* one sample per minute */
#define HISTORY_SLOTS 360         /* six hours of them */
#define HISTORY_MAX_POOLS 64      /* pools whose counts are kept */
#define HISTORY_LATENCY_BUCKETS 72

struct history;

/* One pool's counts, as the reconciler hands them in. */
struct history_pool_count {
    const char *name;
    unsigned ready;
    unsigned in_use;              /* assigned + in_use */
};

/* One minute, as history_snapshot() gives it. */
struct history_sample {
    int64_t at;                   /* unix seconds of the minute's start */
    unsigned acquires;            /* answered with a session (200/201) */
    unsigned acquire_failures;    /* answered with an error */
    bool has_latency;             /* acquires > 0 */
    double p50_ms, p99_ms, max_ms; /* of the successful acquires */
    uint64_t pools_present;       /* bit i: names[i] was counted in this minute */
    unsigned ready[HISTORY_MAX_POOLS];
    unsigned in_use[HISTORY_MAX_POOLS];
};

/* A copy of the history, oldest minute first; the last is the current
 * (partial) one. Minutes without data are there with zero counts. */
struct history_snapshot {
    struct history_sample *samples;
    size_t n;
    char names[HISTORY_MAX_POOLS][DP_NAME_MAX + 1]; /* "" for an unused column */
};
void history_snapshot_done(struct history_snapshot *s);

/* A new, empty history. Aborts on OOM like xmalloc(). */
struct history *history_new(void);
/* Accepts NULL; returns NULL. */
struct history *history_free(struct history *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct history *, history_free);

/* Counts one acquire answered at NOW (unix seconds): OK with its latency
 * in microseconds (first run of the handler to the answer), or a failure
 * (the latency is not kept). Accepts a NULL history. Cannot fail. */
void history_record_acquire(struct history *h, int64_t now, uint64_t latency_usec, bool ok);

/* Records the ready and in-use counts of N pools at NOW; a later call in
 * the same minute replaces them. A pool beyond HISTORY_MAX_POOLS takes
 * the column of the pool not seen for longest, unless every column was
 * counted this minute: then it is left out (history_dropped_pools()).
 * Accepts a NULL history. Cannot fail. */
void history_sample_pools(struct history *h, int64_t now, const struct history_pool_count *c,
                          size_t n);

/* Pools left out since the start because every column was in use. */
unsigned history_dropped_pools(struct history *h);

/* Copies the minutes from the first one recorded (at most HISTORY_SLOTS
 * back) to NOW's into *RET (free with history_snapshot_done()). Cannot fail. */
void history_snapshot(struct history *h, int64_t now, struct history_snapshot *ret);
