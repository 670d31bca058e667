/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-util.c - strict reading of request bodies with json-c
 *
 * The API trusts nothing it is sent: a body must be one JSON object, each
 * field has one type, numbers are integers within range, strings are
 * bounded, and unknown fields are refused so that a typo is an error, not
 * a silently ignored option. Messages name the field. No logging.
 */
#include "config.h"

#include "json-util.h"
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

char *
json_to_string_dup(json_object *obj)
{
    return xstrdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
}
