/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orphans.c - libvirt objects of this instance that no desktop row names
 *
 * DESIGN
 *   A desktop's row is written before any of its libvirt objects and
 *   removed after the last of them (actions.c), so deskpool's own crashes
 *   never leave an object without a row. An object of this instance that
 *   no row names therefore comes from somewhere else: a restored backup of
 *   the store, a wrong --state-dir, a deleted deskpool.db, another daemon
 *   given the same instance name. Such an object may hold the only copy of
 *   a user's data (a dedicated desktop's data disk), so deskpool never
 *   removes one on its own: the reconciler reports orphans (log, metrics,
 *   health) and leaves them; `deskpoold --purge-orphans` removes them on
 *   an operator's word; startup refuses a new or empty store next to them
 *   (deskpoold.c) unless the operator says --adopt or --purge-orphans.
 *   This file only finds and removes; who decides is the caller.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "orphans.h"
#include "strv.h"
#include "tmpl.h"
#include "util.h"

void
orphans_done(struct orphans *o)
{
    strv_free_n(o->domains, o->n_domains);
    strv_free_n(o->volumes, o->n_volumes);
    strv_free_n(o->files, o->n_files);
    *o = (struct orphans) { 0 };
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && streq(s + n - k, suffix);
}

/* True when domain NAME carries deskpool metadata naming INSTANCE. */
static bool
domain_is_ours(struct hv *h, const char *name, const char *instance)
{
    _cleanup_free_ char *xml = NULL;
    struct desk_meta meta = { 0 };
    bool ours;

    if (hv_domain_get_metadata(h, name, DP_METADATA_NS, &xml) < 0)
        return false; /* no deskpool metadata: someone else's */
    ours = desk_meta_parse(xml, &meta) >= 0 && streq_ptr(meta.instance, instance);
    desk_meta_done(&meta);
    return ours;
}

/* The saved images ("NAME.save", regular files) in DIR that no parent of
 * PARENTS names: a parent's files are removed before its row, so only a
 * store that lost rows (a restored backup, a deleted deskpool.db) leaves
 * one. A restore FIFO (".clone-*") and anything else is not looked at. A
 * missing directory has none. */
static void
find_files(const char *dir, struct parent **parents, size_t n_parents, struct orphans *o)
{
    DIR *d = opendir(dir);
    size_t cap = 0;
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        bool named = false;
        struct stat st;

        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".save"))
            continue;
        path = xasprintf("%s/%s", dir, e->d_name);
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        for (size_t i = 0; i < n_parents && !named; i++) {
            _cleanup_free_ char *p = parent_saved_path(dir, parents[i]->name);

            named = streq(p, path);
        }
        if (named)
            continue;
        ARRAY_GROW(o->files, cap, o->n_files + 2);
        o->files[o->n_files++] = TAKE_PTR(path);
    }
    closedir(d);
}

int
orphans_find(struct hv *h, const char *instance, const struct hv_domain *doms,
             size_t n_doms, char **vols, size_t n_vols, struct desk **desks, size_t n_desks,
             struct parent **parents, size_t n_parents, const char *parents_dir,
             struct orphans *ret)
{
    size_t max = 2 * n_desks + n_parents;
    _cleanup_free_ char **names = xmalloc0(sizeof(char *) * (max + 1));
    char **volnames = xmalloc0(sizeof(char *) * (3 * n_desks + n_parents + 1));
    size_t n_names = 0, n_volnames = 0;
    struct orphans o = { 0 };

    /* what the rows name: a desktop's domain, its previous incarnation
     * while it is torn down, their overlays, its data disk; a parent's
     * domain and overlay */
    for (size_t i = 0; i < n_desks; i++) {
        names[n_names++] = desks[i]->domain;
        volnames[n_volnames++] = desk_volume_name(desks[i]->domain);
        volnames[n_volnames++] = desk_data_volume_name(desks[i]->domain);
        if (desks[i]->old_domain) {
            names[n_names++] = desks[i]->old_domain;
            volnames[n_volnames++] = desk_volume_name(desks[i]->old_domain);
        }
    }
    for (size_t i = 0; i < n_parents; i++) {
        names[n_names++] = parents[i]->domain;
        volnames[n_volnames++] = parent_volume_name(parents[i]->domain);
    }
    qsort(names, n_names, sizeof(char *), str_cmp);
    qsort(volnames, n_volnames, sizeof(char *), str_cmp);

    o.domains = xmalloc0(sizeof(char *) * (n_doms + 1));
    for (size_t i = 0; i < n_doms; i++) {
        if (bsearch(&doms[i].name, names, n_names, sizeof(char *), str_cmp))
            continue;
        if (domain_is_ours(h, doms[i].name, instance))
            o.domains[o.n_domains++] = xstrdup(doms[i].name);
    }
    o.volumes = xmalloc0(sizeof(char *) * (n_vols + 1));
    for (size_t i = 0; i < n_vols; i++) {
        if (!ends_with(vols[i], ".qcow2"))
            continue;
        if (bsearch(&vols[i], volnames, n_volnames, sizeof(char *), str_cmp))
            continue;
        o.volumes[o.n_volumes++] = xstrdup(vols[i]);
    }
    strv_free_n(volnames, n_volnames);
    if (parents_dir)
        find_files(parents_dir, parents, n_parents, &o);
    *ret = o;
    return 0;
}

int
orphans_scan(struct hv *h, const char *instance, const char *storage_pool,
             struct desk **desks, size_t n_desks, struct orphans *ret)
{
    _cleanup_free_ char *prefix = desk_name_prefix(instance);
    struct hv_domain *doms = NULL;
    char **vols = NULL;
    size_t n_doms = 0, n_vols = 0;
    int r;

    r = hv_domain_list(h, prefix, &doms, &n_doms);
    if (r < 0)
        return r;
    r = hv_volume_list(h, storage_pool, prefix, &vols, &n_vols);
    if (r == -ENOENT)
        r = 0; /* no storage pool yet: no volumes */
    if (r >= 0)
        r = orphans_find(h, instance, doms, n_doms, vols, n_vols, desks, n_desks, NULL, 0,
                         NULL, ret);
    strv_free_n(vols, n_vols);
    hv_domain_list_free(doms, n_doms);
    return r;
}

unsigned
orphans_remove(struct hv *h, const char *storage_pool, const struct orphans *o)
{
    unsigned n = 0;

    for (size_t i = 0; i < o->n_domains; i++) {
        (void) hv_domain_destroy(h, o->domains[i]);
        if (hv_domain_undefine(h, o->domains[i]) >= 0) {
            log_warning("Removed orphan domain '%s' (--purge-orphans)", o->domains[i]);
            n++;
        }
    }
    for (size_t i = 0; i < o->n_volumes; i++)
        if (hv_volume_delete(h, storage_pool, o->volumes[i]) >= 0) {
            log_warning("Removed orphan volume '%s' (--purge-orphans)", o->volumes[i]);
            n++;
        }
    for (size_t i = 0; i < o->n_files; i++)
        if (unlink(o->files[i]) >= 0) {
            log_warning("Removed orphan saved image '%s' (--purge-orphans)", o->files[i]);
            n++;
        }
    return n;
}
