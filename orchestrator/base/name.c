/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* name.c - what a name or a free-text field from outside may hold
 *
 * One place for every rule that stands between input and a path, a domain
 * name, an XML document, a hook's environment, a log line or a terminal.
 * The API refuses what fails here with 400 before it reaches any of those;
 * the CLI checks the same rules to give a better message first. Pure.
 *
 * What was stored before these rules (old rows) and what comes from a
 * program (a hook's output) cannot be refused, only shown safely:
 * text_escape() turns every byte text_is_safe() refuses into a visible
 * escape ("\n", "\t", "\x1b"), so the log, deskpoolctl's tables and a
 * desktop's last_error never carry a control character. A backslash is
 * left alone: escaping twice changes nothing, so the log may escape a
 * line that holds a hook's already escaped output without doubling it;
 * the price is that a literal "\x1b" in the source reads the same.
 */
#include "config.h"

#include "name.h"

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool
name_is_valid(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    if (n == 0 || n > DP_NAME_MAX || !is_lower_alnum(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

char *
instance_socket_path(const char *instance)
{
    if (streq(instance, DP_DEFAULT_INSTANCE))
        return xstrdup(DP_RUNSTATE_DIR "/deskpoold.sock");
    return xasprintf("%s-%s/deskpoold.sock", DP_RUNSTATE_DIR, instance);
}

bool
principal_name_is_valid(const char *s)
{
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    if (n == 0 || n > PRINCIPAL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '@' && c != '-')))
            return false;
    }
    return true;
}

/* Length of the UTF-8 sequence at S (1-4; AVAIL bytes are there), or 0
 * when it is not a valid, shortest-form sequence of a character that is
 * neither a surrogate nor a C1 control. */
static size_t
utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* C1 controls (U+0080-U+009F) act as escapes on some terminals */
    if (cp >= 0x80 && cp <= 0x9f)
        return 0;
    return n;
}

bool
text_is_safe(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t len;

    if (!s)
        return false;
    len = strlen(s);
    if (len > max)
        return false;
    while (*p) {
        size_t k;

        if (*p < 0x20 || *p == 0x7f)
            return false;
        k = utf8_seq_len(p, len - (size_t) (p - (const unsigned char *) s));
        if (k == 0)
            return false;
        p += k;
    }
    return true;
}

size_t
text_escape_to(char *dst, size_t size, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *) s;
    size_t n = 0;

    if (size == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        char esc[4];
        size_t k = p[i] < 0x20 || p[i] == 0x7f ? 0 : utf8_seq_len(p + i, len - i);
        size_t e;

        if (k > 0) {
            if (n + k >= size)
                break;
            memcpy(dst + n, p + i, k);
            n += k;
            i += k;
            continue;
        }
        /* one byte that text_is_safe() refuses: made visible, whole */
        esc[0] = '\\';
        if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t') {
            esc[1] = p[i] == '\n' ? 'n' : p[i] == '\r' ? 'r' : 't';
            e = 2;
        } else {
            esc[1] = 'x';
            esc[2] = hex[p[i] >> 4];
            esc[3] = hex[p[i] & 0xf];
            e = 4;
        }
        if (n + e >= size)
            break;
        memcpy(dst + n, esc, e);
        n += e;
        i++;
    }
    dst[n] = '\0';
    return n;
}

char *
text_escape(const char *s)
{
    size_t len;
    char *t;

    if (!s)
        return NULL;
    len = strlen(s);
    t = xmalloc0(len * TEXT_ESCAPE_GROWTH + 1);
    (void) text_escape_to(t, len * TEXT_ESCAPE_GROWTH + 1, s, len);
    return t;
}
