/* Internals shared by the report_*.c files (viewer/report.h): where a
 * result's memory lives, interned names, number formatting, and one host's
 * handshakes loaded from the rollups for correlation. */
#ifndef PINSHIM_VIEWER_REPORT_INT_H
#define PINSHIM_VIEWER_REPORT_INT_H

#include <stdarg.h>

#include "report.h"
#include "report_query.h"
#include "viewer.h"

/* ---- pool: every allocation of a result, freed at once ------------------ */

struct report_pool {
	void **p;
	size_t n, cap;
	bool oom;               /* some allocation failed */
};

struct report_pool *pool_new(void);
void pool_free(struct report_pool *p);
/* Zeroed memory owned by the pool; NULL (and p->oom) when out of memory. */
void *pool_alloc(struct report_pool *p, size_t size);
char *pool_strdup(struct report_pool *p, const char *s);
char *pool_printf(struct report_pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Hands the malloc'd m to the pool (freed with it); m on success, NULL
 * (m freed) when out of memory. */
void *pool_adopt(struct report_pool *p, void *m);

/* A growing array of elements of size `size`: returns the new, zeroed
 * last element, NULL when out of memory.  Free *items with free(), or
 * pool_adopt it. */
void *vec_push(void **items, size_t *n, size_t *cap, size_t size);
#define VEC_PUSH(arr, n, cap) \
	vec_push((void **)&(arr), &(n), &(cap), sizeof(*(arr)))

/* ---- names to indexes ---------------------------------------------------- */

/* Interned strings of one kind (a dimension's values): id by name. */
struct names {
	struct lh_table *ids;   /* name -> id + 1 */
	char **name;            /* pool strings, by id */
	size_t n, cap;
	struct report_pool *pool;
};

int names_init(struct names *t, struct report_pool *pool);
void names_free(struct names *t);
/* The id of s, added when new; -1 when out of memory. */
long names_id(struct names *t, const char *s);
/* The id of s, -1 when absent. */
long names_find(const struct names *t, const char *s);

/* Counts by name, kept as a sorted list at the end. */
struct tally {
	struct names names;
	uint64_t *n;
	size_t cap;
};

int tally_init(struct tally *t, struct report_pool *pool);
int tally_add(struct tally *t, const char *name, uint64_t n);
void tally_free(struct tally *t);
/* The counts, most first (then by name), in the pool; *out NULL when
 * empty.  Frees the tally. */
int tally_take(struct tally *t, struct report_count **out, size_t *n);

/* ---- formatting -------------------------------------------------------------- */

/* "9,870" */
const char *fmt_count(uint64_t n, char buf[32]);
/* "network=corp-wifi: 412/412 failed; elsewhere 0/9,870" */
char *fmt_split(struct report_pool *p, const struct report_split *s);
/* 64 hex digits of a 32-byte value */
void fmt_hex(const uint8_t *b, size_t n, char *out);
/* "2026-11-23T10:00:00Z" */
const char *fmt_time(int64_t us, char buf[48]);
/* A stored string shortened for a message line (pool), hostile bytes kept:
 * escaping is the printer's job. */
char *fmt_short(struct report_pool *p, const char *s, size_t max);

/* ---- one host's handshakes (report_host.c) ------------------------------- */

/* A chain the host served, the chain dimension's value: the counters'
 * fingerprint in hex, or "stored:ID" for an event's chain no sender
 * described with a ChainSeen yet. */
struct hchain {
	char *key;
	int64_t stored_id;              /* 0: certificates unknown */
	struct store_cert *certs;       /* copies in the host's pool */
	size_t ncerts;
	uint64_t successes, failures;   /* handshakes (failures: events) */
	int64_t first_hour, last_hour;
};

/* A distinct stored failure of the host, its hours summed. */
struct hfail {
	int64_t failure_id;
	const char *kind, *decision, *mode, *hostname, *verify_error_text;
	const char *policy_version;
	int verify_error;
	char **pins;                    /* the pins the client expected */
	size_t npins;
	uint64_t count;
	int64_t first_us, last_us;
	int64_t offset_min_s, offset_max_s;  /* client clock - receive time */
	long chain;                     /* index in host.chains */
	int group;                      /* diagnose's grouping */
};

/* Handshakes that share every dimension's value: successes of one
 * combination over all hours (the time dimension's value and hour are its
 * first hour's; successes by hour are in host.succ[DIM_TIME]), or one
 * failure in one hour. */
struct obs {
	uint32_t v[DIM_COUNT];          /* value ids; DIM_NONE unused */
	uint64_t failed, succeeded;
	long fail;                      /* index in host.fails, -1: success */
	long chain;                     /* index in host.chains */
	int64_t hour;
};

struct load;

struct host {
	struct report_pool *pool;       /* scratch, freed with the host */
	struct store *s;
	const char *name;
	struct names vals[DIM_COUNT];   /* each dimension's values */
	struct obs *obs;
	size_t nobs, capobs;
	struct hfail *fails;
	size_t nfails, capfails;
	struct hchain *chains;
	size_t nchains, capchains;
	struct names chain_keys;        /* key -> index in chains */
	uint64_t successes, failed;     /* counters: handshakes */
	bool thin;                      /* counters not read (host_load) */
	uint64_t events;                /* failure events */
	int64_t first_hour, last_hour;
	uint64_t *succ[DIM_COUNT];      /* successes by value id */
	struct load *load;              /* report_host.c's, while loading */
};

/* Loads host's failures and counters in range (q->host is set to it).
 * totals (NULL: none known): the host's sums over the range; when no
 * SPLIT_MIN_SUPPORT failures share a kind and a leaf issuer nothing can be
 * correlated, so its counters are not read (h->thin) and the successes
 * are the totals'.  0, or -1 with err set. */
int host_load(struct host *h, struct store *s, const struct store_query *q,
	      const char *host, const struct store_host_hour *totals,
	      char *err, size_t errlen);
void host_free(struct host *h);

/* host_load in steps, for a caller that reads every host's failures in
 * one query (sorted by host): host_init, host_add_failure for each of the
 * host's rows (in failure then hour order), host_add_counters.  Each 0,
 * or -1 with err set; host_free in any case. */
int host_init(struct host *h, struct store *s, const char *host, char *err,
	      size_t errlen);
int host_add_failure(struct host *h, const struct store_failure_hour *r,
		     char *err, size_t errlen);
int host_add_counters(struct host *h, const struct store_query *q,
		      const struct store_host_hour *totals, char *err,
		      size_t errlen);
/* The value of dimension d for o. */
const char *host_value(const struct host *h, const struct obs *o,
		       enum report_dim d);
/* The chain's leaf pin, the leaf's issuer, and the issuer of its last
 * certificate: "?" when its certificates are not known. */
const char *hchain_leaf(const struct hchain *c);
const char *hchain_issuer(const struct hchain *c);
const char *hchain_top_issuer(const struct hchain *c);

/* ---- splits: how one value separates failing from succeeding (report_split.c) */

/* Below this many handshakes on either side a split explains nothing. */
#define SPLIT_MIN_SUPPORT 3
/* At most this many values form one split's set ("office,home"). */
#define SPLIT_MAX_VALUES 6

/* A group of failures of a host, counted by each dimension's value. */
struct fcount {
	uint64_t *f[DIM_NONE];
	uint64_t total;
};

int fcount_init(struct fcount *c, const struct host *h);
void fcount_add(struct fcount *c, const struct obs *o);
void fcount_free(struct fcount *c);

/* The best split of dimension d between the failures of c and the host's
 * successes: out filled (value in p) and its score returned, 0..1; 0 and
 * out->dim = d with an empty value when no value separates. */
double split_best(const struct host *h, enum report_dim d,
		  const struct fcount *c, struct report_pool *p,
		  struct report_split *out);
/* Every dimension's best split with a score > 0, best first (pool). */
int split_rank(const struct host *h, const struct fcount *c,
	       struct report_pool *p, struct report_split **out, size_t *n);

/* ---- deciding a cause (report_decide.c) ---------------------------------- */

enum family { FAM_PIN, FAM_VALIDITY, FAM_UNTRUSTED, FAM_HOSTNAME, FAM_OTHER };

#define GROUP_MAX_EVIDENCE 8

/* Failures of a host that one cause should explain: the same kind family,
 * served chain and clock class. */
struct group {
	int id;                         /* index; hfail.group */
	enum family fam;
	long chain;                     /* index in host.chains */
	bool skewed;                    /* the clients' clocks are off */
	struct fcount fc;
	struct report_split split[DIM_NONE];   /* each dimension's best */
	int64_t first_us, last_us;      /* event times */
	int64_t recv_first_us, recv_last_us;   /* the collector's clock */
	int64_t offset_min_s, offset_max_s;
	/* the verdict */
	enum report_cause cause;
	struct report_split shown;      /* the separating split */
	double base, confidence;
	enum report_cause alt;          /* another cause that fits, or
					 * CAUSE_COUNT */
	const char *evidence[GROUP_MAX_EVIDENCE];
	size_t nevidence;
	const char *fix;
};

/* What all groups of a host are compared with. */
struct hostctx {
	struct host *h;
	long ref;                       /* the chain most succeeded with
					 * (certificates known first), -1 */
	struct names ok_names;          /* subjects and issuers of chains
					 * that succeeded */
	struct names ok_leaves;         /* their leaf pins */
};

int hostctx_init(struct hostctx *x, struct host *h);
void hostctx_free(struct hostctx *x);
/* Sets g's verdict (scratch strings in the host's pool). */
void decide(struct hostctx *x, struct group *g);
/* "3fa2c1d4e5f60718 (CN=a.example ← CN=CA 1)" */
const char *chain_label(struct report_pool *p, const struct hchain *c);

/* ---- chains in results (report_chains.c) --------------------------------- */

/* c as a result chain in p: certificates marked against pins and ref
 * (NULL: none), who saw it from h's observations. */
int chain_result(struct report_pool *p, const struct host *h, long chain,
		 const struct hchain *ref, char *const *pins, size_t npins,
		 struct report_chain *out);

/* ---- filters ----------------------------------------------------------------- */

/* The store query for f (hours that overlap [since, until)). */
void report_query(const struct report_filter *f, struct store_query *q);
int64_t report_now_us(void);

#endif
