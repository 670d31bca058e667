/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone-tool.c - instant clones step by step for bench/instant.sh
 *
 *   clone-tool setup PREFIX [--zero-free]
 *                                    workspace + parent (boot, save); with
 *                                    the guest's free memory zeroed first
 *   clone-tool clones PREFIX N [--copy] [--nic-first] [--settle SEC]
 *                    [--parallel P]  N clones (P at a time; default all at
 *                                    once) until all are ready,
 *                                    their overlays' size after SEC s of
 *                                    running (default 10), then wiped
 *   clone-tool relogout PREFIX ROUNDS [--overlap|--successor]
 *                                    one clone, then ROUNDS times: wipe
 *                                    (destroy, delete overlay) and clone
 *                                    again; --overlap: the new clone under
 *                                    a second name while the old one is
 *                                    destroyed; --successor: the new clone
 *                                    was restored paused ahead of need
 *   clone-tool teardown PREFIX       remove everything named PREFIX*
 *
 * Figures are printed as "key value" lines (seconds, bytes); lines that
 * start with '#' are for people. Uses clone-lib.h, so clones are made the
 * way test-clone.c checks them. Exit status 0 or 1.
 */
#include "config.h"

#include "clone-lib.h"
#include "log.h"

static const char *
srcdir(void)
{
    return getenv("DP_SRCDIR") ? getenv("DP_SRCDIR") : TEST_SRCDIR;
}

static int
cmd_setup(const char *prefix, bool zero_free)
{
    _cleanup_free_ char *err = NULL;
    struct ic_env e;
    double boot = 0, save = 0;
    int r;

    r = ic_env_setup(&e, srcdir(), prefix, &err);
    if (r >= 0)
        r = ic_parent_build_full(&e, zero_free, &boot, &save, &err);
    if (r < 0) {
        fprintf(stderr, "clone-tool setup: %s\n", strempty(err));
        ic_env_done(&e);
        return 1;
    }
    printf("parent_boot_s %.3f\nparent_save_s %.3f\nimage_bytes %" PRIu64 "\n", boot, save,
           e.img.size);
    ic_env_done(&e);
    return 0;
}

static uint64_t
disk_bytes(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (uint64_t) st.st_blocks * 512u : 0;
}

static int
cmd_clones(const char *prefix, unsigned n, bool copy, bool nic_first, unsigned settle,
           unsigned parallel)
{
    _cleanup_free_ char *err = NULL;
    _cleanup_free_ struct ic_clone *c = NULL;
    _cleanup_free_ uint64_t *after_restore = NULL;
    struct ic_env e;
    double all, sum_restore = 0, sum_agent = 0, sum_identity = 0, sum_cpu = 0;
    int status = 0;

    if (ic_env_attach(&e, srcdir(), prefix, &err) < 0) {
        fprintf(stderr, "clone-tool clones: %s\n", strempty(err));
        ic_env_done(&e);
        return 1;
    }
    c = xmalloc0(n * sizeof(*c));
    after_restore = xmalloc0(n * sizeof(*after_restore));
    for (unsigned i = 0; i < n; i++) {
        ic_clone_init(&c[i], &e, i);
        c[i].feed = copy ? HV_CLONE_FEED_COPY : HV_CLONE_FEED_SPLICE;
        c[i].split = true;
        c[i].nic_first = nic_first;
    }
    all = ic_clones_make_parallel(c, n, parallel);
    for (unsigned i = 0; i < n; i++)
        if (c[i].r >= 0)
            sum_cpu += ic_qemu_cpu(c[i].name);
    for (unsigned i = 0; i < n; i++) {
        if (c[i].r < 0) {
            fprintf(stderr, "clone-tool clones: %s: %s\n", c[i].name, strempty(c[i].err));
            status = 1;
            continue;
        }
        after_restore[i] = disk_bytes(c[i].overlay);
        printf("# %s: overlay %.3f xml %.3f restore %.3f (open %.3f header %.3f stream %.3f) "
               "agent %.3f nic %.3f time %.3f hostname %.3f ready %.3f\n", c[i].name,
               c[i].t_overlay, c[i].t_xml, c[i].t_restore, ic_sec(c[i].stats.open_usec),
               ic_sec(c[i].stats.head_usec), ic_sec(c[i].stats.stream_usec), c[i].t_agent,
               c[i].t_nic, c[i].t_time, c[i].t_host, c[i].t_ready);
        sum_restore += c[i].t_restore;
        sum_agent += c[i].t_agent;
        sum_identity += c[i].t_nic + c[i].t_time + c[i].t_host;
    }
    printf("ready_all_s %.3f\nmean_restore_s %.3f\nmean_agent_s %.3f\nmean_identity_s %.3f\n"
           "qemu_cpu_s %.3f\n", all, sum_restore / n, sum_agent / n, sum_identity / n,
           sum_cpu / n);
    if (status == 0 && settle > 0) {
        uint64_t a = 0, b = 0;

        sleep(settle);
        for (unsigned i = 0; i < n; i++) {
            a += after_restore[i];
            b += disk_bytes(c[i].overlay);
        }
        printf("overlay_bytes_after_restore %" PRIu64 "\noverlay_bytes_after_settle %" PRIu64
               "\n", a / n, b / n);
    }
    for (unsigned i = 0; i < n; i++) {
        (void) ic_clone_wipe(&c[i]);
        ic_clone_done(&c[i]);
    }
    ic_env_done(&e);
    return status;
}

static void *
wipe_thread(void *arg)
{
    (void) ic_clone_wipe(arg);
    return NULL;
}

/* Logout to ready, ROUNDS times. Sequential: destroy the clone, delete its
 * overlay, make it again under the same name. OVERLAP: the next clone
 * takes the other of two names and is made while the old one is destroyed
 * on another thread (the daemon would then keep a generation per
 * desktop). */
/* Logout to ready with a successor restored paused ahead of need (its
 * NIC attached): the old clone is destroyed on another thread while the
 * successor is resumed and gets its clock and host name; the next
 * successor is then made off the clock. */
static int
cmd_relogout_successor(struct ic_env *e, unsigned rounds)
{
    struct ic_clone c[2];
    unsigned cur = 0;
    int status = 0;

    ic_clone_init(&c[0], e, 900);
    ic_clone_init(&c[1], e, 901);
    c[0].split = c[1].split = true;
    ic_clone_make(&c[0]);
    if (c[0].r >= 0)
        ic_clone_prepare_paused(&c[1]);
    for (unsigned i = 0; c[0].r >= 0 && c[1].r >= 0 && i < rounds; i++) {
        unsigned next = 1 - cur;
        uint64_t t0;
        pthread_t t;

        sleep(1);
        t0 = now_usec();
        if (pthread_create(&t, NULL, wipe_thread, &c[cur]) != 0)
            abort();
        ic_clone_activate(&c[next]);
        printf("logout_ready_s %.3f\n", ic_sec(now_usec() - t0));
        pthread_join(t, NULL);
        if (c[next].r < 0)
            break;
        printf("# round %u: resume..ready %.3f agent %.3f time %.3f hostname %.3f "
               "(made ahead: restore %.3f nic %.3f)\n", i, c[next].t_ready, c[next].t_agent,
               c[next].t_time, c[next].t_host, c[next].t_restore, c[next].t_nic);
        free(c[cur].uuid);
        c[cur].uuid = ic_uuid();
        ic_clone_prepare_paused(&c[cur]);
        cur = next;
    }
    for (unsigned i = 0; i < 2; i++) {
        if (c[i].r < 0) {
            fprintf(stderr, "clone-tool relogout: %s\n", strempty(c[i].err));
            status = 1;
        }
        (void) ic_clone_wipe(&c[i]);
        ic_clone_done(&c[i]);
    }
    return status;
}

static int
cmd_relogout(const char *prefix, unsigned rounds, bool overlap, bool successor)
{
    _cleanup_free_ char *err = NULL;
    struct ic_env e;
    struct ic_clone c[2];
    unsigned cur = 0;
    int status = 0;

    if (ic_env_attach(&e, srcdir(), prefix, &err) < 0) {
        fprintf(stderr, "clone-tool relogout: %s\n", strempty(err));
        ic_env_done(&e);
        return 1;
    }
    if (successor) {
        status = cmd_relogout_successor(&e, rounds);
        ic_env_done(&e);
        return status;
    }
    ic_clone_init(&c[0], &e, 900);
    ic_clone_init(&c[1], &e, 901);
    c[0].split = c[1].split = true;
    ic_clone_make(&c[0]);
    for (unsigned i = 0; c[cur].r >= 0 && i < rounds; i++) {
        unsigned next = overlap ? 1 - cur : cur;
        uint64_t t0;
        double wipe = 0;
        pthread_t t;

        sleep(1);
        t0 = now_usec();
        if (overlap) {
            if (pthread_create(&t, NULL, wipe_thread, &c[cur]) != 0)
                abort();
        } else {
            if (ic_clone_wipe(&c[cur]) < 0) {
                c[cur].r = -EIO;
                break;
            }
            wipe = ic_sec(now_usec() - t0);
        }
        ic_clone_make(&c[next]);
        printf("logout_ready_s %.3f\n", ic_sec(now_usec() - t0));
        if (overlap)
            pthread_join(t, NULL);
        cur = next;
        if (c[cur].r < 0)
            break;
        printf("# round %u: wipe %.3f overlay %.3f restore %.3f agent %.3f nic %.3f "
               "time %.3f hostname %.3f\n", i, wipe, c[cur].t_overlay, c[cur].t_restore,
               c[cur].t_agent, c[cur].t_nic, c[cur].t_time, c[cur].t_host);
    }
    if (c[cur].r < 0) {
        fprintf(stderr, "clone-tool relogout: %s\n", strempty(c[cur].err));
        status = 1;
    }
    for (unsigned i = 0; i < 2; i++) {
        (void) ic_clone_wipe(&c[i]);
        ic_clone_done(&c[i]);
    }
    ic_env_done(&e);
    return status;
}

static int
cmd_teardown(const char *prefix)
{
    _cleanup_free_ char *err = NULL;
    struct ic_env e;

    (void) ic_env_attach(&e, srcdir(), prefix, &err);
    ic_env_teardown(&e);
    ic_env_done(&e);
    return 0;
}

int
main(int argc, char **argv)
{
    unsigned n = 0, settle = 10, parallel = 0;
    bool copy = false, nic_first = false, overlap = false, successor = false;

    log_set_level(getenv("DP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
    if (argc < 3 || strncmp(argv[2], "ic-", 3) != 0) {
        fprintf(stderr, "usage: clone-tool setup|clones|relogout|teardown ic-PREFIX ...\n");
        return 2;
    }
    if (streq(argv[1], "setup"))
        return cmd_setup(argv[2], argc > 3 && streq(argv[3], "--zero-free"));
    if (streq(argv[1], "teardown"))
        return cmd_teardown(argv[2]);
    if (argc < 4 || safe_atou(argv[3], &n) < 0 || n == 0 || n > 64) {
        fprintf(stderr, "clone-tool: a count from 1 to 64 is needed\n");
        return 2;
    }
    for (int i = 4; i < argc; i++) {
        if (streq(argv[i], "--copy"))
            copy = true;
        else if (streq(argv[i], "--nic-first"))
            nic_first = true;
        else if (streq(argv[i], "--overlap"))
            overlap = true;
        else if (streq(argv[i], "--successor"))
            successor = true;
        else if (streq(argv[i], "--settle") && i + 1 < argc &&
                 safe_atou(argv[i + 1], &settle) >= 0)
            i++;
        else if (streq(argv[i], "--parallel") && i + 1 < argc &&
                 safe_atou(argv[i + 1], &parallel) >= 0)
            i++;
        else {
            fprintf(stderr, "clone-tool: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (streq(argv[1], "clones"))
        return cmd_clones(argv[2], n, copy, nic_first, settle, parallel);
    if (streq(argv[1], "relogout"))
        return cmd_relogout(argv[2], n, overlap, successor);
    fprintf(stderr, "clone-tool: unknown command '%s'\n", argv[1]);
    return 2;
}
