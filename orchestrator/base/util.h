/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.h - small helpers with no dependencies. See util.c. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Parse a whole decimal string into an unsigned int (no sign, no
 * trailing text, no overflow). Returns 0 or -EINVAL/-ERANGE. */
int safe_atou(const char *s, unsigned *ret);
int safe_atoi(const char *s, int *ret);

/* Parse a duration: "90", "90s", "5m", "2h", "1d" into seconds.
 * Returns 0 or -EINVAL/-ERANGE. */
int parse_duration(const char *s, unsigned *ret_sec);

/* Monotonic and wall clocks in microseconds. */
uint64_t now_usec(void);
uint64_t now_realtime_usec(void);

/* RFC 3339 UTC "2026-11-27T21:30:00Z" for a unix time in seconds.
 * Returns a new string (aborts on OOM). */
char *format_timestamp(int64_t unix_sec);

/* Write a whole buffer to a new file atomically (tmp + rename).
 * Returns 0 or negative errno. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);

/* Read a whole file, at most max bytes. Returns 0 or negative errno
 * (-EFBIG when the file is larger than max). */
int read_full_file(const char *path, size_t max, char **ret_data, size_t *ret_len);

/* mkdir -p with mode. Returns 0 or negative errno. */
int mkdir_p(const char *path, mode_t mode);

/* Random hex string of n bytes of entropy (2n characters). */
char *random_hex(size_t nbytes);
