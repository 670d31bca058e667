/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hook.c - site scripts run on desktop events
 *
 * DESIGN
 *   Like libvirt's and git's hooks: an executable named after the event in
 *   the hooks directory, run with a timeout, the event as one JSON object
 *   on stdin and DESKPOOL_* variables in a clean environment. A non-zero
 *   exit of a pre-* hook vetoes the action (the caller decides what a veto
 *   means and logs it with the hook's output); post-* hooks only report.
 *   The hook's path is fixed (DIR/EVENT); nothing of the event reaches a
 *   shell or the command line. Every text value the hook is given, in its
 *   environment and on stdin, and its output as hook_run() returns it,
 *   is escaped with text_escape() (name.c): no control character reaches
 *   a hook's variables, the log or a desktop's last_error. hook_run() does
 *   not log; hook_run_logged() and hook_run_detached() log the outcome
 *   once, for their callers.
 *
 *   Processes. The hook's exit status decides, not the end of its output:
 *   a hook that exits while a child it started still holds its stdout has
 *   finished. And a hook must not leave anything behind, not even what
 *   called setsid() or forked twice. So hook_run() forks a supervisor (a
 *   copy of the daemon that only makes async-signal-safe system calls: the
 *   daemon has threads), which
 *     - makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every
 *       process the hook starts that loses its parent becomes the
 *       supervisor's child, wherever it moved its session or group;
 *     - forks the hook: a new session (setsid), every signal's disposition
 *       back to SIG_DFL (the daemon ignores SIGPIPE, and ignored
 *       dispositions survive exec), an empty signal mask, the pipes on
 *       0/1/2 and every other descriptor closed (close_range(), with a
 *       loop as the fallback): no daemon fd reaches the hook, close-on-exec
 *       or not;
 *     - waits, on a pidfd, for the hook to exit or for hook_run() to close
 *       the control pipe (timeout, or the daemon died), SIGKILLs the
 *       hook's session, reports the hook's wait status on the status pipe,
 *       then SIGKILLs and reaps its own children (found in /proc by parent
 *       or by the hook's session id) until it has none, and exits.
 *   hook_run() meanwhile feeds stdin and reads output (at most
 *   HOOK_OUTPUT_MAX bytes are kept; the rest is read and dropped so the
 *   hook never blocks on a full pipe). When the status arrives it drains
 *   what the pipe holds without waiting for an EOF that a grandchild could
 *   hold back, and reaps the supervisor.
 *   Why a subreaper and not a cgroup: a cgroup v2 group would also hold
 *   what escapes by other means, but needs a writable, delegated cgroup2
 *   tree, which deskpoold (no systemd unit of its own, sometimes in a
 *   container, sometimes on a v1 host) cannot count on. A subreaper needs
 *   nothing but Linux 3.4 and /proc; it cannot catch work handed to
 *   another service (at, systemd-run, ssh): that is not the hook's child.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>

#include <pthread.h>

#include "hook.h"
#include "json-util.h"
#include "log.h"
#include "name.h"
#include "util.h"

/* How long the supervisor goes on killing what the hook left, at most. */
#define HOOK_REAP_ROUNDS 500
#define HOOK_REAP_ROUND_NSEC (10 * 1000 * 1000L)

static const char *const hook_event_names[_HOOK_EVENT_MAX] = {
    [HOOK_PRE_PROVISION] = "pre-provision",
    [HOOK_POST_PROVISION] = "post-provision",
    [HOOK_POST_ASSIGN] = "post-assign",
    [HOOK_POST_RELEASE] = "post-release",
    [HOOK_PRE_REBASE] = "pre-rebase",
    [HOOK_POST_REBASE] = "post-rebase",
    [HOOK_DESKTOP_FAILED] = "desktop-failed",
    [HOOK_PRE_FREEZE] = "pre-freeze",
    [HOOK_POST_CLONE] = "post-clone",
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
    return e == HOOK_PRE_PROVISION || e == HOOK_PRE_REBASE || e == HOOK_PRE_FREEZE;
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

/* ---- the supervisor and the hook's child side ----------------------------
 * Everything from here to hook_run() runs in a child forked from a
 * threaded process: async-signal-safe calls only (no malloc, no stdio, no
 * locks), errors handled by leaving.
 */

/* What the supervisor tells hook_run() on the status pipe: one message
 * per write, smaller than PIPE_BUF, so each arrives whole. */
enum hook_msg_kind {
    HOOK_MSG_EXEC_FAILED,   /* value: the errno of execve() or fork() */
    HOOK_MSG_EXITED,        /* value: the hook's exit status */
    HOOK_MSG_KILLED,        /* value: the signal that ended the hook */
};

struct hook_msg {
    int kind;
    int value;
};

struct hook_spawn {
    const char *path;
    char **argv;
    char **envp;
    int in_fd;          /* the hook's stdin (read end) */
    int out_fd;         /* the hook's stdout and stderr (write end) */
    int status_fd;      /* messages to hook_run() (write end) */
    int ctl_fd;         /* from hook_run(): EOF means kill now (read end) */
};

static void
send_msg(int fd, int kind, int value)
{
    struct hook_msg m = { .kind = kind, .value = value };

    while (write(fd, &m, sizeof(m)) < 0 && errno == EINTR)
        ;
}

/* Closes descriptors LO..HI (HI may be ~0U). Cannot fail. */
static void
close_fds_between(unsigned lo, unsigned hi)
{
    struct rlimit rl;
    unsigned top = 65536;

    if (lo > hi)
        return;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
#endif
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t) top)
        top = (unsigned) rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < top; fd++)
        (void) close((int) fd);
}

/* Closes every descriptor from 3 up but the N in KEEP (each >= 3). */
static void
close_fds_but(const int *keep, size_t n)
{
    int k[4];
    unsigned lo = 3;

    if (n > ELEMENTSOF(k))
        n = ELEMENTSOF(k);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;

        for (; j > 0 && k[j - 1] > keep[i]; j--)
            k[j] = k[j - 1];
        k[j] = keep[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 3 || (unsigned) k[i] < lo)
            continue;
        close_fds_between(lo, (unsigned) k[i] - 1);
        lo = (unsigned) k[i] + 1;
    }
    close_fds_between(lo, ~0U);
}

/* FD moved above stderr (it may be 0-2 when the daemon runs with a closed
 * standard stream), or -1. */
static int
fd_above_stdio(int fd)
{
    if (fd > STDERR_FILENO)
        return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

/* Puts every signal's disposition back to SIG_DFL, including glibc's
 * reserved 32 and 33 that sigaction() refuses (and that a hook built on
 * another libc may use): a zeroed kernel sigaction is SIG_DFL with no
 * flags and an empty mask, whatever the architecture's layout. */
static void
reset_signal_dispositions(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        unsigned long ksa[8] = { 0 };

#ifdef SYS_rt_sigaction
        if (syscall(SYS_rt_sigaction, sig, ksa, NULL, (size_t) (NSIG - 1) / 8) == 0)
            continue;
#endif
        (void) ksa;
        (void) sigaction(sig, &dfl, NULL);
    }
}

/* The hook's side of the fork: a new session, default signals, the pipes
 * on 0/1/2, nothing else open, exec. Reports a failure on STATUS_FD
 * (close-on-exec: it closes itself on success) and exits 127. */
static _noreturn_ void
hook_exec_child(const struct hook_spawn *sp)
{
    sigset_t none;
    int in_fd = fd_above_stdio(sp->in_fd), out_fd = fd_above_stdio(sp->out_fd);
    int status_fd = fd_above_stdio(sp->status_fd);

    if (in_fd < 0 || out_fd < 0 || status_fd < 0)
        _exit(127);
    /* what was ignored stays ignored across exec: put every signal back */
    reset_signal_dispositions();
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
    /* the daemon's umask (0077) is for its own state, not a site script's files */
    (void) umask(022);
    if (setsid() < 0 || dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0) {
        send_msg(status_fd, HOOK_MSG_EXEC_FAILED, errno);
        _exit(127);
    }
    /* STATUS_FD is close-on-exec (pipe2(), F_DUPFD_CLOEXEC): gone once
     * execve() succeeds */
    close_fds_but(&status_fd, 1);
    execve(sp->path, sp->argv, sp->envp);
    send_msg(status_fd, HOOK_MSG_EXEC_FAILED, errno);
    _exit(127);
}

/* Parses the decimal at *P (after any spaces), advancing *P past it. */
static long
parse_stat_field(const char **p, const char *end)
{
    long v = 0;
    bool neg = false;

    while (*p < end && **p == ' ')
        (*p)++;
    if (*p < end && **p == '-') {
        neg = true;
        (*p)++;
    }
    while (*p < end && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return neg ? -v : v;
}

/* Reads the parent and the session of process NAME (a /proc entry) from
 * PROC_FD. Returns false when it is gone or not a process. */
static bool
proc_parent_session(int proc_fd, const char *name, pid_t *ret_ppid, pid_t *ret_sid)
{
    char path[64], buf[512];
    const char *p, *end;
    size_t len = strlen(name);
    ssize_t k;
    int fd;

    if (len == 0 || len + sizeof("/stat") > sizeof(path))
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    memcpy(path, name, len);
    memcpy(path + len, "/stat", sizeof("/stat"));
    fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    k = read(fd, buf, sizeof(buf));
    (void) close(fd);
    if (k <= 0)
        return false;
    /* "PID (COMM) STATE PPID PGRP SESSION ...": COMM may hold ')' */
    end = buf + k;
    p = memrchr(buf, ')', (size_t) k);
    if (!p || end - p < 4)
        return false;
    p += 2;                         /* ") " */
    p++;                            /* the state letter */
    *ret_ppid = (pid_t) parse_stat_field(&p, end);
    (void) parse_stat_field(&p, end); /* process group */
    *ret_sid = (pid_t) parse_stat_field(&p, end);
    return true;
}

/* SIGKILLs process NAME (a /proc entry, PID) of the hook's session HOOK,
 * not our child: through a pidfd, after checking again that it is still
 * in that session, so a pid reused in between is never hit. */
static void
kill_session_member(int proc_fd, const char *name, pid_t pid, pid_t hook)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
    pid_t ppid, sid;
    int fd = (int) syscall(SYS_pidfd_open, pid, 0);

    if (fd >= 0) {
        if (proc_parent_session(proc_fd, name, &ppid, &sid) && sid == hook)
            (void) syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
        (void) close(fd);
        return;
    }
    if (errno != ENOSYS)
        return; /* gone already */
#endif
    (void) proc_fd;
    (void) name;
    (void) hook;
    (void) kill(pid, SIGKILL);
}

/* SIGKILLs every process whose parent is this one or whose session is the
 * hook's (HOOK: its pid, session and group id), but the hook itself, and
 * reaps those of them that are our children and dead already. Returns how
 * many it found, zombies included: 0 means nothing is left. */
static unsigned
kill_leftovers(pid_t hook)
{
    char buf[4096] __attribute__((aligned(8)));
    pid_t self = getpid();
    unsigned found = 0;
    int proc_fd;
    ssize_t n;

    proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return 0;
    while ((n = getdents64(proc_fd, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *) (buf + off);
            const char *q = d->d_name;
            pid_t ppid, sid, pid;
            int st;

            off += d->d_reclen;
            if (!proc_parent_session(proc_fd, d->d_name, &ppid, &sid))
                continue;
            if (ppid != self && sid != hook)
                continue;
            pid = (pid_t) parse_stat_field(&q, q + strlen(q));
            if (pid <= 1 || pid == self || pid == hook)
                continue;
            if (ppid == self) {
                /* ours until reaped: the pid cannot have been reused */
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, &st, WNOHANG);
            } else {
                kill_session_member(proc_fd, d->d_name, pid, hook);
            }
            found++;
        }
    }
    (void) close(proc_fd);
    return found;
}

/* Kills and reaps all that is left of the hook HOOK, what was reparented
 * to us included, until nothing is (or, bounded, gives up: the rest goes
 * to init). The hook's own zombie is left for the caller: while it
 * exists, its pid, session and group id cannot be reused. */
static void
reap_leftovers(pid_t hook)
{
    struct timespec pause = { 0, HOOK_REAP_ROUND_NSEC };

    for (unsigned round = 0; round < HOOK_REAP_ROUNDS; round++) {
        (void) kill(-hook, SIGKILL);
        if (kill_leftovers(hook) == 0)
            return;
        (void) nanosleep(&pause, NULL);
    }
}

/* True when child PID has exited; it stays a zombie (its pid and session
 * id cannot be reused) until waited for. */
static bool
child_exited(pid_t pid)
{
    siginfo_t si = { .si_pid = 0 };

    if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno != EINTR;
    return si.si_pid == pid;
}

/* The supervisor: a subreaper that runs the hook, waits for its exit or
 * for the order to kill it, reports the wait status and leaves nothing
 * behind. Never returns. */
static _noreturn_ void
hook_supervise(const struct hook_spawn *sp)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    int keep[4] = { sp->in_fd, sp->out_fd, sp->status_fd, sp->ctl_fd };
    siginfo_t si = { .si_code = 0 };
    int pidfd = -1, status;
    pid_t pid;

    /* our own copies of the daemon's descriptors (its listening sockets,
     * its store, the other ends of these pipes) go: only the four stay */
    close_fds_but(keep, ELEMENTSOF(keep));
    (void) sigaction(SIGCHLD, &dfl, NULL); /* so that waitpid() sees children */
    (void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    pid = fork();
    if (pid < 0) {
        send_msg(sp->status_fd, HOOK_MSG_EXEC_FAILED, errno);
        _exit(1);
    }
    if (pid == 0)
        hook_exec_child(sp);
    (void) close(sp->in_fd);
    (void) close(sp->out_fd);

#ifdef SYS_pidfd_open
    pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
#endif
    for (;;) {
        struct pollfd p[2] = {
            { .fd = sp->ctl_fd, .events = POLLIN },
            { .fd = pidfd, .events = POLLIN },
        };

        if (child_exited(pid))
            break;
        if (poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 20) < 0 && errno != EINTR)
            break;
        if (p[0].revents != 0)
            break; /* the control pipe closed: kill now */
    }
    /* its group goes first, while the hook (or its zombie) holds the id */
    (void) kill(-pid, SIGKILL);
    (void) kill(pid, SIGKILL);
    while (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    if (si.si_code == CLD_EXITED)
        send_msg(sp->status_fd, HOOK_MSG_EXITED, si.si_status);
    else
        send_msg(sp->status_fd, HOOK_MSG_KILLED, si.si_status);
    (void) close(sp->status_fd);
    reap_leftovers(pid);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    _exit(0);
}

/* ---- the daemon's side ---------------------------------------------------- */

struct hook_io {
    int in_fd, out_fd, status_fd;
    const char *in_data;
    size_t in_len, in_off;
    char *out;              /* HOOK_OUTPUT_MAX bytes */
    size_t out_len;
    bool exited;            /* the supervisor reported the hook's end */
    bool success;           /* ... and it was exit status 0 */
    int exec_errno;         /* != 0: the hook could not be started */
};

static void
hook_io_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Reads what the output pipe holds now, keeping up to HOOK_OUTPUT_MAX
 * bytes and dropping the rest. Closes it at EOF. */
static void
hook_io_read_output(struct hook_io *io)
{
    for (;;) {
        char buf[4096];
        ssize_t k = read(io->out_fd, buf, sizeof(buf));

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        if (k <= 0) {
            hook_io_close(&io->out_fd); /* EOF: nothing holds it open any more */
            return;
        }
        if (io->out_len < HOOK_OUTPUT_MAX) {
            size_t take = MIN((size_t) k, HOOK_OUTPUT_MAX - io->out_len);

            memcpy(io->out + io->out_len, buf, take);
            io->out_len += take;
        }
    }
}

/* Reads one message from the supervisor. Returns 0, or -EIO when it went
 * away without reporting the hook's end. */
static int
hook_io_read_status(struct hook_io *io)
{
    struct hook_msg m;
    ssize_t k;

    do
        k = read(io->status_fd, &m, sizeof(m));
    while (k < 0 && errno == EINTR);
    if (k != (ssize_t) sizeof(m)) {
        hook_io_close(&io->status_fd);
        if (io->exec_errno != 0)
            io->exited = true; /* the supervisor could not fork */
        return io->exited ? 0 : -EIO;
    }
    if (m.kind == HOOK_MSG_EXEC_FAILED && io->exec_errno == 0) {
        io->exec_errno = m.value > 0 ? m.value : EIO;
    } else if (m.kind == HOOK_MSG_EXITED || m.kind == HOOK_MSG_KILLED) {
        io->exited = true;
        io->success = m.kind == HOOK_MSG_EXITED && m.value == 0;
    }
    return 0;
}

/* Feeds stdin (closing it when all is written, so the hook sees EOF) and
 * reads output until the supervisor reports the hook's exit, then drains
 * what the output pipe holds without waiting for its EOF (a grandchild
 * may keep it open). Returns 0 when the hook exited, -ETIMEDOUT when
 * DEADLINE (monotonic usec) passed first, another negative errno when
 * polling failed or the supervisor went away. */
static int
hook_io_run(struct hook_io *io, uint64_t deadline)
{
    while (!io->exited) {
        struct pollfd p[3] = {
            { .fd = io->status_fd, .events = POLLIN },
            { .fd = io->out_fd, .events = POLLIN },
            { .fd = io->in_fd, .events = POLLOUT },
        };
        uint64_t now = now_usec();
        int n, r;

        if (now >= deadline)
            return -ETIMEDOUT;
        n = poll(p, 3, (int) MIN((deadline - now) / 1000 + 1, (uint64_t) 1000));
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        if (io->in_fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t k = write_nosigpipe(io->in_fd, io->in_data + io->in_off,
                                        io->in_len - io->in_off);

            if (k > 0)
                io->in_off += (size_t) k;
            if ((k < 0 && errno != EAGAIN && errno != EINTR) || io->in_off == io->in_len)
                hook_io_close(&io->in_fd); /* all written, or the hook closed stdin */
        }
        if (io->out_fd >= 0 && p[1].revents != 0)
            hook_io_read_output(io);
        if (p[0].revents != 0) {
            r = hook_io_read_status(io);
            if (r < 0)
                return r;
        }
    }
    /* the hook is gone: take what it wrote, not what its children might */
    if (io->out_fd >= 0)
        hook_io_read_output(io);
    return 0;
}

int
hook_run(const char *dir, enum hook_event e, const struct hook_info *info,
         unsigned timeout_sec, char **ret_output)
{
    _cleanup_free_ char *path = NULL, *json = NULL, *raw = NULL, *out = NULL;
    char *envp[10] = { NULL };
    char *argv[3] = { NULL };
    int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
    int status_pipe[2] = { -1, -1 }, ctl_pipe[2] = { -1, -1 };
    struct hook_spawn sp;
    struct hook_io io;
    struct stat st;
    pid_t pid;
    int r, status;

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
    raw = xmalloc0(HOOK_OUTPUT_MAX + 1);

    if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 ||
        pipe2(status_pipe, O_CLOEXEC) < 0 || pipe2(ctl_pipe, O_CLOEXEC) < 0) {
        r = -errno;
        goto cleanup;
    }
    sp = (struct hook_spawn) {
        .path = path, .argv = argv, .envp = envp, .in_fd = in_pipe[0],
        .out_fd = out_pipe[1], .status_fd = status_pipe[1], .ctl_fd = ctl_pipe[0],
    };
    pid = fork();
    if (pid < 0) {
        r = -errno;
        goto cleanup;
    }
    if (pid == 0)
        hook_supervise(&sp);
    hook_io_close(&in_pipe[0]);
    hook_io_close(&out_pipe[1]);
    hook_io_close(&status_pipe[1]);
    hook_io_close(&ctl_pipe[0]);
    (void) fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    (void) fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);

    io = (struct hook_io) {
        .in_fd = TAKE_FD(in_pipe[1]), .out_fd = TAKE_FD(out_pipe[0]),
        .status_fd = TAKE_FD(status_pipe[0]), .in_data = json, .in_len = strlen(json),
        .out = raw,
    };
    r = hook_io_run(&io, now_usec() + (uint64_t) timeout_sec * 1000000ULL);
    /* closing the control pipe tells the supervisor to kill what is left,
     * if the hook is still running; then it reports and cleans up */
    hook_io_close(&ctl_pipe[1]);
    hook_io_close(&io.in_fd);
    while (io.status_fd >= 0)
        (void) hook_io_read_status(&io);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    hook_io_close(&io.out_fd);

    /* a trailing newline is the shell's habit, not part of the message */
    while (io.out_len > 0 && (raw[io.out_len - 1] == '\n' || raw[io.out_len - 1] == '\r'))
        io.out_len--;
    out = xmalloc0(HOOK_OUTPUT_MAX + 1);
    (void) text_escape_to(out, HOOK_OUTPUT_MAX + 1, raw, io.out_len);
    if (r == 0 && io.exec_errno != 0)
        r = -io.exec_errno;
    else if (r == 0 && !io.success)
        r = -ECANCELED;
    if (ret_output && io.exec_errno == 0)
        *ret_output = TAKE_PTR(out);

cleanup:
    for (int i = 0; i < 2; i++) {
        hook_io_close(&in_pipe[i]);
        hook_io_close(&out_pipe[i]);
        hook_io_close(&status_pipe[i]);
        hook_io_close(&ctl_pipe[i]);
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
