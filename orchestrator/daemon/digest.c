/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* digest.c - SHA-256 through OpenSSL's libcrypto
 *
 * The only user of libcrypto. Image import hashes golden images with it;
 * API tokens are stored as their hashes. A well-kept library beats a
 * hand-written SHA-256 here. Does not log; aborts only on OOM.
 */
#include "config.h"

#include <openssl/evp.h>

#include "digest.h"

struct digest {
    EVP_MD_CTX *ctx;
};

struct digest *
digest_new(void)
{
    struct digest *d = xmalloc0(sizeof(*d));

    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
        abort();
    return d;
}

void
digest_update(struct digest *d, const void *data, size_t len)
{
    if (EVP_DigestUpdate(d->ctx, data, len) != 1)
        abort();
}

static void
digest_hex(const unsigned char *md, unsigned len, char *hex)
{
    static const char x[] = "0123456789abcdef";

    for (unsigned i = 0; i < len; i++) {
        hex[2 * i] = x[md[i] >> 4];
        hex[2 * i + 1] = x[md[i] & 15];
    }
    hex[2 * len] = '\0';
}

void
digest_finish(struct digest *d, char hex[DIGEST_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    if (EVP_DigestFinal_ex(d->ctx, md, &len) != 1 || len != 32)
        abort();
    digest_hex(md, len, hex);
    digest_free(d);
}

struct digest *
digest_free(struct digest *d)
{
    if (!d)
        return NULL;
    EVP_MD_CTX_free(d->ctx);
    free(d);
    return NULL;
}

void
digest_sha256_hex(const void *data, size_t len, char hex[DIGEST_SHA256_HEX_LEN + 1])
{
    struct digest *d = digest_new();

    digest_update(d, data, len);
    digest_finish(d, hex);
}
