/* pinshim-view failures [--host H] [--since T] [--json]
 *
 * Every stored failure, oldest first: one line each, or with --json
 * {"failures": [...]}, one object per stored event (repeats folded into
 * their original's count).  The JSON is streamed object by object, so a
 * large database does not have to fit in memory. */
#include "viewer.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

static const char usage[] =
	"usage: pinshim-view [--db FILE] failures [--host HOST] [--since TIME]"
	" [--json]\n"
	"  --host HOST   only failures of this host (as the shim saw it)\n"
	"  --since TIME  only failures at or after TIME: RFC 3339\n"
	"                (2026-11-23T10:00:00Z) or a span back from now (15m, 2h,"
	" 7d)\n"
	"  --json        {\"failures\": [...]}, one object per stored event\n";

struct out {
	bool json;
	size_t n;
	bool oom;
};

/* ---- JSON ------------------------------------------------------------- */

static json_object *jstr(struct out *o, const char *s)
{
	char *clean = text_utf8(s != NULL ? s : "");
	json_object *j;

	if (clean == NULL) {
		o->oom = true;
		return json_object_new_string("");
	}
	j = json_object_new_string(clean);
	free(clean);
	return j;
}

static json_object *jhex(const uint8_t *p, size_t n)
{
	char buf[65];

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < n && i < 32; i++)
		snprintf(buf + 2 * i, 3, "%02x", p[i]);
	return json_object_new_string_len(buf, (int)(2 * n));
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

/* A stored JSON array text (pins, resolvers), as sanitised strings. */
static json_object *jlist(struct out *o, const char *text)
{
	json_object *in = json_tokener_parse(text), *out = json_object_new_array();

	for (size_t i = 0; in != NULL && json_object_is_type(in, json_type_array)
	     && i < json_object_array_length(in); i++)
		json_object_array_add(out, jstr(o, json_object_get_string(
			json_object_array_get_idx(in, i))));
	json_object_put(in);
	return out;
}

static void add(json_object *obj, const char *key, json_object *v)
{
	json_object_object_add(obj, key, v);
}

static json_object *jchain(struct out *o, const struct store_chain *c)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < c->n; i++) {
		const struct store_cert *ce = &c->certs[i];
		json_object *j = json_object_new_object();

		add(j, "position", json_object_new_int(ce->position));
		add(j, "subject", jstr(o, ce->subject));
		add(j, "issuer", jstr(o, ce->issuer));
		add(j, "serial", jstr(o, ce->serial));
		add(j, "pin", jstr(o, ce->pin));
		add(j, "sha256", jhex(ce->sha256, 32));
		add(j, "not_before", jtime_s(ce->not_before));
		add(j, "not_after", jtime_s(ce->not_after));
		json_object_array_add(a, j);
	}
	return a;
}

static json_object *jstack(struct out *o, const struct store_failure *f)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < f->nstack; i++) {
		const struct store_frame *fr = &f->stack[i];
		json_object *j = json_object_new_object();

		add(j, "module", jstr(o, fr->module));
		add(j, "build_id", jstr(o, fr->build_id));
		add(j, "symbol", jstr(o, fr->symbol));
		add(j, "offset", json_object_new_uint64(fr->offset));
		add(j, "symbol_offset", json_object_new_uint64(fr->symbol_offset));
		json_object_array_add(a, j);
	}
	return a;
}

static json_object *jplatform(struct out *o, const struct store_failure *f)
{
	json_object *j = json_object_new_object();
	char os[300];

	snprintf(os, sizeof(os), "%s%s%s", f->platform.os_id,
		 f->platform.os_version[0] ? " " : "", f->platform.os_version);
	add(j, "os", jstr(o, os));
	add(j, "os_id", jstr(o, f->platform.os_id));
	add(j, "os_version", jstr(o, f->platform.os_version));
	add(j, "os_name", jstr(o, f->platform.os_name));
	add(j, "kernel", jstr(o, f->platform.kernel));
	add(j, "arch", jstr(o, f->platform.arch));
	add(j, "libssl_version", jstr(o, f->platform.libssl_version));
	add(j, "host_id", jstr(o, f->platform.host_id));
	add(j, "hostname", jstr(o, f->platform.hostname));
	return j;
}

static json_object *jprocess(struct out *o, const struct store_failure *f)
{
	json_object *j = json_object_new_object();

	add(j, "exe", jstr(o, f->process.exe));
	add(j, "build_id", jstr(o, f->process.build_id));
	add(j, "pid", json_object_new_int64(f->process.pid));
	add(j, "argv0", jstr(o, f->process.argv0));
	add(j, "app_version", jstr(o, f->process.app_version));
	add(j, "app_version_source", jstr(o, f->process.app_version_source));
	return j;
}

static json_object *jnetwork(struct out *o, const struct store_failure *f)
{
	json_object *j = json_object_new_object();

	add(j, "label", jstr(o, f->network.label));
	add(j, "fingerprint", jstr(o, f->network.fingerprint));
	add(j, "gateway", jstr(o, f->network.gateway));
	add(j, "subnet", jstr(o, f->network.subnet));
	add(j, "resolvers", jlist(o, f->network.resolvers));
	add(j, "proxy_vars", jlist(o, f->network.proxy_vars));
	add(j, "local_address", jstr(o, f->network.local_address));
	return j;
}

static json_object *jfailure(struct out *o, const struct store_failure *f)
{
	json_object *j = json_object_new_object();

	add(j, "id", jhex(f->id, 16));
	add(j, "time", jtime_ms(f->time_us));
	add(j, "received", jtime_ms(f->received_us));
	add(j, "last_time", jtime_ms(f->last_time_us));
	add(j, "host", jstr(o, f->host));
	add(j, "port", json_object_new_int(f->port));
	add(j, "peer", jstr(o, f->peer));
	add(j, "kind", jstr(o, f->kind));
	add(j, "decision", jstr(o, f->decision));
	add(j, "mode", jstr(o, f->mode));
	add(j, "count", json_object_new_uint64(f->count));
	add(j, "network", jstr(o, f->network.label));
	add(j, "network_fingerprint", jstr(o, f->network.fingerprint));
	add(j, "app_version", jstr(o, f->process.app_version));
	add(j, "policy_version", jstr(o, f->policy_version));
	add(j, "expected_pins", jlist(o, f->expected_pins));
	add(j, "pinned", json_object_new_boolean(f->pinned));
	add(j, "matched", jstr(o, f->matched));
	add(j, "pin_expired", json_object_new_boolean(f->pin_expired));
	add(j, "verify_error", json_object_new_int(f->verify_error));
	add(j, "verify_error_text", jstr(o, f->verify_error_text));
	add(j, "tls_version", jstr(o, f->tls_version));
	add(j, "message", jstr(o, f->message));
	add(j, "served_chain", jchain(o, &f->served));
	add(j, "served_total", json_object_new_int64(f->served_total));
	add(j, "built_chain", jchain(o, &f->built));
	add(j, "built_total", json_object_new_int64(f->built_total));
	add(j, "stack", jstack(o, f));
	add(j, "platform", jplatform(o, f));
	add(j, "process", jprocess(o, f));
	add(j, "network_details", jnetwork(o, f));
	add(j, "sender", jstr(o, f->sender));
	add(j, "sender_name", jstr(o, f->sender_name));
	add(j, "repeat_of", jhex(f->repeat_of, 16));
	return j;
}

/* ---- one line --------------------------------------------------------- */

static void line(const struct store_failure *f)
{
	char t[48];

	time_rfc3339_ms(f->time_us, t, sizeof(t));
	printf("%s ", t);
	text_print(f->kind);
	putchar(' ');
	text_print(f->decision);
	putchar(' ');
	text_print(f->host);
	printf(":%d peer=", f->port);
	text_print(f->peer);
	printf(" count=%llu network=", (unsigned long long)f->count);
	text_print(f->network.label);
	printf(" app=");
	text_print(f->process.app_version);
	putchar('\n');
}

static int each(void *arg, const struct store_failure *f)
{
	struct out *o = arg;

	if (!o->json) {
		line(f);
	} else {
		json_object *j = jfailure(o, f);

		printf("%s\n  %s", o->n > 0 ? "," : "",
		       json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	}
	o->n++;
	return o->oom ? 1 : 0;
}

/* ---- the command ------------------------------------------------------ */

static int parse(int argc, char **argv, struct store_filter *flt,
		 const char **db, bool *json)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct timespec now;
	int opt;

	clock_gettime(CLOCK_REALTIME, &now);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'H': flt->host = optarg; break;
		case 'j': *json = true; break;
		case 'd': *db = optarg; break;
		case 's':
			if (time_parse_since(optarg, (int64_t)now.tv_sec * 1000000 +
					     now.tv_nsec / 1000,
					     &flt->since_us) < 0) {
				fprintf(stderr, "pinshim-view: --since %s: expected "
					"RFC 3339 (2026-11-23T10:00:00Z) or a span "
					"like 15m, 2h, 7d\n", optarg);
				return 2;
			}
			flt->has_since = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pinshim-view: failures: unexpected argument "
			"'%s'\n%s", argv[optind], usage);
		return 2;
	}
	return -1;
}

int cmd_failures(const char *db, int argc, char **argv)
{
	struct store_filter flt = { 0 };
	struct out o = { 0 };
	struct store *s;
	char err[512];
	int rc = parse(argc, argv, &flt, &db, &o.json);

	if (rc >= 0)
		return rc;
	s = store_open(db, STORE_READ, STORE_SYNC_NORMAL, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "pinshim-view: %s\n", err);
		return 1;
	}
	if (o.json)
		printf("{\"failures\": [");
	rc = store_failures(s, &flt, each, &o, err, sizeof(err));
	if (o.json)
		printf("%s]}\n", o.n > 0 ? "\n" : "");
	store_close(s);
	if (rc < 0 || o.oom) {
		fprintf(stderr, "pinshim-view: %s\n", o.oom ? "out of memory"
			: err);
		return 1;
	}
	return 0;
}
