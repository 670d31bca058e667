/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-conn.h - a REST listener's guard against slow and greedy clients.
 * See api-conn.c. */
#pragma once

#include <microhttpd.h>

#include "macro.h"

/* Where a connection is with its current request. */
enum api_conn_phase {
    API_CONN_READING, /* the request is arriving, or a kept-alive connection waits */
    API_CONN_BUSY,    /* a handler has the whole request */
    API_CONN_WRITING, /* the answer is queued */
};

struct api_guard_limits {
    unsigned max_connections;     /* libmicrohttpd's hard limit for the listener */
    unsigned per_address;         /* not-busy connections from one address; 0: no limit */
    unsigned request_timeout;     /* seconds for reading a request, or for an answer */
};

struct api_guard;

/* Called from the reaper thread twice a second (api.c logs the 5xx answers
 * it held back). */
typedef void (*api_guard_tick_fn)(void *userdata);

/* A guard for the listener NAME ("TCP 0.0.0.0:8080", "unix socket"),
 * with its reaper thread, which also calls TICK (may be NULL). Returns 0
 * or a negative errno (the thread could not be created). */
int api_guard_new(const char *name, const struct api_guard_limits *limits,
                  api_guard_tick_fn tick, void *userdata, struct api_guard **ret);
/* Stops the reaper. Only after libmicrohttpd stopped the listener (its
 * callbacks use the guard). Accepts NULL; returns NULL. */
struct api_guard *api_guard_free(struct api_guard *g);

/* The MHD_OPTION_NOTIFY_CONNECTION callback; CLS is the guard. Cannot fail:
 * a connection that breaks a limit is closed (and the hit logged). */
void api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe);
/* Moves CONN to PHASE, from libmicrohttpd's event thread of CONN (the
 * access handler, the request-completed callback). Reading and writing
 * start a new deadline. Cannot fail. */
void api_guard_set_phase(struct MHD_Connection *conn, enum api_conn_phase phase);
