/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gw-vnc.c - the RFB handshakes the gateway plays, both sides
 *
 * The gateway authenticates to the desktop's VNC server itself, so that
 * the VNC password never leaves it: towards the server it is an RFB
 * client (3.3, 3.7 or 3.8, whichever the server offers up to 3.8) using
 * security type 2 (VNC authentication) when deskpoold gave a password
 * and 1 (None) otherwise; towards the browser it is an RFB 3.8 server
 * offering only None. After both security handshakes the bytes are
 * relayed unchanged (ClientInit, ServerInit and all the rest), so the two
 * sides never need to share a version: everything after the security
 * handshake is the same in 3.3, 3.7 and 3.8 (RFC 6143 7.3).
 *
 * DESIGN: two small state machines fed with whatever bytes arrived (a
 * struct gw_buf) and appending their answers to another; they consume
 * only complete messages. No sockets, no threads, no logging: gw-stream.c
 * does the I/O and logs the outcome. tests/unit/test-gw-vnc.c drives them.
 *
 * Browser-side versions (RFC 6143 7.1.2, 7.1.3): 3.3 gets the security
 * type as a u32 and no SecurityResult; 3.7 gets the list and no
 * SecurityResult for None; 3.8 gets the list and SecurityResult 0.
 * noVNC sends 3.8.
 *
 * VNC authentication mandates single DES (RFC 6143 7.2.2). OpenSSL 3
 * keeps DES-ECB only in the legacy provider, so EVP_CIPHER_fetch("DES-ECB")
 * fails on a default installation (checked on Debian 12, OpenSSL 3.0):
 * the low-level DES_ecb_encrypt() works without any provider, at the
 * price of OPENSSL_SUPPRESS_DEPRECATED below.
 */
#include "config.h"

/* VNC auth mandates single DES, deprecated in OpenSSL 3 and absent from its
 * default provider: the DES_* API is the one that works everywhere. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/des.h>

#include <stdio.h>

#include "gw-vnc.h"

#define RFB_VERSION_LEN 12

enum {
    SERVER_VERSION,
    SERVER_TYPE33,      /* 3.3: the server picks, a u32 */
    SERVER_TYPES,       /* 3.7/3.8: a list to pick from */
    SERVER_CHALLENGE,
    SERVER_RESULT,
    SERVER_REASON_LEN,
    SERVER_REASON,
    SERVER_DONE,
};

enum {
    CLIENT_VERSION,
    CLIENT_CHOICE,
    CLIENT_DONE,
};

enum {
    SEC_INVALID = 0,
    SEC_NONE = 1,
    SEC_VNC_AUTH = 2,
};

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void
put_u32(struct gw_buf *out, uint32_t v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

    gw_buf_append(out, b, sizeof(b));
}

/* "RFB 003.008\n" -> 3, 8. Returns 0 or -EPROTO. */
static int
parse_version(const uint8_t *p, unsigned *ret_major, unsigned *ret_minor)
{
    unsigned major = 0, minor = 0;

    if (memcmp(p, "RFB ", 4) != 0 || p[7] != '.' || p[11] != '\n')
        return -EPROTO;
    for (size_t i = 4; i < 11; i++) {
        if (i == 7)
            continue;
        if (p[i] < '0' || p[i] > '9')
            return -EPROTO;
        if (i < 7)
            major = major * 10 + (p[i] - '0');
        else
            minor = minor * 10 + (p[i] - '0');
    }
    *ret_major = major;
    *ret_minor = minor;
    return 0;
}

static void
set_err(char **reterr_msg, char *msg)
{
    if (reterr_msg)
        *reterr_msg = msg;
    else
        free(msg);
}

static uint8_t
reverse_bits(uint8_t b)
{
    uint8_t r = 0;

    for (int i = 0; i < 8; i++) {
        r = (uint8_t) ((r << 1) | (b & 1));
        b >>= 1;
    }
    return r;
}

int
gw_vnc_des_response(const char *password, const uint8_t challenge[GW_VNC_CHALLENGE_SIZE],
                    uint8_t ret[GW_VNC_CHALLENGE_SIZE])
{
    DES_cblock key = { 0 };
    DES_key_schedule ks;
    size_t n = password ? strlen(password) : 0;

    for (size_t i = 0; i < sizeof(key) && i < n; i++)
        key[i] = reverse_bits((uint8_t) password[i]);
    DES_set_key_unchecked(&key, &ks);
    for (size_t i = 0; i < GW_VNC_CHALLENGE_SIZE; i += 8)
        DES_ecb_encrypt((const_DES_cblock *) (challenge + i), (DES_cblock *) (ret + i), &ks,
                        DES_ENCRYPT);
    explicit_bzero(key, sizeof(key));
    explicit_bzero(&ks, sizeof(ks));
    return 0;
}

void
gw_vnc_server_init(struct gw_vnc_server *s, char **password)
{
    *s = (struct gw_vnc_server) { .state = SERVER_VERSION };
    s->password = TAKE_PTR(*password);
}

void
gw_vnc_server_done(struct gw_vnc_server *s)
{
    if (s->password) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
        s->password = NULL;
    }
}

/* The server chose (3.3) or we chose (3.7/3.8) TYPE: answer for it. */
static int
server_security_chosen(struct gw_vnc_server *s, uint8_t type, char **reterr_msg)
{
    if (type == SEC_VNC_AUTH) {
        if (!s->password) {
            set_err(reterr_msg, xstrdup("the VNC server asks for a password and deskpoold "
                                        "gave none."));
            return -ENOTSUP;
        }
        s->used_password = true;
        s->state = SERVER_CHALLENGE;
        return 0;
    }
    /* None: 3.3 and 3.7 send no SecurityResult for it */
    s->used_password = false;
    s->state = s->minor >= 8 ? SERVER_RESULT : SERVER_DONE;
    return 0;
}

int
gw_vnc_server_feed(struct gw_vnc_server *s, struct gw_buf *in, struct gw_buf *out,
                   char **reterr_msg)
{
    for (;;) {
        const uint8_t *p = gw_buf_head(in);
        unsigned major, minor;
        int r;

        switch (s->state) {
        case SERVER_VERSION:
            if (in->len < RFB_VERSION_LEN)
                return 0;
            r = parse_version(p, &major, &minor);
            if (r < 0 || major < 3) {
                set_err(reterr_msg, xstrdup("the console does not speak RFB (VNC)."));
                return -EPROTO;
            }
            if (major > 3 || minor >= 8)
                s->minor = 8;
            else if (minor == 7)
                s->minor = 7;
            else
                s->minor = 3;
            gw_buf_consume(in, RFB_VERSION_LEN);
            {
                char v[RFB_VERSION_LEN + 1];

                (void) snprintf(v, sizeof(v), "RFB 003.%03u\n", s->minor);
                gw_buf_append(out, v, RFB_VERSION_LEN);
            }
            s->state = s->minor == 3 ? SERVER_TYPE33 : SERVER_TYPES;
            break;

        case SERVER_TYPE33: {
            uint32_t type;

            if (in->len < 4)
                return 0;
            type = get_u32(p);
            gw_buf_consume(in, 4);
            if (type == SEC_INVALID) {
                s->state = SERVER_REASON_LEN;
                break;
            }
            if (type != SEC_NONE && type != SEC_VNC_AUTH) {
                set_err(reterr_msg, xasprintf("the VNC server requires security type %u, "
                                              "which the gateway does not support.", type));
                return -ENOTSUP;
            }
            r = server_security_chosen(s, (uint8_t) type, reterr_msg);
            if (r < 0)
                return r;
            break;
        }

        case SERVER_TYPES: {
            bool has_none = false, has_vnc = false;
            uint8_t n, pick;

            if (in->len < 1)
                return 0;
            n = p[0];
            if (n == 0) {
                gw_buf_consume(in, 1);
                s->state = SERVER_REASON_LEN;
                break;
            }
            if (in->len < 1 + (size_t) n)
                return 0;
            for (unsigned i = 0; i < n; i++) {
                has_none = has_none || p[1 + i] == SEC_NONE;
                has_vnc = has_vnc || p[1 + i] == SEC_VNC_AUTH;
            }
            gw_buf_consume(in, 1 + (size_t) n);
            if (s->password && has_vnc)
                pick = SEC_VNC_AUTH;
            else if (has_none)
                pick = SEC_NONE;
            else if (has_vnc)
                pick = SEC_VNC_AUTH;  /* fails in server_security_chosen: no password */
            else {
                set_err(reterr_msg, xstrdup("the VNC server offers neither VNC "
                                            "authentication nor None."));
                return -ENOTSUP;
            }
            r = server_security_chosen(s, pick, reterr_msg);
            if (r < 0)
                return r;
            gw_buf_append(out, &pick, 1);
            break;
        }

        case SERVER_CHALLENGE: {
            uint8_t answer[GW_VNC_CHALLENGE_SIZE];

            if (in->len < GW_VNC_CHALLENGE_SIZE)
                return 0;
            r = gw_vnc_des_response(s->password, p, answer);
            gw_buf_consume(in, GW_VNC_CHALLENGE_SIZE);
            if (r < 0) {
                set_err(reterr_msg, xstrdup("DES encryption failed in libcrypto."));
                return r;
            }
            gw_buf_append(out, answer, sizeof(answer));
            explicit_bzero(answer, sizeof(answer));
            /* the password is not needed any more */
            gw_vnc_server_done(s);
            s->state = SERVER_RESULT;
            break;
        }

        case SERVER_RESULT: {
            uint32_t result;

            if (in->len < 4)
                return 0;
            result = get_u32(p);
            gw_buf_consume(in, 4);
            if (result == 0) {
                s->state = SERVER_DONE;
                break;
            }
            if (s->minor >= 8) {
                s->auth_failed = true;
                s->state = SERVER_REASON_LEN;
                break;
            }
            set_err(reterr_msg, xstrdup("the VNC server refused the authentication."));
            return -EACCES;
        }

        case SERVER_REASON_LEN:
            if (in->len < 4)
                return 0;
            s->reason_len = get_u32(p);
            gw_buf_consume(in, 4);
            if (s->reason_len > GW_VNC_REASON_MAX) {
                set_err(reterr_msg, xstrdup("the VNC server refused the connection "
                                            "(its reason is too long to show)."));
                return -EACCES;
            }
            s->state = SERVER_REASON;
            break;

        case SERVER_REASON:
            if (in->len < s->reason_len)
                return 0;
            set_err(reterr_msg,
                    xasprintf("the VNC server refused the %s: '%.*s'.",
                              s->auth_failed ? "authentication" : "connection",
                              (int) s->reason_len, (const char *) p));
            gw_buf_consume(in, s->reason_len);
            return -EACCES;

        case SERVER_DONE:
            return 1;

        default:
            set_err(reterr_msg, xstrdup("the VNC handshake is in an unknown state."));
            return -EPROTO;
        }
    }
}

void
gw_vnc_client_start(struct gw_vnc_client *c, struct gw_buf *out)
{
    *c = (struct gw_vnc_client) { .state = CLIENT_VERSION };
    gw_buf_append(out, "RFB 003.008\n", RFB_VERSION_LEN);
}

int
gw_vnc_client_feed(struct gw_vnc_client *c, struct gw_buf *in, struct gw_buf *out,
                   char **reterr_msg)
{
    static const uint8_t offer[2] = { 1, SEC_NONE };

    for (;;) {
        const uint8_t *p = gw_buf_head(in);
        unsigned major, minor;

        switch (c->state) {
        case CLIENT_VERSION:
            if (in->len < RFB_VERSION_LEN)
                return 0;
            if (parse_version(p, &major, &minor) < 0 || major != 3 ||
                (minor != 3 && minor != 7 && minor != 8)) {
                set_err(reterr_msg, xstrdup("the browser's RFB version is not 3.3, 3.7 "
                                            "or 3.8."));
                return -EPROTO;
            }
            gw_buf_consume(in, RFB_VERSION_LEN);
            c->minor = minor;
            if (minor == 3) {
                put_u32(out, SEC_NONE);
                c->state = CLIENT_DONE;
            } else {
                gw_buf_append(out, offer, sizeof(offer));
                c->state = CLIENT_CHOICE;
            }
            break;

        case CLIENT_CHOICE:
            if (in->len < 1)
                return 0;
            if (p[0] != SEC_NONE) {
                set_err(reterr_msg, xasprintf("the browser chose security type %u, which "
                                              "was not offered.", p[0]));
                return -EPROTO;
            }
            gw_buf_consume(in, 1);
            if (c->minor >= 8)
                put_u32(out, 0);
            c->state = CLIENT_DONE;
            break;

        case CLIENT_DONE:
            return 1;

        default:
            set_err(reterr_msg, xstrdup("the browser handshake is in an unknown state."));
            return -EPROTO;
        }
    }
}
