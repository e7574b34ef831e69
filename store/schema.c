/* The database schema as an ordered list of migrations.  migrations[i]
 * turns a database of version i into version i + 1; PRAGMA user_version
 * holds the version, PRAGMA application_id marks the file as pinshim's.
 * To change the schema, append a migration and bump STORE_SCHEMA_VERSION:
 * never edit a released one.
 *
 * Version 1, the tables and why they look so:
 *
 *   record       one row per Event record, unique by its 16-byte id (UUIDv7:
 *                time-ordered, so the unique index grows at its end), with
 *                only what differs from record to record: times, count,
 *                repeat_of, who delivered it, and the failure it is an
 *                instance of.  count is the record's own count (0 on the
 *                wire means 1).  repeat_of is the id of the record a repeat
 *                adds to; the viewer sums repeats through a partial index,
 *                whatever order they came in.  sender_id: which connection
 *                delivered it; received_us: the collector's clock (for
 *                clock skew).  host is copied from the failure (the index
 *                by host is on failure).  A narrow row and two indexes:
 *                the insert is the writer's hot path.
 *   failure      everything else an event says (kind, decision, host, port,
 *                peer, policy, verify error, chains, platform, process,
 *                network, stack), stored once per distinct combination,
 *                keyed by a SHA-256 of all of it.  The enums are stored as
 *                their names ("pin_mismatch") so the database reads well in
 *                the sqlite3 shell.
 *   cert         one row per certificate, keyed by the SHA-256 of its DER
 *                (or of its fields when the sender had no hash); der is
 *                kept when a sender sent it and it hashes to that key.
 *   chain        one row per distinct chain: fingerprint = SHA-256 over the
 *                certificates' keys in order; chain_cert lists them.
 *   platform, process, network, pinset, sender
 *                stored once by a SHA-256 of their fields; lists are JSON.
 *   stack        one row per distinct call stack, its frames in stack_frame.
 *   counter_seen the ids of counter records already added (dedupe).
 *   counter      success/failure totals per hour and dimension.
 *   stats        the collector's statistics (store.h, STORE_STATS).
 *   event        a view: each record with its failure's fields, for queries
 *                by hand ("SELECT host, kind, count FROM event").
 *
 * Version 2, for the viewer's correlation (kept current by the writer, so
 * no report ever scans the records):
 *
 *   chain.counter_fp   Counter.chain_fingerprint of the chain (SHA-256 over
 *                the served certificates' SHA-1s), learnt from the
 *                senders' ChainSeen records: it ties the counters, which
 *                know a chain only by that fingerprint, to its certificates.
 *   dims, dims_client, counter_row
 *                the counters, normalised.  dims: the server's side of a
 *                counter's dimensions (host, port, peer, chain
 *                fingerprint), indexed by host (every report is per host);
 *                dims_client: the client's (network, network fingerprint,
 *                app, libssl, os); both stored once by a SHA-256 of their
 *                fields (keys.c).  counter_row: per dims row, client, hour
 *                and clock, the successes and failures, a narrow row; in
 *                that order so that a host's rows of one client come
 *                together (the view then finds the client once).  Version
 *                1's counter, a wide row of every dimension keyed by all of
 *                them, was most of the database: a fleet's clients each
 *                see few hours, so even each combination stored once
 *                would repeat the same hosts and networks in most rows.
 *                clock: 'ok', or 'ahead' / 'behind' when the counter's hour
 *                is more than a day off the collector's receive time (the
 *                client's clock is wrong, or, for 'behind', it was spooled
 *                that long).  The writer sums a transaction's counters in
 *                memory and upserts each row once at commit (rollup.c).
 *   counter      a view with version 1's columns and clock, for every
 *                reader ("SELECT sum(failures) FROM counter WHERE host =
 *                ?" finds the host's dims rows by their index, then their
 *                rows by counter_row's key).
 *   host_hour    per host and hour: successes and failures from the
 *                counters, events = failure events stored (records and
 *                their repeats' counts).  The overview and summary read
 *                only this.
 *   failure_hour per failure (the distinct event content) and hour: how
 *                many events, the first and last event time, and the range
 *                of the client clock's offset from the collector's receive
 *                time (event time - received, seconds).  diagnose reads
 *                this joined to failure, never record.
 *
 * Version 3: resumed handshakes.  counter_row, host_hour and the counter
 * view gain resumed (resumed handshakes: no chain, not in successes or
 * failures) and resumed_failed (of those, the ones whose session's full
 * handshake had failed; observe mode lets them resume).
 *
 * Version 4: a certificate that came with its DER is keyed by the DER's
 * SHA-256 and every field of its row is derived from the DER by the
 * collector (verified = 1); what a sender claims without DER is keyed by
 * a hash of the whole claim, so claims that differ are kept apart and none
 * shares a row with what a DER proves.  The view cert_shown is how every
 * reader sees a certificate: an unverified row shows the fields of the
 * verified row of the same SHA-256 when there is one, and conflict marks
 * a SHA-256 claimed with different fields.  chain.verified: every
 * certificate came with DER; such a chain's counter_fp is the collector's
 * own (SHA-256 over the DERs' SHA-1s) and outranks what a ChainSeen
 * claims.  The migration derives the fields of the rows that kept DER.
 * origin, origin_hour: who sent the counters.  An origin is a sender's
 * address without its port and its name without its process id
 * ("curl@client1" from "curl[4242]@client1": a machine's program, or with
 * pinshim-agent the machine); origin_hour sums per host, hour and origin
 * the handshakes (successes, failures, resumptions) and failures its
 * counters gave.  The writer refuses counters that would take one origin
 * past ROLLUP_ORIGIN_MAX_HOUR handshakes with one host in one hour, and
 * the viewer shows a host whose handshakes nearly all came from one
 * origin.
 *
 * The hour of a counter or event is the client's (Counter.hour, the event
 * time), except when the client's clock is more than a day off the
 * collector's: then it is the receive time's hour, so a skewed client's
 * handshakes land in the hour they happened.  For a record: |time_us -
 * received_us| > 86400 s; for a counter: its clock is not 'ok'.  An
 * offset is (time_us - received_us) / 1000000, rounded toward zero as
 * SQLite's integer division does; first_us is the least time_us, last_us
 * the greatest last_time_us; counts are record.count (repeats included).
 * The writer keeps both tables (store/rollup.c) equal to these aggregates
 * over record and counter; the migration computes them so from version 1
 * data.
 */
#include "internal.h"
#include "certinfo.h"

#include <stdio.h>
#include <string.h>

/* "PNSH": PRAGMA application_id of a pinshim database. */
#define STORE_APPLICATION_ID 0x504e5348

static const char *const migrations[] = {
	/* 0 → 1 */
	"CREATE TABLE cert ("
	"  id INTEGER PRIMARY KEY,"
	"  key BLOB NOT NULL UNIQUE,"
	"  sha256 BLOB,"
	"  subject TEXT NOT NULL, issuer TEXT NOT NULL, serial TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
	"  pin TEXT NOT NULL,"
	"  der BLOB);"
	"CREATE TABLE chain ("
	"  id INTEGER PRIMARY KEY,"
	"  fingerprint BLOB NOT NULL UNIQUE,"
	"  length INTEGER NOT NULL);"
	"CREATE TABLE chain_cert ("
	"  chain_id INTEGER NOT NULL REFERENCES chain,"
	"  position INTEGER NOT NULL,"
	"  cert_id INTEGER NOT NULL REFERENCES cert,"
	"  PRIMARY KEY (chain_id, position)) WITHOUT ROWID;"
	"CREATE TABLE platform ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  os_id TEXT NOT NULL, os_version TEXT NOT NULL, os_name TEXT NOT NULL,"
	"  kernel TEXT NOT NULL, arch TEXT NOT NULL,"
	"  libssl_version TEXT NOT NULL, host_id TEXT NOT NULL,"
	"  hostname TEXT NOT NULL);"
	"CREATE TABLE process ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  exe TEXT NOT NULL, build_id TEXT NOT NULL, app_version TEXT NOT NULL,"
	"  app_version_source TEXT NOT NULL, pid INTEGER NOT NULL,"
	"  argv0 TEXT NOT NULL);"
	"CREATE TABLE network ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  label TEXT NOT NULL, fingerprint TEXT NOT NULL, gateway TEXT NOT NULL,"
	"  subnet TEXT NOT NULL, resolvers TEXT NOT NULL,"
	"  proxy_vars TEXT NOT NULL, local_address TEXT NOT NULL);"
	"CREATE TABLE stack ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  depth INTEGER NOT NULL);"
	"CREATE TABLE stack_frame ("
	"  stack_id INTEGER NOT NULL REFERENCES stack,"
	"  depth INTEGER NOT NULL,"
	"  module TEXT NOT NULL, build_id TEXT NOT NULL,"
	"  offset INTEGER NOT NULL, symbol TEXT NOT NULL,"
	"  symbol_offset INTEGER NOT NULL,"
	"  PRIMARY KEY (stack_id, depth)) WITHOUT ROWID;"
	"CREATE TABLE pinset ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  pins TEXT NOT NULL);"
	"CREATE TABLE sender ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  address TEXT NOT NULL, name TEXT NOT NULL);"
	"CREATE TABLE failure ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL, decision TEXT NOT NULL, mode TEXT NOT NULL,"
	"  host TEXT NOT NULL, port INTEGER NOT NULL, peer TEXT NOT NULL,"
	"  policy_version TEXT NOT NULL,"
	"  pinset_id INTEGER REFERENCES pinset,"
	"  pinned INTEGER NOT NULL, matched TEXT NOT NULL,"
	"  pin_expired INTEGER NOT NULL,"
	"  verify_error INTEGER NOT NULL, verify_error_text TEXT NOT NULL,"
	"  tls_version TEXT NOT NULL, message TEXT NOT NULL,"
	"  served_chain_id INTEGER REFERENCES chain,"
	"  served_total INTEGER NOT NULL,"
	"  built_chain_id INTEGER REFERENCES chain,"
	"  built_total INTEGER NOT NULL,"
	"  platform_id INTEGER REFERENCES platform,"
	"  process_id INTEGER REFERENCES process,"
	"  network_id INTEGER REFERENCES network,"
	"  stack_id INTEGER REFERENCES stack);"
	"CREATE INDEX failure_host ON failure (host);"
	"CREATE TABLE record ("
	"  id INTEGER PRIMARY KEY,"
	"  uuid BLOB NOT NULL UNIQUE,"
	"  time_us INTEGER NOT NULL,"
	"  received_us INTEGER NOT NULL,"
	"  sender_id INTEGER NOT NULL REFERENCES sender,"
	"  failure_id INTEGER NOT NULL REFERENCES failure,"
	"  host TEXT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  last_time_us INTEGER NOT NULL,"
	"  repeat_of BLOB);"
	"CREATE INDEX record_time ON record (time_us);"
	"CREATE INDEX record_repeat_of ON record (repeat_of)"
	"  WHERE repeat_of IS NOT NULL;"
	"CREATE VIEW event AS SELECT r.id, r.uuid, r.time_us, r.received_us,"
	"  r.count, r.last_time_us, r.repeat_of, f.kind, f.decision, f.mode,"
	"  f.host, f.port, f.peer, f.policy_version, f.pinned, f.matched,"
	"  f.pin_expired, f.verify_error, f.verify_error_text, f.tls_version,"
	"  f.message, f.served_total, f.built_total, r.failure_id,"
	"  f.pinset_id, f.served_chain_id, f.built_chain_id, f.platform_id,"
	"  f.process_id, f.network_id, f.stack_id, r.sender_id"
	"  FROM record r JOIN failure f ON f.id = r.failure_id;"
	"CREATE TABLE counter_seen (id BLOB PRIMARY KEY) WITHOUT ROWID;"
	"CREATE TABLE counter ("
	"  hour INTEGER NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,"
	"  peer TEXT NOT NULL, network TEXT NOT NULL,"
	"  network_fingerprint TEXT NOT NULL, app_version TEXT NOT NULL,"
	"  libssl_version TEXT NOT NULL, os TEXT NOT NULL,"
	"  chain_fingerprint BLOB NOT NULL,"
	"  successes INTEGER NOT NULL, failures INTEGER NOT NULL,"
	"  PRIMARY KEY (hour, host, port, peer, network, network_fingerprint,"
	"    app_version, libssl_version, os, chain_fingerprint)) WITHOUT ROWID;"
	"CREATE TABLE stats ("
	"  name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
	/* 1 → 2: what the viewer correlates on, kept up to date at ingest. */
	"ALTER TABLE chain ADD COLUMN counter_fp BLOB;"
	"CREATE INDEX chain_counter_fp ON chain (counter_fp)"
	"  WHERE counter_fp IS NOT NULL;"
	"CREATE TABLE dims ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  host TEXT NOT NULL, port INTEGER NOT NULL, peer TEXT NOT NULL,"
	"  chain_fingerprint BLOB NOT NULL);"
	"CREATE INDEX dims_host ON dims (host);"
	"CREATE TABLE dims_client ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  network TEXT NOT NULL, network_fingerprint TEXT NOT NULL,"
	"  app_version TEXT NOT NULL, libssl_version TEXT NOT NULL,"
	"  os TEXT NOT NULL);"
	"CREATE TABLE counter_row ("
	"  dims_id INTEGER NOT NULL REFERENCES dims,"
	"  client_id INTEGER NOT NULL REFERENCES dims_client,"
	"  hour INTEGER NOT NULL, clock TEXT NOT NULL,"
	"  successes INTEGER NOT NULL, failures INTEGER NOT NULL,"
	"  PRIMARY KEY (dims_id, client_id, hour, clock)) WITHOUT ROWID;"
	/* version 1's counters, keyed as the writer keys them (put.c); the
	 * DISTINCTs hold only the distinct values in memory */
	"INSERT INTO dims (key, host, port, peer, chain_fingerprint)"
	"  SELECT pinshim_dims_key(host, port, peer, chain_fingerprint), *"
	"  FROM (SELECT DISTINCT host, port, peer, chain_fingerprint"
	"    FROM counter) ORDER BY host;"
	"INSERT INTO dims_client (key, network, network_fingerprint,"
	"  app_version, libssl_version, os)"
	"  SELECT pinshim_client_key(network, network_fingerprint,"
	"    app_version, libssl_version, os), *"
	"  FROM (SELECT DISTINCT network, network_fingerprint, app_version,"
	"    libssl_version, os FROM counter);"
	"INSERT INTO counter_row SELECT d.id, c.id, k.hour, 'ok', k.successes,"
	"  k.failures FROM counter k"
	"  JOIN dims d ON d.key = pinshim_dims_key(k.host, k.port, k.peer,"
	"    k.chain_fingerprint)"
	"  JOIN dims_client c ON c.key = pinshim_client_key(k.network,"
	"    k.network_fingerprint, k.app_version, k.libssl_version, k.os);"
	"DROP TABLE counter;"
	"CREATE VIEW counter AS SELECT r.hour AS hour, d.host AS host,"
	"  d.port AS port, d.peer AS peer, c.network AS network,"
	"  c.network_fingerprint AS network_fingerprint,"
	"  c.app_version AS app_version, c.libssl_version AS libssl_version,"
	"  c.os AS os, d.chain_fingerprint AS chain_fingerprint,"
	"  r.clock AS clock, r.successes AS successes, r.failures AS failures"
	"  FROM counter_row r JOIN dims d ON d.id = r.dims_id"
	"  JOIN dims_client c ON c.id = r.client_id;"
	"CREATE TABLE host_hour ("
	"  host TEXT NOT NULL, hour INTEGER NOT NULL,"
	"  successes INTEGER NOT NULL, failures INTEGER NOT NULL,"
	"  events INTEGER NOT NULL,"
	"  PRIMARY KEY (host, hour)) WITHOUT ROWID;"
	"CREATE INDEX host_hour_hour ON host_hour (hour);"
	"CREATE TABLE failure_hour ("
	"  failure_id INTEGER NOT NULL REFERENCES failure,"
	"  hour INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  first_us INTEGER NOT NULL, last_us INTEGER NOT NULL,"
	"  offset_min_s INTEGER NOT NULL, offset_max_s INTEGER NOT NULL,"
	"  PRIMARY KEY (failure_id, hour)) WITHOUT ROWID;"
	"INSERT INTO host_hour SELECT host, hour, sum(successes),"
	"  sum(failures), 0 FROM counter GROUP BY host, hour;"
	/* the records stored so far, as the writer adds them (rollup.c) */
	"CREATE TEMP VIEW record_hour AS SELECT failure_id, host, count,"
	"  time_us, last_time_us, (time_us - received_us) / 1000000 AS off,"
	"  CASE WHEN abs(time_us - received_us) > 86400000000"
	"    THEN received_us / 1000000 / 3600 * 3600"
	"    ELSE time_us / 1000000 / 3600 * 3600 END AS hour FROM record;"
	"INSERT INTO failure_hour SELECT failure_id, hour, sum(count),"
	"  min(time_us), max(last_time_us), min(off), max(off)"
	"  FROM record_hour GROUP BY failure_id, hour;"
	"INSERT INTO host_hour SELECT host, hour, 0, 0, sum(count)"
	"  FROM record_hour WHERE true GROUP BY host, hour"
	"  ON CONFLICT DO UPDATE SET events = events + excluded.events;"
	"DROP VIEW record_hour;",
	/* 2 → 3: resumed handshakes, which have no chain to verify */
	"ALTER TABLE counter_row ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE counter_row ADD COLUMN resumed_failed INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE host_hour ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE host_hour ADD COLUMN resumed_failed INTEGER NOT NULL"
	"  DEFAULT 0;"
	"DROP VIEW counter;"
	"CREATE VIEW counter AS SELECT r.hour AS hour, d.host AS host,"
	"  d.port AS port, d.peer AS peer, c.network AS network,"
	"  c.network_fingerprint AS network_fingerprint,"
	"  c.app_version AS app_version, c.libssl_version AS libssl_version,"
	"  c.os AS os, d.chain_fingerprint AS chain_fingerprint,"
	"  r.clock AS clock, r.successes AS successes, r.failures AS failures,"
	"  r.resumed AS resumed, r.resumed_failed AS resumed_failed"
	"  FROM counter_row r JOIN dims d ON d.id = r.dims_id"
	"  JOIN dims_client c ON c.id = r.client_id;",
	/* 3 → 4: certificates' fields from their DER, claims apart */
	"ALTER TABLE cert ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE chain ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;"
	"UPDATE cert SET subject = pinshim_der(der, 'subject'),"
	"  issuer = pinshim_der(der, 'issuer'),"
	"  serial = pinshim_der(der, 'serial'), pin = pinshim_der(der, 'pin'),"
	"  not_before = pinshim_der(der, 'not_before'),"
	"  not_after = pinshim_der(der, 'not_after'), verified = 1"
	"  WHERE der IS NOT NULL AND pinshim_der(der, 'subject') IS NOT NULL"
	"  AND sha256 = pinshim_der(der, 'sha256');"
	"UPDATE chain SET verified = 1 WHERE NOT EXISTS (SELECT 1"
	"  FROM chain_cert cc JOIN cert c ON c.id = cc.cert_id"
	"  WHERE cc.chain_id = chain.id AND NOT c.verified);"
	"CREATE INDEX cert_by_sha256 ON cert (sha256) WHERE sha256 IS NOT NULL;"
	"CREATE VIEW cert_shown AS SELECT c.id AS id, c.sha256 AS sha256,"
	"  coalesce(v.subject, c.subject) AS subject,"
	"  coalesce(v.issuer, c.issuer) AS issuer,"
	"  coalesce(v.serial, c.serial) AS serial,"
	"  coalesce(v.not_before, c.not_before) AS not_before,"
	"  coalesce(v.not_after, c.not_after) AS not_after,"
	"  coalesce(v.pin, c.pin) AS pin,"
	"  c.verified OR v.id IS NOT NULL AS verified,"
	"  EXISTS (SELECT 1 FROM cert o WHERE o.sha256 = c.sha256"
	"    AND o.id <> c.id AND (o.pin <> c.pin OR o.subject <> c.subject"
	"    OR o.issuer <> c.issuer OR o.serial <> c.serial"
	"    OR o.not_before <> c.not_before OR o.not_after <> c.not_after))"
	"    AS conflict"
	"  FROM cert c LEFT JOIN cert v ON v.sha256 = c.sha256 AND v.verified"
	"  AND NOT c.verified;"
	"CREATE TABLE origin ("
	"  id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,"
	"  address TEXT NOT NULL, name TEXT NOT NULL);"
	"CREATE TABLE origin_hour ("
	"  host TEXT NOT NULL, hour INTEGER NOT NULL,"
	"  origin_id INTEGER NOT NULL REFERENCES origin,"
	"  handshakes INTEGER NOT NULL, failures INTEGER NOT NULL,"
	"  PRIMARY KEY (host, hour, origin_id)) WITHOUT ROWID;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
	       STORE_SCHEMA_VERSION, "one migration per schema version");

static int pragma_int(struct store *s, const char *sql, int *out, char *err,
		      size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return store_fail(s, err, errlen, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return store_fail(s, err, errlen, sql);
	return 0;
}

/* The file's version; -1 with err set when it is not a pinshim database
 * (another program's SQLite file: tables, and not our application id). */
static int version_of(struct store *s, int *version, char *err,
		      size_t errlen)
{
	int app, tables;

	if (pragma_int(s, "PRAGMA user_version", version, err, errlen) < 0 ||
	    pragma_int(s, "PRAGMA application_id", &app, err, errlen) < 0 ||
	    pragma_int(s, "SELECT count(*) FROM sqlite_schema", &tables, err,
		       errlen) < 0)
		return -1;
	if (app != STORE_APPLICATION_ID && (tables > 0 || *version != 0))
		return store_failf(s, err, errlen,
				   "not a pinshim database (application id "
				   "0x%08x)", (unsigned)app);
	return 0;
}

static int refuse(struct store *s, int version, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "db %s has schema version %d, this build reads %d%s",
		 s->path, version, STORE_SCHEMA_VERSION,
		 version < STORE_SCHEMA_VERSION && s->mode == STORE_READ
		 ? " (pinshim-collector upgrades it)" : "");
	return -1;
}

int store_schema_check(struct store *s, char *err, size_t errlen)
{
	int version = 0;

	if (version_of(s, &version, err, errlen) < 0)
		return -1;
	if (version != STORE_SCHEMA_VERSION)
		return refuse(s, version, err, errlen);
	return 0;
}

static const char *value_text(sqlite3_value *v)
{
	const char *t = (const char *)sqlite3_value_text(v);

	return t != NULL ? t : "";
}

/* pinshim_dims_key(host, port, peer, chain_fingerprint) and
 * pinshim_client_key(network, network_fingerprint, app_version,
 * libssl_version, os): the keys of dims and dims_client rows as the writer
 * computes them, for the migration to version 2. */
static void key_result(sqlite3_context *ctx, int rc, const uint8_t key[32])
{
	if (rc < 0)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_blob(ctx, key, 32, SQLITE_TRANSIENT);
}

static void dims_key(sqlite3_context *ctx, int argc, sqlite3_value **v)
{
	struct store_dims d = {
		.host = value_text(v[0]),
		.port = sqlite3_value_int64(v[1]),
		.peer = value_text(v[2]),
		.chain_fp = sqlite3_value_blob(v[3]),
		.chain_fp_len = (size_t)sqlite3_value_bytes(v[3]),
	};
	uint8_t key[32];

	(void)argc;
	key_result(ctx, keys_dims(sqlite3_user_data(ctx), &d, key), key);
}

static void client_key(sqlite3_context *ctx, int argc, sqlite3_value **v)
{
	struct store_client c = {
		.network = value_text(v[0]),
		.network_fingerprint = value_text(v[1]),
		.app_version = value_text(v[2]),
		.libssl_version = value_text(v[3]),
		.os = value_text(v[4]),
	};
	uint8_t key[32];

	(void)argc;
	key_result(ctx, keys_client(sqlite3_user_data(ctx), &c, key), key);
}

/* pinshim_der(der, field): a field of the certificate in der as the
 * writer derives it (certinfo.h), NULL when der is not one. */
static void der_field(sqlite3_context *ctx, int argc, sqlite3_value **v)
{
	const char *field = value_text(v[1]);
	char pin[PIN_STRLEN];
	struct certinfo ci;

	(void)argc;
	if (sqlite3_value_type(v[0]) != SQLITE_BLOB || !ossl_resolve() ||
	    certinfo_from_der(sqlite3_value_blob(v[0]),
			      (size_t)sqlite3_value_bytes(v[0]), &ci) < 0)
		sqlite3_result_null(ctx);
	else if (strcmp(field, "subject") == 0)
		sqlite3_result_text(ctx, ci.subject, -1, SQLITE_TRANSIENT);
	else if (strcmp(field, "issuer") == 0)
		sqlite3_result_text(ctx, ci.issuer, -1, SQLITE_TRANSIENT);
	else if (strcmp(field, "serial") == 0)
		sqlite3_result_text(ctx, ci.serial, -1, SQLITE_TRANSIENT);
	else if (strcmp(field, "not_before") == 0)
		sqlite3_result_int64(ctx, ci.not_before);
	else if (strcmp(field, "not_after") == 0)
		sqlite3_result_int64(ctx, ci.not_after);
	else if (strcmp(field, "sha256") == 0)
		sqlite3_result_blob(ctx, ci.sha256, 32, SQLITE_TRANSIENT);
	else if (strcmp(field, "pin") == 0 && ci.has_spki)
		sqlite3_result_text(ctx, (pin_format(&ci.spki, pin), pin), -1,
				    SQLITE_TRANSIENT);
	else
		sqlite3_result_text(ctx, "", -1, SQLITE_STATIC);
}

/* Registers (add) or removes them. */
static int key_functions(struct store *s, struct store_hasher *h, bool add)
{
	int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;

	if (sqlite3_create_function(s->db, "pinshim_der", 2, flags, NULL,
				    add ? der_field : NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_create_function(s->db, "pinshim_dims_key", 4, flags, h,
				    add ? dims_key : NULL, NULL, NULL) !=
	    SQLITE_OK ||
	    sqlite3_create_function(s->db, "pinshim_client_key", 5, flags, h,
				    add ? client_key : NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	return 0;
}

static int migrate(struct store *s, struct store_hasher *h, char *err,
		   size_t errlen)
{
	char sql[128];
	int version = 0;

	if (key_functions(s, h, true) < 0)
		return store_fail(s, err, errlen, "key functions");
	if (store_exec(s, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (version_of(s, &version, err, errlen) < 0)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		refuse(s, version, err, errlen);
		goto fail;
	}
	for (int v = version; v < STORE_SCHEMA_VERSION; v++)
		if (store_exec(s, migrations[v], err, errlen) < 0)
			goto fail;
	snprintf(sql, sizeof(sql),
		 "PRAGMA user_version = %d; PRAGMA application_id = %d",
		 STORE_SCHEMA_VERSION, STORE_APPLICATION_ID);
	if (store_exec(s, sql, err, errlen) < 0 ||
	    store_exec(s, "COMMIT", err, errlen) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Applies every migration the file lacks, in one transaction: a crash
 * half-way leaves the old version, never a mix.  The migrations may call
 * the key functions, registered for the while. */
int store_schema_migrate(struct store *s, char *err, size_t errlen)
{
	struct store_hasher *h = store_hasher_new();
	int rc;

	if (h == NULL)
		return store_failf(s, err, errlen, "cannot set up SHA-256");
	rc = migrate(s, h, err, errlen);
	key_functions(s, h, false);
	store_hasher_free(h);
	return rc;
}
