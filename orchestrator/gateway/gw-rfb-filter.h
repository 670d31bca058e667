/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-rfb-filter.h - the browser -> desktop RFB message filter. See gw-rfb-filter.c. */
#pragma once

#include <stdint.h>

#include "gw-buf.h"

/* SetEncodings with more encodings is refused (noVNC 1.3 sends 20). */
#define GW_RFB_ENCODINGS_MAX 1024
/* ClientCutText (either form) with a longer text is refused, not skipped. */
#define GW_RFB_CUT_TEXT_MAX (1024 * 1024)
/* ClientFence's payload: "limited to 64 bytes" (rfbproto). */
#define GW_RFB_FENCE_PAYLOAD_MAX 64
/* The longest message the filter holds whole: SetEncodings at its cap. */
#define GW_RFB_MSG_MAX (4 + 4 * GW_RFB_ENCODINGS_MAX)

/* The Extended Clipboard pseudo-encoding (rfbproto: 0xc0a1e5ce). */
#define GW_RFB_PSEUDO_EXTENDED_CLIPBOARD INT32_C(-1063131698)

/* One browser's client -> server RFB stream, from ClientInit on. */
struct gw_rfb_filter {
    int state;
    struct gw_buf msg;            /* the message being gathered, < GW_RFB_MSG_MAX */
    uint32_t skip;                /* bytes of a dropped ClientCutText still to come */
    uint64_t cut_dropped;         /* ClientCutText messages dropped */
    uint64_t encodings_removed;   /* clipboard pseudo-encodings taken out of SetEncodings */
};

/* Starts F (whatever it held: done it first) expecting ClientInit. */
void gw_rfb_filter_init(struct gw_rfb_filter *f);
/* Frees what F holds; F is zeroed. Accepts a zeroed F. */
void gw_rfb_filter_done(struct gw_rfb_filter *f);

/* Parses the LEN bytes at IN, which follow what F was fed before, and
 * appends to OUT every whole message the desktop may have: ClientInit
 * and the allowed messages unchanged, SetEncodings without the clipboard
 * pseudo-encodings (count fixed), ClientCutText never (counted in
 * F->cut_dropped). A partial message is kept in F until the rest comes.
 * Returns 0, or -EPROTO (a message type or sub-type the gateway does not
 * know, or an impossible field) or -EMSGSIZE (past a cap above) with one
 * sentence in *RETERR_MSG; F then refuses everything after. On failure
 * OUT may have got the whole messages that came before the bad one.
 * Never logs. */
int gw_rfb_filter_feed(struct gw_rfb_filter *f, const uint8_t *in, size_t len,
                       struct gw_buf *out, char **reterr_msg);
