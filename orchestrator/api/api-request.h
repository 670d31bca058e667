/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-request.h - checked request bodies. See api-request.c. */
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
