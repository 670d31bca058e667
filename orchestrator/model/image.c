/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image.c - golden image versions: the record
 *
 * DESIGN
 *   A golden image version is a qcow2 file that deskpool owns: imported
 *   (copied) into the images directory, hashed on the way, made read-only
 *   and never written again. Desktops are overlays backed by it. This file
 *   holds the record only; checking and copying files is image-import.c
 *   (daemon/). No I/O, no logging.
 */
#include "config.h"

#include "image.h"

struct image *
image_free(struct image *img)
{
    if (!img)
        return NULL;
    free(img->name);
    free(img->path);
    free(img->sha256);
    free(img->note);
    free(img->created_by);
    free(img);
    return NULL;
}

void
image_list_free(struct image **imgs, size_t n)
{
    if (!imgs)
        return;
    for (size_t i = 0; i < n; i++)
        image_free(imgs[i]);
    free(imgs);
}
