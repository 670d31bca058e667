/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* macro.h - cleanup attributes and small helpers shared by every module
 *
 * The cleanup macros follow systemd's alloc-util.h: a variable declared
 * with _cleanup_free_ (or _cleanup_(xyz_freep)) is released when it goes
 * out of scope; TAKE_PTR() hands it on and leaves NULL behind.
 * Destructors accept NULL and return NULL.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _noreturn_ __attribute__((noreturn))

static inline void
freep(void *p)
{
    free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void
closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Take ownership of *ptr, leaving NULL behind. */
#define TAKE_PTR(ptr)                           \
    ({                                          \
        __typeof__(ptr) _tp_ = (ptr);           \
        (ptr) = NULL;                           \
        _tp_;                                   \
    })

#define TAKE_FD(fd)                             \
    ({                                          \
        int _tf_ = (fd);                        \
        (fd) = -1;                              \
        _tf_;                                   \
    })

/* Define xyz_freep(type **p) around xyz_free(type *p) returning type *. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
    static inline void func##p(type *p)                 \
    {                                                   \
        if (*p)                                         \
            *p = func(*p);                              \
    }

/* The same for library destructors that return void (xmlFreeDoc...). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(type, func, name)      \
    static inline void name(type *p)                            \
    {                                                           \
        if (*p) {                                               \
            func(*p);                                           \
            *p = NULL;                                          \
        }                                                       \
    }

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline bool
streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static inline bool
streq_ptr(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static inline const char *
strempty(const char *s)
{
    return s ? s : "";
}

/* Abort on out-of-memory: deskpool does not try to limp on without heap. */
void *xmalloc0(size_t n);
char *xstrdup(const char *s);
/* The first N bytes of S (fewer at its NUL), a new string; aborts on OOM. */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
