/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-conn.c - a REST listener's guard against slow and greedy clients
 *
 * Owns the table of one listener's open connections and the three rules
 * that keep a few thousand slow or idle clients from blocking a normal
 * request. api.c reports each request's phase; libmicrohttpd reports
 * every connection it accepts and closes.
 *
 * DESIGN
 *   The table (arrival order) holds each connection's socket, peer
 *   address, phase and deadline. The phases:
 *     reading  the request's headers or body are arriving, or a kept-alive
 *              connection waits for its next request;
 *     busy     a handler has the whole request (api-workers.c);
 *     writing  the answer is queued and the client is reading it.
 *   The rules:
 *   1. Per address (TCP only): a new connection from an address that has
 *      max_connections_per_address connections that are not busy is
 *      closed at once. Busy ones do not count, so a broker whose acquires
 *      wait for desktops is not cut off.
 *   2. Total: max_connections is libmicrohttpd's hard limit
 *      (MHD_OPTION_CONNECTION_LIMIT). Before it is reached, when fewer
 *      than a reserve (1/16 of it, 1 to 64) of places are free, each new
 *      connection closes the oldest reading one: a new client always gets
 *      in, a slow one loses its place, a busy one never does.
 *   3. Deadline: reading a request and reading an answer must each be over
 *      within request_timeout of their start (the connection's start or
 *      the end of the previous answer; the answer queued).
 *      libmicrohttpd 0.9.75 has no such option: MHD_OPTION_CONNECTION_TIMEOUT
 *      is an idle timeout that every byte restarts, so one header byte now
 *      and then kept a connection forever. The reaper thread checks the
 *      deadlines twice a second.
 *   Closing is shutdown(2) of the socket: libmicrohttpd's event thread then
 *   reads end-of-file and cleans the connection up itself. It calls
 *   MHD_CONNECTION_NOTIFY_CLOSED before it closes the descriptor, and the
 *   entry leaves the table there under the mutex that every shutdown here
 *   holds, so a descriptor shut down is always still that connection's.
 *   Each rule's hits are logged at warning, at most one line per 10 s per
 *   rule and listener, with the number of hits since the previous line.
 *   One mutex per guard; the callbacks run in libmicrohttpd's event thread,
 *   the reaper in its own. Never reads or writes a socket.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "api-conn.h"
#include "api-priv.h"
#include "log.h"
#include "util.h"

#define GUARD_TICK_MS 500
#define GUARD_LOG_INTERVAL_USEC (10 * 1000000ULL)

struct api_conn {
    struct api_conn *prev, *next;
    struct api_guard *guard;
    int fd;
    unsigned char addr[16]; /* IPv4 or IPv6 address; addr_len 0 for a unix peer */
    size_t addr_len;
    enum api_conn_phase phase;
    uint64_t deadline;      /* monotonic usec; reading and writing only */
    bool closing;           /* shut down by the guard, on its way out */
};

enum guard_rule {
    RULE_ADDRESS,
    RULE_TOTAL,
    RULE_FULL,
    RULE_DEADLINE,
    _RULE_MAX,
};

struct api_guard {
    pthread_mutex_t lock;
    pthread_cond_t stop_cond;
    char *name;
    struct api_guard_limits limits;
    unsigned soft_limit;    /* open (not closing) connections before rule 2 acts */
    struct api_conn *head, *tail;
    unsigned n, n_closing;
    struct api_ratelimit rl[_RULE_MAX];
    char last_addr[_RULE_MAX][INET6_ADDRSTRLEN]; /* the latest hit's peer, for the log */
    api_guard_tick_fn tick;
    void *tick_userdata;
    bool stop;
    pthread_t reaper;
    bool reaper_started;
};

static void
conn_addr_text(const struct api_conn *c, char *buf, size_t size)
{
    if (c->addr_len == 4)
        (void) inet_ntop(AF_INET, c->addr, buf, (socklen_t) size);
    else if (c->addr_len == 16)
        (void) inet_ntop(AF_INET6, c->addr, buf, (socklen_t) size);
    else
        snprintf(buf, size, "local");
}

/* Shuts C's socket down: libmicrohttpd closes it. Lock held. */
static void
conn_close_locked(struct api_guard *g, struct api_conn *c)
{
    if (c->closing)
        return;
    (void) shutdown(c->fd, SHUT_RDWR);
    c->closing = true;
    g->n_closing++;
}

/* Counts a hit of RULE by C's peer; returns the count to log now (0: not
 * yet). Lock held. */
static unsigned
guard_hit_locked(struct api_guard *g, enum guard_rule rule, const struct api_conn *c,
                 uint64_t now)
{
    if (c)
        conn_addr_text(c, g->last_addr[rule], sizeof(g->last_addr[rule]));
    return api_ratelimit_hit(&g->rl[rule], now, GUARD_LOG_INTERVAL_USEC);
}

/* Logs N hits of RULE. Called without the lock (the texts it reads are
 * copies). */
static void
guard_log(struct api_guard *g, enum guard_rule rule, unsigned n, const char *addr)
{
    if (n == 0)
        return;
    switch (rule) {
    case RULE_ADDRESS:
        log_warning("%s: closed %u new connection(s) from addresses that had "
                    "max_connections_per_address (%u) open already, the last from %s",
                    g->name, n, g->limits.per_address, addr);
        break;
    case RULE_TOTAL:
        log_warning("%s: closed %u slow connection(s) to make room for new ones: near "
                    "max_connections (%u), the last from %s", g->name, n,
                    g->limits.max_connections, addr);
        break;
    case RULE_FULL:
        log_warning("%s: %u new connection(s) found max_connections (%u) taken by requests "
                    "being answered; new clients wait", g->name, n, g->limits.max_connections);
        break;
    case RULE_DEADLINE:
        log_warning("%s: closed %u connection(s) that did not send a whole request or read "
                    "an answer within request_timeout (%u s), the last from %s", g->name, n,
                    g->limits.request_timeout, addr);
        break;
    default:
        break;
    }
}

/* Connections from C's address that are not busy (C included). Lock held. */
static unsigned
count_same_address_locked(struct api_guard *g, const struct api_conn *c)
{
    unsigned n = 0;

    for (struct api_conn *o = g->head; o; o = o->next)
        if (!o->closing && o->phase != API_CONN_BUSY && o->addr_len == c->addr_len &&
            memcmp(o->addr, c->addr, c->addr_len) == 0)
            n++;
    return n;
}

static void
guard_conn_started(struct api_guard *g, struct MHD_Connection *conn, void **socket_context)
{
    const union MHD_ConnectionInfo *fdi, *ai;
    struct api_conn *c = xmalloc0(sizeof(*c));
    uint64_t now = now_usec();
    enum guard_rule rule = _RULE_MAX;
    char addr[INET6_ADDRSTRLEN] = "";
    unsigned n = 0;

    c->guard = g;
    fdi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = fdi ? fdi->connect_fd : -1;
    ai = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET) {
        memcpy(c->addr, &((const struct sockaddr_in *) ai->client_addr)->sin_addr, 4);
        c->addr_len = 4;
    } else if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET6) {
        memcpy(c->addr, &((const struct sockaddr_in6 *) ai->client_addr)->sin6_addr, 16);
        c->addr_len = 16;
    }
    c->phase = API_CONN_READING;
    c->deadline = now + (uint64_t) g->limits.request_timeout * 1000000ULL;
    *socket_context = c;

    pthread_mutex_lock(&g->lock);
    c->prev = g->tail;
    if (g->tail)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    g->n++;
    if (c->fd < 0) {
        /* no descriptor to shut down: the guard cannot close it (never seen) */
    } else if (g->limits.per_address > 0 && c->addr_len > 0 &&
               count_same_address_locked(g, c) > g->limits.per_address) {
        conn_close_locked(g, c);
        rule = RULE_ADDRESS;
        n = guard_hit_locked(g, rule, c, now);
    } else if (g->n - g->n_closing > g->soft_limit) {
        struct api_conn *victim = NULL;

        for (struct api_conn *o = g->head; o && !victim; o = o->next)
            if (o != c && !o->closing && o->phase == API_CONN_READING && o->fd >= 0)
                victim = o;
        if (victim) {
            conn_close_locked(g, victim);
            rule = RULE_TOTAL;
            n = guard_hit_locked(g, rule, victim, now);
        } else if (g->n >= g->limits.max_connections) {
            rule = RULE_FULL;
            n = guard_hit_locked(g, rule, NULL, now);
        }
    }
    if (n > 0)
        memcpy(addr, g->last_addr[rule], sizeof(addr));
    pthread_mutex_unlock(&g->lock);
    if (n > 0)
        guard_log(g, rule, n, addr);
}

static void
guard_conn_closed(struct api_guard *g, void **socket_context)
{
    struct api_conn *c = *socket_context;

    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        g->tail = c->prev;
    g->n--;
    if (c->closing)
        g->n_closing--;
    pthread_mutex_unlock(&g->lock);
    free(c);
    *socket_context = NULL;
}

void
api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    struct api_guard *g = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        guard_conn_started(g, conn, socket_context);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        guard_conn_closed(g, socket_context);
}

void
api_guard_set_phase(struct MHD_Connection *conn, enum api_conn_phase phase)
{
    const union MHD_ConnectionInfo *ci;
    struct api_conn *c;
    struct api_guard *g;

    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    c = ci ? ci->socket_context : NULL;
    if (!c)
        return;
    g = c->guard;
    pthread_mutex_lock(&g->lock);
    c->phase = phase;
    if (phase != API_CONN_BUSY)
        c->deadline = now_usec() + (uint64_t) g->limits.request_timeout * 1000000ULL;
    pthread_mutex_unlock(&g->lock);
}

/* Closes every connection past its deadline; logs held-back hits. */
static void
guard_reap(struct api_guard *g)
{
    unsigned n = 0, held[_RULE_MAX] = { 0 };
    char addr[_RULE_MAX][INET6_ADDRSTRLEN];
    uint64_t now = now_usec();

    pthread_mutex_lock(&g->lock);
    for (struct api_conn *c = g->head; c; c = c->next) {
        if (c->closing || c->fd < 0 || c->phase == API_CONN_BUSY || now < c->deadline)
            continue;
        conn_close_locked(g, c);
        n = guard_hit_locked(g, RULE_DEADLINE, c, now);
        if (n > 0)
            held[RULE_DEADLINE] = n;
    }
    for (int rule = 0; rule < _RULE_MAX; rule++) {
        n = api_ratelimit_flush(&g->rl[rule], now, GUARD_LOG_INTERVAL_USEC);
        held[rule] += n;
    }
    memcpy(addr, g->last_addr, sizeof(addr));
    pthread_mutex_unlock(&g->lock);
    for (int rule = 0; rule < _RULE_MAX; rule++)
        guard_log(g, (enum guard_rule) rule, held[rule], addr[rule]);
}

static void *
guard_reaper_main(void *p)
{
    struct api_guard *g = p;

    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += GUARD_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void) pthread_cond_timedwait(&g->stop_cond, &g->lock, &ts);
        if (g->stop)
            break;
        pthread_mutex_unlock(&g->lock);
        guard_reap(g);
        if (g->tick)
            g->tick(g->tick_userdata);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int
api_guard_new(const char *name, const struct api_guard_limits *limits, api_guard_tick_fn tick,
              void *userdata, struct api_guard **ret)
{
    struct api_guard *g;
    pthread_condattr_t attr;
    unsigned reserve;
    int r;

    if (limits->max_connections == 0 || limits->request_timeout == 0)
        return -EINVAL;
    g = xmalloc0(sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    g->name = xstrdup(name);
    g->limits = *limits;
    g->tick = tick;
    g->tick_userdata = userdata;
    reserve = MIN(MAX(limits->max_connections / 16, 1U), 64U);
    g->soft_limit = limits->max_connections > reserve ? limits->max_connections - reserve : 1;
    r = pthread_create(&g->reaper, NULL, guard_reaper_main, g);
    if (r != 0) {
        api_guard_free(g);
        return -r;
    }
    g->reaper_started = true;
    *ret = g;
    return 0;
}

struct api_guard *
api_guard_free(struct api_guard *g)
{
    if (!g)
        return NULL;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->stop_cond);
    pthread_mutex_unlock(&g->lock);
    if (g->reaper_started)
        pthread_join(g->reaper, NULL);
    /* the listener is stopped: every connection left the table */
    while (g->head) {
        struct api_conn *c = g->head;

        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->stop_cond);
    pthread_mutex_destroy(&g->lock);
    free(g->name);
    free(g);
    return NULL;
}
