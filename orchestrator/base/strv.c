/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* strv.c - NULL-terminated string vectors
 *
 * The one implementation of free, join and split for lists of strings
 * (a pool's groups, an acquire's groups, listings from libvirt).
 * Allocation failures abort, like xmalloc0(). Nothing here logs.
 */
#include "config.h"

#include "strv.h"

char **
strv_free(char **v)
{
    if (!v)
        return NULL;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
    return NULL;
}

void
strv_free_n(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

size_t
strv_length(char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

bool
strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (streq(v[i], s))
            return true;
    return false;
}

char *
strv_join(char *const *v, char sep)
{
    size_t len = 1;
    char *out, *o;

    for (size_t i = 0; v && v[i]; i++)
        len += strlen(v[i]) + 1;
    out = o = xmalloc0(len);
    for (size_t i = 0; v && v[i]; i++) {
        size_t l = strlen(v[i]);

        if (i > 0)
            *o++ = sep;
        memcpy(o, v[i], l);
        o += l;
    }
    *o = '\0';
    return out;
}

char **
strv_split(const char *s, char sep)
{
    size_t n = 1;
    char **v;
    const char *p;

    for (p = s ? s : ""; *p; p++)
        n += *p == sep;
    v = xmalloc0(sizeof(char *) * (n + 1));
    n = 0;
    for (p = s ? s : ""; *p;) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t) (e - p) : strlen(p);

        if (len > 0) {
            v[n] = strndup(p, len);
            if (!v[n])
                abort();
            n++;
        }
        p += len + (e ? 1 : 0);
    }
    return v;
}

size_t
strv_remove(char **v, const char *s)
{
    size_t k = 0, removed = 0;

    for (size_t i = 0; v && v[i]; i++) {
        if (streq(v[i], s)) {
            free(v[i]);
            removed++;
            continue;
        }
        v[k++] = v[i];
    }
    if (v)
        v[k] = NULL;
    return removed;
}
