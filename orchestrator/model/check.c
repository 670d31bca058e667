/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check.c - the invariants between the store and libvirt
 *
 * DESIGN
 *   What must hold whenever no action is under way on a desktop, checked
 *   from the store's rows and what libvirt shows (GET /v1/check,
 *   `deskpoolctl check`, and every fault-injection test):
 *   - a desktop past provisioning has its domain and its overlay volume;
 *   - a desktop that is ready or in a user's hands runs;
 *   - every domain and volume of the instance is named by a row (a
 *     desktop's, its previous incarnation while a wipe tears it down, a
 *     parent's), else it is an orphan: reported, never removed on its own
 *     (orphans.c);
 *   - a clone's parent exists and is not being deleted;
 *   - an active session sits on a desktop that is assigned or in use, and
 *     such a desktop has exactly one active session.
 *   Desktops a worker holds are skipped: they are between two states on
 *   purpose. Pure: no I/O, no clock, no logging.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "array.h"
#include "check.h"
#include "strv.h"
#include "util.h"

struct problems {
    char **v;
    size_t n, cap;
};

static void _printf_(2, 3)
problem(struct problems *p, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    ARRAY_GROW(p->v, p->cap, p->n + 2);
    p->v[p->n++] = s;
}

static bool
in_strs(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (streq(v[i], s))
            return true;
    return false;
}

static const struct check_domain *
find_domain(const struct check_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_domains; i++)
        if (streq(in->domains[i].name, name))
            return &in->domains[i];
    return NULL;
}

static bool
volume_named(const struct check_input *in, const char *vol)
{
    for (size_t i = 0; i < in->n_desks; i++) {
        _cleanup_free_ char *o = desk_volume_name(in->desks[i]->domain);
        _cleanup_free_ char *d = desk_data_volume_name(in->desks[i]->domain);
        _cleanup_free_ char *old = in->desks[i]->old_domain
                                       ? desk_volume_name(in->desks[i]->old_domain) : NULL;

        if (streq(vol, o) || streq(vol, d) || streq_ptr(vol, old))
            return true;
    }
    for (size_t i = 0; i < in->n_parents; i++) {
        _cleanup_free_ char *o = parent_volume_name(in->parents[i]->domain);

        if (streq(vol, o))
            return true;
    }
    return false;
}

static bool
domain_named(const struct check_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_desks; i++)
        if (streq(in->desks[i]->domain, name) || streq_ptr(in->desks[i]->old_domain, name))
            return true;
    for (size_t i = 0; i < in->n_parents; i++)
        if (streq(in->parents[i]->domain, name))
            return true;
    return false;
}

static const struct parent *
find_parent(const struct check_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_parents; i++)
        if (streq(in->parents[i]->name, name))
            return in->parents[i];
    return NULL;
}

static unsigned
sessions_on(const struct check_input *in, const char *desk)
{
    unsigned n = 0;

    for (size_t i = 0; i < in->n_sessions; i++)
        n += streq(in->sessions[i]->desktop, desk);
    return n;
}

static void
check_desk(const struct check_input *in, const struct desk *d, struct problems *p)
{
    const struct check_domain *dom;
    _cleanup_free_ char *vol = NULL;
    unsigned n;

    if (d->state == DESK_STATE_PROVISIONING || d->state == DESK_STATE_DELETING)
        return; /* nothing of value yet / going away */
    dom = find_domain(in, d->domain);
    if (!dom)
        problem(p, "Desktop '%s' (%s) has no domain '%s'.", d->name,
                desk_state_to_string(d->state), d->domain);
    else if (!dom->active && (d->state == DESK_STATE_READY || desk_state_is_in_use(d->state)))
        problem(p, "Desktop '%s' is %s but its domain '%s' is not running.", d->name,
                desk_state_to_string(d->state), d->domain);
    vol = desk_volume_name(d->domain);
    if (!in_strs(in->volumes, in->n_volumes, vol))
        problem(p, "Desktop '%s' (%s) has no overlay volume '%s'.", d->name,
                desk_state_to_string(d->state), vol);
    n = sessions_on(in, d->name);
    if ((d->state == DESK_STATE_ASSIGNED || d->state == DESK_STATE_IN_USE) && n != 1)
        problem(p, "Desktop '%s' is %s with %u active sessions (one expected).", d->name,
                desk_state_to_string(d->state), n);
    if (d->parent) {
        const struct parent *x = find_parent(in, d->parent);

        if (!x || x->state == PARENT_STATE_DELETING)
            problem(p, "Desktop '%s' is a clone of parent '%s', which %s.", d->name, d->parent,
                    x ? "is being deleted" : "does not exist");
    }
}

char **
check_consistency(const struct check_input *in)
{
    struct problems p = { 0 };

    for (size_t i = 0; i < in->n_desks; i++)
        if (!in_strs(in->busy, in->n_busy, in->desks[i]->name))
            check_desk(in, in->desks[i], &p);
    for (size_t i = 0; i < in->n_sessions; i++) {
        const struct session *x = in->sessions[i];
        const struct desk *d = NULL;

        for (size_t k = 0; k < in->n_desks && !d; k++)
            if (streq(in->desks[k]->name, x->desktop))
                d = in->desks[k];
        if (d && in_strs(in->busy, in->n_busy, d->name))
            continue;
        if (!d)
            problem(&p, "Session %s is active on desktop '%s', which does not exist.", x->id,
                    x->desktop);
        else if (d->state != DESK_STATE_ASSIGNED && d->state != DESK_STATE_IN_USE)
            problem(&p, "Session %s is active on desktop '%s', which is %s.", x->id,
                    x->desktop, desk_state_to_string(d->state));
    }
    for (size_t i = 0; i < in->n_domains; i++)
        if (!domain_named(in, in->domains[i].name))
            problem(&p, "Domain '%s' is named by no desktop or parent (an orphan).",
                    in->domains[i].name);
    for (size_t i = 0; i < in->n_volumes; i++)
        if (!volume_named(in, in->volumes[i]))
            problem(&p, "Volume '%s' is named by no desktop or parent (an orphan).",
                    in->volumes[i]);
    if (!p.v)
        p.v = xmalloc0(sizeof(char *));
    return p.v;
}
