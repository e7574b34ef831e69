/* The query string of a page or endpoint.  Only known keys, each at most
 * once and at most WEB_MAX_PARAM bytes; times as --since reads them (RFC
 * 3339 or a span back from now).  Anything else is a 400, so a typo in a
 * filter never silently shows unfiltered numbers.  An empty value (a form
 * field left blank) means no filter. */
#include "web.h"
#include "viewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {
	"pin_mismatch", "untrusted_issuer", "expired", "not_yet_valid",
	"hostname_mismatch", "other_verify_error", "policy_error",
};

static bool known_kind(const char *v)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(v, kinds[i]) == 0)
			return true;
	return false;
}

static int bad(char *err, size_t errlen, const char *key, const char *why)
{
	snprintf(err, errlen, "query parameter '%s': %s", key, why);
	return -1;
}

/* The slot of a known key, NULL for an unknown one. */
static const char **slot_of(struct web_query *q, const char *key)
{
	const struct { const char *key; const char **slot; } keys[] = {
		{ "since", &q->since_text }, { "until", &q->until_text },
		{ "host", &q->f.host }, { "network", &q->f.network },
		{ "version", &q->f.version }, { "kind", &q->f.kind },
		{ "limit", &q->limit_text }, { "offset", &q->offset_text },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i].key) == 0)
			return keys[i].slot;
	return NULL;
}

static int number(const char *v, size_t max, size_t *out)
{
	char *end;
	unsigned long long n;

	if (v[0] < '0' || v[0] > '9')
		return -1;
	n = strtoull(v, &end, 10);
	if (*end != '\0' || n > max)
		return -1;
	*out = (size_t)n;
	return 0;
}

/* The value of a key just set: times and numbers parsed, kinds known. */
static int parse(struct web_query *q, const char **slot, const char *key,
		 int64_t now_us, char *err, size_t errlen)
{
	if (slot == &q->since_text || slot == &q->until_text) {
		bool since = slot == &q->since_text;

		if (time_parse_since(*slot, now_us, since ? &q->f.since_us
				     : &q->f.until_us) < 0)
			return bad(err, errlen, key, "expected RFC 3339 "
				   "(2026-11-23T10:00:00Z) or a span back from "
				   "now (15m, 2h, 7d)");
		*(since ? &q->f.has_since : &q->f.has_until) = true;
	} else if (slot == &q->f.kind && !known_kind(*slot)) {
		return bad(err, errlen, key, "not an event kind");
	} else if (slot == &q->limit_text &&
		   (number(*slot, WEB_MAX_LIMIT, &q->limit) < 0 ||
		    q->limit == 0)) {
		return bad(err, errlen, key, "expected 1 to 10000");
	} else if (slot == &q->offset_text &&
		   number(*slot, 1000000000, &q->offset) < 0) {
		return bad(err, errlen, key, "expected a number");
	}
	return 0;
}

int params_add(struct web_query *q, const char *key, const char *value,
	       int64_t now_us, char *err, size_t errlen)
{
	const char **slot = slot_of(q, key);

	if (slot == NULL)
		return bad(err, errlen, strlen(key) <= 32 ? key : "?",
			   "unknown (known: since, until, host, network, "
			   "version, kind, limit, offset)");
	if (value == NULL)
		value = "";
	if (strlen(value) > WEB_MAX_PARAM)
		return bad(err, errlen, key, "longer than 256 bytes");
	if (*slot != NULL)
		return bad(err, errlen, key, "given twice");
	if (value[0] == '\0')
		return 0;
	*slot = value;
	return parse(q, slot, key, now_us, err, errlen);
}

int params_check(struct web_query *q, char *err, size_t errlen)
{
	if (q->f.has_since && q->f.has_until && q->f.until_us <= q->f.since_us)
		return bad(err, errlen, "until", "not after since");
	return 0;
}

void params_link(struct web_buf *b, const struct web_query *q,
		 const char *without)
{
	const struct { const char *key, *value; } p[] = {
		{ "since", q->since_text }, { "until", q->until_text },
		{ "host", q->f.host }, { "network", q->f.network },
		{ "version", q->f.version }, { "kind", q->f.kind },
	};
	bool first = true;

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		if (p[i].value == NULL ||
		    (without != NULL && strcmp(without, p[i].key) == 0))
			continue;
		buf_puts(b, first ? "?" : "&amp;");
		buf_puts(b, p[i].key);
		buf_puts(b, "=");
		html_url(b, p[i].value);
		first = false;
	}
}
