/* Content keys: the SHA-256 by which each repeating part of an event
 * (chain, certificate, platform, process, network, stack, pins, sender)
 * and of a counter (dims, dims_client) is stored once.  Fields are fed
 * length-prefixed after a domain name, so ("ab","c") and ("a","bc")
 * differ and a stack never collides with a platform.  Any thread may
 * compute keys with its own hasher: the collector's connection threads do
 * the events', so the writer does not. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct store_hasher {
	EVP_MD_CTX *md;
	EVP_MD *sha256;
	uint8_t *buf;           /* the fields of the key being built */
	size_t len, cap;
	bool oom;
};

struct store_hasher *store_hasher_new(void)
{
	struct store_hasher *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->md = EVP_MD_CTX_new();
	h->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->cap = 4096;
	h->buf = malloc(h->cap);
	if (h->md == NULL || h->sha256 == NULL || h->buf == NULL) {
		store_hasher_free(h);
		return NULL;
	}
	return h;
}

void store_hasher_free(struct store_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->md);
	EVP_MD_free(h->sha256);
	free(h->buf);
	free(h);
}

int keys_sha256(struct store_hasher *h, const void *p, size_t n,
		uint8_t out[32])
{
	if (!EVP_DigestInit_ex2(h->md, h->sha256, NULL) ||
	    !EVP_DigestUpdate(h->md, p, n) ||
	    !EVP_DigestFinal_ex(h->md, out, NULL))
		return -1;
	return 0;
}

static void put(struct store_hasher *h, const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (h->len + sizeof(len) + n > h->cap) {
		size_t cap = (h->len + sizeof(len) + n) * 2;
		uint8_t *b = realloc(h->buf, cap);

		if (b == NULL) {
			h->oom = true;
			return;
		}
		h->buf = b;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, &len, sizeof(len));
	if (n > 0)
		memcpy(h->buf + h->len + sizeof(len), p, n);
	h->len += sizeof(len) + n;
}

static void put_str(struct store_hasher *h, const char *s)
{
	if (s == NULL)
		s = "";
	put(h, s, strlen(s));
}

static void put_u64(struct store_hasher *h, uint64_t v)
{
	put(h, &v, sizeof(v));
}

static void put_list(struct store_hasher *h, char **v, size_t n)
{
	put_u64(h, n);
	for (size_t i = 0; i < n; i++)
		put_str(h, v[i]);
}

static void start(struct store_hasher *h, const char *domain)
{
	h->len = 0;
	h->oom = false;
	put_str(h, domain);
}

static int finish(struct store_hasher *h, uint8_t out[32])
{
	if (h->oom)
		return -1;
	return keys_sha256(h, h->buf, h->len, out);
}

/* A certificate that came with its DER: the SHA-256 of the DER (its
 * fields are then the DER's, put.c).  Without DER, the key hashes all the
 * sender claims, the claimed SHA-256 among them: claims that differ are
 * kept apart, and none shares a row with what a DER proves. */
int keys_cert(struct store_hasher *h, const Pinshim__Cert *c, uint8_t out[32])
{
	if (c->der.len > 0)
		return keys_sha256(h, c->der.data, c->der.len, out);
	start(h, "pinshim cert claim");
	put(h, c->sha256.data, c->sha256.len);
	put_str(h, c->subject);
	put_str(h, c->issuer);
	put_str(h, c->serial);
	put_u64(h, (uint64_t)c->not_before);
	put_u64(h, (uint64_t)c->not_after);
	put_str(h, c->pin);
	return finish(h, out);
}

/* A chain: SHA-256 over its certificates' keys in order (each also
 * written to cert_keys when not NULL). */
int keys_chain(struct store_hasher *h, Pinshim__Cert **certs, size_t n,
	       uint8_t (*cert_keys)[32], uint8_t out[32])
{
	uint8_t keys[WIRE_MAX_CHAIN][32];

	if (n > WIRE_MAX_CHAIN)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (keys_cert(h, certs[i], keys[i]) < 0)
			return -1;
	if (cert_keys != NULL)
		memcpy(cert_keys, keys, n * 32);
	return keys_sha256(h, keys, n * 32, out);
}

int keys_platform(struct store_hasher *h, const Pinshim__Platform *p,
		  uint8_t out[32])
{
	start(h, "pinshim platform");
	put_str(h, p->os_id);
	put_str(h, p->os_version);
	put_str(h, p->os_name);
	put_str(h, p->kernel);
	put_str(h, p->arch);
	put_str(h, p->libssl_version);
	put_str(h, p->host_id);
	put_str(h, p->hostname);
	return finish(h, out);
}

int keys_process(struct store_hasher *h, const Pinshim__Process *p,
		 uint8_t out[32])
{
	start(h, "pinshim process");
	put_str(h, p->exe);
	put_str(h, p->build_id);
	put_str(h, p->app_version);
	put_str(h, p->app_version_source);
	put_u64(h, p->pid);
	put_str(h, p->argv0);
	return finish(h, out);
}

int keys_network(struct store_hasher *h, const Pinshim__Network *n,
		 uint8_t out[32])
{
	start(h, "pinshim network");
	put_str(h, n->label);
	put_str(h, n->fingerprint);
	put_str(h, n->gateway);
	put_str(h, n->subnet);
	put_list(h, n->resolvers, n->n_resolvers);
	put_list(h, n->proxy_vars, n->n_proxy_vars);
	put_str(h, n->local_address);
	return finish(h, out);
}

int keys_stack(struct store_hasher *h, Pinshim__StackFrame **f, size_t n,
	       uint8_t out[32])
{
	start(h, "pinshim stack");
	for (size_t i = 0; i < n; i++) {
		put_str(h, f[i]->module);
		put_str(h, f[i]->build_id);
		put_u64(h, f[i]->offset);
		put_str(h, f[i]->symbol);
		put_u64(h, f[i]->symbol_offset);
	}
	return finish(h, out);
}

int keys_pinset(struct store_hasher *h, char **pins, size_t n,
		uint8_t out[32])
{
	start(h, "pinshim pins");
	put_list(h, pins, n);
	return finish(h, out);
}

int keys_sender(struct store_hasher *h, const char *address,
		const char *name, uint8_t out[32])
{
	start(h, "pinshim sender");
	put_str(h, address);
	put_str(h, name);
	return finish(h, out);
}

int keys_dims(struct store_hasher *h, const struct store_dims *d,
	      uint8_t out[32])
{
	start(h, "pinshim dims");
	put_str(h, d->host);
	put_u64(h, (uint64_t)d->port);
	put_str(h, d->peer);
	put(h, d->chain_fp, d->chain_fp_len);
	return finish(h, out);
}

int keys_client(struct store_hasher *h, const struct store_client *c,
		uint8_t out[32])
{
	start(h, "pinshim client");
	put_str(h, c->network);
	put_str(h, c->network_fingerprint);
	put_str(h, c->app_version);
	put_str(h, c->libssl_version);
	put_str(h, c->os);
	return finish(h, out);
}

int keys_failure(struct store_hasher *h, const Pinshim__View__Event *e,
		 const struct store_event_keys *k, uint8_t out[32])
{
	start(h, "pinshim failure");
	put_u64(h, (uint64_t)e->kind);
	put_u64(h, (uint64_t)e->decision);
	put_u64(h, (uint64_t)e->mode);
	put_str(h, e->host);
	put_u64(h, e->port);
	put_str(h, e->peer);
	put_str(h, e->policy_version);
	put_u64(h, e->pinned);
	put_u64(h, (uint64_t)e->matched);
	put_u64(h, e->pin_expired);
	put_u64(h, (uint64_t)(int64_t)e->verify_error);
	put_str(h, e->verify_error_text);
	put_str(h, e->tls_version);
	put_str(h, e->message);
	put_u64(h, e->served_total);
	put_u64(h, e->built_total);
	/* the parts, absent ones as 32 zero bytes */
	put(h, k->served, 32);
	put(h, k->built, 32);
	put(h, k->pinset, 32);
	put(h, k->platform, 32);
	put(h, k->process, 32);
	put(h, k->network, 32);
	put(h, k->stack, 32);
	return finish(h, out);
}
