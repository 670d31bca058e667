/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-clone.c - instant clones (hv-clone.c) on real QEMU with the tiny
 * guest, on qemu:///system
 *
 * Boots a parent, saves it, restores 4 clones at once from that one image
 * and checks from inside each guest through its agent: its own MAC on a
 * hot-plugged NIC, host name and VM generation ID; a file written in one
 * clone absent in the others; clocks within 1 s of the host; the parent's
 * files (golden image, parent overlay, saved image) unchanged. Then the
 * wipe at logout (destroy, fresh overlay, restore again), a successor
 * restored paused and resumed later, a cancelled restore, and damaged
 * saved images (header bytes, a compressed or paused header, a truncated
 * stream, a broken stream), each refused with a clear message and leaving
 * no domain. Everything is named ic-test-PID-*.
 *
 * Exits 77 (skip) with a reason when not root, when the tiny guest is not
 * built or when no libvirtd answers; with all three present every failure
 * is a FAIL.
 */
#include "config.h"

#include <sys/wait.h>

#include "clone-lib.h"
#include "log.h"
#include "tests.h"

#define N_CLONES 4

static struct ic_env env;
static struct ic_clone clones[N_CLONES];
static bool parent_ok, clones_ok;
static char sha_golden[65], sha_parent[65], sha_saved[65];
static char *genids[N_CLONES];

/* True when no domain named NAME exists (running or defined). */
static bool
domain_absent(const char *name)
{
    bool active;

    return hv_domain_is_active(env.h, name, &active) == -ENOENT;
}

TEST(parent)
{
    _cleanup_free_ char *err = NULL;
    char before[65];
    double boot = 0, save = 0;
    int r;

    ASSERT_OK(ic_sha256_file(env.golden, before));
    r = ic_parent_build(&env, &boot, &save, &err);
    if (r < 0)
        fprintf(stderr, "parent: %s\n", strempty(err));
    ASSERT_OK(r);
    printf("parent: boot until the agent answers %.2f s, save %.2f s, image %" PRIu64
           " bytes\n", boot, save, env.img.size);
    /* the parent is gone (undefined after its save) and its image is ours */
    ASSERT_TRUE(domain_absent(env.parent_name));
    ASSERT_FALSE(strstr(env.img.xml, "<interface"));
    ASSERT_TRUE(strstr(env.img.xml, "<genid>") != NULL);
    ASSERT_NOT_NULL(env.img.cookie);
    ASSERT_OK(ic_sha256_file(env.golden, sha_golden));
    ASSERT_STREQ(sha_golden, before);
    ASSERT_OK(ic_sha256_file(env.parent_overlay, sha_parent));
    ASSERT_OK(ic_sha256_file(env.saved, sha_saved));
    /* saving again over it is refused */
    ASSERT_ERROR(hv_parent_save(env.h, env.parent_name, env.saved, NULL), EEXIST);
    parent_ok = true;
}

TEST(clones_concurrent)
{
    double all;

    ASSERT_TRUE(parent_ok);
    for (unsigned i = 0; i < N_CLONES; i++)
        ic_clone_init(&clones[i], &env, i);
    all = ic_clones_make(clones, N_CLONES);
    for (unsigned i = 0; i < N_CLONES; i++) {
        struct ic_clone *c = &clones[i];

        if (c->r < 0)
            fprintf(stderr, "%s: %s\n", c->name, strempty(c->err));
        ASSERT_OK(c->r);
        printf("  %s: overlay %.3f restore %.2f (FIFO open %.3f, header %.3f, stream %.2f) "
               "agent %.2f identity %.2f ready %.2f s\n", c->name, c->t_overlay, c->t_restore,
               ic_sec(c->stats.open_usec), ic_sec(c->stats.head_usec),
               ic_sec(c->stats.stream_usec), c->t_agent, c->t_identity, c->t_ready);
        ASSERT_TRUE(c->stats.bytes >= env.img.size - env.img.stream_offset);
    }
    printf("%d clones at once: all ready in %.2f s\n", N_CLONES, all);
    clones_ok = true;
}

TEST(identity)
{
    _cleanup_free_ char *parent_genid = NULL;

    ASSERT_TRUE(clones_ok);
    /* the parent's genid is the one in its saved XML */
    {
        const char *p = strstr(env.img.xml, "<genid>");

        ASSERT_NOT_NULL(p);
        parent_genid = strndup(p + 7, 36);
    }
    for (unsigned i = 0; i < N_CLONES; i++) {
        struct ic_clone *c = &clones[i];
        _cleanup_free_ char *mac = NULL, *host = NULL, *live_genid = NULL, *want = NULL;

        ASSERT_OK(ic_guest_line(env.h, c->name, ic_guest_mac_sh, &mac));
        printf("  %s: NIC seen by the guest: %s\n", c->name, mac);
        ASSERT_TRUE(strncmp(mac, "pci ", 4) == 0 || strncmp(mac, "driver ", 7) == 0);
        ASSERT_STREQ(strchr(mac, ' ') + 1, c->mac);
        ASSERT_OK(ic_guest_line(env.h, c->name, "hostname", &host));
        ASSERT_STREQ(host, c->hostname);

        ASSERT_OK(hv_domain_get_genid(env.h, c->name, &live_genid));
        ASSERT_OK(ic_guest_line(env.h, c->name, ic_guest_genid_sh, &genids[i]));
        printf("  %s: genid %s (libvirt %s)\n", c->name, genids[i], live_genid);
        ASSERT_STREQ(genids[i], live_genid);
        ASSERT_TRUE(!streq(genids[i], parent_genid));
        for (unsigned j = 0; j < i; j++)
            ASSERT_TRUE(!streq(genids[i], genids[j]));
        /* the attach is idempotent */
        want = xasprintf("<interface type='user'><mac address='%s'/><model type='virtio'/>"
                         "</interface>", c->mac);
        ASSERT_OK(hv_clone_attach_nic(env.h, c->name, want, NULL));
    }
    /* distinct MACs follow from distinct c->mac, checked above */
}

TEST(files_and_clock)
{
    _cleanup_free_ char *out = NULL;

    ASSERT_TRUE(clones_ok);
    ASSERT_OK(ic_guest_line(env.h, clones[0].name,
                            "echo mine > /mnt/data/only-in-c0 && sync && cat /mnt/data/only-in-c0",
                            &out));
    ASSERT_STREQ(out, "mine");
    for (unsigned i = 0; i < N_CLONES; i++) {
        _cleanup_free_ char *seen = NULL, *parent = NULL;
        double off = 99;

        ASSERT_OK(ic_guest_line(env.h, clones[i].name,
                                "[ -e /mnt/data/only-in-c0 ] && echo yes || echo no", &seen));
        ASSERT_STREQ(seen, i == 0 ? "yes" : "no");
        ASSERT_OK(ic_guest_line(env.h, clones[i].name, "cat /mnt/data/parent-file", &parent));
        ASSERT_STREQ(parent, "parent");
        ASSERT_OK(ic_clock_offset(env.h, clones[i].name, &off));
        printf("  %s: clock %+.3f s from the host\n", clones[i].name, off);
        ASSERT_TRUE(off > -1.0 && off < 1.0);
    }
}

/* The wipe at logout: destroy, a fresh overlay, restore again. */
TEST(second_round)
{
    struct ic_clone *c = &clones[0];
    _cleanup_free_ char *seen = NULL, *genid = NULL;
    double off = 99;

    ASSERT_TRUE(clones_ok);
    ASSERT_OK(ic_clone_wipe(c));
    ASSERT_TRUE(domain_absent(c->name));
    ic_clone_make(c);
    if (c->r < 0)
        fprintf(stderr, "%s: %s\n", c->name, strempty(c->err));
    ASSERT_OK(c->r);
    printf("  wipe + restore of %s: ready %.2f s (restore %.2f, agent %.2f, identity %.2f)\n",
           c->name, c->t_ready, c->t_restore, c->t_agent, c->t_identity);
    ASSERT_OK(ic_guest_line(env.h, c->name,
                            "[ -e /mnt/data/only-in-c0 ] && echo yes || echo no", &seen));
    ASSERT_STREQ(seen, "no");
    ASSERT_OK(ic_guest_line(env.h, c->name, ic_guest_genid_sh, &genid));
    ASSERT_TRUE(!streq(genid, genids[0]));
    ASSERT_OK(ic_clock_offset(env.h, c->name, &off));
    ASSERT_TRUE(off > -1.0 && off < 1.0);
    /* restoring over a running clone is refused and leaves it running */
    {
        _cleanup_free_ char *xml = NULL, *err = NULL;
        struct tmpl_fill f = { .name = c->name, .uuid = c->uuid, .disk_path = c->overlay,
                               .disk_format = "qcow2" };
        bool active = false;

        ASSERT_OK(tmpl_clone_xml(env.img.xml, &f, &xml, NULL));
        ASSERT_ERROR(hv_clone_restore(env.h, env.saved, xml, &err), EEXIST);
        ASSERT_OK(hv_domain_is_active(env.h, c->name, &active));
        ASSERT_TRUE(active);
    }
}

/* A successor made ahead of need: restored paused, NIC attached while
 * paused, then resumed and identified (what a logout could use). */
TEST(successor)
{
    struct ic_clone c;
    _cleanup_free_ char *mac = NULL, *host = NULL;
    double off = 99;

    ASSERT_TRUE(parent_ok);
    ic_clone_init(&c, &env, 50);
    ic_clone_prepare_paused(&c);
    if (c.r < 0)
        fprintf(stderr, "%s: %s\n", c.name, strempty(c.err));
    ASSERT_OK(c.r);
    /* paused: the agent cannot answer, a second resume is refused after */
    ASSERT_TRUE(hv_domain_agent_ping(env.h, c.name, 1) < 0);
    ic_clone_activate(&c);
    if (c.r < 0)
        fprintf(stderr, "%s: %s\n", c.name, strempty(c.err));
    ASSERT_OK(c.r);
    printf("  successor %s: resume to ready %.2f s (agent %.2f, clock %.2f, host name %.2f)\n",
           c.name, c.t_ready, c.t_agent, c.t_time, c.t_host);
    ASSERT_ERROR(hv_domain_resume(env.h, c.name, NULL), EBUSY);
    ASSERT_OK(ic_guest_line(env.h, c.name, ic_guest_mac_sh, &mac));
    ASSERT_STREQ(strchr(mac, ' ') + 1, c.mac);
    ASSERT_OK(ic_guest_line(env.h, c.name, "hostname", &host));
    ASSERT_STREQ(host, c.hostname);
    ASSERT_OK(ic_clock_offset(env.h, c.name, &off));
    ASSERT_TRUE(off > -1.0 && off < 1.0);
    ASSERT_OK(ic_clone_wipe(&c));
    ASSERT_TRUE(domain_absent(c.name));
    ASSERT_EQ(hv_clone_destroy(env.h, c.name), -ENOENT);
    ic_clone_done(&c);
}

struct cancel_arg {
    atomic_bool flag;
    unsigned after_ms;
};

static void *
cancel_later(void *arg)
{
    struct cancel_arg *a = arg;

    usleep(a->after_ms * 1000);
    atomic_store(&a->flag, true);
    return NULL;
}

TEST(cancel)
{
    _cleanup_free_ char *uuid = ic_uuid(), *xml = NULL, *err = NULL, *path = NULL;
    _cleanup_free_ char *name = xasprintf("%s-cancel", env.prefix);
    _cleanup_free_ char *vol = xasprintf("%s-cancel.qcow2", env.prefix);
    struct cancel_arg a = { .after_ms = 50 };
    struct hv_clone_opts o = { .cancel = &a.flag };
    struct tmpl_fill f = { .name = name, .uuid = uuid, .disk_format = "qcow2" };
    pthread_t t;
    int r;

    ASSERT_TRUE(parent_ok);
    atomic_init(&a.flag, false);
    ASSERT_OK(hv_volume_create_overlay(env.h, env.prefix, vol, env.parent_overlay, 0, &path,
                                       NULL));
    f.disk_path = path;
    ASSERT_OK(tmpl_clone_xml(env.img.xml, &f, &xml, NULL));
    ASSERT_EQ(pthread_create(&t, NULL, cancel_later, &a), 0);
    r = hv_clone_restore_full(env.h, env.saved, xml, &o, NULL, &err);
    pthread_join(t, NULL);
    printf("  cancelled after 50 ms: %d (%s)\n", r, strempty(err));
    ASSERT_EQ(r, -ECANCELED);
    ASSERT_TRUE(domain_absent(name));
    /* already cancelled before the call */
    free(err);
    err = NULL;
    r = hv_clone_restore_full(env.h, env.saved, xml, &o, NULL, &err);
    ASSERT_EQ(r, -ECANCELED);
    ASSERT_TRUE(domain_absent(name));
    ASSERT_OK(hv_volume_delete(env.h, env.prefix, vol));
}

/* Copies the saved image to PATH (0600). */
static int
copy_file(const char *from, const char *to)
{
    _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    _cleanup_free_ char *buf = xmalloc0(1 << 20);
    ssize_t k;

    if (in < 0 || out < 0)
        return -errno;
    while ((k = read(in, buf, 1 << 20)) > 0)
        if (write(out, buf, (size_t) k) != k)
            return -EIO;
    return k < 0 ? -errno : 0;
}

/* Restores a clone named NAME from the damaged image BAD: it must fail
 * with EXPECTED (0: any error) and a message, and leave no domain. */
static int
restore_bad(const char *bad, const char *name, const char *disk, int expected,
            const char *what)
{
    _cleanup_free_ char *uuid = ic_uuid(), *xml = NULL, *err = NULL;
    struct tmpl_fill f = { .name = name, .uuid = uuid, .disk_path = disk,
                           .disk_format = "qcow2" };
    int r;

    if (tmpl_clone_xml(env.img.xml, &f, &xml, NULL) < 0)
        return -EINVAL;
    r = hv_clone_restore(env.h, bad, xml, &err);
    printf("  %s: %s (%s)\n", what, strerror(-r), strempty(err));
    if (r >= 0 || !err || !*err)
        return -EINVAL;
    if (expected != 0 && r != -expected)
        return -EINVAL;
    if (!domain_absent(name))
        return -EEXIST;
    return 0;
}

TEST(corrupt_images)
{
    _cleanup_free_ char *bad = xasprintf("%s/bad.save", env.parent_dir);
    _cleanup_free_ char *name = xasprintf("%s-bad", env.prefix);
    _cleanup_free_ char *vol = xasprintf("%s-bad.qcow2", env.prefix), *disk = NULL;
    _cleanup_close_ int fd = -1;
    unsigned char orig[4], flip[4];
    uint32_t v;
    struct stat st;

    ASSERT_TRUE(parent_ok);
    ASSERT_OK(hv_volume_create_overlay(env.h, env.prefix, vol, env.parent_overlay, 0, &disk,
                                       NULL));
    ASSERT_OK(copy_file(env.saved, bad));
    fd = open(bad, O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);

    /* the copy itself restores: a control for what follows */
    {
        _cleanup_free_ char *uuid = ic_uuid(), *xml = NULL, *err = NULL;
        struct tmpl_fill f = { .name = name, .uuid = uuid, .disk_path = disk,
                               .disk_format = "qcow2" };

        ASSERT_OK(tmpl_clone_xml(env.img.xml, &f, &xml, NULL));
        ASSERT_OK(hv_clone_restore(env.h, bad, xml, &err));
        ASSERT_OK(hv_domain_destroy(env.h, name));
        ASSERT_TRUE(domain_absent(name));
    }
    ASSERT_OK(hv_volume_delete(env.h, env.prefix, vol));
    free(disk);
    disk = NULL;
    ASSERT_OK(hv_volume_create_overlay(env.h, env.prefix, vol, env.parent_overlay, 0, &disk,
                                       NULL));

    /* magic: one byte flipped */
    ASSERT_EQ(pread(fd, orig, 1, 3), 1);
    flip[0] = orig[0] ^ 0x20;
    ASSERT_EQ(pwrite(fd, flip, 1, 3), 1);
    ASSERT_OK(restore_bad(bad, name, disk, EBADMSG, "magic flipped"));
    ASSERT_EQ(pwrite(fd, orig, 1, 3), 1);
    /* data_len (offset 20) made huge */
    ASSERT_EQ(pread(fd, orig, 4, 20), 4);
    v = htole32(0x7fffff00u);
    ASSERT_EQ(pwrite(fd, &v, 4, 20), 4);
    ASSERT_OK(restore_bad(bad, name, disk, EBADMSG, "XML length damaged"));
    ASSERT_EQ(pwrite(fd, orig, 4, 20), 4);
    /* cookieOffset (offset 32) pointing into the XML */
    ASSERT_EQ(pread(fd, orig, 4, 32), 4);
    v = htole32(100);
    ASSERT_EQ(pwrite(fd, &v, 4, 32), 4);
    ASSERT_OK(restore_bad(bad, name, disk, EBADMSG, "cookie offset damaged"));
    ASSERT_EQ(pwrite(fd, orig, 4, 32), 4);
    /* compressed (offset 28) */
    ASSERT_EQ(pread(fd, orig, 4, 28), 4);
    v = htole32(1);
    ASSERT_EQ(pwrite(fd, &v, 4, 28), 4);
    ASSERT_OK(restore_bad(bad, name, disk, EOPNOTSUPP, "compressed"));
    ASSERT_EQ(pwrite(fd, orig, 4, 28), 4);
    /* saved paused (was_running, offset 24) */
    ASSERT_EQ(pread(fd, orig, 4, 24), 4);
    v = htole32(0);
    ASSERT_EQ(pwrite(fd, &v, 4, 24), 4);
    ASSERT_OK(restore_bad(bad, name, disk, EOPNOTSUPP, "saved paused"));
    ASSERT_EQ(pwrite(fd, orig, 4, 24), 4);
    /* the first section byte after QEMU's "QEVM" + version: QEMU refuses */
    ASSERT_EQ(pread(fd, orig, 1, (off_t) env.img.stream_offset + 8), 1);
    flip[0] = 0x55;
    ASSERT_EQ(pwrite(fd, flip, 1, (off_t) env.img.stream_offset + 8), 1);
    ASSERT_OK(restore_bad(bad, name, disk, 0, "QEMU stream damaged"));
    ASSERT_EQ(pwrite(fd, orig, 1, (off_t) env.img.stream_offset + 8), 1);
    /* the stream cut in half */
    ASSERT_EQ(fstat(fd, &st), 0);
    ASSERT_EQ(ftruncate(fd, st.st_size / 2), 0);
    ASSERT_OK(restore_bad(bad, name, disk, EBADMSG, "truncated"));
    /* an incomplete save (libvirt's partial magic) */
    ASSERT_EQ(pwrite(fd, "LibvirtQemudPart", 16, 0), 16);
    ASSERT_OK(restore_bad(bad, name, disk, EBADMSG, "incomplete save"));
    unlink(bad);
    ASSERT_OK(hv_volume_delete(env.h, env.prefix, vol));
}

TEST(bad_inputs)
{
    _cleanup_free_ char *err = NULL, *xml = NULL, *loose = NULL, *uuid = ic_uuid();
    _cleanup_free_ char *name = xasprintf("%s-x", env.prefix);
    struct tmpl_fill f = { .name = name, .uuid = uuid, .disk_path = "/nonexistent.qcow2",
                           .disk_format = "qcow2" };

    ASSERT_TRUE(parent_ok);
    ASSERT_OK(tmpl_clone_xml(env.img.xml, &f, &xml, NULL));
    /* a clone XML with a NIC is refused before anything runs */
    {
        _cleanup_free_ char *nic = xasprintf("%.*s<interface type='user'/>%s",
                                             (int) (strstr(xml, "</devices>") - xml), xml,
                                             strstr(xml, "</devices>"));

        ASSERT_ERROR(hv_clone_restore(env.h, env.saved, nic, &err), EINVAL);
        ASSERT_ERROR(tmpl_clone_xml(nic, &f, &loose, NULL), EINVAL);
    }
    /* a FIFO directory others can enter is refused */
    {
        struct hv_clone_opts o = { .fifo_dir = "/tmp" };

        free(err);
        err = NULL;
        ASSERT_ERROR(hv_clone_restore_full(env.h, env.saved, xml, &o, NULL, &err), EPERM);
        printf("  FIFO in /tmp: %s\n", err);
    }
    /* a missing overlay: libvirt refuses, nothing is left */
    free(err);
    err = NULL;
    ASSERT_TRUE(hv_clone_restore(env.h, env.saved, xml, &err) < 0);
    printf("  missing overlay: %s\n", strempty(err));
    ASSERT_TRUE(domain_absent(name));
    /* a parent with a NIC cannot be saved: tested on a clone with one attached */
    ASSERT_ERROR(hv_parent_save(env.h, clones[1].name, "/tmp/ic-never.save", NULL), EINVAL);
    ASSERT_TRUE(access("/tmp/ic-never.save", F_OK) < 0);
}

TEST(parent_unchanged)
{
    char now[65];
    unsigned fifos = 99;

    ASSERT_TRUE(parent_ok);
    /* stop the clones first: libvirt holds the backing files open */
    for (unsigned i = 0; i < N_CLONES; i++)
        (void) hv_domain_destroy(env.h, clones[i].name);
    ASSERT_OK(ic_sha256_file(env.golden, now));
    ASSERT_STREQ(now, sha_golden);
    ASSERT_OK(ic_sha256_file(env.parent_overlay, now));
    ASSERT_STREQ(now, sha_parent);
    ASSERT_OK(ic_sha256_file(env.saved, now));
    ASSERT_STREQ(now, sha_saved);
    /* no FIFO was left behind */
    ASSERT_OK(hv_clone_fifos_cleanup(env.parent_dir, &fifos));
    ASSERT_EQ(fifos, 0);
}

int
main(void)
{
    _cleanup_free_ char *reason = NULL, *err = NULL, *prefix = NULL;
    const char *srcdir = getenv("DP_SRCDIR") ? getenv("DP_SRCDIR") : TEST_SRCDIR;
    int r, status;

    log_set_level(getenv("DP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
    reason = ic_env_skip_reason(srcdir);
    if (reason) {
        printf("skip: %s\n", reason);
        return 77;
    }
    prefix = xasprintf("ic-test-%d", (int) getpid());
    r = ic_env_setup(&env, srcdir, prefix, &err);
    if (r == -ECONNREFUSED || r == -ENOENT) {
        printf("skip: no libvirtd on qemu:///system (%s)\n", strempty(err));
        ic_env_teardown(&env);
        ic_env_done(&env);
        return 77;
    }
    if (r < 0) {
        printf("FAIL: setup: %s\n", strempty(err));
        ic_env_teardown(&env);
        ic_env_done(&env);
        return 1;
    }
    RUN(parent);
    RUN(clones_concurrent);
    RUN(identity);
    RUN(files_and_clock);
    RUN(second_round);
    RUN(successor);
    RUN(cancel);
    RUN(corrupt_images);
    RUN(bad_inputs);
    RUN(parent_unchanged);
    ic_env_teardown(&env);
    for (unsigned i = 0; i < N_CLONES; i++) {
        ic_clone_done(&clones[i]);
        free(genids[i]);
    }
    ic_env_done(&env);
    status = TESTS_DONE();
    return status;
}
