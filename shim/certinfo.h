/* A certificate's fields as pinshim prints them: the SPKI pin, the
 * SHA-256, RFC 2253 names, the serial, the validity.  Shared by the shim,
 * which reads them off a handshake's certificates, and the store, which
 * derives them from the DER a sender sent instead of trusting what the
 * sender claims, so that both print a certificate alike.  Every OpenSSL
 * call goes through the ossl table (ossl.h). */
#ifndef PINSHIM_CERTINFO_H
#define PINSHIM_CERTINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "ossl.h"
#include "pin.h"

#define CERTINFO_NAME 256
#define CERTINFO_SERIAL 80

/* The SHA-256 pin of x's whole SubjectPublicKeyInfo.  0, or -1. */
int certinfo_spki(X509 *x, struct pin *out);
/* SHA-256 of x's DER (zeros when it cannot be encoded). */
void certinfo_sha256(X509 *x, unsigned char out[32]);
/* RFC 2253, control and non-ASCII bytes escaped, cut to len. */
void certinfo_name(const X509_NAME *name, char *out, size_t len);
/* The serial's magnitude in hex, as `openssl x509 -serial` prints it. */
void certinfo_serial(X509 *x, char *out, size_t len);
/* Unix seconds (0 when unreadable), and RFC 3339 ("" when unreadable). */
long long certinfo_seconds(const ASN1_TIME *t);
void certinfo_time_text(const ASN1_TIME *t, char *out, size_t len);

struct certinfo {
	struct pin spki;
	bool has_spki;
	unsigned char sha256[32];        /* of the DER as given */
	char subject[CERTINFO_NAME];
	char issuer[CERTINFO_NAME];
	char serial[CERTINFO_SERIAL];
	long long not_before, not_after; /* Unix seconds, 0 when unreadable */
};

/* Every field from DER.  0, or -1 when der is not exactly one X.509
 * certificate (trailing bytes included). */
int certinfo_from_der(const unsigned char *der, size_t len,
		      struct certinfo *out);

#endif
