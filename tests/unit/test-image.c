/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-image.c - qcow2 checks and image import on real files
 *
 * DESIGN
 *   Real qcow2 files made by qemu-img (run with posix_spawnp, no shell)
 *   in one temporary directory under /tmp, removed at the end. qemu-img
 *   is a build dependency here: when it is missing the tests FAIL, they
 *   never skip. Hashes are checked against the known SHA-256 vectors and
 *   against sha256sum(1). No libvirt.
 */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "digest.h"
#include "image-import.h"
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

TEST(check_real_qcow2)
{
    _cleanup_free_ char *path = tmp_path("real.qcow2");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 0;

    ASSERT_EQ(make_qcow2(path, "64M", NULL, NULL), 0);
    ASSERT_OK(image_check_file(path, &vsize, &msg));
    ASSERT_EQ(vsize, 64 * MIB);
    ASSERT_NULL(msg);
}

TEST(check_qcow2_v2)
{
    _cleanup_free_ char *path = tmp_path("v2.qcow2");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 0;

    ASSERT_EQ(make_qcow2(path, "1G", "-o", "compat=0.10"), 0);
    ASSERT_OK(image_check_file(path, &vsize, &msg));
    ASSERT_EQ(vsize, 1024 * MIB);
}

TEST(check_missing)
{
    _cleanup_free_ char *path = tmp_path("missing.qcow2");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 7;

    ASSERT_ERROR(image_check_file(path, &vsize, &msg), ENOENT);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, path));
    ASSERT_EQ(vsize, 7);
}

TEST(check_directory)
{
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 7;

    ASSERT_ERROR(image_check_file(tmpdir, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "regular"));
    ASSERT_EQ(vsize, 7);
}

TEST(check_raw)
{
    _cleanup_free_ char *path = tmp_path("disk.raw");
    _cleanup_free_ char *empty = tmp_path("empty");
    _cleanup_free_ char *magic_only = tmp_path("magic-only");
    _cleanup_free_ char *msg = NULL;
    char *argv[] = {
        (char *) "qemu-img", (char *) "create", (char *) "-q", (char *) "-f", (char *) "raw",
        path, (char *) "8M", NULL,
    };
    uint64_t vsize = 7;

    ASSERT_EQ(run(NULL, argv), 0);
    ASSERT_ERROR(image_check_file(path, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "not a qcow2"));
    free(msg);
    msg = NULL;

    ASSERT_OK(write_file_atomic(empty, "", 0, 0600));
    ASSERT_ERROR(image_check_file(empty, &vsize, &msg), EINVAL);
    free(msg);
    msg = NULL;

    /* the magic and nothing else: too short to be a header */
    ASSERT_OK(write_file_atomic(magic_only, "QFI\xfb\0\0\0\3", 8, 0600));
    ASSERT_ERROR(image_check_file(magic_only, &vsize, &msg), EINVAL);
    ASSERT_EQ(vsize, 7);
}

TEST(check_backing_refused)
{
    _cleanup_free_ char *base = tmp_path("base.qcow2");
    _cleanup_free_ char *top = tmp_path("top.qcow2");
    _cleanup_free_ char *msg = NULL;
    char *argv[] = {
        (char *) "qemu-img", (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2",
        (char *) "-F", (char *) "qcow2", (char *) "-b", base, top, NULL,
    };
    uint64_t vsize = 7;

    ASSERT_EQ(make_qcow2(base, "64M", NULL, NULL), 0);
    ASSERT_EQ(run(NULL, argv), 0);
    ASSERT_ERROR(image_check_file(top, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "backing"));
    ASSERT_EQ(vsize, 7);
    /* the base alone is fine */
    ASSERT_OK(image_check_file(base, &vsize, &msg));
    ASSERT_EQ(vsize, 64 * MIB);
}

TEST(check_data_file_refused)
{
    _cleanup_free_ char *path = tmp_path("ext.qcow2");
    _cleanup_free_ char *opt = NULL, *data = tmp_path("ext.data");
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 7;

    opt = xasprintf("data_file=%s", data);
    ASSERT_EQ(make_qcow2(path, "16M", "-o", opt), 0);
    ASSERT_ERROR(image_check_file(path, &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "external"));
    ASSERT_EQ(vsize, 7);
}

TEST(check_relative_refused)
{
    _cleanup_free_ char *msg = NULL;
    uint64_t vsize = 7;

    ASSERT_ERROR(image_check_file("real.qcow2", &vsize, &msg), EINVAL);
    ASSERT_NOT_NULL(msg);
    ASSERT_NOT_NULL(strstr(msg, "real.qcow2"));
    ASSERT_NOT_NULL(strstr(msg, "absolute"));
    free(msg);
    msg = NULL;
    ASSERT_ERROR(image_check_file("", &vsize, &msg), EINVAL);
    free(msg);
    msg = NULL;
    ASSERT_ERROR(image_check_file("./x/../real.qcow2", &vsize, &msg), EINVAL);
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
    _cleanup_free_ char *src = tmp_path("golden.qcow2");
    _cleanup_free_ char *dst = tmp_path("imported.qcow2");
    _cleanup_free_ char *sha = NULL, *want_cmd = NULL, *a = NULL, *b = NULL, *msg = NULL;
    char want[DIGEST_SHA256_HEX_LEN + 1];
    size_t alen = 0, blen = 0;
    uint64_t size = 0, vsize = 0;
    struct stat st;

    ASSERT_EQ(make_qcow2(src, "64M", NULL, NULL), 0);
    ASSERT_OK(image_import_file(src, dst, &sha, &size));
    ASSERT_NOT_NULL(sha);

    ASSERT_OK(stat(dst, &st));
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_mode & 07777, 0444);
    ASSERT_EQ((uint64_t) st.st_size, size);

    ASSERT_OK(read_full_file(src, 64 * MIB, &a, &alen));
    ASSERT_OK(read_full_file(dst, 64 * MIB, &b, &blen));
    ASSERT_EQ(alen, size);
    ASSERT_EQ(blen, alen);
    ASSERT_EQ(memcmp(a, b, alen), 0);

    digest_sha256_hex(a, alen, want);
    ASSERT_STREQ(sha, want);
    want_cmd = sha256sum(src);
    ASSERT_STREQ(sha, want_cmd);

    /* the copy is still a valid golden image */
    ASSERT_OK(image_check_file(dst, &vsize, &msg));
    ASSERT_EQ(vsize, 64 * MIB);
}

TEST(import_refuses_existing)
{
    _cleanup_free_ char *src = tmp_path("golden2.qcow2");
    _cleanup_free_ char *dst = tmp_path("taken.qcow2");
    _cleanup_free_ char *sha = NULL, *data = NULL;
    uint64_t size = 7;

    ASSERT_EQ(make_qcow2(src, "8M", NULL, NULL), 0);
    ASSERT_OK(write_file_atomic(dst, "precious", 8, 0644));
    ASSERT_ERROR(image_import_file(src, dst, &sha, &size), EEXIST);
    ASSERT_NULL(sha);
    ASSERT_EQ(size, 7);
    /* left alone */
    ASSERT_OK(read_full_file(dst, 1024, &data, NULL));
    ASSERT_STREQ(data, "precious");
}

TEST(import_failure_removes_dst)
{
    _cleanup_free_ char *dst = tmp_path("from-dir.qcow2");
    _cleanup_free_ char *missing = tmp_path("no-such-source");
    _cleanup_free_ char *sha = NULL;
    uint64_t size = 7;

    /* a directory opens but cannot be read */
    ASSERT_TRUE(image_import_file(tmpdir, dst, &sha, &size) < 0);
    ASSERT_TRUE(access(dst, F_OK) < 0);
    ASSERT_ERROR(image_import_file(missing, dst, &sha, &size), ENOENT);
    ASSERT_TRUE(access(dst, F_OK) < 0);
    ASSERT_NULL(sha);
    ASSERT_EQ(size, 7);
}

TEST(import_keeps_sparse)
{
    _cleanup_free_ char *src = tmp_path("sparse.img");
    _cleanup_free_ char *dst = tmp_path("sparse-copy.img");
    _cleanup_free_ char *sha = NULL, *want_cmd = NULL, *data = NULL;
    _cleanup_close_ int fd = -1;
    char want[DIGEST_SHA256_HEX_LEN + 1];
    const uint64_t total = 32 * MIB + 12345; /* not a multiple of the copy chunk */
    uint64_t size = 0;
    size_t len = 0;
    struct stat st;

    /* data, a 20 MiB hole, data, then a 12 MiB hole up to the end */
    fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(pwrite(fd, "head", 4, 0), 4);
    ASSERT_EQ(pwrite(fd, "middle", 6, (off_t) (20 * MIB + 5)), 6);
    ASSERT_OK(ftruncate(fd, (off_t) total));
    close(TAKE_FD(fd));

    ASSERT_OK(image_import_file(src, dst, &sha, &size));
    ASSERT_EQ(size, total);
    ASSERT_OK(stat(dst, &st));
    ASSERT_EQ((uint64_t) st.st_size, total);
    /* two 1 MiB chunks hold data; allow slack, far below 32 MiB */
    printf("  copy of %" PRIu64 " bytes allocates %" PRIu64 " bytes\n", total,
           (uint64_t) st.st_blocks * 512);
    ASSERT_TRUE((uint64_t) st.st_blocks * 512 <= 4 * MIB);

    ASSERT_OK(read_full_file(dst, 64 * MIB, &data, &len));
    ASSERT_EQ(len, total);
    ASSERT_EQ(memcmp(data, "head", 4), 0);
    ASSERT_EQ(memcmp(data + 20 * MIB + 5, "middle", 6), 0);
    ASSERT_EQ(data[total - 1], 0);
    digest_sha256_hex(data, len, want);
    ASSERT_STREQ(sha, want);
    want_cmd = sha256sum(src);
    ASSERT_STREQ(sha, want_cmd);
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
    RUN(import_failure_removes_dst);
    RUN(import_keeps_sparse);
    RUN(image_free);

    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return TESTS_DONE();
}
