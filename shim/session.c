/* Session resumption has no Certificate message, so the verify callback does
 * not run.  A session is marked when its full handshake passed the pin check
 * for a host; before a client handshake starts, a session that carries no
 * mark for the host about to be contacted is dropped, which makes the
 * handshake a full one, checked like any other. */
#include "shim.h"

#include <stdint.h>

/* FNV-1a of the host, odd so that it is never NULL (no mark). */
static void *mark_for(const char *host)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *host != '\0'; host++)
		h = (h ^ (unsigned char)*host) * 1099511628211ULL;
	return (void *)(uintptr_t)(h | 1);
}

void session_mark(SSL *s, const char *host)
{
	SSL_SESSION *sess = ossl.SSL_get_session(s);

	/* TLS 1.3 tickets arrive later as copies of this session, and copies
	 * carry the ex_data value, so they inherit the mark. */
	if (sess != NULL)
		ossl.SSL_SESSION_set_ex_data(sess, shim.sess_idx, mark_for(host));
}

static bool host_needs_check(const struct shim_config *c, const char *host)
{
	if (c->policy_failed)
		return c->fail_closed;
	return policy_match(c->policy, host) != NULL;
}

void session_precheck(SSL *s)
{
	SSL_SESSION *sess;
	struct peer p;

	if (!ossl.SSL_in_before(s) || ossl.SSL_is_server(s))
		return;
	sess = ossl.SSL_get_session(s);
	if (sess == NULL)
		return;
	peer_name(s, &p);
	if (!host_needs_check(config_get(), p.host))
		return;
	if (ossl.SSL_SESSION_get_ex_data(sess, shim.sess_idx) == mark_for(p.host))
		return;
	shim_log(LOG_DEBUG, "%s: not resuming a session whose pins were not "
		 "checked for this host; full handshake", p.host);
	ossl.SSL_set_session(s, NULL);
}
