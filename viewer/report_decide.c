/* Naming the cause of a group of failures (DIAGNOSIS.md, "Compare chains"
 * and "Decide"): each cause has a test on the splits (which dimensions
 * separate) and on the chain evidence (the failing chain against the one
 * that succeeds, and against the pins).  Every test that fits is a
 * candidate with a base confidence; the strongest wins, a second one
 * close to it lowers the confidence and is named in the evidence.  Thin
 * support lowers it too.  Without successes there is no contrast: only
 * the validity window against the collector's receive times can still
 * speak (expired, clock_skew); anything else is `unknown`, and says why.
 */
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dimension "separates" from this score on (report_split.c). */
#define SEPARATES 0.5

struct cand {
	enum report_cause cause;
	double base;
	struct report_split shown;
	const char *ev[GROUP_MAX_EVIDENCE];
	size_t nev;
	const char *fix;
};

struct decision {
	struct hostctx *x;
	struct group *g;
	const struct hchain *c, *ref;
	struct report_pool *p;
	struct cand cand[CAUSE_COUNT];
	size_t n;
};

/* ---- the host's reference --------------------------------------------------- */

int hostctx_init(struct hostctx *x, struct host *h)
{
	memset(x, 0, sizeof(*x));
	x->h = h;
	x->ref = -1;
	if (names_init(&x->ok_names, h->pool) < 0 ||
	    names_init(&x->ok_leaves, h->pool) < 0)
		return -1;
	for (size_t i = 0; i < h->nchains; i++) {
		const struct hchain *c = &h->chains[i];

		if (c->successes == 0)
			continue;
		if (x->ref < 0 || (c->ncerts > 0) > (h->chains[x->ref].ncerts > 0) ||
		    ((c->ncerts > 0) == (h->chains[x->ref].ncerts > 0) &&
		     c->successes > h->chains[x->ref].successes))
			x->ref = (long)i;
		for (size_t k = 0; k < c->ncerts; k++)
			if (names_id(&x->ok_names, c->certs[k].subject) < 0 ||
			    names_id(&x->ok_names, c->certs[k].issuer) < 0)
				return -1;
		if (c->ncerts > 0 && names_id(&x->ok_leaves, c->certs[0].pin) < 0)
			return -1;
	}
	return 0;
}

void hostctx_free(struct hostctx *x)
{
	names_free(&x->ok_names);
	names_free(&x->ok_leaves);
}

/* ---- words -------------------------------------------------------------------- */

/* "CN=a.example" out of a DN, else the DN cut short. */
static const char *cn(struct report_pool *p, const char *dn)
{
	const char *s = strstr(dn, "CN=");

	if (s == NULL)
		return fmt_short(p, dn, 60);
	return fmt_short(p, s, 60);
}

const char *chain_label(struct report_pool *p, const struct hchain *c)
{
	const char *key = c->key;

	if (c->ncerts == 0)
		return pool_printf(p, "%.16s (certificates not reported)", key);
	return pool_printf(p, "%.16s (%s <- %s)", key,
			   cn(p, c->certs[0].subject), cn(p, c->certs[0].issuer));
}

static const char *dim_words(enum report_dim d)
{
	switch (d) {
	case DIM_APP_VERSION: return "app version";
	case DIM_LIBSSL_VERSION: return "libssl version";
	case DIM_OS: return "OS";
	case DIM_NETWORK: return "network";
	case DIM_PEER: return "peer";
	default: return report_dim_name(d);
	}
}

static bool has_pin(char *const *pins, size_t n, const char *pin)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(pins[i], pin) == 0)
			return true;
	return false;
}

/* The pins the group's clients expected (its first failure's). */
static void group_pins(const struct decision *dc, char ***pins, size_t *n)
{
	const struct host *h = dc->x->h;

	*pins = NULL;
	*n = 0;
	for (size_t i = 0; i < h->nfails; i++)
		if (h->fails[i].group == dc->g->id && h->fails[i].npins > 0) {
			*pins = h->fails[i].pins;
			*n = h->fails[i].npins;
			return;
		}
}

static const char *pins_text(struct report_pool *p, char **pins, size_t n)
{
	char buf[512] = "";

	for (size_t i = 0; i < n && i < 4; i++) {
		size_t len = strlen(buf);

		snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : "",
			 pins[i]);
	}
	return pool_strdup(p, n ? buf : "none");
}

/* ---- candidates ------------------------------------------------------------------- */

/* Too few failures to correlate anything (the host's counters may not
 * even have been read). */
static bool thin(const struct group *g)
{
	return g->fc.total < SPLIT_MIN_SUPPORT;
}

static struct cand *add(struct decision *dc, enum report_cause cause,
			double base, enum report_dim dim)
{
	struct cand *c = &dc->cand[dc->n++];

	memset(c, 0, sizeof(*c));
	c->cause = cause;
	c->base = base;
	if (dim < DIM_NONE)
		c->shown = dc->g->split[dim];
	else
		c->shown.dim = DIM_NONE;
	return c;
}

static void ev(struct cand *c, struct report_pool *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ev(struct cand *c, struct report_pool *p, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (c->nev == GROUP_MAX_EVIDENCE)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (pool_adopt(p, s) != NULL)
		c->ev[c->nev++] = s;
}

static double sc(const struct decision *dc, enum report_dim d)
{
	return dc->g->split[d].score;
}

/* The best of the client dimensions (app version, libssl, OS). */
static enum report_dim client_dim(const struct decision *dc)
{
	static const enum report_dim dims[] = { DIM_APP_VERSION,
		DIM_LIBSSL_VERSION, DIM_OS };
	enum report_dim best = DIM_APP_VERSION;

	for (size_t i = 1; i < sizeof(dims) / sizeof(dims[0]); i++)
		if (sc(dc, dims[i]) > sc(dc, best) + 1e-9)
			best = dims[i];
	return best;
}

/* The chain that fails also succeeds, for other clients: the clients
 * differ (their pins: client_specific; their trust store: trust_store). */
static void try_clients(struct decision *dc, enum report_cause cause)
{
	const struct hchain *c = dc->c;
	enum report_dim d = client_dim(dc);
	struct report_pool *p = dc->p;
	char **pins;
	size_t npins;
	struct cand *k;
	char n[32];

	if (c->successes == 0 || c->key[0] == 's' || c->key[0] == 'n')
		return;
	k = add(dc, cause, sc(dc, d) >= 0.2 ? 0.55 + 0.45 * sc(dc, d) : 0.4, d);
	ev(k, p, "the same served chain %s also succeeded %s times, for other "
	   "clients", chain_label(p, c), fmt_count(c->successes, n));
	group_pins(dc, &pins, &npins);
	if (cause == CAUSE_CLIENT_SPECIFIC) {
		ev(k, p, "the failing clients expect %s; the chain's leaf key "
		   "is %s", pins_text(p, pins, npins), hchain_leaf(c));
		k->fix = pool_printf(p, "update the policy of %s %s: its pins "
			"for %s lack every key of the chain the server serves; "
			"add %s (the served leaf key) as the other versions do",
			dim_words(d), dc->g->split[d].value, dc->x->h->name,
			hchain_leaf(c));
	} else {
		const char *root = c->ncerts ? c->certs[c->ncerts - 1].issuer
			: "?";

		ev(k, p, "the failing clients do not trust its root %s; "
		   "other clients do", cn(p, root));
		k->fix = pool_printf(p, "add root %s to the trust store of "
			"%s %s", cn(p, root), dim_words(d),
			dc->g->split[d].value);
	}
	if (sc(dc, d) < 0.2)
		ev(k, p, "no client dimension separates well; compare the "
		   "failing clients' policies and CA bundles");
}

/* The chain's issuers appear in no chain that succeeded for the host. */
static bool foreign(const struct decision *dc)
{
	const struct hchain *c = dc->c;

	if (c->ncerts == 0)
		return false;
	for (size_t i = 0; i < c->ncerts; i++)
		if (names_find(&dc->x->ok_names, c->certs[i].issuer) >= 0)
			return false;
	return true;
}

static void try_interception(struct decision *dc)
{
	const struct hchain *c = dc->c;
	struct report_pool *p = dc->p;
	double net = sc(dc, DIM_NETWORK);
	const char *issuer;
	struct cand *k;

	if (net < SEPARATES || (!foreign(dc) && c->ncerts > 0) ||
	    dc->x->h->successes == 0)
		return;
	k = add(dc, CAUSE_INTERCEPTION,
		(0.5 + 0.5 * net) * (c->ncerts > 0 ? 1 : 0.8), DIM_NETWORK);
	issuer = c->ncerts ? cn(p, c->certs[c->ncerts - 1].issuer) : "?";
	if (c->ncerts > 0)
		ev(k, p, "the failing chain %s ends in issuer %s, which no "
		   "chain that succeeded for %s has", chain_label(p, c), issuer,
		   dc->x->h->name);
	else
		ev(k, p, "the failing chain %s was not reported with its "
		   "certificates: the issuer cannot be compared",
		   chain_label(p, c));
	if (sc(dc, DIM_PEER) >= SEPARATES)
		ev(k, p, "the peer separates too (%s): the interceptor's "
		   "address", dc->g->split[DIM_PEER].value);
	k->fix = pool_printf(p, "network %s intercepts TLS to %s (its proxy "
		"re-signs with %s): exempt that network from pinning %s, or "
		"fix its proxy to pass %s through",
		dc->g->split[DIM_NETWORK].value, dc->x->h->name, issuer,
		dc->x->h->name, dc->x->h->name);
}

/* c is older than ref: its leaf was issued before the reference's. */
static bool stale(const struct decision *dc)
{
	return dc->ref != NULL && dc->c->ncerts > 0 && dc->ref->ncerts > 0 &&
	       dc->c->certs[0].not_before < dc->ref->certs[0].not_before;
}

static void try_backend(struct decision *dc)
{
	const struct hchain *c = dc->c, *r = dc->ref;
	struct report_pool *p = dc->p;
	double peer = sc(dc, DIM_PEER);
	bool by_peer = peer >= SEPARATES &&
		       (!foreign(dc) || peer > sc(dc, DIM_NETWORK) + 0.1);
	/* without a peer split: an older certificate for the same names,
	 * served in the same hours as the pinned one */
	bool together = r != NULL && dc->g->fam == FAM_PIN && stale(dc) &&
			strcmp(c->certs[0].subject, r->certs[0].subject) == 0 &&
			c->first_hour <= r->last_hour &&
			r->first_hour <= c->last_hour;
	struct cand *k;

	if (dc->x->h->successes == 0 || (!by_peer && !together))
		return;
	k = by_peer ? add(dc, CAUSE_BACKEND_INCONSISTENCY, 0.5 + 0.5 * peer,
			  DIM_PEER)
		: add(dc, CAUSE_BACKEND_INCONSISTENCY, 0.5, DIM_CHAIN);
	if (by_peer)
		ev(k, p, "peer %s serves %s%s", dc->g->split[DIM_PEER].value,
		   chain_label(p, c), stale(dc) ? ", an older certificate" : "");
	else
		ev(k, p, "some backend serves %s%s", chain_label(p, c),
		   stale(dc) ? ", an older certificate" : "");
	if (r != NULL)
		ev(k, p, "the other %s serve %s, which succeeded %llu times",
		   by_peer ? "peers" : "connections", chain_label(p, r),
		   (unsigned long long)r->successes);
	if (!by_peer)
		ev(k, p, "both chains were served in the same hours; the peer "
		   "address does not tell the backends apart (a balancer?)");
	k->fix = by_peer
		? pool_printf(p, "remove or fix the stale backend %s of %s: it "
			      "serves %s (key %s, not pinned) while the others "
			      "serve the pinned chain",
			      dc->g->split[DIM_PEER].value, dc->x->h->name,
			      c->ncerts ? cn(p, c->certs[0].subject) : "a chain",
			      hchain_leaf(c))
		: pool_printf(p, "find the backend of %s that still serves %s "
			      "(key %s) and deploy the pinned certificate there",
			      dc->x->h->name, c->ncerts ?
			      cn(p, c->certs[0].subject) : "the old chain",
			      hchain_leaf(c));
}

/* First position where c's key differs from ref's, -1 when none. */
static int changed_at(const struct hchain *c, const struct hchain *r)
{
	size_t n = c->ncerts > r->ncerts ? c->ncerts : r->ncerts;

	for (size_t i = 0; i < n; i++)
		if (i >= c->ncerts || i >= r->ncerts ||
		    strcmp(c->certs[i].pin, r->certs[i].pin) != 0)
			return (int)i;
	return -1;
}

static void try_intermediate(struct decision *dc)
{
	const struct hchain *c = dc->c, *r = dc->ref;
	struct report_pool *p = dc->p;
	char **pins;
	size_t npins;
	struct cand *k;
	int pos;

	if (r == NULL || c->ncerts == 0 || r->ncerts == 0 ||
	    strcmp(c->certs[0].pin, r->certs[0].pin) != 0)
		return;
	pos = changed_at(c, r);
	if (pos < 1)
		return;
	group_pins(dc, &pins, &npins);
	k = add(dc, CAUSE_INTERMEDIATE_CHANGE,
		(size_t)pos < r->ncerts && has_pin(pins, npins, r->certs[pos].pin)
		? 0.9 : 0.6, DIM_ISSUER);
	ev(k, p, "leaf key unchanged (%s); position %d changed: was %s (%s%s), "
	   "now %s (%s)", c->certs[0].pin, pos,
	   (size_t)pos < r->ncerts ? cn(p, r->certs[pos].subject) : "none",
	   (size_t)pos < r->ncerts ? r->certs[pos].pin : "",
	   (size_t)pos < r->ncerts && has_pin(pins, npins, r->certs[pos].pin)
	   ? ", pinned" : "",
	   (size_t)pos < c->ncerts ? cn(p, c->certs[pos].subject) : "none",
	   (size_t)pos < c->ncerts ? c->certs[pos].pin : "");
	ev(k, p, "the pins (%s) were on the old intermediate",
	   pins_text(p, pins, npins));
	k->fix = pool_printf(p, "re-pin %s to the new intermediate %s (%s), or "
		"pin the leaf key %s, which did not change", dc->x->h->name,
		(size_t)pos < c->ncerts ? c->certs[pos].pin : "?",
		(size_t)pos < c->ncerts ? cn(p, c->certs[pos].subject) : "?",
		c->certs[0].pin);
}

/* How many values of d the group failed on, of all the host's. */
static void spread(const struct decision *dc, enum report_dim d, double *in,
		   double *all)
{
	const struct host *h = dc->x->h;

	*in = *all = 0;
	for (size_t v = 0; v < h->vals[d].n; v++) {
		*in += dc->g->fc.f[d][v] > 0;
		*all += dc->g->fc.f[d][v] > 0 || h->succ[d][v] > 0;
	}
	if (*all == 0)
		*in = *all = 1;
}

static void try_rollover(struct decision *dc)
{
	const struct hchain *c = dc->c, *r = dc->ref;
	struct report_pool *p = dc->p;
	const struct host *h = dc->x->h;
	char **pins, t[48];
	double nets, all_nets, peers, all_peers;
	size_t npins;
	struct cand *k;

	if (c->ncerts == 0 || h->successes == 0 ||
	    names_find(&dc->x->ok_leaves, c->certs[0].pin) >= 0 ||
	    sc(dc, DIM_NETWORK) >= SEPARATES || sc(dc, DIM_PEER) >= SEPARATES ||
	    stale(dc))
		return;
	group_pins(dc, &pins, &npins);
	spread(dc, DIM_NETWORK, &nets, &all_nets);
	spread(dc, DIM_PEER, &peers, &all_peers);
	/* a new key everywhere: the fewer networks and peers it reached,
	 * the weaker the claim */
	k = add(dc, CAUSE_ROLLOVER, (r != NULL && r->ncerts > 0 ? 0.85 : 0.5) *
		(0.5 + 0.5 * nets / all_nets) * (0.5 + 0.5 * peers / all_peers),
		DIM_LEAF_KEY);
	if (nets == all_nets && peers == all_peers)
		ev(k, p, "new leaf key %s (%s) served on every network and peer "
		   "from %s on; the pins (%s) lack it", c->certs[0].pin,
		   cn(p, c->certs[0].subject), fmt_time(dc->g->recv_first_us, t),
		   pins_text(p, pins, npins));
	else
		ev(k, p, "new leaf key %s (%s) from %s on, seen on %.0f of %.0f "
		   "networks and %.0f of %.0f peers; the pins (%s) lack it",
		   c->certs[0].pin, cn(p, c->certs[0].subject),
		   fmt_time(dc->g->recv_first_us, t), nets, all_nets, peers,
		   all_peers, pins_text(p, pins, npins));
	if (r != NULL && r->ncerts > 0)
		ev(k, p, "before, %s succeeded; issuer %s", chain_label(p, r),
		   strcmp(r->certs[0].issuer, c->certs[0].issuer) == 0
		   ? "unchanged" : "changed too");
	k->fix = pool_printf(p, "add pin %s (the new leaf key of %s) to host "
		"%s, keeping a backup pin", c->certs[0].pin,
		cn(p, c->certs[0].subject), h->name);
}

/* A certificate of c outside its validity at t_us (OpenSSL's test:
 * expired once the time is past notAfter, to the microsecond here, so a
 * handshake in the second after notAfter counts). */
static const struct store_cert *invalid_cert(const struct hchain *c,
					     int64_t t_us)
{
	for (size_t i = 0; i < c->ncerts; i++)
		if (c->certs[i].not_after * 1000000 < t_us ||
		    c->certs[i].not_before * 1000000 > t_us)
			return &c->certs[i];
	return NULL;
}

/* The client machines of the group ("client1, client7, ..."). */
static const char *hostnames(const struct decision *dc)
{
	const struct host *h = dc->x->h;
	char buf[256] = "";
	size_t n = 0;

	for (size_t i = 0; i < h->nfails && n < 5; i++) {
		const char *name = h->fails[i].hostname;
		size_t len = strlen(buf);

		if (h->fails[i].group != dc->g->id || name[0] == '\0' ||
		    strstr(buf, name) != NULL)
			continue;
		snprintf(buf + len, sizeof(buf) - len, "%s%.40s%s",
			 n ? ", " : "", name, n == 4 ? ", ..." : "");
		n++;
	}
	return pool_strdup(dc->p, buf);
}

static void try_clock(struct decision *dc)
{
	const struct hchain *c = dc->c;
	struct report_pool *p = dc->p;
	struct group *g = dc->g;
	double clock = sc(dc, DIM_CLOCK);
	bool valid = c->ncerts > 0 && invalid_cert(c, g->recv_first_us) == NULL
		     && invalid_cert(c, g->recv_last_us) == NULL;
	struct cand *k;
	const char *who;
	char t1[48], t2[48];

	if (!g->skewed)
		return;
	k = add(dc, CAUSE_CLOCK_SKEW, (0.6 + 0.35 * clock) *
		(valid ? 1 : 0.8), DIM_CLOCK);
	ev(k, p, "the failing clients' clocks are off by %+.0f to %+.0f days "
	   "(event time - the collector's receive time)",
	   g->offset_min_s / 86400.0, g->offset_max_s / 86400.0);
	if (c->ncerts > 0)
		ev(k, p, "the leaf %s is valid from %s to %s%s",
		   cn(p, c->certs[0].subject),
		   fmt_time(c->certs[0].not_before * 1000000, t1),
		   fmt_time(c->certs[0].not_after * 1000000, t2),
		   valid ? ", which includes the receive times" : "");
	who = hostnames(dc);
	k->fix = pool_printf(p, "fix the clocks (NTP) of the clients whose "
		"clock is %s%s%s", g->offset_min_s > 0 ? "ahead" :
		g->offset_max_s < 0 ? "behind" : "ahead or behind",
		who[0] ? ": " : "", who);
}

static void try_expired(struct decision *dc)
{
	const struct hchain *c = dc->c;
	const struct host *h = dc->x->h;
	struct report_pool *p = dc->p;
	struct group *g = dc->g;
	const struct store_cert *bad;
	uint64_t after = 0;
	bool expired;
	int64_t moment;
	struct cand *k;
	char t[48], t2[48], n[32];

	if (g->skewed || c->ncerts == 0)
		return;
	/* the last receive time: the first failures may come within the
	 * second of notAfter, and the receive times are estimates */
	bad = invalid_cert(c, g->recv_last_us);
	if (bad == NULL)
		return;
	expired = bad->not_after * 1000000 < g->recv_last_us;
	moment = expired ? bad->not_after : bad->not_before;
	/* successes in the hours after the moment's would contradict it */
	for (size_t v = 0; v < h->vals[DIM_TIME].n; v++)
		if (strtoll(h->vals[DIM_TIME].name[v], NULL, 10) >
		    moment / 3600 * 3600)
			after += h->succ[DIM_TIME][v];
	k = add(dc, CAUSE_EXPIRED, after == 0 ? 0.9 : 0.5, DIM_NONE);
	k->shown.dim = DIM_TIME;
	k->shown.failed = g->fc.total;
	k->shown.total = g->fc.total + after;
	k->shown.rest_failed = 0;
	k->shown.rest_total = h->successes - after;
	k->shown.value = pool_printf(p, "from %s", fmt_time(moment * 1000000,
							    t));
	k->shown.score = after == 0 ? 1 : 0.5;
	ev(k, p, "position %d, %s, is valid from %s to %s", bad->position,
	   cn(p, bad->subject), fmt_time(bad->not_before * 1000000, t),
	   fmt_time(bad->not_after * 1000000, t2));
	ev(k, p, "the failures were received from %s to %s, %s, from clients "
	   "whose clocks are right (offsets %+lld..%+lld s)",
	   fmt_time(g->recv_first_us, t), fmt_time(g->recv_last_us, t2),
	   expired ? "after notAfter" : "before notBefore",
	   (long long)g->offset_min_s, (long long)g->offset_max_s);
	if (after > 0)
		ev(k, p, "yet %s handshakes succeeded in later hours",
		   fmt_count(after, n));
	k->fix = pool_printf(p, "renew the certificate %s of %s (%s %s) and "
		"deploy it; keep its key or add the new key's pin",
		cn(p, bad->subject), h->name,
		expired ? "expired" : "not valid before",
		fmt_time(moment * 1000000, t));
}

/* What a failing chain with other names is: a captive portal, a
 * misrouted connection, a proxy's page. */
static void other_names(struct decision *dc, struct cand *k)
{
	const struct hchain *c = dc->c, *r = dc->ref;
	const char *host = dc->x->h->name, *name, *dot;
	bool other;

	if (c->ncerts == 0)
		return;
	if (r != NULL && r->ncerts > 0) {
		other = strcmp(c->certs[0].subject, r->certs[0].subject) != 0;
	} else {
		/* no reference: does the leaf's CN name the host? */
		name = strstr(c->certs[0].subject, "CN=");
		name = name != NULL ? name + 3 : "";
		dot = strchr(host, '.');
		other = strncmp(name, host, strlen(host)) != 0 &&
			!(name[0] == '*' && dot != NULL &&
			  strncmp(name + 1, dot, strlen(dot)) == 0);
	}
	if (other)
		ev(k, dc->p, "the failing chain is for other names: %s, issued "
		   "by %s (a captive portal, a misrouted connection?)",
		   cn(dc->p, c->certs[0].subject), cn(dc->p, c->certs[0].issuer));
}

static void try_unknown(struct decision *dc)
{
	struct report_pool *p = dc->p;
	struct cand *k;
	enum report_dim best = DIM_NONE;

	for (int d = 0; d < DIM_NONE; d++)
		if (sc(dc, d) > 0 && (best == DIM_NONE || sc(dc, d) > sc(dc, best)))
			best = d;
	k = add(dc, CAUSE_UNKNOWN, 0.3, best);
	if (thin(dc->g) || dc->x->h->successes == 0)
		k->shown = (struct report_split){ .dim = DIM_NONE, .value = "" };
	if (thin(dc->g)) {
		ev(k, p, "only %llu failure%s like this in range: too few to "
		   "correlate", (unsigned long long)dc->g->fc.total,
		   dc->g->fc.total == 1 ? "" : "s");
		ev(k, p, "the failing chain is %s", chain_label(p, dc->c));
		other_names(dc, k);
	} else if (dc->x->h->successes == 0) {
		ev(k, p, "no successful handshake with %s in range: nothing to "
		   "compare the failures with, so no cause is named",
		   dc->x->h->name);
	} else {
		ev(k, p, "no cause fits the evidence; the failing chain is %s",
		   chain_label(p, dc->c));
		other_names(dc, k);
	}
	k->fix = pool_printf(p, "no fix can be derived: compare the failing "
		"chain with the pins and the chain that succeeds (see chains), "
		"and the failures' verify errors");
}

/* ---- decide --------------------------------------------------------------------- */

static void candidates(struct decision *dc)
{
	if (thin(dc->g)) {      /* no split has the support to mean anything */
		try_unknown(dc);
		return;
	}
	switch (dc->g->fam) {
	case FAM_PIN:
		try_clients(dc, CAUSE_CLIENT_SPECIFIC);
		try_interception(dc);
		try_backend(dc);
		try_intermediate(dc);
		try_rollover(dc);
		break;
	case FAM_VALIDITY:
		try_clock(dc);
		try_expired(dc);
		break;
	case FAM_UNTRUSTED:
		try_clients(dc, CAUSE_TRUST_STORE);
		try_interception(dc);
		try_backend(dc);
		break;
	case FAM_HOSTNAME:
		try_interception(dc);
		try_backend(dc);
		break;
	default:
		break;
	}
	try_unknown(dc);
}

/* Thin support: few failures, or few successes to contrast them with. */
static double support(const struct host *h, const struct group *g)
{
	double m = (double)g->fc.total;

	if (h->successes > 0 && (double)h->successes < m)
		m = (double)h->successes;
	return 1 - exp(-m / 4);
}

void decide(struct hostctx *x, struct group *g)
{
	struct decision dc = {
		.x = x, .g = g, .c = &x->h->chains[g->chain],
		.ref = x->ref >= 0 ? &x->h->chains[x->ref] : NULL,
		.p = x->h->pool,
	};
	size_t best = 0, second = CAUSE_COUNT;

	candidates(&dc);
	for (size_t i = 1; i < dc.n; i++)
		if (dc.cand[i].base > dc.cand[best].base + 1e-9)
			best = i;
	for (size_t i = 0; i < dc.n; i++)
		if (i != best && dc.cand[i].cause != CAUSE_UNKNOWN &&
		    (second == CAUSE_COUNT ||
		     dc.cand[i].base > dc.cand[second].base))
			second = i;
	g->cause = dc.cand[best].cause;
	g->shown = dc.cand[best].shown;
	g->base = dc.cand[best].base;
	g->confidence = g->base * support(x->h, g);
	g->alt = CAUSE_COUNT;
	if (x->h->successes == 0)
		g->confidence *= 0.8;
	if (second != CAUSE_COUNT && g->cause != CAUSE_UNKNOWN &&
	    dc.cand[second].base >= g->base - 0.15) {
		g->alt = dc.cand[second].cause;
		g->confidence *= 0.75;
	}
	memcpy(g->evidence, dc.cand[best].ev, sizeof(g->evidence));
	g->nevidence = dc.cand[best].nev;
	g->fix = dc.cand[best].fix;
}
