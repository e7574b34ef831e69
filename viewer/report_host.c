/* One host's handshakes in a time range, from the rollups: successes from
 * the counters, failures from failure_hour joined to their failure, each
 * with its value of every dimension, and the chains the host served with
 * their certificates (counter fingerprint -> chain -> certs). */
#include "report_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counters mark a clock more than a day off the receive time (schema.c);
 * failure_hour keeps the offsets, so failures get the same classes. */
#define CLOCK_SKEW_S 86400

static const char *clock_of(int64_t min_s, int64_t max_s)
{
	if (min_s > CLOCK_SKEW_S)
		return "ahead";
	if (max_s < -CLOCK_SKEW_S)
		return "behind";
	return "ok";
}

const char *hchain_leaf(const struct hchain *c)
{
	return c->ncerts > 0 ? c->certs[0].pin : "?";
}

const char *hchain_issuer(const struct hchain *c)
{
	return c->ncerts > 0 ? c->certs[0].issuer : "?";
}

const char *hchain_top_issuer(const struct hchain *c)
{
	return c->ncerts > 0 ? c->certs[c->ncerts - 1].issuer : "?";
}

const char *host_value(const struct host *h, const struct obs *o,
		       enum report_dim d)
{
	if (d >= DIM_NONE || o->v[d] >= h->vals[d].n)
		return "";
	return h->vals[d].name[o->v[d]];
}

/* ---- chains --------------------------------------------------------------- */

static int copy_chain(void *arg, const struct store_chain_info *ci)
{
	struct hchain *c = ((void **)arg)[0];
	struct report_pool *p = ((void **)arg)[1];

	c->certs = pool_alloc(p, (ci->n ? ci->n : 1) * sizeof(*c->certs));
	if (c->certs == NULL)
		return -1;
	for (size_t i = 0; i < ci->n; i++) {
		struct store_cert *d = &c->certs[i];

		*d = ci->certs[i];
		d->subject = pool_strdup(p, ci->certs[i].subject);
		d->issuer = pool_strdup(p, ci->certs[i].issuer);
		d->serial = pool_strdup(p, ci->certs[i].serial);
		d->pin = pool_strdup(p, ci->certs[i].pin);
		d->sha256 = NULL;
		if (!d->subject || !d->issuer || !d->serial || !d->pin)
			return -1;
	}
	c->ncerts = ci->n;
	return 0;
}

/* The chain with this key, added (and its certificates read when the
 * stored chain is known) the first time; -1 on error. */
static long chain_of(struct host *h, const char *key, int64_t stored_id,
		     const uint8_t *counter_fp, char *err, size_t errlen)
{
	long id = names_find(&h->chain_keys, key);
	struct hchain *c;
	void *arg[2];

	if (id >= 0) {
		c = &h->chains[id];
		if (c->stored_id != 0 || stored_id == 0)
			return id;
	} else {
		id = names_id(&h->chain_keys, key);
		c = id >= 0 ? VEC_PUSH(h->chains, h->nchains, h->capchains)
			: NULL;
		if (c == NULL)
			goto oom;
		c->key = h->chain_keys.name[id];
		c->first_hour = INT64_MAX;
		c->last_hour = INT64_MIN;
	}
	if (stored_id == 0 && counter_fp != NULL) {
		stored_id = store_chain_by_counter_fp(h->s, counter_fp, err,
						      errlen);
		if (stored_id < 0)
			return -1;
	}
	c->stored_id = stored_id;
	if (stored_id == 0)
		return id;
	arg[0] = c;
	arg[1] = h->pool;
	if (store_chain_read(h->s, stored_id, copy_chain, arg, err,
			     errlen) < 0) {
		if (h->pool->oom)
			goto oom;
		return -1;
	}
	return id;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void chain_hour(struct hchain *c, int64_t hour)
{
	if (hour < c->first_hour)
		c->first_hour = hour;
	if (hour > c->last_hour)
		c->last_hour = hour;
}

/* ---- observations ---------------------------------------------------------- */

/* Sets o's value ids from the strings of each dimension. */
static int values(struct host *h, struct obs *o, const char *const v[DIM_NONE])
{
	for (int d = 0; d < DIM_NONE; d++) {
		long id = names_id(&h->vals[d], v[d]);

		if (id < 0)
			return -1;
		o->v[d] = (uint32_t)id;
	}
	return 0;
}

static void hour_range(struct host *h, int64_t hour)
{
	if (hour < h->first_hour)
		h->first_hour = hour;
	if (hour > h->last_hour)
		h->last_hour = hour;
}

/* Counter rows of one dimension combination come together, hour after
 * hour (the store reads them so): such a run is one observation, its
 * successes by hour kept aside for the time dimension. */
struct load {
	struct host *h;
	char *err;
	size_t errlen;
	char prev[1024];                /* the previous row's dimensions */
	size_t prevlen;
	long prev_obs;                  /* its observation, -1 none */
	int64_t prev_hour;
	long prev_hour_id;
	uint64_t *hour_succ;            /* successes by DIM_TIME value id */
	size_t hour_cap;
};

/* The row's dimensions but the hour, as one byte string (0 when they do
 * not fit: then every row is its own run). */
static size_t signature(const struct store_counter *c, char *buf, size_t cap)
{
	const char *s[] = { c->peer, c->network, c->network_fingerprint,
			    c->app_version, c->libssl_version, c->os,
			    c->clock };
	size_t n = sizeof(c->port);

	memcpy(buf, &c->port, n);      /* cap is far larger */

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		size_t len = strlen(s[i]) + 1;

		if (n + len + 33 > cap)
			return 0;
		memcpy(buf + n, s[i], len);
		n += len;
	}
	buf[n++] = c->chain_fp != NULL;
	if (c->chain_fp != NULL) {
		memcpy(buf + n, c->chain_fp, 32);
		n += 32;
	}
	return n;
}

static long hour_id(struct load *l, int64_t hour)
{
	char key[24];
	long id;

	if (l->prev_hour_id >= 0 && hour == l->prev_hour)
		return l->prev_hour_id;
	snprintf(key, sizeof(key), "%lld", (long long)hour);
	id = names_id(&l->h->vals[DIM_TIME], key);
	if (id < 0)
		return -1;
	if ((size_t)id >= l->hour_cap) {
		size_t cap = l->hour_cap ? l->hour_cap * 2 : 64;
		uint64_t *v;

		while (cap <= (size_t)id)
			cap *= 2;
		v = realloc(l->hour_succ, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		memset(v + l->hour_cap, 0, (cap - l->hour_cap) * sizeof(*v));
		l->hour_succ = v;
		l->hour_cap = cap;
	}
	l->prev_hour = hour;
	l->prev_hour_id = id;
	return id;
}

/* Adds the row to the previous observation when it continues its run. */
static bool same_run(struct load *l, const struct store_counter *c,
		     const char *sig, size_t len)
{
	struct host *h = l->h;
	struct obs *o;

	if (len == 0 || l->prev_obs < 0 || len != l->prevlen ||
	    memcmp(sig, l->prev, len) != 0)
		return false;
	o = &h->obs[l->prev_obs];
	o->succeeded += c->successes;
	h->chains[o->chain].successes += c->successes;
	chain_hour(&h->chains[o->chain], c->hour);
	return true;
}

static int one_counter(void *arg, const struct store_counter *c)
{
	struct load *l = arg;
	struct host *h = l->h;
	char key[65], sig[sizeof(l->prev)];
	const char *v[DIM_NONE];
	size_t len;
	struct obs *o;
	long chain, hid;

	h->successes += c->successes;
	h->failed += c->failures;
	hour_range(h, c->hour);
	if (c->successes == 0)   /* failures come from the events */
		return 0;
	hid = hour_id(l, c->hour);
	if (hid < 0)
		goto oom;
	l->hour_succ[hid] += c->successes;
	len = signature(c, sig, sizeof(sig));
	if (same_run(l, c, sig, len))
		return 0;
	if (c->chain_fp != NULL)
		fmt_hex(c->chain_fp, 32, key);
	else
		strcpy(key, "none");
	chain = chain_of(h, key, 0, c->chain_fp, l->err, l->errlen);
	if (chain < 0)
		return -1;
	h->chains[chain].successes += c->successes;
	chain_hour(&h->chains[chain], c->hour);
	v[DIM_NETWORK] = c->network;
	v[DIM_APP_VERSION] = c->app_version;
	v[DIM_LIBSSL_VERSION] = c->libssl_version;
	v[DIM_OS] = c->os;
	v[DIM_PEER] = c->peer;
	v[DIM_CHAIN] = key;
	v[DIM_LEAF_KEY] = hchain_leaf(&h->chains[chain]);
	v[DIM_ISSUER] = hchain_issuer(&h->chains[chain]);
	v[DIM_TIME] = h->vals[DIM_TIME].name[hid];  /* the run's first */
	v[DIM_CLOCK] = c->clock;
	o = VEC_PUSH(h->obs, h->nobs, h->capobs);
	if (o == NULL || values(h, o, v) < 0)
		goto oom;
	o->succeeded = c->successes;
	o->fail = -1;
	o->chain = chain;
	o->hour = c->hour;
	l->prev_obs = (long)h->nobs - 1;
	memcpy(l->prev, sig, len);
	l->prevlen = len;
	return 0;
oom:
	snprintf(l->err, l->errlen, "out of memory");
	return -1;
}

static int parse_pins(struct host *h, struct hfail *f, const char *text)
{
	json_object *a = json_tokener_parse(text);
	size_t n = a != NULL && json_object_is_type(a, json_type_array)
		   ? json_object_array_length(a) : 0;

	f->pins = pool_alloc(h->pool, (n ? n : 1) * sizeof(char *));
	for (size_t i = 0; f->pins != NULL && i < n; i++) {
		const char *p = json_object_get_string(
			json_object_array_get_idx(a, i));

		f->pins[f->npins] = pool_strdup(h->pool, p != NULL ? p : "");
		if (f->pins[f->npins] != NULL)
			f->npins++;
	}
	json_object_put(a);
	return h->pool->oom ? -1 : 0;
}

/* The distinct failure of row r: the last one when r continues it (rows
 * come by failure id), else a new one. */
static struct hfail *fail_of(struct host *h, const struct store_failure_hour *r,
			     long chain)
{
	struct hfail *f = h->nfails > 0 ? &h->fails[h->nfails - 1] : NULL;
	struct report_pool *p = h->pool;

	if (f != NULL && f->failure_id == r->failure_id)
		return f;
	f = VEC_PUSH(h->fails, h->nfails, h->capfails);
	if (f == NULL)
		return NULL;
	f->failure_id = r->failure_id;
	f->kind = pool_strdup(p, r->kind);
	f->decision = pool_strdup(p, r->decision);
	f->mode = pool_strdup(p, r->mode);
	f->hostname = pool_strdup(p, r->hostname);
	f->verify_error_text = pool_strdup(p, r->verify_error_text);
	f->policy_version = pool_strdup(p, r->policy_version);
	f->verify_error = r->verify_error;
	f->chain = chain;
	f->first_us = INT64_MAX;
	f->last_us = INT64_MIN;
	f->offset_min_s = INT64_MAX;
	f->offset_max_s = INT64_MIN;
	if (p->oom || parse_pins(h, f, r->pins) < 0)
		return NULL;
	return f;
}

static void fail_add(struct hfail *f, const struct store_failure_hour *r)
{
	f->count += r->count;
	if (r->first_us < f->first_us)
		f->first_us = r->first_us;
	if (r->last_us > f->last_us)
		f->last_us = r->last_us;
	if (r->offset_min_s < f->offset_min_s)
		f->offset_min_s = r->offset_min_s;
	if (r->offset_max_s > f->offset_max_s)
		f->offset_max_s = r->offset_max_s;
}

static int one_failure(void *arg, const struct store_failure_hour *r)
{
	struct load *l = arg;
	struct host *h = l->h;
	char key[65], hour[24];
	const char *v[DIM_NONE];
	struct hfail *f;
	struct obs *o;
	long chain;

	if (r->served_counter_fp != NULL)
		fmt_hex(r->served_counter_fp, 32, key);
	else
		snprintf(key, sizeof(key), r->served_chain_id ? "stored:%lld"
			 : "none", (long long)r->served_chain_id);
	chain = chain_of(h, key, r->served_chain_id, NULL, l->err, l->errlen);
	if (chain < 0)
		return -1;
	h->chains[chain].failures += r->count;
	chain_hour(&h->chains[chain], r->hour);
	h->events += r->count;
	hour_range(h, r->hour);
	f = fail_of(h, r, chain);
	if (f == NULL)
		goto oom;
	fail_add(f, r);
	snprintf(hour, sizeof(hour), "%lld", (long long)r->hour);
	v[DIM_NETWORK] = r->network;
	v[DIM_APP_VERSION] = r->app_version;
	v[DIM_LIBSSL_VERSION] = r->libssl_version;
	v[DIM_OS] = r->os;
	v[DIM_PEER] = r->peer;
	v[DIM_CHAIN] = key;
	v[DIM_LEAF_KEY] = hchain_leaf(&h->chains[chain]);
	v[DIM_ISSUER] = hchain_issuer(&h->chains[chain]);
	v[DIM_TIME] = hour;
	v[DIM_CLOCK] = clock_of(r->offset_min_s, r->offset_max_s);
	o = VEC_PUSH(h->obs, h->nobs, h->capobs);
	if (o == NULL || values(h, o, v) < 0)
		goto oom;
	o->failed = r->count;
	o->fail = (long)(f - h->fails);
	o->chain = chain;
	o->hour = r->hour;
	return 0;
oom:
	snprintf(l->err, l->errlen, "out of memory");
	return -1;
}

/* Whether some failures share a kind family and a leaf issuer often
 * enough to be correlated (diagnose groups them no finer than that). */
static bool enough_failures(const struct host *h)
{
	for (size_t i = 0; i < h->nfails; i++) {
		const struct hfail *a = &h->fails[i];
		uint64_t n = 0;

		for (size_t k = 0; k < h->nfails; k++) {
			const struct hfail *b = &h->fails[k];

			if (strcmp(a->kind, b->kind) == 0 &&
			    strcmp(hchain_issuer(&h->chains[a->chain]),
				   hchain_issuer(&h->chains[b->chain])) == 0)
				n += b->count;
		}
		if (n >= SPLIT_MIN_SUPPORT)
			return true;
	}
	return false;
}

/* Successes by dimension value, the denominator of every split (by hour:
 * what the runs of rows left aside). */
static int sum_successes(struct host *h, const struct load *l)
{
	for (int d = 0; d < DIM_NONE; d++) {
		h->succ[d] = calloc(h->vals[d].n + 1, sizeof(uint64_t));
		if (h->succ[d] == NULL)
			return -1;
	}
	for (size_t i = 0; i < h->nobs; i++)
		for (int d = 0; d < DIM_NONE; d++)
			if (d != DIM_TIME)
				h->succ[d][h->obs[i].v[d]] +=
					h->obs[i].succeeded;
	for (size_t v = 0; v < l->hour_cap && v < h->vals[DIM_TIME].n; v++)
		h->succ[DIM_TIME][v] = l->hour_succ[v];
	return 0;
}

int host_init(struct host *h, struct store *s, const char *host, char *err,
	      size_t errlen)
{
	memset(h, 0, sizeof(*h));
	h->s = s;
	h->pool = pool_new();
	h->first_hour = INT64_MAX;
	h->last_hour = INT64_MIN;
	h->load = calloc(1, sizeof(*h->load));
	if (h->pool == NULL || h->load == NULL ||
	    names_init(&h->chain_keys, h->pool) < 0)
		goto oom;
	for (int d = 0; d < DIM_NONE; d++)
		if (names_init(&h->vals[d], h->pool) < 0)
			goto oom;
	h->name = pool_strdup(h->pool, host);
	if (h->name == NULL)
		goto oom;
	h->load->h = h;
	h->load->prev_obs = -1;
	h->load->prev_hour_id = -1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int host_add_failure(struct host *h, const struct store_failure_hour *r,
		     char *err, size_t errlen)
{
	h->load->err = err;
	h->load->errlen = errlen;
	return one_failure(h->load, r);
}

int host_add_counters(struct host *h, const struct store_query *q,
		      const struct store_host_hour *totals, char *err,
		      size_t errlen)
{
	struct store_query hq = *q;
	int rc = 0;

	h->load->err = err;
	h->load->errlen = errlen;
	hq.host = h->name;
	hq.kind = NULL;         /* counters know no kind */
	h->thin = totals != NULL && !enough_failures(h);
	if (h->thin) {
		h->successes = totals->successes;
		h->failed = totals->failures;
	} else {
		rc = store_counters(h->s, &hq, one_counter, h->load, err,
				    errlen);
	}
	if (rc == 0 && sum_successes(h, h->load) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	return rc < 0 ? -1 : 0;
}

int host_load(struct host *h, struct store *s, const struct store_query *q,
	      const char *host, const struct store_host_hour *totals,
	      char *err, size_t errlen)
{
	struct store_query hq = *q;

	if (host_init(h, s, host, err, errlen) < 0)
		return -1;
	hq.host = host;
	h->load->err = err;
	h->load->errlen = errlen;
	/* the failures first: when they are too few to correlate, the
	 * counters (most of the cost) are not read */
	if (store_failure_hours(s, &hq, one_failure, h->load, err, errlen) < 0)
		return -1;
	return host_add_counters(h, q, totals, err, errlen);
}

void host_free(struct host *h)
{
	for (int d = 0; d < DIM_NONE; d++) {
		names_free(&h->vals[d]);
		free(h->succ[d]);
	}
	names_free(&h->chain_keys);
	if (h->load != NULL)
		free(h->load->hour_succ);
	free(h->load);
	free(h->obs);
	free(h->fails);
	free(h->chains);
	pool_free(h->pool);
	memset(h, 0, sizeof(*h));
}
