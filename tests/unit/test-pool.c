/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pool.c - pool modes, size validation, the target size rule and
 * what instant clones need
 *
 * DESIGN
 *   Table-driven checks of pool.c's size rules: which sizes are valid,
 *   what the error sentences say, and pool_target_size() for min, spare,
 *   max, quarantined and deleting pools. Pure: no I/O.
 */
#include "config.h"

#include <stdio.h>

#include "pool.h"
#include "tests.h"
#include "util.h"

TEST(mode_strings)
{
    ASSERT_STREQ(pool_mode_to_string(POOL_MODE_FLOATING), "floating");
    ASSERT_STREQ(pool_mode_to_string(POOL_MODE_DEDICATED), "dedicated");
    ASSERT_NULL(pool_mode_to_string(_POOL_MODE_MAX));
    ASSERT_NULL(pool_mode_to_string(_POOL_MODE_INVALID));

    ASSERT_EQ(pool_mode_from_string("floating"), POOL_MODE_FLOATING);
    ASSERT_EQ(pool_mode_from_string("dedicated"), POOL_MODE_DEDICATED);
    ASSERT_EQ(pool_mode_from_string("Floating"), _POOL_MODE_INVALID);
    ASSERT_EQ(pool_mode_from_string(""), _POOL_MODE_INVALID);
    ASSERT_EQ(pool_mode_from_string("pooled"), _POOL_MODE_INVALID);
    ASSERT_EQ(pool_mode_from_string(NULL), _POOL_MODE_INVALID);
    for (int i = 0; i < _POOL_MODE_MAX; i++)
        ASSERT_EQ(pool_mode_from_string(pool_mode_to_string((enum pool_mode) i)), i);
}

TEST(validate_ok)
{
    char *msg = NULL;

    ASSERT_OK(pool_validate_sizes(0, 0, 0, &msg));
    ASSERT_OK(pool_validate_sizes(1, 2, 10, &msg));
    ASSERT_OK(pool_validate_sizes(10, 10, 10, &msg));
    ASSERT_OK(pool_validate_sizes(0, 0, POOL_MAX_DESKTOPS, &msg));
    ASSERT_OK(pool_validate_sizes(POOL_MAX_DESKTOPS, POOL_MAX_DESKTOPS, POOL_MAX_DESKTOPS, &msg));
    ASSERT_NULL(msg);
}

static int
check_refused(unsigned min, unsigned spare, unsigned max, const char *const *needles)
{
    _cleanup_free_ char *msg = NULL;
    int r;

    r = pool_validate_sizes(min, spare, max, &msg);
    if (r != -EINVAL) {
        fprintf(stderr, "  (%u, %u, %u) returned %d\n", min, spare, max, r);
        return -1;
    }
    if (!msg) {
        fprintf(stderr, "  (%u, %u, %u) gave no message\n", min, spare, max);
        return -1;
    }
    for (; *needles; needles++)
        if (!strstr(msg, *needles)) {
            fprintf(stderr, "  message '%s' lacks '%s'\n", msg, *needles);
            return -1;
        }
    /* a whole sentence */
    if (msg[strlen(msg) - 1] != '.') {
        fprintf(stderr, "  message '%s' is not a sentence\n", msg);
        return -1;
    }
    return 0;
}

TEST(validate_refused)
{
    ASSERT_OK(check_refused(5, 0, 3, (const char *const[]) { "min", "5", "3", NULL }));
    ASSERT_OK(check_refused(0, 7, 4, (const char *const[]) { "spare", "7", "4", NULL }));
    ASSERT_OK(check_refused(0, 0, POOL_MAX_DESKTOPS + 1,
                            (const char *const[]) { "max", "5001", "5000", NULL }));
    ASSERT_OK(check_refused(1, 1, 4000000000u,
                            (const char *const[]) { "4000000000", "5000", NULL }));
    ASSERT_OK(check_refused(1, 0, 0, (const char *const[]) { "min", NULL }));
}

static struct pool
mkpool(unsigned min, unsigned spare, unsigned max, bool deleting)
{
    return (struct pool) {
        .name = (char *) "p", .min = min, .spare = spare, .max = max, .deleting = deleting,
    };
}

TEST(target_size)
{
    static const struct {
        unsigned min, spare, max;
        bool deleting;
        unsigned in_use, failed, want;
    } cases[] = {
        /* empty pool: min dominates */
        { 3, 0, 10, false, 0, 0, 3 },
        { 3, 1, 10, false, 0, 0, 3 },
        { 0, 0, 10, false, 0, 0, 0 },
        { 0, 0, 0, false, 0, 0, 0 },
        /* in use + spare once above min */
        { 3, 2, 10, false, 1, 0, 3 },
        { 3, 2, 10, false, 2, 0, 4 },
        { 0, 2, 10, false, 5, 0, 7 },
        { 0, 1, 10, false, 0, 0, 1 },
        /* capped at max */
        { 3, 2, 10, false, 9, 0, 10 },
        { 3, 2, 10, false, 10, 0, 10 },
        { 0, 5, 5, false, 5, 0, 5 },
        /* failed desktops take room under max */
        { 3, 2, 10, false, 7, 2, 8 },
        { 5, 0, 5, false, 0, 2, 3 },
        { 5, 0, 5, false, 0, 5, 0 },
        { 5, 0, 5, false, 0, 9, 0 },
        { 0, 2, 10, false, 0, 1, 2 },
        /* deleting: nothing */
        { 3, 2, 10, true, 0, 0, 0 },
        { 3, 2, 10, true, 5, 1, 0 },
        /* the largest pool */
        { 0, 5000, 5000, false, 5000, 0, 5000 },
        { 5000, 0, 5000, false, 0, 0, 5000 },
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct pool p = mkpool(cases[i].min, cases[i].spare, cases[i].max, cases[i].deleting);
        unsigned got = pool_target_size(&p, cases[i].in_use, 0, cases[i].failed);

        if (got != cases[i].want)
            fprintf(stderr, "  case %zu: min %u spare %u max %u in_use %u failed %u\n", i,
                    cases[i].min, cases[i].spare, cases[i].max, cases[i].in_use,
                    cases[i].failed);
        ASSERT_EQ(got, cases[i].want);
    }
}

TEST(pool_free)
{
    struct pool *p = xmalloc0(sizeof(*p));
    struct pool **list = xmalloc0(2 * sizeof(*list));

    p->name = xstrdup("a");
    p->image = xstrdup("img");
    p->template = xstrdup("tmpl");
    ASSERT_NULL(pool_free(p));
    ASSERT_NULL(pool_free(NULL));

    list[0] = xmalloc0(sizeof(struct pool));
    list[0]->name = xstrdup("b");
    list[1] = NULL;
    pool_list_free(list, 2);
    pool_list_free(NULL, 3);
}

TEST(clone_rules)
{
    struct pool p = { .clone = POOL_CLONE_INSTANT };
    _cleanup_free_ char *why = NULL;

    ASSERT_STREQ(pool_clone_to_string(POOL_CLONE_BOOT), "boot");
    ASSERT_STREQ(pool_clone_to_string(POOL_CLONE_INSTANT), "instant");
    ASSERT_EQ(pool_clone_from_string("instant"), POOL_CLONE_INSTANT);
    ASSERT_ERROR(pool_clone_from_string("linked"), EINVAL);
    ASSERT_ERROR(pool_clone_from_string(NULL), EINVAL);
    ASSERT_NULL(pool_clone_to_string(_POOL_CLONE_MAX));

    /* instant until a parent fails, then boot with the reason */
    ASSERT_EQ(pool_clone_effective(&p), POOL_CLONE_INSTANT);
    p.clone_fallback = (char *) "Parent 'x' failed: its saved image is truncated.";
    ASSERT_EQ(pool_clone_effective(&p), POOL_CLONE_BOOT);
    p.clone = POOL_CLONE_BOOT;
    p.clone_fallback = NULL;
    ASSERT_EQ(pool_clone_effective(&p), POOL_CLONE_BOOT);

    ASSERT_OK(pool_clone_check(POOL_MODE_FLOATING, false, true, true, &why));
    ASSERT_NULL(why);
    ASSERT_ERROR(pool_clone_check(POOL_MODE_DEDICATED, false, true, true, &why), EINVAL);
    ASSERT_NOT_NULL(strstr(why, "floating"));
    free(why);
    why = NULL;
    ASSERT_ERROR(pool_clone_check(POOL_MODE_FLOATING, true, true, true, &why), EINVAL);
    ASSERT_NOT_NULL(strstr(why, "data disk"));
    free(why);
    why = NULL;
    ASSERT_ERROR(pool_clone_check(POOL_MODE_FLOATING, false, false, true, &why), EINVAL);
    ASSERT_NOT_NULL(strstr(why, "guest agent"));
    free(why);
    why = NULL;
    ASSERT_ERROR(pool_clone_check(POOL_MODE_FLOATING, false, true, false, &why), EINVAL);
    ASSERT_NOT_NULL(strstr(why, "qemu:///system"));
}

int
main(void)
{
    RUN(mode_strings);
    RUN(validate_ok);
    RUN(validate_refused);
    RUN(target_size);
    RUN(pool_free);
    RUN(clone_rules);
    return TESTS_DONE();
}
