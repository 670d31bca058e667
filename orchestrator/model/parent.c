/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* parent.c - the parent record: its states, names and memory. Which
 * parent a pool uses is the planner's; building and removing one is
 * daemon/parent.c's. */
#include "config.h"

#include "parent.h"
#include "util.h"

static const char *const parent_state_names[_PARENT_STATE_MAX] = {
    [PARENT_STATE_BUILDING] = "building",
    [PARENT_STATE_READY] = "ready",
    [PARENT_STATE_FAILED] = "failed",
    [PARENT_STATE_DELETING] = "deleting",
};

const char *
parent_state_to_string(enum parent_state s)
{
    if (s < 0 || s >= _PARENT_STATE_MAX)
        return NULL;
    return parent_state_names[s];
}

enum parent_state
parent_state_from_string(const char *s)
{
    if (!s)
        return _PARENT_STATE_INVALID;
    for (int i = 0; i < _PARENT_STATE_MAX; i++)
        if (streq(s, parent_state_names[i]))
            return (enum parent_state) i;
    return _PARENT_STATE_INVALID;
}

char *
parent_domain_name(const char *instance, const char *parent_name)
{
    return xasprintf("%s.parent.%s", instance, parent_name);
}

char *
parent_volume_name(const char *domain)
{
    return xasprintf("%s.qcow2", domain);
}

char *
parent_saved_path(const char *dir, const char *parent_name)
{
    return xasprintf("%s/%s.save", dir, parent_name);
}

bool
parent_matches(const struct parent *p, const char *image, unsigned version,
               const char *template, const char *digest)
{
    return streq(p->image, image) && p->image_version == version &&
           streq(p->template, template) && streq_ptr(p->template_digest, digest);
}

struct parent *
parent_free(struct parent *p)
{
    if (!p)
        return NULL;
    free(p->name);
    free(p->image);
    free(p->template);
    free(p->template_digest);
    free(p->uuid);
    free(p->domain);
    free(p->volume);
    free(p->saved);
    free(p->error);
    free(p);
    return NULL;
}

void
parent_list_free(struct parent **p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        parent_free(p[i]);
    free(p);
}
