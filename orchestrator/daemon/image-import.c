/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image-import.c - golden image files: checks, import, claims, tidying
 *
 * Owns the files of the images directory: NAME-vN.qcow2, one per image
 * version, and the temporaries an import writes before one becomes that.
 *
 * DESIGN
 *   One file descriptor. The source is opened once, with O_NONBLOCK so
 *   that a FIFO cannot block the open, and every decision is made on that
 *   descriptor: fstat() says it is a regular file before a byte is read,
 *   its qcow2 header is read from it, and the copy is read from it. A
 *   symlink as the given path is accepted (an operator may point at
 *   "current.qcow2"): whatever it points to when it is opened is the file
 *   checked and copied, so flipping it later changes nothing. The file's
 *   contents can still change under us (its owner may write to it), so
 *     - exactly the size fstat() reported is copied (neither a growing
 *       file nor a device can keep the copy going), and a size or mtime
 *       that differs after the copy refuses the import;
 *     - the header of the stored copy, which only deskpool can write, is
 *       checked again (qcow2, no backing file, no external data file, the
 *       same virtual size) before the copy gets its final name.
 *   A golden image must stand alone: a backing file or an external data
 *   file would let a desktop read whatever file that names.
 *
 *   Temporaries and commit. The copy is written to ".NAME-vN.qcow2.XXXXXX"
 *   (mkostemp: O_EXCL, 0600) next to its final name, fsynced, verified,
 *   then hard-linked to NAME-vN.qcow2 (link() never replaces a file) and
 *   the directory fsynced. It stays writable (0600) until the caller has
 *   recorded the version in the store and calls image_import_commit(),
 *   which makes it read-only (0400). So a file under a final name that is
 *   still writable was left by an import that died before the store knew
 *   it (or by an older deskpool that copied in place): the next import of
 *   that version replaces it. A read-only one is never touched, even when
 *   the store does not know it (a store restored from a backup?): that
 *   import fails with -EEXIST and a sentence naming the file. Temporaries
 *   left by kill -9 are removed by image_import_cleanup() at startup,
 *   before any import can run.
 *
 *   Claims. Two imports of one image name meet at image_claim(): the
 *   second gets -EBUSY while the first runs. A claim lives in this
 *   process's memory, so a crash cannot leave one behind, and one daemon
 *   per state directory (its lock) makes a process-wide claim enough.
 *   Under its claim an import takes the next version from the store: no
 *   other import can take or write that version, which is what makes a
 *   writable NAME-vN.qcow2 in the way a leftover.
 *
 *   Modes (measured with libvirt 9.0 and its DAC driver, see
 *   docs/internals/images.md): libvirt chowns a golden file to the QEMU
 *   user when a domain backed by it starts and leaves it so, hence 0400 is
 *   enough; QEMU must be able to search the images directory (0711), and
 *   libvirt refuses to start a domain when it is 0700 or 0750 (root).
 *
 *   No logging; errors come back as a negative errno plus a sentence.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "digest.h"
#include "image-import.h"
#include "util.h"

#define QCOW2_MAGIC 0x514649fbu            /* "QFI\xfb" */
#define QCOW2_INCOMPAT_DATA_FILE (1u << 2) /* external data file */
#define QCOW2_HEADER_MIN 72                /* a version 2 header */
#define QCOW2_HEADER_V3 104                /* a version 3 header, up to header_length */
#define IMAGE_COPY_CHUNK (1024 * 1024)
#define IMAGE_DIR_MODE 0711
#define IMAGE_FILE_MODE 0400
#define IMAGE_TMP_SUFFIX ".XXXXXX"

/* --- the qcow2 header --- */

static uint64_t
be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

/* Reads the qcow2 header of FD (named PATH in messages) with pread(), so
 * the file offset does not move. 0 and the virtual size; -EINVAL with a
 * sentence for a file that is not a golden image; another negative errno
 * (and a sentence) when it cannot be read. */
static int
image_check_header(int fd, const char *path, uint64_t *ret_virtual_size, char **reterr_msg)
{
    unsigned char hdr[QCOW2_HEADER_V3];
    uint32_t version;
    ssize_t n;

    do
        n = pread(fd, hdr, sizeof(hdr), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        int r = -errno;

        *reterr_msg = xasprintf("Cannot read image file '%s': %s.", path, strerror(-r));
        return r;
    }
    if (n < QCOW2_HEADER_MIN || be32(hdr) != QCOW2_MAGIC) {
        *reterr_msg = xasprintf("Image file '%s' is not a qcow2 file.", path);
        return -EINVAL;
    }
    version = be32(hdr + 4);
    if (version != 2 && version != 3) {
        *reterr_msg = xasprintf("Image file '%s' is qcow2 version %u; only versions 2 and 3 "
                                "are supported.", path, version);
        return -EINVAL;
    }
    if (be64(hdr + 8) != 0 || be32(hdr + 16) != 0) {
        *reterr_msg = xasprintf("Image file '%s' has a backing file; a golden image must stand "
                                "alone (flatten it with 'qemu-img convert -O qcow2').", path);
        return -EINVAL;
    }
    if (version == 3 && n < QCOW2_HEADER_V3) {
        *reterr_msg = xasprintf("Image file '%s' is not a qcow2 file.", path);
        return -EINVAL;
    }
    if (version == 3 && (be64(hdr + 72) & QCOW2_INCOMPAT_DATA_FILE) != 0) {
        *reterr_msg = xasprintf("Image file '%s' keeps its data in an external file; a golden "
                                "image must stand alone.", path);
        return -EINVAL;
    }
    if (be64(hdr + 24) == 0) {
        *reterr_msg = xasprintf("Image file '%s' has a virtual size of zero.", path);
        return -EINVAL;
    }
    *ret_virtual_size = be64(hdr + 24);
    return 0;
}

/* Opens PATH once for an import: absolute, a regular file (checked on the
 * descriptor, before anything is read). Returns the descriptor and its
 * stat; -ENOENT (missing) or -EINVAL (anything else that makes it unfit)
 * with a sentence. Never blocks on a FIFO or a device. */
static int
image_source_open(const char *path, int *ret_fd, struct stat *ret_st, char **reterr_msg)
{
    _cleanup_close_ int fd = -1;

    if (!path || path[0] != '/') {
        *reterr_msg = xasprintf("Image file '%s' is not an absolute path.", strempty(path));
        return -EINVAL;
    }
    /* O_NONBLOCK: opening a FIFO with no writer returns at once instead of
     * waiting for one; reads of a regular file ignore the flag. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int r = -errno;

        *reterr_msg = xasprintf("Cannot open image file '%s': %s.", path, strerror(-r));
        return r == -ENOENT ? -ENOENT : -EINVAL;
    }
    if (fstat(fd, ret_st) < 0) {
        int r = -errno;

        *reterr_msg = xasprintf("Cannot read image file '%s': %s.", path, strerror(-r));
        return r;
    }
    if (!S_ISREG(ret_st->st_mode)) {
        *reterr_msg = xasprintf("Image file '%s' is not a regular file.", path);
        return -EINVAL;
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* --- the copy --- */

static bool
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Copies exactly SIZE bytes from the start of IN to OUT, hashing them and
 * leaving holes where a whole chunk is zeros. -ENODATA when IN ends
 * before SIZE bytes (it shrank), another negative errno on I/O errors. */
static int
image_copy_and_hash(int in, int out, uint64_t size, char *hex)
{
    _cleanup_free_ unsigned char *buf = xmalloc0(IMAGE_COPY_CHUNK);
    _cleanup_(digest_freep) struct digest *d = digest_new();
    uint64_t total = 0;

    while (total < size) {
        size_t want = (size_t) MIN((uint64_t) IMAGE_COPY_CHUNK, size - total);
        ssize_t k = pread(in, buf, want, (off_t) total);

        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -ENODATA;
        digest_update(d, buf, (size_t) k);
        if (!all_zero(buf, (size_t) k)) {
            for (ssize_t done = 0; done < k;) {
                ssize_t w = pwrite(out, buf + done, (size_t) (k - done), (off_t) total + done);

                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    return -errno;
                }
                done += w;
            }
        }
        /* a zero chunk stays a hole, as sparse as the original */
        total += (uint64_t) k;
    }
    if (ftruncate(out, (off_t) size) < 0)
        return -errno;
    digest_finish(TAKE_PTR(d), hex);
    return 0;
}

/* Makes DIR (and missing parents) mode IMAGE_DIR_MODE whatever the umask:
 * QEMU must search every directory on the way to a golden file. 0 or a
 * negative errno. */
static int
image_dir_make(const char *dir)
{
    _cleanup_free_ char *p = xstrdup(dir);
    size_t len = strlen(p);

    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        p[i] = '\0';
        if (mkdir(p, IMAGE_DIR_MODE) >= 0) {
            if (chmod(p, IMAGE_DIR_MODE) < 0)
                return -errno;
        } else if (errno != EEXIST) {
            return -errno;
        }
        if (i < len)
            p[i] = '/';
    }
    return 0;
}

static int
fsync_dir(const char *dir)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

/* What is at DST before an import writes it: nothing (0), a leftover of
 * an interrupted import, removed (1), or something that must stay
 * (-EEXIST with a sentence). */
static int
image_clear_leftover(const char *dst, char **reterr_msg)
{
    struct stat st;

    if (lstat(dst, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0222) == 0) {
        *reterr_msg = xasprintf("'%s' is in the way and was not left by an interrupted import "
                                "(it is read-only or not a file); move it away if no desktop "
                                "uses it.", dst);
        return -EEXIST;
    }
    if (unlink(dst) < 0)
        return errno == ENOENT ? 0 : -errno;
    return 1;
}

void
image_import_done(struct image_import *imp)
{
    if (!imp)
        return;
    free(imp->sha256);
    imp->sha256 = NULL;
}

/* The part of an import after both files are open: copy, compare, verify,
 * link. On failure the temporary TMP is the caller's to remove. */
static int
image_copy_verify_link(const char *src, int in, const struct stat *before, int out,
                       const char *tmp, const char *dst, uint64_t vsize, char *hex,
                       char **reterr_msg)
{
    _cleanup_free_ char *ignored = NULL, *dir = NULL;
    uint64_t copied_vsize = 0;
    struct stat after;
    int r;

    r = image_copy_and_hash(in, out, (uint64_t) before->st_size, hex);
    if (r >= 0 && fstat(in, &after) < 0)
        r = -errno;
    if (r == -ENODATA || (r >= 0 && (after.st_size != before->st_size ||
                                     after.st_mtim.tv_sec != before->st_mtim.tv_sec ||
                                     after.st_mtim.tv_nsec != before->st_mtim.tv_nsec))) {
        *reterr_msg = xasprintf("Image file '%s' changed while it was being copied; import it "
                                "when nothing writes to it.", src);
        return -EINVAL;
    }
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot copy '%s' into the images directory: %s.", src,
                                strerror(-r));
        return r;
    }
    if (fsync(out) < 0) {
        r = -errno;
        *reterr_msg = xasprintf("Cannot write the copy of '%s' to disk: %s.", src, strerror(-r));
        return r;
    }
    /* The copy is what desktops will run on: check it, not the source. */
    r = image_check_header(out, tmp, &copied_vsize, &ignored);
    if (r < 0 || copied_vsize != vsize) {
        *reterr_msg = xasprintf("The copy of image file '%s' is not the file that was checked "
                                "(it changed while being copied); nothing was imported.", src);
        return -EINVAL;
    }
    if (link(tmp, dst) < 0) {
        r = -errno;
        if (r == -EEXIST)
            *reterr_msg = xasprintf("'%s' appeared while the image was being copied; it is being "
                                    "added by another request.", dst);
        else
            *reterr_msg = xasprintf("Cannot name the copy of '%s' '%s': %s.", src, dst,
                                    strerror(-r));
        return r;
    }
    dir = xstrdup(dst);
    *strrchr(dir, '/') = '\0';
    (void) unlink(tmp);
    r = fsync_dir(dir);
    if (r < 0) {
        (void) unlink(dst);
        *reterr_msg = xasprintf("Cannot write the images directory '%s' to disk: %s.", dir,
                                strerror(-r));
        return r;
    }
    return 0;
}

int
image_import_file(const char *src, const char *dst, struct image_import *ret,
                  char **reterr_msg)
{
    _cleanup_close_ int in = -1, out = -1;
    _cleanup_free_ char *dir = NULL, *tmp = NULL;
    char hex[DIGEST_SHA256_HEX_LEN + 1];
    const char *base;
    uint64_t vsize = 0;
    struct stat st;
    bool replaced;
    int r;

    if (!dst || dst[0] != '/' || strrchr(dst, '/') == dst || !strrchr(dst, '/')[1]) {
        *reterr_msg = xasprintf("Destination '%s' is not an absolute file name.", strempty(dst));
        return -EINVAL;
    }
    r = image_source_open(src, &in, &st, reterr_msg);
    if (r < 0)
        return r;
    r = image_check_header(in, src, &vsize, reterr_msg);
    if (r < 0)
        return r;

    dir = xstrdup(dst);
    base = strrchr(dst, '/') + 1;
    dir[base - 1 - dst] = '\0';
    r = image_dir_make(dir);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot create the images directory '%s': %s.", dir,
                                strerror(-r));
        return r;
    }
    r = image_clear_leftover(dst, reterr_msg);
    if (r < 0) {
        if (r != -EEXIST)
            *reterr_msg = xasprintf("Cannot remove '%s': %s.", dst, strerror(-r));
        return r;
    }
    replaced = r > 0;

    tmp = xasprintf("%s/.%s" IMAGE_TMP_SUFFIX, dir, base);
    out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        r = -errno;
        *reterr_msg = xasprintf("Cannot create a file in the images directory '%s': %s.", dir,
                                strerror(-r));
        return r;
    }
    r = image_copy_verify_link(src, in, &st, out, tmp, dst, vsize, hex, reterr_msg);
    if (r < 0) {
        (void) unlink(tmp);
        return r;
    }
    *ret = (struct image_import) {
        .sha256 = xstrdup(hex), .size = (uint64_t) st.st_size, .virtual_size = vsize,
        .replaced_leftover = replaced,
    };
    return 0;
}

int
image_import_commit(const char *path)
{
    if (chmod(path, IMAGE_FILE_MODE) < 0)
        return -errno;
    return 0;
}

/* --- claims --- */

struct image_claim {
    char *name;
    struct image_claim *next;
};

static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static struct image_claim *claims;

int
image_claim(const char *name, struct image_claim **ret)
{
    struct image_claim *c;

    if (!name)
        return -EINVAL;
    pthread_mutex_lock(&claims_lock);
    for (c = claims; c; c = c->next)
        if (streq(c->name, name))
            break;
    if (c) {
        pthread_mutex_unlock(&claims_lock);
        return -EBUSY;
    }
    c = xmalloc0(sizeof(*c));
    c->name = xstrdup(name);
    c->next = claims;
    claims = c;
    pthread_mutex_unlock(&claims_lock);
    *ret = c;
    return 0;
}

struct image_claim *
image_claim_release(struct image_claim *claim)
{
    struct image_claim **p;

    if (!claim)
        return NULL;
    pthread_mutex_lock(&claims_lock);
    for (p = &claims; *p; p = &(*p)->next)
        if (*p == claim) {
            *p = claim->next;
            break;
        }
    pthread_mutex_unlock(&claims_lock);
    free(claim->name);
    free(claim);
    return NULL;
}

/* --- at startup --- */

/* True for a name image_import_file() gives its temporaries:
 * ".NAME-vN.qcow2.XXXXXX". */
static bool
image_is_temporary(const char *name)
{
    size_t len = strlen(name), sfx = strlen(IMAGE_TMP_SUFFIX);

    return name[0] == '.' && len > 1 + strlen(".qcow2") + sfx &&
           strncmp(name + len - sfx - strlen(".qcow2"), ".qcow2", strlen(".qcow2")) == 0;
}

int
image_import_cleanup(const char *images_dir, unsigned *ret_removed, unsigned *ret_tightened)
{
    _cleanup_close_ int dfd = -1;
    unsigned removed = 0, tightened = 0;
    struct dirent *e;
    struct stat st;
    DIR *d;
    int r = 0;

    dfd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) {
        if (errno != ENOENT)
            return -errno;
        *ret_removed = *ret_tightened = 0;
        return 0;
    }
    if (fstat(dfd, &st) < 0)
        return -errno;
    if ((st.st_mode & 07777) != IMAGE_DIR_MODE) {
        if (fchmod(dfd, IMAGE_DIR_MODE) < 0)
            return -errno;
        tightened++;
    }
    d = fdopendir(dfd);
    if (!d)
        return -errno;
    (void) TAKE_FD(dfd); /* the DIR owns it now */
    while ((e = readdir(d))) {
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (image_is_temporary(e->d_name)) {
            if (unlinkat(dirfd(d), e->d_name, 0) >= 0)
                removed++;
            else if (errno != ENOENT && r == 0)
                r = -errno;
        } else if ((st.st_mode & 0077) != 0) {
            /* golden files of an older deskpool were 0444 */
            if (fchmodat(dirfd(d), e->d_name, st.st_mode & 0700, 0) >= 0)
                tightened++;
            else if (errno != ENOENT && r == 0)
                r = -errno;
        }
    }
    closedir(d);
    if (r < 0)
        return r;
    *ret_removed = removed;
    *ret_tightened = tightened;
    return 0;
}
