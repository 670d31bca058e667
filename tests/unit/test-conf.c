/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-conf.c - configuration defaults, conf_set(), config files
 *
 * DESIGN
 *   Checks the key table through the public API: defaults, parsing and
 *   range checks of every kind of key, the file format (comments, blank
 *   lines, quotes, "FILE:LINE:" errors) and the derived directories.
 *   Config files are written to one temporary directory under /tmp,
 *   removed at the end. Run under valgrind to prove conf_done() frees all.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-conf-XXXXXX";
static unsigned file_counter;

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(struct conf *, conf_done, conf_donep);

/* Writes TEXT to a new file in tmpdir; returns its path (free it). */
static char *
write_conf(const char *text)
{
    char *path = xasprintf("%s/deskpoold-%u.conf", tmpdir, ++file_counter);

    if (write_file_atomic(path, text, strlen(text), 0600) < 0)
        abort();
    return path;
}

TEST(defaults)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;

    conf_init(&c);
    ASSERT_STREQ(c.uri, "qemu:///system");
    ASSERT_STREQ(c.instance, "deskpool");
    ASSERT_STREQ(c.log_level, "info");
    ASSERT_STREQ(c.images_dir, "");
    ASSERT_STREQ(c.storage_dir, "");
    ASSERT_STREQ(c.listen, "");
    ASSERT_STREQ(c.virt_type, "auto");
    ASSERT_STREQ(c.state_dir, ""); /* derived from the instance by conf_finalize() */
    ASSERT_STREQ(c.socket, "");
    ASSERT_STREQ(c.storage_pool, "");
    ASSERT_EQ(c.max_concurrent, 4);
    ASSERT_EQ(c.boot_timeout, 120);
    ASSERT_EQ(c.max_boot_failures, 3);
    ASSERT_EQ(c.reconcile_interval, 5);
    ASSERT_EQ(c.boot_delay, 10);
    ASSERT_EQ(c.virt_probe_timeout, 15);
}

TEST(set_unknown_key)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *msg = NULL;

    conf_init(&c);
    ASSERT_ERROR(conf_set(&c, "max_concurent", "4", &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "'max_concurent'"));
}

TEST(set_numbers)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_set(&c, "max_concurrent", "16", &msg));
    ASSERT_EQ(c.max_concurrent, 16);
    ASSERT_OK(conf_set(&c, "max_concurrent", "1", &msg));
    ASSERT_OK(conf_set(&c, "max_concurrent", "256", &msg));
    ASSERT_EQ(c.max_concurrent, 256);
    ASSERT_NULL(msg);

    /* bad numbers */
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "four", &msg), EINVAL);
    ASSERT_NOT_NULL(strstr(msg, "max_concurrent"));
    ASSERT_NOT_NULL(strstr(msg, "'four'"));
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "-1", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "5m", &msg), EINVAL);
    free(msg);
    msg = NULL;

    /* out of range: the message gives the range */
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "0", &msg), ERANGE);
    ASSERT_NOT_NULL(strstr(msg, "between 1 and 256"));
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "257", &msg), ERANGE);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_concurrent", "99999999999", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_boot_failures", "0", &msg), ERANGE);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "max_boot_failures", "101", &msg), ERANGE);
    free(msg);
    msg = NULL;

    /* a refused value leaves the old one */
    ASSERT_EQ(c.max_concurrent, 256);
    ASSERT_EQ(c.max_boot_failures, 3);
}

TEST(set_durations)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_set(&c, "boot_timeout", "5m", &msg));
    ASSERT_EQ(c.boot_timeout, 300);
    ASSERT_OK(conf_set(&c, "boot_timeout", "90s", &msg));
    ASSERT_EQ(c.boot_timeout, 90);
    ASSERT_OK(conf_set(&c, "boot_timeout", "2h", &msg));
    ASSERT_EQ(c.boot_timeout, 7200);
    ASSERT_OK(conf_set(&c, "boot_timeout", "1d", &msg));
    ASSERT_EQ(c.boot_timeout, 86400);
    ASSERT_OK(conf_set(&c, "reconcile_interval", "30", &msg));
    ASSERT_EQ(c.reconcile_interval, 30);
    ASSERT_OK(conf_set(&c, "boot_delay", "0", &msg));
    ASSERT_EQ(c.boot_delay, 0);
    ASSERT_NULL(msg);

    ASSERT_ERROR(conf_set(&c, "boot_timeout", "2d", &msg), ERANGE);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "boot_timeout", "0", &msg), ERANGE);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "reconcile_interval", "5x", &msg), EINVAL);
    ASSERT_NOT_NULL(strstr(msg, "duration"));
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "reconcile_interval", "2h", &msg), ERANGE);
    free(msg);
    msg = NULL;
    ASSERT_EQ(c.boot_timeout, 86400);
    ASSERT_EQ(c.reconcile_interval, 30);
}

TEST(set_strings)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *huge = xmalloc0(5000);
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_set(&c, "uri", "qemu:///session", &msg));
    ASSERT_STREQ(c.uri, "qemu:///session");
    ASSERT_OK(conf_set(&c, "listen", "127.0.0.1:8080", &msg));
    ASSERT_STREQ(c.listen, "127.0.0.1:8080");

    /* log levels */
    ASSERT_OK(conf_set(&c, "log_level", "debug", &msg));
    ASSERT_STREQ(c.log_level, "debug");
    ASSERT_OK(conf_set(&c, "log_level", "error", &msg));
    ASSERT_OK(conf_set(&c, "log_level", "warning", &msg));
    ASSERT_OK(conf_set(&c, "log_level", "notice", &msg));
    ASSERT_NULL(msg);
    ASSERT_ERROR(conf_set(&c, "log_level", "verbose", &msg), EINVAL);
    ASSERT_NOT_NULL(strstr(msg, "'verbose'"));
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "log_level", "DEBUG", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "log_level", "", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_STREQ(c.log_level, "notice");

    /* the instance name prefixes domains and volumes */
    ASSERT_OK(conf_set(&c, "instance", "lab-1", &msg));
    ASSERT_STREQ(c.instance, "lab-1");
    ASSERT_ERROR(conf_set(&c, "instance", "Lab", &msg), EINVAL);
    ASSERT_NOT_NULL(strstr(msg, "'Lab'"));
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "instance", "a/b", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(conf_set(&c, "instance", "", &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_STREQ(c.instance, "lab-1");

    /* the gateway's base URL: deskpoold appends /desktop?ticket=... */
    ASSERT_STREQ(c.console_gateway_url, "");
    ASSERT_OK(conf_set(&c, "console_gateway_url", "https://gw.example.org:6443", &msg));
    ASSERT_STREQ(c.console_gateway_url, "https://gw.example.org:6443");
    ASSERT_OK(conf_set(&c, "console_gateway_url", "http://10.0.0.1/vdi", &msg));
    ASSERT_OK(conf_set(&c, "console_gateway_url", "", &msg));
    ASSERT_NULL(msg);
    {
        static const char *const bad[] = {
            "gw.example.org", "ftp://gw", "https://", "https:///x", "https://gw/",
            "https://gw/?a=1", "https://gw#x", "https://g w", "https://gw\"x",
            "javascript:alert(1)", "https://gw/<script>",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
            ASSERT_ERROR(conf_set(&c, "console_gateway_url", bad[i], &msg), EINVAL);
            ASSERT_NOT_NULL(strstr(msg, "console_gateway_url"));
            free(msg);
            msg = NULL;
        }
    }
    ASSERT_STREQ(c.console_gateway_url, "");

    /* over-long strings */
    memset(huge, 'x', 4999);
    ASSERT_ERROR(conf_set(&c, "state_dir", huge, &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_STREQ(c.state_dir, "");
}

TEST(load_file)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *path = write_conf(
        "# deskpoold.conf\n"
        "\n"
        "uri = qemu:///session\n"
        "   # an indented comment\n"
        "\t\n"
        "max_concurrent=8\n"
        "  boot_timeout   =   5m  \n"
        "instance = \"lab\"\n"
        "listen = \"127.0.0.1:9000\"\n"
        "state_dir = \"/srv/deskpool state\"\n"
        "log_file = \"\"\n"
        "templates_dir = /a=b\n"
        "log_level = debug\r\n"
        "reconcile_interval = 10");
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_load_file(&c, path, &msg));
    ASSERT_NULL(msg);
    ASSERT_STREQ(c.uri, "qemu:///session");
    ASSERT_EQ(c.max_concurrent, 8);
    ASSERT_EQ(c.boot_timeout, 300);
    ASSERT_STREQ(c.instance, "lab");
    ASSERT_STREQ(c.listen, "127.0.0.1:9000");
    ASSERT_STREQ(c.state_dir, "/srv/deskpool state");
    ASSERT_STREQ(c.log_file, "");
    ASSERT_STREQ(c.templates_dir, "/a=b");
    ASSERT_STREQ(c.log_level, "debug");
    ASSERT_EQ(c.reconcile_interval, 10);
    /* untouched keys keep their defaults */
    ASSERT_EQ(c.max_boot_failures, 3);
}

TEST(load_empty_file)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *path = write_conf("");
    _cleanup_free_ char *path2 = write_conf("\n\n# only comments\n");
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_load_file(&c, path, &msg));
    ASSERT_OK(conf_load_file(&c, path2, &msg));
    ASSERT_NULL(msg);
    ASSERT_EQ(c.max_concurrent, 4);
}

static int
check_bad_file(const char *text, unsigned line, const char *needle)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *path = write_conf(text);
    _cleanup_free_ char *msg = NULL, *prefix = NULL;
    int r;

    conf_init(&c);
    r = conf_load_file(cp, path, &msg);
    if (r != -EINVAL && r != -ERANGE) {
        fprintf(stderr, "  conf_load_file returned %d\n", r);
        return -1;
    }
    prefix = xasprintf("%s:%u: ", path, line);
    if (!msg || strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, needle)) {
        fprintf(stderr, "  message '%s', expected '%s...%s...'\n", msg ? msg : "(null)",
                prefix, needle);
        return -1;
    }
    return 0;
}

TEST(load_bad_lines)
{
    ASSERT_OK(check_bad_file("# c\n\nuri = x\nthis is not a setting\nmax_concurrent = 2\n", 4,
                             "key = value"));
    ASSERT_OK(check_bad_file("\n\n\n\n\nnope = 1\n", 6, "'nope'"));
    ASSERT_OK(check_bad_file("max_concurrent = 1000\n", 1, "between 1 and 256"));
    ASSERT_OK(check_bad_file("# a\nlog_level = loud\n", 2, "'loud'"));
    ASSERT_OK(check_bad_file("boot_timeout = soon", 1, "duration"));
    ASSERT_OK(check_bad_file("= 5\n", 1, "''"));
}

TEST(load_stops_at_first_bad_line)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *path = write_conf("max_concurrent = 7\nbogus\nmax_concurrent = 9\n");
    _cleanup_free_ char *msg = NULL;

    conf_init(&c);
    ASSERT_ERROR(conf_load_file(&c, path, &msg), EINVAL);
    ASSERT_EQ(c.max_concurrent, 7);
}

TEST(load_missing_file)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *path = xasprintf("%s/does-not-exist.conf", tmpdir);
    _cleanup_free_ char *msg = NULL;

    conf_init(&c);
    ASSERT_ERROR(conf_load_file(&c, path, &msg), ENOENT);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, path));
}

TEST(finalize)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_set(&c, "state_dir", "/srv/dp", &msg));
    conf_finalize(&c);
    ASSERT_STREQ(c.images_dir, "/srv/dp/images");
    ASSERT_STREQ(c.storage_dir, "/srv/dp/overlays");
    /* twice changes nothing */
    conf_finalize(&c);
    ASSERT_STREQ(c.images_dir, "/srv/dp/images");
    conf_done(&c);

    /* explicit values are kept */
    conf_init(&c);
    ASSERT_OK(conf_set(&c, "state_dir", "/srv/dp", &msg));
    ASSERT_OK(conf_set(&c, "images_dir", "/data/golden", &msg));
    ASSERT_OK(conf_set(&c, "storage_dir", "/fast/overlays", &msg));
    conf_finalize(&c);
    ASSERT_STREQ(c.images_dir, "/data/golden");
    ASSERT_STREQ(c.storage_dir, "/fast/overlays");
    conf_done(&c);

    /* only one given */
    conf_init(&c);
    ASSERT_OK(conf_set(&c, "images_dir", "/data/golden", &msg));
    conf_finalize(&c);
    ASSERT_STREQ(c.images_dir, "/data/golden");
    ASSERT_STREQ(c.storage_dir, DP_LOCALSTATE_DIR "/overlays");
    ASSERT_NULL(msg);
    conf_done(&c);

    /* the default instance keeps the plain names... */
    conf_init(&c);
    conf_finalize(&c);
    ASSERT_STREQ(c.state_dir, DP_LOCALSTATE_DIR);
    ASSERT_STREQ(c.socket, DP_RUNSTATE_DIR "/deskpoold.sock");
    ASSERT_STREQ(c.storage_pool, "deskpool");
    conf_done(&c);
    /* ...and --instance alone gives a second daemon its own of each */
    conf_init(&c);
    ASSERT_OK(conf_set(&c, "instance", "lab2", &msg));
    conf_finalize(&c);
    ASSERT_STREQ(c.state_dir, DP_LOCALSTATE_DIR "-lab2");
    ASSERT_STREQ(c.socket, DP_RUNSTATE_DIR "-lab2/deskpoold.sock");
    ASSERT_STREQ(c.storage_pool, "lab2");
    ASSERT_STREQ(c.storage_dir, DP_LOCALSTATE_DIR "-lab2/overlays");
    ASSERT_STREQ(c.images_dir, DP_LOCALSTATE_DIR "-lab2/images");
    ASSERT_NULL(msg);
}

TEST(get_string)
{
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    _cleanup_free_ char *uri = NULL, *mc = NULL, *bt = NULL, *empty = NULL;
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_set(&c, "boot_timeout", "5m", &msg));
    uri = conf_get_string(&c, "uri");
    mc = conf_get_string(&c, "max_concurrent");
    bt = conf_get_string(&c, "boot_timeout");
    empty = conf_get_string(&c, "listen");
    ASSERT_STREQ(uri, "qemu:///system");
    ASSERT_STREQ(mc, "4");
    ASSERT_STREQ(bt, "300");
    ASSERT_STREQ(empty, "");
    ASSERT_NULL(conf_get_string(&c, "nope"));
    ASSERT_NULL(conf_get_string(&c, ""));
    /* a copy, not the field */
    ASSERT_TRUE(uri != c.uri);
}

TEST(reloadable)
{
    ASSERT_FALSE(conf_key_reloadable("uri"));
    ASSERT_FALSE(conf_key_reloadable("instance"));
    ASSERT_FALSE(conf_key_reloadable("state_dir"));
    ASSERT_FALSE(conf_key_reloadable("socket"));
    ASSERT_TRUE(conf_key_reloadable("max_concurrent"));
    ASSERT_TRUE(conf_key_reloadable("log_level"));
    ASSERT_TRUE(conf_key_reloadable("boot_timeout"));
    ASSERT_FALSE(conf_key_reloadable("nope"));
    ASSERT_FALSE(conf_key_reloadable(""));
}

TEST(key_iteration)
{
    static const char *const want[] = {
        "uri", "instance", "state_dir", "images_dir", "storage_pool", "storage_dir",
        "socket", "listen", "tokens_file", "templates_dir", "hooks_dir", "log_level",
        "log_file", "virt_type", "max_concurrent", "boot_timeout", "boot_delay",
        "max_boot_failures", "host_failure_retry", "reconcile_interval", "virt_probe_timeout",
        "console_listen", "console_host", "console_password", "console_gateway_url",
        "acquire_timeout", "console_ttl", "console_ticket_ttl", "hook_timeout",
        "data_disk_size", "max_connections",
        "max_connections_per_address", "request_timeout", "session_retention",
        "audit_retention", "host_lost_grace", "vcpus_per_cpu",
        "memory_overcommit", "host_max_starts", "libvirt_resync_interval", "ui_dir",
    };
    struct conf c;
    _cleanup_(conf_donep) struct conf *cp = &c;
    size_t n = conf_n_keys();

    /* every field of struct conf is a key, once */
    ASSERT_EQ(n, ELEMENTSOF(want));
    ASSERT_NULL(conf_key_name(n));
    ASSERT_NULL(conf_key_name((size_t) -1));
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        bool found = false;

        for (size_t j = 0; j < n; j++)
            if (streq(conf_key_name(j), want[i]))
                found = true;
        if (!found)
            fprintf(stderr, "  key '%s' missing\n", want[i]);
        ASSERT_TRUE(found);
    }

    /* every key reads back and can be set to what it reads */
    conf_init(&c);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *v = conf_get_string(&c, conf_key_name(i));
        _cleanup_free_ char *msg = NULL, *again = NULL;

        ASSERT_NOT_NULL(v);
        ASSERT_OK(conf_set(&c, conf_key_name(i), v, &msg));
        again = conf_get_string(&c, conf_key_name(i));
        ASSERT_STREQ(again, v);
    }
}

TEST(done_frees_and_clears)
{
    struct conf c;
    char *msg = NULL;

    conf_init(&c);
    ASSERT_OK(conf_set(&c, "uri", "test:///default", &msg));
    ASSERT_OK(conf_set(&c, "uri", "test:///default2", &msg));
    conf_finalize(&c);
    conf_done(&c);
    ASSERT_NULL(c.uri);
    ASSERT_NULL(c.images_dir);
    ASSERT_NULL(c.log_level);
    /* a second conf_done is harmless */
    conf_done(&c);
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

    RUN(defaults);
    RUN(set_unknown_key);
    RUN(set_numbers);
    RUN(set_durations);
    RUN(set_strings);
    RUN(load_file);
    RUN(load_empty_file);
    RUN(load_bad_lines);
    RUN(load_stops_at_first_bad_line);
    RUN(load_missing_file);
    RUN(finalize);
    RUN(get_string);
    RUN(reloadable);
    RUN(key_iteration);
    RUN(done_frees_and_clears);

    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TESTS_DONE();
}
