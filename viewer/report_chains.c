/* A served chain as reports show it: its certificates marked against the
 * pins (pinned) and against a reference chain (changed: the key at that
 * position differs), and who saw it. */
#include "report_int.h"

#include <string.h>

static bool in(char *const *pins, size_t n, const char *pin)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(pins[i], pin) == 0)
			return true;
	return false;
}

static int certs(struct report_pool *p, const struct hchain *c,
		 const struct hchain *ref, char *const *pins, size_t npins,
		 struct report_chain *out)
{
	out->certs = pool_alloc(p, (c->ncerts ? c->ncerts : 1) *
				sizeof(*out->certs));
	if (out->certs == NULL)
		return -1;
	out->ncerts = c->ncerts;
	out->changed_position = -1;
	for (size_t i = 0; i < c->ncerts; i++) {
		const struct store_cert *s = &c->certs[i];
		struct report_cert *d = &out->certs[i];

		d->position = s->position;
		d->subject = pool_strdup(p, s->subject);
		d->issuer = pool_strdup(p, s->issuer);
		d->serial = pool_strdup(p, s->serial);
		d->pin = pool_strdup(p, s->pin);
		d->not_before = s->not_before;
		d->not_after = s->not_after;
		d->pinned = in(pins, npins, s->pin);
		d->verified = s->verified;
		d->conflict = s->conflict;
		d->changed = ref != NULL && ref != c && ref->ncerts > 0 &&
			     (i >= ref->ncerts ||
			      strcmp(ref->certs[i].pin, s->pin) != 0);
		if (d->changed && out->changed_position < 0)
			out->changed_position = (int)i;
		out->pinned |= d->pinned;
	}
	/* a shorter chain than the reference changed where it ends */
	if (ref != NULL && ref != c && ref->ncerts > c->ncerts &&
	    c->ncerts > 0 && out->changed_position < 0)
		out->changed_position = (int)c->ncerts;
	return p->oom ? -1 : 0;
}

/* Handshakes with this chain by network, peer and app version. */
static int who(struct report_pool *p, const struct host *h, long chain,
	       struct report_chain *out)
{
	struct tally t[3];
	static const enum report_dim dims[3] = { DIM_NETWORK, DIM_PEER,
						 DIM_APP_VERSION };
	int rc = 0;

	for (int i = 0; i < 3; i++)
		if (tally_init(&t[i], p) < 0)
			rc = -1;
	for (size_t i = 0; rc == 0 && i < h->nobs; i++) {
		const struct obs *o = &h->obs[i];

		if (o->chain != chain)
			continue;
		for (int k = 0; k < 3 && rc == 0; k++)
			rc = tally_add(&t[k], host_value(h, o, dims[k]),
				       o->failed + o->succeeded);
	}
	if (tally_take(&t[0], &out->networks, &out->nnetworks) < 0)
		rc = -1;
	if (tally_take(&t[1], &out->peers, &out->npeers) < 0)
		rc = -1;
	if (tally_take(&t[2], &out->versions, &out->nversions) < 0)
		rc = -1;
	return rc;
}

int chain_result(struct report_pool *p, const struct host *h, long chain,
		 const struct hchain *ref, char *const *pins, size_t npins,
		 struct report_chain *out)
{
	const struct hchain *c = &h->chains[chain];

	memset(out, 0, sizeof(*out));
	out->fingerprint = pool_strdup(p, c->key);
	out->successes = c->successes;
	out->failures = c->failures;
	out->first_hour = c->first_hour;
	out->last_hour = c->last_hour;
	out->role = c->successes > 0 && c->failures > 0 ? "both"
		    : c->failures > 0 ? "failing" : "succeeding";
	if (out->fingerprint == NULL ||
	    certs(p, c, ref, pins, npins, out) < 0 ||
	    who(p, h, chain, out) < 0)
		return -1;
	return 0;
}
