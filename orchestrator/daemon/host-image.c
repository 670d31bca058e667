/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* host-image.c - image versions on the hosts that need them
 *
 * DESIGN
 *   A golden image version lives in deskpoold's images directory, which
 *   the local host reads directly. Another host gets its own copy in its
 *   storage pool, the first time a desktop there needs that version
 *   (lazily: a host that never runs a pool's desktops never gets its
 *   image). The copy goes through libvirt's storage API
 *   (virStorageVolUpload), so the host needs nothing but libvirtd: no
 *   shared file system, no scp. It is then read back through the same API
 *   (virStorageVolDownload) and its SHA-256 compared with the one the
 *   image was registered with: what the host stores is what was
 *   published, or the copy is deleted and the build fails.
 *
 *   A pool the hosts share (NFS, a cluster file system) is found by the
 *   same check: when the volume is already there with the right size, it
 *   is read back and hashed, and on a match recorded without a copy.
 *
 *   A host whose driver cannot stream volumes (libvirt's test driver)
 *   is recorded as reading the image at its registered path, with a
 *   warning.
 *
 *   Copies are serialised per daemon: two desktops of a new version on
 *   one host must not upload it twice, and uploads are rare (one per
 *   image version and host).
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "host-image.h"
#include "log.h"
#include "util.h"

static pthread_mutex_t upload_lock = PTHREAD_MUTEX_INITIALIZER;

char *
host_image_volume_name(const char *instance, const char *image, unsigned version)
{
    /* not "INSTANCE.": that prefix is desktops' (orphans.c) */
    return xasprintf("%s-image-%s-v%u.qcow2", instance, image, version);
}

static void
hash_chunk(const void *data, size_t len, void *userdata)
{
    digest_update(userdata, data, len);
}

/* Reads VOL back from H and compares its SHA-256 with WANT: 0 on a match,
 * -EBADMSG (with a sentence) when it differs. */
static int
verify(struct hv *h, const char *pool, const char *vol, const char *want, uint64_t *ret_bytes,
       char **reterr_msg)
{
    struct digest *d = digest_new();
    char hex[DIGEST_SHA256_HEX_LEN + 1];
    int r;

    if (!d)
        return -ENOMEM;
    r = hv_volume_read(h, pool, vol, hash_chunk, d, ret_bytes, reterr_msg);
    digest_finish(d, hex);
    if (r < 0)
        return r;
    if (strcasecmp(hex, want) != 0) {
        *reterr_msg = xasprintf("Volume '%s' read back from the host has SHA-256 %s, not the "
                                "image's %s.", vol, hex, want);
        return -EBADMSG;
    }
    return 0;
}

int
host_image_ensure(struct store *s, struct hv *h, const char *host, const char *instance,
                  const char *storage_pool, const struct image *img, char **ret_path,
                  char **reterr_msg)
{
    _cleanup_free_ char *vol = NULL, *path = NULL, *err = NULL;
    _cleanup_close_ int fd = -1;
    uint64_t start = now_usec(), size = 0, bytes = 0;
    bool copied = false;
    struct stat st;
    int r;

    if (streq(host, HOST_LOCAL)) {
        *ret_path = xstrdup(img->path);
        return 0;
    }
    if (store_host_image_get(s, host, img->name, img->version, ret_path) >= 0)
        return 0;
    pthread_mutex_lock(&upload_lock);
    /* another thread may have copied it meanwhile */
    if (store_host_image_get(s, host, img->name, img->version, ret_path) >= 0) {
        pthread_mutex_unlock(&upload_lock);
        return 0;
    }
    vol = host_image_volume_name(instance, img->name, img->version);
    fd = open(img->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0) {
        r = -errno;
        *reterr_msg = xasprintf("Cannot read image '%s' version %u at '%s'.", img->name,
                                img->version, img->path);
        goto out;
    }
    r = hv_volume_info(h, storage_pool, vol, &path, &size);
    if (r >= 0 && size == (uint64_t) st.st_size &&
        verify(h, storage_pool, vol, img->sha256, &bytes, &err) >= 0) {
        /* there already: a pool the hosts share, or an earlier copy */
        log_notice("Image '%s' v%u found on host '%s' at '%s' (SHA-256 checked, %.1f s): not "
                   "copied", img->name, img->version, host, path,
                   (double) (now_usec() - start) / 1e6);
    } else {
        if (r >= 0) {
            log_warning("Volume '%s' on host '%s' is not image '%s' v%u (%s): replaced", vol,
                        host, img->name, img->version, err ? err : "another size");
            (void) hv_volume_delete(h, storage_pool, vol);
        }
        free(path);
        path = NULL;
        r = hv_volume_upload_fd(h, storage_pool, vol, fd, (uint64_t) st.st_size, &path,
                                reterr_msg);
        if (r == -EOPNOTSUPP) {
            /* a driver without storage streams (libvirt's test driver):
             * the host can only read the image where it is registered */
            log_warning("Host '%s' cannot take an upload of image '%s' v%u (its driver has no "
                        "storage streams); it is expected to read '%s' itself", host,
                        img->name, img->version, img->path);
            free(*reterr_msg);
            *reterr_msg = NULL;
            path = xstrdup(img->path);
            goto record;
        }
        if (r < 0)
            goto out;
        r = verify(h, storage_pool, vol, img->sha256, &bytes, reterr_msg);
        if (r < 0) {
            (void) hv_volume_delete(h, storage_pool, vol);
            goto out;
        }
        copied = true;
        log_notice("Image '%s' v%u copied to host '%s' at '%s': %.1f MiB in %.1f s, SHA-256 "
                   "checked on the host", img->name, img->version, host, path,
                   (double) st.st_size / (1 << 20), (double) (now_usec() - start) / 1e6);
    }
record:
    r = store_host_image_add(s, host, img->name, img->version, path, copied, bytes,
                             (now_usec() - start) / 1000);
    if (r >= 0)
        *ret_path = TAKE_PTR(path);
out:
    pthread_mutex_unlock(&upload_lock);
    return r;
}
