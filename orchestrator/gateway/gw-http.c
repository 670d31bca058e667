/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-http.c - the gateway's pages: /desktop, /ended and their files
 *
 * Routes (GET only; everything else is 404):
 *   /desktop      data/gateway/desktop.html (the ticket stays in the query:
 *                 the page reads it and strips it from the address bar)
 *   /desktop.js   the page's module; /gateway.css its style
 *   /ended        ended.html with its reason and message filled in: ?reason=ticket,
 *                 ?reason=lost, else the session ended
 *   /novnc/core/, /novnc/vendor/  noVNC, as lws mounts (gw-main.c)
 *
 * DESIGN: the pages are read from --web-dir at each request (a few KiB;
 * an operator can change them without a restart) and sent whole from
 * LWS_CALLBACK_HTTP: the vhost speaks HTTP/1.1 only (gw-main.c), where
 * writing a small answer at once is allowed. Every answer of this file
 * carries the security headers of gw_http_headers[] (no caching, no
 * referrer, no framing, a CSP allowing only the gateway itself, nosniff).
 * The log gets the path only, never the query: the ticket is in it.
 */
#include "config.h"

#include <stdio.h>

#include "gw.h"
#include "log.h"
#include "util.h"

#define GW_PAGE_MAX (256 * 1024)
#define GW_HEADERS_MAX 2048

/* 'self' covers ws:/wss: to the same host in CSP 3; noVNC draws cursors
 * and JPEG rectangles through data: and blob: images. */
#define GW_CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; " \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct {
    const char *name;
    const char *value;
} gw_http_headers[] = {
    { "cache-control:", "no-store" },
    { "referrer-policy:", "no-referrer" },
    { "x-frame-options:", "DENY" },
    { "content-security-policy:", GW_CSP },
    { "x-content-type-options:", "nosniff" },
};

static const struct {
    const char *path;
    const char *file;
    const char *mime;
} gw_http_files[] = {
    { "/desktop", "desktop.html", "text/html; charset=utf-8" },
    { "/desktop.js", "desktop.js", "text/javascript; charset=utf-8" },
    { "/gateway.css", "gateway.css", "text/css; charset=utf-8" },
};

/* What /ended says, by ?reason= (the first is the default). */
static const struct {
    const char *reason;
    const char *message;
    const char *hint;
} gw_ended_reasons[] = {
    { "ended", "Your desktop session has ended.",
      "You can return to the portal to open your desktop again." },
    { "ticket", "This desktop link is no longer valid: it was already used or has expired. "
                "Return to the portal to open your desktop again.", "" },
    { "lost", "The connection to your desktop was lost.",
      "You can return to the portal to open your desktop again." },
};

/* Sends STATUS with BODY; returns what the callback must return. */
static int
http_respond(struct lws *wsi, unsigned status, const char *mime, const char *body, size_t len)
{
    _cleanup_free_ uint8_t *buf = NULL;
    uint8_t *start, *p, *end;

    buf = xmalloc0(LWS_PRE + GW_HEADERS_MAX + len);
    start = p = buf + LWS_PRE;
    end = start + GW_HEADERS_MAX;
    if (lws_add_http_common_headers(wsi, status, mime, len, &p, end))
        return -1;
    for (size_t i = 0; i < ELEMENTSOF(gw_http_headers); i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *) gw_http_headers[i].name,
                                        (const unsigned char *) gw_http_headers[i].value,
                                        (int) strlen(gw_http_headers[i].value), &p, end))
            return -1;
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    if (lws_write(wsi, start, (size_t) (p - start), LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    if (len > 0) {
        memcpy(start, body, len);
        if (lws_write(wsi, start, len, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
http_not_found(struct lws *wsi)
{
    static const char body[] = "<!DOCTYPE html><title>Not found</title><p>Not found.</p>\n";

    return http_respond(wsi, HTTP_STATUS_NOT_FOUND, "text/html; charset=utf-8", body,
                        sizeof(body) - 1);
}

static int
read_page(struct gw *gw, const char *file, char **ret, size_t *ret_len)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", gw->opt->web_dir, file);
    int r;

    r = read_full_file(path, GW_PAGE_MAX, ret, ret_len);
    if (r < 0)
        return log_error_errno(r, "Cannot read the page '%s'", path);
    return 0;
}

/* Replaces every NAME in TEXT with VALUE (new string). */
static char *
fill(const char *text, const char *name, const char *value)
{
    _cleanup_free_ char *out = xstrdup("");
    const char *p = text, *q;

    while ((q = strstr(p, name))) {
        char *n = xasprintf("%s%.*s%s", out, (int) (q - p), p, value);

        free(out);
        out = n;
        p = q + strlen(name);
    }
    q = out;
    return xasprintf("%s%s", q, p);
}

static int
http_ended(struct lws *wsi, struct gw *gw)
{
    _cleanup_free_ char *page = NULL;
    _cleanup_free_ char *a = NULL;
    _cleanup_free_ char *b = NULL;
    _cleanup_free_ char *c = NULL;
    char arg[32] = "";
    const char *reason;
    size_t len, k = 0;

    /* lws 4.1 returns a pointer into ARG, past "reason=" */
    reason = lws_get_urlarg_by_name(wsi, "reason=", arg, sizeof(arg));
    if (reason)
        for (size_t i = 0; i < ELEMENTSOF(gw_ended_reasons); i++)
            if (streq(reason, gw_ended_reasons[i].reason))
                k = i;
    if (read_page(gw, "ended.html", &page, &len) < 0)
        return http_respond(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", "", 0);
    a = fill(page, "@REASON@", gw_ended_reasons[k].reason);
    b = fill(a, "@MESSAGE@", gw_ended_reasons[k].message);
    c = fill(b, "@HINT@", gw_ended_reasons[k].hint);
    return http_respond(wsi, HTTP_STATUS_OK, "text/html; charset=utf-8", c, strlen(c));
}

int
gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    struct gw *gw;
    const char *path = in;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        gw = lws_context_user(lws_get_context(wsi));
        /* the path only: the query (a ticket) is never logged */
        log_debug("HTTP GET '%s'", path);
        if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
            return http_not_found(wsi);
        if (streq(path, "/ended"))
            return http_ended(wsi, gw);
        for (size_t i = 0; i < ELEMENTSOF(gw_http_files); i++) {
            _cleanup_free_ char *page = NULL;
            size_t n;

            if (!streq(path, gw_http_files[i].path))
                continue;
            if (read_page(gw, gw_http_files[i].file, &page, &n) < 0)
                return http_respond(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", "",
                                    0);
            return http_respond(wsi, HTTP_STATUS_OK, gw_http_files[i].mime, page, n);
        }
        return http_not_found(wsi);
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}
