/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ticket.c - console tickets for the browser gateway
 *
 * DESIGN
 *   A ticket is 256 bits from getrandom(2), written as 43 characters of
 *   base64url (RFC 4648 §5, no padding) so it fits a URL query without
 *   escaping. Only its SHA-256 is stored (store-ticket.c): the ticket
 *   itself exists in the acquire's answer, the broker, the browser and
 *   the gateway's memory, and is never logged. SHA-256 without salt is
 *   enough for a 256-bit random secret: there is nothing to guess from.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "ticket.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
ticket_new(struct ticket *ret)
{
    unsigned char raw[TICKET_BYTES + 1] = { 0 }; /* one spare byte: 33 = 11 groups of 3 */
    size_t got = 0, o = 0;

    while (got < TICKET_BYTES) {
        ssize_t k = getrandom(raw + got, TICKET_BYTES - got, 0);

        if (k < 0 && errno != EINTR)
            return -errno;
        if (k > 0)
            got += (size_t) k;
    }
    for (size_t i = 0; i < TICKET_BYTES + 1; i += 3) {
        unsigned v = (unsigned) raw[i] << 16 | (unsigned) raw[i + 1] << 8 | raw[i + 2];

        for (int k = 3; k >= 0 && o < TICKET_LEN; k--)
            ret->text[o++] = b64url[(v >> (6 * k)) & 63];
    }
    ret->text[TICKET_LEN] = '\0';
    ticket_hash(ret->text, ret->hash);
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

bool
ticket_is_valid(const char *text)
{
    if (!text || strlen(text) != TICKET_LEN)
        return false;
    /* 43 characters carry 258 bits: the last one holds 2 bits of padding,
     * which are zero in every ticket made here (one spelling per ticket) */
    if (strspn(text, b64url) != TICKET_LEN)
        return false;
    return (strchr(b64url, text[TICKET_LEN - 1]) - b64url) % 4 == 0;
}

void
ticket_hash(const char *text, char hash[DIGEST_SHA256_HEX_LEN + 1])
{
    digest_sha256_hex(text, strlen(text), hash);
}
