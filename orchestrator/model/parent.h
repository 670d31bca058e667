/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* parent.h - the parent of instant clones, as the store keeps it. See
 * parent.c and docs/internals/instant-clones.md.
 *
 * A parent is one booted desktop of an image version and a template,
 * saved once: its memory state (the saved image) and its disk (an overlay
 * on the golden image, read-only from then on) are what every instant
 * clone of it starts from. Parents are internal: no user ever gets one.
 */
#pragma once

#include <stdint.h>

#include "macro.h"

enum parent_state {
    PARENT_STATE_BUILDING,  /* row exists; booting, or being saved */
    PARENT_STATE_READY,     /* saved: clones can be made from it */
    PARENT_STATE_FAILED,    /* its build or a restore from it failed: no more clones */
    PARENT_STATE_DELETING,  /* unused: its files are being removed; row goes last */
    _PARENT_STATE_MAX,
    _PARENT_STATE_INVALID = -EINVAL,
};

struct parent {
    char *name;             /* "IMAGE.vVERSION.TEMPLATE.ID" ('.' is in no name) */
    char *image;
    unsigned image_version;
    char *template;
    char *template_digest;  /* of the template file it was built from */
    enum parent_state state;
    char *uuid;
    char *domain;           /* "INSTANCE.parent.NAME" (parent_domain_name()) */
    char *volume;           /* its overlay's path: the clones' backing file */
    char *saved;            /* its saved memory state's path */
    uint64_t saved_bytes;   /* size of the saved image */
    unsigned failures;      /* failed builds */
    char *error;            /* why it failed, a whole sentence */
    unsigned boot_ms, save_ms; /* how long its boot (until the agent answered) and save took */
    int64_t created_at;     /* unix seconds */
    int64_t state_since;
};

const char *parent_state_to_string(enum parent_state s);
enum parent_state parent_state_from_string(const char *s);

/* Naming rules, in one place: the parent's domain "INSTANCE.parent.NAME"
 * (two dots: never a desktop's "INSTANCE.DESKTOP"), its overlay volume
 * "DOMAIN.qcow2" and its saved image "DIR/NAME.save". */
char *parent_domain_name(const char *instance, const char *parent_name);
char *parent_volume_name(const char *domain);
char *parent_saved_path(const char *dir, const char *parent_name);

/* Whether P was made for IMAGE VERSION of TEMPLATE with DIGEST. */
bool parent_matches(const struct parent *p, const char *image, unsigned version,
                    const char *template, const char *digest);

struct parent *parent_free(struct parent *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct parent *, parent_free);
void parent_list_free(struct parent **p, size_t n);
