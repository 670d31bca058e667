/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* host.c - a hypervisor host's record: its admin state, labels and sizes
 *
 * The rules for what a host name, URI and label may be, in one place for
 * the API, the CLI and the store. Pure: no I/O, no logging.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>

#include "host.h"
#include "name.h"
#include "strv.h"
#include "util.h"

static const char *const host_admin_names[_HOST_ADMIN_MAX] = {
    [HOST_ADMIN_ACTIVE] = "active",
    [HOST_ADMIN_DRAINING] = "draining",
};

struct host *
host_free(struct host *h)
{
    if (!h)
        return NULL;
    free(h->name);
    free(h->uri);
    strv_free(h->labels);
    free(h->storage_dir);
    free(h->console_address);
    free(h);
    return NULL;
}

void
host_list_free(struct host **hosts, size_t n)
{
    if (!hosts)
        return;
    for (size_t i = 0; i < n; i++)
        host_free(hosts[i]);
    free(hosts);
}

const char *
host_admin_to_string(enum host_admin a)
{
    if (a < 0 || a >= _HOST_ADMIN_MAX)
        return NULL;
    return host_admin_names[a];
}

enum host_admin
host_admin_from_string(const char *s)
{
    for (int i = 0; s && i < _HOST_ADMIN_MAX; i++)
        if (streq(host_admin_names[i], s))
            return (enum host_admin) i;
    return _HOST_ADMIN_INVALID;
}

#define LABEL_PART_MAX 63
#define LABELS_MAX 32

static bool
label_part_is_valid(const char *s, size_t len)
{
    if (len == 0 || len > LABEL_PART_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char) s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

static int
label_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static size_t
label_key_len(const char *label)
{
    return strcspn(label, "=");
}

int
host_labels_parse(const char *text, char ***ret, char **reterr_msg)
{
    _cleanup_(strv_freep) char **v = strv_split(text ? text : "", ',');
    size_t n = strv_length(v);

    if (n > LABELS_MAX) {
        *reterr_msg = xasprintf("At most %d labels are allowed, not %zu.", LABELS_MAX, n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(v[i], '=');

        if (!eq || !label_part_is_valid(v[i], (size_t) (eq - v[i])) ||
            !label_part_is_valid(eq + 1, strlen(eq + 1))) {
            _cleanup_free_ char *safe = text_escape(v[i]);

            *reterr_msg = xasprintf("Bad label '%s': a label is KEY=VALUE, each 1-%d of "
                                    "A-Z a-z 0-9 _ . -.", safe, LABEL_PART_MAX);
            return -EINVAL;
        }
    }
    qsort(v, n, sizeof(*v), label_cmp);
    for (size_t i = 1; i < n; i++)
        if (label_key_len(v[i]) == label_key_len(v[i - 1]) &&
            strncmp(v[i], v[i - 1], label_key_len(v[i])) == 0) {
            *reterr_msg = xasprintf("Label key '%.*s' is given twice.",
                                    (int) label_key_len(v[i]), v[i]);
            return -EINVAL;
        }
    *ret = TAKE_PTR(v);
    return 0;
}

char *
host_labels_format(char *const *labels)
{
    return strv_join(labels, ',');
}

bool
host_labels_match(char *const *have, char *const *required)
{
    for (size_t i = 0; required && required[i]; i++)
        if (!strv_contains(have, required[i]))
            return false;
    return true;
}

#define HOST_URI_MAX 1024

int
host_validate(const char *name, const char *uri, char **reterr_msg)
{
    const char *sep;

    if (!name || !name_is_valid(name)) {
        _cleanup_free_ char *safe = text_escape(name ? name : "");

        *reterr_msg = xasprintf("Bad host name '%s': it must be 1-%d of a-z 0-9 _ -, "
                                "starting with a letter or digit.", safe, DP_NAME_MAX);
        return -EINVAL;
    }
    sep = uri ? strstr(uri, "://") : NULL;
    if (!uri || !sep || sep == uri || strlen(uri) > HOST_URI_MAX ||
        !text_is_safe(uri, HOST_URI_MAX) || strpbrk(uri, " \t\"'\\")) {
        _cleanup_free_ char *safe = text_escape(uri ? uri : "");

        *reterr_msg = xasprintf("Bad libvirt URI '%s': expected DRIVER[+TRANSPORT]://"
                                "[USER@][HOST][:PORT]/PATH, e.g. qemu+ssh://root@kvm2/system.",
                                safe);
        return -EINVAL;
    }
    for (const char *p = uri; p < sep; p++)
        if (!isalnum((unsigned char) *p) && *p != '+') {
            _cleanup_free_ char *safe = text_escape(uri);

            *reterr_msg = xasprintf("Bad libvirt URI '%s': its scheme may hold only letters, "
                                    "digits and '+'.", safe);
            return -EINVAL;
        }
    return 0;
}

int
host_parse_size(const char *text, uint64_t *ret)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (!text || !isdigit((unsigned char) *text))
        return -EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0)
        return -ERANGE;
    switch (*end) {
    case '\0': break;
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default: return -EINVAL;
    }
    if (*end == 'i' && shift > 0)
        end++;
    if (*end == 'B' && shift > 0)
        end++;
    if (*end != '\0')
        return -EINVAL;
    if (shift > 0 && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *ret = (uint64_t) v << shift;
    return 0;
}

char *
host_uri_hostname(const char *uri)
{
    const char *p = uri ? strstr(uri, "://") : NULL, *at, *end;

    if (!p)
        return NULL;
    p += 3;
    end = p + strcspn(p, "/?");
    at = memchr(p, '@', (size_t) (end - p));
    if (at)
        p = at + 1;
    if (*p == '[') { /* [v6]:port */
        const char *close = memchr(p, ']', (size_t) (end - p));

        if (!close)
            return NULL;
        return xstrndup(p + 1, (size_t) (close - p - 1));
    }
    end = p + strcspn(p, ":/?");
    return end > p ? xstrndup(p, (size_t) (end - p)) : NULL;
}
