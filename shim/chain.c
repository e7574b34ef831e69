/* Certificates of a chain as the shim needs them: the SPKI pin of each (on
 * every handshake), and printable details (only when an event is built).
 * Every field comes from the network: bounded, escaped, never trusted. */
#include "shim.h"

#include <stdio.h>
#include <string.h>

static int cert_spki(X509 *x, struct pin *out)
{
	unsigned char buf[4096], *p = buf;
	int len;

	/* i2d of the whole SubjectPublicKeyInfo, not X509_pubkey_digest,
	 * which hashes the key bits only: pins are over the full SPKI. */
	len = ossl.i2d_X509_PUBKEY(ossl.X509_get_X509_PUBKEY(x), NULL);
	if (len <= 0 || (size_t)len > sizeof(buf))
		return -1;
	if (ossl.i2d_X509_PUBKEY(ossl.X509_get_X509_PUBKEY(x), &p) != len)
		return -1;
	return pin_of_der(buf, (size_t)len, out);
}

static void cert_sha256(X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = ossl.i2d_X509(x, &der);

	memset(out, 0, 32);
	if (len > 0)
		ossl.EVP_Digest(der, (size_t)len, out, NULL, ossl.EVP_sha256(),
				NULL);
	ossl.CRYPTO_free(der, __FILE__, __LINE__);
}

/* RFC 2253 with control and non-ASCII bytes escaped, cut to len. */
static void name_text(const X509_NAME *name, char *out, size_t len)
{
	BIO *b = ossl.BIO_new(ossl.BIO_s_mem());
	int n;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (ossl.X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = ossl.BIO_read(b, out, (int)len - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	ossl.BIO_free(b);
}

static void time_text(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	out[0] = '\0';
	if (t != NULL && ossl.ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cert_details(X509 *x, struct cert_info *ci)
{
	cert_sha256(x, ci->sha256);
	name_text(ossl.X509_get_subject_name(x), ci->subject,
		  sizeof(ci->subject));
	name_text(ossl.X509_get_issuer_name(x), ci->issuer, sizeof(ci->issuer));
	time_text(ossl.X509_get0_notBefore(x), ci->not_before,
		  sizeof(ci->not_before));
	time_text(ossl.X509_get0_notAfter(x), ci->not_after,
		  sizeof(ci->not_after));
}

void chain_read(STACK_OF(X509) *sk, struct chain *out, bool details)
{
	int total = sk != NULL ? ossl.OPENSSL_sk_num((OPENSSL_STACK *)sk) : 0;

	out->n = 0;
	out->total = total > 0 ? (size_t)total : 0;
	for (int i = 0; i < total && out->n < CHAIN_MAX; i++) {
		X509 *x = ossl.OPENSSL_sk_value((OPENSSL_STACK *)sk, i);
		struct cert_info *ci = &out->certs[out->n];

		memset(ci, 0, sizeof(*ci));
		/* Kept even without a pin, so positions stay true. */
		ci->has_spki = cert_spki(x, &ci->spki) == 0;
		if (details)
			cert_details(x, ci);
		out->n++;
	}
}

bool chain_has_any(const struct chain *c, const struct pin *pins, size_t n)
{
	for (size_t i = 0; i < c->n; i++)
		for (size_t j = 0; j < n; j++)
			if (c->certs[i].has_spki &&
			    pin_equal(&c->certs[i].spki, &pins[j]))
				return true;
	return false;
}
