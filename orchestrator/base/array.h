/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* array.h - growing arrays: the one place that calls realloc for them.
 *
 *     struct thing *list = NULL;
 *     size_t n = 0, alloc = 0;
 *     ARRAY_GROW(list, alloc, n + 1);
 *     list[n++] = ...;
 *
 * Capacity doubles (at least 16 elements); the new room is zeroed; aborts on
 * OOM or on a size that would overflow, like xmalloc0(). */
#pragma once

#include "macro.h"

void array_grow(void **p, size_t *alloc, size_t need, size_t elem_size);

#define ARRAY_GROW(p, alloc, need) \
    array_grow((void **) &(p), &(alloc), (need), sizeof(*(p)))
