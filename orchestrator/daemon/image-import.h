/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image-import.h - golden image files: checks, import. See image-import.c. */
#pragma once

#include <stdint.h>

#include "image.h"

/* Checks that PATH is a regular qcow2 file without a backing file.
 * On success fills *ret_virtual_size and returns 0. On failure returns
 * -ENOENT (missing), -EINVAL (not a qcow2 file, or it has a backing chain;
 * *reterr_msg then holds a whole sentence for the user) or another errno. */
int image_check_file(const char *path, uint64_t *ret_virtual_size, char **reterr_msg);

/* Copies SRC to DST (which must not exist), hashing it on the way, then
 * makes DST read-only (0444). Returns 0 and the hex sha256 in *ret_sha256,
 * or a negative errno (DST is removed on failure). Does not log. */
int image_import_file(const char *src, const char *dst, char **ret_sha256, uint64_t *ret_size);
