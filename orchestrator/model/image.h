/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image.h - golden image versions: the record. See image.c. */
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
