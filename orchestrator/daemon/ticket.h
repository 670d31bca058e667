/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ticket.h - console tickets for the browser gateway. See ticket.c. */
#pragma once

#include <stdbool.h>

#include "digest.h"

#define TICKET_BYTES 32                     /* 256 random bits */
#define TICKET_LEN 43                       /* base64url of 32 bytes, no padding */

struct ticket {
    char text[TICKET_LEN + 1];              /* what the browser carries */
    char hash[DIGEST_SHA256_HEX_LEN + 1];   /* what the store keeps */
};

/* A new random ticket and its hash. 0, or a negative errno when the
 * kernel's random source fails. */
int ticket_new(struct ticket *ret);
/* True when TEXT has a ticket's shape (TICKET_LEN base64url characters). */
bool ticket_is_valid(const char *text);
/* HASH of TEXT (which must be valid). */
void ticket_hash(const char *text, char hash[DIGEST_SHA256_HEX_LEN + 1]);
