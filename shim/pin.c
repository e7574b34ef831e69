/* SPKI pins: parsing, formatting, hashing (see pin.h).  Every OpenSSL call
 * goes through the ossl table: this file is part of libpinshim.so. */
#include "pin.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ossl.h"

#define PIN_PREFIX "sha256/"
#define PIN_PREFIX_LEN (sizeof(PIN_PREFIX) - 1)
/* base64 of 32 bytes: 43 characters and one '=' */
#define PIN_B64_LEN 44

/* The 6-bit value of a base64 character, or -1.  Spelled out rather than
 * isalnum() so that no locale can widen the alphabet. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Checks the base64 alphabet and where '=' may stand.  Returns the number
 * of '=' (0..2), or -1 with why filled. */
static int b64_check(const char *b64, size_t len, char *why, size_t whylen)
{
	size_t pad = 0;

	while (pad < len && pad < 2 && b64[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++) {
		unsigned char c = (unsigned char)b64[i];

		if (b64_value(c) >= 0)
			continue;
		if (c >= 0x21 && c < 0x7f)
			snprintf(why, whylen,
				 "'%c' at offset %zu is not a base64 character",
				 c, i);
		else
			snprintf(why, whylen,
				 "byte 0x%02x at offset %zu is not a base64 character",
				 c, i);
		return -1;
	}
	return (int)pad;
}

int pin_parse_explain(const char *text, struct pin *out, char *why,
		      size_t whylen)
{
	unsigned char buf[PIN_B64_LEN / 4 * 3];
	const char *b64;
	size_t len, n;
	int pad;

	if (strncmp(text, PIN_PREFIX, PIN_PREFIX_LEN) != 0) {
		snprintf(why, whylen, "expected 'sha256/' followed by base64");
		return -1;
	}
	b64 = text + PIN_PREFIX_LEN;
	len = strlen(b64);
	if (b64[0] == '/' && len == 45) {
		/* curl's --pinnedpubkey spells it "sha256//"; a lone '/' is
		 * ordinary base64, one pin in 64 starts with it */
		snprintf(why, whylen, "write 'sha256/' with one slash");
		return -1;
	}
	pad = b64_check(b64, len, why, whylen);
	if (pad < 0)
		return -1;
	if (len == 0 || len % 4 != 0) {
		snprintf(why, whylen,
			 "%zu base64 characters, expected %d", len, PIN_B64_LEN);
		return -1;
	}
	n = len / 4 * 3 - (size_t)pad;
	if (n != PIN_DIGEST_LEN) {
		snprintf(why, whylen,
			 "decodes to %zu bytes, a SHA-256 digest has %d",
			 n, PIN_DIGEST_LEN);
		return -1;
	}
	/* The two spare bits of the 43rd character are not checked: the
	 * digest is compared, never the string, and DESIGN.md's own example
	 * (sha256/BBB...B=) sets them. */
	if (ossl.EVP_DecodeBlock(buf, (const unsigned char *)b64,
				 PIN_B64_LEN) != (int)sizeof(buf)) {
		snprintf(why, whylen, "base64 decoding failed");
		return -1;
	}
	memcpy(out->digest, buf, PIN_DIGEST_LEN);
	return 0;
}

int pin_parse(const char *text, struct pin *out)
{
	char why[96];

	return pin_parse_explain(text, out, why, sizeof(why));
}

void pin_format(const struct pin *pin, char out[PIN_STRLEN])
{
	memcpy(out, PIN_PREFIX, PIN_PREFIX_LEN);
	/* EVP_EncodeBlock writes 44 characters and a NUL: exactly the rest */
	ossl.EVP_EncodeBlock((unsigned char *)out + PIN_PREFIX_LEN, pin->digest,
			     PIN_DIGEST_LEN);
}

int pin_of_der(const unsigned char *der, size_t len, struct pin *out)
{
	unsigned int mdlen = 0;

	if (!ossl.EVP_Digest(der, len, out->digest, &mdlen, ossl.EVP_sha256(),
			     NULL))
		return -1;
	return mdlen == PIN_DIGEST_LEN ? 0 : -1;
}

int pin_equal(const struct pin *a, const struct pin *b)
{
	unsigned char diff = 0;

	/* Pins are public, but a constant-time compare costs nothing. */
	for (size_t i = 0; i < PIN_DIGEST_LEN; i++)
		diff |= a->digest[i] ^ b->digest[i];
	return diff == 0;
}
