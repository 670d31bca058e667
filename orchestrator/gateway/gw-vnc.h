/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-vnc.h - the RFB handshakes the gateway plays. See gw-vnc.c. */
#pragma once

#include <stdint.h>

#include "gw-buf.h"

#define GW_VNC_CHALLENGE_SIZE 16
/* A longer failure reason from a VNC server is not read: the handshake fails. */
#define GW_VNC_REASON_MAX 1024

/* The gateway as an RFB client towards the desktop's VNC server. */
struct gw_vnc_server {
    int state;
    unsigned minor;      /* negotiated 3.x: 3, 7 or 8 */
    char *password;      /* NULL: security type None; wiped when done */
    uint32_t reason_len;
    bool auth_failed;    /* the reason being read explains a refused password */
    bool used_password;  /* VNC authentication (2), not None (1) */
};

/* The gateway as an RFB server towards the browser, offering only None. */
struct gw_vnc_client {
    int state;
    unsigned minor;      /* what the browser asked for: 3, 7 or 8 */
};

/* Takes PASSWORD (may be NULL) into S. */
void gw_vnc_server_init(struct gw_vnc_server *s, char **password);
/* Wipes the password. Accepts a zeroed S. */
void gw_vnc_server_done(struct gw_vnc_server *s);

/* Consumes from IN what the handshake needs, appends the answers to OUT.
 * Returns 0 when it needs more input, 1 when the server accepted the
 * security handshake (IN keeps what followed, normally nothing), or a
 * negative errno with one sentence in *RETERR_MSG: -EPROTO (not RFB, or
 * out of order), -ENOTSUP (no security type the gateway can do), -EACCES
 * (the server refused the password or the connection). Never logs. */
int gw_vnc_server_feed(struct gw_vnc_server *s, struct gw_buf *in, struct gw_buf *out,
                       char **reterr_msg);

/* Appends the server's ProtocolVersion ("RFB 003.008\n") to OUT. */
void gw_vnc_client_start(struct gw_vnc_client *c, struct gw_buf *out);

/* As gw_vnc_server_feed(), for the browser's side: accepts RFB 3.3, 3.7
 * and 3.8 and offers only security type None. 1: done (IN keeps the
 * ClientInit if it came along). -EPROTO with a sentence otherwise. */
int gw_vnc_client_feed(struct gw_vnc_client *c, struct gw_buf *in, struct gw_buf *out,
                       char **reterr_msg);

/* VNC authentication's answer: CHALLENGE encrypted with single DES, the
 * key being PASSWORD's first 8 bytes (NUL-padded), each byte's bits
 * reversed. Returns 0 or -EIO (libcrypto failed). */
int gw_vnc_des_response(const char *password, const uint8_t challenge[GW_VNC_CHALLENGE_SIZE],
                        uint8_t ret[GW_VNC_CHALLENGE_SIZE]);
