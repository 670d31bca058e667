/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-request.c - libFuzzer harness for the broker's untrusted input
 *
 * Feeds arbitrary bytes to json_parse_object() and api_acquire_req_parse(),
 * the code that turns a POST /v1/pools/{pool}/sessions body into a checked
 * struct, so that AddressSanitizer and UBSan see every path through it.
 *
 * DESIGN: request parsing is kept pure (no store, no libvirt, no HTTP) so it
 * can be driven here in isolation; built and run by tests/fuzz/run.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api-request.h"
#include "json-util.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_acquire_req q = { 0 };
    json_object *o = NULL;
    char *msg = NULL;
    int r;

    /* the parsers take a length, not a C string: no terminator given */
    r = json_parse_object((const char *) data, size, &o, &msg);
    if (r < 0) {
        if (!msg || !msg[0])
            abort();    /* every refusal must carry a sentence */
    } else if (!o || !json_object_is_type(o, json_type_object)) {
        abort();
    }
    json_object_put(o);
    free(msg);
    msg = NULL;

    r = api_acquire_req_parse((const char *) data, size, &q, &msg);
    if (r < 0) {
        if (!msg || !msg[0])
            abort();
        free(msg);
        return 0;
    }
    /* a parsed request only ever holds valid names */
    if (!principal_name_is_valid(q.user) || !q.groups || q.n_groups > POOL_MAX_GROUPS)
        abort();
    for (size_t i = 0; i < q.n_groups; i++)
        if (!principal_name_is_valid(q.groups[i]))
            abort();
    if (q.groups[q.n_groups])
        abort();
    if (q.client && strlen(q.client) > 256)
        abort();
    api_acquire_req_done(&q);
    return 0;
}
