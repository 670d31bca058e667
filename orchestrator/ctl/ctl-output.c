/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-output.c - what deskpoolctl shows people: tables and progress lines
 *
 * Owns the human output format: a table is a header row plus rows of
 * strings, each column as wide as its widest cell, two spaces between
 * columns, no trailing spaces (so `grep`, `awk` and `diff` behave). A
 * progress line is redrawn with \r on a terminal and printed once per
 * change when the stream is a file or a pipe, so logs stay readable.
 *
 * DESIGN: cells are copied in; widths are counted in UTF-8 code points
 * (names are ASCII, notes may not be). Nothing here talks to the server
 * or knows the API's documents; machine output (--json) bypasses this
 * file entirely.
 *
 * Everything shown to people may quote untrusted text (a session's client
 * from a row older than the API's checks, a hook's output in last_error),
 * so nothing reaches the terminal unescaped: cells and progress lines go
 * through text_escape() (name.c: "\x1b", "\n" instead of the bytes; a
 * terminal title, a cleared screen or a forged row cannot be drawn), and
 * ctl_escape_json_strings() does the same to every string of an answer
 * that the human output prints from (call() in ctl-util.c runs it when
 * --json is not given). Escaping twice changes nothing.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>

#include <json-c/json.h>

#include "array.h"
#include "ctl-output.h"
#include "name.h"

struct ctl_table {
    size_t n_columns;
    char **cells;       /* header cells first, then the rows, row-major */
    size_t n_cells;
    size_t alloc;
};

static void
table_push(struct ctl_table *t, char *cell)
{
    ARRAY_GROW(t->cells, t->alloc, t->n_cells + 1);
    t->cells[t->n_cells++] = cell;
}

struct ctl_table *
ctl_table_new(const char *header, ...)
{
    struct ctl_table *t = xmalloc0(sizeof(*t));
    va_list ap;

    va_start(ap, header);
    for (const char *h = header; h; h = va_arg(ap, const char *)) {
        table_push(t, xstrdup(h));
        t->n_columns++;
    }
    va_end(ap);
    return t;
}

struct ctl_table *
ctl_table_free(struct ctl_table *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    return NULL;
}

void
ctl_table_add(struct ctl_table *t, const char *cell)
{
    table_push(t, text_escape(cell && cell[0] != '\0' ? cell : "-"));
}

void
ctl_table_addf(struct ctl_table *t, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        abort();
    ctl_table_add(t, s);
    free(s);
}

size_t
ctl_table_rows(const struct ctl_table *t)
{
    if (t->n_columns == 0)
        return 0;
    return (t->n_cells - t->n_columns + t->n_columns - 1) / t->n_columns;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t
text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        if (((unsigned char) *s & 0xC0) != 0x80)
            w++;
    return w;
}

int
ctl_table_print(const struct ctl_table *t, FILE *f)
{
    _cleanup_free_ size_t *width = NULL;

    if (t->n_columns == 0)
        return 0;
    width = xmalloc0(t->n_columns * sizeof(size_t));
    for (size_t i = 0; i < t->n_cells; i++)
        width[i % t->n_columns] = MAX(width[i % t->n_columns], text_width(t->cells[i]));

    for (size_t i = 0; i < t->n_cells; i++) {
        size_t col = i % t->n_columns;
        bool last = col == t->n_columns - 1 || i == t->n_cells - 1;

        fputs(t->cells[i], f);
        if (last) {
            fputc('\n', f);
        } else {
            for (size_t pad = text_width(t->cells[i]); pad < width[col] + 2; pad++)
                fputc(' ', f);
        }
    }
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}

bool
ctl_is_tty(FILE *f)
{
    return isatty(fileno(f)) == 1;
}

char *
ctl_format_bytes(uint64_t bytes)
{
    static const char units[] = "KMGTPE";
    double v = (double) bytes;
    size_t u = 0;

    if (bytes < 1024)
        return xasprintf("%" PRIu64 "B", bytes);
    v /= 1024.0;
    while (v >= 1024.0 && u + 1 < sizeof(units) - 1) {
        v /= 1024.0;
        u++;
    }
    if (v < 10.0)
        return xasprintf("%.1f%c", v, units[u]);
    return xasprintf("%.0f%c", v, units[u]);
}

char *
ctl_format_duration(uint64_t seconds)
{
    static const struct {
        uint64_t sec;
        char unit;
    } units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
    char *s;

    if (seconds == 0)
        return xstrdup("0s");
    s = xstrdup("");
    for (size_t i = 0; i < ELEMENTSOF(units); i++) {
        uint64_t n = seconds / units[i].sec;
        char *t;

        if (n == 0)
            continue;
        seconds -= n * units[i].sec;
        t = xasprintf("%s%" PRIu64 "%c", s, n, units[i].unit);
        free(s);
        s = t;
    }
    return s;
}

char *
ctl_format_bar(unsigned done, unsigned total, unsigned width)
{
    char *s = xmalloc0(width + 3);
    unsigned fill = width;

    if (total > 0 && done < total)
        fill = (unsigned) ((uint64_t) done * width / total);
    s[0] = '[';
    for (unsigned i = 0; i < width; i++)
        s[1 + i] = i < fill ? '#' : '-';
    s[width + 1] = ']';
    return s;
}

void
ctl_progress_init(struct ctl_progress *p, FILE *f)
{
    *p = (struct ctl_progress) {
        .f = f,
        .tty = ctl_is_tty(f),
    };
}

void
ctl_progress_update(struct ctl_progress *p, const char *line)
{
    _cleanup_free_ char *shown = text_escape(line);

    if (streq_ptr(p->last, shown))
        return;
    free(p->last);
    p->last = TAKE_PTR(shown);
    if (p->tty) {
        /* Back to column 0, draw, clear what a longer old line left. */
        fprintf(p->f, "\r%s\033[K", p->last);
        p->drawn = true;
    } else {
        fprintf(p->f, "%s\n", p->last);
    }
    fflush(p->f);
}

void
ctl_escape_json_strings(struct json_object *o)
{
    if (!o)
        return;
    if (json_object_is_type(o, json_type_string)) {
        const char *s = json_object_get_string(o);
        size_t len = (size_t) json_object_get_string_len(o);
        _cleanup_free_ char *e = NULL;

        if (strlen(s) == len && text_is_safe(s, SIZE_MAX))
            return;
        e = xmalloc0(len * TEXT_ESCAPE_GROWTH + 1);
        (void) text_escape_to(e, len * TEXT_ESCAPE_GROWTH + 1, s, len);
        json_object_set_string(o, e);
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            ctl_escape_json_strings(json_object_array_get_idx(o, i));
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, value) {
            (void) key;
            ctl_escape_json_strings(value);
        }
    }
}

void
ctl_progress_done(struct ctl_progress *p)
{
    if (p->drawn) {
        fputc('\n', p->f);
        fflush(p->f);
        p->drawn = false;
    }
    free(p->last);
    p->last = NULL;
}
