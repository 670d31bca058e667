/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-deskpoold.h - the gateway's REST client of deskpoold. See gw-deskpoold.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* 32 random bytes in unpadded base64url. */
#define GW_TICKET_LEN 43
/* Redeem: connect and answer, together. */
#define GW_REDEEM_TIMEOUT_SEC 5
/* Watch: what the gateway asks deskpoold to wait at most. */
#define GW_WATCH_WAIT_SEC 25
#define GW_DESKPOOLD_RESPONSE_MAX (64 * 1024)

/* Whether T has a ticket's syntax: exactly GW_TICKET_LEN characters of
 * [A-Za-z0-9_-]. Pure. */
bool gw_ticket_valid(const char *t);

enum gw_redeem_status {
    GW_REDEEM_OK,
    GW_REDEEM_REFUSED,   /* 403 ticket_refused: close 4003 */
    GW_REDEEM_FAILED,    /* anything else: close 1011 */
};

struct gw_redeem {
    uint64_t stream_id;
    enum gw_redeem_status status;
    char *error;         /* FAILED/REFUSED: one sentence, no ticket in it */
    char *session;
    char *pool;
    char *desktop;
    char *user;
    char *host;
    unsigned port;
    char *password;      /* NULL: none (security type None) */
};

/* Frees the strings (the password wiped first); R is zeroed. */
void gw_redeem_clear(struct gw_redeem *r);

/* Parses a 200 answer of POST /v1/console/redeem into R's fields.
 * Returns 0, or -EINVAL with a sentence. Pure; used by the tests. */
int gw_redeem_parse(const char *body, size_t len, struct gw_redeem *r, char **reterr_msg);

enum gw_event_type {
    GW_EVENT_REDEEMED,   /* REDEEM holds the answer for one stream */
    GW_EVENT_ENDED,      /* ENDED holds session ids deskpoold says have ended */
};

struct gw_event {
    enum gw_event_type type;
    struct gw_redeem redeem;
    char **ended;
    struct gw_event *next;
};

/* Frees a whole list. Returns NULL. */
struct gw_event *gw_event_free(struct gw_event *e);

typedef void (*gw_wake_fn)(void *userdata);

struct gw_deskpoold;

/* URL is deskpoold's base URL, TOKEN the bearer token, CACERT a CA file
 * or NULL. WAKE is called from the client's threads whenever events are
 * waiting (gw-main.c: lws_cancel_service()). Returns NULL only on OOM. */
struct gw_deskpoold *gw_deskpoold_new(const char *url, const char *token, const char *cacert,
                                      gw_wake_fn wake, void *userdata);
/* Starts the worker and watch threads. Returns 0 or negative errno. */
int gw_deskpoold_start(struct gw_deskpoold *dp);
/* Stops and joins the threads (aborting requests in flight) and frees
 * everything. Accepts NULL; returns NULL. */
struct gw_deskpoold *gw_deskpoold_free(struct gw_deskpoold *dp);

/* Queues the redemption of TICKET for stream STREAM_ID; the answer comes
 * back as a GW_EVENT_REDEEMED. Never blocks on the network. */
void gw_deskpoold_redeem(struct gw_deskpoold *dp, uint64_t stream_id, const char *ticket);

/* Replaces the set of sessions to watch (copied; NULL or empty: none).
 * A poll in flight for another set is aborted and reissued. */
void gw_deskpoold_watch(struct gw_deskpoold *dp, char *const *sessions);

/* Takes the waiting events, oldest first (NULL: none). */
struct gw_event *gw_deskpoold_take_events(struct gw_deskpoold *dp);
