/* The viewer's list of failures: each stored event with its normalised
 * parts joined back, its repeats' counts added, oldest first. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_query.h"
#include "wire.h"

/* Columns of the main query, in order (see failure_sql). */
#define FAILURE_COLUMNS                                                      \
	"e.uuid, e.time_us, e.received_us, e.last_time_us, f.kind,"          \
	" f.decision, f.mode, f.matched, f.host, f.peer, f.policy_version,"  \
	" f.tls_version, f.message, f.port, f.pinned, f.pin_expired,"        \
	" f.verify_error, f.verify_error_text, coalesce(ps.pins, '[]'),"     \
	" e.count + coalesce((SELECT sum(r.count) FROM record r"              \
	"   WHERE r.repeat_of = e.uuid), 0),"                                \
	" e.repeat_of, f.served_chain_id, f.served_total, f.built_chain_id," \
	" f.built_total, f.stack_id,"                                        \
	" p.os_id, p.os_version, p.os_name, p.kernel, p.arch,"              \
	" p.libssl_version, p.host_id, p.hostname,"                          \
	" pr.exe, pr.build_id, pr.app_version, pr.app_version_source,"       \
	" pr.argv0, pr.pid,"                                                 \
	" n.label, n.fingerprint, n.gateway, n.subnet, n.local_address,"     \
	" coalesce(n.resolvers, '[]'), coalesce(n.proxy_vars, '[]'),"        \
	" s.address, s.name"

/* A repeat is listed only when its original is not stored. */
static const char failure_sql[] =
	"SELECT " FAILURE_COLUMNS " FROM record e"
	" JOIN failure f ON f.id = e.failure_id"
	" LEFT JOIN pinset ps ON ps.id = f.pinset_id"
	" LEFT JOIN platform p ON p.id = f.platform_id"
	" LEFT JOIN process pr ON pr.id = f.process_id"
	" LEFT JOIN network n ON n.id = f.network_id"
	" LEFT JOIN sender s ON s.id = e.sender_id"
	" WHERE (e.repeat_of IS NULL OR NOT EXISTS"
	"   (SELECT 1 FROM record o WHERE o.uuid = e.repeat_of))";

static const char chain_sql[] =
	"SELECT cc.position, c.subject, c.issuer, c.serial, c.pin, c.sha256,"
	" c.not_before, c.not_after, c.verified, c.conflict FROM chain_cert cc"
	" JOIN cert_shown c ON c.id = cc.cert_id"
	" WHERE cc.chain_id = ? ORDER BY cc.position";

static const char stack_sql[] =
	"SELECT module, build_id, symbol, offset, symbol_offset"
	" FROM stack_frame WHERE stack_id = ? ORDER BY depth";

struct query {
	struct store *s;
	sqlite3_stmt *main, *chain, *stack;
	/* copies that must outlive the sub-queries' next step */
	char **owned;
	size_t nowned, capowned;
};

static const char *text(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t != NULL ? t : "";
}

/* A copy freed after the callback; NULL when out of memory. */
static const char *keep(struct query *q, const void *p, size_t n)
{
	char *c;

	if (q->nowned == q->capowned) {
		size_t cap = q->capowned ? q->capowned * 2 : 64;
		char **v = realloc(q->owned, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		q->owned = v;
		q->capowned = cap;
	}
	c = malloc(n + 1);
	if (c == NULL)
		return NULL;
	memcpy(c, p, n);
	c[n] = '\0';
	q->owned[q->nowned++] = c;
	return c;
}

static const char *keep_text(struct query *q, sqlite3_stmt *st, int col)
{
	const char *t = text(st, col);

	return keep(q, t, strlen(t));
}

static void release(struct query *q)
{
	for (size_t i = 0; i < q->nowned; i++)
		free(q->owned[i]);
	q->nowned = 0;
}

static int load_cert(struct query *q, struct store_cert *c)
{
	sqlite3_stmt *st = q->chain;
	const void *sha = sqlite3_column_blob(st, 5);

	c->position = sqlite3_column_int(st, 0);
	c->subject = keep_text(q, st, 1);
	c->issuer = keep_text(q, st, 2);
	c->serial = keep_text(q, st, 3);
	c->pin = keep_text(q, st, 4);
	c->sha256 = NULL;
	if (sha != NULL && sqlite3_column_bytes(st, 5) == 32)
		c->sha256 = (const uint8_t *)keep(q, sha, 32);
	c->not_before = sqlite3_column_int64(st, 6);
	c->not_after = sqlite3_column_int64(st, 7);
	c->verified = sqlite3_column_int(st, 8);
	c->conflict = sqlite3_column_int(st, 9);
	if (c->subject == NULL || c->issuer == NULL || c->serial == NULL ||
	    c->pin == NULL || (sha != NULL && c->sha256 == NULL))
		return -1;
	return 0;
}

/* Fills out (at most WIRE_MAX_CHAIN entries, certs has room) from chain
 * row id; id 0 (NULL) is the empty chain. */
static int load_chain(struct query *q, int64_t id, struct store_cert *certs,
		      size_t cap, struct store_chain *out, char *err,
		      size_t errlen)
{
	int rc;

	out->certs = certs;
	out->n = 0;
	if (id == 0)
		return 0;
	sqlite3_bind_int64(q->chain, 1, id);
	while ((rc = sqlite3_step(q->chain)) == SQLITE_ROW && out->n < cap)
		if (load_cert(q, &certs[out->n++]) < 0) {
			sqlite3_reset(q->chain);
			return store_failf(q->s, err, errlen, "out of memory");
		}
	sqlite3_reset(q->chain);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(q->s, err, errlen, "read chain");
	return 0;
}

static int load_stack(struct query *q, int64_t id, struct store_frame **out,
		      size_t *n, char *err, size_t errlen)
{
	size_t cap = 0;
	int rc;

	*n = 0;
	if (id == 0)
		return 0;
	sqlite3_bind_int64(q->stack, 1, id);
	while ((rc = sqlite3_step(q->stack)) == SQLITE_ROW) {
		struct store_frame *f;

		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			f = realloc(*out, cap * sizeof(*f));
			if (f == NULL)
				break;
			*out = f;
		}
		f = &(*out)[(*n)++];
		f->module = keep_text(q, q->stack, 0);
		f->build_id = keep_text(q, q->stack, 1);
		f->symbol = keep_text(q, q->stack, 2);
		f->offset = (uint64_t)sqlite3_column_int64(q->stack, 3);
		f->symbol_offset = (uint64_t)sqlite3_column_int64(q->stack, 4);
		if (f->module == NULL || f->build_id == NULL ||
		    f->symbol == NULL)
			break;
	}
	sqlite3_reset(q->stack);
	if (rc == SQLITE_ROW)
		return store_failf(q->s, err, errlen, "out of memory");
	if (rc != SQLITE_DONE)
		return store_fail(q->s, err, errlen, "read stack");
	return 0;
}

/* The scalar columns of the current main row. */
static void load_event(sqlite3_stmt *st, struct store_failure *f)
{
	int c = 0;

	f->id = sqlite3_column_blob(st, c++);
	f->time_us = sqlite3_column_int64(st, c++);
	f->received_us = sqlite3_column_int64(st, c++);
	f->last_time_us = sqlite3_column_int64(st, c++);
	f->kind = text(st, c++);
	f->decision = text(st, c++);
	f->mode = text(st, c++);
	f->matched = text(st, c++);
	f->host = text(st, c++);
	f->peer = text(st, c++);
	f->policy_version = text(st, c++);
	f->tls_version = text(st, c++);
	f->message = text(st, c++);
	f->port = sqlite3_column_int(st, c++);
	f->pinned = sqlite3_column_int(st, c++);
	f->pin_expired = sqlite3_column_int(st, c++);
	f->verify_error = sqlite3_column_int(st, c++);
	f->verify_error_text = text(st, c++);
	f->expected_pins = text(st, c++);
	f->count = (uint64_t)sqlite3_column_int64(st, c++);
	f->repeat_of = sqlite3_column_bytes(st, c) == 16
		       ? sqlite3_column_blob(st, c) : NULL;
	f->orphan_repeat = f->repeat_of != NULL;
	c++;
	c++;                    /* served_chain_id */
	f->served_total = (uint32_t)sqlite3_column_int64(st, c++);
	c++;                    /* built_chain_id */
	f->built_total = (uint32_t)sqlite3_column_int64(st, c++);
	c++;                    /* stack_id */
	f->platform.os_id = text(st, c++);
	f->platform.os_version = text(st, c++);
	f->platform.os_name = text(st, c++);
	f->platform.kernel = text(st, c++);
	f->platform.arch = text(st, c++);
	f->platform.libssl_version = text(st, c++);
	f->platform.host_id = text(st, c++);
	f->platform.hostname = text(st, c++);
	f->process.exe = text(st, c++);
	f->process.build_id = text(st, c++);
	f->process.app_version = text(st, c++);
	f->process.app_version_source = text(st, c++);
	f->process.argv0 = text(st, c++);
	f->process.pid = (uint32_t)sqlite3_column_int64(st, c++);
	f->network.label = text(st, c++);
	f->network.fingerprint = text(st, c++);
	f->network.gateway = text(st, c++);
	f->network.subnet = text(st, c++);
	f->network.local_address = text(st, c++);
	f->network.resolvers = text(st, c++);
	f->network.proxy_vars = text(st, c++);
	f->sender = text(st, c++);
	f->sender_name = text(st, c++);
}

#define COL_SERVED 21
#define COL_BUILT 23
#define COL_STACK 25

static int one_failure(struct query *q, store_failure_fn fn, void *arg,
		       char *err, size_t errlen)
{
	struct store_cert served[WIRE_MAX_CHAIN], built[WIRE_MAX_CHAIN];
	struct store_frame *frames = NULL;
	struct store_failure f;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	load_event(q->main, &f);
	if (load_chain(q, sqlite3_column_int64(q->main, COL_SERVED), served,
		       WIRE_MAX_CHAIN, &f.served, err, errlen) < 0 ||
	    load_chain(q, sqlite3_column_int64(q->main, COL_BUILT), built,
		       WIRE_MAX_CHAIN, &f.built, err, errlen) < 0 ||
	    load_stack(q, sqlite3_column_int64(q->main, COL_STACK), &frames,
		       &f.nstack, err, errlen) < 0)
		goto out;
	f.stack = frames;
	rc = fn(arg, &f);
out:
	free(frames);
	release(q);
	return rc;
}

/* The filters of flt, in the order prepare binds them. */
static void filters(char *sql, size_t len, const struct store_query *flt)
{
	snprintf(sql, len, "%s%s%s%s%s%s%s ORDER BY e.time_us, e.id",
		 failure_sql,
		 flt->host != NULL ? " AND e.failure_id IN"
		 " (SELECT id FROM failure WHERE host = ?)" : "",
		 flt->kind != NULL ? " AND f.kind = ?" : "",
		 flt->network != NULL ? " AND n.label = ?" : "",
		 flt->app_version != NULL ? " AND pr.app_version = ?" : "",
		 flt->has_since ? " AND e.time_us >= ?" : "",
		 flt->has_until ? " AND e.time_us < ?" : "");
}

static int prepare(struct query *q, const struct store_query *flt,
		   char *err, size_t errlen)
{
	char sql[sizeof(failure_sql) + 512];
	const char *texts[] = { flt->host, flt->kind, flt->network,
				flt->app_version };
	int i = 1;

	filters(sql, sizeof(sql), flt);
	if (sqlite3_prepare_v2(q->s->db, sql, -1, &q->main, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(q->s->db, chain_sql, -1, &q->chain, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(q->s->db, stack_sql, -1, &q->stack, NULL) !=
	    SQLITE_OK)
		return store_fail(q->s, err, errlen, "query failures");
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
		if (texts[t] != NULL)
			sqlite3_bind_text(q->main, i++, texts[t], -1,
					  SQLITE_STATIC);
	if (flt->has_since)
		sqlite3_bind_int64(q->main, i++, flt->since_us);
	if (flt->has_until)
		sqlite3_bind_int64(q->main, i++, flt->until_us);
	return 0;
}

int store_failures(struct store *s, const struct store_filter *flt,
		   store_failure_fn fn, void *arg, char *err, size_t errlen)
{
	struct store_query q = {
		.host = flt->host,
		.has_since = flt->has_since,
		.since_us = flt->since_us,
	};

	return store_failures_query(s, &q, fn, arg, err, errlen);
}

int store_failures_query(struct store *s, const struct store_query *flt,
			 store_failure_fn fn, void *arg, char *err,
			 size_t errlen)
{
	struct query q = { .s = s };
	int rc, stop = 0;

	/* one read transaction: a consistent snapshot while the collector
	 * goes on writing */
	if (store_exec(s, "BEGIN", err, errlen) < 0)
		return -1;
	rc = prepare(&q, flt, err, errlen);
	while (rc == 0 && stop == 0) {
		int step = sqlite3_step(q.main);

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = store_fail(s, err, errlen, "query failures");
			break;
		}
		stop = one_failure(&q, fn, arg, err, errlen);
		if (stop < 0)
			rc = -1;
	}
	sqlite3_finalize(q.main);
	sqlite3_finalize(q.chain);
	sqlite3_finalize(q.stack);
	free(q.owned);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return rc < 0 ? -1 : stop;
}
