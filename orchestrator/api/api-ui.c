/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-ui.c - the operator dashboard's static files at /ui/
 *
 * Serves the files of ui_dir (data/ui/ in the source tree, installed to
 * PKGDATADIR/ui): plain HTML, CSS and JavaScript that call the REST API
 * with the token the operator types in. The files hold no data, so they
 * are served without a token; every answer tells the browser to keep no
 * copy (Cache-Control: no-store), to run only scripts and styles from
 * this server (Content-Security-Policy: default-src 'self', so no inline
 * script can run), never to show it in a frame and not to guess types.
 *
 * DESIGN
 *   A name is one path segment (the route gives no more), decoded once by
 *   api.c, of [A-Za-z0-9._-] starting with a letter or digit and with no
 *   "..": no hidden file, no parent directory, no second segment. Only a
 *   regular file directly in ui_dir with a known extension is served
 *   (opened with O_NOFOLLOW: a symlink is not followed), at most
 *   API_UI_MAX_FILE bytes, text only; anything else is 404, and no
 *   directory is ever listed. "/ui" and "/ui/" are index.html.
 *   Files are read at each request: nothing is cached, an upgrade needs no
 *   restart.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api-priv.h"
#include "util.h"

#define API_UI_MAX_FILE (1024 * 1024)
#define API_UI_MAX_NAME 64

static const struct {
    const char *ext;
    const char *type;
} api_ui_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".svg", "image/svg+xml" },
    { ".txt", "text/plain; charset=utf-8" },
};

/* The media type of file NAME, or NULL when it is not served. */
static const char *
api_ui_type(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < ELEMENTSOF(api_ui_types); i++) {
        size_t e = strlen(api_ui_types[i].ext);

        if (n > e && streq(name + n - e, api_ui_types[i].ext))
            return api_ui_types[i].type;
    }
    return NULL;
}

static bool
api_ui_name_is_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > API_UI_MAX_NAME || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* Reads regular file NAME of directory DIR into *RET (NUL-terminated).
 * Returns 0, -ENOENT for anything that is not served (missing, not a
 * regular file, a symlink, too big, holding a NUL byte), or another
 * negative errno. */
static int
api_ui_read(const char *dir, const char *name, char **ret)
{
    _cleanup_close_ int dfd = -1, fd = -1;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t len = 0;

    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ELOOP || errno == ENOTDIR ? -ENOENT : -errno;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_size > API_UI_MAX_FILE)
        return -ENOENT;
    buf = xmalloc0((size_t) st.st_size + 1);
    while (len < (size_t) st.st_size) {
        ssize_t k = read(fd, buf + len, (size_t) st.st_size - len);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break; /* shrank meanwhile: what is there */
        len += (size_t) k;
    }
    buf[len] = '\0';
    if (strlen(buf) != len)
        return -ENOENT; /* the reply is text: no NUL byte */
    *ret = TAKE_PTR(buf);
    return 0;
}

int
api_ui_file(struct api_request *req, struct api_reply *reply)
{
    const char *dir = req->api->deps.ui_dir;
    const char *name = req->params[0] ? req->params[0] : "index.html";
    const char *type = api_ui_type(name);
    char *body = NULL;
    int r;

    if (!api_ui_name_is_valid(name) || !type)
        return api_reply_error(reply, -ENOENT, "No such dashboard file.");
    if (!dir || streq(dir, ""))
        return api_reply_error(reply, -ENOENT, "The dashboard is not installed (ui_dir).");
    r = api_ui_read(dir, name, &body);
    if (r == -ENOENT)
        return api_reply_error(reply, -ENOENT, "No such dashboard file.");
    if (r < 0)
        return api_reply_errorf(reply, -EIO, "Cannot read dashboard file '%s': %s.", name,
                                strerror(-r));
    reply->status = 200;
    reply->body = body;
    reply->content_type = type;
    reply->ui_file = true;
    return 0;
}
