/* Real X.509 certificates for the simulated fleet: Ed25519 keys from the
 * seeded stream and Ed25519 signatures (deterministic), so a certificate's
 * DER, and with it its SHA-1, SHA-256 and pin, are the same on every run
 * with the same seed.  Each certificate is described the way the shim
 * describes one (shim/chain.c): RFC 2253 names, the serial in upper-case
 * hex, the pin over the DER SubjectPublicKeyInfo. */
#include "fleet.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static char *name_text(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	if (b == NULL)
		return NULL;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)len);
	BIO_free(b);
	return out;
}

static char *pin_of(EVP_PKEY *key)
{
	unsigned char *der = NULL, md[32];
	char b64[48], *out;
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0)
		return NULL;
	EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	EVP_EncodeBlock((unsigned char *)b64, md, 32);
	if (asprintf(&out, "sha256/%s", b64) < 0)
		return NULL;
	return out;
}

void fleet_backup_pin(char out[64], uint64_t *rng)
{
	unsigned char md[32];
	char b64[48];

	for (size_t i = 0; i < sizeof(md); i += 8) {
		uint64_t r = rng_next(rng);

		memcpy(md + i, &r, 8);
	}
	EVP_EncodeBlock((unsigned char *)b64, md, 32);
	snprintf(out, 64, "sha256/%s", b64);
}

/* "C=US,O=Acme,CN=x" into a name, in that order (RFC 2253 prints it
 * reversed, most specific first, as the shim reports subjects). */
static X509_NAME *name_of(const char *spec)
{
	X509_NAME *n = X509_NAME_new();
	char *copy = strdup(spec), *save = NULL;

	if (n == NULL || copy == NULL)
		goto fail;
	for (char *part = strtok_r(copy, ",", &save); part != NULL;
	     part = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(part, '=');

		if (eq == NULL)
			goto fail;
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(n, part, MBSTRING_UTF8,
						(unsigned char *)eq + 1, -1, -1, 0))
			goto fail;
	}
	free(copy);
	return n;
fail:
	free(copy);
	X509_NAME_free(n);
	return NULL;
}

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	bool ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (e == NULL)
		return false;
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

static X509 *issue(const char *subject, const char *dns,
		   const struct fleet_cert *issuer, EVP_PKEY *key,
		   int64_t not_before, int64_t not_after, uint64_t *rng)
{
	X509 *x = X509_new(), *parent = NULL;
	X509_NAME *name = name_of(subject);
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[160];
	bool ok;

	for (size_t i = 0; i < sizeof(serial); i += 8) {
		uint64_t r = rng_next(rng);

		memcpy(serial + i, &r, 8);
	}
	serial[0] &= 0x7f;                 /* positive, 16 bytes */
	serial[0] |= 0x10;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (issuer != NULL) {
		const unsigned char *p = issuer->pb.der.data;

		parent = d2i_X509(NULL, &p, (long)issuer->pb.der.len);
	}
	ok = x != NULL && name != NULL && bn != NULL &&
	     (issuer == NULL || parent != NULL) &&
	     X509_set_version(x, 2) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	     X509_set_subject_name(x, name) &&
	     X509_set_issuer_name(x, parent != NULL
				  ? X509_get_subject_name(parent) : name) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) &&
	     ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) &&
	     X509_set_pubkey(x, key);
	if (ok && dns != NULL) {
		snprintf(san, sizeof(san), "DNS:%s", dns);
		ok = add_ext(x, parent, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, parent, NID_subject_alt_name, san) &&
		     add_ext(x, parent, NID_ext_key_usage, "serverAuth");
	} else if (ok) {
		ok = add_ext(x, parent != NULL ? parent : x,
			     NID_basic_constraints,
			     issuer == NULL ? "critical,CA:TRUE"
					    : "critical,CA:TRUE,pathlen:0") &&
		     add_ext(x, parent != NULL ? parent : x, NID_key_usage,
			     "critical,keyCertSign,cRLSign");
	}
	ok = ok && X509_sign(x, issuer != NULL ? issuer->key : key, NULL) > 0;
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(parent);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void describe(struct fleet_cert *c, X509 *x, EVP_PKEY *key)
{
	Pinshim__Cert *pb = &c->pb;
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	char *serial = malloc(2 * (size_t)sn->length + 1);

	pinshim__cert__init(pb);
	pb->subject = name_text(X509_get_subject_name(x));
	pb->issuer = name_text(X509_get_issuer_name(x));
	for (int i = 0; i < sn->length; i++)
		sprintf(serial + 2 * i, "%02X", sn->data[i]);
	pb->serial = serial;
	pb->pin = pin_of(key);
	pb->der.data = malloc((size_t)len);
	memcpy(pb->der.data, der, (size_t)len);
	pb->der.len = (size_t)len;
	pb->sha256.data = malloc(32);
	pb->sha256.len = 32;
	EVP_Digest(der, (size_t)len, pb->sha256.data, NULL, EVP_sha256(), NULL);
	EVP_Digest(der, (size_t)len, c->sha1, NULL, EVP_sha1(), NULL);
	OPENSSL_free(der);
	c->bare = *pb;
	c->bare.der.data = NULL;
	c->bare.der.len = 0;
}

struct fleet_cert *fleet_cert_new(const char *subject, const char *dns,
				  const struct fleet_cert *issuer,
				  int64_t not_before, int64_t not_after,
				  uint64_t key_seed, uint64_t *rng, char *err,
				  size_t errlen)
{
	struct fleet_cert *c = calloc(1, sizeof(*c));
	unsigned char seed[32];
	EVP_PKEY *key;
	X509 *x;

	for (size_t i = 0; i < sizeof(seed); i += 8) {
		uint64_t r = rng_next(&key_seed);

		memcpy(seed + i, &r, 8);
	}
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
					   sizeof(seed));
	x = key != NULL ? issue(subject, dns, issuer, key, not_before,
				not_after, rng) : NULL;
	if (c == NULL || x == NULL) {
		snprintf(err, errlen, "certificate %s: cannot issue it", subject);
		EVP_PKEY_free(key);
		free(c);
		return NULL;
	}
	describe(c, x, key);
	c->pb.position = dns != NULL ? 0 : issuer != NULL ? 1 : 2;
	c->pb.not_before = not_before;
	c->pb.not_after = not_after;
	c->bare.position = c->pb.position;
	c->bare.not_before = not_before;
	c->bare.not_after = not_after;
	c->issuer = issuer;
	c->key = dns == NULL ? key : NULL;    /* only CAs issue */
	if (dns != NULL)
		EVP_PKEY_free(key);
	X509_free(x);
	return c;
}

static void chain_digest(struct fleet_chain *ch)
{
	uint8_t sha1s[3 * 20];
	size_t n = 0;

	for (size_t i = 0; i < ch->nserved; i++) {
		const struct fleet_cert *c = i == 0 ? ch->leaf : ch->intermediate;

		memcpy(sha1s + n, c->sha1, 20);
		n += 20;
	}
	EVP_Digest(sha1s, n, ch->fp, NULL, EVP_sha256(), NULL);
}

/* The served chain is the leaf and its issuer (servers send the
 * intermediate, not the root); the built one adds the root. */
struct fleet_chain *fleet_chain_new(int id, const struct fleet_cert *leaf)
{
	struct fleet_chain *ch = calloc(1, sizeof(*ch));
	const struct fleet_cert *path[3] = { leaf, leaf->issuer, NULL };

	if (ch == NULL)
		return NULL;
	ch->id = id;
	ch->leaf = leaf;
	ch->intermediate = leaf->issuer;
	path[2] = leaf->issuer != NULL ? leaf->issuer->issuer : NULL;
	ch->root = path[2] != NULL ? path[2] : leaf->issuer;
	ch->nserved = leaf->issuer != NULL && leaf->issuer->issuer != NULL
		      ? 2 : 1;
	for (size_t i = 0; i < 3 && path[i] != NULL; i++) {
		if (i < ch->nserved) {
			ch->served[i] = (Pinshim__Cert *)&path[i]->pb;
			ch->served_bare[i] = (Pinshim__Cert *)&path[i]->bare;
		}
		ch->built[ch->nbuilt] = (Pinshim__Cert *)&path[i]->pb;
		ch->built_bare[ch->nbuilt++] = (Pinshim__Cert *)&path[i]->bare;
	}
	chain_digest(ch);
	return ch;
}

void fleet_cert_free(struct fleet_cert *c)
{
	if (c == NULL)
		return;
	free(c->pb.subject);
	free(c->pb.issuer);
	free(c->pb.serial);
	free(c->pb.pin);
	free(c->pb.der.data);
	free(c->pb.sha256.data);
	EVP_PKEY_free(c->key);
	free(c);
}
