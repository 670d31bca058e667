/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-http.c - deskpoolctl's HTTP client: one request, one answer
 *
 * The only libcurl user. It knows how to reach deskpoold (a unix socket
 * through CURLOPT_UNIX_SOCKET_PATH, or http(s)://host:port with a bearer
 * token) and turns libcurl's failures into a negative errno plus one
 * sentence for the operator. It knows nothing about the API's documents:
 * statuses and bodies go back to deskpoolctl.c unchanged.
 *
 * DESIGN: one easy handle per request (the CLI sends a handful), no
 * redirects, only http and https, a cap on the answer's size
 * (CTL_HTTP_RESPONSE_MAX) so a confused server cannot fill memory.
 * It must never print or log: the caller reports errors once.
 */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>

#include "array.h"
#include "ctl-http.h"

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(CURL *, curl_easy_cleanup, curl_easy_cleanupp)
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(struct curl_slist *, curl_slist_free_all, curl_slist_free_allp)

struct http_buffer {
    char *data;
    size_t len;
    size_t alloc;
    bool too_big;
};

int
ctl_http_global_init(void)
{
    CURLcode c;

    c = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (c == CURLE_OUT_OF_MEMORY)
        return -ENOMEM;
    if (c != CURLE_OK)
        return -EIO;
    return 0;
}

void
ctl_http_global_done(void)
{
    curl_global_cleanup();
}

char *
ctl_http_escape(const char *s)
{
    _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
    char *e;
    char *copy;

    curl = curl_easy_init();
    if (!curl)
        return NULL;
    e = curl_easy_escape(curl, s, 0);
    if (!e)
        return NULL;
    /* Hand back memory the caller can free() (curl may use its own allocator). */
    copy = xstrdup(e);
    curl_free(e);
    return copy;
}

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_buffer *b = userdata;
    size_t n = size * nmemb;

    if (n > CTL_HTTP_RESPONSE_MAX - b->len) {
        b->too_big = true;
        return 0; /* makes libcurl fail with CURLE_WRITE_ERROR */
    }
    ARRAY_GROW(b->data, b->alloc, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* Map a libcurl failure to an errno and a sentence naming the target. */
static int
http_transport_error(CURL *curl, CURLcode c, const struct http_buffer *b, const char *where,
                     unsigned timeout_sec, char **reterr_msg)
{
    long os_errno = 0;
    int r;
    char *msg;

    (void) curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        r = os_errno > 0 ? -(int) os_errno : -ECONNREFUSED;
        if (c == CURLE_COULDNT_RESOLVE_HOST)
            msg = xasprintf("cannot connect to deskpoold at %s: %s.", where,
                            curl_easy_strerror(c));
        else
            msg = xasprintf("cannot connect to deskpoold at %s: %s.", where, strerror(-r));
        break;
    case CURLE_OPERATION_TIMEDOUT:
        r = -ETIMEDOUT;
        msg = xasprintf("deskpoold at %s did not answer within %u s.", where, timeout_sec);
        break;
    case CURLE_WRITE_ERROR:
        if (b->too_big) {
            r = -EFBIG;
            msg = xasprintf("the answer from deskpoold at %s is larger than %u bytes.", where,
                            CTL_HTTP_RESPONSE_MAX);
        } else {
            r = -ENOMEM;
            msg = xasprintf("cannot store the answer from deskpoold at %s: %s.", where,
                            strerror(ENOMEM));
        }
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        r = -EINVAL;
        msg = xasprintf("'%s' is not a usable URL: %s.", where, curl_easy_strerror(c));
        break;
    default:
        r = os_errno > 0 ? -(int) os_errno : -EIO;
        msg = xasprintf("request to deskpoold at %s failed: %s.", where, curl_easy_strerror(c));
        break;
    }
    if (reterr_msg)
        *reterr_msg = msg;
    else
        free(msg);
    return r;
}

int
ctl_http_request(const struct ctl_http_target *t, const char *method, const char *path,
                 const char *body_json, long *ret_status, char **ret_body, char **reterr_msg)
{
    _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
    _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *auth = NULL;
    struct http_buffer b = { 0 };
    const char *where;
    struct curl_slist *h;
    CURLcode c;
    long status = 0;
    int r;

    if (!t || !method || !path || path[0] != '/')
        return -EINVAL;

    if (t->url) {
        size_t n = strlen(t->url);

        while (n > 0 && t->url[n - 1] == '/')
            n--;
        url = xasprintf("%.*s%s", (int) n, t->url, path);
        where = t->url;
    } else {
        if (!t->socket_path)
            return -EINVAL;
        url = xasprintf("http://localhost%s", path);
        where = t->socket_path;
    }

    curl = curl_easy_init();
    if (!curl) {
        if (reterr_msg)
            *reterr_msg = xstrdup("cannot initialise libcurl.");
        return -ENOMEM;
    }

    h = curl_slist_append(NULL, "Accept: application/json");
    if (h && body_json)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (h && t->url && t->token) {
        auth = xasprintf("Authorization: Bearer %s", t->token);
        h = curl_slist_append(h, auth);
    }
    if (!h) {
        if (reterr_msg)
            *reterr_msg = xstrdup("cannot build the request headers.");
        return -ENOMEM;
    }
    headers = h;

    c = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (c == CURLE_OK && !t->url)
        c = curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, t->socket_path);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_USERAGENT, PACKAGE_NAME "ctl/" PACKAGE_VERSION);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (c == CURLE_OK && body_json) {
        c = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body_json));
        if (c == CURLE_OK)
            c = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_json);
    }
    if (c == CURLE_OK && t->timeout_sec > 0) {
        c = curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) t->timeout_sec);
        if (c == CURLE_OK)
            c = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) t->timeout_sec);
    }
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    if (c != CURLE_OK) {
        if (reterr_msg)
            *reterr_msg = xasprintf("cannot set up the request: %s.", curl_easy_strerror(c));
        return -EIO;
    }

    c = curl_easy_perform(curl);
    if (c != CURLE_OK) {
        r = http_transport_error(curl, c, &b, where, t->timeout_sec, reterr_msg);
        free(b.data);
        return r;
    }
    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

    *ret_status = status;
    *ret_body = b.data ? b.data : xstrdup("");
    return 0;
}
