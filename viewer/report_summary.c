/* summary: handshakes and failures per host from host_hour (or the
 * counters, when narrowed to a network or version), failure events by kind
 * and decision from failure_hour.  And report_failures, the list of stored
 * events, for the CLI and the web page alike. */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sum {
	struct report_summary *r;
	struct names hosts;
	struct report_host *h;
	size_t cap;
	struct tally *kinds;            /* per host, by host index */
	uint8_t *modes;                 /* per host: 1 observe, 2 enforce */
	size_t kcap;
	struct tally all_kinds, decisions;
	bool oom;
};

static struct report_host *host(struct sum *s, const char *name)
{
	long id = names_id(&s->hosts, name);
	struct report_host *h;

	if (id < 0)
		return NULL;
	if ((size_t)id < s->r->nhosts)
		return &s->h[id];
	h = VEC_PUSH(s->h, s->r->nhosts, s->cap);
	if (h == NULL)
		return NULL;
	h->host = s->hosts.name[id];
	h->first_hour = INT64_MAX;
	h->last_hour = INT64_MIN;
	return h;
}

static int one_hour(void *arg, const struct store_host_hour *r)
{
	struct sum *s = arg;
	struct report_host *h = host(s, r->host);

	if (h == NULL) {
		s->oom = true;
		return 1;
	}
	h->successes += r->successes;
	h->failures += r->failures;
	h->resumed += r->resumed;
	h->resumed_failed += r->resumed_failed;
	if (r->hour < h->first_hour)
		h->first_hour = r->hour;
	if (r->hour > h->last_hour)
		h->last_hour = r->hour;
	return 0;
}

/* Per-host tallies, grown with the host list. */
static int host_tallies(struct sum *s, size_t id)
{
	while (s->kcap <= id) {
		size_t cap = s->kcap ? s->kcap * 2 : 16;
		struct tally *k = realloc(s->kinds, cap * sizeof(*k));
		uint8_t *m;

		if (k == NULL)
			return -1;
		s->kinds = k;
		m = realloc(s->modes, cap);
		if (m == NULL)
			return -1;
		s->modes = m;
		for (size_t i = s->kcap; i < cap; i++) {
			m[i] = 0;
			if (tally_init(&k[i], s->r->pool) < 0) {
				s->kcap = i;
				return -1;
			}
		}
		s->kcap = cap;
	}
	return 0;
}

static int one_failure(void *arg, const struct store_failure_hour *f)
{
	struct sum *s = arg;
	struct report_host *h = host(s, f->host);
	size_t id;

	if (h == NULL)
		goto oom;
	id = (size_t)(h - s->h);
	if (host_tallies(s, id) < 0 ||
	    tally_add(&s->kinds[id], f->kind, f->count) < 0 ||
	    tally_add(&s->all_kinds, f->kind, f->count) < 0 ||
	    tally_add(&s->decisions, f->decision, f->count) < 0)
		goto oom;
	s->modes[id] |= strcmp(f->mode, "observe") == 0 ? 1 : 2;
	h->events += f->count;
	return 0;
oom:
	s->oom = true;
	return 1;
}

/* One origin's handshakes with a host (store_origin_sums), for the hosts
 * the summary lists. */
static int one_origin(void *arg, const struct store_origin_sum *o)
{
	struct sum *s = arg;
	long id = names_find(&s->hosts, o->host);
	struct report_host *h;

	if (id < 0 || (size_t)id >= s->r->nhosts)
		return 0;
	h = &s->h[id];
	h->senders++;
	h->sender_handshakes += o->handshakes;
	if (o->handshakes > h->top_handshakes || h->top_sender == NULL) {
		h->top_handshakes = o->handshakes;
		h->top_sender = pool_printf(s->r->pool, "%s (%s)", o->name,
					    o->address);
		if (h->top_sender == NULL)
			s->oom = true;
	}
	return 0;
}

static int by_failures(const void *a, const void *b)
{
	const struct report_host *x = a, *y = b;

	if (x->failures != y->failures)
		return x->failures > y->failures ? -1 : 1;
	if (x->events != y->events)
		return x->events > y->events ? -1 : 1;
	return strcmp(x->host, y->host);
}

static int finish(struct sum *s)
{
	static const char *const modes[] = { "", "observe", "enforce", "mixed" };
	struct report_summary *r = s->r;
	int rc = 0;

	r->first_hour = r->last_hour = 0;
	for (size_t i = 0; i < r->nhosts; i++) {
		struct report_host *h = &s->h[i];

		r->successes += h->successes;
		r->failures += h->failures;
		r->resumed += h->resumed;
		r->resumed_failed += h->resumed_failed;
		r->events += h->events;
		if (h->first_hour != INT64_MAX &&
		    (r->first_hour == 0 || h->first_hour < r->first_hour))
			r->first_hour = h->first_hour;
		if (h->last_hour != INT64_MIN && h->last_hour > r->last_hour)
			r->last_hour = h->last_hour;
		h->mode = i < s->kcap ? modes[s->modes[i] & 3] : "";
		if (h->top_sender == NULL)
			h->top_sender = "";
		h->one_sender = h->senders >= 2 &&
				h->top_handshakes * 10 >= h->sender_handshakes * 9;
		if (i < s->kcap &&
		    tally_take(&s->kinds[i], &h->kinds, &h->nkinds) < 0)
			rc = -1;
	}
	for (size_t i = r->nhosts; i < s->kcap; i++)
		tally_free(&s->kinds[i]);
	if (tally_take(&s->all_kinds, &r->kinds, &r->nkinds) < 0 ||
	    tally_take(&s->decisions, &r->decisions, &r->ndecisions) < 0)
		rc = -1;
	if (r->nhosts > 0)
		qsort(s->h, r->nhosts, sizeof(*s->h), by_failures);
	return rc;
}

int report_summary(struct store *st, const struct report_filter *f,
		   struct report_summary *out, char *err, size_t errlen)
{
	struct sum s = { .r = out };
	struct store_query q;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->pool = pool_new();
	if (out->pool == NULL || names_init(&s.hosts, out->pool) < 0 ||
	    tally_init(&s.all_kinds, out->pool) < 0 ||
	    tally_init(&s.decisions, out->pool) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	report_query(f, &q);
	if (store_read_begin(st, err, errlen) < 0)
		goto fail;
	rc = store_host_hours(st, &q, one_hour, &s, err, errlen);
	if (rc == 0)
		rc = store_failure_hours(st, &q, one_failure, &s, err, errlen);
	if (rc == 0)
		rc = store_origin_sums(st, &q, one_origin, &s, err, errlen);
	store_read_end(st);
	if (rc == 0 && !s.oom && finish(&s) == 0) {
		/* the array joins the pool (or is freed by it on failure) */
		out->hosts = s.h == NULL ? NULL : pool_adopt(out->pool, s.h);
		s.h = NULL;
		if (out->hosts != NULL || out->nhosts == 0) {
			names_free(&s.hosts);
			free(s.kinds);
			free(s.modes);
			return 0;
		}
	}
	if (rc == 0 || s.oom)
		snprintf(err, errlen, "out of memory");
	rc = -1;
fail:
	for (size_t i = 0; i < s.kcap; i++)
		tally_free(&s.kinds[i]);
	tally_free(&s.all_kinds);
	tally_free(&s.decisions);
	names_free(&s.hosts);
	free(s.kinds);
	free(s.modes);
	free(s.h);
	out->hosts = NULL;
	out->nhosts = 0;
	return rc;
}

void report_summary_free(struct report_summary *r)
{
	if (r == NULL)
		return;
	pool_free(r->pool);
	memset(r, 0, sizeof(*r));
}

/* ---- the stored events ------------------------------------------------------ */

struct page {
	size_t offset, limit, seen, given;
	store_failure_fn fn;
	void *arg;
};

static int paged(void *arg, const struct store_failure *f)
{
	struct page *p = arg;

	if (p->seen++ < p->offset)
		return 0;
	if (p->limit > 0 && p->given >= p->limit)
		return 1;
	p->given++;
	return p->fn(p->arg, f);
}

int report_failures(struct store *s, const struct report_filter *f,
		    size_t offset, size_t limit, store_failure_fn fn,
		    void *arg, char *err, size_t errlen)
{
	struct page p = { .offset = offset, .limit = limit, .fn = fn,
			  .arg = arg };
	struct store_query q;
	int rc;

	report_query(f, &q);
	rc = store_failures_query(s, &q, paged, &p, err, errlen);
	/* stopping after the limit is not the caller's stop */
	if (rc == 1 && limit > 0 && p.given >= limit)
		return 0;
	return rc;
}
