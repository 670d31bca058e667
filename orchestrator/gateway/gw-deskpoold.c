/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-deskpoold.c - the gateway's REST client of deskpoold: redeem, watch
 *
 * Two calls, both POST with the gateway's bearer token (role 'gateway'):
 *   /v1/console/redeem {"ticket":T} -> 200 the session and its console
 *       (host, port, VNC password), 403 ticket_refused, else a failure;
 *   /v1/console/watch {"sessions":[...],"wait":25} -> 200 {"ended":[...]},
 *       at once when one of them ended, else after 'wait' seconds.
 *
 * DESIGN
 *   The lws service thread must never block, so nothing here runs in it
 *   but queue operations under one mutex. GW_REDEEM_WORKERS threads take
 *   redeem jobs (blocking libcurl easy handles, GW_REDEEM_TIMEOUT_SEC for
 *   connect and answer together); one watch thread long-polls for the
 *   current set of sessions. Results go to an event queue and the owner
 *   is woken through WAKE (lws_cancel_service() in gw-main.c); gw-stream.c
 *   takes the events in LWS_CALLBACK_EVENT_WAIT_CANCELLED. Streams are
 *   named by id, never by pointer: a stream may be gone when its answer
 *   arrives.
 *   The watch set has a generation counter. The watch thread runs its
 *   long poll on a curl multi handle and sleeps in curl_multi_poll();
 *   gw_deskpoold_watch() (a new set) and gw_deskpoold_free() (stop) call
 *   curl_multi_wakeup(), which is thread-safe, so the thread sees a stale
 *   generation within milliseconds, drops the poll and reissues it (a
 *   wakeup with no poll in flight makes the next curl_multi_poll() return
 *   at once, which is harmless). libcurl's progress callback, used before,
 *   runs only about once a second on an idle transfer: a session that
 *   started streaming just before could wait that long to be watched.
 *   The redeem workers keep blocking easy handles; their progress
 *   callback only aborts them when the client stops. With no session to
 *   watch there is no poll. When deskpoold cannot be
 *   reached the watch thread logs a warning (the first failure, then at
 *   most once a minute) and retries with a backoff doubling from 1 s to
 *   30 s; streams stay open meanwhile.
 *   A ticket lives in a job only until its request is built, then it is
 *   wiped; a password lives in the event until gw-stream.c takes it.
 *   Nothing here logs a ticket, a password or the token. Only the watch
 *   thread logs (it is where the failure is handled); redeem failures are
 *   returned as a sentence for gw-stream.c to log.
 */
#include "config.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "array.h"
#include "gw-deskpoold.h"
#include "json-util.h"
#include "log.h"
#include "strv.h"
#include "util.h"

#define GW_REDEEM_WORKERS 4
#define GW_WATCH_BACKOFF_MAX_SEC 30
#define GW_WATCH_WARN_EVERY_USEC (60ULL * 1000 * 1000)
#define GW_NAME_MAX 256

struct redeem_job {
    uint64_t stream_id;
    char ticket[GW_TICKET_LEN + 1];
    struct redeem_job *next;
};

struct gw_deskpoold {
    char *url;            /* without trailing slashes */
    char *auth_header;    /* "Authorization: Bearer TOKEN" */
    char *cacert;
    gw_wake_fn wake;
    void *userdata;

    pthread_mutex_t lock;
    pthread_cond_t cond;  /* jobs queued, watch set changed, stop */
    struct redeem_job *jobs, *jobs_tail;
    struct gw_event *events, *events_tail;
    char **watch_set;
    uint64_t watch_gen;
    bool stop;

    pthread_t workers[GW_REDEEM_WORKERS];
    size_t n_workers;
    pthread_t watcher;
    bool watcher_started;
    CURLM *multi;         /* the watch thread's; curl_multi_wakeup() from any thread */
};

struct http_answer {
    char *data;
    size_t len;
    size_t alloc;
    bool too_big;
};

/* What the redeem's progress callback checks: abort when the client stops. */
struct abort_check {
    struct gw_deskpoold *dp;
};

bool
gw_ticket_valid(const char *t)
{
    size_t i;

    if (!t)
        return false;
    for (i = 0; t[i]; i++) {
        char c = t[i];

        if (i >= GW_TICKET_LEN)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return i == GW_TICKET_LEN;
}

void
gw_redeem_clear(struct gw_redeem *r)
{
    if (r->password) {
        explicit_bzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r->error);
    free(r->session);
    free(r->pool);
    free(r->desktop);
    free(r->user);
    free(r->host);
    *r = (struct gw_redeem) { .stream_id = r->stream_id, .status = r->status };
}

struct gw_event *
gw_event_free(struct gw_event *e)
{
    while (e) {
        struct gw_event *next = e->next;

        gw_redeem_clear(&e->redeem);
        strv_free(e->ended);
        free(e);
        e = next;
    }
    return NULL;
}

static int
get_name(json_object *o, const char *field, char **ret, char **reterr_msg)
{
    _cleanup_free_ char *err = NULL;
    const char *s;
    int r;

    r = json_get_string(o, field, GW_NAME_MAX, &s, &err);
    if (r < 0) {
        if (reterr_msg)
            *reterr_msg = r == -ENOENT ? xasprintf("the answer has no '%s'.", field) :
                                         TAKE_PTR(err);
        return -EINVAL;
    }
    *ret = xstrdup(s);
    return 0;
}

int
gw_redeem_parse(const char *body, size_t len, struct gw_redeem *r, char **reterr_msg)
{
    _cleanup_json_ json_object *root = NULL;
    _cleanup_free_ char *ignored = NULL;
    _cleanup_free_ char *ignored2 = NULL;
    json_object *conn, *pw;
    const char *proto;
    unsigned port;
    int k;

    k = json_parse_object(body, len, &root, &ignored);
    if (k < 0) {
        if (reterr_msg)
            *reterr_msg = TAKE_PTR(ignored);
        return -EINVAL;
    }
    if (get_name(root, "session", &r->session, reterr_msg) < 0 ||
        get_name(root, "pool", &r->pool, reterr_msg) < 0 ||
        get_name(root, "desktop", &r->desktop, reterr_msg) < 0 ||
        get_name(root, "user", &r->user, reterr_msg) < 0)
        return -EINVAL;
    if (!json_object_object_get_ex(root, "connection", &conn) ||
        !json_object_is_type(conn, json_type_object)) {
        if (reterr_msg)
            *reterr_msg = xstrdup("the answer has no 'connection' object.");
        return -EINVAL;
    }
    /* json-util.c's getters need somewhere to put their sentence */
    if (json_get_string(conn, "protocol", 16, &proto, &ignored) < 0 || !streq(proto, "vnc")) {
        if (reterr_msg)
            *reterr_msg = xstrdup("the console's protocol is not 'vnc'.");
        return -EINVAL;
    }
    if (get_name(conn, "host", &r->host, reterr_msg) < 0)
        return -EINVAL;
    if (json_get_uint(conn, "port", 65535, &port, &ignored2) < 0 || port == 0) {
        if (reterr_msg)
            *reterr_msg = xstrdup("the console's 'port' is not a port number.");
        return -EINVAL;
    }
    r->port = port;
    if (json_object_object_get_ex(conn, "password", &pw) && pw) {
        const char *s;

        if (!json_object_is_type(pw, json_type_string) ||
            json_object_get_string_len(pw) > 64) {
            if (reterr_msg)
                *reterr_msg = xstrdup("the console's 'password' is not a short string.");
            return -EINVAL;
        }
        s = json_object_get_string(pw);
        r->password = xstrdup(s);
    }
    return 0;
}

/* Parses {"ended":[ids]} into a vector (may be empty). */
static int
watch_parse(const char *body, size_t len, char ***ret)
{
    _cleanup_json_ json_object *root = NULL;
    _cleanup_(strv_freep) char **v = NULL;
    _cleanup_free_ char *err = NULL;
    json_object *a;
    size_t n;

    if (json_parse_object(body, len, &root, &err) < 0)
        return -EINVAL;
    if (!json_object_object_get_ex(root, "ended", &a) || !json_object_is_type(a, json_type_array))
        return -EINVAL;
    n = json_object_array_length(a);
    v = xmalloc0((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);

        if (!json_object_is_type(e, json_type_string) ||
            json_object_get_string_len(e) > GW_NAME_MAX)
            return -EINVAL;
        v[i] = xstrdup(json_object_get_string(e));
    }
    *ret = TAKE_PTR(v);
    return 0;
}

static size_t
answer_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_answer *b = userdata;
    size_t n = size * nmemb;

    if (n > GW_DESKPOOLD_RESPONSE_MAX - b->len) {
        b->too_big = true;
        return 0;
    }
    ARRAY_GROW(b->data, b->alloc, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int
progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
            curl_off_t ulnow)
{
    struct abort_check *a = userdata;
    bool abort_it;

    pthread_mutex_lock(&a->dp->lock);
    abort_it = a->dp->stop;
    pthread_mutex_unlock(&a->dp->lock);
    return abort_it ? 1 : 0;
}

/* One POST in the making; request_done() frees it. */
struct request {
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    struct http_answer answer;
};

static void
request_done(struct request *rq)
{
    if (rq->curl)
        curl_easy_cleanup(rq->curl);
    curl_slist_free_all(rq->headers);
    free(rq->url);
    free(rq->answer.data);
    *rq = (struct request) { 0 };
}

/* Sets up RQ (zeroed) to POST BODY to PATH within TIMEOUT_SEC. Returns 0
 * or a negative errno with a sentence; RQ needs request_done() either way. */
static int
request_init(struct gw_deskpoold *dp, struct request *rq, const char *path, const char *body,
             long timeout_sec, char **reterr_msg)
{
    struct curl_slist *h;
    CURLcode c;

    rq->url = xasprintf("%s%s", dp->url, path);
    rq->curl = curl_easy_init();
    if (!rq->curl) {
        *reterr_msg = xstrdup("cannot initialise libcurl.");
        return -ENOMEM;
    }
    h = curl_slist_append(NULL, "Accept: application/json");
    if (h)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (h)
        h = curl_slist_append(h, dp->auth_header);
    if (!h) {
        *reterr_msg = xstrdup("cannot build the request headers.");
        return -ENOMEM;
    }
    rq->headers = h;

    c = curl_easy_setopt(rq->curl, CURLOPT_URL, rq->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_PROTOCOLS,
                             (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_NOSIGNAL, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_HTTPHEADER, rq->headers);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_POSTFIELDS, body);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_TIMEOUT, timeout_sec);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_CONNECTTIMEOUT, MIN(timeout_sec, 5L));
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_WRITEFUNCTION, answer_write_cb);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq->curl, CURLOPT_WRITEDATA, &rq->answer);
    if (c == CURLE_OK && dp->cacert)
        c = curl_easy_setopt(rq->curl, CURLOPT_CAINFO, dp->cacert);
    if (c != CURLE_OK) {
        *reterr_msg = xasprintf("cannot set up the request: %s.", curl_easy_strerror(c));
        return -EINVAL;
    }
    return 0;
}

/* RQ's transfer ended with C. Returns 0 with the status and body
 * (NUL-terminated, possibly empty), -ECANCELED when a callback aborted
 * it, or another negative errno with a sentence (no secrets in it). */
static int
request_result(struct gw_deskpoold *dp, struct request *rq, CURLcode c, long timeout_sec,
               long *ret_status, char **ret_body, char **reterr_msg)
{
    long status = 0;

    if (c != CURLE_OK) {
        if (c == CURLE_ABORTED_BY_CALLBACK)
            return -ECANCELED;
        if (c == CURLE_OPERATION_TIMEDOUT) {
            *reterr_msg = xasprintf("deskpoold at %s did not answer within %ld s.", dp->url,
                                    timeout_sec);
            return -ETIMEDOUT;
        }
        if (rq->answer.too_big) {
            *reterr_msg = xasprintf("deskpoold's answer is larger than %u bytes.",
                                    GW_DESKPOOLD_RESPONSE_MAX);
            return -EFBIG;
        }
        *reterr_msg = xasprintf("request to deskpoold at %s failed: %s.", dp->url,
                                curl_easy_strerror(c));
        return -EIO;
    }
    (void) curl_easy_getinfo(rq->curl, CURLINFO_RESPONSE_CODE, &status);
    *ret_status = status;
    *ret_body = rq->answer.data ? TAKE_PTR(rq->answer.data) : xstrdup("");
    return 0;
}

/* POST BODY to PATH, blocking (redeem workers); the progress callback
 * aborts it when the client stops. Returns as request_result(). */
static int
dp_post(struct gw_deskpoold *dp, const char *path, const char *body, long timeout_sec,
        struct abort_check *abort_check, long *ret_status, char **ret_body, char **reterr_msg)
{
    _cleanup_(request_done) struct request rq = { 0 };
    CURLcode c;
    int r;

    r = request_init(dp, &rq, path, body, timeout_sec, reterr_msg);
    if (r < 0)
        return r;
    c = curl_easy_setopt(rq.curl, CURLOPT_NOPROGRESS, 0L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq.curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
    if (c == CURLE_OK)
        c = curl_easy_setopt(rq.curl, CURLOPT_XFERINFODATA, abort_check);
    if (c != CURLE_OK) {
        *reterr_msg = xasprintf("cannot set up the request: %s.", curl_easy_strerror(c));
        return -EINVAL;
    }
    c = curl_easy_perform(rq.curl);
    return request_result(dp, &rq, c, timeout_sec, ret_status, ret_body, reterr_msg);
}

/* Whether the watch for generation GEN must give up: the client stops or
 * the set changed. */
static bool
watch_stale(struct gw_deskpoold *dp, uint64_t gen)
{
    bool stale;

    pthread_mutex_lock(&dp->lock);
    stale = dp->stop || dp->watch_gen != gen;
    pthread_mutex_unlock(&dp->lock);
    return stale;
}

/* The watch's POST of BODY for set generation GEN, on the multi handle:
 * curl_multi_poll() sleeps until the socket has something or
 * gw_deskpoold_watch() / gw_deskpoold_free() call curl_multi_wakeup(), so
 * a stale poll is dropped at once. Returns as request_result(). */
static int
watch_post(struct gw_deskpoold *dp, const char *body, uint64_t gen, long *ret_status,
           char **ret_body, char **reterr_msg)
{
    _cleanup_(request_done) struct request rq = { 0 };
    long timeout_sec = GW_WATCH_WAIT_SEC + 10;
    CURLcode result = CURLE_OK;
    CURLMcode mc;
    CURLMsg *msg;
    int running = 1, left;
    int r;

    r = request_init(dp, &rq, "/v1/console/watch", body, timeout_sec, reterr_msg);
    if (r < 0)
        return r;
    mc = curl_multi_add_handle(dp->multi, rq.curl);
    if (mc != CURLM_OK) {
        *reterr_msg = xasprintf("cannot start the request: %s.", curl_multi_strerror(mc));
        return -EIO;
    }
    for (;;) {
        mc = curl_multi_perform(dp->multi, &running);
        if (mc != CURLM_OK || running == 0)
            break;
        if (watch_stale(dp, gen)) {
            result = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        /* libcurl shortens the wait to its own timers (timeouts) */
        mc = curl_multi_poll(dp->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            break;
    }
    if (mc == CURLM_OK && result == CURLE_OK) {
        result = CURLE_GOT_NOTHING;
        for (;;) {
            msg = curl_multi_info_read(dp->multi, &left);
            if (!msg)
                break;
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == rq.curl)
                result = msg->data.result;
        }
    }
    (void) curl_multi_remove_handle(dp->multi, rq.curl);
    if (mc != CURLM_OK) {
        *reterr_msg = xasprintf("the watch's transfer failed: %s.", curl_multi_strerror(mc));
        return -EIO;
    }
    return request_result(dp, &rq, result, timeout_sec, ret_status, ret_body, reterr_msg);
}

static void
push_event(struct gw_deskpoold *dp, struct gw_event *e)
{
    pthread_mutex_lock(&dp->lock);
    if (dp->events_tail)
        dp->events_tail->next = e;
    else
        dp->events = e;
    dp->events_tail = e;
    pthread_mutex_unlock(&dp->lock);
    dp->wake(dp->userdata);
}

/* One redemption; always produces an event. */
static void
redeem_one(struct gw_deskpoold *dp, struct redeem_job *job)
{
    _cleanup_json_ json_object *req = NULL;
    _cleanup_free_ char *body = NULL;
    _cleanup_free_ char *answer = NULL;
    _cleanup_free_ char *err = NULL;
    struct abort_check ac = { .dp = dp };
    struct gw_event *e;
    long status = 0;
    int r;

    e = xmalloc0(sizeof(*e));
    e->type = GW_EVENT_REDEEMED;
    e->redeem.stream_id = job->stream_id;
    e->redeem.status = GW_REDEEM_FAILED;

    req = json_object_new_object();
    json_add_string(req, "ticket", job->ticket);
    body = json_to_string_dup(req);
    explicit_bzero(job->ticket, sizeof(job->ticket));
    json_object_put(TAKE_PTR(req));   /* json-c's copy of the ticket goes too */

    r = dp_post(dp, "/v1/console/redeem", body, GW_REDEEM_TIMEOUT_SEC, &ac, &status, &answer,
                &err);
    explicit_bzero(body, strlen(body));
    if (r == -ECANCELED) {
        e->redeem.error = xstrdup("the gateway is stopping.");
    } else if (r < 0) {
        e->redeem.error = TAKE_PTR(err);
    } else if (status == 200) {
        r = gw_redeem_parse(answer, strlen(answer), &e->redeem, &err);
        if (r < 0) {
            gw_redeem_clear(&e->redeem);
            e->redeem.error = xasprintf("deskpoold's redeem answer is not usable: %s",
                                        err ? err : "invalid JSON.");
        } else {
            e->redeem.status = GW_REDEEM_OK;
        }
        explicit_bzero(answer, strlen(answer));
    } else if (status == 403) {
        e->redeem.status = GW_REDEEM_REFUSED;
        e->redeem.error = xstrdup("deskpoold refused the ticket.");
    } else {
        e->redeem.error = xasprintf("deskpoold answered the redeem with HTTP %ld.", status);
    }
    push_event(dp, e);
}

static void *
worker_thread(void *userdata)
{
    struct gw_deskpoold *dp = userdata;

    pthread_mutex_lock(&dp->lock);
    for (;;) {
        struct redeem_job *job;

        while (!dp->stop && !dp->jobs)
            pthread_cond_wait(&dp->cond, &dp->lock);
        if (dp->stop)
            break;
        job = dp->jobs;
        dp->jobs = job->next;
        if (!dp->jobs)
            dp->jobs_tail = NULL;
        pthread_mutex_unlock(&dp->lock);
        redeem_one(dp, job);
        explicit_bzero(job, sizeof(*job));
        free(job);
        pthread_mutex_lock(&dp->lock);
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

/* Waits on the condition until STOP, a new watch generation (when
 * BREAK_ON_GEN), or SEC seconds. Called with the lock held. */
static void
watch_sleep(struct gw_deskpoold *dp, unsigned sec, uint64_t gen, bool break_on_gen)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += sec;
    while (!dp->stop && !(break_on_gen && dp->watch_gen != gen))
        if (pthread_cond_timedwait(&dp->cond, &dp->lock, &until) == ETIMEDOUT)
            break;
}

static void *
watch_thread(void *userdata)
{
    struct gw_deskpoold *dp = userdata;
    unsigned backoff = 0;
    uint64_t last_warn = 0;
    unsigned failures = 0;

    pthread_mutex_lock(&dp->lock);
    while (!dp->stop) {
        _cleanup_json_ json_object *req = NULL;
        _cleanup_free_ char *body = NULL;
        _cleanup_free_ char *answer = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_(strv_freep) char **ended = NULL;
        uint64_t gen;
        json_object *a;
        long status = 0;
        int r;

        if (strv_length(dp->watch_set) == 0) {
            pthread_cond_wait(&dp->cond, &dp->lock);
            continue;
        }
        gen = dp->watch_gen;
        req = json_object_new_object();
        a = json_object_new_array();
        for (char **s = dp->watch_set; *s; s++)
            json_object_array_add(a, json_object_new_string(*s));
        json_object_object_add(req, "sessions", a);
        json_add_int(req, "wait", GW_WATCH_WAIT_SEC);
        body = json_to_string_dup(req);
        pthread_mutex_unlock(&dp->lock);

        r = watch_post(dp, body, gen, &status, &answer, &err);
        if (r >= 0 && status != 200) {
            err = xasprintf("deskpoold answered the watch with HTTP %ld.", status);
            r = -EIO;
        }
        if (r >= 0 && watch_parse(answer, strlen(answer), &ended) < 0) {
            err = xstrdup("deskpoold's watch answer is not {\"ended\":[...]}.");
            r = -EINVAL;
        }

        pthread_mutex_lock(&dp->lock);
        if (r == -ECANCELED)
            continue;   /* stopping, or a new set: ask again at once */
        if (r < 0) {
            uint64_t now = now_usec();

            failures++;
            backoff = MIN(MAX(backoff * 2, 1u), (unsigned) GW_WATCH_BACKOFF_MAX_SEC);
            if (last_warn == 0 || now - last_warn >= GW_WATCH_WARN_EVERY_USEC) {
                log_warning("Session watch failed (%u time(s) in a row), retrying in %u s; "
                            "open streams stay open: %s", failures, backoff, err);
                last_warn = now;
            }
            watch_sleep(dp, backoff, gen, false);
            continue;
        }
        if (failures > 0)
            log_notice("Session watch works again after %u failure(s).", failures);
        failures = 0;
        backoff = 0;
        last_warn = 0;
        if (strv_length(ended) > 0) {
            struct gw_event *e = xmalloc0(sizeof(*e));

            e->type = GW_EVENT_ENDED;
            e->ended = TAKE_PTR(ended);
            pthread_mutex_unlock(&dp->lock);
            push_event(dp, e);
            pthread_mutex_lock(&dp->lock);
            /* give the service thread time to close them and change the set,
             * rather than be told the same at once */
            watch_sleep(dp, 1, gen, true);
        }
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

struct gw_deskpoold *
gw_deskpoold_new(const char *url, const char *token, const char *cacert, gw_wake_fn wake,
                 void *userdata)
{
    struct gw_deskpoold *dp;
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    dp = xmalloc0(sizeof(*dp));
    dp->url = xstrndup(url, n);
    dp->auth_header = xasprintf("Authorization: Bearer %s", token);
    dp->cacert = cacert ? xstrdup(cacert) : NULL;
    dp->wake = wake;
    dp->userdata = userdata;
    pthread_mutex_init(&dp->lock, NULL);
    pthread_cond_init(&dp->cond, NULL);
    dp->multi = curl_multi_init();
    if (!dp->multi)
        return gw_deskpoold_free(dp);
    return dp;
}

int
gw_deskpoold_start(struct gw_deskpoold *dp)
{
    sigset_t all, old;
    int r = 0;

    /* the threads must not take SIGTERM/SIGINT: gw-main.c's loop does */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (size_t i = 0; i < GW_REDEEM_WORKERS && r == 0; i++) {
        r = -pthread_create(&dp->workers[i], NULL, worker_thread, dp);
        if (r == 0)
            dp->n_workers++;
    }
    if (r == 0) {
        r = -pthread_create(&dp->watcher, NULL, watch_thread, dp);
        dp->watcher_started = r == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

struct gw_deskpoold *
gw_deskpoold_free(struct gw_deskpoold *dp)
{
    if (!dp)
        return NULL;
    pthread_mutex_lock(&dp->lock);
    dp->stop = true;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
    if (dp->multi)
        (void) curl_multi_wakeup(dp->multi);
    for (size_t i = 0; i < dp->n_workers; i++)
        pthread_join(dp->workers[i], NULL);
    if (dp->watcher_started)
        pthread_join(dp->watcher, NULL);
    while (dp->jobs) {
        struct redeem_job *j = dp->jobs;

        dp->jobs = j->next;
        explicit_bzero(j, sizeof(*j));
        free(j);
    }
    if (dp->multi)
        (void) curl_multi_cleanup(dp->multi);
    gw_event_free(dp->events);
    strv_free(dp->watch_set);
    pthread_cond_destroy(&dp->cond);
    pthread_mutex_destroy(&dp->lock);
    explicit_bzero(dp->auth_header, strlen(dp->auth_header));
    free(dp->auth_header);
    free(dp->url);
    free(dp->cacert);
    free(dp);
    return NULL;
}

void
gw_deskpoold_redeem(struct gw_deskpoold *dp, uint64_t stream_id, const char *ticket)
{
    struct redeem_job *j = xmalloc0(sizeof(*j));

    j->stream_id = stream_id;
    (void) snprintf(j->ticket, sizeof(j->ticket), "%s", ticket);
    pthread_mutex_lock(&dp->lock);
    if (dp->jobs_tail)
        dp->jobs_tail->next = j;
    else
        dp->jobs = j;
    dp->jobs_tail = j;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

void
gw_deskpoold_watch(struct gw_deskpoold *dp, char *const *sessions)
{
    size_t n = strv_length(sessions);
    char **copy = xmalloc0((n + 1) * sizeof(char *));

    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(sessions[i]);
    pthread_mutex_lock(&dp->lock);
    strv_free(dp->watch_set);
    dp->watch_set = copy;
    dp->watch_gen++;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
    /* a poll in flight returns from curl_multi_poll() and sees the new
     * generation; with none in flight, the next poll returns at once */
    (void) curl_multi_wakeup(dp->multi);
}

struct gw_event *
gw_deskpoold_take_events(struct gw_deskpoold *dp)
{
    struct gw_event *e;

    pthread_mutex_lock(&dp->lock);
    e = dp->events;
    dp->events = dp->events_tail = NULL;
    pthread_mutex_unlock(&dp->lock);
    return e;
}
