/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-util.h - strict reading of request bodies with json-c. See json-util.c. */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(json_object *, json_object_put, json_object_putp);
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Parses TEXT (LEN bytes) into an object. -EINVAL + message when it is not
 * well-formed JSON, or not an object. Nesting is capped. */
int json_parse_object(const char *text, size_t len, json_object **ret, char **reterr_msg);

/* Refuses fields of OBJ not in ALLOWED (NULL-terminated): -EINVAL + message. */
int json_check_fields(json_object *obj, const char *const *allowed, char **reterr_msg);

/* Typed getters. Absent field: -ENOENT (and nothing set). Wrong type or
 * out of range: -EINVAL + message naming the field. Strings are borrowed
 * from OBJ: at most MAX_LEN bytes of valid UTF-8 without NUL or control
 * characters (name.h's text_is_safe()). */
int json_get_string(json_object *obj, const char *field, size_t max_len, const char **ret,
                    char **reterr_msg);
int json_get_uint(json_object *obj, const char *field, unsigned max, unsigned *ret,
                  char **reterr_msg);
int json_get_bool(json_object *obj, const char *field, bool *ret, char **reterr_msg);

/* Builders that accept NULL strings (JSON null). */
void json_add_string(json_object *obj, const char *key, const char *value);
void json_add_int(json_object *obj, const char *key, int64_t value);
void json_add_time(json_object *obj, const char *key, int64_t unix_sec);

/* Parses an RFC 3339 time ("2026-11-27T21:30:00Z", an offset "+01:00"
 * instead of Z, fractions of a second ignored) or a date ("2026-11-27",
 * midnight UTC) into unix seconds. -EINVAL for anything else. Pure. */
int json_time_parse(const char *s, int64_t *ret);

/* Serialises compactly; the string is the caller's. */
char *json_to_string_dup(json_object *obj);
