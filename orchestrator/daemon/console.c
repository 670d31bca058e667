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
 */
#include "config.h"

#include <sys/random.h>
#include <time.h>

#include "console.h"
#include "tmpl.h"
#include "util.h"

#define CONSOLE_PASSWORD_LEN 8

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

int
console_grant(struct hv *h, const char *domain, const char *host, unsigned ttl,
              bool require_password, struct console_grant *ret, char **reterr_msg)
{
    _cleanup_free_ char *xml = NULL, *pw = NULL;
    struct tmpl_graphics g = { 0 };
    int64_t valid_to = (int64_t) time(NULL) + ttl;
    int r;

    r = hv_domain_get_xml(h, domain, true, true, &xml);
    if (r < 0) {
        *reterr_msg = xasprintf("Cannot read the definition of '%s'.", domain);
        return r;
    }
    r = tmpl_graphics_parse(xml, &g);
    if (r < 0) {
        *reterr_msg = xasprintf("Desktop domain '%s' has no console (<graphics>).", domain);
        return r == -ENOENT ? -EIO : r;
    }
    pw = console_password_new();
    r = console_set(h, domain, pw, valid_to, xml, reterr_msg);
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
    _cleanup_free_ char *xml = NULL, *pw = console_password_new();
    bool active = false;
    int r;

    r = hv_domain_is_active(h, domain, &active);
    if (r == -ENOENT || (r >= 0 && !active))
        return 0; /* nothing listens: nothing to revoke */
    if (r < 0)
        return r;
    r = hv_domain_get_xml(h, domain, true, true, &xml);
    if (r < 0)
        return r;
    /* expired a minute ago: accepted by libvirt, refused to every client */
    r = console_set(h, domain, pw, (int64_t) time(NULL) - 60, xml, reterr_msg);
    if (r == -ENOENT)
        return 0; /* no <graphics>: no console to lock */
    if (r == -EOPNOTSUPP && !require_password) {
        free(*reterr_msg);
        *reterr_msg = NULL;
        return 0;
    }
    return r;
}
