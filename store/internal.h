/* store internals shared by its files: the connection, the prepared
 * statements, the caches of normalised rows.  Not for users of store.h. */
#ifndef PINSHIM_STORE_INTERNAL_H
#define PINSHIM_STORE_INTERNAL_H

#include <sqlite3.h>
#include <openssl/evp.h>

#include "wire.h"

#include "store.h"
#include "cache.h"

/* Tables whose rows are stored once by a hash of their content. */
enum norm {
	NORM_CERT, NORM_CHAIN, NORM_PLATFORM, NORM_PROCESS, NORM_NETWORK,
	NORM_STACK, NORM_PINSET, NORM_SENDER, NORM_FAILURE, NORM_DIMS,
	NORM_CLIENT, NORM_ORIGIN, NORM_COUNT
};

/* Prepared statements, by name (store/put.c, store/stats.c). */
#define STORE_STMTS(X)                                                       \
	X(event_insert) X(failure_insert) X(failure_find) X(counter_seen)   \
	X(dims_insert) X(dims_find) X(client_insert) X(client_find)         \
	X(stats_put)                                                        \
	X(cert_insert) X(cert_find) X(cert_verify) X(chain_insert)         \
	X(chain_find) X(chain_cert) X(platform_insert) X(platform_find)     \
	X(process_insert) X(process_find) X(network_insert) X(network_find) \
	X(stack_insert) X(stack_find) X(stack_frame) X(pinset_insert)       \
	X(pinset_find) X(sender_insert) X(sender_find) X(chain_counter_fp)  \
	X(chain_counter_fp_der) X(origin_insert) X(origin_find)             \
	X(begin) X(commit) X(rollback) X(savepoint) X(release)              \
	X(rollback_to)

#define STORE_STMT_MEMBER(name) sqlite3_stmt *name;
struct store_stmts {
	STORE_STMTS(STORE_STMT_MEMBER)
};
#undef STORE_STMT_MEMBER

struct store {
	sqlite3 *db;
	char *path;
	enum store_mode mode;
	struct store_stmts st;
	struct cache cache[NORM_COUNT];
	struct store_hasher *h;      /* the writer's own */
	struct store_parts *parts;   /* for batches put without keys */
	struct rollup *rollup;       /* the writer's (rollup.c) */
	int wal_frames;              /* in the WAL after the last commit */
	bool unreadable;             /* a failure was the file's (store.h) */
};

/* keys.c: content keys (0, or -1 when out of memory), one hasher per
 * thread. */
struct store_hasher;
struct store_hasher *store_hasher_new(void);
void store_hasher_free(struct store_hasher *h);
int keys_sha256(struct store_hasher *h, const void *p, size_t n,
		uint8_t out[32]);
int keys_cert(struct store_hasher *h, const Pinshim__Cert *c,
	      uint8_t out[32]);
int keys_chain(struct store_hasher *h, Pinshim__Cert **certs, size_t n,
	       uint8_t (*cert_keys)[32], uint8_t out[32]);
int keys_platform(struct store_hasher *h, const Pinshim__Platform *p,
		  uint8_t out[32]);
int keys_process(struct store_hasher *h, const Pinshim__Process *p,
		 uint8_t out[32]);
int keys_network(struct store_hasher *h, const Pinshim__Network *n,
		 uint8_t out[32]);
int keys_stack(struct store_hasher *h, Pinshim__StackFrame **f, size_t n,
	       uint8_t out[32]);
int keys_pinset(struct store_hasher *h, char **pins, size_t n,
		uint8_t out[32]);
int keys_sender(struct store_hasher *h, const char *address,
		const char *name, uint8_t out[32]);
/* A counter's dimensions (schema.c): the server's side, one dims row
 * each, and the client's, one dims_client row each. */
struct store_dims {
	const char *host, *peer;
	int64_t port;
	const void *chain_fp;
	size_t chain_fp_len;
};
struct store_client {
	const char *network, *network_fingerprint, *app_version;
	const char *libssl_version, *os;
};
int keys_dims(struct store_hasher *h, const struct store_dims *d,
	      uint8_t out[32]);
int keys_client(struct store_hasher *h, const struct store_client *c,
		uint8_t out[32]);
/* The failure an event is an instance of: its fields but the per-record
 * ones (id, times, count, repeat_of), and its parts' keys from k. */
int keys_failure(struct store_hasher *h, const Pinshim__View__Event *e,
		 const struct store_event_keys *k, uint8_t out[32]);

/* certseen.c: SHA-256 of DER that parsed as one X.509 certificate
 * (prepare.c checks a certificate's DER once per process, not per
 * record). */
bool certseen_known(const uint8_t sha[32]);
void certseen_add(const uint8_t sha[32]);

/* schema.c */
int store_schema_check(struct store *s, char *err, size_t errlen);
int store_schema_migrate(struct store *s, char *err, size_t errlen);

/* put.c: prepares the writer's statements (and its rollup). */
int store_put_prepare(struct store *s, char *err, size_t errlen);

/* rollup.c: host_hour, failure_hour and counter_row, summed in memory
 * over the open transaction.  store_put_batch adds each record and counter
 * it stores (-1: out of memory, the batch fails), then ends the batch:
 * kept when it was released, dropped when it was rolled back.
 * store_commit writes the sums (rollup_flush) before COMMIT;
 * store_rollback drops them. */
struct rollup;
struct rollup *rollup_new(struct store *s, char *err, size_t errlen);
void rollup_free(struct rollup *r);
/* The hour a record counts in: its own, unless the client's clock is more
 * than a day off the receive time, then the receive time's. */
int64_t rollup_event_hour(int64_t time_us, int64_t received_us);
int rollup_event(struct rollup *r, const char *host, int64_t failure_id,
		 int64_t time_us, int64_t last_us, int64_t count,
		 int64_t received_us);
/* Where a counter adds up: its counter_row, and its host_hour (in the
 * receive time's hour when the clock is off). */
struct rollup_counter_key {
	int64_t dims_id, client_id, hour;
	int clock;              /* ROLLUP_CLOCK_* */
};
enum { ROLLUP_CLOCK_OK, ROLLUP_CLOCK_AHEAD, ROLLUP_CLOCK_BEHIND };
/* A counter's counts (Counter.successes, failures, resumed, resumed_failed). */
struct rollup_counts {
	int64_t successes, failures, resumed, resumed_failed;
};
/* -2 when the counter would take its origin past ROLLUP_ORIGIN_MAX_HOUR
 * handshakes with the host in that hour (a count no client makes: the
 * batch is refused). */
#define ROLLUP_ORIGIN_MAX_HOUR 36000000LL   /* 10,000 a second, all hour */
int rollup_counter(struct rollup *r, const char *host, int64_t host_hour_of,
		   int64_t origin, const struct rollup_counter_key *k,
		   const struct rollup_counts *d);
void rollup_batch_end(struct rollup *r, bool keep);
int rollup_flush(struct store *s, char *err, size_t errlen);
void rollup_clear(struct rollup *r);

/* Sets err to "db PATH: what: sqlite's message" and returns -1. */
int store_fail(struct store *s, char *err, size_t errlen, const char *what);
int store_failf(struct store *s, char *err, size_t errlen, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

/* Runs one SQL text (no rows expected). */
int store_exec(struct store *s, const char *sql, char *err, size_t errlen);

/* Steps a statement to SQLITE_DONE and resets it. */
int store_step_done(struct store *s, sqlite3_stmt *st, const char *what,
		    char *err, size_t errlen);

/* prepare.c: n encoded messages decoded with unpack (free with
 * store_free_parts); NULL when out of memory or one is not valid. */
typedef ProtobufCMessage *(*unpack_fn)(ProtobufCAllocator *, size_t,
				       const uint8_t *);
ProtobufCMessage **store_decode_parts(const ProtobufCBinaryData *v, size_t n,
				      unpack_fn unpack);
void store_free_parts(ProtobufCMessage **m, size_t n);

#endif
