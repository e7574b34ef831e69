/* The HTML pages.  Each opens the database read-only for its request,
 * computes the reports it shows (report.h, the same as the CLI's), renders
 * them with render.c's pieces, and closes.  A page returns its status;
 * on an error r->err says why and serve.c renders the error page instead.
 *
 *   /               overview: totals, the timeline of every host, hosts
 *                   with handshakes, failure rate, top cause
 *   /host/NAME      one host: totals, timeline, its diagnoses, network x
 *                   version, rollout verdict, recent failure events
 *   /diagnose       every diagnosis with its evidence, fix, chains against
 *                   the pins, and its host's timeline by cause
 *   /matrix         network x app version failure rates
 *   /rollout        observe-mode hosts: what enforcing would block
 *   /chain/NAME     the chains a host served over time, against its pins
 */
#include "web.h"

#include <stdlib.h>
#include <string.h>

/* Bounds on what one page lists (the JSON endpoints have everything). */
#define MAX_HOSTS 1000
#define MAX_CHARTS 12
#define MAX_RECENT 50

/* web_check's verdict on the filter: 200 (*empty says whether the
 * database holds nothing yet; with empty NULL that is a 404), 404 for an
 * unknown host, 500. */
static int web_check(struct web_req *r, struct store *s, bool *empty)
{
	if (empty != NULL)
		*empty = false;
	if (report_check(s, &r->q.f, r->err, sizeof(r->err)) == 0)
		return 200;
	if (r->q.f.host != NULL || strncmp(r->err, "no host", 7) == 0)
		return 404;
	if (strstr(r->err, "is empty") != NULL) {
		if (empty == NULL)
			return 404;
		*empty = true;
		return 200;
	}
	return 500;
}

struct store *web_open(struct web_req *r, int *status, bool *empty)
{
	struct store *s = store_open(r->db, STORE_READ, STORE_SYNC_NORMAL,
				     r->err, sizeof(r->err));

	if (s == NULL) {
		*status = 503;
		return NULL;
	}
	*status = web_check(r, s, empty);
	if (*status != 200) {
		store_close(s);
		return NULL;
	}
	if (empty == NULL || !*empty)
		r->err[0] = '\0';   /* an empty database keeps its notice */
	return s;
}

/* A report function failed (its message is in r->err): 503 when the
 * database could not be read (replaced, truncated, gone), else 500. */
int web_report_failed(struct store *s)
{
	return store_unreadable(s) ? 503 : 500;
}

static void total(struct web_buf *b, const char *label, uint64_t n)
{
	buf_puts(b, "<div><strong>");
	html_count(b, n);
	buf_printf(b, "</strong><span>%s</span></div>\n", label);
}

static void totals(struct web_buf *b, uint64_t successes, uint64_t failures,
		   uint64_t events, size_t hosts)
{
	buf_puts(b, "<div class=\"totals\">\n");
	total(b, "handshakes", successes + failures);
	total(b, "failed handshakes", failures);
	buf_puts(b, "<div><strong>");
	html_rate(b, failures, successes + failures);
	buf_puts(b, "</strong><span>failure rate</span></div>\n");
	total(b, "failure events", events);
	if (hosts > 0)
		total(b, "hosts", hosts);
	buf_puts(b, "</div>\n");
}

static void range(struct web_buf *b, int64_t first_hour, int64_t last_hour)
{
	if (first_hour == 0)
		return;
	buf_puts(b, "<p class=\"muted\">Data from ");
	html_time_s(b, first_hour);
	buf_puts(b, " to ");
	html_time_s(b, last_hour + 3600);
	buf_puts(b, " (whole hours).</p>\n");
}

static void empty_notice(struct web_req *r)
{
	buf_puts(&r->out, "<p class=\"notice\">");
	html_text(&r->out, r->err);
	buf_puts(&r->out, "</p>\n");
	r->err[0] = '\0';
}

/* ---- overview ---------------------------------------------------------- */

/* The first (most telling) diagnosis of host, NULL when none. */
static const struct report_diagnosis *top_of(const struct report_diagnoses *d,
					     const char *host)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->d[i].host, host) == 0)
			return &d->d[i];
	return NULL;
}

static void host_row(struct web_req *r, const struct report_host *h,
		     const struct report_diagnosis *top)
{
	struct web_buf *b = &r->out;

	buf_puts(b, "<tr><td>");
	render_host_link(r, h->host);
	buf_puts(b, "</td><td class=\"num\">");
	html_count(b, h->successes + h->failures);
	buf_puts(b, "</td><td class=\"num\">");
	html_count(b, h->failures);
	buf_puts(b, "</td><td class=\"num\">");
	html_rate(b, h->failures, h->successes + h->failures);
	buf_puts(b, "</td><td class=\"num\">");
	html_count(b, h->events);
	buf_puts(b, "</td><td>");
	if (top != NULL) {
		buf_puts(b, "<a href=\"/diagnose?host=");
		html_url(b, h->host);
		buf_puts(b, "\">");
		render_cause(b, top->cause);
		buf_printf(b, "</a> <span class=\"muted\">%.0f%%</span>",
			   100 * top->confidence);
	} else {
		buf_puts(b, "<span class=\"muted\">\xe2\x80\x93</span>");
	}
	buf_puts(b, "</td><td>");
	html_text(b, h->mode[0] ? h->mode : "\xe2\x80\x93");
	buf_puts(b, "</td><td>");
	html_time_s(b, h->first_hour);
	buf_puts(b, "</td><td>");
	html_time_s(b, h->last_hour);
	buf_puts(b, "</td></tr>\n");
}

static void hosts_table(struct web_req *r, const struct report_summary *sum,
			const struct report_diagnoses *dg)
{
	size_t n = sum->nhosts < MAX_HOSTS ? sum->nhosts : MAX_HOSTS;

	buf_puts(&r->out, "<h2>Hosts</h2>\n<table class=\"hosts\">\n<tr>"
		 "<th>host</th><th class=\"num\">handshakes</th>"
		 "<th class=\"num\">failed</th><th class=\"num\">failure rate"
		 "</th><th class=\"num\">events</th><th>top cause</th>"
		 "<th>mode</th><th>first hour</th><th>last hour</th></tr>\n");
	for (size_t i = 0; i < n; i++)
		host_row(r, &sum->hosts[i], top_of(dg, sum->hosts[i].host));
	buf_puts(&r->out, "</table>\n");
	if (n < sum->nhosts)
		buf_printf(&r->out, "<p class=\"muted\">%zu more hosts: narrow "
			   "the filter, or see /api/summary.</p>\n",
			   sum->nhosts - n);
}

static void overview_body(struct web_req *r, const struct report_summary *sum,
			  const struct causes *c)
{
	totals(&r->out, sum->successes, sum->failures, sum->events,
	       sum->nhosts);
	range(&r->out, sum->first_hour, sum->last_hour);
	buf_puts(&r->out, "<h2>Handshakes over time</h2>\n");
	render_timeline(&r->out, &c->tl, "every host: successes against "
			"failures by cause");
	hosts_table(r, sum, &c->dg);
	buf_puts(&r->out, "<p class=\"muted\">Causes as of ");
	html_time_us(&r->out, c->computed_us);
	buf_puts(&r->out, ", recomputed in the background while this page is "
		 "in use; <a href=\"/diagnose");
	params_link(&r->out, &r->q, NULL);
	buf_puts(&r->out, "\">the diagnoses</a> are always current.</p>\n"
		 "<h2>Failure events</h2>\n<p>by kind: ");
	render_counts(&r->out, sum->kinds, sum->nkinds);
	buf_puts(&r->out, "<br>by decision: ");
	render_counts(&r->out, sum->decisions, sum->ndecisions);
	buf_puts(&r->out, "</p>\n");
}

/* The counts are read now; the causes come from causes.c (a diagnosis of
 * every host is too slow for this page). */
int page_overview(struct web_req *r)
{
	struct report_summary sum = { 0 };
	const struct causes *c = NULL;
	int status;
	bool empty;
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	web_begin(r, "Overview", "/");
	if (empty) {
		empty_notice(r);
	} else if (report_summary(s, &r->q.f, &sum, r->err,
				  sizeof(r->err)) < 0 ||
		   (c = causes_get(&r->q, r->err, sizeof(r->err))) == NULL) {
		status = web_report_failed(s);
		goto out;
	} else {
		overview_body(r, &sum, c);
	}
	web_end(r);
out:
	report_summary_free(&sum);
	causes_put(c);
	store_close(s);
	return status;
}

/* ---- a diagnosis ------------------------------------------------------- */

static void ranking(struct web_buf *b, const struct report_diagnosis *d)
{
	if (d->nranking == 0)
		return;
	buf_puts(b, "<details><summary>Every dimension, best split first"
		 "</summary>\n<table class=\"ranking\">\n<tr><th>dimension</th>"
		 "<th>value</th><th class=\"num\">failed/total</th>"
		 "<th class=\"num\">elsewhere</th><th class=\"num\">score</th>"
		 "</tr>\n");
	for (size_t i = 0; i < d->nranking; i++) {
		const struct report_split *s = &d->ranking[i];

		buf_puts(b, "<tr><td>");
		html_text(b, report_dim_name(s->dim));
		buf_puts(b, "</td><td>");
		html_text(b, s->value);
		buf_puts(b, "</td><td class=\"num\">");
		html_count(b, s->failed);
		buf_puts(b, "/");
		html_count(b, s->total);
		buf_puts(b, "</td><td class=\"num\">");
		html_count(b, s->rest_failed);
		buf_puts(b, "/");
		html_count(b, s->rest_total);
		buf_printf(b, "</td><td class=\"num\">%.2f</td></tr>\n",
			   s->score);
	}
	buf_puts(b, "</table>\n</details>\n");
}

static void evidence(struct web_buf *b, const struct report_diagnosis *d)
{
	buf_puts(b, "<h4>Evidence</h4>\n<ul class=\"evidence\">\n");
	for (size_t i = 0; i < d->nevidence; i++) {
		buf_puts(b, "<li>");
		html_text(b, d->evidence[i]);
		buf_puts(b, "</li>\n");
	}
	buf_puts(b, "</ul>\n");
}

static void diagnosis(struct web_req *r, const struct report_diagnosis *d,
		      bool full)
{
	struct web_buf *b = &r->out;

	buf_printf(b, "<section class=\"diagnosis%s\">\n<h3>",
		   d->confidence < 0.5 ? " low" : "");
	render_host_link(r, d->host);
	buf_puts(b, " \xe2\x80\x94 ");
	render_cause(b, d->cause);
	buf_printf(b, " <span class=\"muted\">confidence %.0f%%%s</span></h3>\n"
		   "<p>", 100 * d->confidence, d->contrast ? ""
		   : ", no successes to compare with");
	render_split(b, &d->split);
	buf_puts(b, "</p>\n<p>");
	html_count(b, d->events);
	buf_puts(b, " failure events (");
	render_counts(b, d->kinds, d->nkinds);
	buf_puts(b, "), first seen ");
	html_time_us(b, d->first_seen_us);
	buf_puts(b, ", last seen ");
	html_time_us(b, d->last_seen_us);
	buf_puts(b, "; the host: ");
	html_count(b, d->host_failed);
	buf_puts(b, "/");
	html_count(b, d->host_total);
	buf_puts(b, " handshakes failed.</p>\n<p class=\"fix\"><strong>Fix:"
		 "</strong> ");
	html_text(b, d->fix);
	buf_puts(b, "</p>\n");
	if (full) {
		evidence(b, d);
		buf_puts(b, "<h4>Pins the failing clients expect</h4>\n");
		render_pins(b, d->pins, d->npins);
		buf_puts(b, "<h4>Chains against the pins</h4>\n");
		for (size_t i = 0; i < d->nchains; i++)
			render_chain(b, &d->chains[i]);
		ranking(b, d);
	}
	buf_puts(b, "</section>\n");
}

/* ---- one host ---------------------------------------------------------- */

static int recent_row(void *arg, const struct store_failure *f)
{
	struct web_buf *b = arg;

	buf_puts(b, "<tr><td>");
	html_time_us(b, f->time_us);
	buf_puts(b, "</td><td>");
	html_text(b, f->kind);
	buf_puts(b, "</td><td>");
	html_text(b, f->decision);
	buf_puts(b, "</td><td>");
	html_text(b, f->peer);
	buf_puts(b, "</td><td>");
	html_text(b, f->network.label);
	buf_puts(b, "</td><td>");
	html_text(b, f->process.app_version);
	buf_puts(b, "</td><td>");
	html_text(b, f->served.n > 0 ? f->served.certs[0].subject : "");
	buf_puts(b, "</td><td class=\"num\">");
	html_count(b, f->count);
	buf_puts(b, "</td></tr>\n");
	return b->oom ? 1 : 0;
}

/* The last hour's failure events (the list is oldest first). */
static int recent(struct web_req *r, struct store *s, int64_t last_hour)
{
	struct report_filter f = r->q.f;
	int rc;

	if (last_hour == 0)
		return 0;
	if (!f.has_since || f.since_us < last_hour * 1000000) {
		f.has_since = true;
		f.since_us = last_hour * 1000000;
	}
	buf_puts(&r->out, "<h2>Failure events of the last hour</h2>\n"
		 "<table class=\"recent\">\n<tr><th>time</th><th>kind</th>"
		 "<th>decision</th><th>peer</th><th>network</th>"
		 "<th>app version</th><th>served leaf</th>"
		 "<th class=\"num\">count</th></tr>\n");
	rc = report_failures(s, &f, 0, MAX_RECENT, recent_row, &r->out,
			     r->err, sizeof(r->err));
	buf_puts(&r->out, "</table>\n");
	return rc < 0 ? -1 : 0;
}

static void rollout_verdict(struct web_req *r, const struct report_rollout *ro)
{
	for (size_t i = 0; i < ro->n; i++) {
		const struct report_rollout_host *h = &ro->hosts[i];

		buf_printf(&r->out, "<h2>Rollout</h2>\n<p>Enforcing today: "
			   "<span class=\"%s\">", h->ready ? "ready"
			   : "not-ready");
		html_text(&r->out, h->verdict);
		buf_puts(&r->out, "</span> (");
		html_count(&r->out, h->would_block);
		buf_puts(&r->out, " would-block events in ");
		html_count(&r->out, h->handshakes);
		buf_puts(&r->out, " handshakes). <a href=\"/rollout");
		params_link(&r->out, &r->q, NULL);
		buf_puts(&r->out, "\">By network and version</a></p>\n");
	}
}

static void host_links(struct web_req *r)
{
	struct web_buf *b = &r->out;

	buf_puts(b, "<p><a href=\"/chain/");
	html_url(b, r->arg);
	params_link(b, &r->q, "host");
	buf_puts(b, "\">Served chains over time</a> \xc2\xb7 "
		 "<a href=\"/diagnose");
	params_link(b, &r->q, NULL);
	buf_puts(b, "\">Diagnoses with evidence</a> \xc2\xb7 "
		 "<a href=\"/api/timeline");
	params_link(b, &r->q, NULL);
	buf_puts(b, "\">JSON</a></p>\n");
}

static int host_body(struct web_req *r, struct store *s)
{
	struct report_summary sum = { 0 };
	struct report_diagnoses dg = { 0 };
	struct report_timeline tl = { 0 };
	struct report_matrix m = { 0 };
	struct report_rollout ro = { 0 };
	int rc = -1;

	if (report_summary(s, &r->q.f, &sum, r->err, sizeof(r->err)) < 0 ||
	    report_timeline(s, &r->q.f, &tl, r->err, sizeof(r->err)) < 0 ||
	    report_diagnose(s, &r->q.f, &dg, r->err, sizeof(r->err)) < 0 ||
	    report_matrix(s, &r->q.f, DIM_NETWORK, DIM_APP_VERSION, &m,
			  r->err, sizeof(r->err)) < 0 ||
	    report_rollout(s, &r->q.f, &ro, r->err, sizeof(r->err)) < 0)
		goto out;
	host_links(r);
	totals(&r->out, sum.successes, sum.failures, sum.events, 0);
	range(&r->out, sum.first_hour, sum.last_hour);
	render_timeline(&r->out, &tl, "successes against failures by cause");
	buf_puts(&r->out, "<h2>Diagnoses</h2>\n");
	if (dg.n == 0)
		buf_puts(&r->out, "<p class=\"notice\">No failures in this "
			 "range.</p>\n");
	for (size_t i = 0; i < dg.n; i++)
		diagnosis(r, &dg.d[i], false);
	buf_puts(&r->out, "<h2>Failure rate by network and app version</h2>\n");
	render_matrix(&r->out, &m);
	rollout_verdict(r, &ro);
	rc = recent(r, s, sum.last_hour);
out:
	report_summary_free(&sum);
	report_diagnoses_free(&dg);
	report_timeline_free(&tl);
	report_matrix_free(&m);
	report_rollout_free(&ro);
	return rc;
}

int page_host(struct web_req *r)
{
	int status;
	struct store *s = web_open(r, &status, NULL);

	if (s == NULL)
		return status;
	web_begin(r, r->arg, "/host/");
	if (host_body(r, s) < 0)
		status = web_report_failed(s);
	web_end(r);
	store_close(s);
	return status;
}

/* ---- diagnoses --------------------------------------------------------- */

/* The host's timeline, once per host (the list is grouped by host). */
static int host_chart(struct web_req *r, struct store *s, const char *host)
{
	struct report_filter f = r->q.f;
	struct report_timeline tl = { 0 };

	f.host = host;
	if (report_timeline(s, &f, &tl, r->err, sizeof(r->err)) < 0)
		return -1;
	render_timeline(&r->out, &tl, "successes against failures by cause");
	report_timeline_free(&tl);
	return 0;
}

static int diagnoses_body(struct web_req *r, struct store *s)
{
	struct report_diagnoses dg = { 0 };
	size_t charts = 0;
	int rc = -1;

	if (report_diagnose(s, &r->q.f, &dg, r->err, sizeof(r->err)) < 0)
		goto out;
	if (dg.n == 0)
		buf_puts(&r->out, "<p class=\"notice\">No failures in this "
			 "range.</p>\n");
	for (size_t i = 0; i < dg.n; i++) {
		if (i == 0 || strcmp(dg.d[i].host, dg.d[i - 1].host) != 0) {
			buf_puts(&r->out, "<h2>");
			render_host_link(r, dg.d[i].host);
			buf_puts(&r->out, "</h2>\n");
			if (charts++ < MAX_CHARTS &&
			    host_chart(r, s, dg.d[i].host) < 0)
				goto out;
		}
		diagnosis(r, &dg.d[i], true);
	}
	rc = 0;
out:
	report_diagnoses_free(&dg);
	return rc;
}

int page_diagnose(struct web_req *r)
{
	int status;
	bool empty;
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	web_begin(r, "Diagnoses", "/diagnose");
	if (empty)
		empty_notice(r);
	else if (diagnoses_body(r, s) < 0)
		status = web_report_failed(s);
	web_end(r);
	store_close(s);
	return status;
}

/* ---- network x version ------------------------------------------------- */

int page_matrix(struct web_req *r)
{
	struct report_matrix m = { 0 };
	int status;
	bool empty;
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	web_begin(r, "Failure rate by network and app version", "/matrix");
	buf_puts(&r->out, "<p class=\"muted\">");
	if (r->q.f.host != NULL) {
		buf_puts(&r->out, "Host ");
		render_host_link(r, r->q.f.host);
	} else {
		buf_puts(&r->out, "Every host together (filter by host to see "
			 "one)");
	}
	buf_puts(&r->out, ": failed handshakes / handshakes.</p>\n");
	if (empty)
		empty_notice(r);
	else if (report_matrix(s, &r->q.f, DIM_NETWORK, DIM_APP_VERSION, &m,
			       r->err, sizeof(r->err)) < 0)
		status = web_report_failed(s);
	else
		render_matrix(&r->out, &m);
	web_end(r);
	report_matrix_free(&m);
	store_close(s);
	return status;
}

/* ---- rollout ----------------------------------------------------------- */

static void rollout_cells(struct web_buf *b,
			  const struct report_rollout_host *h)
{
	if (h->ncells == 0)
		return;
	buf_puts(b, "<table class=\"cells\">\n<tr><th>network</th>"
		 "<th>app version</th><th class=\"num\">would block</th>"
		 "<th class=\"num\">handshakes</th></tr>\n");
	for (size_t i = 0; i < h->ncells; i++) {
		const struct report_cell *c = &h->cells[i];

		buf_puts(b, "<tr><td>");
		html_text(b, c->row);
		buf_puts(b, "</td><td>");
		html_text(b, c->col);
		buf_puts(b, "</td><td class=\"num\">");
		html_count(b, c->failed);
		buf_puts(b, "</td><td class=\"num\">");
		html_count(b, c->total);
		buf_puts(b, "</td></tr>\n");
	}
	buf_puts(b, "</table>\n");
}

static void rollout_host(struct web_req *r, const struct report_rollout_host *h)
{
	struct web_buf *b = &r->out;

	buf_puts(b, "<section class=\"rollout\">\n<h2>");
	render_host_link(r, h->host);
	buf_printf(b, "</h2>\n<p><span class=\"%s\">", h->ready ? "ready"
		   : "not-ready");
	html_text(b, h->verdict);
	buf_puts(b, "</span></p>\n<p>");
	html_count(b, h->would_block);
	buf_puts(b, " would-block events (");
	html_count(b, h->recent_would_block);
	buf_puts(b, " in the last 24 hours of the range) in ");
	html_count(b, h->handshakes);
	buf_puts(b, " handshakes; by kind: ");
	render_counts(b, h->kinds, h->nkinds);
	buf_puts(b, "</p>\n");
	rollout_cells(b, h);
	buf_puts(b, "</section>\n");
}

int page_rollout(struct web_req *r)
{
	struct report_rollout ro = { 0 };
	int status;
	bool empty;
	struct store *s = web_open(r, &status, &empty);

	if (s == NULL)
		return status;
	web_begin(r, "Rollout readiness", "/rollout");
	buf_puts(&r->out, "<p class=\"muted\">Hosts in observe mode: what "
		 "enforcing their pins today would block.</p>\n");
	if (empty) {
		empty_notice(r);
	} else if (report_rollout(s, &r->q.f, &ro, r->err,
				  sizeof(r->err)) < 0) {
		status = web_report_failed(s);
	} else {
		if (ro.n == 0)
			buf_puts(&r->out, "<p class=\"notice\">No host in "
				 "observe mode had failures in this range."
				 "</p>\n");
		for (size_t i = 0; i < ro.n; i++)
			rollout_host(r, &ro.hosts[i]);
	}
	web_end(r);
	report_rollout_free(&ro);
	store_close(s);
	return status;
}

/* ---- chains of a host -------------------------------------------------- */

int page_chain(struct web_req *r)
{
	struct report_chain_history h = { 0 };
	int status;
	struct store *s = web_open(r, &status, NULL);

	if (s == NULL)
		return status;
	if (report_chain_history(s, &r->q.f, &h, r->err,
				 sizeof(r->err)) < 0) {
		status = web_report_failed(s);
		goto out;
	}
	web_begin(r, r->arg, "/chain/");
	buf_puts(&r->out, "<p>Served chains, first seen first; each marked "
		 "where it differs from the one before. <a href=\"/host/");
	html_url(&r->out, r->arg);
	params_link(&r->out, &r->q, "host");
	buf_puts(&r->out, "\">The host</a></p>\n<h2>Pins the clients "
		 "expected</h2>\n");
	render_pins(&r->out, h.pins, h.npins);
	buf_puts(&r->out, "<h2>Chains</h2>\n");
	if (h.n == 0)
		buf_puts(&r->out, "<p class=\"notice\">No chain recorded in "
			 "this range.</p>\n");
	for (size_t i = 0; i < h.n; i++)
		render_chain(&r->out, &h.chains[i]);
	web_end(r);
out:
	report_chain_history_free(&h);
	store_close(s);
	return status;
}
