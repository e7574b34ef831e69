/* Certificates from files, and what pinshim prints about each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"

/* A certificate file bigger than this is a mistake (a disk image...). */
#define CERTS_FILE_MAX (16 * 1024 * 1024)

const char *certs_ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r != NULL ? r : "unknown error";
}

/* Reads all of path into a memory BIO.  NULL with err set on failure. */
static BIO *read_file(const char *path, char *err, size_t errlen)
{
	FILE *in = fopen(path, "rbe");
	BIO *mem = NULL;
	char buf[16384];
	size_t n, total = 0;

	if (in == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	mem = BIO_new(BIO_s_mem());
	while (mem != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
		total += n;
		if (total > CERTS_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %d bytes: not a "
				 "certificate file", path, CERTS_FILE_MAX);
			goto fail;
		}
		if (BIO_write(mem, buf, (int)n) != (int)n)
			break;
	}
	if (mem == NULL || ferror(in) || !feof(in)) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 mem == NULL ? "out of memory" : strerror(errno));
		goto fail;
	}
	fclose(in);
	return mem;
fail:
	fclose(in);
	BIO_free(mem);
	return NULL;
}

static int push(STACK_OF(X509) *sk, X509 *x)
{
	if (sk_X509_push(sk, x) > 0)
		return 0;
	X509_free(x);
	return -1;
}

/* Every CERTIFICATE block; the loop ends at "no start line", anything
 * else is a broken certificate. */
static int load_pem(BIO *mem, const char *path, STACK_OF(X509) *sk,
		    char *err, size_t errlen)
{
	X509 *x;
	unsigned long e;

	while ((x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL)
		if (push(sk, x) < 0)
			goto broken;
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return 0;
	}
broken:
	snprintf(err, errlen, "%s: certificate %d: %s", path,
		 sk_X509_num(sk) + 1, certs_ossl_reason());
	return -1;
}

/* One or more DER certificates back to back, nothing else. */
static int load_der(const unsigned char *p, long len, const char *path,
		    STACK_OF(X509) *sk, char *err, size_t errlen)
{
	const unsigned char *end = p + len;
	X509 *x;

	while (p < end) {
		x = d2i_X509(NULL, &p, end - p);
		if (x == NULL || push(sk, x) < 0) {
			snprintf(err, errlen, "%s: %s", path,
				 sk_X509_num(sk) == 0
					 ? "neither a PEM nor a DER certificate"
					 : "data after the last DER certificate");
			return -1;
		}
	}
	return 0;
}

static int is_pem(const char *data, long len)
{
	/* memmem on an empty file's NULL buffer is undefined */
	return len > 0 && memmem(data, (size_t)len, "-----BEGIN ", 11) != NULL;
}

int certs_load_file(const char *path, STACK_OF(X509) **out, char *err,
		    size_t errlen)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *mem = read_file(path, err, errlen);
	char *data;
	long len;
	int rc = -1;

	if (mem == NULL || sk == NULL)
		goto out;
	len = BIO_get_mem_data(mem, &data);
	if (is_pem(data, len))
		rc = load_pem(mem, path, sk, err, errlen);
	else
		rc = load_der((const unsigned char *)data, len, path, sk, err,
			      errlen);
	if (rc == 0 && sk_X509_num(sk) == 0) {
		snprintf(err, errlen, "%s: no certificate in the file", path);
		rc = -1;
	}
out:
	if (sk == NULL)
		snprintf(err, errlen, "%s: out of memory", path);
	BIO_free(mem);
	if (rc == 0)
		*out = sk;
	else
		sk_X509_pop_free(sk, X509_free);
	return rc;
}

int certs_pin(X509 *cert, struct pin *out)
{
	unsigned char *der = NULL;
	int len, rc;

	/* the whole SubjectPublicKeyInfo, not X509_pubkey_digest's key bits */
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0)
		return -1;
	rc = pin_of_der(der, (size_t)len, out);
	OPENSSL_free(der);
	return rc;
}

char *certs_name(const X509_NAME *name)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long len;

	if (mem == NULL)
		return NULL;
	/* XN_FLAG_RFC2253 escapes control characters and bytes >= 0x80 as
	 * \XX: a subject cannot drive the terminal. */
	if (X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(mem, &data);
		s = strndup(data, (size_t)len);
	}
	BIO_free(mem);
	return s;
}
