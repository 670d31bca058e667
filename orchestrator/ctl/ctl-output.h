/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-output.h - tables and progress lines for deskpoolctl. See ctl-output.c. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "macro.h"

struct ctl_table;

/* A table with the given column headers (NULL-terminated list). Aborts on
 * OOM; never returns NULL. */
struct ctl_table *ctl_table_new(const char *header, ...);

/* Free a table. Accepts NULL, returns NULL. */
struct ctl_table *ctl_table_free(struct ctl_table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ctl_table *, ctl_table_free)

/* Append one cell; rows fill left to right and wrap after the last column.
 * NULL or "" prints as "-"; control characters and invalid UTF-8 print
 * escaped (text_escape()). Cannot fail (aborts on OOM). */
void ctl_table_add(struct ctl_table *t, const char *cell);
void ctl_table_addf(struct ctl_table *t, const char *fmt, ...) _printf_(2, 3);

/* Number of complete or partial rows added so far. */
size_t ctl_table_rows(const struct ctl_table *t);

/* Print the header and the rows: columns as wide as their widest cell,
 * two spaces apart, no trailing spaces. Returns 0 or -EIO when the
 * stream reports an error. */
int ctl_table_print(const struct ctl_table *t, FILE *f);

/* True when f is a terminal. */
bool ctl_is_tty(FILE *f);

/* "5.0M"-style size (binary units), "512B" below 1 KiB. New string. */
char *ctl_format_bytes(uint64_t bytes);

/* "90s", "15m", "1h30m", "2d12h": seconds in the largest units that
 * divide them exactly, at most days; "0s" for 0. New string. */
char *ctl_format_duration(uint64_t seconds);

/* "[#####-----]": done out of total in width characters (full when total
 * is 0). New string. */
char *ctl_format_bar(unsigned done, unsigned total, unsigned width);

/* A progress line: on a terminal one line redrawn in place with \r;
 * otherwise one line per change. */
struct ctl_progress {
    FILE *f;
    bool tty;
    bool drawn;     /* a line without newline is on the terminal */
    char *last;
};

void ctl_progress_init(struct ctl_progress *p, FILE *f);

/* Show line (escaped: text_escape()) unless it equals the last one shown. */
void ctl_progress_update(struct ctl_progress *p, const char *line);

/* End the progress line (newline on a terminal) and free its state. Safe
 * to call twice. */
void ctl_progress_done(struct ctl_progress *p);

struct json_object;

/* Replace every string in O (recursively; NULL is fine) that holds a
 * control character, invalid UTF-8 or a NUL by its text_escape()d form,
 * for documents the human output prints from. Cannot fail (aborts on
 * OOM). */
void ctl_escape_json_strings(struct json_object *o);
