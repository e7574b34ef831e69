/* How well a dimension separates a host's failing handshakes from its
 * succeeding ones (DIAGNOSIS.md, "Separate").
 *
 * For one dimension, a split is a set of its values against the rest.
 * Its score is coverage x contrast:
 *
 *     score = F_set / F  x  (F_set / T_set  -  F_rest / T_rest)
 *
 * where F counts the group's failures, T failures + successes (successes
 * from the counters: the denominator).  1 means every failure has a value
 * of the set, every handshake with such a value failed, and none of the
 * others did: `network=corp-wifi: 412/412 failed; elsewhere 0/9,870`.  A
 * value that carries all failures but succeeds as often scores near 0, so
 * does a rare value with a few failures (low coverage).  Sets are formed
 * greedily from the values with the highest failure rate (at most
 * SPLIT_MAX_VALUES: failures on two intercepted networks are one split),
 * and both sides need SPLIT_MIN_SUPPORT handshakes.  Time splits are a
 * moment: the hours from (or before) one hour on.
 */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fcount_init(struct fcount *c, const struct host *h)
{
	memset(c, 0, sizeof(*c));
	for (int d = 0; d < DIM_NONE; d++) {
		c->f[d] = calloc(h->vals[d].n + 1, sizeof(uint64_t));
		if (c->f[d] == NULL)
			return -1;
	}
	return 0;
}

void fcount_add(struct fcount *c, const struct obs *o)
{
	for (int d = 0; d < DIM_NONE; d++)
		c->f[d][o->v[d]] += o->failed;
	c->total += o->failed;
}

void fcount_free(struct fcount *c)
{
	for (int d = 0; d < DIM_NONE; d++)
		free(c->f[d]);
	memset(c, 0, sizeof(*c));
}

/* -1 when a side lacks support. */
static double score(uint64_t sf, uint64_t ss, uint64_t ft, uint64_t st)
{
	uint64_t rf = ft - sf, rs = st - ss;

	if (ft == 0 || sf + ss < SPLIT_MIN_SUPPORT ||
	    rf + rs < SPLIT_MIN_SUPPORT)
		return -1;
	return (double)sf / (double)ft *
	       ((double)sf / (double)(sf + ss) - (double)rf / (double)(rf + rs));
}

struct cand {
	long id;
	uint64_t f, s;
	int64_t hour;
};

static int by_rate(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	/* f/(f+s) compared without division */
	unsigned __int128 l = (unsigned __int128)x->f * (y->f + y->s),
			  r = (unsigned __int128)y->f * (x->f + x->s);

	if (l != r)
		return l > r ? -1 : 1;
	if (x->f != y->f)
		return x->f > y->f ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_hour(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->hour < y->hour ? -1 : x->hour > y->hour;
}

/* A value as shown in a split: chains by a 16-digit prefix, long names
 * cut. */
static const char *shown(const struct host *h, enum report_dim d, long id,
			 char *buf, size_t len)
{
	const char *v = h->vals[d].name[id];

	if (d == DIM_CHAIN && strlen(v) == 64) {
		snprintf(buf, len, "%.16s", v);
		return buf;
	}
	snprintf(buf, len, "%s", v[0] ? v : "(none)");
	if (strlen(v) >= len - 1 && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

static char *set_value(const struct host *h, enum report_dim d,
		       const struct cand *c, size_t k, struct report_pool *p)
{
	char out[512] = "", one[96];

	for (size_t i = 0; i < k; i++) {
		size_t len = strlen(out);

		snprintf(out + len, sizeof(out) - len, "%s%s", i ? "," : "",
			 shown(h, d, c[i].id, one, sizeof(one)));
	}
	return pool_strdup(p, out);
}

static void fill(struct report_split *out, enum report_dim d, uint64_t sf,
		 uint64_t ss, uint64_t ft, uint64_t st)
{
	out->dim = d;
	out->failed = sf;
	out->total = sf + ss;
	out->rest_failed = ft - sf;
	out->rest_total = (ft - sf) + (st - ss);
}

/* The best "from hour H" or "before hour H" split. */
static double split_time(const struct host *h, struct cand *c, size_t n,
			 uint64_t ft, uint64_t st, struct report_pool *p,
			 struct report_split *out)
{
	uint64_t pf = 0, ps = 0;    /* the hours before c[i] */
	double best = 0;
	char t[48];

	if (n > 0)
		qsort(c, n, sizeof(*c), by_hour);
	for (size_t i = 1; i < n; i++) {
		double from, before;

		pf += c[i - 1].f;
		ps += c[i - 1].s;
		from = score(ft - pf, st - ps, ft, st);
		before = score(pf, ps, ft, st);
		if (from > best + 1e-9) {
			best = from;
			fill(out, DIM_TIME, ft - pf, st - ps, ft, st);
			out->value = pool_printf(p, "from %s",
				fmt_time(c[i].hour * 1000000, t));
		}
		if (before > best + 1e-9) {
			best = before;
			fill(out, DIM_TIME, pf, ps, ft, st);
			out->value = pool_printf(p, "before %s",
				fmt_time(c[i].hour * 1000000, t));
		}
	}
	(void)h;
	return best;
}

static double split_values(const struct host *h, enum report_dim d,
			   struct cand *c, size_t n, uint64_t ft, uint64_t st,
			   struct report_pool *p, struct report_split *out)
{
	uint64_t sf = 0, ss = 0;
	double best = 0;
	size_t bestk = 0;

	if (n > 0)
		qsort(c, n, sizeof(*c), by_rate);
	for (size_t k = 0; k < n && k < SPLIT_MAX_VALUES && c[k].f > 0; k++) {
		double sc;

		sf += c[k].f;
		ss += c[k].s;
		sc = score(sf, ss, ft, st);
		if (sc > best + 1e-9) {
			best = sc;
			bestk = k + 1;
			fill(out, d, sf, ss, ft, st);
		}
	}
	if (bestk > 0)
		out->value = set_value(h, d, c, bestk, p);
	return best;
}

double split_best(const struct host *h, enum report_dim d,
		  const struct fcount *fc, struct report_pool *p,
		  struct report_split *out)
{
	size_t nv = h->vals[d].n, n = 0;
	struct cand *c = calloc(nv + 1, sizeof(*c));
	double best;

	memset(out, 0, sizeof(*out));
	out->dim = d;
	if (c == NULL || h->thin) {     /* thin: no successes by value */
		free(c);
		out->value = pool_strdup(p, "");
		return 0;
	}
	for (size_t v = 0; v < nv; v++) {
		if (fc->f[d][v] == 0 && h->succ[d][v] == 0)
			continue;
		c[n].id = (long)v;
		c[n].f = fc->f[d][v];
		c[n].s = h->succ[d][v];
		c[n].hour = d == DIM_TIME ? strtoll(h->vals[d].name[v], NULL, 10)
			    : 0;
		n++;
	}
	if (d == DIM_TIME)
		best = split_time(h, c, n, fc->total, h->successes, p, out);
	else
		best = split_values(h, d, c, n, fc->total, h->successes, p,
				    out);
	free(c);
	if (out->value == NULL)
		out->value = pool_strdup(p, "");
	out->score = best;
	return best;
}

static int by_score(const void *a, const void *b)
{
	const struct report_split *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->dim < y->dim ? -1 : x->dim > y->dim;
}

int split_rank(const struct host *h, const struct fcount *c,
	       struct report_pool *p, struct report_split **out, size_t *n)
{
	*n = 0;
	*out = pool_alloc(p, DIM_NONE * sizeof(**out));
	if (*out == NULL)
		return -1;
	for (int d = 0; d < DIM_NONE; d++)
		if (split_best(h, d, c, p, &(*out)[*n]) > 0)
			(*n)++;
	if (*n > 0)
		qsort(*out, *n, sizeof(**out), by_score);
	return p->oom ? -1 : 0;
}
