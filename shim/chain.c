/* Certificates of a chain as the shim needs them: the SPKI pin of each (on
 * every handshake), and printable details (only when an event is built).
 * Every field comes from the network: bounded, escaped, never trusted. */
#include "shim.h"
#include "certinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A copy of the DER while the event's budget lasts (leaf first: the most
 * telling certificate is the one kept). */
static void cert_der(X509 *x, struct cert_info *ci, size_t *budget)
{
	unsigned char *der = NULL;
	int len = ossl.i2d_X509(x, &der);

	if (len > 0 && (size_t)len <= *budget) {
		ci->der = malloc((size_t)len);
		if (ci->der != NULL) {
			memcpy(ci->der, der, (size_t)len);
			ci->der_len = (size_t)len;
			*budget -= (size_t)len;
		}
	}
	ossl.CRYPTO_free(der, __FILE__, __LINE__);
}

static void cert_details(X509 *x, struct cert_info *ci, size_t *budget)
{
	certinfo_sha256(x, ci->sha256);
	certinfo_serial(x, ci->serial, sizeof(ci->serial));
	ci->not_before_s = certinfo_seconds(ossl.X509_get0_notBefore(x));
	ci->not_after_s = certinfo_seconds(ossl.X509_get0_notAfter(x));
	cert_der(x, ci, budget);
	certinfo_name(ossl.X509_get_subject_name(x), ci->subject,
		      sizeof(ci->subject));
	certinfo_name(ossl.X509_get_issuer_name(x), ci->issuer,
		      sizeof(ci->issuer));
	certinfo_time_text(ossl.X509_get0_notBefore(x), ci->not_before,
			   sizeof(ci->not_before));
	certinfo_time_text(ossl.X509_get0_notAfter(x), ci->not_after,
			   sizeof(ci->not_after));
}

void chain_read(STACK_OF(X509) *sk, struct chain *out)
{
	int total = sk != NULL ? ossl.OPENSSL_sk_num((OPENSSL_STACK *)sk) : 0;

	out->n = 0;
	out->total = total > 0 ? (size_t)total : 0;
	for (int i = 0; i < total && out->n < CHAIN_MAX; i++) {
		X509 *x = ossl.OPENSSL_sk_value((OPENSSL_STACK *)sk, i);
		struct cert_info *ci = &out->certs[out->n];

		memset(ci, 0, sizeof(*ci));
		/* Kept even without a pin, so positions stay true. */
		ci->has_spki = certinfo_spki(x, &ci->spki) == 0;
		out->n++;
	}
}

/* X509_digest with SHA-1 returns the digest OpenSSL computed when it
 * decoded the certificate: no re-encoding, no hashing of the DER. */
static void cert_sha1(X509 *x, unsigned char out[20])
{
	unsigned int len = 0;

	if (ossl.X509_digest(x, ossl.EVP_sha1(), out, &len) != 1 || len != 20)
		memset(out, 0, 20);
}

void chain_hold(STACK_OF(X509) *sk, struct chain *out)
{
	int total = sk != NULL ? ossl.OPENSSL_sk_num((OPENSSL_STACK *)sk) : 0;

	out->n = 0;
	out->total = total > 0 ? (size_t)total : 0;
	for (int i = 0; i < total && out->n < CHAIN_MAX; i++) {
		X509 *x = ossl.OPENSSL_sk_value((OPENSSL_STACK *)sk, i);
		struct cert_info *ci = &out->certs[out->n++];

		memset(ci, 0, sizeof(*ci));
		cert_sha1(x, ci->sha1);
		if (ossl.X509_up_ref(x) == 1)
			ci->held = x;
	}
}

/* The same certificate earlier in this chain or in done (the built chain
 * repeats the served one): its details are copied, not derived again. */
static const struct cert_info *done_before(const struct chain *done,
					   const struct cert_info *ci)
{
	for (size_t i = 0; done != NULL && i < done->n; i++)
		if (done->certs[i].held == NULL &&
		    memcmp(done->certs[i].sha1, ci->sha1, 20) == 0 &&
		    done->certs[i].subject[0] != '\0')
			return &done->certs[i];
	return NULL;
}

void chain_complete(struct chain *c, const struct chain *done,
		    size_t *der_budget)
{
	/* After OPENSSL_cleanup (a flush late in exit) the references cannot
	 * be read or freed: the certificates stay without details. */
	if (!context_openssl_alive())
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct cert_info *ci = &c->certs[i];
		const struct cert_info *same = done_before(done, ci);
		X509 *x = ci->held;

		if (x == NULL)
			continue;
		if (same != NULL) {
			*ci = *same;        /* the DER stays with the first */
			ci->der = NULL;
			ci->der_len = 0;
		} else {
			ci->has_spki = certinfo_spki(x, &ci->spki) == 0;
			cert_details(x, ci, der_budget);
		}
		ci->held = NULL;
		ossl.X509_free(x);
	}
}

void chain_copy(struct chain *dst, const struct chain *src)
{
	*dst = *src;
	for (size_t i = 0; i < dst->n; i++) {
		dst->certs[i].der = NULL;
		dst->certs[i].der_len = 0;
		if (dst->certs[i].held != NULL &&
		    ossl.X509_up_ref(dst->certs[i].held) != 1)
			dst->certs[i].held = NULL;
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

void chain_release(struct chain *c)
{
	bool alive = false, asked = false;

	for (size_t i = 0; i < c->n; i++) {
		free(c->certs[i].der);
		c->certs[i].der = NULL;
		c->certs[i].der_len = 0;
		if (c->certs[i].held == NULL)
			continue;
		if (!asked) {
			alive = context_openssl_alive();
			asked = true;
		}
		/* After OPENSSL_cleanup the reference is left: the process is
		 * exiting, and freeing it would touch freed state. */
		if (alive)
			ossl.X509_free(c->certs[i].held);
		c->certs[i].held = NULL;
	}
}

void chain_fingerprint(STACK_OF(X509) *sk, unsigned char out[32])
{
	int total = sk != NULL ? ossl.OPENSSL_sk_num((OPENSSL_STACK *)sk) : 0;
	unsigned char sha1s[CHAIN_MAX * 20];
	size_t n = 0;

	memset(out, 0, 32);
	/* X509_digest with SHA-1 returns the digest OpenSSL computed when it
	 * decoded the certificate: no re-encoding, no hashing of the DER. */
	for (int i = 0; i < total && i < CHAIN_MAX; i++) {
		unsigned int len = 0;

		if (ossl.X509_digest(ossl.OPENSSL_sk_value((OPENSSL_STACK *)sk, i),
				     ossl.EVP_sha1(), sha1s + n, &len) == 1 &&
		    len == 20)
			n += 20;
	}
	if (n > 0)
		ossl.EVP_Digest(sha1s, n, out, NULL, ossl.EVP_sha256(), NULL);
}
