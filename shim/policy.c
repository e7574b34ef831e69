/* The pinning policy (see policy.h, DESIGN.md "Policy").
 *
 * One pass over the file's lines.  next_line() hands over one physical line
 * at a time (so line numbers are exact); parse_line() skips blank and
 * comment lines whatever their length, refuses what is not text (NUL bytes,
 * control characters, a line over POLICY_MAX_LINE), parses [section]
 * headers, and splits "key = value" the way INI files have always been
 * split ('=' or ':', an inline comment starts at a ';' after a blank).
 * on_key() then handles each key through a small table per section.
 * (libinih did the splitting once; it cuts lines at 200 bytes, which broke
 * whole policies on one long comment.)
 *
 * An error is the whole file's unless it sits in a [host] section or its
 * header: then only that section is refused (disabled, listed in
 * problems), so one typo cannot switch every other host to observe.
 *
 * All state lives in struct parse; the finished struct policy is only read
 * afterwards, from any thread. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MSG_MAX 512
/* Characters of file text quoted in a message: enough to recognise it,
 * never a whole pasted certificate. */
#define QUOTE_MAX 60
#define SECONDS_PER_DAY 86400
/* After this many errors the file is not a policy (a binary, the wrong
 * file): stop rather than print one error per line of it. */
#define MAX_ERRORS 50

/* SEC_SKIP: an unknown section (warned, ignored); SEC_BAD: a [host]
 * header that was refused (its lines are ignored). */
enum section { SEC_NONE, SEC_POLICY, SEC_HOST, SEC_SKIP, SEC_BAD };

struct parse {
	struct policy *pol;
	policy_report_fn report;
	void *arg;
	char *err;
	size_t errlen;
	FILE *fp;
	char *buf;              /* getline()'s buffer */
	size_t cap;
	int lineno;
	int nerrors;            /* all of them: MAX_ERRORS stops the parse */
	int fatal;              /* those that refuse the whole file */
	bool section_failed;    /* the current section has its problem */
	int read_errno;
	size_t bytes;           /* read so far */
	int oom;
	time_t now;
	enum section sec;
	size_t host;            /* index of the current host, SEC_HOST only */
	int key_line[8];        /* where each single-valued key was set */
	int policy_line;        /* header line of [policy], 0 before it */
	int include_line;       /* include-subdomains in the current host */
	int pin_keys;           /* pin = lines in the current host */
	int bad_pins;           /* of those, malformed */
};

typedef void (*key_setter)(struct parse *ps, const char *value);

struct key {
	const char *name;
	key_setter set;
	int repeatable;
};

/* Keeps the first error of a refused section as one of the policy's
 * problems: "path:line: [host NAME] not in force: msg". */
static void section_problem(struct parse *ps, int line, const char *msg)
{
	struct policy *p = ps->pol;
	char text[MSG_MAX + 64 + POLICY_HOST_MAX], **grown;

	if (ps->sec == SEC_HOST) {
		p->hosts[ps->host].disabled = true;
		snprintf(text, sizeof(text), "%s:%d: [host %s] not in force: %s",
			 p->path, line, p->hosts[ps->host].name, msg);
	} else {
		snprintf(text, sizeof(text), "%s:%d: %s, the section is "
			 "ignored", p->path, line, msg);
	}
	if (ps->section_failed)
		return;
	ps->section_failed = true;
	grown = realloc(p->problems, (p->nproblems + 1) * sizeof(*grown));
	if (grown == NULL || (grown[p->nproblems] = strdup(text)) == NULL) {
		if (grown != NULL)
			p->problems = grown;
		ps->oom = 1;
		return;
	}
	p->problems = grown;
	p->nproblems++;
}

static void error_text(struct parse *ps, int line, const char *msg)
{
	if (line > 0)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->pol->path, line,
			 msg);
	else
		snprintf(ps->err, ps->errlen, "%s: %s", ps->pol->path, msg);
}

/* Formats one finding and hands it to the caller's report function.  An
 * error inside a [host] section refuses that section; any other refuses
 * the file, and the first of those is kept as "path:line: msg" for err. */
__attribute__((format(printf, 4, 5)))
static void finding(struct parse *ps, enum policy_severity sev, int line,
		    const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (sev == POLICY_ERROR) {
		ps->nerrors++;
		if (ps->sec == SEC_HOST || ps->sec == SEC_BAD)
			section_problem(ps, line, msg);
		else if (ps->fatal++ == 0 && ps->err != NULL && ps->errlen > 0)
			error_text(ps, line, msg);
	}
	if (ps->report != NULL)
		ps->report(ps->arg, sev, line, msg);
}

/* Copies file text into out for a message: printable ASCII as it is, every
 * other byte as \xNN (a policy may hold anything, a terminal must not get
 * it), cut at QUOTE_MAX characters. */
static const char *quote(const char *s, char out[QUOTE_MAX * 4 + 4])
{
	size_t o = 0, i;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)sprintf(out + o, "\\x%02x", c);
	}
	if (s[i] != '\0')
		o += (size_t)sprintf(out + o, "...");
	out[o] = '\0';
	return out;
}

static char *dup_or_oom(struct parse *ps, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		ps->oom = 1;
	return d;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- values ---- */

static int parse_mode(const char *s)
{
	if (strcasecmp(s, "observe") == 0)
		return POLICY_OBSERVE;
	if (strcasecmp(s, "enforce") == 0)
		return POLICY_ENFORCE;
	return -1;
}

/* 1 for yes/true/1, 0 for no/false/0, -1 otherwise. */
static int parse_bool(const char *s)
{
	static const char *const yes[] = { "yes", "true", "1" };
	static const char *const no[] = { "no", "false", "0" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

/* "YYYY-MM-DD" to the first second of that day, UTC.  -1 if malformed. */
static time_t parse_date(const char *s)
{
	struct tm tm = { 0 };
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	/* timegm reads no TZ variable: the same day everywhere */
	return timegm(&tm);
}

static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static int ipv6_ok(const char *s)
{
	return strlen(s) <= 45 && strspn(s, "0123456789abcdef:.") == strlen(s);
}

/* A lower-case DNS name, optionally "*." and one or more labels, or an
 * IPv6 literal (the peer address is the name when no SNI was sent). */
static int host_name_ok(const char *name)
{
	const char *p = name, *dot;

	if (strchr(name, ':') != NULL)
		return ipv6_ok(name);
	if (strlen(name) > POLICY_HOST_MAX)
		return 0;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	for (;;) {
		dot = strchr(p, '.');
		if (!label_ok(p, dot != NULL ? (size_t)(dot - p) : strlen(p)))
			return 0;
		if (dot == NULL)
			return 1;
		p = dot + 1;
	}
}

/* ---- [policy] keys ---- */

/* *field = a copy of v.  0, or -1 (out of memory, reported). */
static int replace_string(struct parse *ps, char **field, const char *v)
{
	char *d = dup_or_oom(ps, v);

	if (d == NULL)
		return -1;
	free(*field);
	*field = d;
	return 0;
}

static void set_version(struct parse *ps, const char *v)
{
	if (strlen(v) > POLICY_MAX_VERSION) {
		finding(ps, POLICY_ERROR, ps->lineno, "version of %zu "
			"characters: at most %d", strlen(v), POLICY_MAX_VERSION);
		return;
	}
	replace_string(ps, &ps->pol->version, v);
}

static void set_policy_mode(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4];
	int mode = parse_mode(v);

	if (mode < 0)
		finding(ps, POLICY_ERROR, ps->lineno,
			"unknown mode '%s': expected observe or enforce",
			quote(v, q));
	else
		ps->pol->mode = (enum policy_mode)mode;
}

/* "host:port" (the host may be "[v6]"), port 1..65535. */
static int host_port_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && errno == 0 && port >= 1 && port <= 65535 &&
	       colon[1] >= '0' && colon[1] <= '9';
}

static void set_collector(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4];

	if (!host_port_ok(v)) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"collector '%s': expected host:port", quote(v, q));
		return;
	}
	replace_string(ps, &ps->pol->collector, v);
}

static void set_token(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4];

	if (v[0] == '\0') {
		finding(ps, POLICY_ERROR, ps->lineno,
			"token: expected the path of the shared secret file");
		return;
	}
	if (replace_string(ps, &ps->pol->token_path, v) < 0)
		return;
	/* every preloaded program would look for it in its own cwd */
	if (v[0] != '/')
		finding(ps, POLICY_WARNING, ps->lineno,
			"token path '%s' is relative: each program resolves it "
			"from its own working directory", quote(v, q));
}

/* The directory for batches not yet delivered: absolute, since every
 * preloaded program would resolve a relative one from its own cwd. */
static void set_spool(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4];

	if (v[0] != '/') {
		finding(ps, POLICY_ERROR, ps->lineno,
			"spool '%s': expected an absolute directory path",
			quote(v, q));
		return;
	}
	replace_string(ps, &ps->pol->spool_dir, v);
}

static void set_log(struct parse *ps, const char *v)
{
	static const char *const names[] = { "off", "error", "info", "debug" };
	char q[QUOTE_MAX * 4 + 4];

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, names[i]) == 0) {
			ps->pol->log_level = i;
			return;
		}
	}
	finding(ps, POLICY_ERROR, ps->lineno,
		"log '%s': expected off, error, info or debug", quote(v, q));
}

/* ---- [host NAME] keys ---- */

static struct policy_host *cur_host(struct parse *ps)
{
	return &ps->pol->hosts[ps->host];
}

/* 1 when h already holds pin; *line is where. */
static int has_pin(const struct policy_host *h, const struct pin *pin,
		   int *line)
{
	for (size_t i = 0; i < h->npins; i++) {
		if (pin_equal(&h->pins[i], pin)) {
			*line = h->pin_lines[i];
			return 1;
		}
	}
	return 0;
}

/* Doubles a host's pin arrays (most hosts have two pins). */
static int append_pin(struct parse *ps, const struct pin *pin)
{
	struct policy_host *h = cur_host(ps);
	size_t cap = h->npins < 2 ? 2 : h->npins * 2;

	if (h->npins == 0 || (h->npins >= 2 && (h->npins & (h->npins - 1)) == 0)) {
		struct pin *pins = realloc(h->pins, cap * sizeof(*pins));
		int *lines = pins ? realloc(h->pin_lines, cap * sizeof(*lines))
				  : NULL;

		if (pins != NULL)
			h->pins = pins;
		if (lines == NULL) {
			ps->oom = 1;
			return -1;
		}
		h->pin_lines = lines;
	}
	h->pins[h->npins] = *pin;
	h->pin_lines[h->npins] = ps->lineno;
	h->npins++;
	return 0;
}

static void add_pin(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4], why[128];
	struct pin pin;
	int first;

	ps->pin_keys++;
	if (pin_parse_explain(v, &pin, why, sizeof(why)) < 0) {
		ps->bad_pins++;
		finding(ps, POLICY_ERROR, ps->lineno, "malformed pin '%s': %s",
			quote(v, q), why);
		return;
	}
	if (has_pin(cur_host(ps), &pin, &first)) {
		finding(ps, POLICY_WARNING, ps->lineno,
			"the same pin as line %d: a repeated pin is no backup",
			first);
		return;
	}
	if (cur_host(ps)->npins == POLICY_MAX_PINS) {
		finding(ps, POLICY_ERROR, ps->lineno, "more than %d pins for "
			"one host", POLICY_MAX_PINS);
		return;
	}
	append_pin(ps, &pin);
}

static void set_include(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4];
	int b = parse_bool(v);

	if (b < 0)
		finding(ps, POLICY_ERROR, ps->lineno,
			"include-subdomains '%s': expected yes, no, true, "
			"false, 1 or 0", quote(v, q));
	else
		cur_host(ps)->include_subdomains = b;
	ps->include_line = ps->lineno;
}

static void set_host_mode(struct parse *ps, const char *v)
{
	char q[QUOTE_MAX * 4 + 4];
	int mode = parse_mode(v);

	if (mode < 0)
		finding(ps, POLICY_ERROR, ps->lineno,
			"unknown mode '%s': expected observe or enforce",
			quote(v, q));
	else
		cur_host(ps)->mode = mode;
}

static void set_expires(struct parse *ps, const char *v)
{
	struct policy_host *h = cur_host(ps);
	char q[QUOTE_MAX * 4 + 4];
	time_t day = parse_date(v);

	if (day == (time_t)-1) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"expires '%s': expected a date YYYY-MM-DD (UTC), "
			"e.g. 2027-06-01", quote(v, q));
		return;
	}
	/* the pins hold through the whole named day */
	h->expires = day + SECONDS_PER_DAY;
	h->expires_line = ps->lineno;
	if (policy_host_expired(h, ps->now))
		finding(ps, POLICY_WARNING, ps->lineno,
			"pins of %s expired on %s: they are only reported, "
			"never enforced", h->name, v);
}

static const struct key policy_keys[] = {
	{ "version", set_version, 0 },
	{ "mode", set_policy_mode, 0 },
	{ "collector", set_collector, 0 },
	{ "token", set_token, 0 },
	{ "spool", set_spool, 0 },
	{ "log", set_log, 0 },
};

static const struct key host_keys[] = {
	{ "pin", add_pin, 1 },
	{ "include-subdomains", set_include, 0 },
	{ "mode", set_host_mode, 0 },
	{ "expires", set_expires, 0 },
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))
_Static_assert(NKEYS(policy_keys) <= NKEYS(((struct parse *)0)->key_line) &&
	       NKEYS(host_keys) <= NKEYS(((struct parse *)0)->key_line),
	       "struct parse: key_line too short");

/* ---- sections ---- */

/* Closes the current section: a host's pin count is known only now. */
static void section_end(struct parse *ps)
{
	const struct policy_host *h;

	if (ps->sec != SEC_HOST)
		return;
	h = cur_host(ps);
	if (ps->pin_keys == 0)
		finding(ps, POLICY_ERROR, h->line,
			"[host %s] has no pin: expected at least one "
			"'pin = sha256/...' (better two)", h->name);
	else if (h->npins == 1 && ps->bad_pins == 0)
		finding(ps, POLICY_WARNING, h->line,
			"[host %s] has only one pin: no backup pin, a key "
			"rollover will break this host", h->name);
	if (h->include_subdomains && h->name[0] == '*')
		finding(ps, POLICY_WARNING, ps->include_line,
			"include-subdomains has no effect on a wildcard entry");
}

static void section_reset(struct parse *ps, enum section sec)
{
	ps->sec = sec;
	ps->section_failed = false;
	memset(ps->key_line, 0, sizeof(ps->key_line));
	ps->include_line = 0;
	ps->pin_keys = 0;
	ps->bad_pins = 0;
}

static int new_host(struct parse *ps, const char *name)
{
	struct policy_host *h;

	if (ps->pol->nhosts == POLICY_MAX_HOSTS) {
		finding(ps, POLICY_ERROR, ps->lineno, "more than %d hosts",
			POLICY_MAX_HOSTS);
		return -1;
	}
	h = policy_add_host(ps->pol, name);
	if (h == NULL) {
		ps->oom = 1;
		return -1;
	}
	h->line = ps->lineno;
	ps->host = ps->pol->nhosts - 1;
	return 0;
}

/* [host NAME]: a new, valid, not yet seen name starts a host; anything
 * else is an error of this section, whose keys are skipped. */
static void host_begin(struct parse *ps, const char *arg)
{
	char q[QUOTE_MAX * 4 + 4], name[POLICY_HOST_MAX + 1];
	const struct policy_host *dup;

	section_reset(ps, SEC_BAD);
	if (arg[strcspn(arg, " \t")] != '\0') {
		finding(ps, POLICY_ERROR, ps->lineno,
			"[host %s]: expected one host name", quote(arg, q));
		return;
	}
	if (policy_name_normalize(arg, name) < 0 || !host_name_ok(name)) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"invalid host name '%s': expected a DNS name "
			"(IDNs in xn-- form), '*.' and a name, or an IPv6 "
			"address", quote(arg, q));
		return;
	}
	dup = policy_find(ps->pol, name);
	if (dup != NULL) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"duplicate [host %s] section (first at line %d)", name,
			dup->line);
		return;
	}
	if (new_host(ps, name) == 0)
		ps->sec = SEC_HOST;
}

static void policy_begin(struct parse *ps)
{
	section_reset(ps, SEC_SKIP);
	if (ps->policy_line > 0) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"duplicate [policy] section (first at line %d)",
			ps->policy_line);
		return;
	}
	ps->policy_line = ps->lineno;
	ps->sec = SEC_POLICY;
}

/* Splits "word rest" in place: returns rest (maybe ""), word ends at *s. */
static char *split_word(char *s)
{
	char *rest = s + strcspn(s, " \t");

	if (*rest != '\0')
		*rest++ = '\0';
	while (is_blank(*rest))
		rest++;
	return rest;
}

static void rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
}

/* line starts with '['. */
static void section_begin(struct parse *ps, char *line)
{
	char q[QUOTE_MAX * 4 + 4];
	char *close = strchr(line, ']'), *after, *word, *rest;

	section_end(ps);
	section_reset(ps, SEC_SKIP);
	if (close == NULL) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"section header without ']': expected [policy] or "
			"[host NAME]");
		return;
	}
	for (after = close + 1; is_blank(*after); after++)
		;
	if (*after != '\0' && *after != ';' && *after != '#') {
		finding(ps, POLICY_ERROR, ps->lineno,
			"text after ']': '%s'", quote(after, q));
		return;
	}
	*close = '\0';
	for (word = line + 1; is_blank(*word); word++)
		;
	rstrip(word);
	quote(word, q);
	rest = split_word(word);
	if (strcasecmp(word, "policy") == 0 && *rest == '\0')
		policy_begin(ps);
	else if (strcasecmp(word, "host") == 0 && *rest != '\0')
		host_begin(ps, rest);
	else if (strcasecmp(word, "host") == 0) {
		ps->sec = SEC_BAD;
		finding(ps, POLICY_ERROR, ps->lineno,
			"[host] without a name: expected [host NAME]");
	}
	else
		finding(ps, POLICY_WARNING, ps->lineno,
			"unknown section [%s], its keys are ignored: "
			"expected [policy] or [host NAME]", q);
}

/* ---- keys ---- */

static void list_keys(const struct key *keys, size_t n, char *out,
		      size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s",
				      i > 0 ? ", " : "", keys[i].name);
}

static void unknown_key(struct parse *ps, const char *name,
			const struct key *keys, size_t n)
{
	char q[QUOTE_MAX * 4 + 4], expected[128];

	list_keys(keys, n, expected, sizeof(expected));
	finding(ps, POLICY_WARNING, ps->lineno,
		"unknown key '%s' in [%s%s], ignored: expected %s",
		quote(name, q), ps->sec == SEC_POLICY ? "policy" : "host ",
		ps->sec == SEC_POLICY ? "" : cur_host(ps)->name, expected);
}

/* One "key = value" line of the current section. */
static void on_key(struct parse *ps, const char *name, const char *value)
{
	const struct key *keys = ps->sec == SEC_POLICY ? policy_keys
						       : host_keys;
	size_t n = ps->sec == SEC_POLICY ? NKEYS(policy_keys)
					 : NKEYS(host_keys);
	char q[QUOTE_MAX * 4 + 4];

	if (ps->sec == SEC_SKIP || ps->sec == SEC_BAD)
		return;
	if (ps->sec == SEC_NONE) {
		finding(ps, POLICY_WARNING, ps->lineno,
			"key '%s' before any section, ignored: expected "
			"[policy] or [host NAME] first", quote(name, q));
		return;
	}
	if (name[0] == '\0') {
		finding(ps, POLICY_ERROR, ps->lineno,
			"no key before '=': expected 'key = value'");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(name, keys[i].name) != 0)
			continue;
		if (!keys[i].repeatable && ps->key_line[i] > 0)
			finding(ps, POLICY_WARNING, ps->lineno,
				"%s set again (first at line %d): this later "
				"value wins", keys[i].name, ps->key_line[i]);
		ps->key_line[i] = ps->lineno;
		keys[i].set(ps, value);
		return;
	}
	unknown_key(ps, name, keys, n);
}

/* ---- lines ---- */

/* The first control character (other than tab) in s[0..n), or -1. */
static int control_char(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return c;
	}
	return -1;
}

/* Checks a line that is not a comment; 0 when it is text, -1 (reported)
 * if not. */
static int line_ok(struct parse *ps, const char *line, size_t n)
{
	int c;

	if (memchr(line, '\0', n) != NULL) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"NUL byte in line: expected a text file");
		return -1;
	}
	if (n > POLICY_MAX_LINE) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"line too long (%zu bytes, at most %d)", n,
			POLICY_MAX_LINE);
		return -1;
	}
	c = control_char(line, n);
	if (c >= 0) {
		finding(ps, POLICY_ERROR, ps->lineno,
			"control character 0x%02x in line: expected text", c);
		return -1;
	}
	return 0;
}

/* The end of s, or its inline comment: a ';' after a blank. */
static char *comment_or_end(char *s)
{
	bool was_blank = false;

	for (; *s != '\0'; s++) {
		if (was_blank && *s == ';')
			break;
		was_blank = is_blank(*s);
	}
	return s;
}

/* Splits "key = value" in place, as INI files are split: the key ends at
 * the first '=' or ':' unless an inline comment comes first; blanks around
 * both are not theirs.  false when there is no separator. */
static bool split_key(char *line, char **key, char **value)
{
	char *end = comment_or_end(line);
	char *sep = line + strcspn(line, "=:");

	if (sep >= end)
		return false;
	*sep++ = '\0';
	rstrip(line);
	while (is_blank(*sep))
		sep++;
	/* a value may start with ';': only one after a blank is a comment */
	if (*sep != '\0')
		*comment_or_end(sep + 1) = '\0';
	rstrip(sep);
	*key = line;
	*value = sep;
	return true;
}

/* Reads one line into ps->buf without its line ending.  Its length, or -1
 * at the end of the file (or on a read error, kept in read_errno).  The
 * file is a regular file of at most POLICY_MAX_BYTES (open_policy), so no
 * line can take more memory than that. */
static ssize_t next_line(struct parse *ps)
{
	ssize_t n = getline(&ps->buf, &ps->cap, ps->fp);

	if (n < 0) {
		if (ferror(ps->fp))
			ps->read_errno = errno != 0 ? errno : EIO;
		return -1;
	}
	/* a file that grows while it is read stops at the cap too */
	ps->bytes += (size_t)n;
	if (ps->bytes > POLICY_MAX_BYTES) {
		ps->read_errno = EFBIG;
		return -1;
	}
	ps->lineno++;
	while (n > 0 && (ps->buf[n - 1] == '\n' || ps->buf[n - 1] == '\r'))
		ps->buf[--n] = '\0';
	return n;
}

/* One physical line: blank lines and comments (of any length) are
 * skipped; a header or a key, or an error. */
static void parse_line(struct parse *ps, char *line, size_t n)
{
	char *key, *value;

	if (ps->lineno == 1 && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		n -= 3;
	}
	for (; n > 0 && is_blank(*line); n--)
		line++;
	if (n == 0 || *line == ';' || *line == '#')
		return;
	if (line_ok(ps, line, n) < 0)
		return;
	if (*line == '[')
		section_begin(ps, line);
	else if (split_key(line, &key, &value))
		on_key(ps, key, value);
	else
		finding(ps, POLICY_ERROR, ps->lineno,
			"expected 'key = value', '[section]' or a comment");
}

/* ---- the API ---- */

static struct policy *policy_new(const char *path)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->path = strdup(path);
	p->version = strdup("");
	p->mode = POLICY_OBSERVE;
	p->log_level = -1;
	if (p->path == NULL || p->version == NULL) {
		policy_free(p);
		return NULL;
	}
	return p;
}

static void parse_file(struct parse *ps)
{
	char eb[128];
	ssize_t n;

	while (ps->nerrors < MAX_ERRORS && !ps->oom &&
	       (n = next_line(ps)) >= 0)
		parse_line(ps, ps->buf, (size_t)n);
	if (ps->nerrors < MAX_ERRORS)
		section_end(ps);
	/* what follows is the whole file's */
	section_reset(ps, SEC_NONE);
	if (ps->nerrors >= MAX_ERRORS)
		finding(ps, POLICY_ERROR, ps->lineno,
			"too many errors, stopped here: is this a policy?");
	else if (ps->read_errno != 0)
		finding(ps, POLICY_ERROR, 0, "cannot read: %s",
			strerror_r(ps->read_errno, eb, sizeof(eb)));
	else if (ps->oom)
		finding(ps, POLICY_ERROR, 0, "out of memory");
}

/* The policy file, opened without blocking (a FIFO or a device would hang
 * every handshake of the process) and only when it is a regular file of at
 * most POLICY_MAX_BYTES.  NULL when not (reported). */
static FILE *open_policy(struct parse *ps, const char *path)
{
	char eb[128];
	struct stat st;
	FILE *fp = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		finding(ps, POLICY_ERROR, 0, "cannot open: %s",
			strerror_r(errno, eb, sizeof(eb)));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		finding(ps, POLICY_ERROR, 0, "not a regular file");
	else if (st.st_size > POLICY_MAX_BYTES)
		finding(ps, POLICY_ERROR, 0, "%lld bytes: a policy is at most "
			"%d MiB", (long long)st.st_size, POLICY_MAX_BYTES >> 20);
	else if ((fp = fdopen(fd, "r")) == NULL)
		finding(ps, POLICY_ERROR, 0, "cannot read: %s",
			strerror_r(errno, eb, sizeof(eb)));
	if (fp == NULL)
		close(fd);
	return fp;
}

struct policy *policy_load(const char *path, policy_report_fn report,
			   void *arg, char *err, size_t errlen)
{
	struct parse ps = { .report = report, .arg = arg, .err = err,
			    .errlen = errlen, .now = time(NULL) };
	struct policy *result = NULL;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	ps.pol = policy_new(path);
	if (ps.pol == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	ps.fp = open_policy(&ps, path);
	if (ps.fp == NULL)
		goto out;
	parse_file(&ps);
	if (ps.fatal == 0) {
		result = ps.pol;
		ps.pol = NULL;
	}
out:
	if (ps.fp != NULL)
		fclose(ps.fp);
	free(ps.buf);
	policy_free(ps.pol);
	return result;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nhosts; i++) {
		free(p->hosts[i].name);
		free(p->hosts[i].pins);
		free(p->hosts[i].pin_lines);
	}
	free(p->hosts);
	free(p->index);
	for (size_t i = 0; i < p->nproblems; i++)
		free(p->problems[i]);
	free(p->problems);
	free(p->path);
	free(p->version);
	free(p->collector);
	free(p->token_path);
	free(p->spool_dir);
	free(p);
}
