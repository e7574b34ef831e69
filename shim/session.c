/* Session resumption has no Certificate message, so the verify callback
 * does not run for it.  Each full client handshake marks its session with
 * what it found: for which host and pins it was checked, and whether it
 * passed.  TLS 1.3 tickets arrive later as copies of that session, and
 * copies carry the ex_data value, so they inherit the mark.
 *
 * Enforce mode: before a client resumes, a session that does not carry a
 * passing mark for the host and the pins in force now (a policy reload can
 * change them) is dropped, so the handshake is a full one, checked like any
 * other.  Observe mode changes nothing the program can see: every session
 * resumes as it would without the shim.
 *
 * Either way a resumed handshake is counted (its full handshake already
 * carried its event), as resumed_failed when its session's full handshake
 * had failed, so failure rates stay honest. */
#include "shim.h"

#include <stdint.h>

#define MARK_PASSED ((uintptr_t)2)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* FNV-1a of the host and the pins it was checked against; bit 0 set, so it
 * is never NULL (no mark), bit 1 for "passed". */
static uintptr_t mark_for(const char *host, const struct policy_host *h)
{
	uint64_t v = fnv(1469598103934665603ULL, host, strlen(host) + 1);

	for (size_t i = 0; h != NULL && i < h->npins; i++)
		v = fnv(v, &h->pins[i], sizeof(h->pins[i]));
	return ((uintptr_t)v & ~MARK_PASSED) | 1;
}

void session_mark(SSL *s, const char *host, const struct policy_host *h,
		  bool passed)
{
	SSL_SESSION *sess = ossl.SSL_get_session(s);
	uintptr_t mark = mark_for(host, h) | (passed ? MARK_PASSED : 0);

	if (sess != NULL)
		ossl.SSL_SESSION_set_ex_data(sess, shim.sess_idx, (void *)mark);
}

static uintptr_t mark_of(SSL *s)
{
	SSL_SESSION *sess = ossl.SSL_get_session(s);

	return sess != NULL ? (uintptr_t)ossl.SSL_SESSION_get_ex_data(
				      sess, shim.sess_idx)
			    : 0;
}

/* Whether a session may resume for host under configuration c: always but
 * in enforce mode, where it must have passed these very pins. */
static bool may_resume(const struct shim_config *c, const char *host,
		       uintptr_t mark)
{
	const struct policy_host *h;

	if (c->policy_failed)
		return !config_settings()->fail_closed;
	h = policy_match(c->policy, host);
	if (h != NULL && h->disabled)
		return !config_settings()->fail_closed;
	if (h == NULL || config_mode(c, h) != POLICY_ENFORCE ||
	    policy_host_expired(h, time(NULL)))
		return true;
	return mark == (mark_for(host, h) | MARK_PASSED);
}

void session_before_resume(SSL *s)
{
	const struct shim_config *c;
	struct peer p;
	bool ok;

	/* the front calls this for a client in SSL_in_before with a session */
	peer_name(s, &p);
	c = config_acquire();
	ok = may_resume(c, p.host, mark_of(s));
	config_release(c);
	if (ok)
		return;
	shim_log(LOG_DEBUG, "%s: not resuming a session whose pins were not "
		 "checked for this host; full handshake", p.host);
	ossl.SSL_set_session(s, NULL);
}

void session_handshake_done(SSL *s)
{
	uintptr_t mark;
	enum count_kind kind;
	unsigned char fp[32];
	struct peer p;

	if (!ossl.SSL_session_reused(s) || ossl.SSL_is_server(s) ||
	    ossl.SSL_get_ex_data(s, shim.ssl_idx) != NULL)
		return;
	/* SSL_connect calls SSL_do_handshake: both wrappers end here. */
	ossl.SSL_set_ex_data(s, shim.ssl_idx, (void *)1);
	context_note_libssl();
	if (config_settings()->collector == NULL)
		return; /* counters only travel to a collector */
	mark = mark_of(s);
	kind = mark != 0 && !(mark & MARK_PASSED) ? COUNT_RESUMED_FAILED
						  : COUNT_RESUMED;
	peer_name(s, &p);
	peer_address(s, &p);
	chain_fingerprint(ossl.SSL_get_peer_cert_chain(s), fp);
	/* A chain first met here (a session from elsewhere) is described by
	 * the next full handshake that serves it. */
	if (queue_count(&p, fp, kind))
		queue_chain_forget(fp);
}
