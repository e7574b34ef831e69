/* Checking a batch (decoded with store/batchview.proto) against every
 * bound of proto/wire.h, and computing the content keys of its events'
 * parts, before the writer sees it.  Runs in the thread that read the
 * batch, one struct store_parts per connection.
 *
 * A part (a chain, the platform, the process, the network, the stack, the
 * expected pins) arrives as its encoded bytes.  The first time a
 * connection sends certain bytes, they are decoded with the real message
 * type, checked with wire_validate (wrapped in a one-event frame, so the
 * bounds live in one place: proto/validate.c) and hashed (store/keys.c);
 * the result is remembered by those exact bytes.  Later the same bytes
 * cost a fast hash and a memcmp.  The scalar fields and the counters are
 * checked by wire_validate on a copy of the batch without the parts.  A
 * ChainSeen's certificates are a chain part like an event's served chain
 * (same checks, same key).
 * Together that is every check wire_validate makes on the whole frame.
 *
 * The memo is per connection, bounded, and compares the bytes themselves,
 * so its non-cryptographic hash can only be flooded by a sender that
 * slows its own connection. */
#include "internal.h"
#include "certinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTS_SLOTS 1024           /* power of two */
#define PARTS_BYTES (1u << 20)     /* of remembered encodings */
#define PART_MAX_CACHED 65536      /* bigger parts are checked every time */
/* a counter delta above is not real: no client makes that many
 * handshakes with one host in an hour */
#define MAX_COUNT ((unsigned long long)ROLLUP_ORIGIN_MAX_HOUR)

enum part { PART_CHAIN = 1, PART_PLATFORM, PART_PROCESS, PART_NETWORK,
	    PART_STACK, PART_PINS };

struct part_slot {
	uint64_t hash;
	uint8_t *raw;           /* NULL: empty slot */
	uint32_t len;
	uint8_t kind;
	uint8_t key[32];
};

struct store_parts {
	struct part_slot slot[PARTS_SLOTS];
	size_t used, bytes;
	struct store_hasher *h;
	uint8_t *scratch;       /* the part looked up, serialised */
	size_t scap;
};

/* A part as it came, serialised: its encoded items (one for platform,
 * process, network; the certificates of a chain; the frames of a stack;
 * the pins), each after its length as a u32.  One contiguous buffer: one
 * hash, one memcmp. */
struct part_in {
	enum part kind;
	const uint8_t *raw;
	size_t len;
	uint64_t hash;
};

struct store_parts *store_parts_new(void)
{
	struct store_parts *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->h = store_hasher_new();
	if (p->h == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static void forget_all(struct store_parts *p)
{
	for (size_t i = 0; i < PARTS_SLOTS; i++) {
		free(p->slot[i].raw);
		p->slot[i].raw = NULL;
	}
	p->used = p->bytes = 0;
}

void store_parts_free(struct store_parts *p)
{
	if (p == NULL)
		return;
	forget_all(p);
	store_hasher_free(p->h);
	free(p->scratch);
	free(p);
}

/* ---- the memo -------------------------------------------------------- */

/* A fast hash: four independent multiply-rotate lanes over 32-byte
 * blocks (so the CPU runs them in parallel), then a final mix.  Not
 * collision resistant: the memo compares the bytes. */
static uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static uint64_t lane(uint64_t acc, const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return rotl((acc ^ w) * 0x9e3779b97f4a7c15ull, 29);
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t fast_hash(const uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t a = seed, b = ~seed, c = seed * 3, d = seed + n;
	uint8_t tail[32] = { 0 };

	for (; n >= 32; p += 32, n -= 32) {
		a = lane(a, p);
		b = lane(b, p + 8);
		c = lane(c, p + 16);
		d = lane(d, p + 24);
	}
	if (n > 0)
		memcpy(tail, p, n);
	a = lane(a, tail);
	b = lane(b, tail + 8);
	c = lane(c, tail + 16);
	d = lane(d, tail + 24);
	return mix(rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18));
}

/* Serialises the items into scratch; -1 when out of memory. */
static int serialise(struct store_parts *p, struct part_in *in,
		     const ProtobufCBinaryData *v, size_t n)
{
	size_t len = 0;
	uint8_t *r;

	for (size_t i = 0; i < n; i++)
		len += sizeof(uint32_t) + v[i].len;
	if (len > p->scap) {
		r = realloc(p->scratch, len);
		if (r == NULL)
			return -1;
		p->scratch = r;
		p->scap = len;
	}
	r = p->scratch;
	for (size_t i = 0; i < n; i++) {
		uint32_t l = (uint32_t)v[i].len;

		memcpy(r, &l, sizeof(l));
		if (l > 0)
			memcpy(r + sizeof(l), v[i].data, l);
		r += sizeof(l) + l;
	}
	in->raw = p->scratch;
	in->len = len;
	in->hash = fast_hash(p->scratch, len, in->kind);
	return 0;
}

static bool same(const struct part_slot *s, const struct part_in *in)
{
	return s->hash == in->hash && s->kind == in->kind &&
	       s->len == in->len && memcmp(s->raw, in->raw, in->len) == 0;
}

/* The slot holding in, or the empty slot where it would go. */
static struct part_slot *memo_find(struct store_parts *p,
				   const struct part_in *in)
{
	for (size_t i = in->hash & (PARTS_SLOTS - 1);;
	     i = (i + 1) & (PARTS_SLOTS - 1)) {
		struct part_slot *s = &p->slot[i];

		if (s->raw == NULL || same(s, in))
			return s;
	}
}

static void memo_put(struct store_parts *p, const struct part_in *in,
		     const uint8_t key[32])
{
	struct part_slot *s;

	if (in->len > PART_MAX_CACHED)
		return;
	if ((p->used + 1) * 2 > PARTS_SLOTS || p->bytes + in->len > PARTS_BYTES)
		forget_all(p);
	s = memo_find(p, in);
	if (s->raw != NULL)
		return;
	s->raw = malloc(in->len ? in->len : 1);
	if (s->raw == NULL)
		return;
	if (in->len > 0)
		memcpy(s->raw, in->raw, in->len);
	s->len = (uint32_t)in->len;
	s->hash = in->hash;
	s->kind = (uint8_t)in->kind;
	memcpy(s->key, key, 32);
	p->used++;
	p->bytes += in->len;
}

/* ---- checking one part on a miss ---------------------------------------- */

/* wire_validate on a frame holding one event with only e's parts. */
static int validate_event(Pinshim__Event *e, char *err, size_t errlen)
{
	static uint8_t zero[WIRE_ID_LEN];
	Pinshim__Event *events[1] = { e };
	Pinshim__Batch b = PINSHIM__BATCH__INIT;
	Pinshim__Frame f;

	e->id.data = zero;
	e->id.len = WIRE_ID_LEN;
	/* a part checked alone rides in an event whose own fields pass */
	e->kind = PINSHIM__KIND__PIN_MISMATCH;
	e->decision = PINSHIM__DECISION__BLOCKED;
	e->time_us = 946684800LL * 1000000;
	b.id = e->id;
	b.n_events = 1;
	b.events = events;
	wire_frame_batch(&f, &b);
	return wire_validate(&f, err, errlen) ? 0 : -1;
}

/* Decodes n encoded messages; NULL when one is not valid protobuf. */
ProtobufCMessage **store_decode_parts(const ProtobufCBinaryData *v, size_t n,
				     unpack_fn unpack)
{
	ProtobufCMessage **m = calloc(n ? n : 1, sizeof(*m));

	for (size_t i = 0; m != NULL && i < n; i++) {
		m[i] = unpack(NULL, v[i].len, v[i].data);
		if (m[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				protobuf_c_message_free_unpacked(m[j], NULL);
			free(m);
			return NULL;
		}
	}
	return m;
}

void store_free_parts(ProtobufCMessage **m, size_t n)
{
	for (size_t i = 0; m != NULL && i < n; i++)
		protobuf_c_message_free_unpacked(m[i], NULL);
	free(m);
}

static const char *const part_names[] = {
	[PART_CHAIN] = "certificate", [PART_PLATFORM] = "platform",
	[PART_PROCESS] = "process", [PART_NETWORK] = "network",
	[PART_STACK] = "stack frame", [PART_PINS] = "pins",
};

/* A certificate's DER must be one X.509 certificate (the store derives
 * the certificate's fields from it, put.c) and, when sent with its
 * SHA-256, hash to it: the database keeps one row per SHA-256.  DER
 * parsed once is known by its hash (certseen.c). */
static int der_check(struct store_parts *p, const Pinshim__Cert *c,
		     size_t i, char *err, size_t errlen)
{
	struct certinfo ci;
	uint8_t sha[32];

	if (keys_sha256(p->h, c->der.data, c->der.len, sha) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!certseen_known(sha)) {
		if (!ossl_resolve() ||
		    certinfo_from_der(c->der.data, c->der.len, &ci) < 0) {
			snprintf(err, errlen, "certificate %zu: DER is not an "
				 "X.509 certificate", i);
			return -1;
		}
		certseen_add(sha);
	}
	if (c->sha256.len == 32 && memcmp(sha, c->sha256.data, 32) != 0) {
		snprintf(err, errlen, "certificate %zu: DER does not hash to "
			 "its sha256", i);
		return -1;
	}
	return 0;
}

static int ders_match(struct store_parts *p, Pinshim__Cert **c, size_t n,
		      char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (c[i]->der.len > 0 && der_check(p, c[i], i, err, errlen) < 0)
			return -1;
	return 0;
}

/* Checks and hashes a part the memo did not know. */
static int part_miss(struct store_parts *p, enum part kind,
		     const ProtobufCBinaryData *v, size_t n, char **pins,
		     uint8_t key[32], char *err, size_t errlen)
{
	Pinshim__Event e = PINSHIM__EVENT__INIT;
	ProtobufCMessage **m = NULL;
	unpack_fn unpack = NULL;
	int rc = -1;

	switch (kind) {
	case PART_CHAIN:
		unpack = (unpack_fn)pinshim__cert__unpack;
		break;
	case PART_STACK:
		unpack = (unpack_fn)pinshim__stack_frame__unpack;
		break;
	case PART_PLATFORM:
		unpack = (unpack_fn)pinshim__platform__unpack;
		break;
	case PART_PROCESS:
		unpack = (unpack_fn)pinshim__process__unpack;
		break;
	case PART_NETWORK:
		unpack = (unpack_fn)pinshim__network__unpack;
		break;
	case PART_PINS:
		return keys_pinset(p->h, pins, n, key) < 0 ? -1 : 0;
	}
	m = store_decode_parts(v, n, unpack);
	if (m == NULL) {
		snprintf(err, errlen, "%s is not a valid protobuf message",
			 part_names[kind]);
		return -1;
	}
	switch (kind) {
	case PART_CHAIN:
		e.served_chain = (Pinshim__Cert **)m;
		e.n_served_chain = n;
		if (validate_event(&e, err, errlen) == 0 &&
		    ders_match(p, e.served_chain, n, err, errlen) == 0 &&
		    keys_chain(p->h, e.served_chain, n, NULL, key) == 0)
			rc = 0;
		break;
	case PART_STACK:
		e.stack = (Pinshim__StackFrame **)m;
		e.n_stack = n;
		if (validate_event(&e, err, errlen) == 0 &&
		    keys_stack(p->h, e.stack, n, key) == 0)
			rc = 0;
		break;
	case PART_PLATFORM:
		e.platform = (Pinshim__Platform *)m[0];
		if (validate_event(&e, err, errlen) == 0 &&
		    keys_platform(p->h, e.platform, key) == 0)
			rc = 0;
		break;
	case PART_PROCESS:
		e.process = (Pinshim__Process *)m[0];
		if (validate_event(&e, err, errlen) == 0 &&
		    keys_process(p->h, e.process, key) == 0)
			rc = 0;
		break;
	case PART_NETWORK:
		e.network = (Pinshim__Network *)m[0];
		if (validate_event(&e, err, errlen) == 0 &&
		    keys_network(p->h, e.network, key) == 0)
			rc = 0;
		break;
	default:
		break;
	}
	store_free_parts(m, n);
	return rc;
}

/* The key of one part: from the memo, or checked and hashed now. */
static int part_key(struct store_parts *p, enum part kind,
		    const ProtobufCBinaryData *v, size_t n, char **pins,
		    uint8_t key[32], char *err, size_t errlen)
{
	ProtobufCBinaryData strs[WIRE_MAX_LIST];
	struct part_in in = { .kind = kind };
	struct part_slot *s;

	if (pins != NULL) {
		/* validate_scalars has bounded the list */
		for (size_t i = 0; i < n && i < WIRE_MAX_LIST; i++) {
			strs[i].data = (uint8_t *)pins[i];
			strs[i].len = strlen(pins[i]);
		}
	}
	if (serialise(p, &in, pins != NULL ? strs : v, n) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s = memo_find(p, &in);
	if (s->raw != NULL) {
		memcpy(key, s->key, 32);
		return 0;
	}
	if (part_miss(p, kind, v, n, pins, key, err, errlen) < 0)
		return -1;
	memo_put(p, &in, key);
	return 0;
}

/* ---- the batch ---------------------------------------------------------- */

/* The event without its parts, for wire_validate. */
static void scalars(const Pinshim__View__Event *v, Pinshim__Event *e)
{
	pinshim__event__init(e);
	e->id = v->id;
	e->time_us = v->time_us;
	e->kind = v->kind;
	e->decision = v->decision;
	e->host = v->host;
	e->port = v->port;
	e->peer = v->peer;
	e->policy_version = v->policy_version;
	e->mode = v->mode;
	e->n_expected_pins = v->n_expected_pins;
	e->expected_pins = v->expected_pins;
	e->pinned = v->pinned;
	e->matched = v->matched;
	e->pin_expired = v->pin_expired;
	e->verify_error = v->verify_error;
	e->verify_error_text = v->verify_error_text;
	e->tls_version = v->tls_version;
	e->message = v->message;
	e->served_total = v->served_total;
	e->built_total = v->built_total;
	e->count = v->count;
	e->last_time_us = v->last_time_us;
	e->repeat_of = v->repeat_of;
}

/* The chain records without their certificates, for wire_validate. */
static void chain_scalars(const Pinshim__View__ChainSeen *v,
			  Pinshim__ChainSeen *c)
{
	pinshim__chain_seen__init(c);
	c->fingerprint = v->fingerprint;
	c->host = v->host;
	c->total = v->total;
}

/* wire_validate on the batch without the events' and chains' parts. */
static int validate_scalars(const Pinshim__View__Batch *b, char *err,
			    size_t errlen)
{
	size_t ne = b->n_events ? b->n_events : 1;
	size_t nc = b->n_chains ? b->n_chains : 1;
	Pinshim__Event *ev = calloc(ne, sizeof(*ev));
	Pinshim__Event **evp = calloc(ne, sizeof(*evp));
	Pinshim__ChainSeen *cs = calloc(nc, sizeof(*cs));
	Pinshim__ChainSeen **csp = calloc(nc, sizeof(*csp));
	Pinshim__Batch batch = PINSHIM__BATCH__INIT;
	Pinshim__Frame f;
	int rc = -1;

	if (ev == NULL || evp == NULL || cs == NULL || csp == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->n_events; i++) {
		scalars(b->events[i], &ev[i]);
		evp[i] = &ev[i];
	}
	for (size_t i = 0; i < b->n_chains; i++) {
		chain_scalars(b->chains[i], &cs[i]);
		csp[i] = &cs[i];
	}
	batch.id = b->id;
	batch.n_events = b->n_events;
	batch.events = evp;
	batch.n_counters = b->n_counters;
	batch.counters = b->counters;
	batch.n_chains = b->n_chains;
	batch.chains = csp;
	wire_frame_batch(&f, &batch);
	rc = wire_validate(&f, err, errlen) ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < b->n_counters; i++) {
		const Pinshim__Counter *c = b->counters[i];

		if (c->successes > MAX_COUNT || c->failures > MAX_COUNT ||
		    c->resumed > MAX_COUNT) {
			snprintf(err, errlen, "counter %zu: a count over %llu",
				 i, MAX_COUNT);
			rc = -1;
		}
	}
out:
	free(ev);
	free(evp);
	free(cs);
	free(csp);
	return rc;
}

/* An empty encoding decodes to an empty message: nothing to store, as
 * when the part is absent. */
static int single(struct store_parts *p, enum part kind,
		  const ProtobufCBinaryData *v, uint8_t key[32], char *err,
		  size_t errlen)
{
	if (v->len == 0)
		return 0;
	return part_key(p, kind, v, 1, NULL, key, err, errlen);
}

static int event_keys(struct store_parts *p, const Pinshim__View__Event *e,
		      struct store_event_keys *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if ((e->n_served_chain > 0 &&
	     part_key(p, PART_CHAIN, e->served_chain, e->n_served_chain, NULL,
		      k->served, err, errlen) < 0) ||
	    (e->n_built_chain > 0 &&
	     part_key(p, PART_CHAIN, e->built_chain, e->n_built_chain, NULL,
		      k->built, err, errlen) < 0) ||
	    (e->n_expected_pins > 0 &&
	     part_key(p, PART_PINS, NULL, e->n_expected_pins,
		      e->expected_pins, k->pinset, err, errlen) < 0) ||
	    single(p, PART_PLATFORM, &e->platform,
		   k->platform, err, errlen) < 0 ||
	    single(p, PART_PROCESS, &e->process, k->process,
		   err, errlen) < 0 ||
	    single(p, PART_NETWORK, &e->network, k->network,
		   err, errlen) < 0 ||
	    (e->n_stack > 0 &&
	     part_key(p, PART_STACK, e->stack, e->n_stack, NULL, k->stack,
		      err, errlen) < 0))
		return -1;
	if (keys_failure(p->h, e, k, k->failure) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	k->valid = true;
	return 0;
}

/* A chain record's certificates: checked and keyed as an event's served
 * chain, so both find the same chain row. */
static int chain_keys(struct store_parts *p, const Pinshim__View__ChainSeen *c,
		      struct store_event_keys *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (c->n_certs > 0 &&
	    part_key(p, PART_CHAIN, c->certs, c->n_certs, NULL, k->served, err,
		     errlen) < 0)
		return -1;
	k->valid = true;
	return 0;
}

int store_prepare(struct store_parts *p, const Pinshim__View__Batch *b,
		  struct store_event_keys *keys, char *err, size_t errlen)
{
	char why[256];

	if (validate_scalars(b, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < b->n_events; i++) {
		if (event_keys(p, b->events[i], &keys[i], why,
			       sizeof(why)) < 0) {
			snprintf(err, errlen, "event %zu: %s", i, why);
			return -1;
		}
	}
	for (size_t i = 0; i < b->n_chains; i++) {
		if (chain_keys(p, b->chains[i], &keys[b->n_events + i], why,
			       sizeof(why)) < 0) {
			snprintf(err, errlen, "chain %zu: %s", i, why);
			return -1;
		}
	}
	return 0;
}
