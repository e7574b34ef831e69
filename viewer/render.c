/* Pieces of reports as HTML, shared by the pages: links to hosts, causes,
 * the separating split, chains against the pins, the timeline chart, the
 * network x version table.  Every stored string goes through html_text
 * (or html_url inside a link). */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>

/* The chart's colours by cause (report_cause order), then successes and
 * failures no diagnosis claimed. */
static const char *const cause_color[CAUSE_COUNT] = {
	"#d92d20", "#f79009", "#7a5af8", "#ee46bc", "#2e90fa", "#15b79e",
	"#854a0e", "#c11574", "#98a2b3",
};
#define COLOR_SUCCESS "#12b76a"
#define COLOR_OTHER "#475467"

/* At most this many columns: longer ranges are drawn in wider buckets. */
#define MAX_COLUMNS 168

void render_host_link(struct web_req *r, const char *host)
{
	buf_puts(&r->out, "<a class=\"host\" href=\"/host/");
	html_url(&r->out, host);
	params_link(&r->out, &r->q, "host");
	buf_puts(&r->out, "\">");
	html_text(&r->out, host);
	buf_puts(&r->out, "</a>");
}

void render_cause(struct web_buf *b, enum report_cause c)
{
	buf_puts(b, "<span class=\"cause\">");
	html_text(b, report_cause_name(c));
	buf_puts(b, "</span>");
}

void render_split(struct web_buf *b, const struct report_split *s)
{
	buf_puts(b, "<span class=\"split\">");
	if (s->dim == DIM_NONE) {
		buf_puts(b, "no dimension separates failing from succeeding "
			 "handshakes</span>");
		return;
	}
	html_text(b, report_dim_name(s->dim));
	buf_puts(b, "=");
	html_text(b, s->value);
	buf_puts(b, ": ");
	html_count(b, s->failed);
	buf_puts(b, "/");
	html_count(b, s->total);
	buf_puts(b, " failed; elsewhere ");
	html_count(b, s->rest_failed);
	buf_puts(b, "/");
	html_count(b, s->rest_total);
	buf_puts(b, "</span>");
}

void render_counts(struct web_buf *b, const struct report_count *c,
		   size_t n)
{
	if (n == 0)
		buf_puts(b, "<span class=\"muted\">none</span>");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_puts(b, ", ");
		html_text(b, c[i].name);
		buf_puts(b, " ");
		html_count(b, c[i].n);
	}
}

void render_pins(struct web_buf *b, char *const *pins, size_t n)
{
	if (n == 0) {
		buf_puts(b, "<p class=\"muted\">no pins recorded</p>\n");
		return;
	}
	buf_puts(b, "<ul class=\"pins\">\n");
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, "<li><code>");
		html_text(b, pins[i]);
		buf_puts(b, "</code></li>\n");
	}
	buf_puts(b, "</ul>\n");
}

/* ---- chains ------------------------------------------------------------ */

static void cert_row(struct web_buf *b, const struct report_cert *c)
{
	buf_printf(b, "<tr%s><td class=\"num\">%d</td><td>",
		   c->changed ? " class=\"changed\"" : "", c->position);
	html_text(b, c->subject);
	buf_puts(b, "</td><td>");
	html_text(b, c->issuer);
	buf_puts(b, "</td><td class=\"pin\">");
	html_text(b, c->pin);
	buf_puts(b, "</td><td>");
	html_time_s(b, c->not_before);
	buf_puts(b, " \xe2\x80\x93 ");
	html_time_s(b, c->not_after);
	buf_puts(b, "</td><td>");
	if (c->pinned)
		buf_puts(b, "<span class=\"mark-pinned\">pinned</span> ");
	if (c->changed)
		buf_puts(b, "<span class=\"mark-changed\">changed</span> ");
	if (!c->verified)
		buf_puts(b, "<span class=\"mark-unverified\">unverified</span> ");
	if (c->conflict)
		buf_puts(b, "<span class=\"mark-conflict\">conflicting "
			 "claims</span>");
	buf_puts(b, "</td></tr>\n");
}

static void seen_by(struct web_buf *b, const char *what,
		    const struct report_count *c, size_t n)
{
	if (n == 0)
		return;
	buf_printf(b, "<br>%s: ", what);
	render_counts(b, c, n);
}

void render_chain(struct web_buf *b, const struct report_chain *c)
{
	char fp[17];   /* the fingerprint's first 16 hex digits */

	buf_puts(b, "<div class=\"chain\">\n<p><strong>");
	html_text(b, c->role);
	buf_puts(b, "</strong> chain <code>");
	snprintf(fp, sizeof(fp), "%s", c->fingerprint ? c->fingerprint : "");
	html_text(b, fp);
	buf_puts(b, "</code>: ");
	html_count(b, c->successes);
	buf_puts(b, " successes, ");
	html_count(b, c->failures);
	buf_puts(b, " failures, ");
	html_time_s(b, c->first_hour);
	buf_puts(b, " \xe2\x80\x93 ");
	html_time_s(b, c->last_hour);
	if (c->changed_position >= 0)
		buf_printf(b, "; <span class=\"mark-changed\">position %d "
			   "changed</span>", c->changed_position);
	buf_puts(b, c->pinned ? "; <span class=\"mark-pinned\">a pin matches"
		 "</span>" : "; <span class=\"mark-changed\">no pin matches"
		 "</span>");
	seen_by(b, "networks", c->networks, c->nnetworks);
	seen_by(b, "peers", c->peers, c->npeers);
	seen_by(b, "app versions", c->versions, c->nversions);
	buf_puts(b, "</p>\n");
	if (c->ncerts == 0) {
		buf_puts(b, "<p class=\"muted\">certificates unknown (no "
			 "client reported this chain's content)</p>\n"
			 "</div>\n");
		return;
	}
	buf_puts(b, "<table class=\"certs\">\n<tr><th class=\"num\">#</th>"
		 "<th>subject</th><th>issuer</th><th>pin</th><th>valid</th>"
		 "<th>against the pins</th></tr>\n");
	for (size_t i = 0; i < c->ncerts; i++)
		cert_row(b, &c->certs[i]);
	buf_puts(b, "</table>\n</div>\n");
}

/* ---- the timeline ------------------------------------------------------ */

struct columns {
	int64_t first, bucket;
	size_t n;
	uint64_t *v[CAUSE_COUNT + 2];   /* successes, causes, other */
};

static int columns_fill(struct columns *c, const struct report_timeline *tl)
{
	int64_t span = tl->hours[tl->n - 1].hour - tl->hours[0].hour + 3600;
	int64_t hours = span / 3600;

	c->bucket = 3600 * ((hours + MAX_COLUMNS - 1) / MAX_COLUMNS);
	c->first = tl->hours[0].hour;
	c->n = (size_t)((span + c->bucket - 1) / c->bucket);
	for (size_t k = 0; k < CAUSE_COUNT + 2; k++)
		if ((c->v[k] = calloc(c->n, sizeof(uint64_t))) == NULL)
			return -1;
	for (size_t i = 0; i < tl->n; i++) {
		const struct report_hour *h = &tl->hours[i];
		size_t col = (size_t)((h->hour - c->first) / c->bucket);
		uint64_t caused = 0;

		c->v[0][col] += h->successes;
		for (size_t k = 0; k < CAUSE_COUNT; k++) {
			c->v[1 + k][col] += h->by_cause[k];
			caused += h->by_cause[k];
		}
		if (h->failures > caused)
			c->v[CAUSE_COUNT + 1][col] += h->failures - caused;
	}
	return 0;
}

static bool any(const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] > 0)
			return true;
	return false;
}

void render_timeline(struct web_buf *b, const struct report_timeline *tl,
		     const char *title)
{
	struct columns c = { 0 };
	struct svg_series s[CAUSE_COUNT + 2];
	size_t ns = 0;

	if (tl->n == 0) {
		buf_puts(b, "<p class=\"notice\">No handshakes counted in this "
			 "range.</p>\n");
		return;
	}
	if (columns_fill(&c, tl) < 0) {
		b->oom = true;
		goto out;
	}
	s[ns++] = (struct svg_series){ "successes", COLOR_SUCCESS, c.v[0] };
	for (size_t k = 0; k < CAUSE_COUNT; k++)
		if (any(c.v[1 + k], c.n))
			s[ns++] = (struct svg_series){
				report_cause_name((enum report_cause)k),
				cause_color[k], c.v[1 + k] };
	if (any(c.v[CAUSE_COUNT + 1], c.n))
		s[ns++] = (struct svg_series){ "failures (no diagnosis)",
			COLOR_OTHER, c.v[CAUSE_COUNT + 1] };
	svg_timeline(b, c.first, c.bucket, c.n, s, ns, title);
out:
	for (size_t k = 0; k < CAUSE_COUNT + 2; k++)
		free(c.v[k]);
}

/* ---- network x version ------------------------------------------------- */

static const char *rate_class(uint64_t failed, uint64_t total)
{
	double rate;

	if (total == 0)
		return "rate-none";
	rate = (double)failed / (double)total;
	return failed == 0 ? "rate-0" : rate < 0.05 ? "rate-low"
	       : rate < 0.5 ? "rate-mid" : "rate-high";
}

static void matrix_cell(struct web_buf *b, const struct report_cell *c)
{
	buf_printf(b, "<td class=\"num %s\">", rate_class(c->failed, c->total));
	if (c->total == 0) {
		buf_puts(b, "\xe2\x80\x93</td>");
		return;
	}
	html_rate(b, c->failed, c->total);
	buf_puts(b, "<br><span class=\"muted\">");
	html_count(b, c->failed);
	buf_puts(b, "/");
	html_count(b, c->total);
	buf_puts(b, "</span></td>");
}

void render_matrix(struct web_buf *b, const struct report_matrix *m)
{
	if (m->nrows == 0 || m->ncols == 0) {
		buf_puts(b, "<p class=\"notice\">No handshakes counted in this "
			 "range.</p>\n");
		return;
	}
	buf_puts(b, "<table class=\"matrix\">\n<tr><th>");
	html_text(b, report_dim_name(m->rows));
	buf_puts(b, " \\ ");
	html_text(b, report_dim_name(m->cols));
	buf_puts(b, "</th>");
	for (size_t j = 0; j < m->ncols; j++) {
		buf_puts(b, "<th class=\"num\">");
		html_text(b, m->col_names[j]);
		buf_puts(b, "</th>");
	}
	buf_puts(b, "</tr>\n");
	for (size_t i = 0; i < m->nrows; i++) {
		buf_puts(b, "<tr><th>");
		html_text(b, m->row_names[i]);
		buf_puts(b, "</th>");
		for (size_t j = 0; j < m->ncols; j++)
			matrix_cell(b, &m->cells[i * m->ncols + j]);
		buf_puts(b, "</tr>\n");
	}
	buf_puts(b, "</table>\n");
}
