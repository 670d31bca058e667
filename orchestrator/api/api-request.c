/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-request.c - checking request input: URL parts, media type, bodies
 *
 * Pure parsing of untrusted input into checked values, apart from the
 * handlers so that a fuzzer (tests/fuzz/) can drive it without a store,
 * libvirt or HTTP: JSON through json-util.c, names and free text through
 * name.c's rules. Path segments and query values are decoded here exactly
 * once (libmicrohttpd is told not to: api.c's unescape callback keeps them
 * as sent), so "%2561" stays "%61" and an encoded NUL is refused instead of
 * cutting a name short. No logging, no I/O.
 */
#include "config.h"

#include <strings.h>

#include "api-request.h"
#include "json-util.h"
#include "pool.h"
#include "name.h"
#include "util.h"

void
api_acquire_req_done(struct api_acquire_req *q)
{
    free(q->user);
    free(q->client);
    strv_free(q->groups);
    *q = (struct api_acquire_req) { 0 };
}

int
api_acquire_req_parse(const char *body, size_t len, struct api_acquire_req *ret,
                      char **reterr_msg)
{
    static const char *const fields[] = { "user", "groups", "client", NULL };
    _cleanup_json_ json_object *o = NULL;
    struct api_acquire_req q = { 0 };
    const char *user = NULL, *client = NULL;
    json_object *g;
    int r;

    r = json_parse_object(body, len, &o, reterr_msg);
    if (r < 0)
        return r;
    r = json_check_fields(o, fields, reterr_msg);
    if (r < 0)
        return r;
    r = json_get_string(o, "user", PRINCIPAL_NAME_MAX + 1, &user, reterr_msg);
    if (r == -ENOENT) {
        *reterr_msg = xstrdup("Field 'user' is required.");
        return -EINVAL;
    }
    if (r < 0)
        return r;
    if (!principal_name_is_valid(user)) {
        *reterr_msg = xasprintf("User name '%s' is not valid: use 1-64 of [A-Za-z0-9._@-], "
                                "starting with a letter or digit.", user);
        return -EINVAL;
    }
    r = json_get_string(o, "client", CLIENT_TEXT_MAX, &client, reterr_msg);
    if (r < 0 && r != -ENOENT)
        return r;
    if (client && !api_client_text_is_valid(client)) {
        *reterr_msg = xasprintf("Field 'client' is not valid: use at most %d bytes of "
                                "printable text without < > & ' \".", CLIENT_TEXT_MAX);
        return -EINVAL;
    }
    if (json_object_object_get_ex(o, "groups", &g)) {
        size_t n;

        if (!json_object_is_type(g, json_type_array)) {
            *reterr_msg = xstrdup("Field 'groups' must be an array of group names.");
            return -EINVAL;
        }
        n = json_object_array_length(g);
        if (n > POOL_MAX_GROUPS) {
            *reterr_msg = xasprintf("Field 'groups' has more than %d names.", POOL_MAX_GROUPS);
            return -EINVAL;
        }
        q.groups = xmalloc0(sizeof(char *) * (n + 1));
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(g, i);
            const char *name = json_object_is_type(e, json_type_string)
                                   ? json_object_get_string(e) : NULL;

            /* a "\u0000" inside would make the C string shorter than the JSON one */
            if (name && strlen(name) != (size_t) json_object_get_string_len(e))
                name = NULL;
            if (!principal_name_is_valid(name)) {
                api_acquire_req_done(&q);
                *reterr_msg = xstrdup("Field 'groups' holds a name that is not valid: use "
                                      "1-64 of [A-Za-z0-9._@-].");
                return -EINVAL;
            }
            q.groups[q.n_groups++] = xstrdup(name);
        }
    } else {
        q.groups = xmalloc0(sizeof(char *));
    }
    q.user = xstrdup(user);
    q.client = xstrdup(client);
    *ret = q;
    return 0;
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
api_unescape(const char *s, size_t len, char **ret)
{
    _cleanup_free_ char *out = xmalloc0(len + 1);
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= len)
                return -EINVAL;
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char) (hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
        out[n++] = (char) c;
    }
    out[n] = '\0';
    *ret = TAKE_PTR(out);
    return 0;
}

bool
api_media_type_is_json(const char *ct)
{
    static const char json[] = "application/json";
    const char *p;

    if (!ct || strncasecmp(ct, json, strlen(json)) != 0)
        return false;
    p = ct + strlen(json);
    p += strspn(p, " \t");
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    /* parameters: name=value; only a charset matters */
    while (*p == ';') {
        size_t n;

        p++;
        p += strspn(p, " \t");
        n = strcspn(p, ";");
        if (strncasecmp(p, "charset=", 8) == 0) {
            const char *v = p + 8;
            size_t vn = n - 8;

            while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
                vn--;
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            if (vn != 5 || strncasecmp(v, "utf-8", 5) != 0)
                return false;
        }
        p += n;
    }
    return true;
}

bool
api_client_text_is_valid(const char *s)
{
    return text_is_safe(s, CLIENT_TEXT_MAX) && !strpbrk(s, "<>&'\"");
}
