/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* array.c - growing arrays. See array.h. */
#include "config.h"

#include <stdint.h>

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
