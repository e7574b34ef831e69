/* The reports as JSON (json-c): the schema the README documents.  Every
 * stored string goes through text_utf8 (senders chose its bytes); times
 * are RFC 3339 UTC; counts are integers, rates and scores numbers. */
#include "report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static json_object *jstr(const char *s)
{
	char *clean = text_utf8(s != NULL ? s : "");
	json_object *j;

	if (clean == NULL)
		return NULL;
	j = json_object_new_string(clean);
	free(clean);
	return j;
}

static json_object *jhex(const uint8_t *p, size_t n)
{
	char buf[65];

	if (p == NULL || n > 32)
		return NULL;
	fmt_hex(p, n, buf);
	return json_object_new_string(buf);
}

static json_object *jtime_us(int64_t us)
{
	char buf[48];

	if (us == INT64_MAX || us == INT64_MIN)
		return NULL;
	return json_object_new_string(fmt_time(us, buf));
}

static json_object *jtime_ms(int64_t us)
{
	char buf[48];

	time_rfc3339_ms(us, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *jtime_s(int64_t s)
{
	char buf[48];

	time_rfc3339_s(s, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *jhour(int64_t hour)
{
	if (hour == INT64_MAX || hour == INT64_MIN)
		return NULL;
	return jtime_s(hour);
}

/* The end of the last hour, for "last_seen" of hourly data. */
static json_object *jhour_end(int64_t hour)
{
	if (hour == INT64_MAX || hour == INT64_MIN)
		return NULL;
	return jtime_s(hour + 3600);
}

static json_object *ju64(uint64_t n)
{
	return json_object_new_uint64(n);
}

static json_object *jrate(uint64_t failed, uint64_t total)
{
	return json_object_new_double(total ? (double)failed / (double)total
				      : 0.0);
}

/* A number rounded to 3 decimals, so the output stays stable. */
static json_object *jscore(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
}

static void add(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

static json_object *jcounts(const struct report_count *c, size_t n)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; o != NULL && i < n; i++) {
		char *k = text_utf8(c[i].name);

		if (k != NULL)
			json_object_object_add(o, k, ju64(c[i].n));
		free(k);
	}
	return o;
}

static json_object *jstrings(char *const *s, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_object_array_add(a, jstr(s[i]));
	return a;
}

/* A stored JSON array text (pins, resolvers), as sanitised strings. */
static json_object *jlist(const char *text)
{
	json_object *in = json_tokener_parse(text), *out = json_object_new_array();

	for (size_t i = 0; in != NULL && json_object_is_type(in, json_type_array)
	     && i < json_object_array_length(in); i++)
		json_object_array_add(out, jstr(json_object_get_string(
			json_object_array_get_idx(in, i))));
	json_object_put(in);
	return out;
}

int report_print_json(json_object *j)
{
	if (j == NULL)
		return -1;
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return 0;
}

/* ---- summary ------------------------------------------------------------ */

static json_object *top_sender_json(const struct report_host *h)
{
	json_object *j;

	if (h->senders == 0)
		return NULL;
	j = json_object_new_object();
	add(j, "sender", jstr(h->top_sender));
	add(j, "handshakes", ju64(h->top_handshakes));
	add(j, "share", jrate(h->top_handshakes, h->sender_handshakes));
	return j;
}

static json_object *jhost(const struct report_host *h)
{
	json_object *j = json_object_new_object();

	add(j, "host", jstr(h->host));
	add(j, "handshakes", ju64(h->successes + h->failures));
	add(j, "successes", ju64(h->successes));
	add(j, "failures", ju64(h->failures));
	add(j, "failure_rate", jrate(h->failures, h->successes + h->failures));
	add(j, "resumed", ju64(h->resumed));
	add(j, "resumed_failed", ju64(h->resumed_failed));
	add(j, "events", ju64(h->events));
	add(j, "first_seen", jhour(h->first_hour));
	add(j, "last_seen", jhour_end(h->last_hour));
	add(j, "mode", json_object_new_string(h->mode ? h->mode : ""));
	add(j, "senders", json_object_new_int64((int64_t)h->senders));
	add(j, "top_sender", top_sender_json(h));
	add(j, "one_sender", json_object_new_boolean(h->one_sender));
	add(j, "kinds", jcounts(h->kinds, h->nkinds));
	return j;
}

json_object *report_summary_json(const struct report_summary *r)
{
	json_object *j = json_object_new_object(), *hosts;

	add(j, "from", r->nhosts ? jhour(r->first_hour) : NULL);
	add(j, "to", r->nhosts ? jhour_end(r->last_hour) : NULL);
	add(j, "handshakes", ju64(r->successes + r->failures));
	add(j, "successes", ju64(r->successes));
	add(j, "failures", ju64(r->failures));
	add(j, "failure_rate", jrate(r->failures, r->successes + r->failures));
	add(j, "resumed", ju64(r->resumed));
	add(j, "resumed_failed", ju64(r->resumed_failed));
	add(j, "events", ju64(r->events));
	add(j, "kinds", jcounts(r->kinds, r->nkinds));
	add(j, "decisions", jcounts(r->decisions, r->ndecisions));
	hosts = json_object_new_array();
	for (size_t i = 0; i < r->nhosts; i++)
		json_object_array_add(hosts, jhost(&r->hosts[i]));
	add(j, "hosts", hosts);
	return j;
}

/* ---- a stored failure ------------------------------------------------------ */

static json_object *jcerts(const struct store_chain *c)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < c->n; i++) {
		const struct store_cert *ce = &c->certs[i];
		json_object *j = json_object_new_object();

		add(j, "position", json_object_new_int(ce->position));
		add(j, "subject", jstr(ce->subject));
		add(j, "issuer", jstr(ce->issuer));
		add(j, "serial", jstr(ce->serial));
		add(j, "pin", jstr(ce->pin));
		add(j, "sha256", jhex(ce->sha256, 32));
		add(j, "not_before", jtime_s(ce->not_before));
		add(j, "not_after", jtime_s(ce->not_after));
		add(j, "verified", json_object_new_boolean(ce->verified));
		add(j, "conflict", json_object_new_boolean(ce->conflict));
		json_object_array_add(a, j);
	}
	return a;
}

static json_object *jstack(const struct store_failure *f)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < f->nstack; i++) {
		const struct store_frame *fr = &f->stack[i];
		json_object *j = json_object_new_object();

		add(j, "module", jstr(fr->module));
		add(j, "build_id", jstr(fr->build_id));
		add(j, "symbol", jstr(fr->symbol));
		add(j, "offset", ju64(fr->offset));
		add(j, "symbol_offset", ju64(fr->symbol_offset));
		json_object_array_add(a, j);
	}
	return a;
}

static json_object *jplatform(const struct store_failure *f)
{
	json_object *j = json_object_new_object();
	char os[300];

	snprintf(os, sizeof(os), "%s%s%s", f->platform.os_id,
		 f->platform.os_version[0] ? " " : "", f->platform.os_version);
	add(j, "os", jstr(os));
	add(j, "os_id", jstr(f->platform.os_id));
	add(j, "os_version", jstr(f->platform.os_version));
	add(j, "os_name", jstr(f->platform.os_name));
	add(j, "kernel", jstr(f->platform.kernel));
	add(j, "arch", jstr(f->platform.arch));
	add(j, "libssl_version", jstr(f->platform.libssl_version));
	add(j, "host_id", jstr(f->platform.host_id));
	add(j, "hostname", jstr(f->platform.hostname));
	return j;
}

static json_object *jprocess(const struct store_failure *f)
{
	json_object *j = json_object_new_object();

	add(j, "exe", jstr(f->process.exe));
	add(j, "build_id", jstr(f->process.build_id));
	add(j, "pid", json_object_new_int64(f->process.pid));
	add(j, "argv0", jstr(f->process.argv0));
	add(j, "app_version", jstr(f->process.app_version));
	add(j, "app_version_source", jstr(f->process.app_version_source));
	return j;
}

static json_object *jnetwork(const struct store_failure *f)
{
	json_object *j = json_object_new_object();

	add(j, "label", jstr(f->network.label));
	add(j, "fingerprint", jstr(f->network.fingerprint));
	add(j, "gateway", jstr(f->network.gateway));
	add(j, "subnet", jstr(f->network.subnet));
	add(j, "resolvers", jlist(f->network.resolvers));
	add(j, "proxy_vars", jlist(f->network.proxy_vars));
	add(j, "local_address", jstr(f->network.local_address));
	return j;
}

json_object *report_failure_json(const struct store_failure *f)
{
	json_object *j = json_object_new_object();

	add(j, "id", jhex(f->id, 16));
	add(j, "time", jtime_ms(f->time_us));
	add(j, "received", jtime_ms(f->received_us));
	add(j, "last_time", jtime_ms(f->last_time_us));
	add(j, "host", jstr(f->host));
	add(j, "port", json_object_new_int(f->port));
	add(j, "peer", jstr(f->peer));
	add(j, "kind", jstr(f->kind));
	add(j, "decision", jstr(f->decision));
	add(j, "mode", jstr(f->mode));
	add(j, "count", ju64(f->count));
	add(j, "network", jstr(f->network.label));
	add(j, "network_fingerprint", jstr(f->network.fingerprint));
	add(j, "app_version", jstr(f->process.app_version));
	add(j, "policy_version", jstr(f->policy_version));
	add(j, "expected_pins", jlist(f->expected_pins));
	add(j, "pinned", json_object_new_boolean(f->pinned));
	add(j, "matched", jstr(f->matched));
	add(j, "pin_expired", json_object_new_boolean(f->pin_expired));
	add(j, "verify_error", json_object_new_int(f->verify_error));
	add(j, "verify_error_text", jstr(f->verify_error_text));
	add(j, "tls_version", jstr(f->tls_version));
	add(j, "message", jstr(f->message));
	add(j, "served_chain", jcerts(&f->served));
	add(j, "served_total", json_object_new_int64(f->served_total));
	add(j, "built_chain", jcerts(&f->built));
	add(j, "built_total", json_object_new_int64(f->built_total));
	add(j, "stack", jstack(f));
	add(j, "platform", jplatform(f));
	add(j, "process", jprocess(f));
	add(j, "network_details", jnetwork(f));
	add(j, "sender", jstr(f->sender));
	add(j, "sender_name", jstr(f->sender_name));
	add(j, "repeat_of", jhex(f->repeat_of, 16));
	return j;
}

/* ---- chains ------------------------------------------------------------------ */

static json_object *jcert(const struct report_cert *c)
{
	json_object *j = json_object_new_object();

	add(j, "position", json_object_new_int(c->position));
	add(j, "subject", jstr(c->subject));
	add(j, "issuer", jstr(c->issuer));
	add(j, "serial", jstr(c->serial));
	add(j, "pin", jstr(c->pin));
	add(j, "not_before", jtime_s(c->not_before));
	add(j, "not_after", jtime_s(c->not_after));
	add(j, "pinned", json_object_new_boolean(c->pinned));
	add(j, "changed", json_object_new_boolean(c->changed));
	add(j, "verified", json_object_new_boolean(c->verified));
	add(j, "conflict", json_object_new_boolean(c->conflict));
	return j;
}

json_object *report_chain_json(const struct report_chain *c)
{
	json_object *j = json_object_new_object(), *certs;

	add(j, "fingerprint", jstr(c->fingerprint));
	add(j, "role", json_object_new_string(c->role ? c->role : ""));
	add(j, "successes", ju64(c->successes));
	add(j, "failures", ju64(c->failures));
	add(j, "first_seen", jhour(c->first_hour));
	add(j, "last_seen", jhour_end(c->last_hour));
	add(j, "changed_position", c->changed_position >= 0
	    ? json_object_new_int(c->changed_position) : NULL);
	add(j, "pinned", json_object_new_boolean(c->pinned));
	certs = json_object_new_array();
	for (size_t i = 0; i < c->ncerts; i++)
		json_object_array_add(certs, jcert(&c->certs[i]));
	add(j, "certs", certs);
	add(j, "networks", jcounts(c->networks, c->nnetworks));
	add(j, "peers", jcounts(c->peers, c->npeers));
	add(j, "versions", jcounts(c->versions, c->nversions));
	return j;
}

/* ---- diagnose ------------------------------------------------------------------ */

static json_object *jsplit(const struct report_split *s)
{
	json_object *j = json_object_new_object();

	add(j, "dimension", json_object_new_string(report_dim_name(s->dim)));
	add(j, "value", jstr(s->value));
	add(j, "failed", ju64(s->failed));
	add(j, "total", ju64(s->total));
	add(j, "rest_failed", ju64(s->rest_failed));
	add(j, "rest_total", ju64(s->rest_total));
	add(j, "score", jscore(s->score));
	return j;
}

json_object *report_diagnosis_json(const struct report_diagnosis *d)
{
	json_object *j = json_object_new_object(), *a;

	add(j, "host", jstr(d->host));
	add(j, "cause", json_object_new_string(report_cause_name(d->cause)));
	add(j, "confidence", jscore(d->confidence));
	add(j, "contrast", json_object_new_boolean(d->contrast));
	add(j, "dimension", json_object_new_string(
		report_dim_name(d->split.dim)));
	add(j, "value", jstr(d->split.value));
	add(j, "failed", ju64(d->split.failed));
	add(j, "total", ju64(d->split.total));
	add(j, "rest_failed", ju64(d->split.rest_failed));
	add(j, "rest_total", ju64(d->split.rest_total));
	add(j, "host_failed", ju64(d->host_failed));
	add(j, "host_total", ju64(d->host_total));
	add(j, "events", ju64(d->events));
	add(j, "first_seen", jtime_us(d->first_seen_us));
	add(j, "last_seen", jtime_us(d->last_seen_us));
	add(j, "kinds", jcounts(d->kinds, d->nkinds));
	add(j, "evidence", jstrings(d->evidence, d->nevidence));
	add(j, "fix", jstr(d->fix));
	add(j, "pins", jstrings(d->pins, d->npins));
	a = json_object_new_array();
	for (size_t i = 0; i < d->nchains; i++)
		json_object_array_add(a, report_chain_json(&d->chains[i]));
	add(j, "chains", a);
	a = json_object_new_array();
	for (size_t i = 0; i < d->nranking; i++)
		json_object_array_add(a, jsplit(&d->ranking[i]));
	add(j, "ranking", a);
	a = json_object_new_array();
	for (size_t i = 0; i < d->nhours; i++) {
		json_object *o = json_object_new_object();

		add(o, "hour", jtime_s(d->hours[i].hour));
		add(o, "events", ju64(d->hours[i].events));
		json_object_array_add(a, o);
	}
	add(j, "hours", a);
	return j;
}

json_object *report_diagnoses_json(const struct report_diagnoses *r)
{
	json_object *j = json_object_new_object(), *a = json_object_new_array();

	for (size_t i = 0; i < r->n; i++)
		json_object_array_add(a, report_diagnosis_json(&r->d[i]));
	add(j, "diagnoses", a);
	return j;
}

/* ---- rollout --------------------------------------------------------------------- */

json_object *report_rollout_json(const struct report_rollout *r)
{
	json_object *j = json_object_new_object(), *a = json_object_new_array();

	for (size_t i = 0; i < r->n; i++) {
		const struct report_rollout_host *h = &r->hosts[i];
		json_object *o = json_object_new_object(),
			    *cells = json_object_new_array();

		add(o, "host", jstr(h->host));
		add(o, "handshakes", ju64(h->handshakes));
		add(o, "would_block", ju64(h->would_block));
		add(o, "recent_would_block", ju64(h->recent_would_block));
		add(o, "ready", json_object_new_boolean(h->ready));
		add(o, "verdict", jstr(h->verdict));
		add(o, "kinds", jcounts(h->kinds, h->nkinds));
		for (size_t k = 0; k < h->ncells; k++) {
			json_object *c = json_object_new_object();

			add(c, "network", jstr(h->cells[k].row));
			add(c, "app_version", jstr(h->cells[k].col));
			add(c, "would_block", ju64(h->cells[k].failed));
			add(c, "total", ju64(h->cells[k].total));
			json_object_array_add(cells, c);
		}
		add(o, "cells", cells);
		json_object_array_add(a, o);
	}
	add(j, "rollout", a);
	return j;
}

/* ---- chain history ------------------------------------------------------------------ */

json_object *report_chain_history_json(const struct report_chain_history *r)
{
	json_object *j = json_object_new_object(), *a = json_object_new_array();

	add(j, "host", jstr(r->host));
	add(j, "pins", jstrings(r->pins, r->npins));
	for (size_t i = 0; i < r->n; i++)
		json_object_array_add(a, report_chain_json(&r->chains[i]));
	add(j, "chains", a);
	return j;
}

/* ---- matrix -------------------------------------------------------------------------- */

json_object *report_matrix_json(const struct report_matrix *r)
{
	json_object *j = json_object_new_object(), *rows = json_object_new_array();

	add(j, "rows", json_object_new_string(report_dim_name(r->rows)));
	add(j, "cols", json_object_new_string(report_dim_name(r->cols)));
	add(j, "row_names", jstrings(r->row_names, r->nrows));
	add(j, "col_names", jstrings(r->col_names, r->ncols));
	for (size_t i = 0; i < r->nrows; i++) {
		json_object *row = json_object_new_array();

		for (size_t k = 0; k < r->ncols; k++) {
			const struct report_cell *c = &r->cells[i * r->ncols + k];
			json_object *o = json_object_new_object();

			add(o, "failed", ju64(c->failed));
			add(o, "total", ju64(c->total));
			json_object_array_add(row, o);
		}
		json_object_array_add(rows, row);
	}
	add(j, "cells", rows);
	return j;
}

/* ---- timeline ------------------------------------------------------------------------ */

json_object *report_timeline_json(const struct report_timeline *r)
{
	json_object *j = json_object_new_object(), *a = json_object_new_array();

	add(j, "host", r->host ? jstr(r->host) : NULL);
	for (size_t i = 0; i < r->n; i++) {
		const struct report_hour *h = &r->hours[i];
		json_object *o = json_object_new_object(),
			    *c = json_object_new_object();

		add(o, "hour", jtime_s(h->hour));
		add(o, "successes", ju64(h->successes));
		add(o, "failures", ju64(h->failures));
		for (int k = 0; k < CAUSE_COUNT; k++)
			if (h->by_cause[k] > 0)
				add(c, report_cause_name(k), ju64(h->by_cause[k]));
		add(o, "by_cause", c);
		json_object_array_add(a, o);
	}
	add(j, "hours", a);
	return j;
}
