/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-tmpl.c - tests for tmpl.c: xml2xml round-trips, errors, metadata
 *
 * Round-trips (libvirt's xml2xml style): each tests/data/tmpl/NAME.in.xml
 * is filled with fixed values (plus graphics_listen "127.0.0.1" when NAME
 * starts with "listen-") and compared byte for byte with NAME.out.xml;
 * DP_REGENERATE=1 rewrites the .out files instead. The last
 * tests use libvirt's in-memory test:///default driver (per process, no
 * daemon) to prove that libvirt accepts the filled XML and that
 * desk_meta_parse() reads what virDomainGetMetadata() gives back, and
 * run virt-xml-validate on the production template when it is installed.
 * With DP_TEST_QEMU=1, console passwords are set for real on transient
 * qemu:///system domains named tmpldev2-* (and the test fails if libvirtd
 * cannot be reached).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tests.h"
#include "tmpl.h"
#include "util.h"

#define RT_UUID "6c1f0c0e-3b0a-4d55-9a57-0f3a2b1c9d11"

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virConnectPtr, virConnectClose, virt_connect_closep);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(virDomainPtr, virDomainFree, virt_domain_freep);

static const struct desk_meta rt_meta = {
    .instance = "host-a",
    .pool = "radiology",
    .desktop = "radiology-0007",
    .image = "win-clinical",
    .image_version = 12,
};

static const struct tmpl_fill rt_fill_base = {
    .virt_type = "qemu",
    .uuid = RT_UUID,
    .disk_path = "/pool/rt.qcow2",
    .disk_format = "qcow2",
    .meta = &rt_meta,
};

static char *
fill_file(const char *path, const struct tmpl_fill *f)
{
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *err = NULL;
    char *xml = NULL;

    if (tmpl_load_file(path, &t, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, strempty(err));
        return NULL;
    }
    if (tmpl_fill(t, f, &xml, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, strempty(err));
        return NULL;
    }
    return xml;
}

TEST(roundtrip)
{
    const char *cases[] = {
        "minimal", "alias-second-disk", "metadata-other-ns", "source-backingstore",
        "no-name-uuid", "listen-vnc", "listen-spice",
    };
    bool regen = streq_ptr(getenv("DP_REGENERATE"), "1");
    unsigned seen = 0;
    DIR *d;
    struct dirent *de;

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *in = xasprintf("%s/tmpl/%s.in.xml", TEST_DATA_DIR, cases[i]);
        _cleanup_free_ char *out = xasprintf("%s/tmpl/%s.out.xml", TEST_DATA_DIR, cases[i]);
        _cleanup_free_ char *name = xasprintf("rt-%s", cases[i]);
        _cleanup_free_ char *xml = NULL, *expected = NULL;
        struct tmpl_fill f = rt_fill_base;

        f.name = name;
        /* the "listen-" cases force the console listen address */
        if (strncmp(cases[i], "listen-", 7) == 0)
            f.graphics_listen = "127.0.0.1";
        xml = fill_file(in, &f);
        ASSERT_NOT_NULL(xml);
        if (regen) {
            ASSERT_OK(write_file_atomic(out, xml, strlen(xml), 0644));
            continue;
        }
        ASSERT_OK(read_full_file(out, 1024 * 1024, &expected, NULL));
        if (!streq(xml, expected)) {
            fprintf(stderr, "%s differs; got:\n%s\n", out, xml);
            ASSERT_STREQ(xml, expected);
        }
    }

    /* Every .in.xml in the directory is listed above. */
    d = opendir(TEST_DATA_DIR "/tmpl");
    ASSERT_NOT_NULL(d);
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".in.xml"))
            seen++;
    closedir(d);
    ASSERT_EQ(seen, ELEMENTSOF(cases));
}

/* Content checks that do not depend on the .out files being right. */
TEST(fill_content)
{
    _cleanup_free_ char *xml = NULL;
    struct tmpl_fill f = rt_fill_base;

    f.name = "rt-x";
    xml = fill_file(TEST_DATA_DIR "/tmpl/source-backingstore.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_TRUE(strstr(xml, "<domain type=\"qemu\""));
    ASSERT_TRUE(strstr(xml, "<name>rt-x</name>"));
    ASSERT_TRUE(strstr(xml, "<uuid>" RT_UUID "</uuid>"));
    ASSERT_TRUE(strstr(xml, "<disk type=\"file\" device=\"disk\">"));
    ASSERT_TRUE(strstr(xml, "<driver name=\"qemu\" type=\"qcow2\" cache=\"writeback\" "
                       "discard=\"unmap\"/>"));
    ASSERT_TRUE(strstr(xml, "<source file=\"/pool/rt.qcow2\"/>"));
    ASSERT_NULL(strstr(xml, "backingStore"));
    ASSERT_NULL(strstr(xml, "nbd"));
    ASSERT_TRUE(strstr(xml, "<deskpool:image-version>12</deskpool:image-version>"));
    free(xml);

    xml = fill_file(TEST_DATA_DIR "/tmpl/metadata-other-ns.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_TRUE(strstr(xml, "<app:ward>Cardiology</app:ward>"));
    ASSERT_NULL(strstr(xml, "stale"));
    ASSERT_TRUE(strstr(xml, "&amp; friends"));
    free(xml);

    /* the alias-marked disk wins over the first disk */
    xml = fill_file(TEST_DATA_DIR "/tmpl/alias-second-disk.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_TRUE(strstr(xml, "/data/scratch.img"));
    ASSERT_TRUE(strstr(xml, "/iso/tools.iso"));
    ASSERT_NULL(strstr(xml, "/dev/vg/system"));
}

TEST(fill_bad_values)
{
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *err = NULL, *xml = NULL;
    struct tmpl_fill f = rt_fill_base;

    ASSERT_OK(tmpl_load_file(TEST_DATA_DIR "/tmpl/minimal.in.xml", &t, &err));
    f.name = "rt";
    f.uuid = "not-a-uuid";
    ASSERT_ERROR(tmpl_fill(t, &f, &xml, &err), EINVAL);
    ASSERT_STREQ(err, "UUID 'not-a-uuid' is not valid.");
    ASSERT_NULL(xml);
    f.uuid = RT_UUID;
    f.disk_path = "relative.qcow2";
    ASSERT_ERROR(tmpl_fill(t, &f, &xml, &err), EINVAL);
    f.disk_path = "/p.qcow2";
    f.virt_type = "kvm'";
    ASSERT_ERROR(tmpl_fill(t, &f, &xml, &err), EINVAL);
    f.virt_type = "kvm";
    f.meta = NULL;
    ASSERT_OK(tmpl_fill(t, &f, &xml, &err));
    ASSERT_TRUE(strstr(xml, "<metadata/>"));
    ASSERT_NULL(strstr(xml, "deskpool"));
}

/* Runs FN with stderr sent to a temporary file; returns what was written. */
static char *
capture_stderr_load(const char *xml, int *ret_r, char **err)
{
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    char path[] = "/tmp/tmpldev-stderr-XXXXXX";
    char *data = NULL;
    int fd, saved;

    fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    *ret_r = tmpl_load_string(xml, &t, err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    if (read_full_file(path, 65536, &data, NULL) < 0)
        data = NULL;
    unlink(path);
    return data;
}

TEST(load_errors)
{
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *err = NULL, *printed = NULL, *big = NULL, *path = NULL;
    int r = 0, fd;

    printed = capture_stderr_load("<domain><devices>\n<disk></devices></domain>", &r, &err);
    ASSERT_ERROR(r, EINVAL);
    ASSERT_STREQ(printed, "");  /* libxml2 printed nothing */
    ASSERT_STREQ(err, "Template '(inline)' is not well-formed XML: Opening and ending tag "
                 "mismatch: disk line 2 and devices at line 2.");

    ASSERT_ERROR(tmpl_load_string("this is not xml", &t, &err), EINVAL);
    ASSERT_STREQ(err, "Template '(inline)' is not well-formed XML: Start tag expected, "
                 "'<' not found at line 1.");
    ASSERT_ERROR(tmpl_load_string("", &t, &err), EINVAL);
    ASSERT_TRUE(strstr(err, "is not well-formed XML"));

    ASSERT_ERROR(tmpl_load_string("<network><name>x</name></network>", &t, &err), EINVAL);
    ASSERT_STREQ(err, "Template '(inline)' has root element <network>, expected <domain>.");

    ASSERT_ERROR(tmpl_load_string("<domain><devices><disk device='cdrom'/></devices></domain>",
                                  &t, &err), EINVAL);
    ASSERT_STREQ(err, "Template '(inline)' has no <disk device='disk'> under <devices>.");
    ASSERT_ERROR(tmpl_load_string("<domain><disk/></domain>", &t, &err), EINVAL);

    ASSERT_ERROR(tmpl_load_string("<domain><devices><disk device='cdrom'>"
                                  "<alias name='ua-system'/></disk><disk/></devices></domain>",
                                  &t, &err), EINVAL);
    ASSERT_STREQ(err, "Template '(inline)' marks <disk device='cdrom'> with alias "
                 "'ua-system'; the system disk must have device='disk'.");

    ASSERT_ERROR(tmpl_load_file("/nonexistent/tmpldev.xml", &t, &err), ENOENT);
    ASSERT_STREQ(err, "Template 'tmpldev.xml' cannot be read: No such file or directory.");
    ASSERT_NULL(t);

    /* 2 MiB: a well-formed document that is simply too large */
    big = xmalloc0(2 * 1024 * 1024 + 1);
    memset(big, ' ', 2 * 1024 * 1024);
    memcpy(big, "<domain><devices><disk/></devices></domain>", 43);
    ASSERT_ERROR(tmpl_load_string(big, &t, &err), EINVAL);
    ASSERT_STREQ(err, "Template '(inline)' is larger than 1 MiB.");
    path = xasprintf("/tmp/tmpldev-big-%d.xml", (int) getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, big, strlen(big)), (long long) strlen(big));
    close(fd);
    r = tmpl_load_file(path, &t, &err);
    unlink(path);
    ASSERT_ERROR(r, EINVAL);
    free(big);
    big = xasprintf("Template 'tmpldev-big-%d.xml' is larger than 1 MiB.", (int) getpid());
    ASSERT_STREQ(err, big);
    ASSERT_NULL(t);
}

TEST(xxe_not_expanded)
{
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *err = NULL, *xml = NULL, *secret = NULL, *printed = NULL;
    int fd, r = 0;
    char path[] = "/tmp/tmpldev-secret-XXXXXX";

    fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, "TOPSECRET", 9), 9);
    close(fd);
    xml = xasprintf("<?xml version='1.0'?>\n"
                    "<!DOCTYPE domain [ <!ENTITY xxe SYSTEM 'file://%s'> ]>\n"
                    "<domain><name>&xxe;</name><devices><disk/></devices></domain>", path);
    printed = capture_stderr_load(xml, &r, &err);
    unlink(path);
    ASSERT_ERROR(r, EINVAL);
    ASSERT_STREQ(printed, "");
    ASSERT_STREQ(err, "Template '(inline)' has a <!DOCTYPE>; templates may not declare a "
                 "DTD or entities.");
    ASSERT_NULL(strstr(err, "TOPSECRET"));
    ASSERT_NULL(t);

    /* billion laughs: refused the same way, quickly */
    ASSERT_ERROR(tmpl_load_string("<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'>"
                                  "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
                                  "<domain><name>&b;</name><devices><disk/></devices>"
                                  "</domain>", &t, &err), EINVAL);

    /* the metadata parser refuses a DOCTYPE as well */
    {
        struct desk_meta m = {};
        _cleanup_free_ char *mx = xasprintf(
            "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/hostname'>]>"
            "<d:desktop xmlns:d='%s'><d:instance>&x;</d:instance><d:pool>p</d:pool>"
            "<d:desktop-name>n</d:desktop-name><d:image>i</d:image>"
            "<d:image-version>1</d:image-version></d:desktop>", DP_METADATA_NS);

        ASSERT_ERROR(desk_meta_parse(mx, &m), EINVAL);
        ASSERT_NULL(m.instance);
    }
}

TEST(has_agent)
{
    _cleanup_(tmpl_freep) struct tmpl *desktop = NULL, *test = NULL, *other = NULL;
    _cleanup_free_ char *err = NULL;

    ASSERT_OK(tmpl_load_file(TEST_TEMPLATES_DIR "/desktop.xml", &desktop, &err));
    ASSERT_OK(tmpl_load_file(TEST_TEMPLATES_DIR "/test.xml", &test, &err));
    ASSERT_TRUE(tmpl_has_agent(desktop));
    ASSERT_FALSE(tmpl_has_agent(test));
    /* the spicevmc channel alone is not an agent */
    ASSERT_OK(tmpl_load_string("<domain><devices><disk/><channel type='spicevmc'>"
                               "<target type='virtio' name='com.redhat.spice.0'/></channel>"
                               "</devices></domain>", &other, &err));
    ASSERT_FALSE(tmpl_has_agent(other));
}

TEST(lockdown)
{
    static const struct {
        const char *devices;
        const char *needle;  /* NULL: allowed */
    } cases[] = {
        { "<graphics type='spice'><clipboard copypaste='no'/><filetransfer enable='no'/>"
          "</graphics><graphics type='vnc'/>", NULL },
        { "<graphics type='spice'><filetransfer enable='no'/></graphics>",
          "without <clipboard copypaste='no'/>" },
        { "<graphics type='spice'><clipboard copypaste='yes'/><filetransfer enable='no'/>"
          "</graphics>", "enables the clipboard" },
        { "<graphics type='spice'><clipboard copypaste='no'/></graphics>",
          "without <filetransfer enable='no'/>" },
        { "<graphics type='spice'><clipboard copypaste='no'/><filetransfer enable='yes'/>"
          "</graphics>", "enables file transfer" },
        { "<redirdev bus='usb' type='spicevmc'/>", "<redirdev>" },
        { "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/>"
          "<product id='0xbeef'/></source></hostdev>", "<hostdev type='usb'>" },
        { "<channel type='qemu-vdagent'><source><clipboard copypaste='yes'/></source>"
          "<target type='virtio' name='com.redhat.spice.0'/></channel>", "qemu-vdagent" },
        { "<hostdev mode='subsystem' type='pci'/>", NULL },
    };
    _cleanup_(tmpl_freep) struct tmpl *desktop = NULL;
    _cleanup_free_ char *err = NULL;

    ASSERT_OK(tmpl_load_file(TEST_TEMPLATES_DIR "/desktop.xml", &desktop, &err));
    ASSERT_OK(tmpl_check_lockdown(desktop, &err));

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(tmpl_freep) struct tmpl *t = NULL;
        _cleanup_free_ char *xml = xasprintf("<domain><devices><disk/>%s</devices></domain>",
                                             cases[i].devices);

        ASSERT_OK(tmpl_load_string(xml, &t, &err));
        if (!cases[i].needle) {
            ASSERT_OK(tmpl_check_lockdown(t, &err));
            continue;
        }
        ASSERT_ERROR(tmpl_check_lockdown(t, &err), EPERM);
        if (!strstr(err, cases[i].needle))
            ASSERT_STREQ(err, cases[i].needle);
    }
}

TEST(meta_roundtrip)
{
    static const struct desk_meta special = {
        .instance = "a<b>&c'd\"e",
        .pool = "]]>",
        .desktop = "&amp;",
        .image = "\xc3\xa9t\xc3\xa9",  /* UTF-8 */
        .image_version = 4294967295u,
    };
    _cleanup_free_ char *s = NULL, *renamed = NULL, *indented = NULL;
    struct desk_meta m = {};

    s = desk_meta_format(&rt_meta);
    ASSERT_STREQ(s, "<deskpool:desktop xmlns:deskpool=\"" DP_METADATA_NS "\">"
                 "<deskpool:instance>host-a</deskpool:instance>"
                 "<deskpool:pool>radiology</deskpool:pool>"
                 "<deskpool:desktop-name>radiology-0007</deskpool:desktop-name>"
                 "<deskpool:image>win-clinical</deskpool:image>"
                 "<deskpool:image-version>12</deskpool:image-version>"
                 "</deskpool:desktop>");
    ASSERT_OK(desk_meta_parse(s, &m));
    ASSERT_STREQ(m.instance, "host-a");
    ASSERT_STREQ(m.pool, "radiology");
    ASSERT_STREQ(m.desktop, "radiology-0007");
    ASSERT_STREQ(m.image, "win-clinical");
    ASSERT_EQ(m.image_version, 12);
    desk_meta_done(&m);
    ASSERT_NULL(m.instance);
    free(s);

    s = desk_meta_format(&special);
    ASSERT_TRUE(strstr(s, "a&lt;b&gt;&amp;c'd\"e"));
    ASSERT_TRUE(strstr(s, "]]&gt;"));
    ASSERT_TRUE(strstr(s, "&amp;amp;"));
    ASSERT_OK(desk_meta_parse(s, &m));
    ASSERT_STREQ(m.instance, special.instance);
    ASSERT_STREQ(m.pool, special.pool);
    ASSERT_STREQ(m.desktop, special.desktop);
    ASSERT_STREQ(m.image, special.image);
    ASSERT_EQ(m.image_version, 4294967295u);
    desk_meta_done(&m);

    /* a parent of instant clones: its name instead of pool and desktop */
    {
        static const struct desk_meta parent = {
            .instance = "host-a", .image = "tiny", .image_version = 2,
            .parent = "tiny.v2.desktop.5",
        };
        _cleanup_free_ char *ps = desk_meta_format(&parent);

        ASSERT_TRUE(strstr(ps, "<deskpool:parent-name>tiny.v2.desktop.5</deskpool:parent-name>"));
        ASSERT_NULL(strstr(ps, "<deskpool:pool>"));
        ASSERT_OK(desk_meta_parse(ps, &m));
        ASSERT_STREQ(m.parent, "tiny.v2.desktop.5");
        ASSERT_STREQ(m.instance, "host-a");
        ASSERT_NULL(m.pool);
        desk_meta_done(&m);
    }

    /* another prefix, a default namespace, indentation, an unknown element */
    renamed = xasprintf("<dp:desktop xmlns:dp=\"%s\">\n  <dp:instance>i</dp:instance>\n"
                        "  <dp:future>x</dp:future>\n  <dp:pool>p</dp:pool>\n"
                        "  <dp:desktop-name>d</dp:desktop-name>\n  <dp:image>im</dp:image>\n"
                        "  <dp:image-version>3</dp:image-version>\n</dp:desktop>\n",
                        DP_METADATA_NS);
    ASSERT_OK(desk_meta_parse(renamed, &m));
    ASSERT_STREQ(m.instance, "i");
    ASSERT_STREQ(m.image, "im");
    ASSERT_EQ(m.image_version, 3);
    desk_meta_done(&m);
    indented = xasprintf("<desktop xmlns=\"%s\"><instance>i</instance><pool>p</pool>"
                         "<desktop-name>d</desktop-name><image>im</image>"
                         "<image-version>0</image-version></desktop>", DP_METADATA_NS);
    ASSERT_OK(desk_meta_parse(indented, &m));
    ASSERT_EQ(m.image_version, 0);
    desk_meta_done(&m);

    /* no namespace at all: what virDomainGetMetadata() returns */
    ASSERT_OK(desk_meta_parse("<desktop>\n  <instance>i</instance>\n  <pool>p</pool>\n"
                              "  <desktop-name>d</desktop-name>\n  <image>im</image>\n"
                              "  <image-version>7</image-version>\n</desktop>", &m));
    ASSERT_STREQ(m.desktop, "d");
    ASSERT_EQ(m.image_version, 7);
    desk_meta_done(&m);
    /* mixed: a bare root with namespaced children does not count */
    free(s);
    s = xasprintf("<desktop xmlns:d='%s'><d:instance>i</d:instance><d:pool>p</d:pool>"
                  "<d:desktop-name>n</d:desktop-name><d:image>i</d:image>"
                  "<d:image-version>1</d:image-version></desktop>", DP_METADATA_NS);
    ASSERT_ERROR(desk_meta_parse(s, &m), EINVAL);
    /* right local names in the wrong namespace */
    ASSERT_ERROR(desk_meta_parse("<x:desktop xmlns:x='urn:other'><x:instance>i</x:instance>"
                                 "</x:desktop>", &m), EINVAL);
    /* missing field, bad version, duplicate, empty, not XML */
    free(s);
    s = xasprintf("<d:desktop xmlns:d='%s'><d:instance>i</d:instance><d:pool>p</d:pool>"
                  "<d:desktop-name>n</d:desktop-name><d:image>i</d:image></d:desktop>",
                  DP_METADATA_NS);
    ASSERT_ERROR(desk_meta_parse(s, &m), EINVAL);
    free(s);
    s = xasprintf("<d:desktop xmlns:d='%s'><d:instance>i</d:instance><d:pool>p</d:pool>"
                  "<d:desktop-name>n</d:desktop-name><d:image>i</d:image>"
                  "<d:image-version>-1</d:image-version></d:desktop>", DP_METADATA_NS);
    ASSERT_ERROR(desk_meta_parse(s, &m), EINVAL);
    free(s);
    s = xasprintf("<d:desktop xmlns:d='%s'><d:instance>i</d:instance><d:pool>p</d:pool>"
                  "<d:pool>q</d:pool><d:desktop-name>n</d:desktop-name><d:image>i</d:image>"
                  "<d:image-version>1</d:image-version></d:desktop>", DP_METADATA_NS);
    ASSERT_ERROR(desk_meta_parse(s, &m), EINVAL);
    free(s);
    s = xasprintf("<d:desktop xmlns:d='%s'><d:instance/><d:pool>p</d:pool>"
                  "<d:desktop-name>n</d:desktop-name><d:image>i</d:image>"
                  "<d:image-version>1</d:image-version></d:desktop>", DP_METADATA_NS);
    ASSERT_ERROR(desk_meta_parse(s, &m), EINVAL);
    ASSERT_ERROR(desk_meta_parse("<d:desktop", &m), EINVAL);
    ASSERT_NULL(m.instance);
}

/* The meta from a whole filled domain document (as virDomainGetXMLDesc
 * would give it) parses too. */
TEST(meta_from_domain)
{
    _cleanup_free_ char *xml = NULL;
    struct tmpl_fill f = rt_fill_base;
    struct desk_meta m = {};

    f.name = "rt";
    xml = fill_file(TEST_DATA_DIR "/tmpl/metadata-other-ns.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_OK(desk_meta_parse(xml, &m));
    ASSERT_STREQ(m.desktop, "radiology-0007");
    desk_meta_done(&m);
}

static void
quiet_virt_error(void *data _unused_, virErrorPtr e _unused_)
{
}

/* Defines XML on CONN, reads the metadata back through libvirt and
 * checks it against WANT. */
static int
define_and_check(virConnectPtr conn, const char *xml, const char *name,
                 const struct desk_meta *want)
{
    _cleanup_(virt_domain_freep) virDomainPtr dom = NULL;
    _cleanup_free_ char *got_xml = NULL;
    struct desk_meta got = {};
    int r = -EIO;

    dom = virDomainDefineXML(conn, xml);
    if (!dom) {
        fprintf(stderr, "define %s: %s\n", name, virGetLastErrorMessage());
        return -EIO;
    }
    if (!streq(virDomainGetName(dom), name))
        goto cleanup;
    got_xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DP_METADATA_NS, 0);
    if (!got_xml) {
        fprintf(stderr, "metadata %s: %s\n", name, virGetLastErrorMessage());
        goto cleanup;
    }
    r = desk_meta_parse(got_xml, &got);
    if (r < 0) {
        fprintf(stderr, "cannot parse what libvirt returned: %s\n", got_xml);
        goto cleanup;
    }
    if (!streq(got.instance, want->instance) || !streq(got.pool, want->pool) ||
        !streq(got.desktop, want->desktop) || !streq(got.image, want->image) ||
        got.image_version != want->image_version) {
        r = -EBADMSG;
        goto cleanup;
    }
    desk_meta_done(&got);

    /* the whole domain XML, as the reconciler may read it */
    free(got_xml);
    got_xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    if (!got_xml)
        goto cleanup;
    r = desk_meta_parse(got_xml, &got);
    if (r >= 0 && !streq(got.desktop, want->desktop))
        r = -EBADMSG;

 cleanup:
    desk_meta_done(&got);
    if (virDomainUndefine(dom) < 0)
        r = -EIO;
    return r;
}

TEST(libvirt_test_driver)
{
    _cleanup_(virt_connect_closep) virConnectPtr conn = NULL;
    _cleanup_(tmpl_freep) struct tmpl *test = NULL, *desktop = NULL;
    _cleanup_free_ char *err = NULL, *xml = NULL, *set = NULL, *got = NULL;
    struct tmpl_fill f = rt_fill_base;
    _cleanup_(virt_domain_freep) virDomainPtr dom = NULL;
    struct desk_meta m = {};

    virSetErrorFunc(NULL, quiet_virt_error);
    conn = virConnectOpen("test:///default");
    ASSERT_NOT_NULL(conn);

    ASSERT_OK(tmpl_load_file(TEST_TEMPLATES_DIR "/test.xml", &test, &err));
    f.virt_type = "test";
    f.name = "tmpldev-meta";
    ASSERT_OK(tmpl_fill(test, &f, &xml, &err));
    ASSERT_OK(define_and_check(conn, xml, "tmpldev-meta", &rt_meta));
    free(xml);

    ASSERT_OK(tmpl_load_file(TEST_TEMPLATES_DIR "/desktop.xml", &desktop, &err));
    f.name = "tmpldev-desktop";
    ASSERT_OK(tmpl_fill(desktop, &f, &xml, &err));
    ASSERT_OK(define_and_check(conn, xml, "tmpldev-desktop", &rt_meta));
    free(xml);
    xml = NULL;

    /* virDomainSetMetadata with another key renames the prefix; the
     * parser matches on the namespace URI. */
    f.name = "tmpldev-prefix";
    ASSERT_OK(tmpl_fill(test, &f, &xml, &err));
    dom = virDomainDefineXML(conn, xml);
    ASSERT_NOT_NULL(dom);
    set = desk_meta_format(&rt_meta);
    ASSERT_EQ(virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, set, "other",
                                   DP_METADATA_NS, VIR_DOMAIN_AFFECT_CONFIG), 0);
    got = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DP_METADATA_NS,
                               VIR_DOMAIN_AFFECT_CONFIG);
    ASSERT_NOT_NULL(got);
    /* measured: libvirt 9.0 returns <desktop xmlns:other="NS"> with
     * unprefixed children, i.e. in no namespace at all */
    ASSERT_TRUE(strstr(got, "<desktop"));
    ASSERT_OK(desk_meta_parse(got, &m));
    ASSERT_STREQ(m.pool, "radiology");
    ASSERT_EQ(m.image_version, 12);
    desk_meta_done(&m);
    free(got);
    got = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    ASSERT_NOT_NULL(got);
    /* measured: here libvirt keeps our deskpool: prefix and adds
     * xmlns:other to the element */
    ASSERT_OK(desk_meta_parse(got, &m));
    ASSERT_STREQ(m.instance, "host-a");
    desk_meta_done(&m);
    ASSERT_EQ(virDomainUndefine(dom), 0);
}

/* graphics_listen forces every listening <graphics> to one address, and
 * locks a console without password (passwd=''). */
TEST(fill_graphics_listen)
{
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *err = NULL, *xml = NULL;
    struct tmpl_fill f = rt_fill_base;

    f.name = "rt";
    f.graphics_listen = "127.0.0.1";
    xml = fill_file(TEST_DATA_DIR "/tmpl/listen-vnc.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_TRUE(strstr(xml, "<graphics type=\"vnc\" port=\"-1\" autoport=\"yes\" "
                       "listen=\"127.0.0.1\" keymap=\"de\" sharePolicy=\"force-shared\" "
                       "passwd=\"\">\n"
                       "      <listen type=\"address\" address=\"127.0.0.1\"/>\n"
                       "      <audio id=\"1\"/>\n    </graphics>"));
    ASSERT_NULL(strstr(xml, "0.0.0.0"));
    ASSERT_NULL(strstr(xml, "network=\"default\""));
    /* egl-headless does not listen: untouched */
    ASSERT_TRUE(strstr(xml, "<graphics type=\"egl-headless\">\n      <gl "));
    free(xml);

    xml = fill_file(TEST_DATA_DIR "/tmpl/listen-spice.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_TRUE(strstr(xml, "<graphics type=\"spice\" autoport=\"yes\" connected=\"disconnect\" "
                       "listen=\"127.0.0.1\" passwd=\"\">\n      <image compression=\"off\"/>\n"
                       "      <listen type=\"address\" address=\"127.0.0.1\"/>\n"
                       "      <clipboard copypaste=\"no\"/>"));
    ASSERT_NULL(strstr(xml, "socket"));
    /* an existing password is kept */
    ASSERT_TRUE(strstr(xml, "<graphics type=\"vnc\" passwd=\"keep-me\" listen=\"127.0.0.1\">\n"
                       "      <listen type=\"address\" address=\"127.0.0.1\"/>"));
    free(xml);

    /* NULL: as written */
    f.graphics_listen = NULL;
    xml = fill_file(TEST_DATA_DIR "/tmpl/listen-vnc.in.xml", &f);
    ASSERT_NOT_NULL(xml);
    ASSERT_TRUE(strstr(xml, "<listen type=\"network\" network=\"default\"/>"));
    ASSERT_TRUE(strstr(xml, "listen=\"0.0.0.0\""));
    ASSERT_NULL(strstr(xml, "passwd"));
    free(xml);
    xml = NULL;

    /* IPv6 is fine; quotes or spaces are refused */
    ASSERT_OK(tmpl_load_file(TEST_DATA_DIR "/tmpl/listen-vnc.in.xml", &t, &err));
    f.graphics_listen = "::1";
    ASSERT_OK(tmpl_fill(t, &f, &xml, &err));
    ASSERT_TRUE(strstr(xml, "<listen type=\"address\" address=\"::1\"/>"));
    free(xml);
    xml = NULL;
    f.graphics_listen = "1.2.3.4' x='";
    ASSERT_ERROR(tmpl_fill(t, &f, &xml, &err), EINVAL);
    ASSERT_STREQ(err, "Console listen address '1.2.3.4' x='' is not valid.");
    f.graphics_listen = "";
    ASSERT_ERROR(tmpl_fill(t, &f, &xml, &err), EINVAL);
    ASSERT_NULL(xml);
}

TEST(graphics_parse)
{
    struct tmpl_graphics g = {};

    /* live VNC as libvirt 9.0 writes it: attribute and child */
    ASSERT_OK(tmpl_graphics_parse(
        "<domain type='qemu' id='3'><name>x</name><devices><video/>"
        "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>"
        "<listen type='address' address='127.0.0.1'/></graphics>"
        "<graphics type='spice' port='5999'/></devices></domain>", &g));
    ASSERT_STREQ(g.type, "vnc");
    ASSERT_EQ(g.port, 5901);
    ASSERT_EQ(g.tls_port, -1);
    ASSERT_STREQ(g.listen, "127.0.0.1");
    tmpl_graphics_done(&g);
    ASSERT_NULL(g.type);
    ASSERT_EQ(g.port, -1);

    /* spice with tlsPort; the address only in a child, after a socket one */
    ASSERT_OK(tmpl_graphics_parse(
        "<domain><devices><graphics type='spice' port='5902' tlsPort='5903' autoport='no'>"
        "<listen type='socket' socket='/x'/><listen type='address' address='10.0.0.5'/>"
        "</graphics></devices></domain>", &g));
    ASSERT_STREQ(g.type, "spice");
    ASSERT_EQ(g.port, 5902);
    ASSERT_EQ(g.tls_port, 5903);
    ASSERT_STREQ(g.listen, "10.0.0.5");
    tmpl_graphics_done(&g);

    /* not started: port -1 or absent, no tlsPort, no address */
    ASSERT_OK(tmpl_graphics_parse("<domain><devices><graphics type='spice' port='-1' "
                                  "autoport='yes'/></devices></domain>", &g));
    ASSERT_EQ(g.port, -1);
    ASSERT_EQ(g.tls_port, -1);
    ASSERT_NULL(g.listen);
    tmpl_graphics_done(&g);
    ASSERT_OK(tmpl_graphics_parse("<domain><devices><graphics type='vnc'/></devices></domain>",
                                  &g));
    ASSERT_EQ(g.port, -1);
    tmpl_graphics_done(&g);
    /* tlsPort is a SPICE attribute only */
    ASSERT_OK(tmpl_graphics_parse("<domain><devices><graphics type='vnc' port='5900' "
                                  "tlsPort='1'/></devices></domain>", &g));
    ASSERT_EQ(g.tls_port, -1);
    tmpl_graphics_done(&g);

    ASSERT_ERROR(tmpl_graphics_parse("<domain><devices><video/></devices></domain>", &g),
                 ENOENT);
    ASSERT_ERROR(tmpl_graphics_parse("<domain><graphics type='vnc'/></domain>", &g), ENOENT);
    ASSERT_ERROR(tmpl_graphics_parse("<domain><devices><graphics", &g), EINVAL);
    ASSERT_ERROR(tmpl_graphics_parse("<network><devices><graphics type='vnc'/></devices>"
                                     "</network>", &g), EINVAL);
    ASSERT_ERROR(tmpl_graphics_parse("<domain><devices><graphics type='vnc' port='x'/>"
                                     "</devices></domain>", &g), EINVAL);
    ASSERT_ERROR(tmpl_graphics_parse("<domain><devices><graphics type='vnc' port='70000'/>"
                                     "</devices></domain>", &g), EINVAL);
    ASSERT_ERROR(tmpl_graphics_parse("<domain><devices><graphics port='1'/>"
                                     "</devices></domain>", &g), EINVAL);
    ASSERT_ERROR(tmpl_graphics_parse("<!DOCTYPE domain [<!ENTITY a 'b'>]><domain><devices>"
                                     "<graphics type='vnc'/></devices></domain>", &g), EINVAL);
    ASSERT_NULL(g.type);
}

TEST(graphics_element)
{
    static const char dom[] =
        "<domain type='qemu' id='7'><name>d</name><devices>"
        "<graphics type='vnc' port='5903' autoport='yes' listen='10.0.0.5' "
        "passwd='secret1' passwdValidTo='2001-01-01T00:00:00'>"
        "<listen type='address' address='10.0.0.5'/></graphics>"
        "<graphics type='spice' port='5910'/></devices></domain>";
    _cleanup_free_ char *el = NULL, *xml = NULL, *err = NULL;
    struct tmpl_graphics g = {};

    /* the first element alone, without the password: what the console
     * cache keeps */
    ASSERT_OK(tmpl_graphics_element(dom, &el));
    ASSERT_STREQ(el, "<graphics type=\"vnc\" port=\"5903\" autoport=\"yes\" "
                 "listen=\"10.0.0.5\"><listen type=\"address\" address=\"10.0.0.5\"/>"
                 "</graphics>");
    ASSERT_NULL(strstr(el, "secret1"));
    /* ... and both readers take it for the whole domain */
    ASSERT_OK(tmpl_graphics_parse(el, &g));
    ASSERT_STREQ(g.type, "vnc");
    ASSERT_EQ(g.port, 5903);
    ASSERT_STREQ(g.listen, "10.0.0.5");
    tmpl_graphics_done(&g);
    ASSERT_OK(tmpl_graphics_password_xml(el, "Zz9yXx8w", 0, &xml, &err));
    ASSERT_TRUE(strstr(xml, "<graphics type=\"vnc\" port=\"5903\" autoport=\"yes\" "
                            "listen=\"10.0.0.5\" passwd=\"Zz9yXx8w\">"));
    free(el);
    el = NULL;
    ASSERT_ERROR(tmpl_graphics_element("<domain><devices/></domain>", &el), ENOENT);
    ASSERT_ERROR(tmpl_graphics_element("<graphics", &el), EINVAL);
}

TEST(graphics_password_xml)
{
    static const char spice[] =
        "<domain type='qemu' id='7'><name>d</name><devices>"
        "<graphics type='spice' port='5900' tlsPort='5901' autoport='yes' listen='127.0.0.1' "
        "passwd='old&amp;pw' passwdValidTo='2001-01-01T00:00:00' connected='disconnect'>"
        "<listen type='address' address='127.0.0.1'/><clipboard copypaste='no'/>"
        "<filetransfer enable='no'/></graphics><graphics type='vnc' port='5910'/>"
        "</devices></domain>";
    _cleanup_free_ char *xml = NULL, *err = NULL;
    struct tmpl_graphics g = {};

    /* set, with 2026-11-27T21:30:05Z */
    ASSERT_OK(tmpl_graphics_password_xml(
        "<domain><devices><graphics type='vnc' port='5900' autoport='yes' "
        "listen='127.0.0.1'><listen type='address' address='127.0.0.1'/><audio id='1'/>"
        "</graphics></devices></domain>", "Ab3dEf7h", 1795815005, &xml, &err));
    ASSERT_STREQ(xml, "<graphics type=\"vnc\" port=\"5900\" autoport=\"yes\" "
                 "listen=\"127.0.0.1\" passwd=\"Ab3dEf7h\" "
                 "passwdValidTo=\"2026-11-27T21:30:05\">\n"
                 "  <listen type=\"address\" address=\"127.0.0.1\"/>\n"
                 "  <audio id=\"1\"/>\n</graphics>");
    free(xml);

    /* replace both, keep the rest (the first graphics only) */
    ASSERT_OK(tmpl_graphics_password_xml(spice, "newpw", 86400, &xml, &err));
    ASSERT_STREQ(xml, "<graphics type=\"spice\" port=\"5900\" tlsPort=\"5901\" autoport=\"yes\" "
                 "listen=\"127.0.0.1\" passwd=\"newpw\" passwdValidTo=\"1970-01-02T00:00:00\" "
                 "connected=\"disconnect\">\n"
                 "  <listen type=\"address\" address=\"127.0.0.1\"/>\n"
                 "  <clipboard copypaste=\"no\"/>\n"
                 "  <filetransfer enable=\"no\"/>\n</graphics>");
    /* what it returns parses back as the same console */
    free(xml);

    /* valid_to <= 0 removes the expiry */
    ASSERT_OK(tmpl_graphics_password_xml(spice, "newpw", 0, &xml, &err));
    ASSERT_NULL(strstr(xml, "passwdValidTo"));
    ASSERT_TRUE(strstr(xml, " passwd=\"newpw\" connected=\"disconnect\">"));
    free(xml);
    ASSERT_OK(tmpl_graphics_password_xml(spice, "newpw", -5, &xml, &err));
    ASSERT_NULL(strstr(xml, "passwdValidTo"));
    free(xml);

    /* special characters are escaped, and come back unchanged */
    ASSERT_OK(tmpl_graphics_password_xml(spice, "a\"b'c<d>&e", 0, &xml, &err));
    ASSERT_TRUE(strstr(xml, " passwd=\"a&quot;b'c&lt;d&gt;&amp;e\" "));
    {
        _cleanup_free_ char *dom = xasprintf("<domain><devices>%s</devices></domain>", xml);
        _cleanup_free_ char *again = NULL;

        ASSERT_OK(tmpl_graphics_parse(dom, &g));
        ASSERT_EQ(g.port, 5900);
        ASSERT_EQ(g.tls_port, 5901);
        tmpl_graphics_done(&g);
        ASSERT_OK(tmpl_graphics_password_xml(dom, "x", 0, &again, &err));
        ASSERT_TRUE(strstr(again, " passwd=\"x\" "));
    }
    free(xml);
    xml = NULL;

    /* errors */
    ASSERT_ERROR(tmpl_graphics_password_xml("<domain><devices/></domain>", "pw", 0, &xml, &err),
                 ENOENT);
    ASSERT_STREQ(err, "The domain has no <graphics> element.");
    ASSERT_ERROR(tmpl_graphics_password_xml("<domain>", "pw", 0, &xml, &err), EINVAL);
    ASSERT_STREQ(err, "The domain XML cannot be parsed.");
    ASSERT_ERROR(tmpl_graphics_password_xml(spice, "new\nline", 0, &xml, &err), EINVAL);
    ASSERT_STREQ(err, "A console password must be printable ASCII.");
    ASSERT_ERROR(tmpl_graphics_password_xml(spice, NULL, 0, &xml, &err), EINVAL);
    ASSERT_NULL(xml);
}

/* Fills a template whose console GRAPHICS listens on 0.0.0.0 and has no
 * password with graphics_listen "127.0.0.1", starts it as a transient
 * domain on CONN (a 1 MiB empty raw disk, nothing boots), sets a one-time
 * password through tmpl_graphics_password_xml() +
 * virDomainUpdateDeviceFlags(AFFECT_LIVE), checks the live XML, then
 * revokes it with an expiry in the past. Prints what libvirt said. */
static int
live_console_check(virConnectPtr conn, const char *type, const char *graphics)
{
    _cleanup_(virt_domain_freep) virDomainPtr dom = NULL;
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *name = xasprintf("tmpldev2-%s-%d", type, (int) getpid());
    _cleanup_free_ char *disk = xasprintf("/tmp/%s.raw", name);
    _cleanup_free_ char *uuid = xasprintf("6c1f0c0e-3b0a-4d55-9a57-%012x", (unsigned) getpid());
    _cleanup_free_ char *xml = NULL, *live = NULL, *gxml = NULL, *err = NULL, *want = NULL;
    struct tmpl_fill f = rt_fill_base;
    struct tmpl_graphics g = {};
    time_t valid_to = time(NULL) + 300;
    struct tm tm;
    char when[32];
    int r = -EIO, fd;

    fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, 1024 * 1024) < 0)
        return -errno;
    close(fd);
    xml = xasprintf("<domain type='kvm'><memory unit='MiB'>64</memory>"
                    "<os><type arch='x86_64'>hvm</type></os><devices>"
                    "<disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>"
                    "%s</devices></domain>", graphics);
    if (tmpl_load_string(xml, &t, &err) < 0)
        goto cleanup;
    free(xml);
    xml = NULL;
    f.name = name;
    f.uuid = uuid;
    f.disk_path = disk;
    f.disk_format = "raw";
    f.graphics_listen = "127.0.0.1";
    if (tmpl_fill(t, &f, &xml, &err) < 0) {
        fprintf(stderr, "fill %s: %s\n", name, strempty(err));
        goto cleanup;
    }
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom) {
        fprintf(stderr, "start %s: %s\n", name, virGetLastErrorMessage());
        goto cleanup;
    }
    live = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
    if (!live || tmpl_graphics_parse(live, &g) < 0 || !streq(g.type, type) || g.port <= 0 ||
        !streq_ptr(g.listen, "127.0.0.1")) {
        fprintf(stderr, "%s: unexpected live graphics: %s\n", name, strempty(live));
        goto cleanup;
    }
    printf("  %s: %s port %d tlsPort %d listen %s\n", name, g.type, g.port, g.tls_port,
           g.listen);

    /* grant */
    if (tmpl_graphics_password_xml(live, "Tq7xK2pZ", valid_to, &gxml, &err) < 0)
        goto cleanup;
    if (virDomainUpdateDeviceFlags(dom, gxml, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        fprintf(stderr, "%s: update refused: %s\n%s\n", name, virGetLastErrorMessage(), gxml);
        goto cleanup;
    }
    free(live);
    live = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
    gmtime_r(&valid_to, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    want = xasprintf("passwd='Tq7xK2pZ' passwdValidTo='%s'", when);
    if (!live || !strstr(live, want)) {
        fprintf(stderr, "%s: want %s in:\n%s\n", name, want, strempty(live));
        goto cleanup;
    }
    /* without VIR_DOMAIN_XML_SECURE libvirt hides the password */
    free(live);
    live = virDomainGetXMLDesc(dom, 0);
    if (!live || strstr(live, "Tq7xK2pZ")) {
        fprintf(stderr, "%s: password visible without XML_SECURE\n", name);
        goto cleanup;
    }

    /* revoke: another password that expired a minute ago */
    free(live);
    live = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
    free(gxml);
    gxml = NULL;
    if (!live || tmpl_graphics_password_xml(live, "Rv0k3dXx", time(NULL) - 60, &gxml,
                                            &err) < 0)
        goto cleanup;
    if (virDomainUpdateDeviceFlags(dom, gxml, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        fprintf(stderr, "%s: revoke (passwdValidTo in the past) refused: %s\n", name,
                virGetLastErrorMessage());
        goto cleanup;
    }
    free(live);
    live = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_SECURE);
    if (!live || !strstr(live, "passwd='Rv0k3dXx'")) {
        fprintf(stderr, "%s: revoked password not in live XML:\n%s\n", name, strempty(live));
        goto cleanup;
    }
    printf("  %s: password set, read back, revoked with passwdValidTo in the past\n", name);
    r = 0;

 cleanup:
    tmpl_graphics_done(&g);
    if (dom && virDomainDestroy(dom) < 0)
        r = -EIO;
    unlink(disk);
    return r;
}

/* DP_TEST_QEMU=1: the real thing on qemu:///system (TCG, no disk). */
TEST(graphics_password_qemu)
{
    _cleanup_(virt_connect_closep) virConnectPtr conn = NULL;

    if (!streq_ptr(getenv("DP_TEST_QEMU"), "1")) {
        printf("skip: set DP_TEST_QEMU=1 to set console passwords on qemu:///system\n");
        return;
    }
    virSetErrorFunc(NULL, quiet_virt_error);
    conn = virConnectOpen("qemu:///system");
    if (!conn)
        fprintf(stderr, "qemu:///system: %s\n", virGetLastErrorMessage());
    ASSERT_NOT_NULL(conn);
    ASSERT_OK(live_console_check(conn, "vnc", "<graphics type='vnc' autoport='yes' "
                                 "listen='0.0.0.0'/>"));
    ASSERT_OK(live_console_check(conn, "spice", "<graphics type='spice' autoport='yes' "
                                 "listen='0.0.0.0' connected='disconnect'>"
                                 "<clipboard copypaste='no'/><filetransfer enable='no'/>"
                                 "</graphics>"));
}

/* A parent of instant clones: no NIC, a <genid/> right after <uuid>. */
TEST(fill_parent)
{
    static const char tpl[] =
        "<domain type='kvm'><name>x</name><memory unit='MiB'>64</memory>"
        "<os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><source file='/x'/><target dev='vda'/></disk>"
        "<interface type='network'><source network='default'/><model type='virtio'/>"
        "</interface><interface type='user'/></devices></domain>";
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *xml = NULL, *plain = NULL;
    struct tmpl_fill f = rt_fill_base;

    ASSERT_OK(tmpl_load_string(tpl, &t, NULL));
    f.name = "rt-parent";
    f.parent = true;
    ASSERT_OK(tmpl_fill(t, &f, &xml, NULL));
    ASSERT_NULL(strstr(xml, "<interface"));
    ASSERT_TRUE(strstr(xml, "<uuid>" RT_UUID "</uuid>\n  <genid/>"));
    f.parent = false;
    ASSERT_OK(tmpl_fill(t, &f, &plain, NULL));
    ASSERT_TRUE(strstr(plain, "<interface type=\"network\">"));
    ASSERT_NULL(strstr(plain, "genid"));
    ASSERT_EQ(tmpl_interface_count(t), 2);
}

/* What libvirt 9.0 put in the header of a saved tiny guest (abridged). */
static const char saved_xml[] =
    "<domain type='qemu'>\n"
    "  <name>ic-exp-parent</name>\n"
    "  <uuid>c04965fd-3514-46bd-b6da-a102425fbfea</uuid>\n"
    "  <genid>a4e8481e-0ae2-4aa3-9a65-7515705f1904</genid>\n"
    "  <memory unit='KiB'>131072</memory>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>\n"
    "  </os>\n"
    "  <cpu mode='custom' match='exact' check='none'>\n"
    "    <model fallback='forbid'>qemu64</model>\n"
    "  </cpu>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='/var/lib/deskpool/ic-exp/parent.qcow2'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "      <alias name='ua-system'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>\n"
    "    </disk>\n"
    "    <graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0' passwd='old'>\n"
    "      <listen type='address' address='0.0.0.0'/>\n"
    "    </graphics>\n"
    "  </devices>\n"
    "</domain>\n";

TEST(clone_xml)
{
    _cleanup_free_ char *xml = NULL, *err = NULL, *nic = NULL;
    struct tmpl_fill f = { .name = "rt-clone", .uuid = RT_UUID, .disk_path = "/pool/c.qcow2",
                           .disk_format = "qcow2", .meta = &rt_meta,
                           .graphics_listen = "127.0.0.1" };

    ASSERT_OK(tmpl_clone_xml(saved_xml, &f, &xml, &err));
    ASSERT_TRUE(strstr(xml, "<name>rt-clone</name>"));
    ASSERT_TRUE(strstr(xml, "<uuid>" RT_UUID "</uuid>"));
    ASSERT_NULL(strstr(xml, "ic-exp-parent"));
    ASSERT_NULL(strstr(xml, "c04965fd"));
    ASSERT_TRUE(strstr(xml, "<source file=\"/pool/c.qcow2\"/>"));
    ASSERT_NULL(strstr(xml, "parent.qcow2"));
    /* the parent's ABI stays: machine, CPU, addresses, genid element */
    ASSERT_TRUE(strstr(xml, "machine=\"pc-i440fx-7.2\""));
    ASSERT_TRUE(strstr(xml, "<model fallback=\"forbid\">qemu64</model>"));
    ASSERT_TRUE(strstr(xml, "slot=\"0x04\""));
    ASSERT_TRUE(strstr(xml, "<genid>a4e8481e-0ae2-4aa3-9a65-7515705f1904</genid>"));
    ASSERT_TRUE(strstr(xml, "<alias name=\"ua-system\"/>"));
    ASSERT_TRUE(strstr(xml, "listen=\"127.0.0.1\""));
    ASSERT_NULL(strstr(xml, "0.0.0.0"));
    ASSERT_TRUE(strstr(xml, "passwd=\"\""));
    ASSERT_NULL(strstr(xml, "old"));
    ASSERT_TRUE(strstr(xml, "<deskpool:pool>radiology</deskpool:pool>"));
    free(xml);
    xml = NULL;

    /* the type may be given, but must match */
    f.virt_type = "qemu";
    ASSERT_OK(tmpl_clone_xml(saved_xml, &f, &xml, NULL));
    f.virt_type = "kvm";
    ASSERT_ERROR(tmpl_clone_xml(saved_xml, &f, &nic, &err), EINVAL);
    f.virt_type = NULL;
    f.uuid = "nope";
    ASSERT_ERROR(tmpl_clone_xml(saved_xml, &f, &nic, &err), EINVAL);
    f.uuid = RT_UUID;
    ASSERT_ERROR(tmpl_clone_xml("<domain", &f, &nic, &err), EINVAL);
    ASSERT_ERROR(tmpl_clone_xml("<pool/>", &f, &nic, &err), EINVAL);
    /* a parent with a NIC is refused: its MAC would be in every clone */
    {
        _cleanup_free_ char *with_nic = xasprintf("%.*s<interface type='user'/>%s",
                                                  (int) (strstr(saved_xml, "  </devices>") -
                                                         saved_xml), saved_xml,
                                                  strstr(saved_xml, "  </devices>"));

        free(err);
        err = NULL;
        ASSERT_ERROR(tmpl_clone_xml(with_nic, &f, &nic, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "network interface"));
    }
}

TEST(interface_xml)
{
    static const char tpl[] =
        "<domain type='kvm'><name>x</name><memory unit='MiB'>64</memory>"
        "<os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><source file='/x'/><target dev='vda'/></disk>"
        "<interface type='network'><mac address='52:54:00:00:00:01'/>"
        "<source network='default'/><model type='virtio'/>"
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>"
        "</interface><interface type='user'/></devices></domain>";
    _cleanup_(tmpl_freep) struct tmpl *t = NULL;
    _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *err = NULL;

    ASSERT_OK(tmpl_load_string(tpl, &t, NULL));
    ASSERT_OK(tmpl_interface_xml(t, 0, "52:54:00:AB:cd:07", &a, NULL));
    ASSERT_TRUE(strstr(a, "<mac address=\"52:54:00:AB:cd:07\"/>"));
    ASSERT_TRUE(strstr(a, "<source network=\"default\"/>"));
    ASSERT_NULL(strstr(a, "<address"));
    ASSERT_NULL(strstr(a, "52:54:00:00:00:01"));
    ASSERT_OK(tmpl_interface_xml(t, 1, "52:54:00:00:00:02", &b, NULL));
    ASSERT_TRUE(strstr(b, "<interface type=\"user\">"));
    ASSERT_TRUE(strstr(b, "<mac address=\"52:54:00:00:00:02\"/>"));
    ASSERT_ERROR(tmpl_interface_xml(t, 2, "52:54:00:00:00:03", &c, &err), ENOENT);
    ASSERT_ERROR(tmpl_interface_xml(t, 0, "01:00:5e:00:00:01", &c, &err), EINVAL);
    ASSERT_ERROR(tmpl_interface_xml(t, 0, "52:54:00:00:00", &c, &err), EINVAL);
    ASSERT_ERROR(tmpl_interface_xml(t, 0, NULL, &c, &err), EINVAL);
}

/* virt-xml-validate (libvirt-clients) checks the qemu flavour of the
 * production template against libvirt's RelaxNG schema. */
TEST(virt_xml_validate)
{
    static const char validator[] = "/usr/bin/virt-xml-validate";
    _cleanup_free_ char *xml = NULL, *path = NULL;
    struct tmpl_fill f = rt_fill_base;
    int status = 0, fd;
    pid_t pid;

    if (access(validator, X_OK) < 0) {
        printf("skip: %s not installed\n", validator);
        return;
    }
    f.name = "tmpldev-validate";
    xml = fill_file(TEST_TEMPLATES_DIR "/desktop.xml", &f);
    ASSERT_NOT_NULL(xml);
    path = xasprintf("/tmp/tmpldev-validate-%d.xml", (int) getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, xml, strlen(xml)), (long long) strlen(xml));
    close(fd);
    fflush(stdout);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(validator, validator, path, "domain", (char *) NULL);
        _exit(127);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    unlink(path);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

int
main(void)
{
    RUN(roundtrip);
    RUN(fill_content);
    RUN(fill_bad_values);
    RUN(load_errors);
    RUN(xxe_not_expanded);
    RUN(has_agent);
    RUN(lockdown);
    RUN(meta_roundtrip);
    RUN(meta_from_domain);
    RUN(libvirt_test_driver);
    RUN(virt_xml_validate);
    RUN(fill_graphics_listen);
    RUN(graphics_parse);
    RUN(graphics_element);
    RUN(graphics_password_xml);
    RUN(graphics_password_qemu);
    RUN(fill_parent);
    RUN(clone_xml);
    RUN(interface_xml);
    return TESTS_DONE();
}
