/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-hosts.c - many hosts: placement, drain, fill-up and scale, on
 * libvirt's test driver
 *
 * Each simulated host is a test driver file (test:///DIR/hN.xml) with its
 * own memory and CPUs, reached through its own connection by the daemon's
 * host threads (hosts.c), exactly as a qemu+ssh:// host is. Real libvirt
 * API, real SQLite, one process. Checks, in both the store and each
 * host's libvirt:
 *   - spread puts a pool evenly over the hosts, pack fills the fullest
 *     one first, a pool requiring a label lands only on labelled hosts;
 *   - hosts filling up: exactly as many desktops are made as memory less
 *     reserve and max_desktops allow, not one more;
 *   - drain: the drained host's spares are made elsewhere first (the
 *     pool's ready count never drops), then the host is empty and can be
 *     removed; a host with desktops cannot;
 *   - scale: 10 hosts x 500 desktops, 500 on each; an idle pass's time
 *     is printed (no timing is asserted: see bench/).
 * The local host (test:///default) is drained so nothing lands there.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "hosts.h"
#include "hv.h"
#include "log.h"
#include "reconcile.h"
#include "store.h"
#include "strv.h"
#include "tests.h"
#include "util.h"

#define INSTANCE "ht"
#define SPOOL "ht-pool"
#define MiB (1ULL << 20)

static struct hv *hv;
static char tmpdir[] = "/tmp/deskpool-ht.XXXXXX";

static void
test_conf(struct conf *c)
{
    _cleanup_free_ char *err = NULL;

    conf_init(c);
    (void) conf_set(c, "uri", "test:///default", &err);
    (void) conf_set(c, "instance", INSTANCE, &err);
    (void) conf_set(c, "state_dir", tmpdir, &err);
    (void) conf_set(c, "storage_pool", SPOOL, &err);
    (void) conf_set(c, "templates_dir", TEST_TEMPLATES_DIR, &err);
    (void) conf_set(c, "boot_delay", "0", &err);
    (void) conf_set(c, "max_concurrent", "8", &err);
    (void) conf_set(c, "console_password", "none", &err);
    /* the test driver "boots" at once: no boot storm to hold back */
    (void) conf_set(c, "host_max_starts", "64", &err);
    conf_finalize(c);
}

/* A test driver host file with MEM_MIB of memory and CPUS CPUs; its URI. */
static char *
host_file(const char *name, unsigned mem_mib, unsigned cpus)
{
    _cleanup_free_ char *path = xasprintf("%s/%s.xml", tmpdir, name);
    _cleanup_free_ char *xml = xasprintf(
        "<node>\n"
        "  <cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>%u</cores>"
        "<threads>1</threads></cpu>\n"
        "  <memory>%llu</memory>\n"
        "</node>\n", cpus, (unsigned long long) mem_mib * 1024);
    FILE *f = fopen(path, "we");

    if (!f)
        return NULL;
    fputs(xml, f);
    fclose(f);
    return xasprintf("test://%s", path);
}

static int
add_host(struct store *s, const char *name, unsigned mem_mib, unsigned max_desktops,
         uint64_t reserve, const char *labels)
{
    _cleanup_free_ char *uri = host_file(name, mem_mib, 8), *err = NULL;
    _cleanup_(strv_freep) char **l = NULL;
    struct host h = {
        .name = (char *) name, .max_desktops = max_desktops, .reserve_memory = reserve,
    };

    if (!uri || host_labels_parse(labels, &l, &err) < 0)
        return -EINVAL;
    h.uri = uri;
    h.labels = l;
    return store_host_add(s, &h);
}

static int
open_store(const char *name, struct store **ret)
{
    _cleanup_free_ char *path = xasprintf("%s/%s.db", tmpdir, name), *err = NULL;
    /* a file that exists: another host gets the image through libvirt
     * (the test driver cannot stream, so it is read where it is) */
    _cleanup_free_ char *golden = xasprintf("%s/golden.qcow2", tmpdir);
    struct image img = {
        .name = (char *) "img", .version = 1, .path = golden,
        .sha256 = (char *) "00", .size = 1, .virtual_size = 64ULL << 20, .created_at = 1,
    };
    FILE *f = fopen(golden, "we");
    int r;

    if (!f)
        return -errno;
    fputs("QFI\xfb not really an image", f);
    fclose(f);
    (void) unlink(path);
    r = store_open(path, ret, &err);
    if (r >= 0)
        r = store_image_add(*ret, &img);
    /* nothing of these tests goes to the local host */
    if (r >= 0)
        r = store_host_set_admin(*ret, HOST_LOCAL, HOST_ADMIN_DRAINING, 0);
    return r;
}

static int
add_pool(struct store *s, const char *name, unsigned min, unsigned spare,
         enum placement_policy placement, const char *labels)
{
    _cleanup_free_ char *err = NULL;
    _cleanup_(strv_freep) char **l = NULL;
    struct pool p = {
        .name = (char *) name, .image = (char *) "img", .template = (char *) "test",
        .mode = POOL_MODE_FLOATING, .min = min, .spare = spare, .max = POOL_MAX_DESKTOPS,
        .placement = placement,
    };

    if (host_labels_parse(labels, &l, &err) < 0)
        return -EINVAL;
    p.host_labels = l;
    return store_pool_add(s, &p);
}

/* Waits (at most 20 s) until N hosts besides the local one are up. */
static int
wait_hosts_up(struct reconciler *r, size_t n)
{
    for (int i = 0; i < 400; i++) {
        struct host_view *v;
        size_t k = 0, up = 0;

        (void) reconciler_pass(r); /* starts the connections of new hosts */
        v = hosts_list(reconciler_get_hosts(r), &k);
        for (size_t j = 0; j < k; j++)
            up += !streq(v[j].name, HOST_LOCAL) && v[j].conn == HOST_CONN_UP &&
                  v[j].virt_type;
        host_view_list_free(v, k);
        if (up == n)
            return 0;
        usleep(50 * 1000);
    }
    return -ETIMEDOUT;
}

/* Desktops of POOL (any when NULL) on HOST in STATE (any when < 0). */
static size_t
count_on(struct store *s, const char *pool, const char *host, int state)
{
    struct desk **d = NULL;
    size_t n = 0, k = 0;

    if (store_desk_list(s, pool, &d, &n) < 0)
        return (size_t) -1;
    for (size_t i = 0; i < n; i++)
        if (streq(d[i]->host, host) && (state < 0 || d[i]->state == (enum desk_state) state))
            k++;
    desk_list_free(d, n);
    return k;
}

/* This instance's domains that libvirt on HOST has (its own connection). */
static size_t
domains_on(struct reconciler *r, const char *host)
{
    _cleanup_(hv_unrefp) struct hv *h = hosts_get_hv(reconciler_get_hosts(r), host);
    struct hv_domain *doms = NULL;
    size_t n = 0;

    if (!h || hv_domain_list(h, INSTANCE ".", &doms, &n) < 0)
        return (size_t) -1;
    hv_domain_list_free(doms, n);
    return n;
}

static double
seconds_since(uint64_t t0)
{
    return (double) (now_usec() - t0) / 1e6;
}

TEST(placement_drain_and_fill)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    struct conf c;
    unsigned n_desks = 0;

    test_conf(&c);
    ASSERT_OK(open_store("place", &s));
    /* 8 GiB each: 64 desktops of the test template (128 MiB) */
    ASSERT_OK(add_host(s, "h1", 8192, 0, 0, ""));
    ASSERT_OK(add_host(s, "h2", 8192, 0, 0, ""));
    ASSERT_OK(add_host(s, "h3", 8192, 0, 0, "gpu=yes"));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(wait_hosts_up(r, 3));

    /* spread: 4 on each, in the store and in each host's libvirt */
    ASSERT_OK(add_pool(s, "spread", 12, 0, PLACEMENT_SPREAD, ""));
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_on(s, "spread", "h1", DESK_STATE_READY), 4);
    ASSERT_EQ(count_on(s, "spread", "h2", DESK_STATE_READY), 4);
    ASSERT_EQ(count_on(s, "spread", "h3", DESK_STATE_READY), 4);
    ASSERT_EQ(count_on(s, "spread", HOST_LOCAL, -1), 0);
    ASSERT_EQ(domains_on(r, "h1"), 4);
    ASSERT_EQ(domains_on(r, "h2"), 4);
    ASSERT_EQ(domains_on(r, "h3"), 4);

    /* a label only one host has */
    ASSERT_OK(add_pool(s, "gpu", 5, 0, PLACEMENT_SPREAD, "gpu=yes"));
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_on(s, "gpu", "h3", DESK_STATE_READY), 5);
    ASSERT_EQ(domains_on(r, "h3"), 9);

    /* pack: the fullest host that fits (h3, 9 desktops) takes them all */
    ASSERT_OK(add_pool(s, "pack", 10, 0, PLACEMENT_PACK, ""));
    ASSERT_OK(reconciler_settle(r, 20));
    ASSERT_EQ(count_on(s, "pack", "h3", DESK_STATE_READY), 10);
    ASSERT_EQ(domains_on(r, "h3"), 19);

    /* filling up: 64 fit per host less what is there (4, 4, 19), and a
     * reserve of 1 GiB on h2 takes 8: 60 + 52 + 45 = 157 of 200 */
    {
        _cleanup_(host_freep) struct host *h2 = NULL;

        ASSERT_OK(store_host_get(s, "h2", &h2));
        h2->reserve_memory = 1024 * MiB;
        ASSERT_OK(store_host_update(s, h2));
    }
    ASSERT_OK(add_pool(s, "fill", 200, 0, PLACEMENT_SPREAD, ""));
    ASSERT_OK(reconciler_settle(r, 30));
    ASSERT_EQ(count_on(s, "fill", "h1", -1), 60);
    ASSERT_EQ(count_on(s, "fill", "h2", -1), 52);
    ASSERT_EQ(count_on(s, "fill", "h3", -1), 45);
    ASSERT_EQ(domains_on(r, "h1"), 64);
    ASSERT_EQ(domains_on(r, "h2"), 56);
    ASSERT_EQ(domains_on(r, "h3"), 64);
    ASSERT_OK(store_pool_mark_deleting(s, "fill", false));
    ASSERT_OK(reconciler_settle(r, 30));
    ASSERT_EQ(domains_on(r, "h1"), 4);

    /* drain h1: its 4 spares are made on h2 first; the pool never has
     * fewer than 12 ready desktops meanwhile */
    ASSERT_OK(store_host_set_admin(s, "h1", HOST_ADMIN_DRAINING, 0));
    for (int i = 0; i < 40; i++) {
        size_t ready = count_on(s, "spread", "h1", DESK_STATE_READY) +
                       count_on(s, "spread", "h2", DESK_STATE_READY) +
                       count_on(s, "spread", "h3", DESK_STATE_READY);
        int n = reconciler_pass(r);

        ASSERT_TRUE(ready >= 12);
        reconciler_wait_idle(r);
        if (n == 0 && count_on(s, "spread", "h1", -1) == 0)
            break;
    }
    ASSERT_EQ(count_on(s, "spread", "h1", -1), 0);
    ASSERT_EQ(domains_on(r, "h1"), 0);
    ASSERT_EQ(count_on(s, "spread", "h2", DESK_STATE_READY) +
              count_on(s, "spread", "h3", DESK_STATE_READY), 12);
    /* h2 has more memory left than h3 (19 + 4 there): all 4 went to h2 */
    ASSERT_EQ(count_on(s, "spread", "h2", DESK_STATE_READY), 8);
    ASSERT_OK(store_host_count_desks(s, "h1", &n_desks));
    ASSERT_EQ(n_desks, 0);
    ASSERT_OK(store_host_remove(s, "h1"));
    ASSERT_ERROR(store_host_remove(s, "h2"), EBUSY);
    /* the removed host's connection goes with the next pass */
    ASSERT_OK(reconciler_settle(r, 5));
    {
        struct host_view v = { 0 };

        ASSERT_ERROR(hosts_get_view(reconciler_get_hosts(r), "h1", &v), ENOENT);
    }
}

/* Boot storms: with host_max_starts 2 and every boot taking a second, no
 * host ever has more than 2 guests starting, and each reaches 2. */
TEST(boot_storm_limit)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_free_ char *err = NULL;
    struct reconciler *r = NULL;
    struct reconcile_stats st;
    struct conf c;
    uint64_t t0;

    test_conf(&c);
    (void) conf_set(&c, "host_max_starts", "2", &err);
    (void) conf_set(&c, "boot_delay", "1", &err);
    (void) conf_set(&c, "max_concurrent", "16", &err);
    ASSERT_OK(open_store("storm", &s));
    ASSERT_OK(add_host(s, "s1", 4096, 100, 0, NULL));
    ASSERT_OK(add_host(s, "s2", 4096, 100, 0, NULL));
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(wait_hosts_up(r, 2));
    ASSERT_OK(add_pool(s, "storm", 12, 0, PLACEMENT_SPREAD, NULL));
    t0 = now_usec();
    for (int i = 0; i < 600 && count_on(s, "storm", "s1", DESK_STATE_READY) +
                                  count_on(s, "storm", "s2", DESK_STATE_READY) < 12; i++) {
        (void) reconciler_pass(r);
        usleep(50 * 1000);
    }
    ASSERT_EQ(count_on(s, "storm", "s1", DESK_STATE_READY), 6);
    ASSERT_EQ(count_on(s, "storm", "s2", DESK_STATE_READY), 6);
    reconciler_get_stats(r, &st);
    ASSERT_EQ(st.max_starts, 2);
    printf("# 12 desktops on 2 hosts, 2 starts at a time each, 1 s per boot: %.1f s\n",
           seconds_since(t0));
    ASSERT_OK(store_pool_mark_deleting(s, "storm", true));
    for (int i = 0; i < 200 && count_on(s, "storm", "s1", -1) + count_on(s, "storm", "s2", -1);
         i++) {
        (void) reconciler_pass(r);
        usleep(20 * 1000);
    }
    r = reconciler_free(r);
}

TEST(scale_10_hosts_x_500)
{
    _cleanup_(store_closep) struct store *s = NULL;
    _cleanup_(reconciler_freep) struct reconciler *r = NULL;
    struct conf c;
    uint64_t t0;
    double idle_ms = 0;
    char name[8];

    test_conf(&c);
    ASSERT_OK(open_store("scale", &s));
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        /* 64 GiB: memory is not what limits these */
        ASSERT_OK(add_host(s, name, 65536, 500, 0, ""));
    }
    ASSERT_OK(reconciler_new(&c, s, hv, "test", &r));
    conf_done(&c);
    ASSERT_OK(wait_hosts_up(r, 10));
    ASSERT_OK(add_pool(s, "big", 5000, 0, PLACEMENT_SPREAD, ""));
    t0 = now_usec();
    ASSERT_OK(reconciler_settle(r, 40));
    printf("# 0 -> 5000 ready desktops on 10 hosts: %.1f s\n", seconds_since(t0));
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        ASSERT_EQ(count_on(s, "big", name, DESK_STATE_READY), 500);
        ASSERT_EQ(domains_on(r, name), 500);
    }
    for (int i = 0; i < 5; i++) {
        t0 = now_usec();
        ASSERT_EQ(reconciler_pass(r), 0);
        idle_ms += seconds_since(t0) * 1e3;
    }
    printf("# idle reconcile pass at 5000 desktops on 10 hosts: %.1f ms (mean of 5)\n",
           idle_ms / 5);
    /* full: max_desktops 500 each, so not one more can be placed */
    ASSERT_OK(add_pool(s, "more", 1, 0, PLACEMENT_SPREAD, ""));
    ASSERT_OK(reconciler_settle(r, 5));
    {
        struct desk **d = NULL;
        size_t n = 0;

        ASSERT_OK(store_desk_list(s, "more", &d, &n));
        desk_list_free(d, n);
        ASSERT_EQ(n, 0);
    }
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int
main(void)
{
    _cleanup_free_ char *err = NULL, *pooldir = NULL;
    int r;

    log_set_level(getenv("DP_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    pooldir = xasprintf("%s/pool", tmpdir);
    if (hv_event_loop_start() < 0 || hv_open("test:///default", &hv, &err) < 0 ||
        hv_storage_pool_ensure(hv, SPOOL, pooldir, &err) < 0) {
        fprintf(stderr, "cannot set up libvirt's test driver: %s\n", err ? err : "?");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(placement_drain_and_fill);
    RUN(boot_storm_limit);
    RUN(scale_10_hosts_x_500);
    hv = hv_unref(hv);
    r = TESTS_DONE();
    if (nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return r;
}
