/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone-lib.h - what test-clone.c and clone-tool.c (bench/instant.sh)
 * share: a private workspace on qemu:///system, the tiny guest's parent,
 * clones made the way the daemon will make them, and guest agent helpers.
 *
 * Workspace: /var/lib/deskpool/PREFIX/vols (a libvirt dir pool named
 * PREFIX, 0755: overlays) and /var/lib/deskpool/PREFIX/parent (0700: the
 * saved image and the restore FIFOs). Domains and volumes are named
 * PREFIX-*; ic_env_teardown() destroys and removes all of them, the pool
 * and the directories, also after a failure.
 */
#pragma once

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <uuid/uuid.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "digest.h"
#include "hv-priv.h"
#include "json-util.h"
#include "tmpl.h"
#include "util.h"

#define IC_GUEST_DIR "/var/lib/deskpool/tiny-guest"
#define IC_STATE_DIR "/var/lib/deskpool"
#define IC_AGENT_TIMEOUT_MS 180000u

struct ic_env {
    struct hv *h;
    char *prefix;           /* names of everything we make */
    char *dir;              /* IC_STATE_DIR/PREFIX */
    char *vol_dir;          /* DIR/vols: the storage pool */
    char *parent_dir;       /* DIR/parent: 0700 */
    char *golden;           /* the golden image */
    struct tmpl *tmpl;      /* tiny.xml plus a user-mode virtio NIC */
    /* the parent, once built */
    char *parent_name;
    char *parent_overlay;
    char *saved;            /* the saved image */
    struct hv_saved_image img;
};

static inline double
ic_sec(uint64_t usec)
{
    return (double) usec / 1e6;
}

static inline char *
ic_uuid(void)
{
    uuid_t u;
    char s[37];

    uuid_generate_random(u);
    uuid_unparse_lower(u, s);
    return xstrdup(s);
}

/* Hex SHA-256 of a whole file into HEX. 0 or -errno. */
static inline int
ic_sha256_file(const char *path, char hex[DIGEST_SHA256_HEX_LEN + 1])
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *buf = xmalloc0(1 << 20);
    struct digest *d;
    ssize_t k;

    if (fd < 0)
        return -errno;
    d = digest_new();
    if (!d)
        abort();
    while ((k = read(fd, buf, 1 << 20)) > 0)
        digest_update(d, buf, (size_t) k);
    digest_finish(d, hex);
    return k < 0 ? -errno : 0;
}

/* Decodes base64 S (no line breaks). Returns a new NUL-terminated
 * string (bad characters are skipped). */
static inline char *
ic_base64_decode(const char *s)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    char *out = xmalloc0(n * 3 / 4 + 4);
    unsigned acc = 0, bits = 0;

    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(tab, s[i]) : NULL;

        if (!p)
            continue;
        acc = (acc << 6) | (unsigned) (p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char) ((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

/* Runs "sh -c SCRIPT" in DOMAIN through the agent. 0 with its stdout and
 * exit code, or negative errno (-ETIMEDOUT after TIMEOUT_SEC). */
static inline int
ic_guest_sh(struct hv *h, const char *domain, const char *script, int timeout_sec,
            char **ret_out, int *ret_code)
{
    _cleanup_json_ json_object *cmd = json_object_new_object();
    _cleanup_json_ json_object *args = json_object_new_object(), *ans = NULL;
    _cleanup_free_ char *cmd_s = NULL, *json = NULL;
    json_object *arr = json_object_new_array(), *ret, *v;
    uint64_t deadline = now_usec() + (uint64_t) timeout_sec * 1000000u;
    int64_t pid;
    int r;

    json_add_string(args, "path", "/bin/sh");
    json_object_array_add(arr, json_object_new_string("-c"));
    json_object_array_add(arr, json_object_new_string(script));
    json_object_object_add(args, "arg", arr);
    json_object_object_add(args, "capture-output", json_object_new_boolean(1));
    json_add_string(cmd, "execute", "guest-exec");
    json_object_object_add(cmd, "arguments", json_object_get(args));
    cmd_s = json_to_string_dup(cmd);
    r = hv_domain_agent_command(h, domain, cmd_s, 10, &json, NULL);
    if (r < 0)
        return r;
    r = json_parse_object(json, strlen(json), &ans, NULL);
    if (r < 0 || !json_object_object_get_ex(ans, "return", &ret) ||
        !json_object_object_get_ex(ret, "pid", &v))
        return -EIO;
    pid = json_object_get_int64(v);
    for (;;) {
        _cleanup_free_ char *q = NULL, *st = NULL;
        _cleanup_json_ json_object *sa = NULL;
        json_object *exited, *code, *out;

        q = xasprintf("{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" PRIi64 "}}",
                      pid);
        r = hv_domain_agent_command(h, domain, q, 10, &st, NULL);
        if (r < 0)
            return r;
        r = json_parse_object(st, strlen(st), &sa, NULL);
        if (r < 0 || !json_object_object_get_ex(sa, "return", &ret))
            return -EIO;
        if (json_object_object_get_ex(ret, "exited", &exited) &&
            json_object_get_boolean(exited)) {
            *ret_code = json_object_object_get_ex(ret, "exitcode", &code)
                            ? json_object_get_int(code) : -1;
            if (json_object_object_get_ex(ret, "out-data", &out))
                *ret_out = ic_base64_decode(json_object_get_string(out));
            else
                *ret_out = xstrdup("");
            return 0;
        }
        if (now_usec() > deadline)
            return -ETIMEDOUT;
        usleep(20000);
    }
}

/* As ic_guest_sh() with the output trimmed of trailing newlines; fails
 * (-EIO) on a non-zero exit. */
static inline int
ic_guest_line(struct hv *h, const char *domain, const char *script, char **ret)
{
    char *out = NULL;
    int code = -1, r;
    size_t n;

    r = ic_guest_sh(h, domain, script, 30, &out, &code);
    if (r < 0)
        return r;
    if (code != 0) {
        free(out);
        return -EIO;
    }
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    *ret = out;
    return 0;
}

/* Waits until DOMAIN's agent answers guest-ping. 0 or -ETIMEDOUT. */
static inline int
ic_wait_agent(struct hv *h, const char *domain, unsigned timeout_ms)
{
    uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000u;

    while (hv_domain_agent_ping(h, domain, 2) < 0) {
        if (now_usec() > deadline)
            return -ETIMEDOUT;
        hv_wait_agent_event(h, 20);
    }
    return 0;
}

/* The guest's wall clock (guest-get-time) minus the host's, in seconds. */
static inline int
ic_clock_offset(struct hv *h, const char *domain, double *ret)
{
    _cleanup_free_ char *json = NULL;
    _cleanup_json_ json_object *o = NULL;
    json_object *v;
    uint64_t before, after;
    int r;

    before = now_realtime_usec();
    r = hv_domain_agent_command(h, domain, "{\"execute\":\"guest-get-time\"}", 5, &json, NULL);
    after = now_realtime_usec();
    if (r < 0)
        return r;
    if (json_parse_object(json, strlen(json), &o, NULL) < 0 ||
        !json_object_object_get_ex(o, "return", &v))
        return -EIO;
    *ret = (double) json_object_get_int64(v) / 1e9 - (double) (before + after) / 2e6;
    return 0;
}

/* The MAC of the guest's hot-plugged virtio NIC as the guest sees it:
 * /sys/class/net/eth0/address when the guest has a virtio_net driver,
 * else read from the device itself: the legacy virtio header in I/O BAR 0
 * of the PCI function 1af4:1000, where the MAC is the first 6 bytes of
 * the device config (offset 20 while MSI-X is off, as without a driver).
 * The tiny guest's initrd has no virtio_net module (its kernel has no NIC
 * driver built in), so this is what it can show. */
static const char ic_guest_mac_sh[] =
    "for n in /sys/class/net/*; do\n"
    "  [ -e \"$n/device\" ] && { echo \"driver $(cat $n/address)\"; exit 0; }\n"
    "done\n"
    "for d in /sys/bus/pci/devices/*; do\n"
    "  [ \"$(cat $d/vendor) $(cat $d/device)\" = '0x1af4 0x1000' ] || continue\n"
    "  m=$(dd if=$d/resource0 bs=1 skip=20 count=6 2>/dev/null | od -An -v -tx1 |"
    " tr -s ' \\n' '  ' | sed 's/^ //; s/ $//; s/ /:/g')\n"
    "  echo \"pci $m\"; exit 0\n"
    "done\n"
    "echo none\n";

/* The VM generation ID as the guest sees it in its memory: the SSDT's
 * VGIA names the address of QEMU's vmgenid buffer, the GUID is 40 bytes
 * in (QEMU hw/acpi/vmgenid.c), little-endian fields first; read with
 * busybox devmem (the buffer is E820-reserved, so /dev/mem allows it).
 * The tiny guest's kernel has no vmgenid driver (CONFIG_VIRT_DRIVERS is
 * off), so nothing in it reacts; the value is what a driver would read. */
static const char ic_guest_genid_sh[] =
    "t=$(grep -l VGIA /sys/firmware/acpi/tables/SSDT* 2>/dev/null | head -n 1)\n"
    "[ -n \"$t\" ] || exit 3\n"
    "a=$(od -An -v -tx1 \"$t\" | tr -s ' \\n' '  ' | awk '{ for (i = 1; i + 8 <= NF; i++)"
    " if ($i == \"56\" && $(i+1) == \"47\" && $(i+2) == \"49\" && $(i+3) == \"41\" &&"
    " $(i+4) == \"0c\") { print $(i+8) $(i+7) $(i+6) $(i+5); exit } }')\n"
    "[ -n \"$a\" ] || exit 4\n"
    "b=$((0x$a + 40)); s=\n"
    "for i in 3 2 1 0 - 5 4 - 7 6 - 8 9 - 10 11 12 13 14 15; do\n"
    "  if [ \"$i\" = - ]; then s=\"$s-\"; else s=\"$s$(printf %02x $(devmem $((b + i)) 8))\"; fi\n"
    "done\n"
    "echo \"$s\"\n";

static inline void
ic_env_done(struct ic_env *e)
{
    hv_saved_image_done(&e->img);
    e->tmpl = tmpl_free(e->tmpl);
    free(e->prefix);
    free(e->dir);
    free(e->vol_dir);
    free(e->parent_dir);
    free(e->golden);
    free(e->parent_name);
    free(e->parent_overlay);
    free(e->saved);
    e->h = hv_unref(e->h);
}

/* Why the environment cannot run guests, or NULL when it can (root,
 * libvirtd answering on qemu:///system, the tiny guest and template). */
static inline char *
ic_env_skip_reason(const char *srcdir)
{
    _cleanup_free_ char *t = xasprintf("%s/templates/tiny.xml", srcdir);
    const char *files[] = { IC_GUEST_DIR "/vmlinuz", IC_GUEST_DIR "/initrd.img",
                            IC_GUEST_DIR "/golden-v1.qcow2", t };

    if (geteuid() != 0)
        return xstrdup("not root (qemu:///system and /var/lib/deskpool need root)");
    for (size_t i = 0; i < ELEMENTSOF(files); i++)
        if (access(files[i], R_OK) < 0)
            return xasprintf("%s is missing (tests/guest/build-guest.sh builds the guest)",
                             files[i]);
    return NULL;
}

/* Opens qemu:///system and makes the workspace. 0, -ECONNREFUSED (no
 * libvirtd: the caller skips) or another negative errno + message. */
static inline int
ic_env_setup(struct ic_env *e, const char *srcdir, const char *prefix, char **reterr_msg)
{
    _cleanup_free_ char *path = NULL, *text = NULL, *with_nic = NULL;
    const char *nic = "    <interface type='user'>\n"
                      "      <model type='virtio'/>\n"
                      "    </interface>\n";
    char *end;
    size_t len;
    int r;

    *e = (struct ic_env) {};
    e->prefix = xstrdup(prefix);
    e->dir = xasprintf("%s/%s", IC_STATE_DIR, prefix);
    e->vol_dir = xasprintf("%s/vols", e->dir);
    e->parent_dir = xasprintf("%s/parent", e->dir);
    e->golden = xstrdup(IC_GUEST_DIR "/golden-v1.qcow2");
    r = hv_event_loop_start();
    if (r < 0)
        return r;
    r = hv_open("qemu:///system", &e->h, reterr_msg);
    if (r < 0)
        return r;

    /* tiny.xml with a NIC: tmpl_fill(.parent) must drop it, the clones get it */
    path = xasprintf("%s/templates/tiny.xml", srcdir);
    r = read_full_file(path, 1 << 20, &text, &len);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Cannot read '%s'.", path);
    end = strstr(text, "  </devices>");
    if (!end)
        return hv_fail(-EINVAL, reterr_msg, "'%s' has no </devices>.", path);
    with_nic = xasprintf("%.*s%s%s", (int) (end - text), text, nic, end);
    r = tmpl_load_string(with_nic, &e->tmpl, reterr_msg);
    if (r < 0)
        return r;

    if (mkdir(e->dir, 0755) < 0 || mkdir(e->vol_dir, 0755) < 0 ||
        mkdir(e->parent_dir, 0700) < 0)
        return hv_fail(-errno, reterr_msg, "Cannot make the workspace under '%s': %m.",
                       e->dir);
    return hv_storage_pool_ensure(e->h, prefix, e->vol_dir, reterr_msg);
}

/* Opens qemu:///system for a workspace that ic_env_setup() and
 * ic_parent_build() made in an earlier process (clone-tool): the same
 * paths, the saved image read back. 0 or negative errno + message. */
static inline int
ic_env_attach(struct ic_env *e, const char *srcdir, const char *prefix, char **reterr_msg)
{
    _cleanup_free_ char *path = NULL, *text = NULL, *with_nic = NULL;
    char *end;
    size_t len;
    int r;

    *e = (struct ic_env) {};
    e->prefix = xstrdup(prefix);
    e->dir = xasprintf("%s/%s", IC_STATE_DIR, prefix);
    e->vol_dir = xasprintf("%s/vols", e->dir);
    e->parent_dir = xasprintf("%s/parent", e->dir);
    e->golden = xstrdup(IC_GUEST_DIR "/golden-v1.qcow2");
    e->parent_name = xasprintf("%s-parent", prefix);
    e->parent_overlay = xasprintf("%s/%s-parent.qcow2", e->vol_dir, prefix);
    e->saved = xasprintf("%s/%s-parent.save", e->parent_dir, prefix);
    r = hv_event_loop_start();
    if (r < 0)
        return r;
    r = hv_open("qemu:///system", &e->h, reterr_msg);
    if (r < 0)
        return r;
    path = xasprintf("%s/templates/tiny.xml", srcdir);
    r = read_full_file(path, 1 << 20, &text, &len);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Cannot read '%s'.", path);
    end = strstr(text, "  </devices>");
    if (!end)
        return hv_fail(-EINVAL, reterr_msg, "'%s' has no </devices>.", path);
    with_nic = xasprintf("%.*s    <interface type='user'>\n      <model type='virtio'/>\n"
                         "    </interface>\n%s", (int) (end - text), text, end);
    r = tmpl_load_string(with_nic, &e->tmpl, reterr_msg);
    if (r < 0)
        return r;
    return hv_saved_image_read(e->saved, &e->img, reterr_msg);
}

/* Destroys every PREFIX-* domain (undefining persistent ones), then the
 * pool with its volumes and the directories. Best effort. */
static inline void
ic_env_teardown(struct ic_env *e)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    struct hv_domain *doms = NULL;
    size_t n = 0;
    char **vols = NULL;
    _cleanup_free_ char *cmd = NULL;
    unsigned fifos = 0;

    if (!e->h)
        return;
    if (hv_domain_list(e->h, e->prefix, &doms, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            (void) hv_domain_destroy(e->h, doms[i].name);
            (void) hv_domain_undefine(e->h, doms[i].name);
        }
        hv_domain_list_free(doms, n);
    }
    if (hv_volume_list(e->h, e->prefix, "", &vols, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            (void) hv_volume_delete(e->h, e->prefix, vols[i]);
            free(vols[i]);
        }
        free(vols);
    }
    if (hv_conn_get(e->h, &conn, NULL) == 0) {
        virStoragePoolPtr p = virStoragePoolLookupByName(conn, e->prefix);

        if (p) {
            virStoragePoolDestroy(p);
            virStoragePoolUndefine(p);
            virStoragePoolFree(p);
        }
        virResetLastError();
    }
    if (e->parent_dir)
        (void) hv_clone_fifos_cleanup(e->parent_dir, &fifos);
    if (e->saved)
        unlink(e->saved);
    if (e->dir && strncmp(e->dir, IC_STATE_DIR "/ic-", strlen(IC_STATE_DIR "/ic-")) == 0) {
        /* the names are ours; the check above keeps rm -rf inside them */
        cmd = xasprintf("rm -rf -- '%s'", e->dir);
        if (fork() == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
            _exit(127);
        }
        while (wait(NULL) > 0)
            ;
    }
}

/* The virtual size of qcow2 image PATH (big-endian u64 at offset 24 of
 * its header), or 0. */
static inline uint64_t
ic_qcow2_size(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char b[32];
    uint64_t v = 0;

    if (fd < 0 || pread(fd, b, sizeof(b), 0) != (ssize_t) sizeof(b) ||
        memcmp(b, "QFI\xfb", 4) != 0)
        return 0;
    for (int i = 24; i < 32; i++)
        v = v << 8 | b[i];
    return v;
}

/* Boots the parent (tmpl_fill .parent: no NIC, <genid/>) on an overlay of
 * the golden image, waits for its agent, writes /mnt/data/parent-file,
 * (ZERO_FREE: fills the guest's free memory with zeros once, a pre-freeze
 * step that turns free pages into zero pages QEMU does not store), saves
 * it, undefines it and makes its overlay 0444. Fills E's parent fields
 * and *RET_BOOT / *RET_SAVE (seconds). */
static inline int
ic_parent_build_full(struct ic_env *e, bool zero_free, double *ret_boot, double *ret_save,
                     char **reterr_msg)
{
    _cleanup_free_ char *uuid = ic_uuid(), *xml = NULL, *vol = NULL, *out = NULL;
    struct tmpl_fill f = {
        .virt_type = "qemu", .uuid = uuid, .disk_format = "qcow2", .parent = true,
        .graphics_listen = "127.0.0.1",
    };
    uint64_t t0, t1;
    int r;

    e->parent_name = xasprintf("%s-parent", e->prefix);
    vol = xasprintf("%s-parent.qcow2", e->prefix);
    e->saved = xasprintf("%s/%s-parent.save", e->parent_dir, e->prefix);
    t0 = now_usec();
    r = hv_volume_create_overlay(e->h, e->prefix, vol, e->golden, ic_qcow2_size(e->golden),
                                 &e->parent_overlay, reterr_msg);
    if (r < 0)
        return r;
    f.name = e->parent_name;
    f.disk_path = e->parent_overlay;
    r = tmpl_fill(e->tmpl, &f, &xml, reterr_msg);
    if (r < 0)
        return r;
    r = hv_domain_define(e->h, xml, 0, reterr_msg);
    if (r < 0)
        return r;
    r = hv_domain_start(e->h, e->parent_name, reterr_msg);
    if (r < 0)
        return r;
    r = ic_wait_agent(e->h, e->parent_name, IC_AGENT_TIMEOUT_MS);
    if (r < 0)
        return hv_fail(r, reterr_msg, "The parent's agent never answered.");
    r = ic_guest_line(e->h, e->parent_name,
                      "echo parent > /mnt/data/parent-file && sync && echo ok", &out);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Cannot write a file in the parent.");
    if (zero_free) {
        free(out);
        out = NULL;
        r = ic_guest_line(e->h, e->parent_name,
                          "n=$(awk '/MemFree/ { print int($2 / 1024) - 12 }' /proc/meminfo); "
                          "dd if=/dev/zero of=/run/zero bs=1M count=$n 2>/dev/null; "
                          "rm -f /run/zero; echo $n", &out);
        if (r < 0)
            return hv_fail(r, reterr_msg, "Cannot zero the parent's free memory.");
    }
    t1 = now_usec();
    r = hv_parent_save(e->h, e->parent_name, e->saved, reterr_msg);
    if (r < 0)
        return r;
    *ret_boot = ic_sec(t1 - t0);
    *ret_save = ic_sec(now_usec() - t1);
    r = hv_domain_undefine(e->h, e->parent_name);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Cannot undefine the saved parent.");
    if (chmod(e->parent_overlay, 0444) < 0)
        return hv_fail(-errno, reterr_msg, "Cannot make the parent's overlay read-only: %m.");
    return hv_saved_image_read(e->saved, &e->img, reterr_msg);
}

static inline int
ic_parent_build(struct ic_env *e, double *ret_boot, double *ret_save, char **reterr_msg)
{
    return ic_parent_build_full(e, false, ret_boot, ret_save, reterr_msg);
}

/* One clone and where its time went. */
struct ic_clone {
    /* in */
    struct ic_env *env;
    unsigned index;
    char name[64];
    char hostname[64];
    char mac[18];
    char *uuid;
    enum hv_clone_feed feed;
    bool split;             /* identity step by step, each timed (else hv_clone_identify()) */
    bool nic_first;         /* attach the NIC before waiting for the agent */
    /* out */
    char *overlay;
    char *vol;
    int r;
    char *err;
    struct hv_clone_stats stats;
    double t_overlay, t_xml, t_restore, t_agent, t_identity, t_ready;
    double t_nic, t_time, t_host;   /* with SPLIT */
};

static inline void
ic_clone_init(struct ic_clone *c, struct ic_env *e, unsigned index)
{
    *c = (struct ic_clone) { .env = e, .index = index };
    snprintf(c->name, sizeof(c->name), "%s-c%u", e->prefix, index);
    snprintf(c->hostname, sizeof(c->hostname), "ic-clone-%u", index);
    snprintf(c->mac, sizeof(c->mac), "52:54:00:1c:%02x:%02x", (index >> 8) & 0xff,
             index & 0xff);
    c->uuid = ic_uuid();
    c->vol = xasprintf("%s-c%u.qcow2", e->prefix, index);
}

static inline void
ic_clone_done(struct ic_clone *c)
{
    free(c->uuid);
    free(c->overlay);
    free(c->vol);
    free(c->err);
    *c = (struct ic_clone) {};
}

/* Makes clone C from E's parent as the daemon will: a fresh overlay on
 * the parent's overlay, tmpl_clone_xml(), hv_clone_restore_full(), wait
 * for the agent, then its NIC, clock and host name (hv_clone_identify()).
 * Sets C->r (0 or negative errno) and C->err. */
static inline void *
ic_clone_make(void *arg)
{
    struct ic_clone *c = arg;
    struct ic_env *e = c->env;
    _cleanup_free_ char *xml = NULL, *nic = NULL;
    struct tmpl_fill f = {
        .name = c->name, .uuid = c->uuid, .disk_format = "qcow2",
        .graphics_listen = "127.0.0.1",
    };
    struct hv_clone_opts o = { .feed = c->feed };
    const char *nics[2] = { NULL, NULL };
    struct hv_clone_identity id = { .nic_xml = nics, .hostname = c->hostname,
                                    .sync_time = true };
    uint64_t t0 = now_usec(), t;

    free(c->overlay);
    c->overlay = NULL;
    c->r = hv_volume_create_overlay(e->h, e->prefix, c->vol, e->parent_overlay, 0,
                                    &c->overlay, &c->err);
    if (c->r < 0)
        return NULL;
    t = now_usec();
    c->t_overlay = ic_sec(t - t0);
    f.disk_path = c->overlay;
    c->r = tmpl_clone_xml(e->img.xml, &f, &xml, &c->err);
    if (c->r >= 0)
        c->r = tmpl_interface_xml(e->tmpl, 0, c->mac, &nic, &c->err);
    if (c->r < 0)
        return NULL;
    nics[0] = nic;
    c->t_xml = ic_sec(now_usec() - t);
    t = now_usec();
    c->r = hv_clone_restore_full(e->h, e->saved, xml, &o, &c->stats, &c->err);
    if (c->r < 0)
        return NULL;
    c->t_restore = ic_sec(now_usec() - t);
    if (c->split && c->nic_first) {
        t = now_usec();
        c->r = hv_clone_attach_nic(e->h, c->name, nic, &c->err);
        c->t_nic = ic_sec(now_usec() - t);
        if (c->r < 0)
            return NULL;
    }
    t = now_usec();
    c->r = ic_wait_agent(e->h, c->name, 60000);
    if (c->r < 0) {
        c->err = xstrdup("The clone's agent never answered.");
        return NULL;
    }
    c->t_agent = ic_sec(now_usec() - t);
    t = now_usec();
    if (!c->split)
        c->r = hv_clone_identify(e->h, c->name, &id, &c->err);
    else {
        uint64_t s = now_usec();

        if (!c->nic_first) {
            c->r = hv_clone_attach_nic(e->h, c->name, nic, &c->err);
            c->t_nic = ic_sec(now_usec() - s);
            if (c->r < 0)
                return NULL;
        }
        s = now_usec();
        c->r = hv_domain_sync_time(e->h, c->name, &c->err);
        c->t_time = ic_sec(now_usec() - s);
        if (c->r < 0)
            return NULL;
        s = now_usec();
        c->r = hv_clone_set_hostname(e->h, c->name, c->hostname, 10, &c->err);
        c->t_host = ic_sec(now_usec() - s);
    }
    c->t_identity = ic_sec(now_usec() - t);
    c->t_ready = ic_sec(now_usec() - t0);
    return NULL;
}

/* A successor made ahead of need: a fresh overlay, the restore left
 * paused, its NIC attached (the guest sees it on resume). Sets C->r. */
static inline void
ic_clone_prepare_paused(struct ic_clone *c)
{
    struct ic_env *e = c->env;
    _cleanup_free_ char *xml = NULL, *nic = NULL;
    struct tmpl_fill f = {
        .name = c->name, .uuid = c->uuid, .disk_format = "qcow2",
        .graphics_listen = "127.0.0.1",
    };
    struct hv_clone_opts o = { .feed = c->feed, .paused = true };
    uint64_t t = now_usec();

    free(c->overlay);
    c->overlay = NULL;
    c->r = hv_volume_create_overlay(e->h, e->prefix, c->vol, e->parent_overlay, 0,
                                    &c->overlay, &c->err);
    if (c->r < 0)
        return;
    c->t_overlay = ic_sec(now_usec() - t);
    f.disk_path = c->overlay;
    c->r = tmpl_clone_xml(e->img.xml, &f, &xml, &c->err);
    if (c->r >= 0)
        c->r = tmpl_interface_xml(e->tmpl, 0, c->mac, &nic, &c->err);
    if (c->r < 0)
        return;
    t = now_usec();
    c->r = hv_clone_restore_full(e->h, e->saved, xml, &o, &c->stats, &c->err);
    if (c->r < 0)
        return;
    c->t_restore = ic_sec(now_usec() - t);
    t = now_usec();
    c->r = hv_clone_attach_nic(e->h, c->name, nic, &c->err);
    c->t_nic = ic_sec(now_usec() - t);
}

/* Resumes a successor made by ic_clone_prepare_paused() and finishes its
 * identity: agent, clock, host name. C->t_ready is from the resume. */
static inline void
ic_clone_activate(struct ic_clone *c)
{
    struct ic_env *e = c->env;
    uint64_t t0 = now_usec(), t;

    c->r = hv_domain_resume(e->h, c->name, &c->err);
    if (c->r < 0)
        return;
    t = now_usec();
    c->r = ic_wait_agent(e->h, c->name, 60000);
    if (c->r < 0) {
        c->err = xstrdup("The clone's agent never answered.");
        return;
    }
    c->t_agent = ic_sec(now_usec() - t);
    t = now_usec();
    c->r = hv_domain_sync_time(e->h, c->name, &c->err);
    c->t_time = ic_sec(now_usec() - t);
    if (c->r < 0)
        return;
    t = now_usec();
    c->r = hv_clone_set_hostname(e->h, c->name, c->hostname, 10, &c->err);
    c->t_host = ic_sec(now_usec() - t);
    c->t_ready = ic_sec(now_usec() - t0);
}

struct ic_batch {
    struct ic_clone *c;
    size_t n;
    size_t next;            /* atomic: the next clone to make */
};

static inline void *
ic_batch_worker(void *arg)
{
    struct ic_batch *b = arg;
    size_t i;

    while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_SEQ_CST)) < b->n)
        ic_clone_make(&b->c[i]);
    return NULL;
}

/* Makes N clones with at most PARALLEL at a time (0: all at once), as a
 * daemon's worker pool would. Returns the seconds until all are ready
 * (or failed). */
static inline double
ic_clones_make_parallel(struct ic_clone *c, size_t n, size_t parallel)
{
    struct ic_batch b = { .c = c, .n = n };
    size_t nt = parallel == 0 || parallel > n ? n : parallel;
    pthread_t *t = xmalloc0(nt * sizeof(*t));
    uint64_t t0 = now_usec();

    for (size_t i = 0; i < nt; i++)
        if (pthread_create(&t[i], NULL, ic_batch_worker, &b) != 0)
            abort();
    for (size_t i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    free(t);
    return ic_sec(now_usec() - t0);
}

/* Runs ic_clone_make() on N clones at once (one thread each). Returns
 * the seconds until all are ready (or failed). */
static inline double
ic_clones_make(struct ic_clone *c, size_t n)
{
    return ic_clones_make_parallel(c, n, 0);
}

/* CPU seconds (user + system) that the QEMU process of running domain
 * NAME has used so far (its pid from libvirt's /run/libvirt/qemu/NAME.pid),
 * or -1. */
static inline double
ic_qemu_cpu(const char *name)
{
    _cleanup_free_ char *pidfile = xasprintf("/run/libvirt/qemu/%s.pid", name);
    _cleanup_free_ char *pidtext = NULL, *stat = NULL, *statpath = NULL;
    unsigned long utime, stime;
    const char *p;
    unsigned pid;
    size_t len;

    if (read_full_file(pidfile, 64, &pidtext, &len) < 0)
        return -1;
    pidtext[strcspn(pidtext, "\n")] = '\0';
    if (safe_atou(pidtext, &pid) < 0)
        return -1;
    statpath = xasprintf("/proc/%u/stat", pid);
    if (read_full_file(statpath, 4096, &stat, &len) < 0)
        return -1;
    /* fields after the command name, which may hold spaces: state is 3rd */
    p = strrchr(stat, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                     &utime, &stime) != 2)
        return -1;
    return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

/* Destroys clone C's domain (transient: gone) and deletes its overlay:
 * the wipe at logout. */
static inline int
ic_clone_wipe(struct ic_clone *c)
{
    int r = hv_clone_destroy(c->env->h, c->name);

    if (r < 0 && r != -ENOENT)
        return r;
    return hv_volume_delete(c->env->h, c->env->prefix, c->vol);
}
