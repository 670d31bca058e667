/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api-error.h - the one errno -> HTTP status table. See api-error.c. */
#pragma once

#include "macro.h"

struct api_error_map {
    unsigned status;
    const char *code;
};

/* Status and code for a negative errno (anything unknown: 500 internal). */
struct api_error_map api_error_from_errno(int err);

/* {"error":{"code":CODE,"message":MESSAGE}} as a new string. */
char *api_error_body(const char *code, const char *message);
