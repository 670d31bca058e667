/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-image.c - qcow2 checks and image import on real files
 *
 * DESIGN
 *   Real qcow2 files made by qemu-img (run with posix_spawnp, no shell)
 *   in one temporary directory under /tmp, removed at the end. Every check
 *   goes through image_import_file(), the one way a file gets in. Races
 *   are real: a thread flips a symlink or appends to the source while the
 *   imports run; alarm() turns a hang into a failure. qemu-img
 *   is a build dependency here: when it is missing the tests FAIL, they
 *   never skip. Hashes are checked against the known SHA-256 vectors and
 *   against sha256sum(1). No libvirt.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "digest.h"
#include "image-import.h"
#include "image.h"
#include "tests.h"
#include "util.h"

extern char **environ;

static char tmpdir[] = "/tmp/test-image-XXXXXX";

#define MIB (1024ULL * 1024ULL)

/* Runs ARGV (PATH lookup, no shell), stdout to OUT_PATH or /dev/null.
 * Returns its exit status, or a negative errno if it could not run. */
static int
run(const char *out_path, char *const argv[])
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int r, status;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path ? out_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        fprintf(stderr, "  cannot run %s: %s\n", argv[0], strerror(r));
        return -r;
    }
    if (waitpid(pid, &status, 0) < 0)
        return -errno;
    if (!WIFEXITED(status))
        return -ECHILD;
    if (WEXITSTATUS(status) != 0)
        fprintf(stderr, "  %s exited with %d\n", argv[0], WEXITSTATUS(status));
    return WEXITSTATUS(status);
}

static char *
tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

/* qemu-img create -f qcow2 [extra...] PATH SIZE */
static int
make_qcow2(const char *path, const char *size, const char *opt1, const char *opt2)
{
    char *argv[] = {
        (char *) "qemu-img", (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2",
        (char *) (opt1 ? opt1 : path), (char *) (opt1 ? opt2 : size),
        (char *) (opt1 ? path : NULL), (char *) size, NULL,
    };

    return run(NULL, argv);
}

TEST(digest_vectors)
{
    char hex[DIGEST_SHA256_HEX_LEN + 1], hex2[DIGEST_SHA256_HEX_LEN + 1];
    struct digest *d;

    digest_sha256_hex("abc", 3, hex);
    ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest_sha256_hex("", 0, hex);
    ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    digest_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    ASSERT_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* incremental in pieces = one shot */
    d = digest_new();
    ASSERT_NOT_NULL(d);
    digest_update(d, "abcdbcdecdefdefg", 16);
    digest_update(d, "", 0);
    digest_update(d, "efghfghighijhijkijkljklmklmnlmnomnopnopq", 40);
    digest_finish(d, hex2);
    ASSERT_STREQ(hex2, hex);
    ASSERT_NULL(digest_free(NULL));
}

/* A fresh directory under tmpdir for one test's imports. */
static char *
images_dir(const char *name)
{
    char *d = xasprintf("%s/%s", tmpdir, name);

    if (mkdir(d, 0755) < 0 && errno != EEXIST)
        fprintf(stderr, "  mkdir %s: %s\n", d, strerror(errno));
    return d;
}

/* Entries of DIR whose name starts with '.' but for "." and ".." (the
 * temporaries of an import), or -errno. */
static int
count_hidden(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -errno;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && !streq(e->d_name, ".") && !streq(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Imports SRC as DIR/NAME and returns what image_import_file() returned;
 * *RET_VSIZE is set on success, *RET_MSG always holds the message or NULL. */
static int
import_into(const char *dir, const char *name, const char *src, uint64_t *ret_vsize,
            char **ret_msg)
{
    _cleanup_free_ char *dst = xasprintf("%s/%s", dir, name);
    _cleanup_(image_import_done) struct image_import imp = {};
    int r;

    free(*ret_msg);
    *ret_msg = NULL;
    r = image_import_file(src, dst, &imp, ret_msg);
    if (r >= 0 && ret_vsize)
        *ret_vsize = imp.virtual_size;
    return r;
}

/* The backing file offset and size fields of the qcow2 header at PATH are
 * zero (and it is a qcow2 file): 1; else 0; -errno when unreadable. */
static int
has_no_backing(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char h[20];

    if (fd < 0)
        return -errno;
    if (pread(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h))
        return -EIO;
    if (memcmp(h, "QFI\xfb", 4) != 0)
        return 0;
    for (size_t i = 8; i < 20; i++)
        if (h[i] != 0)
            return 0;
    return 1;
}

TEST(check_real_qcow2)
{
    _cleanup_free_ char *path = tmp_path("real.qcow2"), *dir = images_dir("i-real");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 0;

    ASSERT_EQ(make_qcow2(path, "64M", NULL, NULL), 0);
    ASSERT_OK(import_into(dir, "real-v1.qcow2", path, &vsize, &msg));
    ASSERT_EQ(vsize, 64 * MIB);
    ASSERT_NULL(msg);
}

TEST(check_qcow2_v2)
{
    _cleanup_free_ char *path = tmp_path("v2.qcow2"), *dir = images_dir("i-v2");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 0;

    ASSERT_EQ(make_qcow2(path, "1G", "-o", "compat=0.10"), 0);
    ASSERT_OK(import_into(dir, "v2-v1.qcow2", path, &vsize, &msg));
    ASSERT_EQ(vsize, 1024 * MIB);
}

TEST(check_missing)
{
    _cleanup_free_ char *path = tmp_path("missing.qcow2"), *dir = images_dir("i-missing");
    _cleanup_free_ char *msg = NULL, *dst = xasprintf("%s/m-v1.qcow2", dir);
    uint64_t vsize = 7;

    ASSERT_ERROR(import_into(dir, "m-v1.qcow2", path, &vsize, &msg), ENOENT);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, path));
    ASSERT_EQ(vsize, 7);
    ASSERT_TRUE(access(dst, F_OK) < 0);
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(check_directory)
{
    _cleanup_free_ char *msg = NULL, *dir = images_dir("i-dir");
    uint64_t vsize = 7;

    ASSERT_ERROR(import_into(dir, "d-v1.qcow2", tmpdir, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "regular"));
    ASSERT_EQ(vsize, 7);
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(check_raw)
{
    _cleanup_free_ char *path = tmp_path("disk.raw"), *dir = images_dir("i-raw");
    _cleanup_free_ char *empty = tmp_path("empty");
    _cleanup_free_ char *magic_only = tmp_path("magic-only");
    _cleanup_free_ char *v3_short = tmp_path("v3-short");
    _cleanup_free_ char *msg = NULL;
    char *argv[] = {
        (char *) "qemu-img", (char *) "create", (char *) "-q", (char *) "-f", (char *) "raw",
        path, (char *) "8M", NULL,
    };
    char hdr[90] = "QFI\xfb\0\0\0\3";
    uint64_t vsize = 7;

    ASSERT_EQ(run(NULL, argv), 0);
    ASSERT_ERROR(import_into(dir, "r-v1.qcow2", path, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "not a qcow2"));

    ASSERT_OK(write_file_atomic(empty, "", 0, 0600));
    ASSERT_ERROR(import_into(dir, "r-v1.qcow2", empty, &vsize, &msg), EINVAL);

    /* the magic and nothing else: too short to be a header */
    ASSERT_OK(write_file_atomic(magic_only, "QFI\xfb\0\0\0\3", 8, 0600));
    ASSERT_ERROR(import_into(dir, "r-v1.qcow2", magic_only, &vsize, &msg), EINVAL);
    /* a version 3 header cut short of its feature bits */
    hdr[31] = 1;
    ASSERT_OK(write_file_atomic(v3_short, hdr, sizeof(hdr), 0600));
    ASSERT_ERROR(import_into(dir, "r-v1.qcow2", v3_short, &vsize, &msg), EINVAL);
    ASSERT_EQ(vsize, 7);
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(check_backing_refused)
{
    _cleanup_free_ char *base = tmp_path("base.qcow2");
    _cleanup_free_ char *top = tmp_path("top.qcow2"), *dir = images_dir("i-backing");
    _cleanup_free_ char *msg = NULL;
    char *argv[] = {
        (char *) "qemu-img", (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2",
        (char *) "-F", (char *) "qcow2", (char *) "-b", base, top, NULL,
    };
    uint64_t vsize = 7;

    ASSERT_EQ(make_qcow2(base, "64M", NULL, NULL), 0);
    ASSERT_EQ(run(NULL, argv), 0);
    ASSERT_ERROR(import_into(dir, "t-v1.qcow2", top, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "backing"));
    ASSERT_EQ(vsize, 7);
    /* the base alone is fine */
    ASSERT_OK(import_into(dir, "b-v1.qcow2", base, &vsize, &msg));
    ASSERT_EQ(vsize, 64 * MIB);
}

TEST(check_data_file_refused)
{
    _cleanup_free_ char *path = tmp_path("ext.qcow2"), *dir = images_dir("i-ext");
    _cleanup_free_ char *opt = NULL, *data = tmp_path("ext.data");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 7;

    opt = xasprintf("data_file=%s", data);
    ASSERT_EQ(make_qcow2(path, "16M", "-o", opt), 0);
    ASSERT_ERROR(import_into(dir, "e-v1.qcow2", path, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "external"));
    ASSERT_EQ(vsize, 7);
}

TEST(check_relative_refused)
{
    _cleanup_free_ char *msg = NULL, *dir = images_dir("i-rel");
    uint64_t vsize = 7;

    ASSERT_ERROR(import_into(dir, "x-v1.qcow2", "real.qcow2", &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "real.qcow2"));
    ASSERT_NOT_NULL(strstr(msg, "absolute"));
    ASSERT_ERROR(import_into(dir, "x-v1.qcow2", "", &vsize, &msg), EINVAL);
    ASSERT_ERROR(import_into(dir, "x-v1.qcow2", "./x/../real.qcow2", &vsize, &msg), EINVAL);
    /* and the destination must be a file name in a directory */
    ASSERT_ERROR(import_into(dir, "", "/dev/null", &vsize, &msg), EINVAL);
    ASSERT_EQ(vsize, 7);
}

/* sha256sum(1) of PATH, as 64 hex digits (free it), or NULL. */
static char *
sha256sum(const char *path)
{
    _cleanup_free_ char *out = tmp_path("sha256sum.out");
    _cleanup_free_ char *data = NULL;
    char *argv[] = { (char *) "sha256sum", (char *) path, NULL };

    if (run(out, argv) != 0 || read_full_file(out, 4096, &data, NULL) < 0)
        return NULL;
    if (strlen(data) < DIGEST_SHA256_HEX_LEN)
        return NULL;
    data[DIGEST_SHA256_HEX_LEN] = '\0';
    return TAKE_PTR(data);
}

TEST(import_copies)
{
    _cleanup_free_ char *src = tmp_path("golden.qcow2"), *dir = images_dir("i-copy");
    _cleanup_free_ char *dst = xasprintf("%s/golden-v1.qcow2", dir);
    _cleanup_free_ char *want_cmd = NULL, *a = NULL, *b = NULL, *msg = NULL;
    _cleanup_(image_import_done) struct image_import imp = {};
    char want[DIGEST_SHA256_HEX_LEN + 1];
    size_t alen = 0, blen = 0;
    uint64_t vsize = 0;
    struct stat st;

    ASSERT_EQ(make_qcow2(src, "64M", NULL, NULL), 0);
    ASSERT_OK(image_import_file(src, dst, &imp, &msg));
    ASSERT_NOT_NULL(imp.sha256);
    ASSERT_EQ(imp.virtual_size, 64 * MIB);
    ASSERT_FALSE(imp.replaced_leftover);

    /* writable until the store names it, then read-only for the owner */
    ASSERT_OK(stat(dst, &st));
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_mode & 07777, 0600);
    ASSERT_EQ(st.st_nlink, 1);
    ASSERT_OK(image_import_commit(dst));
    ASSERT_OK(stat(dst, &st));
    ASSERT_EQ(st.st_mode & 07777, 0400);
    ASSERT_EQ((uint64_t) st.st_size, imp.size);
    ASSERT_EQ(count_hidden(dir), 0);

    ASSERT_OK(read_full_file(src, 64 * MIB, &a, &alen));
    ASSERT_OK(read_full_file(dst, 64 * MIB, &b, &blen));
    ASSERT_EQ(alen, imp.size);
    ASSERT_EQ(blen, alen);
    ASSERT_EQ(memcmp(a, b, alen), 0);

    digest_sha256_hex(a, alen, want);
    ASSERT_STREQ(imp.sha256, want);
    want_cmd = sha256sum(src);
    ASSERT_STREQ(imp.sha256, want_cmd);

    /* the copy is still a valid golden image */
    ASSERT_OK(import_into(dir, "again-v1.qcow2", dst, &vsize, &msg));
    ASSERT_EQ(vsize, 64 * MIB);
}

TEST(import_refuses_existing)
{
    _cleanup_free_ char *src = tmp_path("golden2.qcow2"), *dir = images_dir("i-taken");
    _cleanup_free_ char *dst = xasprintf("%s/taken-v1.qcow2", dir);
    _cleanup_free_ char *data = NULL, *msg = NULL;
    _cleanup_(image_import_done) struct image_import imp = { .size = 7 };

    ASSERT_EQ(make_qcow2(src, "8M", NULL, NULL), 0);
    /* read-only: a version some store named once (restored backup?) */
    ASSERT_OK(write_file_atomic(dst, "precious", 8, 0444));
    ASSERT_ERROR(image_import_file(src, dst, &imp, &msg), EEXIST);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, dst));
    ASSERT_NULL(imp.sha256);
    ASSERT_EQ(imp.size, 7);
    /* left alone, and nothing else left */
    ASSERT_OK(read_full_file(dst, 1024, &data, NULL));
    ASSERT_STREQ(data, "precious");
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(import_replaces_leftover)
{
    _cleanup_free_ char *src = tmp_path("golden3.qcow2"), *dir = images_dir("i-leftover");
    _cleanup_free_ char *dst = xasprintf("%s/left-v2.qcow2", dir);
    _cleanup_free_ char *a = NULL, *b = NULL, *msg = NULL;
    _cleanup_(image_import_done) struct image_import imp = {};
    size_t alen = 0, blen = 0;

    ASSERT_EQ(make_qcow2(src, "8M", NULL, NULL), 0);
    /* what a kill -9 in the middle of a copy in place left (0600, partial) */
    ASSERT_OK(write_file_atomic(dst, "QFI\xfb partial", 12, 0600));
    ASSERT_OK(image_import_file(src, dst, &imp, &msg));
    ASSERT_TRUE(imp.replaced_leftover);
    ASSERT_OK(read_full_file(src, 64 * MIB, &a, &alen));
    ASSERT_OK(read_full_file(dst, 64 * MIB, &b, &blen));
    ASSERT_EQ(blen, alen);
    ASSERT_EQ(memcmp(a, b, alen), 0);
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(import_failure_leaves_nothing)
{
    _cleanup_free_ char *dir = images_dir("i-fail"), *msg = NULL;
    _cleanup_free_ char *dst = xasprintf("%s/from-dir-v1.qcow2", dir);
    _cleanup_free_ char *missing = tmp_path("no-such-source");
    _cleanup_free_ char *full_src = tmp_path("full.qcow2");
    _cleanup_free_ char *nodir = xasprintf("%s/i-fail-ro/sub", tmpdir);
    _cleanup_free_ char *nodst = xasprintf("%s/x-v1.qcow2", nodir);
    _cleanup_(image_import_done) struct image_import imp = { .size = 7 };

    ASSERT_ERROR(image_import_file(tmpdir, dst, &imp, &msg), EINVAL);
    ASSERT_TRUE(access(dst, F_OK) < 0);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(image_import_file(missing, dst, &imp, &msg), ENOENT);
    ASSERT_TRUE(access(dst, F_OK) < 0);
    ASSERT_NULL(imp.sha256);
    ASSERT_EQ(imp.size, 7);
    ASSERT_EQ(count_hidden(dir), 0);
    free(msg);
    msg = NULL;

    /* a missing images directory is made, 0711 whatever the umask */
    ASSERT_EQ(make_qcow2(full_src, "8M", NULL, NULL), 0);
    umask(0077);
    ASSERT_OK(image_import_file(full_src, nodst, &imp, &msg));
    umask(0022);
    {
        struct stat st;

        ASSERT_OK(stat(nodir, &st));
        ASSERT_EQ(st.st_mode & 07777, 0711);
    }
}

TEST(import_keeps_sparse)
{
    _cleanup_free_ char *src = tmp_path("sparse.qcow2"), *dir = images_dir("i-sparse");
    _cleanup_free_ char *dst = xasprintf("%s/sparse-v1.qcow2", dir);
    _cleanup_free_ char *want_cmd = NULL, *data = NULL, *msg = NULL;
    _cleanup_(image_import_done) struct image_import imp = {};
    _cleanup_close_ int fd = -1;
    char want[DIGEST_SHA256_HEX_LEN + 1];
    const uint64_t total = 32 * MIB + 12345; /* not a multiple of the copy chunk */
    size_t len = 0;
    struct stat st;

    /* a real qcow2 header, then data, a 20 MiB hole, data and a 12 MiB
     * hole up to the end (qcow2 does not care about bytes past its
     * clusters; the import copies the file as it is) */
    ASSERT_EQ(make_qcow2(src, "64M", NULL, NULL), 0);
    fd = open(src, O_WRONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(pwrite(fd, "head", 4, (off_t) (1 * MIB)), 4);
    ASSERT_EQ(pwrite(fd, "middle", 6, (off_t) (20 * MIB + 5)), 6);
    ASSERT_OK(ftruncate(fd, (off_t) total));
    close(TAKE_FD(fd));

    ASSERT_OK(image_import_file(src, dst, &imp, &msg));
    ASSERT_EQ(imp.size, total);
    ASSERT_OK(stat(dst, &st));
    ASSERT_EQ((uint64_t) st.st_size, total);
    /* a few 1 MiB chunks hold data; allow slack, far below 32 MiB */
    printf("  copy of %" PRIu64 " bytes allocates %" PRIu64 " bytes\n", total,
           (uint64_t) st.st_blocks * 512);
    ASSERT_TRUE((uint64_t) st.st_blocks * 512 <= 4 * MIB);

    ASSERT_OK(read_full_file(dst, 64 * MIB, &data, &len));
    ASSERT_EQ(len, total);
    ASSERT_EQ(memcmp(data, "QFI\xfb", 4), 0);
    ASSERT_EQ(memcmp(data + 1 * MIB, "head", 4), 0);
    ASSERT_EQ(memcmp(data + 20 * MIB + 5, "middle", 6), 0);
    ASSERT_EQ(data[total - 1], 0);
    digest_sha256_hex(data, len, want);
    ASSERT_STREQ(imp.sha256, want);
    want_cmd = sha256sum(src);
    ASSERT_STREQ(imp.sha256, want_cmd);
}

/* --- issue 11 #4 and #6: the file checked is the file copied --- */

struct flipper {
    const char *link;     /* the path the imports are given */
    const char *targets[2];
    volatile bool ready, stop;
    volatile unsigned flips;
};

/* The adversary: F->link and F->link.other are symlinks to the two
 * targets, and every time a target is closed after reading (inotify
 * IN_CLOSE_NOWRITE: a check just read its header) one
 * renameat2(RENAME_EXCHANGE) swaps them, atomically. So the file behind
 * F->link changes right between "checked" and "copied" of an import that
 * opens the path twice. Runs until told to stop. */
static void *
flip(void *userdata)
{
    struct flipper *f = userdata;
    _cleanup_free_ char *other = xasprintf("%s.other", f->link);
    _cleanup_close_ int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    (void) unlink(f->link);
    (void) unlink(other);
    if (in < 0 || inotify_add_watch(in, f->targets[0], IN_CLOSE_NOWRITE) < 0 ||
        inotify_add_watch(in, f->targets[1], IN_CLOSE_NOWRITE) < 0 ||
        symlink(f->targets[0], f->link) < 0 || symlink(f->targets[1], other) < 0) {
        fprintf(stderr, "  cannot set up '%s': %s\n", f->link, strerror(errno));
        return NULL;
    }
    f->ready = true;
    while (!f->stop) {
        struct pollfd p = { .fd = in, .events = POLLIN };

        if (poll(&p, 1, 10) <= 0 || read(in, buf, sizeof(buf)) <= 0)
            continue;
        if (renameat2(AT_FDCWD, other, AT_FDCWD, f->link, RENAME_EXCHANGE) < 0) {
            fprintf(stderr, "  cannot flip '%s': %s\n", f->link, strerror(errno));
            break;
        }
        f->flips++;
    }
    return NULL;
}

/* Imports F->link into DIR while F flips it: at least N times, until F
 * flipped N times and one import was stored, for 30 s at most. Counts the
 * imports that were stored and refused; every stored copy must be a
 * qcow2 file without a backing file. Returns 0, -EBADMSG at the first bad
 * copy, or the error of an import that failed for another reason. */
static int
import_while_flipping(struct flipper *f, const char *dir, unsigned n, unsigned *ret_ok,
                      unsigned *ret_refused, uint64_t *ret_max_usec)
{
    uint64_t max = 0, end = now_usec() + 30 * 1000000ULL;
    unsigned ok = 0, refused = 0;
    pthread_t t;
    int r = 0;

    f->ready = f->stop = false;
    f->flips = 0;
    if (pthread_create(&t, NULL, flip, f) != 0)
        return -EAGAIN;
    while (!f->ready && now_usec() < end)
        usleep(100);
    for (unsigned i = 0; r == 0 && (i < n || f->flips < n || ok == 0) && now_usec() < end;
         i++) {
        _cleanup_free_ char *dst = xasprintf("%s/flip-v%u.qcow2", dir, i + 1);
        _cleanup_free_ char *msg = NULL;
        _cleanup_(image_import_done) struct image_import imp = {};
        uint64_t t0 = now_usec();
        int k = image_import_file(f->link, dst, &imp, &msg);

        max = MAX(max, now_usec() - t0);
        if (k == -EINVAL) {
            refused++; /* the bad file */
        } else if (k < 0) {
            fprintf(stderr, "  import %u: %s\n", i, strempty(msg));
            r = k;
        } else if (has_no_backing(dst) != 1) {
            fprintf(stderr, "  import %u: '%s' has a backing file\n", i, dst);
            r = -EBADMSG;
        } else {
            ok++;
        }
        (void) unlink(dst);
    }
    f->stop = true;
    pthread_join(t, NULL);
    *ret_ok = ok;
    *ret_refused = refused;
    *ret_max_usec = max;
    return r;
}

TEST(import_symlink_flip_never_stores_backing)
{
    _cleanup_free_ char *good = tmp_path("flip-good.qcow2"), *bad = tmp_path("flip-bad.qcow2");
    _cleanup_free_ char *secret = tmp_path("flip-secret"), *link = tmp_path("flip-link");
    _cleanup_free_ char *dir = images_dir("i-flip"), *opt = NULL;
    struct flipper f = { .link = link, .targets = { good, bad } };
    unsigned ok = 0, refused = 0;
    uint64_t max = 0;

    /* the bad one has the same virtual size; its backing file stands for
     * /etc/shadow (a raw file: qemu-img reads it as a disk) */
    ASSERT_OK(write_file_atomic(secret, "root:secret:1::::::\n", 20, 0600));
    opt = xasprintf("backing_file=%s,backing_fmt=raw", secret);
    ASSERT_EQ(make_qcow2(good, "64M", NULL, NULL), 0);
    ASSERT_EQ(make_qcow2(bad, "64M", "-o", opt), 0);
    ASSERT_EQ(has_no_backing(bad), 0);

    alarm(120); /* a hang is a failure, not a stuck build */
    ASSERT_OK(import_while_flipping(&f, dir, 150, &ok, &refused, &max));
    alarm(0);
    printf("  %u imports over %u flips: %u refused, %u stored, none with a backing file\n",
           ok + refused, f.flips, refused, ok);
    ASSERT_TRUE(f.flips >= 150);
    ASSERT_TRUE(ok > 0);
    ASSERT_TRUE(refused > 0);
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(import_flip_to_dev_zero_ends)
{
    _cleanup_free_ char *good = tmp_path("flipz-good.qcow2"), *link = tmp_path("flipz-link");
    _cleanup_free_ char *dir = images_dir("i-flipz");
    struct flipper f = { .link = link, .targets = { good, "/dev/zero" } };
    unsigned ok = 0, refused = 0;
    uint64_t max = 0;

    ASSERT_EQ(make_qcow2(good, "64M", NULL, NULL), 0);
    alarm(30); /* before the fix, an import that opened /dev/zero never ended */
    ASSERT_OK(import_while_flipping(&f, dir, 50, &ok, &refused, &max));
    alarm(0);
    printf("  %u imports over %u flips to /dev/zero: %u refused, %u stored, slowest %.3f s\n",
           ok + refused, f.flips, refused, ok, (double) max / 1e6);
    ASSERT_TRUE(f.flips >= 50);
    ASSERT_TRUE(max < 2000000);
    ASSERT_EQ(count_hidden(dir), 0);
}

TEST(import_fifo_and_devices_refused_at_once)
{
    _cleanup_free_ char *fifo = tmp_path("image.fifo"), *dir = images_dir("i-fifo");
    _cleanup_free_ char *msg = NULL;
    const char *const paths[] = { fifo, "/dev/zero", "/dev/null", "/dev/tty" };
    uint64_t t0;

    ASSERT_OK(mkfifo(fifo, 0600));
    for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
        int r;

        alarm(10); /* before the fix the FIFO blocked open() for good */
        t0 = now_usec();
        r = import_into(dir, "f-v1.qcow2", paths[i], NULL, &msg);
        alarm(0);
        printf("  %s: %d after %.3f s: %s\n", paths[i], r, (double) (now_usec() - t0) / 1e6,
               strempty(msg));
        ASSERT_TRUE(r == -EINVAL || (r == -ENOENT && streq(paths[i], "/dev/tty")));
        ASSERT_TRUE(now_usec() - t0 < 1000000);
        if (i == 0)
            ASSERT_NOT_NULL(strstr(msg, "is not a regular file"));
    }
    ASSERT_EQ(count_hidden(dir), 0);
}

/* Appends a byte to PATH every millisecond until told to stop. */
struct grower {
    const char *path;
    volatile bool stop;
    unsigned appended;
};

static void *
grow(void *userdata)
{
    struct grower *g = userdata;
    int fd = open(g->path, O_WRONLY | O_APPEND | O_CLOEXEC);

    while (fd >= 0 && !g->stop) {
        if (write(fd, "x", 1) == 1)
            g->appended++;
        usleep(1000);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

TEST(import_refuses_a_file_that_changes)
{
    _cleanup_free_ char *src = tmp_path("growing.qcow2"), *dir = images_dir("i-grow");
    _cleanup_free_ char *dst = xasprintf("%s/grow-v1.qcow2", dir), *msg = NULL;
    _cleanup_free_ unsigned char *junk = xmalloc0(MIB);
    _cleanup_(image_import_done) struct image_import imp = {};
    struct grower g = { .path = src };
    _cleanup_close_ int fd = -1;
    pthread_t t;
    int r;

    /* 96 MiB that are not zeros: the copy takes long enough to see a
     * write or two */
    ASSERT_EQ(make_qcow2(src, "64M", NULL, NULL), 0);
    memset(junk, 0xaa, MIB);
    fd = open(src, O_WRONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    for (uint64_t off = MIB; off < 97 * MIB; off += MIB)
        ASSERT_EQ(pwrite(fd, junk, MIB, (off_t) off), (ssize_t) MIB);
    close(TAKE_FD(fd));

    ASSERT_EQ(pthread_create(&t, NULL, grow, &g), 0);
    while (g.appended == 0)
        usleep(1000);
    r = image_import_file(src, dst, &imp, &msg);
    g.stop = true;
    pthread_join(t, NULL);
    printf("  %u bytes appended meanwhile: %d: %s\n", g.appended, r, strempty(msg));
    ASSERT_ERROR(r, EINVAL);
    ASSERT_NOT_NULL(strstr(msg, "changed while it was being copied"));
    ASSERT_TRUE(access(dst, F_OK) < 0);
    ASSERT_EQ(count_hidden(dir), 0);
}

/* --- issue 11 #5: an interrupted import does not block the name --- */

TEST(claims)
{
    struct image_claim *a = NULL, *a2 = NULL, *b = NULL;

    ASSERT_OK(image_claim("win11", &a));
    ASSERT_ERROR(image_claim("win11", &a2), EBUSY);
    ASSERT_NULL(a2);
    ASSERT_OK(image_claim("win10", &b));
    ASSERT_NULL(image_claim_release(a));
    ASSERT_OK(image_claim("win11", &a2));
    ASSERT_NULL(image_claim_release(a2));
    ASSERT_NULL(image_claim_release(b));
    ASSERT_NULL(image_claim_release(NULL));
    ASSERT_ERROR(image_claim(NULL, &a), EINVAL);
}

TEST(cleanup_after_kill)
{
    _cleanup_free_ char *dir = images_dir("i-killed"), *src = tmp_path("after-kill.qcow2");
    _cleanup_free_ char *tmp = NULL, *partial = NULL, *golden = NULL, *other = NULL;
    _cleanup_free_ char *msg = NULL, *missing = xasprintf("%s/no-such-dir", tmpdir);
    _cleanup_(image_import_done) struct image_import imp = {};
    unsigned removed = 7, tightened = 7;
    struct stat st;

    /* what kill -9 leaves: a temporary of this code, a partial file of
     * the code before (copied in place), next to a committed v1 of 0444 */
    ASSERT_OK(chmod(dir, 0755));
    tmp = xasprintf("%s/.img-v2.qcow2.Ab3dE6", dir);
    partial = xasprintf("%s/img-v2.qcow2", dir);
    golden = xasprintf("%s/img-v1.qcow2", dir);
    other = xasprintf("%s/.hidden-by-someone", dir);
    ASSERT_OK(write_file_atomic(tmp, "QFI\xfb half", 9, 0600));
    ASSERT_OK(write_file_atomic(partial, "QFI\xfb half", 9, 0600));
    ASSERT_EQ(make_qcow2(golden, "8M", NULL, NULL), 0);
    ASSERT_OK(chmod(golden, 0444));
    ASSERT_OK(write_file_atomic(other, "x", 1, 0600));

    ASSERT_OK(image_import_cleanup(dir, &removed, &tightened));
    ASSERT_EQ(removed, 1);
    ASSERT_EQ(tightened, 2); /* the directory and v1 */
    ASSERT_TRUE(access(tmp, F_OK) < 0);
    ASSERT_OK(access(partial, F_OK)); /* not ours to judge: the store is */
    ASSERT_OK(access(other, F_OK));
    ASSERT_OK(stat(dir, &st));
    ASSERT_EQ(st.st_mode & 07777, 0711);
    ASSERT_OK(stat(golden, &st));
    ASSERT_EQ(st.st_mode & 07777, 0400);
    /* twice changes nothing */
    ASSERT_OK(image_import_cleanup(dir, &removed, &tightened));
    ASSERT_EQ(removed, 0);
    ASSERT_EQ(tightened, 0);
    ASSERT_OK(image_import_cleanup(missing, &removed, &tightened));
    ASSERT_EQ(removed, 0);

    /* and the next import of v2 works */
    ASSERT_EQ(make_qcow2(src, "8M", NULL, NULL), 0);
    ASSERT_OK(image_import_file(src, partial, &imp, &msg));
    ASSERT_TRUE(imp.replaced_leftover);
    ASSERT_EQ(has_no_backing(partial), 1);
    ASSERT_EQ(count_hidden(dir), 1); /* only .hidden-by-someone */
}

TEST(image_free)
{
    struct image *img = xmalloc0(sizeof(*img));
    struct image **list = xmalloc0(2 * sizeof(*list));

    img->name = xstrdup("win11");
    img->path = xstrdup("/x");
    img->sha256 = xstrdup("00");
    img->note = xstrdup("note");
    ASSERT_NULL(image_free(img));
    ASSERT_NULL(image_free(NULL));
    list[0] = xmalloc0(sizeof(struct image));
    list[0]->created_by = xstrdup("me");
    image_list_free(list, 2);
    image_list_free(NULL, 1);
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

    RUN(digest_vectors);
    RUN(check_real_qcow2);
    RUN(check_qcow2_v2);
    RUN(check_missing);
    RUN(check_directory);
    RUN(check_raw);
    RUN(check_backing_refused);
    RUN(check_data_file_refused);
    RUN(check_relative_refused);
    RUN(import_copies);
    RUN(import_refuses_existing);
    RUN(import_replaces_leftover);
    RUN(import_failure_leaves_nothing);
    RUN(import_keeps_sparse);
    RUN(import_symlink_flip_never_stores_backing);
    RUN(import_flip_to_dev_zero_ends);
    RUN(import_fifo_and_devices_refused_at_once);
    RUN(import_refuses_a_file_that_changes);
    RUN(claims);
    RUN(cleanup_after_kill);
    RUN(image_free);

    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TESTS_DONE();
}
