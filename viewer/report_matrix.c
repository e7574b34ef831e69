/* The failure rates of two counter dimensions crossed (network x app
 * version by default), straight from the counters: every handshake,
 * successes and failures, so each cell is a rate. */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cross {
	struct report_matrix *m;
	struct names rows, cols;
	uint64_t *rtotal, *ctotal;      /* handshakes per row / col */
	size_t rcap, ccap;
	struct {
		long r, c;
		uint64_t failed, total;
	} *cell;
	size_t ncell, capcell;
	struct names cellkeys;
	bool oom;
};

/* The counter's value of d; NULL when the counters do not have it. */
static const char *value(const struct store_counter *c, enum report_dim d,
			 char *buf)
{
	switch (d) {
	case DIM_NETWORK: return c->network;
	case DIM_APP_VERSION: return c->app_version;
	case DIM_LIBSSL_VERSION: return c->libssl_version;
	case DIM_OS: return c->os;
	case DIM_PEER: return c->peer;
	case DIM_CLOCK: return c->clock;
	case DIM_CHAIN:
		if (c->chain_fp == NULL)
			return "none";
		fmt_hex(c->chain_fp, 32, buf);
		return buf;
	default: return NULL;
	}
}

static int grow(uint64_t **v, size_t *cap, size_t need)
{
	if (need < *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	while (n <= need)
		n *= 2;
	uint64_t *g = realloc(*v, n * sizeof(*g));

	if (g == NULL)
		return -1;
	memset(g + *cap, 0, (n - *cap) * sizeof(*g));
	*v = g;
	*cap = n;
	return 0;
}

static int one(void *arg, const struct store_counter *c)
{
	struct cross *x = arg;
	char rb[65], cb[65], key[64];
	long r = names_id(&x->rows, value(c, x->m->rows, rb));
	long k = names_id(&x->cols, value(c, x->m->cols, cb));
	uint64_t n = c->successes + c->failures;
	long id;

	if (r < 0 || k < 0 || grow(&x->rtotal, &x->rcap, (size_t)r) < 0 ||
	    grow(&x->ctotal, &x->ccap, (size_t)k) < 0)
		goto oom;
	snprintf(key, sizeof(key), "%ld,%ld", r, k);
	id = names_id(&x->cellkeys, key);
	if (id < 0)
		goto oom;
	if ((size_t)id == x->ncell && VEC_PUSH(x->cell, x->ncell,
					       x->capcell) == NULL)
		goto oom;
	x->cell[id].r = r;
	x->cell[id].c = k;
	x->cell[id].failed += c->failures;
	x->cell[id].total += n;
	x->rtotal[r] += n;
	x->ctotal[k] += n;
	return 0;
oom:
	x->oom = true;
	return 1;
}

struct rank {
	uint64_t n;
	char *name;
	long id;
};

static int by_n(const void *a, const void *b)
{
	const struct rank *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* names sorted by handshakes: the new index of each old id in map. */
static char **ordered(struct report_pool *p, const struct names *t,
		      const uint64_t *n, long *map)
{
	struct rank *r = calloc(t->n + 1, sizeof(*r));
	char **out = pool_alloc(p, (t->n + 1) * sizeof(char *));

	if (r == NULL || out == NULL) {
		free(r);
		return NULL;
	}
	for (size_t i = 0; i < t->n; i++)
		r[i] = (struct rank){ n[i], t->name[i], (long)i };
	if (t->n > 0)
		qsort(r, t->n, sizeof(*r), by_n);
	for (size_t i = 0; i < t->n; i++) {
		out[i] = r[i].name;
		map[r[i].id] = (long)i;
	}
	free(r);
	return out;
}

static int build(struct cross *x)
{
	struct report_matrix *m = x->m;
	long *rmap = calloc(x->rows.n + 1, sizeof(long)),
	     *cmap = calloc(x->cols.n + 1, sizeof(long));
	int rc = -1;

	if (rmap == NULL || cmap == NULL)
		goto out;
	m->row_names = ordered(m->pool, &x->rows, x->rtotal, rmap);
	m->col_names = ordered(m->pool, &x->cols, x->ctotal, cmap);
	m->nrows = x->rows.n;
	m->ncols = x->cols.n;
	m->cells = pool_alloc(m->pool, (m->nrows * m->ncols + 1) *
			      sizeof(*m->cells));
	if (m->row_names == NULL || m->col_names == NULL || m->cells == NULL)
		goto out;
	for (size_t i = 0; i < m->nrows; i++)
		for (size_t k = 0; k < m->ncols; k++) {
			m->cells[i * m->ncols + k].row = m->row_names[i];
			m->cells[i * m->ncols + k].col = m->col_names[k];
		}
	for (size_t i = 0; i < x->ncell; i++) {
		struct report_cell *c = &m->cells[rmap[x->cell[i].r] * m->ncols
						  + cmap[x->cell[i].c]];

		c->failed = x->cell[i].failed;
		c->total = x->cell[i].total;
	}
	rc = 0;
out:
	free(rmap);
	free(cmap);
	return rc;
}

int report_matrix(struct store *s, const struct report_filter *f,
		  enum report_dim rows, enum report_dim cols,
		  struct report_matrix *out, char *err, size_t errlen)
{
	struct cross x = { .m = out };
	struct store_query q;
	char buf[65];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->rows = rows;
	out->cols = cols;
	/* a probe with every string set: NULL means an unknown dimension */
	const struct store_counter probe = { .peer = "", .network = "",
		.app_version = "", .libssl_version = "", .os = "", .clock = "" };

	if (value(&probe, rows, buf) == NULL ||
	    value(&probe, cols, buf) == NULL) {
		snprintf(err, errlen, "a table of %s x %s: the counters have "
			 "network, app_version, libssl_version, os, peer, "
			 "clock, chain", report_dim_name(rows),
			 report_dim_name(cols));
		return -1;
	}
	out->pool = pool_new();
	if (out->pool == NULL || names_init(&x.rows, out->pool) < 0 ||
	    names_init(&x.cols, out->pool) < 0 ||
	    names_init(&x.cellkeys, out->pool) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	report_query(f, &q);
	if (store_read_begin(s, err, errlen) < 0)
		goto out;
	rc = store_counters(s, &q, one, &x, err, errlen);
	store_read_end(s);
	if (rc == 0 && (x.oom || build(&x) < 0)) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
out:
	names_free(&x.rows);
	names_free(&x.cols);
	names_free(&x.cellkeys);
	free(x.rtotal);
	free(x.ctotal);
	free(x.cell);
	return rc < 0 ? -1 : 0;
}

void report_matrix_free(struct report_matrix *r)
{
	if (r == NULL)
		return;
	pool_free(r->pool);
	memset(r, 0, sizeof(*r));
}
