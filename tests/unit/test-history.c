/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-history.c - the in-memory history behind GET /v1/history
 *
 * DESIGN
 *   history.c takes the time as an argument, so these tests drive the
 *   minutes by hand: the ring wraps after HISTORY_SLOTS minutes and keeps
 *   only the last ones, minutes nobody wrote read as empty, pool columns
 *   are bounded by HISTORY_MAX_POOLS and handed over to new pools, and the
 *   latency percentiles from the bucket histogram stay within a bucket
 *   (19%) of the true values, never above the maximum. Pure: no I/O.
 */
#include "config.h"

#include <stdio.h>

#include "history.h"
#include "tests.h"
#include "util.h"

/* 2026-11-29 08:00:00 UTC: a minute boundary */
#define T0 ((int64_t) 1795939200)

/* |got - want| <= want * rel */
#define ASSERT_NEAR(got, want, rel)                                     \
    do {                                                                \
        double _g_ = (got), _w_ = (want);                               \
        if (_g_ < _w_ - _w_ * (rel) || _g_ > _w_ + _w_ * (rel)) {       \
            TEST_FAIL_AT("%s = %.3f, expected %.3f (+-%.0f%%)", #got,   \
                         _g_, _w_, (rel) * 100);                        \
            return;                                                     \
        }                                                               \
    } while (0)

TEST(empty)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_snapshot s;

    history_snapshot(h, T0 + 30, &s);
    /* nothing recorded: only the current minute */
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(s.samples[0].at, T0);
    ASSERT_EQ(s.samples[0].acquires, 0);
    ASSERT_FALSE(s.samples[0].has_latency);
    ASSERT_EQ(s.samples[0].pools_present, 0);
    history_snapshot_done(&s);
    ASSERT_NULL(s.samples);

    /* NULL histories are accepted by the recorders */
    history_record_acquire(NULL, T0, 1000, true);
    history_sample_pools(NULL, T0, NULL, 0);
}

TEST(minutes_and_gaps)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_snapshot s;

    history_record_acquire(h, T0 + 1, 2000, true);
    history_record_acquire(h, T0 + 59, 2000, true);
    history_record_acquire(h, T0 + 30, 0, false);
    /* minute 1 has nothing; minute 2 one acquire */
    history_record_acquire(h, T0 + 120, 5000, true);
    history_snapshot(h, T0 + 185, &s);
    ASSERT_EQ(s.n, 4);
    ASSERT_EQ(s.samples[0].at, T0);
    ASSERT_EQ(s.samples[0].acquires, 2);
    ASSERT_EQ(s.samples[0].acquire_failures, 1);
    ASSERT_TRUE(s.samples[0].has_latency);
    ASSERT_EQ(s.samples[1].at, T0 + 60);
    ASSERT_EQ(s.samples[1].acquires, 0);
    ASSERT_FALSE(s.samples[1].has_latency);
    ASSERT_EQ(s.samples[2].acquires, 1);
    /* the current, partial minute is there, empty */
    ASSERT_EQ(s.samples[3].at, T0 + 180);
    ASSERT_EQ(s.samples[3].acquires, 0);
    history_snapshot_done(&s);

    /* only failures: no latency */
    history_record_acquire(h, T0 + 181, 0, false);
    history_snapshot(h, T0 + 185, &s);
    ASSERT_EQ(s.samples[3].acquire_failures, 1);
    ASSERT_FALSE(s.samples[3].has_latency);
    history_snapshot_done(&s);
}

TEST(ring_wraps)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_snapshot s;
    int64_t last = 400;

    /* minute i gets i % 7 + 1 acquires, for 401 minutes: more than a lap */
    for (int64_t i = 0; i <= last; i++)
        for (int64_t k = 0; k < i % 7 + 1; k++)
            history_record_acquire(h, T0 + i * 60 + k, 1000, true);
    history_snapshot(h, T0 + last * 60 + 10, &s);
    ASSERT_EQ(s.n, HISTORY_SLOTS);
    ASSERT_EQ(s.samples[0].at, T0 + (last - HISTORY_SLOTS + 1) * 60);
    ASSERT_EQ(s.samples[s.n - 1].at, T0 + last * 60);
    for (size_t j = 0; j < s.n; j++) {
        int64_t i = last - HISTORY_SLOTS + 1 + (int64_t) j;

        ASSERT_EQ(s.samples[j].at, T0 + i * 60);
        ASSERT_EQ(s.samples[j].acquires, i % 7 + 1);
    }
    history_snapshot_done(&s);

    /* an hour later with nothing new: the old laps do not show as new data */
    history_snapshot(h, T0 + (last + 60) * 60, &s);
    ASSERT_EQ(s.n, HISTORY_SLOTS);
    ASSERT_EQ(s.samples[s.n - 1].acquires, 0);
    ASSERT_EQ(s.samples[s.n - 60].acquires, 0);
    ASSERT_EQ(s.samples[s.n - 61].acquires, last % 7 + 1);
    history_snapshot_done(&s);

    /* a day later: every slot is stale */
    history_snapshot(h, T0 + 86400 * 2, &s);
    ASSERT_EQ(s.n, HISTORY_SLOTS);
    for (size_t j = 0; j < s.n; j++)
        ASSERT_EQ(s.samples[j].acquires, 0);
    history_snapshot_done(&s);
}

TEST(latency)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_snapshot s;

    /* 100 acquires: 1..98 ms, then 500 ms and 2000 ms */
    for (int i = 1; i <= 98; i++)
        history_record_acquire(h, T0, (uint64_t) i * 1000, true);
    history_record_acquire(h, T0, 500000, true);
    history_record_acquire(h, T0, 2000000, true);
    history_snapshot(h, T0, &s);
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(s.samples[0].acquires, 100);
    ASSERT_NEAR(s.samples[0].p50_ms, 50.0, 0.19);
    ASSERT_TRUE(s.samples[0].p50_ms >= 50.0);
    ASSERT_NEAR(s.samples[0].p99_ms, 500.0, 0.19);
    ASSERT_NEAR(s.samples[0].max_ms, 2000.0, 0.0);
    history_snapshot_done(&s);

    /* one acquire: every figure is it (capped by the exact maximum) */
    history_record_acquire(h, T0 + 60, 7777, true);
    history_snapshot(h, T0 + 60, &s);
    ASSERT_NEAR(s.samples[1].p50_ms, 7.777, 0.0);
    ASSERT_NEAR(s.samples[1].p99_ms, 7.777, 0.0);
    ASSERT_NEAR(s.samples[1].max_ms, 7.777, 0.0);
    history_snapshot_done(&s);

    /* the extremes land in the first and last buckets */
    history_record_acquire(h, T0 + 120, 0, true);
    history_record_acquire(h, T0 + 120, UINT64_C(3600) * 1000000, true);
    history_snapshot(h, T0 + 120, &s);
    ASSERT_TRUE(s.samples[2].p50_ms <= 1.0);
    ASSERT_NEAR(s.samples[2].max_ms, 3600000.0, 0.0);
    ASSERT_NEAR(s.samples[2].p99_ms, 3600000.0, 0.0);
    history_snapshot_done(&s);
}

static int
column_of(const struct history_snapshot *s, const char *name)
{
    for (int i = 0; i < HISTORY_MAX_POOLS; i++)
        if (streq(s->names[i], name))
            return i;
    return -1;
}

TEST(pools)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_pool_count c[] = {
        { "alpha", 3, 1 }, { "beta", 0, 2 },
    };
    struct history_snapshot s;
    int a, b;

    history_sample_pools(h, T0 + 5, c, 2);
    /* a later pass in the same minute replaces the counts */
    c[0].ready = 2;
    c[0].in_use = 2;
    history_sample_pools(h, T0 + 50, c, 2);
    /* minute 1: beta is gone */
    history_sample_pools(h, T0 + 65, c, 1);
    history_snapshot(h, T0 + 70, &s);
    ASSERT_EQ(s.n, 2);
    a = column_of(&s, "alpha");
    b = column_of(&s, "beta");
    ASSERT_TRUE(a >= 0 && b >= 0 && a != b);
    ASSERT_TRUE(s.samples[0].pools_present & (UINT64_C(1) << a));
    ASSERT_EQ(s.samples[0].ready[a], 2);
    ASSERT_EQ(s.samples[0].in_use[a], 2);
    ASSERT_EQ(s.samples[0].in_use[b], 2);
    ASSERT_TRUE(s.samples[1].pools_present & (UINT64_C(1) << a));
    ASSERT_FALSE(s.samples[1].pools_present & (UINT64_C(1) << b));
    history_snapshot_done(&s);

    /* names that cannot be pools are ignored */
    {
        struct history_pool_count bad[] = { { NULL, 1, 1 } };

        history_sample_pools(h, T0 + 66, bad, 1);
        ASSERT_EQ(history_dropped_pools(h), 0);
    }
}

TEST(pool_bound)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_pool_count c[HISTORY_MAX_POOLS + 1];
    char names[HISTORY_MAX_POOLS + 1][16];
    struct history_snapshot s;
    int col;

    for (int i = 0; i <= HISTORY_MAX_POOLS; i++) {
        snprintf(names[i], sizeof(names[i]), "p%d", i);
        c[i] = (struct history_pool_count) { names[i], (unsigned) i, 1 };
    }
    /* one pool too many in one minute: the last is left out */
    history_sample_pools(h, T0, c, HISTORY_MAX_POOLS + 1);
    ASSERT_EQ(history_dropped_pools(h), 1);
    history_snapshot(h, T0, &s);
    ASSERT_EQ(s.samples[0].pools_present, UINT64_MAX);
    ASSERT_EQ(column_of(&s, "p64"), -1);
    ASSERT_TRUE(column_of(&s, "p63") >= 0);
    history_snapshot_done(&s);

    /* next minute p0 is gone and p64 is there: p64 takes p0's column,
     * and p0's old figures go with it */
    history_sample_pools(h, T0 + 60, c + 1, HISTORY_MAX_POOLS);
    ASSERT_EQ(history_dropped_pools(h), 1);
    history_snapshot(h, T0 + 60, &s);
    ASSERT_EQ(column_of(&s, "p0"), -1);
    col = column_of(&s, "p64");
    ASSERT_TRUE(col >= 0);
    ASSERT_FALSE(s.samples[0].pools_present & (UINT64_C(1) << col));
    ASSERT_EQ(s.samples[0].ready[col], 0);
    ASSERT_TRUE(s.samples[1].pools_present & (UINT64_C(1) << col));
    ASSERT_EQ(s.samples[1].ready[col], 64);
    history_snapshot_done(&s);
}

TEST(clock_backwards)
{
    _cleanup_(history_freep) struct history *h = history_new();
    struct history_snapshot s;

    history_record_acquire(h, T0 + 600, 1000, true);
    /* the clock was set back ten minutes: the later minute is not shown */
    history_record_acquire(h, T0, 1000, true);
    history_snapshot(h, T0 + 10, &s);
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(s.samples[0].at, T0);
    ASSERT_EQ(s.samples[0].acquires, 1);
    history_snapshot_done(&s);
}

int
main(void)
{
    RUN(empty);
    RUN(minutes_and_gaps);
    RUN(ring_wraps);
    RUN(latency);
    RUN(pools);
    RUN(pool_bound);
    RUN(clock_backwards);
    return TESTS_DONE();
}
