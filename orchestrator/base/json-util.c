/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-util.c - strict reading of request bodies with json-c
 *
 * The API trusts nothing it is sent: a body must be one JSON object nested
 * at most JSON_MAX_DEPTH deep, each field has one type, numbers are
 * integers within range, strings are bounded, valid UTF-8 and free of NUL
 * and control characters (no field of the API may hold one: they would
 * reach a log line, a terminal or a hook's environment), and unknown
 * fields are refused so that a typo is an error, not a silently ignored
 * option. Messages name the field. Times are RFC 3339 UTC both ways
 * (json_add_time(), json_time_parse()). No logging.
 */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "json-util.h"
#include "name.h"
#include "util.h"

#define JSON_MAX_DEPTH 16

int
json_parse_object(const char *text, size_t len, json_object **ret, char **reterr_msg)
{
    json_tokener *tok;
    json_object *obj;
    enum json_tokener_error jerr;

    if (len > INT32_MAX) {
        *reterr_msg = xstrdup("Request body is too large.");
        return -EINVAL;
    }
    tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, text, (int) len);
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_success && tok->char_offset < (int) len) {
        /* trailing whitespace is fine, anything else is not */
        for (size_t i = (size_t) tok->char_offset; i < len; i++)
            if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
                jerr = json_tokener_error_parse_unexpected;
                break;
            }
    }
    if (!obj || jerr != json_tokener_success) {
        *reterr_msg = xasprintf("Request body is not valid JSON: %s.",
                                jerr == json_tokener_continue
                                    ? "unexpected end of data"
                                    : json_tokener_error_desc(jerr));
        json_object_put(obj);
        json_tokener_free(tok);
        return -EINVAL;
    }
    json_tokener_free(tok);
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        *reterr_msg = xstrdup("Request body must be a JSON object.");
        return -EINVAL;
    }
    *ret = obj;
    return 0;
}

int
json_check_fields(json_object *obj, const char *const *allowed, char **reterr_msg)
{
    json_object_object_foreach(obj, key, val) {
        bool ok = false;

        (void) val;
        for (size_t i = 0; allowed[i]; i++)
            if (streq(key, allowed[i])) {
                ok = true;
                break;
            }
        if (!ok) {
            /* keys may be anything: bound what we echo back */
            *reterr_msg = xasprintf("Unknown field '%.64s'.", key);
            return -EINVAL;
        }
    }
    return 0;
}

int
json_get_string(json_object *obj, const char *field, size_t max_len, const char **ret,
                char **reterr_msg)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, field, &v))
        return -ENOENT;
    if (!json_object_is_type(v, json_type_string)) {
        *reterr_msg = xasprintf("Field '%s' must be a string.", field);
        return -EINVAL;
    }
    if ((size_t) json_object_get_string_len(v) > max_len) {
        *reterr_msg = xasprintf("Field '%s' is longer than %zu bytes.", field, max_len);
        return -EINVAL;
    }
    if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v)) {
        *reterr_msg = xasprintf("Field '%s' contains a NUL byte.", field);
        return -EINVAL;
    }
    if (!text_is_safe(json_object_get_string(v), max_len)) {
        *reterr_msg = xasprintf("Field '%s' contains a control character or is not valid "
                                "UTF-8.", field);
        return -EINVAL;
    }
    *ret = json_object_get_string(v);
    return 0;
}

int
json_get_uint(json_object *obj, const char *field, unsigned max, unsigned *ret,
              char **reterr_msg)
{
    json_object *v;
    int64_t n;

    if (!json_object_object_get_ex(obj, field, &v))
        return -ENOENT;
    if (!json_object_is_type(v, json_type_int)) {
        *reterr_msg = xasprintf("Field '%s' must be a whole number.", field);
        return -EINVAL;
    }
    errno = 0;
    n = json_object_get_int64(v);
    if (errno != 0 || n < 0 || n > (int64_t) max) {
        *reterr_msg = xasprintf("Field '%s' must be between 0 and %u.", field, max);
        return -EINVAL;
    }
    *ret = (unsigned) n;
    return 0;
}

int
json_get_bool(json_object *obj, const char *field, bool *ret, char **reterr_msg)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, field, &v))
        return -ENOENT;
    if (!json_object_is_type(v, json_type_boolean)) {
        *reterr_msg = xasprintf("Field '%s' must be true or false.", field);
        return -EINVAL;
    }
    *ret = json_object_get_boolean(v);
    return 0;
}

void
json_add_string(json_object *obj, const char *key, const char *value)
{
    json_object_object_add(obj, key, value ? json_object_new_string(value) : NULL);
}

void
json_add_int(json_object *obj, const char *key, int64_t value)
{
    json_object_object_add(obj, key, json_object_new_int64(value));
}

void
json_add_time(json_object *obj, const char *key, int64_t unix_sec)
{
    _cleanup_free_ char *s = NULL;

    if (unix_sec <= 0) {
        json_object_object_add(obj, key, NULL);
        return;
    }
    s = format_timestamp(unix_sec);
    json_add_string(obj, key, s);
}

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

/* Reads exactly N digits at *P into *RET and moves *P past them. */
static bool
read_digits(const char **p, unsigned n, unsigned *ret)
{
    unsigned v = 0;

    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned) (c - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

int
json_time_parse(const char *s, int64_t *ret)
{
    static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, oh, om;
    const char *p = s;
    int64_t t, off = 0;

    if (!s)
        return -EINVAL;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return -EINVAL;
    if (*p == 'T' || *p == 't') {
        p++;
        if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi) ||
            *p++ != ':' || !read_digits(&p, 2, &sec))
            return -EINVAL;
        if (h > 23 || mi > 59 || sec > 60)
            return -EINVAL;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;

            if (!read_digits(&p, 2, &oh) || *p++ != ':' || !read_digits(&p, 2, &om) ||
                oh > 23 || om > 59)
                return -EINVAL;
            off = sign * (int64_t) (oh * 3600 + om * 60);
        } else {
            return -EINVAL;
        }
    }
    if (*p != '\0')
        return -EINVAL;
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *ret = t;
    return 0;
}

char *
json_to_string_dup(json_object *obj)
{
    return xstrdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
}
