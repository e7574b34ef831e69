/* The handshake decision.  The front's cert verify callback (hooks.c) runs
 * once per full handshake with the chain the peer served: it runs the
 * program's own verification (its callback, or X509_verify_cert) and hands
 * a client's result here.  For a host the policy pins, verify_decide checks
 * the pins against the served and the built chain, and decides:
 *
 *   program rejected          → stays rejected (the shim never turns a
 *                               failure into a success)
 *   pins match / host unpinned → the program's verdict, untouched
 *   mismatch, enforce          → fail the handshake before any application
 *                               byte, with a pinshim reason in the error queue
 *   mismatch, observe/expired  → the program's verdict, plus an event
 *
 * Every failure, pinned host or not, becomes an event. */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum reason { REASON_NONE, REASON_PIN, REASON_POLICY };

struct check {
	SSL *s;
	X509_STORE_CTX *xs;
	int ok;                       /* the program's own result */
	bool program_accepts;         /* would the handshake go on without us */
	int verify_error;
	const struct shim_config *cfg;
	const struct policy_host *entry;   /* NULL: not pinned, or refused */
	bool refused_entry;           /* its section had an error */
	enum policy_mode mode;
	bool matched, matched_served, expired;
	enum reason block;
	struct peer peer;
	struct chain served, built;
};

static void check_pins(struct check *c)
{
	const struct policy_host *h = c->entry;

	c->mode = config_mode(c->cfg, h);
	c->expired = policy_host_expired(h, time(NULL));
	chain_read(ossl.X509_STORE_CTX_get0_untrusted(c->xs), &c->served);
	c->matched = chain_has_any(&c->served, h->pins, h->npins);
	c->matched_served = c->matched;
	if (c->matched)
		return;
	/* A root pin: the server need not send the root, OpenSSL adds it. */
	chain_read(ossl.X509_STORE_CTX_get0_chain(c->xs), &c->built);
	c->matched = chain_has_any(&c->built, h->pins, h->npins);
}

/* The program's own verification reported an error, accepted or not. */
static bool verify_failed(const struct check *c)
{
	return c->ok <= 0 || c->verify_error != X509_V_OK;
}

/* The host is pinned and no pin matches the served or built chain. */
static bool pin_mismatch(const struct check *c)
{
	return c->entry != NULL && !c->matched;
}

static enum reason block_reason(const struct check *c)
{
	if ((c->cfg->policy_failed || c->refused_entry) &&
	    config_settings()->fail_closed)
		return REASON_POLICY;
	if (pin_mismatch(c) && !c->expired &&
	    c->mode == POLICY_ENFORCE)
		return REASON_PIN;
	return REASON_NONE;
}

/* A verification error counts even when the program chose to accept it
 * (SSL_VERIFY_NONE, or its callback overrode the error). */
static bool is_failure(const struct check *c)
{
	return verify_failed(c) || c->block != REASON_NONE || pin_mismatch(c);
}

/* What decided the handshake: the program's own rejection first, then the
 * shim's reason; a verification error the program chose to accept (curl -k)
 * is named only when nothing else is wrong. */
static enum event_kind kind_of(const struct check *c)
{
	if (c->ok <= 0 && !c->program_accepts)
		return event_kind_of_verify_error(c->verify_error);
	if (c->block == REASON_POLICY)
		return EV_POLICY_ERROR;
	if (pin_mismatch(c))
		return EV_PIN_MISMATCH;
	return event_kind_of_verify_error(c->verify_error);
}

static enum event_decision decision_of(const struct check *c)
{
	if (c->block != REASON_NONE || !c->program_accepts)
		return EV_BLOCKED;
	if (pin_mismatch(c))
		return EV_WOULD_BLOCK;
	return EV_ALLOWED;
}

static size_t pins_text(const struct chain *c, char *out, size_t len)
{
	char pin[PIN_STRLEN];
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n && used < len; i++) {
		pin_format(&c->certs[i].spki, pin);
		used += (size_t)snprintf(out + used, len - used, "%s[%zu] %s",
					 i ? " " : "", i, pin);
	}
	return used;
}

static void expected_text(const struct policy_host *h, char *out, size_t len)
{
	char pin[PIN_STRLEN];
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; h != NULL && i < h->npins && used < len; i++) {
		pin_format(&h->pins[i], pin);
		used += (size_t)snprintf(out + used, len - used, "%s%s",
					 i ? ", " : "", pin);
	}
}

static void log_failure(struct event *ev, const struct check *c)
{
	char served[700], built[700], expected[500];

	if (!log_enabled(LOG_INFO))
		return;
	/* The pins are needed now: derive them here, in this debugging mode
	 * only, rather than on the sender thread. */
	event_complete(ev);
	pins_text(&ev->served, served, sizeof(served));
	pins_text(&ev->built, built, sizeof(built));
	expected_text(c->entry, expected, sizeof(expected));
	shim_log(LOG_INFO, "%s:%d %s, %s (%s); served: %s; built: %s; "
		 "expected: %s", ev->peer.host, ev->peer.port,
		 event_kind_name(ev->kind), event_decision_name(ev->decision),
		 ev->message, served, built,
		 expected[0] != '\0' ? expected : "(host not pinned)");
}

static void describe(struct event *ev, const struct check *c)
{
	const char *what = verify_failed(c)
		? ossl.X509_verify_cert_error_string(c->verify_error)
		: c->block == REASON_POLICY ? "policy not loaded, failing closed"
					    : "no pin matches the chain";

	snprintf(ev->message, sizeof(ev->message), "%s%s", what,
		 pin_mismatch(c) && verify_failed(c)
			 ? "; no pin matches the chain either" : "");
	if (c->expired)
		strncat(ev->message, "; pins expired, only reported",
			sizeof(ev->message) - strlen(ev->message) - 1);
}

static enum event_matched matched_of(const struct check *c)
{
	if (!c->matched)
		return EV_MATCHED_NONE;
	return c->matched_served ? EV_MATCHED_SERVED : EV_MATCHED_BUILT;
}

/* An event goes somewhere: the collector, the events file or the log.
 * Without any, nothing is built (and libunwind never opens its pipe). */
static bool recorded(const struct check *c)
{
	const struct shim_settings *set = config_settings();

	return set->collector != NULL || set->events_file != NULL ||
	       log_enabled(LOG_INFO);
}

static void record(const struct check *c)
{
	struct event *ev;

	if (!recorded(c))
		return;
	ev = event_new(kind_of(c), decision_of(c));
	if (ev == NULL) {
		shim_log(LOG_ERROR, "%s: out of memory, failure not recorded",
			 c->peer.host);
		return;
	}
	stack_capture(&ev->stack);
	ev->peer = c->peer;
	peer_address(c->s, &ev->peer);
	ev->mode = c->entry != NULL ? c->mode : config_mode(c->cfg, NULL);
	if (c->cfg->policy != NULL)
		snprintf(ev->policy_version, sizeof(ev->policy_version), "%s",
			 c->cfg->policy->version);
	for (size_t i = 0; c->entry != NULL && i < c->entry->npins &&
			   i < EVENT_PINS_MAX; i++)
		ev->expected[ev->nexpected++] = c->entry->pins[i];
	ev->pinned = c->entry != NULL;
	ev->pin_matched = c->matched;
	ev->matched = matched_of(c);
	ev->pin_expired = c->expired;
	ev->verify_error = c->verify_error;
	ev->verify_error_text = ossl.X509_verify_cert_error_string(c->verify_error);
	ev->tls_version = ossl.SSL_get_version(c->s);
	/* References only: pins and printable details are derived on the
	 * sender thread (event_complete), off the program's handshake. */
	chain_hold(ossl.X509_STORE_CTX_get0_untrusted(c->xs), &ev->served);
	chain_hold(ossl.X509_STORE_CTX_get0_chain(c->xs), &ev->built);
	describe(ev, c);
	log_failure(ev, c);
	sink_emit(ev);
}

/* Fails the handshake: OpenSSL only honours a 0 from this callback when the
 * SSL verifies its peer, so a program that asked for SSL_VERIFY_NONE (curl
 * -k) is switched to SSL_VERIFY_PEER for this one connection, which is over
 * anyway. */
static void refuse(const struct check *c)
{
	if (c->program_accepts)
		ossl.X509_STORE_CTX_set_error(c->xs,
					      X509_V_ERR_APPLICATION_VERIFICATION);
	if (ossl.SSL_get_verify_mode(c->s) == SSL_VERIFY_NONE)
		ossl.SSL_set_verify(c->s, SSL_VERIFY_PEER,
				    ossl.SSL_get_verify_callback(c->s));
	ossl.ERR_new();
	ossl.ERR_set_debug(__FILE__, __LINE__, __func__);
	if (c->block == REASON_POLICY)
		ossl.ERR_set_error(shim.err_lib, 2,
				   "host %s: policy not loaded and PINSHIM_FAIL=closed",
				   c->peer.host);
	else
		ossl.ERR_set_error(shim.err_lib, 1,
				   "host %s: no pin of the policy matches the "
				   "served or built chain", c->peer.host);
}

/* The first handshake of this process with a served chain: references
 * to its certificates, for the sender to describe in a ChainSeen (the
 * counters know the chain only by its fingerprint). */
static void chain_seen(const struct check *c, STACK_OF(X509) *sk,
		       const unsigned char fp[32])
{
	struct chain_seen *cs = malloc(sizeof(*cs));

	if (cs == NULL) {
		queue_chain_forget(fp);
		return;
	}
	memcpy(cs->fp, fp, sizeof(cs->fp));
	snprintf(cs->host, sizeof(cs->host), "%s", c->peer.host);
	chain_hold(sk, &cs->chain);
	queue_chain_seen(cs);
}

/* Every full handshake counts, so failure rates have a denominator. */
static void count(struct check *c)
{
	STACK_OF(X509) *sk = ossl.X509_STORE_CTX_get0_untrusted(c->xs);
	unsigned char fp[32];

	context_note_libssl();
	if (config_settings()->collector == NULL)
		return; /* counters only travel to a collector */
	chain_fingerprint(sk, fp);
	peer_address(c->s, &c->peer);
	if (queue_count(&c->peer, fp, is_failure(c) ? COUNT_FAILED : COUNT_OK))
		chain_seen(c, sk, fp);
}

int verify_decide(SSL *s, X509_STORE_CTX *xs, int ok)
{
	struct check *c = calloc(1, sizeof(*c));
	int ret;

	if (c == NULL) {
		/* Cannot check: fail safe rather than let an unchecked chain
		 * through a pinned host. */
		ossl.X509_STORE_CTX_set_error(xs, X509_V_ERR_OUT_OF_MEM);
		return 0;
	}
	ossl.ERR_set_mark();
	c->s = s;
	c->xs = xs;
	c->ok = ok;
	c->verify_error = ossl.X509_STORE_CTX_get_error(xs);
	c->program_accepts = ok > 0 || ossl.SSL_get_verify_mode(s) == SSL_VERIFY_NONE;
	c->cfg = config_acquire();
	peer_name(s, &c->peer);
	if (c->cfg->policy != NULL)
		c->entry = policy_match(c->cfg->policy, c->peer.host);
	if (c->entry != NULL && c->entry->disabled) {
		c->refused_entry = true;
		c->entry = NULL;
	}
	if (c->entry != NULL)
		check_pins(c);
	c->block = block_reason(c);
	if (is_failure(c))
		record(c);
	session_mark(s, c->peer.host, c->entry, !is_failure(c));
	count(c);
	ossl.ERR_pop_to_mark();
	ret = ok;
	if (c->block != REASON_NONE) {
		refuse(c);
		ret = 0;
	}
	config_release(c->cfg);
	free(c);
	return ret;
}
