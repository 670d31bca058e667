/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image-import.h - golden image files: checks, import, claims, tidying. See image-import.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* What image_import_file() made. */
struct image_import {
    char *sha256;           /* hex, of the stored copy */
    uint64_t size;          /* bytes */
    uint64_t virtual_size;  /* from the stored copy's header */
    bool replaced_leftover; /* a writable file an interrupted import left was removed */
};

/* Frees what IMP holds (not IMP). Can't fail; takes NULL. */
void image_import_done(struct image_import *imp);

/* Imports the qcow2 file SRC as DST (an absolute path; its directory is
 * made 0711 when missing). SRC is opened once and must be a regular qcow2
 * file (version 2 or 3) without a backing file or an external data file,
 * with a virtual size; a symlink is followed once, at that open. The copy
 * is written to a temporary next to DST, checked again (same header, same
 * virtual size) and then linked to DST, writable (0600): call
 * image_import_commit() once the store names it. A writable file at DST
 * (left by an interrupted import) is replaced; the caller must hold
 * image_claim() for the image so that no other import writes DST.
 *
 * Returns 0 and fills *RET (release with image_import_done()). On failure
 * nothing is left behind, *RET is untouched and *RETERR_MSG holds a whole
 * sentence: -ENOENT (SRC missing), -EINVAL (SRC is not an absolute path,
 * not a regular file, not a golden qcow2 image, or changed while it was
 * copied), -EEXIST (a read-only file or something else is at DST), or
 * another negative errno for I/O errors (-ENOSPC...). Does not log. */
int image_import_file(const char *src, const char *dst, struct image_import *ret,
                      char **reterr_msg);

/* Makes the imported file PATH read-only (0400): the version is recorded.
 * 0 or a negative errno from chmod(). Does not log. */
int image_import_commit(const char *path);

/* Claims image NAME for one import in this process: 0 and the claim, or
 * -EBUSY while another import holds NAME (-EINVAL for NULL). Does not log. */
struct image_claim;
int image_claim(const char *name, struct image_claim **ret);

/* Gives the claim back. Can't fail; takes NULL; returns NULL. */
struct image_claim *image_claim_release(struct image_claim *claim);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct image_claim *, image_claim_release);

/* Tidies IMAGES_DIR when the daemon starts, before any import can run:
 * removes the temporaries (".NAME-vN.qcow2.XXXXXX") that an interrupted
 * import left, makes the directory 0711 and takes group and other access
 * off its files (golden files were 0444 before). Never removes a
 * NAME-vN.qcow2. A missing directory is fine. Returns 0 and the numbers
 * of files removed and of modes changed, or the first negative errno (it
 * goes on with the other files first). Does not log. */
int image_import_cleanup(const char *images_dir, unsigned *ret_removed,
                         unsigned *ret_tightened);
