/* What the reports share: the filter's parsing and checks, the names of
 * causes and dimensions. */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *report_cause_name(enum report_cause c)
{
	static const char *const names[CAUSE_COUNT] = {
		[CAUSE_ROLLOVER] = "rollover",
		[CAUSE_INTERMEDIATE_CHANGE] = "intermediate_change",
		[CAUSE_INTERCEPTION] = "interception",
		[CAUSE_BACKEND_INCONSISTENCY] = "backend_inconsistency",
		[CAUSE_CLIENT_SPECIFIC] = "client_specific",
		[CAUSE_CLOCK_SKEW] = "clock_skew",
		[CAUSE_EXPIRED] = "expired",
		[CAUSE_TRUST_STORE] = "trust_store",
		[CAUSE_UNKNOWN] = "unknown",
	};

	return (unsigned)c < CAUSE_COUNT ? names[c] : "unknown";
}

const char *report_dim_name(enum report_dim d)
{
	static const char *const names[DIM_COUNT] = {
		[DIM_NETWORK] = "network",
		[DIM_APP_VERSION] = "app_version",
		[DIM_LIBSSL_VERSION] = "libssl_version",
		[DIM_OS] = "os",
		[DIM_PEER] = "peer",
		[DIM_CHAIN] = "chain",
		[DIM_LEAF_KEY] = "leaf_key",
		[DIM_ISSUER] = "issuer",
		[DIM_TIME] = "time",
		[DIM_CLOCK] = "clock",
		[DIM_NONE] = "",
	};

	return (unsigned)d < DIM_COUNT ? names[d] : "";
}

static int parse_time(const char *opt, const char *s, int64_t now_us,
		      int64_t *out, char *err, size_t errlen)
{
	if (time_parse_since(s, now_us, out) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: expected RFC 3339 "
		 "(2026-11-23T10:00:00Z) or a span back from now like 15m, "
		 "2h, 7d", opt, s);
	return -1;
}

int report_filter_parse(struct report_filter *f, const char *since,
			const char *until, int64_t now_us, char *err,
			size_t errlen)
{
	if (since != NULL) {
		if (parse_time("--since", since, now_us, &f->since_us, err,
			       errlen) < 0)
			return -1;
		f->has_since = true;
	}
	if (until != NULL) {
		if (parse_time("--until", until, now_us, &f->until_us, err,
			       errlen) < 0)
			return -1;
		f->has_until = true;
	}
	if (f->has_since && f->has_until && f->until_us <= f->since_us) {
		snprintf(err, errlen, "--until %s is not after --since %s",
			 until, since);
		return -1;
	}
	return 0;
}

/* An hour overlaps [since, until) when it ends after since and starts
 * before until. */
void report_query(const struct report_filter *f, struct store_query *q)
{
	memset(q, 0, sizeof(*q));
	q->host = f->host;
	q->network = f->network;
	q->app_version = f->version;
	q->kind = f->kind;
	q->has_since = f->has_since;
	q->has_until = f->has_until;
	q->since_us = f->since_us;
	q->until_us = f->until_us;
	if (f->has_since) {
		int64_t s = f->since_us / 1000000;

		q->since_hour = s - ((s % 3600) + 3600) % 3600;
	}
	if (f->has_until) {
		int64_t u = (f->until_us + 999999) / 1000000;

		q->until_hour = u + 3599 - ((u + 3599) % 3600 + 3600) % 3600;
	}
}

/* ---- "no host 'x'": the names the database does know ------------------------- */

struct known {
	char buf[400];
	size_t n;
};

static int add_name(void *arg, const char *name)
{
	struct known *k = arg;
	size_t len = strlen(k->buf);

	if (k->n++ >= 8) {
		if (k->n == 9)
			strncat(k->buf, ", ...", sizeof(k->buf) - len - 1);
		return 0;
	}
	snprintf(k->buf + len, sizeof(k->buf) - len, "%s%.60s",
		 len > 0 ? ", " : "", name);
	return 0;
}

int report_check(struct store *s, const struct report_filter *f, char *err,
		 size_t errlen)
{
	struct known k = { .n = 0 };
	char e[256];
	int rc = store_has_data(s, e, sizeof(e));

	if (rc < 0) {
		snprintf(err, errlen, "%s", e);
		return -1;
	}
	if (rc == 0) {
		snprintf(err, errlen, "db %s is empty: no handshakes stored yet",
			 store_path(s));
		return -1;
	}
	if (f->host == NULL)
		return 0;
	rc = store_host_known(s, f->host, err, errlen);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (store_host_names(s, add_name, &k, e, sizeof(e)) < 0)
		k.buf[0] = '\0';
	snprintf(err, errlen, "no host '%.200s' in db %s (known: %s)", f->host,
		 store_path(s), k.buf);
	return -1;
}
