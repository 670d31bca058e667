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

/* Binary search in BASE, N elements of SIZE bytes sorted by their first
 * member, a NUL-terminated string (strcmp() order): the index of KEY with
 * *FOUND true, else where KEY would go with *FOUND false. */
size_t array_find_name(const void *base, size_t n, size_t size, const char *key, bool *found);
