/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-buf.h - byte queues of the gateway's streams. See gw-buf.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Bytes waiting in one direction: DATA[START .. START+LEN). */
struct gw_buf {
    uint8_t *data;
    size_t start;
    size_t len;
    size_t alloc;
};

/* Appends N bytes (aborts on OOM, like xmalloc0). Callers cap LEN first. */
void gw_buf_append(struct gw_buf *b, const void *p, size_t n);

/* Drops the first N bytes (N <= LEN). */
void gw_buf_consume(struct gw_buf *b, size_t n);

static inline const uint8_t *
gw_buf_head(const struct gw_buf *b)
{
    return b->data + b->start;
}

/* Wipes (explicit_bzero: a handshake buffer may have held a challenge
 * answer) and frees the memory; B is empty and reusable afterwards. */
void gw_buf_clear(struct gw_buf *b);
