/* store/report_query: per host and hour, counters, failures by hour: the
 * rollups the viewer's reports read (store/report_query.h).  Each query is
 * built from the filters set in a store_query, bound in the same order. */
#include "internal.h"
#include "report_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building a query ----------------------------------------------------- */

struct sql {
	char text[2048];
	const char *args[8];    /* text arguments, bound in order */
	int64_t nums[4];        /* then these */
	int nargs, nnums;
};

static void sql_add(struct sql *q, const char *s)
{
	strncat(q->text, s, sizeof(q->text) - strlen(q->text) - 1);
}

static void sql_text(struct sql *q, const char *cond, const char *v)
{
	if (v == NULL)
		return;
	sql_add(q, cond);
	q->args[q->nargs++] = v;
}

/* Binds texts then numbers; statement prepared from q->text. */
static int sql_prepare(struct store *s, struct sql *q, sqlite3_stmt **st,
		       const char *what, char *err, size_t errlen)
{
	int i = 1;

	if (sqlite3_prepare_v2(s->db, q->text, -1, st, NULL) != SQLITE_OK)
		return store_fail(s, err, errlen, what);
	for (int a = 0; a < q->nargs; a++)
		sqlite3_bind_text(*st, i++, q->args[a], -1, SQLITE_STATIC);
	for (int n = 0; n < q->nnums; n++)
		sqlite3_bind_int64(*st, i++, q->nums[n]);
	return 0;
}

/* The hour range on column col ("hour", "fh.hour"). */
static void sql_hours(struct sql *q, const struct store_query *f,
		      const char *col)
{
	char buf[64];

	if (f->has_since) {
		snprintf(buf, sizeof(buf), " AND %s >= ?", col);
		sql_add(q, buf);
		q->nums[q->nnums++] = f->since_hour;
	}
	if (f->has_until) {
		snprintf(buf, sizeof(buf), " AND %s < ?", col);
		sql_add(q, buf);
		q->nums[q->nnums++] = f->until_hour;
	}
}

static const char *text(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t != NULL ? t : "";
}

static const uint8_t *blob32(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_bytes(st, col) != 32)
		return NULL;
	return sqlite3_column_blob(st, col);
}

/* Steps st calling row(arg, st) per row; finalizes st. */
static int run(struct store *s, sqlite3_stmt *st,
	       int (*row)(sqlite3_stmt *st, void *fn, void *arg), void *fn,
	       void *arg, const char *what, char *err, size_t errlen)
{
	int rc, stop = 0;

	while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = row(st, fn, arg);
	if (stop == 0 && rc != SQLITE_DONE)
		stop = store_fail(s, err, errlen, what);
	sqlite3_finalize(st);
	return stop;
}

/* ---- transactions, names ------------------------------------------------- */

int store_read_begin(struct store *s, char *err, size_t errlen)
{
	/* reports read much of the rollups: a cache that holds them.  Not
	 * mmap: a database file truncated or overwritten while mapped kills
	 * the reader with SIGBUS; read(2) turns that into an error. */
	sqlite3_exec(s->db, "PRAGMA cache_size = -262144", NULL, NULL, NULL);
	return store_exec(s, "BEGIN", err, errlen);
}

void store_read_end(struct store *s)
{
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- per host and hour ------------------------------------------------------ */

static int host_hour_row(sqlite3_stmt *st, void *fn, void *arg)
{
	struct store_host_hour h = {
		.host = text(st, 0),
		.hour = sqlite3_column_int64(st, 1),
		.successes = (uint64_t)sqlite3_column_int64(st, 2),
		.failures = (uint64_t)sqlite3_column_int64(st, 3),
		.events = (uint64_t)sqlite3_column_int64(st, 4),
		.resumed = (uint64_t)sqlite3_column_int64(st, 5),
		.resumed_failed = (uint64_t)sqlite3_column_int64(st, 6),
	};

	return ((store_host_hour_fn)fn)(arg, &h);
}

int store_host_hours(struct store *s, const struct store_query *f,
		     store_host_hour_fn fn, void *arg, char *err,
		     size_t errlen)
{
	struct sql q = { .nargs = 0 };
	sqlite3_stmt *st;

	if (f->network != NULL || f->app_version != NULL) {
		sql_add(&q, "SELECT host, hour, sum(successes), sum(failures), 0,"
			" sum(resumed), sum(resumed_failed) FROM counter WHERE 1");
		sql_text(&q, " AND network = ?", f->network);
		sql_text(&q, " AND app_version = ?", f->app_version);
	} else {
		sql_add(&q, "SELECT host, hour, successes, failures, events,"
			" resumed, resumed_failed FROM host_hour WHERE 1");
	}
	sql_text(&q, " AND host = ?", f->host);
	sql_hours(&q, f, "hour");
	if (f->network != NULL || f->app_version != NULL)
		sql_add(&q, " GROUP BY host, hour");
	sql_add(&q, " ORDER BY host, hour");
	if (sql_prepare(s, &q, &st, "read host_hour", err, errlen) < 0)
		return -1;
	return run(s, st, host_hour_row, (void *)fn, arg, "read host_hour",
		   err, errlen);
}

static int origin_row(sqlite3_stmt *st, void *fn, void *arg)
{
	struct store_origin_sum o = {
		.host = text(st, 0),
		.address = text(st, 1),
		.name = text(st, 2),
		.handshakes = (uint64_t)sqlite3_column_int64(st, 3),
	};

	return ((store_origin_fn)fn)(arg, &o);
}

int store_origin_sums(struct store *s, const struct store_query *f,
		      store_origin_fn fn, void *arg, char *err, size_t errlen)
{
	struct sql q = { .nargs = 0 };
	sqlite3_stmt *st;

	sql_add(&q, "SELECT o.host, g.address, g.name, sum(o.handshakes)"
		" FROM origin_hour o JOIN origin g ON g.id = o.origin_id"
		" WHERE 1");
	sql_text(&q, " AND o.host = ?", f->host);
	sql_hours(&q, f, "o.hour");
	sql_add(&q, " GROUP BY o.host, o.origin_id ORDER BY o.host");
	if (sql_prepare(s, &q, &st, "read origin_hour", err, errlen) < 0)
		return -1;
	return run(s, st, origin_row, (void *)fn, arg, "read origin_hour", err,
		   errlen);
}

static int name_row(sqlite3_stmt *st, void *fn, void *arg)
{
	return ((store_name_fn)fn)(arg, text(st, 0));
}

int store_failing_hosts(struct store *s, const struct store_query *f,
			store_host_hour_fn fn, void *arg, char *err,
			size_t errlen)
{
	struct sql q = { .nargs = 0 };
	sqlite3_stmt *st;

	if (f->network != NULL || f->app_version != NULL) {
		sql_add(&q, "SELECT host, 0, sum(successes), sum(failures),"
			" sum(failures) AS n, sum(resumed), sum(resumed_failed)"
			" FROM counter WHERE 1");
		sql_text(&q, " AND network = ?", f->network);
		sql_text(&q, " AND app_version = ?", f->app_version);
	} else {
		sql_add(&q, "SELECT host, 0, sum(successes), sum(failures),"
			" sum(events) AS n, sum(resumed), sum(resumed_failed)"
			" FROM host_hour WHERE 1");
	}
	sql_text(&q, " AND host = ?", f->host);
	sql_hours(&q, f, "hour");
	sql_add(&q, " GROUP BY host HAVING sum(failures) > 0 OR n > 0"
		" ORDER BY host");
	if (sql_prepare(s, &q, &st, "read hosts", err, errlen) < 0)
		return -1;
	return run(s, st, host_hour_row, (void *)fn, arg, "read hosts", err,
		   errlen);
}

int store_host_names(struct store *s, store_name_fn fn, void *arg,
		     char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT DISTINCT host FROM host_hour UNION"
		" SELECT DISTINCT host FROM failure ORDER BY 1";
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, err, errlen, "read hosts");
	return run(s, st, name_row, (void *)fn, arg, "read hosts", err,
		   errlen);
}

/* One integer from sql, with host bound to ?1 when not NULL. */
static int exists(struct store *s, const char *sql, const char *host,
		  char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, known = 0;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, err, errlen, "read hosts");
	if (host != NULL)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		known = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return store_fail(s, err, errlen, "read hosts");
	return known;
}

int store_has_data(struct store *s, char *err, size_t errlen)
{
	return exists(s, "SELECT EXISTS (SELECT 1 FROM counter)"
		      " OR EXISTS (SELECT 1 FROM failure)", NULL, err, errlen);
}

int store_host_known(struct store *s, const char *host, char *err,
		     size_t errlen)
{
	return exists(s, "SELECT EXISTS (SELECT 1 FROM counter WHERE host = ?1)"
		      " OR EXISTS (SELECT 1 FROM failure WHERE host = ?1)",
		      host, err, errlen);
}

/* ---- counters ----------------------------------------------------------------- */

static int counter_row(sqlite3_stmt *st, void *fn, void *arg)
{
	struct store_counter c = {
		.host = text(st, 0),
		.hour = sqlite3_column_int64(st, 1),
		.port = sqlite3_column_int(st, 2),
		.peer = text(st, 3),
		.network = text(st, 4),
		.network_fingerprint = text(st, 5),
		.app_version = text(st, 6),
		.libssl_version = text(st, 7),
		.os = text(st, 8),
		.chain_fp = blob32(st, 9),
		.clock = text(st, 10),
		.successes = (uint64_t)sqlite3_column_int64(st, 11),
		.failures = (uint64_t)sqlite3_column_int64(st, 12),
		.resumed = (uint64_t)sqlite3_column_int64(st, 13),
		.resumed_failed = (uint64_t)sqlite3_column_int64(st, 14),
	};

	return ((store_counter_fn)fn)(arg, &c);
}

int store_counters(struct store *s, const struct store_query *f,
		   store_counter_fn fn, void *arg, char *err, size_t errlen)
{
	struct sql q = { .nargs = 0 };
	sqlite3_stmt *st;

	sql_add(&q, "SELECT host, hour, port, peer, network,"
		" network_fingerprint, app_version, libssl_version, os,"
		" chain_fingerprint, clock, successes, failures, resumed,"
		" resumed_failed FROM counter WHERE 1");
	sql_text(&q, " AND host = ?", f->host);
	sql_text(&q, " AND network = ?", f->network);
	sql_text(&q, " AND app_version = ?", f->app_version);
	sql_hours(&q, f, "hour");
	if (sql_prepare(s, &q, &st, "read counters", err, errlen) < 0)
		return -1;
	return run(s, st, counter_row, (void *)fn, arg, "read counters", err,
		   errlen);
}

/* ---- failures by hour ------------------------------------------------------------- */

static int failure_hour_row(sqlite3_stmt *st, void *fn, void *arg)
{
	struct store_failure_hour f;
	int c = 0;

	f.failure_id = sqlite3_column_int64(st, c++);
	f.hour = sqlite3_column_int64(st, c++);
	f.count = (uint64_t)sqlite3_column_int64(st, c++);
	f.first_us = sqlite3_column_int64(st, c++);
	f.last_us = sqlite3_column_int64(st, c++);
	f.offset_min_s = sqlite3_column_int64(st, c++);
	f.offset_max_s = sqlite3_column_int64(st, c++);
	f.host = text(st, c++);
	f.kind = text(st, c++);
	f.decision = text(st, c++);
	f.mode = text(st, c++);
	f.peer = text(st, c++);
	f.matched = text(st, c++);
	f.port = sqlite3_column_int(st, c++);
	f.verify_error = sqlite3_column_int(st, c++);
	f.verify_error_text = text(st, c++);
	f.policy_version = text(st, c++);
	f.network = text(st, c++);
	f.network_fingerprint = text(st, c++);
	f.app_version = text(st, c++);
	f.libssl_version = text(st, c++);
	f.os = text(st, c++);
	f.hostname = text(st, c++);
	f.pins = text(st, c++);
	f.pinset_id = sqlite3_column_int64(st, c++);
	f.served_chain_id = sqlite3_column_int64(st, c++);
	f.built_chain_id = sqlite3_column_int64(st, c++);
	f.served_counter_fp = blob32(st, c++);
	return ((store_failure_hour_fn)fn)(arg, &f);
}

int store_failure_hours(struct store *s, const struct store_query *f,
			store_failure_hour_fn fn, void *arg, char *err,
			size_t errlen)
{
	struct sql q = { .nargs = 0 };
	sqlite3_stmt *st;

	/* os as the shim writes Counter.os: os_id, a space, os_version */
	sql_add(&q, "SELECT fh.failure_id, fh.hour, fh.count, fh.first_us,"
		" fh.last_us, fh.offset_min_s, fh.offset_max_s, f.host, f.kind,"
		" f.decision, f.mode, f.peer, f.matched, f.port,"
		" f.verify_error, f.verify_error_text, f.policy_version,"
		" coalesce(n.label, ''), coalesce(n.fingerprint, ''),"
		" coalesce(pr.app_version, ''), coalesce(p.libssl_version, ''),"
		" coalesce(p.os_id || CASE WHEN p.os_version = '' THEN ''"
		"   ELSE ' ' || p.os_version END, ''),"
		" coalesce(p.hostname, ''),"
		" coalesce(ps.pins, '[]'), coalesce(f.pinset_id, 0),"
		" coalesce(f.served_chain_id, 0), coalesce(f.built_chain_id, 0),"
		" c.counter_fp"
		" FROM failure f JOIN failure_hour fh ON fh.failure_id = f.id"
		" LEFT JOIN network n ON n.id = f.network_id"
		" LEFT JOIN process pr ON pr.id = f.process_id"
		" LEFT JOIN platform p ON p.id = f.platform_id"
		" LEFT JOIN pinset ps ON ps.id = f.pinset_id"
		" LEFT JOIN chain c ON c.id = f.served_chain_id"
		" WHERE 1");
	sql_text(&q, " AND f.host = ?", f->host);
	sql_text(&q, " AND f.kind = ?", f->kind);
	sql_text(&q, " AND f.mode = ?", f->mode);
	sql_text(&q, " AND n.label = ?", f->network);
	sql_text(&q, " AND pr.app_version = ?", f->app_version);
	sql_hours(&q, f, "fh.hour");
	/* one host's rows by failure (the viewer folds a failure's hours);
	 * every host's in any order: no sort over the whole table */
	if (f->by_host)
		sql_add(&q, " ORDER BY f.host, fh.failure_id, fh.hour");
	else if (f->host != NULL)
		sql_add(&q, " ORDER BY fh.failure_id, fh.hour");
	if (sql_prepare(s, &q, &st, "read failure_hour", err, errlen) < 0)
		return -1;
	return run(s, st, failure_hour_row, (void *)fn, arg,
		   "read failure_hour", err, errlen);
}

/* ---- chains ----------------------------------------------------------------------- */

int64_t store_chain_by_counter_fp(struct store *s, const uint8_t fp[32],
				  char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT id FROM chain WHERE counter_fp = ?"
		" ORDER BY verified DESC, id LIMIT 1";
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, err, errlen, "read chain");
	sqlite3_bind_blob(st, 1, fp, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, err, errlen, "read chain");
	return id;
}

int store_chain_read(struct store *s, int64_t id, store_chain_fn fn,
		     void *arg, char *err, size_t errlen)
{
	static const char head_sql[] =
		"SELECT fingerprint, counter_fp FROM chain WHERE id = ?";
	static const char certs_sql[] =
		"SELECT cc.position, c.subject, c.issuer, c.serial, c.pin,"
		" c.sha256, c.not_before, c.not_after, c.verified, c.conflict"
		" FROM chain_cert cc"
		" JOIN cert_shown c ON c.id = cc.cert_id"
		" WHERE cc.chain_id = ? ORDER BY cc.position";
	struct store_cert certs[WIRE_MAX_CHAIN];
	char *copy[WIRE_MAX_CHAIN][4] = { { NULL } };
	uint8_t sha[WIRE_MAX_CHAIN][32];
	struct store_chain_info ci = { .id = id, .certs = certs };
	sqlite3_stmt *head = NULL, *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(s->db, head_sql, -1, &head, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, certs_sql, -1, &st, NULL) != SQLITE_OK) {
		store_fail(s, err, errlen, "read chain");
		goto out;
	}
	sqlite3_bind_int64(head, 1, id);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(head) != SQLITE_ROW) {
		rc = 0;                 /* no such chain: nothing to report */
		goto out;
	}
	ci.fingerprint = blob32(head, 0);
	ci.counter_fp = blob32(head, 1);
	/* a row's texts last only until the next step: copy them */
	while (ci.n < WIRE_MAX_CHAIN && sqlite3_step(st) == SQLITE_ROW) {
		struct store_cert *c = &certs[ci.n];

		c->position = sqlite3_column_int(st, 0);
		c->subject = copy[ci.n][0] = strdup(text(st, 1));
		c->issuer = copy[ci.n][1] = strdup(text(st, 2));
		c->serial = copy[ci.n][2] = strdup(text(st, 3));
		c->pin = copy[ci.n][3] = strdup(text(st, 4));
		c->sha256 = NULL;
		if (blob32(st, 5) != NULL) {
			memcpy(sha[ci.n], blob32(st, 5), 32);
			c->sha256 = sha[ci.n];
		}
		c->not_before = sqlite3_column_int64(st, 6);
		c->not_after = sqlite3_column_int64(st, 7);
		c->verified = sqlite3_column_int(st, 8);
		c->conflict = sqlite3_column_int(st, 9);
		ci.n++;
		if (!c->subject || !c->issuer || !c->serial || !c->pin) {
			store_failf(s, err, errlen, "out of memory");
			goto out;
		}
	}
	rc = fn(arg, &ci);
out:
	for (size_t i = 0; i < ci.n; i++)
		for (int k = 0; k < 4; k++)
			free(copy[i][k]);
	sqlite3_finalize(head);
	sqlite3_finalize(st);
	return rc;
}
