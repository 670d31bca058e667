/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image.h - golden images: records, qcow2 checks, import. See image.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* One immutable version of a golden image. */
struct image {
    char *name;         /* "win11-clinical" */
    unsigned version;   /* 1, 2, ... */
    char *path;         /* the imported, read-only qcow2 file */
    char *sha256;       /* hex, of the imported file */
    uint64_t size;      /* file size in bytes */
    uint64_t virtual_size; /* disk size the guest sees */
    char *note;         /* free text from whoever published it, may be NULL */
    char *created_by;   /* may be NULL */
    int64_t created_at; /* unix seconds */
    bool retired;       /* file removed; kept as history */
};

struct image *image_free(struct image *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct image *, image_free);
void image_list_free(struct image **imgs, size_t n);

/* Checks that PATH is a regular qcow2 file without a backing file.
 * On success fills *ret_virtual_size and returns 0. On failure returns
 * -ENOENT (missing), -EINVAL (not a qcow2 file, or it has a backing chain;
 * *reterr_msg then holds a whole sentence for the user) or another errno. */
int image_check_file(const char *path, uint64_t *ret_virtual_size, char **reterr_msg);

/* Copies SRC to DST (which must not exist), hashing it on the way, then
 * makes DST read-only (0444). Returns 0 and the hex sha256 in *ret_sha256,
 * or a negative errno (DST is removed on failure). Does not log. */
int image_import_file(const char *src, const char *dst, char **ret_sha256, uint64_t *ret_size);
