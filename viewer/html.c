/* Building a response: the buffer, the escaping of stored strings, and the
 * frame every page shares.  Stored strings are whatever bytes a sender
 * chose (a certificate subject of "<script>..."), so they reach the page
 * only through html_text (text and quoted attributes) and html_url. */
#include "web.h"
#include "viewer.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the buffer -------------------------------------------------------- */

static bool grow(struct web_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 16384;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n + 1 > WEB_MAX_BODY) {
		b->oom = true;
		return false;
	}
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap == b->cap)
		return true;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void buf_put(struct web_buf *b, const char *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct web_buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_printf(struct web_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		buf_put(b, small, (size_t)n);
		return;
	}
	if (!grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct web_buf *b)
{
	free(b->p);
	*b = (struct web_buf){ 0 };
}

/* ---- escaping ---------------------------------------------------------- */

/* C0 and C1 controls but tab and newline, and the bidirectional ones
 * (text.c): never meant for a page. */
static size_t control_len(const unsigned char *p)
{
	return text_control_len(p, true);
}

void html_text(struct web_buf *b, const char *s)
{
	char *clean = text_utf8(s != NULL ? s : "");
	const unsigned char *p = (const unsigned char *)clean;

	if (clean == NULL) {
		b->oom = true;
		return;
	}
	while (*p) {
		size_t skip = control_len(p), run = 0;

		if (skip > 0) {
			p += skip;
			continue;
		}
		switch (*p) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default:
			while (p[run] && !strchr("&<>\"'", p[run]) &&
			       control_len(p + run) == 0)
				run++;
			buf_put(b, (const char *)p, run);
			p += run;
			continue;
		}
		p++;
	}
	free(clean);
}

void html_url(struct web_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

	for (; *p; p++) {
		char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			buf_put(b, (const char *)p, 1);
		else
			buf_put(b, e, 3);
	}
}

void html_count(struct web_buf *b, uint64_t n)
{
	char digits[24], out[32];
	int len = snprintf(digits, sizeof(digits), "%llu",
			   (unsigned long long)n), o = 0;

	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	buf_put(b, out, (size_t)o);
}

void html_rate(struct web_buf *b, uint64_t failed, uint64_t total)
{
	if (total == 0)
		buf_puts(b, "\xe2\x80\x93");
	else
		buf_printf(b, "%.1f%%", 100.0 * (double)failed / (double)total);
}

void html_time_us(struct web_buf *b, int64_t us)
{
	char t[48];

	if (us == 0) {
		buf_puts(b, "\xe2\x80\x93");
		return;
	}
	time_rfc3339_ms(us, t, sizeof(t));
	buf_puts(b, t);
}

void html_time_s(struct web_buf *b, int64_t s)
{
	char t[48];

	if (s == 0) {
		buf_puts(b, "\xe2\x80\x93");
		return;
	}
	time_rfc3339_s(s, t, sizeof(t));
	buf_puts(b, t);
}

/* ---- the frame --------------------------------------------------------- */

static const struct {
	const char *path, *label;
} nav[] = {
	{ "/", "Overview" },
	{ "/diagnose", "Diagnoses" },
	{ "/matrix", "Network \xc3\x97 version" },
	{ "/rollout", "Rollout" },
};

static void filter_input(struct web_req *r, const char *name,
			 const char *label, const char *value,
			 const char *hint)
{
	buf_printf(&r->out, "<label>%s <input name=\"%s\" value=\"", label,
		   name);
	html_attr(&r->out, value != NULL ? value : "");
	buf_printf(&r->out, "\" placeholder=\"%s\" maxlength=\"%d\"></label>\n",
		   hint, WEB_MAX_PARAM);
}

/* A plain GET form: the filters are links, shareable, no script. */
static void filter_form(struct web_req *r, const char *current)
{
	buf_puts(&r->out, "<form class=\"filters\" method=\"get\" action=\"");
	buf_puts(&r->out, current);
	if (r->arg != NULL)
		html_url(&r->out, r->arg);
	buf_puts(&r->out, "\">\n");
	filter_input(r, "since", "Since", r->q.since_text, "24h or RFC 3339");
	filter_input(r, "until", "Until", r->q.until_text, "1h or RFC 3339");
	if (r->arg == NULL)
		filter_input(r, "host", "Host", r->q.f.host, "api.example.com");
	filter_input(r, "network", "Network", r->q.f.network, "corp-wifi");
	buf_puts(&r->out, "<button type=\"submit\">Filter</button>\n</form>\n");
}

void web_begin(struct web_req *r, const char *title, const char *current)
{
	struct web_buf *b = &r->out;

	r->type = "text/html; charset=utf-8";
	buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		 "<meta charset=\"utf-8\">\n"
		 "<meta name=\"viewport\" content=\"width=device-width\">\n"
		 "<title>");
	html_text(b, title);
	buf_puts(b, " \xe2\x80\x94 pinshim</title>\n"
		 "<link rel=\"stylesheet\" href=\"/style.css\">\n"
		 "</head>\n<body>\n<header>\n<a class=\"brand\" href=\"/\">"
		 "pinshim</a>\n<nav>\n");
	for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++) {
		buf_printf(b, "<a href=\"%s", nav[i].path);
		/* a host named by the path is this page's, not a filter */
		params_link(b, &r->q, r->arg != NULL ? "host" : NULL);
		buf_printf(b, "\"%s>%s</a>\n",
			   strcmp(nav[i].path, current) == 0
			   ? " class=\"current\"" : "", nav[i].label);
	}
	buf_puts(b, "</nav>\n</header>\n<main>\n<h1>");
	html_text(b, title);
	buf_puts(b, "</h1>\n");
	if (current[0] != '\0')
		filter_form(r, current);
}

void web_end(struct web_req *r)
{
	buf_puts(&r->out, "</main>\n</body>\n</html>\n");
}

int web_fail(struct web_req *r, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return status;
}

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad request";
	case 404: return "Not found";
	case 405: return "Method not allowed";
	case 503: return "Database unavailable";
	default: return "Server error";
	}
}

/* A server-side failure: its detail (the database's path, SQLite's words)
 * is for the server's log, not for whoever asked. */
static void keep_private(struct web_req *r, int status)
{
	if (status < 500)
		return;
	fputs("pinshim-view: serve: ", stderr);
	text_fputs(r->err, stderr);
	fputc('\n', stderr);
	snprintf(r->err, sizeof(r->err), "%s", status == 503
		 ? "the database cannot be read now; try again later"
		 : "the report failed; the server's log says why");
}

void web_error(struct web_req *r, int status, bool json)
{
	keep_private(r, status);
	buf_free(&r->out);
	if (json) {
		json_object *o = json_object_new_object(), *e;
		char *msg = text_utf8(r->err);

		e = json_object_new_object();
		json_object_object_add(e, "status",
				       json_object_new_int(status));
		json_object_object_add(e, "message",
				       json_object_new_string(msg ? msg : ""));
		json_object_object_add(o, "error", e);
		r->type = "application/json";
		buf_puts(&r->out, json_object_to_json_string_ext(o,
			 JSON_C_TO_STRING_PLAIN));
		buf_puts(&r->out, "\n");
		json_object_put(o);
		free(msg);
		return;
	}
	r->q = (struct web_query){ 0 };
	r->arg = NULL;
	web_begin(r, reason(status), "");
	buf_puts(&r->out, "<p class=\"error\">");
	html_text(&r->out, r->err);
	buf_puts(&r->out, "</p>\n<p><a href=\"/\">Overview</a></p>\n");
	web_end(r);
}
