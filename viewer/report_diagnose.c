/* diagnose: for each host with failures in range, its failures grouped
 * (kind family x served chain x clock), each group's splits ranked
 * (report_split.c) and its cause decided (report_decide.c), then one
 * diagnosis per (host, cause): the groups of a cause merged, their split
 * recomputed over all of them, the evidence, the fix, the chains.
 *
 * Reads the host's rollups only (report_host.c): host_hour to find the
 * hosts that failed, then per such host its counters and failure hours. */
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

#define DIAG_MAX_CHAINS 5

static enum family family_of(const char *kind)
{
	if (strcmp(kind, "pin_mismatch") == 0)
		return FAM_PIN;
	if (strcmp(kind, "expired") == 0 || strcmp(kind, "not_yet_valid") == 0)
		return FAM_VALIDITY;
	if (strcmp(kind, "untrusted_issuer") == 0)
		return FAM_UNTRUSTED;
	if (strcmp(kind, "hostname_mismatch") == 0)
		return FAM_HOSTNAME;
	return FAM_OTHER;
}

struct diag {
	struct report_diagnoses *out;
	struct report_diagnosis *d;     /* growing out->d */
	size_t cap;
};

/* ---- grouping ------------------------------------------------------------- */

struct groups {
	struct group *g;
	size_t n, cap;
};

static bool skewed(const struct hfail *f)
{
	return f->offset_min_s > 86400 || f->offset_max_s < -86400;
}

/* The group of failure f whose served chain counts as `chain`. */
static struct group *group_of(struct groups *gs, const struct hfail *f,
			      long chain)
{
	enum family fam = family_of(f->kind);
	bool skew = fam == FAM_VALIDITY && skewed(f);
	struct group *g;

	for (size_t i = 0; i < gs->n; i++)
		if (gs->g[i].fam == fam && gs->g[i].chain == chain &&
		    gs->g[i].skewed == skew)
			return &gs->g[i];
	g = VEC_PUSH(gs->g, gs->n, gs->cap);
	if (g == NULL)
		return NULL;
	g->id = (int)gs->n - 1;
	g->fam = fam;
	g->chain = chain;
	g->skewed = skew;
	g->first_us = g->recv_first_us = INT64_MAX;
	g->last_us = g->recv_last_us = INT64_MIN;
	g->offset_min_s = INT64_MAX;
	g->offset_max_s = INT64_MIN;
	return g;
}

static void group_add(struct group *g, const struct hfail *f)
{
	int64_t off = (f->offset_min_s + f->offset_max_s) / 2 * 1000000;

	if (f->first_us < g->first_us)
		g->first_us = f->first_us;
	if (f->last_us > g->last_us)
		g->last_us = f->last_us;
	if (f->first_us - off < g->recv_first_us)
		g->recv_first_us = f->first_us - off;
	if (f->last_us - off > g->recv_last_us)
		g->recv_last_us = f->last_us - off;
	if (f->offset_min_s < g->offset_min_s)
		g->offset_min_s = f->offset_min_s;
	if (f->offset_max_s > g->offset_max_s)
		g->offset_max_s = f->offset_max_s;
}

/* Groups by (kind family, clock, served chain) into gs; chain_of[i] (NULL:
 * its own) is the chain failure i counts under. */
static int assign(struct host *h, struct groups *gs, const long *chain_of)
{
	gs->n = 0;
	for (size_t i = 0; i < h->nfails; i++) {
		const struct hfail *f = &h->fails[i];
		struct group *g = group_of(gs, f, chain_of ? chain_of[i]
					   : f->chain);

		if (g == NULL)
			return -1;
		h->fails[i].group = g->id;
		group_add(g, f);
	}
	return 0;
}

/* Where a thin group's chain goes: the chain of the biggest group of the
 * same family and clock whose leaf has the same issuer (the pieces of one
 * cause served with per-connection certificates), else its own. */
static long thin_target(const struct host *h, const struct groups *gs,
			const uint64_t *events, size_t i)
{
	const struct group *g = &gs->g[i];
	const struct hchain *c = &h->chains[g->chain];
	long best = -1;

	if (events[i] >= SPLIT_MIN_SUPPORT || c->ncerts == 0)
		return g->chain;
	for (size_t t = 0; t < gs->n; t++) {
		const struct group *o = &gs->g[t];
		const struct hchain *oc = &h->chains[o->chain];

		if (t == i || o->fam != g->fam || o->skewed != g->skewed ||
		    oc->ncerts == 0 ||
		    strcmp(oc->certs[0].issuer, c->certs[0].issuer) != 0 ||
		    events[t] < events[i] || (events[t] == events[i] && t > i))
			continue;
		if (best < 0 || events[t] > events[best])
			best = (long)t;
	}
	return best >= 0 ? gs->g[best].chain : g->chain;
}

static int make_groups(struct host *h, struct groups *gs)
{
	uint64_t *events = NULL;
	long *chain_of = NULL;
	int rc = -1;

	if (assign(h, gs, NULL) < 0)
		return -1;
	events = calloc(gs->n + 1, sizeof(*events));
	chain_of = calloc(h->nfails + 1, sizeof(*chain_of));
	if (events == NULL || chain_of == NULL)
		goto out;
	for (size_t i = 0; i < h->nfails; i++)
		events[h->fails[i].group] += h->fails[i].count;
	for (size_t i = 0; i < h->nfails; i++)
		chain_of[i] = thin_target(h, gs, events,
					  (size_t)h->fails[i].group);
	if (assign(h, gs, chain_of) < 0)
		goto out;
	for (size_t i = 0; i < gs->n; i++)
		if (fcount_init(&gs->g[i].fc, h) < 0)
			goto out;
	for (size_t i = 0; i < h->nobs; i++)
		if (h->obs[i].fail >= 0)
			fcount_add(&gs->g[h->fails[h->obs[i].fail].group].fc,
				   &h->obs[i]);
	rc = 0;
out:
	free(events);
	free(chain_of);
	return rc;
}

static void groups_free(struct groups *gs)
{
	for (size_t i = 0; i < gs->n; i++)
		fcount_free(&gs->g[i].fc);
	free(gs->g);
}

/* ---- one diagnosis: the groups of one cause merged ------------------------ */

struct merged {
	struct group **g;       /* the cause's groups, most failures first */
	size_t n;
	struct fcount fc;
};

static int by_failures(const void *a, const void *b)
{
	const struct group *x = *(struct group *const *)a,
			   *y = *(struct group *const *)b;

	if (x->fc.total != y->fc.total)
		return x->fc.total > y->fc.total ? -1 : 1;
	return x->id - y->id;
}

static int merge(const struct host *h, struct groups *gs,
		 enum report_cause cause, struct merged *m)
{
	memset(m, 0, sizeof(*m));
	m->g = calloc(gs->n, sizeof(*m->g));
	if (m->g == NULL || fcount_init(&m->fc, h) < 0)
		return -1;
	for (size_t i = 0; i < gs->n; i++)
		if (gs->g[i].cause == cause)
			m->g[m->n++] = &gs->g[i];
	if (m->n > 0)
		qsort(m->g, m->n, sizeof(*m->g), by_failures);
	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = &h->obs[i];

		if (o->fail >= 0 &&
		    gs->g[h->fails[o->fail].group].cause == cause)
			fcount_add(&m->fc, o);
	}
	return 0;
}

static bool merged_has(const struct merged *m, int group)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->g[i]->id == group)
			return true;
	return false;
}

/* The split shown: the main group's dimension, over all the groups. */
static void shown_split(const struct host *h, const struct merged *m,
			struct report_pool *p, struct report_split *out)
{
	const struct report_split *main = &m->g[0]->shown;

	if (main->dim == DIM_NONE || main->dim == DIM_TIME || m->n == 1) {
		/* DIM_TIME of expired is computed from validity, not hours */
		*out = *main;
		out->value = pool_strdup(p, main->value ? main->value : "");
		if (main->dim == DIM_NONE) {
			out->failed = m->fc.total;
			out->total = m->fc.total + h->successes;
		}
		return;
	}
	split_best(h, main->dim, &m->fc, p, out);
	if (out->value[0] == '\0') {    /* merged, it separates no more */
		*out = *main;
		out->value = pool_strdup(p, main->value);
	}
}

static int add_line(struct report_pool *p, char ***lines, size_t *n,
		    size_t cap, const char *s)
{
	if (s == NULL || *n >= cap)
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*lines)[i], s) == 0)
			return 0;
	(*lines)[*n] = pool_strdup(p, s);
	if ((*lines)[*n] == NULL)
		return -1;
	(*n)++;
	return 0;
}

#define DIAG_MAX_EVIDENCE 16

static int evidence(struct report_diagnosis *d, const struct host *h,
		    const struct merged *m, struct report_pool *p)
{
	char a[32], b[32], t1[48], t2[48];
	size_t cap = DIAG_MAX_EVIDENCE;
	int rc = 0;

	d->evidence = pool_alloc(p, cap * sizeof(char *));
	if (d->evidence == NULL)
		return -1;
	rc |= add_line(p, &d->evidence, &d->nevidence, cap,
		       fmt_split(p, &d->split));
	for (size_t i = 0; i < m->g[0]->nevidence; i++)
		rc |= add_line(p, &d->evidence, &d->nevidence, cap,
			       m->g[0]->evidence[i]);
	for (size_t i = 1; i < m->n && i < 4; i++)
		if (m->g[i]->nevidence > 0)
			rc |= add_line(p, &d->evidence, &d->nevidence, cap,
				       m->g[i]->evidence[0]);
	for (size_t i = 0; i < d->nranking && i < 4; i++) {
		const struct report_split *r = &d->ranking[i];

		if (r->dim == d->split.dim || r->score < 0.3)
			continue;
		rc |= add_line(p, &d->evidence, &d->nevidence, cap,
			       pool_printf(p, "also %s (score %.2f)",
					   fmt_split(p, r), r->score));
	}
	if (m->g[0]->alt != CAUSE_COUNT)
		rc |= add_line(p, &d->evidence, &d->nevidence, cap,
			       pool_printf(p, "also consistent with %s: "
					   "confidence lowered",
					   report_cause_name(m->g[0]->alt)));
	rc |= add_line(p, &d->evidence, &d->nevidence, cap,
		       pool_printf(p, "%s failure events from %s to %s; %s of "
				   "%s handshakes with %s failed in range",
				   fmt_count(d->events, a),
				   fmt_time(d->first_seen_us, t1),
				   fmt_time(d->last_seen_us, t2),
				   fmt_count(d->host_failed, b),
				   pool_strdup(p, fmt_count(d->host_total, a)),
				   h->name));
	return rc < 0 || p->oom ? -1 : 0;
}

static int pins_and_kinds(struct report_diagnosis *d, const struct host *h,
			  const struct merged *m, struct report_pool *p)
{
	struct names pins;
	struct tally kinds;
	int64_t off;
	int rc = 0;

	if (names_init(&pins, p) < 0 || tally_init(&kinds, p) < 0)
		return -1;
	d->first_seen_us = INT64_MAX;
	d->last_seen_us = INT64_MIN;
	for (size_t i = 0; rc == 0 && i < h->nfails; i++) {
		const struct hfail *f = &h->fails[i];

		if (!merged_has(m, f->group))
			continue;
		for (size_t k = 0; k < f->npins && rc == 0; k++)
			rc = names_id(&pins, f->pins[k]) < 0 ? -1 : 0;
		if (rc == 0)
			rc = tally_add(&kinds, f->kind, f->count);
		d->events += f->count;
		/* seen by the collector: a client's wrong clock must not move
		 * the failures months away */
		off = (f->offset_min_s + f->offset_max_s) / 2 * 1000000;
		if (f->first_us - off < d->first_seen_us)
			d->first_seen_us = f->first_us - off;
		if (f->last_us - off > d->last_seen_us)
			d->last_seen_us = f->last_us - off;
	}
	d->npins = pins.n;
	d->pins = pool_alloc(p, (pins.n + 1) * sizeof(char *));
	if (d->pins != NULL && pins.n > 0)
		memcpy(d->pins, pins.name, pins.n * sizeof(char *));
	names_free(&pins);
	if (tally_take(&kinds, &d->kinds, &d->nkinds) < 0 || d->pins == NULL)
		rc = -1;
	return rc;
}

static int chains(struct report_diagnosis *d, const struct host *h,
		  const struct hostctx *x, const struct merged *m,
		  struct report_pool *p)
{
	const struct hchain *ref = x->ref >= 0 ? &h->chains[x->ref] : NULL;
	size_t cap = DIAG_MAX_CHAINS + 1;
	bool ref_listed = false;

	d->chains = pool_alloc(p, cap * sizeof(*d->chains));
	if (d->chains == NULL)
		return -1;
	for (size_t i = 0; i < m->n && d->nchains < DIAG_MAX_CHAINS; i++) {
		bool dup = false;

		for (size_t k = 0; k < i; k++)
			dup |= m->g[k]->chain == m->g[i]->chain;
		if (dup)
			continue;
		ref_listed |= m->g[i]->chain == x->ref;
		if (chain_result(p, h, m->g[i]->chain, ref, d->pins, d->npins,
				 &d->chains[d->nchains++]) < 0)
			return -1;
	}
	if (ref != NULL && !ref_listed &&
	    chain_result(p, h, x->ref, NULL, d->pins, d->npins,
			 &d->chains[d->nchains++]) < 0)
		return -1;
	return 0;
}

static int by_hour(const void *a, const void *b)
{
	const struct report_hour_events *x = a, *y = b;

	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

/* The merged groups' events by hour, oldest first. */
static int hours(struct report_diagnosis *d, const struct host *h,
		 const struct merged *m, struct report_pool *p)
{
	struct report_hour_events *v = NULL;
	size_t n = 0, cap = 0, k = 0;

	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = &h->obs[i];
		struct report_hour_events *e;

		if (o->fail < 0 || !merged_has(m, h->fails[o->fail].group))
			continue;
		e = VEC_PUSH(v, n, cap);
		if (e == NULL) {
			free(v);
			return -1;
		}
		e->hour = o->hour;
		e->events = o->failed;
	}
	if (n == 0)
		return 0;
	if (n > 0)
		qsort(v, n, sizeof(*v), by_hour);
	for (size_t i = 1; i < n; i++) {
		if (v[i].hour == v[k].hour)
			v[k].events += v[i].events;
		else
			v[++k] = v[i];
	}
	d->nhours = k + 1;
	d->hours = pool_adopt(p, v);
	return d->hours != NULL ? 0 : -1;
}

/* Failure-weighted confidence of the merged groups. */
static double confidence(const struct merged *m)
{
	double sum = 0, w = 0;

	for (size_t i = 0; i < m->n; i++) {
		sum += m->g[i]->confidence * (double)m->g[i]->fc.total;
		w += (double)m->g[i]->fc.total;
	}
	return w > 0 ? sum / w : m->g[0]->confidence;
}

static int fix(struct report_diagnosis *d, const struct merged *m,
	       struct report_pool *p)
{
	char buf[2048];

	snprintf(buf, sizeof(buf), "%s", m->g[0]->fix ? m->g[0]->fix : "");
	for (size_t i = 1; i < m->n && i < 3; i++)
		if (m->g[i]->fix != NULL && strstr(buf, m->g[i]->fix) == NULL) {
			size_t len = strlen(buf);

			snprintf(buf + len, sizeof(buf) - len, "; %s",
				 m->g[i]->fix);
		}
	d->fix = pool_strdup(p, buf);
	return d->fix != NULL ? 0 : -1;
}

static int one_diagnosis(struct diag *dg, const struct host *h,
			 const struct hostctx *x, struct groups *gs,
			 enum report_cause cause)
{
	struct report_pool *p = dg->out->pool;
	struct report_diagnosis *d;
	struct merged m;
	int rc = -1;

	if (merge(h, gs, cause, &m) < 0 || m.n == 0) {
		rc = m.n == 0 && m.g != NULL ? 0 : -1;
		goto out;
	}
	d = VEC_PUSH(dg->out->d, dg->out->n, dg->cap);
	if (d == NULL)
		goto out;
	d->host = pool_strdup(p, h->name);
	d->cause = cause;
	d->contrast = h->successes > 0;
	d->confidence = confidence(&m);
	d->host_failed = h->failed > h->events ? h->failed : h->events;
	d->host_total = h->successes + d->host_failed;
	shown_split(h, &m, p, &d->split);
	if (split_rank(h, &m.fc, p, &d->ranking, &d->nranking) < 0 ||
	    pins_and_kinds(d, h, &m, p) < 0 || evidence(d, h, &m, p) < 0 ||
	    fix(d, &m, p) < 0 || chains(d, h, x, &m, p) < 0 ||
	    hours(d, h, &m, p) < 0)
		goto out;
	rc = 0;
out:
	free(m.g);
	fcount_free(&m.fc);
	return rc;
}

/* ---- one host ------------------------------------------------------------------ */

/* Groups h's failures (every hfail.group set), ranks each group's splits
 * and decides its cause; x is initialised here.  0, or -1 when out of
 * memory; free with host_groups_free either way. */
static int host_groups(struct host *h, struct hostctx *x, struct groups *gs)
{
	memset(gs, 0, sizeof(*gs));
	if (hostctx_init(x, h) < 0 || make_groups(h, gs) < 0)
		return -1;
	for (size_t i = 0; i < gs->n; i++) {
		for (int d = 0; d < DIM_NONE; d++)
			split_best(h, d, &gs->g[i].fc, h->pool,
				   &gs->g[i].split[d]);
		decide(x, &gs->g[i]);
	}
	return h->pool->oom ? -1 : 0;
}

static void host_groups_free(struct hostctx *x, struct groups *gs)
{
	groups_free(gs);
	hostctx_free(x);
	memset(gs, 0, sizeof(*gs));
}

/* Diagnoses h, its failures loaded: reads its counters (unless too thin),
 * groups, decides, adds one diagnosis per cause. */
static int diagnose_host(struct diag *dg, struct host *h,
			 const struct store_query *q,
			 const struct store_host_hour *totals, char *err,
			 size_t errlen)
{
	struct groups gs = { .g = NULL };
	struct hostctx x = { .h = NULL };
	int rc = -1;

	if (h->nfails == 0)
		return 0;
	if (host_add_counters(h, q, totals, err, errlen) < 0)
		return -1;
	if (host_groups(h, &x, &gs) < 0)
		goto oom;
	for (int c = 0; c < CAUSE_COUNT; c++)
		if (one_diagnosis(dg, h, &x, &gs, c) < 0)
			goto oom;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	host_groups_free(&x, &gs);
	return rc;
}

/* ---- the hosts that failed --------------------------------------------------- */

struct failing {
	struct store_host_hour *host;   /* names in p */
	size_t n, cap;
	struct report_pool *p;
	bool oom;
};

static int failing_host(void *arg, const struct store_host_hour *r)
{
	struct failing *f = arg;
	struct store_host_hour *slot = VEC_PUSH(f->host, f->n, f->cap);

	if (slot == NULL || (slot->host = pool_strdup(f->p, r->host)) == NULL) {
		f->oom = true;
		return 1;
	}
	slot->successes = r->successes;
	slot->failures = r->failures;
	slot->events = r->events;
	return 0;
}

static int by_host_failures(const void *a, const void *b)
{
	const struct report_diagnosis *x = a, *y = b;
	int c;

	if (x->host_failed != y->host_failed)
		return x->host_failed > y->host_failed ? -1 : 1;
	c = strcmp(x->host, y->host);
	if (c != 0)
		return c;
	if (x->events != y->events)
		return x->events > y->events ? -1 : 1;
	return x->cause - y->cause;
}

/* Every failing host's failures come in one query, sorted by host; each
 * host is diagnosed when the next one starts (its counters read then,
 * while the query goes on). */
struct stream {
	struct diag *dg;
	const struct store_query *q;
	struct store *s;
	struct failing *hosts;          /* sorted by host, as the rows */
	size_t next;
	const struct store_host_hour *totals;   /* the open host's */
	struct host h;
	bool open;
	char *err;
	size_t errlen;
};

static const struct store_host_hour *totals_of(struct stream *st,
					       const char *host)
{
	struct failing *f = st->hosts;

	while (st->next < f->n && strcmp(f->host[st->next].host, host) < 0)
		st->next++;
	if (st->next < f->n && strcmp(f->host[st->next].host, host) == 0)
		return &f->host[st->next];
	return NULL;
}

static int finish(struct stream *st)
{
	int rc;

	if (!st->open)
		return 0;
	st->open = false;
	rc = diagnose_host(st->dg, &st->h, st->q, st->totals, st->err,
			   st->errlen);
	host_free(&st->h);
	return rc;
}

static int stream_row(void *arg, const struct store_failure_hour *r)
{
	struct stream *st = arg;

	if (!st->open || strcmp(st->h.name, r->host) != 0) {
		if (finish(st) < 0)
			return -1;
		st->totals = totals_of(st, r->host);
		st->open = true;
		if (host_init(&st->h, st->s, r->host, st->err, st->errlen) < 0)
			return -1;
	}
	return host_add_failure(&st->h, r, st->err, st->errlen);
}

int report_diagnose(struct store *s, const struct report_filter *f,
		    struct report_diagnoses *out, char *err, size_t errlen)
{
	struct diag dg = { .out = out };
	struct failing hosts = { .host = NULL };
	struct stream st = { .dg = &dg, .s = s, .hosts = &hosts, .err = err,
			     .errlen = errlen };
	struct store_query q, all;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->pool = hosts.p = pool_new();
	if (out->pool == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	report_query(f, &q);
	st.q = &q;
	if (store_read_begin(s, err, errlen) < 0)
		return -1;
	if (store_failing_hosts(s, &q, failing_host, &hosts, err, errlen) < 0)
		goto out;
	if (hosts.oom) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	all = q;
	all.by_host = true;
	if (hosts.n > 0 &&
	    (store_failure_hours(s, &all, stream_row, &st, err, errlen) < 0 ||
	     finish(&st) < 0))
		goto out;
	if (out->n > 0)
		qsort(out->d, out->n, sizeof(*out->d), by_host_failures);
	rc = 0;
out:
	if (st.open)
		host_free(&st.h);
	store_read_end(s);
	free(hosts.host);
	/* the array joins the pool, which frees it with the rest */
	if (out->d != NULL && pool_adopt(out->pool, out->d) == NULL) {
		out->d = NULL;
		out->n = 0;
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	return rc;
}

void report_diagnoses_free(struct report_diagnoses *r)
{
	if (r == NULL)
		return;
	pool_free(r->pool);
	memset(r, 0, sizeof(*r));
}
