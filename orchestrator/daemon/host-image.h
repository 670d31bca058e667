/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* host-image.h - image versions on the hosts that need them. See
 * host-image.c. */
#pragma once

#include "hv.h"
#include "store.h"

/* The storage volume name of IMAGE version VERSION on a host. */
char *host_image_volume_name(const char *instance, const char *image, unsigned version);

/* The path on HOST (reached through H) of image IMG for an overlay's
 * backing file: the registered file on the local host; on another host
 * its volume in STORAGE_POOL, copied there through libvirt the first
 * time and checked by its SHA-256 read back from the host, or found there
 * already and checked (a shared pool). 0 and a new string, or a negative
 * errno with a sentence (-EBADMSG: the host's copy is not the image). */
int host_image_ensure(struct store *s, struct hv *h, const char *host, const char *instance,
                      const char *storage_pool, const struct image *img, char **ret_path,
                      char **reterr_msg);
