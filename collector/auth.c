/* The shared token: a file whose content (trailing whitespace removed) the
 * senders present in their Hello.  Compared as SHA-256 digests with
 * CRYPTO_memcmp, so neither the content nor the length leaks through
 * timing. */
#include "collector.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static bool required;
static unsigned char expected[32];

static int digest(const void *p, size_t n, unsigned char out[32])
{
	return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) ? 0 : -1;
}

int auth_load(const char *path, char *err, size_t errlen)
{
	unsigned char buf[WIRE_MAX_TOKEN + 2];
	size_t n;
	FILE *f;

	if (path == NULL)
		return 0;
	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "token file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n == 0 || n > WIRE_MAX_TOKEN) {
		snprintf(err, errlen, "token file %s: %s", path, n == 0
			 ? "empty" : "longer than 1024 bytes");
		return -1;
	}
	if (digest(buf, n, expected) < 0) {
		snprintf(err, errlen, "token file %s: SHA-256 failed", path);
		return -1;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	required = true;
	return 0;
}

bool auth_required(void)
{
	return required;
}

bool auth_check(const ProtobufCBinaryData *token)
{
	unsigned char got[32];

	if (!required)
		return true;
	if (digest(token->len > 0 ? token->data : (const uint8_t *)"",
		   token->len, got) < 0)
		return false;
	/* a missing token hashes to something too: same time either way */
	return CRYPTO_memcmp(got, expected, sizeof(got)) == 0 &&
	       token->len > 0;
}
