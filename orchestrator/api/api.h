/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api.h - the REST server. See api.c; routes in docs/api.md. */
#pragma once

#include "conf.h"
#include "hv.h"
#include "reconcile.h"
#include "store.h"

struct api;

/* What the handlers use; all must outlive the api. */
struct api_deps {
    struct store *store;
    struct hv *hv;
    struct reconciler *reconciler;
    const char *instance;
    const char *uri;
    const char *storage_pool;
    const char *images_dir;
    const char *ui_dir;         /* the dashboard's files (/ui/); NULL: none */
};

/* Binds C's socket (trusted callers: operator) and, when set, C's listen
 * address (bearer tokens from C's tokens_file), and starts serving
 * (libmicrohttpd threads). Copies the settings it needs from C. Returns 0
 * or negative errno + message (socket in use, bad address, bad tokens). */
int api_start(const struct api_deps *deps, const struct conf *c, struct api **ret,
              char **reterr_msg);
/* Takes C's reloadable settings and re-reads the tokens file (SIGHUP). On
 * error the old settings stay. */
int api_reload(struct api *a, const struct conf *c, char **reterr_msg);
/* Stops serving, removes the unix socket. Accepts NULL. */
struct api *api_stop(struct api *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct api *, api_stop);
