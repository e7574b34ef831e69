/* Events: one per verification failure (pinned host or not) and per policy
 * error.  Built on the handshake path from what the callback already holds;
 * nothing here blocks. */
#include "shim.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const char *const kind_names[] = {
	[EV_PIN_MISMATCH] = "pin_mismatch",
	[EV_UNTRUSTED_ISSUER] = "untrusted_issuer",
	[EV_EXPIRED] = "expired",
	[EV_NOT_YET_VALID] = "not_yet_valid",
	[EV_HOSTNAME_MISMATCH] = "hostname_mismatch",
	[EV_OTHER_VERIFY_ERROR] = "other_verify_error",
	[EV_POLICY_ERROR] = "policy_error",
};

static const char *const decision_names[] = {
	[EV_BLOCKED] = "blocked",
	[EV_WOULD_BLOCK] = "would_block",
	[EV_ALLOWED] = "allowed",
};

const char *event_kind_name(enum event_kind k)
{
	return kind_names[k];
}

const char *event_decision_name(enum event_decision d)
{
	return decision_names[d];
}

enum event_kind event_kind_of_verify_error(int err)
{
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return EV_UNTRUSTED_ISSUER;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return EV_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return EV_NOT_YET_VALID;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return EV_HOSTNAME_MISMATCH;
	default:
		return EV_OTHER_VERIFY_ERROR;
	}
}

/* UUIDv7: 48 bits of Unix milliseconds first, so ids sort by time and the
 * collector's index grows at its end; the rest random. */
void event_make_id(unsigned char id[16], const struct timespec *t)
{
	unsigned long long ms = (unsigned long long)t->tv_sec * 1000ULL +
				(unsigned long long)t->tv_nsec / 1000000ULL;

	/* GRND_NONBLOCK: never wait for entropy on the handshake path.  Early
	 * in boot it can come up short: then pid, nanoseconds and a counter
	 * keep ids of this host apart (dedupe must not merge two events). */
	if (getrandom(id + 6, 10, GRND_NONBLOCK) != 10) {
		static atomic_uint seq;
		unsigned n = atomic_fetch_add(&seq, 1);
		unsigned pid = (unsigned)getpid();
		unsigned ns = (unsigned)t->tv_nsec;

		memcpy(id + 6, &pid, 4);
		memcpy(id + 10, &ns, 4);
		id[14] = (unsigned char)n;
		id[15] = (unsigned char)(n >> 8);
	}
	for (int i = 0; i < 6; i++)
		id[i] = (unsigned char)(ms >> (40 - 8 * i));
	id[6] = (unsigned char)(0x70 | (id[6] & 0x0f));
	id[8] = (unsigned char)(0x80 | (id[8] & 0x3f));
}

struct event *event_new(enum event_kind kind, enum event_decision decision)
{
	struct event *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ev->time);
	event_make_id(ev->id, &ev->time);
	ev->kind = kind;
	ev->decision = decision;
	ev->verify_error_text = "";
	ev->tls_version = "";
	ev->count = 1;
	ev->last_time = ev->time;
	ev->network = context_network();
	return ev;
}

/* The copy shares nothing that event_free releases: DER stays with the
 * original (a repeat says "the same chain again", the first record has it). */
struct event *event_repeat(const struct event *ev, unsigned count,
			   const struct timespec *first,
			   const struct timespec *last)
{
	struct event *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	*r = *ev;
	chain_copy(&r->served, &ev->served);
	chain_copy(&r->built, &ev->built);
	r->time = *first;
	r->last_time = *last;
	event_make_id(r->id, first);
	r->count = count;
	r->is_repeat = true;
	memcpy(r->repeat_of, ev->id, sizeof(r->repeat_of));
	return r;
}

void event_complete(struct event *ev)
{
	size_t budget = EVENT_DER_BUDGET;

	for (size_t i = 0; i < ev->served.n; i++)
		budget -= ev->served.certs[i].der_len <= budget
				  ? ev->served.certs[i].der_len : budget;
	chain_complete(&ev->served, &ev->served, &budget);
	chain_complete(&ev->built, &ev->served, &budget);
}

void event_free(struct event *ev)
{
	if (ev == NULL)
		return;
	chain_release(&ev->served);
	chain_release(&ev->built);
	free(ev);
}
