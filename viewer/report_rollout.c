/* rollout: for hosts in observe mode, what enforcing would block.  The
 * would_block events (failure_hour, mode observe) by network x app version,
 * against every handshake of the same cell (the counters), and a verdict
 * over the range's last 24 hours: "today".
 *
 * Ready means: handshakes in the last 24 hours, none of them would have
 * been blocked.  A host whose observe-mode clients never failed has no
 * events that name its mode; it is listed only when asked for (--host). */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT_S 86400

struct rhost {
	struct report_rollout_host *h;
	struct names cells;             /* "network\napp" -> cell */
	struct report_cell *cell;
	size_t ncell, capcell;
	struct tally kinds;
	uint64_t recent_total;
};

struct roll {
	struct report_rollout *out;
	struct names names;
	struct rhost *h;
	size_t n, cap;
	int64_t end_hour;               /* the range's end */
	bool oom;
};

static struct rhost *rhost(struct roll *r, const char *name)
{
	long id = names_id(&r->names, name);
	struct rhost *h;

	if (id < 0)
		return NULL;
	if ((size_t)id < r->n)
		return &r->h[id];
	h = VEC_PUSH(r->h, r->n, r->cap);
	if (h == NULL)
		return NULL;
	h->h = pool_alloc(r->out->pool, sizeof(*h->h));
	if (h->h == NULL || names_init(&h->cells, r->out->pool) < 0 ||
	    tally_init(&h->kinds, r->out->pool) < 0)
		return NULL;
	h->h->host = r->names.name[id];
	return h;
}

static struct report_cell *cell(struct roll *r, struct rhost *h,
				const char *network, const char *app)
{
	char *key = pool_printf(r->out->pool, "%s\n%s", network, app);
	long id = key != NULL ? names_id(&h->cells, key) : -1;
	struct report_cell *c;

	if (id < 0)
		return NULL;
	if ((size_t)id < h->ncell)
		return &h->cell[id];
	c = VEC_PUSH(h->cell, h->ncell, h->capcell);
	if (c == NULL)
		return NULL;
	c->row = pool_strdup(r->out->pool, network);
	c->col = pool_strdup(r->out->pool, app);
	return c->row && c->col ? c : NULL;
}

static int one_event(void *arg, const struct store_failure_hour *f)
{
	struct roll *r = arg;
	struct rhost *h;
	struct report_cell *c;

	if (strcmp(f->decision, "would_block") != 0)
		return 0;
	h = rhost(r, f->host);
	c = h != NULL ? cell(r, h, f->network, f->app_version) : NULL;
	if (c == NULL || tally_add(&h->kinds, f->kind, f->count) < 0) {
		r->oom = true;
		return 1;
	}
	c->failed += f->count;
	h->h->would_block += f->count;
	if (f->hour >= r->end_hour - RECENT_S)
		h->h->recent_would_block += f->count;
	return 0;
}

struct counting {
	struct roll *r;
	struct rhost *h;
};

static int one_counter(void *arg, const struct store_counter *c)
{
	struct counting *k = arg;
	struct report_cell *cl = cell(k->r, k->h, c->network, c->app_version);
	uint64_t n = c->successes + c->failures + c->resumed;

	if (cl == NULL) {
		k->r->oom = true;
		return 1;
	}
	cl->total += n;
	k->h->h->handshakes += n;
	/* A session whose full handshake would have been blocked resumed:
	 * enforce mode would refuse it, and then block the full one. */
	cl->failed += c->resumed_failed;
	k->h->h->would_block += c->resumed_failed;
	if (c->hour >= k->r->end_hour - RECENT_S) {
		k->h->recent_total += n;
		k->h->h->recent_would_block += c->resumed_failed;
	}
	return 0;
}

static int by_block(const void *a, const void *b)
{
	const struct report_cell *x = a, *y = b;

	if (x->failed != y->failed)
		return x->failed > y->failed ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->row, y->row);
}

static void verdict(struct roll *r, struct rhost *h)
{
	struct report_rollout_host *o = h->h;
	struct report_pool *p = r->out->pool;
	char a[32], b[32], where[512] = "";

	if (h->recent_total == 0) {
		o->verdict = pool_strdup(p, "not ready: no handshakes in the "
					 "last 24 hours to judge from");
		return;
	}
	if (o->recent_would_block == 0) {
		o->ready = true;
		o->verdict = pool_strdup(p, "ready");
		return;
	}
	for (size_t i = 0; i < h->ncell && i < 3 && h->cell[i].failed; i++) {
		size_t len = strlen(where);

		snprintf(where + len, sizeof(where) - len,
			 "%snetwork %.60s / %.60s: %llu/%llu", i ? ", " : "",
			 h->cell[i].row, h->cell[i].col,
			 (unsigned long long)h->cell[i].failed,
			 (unsigned long long)h->cell[i].total);
	}
	o->verdict = pool_printf(p, "not ready: %s of %s handshakes in the "
				 "last 24 hours would be blocked (%s)",
				 fmt_count(o->recent_would_block, a),
				 fmt_count(h->recent_total, b), where);
}

static int finish(struct roll *r, struct store *s, const struct store_query *q,
		  char *err, size_t errlen)
{
	for (size_t i = 0; i < r->n; i++) {
		struct rhost *h = &r->h[i];
		struct counting k = { .r = r, .h = h };
		struct store_query hq = *q;

		hq.host = h->h->host;
		if (store_counters(s, &hq, one_counter, &k, err, errlen) < 0)
			return -1;
		if (r->oom)
			break;
		qsort(h->cell, h->ncell, sizeof(*h->cell), by_block);
		verdict(r, h);
		h->h->cells = h->cell != NULL
			? pool_adopt(r->out->pool, h->cell) : NULL;
		h->h->ncells = h->h->cells != NULL ? h->ncell : 0;
		h->cell = NULL;
		if (tally_take(&h->kinds, &h->h->kinds, &h->h->nkinds) < 0)
			r->oom = true;
		names_free(&h->cells);
	}
	if (r->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int max_hour(void *arg, const struct store_host_hour *h)
{
	int64_t *end = arg;

	if (h->hour + 3600 > *end)
		*end = h->hour + 3600;
	return 0;
}

static int by_ready(const void *a, const void *b)
{
	const struct report_rollout_host *x = a, *y = b;

	if (x->ready != y->ready)
		return x->ready ? 1 : -1;
	if (x->recent_would_block != y->recent_would_block)
		return x->recent_would_block > y->recent_would_block ? -1 : 1;
	return strcmp(x->host, y->host);
}

static void release(struct roll *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->h[i].cell);
		names_free(&r->h[i].cells);
		tally_free(&r->h[i].kinds);
	}
	free(r->h);
	names_free(&r->names);
}

int report_rollout(struct store *s, const struct report_filter *f,
		   struct report_rollout *out, char *err, size_t errlen)
{
	struct roll r = { .out = out };
	struct store_query q;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->pool = pool_new();
	if (out->pool == NULL || names_init(&r.names, out->pool) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	report_query(f, &q);
	q.mode = "observe";
	if (store_read_begin(s, err, errlen) < 0)
		goto out;
	r.end_hour = q.has_until ? q.until_hour : 0;
	if (!q.has_until &&
	    store_host_hours(s, &q, max_hour, &r.end_hour, err, errlen) < 0)
		goto end;
	if (store_failure_hours(s, &q, one_event, &r, err, errlen) < 0)
		goto end;
	if (f->host != NULL && rhost(&r, f->host) == NULL)
		r.oom = true;
	if (r.oom)
		snprintf(err, errlen, "out of memory");
	else
		rc = finish(&r, s, &q, err, errlen);
end:
	store_read_end(s);
out:
	if (rc == 0) {
		out->hosts = pool_alloc(out->pool, (r.n + 1) * sizeof(*out->hosts));
		for (size_t i = 0; out->hosts != NULL && i < r.n; i++)
			out->hosts[i] = *r.h[i].h;
		out->n = out->hosts != NULL ? r.n : 0;
		if (out->hosts == NULL) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
		qsort(out->hosts, out->n, sizeof(*out->hosts), by_ready);
	}
	release(&r);
	return rc;
}

void report_rollout_free(struct report_rollout *r)
{
	if (r == NULL)
		return;
	pool_free(r->pool);
	memset(r, 0, sizeof(*r));
}
