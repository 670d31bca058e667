/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* console.c - one-time console passwords of desktops
 *
 * DESIGN
 *   The hospital's rule: a console password per session, valid for a
 *   short time, replaced when the session ends so an old client cannot
 *   reconnect. A password is 8 random characters (VNC's limit; SPICE takes
 *   the same) set through libvirt on the running domain's <graphics>
 *   (passwd + passwdValidTo); tmpl.c builds that element from the live
 *   XML so listen addresses and ports stay as libvirt has them, hv.c
 *   applies it. Revoking sets another random password that expired
 *   already. Does not log; callers do.
 *
 *   The console cache: reading a domain's live XML for its <graphics> was
 *   a fifth of an acquire's time. The element is kept per domain with the
 *   domain's id (a new one for every start of its QEMU: a boot, a
 *   restore, a revert that restarts it, the only times its port can move)
 *   and the connection's reconnect count (a restarted libvirtd may hand
 *   out ids again). A grant asks libvirt for the id (one round trip, no
 *   XML) and reads the XML only when the id or connection changed; a
 *   password that libvirt refuses with a cached element is tried once more
 *   with a fresh one. Passwords are never kept.
 */
#include "config.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#include "array.h"
#include "console.h"
#include "tmpl.h"
#include "util.h"

#define CONSOLE_PASSWORD_LEN 8
#define CONSOLE_CACHE_MAX 16384 /* elements kept; all dropped when full */

struct console_cached {
    char *key;              /* "URI\nDOMAIN" */
    unsigned id;            /* the domain's id when read */
    unsigned reconnects;    /* the connection's reconnect count when read */
    char *graphics;         /* its <graphics> element, without password */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct console_cached *cache; /* sorted by key */
static size_t n_cache, cap_cache;

/* The cached element for KEY at ID and RECONNECTS (a copy), or NULL. */
static char *
cache_get(const char *key, unsigned id, unsigned reconnects)
{
    char *g = NULL;
    bool found;
    size_t i;

    pthread_mutex_lock(&cache_lock);
    i = array_find_name(cache, n_cache, sizeof(*cache), key, &found);
    if (found && cache[i].id == id && cache[i].reconnects == reconnects)
        g = xstrdup(cache[i].graphics);
    pthread_mutex_unlock(&cache_lock);
    return g;
}

static void cache_clear_locked(void);

/* Keeps GRAPHICS for KEY; NULL GRAPHICS drops the entry. */
static void
cache_put(const char *key, unsigned id, unsigned reconnects, const char *graphics)
{
    bool found;
    size_t i;

    pthread_mutex_lock(&cache_lock);
    i = array_find_name(cache, n_cache, sizeof(*cache), key, &found);
    if (found) {
        free(cache[i].graphics);
        if (graphics) {
            cache[i].graphics = xstrdup(graphics);
            cache[i].id = id;
            cache[i].reconnects = reconnects;
        } else {
            free(cache[i].key);
            memmove(&cache[i], &cache[i + 1], (n_cache - i - 1) * sizeof(*cache));
            n_cache--;
        }
    } else if (graphics) {
        if (n_cache >= CONSOLE_CACHE_MAX) {
            /* desktops come and go: rather than age entries, start over */
            cache_clear_locked();
            i = 0;
        }
        ARRAY_GROW(cache, cap_cache, n_cache + 1);
        memmove(&cache[i + 1], &cache[i], (n_cache - i) * sizeof(*cache));
        cache[i] = (struct console_cached) {
            .key = xstrdup(key), .id = id, .reconnects = reconnects,
            .graphics = xstrdup(graphics),
        };
        n_cache++;
    }
    pthread_mutex_unlock(&cache_lock);
}

static void
cache_clear_locked(void)
{
    for (size_t i = 0; i < n_cache; i++) {
        free(cache[i].key);
        free(cache[i].graphics);
    }
    n_cache = 0;
}

void
console_cache_free(void)
{
    pthread_mutex_lock(&cache_lock);
    cache_clear_locked();
    free(cache);
    cache = NULL;
    cap_cache = 0;
    pthread_mutex_unlock(&cache_lock);
}

/* DOMAIN's <graphics> element: from the cache when its id and the
 * connection are the same as when it was read (*RET_CACHED), else from
 * the live XML. 0, -ENODATA when it has no console, or a negative errno
 * with a sentence. */
static int
console_graphics(struct hv *h, const char *domain, bool use_cache, char **ret,
                 bool *ret_cached, char **reterr_msg)
{
    _cleanup_free_ char *key = xasprintf("%s\n%s", hv_uri(h), domain), *xml = NULL;
    unsigned id = 0, reconnects = hv_reconnects(h);
    bool have_id;
    int r;

    *ret_cached = false;
    have_id = hv_domain_get_id(h, domain, &id) >= 0;
    if (have_id && use_cache) {
        *ret = cache_get(key, id, reconnects);
        if (*ret) {
            *ret_cached = true;
            return 0;
        }
    }
    r = hv_domain_get_xml(h, domain, true, true, &xml);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot read the definition of '%s'.", domain);
        return r;
    }
    r = tmpl_graphics_element(xml, ret);
    if (r < 0) {
        *reterr_msg = xasprintf("Desktop domain '%s' has no console (<graphics>).", domain);
        return r == -ENOENT ? -ENODATA : r;
    }
    cache_put(key, id, reconnects, have_id ? *ret : NULL);
    return 0;
}

void
console_grant_done(struct console_grant *g)
{
    free(g->protocol);
    free(g->host);
    free(g->password);
    *g = (struct console_grant) { 0 };
}

static char *
console_password_new(void)
{
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char raw[CONSOLE_PASSWORD_LEN];
    char *pw = xmalloc0(CONSOLE_PASSWORD_LEN + 1);

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
        abort();
    for (size_t i = 0; i < CONSOLE_PASSWORD_LEN; i++)
        pw[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
    return pw;
}

static int
console_set(struct hv *h, const char *domain, const char *password, int64_t valid_to,
            const char *xml, char **reterr_msg)
{
    _cleanup_free_ char *gxml = NULL;
    int r;

    r = tmpl_graphics_password_xml(xml, password, valid_to, &gxml, reterr_msg);
    if (r < 0)
        return r;
    return hv_domain_update_device_live(h, domain, gxml, reterr_msg);
}

void
console_warm(struct hv *h, const char *domain)
{
    _cleanup_free_ char *gxml = NULL, *err = NULL;
    bool cached;

    (void) console_graphics(h, domain, true, &gxml, &cached, &err);
}

int
console_grant(struct hv *h, const char *domain, const char *host, unsigned ttl,
              bool require_password, struct console_grant *ret, char **reterr_msg)
{
    _cleanup_free_ char *pw = NULL;
    struct tmpl_graphics g = { 0 };
    int64_t valid_to = (int64_t) time(NULL) + ttl;
    bool cached = false;
    int r = -EAGAIN;

    pw = console_password_new();
    /* at most twice: a cached element libvirt refuses is read afresh */
    for (int attempt = 0; attempt < 2 && r == -EAGAIN; attempt++) {
        _cleanup_free_ char *gxml = NULL;

        tmpl_graphics_done(&g);
        r = console_graphics(h, domain, attempt == 0, &gxml, &cached, reterr_msg);
        if (r < 0)
            return r == -ENODATA ? -EIO : r;
        r = tmpl_graphics_parse(gxml, &g);
        if (r < 0) {
            *reterr_msg = xasprintf("Desktop domain '%s' has no console (<graphics>).", domain);
            return r == -ENOENT ? -EIO : r;
        }
        r = console_set(h, domain, pw, valid_to, gxml, reterr_msg);
        if (r < 0 && r != -EOPNOTSUPP && r != -ENOTCONN && cached) {
            free(*reterr_msg);
            *reterr_msg = NULL;
            r = -EAGAIN;
        }
    }
    if (r == -EOPNOTSUPP && !require_password) {
        free(*reterr_msg);
        *reterr_msg = NULL;
        free(pw);
        pw = NULL;
        valid_to = 0;
        r = 0;
    }
    if (r < 0) {
        tmpl_graphics_done(&g);
        return r;
    }
    *ret = (struct console_grant) {
        .protocol = TAKE_PTR(g.type),
        .host = xstrdup(host && host[0] ? host : g.listen),
        .port = g.port,
        .password = TAKE_PTR(pw),
        .expires = valid_to,
    };
    tmpl_graphics_done(&g);
    return 0;
}

int
console_revoke(struct hv *h, const char *domain, bool require_password, char **reterr_msg)
{
    _cleanup_free_ char *pw = console_password_new();
    bool active = false, cached = false;
    int r = -EAGAIN;

    r = hv_domain_is_active(h, domain, &active);
    if (r == -ENOENT || (r >= 0 && !active))
        return 0; /* nothing listens: nothing to revoke */
    if (r < 0)
        return r;
    r = -EAGAIN;
    for (int attempt = 0; attempt < 2 && r == -EAGAIN; attempt++) {
        _cleanup_free_ char *gxml = NULL;

        r = console_graphics(h, domain, attempt == 0, &gxml, &cached, reterr_msg);
        if (r == -ENODATA) {
            free(*reterr_msg);
            *reterr_msg = NULL;
            return 0; /* no <graphics>: no console to lock */
        }
        if (r < 0)
            return r;
        /* expired a minute ago: accepted by libvirt, refused to every client */
        r = console_set(h, domain, pw, (int64_t) time(NULL) - 60, gxml, reterr_msg);
        if (r < 0 && r != -EOPNOTSUPP && r != -ENOTCONN && r != -ENOENT && cached) {
            free(*reterr_msg);
            *reterr_msg = NULL;
            r = -EAGAIN;
        }
    }
    if (r == -ENOENT)
        return 0;
    if (r == -EOPNOTSUPP && !require_password) {
        free(*reterr_msg);
        *reterr_msg = NULL;
        return 0;
    }
    return r;
}
