/* SPKI pins: "sha256/<base64 of SHA-256 of the DER SubjectPublicKeyInfo>",
 * the string curl's --pinnedpubkey, OkHttp and HPKP use.  Generic code: the
 * OpenSSL-specific part only hands over DER bytes (see chain.h). */
#ifndef PINSHIM_PIN_H
#define PINSHIM_PIN_H

#include <stddef.h>

#define PIN_DIGEST_LEN 32
/* "sha256/" + 44 base64 characters + NUL */
#define PIN_STRLEN (7 + 44 + 1)

struct pin {
	unsigned char digest[PIN_DIGEST_LEN];
};

/* Parses "sha256/<base64>".  0 on success, -1 on a malformed pin (wrong
 * prefix, bad base64, or not exactly 32 bytes).  Needs ossl_resolve(). */
int pin_parse(const char *text, struct pin *out);

/* pin_parse() that says why a pin is malformed: on -1, why holds a
 * reason such as "decodes to 31 bytes, a SHA-256 digest has 32". */
int pin_parse_explain(const char *text, struct pin *out, char *why,
		      size_t whylen);

/* Writes the "sha256/<base64>" form of pin into out.  Needs ossl_resolve(). */
void pin_format(const struct pin *pin, char out[PIN_STRLEN]);

/* SHA-256 of DER bytes into pin.  0 on success, -1 on error. */
int pin_of_der(const unsigned char *der, size_t len, struct pin *out);

int pin_equal(const struct pin *a, const struct pin *b);

#endif
