/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* deskpoold.c - the deskpool daemon
 *
 * DESIGN
 *   Startup, in order: configuration (defaults, file, flags), the state
 *   directory and its lock (one daemon per state directory), the SQLite
 *   store, libvirt (event loop, connection, overlay storage pool), the
 *   domain type (probed once per state directory and URI, kept in the
 *   store), the reconciler, and last the REST server: a client that can
 *   connect finds a daemon that works. Without --foreground the daemon
 *   forks and the parent exits only when startup finished (0) or failed
 *   (1, with the reason on stderr), so scripts can rely on the socket.
 *   Signals are taken synchronously by the main thread (sigwait):
 *   SIGTERM/SIGINT stop cleanly, SIGHUP reloads the reloadable keys.
 *   State survives kill -9: everything that matters is in the store
 *   before it happens in libvirt (see actions.c, reconcile.c).
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "api.h"
#include "conf.h"
#include "console.h"
#include "hv.h"
#include "image-import.h"
#include "log.h"
#include "orphans.h"
#include "reconcile.h"
#include "store.h"
#include "util.h"

/* How long startup waits for the domain type probe before it serves anyway. */
#define PROBE_WAIT_SEC 2
/* A failed probe is tried again after this long, doubling up to the max. */
#define PROBE_RETRY_MIN_SEC 15
#define PROBE_RETRY_MAX_SEC 600

static bool arg_foreground;
static bool arg_reprobe;
static bool arg_adopt;
static bool arg_purge_orphans;
static char *arg_config;

struct daemon {
    struct conf conf;
    struct store *store;
    struct hv *hv;
    struct reconciler *reconciler;
    struct api *api;
    char *virt_type;         /* NULL: probe_thread() finds it */
    pthread_t probe;
    bool probe_started;
    atomic_bool stopping;
    int lock_fd;
};

static void
help(void)
{
    printf("Usage: deskpoold [OPTIONS]\n\n"
           "Keeps pools of virtual desktops ready on a libvirt host.\n\n"
           "  -f --foreground          Stay in the foreground, log to stderr\n"
           "  -c --config FILE         Configuration file (default %s/deskpoold.conf)\n"
           "     --uri URI             libvirt URI (default qemu:///system)\n"
           "     --state-dir DIR       State directory (store, images)\n"
           "     --socket PATH         Unix socket of the REST API\n"
           "     --listen ADDR:PORT    Also serve the REST API on TCP (bearer tokens)\n"
           "     --instance NAME       Name of this daemon; prefixes its domains\n"
           "     --templates-dir DIR   Domain templates\n"
           "     --log-level LEVEL     error, warning, notice, info, debug\n"
           "     --set KEY=VALUE       Set any configuration key (see docs/config.md)\n"
           "     --reprobe             Probe the domain type again (KVM or TCG)\n"
           "     --adopt               Start on a new or empty store although libvirt holds\n"
           "                           objects of this instance (they are left alone)\n"
           "     --purge-orphans       Remove every domain, volume and saved parent image of\n"
           "                           this instance that no row names, data volumes included\n"
           "     --print-config        Print the effective configuration and exit\n"
           "  -h --help                Show this help\n"
           "     --version             Show the version\n",
           DP_SYSCONF_DIR);
}

enum {
    ARG_URI = 0x100,
    ARG_STATE_DIR,
    ARG_SOCKET,
    ARG_LISTEN,
    ARG_INSTANCE,
    ARG_TEMPLATES_DIR,
    ARG_LOG_LEVEL,
    ARG_SET,
    ARG_REPROBE,
    ARG_ADOPT,
    ARG_PURGE_ORPHANS,
    ARG_PRINT_CONFIG,
    ARG_VERSION,
};

/* Returns 1 to go on, 0 to exit successfully, negative errno on bad usage. */
static int
parse_argv(int argc, char **argv, struct conf *c)
{
    static const struct option options[] = {
        { "foreground", no_argument, NULL, 'f' },
        { "config", required_argument, NULL, 'c' },
        { "uri", required_argument, NULL, ARG_URI },
        { "state-dir", required_argument, NULL, ARG_STATE_DIR },
        { "socket", required_argument, NULL, ARG_SOCKET },
        { "listen", required_argument, NULL, ARG_LISTEN },
        { "instance", required_argument, NULL, ARG_INSTANCE },
        { "templates-dir", required_argument, NULL, ARG_TEMPLATES_DIR },
        { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
        { "set", required_argument, NULL, ARG_SET },
        { "reprobe", no_argument, NULL, ARG_REPROBE },
        { "adopt", no_argument, NULL, ARG_ADOPT },
        { "purge-orphans", no_argument, NULL, ARG_PURGE_ORPHANS },
        { "print-config", no_argument, NULL, ARG_PRINT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        {}
    };
    /* flags are applied after the file: remember them first */
    const char *keys[64];
    char *vals[64];
    size_t n = 0;
    bool print = false;
    int opt, r = 1;

    while ((opt = getopt_long(argc, argv, "fc:h", options, NULL)) >= 0) {
        const char *key = NULL;

        switch (opt) {
        case 'f':
            arg_foreground = true;
            continue;
        case 'c':
            free(arg_config);
            arg_config = xstrdup(optarg);
            continue;
        case 'h':
            help();
            r = 0;
            goto done;
        case ARG_VERSION:
            printf("deskpoold %s\n", PACKAGE_VERSION);
            r = 0;
            goto done;
        case ARG_REPROBE:
            arg_reprobe = true;
            continue;
        case ARG_ADOPT:
            arg_adopt = true;
            continue;
        case ARG_PURGE_ORPHANS:
            arg_purge_orphans = true;
            continue;
        case ARG_PRINT_CONFIG:
            print = true;
            continue;
        case ARG_URI: key = "uri"; break;
        case ARG_STATE_DIR: key = "state_dir"; break;
        case ARG_SOCKET: key = "socket"; break;
        case ARG_LISTEN: key = "listen"; break;
        case ARG_INSTANCE: key = "instance"; break;
        case ARG_TEMPLATES_DIR: key = "templates_dir"; break;
        case ARG_LOG_LEVEL: key = "log_level"; break;
        case ARG_SET: {
            char *eq = strchr(optarg, '=');

            if (!eq) {
                fprintf(stderr, "deskpoold: --set expects KEY=VALUE, not '%s'.\n", optarg);
                r = -EINVAL;
                goto done;
            }
            *eq = '\0';
            key = optarg;
            optarg = eq + 1;
            break;
        }
        default:
            r = -EINVAL;
            goto done;
        }
        if (n == ELEMENTSOF(keys)) {
            fprintf(stderr, "deskpoold: too many options.\n");
            r = -E2BIG;
            goto done;
        }
        keys[n] = key;
        vals[n++] = xstrdup(optarg);
    }
    if (optind < argc) {
        fprintf(stderr, "deskpoold: unexpected argument '%s'.\n", argv[optind]);
        r = -EINVAL;
        goto done;
    }

    {
        const char *path = arg_config ? arg_config : DP_SYSCONF_DIR "/deskpoold.conf";
        _cleanup_free_ char *err = NULL;

        if (arg_config || access(path, F_OK) == 0) {
            r = conf_load_file(c, path, &err);
            if (r < 0) {
                fprintf(stderr, "deskpoold: %s\n", err);
                goto done;
            }
            r = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *err = NULL;

        if (conf_set(c, keys[i], vals[i], &err) < 0) {
            fprintf(stderr, "deskpoold: %s\n", err);
            r = -EINVAL;
            goto done;
        }
    }
    conf_finalize(c);
    if (print) {
        for (size_t i = 0; i < conf_n_keys(); i++) {
            _cleanup_free_ char *v = conf_get_string(c, conf_key_name(i));

            printf("%s = %s\n", conf_key_name(i), v);
        }
        r = 0;
    }
done:
    for (size_t i = 0; i < n; i++)
        free(vals[i]);
    return r;
}

/* Forks; the parent waits for the child's word on a pipe. Returns the
 * write end in the child; exits in the parent. */
static int
daemonize(void)
{
    int p[2];
    pid_t pid;
    char c = 1;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            c = 1;
        _exit(c == 0 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0)
        return -errno;
    return p[1];
}

static void
daemon_notify(int *fd, bool ok)
{
    char c = ok ? 0 : 1;
    int null;

    if (*fd < 0)
        return;
    (void) !write(*fd, &c, 1);
    close(*fd);
    *fd = -1;
    if (!ok)
        return;
    /* from now on, only the log file speaks */
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

static int
lock_state_dir(const char *dir, int *ret_fd)
{
    _cleanup_free_ char *path = xasprintf("%s/deskpoold.lock", dir);
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return log_error_errno(errno, "Cannot open '%s'", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = -errno;

        close(fd);
        if (r == -EWOULDBLOCK)
            return log_error_errno(EBUSY, "Another deskpoold uses the state directory '%s'",
                                   dir);
        return log_error_errno(r, "Cannot lock '%s'", path);
    }
    *ret_fd = fd;
    return 0;
}

/* --- permissions (issue 11 #14) ---
 * The state directory holds the store: user names, clients, session ids.
 * It is 0700, or 0711 when images_dir or storage_dir lies below it: QEMU
 * (as libvirt-qemu) must search it to open golden images and overlays,
 * and libvirt refuses to start a domain under a 0700 one (measured, see
 * docs/internals/images.md). 0711 lists nothing, and every file deskpoold
 * makes there is 0600 (umask 0077, set first thing in main()); files an
 * older deskpool made are tightened at startup, with a log line. */

static bool
path_is_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static mode_t
state_dir_mode(const struct conf *c)
{
    if (path_is_below(c->images_dir, c->state_dir) ||
        path_is_below(c->storage_dir, c->state_dir))
        return 0711;
    return 0700;
}

/* Makes the state directory and its missing parents with the state
 * directory's mode, whatever the umask. 0 or a negative errno. */
static int
state_dir_make(const struct conf *c)
{
    _cleanup_free_ char *p = xstrdup(c->state_dir);
    mode_t mode = state_dir_mode(c);
    size_t len = strlen(p);

    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        p[i] = '\0';
        if (mkdir(p, mode) >= 0) {
            if (chmod(p, mode) < 0)
                return -errno;
        } else if (errno != EEXIST) {
            return -errno;
        }
        if (i < len)
            p[i] = '/';
    }
    return 0;
}

/* Makes the state directory, gives it its mode and takes group and other
 * access off the files deskpoold keeps in it. Logs what it changes and
 * why it failed; returns 0 or a negative errno. */
static int
state_dir_secure(const struct conf *c)
{
    static const char *const files[] = {
        "deskpool.db", "deskpool.db-wal", "deskpool.db-shm", "deskpool.db-journal",
        "deskpoold.lock", "deskpoold.log",
    };
    mode_t mode = state_dir_mode(c);
    struct stat st;
    int r;

    r = state_dir_make(c);
    if (r < 0)
        return log_error_errno(r, "Cannot create state directory '%s'", c->state_dir);
    if (stat(c->state_dir, &st) < 0)
        return log_error_errno(errno, "Cannot read state directory '%s'", c->state_dir);
    if ((st.st_mode & 07777) != mode) {
        if (chmod(c->state_dir, mode) < 0)
            return log_error_errno(errno, "Cannot change the mode of state directory '%s'",
                                   c->state_dir);
        log_notice("State directory '%s' had mode %04o, now %04o", c->state_dir,
                   (unsigned) (st.st_mode & 07777), (unsigned) mode);
    }
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", c->state_dir, files[i]);

        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0077) == 0)
            continue;
        if (chmod(path, st.st_mode & 0700) < 0)
            return log_error_errno(errno, "Cannot take group and other access off '%s'", path);
        log_notice("'%s' had mode %04o, now %04o", path, (unsigned) (st.st_mode & 07777),
                   (unsigned) (st.st_mode & 0700));
    }
    return 0;
}

/* STATE_DIR/parents holds the parents' saved images (a guest's memory,
 * secrets included) and the FIFOs instant clones are restored through:
 * ours, 0700 (hv-clone.c refuses a FIFO directory anyone else could
 * enter). A FIFO left by a daemon that died mid-restore is released
 * (libvirtd may be blocked opening it) and removed; no restore runs yet.
 * Logs what it changes; 0 or a negative errno. */
static int
parents_dir_prepare(const struct conf *c)
{
    _cleanup_free_ char *dir = xasprintf("%s/parents", c->state_dir);
    unsigned fifos = 0;
    struct stat st;
    int r;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return log_error_errno(errno, "Cannot create '%s'", dir);
    if (lstat(dir, &st) < 0)
        return log_error_errno(errno, "Cannot read '%s'", dir);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return log_error_errno(EPERM, "'%s' must be a directory owned by uid %u", dir,
                               (unsigned) geteuid());
    if ((st.st_mode & 07777) != 0700) {
        if (chmod(dir, 0700) < 0)
            return log_error_errno(errno, "Cannot change the mode of '%s'", dir);
        log_notice("'%s' had mode %04o, now 0700", dir, (unsigned) (st.st_mode & 07777));
    }
    r = hv_clone_fifos_cleanup(dir, &fifos);
    if (r < 0)
        return log_error_errno(r, "Cannot read '%s'", dir);
    if (fifos > 0)
        log_notice("Removed %u restore FIFO(s) an interrupted instant clone left in '%s'",
                   fifos, dir);
    return 0;
}

/* The domain type: from the configuration, else from the store (probed
 * before for this URI). Otherwise it stays NULL and probe_start() finds
 * it in the background. */
static void
resolve_virt_type(struct daemon *d)
{
    _cleanup_free_ char *key = xasprintf("virt_type:%s", d->conf.uri);

    if (!streq(d->conf.virt_type, "auto")) {
        d->virt_type = xstrdup(d->conf.virt_type);
        log_notice("Domain type '%s' (from the configuration)", d->virt_type);
    } else if (!arg_reprobe && store_meta_get(d->store, key, &d->virt_type) >= 0) {
        log_notice("Domain type '%s' (probed before; --reprobe to probe again)", d->virt_type);
    }
}

/* The probe boots a tiny guest per candidate type (hv-probe.c): seconds on
 * a sound host, minutes where libvirt is slow. It runs on its own thread
 * so the daemon serves at once; desktops wait for its answer, health says
 * "probing" meanwhile. */
static void *
probe_thread(void *userdata)
{
    struct daemon *d = userdata;
    _cleanup_free_ char *key = xasprintf("virt_type:%s", d->conf.uri), *err = NULL;
    _cleanup_free_ char *type = NULL;
    uint64_t start = now_usec();
    unsigned wait = PROBE_RETRY_MIN_SEC;
    int r;

    for (;;) {
        _cleanup_free_ char *why = NULL;

        free(err);
        err = NULL;
        r = hv_detect_virt_type(d->hv, d->conf.storage_pool, d->conf.instance,
                                d->conf.virt_probe_timeout, &d->stopping, &type, &err);
        if (r >= 0 || r == -ECANCELED)
            break;
        /* the host may be short of space or libvirt away for a while: no
         * desktop can be built meanwhile, so try again, less often */
        why = xasprintf("No domain type runs guests on '%s': %s", d->conf.uri, strempty(err));
        log_error("%s; no desktop can be built; probing again in %u s", why, wait);
        reconciler_set_virt_type_failed(d->reconciler, why);
        for (unsigned i = 0; i < wait * 10 && !atomic_load(&d->stopping); i++)
            usleep(100 * 1000);
        if (atomic_load(&d->stopping))
            return NULL;
        wait = MIN(wait * 2, PROBE_RETRY_MAX_SEC);
    }
    if (r == -ECANCELED)
        return NULL;
    log_notice("Domain type '%s' probed in %.1f s", type, (double) (now_usec() - start) / 1e6);
    r = store_meta_set(d->store, key, type);
    if (r < 0)
        log_warning_errno(r, "Cannot remember the domain type, ignoring");
    reconciler_set_virt_type(d->reconciler, type);
    return NULL;
}

static int
probe_start(struct daemon *d)
{
    int r;

    if (d->virt_type)
        return 0;
    log_notice("Probing which domain type runs guests on '%s', in the background",
               d->conf.uri);
    r = -pthread_create(&d->probe, NULL, probe_thread, d);
    if (r < 0)
        return log_error_errno(r, "Cannot start the domain type probe");
    d->probe_started = true;
    /* a host that answers at once (the test driver, a quick TCG probe) is
     * ready when the socket serves; any other goes on probing meanwhile */
    {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += PROBE_WAIT_SEC;
        if (pthread_timedjoin_np(d->probe, NULL, &ts) == 0)
            d->probe_started = false;
    }
    return 0;
}

/* A new or empty store next to libvirt objects of this instance is what a
 * restored backup, a wrong --state-dir or a deleted deskpool.db look like:
 * refuse to start (touching nothing) unless the operator said --adopt or
 * --purge-orphans. See orphans.c. */
static int
check_store_matches_host(struct daemon *d)
{
    _cleanup_free_ char *adopted = NULL;
    struct pool **pools = NULL;
    struct desk **desks = NULL;
    size_t n_pools = 0, n_desks = 0;
    struct orphans o = { 0 };
    int r;

    r = store_pool_list(d->store, &pools, &n_pools);
    if (r >= 0)
        r = store_desk_list(d->store, NULL, &desks, &n_desks);
    pool_list_free(pools, n_pools);
    desk_list_free(desks, n_desks);
    if (r < 0)
        return log_error_errno(r, "Cannot read the state store");
    if (n_pools > 0 || n_desks > 0 || arg_purge_orphans ||
        store_meta_get(d->store, "adopted_at", &adopted) >= 0)
        return 0;
    r = orphans_scan(d->hv, d->conf.instance, d->conf.storage_pool, NULL, 0, &o);
    if (r < 0)
        return log_error_errno(r, "Cannot list the domains and volumes of instance '%s'",
                               d->conf.instance);
    if (o.n_domains + o.n_volumes == 0) {
        orphans_done(&o);
        return 0;
    }
    if (arg_adopt) {
        _cleanup_free_ char *now = format_timestamp((int64_t) (now_realtime_usec() / 1000000));

        log_warning("Adopting a new store next to %zu domains and %zu volumes of instance "
                    "'%s' (--adopt): they are left alone and reported as orphans",
                    o.n_domains, o.n_volumes, d->conf.instance);
        orphans_done(&o);
        r = store_meta_set(d->store, "adopted_at", now);
        return r < 0 ? log_error_errno(r, "Cannot write the state store") : 0;
    }
    log_error("The state store in '%s' is new or empty, but libvirt at '%s' holds %zu domains "
              "and %zu volumes of instance '%s' (such as '%s'). That is what a restored "
              "backup, a wrong --state-dir or a deleted deskpool.db look like, and those "
              "volumes may hold users' data: nothing was touched. Point --state-dir at this "
              "instance's store, or start once with --adopt (leave them alone) or "
              "--purge-orphans (remove them, data volumes included)",
              d->conf.state_dir, d->conf.uri, o.n_domains, o.n_volumes, d->conf.instance,
              o.n_domains > 0 ? o.domains[0] : o.volumes[0]);
    orphans_done(&o);
    return -ENOTEMPTY;
}

static void
on_libvirt_event(void *userdata)
{
    reconciler_wake(userdata);
}

static int
daemon_start(struct daemon *d)
{
    _cleanup_free_ char *db = NULL, *err = NULL, *inst = NULL;
    int r;

    r = state_dir_secure(&d->conf);
    if (r < 0)
        return r;
    r = lock_state_dir(d->conf.state_dir, &d->lock_fd);
    if (r < 0)
        return r;
    r = parents_dir_prepare(&d->conf);
    if (r < 0)
        return r;

    db = xasprintf("%s/deskpool.db", d->conf.state_dir);
    r = store_open(db, &d->store, &err);
    if (r == -EBADMSG) {
        log_error("%s", strempty(err)); /* "... is corrupt ...": strerror adds nothing */
        return r;
    }
    if (r < 0)
        return log_error_errno(r, "Cannot open the state store '%s': %s", db, strempty(err));
    /* the instance name is part of every domain name: it may not change */
    if (store_meta_get(d->store, "instance", &inst) >= 0) {
        if (!streq(inst, d->conf.instance))
            return log_error_errno(EINVAL, "State directory '%s' belongs to instance '%s', "
                                   "not '%s'", d->conf.state_dir, inst, d->conf.instance);
    } else {
        r = store_meta_set(d->store, "instance", d->conf.instance);
        if (r < 0)
            return log_error_errno(r, "Cannot write the state store");
    }
    /* temporaries of imports that died with the last daemon (issue 11
     * #5); nothing imports before the REST server starts */
    {
        unsigned removed = 0, tightened = 0;

        r = image_import_cleanup(d->conf.images_dir, &removed, &tightened);
        if (r < 0)
            log_warning_errno(r, "Cannot tidy the images directory '%s', ignoring",
                              d->conf.images_dir);
        if (r >= 0 && removed > 0)
            log_notice("Removed %u temporary file(s) of interrupted imports from '%s'",
                       removed, d->conf.images_dir);
        if (r >= 0 && tightened > 0)
            log_notice("Took group and other access off %u entries of '%s'", tightened,
                       d->conf.images_dir);
    }

    r = hv_event_loop_start();
    if (r < 0)
        return log_error_errno(r, "Cannot start the libvirt event loop");
    r = hv_open(d->conf.uri, &d->hv, &err);
    if (r < 0)
        return log_error_errno(r, "Cannot connect to libvirt at '%s': %s", d->conf.uri,
                               strempty(err));
    r = hv_storage_pool_ensure(d->hv, d->conf.storage_pool, d->conf.storage_dir, &err);
    if (r == -EEXIST)
        return log_error_errno(r, "Cannot set up storage pool '%s' at '%s': %s Is another "
                               "deskpoold using it? Give each daemon on a host its own name "
                               "with --instance NAME (its storage pool, state directory and "
                               "socket follow from it).", d->conf.storage_pool,
                               d->conf.storage_dir, strempty(err));
    if (r < 0)
        return log_error_errno(r, "Cannot set up storage pool '%s' at '%s': %s",
                               d->conf.storage_pool, d->conf.storage_dir, strempty(err));
    r = check_store_matches_host(d);
    if (r < 0)
        return r;
    resolve_virt_type(d);

    r = reconciler_new(&d->conf, d->store, d->hv, d->virt_type, &d->reconciler);
    if (r < 0)
        return log_error_errno(r, "Cannot create the reconciler");
    if (arg_purge_orphans)
        reconciler_purge_orphans(d->reconciler);
    r = hv_set_event_callback(d->hv, on_libvirt_event, d->reconciler);
    if (r < 0)
        log_warning_errno(r, "Cannot subscribe to libvirt events; relying on periodic passes");
    r = reconciler_start(d->reconciler);
    if (r < 0)
        return log_error_errno(r, "Cannot start the reconciler");
    r = probe_start(d);
    if (r < 0)
        return r;

    {
        struct api_deps deps = {
            .store = d->store, .hv = d->hv, .reconciler = d->reconciler,
            .instance = d->conf.instance, .uri = d->conf.uri,
            .storage_pool = d->conf.storage_pool,
            .images_dir = d->conf.images_dir,
            .ui_dir = d->conf.ui_dir,
        };

        r = api_start(&deps, &d->conf, &d->api, &err);
        if (r < 0)
            return log_error_errno(r, "Cannot start the REST server: %s", strempty(err));
    }
    log_notice("deskpoold %s started: instance '%s', libvirt '%s', domain type '%s', "
               "socket '%s'%s%s", PACKAGE_VERSION, d->conf.instance, d->conf.uri,
               d->virt_type ? d->virt_type : "(probing)", d->conf.socket,
               streq(d->conf.listen, "") ? "" : ", tcp ", d->conf.listen);
    return 0;
}

static void
daemon_stop(struct daemon *d)
{
    atomic_store(&d->stopping, true);
    if (d->probe_started) {
        /* within 0.1 s plus the libvirt call in flight; it removes its guest */
        pthread_join(d->probe, NULL);
        d->probe_started = false;
    }
    if (d->reconciler)
        reconciler_cancel_waiters(d->reconciler);
    d->api = api_stop(d->api);
    if (d->hv)
        (void) hv_set_event_callback(d->hv, NULL, NULL);
    d->reconciler = reconciler_free(d->reconciler);
    d->hv = hv_unref(d->hv);
    console_cache_free();
    d->store = store_close(d->store);
    free(d->virt_type);
    d->virt_type = NULL;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    d->lock_fd = -1;
}

static void
daemon_reload(struct daemon *d)
{
    _cleanup_free_ char *err = NULL;
    struct conf nc;
    const char *path = arg_config ? arg_config : DP_SYSCONF_DIR "/deskpoold.conf";
    bool have_file = arg_config || access(path, F_OK) == 0;

    /* Start from the running values (flags included) and read the file
     * over them: what the file sets wins for the reloadable keys, a
     * changed key that needs a restart is reported and left alone.
     * Without a file there is nothing to re-read but the tokens. */
    conf_copy(&nc, &d->conf);
    if (have_file && conf_load_file(&nc, path, &err) < 0) {
        log_error("Reload refused, configuration unchanged: %s", err);
        conf_done(&nc);
        return;
    }
    for (size_t i = 0; i < conf_n_keys() && have_file; i++) {
        const char *k = conf_key_name(i);
        _cleanup_free_ char *a = conf_get_string(&d->conf, k), *b = conf_get_string(&nc, k);

        if (streq(a, b))
            continue;
        if (!conf_key_reloadable(k)) {
            log_warning("Key '%s' changed in '%s' but needs a restart, ignoring", k, path);
            continue;
        }
        (void) conf_set(&d->conf, k, b, &err);
        log_notice("Reloaded '%s' = '%s'", k, b);
    }
    conf_done(&nc);
    log_set_level((enum log_level) log_level_from_string(d->conf.log_level));
    reconciler_reload(d->reconciler, &d->conf);
    free(err);
    err = NULL;
    if (api_reload(d->api, &d->conf, &err) < 0)
        log_error("Tokens not reloaded: %s", err);
    log_notice("Configuration reloaded");
}

int
main(int argc, char **argv)
{
    struct daemon d = { .lock_fd = -1 };
    sigset_t mask;
    int notify_fd = -1, sig = 0, r;

    conf_init(&d.conf);
    r = parse_argv(argc, argv, &d.conf);
    if (r <= 0) {
        conf_done(&d.conf);
        free(arg_config);
        return r < 0 ? 2 : 0;
    }
    log_set_level((enum log_level) log_level_from_string(d.conf.log_level));
    /* What deskpoold creates is its own: files 0600, directories 0700.
     * Wider modes are given explicitly (state_dir_make(), the images
     * directory in image-import.c). Issue 11 #14. */
    umask(0077);

    if (!arg_foreground) {
        _cleanup_free_ char *logfile = streq(d.conf.log_file, "")
                                           ? xasprintf("%s/deskpoold.log", d.conf.state_dir)
                                           : xstrdup(d.conf.log_file);

        (void) state_dir_make(&d.conf);
        notify_fd = daemonize();
        if (notify_fd < 0) {
            fprintf(stderr, "deskpoold: cannot fork: %s\n", strerror(-notify_fd));
            return 1;
        }
        if (log_open_file(logfile) < 0)
            fprintf(stderr, "deskpoold: cannot open log file '%s', logging to stderr\n",
                    logfile);
    } else if (!streq(d.conf.log_file, "")) {
        (void) log_open_file(d.conf.log_file);
    }

    /* every thread inherits this mask: signals come to sigwait() only */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    r = daemon_start(&d);
    if (r < 0) {
        if (notify_fd >= 0) {
            /* tell the waiting parent why on the terminal it still has */
            fprintf(stderr, "deskpoold: startup failed, see the log in '%s'\n",
                    d.conf.state_dir);
        }
        daemon_notify(&notify_fd, false);
        daemon_stop(&d);
        conf_done(&d.conf);
        free(arg_config);
        return 1;
    }
    daemon_notify(&notify_fd, true);

    for (;;) {
        if (sigwait(&mask, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            daemon_reload(&d);
            continue;
        }
        log_notice("Received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    daemon_stop(&d);
    log_notice("deskpoold stopped");
    conf_done(&d.conf);
    free(arg_config);
    return 0;
}
