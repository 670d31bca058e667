/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-hook.c - hooks run for real: scripts in a temporary hooks directory
 * get the event on stdin and in their environment, veto with an exit
 * status, and are killed at their timeout. */
#include "config.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "tests.h"
#include "util.h"

static char dir[] = "/tmp/deskpool-hook.XXXXXX";

static int
write_hook(const char *name, const char *body, mode_t mode)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_free_ char *text = xasprintf("#!/bin/sh\n%s\n", body);

    (void) unlink(path);
    return write_file_atomic(path, text, strlen(text), mode);
}

static const struct hook_info info = {
    .pool = "radiology", .desktop = "radiology-3", .domain = "dp.radiology-3",
    .user = "dr.smith", .session = "5b7f0c1e-0000-4000-8000-000000000001", .detail = "v2",
};

TEST(names)
{
    ASSERT_STREQ(hook_event_to_string(HOOK_PRE_PROVISION), "pre-provision");
    ASSERT_STREQ(hook_event_to_string(HOOK_DESKTOP_FAILED), "desktop-failed");
    ASSERT_NULL(hook_event_to_string(_HOOK_EVENT_MAX));
    ASSERT_TRUE(hook_event_is_pre(HOOK_PRE_REBASE));
    ASSERT_FALSE(hook_event_is_pre(HOOK_POST_ASSIGN));
}

TEST(no_hook_is_ok)
{
    _cleanup_free_ char *out = NULL;

    ASSERT_OK(hook_run(dir, HOOK_POST_RELEASE, &info, 5, &out));
    ASSERT_NULL(out);
    /* present but not executable: not run */
    ASSERT_OK(write_hook("post-release", "exit 1", 0644));
    ASSERT_OK(hook_run(dir, HOOK_POST_RELEASE, &info, 5, &out));
}

TEST(environment_and_stdin)
{
    _cleanup_free_ char *out = NULL, *got = NULL;
    _cleanup_free_ char *file = xasprintf("%s/seen", dir);
    _cleanup_free_ char *body = xasprintf(
        "{ env | grep ^DESKPOOL_ | sort; echo ARGV=$1; cat; } > '%s'\necho done", file);

    ASSERT_OK(write_hook("post-assign", body, 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_ASSIGN, &info, 5, &out));
    ASSERT_STREQ(out, "done");
    ASSERT_OK(read_full_file(file, 65536, &got, NULL));
    ASSERT_NOT_NULL(strstr(got, "DESKPOOL_EVENT=post-assign\n"));
    ASSERT_NOT_NULL(strstr(got, "DESKPOOL_POOL=radiology\n"));
    ASSERT_NOT_NULL(strstr(got, "DESKPOOL_DESKTOP=radiology-3\n"));
    ASSERT_NOT_NULL(strstr(got, "DESKPOOL_DOMAIN=dp.radiology-3\n"));
    ASSERT_NOT_NULL(strstr(got, "DESKPOOL_USER=dr.smith\n"));
    ASSERT_NOT_NULL(strstr(got, "ARGV=post-assign\n"));
    ASSERT_NOT_NULL(strstr(got, "\"event\":\"post-assign\""));
    ASSERT_NOT_NULL(strstr(got, "\"user\":\"dr.smith\""));
    ASSERT_NOT_NULL(strstr(got, "\"session\":\"5b7f0c1e-0000-4000-8000-000000000001\""));
    /* nothing of the daemon's environment leaks in */
    ASSERT_NULL(strstr(got, "HOME="));
}

TEST(pre_hook_veto)
{
    _cleanup_free_ char *out = NULL;

    ASSERT_OK(write_hook("pre-provision", "echo 'licence server down' >&2; exit 3", 0755));
    ASSERT_ERROR(hook_run(dir, HOOK_PRE_PROVISION, &info, 5, &out), ECANCELED);
    ASSERT_STREQ(out, "licence server down");
    free(out);
    out = NULL;
    ASSERT_OK(write_hook("pre-provision", "exit 0", 0755));
    ASSERT_OK(hook_run(dir, HOOK_PRE_PROVISION, &info, 5, &out));
}

TEST(timeout_kills_the_hook_and_its_children)
{
    _cleanup_free_ char *out = NULL;
    uint64_t t0;

    /* a child that keeps stdout open must not keep us waiting either */
    ASSERT_OK(write_hook("pre-rebase", "echo started; sleep 30 & sleep 30", 0755));
    t0 = now_usec();
    ASSERT_ERROR(hook_run(dir, HOOK_PRE_REBASE, &info, 1, &out), ETIMEDOUT);
    ASSERT_TRUE(now_usec() - t0 < 3000000);
    ASSERT_STREQ(out, "started");
    /* closes its output, then lingers: still bounded */
    free(out);
    out = NULL;
    ASSERT_OK(write_hook("pre-rebase", "exec >/dev/null 2>&1; sleep 30", 0755));
    t0 = now_usec();
    ASSERT_ERROR(hook_run(dir, HOOK_PRE_REBASE, &info, 1, &out), ETIMEDOUT);
    ASSERT_TRUE(now_usec() - t0 < 3000000);
}

/* Issue 11 #10/#11: what a hook is given holds no control character. */
TEST(detail_is_escaped)
{
    _cleanup_free_ char *out = NULL, *got = NULL;
    _cleanup_free_ char *file = xasprintf("%s/stdin", dir);
    _cleanup_free_ char *body = xasprintf("cat > '%s'; printf '%%s' \"$DESKPOOL_DETAIL\"", file);
    struct hook_info hostile = info;

    hostile.detail = "site-9\033]0;pwned\007\nDESKPOOL_USER=root\033[2J";
    ASSERT_OK(write_hook("post-assign", body, 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_ASSIGN, &hostile, 10, &out));
    ASSERT_STREQ(out, "site-9\\x1b]0;pwned\\x07\\nDESKPOOL_USER=root\\x1b[2J");
    /* and the JSON on stdin carries the same text, escaped for JSON */
    ASSERT_OK(read_full_file(file, 65536, &got, NULL));
    ASSERT_NOT_NULL(strstr(got, "\"detail\":\"site-9\\\\x1b]0;pwned\\\\x07\\\\n"));
    ASSERT_NULL(strstr(got, "\\u001b"));
}

/* Issue 11 #10: a hook's output becomes last_error and log text: escaped,
 * NUL bytes included, and still bounded. */
TEST(output_is_escaped)
{
    _cleanup_free_ char *out = NULL;

    /* ESC, CR, LF, NUL, the C1 CSI in UTF-8, a byte that is no UTF-8 */
    ASSERT_OK(write_hook("pre-provision",
                         "printf 'licence\\033[2J\\r\\nforged: line\\000x"
                         "\\302\\233\\377\\n'; exit 2", 0755));
    ASSERT_ERROR(hook_run(dir, HOOK_PRE_PROVISION, &info, 10, &out), ECANCELED);
    ASSERT_STREQ(out, "licence\\x1b[2J\\r\\nforged: line\\x00x\\xc2\\x9b\\xff");
    free(out);
    out = NULL;
    ASSERT_OK(write_hook("post-provision", "head -c 100000 /dev/zero", 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out));
    ASSERT_EQ(strlen(out), HOOK_OUTPUT_MAX);
    ASSERT_EQ(strncmp(out, "\\x00\\x00", 8), 0);
}

TEST(output_is_bounded)
{
    _cleanup_free_ char *out = NULL;

    ASSERT_OK(write_hook("post-provision", "head -c 1000000 /dev/zero | tr '\\0' x", 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out));
    ASSERT_EQ(strlen(out), HOOK_OUTPUT_MAX);
}

int
main(void)
{
    int r;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(names);
    RUN(no_hook_is_ok);
    RUN(environment_and_stdin);
    RUN(pre_hook_veto);
    RUN(timeout_kills_the_hook_and_its_children);
    RUN(detail_is_escaped);
    RUN(output_is_escaped);
    RUN(output_is_bounded);
    r = TESTS_DONE();
    {
        const char *names[] = { "post-release", "post-assign", "pre-provision", "pre-rebase",
                                "post-provision", "seen", "stdin" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
            _cleanup_free_ char *p = xasprintf("%s/%s", dir, names[i]);

            (void) unlink(p);
        }
        (void) rmdir(dir);
    }
    return r;
}
