/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-gw-rfb-filter.c - the gateway's browser -> desktop RFB filter
 *
 * DESIGN
 *   The messages are built byte by byte as noVNC 1.3 builds them
 *   (/usr/share/novnc/core/rfb.js, RFB.messages), plus the QEMU audio
 *   ones noVNC does not send. One stream holds ClientInit and every
 *   allowed message, clipboard ones in between; it is fed whole, split in
 *   two and in three at every byte boundary, and byte by byte, and must
 *   always give the same output: the stream without the ClientCutText
 *   messages and with SetEncodings reduced. Refusals are checked at the
 *   earliest byte that proves them. No sockets.
 */
#include "config.h"

#include <stdio.h>

#include "gw-buf.h"
#include "gw-rfb-filter.h"
#include "tests.h"

/* A byte string under construction; aborts on overflow (test bug). */
struct msg {
    uint8_t b[8192];
    size_t n;
};

static void
put8(struct msg *m, unsigned v)
{
    if (m->n >= sizeof(m->b))
        abort();
    m->b[m->n++] = (uint8_t) v;
}

static void
put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v);
}

static void
put32(struct msg *m, uint32_t v)
{
    put16(m, v >> 16);
    put16(m, v & 0xffff);
}

static void
cat(struct msg *m, const struct msg *o)
{
    for (size_t i = 0; i < o->n; i++)
        put8(m, o->b[i]);
}

/* noVNC's RFB.messages.pixelFormat(sock, 24, true) */
static void
m_pixel_format(struct msg *m)
{
    put8(m, 0);
    put8(m, 0), put8(m, 0), put8(m, 0);
    put8(m, 32), put8(m, 24), put8(m, 0), put8(m, 1);
    put16(m, 255), put16(m, 255), put16(m, 255);
    put8(m, 0), put8(m, 8), put8(m, 16);
    put8(m, 0), put8(m, 0), put8(m, 0);
}

static void
m_set_encodings(struct msg *m, const int32_t *e, size_t n)
{
    put8(m, 2);
    put8(m, 0);
    put16(m, (unsigned) n);
    for (size_t i = 0; i < n; i++)
        put32(m, (uint32_t) e[i]);
}

/* what noVNC 1.3's _sendEncodings() sends at depth 24, quality 6,
 * compression 2 */
static const int32_t novnc_encodings[] = {
    1, 7, -260, 5, 2, 0,
    -32 + 6, -256 + 2, -223, -224, -258, -308, -309, -312, -313, -307,
    GW_RFB_PSEUDO_EXTENDED_CLIPBOARD,
    0x574d5664, -239,
};

static void
m_fb_update_request(struct msg *m, bool incremental)
{
    put8(m, 3);
    put8(m, incremental);
    put16(m, 0), put16(m, 0), put16(m, 720), put16(m, 400);
}

static void
m_key_event(struct msg *m, uint32_t keysym, bool down)
{
    put8(m, 4);
    put8(m, down);
    put16(m, 0);
    put32(m, keysym);
}

static void
m_pointer_event(struct msg *m, unsigned x, unsigned y, unsigned mask)
{
    put8(m, 5);
    put8(m, mask);
    put16(m, x);
    put16(m, y);
}

static void
m_cut_text(struct msg *m, const char *text)
{
    put8(m, 6);
    put8(m, 0), put8(m, 0), put8(m, 0);
    put32(m, (uint32_t) strlen(text));
    for (const char *c = text; *c; c++)
        put8(m, (uint8_t) *c);
}

/* noVNC's extendedClipboardNotify(): flags only, length -4 */
static void
m_cut_text_extended(struct msg *m, size_t extra)
{
    put8(m, 6);
    put8(m, 0), put8(m, 0), put8(m, 0);
    put32(m, (uint32_t) -(int32_t) (4 + extra));
    put32(m, 0x08000001);   /* notify, text */
    for (size_t i = 0; i < extra; i++)
        put8(m, 0x78);
}

static void
m_continuous_updates(struct msg *m)
{
    put8(m, 150);
    put8(m, 1);
    put16(m, 0), put16(m, 0), put16(m, 720), put16(m, 400);
}

static void
m_fence(struct msg *m, unsigned payload)
{
    put8(m, 248);
    put8(m, 0), put8(m, 0), put8(m, 0);
    put32(m, 0x80000003);
    put8(m, payload);
    for (unsigned i = 0; i < payload; i++)
        put8(m, 'a' + i % 26);
}

static void
m_xvp(struct msg *m)
{
    put8(m, 250);
    put8(m, 0);
    put8(m, 1);
    put8(m, 2);   /* XVP_SHUTDOWN */
}

static void
m_set_desktop_size(struct msg *m, unsigned screens)
{
    put8(m, 251);
    put8(m, 0);
    put16(m, 1024), put16(m, 768);
    put8(m, screens);
    put8(m, 0);
    for (unsigned i = 0; i < screens; i++) {
        put32(m, i);
        put16(m, 0), put16(m, 0), put16(m, 1024), put16(m, 768);
        put32(m, 0);
    }
}

static void
m_qemu_key(struct msg *m, bool down)
{
    put8(m, 255);
    put8(m, 0);
    put16(m, down);
    put32(m, 0x61);
    put32(m, 0x1e);
}

static void
m_qemu_audio(struct msg *m, unsigned op)
{
    put8(m, 255);
    put8(m, 1);
    put16(m, op);
    if (op == 2) {
        put8(m, 3);       /* S16 */
        put8(m, 2);       /* stereo */
        put32(m, 44100);
    }
}

/* The stream every splitting test feeds, and what must come out. */
static void
full_stream(struct msg *in, struct msg *want)
{
    struct msg t;
    int32_t reduced[ELEMENTSOF(novnc_encodings)];
    size_t nr = 0;

    *in = (struct msg) { 0 };
    *want = (struct msg) { 0 };
    for (size_t i = 0; i < ELEMENTSOF(novnc_encodings); i++)
        if (novnc_encodings[i] != GW_RFB_PSEUDO_EXTENDED_CLIPBOARD)
            reduced[nr++] = novnc_encodings[i];

#define BOTH(call) do { t = (struct msg) { 0 }; call; cat(in, &t); cat(want, &t); } while (0)
#define IN_ONLY(call) do { t = (struct msg) { 0 }; call; cat(in, &t); } while (0)
    BOTH(put8(&t, 1));   /* ClientInit, shared */
    BOTH(m_pixel_format(&t));
    IN_ONLY(m_set_encodings(&t, novnc_encodings, ELEMENTSOF(novnc_encodings)));
    t = (struct msg) { 0 };
    m_set_encodings(&t, reduced, nr);
    cat(want, &t);
    BOTH(m_fb_update_request(&t, false));
    BOTH(m_key_event(&t, 0xffe3, true));
    IN_ONLY(m_cut_text(&t, "patient 4711: secret"));
    BOTH(m_key_event(&t, 0xffe3, false));
    BOTH(m_pointer_event(&t, 300, 200, 1));
    IN_ONLY(m_cut_text_extended(&t, 0));
    IN_ONLY(m_cut_text(&t, ""));
    BOTH(m_continuous_updates(&t));
    IN_ONLY(m_cut_text_extended(&t, 13));
    BOTH(m_fence(&t, 0));
    BOTH(m_fence(&t, 5));
    BOTH(m_xvp(&t));
    BOTH(m_set_desktop_size(&t, 1));
    BOTH(m_set_desktop_size(&t, 0));
    BOTH(m_qemu_key(&t, true));
    BOTH(m_qemu_audio(&t, 2));
    BOTH(m_qemu_audio(&t, 0));
    BOTH(m_qemu_audio(&t, 1));
    BOTH(m_fb_update_request(&t, true));
#undef BOTH
#undef IN_ONLY
}

#define FULL_STREAM_CUTS 4

static bool
same(const struct gw_buf *b, const struct msg *m)
{
    return b->len == m->n && memcmp(gw_buf_head(b), m->b, m->n) == 0;
}

TEST(each_message_exact_size)
{
    static const struct {
        void (*build)(struct msg *m);
        size_t size;
    } v[] = {
        { m_pixel_format, 20 },
        { m_continuous_updates, 10 },
        { m_xvp, 4 },
    };
    struct msg m;

    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        m = (struct msg) { 0 };
        v[i].build(&m);
        ASSERT_EQ(m.n, v[i].size);
    }
#define SIZE(call, size) do { m = (struct msg) { 0 }; call; ASSERT_EQ(m.n, size); } while (0)
    SIZE(m_fb_update_request(&m, true), 10);
    SIZE(m_key_event(&m, 0x61, true), 8);
    SIZE(m_pointer_event(&m, 1, 2, 0), 6);
    SIZE(m_set_encodings(&m, novnc_encodings, 3), 4 + 12);
    SIZE(m_fence(&m, 64), 9 + 64);
    SIZE(m_set_desktop_size(&m, 2), 8 + 32);
    SIZE(m_qemu_key(&m, false), 12);
    SIZE(m_qemu_audio(&m, 0), 4);
    SIZE(m_qemu_audio(&m, 2), 10);
#undef SIZE
}

/* Each allowed message alone after ClientInit comes out unchanged, and
 * one byte short of it nothing comes out. */
TEST(each_message_passes)
{
    struct msg v[16];
    size_t nv = 0;

    memset(v, 0, sizeof(v));
    m_pixel_format(&v[nv++]);
    m_set_encodings(&v[nv++], novnc_encodings, 5);
    m_fb_update_request(&v[nv++], false);
    m_key_event(&v[nv++], 0x61, true);
    m_pointer_event(&v[nv++], 10, 20, 4);
    m_continuous_updates(&v[nv++]);
    m_fence(&v[nv++], 0);
    m_fence(&v[nv++], GW_RFB_FENCE_PAYLOAD_MAX);
    m_xvp(&v[nv++]);
    m_set_desktop_size(&v[nv++], 1);
    m_set_desktop_size(&v[nv++], 255);
    m_qemu_key(&v[nv++], true);
    m_qemu_audio(&v[nv++], 0);
    m_qemu_audio(&v[nv++], 1);
    m_qemu_audio(&v[nv++], 2);
    for (size_t i = 0; i < nv; i++) {
        struct gw_rfb_filter f;
        struct gw_buf out = { 0 };
        uint8_t init = 0;

        gw_rfb_filter_init(&f);
        ASSERT_OK(gw_rfb_filter_feed(&f, &init, 1, &out, NULL));
        ASSERT_EQ(out.len, 1);
        gw_buf_consume(&out, 1);
        ASSERT_OK(gw_rfb_filter_feed(&f, v[i].b, v[i].n - 1, &out, NULL));
        ASSERT_EQ(out.len, 0);
        ASSERT_OK(gw_rfb_filter_feed(&f, v[i].b + v[i].n - 1, 1, &out, NULL));
        if (!same(&out, &v[i]))
            printf("message %zu (type %u, %zu bytes) changed\n", i, v[i].b[0], v[i].n);
        ASSERT_TRUE(same(&out, &v[i]));
        ASSERT_EQ(f.msg.len, 0);
        gw_buf_clear(&out);
        gw_rfb_filter_done(&f);
    }
}

TEST(full_stream_whole)
{
    struct msg in, want;
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };

    full_stream(&in, &want);
    gw_rfb_filter_init(&f);
    ASSERT_OK(gw_rfb_filter_feed(&f, in.b, in.n, &out, NULL));
    ASSERT_TRUE(same(&out, &want));
    ASSERT_EQ(f.cut_dropped, FULL_STREAM_CUTS);
    ASSERT_EQ(f.encodings_removed, 1);
    ASSERT_EQ(f.msg.len, 0);
    ASSERT_EQ(f.skip, 0);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

TEST(full_stream_byte_by_byte)
{
    struct msg in, want;
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };

    full_stream(&in, &want);
    gw_rfb_filter_init(&f);
    for (size_t i = 0; i < in.n; i++) {
        ASSERT_OK(gw_rfb_filter_feed(&f, in.b + i, 1, &out, NULL));
        ASSERT_TRUE(f.msg.len < GW_RFB_MSG_MAX);
    }
    ASSERT_TRUE(same(&out, &want));
    ASSERT_EQ(f.cut_dropped, FULL_STREAM_CUTS);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

TEST(full_stream_split_everywhere)
{
    struct msg in, want;

    full_stream(&in, &want);
    /* two pieces at every boundary, and three at every pair of them */
    for (size_t i = 0; i <= in.n; i++) {
        for (size_t j = i; j <= in.n; j++) {
            struct gw_rfb_filter f;
            struct gw_buf out = { 0 };

            gw_rfb_filter_init(&f);
            ASSERT_OK(gw_rfb_filter_feed(&f, in.b, i, &out, NULL));
            ASSERT_OK(gw_rfb_filter_feed(&f, in.b + i, j - i, &out, NULL));
            ASSERT_OK(gw_rfb_filter_feed(&f, in.b + j, in.n - j, &out, NULL));
            if (!same(&out, &want))
                printf("split at %zu and %zu differs\n", i, j);
            ASSERT_TRUE(same(&out, &want));
            ASSERT_EQ(f.cut_dropped, FULL_STREAM_CUTS);
            gw_buf_clear(&out);
            gw_rfb_filter_done(&f);
        }
    }
}

/* Run by main() so that the stream's size shows in the test output. */
TEST(full_stream_size)
{
    struct msg in, want;

    full_stream(&in, &want);
    printf("# stream %zu bytes in, %zu bytes out\n", in.n, want.n);
    ASSERT_TRUE(in.n > want.n);
}

static int
feed_all(const struct msg *m, struct gw_buf *out, struct gw_rfb_filter *f, char **err)
{
    uint8_t init = 1;
    int r;

    gw_rfb_filter_init(f);
    r = gw_rfb_filter_feed(f, &init, 1, out, err);
    if (r < 0)
        return r;
    gw_buf_consume(out, out->len);
    return gw_rfb_filter_feed(f, m->b, m->n, out, err);
}

TEST(cut_text_dropped)
{
    struct msg m = { 0 }, k = { 0 };
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };

    m_key_event(&k, 0x61, true);
    m_cut_text(&m, "x");
    m_cut_text(&m, "second text, longer");
    m_cut_text_extended(&m, 100);
    cat(&m, &k);
    ASSERT_OK(feed_all(&m, &out, &f, NULL));
    ASSERT_TRUE(same(&out, &k));
    ASSERT_EQ(f.cut_dropped, 3);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

/* The text of a dropped ClientCutText is skipped, never held: at the cap,
 * fed in 64 KiB pieces, the filter holds nothing. */
TEST(cut_text_at_cap_not_buffered)
{
    static uint8_t chunk[64 * 1024];
    struct msg h = { 0 }, k = { 0 };
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };

    put8(&h, 6);
    put8(&h, 0), put8(&h, 0), put8(&h, 0);
    put32(&h, GW_RFB_CUT_TEXT_MAX);
    ASSERT_OK(feed_all(&h, &out, &f, NULL));
    for (size_t sent = 0; sent < GW_RFB_CUT_TEXT_MAX; sent += sizeof(chunk)) {
        ASSERT_OK(gw_rfb_filter_feed(&f, chunk, sizeof(chunk), &out, NULL));
        ASSERT_EQ(f.msg.len, 0);
        ASSERT_EQ(out.len, 0);
    }
    m_key_event(&k, 0x62, false);
    ASSERT_OK(gw_rfb_filter_feed(&f, k.b, k.n, &out, NULL));
    ASSERT_TRUE(same(&out, &k));
    ASSERT_EQ(f.cut_dropped, 1);
    ASSERT_TRUE(f.msg.alloc <= GW_RFB_MSG_MAX);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

TEST(extended_clipboard_stripped)
{
    static const int32_t only[] = { GW_RFB_PSEUDO_EXTENDED_CLIPBOARD };
    static const int32_t mixed[] = {
        GW_RFB_PSEUDO_EXTENDED_CLIPBOARD, 0, (int32_t) 0xffff8002,
        GW_RFB_PSEUDO_EXTENDED_CLIPBOARD, -223,
    };
    static const int32_t mixed_kept[] = { 0, -223 };
    struct msg m = { 0 }, want = { 0 };
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };

    /* noVNC 1.3's own list */
    m_set_encodings(&m, novnc_encodings, ELEMENTSOF(novnc_encodings));
    ASSERT_OK(feed_all(&m, &out, &f, NULL));
    ASSERT_EQ(out.len, 4 + 4 * (ELEMENTSOF(novnc_encodings) - 1));
    ASSERT_EQ(gw_buf_head(&out)[2] << 8 | gw_buf_head(&out)[3],
              ELEMENTSOF(novnc_encodings) - 1);
    for (size_t i = 4; i < out.len; i += 4) {
        const uint8_t *e = gw_buf_head(&out) + i;

        ASSERT_TRUE(!(e[0] == 0xc0 && e[1] == 0xa1 && e[2] == 0xe5 && e[3] == 0xce));
    }
    ASSERT_EQ(f.encodings_removed, 1);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);

    /* nothing left: a SetEncodings of 0 */
    m = (struct msg) { 0 };
    m_set_encodings(&m, only, ELEMENTSOF(only));
    want = (struct msg) { 0 };
    m_set_encodings(&want, NULL, 0);
    ASSERT_OK(feed_all(&m, &out, &f, NULL));
    ASSERT_TRUE(same(&out, &want));
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);

    /* twice, and file transfer too, order kept */
    m = (struct msg) { 0 };
    m_set_encodings(&m, mixed, ELEMENTSOF(mixed));
    want = (struct msg) { 0 };
    m_set_encodings(&want, mixed_kept, ELEMENTSOF(mixed_kept));
    ASSERT_OK(feed_all(&m, &out, &f, NULL));
    ASSERT_TRUE(same(&out, &want));
    ASSERT_EQ(f.encodings_removed, 3);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

TEST(set_encodings_at_cap)
{
    static int32_t e[GW_RFB_ENCODINGS_MAX];
    struct msg m = { 0 };
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };

    for (size_t i = 0; i < ELEMENTSOF(e); i++)
        e[i] = (int32_t) i;
    m_set_encodings(&m, e, ELEMENTSOF(e));
    ASSERT_EQ(m.n, GW_RFB_MSG_MAX);
    ASSERT_OK(feed_all(&m, &out, &f, NULL));
    ASSERT_TRUE(same(&out, &m));
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

/* A refused message: -ERR once its first LEN bytes are in, nothing of it
 * out, and the filter refuses everything afterwards. */
static int
refused(const struct msg *m, size_t len, int err)
{
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };
    char *msg = NULL;
    uint8_t init = 1, key[8] = { 4, 1, 0, 0, 0, 0, 0, 0x61 };
    int ok = 1;

    gw_rfb_filter_init(&f);
    if (gw_rfb_filter_feed(&f, &init, 1, &out, NULL) < 0 ||
        gw_rfb_filter_feed(&f, key, sizeof(key), &out, NULL) < 0 || out.len != 9)
        ok = 0;
    gw_buf_consume(&out, out.len);
    if (ok && len > 1 && gw_rfb_filter_feed(&f, m->b, len - 1, &out, NULL) != 0)
        ok = 0;
    if (ok && gw_rfb_filter_feed(&f, m->b + len - 1, 1, &out, &msg) != -err)
        ok = 0;
    if (ok && (!msg || msg[strlen(msg) - 1] != '.'))
        ok = 0;
    if (msg)
        printf("# refused: %s\n", msg);
    free(msg);
    msg = NULL;
    if (ok && out.len != 0)
        ok = 0;
    if (ok && gw_rfb_filter_feed(&f, key, sizeof(key), &out, &msg) != -EPROTO)
        ok = 0;
    free(msg);
    if (ok && out.len != 0)
        ok = 0;
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
    return ok;
}

TEST(unknown_rejected)
{
    static const uint8_t types[] = { 1, 7, 8, 9, 10, 11, 127, 149, 151, 249, 252, 253, 254 };
    struct msg m;

    for (size_t i = 0; i < ELEMENTSOF(types); i++) {
        m = (struct msg) { 0 };
        put8(&m, types[i]);
        put8(&m, 0);
        ASSERT_TRUE(refused(&m, 1, EPROTO));
    }
    /* QEMU: unknown sub-type, unknown audio operation */
    m = (struct msg) { 0 };
    put8(&m, 255), put8(&m, 2), put16(&m, 0);
    ASSERT_TRUE(refused(&m, 2, EPROTO));
    m = (struct msg) { 0 };
    put8(&m, 255), put8(&m, 1), put16(&m, 3);
    ASSERT_TRUE(refused(&m, 4, EPROTO));
    /* extended ClientCutText shorter than its flags */
    m = (struct msg) { 0 };
    put8(&m, 6), put8(&m, 0), put8(&m, 0), put8(&m, 0), put32(&m, (uint32_t) -3);
    ASSERT_TRUE(refused(&m, 8, EPROTO));
}

TEST(oversize_rejected)
{
    struct msg m;

    /* told by the count, before any encoding arrives */
    m = (struct msg) { 0 };
    put8(&m, 2), put8(&m, 0), put16(&m, GW_RFB_ENCODINGS_MAX + 1);
    ASSERT_TRUE(refused(&m, 4, EMSGSIZE));
    m = (struct msg) { 0 };
    put8(&m, 2), put8(&m, 0), put16(&m, 0xffff);
    ASSERT_TRUE(refused(&m, 4, EMSGSIZE));
    /* cut text past the cap, either form, and the most negative length */
    m = (struct msg) { 0 };
    put8(&m, 6), put8(&m, 0), put8(&m, 0), put8(&m, 0), put32(&m, GW_RFB_CUT_TEXT_MAX + 1);
    ASSERT_TRUE(refused(&m, 8, EMSGSIZE));
    m = (struct msg) { 0 };
    put8(&m, 6), put8(&m, 0), put8(&m, 0), put8(&m, 0), put32(&m, 0xffffffff);
    ASSERT_TRUE(refused(&m, 8, EPROTO));   /* -1: shorter than the flags */
    m = (struct msg) { 0 };
    put8(&m, 6), put8(&m, 0), put8(&m, 0), put8(&m, 0),
        put32(&m, (uint32_t) -(GW_RFB_CUT_TEXT_MAX + 1));
    ASSERT_TRUE(refused(&m, 8, EMSGSIZE));
    m = (struct msg) { 0 };
    put8(&m, 6), put8(&m, 0), put8(&m, 0), put8(&m, 0), put32(&m, 0x80000000);
    ASSERT_TRUE(refused(&m, 8, EMSGSIZE));
    m = (struct msg) { 0 };
    put8(&m, 6), put8(&m, 0), put8(&m, 0), put8(&m, 0), put32(&m, 0x7fffffff);
    ASSERT_TRUE(refused(&m, 8, EMSGSIZE));
    /* a fence payload past 64 */
    m = (struct msg) { 0 };
    m_fence(&m, GW_RFB_FENCE_PAYLOAD_MAX + 1);
    ASSERT_TRUE(refused(&m, 9, EMSGSIZE));
}

/* A refusal after good messages in the same piece: those came out. */
TEST(refusal_after_good_messages)
{
    struct msg m = { 0 }, good = { 0 };
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };
    char *err = NULL;

    m_pointer_event(&good, 1, 1, 0);
    m_key_event(&good, 0x61, true);
    cat(&m, &good);
    put8(&m, 7), put8(&m, 0), put8(&m, 0);
    ASSERT_ERROR(feed_all(&m, &out, &f, &err), EPROTO);
    ASSERT_TRUE(same(&out, &good));
    ASSERT_NOT_NULL(err);
    free(err);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
}

TEST(client_init_only)
{
    struct gw_rfb_filter f;
    struct gw_buf out = { 0 };
    uint8_t init = 0;

    gw_rfb_filter_init(&f);
    ASSERT_OK(gw_rfb_filter_feed(&f, NULL, 0, &out, NULL));
    ASSERT_EQ(out.len, 0);
    ASSERT_OK(gw_rfb_filter_feed(&f, &init, 1, &out, NULL));
    ASSERT_EQ(out.len, 1);
    ASSERT_EQ(gw_buf_head(&out)[0], 0);
    gw_buf_clear(&out);
    gw_rfb_filter_done(&f);
    gw_rfb_filter_done(&f);   /* twice is fine */
}

int
main(void)
{
    RUN(each_message_exact_size);
    RUN(each_message_passes);
    RUN(full_stream_size);
    RUN(full_stream_whole);
    RUN(full_stream_byte_by_byte);
    RUN(full_stream_split_everywhere);
    RUN(cut_text_dropped);
    RUN(cut_text_at_cap_not_buffered);
    RUN(extended_clipboard_stripped);
    RUN(set_encodings_at_cap);
    RUN(unknown_rejected);
    RUN(oversize_rejected);
    RUN(refusal_after_good_messages);
    RUN(client_init_only);
    return TESTS_DONE();
}
