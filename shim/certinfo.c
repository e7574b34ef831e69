/* A certificate's fields (certinfo.h).  Every field comes from the network:
 * bounded, escaped, never trusted. */
#include "certinfo.h"

#include <string.h>
#include <time.h>

int certinfo_spki(X509 *x, struct pin *out)
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

void certinfo_sha256(X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = ossl.i2d_X509(x, &der);

	memset(out, 0, 32);
	if (len > 0)
		ossl.EVP_Digest(der, (size_t)len, out, NULL, ossl.EVP_sha256(),
				NULL);
	ossl.CRYPTO_free(der, __FILE__, __LINE__);
}

void certinfo_name(const X509_NAME *name, char *out, size_t len)
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

void certinfo_time_text(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	out[0] = '\0';
	if (t != NULL && ossl.ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void certinfo_serial(X509 *x, char *out, size_t len)
{
	const ASN1_INTEGER *sn = ossl.X509_get0_serialNumber(x);
	const unsigned char *b = sn != NULL ? ossl.ASN1_STRING_get0_data(sn) : NULL;
	int n = sn != NULL ? ossl.ASN1_STRING_length(sn) : 0;
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;

	for (int i = 0; b != NULL && i < n && o + 2 < len; i++) {
		out[o++] = digits[b[i] >> 4];
		out[o++] = digits[b[i] & 15];
	}
	out[o] = '\0';
}

long long certinfo_seconds(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ossl.ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (long long)timegm(&tm);
}

int certinfo_from_der(const unsigned char *der, size_t len,
		      struct certinfo *out)
{
	const unsigned char *p = der;
	X509 *x;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > (1u << 20))
		return -1;
	x = ossl.d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		ossl.X509_free(x);
		return -1;
	}
	out->has_spki = certinfo_spki(x, &out->spki) == 0;
	ossl.EVP_Digest(der, len, out->sha256, NULL, ossl.EVP_sha256(), NULL);
	certinfo_name(ossl.X509_get_subject_name(x), out->subject,
		      sizeof(out->subject));
	certinfo_name(ossl.X509_get_issuer_name(x), out->issuer,
		      sizeof(out->issuer));
	certinfo_serial(x, out->serial, sizeof(out->serial));
	out->not_before = certinfo_seconds(ossl.X509_get0_notBefore(x));
	out->not_after = certinfo_seconds(ossl.X509_get0_notAfter(x));
	ossl.X509_free(x);
	return 0;
}
