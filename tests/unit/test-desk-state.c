/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-desk-state.c - the desktop state machine, pair by pair
 *
 * DESIGN
 *   The expected transitions are written out below from the meaning
 *   documented in desk-state.c (the life cycle, rebuild, quarantine,
 *   rebase and delete paths), independently of its bit table, and every
 *   from x to pair of the real table is compared with them. Pure: no I/O.
 */
#include "config.h"

#include <stdio.h>

#include "desk-state.h"
#include "tests.h"

#define N _DESK_STATE_MAX

struct pair {
    enum desk_state from, to;
};

static const struct pair expected_allowed[] = {
    /* the life cycle */
    { DESK_STATE_PROVISIONING, DESK_STATE_BOOTING },
    { DESK_STATE_BOOTING, DESK_STATE_READY },
    { DESK_STATE_READY, DESK_STATE_ASSIGNED },
    { DESK_STATE_ASSIGNED, DESK_STATE_IN_USE },
    { DESK_STATE_IN_USE, DESK_STATE_RELEASING },
    { DESK_STATE_RELEASING, DESK_STATE_READY },
    /* an assignment given back before the console was used */
    { DESK_STATE_ASSIGNED, DESK_STATE_RELEASING },
    /* quarantine: a provisioning or boot that failed too often */
    { DESK_STATE_PROVISIONING, DESK_STATE_FAILED },
    { DESK_STATE_BOOTING, DESK_STATE_FAILED },
    /* rebuild: failed boot, vanished/stopped domain of a ready desktop */
    { DESK_STATE_BOOTING, DESK_STATE_PROVISIONING },
    { DESK_STATE_READY, DESK_STATE_BOOTING },
    { DESK_STATE_READY, DESK_STATE_PROVISIONING },
    /* a wipe that fails: rebuild or quarantine, never ready */
    { DESK_STATE_RELEASING, DESK_STATE_PROVISIONING },
    { DESK_STATE_RELEASING, DESK_STATE_FAILED },
    /* rebase: ready/assigned/in_use -> rebasing -> booting (or rebuild, or failed) */
    { DESK_STATE_READY, DESK_STATE_REBASING },
    { DESK_STATE_ASSIGNED, DESK_STATE_REBASING },
    { DESK_STATE_IN_USE, DESK_STATE_REBASING },
    { DESK_STATE_REBASING, DESK_STATE_BOOTING },
    { DESK_STATE_REBASING, DESK_STATE_PROVISIONING },
    { DESK_STATE_REBASING, DESK_STATE_FAILED },
    /* an operator retries a quarantined desktop */
    { DESK_STATE_FAILED, DESK_STATE_PROVISIONING },
    /* any -> deleting (deleting itself excepted: no self-transitions) */
    { DESK_STATE_PROVISIONING, DESK_STATE_DELETING },
    { DESK_STATE_BOOTING, DESK_STATE_DELETING },
    { DESK_STATE_READY, DESK_STATE_DELETING },
    { DESK_STATE_ASSIGNED, DESK_STATE_DELETING },
    { DESK_STATE_IN_USE, DESK_STATE_DELETING },
    { DESK_STATE_RELEASING, DESK_STATE_DELETING },
    { DESK_STATE_REBASING, DESK_STATE_DELETING },
    { DESK_STATE_FAILED, DESK_STATE_DELETING },
};

static const char *const names[N] = {
    "provisioning", "booting", "ready", "assigned", "in_use",
    "releasing", "rebasing", "failed", "deleting",
};

TEST(to_from_string)
{
    ASSERT_EQ(N, 9);
    for (int i = 0; i < N; i++) {
        ASSERT_STREQ(desk_state_to_string((enum desk_state) i), names[i]);
        ASSERT_EQ(desk_state_from_string(names[i]), i);
    }
    ASSERT_NULL(desk_state_to_string(_DESK_STATE_MAX));
    ASSERT_NULL(desk_state_to_string(_DESK_STATE_INVALID));
    ASSERT_NULL(desk_state_to_string((enum desk_state) 1000));

    ASSERT_EQ(desk_state_from_string(NULL), _DESK_STATE_INVALID);
    ASSERT_EQ(desk_state_from_string(""), _DESK_STATE_INVALID);
    ASSERT_EQ(desk_state_from_string("READY"), _DESK_STATE_INVALID);
    ASSERT_EQ(desk_state_from_string("ready "), _DESK_STATE_INVALID);
    ASSERT_EQ(desk_state_from_string("in-use"), _DESK_STATE_INVALID);
    ASSERT_EQ(desk_state_from_string("quarantined"), _DESK_STATE_INVALID);
    ASSERT_EQ(_DESK_STATE_INVALID, -EINVAL);
}

TEST(transition_matrix)
{
    bool want[N][N] = { { false } };
    unsigned mismatches = 0, allowed = 0;

    for (size_t k = 0; k < ELEMENTSOF(expected_allowed); k++)
        want[expected_allowed[k].from][expected_allowed[k].to] = true;

    for (int from = 0; from < N; from++)
        for (int to = 0; to < N; to++) {
            bool got = desk_state_can_transition((enum desk_state) from, (enum desk_state) to);

            if (got)
                allowed++;
            if (got != want[from][to]) {
                fprintf(stderr, "  %s -> %s: table says %s, expected %s\n", names[from],
                        names[to], got ? "allowed" : "refused",
                        want[from][to] ? "allowed" : "refused");
                mismatches++;
            }
        }
    ASSERT_EQ(mismatches, 0);
    ASSERT_EQ(allowed, ELEMENTSOF(expected_allowed));
}

TEST(no_self_transitions)
{
    for (int s = 0; s < N; s++)
        ASSERT_FALSE(desk_state_can_transition((enum desk_state) s, (enum desk_state) s));
}

TEST(deleting_is_final)
{
    for (int to = 0; to < N; to++)
        ASSERT_FALSE(desk_state_can_transition(DESK_STATE_DELETING, (enum desk_state) to));
    /* and everything else can be deleted */
    for (int from = 0; from < N; from++)
        if (from != DESK_STATE_DELETING)
            ASSERT_TRUE(desk_state_can_transition((enum desk_state) from,
                                                  DESK_STATE_DELETING));
}

TEST(in_use_never_straight_to_ready)
{
    /* a used desktop is wiped (releasing) before it is a spare again */
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_IN_USE, DESK_STATE_READY));
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_ASSIGNED, DESK_STATE_READY));
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_FAILED, DESK_STATE_READY));
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_PROVISIONING, DESK_STATE_READY));
}

TEST(invalid_states)
{
    ASSERT_FALSE(desk_state_can_transition(_DESK_STATE_INVALID, DESK_STATE_READY));
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_READY, _DESK_STATE_INVALID));
    ASSERT_FALSE(desk_state_can_transition(_DESK_STATE_MAX, DESK_STATE_DELETING));
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_READY, _DESK_STATE_MAX));
    ASSERT_FALSE(desk_state_can_transition((enum desk_state) 31, DESK_STATE_READY));
    ASSERT_FALSE(desk_state_can_transition(DESK_STATE_READY, (enum desk_state) 40));
    ASSERT_FALSE(desk_state_is_idle(_DESK_STATE_INVALID));
    ASSERT_FALSE(desk_state_is_in_use(_DESK_STATE_INVALID));
    ASSERT_FALSE(desk_state_is_pending(_DESK_STATE_INVALID));
}

TEST(predicates)
{
    /* idle: a spare nobody holds; in use: held by a user; pending: on its way */
    static const bool idle[N] = { [DESK_STATE_READY] = true };
    static const bool in_use[N] = {
        [DESK_STATE_ASSIGNED] = true, [DESK_STATE_IN_USE] = true,
        [DESK_STATE_RELEASING] = true,
    };
    static const bool pending[N] = {
        [DESK_STATE_PROVISIONING] = true, [DESK_STATE_BOOTING] = true,
        [DESK_STATE_REBASING] = true,
    };

    for (int s = 0; s < N; s++) {
        enum desk_state st = (enum desk_state) s;
        int n = 0;

        ASSERT_EQ(desk_state_is_idle(st), idle[s]);
        ASSERT_EQ(desk_state_is_in_use(st), in_use[s]);
        ASSERT_EQ(desk_state_is_pending(st), pending[s]);
        n = desk_state_is_idle(st) + desk_state_is_in_use(st) + desk_state_is_pending(st);
        /* at most one category; failed and deleting are in none */
        ASSERT_TRUE(n <= 1);
        if (st == DESK_STATE_FAILED || st == DESK_STATE_DELETING)
            ASSERT_EQ(n, 0);
    }
}

int
main(void)
{
    RUN(to_from_string);
    RUN(transition_matrix);
    RUN(no_self_transitions);
    RUN(deleting_is_final);
    RUN(in_use_never_straight_to_ready);
    RUN(invalid_states);
    RUN(predicates);
    return TESTS_DONE();
}
