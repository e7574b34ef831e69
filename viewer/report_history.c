/* chain HOST: the chains a host served in range, first seen first, each
 * marked against the pins its clients expected and against the chain
 * before it (what changed), with who saw it.  From the host's rollups
 * (report_host.c). */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A chain's place in the history (sorted without the host at hand). */
struct place {
	int64_t first_hour;
	bool succeeded;
	const char *key;
	long index;
};

static int by_first_seen(const void *a, const void *b)
{
	const struct place *x = a, *y = b;

	if (x->first_hour != y->first_hour)
		return x->first_hour < y->first_hour ? -1 : 1;
	if (x->succeeded != y->succeeded)
		return x->succeeded ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Every pin the host's failing clients expected. */
static int pins(struct report_chain_history *r, const struct host *h)
{
	struct names n;

	if (names_init(&n, r->pool) < 0)
		return -1;
	for (size_t i = 0; i < h->nfails; i++)
		for (size_t k = 0; k < h->fails[i].npins; k++)
			if (names_id(&n, h->fails[i].pins[k]) < 0) {
				names_free(&n);
				return -1;
			}
	r->npins = n.n;
	r->pins = pool_alloc(r->pool, (n.n + 1) * sizeof(char *));
	if (r->pins != NULL && n.n > 0)
		memcpy(r->pins, n.name, n.n * sizeof(char *));
	names_free(&n);
	return r->pins != NULL ? 0 : -1;
}

static int chains(struct report_chain_history *r, const struct host *h)
{
	struct place *order = calloc(h->nchains + 1, sizeof(*order));
	const struct hchain *prev = NULL;
	int rc = 0;

	r->chains = pool_alloc(r->pool, (h->nchains + 1) * sizeof(*r->chains));
	if (order == NULL || r->chains == NULL) {
		free(order);
		return -1;
	}
	for (size_t i = 0; i < h->nchains; i++)
		order[i] = (struct place){ h->chains[i].first_hour,
			h->chains[i].successes > 0, h->chains[i].key, (long)i };
	if (h->nchains > 0)
		qsort(order, h->nchains, sizeof(*order), by_first_seen);
	for (size_t i = 0; rc == 0 && i < h->nchains; i++) {
		const struct hchain *c = &h->chains[order[i].index];

		rc = chain_result(r->pool, h, order[i].index, prev, r->pins,
				  r->npins, &r->chains[r->n++]);
		if (c->ncerts > 0)
			prev = c;
	}
	free(order);
	return rc;
}

int report_chain_history(struct store *s, const struct report_filter *f,
			 struct report_chain_history *out, char *err,
			 size_t errlen)
{
	struct store_query q;
	struct host h;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (f->host == NULL) {
		snprintf(err, errlen, "chain: which host? (chain HOST)");
		return -1;
	}
	out->pool = pool_new();
	if (out->pool == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	report_query(f, &q);
	if (store_read_begin(s, err, errlen) < 0)
		return -1;
	if (host_load(&h, s, &q, f->host, NULL, err, errlen) == 0) {
		out->host = pool_strdup(out->pool, f->host);
		rc = out->host != NULL && pins(out, &h) == 0 &&
		     chains(out, &h) == 0 ? 0 : -1;
		if (rc < 0)
			snprintf(err, errlen, "out of memory");
	}
	host_free(&h);
	store_read_end(s);
	return rc;
}

void report_chain_history_free(struct report_chain_history *r)
{
	if (r == NULL)
		return;
	pool_free(r->pool);
	memset(r, 0, sizeof(*r));
}
