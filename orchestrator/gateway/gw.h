/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw.h - what the gateway's lws modules share: options, the gateway, a
 * stream. See gw-main.c (lifecycle), gw-http.c (pages), gw-stream.c
 * (websocket <-> VNC). Only these three files include libwebsockets.h.
 */
#pragma once

#include <libwebsockets.h>
#include <stdint.h>

#include "gw-buf.h"
#include "gw-deskpoold.h"
#include "gw-vnc.h"

#define GW_DEFAULT_LISTEN "0.0.0.0:6443"
#define GW_DEFAULT_NOVNC_DIR "/usr/share/novnc"
#define GW_DEFAULT_MAX_STREAMS 1000
/* rx buffer of the websocket and VNC protocols; also the largest write */
#define GW_CHUNK (64 * 1024)
/* flow control per direction: stop reading above HIGH, resume below LOW,
 * and a stream whose queue would pass MAX is closed (1011) */
#define GW_STREAM_BUF_HIGH (256 * 1024)
#define GW_STREAM_BUF_LOW (64 * 1024)
#define GW_STREAM_BUF_MAX (1024 * 1024)

/* websocket close codes the page (data/gateway/desktop.js) knows */
#define GW_CLOSE_SESSION_ENDED 4001
#define GW_CLOSE_TICKET 4003
/* RFC 6455 "Try Again Later" (lws 4.1 has no name for it) */
#define GW_CLOSE_TRY_AGAIN_LATER 1013

struct gw_options {
    char *deskpoold_url;
    char *token;
    char *listen_addr;    /* "0.0.0.0" */
    int listen_port;
    char *cert;
    char *key;
    bool no_tls;
    char *cacert;
    char *novnc_dir;
    char *web_dir;
    unsigned max_streams;
};

struct gw_stream;

struct gw {
    const struct gw_options *opt;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct gw_deskpoold *dp;
    struct gw_stream *streams;   /* every open websocket of /console */
    unsigned n_admitted;         /* streams counted against --max-streams */
    uint64_t next_stream_id;
    bool stopping;
};

/* gw-http.c: protocols[0], the pages; everything not a websocket. */
int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* gw-stream.c: the "binary" websocket protocol of /console and the raw
 * client protocol towards VNC servers. */
#define GW_VNC_PROTOCOL "gw-vnc"
int gw_stream_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len);
int gw_stream_vnc_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len);
/* Per-session data of the websocket protocol. */
struct gw_stream_pss {
    struct gw_stream *stream;
};

/* Asks every stream to close with CODE and REASON (service thread only). */
void gw_stream_close_all(struct gw *gw, int code, const char *reason);
/* How many streams are still open. */
size_t gw_stream_count(const struct gw *gw);
