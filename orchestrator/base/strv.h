/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* strv.h - NULL-terminated string vectors (systemd's strv). See strv.c. */
#pragma once

#include "macro.h"

/* Frees every string and the vector. Accepts NULL. Returns NULL. */
char **strv_free(char **v);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
/* The same for a counted vector of N strings (not NULL-terminated). */
void strv_free_n(char **v, size_t n);

size_t strv_length(char *const *v);
/* Removes (and frees) every string of V equal to S, keeping the order of
 * the rest. Returns how many were removed. */
size_t strv_remove(char **v, const char *s);
bool strv_contains(char *const *v, const char *s);

/* Joins V with SEP ("" for an empty or NULL vector). New memory. */
char *strv_join(char *const *v, char sep);
/* Splits S at SEP, dropping empty parts (NULL or "" gives an empty
 * vector). New memory; aborts on OOM. */
char **strv_split(const char *s, char sep);
