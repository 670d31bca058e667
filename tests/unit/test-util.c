/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-util.c - the base library: util.c (numbers, timestamps, files), name.c,
 * strv.c and array.c
 *
 * DESIGN
 *   Pure checks of the parsers (every edge the API and config rely on)
 *   and real file I/O in one temporary directory under /tmp, removed at
 *   the end. No mocks.
 */
#include "config.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "array.h"
#include "log.h"
#include "name.h"
#include "strv.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-util-XXXXXX";

TEST(safe_atou)
{
    unsigned v = 7;

    ASSERT_OK(safe_atou("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(safe_atou("42", &v));
    ASSERT_EQ(v, 42);
    ASSERT_OK(safe_atou("4294967295", &v));
    ASSERT_EQ(v, UINT_MAX);

    v = 7;
    ASSERT_ERROR(safe_atou("", &v), EINVAL);
    ASSERT_ERROR(safe_atou(NULL, &v), EINVAL);
    ASSERT_ERROR(safe_atou("-1", &v), EINVAL);
    ASSERT_ERROR(safe_atou("+1", &v), EINVAL);
    ASSERT_ERROR(safe_atou("1x", &v), EINVAL);
    ASSERT_ERROR(safe_atou(" 1", &v), EINVAL);
    ASSERT_ERROR(safe_atou("1 ", &v), EINVAL);
    ASSERT_ERROR(safe_atou("4294967296", &v), ERANGE);
    ASSERT_ERROR(safe_atou("99999999999999999999999", &v), ERANGE);
    /* failures leave the output alone */
    ASSERT_EQ(v, 7);
}

TEST(safe_atoi)
{
    int v = 7;

    ASSERT_OK(safe_atoi("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(safe_atoi("-5", &v));
    ASSERT_EQ(v, -5);
    ASSERT_OK(safe_atoi("2147483647", &v));
    ASSERT_EQ(v, INT_MAX);
    ASSERT_OK(safe_atoi("-2147483648", &v));
    ASSERT_EQ(v, INT_MIN);

    v = 7;
    ASSERT_ERROR(safe_atoi("", &v), EINVAL);
    ASSERT_ERROR(safe_atoi(NULL, &v), EINVAL);
    ASSERT_ERROR(safe_atoi("1x", &v), EINVAL);
    ASSERT_ERROR(safe_atoi("-", &v), EINVAL);
    ASSERT_ERROR(safe_atoi("2147483648", &v), ERANGE);
    ASSERT_ERROR(safe_atoi("-2147483649", &v), ERANGE);
    ASSERT_EQ(v, 7);
}

/* Like safe_atou, safe_atoi parses untrusted text: a whole number and
 * nothing else. strtol() skips leading white space, so " 1" must be
 * refused explicitly. */
TEST(safe_atoi_refuses_leading_space)
{
    int v = 7;

    ASSERT_ERROR(safe_atoi(" 1", &v), EINVAL);
    ASSERT_ERROR(safe_atoi("\t-1", &v), EINVAL);
    ASSERT_EQ(v, 7);
}

TEST(parse_duration)
{
    unsigned v = 7;

    ASSERT_OK(parse_duration("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(parse_duration("90", &v));
    ASSERT_EQ(v, 90);
    ASSERT_OK(parse_duration("90s", &v));
    ASSERT_EQ(v, 90);
    ASSERT_OK(parse_duration("5m", &v));
    ASSERT_EQ(v, 300);
    ASSERT_OK(parse_duration("2h", &v));
    ASSERT_EQ(v, 7200);
    ASSERT_OK(parse_duration("1d", &v));
    ASSERT_EQ(v, 86400);
    ASSERT_OK(parse_duration("4294967295", &v));
    ASSERT_EQ(v, UINT_MAX);

    v = 7;
    ASSERT_ERROR(parse_duration("", &v), EINVAL);
    ASSERT_ERROR(parse_duration(NULL, &v), EINVAL);
    ASSERT_ERROR(parse_duration("5x", &v), EINVAL);
    ASSERT_ERROR(parse_duration("5mm", &v), EINVAL);
    ASSERT_ERROR(parse_duration("m", &v), EINVAL);
    ASSERT_ERROR(parse_duration("-5", &v), EINVAL);
    ASSERT_ERROR(parse_duration(" 5", &v), EINVAL);
    ASSERT_ERROR(parse_duration("5 m", &v), EINVAL);
    ASSERT_ERROR(parse_duration("4294967296", &v), ERANGE);
    ASSERT_ERROR(parse_duration("71582789m", &v), ERANGE); /* 4294967340 s */
    ASSERT_ERROR(parse_duration("49711d", &v), ERANGE);
    ASSERT_ERROR(parse_duration("999999999999999999999999", &v), ERANGE);
    ASSERT_EQ(v, 7);
}

TEST(name_is_valid)
{
    char name[DP_NAME_MAX + 2];

    ASSERT_TRUE(name_is_valid("a"));
    ASSERT_TRUE(name_is_valid("0"));
    ASSERT_TRUE(name_is_valid("demo"));
    ASSERT_TRUE(name_is_valid("win11-clinical"));
    ASSERT_TRUE(name_is_valid("pool_2-b"));
    ASSERT_TRUE(name_is_valid("9lives"));

    ASSERT_FALSE(name_is_valid(NULL));
    ASSERT_FALSE(name_is_valid(""));
    ASSERT_FALSE(name_is_valid("Demo"));
    ASSERT_FALSE(name_is_valid("demO"));
    ASSERT_FALSE(name_is_valid("-demo"));
    ASSERT_FALSE(name_is_valid("_demo"));
    ASSERT_FALSE(name_is_valid("a/b"));
    ASSERT_FALSE(name_is_valid("a.b"));
    ASSERT_FALSE(name_is_valid(".."));
    ASSERT_FALSE(name_is_valid("a b"));
    ASSERT_FALSE(name_is_valid("a\nb"));
    ASSERT_FALSE(name_is_valid("caf\xc3\xa9"));

    memset(name, 'a', DP_NAME_MAX);
    name[DP_NAME_MAX] = '\0';
    ASSERT_TRUE(name_is_valid(name));
    name[DP_NAME_MAX] = 'a';
    name[DP_NAME_MAX + 1] = '\0';
    ASSERT_EQ(strlen(name), DP_NAME_MAX + 1);
    ASSERT_FALSE(name_is_valid(name));
}

TEST(format_timestamp)
{
    _cleanup_free_ char *epoch = format_timestamp(0);
    _cleanup_free_ char *known = format_timestamp(1700000000);
    _cleanup_free_ char *leap = format_timestamp(951782400);

    ASSERT_STREQ(epoch, "1970-01-01T00:00:00Z");
    /* date -u -d @1700000000 */
    ASSERT_STREQ(known, "2023-11-14T22:13:20Z");
    ASSERT_STREQ(leap, "2000-02-29T00:00:00Z");
}

TEST(clocks)
{
    uint64_t a = now_usec(), b = now_usec();

    ASSERT_TRUE(b >= a);
    /* after 2020-01-01 */
    ASSERT_TRUE(now_realtime_usec() > 1577836800ULL * 1000000ULL);
}

TEST(write_read_round_trip)
{
    _cleanup_free_ char *path = xasprintf("%s/file", tmpdir);
    _cleanup_free_ char *data = NULL, *data2 = NULL, *big = NULL;
    size_t len = 0, biglen = 100000;
    struct stat st;

    ASSERT_OK(write_file_atomic(path, "hello\nworld", 11, 0600));
    ASSERT_OK(read_full_file(path, 1024, &data, &len));
    ASSERT_EQ(len, 11);
    ASSERT_STREQ(data, "hello\nworld");
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);

    /* replacing keeps no temporary file around */
    ASSERT_OK(write_file_atomic(path, "x", 1, 0600));
    ASSERT_OK(read_full_file(path, 1024, &data2, NULL));
    ASSERT_STREQ(data2, "x");

    /* larger than one internal buffer, binary content */
    big = xmalloc0(biglen);
    for (size_t i = 0; i < biglen; i++)
        big[i] = (char) (i * 7 + 3);
    ASSERT_OK(write_file_atomic(path, big, biglen, 0644));
    free(data);
    data = NULL;
    ASSERT_OK(read_full_file(path, 1024 * 1024, &data, &len));
    ASSERT_EQ(len, biglen);
    ASSERT_EQ(memcmp(data, big, biglen), 0);
    ASSERT_EQ(data[len], '\0');

    /* empty file */
    ASSERT_OK(write_file_atomic(path, "", 0, 0600));
    free(data);
    data = NULL;
    ASSERT_OK(read_full_file(path, 16, &data, &len));
    ASSERT_EQ(len, 0);
    ASSERT_STREQ(data, "");
}

TEST(write_file_atomic_errors)
{
    _cleanup_free_ char *path = xasprintf("%s/no-such-dir/file", tmpdir);
    _cleanup_free_ char *tmp = NULL;

    ASSERT_ERROR(write_file_atomic(path, "x", 1, 0600), ENOENT);
    /* the temporary file of a failed rename is removed */
    free(path);
    path = xasprintf("%s/adir", tmpdir);
    ASSERT_OK(mkdir(path, 0700));
    ASSERT_TRUE(write_file_atomic(path, "x", 1, 0600) < 0);
    tmp = xasprintf("%s.tmp.%d", path, (int) getpid());
    ASSERT_TRUE(access(tmp, F_OK) < 0);
}

TEST(read_full_file_max)
{
    _cleanup_free_ char *path = xasprintf("%s/big", tmpdir);
    _cleanup_free_ char *buf = xmalloc0(20000);
    char *data = NULL;
    size_t len = 0;

    memset(buf, 'z', 20000);
    ASSERT_OK(write_file_atomic(path, buf, 20000, 0600));
    ASSERT_ERROR(read_full_file(path, 10000, &data, &len), EFBIG);
    ASSERT_NULL(data);
    ASSERT_ERROR(read_full_file(path, 19999, &data, &len), EFBIG);
    ASSERT_NULL(data);
    ASSERT_OK(read_full_file(path, 20001, &data, &len));
    ASSERT_EQ(len, 20000);
    free(data);
    data = NULL;

    ASSERT_ERROR(read_full_file("/nonexistent/file", 100, &data, &len), ENOENT);
    ASSERT_NULL(data);
}

/* "at most max bytes": a file of exactly max bytes fits. */
TEST(read_full_file_exactly_max)
{
    _cleanup_free_ char *path = xasprintf("%s/exact", tmpdir);
    _cleanup_free_ char *buf = xmalloc0(20000);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;

    memset(buf, 'y', 20000);
    ASSERT_OK(write_file_atomic(path, buf, 20000, 0600));
    ASSERT_OK(read_full_file(path, 20000, &data, &len));
    ASSERT_EQ(len, 20000);
}

/* The cap holds for limits smaller than the first internal buffer too. */
TEST(read_full_file_small_max)
{
    _cleanup_free_ char *path = xasprintf("%s/small", tmpdir);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;

    ASSERT_OK(write_file_atomic(path, "0123456789abcdef", 16, 0600));
    ASSERT_ERROR(read_full_file(path, 10, &data, &len), EFBIG);
    ASSERT_NULL(data);
}

TEST(mkdir_p)
{
    _cleanup_free_ char *deep = xasprintf("%s/m/a/b/c/d", tmpdir);
    _cleanup_free_ char *slash = xasprintf("%s/m/x/y/", tmpdir);
    _cleanup_free_ char *file = xasprintf("%s/m/file", tmpdir);
    _cleanup_free_ char *under_file = xasprintf("%s/m/file/sub", tmpdir);
    struct stat st;

    ASSERT_OK(mkdir_p(deep, 0755));
    ASSERT_OK(stat(deep, &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    /* again: exists is fine */
    ASSERT_OK(mkdir_p(deep, 0755));
    ASSERT_OK(mkdir_p(slash, 0755));
    ASSERT_OK(stat(slash, &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode));

    ASSERT_OK(write_file_atomic(file, "f", 1, 0600));
    ASSERT_ERROR(mkdir_p(under_file, 0755), ENOTDIR);
}

TEST(random_hex)
{
    char *seen[64] = { 0 };
    _cleanup_free_ char *one = random_hex(1);
    int r = 0;

    ASSERT_EQ(strlen(one), 2);
    for (size_t i = 0; i < ELEMENTSOF(seen); i++) {
        seen[i] = random_hex(16);
        if (strlen(seen[i]) != 32 || strspn(seen[i], "0123456789abcdef") != 32)
            r = -1;
        for (size_t j = 0; j < i; j++)
            if (streq(seen[i], seen[j]))
                r = -2;
    }
    for (size_t i = 0; i < ELEMENTSOF(seen); i++)
        free(seen[i]);
    ASSERT_EQ(r, 0);
}


TEST(text_is_safe)
{
    char big[CLIENT_TEXT_MAX + 2];

    ASSERT_TRUE(text_is_safe("site-ambulance-3", CLIENT_TEXT_MAX));
    ASSERT_TRUE(text_is_safe("", CLIENT_TEXT_MAX));
    ASSERT_TRUE(text_is_safe("Zürich <PACS> & \"viewer\"", CLIENT_TEXT_MAX));
    ASSERT_TRUE(text_is_safe("\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x8f\xa5", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe(NULL, CLIENT_TEXT_MAX));
    /* terminal escapes, newlines (forged log lines, table rows), DEL */
    ASSERT_FALSE(text_is_safe("\x1b]0;owned\x07", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\x1b[2J", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("a\nb", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("a\rb", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("a\tb", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("a\x7f", CLIENT_TEXT_MAX));
    /* C1 control U+009B (CSI) in UTF-8, invalid and overlong UTF-8, surrogates */
    ASSERT_FALSE(text_is_safe("a\xc2\x9b" "2J", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\xff", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\xc0\xaf", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\xe0\x80\xaf", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\xed\xa0\x80", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\xf4\x90\x80\x80", CLIENT_TEXT_MAX));
    ASSERT_FALSE(text_is_safe("\xe6\x9d", CLIENT_TEXT_MAX));
    memset(big, 'x', CLIENT_TEXT_MAX);
    big[CLIENT_TEXT_MAX] = '\0';
    ASSERT_TRUE(text_is_safe(big, CLIENT_TEXT_MAX));
    big[CLIENT_TEXT_MAX] = 'x';
    big[CLIENT_TEXT_MAX + 1] = '\0';
    ASSERT_FALSE(text_is_safe(big, CLIENT_TEXT_MAX));
}

/* Issue 11 #10: untrusted text is shown and logged escaped. */
TEST(text_escape)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "site-ambulance-3", "site-ambulance-3" },
        { "", "" },
        { "Z\xc3\xbcrich \xe6\x9d\xb1 \xf0\x9f\x8f\xa5 <a> & \"b\"",
          "Z\xc3\xbcrich \xe6\x9d\xb1 \xf0\x9f\x8f\xa5 <a> & \"b\"" },
        { "\x1b]0;owned\x07", "\\x1b]0;owned\\x07" },
        { "\x1b[2J", "\\x1b[2J" },
        { "a\nb\rc\td", "a\\nb\\rc\\td" },
        { "a\x7f\x01\x1f", "a\\x7f\\x01\\x1f" },
        /* C1 CSI, invalid, overlong, surrogate, too large, cut short */
        { "a\xc2\x9b" "2J", "a\\xc2\\x9b2J" },
        { "\xff", "\\xff" },
        { "\xc0\xaf", "\\xc0\\xaf" },
        { "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },
        { "\xed\xa0\x80", "\\xed\\xa0\\x80" },
        { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
        { "x\xe6\x9d", "x\\xe6\\x9d" },
        /* a backslash stays: escaping twice changes nothing */
        { "C:\\dir\\x1b", "C:\\dir\\x1b" },
    };
    char buf[16];

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *once = text_escape(cases[i].in);
        _cleanup_free_ char *twice = text_escape(once);

        ASSERT_STREQ(once, cases[i].out);
        ASSERT_STREQ(twice, once);
        ASSERT_TRUE(text_is_safe(once, SIZE_MAX));
    }
    ASSERT_NULL(text_escape(NULL));

    /* bounded: never half an escape or half a character; NUL within LEN */
    ASSERT_EQ(text_escape_to(buf, sizeof(buf), "abc\x1b" "def", 7), 10);
    ASSERT_STREQ(buf, "abc\\x1bdef");
    ASSERT_EQ(text_escape_to(buf, 6, "abc\x1b" "def", 7), 3);
    ASSERT_STREQ(buf, "abc");
    ASSERT_EQ(text_escape_to(buf, 5, "ab\xc3\xbc", 4), 4);
    ASSERT_STREQ(buf, "ab\xc3\xbc");
    ASSERT_EQ(text_escape_to(buf, 4, "ab\xc3\xbc", 4), 2);
    ASSERT_STREQ(buf, "ab");
    ASSERT_EQ(text_escape_to(buf, sizeof(buf), "a\0b", 3), 6);
    ASSERT_STREQ(buf, "a\\x00b");
    ASSERT_EQ(text_escape_to(buf, 1, "abc", 3), 0);
    ASSERT_STREQ(buf, "");
}

/* Issue 11 #10: a log line is one line, whatever the message quotes. */
TEST(log_lines_are_escaped)
{
    _cleanup_free_ char *path = xasprintf("%s/log", tmpdir), *got = NULL;
    _cleanup_free_ char *big = xmalloc0(4000);
    size_t len = 0;
    char *nl;

    ASSERT_OK(log_open_file(path));
    log_error("Session for client '%s' failed", "evil\x1b]0;pwned\x07\n"
              "2026-01-01T00:00:00.000Z deskpoold[1]: notice: forged");
    (void) log_warning_errno(-ENOENT, "Hook said '%s'", "a\tb\xff");
    memset(big, '\x1b', 3999);
    log_notice("%s", big);
    ASSERT_OK(log_open_file(NULL));

    ASSERT_OK(read_full_file(path, 65536, &got, &len));
    ASSERT_EQ(strlen(got), len);
    ASSERT_NULL(strchr(got, '\x1b'));
    ASSERT_NULL(strchr(got, '\x07'));
    ASSERT_NULL(strchr(got, '\t'));
    /* line 1: the message format stays, the client is escaped */
    nl = strchr(got, '\n');
    ASSERT_NOT_NULL(nl);
    *nl = '\0';
    ASSERT_NOT_NULL(strstr(got, " error: Session for client 'evil\\x1b]0;pwned\\x07\\n"
                           "2026-01-01T00:00:00.000Z deskpoold[1]: notice: forged' failed"));
    /* line 2: the errno still appended */
    got = memmove(got, nl + 1, strlen(nl + 1) + 1);
    nl = strchr(got, '\n');
    ASSERT_NOT_NULL(nl);
    *nl = '\0';
    ASSERT_NOT_NULL(strstr(got, " warning: Hook said 'a\\tb\\xff': No such file or directory"));
    /* line 3: cut whole escapes at the line limit, still one line */
    got = memmove(got, nl + 1, strlen(nl + 1) + 1);
    nl = strchr(got, '\n');
    ASSERT_NOT_NULL(nl);
    ASSERT_STREQ(nl + 1, "");
    *nl = '\0';
    ASSERT_TRUE(strlen(got) < 2048);
    ASSERT_EQ(strlen(strstr(got, " notice: ") + 9) % 4, 0);
    ASSERT_TRUE(strlen(strstr(got, " notice: ") + 9) > 1500);
}

TEST(principal_name_is_valid)
{
    ASSERT_TRUE(principal_name_is_valid("dr.smith@hospital.example"));
    ASSERT_TRUE(principal_name_is_valid("RADIOLOGY_2"));
    ASSERT_FALSE(principal_name_is_valid(".smith"));
    ASSERT_FALSE(principal_name_is_valid("a b"));
    ASSERT_FALSE(principal_name_is_valid("a/../b"));
    ASSERT_FALSE(principal_name_is_valid("a\x1b[2J"));
    ASSERT_FALSE(principal_name_is_valid(""));
    ASSERT_FALSE(principal_name_is_valid(NULL));
}

TEST(strv)
{
    _cleanup_(strv_freep) char **v = strv_split(",a,,bc,", ',');
    _cleanup_(strv_freep) char **e = strv_split(NULL, ',');
    _cleanup_free_ char *j = NULL, *je = NULL;

    ASSERT_EQ(strv_length(v), 2);
    ASSERT_STREQ(v[0], "a");
    ASSERT_STREQ(v[1], "bc");
    ASSERT_NULL(v[2]);
    ASSERT_TRUE(strv_contains(v, "bc"));
    ASSERT_FALSE(strv_contains(v, "b"));
    ASSERT_EQ(strv_length(e), 0);
    j = strv_join(v, ';');
    ASSERT_STREQ(j, "a;bc");
    je = strv_join(NULL, ',');
    ASSERT_STREQ(je, "");
    ASSERT_NULL(strv_free(NULL));
}

TEST(array_grow)
{
    _cleanup_free_ unsigned *a = NULL;
    size_t n = 0, alloc = 0;

    for (unsigned i = 0; i < 1000; i++) {
        ARRAY_GROW(a, alloc, n + 1);
        ASSERT_TRUE(alloc >= n + 1);
        a[n++] = i;
    }
    for (unsigned i = 0; i < 1000; i++)
        ASSERT_EQ(a[i], i);
    /* growth is geometric: at most a dozen reallocations for 1000 */
    ASSERT_TRUE(alloc < 2048);
    /* new room is zeroed */
    ARRAY_GROW(a, alloc, alloc + 1);
    ASSERT_EQ(a[alloc - 1], 0);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int
main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }

    RUN(safe_atou);
    RUN(safe_atoi);
    RUN(safe_atoi_refuses_leading_space);
    RUN(parse_duration);
    RUN(name_is_valid);
    RUN(text_is_safe);
    RUN(text_escape);
    RUN(log_lines_are_escaped);
    RUN(principal_name_is_valid);
    RUN(strv);
    RUN(array_grow);
    RUN(format_timestamp);
    RUN(clocks);
    RUN(write_read_round_trip);
    RUN(write_file_atomic_errors);
    RUN(read_full_file_max);
    RUN(read_full_file_exactly_max);
    RUN(read_full_file_small_max);
    RUN(mkdir_p);
    RUN(random_hex);

    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TESTS_DONE();
}
