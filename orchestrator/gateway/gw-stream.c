/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-stream.c - one browser console: websocket <-> VNC, and its lifecycle
 *
 * A stream is one websocket on /console?ticket=T and, once deskpoold
 * redeemed the ticket, one TCP connection to the desktop's VNC console.
 *
 * DESIGN
 *   Everything here runs in the lws service thread and must not block.
 *   States, in order:
 *     REDEEMING      the ticket is with a gw-deskpoold.c worker thread;
 *                    its answer comes back as an event, taken in
 *                    LWS_CALLBACK_EVENT_WAIT_CANCELLED;
 *     CONNECTING     lws connects the raw client (below);
 *     SERVER_AUTH    gw-vnc.c authenticates to the VNC server;
 *     CLIENT_AUTH    gw-vnc.c plays an RFB server offering None to the
 *                    browser (VNC bytes that came early are held);
 *     RELAY          the browser's bytes through gw-rfb-filter.c (no
 *                    clipboard; a message it refuses closes the stream
 *                    with 1008), the desktop's unchanged;
 *     CLOSING        a close code is set, the websocket closes on its
 *                    next WRITEABLE.
 *   The VNC side is an lws raw client: lws_client_connect_via_info() with
 *   method "RAW" and the raw protocol GW_VNC_PROTOCOL. lws then does the
 *   non-blocking connect() and its timeout, and reports
 *   RAW_CONNECTED / RAW_RX / RAW_WRITEABLE / RAW_CLOSE and connection
 *   errors in the same loop, so both sockets get the same flow control
 *   (lws_rx_flow_control) and writeable callbacks. Adopting a socket we
 *   connect() ourselves would need our own wait for the connect to finish.
 *   lws 4.1 without async DNS resolves a host name synchronously: deskpoold
 *   gives an IP address (a libvirt listen address), which does not block.
 *   Ownership: the websocket owns the struct gw_stream (freed on
 *   LWS_CALLBACK_CLOSED); the raw wsi points to it through its opaque
 *   user data, cleared when either side goes first. A side is closed from
 *   the other's callback by lws_callback_on_writable() + a close code
 *   (websocket) or lws_set_timeout(LWS_TO_KILL_ASYNC) (VNC).
 *   Flow control: each direction is a struct gw_buf. Above
 *   GW_STREAM_BUF_HIGH the reading side is paused, below GW_STREAM_BUF_LOW
 *   it resumes; past GW_STREAM_BUF_MAX the stream is closed (1011): the
 *   memory of a stream is bounded whatever its peers do.
 *   Sessions: the set of session ids with an open stream is handed to
 *   gw-deskpoold.c's watch whenever it changes; an ended session closes
 *   its streams with 4001.
 *   Logging: one line per stream opened, VNC authentication and close
 *   (reason, duration, bytes each way), the first clipboard message
 *   dropped and how many in all, a refused message. Never a ticket, a
 *   password, a query string or clipboard content.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "gw-rfb-filter.h"
#include "gw.h"
#include "log.h"
#include "util.h"

/* sessions and desktops are short ids; anything longer is not a ticket */
#define GW_URLARG_MAX 128

enum gw_stream_state {
    GW_STREAM_REDEEMING,
    GW_STREAM_CONNECTING,
    GW_STREAM_SERVER_AUTH,
    GW_STREAM_CLIENT_AUTH,
    GW_STREAM_RELAY,
    GW_STREAM_CLOSING,
};

struct gw_stream {
    uint64_t id;
    struct gw *gw;
    struct lws *ws;
    struct lws *vnc;
    enum gw_stream_state state;
    bool admitted;
    char *peer;
    char *session;
    char *pool;
    char *desktop;
    char *user;
    char *vnc_addr;       /* "host:port" for the log */
    struct gw_vnc_server vs;
    struct gw_vnc_client vc;
    struct gw_buf hs_in;  /* handshake input, either side */
    struct gw_buf held;   /* VNC bytes that followed its SecurityResult */
    struct gw_rfb_filter rf;  /* the browser's messages, from ClientInit on */
    struct gw_buf filtered;   /* what the filter let through, on its way to to_vnc */
    struct gw_buf to_vnc;
    struct gw_buf to_ws;
    bool ws_paused;
    bool vnc_paused;
    int close_code;       /* 0: open */
    char *close_reason;   /* what the browser is told */
    char *close_why;      /* what the log says */
    uint64_t opened_usec;
    uint64_t bytes_to_vnc;
    uint64_t bytes_to_ws;
    struct gw_stream *prev, *next;
};

/* One scratch buffer for every write: the service thread is single. */
static uint8_t tx_scratch[LWS_PRE + GW_CHUNK];

static struct gw *
gw_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

size_t
gw_stream_count(const struct gw *gw)
{
    size_t n = 0;

    for (const struct gw_stream *s = gw->streams; s; s = s->next)
        n++;
    return n;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Hands the set of sessions with a stream to the watch (sorted, unique). */
static void
watch_update(struct gw *gw)
{
    _cleanup_free_ char **v = NULL;
    size_t n = 0, u = 0;

    v = xmalloc0((gw_stream_count(gw) + 1) * sizeof(char *));
    for (struct gw_stream *s = gw->streams; s; s = s->next)
        if (s->session && s->close_code == 0)
            v[n++] = s->session;
    qsort(v, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++)
        if (u == 0 || !streq(v[u - 1], v[i]))
            v[u++] = v[i];
    v[u] = NULL;
    gw_deskpoold_watch(gw->dp, v);
}

/* Whether another open stream has SESSION. */
static bool
session_shared(struct gw *gw, const struct gw_stream *self, const char *session)
{
    for (struct gw_stream *s = gw->streams; s; s = s->next)
        if (s != self && s->close_code == 0 && streq_ptr(s->session, session))
            return true;
    return false;
}

static void
vnc_detach(struct gw_stream *s)
{
    if (!s->vnc)
        return;
    lws_set_opaque_user_data(s->vnc, NULL);
    lws_set_timeout(s->vnc, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    s->vnc = NULL;
}

/* Asks the websocket to close with CODE (the browser is told REASON, the
 * log says WHY); the VNC side goes at once. The first close wins. */
static void
stream_close(struct gw_stream *s, int code, const char *reason, const char *why)
{
    bool had_session = s->session && s->close_code == 0;

    if (s->close_code != 0)
        return;
    s->close_code = code;
    s->close_reason = xstrdup(reason);
    s->close_why = xstrdup(why);
    s->state = GW_STREAM_CLOSING;
    vnc_detach(s);
    gw_buf_clear(&s->to_vnc);
    gw_buf_clear(&s->to_ws);
    gw_vnc_server_done(&s->vs);
    lws_callback_on_writable(s->ws);
    if (had_session && !session_shared(s->gw, s, s->session))
        watch_update(s->gw);
}

void
gw_stream_close_all(struct gw *gw, int code, const char *reason)
{
    for (struct gw_stream *s = gw->streams; s; s = s->next)
        stream_close(s, code, reason, reason);
}

static void
stream_free(struct gw_stream *s)
{
    struct gw *gw = s->gw;
    uint64_t ms = (now_usec() - s->opened_usec) / 1000;

    if (s->admitted)
        log_notice("Stream %" PRIu64 " closed (%s, code %d) after %" PRIu64 ".%03u s: "
                   "%" PRIu64 " bytes to the desktop, %" PRIu64 " bytes to the browser.",
                   s->id, s->close_why ? s->close_why : "the browser closed it",
                   s->close_code ? s->close_code : 1000, ms / 1000, (unsigned) (ms % 1000),
                   s->bytes_to_vnc, s->bytes_to_ws);
    if (s->rf.cut_dropped > 0)
        log_notice("Stream %" PRIu64 " dropped %" PRIu64 " clipboard message(s) from the "
                   "browser in all.", s->id, s->rf.cut_dropped);
    if (s->prev)
        s->prev->next = s->next;
    else
        gw->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->admitted)
        gw->n_admitted--;
    vnc_detach(s);
    if (s->session && s->close_code == 0 && !session_shared(gw, s, s->session)) {
        free(s->session);
        s->session = NULL;
        watch_update(gw);
    }
    gw_vnc_server_done(&s->vs);
    gw_buf_clear(&s->hs_in);
    gw_buf_clear(&s->held);
    gw_rfb_filter_done(&s->rf);
    gw_buf_clear(&s->filtered);
    gw_buf_clear(&s->to_vnc);
    gw_buf_clear(&s->to_ws);
    free(s->peer);
    free(s->session);
    free(s->pool);
    free(s->desktop);
    free(s->user);
    free(s->vnc_addr);
    free(s->close_reason);
    free(s->close_why);
    free(s);
}

static struct gw_stream *
stream_find(struct gw *gw, uint64_t id)
{
    for (struct gw_stream *s = gw->streams; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

/* Queues N bytes for the browser; false (and the stream closing) when the
 * queue would pass its cap. */
static bool
queue_to_ws(struct gw_stream *s, const void *p, size_t n)
{
    if (s->to_ws.len + n > GW_STREAM_BUF_MAX) {
        stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "buffer full",
                     "the browser does not read fast enough");
        return false;
    }
    gw_buf_append(&s->to_ws, p, n);
    if (s->to_ws.len > GW_STREAM_BUF_HIGH && s->vnc && !s->vnc_paused) {
        lws_rx_flow_control(s->vnc, 0);
        s->vnc_paused = true;
    }
    if (s->to_ws.len > 0)
        lws_callback_on_writable(s->ws);
    return true;
}

static bool
queue_to_vnc(struct gw_stream *s, const void *p, size_t n)
{
    if (s->to_vnc.len + n > GW_STREAM_BUF_MAX) {
        stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "buffer full",
                     "the desktop does not read fast enough");
        return false;
    }
    gw_buf_append(&s->to_vnc, p, n);
    if (s->to_vnc.len > GW_STREAM_BUF_HIGH && !s->ws_paused) {
        lws_rx_flow_control(s->ws, 0);
        s->ws_paused = true;
    }
    if (s->to_vnc.len > 0 && s->vnc)
        lws_callback_on_writable(s->vnc);
    return true;
}

/* The desktop's VNC console for a redeemed ticket. */
static void
stream_redeemed(struct gw *gw, struct gw_redeem *r)
{
    struct gw_stream *s = stream_find(gw, r->stream_id);
    struct lws_client_connect_info i = { 0 };
    bool new_session;

    if (!s || s->close_code != 0)
        return;   /* the browser left meanwhile */
    if (r->status == GW_REDEEM_REFUSED) {
        log_notice("Stream %" PRIu64 " from %s refused: %s", s->id, s->peer, r->error);
        stream_close(s, GW_CLOSE_TICKET, "ticket refused", "ticket refused by deskpoold");
        return;
    }
    if (r->status != GW_REDEEM_OK) {
        log_warning("Stream %" PRIu64 " from %s: cannot redeem its ticket: %s", s->id, s->peer,
                    r->error);
        stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "deskpoold unavailable",
                     "the ticket could not be redeemed");
        return;
    }
    s->session = TAKE_PTR(r->session);
    s->pool = TAKE_PTR(r->pool);
    s->desktop = TAKE_PTR(r->desktop);
    s->user = TAKE_PTR(r->user);
    s->vnc_addr = xasprintf("%s:%u", r->host, r->port);
    gw_vnc_server_init(&s->vs, &r->password);
    log_notice("Stream %" PRIu64 " open: session '%s', desktop '%s/%s', user '%s', "
               "from %s; VNC at %s.", s->id, s->session, s->pool, s->desktop, s->user,
               s->peer, s->vnc_addr);
    new_session = !session_shared(gw, s, s->session);
    if (new_session)
        watch_update(gw);

    i.context = gw->ctx;
    i.vhost = gw->vhost;
    i.address = r->host;
    i.port = (int) r->port;
    i.host = r->host;
    i.origin = r->host;
    i.path = "";
    i.method = "RAW";
    i.local_protocol_name = GW_VNC_PROTOCOL;
    i.opaque_user_data = s;
    i.pwsi = &s->vnc;
    s->state = GW_STREAM_CONNECTING;
    if (!lws_client_connect_via_info(&i)) {
        s->vnc = NULL;
        log_warning("Stream %" PRIu64 ": cannot connect to the VNC console at %s.", s->id,
                    s->vnc_addr);
        stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "console unavailable",
                     "the VNC console cannot be reached");
    }
}

static void
streams_ended(struct gw *gw, char **ended)
{
    for (char **id = ended; *id; id++) {
        for (struct gw_stream *s = gw->streams; s; s = s->next)
            if (streq_ptr(s->session, *id) && s->close_code == 0)
                stream_close(s, GW_CLOSE_SESSION_ENDED, "session ended",
                             "deskpoold says the session ended");
    }
}

static void
handle_events(struct gw *gw)
{
    struct gw_event *list = gw_deskpoold_take_events(gw->dp);

    for (struct gw_event *e = list; e; e = e->next) {
        if (e->type == GW_EVENT_REDEEMED)
            stream_redeemed(gw, &e->redeem);
        else if (e->type == GW_EVENT_ENDED)
            streams_ended(gw, e->ended);
    }
    gw_event_free(list);
}

/* Writes up to GW_CHUNK of B to WSI. Returns the bytes written or -1. */
static int
write_chunk(struct lws *wsi, struct gw_buf *b, enum lws_write_protocol proto)
{
    size_t n = MIN(b->len, (size_t) GW_CHUNK);
    int r;

    memcpy(tx_scratch + LWS_PRE, gw_buf_head(b), n);
    r = lws_write(wsi, tx_scratch + LWS_PRE, n, proto);
    if (r < 0)
        return -1;
    gw_buf_consume(b, n);
    return (int) n;
}

/* Browser bytes after its security handshake: through the RFB filter
 * (gw-rfb-filter.c), then what it lets through to the desktop. A message
 * the filter refuses closes the stream (1008) and nothing of what came
 * with it is relayed. Returns false when the stream is closing. */
static bool
relay_to_vnc(struct gw_stream *s, const uint8_t *in, size_t len)
{
    _cleanup_free_ char *err = NULL;
    uint64_t cut_dropped = s->rf.cut_dropped;
    uint64_t encodings_removed = s->rf.encodings_removed;
    bool ok;
    int r;

    r = gw_rfb_filter_feed(&s->rf, in, len, &s->filtered, &err);
    if (r < 0) {
        gw_buf_consume(&s->filtered, s->filtered.len);
        log_warning("Stream %" PRIu64 " from %s closed for a policy violation: %s", s->id,
                    s->peer, err);
        stream_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "policy violation",
                     "the browser sent an RFB message the gateway refuses");
        return false;
    }
    if (cut_dropped == 0 && s->rf.cut_dropped > 0)
        log_notice("Stream %" PRIu64 ": clipboard data from the browser dropped.", s->id);
    if (encodings_removed == 0 && s->rf.encodings_removed > 0)
        log_debug("Stream %" PRIu64 ": the clipboard pseudo-encoding taken out of the "
                  "browser's SetEncodings.", s->id);
    if (s->filtered.len == 0)
        return true;
    s->bytes_to_vnc += s->filtered.len;
    ok = queue_to_vnc(s, gw_buf_head(&s->filtered), s->filtered.len);
    gw_buf_consume(&s->filtered, s->filtered.len);
    return ok;
}

/* The browser-side handshake is done: relay from now on. */
static void
stream_start_relay(struct gw_stream *s)
{
    s->state = GW_STREAM_RELAY;
    gw_rfb_filter_init(&s->rf);
    if (s->hs_in.len > 0 && !relay_to_vnc(s, gw_buf_head(&s->hs_in), s->hs_in.len))
        return;
    gw_buf_clear(&s->hs_in);
    if (s->held.len > 0 && !queue_to_ws(s, gw_buf_head(&s->held), s->held.len))
        return;
    gw_buf_clear(&s->held);
    if (s->vnc && s->vnc_paused && s->to_ws.len <= GW_STREAM_BUF_HIGH) {
        lws_rx_flow_control(s->vnc, 1);
        s->vnc_paused = false;
    }
}

static void
ws_established(struct lws *wsi, struct gw_stream_pss *pss)
{
    struct gw *gw = gw_of(wsi);
    struct gw_stream *s = xmalloc0(sizeof(*s));
    char peer[64] = "";
    char arg[GW_URLARG_MAX] = "";
    const char *ticket;

    s->gw = gw;
    s->ws = wsi;
    s->id = ++gw->next_stream_id;
    s->opened_usec = now_usec();
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    s->peer = xstrdup(peer[0] ? peer : "?");
    s->next = gw->streams;
    if (gw->streams)
        gw->streams->prev = s;
    gw->streams = s;
    pss->stream = s;

    if (gw->stopping) {
        stream_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "gateway stopping", "the gateway stops");
        return;
    }
    if (gw->n_admitted >= gw->opt->max_streams) {
        log_warning("Stream %" PRIu64 " from %s refused: %u streams open (--max-streams).",
                    s->id, s->peer, gw->n_admitted);
        stream_close(s, GW_CLOSE_TRY_AGAIN_LATER, "too many streams",
                     "too many streams");
        return;
    }
    s->admitted = true;
    gw->n_admitted++;

    /* lws 4.1 returns a pointer into ARG, past "ticket=" */
    ticket = lws_get_urlarg_by_name(wsi, "ticket=", arg, sizeof(arg));
    if (!ticket || !gw_ticket_valid(ticket)) {
        explicit_bzero(arg, sizeof(arg));
        log_notice("Stream %" PRIu64 " from %s refused: no well-formed ticket.", s->id,
                   s->peer);
        stream_close(s, GW_CLOSE_TICKET, "ticket refused", "malformed ticket");
        return;
    }
    s->state = GW_STREAM_REDEEMING;
    gw_deskpoold_redeem(gw->dp, s->id, ticket);
    explicit_bzero(arg, sizeof(arg));
    log_info("Stream %" PRIu64 " from %s: redeeming its ticket.", s->id, s->peer);
}

static int
ws_receive(struct gw_stream *s, const uint8_t *in, size_t len)
{
    _cleanup_free_ char *err = NULL;
    int r;

    switch (s->state) {
    case GW_STREAM_RELAY:
        (void) relay_to_vnc(s, in, len);
        return 0;
    case GW_STREAM_CLIENT_AUTH:
        if (s->hs_in.len + len > GW_CHUNK) {
            stream_close(s, LWS_CLOSE_STATUS_PROTOCOL_ERR, "protocol error",
                         "the browser's handshake is too long");
            return 0;
        }
        gw_buf_append(&s->hs_in, in, len);
        r = gw_vnc_client_feed(&s->vc, &s->hs_in, &s->to_ws, &err);
        if (r < 0) {
            log_warning("Stream %" PRIu64 ": %s", s->id, err);
            stream_close(s, LWS_CLOSE_STATUS_PROTOCOL_ERR, "protocol error",
                         "the browser's RFB handshake failed");
            return 0;
        }
        if (s->to_ws.len > 0)
            lws_callback_on_writable(s->ws);
        if (r > 0)
            stream_start_relay(s);
        return 0;
    case GW_STREAM_CLOSING:
        return 0;
    default:
        /* an RFB client speaks only after the server's version */
        stream_close(s, LWS_CLOSE_STATUS_PROTOCOL_ERR, "protocol error",
                     "the browser spoke before the handshake");
        return 0;
    }
}

static int
ws_writeable(struct lws *wsi, struct gw_stream *s)
{
    if (s->close_code != 0) {
        size_t n = strlen(s->close_reason);

        lws_close_reason(wsi, (enum lws_close_status) s->close_code,
                         (unsigned char *) s->close_reason, MIN(n, (size_t) 123));
        return -1;
    }
    if (s->to_ws.len == 0)
        return 0;
    if (write_chunk(wsi, &s->to_ws, LWS_WRITE_BINARY) < 0) {
        s->close_why = xstrdup("writing to the browser failed");
        return -1;
    }
    if (s->to_ws.len > 0)
        lws_callback_on_writable(wsi);
    if (s->vnc && s->vnc_paused && s->to_ws.len < GW_STREAM_BUF_LOW &&
        s->state == GW_STREAM_RELAY) {
        lws_rx_flow_control(s->vnc, 1);
        s->vnc_paused = false;
    }
    return 0;
}

int
gw_stream_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    struct gw_stream_pss *pss = user;
    struct gw_stream *s = pss ? pss->stream : NULL;
    struct gw *gw;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[32] = "";

        /* websockets only on /console */
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 || !streq(uri, "/console"))
            return 1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!pss)
            return -1; /* lws allocates it for every websocket of this protocol */
        ws_established(wsi, pss);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!s)
            return -1;
        return ws_receive(s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!s)
            return -1;
        return ws_writeable(wsi, s);
    case LWS_CALLBACK_CLOSED:
        if (s) {
            pss->stream = NULL;
            stream_free(s);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        gw = lws_context_user(lws_get_context(wsi));
        if (gw && gw->dp)
            handle_events(gw);
        return 0;
    default:
        /* being the vhost's default protocol, this one gets the plain HTTP
         * connections too (file completions of the noVNC mounts...) */
        return gw_http_callback(wsi, reason, user, in, len);
    }
}

/* VNC bytes in SERVER_AUTH: the gateway's own RFB client. */
static void
vnc_handshake_rx(struct gw_stream *s, const uint8_t *in, size_t len)
{
    _cleanup_free_ char *err = NULL;
    bool with_password = s->vs.password != NULL;
    int r;

    if (s->hs_in.len + len > GW_CHUNK) {
        stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "console error",
                     "the VNC server's handshake is too long");
        return;
    }
    gw_buf_append(&s->hs_in, in, len);
    r = gw_vnc_server_feed(&s->vs, &s->hs_in, &s->to_vnc, &err);
    if (s->to_vnc.len > 0 && s->vnc)
        lws_callback_on_writable(s->vnc);
    if (r < 0) {
        log_warning("Stream %" PRIu64 ": VNC authentication to %s failed: %s", s->id,
                    s->vnc_addr, err);
        stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "console authentication failed",
                     "VNC authentication failed");
        return;
    }
    if (r == 0)
        return;
    log_notice("Stream %" PRIu64 ": VNC authentication to %s succeeded (%s, RFB 3.%u).",
               s->id, s->vnc_addr, s->vs.used_password || with_password ?
               "VNC password" : "no password", s->vs.minor);
    /* whatever the server sent after SecurityResult waits for the browser */
    gw_buf_append(&s->held, gw_buf_head(&s->hs_in), s->hs_in.len);
    gw_buf_clear(&s->hs_in);
    if (s->vnc && !s->vnc_paused) {
        lws_rx_flow_control(s->vnc, 0);
        s->vnc_paused = true;
    }
    s->state = GW_STREAM_CLIENT_AUTH;
    gw_vnc_client_start(&s->vc, &s->to_ws);
    lws_callback_on_writable(s->ws);
}

int
gw_stream_vnc_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct gw_stream *s = lws_get_opaque_user_data(wsi);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (s) {
            s->vnc = NULL;
            lws_set_opaque_user_data(wsi, NULL);
            log_warning("Stream %" PRIu64 ": cannot connect to the VNC console at %s: %s",
                        s->id, s->vnc_addr, in ? (const char *) in : "connection failed");
            stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "console unavailable",
                         "the VNC console cannot be reached");
        }
        return 0;
    case LWS_CALLBACK_RAW_CONNECTED:
        if (!s)
            return -1;
        s->vnc = wsi;
        s->state = GW_STREAM_SERVER_AUTH;
        log_debug("Stream %" PRIu64 ": connected to %s.", s->id, s->vnc_addr);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        if (!s)
            return -1;
        if (s->state == GW_STREAM_SERVER_AUTH) {
            vnc_handshake_rx(s, in, len);
        } else if (s->state == GW_STREAM_RELAY) {
            s->bytes_to_ws += len;
            (void) queue_to_ws(s, in, len);
        } else if (s->state == GW_STREAM_CLIENT_AUTH) {
            if (s->held.len + len > GW_STREAM_BUF_MAX)
                stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "buffer full",
                             "the VNC server sent too much before the browser was ready");
            else
                gw_buf_append(&s->held, in, len);
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!s)
            return -1;
        if (s->to_vnc.len == 0)
            return 0;
        if (write_chunk(wsi, &s->to_vnc, LWS_WRITE_RAW) < 0) {
            stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "console error",
                         "writing to the VNC console failed");
            return 0;
        }
        if (s->to_vnc.len > 0)
            lws_callback_on_writable(wsi);
        if (s->ws_paused && s->to_vnc.len < GW_STREAM_BUF_LOW) {
            lws_rx_flow_control(s->ws, 1);
            s->ws_paused = false;
        }
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (s) {
            lws_set_opaque_user_data(wsi, NULL);
            s->vnc = NULL;
            if (s->state == GW_STREAM_RELAY || s->state == GW_STREAM_CLIENT_AUTH)
                stream_close(s, GW_CLOSE_SESSION_ENDED, "session ended",
                             "the desktop's console closed");
            else
                stream_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "console closed",
                             "the VNC console closed during the handshake");
        }
        return 0;
    default:
        return 0;
    }
}
