/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* parent-build.h - building and removing the parents of instant clones.
 * See parent-build.c and docs/internals/instant-clones.md. */
#pragma once

#include "actions.h"

/* Builds parent NAME (building): an overlay on the golden image, the
 * template filled as a parent (no NIC, <genid/>), booted until its agent
 * answers, the pre-freeze hook (a veto fails the attempt), its memory
 * state saved (hv_parent_save()), the domain undefined and the overlay
 * made read-only: building -> ready. A failed attempt is counted; at
 * max_boot_failures the parent fails and its pools boot their desktops
 * (store_parent_record_failure()). Leftovers of an interrupted attempt
 * are removed first. */
int parent_build(const struct action_ctx *c, const char *name, char **reterr_msg);

/* Removes parent NAME: -> deleting (only while no desktop names it:
 * else -ESTALE, nothing done), domain, saved image, overlay, row. */
int parent_delete(const struct action_ctx *c, const char *name, char **reterr_msg);

/* The digest a parent records for TEMPLATE_TEXT (LEN bytes) under domain
 * type VIRT_TYPE: a parent built from another template or for another
 * type cannot be cloned from. A new string of hex. */
char *parent_template_digest(const char *template_text, size_t len, const char *virt_type);
