/* The sums of schema version 2, kept by the writer as it stores:
 * host_hour (per host and hour: successes, failures and resumptions from
 * counters, events from records), failure_hour (per failure and hour: events, first
 * and last time, the range of the client clock's offset) and counter_row
 * (per server and client dimensions, hour and clock: the counters'
 * successes, failures and resumptions); and schema 4's origin_hour (per
 * host, hour and origin: the handshakes its counters gave).
 *
 * An upsert per record would double the writer's statements.  Instead the
 * contributions are summed in memory over the open transaction, and
 * store_commit writes one upsert per row touched, just before COMMIT: a
 * group of thousands of records costs a handful of rows, and a client's
 * counters, sent every 30 s, one row per hour and group.
 *
 * All or nothing, like the records: each entry keeps the open batch's
 * contributions apart (batch) from those of the batches already stored in
 * this transaction (txn).  store_put_batch keeps them when the batch is
 * released and drops them when it is rolled back to its savepoint;
 * store_rollback drops everything.  Only what may fail (memory for a new
 * entry) happens while a record is added, so keeping and dropping cannot
 * fail.
 *
 * The hour of a record or counter (schema.c): the client's, unless the
 * client's clock is more than a day off the collector's receive time, then
 * the receive time's. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define DAY_US (86400LL * 1000000)

struct host_sums {
	struct rollup_counts c;
	int64_t events;
};

struct failure_sums {
	int64_t count;          /* 0: nothing yet */
	int64_t first_us, last_us, offset_min_s, offset_max_s;
};

/* A host's hour: its host_hour row (origin 0), or what one origin gave
 * it (origin_hour; base: what that row already holds). */
struct host_entry {
	uint64_t hash;
	size_t host;            /* offset into names */
	size_t len;
	int64_t hour;
	int64_t origin;
	int64_t base;
	struct host_sums txn, batch;
	bool touched;           /* in this batch */
};

struct failure_entry {
	int64_t failure_id, hour;
	struct failure_sums txn, batch;
	bool touched;
};

struct counter_sums {
	struct rollup_counts c;
	int64_t n;              /* counters added (0/0 ones make a row too) */
};

struct counter_entry {
	struct rollup_counter_key k;
	struct counter_sums txn, batch;
	bool touched;
};

/* Entries in a dense array, found through an open-addressing index of
 * entry numbers + 1 (0: empty). */
struct table {
	void *entries;
	size_t n, cap, size;    /* entries used, allocated; entry size */
	uint32_t *index;
	size_t slots;           /* power of two, at least 2 * cap */
	uint32_t *touched;      /* entries touched by the open batch */
	size_t ntouched;
};

struct rollup {
	struct table hosts, failures, counters;
	char *names;            /* the hosts' names, NUL-terminated */
	size_t names_len, names_cap;
	sqlite3_stmt *host_add, *failure_add, *counter_add;
	sqlite3_stmt *origin_add, *origin_base;
};

/* ---- hours ------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t hour_of_s(int64_t s)
{
	return floor_div(s, 3600) * 3600;
}

int64_t rollup_event_hour(int64_t time_us, int64_t received_us)
{
	int64_t off = time_us - received_us;

	if (off > DAY_US || off < -DAY_US)
		return hour_of_s(floor_div(received_us, 1000000));
	return hour_of_s(floor_div(time_us, 1000000));
}

/* ---- tables ------------------------------------------------------------ */

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t host_hash(const char *host, size_t len, int64_t hour,
			  int64_t origin)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)host[i]) * 1099511628211ull;
	return mix(h ^ (uint64_t)hour) ^ mix((uint64_t)origin);
}

static void *entry(const struct table *t, size_t i)
{
	return (char *)t->entries + i * t->size;
}

/* Room for one more entry (and its place in the index).  -1: no memory. */
static int table_grow(struct table *t, uint64_t (*hash_of)(const void *))
{
	size_t cap = t->cap ? 2 * t->cap : 256, slots = 2 * cap;
	void *e;
	uint32_t *index, *touched;

	if (t->n < t->cap)
		return 0;
	if (cap > UINT32_MAX / 2)
		return -1;
	e = realloc(t->entries, cap * t->size);
	if (e == NULL)
		return -1;
	t->entries = e;
	touched = realloc(t->touched, cap * sizeof(*touched));
	if (touched == NULL)
		return -1;
	t->touched = touched;
	index = calloc(slots, sizeof(*index));
	if (index == NULL)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t s = (size_t)hash_of(entry(t, i)) & (slots - 1);

		while (index[s] != 0)
			s = (s + 1) & (slots - 1);
		index[s] = (uint32_t)i + 1;
	}
	free(t->index);
	t->index = index;
	t->slots = slots;
	t->cap = cap;
	return 0;
}

static void table_clear(struct table *t)
{
	if (t->index != NULL)
		memset(t->index, 0, t->slots * sizeof(*t->index));
	t->n = t->ntouched = 0;
}

static void table_free(struct table *t)
{
	free(t->entries);
	free(t->index);
	free(t->touched);
	memset(t, 0, sizeof(*t));
}

static uint64_t host_entry_hash(const void *e)
{
	return ((const struct host_entry *)e)->hash;
}

/* Of a (row id, hour) pair: a failure's, a dims row's. */
static uint64_t pair_hash(int64_t id, int64_t hour)
{
	return mix((uint64_t)id * 0x9e3779b97f4a7c15ull ^ (uint64_t)hour);
}

static uint64_t failure_entry_hash(const void *e)
{
	const struct failure_entry *f = e;

	return pair_hash(f->failure_id, f->hour);
}

static uint64_t counter_hash(const struct rollup_counter_key *k)
{
	return pair_hash(k->dims_id, k->hour) ^
	       mix((uint64_t)k->client_id * 4 + (uint64_t)k->clock);
}

static uint64_t counter_entry_hash(const void *e)
{
	return counter_hash(&((const struct counter_entry *)e)->k);
}

static bool counter_key_eq(const struct rollup_counter_key *a,
			   const struct rollup_counter_key *b)
{
	return a->dims_id == b->dims_id && a->hour == b->hour &&
	       a->client_id == b->client_id && a->clock == b->clock;
}

static int names_add(struct rollup *r, const char *host, size_t len,
		     size_t *off)
{
	if (r->names_len + len + 1 > r->names_cap) {
		size_t cap = r->names_cap ? r->names_cap : 4096;
		char *n;

		while (cap < r->names_len + len + 1)
			cap *= 2;
		n = realloc(r->names, cap);
		if (n == NULL)
			return -1;
		r->names = n;
		r->names_cap = cap;
	}
	memcpy(r->names + r->names_len, host, len);
	r->names[r->names_len + len] = '\0';
	*off = r->names_len;
	r->names_len += len + 1;
	return 0;
}

/* What origin_hour already holds for e (0 when no row). */
static int64_t origin_base(struct rollup *r, const struct host_entry *e)
{
	sqlite3_stmt *st = r->origin_base;
	int64_t n = 0;

	sqlite3_bind_text(st, 1, r->names + e->host, (int)e->len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, e->hour);
	sqlite3_bind_int64(st, 3, e->origin);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/* The entry of (host, hour, origin), created empty when new; NULL: no
 * memory. */
static struct host_entry *host_find(struct rollup *r, const char *host,
				    int64_t hour, int64_t origin)
{
	struct table *t = &r->hosts;
	size_t len = strlen(host);
	uint64_t h = host_hash(host, len, hour, origin);
	struct host_entry *e;
	size_t s;

	for (s = (size_t)h & (t->slots - 1); t->slots > 0 && t->index[s] != 0;
	     s = (s + 1) & (t->slots - 1)) {
		e = entry(t, t->index[s] - 1);
		if (e->hash == h && e->hour == hour && e->origin == origin &&
		    e->len == len && memcmp(r->names + e->host, host, len) == 0)
			return e;
	}
	if (table_grow(t, host_entry_hash) < 0)
		return NULL;
	for (s = (size_t)h & (t->slots - 1); t->index[s] != 0;
	     s = (s + 1) & (t->slots - 1))
		;
	e = entry(t, t->n);
	memset(e, 0, sizeof(*e));
	if (names_add(r, host, len, &e->host) < 0)
		return NULL;
	e->hash = h;
	e->len = len;
	e->hour = hour;
	e->origin = origin;
	if (origin != 0)
		e->base = origin_base(r, e);
	t->index[s] = (uint32_t)++t->n;
	return e;
}

static struct failure_entry *failure_find(struct rollup *r,
					  int64_t failure_id, int64_t hour)
{
	struct table *t = &r->failures;
	uint64_t h = pair_hash(failure_id, hour);
	struct failure_entry *e;
	size_t s;

	for (s = (size_t)h & (t->slots - 1); t->slots > 0 && t->index[s] != 0;
	     s = (s + 1) & (t->slots - 1)) {
		e = entry(t, t->index[s] - 1);
		if (e->failure_id == failure_id && e->hour == hour)
			return e;
	}
	if (table_grow(t, failure_entry_hash) < 0)
		return NULL;
	for (s = (size_t)h & (t->slots - 1); t->index[s] != 0;
	     s = (s + 1) & (t->slots - 1))
		;
	e = entry(t, t->n);
	memset(e, 0, sizeof(*e));
	e->failure_id = failure_id;
	e->hour = hour;
	t->index[s] = (uint32_t)++t->n;
	return e;
}

static struct counter_entry *counter_find(struct rollup *r,
					  const struct rollup_counter_key *k)
{
	struct table *t = &r->counters;
	uint64_t h = counter_hash(k);
	struct counter_entry *e;
	size_t s;

	for (s = (size_t)h & (t->slots - 1); t->slots > 0 && t->index[s] != 0;
	     s = (s + 1) & (t->slots - 1)) {
		e = entry(t, t->index[s] - 1);
		if (counter_key_eq(&e->k, k))
			return e;
	}
	if (table_grow(t, counter_entry_hash) < 0)
		return NULL;
	for (s = (size_t)h & (t->slots - 1); t->index[s] != 0;
	     s = (s + 1) & (t->slots - 1))
		;
	e = entry(t, t->n);
	memset(e, 0, sizeof(*e));
	e->k = *k;
	t->index[s] = (uint32_t)++t->n;
	return e;
}

/* Remembers that entry i has batch contributions (the table has room:
 * touched is as large as the entries). */
static void touch(struct table *t, void *e, bool *touched)
{
	if (*touched)
		return;
	*touched = true;
	t->touched[t->ntouched++] =
		(uint32_t)(((char *)e - (char *)t->entries) / t->size);
}

/* ---- adding ------------------------------------------------------------ */

int rollup_event(struct rollup *r, const char *host, int64_t failure_id,
		 int64_t time_us, int64_t last_us, int64_t count,
		 int64_t received_us)
{
	int64_t hour = rollup_event_hour(time_us, received_us);
	/* as SQL's (time_us - received_us) / 1000000: toward zero */
	int64_t off = (time_us - received_us) / 1000000;
	struct host_entry *h = host_find(r, host, hour, 0);
	struct failure_entry *f;
	struct failure_sums *b;

	if (h == NULL)
		return -1;
	f = failure_find(r, failure_id, hour);
	if (f == NULL)
		return -1;
	touch(&r->hosts, h, &h->touched);
	h->batch.events += count;
	touch(&r->failures, f, &f->touched);
	b = &f->batch;
	if (b->count == 0) {
		b->first_us = time_us;
		b->last_us = last_us;
		b->offset_min_s = b->offset_max_s = off;
	} else {
		if (time_us < b->first_us)
			b->first_us = time_us;
		if (last_us > b->last_us)
			b->last_us = last_us;
		if (off < b->offset_min_s)
			b->offset_min_s = off;
		if (off > b->offset_max_s)
			b->offset_max_s = off;
	}
	b->count += count;
	return 0;
}

static void counts_add(struct rollup_counts *t, const struct rollup_counts *d)
{
	t->successes += d->successes;
	t->failures += d->failures;
	t->resumed += d->resumed;
	t->resumed_failed += d->resumed_failed;
}

static bool counts_zero(const struct rollup_counts *c)
{
	return c->successes == 0 && c->failures == 0 && c->resumed == 0 &&
	       c->resumed_failed == 0;
}

static int64_t handshakes(const struct rollup_counts *c)
{
	return c->successes + c->failures + c->resumed;
}

int rollup_counter(struct rollup *r, const char *host, int64_t host_hour_of,
		   int64_t origin, const struct rollup_counter_key *k,
		   const struct rollup_counts *d)
{
	struct host_entry *o = host_find(r, host, host_hour_of, origin), *h;
	struct counter_entry *c;
	size_t oi;

	if (o == NULL)
		return -1;
	/* the second find may move the table: o again by its place */
	oi = (size_t)(o - (struct host_entry *)r->hosts.entries);
	h = host_find(r, host, host_hour_of, 0);
	if (h == NULL)
		return -1;
	o = entry(&r->hosts, oi);
	if (o->base + handshakes(&o->txn.c) + handshakes(&o->batch.c) +
	    handshakes(d) > ROLLUP_ORIGIN_MAX_HOUR)
		return -2;
	c = counter_find(r, k);
	if (c == NULL)
		return -1;
	touch(&r->hosts, o, &o->touched);
	counts_add(&o->batch.c, d);
	touch(&r->hosts, h, &h->touched);
	counts_add(&h->batch.c, d);
	touch(&r->counters, c, &c->touched);
	counts_add(&c->batch.c, d);
	c->batch.n++;
	return 0;
}

/* ---- the batch's end --------------------------------------------------- */

static void failure_keep(struct failure_sums *t, const struct failure_sums *b)
{
	if (b->count == 0)
		return;
	if (t->count == 0) {
		*t = *b;
		return;
	}
	t->count += b->count;
	if (b->first_us < t->first_us)
		t->first_us = b->first_us;
	if (b->last_us > t->last_us)
		t->last_us = b->last_us;
	if (b->offset_min_s < t->offset_min_s)
		t->offset_min_s = b->offset_min_s;
	if (b->offset_max_s > t->offset_max_s)
		t->offset_max_s = b->offset_max_s;
}

void rollup_batch_end(struct rollup *r, bool keep)
{
	for (size_t i = 0; i < r->hosts.ntouched; i++) {
		struct host_entry *h = entry(&r->hosts, r->hosts.touched[i]);

		if (keep) {
			counts_add(&h->txn.c, &h->batch.c);
			h->txn.events += h->batch.events;
		}
		memset(&h->batch, 0, sizeof(h->batch));
		h->touched = false;
	}
	r->hosts.ntouched = 0;
	for (size_t i = 0; i < r->failures.ntouched; i++) {
		struct failure_entry *f = entry(&r->failures,
						r->failures.touched[i]);

		if (keep)
			failure_keep(&f->txn, &f->batch);
		memset(&f->batch, 0, sizeof(f->batch));
		f->touched = false;
	}
	r->failures.ntouched = 0;
	for (size_t i = 0; i < r->counters.ntouched; i++) {
		struct counter_entry *c = entry(&r->counters,
						r->counters.touched[i]);

		if (keep) {
			counts_add(&c->txn.c, &c->batch.c);
			c->txn.n += c->batch.n;
		}
		memset(&c->batch, 0, sizeof(c->batch));
		c->touched = false;
	}
	r->counters.ntouched = 0;
}

/* ---- the transaction's end ---------------------------------------------- */

void rollup_clear(struct rollup *r)
{
	table_clear(&r->hosts);
	table_clear(&r->failures);
	table_clear(&r->counters);
	r->names_len = 0;
}

/* One origin_hour row's sums. */
static int flush_origin(struct store *s, struct rollup *r,
			const struct host_entry *h, char *err, size_t errlen)
{
	sqlite3_stmt *st = r->origin_add;

	sqlite3_bind_text(st, 1, r->names + h->host, (int)h->len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, h->hour);
	sqlite3_bind_int64(st, 3, h->origin);
	sqlite3_bind_int64(st, 4, handshakes(&h->txn.c));
	sqlite3_bind_int64(st, 5, h->txn.c.failures);
	return store_step_done(s, st, "origin_hour", err, errlen);
}

static int flush_hosts(struct store *s, struct rollup *r, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = r->host_add;

	for (size_t i = 0; i < r->hosts.n; i++) {
		const struct host_entry *h = entry(&r->hosts, i);

		if (counts_zero(&h->txn.c) && h->txn.events == 0)
			continue;   /* only dropped batches touched it */
		if (h->origin != 0) {
			if (flush_origin(s, r, h, err, errlen) < 0)
				return -1;
			continue;
		}
		sqlite3_bind_text(st, 1, r->names + h->host, (int)h->len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, h->hour);
		sqlite3_bind_int64(st, 3, h->txn.c.successes);
		sqlite3_bind_int64(st, 4, h->txn.c.failures);
		sqlite3_bind_int64(st, 5, h->txn.events);
		sqlite3_bind_int64(st, 6, h->txn.c.resumed);
		sqlite3_bind_int64(st, 7, h->txn.c.resumed_failed);
		if (store_step_done(s, st, "host_hour", err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int flush_failures(struct store *s, struct rollup *r, char *err,
			  size_t errlen)
{
	sqlite3_stmt *st = r->failure_add;

	for (size_t i = 0; i < r->failures.n; i++) {
		const struct failure_entry *f = entry(&r->failures, i);

		if (f->txn.count == 0)
			continue;
		sqlite3_bind_int64(st, 1, f->failure_id);
		sqlite3_bind_int64(st, 2, f->hour);
		sqlite3_bind_int64(st, 3, f->txn.count);
		sqlite3_bind_int64(st, 4, f->txn.first_us);
		sqlite3_bind_int64(st, 5, f->txn.last_us);
		sqlite3_bind_int64(st, 6, f->txn.offset_min_s);
		sqlite3_bind_int64(st, 7, f->txn.offset_max_s);
		if (store_step_done(s, st, "failure_hour", err, errlen) < 0)
			return -1;
	}
	return 0;
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

static int by_key(const void *a, const void *b)
{
	const struct counter_entry *ea = a, *eb = b;
	const struct rollup_counter_key *x = &ea->k, *y = &eb->k;

	if (x->dims_id != y->dims_id)
		return CMP(x->dims_id, y->dims_id);
	if (x->client_id != y->client_id)
		return CMP(x->client_id, y->client_id);
	if (x->hour != y->hour)
		return CMP(x->hour, y->hour);
	return CMP(x->clock, y->clock);
}

static const char *const clocks[] = {
	[ROLLUP_CLOCK_OK] = "ok",
	[ROLLUP_CLOCK_AHEAD] = "ahead",
	[ROLLUP_CLOCK_BEHIND] = "behind",
};

/* In counter_row's key order: each B-tree page is visited once, in
 * order, however the group's counters were spread.  The index is stale
 * after the sort: the transaction ends here. */
static int flush_counters(struct store *s, struct rollup *r, char *err,
			  size_t errlen)
{
	sqlite3_stmt *st = r->counter_add;

	if (r->counters.n > 1)
		qsort(r->counters.entries, r->counters.n,
		      sizeof(struct counter_entry), by_key);
	for (size_t i = 0; i < r->counters.n; i++) {
		const struct counter_entry *c = entry(&r->counters, i);

		if (c->txn.n == 0)
			continue;   /* only dropped batches touched it */
		sqlite3_bind_int64(st, 1, c->k.dims_id);
		sqlite3_bind_int64(st, 2, c->k.client_id);
		sqlite3_bind_int64(st, 3, c->k.hour);
		sqlite3_bind_text(st, 4, clocks[c->k.clock], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, c->txn.c.successes);
		sqlite3_bind_int64(st, 6, c->txn.c.failures);
		sqlite3_bind_int64(st, 7, c->txn.c.resumed);
		sqlite3_bind_int64(st, 8, c->txn.c.resumed_failed);
		if (store_step_done(s, st, "counter_row", err, errlen) < 0)
			return -1;
	}
	return 0;
}

int rollup_flush(struct store *s, char *err, size_t errlen)
{
	struct rollup *r = s->rollup;
	int rc;

	if (r == NULL)
		return 0;
	rc = flush_hosts(s, r, err, errlen) == 0 &&
	     flush_failures(s, r, err, errlen) == 0 &&
	     flush_counters(s, r, err, errlen) == 0 ? 0 : -1;
	rollup_clear(r);
	return rc;
}

/* ---- life ---------------------------------------------------------------- */

static const char host_sql[] =
	"INSERT INTO host_hour (host, hour, successes, failures, events,"
	" resumed, resumed_failed)"
	" VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET"
	" successes = successes + excluded.successes,"
	" failures = failures + excluded.failures,"
	" events = events + excluded.events,"
	" resumed = resumed + excluded.resumed,"
	" resumed_failed = resumed_failed + excluded.resumed_failed";

static const char counter_sql[] =
	"INSERT INTO counter_row (dims_id, client_id, hour, clock, successes,"
	" failures, resumed, resumed_failed) VALUES (?,?,?,?,?,?,?,?)"
	" ON CONFLICT DO UPDATE SET"
	" successes = successes + excluded.successes,"
	" failures = failures + excluded.failures,"
	" resumed = resumed + excluded.resumed,"
	" resumed_failed = resumed_failed + excluded.resumed_failed";

static const char failure_sql[] =
	"INSERT INTO failure_hour (failure_id, hour, count, first_us, last_us,"
	" offset_min_s, offset_max_s) VALUES (?,?,?,?,?,?,?)"
	" ON CONFLICT DO UPDATE SET count = count + excluded.count,"
	" first_us = min(first_us, excluded.first_us),"
	" last_us = max(last_us, excluded.last_us),"
	" offset_min_s = min(offset_min_s, excluded.offset_min_s),"
	" offset_max_s = max(offset_max_s, excluded.offset_max_s)";

static const char origin_sql[] =
	"INSERT INTO origin_hour (host, hour, origin_id, handshakes, failures)"
	" VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET"
	" handshakes = handshakes + excluded.handshakes,"
	" failures = failures + excluded.failures";

static const char origin_base_sql[] =
	"SELECT handshakes FROM origin_hour"
	" WHERE host = ? AND hour = ? AND origin_id = ?";

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				  NULL) == SQLITE_OK ? 0 : -1;
}

struct rollup *rollup_new(struct store *s, char *err, size_t errlen)
{
	struct rollup *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		store_failf(s, err, errlen, "out of memory");
		return NULL;
	}
	r->hosts.size = sizeof(struct host_entry);
	r->failures.size = sizeof(struct failure_entry);
	r->counters.size = sizeof(struct counter_entry);
	if (prepare(s, host_sql, &r->host_add) < 0 ||
	    prepare(s, failure_sql, &r->failure_add) < 0 ||
	    prepare(s, counter_sql, &r->counter_add) < 0 ||
	    prepare(s, origin_sql, &r->origin_add) < 0 ||
	    prepare(s, origin_base_sql, &r->origin_base) < 0) {
		store_fail(s, err, errlen, "rollup statements");
		rollup_free(r);
		return NULL;
	}
	return r;
}

void rollup_free(struct rollup *r)
{
	if (r == NULL)
		return;
	sqlite3_finalize(r->host_add);
	sqlite3_finalize(r->failure_add);
	sqlite3_finalize(r->counter_add);
	sqlite3_finalize(r->origin_add);
	sqlite3_finalize(r->origin_base);
	table_free(&r->hosts);
	table_free(&r->failures);
	table_free(&r->counters);
	free(r->names);
	free(r);
}
