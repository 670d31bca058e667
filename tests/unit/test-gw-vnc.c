/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-gw-vnc.c - deskpool-gateway's pieces that stand alone: the VNC
 * DES answer, both RFB handshakes, the ticket syntax, the redeem answer
 *
 * DESIGN
 *   The DES vectors were computed independently with noVNC's own
 *   implementation (/usr/share/novnc/core/des.js, RFB.genDES(), run by
 *   node): challenge 00 11 22 .. ff, three passwords (8 characters, a
 *   short one NUL-padded, "password"). The handshakes are driven byte by
 *   byte and in one piece, against a scripted server/browser. No sockets.
 */
#include "config.h"

#include <stdio.h>

#include "gw-buf.h"
#include "gw-deskpoold.h"
#include "gw-vnc.h"
#include "tests.h"

static void
hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        (void) snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void
challenge(uint8_t c[GW_VNC_CHALLENGE_SIZE])
{
    for (unsigned i = 0; i < GW_VNC_CHALLENGE_SIZE; i++)
        c[i] = (uint8_t) (i * 17);
}

TEST(des_vectors)
{
    static const struct {
        const char *password;
        const char *answer;
    } v[] = {
        { "s3cr3t!!", "c14d16f351dd1bc05e3e4dec40647910" },
        { "abc", "e1a8537d7c1afaa13f975e73eaec5b88" },
        { "password", "b7b9c87777661a7a2299733209bfdfce" },
        /* only the first 8 characters count */
        { "password-and-more", "b7b9c87777661a7a2299733209bfdfce" },
    };
    uint8_t c[GW_VNC_CHALLENGE_SIZE], out[GW_VNC_CHALLENGE_SIZE];
    char h[2 * GW_VNC_CHALLENGE_SIZE + 1];

    challenge(c);
    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        ASSERT_OK(gw_vnc_des_response(v[i].password, c, out));
        hex(out, sizeof(out), h);
        ASSERT_STREQ(h, v[i].answer);
    }
}

static void
buf_put(struct gw_buf *b, const void *p, size_t n)
{
    gw_buf_append(b, p, n);
}

/* Feeds SERVER's bytes one at a time; returns the last result. */
static int
feed_bytewise(struct gw_vnc_server *s, const uint8_t *p, size_t n, struct gw_buf *in,
              struct gw_buf *out, char **err)
{
    int r = 0;

    for (size_t i = 0; i < n; i++) {
        buf_put(in, p + i, 1);
        r = gw_vnc_server_feed(s, in, out, err);
        if (r != 0)
            return r;
    }
    return r;
}

TEST(server_38_vnc_auth)
{
    static const uint8_t hello[] = "RFB 003.008\n";
    static const uint8_t types[] = { 2, 1, 2 };
    static const uint8_t ok[] = { 0, 0, 0, 0 };
    uint8_t c[GW_VNC_CHALLENGE_SIZE], expect[GW_VNC_CHALLENGE_SIZE];
    struct gw_vnc_server s;
    struct gw_buf in = { 0 }, out = { 0 };
    char *pw = xstrdup("s3cr3t!!");
    char *err = NULL;

    gw_vnc_server_init(&s, &pw);
    ASSERT_NULL(pw);
    ASSERT_EQ(feed_bytewise(&s, hello, 12, &in, &out, &err), 0);
    ASSERT_EQ(out.len, 12);
    ASSERT_TRUE(memcmp(gw_buf_head(&out), "RFB 003.008\n", 12) == 0);
    gw_buf_consume(&out, out.len);
    ASSERT_EQ(feed_bytewise(&s, types, sizeof(types), &in, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    ASSERT_EQ(gw_buf_head(&out)[0], 2);   /* VNC authentication, with a password */
    gw_buf_consume(&out, 1);
    challenge(c);
    ASSERT_EQ(feed_bytewise(&s, c, sizeof(c), &in, &out, &err), 0);
    ASSERT_EQ(out.len, GW_VNC_CHALLENGE_SIZE);
    ASSERT_OK(gw_vnc_des_response("s3cr3t!!", c, expect));
    ASSERT_TRUE(memcmp(gw_buf_head(&out), expect, sizeof(expect)) == 0);
    ASSERT_NULL(s.password);              /* wiped once used */
    ASSERT_EQ(feed_bytewise(&s, ok, sizeof(ok), &in, &out, &err), 1);
    ASSERT_EQ(in.len, 0);
    ASSERT_TRUE(s.used_password);
    gw_vnc_server_done(&s);
    gw_buf_clear(&in);
    gw_buf_clear(&out);
}

TEST(server_38_refused)
{
    /* all at once: version, types, challenge, failure + reason */
    static const uint8_t msg[] = "RFB 003.008\n\x01\x02"
        "0123456789abcdef" "\x00\x00\x00\x01" "\x00\x00\x00\x06" "denied";
    struct gw_vnc_server s;
    struct gw_buf in = { 0 }, out = { 0 };
    char *pw = xstrdup("wrong");
    char *err = NULL;

    gw_vnc_server_init(&s, &pw);
    buf_put(&in, msg, sizeof(msg) - 1);
    ASSERT_ERROR(gw_vnc_server_feed(&s, &in, &out, &err), EACCES);
    ASSERT_NOT_NULL(err);
    ASSERT_TRUE(strstr(err, "denied") != NULL);
    free(err);
    gw_vnc_server_done(&s);
    gw_buf_clear(&in);
    gw_buf_clear(&out);
}

TEST(server_none_and_old_versions)
{
    struct gw_vnc_server s;
    struct gw_buf in = { 0 }, out = { 0 };
    char *pw = NULL;
    char *err = NULL;

    /* 3.8, None offered, no password: pick None, then SecurityResult */
    gw_vnc_server_init(&s, &pw);
    buf_put(&in, "RFB 003.008\n\x01\x01\x00\x00\x00\x00", 18);
    ASSERT_EQ(gw_vnc_server_feed(&s, &in, &out, &err), 1);
    ASSERT_EQ(out.len, 13);
    ASSERT_EQ(gw_buf_head(&out)[12], 1);
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* 3.3: the server sends the type (None), no SecurityResult */
    gw_vnc_server_init(&s, &pw);
    buf_put(&in, "RFB 003.003\n\x00\x00\x00\x01", 16);
    ASSERT_EQ(gw_vnc_server_feed(&s, &in, &out, &err), 1);
    ASSERT_EQ(s.minor, 3);
    ASSERT_TRUE(memcmp(gw_buf_head(&out), "RFB 003.003\n", 12) == 0);
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* 3.7 with None: no SecurityResult */
    gw_vnc_server_init(&s, &pw);
    buf_put(&in, "RFB 003.007\n\x01\x01", 14);
    ASSERT_EQ(gw_vnc_server_feed(&s, &in, &out, &err), 1);
    ASSERT_EQ(s.minor, 7);
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* only VNC authentication offered and no password: refused */
    gw_vnc_server_init(&s, &pw);
    buf_put(&in, "RFB 003.008\n\x01\x02", 14);
    ASSERT_ERROR(gw_vnc_server_feed(&s, &in, &out, &err), ENOTSUP);
    free(err);
    err = NULL;
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* not RFB at all */
    gw_vnc_server_init(&s, &pw);
    buf_put(&in, "SSH-2.0-Open", 12);
    ASSERT_ERROR(gw_vnc_server_feed(&s, &in, &out, &err), EPROTO);
    free(err);
    gw_buf_clear(&in);
    gw_buf_clear(&out);
}

TEST(client_handshakes)
{
    struct gw_vnc_client c;
    struct gw_buf in = { 0 }, out = { 0 };
    char *err = NULL;

    /* 3.8 (noVNC): version, [1, None], choice, SecurityResult 0 */
    gw_vnc_client_start(&c, &out);
    ASSERT_TRUE(memcmp(gw_buf_head(&out), "RFB 003.008\n", 12) == 0);
    gw_buf_consume(&out, 12);
    buf_put(&in, "RFB 003.008\n", 12);
    ASSERT_EQ(gw_vnc_client_feed(&c, &in, &out, &err), 0);
    ASSERT_EQ(out.len, 2);
    ASSERT_EQ(gw_buf_head(&out)[0], 1);
    ASSERT_EQ(gw_buf_head(&out)[1], 1);
    gw_buf_consume(&out, 2);
    /* the choice and a ClientInit (shared) in one piece */
    buf_put(&in, "\x01\x01", 2);
    ASSERT_EQ(gw_vnc_client_feed(&c, &in, &out, &err), 1);
    ASSERT_EQ(out.len, 4);
    ASSERT_TRUE(memcmp(gw_buf_head(&out), "\0\0\0\0", 4) == 0);
    ASSERT_EQ(in.len, 1);   /* the ClientInit is left for the relay */
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* 3.3: the type as a u32, nothing to choose */
    gw_vnc_client_start(&c, &out);
    gw_buf_consume(&out, 12);
    buf_put(&in, "RFB 003.003\n", 12);
    ASSERT_EQ(gw_vnc_client_feed(&c, &in, &out, &err), 1);
    ASSERT_EQ(out.len, 4);
    ASSERT_TRUE(memcmp(gw_buf_head(&out), "\0\0\0\x01", 4) == 0);
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* 3.7: list, choice, no SecurityResult */
    gw_vnc_client_start(&c, &out);
    gw_buf_consume(&out, 12);
    buf_put(&in, "RFB 003.007\n\x01", 13);
    ASSERT_EQ(gw_vnc_client_feed(&c, &in, &out, &err), 1);
    ASSERT_EQ(out.len, 2);
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* a browser asking for VNC authentication (type 2) is refused */
    gw_vnc_client_start(&c, &out);
    buf_put(&in, "RFB 003.008\n\x02", 13);
    ASSERT_ERROR(gw_vnc_client_feed(&c, &in, &out, &err), EPROTO);
    free(err);
    err = NULL;
    gw_buf_clear(&in);
    gw_buf_clear(&out);

    /* an unknown version */
    gw_vnc_client_start(&c, &out);
    buf_put(&in, "RFB 004.001\n", 12);
    ASSERT_ERROR(gw_vnc_client_feed(&c, &in, &out, &err), EPROTO);
    free(err);
    gw_buf_clear(&in);
    gw_buf_clear(&out);
}

TEST(ticket_syntax)
{
    ASSERT_TRUE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_Z"));
    ASSERT_FALSE(gw_ticket_valid(NULL));
    ASSERT_FALSE(gw_ticket_valid(""));
    /* 42 and 44 characters */
    ASSERT_FALSE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_"));
    ASSERT_FALSE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_ZZ"));
    /* base64 but not base64url, padding, spaces, escapes */
    ASSERT_FALSE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123+/Z"));
    ASSERT_FALSE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ012345="));
    ASSERT_FALSE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ01234 Z"));
    ASSERT_FALSE(gw_ticket_valid("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ012%20Z"));
}

TEST(redeem_parse)
{
    static const char ok[] =
        "{\"session\":\"7d4c2a1e-0000-4000-8000-000000000001\",\"pool\":\"ward\","
        "\"desktop\":\"ward-003\",\"user\":\"dr.house\",\"connection\":{\"protocol\":\"vnc\","
        "\"host\":\"10.0.0.5\",\"port\":5901,\"password\":\"8chars!!\","
        "\"password_expires\":\"2026-11-27T21:30:00Z\"}}";
    static const char nopw[] =
        "{\"session\":\"s\",\"pool\":\"p\",\"desktop\":\"d\",\"user\":\"u\",\"connection\":"
        "{\"protocol\":\"vnc\",\"host\":\"10.0.0.5\",\"port\":5901,\"password\":null}}";
    static const char spice[] =
        "{\"session\":\"s\",\"pool\":\"p\",\"desktop\":\"d\",\"user\":\"u\",\"connection\":"
        "{\"protocol\":\"spice\",\"host\":\"10.0.0.5\",\"port\":5901,\"password\":null}}";
    static const char badport[] =
        "{\"session\":\"s\",\"pool\":\"p\",\"desktop\":\"d\",\"user\":\"u\",\"connection\":"
        "{\"protocol\":\"vnc\",\"host\":\"10.0.0.5\",\"port\":70000,\"password\":null}}";
    struct gw_redeem r = { 0 };
    char *err = NULL;

    ASSERT_OK(gw_redeem_parse(ok, strlen(ok), &r, &err));
    ASSERT_STREQ(r.session, "7d4c2a1e-0000-4000-8000-000000000001");
    ASSERT_STREQ(r.desktop, "ward-003");
    ASSERT_STREQ(r.host, "10.0.0.5");
    ASSERT_EQ(r.port, 5901);
    ASSERT_STREQ(r.password, "8chars!!");
    gw_redeem_clear(&r);
    ASSERT_NULL(r.password);

    ASSERT_OK(gw_redeem_parse(nopw, strlen(nopw), &r, &err));
    ASSERT_NULL(r.password);
    gw_redeem_clear(&r);

    ASSERT_ERROR(gw_redeem_parse(spice, strlen(spice), &r, &err), EINVAL);
    free(err);
    err = NULL;
    gw_redeem_clear(&r);
    ASSERT_ERROR(gw_redeem_parse(badport, strlen(badport), &r, &err), EINVAL);
    free(err);
    err = NULL;
    gw_redeem_clear(&r);
    ASSERT_ERROR(gw_redeem_parse("[]", 2, &r, &err), EINVAL);
    free(err);
    gw_redeem_clear(&r);
}

int
main(void)
{
    RUN(des_vectors);
    RUN(server_38_vnc_auth);
    RUN(server_38_refused);
    RUN(server_none_and_old_versions);
    RUN(client_handshakes);
    RUN(ticket_syntax);
    RUN(redeem_parse);
    return TESTS_DONE();
}
