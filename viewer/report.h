/* The viewer's reports, shared by the command line (summary.c, diagnose.c,
 * rollout.c, chain.c, failures.c) and the web page (serve.c, web.h): each
 * report is computed into a plain struct, printed as text by the CLI,
 * turned into JSON by report_*_json (the schema the README documents), or
 * rendered as HTML.  report_*.c implement them; report_int.h is theirs.
 *
 * Every report reads only the rollups (counter, host_hour, failure_hour
 * joined to failure, chain and cert: store/report_query.h), never the
 * per-event record table, so it costs the same with 10 thousand or 10
 * million stored events.  The one exception is report_failures, the list of
 * stored events itself.
 *
 * Rollups are per hour: a time range selects whole hours (every hour that
 * overlaps [since, until)).  Strings in the structs are the stored bytes,
 * unescaped and possibly hostile (subjects and host names come from
 * senders): print them with text_print, escape them for HTML; the JSON
 * emitters make them valid UTF-8.
 *
 * Conventions: a function returns 0, or -1 with err set to one line
 * ("db X: ...", "no host 'x' in db X ..."); results are owned by the caller
 * and released with the matching report_*_free (NULL and zeroed structs
 * are fine; every string and array of a result lives in its pool, a
 * private member).  JSON emitters return a new json_object
 * (json_object_put it), NULL only when out of memory.  No global state:
 * threads may run reports at once, each on its own struct store.  Times are Unix microseconds, hours Unix
 * seconds of the hour's start; JSON writes both as RFC 3339 UTC.
 */
#ifndef PINSHIM_VIEWER_REPORT_H
#define PINSHIM_VIEWER_REPORT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct report_pool;             /* private: where a result's memory lives */

/* ---- what every report can be narrowed to ------------------------------ */

struct report_filter {
	const char *host;       /* exact host name; NULL: every host */
	const char *network;    /* network label */
	const char *version;    /* app version */
	const char *kind;       /* event kind ("pin_mismatch"); failures only
				 * (counters have no kind) */
	bool has_since, has_until;
	int64_t since_us, until_us;   /* [since, until) */
};

/* Parses the filter options the CLI and the web page share, e.g. the
 * strings of "--since 2h": since/until are RFC 3339 or a span back from
 * now_us ("15m", "2h", "7d"); NULL leaves a field unset.  -1 with err
 * naming the bad option ("--since yesterday: expected RFC 3339 ..."). */
int report_filter_parse(struct report_filter *f, const char *since,
			const char *until, int64_t now_us, char *err,
			size_t errlen);

/* Checks the database has data and, when f->host is set, that the host
 * is known: -1 with err "no host 'x' in db FILE (known: a, b, ...)" or
 * "db FILE is empty: no handshakes stored yet". */
int report_check(struct store *s, const struct report_filter *f, char *err,
		 size_t errlen);

/* A name with a count, for breakdowns (by kind, by decision). */
struct report_count {
	char *name;
	uint64_t n;
};

/* ---- summary ------------------------------------------------------------ */

struct report_host {
	char *host;
	uint64_t successes, failures;   /* full handshakes, from the counters */
	uint64_t resumed, resumed_failed; /* resumed ones (no chain to check);
					 * of a session that had failed */
	uint64_t events;                /* failure events stored */
	int64_t first_hour, last_hour;  /* hours with any handshake */
	struct report_count *kinds;     /* events by kind, most first */
	size_t nkinds;
	const char *mode;               /* "enforce", "observe", "mixed", ""
					 * (unknown: the host never failed) */
	/* who sent its counters (origin_hour): how many senders, the one
	 * that sent most, and whether nearly all came from it */
	unsigned senders;
	const char *top_sender;         /* "name (address)", "" when none */
	uint64_t top_handshakes, sender_handshakes;
	bool one_sender;                /* >= 90% from one of >= 2 senders */
};

struct report_summary {
	int64_t first_hour, last_hour;  /* of the data in range; 0 if none */
	uint64_t successes, failures, events, resumed, resumed_failed;
	struct report_host *hosts;      /* most failures first, then name */
	size_t nhosts;
	struct report_count *kinds;     /* events by kind, most first */
	size_t nkinds;
	struct report_count *decisions; /* events by decision, most first */
	size_t ndecisions;
	struct report_pool *pool;
};

int report_summary(struct store *s, const struct report_filter *f,
		   struct report_summary *out, char *err, size_t errlen);
void report_summary_free(struct report_summary *r);
/* {"from", "to", "handshakes", "successes", "failures", "failure_rate",
 *  "resumed", "resumed_failed", "events", "kinds": {name: n},
 *  "decisions": {name: n}, "hosts": [{"host", "handshakes", "successes",
 *  "failures", "failure_rate", "resumed", "resumed_failed", "events",
 *  "first_seen", "last_seen", "mode", "kinds": {name: n},
 *  "senders", "top_sender": {"sender", "handshakes", "share"} | null,
 *  "one_sender"}]}
 * handshakes are full ones (successes + failures, each a verification);
 * resumed ones are counted apart. */
json_object *report_summary_json(const struct report_summary *r);

/* ---- failures: the stored events themselves ------------------------------ */

/* Calls fn for each stored failure event matching f, oldest first (see
 * store_failures), skipping the first `offset` and stopping after `limit`
 * (0: no limit).  Returns what store_failures returns. */
int report_failures(struct store *s, const struct report_filter *f,
		    size_t offset, size_t limit, store_failure_fn fn,
		    void *arg, char *err, size_t errlen);
/* One event as the README's `failures --json` object. */
json_object *report_failure_json(const struct store_failure *f);

/* ---- chains and certificates -------------------------------------------- */

struct report_cert {
	int position;                   /* 0 = leaf */
	char *subject, *issuer, *serial;
	char *pin;                      /* "sha256/..." */
	int64_t not_before, not_after;  /* Unix seconds */
	bool pinned;                    /* pin is one of the host's pins */
	bool verified;                  /* fields from the DER, not claims */
	bool conflict;                  /* senders claimed other fields */
	bool changed;                   /* differs from the reference chain
					 * (the chain that succeeds) here */
};

struct report_chain {
	char *fingerprint;      /* hex: counter_fp when known, else the
				 * stored chain's content fingerprint */
	const char *role;       /* "failing", "succeeding", "both" */
	uint64_t successes, failures;
	int64_t first_hour, last_hour;
	struct report_cert *certs;
	size_t ncerts;          /* 0: certificates unknown (no ChainSeen) */
	int changed_position;   /* first position that differs from the
				 * reference, -1 none */
	bool pinned;            /* some cert's pin is among the pins */
	struct report_count *networks, *peers, *versions;  /* who saw it:
				 * handshakes per network / peer / app version */
	size_t nnetworks, npeers, nversions;
};

/* ---- diagnose ------------------------------------------------------------- */

enum report_cause {
	CAUSE_ROLLOVER,
	CAUSE_INTERMEDIATE_CHANGE,
	CAUSE_INTERCEPTION,
	CAUSE_BACKEND_INCONSISTENCY,
	CAUSE_CLIENT_SPECIFIC,
	CAUSE_CLOCK_SKEW,
	CAUSE_EXPIRED,
	CAUSE_TRUST_STORE,
	CAUSE_UNKNOWN,
	CAUSE_COUNT
};

/* "rollover", ..., "unknown" (DESIGN.md's identifiers). */
const char *report_cause_name(enum report_cause c);

/* The dimensions correlated, by their JSON names. */
enum report_dim {
	DIM_NETWORK,            /* "network" */
	DIM_APP_VERSION,        /* "app_version" */
	DIM_LIBSSL_VERSION,     /* "libssl_version" */
	DIM_OS,                 /* "os" */
	DIM_PEER,               /* "peer" */
	DIM_CHAIN,              /* "chain" (served chain fingerprint) */
	DIM_LEAF_KEY,           /* "leaf_key" (the leaf's pin) */
	DIM_ISSUER,             /* "issuer" (the leaf's issuer: the CA that
				 * signed the served certificate) */
	DIM_TIME,               /* "time": hours from (or before) a moment;
				 * for expired, the leaf's notAfter */
	DIM_CLOCK,              /* "clock" ("ok", "ahead", "behind") */
	DIM_NONE,               /* "" */
	DIM_COUNT
};

const char *report_dim_name(enum report_dim d);

/* How well one value of a dimension separates failing from succeeding
 * handshakes: the value's failed/total against the rest's. */
struct report_split {
	enum report_dim dim;
	char *value;
	uint64_t failed, total;         /* handshakes with this value */
	uint64_t rest_failed, rest_total;  /* the host's others */
	double score;                   /* 0..1, see viewer/report_split.c */
};

struct report_hour_events {
	int64_t hour;
	uint64_t events;
};

struct report_diagnosis {
	char *host;
	enum report_cause cause;
	double confidence;              /* 0..1 */
	bool contrast;                  /* false: no successes to compare
					 * with (then cause is expired,
					 * clock_skew or unknown, and the
					 * evidence says so) */
	struct report_split split;      /* the separating dimension/value
					 * (dim DIM_NONE when none) */
	uint64_t host_failed, host_total;  /* the host's handshakes in range */
	uint64_t events;                /* failure events of this cause */
	int64_t first_seen_us, last_seen_us;   /* when the collector
					 * received them (event time less the
					 * client clock's offset) */
	struct report_count *kinds;     /* events by kind */
	size_t nkinds;
	char **evidence;                /* lines, most telling first */
	size_t nevidence;
	char *fix;                      /* one sentence for the operator */
	char **pins;                    /* the pins the failing clients expect */
	size_t npins;
	struct report_chain *chains;    /* failing first, then the reference */
	size_t nchains;
	struct report_split *ranking;   /* every dimension's best split,
					 * best first */
	size_t nranking;
	struct report_hour_events *hours;   /* this cause's events by hour,
					     * oldest first */
	size_t nhours;
};

struct report_diagnoses {
	struct report_diagnosis *d;     /* host failures desc, then host,
					 * then events desc */
	size_t n;
	struct report_pool *pool;
};

/* One diagnosis per (host, cause) with failures in range.  f->kind
 * narrows the failures considered; network/version narrow both sides. */
int report_diagnose(struct store *s, const struct report_filter *f,
		    struct report_diagnoses *out, char *err, size_t errlen);
void report_diagnoses_free(struct report_diagnoses *r);
/* {"diagnoses": [{"host", "cause", "confidence", "contrast",
 *  "dimension", "value", "failed", "total", "rest_failed", "rest_total",
 *  "host_failed", "host_total", "events", "first_seen", "last_seen",
 *  "kinds", "evidence": [...], "fix", "pins": [...],
 *  "chains": [chain...], "ranking": [{"dimension", "value", "failed",
 *  "total", "rest_failed", "rest_total", "score"}],
 *  "hours": [{"hour", "events"}]}]} */
json_object *report_diagnoses_json(const struct report_diagnoses *r);
/* One diagnosis object (an element of the list above). */
json_object *report_diagnosis_json(const struct report_diagnosis *d);
/* A chain object: {"fingerprint", "role", "successes", "failures",
 *  "first_seen", "last_seen", "changed_position", "pinned",
 *  "certs": [{"position", "subject", "issuer", "serial", "pin",
 *  "not_before", "not_after", "pinned", "changed"}],
 *  "networks": {name: n}, "peers": {...}, "versions": {...}} */
json_object *report_chain_json(const struct report_chain *c);

/* ---- rollout: what enforcing would block ------------------------------ */

struct report_cell {
	char *row, *col;                /* e.g. network, app version */
	uint64_t failed, total;         /* handshakes; for rollout, failed =
					 * would_block events */
};

struct report_rollout_host {
	char *host;
	uint64_t handshakes;            /* counted in range, resumed too */
	uint64_t would_block;           /* would_block events in range, and
					 * resumptions of such sessions
					 * (enforce mode refuses them) */
	uint64_t recent_would_block;    /* in the range's last 24 hours */
	bool ready;
	char *verdict;                  /* "ready" / "not ready: ..." */
	struct report_cell *cells;      /* network x app version, with any
					 * would_block first */
	size_t ncells;
	struct report_count *kinds;     /* would_block events by kind */
	size_t nkinds;
};

struct report_rollout {
	struct report_rollout_host *hosts;   /* not ready first */
	size_t n;
	struct report_pool *pool;
};

/* Hosts with observe-mode events in range (or f->host). */
int report_rollout(struct store *s, const struct report_filter *f,
		   struct report_rollout *out, char *err, size_t errlen);
void report_rollout_free(struct report_rollout *r);
/* {"rollout": [{"host", "handshakes", "would_block",
 *  "recent_would_block", "ready", "verdict", "kinds",
 *  "cells": [{"network", "app_version", "would_block", "total"}]}]} */
json_object *report_rollout_json(const struct report_rollout *r);

/* ---- chain HOST: the served chains over time ----------------------------- */

struct report_chain_history {
	char *host;
	char **pins;            /* every pin set the host's clients expected */
	size_t npins;
	struct report_chain *chains;   /* first seen first; changed_position
					* against the previous chain */
	size_t n;
	struct report_pool *pool;
};

int report_chain_history(struct store *s, const struct report_filter *f,
			 struct report_chain_history *out, char *err,
			 size_t errlen);
void report_chain_history_free(struct report_chain_history *r);
/* {"host", "pins": [...], "chains": [chain...]} */
json_object *report_chain_history_json(const struct report_chain_history *r);

/* ---- network x version table of a host ------------------------------------ */

struct report_matrix {
	enum report_dim rows, cols;     /* DIM_NETWORK x DIM_APP_VERSION */
	char **row_names, **col_names;  /* sorted by handshakes desc */
	size_t nrows, ncols;
	struct report_cell *cells;      /* nrows * ncols, row-major;
					 * total 0: never seen together */
	struct report_pool *pool;
};

/* f->host required (or NULL for every host together). */
int report_matrix(struct store *s, const struct report_filter *f,
		  enum report_dim rows, enum report_dim cols,
		  struct report_matrix *out, char *err, size_t errlen);
void report_matrix_free(struct report_matrix *r);
/* {"rows": "network", "cols": "app_version", "row_names": [...],
 *  "col_names": [...], "cells": [[{"failed", "total"}, ...], ...]} */
json_object *report_matrix_json(const struct report_matrix *r);

/* ---- timeline of a host ----------------------------------------------------- */

struct report_hour {
	int64_t hour;
	uint64_t successes, failures;   /* handshakes, from the counters */
	uint64_t by_cause[CAUSE_COUNT]; /* failure events by the cause their
					 * diagnosis named */
};

struct report_timeline {
	char *host;             /* NULL: every host */
	struct report_hour *hours;   /* every hour of the range with data,
				      * oldest first (gaps left out) */
	size_t n;
	struct report_pool *pool;
};

int report_timeline(struct store *s, const struct report_filter *f,
		    struct report_timeline *out, char *err, size_t errlen);
/* The same from diagnoses already made with the same filter (a page that
 * shows both diagnoses once instead of twice). */
int report_timeline_of(struct store *s, const struct report_filter *f,
		       const struct report_diagnoses *d,
		       struct report_timeline *out, char *err, size_t errlen);
void report_timeline_free(struct report_timeline *r);
/* {"host", "hours": [{"hour", "successes", "failures",
 *  "by_cause": {cause: n, only causes with n > 0}}]} */
json_object *report_timeline_json(const struct report_timeline *r);

/* ---- JSON output helper ------------------------------------------------ */

/* Prints j plain (no slash escaping) and a newline; puts j.  0, or -1
 * when j is NULL (out of memory). */
int report_print_json(json_object *j);

#endif
