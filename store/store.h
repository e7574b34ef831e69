/* store: the pinshim database, the one place that knows its schema.
 *
 * pinshim-collector writes it (one writer thread, big transactions);
 * pinshim-view reads it, read-only, while the collector writes.  SQLite in
 * WAL mode: readers never block the writer nor the reverse.
 *
 * The schema (store/schema.c, one ordered list of migrations, the tables
 * described there) stores each failure event once by its 16-byte id and
 * every repeating part of it once: certificates by SHA-256, chains by
 * fingerprint, platform, process, network, stack, expected pins and sender
 * by a SHA-256 of their content (store/keys.c).  The writer keeps those
 * keys' rowids in memory (store/cache.c), so the hot path is one INSERT
 * per event.  Counters are added into one narrow row per hour and
 * dimensions (host, port, peer, chain; network, fingerprint, app, libssl,
 * os; clock), each side of the dimensions stored once; the view counter
 * shows them as one table.  A small table keeps the collector's
 * statistics.
 *
 * A batch goes: store_prepare (the receiving thread: bounds, keys), then
 * store_put_batch (the writer, inside store_begin / store_commit).
 *
 * Durability: WAL with synchronous=NORMAL by default.  A commit is in the
 * WAL file (written, not fsynced) when store_commit returns, so it survives
 * a crash of the collector (kill -9); a power loss can lose the last
 * commits, never corrupt the database.  STORE_SYNC_FULL fsyncs each commit
 * and survives power loss too, at the cost of one fsync per group commit.
 *
 * Return convention throughout: 0 success, -1 failure with err set to a
 * message that names the database ("db FILE: ...").  Not thread-safe: one
 * struct store per thread.
 */
#ifndef PINSHIM_STORE_H
#define PINSHIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batchview.pb-c.h"

/* The schema this build reads and writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 4

struct store;

enum store_mode {
	STORE_WRITE,      /* creates or migrates the database */
	STORE_READ,       /* mode=ro: the viewer, concurrent with a writer */
};

enum store_sync {
	STORE_SYNC_NORMAL,  /* survives a process crash */
	STORE_SYNC_FULL,    /* survives a power loss */
};

/* Opens (STORE_WRITE: creates and migrates) the database at path.  A
 * database of another schema version, or not a pinshim database, is
 * refused: "db X has schema version N, this build reads M". */
struct store *store_open(const char *path, enum store_mode mode,
			 enum store_sync sync, char *err, size_t errlen);

/* Checkpoints the WAL (writer) and closes.  NULL is fine. */
void store_close(struct store *s);

/* ---- writing: the collector's writer thread ---------------------------- */

/* One transaction holds any number of batches (group commit). */
int store_begin(struct store *s, char *err, size_t errlen);
int store_commit(struct store *s, char *err, size_t errlen);
void store_rollback(struct store *s);

/* Between transactions, once the commits are acked: checkpoints the WAL
 * when the commits have grown it past about 4 MB, so it stays about that
 * size (SQLite's own checkpoint would run inside a commit, delaying its
 * acks).  Never waits for readers. */
int store_checkpoint(struct store *s, char *err, size_t errlen);

/* The database's file name, for messages. */
const char *store_path(const struct store *s);

/* The last failure on s was the file's, not the query's: it cannot be
 * read as a database now (corrupt, truncated, replaced, an I/O error). */
bool store_unreadable(struct store *s);

/* Whether the file at the database's path is no longer the one open (it
 * was deleted, or replaced): what is committed then lives only in the open
 * file and goes with it at close.  Between transactions. */
bool store_moved(struct store *s);
/* Writes a complete copy of the open database (everything committed) to
 * path, a new file, fsynced.  0, or -1 with err set. */
int store_copy_to(struct store *s, const char *path, char *err,
		  size_t errlen);

/* Batches come decoded with store/batchview.proto: wire-identical to
 * pinshim.proto, but each event's repeating parts (chains, platform,
 * process, network, stack) left encoded.  store_prepare, run by the
 * thread that read the batch, checks it against every bound of wire.h and
 * computes the content keys by which the writer finds those parts; it
 * decodes a part only the first time its connection sends it. */
struct store_parts;                          /* one per connection */
struct store_parts *store_parts_new(void);   /* NULL: out of memory */
void store_parts_free(struct store_parts *p);

struct store_event_keys {
	uint8_t failure[32];    /* all of the event but its per-record fields */
	uint8_t served[32], built[32], pinset[32];
	uint8_t platform[32], process[32], network[32], stack[32];
	bool valid;
};

/* Checks b and fills keys (b->n_events + b->n_chains entries: the events',
 * then each ChainSeen's chain key in .served).  0, or -1 with err set
 * ("event 3: stack of 65 frames (limit 64)"): the frame must be refused. */
int store_prepare(struct store_parts *p, const Pinshim__View__Batch *b,
		  struct store_event_keys *keys, char *err, size_t errlen);

/* Who sent a batch, and when the collector received it. */
struct store_origin {
	const char *address;    /* the TCP peer, "ip:port" */
	const char *name;       /* Hello.sender, "" when none */
	int64_t received_us;    /* the collector's clock */
};

/* What one batch did: records new in the database, records already there
 * (replays, and the same id twice within the batch). */
struct store_result {
	uint32_t events_stored, events_duplicate;
	uint32_t counters_stored, counters_duplicate;
};

/* Stores a batch inside the open transaction, all or nothing.  keys: from
 * store_prepare, or NULL to have the batch checked and its keys computed
 * here.  On failure the batch's rows are undone and the transaction stays
 * usable for other batches.  0 stored; -2 the content was refused (with
 * keys NULL: a bound store_prepare checks; any time: counters that would
 * take their origin past a real count, schema.c), err is for the sender;
 * -1 a database error, err names the database. */
int store_put_batch(struct store *s, const Pinshim__View__Batch *b,
		    const struct store_event_keys *keys,
		    const struct store_origin *o, struct store_result *r,
		    char *err, size_t errlen);

/* ---- the collector's statistics ---------------------------------------- */

#define STORE_STATS(X)                                                        \
	X(connections)        /* TCP connections accepted */                \
	X(auth_failures)      /* Hellos refused: wrong or missing token */  \
	X(frames_rejected)    /* frames refused: garbage, bounds, order */  \
	X(timeouts)           /* senders too slow in a frame, or idle */    \
	X(batches)            /* batches committed and acked */             \
	X(events_received)    /* events in committed batches */             \
	X(events_stored)                                                     \
	X(events_duplicate)                                                  \
	X(counters_received)                                                 \
	X(counters_stored)                                                   \
	X(counters_duplicate)

#define STORE_STATS_MEMBER(name) uint64_t name;
struct store_stats {
	STORE_STATS(STORE_STATS_MEMBER)
};
#undef STORE_STATS_MEMBER

/* The statistics as last written (zero in a new database). */
int store_stats_read(struct store *s, struct store_stats *st, char *err,
		     size_t errlen);

/* Writes st inside the open transaction (the writer does it with every
 * commit, so the numbers on disk match the data on disk). */
int store_stats_write(struct store *s, const struct store_stats *st,
		      char *err, size_t errlen);

/* Calls fn(arg, name, value) for each statistic, in STORE_STATS order. */
void store_stats_each(const struct store_stats *st,
		      void (*fn)(void *arg, const char *name, uint64_t value),
		      void *arg);

/* ---- reading: pinshim-view --------------------------------------------- */

struct store_filter {
	const char *host;       /* NULL: every host */
	bool has_since;
	int64_t since_us;       /* events with time_us >= since_us */
};

/* A certificate of a stored chain. */
struct store_cert {
	int position;           /* place in the chain as sent, 0 = leaf */
	const char *subject, *issuer, *serial, *pin;
	const uint8_t *sha256;  /* 32 bytes, or NULL when the sender sent none */
	int64_t not_before, not_after;
	bool verified;          /* the fields come from a DER (schema 4) */
	bool conflict;          /* senders claimed other fields for its SHA-256 */
};

struct store_chain {
	struct store_cert *certs;
	size_t n;
};

struct store_frame {
	const char *module, *build_id, *symbol;
	uint64_t offset, symbol_offset;
};

/* One stored failure.  Strings are never NULL ("" when absent).  Lists
 * (expected_pins, resolvers, proxy_vars) are JSON array texts.  Every
 * pointer is valid only during the callback. */
struct store_failure {
	const uint8_t *id;              /* 16 bytes */
	int64_t time_us, received_us, last_time_us;
	const char *kind, *decision, *mode, *matched;
	const char *host, *peer, *policy_version, *tls_version, *message;
	int port;
	bool pinned, pin_expired;
	int verify_error;
	const char *verify_error_text;
	const char *expected_pins;      /* JSON array */
	uint64_t count;                 /* own count + its repeats' counts */
	bool orphan_repeat;             /* a repeat whose original is missing */
	const uint8_t *repeat_of;       /* 16 bytes or NULL */
	struct store_chain served, built;
	uint32_t served_total, built_total;
	struct store_frame *stack;
	size_t nstack;
	struct {
		const char *os_id, *os_version, *os_name, *kernel, *arch;
		const char *libssl_version, *host_id, *hostname;
	} platform;
	struct {
		const char *exe, *build_id, *app_version, *app_version_source;
		const char *argv0;
		uint32_t pid;
	} process;
	struct {
		const char *label, *fingerprint, *gateway, *subnet;
		const char *local_address;
		const char *resolvers, *proxy_vars;  /* JSON arrays */
	} network;
	const char *sender;             /* the collector-side peer address */
	const char *sender_name;        /* its Hello.sender */
};

/* Calls fn for every stored failure matching f, oldest first.  A repeat
 * record is folded into its original's count; one whose original is not
 * stored is listed as its own failure.  fn returns 0 to go on, a positive
 * value to stop (store_failures then returns it).  -1 on error. */
typedef int (*store_failure_fn)(void *arg, const struct store_failure *f);
int store_failures(struct store *s, const struct store_filter *f,
		   store_failure_fn fn, void *arg, char *err, size_t errlen);

#endif
