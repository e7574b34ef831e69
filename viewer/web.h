/* pinshim-view serve: the web page, read top-down:
 *   serve.c     the HTTP server (libmicrohttpd): listen, route each request
 *               to a page, answer with the security headers, shut down on
 *               SIGINT / SIGTERM
 *   params.c    the query string: only known parameters, bounded, checked
 *   html.c      building a response: a growing buffer, escaping of every
 *               stored string (text, attribute, URL), the page frame
 *   svg.c       the timeline chart, drawn on the server (no script)
 *   causes.c    the overview's causes (every host's diagnosis), kept per
 *               filter and refreshed in the background
 *   render.c    pieces of reports as HTML, shared by the pages
 *   pages.c     the HTML pages: overview, host, diagnose, matrix, rollout,
 *               chain
 *   api.c       /api/...: the reports' JSON, as `--json` prints it
 *   web/style.css  the only style sheet, compiled into the binary
 *
 * Everything a sender stored (host names, certificate fields, network
 * labels, versions) is hostile: it reaches the page only through
 * html_text / html_attr / html_url, never through a format string.
 */
#ifndef PINSHIM_WEB_H
#define PINSHIM_WEB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

#include "report.h"

/* A response body under construction.  Once out of memory (or past
 * WEB_MAX_BODY) every append is dropped and oom stays set. */
#define WEB_MAX_BODY (32u << 20)

struct web_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void buf_put(struct web_buf *b, const char *s, size_t n);
/* Trusted text only (markup, numbers): never a stored string. */
void buf_puts(struct web_buf *b, const char *s);
void buf_printf(struct web_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_free(struct web_buf *b);

/* Stored strings, made safe for where they go.  Invalid UTF-8 becomes
 * U+FFFD and control characters are dropped; html_text and html_attr
 * escape & < > " ' (so one function serves both text and quoted
 * attribute values); html_url percent-encodes all but RFC 3986's
 * unreserved characters, for a path segment or a query value. */
void html_text(struct web_buf *b, const char *s);
#define html_attr html_text
void html_url(struct web_buf *b, const char *s);
/* A number with thousands separators: 9870 → "9,870". */
void html_count(struct web_buf *b, uint64_t n);
/* A rate as a percentage with one decimal ("12.5%"), "–" when total 0. */
void html_rate(struct web_buf *b, uint64_t failed, uint64_t total);
/* A time (µs or s since the epoch) as RFC 3339, "–" when 0. */
void html_time_us(struct web_buf *b, int64_t us);
void html_time_s(struct web_buf *b, int64_t s);

/* ---- the query string -------------------------------------------------- */

#define WEB_MAX_PARAM 256        /* bytes of one value */

/* The filters every page and endpoint understands, as the reports take
 * them (NULL / false when absent), and the raw texts of the times to
 * carry them into links.  limit and offset page through /api/failures. */
struct web_query {
	struct report_filter f;
	const char *since_text, *until_text, *limit_text, *offset_text;
	size_t limit, offset;
};

#define WEB_MAX_LIMIT 10000      /* failures in one /api/failures answer */

/* One key=value from the query string, as libmicrohttpd decoded it: 0,
 * or -1 with err set (the request is a 400). */
int params_add(struct web_query *q, const char *key, const char *value,
	       int64_t now_us, char *err, size_t errlen);
/* After the last params_add: the checks across keys (since < until). */
int params_check(struct web_query *q, char *err, size_t errlen);
/* The query again, "?since=..&host=.." (empty when no filter), each value
 * percent-encoded; without one key (to build "all hosts" links). */
void params_link(struct web_buf *b, const struct web_query *q,
		 const char *without);

/* ---- a request --------------------------------------------------------- */

struct web_req {
	const char *db;            /* the database path (--db) */
	const char *arg;           /* what follows the route's prefix: a host */
	struct web_query q;
	struct web_buf out;
	const char *type;          /* the response's Content-Type */
	char err[512];             /* the message of a 4xx / 5xx */
	int stream_fd;             /* >= 0: the body comes from this pipe, and
				      its writer gives the report slot back */
};

/* ---- guard.c: deadlines, NUL bytes, report slots ----------------------- */

/* Starts the watchdog: connections whose request line and headers are not
 * in within header_ms are shut down; busy_max reports run at once, one
 * more waits queue_ms for a slot.  0, or -1. */
int guard_start(int header_ms, unsigned busy_max, int queue_ms);
void guard_stop(void);
/* libmicrohttpd's connection notifications and URL unescaper. */
void guard_notify(void *cls, struct MHD_Connection *c, void **ctx,
		  enum MHD_ConnectionNotificationCode toe);
size_t guard_unescape(void *cls, struct MHD_Connection *c, char *s);
/* The request of c is in (its headers complete): false when its URL held
 * a NUL byte (the request is a 400). */
bool guard_request(struct MHD_Connection *c);
/* A report slot: true when one was free within the queue's wait (then
 * guard_busy_leave once done), false: answer 503. */
bool guard_busy_enter(void);
void guard_busy_leave(void);

/* A page or endpoint: the HTTP status (200, or 4xx / 5xx with err set). */
typedef int (*web_handler)(struct web_req *r);

/* The page frame: <head> with the title, the navigation with the current
 * filters, the filter form; then the page's own body, then web_end. */
void web_begin(struct web_req *r, const char *title, const char *current);
void web_end(struct web_req *r);
/* An error page (HTML) or object (JSON) for status, from r->err. */
void web_error(struct web_req *r, int status, bool json);

/* Sets r->err and returns status. */
int web_fail(struct web_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* svg.c: the timeline chart.  series[0] is the successes (bars up), the
 * others failures (bars down, stacked); each values[] has n buckets of
 * `bucket` seconds from `first`.  color: an SVG colour ("#12b76a"). */
struct svg_series {
	const char *name;
	const char *color;
	const uint64_t *values;
};
void svg_timeline(struct web_buf *b, int64_t first, int64_t bucket,
		  size_t n, const struct svg_series *series, size_t nseries,
		  const char *title);

/* render.c: pieces of reports shared by the pages. */
/* <a href="/host/NAME?filters">NAME</a> */
void render_host_link(struct web_req *r, const char *host);
/* <span class="cause">rollover</span> */
void render_cause(struct web_buf *b, enum report_cause c);
/* "network=corp-wifi: 412/412 failed; elsewhere 0/9,870" */
void render_split(struct web_buf *b, const struct report_split *s);
/* "pin_mismatch 12, expired 3" */
void render_counts(struct web_buf *b, const struct report_count *c,
		   size_t n);
/* A served chain: its counts and who saw it, then one row per
 * certificate with the pinned and changed positions marked. */
void render_chain(struct web_buf *b, const struct report_chain *c);
/* The timeline chart of tl (successes against failures by cause);
 * a notice when tl has no hours. */
void render_timeline(struct web_buf *b, const struct report_timeline *tl,
		     const char *title);
/* A network x version table of failure rates. */
void render_matrix(struct web_buf *b, const struct report_matrix *m);
/* A pin list, <ul> of <code>. */
void render_pins(struct web_buf *b, char *const *pins, size_t n);

/* pages.c: the store of a request, opened read-only and checked against
 * its filter (report_check); NULL with *status set and r->err saying why:
 * 503 (cannot open), 404 (unknown host, or an empty database when empty
 * is NULL), 500.  Otherwise *status is 200 and *empty tells an empty
 * database. */
struct store *web_open(struct web_req *r, int *status, bool *empty);
/* The status of a report that failed on s: 503 when the database could
 * not be read (replaced, truncated, gone), else 500. */
int web_report_failed(struct store *s);

/* causes.c: the diagnoses and the timeline by cause of a filter, at most
 * a refresh period old (computed_us says when). */
struct causes {
	struct report_diagnoses dg;
	struct report_timeline tl;
	int64_t computed_us;
};
/* Starts the refresher (and computes the unfiltered overview's): 0, or -1
 * when the thread cannot start. */
int causes_start(const char *db);
/* Stops the refresher and frees every result (no request may run). */
void causes_stop(void);
/* The causes for q's filter, a reference (causes_put it): the last result,
 * or computed now when there is none; NULL with err set. */
const struct causes *causes_get(const struct web_query *q, char *err,
				size_t errlen);
void causes_put(const struct causes *c);

/* pages.c and api.c */
int page_overview(struct web_req *r);
int page_host(struct web_req *r);
int page_diagnose(struct web_req *r);
int page_matrix(struct web_req *r);
int page_rollout(struct web_req *r);
int page_chain(struct web_req *r);
int api_summary(struct web_req *r);
int api_failures(struct web_req *r);
int api_diagnose(struct web_req *r);
int api_rollout(struct web_req *r);
int api_chain(struct web_req *r);
int api_matrix(struct web_req *r);
int api_timeline(struct web_req *r);

/* web/style.css, generated into the build (web/embed.py). */
extern const char web_style_css[];
extern const size_t web_style_css_len;

#endif
