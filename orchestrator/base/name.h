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

/* The hard cap on one pool's size and on its groups: bounds every
 * user-sized input. */
#define POOL_MAX_DESKTOPS 5000
#define POOL_MAX_GROUPS 64
