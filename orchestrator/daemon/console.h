/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* console.h - one-time console passwords of desktops. See console.c. */
#pragma once

#include <stdint.h>

#include "hv.h"

/* What a client needs to reach a desktop's console. */
struct console_grant {
    char *protocol;        /* "vnc" or "spice" */
    char *host;
    int port;
    char *password;        /* NULL when passwords are off (console_password = none) */
    int64_t expires;       /* unix seconds; 0 without a password */
};
void console_grant_done(struct console_grant *g);

/* Sets a new random password on DOMAIN's console, valid for TTL seconds,
 * and reads where the console listens. With REQUIRE_PASSWORD false a
 * driver that cannot change devices (-EOPNOTSUPP) is tolerated and the
 * grant carries no password. HOST is what clients are told to connect to.
 * Returns 0, or a negative errno + sentence. Does not log. */
int console_grant(struct hv *h, const char *domain, const char *host, unsigned ttl,
                  bool require_password, struct console_grant *ret, char **reterr_msg);

/* Replaces DOMAIN's console password with a random one that expired
 * already: no client can connect any more. 0 also when the domain does not
 * run or the driver cannot change devices and passwords are off. */
int console_revoke(struct hv *h, const char *domain, bool require_password, char **reterr_msg);

/* Reads DOMAIN's console into the cache, so that the acquire that hands
 * it out need not (called just before a desktop becomes ready). Best
 * effort: a failure leaves the grant to read it. */
void console_warm(struct hv *h, const char *domain);

/* Drops every cached <graphics> element (console.c, DESIGN): at exit. */
void console_cache_free(void);
