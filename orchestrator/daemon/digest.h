/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* digest.h - SHA-256 through OpenSSL's libcrypto. See digest.c. */
#pragma once

#include <stddef.h>

#include "macro.h"

#define DIGEST_SHA256_HEX_LEN 64

struct digest;

/* Incremental SHA-256. digest_new() returns NULL only on OOM. */
struct digest *digest_new(void);
void digest_update(struct digest *d, const void *data, size_t len);
/* Writes 64 hex digits + NUL into hex (65 bytes) and frees D. */
void digest_finish(struct digest *d, char hex[DIGEST_SHA256_HEX_LEN + 1]);
struct digest *digest_free(struct digest *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct digest *, digest_free);

/* One-shot: hex SHA-256 of DATA into HEX (65 bytes). */
void digest_sha256_hex(const void *data, size_t len, char hex[DIGEST_SHA256_HEX_LEN + 1]);
