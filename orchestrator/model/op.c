/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* op.c - the operation record (rebase, refresh): its memory and its names
 *
 * An operation is desired state with a history: the store keeps it, the
 * planner drives it one pass at a time (canary, batches, logoffs) and
 * decides when it is over, so it survives a daemon restart and resumes by
 * itself. Pure.
 */
#include "config.h"

#include "op.h"

static const char *const op_kind_names[_OP_KIND_MAX] = {
    [OP_KIND_REBASE] = "rebase",
    [OP_KIND_REFRESH] = "refresh",
};

static const char *const op_state_names[_OP_STATE_MAX] = {
    [OP_STATE_RUNNING] = "running",
    [OP_STATE_SUCCEEDED] = "succeeded",
    [OP_STATE_FAILED] = "failed",
};

static const char *const op_policy_names[_OP_POLICY_MAX] = {
    [OP_POLICY_WAIT_FOR_LOGOFF] = "wait-for-logoff",
    [OP_POLICY_FORCE_LOGOFF] = "force-logoff",
};

struct op *
op_free(struct op *o)
{
    if (!o)
        return NULL;
    free(o->id);
    free(o->pool);
    free(o->step);
    free(o->error);
    free(o->created_by);
    free(o);
    return NULL;
}

void
op_list_free(struct op **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        op_free(list[i]);
    free(list);
}

#define DEFINE_NAMES(prefix, type, names, max, invalid)                 \
    const char *prefix##_to_string(type v)                              \
    {                                                                   \
        if ((int) v < 0 || v >= max)                                    \
            return NULL;                                                \
        return names[v];                                                \
    }                                                                   \
    type prefix##_from_string(const char *s)                            \
    {                                                                   \
        for (int i = 0; s && i < max; i++)                              \
            if (streq(s, names[i]))                                     \
                return (type) i;                                        \
        return invalid;                                                 \
    }

DEFINE_NAMES(op_kind, enum op_kind, op_kind_names, _OP_KIND_MAX, _OP_KIND_INVALID)
DEFINE_NAMES(op_state, enum op_state, op_state_names, _OP_STATE_MAX, _OP_STATE_INVALID)
DEFINE_NAMES(op_policy, enum op_policy, op_policy_names, _OP_POLICY_MAX, _OP_POLICY_INVALID)
