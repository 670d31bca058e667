/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image-import.c - golden image files: qcow2 checks and import
 *
 * DESIGN
 *   Before import the file is checked by reading its qcow2 header: it must
 *   be a regular qcow2 file without a backing file and without an external
 *   data file, because a golden image must stand alone. Then it is copied
 *   into the images directory, hashed on the way, and made read-only.
 *   No logging; errors come back as negative errno plus a sentence.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#include "digest.h"
#include "image-import.h"
#include "util.h"

#define QCOW2_MAGIC 0x514649fbu          /* "QFI\xfb" */
#define QCOW2_INCOMPAT_DATA_FILE (1u << 2) /* external data file */
#define IMAGE_COPY_CHUNK (1024 * 1024)

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

int
image_check_file(const char *path, uint64_t *ret_virtual_size, char **reterr_msg)
{
    _cleanup_close_ int fd = -1;
    unsigned char hdr[104];
    struct stat st;
    uint32_t version;
    ssize_t n;

    if (!path || path[0] != '/') {
        *reterr_msg = xasprintf("Image file '%s' is not an absolute path.", strempty(path));
        return -EINVAL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int r = -errno;

        *reterr_msg = xasprintf("Cannot open image file '%s': %s.", path, strerror(-r));
        return r == -ENOENT ? -ENOENT : -EINVAL;
    }
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode)) {
        *reterr_msg = xasprintf("Image file '%s' is not a regular file.", path);
        return -EINVAL;
    }
    n = pread(fd, hdr, sizeof(hdr), 0);
    if (n < 0)
        return -errno;
    if (n < 72 || be32(hdr) != QCOW2_MAGIC) {
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
    if (version == 3 && n >= 80 && (be64(hdr + 72) & QCOW2_INCOMPAT_DATA_FILE) != 0) {
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

static bool
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static int
image_copy_and_hash(int in, int out, char *hex, uint64_t *ret_size)
{
    _cleanup_free_ unsigned char *buf = xmalloc0(IMAGE_COPY_CHUNK);
    _cleanup_(digest_freep) struct digest *d = digest_new();
    uint64_t total = 0;

    for (;;) {
        ssize_t k = read(in, buf, IMAGE_COPY_CHUNK);

        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        digest_update(d, buf, (size_t) k);
        if (all_zero(buf, (size_t) k)) {
            /* keep the copy as sparse as the original */
            if (lseek(out, k, SEEK_CUR) < 0)
                return -errno;
        } else {
            for (ssize_t done = 0; done < k;) {
                ssize_t w = write(out, buf + done, (size_t) (k - done));

                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    return -errno;
                }
                done += w;
            }
        }
        total += (uint64_t) k;
    }
    if (ftruncate(out, (off_t) total) < 0)
        return -errno;
    digest_finish(TAKE_PTR(d), hex);
    *ret_size = total;
    return 0;
}

int
image_import_file(const char *src, const char *dst, char **ret_sha256, uint64_t *ret_size)
{
    _cleanup_close_ int in = -1, out = -1;
    char hex[DIGEST_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    int r;

    in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (in < 0)
        return -errno;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return -errno;
    r = image_copy_and_hash(in, out, hex, &size);
    if (r >= 0 && fsync(out) < 0)
        r = -errno;
    if (r >= 0 && fchmod(out, 0444) < 0)
        r = -errno;
    if (r < 0) {
        unlink(dst);
        return r;
    }
    *ret_sha256 = xstrdup(hex);
    *ret_size = size;
    return 0;
}
