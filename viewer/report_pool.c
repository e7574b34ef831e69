/* Memory, names and number formats for the reports (report_int.h). */
#include "report_int.h"

#include <json-c/linkhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- pool ------------------------------------------------------------------ */

struct report_pool *pool_new(void)
{
	return calloc(1, sizeof(struct report_pool));
}

void pool_free(struct report_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->p[i]);
	free(p->p);
	free(p);
}

void *pool_adopt(struct report_pool *p, void *m)
{
	if (m == NULL)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		void **v = realloc(p->p, cap * sizeof(*v));

		if (v == NULL) {
			free(m);
			p->oom = true;
			return NULL;
		}
		p->p = v;
		p->cap = cap;
	}
	p->p[p->n++] = m;
	return m;
}

void *pool_alloc(struct report_pool *p, size_t size)
{
	void *m = calloc(1, size ? size : 1);

	if (m == NULL) {
		p->oom = true;
		return NULL;
	}
	return pool_adopt(p, m);
}

char *pool_strdup(struct report_pool *p, const char *s)
{
	size_t n = strlen(s != NULL ? s : "");
	char *c = pool_alloc(p, n + 1);

	if (c != NULL && n > 0)
		memcpy(c, s, n);
	return c;
}

char *pool_printf(struct report_pool *p, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->oom = true;
		return NULL;
	}
	return pool_adopt(p, s);
}

void *vec_push(void **items, size_t *n, size_t *cap, size_t size)
{
	char *base;

	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		void *v = realloc(*items, c * size);

		if (v == NULL)
			return NULL;
		*items = v;
		*cap = c;
	}
	base = *items;
	memset(base + *n * size, 0, size);
	return base + (*n)++ * size;
}

/* ---- names ------------------------------------------------------------------ */

int names_init(struct names *t, struct report_pool *pool)
{
	memset(t, 0, sizeof(*t));
	t->pool = pool;
	t->ids = lh_kchar_table_new(64, NULL);
	return t->ids != NULL ? 0 : -1;
}

void names_free(struct names *t)
{
	if (t->ids != NULL)
		lh_table_free(t->ids);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

long names_find(const struct names *t, const char *s)
{
	void *v;

	if (t->ids == NULL || !lh_table_lookup_ex(t->ids, s, &v))
		return -1;
	return (long)(uintptr_t)v - 1;
}

long names_id(struct names *t, const char *s)
{
	long id = names_find(t, s);
	char **slot, *copy;

	if (id >= 0)
		return id;
	copy = pool_strdup(t->pool, s);
	slot = copy != NULL ? VEC_PUSH(t->name, t->n, t->cap) : NULL;
	if (slot == NULL)
		return -1;
	*slot = copy;
	if (lh_table_insert(t->ids, copy, (void *)(uintptr_t)t->n) != 0)
		return -1;
	return (long)t->n - 1;
}

int tally_init(struct tally *t, struct report_pool *pool)
{
	t->n = NULL;
	t->cap = 0;
	return names_init(&t->names, pool);
}

int tally_add(struct tally *t, const char *name, uint64_t n)
{
	long id = names_id(&t->names, name);

	if (id < 0)
		return -1;
	if ((size_t)id >= t->cap) {
		size_t cap = t->names.cap;
		uint64_t *v = realloc(t->n, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		memset(v + t->cap, 0, (cap - t->cap) * sizeof(*v));
		t->n = v;
		t->cap = cap;
	}
	t->n[id] += n;
	return 0;
}

void tally_free(struct tally *t)
{
	free(t->n);
	t->n = NULL;
	t->cap = 0;
	names_free(&t->names);
}

static int count_cmp(const void *a, const void *b)
{
	const struct report_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->name, y->name);
}

int tally_take(struct tally *t, struct report_count **out, size_t *n)
{
	struct report_pool *pool = t->names.pool;

	*out = NULL;
	*n = t->names.n;
	if (*n > 0)
		*out = pool_alloc(pool, *n * sizeof(**out));
	for (size_t i = 0; *out != NULL && i < *n; i++) {
		(*out)[i].name = t->names.name[i];
		(*out)[i].n = t->n[i];
	}
	if (*out != NULL)
		qsort(*out, *n, sizeof(**out), count_cmp);
	tally_free(t);
	if (*n > 0 && *out == NULL) {
		*n = 0;
		return -1;
	}
	return 0;
}

/* ---- formatting ---------------------------------------------------------------- */

const char *fmt_count(uint64_t n, char buf[32])
{
	return fmt_count_text(n, buf);
}

char *fmt_split(struct report_pool *p, const struct report_split *s)
{
	char a[32], b[32], c[32], d[32];

	if (s->dim == DIM_NONE)
		return pool_printf(p, "no dimension separates: %s/%s failed",
				   fmt_count(s->failed, a),
				   fmt_count(s->total, b));
	return pool_printf(p, "%s=%s: %s/%s failed; elsewhere %s/%s",
			   report_dim_name(s->dim), s->value,
			   fmt_count(s->failed, a), fmt_count(s->total, b),
			   fmt_count(s->rest_failed, c),
			   fmt_count(s->rest_total, d));
}

void fmt_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

const char *fmt_time(int64_t us, char buf[48])
{
	time_rfc3339_s(us / 1000000 - (us % 1000000 < 0), buf, 48);
	return buf;
}

char *fmt_short(struct report_pool *p, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return pool_strdup(p, s);
	/* cut on a UTF-8 boundary */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return pool_printf(p, "%.*s...", (int)max, s);
}

int64_t report_now_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}
