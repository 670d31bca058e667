/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-names.c - the naming rules of desktops and parents: domains, their
 * alternates, volumes, saved images, host names and MAC blocks
 *
 * DESIGN
 *   Each rule lives in one function (desk.c, parent.c); these are the
 *   cases an operator would read in `virsh list` and the orphan scan
 *   relies on: a desktop's two names never collide with a parent's, a host
 *   name is one RFC 1123 label, a MAC block stays inside its 8 addresses.
 *   Pure: no I/O.
 */
#include "config.h"

#include <stdio.h>

#include "desk.h"
#include "parent.h"
#include "tests.h"
#include "util.h"

TEST(desk_domains)
{
    _cleanup_free_ char *d = desk_domain_name("dp", "demo-7");
    _cleanup_free_ char *alt = desk_domain_alternate(d);
    _cleanup_free_ char *back = desk_domain_alternate(alt);
    _cleanup_free_ char *vol = desk_volume_name(alt);

    ASSERT_STREQ(d, "dp.demo-7");
    ASSERT_STREQ(alt, "dp.demo-7.b");
    ASSERT_STREQ(back, "dp.demo-7");
    ASSERT_STREQ(vol, "dp.demo-7.b.qcow2");
}

TEST(parent_names)
{
    _cleanup_free_ char *d = parent_domain_name("dp", "tiny.v2.desktop.5");
    _cleanup_free_ char *vol = parent_volume_name(d);
    _cleanup_free_ char *saved = parent_saved_path("/var/lib/deskpool/parents",
                                                   "tiny.v2.desktop.5");
    struct parent p = { .image = (char *) "tiny", .image_version = 2,
                        .template = (char *) "desktop", .template_digest = (char *) "ab" };

    ASSERT_STREQ(d, "dp.parent.tiny.v2.desktop.5");
    ASSERT_STREQ(vol, "dp.parent.tiny.v2.desktop.5.qcow2");
    ASSERT_STREQ(saved, "/var/lib/deskpool/parents/tiny.v2.desktop.5.save");
    ASSERT_TRUE(parent_matches(&p, "tiny", 2, "desktop", "ab"));
    ASSERT_FALSE(parent_matches(&p, "tiny", 1, "desktop", "ab"));
    ASSERT_FALSE(parent_matches(&p, "tiny", 2, "desktop", "cd"));
    ASSERT_FALSE(parent_matches(&p, "tiny", 2, "other", "ab"));
    for (int s = 0; s < _PARENT_STATE_MAX; s++)
        ASSERT_EQ(parent_state_from_string(parent_state_to_string((enum parent_state) s)), s);
    ASSERT_ERROR(parent_state_from_string("nope"), EINVAL);
    ASSERT_NULL(parent_state_to_string(_PARENT_STATE_MAX));
}

TEST(hostnames)
{
    static const struct {
        const char *name, *host;
    } cases[] = {
        { "demo-7", "demo-7" },
        { "Radiology_3", "radiology-3" },
        { "ER-12", "er-12" },
        { "_x_-1", "dx--1" },
        { "a-", "a" },
        { "0123456789012345678901234567890123456789012345678901234567890123456789-1",
          "012345678901234567890123456789012345678901234567890123456789012" },
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *h = desk_hostname(cases[i].name);

        ASSERT_STREQ(h, cases[i].host);
        ASSERT_TRUE(strlen(h) <= 63);
    }
}

TEST(mac_blocks)
{
    _cleanup_free_ char *m0 = desk_mac_nth("52:54:00:ab:cd:e8", 0);
    _cleanup_free_ char *m7 = desk_mac_nth("52:54:00:ab:cd:e8", 7);

    ASSERT_STREQ(m0, "52:54:00:ab:cd:e8");
    ASSERT_STREQ(m7, "52:54:00:ab:cd:ef");
    ASSERT_NULL(desk_mac_nth("52:54:00:ab:cd:e8", 8));   /* another desktop's block */
    ASSERT_NULL(desk_mac_nth("52:54:00:ab:cd:e9", 0));   /* not a block's first */
    ASSERT_NULL(desk_mac_nth("52:54:00:ab:cd", 0));
    ASSERT_NULL(desk_mac_nth("52:54:00:ab:cd:e8:00", 0));
    ASSERT_NULL(desk_mac_nth(NULL, 0));
}

int
main(void)
{
    RUN(desk_domains);
    RUN(parent_names);
    RUN(hostnames);
    RUN(mac_blocks);
    return TESTS_DONE();
}
