/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-hv.c - the hypervisor layer against real libvirt drivers
 *
 * Always: test:///default (in-memory, one connection for the whole run,
 * since its state lives as long as the connection). With DP_TEST_QEMU=1
 * also qemu:///system: the virt type probe (must answer "qemu" on this
 * machine, where nested KVM does not run guests) and a raw upload read
 * back from disk. With DP_TEST_QEMU=1 an unreachable libvirtd is a
 * failure, not a skip. Only objects named hvdev-* are created.
 */
#include "config.h"

#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include <libvirt/virterror.h>

#include "hv-priv.h"
#include "log.h"
#include "tests.h"
#include "util.h"

#define NS_URI "https://deskpool.example/ns/1"
#define TPOOL "hvdev-tpool"
#define TPOOL_DIR "/tmp/hvdev-tpool"

static struct hv *h;
static unsigned n_events;

static const char dom_xml_fmt[] =
    "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory>"
    "<os><type>hvm</type></os>%s</domain>";

static const char meta_xml[] =
    "<metadata><dp:desk xmlns:dp='" NS_URI "'><dp:pool>p1</dp:pool></dp:desk></metadata>";

static void
on_event(void *userdata)
{
    __atomic_add_fetch((unsigned *) userdata, 1, __ATOMIC_SEQ_CST);
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void
free_names(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

TEST(errno_table)
{
    virError e = { 0 };

    e.code = VIR_ERR_NO_DOMAIN;
    ASSERT_EQ(hv_errno_from_error(&e), -ENOENT);
    e.code = VIR_ERR_NO_STORAGE_VOL;
    ASSERT_EQ(hv_errno_from_error(&e), -ENOENT);
    e.code = VIR_ERR_OPERATION_INVALID;
    ASSERT_EQ(hv_errno_from_error(&e), -EBUSY);
    e.code = VIR_ERR_AGENT_UNRESPONSIVE;
    ASSERT_EQ(hv_errno_from_error(&e), -EAGAIN);
    e.code = VIR_ERR_OPERATION_TIMEOUT;
    ASSERT_EQ(hv_errno_from_error(&e), -ETIMEDOUT);
    e.code = VIR_ERR_NO_SUPPORT;
    ASSERT_EQ(hv_errno_from_error(&e), -EOPNOTSUPP);
    e.code = VIR_ERR_DOM_EXIST;
    ASSERT_EQ(hv_errno_from_error(&e), -EEXIST);
    e.code = VIR_ERR_OPERATION_FAILED;
    ASSERT_EQ(hv_errno_from_error(&e), -EIO);
    e.message = (char *) "domain 'x' already exists with uuid y";
    ASSERT_EQ(hv_errno_from_error(&e), -EEXIST);
    e.message = NULL;
    e.code = VIR_ERR_SYSTEM_ERROR;
    ASSERT_EQ(hv_errno_from_error(&e), -EIO);
    e.int1 = EACCES;
    ASSERT_EQ(hv_errno_from_error(&e), -EACCES);
    e.code = VIR_ERR_XML_ERROR;
    ASSERT_EQ(hv_errno_from_error(&e), -EIO);
    ASSERT_EQ(hv_errno_from_error(NULL), -EIO);
}

TEST(open_bad_uri)
{
    struct hv *bad = NULL;
    _cleanup_free_ char *msg = NULL;

    ASSERT_TRUE(hv_open("nosuchdriver:///x", &bad, &msg) < 0);
    ASSERT_NULL(bad);
    ASSERT_NOT_NULL(msg);
    free(msg);
    msg = NULL;
    /* An unreachable daemon (missing socket) reads as refused, not ENOENT. */
    ASSERT_ERROR(hv_open("qemu:///system?socket=/nonexistent/hvdev-sock", &bad, &msg),
                 ECONNREFUSED);
    ASSERT_NULL(bad);
    ASSERT_NOT_NULL(strstr(msg, "/nonexistent/hvdev-sock"));
}

TEST(connection)
{
    ASSERT_STREQ(hv_uri(h), "test:///default");
    ASSERT_TRUE(hv_is_alive(h));
}

TEST(storage)
{
    _cleanup_free_ char *msg = NULL, *base = NULL, *ov = NULL, *backing = NULL;
    _cleanup_free_ char *ov2 = NULL, *dup = NULL;
    char **names = NULL;
    size_t n = 0;

    ASSERT_OK(hv_storage_pool_ensure(h, TPOOL, TPOOL_DIR, &msg));
    ASSERT_OK(hv_storage_pool_ensure(h, TPOOL, TPOOL_DIR, &msg));
    ASSERT_ERROR(hv_storage_pool_ensure(h, TPOOL, "/tmp/hvdev-elsewhere", &msg), EEXIST);
    ASSERT_NOT_NULL(msg);
    free(msg);
    msg = NULL;

    /* The golden image is not in any pool: a capacity is required. */
    ASSERT_ERROR(hv_volume_create_overlay(h, TPOOL, "hvdev-x.qcow2", "/golden/none.qcow2", 0,
                                          &dup, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    free(msg);
    msg = NULL;

    ASSERT_OK(hv_volume_create_overlay(h, TPOOL, "hvdev-base.qcow2", "/golden/img-v1.qcow2",
                                       1073741824, &base, &msg));
    ASSERT_STREQ(base, TPOOL_DIR "/hvdev-base.qcow2");
    ASSERT_ERROR(hv_volume_create_overlay(h, TPOOL, "hvdev-base.qcow2", "/golden/img-v1.qcow2",
                                          1073741824, &dup, &msg), EEXIST);
    ASSERT_NULL(dup);
    free(msg);
    msg = NULL;
    /* Capacity 0: taken from the backing volume (in a pool this time). */
    ASSERT_OK(hv_volume_create_overlay(h, TPOOL, "hvdev-ov.qcow2", base, 0, &ov, &msg));
    ASSERT_OK(hv_volume_create_overlay(h, TPOOL, "other-ov.qcow2", base, 4096, &ov2, &msg));

    ASSERT_OK(hv_volume_get_backing(h, TPOOL, "hvdev-base.qcow2", &backing));
    ASSERT_STREQ(backing, "/golden/img-v1.qcow2");
    free(backing);
    backing = NULL;
    ASSERT_OK(hv_volume_get_backing(h, TPOOL, "hvdev-ov.qcow2", &backing));
    ASSERT_STREQ(backing, base);
    ASSERT_ERROR(hv_volume_get_backing(h, TPOOL, "hvdev-missing", &dup), ENOENT);

    ASSERT_OK(hv_volume_list(h, TPOOL, "hvdev-", &names, &n));
    ASSERT_EQ(n, 2);
    ASSERT_TRUE((streq(names[0], "hvdev-base.qcow2") && streq(names[1], "hvdev-ov.qcow2")) ||
                (streq(names[1], "hvdev-base.qcow2") && streq(names[0], "hvdev-ov.qcow2")));
    free_names(names, n);
    names = NULL;

    ASSERT_OK(hv_volume_delete(h, TPOOL, "hvdev-ov.qcow2"));
    ASSERT_EQ(hv_volume_delete(h, TPOOL, "hvdev-ov.qcow2"), 0);
    ASSERT_OK(hv_volume_delete(h, TPOOL, "hvdev-base.qcow2"));
    ASSERT_OK(hv_volume_delete(h, TPOOL, "other-ov.qcow2"));
    ASSERT_ERROR(hv_volume_delete(h, "hvdev-nopool", "x"), ENOENT);
    ASSERT_OK(hv_volume_list(h, TPOOL, "hvdev-", &names, &n));
    free_names(names, n);
    ASSERT_EQ(n, 0);
}

/* The <mode> libvirt reports for volume VOL of TPOOL, as a number, or
 * -errno. */
static long
volume_mode(const char *vol)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    _cleanup_free_ char *xml = NULL;
    const char *m;

    if (hv_conn_get(h, &conn, NULL) < 0)
        return -ENOTCONN;
    pool = virStoragePoolLookupByName(conn, TPOOL);
    if (pool)
        v = virStorageVolLookupByName(pool, vol);
    if (v)
        xml = virStorageVolGetXMLDesc(v, 0);
    if (!xml)
        return -ENOENT;
    m = strstr(xml, "<mode>");
    return m ? strtol(m + strlen("<mode>"), NULL, 8) : -EINVAL;
}

/* Issue 11 #14: overlays, data disks and the probe disk are 0600. */
TEST(volume_modes)
{
    _cleanup_free_ char *msg = NULL, *ov = NULL, *blank = NULL, *raw = NULL;

    ASSERT_OK(hv_storage_pool_ensure(h, TPOOL, TPOOL_DIR, &msg));
    ASSERT_OK(hv_volume_create_overlay(h, TPOOL, "hvdev-m-ov.qcow2", "/golden/img-v1.qcow2",
                                       1073741824, &ov, &msg));
    ASSERT_OK(hv_volume_create_blank(h, TPOOL, "hvdev-m-data.qcow2", 1048576, &blank, &msg));
    ASSERT_OK(hv_volume_create_raw(h, TPOOL, "hvdev-m-raw.img", "", 0, 1048576, &raw, &msg));
    ASSERT_EQ(volume_mode("hvdev-m-ov.qcow2"), 0600);
    ASSERT_EQ(volume_mode("hvdev-m-data.qcow2"), 0600);
    ASSERT_EQ(volume_mode("hvdev-m-raw.img"), 0600);
    ASSERT_OK(hv_volume_delete(h, TPOOL, "hvdev-m-ov.qcow2"));
    ASSERT_OK(hv_volume_delete(h, TPOOL, "hvdev-m-data.qcow2"));
    ASSERT_OK(hv_volume_delete(h, TPOOL, "hvdev-m-raw.img"));
}

TEST(domains)
{
    _cleanup_free_ char *xml = NULL, *xml_meta = NULL, *msg = NULL, *meta = NULL;
    _cleanup_free_ char *json = NULL, *uuid_xml = NULL;
    struct hv_domain *list = NULL;
    size_t n = 0;
    bool active = true, exists = true;

    xml = xasprintf(dom_xml_fmt, "hvdev-d1", "");
    xml_meta = xasprintf(dom_xml_fmt, "hvdev-d1", meta_xml);

    ASSERT_ERROR(hv_domain_is_active(h, "hvdev-d1", &active), ENOENT);
    ASSERT_TRUE(hv_domain_define(h, "<domain type='test'><name>hvdev-bad", HV_DEFINE_VALIDATE,
                                 &msg) < 0);
    ASSERT_NOT_NULL(msg);
    free(msg);
    msg = NULL;

    ASSERT_OK(hv_domain_define(h, xml, HV_DEFINE_VALIDATE, &msg));
    ASSERT_OK(hv_domain_is_active(h, "hvdev-d1", &active));
    ASSERT_FALSE(active);
    ASSERT_ERROR(hv_domain_get_metadata(h, "hvdev-d1", NS_URI, &meta), ENOENT);
    /* Without the defined domain's <uuid>, libvirt refuses a redefinition. */
    ASSERT_ERROR(hv_domain_define(h, xml_meta, HV_DEFINE_VALIDATE, &msg), EEXIST);
    ASSERT_NOT_NULL(strstr(msg, "already exists"));
    free(msg);
    msg = NULL;
    ASSERT_OK(hv_domain_list(h, "hvdev-d1", &list, &n));
    ASSERT_EQ(n, 1);
    uuid_xml = xasprintf("<uuid>%s</uuid>%s", list[0].uuid, meta_xml);
    hv_domain_list_free(list, n);
    free(xml_meta);
    xml_meta = xasprintf(dom_xml_fmt, "hvdev-d1", uuid_xml);
    ASSERT_OK(hv_domain_define(h, xml_meta, HV_DEFINE_VALIDATE, &msg));
    ASSERT_OK(hv_domain_get_metadata(h, "hvdev-d1", NS_URI, &meta));
    /* libvirt hands the element back without its namespace prefix. */
    ASSERT_TRUE(strncmp(meta, "<desk>", 6) == 0);
    ASSERT_NOT_NULL(strstr(meta, "<pool>p1</pool>"));
    ASSERT_ERROR(hv_domain_get_metadata(h, "hvdev-d1", "https://other.example/", &json),
                 ENOENT);

    ASSERT_OK(hv_domain_destroy(h, "hvdev-d1")); /* not running: 0 */
    ASSERT_OK(hv_domain_start(h, "hvdev-d1", &msg));
    ASSERT_ERROR(hv_domain_start(h, "hvdev-d1", &msg), EBUSY);
    free(msg);
    msg = NULL;
    ASSERT_OK(hv_domain_is_active(h, "hvdev-d1", &active));
    ASSERT_TRUE(active);

    ASSERT_OK(hv_domain_list(h, "hvdev-", &list, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(list[0].name, "hvdev-d1");
    ASSERT_EQ(strlen(list[0].uuid), 36);
    ASSERT_TRUE(list[0].active);
    hv_domain_list_free(list, n);
    ASSERT_OK(hv_domain_list(h, "hvdev-none-", &list, &n));
    ASSERT_EQ(n, 0);
    hv_domain_list_free(list, n);

    /* The test driver has no guest agent. */
    ASSERT_ERROR(hv_domain_agent_command(h, "hvdev-d1", "{\"execute\":\"guest-ping\"}", 1,
                                         &json, &msg), EOPNOTSUPP);
    free(msg);
    msg = NULL;
    ASSERT_TRUE(hv_domain_agent_ping(h, "hvdev-d1", 1) < 0);
    ASSERT_ERROR(hv_domain_agent_ping(h, "hvdev-none", 1), ENOENT);

    ASSERT_OK(hv_snapshot_exists(h, "hvdev-d1", "s1", &exists));
    ASSERT_FALSE(exists);
    ASSERT_OK(hv_snapshot_create(h, "hvdev-d1", "s1", &msg));
    ASSERT_ERROR(hv_snapshot_create(h, "hvdev-d1", "s1", &msg), EEXIST);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(hv_snapshot_create(h, "hvdev-d1", "s<2", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_OK(hv_snapshot_exists(h, "hvdev-d1", "s1", &exists));
    ASSERT_TRUE(exists);
    ASSERT_ERROR(hv_snapshot_exists(h, "hvdev-none", "s1", &exists), ENOENT);

    ASSERT_OK(hv_domain_destroy(h, "hvdev-d1"));
    ASSERT_OK(hv_domain_is_active(h, "hvdev-d1", &active));
    ASSERT_FALSE(active);
    /* The snapshot was taken running: reverting runs the domain again. */
    ASSERT_OK(hv_snapshot_revert(h, "hvdev-d1", "s1", &msg));
    ASSERT_OK(hv_domain_is_active(h, "hvdev-d1", &active));
    ASSERT_TRUE(active);
    ASSERT_ERROR(hv_snapshot_revert(h, "hvdev-d1", "nosuch", &msg), ENOENT);
    free(msg);
    msg = NULL;

    ASSERT_OK(hv_domain_destroy(h, "hvdev-d1"));
    ASSERT_OK(hv_domain_undefine(h, "hvdev-d1"));
    ASSERT_ERROR(hv_domain_undefine(h, "hvdev-d1"), ENOENT);
    ASSERT_ERROR(hv_domain_destroy(h, "hvdev-d1"), ENOENT);
    ASSERT_ERROR(hv_domain_is_active(h, "hvdev-d1", &active), ENOENT);
    ASSERT_OK(hv_domain_list(h, "hvdev-", &list, &n));
    hv_domain_list_free(list, n);
    ASSERT_EQ(n, 0);
}

TEST(undefine_running)
{
    _cleanup_free_ char *xml = NULL, *msg = NULL;
    bool active = false;

    /* Undefining a running persistent domain leaves it transient. */
    xml = xasprintf(dom_xml_fmt, "hvdev-d2", "");
    ASSERT_OK(hv_domain_define(h, xml, HV_DEFINE_VALIDATE, &msg));
    ASSERT_OK(hv_domain_start(h, "hvdev-d2", &msg));
    ASSERT_OK(hv_snapshot_create(h, "hvdev-d2", "s1", &msg));
    ASSERT_OK(hv_domain_undefine(h, "hvdev-d2"));
    ASSERT_OK(hv_domain_is_active(h, "hvdev-d2", &active));
    ASSERT_TRUE(active);
    ASSERT_OK(hv_domain_destroy(h, "hvdev-d2"));
    ASSERT_ERROR(hv_domain_is_active(h, "hvdev-d2", &active), ENOENT);
}

TEST(events)
{
    _cleanup_free_ char *xml = NULL, *msg = NULL;
    unsigned before, i;

    xml = xasprintf(dom_xml_fmt, "hvdev-ev", "");
    ASSERT_OK(hv_set_event_callback(h, on_event, &n_events));
    ASSERT_OK(hv_domain_define(h, xml, HV_DEFINE_VALIDATE, &msg));
    before = __atomic_load_n(&n_events, __ATOMIC_SEQ_CST);
    ASSERT_OK(hv_domain_start(h, "hvdev-ev", &msg));
    for (i = 0; i < 200 && __atomic_load_n(&n_events, __ATOMIC_SEQ_CST) == before; i++)
        sleep_ms(10);
    ASSERT_TRUE(__atomic_load_n(&n_events, __ATOMIC_SEQ_CST) > before);

    /* Replaced by NULL: no more calls. */
    ASSERT_OK(hv_set_event_callback(h, NULL, NULL));
    before = __atomic_load_n(&n_events, __ATOMIC_SEQ_CST);
    ASSERT_OK(hv_domain_destroy(h, "hvdev-ev"));
    sleep_ms(300);
    ASSERT_EQ(__atomic_load_n(&n_events, __ATOMIC_SEQ_CST), before);

    /* Registered again, and left registered: hv_unref() drops it. */
    ASSERT_OK(hv_set_event_callback(h, on_event, &n_events));
    ASSERT_OK(hv_domain_start(h, "hvdev-ev", &msg));
    for (i = 0; i < 200 && __atomic_load_n(&n_events, __ATOMIC_SEQ_CST) == before; i++)
        sleep_ms(10);
    ASSERT_TRUE(__atomic_load_n(&n_events, __ATOMIC_SEQ_CST) > before);
    ASSERT_OK(hv_domain_destroy(h, "hvdev-ev"));
    ASSERT_OK(hv_domain_undefine(h, "hvdev-ev"));
}

TEST(detect_test)
{
    _cleanup_free_ char *type = NULL, *msg = NULL;

    ASSERT_OK(hv_detect_virt_type(h, TPOOL, "hvdev", 5, NULL, &type, &msg));
    ASSERT_STREQ(type, "test");
}

/* ---- qemu:///system (DP_TEST_QEMU=1) ---- */

#define QPOOL "hvdev-pool"
#define QPOOL_DIR "/var/lib/deskpool/hvdev-pool"

static struct hv *q;

TEST(qemu_open)
{
    _cleanup_free_ char *msg = NULL;
    int r;

    r = hv_open("qemu:///system", &q, &msg);
    if (r < 0)
        fprintf(stderr, "qemu:///system: %s\n", strempty(msg));
    ASSERT_OK(r);
    ASSERT_TRUE(hv_is_alive(q));
    ASSERT_OK(hv_storage_pool_ensure(q, QPOOL, QPOOL_DIR, &msg));
    ASSERT_OK(hv_storage_pool_ensure(q, QPOOL, QPOOL_DIR, &msg));
}

TEST(qemu_raw_upload)
{
    _cleanup_free_ char *path = NULL, *msg = NULL, *data = NULL, *dup = NULL;
    static const char payload[] = "deskpool raw upload check";
    size_t len = 0;

    ASSERT_NOT_NULL(q);
    ASSERT_OK(hv_volume_delete(q, QPOOL, "hvdev-raw.img"));
    ASSERT_OK(hv_volume_create_raw(q, QPOOL, "hvdev-raw.img", payload, sizeof(payload), 65536,
                                   &path, &msg));
    ASSERT_STREQ(path, QPOOL_DIR "/hvdev-raw.img");
    ASSERT_ERROR(hv_volume_create_raw(q, QPOOL, "hvdev-raw.img", payload, sizeof(payload),
                                      65536, &dup, &msg), EEXIST);
    ASSERT_OK(read_full_file(path, 1 << 20, &data, &len));
    ASSERT_EQ(len, 65536);
    ASSERT_TRUE(memcmp(data, payload, sizeof(payload)) == 0);
    ASSERT_EQ(data[65535], 0);
    ASSERT_OK(hv_volume_delete(q, QPOOL, "hvdev-raw.img"));
    ASSERT_TRUE(access(path, F_OK) < 0);
}

/* qemu-img create -f qcow2 PATH SIZE, as a child process. */
static int
make_qcow2(const char *path, const char *size)
{
    int status = 0;
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execlp("qemu-img", "qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

TEST(qemu_overlay)
{
    _cleanup_free_ char *msg = NULL, *ov = NULL, *backing = NULL, *data = NULL;
    static const char golden[] = QPOOL_DIR "/hvdev-golden.qcow2";
    uint64_t size = 0;
    size_t len = 0, i;

    ASSERT_NOT_NULL(q);
    ASSERT_OK(hv_volume_delete(q, QPOOL, "hvdev-ov.qcow2"));
    (void) unlink(golden);
    ASSERT_OK(make_qcow2(golden, "64M"));
    /* Created behind libvirt's back: found by the refresh in the call. */
    ASSERT_OK(hv_volume_create_overlay(q, QPOOL, "hvdev-ov.qcow2", golden, 0, &ov, &msg));
    ASSERT_OK(hv_volume_get_backing(q, QPOOL, "hvdev-ov.qcow2", &backing));
    ASSERT_STREQ(backing, golden);
    /* qcow2 header: magic "QFI\xfb", virtual size big-endian at offset 24. */
    ASSERT_OK(read_full_file(ov, 1 << 20, &data, &len));
    ASSERT_TRUE(len >= 32 && memcmp(data, "QFI\xfb", 4) == 0);
    for (i = 24; i < 32; i++)
        size = (size << 8) | (unsigned char) data[i];
    ASSERT_EQ(size, 64u * 1024 * 1024);
    ASSERT_OK(hv_volume_delete(q, QPOOL, "hvdev-ov.qcow2"));
    ASSERT_OK(hv_volume_delete(q, QPOOL, "hvdev-golden.qcow2"));
}

TEST(qemu_detect)
{
    _cleanup_free_ char *type = NULL, *msg = NULL;
    struct hv_domain *list = NULL;
    char **names = NULL;
    size_t n = 0, nv = 0;
    uint64_t t0;
    int r;

    ASSERT_NOT_NULL(q);
    t0 = now_usec();
    r = hv_detect_virt_type(q, QPOOL, "hvdev", 10, NULL, &type, &msg);
    if (r < 0)
        fprintf(stderr, "detect: %s\n", strempty(msg));
    ASSERT_OK(r);
    printf("detect_virt_type: '%s' in %.1f s\n", type, (double) (now_usec() - t0) / 1e6);
    ASSERT_STREQ(type, "qemu");

    /* Nothing left behind. */
    ASSERT_OK(hv_domain_list(q, "hvdev-", &list, &n));
    hv_domain_list_free(list, n);
    ASSERT_EQ(n, 0);
    ASSERT_OK(hv_volume_list(q, QPOOL, "hvdev-", &names, &nv));
    free_names(names, nv);
    ASSERT_EQ(nv, 0);
}

/* Finds NAME in the watched listing of H (prefix hvdev-w): 1 running, 0
 * shut off, -1 absent. *RET_FULL says whether it was a full listing. */
static int
watched_state(struct hv *hh, const char *name, uint64_t max_age, bool *ret_full)
{
    struct hv_domain *d = NULL;
    size_t n = 0;
    int st = -1;

    if (hv_domain_list_watched(hh, "hvdev-w", max_age, &d, &n, ret_full) < 0)
        return -2;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(d[i - 1].name, d[i].name) >= 0)
            st = -3; /* not sorted */
        else if (streq(d[i].name, name) && st != -3)
            st = d[i].active;
    }
    hv_domain_list_free(d, n);
    return st;
}

/* Waits until H has received more than EVENTS lifecycle events. */
static bool
wait_events(struct hv *hh, uint64_t events)
{
    struct hv_watch_stats st;

    for (int i = 0; i < 500; i++) {
        hv_watch_get_stats(hh, &st);
        if (st.events > events)
            return true;
        sleep_ms(10);
    }
    return false;
}

TEST(watch)
{
    _cleanup_free_ char *x1 = xasprintf(dom_xml_fmt, "hvdev-w1", "");
    _cleanup_free_ char *x2 = xasprintf(dom_xml_fmt, "hvdev-w2", "");
    _cleanup_free_ char *xo = xasprintf(dom_xml_fmt, "hvdev-x1", "");
    const uint64_t hour = 3600ULL * 1000000ULL;
    struct hv *other = NULL;
    struct hv_watch_stats st0, st;
    bool full = false;

    /* the first listing is full, later ones come from the watch */
    ASSERT_EQ(watched_state(h, "hvdev-w1", hour, &full), -1);
    ASSERT_TRUE(full);
    hv_watch_get_stats(h, &st0);
    ASSERT_EQ(watched_state(h, "hvdev-w1", hour, &full), -1);
    ASSERT_FALSE(full);
    hv_watch_get_stats(h, &st);
    ASSERT_EQ(st.cached, st0.cached + 1);
    ASSERT_EQ(st.rereads, st0.rereads); /* nothing changed: nothing read */

    /* our own changes show at once, without waiting for libvirt's event */
    ASSERT_OK(hv_domain_define(h, x1, 0, NULL));
    ASSERT_EQ(watched_state(h, "hvdev-w1", hour, &full), 0);
    ASSERT_FALSE(full);
    ASSERT_OK(hv_domain_start(h, "hvdev-w1", NULL));
    ASSERT_EQ(watched_state(h, "hvdev-w1", hour, &full), 1);
    ASSERT_FALSE(full);
    hv_watch_get_stats(h, &st);
    ASSERT_TRUE(st.rereads >= st0.rereads + 2);

    /* changes behind our back (another connection to the same driver)
     * arrive as lifecycle events */
    ASSERT_OK(hv_open("test:///default", &other, NULL));
    hv_watch_get_stats(h, &st0);
    ASSERT_OK(hv_domain_destroy(other, "hvdev-w1"));
    ASSERT_TRUE(wait_events(h, st0.events));
    ASSERT_EQ(watched_state(h, "hvdev-w1", hour, &full), 0);
    ASSERT_FALSE(full);
    hv_watch_get_stats(h, &st0);
    ASSERT_OK(hv_domain_undefine(other, "hvdev-w1"));
    ASSERT_TRUE(wait_events(h, st0.events));
    ASSERT_EQ(watched_state(h, "hvdev-w1", hour, &full), -1);
    hv_watch_get_stats(h, &st0);
    ASSERT_OK(hv_domain_define(other, xo, 0, NULL)); /* not ours: another prefix */
    ASSERT_OK(hv_domain_define(other, x2, 0, NULL));
    ASSERT_TRUE(wait_events(h, st0.events + 1));
    ASSERT_EQ(watched_state(h, "hvdev-w2", hour, &full), 0);
    ASSERT_EQ(watched_state(h, "hvdev-x1", hour, &full), -1);
    ASSERT_FALSE(full);
    hv_watch_get_stats(h, &st);
    ASSERT_EQ(st.pending, 0);

    /* the safety net: a full listing when asked, or when the last is old */
    hv_watch_invalidate(h);
    ASSERT_EQ(watched_state(h, "hvdev-w2", hour, &full), 0);
    ASSERT_TRUE(full);
    ASSERT_EQ(watched_state(h, "hvdev-w2", 0, &full), 0);
    ASSERT_TRUE(full);
    ASSERT_EQ(watched_state(h, "hvdev-w2", hour, &full), 0);
    ASSERT_FALSE(full);

    ASSERT_OK(hv_domain_undefine(other, "hvdev-w2"));
    ASSERT_OK(hv_domain_undefine(other, "hvdev-x1"));
    other = hv_unref(other);
    ASSERT_EQ(watched_state(h, "hvdev-w2", 0, &full), -1);
}

int
main(void)
{
    _cleanup_free_ char *msg = NULL;
    const char *qemu = getenv("DP_TEST_QEMU");
    int r;

    if (getenv("DP_TEST_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);

    if (hv_event_loop_start() < 0 || hv_event_loop_start() < 0) {
        fprintf(stderr, "cannot start the libvirt event loop\n");
        return 1;
    }
    r = hv_open("test:///default", &h, &msg);
    if (r < 0) {
        fprintf(stderr, "test:///default: %s\n", strempty(msg));
        return 1;
    }

    RUN(errno_table);
    RUN(open_bad_uri);
    RUN(connection);
    RUN(storage);
    RUN(volume_modes);
    RUN(domains);
    RUN(undefine_running);
    RUN(events);
    RUN(watch);
    RUN(detect_test);
    h = hv_unref(h);

    if (qemu && streq(qemu, "1")) {
        RUN(qemu_open);
        RUN(qemu_raw_upload);
        RUN(qemu_overlay);
        RUN(qemu_detect);
        q = hv_unref(q);
    } else {
        printf("skip: qemu:///system part (set DP_TEST_QEMU=1)\n");
    }
    return TESTS_DONE();
}
