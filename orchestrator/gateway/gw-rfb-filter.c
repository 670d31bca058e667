/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-rfb-filter.c - the browser -> desktop RFB stream, message by message
 *
 * The hospital forbids any copy between the physician's machine and the
 * desktop. The page never sends the clipboard, but a modified page or
 * another client could: this filter enforces the rule in the gateway.
 * Every byte the browser sends after the security handshake goes through
 * it; only whole messages it knows come out, and never the clipboard:
 *   - ClientCutText (type 6), plain or Extended Clipboard (negative
 *     length), is dropped whole and counted;
 *   - SetEncodings (type 2) loses the Extended Clipboard pseudo-encoding
 *     (0xc0a1e5ce) and UltraVNC's file transfer one (0xffff8002), with
 *     its count rewritten, so the desktop never offers either;
 *   - any other message type, QEMU sub-type or impossible length fails
 *     the stream (fail closed: no byte it could not parse is relayed).
 *
 * The messages and their sizes (RFC 6143 7.5, rfbproto for the
 * extensions), checked against what noVNC 1.3 builds in core/rfb.js
 * (RFB.messages):
 *   (ClientInit)                 1, once, first
 *   0   SetPixelFormat           20
 *   2   SetEncodings             4 + 4 * n (n: u16 at 2, at most 1024)
 *   3   FramebufferUpdateRequest 10
 *   4   KeyEvent                 8
 *   5   PointerEvent             6
 *   6   ClientCutText            8 + |length| (s32 at 4; negative: the
 *                                Extended Clipboard form, at least its
 *                                4 flag bytes); dropped, skipped
 *   150 EnableContinuousUpdates  10
 *   248 ClientFence              9 + n (n: u8 at 8, at most 64)
 *   250 xvp                      4
 *   251 SetDesktopSize           8 + 16 * n (n: u8 at 6); rfbproto's
 *                                table shows 2 padding bytes, but noVNC
 *                                and QEMU (ui/vnc.c) both use 1 and 8
 *   255 QEMU, sub-type at 1:     0 extended key event 12;
 *                                1 audio: op (u16 at 2) 0 enable or
 *                                1 disable 4, 2 set format 10
 * noVNC 1.3 sends all of them but the QEMU audio ones (QEMU accepts
 * those); it has no gii (253), which QEMU does not implement either:
 * 253 is refused like every other type.
 *
 * DESIGN: a state machine fed whatever the websocket delivered. Bytes
 * of a message are gathered in F->msg only up to what is needed to know
 * its length, then to its end; F->msg never holds more than
 * GW_RFB_MSG_MAX bytes. A dropped ClientCutText is not gathered: its
 * length is checked from its 8-byte header and the text is counted down
 * in F->skip as it passes, so the cap on it bounds nothing but the time
 * a client may spend sending it. No I/O, no logging: gw-stream.c logs
 * the drop and closes the stream (1008) on an error.
 *
 * Not filtered: desktop -> browser. Parsing framebuffer updates would
 * mean knowing every encoding; the only clipboard message there is
 * ServerCutText, which QEMU's VNC server sends only when the guest has a
 * clipboard peer (a qemu-vdagent channel with <clipboard
 * copypaste='yes'/>), and tmpl_check_lockdown() refuses such a template
 * unless the pool sets allow_device_redirection (deskpool's templates
 * have none). The page ignores noVNC's clipboard events anyway.
 */
#include "config.h"

#include <inttypes.h>

#include "gw-rfb-filter.h"

enum {
    FILTER_CLIENT_INIT,
    FILTER_MESSAGES,
    FILTER_FAILED,
};

enum {
    MSG_SET_PIXEL_FORMAT = 0,
    MSG_SET_ENCODINGS = 2,
    MSG_FB_UPDATE_REQUEST = 3,
    MSG_KEY_EVENT = 4,
    MSG_POINTER_EVENT = 5,
    MSG_CLIENT_CUT_TEXT = 6,
    MSG_ENABLE_CONTINUOUS_UPDATES = 150,
    MSG_CLIENT_FENCE = 248,
    MSG_XVP = 250,
    MSG_SET_DESKTOP_SIZE = 251,
    MSG_QEMU = 255,
};

enum {
    QEMU_EXT_KEY_EVENT = 0,
    QEMU_AUDIO = 1,
};

enum {
    QEMU_AUDIO_ENABLE = 0,
    QEMU_AUDIO_DISABLE = 1,
    QEMU_AUDIO_SET_FORMAT = 2,
};

/* What the desktop must never be offered: the Extended Clipboard and
 * UltraVNC's file transfer (FTProtocolVersion) pseudo-encodings. */
static const int32_t stripped_encodings[] = {
    GW_RFB_PSEUDO_EXTENDED_CLIPBOARD,
    INT32_C(-32766),   /* 0xffff8002 */
};

static uint16_t
get_u16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void
set_err(char **reterr_msg, char *msg)
{
    if (reterr_msg)
        *reterr_msg = msg;
    else
        free(msg);
}

/* How long the message in P (HAVE >= 1 bytes of it so far) is. Returns 1
 * with *RET_NEED its whole length, 0 with *RET_NEED (> HAVE) the bytes
 * needed to tell, or -EPROTO / -EMSGSIZE with a sentence. ClientCutText
 * counts as its 8-byte header here: the text is skipped, not held. */
static int
msg_length(const uint8_t *p, size_t have, size_t *ret_need, char **reterr_msg)
{
    size_t header = 0, whole = 0;

    switch (p[0]) {
    case MSG_SET_PIXEL_FORMAT:
        whole = 20;
        break;
    case MSG_SET_ENCODINGS:
        header = 4;
        if (have < header)
            break;
        if (get_u16(p + 2) > GW_RFB_ENCODINGS_MAX) {
            set_err(reterr_msg, xasprintf("the browser's SetEncodings has %u encodings, more "
                                          "than %u.", get_u16(p + 2), GW_RFB_ENCODINGS_MAX));
            return -EMSGSIZE;
        }
        whole = 4 + 4 * (size_t) get_u16(p + 2);
        break;
    case MSG_FB_UPDATE_REQUEST:
    case MSG_ENABLE_CONTINUOUS_UPDATES:
        whole = 10;
        break;
    case MSG_KEY_EVENT:
    case MSG_CLIENT_CUT_TEXT:
        whole = 8;
        break;
    case MSG_POINTER_EVENT:
        whole = 6;
        break;
    case MSG_CLIENT_FENCE:
        header = 9;
        if (have < header)
            break;
        if (p[8] > GW_RFB_FENCE_PAYLOAD_MAX) {
            set_err(reterr_msg, xasprintf("the browser's ClientFence has a %u-byte payload, "
                                          "more than %u.", p[8], GW_RFB_FENCE_PAYLOAD_MAX));
            return -EMSGSIZE;
        }
        whole = 9 + (size_t) p[8];
        break;
    case MSG_XVP:
        whole = 4;
        break;
    case MSG_SET_DESKTOP_SIZE:
        header = 8;
        if (have >= header)
            whole = 8 + 16 * (size_t) p[6];
        break;
    case MSG_QEMU:
        header = 2;
        if (have < header)
            break;
        if (p[1] == QEMU_EXT_KEY_EVENT) {
            whole = 12;
            break;
        }
        if (p[1] != QEMU_AUDIO) {
            set_err(reterr_msg, xasprintf("the browser sent a QEMU message of sub-type %u, "
                                          "which the gateway does not know.", p[1]));
            return -EPROTO;
        }
        header = 4;
        if (have < header)
            break;
        if (get_u16(p + 2) == QEMU_AUDIO_ENABLE || get_u16(p + 2) == QEMU_AUDIO_DISABLE) {
            whole = 4;
        } else if (get_u16(p + 2) == QEMU_AUDIO_SET_FORMAT) {
            whole = 10;
        } else {
            set_err(reterr_msg, xasprintf("the browser sent a QEMU audio message with "
                                          "operation %u, which the gateway does not know.",
                                          get_u16(p + 2)));
            return -EPROTO;
        }
        break;
    default:
        set_err(reterr_msg, xasprintf("the browser sent an RFB message of type %u, which the "
                                      "gateway does not know.", p[0]));
        return -EPROTO;
    }
    if (whole > 0) {
        *ret_need = whole;
        return 1;
    }
    *ret_need = header;
    return 0;
}

static bool
encoding_stripped(int32_t e)
{
    for (size_t i = 0; i < ELEMENTSOF(stripped_encodings); i++)
        if (stripped_encodings[i] == e)
            return true;
    return false;
}

/* SetEncodings P (whole) to OUT without the stripped encodings. */
static void
put_set_encodings(struct gw_rfb_filter *f, const uint8_t *p, struct gw_buf *out)
{
    uint16_t n = get_u16(p + 2), kept = 0;
    size_t count_at;
    uint8_t count[2];

    gw_buf_append(out, p, 2);
    count_at = out->len;
    gw_buf_append(out, p + 2, 2);   /* rewritten below */
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *e = p + 4 + 4 * (size_t) i;

        if (encoding_stripped((int32_t) get_u32(e))) {
            f->encodings_removed++;
            continue;
        }
        gw_buf_append(out, e, 4);
        kept++;
    }
    count[0] = (uint8_t) (kept >> 8);
    count[1] = (uint8_t) kept;
    memcpy(out->data + out->start + count_at, count, sizeof(count));
}

/* F->msg holds a whole message (a ClientCutText: its header): passes it
 * on, rewritten or not at all. Returns 0 or a negative errno with a
 * sentence. */
static int
msg_done(struct gw_rfb_filter *f, struct gw_buf *out, char **reterr_msg)
{
    const uint8_t *p = gw_buf_head(&f->msg);

    if (p[0] == MSG_CLIENT_CUT_TEXT) {
        int32_t length = (int32_t) get_u32(p + 4);
        /* as int64_t: -INT32_MIN does not fit an int32_t */
        int64_t n = length < 0 ? -(int64_t) length : length;

        if (length < 0 && n < 4) {
            set_err(reterr_msg, xasprintf("the browser's extended ClientCutText is %" PRId64
                                          " byte(s) long, shorter than its 4 flag bytes.", n));
            return -EPROTO;
        }
        if (n > GW_RFB_CUT_TEXT_MAX) {
            set_err(reterr_msg, xasprintf("the browser's ClientCutText has %" PRId64 " bytes, "
                                          "more than %u.", n, GW_RFB_CUT_TEXT_MAX));
            return -EMSGSIZE;
        }
        f->skip = (uint32_t) n;
        f->cut_dropped++;
    } else if (p[0] == MSG_SET_ENCODINGS) {
        put_set_encodings(f, p, out);
    } else {
        gw_buf_append(out, p, f->msg.len);
    }
    gw_buf_consume(&f->msg, f->msg.len);
    return 0;
}

void
gw_rfb_filter_init(struct gw_rfb_filter *f)
{
    *f = (struct gw_rfb_filter) { .state = FILTER_CLIENT_INIT };
}

void
gw_rfb_filter_done(struct gw_rfb_filter *f)
{
    gw_buf_clear(&f->msg);
    *f = (struct gw_rfb_filter) { 0 };
}

int
gw_rfb_filter_feed(struct gw_rfb_filter *f, const uint8_t *in, size_t len, struct gw_buf *out,
                   char **reterr_msg)
{
    if (f->state == FILTER_FAILED) {
        set_err(reterr_msg, xstrdup("the browser's RFB stream was refused before."));
        return -EPROTO;
    }
    while (len > 0) {
        size_t need = 1, take;
        int r;

        if (f->skip > 0) {
            take = MIN((size_t) f->skip, len);
            f->skip -= (uint32_t) take;
            in += take;
            len -= take;
            continue;
        }
        if (f->state == FILTER_CLIENT_INIT) {
            /* ClientInit: the shared-flag, any value */
            gw_buf_append(out, in, 1);
            in++;
            len--;
            f->state = FILTER_MESSAGES;
            continue;
        }
        /* gather what tells the length, then the rest */
        for (;;) {
            if (f->msg.len < need) {
                take = MIN(need - f->msg.len, len);
                gw_buf_append(&f->msg, in, take);
                in += take;
                len -= take;
                if (f->msg.len < need)
                    return 0;   /* all of IN is in F->msg */
            }
            r = msg_length(gw_buf_head(&f->msg), f->msg.len, &need, reterr_msg);
            if (r < 0) {
                f->state = FILTER_FAILED;
                return r;
            }
            if (r > 0 && f->msg.len >= need)
                break;
        }
        r = msg_done(f, out, reterr_msg);
        if (r < 0) {
            f->state = FILTER_FAILED;
            return r;
        }
    }
    return 0;
}
