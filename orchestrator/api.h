/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api.h - the REST server. See api.c; routes in docs/api.md. */
#pragma once

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
    const char *virt_type;
    const char *images_dir;
};

struct api_listen {
    const char *socket_path;  /* unix socket (trusted: operator), NULL = none */
    const char *listen;       /* "ADDR:PORT" for TCP with bearer tokens, NULL/"" = none */
    const char *tokens_file;  /* "ROLE SHA256HEX [comment]" lines */
    const char *templates_dir;
};

/* Binds and starts serving (libmicrohttpd threads). Returns 0 or negative
 * errno + message (socket in use, bad address, bad tokens file). */
int api_start(const struct api_deps *deps, const struct api_listen *l, struct api **ret,
              char **reterr_msg);
/* Re-reads the tokens file and takes a new templates dir (SIGHUP). On
 * error the old settings stay. */
int api_reload(struct api *a, const char *tokens_file, const char *templates_dir,
               char **reterr_msg);
/* Stops serving, removes the unix socket. Accepts NULL. */
struct api *api_stop(struct api *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct api *, api_stop);
