/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-hook.c - hooks run for real: scripts in a temporary hooks directory
 * get the event on stdin and in their environment, veto with an exit
 * status, and are killed at their timeout.
 *
 * DESIGN
 *   main() sets up what deskpoold has when it runs a hook: SIGPIPE
 *   ignored, SIGTERM/SIGINT/SIGHUP blocked, and descriptors without
 *   close-on-exec (a socket pair, a pipe, /dev/null), so the tests can
 *   prove that none of it reaches a hook. Processes a hook leaves behind
 *   are checked by pid, written by the hook to a file.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
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

/* The pid a hook wrote to DIR/NAME, or 0. */
static pid_t
read_pid(const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name), *text = NULL;
    unsigned v;

    if (read_full_file(path, 64, &text, NULL) < 0)
        return 0;
    text[strcspn(text, "\n")] = '\0';
    if (safe_atou(text, &v) < 0)
        return 0;
    return (pid_t) v;
}

static bool
pid_is_gone(pid_t pid)
{
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/* Issue 11 #7: the exit status decides, not the end of the output. */
TEST(exit_0_with_a_child_holding_stdout_is_success)
{
    _cleanup_free_ char *out = NULL;
    _cleanup_free_ char *body = xasprintf("echo done; sleep 30 & echo $! > '%s/bg.pid'; exit 0",
                                          dir);
    uint64_t t0;
    pid_t bg;

    ASSERT_OK(write_hook("pre-provision", body, 0755));
    t0 = now_usec();
    ASSERT_OK(hook_run(dir, HOOK_PRE_PROVISION, &info, 10, &out));
    ASSERT_TRUE(now_usec() - t0 < 1000000);
    ASSERT_STREQ(out, "done");
    /* and what it left running is gone */
    bg = read_pid("bg.pid");
    ASSERT_TRUE(bg > 0);
    ASSERT_TRUE(pid_is_gone(bg));
}

TEST(exit_1_with_a_child_holding_stdout_is_a_veto)
{
    _cleanup_free_ char *out = NULL;
    uint64_t t0;

    ASSERT_OK(write_hook("pre-provision", "echo no; sleep 30 & exit 1", 0755));
    t0 = now_usec();
    ASSERT_ERROR(hook_run(dir, HOOK_PRE_PROVISION, &info, 10, &out), ECANCELED);
    ASSERT_TRUE(now_usec() - t0 < 1000000);
    ASSERT_STREQ(out, "no");
}

/* Issue 11 #11: setsid() does not escape the timeout kill. */
TEST(setsid_child_is_killed_at_the_timeout)
{
    _cleanup_free_ char *out = NULL;
    _cleanup_free_ char *body = xasprintf(
        "setsid sh -c 'echo $$ > \"%1$s/escaped.pid\"; exec sleep 300' &\n"
        "while [ ! -s '%1$s/escaped.pid' ]; do sleep 0.05; done\n"
        "sleep 30", dir);
    pid_t escaped;

    ASSERT_OK(write_hook("pre-rebase", body, 0755));
    ASSERT_ERROR(hook_run(dir, HOOK_PRE_REBASE, &info, 2, &out), ETIMEDOUT);
    escaped = read_pid("escaped.pid");
    ASSERT_TRUE(escaped > 0);
    ASSERT_TRUE(pid_is_gone(escaped));
}

/* ... nor does a double fork into a new session after a clean exit. */
TEST(daemonised_child_is_killed_after_exit)
{
    _cleanup_free_ char *out = NULL;
    _cleanup_free_ char *body = xasprintf(
        "( setsid sh -c 'echo $$ > \"%1$s/daemon.pid\"; exec sleep 300' & ) >/dev/null 2>&1\n"
        "while [ ! -s '%1$s/daemon.pid' ]; do sleep 0.05; done\n"
        "exit 0", dir);
    pid_t daemon_pid;

    ASSERT_OK(write_hook("post-release", body, 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_RELEASE, &info, 10, &out));
    daemon_pid = read_pid("daemon.pid");
    ASSERT_TRUE(daemon_pid > 0);
    ASSERT_TRUE(pid_is_gone(daemon_pid));
}

/* Issue 11 #11: deskpoold ignores SIGPIPE and blocks signals; a hook gets
 * every signal at its default, none blocked. */
TEST(signals_are_reset)
{
    _cleanup_free_ char *out = NULL;

    ASSERT_OK(write_hook("post-provision",
                         "printf 'ign=%s blk=%s' "
                         "\"$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)\" "
                         "\"$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)\"", 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out));
    ASSERT_STREQ(out, "ign=0000000000000000 blk=0000000000000000");
    free(out);
    out = NULL;
    /* what that means in practice: the writer of a closed pipe just ends */
    ASSERT_OK(write_hook("post-provision", "yes | head -n 1 >/dev/null", 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out));
    ASSERT_STREQ(out, "");
    free(out);
    out = NULL;
    /* the daemon runs with umask 0077; a site script gets the usual 022 */
    {
        mode_t old = umask(0077);

        ASSERT_OK(write_hook("post-provision", "umask", 0755));
        ASSERT_OK(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out));
        umask(old);
        ASSERT_STREQ(out, "0022");
    }
}

/* Issue 11 #11: no descriptor of the daemon reaches a hook, close-on-exec
 * or not. The hook lists what it has open: 0-2, and ls's own directory. */
TEST(no_descriptor_leaks)
{
    _cleanup_free_ char *out = NULL;
    char *line, *save = NULL;
    unsigned n = 0;

    ASSERT_OK(write_hook("post-provision", "ls -l /proc/self/fd/ | tr '\\n' '|'", 0755));
    ASSERT_OK(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out));
    for (line = strtok_r(out, "|", &save); line; line = strtok_r(NULL, "|", &save)) {
        char *arrow = strstr(line, " -> "), *num;
        unsigned fd;

        if (!arrow)
            continue; /* "total 0" */
        *arrow = '\0';
        num = strrchr(line, ' ');
        ASSERT_NOT_NULL(num);
        ASSERT_OK(safe_atou(num + 1, &fd));
        n++;
        if (fd <= 2)
            continue;
        /* ls's own handle on /proc/self/fd */
        if (strncmp(arrow + 4, "/proc/", 6) == 0 && strstr(arrow + 4, "/fd"))
            continue;
        TEST_FAIL_AT("the hook has fd %u open: %s", fd, arrow + 4);
        return;
    }
    ASSERT_TRUE(n >= 3);
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

TEST(exec_failure_is_an_error)
{
    _cleanup_free_ char *path = xasprintf("%s/post-provision", dir);
    _cleanup_free_ char *out = NULL;
    const char *text = "#!/nonexistent/interpreter\n";

    (void) unlink(path);
    ASSERT_OK(write_file_atomic(path, text, strlen(text), 0755));
    ASSERT_ERROR(hook_run(dir, HOOK_POST_PROVISION, &info, 10, &out), ENOENT);
    ASSERT_NULL(out);
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
    int leak_pair[2], leak_pipe[2], leak_null;
    sigset_t mask;
    int r;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* what deskpoold has when it runs a hook (deskpoold.c main()) */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* descriptors a library opened without close-on-exec */
    leak_null = open("/dev/null", O_RDONLY);
    if (leak_null < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, leak_pair) < 0 ||
        pipe(leak_pipe) < 0) {
        perror("leaky descriptors");
        return 1;
    }

    RUN(names);
    RUN(no_hook_is_ok);
    RUN(environment_and_stdin);
    RUN(pre_hook_veto);
    RUN(timeout_kills_the_hook_and_its_children);
    RUN(exit_0_with_a_child_holding_stdout_is_success);
    RUN(exit_1_with_a_child_holding_stdout_is_a_veto);
    RUN(setsid_child_is_killed_at_the_timeout);
    RUN(daemonised_child_is_killed_after_exit);
    RUN(signals_are_reset);
    RUN(no_descriptor_leaks);
    RUN(detail_is_escaped);
    RUN(output_is_escaped);
    RUN(exec_failure_is_an_error);
    RUN(output_is_bounded);
    r = TESTS_DONE();
    {
        const char *names[] = { "post-release", "post-assign", "pre-provision", "pre-rebase",
                                "post-provision", "seen", "bg.pid", "escaped.pid",
                                "daemon.pid", "stdin" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
            _cleanup_free_ char *p = xasprintf("%s/%s", dir, names[i]);

            (void) unlink(p);
        }
        (void) rmdir(dir);
    }
    return r;
}
