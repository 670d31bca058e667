/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-buf.c - byte queues of the gateway's streams
 *
 * A stream holds one queue per direction (browser -> VNC, VNC -> browser)
 * and the handshake's input. DESIGN: append at the end, consume at the
 * front; the bytes move back to offset 0 only when the free tail is too
 * short, so a relay that keeps up never copies. The queue itself has no
 * cap: gw-stream.c stops reading a side (lws_rx_flow_control) above its
 * high-water mark and refuses to go past GW_STREAM_BUF_MAX. No I/O, no
 * logging.
 */
#include "config.h"

#include "array.h"
#include "gw-buf.h"

void
gw_buf_append(struct gw_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->start > 0 && b->start + b->len + n > b->alloc) {
        memmove(b->data, b->data + b->start, b->len);
        b->start = 0;
    }
    ARRAY_GROW(b->data, b->alloc, b->start + b->len + n);
    memcpy(b->data + b->start + b->len, p, n);
    b->len += n;
}

void
gw_buf_consume(struct gw_buf *b, size_t n)
{
    if (n >= b->len) {
        b->start = 0;
        b->len = 0;
        return;
    }
    b->start += n;
    b->len -= n;
}

void
gw_buf_clear(struct gw_buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->alloc);
    free(b->data);
    *b = (struct gw_buf) { 0 };
}
