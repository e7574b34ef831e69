/* store/report_query: the read side's queries over the rollups (counter,
 * host_hour, failure_hour joined to failure and its parts, chain, cert),
 * for viewer/report.h.  None of them reads the record table: their cost
 * follows the number of hosts, distinct failures and counter rows, not
 * the number of events stored.
 *
 * Each query runs in the caller's read transaction (store_read_begin /
 * store_read_end: one consistent snapshot for a whole report while the
 * collector writes) and calls fn once per row; fn returns 0 to go on, a
 * positive value to stop (the query then returns it).  -1 on error, err
 * naming the database.  Pointers are valid only during the callback.
 */
#ifndef PINSHIM_STORE_REPORT_QUERY_H
#define PINSHIM_STORE_REPORT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* What a query is narrowed to; NULL / false: not narrowed.  Hours are
 * Unix seconds of the hour's start, the range [since_hour, until_hour). */
struct store_query {
	const char *host, *network, *app_version, *kind;
	const char *mode;       /* failure hours only: "observe", "enforce" */
	bool by_host;           /* failure hours only: sorted by host */
	bool has_since, has_until;
	int64_t since_hour, until_hour;
	/* for store_failures_query only: event times, [since_us, until_us) */
	int64_t since_us, until_us;
};

/* A read transaction around several queries. */
int store_read_begin(struct store *s, char *err, size_t errlen);
void store_read_end(struct store *s);


/* store_failures with every filter of q (network: the event's network
 * label, app_version: its process's). */
int store_failures_query(struct store *s, const struct store_query *q,
			 store_failure_fn fn, void *arg, char *err,
			 size_t errlen);

/* ---- per host and hour -------------------------------------------------- */

typedef int (*store_name_fn)(void *arg, const char *name);

struct store_host_hour {
	const char *host;
	int64_t hour;
	uint64_t successes, failures, events;
	uint64_t resumed, resumed_failed;   /* resumed handshakes (schema.c) */
};

/* host_hour rows in range, by host then hour.  With q->network or
 * q->app_version set, the same sums from the counters instead (events is
 * then 0). */
typedef int (*store_host_hour_fn)(void *arg, const struct store_host_hour *h);
int store_host_hours(struct store *s, const struct store_query *q,
		     store_host_hour_fn fn, void *arg, char *err,
		     size_t errlen);

/* Who sent a host's counters in range (origin_hour, schema.c): per host
 * and origin, the handshakes, by host. */
struct store_origin_sum {
	const char *host, *address, *name;
	uint64_t handshakes;
};
typedef int (*store_origin_fn)(void *arg, const struct store_origin_sum *o);
int store_origin_sums(struct store *s, const struct store_query *q,
		      store_origin_fn fn, void *arg, char *err, size_t errlen);

/* The hosts with failed handshakes or failure events in range, by name,
 * each with its sums over the range (hour 0); from the counters when
 * q->network or q->app_version is set (events then counts the failed
 * handshakes). */
int store_failing_hosts(struct store *s, const struct store_query *q,
			store_host_hour_fn fn, void *arg, char *err,
			size_t errlen);

/* The hosts with any handshake or event, ever, by name (for "no host
 * 'x'" messages and the web page's host list). */
int store_host_names(struct store *s, store_name_fn fn, void *arg,
		     char *err, size_t errlen);

/* 1 when the database holds any counter or failure, 0 when not, -1 on
 * error. */
int store_has_data(struct store *s, char *err, size_t errlen);

/* 1 when host has counters or failures, 0 when not, -1 on error. */
int store_host_known(struct store *s, const char *host, char *err,
		     size_t errlen);

/* ---- counters ------------------------------------------------------------- */

struct store_counter {
	const char *host;
	int64_t hour;
	int port;
	const char *peer, *network, *network_fingerprint;
	const char *app_version, *libssl_version, *os;
	const uint8_t *chain_fp;        /* 32 bytes, or NULL */
	const char *clock;              /* "ok", "ahead", "behind" */
	uint64_t successes, failures;
	uint64_t resumed, resumed_failed;
};

/* Counter rows in range (host-ordered: the table's key). */
typedef int (*store_counter_fn)(void *arg, const struct store_counter *c);
int store_counters(struct store *s, const struct store_query *q,
		   store_counter_fn fn, void *arg, char *err, size_t errlen);

/* ---- failures by hour ------------------------------------------------------ */

/* A distinct failure (the stored event content) in one hour. */
struct store_failure_hour {
	int64_t failure_id, hour;
	uint64_t count;                 /* events */
	int64_t first_us, last_us;      /* event times (client clock) */
	int64_t offset_min_s, offset_max_s;  /* client clock - receive time */
	const char *host, *kind, *decision, *mode, *peer, *matched;
	int port, verify_error;
	const char *verify_error_text, *policy_version;
	const char *network, *network_fingerprint;
	const char *app_version, *libssl_version, *os;  /* os as counters
				 * have it: os_id + " " + os_version */
	const char *hostname;           /* the client machine's */
	const char *pins;               /* JSON array text */
	int64_t pinset_id;
	int64_t served_chain_id, built_chain_id;   /* 0: none */
	const uint8_t *served_counter_fp;   /* 32 bytes or NULL (unknown) */
};

/* failure_hour rows in range joined to their failure: with q->host set,
 * by failure then hour; with q->by_host by host, failure, hour; else in no
 * particular order.  q->kind and q->mode
 * narrow by kind and mode. */
typedef int (*store_failure_hour_fn)(void *arg,
				     const struct store_failure_hour *f);
int store_failure_hours(struct store *s, const struct store_query *q,
			store_failure_hour_fn fn, void *arg, char *err,
			size_t errlen);

/* ---- chains ------------------------------------------------------------------ */

/* The stored chain whose counter fingerprint is fp: its id, 0 when no
 * sender described it yet (ChainSeen), -1 on error. */
int64_t store_chain_by_counter_fp(struct store *s, const uint8_t fp[32],
				  char *err, size_t errlen);

/* The certificates of chain id, leaf first.  fingerprint: the chain's
 * content fingerprint (32 bytes); counter_fp: NULL when unknown. */
struct store_chain_info {
	int64_t id;
	const uint8_t *fingerprint, *counter_fp;
	struct store_cert *certs;
	size_t n;
};
typedef int (*store_chain_fn)(void *arg, const struct store_chain_info *c);
int store_chain_read(struct store *s, int64_t id, store_chain_fn fn,
		     void *arg, char *err, size_t errlen);

#endif
