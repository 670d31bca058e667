/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hv-storage.c - storage pools and volumes through libvirt
 *
 * Owns the directory pools deskpool keeps its overlays in, the qcow2
 * overlays themselves (a <backingStore> on a golden image, never a copy)
 * and small raw volumes filled through a virStream (the virt type probe).
 *
 * DESIGN. Stateless: every call looks its pool and volume up by name and
 * frees what it looked up before returning. Only the listing refreshes
 * the pool (to see files made behind libvirt's back, for the orphan
 * scan): create and delete trust libvirt's own list, because every
 * volume deskpool makes goes through libvirt, and because libvirt refuses
 * a refresh while another volume of the pool is being built, which would
 * fail concurrent clones at random.
 * Errors come from hv.c's table (hv_last_error()).
 *
 * XML: libxml2 belongs to tmpl.c (one library per module), so the two
 * things read back from libvirt's XML (a volume's backing path, a pool's
 * target path) come from hv_xml_find_path(): a bounded search for the
 * first <path> inside the first <OUTER> element. That is safe because the
 * text is libvirt's own formatter output (no comments, CDATA or
 * attributes on these elements; <path> is the first path element in both
 * <backingStore> and <target>) and the path is unescaped afterwards.
 * What we send is built from names and paths checked by hv_xml_safe().
 *
 * Never: log above debug, delete a pool, touch files directly.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include <libvirt/virterror.h>

#include "hv-priv.h"

#define HV_STREAM_CHUNK (256u * 1024u)
/* Every volume deskpool makes (overlays, data disks, the probe disk) is
 * the desktop's disk: readable by root only. libvirt's DAC driver chowns
 * it to the QEMU user while its domain runs and gives it back after
 * (measured on libvirt 9.0: 0600 root -> 0600 libvirt-qemu -> 0600 root). */
#define HV_VOLUME_MODE "0600"

/* Unescapes the five predefined XML entities in place. */
void
hv_xml_unescape(char *s)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&apos;", '\'' }, { "&quot;", '"' },
    };
    char *r = s, *w = s;
    size_t i, l;

    while (*r) {
        for (i = 0; *r == '&' && i < ELEMENTSOF(ents); i++) {
            l = strlen(ents[i].ent);
            if (strncmp(r, ents[i].ent, l) == 0)
                break;
        }
        if (*r == '&' && i < ELEMENTSOF(ents)) {
            *w++ = ents[i].c;
            r += strlen(ents[i].ent);
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* The text of the first <path> inside the first <OUTER> ... </OUTER> of
 * XML. -ENOENT when there is no such element (or it is empty). */
static int
hv_xml_find_path(const char *xml, const char *outer, char **ret)
{
    _cleanup_free_ char *open_tag = xasprintf("<%s>", outer);
    _cleanup_free_ char *close_tag = xasprintf("</%s>", outer);
    const char *start, *end, *p, *q;
    char *s;

    start = strstr(xml, open_tag);
    if (!start)
        return -ENOENT;
    start += strlen(open_tag);
    end = strstr(start, close_tag);
    if (!end)
        return -EIO;
    p = strstr(start, "<path>");
    if (!p || p > end)
        return -ENOENT;
    p += strlen("<path>");
    q = strstr(p, "</path>");
    if (!q || q > end)
        return -EIO;
    if (q == p)
        return -ENOENT;
    s = xmalloc0((size_t) (q - p) + 1);
    memcpy(s, p, (size_t) (q - p));
    hv_xml_unescape(s);
    *ret = s;
    return 0;
}

static int
hv_pool_lookup(struct hv *h, const char *name, bool refresh, virStoragePoolPtr *ret,
               char **reterr_msg)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    virStoragePoolPtr pool;
    int r;

    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    pool = virStoragePoolLookupByName(conn, name);
    if (!pool) {
        r = hv_last_error(reterr_msg);
        /* the pool is gone: the next listing is full, and remakes it */
        hv_watch_invalidate(h);
        return r;
    }
    if (refresh && virStoragePoolRefresh(pool, 0) < 0) {
        r = hv_last_error(reterr_msg);
        virStoragePoolFree(pool);
        hv_watch_invalidate(h);
        return r;
    }
    *ret = pool;
    return 0;
}

/* Makes sure the directory pool NAME at DIR exists, is built (DIR created
 * 0711: QEMU passes through, other users cannot list the volumes),
 * running, autostarted and refreshed. -EEXIST with a message when
 * a pool NAME exists on another directory; -EINVAL for a name or DIR that
 * is not XML-safe; else the table's errno. Does not log. */
int
hv_storage_pool_ensure(struct hv *h, const char *name, const char *dir, char **reterr_msg)
{
    _cleanup_(hv_conn_putp) virConnectPtr conn = NULL;
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_free_ char *xml = NULL, *desc = NULL, *path = NULL;
    virErrorPtr e;
    int r;

    if (!hv_xml_safe(name) || !hv_xml_safe(dir) || dir[0] != '/')
        return hv_fail(-EINVAL, reterr_msg, "Invalid storage pool name or directory '%s'.",
                       strempty(dir));

    r = hv_conn_get(h, &conn, reterr_msg);
    if (r < 0)
        return r;
    pool = virStoragePoolLookupByName(conn, name);
    if (!pool) {
        e = virGetLastError();
        if (!e || e->code != VIR_ERR_NO_STORAGE_POOL)
            return hv_last_error(reterr_msg);
        virResetLastError();
        xml = xasprintf("<pool type='dir'><name>%s</name><target><path>%s</path>"
                        "<permissions><mode>0711</mode></permissions></target></pool>",
                        name, dir);
        pool = virStoragePoolDefineXML(conn, xml, 0);
        if (!pool)
            return hv_last_error(reterr_msg);
        if (virStoragePoolBuild(pool, 0) < 0) {
            r = hv_last_error(reterr_msg);
            (void) virStoragePoolUndefine(pool);
            virResetLastError();
            return r;
        }
    } else {
        desc = virStoragePoolGetXMLDesc(pool, 0);
        if (!desc)
            return hv_last_error(reterr_msg);
        if (hv_xml_find_path(desc, "target", &path) < 0 || !streq(path, dir))
            return hv_fail(-EEXIST, reterr_msg,
                           "Storage pool '%s' already exists with directory '%s', not '%s'.",
                           name, strempty(path), dir);
    }

    r = virStoragePoolIsActive(pool);
    if (r < 0)
        return hv_last_error(reterr_msg);
    /* an inactive pool may have lost its directory (libvirt stops a pool
     * whose refresh fails): build makes it again, a no-op when it exists */
    if (r == 0 && (virStoragePoolBuild(pool, 0) < 0 || virStoragePoolCreate(pool, 0) < 0))
        return hv_last_error(reterr_msg);
    if (virStoragePoolSetAutostart(pool, 1) < 0)
        return hv_last_error(reterr_msg);
    if (virStoragePoolRefresh(pool, 0) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* Looks POOL_NAME up for a new volume VOL: -EEXIST (with a message) when
 * VOL is there already. */
static int
hv_pool_for_new_volume(struct hv *h, const char *pool_name, const char *vol,
                       virStoragePoolPtr *ret, char **reterr_msg)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    int r;

    r = hv_pool_lookup(h, pool_name, false, &pool, reterr_msg);
    if (r < 0)
        return r;
    v = virStorageVolLookupByName(pool, vol);
    if (v)
        return hv_fail(-EEXIST, reterr_msg, "Volume '%s' already exists in pool '%s'.", vol,
                       pool_name);
    virResetLastError();
    *ret = TAKE_PTR(pool);
    return 0;
}

/* Creates a volume of POOL from XML; *ret_v and its path (the caller's).
 * A failure makes H's next listing full: the pool or its directory may be
 * gone, and a full listing checks and remakes it. */
static int
hv_volume_new(struct hv *h, virStoragePoolPtr pool, const char *xml, virStorageVolPtr *ret_v,
              char **ret_path, char **reterr_msg)
{
    virStorageVolPtr v = virStorageVolCreateXML(pool, xml, 0);
    char *path;

    if (!v) {
        int r = hv_last_error(reterr_msg);

        hv_watch_invalidate(h);
        return r;
    }
    path = virStorageVolGetPath(v);
    if (!path) {
        int r = hv_last_error(reterr_msg);

        virStorageVolFree(v);
        return r;
    }
    *ret_v = v;
    *ret_path = path;
    return 0;
}

/* Creates VOL in POOL as a qcow2 overlay on the qcow2 file BACKING. With
 * CAPACITY 0 the size is the backing file's virtual size, which needs
 * BACKING to be a volume of some libvirt pool (-EINVAL with a message
 * otherwise: the caller knows the image's size, it should pass it).
 * Returns 0 and the new path (the caller's), -EEXIST when VOL exists,
 * else the table's errno. Does not log. */
int
hv_volume_create_overlay(struct hv *h, const char *pool_name, const char *vol,
                         const char *backing, uint64_t capacity, char **ret_path,
                         char **reterr_msg)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL, b = NULL;
    _cleanup_free_ char *xml = NULL;
    virStorageVolInfo info;
    int r;

    if (!hv_xml_safe(vol) || !hv_xml_safe(backing) || backing[0] != '/')
        return hv_fail(-EINVAL, reterr_msg, "Invalid volume name or backing path '%s'.",
                       strempty(backing));
    r = hv_pool_for_new_volume(h, pool_name, vol, &pool, reterr_msg);
    if (r < 0)
        return r;

    if (capacity == 0) {
        /* the golden file was not made through libvirt: let the pool see it */
        if (virStoragePoolRefresh(pool, 0) < 0)
            virResetLastError();
        b = virStorageVolLookupByPath(virStoragePoolGetConnect(pool), backing);
        if (!b) {
            r = hv_last_error(NULL);
            if (r == -ENOENT)
                return hv_fail(-EINVAL, reterr_msg,
                               "The backing file '%s' is in no libvirt storage pool, so its "
                               "size is unknown; pass the capacity.", backing);
            return hv_fail(r, reterr_msg, "Cannot look up the backing file '%s'.", backing);
        }
        if (virStorageVolGetInfo(b, &info) < 0)
            return hv_last_error(reterr_msg);
        capacity = info.capacity;
    }

    xml = xasprintf("<volume><name>%s</name><capacity unit='bytes'>%" PRIu64 "</capacity>"
                    "<target><format type='qcow2'/><permissions><mode>" HV_VOLUME_MODE "</mode>"
                    "</permissions></target><backingStore><path>%s</path>"
                    "<format type='qcow2'/></backingStore></volume>",
                    vol, capacity, backing);
    return hv_volume_new(h, pool, xml, &v, ret_path, reterr_msg);
}

/* Creates VOL in POOL as an empty qcow2 volume of CAPACITY bytes (a data
 * disk). Returns 0 and its path (the caller's), -EEXIST when VOL exists.
 * Does not log. */
int
hv_volume_create_blank(struct hv *h, const char *pool_name, const char *vol, uint64_t capacity,
                       char **ret_path, char **reterr_msg)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    _cleanup_free_ char *xml = NULL;
    int r;

    if (!hv_xml_safe(vol) || capacity == 0)
        return hv_fail(-EINVAL, reterr_msg, "Invalid volume name '%s' or capacity.",
                       strempty(vol));
    r = hv_pool_for_new_volume(h, pool_name, vol, &pool, reterr_msg);
    if (r < 0)
        return r;
    xml = xasprintf("<volume><name>%s</name><capacity unit='bytes'>%" PRIu64 "</capacity>"
                    "<allocation unit='bytes'>0</allocation><target><format type='qcow2'/>"
                    "<permissions><mode>" HV_VOLUME_MODE "</mode></permissions></target></volume>",
                    vol, capacity);
    return hv_volume_new(h, pool, xml, &v, ret_path, reterr_msg);
}

/* Sends LEN bytes of DATA into a fresh upload stream of V. */
static int
hv_volume_upload(struct hv *h, virStorageVolPtr v, const char *data, size_t len,
                 char **reterr_msg)
{
    _cleanup_(hv_stream_freep) virStreamPtr st = NULL;
    size_t off = 0;
    int n;

    st = virStreamNew(virStorageVolGetConnect(v), 0);
    if (!st)
        return hv_last_error(reterr_msg);
    if (virStorageVolUpload(v, st, 0, len, 0) < 0)
        return hv_last_error(reterr_msg);
    while (off < len) {
        n = virStreamSend(st, data + off, MIN(len - off, (size_t) HV_STREAM_CHUNK));
        if (n < 0) {
            n = hv_last_error(reterr_msg);
            (void) virStreamAbort(st);
            virResetLastError();
            return n;
        }
        off += (size_t) n;
    }
    if (virStreamFinish(st) < 0)
        return hv_last_error(reterr_msg);
    return 0;
}

/* Creates raw volume VOL of SIZE bytes in POOL holding DATA (LEN <= SIZE
 * bytes, the rest zeros). Returns 0 and the path (the caller's); -EEXIST
 * when VOL exists, -EINVAL when LEN > SIZE, else the table's errno (the
 * half-made volume is deleted). Does not log. */
int
hv_volume_create_raw(struct hv *h, const char *pool_name, const char *vol, const void *data,
                     size_t len, uint64_t size, char **ret_path, char **reterr_msg)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    _cleanup_free_ char *xml = NULL;
    char *path = NULL;
    int r;

    if (!hv_xml_safe(vol) || (uint64_t) len > size || size == 0)
        return hv_fail(-EINVAL, reterr_msg, "Invalid raw volume '%s' or size.", strempty(vol));
    r = hv_pool_lookup(h, pool_name, false, &pool, reterr_msg);
    if (r < 0)
        return r;
    xml = xasprintf("<volume><name>%s</name><capacity unit='bytes'>%" PRIu64 "</capacity>"
                    "<allocation unit='bytes'>0</allocation><target><format type='raw'/>"
                    "<permissions><mode>" HV_VOLUME_MODE "</mode></permissions></target></volume>",
                    vol, size);
    r = hv_volume_new(h, pool, xml, &v, &path, reterr_msg);
    if (r < 0)
        return r;
    if (len > 0) {
        r = hv_volume_upload(h, v, data, len, reterr_msg);
        if (r < 0) {
            (void) virStorageVolDelete(v, 0);
            virResetLastError();
            free(path);
            return r;
        }
    }
    *ret_path = path;
    return 0;
}

/* Deletes VOL of POOL; 0 also when it did not exist. -ENOENT when POOL
 * does not exist. Does not log. */
int
hv_volume_delete(struct hv *h, const char *pool_name, const char *vol)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    int r;

    r = hv_pool_lookup(h, pool_name, false, &pool, NULL);
    if (r < 0)
        return r;
    v = virStorageVolLookupByName(pool, vol);
    if (!v) {
        r = hv_last_error(NULL);
        return r == -ENOENT ? 0 : r;
    }
    if (virStorageVolDelete(v, 0) < 0) {
        r = hv_last_error(NULL);
        return r == -ENOENT ? 0 : r;
    }
    return 0;
}

/* Names of the volumes of POOL (refreshed first) starting with PREFIX
 * (NULL: all). The array and strings are the caller's. Does not log. */
int
hv_volume_list(struct hv *h, const char *pool_name, const char *prefix, char ***ret_names,
               size_t *ret_n)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    virStorageVolPtr *vols = NULL;
    char **names;
    const char *name;
    size_t n = 0;
    int i, k, r;

    r = hv_pool_lookup(h, pool_name, false, &pool, NULL);
    if (r < 0)
        return r;
    /* Refresh to see files made behind libvirt's back. libvirt refuses
     * while a volume of the pool is being built ("asynchronous jobs"):
     * then its own list is current anyway, so go on with it. */
    if (virStoragePoolRefresh(pool, 0) < 0)
        virResetLastError();
    k = virStoragePoolListAllVolumes(pool, &vols, 0);
    if (k < 0)
        return hv_last_error(NULL);
    names = xmalloc0(sizeof(*names) * ((size_t) k + 1));
    for (i = 0; i < k; i++) {
        name = virStorageVolGetName(vols[i]);
        if (name && (!prefix || strncmp(name, prefix, strlen(prefix)) == 0))
            names[n++] = xstrdup(name);
        virStorageVolFree(vols[i]);
    }
    free(vols);
    *ret_names = names;
    *ret_n = n;
    return 0;
}

/* The backing path of VOL as libvirt reports it. -ENOENT when the volume
 * or its <backingStore> is missing. Does not log. */
int
hv_volume_get_backing(struct hv *h, const char *pool_name, const char *vol, char **ret_path)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    _cleanup_free_ char *xml = NULL;
    int r;

    r = hv_pool_lookup(h, pool_name, false, &pool, NULL);
    if (r < 0)
        return r;
    v = virStorageVolLookupByName(pool, vol);
    if (!v)
        return hv_last_error(NULL);
    xml = virStorageVolGetXMLDesc(v, 0);
    if (!xml)
        return hv_last_error(NULL);
    return hv_xml_find_path(xml, "backingStore", ret_path);
}

/* Looks up VOL of POOL: 0 and the volume, -ENOENT, or another errno. */
static int
hv_vol_lookup(struct hv *h, const char *pool_name, const char *vol, virStorageVolPtr *ret)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    int r;

    r = hv_pool_lookup(h, pool_name, false, &pool, NULL);
    if (r < 0)
        return r;
    if (virStoragePoolRefresh(pool, 0) < 0)
        virResetLastError();
    *ret = virStorageVolLookupByName(pool, vol);
    return *ret ? 0 : hv_last_error(NULL);
}

int
hv_volume_info(struct hv *h, const char *pool, const char *vol, char **ret_path,
               uint64_t *ret_size)
{
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    virStorageVolInfo info;
    char *path;
    int r;

    r = hv_vol_lookup(h, pool, vol, &v);
    if (r < 0)
        return r;
    if (virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0)
        return hv_last_error(NULL);
    path = virStorageVolGetPath(v);
    if (!path)
        return hv_last_error(NULL);
    *ret_path = xstrdup(path);
    free(path);
    *ret_size = info.allocation > info.capacity ? info.allocation : info.capacity;
    return 0;
}

int
hv_volume_upload_fd(struct hv *h, const char *pool_name, const char *vol, int fd,
                    uint64_t size, char **ret_path, char **reterr_msg)
{
    _cleanup_(hv_pool_freep) virStoragePoolPtr pool = NULL;
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    _cleanup_(hv_stream_freep) virStreamPtr st = NULL;
    _cleanup_free_ char *xml = NULL, *buf = NULL;
    char *path = NULL;
    uint64_t off = 0;
    int r;

    if (!hv_xml_safe(vol) || size == 0)
        return hv_fail(-EINVAL, reterr_msg, "Invalid volume '%s' or size.", strempty(vol));
    r = hv_pool_lookup(h, pool_name, false, &pool, reterr_msg);
    if (r < 0)
        return r;
    /* raw to libvirt: the bytes are the image file's, qcow2 or not */
    xml = xasprintf("<volume><name>%s</name><capacity unit='bytes'>%" PRIu64 "</capacity>"
                    "<allocation unit='bytes'>0</allocation><target><format type='raw'/>"
                    "<permissions><mode>0644</mode></permissions></target></volume>",
                    vol, size);
    r = hv_volume_new(h, pool, xml, &v, &path, reterr_msg);
    if (r < 0)
        return r;
    buf = xmalloc0(HV_STREAM_CHUNK);
    st = virStreamNew(virStorageVolGetConnect(v), 0);
    if (!st || virStorageVolUpload(v, st, 0, size, 0) < 0) {
        r = hv_last_error(reterr_msg);
        goto fail;
    }
    while (off < size) {
        ssize_t n = pread(fd, buf, (size_t) MIN(size - off, (uint64_t) HV_STREAM_CHUNK),
                          (off_t) off);

        if (n <= 0) {
            r = hv_fail(n < 0 ? -errno : -EIO, reterr_msg, "Cannot read the image to upload.");
            (void) virStreamAbort(st);
            goto fail;
        }
        for (ssize_t sent = 0; sent < n;) {
            int k = virStreamSend(st, buf + sent, (size_t) (n - sent));

            if (k < 0) {
                r = hv_last_error(reterr_msg);
                (void) virStreamAbort(st);
                goto fail;
            }
            sent += k;
        }
        off += (uint64_t) n;
    }
    if (virStreamFinish(st) < 0) {
        r = hv_last_error(reterr_msg);
        goto fail;
    }
    *ret_path = path;
    return 0;
fail:
    virResetLastError();
    (void) virStorageVolDelete(v, 0);
    virResetLastError();
    free(path);
    return r;
}

int
hv_volume_read(struct hv *h, const char *pool_name, const char *vol,
               void (*cb)(const void *data, size_t len, void *userdata), void *userdata,
               uint64_t *ret_bytes, char **reterr_msg)
{
    _cleanup_(hv_vol_freep) virStorageVolPtr v = NULL;
    _cleanup_(hv_stream_freep) virStreamPtr st = NULL;
    _cleanup_free_ char *buf = NULL;
    uint64_t total = 0;
    int r;

    r = hv_vol_lookup(h, pool_name, vol, &v);
    if (r < 0)
        return hv_fail(r, reterr_msg, "No volume '%s' in pool '%s'.", vol, pool_name);
    st = virStreamNew(virStorageVolGetConnect(v), 0);
    if (!st || virStorageVolDownload(v, st, 0, 0, 0) < 0)
        return hv_last_error(reterr_msg);
    buf = xmalloc0(HV_STREAM_CHUNK);
    for (;;) {
        int n = virStreamRecv(st, buf, HV_STREAM_CHUNK);

        if (n < 0) {
            r = hv_last_error(reterr_msg);
            (void) virStreamAbort(st);
            virResetLastError();
            return r;
        }
        if (n == 0)
            break;
        cb(buf, (size_t) n, userdata);
        total += (uint64_t) n;
    }
    if (virStreamFinish(st) < 0)
        return hv_last_error(reterr_msg);
    *ret_bytes = total;
    return 0;
}
