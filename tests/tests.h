/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests.h - assertions for C tests (systemd's tests.h style)
 *
 * Each TEST(name) is a function; main() runs them with RUN(name) and ends
 * with TESTS_DONE(), which prints "N passed, N failed" and returns the exit
 * status automake expects (0 all passed, 1 some failed). An ASSERT_*
 * failure prints file:line and the values, marks the test failed and
 * returns from it.
 */
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned tests_passed, tests_failed;
static int test_current_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                       \
    do {                                                                \
        test_current_failed = 0;                                        \
        test_##name();                                                  \
        if (test_current_failed) {                                      \
            tests_failed++;                                             \
            printf("FAIL: %s\n", #name);                                \
        } else {                                                        \
            tests_passed++;                                             \
            printf("ok: %s\n", #name);                                  \
        }                                                               \
        fflush(stdout);                                                 \
    } while (0)

#define TESTS_DONE()                                                    \
    ({                                                                  \
        printf("%u passed, %u failed\n", tests_passed, tests_failed);   \
        tests_failed > 0 ? 1 : 0;                                       \
    })

#define TEST_FAIL_AT(...)                                               \
    do {                                                                \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                 \
        fprintf(stderr, __VA_ARGS__);                                   \
        fputc('\n', stderr);                                            \
        test_current_failed = 1;                                        \
    } while (0)

#define ASSERT_TRUE(expr)                                               \
    do {                                                                \
        if (!(expr)) {                                                  \
            TEST_FAIL_AT("assertion failed: %s", #expr);                \
            return;                                                     \
        }                                                               \
    } while (0)

#define ASSERT_FALSE(expr) ASSERT_TRUE(!(expr))

/* r >= 0 */
#define ASSERT_OK(expr)                                                 \
    do {                                                                \
        long long _r_ = (long long) (expr);                             \
        if (_r_ < 0) {                                                  \
            TEST_FAIL_AT("%s failed: %lld (%s)", #expr, _r_, strerror((int) -_r_)); \
            return;                                                     \
        }                                                               \
    } while (0)

#define ASSERT_ERROR(expr, err)                                         \
    do {                                                                \
        long long _r_ = (long long) (expr);                             \
        if (_r_ != -(long long) (err)) {                                \
            TEST_FAIL_AT("%s = %lld, expected -%s", #expr, _r_, #err);  \
            return;                                                     \
        }                                                               \
    } while (0)

#define ASSERT_EQ(a, b)                                                 \
    do {                                                                \
        long long _a_ = (long long) (a), _b_ = (long long) (b);         \
        if (_a_ != _b_) {                                               \
            TEST_FAIL_AT("%s == %s: %lld != %lld", #a, #b, _a_, _b_);   \
            return;                                                     \
        }                                                               \
    } while (0)

#define ASSERT_STREQ(a, b)                                              \
    do {                                                                \
        const char *_a_ = (a), *_b_ = (b);                              \
        if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0) {                    \
            TEST_FAIL_AT("%s == %s: '%s' != '%s'", #a, #b,              \
                         _a_ ? _a_ : "(null)", _b_ ? _b_ : "(null)");   \
            return;                                                     \
        }                                                               \
    } while (0)

#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)
#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)
