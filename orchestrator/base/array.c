/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* array.c - growing arrays. See array.h. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "array.h"

void
array_grow(void **p, size_t *alloc, size_t need, size_t elem_size)
{
    size_t a;
    void *q;

    if (need <= *alloc)
        return;
    a = MAX(need, MAX(*alloc * 2, (size_t) 16));
    if (elem_size == 0 || a > SIZE_MAX / elem_size)
        abort();
    q = realloc(*p, a * elem_size);
    if (!q)
        abort();
    memset((char *) q + *alloc * elem_size, 0, (a - *alloc) * elem_size);
    *p = q;
    *alloc = a;
}

size_t
array_find_name(const void *base, size_t n, size_t size, const char *key, bool *found)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(*(char *const *) ((const char *) base + mid * size), key);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}
