/* Bounds every decoded frame must keep (wire.h).  protobuf-c has already
 * limited memory to the frame's size; this refuses what is absurd inside
 * it, so neither the collector nor its database sees it. */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			if (err != NULL && errlen > 0)                  \
				snprintf(err, errlen, __VA_ARGS__);     \
			return false;                                   \
		}                                                       \
	} while (0)

size_t wire_utf8_char(const unsigned char *s, size_t n)
{
	unsigned c = s[0], len, min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (unsigned i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* What the database and every page get is text. */
static bool utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0, c; i < n; i += c)
		if ((c = wire_utf8_char((const unsigned char *)s + i, n - i)) == 0)
			return false;
	return true;
}

static bool str_ok(const char *s)
{
	size_t n = s != NULL ? strnlen(s, WIRE_MAX_STRING + 1) : 0;

	return s == NULL || (n <= WIRE_MAX_STRING && utf8_ok(s, n));
}

/* Times a record may carry: 2000-01-01 up to 2100-01-01 (a client's
 * wrong clock is far inside; its offset from the collector's receive
 * time is kept as it is). */
#define TIME_MIN_S 946684800LL
#define TIME_MAX_S 4102444800LL
/* Certificate validity as a claim may give it: 1900 up to the end of
 * 9999 (what X.509 times can say). */
#define CERT_TIME_MIN_S (-2208988800LL)
#define CERT_TIME_MAX_S 253402300799LL

static bool time_us_ok(int64_t t)
{
	return t >= TIME_MIN_S * 1000000 && t < TIME_MAX_S * 1000000;
}

static bool id_ok(ProtobufCBinaryData id)
{
	return id.len == WIRE_ID_LEN;
}

static bool strs_ok(char **v, size_t n)
{
	if (n > WIRE_MAX_LIST)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!str_ok(v[i]))
			return false;
	return true;
}

static bool chain_ok(Pinshim__Cert **c, size_t n, char *err, size_t errlen)
{
	CHECK(n <= WIRE_MAX_CHAIN, "chain of %zu certificates (limit %d)", n,
	      WIRE_MAX_CHAIN);
	for (size_t i = 0; i < n; i++) {
		CHECK(str_ok(c[i]->subject) && str_ok(c[i]->issuer) &&
		      str_ok(c[i]->serial) && str_ok(c[i]->pin),
		      "certificate %zu: a string field over %d bytes", i,
		      WIRE_MAX_STRING);
		CHECK(c[i]->sha256.len == 0 || c[i]->sha256.len == 32,
		      "certificate %zu: sha256 of %zu bytes", i, c[i]->sha256.len);
		CHECK(c[i]->der.len <= WIRE_MAX_DER,
		      "certificate %zu: DER of %zu bytes (limit %d)", i,
		      c[i]->der.len, WIRE_MAX_DER);
		CHECK(c[i]->not_before >= CERT_TIME_MIN_S &&
		      c[i]->not_before <= CERT_TIME_MAX_S &&
		      c[i]->not_after >= CERT_TIME_MIN_S &&
		      c[i]->not_after <= CERT_TIME_MAX_S,
		      "certificate %zu: validity outside the years 1900-9999",
		      i);
	}
	return true;
}

static bool context_ok(const Pinshim__Event *e, char *err, size_t errlen)
{
	const Pinshim__Platform *p = e->platform;
	const Pinshim__Process *pr = e->process;
	const Pinshim__Network *n = e->network;

	CHECK(p == NULL || (str_ok(p->os_id) && str_ok(p->os_version) &&
			    str_ok(p->os_name) && str_ok(p->kernel) &&
			    str_ok(p->arch) && str_ok(p->libssl_version) &&
			    str_ok(p->host_id) && str_ok(p->hostname)),
	      "platform: a string field over %d bytes", WIRE_MAX_STRING);
	CHECK(pr == NULL || (str_ok(pr->exe) && str_ok(pr->build_id) &&
			     str_ok(pr->app_version) &&
			     str_ok(pr->app_version_source) && str_ok(pr->argv0)),
	      "process: a string field over %d bytes", WIRE_MAX_STRING);
	CHECK(n == NULL || (str_ok(n->label) && str_ok(n->fingerprint) &&
			    str_ok(n->gateway) && str_ok(n->subnet) &&
			    str_ok(n->local_address) &&
			    strs_ok(n->resolvers, n->n_resolvers) &&
			    strs_ok(n->proxy_vars, n->n_proxy_vars)),
	      "network: a field over its bound");
	CHECK(e->n_stack <= WIRE_MAX_STACK, "stack of %zu frames (limit %d)",
	      e->n_stack, WIRE_MAX_STACK);
	for (size_t i = 0; i < e->n_stack; i++)
		CHECK(str_ok(e->stack[i]->module) && str_ok(e->stack[i]->symbol) &&
		      str_ok(e->stack[i]->build_id),
		      "stack frame %zu: a string field over %d bytes", i,
		      WIRE_MAX_STRING);
	return true;
}

static bool event_ok(const Pinshim__Event *e, size_t i, char *err,
		     size_t errlen)
{
	CHECK(id_ok(e->id), "event %zu: id of %zu bytes, not %d", i, e->id.len,
	      WIRE_ID_LEN);
	CHECK(e->repeat_of.len == 0 || id_ok(e->repeat_of),
	      "event %zu: repeat_of of %zu bytes", i, e->repeat_of.len);
	CHECK(str_ok(e->host) && str_ok(e->peer) && str_ok(e->policy_version) &&
	      str_ok(e->verify_error_text) && str_ok(e->tls_version) &&
	      str_ok(e->message),
	      "event %zu: a string field over %d bytes", i, WIRE_MAX_STRING);
	CHECK(strs_ok(e->expected_pins, e->n_expected_pins),
	      "event %zu: %zu expected pins (limit %d)", i, e->n_expected_pins,
	      WIRE_MAX_LIST);
	CHECK(e->port <= 65535, "event %zu: port %u", i, e->port);
	CHECK(e->kind >= PINSHIM__KIND__PIN_MISMATCH &&
	      e->kind <= PINSHIM__KIND__POLICY_ERROR, "event %zu: unknown kind "
	      "%d", i, (int)e->kind);
	CHECK(e->decision >= PINSHIM__DECISION__BLOCKED &&
	      e->decision <= PINSHIM__DECISION__ALLOWED, "event %zu: unknown "
	      "decision %d", i, (int)e->decision);
	CHECK(e->mode >= PINSHIM__MODE__MODE_UNSPECIFIED &&
	      e->mode <= PINSHIM__MODE__ENFORCE, "event %zu: unknown mode %d", i,
	      (int)e->mode);
	CHECK(e->matched >= PINSHIM__MATCHED__MATCHED_NONE &&
	      e->matched <= PINSHIM__MATCHED__MATCHED_BUILT, "event %zu: "
	      "unknown match %d", i, (int)e->matched);
	CHECK(time_us_ok(e->time_us) && (e->last_time_us == 0 ||
	      (time_us_ok(e->last_time_us) && e->last_time_us >= e->time_us)),
	      "event %zu: time outside 2000-2100, or its last time before it",
	      i);
	if (!chain_ok(e->served_chain, e->n_served_chain, err, errlen) ||
	    !chain_ok(e->built_chain, e->n_built_chain, err, errlen) ||
	    !context_ok(e, err, errlen))
		return false;
	return true;
}

static bool counter_ok(const Pinshim__Counter *c, size_t i, char *err,
		       size_t errlen)
{
	CHECK(id_ok(c->id), "counter %zu: id of %zu bytes, not %d", i,
	      c->id.len, WIRE_ID_LEN);
	CHECK(str_ok(c->host) && str_ok(c->peer) && str_ok(c->network) &&
	      str_ok(c->network_fingerprint) && str_ok(c->app_version) &&
	      str_ok(c->libssl_version) && str_ok(c->os) && str_ok(c->host_id),
	      "counter %zu: a string field over %d bytes", i, WIRE_MAX_STRING);
	CHECK(c->chain_fingerprint.len <= 32,
	      "counter %zu: chain fingerprint of %zu bytes", i,
	      c->chain_fingerprint.len);
	CHECK(c->port <= 65535, "counter %zu: port %u", i, c->port);
	CHECK(c->hour >= TIME_MIN_S && c->hour < TIME_MAX_S,
	      "counter %zu: hour %lld outside 2000-2100", i,
	      (long long)c->hour);
	CHECK(c->resumed_failed <= c->resumed, "counter %zu: %llu resumed "
	      "after a failure, of %llu resumed", i,
	      (unsigned long long)c->resumed_failed,
	      (unsigned long long)c->resumed);
	return true;
}

static bool chain_seen_ok(const Pinshim__ChainSeen *c, size_t i, char *err,
			  size_t errlen)
{
	char why[200];

	CHECK(c->fingerprint.len == 32, "chain %zu: fingerprint of %zu bytes, "
	      "not 32", i, c->fingerprint.len);
	CHECK(str_ok(c->host), "chain %zu: host over %d bytes", i,
	      WIRE_MAX_STRING);
	/* no certificate: nothing to store, harmless */
	CHECK(chain_ok(c->certs, c->n_certs, why, sizeof(why)), "chain %zu: %s",
	      i, why);
	return true;
}

static bool batch_ok(const Pinshim__Batch *b, char *err, size_t errlen)
{
	size_t records = b->n_events + b->n_counters + b->n_chains;

	CHECK(id_ok(b->id), "batch id of %zu bytes, not %d", b->id.len,
	      WIRE_ID_LEN);
	CHECK(records <= WIRE_MAX_RECORDS, "batch of %zu records (limit %d)",
	      records, WIRE_MAX_RECORDS);
	for (size_t i = 0; i < b->n_events; i++)
		if (!event_ok(b->events[i], i, err, errlen))
			return false;
	for (size_t i = 0; i < b->n_counters; i++)
		if (!counter_ok(b->counters[i], i, err, errlen))
			return false;
	for (size_t i = 0; i < b->n_chains; i++)
		if (!chain_seen_ok(b->chains[i], i, err, errlen))
			return false;
	return true;
}

bool wire_validate(const Pinshim__Frame *f, char *err, size_t errlen)
{
	switch (f->body_case) {
	case PINSHIM__FRAME__BODY_HELLO:
		CHECK(f->hello->token.len <= WIRE_MAX_TOKEN,
		      "token of %zu bytes (limit %d)", f->hello->token.len,
		      WIRE_MAX_TOKEN);
		CHECK(f->hello->sender == NULL ||
		      strnlen(f->hello->sender, WIRE_MAX_NAME + 1) <=
		      WIRE_MAX_NAME, "sender name over %d bytes", WIRE_MAX_NAME);
		return true;
	case PINSHIM__FRAME__BODY_BATCH:
		return batch_ok(f->batch, err, errlen);
	case PINSHIM__FRAME__BODY_ACK:
		CHECK(id_ok(f->ack->batch_id), "ack with a batch id of %zu bytes",
		      f->ack->batch_id.len);
		return true;
	case PINSHIM__FRAME__BODY_ERROR:
		CHECK(str_ok(f->error->message), "error message over %d bytes",
		      WIRE_MAX_STRING);
		return true;
	case PINSHIM__FRAME__BODY_WELCOME:
		return true;
	default:
		CHECK(false, "frame with no known body");
	}
}
