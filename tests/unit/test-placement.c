/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-placement.c - hosts' labels and sizes, and placement
 *
 * DESIGN
 *   Fixtures in, choices out: spread and pack over equal and unequal
 *   hosts, every limit (memory less reserve, max_desktops, vCPU ratio,
 *   drain, unreachable, labels, driver) and what room each host reports,
 *   hosts filling up until nothing fits. Pure: no I/O.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>

#include "host.h"
#include "placement.h"
#include "strv.h"
#include "tests.h"
#include "util.h"

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)

static struct placement_host
mkhost(const char *name, uint64_t memory)
{
    return (struct placement_host) {
        .name = name, .reachable = true, .memory = memory, .cpus = 16,
    };
}

TEST(labels_parse)
{
    _cleanup_(strv_freep) char **v = NULL;
    _cleanup_free_ char *s = NULL, *msg = NULL;

    ASSERT_OK(host_labels_parse("site=ambulance,gpu=yes", &v, &msg));
    ASSERT_EQ(strv_length(v), 2);
    ASSERT_STREQ(v[0], "gpu=yes"); /* sorted */
    ASSERT_STREQ(v[1], "site=ambulance");
    s = host_labels_format(v);
    ASSERT_STREQ(s, "gpu=yes,site=ambulance");
    v = strv_free(v);
    ASSERT_OK(host_labels_parse("", &v, &msg));
    ASSERT_EQ(strv_length(v), 0);
    v = strv_free(v);
    ASSERT_OK(host_labels_parse(NULL, &v, &msg));
    ASSERT_EQ(strv_length(v), 0);
}

TEST(labels_bad)
{
    static const char *const bad[] = {
        "gpu", "=yes", "gpu=", "gpu=y es", "a=b,a=c", "x=\x1b[2J", "k=v;rm",
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(strv_freep) char **v = NULL;
        _cleanup_free_ char *msg = NULL;

        ASSERT_ERROR(host_labels_parse(bad[i], &v, &msg), EINVAL);
        ASSERT_NOT_NULL(msg);
        ASSERT_NULL(strchr(msg, '\x1b'));
    }
}

TEST(labels_match)
{
    char *have[] = { (char *) "gpu=yes", (char *) "site=ambulance", NULL };
    char *gpu[] = { (char *) "gpu=yes", NULL };
    char *gpu_no[] = { (char *) "gpu=no", NULL };
    char *both[] = { (char *) "gpu=yes", (char *) "site=ambulance", NULL };

    ASSERT_TRUE(host_labels_match(have, NULL));
    ASSERT_TRUE(host_labels_match(have, gpu));
    ASSERT_TRUE(host_labels_match(have, both));
    ASSERT_FALSE(host_labels_match(have, gpu_no));
    ASSERT_FALSE(host_labels_match(NULL, gpu));
}

TEST(validate)
{
    static const char *const good[] = {
        "qemu:///system", "qemu+ssh://root@kvm2/system", "qemu+tls://kvm3:16514/system",
        "test:///tmp/h1.xml", "qemu+ssh://u@localhost/session?keyfile=/root/.ssh/k",
    };
    static const char *const bad[] = {
        "", "kvm2", "://x", "qemu:///sys tem", "qe mu:///system", "qemu:///\x1b", "q\"e://x",
    };

    for (size_t i = 0; i < ELEMENTSOF(good); i++) {
        _cleanup_free_ char *msg = NULL;

        ASSERT_OK(host_validate("kvm2", good[i], &msg));
    }
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_free_ char *msg = NULL;

        ASSERT_ERROR(host_validate("kvm2", bad[i], &msg), EINVAL);
        ASSERT_NOT_NULL(msg);
    }
    {
        _cleanup_free_ char *msg = NULL;

        ASSERT_ERROR(host_validate("KVM 2", "qemu:///system", &msg), EINVAL);
    }
}

TEST(parse_size)
{
    uint64_t v = 0;

    ASSERT_OK(host_parse_size("4G", &v));
    ASSERT_EQ(v, 4 * GiB);
    ASSERT_OK(host_parse_size("512M", &v));
    ASSERT_EQ(v, 512 * MiB);
    ASSERT_OK(host_parse_size("2GiB", &v));
    ASSERT_EQ(v, 2 * GiB);
    ASSERT_OK(host_parse_size("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(host_parse_size("1024", &v));
    ASSERT_EQ(v, 1024);
    ASSERT_ERROR(host_parse_size("4X", &v), EINVAL);
    ASSERT_ERROR(host_parse_size("-1G", &v), EINVAL);
    ASSERT_ERROR(host_parse_size("G", &v), EINVAL);
    ASSERT_ERROR(host_parse_size("", &v), EINVAL);
    ASSERT_ERROR(host_parse_size("99999999999T", &v), ERANGE);
}

TEST(room_limits)
{
    struct placement_request r = { .footprint = 1 * GiB, .vcpus = 2, .cpu_ratio = 4 };
    struct placement_host h = mkhost("a", 16 * GiB);
    char *have[] = { (char *) "gpu=yes", NULL };
    char *need[] = { (char *) "gpu=yes", NULL };
    enum placement_limit l;

    h.reserve = 2 * GiB;
    h.committed = 3 * GiB;
    ASSERT_EQ(placement_room(&h, &r, &l), 11); /* (16 - 2 - 3) / 1 */
    ASSERT_EQ(l, PLACEMENT_LIMIT_MEMORY);
    h.max_desktops = 10;
    h.desktops = 3;
    ASSERT_EQ(placement_room(&h, &r, &l), 7);
    ASSERT_EQ(l, PLACEMENT_LIMIT_MAX_DESKTOPS);
    h.vcpus = 60; /* 16 * 4 = 64: room for 2 more vCPUs, one desktop */
    ASSERT_EQ(placement_room(&h, &r, &l), 2);
    ASSERT_EQ(l, PLACEMENT_LIMIT_CPU);
    h.vcpus = 63;
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_CPU);
    h.vcpus = 0;
    h.committed = 14 * GiB; /* the reserve is all that is left */
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_MEMORY);
    h.committed = 20 * GiB; /* overcommitted already */
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    h.committed = 0;

    h.draining = true;
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_DRAINING);
    h.draining = false;
    h.reachable = false;
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_UNREACHABLE);
    h.reachable = true;
    r.labels = need;
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_LABELS);
    h.labels = have;
    ASSERT_TRUE(placement_room(&h, &r, &l) > 0);
    r.needs_local_qemu = true;
    ASSERT_EQ(placement_room(&h, &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_DRIVER);
    h.local_qemu = true;
    ASSERT_TRUE(placement_room(&h, &r, &l) > 0);

    /* nothing counted: no limit */
    r = (struct placement_request) { 0 };
    h = mkhost("b", 0);
    ASSERT_EQ(placement_room(&h, &r, &l), UINT_MAX);
    ASSERT_EQ(l, PLACEMENT_LIMIT_NONE);
    ASSERT_STREQ(placement_limit_to_string(PLACEMENT_LIMIT_MAX_DESKTOPS), "max_desktops");
    ASSERT_EQ(placement_policy_from_string("pack"), PLACEMENT_PACK);
    ASSERT_EQ(placement_policy_from_string("Pack"), _PLACEMENT_POLICY_INVALID);
}

/* How many of RET[0..N) are I. */
static size_t
count_of(const size_t *ret, size_t n, size_t i)
{
    size_t k = 0;

    for (size_t j = 0; j < n; j++)
        k += ret[j] == i;
    return k;
}

TEST(spread_equal)
{
    struct placement_host h[3] = { mkhost("a", 8 * GiB), mkhost("b", 8 * GiB),
                                   mkhost("c", 8 * GiB) };
    struct placement_request r = { .policy = PLACEMENT_SPREAD, .footprint = 1 * GiB };
    size_t ret[9];

    ASSERT_EQ(placement_choose(h, 3, &r, 9, ret), 9);
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ(count_of(ret, 9, i), 3);
    ASSERT_EQ(ret[0], 0); /* ties: the first given */
    ASSERT_EQ(ret[1], 1);
    ASSERT_EQ(ret[2], 2);
    /* the input is not changed */
    ASSERT_EQ(h[0].committed, 0);
    ASSERT_EQ(h[0].desktops, 0);
}

TEST(spread_unequal)
{
    /* b has 4 GiB more left: it takes the first 4, then they alternate */
    struct placement_host h[2] = { mkhost("a", 8 * GiB), mkhost("b", 12 * GiB) };
    struct placement_request r = { .policy = PLACEMENT_SPREAD, .footprint = 1 * GiB };
    size_t ret[8];

    ASSERT_EQ(placement_choose(h, 2, &r, 8, ret), 8);
    for (size_t i = 0; i < 4; i++)
        ASSERT_EQ(ret[i], 1);
    ASSERT_EQ(count_of(ret, 8, 0), 2);
    ASSERT_EQ(count_of(ret, 8, 1), 6);
}

TEST(spread_without_footprint)
{
    /* no footprint known: by desktop count */
    struct placement_host h[2] = { mkhost("a", 8 * GiB), mkhost("b", 8 * GiB) };
    struct placement_request r = { .policy = PLACEMENT_SPREAD };
    size_t ret[6];

    h[0].desktops = 4;
    ASSERT_EQ(placement_choose(h, 2, &r, 6, ret), 6);
    ASSERT_EQ(count_of(ret, 6, 1), 5);
    ASSERT_EQ(count_of(ret, 6, 0), 1);
}

TEST(pack)
{
    struct placement_host h[3] = { mkhost("a", 4 * GiB), mkhost("b", 4 * GiB),
                                   mkhost("c", 4 * GiB) };
    struct placement_request r = { .policy = PLACEMENT_PACK, .footprint = 1 * GiB };
    size_t ret[10];

    h[1].committed = 1 * GiB; /* b is fuller: it is filled first */
    h[1].desktops = 1;
    ASSERT_EQ(placement_choose(h, 3, &r, 10, ret), 10);
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ(ret[i], 1);
    for (size_t i = 3; i < 7; i++)
        ASSERT_EQ(ret[i], 0);
    for (size_t i = 7; i < 10; i++)
        ASSERT_EQ(ret[i], 2);
}

TEST(fill_up)
{
    /* 3 hosts, 10 desktops each at most (memory 10, max 8, ratio 12 vCPUs): 8 + 6 + 3 fit */
    struct placement_host h[3] = { mkhost("a", 10 * GiB), mkhost("b", 10 * GiB),
                                   mkhost("c", 10 * GiB) };
    struct placement_request r = { .footprint = 1 * GiB, .vcpus = 1, .cpu_ratio = 0.75 };
    enum placement_limit l;
    size_t ret[30], want[3] = { 8, 6, 3 };

    h[0].max_desktops = 8;
    h[1].reserve = 4 * GiB;
    h[2].cpus = 4; /* 4 * 0.75 = 3 vCPUs */
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ(placement_room(&h[i], &r, NULL), want[i]);
    ASSERT_EQ(placement_choose(h, 3, &r, 30, ret), 17);
    for (size_t i = 0; i < 3; i++)
        ASSERT_EQ(count_of(ret, 17, i), want[i]);
    /* what stops each one then */
    h[0].desktops = 8;
    h[1].committed = 6 * GiB;
    h[2].vcpus = 3;
    ASSERT_EQ(placement_room(&h[0], &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_MAX_DESKTOPS);
    ASSERT_EQ(placement_room(&h[1], &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_MEMORY);
    ASSERT_EQ(placement_room(&h[2], &r, &l), 0);
    ASSERT_EQ(l, PLACEMENT_LIMIT_CPU);
    ASSERT_EQ(placement_choose(h, 3, &r, 1, ret), 0);
}

TEST(only_eligible)
{
    char *gpu[] = { (char *) "gpu=yes", NULL };
    struct placement_host h[4] = { mkhost("a", 8 * GiB), mkhost("b", 8 * GiB),
                                   mkhost("c", 8 * GiB), mkhost("d", 8 * GiB) };
    struct placement_request r = { .footprint = 1 * GiB, .labels = gpu };
    size_t ret[20];

    h[0].labels = gpu;
    h[0].draining = true;
    h[1].labels = gpu;
    h[2].labels = gpu;
    h[2].reachable = false;
    /* d has no label: only b takes them */
    ASSERT_EQ(placement_choose(h, 4, &r, 20, ret), 8);
    ASSERT_EQ(count_of(ret, 8, 1), 8);
    ASSERT_EQ(placement_choose(h, 0, &r, 1, ret), 0);
}

int
main(void)
{
    RUN(labels_parse);
    RUN(labels_bad);
    RUN(labels_match);
    RUN(validate);
    RUN(parse_size);
    RUN(room_limits);
    RUN(spread_equal);
    RUN(spread_unequal);
    RUN(spread_without_footprint);
    RUN(pack);
    RUN(fill_up);
    RUN(only_eligible);
    return TESTS_DONE();
}
