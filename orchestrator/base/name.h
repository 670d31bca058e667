/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* name.h - what a name or a free-text field from outside may hold, and
 * the size limits the API and the CLI share. See name.c. */
#pragma once

#include "macro.h"

/* Names of pools, images, desktops, instances: [a-z0-9][a-z0-9_-]*, at
 * most DP_NAME_MAX bytes. Safe in file names, domain names and URLs. */
#define DP_NAME_MAX 48
bool name_is_valid(const char *s);

/* User and group names: 1-64 of [A-Za-z0-9._@-], first a letter or digit. */
#define PRINCIPAL_NAME_MAX 64
bool principal_name_is_valid(const char *s);

/* Free text from outside that is stored, shown and logged (a session's
 * client, an image note): valid UTF-8 of at most MAX bytes with no control
 * character (C0, DEL, C1), so it can never move a terminal's cursor, forge
 * a log line or a table row. */
#define CLIENT_TEXT_MAX 256
bool text_is_safe(const char *s, size_t max);

/* Untrusted text made safe to print or log: every byte text_is_safe()
 * refuses (a C0 control, DEL, a byte of a C1 control or of invalid,
 * overlong or surrogate UTF-8) becomes "\n", "\r", "\t" or "\xHH"
 * (lower-case hex); everything else, backslashes included, is copied, so
 * escaping twice changes nothing. A NUL within LEN is escaped too.
 *
 * text_escape_to() writes the first LEN bytes of S to DST (SIZE bytes,
 * always NUL-terminated when SIZE > 0), stopping before an escape or a
 * character that would not fit whole, and returns the length written.
 * Cannot fail.
 *
 * text_escape() returns S escaped whole as a new string (at most
 * TEXT_ESCAPE_GROWTH times as long), NULL for NULL; aborts on OOM. */
#define TEXT_ESCAPE_GROWTH 4
size_t text_escape_to(char *dst, size_t size, const char *s, size_t len);
char *text_escape(const char *s);

/* The name of the daemon when none is given, and where a daemon's socket
 * is unless configured: DP_RUNSTATE_DIR/deskpoold.sock for the default
 * instance, DP_RUNSTATE_DIR-INSTANCE/deskpoold.sock for another one (a
 * new string). One rule for deskpoold and deskpoolctl --instance. */
#define DP_DEFAULT_INSTANCE "deskpool"
char *instance_socket_path(const char *instance);

/* The hard cap on one pool's size and on its groups: bounds every
 * user-sized input. */
#define POOL_MAX_DESKTOPS 5000
#define POOL_MAX_GROUPS 64
