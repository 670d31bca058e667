/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-image.c - golden image versions in the store
 *
 * Part of the store (see store.c for the DESIGN: one connection, one
 * mutex, one transaction per public call, conditional UPDATEs). Nothing
 * here logs above debug.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "array.h"
#include "log.h"
#include "name.h"
#include "store-priv.h"
#include "util.h"

static int
image_from_row(sqlite3_stmt *st, struct image **ret)
{
    struct image *img = xmalloc0(sizeof(*img));

    img->name = store_column_strdup(st, 0);
    img->version = store_column_unsigned(st, 1);
    img->path = store_column_strdup(st, 2);
    img->sha256 = store_column_strdup(st, 3);
    img->size = (uint64_t) sqlite3_column_int64(st, 4);
    img->virtual_size = (uint64_t) sqlite3_column_int64(st, 5);
    img->note = store_column_strdup(st, 6);
    img->created_by = store_column_strdup(st, 7);
    img->created_at = sqlite3_column_int64(st, 8);
    img->retired = sqlite3_column_int(st, 9) != 0;
    *ret = img;
    return 0;
}

DEFINE_STORE_COLLECT(collect_images, struct image, image_from_row, image_list_free)

DEFINE_STORE_FETCH(fetch_image, struct image, image_from_row)

DEFINE_STORE_LIST(list_images, struct image, collect_images)

static int
image_next_version_locked(struct store *s, const char *name, unsigned *ret)
{
    int64_t v = 0;
    int r;

    r = store_query_int(s, &v, "SELECT COALESCE(MAX(version), 0) + 1 FROM images WHERE name = ?",
                        "s", name);
    if (r < 0)
        return r;
    if (v <= 0 || v > UINT32_MAX)
        return -ERANGE;
    *ret = (unsigned) v;
    return 0;
}

int
store_image_next_version(struct store *s, const char *name, unsigned *ret_version)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!name)
        return -EINVAL;
    return image_next_version_locked(locked, name, ret_version);
}

int
store_image_add(struct store *s, const struct image *img)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    unsigned next;
    int r;

    if (!img || !name_is_valid(img->name) || img->version == 0 || !img->path || !img->sha256)
        return -EINVAL;
    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = image_next_version_locked(locked, img->name, &next);
    if (r < 0)
        return r;
    if (img->version != next)
        return -EEXIST;
    r = store_run(locked,
                  "INSERT INTO images (" IMAGE_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                  "sussUUssl", img->name, img->version, img->path, img->sha256, img->size,
                  img->virtual_size, img->note, img->created_by,
                  img->created_at > 0 ? img->created_at : store_now_sec());
    if (r < 0)
        return r;
    return store_tx_commit(&tx);
}

static int
image_get(struct store *s, const char *name, unsigned version, bool usable_only,
          struct image **ret)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);

    if (!name)
        return -EINVAL;
    return fetch_image(locked, ret,
                       "SELECT " IMAGE_COLUMNS " FROM images "
                       "WHERE name = ?1 AND (?2 = 0 OR version = ?2) AND (?3 = 0 OR retired = 0) "
                       "ORDER BY version DESC LIMIT 1",
                       "sub", name, version, usable_only);
}

int
store_image_get(struct store *s, const char *name, unsigned version, struct image **ret)
{
    return image_get(s, name, version, false, ret);
}

int
store_image_get_usable(struct store *s, const char *name, unsigned version, struct image **ret)
{
    return image_get(s, name, version, true, ret);
}

int
store_image_list(struct store *s, const char *name, struct image ***ret, size_t *ret_n)
{
    return list_images(s, ret, ret_n,
                       "SELECT " IMAGE_COLUMNS " FROM images "
                       "WHERE ?1 IS NULL OR name = ?1 ORDER BY name, version",
                       "s", name);
}

int
store_image_retire(struct store *s, const char *name, unsigned version, char **ret_path)
{
    _cleanup_(store_unlockp) struct store *locked = store_lock(s);
    _cleanup_(store_tx_rollbackp) struct store *tx = NULL;
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int64_t busy = 0;
    int r;

    r = store_tx_begin(locked, &tx);
    if (r < 0)
        return r;
    r = store_prepare(locked, &st, "SELECT " IMAGE_COLUMNS " FROM images "
                      "WHERE name = ? AND version = ?", "su", name, version);
    if (r < 0)
        return r;
    r = store_step(locked, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    if (sqlite3_column_int(st, 9) != 0)
        return -EALREADY;
    r = store_query_int(locked, &busy,
                        "SELECT (SELECT count(*) FROM desktops WHERE image = ?1 AND "
                        "image_version = ?2) + (SELECT count(*) FROM pools WHERE image = ?1 AND "
                        "(image_version = ?2 OR current_version = ?2)) + (SELECT count(*) FROM "
                        "operations o JOIN pools p ON p.name = o.pool WHERE p.image = ?1 AND "
                        "o.state = 'running' AND o.to_version = ?2) + (SELECT count(*) FROM "
                        "parents WHERE image = ?1 AND image_version = ?2)",
                        "su", name, version);
    if (r < 0)
        return r;
    if (busy > 0)
        return -EBUSY;
    r = store_run(locked, "UPDATE images SET retired = 1 WHERE name = ? AND version = ?", "su",
                  name, version);
    if (r < 0)
        return r;
    r = store_audit_locked(locked, NULL, "image.retired", NULL, NULL, NULL, name);
    if (r < 0)
        return r;
    *ret_path = store_column_strdup(st, 2);
    return store_tx_commit(&tx);
}
