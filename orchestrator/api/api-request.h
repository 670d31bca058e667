/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-request.h - checked request input: URL parts, media type, bodies.
 * See api-request.c. */
#pragma once

#include <stddef.h>

#include "macro.h"

/* The body of POST /v1/pools/{pool}/sessions. */
struct api_acquire_req {
    char *user;
    char *client;       /* may be NULL */
    char **groups;      /* NULL-terminated, never NULL */
    size_t n_groups;
};
void api_acquire_req_done(struct api_acquire_req *q);
/* Parses and checks BODY (LEN bytes) as an acquire request. Returns 0, or
 * -EINVAL with a sentence (not JSON, unknown field, bad user or group
 * name, too many groups). Pure: no store, no libvirt, no logging. */
int api_acquire_req_parse(const char *body, size_t len, struct api_acquire_req *ret,
                          char **reterr_msg);

/* Decodes the percent-encoded path segment or query value S (LEN bytes)
 * once: "%2561" gives "%61", never "a". Returns 0 with a new string, or
 * -EINVAL when an escape is malformed or the result would hold a NUL byte
 * or another control character (C0, DEL). Pure. */
int api_unescape(const char *s, size_t len, char **ret);

/* True when the Content-Type value CT names JSON: "application/json" in
 * any case, then nothing or parameters after ';' (a charset must be
 * utf-8). "application/jsonx" and "application/json-seq" are not. Pure. */
bool api_media_type_is_json(const char *ct);

/* True when S may be a session's client text: text_is_safe() with
 * CLIENT_TEXT_MAX, and none of < > & ' " (it reaches hooks' environment
 * and the operator's tables). Pure. */
bool api_client_text_is_valid(const char *s);
