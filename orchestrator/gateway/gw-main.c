/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-main.c - deskpool-gateway: options, the lws context, lifecycle
 *
 * The browser console gateway: it serves the desktop page, takes the
 * page's websocket, redeems its one-time ticket with deskpoold and relays
 * the desktop's VNC console (docs/gateway.md, deskpool-gateway(8)).
 *
 * DESIGN
 *   Start-up checks everything an operator can get wrong before anything
 *   listens, and each failure is one line on stderr and exit status 1:
 *   the deskpoold URL (http or https with a host), the token file (one
 *   line, not readable by everyone), the certificate and key (readable;
 *   TLS is the default, --no-tls is for tests and logs a warning), the
 *   directories, and the listening address (bound once here for a clear
 *   errno, then by lws).
 *   One lws context, one vhost, one service thread (this one): every
 *   socket - pages, websockets, VNC connections - is served by lws_service()
 *   here, memory per stream is its buffers only. gw-deskpoold.c's threads
 *   wake this loop with lws_cancel_service(). A one-second lws timer keeps
 *   the loop turning so that a stop request is seen even when idle.
 *   The vhost speaks HTTP/1.1 only (ALPN "http/1.1"): websockets over
 *   HTTP/2 (RFC 8441) would buy nothing for one long connection per tab.
 *   SIGTERM/SIGINT: every stream is closed (1001 "gateway stopping"), the
 *   loop runs until they are gone or GW_STOP_GRACE_SEC passed, then the
 *   context and the deskpoold client's threads are torn down.
 *   lws's own log goes through log.h at warning and error only: its
 *   notices would carry request lines.
 */
#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "gw.h"
#include "log.h"
#include "util.h"

#define GW_TOKEN_FILE_MAX 4096
#define GW_STOP_GRACE_SEC 3
#define GW_NOVNC_CACHE_SEC 3600 /* how long browsers may keep noVNC's files */

#ifndef DP_GATEWAY_WEB_DIR
#define DP_GATEWAY_WEB_DIR "/usr/share/deskpool/gateway"
#endif

static volatile sig_atomic_t arg_stop;
static struct lws_context *signal_ctx;

static void
on_signal(int sig)
{
    arg_stop = 1;
    if (signal_ctx)
        lws_cancel_service(signal_ctx);
}

static void
help(void)
{
    printf("Usage: deskpool-gateway --deskpoold URL --token-file FILE [OPTIONS]\n"
           "\n"
           "The browser console gateway of deskpool: serves /desktop?ticket=T and relays\n"
           "the desktop's VNC console over a websocket (docs/gateway.md).\n"
           "\n"
           "  --deskpoold URL       deskpoold's REST API (http:// or https://)\n"
           "  --token-file FILE     a deskpoold token with role 'gateway' (not world-readable)\n"
           "  --listen ADDR:PORT    where to listen (default %s)\n"
           "  --cert FILE           TLS certificate (PEM), with --key\n"
           "  --key FILE            TLS private key (PEM)\n"
           "  --no-tls              serve plain HTTP (tests and development only)\n"
           "  --cacert FILE         CA certificates to check deskpoold's certificate\n"
           "  --novnc-dir DIR       noVNC's files (default %s)\n"
           "  --web-dir DIR         the gateway's pages (default %s)\n"
           "  --max-streams N       open consoles at most (default %u)\n"
           "  --log-level LEVEL     error, warning, notice, info or debug (default info)\n"
           "  -h, --help            show this help\n",
           GW_DEFAULT_LISTEN, GW_DEFAULT_NOVNC_DIR, DP_GATEWAY_WEB_DIR,
           GW_DEFAULT_MAX_STREAMS);
}

/* "ADDR:PORT" or "[ADDR6]:PORT". Returns 0 or -EINVAL. */
static int
parse_listen(const char *s, char **ret_addr, int *ret_port)
{
    _cleanup_free_ char *addr = NULL;
    const char *colon = strrchr(s, ':');
    struct in6_addr a6;
    struct in_addr a4;
    unsigned port;

    if (!colon || safe_atou(colon + 1, &port) < 0 || port == 0 || port > 65535)
        return -EINVAL;
    if (s[0] == '[' && colon > s && colon[-1] == ']')
        addr = xstrndup(s + 1, (size_t) (colon - s - 2));
    else
        addr = xstrndup(s, (size_t) (colon - s));
    if (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1)
        return -EINVAL;
    *ret_addr = TAKE_PTR(addr);
    *ret_port = (int) port;
    return 0;
}

/* Whether ADDR:PORT can be bound now; an errno for a clear message. */
static int
probe_listen(const char *addr, int port)
{
    struct sockaddr_storage ss = { 0 };
    _cleanup_close_ int fd = -1;
    socklen_t sl;
    int one = 1;

    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t) port);
        (void) inet_pton(AF_INET6, addr, &a->sin6_addr);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *) &ss;

        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t) port);
        (void) inet_pton(AF_INET, addr, &a->sin_addr);
        sl = sizeof(*a);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *) &ss, sl) < 0)
        return -errno;
    return 0;
}

/* http(s)://host[:port][/path]. Returns 0 or -EINVAL. */
static int
check_url(const char *url)
{
    CURLU *u;
    char *scheme = NULL, *host = NULL;
    int r = -EINVAL;

    u = curl_url();
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        (streq(scheme, "http") || streq(scheme, "https")) && host[0] != '\0')
        r = 0;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return r;
}

/* The token: the file's first line. Refuses a file everyone may read. */
static int
read_token(const char *path, char **ret, char **reterr_msg)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *data = NULL;
    char buf[GW_TOKEN_FILE_MAX + 1];
    struct stat st;
    ssize_t n;
    size_t len;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *reterr_msg = xasprintf("cannot read the token file '%s': %s.", path, strerror(errno));
        return -errno;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *reterr_msg = xasprintf("the token file '%s' is not a regular file.", path);
        return -EINVAL;
    }
    if (st.st_mode & S_IROTH) {
        *reterr_msg = xasprintf("the token file '%s' is readable by everyone (mode %04o): "
                                "chmod o-r it (0600 or 0640).", path,
                                (unsigned) (st.st_mode & 07777));
        return -EPERM;
    }
    n = read(fd, buf, GW_TOKEN_FILE_MAX + 1);
    if (n < 0) {
        *reterr_msg = xasprintf("cannot read the token file '%s': %s.", path, strerror(errno));
        return -errno;
    }
    if (n > GW_TOKEN_FILE_MAX) {
        *reterr_msg = xasprintf("the token file '%s' is larger than %u bytes.", path,
                                GW_TOKEN_FILE_MAX);
        return -EFBIG;
    }
    buf[n] = '\0';
    len = strcspn(buf, "\r\n");
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    if (len == 0) {
        explicit_bzero(buf, sizeof(buf));
        *reterr_msg = xasprintf("the token file '%s' is empty.", path);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) buf[i] <= ' ' || buf[i] == 0x7f) {
            explicit_bzero(buf, sizeof(buf));
            *reterr_msg = xasprintf("the token in '%s' contains spaces or control "
                                    "characters.", path);
            return -EINVAL;
        }
    *ret = xstrndup(buf, len);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

static int
check_readable(const char *what, const char *path, bool dir, char **reterr_msg)
{
    struct stat st;

    if (access(path, R_OK | (dir ? X_OK : 0)) < 0 || stat(path, &st) < 0) {
        *reterr_msg = xasprintf("cannot read the %s '%s': %s.", what, path, strerror(errno));
        return -errno;
    }
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        *reterr_msg = xasprintf("the %s '%s' is not a %s.", what, path,
                                dir ? "directory" : "regular file");
        return -EINVAL;
    }
    return 0;
}

enum {
    OPT_DESKPOOLD = 0x100,
    OPT_TOKEN_FILE,
    OPT_LISTEN,
    OPT_CERT,
    OPT_KEY,
    OPT_NO_TLS,
    OPT_CACERT,
    OPT_NOVNC_DIR,
    OPT_WEB_DIR,
    OPT_MAX_STREAMS,
    OPT_LOG_LEVEL,
};

/* Returns 0 (go on), 1 (--help: exit 0) or -EINVAL (message printed). */
static int
parse_argv(int argc, char **argv, struct gw_options *o)
{
    static const struct option options[] = {
        { "deskpoold", required_argument, NULL, OPT_DESKPOOLD },
        { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "cert", required_argument, NULL, OPT_CERT },
        { "key", required_argument, NULL, OPT_KEY },
        { "no-tls", no_argument, NULL, OPT_NO_TLS },
        { "cacert", required_argument, NULL, OPT_CACERT },
        { "novnc-dir", required_argument, NULL, OPT_NOVNC_DIR },
        { "web-dir", required_argument, NULL, OPT_WEB_DIR },
        { "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    _cleanup_free_ char *listen_arg = NULL;
    _cleanup_free_ char *token_file = NULL;
    _cleanup_free_ char *err = NULL;
    int opt, r;

    *o = (struct gw_options) { .max_streams = GW_DEFAULT_MAX_STREAMS };
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
        char **dst = NULL;

        switch (opt) {
        case 'h':
            help();
            return 1;
        case OPT_DESKPOOLD:
            dst = &o->deskpoold_url;
            break;
        case OPT_TOKEN_FILE:
            dst = &token_file;
            break;
        case OPT_LISTEN:
            dst = &listen_arg;
            break;
        case OPT_CERT:
            dst = &o->cert;
            break;
        case OPT_KEY:
            dst = &o->key;
            break;
        case OPT_NO_TLS:
            o->no_tls = true;
            break;
        case OPT_CACERT:
            dst = &o->cacert;
            break;
        case OPT_NOVNC_DIR:
            dst = &o->novnc_dir;
            break;
        case OPT_WEB_DIR:
            dst = &o->web_dir;
            break;
        case OPT_MAX_STREAMS:
            if (safe_atou(optarg, &o->max_streams) < 0 || o->max_streams == 0) {
                fprintf(stderr, "deskpool-gateway: --max-streams expects a number above 0, "
                        "not '%s'.\n", optarg);
                return -EINVAL;
            }
            break;
        case OPT_LOG_LEVEL:
            r = log_level_from_string(optarg);
            if (r < 0) {
                fprintf(stderr, "deskpool-gateway: unknown log level '%s' (error, warning, "
                        "notice, info, debug).\n", optarg);
                return -EINVAL;
            }
            log_set_level((enum log_level) r);
            break;
        default:
            fprintf(stderr, "deskpool-gateway: see --help for the options.\n");
            return -EINVAL;
        }
        if (dst) {
            free(*dst);
            *dst = xstrdup(optarg);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "deskpool-gateway: unexpected argument '%s'.\n", argv[optind]);
        return -EINVAL;
    }

    if (!o->deskpoold_url) {
        fprintf(stderr, "deskpool-gateway: --deskpoold URL is required.\n");
        return -EINVAL;
    }
    if (check_url(o->deskpoold_url) < 0) {
        fprintf(stderr, "deskpool-gateway: --deskpoold '%s' is not an http:// or https:// "
                "URL.\n", o->deskpoold_url);
        return -EINVAL;
    }
    if (!token_file) {
        fprintf(stderr, "deskpool-gateway: --token-file FILE is required.\n");
        return -EINVAL;
    }
    if (read_token(token_file, &o->token, &err) < 0) {
        fprintf(stderr, "deskpool-gateway: %s\n", err);
        return -EINVAL;
    }
    if (parse_listen(listen_arg ? listen_arg : GW_DEFAULT_LISTEN, &o->listen_addr,
                     &o->listen_port) < 0) {
        fprintf(stderr, "deskpool-gateway: --listen '%s' is not ADDR:PORT (an IP address "
                "and a port).\n", listen_arg);
        return -EINVAL;
    }
    if (o->no_tls && (o->cert || o->key)) {
        fprintf(stderr, "deskpool-gateway: --no-tls and --cert/--key exclude each other.\n");
        return -EINVAL;
    }
    if (!o->no_tls && (!o->cert || !o->key)) {
        fprintf(stderr, "deskpool-gateway: TLS needs --cert FILE and --key FILE "
                "(or --no-tls for tests).\n");
        return -EINVAL;
    }
    if (!o->novnc_dir)
        o->novnc_dir = xstrdup(GW_DEFAULT_NOVNC_DIR);
    if (!o->web_dir)
        o->web_dir = xstrdup(DP_GATEWAY_WEB_DIR);
    if ((o->cert && check_readable("certificate", o->cert, false, &err) < 0) ||
        (o->key && check_readable("private key", o->key, false, &err) < 0) ||
        (o->cacert && check_readable("CA file", o->cacert, false, &err) < 0) ||
        check_readable("noVNC directory", o->novnc_dir, true, &err) < 0 ||
        check_readable("page directory", o->web_dir, true, &err) < 0) {
        fprintf(stderr, "deskpool-gateway: %s\n", err);
        return -EINVAL;
    }
    r = probe_listen(o->listen_addr, o->listen_port);
    if (r < 0) {
        fprintf(stderr, "deskpool-gateway: cannot listen on %s: %s.\n",
                listen_arg ? listen_arg : GW_DEFAULT_LISTEN, strerror(-r));
        return -EINVAL;
    }
    return 0;
}

static void
options_done(struct gw_options *o)
{
    if (o->token)
        explicit_bzero(o->token, strlen(o->token));
    free(o->token);
    free(o->deskpoold_url);
    free(o->listen_addr);
    free(o->cert);
    free(o->key);
    free(o->cacert);
    free(o->novnc_dir);
    free(o->web_dir);
}

static void
lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        log_error("lws: %.*s", (int) n, line);
    else
        log_warning("lws: %.*s", (int) n, line);
}

static void
wake(void *userdata)
{
    struct gw *gw = userdata;

    lws_cancel_service(gw->ctx);
}

struct tick {
    lws_sorted_usec_list_t sul;
    struct lws_context *ctx;
};

static void
on_tick(lws_sorted_usec_list_t *sul)
{
    struct tick *t = lws_container_of(sul, struct tick, sul);

    lws_sul_schedule(t->ctx, 0, &t->sul, on_tick, LWS_US_PER_SEC);
}

int
main(int argc, char **argv)
{
    static const struct lws_protocols protocols[] = {
        { "http", gw_http_callback, 0, 0, 0, NULL, 0 },
        { "binary", gw_stream_ws_callback, sizeof(struct gw_stream_pss), GW_CHUNK, 0, NULL,
          GW_CHUNK },
        { GW_VNC_PROTOCOL, gw_stream_vnc_callback, 0, GW_CHUNK, 0, NULL, GW_CHUNK },
        { NULL, NULL, 0, 0, 0, NULL, 0 }
    };
    /* noVNC asks for no subprotocol (or "binary"): "binary" is the default */
    static const struct lws_protocol_vhost_options pvo_default = { NULL, NULL, "default", "" };
    static const struct lws_protocol_vhost_options pvo = { NULL, &pvo_default, "binary", "" };
    struct gw_options o = { 0 };
    struct lws_context_creation_info info = { 0 };
    struct lws_http_mount mount_core = { 0 }, mount_vendor = { 0 };
    _cleanup_free_ char *core_dir = NULL;
    _cleanup_free_ char *vendor_dir = NULL;
    struct sigaction sa = { 0 };
    struct gw gw = { 0 };
    struct tick tick = { 0 };
    uint64_t deadline = 0;
    int r, ret = 1;

    r = parse_argv(argc, argv, &o);
    if (r != 0) {
        options_done(&o);
        return r > 0 ? 0 : 1;
    }
    gw.opt = &o;
    if (o.no_tls)
        log_warning("--no-tls: serving plain HTTP; tickets and desktops cross the network "
                    "in clear. For tests and development only.");

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "deskpool-gateway: cannot initialise libcurl.\n");
        options_done(&o);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    /* noVNC's modules and their vendored inflate, nothing else of it (not
     * its full app, whose clipboard panel the hospital rule forbids) */
    core_dir = xasprintf("%s/core", o.novnc_dir);
    vendor_dir = xasprintf("%s/vendor", o.novnc_dir);
    mount_vendor.mountpoint = "/novnc/vendor";
    mount_vendor.mountpoint_len = (unsigned char) strlen(mount_vendor.mountpoint);
    mount_vendor.origin = vendor_dir;
    mount_vendor.origin_protocol = LWSMPRO_FILE;
    /* public, unchanging files (Debian's package): the browser keeps them an
     * hour, so a user opening a desktop again loads only the page (noVNC's
     * ~40 modules were 70% of the time to the first frame, bench/console.sh) */
    mount_vendor.cache_max_age = GW_NOVNC_CACHE_SEC;
    mount_vendor.cache_reusable = 1;
    mount_core = mount_vendor;
    mount_core.mountpoint = "/novnc/core";
    mount_core.mountpoint_len = (unsigned char) strlen(mount_core.mountpoint);
    mount_core.origin = core_dir;
    mount_core.mount_next = &mount_vendor;

    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8 |
        (o.no_tls ? 0 : LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT);
    info.user = &gw;
    gw.ctx = lws_create_context(&info);
    if (!gw.ctx) {
        fprintf(stderr, "deskpool-gateway: cannot create the libwebsockets context.\n");
        goto finish;
    }

    info.port = o.listen_port;
    info.iface = o.listen_addr;
    info.protocols = protocols;
    info.pvo = &pvo;
    info.mounts = &mount_core;
    info.vhost_name = "deskpool-gateway";
    info.alpn = "http/1.1";
    if (!o.no_tls) {
        info.ssl_cert_filepath = o.cert;
        info.ssl_private_key_filepath = o.key;
    }
    gw.vhost = lws_create_vhost(gw.ctx, &info);
    if (!gw.vhost) {
        fprintf(stderr, "deskpool-gateway: cannot serve on %s:%d (is the certificate and "
                "key pair valid PEM?).\n", o.listen_addr, o.listen_port);
        goto finish;
    }

    gw.dp = gw_deskpoold_new(o.deskpoold_url, o.token, o.cacert, wake, &gw);
    r = gw_deskpoold_start(gw.dp);
    if (r < 0) {
        log_error_errno(r, "Cannot start the deskpoold client's threads");
        goto finish;
    }

    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    signal_ctx = gw.ctx;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    tick.ctx = gw.ctx;
    lws_sul_schedule(gw.ctx, 0, &tick.sul, on_tick, LWS_US_PER_SEC);

    log_notice("deskpool-gateway listening on %s:%d (%s), deskpoold at %s, up to %u streams.",
               o.listen_addr, o.listen_port, o.no_tls ? "plain HTTP" : "TLS", o.deskpoold_url,
               o.max_streams);

    for (;;) {
        if (arg_stop && !gw.stopping) {
            log_notice("Stopping: closing %zu stream(s).", gw_stream_count(&gw));
            gw.stopping = true;
            gw_stream_close_all(&gw, LWS_CLOSE_STATUS_GOINGAWAY, "gateway stopping");
            deadline = now_usec() + GW_STOP_GRACE_SEC * 1000000ULL;
        }
        if (gw.stopping && (gw_stream_count(&gw) == 0 || now_usec() >= deadline))
            break;
        if (lws_service(gw.ctx, 0) < 0)
            break;
    }
    ret = 0;

finish:
    signal_ctx = NULL;
    if (gw.ctx) {
        lws_sul_cancel(&tick.sul);
        lws_context_destroy(gw.ctx);
    }
    gw.dp = gw_deskpoold_free(gw.dp);
    curl_global_cleanup();
    log_notice("deskpool-gateway stopped.");
    options_done(&o);
    return ret;
}
