/* Storing a batch: each event becomes one INSERT into event, after its
 * repeating parts (chains, certificates, platform, process, network,
 * stack, pins, sender) are found in the writer's caches by their content
 * keys (store_prepare computed them), or decoded and inserted once.
 * Counters are deduped by id, their dimensions found or stored once (dims,
 * dims_client), and summed per row of counter_row until the commit
 * (rollup.c).  A ChainSeen
 * finds or stores its chain like an event's served chain and gives it its
 * counter fingerprint.  What is newly stored is added to the rollups
 * (rollup.c).  The batch was checked by store_prepare: nothing here
 * refuses content. */
#include "internal.h"
#include "certinfo.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static const char *const sql[] = {
#define SQL(name, text) [offsetof(struct store_stmts, name) / \
			 sizeof(sqlite3_stmt *)] = text
	SQL(event_insert,
	    "INSERT OR IGNORE INTO record (uuid, time_us, received_us,"
	    " sender_id, failure_id, host, count, last_time_us, repeat_of)"
	    " VALUES (?,?,?,?,?,?,?,?,?)"),
	SQL(failure_insert,
	    "INSERT OR IGNORE INTO failure (key, kind, decision, mode, host,"
	    " port, peer, policy_version, pinset_id, pinned, matched,"
	    " pin_expired, verify_error, verify_error_text, tls_version,"
	    " message, served_chain_id, served_total, built_chain_id,"
	    " built_total, platform_id, process_id, network_id, stack_id)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
	SQL(failure_find, "SELECT id FROM failure WHERE key = ?"),
	SQL(counter_seen, "INSERT OR IGNORE INTO counter_seen (id) VALUES (?)"),
	SQL(dims_insert,
	    "INSERT OR IGNORE INTO dims (key, host, port, peer,"
	    " chain_fingerprint) VALUES (?,?,?,?,?)"),
	SQL(dims_find, "SELECT id FROM dims WHERE key = ?"),
	SQL(client_insert,
	    "INSERT OR IGNORE INTO dims_client (key, network,"
	    " network_fingerprint, app_version, libssl_version, os)"
	    " VALUES (?,?,?,?,?,?)"),
	SQL(client_find, "SELECT id FROM dims_client WHERE key = ?"),
	SQL(stats_put,
	    "INSERT OR REPLACE INTO stats (name, value) VALUES (?,?)"),
	SQL(cert_insert,
	    "INSERT OR IGNORE INTO cert (key, sha256, subject, issuer, serial,"
	    " not_before, not_after, pin, der, verified)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?)"),
	SQL(cert_find, "SELECT id, verified FROM cert WHERE key = ?"),
	SQL(cert_verify, "UPDATE cert SET sha256 = ?2, subject = ?3, issuer = ?4,"
	    " serial = ?5, not_before = ?6, not_after = ?7, pin = ?8, der = ?9,"
	    " verified = 1 WHERE id = ?1 AND NOT verified"),
	SQL(chain_insert,
	    "INSERT OR IGNORE INTO chain (fingerprint, length, verified)"
	    " VALUES (?,?,?)"),
	SQL(chain_find, "SELECT id FROM chain WHERE fingerprint = ?"),
	SQL(chain_cert, "INSERT OR IGNORE INTO chain_cert (chain_id, position,"
	    " cert_id) VALUES (?,?,?)"),
	SQL(platform_insert,
	    "INSERT OR IGNORE INTO platform (key, os_id, os_version, os_name,"
	    " kernel, arch, libssl_version, host_id, hostname)"
	    " VALUES (?,?,?,?,?,?,?,?,?)"),
	SQL(platform_find, "SELECT id FROM platform WHERE key = ?"),
	SQL(process_insert,
	    "INSERT OR IGNORE INTO process (key, exe, build_id, app_version,"
	    " app_version_source, pid, argv0) VALUES (?,?,?,?,?,?,?)"),
	SQL(process_find, "SELECT id FROM process WHERE key = ?"),
	SQL(network_insert,
	    "INSERT OR IGNORE INTO network (key, label, fingerprint, gateway,"
	    " subnet, resolvers, proxy_vars, local_address)"
	    " VALUES (?,?,?,?,?,?,?,?)"),
	SQL(network_find, "SELECT id FROM network WHERE key = ?"),
	SQL(stack_insert,
	    "INSERT OR IGNORE INTO stack (key, depth) VALUES (?,?)"),
	SQL(stack_find, "SELECT id FROM stack WHERE key = ?"),
	SQL(stack_frame,
	    "INSERT OR IGNORE INTO stack_frame (stack_id, depth, module,"
	    " build_id, offset, symbol, symbol_offset) VALUES (?,?,?,?,?,?,?)"),
	SQL(pinset_insert,
	    "INSERT OR IGNORE INTO pinset (key, pins) VALUES (?,?)"),
	SQL(pinset_find, "SELECT id FROM pinset WHERE key = ?"),
	SQL(sender_insert,
	    "INSERT OR IGNORE INTO sender (key, address, name) VALUES (?,?,?)"),
	SQL(sender_find, "SELECT id FROM sender WHERE key = ?"),
	SQL(origin_insert,
	    "INSERT OR IGNORE INTO origin (key, address, name) VALUES (?,?,?)"),
	SQL(origin_find, "SELECT id FROM origin WHERE key = ?"),
	SQL(chain_counter_fp, "UPDATE chain SET counter_fp = ?"
	    " WHERE id = ? AND counter_fp IS NULL AND NOT verified"),
	SQL(chain_counter_fp_der, "UPDATE chain SET counter_fp = ?"
	    " WHERE id = ?"),
	SQL(begin, "BEGIN IMMEDIATE"),
	SQL(commit, "COMMIT"),
	SQL(rollback, "ROLLBACK"),
	SQL(savepoint, "SAVEPOINT batch"),
	SQL(release, "RELEASE batch"),
	SQL(rollback_to, "ROLLBACK TO batch"),
#undef SQL
};

int store_put_prepare(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt **st = (sqlite3_stmt **)&s->st;

	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (sqlite3_prepare_v3(s->db, sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &st[i],
				       NULL) != SQLITE_OK)
			return store_fail(s, err, errlen, sql[i]);
	s->rollup = rollup_new(s, err, errlen);
	return s->rollup != NULL ? 0 : -1;
}

/* ---- normalised rows ----------------------------------------------------- */

static const char *str(const char *p)
{
	return p != NULL ? p : "";
}

static void bind_str(sqlite3_stmt *st, int i, const char *p)
{
	sqlite3_bind_text(st, i, str(p), -1, SQLITE_STATIC);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	sqlite3_bind_blob(st, i, n > 0 ? p : "", (int)n, SQLITE_STATIC);
}

static void bind_id(sqlite3_stmt *st, int i, int64_t id)
{
	if (id != 0)
		sqlite3_bind_int64(st, i, id);
	else
		sqlite3_bind_null(st, i);
}

/* Binds a normalised row's fields from parameter 2 on (1 is its key). */
typedef void (*bind_fn)(sqlite3_stmt *st, const void *obj);

/* The rowid of the row whose content hashes to key: from the cache, else
 * inserted (ins, with bind) or found (find).  *created tells whether it is
 * new, so child rows (chain certificates, stack frames) follow it. */
static int norm_row(struct store *s, enum norm t, const uint8_t key[32],
		    sqlite3_stmt *ins, sqlite3_stmt *find, bind_fn bind,
		    const void *obj, int64_t *rowid, bool *created, char *err,
		    size_t errlen)
{
	struct cache_slot *c = cache_find(&s->cache[t], key);
	int rc;

	*created = false;
	if (c != NULL) {
		*rowid = c->rowid;
		return 0;
	}
	sqlite3_bind_blob(ins, 1, key, 32, SQLITE_STATIC);
	bind(ins, obj);
	if (store_step_done(s, ins, "insert", err, errlen) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 1) {
		*rowid = sqlite3_last_insert_rowid(s->db);
		*created = true;
	} else {
		sqlite3_bind_blob(find, 1, key, 32, SQLITE_STATIC);
		rc = sqlite3_step(find);
		*rowid = rc == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
		sqlite3_reset(find);
		if (rc != SQLITE_ROW)
			return store_fail(s, err, errlen, "lookup");
	}
	cache_put(&s->cache[t], key, *rowid, 0);
	return 0;
}

/* JSON array text of a string list (pins, resolvers, proxy variables). */
static char *json_list(char **v, size_t n)
{
	json_object *a = json_object_new_array();
	char *out;

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(str(v[i])));
	out = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return out;
}

/* ---- decoding a part the database lacks ----------------------------------- */

/* ---- certificates and chains --------------------------------------------- */

#define CERT_VERIFIED 1u

/* A certificate's row as the database keeps it: with DER, every field is
 * derived from the DER here (what the sender claims beside it is not
 * read); without, the sender's claims, marked unverified. */
struct cert_row {
	uint8_t sha256[32];
	const uint8_t *sha256_p;        /* NULL: none known */
	const char *subject, *issuer, *serial, *pin;
	int64_t not_before, not_after;
	const ProtobufCBinaryData *der; /* NULL: none */
	char pin_text[PIN_STRLEN];
	struct certinfo ci;
};

/* 0, or -1 when the DER is not a certificate (store_prepare refused
 * those: a batch that reaches here with one is refused too). */
static int cert_fields(const Pinshim__Cert *c, struct cert_row *r)
{
	memset(r, 0, sizeof(*r));
	if (c->der.len == 0) {
		r->sha256_p = c->sha256.len == 32 ? c->sha256.data : NULL;
		r->subject = str(c->subject);
		r->issuer = str(c->issuer);
		r->serial = str(c->serial);
		r->pin = str(c->pin);
		r->not_before = c->not_before;
		r->not_after = c->not_after;
		return 0;
	}
	if (certinfo_from_der(c->der.data, c->der.len, &r->ci) < 0)
		return -1;
	if (r->ci.has_spki)
		pin_format(&r->ci.spki, r->pin_text);
	memcpy(r->sha256, r->ci.sha256, 32);
	r->sha256_p = r->sha256;
	r->subject = r->ci.subject;
	r->issuer = r->ci.issuer;
	r->serial = r->ci.serial;
	r->pin = r->pin_text;
	r->not_before = r->ci.not_before;
	r->not_after = r->ci.not_after;
	r->der = &c->der;
	return 0;
}

/* Parameters 2.. of cert_insert and cert_verify (1 is the key, or the
 * row's id). */
static void bind_cert(sqlite3_stmt *st, const void *obj)
{
	const struct cert_row *r = obj;

	if (r->sha256_p != NULL)
		sqlite3_bind_blob(st, 2, r->sha256_p, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	bind_str(st, 3, r->subject);
	bind_str(st, 4, r->issuer);
	bind_str(st, 5, r->serial);
	sqlite3_bind_int64(st, 6, r->not_before);
	sqlite3_bind_int64(st, 7, r->not_after);
	bind_str(st, 8, r->pin);
	if (r->der != NULL)
		bind_blob(st, 9, r->der->data, r->der->len);
	else
		sqlite3_bind_null(st, 9);
	if (sqlite3_bind_parameter_count(st) >= 10)
		sqlite3_bind_int(st, 10, r->der != NULL);
}

/* A row that held only claims (keyed by its SHA-256 before schema 4)
 * takes the fields of the DER that came for it. */
static int cert_verify(struct store *s, struct cache_slot *slot,
		       const struct cert_row *r, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st.cert_verify;

	if ((slot->flags & CERT_VERIFIED) || r->der == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, slot->rowid);
	bind_cert(st, r);
	if (store_step_done(s, st, "cert verify", err, errlen) < 0)
		return -1;
	slot->flags |= CERT_VERIFIED;
	return 0;
}

static int cert_row(struct store *s, const Pinshim__Cert *c,
		    const uint8_t key[32], int64_t *rowid, char *err,
		    size_t errlen)
{
	struct cache_slot *slot = cache_find(&s->cache[NORM_CERT], key);
	sqlite3_stmt *find = s->st.cert_find;
	struct cert_row r;
	bool created;

	if (slot != NULL && (slot->flags & CERT_VERIFIED || c->der.len == 0)) {
		*rowid = slot->rowid;
		return 0;
	}
	if (cert_fields(c, &r) < 0)
		return store_failf(s, err, errlen, "a certificate that "
				   "store_prepare accepted does not parse");
	if (slot == NULL) {
		if (norm_row(s, NORM_CERT, key, s->st.cert_insert, find,
			     bind_cert, &r, rowid, &created, err, errlen) < 0)
			return -1;
		slot = cache_find(&s->cache[NORM_CERT], key);
		if (slot == NULL)
			return 0;
		if (created) {
			slot->flags = r.der != NULL ? CERT_VERIFIED : 0;
			return 0;
		}
		/* stored by an earlier run: verified? */
		sqlite3_bind_blob(find, 1, key, 32, SQLITE_STATIC);
		if (sqlite3_step(find) == SQLITE_ROW &&
		    sqlite3_column_int(find, 1))
			slot->flags |= CERT_VERIFIED;
		sqlite3_reset(find);
	}
	*rowid = slot->rowid;
	return cert_verify(s, slot, &r, err, errlen);
}

struct chain_in {
	Pinshim__Cert **certs;
	size_t n;
	uint8_t (*keys)[32];
};

/* Every certificate of the chain came with its DER. */
static bool chain_verified(const struct chain_in *in)
{
	for (size_t i = 0; i < in->n; i++)
		if (in->certs[i]->der.len == 0)
			return false;
	return in->n > 0;
}

static void bind_chain(sqlite3_stmt *st, const void *obj)
{
	const struct chain_in *in = obj;

	sqlite3_bind_int64(st, 2, (int64_t)in->n);
	sqlite3_bind_int(st, 3, chain_verified(in));
}

static int chain_certs(struct store *s, const struct chain_in *in,
		       int64_t chain_id, bool created, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = s->st.chain_cert;

	for (size_t i = 0; i < in->n; i++) {
		int64_t cert_id = 0;    /* set when cert_row returns 0 */

		if (cert_row(s, in->certs[i], in->keys[i], &cert_id, err,
			     errlen) < 0)
			return -1;
		if (!created)
			continue;
		sqlite3_bind_int64(st, 1, chain_id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_int64(st, 3, cert_id);
		if (store_step_done(s, st, "chain cert", err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The counters' fingerprint of a chain whose certificates all came with
 * their DER, as the shim computes it (shim/chain.c: SHA-256 over the
 * certificates' SHA-1s, the first WIRE_MAX_CHAIN of the total served):
 * the collector's own, so that no sender can tie counters to a chain it
 * did not see served.  false when it cannot be computed. */
static bool der_counter_fp(struct store *s, const struct chain_in *in,
			   size_t total, uint8_t out[32])
{
	uint8_t sha1s[WIRE_MAX_CHAIN * 20];
	size_t want = total < WIRE_MAX_CHAIN ? total : WIRE_MAX_CHAIN;

	if (in->n == 0 || in->n != want || !chain_verified(in))
		return false;
	for (size_t i = 0; i < in->n; i++)
		if (!EVP_Digest(in->certs[i]->der.data, in->certs[i]->der.len,
				sha1s + 20 * i, NULL, EVP_sha1(), NULL))
			return false;
	return keys_sha256(s->h, sha1s, 20 * in->n, out) == 0;
}

static int set_der_counter_fp(struct store *s, const struct chain_in *in,
			      size_t total, int64_t chain, char *err,
			      size_t errlen)
{
	sqlite3_stmt *st = s->st.chain_counter_fp_der;
	uint8_t fp[32];

	if (total == 0 || !der_counter_fp(s, in, total, fp))
		return 0;
	sqlite3_bind_blob(st, 1, fp, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, chain);
	return store_step_done(s, st, "chain counter_fp", err, errlen);
}

/* The chain's rowid (0 for an empty chain), by its fingerprint fp: one
 * cache lookup when known, else its certificates are decoded and stored
 * (or given the fields of the DER they lacked).  total: the certificates
 * the peer served (0 for a chain that is not a served one): a new chain
 * whose DER is all there gets the counters' fingerprint computed here. */
static int chain_row(struct store *s, const ProtobufCBinaryData *raw,
		     size_t n, size_t total, const uint8_t fp[32],
		     int64_t *rowid, char *err, size_t errlen)
{
	uint8_t keys[WIRE_MAX_CHAIN][32], check[32];
	struct cache_slot *slot;
	struct chain_in in;
	ProtobufCMessage **m;
	bool created;
	int rc = -1;

	*rowid = 0;
	if (n == 0)
		return 0;
	slot = cache_find(&s->cache[NORM_CHAIN], fp);
	if (slot != NULL) {
		*rowid = slot->rowid;
		return 0;
	}
	m = store_decode_parts(raw, n, (unpack_fn)pinshim__cert__unpack);
	if (m == NULL || n > WIRE_MAX_CHAIN)
		goto out;
	in = (struct chain_in){ (Pinshim__Cert **)m, n, keys };
	if (keys_chain(s->h, in.certs, n, keys, check) < 0 ||
	    memcmp(check, fp, 32) != 0)
		goto out;
	if (norm_row(s, NORM_CHAIN, fp, s->st.chain_insert, s->st.chain_find,
		     bind_chain, &in, rowid, &created, err, errlen) == 0 &&
	    chain_certs(s, &in, *rowid, created, err, errlen) == 0 &&
	    set_der_counter_fp(s, &in, total, *rowid, err, errlen) == 0)
		rc = 0;
	store_free_parts(m, n);
	return rc;
out:
	store_free_parts(m, n);
	return store_failf(s, err, errlen, "a chain that store_prepare "
			   "accepted does not decode alike");
}

/* ---- platform, process, network, stack, pins, sender --------------------- */

static void bind_platform(sqlite3_stmt *st, const void *obj)
{
	const Pinshim__Platform *p = obj;

	bind_str(st, 2, p->os_id);
	bind_str(st, 3, p->os_version);
	bind_str(st, 4, p->os_name);
	bind_str(st, 5, p->kernel);
	bind_str(st, 6, p->arch);
	bind_str(st, 7, p->libssl_version);
	bind_str(st, 8, p->host_id);
	bind_str(st, 9, p->hostname);
}

static void bind_process(sqlite3_stmt *st, const void *obj)
{
	const Pinshim__Process *p = obj;

	bind_str(st, 2, p->exe);
	bind_str(st, 3, p->build_id);
	bind_str(st, 4, p->app_version);
	bind_str(st, 5, p->app_version_source);
	sqlite3_bind_int64(st, 6, p->pid);
	bind_str(st, 7, p->argv0);
}

struct network_in {
	const Pinshim__Network *n;
	char *resolvers, *proxy_vars;
};

static void bind_network(sqlite3_stmt *st, const void *obj)
{
	const struct network_in *in = obj;
	const Pinshim__Network *n = in->n;

	bind_str(st, 2, n->label);
	bind_str(st, 3, n->fingerprint);
	bind_str(st, 4, n->gateway);
	bind_str(st, 5, n->subnet);
	bind_str(st, 6, in->resolvers);
	bind_str(st, 7, in->proxy_vars);
	bind_str(st, 8, n->local_address);
}

static int network_insert(struct store *s, const Pinshim__Network *n,
			  const uint8_t key[32], int64_t *rowid, char *err,
			  size_t errlen)
{
	struct network_in in = { n, NULL, NULL };
	bool created;
	int rc;

	in.resolvers = json_list(n->resolvers, n->n_resolvers);
	in.proxy_vars = json_list(n->proxy_vars, n->n_proxy_vars);
	if (in.resolvers == NULL || in.proxy_vars == NULL)
		rc = store_failf(s, err, errlen, "out of memory");
	else
		rc = norm_row(s, NORM_NETWORK, key, s->st.network_insert,
			      s->st.network_find, bind_network, &in, rowid,
			      &created, err, errlen);
	free(in.resolvers);
	free(in.proxy_vars);
	return rc;
}

static int stack_frames(struct store *s, Pinshim__StackFrame **frames,
			size_t n, int64_t stack_id, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st.stack_frame;

	for (size_t i = 0; i < n; i++) {
		const Pinshim__StackFrame *f = frames[i];

		sqlite3_bind_int64(st, 1, stack_id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		bind_str(st, 3, f->module);
		bind_str(st, 4, f->build_id);
		sqlite3_bind_int64(st, 5, (int64_t)f->offset);
		bind_str(st, 6, f->symbol);
		sqlite3_bind_int64(st, 7, (int64_t)f->symbol_offset);
		if (store_step_done(s, st, "stack frame", err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void bind_depth(sqlite3_stmt *st, const void *obj)
{
	sqlite3_bind_int64(st, 2, (int64_t)*(const size_t *)obj);
}

/* Decodes and inserts a single-message part (platform, process,
 * network) the cache did not know. */
static int single_insert(struct store *s, enum norm t, const uint8_t key[32],
			 const ProtobufCBinaryData *raw, int64_t *rowid,
			 char *err, size_t errlen)
{
	static const unpack_fn unpack[NORM_COUNT] = {
		[NORM_PLATFORM] = (unpack_fn)pinshim__platform__unpack,
		[NORM_PROCESS] = (unpack_fn)pinshim__process__unpack,
		[NORM_NETWORK] = (unpack_fn)pinshim__network__unpack,
	};
	ProtobufCMessage **m = store_decode_parts(raw, 1, unpack[t]);
	bool created;
	int rc;

	if (m == NULL)
		return store_failf(s, err, errlen, "a part that store_prepare "
				   "accepted does not decode");
	if (t == NORM_NETWORK)
		rc = network_insert(s, (Pinshim__Network *)m[0], key, rowid, err,
				    errlen);
	else
		rc = norm_row(s, t, key, t == NORM_PLATFORM
			      ? s->st.platform_insert : s->st.process_insert,
			      t == NORM_PLATFORM ? s->st.platform_find
						 : s->st.process_find,
			      t == NORM_PLATFORM ? bind_platform : bind_process,
			      m[0], rowid, &created, err, errlen);
	store_free_parts(m, 1);
	return rc;
}

static int single_row(struct store *s, enum norm t, const uint8_t key[32],
		      const ProtobufCBinaryData *raw, int64_t *rowid,
		      char *err, size_t errlen)
{
	struct cache_slot *slot;

	*rowid = 0;
	if (raw->len == 0)
		return 0;
	slot = cache_find(&s->cache[t], key);
	if (slot != NULL) {
		*rowid = slot->rowid;
		return 0;
	}
	return single_insert(s, t, key, raw, rowid, err, errlen);
}

static int stack_row(struct store *s, const ProtobufCBinaryData *raw,
		     size_t n, const uint8_t key[32], int64_t *rowid,
		     char *err, size_t errlen)
{
	struct cache_slot *slot;
	ProtobufCMessage **m;
	bool created;
	int rc;

	*rowid = 0;
	if (n == 0)
		return 0;
	slot = cache_find(&s->cache[NORM_STACK], key);
	if (slot != NULL) {
		*rowid = slot->rowid;
		return 0;
	}
	m = store_decode_parts(raw, n, (unpack_fn)pinshim__stack_frame__unpack);
	if (m == NULL)
		return store_failf(s, err, errlen, "a stack that store_prepare "
				   "accepted does not decode");
	rc = norm_row(s, NORM_STACK, key, s->st.stack_insert, s->st.stack_find,
		      bind_depth, &n, rowid, &created, err, errlen);
	if (rc == 0 && created)
		rc = stack_frames(s, (Pinshim__StackFrame **)m, n, *rowid, err,
				  errlen);
	store_free_parts(m, n);
	return rc;
}

static void bind_text1(sqlite3_stmt *st, const void *obj)
{
	bind_str(st, 2, obj);
}

static int pinset_row(struct store *s, char **pins, size_t n,
		      const uint8_t key[32], int64_t *rowid, char *err,
		      size_t errlen)
{
	char *text = NULL;
	bool created;
	int rc;

	*rowid = 0;
	if (n == 0)
		return 0;
	if (cache_find(&s->cache[NORM_PINSET], key) == NULL &&
	    (text = json_list(pins, n)) == NULL)
		return store_failf(s, err, errlen, "out of memory");
	rc = norm_row(s, NORM_PINSET, key, s->st.pinset_insert,
		      s->st.pinset_find, bind_text1, text, rowid, &created,
		      err, errlen);
	free(text);
	return rc;
}

static void bind_sender(sqlite3_stmt *st, const void *obj)
{
	const struct store_origin *o = obj;

	bind_str(st, 2, o->address);
	bind_str(st, 3, o->name);
}

/* Who a batch's counters are attributed to: its sender's address without
 * the port, its name without the process id (schema.c, "origin"). */
static void origin_of(const struct store_origin *o, struct store_origin *out,
		      char addr[64], char name[128])
{
	const char *colon = strrchr(o->address, ':');
	const char *open = strchr(o->name, '[');
	const char *close = open != NULL ? strchr(open, ']') : NULL;
	int alen = colon != NULL ? (int)(colon - o->address)
				 : (int)strlen(o->address);

	snprintf(addr, 64, "%.*s", alen, o->address);
	if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
		memmove(addr, addr + 1, strlen(addr));
		addr[strlen(addr) - 1] = '\0';
	}
	if (close != NULL && close > open + 1 &&
	    strspn(open + 1, "0123456789") == (size_t)(close - open - 1))
		snprintf(name, 128, "%.*s%s", (int)(open - o->name), o->name,
			 close + 1);
	else
		snprintf(name, 128, "%s", o->name);
	*out = (struct store_origin){ .address = addr, .name = name };
}

static int origin_row(struct store *s, const struct store_origin *o,
		      int64_t *rowid, char *err, size_t errlen)
{
	struct store_origin who;
	char addr[64], name[128];
	uint8_t key[32];
	bool created;

	origin_of(o, &who, addr, name);
	if (keys_sender(s->h, who.address, who.name, key) < 0)
		return store_failf(s, err, errlen, "out of memory");
	return norm_row(s, NORM_ORIGIN, key, s->st.origin_insert,
			s->st.origin_find, bind_sender, &who, rowid, &created,
			err, errlen);
}

static int sender_row(struct store *s, const struct store_origin *o,
		      int64_t *rowid, char *err, size_t errlen)
{
	uint8_t key[32];
	bool created;

	if (keys_sender(s->h, o->address, o->name, key) < 0)
		return store_failf(s, err, errlen, "out of memory");
	return norm_row(s, NORM_SENDER, key, s->st.sender_insert,
			s->st.sender_find, bind_sender, o, rowid, &created,
			err, errlen);
}

/* ---- events -------------------------------------------------------------- */

/* The enums' names as the viewer prints them; unknown values (a newer
 * shim) as "kind_N". */
static const char *enum_name(const char *const *names, size_t n, int v,
			     const char *prefix, char *buf, size_t buflen)
{
	if (v >= 0 && (size_t)v < n)
		return names[v];
	snprintf(buf, buflen, "%s_%d", prefix, v);
	return buf;
}

#define ENUM_NAME(names, v, prefix, buf)                                    \
	enum_name(names, sizeof(names) / sizeof(names[0]), (int)(v), prefix, \
		  buf, sizeof(buf))

static const char *const kinds[] = {
	"unspecified", "pin_mismatch", "untrusted_issuer", "expired",
	"not_yet_valid", "hostname_mismatch", "other_verify_error",
	"policy_error",
};
static const char *const decisions[] = {
	"unspecified", "blocked", "would_block", "allowed",
};
static const char *const modes[] = { "unspecified", "observe", "enforce" };
static const char *const matches[] = { "none", "served", "built" };

/* The ids of an event's normalised rows. */
struct event_refs {
	int64_t pinset, served, built, platform, process, network, stack;
};

static int event_refs(struct store *s, const Pinshim__View__Event *e,
		      const struct store_event_keys *k, struct event_refs *r,
		      char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (chain_row(s, e->served_chain, e->n_served_chain,
		      e->served_total ? e->served_total : e->n_served_chain,
		      k->served, &r->served, err, errlen) < 0 ||
	    chain_row(s, e->built_chain, e->n_built_chain, 0, k->built,
		      &r->built, err, errlen) < 0 ||
	    pinset_row(s, e->expected_pins, e->n_expected_pins, k->pinset,
		       &r->pinset, err, errlen) < 0 ||
	    single_row(s, NORM_PLATFORM, k->platform, &e->platform,
		       &r->platform, err, errlen) < 0 ||
	    single_row(s, NORM_PROCESS, k->process, &e->process,
		       &r->process, err, errlen) < 0 ||
	    single_row(s, NORM_NETWORK, k->network, &e->network,
		       &r->network, err, errlen) < 0 ||
	    stack_row(s, e->stack, e->n_stack, k->stack, &r->stack, err,
		      errlen) < 0)
		return -1;
	return 0;
}

struct failure_in {
	const Pinshim__View__Event *e;
	struct event_refs r;
};

static void bind_failure(sqlite3_stmt *st, const void *obj)
{
	const struct failure_in *in = obj;
	const Pinshim__View__Event *e = in->e;
	const struct event_refs *r = &in->r;
	char bufs[4][32];
	int i = 2;

	/* the enum names may be in bufs: copied (TRANSIENT) */
	sqlite3_bind_text(st, i++, ENUM_NAME(kinds, e->kind, "kind", bufs[0]),
			  -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, ENUM_NAME(decisions, e->decision,
					     "decision", bufs[1]),
			  -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, i++, ENUM_NAME(modes, e->mode, "mode", bufs[2]),
			  -1, SQLITE_TRANSIENT);
	bind_str(st, i++, e->host);
	sqlite3_bind_int(st, i++, (int)e->port);
	bind_str(st, i++, e->peer);
	bind_str(st, i++, e->policy_version);
	bind_id(st, i++, r->pinset);
	sqlite3_bind_int(st, i++, e->pinned);
	sqlite3_bind_text(st, i++, ENUM_NAME(matches, e->matched, "matched",
					     bufs[3]), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, i++, e->pin_expired);
	sqlite3_bind_int(st, i++, e->verify_error);
	bind_str(st, i++, e->verify_error_text);
	bind_str(st, i++, e->tls_version);
	bind_str(st, i++, e->message);
	bind_id(st, i++, r->served);
	sqlite3_bind_int64(st, i++, e->served_total);
	bind_id(st, i++, r->built);
	sqlite3_bind_int64(st, i++, e->built_total);
	bind_id(st, i++, r->platform);
	bind_id(st, i++, r->process);
	bind_id(st, i++, r->network);
	bind_id(st, i++, r->stack);
}

/* The failure row of an event: one cache lookup when known (the common
 * case: the same failure again), else its parts are found or stored and
 * the row inserted. */
static int failure_row(struct store *s, const Pinshim__View__Event *e,
		       const struct store_event_keys *k, int64_t *rowid,
		       char *err, size_t errlen)
{
	struct cache_slot *slot = cache_find(&s->cache[NORM_FAILURE],
					     k->failure);
	struct failure_in in = { .e = e };
	bool created;

	if (slot != NULL) {
		*rowid = slot->rowid;
		return 0;
	}
	if (event_refs(s, e, k, &in.r, err, errlen) < 0)
		return -1;
	return norm_row(s, NORM_FAILURE, k->failure, s->st.failure_insert,
			s->st.failure_find, bind_failure, &in, rowid, &created,
			err, errlen);
}

static void bind_event(sqlite3_stmt *st, const Pinshim__View__Event *e,
		       const struct store_origin *o, int64_t sender,
		       int64_t failure)
{
	int i = 1;

	sqlite3_bind_blob(st, i++, e->id.data, WIRE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, e->time_us);
	sqlite3_bind_int64(st, i++, o->received_us);
	sqlite3_bind_int64(st, i++, sender);
	sqlite3_bind_int64(st, i++, failure);
	bind_str(st, i++, e->host);
	/* a record stands for at least one failure */
	sqlite3_bind_int64(st, i++, e->count > 0 ? e->count : 1);
	sqlite3_bind_int64(st, i++, e->last_time_us != 0 ? e->last_time_us
							 : e->time_us);
	if (e->repeat_of.len == WIRE_ID_LEN)
		sqlite3_bind_blob(st, i++, e->repeat_of.data, WIRE_ID_LEN,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i++);
}

/* 1 stored, 0 already there, -1 error. */
static int put_event(struct store *s, const Pinshim__View__Event *e,
		     const struct store_event_keys *k,
		     const struct store_origin *o, int64_t sender, char *err,
		     size_t errlen)
{
	int64_t failure;

	if (failure_row(s, e, k, &failure, err, errlen) < 0)
		return -1;
	bind_event(s->st.event_insert, e, o, sender, failure);
	if (store_step_done(s, s->st.event_insert, "insert event", err,
			    errlen) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	/* the record's values as bind_event stored them */
	if (rollup_event(s->rollup, str(e->host), failure, e->time_us,
			 e->last_time_us != 0 ? e->last_time_us : e->time_us,
			 e->count > 0 ? e->count : 1, o->received_us) < 0)
		return store_failf(s, err, errlen, "out of memory");
	return 1;
}

/* ---- counters ------------------------------------------------------------ */

/* schema.c: a counter's hour more than a day off the receive time says
 * the client's clock is wrong (or the counter was spooled that long). */
static int clock_class(int64_t hour, int64_t received_us)
{
	int64_t off = hour + 1800 - received_us / 1000000;

	return off > 86400 ? ROLLUP_CLOCK_AHEAD
	       : off < -86400 ? ROLLUP_CLOCK_BEHIND : ROLLUP_CLOCK_OK;
}

static void bind_dims(sqlite3_stmt *st, const void *obj)
{
	const struct store_dims *d = obj;

	bind_str(st, 2, d->host);
	sqlite3_bind_int64(st, 3, d->port);
	bind_str(st, 4, d->peer);
	bind_blob(st, 5, d->chain_fp, d->chain_fp_len);
}

static void bind_client(sqlite3_stmt *st, const void *obj)
{
	const struct store_client *c = obj;

	bind_str(st, 2, c->network);
	bind_str(st, 3, c->network_fingerprint);
	bind_str(st, 4, c->app_version);
	bind_str(st, 5, c->libssl_version);
	bind_str(st, 6, c->os);
}

/* The dims and dims_client rows of a counter: a hash and a cache lookup
 * each when known. */
static int counter_dims(struct store *s, const Pinshim__Counter *c,
			struct rollup_counter_key *k, char *err,
			size_t errlen)
{
	struct store_dims d = {
		.host = str(c->host), .port = c->port, .peer = str(c->peer),
		.chain_fp = c->chain_fingerprint.data,
		.chain_fp_len = c->chain_fingerprint.len,
	};
	struct store_client cl = {
		.network = str(c->network),
		.network_fingerprint = str(c->network_fingerprint),
		.app_version = str(c->app_version),
		.libssl_version = str(c->libssl_version), .os = str(c->os),
	};
	uint8_t dkey[32], ckey[32];
	bool created;

	if (keys_dims(s->h, &d, dkey) < 0 || keys_client(s->h, &cl, ckey) < 0)
		return store_failf(s, err, errlen, "out of memory");
	if (norm_row(s, NORM_DIMS, dkey, s->st.dims_insert, s->st.dims_find,
		     bind_dims, &d, &k->dims_id, &created, err, errlen) < 0 ||
	    norm_row(s, NORM_CLIENT, ckey, s->st.client_insert,
		     s->st.client_find, bind_client, &cl, &k->client_id,
		     &created, err, errlen) < 0)
		return -1;
	return 0;
}

/* 1 added, 0 already added (same id), -1 error. */
/* 1 stored, 0 a duplicate, -1 database error, -2 refused (err set). */
static int put_counter(struct store *s, const Pinshim__Counter *c,
		       const struct store_origin *o, int64_t origin,
		       char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st.counter_seen;
	struct rollup_counter_key k = {
		/* hours are whole: a sender's stray seconds must not split
		 * a row */
		.hour = c->hour - ((c->hour % 3600) + 3600) % 3600,
		.clock = clock_class(c->hour, o->received_us),
	};
	int64_t host_hour = k.hour;
	struct rollup_counts d;

	sqlite3_bind_blob(st, 1, c->id.data, WIRE_ID_LEN, SQLITE_STATIC);
	if (store_step_done(s, st, "counter id", err, errlen) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	if (counter_dims(s, c, &k, err, errlen) < 0)
		return -1;
	/* a skewed clock's handshakes count in the hour they arrived */
	if (k.clock != ROLLUP_CLOCK_OK)
		host_hour = rollup_event_hour(o->received_us, o->received_us);
	d = (struct rollup_counts){
		(int64_t)c->successes, (int64_t)c->failures,
		(int64_t)c->resumed, (int64_t)c->resumed_failed,
	};
	switch (rollup_counter(s->rollup, str(c->host), host_hour, origin,
			       &k, &d)) {
	case -2:
		snprintf(err, errlen, "counters of more than %lld handshakes "
			 "with %.100s in one hour from one sender: not a real "
			 "count", ROLLUP_ORIGIN_MAX_HOUR, str(c->host));
		return -2;
	case -1:
		return store_failf(s, err, errlen, "out of memory");
	}
	return 1;
}

/* ---- chains seen ------------------------------------------------------- */

/* The chain a ChainSeen names, stored as an event's served chain would be
 * (the same row when both came), with the counter fingerprint it claims:
 * only for a chain not proven by DER (which has the collector's own), and
 * only the first claim. */
static int put_chain_seen(struct store *s, const Pinshim__View__ChainSeen *c,
			  const struct store_event_keys *k, char *err,
			  size_t errlen)
{
	sqlite3_stmt *st = s->st.chain_counter_fp;
	int64_t chain;

	if (c->n_certs == 0)
		return 0;
	if (chain_row(s, c->certs, c->n_certs, c->total ? c->total
		      : c->n_certs, k->served, &chain, err, errlen) < 0)
		return -1;
	sqlite3_bind_blob(st, 1, c->fingerprint.data, (int)c->fingerprint.len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, chain);
	return store_step_done(s, st, "chain counter_fp", err, errlen);
}

/* ---- batches ------------------------------------------------------------- */

static int put_records(struct store *s, const Pinshim__View__Batch *b,
		       const struct store_event_keys *keys,
		       const struct store_origin *o, struct store_result *r,
		       char *err, size_t errlen)
{
	int64_t sender, origin = 0;
	int rc;

	if (sender_row(s, o, &sender, err, errlen) < 0 ||
	    (b->n_counters > 0 && origin_row(s, o, &origin, err, errlen) < 0))
		return -1;
	for (size_t i = 0; i < b->n_events; i++) {
		rc = put_event(s, b->events[i], &keys[i], o, sender, err,
			       errlen);
		if (rc < 0)
			return -1;
		if (rc > 0)
			r->events_stored++;
		else
			r->events_duplicate++;
	}
	for (size_t i = 0; i < b->n_counters; i++) {
		rc = put_counter(s, b->counters[i], o, origin, err, errlen);
		if (rc < 0)
			return rc;
		if (rc > 0)
			r->counters_stored++;
		else
			r->counters_duplicate++;
	}
	for (size_t i = 0; i < b->n_chains; i++)
		if (put_chain_seen(s, b->chains[i], &keys[b->n_events + i], err,
				   errlen) < 0)
			return -1;
	return 0;
}

/* Runs store_prepare for a caller that did not. */
static int own_keys(struct store *s, const Pinshim__View__Batch *b,
		    struct store_event_keys **keys, char *err, size_t errlen)
{
	*keys = calloc(b->n_events + b->n_chains + 1, sizeof(**keys));
	if (*keys == NULL)
		return store_failf(s, err, errlen, "out of memory");
	if (store_prepare(s->parts, b, *keys, err, errlen) < 0)
		return -2;
	return 0;
}

int store_put_batch(struct store *s, const Pinshim__View__Batch *b,
		    const struct store_event_keys *keys,
		    const struct store_origin *o, struct store_result *r,
		    char *err, size_t errlen)
{
	struct store_event_keys *mine = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (keys == NULL) {
		rc = own_keys(s, b, &mine, err, errlen);
		if (rc < 0) {
			free(mine);
			return rc;
		}
		keys = mine;
	}
	if (store_step_done(s, s->st.savepoint, "SAVEPOINT", err, errlen) < 0) {
		free(mine);
		return -1;
	}
	rc = put_records(s, b, keys, o, r, err, errlen);
	free(mine);
	if (rc == 0)
		rc = store_step_done(s, s->st.release, "RELEASE", err, errlen);
	rollup_batch_end(s->rollup, rc == 0);
	if (rc == 0)
		return 0;
	/* undo this batch only; the cached rowids may be among the undone */
	sqlite3_step(s->st.rollback_to);
	sqlite3_reset(s->st.rollback_to);
	sqlite3_step(s->st.release);
	sqlite3_reset(s->st.release);
	for (int i = 0; i < NORM_COUNT; i++)
		cache_clear(&s->cache[i]);
	memset(r, 0, sizeof(*r));
	return rc == -2 ? -2 : -1;
}
