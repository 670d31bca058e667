/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-clone.c - instant clones: one parent's saved memory state restored as
 * many domains, each under its own name, UUID, disk, console and NIC
 *
 * Owns the mechanism, not the policy: saving a booted, ready parent
 * (hv_parent_save()), reading and checking libvirt's save image
 * (hv_saved_image_read()), restoring it as a new domain through a FIFO
 * (hv_clone_restore()), and the identity steps the caller runs after the
 * restore (hv_clone_attach_nic(), hv_clone_set_hostname(),
 * hv_domain_get_genid(), hv_domain_sync_time() from hv.c). Which parent
 * a pool uses, when to rebuild it and where files live is the daemon's.
 *
 * DESIGN. libvirt 9.0's save image (src/qemu/qemu_saveimage.[ch]) is a
 * 92-byte header (virQEMUSaveHeader: "LibvirtQemudSave", then host-endian
 * u32 version = 2, data_len, was_running, compressed (the format: 0 raw,
 * 1 gzip, 2 bzip2, 3 xz, 4 lzop), cookieOffset and 14 unused words), then
 * data_len bytes (the domain XML, NUL-terminated, the save cookie at
 * cookieOffset, NUL-terminated, then zeros: libvirt leaves 64 KiB of room
 * to edit the XML in place), then QEMU's migration stream ("QEVM", version
 * 3, sections, QEMU_VM_EOF = 0x00, then 0x06 + be32 length + the JSON
 * device description, which QEMU reads and discards). A save in progress
 * has the magic "LibvirtQemudPart"; libvirt writes the real magic last.
 *
 * virDomainRestoreFlags() with a dxml runs the ABI stability check, which
 * refuses another name, UUID, MAC or genid. Without a dxml nothing is
 * checked: the domain is whatever the header's XML says. So a clone is
 * restored from a FIFO that a feeder thread fills with a header and XML
 * of our own (the clone's name, UUID, disk...; same devices as the
 * parent, which tmpl_clone_xml() guarantees by editing the parent's own
 * XML), the parent's cookie, and then the parent's stream spliced from the
 * saved file: the page cache holds one copy for every clone, nothing is
 * copied or written per clone. libvirtd opens the restore path itself, as
 * root (qemuDomainOpenFile(); only on root-squashed NFS would it retry as
 * the qemu user), reads the header and passes the descriptor to QEMU,
 * which never sees the path: the FIFO can live in a directory only root
 * can enter. It must: whoever can open it can feed libvirtd a domain XML
 * of their choosing, or read the parent's memory. So the FIFO is made in
 * FIFO_DIR (default: the saved image's directory), which must be ours and
 * mode 0700 (checked), and which is not a libvirt storage pool directory
 * (a pool refresh would probe the FIFO as a volume). libvirt's DAC driver
 * chowns the path for the restore and back; a FIFO does not care.
 *
 * Threads and ownership. hv_clone_restore() runs on the caller's thread;
 * it makes the FIFO, starts one feeder thread, calls
 * virDomainRestoreFlags() on a connection of its own, then sets the
 * feeder's stop flag and joins it: the FIFO, the thread and the
 * connection never outlive the call. (libvirtd serves at most
 * max_client_requests = 5 calls of one connection at once; measured with
 * 8 restores on the shared connection, 3 waited 3.7-4.3 s for a slot
 * before libvirtd even opened their FIFO, and agent pings of the clones
 * already up queued behind them. hv_clone_destroy() has its own for a
 * like reason: a destroy holds up name lookups of other domains on the
 * same connection until the killed QEMU is reaped.) The feeder opens the
 * FIFO with O_NONBLOCK (ENXIO until libvirtd has opened the read end; it
 * retries every 0.2-1 ms) so it can never block on a reader that is not
 * coming, writes with poll() in 0.1 s steps so it sees STOP and CANCEL,
 * and blocks SIGPIPE in itself (EPIPE instead when QEMU gives up).
 * splice() rather than read()/write(): no copy through user space; the
 * restore time did not differ measurably (QEMU's load is the cost), and
 * neither did a 1 MiB pipe (F_SETPIPE_SZ), so the pipe keeps its size. A
 * cancel closes the write end: libvirtd or QEMU then read EOF, the restore
 * fails and libvirt kills that QEMU. A failed restore leaves no domain:
 * libvirt removes a transient one it was creating; if the clone's domain
 * is running afterwards all the same (it was not before; the call failed
 * client-side, e.g. a keepalive timeout) it is destroyed here.
 * A crash of the caller mid-restore closes the write end (EOF, the restore
 * fails) or, before the feeder opened it, leaves libvirtd blocked in
 * open() on the FIFO: hv_clone_fifos_cleanup() at the next start opens
 * every leftover FIFO for writing (which releases such a reader with EOF)
 * and removes it.
 *
 * Identity. The saved XML must have no <interface> (checked on save and
 * on restore): a NIC in the parent would come back in every clone with the
 * parent's MAC, in libvirt's XML and in the guest's device state. The
 * caller hot-plugs each clone's NIC with its own MAC after the restore.
 * genid: libvirt gives a restored domain a new VM generation ID whenever
 * its XML has <genid> (qemuProcessGenID() with START_GEN_VMID), and QEMU's
 * vmgenid device writes it into guest memory after loading the state and
 * notifies the guest; the parent is booted with <genid/> for that. Host
 * name (written to /proc/sys/kernel/hostname with guest-file-*, else
 * guest-exec of hostname) and clock (virDomainSetTime) go through the
 * guest agent, which answers within ~0.1 s of the restore.
 *
 * Saving: VIR_DOMAIN_SAVE_RUNNING so the header says "running"; no
 * BYPASS_CACHE, deliberately: the image is read by every clone, and the
 * first ones then find it in the page cache (measured: the save itself
 * takes the same 1.4-2.3 s either way; a restore right after it 0.6-1.0 s
 * without, 0.8-1.5 s with). The image is fsync()ed: a parent must outlive
 * a host crash with a complete stream behind its complete header.
 *
 * Files this module touches directly, unlike the rest of hv: the saved
 * image (read; written only by libvirtd), the FIFOs. Never: log above
 * debug, write to a saved image, follow a FIFO_DIR it does not own.
 */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "hv-priv.h"
#include "json-util.h"
#include "log.h"
#include "util.h"

#define HV_SAVE_MAGIC "LibvirtQemudSave"
#define HV_SAVE_PARTIAL "LibvirtQemudPart"
#define HV_SAVE_VERSION 2
#define HV_SAVE_FORMAT_RAW 0
#define HV_SAVE_DATA_MAX (16u << 20)        /* XML + cookie + padding we accept */
#define HV_SAVE_TAIL_MAX (8u << 20)         /* how far back the device description may start */
#define HV_QEMU_MAGIC "QEVM"
#define HV_QEMU_VERSION 3
#define HV_QEMU_VM_EOF 0x00
#define HV_QEMU_VM_VMDESCRIPTION 0x06
#define HV_FEED_CHUNK (1u << 20)
#define HV_FEED_POLL_MS 100
#define HV_FIFO_PREFIX ".clone-"
#define HV_FIFO_SUFFIX ".fifo"
#define HV_CLONE_XML_MAX (1u << 20)
#define HV_HOSTNAME_MAX 63
#define HV_CLONE_KEEPALIVE_INTERVAL 5     /* s; a dead libvirtd ends the restore call */
#define HV_CLONE_KEEPALIVE_COUNT 6

/* libvirt's virQEMUSaveHeader, host-endian on disk (little-endian here). */
struct hv_save_header {
    char magic[16];
    uint32_t version;
    uint32_t data_len;
    uint32_t was_running;
    uint32_t compressed;
    uint32_t cookie_offset;
    uint32_t unused[14];
};
_Static_assert(sizeof(struct hv_save_header) == 92, "libvirt's save header is 92 bytes");

/* ---- small helpers ---- */

/* pread() of exactly LEN bytes at OFF: 0, -EBADMSG when the file ends
 * first, or -errno. */
static int
pread_exact(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    ssize_t k;

    while (done < len) {
        k = pread(fd, (char *) buf + done, len - done, (off_t) (off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EBADMSG;
        done += (size_t) k;
    }
    return 0;
}

static uint32_t
be32_at(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* The text of the first <ELEM>...</ELEM> of XML, unescaped. Only for
 * libvirt's formatter output and tmpl.c's, where <name>, <uuid> and
 * <genid> are the first such elements and carry no attributes (as
 * hv_xml_find_path() in hv-storage.c). -ENOENT when absent or empty. */
static int
hv_xml_find_text(const char *xml, const char *elem, char **ret)
{
    _cleanup_free_ char *open_tag = xasprintf("<%s>", elem);
    _cleanup_free_ char *close_tag = xasprintf("</%s>", elem);
    const char *p, *q;
    char *s;

    p = strstr(xml, open_tag);
    if (!p)
        return -ENOENT;
    p += strlen(open_tag);
    q = strstr(p, close_tag);
    if (!q || q == p)
        return -ENOENT;
    s = xmalloc0((size_t) (q - p) + 1);
    memcpy(s, p, (size_t) (q - p));
    hv_xml_unescape(s);
    *ret = s;
    return 0;
}

/* True when XML has a network interface element. */
static bool
hv_xml_has_interface(const char *xml)
{
    return strstr(xml, "<interface ") || strstr(xml, "<interface>");
}

/* ---- the saved image ---- */

void
hv_saved_image_done(struct hv_saved_image *s)
{
    if (!s)
        return;
    free(s->xml);
    free(s->cookie);
    *s = (struct hv_saved_image) {};
}

/* Finds QEMU's end of stream: the file must end with QEMU_VM_EOF, then
 * QEMU_VM_VMDESCRIPTION, a be32 length and that many bytes of JSON
 * ("{...}"). Searched backwards in the last HV_SAVE_TAIL_MAX bytes.
 * Returns 0 and the offset of the 0x06 byte, or -EBADMSG (truncated, or
 * not a stream QEMU 7.2 wrote to a file), or -errno. */
static int
saved_find_tail(int fd, uint64_t stream_offset, uint64_t size, uint64_t *ret)
{
    _cleanup_free_ unsigned char *buf = NULL;
    uint64_t start;
    size_t len, i;
    int r;

    start = size - stream_offset > HV_SAVE_TAIL_MAX ? size - HV_SAVE_TAIL_MAX : stream_offset;
    len = (size_t) (size - start);
    if (len < 8)
        return -EBADMSG;
    buf = xmalloc0(len);
    r = pread_exact(fd, buf, len, start);
    if (r < 0)
        return r;
    if (buf[len - 1] != '}')
        return -EBADMSG;
    for (i = len - 6; i >= 1; i--) {
        if (buf[i] != HV_QEMU_VM_VMDESCRIPTION || buf[i - 1] != HV_QEMU_VM_EOF ||
            buf[i + 5] != '{' || be32_at(buf + i + 1) != len - i - 5)
            continue;
        *ret = start + i;
        return 0;
    }
    return -EBADMSG;
}

/* Reads and checks the saved image at PATH (see hv.h). The header must be
 * libvirt's, complete, version 2, raw (not compressed), saved running,
 * with a NUL-terminated <domain> XML and cookie inside at most 16 MiB;
 * QEMU's stream must begin with its magic and version 3 and end with its
 * end-of-stream marker and device description. Returns 0 and fills *RET
 * (free with hv_saved_image_done()); -EBADMSG for a damaged or truncated
 * image, -EOPNOTSUPP for a valid one we cannot clone from (compressed,
 * paused, another version), -errno when it cannot be read; each with a
 * sentence in *RETERR_MSG. Does not log. */
int
hv_saved_image_read(const char *path, struct hv_saved_image *ret, char **reterr_msg)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *data = NULL;
    struct hv_save_header hdr;
    struct stat st;
    unsigned char qemu[8];
    uint32_t version, data_len, was_running, compressed, cookie_offset, xml_len;
    uint64_t stream_offset, tail;
    const char *cookie = NULL;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return hv_fail(-errno, reterr_msg, "Saved image '%s' cannot be opened: %s.", path,
                       strerror(errno));
    if (fstat(fd, &st) < 0)
        return hv_fail(-errno, reterr_msg, "Saved image '%s' cannot be read: %s.", path,
                       strerror(errno));
    if (!S_ISREG(st.st_mode))
        return hv_fail(-EBADMSG, reterr_msg, "Saved image '%s' is not a regular file.", path);
    r = pread_exact(fd, &hdr, sizeof(hdr), 0);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Saved image '%s' is shorter than libvirt's header.",
                       path);
    if (memcmp(hdr.magic, HV_SAVE_PARTIAL, sizeof(hdr.magic)) == 0)
        return hv_fail(-EBADMSG, reterr_msg,
                       "Saved image '%s' is incomplete: libvirt never finished the save.",
                       path);
    if (memcmp(hdr.magic, HV_SAVE_MAGIC, sizeof(hdr.magic)) != 0)
        return hv_fail(-EBADMSG, reterr_msg,
                       "Saved image '%s' does not begin with libvirt's save magic.", path);
    version = le32toh(hdr.version);
    data_len = le32toh(hdr.data_len);
    was_running = le32toh(hdr.was_running);
    compressed = le32toh(hdr.compressed);
    cookie_offset = le32toh(hdr.cookie_offset);
    if (version != HV_SAVE_VERSION)
        return hv_fail(-EOPNOTSUPP, reterr_msg,
                       "Saved image '%s' has header version %" PRIu32 "; only version 2 "
                       "(libvirt 9.0, this host's byte order) can be cloned.", path, version);
    if (compressed != HV_SAVE_FORMAT_RAW)
        return hv_fail(-EOPNOTSUPP, reterr_msg,
                       "Saved image '%s' is compressed (format %" PRIu32 "); instant clones "
                       "need a raw image (save_image_format = \"raw\" in qemu.conf).",
                       path, compressed);
    if (was_running != 1)
        return hv_fail(-EOPNOTSUPP, reterr_msg,
                       "Saved image '%s' was saved paused; instant clones need a parent "
                       "saved running.", path);
    if (data_len == 0 || data_len > HV_SAVE_DATA_MAX || cookie_offset >= data_len)
        return hv_fail(-EBADMSG, reterr_msg,
                       "Saved image '%s' has a damaged header (XML length %" PRIu32
                       ", cookie offset %" PRIu32 ").", path, data_len, cookie_offset);
    stream_offset = sizeof(hdr) + (uint64_t) data_len;
    if ((uint64_t) st.st_size < stream_offset + sizeof(qemu))
        return hv_fail(-EBADMSG, reterr_msg,
                       "Saved image '%s' ends before QEMU's stream begins.", path);

    data = xmalloc0((size_t) data_len + 1);
    r = pread_exact(fd, data, data_len, sizeof(hdr));
    if (r < 0)
        return hv_fail(r, reterr_msg, "Saved image '%s' cannot be read: %s.", path,
                       strerror(-r));
    xml_len = cookie_offset > 0 ? cookie_offset : data_len;
    if (!memchr(data, '\0', xml_len) || strncmp(data, "<domain", strlen("<domain")) != 0)
        return hv_fail(-EBADMSG, reterr_msg,
                       "Saved image '%s' has no NUL-terminated <domain> XML in its header.",
                       path);
    if (cookie_offset > 0) {
        cookie = data + cookie_offset;
        if (!memchr(cookie, '\0', data_len - cookie_offset) ||
            strncmp(cookie, "<cookie", strlen("<cookie")) != 0)
            return hv_fail(-EBADMSG, reterr_msg,
                           "Saved image '%s' has a damaged save cookie in its header.", path);
    }
    r = pread_exact(fd, qemu, sizeof(qemu), stream_offset);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Saved image '%s' cannot be read: %s.", path,
                       strerror(-r));
    if (memcmp(qemu, HV_QEMU_MAGIC, 4) != 0 || be32_at(qemu + 4) != HV_QEMU_VERSION)
        return hv_fail(-EBADMSG, reterr_msg,
                       "Saved image '%s' has no QEMU migration stream (version 3) after its "
                       "header.", path);
    r = saved_find_tail(fd, stream_offset, (uint64_t) st.st_size, &tail);
    if (r == -EBADMSG)
        return hv_fail(r, reterr_msg,
                       "Saved image '%s' is truncated: QEMU's stream does not end with its "
                       "end-of-stream marker and device description.", path);
    if (r < 0)
        return hv_fail(r, reterr_msg, "Saved image '%s' cannot be read: %s.", path,
                       strerror(-r));

    *ret = (struct hv_saved_image) {
        .xml = xstrdup(data),
        .cookie = cookie ? xstrdup(cookie) : NULL,
        .stream_offset = stream_offset,
        .size = (uint64_t) st.st_size,
    };
    return 0;
}

/* ---- saving a parent ---- */

/* fsync() of PATH (a file or a directory). 0 or -errno. */
static int
fsync_path(const char *path, bool dir)
{
    _cleanup_close_ int fd = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

/* Saves running DOMAIN to PATH for instant clones (see hv.h). Refuses a
 * domain that is not running (-EBUSY) or has an <interface> (-EINVAL), a
 * PATH that is relative (-EINVAL) or exists (-EEXIST). The save runs
 * with VIR_DOMAIN_SAVE_RUNNING (the header says "running", so a restore
 * resumes the guest) and without BYPASS_CACHE: the image stays in the
 * page cache, where the first clones read it (measured: the save takes
 * the same time either way). Then the image is fsync()ed with its
 * directory (a parent outlives a host crash), made 0400 and read back
 * with hv_saved_image_read(). On any failure PATH is removed. Does not
 * log. */
int
hv_parent_save(struct hv *h, const char *domain, const char *path, char **reterr_msg)
{
    HV_TOUCH_ON_RETURN(h, domain);
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    _cleanup_free_ char *xml = NULL, *dir_copy = NULL;
    struct hv_saved_image check = {};
    struct stat st;
    int r;

    if (!path || path[0] != '/')
        return hv_fail(-EINVAL, reterr_msg, "Saved image path '%s' is not absolute.",
                       strempty(path));
    if (lstat(path, &st) == 0)
        return hv_fail(-EEXIST, reterr_msg, "Saved image '%s' already exists.", path);
    if (errno != ENOENT)
        return hv_fail(-errno, reterr_msg, "Saved image '%s' cannot be checked: %s.", path,
                       strerror(errno));
    r = hv_domain_lookup(h, domain, &dom, reterr_msg);
    if (r < 0)
        return r;
    r = virDomainIsActive(dom);
    if (r < 0)
        return hv_last_error(reterr_msg);
    if (r == 0)
        return hv_fail(-EBUSY, reterr_msg, "Domain '%s' is not running.", domain);
    xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return hv_last_error(reterr_msg);
    if (hv_xml_has_interface(xml))
        return hv_fail(-EINVAL, reterr_msg,
                       "Domain '%s' has a network interface; every clone would restore its "
                       "MAC. Boot the parent without one.", domain);

    if (virDomainSaveFlags(dom, path, NULL, VIR_DOMAIN_SAVE_RUNNING) < 0) {
        r = hv_last_error(reterr_msg);
        goto fail;
    }
    r = fsync_path(path, false);
    if (r >= 0) {
        dir_copy = xstrdup(path);
        r = fsync_path(dirname(dir_copy), true);
    }
    if (r < 0) {
        hv_fail(r, reterr_msg, "Saved image '%s' cannot be synced to disk: %s.", path,
                strerror(-r));
        goto fail;
    }
    if (chmod(path, 0400) < 0) {
        r = hv_fail(-errno, reterr_msg, "Saved image '%s' cannot be made read-only: %s.",
                    path, strerror(errno));
        goto fail;
    }
    r = hv_saved_image_read(path, &check, reterr_msg);
    hv_saved_image_done(&check);
    if (r < 0)
        goto fail;
    log_debug("Saved parent '%s' to '%s'.", domain, path);
    return 0;

 fail:
    if (unlink(path) < 0 && errno != ENOENT)
        log_debug("Cannot remove '%s' after a failed save: %m", path);
    return r;
}

/* ---- the FIFO and its feeder ---- */

struct hv_feed {
    /* set before the thread starts */
    char *fifo;
    int src_fd;                 /* the saved image */
    uint64_t offset, end;       /* QEMU's stream: [offset, end) of src_fd */
    char *head;                 /* the clone's header, XML, cookie */
    size_t head_len;
    enum hv_clone_feed mode;
    const atomic_bool *cancel;
    uint64_t t0;                /* now_usec() when the restore was called */
    /* set by the caller's thread once the restore call returned */
    atomic_bool stop;
    /* written by the feeder; read after pthread_join() */
    int err;                    /* 0, or why the feed ended early */
    uint64_t bytes;
    uint64_t open_usec, head_usec, stream_usec;
};

static bool
feed_stopped(struct hv_feed *f)
{
    return atomic_load(&f->stop) || (f->cancel && atomic_load(f->cancel));
}

static void
sleep_usec(unsigned usec)
{
    struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) usec * 1000L };

    nanosleep(&ts, NULL);
}

/* Waits until FD can be written, in HV_FEED_POLL_MS steps. 0, or
 * -ECANCELED when told to stop, -EPIPE when the reader is gone. */
static int
feed_wait_writable(struct hv_feed *f, int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int k;

    for (;;) {
        if (feed_stopped(f))
            return -ECANCELED;
        k = poll(&p, 1, HV_FEED_POLL_MS);
        if (k < 0 && errno != EINTR)
            return -errno;
        if (k > 0 && (p.revents & (POLLERR | POLLHUP)))
            return -EPIPE;
        if (k > 0)
            return 0;
    }
}

/* Writes LEN bytes of BUF to the non-blocking FD. 0 or negative errno. */
static int
feed_write_all(struct hv_feed *f, int fd, const char *buf, size_t len)
{
    ssize_t k;
    int r;

    while (len > 0) {
        r = feed_wait_writable(f, fd);
        if (r < 0)
            return r;
        k = write(fd, buf, len);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k < 0)
            return -errno;
        f->bytes += (uint64_t) k;
        buf += k;
        len -= (size_t) k;
    }
    return 0;
}

/* Moves the stream into the FIFO: splice() from the page cache (no copy
 * in user space), or pread() + write() through a buffer. */
static int
feed_stream(struct hv_feed *f, int fd)
{
    _cleanup_free_ char *buf = NULL;
    uint64_t off = f->offset;
    loff_t in_off;
    size_t want, done;
    ssize_t k;
    int r;

    if (f->mode == HV_CLONE_FEED_COPY)
        buf = xmalloc0(HV_FEED_CHUNK);
    while (off < f->end) {
        want = (size_t) MIN((uint64_t) HV_FEED_CHUNK, f->end - off);
        if (f->mode == HV_CLONE_FEED_COPY) {
            r = pread_exact(f->src_fd, buf, want, off);
            if (r < 0)
                return r;
            r = feed_write_all(f, fd, buf, want);
            if (r < 0)
                return r;
            off += want;
            continue;
        }
        r = feed_wait_writable(f, fd);
        if (r < 0)
            return r;
        in_off = (loff_t) off;
        k = splice(f->src_fd, &in_off, fd, NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MORE);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EBADMSG;    /* the file shrank under us */
        done = (size_t) k;
        off += done;
        f->bytes += done;
    }
    return 0;
}

static void *
feed_thread(void *arg)
{
    struct hv_feed *f = arg;
    sigset_t pipe_set;
    struct timespec zero = { 0, 0 };
    unsigned backoff = 200;
    int fd = -1, r = 0;

    /* A reader that went away is EPIPE here, not SIGPIPE for the process. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

    /* O_NONBLOCK: ENXIO until libvirtd has the read end open. A cancel
     * still opens it if a reader is waiting: closing it at once is what
     * releases that reader (EOF). */
    while (fd < 0) {
        if (atomic_load(&f->stop)) {
            r = -ECANCELED;
            goto done;
        }
        fd = open(f->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            break;
        if (errno != ENXIO && errno != EINTR) {
            r = -errno;
            goto done;
        }
        sleep_usec(backoff);
        backoff = MIN(backoff * 2, 1000u);
    }
    f->open_usec = now_usec() - f->t0;
    if (feed_stopped(f)) {
        r = -ECANCELED;
        goto done;
    }
    r = feed_write_all(f, fd, f->head, f->head_len);
    if (r < 0)
        goto done;
    f->head_usec = now_usec() - f->t0;
    r = feed_stream(f, fd);
    if (r >= 0)
        f->stream_usec = now_usec() - f->t0;

 done:
    if (fd >= 0)
        close(fd);
    if (r == -EPIPE)
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    f->err = r;
    return NULL;
}

/* Refuses a FIFO directory anyone but us could enter or change. */
static int
fifo_dir_check(const char *dir, char **reterr_msg)
{
    struct stat st;

    if (lstat(dir, &st) < 0)
        return hv_fail(-errno, reterr_msg, "FIFO directory '%s' cannot be used: %s.", dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0)
        return hv_fail(-EPERM, reterr_msg,
                       "FIFO directory '%s' must be a directory owned by uid %u with mode "
                       "0700: whoever can open a restore FIFO can feed libvirtd a domain.",
                       dir, (unsigned) geteuid());
    return 0;
}

/* Makes a new FIFO (0600) in DIR. Returns 0 and its path. */
static int
fifo_make(const char *dir, char **ret_path, char **reterr_msg)
{
    for (unsigned i = 0; i < 16; i++) {
        _cleanup_free_ char *rnd = random_hex(8);
        char *path = xasprintf("%s/" HV_FIFO_PREFIX "%s" HV_FIFO_SUFFIX, dir, rnd);

        if (mkfifo(path, 0600) == 0) {
            *ret_path = path;
            return 0;
        }
        free(path);
        if (errno != EEXIST)
            return hv_fail(-errno, reterr_msg, "Cannot make a FIFO in '%s': %s.", dir,
                           strerror(errno));
    }
    return hv_fail(-EEXIST, reterr_msg, "Cannot make a FIFO in '%s'.", dir);
}

/* Releases and removes every restore FIFO left in DIR by a process that
 * died mid-restore (see hv.h). Returns 0 and how many it removed, or
 * -errno when DIR cannot be read. Call it only when no restore of ours
 * runs on DIR. Does not log above debug. */
int
hv_clone_fifos_cleanup(const char *dir, unsigned *ret_n)
{
    DIR *d;
    struct dirent *e;
    unsigned n = 0;

    d = opendir(dir);
    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int fd;

        if (strncmp(e->d_name, HV_FIFO_PREFIX, strlen(HV_FIFO_PREFIX)) != 0 ||
            l <= strlen(HV_FIFO_SUFFIX) ||
            !streq(e->d_name + l - strlen(HV_FIFO_SUFFIX), HV_FIFO_SUFFIX))
            continue;
        path = xasprintf("%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
            continue;
        /* A reader blocked in open() (libvirtd) gets its EOF now. */
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
        if (unlink(path) == 0)
            n++;
        log_debug("Removed leftover restore FIFO '%s'%s.", path,
                  fd >= 0 ? " (libvirtd was waiting on it)" : "");
    }
    closedir(d);
    if (ret_n)
        *ret_n = n;
    return 0;
}

/* The clone's header: libvirt's layout with our XML and the parent's
 * cookie, no padding (data_len is exactly XML + cookie). */
static char *
clone_head(const char *xml, const char *cookie, size_t *ret_len)
{
    struct hv_save_header hdr = {};
    size_t xml_len = strlen(xml) + 1, cookie_len = cookie ? strlen(cookie) + 1 : 0;
    size_t len = sizeof(hdr) + xml_len + cookie_len;
    char *buf = xmalloc0(len);

    memcpy(hdr.magic, HV_SAVE_MAGIC, sizeof(hdr.magic));
    hdr.version = htole32(HV_SAVE_VERSION);
    hdr.data_len = htole32((uint32_t) (xml_len + cookie_len));
    hdr.was_running = htole32(1);
    hdr.compressed = htole32(HV_SAVE_FORMAT_RAW);
    hdr.cookie_offset = htole32(cookie ? (uint32_t) xml_len : 0);
    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + sizeof(hdr), xml, xml_len);
    if (cookie)
        memcpy(buf + sizeof(hdr) + xml_len, cookie, cookie_len);
    *ret_len = len;
    return buf;
}

/* After a failed restore: destroys domain NAME if it runs now (it did not
 * before the call). */
static void
clone_remove_leftover(struct hv *h, const char *name)
{
    bool active = false;

    if (hv_domain_is_active(h, name, &active) < 0 || !active)
        return;
    log_debug("Restore of '%s' failed but the domain runs: destroying it.", name);
    (void) hv_domain_destroy(h, name);
}

/* Restores a clone (see hv.h). Does not log above debug. */
int
hv_clone_restore_full(struct hv *h, const char *saved_path, const char *clone_xml,
                      const struct hv_clone_opts *opts, struct hv_clone_stats *ret_stats,
                      char **reterr_msg)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;   /* our own, see below */
    _cleanup_free_ char *name = NULL, *dir_copy = NULL, *restore_err = NULL;
    struct hv_saved_image img = {};
    struct hv_feed f = { .src_fd = -1 };
    const char *fifo_dir;
    pthread_t thread;
    bool active = false;
    uint64_t t_restored;
    int r, k;

    if (!clone_xml || strnlen(clone_xml, HV_CLONE_XML_MAX + 1) > HV_CLONE_XML_MAX)
        return hv_fail(-EINVAL, reterr_msg, "The clone's domain XML is missing or over 1 MiB.");
    if (hv_xml_find_text(clone_xml, "name", &name) < 0)
        return hv_fail(-EINVAL, reterr_msg, "The clone's domain XML has no <name>.");
    if (hv_xml_has_interface(clone_xml))
        return hv_fail(-EINVAL, reterr_msg,
                       "The XML of clone '%s' has a network interface; attach it after the "
                       "restore (a restored NIC keeps the parent's state).", name);
    if (!saved_path || saved_path[0] != '/')
        return hv_fail(-EINVAL, reterr_msg, "Saved image path '%s' is not absolute.",
                       strempty(saved_path));
    if (opts && opts->fifo_dir)
        fifo_dir = opts->fifo_dir;
    else {
        dir_copy = xstrdup(saved_path);
        fifo_dir = dirname(dir_copy);
    }
    r = fifo_dir_check(fifo_dir, reterr_msg);
    if (r < 0)
        return r;

    r = hv_domain_is_active(h, name, &active);
    if (r < 0 && r != -ENOENT)
        return hv_fail(r, reterr_msg, "Cannot tell whether domain '%s' runs.", name);
    if (active)
        return hv_fail(-EEXIST, reterr_msg, "Domain '%s' is already running.", name);

    r = hv_saved_image_read(saved_path, &img, reterr_msg);
    if (r < 0)
        return r;
    f.src_fd = open(saved_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f.src_fd < 0) {
        r = hv_fail(-errno, reterr_msg, "Saved image '%s' cannot be opened: %s.", saved_path,
                    strerror(errno));
        goto cleanup;
    }
    f.offset = img.stream_offset;
    f.end = img.size;
    f.head = clone_head(clone_xml, img.cookie, &f.head_len);
    f.mode = opts ? opts->feed : HV_CLONE_FEED_SPLICE;
    f.cancel = opts ? opts->cancel : NULL;
    atomic_init(&f.stop, false);
    r = fifo_make(fifo_dir, &f.fifo, reterr_msg);
    if (r < 0)
        goto cleanup;

    /* A connection of its own: libvirtd serves at most max_client_requests
     * (default 5) calls of one connection at once and a restore holds its
     * slot for seconds; on the shared connection concurrent restores queue
     * and starve the short calls (agent pings, attaches). Keepalive: a
     * libvirtd that dies mid-restore ends the call. */
    conn = virConnectOpen(hv_uri(h));
    if (!conn) {
        r = hv_last_error(reterr_msg);
        if (r == -ENOENT || r == -ENOTCONN)
            r = -ECONNREFUSED;
        goto cleanup;
    }
    if (virConnectSetKeepAlive(conn, HV_CLONE_KEEPALIVE_INTERVAL, HV_CLONE_KEEPALIVE_COUNT) < 0)
        virResetLastError();

    f.t0 = now_usec();
    k = pthread_create(&thread, NULL, feed_thread, &f);
    if (k != 0) {
        r = hv_fail(-k, reterr_msg, "Cannot start the restore feeder thread: %s.",
                    strerror(k));
        goto cleanup;
    }
    /* RUNNING: the header says so too. Never BYPASS_CACHE: libvirt would
     * put its O_DIRECT helper between the FIFO and QEMU. */
    r = virDomainRestoreFlags(conn, f.fifo, NULL,
                              opts && opts->paused ? VIR_DOMAIN_SAVE_PAUSED
                                                   : VIR_DOMAIN_SAVE_RUNNING);
    t_restored = now_usec() - f.t0;
    if (r < 0)
        r = hv_last_error(&restore_err);
    hv_touch(h, name);
    /* not hv_note_duration(): that flags calls that should take
     * milliseconds; a restore takes seconds by nature */
    /* the feeder never outlives this: every path below has it joined */
    atomic_store(&f.stop, true);
    pthread_join(thread, NULL);

    if (r < 0) {
        /* The feeder's reason comes first when it is the cause. */
        if (opts && opts->cancel && atomic_load(opts->cancel))
            r = hv_fail(-ECANCELED, reterr_msg, "Restore of clone '%s' was cancelled.", name);
        else if (f.err < 0 && f.err != -ECANCELED && f.err != -EPIPE)
            r = hv_fail(f.err, reterr_msg,
                        "Restore of clone '%s' failed: feeding the saved image failed: %s.",
                        name, strerror(-f.err));
        else if (reterr_msg && !*reterr_msg)
            *reterr_msg = TAKE_PTR(restore_err);
        clone_remove_leftover(h, name);
        goto cleanup;
    }
    if (ret_stats)
        *ret_stats = (struct hv_clone_stats) {
            .open_usec = f.open_usec,
            .head_usec = f.head_usec,
            .stream_usec = f.stream_usec,
            .restore_usec = t_restored,
            .bytes = f.bytes,
        };
    log_debug("Restored clone '%s' from '%s' in %" PRIu64 " ms.", name, saved_path,
              t_restored / 1000);
    r = 0;

 cleanup:
    if (f.fifo && unlink(f.fifo) < 0 && errno != ENOENT)
        log_debug("Cannot remove FIFO '%s': %m", f.fifo);
    free(f.fifo);
    free(f.head);
    if (f.src_fd >= 0)
        close(f.src_fd);
    hv_saved_image_done(&img);
    return r;
}

/* Hard power-off of clone NAME on a connection of its own (see hv.h):
 * 0 also when it was not running, -ENOENT when there is no such domain
 * (a stopped transient clone is gone). Does not log. */
int
hv_clone_destroy(struct hv *h, const char *name)
{
    HV_TOUCH_ON_RETURN(h, name);
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    int r;

    conn = virConnectOpen(hv_uri(h));
    if (!conn) {
        r = hv_last_error(NULL);
        return r == -ENOENT ? -ECONNREFUSED : r;
    }
    dom = virDomainLookupByName(conn, name);
    if (!dom)
        return hv_last_error(NULL);
    return hv_domain_destroy_dom(dom);
}

int
hv_clone_restore(struct hv *h, const char *saved_path, const char *clone_xml,
                 char **reterr_msg)
{
    return hv_clone_restore_full(h, saved_path, clone_xml, NULL, NULL, reterr_msg);
}

/* ---- identity ---- */

/* The MAC address in IFACE_XML's <mac address='...'/>, lower case. */
static int
iface_mac(const char *iface_xml, char ret[static 18])
{
    const char *p = strstr(iface_xml, "<mac address=");
    char q;

    if (!p)
        return -ENOENT;
    p += strlen("<mac address=");
    q = *p++;
    if ((q != '\'' && q != '"') || strlen(p) < 18 || p[17] != q)
        return -EINVAL;
    for (int i = 0; i < 17; i++) {
        char c = p[i];

        if (i % 3 == 2 ? c != ':' : !strchr("0123456789abcdefABCDEF", c))
            return -EINVAL;
        ret[i] = (char) (c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    ret[17] = '\0';
    return 0;
}

/* Hot-plugs the clone's NIC (see hv.h). Idempotent: 0 when the running
 * domain already has an interface with that MAC. -EINVAL when IFACE_XML
 * has no valid <mac address>. Does not log. */
int
hv_clone_attach_nic(struct hv *h, const char *domain, const char *iface_xml,
                    char **reterr_msg)
{
    _cleanup_(hv_domain_freep) virDomainPtr dom = NULL;
    _cleanup_free_ char *live = NULL, *want = NULL;
    char mac[18];
    int r;

    if (!iface_xml || iface_mac(iface_xml, mac) < 0)
        return hv_fail(-EINVAL, reterr_msg,
                       "The interface for clone '%s' has no valid <mac address>; a clone must "
                       "not get the parent's or a random MAC.", domain);
    r = hv_domain_lookup(h, domain, &dom, reterr_msg);
    if (r < 0)
        return r;
    live = virDomainGetXMLDesc(dom, 0);
    if (!live)
        return hv_last_error(reterr_msg);
    want = xasprintf("<mac address='%s'/>", mac);
    if (strstr(live, want))
        return 0;
    if (virDomainAttachDeviceFlags(dom, iface_xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* The "return" object of a guest agent answer (JSON, parsed with json-c
 * through json-util). 0 and a new reference, or -EINVAL/-EIO + message. */
static int
agent_return(const char *json, json_object **ret_obj, char **reterr_msg)
{
    _cleanup_json_ json_object *o = NULL;
    json_object *v;
    int r;

    r = json_parse_object(json, strlen(json), &o, reterr_msg);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(o, "return", &v) || !json_object_is_type(v, json_type_object))
        return hv_fail(-EIO, reterr_msg, "The guest agent's answer has no \"return\" object.");
    *ret_obj = json_object_get(v);
    return 0;
}

/* Runs PATH ARGV... in the guest through guest-exec and waits up to
 * TIMEOUT_SEC for it to exit. Returns 0 and its exit code; -EAGAIN while
 * the agent is not up, -ETIMEDOUT, or another negative errno + message. */
static int
agent_exec(struct hv *h, const char *domain, const char *path, const char *const *argv,
           int timeout_sec, int *ret_exitcode, char **reterr_msg)
{
    _cleanup_json_ json_object *cmd = json_object_new_object(), *args = NULL;
    _cleanup_json_ json_object *ret = NULL;
    _cleanup_free_ char *cmd_s = NULL, *answer = NULL;
    json_object *arr, *v;
    uint64_t deadline = now_usec() + (uint64_t) timeout_sec * 1000000u;
    int64_t pid;
    int r;

    args = json_object_new_object();
    arr = json_object_new_array();
    if (!cmd || !args || !arr)
        abort();
    json_add_string(args, "path", path);
    for (size_t i = 0; argv && argv[i]; i++)
        json_object_array_add(arr, json_object_new_string(argv[i]));
    json_object_object_add(args, "arg", arr);
    json_object_object_add(args, "capture-output", json_object_new_boolean(1));
    json_add_string(cmd, "execute", "guest-exec");
    json_object_object_add(cmd, "arguments", json_object_get(args));
    cmd_s = json_to_string_dup(cmd);

    r = hv_domain_agent_command(h, domain, cmd_s, timeout_sec, &answer, reterr_msg);
    if (r < 0)
        return r;
    r = agent_return(answer, &ret, reterr_msg);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(ret, "pid", &v) || !json_object_is_type(v, json_type_int))
        return hv_fail(-EIO, reterr_msg, "guest-exec in '%s' answered without a pid.", domain);
    pid = json_object_get_int64(v);

    for (unsigned wait_us = 2000;; wait_us = MIN(wait_us * 2, 50000u)) {
        _cleanup_free_ char *st = NULL, *q = NULL;
        _cleanup_json_ json_object *sr = NULL;
        json_object *exited, *code;

        q = xasprintf("{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" PRIi64 "}}",
                      pid);
        r = hv_domain_agent_command(h, domain, q, timeout_sec, &st, reterr_msg);
        if (r < 0)
            return r;
        r = agent_return(st, &sr, reterr_msg);
        if (r < 0)
            return r;
        if (json_object_object_get_ex(sr, "exited", &exited) &&
            json_object_get_boolean(exited)) {
            *ret_exitcode = json_object_object_get_ex(sr, "exitcode", &code)
                                ? json_object_get_int(code) : -1;
            return 0;
        }
        if (now_usec() > deadline)
            return hv_fail(-ETIMEDOUT, reterr_msg, "'%s' did not finish in %d s in '%s'.",
                           path, timeout_sec, domain);
        sleep_usec(wait_us);
    }
}

/* RFC 1123 host name label: 1-63 of [a-z0-9-], no leading or trailing
 * '-' (upper case accepted). */
static bool
hostname_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > HV_HOSTNAME_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

/* Base64 of LEN bytes of DATA (a new string). */
static char *
base64_encode(const char *data, size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc0((len + 2) / 3 * 4 + 1), *o = out;

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char) data[i] << 16;

        if (i + 1 < len)
            v |= (unsigned char) data[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char) data[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? tab[v & 63] : '=';
    }
    return out;
}

/* Writes NAME to the guest's /proc/sys/kernel/hostname with
 * guest-file-open/write/close: no process is started in the guest. */
static int
hostname_by_file(struct hv *h, const char *domain, const char *name, int timeout_sec,
                 char **reterr_msg)
{
    _cleanup_free_ char *answer = NULL, *cmd = NULL, *b64 = NULL, *closing = NULL;
    _cleanup_json_ json_object *o = NULL;
    json_object *v;
    int64_t handle;
    int r, k;

    r = hv_domain_agent_command(h, domain,
                                "{\"execute\":\"guest-file-open\",\"arguments\":"
                                "{\"path\":\"/proc/sys/kernel/hostname\",\"mode\":\"w\"}}",
                                timeout_sec, &answer, reterr_msg);
    if (r < 0)
        return r;
    r = json_parse_object(answer, strlen(answer), &o, reterr_msg);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(o, "return", &v) || !json_object_is_type(v, json_type_int))
        return hv_fail(-EIO, reterr_msg, "guest-file-open in '%s' gave no handle.", domain);
    handle = json_object_get_int64(v);
    b64 = base64_encode(name, strlen(name));
    cmd = xasprintf("{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":%" PRIi64
                    ",\"buf-b64\":\"%s\"}}", handle, b64);
    free(answer);
    answer = NULL;
    r = hv_domain_agent_command(h, domain, cmd, timeout_sec, &answer, reterr_msg);
    /* closed whatever the write did: that is when the kernel takes it */
    closing = xasprintf("{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%" PRIi64
                        "}}", handle);
    free(answer);
    answer = NULL;
    k = hv_domain_agent_command(h, domain, closing, timeout_sec, &answer,
                                r < 0 ? NULL : reterr_msg);
    return r < 0 ? r : k;
}

/* Sets the guest's (kernel) host name through the agent: NAME written to
 * /proc/sys/kernel/hostname with guest-file-* (three agent round trips,
 * no process in the guest: under TCG a fork and exec in a guest that was
 * just restored is the slow part), or, where that file cannot be opened,
 * guest-exec of "hostname NAME" (busybox and util-linux). Linux guests.
 * -EINVAL for a name that is not one RFC 1123 label, -EAGAIN while the
 * agent is not up, -EIO + message when both ways fail. Does not log. */
int
hv_clone_set_hostname(struct hv *h, const char *domain, const char *hostname,
                      int timeout_sec, char **reterr_msg)
{
    _cleanup_free_ char *file_err = NULL;
    const char *argv[] = { hostname, NULL };
    int code = -1, r;

    if (!hostname_is_valid(hostname))
        return hv_fail(-EINVAL, reterr_msg, "Host name '%s' is not a valid host name label.",
                       strempty(hostname));
    r = hostname_by_file(h, domain, hostname, timeout_sec, &file_err);
    if (r >= 0 || r == -EAGAIN || r == -ENOENT || r == -ENOTCONN || r == -EBUSY) {
        if (r < 0 && reterr_msg && !*reterr_msg)
            *reterr_msg = TAKE_PTR(file_err);
        return r;
    }
    log_debug("Writing the host name of '%s' through a file failed (%s); trying hostname.",
              domain, strempty(file_err));
    r = agent_exec(h, domain, "hostname", argv, timeout_sec, &code, reterr_msg);
    if (r < 0)
        return r;
    if (code != 0)
        return hv_fail(-EIO, reterr_msg, "'hostname %s' exited with %d in '%s'.", hostname,
                       code, domain);
    return 0;
}

/* The VM generation ID of running DOMAIN from its live XML. -ENOENT when
 * it has none. Does not log. */
int
hv_domain_get_genid(struct hv *h, const char *domain, char **ret_genid)
{
    _cleanup_free_ char *xml = NULL;
    int r;

    r = hv_domain_get_xml(h, domain, true, false, &xml);
    if (r < 0)
        return r;
    return hv_xml_find_text(xml, "genid", ret_genid);
}

/* Applies a clone's identity in order: NICs (no agent needed), clock,
 * host name. Stops at the first failure, whose errno and message it
 * returns; safe to call again after -EAGAIN (the attach is idempotent,
 * the rest are settings). Does not log. */
int
hv_clone_identify(struct hv *h, const char *domain, const struct hv_clone_identity *id,
                  char **reterr_msg)
{
    uint64_t t0 = now_usec(), t1, t2;
    int r;

    for (size_t i = 0; id->nic_xml && id->nic_xml[i]; i++) {
        r = hv_clone_attach_nic(h, domain, id->nic_xml[i], reterr_msg);
        if (r < 0)
            return r;
    }
    t1 = now_usec();
    if (id->sync_time) {
        r = hv_domain_sync_time(h, domain, reterr_msg);
        if (r < 0)
            return r;
    }
    t2 = now_usec();
    if (id->hostname) {
        r = hv_clone_set_hostname(h, domain, id->hostname, id->agent_timeout_sec > 0 ?
                                  id->agent_timeout_sec : 10, reterr_msg);
        if (r < 0)
            return r;
    }
    log_debug("Identity of '%s': NICs %.3f s, clock %.3f s, host name %.3f s", domain,
              (double) (t1 - t0) / 1e6, (double) (t2 - t1) / 1e6,
              (double) (now_usec() - t2) / 1e6);
    return 0;
}
