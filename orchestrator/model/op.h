/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* op.h - long-running pool operations (rebase, refresh): "op" is the C
 * name of an operation, as "desk" is of a desktop. See op.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

enum op_kind {
    OP_KIND_REBASE,   /* move a pool onto another image version */
    OP_KIND_REFRESH,  /* recreate a pool's idle desktops from their image */
    _OP_KIND_MAX,
    _OP_KIND_INVALID = -EINVAL,
};

enum op_state {
    OP_STATE_RUNNING,
    OP_STATE_SUCCEEDED,
    OP_STATE_FAILED,
    _OP_STATE_MAX,
    _OP_STATE_INVALID = -EINVAL,
};

enum op_policy {
    OP_POLICY_WAIT_FOR_LOGOFF, /* in-use desktops move when their user logs off */
    OP_POLICY_FORCE_LOGOFF,    /* ... or are logged off after the warning period */
    _OP_POLICY_MAX,
    _OP_POLICY_INVALID = -EINVAL,
};

struct op {
    char *id;               /* UUID */
    enum op_kind kind;
    char *pool;
    unsigned from_version;  /* the pool's version when it started */
    unsigned to_version;
    enum op_policy policy;
    unsigned warn;          /* seconds before a forced logoff */
    unsigned batch;         /* desktops replaced at once */
    unsigned first_seq;     /* desktops numbered from here were made by it */
    enum op_state state;
    unsigned total, done, failed; /* desktops: to move, moved, that failed */
    char *step;             /* what it does now, for people */
    char *error;            /* why it failed */
    char *created_by;
    int64_t created_at, updated_at, finished_at;
};

struct op *op_free(struct op *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct op *, op_free);
void op_list_free(struct op **list, size_t n);

const char *op_kind_to_string(enum op_kind k);
enum op_kind op_kind_from_string(const char *s);
const char *op_state_to_string(enum op_state s);
enum op_state op_state_from_string(const char *s);
const char *op_policy_to_string(enum op_policy p);
enum op_policy op_policy_from_string(const char *s);
