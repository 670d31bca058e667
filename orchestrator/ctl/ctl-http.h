/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-http.h - deskpoolctl's HTTP client (libcurl). See ctl-http.c. */
#pragma once

#include "macro.h"

/* Responses larger than this are refused (-EFBIG). */
#define CTL_HTTP_RESPONSE_MAX (16U * 1024U * 1024U)

/* Where deskpoold is: a unix socket, or a base URL with a bearer token. */
struct ctl_http_target {
    const char *socket_path;    /* AF_UNIX socket; used when url is NULL */
    const char *url;            /* "http(s)://host:port", or NULL */
    const char *token;          /* sent as "Authorization: Bearer" with url only */
    unsigned timeout_sec;       /* whole request; 0 = no limit */
};

/* Initialise libcurl once per process. Returns 0 or -ENOMEM/-EIO. */
int ctl_http_global_init(void);

/* Release libcurl's global state. Cannot fail. */
void ctl_http_global_done(void);

/* Percent-escape one path segment or query value. Returns a new string
 * (free()), NULL only when libcurl cannot allocate. */
char *ctl_http_escape(const char *s);

/* Send one request: METHOD PATH (starting with '/', already escaped) with
 * body_json (or NULL) as application/json. On any HTTP answer returns 0
 * and sets *ret_status and *ret_body (NUL-terminated, possibly empty; the
 * caller frees it): an HTTP error status is not a failure here. On a
 * transport failure returns a negative errno (-ECONNREFUSED, -ENOENT,
 * -ETIMEDOUT, -EFBIG for an oversized answer, -EINVAL for a malformed URL,
 * -EIO otherwise) and, when reterr_msg is not NULL, a whole sentence
 * naming the target, e.g. "cannot connect to deskpoold at
 * /run/deskpool/deskpoold.sock: No such file or directory.". Never logs. */
int ctl_http_request(const struct ctl_http_target *t, const char *method, const char *path,
                     const char *body_json, long *ret_status, char **ret_body,
                     char **reterr_msg);
