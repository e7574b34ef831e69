/* The timeline of a host (or of all hosts): per hour, handshakes that
 * succeeded and failed (host_hour, or the counters when narrowed), and
 * the failure events by the cause their diagnosis named (each diagnosis
 * keeps its events by hour). */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	struct report_timeline *t;
	struct names hours;             /* "%lld" -> index */
	struct report_hour *h;
	size_t n, cap;
	bool oom;
};

static struct report_hour *hour(struct line *l, int64_t at)
{
	char key[24];
	long id;
	struct report_hour *h;

	snprintf(key, sizeof(key), "%lld", (long long)at);
	id = names_id(&l->hours, key);
	if (id < 0)
		return NULL;
	if ((size_t)id < l->n)
		return &l->h[id];
	h = VEC_PUSH(l->h, l->n, l->cap);
	if (h != NULL)
		h->hour = at;
	return h;
}

static int one_hour(void *arg, const struct store_host_hour *r)
{
	struct line *l = arg;
	struct report_hour *h = hour(l, r->hour);

	if (h == NULL) {
		l->oom = true;
		return 1;
	}
	h->successes += r->successes;
	h->failures += r->failures;
	return 0;
}

static int by_hour(const void *a, const void *b)
{
	const struct report_hour *x = a, *y = b;

	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

int report_timeline_of(struct store *s, const struct report_filter *f,
		       const struct report_diagnoses *d,
		       struct report_timeline *out, char *err, size_t errlen)
{
	struct line l = { .t = out };
	struct store_query q;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->pool = pool_new();
	if (out->pool == NULL || names_init(&l.hours, out->pool) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	out->host = f->host ? pool_strdup(out->pool, f->host) : NULL;
	report_query(f, &q);
	if (store_read_begin(s, err, errlen) < 0)
		goto out;
	rc = store_host_hours(s, &q, one_hour, &l, err, errlen);
	store_read_end(s);
	for (size_t i = 0; rc == 0 && !l.oom && i < d->n; i++)
		for (size_t k = 0; !l.oom && k < d->d[i].nhours; k++) {
			struct report_hour *t = hour(&l, d->d[i].hours[k].hour);

			if (t == NULL)
				l.oom = true;
			else
				t->by_cause[d->d[i].cause] +=
					d->d[i].hours[k].events;
		}
	if (rc == 0 && l.oom) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc == 0 && l.h != NULL) {
		qsort(l.h, l.n, sizeof(*l.h), by_hour);
		out->hours = pool_adopt(out->pool, l.h);
		out->n = out->hours != NULL ? l.n : 0;
		l.h = NULL;
	}
out:
	free(l.h);
	names_free(&l.hours);
	return rc;
}

int report_timeline(struct store *s, const struct report_filter *f,
		    struct report_timeline *out, char *err, size_t errlen)
{
	struct report_diagnoses d;
	int rc = report_diagnose(s, f, &d, err, errlen);

	if (rc == 0)
		rc = report_timeline_of(s, f, &d, out, err, errlen);
	else
		memset(out, 0, sizeof(*out));
	report_diagnoses_free(&d);
	return rc;
}

void report_timeline_free(struct report_timeline *r)
{
	if (r == NULL)
		return;
	pool_free(r->pool);
	memset(r, 0, sizeof(*r));
}
