/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clone.h - desktops as instant clones of a parent: made, finished,
 * wiped. See clone.c and docs/internals/instant-clones.md. */
#pragma once

#include "actions.h"
#include "desk.h"
#include "tmpl.h"

/* Provisioning desktop D becomes a clone of PARENT (ready):
 * the parent recorded on the row, a fresh overlay on the parent's, the
 * clone's domain defined from the parent's saved XML, D -> booting, the
 * parent's memory state restored under D's name. Then clone_finish() is
 * the rest. A restore that fails for the parent's sake (a damaged saved
 * image, a QEMU that cannot load it) fails the parent, which sends its
 * pools back to booting; D goes back to provisioning either way. -ESTALE
 * when PARENT is no longer ready (nothing was done). */
int clone_provision(const struct action_ctx *c, const struct desk *d, const char *parent,
                    char **reterr_msg);

/* Booting clone D: its agent answers, then its identity (its NICs with
 * its own MACs, the clock, its host name), its console locked, and the
 * post-clone hook (a veto fails the attempt). A clone that is not running
 * any more goes back to provisioning (-EIO). The caller moves it to
 * ready. */
int clone_finish(const struct action_ctx *c, const struct desk *d, const struct tmpl *t,
                 char **reterr_msg);

/* The wipe of released clone D (or of a booted desktop of an instant
 * pool): its domain paused at once, the next incarnation (the other
 * domain name, a new UUID, a fresh overlay on PARENT) restored and made
 * ready while the last one waits paused, then the last one destroyed,
 * undefined and its overlay deleted. D is ready when this returns 0; on
 * failure it is back in provisioning, never handed out unwiped. */
int clone_wipe(const struct action_ctx *c, const struct desk *d, const struct tmpl *t,
               const char *parent, char **reterr_msg);
