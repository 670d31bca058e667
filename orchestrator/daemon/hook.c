/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hook.c - site scripts run on desktop events
 *
 * DESIGN
 *   Like libvirt's and git's hooks: an executable named after the event in
 *   the hooks directory, run with a timeout, the event as one JSON object
 *   on stdin and DESKPOOL_* variables in a clean environment. A non-zero
 *   exit of a pre-* hook vetoes the action (the caller decides what a veto
 *   means and logs it with the hook's output); post-* hooks only report.
 *   The child is spawned with posix_spawn() into its own process group,
 *   so a timeout kills the hook and anything it started. Output is
 *   captured (bounded) for the log and the API.
 *   The hook's path is fixed (DIR/EVENT); nothing of the event reaches a
 *   shell or the command line. Every text value the hook is given, in its
 *   environment and on stdin, and its output as hook_run() returns it,
 *   is escaped with text_escape() (name.c): no control character reaches
 *   a hook's variables, the log or a desktop's last_error. hook_run() does
 *   not log; hook_run_logged() and hook_run_detached() log the outcome
 *   once, for their callers.
 */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>

#include <pthread.h>

#include "hook.h"
#include "json-util.h"
#include "log.h"
#include "name.h"
#include "util.h"

extern char **environ;

static const char *const hook_event_names[_HOOK_EVENT_MAX] = {
    [HOOK_PRE_PROVISION] = "pre-provision",
    [HOOK_POST_PROVISION] = "post-provision",
    [HOOK_POST_ASSIGN] = "post-assign",
    [HOOK_POST_RELEASE] = "post-release",
    [HOOK_PRE_REBASE] = "pre-rebase",
    [HOOK_POST_REBASE] = "post-rebase",
    [HOOK_DESKTOP_FAILED] = "desktop-failed",
};

const char *
hook_event_to_string(enum hook_event e)
{
    if (e < 0 || e >= _HOOK_EVENT_MAX)
        return NULL;
    return hook_event_names[e];
}

bool
hook_event_is_pre(enum hook_event e)
{
    return e == HOOK_PRE_PROVISION || e == HOOK_PRE_REBASE;
}

/* json_add_string() of VALUE escaped (text_escape()). */
static void
json_add_escaped(json_object *o, const char *key, const char *value)
{
    _cleanup_free_ char *e = text_escape(value);

    json_add_string(o, key, e);
}

static char *
hook_event_json(enum hook_event e, const struct hook_info *info)
{
    _cleanup_json_ json_object *o = json_object_new_object();

    json_add_string(o, "event", hook_event_to_string(e));
    json_add_escaped(o, "pool", info->pool);
    json_add_escaped(o, "desktop", info->desktop);
    json_add_escaped(o, "domain", info->domain);
    json_add_escaped(o, "user", info->user);
    json_add_escaped(o, "session", info->session);
    json_add_escaped(o, "detail", info->detail);
    json_add_time(o, "at", (int64_t) time(NULL));
    return json_to_string_dup(o);
}

/* "KEY=VALUE" with VALUE escaped: no control character in the environment. */
static char *
env_entry(const char *key, const char *value)
{
    _cleanup_free_ char *e = text_escape(value ? value : "");

    return xasprintf("%s=%s", key, e);
}

/* write(2) that turns a hook which closed its stdin into EPIPE instead of
 * a SIGPIPE for the whole process: the signal is blocked in this thread
 * and a pending one consumed. */
static ssize_t
write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old;
    struct timespec zero = { 0, 0 };
    ssize_t k;
    int saved;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    k = write(fd, buf, len);
    saved = errno;
    if (k < 0 && errno == EPIPE)
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return k;
}

/* Writes STDIN_DATA to *IN_FD (closing it when done, so the hook sees EOF)
 * and reads output, until the child closes its output or DEADLINE
 * (monotonic usec) passes. Returns 0 or -ETIMEDOUT. */
static int
hook_io(int *in_fd, int out_fd, const char *stdin_data, uint64_t deadline, char *out,
        size_t *out_len)
{
    size_t in_len = strlen(stdin_data), in_off = 0;

    for (;;) {
        struct pollfd p[2] = {
            { .fd = out_fd, .events = POLLIN },
            { .fd = *in_fd, .events = POLLOUT },
        };
        uint64_t now = now_usec();
        int n;

        if (now >= deadline)
            return -ETIMEDOUT;
        n = poll(p, 2, (int) MIN((deadline - now) / 1000 + 1, (uint64_t) 1000));
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        if (*in_fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t k = write_nosigpipe(*in_fd, stdin_data + in_off, in_len - in_off);

            if (k > 0)
                in_off += (size_t) k;
            if (k < 0 || in_off == in_len) {
                /* all written (or the hook closed its stdin): EOF for it */
                close(*in_fd);
                *in_fd = -1;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t k = read(out_fd, buf, sizeof(buf));

            if (k <= 0)
                return 0; /* EOF: the hook is done (or closed its output) */
            if (*out_len < HOOK_OUTPUT_MAX) {
                size_t take = MIN((size_t) k, HOOK_OUTPUT_MAX - *out_len);

                memcpy(out + *out_len, buf, take);
                *out_len += take;
            }
        }
    }
}

int
hook_run(const char *dir, enum hook_event e, const struct hook_info *info,
         unsigned timeout_sec, char **ret_output)
{
    _cleanup_free_ char *path = NULL, *json = NULL, *raw = NULL, *out = NULL;
    char *envp[10] = { NULL };
    char *argv[3] = { NULL };
    int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    size_t out_len = 0;
    uint64_t deadline;
    struct stat st;
    pid_t pid;
    int status = 0, r, io;

    if (!dir || !hook_event_to_string(e))
        return -EINVAL;
    path = xasprintf("%s/%s", dir, hook_event_to_string(e));
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
        return 0; /* no hook: nothing to run, nothing vetoed */

    json = hook_event_json(e, info);
    envp[0] = xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    envp[1] = env_entry("DESKPOOL_EVENT", hook_event_to_string(e));
    envp[2] = env_entry("DESKPOOL_POOL", info->pool);
    envp[3] = env_entry("DESKPOOL_DESKTOP", info->desktop);
    envp[4] = env_entry("DESKPOOL_DOMAIN", info->domain);
    envp[5] = env_entry("DESKPOOL_USER", info->user);
    envp[6] = env_entry("DESKPOOL_SESSION", info->session);
    envp[7] = env_entry("DESKPOOL_DETAIL", info->detail);
    argv[0] = path;
    argv[1] = (char *) hook_event_to_string(e);

    if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
        r = -errno;
        goto cleanup;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDERR_FILENO);
    posix_spawnattr_init(&attr);
    {
        sigset_t none;

        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none); /* the daemon blocks signals */
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    }
    r = -posix_spawn(&pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in_pipe[0]);
    in_pipe[0] = -1;
    close(out_pipe[1]);
    out_pipe[1] = -1;
    if (r < 0)
        goto cleanup;

    raw = xmalloc0(HOOK_OUTPUT_MAX + 1);
    deadline = now_usec() + (uint64_t) timeout_sec * 1000000ULL;
    io = hook_io(&in_pipe[1], out_pipe[0], json, deadline, raw, &out_len);
    /* output closed: the hook is (nearly always) done; still bounded */
    while (io == 0) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            io = -errno;
            break;
        }
        if (now_usec() >= deadline) {
            io = -ETIMEDOUT;
            break;
        }
        usleep(10 * 1000);
    }
    if (io != 0) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    /* a trailing newline is the shell's habit, not part of the message */
    while (out_len > 0 && (raw[out_len - 1] == '\n' || raw[out_len - 1] == '\r'))
        out_len--;
    out = xmalloc0(HOOK_OUTPUT_MAX + 1);
    (void) text_escape_to(out, HOOK_OUTPUT_MAX + 1, raw, out_len);
    if (io < 0)
        r = io;
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        r = 0;
    else
        r = -ECANCELED;
    if (ret_output)
        *ret_output = TAKE_PTR(out);

cleanup:
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
    }
    for (size_t i = 0; i < ELEMENTSOF(envp); i++)
        free(envp[i]);
    return r;
}

int
hook_run_logged(const char *dir, enum hook_event e, const struct hook_info *info,
                unsigned timeout_sec)
{
    _cleanup_free_ char *out = NULL;
    const char *name = hook_event_to_string(e);
    int r;

    r = hook_run(dir, e, info, timeout_sec, &out);
    if (r == -ECANCELED && hook_event_is_pre(e))
        log_notice("Hook %s vetoed the action on '%s': %s", name, strempty(info->desktop),
                   out && out[0] ? out : "(no output)");
    else if (r == -ECANCELED)
        log_warning("Hook %s failed for '%s': %s", name, strempty(info->desktop),
                    out && out[0] ? out : "(no output)");
    else if (r == -ETIMEDOUT)
        log_warning("Hook %s for '%s' was killed after %u s", name, strempty(info->desktop),
                    timeout_sec);
    else if (r < 0)
        log_warning_errno(r, "Hook %s for '%s' could not run", name, strempty(info->desktop));
    return r;
}

struct hook_job {
    char *dir;
    enum hook_event e;
    char *pool, *desktop, *domain, *user, *session, *detail;
    unsigned timeout;
};

static void *
hook_thread(void *userdata)
{
    struct hook_job *j = userdata;
    struct hook_info info = {
        .pool = j->pool, .desktop = j->desktop, .domain = j->domain, .user = j->user,
        .session = j->session, .detail = j->detail,
    };

    (void) hook_run_logged(j->dir, j->e, &info, j->timeout);
    free(j->dir);
    free(j->pool);
    free(j->desktop);
    free(j->domain);
    free(j->user);
    free(j->session);
    free(j->detail);
    free(j);
    return NULL;
}

void
hook_run_detached(const char *dir, enum hook_event e, const struct hook_info *info,
                  unsigned timeout_sec)
{
    _cleanup_free_ char *path = NULL;
    struct hook_job *j;
    pthread_attr_t attr;
    pthread_t t;
    int r;

    /* no hook, no thread: the common case costs one access(2) */
    path = xasprintf("%s/%s", strempty(dir), strempty(hook_event_to_string(e)));
    if (!dir || access(path, X_OK) < 0)
        return;
    j = xmalloc0(sizeof(*j));
    *j = (struct hook_job) {
        .dir = xstrdup(dir), .e = e, .pool = xstrdup(info->pool),
        .desktop = xstrdup(info->desktop), .domain = xstrdup(info->domain),
        .user = xstrdup(info->user), .session = xstrdup(info->session),
        .detail = xstrdup(info->detail), .timeout = timeout_sec,
    };
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &attr, hook_thread, j);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        log_warning_errno(r, "Cannot start the %s hook", hook_event_to_string(e));
        hook_thread(j); /* runs inline as a last resort, and frees */
    }
}
